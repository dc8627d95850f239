# Frozen lme4 + lmerTest reference numbers for evalkit's pure-Python linear mixed model engine.
#
#   python tests/reference/make_mixed_data.py && Rscript tests/reference/lme4_reference.R
#
# Reads tests/reference/data/{mothers30,mothers3000,singular}.csv (written by make_mixed_data.py),
# exports lme4's sleepstudy to tests/reference/data/sleepstudy.csv, fits every case with
# lmerTest::lmer (default lmerControl(): bobyqa for both stages in lme4 1.1-31) and writes
# tests/reference/lme4_fixtures.json. CI never runs this script; it only reads the JSON and CSVs.
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (jsonlite's digits = NA stops at 15 significant digits, which is not lossless).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
out_file <- file.path(here, "lme4_fixtures.json")

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
ss <- lme4::sleepstudy[, c("Reaction", "Days", "Subject")]
write.csv(ss, file.path(data_dir, "sleepstudy.csv"), row.names = FALSE, quote = FALSE)
# read back what the Python side will read, so fixtures refer to the CSV exactly
sleep <- read.csv(file.path(data_dir, "sleepstudy.csv"),
                  colClasses = c(Reaction = "numeric", Days = "numeric", Subject = "character"))
sleep$Subject <- factor(sleep$Subject)
stopifnot(isTRUE(all.equal(sleep$Reaction, ss$Reaction, tolerance = 0)))

read_mothers <- function(f) {
  d <- read.csv(file.path(data_dir, f),
                colClasses = c(participant_id = "character", wave = "character", weeks = "numeric",
                               wemwbs = "numeric", delivery_mode = "character",
                               isolation = "numeric"))
  d$delivery_mode <- factor(d$delivery_mode, levels = c("one_to_one", "group", "both"))
  stopifnot(!anyNA(d$delivery_mode))
  d$participant_id <- factor(d$participant_id)
  d
}
m30 <- read_mothers("mothers30.csv")
m3000 <- read_mothers("mothers3000.csv")
sing <- read.csv(file.path(data_dir, "singular.csv"),
                 colClasses = c(id = "character", weeks = "numeric", y = "numeric"))
sing$id <- factor(sing$id)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))

varcorr_of <- function(fit) {
  vc <- VarCorr(fit)
  groups <- lapply(names(vc), function(g) {
    v <- vc[[g]]
    sds <- attr(v, "stddev")
    cor <- attr(v, "correlation")
    list(
      grouping_factor = g,
      terms = I(names(sds)),
      variances = I(unname(diag(as.matrix(v)))),
      sds = I(unname(sds)),
      covariance = rows_of(unname(as.matrix(v))),
      correlation = if (length(sds) > 1) rows_of(unname(as.matrix(cor))) else NULL
    )
  })
  list(groups = groups,
       residual_variance = sigma(fit)^2,
       residual_sd = sigma(fit))
}

ranef_of <- function(fit, n = 5) {
  re <- ranef(fit, condVar = TRUE)
  redf <- as.data.frame(re)   # grpvar, term, grp, condval, condsd
  lapply(names(re), function(g) {
    r <- re[[g]]
    k <- min(n, nrow(r))
    lev <- rownames(r)[seq_len(k)]
    sd <- vapply(colnames(r), function(tm) {
      sub <- redf[redf$grpvar == g & redf$term == tm, ]
      sub$condsd[match(lev, as.character(sub$grp))]
    }, numeric(k))
    sd <- matrix(sd, nrow = k)
    list(grouping_factor = g,
         terms = I(colnames(r)),
         levels = I(lev),
         values = rows_of(unname(as.matrix(r[seq_len(k), , drop = FALSE]))),
         cond_sd = rows_of(unname(sd)))
  })
}

contrasts_of <- function(fit, Ls) {
  if (!length(Ls)) return(list())
  beta_names <- names(fixef(fit))
  lapply(names(Ls), function(nm) {
    L <- Ls[[nm]]
    if (is.null(dim(L))) L <- matrix(L, nrow = 1)
    colnames(L) <- beta_names
    ct <- lmerTest::contest(fit, L, joint = FALSE, ddf = "Satterthwaite")
    list(name = nm,
         L = rows_of(unname(L)),
         L_colnames = I(beta_names),
         estimate = I(ct[["Estimate"]]),
         std_error = I(ct[["Std. Error"]]),
         df = I(ct[["df"]]),
         t = I(ct[["t value"]]),
         p = I(ct[["Pr(>|t|)"]]))
  })
}

fit_case <- function(name, description, data_file, formula, data, REML, contrasts = list()) {
  warns <- character()
  t0 <- system.time(
    fit <- withCallingHandlers(
      lmerTest::lmer(formula, data = data, REML = REML, control = lmerControl(optimizer = "bobyqa")),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
      message = function(m) { warns <<- c(warns, conditionMessage(m)); invokeRestart("muffleMessage") }
    )
  )
  stopifnot(inherits(fit, "lmerModLmerTest"))
  # the same fit with plain lme4 (lmerTest::lmer also computes the Satterthwaite machinery)
  t1 <- system.time(suppressMessages(suppressWarnings(
    lme4::lmer(formula, data = data, REML = REML, control = lmerControl(optimizer = "bobyqa")))))
  sm <- summary(fit, ddf = "Satterthwaite")
  cf <- coef(sm)
  V <- as.matrix(vcov(fit))
  ll <- logLik(fit)
  ng <- ngrps(fit)
  conv <- fit@optinfo$conv
  message(sprintf("%-26s lmerTest %5.2fs  lme4 %5.2fs  singular=%s", name, t0[["elapsed"]],
                  t1[["elapsed"]], isSingular(fit)))
  list(
    name = name,
    description = description,
    data = data_file,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    REML = REML,
    nobs = nobs(fit),
    ngroups = as.list(setNames(as.integer(ng), names(ng))),
    fixed = list(
      term = I(rownames(cf)),
      estimate = I(unname(cf[, "Estimate"])),
      std_error = I(unname(cf[, "Std. Error"])),
      df = I(unname(cf[, "df"])),
      t = I(unname(cf[, "t value"])),
      p = I(unname(cf[, "Pr(>|t|)"]))
    ),
    vcov = list(names = I(colnames(V)), matrix = rows_of(unname(V))),
    theta = list(names = I(names(getME(fit, "theta"))), values = I(unname(getME(fit, "theta")))),
    sigma = sigma(fit),
    varcorr = varcorr_of(fit),
    loglik = as.numeric(ll),
    loglik_df = as.integer(attr(ll, "df")),
    REMLcrit = if (REML) REMLcrit(fit) else NULL,
    deviance = if (!REML) deviance(fit) else NULL,
    objective = if (REML) REMLcrit(fit) else deviance(fit),
    aic = AIC(fit),
    bic = BIC(fit),
    singular = isSingular(fit),
    ranef = ranef_of(fit, 5),
    contrasts = contrasts_of(fit, contrasts),
    optimizer = list(
      optimizer = fit@optinfo$optimizer,
      feval = fit@optinfo$feval,
      conv_opt = fit@optinfo$conv$opt,
      lme4_messages = I(as.character(unlist(conv$lme4$messages))),
      lme4_code = if (is.null(conv$lme4$code)) NULL else I(as.integer(conv$lme4$code)),
      warnings = I(unique(trimws(warns)))
    ),
    elapsed_sec = round(t0[["elapsed"]], 3),
    elapsed_sec_lme4_only = round(t1[["elapsed"]], 3)
  )
}

source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------
# fixed-effect orders:
#   sleepstudy:      (Intercept), Days
#   weeks*mode:      (Intercept), weeks, delivery_modegroup, delivery_modeboth,
#                    weeks:delivery_modegroup, weeks:delivery_modeboth
#   weeks*isolation: (Intercept), weeks, isolation, weeks:isolation
#   singular:        (Intercept), weeks
L_sleep <- list(day5_mean = c(1, 5), day9_minus_day0 = c(0, 9))
L_mode <- list(
  weeks_slope_group = c(0, 1, 0, 0, 1, 0),
  weeks_slope_both = c(0, 1, 0, 0, 0, 1),
  group_minus_both_slope = c(0, 0, 0, 0, 1, -1),
  group_vs_one_to_one_at_12_weeks = c(0, 0, 1, 0, 12, 0),
  both_slopes_two_rows = rbind(c(0, 1, 0, 0, 1, 0), c(0, 1, 0, 0, 0, 1))
)
L_iso <- list(
  weeks_slope_at_isolation_3 = c(0, 1, 0, 3),
  weeks_slope_at_isolation_6 = c(0, 1, 0, 6),
  mean_at_12_weeks_isolation_5 = c(1, 12, 5, 60)
)
L_sing <- list(mean_at_12_weeks = c(1, 12), weeks_slope = c(0, 1))

f_slope <- wemwbs ~ weeks * delivery_mode + (weeks | participant_id)
f_int <- wemwbs ~ weeks * delivery_mode + (1 | participant_id)

cases <- list(
  fit_case("sleepstudy_slope_reml", "lme4 sleepstudy, correlated random intercept and slope, REML",
           "sleepstudy.csv", Reaction ~ Days + (Days | Subject), sleep, TRUE, L_sleep),
  fit_case("sleepstudy_slope_ml", "lme4 sleepstudy, correlated random intercept and slope, ML",
           "sleepstudy.csv", Reaction ~ Days + (Days | Subject), sleep, FALSE, L_sleep),
  fit_case("sleepstudy_uncorr_reml",
           "lme4 sleepstudy, uncorrelated random intercept and slope (double bar), REML",
           "sleepstudy.csv", Reaction ~ Days + (Days || Subject), sleep, TRUE, L_sleep),
  fit_case("sleepstudy_intercept_reml", "lme4 sleepstudy, random intercept only, REML",
           "sleepstudy.csv", Reaction ~ Days + (1 | Subject), sleep, TRUE, L_sleep),
  fit_case("mothers30_slope_reml",
           "30 simulated mothers, unbalanced 1-4 waves; weeks x delivery mode, random slope, REML",
           "mothers30.csv", f_slope, m30, TRUE, L_mode),
  fit_case("mothers30_intercept_reml",
           "30 simulated mothers; weeks x delivery mode, random intercept only, REML",
           "mothers30.csv", f_int, m30, TRUE, L_mode),
  fit_case("mothers30_slope_ml",
           "30 simulated mothers; weeks x delivery mode, random slope, ML",
           "mothers30.csv", f_slope, m30, FALSE, L_mode),
  fit_case("mothers30_isolation_reml",
           "30 simulated mothers; weeks x isolation (continuous moderator), random slope, REML",
           "mothers30.csv", wemwbs ~ weeks * isolation + (weeks | participant_id), m30, TRUE, L_iso),
  fit_case("mothers3000_slope_reml",
           "~3,000 simulated mothers; weeks x delivery mode, random slope, REML (also timed)",
           "mothers3000.csv", f_slope, m3000, TRUE, L_mode),
  fit_case("singular_slope_reml",
           "no true slope variation; (weeks | id) random-slope variance on the boundary, REML",
           "singular.csv", y ~ weeks + (weeks | id), sing, TRUE, L_sing),
  fit_case("singular_uncorr_reml",
           "no true slope variation; (weeks || id): slope variance itself estimated as exactly 0, REML",
           "singular.csv", y ~ weeks + (weeks || id), sing, TRUE, L_sing)
)
names(cases) <- vapply(cases, `[[`, character(1), "name")

stopifnot(isTRUE(cases$singular_slope_reml$singular), isTRUE(cases$singular_uncorr_reml$singular))

si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/lme4_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    Matrix = as.character(packageVersion("Matrix")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform,
    blas = si$BLAS,
    lapack = si$LAPACK,
    control = "lmerControl(optimizer = 'bobyqa'); all other settings default",
    ddf = "Satterthwaite (lmerTest)",
    contrasts = "contr.treatment; delivery_mode levels one_to_one, group, both",
    notes = paste(
      "Matrices (vcov, covariance, correlation, L, ranef values) are lists of rows.",
      "aic/bic/loglik use the REML criterion for REML fits (as logLik() does).",
      "objective = REMLcrit() for REML fits, deviance() for ML fits.",
      "ranef: first 5 levels of each grouping factor in factor (sorted) order; cond_sd = sqrt(diag(postVar)).",
      "elapsed_sec: system.time() elapsed seconds of the lmerTest::lmer() call on the generating machine;",
      "elapsed_sec_lme4_only: the same model with lme4::lmer().")
  ),
  cases = cases
)

write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
