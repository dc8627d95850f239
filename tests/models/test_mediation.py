"""Mediation and moderated mediation: known truths, agreement with pingouin and statsmodels OLS,
the vectorised bootstrap against a per-resample refit, exclusions, determinism and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalkit as ek
from evalkit.errors import DataQualityWarning, SpecificationError
from evalkit.models.mediation import (TABLE_COLUMNS, MediationResult, ModeratedMediationResult,
                                      mediation, moderated_mediation)


# ====================================================================== data with known paths
def simple_data(n=1000, seed=42, a=0.5, b=0.4, c=0.2) -> pd.DataFrame:
    """X binary, M = a X + e, Y = b M + c X + e: indirect a*b, direct c."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    m = a * x + rng.normal(size=n)
    y = b * m + c * x + rng.normal(size=n)
    return pd.DataFrame({"x": x, "m": m, "y": y})


def parallel_data(n=800, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    age = rng.normal(30, 5, n)
    m1 = 0.5 * x + 0.02 * age + rng.normal(size=n)
    m2 = 0.3 * x + 0.3 * m1 + rng.normal(size=n)          # correlated mediators
    y = 0.4 * m1 - 0.3 * m2 + 0.1 * x + 0.05 * age + rng.normal(size=n)
    return pd.DataFrame({"x": x, "m1": m1, "m2": m2, "age": age, "y": y})


def row(res, path) -> pd.Series:
    return res.table.set_index("path").loc[path]


@pytest.fixture(scope="module")
def simple():
    return simple_data()


@pytest.fixture(scope="module")
def simple_fit(simple):
    return mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=2000, seed=1)


# ====================================================================== simple mediation
def test_recovers_known_indirect_effect(simple_fit):
    res = simple_fit
    assert isinstance(res, MediationResult)
    assert list(res.table.columns) == TABLE_COLUMNS
    assert res.table["path"].tolist() == ["a: x -> m", "b: m -> y", "direct", "total",
                                          "indirect: m", "indirect: total"]
    ind = row(res, "indirect: m")
    assert ind["ci_low"] < 0.2 < ind["ci_high"]
    assert abs(ind["estimate"] - 0.2) < 0.05
    assert np.isnan(ind["p_value"]) and ind["std_error"] > 0
    assert res.n == 1000 and res.n_excluded == 0 and res.exclusions.empty
    assert res.n_boot == 2000 and res.n_failed_boot == 0 and len(res.bootstrap) == 2000
    direct = row(res, "direct")
    assert direct["ci_low"] < 0.2 < direct["ci_high"]


def test_total_is_direct_plus_indirect_exactly(simple_fit):
    est = simple_fit.table.set_index("path")["estimate"]
    assert est["total"] == pytest.approx(est["direct"] + est["indirect: total"], abs=1e-10)
    assert est["indirect: m"] == pytest.approx(est["a: x -> m"] * est["b: m -> y"], abs=1e-12)
    boot = simple_fit.bootstrap  # the OLS identity holds in every resample too
    np.testing.assert_allclose(boot["total"], boot["direct"] + boot["indirect: total"], atol=1e-9)


def test_regression_paths_match_statsmodels_ols(simple, simple_fit):
    full = smf.ols("y ~ x + m", simple).fit()
    a = smf.ols("m ~ x", simple).fit()
    total = smf.ols("y ~ x", simple).fit()
    for path, fit, term in [("a: x -> m", a, "x"), ("b: m -> y", full, "m"),
                            ("direct", full, "x"), ("total", total, "x")]:
        r = row(simple_fit, path)
        assert r["estimate"] == pytest.approx(fit.params[term], abs=1e-10)
        assert r["std_error"] == pytest.approx(fit.bse[term], rel=1e-9)
        assert r["p_value"] == pytest.approx(fit.pvalues[term], rel=1e-6, abs=1e-300)
    models = simple_fit.models
    assert set(models["equation"]) == {"m", "y", "y (total)"}
    got = models.loc[(models["equation"] == "y") & (models["term"] == "Intercept"), "estimate"]
    assert float(got.iloc[0]) == pytest.approx(full.params["Intercept"], abs=1e-10)


def test_matches_pingouin_one_mediator(simple, simple_fit):
    ref = pg.mediation_analysis(simple, x="x", m="m", y="y", n_boot=2000, seed=1).set_index("path")
    mine = simple_fit.table.set_index("path")
    for theirs, ours in [("m ~ X", "a: x -> m"), ("Direct", "direct"), ("Total", "total"),
                         ("Indirect", "indirect: m")]:
        assert mine.loc[ours, "estimate"] == pytest.approx(ref.loc[theirs, "coef"], abs=1e-10)
    for theirs, ours in [("m ~ X", "a: x -> m"), ("Direct", "direct"), ("Total", "total")]:
        assert mine.loc[ours, "std_error"] == pytest.approx(ref.loc[theirs, "se"], rel=1e-9)
        assert mine.loc[ours, "p_value"] == pytest.approx(ref.loc[theirs, "pval"], rel=1e-6)
    # different resamples (and pingouin's interval is bias-corrected): agree loosely
    assert mine.loc["indirect: m", "ci_low"] == pytest.approx(ref.loc["Indirect", "CI2.5"], abs=0.02)
    assert mine.loc["indirect: m", "ci_high"] == pytest.approx(ref.loc["Indirect", "CI97.5"],
                                                               abs=0.02)
    assert mine.loc["indirect: m", "std_error"] == pytest.approx(ref.loc["Indirect", "se"], abs=0.005)


def test_matches_pingouin_two_parallel_mediators_with_covariate():
    data = parallel_data()
    res = mediation(data, exposure="x", mediators=["m1", "m2"], outcome="y", covariates=["age"],
                    n_boot=2000, seed=3)
    ref = pg.mediation_analysis(data, x="x", m=["m1", "m2"], y="y", covar="age", n_boot=2000,
                                seed=3).set_index("path")
    mine = res.table.set_index("path")
    pairs = [("m1 ~ X", "a: x -> m1"), ("m2 ~ X", "a: x -> m2"), ("Direct", "direct"),
             ("Total", "total"), ("Indirect m1", "indirect: m1"), ("Indirect m2", "indirect: m2")]
    for theirs, ours in pairs:
        assert mine.loc[ours, "estimate"] == pytest.approx(ref.loc[theirs, "coef"], abs=1e-10)
    for theirs, ours in pairs[:4]:
        assert mine.loc[ours, "std_error"] == pytest.approx(ref.loc[theirs, "se"], rel=1e-9)
    for theirs, ours in pairs[4:]:
        assert mine.loc[ours, "ci_low"] == pytest.approx(ref.loc[theirs, "CI2.5"], abs=0.02)
        assert mine.loc[ours, "ci_high"] == pytest.approx(ref.loc[theirs, "CI97.5"], abs=0.02)
    est = mine["estimate"]
    assert est["indirect: total"] == pytest.approx(est["indirect: m1"] + est["indirect: m2"],
                                                   abs=1e-12)
    assert est["total"] == pytest.approx(est["direct"] + est["indirect: total"], abs=1e-10)
    full = smf.ols("y ~ x + m1 + m2 + age", data).fit()   # b-paths are conditional on X
    assert est["b: m1 -> y"] == pytest.approx(full.params["m1"], abs=1e-10)
    assert est["b: m2 -> y"] == pytest.approx(full.params["m2"], abs=1e-10)


def test_vectorised_bootstrap_equals_refitting_each_resample():
    data = simple_data(n=200, seed=9)
    res = mediation(data, exposure="x", mediators="m", outcome="y", n_boot=100, seed=4)
    # the resamples are participants drawn with replacement by default_rng(seed) in one chunk here
    idx = np.random.default_rng(4).integers(0, 200, size=(100, 200))
    for i in (0, 17, 99):
        d = data.iloc[idx[i]]
        X1 = np.column_stack([np.ones(200), d["x"]])
        a = np.linalg.lstsq(X1, d["m"].to_numpy(), rcond=None)[0][1]
        tot = np.linalg.lstsq(X1, d["y"].to_numpy(), rcond=None)[0][1]
        c, b = np.linalg.lstsq(np.column_stack([X1, d["m"]]), d["y"].to_numpy(), rcond=None)[0][1:]
        got = res.bootstrap.iloc[i]
        np.testing.assert_allclose([got["a: x -> m"], got["b: m -> y"], got["direct"],
                                    got["total"], got["indirect: m"]], [a, b, c, tot, a * b],
                                   atol=1e-9)
    lo, hi = np.quantile(res.bootstrap["indirect: m"], [0.025, 0.975])
    assert row(res, "indirect: m")["ci_low"] == pytest.approx(lo)
    assert row(res, "indirect: m")["ci_high"] == pytest.approx(hi)
    assert row(res, "indirect: m")["std_error"] == pytest.approx(res.bootstrap["indirect: m"].std())


def test_same_seed_identical_different_seed_differs(simple):
    kw = dict(exposure="x", mediators="m", outcome="y", n_boot=300)
    r1, r2 = mediation(simple, seed=11, **kw), mediation(simple, seed=11, **kw)
    pd.testing.assert_frame_equal(r1.table, r2.table)
    pd.testing.assert_frame_equal(r1.bootstrap, r2.bootstrap)
    r3 = mediation(simple, seed=12, **kw)
    assert not np.allclose(r1.table["ci_low"], r3.table["ci_low"])
    pd.testing.assert_series_equal(r1.table["estimate"], r3.table["estimate"])


def test_confidence_level_narrows_interval(simple):
    kw = dict(exposure="x", mediators="m", outcome="y", n_boot=500, seed=2)
    wide, narrow = mediation(simple, confidence=0.99, **kw), mediation(simple, confidence=0.8, **kw)
    assert row(wide, "indirect: m")["ci_low"] < row(narrow, "indirect: m")["ci_low"]
    assert row(wide, "indirect: m")["ci_high"] > row(narrow, "indirect: m")["ci_high"]


def test_boolean_and_two_level_exposures_agree_with_numeric(simple):
    kw = dict(mediators="m", outcome="y", n_boot=200, seed=0)
    base = mediation(simple, exposure="x", **kw)
    data = simple.assign(xb=simple["x"].astype(bool),
                         mode=np.where(simple["x"] == 1, "one_to_one", "group"))
    as_bool = mediation(data, exposure="xb", **kw)
    as_text = mediation(data, exposure="mode", exposure_levels=("group", "one_to_one"), **kw)
    np.testing.assert_allclose(as_bool.table["estimate"], base.table["estimate"], atol=1e-12)
    np.testing.assert_allclose(as_text.table["estimate"], base.table["estimate"], atol=1e-12)
    assert as_text.exposure_levels == ("group", "one_to_one")
    flipped = mediation(data, exposure="mode", exposure_levels=("one_to_one", "group"), **kw)
    assert row(flipped, "a: mode -> m")["estimate"] == pytest.approx(
        -row(base, "a: x -> m")["estimate"], abs=1e-12)


def test_categorical_covariate_is_dummy_coded():
    data = parallel_data(n=400, seed=2)
    data["site"] = np.random.default_rng(0).choice(["north", "east", "south"], size=len(data))
    res = mediation(data, exposure="x", mediators="m1", outcome="y", covariates=["site", "age"],
                    n_boot=200, seed=0)
    fit = smf.ols("y ~ x + m1 + C(site) + age", data).fit()
    assert row(res, "direct")["estimate"] == pytest.approx(fit.params["x"], abs=1e-10)
    assert row(res, "b: m1 -> y")["std_error"] == pytest.approx(fit.bse["m1"], rel=1e-9)
    terms = res.models.loc[res.models["equation"] == "y", "term"].tolist()
    assert terms == ["Intercept", "x", "m1", "site[T.north]", "site[T.south]", "age"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(25, 120), k=st.integers(1, 3))
def test_decomposition_holds_for_any_data(seed, n, k):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(n, k + 2)), columns=[*(f"m{j}" for j in range(k)), "y",
                                                              "c"])
    data["x"] = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    res = mediation(data, exposure="x", mediators=[f"m{j}" for j in range(k)], outcome="y",
                    covariates=["c"], n_boot=100, seed=seed)
    est = res.table.set_index("path")["estimate"]
    assert est["total"] == pytest.approx(est["direct"] + est["indirect: total"], abs=1e-9)
    assert res.n_boot - res.n_failed_boot == len(res.bootstrap)


# ====================================================================== missing data
def test_missing_rows_are_dropped_counted_and_warned(simple):
    data = simple.copy()
    data.loc[:49, "y"] = np.nan
    data.loc[40:59, "m"] = np.nan        # rows 40-49 miss both
    with pytest.warns(DataQualityWarning, match=r"dropped 60 of 1000 rows.*MCAR"):
        res = mediation(data, exposure="x", mediators="m", outcome="y", n_boot=200)
    assert res.n == 940 and res.n_excluded == 60
    ex = res.exclusions.set_index("variable")
    assert ex.loc["y", "rows"] == 50 and ex.loc["m", "rows"] == 20
    assert set(ex["reason"]) == {"missing"} and ex.loc["m", "role"] == "mediator"
    complete = mediation(data.dropna(), exposure="x", mediators="m", outcome="y", n_boot=200)
    pd.testing.assert_frame_equal(res.table, complete.table)
    assert "listwise" in res.describe()


def test_other_exposure_levels_are_counted_without_a_warning(simple):
    data = simple.assign(mode=np.where(simple["x"] == 1, "one_to_one", "group"))
    data.loc[:29, "mode"] = "both"
    res = mediation(data, exposure="mode", exposure_levels=("one_to_one", "group"),
                    mediators="m", outcome="y", n_boot=200)   # no warning: nothing was missing
    assert res.n == 970 and res.n_excluded == 30
    assert res.exclusions.to_dict("records") == [
        {"variable": "mode", "role": "exposure", "reason": "level not in exposure_levels",
         "rows": 30}]


# ====================================================================== the simulated cohort
MECH = ["mech_understood", "mech_negative_comparison"]


def cohort_frame(sim) -> pd.DataFrame:
    """Starters: delivery mode, mean mid-wave mechanism ratings, WEMWBS change baseline -> end."""
    resp = sim.responses
    starters = sim.participants.loc[sim.participants["started"], ["participant_id", "delivery_mode"]]
    mid = resp.loc[resp["wave"] == "mid", ["participant_id", *MECH]].copy()
    for m in MECH:
        mid[m] = mid[m].astype("Float64").replace(-9, pd.NA).astype(float)
    mech = mid.groupby("participant_id")[MECH].mean()
    scored = ek.score(resp, "wemwbs", missing_codes=(-9,), warn=False)["wemwbs"]
    long = pd.DataFrame({"participant_id": resp["participant_id"], "wave": resp["wave"],
                         "wemwbs": scored})
    wide = long.pivot_table(index="participant_id", columns="wave", values="wemwbs",
                            aggfunc="first")
    out = starters.set_index("participant_id").join(mech)
    out["wemwbs_change"] = (wide["end"] - wide["baseline"]).reindex(out.index)
    return out.reset_index()


@pytest.fixture(scope="module")
def cohort():
    sim = ek.simulate_cohort(n=1500, seed=1)
    return sim, cohort_frame(sim)


def test_on_simulated_cohort(cohort, capsys):
    sim, frame = cohort
    compared = frame["delivery_mode"].isin(["one_to_one", "group"])
    missing = compared & frame[[*MECH, "wemwbs_change"]].isna().any(axis=1)
    assert frame.loc[compared, "wemwbs_change"].isna().sum() > 100   # routine drop-out
    with pytest.warns(DataQualityWarning, match=rf"dropped {missing.sum()} of {compared.sum()} "
                                                r"rows.*wemwbs_change.*MCAR"):
        res = mediation(frame, exposure="delivery_mode", exposure_levels=("one_to_one", "group"),
                        mediators=MECH, outcome="wemwbs_change", n_boot=1000, seed=1)
    assert res.n == (compared & ~missing).sum()
    assert res.n_excluded == len(frame) - res.n
    ex = res.exclusions.set_index(["variable", "reason"])["rows"]
    assert ex[("wemwbs_change", "missing")] == (compared & frame["wemwbs_change"].isna()).sum()
    assert ex[("delivery_mode", "level not in exposure_levels")] == (~compared).sum()

    rating = sim.truth.mechanism_rating
    a_true = {m: (sim.truth.a_paths["group"][m] - sim.truth.a_paths["one_to_one"][m])
              * rating[m]["slope"] for m in ("understood", "negative_comparison")}
    assert a_true["understood"] < 0 < a_true["negative_comparison"]
    a_fu = row(res, "a: delivery_mode -> mech_understood")
    # The design difference for feeling understood (group - one-to-one) is only -0.08 rating
    # points against a standard error near 0.09 here, so its sign is not identifiable at this n
    # (right in ~70% of seeds); the estimate must be consistent with the truth, not beyond noise.
    assert abs(a_fu["estimate"] - a_true["understood"]) < 4 * a_fu["std_error"]
    # the b-paths are large and must have the signs of the truth (per rating point)
    b_true = sim.truth.b_paths_per_rating_point["wemwbs"]
    b_fu = row(res, "b: mech_understood -> wemwbs_change")
    b_nsc = row(res, "b: mech_negative_comparison -> wemwbs_change")
    assert b_true["understood"] > 0 and b_fu["ci_low"] > 0
    assert b_true["negative_comparison"] < 0 and b_nsc["ci_high"] < 0
    est = res.table.set_index("path")["estimate"]
    assert est["total"] == pytest.approx(est["direct"] + est["indirect: total"], abs=1e-10)
    assert capsys.readouterr().out == ""


# ====================================================================== moderated mediation
def first_stage_data(n=2000, seed=7, a1=0.5, a3=0.3, b=0.4):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    w = rng.normal(1.0, 1.0, n)
    m = a1 * x + 0.2 * w + a3 * x * w + rng.normal(size=n)
    y = b * m + 0.2 * x + rng.normal(size=n)
    return pd.DataFrame({"x": x, "w": w, "m": m, "y": y})


def second_stage_data(n=2000, seed=8, a=0.5, b1=0.4, b3=0.3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    w = rng.normal(size=n)
    m = a * x + rng.normal(size=n)
    y = b1 * m + 0.1 * w + b3 * m * w + 0.2 * x + rng.normal(size=n)
    return pd.DataFrame({"x": x, "w": w, "m": m, "y": y})


def test_first_stage_index_and_conditional_effects():
    data = first_stage_data()
    res = moderated_mediation(data, exposure="x", mediator="m", outcome="y", by="w",
                              stage="first", n_boot=2000, seed=1)
    assert isinstance(res, ModeratedMediationResult) and res.moderator_kind == "numeric"
    assert res.table["path"].tolist()[:5] == ["a: x -> m (w = 0)", "w -> m", "x:w -> m",
                                              "b: m -> y", "direct"]
    index = res.index.iloc[0]
    assert index["path"] == "index of moderated mediation"
    assert index["ci_low"] < 0.3 * 0.4 < index["ci_high"]
    assert np.isnan(index["p_value"])
    fm = smf.ols("m ~ x * w", data).fit()
    fy = smf.ols("y ~ x + m", data).fit()                  # PROCESS model 7: W not in the Y model
    a1, a3, b = fm.params["x"], fm.params["x:w"], fy.params["m"]
    assert index["estimate"] == pytest.approx(a3 * b, abs=1e-10)
    mean, sd = data["w"].mean(), data["w"].std()
    cond = res.conditional
    assert cond["label"].tolist() == ["mean - 1 SD", "mean", "mean + 1 SD"]
    np.testing.assert_allclose(cond["moderator_value"], [mean - sd, mean, mean + sd])
    for w, ind, a_w in zip(cond["moderator_value"], cond["indirect"], cond["a_path"]):
        assert a_w == pytest.approx(a1 + a3 * w, abs=1e-10)
        assert ind == pytest.approx((a1 + a3 * w) * b, abs=1e-10)
    np.testing.assert_allclose(cond["b_path"], b)
    for w, lo, hi in zip(cond["moderator_value"], cond["ci_low"], cond["ci_high"]):
        assert lo < (0.5 + 0.3 * w) * 0.4 < hi
    assert row(res, "x:w -> m")["std_error"] == pytest.approx(fm.bse["x:w"], rel=1e-9)


def test_second_stage_index_and_conditional_effects():
    data = second_stage_data()
    res = moderated_mediation(data, exposure="x", mediator="m", outcome="y", by="w",
                              stage="second", at=[-1, 0, 1], n_boot=2000, seed=2)
    assert res.table["path"].tolist()[:5] == ["a: x -> m", "b: m -> y (w = 0)", "w -> y",
                                              "m:w -> y", "direct"]
    index = res.index.iloc[0]
    assert index["ci_low"] < 0.5 * 0.3 < index["ci_high"]
    fm = smf.ols("m ~ x", data).fit()
    fy = smf.ols("y ~ x + m * w", data).fit()               # PROCESS model 14
    a, b1, b3 = fm.params["x"], fy.params["m"], fy.params["m:w"]
    assert index["estimate"] == pytest.approx(a * b3, abs=1e-10)
    cond = res.conditional
    assert cond["label"].tolist() == ["-1", "0", "1"]
    for w, ind, b_w in zip([-1, 0, 1], cond["indirect"], cond["b_path"]):
        assert b_w == pytest.approx(b1 + b3 * w, abs=1e-10)
        assert ind == pytest.approx(a * (b1 + b3 * w), abs=1e-10)
        assert row(res, f"indirect: w = {w}")["estimate"] == pytest.approx(ind, abs=1e-12)
    for w, lo, hi in zip([-1, 0, 1], cond["ci_low"], cond["ci_high"]):
        assert lo < 0.5 * (0.4 + 0.3 * w) < hi
    assert row(res, "direct")["estimate"] == pytest.approx(fy.params["x"], abs=1e-10)


def test_categorical_and_binary_moderators():
    rng = np.random.default_rng(3)
    n = 900
    data = pd.DataFrame({"x": rng.integers(0, 2, n),
                         "imd": rng.choice(["q1", "q2_3", "q4_5"], n),
                         "isolated": rng.random(n) < 0.4})
    lift = data["imd"].map({"q1": 0.4, "q2_3": 0.2, "q4_5": 0.0})
    data["m"] = (0.3 + lift) * data["x"] + rng.normal(size=n)
    data["y"] = 0.5 * data["m"] + rng.normal(size=n)
    res = moderated_mediation(data, exposure="x", mediator="m", outcome="y", by="imd",
                              n_boot=500, seed=0)
    assert res.moderator_kind == "categorical" and res.moderator_levels == ("q1", "q2_3", "q4_5")
    assert res.index["path"].tolist() == ["index of moderated mediation: imd[T.q2_3]",
                                          "index of moderated mediation: imd[T.q4_5]"]
    assert res.conditional["moderator_value"].tolist() == ["q1", "q2_3", "q4_5"]
    b = smf.ols("y ~ x + m", data).fit().params["m"]
    for level, ind in zip(res.conditional["moderator_value"], res.conditional["indirect"]):
        a_level = smf.ols("m ~ x", data[data["imd"] == level]).fit().params["x"]  # saturated
        assert ind == pytest.approx(a_level * b, abs=1e-10)
    # boolean moderator: both values by default, labelled False / True
    res = moderated_mediation(data, exposure="x", mediator="m", outcome="y", by="isolated",
                              stage="second", n_boot=300, seed=0)
    assert res.moderator_kind == "binary"
    assert res.conditional["label"].tolist() == ["False", "True"]
    assert res.conditional["moderator_value"].tolist() == [0.0, 1.0]


def test_moderator_also_listed_as_covariate_enters_the_other_equation():
    data = first_stage_data(n=300)
    res = moderated_mediation(data, exposure="x", mediator="m", outcome="y", by="w",
                              covariates=["w"], n_boot=200)
    m_terms = res.models.loc[res.models["equation"] == "m", "term"].tolist()
    y_terms = res.models.loc[res.models["equation"] == "y", "term"].tolist()
    assert m_terms == ["Intercept", "x", "w", "x:w"] and y_terms == ["Intercept", "x", "m", "w"]
    fy = smf.ols("y ~ x + m + w", data).fit()
    assert row(res, "b: m -> y")["estimate"] == pytest.approx(fy.params["m"], abs=1e-10)


def test_moderated_mediation_same_seed_identical_and_extrapolation_warned():
    data = first_stage_data(n=300)
    kw = dict(exposure="x", mediator="m", outcome="y", by="w", n_boot=300, seed=5)
    r1, r2 = moderated_mediation(data, **kw), moderated_mediation(data, **kw)
    pd.testing.assert_frame_equal(r1.table, r2.table)
    pd.testing.assert_frame_equal(r1.conditional, r2.conditional)
    assert "w moderating the exposure -> mechanism path (first stage)" in r1.describe()
    assert repr(r1).startswith("ModeratedMediationResult: x -> m -> y, moderated by w (first stage)")
    with pytest.warns(DataQualityWarning, match="outside the observed range"):
        moderated_mediation(data, at=[0, 100], **kw)


# ====================================================================== bootstrap edge cases
def test_singular_resamples_are_counted_and_warned():
    rng = np.random.default_rng(1)
    n = 40
    data = pd.DataFrame({"x": np.tile([0, 1], n // 2), "m": rng.normal(size=n),
                         "y": rng.normal(size=n), "site": ["rare"] * 2 + ["common"] * (n - 2)})
    with pytest.warns(DataQualityWarning, match="singular in"):
        res = mediation(data, exposure="x", mediators="m", outcome="y", covariates=["site"],
                        n_boot=400, seed=0)
    assert 0.05 * 400 < res.n_failed_boot < 0.25 * 400     # P(no 'rare' row) = (38/40)^40 = 0.13
    assert len(res.bootstrap) == 400 - res.n_failed_boot
    assert res.table[["ci_low", "ci_high"]].notna().all().all()


def test_progress_bar_only_when_asked(simple, capsys):
    mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=200, progress=True)
    assert "bootstrap" in capsys.readouterr().err
    mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=200, progress=False)
    mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=200)   # small: no bar
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_automatic_for_big_jobs_on_a_terminal(simple, capsys, monkeypatch):
    import evalkit.models.mediation as mod

    monkeypatch.setattr(mod, "_stderr_is_tty", lambda: True)
    mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=200)   # 2e5 cells: none
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(mod, "_PROGRESS_CELLS", 100_000)
    mediation(simple, exposure="x", mediators="m", outcome="y", n_boot=200)
    assert "bootstrap" in capsys.readouterr().err


def test_describe_and_repr(simple_fit):
    text = simple_fit.describe()
    assert "percentile bootstrap" in text and "2000 resamples" in text and "1000 participants" in text
    assert repr(simple_fit).startswith("MediationResult: x -> ")
    assert simple_fit.path("total")["path"] == "total"
    assert mediation(simple_data(n=100), exposure="x", mediators="m", outcome="y", covariates=None,
                     n_boot=100).covariates == ()
    with pytest.raises(SpecificationError, match="no path 'nope'"):
        simple_fit.path("nope")


# ====================================================================== errors
@pytest.mark.parametrize("kwargs, match", [
    (dict(mediators=["m", "mood"], covariates=["age"]), r"'mood', 'age' not in the data; available"),
    (dict(mediators="m", outcome="x"), r"'x' is given as both exposure and outcome"),
    (dict(mediators=["m", "m"]), r"list a column twice"),
    (dict(n_boot=10), r"n_boot=10 is not a whole number of at least 100"),
    (dict(confidence=95), r"confidence=95 must lie strictly between 0 and 1"),
    (dict(seed=-1), r"seed=-1"),
    (dict(progress="yes"), r"progress='yes'"),
])
def test_argument_errors(simple, kwargs, match):
    args = dict(exposure="x", mediators="m", outcome="y") | kwargs
    with pytest.raises(SpecificationError, match=match):
        mediation(simple, **args)


def test_data_errors(simple):
    kw = dict(mediators="m", outcome="y")
    with pytest.raises(SpecificationError, match=r"exposure 'x' takes one value \(1\)"):
        mediation(simple.assign(x=1), exposure="x", **kw)
    with pytest.raises(SpecificationError, match=r"only 19 of 19 rows are complete.*at least 20"):
        mediation(simple.head(19), exposure="x", **kw)
    few = simple.copy()
    few.loc[15:, "y"] = np.nan
    with pytest.raises(SpecificationError, match=r"only 15 of 1000 rows.*y: 985 missing"):
        mediation(few, exposure="x", **kw)
    text = simple.assign(mode=np.where(simple["x"] == 1, "one_to_one", "group"))
    with pytest.raises(SpecificationError, match=r"exposure_levels=\('group', 'one_to_one'\)"):
        mediation(text, exposure="mode", **kw)
    with pytest.raises(SpecificationError, match=r"level\(s\) 'both' do not occur"):
        mediation(text, exposure="mode", exposure_levels=("group", "both"), **kw)
    with pytest.raises(SpecificationError, match=r"mediator 'm' must be numeric"):
        mediation(simple.assign(m="high"), exposure="x", **kw)
    with pytest.raises(SpecificationError, match=r"mediator 'm' takes one value"):
        mediation(simple.assign(m=2.0), exposure="x", **kw)
    with pytest.raises(SpecificationError, match=r"covariate 'c' takes one value"):
        mediation(simple.assign(c=1.0), exposure="x", covariates=["c"], **kw)
    with pytest.raises(SpecificationError, match=r"term 'c' is \(nearly\) a combination"):
        mediation(simple.assign(c=simple["x"] * 2.0), exposure="x", covariates=["c"], **kw)


def test_moderated_mediation_errors():
    data = first_stage_data(n=100).assign(site=lambda d: np.where(d["w"] > 1, "a", "b"))
    kw = dict(exposure="x", mediator="m", outcome="y", n_boot=100)
    with pytest.raises(SpecificationError, match=r"stage='third' is not one of 'first'"):
        moderated_mediation(data, by="w", stage="third", **kw)
    with pytest.raises(SpecificationError, match=r"moderator 'w' takes one value"):
        moderated_mediation(data.assign(w=3.0), by="w", **kw)
    with pytest.raises(SpecificationError, match=r"at='c' is not a level of the moderator 'site'"):
        moderated_mediation(data, by="site", at=["a", "c"], **kw)
    with pytest.raises(SpecificationError, match=r"at='low' is not a number"):
        moderated_mediation(data, by="w", at=["low"], **kw)
    with pytest.raises(SpecificationError, match=r"mediator must be one column name"):
        moderated_mediation(data, by="w", **(kw | {"mediator": ["m", "w"]}))
    with pytest.raises(SpecificationError, match=r"'w' is given as both outcome and moderator"):
        moderated_mediation(data, by="w", **(kw | {"outcome": "w"}))


def test_moderated_mediation_vocabulary():
    """by= names the moderator (moderator= still works, with a deprecation warning); at= takes a
    list or {by: values}."""
    from evalkit.errors import EvalkitDeprecationWarning

    data = first_stage_data(n=200)
    kw = dict(exposure="x", mediator="m", outcome="y", n_boot=100, seed=1)
    new = moderated_mediation(data, by="w", at={"w": [0.0, 1.0]}, **kw)
    listed = moderated_mediation(data, by="w", at=[0.0, 1.0], **kw)
    pd.testing.assert_frame_equal(new.table, listed.table)
    with pytest.warns(EvalkitDeprecationWarning, match="moderator= is deprecated.*use by="):
        old = moderated_mediation(data, moderator="w", at=[0.0, 1.0], **kw)
    pd.testing.assert_frame_equal(old.table, new.table)
    with pytest.raises(SpecificationError, match="must give values of the moderator only"):
        moderated_mediation(data, by="w", at={"x": [0.0]}, **kw)
