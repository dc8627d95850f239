# Frozen lmerTest references for unit invariance (Satterthwaite df) and convergence (issue 14).
#
#   python tests/reference/make_scale_data.py && Rscript tests/reference/scale_reference.R
#
# 1. scale_fixtures.json: scale15, scale15b and scale60 (tests/reference/data/*.csv), each in six
#    units: outcome x 1, x 100, x 1000 and time in weeks or in days (= weeks x 7). For each: the
#    fixed-effects table with Satterthwaite df (lmerTest), contrasts (scale60), logLik, sigma,
#    theta, isSingular, lme4's convergence messages and lmerTest's eigenvalue warnings.
# 2. converge400_lmer.csv: the 400 seeded cohorts of data/converge400.csv.gz fitted with
#    y ~ t * mode + (t | id) (REML): logLik, isSingular, lme4's convergence code and messages,
#    and estimate, SE and df of the six fixed effects.
#
# Fits use lmerTest::lmer(..., control = lmerControl(optimizer = "bobyqa")) as lme4_reference.R;
# numbers are written so that they read back as the same double (json_helpers.R).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

modes <- c("one_to_one", "group", "both")
read_cohort <- function(f) {
  d <- read.csv(file.path(data_dir, f), stringsAsFactors = FALSE)
  d$id <- factor(d$id)
  if ("mode" %in% names(d)) d$mode <- factor(d$mode, levels = modes)
  d
}

fit_quiet <- function(formula, data) {
  warns <- character()
  fit <- withCallingHandlers(
    lmerTest::lmer(formula, data = data, REML = TRUE, control = lmerControl(optimizer = "bobyqa")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { warns <<- c(warns, conditionMessage(m)); invokeRestart("muffleMessage") })
  list(fit = fit, warnings = unique(trimws(warns)))
}

# ------------------------------------------------------------------------------- unit variants
units <- list(list(y = 1, t = 1, time = "weeks"), list(y = 100, t = 1, time = "weeks"),
              list(y = 1000, t = 1, time = "weeks"), list(y = 1, t = 7, time = "days"),
              list(y = 100, t = 7, time = "days"), list(y = 1000, t = 7, time = "days"))
datasets <- list(
  scale15 = list(file = "scale15.csv", formula = y ~ weeks + (weeks | id), L = list()),
  scale15b = list(file = "scale15b.csv", formula = y ~ weeks + (weeks | id), L = list()),
  scale60 = list(file = "scale60.csv", formula = y ~ weeks * mode + (weeks | id),
                 L = list(slope_group = c(0, 1, 0, 0, 1, 0), slope_both = c(0, 1, 0, 0, 0, 1),
                          group_minus_both_slope = c(0, 0, 0, 0, 1, -1)))
)

cases <- list()
for (dname in names(datasets)) {
  ds <- datasets[[dname]]
  base <- read_cohort(ds$file)
  for (u in units) {
    d <- base
    d$y <- d$y * u$y
    d$weeks <- d$weeks * u$t
    res <- fit_quiet(ds$formula, d)
    fit <- res$fit
    cf <- coef(summary(fit, ddf = "Satterthwaite"))
    con <- lapply(names(ds$L), function(nm) {
      L <- matrix(ds$L[[nm]], nrow = 1)
      ct <- lmerTest::contest(fit, L, joint = FALSE, ddf = "Satterthwaite")
      list(name = nm, L = I(ds$L[[nm]]), estimate = ct[["Estimate"]],
           std_error = ct[["Std. Error"]], df = ct[["df"]], p = ct[["Pr(>|t|)"]])
    })
    name <- sprintf("%s_y%d_%s", dname, as.integer(u$y), u$time)
    message(sprintf("%-22s df %s  singular=%s", name,
                    paste(sprintf("%.4f", cf[, "df"]), collapse = " "), isSingular(fit)))
    cases[[name]] <- list(
      name = name, data = ds$file, dataset = dname,
      formula = paste(deparse(ds$formula), collapse = " "),
      y_multiplier = u$y, time_multiplier = u$t, time_unit = u$time,
      fixed = list(term = I(rownames(cf)), estimate = I(unname(cf[, "Estimate"])),
                   std_error = I(unname(cf[, "Std. Error"])), df = I(unname(cf[, "df"])),
                   t = I(unname(cf[, "t value"])), p = I(unname(cf[, "Pr(>|t|)"]))),
      contrasts = con,
      loglik = as.numeric(logLik(fit)), sigma = sigma(fit),
      theta = I(unname(getME(fit, "theta"))), singular = isSingular(fit),
      lme4_messages = I(as.character(unlist(fit@optinfo$conv$lme4$messages))),
      warnings = I(res$warnings))
  }
}

si <- sessionInfo()
meta <- list(
  generated_by = "tests/reference/scale_reference.R",
  generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))),
  platform = si$platform,
  control = "lmerTest::lmer(REML = TRUE, lmerControl(optimizer = 'bobyqa'))",
  units = "y_multiplier multiplies the outcome; time_multiplier 7 turns weeks into days")
write_json(exact(list(meta = meta, cases = cases)), file.path(here, "scale_fixtures.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE, json_verbatim = TRUE, null = "null",
           na = "null")
message("wrote scale_fixtures.json")

# ------------------------------------------------------------------------------- 400 fits
all400 <- read.csv(gzfile(file.path(data_dir, "converge400.csv.gz")), stringsAsFactors = FALSE)
rows <- list()
t0 <- Sys.time()
for (k in sort(unique(all400$fit))) {
  d <- all400[all400$fit == k, ]
  d$id <- factor(d$id)
  d$mode <- factor(d$mode, levels = modes)
  res <- fit_quiet(y ~ t * mode + (t | id), d)
  fit <- res$fit
  cf <- coef(summary(fit, ddf = "Satterthwaite"))
  msgs <- as.character(unlist(fit@optinfo$conv$lme4$messages))
  code <- fit@optinfo$conv$lme4$code
  row <- data.frame(fit = k, loglik = fmt_num(as.numeric(logLik(fit))),
                    singular = isSingular(fit),
                    lme4_code = if (is.null(code)) 0L else as.integer(code[1]),
                    lme4_messages = paste(gsub("[\r\n]+", " ", msgs), collapse = " | "),
                    stringsAsFactors = FALSE)
  for (i in seq_len(nrow(cf))) {
    row[[sprintf("estimate_%d", i)]] <- fmt_num(cf[i, "Estimate"])
    row[[sprintf("std_error_%d", i)]] <- fmt_num(cf[i, "Std. Error"])
    row[[sprintf("df_%d", i)]] <- fmt_num(cf[i, "df"])
  }
  rows[[length(rows) + 1]] <- row
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "converge400_lmer.csv"), row.names = FALSE, quote = TRUE)
message(sprintf("wrote converge400_lmer.csv (%d fits, %.0f s; %d singular, %d with lme4 messages)",
                nrow(out), as.numeric(difftime(Sys.time(), t0, units = "secs")),
                sum(out$singular), sum(nchar(out$lme4_messages) > 0)))
