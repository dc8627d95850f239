"""fit_mixed beyond the reference numbers: diagnostics, simplification, LRT, prediction, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import SingularFitWarning, SpecificationError, UnknownNameError

DATA = Path(__file__).parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def singular():
    return pd.read_csv(DATA / "singular.csv")


@pytest.fixture(scope="module")
def mothers():
    d = pd.read_csv(DATA / "mothers30.csv")
    d["delivery_mode"] = pd.Categorical(d["delivery_mode"], ["one_to_one", "group", "both"])
    return d


def test_result_is_immutable_and_tidy(sleep):
    fit = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days")
    assert list(fit.fixed.columns) == ["term", "estimate", "std_error", "df", "statistic", "p_value",
                                       "ci_low", "ci_high"]
    with pytest.raises(Exception):
        fit.sigma = 1.0
    assert fit.n_obs == 180 and fit.n_groups == 18 and fit.converged and not fit.singular
    assert fit.warnings == ()
    # CI uses the t quantile at the Satterthwaite df
    row = fit.fixed.iloc[1]
    q = stats.t.ppf(0.975, row.df)
    assert row.ci_low == pytest.approx(row.estimate - q * row.std_error)
    assert fit.aic == pytest.approx(fit.deviance + 2 * 6)
    assert "Reaction ~ Days + (1 + Days | Subject), REML" in repr(fit)


def test_same_input_gives_identical_tables(sleep):
    a = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days")
    b = ek.fit_mixed(sleep.sample(frac=1, random_state=3), outcome="Reaction", fixed="Days",
                     subject="Subject", random="Days")
    pd.testing.assert_frame_equal(a.fixed.round(6), b.fixed.round(6))
    assert a.fixed.to_csv() == ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject",
                                            random="Days").fixed.to_csv()


def test_singular_fit_warns_and_simplify_follows_the_ladder(singular):
    with pytest.warns(SingularFitWarning, match="singular fit: a random-effect variance is estimated as 0"):
        fit = ek.fit_mixed(singular, outcome="y", fixed="weeks", subject="id", random="weeks")
    assert fit.singular and "simplify=True" in fit.warnings[0]
    with pytest.warns(SingularFitWarning):
        simple = ek.fit_mixed(singular, outcome="y", fixed="weeks", subject="id", random="weeks",
                              simplify=True)
    assert not simple.singular
    assert simple.spec.random == "1"
    assert len(simple.simplification) == 2
    assert simple.simplification[0].startswith("singular fit of y ~ weeks + (1 + weeks | id), REML; "
                                                "refitted as y ~ weeks + (1 + weeks || id), REML")
    assert set(simple.simplification) <= set(simple.warnings)


def test_lrt_between_ml_fits(sleep):
    small = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", reml=False)
    big = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days",
                       reml=False)
    table = ek.lrt(small, big)
    stat = 2 * (big.loglik - small.loglik)
    assert table["statistic"].iloc[1] == pytest.approx(stat)
    assert table["df"].iloc[1] == 2
    assert table["p_value"].iloc[1] == pytest.approx(stats.chi2.sf(stat, 2))
    reml_fixed = ek.fit_mixed(sleep, outcome="Reaction", fixed="1", subject="Subject")
    reml_big = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject")
    with pytest.raises(SpecificationError, match="REML likelihoods of models with different fixed effects"):
        ek.lrt(reml_fixed, reml_big)


def test_predictions_and_residuals(sleep):
    fit = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days")
    cond = fit.predict()
    marg = fit.predict(include_random=False)
    np.testing.assert_allclose(marg, fit.design.X @ fit.beta)
    np.testing.assert_allclose(fit.residuals().to_numpy() + cond.to_numpy(), sleep["Reaction"])
    new = pd.DataFrame({"Subject": [308, 999], "Days": [3.0, 3.0]})
    pred = fit.predict(new)
    b = fit.blups.loc[308]
    assert pred.iloc[0] == pytest.approx(fit.beta[0] + b.iloc[0] + 3 * (fit.beta[1] + b.iloc[1]))
    assert pred.iloc[1] == pytest.approx(fit.beta[0] + 3 * fit.beta[1])  # unseen subject


def test_reference_level_and_centring_are_reused(mothers):
    fit = ek.fit_mixed(mothers, outcome="wemwbs", fixed="weeks * isolation", subject="participant_id",
                       centre="isolation")
    raw = ek.fit_mixed(mothers, outcome="wemwbs", fixed="weeks * isolation", subject="participant_id")
    est = fit.fixed.set_index("term")["estimate"]
    assert est["weeks:isolation"] == pytest.approx(raw.fixed.set_index("term")["estimate"]["weeks:isolation"])
    assert fit.design.centring == {"isolation": pytest.approx(mothers["isolation"].mean())}
    np.testing.assert_allclose(fit.predict(mothers, include_random=False),
                               raw.predict(mothers, include_random=False), rtol=1e-6)
    byref = ek.fit_mixed(mothers, outcome="wemwbs", fixed="weeks * delivery_mode",
                         subject="participant_id", reference={"delivery_mode": "group"})
    assert "delivery_mode[T.one_to_one]" in set(byref.fixed["term"])
    with pytest.raises(SpecificationError, match="reference level 'phone' is not a level of 'delivery_mode'"):
        ek.fit_mixed(mothers, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id",
                     reference={"delivery_mode": "phone"})


def test_excluded_rows_are_counted_not_lost(mothers):
    d = mothers.copy()
    d.loc[d.index[:5], "wemwbs"] = np.nan
    d.loc[d.index[5:7], "isolation"] = np.nan
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * isolation", subject="participant_id")
    ex = fit.exclusions.set_index("reason")["rows"]
    assert ex["missing outcome"] == 5 and ex["missing predictor"] == 2
    assert fit.n_obs == len(d) - 7


def test_icc_and_r2(sleep):
    fit = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject")
    vc = fit.variance_components.set_index("group")["variance"]
    assert fit.icc() == pytest.approx(vc["Subject"] / (vc["Subject"] + vc["residual"]))
    r2 = fit.r2()
    var_f = np.var(fit.design.X @ fit.beta, ddof=1)   # n - 1, as insight/performance and MuMIn
    total = var_f + vc["Subject"] + vc["residual"]
    assert r2["marginal"] == pytest.approx(var_f / total)
    assert r2["conditional"] == pytest.approx((var_f + vc["Subject"]) / total)


def test_contrast_by_term_names(mothers):
    fit = ek.fit_mixed(mothers, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id")
    out = fit.contrast({"group slope": {"weeks": 1, "weeks:delivery_mode[T.group]": 1}})
    assert out["term"].tolist() == ["group slope"] and np.isfinite(out["df"]).all()
    with pytest.raises(UnknownNameError, match="term 'week' is not in the model"):
        fit.contrast({"x": {"week": 1}})


def test_clear_errors(sleep):
    with pytest.raises(SpecificationError, match=r"column\(s\) \['Reactio'\] not in the data"):
        ek.fit_mixed(sleep, outcome="Reactio", fixed="Days", subject="Subject")
    with pytest.raises(UnknownNameError, match="engine 'lme4' is not available; engines: fast, statsmodels"):
        ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", engine="lme4")
    with pytest.raises(SpecificationError, match="needs at least 2 subjects"):
        ek.fit_mixed(sleep.loc[sleep.Subject == 308], outcome="Reaction", fixed="Days", subject="Subject")
    with pytest.raises(SpecificationError, match="cannot build the model from fixed='Dayz'"):
        ek.fit_mixed(sleep, outcome="Reaction", fixed="Dayz", subject="Subject")


def test_fits_the_simulated_cohort_end_to_end():
    sim = ek.simulate_cohort(n=400, seed=9)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    report = ek.validate({"participants": sim.participants, "responses": sim.responses}, dictionary=dd)
    frame = ek.build_cohort(report, dictionary=dd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ek.errors.ProratedScoreWarning)
        scores = ek.score(frame.loc[frame.observed], "wemwbs")
    frame.loc[scores.index, "wemwbs"] = scores["wemwbs"]
    starters = frame.loc[frame["started"].fillna(False).astype(bool)]
    fit = ek.fit_mixed(starters, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id",
                       random="weeks", simplify=True)
    slope = fit.fixed.set_index("term").loc["weeks"]
    # truth: one-to-one gains ~5 WEMWBS points over 12 weeks (about 0.4 per week)
    assert 0.1 < slope["estimate"] < 0.8, fit.summary()
    assert (fit.exclusions["reason"] == "missing outcome").any()


# ============================================================================ the engine (issue 14)
from evalkit.models import design as _design  # noqa: E402
from evalkit.models import reml as _reml  # noqa: E402
from evalkit.models import satterthwaite as _sat  # noqa: E402


def _standardised(data, outcome, fixed, subject, random):
    d = _design.build_design(data, outcome=outcome, fixed=fixed, subject=subject, random=random)
    Xs, Zs, ys, _ = _reml.standardise(d.X, d.Z, d.y)
    return _reml.sufficient_stats(Xs, Zs, ys, d.group)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("random,correlated", [("1", True), ("Days", True), ("Days", False)])
def test_gradient_and_hessian_are_exact(sleep, reml, random, correlated):
    stats = _standardised(sleep, "Reaction", "Days", "Subject", random)
    pos, _ = _reml.theta_layout(stats.q, correlated)
    theta = np.array([0.9, 0.2, 0.5])[: len(pos)] if correlated else np.array([0.9, 0.5])[: len(pos)]
    ev = _reml.evaluate(stats, theta, pos, reml, order=2)
    h = 1e-6
    grad = [(_reml.evaluate(stats, theta + h * e, pos, reml).value
             - _reml.evaluate(stats, theta - h * e, pos, reml).value) / (2 * h) for e in np.eye(len(pos))]
    hess = [(_reml.evaluate(stats, theta + h * e, pos, reml, 1).gradient
             - _reml.evaluate(stats, theta - h * e, pos, reml, 1).gradient) / (2 * h)
            for e in np.eye(len(pos))]
    np.testing.assert_allclose(ev.gradient, grad, atol=1e-6 * np.abs(ev.hessian).max())
    np.testing.assert_allclose(ev.hessian, hess, atol=1e-6 * np.abs(ev.hessian).max())


def test_exact_satterthwaite_pieces_equal_lmertests_numerical_recipe(sleep):
    """The exact Hessian in (θ, σ) and Jacobian of Var(β) equal numDeriv's Richardson values."""
    fit = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days")
    stats, pos = fit.raw.stats, fit.raw.pos
    varpar = np.r_[fit.theta, fit.sigma]
    ev = _reml.evaluate(stats, fit.theta, pos, True, order=2)
    H = _sat.varpar_hessian(ev, fit.sigma)
    Hn = _sat.richardson_hessian(lambda v: _reml.deviance_varpar(stats, v, pos, True), varpar)
    np.testing.assert_allclose(H, Hn, rtol=1e-5, atol=1e-8 * np.abs(H).max())
    J = _sat.vcov_jacobian_exact(ev, fit.sigma)
    np.testing.assert_allclose(J, _sat.vcov_jacobian(stats, pos, varpar), rtol=1e-6,
                               atol=1e-8 * np.abs(J).max())
    # and the df from the numerical recipe equal the fit's
    A, ok = _sat.varpar_covariance(stats, pos, varpar, True)
    df = _sat.satterthwaite_df(np.eye(2), fit.vcov_beta, _sat.vcov_jacobian(stats, pos, varpar), A)
    assert ok
    np.testing.assert_allclose(fit.fixed["df"], df, rtol=1e-6)


def test_standardising_is_undone_exactly(sleep):
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"] * 7.0, (sleep["Days"] > 4) * 1.0])
    Z = X[:, :2]
    y = sleep["Reaction"].to_numpy() * 1000.0
    Xs, Zs, ys, sc = _reml.standardise(X, Z, y)
    np.testing.assert_allclose(Xs @ np.linalg.inv(sc.T), X, atol=1e-9)
    np.testing.assert_allclose(Zs * sc.z_scale, Z)
    np.testing.assert_allclose(ys * sc.y_scale + sc.y_centre, y)
    beta_s = np.linalg.lstsq(Xs, ys, rcond=None)[0]
    np.testing.assert_allclose(sc.beta_from(beta_s), np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    assert np.allclose(Xs.mean(axis=0)[1:], 0) and np.allclose(Xs.std(axis=0)[1:], 1)


def test_few_evaluations_at_any_scale():
    """The optimiser needs a handful of evaluations (the issue counted 4,457 at 3,000 mothers)."""
    d = pd.read_csv(DATA / "mothers3000.csv")
    for k in (1.0, 1000.0):
        e = d.assign(wemwbs=d["wemwbs"] * k, weeks=d["weeks"] * 7)
        fit = ek.fit_mixed(e, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id",
                           random="weeks")
        assert fit.converged and fit.raw.optimizer["evaluations"] <= 12, fit.raw.optimizer


def test_a_fit_stopped_short_is_flagged(sleep, monkeypatch):
    """Convergence is judged at the estimates (lme4's checkConv), not by how the optimiser ended."""
    import functools

    monkeypatch.setattr(_reml, "fit_theta", functools.partial(_reml.fit_theta, maxiter=0))
    with pytest.warns(ek.errors.ConvergenceWarning, match=r"the fit did not converge \(failed to "
                      r"converge with max\|grad\| = .* \(tol = 0.002\)\)"):
        fit = ek.fit_mixed(sleep, outcome="Reaction", fixed="Days", subject="Subject", random="Days")
    assert not fit.converged and fit.raw.optimizer["check"]["code"] == -1
    assert "did not converge" in fit.warnings[0]


def test_an_unidentifiable_model_is_flagged(sleep):
    """A random slope on a column that never varies: the criterion is flat in its θ."""
    d = sleep.assign(zero=0.0)
    with pytest.warns(ek.errors.ConvergenceWarning, match="Hessian is numerically singular"):
        fit = ek.fit_mixed(d, outcome="Reaction", fixed="Days", subject="Subject",
                           random="0 + Days + zero", correlated=False)
    assert not fit.converged


def test_convergence_check_as_lme4():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 4)
    X = np.ones((120, 1))
    s = _reml.sufficient_stats(X, X, rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 120), g)
    theta, _, info = _reml.optimise_theta(s, [(0, 0)], reml=True)
    assert info["converged"] and info["check"]["max_grad"] < 1e-8
    off = _reml.check_convergence(_reml.evaluate(s, theta * 1.05, [(0, 0)], True, 2), [(0, 0)])
    assert not off["converged"] and off["code"] == -1
    # on the boundary the gradient is not checked (lme4 returns early for singular fits) ...
    at0 = _reml.check_convergence(_reml.evaluate(s, np.array([0.0]), [(0, 0)], True, 2), [(0, 0)])
    assert at0["singular"]
    # ... but a boundary the criterion decreases away from is not an optimum
    assert at0["converged"] == (np.diag(_reml.evaluate(s, np.array([0.0]), [(0, 0)], True, 2).hessian)[0] >= -1e-6)


FORMULAS = ["weeks * delivery_mode", "weeks * isolation", "0 + weeks", "weeks", "1",
            "weeks:delivery_mode + isolation", "delivery_mode * wave", "np.log(weeks + 1) * delivery_mode",
            "center(isolation) + weeks"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_model_matrices_equal_formulaics(mothers, formula):
    """The cached-spec numpy path fills exactly formulaic's matrix (names, order, values, rows)."""
    from formulaic import model_matrix

    d = mothers.copy()
    d.loc[d.index[3], "isolation"] = np.nan
    d.loc[d.index[5], "delivery_mode"] = np.nan
    _design.clear_cache()
    for _ in range(2):    # first through formulaic, then from the kept spec
        ours = _design._model_matrix(formula, d, full_rank=True)
        ref = model_matrix(formula, d, na_action="drop", ensure_full_rank=True)
        assert ours.columns == list(ref.columns)
        np.testing.assert_array_equal(ours.values, np.asarray(ref, float))
        np.testing.assert_array_equal(ours.complete, d.index.isin(ref.index))


def test_designs_are_identical_with_and_without_the_kept_spec(mothers):
    kw = dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id", random="weeks",
              reference={"delivery_mode": "group"})
    _design.clear_cache()
    cold = _design.build_design(mothers, **kw)
    warm = _design.build_design(mothers, **kw)
    np.testing.assert_array_equal(cold.X, warm.X)
    np.testing.assert_array_equal(cold.Z, warm.Z)
    assert cold.fixed_names == warm.fixed_names and "delivery_mode[T.one_to_one]" in warm.fixed_names
    # a different reference level is a different spec, not the kept one
    other = _design.build_design(mothers, **{**kw, "reference": {"delivery_mode": "both"}})
    assert "delivery_mode[T.group]" in other.fixed_names
