"""Sentences claim no more than the protected numbers: direction only when the CI excludes 0 and in
words that follow whether higher is better, groups only when the adjusted test supports a
difference, hidden counts never guessed and never called small unless the published tables say so."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.report.disclosure import Bounds, ProtectedTable
from evalkit.report.narrative import (Cell, attrition_sentence, change_sentence, context_sentence,
                                      count_phrase, group_change_sentence, improvement,
                                      mechanisms_sentence, reliable_change_sentence)


def _table(data: pd.DataFrame, hidden=(), bounds=None) -> ProtectedTable:
    mask = pd.DataFrame(False, index=data.index, columns=data.columns)
    for row, col in hidden:
        mask.loc[row, col] = True
    shown = data.mask(mask)
    return ProtectedTable(name="t", data=shown, hidden=mask, threshold=5, kinds={},
                          columns={}, bounds=bounds or {})


def test_direction_is_named_only_when_the_interval_excludes_zero():
    worse = change_sentence("WEMWBS", estimate=-2.0, ci_low=-3.5, ci_high=-0.5, higher_is="better",
                            weeks=(0, 12))
    assert "fell by 2.0 points" in worse and "a worsening" in worse
    unclear = change_sentence("WEMWBS", estimate=1.0, ci_low=-0.5, ci_high=2.5, higher_is="better",
                              weeks=(0, 12), mid=3)
    assert "could be no change at all" in unclear and "improv" not in unclear
    assert "anywhere from 0.5 points lower to 2.5 points higher" in unclear
    nan = change_sentence("WEMWBS", estimate=np.nan, ci_low=np.nan, ci_high=np.nan,
                          higher_is="better", weeks=(0, 12))
    assert nan == "The average change in WEMWBS could not be estimated."


def test_mid_comparison_uses_the_whole_interval():
    above = change_sentence("X", estimate=6.0, ci_low=4.0, ci_high=8.0, higher_is="better",
                            weeks=(0, 12), mid=3)
    below = change_sentence("X", estimate=1.5, ci_low=1.0, ci_high=2.0, higher_is="better",
                            weeks=(0, 12), mid=3)
    assert "the whole likely range is above it" in above
    assert "smaller than one mothers would notice" in below


def test_a_hidden_count_is_small_only_when_the_published_bounds_say_so():
    # issue 11: "fewer than 5 reliably improved" was said of a count of 17 hidden as a complement
    assert count_phrase(Cell(np.nan, False, upper=30.0), 5) == \
        "a number not shown to protect small groups"
    assert count_phrase(Cell(np.nan, False, upper=4.0), 5) == "fewer than 5"
    assert count_phrase(Cell(np.nan, False, upper=None), 10) == \
        "a number not shown to protect small groups"
    assert count_phrase(Cell(55.0, True), 10) == "55"


def test_reliable_change_sentence_never_adds_up_hidden_parts():
    hid = Cell(np.nan, False, upper=22.0)
    rows = {"improved": (Cell(17.0, True), Cell(0.298, True), Cell(57.0, True)),
            "unchanged": (hid, hid, Cell(57.0, True)),
            "deteriorated": (hid, hid, Cell(57.0, True))}
    text = reliable_change_sentence("EPDS", rows, threshold=5, rc_threshold=4.0)
    assert "Of 57 mothers" in text and "17 (30%) reliably improved" in text
    assert "fewer than" not in text
    assert text.count("a number not shown to protect small groups") == 2
    none = reliable_change_sentence("EPDS", {k: (hid, hid, Cell(np.nan, False, upper=80.0))
                                             for k in rows}, threshold=5)
    assert "not shown, to protect small groups" in none and "Of" not in none


def test_largest_improvement_follows_the_direction_of_the_scale():
    # issue 11: EPDS (higher = worse) was described "largest for Group (-1.7) ... smallest for
    # One-to-one and group (-4.9)": the largest improvement is the largest fall
    t = _table(pd.DataFrame({"group": ["Group", "One-to-one", "One-to-one and group"],
                             "estimate": [-1.7, -3.0, -4.9], "ci_low": [-3.0, -4.0, -7.0],
                             "ci_high": [-0.4, -2.0, -2.8]}))
    text = group_change_sentence("EPDS", t, higher_is="worse")
    assert "largest for One-to-one and group (a fall of 4.9 points" in text
    assert "smallest for Group (a fall of 1.7 points" in text
    assert improvement(-4.9, "worse") > improvement(-1.7, "worse")
    wemwbs = group_change_sentence("WEMWBS", _table(pd.DataFrame({
        "group": ["A", "B"], "estimate": [1.76, 5.3], "ci_low": [-0.82, 3.6],
        "ci_high": [4.34, 6.9]})), higher_is="better")
    assert "largest for B" in wemwbs and "For A the change could be no change at all" in wemwbs
    assert "anywhere from 0.8 points lower to 4.3 points higher" in wemwbs


def test_hidden_groups_are_named_as_not_shown_never_as_small():
    t = _table(pd.DataFrame({"group": ["A", "B", "C"], "estimate": [2.0, 3.0, 9.0],
                             "ci_low": [1.0, 2.0, 5.0], "ci_high": [3.0, 4.0, 13.0]}),
               hidden=[(2, "estimate"), (2, "ci_low"), (2, "ci_high")])
    text = group_change_sentence("WEMWBS", t, higher_is="better")
    assert "Not shown, to protect small groups: C." in text and "9.0" not in text


def _scan(p_adjusted):
    data = pd.DataFrame({
        "context": ["Site"] * 4, "level": ["North", "South", "East", "West"],
        "status": ["estimated", "estimated", "too few to estimate (fewer than 10)",
                   "not shown (protects a small group)"],
        "mothers": [40, 35, 7, np.nan], "estimate": [1.0, 5.0, np.nan, np.nan],
        "heterogeneity_p_adjusted": [p_adjusted, p_adjusted, np.nan, np.nan]})
    return _table(data, hidden=[(3, "mothers")])


def test_context_sentence_names_groups_only_with_support_and_one_minimum_size():
    supported = context_sentence("WEMWBS", _scan(0.01), higher_is="better", min_group=10)
    assert "differed by site" in supported and "largest for South (a rise of 5.0 points)" in supported
    unsupported = context_sentence("WEMWBS", _scan(0.30), higher_is="better", min_group=10)
    assert "did not differ" in unsupported and "North" not in unsupported
    assert "Too few mothers to estimate (fewer than 10): East (site)." in unsupported
    # a hidden group is not said to be small: it may have been hidden to protect a neighbour
    assert "Not shown, to protect small groups: West (site)." in unsupported
    epds = context_sentence("EPDS", _scan(0.01), higher_is="worse", min_group=10)
    assert "largest for North (a rise of 1.0 points)" in epds


def test_attrition_sentence_uses_shown_counts_only():
    text = attrition_sentence(Cell(200.0, True), Cell(120.0, True), threshold=5)
    assert text.startswith("80 of 200 mothers who started support (40%)")
    hidden = attrition_sentence(Cell(200.0, True), Cell(np.nan, False, upper=60), threshold=5)
    assert "not shown" in hidden and "200" not in hidden


def test_mechanisms_sentence_reports_negative_comparison_plainly():
    data = pd.DataFrame({"mechanism": ["understood", "negative comparison"],
                         "group": ["all", "all"], "n": [120, 120], "mean": [2.5, 0.9],
                         "agree": [60, 7], "percent_agree": [50.0, 5.8333]})
    text = mechanisms_sentence(_table(data), threshold=5)
    assert "\u201cunderstood\u201d (mean 2.5 of 4)" in text
    assert "7 of 120 mothers (6%) rated negative comparison 3 or 4" in text
    hidden = mechanisms_sentence(_table(data, hidden=[(1, "agree"), (1, "percent_agree")],
                                        bounds={(1, "agree"): Bounds(1, 40)}), threshold=5)
    assert "a number not shown to protect small groups" in hidden and "fewer" not in hidden
