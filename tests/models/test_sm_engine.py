"""``engine="statsmodels"`` against the fast engine on the non-singular lme4 reference cases.

Tolerances, and why:

* fixed effects 1e-3 relative — both maximise the same (RE)ML criterion, but statsmodels stops at its
  own gradient tolerance (measured ≤ 4e-5);
* standard errors 5e-3 relative — but statsmodels does **not** report σ²(X'V⁻¹X)⁻¹: it inverts the
  joint observed Hessian of (β, Ψ), whose β–Ψ cross block is non-zero for unbalanced data. That
  block vanishes on balanced sleepstudy and is small on mothers3000 (4.2e-3 on ``weeks``), but on
  mothers30 it moves one SE by 3.3 %. That case is allowed 5 % below, *explicitly*, and
  ``test_se_gap_is_statsmodels_cross_information`` shows that zeroing the cross block of
  statsmodels' own Hessian gives the fast engine's SEs to 1e-4, so the gap is the formula, not the
  optimum;
* variance components 1e-2 relative, correlations 1e-2 absolute — the likelihood is flat in them;
* log-likelihood 1e-2 absolute — statsmodels' ``llf`` is the same quantity as lme4's (REML: −REMLcrit/2,
  no constant offset), measured equal to 1e-8.

The reference cases statsmodels cannot fit (singular, near-singular, small ML) are not compared;
``test_reference_cases_statsmodels_does_not_fit`` pins what it does on each of them instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

import evalkit as ek
from evalkit.errors import ConvergenceWarning
from evalkit.models.mixed import MixedResult
from evalkit.models.sm_engine import StatsmodelsRaw
from tests.models.test_mixed_reference import CASES, FIXTURES, REF

AGREE = ["sleepstudy_slope_reml", "sleepstudy_slope_ml", "sleepstudy_intercept_reml",
         "mothers30_intercept_reml", "mothers3000_slope_reml", "sleepstudy_uncorr_reml"]
SE_RTOL = {"mothers30_intercept_reml": 0.05}   # observed-information SEs: see the module docstring


def load(name: str) -> tuple[pd.DataFrame, dict]:
    """The case's data and fit_mixed arguments, loaded as test_mixed_reference loads them."""
    file, kwargs = CASES[name]
    data = pd.read_csv(REF / "data" / file)
    if "delivery_mode" in data:
        data["delivery_mode"] = pd.Categorical(data["delivery_mode"], ["one_to_one", "group", "both"])
    return data, kwargs


@pytest.fixture(scope="module", params=AGREE)
def pair(request):
    """(name, fast fit, statsmodels fit); any evalkit warning here fails the test (pytest config)."""
    data, kwargs = load(request.param)
    return request.param, ek.fit_mixed(data, **kwargs), ek.fit_mixed(data, **kwargs, engine="statsmodels")


def test_statsmodels_converges_cleanly(pair):
    name, _, sm = pair
    assert sm.converged, name
    assert not sm.singular and sm.warnings == (), name
    assert isinstance(sm.raw, StatsmodelsRaw) and sm.raw.method == "lbfgs" and sm.raw.attempts == ()


def test_same_result_type_and_columns(pair):
    name, fast, sm = pair
    assert type(sm) is type(fast) is MixedResult
    assert list(sm.fixed.columns) == list(fast.fixed.columns) == [
        "term", "estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]
    assert sm.fixed["term"].tolist() == fast.fixed["term"].tolist()
    assert list(sm.variance_components.columns) == list(fast.variance_components.columns)
    assert sm.variance_components[["group", "term"]].equals(fast.variance_components[["group", "term"]])
    assert sm.theta.shape == fast.theta.shape
    assert sm.blups.index.equals(fast.blups.index) and list(sm.blups.columns) == list(fast.blups.columns)
    assert (sm.n_obs, sm.n_groups, sm.spec.engine) == (fast.n_obs, fast.n_groups, "statsmodels")
    assert sm.exclusions.equals(fast.exclusions)


def test_fixed_estimates_agree(pair):
    name, fast, sm = pair
    np.testing.assert_allclose(sm.fixed["estimate"], fast.fixed["estimate"], rtol=1e-3, atol=1e-8,
                               err_msg=name)


def test_standard_errors_agree(pair):
    name, fast, sm = pair
    rtol = SE_RTOL.get(name, 5e-3)
    np.testing.assert_allclose(sm.fixed["std_error"], fast.fixed["std_error"], rtol=rtol, err_msg=name)
    if name in SE_RTOL:  # the exception is still needed: statsmodels' SEs really do differ here
        gap = np.max(np.abs(sm.fixed["std_error"] / fast.fixed["std_error"] - 1))
        assert gap > 5e-3, f"{name}: SEs now agree to {gap:.1e}; remove it from SE_RTOL"


def test_se_gap_is_statsmodels_cross_information(pair):
    """σ²(X'V⁻¹X)⁻¹ is the inverse of the fixed-effects block of statsmodels' own Hessian alone."""
    name, fast, sm = pair
    res = sm.raw.results
    hess, _ = res.model.hessian(res.params_object)
    p = len(sm.beta)
    se_gls = np.sqrt(np.diag(np.linalg.inv(-hess[:p, :p])))
    np.testing.assert_allclose(se_gls, fast.fixed["std_error"], rtol=1e-4, err_msg=name)


def test_variance_components_agree(pair):
    name, fast, sm = pair
    vf, vs = fast.variance_components, sm.variance_components
    ok = vf["variance"].notna()
    np.testing.assert_allclose(vs.loc[ok, "variance"], vf.loc[ok, "variance"], rtol=1e-2, err_msg=name)
    np.testing.assert_allclose(vs["correlation"], vf["correlation"], atol=1e-2, err_msg=name)
    assert sm.sigma == pytest.approx(fast.sigma, rel=1e-2)


def test_loglik_agrees_with_fast_engine_and_lme4(pair):
    name, fast, sm = pair
    assert sm.loglik == pytest.approx(fast.loglik, abs=1e-2), name
    assert sm.loglik == pytest.approx(FIXTURES[name]["loglik"], abs=1e-2), name
    assert sm.deviance == pytest.approx(-2 * sm.loglik)
    assert sm.aic - fast.aic == pytest.approx(sm.deviance - fast.deviance, abs=1e-9)  # same k
    assert sm.bic - fast.bic == pytest.approx(sm.deviance - fast.deviance, abs=1e-9)


def test_theta_and_blups_agree(pair):
    name, fast, sm = pair
    np.testing.assert_allclose(sm.theta, fast.theta, rtol=1e-2, atol=1e-6, err_msg=name)
    b_fast = fast.blups.to_numpy()
    np.testing.assert_allclose(sm.blups.to_numpy(), b_fast, rtol=0,
                               atol=1e-2 * np.abs(b_fast).max(), err_msg=name)
    # the fallback used when statsmodels cannot invert a singular cov_re gives the same BLUPs
    np.testing.assert_allclose(sm.raw._blups_direct(), sm.raw.blups(), rtol=1e-6, atol=1e-8)


def test_z_tests_with_infinite_df(pair):
    name, _, sm = pair
    f = sm.fixed
    assert np.isinf(f["df"]).all()
    np.testing.assert_allclose(f["p_value"], 2 * stats.norm.sf(np.abs(f["statistic"])))
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(f["ci_high"] - f["ci_low"], 2 * z * f["std_error"])
    con = sm.contrast(np.eye(len(sm.beta))[:1])
    assert np.isinf(con["df"]).all() and con["estimate"].item() == pytest.approx(sm.beta[0])


# ---------------------------------------------------------------------- convergence failures
def _limit_iterations(monkeypatch, methods):
    """Make MixedLM.fit stop after one iteration for the given optimisers."""
    original = MixedLM.fit

    def fit(self, *args, **kwargs):
        if kwargs.get("method") in methods:
            kwargs["maxiter"] = 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", fit)


@pytest.mark.parametrize("correlated", [True, False])
def test_no_optimiser_converges_is_a_convergence_warning(monkeypatch, correlated):
    _limit_iterations(monkeypatch, {"lbfgs", "bfgs", "cg", "nm"})
    data, kwargs = load("sleepstudy_slope_reml")
    with pytest.warns(ConvergenceWarning, match=r"no optimiser converged.*engine='fast'"):
        fit = ek.fit_mixed(data, **kwargs, correlated=correlated, engine="statsmodels")
    assert not fit.converged
    attempts = " ".join(fit.raw.attempts)
    for method in ("lbfgs", "bfgs", "cg"):
        assert f"{method} did not converge (Gradient optimization failed" in attempts
    assert ("nm did not converge" if correlated else "nm skipped") in attempts
    assert any("no optimiser converged" in w for w in fit.warnings)


def test_next_optimiser_is_used_and_the_failure_reported(monkeypatch):
    _limit_iterations(monkeypatch, {"lbfgs"})
    data, kwargs = load("sleepstudy_slope_reml")
    with pytest.warns(ConvergenceWarning, match="lbfgs did not converge.*bfgs converged"):
        fit = ek.fit_mixed(data, **kwargs, engine="statsmodels")
    assert fit.converged and fit.raw.method == "bfgs"
    np.testing.assert_allclose(fit.fixed["estimate"], FIXTURES["sleepstudy_slope_reml"]["fixed"]["estimate"],
                               rtol=1e-3)


@pytest.mark.parametrize("name, converged", [("mothers30_slope_ml", False),
                                             ("singular_slope_reml", False),
                                             ("singular_uncorr_reml", False),
                                             ("mothers30_slope_reml", True)])
def test_reference_cases_statsmodels_does_not_fit(name, converged):
    """Singular / near-singular cases: statsmodels fails (or stops at its boundary check) and says
    so — surfaced as a ConvergenceWarning, and its log-likelihood is below lme4's optimum."""
    data, kwargs = load(name)
    with pytest.warns(ConvergenceWarning, match="statsmodels MixedLM"):
        fit = ek.fit_mixed(data, **kwargs, engine="statsmodels")
    assert fit.converged is converged
    assert fit.loglik < FIXTURES[name]["loglik"] + 1e-6


def test_statsmodels_can_report_convergence_short_of_the_optimum():
    """Known limitation, kept visible: on mothers30_isolation_reml statsmodels' L-BFGS reports
    convergence with no warning at a log-likelihood 0.40 below lme4's (whose fit is singular).
    Only a comparison with engine='fast' reveals it."""
    data, kwargs = load("mothers30_isolation_reml")
    sm = ek.fit_mixed(data, **kwargs, engine="statsmodels")
    assert sm.converged and sm.warnings == ()
    assert sm.loglik < FIXTURES["mothers30_isolation_reml"]["loglik"] - 0.3
