# Shared by lme4_reference.R and emmeans_reference.R: write doubles to JSON so that they read
# back as the same double (jsonlite's digits = NA stops at 15 significant digits).

# shortest round-tripping decimal for each double; non-finite -> null
fmt_num <- function(x) {
  vapply(x, function(v) {
    if (!is.finite(v)) return("null")
    for (d in 15:17) {
      s <- sprintf(paste0("%.", d, "g"), v)
      if (as.numeric(s) == v) return(s)
    }
    s
  }, character(1))
}
exact <- function(x) {
  if (is.list(x)) {
    nm <- names(x)
    keep <- !vapply(x, is.null, logical(1))
    y <- lapply(x[keep], exact)
    names(y) <- nm[keep]
    if (is.null(nm) && !length(y)) return(I(list()))
    return(y)
  }
  if (is.double(x)) {
    s <- fmt_num(x)
    if (length(x) == 1 && !inherits(x, "AsIs")) return(structure(s, class = "json"))
    return(structure(paste0("[", paste(s, collapse = ","), "]"), class = "json"))
  }
  x
}
