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
    assert "Reaction ~ Days + (1 + Days | Subject), REML" in fit.summary()


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
    var_f = np.var(fit.design.X @ fit.beta)
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
