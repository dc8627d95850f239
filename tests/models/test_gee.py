"""fit_gee: the same numbers as statsmodels' GEE called directly, on sleepstudy and mothers30."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.cov_struct import Autoregressive, Exchangeable
from statsmodels.genmod.generalized_estimating_equations import GEE

import evalkit as ek
from evalkit.errors import ConvergenceWarning, SpecificationError, UnknownNameError
from evalkit.models.gee import GEEResult
from tests.models.test_mixed_reference import REF

COLUMNS = ["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "sleepstudy.csv")


def _direct(data, cov_struct, *, time=None):
    X = np.column_stack([np.ones(len(data)), data["Days"].to_numpy(float)])
    return GEE(data["Reaction"].to_numpy(float), X, groups=data["Subject"].to_numpy(), time=time,
               family=families.Gaussian(), cov_struct=cov_struct).fit()


def test_exchangeable_matches_statsmodels_directly(sleep):
    fit = ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject")
    direct = _direct(sleep, Exchangeable())
    assert isinstance(fit, GEEResult) and fit.converged and fit.warnings == ()
    assert list(fit.fixed.columns) == COLUMNS and fit.fixed["term"].tolist() == ["Intercept", "Days"]
    np.testing.assert_allclose(fit.fixed["estimate"], direct.params, rtol=1e-10)
    np.testing.assert_allclose(fit.fixed["std_error"], direct.bse, rtol=1e-10)   # robust by default
    np.testing.assert_allclose(fit.fixed["p_value"], direct.pvalues, rtol=1e-8)
    assert fit.working_correlation == pytest.approx(direct.model.cov_struct.dep_params, rel=1e-10)
    assert fit.scale == pytest.approx(direct.scale, rel=1e-10)
    assert (fit.n_obs, fit.n_groups) == (180, 18)


def test_robust_standard_errors_and_z_tests(sleep):
    fit = ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject")
    se = fit.fixed["std_error"].to_numpy()
    assert (se > 0).all() and np.isinf(fit.fixed["df"]).all()
    np.testing.assert_allclose(se, np.sqrt(np.diag(fit.raw.cov_robust)))
    assert not np.allclose(se, np.sqrt(np.diag(fit.raw.cov_naive)))   # sandwich, not model-based
    assert fit.vcov.loc["Days", "Days"] == pytest.approx(se[1] ** 2)


def test_exchangeable_equals_ols_on_balanced_data(sleep):
    """Every subject has Days 0..9 and no row is missing, so X has an intercept and equal column
    sums in every subject block: a compound-symmetric V maps col(X) into itself, and then GLS = OLS
    (Zyskind 1967) at every value of the working correlation."""
    assert (sleep.groupby("Subject")["Days"].apply(sorted).map(tuple).nunique() == 1)
    fit = ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject")
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    ols = np.linalg.lstsq(X, sleep["Reaction"], rcond=None)[0]
    np.testing.assert_allclose(fit.beta, ols, rtol=1e-10)
    assert fit.working_correlation > 0.3           # the equality is not from a zero correlation


def test_ar1_runs_and_matches_statsmodels(sleep):
    shuffled = sleep.sample(frac=1.0, random_state=1)     # order within subject comes from `time`
    fit = ek.fit_gee(shuffled, outcome="Reaction", fixed="Days", subject="Subject", time="Days",
                     correlation="ar1")
    assert -1 < fit.working_correlation < 1 and fit.converged
    ordered = sleep.sort_values(["Subject", "Days"])
    direct = _direct(ordered, Autoregressive(grid=True), time=ordered["Days"].to_numpy(float))
    np.testing.assert_allclose(fit.beta, direct.params, rtol=1e-8)
    np.testing.assert_allclose(fit.fixed["std_error"], direct.bse, rtol=1e-8)
    assert fit.working_correlation == pytest.approx(direct.model.cov_struct.dep_params, rel=1e-8)


def test_exclusions_counted(sleep):
    data = sleep.copy()
    data.loc[[0, 1, 15], "Reaction"] = np.nan          # subject 308 twice, 309 once
    data.loc[[30, 31], "Days"] = np.nan                 # predictor and (for ar1) time
    fit = ek.fit_gee(data, outcome="Reaction", fixed="Days", subject="Subject")
    ex = fit.exclusions.set_index("reason")
    assert ex.loc["missing outcome", "rows"] == 3 and ex.loc["missing outcome", "subjects"] == 2
    assert ex.loc["missing predictor", "rows"] == 2
    assert fit.n_obs == 175


def test_missing_time_is_an_exclusion_for_ar1(sleep):
    data = sleep.assign(wave=sleep["Days"].astype(float))
    data.loc[[5, 6], "wave"] = np.nan
    fit = ek.fit_gee(data, outcome="Reaction", fixed="Days", subject="Subject", time="wave",
                     correlation="ar1")
    ex = fit.exclusions.set_index("reason")
    assert ex.loc["missing time", "rows"] == 2 and ex.loc["missing time", "subjects"] == 1
    assert fit.n_obs == 178


def test_reference_levels_as_in_fit_mixed():
    data = pd.read_csv(REF / "data" / "mothers30.csv")
    args = dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id",
                reference={"delivery_mode": "one_to_one"})
    gee = ek.fit_gee(data, **args)
    mixed = ek.fit_mixed(data, **args)
    assert gee.fixed["term"].tolist() == mixed.fixed["term"].tolist()
    assert "delivery_mode[T.group]" in gee.fixed["term"].tolist()
    assert gee.exclusions.equals(mixed.exclusions) and gee.n_obs == mixed.n_obs


def test_bad_names_list_the_options(sleep):
    with pytest.raises(UnknownNameError,
                       match=r"correlation 'ar2' is not available; correlations: exchangeable, ar1, "
                             r"independence"):
        ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject", correlation="ar2")
    with pytest.raises(UnknownNameError, match=r"families: gaussian, binomial, poisson"):
        ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject", family="gamma")
    with pytest.raises(SpecificationError, match=r"correlation='ar1' needs time="):
        ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject", correlation="ar1")
    with pytest.raises(SpecificationError, match=r"time column 'week' is not in the data"):
        ek.fit_gee(sleep, outcome="Reaction", fixed="Days", subject="Subject", time="week",
                   correlation="ar1")


def test_duplicate_times_rejected_for_ar1(sleep):
    data = pd.concat([sleep, sleep.iloc[[0]]], ignore_index=True)
    with pytest.raises(SpecificationError, match=r"1 subject\(s\) have two rows at the same 'Days'"):
        ek.fit_gee(data, outcome="Reaction", fixed="Days", subject="Subject", time="Days",
                   correlation="ar1")


def test_non_convergence_is_a_convergence_warning(monkeypatch):
    # GEE starts from OLS, which already solves balanced sleepstudy: use unbalanced mothers30 and
    # stop after the second step (the first uses the initial zero working correlation)
    data = pd.read_csv(REF / "data" / "mothers30.csv")
    original = GEE.fit
    monkeypatch.setattr(GEE, "fit", lambda self, *a, **k: original(self, *a, **{**k, "maxiter": 2}))
    with pytest.warns(ConvergenceWarning, match=r"GEE did not converge \(Iteration limit reached"):
        fit = ek.fit_gee(data, outcome="wemwbs", fixed="weeks", subject="participant_id")
    assert not fit.converged and "GEE did not converge" in fit.warnings[0]
