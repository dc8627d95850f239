# Frozen lme4 + lmerTest numbers for evalkit's multi-term engine (issue 15: nested and crossed
# random effects).
#
#   python tests/reference/make_multilevel_data.py && Rscript tests/reference/multilevel_reference.R
#
# Exports lme4's Dyestuff, Penicillin, Pastes and InstEval to tests/reference/data/ (InstEval as a
# gzip-compressed CSV), reads them back as the Python side will, fits every case with
# lmerTest::lmer (default lmerControl()) and writes tests/reference/multilevel_fixtures.json with
# the logLik, fixed effects (Satterthwaite df), variance components, theta, and timings of
# lmerTest::lmer and of plain lme4::lmer. CI never runs R; it reads only the CSVs and the JSON.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
out_file <- file.path(here, "multilevel_fixtures.json")
source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

# ---------------------------------------------------------------------------------------------
# data: export, then read back exactly what Python reads (all grouping columns as character)
# ---------------------------------------------------------------------------------------------
export <- function(df, file) {
  path <- file.path(data_dir, file)
  con <- if (grepl("\\.gz$", file)) gzfile(path, "w") else file(path, "w")
  write.csv(df, con, row.names = FALSE, quote = FALSE)
  close(con)
  path
}
read_back <- function(path, factors) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
  d
}
dye <- read_back(export(lme4::Dyestuff, "dyestuff.csv"), "Batch")
pen <- read_back(export(lme4::Penicillin, "penicillin.csv"), c("plate", "sample"))
pas <- read_back(export(lme4::Pastes[, c("strength", "batch", "cask")], "pastes.csv"),
                 c("batch", "cask"))
ie <- lme4::InstEval[, c("s", "d", "dept", "service", "y")]
ie$service <- as.integer(as.character(ie$service))   # 0/1 as in lme4 (factor levels "0", "1")
ie <- read_back(export(ie, "insteval.csv.gz"), c("s", "d", "dept"))
ie$service <- factor(ie$service, levels = c(0, 1))
ml <- read_back(file.path(data_dir, "multilevel_cohort.csv"),
                c("participant_id", "volunteer_id", "volunteer", "site"))
ml$mode <- factor(ml$mode, levels = c("one_to_one", "group"))

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))

varcorr_of <- function(fit) {
  vc <- VarCorr(fit)
  lapply(names(vc), function(g) {
    v <- vc[[g]]
    sds <- attr(v, "stddev")
    cor <- attr(v, "correlation")
    list(grouping_factor = g, terms = I(names(sds)),
         variances = I(unname(diag(as.matrix(v)))), sds = I(unname(sds)),
         correlation = if (length(sds) > 1) rows_of(unname(as.matrix(cor))) else NULL)
  })
}

ranef_head <- function(fit, n = 5) {
  re <- ranef(fit)
  lapply(names(re), function(g) {
    r <- re[[g]]
    k <- min(n, nrow(r))
    list(grouping_factor = g, terms = I(colnames(r)), levels = I(rownames(r)[seq_len(k)]),
         values = rows_of(unname(as.matrix(r[seq_len(k), , drop = FALSE]))))
  })
}

fit_case <- function(name, data_file, formula, data, REML, contrasts = list()) {
  t0 <- system.time(fit <- suppressMessages(suppressWarnings(
    lmerTest::lmer(formula, data = data, REML = REML))))
  t1 <- system.time(suppressMessages(suppressWarnings(
    lme4::lmer(formula, data = data, REML = REML))))
  cf <- coef(summary(fit, ddf = "Satterthwaite"))
  ll <- logLik(fit)
  cons <- lapply(names(contrasts), function(nm) {
    L <- matrix(contrasts[[nm]], nrow = 1)
    ct <- lmerTest::contest(fit, L, joint = FALSE, ddf = "Satterthwaite")
    list(name = nm, L = I(contrasts[[nm]]), estimate = ct[["Estimate"]],
         std_error = ct[["Std. Error"]], df = ct[["df"]])
  })
  message(sprintf("%-28s lmerTest %6.2fs  lme4 %6.2fs  logLik %.6f singular=%s", name,
                  t0[["elapsed"]], t1[["elapsed"]], as.numeric(ll), isSingular(fit)))
  list(
    name = name, data = data_file,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    REML = REML, nobs = nobs(fit),
    ngroups = as.list(setNames(as.integer(ngrps(fit)), names(ngrps(fit)))),
    fixed = list(term = I(rownames(cf)), estimate = I(unname(cf[, "Estimate"])),
                 std_error = I(unname(cf[, "Std. Error"])), df = I(unname(cf[, "df"]))),
    theta = list(names = I(names(getME(fit, "theta"))), values = I(unname(getME(fit, "theta")))),
    sigma = sigma(fit),
    varcorr = varcorr_of(fit),
    residual_variance = sigma(fit)^2,
    loglik = as.numeric(ll),
    objective = if (REML) REMLcrit(fit) else deviance(fit),
    singular = isSingular(fit),
    ranef = ranef_head(fit),
    contrasts = cons,
    elapsed_sec = round(t0[["elapsed"]], 3),
    elapsed_sec_lme4_only = round(t1[["elapsed"]], 3)
  )
}

# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------
cases <- list(
  fit_case("dyestuff_reml", "dyestuff.csv", Yield ~ 1 + (1 | Batch), dye, TRUE),
  fit_case("dyestuff_ml", "dyestuff.csv", Yield ~ 1 + (1 | Batch), dye, FALSE),
  fit_case("penicillin_crossed_reml", "penicillin.csv", diameter ~ 1 + (1 | plate) + (1 | sample),
           pen, TRUE),
  fit_case("pastes_nested_reml", "pastes.csv", strength ~ 1 + (1 | batch/cask), pas, TRUE),
  fit_case("pastes_nested_ml", "pastes.csv", strength ~ 1 + (1 | batch/cask), pas, FALSE),
  fit_case("sleepstudy_terms_reml", "sleepstudy.csv", Reaction ~ Days + (Days | Subject),
           transform(read.csv(file.path(data_dir, "sleepstudy.csv")), Subject = factor(Subject)), TRUE),
  fit_case("sleepstudy_uncorr_ml", "sleepstudy.csv", Reaction ~ Days + (Days || Subject),
           transform(read.csv(file.path(data_dir, "sleepstudy.csv")), Subject = factor(Subject)), FALSE),
  fit_case("cohort_slopes_reml", "multilevel_cohort.csv",
           wemwbs ~ weeks * mode + (1 + weeks | participant_id) + (1 + weeks || volunteer_id) + (1 | site),
           ml, TRUE, list(weeks_slope_group = c(0, 1, 0, 1))),
  fit_case("cohort_nested_ml", "multilevel_cohort.csv",
           wemwbs ~ weeks * mode + (1 + weeks | participant_id) + (1 | site/volunteer),
           ml, FALSE, list(weeks_slope_group = c(0, 1, 0, 1))),
  fit_case("insteval_reml", "insteval.csv.gz",
           y ~ service + (1 | s) + (1 | d) + (1 | dept:service), ie, TRUE)
)
names(cases) <- vapply(cases, `[[`, "", "name")

out <- list(
  meta = list(generated_by = "tests/reference/multilevel_reference.R",
              generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
              R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              lmerTest = as.character(packageVersion("lmerTest"))),
  cases = cases
)
write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
