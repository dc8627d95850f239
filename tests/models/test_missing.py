"""Multiple imputation (wide FCS, pmm/norm), pooling with Rubin's rules and the delta tipping point.

The acceptance test deletes end scores from a simulated cohort with a probability that rises
steeply as the mother's improvement by mid-support is worse (missing at random given her observed
scores), and checks that complete-case change is biased while MI recovers the full-data estimate.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import evalkit as ek
from evalkit.errors import (DataQualityWarning, ProratedScoreWarning, SafeguardingWarning,
                            SpecificationError, UnknownNameError)
from evalkit.models.missing import (TIPPING_COLUMNS, ImputedData, PooledResult, TippingPoint,
                                    fit_imputed, multiple_imputation, tipping_point)
from evalkit.models.mixed import fit_mixed
from evalkit.models.moderation import change_from_baseline
from evalkit.models.pooling import POOL_COLUMNS, pool

matplotlib.use("Agg")

WAVES = ["baseline", "mid", "end"]
WAVE_TYPE = pd.CategoricalDtype(WAVES, ordered=True)


# ====================================================================== a small hand-made cohort
def _small(n: int = 120, seed: int = 5) -> pd.DataFrame:
    """Three waves, outcome missing at mid and end, predictors of every kind with gaps."""
    rng = np.random.default_rng(seed)
    level = rng.normal(40, 7, n)
    slope = rng.normal(0.35, 0.2, n)
    weeks = np.array([0.0, 6.0, 12.0])
    y = level[:, None] + slope[:, None] * weeks + rng.normal(0, 3, (n, 3))
    y = np.round(y)
    y[:, 1][rng.random(n) < 0.25] = np.nan
    y[:, 2][rng.random(n) < 0.35] = np.nan
    epds = np.round(30 - 0.4 * y + rng.normal(0, 2, (n, 3)))
    epds[np.isnan(y)] = np.nan
    iso = np.round(rng.normal(5, 2, n), 1)
    iso[:4] = np.nan
    mode = pd.Categorical(rng.choice(["one_to_one", "group", "both"], n),
                          categories=["one_to_one", "group", "both"])
    mode[4:10] = np.nan
    first = pd.array(rng.random(n) < 0.5, dtype="boolean")
    first[10:12] = pd.NA
    d = pd.DataFrame({
        "participant_id": np.repeat([f"P{i:03d}" for i in range(n)], 3),
        "wave": pd.Categorical(np.tile(WAVES, n), dtype=WAVE_TYPE),
        "wave_week": np.tile(weeks, n),
        "weeks": np.tile(weeks, n) + np.tile([0.0, 0.3, 0.5], n),
        "wemwbs": y.ravel(),
        "epds": epds.ravel(),
        "isolation": np.repeat(iso, 3),
        "delivery_mode": pd.Categorical(np.repeat(np.asarray(mode, dtype=object), 3),
                                        categories=["one_to_one", "group", "both"]),
        "first_baby": pd.array(np.repeat(np.asarray(first, dtype=object), 3), dtype="boolean"),
    })
    return d


PRED = ["epds", "isolation", "delivery_mode", "first_baby"]


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return _small()


@pytest.fixture(scope="module")
def imp(small) -> ImputedData:
    return multiple_imputation(small, outcome="wemwbs", covariates=PRED, m=5, iterations=5, seed=11,
                               progress=False)


def _mean_change(d: pd.DataFrame) -> pd.DataFrame:
    """Mean end − baseline change with its plain standard error (a linear estimator)."""
    w = d.pivot(index="participant_id", columns="wave", values="wemwbs")
    diff = (w["end"] - w["baseline"]).to_numpy()
    return pd.DataFrame({"term": ["change"], "estimate": [diff.mean()],
                         "std_error": [diff.std(ddof=1) / np.sqrt(len(diff))],
                         "df": [len(diff) - 1.0]})


# ====================================================================== multiple_imputation
def test_same_seed_identical_different_seed_differs(small, imp):
    again = multiple_imputation(small, outcome="wemwbs", covariates=PRED, m=5, iterations=5, seed=11,
                                progress=False)
    for a, b in zip(imp.datasets, again.datasets):
        pd.testing.assert_frame_equal(a, b)
    other = multiple_imputation(small, outcome="wemwbs", covariates=PRED, m=5, iterations=5, seed=12,
                                progress=False)
    flag = imp.datasets[0]["wemwbs_imputed"].to_numpy()
    assert not np.array_equal(imp.datasets[0]["wemwbs"].to_numpy()[flag],
                              other.datasets[0]["wemwbs"].to_numpy()[flag])
    # the imputations differ between data sets too (proper imputation, not m copies)
    assert not np.array_equal(imp.datasets[0]["wemwbs"].to_numpy()[flag],
                              imp.datasets[1]["wemwbs"].to_numpy()[flag])


def test_first_data_sets_do_not_depend_on_m_nor_on_row_order(small, imp):
    fewer = multiple_imputation(small, outcome="wemwbs", covariates=PRED, m=2, iterations=5, seed=11,
                                progress=True)
    for a, b in zip(imp.datasets[:2], fewer.datasets):
        pd.testing.assert_frame_equal(a, b)
    shuffled = small.sample(frac=1.0, random_state=3)
    again = multiple_imputation(shuffled, outcome="wemwbs", covariates=PRED, m=2, iterations=5,
                                seed=11, progress=False)
    assert again.datasets[0].index.equals(shuffled.index)      # input order kept
    pd.testing.assert_frame_equal(again.datasets[1].sort_index(), imp.datasets[1])


def test_observed_values_unchanged_and_pmm_draws_observed_values(small, imp):
    observed = small["wemwbs"].notna().to_numpy()
    for d in imp.datasets:
        np.testing.assert_array_equal(d["wemwbs"].to_numpy()[observed],
                                      small["wemwbs"].to_numpy()[observed])
        assert d["wemwbs"].notna().all()
        np.testing.assert_array_equal(d["wemwbs_imputed"].to_numpy(), ~observed)
        for w in ("mid", "end"):
            at = (small["wave"] == w).to_numpy()
            pool_w = set(small.loc[at & observed, "wemwbs"])
            drawn = set(d.loc[at & ~observed, "wemwbs"])
            assert drawn <= pool_w, f"pmm imputed values not observed at {w}: {drawn - pool_w}"
        # nothing else in the frame is touched
        pd.testing.assert_frame_equal(d.drop(columns=["wemwbs", "wemwbs_imputed"]),
                                      small.drop(columns="wemwbs"))


def test_norm_method_draws_from_the_regression(small):
    res = multiple_imputation(small, outcome="wemwbs", covariates=PRED, m=3, iterations=5, seed=2,
                              method="norm", progress=False)
    observed = small["wemwbs"].notna().to_numpy()
    d = res.datasets[0]
    np.testing.assert_array_equal(d["wemwbs"].to_numpy()[observed], small["wemwbs"].to_numpy()[observed])
    imputed = d["wemwbs"].to_numpy()[~observed]
    # normal draws are not rounded like the observed scores
    assert (np.abs(imputed - np.round(imputed)) > 1e-6).mean() > 0.9
    # and they sit where the observed end scores sit (MCAR deletion here): means within 3 points
    diag = res.diagnostics.set_index("wave")
    assert abs(diag.loc["end", "mean_imputed"] - diag.loc["end", "mean_observed"]) < 3


def test_regression_draw_is_proper_bayesian_imputation():
    # mice's .norm.draw: sigma*^2 = RSS / chi2(n - p), beta* ~ N(beta_hat, sigma*^2 (X'X)^-1).
    # Without the parameter draw (beta* = beta_hat) the imputations would be improper and the
    # pooled variance too small; check both moments over many draws.
    from evalkit.models.missing import _regression_draw

    rng = np.random.default_rng(0)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(0, 1.5, n)
    coef_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ coef_ls) ** 2))
    draws = [_regression_draw(X, y, np.random.default_rng(s)) for s in range(4000)]
    coef = np.array([d[0] for d in draws])
    beta = np.array([d[1] for d in draws])
    sigma2 = np.array([d[2] ** 2 for d in draws])
    np.testing.assert_allclose(coef[0], coef_ls, rtol=1e-3)          # ridge 1e-5 is negligible
    # E[RSS / chi2_37] = RSS / 35
    assert sigma2.mean() == pytest.approx(rss / 35, rel=0.05)
    # marginally beta* - beta_hat ~ E[sigma*^2] (X'X)^-1
    expected = rss / 35 * np.linalg.inv(X.T @ X)
    np.testing.assert_allclose(np.cov(beta.T), expected, rtol=0.1, atol=0.05 * expected.max())
    np.testing.assert_allclose(beta.mean(axis=0), coef_ls, atol=0.05)


def test_no_rows_dropped_and_missing_counts(small, imp):
    assert imp.m == len(imp.datasets) == 5
    assert (imp.seed, imp.method, imp.iterations, imp.donors) == (11, "pmm", 5, 5)
    assert imp.waves == tuple(WAVES)
    for d in imp.datasets:
        assert d.index.equals(small.index)
        assert list(d.columns) == [*small.columns, "wemwbs_imputed"]
    by_wave = small["wemwbs"].isna().groupby(small["wave"], observed=True).sum()
    expected = pd.DataFrame({"wave": WAVES, "n": 120, "n_missing": by_wave.to_numpy(),
                             "percent": np.round(100 * by_wave.to_numpy() / 120, 1)})
    pd.testing.assert_frame_equal(imp.n_missing, expected, check_dtype=False)
    assert by_wave["baseline"] == 0 and by_wave["mid"] > 20 and by_wave["end"] > 30


def test_predictor_info_counts_and_handling(small, imp):
    info = imp.predictor_info.set_index("predictor")
    assert info.loc["epds"].tolist() == ["wave", "numeric", int(small["epds"].isna().sum()), "imputed"]
    assert info.loc["isolation"].tolist() == ["person", "numeric", 4, "imputed"]
    assert info.loc["delivery_mode"].tolist() == ["person", "categorical", 6,
                                                  "missing coded as a category"]
    assert info.loc["first_baby"].tolist() == ["person", "numeric", 2, "imputed"]
    # a rating asked at mid and end only: baseline is left out, the gaps at mid/end are imputed
    rating = np.where(small["wave"] == "baseline", np.nan, np.round(small["wemwbs"] / 15))
    d = small.assign(mech_hope=rating)
    res = multiple_imputation(d, outcome="wemwbs", covariates=["mech_hope"], m=2, iterations=2,
                              seed=1, progress=False)
    row = res.predictor_info.iloc[0]
    assert row["varies"] == "wave"
    assert row["handling"] == "imputed; never observed at baseline, not used there"
    assert row["n_missing"] == int(np.isnan(rating[(small["wave"] != "baseline").to_numpy()]).sum())


def test_diagnostics_and_trace(small, imp):
    diag = imp.diagnostics.set_index("wave")
    obs = small.dropna(subset=["wemwbs"]).groupby("wave", observed=True)["wemwbs"]
    np.testing.assert_allclose(diag["mean_observed"], obs.mean().to_numpy())
    np.testing.assert_allclose(diag["sd_observed"], obs.std().to_numpy())
    mask = imp.datasets[0]["wemwbs_imputed"] & (small["wave"] == "end")
    hand = np.mean([d.loc[mask, "wemwbs"].mean() for d in imp.datasets])
    assert diag.loc["end", "mean_imputed"] == pytest.approx(hand)
    assert np.isnan(diag.loc["baseline", "mean_imputed"]) and diag.loc["baseline", "n_imputed"] == 0
    assert list(imp.trace.columns) == ["imputation", "iteration", "wave", "mean"]
    assert len(imp.trace) == 5 * 5 * 2                      # m x iterations x waves with gaps
    last = imp.trace[(imp.trace["iteration"] == 5) & (imp.trace["wave"] == "end")]
    np.testing.assert_allclose(last["mean"], [d.loc[mask, "wemwbs"].mean() for d in imp.datasets])


def test_predictor_constant_among_observed_cases_does_not_derail_imputation(small):
    # 'never_started' is 1 exactly where the end score is missing (as delivery_mode is missing
    # exactly for mothers without mid questionnaires): among observed cases it is constant, so its
    # coefficient is not identified and must be left out, not drawn from a near-flat posterior.
    end_missing = small["wemwbs"].isna() & (small["wave"] == "end")
    flag = end_missing.groupby(small["participant_id"]).transform("any")
    d = small.assign(never_started=np.where(flag, "yes", "no"))
    diag = multiple_imputation(d, outcome="wemwbs", covariates=["never_started"], m=4, iterations=5,
                               seed=3, progress=False).diagnostics.set_index("wave")
    plain = multiple_imputation(d, outcome="wemwbs", covariates=[], m=4, iterations=5, seed=3,
                                progress=False).diagnostics.set_index("wave")
    assert diag.loc["end", "sd_imputed"] < 1.3 * plain.loc["end", "sd_imputed"], (diag, plain)
    assert abs(diag.loc["end", "mean_imputed"] - plain.loc["end", "mean_imputed"]) < 2


def test_time_missing_on_imputed_rows_set_to_planned_week(small):
    d = small.copy()
    gap = d["wemwbs"].isna() & (d["wave"] == "end")
    d.loc[gap, "weeks"] = np.nan
    d.loc[d.index[1], "weeks"] = np.nan                     # an observed mid score without a date
    assert d.loc[d.index[1], "wemwbs"] == d.loc[d.index[1], "wemwbs"]
    res = multiple_imputation(d, outcome="wemwbs", covariates=[], m=2, iterations=2, seed=1,
                              progress=False)
    out = res.datasets[0]
    assert (out.loc[gap, "weeks"] == 12.0).all()            # wave_week
    assert np.isnan(out.loc[d.index[1], "weeks"])           # not imputed: left for the analyst
    no_plan = d.drop(columns="wave_week")
    res = multiple_imputation(no_plan, outcome="wemwbs", covariates=[], m=2, iterations=2, seed=1,
                              progress=False)
    # median observed weeks at end: every observed end is 12.5
    assert (res.datasets[0].loc[gap, "weeks"] == 12.5).all()


def test_wave_order_from_time_when_wave_is_plain_text(small):
    d = small.assign(wave=small["wave"].astype(str)).sort_values(["participant_id", "wave"])
    res = multiple_imputation(d, outcome="wemwbs", covariates=[], m=2, iterations=2, seed=1,
                              progress=False)
    assert res.waves == ("baseline", "mid", "end")
    assert res.long(1) is res.datasets[1]
    with pytest.raises(SpecificationError, match="from 0 to 1"):
        res.long(2)


@pytest.mark.parametrize("change, kwargs, error, match", [
    (None, {"outcome": "nope"}, UnknownNameError, "outcome='nope'"),
    (None, {"covariates": ["age"]}, UnknownNameError, r"covariates\[0\]='age'"),
    (None, {"covariates": ["wemwbs"]}, SpecificationError, "cannot be a predictor"),
    (None, {"method": "cart"}, UnknownNameError, "pmm, norm"),
    (None, {"seed": None}, SpecificationError, "seed must be a non-negative integer"),
    (None, {"m": 1}, SpecificationError, "m must be an integer >= 2"),
    (None, {"iterations": 0}, SpecificationError, "iterations must be an integer >= 1"),
    ("duplicate", {}, SpecificationError, "more than one row per participant_id x wave"),
    ("drop_row", {}, SpecificationError, "all_waves=True"),
    ("no_mid", {}, SpecificationError, r"no observed value at wave\(s\) \['mid'\]"),
    ("date", {"covariates": ["referred_on"]}, SpecificationError, "date/time"),
    ("empty_pred", {"covariates": ["isolation"]}, SpecificationError, "has no observed values"),
    ("not_frame", {}, SpecificationError, "must be a pandas DataFrame"),
])
def test_bad_input_raises_with_a_useful_message(small, change, kwargs, error, match):
    d = small.copy()
    if change == "duplicate":
        d = pd.concat([d, d.iloc[[0]]], ignore_index=True)
    elif change == "drop_row":
        d = d.drop(index=5)
    elif change == "no_mid":
        d.loc[d["wave"] == "mid", "wemwbs"] = np.nan
    elif change == "date":
        d["referred_on"] = pd.Timestamp("2024-01-01")
    elif change == "empty_pred":
        d["isolation"] = np.nan
    elif change == "not_frame":
        d = d.to_dict()
    args = {"outcome": "wemwbs", "covariates": [], "m": 2, "iterations": 1, "seed": 1,
            "progress": False} | kwargs
    with pytest.raises(error, match=match):
        multiple_imputation(d, **args)


# ====================================================================== fit_imputed
def test_pooling_matches_rubin_on_the_per_imputation_estimates(imp):
    res = fit_imputed(imp, model=lambda d: d, estimate=_mean_change, progress=False)
    assert isinstance(res, PooledResult)
    hand = [_mean_change(d).iloc[0] for d in imp.datasets]
    est = [h["estimate"] for h in hand]
    var = [h["std_error"] ** 2 for h in hand]
    expected = pool(est, var, df_complete=119.0, names=["change"])
    pd.testing.assert_frame_equal(res.table, expected)
    assert list(res.table.columns) == POOL_COLUMNS
    assert res.estimates["imputation"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(res.estimates["estimate"], est)
    assert res.fits[3] is imp.datasets[3] and res.warnings == () and res.dropped_columns == ()
    # between-imputation variance is real: fmi well above zero with a third of end scores missing
    assert 0.05 < res.table["fmi"].iloc[0] < 0.8


def test_labels_kept_varying_columns_dropped_and_no_label_rows_named(imp):
    def by_mode(d):
        rows = []
        for mode, g in d.groupby("delivery_mode", observed=True):
            t = _mean_change(g).drop(columns="term")
            rows.append(t.assign(delivery_mode=mode, n=len(g) // 3, spread=g["wemwbs"].std()))
        t = pd.concat(rows, ignore_index=True)
        return t[["delivery_mode", "estimate", "std_error", "df", "n", "spread"]]

    res = fit_imputed(imp, model=lambda d: d, estimate=by_mode, progress=True)
    assert list(res.table.columns) == ["delivery_mode", "n", *POOL_COLUMNS[1:]]
    assert res.table["delivery_mode"].tolist() == ["one_to_one", "group", "both"]
    assert res.dropped_columns == ("spread",)
    assert "spread" in res.estimates.columns
    nolabel = fit_imputed(imp, model=lambda d: d, progress=False,
                          estimate=lambda d: _mean_change(d).drop(columns=["term", "df"]))
    assert nolabel.table["term"].tolist() == ["Q"]
    # without df, Rubin's (1987) df: (m - 1) / lambda^2
    lam = nolabel.table["lambda"].iloc[0]
    assert nolabel.table["df"].iloc[0] == pytest.approx(4 / lam ** 2)


def test_warnings_from_fits_are_collected_counted_and_raised_once(imp):
    class Fit:
        def __init__(self, d, note):
            self.d, self.warnings = d, note

    calls = iter(range(5))

    def noisy(d):
        i = next(calls)
        if i in (0, 2):
            warnings.warn("the model felt uneasy", DataQualityWarning)
        return Fit(d, ("only recorded, never raised",) if i == 4 else ())

    with pytest.warns(DataQualityWarning, match=r"the model felt uneasy \(in 2 of 5 imputed") as rec:
        res = fit_imputed(imp, model=noisy, estimate=lambda f: _mean_change(f.d), progress=False)
    assert len([w for w in rec if "uneasy" in str(w.message)]) == 1
    assert res.warnings == ("the model felt uneasy (in 2 of 5 imputed data sets)",
                            "only recorded, never raised (in 1 of 5 imputed data sets)")


def test_fit_imputed_errors_are_clear(imp):
    with pytest.raises(SpecificationError, match="model must be a function"):
        fit_imputed(imp, model="fit_mixed", estimate=_mean_change, progress=False)
    with pytest.raises(SpecificationError, match="'estimate' and 'std_error' columns"):
        fit_imputed(imp, model=lambda d: d, estimate=lambda d: d["wemwbs"].mean(), progress=False)
    sizes = iter([1, 2, 1, 1, 1])
    with pytest.raises(SpecificationError, match=r"different numbers of rows \[1, 2\]"):
        fit_imputed(imp, model=lambda d: d, progress=False,
                    estimate=lambda d: pd.concat([_mean_change(d)] * next(sizes)))
    with pytest.raises(SpecificationError, match="ImputedData"):
        fit_imputed(imp.datasets, model=lambda d: d, estimate=_mean_change, progress=False)
    with pytest.raises(ZeroDivisionError) as err:
        fit_imputed(imp, model=lambda d: 1 / 0, estimate=_mean_change, progress=False)
    assert "while fitting imputed data set 0" in "".join(err.value.__notes__)


# ====================================================================== acceptance: MNAR-looking drop-out
@pytest.fixture(scope="module")
def dropout(dd):
    """A simulated cohort with end scores deleted when the mother improved little by mid-support.

    Start from ``simulate_cohort(n=1000, missing="trial")`` and keep the mothers with WEMWBS at
    baseline, mid and end (starters, ~540), so the full data have no gaps: the *truth* is the change
    the analysis model estimates on these full data, i.e. exactly what MI targets. (The simulator's
    own truth, the mean change of all starters, is printed for reference: it differs because the
    complete mothers are a selected group and the linear model is only an approximation of the
    simulator's plateau at week 12.) Then delete the end questionnaire with probability
    ``expit(-0.5 - 1.8 z)``, ``z`` the standardised baseline→mid improvement: about 40 % are
    lost, mostly those doing badly, which is missing at random given observed baseline and mid
    scores — the variables the wide imputation model uses.
    """
    sim = ek.simulate_cohort(n=1000, seed=7, missing="trial")
    report = ek.validate({"participants": sim.participants, "responses": sim.responses},
                         dictionary=dd)
    from evalkit.cohort import build_cohort
    from evalkit.scoring import score_dictionary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ProratedScoreWarning, SafeguardingWarning))
        scores = score_dictionary(report, dictionary=dd).scores
    long = build_cohort(report, dictionary=dd)
    long = long[long["wave"] != "follow_up"]
    long = long.assign(wave=long["wave"].astype(str).astype(WAVE_TYPE))
    scores = scores.assign(wave=scores["wave"].astype(str))
    scores = scores[scores["wave"] != "follow_up"].assign(wave=lambda s: s["wave"].astype(WAVE_TYPE))
    long = long.merge(scores[["participant_id", "wave", "wemwbs", "epds"]],
                      on=["participant_id", "wave"], how="left")
    wide = long.pivot(index="participant_id", columns="wave", values="wemwbs").dropna()
    full = long[long["participant_id"].isin(wide.index)].reset_index(drop=True)
    gain = wide["mid"] - wide["baseline"]
    z = (gain - gain.mean()) / gain.std()
    lost = pd.Series(np.random.default_rng(99).random(len(z)) < expit(-0.5 - 1.8 * z), index=z.index)
    after = full.copy()
    gone = after["participant_id"].map(lost).to_numpy() & (after["wave"] == "end").to_numpy()
    after.loc[gone, ["wemwbs", "epds"]] = np.nan
    after.loc[gone, "observed"] = False
    return {"full": full, "after": after, "lost": lost, "sim": sim}


def _fit(d):
    return fit_mixed(d, outcome="wemwbs", fixed="weeks", subject="participant_id", random="1")


def _change(f):
    return change_from_baseline(f, time="weeks", change=(0, 12))


@pytest.fixture(scope="module")
def mi(dropout):
    imp = multiple_imputation(dropout["after"], outcome="wemwbs",
                              covariates=["epds", "isolation", "delivery_mode", "sessions_attended"],
                              m=10, iterations=5, seed=1, progress=False)
    return imp, fit_imputed(imp, model=_fit, estimate=_change, progress=False)


def test_acceptance_mi_recovers_the_change_that_complete_cases_overstate(dropout, mi):
    full, after, lost = dropout["full"], dropout["after"], dropout["lost"]
    truth = _change(_fit(full)).iloc[0]
    completers = after[after["participant_id"].isin(lost.index[~lost])]
    cc = _change(_fit(completers)).iloc[0]
    available = _change(_fit(after)).iloc[0]
    imp, res = mi
    est = res.table.iloc[0]
    se = truth["std_error"]
    figures = (f"n = {lost.size} mothers, {lost.mean():.0%} of end scores deleted; full-data change "
               f"(truth) {truth['estimate']:.3f} (SE {se:.3f}); complete cases {cc['estimate']:.3f} "
               f"(SE {cc['std_error']:.3f}); all available rows {available['estimate']:.3f}; MI "
               f"{est['estimate']:.3f} (SE {est['std_error']:.3f}, df {est['df']:.1f}, fmi "
               f"{est['fmi']:.2f}); simulator's mean change of all starters "
               f"{dropout['sim'].truth.mean_change_starters_realised['wemwbs']:.3f}")
    print(figures)
    assert imp.n_missing.set_index("wave").loc["end", "n_missing"] == int(lost.sum()), figures
    assert abs(cc["estimate"] - truth["estimate"]) > 2 * se, figures
    assert cc["estimate"] > truth["estimate"], figures          # completers were doing better
    assert abs(est["estimate"] - truth["estimate"]) < abs(cc["estimate"] - truth["estimate"]) / 3, figures
    assert abs(est["estimate"] - truth["estimate"]) < 2 * se, figures
    assert est["ci_low"] < truth["estimate"] < est["ci_high"], figures
    # the imputed end scores are lower than the observed ones: the model saw who was struggling
    diag = imp.diagnostics.set_index("wave")
    assert diag.loc["end", "mean_imputed"] < diag.loc["end", "mean_observed"] - 2, figures


# ====================================================================== tipping point
def test_tipping_point_is_exact_for_a_linear_estimator(imp):
    deltas = np.arange(0.0, -12.5, -0.5)
    tp = tipping_point(imp, model=lambda d: d, estimate=_mean_change, deltas=deltas, progress=False)
    assert isinstance(tp, TippingPoint) and list(tp.table.columns) == TIPPING_COLUMNS
    tab = tp.table
    np.testing.assert_array_equal(tab["delta"], deltas)
    plain = fit_imputed(imp, model=lambda d: d, estimate=_mean_change, progress=False).table.iloc[0]
    for c in ("estimate", "std_error", "df", "p_value", "ci_low", "ci_high", "fmi"):
        assert tab[c].iloc[0] == plain[c]
    # shifting the imputed end scores by delta moves the mean change by delta x share imputed
    share = imp.n_missing.set_index("wave").loc["end", "n_missing"] / 120
    np.testing.assert_allclose(tab["estimate"], plain["estimate"] + share * deltas, rtol=0, atol=1e-10)
    # the tipping point by brute force: shift by hand, pool, first CI that reaches 0
    first = None
    for delta in deltas:
        rows = []
        for d in imp.datasets:
            shifted = d["wemwbs"] + delta * (d["wemwbs_imputed"] & (d["wave"] == "end"))
            rows.append(_mean_change(d.assign(wemwbs=shifted)).iloc[0])
        p = pool([r["estimate"] for r in rows], [r["std_error"] ** 2 for r in rows], df_complete=119.0)
        if p["ci_low"].iloc[0] <= 0 and first is None:
            first = delta
    assert first is not None and tp.tipping_delta == first
    assert tab["holds"].tolist() == [bool(d > first) for d in deltas]
    assert tp.term == "change" and tp.outcome == "wemwbs" and tp.from_wave == "end"
    assert tp.higher_is == "better"
    assert tp.describe() == (
        f"The conclusion (estimate {plain['estimate']:.1f}, 95% CI {plain['ci_low']:.1f} to "
        f"{plain['ci_high']:.1f} if missing scores are missing at random) holds unless mothers "
        f"without an end score did on average {abs(first):.1f} points worse than similar mothers "
        "who completed.")


def test_tipping_point_shifts_this_wave_and_later_only(imp):
    # from mid on: the mid and end imputations move, so the end-baseline change moves by the end share
    seen = []
    tipping_point(imp, model=lambda d: seen.append(d) or d, estimate=_mean_change, deltas=[-2.0],
                  from_wave="mid", progress=True)
    d0, d2 = seen[0], seen[5]
    diff = d2["wemwbs"] - d0["wemwbs"]
    moved = d0["wemwbs_imputed"] & d0["wave"].isin(["mid", "end"])
    assert (diff[moved] == -2.0).all() and (diff[~moved] == 0).all()


def test_tipping_point_on_the_mixed_model(mi):
    imp, res = mi
    tp = tipping_point(imp, model=_fit, estimate=_change, deltas=[-4.0, -8.0, -12.0, -16.0], progress=False)
    tab = tp.table
    assert tab["delta"].tolist() == [0.0, -4.0, -8.0, -12.0, -16.0]      # 0 added as reference
    row0 = res.table.iloc[0]
    for c in ("estimate", "std_error", "df", "ci_low", "ci_high", "p_value"):
        assert tab[c].iloc[0] == pytest.approx(row0[c], rel=1e-12)
    assert (np.diff(tab["estimate"]) < 0).all()
    # the change model spreads an end shift over the slope; with three equally spaced waves and a
    # random intercept the 0-12 change moves by about delta x share of end scores imputed
    share = imp.n_missing.set_index("wave").loc["end", "n_missing"] / imp.n_missing["n"].iloc[0]
    slope = np.polyfit(tab["delta"], tab["estimate"], 1)[0]
    assert slope == pytest.approx(share, rel=0.2), (slope, share)
    reached = tab.loc[tab["ci_low"] <= 0, "delta"]
    assert tp.tipping_delta == reached.iloc[0] == -12.0, tab
    ax = tp.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    assert [ln.get_xdata()[0] for ln in ax.lines[1:]] == [0, -12.0]      # null line, tipping line
    assert ax.lines[1].get_ydata()[0] == 0.0
    assert ax.lines[0].get_ydata().tolist() == tab.sort_values("delta")["estimate"].tolist()


def test_tipping_point_by_label_direction_and_wording(imp):
    def by_mode(d):
        rows = [(_mean_change(g).drop(columns="term").assign(delivery_mode=mode))
                for mode, g in d.groupby("delivery_mode", observed=True)]
        return pd.concat(rows, ignore_index=True)[["delivery_mode", "estimate", "std_error", "df"]]

    tp = tipping_point(imp, model=lambda d: d, estimate=by_mode, deltas=[0.5, 1.0], row="group",
                       higher_is="worse", progress=False)
    assert tp.term == "group" and np.isnan(tp.tipping_delta)
    text = tp.describe()
    assert text.startswith("The conclusion (estimate ")
    assert text.endswith("holds even if mothers without an end score did on average 1.0 points worse "
                         "than similar mothers who completed (the largest shift tried).")
    # an outcome that is not an instrument id: neutral wording
    renamed = multiple_imputation(_small().rename(columns={"wemwbs": "score"}), outcome="score",
                                  covariates=[], m=2, iterations=1, seed=1, progress=False)
    tp = tipping_point(renamed, model=lambda d: d, progress=False, deltas=[-30.0],
                       estimate=lambda d: _mean_change(d.rename(columns={"score": "wemwbs"})))
    assert tp.higher_is is None and tp.tipping_delta == -30.0
    assert "scored on average 30.0 points lower than" in tp.describe()


def test_tipping_point_when_the_mar_result_is_not_significant(imp):
    # null at the MAR estimate: the CI includes it at delta 0, and the conclusion changes once the
    # shifted estimate's CI no longer does
    mar = fit_imputed(imp, model=lambda d: d, estimate=_mean_change, progress=False).table.iloc[0]
    null = round(float(mar["estimate"]), 1)
    tp = tipping_point(imp, model=lambda d: d, estimate=_mean_change, deltas=np.arange(-1.0, -9.0, -1.0),
                       null=null, progress=False)
    tab = tp.table
    excludes = (tab["ci_high"] < null) | (tab["ci_low"] > null)
    assert not excludes.iloc[0] and excludes.any()
    assert tp.tipping_delta == tab.loc[excludes, "delta"].iloc[0]
    assert tab["holds"].tolist() == (~excludes).tolist()
    assert tp.describe().startswith(f"The estimate does not differ from {null:g} (estimate ")
    assert tp.describe().endswith(f"that changes if mothers without an end score did on average "
                                  f"{abs(tp.tipping_delta):.1f} points worse than similar mothers "
                                  "who completed.")


def test_tipping_point_errors(imp):
    kw = {"model": lambda d: d, "estimate": _mean_change, "progress": False}
    with pytest.raises(SpecificationError, match="all have one sign"):
        tipping_point(imp, deltas=[-1.0, 1.0], **kw)
    for bad in ([np.nan], [], [0.0]):
        with pytest.raises(SpecificationError, match="finite numbers with at least one non-zero"):
            tipping_point(imp, deltas=bad, **kw)
    with pytest.raises(UnknownNameError, match=r"waves are \['baseline', 'mid', 'end'\]"):
        tipping_point(imp, deltas=[-1.0], from_wave="follow_up", **kw)
    with pytest.raises(SpecificationError, match="matches 0 rows"):
        tipping_point(imp, deltas=[-1.0], row="slope", **kw)
    with pytest.raises(SpecificationError, match="out of range"):
        tipping_point(imp, deltas=[-1.0], row=3, **kw)
    with pytest.raises(SpecificationError, match="higher_is must be"):
        tipping_point(imp, deltas=[-1.0], higher_is="up", **kw)


def test_old_names_still_work_for_one_release(imp):
    from evalkit.errors import EvalkitDeprecationWarning

    kw = {"estimate": _mean_change, "progress": False}
    new = tipping_point(imp, model=lambda d: d, deltas=[-1.0], from_wave="end", **kw)
    with pytest.warns(EvalkitDeprecationWarning) as rec:
        old = tipping_point(imp, fit=lambda d: d, deltas=[-1.0], wave="end", **kw)
    assert sorted(str(w.message).split(":")[1].split(" is ")[0].strip() for w in rec) == [
        "fit=", "wave="]
    pd.testing.assert_frame_equal(old.table, new.table)
    with pytest.warns(EvalkitDeprecationWarning, match=r"TippingPoint.wave is now .from_wave"):
        assert old.wave == "end"
    with pytest.warns(EvalkitDeprecationWarning, match="use model= instead"):
        fit_imputed(imp, fit=lambda d: d, **kw)
    assert imp.table is imp.diagnostics and imp.raw is None
