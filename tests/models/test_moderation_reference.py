"""Marginal means, change, contrasts, slopes and Johnson–Neyman against emmeans on lmerTest fits.

Fixtures: tests/reference/emmeans_reference.R -> emmeans_fixtures.json. Tolerances (issue 5):
estimates 1e-4 relative, SE 2e-3, df 2 %, CI limits 2e-3, Johnson–Neyman boundary 0.01 units.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek

REF = Path(__file__).parents[1] / "reference"
CASES = json.loads((REF / "emmeans_fixtures.json").read_text())["cases"]
MODES = ["one_to_one", "group", "both"]


def _data(subset=None):
    d = pd.read_csv(REF / "data" / "mothers3000.csv")
    d["delivery_mode"] = pd.Categorical(d["delivery_mode"], MODES)
    d["isolated"] = pd.Categorical(np.where(d["isolation"] >= 5, "yes", "no"), ["no", "yes"])
    if subset == "group":
        d = d.loc[d["delivery_mode"] == "group"].copy()
        d["delivery_mode"] = d["delivery_mode"].cat.remove_unused_categories()
    return d


def _close(ours, theirs, *, rel, what):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=rel, err_msg=what)


@pytest.fixture(scope="module")
def mode_fit():
    return ek.fit_mixed(_data(), outcome="wemwbs", fixed="weeks * delivery_mode",
                        subject="participant_id", random="weeks")


def test_marginal_means_by_mode_and_week(mode_fit):
    ref = CASES["mm_mode"]["emmeans"]
    mm = ek.marginal_means(mode_fit, at={"weeks": [0, 12]}, by="delivery_mode")
    mm = mm.set_index(["delivery_mode", "weeks"]).loc[list(zip(ref["delivery_mode"], ref["weeks"]))]
    _close(mm["estimate"], ref["emmean"], rel=1e-4, what="emmean")
    _close(mm["std_error"], ref["SE"], rel=2e-3, what="SE")
    _close(mm["df"], ref["df"], rel=0.02, what="df")
    _close(mm["ci_low"], ref["lower.CL"], rel=2e-3, what="lower CL")
    _close(mm["ci_high"], ref["upper.CL"], rel=2e-3, what="upper CL")


def test_change_from_baseline_and_pairwise_adjustments(mode_fit):
    ref = CASES["mm_mode"]["change_12_vs_0"]
    ch = ek.change_from_baseline(mode_fit, time="weeks", change=(0, 12), by="delivery_mode")
    ch = ch.set_index("delivery_mode").loc[ref["delivery_mode"]]
    _close(ch["estimate"], ref["estimate"], rel=1e-4, what="change")
    _close(ch["std_error"], ref["SE"], rel=2e-3, what="change SE")
    _close(ch["df"], ref["df"], rel=0.02, what="change df")
    _close(ch["ci_low"], ref["lower.CL"], rel=2e-3, what="change lower CL")
    pairs_ref = CASES["mm_mode"]["change_pairs"]
    change = ek.change_from_baseline(mode_fit, time="weeks", change=(0, 12), by="delivery_mode")
    for method, key, tol in (("holm", "p_holm", 1e-3), ("bh", "p_BH", 1e-3), ("tukey", "p_tukey", 2e-3),
                             ("none", "p_unadjusted", 1e-3)):
        pw = ek.pairwise(change, adjust=method)   # the public table, as returned
        _close(pw["estimate"], pairs_ref["estimate"], rel=1e-4, what="pair estimate")
        _close(pw["std_error"], pairs_ref["SE"], rel=2e-3, what="pair SE")
        _close(pw["p_value"], pairs_ref[key], rel=tol, what=f"{method} p")


def test_slopes_by_mode_and_interaction_test(mode_fit):
    ref = CASES["mm_mode"]["trends"]
    ce = ek.conditional_effects(mode_fit, effect="weeks", by="delivery_mode")
    ce = ce.set_index("delivery_mode").loc[ref["delivery_mode"]]
    _close(ce["estimate"], ref["weeks.trend"], rel=1e-4, what="slope")
    _close(ce["std_error"], ref["SE"], rel=2e-3, what="slope SE")
    _close(ce["df"], ref["df"], rel=0.02, what="slope df")
    _close(ce["ci_high"], ref["upper.CL"], rel=2e-3, what="slope upper CL")
    anova = CASES["mm_mode"]["anova_type3"]
    i = anova["term"].index("weeks:delivery_mode")
    assert ce["interaction_f"].iloc[0] == pytest.approx(anova["F_value"][i], rel=1e-3)
    assert ce["interaction_df1"].iloc[0] == 2
    assert ce["interaction_df2"].iloc[0] == pytest.approx(anova["DenDF"][i], rel=0.02)
    assert ce["interaction_p"].iloc[0] == pytest.approx(anova["p_value"][i], rel=0.05)


def test_slopes_by_two_level_factor():
    ref = CASES["trend_two_level"]["trends"]
    fit = ek.fit_mixed(_data(), outcome="wemwbs", fixed="weeks * isolated", subject="participant_id",
                       random="weeks")
    ce = ek.conditional_effects(fit, effect="weeks", by="isolated").set_index("isolated").loc[["no", "yes"]]
    _close(ce["estimate"], ref["weeks.trend"], rel=1e-4, what="slope")
    _close(ce["std_error"], ref["SE"], rel=2e-3, what="SE")
    _close(ce["df"], ref["df"], rel=0.02, what="df")
    _close(ce["ci_low"], ref["lower.CL"], rel=2e-3, what="lower CL")


@pytest.fixture(scope="module")
def iso_fit():
    return ek.fit_mixed(_data(), outcome="wemwbs", fixed="weeks * isolation", subject="participant_id",
                        random="weeks")


def test_slopes_at_continuous_moderator_values(iso_fit):
    case = CASES["trend_continuous"]
    for key in ("trends_at_mean_sd", "trends_at_values"):
        ref = case[key]
        ce = ek.conditional_effects(iso_fit, effect="weeks", by="isolation", at=ref["isolation"])
        _close(ce["estimate"], ref["weeks.trend"], rel=1e-4, what=f"{key} slope")
        _close(ce["std_error"], ref["SE"], rel=2e-3, what=f"{key} SE")
        _close(ce["df"], ref["df"], rel=0.02, what=f"{key} df")
        _close(ce["ci_low"], ref["lower.CL"], rel=2e-3, what=f"{key} lower CL")
    summary = case["isolation_summary"]
    default = ek.conditional_effects(iso_fit, effect="weeks", by="isolation")
    _close(default["isolation"], [summary["mean"] - summary["sd"], summary["mean"],
                                  summary["mean"] + summary["sd"]], rel=1e-9, what="mean ± SD")


def test_johnson_neyman_boundaries(iso_fit):
    ref = CASES["trend_continuous_group"]["johnson_neyman"]["boundaries"]
    fit = ek.fit_mixed(_data("group"), outcome="wemwbs", fixed="weeks * isolation",
                       subject="participant_id", random="weeks")
    jn = ek.johnson_neyman(fit, effect="weeks", by="isolation")
    inside = jn.bounds.loc[jn.bounds.inside_data, "moderator_value"].to_numpy()
    expected = [b["x"] for b in ref if b["inside_data"]]
    assert len(inside) == len(expected) == 1
    assert inside[0] == pytest.approx(expected[0], abs=0.01)
    # full data: significant over the whole observed range, no boundary inside it
    jn_all = ek.johnson_neyman(iso_fit, effect="weeks", by="isolation")
    assert not jn_all.bounds["inside_data"].any()
    assert jn_all.curve["significant"].all()
    assert {"isolation", "estimate", "ci_low", "ci_high", "df"} <= set(jn.curve.columns)


def test_johnson_neyman_plot_shows_curve():
    import matplotlib.pyplot as plt

    fit = ek.fit_mixed(_data("group"), outcome="wemwbs", fixed="weeks * isolation",
                       subject="participant_id", random="weeks")
    jn = ek.johnson_neyman(fit, effect="weeks", by="isolation")
    fig, ax = plt.subplots()
    assert jn.plot(ax=ax) is ax
    assert len(ax.lines) >= 2 and ax.collections  # curve, zero line, CI band
    plt.close(fig)
