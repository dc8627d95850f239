# Frozen R `survival` reference numbers for evalkit.models.survival.
#
#   python tests/reference/make_engagement_data.py && Rscript tests/reference/survival_reference.R
#
# Reads tests/reference/data/engagement.csv (written by make_engagement_data.py) and writes
# tests/reference/survival_fixtures.json:
#   * survfit: Kaplan-Meier by delivery_mode (conf.type = "log", the R default) at 4, 8, 12 weeks,
#     the full step table, and medians with their confidence limits;
#   * survdiff: log-rank test by delivery_mode, unstratified and stratified by site;
#   * coxph(ties = "efron"): delivery_mode + imd_quintile + age + isolation, without and with
#     strata(site);
#   * cox.zph(fit) with the defaults (transform = "km", terms = TRUE, global = TRUE).
# CI never runs this script; it only reads the JSON and CSV.
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (json_helpers.R).

suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
source(file.path(here, "json_helpers.R"))
data_dir <- file.path(here, "data")
out_file <- file.path(here, "survival_fixtures.json")

d <- read.csv(file.path(data_dir, "engagement.csv"),
              colClasses = c(participant_id = "character", duration = "numeric", event = "numeric",
                             delivery_mode = "character", imd_quintile = "numeric",
                             age = "numeric", isolation = "numeric", site = "character"))
d$delivery_mode <- factor(d$delivery_mode, levels = c("one_to_one", "group", "both"))
stopifnot(!anyNA(d$delivery_mode))
groups <- levels(d$delivery_mode)
times <- c(4, 8, 12)

# ------------------------------------------------------------------------------------ survfit
km <- survfit(Surv(duration, event) ~ delivery_mode, data = d)   # conf.type = "log", 0.95
sm <- summary(km, times = times)
strata_group <- function(s) sub("^delivery_mode=", "", as.character(s))
at_times <- list(group = strata_group(sm$strata), time = as.numeric(sm$time),
                 at_risk = as.numeric(sm$n.risk), survival = sm$surv,
                 ci_low = sm$lower, ci_high = sm$upper)
full <- summary(km, censored = TRUE)
km_table <- list(group = strata_group(full$strata), time = as.numeric(full$time),
                 at_risk = as.numeric(full$n.risk), events = as.numeric(full$n.event),
                 censored = as.numeric(full$n.censor), survival = full$surv,
                 ci_low = full$lower, ci_high = full$upper)
q <- quantile(km, probs = 0.5)
med <- list(group = strata_group(rownames(q$quantile)),
            median = as.numeric(q$quantile[, 1]),
            ci_low = as.numeric(q$lower[, 1]), ci_high = as.numeric(q$upper[, 1]))
km1 <- survfit(Surv(duration, event) ~ 1, data = d)
q1 <- quantile(km1, probs = c(0.25, 0.5))
overall <- list(survival = summary(km1, times = times)$surv,
                median = unname(q1$quantile[2]), median_ci_low = unname(q1$lower[2]),
                median_ci_high = unname(q1$upper[2]),
                q25 = unname(q1$quantile[1]))

# ------------------------------------------------------------------------------------ survdiff
lr_of <- function(sd) {
  list(statistic = sd$chisq, df = length(sd$n) - 1,
       p_value = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
       group = sub("^delivery_mode=", "", names(sd$n)),
       observed = as.numeric(if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs),
       expected = as.numeric(if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp))
}
lr <- lr_of(survdiff(Surv(duration, event) ~ delivery_mode, data = d))
lr_strat <- lr_of(survdiff(Surv(duration, event) ~ delivery_mode + strata(site), data = d))

# ------------------------------------------------------------------------------------ coxph
cox_of <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- confint(fit)
  z <- cox.zph(fit)   # transform = "km", terms = TRUE, global = TRUE
  tb <- z$table
  list(term = rownames(s), estimate = unname(s[, "coef"]), std_error = unname(s[, "se(coef)"]),
       statistic = unname(s[, "z"]), p_value = unname(s[, "Pr(>|z|)"]),
       ci_low = unname(ci[, 1]), ci_high = unname(ci[, 2]),
       loglik = fit$loglik[2], n = fit$n, nevent = fit$nevent,
       zph = list(term = rownames(tb)[-nrow(tb)], chisq = unname(tb[-nrow(tb), "chisq"]),
                  df = unname(tb[-nrow(tb), "df"]), p_value = unname(tb[-nrow(tb), "p"]),
                  global_chisq = unname(tb[nrow(tb), "chisq"]),
                  global_df = unname(tb[nrow(tb), "df"]),
                  global_p = unname(tb[nrow(tb), "p"])))
}
f_plain <- coxph(Surv(duration, event) ~ delivery_mode + imd_quintile + age + isolation,
                 data = d, ties = "efron")
f_strat <- coxph(Surv(duration, event) ~ delivery_mode + imd_quintile + age + isolation +
                   strata(site), data = d, ties = "efron")

si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/survival_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(survival = as.character(packageVersion("survival")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform,
    data = "tests/reference/data/engagement.csv",
    contrasts = "contr.treatment; delivery_mode levels one_to_one, group, both",
    notes = paste(
      "survfit conf.type = 'log' (R default), conf.int = 0.95.",
      "Cox terms use R names (delivery_modegroup, delivery_modeboth).",
      "cox.zph: transform = 'km', terms = TRUE, global = TRUE.")
  ),
  km = list(at_times = at_times, table = km_table, median = med, overall = overall),
  logrank = lr, logrank_stratified = lr_strat,
  cox = cox_of(f_plain), cox_strata = cox_of(f_strat)
)

write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
