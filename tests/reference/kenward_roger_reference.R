# Frozen Kenward-Roger reference numbers (pbkrtest, lmerTest ddf = "Kenward-Roger", emmeans
# lmer.df = "kenward-roger") for evalkit.models.kenward_roger.
#
#   python tests/reference/make_kr_data.py && Rscript tests/reference/kenward_roger_reference.R
#
# Reads tests/reference/data/{sleepstudy,small20,mothers30,mothers3000}.csv (sleepstudy.csv is
# exported by lme4_reference.R, mothers*.csv written by make_mixed_data.py, small20.csv by
# make_kr_data.py; none is modified here) and writes tests/reference/kr_fixtures.json. CI never runs
# this script. `mothers300` is derived here: the rows of mothers3000.csv whose participant_id is
# among the first 300 in sorted order.
#
# Per case: lmerTest::lmer(REML = TRUE, lmerControl(optimizer = "bobyqa")); pbkrtest::vcovAdj
# (adjusted covariance Phi_A and its attributes W = 2 * IE2^-1); summary(fit, ddf = "Kenward-Roger")
# (lmerTest: SE = sqrt(diag(Phi_A)), df = pbkrtest::Lb_ddf); contest(..., ddf = "Kenward-Roger",
# joint = FALSE) for named contrasts; F tests with pbkrtest::KRmodcomp(fit, L) and
# anova(fit, type = 3, ddf = "Kenward-Roger"); emmeans / emtrends / contrast / pairs with
# emm_options(lmer.df = "kenward-roger"), every grid checked to report Kenward-Roger df.
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (json_helpers.R).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(jsonlite)
})

emm_options(lmer.df = "kenward-roger", pbkrtest.limit = 1e6, lmerTest.limit = 1e6)
LEVEL <- 0.95

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
out_file <- file.path(here, "kr_fixtures.json")
source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
sleep <- read.csv(file.path(data_dir, "sleepstudy.csv"),
                  colClasses = c(Reaction = "numeric", Days = "numeric", Subject = "character"))
sleep$Subject <- factor(sleep$Subject)

read_mothers <- function(f, levels) {
  d <- read.csv(file.path(data_dir, f),
                colClasses = c(participant_id = "character", wave = "character", weeks = "numeric",
                               wemwbs = "numeric", delivery_mode = "character",
                               isolation = "numeric"))
  d$delivery_mode <- factor(d$delivery_mode, levels = levels)
  stopifnot(!anyNA(d$delivery_mode))
  d$participant_id <- factor(d$participant_id)
  d
}
MODES <- c("one_to_one", "group", "both")
s20 <- read_mothers("small20.csv", MODES[1:2])
s20$days <- s20$weeks * 7
s20$wemwbs_x1000 <- s20$wemwbs * 1000
m30 <- read_mothers("mothers30.csv", MODES)
m3000 <- read_mothers("mothers3000.csv", MODES)
first300 <- sort(unique(as.character(m3000$participant_id)))[1:300]
m300 <- droplevels(m3000[as.character(m3000$participant_id) %in% first300, ])

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))
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

check_kr <- function(g) {
  s <- summary(g)
  mesg <- paste(attr(s, "mesg"), collapse = " | ")
  if (!grepl("kenward-roger", mesg, fixed = TRUE) || any(!is.finite(s$df)))
    stop("df are not Kenward-Roger: ", mesg)
  invisible(g)
}

emm_table <- function(g, cols) {
  check_kr(g)
  s <- as.data.frame(summary(g, infer = c(TRUE, TRUE), level = LEVEL))
  c(cols_of(s, intersect(c(cols, "SE", "df", "lower.CL", "upper.CL", "t.ratio", "p.value"),
                         names(s))),
    list(linfct = rows_of(unname(g@linfct))))
}

contrasts_of <- function(fit, Ls) {
  beta_names <- names(fixef(fit))
  lapply(names(Ls), function(nm) {
    L <- Ls[[nm]]
    if (is.null(dim(L))) L <- matrix(L, nrow = 1)
    colnames(L) <- beta_names
    ct <- lmerTest::contest(fit, L, joint = FALSE, ddf = "Kenward-Roger")
    list(name = nm, L = rows_of(unname(L)),
         estimate = I(ct[["Estimate"]]), std_error = I(ct[["Std. Error"]]), df = I(ct[["df"]]),
         t = I(ct[["t value"]]), p = I(ct[["Pr(>|t|)"]]))
  })
}

ftests_of <- function(fit, Ls) {
  lapply(names(Ls), function(nm) {
    L <- Ls[[nm]]
    if (is.null(dim(L))) L <- matrix(L, nrow = 1)
    kr <- pbkrtest::KRmodcomp(fit, L)
    st <- kr$stats
    md <- lmerTest::contest(fit, L, joint = TRUE, ddf = "Kenward-Roger")
    stopifnot(isTRUE(all.equal(md[["F value"]], st$Fstat, tolerance = 1e-10)),
              isTRUE(all.equal(md[["DenDF"]], st$ddf, tolerance = 1e-10)))
    list(name = nm, L = rows_of(unname(L)),
         F = st$Fstat, ndf = st$ndf, ddf = st$ddf, F_scaling = st$F.scaling, p = st$p.value,
         F_unscaled = st$FstatU, p_unscaled = st$p.valueU,
         A1 = unname(st$aux[["A1"]]), A2 = unname(st$aux[["A2"]]))
  })
}

anova_of <- function(fit) {
  a <- anova(fit, type = 3, ddf = "Kenward-Roger")
  list(term = I(rownames(a)), NumDF = I(as.double(a$NumDF)), DenDF = I(a$DenDF),
       F = I(a[["F value"]]), p = I(a[["Pr(>F)"]]))
}

fit_case <- function(name, description, data_file, subset, formula, data, contrasts = list(),
                     ftests = list(), emm = NULL) {
  warns <- character()
  fit <- withCallingHandlers(
    lmerTest::lmer(formula, data = data, REML = TRUE, control = lmerControl(optimizer = "bobyqa")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { warns <<- c(warns, conditionMessage(m)); invokeRestart("muffleMessage") }
  )
  stopifnot(inherits(fit, "lmerModLmerTest"))
  t_adj <- system.time(Va <- pbkrtest::vcovAdj(fit))[["elapsed"]]
  V <- as.matrix(vcov(fit))
  PhiA <- as.matrix(Va)
  kr <- coef(summary(fit, ddf = "Kenward-Roger"))
  sat <- coef(summary(fit, ddf = "Satterthwaite"))
  stopifnot(isTRUE(all.equal(unname(kr[, "Std. Error"]), sqrt(unname(diag(PhiA))),
                             tolerance = 1e-12)))
  ng <- ngrps(fit)
  vc <- as.data.frame(VarCorr(fit))
  message(sprintf("%-26s n=%4d groups=%3d singular=%-5s vcovAdj %.2fs", name, nobs(fit),
                  as.integer(ng[1]), isSingular(fit), t_adj))
  out <- list(
    name = name, description = description, data = data_file, subset = subset,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    REML = TRUE, nobs = nobs(fit),
    ngroups = as.list(setNames(as.integer(ng), names(ng))),
    fixed = list(term = I(rownames(kr)),
                 estimate = I(unname(kr[, "Estimate"])),
                 std_error = I(unname(sat[, "Std. Error"])),
                 std_error_kr = I(unname(kr[, "Std. Error"])),
                 df_kr = I(unname(kr[, "df"])),
                 t_kr = I(unname(kr[, "t value"])),
                 p_kr = I(unname(kr[, "Pr(>|t|)"])),
                 df_satterthwaite = I(unname(sat[, "df"]))),
    vcov = rows_of(unname(V)),
    vcov_adjusted = rows_of(unname(PhiA)),
    W = rows_of(unname(as.matrix(attr(Va, "W")))),
    condition = attr(Va, "condi"),
    varcorr = list(grp = I(vc$grp), var1 = I(ifelse(is.na(vc$var1), "", vc$var1)),
                   var2 = I(ifelse(is.na(vc$var2), "", vc$var2)), vcov = I(vc$vcov)),
    theta = list(names = I(names(getME(fit, "theta"))), values = I(unname(getME(fit, "theta")))),
    sigma = sigma(fit),
    REMLcrit = REMLcrit(fit),
    singular = isSingular(fit),
    warnings = I(unique(trimws(warns))),
    elapsed_sec_vcovAdj = round(t_adj, 3),
    contrasts = contrasts_of(fit, contrasts),
    ftests = ftests_of(fit, ftests),
    anova_type3 = anova_of(fit)
  )
  if (!is.null(emm)) out$emmeans <- emm(fit, data)
  out
}

# ---------------------------------------------------------------------------------------------
# emmeans blocks
# ---------------------------------------------------------------------------------------------
emm_mode <- function(time = "weeks", change = c(0, 12)) function(fit, data) {
  at <- setNames(list(change), time)
  mm <- emmeans(fit, as.formula(paste("~ delivery_mode |", time)), at = at)
  ch <- contrast(emmeans(fit, as.formula(paste("~", time, "| delivery_mode")), at = at),
                 method = list("end - start" = c(-1, 1)), by = "delivery_mode")
  tr <- emtrends(fit, ~ delivery_mode, var = time)
  list(time = time, change = I(change),
       means = emm_table(mm, c("delivery_mode", time, "emmean")),
       change_by_mode = emm_table(ch, c("contrast", "delivery_mode", "estimate")),
       change_pairs = emm_table(pairs(ch, by = NULL, adjust = "none"), c("contrast", "estimate")),
       trends = emm_table(tr, c("delivery_mode", paste0(time, ".trend"))))
}

emm_isolation <- function(fit, data) {
  m <- mean(data$isolation)
  s <- sd(data$isolation)
  at <- c(m - s, m, m + s)
  tr <- emtrends(fit, ~ isolation, var = "weeks", at = list(isolation = at))
  ch <- contrast(emmeans(fit, ~ weeks | isolation, at = list(weeks = c(0, 12), isolation = at)),
                 method = list("12 - 0" = c(-1, 1)), by = "isolation")
  list(isolation_mean = m, isolation_sd = s,
       trends = emm_table(tr, c("isolation", "weeks.trend")),
       change_12_vs_0 = emm_table(ch, c("isolation", "estimate")))
}

emm_sleep <- function(fit, data) {
  mm <- emmeans(fit, ~ Days, at = list(Days = c(0, 9)))
  list(means = emm_table(mm, c("Days", "emmean")),
       change = emm_table(pairs(mm, reverse = TRUE, adjust = "none"), c("contrast", "estimate")))
}

# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------
# fixed-effect orders:
#   sleepstudy:                (Intercept), Days
#   weeks*mode (small20):      (Intercept), weeks, delivery_modegroup, weeks:delivery_modegroup
#   weeks*mode (3 levels):     (Intercept), weeks, delivery_modegroup, delivery_modeboth,
#                              weeks:delivery_modegroup, weeks:delivery_modeboth
#   weeks*isolation:           (Intercept), weeks, isolation, weeks:isolation
L_sleep <- list(day5_mean = c(1, 5), day9_minus_day0 = c(0, 9))
F_sleep <- list(both = diag(2))
L_mode2 <- list(weeks_slope_group = c(0, 1, 0, 1), group_vs_one_to_one_at_12_weeks = c(0, 0, 1, 12),
                mean_group_at_12_weeks = c(1, 12, 1, 12))
F_mode2 <- list(interaction = matrix(c(0, 0, 0, 1), 1), mode_and_interaction = rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)))
L_mode3 <- list(weeks_slope_group = c(0, 1, 0, 0, 1, 0), weeks_slope_both = c(0, 1, 0, 0, 0, 1),
                group_minus_both_slope = c(0, 0, 0, 0, 1, -1),
                group_vs_one_to_one_at_12_weeks = c(0, 0, 1, 0, 12, 0))
F_mode3 <- list(interaction = rbind(c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1)),
                change_by_mode_12 = rbind(c(0, 12, 0, 0, 12, 0), c(0, 12, 0, 0, 0, 12)),
                all_but_intercept = cbind(0, diag(5)))
L_iso <- list(weeks_slope_at_isolation_3 = c(0, 1, 0, 3), mean_at_12_weeks_isolation_5 = c(1, 12, 5, 60))
F_iso <- list(isolation_terms = rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)))

f_sleep_slope <- Reaction ~ Days + (Days | Subject)
f_mode <- wemwbs ~ weeks * delivery_mode + (weeks | participant_id)

cases <- list(
  fit_case("sleepstudy_slope", "lme4 sleepstudy, random intercept and slope (18 subjects)",
           "sleepstudy.csv", NULL, f_sleep_slope, sleep, L_sleep, F_sleep, emm_sleep),
  fit_case("sleepstudy_uncorr", "sleepstudy, uncorrelated intercept and slope", "sleepstudy.csv",
           NULL, Reaction ~ Days + (Days || Subject), sleep, L_sleep, F_sleep, emm_sleep),
  fit_case("sleepstudy_intercept", "sleepstudy, random intercept", "sleepstudy.csv", NULL,
           Reaction ~ Days + (1 | Subject), sleep, L_sleep, F_sleep, emm_sleep),
  fit_case("small20_slope", "20 mothers, unbalanced waves, 2 modes", "small20.csv", NULL, f_mode,
           s20, L_mode2, F_mode2, emm_mode()),
  fit_case("small20_uncorr", "20 mothers, uncorrelated intercept and slope", "small20.csv", NULL,
           wemwbs ~ weeks * delivery_mode + (weeks || participant_id), s20, L_mode2, F_mode2,
           emm_mode()),
  fit_case("small20_intercept", "20 mothers, random intercept", "small20.csv", NULL,
           wemwbs ~ weeks * delivery_mode + (1 | participant_id), s20, L_mode2, F_mode2, emm_mode()),
  fit_case("small20_isolation", "20 mothers, continuous moderator", "small20.csv", NULL,
           wemwbs ~ weeks * isolation + (weeks | participant_id), s20, L_iso, F_iso, emm_isolation),
  fit_case("small20_slope_x1000_days",
           "small20_slope with the outcome x 1000 and time in days (days = 7 * weeks)",
           "small20.csv", NULL, wemwbs_x1000 ~ days * delivery_mode + (days | participant_id), s20,
           list(), F_mode2, emm_mode("days", c(0, 84))),
  fit_case("mothers30_slope", "30 mothers, 3 modes, random intercept and slope", "mothers30.csv",
           NULL, f_mode, m30, L_mode3, F_mode3, emm_mode()),
  fit_case("mothers30_intercept", "30 mothers, random intercept", "mothers30.csv", NULL,
           wemwbs ~ weeks * delivery_mode + (1 | participant_id), m30, L_mode3, F_mode3, emm_mode()),
  fit_case("mothers30_isolation", "30 mothers, continuous moderator (singular: corr = -1)",
           "mothers30.csv", NULL, wemwbs ~ weeks * isolation + (weeks | participant_id), m30,
           L_iso, F_iso, emm_isolation),
  fit_case("mothers300_slope", "first 300 mothers (sorted ids) of mothers3000.csv",
           "mothers3000.csv", "first 300 participant_id in sorted order", f_mode, m300, L_mode3,
           F_mode3, emm_mode())
)
names(cases) <- vapply(cases, `[[`, character(1), "name")

si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/kenward_roger_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(pbkrtest = as.character(packageVersion("pbkrtest")),
                    emmeans = as.character(packageVersion("emmeans")),
                    lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    Matrix = as.character(packageVersion("Matrix")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform, blas = si$BLAS, lapack = si$LAPACK,
    fit = "lmerTest::lmer(formula, data, REML = TRUE, control = lmerControl(optimizer = 'bobyqa'))",
    emm_options = list(lmer.df = "kenward-roger", pbkrtest.limit = 1e6, lmerTest.limit = 1e6),
    conf_level = LEVEL,
    contrasts = "contr.treatment; delivery_mode levels one_to_one, group (, both)",
    notes = paste(
      "fixed.std_error is the unadjusted SE (sqrt(diag(vcov))), std_error_kr sqrt(diag(vcovAdj)).",
      "W is attr(vcovAdj(fit), 'W') = 2 * IE2^-1 over the covariance-scale parameters (VarCorr",
      "lower triangle per term, then sigma^2). ftests: pbkrtest::KRmodcomp(fit, L) (F = F.scaling",
      "* FstatU), checked equal to lmerTest::contest(joint = TRUE, ddf = 'Kenward-Roger').",
      "Matrices are lists of rows.")
  ),
  cases = cases
)
write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
