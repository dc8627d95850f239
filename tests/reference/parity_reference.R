# Frozen R reference numbers for issue 14 (parity with R on the points a statistician checks):
#
#   .venv/bin/python tests/reference/make_parity_data.py && Rscript tests/reference/parity_reference.R
#
# Reads tests/reference/data/parity.csv (make_parity_data.py), mothers30.csv, sleepstudy.csv and
# engagement.csv (written by the other generators; not modified here) and writes
# tests/reference/parity_fixtures.json. CI never runs this script.
#
#   * emmeans_binary: reference grids with binary covariates (emmeans defaults: a logical covariate is
#     a factor, a numeric covariate with <= 2 distinct values is kept at both values -- cov.keep = "2"
#     -- and both are averaged over with equal weights; other numeric covariates sit at their mean);
#     marginal means, change 0 -> 12 weeks, slopes, and pairs() of each with every adjustment.
#   * r2: Nakagawa & Schielzeth's marginal / conditional R2 computed by hand from the lmer fit with
#     the formulas of insight::get_variance() as used by performance::r2_nakagawa() (insight
#     R/compute_variances.R: var.fixed = var(X beta) -- n - 1 denominator --, var.random =
#     sum(diag(crossprod(Z Sigma, Z))) / n, the Johnson 2014 mean random-effect variance, and
#     var.residual = sigma^2). performance and MuMIn are not installed here.
#   * cox_breslow: coxph(ties = "breslow") without and with strata(site), and cox.zph of those fits.
#   * km_conf_type: survfit with conf.type = "log" (default), "log-log" and "plain" on the
#     engagement data and on a tiny hand-made data set whose curve reaches 0.
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (json_helpers.R).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(survival)
  library(jsonlite)
})

emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e6, pbkrtest.limit = 0)
LEVEL <- 0.95

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()
data_dir <- file.path(here, "data")
out_file <- file.path(here, "parity_fixtures.json")

cols_of <- function(df, cols, rename = NULL) {
  out <- lapply(cols, function(cl) {
    v <- df[[cl]]
    if (is.factor(v)) v <- as.character(v)
    if (is.logical(v)) v <- as.character(v)
    if (is.double(v) || is.integer(v)) v <- as.double(v)
    I(unname(v))
  })
  names(out) <- if (is.null(rename)) cols else rename
  out
}
rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))
linfct_of <- function(g) list(colnames = I(colnames(g@linfct)), rows = rows_of(unname(g@linfct)))
check_satt <- function(g) {
  s <- summary(g)
  stopifnot(all(is.finite(s$df)))
  stopifnot(any(grepl("satterthwaite", attr(s, "mesg"), ignore.case = TRUE)))
  invisible(g)
}
ctl <- lmerControl(optimizer = "bobyqa")

# =============================================================================================
# data
# =============================================================================================
parity <- read.csv(file.path(data_dir, "parity.csv"),
                   colClasses = c(participant_id = "character", wave = "character",
                                  weeks = "numeric", wemwbs = "numeric",
                                  delivery_mode = "character", isolation = "numeric",
                                  first_baby = "logical", partner = "numeric",
                                  imd_quintile = "numeric"))
parity$delivery_mode <- factor(parity$delivery_mode, levels = c("one_to_one", "group", "both"))
parity$participant_id <- factor(parity$participant_id)
stopifnot(!anyNA(parity), is.logical(parity$first_baby), is.numeric(parity$partner))

# =============================================================================================
# 1. reference grids with binary covariates + pairs()
# =============================================================================================
f_mode <- lmer(wemwbs ~ weeks * delivery_mode + first_baby + partner + imd_quintile +
                 (weeks | participant_id), data = parity, REML = TRUE, control = ctl)
stopifnot(!isSingular(f_mode))
rg <- ref_grid(f_mode, at = list(weeks = c(0, 12)))
# the rule being checked: logical -> factor levels, numeric 0/1 -> both values, others -> mean
stopifnot(identical(rg@levels$first_baby, c(FALSE, TRUE)), identical(rg@levels$partner, c(0, 1)),
          length(rg@levels$imd_quintile) == 1)

summ <- function(g) as.data.frame(summary(check_satt(g), level = LEVEL))
fixed_of <- function(fit) {
  s <- summary(fit)$coefficients
  list(term = I(rownames(s)), estimate = I(unname(s[, "Estimate"])),
       std_error = I(unname(s[, "Std. Error"])), df = I(unname(s[, "df"])))
}

# pairs with every adjustment; estimate/SE/df/t come from the unadjusted call
pairs_all <- function(g, by = NULL) {
  p0 <- as.data.frame(summary(pairs(g, by = by, adjust = "none"), infer = c(TRUE, TRUE),
                              level = LEVEL))
  out <- c(cols_of(p0, c("contrast", "estimate", "SE", "df", "t.ratio", "p.value", "lower.CL",
                         "upper.CL"), c("contrast", "estimate", "SE", "df", "t.ratio", "p_none",
                                        "lower.CL", "upper.CL")))
  if (!is.null(by)) out[by] <- cols_of(p0, by)
  for (adj in c("tukey", "holm", "bonferroni", "BH")) {
    pa <- as.data.frame(summary(pairs(g, by = by, adjust = adj), infer = c(FALSE, TRUE)))
    out[[paste0("p_", adj)]] <- I(unname(pa$p.value))
  }
  out
}

emm_mw <- emmeans(f_mode, ~ delivery_mode | weeks, at = list(weeks = c(0, 12)))
mm <- summ(emm_mw)

emm_wm <- emmeans(f_mode, ~ weeks | delivery_mode, at = list(weeks = c(0, 12)))
change <- contrast(emm_wm, method = list("12 - 0" = c(-1, 1)), by = "delivery_mode")
ch <- as.data.frame(summary(check_satt(change), infer = c(TRUE, TRUE), level = LEVEL))

trends <- emtrends(f_mode, ~ delivery_mode, var = "weeks")
tr <- summ(trends)

by_first <- summ(emmeans(f_mode, ~ first_baby))
by_partner <- summ(emmeans(f_mode, ~ partner))

f_iso <- lmer(wemwbs ~ weeks * isolation + first_baby + partner + (weeks | participant_id),
              data = parity, REML = TRUE, control = ctl)
stopifnot(!isSingular(f_iso))
iso_at <- c(2, 5, 8)
tr_iso <- emtrends(f_iso, ~ isolation, var = "weeks", at = list(isolation = iso_at))

emmeans_binary <- list(
  data = "parity.csv",
  formula = paste(deparse(formula(f_mode), width.cutoff = 500), collapse = " "),
  nobs = nobs(f_mode), ngroups = as.numeric(ngrps(f_mode)),
  covariate_summary = list(first_baby_mean = mean(parity$first_baby),
                           partner_mean = mean(parity$partner),
                           imd_quintile_mean = mean(parity$imd_quintile)),
  ref_grid_levels = list(first_baby = I(as.character(rg@levels$first_baby)),
                         partner = I(rg@levels$partner), imd_quintile = I(rg@levels$imd_quintile)),
  fixed = fixed_of(f_mode),
  means = c(cols_of(mm, c("delivery_mode", "weeks", "emmean", "SE", "df", "lower.CL", "upper.CL")),
            list(linfct = linfct_of(emm_mw))),
  means_pairs = pairs_all(emm_mw, by = "weeks"),
  change = cols_of(ch, c("delivery_mode", "estimate", "SE", "df", "t.ratio", "p.value", "lower.CL",
                         "upper.CL")),
  change_pairs = pairs_all(change, by = NULL),
  trends = cols_of(tr, c("delivery_mode", "weeks.trend", "SE", "df", "lower.CL", "upper.CL")),
  trend_pairs = pairs_all(trends),
  means_by_first_baby = cols_of(by_first, c("first_baby", "emmean", "SE", "df")),
  means_by_partner = cols_of(by_partner, c("partner", "emmean", "SE", "df")),
  iso = list(formula = paste(deparse(formula(f_iso), width.cutoff = 500), collapse = " "),
             fixed = fixed_of(f_iso),
             trends = cols_of(summ(tr_iso), c("isolation", "weeks.trend", "SE", "df")),
             trend_pairs = pairs_all(tr_iso))
)
# the old (covariates-at-mean) means, computed from the linear function: same L with
# first_baby and partner replaced by their sample means
Lold <- emm_mw@linfct
Lold[, "first_babyTRUE"] <- mean(parity$first_baby)
Lold[, "partner"] <- mean(parity$partner)
emmeans_binary$means_covariates_at_mean <- list(
  note = "first_baby and partner at their sample means (evalkit before issue 14)",
  emmean = I(unname(as.vector(Lold %*% fixef(f_mode)))))

# =============================================================================================
# 2. Nakagawa R2 as insight::get_variance / performance::r2_nakagawa compute it
# =============================================================================================
r2_by_hand <- function(fit) {
  beta <- fixef(fit)
  X <- getME(fit, "X")
  vc <- VarCorr(fit)
  n <- nobs(fit)
  var_fixed <- stats::var(as.vector(beta %*% t(X)))           # n - 1 denominator
  var_random <- sum(sapply(vc, function(S) {
    Z <- X[, rownames(S), drop = FALSE]
    sum(diag(crossprod(Z %*% S, Z))) / n
  }))
  var_resid <- sigma(fit)^2
  total <- var_fixed + var_random + var_resid
  list(n = n, var_fixed = var_fixed, var_fixed_n = var_fixed * (n - 1) / n,
       var_random = var_random, var_residual = var_resid,
       marginal = var_fixed / total, conditional = (var_fixed + var_random) / total,
       marginal_with_n = (var_fixed * (n - 1) / n) /
         (var_fixed * (n - 1) / n + var_random + var_resid),
       singular = isSingular(fit))
}
sleep <- read.csv(file.path(data_dir, "sleepstudy.csv"), colClasses = c(Subject = "character"))
m30 <- read.csv(file.path(data_dir, "mothers30.csv"),
                colClasses = c(participant_id = "character", wave = "character"))
m30$delivery_mode <- factor(m30$delivery_mode, levels = c("one_to_one", "group", "both"))
small_ids <- sort(unique(as.character(parity$participant_id)))[1:20]
parity_small <- droplevels(parity[parity$participant_id %in% small_ids, ])
r2_cases <- list(
  sleepstudy_slope = list(data = "sleepstudy.csv", subset = NULL,
                          fit = lmer(Reaction ~ Days + (Days | Subject), sleep, control = ctl)),
  mothers30_intercept = list(data = "mothers30.csv", subset = NULL,
                             fit = lmer(wemwbs ~ weeks * delivery_mode + (1 | participant_id),
                                        m30, control = ctl)),
  parity_mode_slope = list(data = "parity.csv", subset = NULL, fit = f_mode),
  parity_small_intercept = list(
    data = "parity.csv", subset = "the first 20 participant_id values in sorted order",
    fit = lmer(wemwbs ~ weeks + first_baby + (1 | participant_id), parity_small, control = ctl))
)
r2 <- lapply(r2_cases, function(cs) {
  stopifnot(!isSingular(cs$fit))
  c(list(data = cs$data, subset = cs$subset,
         formula = paste(deparse(formula(cs$fit), width.cutoff = 500), collapse = " ")),
    r2_by_hand(cs$fit))
})

# =============================================================================================
# 3. Cox with Breslow ties, and cox.zph of those fits
# =============================================================================================
eng <- read.csv(file.path(data_dir, "engagement.csv"),
                colClasses = c(participant_id = "character", duration = "numeric",
                               event = "numeric", delivery_mode = "character",
                               imd_quintile = "numeric", age = "numeric", isolation = "numeric",
                               site = "character"))
eng$delivery_mode <- factor(eng$delivery_mode, levels = c("one_to_one", "group", "both"))
cox_of <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- confint(fit)
  tb <- cox.zph(fit)$table
  k <- nrow(tb)
  list(method = fit$method, term = I(rownames(s)), estimate = I(unname(s[, "coef"])),
       std_error = I(unname(s[, "se(coef)"])), statistic = I(unname(s[, "z"])),
       p_value = I(unname(s[, "Pr(>|z|)"])), ci_low = I(unname(ci[, 1])),
       ci_high = I(unname(ci[, 2])), loglik = fit$loglik[2], loglik_null = fit$loglik[1],
       iter = fit$iter, n = fit$n, nevent = fit$nevent,
       zph = list(term = I(rownames(tb)[-k]), chisq = I(unname(tb[-k, "chisq"])),
                  df = I(unname(tb[-k, "df"])), p_value = I(unname(tb[-k, "p"])),
                  global_chisq = unname(tb[k, "chisq"]), global_df = unname(tb[k, "df"]),
                  global_p = unname(tb[k, "p"])))
}
cox_formula <- Surv(duration, event) ~ delivery_mode + imd_quintile + age + isolation
cox_breslow <- list(
  plain = cox_of(coxph(cox_formula, data = eng, ties = "breslow")),
  strata = cox_of(coxph(update(cox_formula, . ~ . + strata(site)), data = eng, ties = "breslow")),
  efron_plain_estimate = I(unname(coef(coxph(cox_formula, data = eng, ties = "efron"))))
)

# =============================================================================================
# 4. Kaplan-Meier confidence interval types
# =============================================================================================
tiny <- data.frame(t = c(1, 2, 2, 3, 4, 4, 5, 6), e = c(0, 1, 0, 1, 1, 1, 0, 1))
km_of <- function(d, f, conf_type, conf_int, times) {
  km <- survfit(f, data = d, conf.type = conf_type, conf.int = conf_int)
  grp <- function(s) if (is.null(s)) rep("all", length(s)) else sub("^delivery_mode=", "", as.character(s))
  full <- summary(km, censored = TRUE)
  at <- summary(km, times = times, extend = FALSE)
  q <- quantile(km, probs = 0.5)
  qm <- function(x) as.numeric(if (is.matrix(x)) x[, 1] else x)
  list(conf_type = conf_type, conf_int = conf_int,
       table = list(group = I(if (is.null(full$strata)) rep("all", length(full$time)) else grp(full$strata)),
                    time = I(full$time), at_risk = I(as.numeric(full$n.risk)),
                    survival = I(full$surv), std_err = I(full$std.err),
                    ci_low = I(full$lower), ci_high = I(full$upper)),
       at_times = list(group = I(if (is.null(at$strata)) rep("all", length(at$time)) else grp(at$strata)),
                       time = I(at$time), survival = I(at$surv), ci_low = I(at$lower),
                       ci_high = I(at$upper)),
       median = list(median = I(qm(q$quantile)), ci_low = I(qm(q$lower)), ci_high = I(qm(q$upper))))
}
km_conf <- list()
for (ct in c("log", "log-log", "plain")) {
  km_conf[[paste0("engagement_", ct)]] <- km_of(eng, Surv(duration, event) ~ delivery_mode, ct,
                                                LEVEL, c(4, 8, 12))
  km_conf[[paste0("tiny_", ct)]] <- km_of(tiny, Surv(t, e) ~ 1, ct, LEVEL,
                                          c(0, 0.5, 1.5, 2.5, 5.5, 6))
}
km_conf[["engagement_log-log_90"]] <- km_of(eng, Surv(duration, event) ~ delivery_mode, "log-log",
                                            0.90, c(4, 8, 12))

# =============================================================================================
si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/parity_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    emmeans = as.character(packageVersion("emmeans")),
                    survival = as.character(packageVersion("survival")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform,
    emm_options = list(lmer.df = "satterthwaite", cov.keep = get_emm_option("cov.keep")),
    tiny_data = list(t = I(tiny$t), e = I(tiny$e)),
    notes = paste(
      "lmerTest::lmer, REML, lmerControl(optimizer = 'bobyqa'); emmeans defaults otherwise",
      "(weights = 'equal', cov.keep = '2'). Logical first_baby; numeric 0/1 partner.",
      "r2 by hand after insight::get_variance (n - 1 for the fixed-effect variance).",
      "coxph(ties = 'breslow'); survfit(conf.type = ...).")
  ),
  emmeans_binary = emmeans_binary,
  r2 = r2,
  cox_breslow = cox_breslow,
  km_conf_type = km_conf
)
write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
