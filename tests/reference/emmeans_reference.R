# Frozen emmeans (+ lmerTest Satterthwaite) reference numbers for evalkit's marginal means,
# simple slopes, contrasts and Johnson-Neyman intervals on top of its linear mixed model engine.
#
#   Rscript tests/reference/emmeans_reference.R
#
# Reads tests/reference/data/mothers3000.csv (written by make_mixed_data.py; not modified here),
# fits every model with lmerTest::lmer (REML, lmerControl(optimizer = "bobyqa"), as in
# lme4_reference.R), runs emmeans / emtrends / contrast / pairs / joint_tests with Satterthwaite df
# and writes tests/reference/emmeans_fixtures.json. CI never runs this script.
#
# The binary moderator `isolated` is derived here, not stored: isolated = "yes" if isolation >= 5
# else "no" (levels no, yes), using the isolation values exactly as they are in the CSV.
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (same trick as lme4_reference.R; jsonlite's digits = NA stops at 15).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})

# Satterthwaite df everywhere; the limits make sure emmeans never silently falls back to
# asymptotic (Inf) df because the data are "too big" (N = 8,343 > emmeans' default 3,000).
emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e6, pbkrtest.limit = 0)
LEVEL <- 0.95

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
out_file <- file.path(here, "emmeans_fixtures.json")

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
read_mothers <- function(f) {
  d <- read.csv(file.path(data_dir, f),
                colClasses = c(participant_id = "character", wave = "character", weeks = "numeric",
                               wemwbs = "numeric", delivery_mode = "character",
                               isolation = "numeric"))
  d$delivery_mode <- factor(d$delivery_mode, levels = c("one_to_one", "group", "both"))
  stopifnot(!anyNA(d$delivery_mode))
  d$participant_id <- factor(d$participant_id)
  d$isolated <- factor(ifelse(d$isolation >= 5, "yes", "no"), levels = c("no", "yes"))
  stopifnot(!anyNA(d$isolated))
  d
}
m3000 <- read_mothers("mothers3000.csv")
m3000_group <- droplevels(m3000[m3000$delivery_mode == "group", ])

# ---------------------------------------------------------------------------------------------
# JSON helpers (number formatting shared with lme4_reference.R)
# ---------------------------------------------------------------------------------------------
rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))

source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

# a data frame (emmeans summary) as {column: array}; factors -> character arrays
cols_of <- function(df, cols, rename = NULL) {
  out <- lapply(cols, function(cl) {
    v <- df[[cl]]
    if (is.factor(v)) v <- as.character(v)
    if (is.double(v) || is.integer(v)) v <- as.double(v)
    I(unname(v))
  })
  names(out) <- if (is.null(rename)) cols else rename
  out
}

linfct_of <- function(g) {
  L <- g@linfct
  list(colnames = I(colnames(L)), rows = rows_of(unname(L)))
}

# every grid must really carry Satterthwaite df (finite, method message says so)
check_satt <- function(g) {
  s <- summary(g)
  mesg <- paste(attr(s, "mesg"), collapse = " | ")
  if (!grepl("satterthwaite", mesg, fixed = TRUE) || any(!is.finite(s$df)))
    stop("df are not Satterthwaite: ", mesg)
  invisible(g)
}

fit_model <- function(formula, data) {
  warns <- character()
  fit <- withCallingHandlers(
    lmerTest::lmer(formula, data = data, REML = TRUE, control = lmerControl(optimizer = "bobyqa")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { warns <<- c(warns, conditionMessage(m)); invokeRestart("muffleMessage") }
  )
  stopifnot(inherits(fit, "lmerModLmerTest"))
  attr(fit, "warns") <- unique(trimws(warns))
  fit
}

fit_block <- function(fit) {
  cf <- coef(summary(fit, ddf = "Satterthwaite"))
  V <- as.matrix(vcov(fit))
  ng <- ngrps(fit)
  list(
    nobs = nobs(fit),
    ngroups = as.list(setNames(as.integer(ng), names(ng))),
    fixed = list(term = I(rownames(cf)),
                 estimate = I(unname(cf[, "Estimate"])),
                 std_error = I(unname(cf[, "Std. Error"])),
                 df = I(unname(cf[, "df"]))),
    vcov = list(names = I(colnames(V)), matrix = rows_of(unname(V))),
    theta = list(names = I(names(getME(fit, "theta"))), values = I(unname(getME(fit, "theta")))),
    sigma = sigma(fit),
    REMLcrit = REMLcrit(fit),
    singular = isSingular(fit),
    warnings = I(attr(fit, "warns"))
  )
}

case_header <- function(name, description, data_file, subset, formula, fit, factor_levels) {
  c(list(name = name,
         description = description,
         data = data_file,
         subset = subset,
         formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
         REML = TRUE,
         factor_levels = factor_levels),
    fit_block(fit))
}

# pairwise comparisons with unadjusted + several adjusted p-values (same estimates/SE/df)
pairs_block <- function(g, call, adjusts, ...) {
  raw <- as.data.frame(summary(pairs(g, ..., adjust = "none"), infer = c(TRUE, TRUE)))
  out <- c(list(call = call),
           cols_of(raw, c("contrast", "estimate", "SE", "df", "t.ratio")),
           list(lower.CL_unadjusted = I(raw$lower.CL), upper.CL_unadjusted = I(raw$upper.CL),
                p_unadjusted = I(raw$p.value)))
  msgs <- list()
  for (a in adjusts) {
    s <- summary(pairs(g, ..., adjust = a), infer = c(FALSE, TRUE))
    stopifnot(identical(as.character(s$contrast), as.character(raw$contrast)),
              isTRUE(all.equal(s$estimate, raw$estimate, tolerance = 0)))
    out[[paste0("p_", a)]] <- I(s$p.value)
    msgs[[a]] <- I(attr(s, "mesg"))
  }
  out$messages <- msgs
  out
}

# ---------------------------------------------------------------------------------------------
# Johnson-Neyman: where does the 95% CI of the weeks slope (emtrends) cross 0, as a function of
# the continuous moderator?  Grid scan for sign changes of lower.CL(x) and upper.CL(x), then
# uniroot(tol = 1e-8) on the bracketing grid interval. df (Satterthwaite) vary with x.
# ---------------------------------------------------------------------------------------------
trend_at <- function(fit, x, mod = "isolation", var = "weeks") {
  at <- setNames(list(x), mod)
  g <- emtrends(fit, as.formula(paste("~", mod)), var = var, at = at)
  as.data.frame(summary(g, infer = c(TRUE, TRUE), level = LEVEL))
}

jn_search <- function(fit, from, to, n_grid, data_range, range_name, mod = "isolation") {
  grid <- seq(from, to, length.out = n_grid)
  tr <- trend_at(fit, grid, mod)
  stopifnot(nrow(tr) == n_grid, all(is.finite(tr$df)))
  found <- list()
  for (lim in c("lower.CL", "upper.CL")) {
    g <- tr[[lim]]
    fn <- function(x) trend_at(fit, x, mod)[[lim]]
    for (i in seq_len(n_grid - 1)) {
      if (g[i] == 0) stop("CI limit exactly 0 on a grid point; shift the grid")
      if (sign(g[i]) == sign(g[i + 1])) next
      ur <- uniroot(fn, c(grid[i], grid[i + 1]), f.lower = g[i], f.upper = g[i + 1], tol = 1e-8)
      at_root <- trend_at(fit, ur$root, mod)
      found[[length(found) + 1]] <- list(
        limit = lim,
        direction = if (g[i] < g[i + 1]) "increasing" else "decreasing",
        x = ur$root,
        inside_data = ur$root >= data_range[1] && ur$root <= data_range[2],
        found_in = range_name,
        bracket = I(c(grid[i], grid[i + 1])),
        weeks.trend = at_root$weeks.trend, SE = at_root$SE, df = at_root$df,
        lower.CL = at_root$lower.CL, upper.CL = at_root$upper.CL,
        limit_at_root = at_root[[lim]],
        uniroot_iter = as.integer(ur$iter), uniroot_estim_prec = ur$estim.prec)
    }
  }
  xs <- sort(vapply(found, `[[`, numeric(1), "x"))
  # significance regions between consecutive boundaries (midpoint classification)
  cuts <- c(from, xs, to)
  regions <- list()
  for (k in seq_len(length(cuts) - 1)) {
    mid <- trend_at(fit, (cuts[k] + cuts[k + 1]) / 2, mod)
    sig <- if (mid$lower.CL > 0) "positive" else if (mid$upper.CL < 0) "negative" else "not_significant"
    if (length(regions) && regions[[length(regions)]]$slope == sig) {
      regions[[length(regions)]]$to <- cuts[k + 1]
    } else {
      regions[[length(regions) + 1]] <- list(from = cuts[k], to = cuts[k + 1], slope = sig)
    }
  }
  sample_idx <- unique(round(seq(1, n_grid, length.out = 21)))
  smp <- tr[sample_idx, ]
  list(
    summary = list(range_name = range_name, from = from, to = to, n_grid = as.integer(n_grid),
                   n_boundaries = length(found), significant_regions = regions,
                   grid_sample = cols_of(smp, c(mod, "weeks.trend", "SE", "df", "lower.CL",
                                                "upper.CL"))),
    boundaries = found
  )
}

johnson_neyman <- function(fit, data, mod = "isolation", ext = c(-30, 40), n_grid = 2001L) {
  rng <- range(data[[mod]])
  s_data <- jn_search(fit, rng[1], rng[2], n_grid, rng, "data")
  s_ext <- jn_search(fit, ext[1], ext[2], n_grid, rng, "extended")
  # union: every extended-range boundary; a boundary inside the data range is found by both
  # searches (same root to ~1e-8) -- keep the data-range one and check they agree
  bnd <- s_data$boundaries
  for (b in s_ext$boundaries) {
    same <- vapply(bnd, function(a) a$limit == b$limit && abs(a$x - b$x) < 1e-6, logical(1))
    if (!any(same)) bnd[[length(bnd) + 1]] <- b
  }
  stopifnot(all(vapply(s_data$boundaries, function(a) any(vapply(s_ext$boundaries, function(b)
    b$limit == a$limit && abs(a$x - b$x) < 1e-6, logical(1))), logical(1))) ||
    !(ext[1] <= rng[1] && ext[2] >= rng[2]))
  ord <- order(vapply(bnd, `[[`, numeric(1), "x"))
  list(
    moderator = mod,
    var = "weeks",
    level = LEVEL,
    method = paste(
      "emtrends(fit, ~ moderator, var = 'weeks', at = list(moderator = x)) 95% CI (Satterthwaite df",
      "at each x); grid of n_grid equally spaced x over [from, to]; every sign change of lower.CL(x)",
      "or upper.CL(x) between adjacent grid points is refined with uniroot(tol = 1e-8).",
      "Searched twice: over the data range [min, max] of the moderator in the fitted rows, and over",
      "an extended range. 'boundaries' is the union, sorted by x; inside_data = min <= x <= max."),
    data_range = I(rng),
    extended_range = I(as.double(ext)),
    boundaries = bnd[ord],
    n_boundaries_inside_data = sum(vapply(bnd, `[[`, logical(1), "inside_data")),
    searches = list(s_data$summary, s_ext$summary)
  )
}

# ---------------------------------------------------------------------------------------------
# case 1: mm_mode
# ---------------------------------------------------------------------------------------------
f_mode <- wemwbs ~ weeks * delivery_mode + (weeks | participant_id)
fit1 <- fit_model(f_mode, m3000)
stopifnot(!isSingular(fit1))

emm_w <- check_satt(emmeans(fit1, ~ delivery_mode | weeks, at = list(weeks = c(0, 12))))
emm_w_s <- as.data.frame(summary(emm_w, level = LEVEL))

emm_m <- check_satt(emmeans(fit1, ~ weeks | delivery_mode, at = list(weeks = c(0, 12))))
chg <- check_satt(contrast(emm_m, method = list("12 - 0" = c(-1, 1)), by = "delivery_mode"))
chg_s <- as.data.frame(summary(chg, infer = c(TRUE, TRUE), level = LEVEL))
chg_ci <- as.data.frame(confint(chg, level = LEVEL))
stopifnot(isTRUE(all.equal(chg_s$lower.CL, chg_ci$lower.CL, tolerance = 0)))

tr1 <- check_satt(emtrends(fit1, ~ delivery_mode, var = "weeks"))
tr1_s <- as.data.frame(summary(tr1, infer = c(TRUE, TRUE), level = LEVEL))
# the 12-week change is 12 x the slope (model is linear in weeks)
stopifnot(isTRUE(all.equal(chg_s$estimate, 12 * tr1_s$weeks.trend, tolerance = 1e-10)))

chg_pairs <- pairs_block(chg, 'pairs(contrast(emm, method = list("12 - 0" = c(-1, 1)), by = "delivery_mode"), by = NULL, adjust = ...)',
                         c("holm", "tukey", "BH"), by = NULL)
# how emmeans adjusts (documented for the Python side; checked, not assumed)
stopifnot(
  isTRUE(all.equal(chg_pairs$p_holm, I(p.adjust(chg_pairs$p_unadjusted, "holm")), tolerance = 1e-12)),
  isTRUE(all.equal(chg_pairs$p_BH, I(p.adjust(chg_pairs$p_unadjusted, "BH")), tolerance = 1e-12)),
  # tukey: row-wise ptukey(sqrt(2)|t|, 3, zapsmall(df)); ptukey itself is only ~1e-8 accurate
  isTRUE(all.equal(unclass(chg_pairs$p_tukey),
                   ptukey(sqrt(2) * abs(unclass(chg_pairs$t.ratio)), 3, zapsmall(unclass(chg_pairs$df)),
                          lower.tail = FALSE), tolerance = 1e-6)))
tr1_pairs <- pairs_block(tr1, 'pairs(emtrends(fit, ~ delivery_mode, var = "weeks"), adjust = "holm")',
                         c("holm"))

jt <- joint_tests(fit1)
jt_terms <- jt[["model term"]]
# emmeans' attr(, "est.fcns") holds the tested L rows but rounded to 7 significant digits, so
# rebuild them exactly: weeks = equal-weight mean slope (0,3,0,0,1,1); delivery_mode = mode
# differences at the mean of weeks; interaction = the two slope differences. Rows are normalised
# (emmeans orthonormalises them with qr(); these rows are already mutually orthogonal) and given
# emmeans' signs, then checked against est.fcns.
weeks_mean <- mean(m3000$weeks)
jt_L <- list(
  weeks = rbind(c(0, 3, 0, 0, 1, 1)),
  delivery_mode = rbind(c(0, 0, 1, 0, weeks_mean, 0), c(0, 0, 0, 1, 0, weeks_mean)),
  "weeks:delivery_mode" = rbind(c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1)))
jt_ef <- attr(jt, "est.fcns")
stopifnot(setequal(names(jt_ef), names(jt_L)))
for (tm in names(jt_L)) {
  L <- jt_L[[tm]] / sqrt(rowSums(jt_L[[tm]]^2))
  E <- unname(jt_ef[[tm]])
  stopifnot(identical(dim(L), dim(E)))
  L <- L * sign(rowSums(L * E))
  stopifnot(max(abs(L - E)) < 1e-6)
  colnames(L) <- names(fixef(fit1))
  jt_L[[tm]] <- L
}
jt_unrounded <- t(vapply(jt_terms, function(tm) {
  L <- jt_L[[tm]]
  b <- fixef(fit1); V <- as.matrix(vcov(fit1))
  z <- L %*% b
  Fv <- drop(t(z) %*% solve(L %*% V %*% t(L), z)) / nrow(L)
  df2 <- min(apply(L, 1, function(l) lmerTest::calcSatterth(fit1, matrix(l, nrow = 1))$denom))
  c(F = Fv, df2 = df2, p = pf(Fv, nrow(L), df2, lower.tail = FALSE))
}, numeric(3)))
stopifnot(isTRUE(all.equal(round(jt_unrounded[, "df2"], 2), jt$df2, tolerance = 0,
                           check.attributes = FALSE)),
          isTRUE(all.equal(round(jt_unrounded[, "F"], 3), jt$F.ratio, tolerance = 0,
                           check.attributes = FALSE)),
          isTRUE(all.equal(jt_unrounded[, "p"], jt$p.value, tolerance = 1e-10,
                           check.attributes = FALSE)))

av <- anova(fit1, type = 3, ddf = "Satterthwaite")

case_mode <- c(
  case_header("mm_mode",
              "~3,000 simulated mothers; weeks x delivery mode, random slope, REML; EMMs at 0/12 weeks, 12-week change per mode, pairwise differences of changes, slopes, interaction tests",
              "mothers3000.csv", NA, f_mode, fit1,
              list(delivery_mode = I(levels(m3000$delivery_mode)))),
  list(
    emmeans = c(list(call = 'emmeans(fit, ~ delivery_mode | weeks, at = list(weeks = c(0, 12)))'),
                cols_of(emm_w_s, c("delivery_mode", "weeks", "emmean", "SE", "df", "lower.CL",
                                   "upper.CL")),
                list(linfct = linfct_of(emm_w))),
    change_12_vs_0 = c(list(call = 'contrast(emmeans(fit, ~ weeks | delivery_mode, at = list(weeks = c(0, 12))), method = list("12 - 0" = c(-1, 1)), by = "delivery_mode"); confint() for the CI'),
                       cols_of(chg_s, c("contrast", "delivery_mode", "estimate", "SE", "df",
                                        "t.ratio", "p.value", "lower.CL", "upper.CL")),
                       list(linfct = linfct_of(chg))),
    change_pairs = chg_pairs,
    trends = c(list(call = 'emtrends(fit, ~ delivery_mode, var = "weeks")'),
               cols_of(tr1_s, c("delivery_mode", "weeks.trend", "SE", "df", "t.ratio", "p.value",
                                "lower.CL", "upper.CL")),
               list(linfct = linfct_of(tr1))),
    trend_pairs = tr1_pairs,
    joint_tests = list(
      call = "joint_tests(fit)",
      model_term = I(jt_terms),
      df1 = I(as.double(jt$df1)),
      df2 = I(jt$df2),
      F.ratio = I(jt$F.ratio),
      p.value = I(jt$p.value),
      df2_unrounded = I(unname(jt_unrounded[, "df2"])),
      F.ratio_unrounded = I(unname(jt_unrounded[, "F"])),
      L = lapply(jt_L[jt_terms], function(L) list(colnames = I(colnames(L)),
                                                  rows = rows_of(unname(L)))),
      weeks_mean = weeks_mean,
      note = paste(
        "emmeans rounds df2 to 2 decimals and F.ratio to 3 decimals (p.value uses the unrounded values);",
        "*_unrounded recompute them from L (the exact, normalised rows of attr(joint_tests(fit),",
        "'est.fcns'), which emmeans itself stores rounded to 7 significant digits):",
        "F = (Lb)'(L V L')^-1 (Lb) / nrow(L), df2 = min over rows l of L of the single-row",
        "Satterthwaite df (lmerTest::calcSatterth). Terms are tested at the covariate mean",
        "(weeks = weeks_mean) with equal weights over factor levels, so the delivery_mode row",
        "differs from anova()'s type III delivery_mode row (which tests at weeks = 0).")),
    anova_type3 = list(
      call = 'anova(fit, type = 3, ddf = "Satterthwaite")  # lmerTest',
      term = I(rownames(av)),
      sum_sq = I(av[["Sum Sq"]]),
      mean_sq = I(av[["Mean Sq"]]),
      NumDF = I(as.double(av[["NumDF"]])),
      DenDF = I(av[["DenDF"]]),
      F_value = I(av[["F value"]]),
      p_value = I(av[["Pr(>F)"]]),
      note = paste(
        "lmerTest's multi-df Satterthwaite F test (contestMD): the interaction F equals joint_tests'",
        "but DenDF is lmerTest's multi-df approximation, not emmeans' min of single-row df."))
  )
)

# ---------------------------------------------------------------------------------------------
# case 2: trend_two_level
# ---------------------------------------------------------------------------------------------
f_iso2 <- wemwbs ~ weeks * isolated + (weeks | participant_id)
fit2 <- fit_model(f_iso2, m3000)
tr2 <- check_satt(emtrends(fit2, ~ isolated, var = "weeks"))
tr2_s <- as.data.frame(summary(tr2, infer = c(TRUE, TRUE), level = LEVEL))
dif2 <- check_satt(pairs(tr2, reverse = TRUE))
dif2_s <- as.data.frame(summary(dif2, infer = c(TRUE, TRUE), level = LEVEL))
stopifnot(as.character(dif2_s$contrast) == "yes - no")
pid_iso <- m3000[!duplicated(m3000$participant_id), ]

case_two <- c(
  case_header("trend_two_level",
              "~3,000 simulated mothers; weeks x isolated (isolation >= 5, derived in R), random slope, REML; weeks slope per level and yes - no difference",
              "mothers3000.csv", NA, f_iso2, fit2, list(isolated = I(levels(m3000$isolated)))),
  list(
    derived = list(
      isolated = 'factor(ifelse(isolation >= 5, "yes", "no"), levels = c("no", "yes"))',
      n_rows = as.list(setNames(as.integer(table(m3000$isolated)), levels(m3000$isolated))),
      n_participants = as.list(setNames(as.integer(table(pid_iso$isolated)),
                                        levels(m3000$isolated)))),
    trends = c(list(call = 'emtrends(fit, ~ isolated, var = "weeks")'),
               cols_of(tr2_s, c("isolated", "weeks.trend", "SE", "df", "t.ratio", "p.value",
                                "lower.CL", "upper.CL")),
               list(linfct = linfct_of(tr2))),
    difference = c(list(call = 'pairs(emtrends(fit, ~ isolated, var = "weeks"), reverse = TRUE)  # yes - no'),
                   cols_of(dif2_s, c("contrast", "estimate", "SE", "df", "t.ratio", "p.value",
                                     "lower.CL", "upper.CL")))
  )
)

# ---------------------------------------------------------------------------------------------
# case 3: trend_continuous (+ Johnson-Neyman), and a group-only subset whose JN boundary lies
# inside the data range
# ---------------------------------------------------------------------------------------------
f_isoc <- wemwbs ~ weeks * isolation + (weeks | participant_id)

continuous_case <- function(name, description, data, subset, values = c(0, 2.5, 5, 7.5, 10)) {
  fit <- fit_model(f_isoc, data)
  iso_mean <- mean(data$isolation)
  iso_sd <- sd(data$isolation)
  pid <- data[!duplicated(data$participant_id), ]
  msd <- c(iso_mean - iso_sd, iso_mean, iso_mean + iso_sd)
  t_msd <- as.data.frame(summary(check_satt(emtrends(fit, ~ isolation, var = "weeks",
                                                     at = list(isolation = msd))),
                                 infer = c(TRUE, TRUE), level = LEVEL))
  g_val <- check_satt(emtrends(fit, ~ isolation, var = "weeks", at = list(isolation = values)))
  t_val <- as.data.frame(summary(g_val, infer = c(TRUE, TRUE), level = LEVEL))
  cols <- c("isolation", "weeks.trend", "SE", "df", "t.ratio", "p.value", "lower.CL", "upper.CL")
  t0 <- Sys.time()
  jn <- johnson_neyman(fit, data)
  message(sprintf("%-24s singular=%s  JN boundaries: %s  (%.1fs)", name, isSingular(fit),
                  paste(vapply(jn$boundaries, function(b) sprintf("%s %.6f%s", b$limit, b$x,
                         if (b$inside_data) " [inside]" else ""), character(1)), collapse = "; "),
                  as.numeric(difftime(Sys.time(), t0, units = "secs"))))
  c(
    case_header(name, description, "mothers3000.csv", subset, f_isoc, fit, NULL),
    list(
      isolation_summary = list(
        basis = "row level: one value per observation (row) of the fitted data, sd() with n - 1",
        n_rows = nrow(data), mean = iso_mean, sd = iso_sd,
        min = min(data$isolation), max = max(data$isolation),
        participant_level_mean = mean(pid$isolation), participant_level_sd = sd(pid$isolation),
        participant_level_note = "one value per participant; for information only, not used"),
      trends_at_mean_sd = c(list(call = 'emtrends(fit, ~ isolation, var = "weeks", at = list(isolation = c(mean - sd, mean, mean + sd)))',
                                 label = I(c("mean - SD", "mean", "mean + SD"))),
                            cols_of(t_msd, cols)),
      trends_at_values = c(list(call = 'emtrends(fit, ~ isolation, var = "weeks", at = list(isolation = c(0, 2.5, 5, 7.5, 10)))'),
                           cols_of(t_val, cols),
                           list(linfct = linfct_of(g_val))),
      johnson_neyman = jn
    )
  )
}

case_cont <- continuous_case(
  "trend_continuous",
  "~3,000 simulated mothers; weeks x isolation (continuous), random slope, REML; simple slopes of weeks and Johnson-Neyman",
  m3000, NA)
case_cont_group <- continuous_case(
  "trend_continuous_group",
  "as trend_continuous but only mothers with delivery_mode == 'group' (839 mothers): the JN boundary of the weeks slope lies inside the observed isolation range",
  m3000_group, "delivery_mode == \"group\"")

cases <- list(case_mode, case_two, case_cont, case_cont_group)
names(cases) <- vapply(cases, `[[`, character(1), "name")
for (cs in cases) message(sprintf("%-24s singular=%s", cs$name, cs$singular))
stopifnot(any(vapply(cases[c("trend_continuous", "trend_continuous_group")],
                     function(cs) cs$johnson_neyman$n_boundaries_inside_data > 0, logical(1))))

si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/emmeans_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(emmeans = as.character(packageVersion("emmeans")),
                    lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    Matrix = as.character(packageVersion("Matrix")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform,
    blas = si$BLAS,
    lapack = si$LAPACK,
    fit = "lmerTest::lmer(formula, data, REML = TRUE, control = lmerControl(optimizer = 'bobyqa'))",
    emm_options = list(lmer.df = "satterthwaite", lmerTest.limit = 1e6, pbkrtest.limit = 0),
    ddf = "Satterthwaite (emmeans -> lmerTest::calcSatterth); every grid checked to report it",
    conf_level = LEVEL,
    contrasts = "contr.treatment; delivery_mode levels one_to_one, group, both; isolated levels no, yes",
    notes = paste(
      "Tables are objects of equal-length arrays named as emmeans names its columns.",
      "Matrices (vcov, linfct, L) are lists of rows.",
      "emtrends differentiates numerically, so its linfct carries ~1e-15 relative noise",
      "(e.g. 1.0000000000000042 for the weeks coefficient).",
      "Satterthwaite df come from lmerTest's numerical Hessian (~1e-6 relative noise).")
  ),
  cases = cases
)

write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
