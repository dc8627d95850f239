"""Pre-post tests, effect sizes and ANCOVA: checked against scipy, pingouin, statsmodels and formulas
worked by hand (Lakens 2013; Algina & Keselman 2003; noncentral-t inversion)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf
from scipy import integrate, optimize, special, stats

from evalkit.errors import (DataQualityWarning, EvalkitDeprecationWarning, SmallGroupWarning,
                            SpecificationError, UnknownNameError)
from evalkit.pre_post import (ADJUSTED_MEAN_COLUMNS, PREPOST_COLUMNS, TERM_COLUMNS, AncovaResult,
                             ancova, prepost)

# Twelve mothers' EPDS scores (higher is worse). The changes have distinct absolute values and none
# is zero, so the Wilcoxon test uses scipy's exact null distribution (fast).
BEFORE = np.array([18, 15, 21, 12, 16, 19, 14, 20, 17, 13, 22, 15], dtype=float)
AFTER = BEFORE + np.array([-6, -1, -5, 2, -7, -3, 4, -8, -9, -10, -12, 11], dtype=float)


def _rows(out: pd.DataFrame) -> dict:
    return {row.effect_size: row for row in out.itertuples()}


def _nct_interval(t: float, df: int, confidence: float) -> tuple[float, float]:
    """Noncentrality interval of an observed t, computed independently of scipy.stats.nct: the
    noncentral t cdf from its definition, T = (Z + nc)/sqrt(V/df) with V ~ chi2(df), is
    P(T <= t) = E[Phi(t sqrt(V/df) - nc)], integrated by Simpson's rule on a fine grid of V, and
    inverted by root finding."""
    v = np.linspace(0, df + 60 * math.sqrt(2 * df) + 60, 100_001)
    weight = stats.chi2.pdf(v, df)
    root = np.sqrt(v / df)

    def cdf(nc):
        return float(integrate.simpson(special.ndtr(t * root - nc) * weight, x=v))

    alpha = 1 - confidence
    lo = optimize.brentq(lambda nc: cdf(nc) - (1 - alpha / 2), t - 6, t + 6, xtol=1e-11)
    hi = optimize.brentq(lambda nc: cdf(nc) - alpha / 2, t - 6, t + 6, xtol=1e-11)
    return lo, hi


# ====================================================================== layout
def test_layout_one_row_per_effect_size_under_its_test():
    out = prepost(BEFORE, AFTER)
    assert list(out.columns) == PREPOST_COLUMNS  # no improvement column without a direction
    assert out["test"].tolist() == ["paired_t"] * 3 + ["wilcoxon"]
    assert out["effect_size"].tolist() == ["d_z", "d_av", "g_av", "rank_biserial"]
    t_rows = out[out["test"] == "paired_t"]
    for col in ("estimate", "ci_low", "ci_high", "statistic", "df", "p_value"):
        assert t_rows[col].nunique() == 1  # test-level values repeat on the test's rows
    wil = out.iloc[3]
    assert np.isnan(wil["ci_low"]) and np.isnan(wil["df"]) and np.isnan(wil["effect_ci_low"])
    assert out["n_pairs"].tolist() == [12] * 4 and out["n_excluded"].tolist() == [0] * 4


# ====================================================================== paired t-test
def test_paired_t_matches_scipy_and_pingouin():
    out = _rows(prepost(BEFORE, AFTER))["d_z"]
    ref = stats.ttest_rel(AFTER, BEFORE)
    assert out.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert out.df == ref.df == 11
    pgr = pg.ttest(AFTER, BEFORE, paired=True)
    assert out.statistic == pytest.approx(pgr["T"].iloc[0], rel=1e-12)
    assert out.p_value == pytest.approx(pgr["p_val"].iloc[0], rel=1e-10)


def test_mean_change_and_its_interval_by_hand():
    diff = AFTER - BEFORE
    n = len(diff)
    for conf in (0.95, 0.90):
        out = _rows(prepost(BEFORE, AFTER, confidence=conf))["d_z"]
        half = stats.t.ppf((1 + conf) / 2, n - 1) * diff.std(ddof=1) / math.sqrt(n)
        assert out.estimate == pytest.approx(diff.mean(), rel=1e-12)
        assert out.ci_low == pytest.approx(diff.mean() - half, rel=1e-10)
        assert out.ci_high == pytest.approx(diff.mean() + half, rel=1e-10)


# ====================================================================== effect sizes
def test_effect_sizes_by_hand_lakens_2013():
    rows = _rows(prepost(BEFORE, AFTER))
    diff = AFTER - BEFORE
    n = len(diff)
    d_z = diff.mean() / diff.std(ddof=1)                                       # Lakens 2013: d_z
    d_av = diff.mean() / ((BEFORE.std(ddof=1) + AFTER.std(ddof=1)) / 2)        # Lakens 2013: d_av
    g_av = d_av * (1 - 3 / (4 * (n - 1) - 1))
    assert rows["d_z"].effect == pytest.approx(d_z, rel=1e-12)
    assert rows["d_av"].effect == pytest.approx(d_av, rel=1e-12)
    assert rows["g_av"].effect == pytest.approx(g_av, rel=1e-12)
    # t = d_z * sqrt(n): the paired t-test is the test of d_z
    assert rows["d_z"].statistic == pytest.approx(d_z * math.sqrt(n), rel=1e-12)


@pytest.mark.parametrize("conf", [0.95, 0.90, 0.99])
def test_dz_interval_is_the_noncentral_t_inversion(conf):
    rows = _rows(prepost(BEFORE, AFTER, confidence=conf))
    diff = AFTER - BEFORE
    n = len(diff)
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(n))
    lo, hi = _nct_interval(t, n - 1, conf)
    assert rows["d_z"].effect_ci_low == pytest.approx(lo / math.sqrt(n), abs=1e-8)
    assert rows["d_z"].effect_ci_high == pytest.approx(hi / math.sqrt(n), abs=1e-8)
    # the defining property, directly
    alpha = 1 - conf
    assert stats.nct.cdf(t, n - 1, rows["d_z"].effect_ci_low * math.sqrt(n)) == pytest.approx(
        1 - alpha / 2, abs=1e-9)
    assert stats.nct.cdf(t, n - 1, rows["d_z"].effect_ci_high * math.sqrt(n)) == pytest.approx(
        alpha / 2, abs=1e-9)
    assert rows["d_z"].effect_ci_low < rows["d_z"].effect < rows["d_z"].effect_ci_high


def test_dz_interval_agrees_with_large_sample_normal_approximation():
    rng = np.random.default_rng(11)
    before = rng.normal(40, 8, 300)
    after = before + rng.normal(2, 6, 300)
    d = _rows(prepost(before, after))["d_z"]
    se = math.sqrt(1 / 300 + d.effect ** 2 / (2 * 300))
    assert d.effect_ci_low == pytest.approx(d.effect - 1.959964 * se, abs=0.005)
    assert d.effect_ci_high == pytest.approx(d.effect + 1.959964 * se, abs=0.005)


def test_dav_and_gav_intervals_algina_keselman():
    rows = _rows(prepost(BEFORE, AFTER))
    diff = AFTER - BEFORE
    n = len(diff)
    sd_av = (BEFORE.std(ddof=1) + AFTER.std(ddof=1)) / 2
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(n))
    lo, hi = _nct_interval(t, n - 1, 0.95)
    scale = diff.std(ddof=1) / (math.sqrt(n) * sd_av)
    assert rows["d_av"].effect_ci_low == pytest.approx(lo * scale, abs=1e-8)
    assert rows["d_av"].effect_ci_high == pytest.approx(hi * scale, abs=1e-8)
    j = 1 - 3 / (4 * (n - 1) - 1)
    assert rows["g_av"].effect_ci_low == pytest.approx(j * lo * scale, abs=1e-8)
    assert rows["g_av"].effect_ci_high == pytest.approx(j * hi * scale, abs=1e-8)


def test_dav_interval_equals_published_algina_keselman_formula_when_sds_are_equal():
    # after is a shuffled copy of before plus 2 points, so SD_before == SD_after and Lakens'
    # average SD equals Algina & Keselman's root mean variance.
    before = np.array([10, 14, 9, 17, 12, 15, 11, 16, 13, 8, 18, 12, 20, 7], dtype=float)
    after = np.roll(before, 3) + 2
    assert before.std(ddof=1) == pytest.approx(after.std(ddof=1), rel=1e-14)
    rows = _rows(prepost(before, after))
    n = len(before)
    s1, s2 = before.std(ddof=1), after.std(ddof=1)
    r = np.corrcoef(before, after)[0, 1]
    t = (after.mean() - before.mean()) / math.sqrt((s1 ** 2 + s2 ** 2 - 2 * r * s1 * s2) / n)
    lo, hi = _nct_interval(t, n - 1, 0.95)
    factor = math.sqrt(2 * (s1 ** 2 + s2 ** 2 - 2 * r * s1 * s2) / (n * (s1 ** 2 + s2 ** 2)))
    d = (after.mean() - before.mean()) / math.sqrt((s1 ** 2 + s2 ** 2) / 2)
    assert rows["d_av"].effect == pytest.approx(d, rel=1e-12)
    assert rows["d_av"].effect_ci_low == pytest.approx(lo * factor, abs=1e-8)
    assert rows["d_av"].effect_ci_high == pytest.approx(hi * factor, abs=1e-8)


def test_effects_are_signed_after_minus_before():
    up = _rows(prepost(BEFORE, AFTER))
    down = _rows(prepost(AFTER, BEFORE))
    for name in ("d_z", "d_av", "g_av", "rank_biserial"):
        assert down[name].effect == pytest.approx(-up[name].effect, rel=1e-12)
    assert down["d_z"].effect_ci_low == pytest.approx(-up["d_z"].effect_ci_high, abs=1e-8)


# ====================================================================== Wilcoxon
def test_wilcoxon_matches_scipy_exact_case():
    out = _rows(prepost(BEFORE, AFTER))["rank_biserial"]
    ref = stats.wilcoxon(AFTER, BEFORE)
    assert out.statistic == ref.statistic
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert out.estimate == np.median(AFTER - BEFORE)
    pgr = pg.wilcoxon(AFTER, BEFORE)
    assert out.effect == pytest.approx(pgr["RBC"].iloc[0], rel=1e-12)


def test_wilcoxon_matches_scipy_small_n_with_ties():
    # 10 pairs with tied changes: scipy's exact permutation distribution
    before = np.array([14, 16, 12, 18, 15, 13, 17, 19, 11, 16], dtype=float)
    after = before + np.array([-2, -2, 1, -3, -1, -3, 2, -4, -1, -5], dtype=float)
    out = _rows(prepost(before, after))["rank_biserial"]
    ref = stats.wilcoxon(after, before)
    assert out.statistic == ref.statistic
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_wilcoxon_matches_scipy_with_ties_and_zeros():
    rng = np.random.default_rng(5)
    before = rng.integers(8, 25, 40).astype(float)
    after = before + rng.integers(-4, 3, 40)  # many ties and some zero changes
    diff = after - before
    assert (diff == 0).any() and len(np.unique(np.abs(diff))) < len(diff)
    out = _rows(prepost(before, after))["rank_biserial"]
    ref = stats.wilcoxon(after, before, zero_method="wilcox", correction=True)
    assert out.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert out.n_pairs == 40  # zero changes are counted in n_pairs though dropped from the ranks


def test_rank_biserial_by_hand():
    rng = np.random.default_rng(6)
    before = rng.integers(8, 25, 30).astype(float)
    after = before + rng.integers(-5, 3, 30)
    d = after - before
    d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    expected = (ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum()
    out = _rows(prepost(before, after))["rank_biserial"]
    assert out.effect == pytest.approx(expected, rel=1e-12)


# ====================================================================== missing pairs
def test_missing_pairs_are_dropped_and_counted():
    before = list(BEFORE) + [np.nan, 14.0, None]
    after = list(AFTER) + [12.0, np.nan, None]
    out = prepost(before, after)
    complete = prepost(BEFORE, AFTER)
    assert out["n_pairs"].tolist() == [12] * 4
    assert out["n_excluded"].tolist() == [3] * 4
    pd.testing.assert_frame_equal(out.drop(columns="n_excluded"),
                                  complete.drop(columns="n_excluded"))


def test_series_with_pd_na_and_shared_index():
    idx = [f"m{i}" for i in range(14)]
    before = pd.Series([*BEFORE, 10, pd.NA], index=idx, dtype="Float64")
    after = pd.Series([*AFTER, pd.NA, 9], index=idx, dtype="Float64")
    out = prepost(before, after)
    assert out["n_pairs"].iloc[0] == 12 and out["n_excluded"].iloc[0] == 2
    with pytest.raises(SpecificationError, match="different indexes"):
        prepost(before, after.set_axis([f"x{i}" for i in range(14)]))


def test_lengths_must_match():
    with pytest.raises(SpecificationError, match="before has 12 scores but after has 11"):
        prepost(BEFORE, AFTER[:-1])


# ====================================================================== direction
def test_direction_and_instrument_sign_the_improvement():
    change = (AFTER - BEFORE).mean()
    better = prepost(BEFORE, AFTER, direction="higher_better")
    worse = prepost(BEFORE, AFTER, direction="higher_worse")
    epds = prepost(BEFORE, AFTER, instrument="epds")
    assert list(better.columns) == [*PREPOST_COLUMNS, "improvement"]
    assert better["improvement"].iloc[0] == pytest.approx(change)
    assert worse["improvement"].iloc[0] == pytest.approx(-change)
    assert epds["improvement"].iloc[0] == pytest.approx(-change)  # EPDS: a fall is an improvement
    assert epds["improvement"].iloc[0] > 0
    assert epds["improvement"].iloc[3] == pytest.approx(-np.median(AFTER - BEFORE))
    # effects stay signed after - before whatever the direction
    pd.testing.assert_series_equal(epds["effect"], better["effect"])
    wemwbs = prepost(BEFORE + 30, AFTER + 30, instrument="wemwbs")  # higher is better
    assert wemwbs["improvement"].iloc[0] == pytest.approx(change)


def test_direction_errors():
    with pytest.raises(SpecificationError, match="contradicts the instrument"):
        prepost(BEFORE, AFTER, direction="higher_better", instrument="epds")
    prepost(BEFORE, AFTER, direction="higher_worse", instrument="epds")  # agreeing is fine
    with pytest.raises(SpecificationError, match="direction='up' is not one of"):
        prepost(BEFORE, AFTER, direction="up")
    with pytest.raises(UnknownNameError, match="not registered"):
        prepost(BEFORE, AFTER, instrument="no_such_scale")
    with pytest.raises(SpecificationError, match="outside the epds range"):
        prepost(BEFORE, np.where(AFTER == 3, 31, AFTER), instrument="epds")


# ====================================================================== small n
@pytest.mark.parametrize("n", [3, 5, 9])
def test_small_n_warns_that_results_are_fragile(n):
    with pytest.warns(SmallGroupWarning, match=rf"only {n} complete pairs .*results are fragile"):
        out = prepost(BEFORE[:n], AFTER[:n])
    assert out["n_pairs"].iloc[0] == n


def test_small_n_counts_complete_pairs_only():
    after = AFTER.copy()
    after[:3] = np.nan
    with pytest.warns(SmallGroupWarning, match="only 9 complete pairs"):
        prepost(BEFORE, after)
    prepost(BEFORE[:10], AFTER[:10])  # 10 pairs: no warning (warnings are errors in this suite)


def test_fewer_than_three_pairs_is_an_error():
    with pytest.raises(SpecificationError, match="at least 3 complete before-after pairs, got 2"):
        prepost([10, 12, np.nan], [8, 9, 7])


def test_constant_change_is_an_error():
    with pytest.raises(SpecificationError, match="SD of the changes is 0"):
        prepost(BEFORE, BEFORE - 2)


@pytest.mark.parametrize("conf", [0, 1, 95, True, "0.95"])
def test_bad_confidence(conf):
    with pytest.raises(SpecificationError, match="confidence must lie strictly between 0 and 1"):
        prepost(BEFORE, AFTER, confidence=conf)


# ====================================================================== ANCOVA
def _cohort(n=60, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = np.tile(["north", "south", "east"], n // 3)
    base = rng.integers(8, 26, n).astype(float)
    age = rng.normal(30, 5, n).round(1)
    lang = rng.choice(["english", "urdu", "polish"], n)
    shift = pd.Series(site).map({"north": 0.0, "south": -2.0, "east": 1.0}).to_numpy()
    end = (3 + 0.6 * base + shift + 0.05 * age + rng.normal(0, 2.5, n)).round()
    return pd.DataFrame({"site": site, "epds_0": base, "epds_12": end, "age": age, "lang": lang})


def test_ancova_coefficients_equal_statsmodels_ols():
    data = _cohort()
    res = ancova(data, outcome="epds_12", baseline="epds_0", by="site", reference="north")
    assert isinstance(res, AncovaResult)
    assert list(res.table.columns) == TERM_COLUMNS
    ref = smf.ols("epds_12 ~ epds_0 + C(site, Treatment(reference='north'))", data).fit()
    names = {"Intercept": "Intercept", "epds_0": "epds_0",
             "site[T.east]": "C(site, Treatment(reference='north'))[T.east]",
             "site[T.south]": "C(site, Treatment(reference='north'))[T.south]"}
    assert res.table["term"].tolist() == ["Intercept", "epds_0", "site[T.east]", "site[T.south]"]
    tab = res.table.set_index("term")
    ci = ref.conf_int()
    for term, sm_name in names.items():
        assert tab.at[term, "estimate"] == pytest.approx(ref.params[sm_name], rel=1e-10)
        assert tab.at[term, "std_error"] == pytest.approx(ref.bse[sm_name], rel=1e-10)
        assert tab.at[term, "statistic"] == pytest.approx(ref.tvalues[sm_name], rel=1e-10)
        assert tab.at[term, "p_value"] == pytest.approx(ref.pvalues[sm_name], rel=1e-8)
        assert tab.at[term, "ci_low"] == pytest.approx(ci.loc[sm_name, 0], rel=1e-10)
        assert tab.at[term, "ci_high"] == pytest.approx(ci.loc[sm_name, 1], rel=1e-10)
    assert (tab["df"] == ref.df_resid).all() and ref.df_resid == 60 - 4
    assert res.n == 60 and res.exclusions.empty


def test_ancova_adjusted_means_are_predictions_at_mean_baseline():
    data = _cohort()
    res = ancova(data, outcome="epds_12", baseline="epds_0", by="site", reference="north")
    assert list(res.adjusted_means.columns) == ADJUSTED_MEAN_COLUMNS
    b = res.table.set_index("term")["estimate"]
    mean_base = data["epds_0"].mean()
    adj = res.adjusted_means.set_index("group")
    assert adj.index.tolist() == ["north", "east", "south"]  # reference first
    assert adj["at_baseline"].tolist() == pytest.approx([mean_base] * 3)
    by_hand = {"north": b["Intercept"] + b["epds_0"] * mean_base,
               "east": b["Intercept"] + b["epds_0"] * mean_base + b["site[T.east]"],
               "south": b["Intercept"] + b["epds_0"] * mean_base + b["site[T.south]"]}
    # raw is statsmodels OLS on the design matrix whose columns are the table's terms
    rows = pd.DataFrame({"Intercept": 1.0, "epds_0": mean_base,
                         "site[T.east]": [0.0, 1.0, 0.0], "site[T.south]": [0.0, 0.0, 1.0]})
    pred = res.raw.get_prediction(rows[res.table["term"].tolist()])
    frame = pred.summary_frame(alpha=0.05)
    for i, (site, value) in enumerate(by_hand.items()):
        assert adj.at[site, "estimate"] == pytest.approx(value, rel=1e-12)
        assert adj.at[site, "std_error"] == pytest.approx(frame["mean_se"].iloc[i], rel=1e-10)
        assert adj.at[site, "ci_low"] == pytest.approx(frame["mean_ci_lower"].iloc[i], rel=1e-10)
        assert adj.at[site, "ci_high"] == pytest.approx(frame["mean_ci_upper"].iloc[i], rel=1e-10)
        assert adj.at[site, "n"] == 20
        assert adj.at[site, "observed_mean"] == pytest.approx(
            data.loc[data["site"] == site, "epds_12"].mean())
    # contrast = difference of adjusted means
    assert adj.at["south", "estimate"] - adj.at["north", "estimate"] == pytest.approx(
        b["site[T.south]"], rel=1e-10)


def test_ancova_reference_level_is_respected():
    data = _cohort()
    north = ancova(data, outcome="epds_12", baseline="epds_0", by="site", reference="north")
    south = ancova(data, outcome="epds_12", baseline="epds_0", by="site", reference="south")
    default = ancova(data, outcome="epds_12", baseline="epds_0", by="site")
    assert south.table["term"].tolist() == ["Intercept", "epds_0", "site[T.east]", "site[T.north]"]
    assert default.table["term"].tolist()[2:] == ["site[T.north]", "site[T.south]"]  # "east" first
    tn, ts = north.table.set_index("term"), south.table.set_index("term")
    assert ts.at["site[T.north]", "estimate"] == pytest.approx(-tn.at["site[T.south]", "estimate"])
    assert ts.at["site[T.north]", "p_value"] == pytest.approx(tn.at["site[T.south]", "p_value"])
    assert south.adjusted_means["group"].iloc[0] == "south"
    # adjusted means do not depend on the reference
    a = north.adjusted_means.set_index("group").sort_index()
    b = south.adjusted_means.set_index("group").sort_index()
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-10)
    np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=1e-10)


def test_ancova_with_numeric_and_categorical_covariates():
    data = _cohort()
    res = ancova(data, outcome="epds_12", baseline="epds_0", by="site",
                 covariates=["age", "lang"], reference="north")
    ref = smf.ols("epds_12 ~ epds_0 + C(site, Treatment(reference='north')) + age + C(lang)",
                  data).fit()
    assert res.table["term"].tolist() == ["Intercept", "epds_0", "site[T.east]", "site[T.south]",
                                          "age", "lang[T.polish]", "lang[T.urdu]"]
    tab = res.table.set_index("term")
    assert tab.at["age", "estimate"] == pytest.approx(ref.params["age"], rel=1e-10)
    assert tab.at["lang[T.urdu]", "std_error"] == pytest.approx(ref.bse["C(lang)[T.urdu]"],
                                                                rel=1e-10)
    assert tab.at["site[T.south]", "estimate"] == pytest.approx(
        ref.params["C(site, Treatment(reference='north'))[T.south]"], rel=1e-10)
    assert tab["df"].iloc[0] == ref.df_resid == 60 - 7
    # adjusted mean: covariates at their means, language dummies at their proportions
    b = ref.params
    at = (b["Intercept"] + b["epds_0"] * data["epds_0"].mean() + b["age"] * data["age"].mean()
          + b["C(lang)[T.polish]"] * (data["lang"] == "polish").mean()
          + b["C(lang)[T.urdu]"] * (data["lang"] == "urdu").mean())
    adj = res.adjusted_means.set_index("group")["estimate"]
    assert adj["north"] == pytest.approx(at, rel=1e-10)
    assert adj["east"] == pytest.approx(at + b["C(site, Treatment(reference='north'))[T.east]"],
                                        rel=1e-10)
    # a single covariate may be given as a string
    one = ancova(data, outcome="epds_12", baseline="epds_0", by="site", covariates="age")
    assert one.table["term"].iloc[-1] == "age"


def test_ancova_exclusions_are_counted_and_warned():
    data = _cohort()
    data.loc[[0, 1], "epds_12"] = np.nan
    data.loc[1, "epds_0"] = np.nan          # also misses the outcome: counted once, under outcome
    data.loc[2, "epds_0"] = np.nan
    data.loc[3, "site"] = None
    data.loc[4, "age"] = np.nan
    with pytest.warns(DataQualityWarning, match=r"dropped 5 of 60 rows \(missing outcome 2, "
                                                r"missing baseline 1, missing group 1, "
                                                r"missing covariate 1\)"):
        res = ancova(data, outcome="epds_12", baseline="epds_0", by="site", covariates=["age"])
    assert res.exclusions.to_dict("records") == [
        {"reason": "missing outcome", "rows": 2}, {"reason": "missing baseline", "rows": 1},
        {"reason": "missing group", "rows": 1}, {"reason": "missing covariate", "rows": 1}]
    assert res.n == 55 == int(res.raw.nobs)
    complete = data.dropna(subset=["epds_12", "epds_0", "site", "age"])
    ref = smf.ols("epds_12 ~ epds_0 + C(site) + age", complete).fit()
    np.testing.assert_allclose(res.table["estimate"].iloc[:2], ref.params[["Intercept", "epds_0"]],
                               rtol=1e-10)
    assert res.adjusted_means["at_baseline"].iloc[0] == pytest.approx(complete["epds_0"].mean())
    assert res.adjusted_means["n"].sum() == 55
    # missing values in columns not used by the model are not exclusions
    data2 = _cohort()
    data2.loc[0, "lang"] = None
    assert ancova(data2, outcome="epds_12", baseline="epds_0", by="site").n == 60


def test_ancova_column_names_with_spaces():
    data = _cohort().rename(columns={"epds_0": "EPDS week 0", "epds_12": "EPDS week 12",
                                     "site": "the site"})
    res = ancova(data, outcome="EPDS week 12", baseline="EPDS week 0", by="the site",
                 reference="north")
    ref = ancova(_cohort(), outcome="epds_12", baseline="epds_0", by="site", reference="north")
    assert res.table["term"].tolist() == ["Intercept", "EPDS week 0", "the site[T.east]",
                                          "the site[T.south]"]
    assert repr(res).startswith("AncovaResult: EPDS week 12 adjusted for EPDS week 0, by the site")
    np.testing.assert_allclose(res.table["estimate"], ref.table["estimate"], rtol=1e-12)


def test_ancova_small_group_warns():
    data = _cohort().iloc[:45]
    data = pd.concat([data, pd.DataFrame({"site": ["west"] * 4, "epds_0": [12.0, 15, 18, 20],
                                          "epds_12": [10.0, 11, 15, 14], "age": 30.0,
                                          "lang": "english"})], ignore_index=True)
    with pytest.warns(SmallGroupWarning, match=r"'west' \(4\).*fragile"):
        res = ancova(data, outcome="epds_12", baseline="epds_0", by="site")
    assert res.adjusted_means.set_index("group").at["west", "n"] == 4


def test_ancova_errors():
    data = _cohort()
    kw = dict(outcome="epds_12", baseline="epds_0", by="site")
    with pytest.raises(SpecificationError, match=r"column\(s\) \['epds_6'\] not in the data"):
        ancova(data, outcome="epds_6", baseline="epds_0", by="site")
    with pytest.raises(SpecificationError, match="reference='west' is not a group"):
        ancova(data, reference="west", **kw)
    with pytest.raises(SpecificationError, match="only one group"):
        ancova(data.assign(site="north"), **kw)
    with pytest.raises(SpecificationError, match="more than one role"):
        ancova(data, covariates=["epds_0"], **kw)
    with pytest.raises(SpecificationError, match="'epds_12' holds values that are not numbers"):
        ancova(data.assign(epds_12=data["epds_12"].astype(object).where(data.index != 3, "n/a")),
               **kw)
    with pytest.raises(SpecificationError, match="collinear"):
        ancova(data.assign(epds_0=10.0), **kw)
    with pytest.raises(SpecificationError, match="data must be a pandas DataFrame"):
        ancova(data.to_dict(), **kw)
    with pytest.raises(SpecificationError, match="confidence must lie strictly"):
        ancova(data, confidence=1.5, **kw)


def test_ancova_repr():
    res = ancova(_cohort(), outcome="epds_12", baseline="epds_0", by="site", reference="north")
    assert repr(res).splitlines()[0] == ("AncovaResult: epds_12 adjusted for epds_0, by site "
                                         "(reference 'north'); n = 60, 0 excluded")
    assert "site[T.east]" in repr(res) and "<table" in res._repr_html_()
    assert res.summary() is res.table and list(res.raw.params.index) == res.table["term"].tolist()
    # the old name of by= still works for one release
    with pytest.warns(EvalkitDeprecationWarning, match="use by= instead"):
        old = ancova(_cohort(), outcome="epds_12", baseline="epds_0", group="site")
    new = ancova(_cohort(), outcome="epds_12", baseline="epds_0", by="site")
    pd.testing.assert_frame_equal(old.table, new.table)
