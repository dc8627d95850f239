# Frozen Kenward-Roger reference numbers for fits with several random-effects terms (pbkrtest,
# lmerTest ddf = "Kenward-Roger") for evalkit.models.kenward_roger_terms.
#
#   Rscript tests/reference/kenward_roger_terms_reference.R
#
# Reads tests/reference/data/{penicillin,pastes,multilevel_cohort}.csv (written by
# multilevel_reference.R and make_multilevel_data.py; none is modified here) and writes
# tests/reference/kr_terms_fixtures.json. CI never runs this script.
#
# Per case: lmerTest::lmer(REML = TRUE, lmerControl(optimizer = "bobyqa")) (as kenward_roger_reference.R);
# pbkrtest::vcovAdj (adjusted covariance Phi_A; attributes W = 2 * IE2^-1 and condi);
# summary(fit, ddf = "Kenward-Roger") (lmerTest: SE = sqrt(diag(Phi_A)), df = pbkrtest::Lb_ddf);
# pbkrtest::Lb_ddf for each unit row; F tests with pbkrtest::KRmodcomp(fit, L), checked equal to
# lmerTest::contest(joint = TRUE, ddf = "Kenward-Roger"). The variance parameters are named as
# pbkrtest orders them (.get_SigmaG: per term in lme4's order, the lower triangle of VarCorr column
# by column, then the residual variance), "group: var(a)" / "group: cov(a, b)" / "residual".
#
# Numbers are written with the shortest of 15/16/17 significant digits that reads back to the
# identical double (json_helpers.R).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else file.path("tests", "reference")
data_dir <- file.path(here, "data")
out_file <- file.path(here, "kr_terms_fixtures.json")
source(file.path(here, "json_helpers.R"))  # fmt_num(), exact()

read_back <- function(file, factors) {
  d <- read.csv(file.path(data_dir, file), stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
  d
}
pen <- read_back("penicillin.csv", c("plate", "sample"))
pas <- read_back("pastes.csv", c("batch", "cask"))
coh <- read_back("multilevel_cohort.csv", c("participant_id", "volunteer_id"))
coh$mode <- factor(coh$mode, levels = c("one_to_one", "group"))

rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))

# pbkrtest's gamma: per term (VarCorr order), lower triangle column by column, then sigma^2
gamma_of <- function(fit) {
  vc <- VarCorr(fit)
  nm <- character()
  val <- double()
  for (g in names(vc)) {
    v <- as.matrix(vc[[g]])
    cn <- colnames(v)
    for (j in seq_along(cn)) for (i in j:length(cn)) {
      nm <- c(nm, if (i == j) sprintf("%s: var(%s)", g, cn[i]) else
        sprintf("%s: cov(%s, %s)", g, cn[j], cn[i]))
      val <- c(val, v[i, j])
    }
  }
  list(names = I(c(nm, "residual")), values = I(c(val, sigma(fit)^2)))
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
         F_unscaled = st$FstatU, p_unscaled = st$p.valueU)
  })
}

fit_case <- function(name, description, data_file, formula, data, ftests) {
  fit <- lmerTest::lmer(formula, data = data, REML = TRUE,
                        control = lmerControl(optimizer = "bobyqa"))
  stopifnot(inherits(fit, "lmerModLmerTest"))
  t_adj <- system.time(Va <- pbkrtest::vcovAdj(fit))[["elapsed"]]
  V <- as.matrix(vcov(fit))
  PhiA <- as.matrix(Va)
  kr <- coef(summary(fit, ddf = "Kenward-Roger"))
  stopifnot(isTRUE(all.equal(unname(kr[, "Std. Error"]), sqrt(unname(diag(PhiA))),
                             tolerance = 1e-12)))
  p <- length(fixef(fit))
  lb <- vapply(seq_len(p), function(i) {
    L <- matrix(0, 1, p); L[i] <- 1
    pbkrtest::Lb_ddf(L, V, Va)
  }, double(1))
  ng <- ngrps(fit)
  message(sprintf("%-22s n=%4d q=%4d vcovAdj %.2fs", name, nobs(fit), nrow(getME(fit, "Zt")),
                  t_adj))
  list(
    name = name, description = description, data = data_file,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    REML = TRUE, nobs = nobs(fit), q = nrow(getME(fit, "Zt")),
    ngroups = as.list(setNames(as.integer(ng), names(ng))),
    fixed = list(term = I(rownames(kr)),
                 estimate = I(unname(kr[, "Estimate"])),
                 std_error = I(sqrt(unname(diag(V)))),
                 std_error_kr = I(unname(kr[, "Std. Error"])),
                 df_kr = I(unname(kr[, "df"])),
                 t_kr = I(unname(kr[, "t value"])),
                 p_kr = I(unname(kr[, "Pr(>|t|)"])),
                 Lb_ddf = I(lb)),
    vcov = rows_of(unname(V)),
    vcov_adjusted = rows_of(unname(PhiA)),
    W = rows_of(unname(as.matrix(attr(Va, "W")))),
    condition = attr(Va, "condi"),
    gamma = gamma_of(fit),
    theta = list(names = I(names(getME(fit, "theta"))), values = I(unname(getME(fit, "theta")))),
    sigma = sigma(fit),
    REMLcrit = REMLcrit(fit),
    singular = isSingular(fit),
    elapsed_sec_vcovAdj = round(t_adj, 3),
    ftests = ftests_of(fit, ftests)
  )
}

# fixed-effect order of the cohort: (Intercept), weeks, modegroup, weeks:modegroup
cases <- list(
  fit_case("penicillin_crossed", "lme4 Penicillin: plate and sample crossed", "penicillin.csv",
           diameter ~ 1 + (1 | plate) + (1 | sample), pen, list(intercept = matrix(1, 1, 1))),
  fit_case("pastes_nested", "lme4 Pastes: cask nested in batch", "pastes.csv",
           strength ~ 1 + (1 | batch/cask), pas, list(intercept = matrix(1, 1, 1))),
  fit_case("cohort_slope_volunteer",
           "480 mothers in 48 volunteers (multilevel_cohort.csv): mother intercept and slope, volunteer intercept",
           "multilevel_cohort.csv",
           wemwbs ~ weeks * mode + (1 + weeks | participant_id) + (1 | volunteer_id), coh,
           list(mode_and_interaction = rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)),
                change_12_group = matrix(c(0, 12, 0, 12), 1)))
)
names(cases) <- vapply(cases, `[[`, character(1), "name")

si <- sessionInfo()
out <- list(
  meta = list(
    generated_by = "tests/reference/kenward_roger_terms_reference.R",
    generated_on = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    R_version = R.version.string,
    packages = list(pbkrtest = as.character(packageVersion("pbkrtest")),
                    lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    Matrix = as.character(packageVersion("Matrix")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = si$platform, blas = si$BLAS, lapack = si$LAPACK,
    fit = "lmerTest::lmer(formula, data, REML = TRUE, control = lmerControl(optimizer = 'bobyqa'))",
    contrasts = "contr.treatment; mode levels one_to_one, group",
    notes = paste(
      "fixed.std_error is the unadjusted SE (sqrt(diag(vcov))), std_error_kr sqrt(diag(vcovAdj)),",
      "df_kr lmerTest's summary(ddf = 'Kenward-Roger') df, Lb_ddf pbkrtest::Lb_ddf(unit row, vcov,",
      "vcovAdj). W is attr(vcovAdj(fit), 'W') = 2 * IE2^-1 over gamma (names in gamma$names).",
      "ftests: pbkrtest::KRmodcomp(fit, L) (F = F_scaling * F_unscaled), checked equal to",
      "lmerTest::contest(joint = TRUE, ddf = 'Kenward-Roger'). Matrices are lists of rows.")
  ),
  cases = cases
)
write_json(exact(out), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE,
           json_verbatim = TRUE, null = "null", na = "null")
message("wrote ", out_file)
