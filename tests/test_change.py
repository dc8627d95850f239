"""Reliable change, clinical significance, recovery and their summary: hand-worked checks.

Most tests build instrument specs inline (so they do not depend on spec files written elsewhere);
the EPDS tests use the real spec, and PHQ-9, GAD-7 and WEMWBS are checked when their specs exist.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit as ek
from evalkit.change import (CATEGORIES, CHANGE_COLUMNS, OUTCOMES, SUMMARY_COLUMNS,
                            ReliableChangeResult, jt_criterion_c, standard_error_of_difference)
from evalkit.errors import SpecificationError, UnknownNameError
from evalkit.instruments import Instrument

IMPROVED, SAME, WORSE = "reliable improvement", "no reliable change", "reliable deterioration"
Z95 = 1.959963984540054


def make_spec(sid: str = "wbtest", *, higher_is: str = "better", range_=(14, 70), change=None,
              caseness=None) -> Instrument:
    """A minimal valid instrument spec, built inline."""
    scale = {"id": sid, "label": f"{sid} total", "range": list(range_),
             "missing": {"rule": "complete", "official": False, "source": "test"}}
    if caseness is not None:
        scale["caseness"] = caseness
    return Instrument.model_validate({
        "id": sid, "name": f"{sid} test scale", "abbreviation": sid.upper(), "measures": "test",
        "higher_is": higher_is, "items": {"n": 2, "min": 0, "max": 5}, "scales": [scale],
        "change": change or {}, "licence": "test", "citation": "test"})


# WEMWBS as in instruments.md §1: J&T from Tennant 2007 (SD 8.79, alpha 0.91), no published RCI.
WB = make_spec("wbtest", higher_is="better", range_=(14, 70),
               change={"rci_sd": 8.79, "rci_reliability": 0.91, "rci_source": "Tennant 2007"},
               caseness={"value": 40, "op": "<=", "label": "probable depression", "source": "test"})
# A higher-is-worse twin with the same J&T inputs.
WORSE_SPEC = make_spec("worsetest", higher_is="worse", range_=(14, 70),
                       change={"rci_sd": 8.79, "rci_reliability": 0.91, "rci_source": "test"})
# CORE-10 as in instruments.md §6.2: published RCI 6, norms for criterion c.
CORE = make_spec("coretest", higher_is="worse", range_=(0, 40), change={
    "reliable_change": 6, "reliable_change_source": "Barkham 2013",
    "clinical": {"functional_mean": 4.7, "functional_sd": 4.8, "dysfunctional_mean": 19.7,
                 "dysfunctional_sd": 7.7, "source": "Connell & Barkham 2007"}},
    caseness={"value": 11, "op": ">=", "label": "clinical", "source": "Barkham 2013"})
NO_RULES = make_spec("bare", higher_is="better", range_=(0, 10))


def _registered(sid: str) -> Instrument:
    try:
        return ek.instruments.get(sid)
    except UnknownNameError:
        pytest.skip(f"the {sid} spec is not registered yet")


def _cats(result: ReliableChangeResult) -> list:
    return [None if pd.isna(c) else c for c in result.table["category"]]


# ====================================================================== Jacobson–Truax
def test_s_diff_hand_worked():
    # 8.79 · √2 · √(1 − 0.91) = 8.79 · 1.414214 · 0.3 = 3.72928
    assert standard_error_of_difference(8.79, 0.91) == pytest.approx(8.79 * math.sqrt(2) * 0.3)
    assert standard_error_of_difference(8.79, 0.91) == pytest.approx(3.72928, abs=1e-5)


def test_jt_worked_example_wemwbs():
    res = ek.reliable_change([45, 45, 45, 45, 45], [53, 52, 37, 38, 45], instrument=WB)
    assert res.method == "jt"
    assert res.confidence == 0.95
    assert res.s_diff == pytest.approx(3.72928, abs=1e-5)
    assert res.threshold == pytest.approx(7.31, abs=0.005)  # 1.96 · 3.7293
    t = res.table
    assert t["rci"].iloc[0] == pytest.approx(8 / 3.72928, abs=1e-4)
    assert t["rci"].iloc[0] == pytest.approx(2.145, abs=1e-3)
    assert _cats(res) == [IMPROVED, SAME, WORSE, SAME, SAME]  # +8, +7, −8, −7, 0
    assert (t["threshold"] == res.threshold).all()
    assert "Tennant 2007" in res.source


def test_jt_confidence_changes_threshold():
    res = ek.reliable_change([45], [52], instrument=WB, confidence=0.90)
    assert res.threshold == pytest.approx(1.644854 * 3.72928, abs=1e-4)  # 6.13
    assert _cats(res) == [IMPROVED]  # +7 is reliable at 90%


def test_jt_uses_strict_inequality_on_rci():
    s_diff = standard_error_of_difference(8.79, 0.91)
    exactly = 45 + Z95 * s_diff
    res = ek.reliable_change([45.0, 45.0], [exactly + 1e-6, exactly - 1e-6], instrument=WB)
    assert _cats(res) == [IMPROVED, SAME]


def test_real_wemwbs_spec_if_registered():
    spec = _registered("wemwbs")
    res = ek.reliable_change([45, 45, 45], [53, 52, 37], instrument=spec)
    assert res.method == "jt"
    assert res.threshold == pytest.approx(7.31, abs=0.01)
    assert _cats(res) == [IMPROVED, SAME, WORSE]


# ====================================================================== published thresholds (EPDS)
def test_epds_published_threshold_and_direction():
    res = ek.reliable_change([16, 16, 12, 16, 16], [12, 19, 16, 13, 20], instrument="epds")
    assert (res.method, res.threshold, res.higher_is) == ("published", 4.0, "worse")
    assert "Matthey 2004" in res.source
    t = res.table
    assert t["change"].tolist() == [-4, 3, 4, -3, 4]
    assert t["improvement"].tolist() == [4, -3, -4, 3, -4]  # higher is worse: a fall is better
    assert _cats(res) == [IMPROVED, SAME, WORSE, SAME, WORSE]  # "4 or more" includes 4


def test_epds_rci_column_is_jt_whatever_the_method():
    res = ek.reliable_change([16], [12], instrument="epds")
    s_diff = 4.5 * math.sqrt(2) * math.sqrt(1 - 0.87)
    assert res.table["rci"].iloc[0] == pytest.approx(-4 / s_diff)
    assert _cats(res) == [IMPROVED]  # the published rule decides, though |rci| = 1.74 < 1.96


def test_epds_forced_jt():
    res = ek.reliable_change([16, 16], [11, 12], instrument="epds", method="jt")
    assert res.method == "jt"
    assert res.threshold == pytest.approx(Z95 * 4.5 * math.sqrt(2) * math.sqrt(0.13))  # 4.50
    assert _cats(res) == [IMPROVED, SAME]


def test_epds_caseness_recovery_and_clinical_significance():
    before = [15, 16, 17, 15, 12, 14]
    after = [10, 12, 13, 13, 8, 12]
    res = ek.reliable_change(before, after, instrument="epds")
    t = res.table
    assert res.cut_off == "epds >= 13"
    assert t["case_before"].tolist() == [True, True, True, True, False, True]
    assert t["case_after"].tolist() == [False, False, True, True, False, False]
    # 15→10: −5, reliable improvement, case → non-case: recovered and clinically significant
    assert t["recovered"].iloc[0] is True or t["recovered"].iloc[0] == True  # noqa: E712
    assert t["recovered"].tolist()[:4] == [True, True, False, False]
    assert t["clinically_significant"].tolist() == [True, True, False, False, False, False]
    # 12→8 was not a case at baseline: not eligible to recover (NA), not clinically significant
    assert pd.isna(t["recovered"].iloc[4])
    # 14→12 crosses the cut-off without reliable change: neither
    assert t["recovered"].iloc[5] == False  # noqa: E712
    assert t["clinically_significant"].iloc[5] == False  # noqa: E712


def test_epds_mid_flags():
    res = ek.reliable_change([16, 16, 16, 16], [12, 13, 19, 18], instrument="epds")
    t = res.table
    assert t["mid_reached"].tolist() == [True, False, False, False]        # improvement ≥ 4
    assert t["mid_deterioration"].tolist() == [False, False, True, False]  # worsening ≥ 3


def test_mid_flags_na_when_spec_has_none():
    res = ek.reliable_change([45], [55], instrument=WB)
    assert res.table["mid_reached"].isna().all()
    assert res.table["mid_deterioration"].isna().all()


def test_phq9_if_registered():
    spec = _registered("phq9")
    res = ek.reliable_change([15, 15, 9, 15], [9, 10, 15, 20], instrument=spec)
    assert (res.method, res.threshold) == ("published", 6.0)
    assert _cats(res) == [IMPROVED, SAME, WORSE, SAME]


def test_gad7_if_registered():
    spec = _registered("gad7")
    res = ek.reliable_change([12, 12, 8, 12], [8, 9, 12, 15], instrument=spec)
    assert (res.method, res.threshold) == ("published", 4.0)
    assert _cats(res) == [IMPROVED, SAME, WORSE, SAME]


def test_published_threshold_tolerates_float_rounding():
    sw = make_spec("swtest", range_=(7, 35),
                   change={"reliable_change": 2.87, "reliable_change_source": "Shah 2018"})
    before, after = 7.0, 9.87  # metric scores; 9.87 - 7.0 = 2.869999999999999 in floats
    assert after - before < 2.87  # the float difference lands just below the threshold
    res = ek.reliable_change([before, after], [after, before], instrument=sw)
    assert _cats(res) == [IMPROVED, WORSE]


# ====================================================================== J&T criterion c (CORE-10)
def test_core10_criterion_c_hand_worked():
    c = (4.8 * 19.7 + 7.7 * 4.7) / (4.8 + 7.7)  # = 130.75 / 12.5
    assert c == pytest.approx(10.46)
    assert jt_criterion_c(4.7, 4.8, 19.7, 7.7) == pytest.approx(c)


def test_core10_jt_c_caseness():
    res = ek.reliable_change([18, 18, 11, 10.46, 20], [10, 11, 4, 3, 14], instrument=CORE,
                             clinical="jt_c")
    t = res.table
    assert res.clinical == "jt_c"
    assert res.cut_off == "coretest >= 10.46"
    assert "Connell & Barkham 2007" in res.cut_off_source
    assert t["case_before"].tolist() == [True, True, True, True, True]  # exactly c counts as a case
    assert t["case_after"].tolist() == [False, True, False, False, True]
    assert _cats(res) == [IMPROVED, IMPROVED, IMPROVED, IMPROVED, IMPROVED]  # falls of 6 or more
    assert t["clinically_significant"].tolist() == [True, False, True, True, False]
    # with the published caseness cut-off (>= 11) a score of 10.46 is not a case at baseline
    res = ek.reliable_change([10.46], [3], instrument=CORE)
    assert res.cut_off == "coretest >= 11"
    assert pd.isna(res.table["recovered"].iloc[0])


def test_jt_c_for_higher_is_better():
    spec = make_spec("bettertest", higher_is="better", range_=(0, 100), change={
        "rci_sd": 10, "rci_reliability": 0.9, "rci_source": "t",
        "clinical": {"functional_mean": 60, "functional_sd": 10, "dysfunctional_mean": 40,
                     "dysfunctional_sd": 10, "source": "t"}})
    res = ek.reliable_change([40, 45], [60, 50], instrument=spec, clinical="jt_c")
    assert res.cut_off == "bettertest <= 50"
    assert res.table["case_before"].tolist() == [True, True]
    assert res.table["case_after"].tolist() == [False, True]  # 50 is exactly c: still a case


def test_jt_c_unavailable_lists_caseness():
    with pytest.raises(SpecificationError, match=r"no functional/dysfunctional norms.*epds >= 13"):
        ek.reliable_change([16], [12], instrument="epds", clinical="jt_c")


def test_jt_c_contradicting_direction():
    spec = make_spec("badtest", higher_is="better", range_=(0, 40), change={
        "reliable_change": 6, "reliable_change_source": "t",
        "clinical": {"functional_mean": 4.7, "functional_sd": 4.8, "dysfunctional_mean": 19.7,
                     "dysfunctional_sd": 7.7, "source": "t"}})
    with pytest.raises(SpecificationError, match="fix higher_is or change.clinical"):
        ek.reliable_change([18], [10], instrument=spec, clinical="jt_c")


# ====================================================================== direction
def test_direction_higher_better_vs_worse():
    better = ek.reliable_change([45, 45], [53, 37], instrument=WB)
    worse = ek.reliable_change([45, 45], [53, 37], instrument=WORSE_SPEC)
    assert better.table["change"].tolist() == worse.table["change"].tolist() == [8, -8]
    assert better.table["improvement"].tolist() == [8, -8]
    assert worse.table["improvement"].tolist() == [-8, 8]
    assert _cats(better) == [IMPROVED, WORSE]
    assert _cats(worse) == [WORSE, IMPROVED]
    # rci is change / S_diff in raw direction for both
    assert better.table["rci"].tolist() == worse.table["rci"].tolist()


# ====================================================================== missing data, inputs
def test_missing_scores_give_na_rows_not_no_change():
    res = ek.reliable_change([16, None, np.nan, 16], [12, 12, pd.NA, np.nan], instrument="epds")
    t = res.table
    assert _cats(res) == [IMPROVED, None, None, None]
    assert t["change"].isna().tolist() == [False, True, True, True]
    for col in ["clinically_significant", "mid_reached", "mid_deterioration", "recovered"]:
        assert t[col].isna().tolist() == [False, True, True, True], col
    assert t["case_before"].isna().tolist() == [False, True, True, False]
    assert t["case_after"].isna().tolist() == [False, False, True, True]
    summary = ek.change_summary(res).set_index("outcome")
    assert summary.loc["no_reliable_change", "count"] == 0
    assert summary.loc["reliable_improvement", "n"] == 1
    assert summary.loc["reliable_improvement", "proportion"] == 1.0


def test_table_columns_and_types():
    res = ek.reliable_change([16, 12], [12, 16], instrument="epds")
    t = res.table
    assert list(t.columns) == CHANGE_COLUMNS
    assert t["category"].cat.ordered
    assert list(t["category"].cat.categories) == list(CATEGORIES)
    assert t["category"].iloc[1] < t["category"].iloc[0]  # deterioration < improvement
    for col in ["case_before", "case_after", "clinically_significant", "recovered", "mid_reached",
                "mid_deterioration"]:
        assert str(t[col].dtype) == "boolean", col


def test_series_index_is_kept():
    idx = pd.Index(["P1", "P2"], name="participant_id")
    res = ek.reliable_change(pd.Series([16, 12], index=idx), pd.Series([12, 16], index=idx),
                             instrument="epds")
    assert res.table.index.equals(idx)
    res = ek.reliable_change(pd.Series([16, 12], index=idx), [12, 16], instrument="epds")
    assert list(res.table.index) == ["P1", "P2"]


def test_series_with_different_indexes_error():
    with pytest.raises(SpecificationError, match="different indexes"):
        ek.reliable_change(pd.Series([16, 12], index=["a", "b"]),
                           pd.Series([12, 16], index=["b", "a"]), instrument="epds")


def test_length_mismatch_error():
    with pytest.raises(SpecificationError,
                       match=r"before has 3 scores but after has 2: pass one before and one after"):
        ek.reliable_change([16, 12, 10], [12, 16], instrument="epds")


def test_out_of_range_and_non_numeric_errors():
    with pytest.raises(SpecificationError, match=r"after has 1 score\(s\) outside the epds range 0-30"):
        ek.reliable_change([16, 12], [12, 45], instrument="epds")
    with pytest.raises(SpecificationError, match=r"not numbers at position 1 \('x'\)"):
        ek.reliable_change([16, "x"], [12, 16], instrument="epds")
    with pytest.raises(SpecificationError, match="one-dimensional"):
        ek.reliable_change(16, 12, instrument="epds")


def test_unknown_instrument_and_scale():
    with pytest.raises(UnknownNameError, match="not registered"):
        ek.reliable_change([1], [2], instrument="nope")
    with pytest.raises(UnknownNameError, match="no scale"):
        ek.reliable_change([1], [2], instrument="epds", scale="epds_x")


def test_non_primary_scale_has_no_change_rules():
    with pytest.raises(SpecificationError, match="describe the primary scale 'epds', not 'epds_3a'"):
        ek.reliable_change([6], [2], instrument="epds", scale="epds_3a")


# ====================================================================== method availability
def test_published_unavailable_lists_what_exists():
    with pytest.raises(SpecificationError,
                       match=r"no published reliable-change threshold.*rci_sd 8\.79 and "
                             r"rci_reliability 0\.91 \(method='jt'\)"):
        ek.reliable_change([45], [53], instrument=WB, method="published")


def test_jt_unavailable_lists_what_exists():
    with pytest.raises(SpecificationError,
                       match=r"no rci_sd/rci_reliability.*published threshold of 6 points"):
        ek.reliable_change([18], [10], instrument=CORE, method="jt")


def test_no_rules_at_all():
    with pytest.raises(SpecificationError, match="has no reliable-change rule.*no change rules at all"):
        ek.reliable_change([1], [2], instrument=NO_RULES)
    mid_only = make_spec("midonly", change={"mid_improvement": 3, "mid_source": "t"})
    with pytest.raises(SpecificationError, match="minimal important differences only"):
        ek.reliable_change([20], [30], instrument=mid_only)


def test_rci_nan_without_rci_sd():
    res = ek.reliable_change([18], [10], instrument=CORE)
    assert res.method == "published" and res.s_diff is None
    assert res.table["rci"].isna().all()


def test_bad_options():
    with pytest.raises(SpecificationError, match="method='rci' is not one of"):
        ek.reliable_change([16], [12], instrument="epds", method="rci")
    with pytest.raises(SpecificationError, match="clinical='c' is not one of"):
        ek.reliable_change([16], [12], instrument="epds", clinical="c")
    with pytest.raises(SpecificationError, match="confidence must lie strictly between 0 and 1"):
        ek.reliable_change([16], [12], instrument="epds", method="jt", confidence=95)
    with pytest.raises(SpecificationError, match="applies only to the Jacobson-Truax index"):
        ek.reliable_change([16], [12], instrument="epds", confidence=0.9)


def test_no_caseness_gives_na_recovery():
    spec = make_spec("nocase", change={"rci_sd": 8.79, "rci_reliability": 0.91, "rci_source": "t"})
    res = ek.reliable_change([45], [60], instrument=spec)
    assert res.cut_off is None
    for col in ["case_before", "case_after", "recovered", "clinically_significant"]:
        assert res.table[col].isna().all(), col
    assert "recovery and clinical significance are not defined" in res.describe()


# ====================================================================== the result object
def test_result_object():
    res = ek.reliable_change([16, 12], [12, 16], instrument="epds")
    assert isinstance(res, ReliableChangeResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.threshold = 3  # type: ignore[misc]
    frame = res.to_frame()
    pd.testing.assert_frame_equal(frame, res.table)
    frame.loc[0, "before"] = 0
    assert res.table.loc[0, "before"] == 16  # to_frame returns a copy
    assert (res.instrument, res.scale) == ("epds", "epds")
    assert "a change of 4 or more points" in res.describe()
    assert "published threshold 4 points" in repr(res)
    pd.testing.assert_frame_equal(res.summary(), ek.change_summary(res))


# ====================================================================== summary
def _wilson(count: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_wilson_interval_hand_check():
    # 8 of 20 reliably improve (EPDS 16→10), 12 do not change (16→16)
    res = ek.reliable_change([16] * 20, [10] * 8 + [16] * 12, instrument="epds")
    row = ek.change_summary(res).set_index("outcome").loc["reliable_improvement"]
    assert (row["n"], row["count"], row["proportion"]) == (20, 8, 0.4)
    low, high = _wilson(8, 20)
    assert (low, high) == pytest.approx((0.2188, 0.6134), abs=5e-5)
    assert row["ci_low"] == pytest.approx(low, abs=1e-10)
    assert row["ci_high"] == pytest.approx(high, abs=1e-10)
    row90 = ek.change_summary(res, confidence=0.90).set_index("outcome").loc["reliable_improvement"]
    assert (row90["ci_low"], row90["ci_high"]) == pytest.approx(_wilson(8, 20, 1.6448536269514722))


def test_summary_layout_and_deterioration_shown():
    res = ek.reliable_change([16, 16], [12, 14], instrument="epds")
    out = ek.change_summary(res)
    assert list(out.columns) == SUMMARY_COLUMNS
    assert out["outcome"].tolist() == list(OUTCOMES)
    assert (out["group"] == "all").all()
    det = out.set_index("outcome").loc["reliable_deterioration"]
    assert (det["n"], det["count"], det["proportion"]) == (2, 0, 0.0)  # listed even at zero
    assert det["ci_low"] == 0.0 and det["ci_high"] > 0


def test_summary_by_group_with_empty_group():
    res = ek.reliable_change([16, 16, 12, 15, 20, 14], [12, 19, 16, 10, None, 12],
                             instrument="epds")
    group = pd.Categorical(["a", "a", "a", "b", "b", "c"], categories=["a", "b", "c", "d"])
    out = ek.change_summary(res, by=group)
    assert out["group"].unique().tolist() == ["all", "a", "b", "c", "d"]
    imp = out[out["outcome"] == "reliable_improvement"].set_index("group")
    assert imp["n"].tolist() == [5, 3, 1, 1, 0]
    assert imp["count"].tolist() == [2, 1, 1, 0, 0]
    assert imp.loc["a", "proportion"] == pytest.approx(1 / 3)
    assert imp.loc["a", ["ci_low", "ci_high"]].tolist() == pytest.approx(_wilson(1, 3))
    empty = out[out["group"] == "d"]
    assert len(empty) == len(OUTCOMES)
    assert (empty["n"] == 0).all() and (empty["count"] == 0).all()
    assert empty[["proportion", "ci_low", "ci_high"]].isna().all().all()
    det = out[out["outcome"] == "reliable_deterioration"].set_index("group")
    assert det["count"].tolist() == [1, 1, 0, 0, 0]
    rec = out[out["outcome"] == "recovered"].set_index("group")
    assert rec["n"].tolist() == [4, 2, 1, 1, 0]  # cases at baseline with both scores
    assert rec["count"].tolist() == [2, 1, 1, 0, 0]


def test_summary_group_with_only_missing_scores_is_listed():
    res = ek.reliable_change([16, 16, None], [12, 19, 10], instrument="epds")
    out = ek.change_summary(res, by=["x", "x", "y"])
    y = out[out["group"] == "y"]
    assert len(y) == len(OUTCOMES) and (y["n"] == 0).all() and y["proportion"].isna().all()


def test_summary_group_column_series_and_missing_group():
    idx = pd.Index(["P1", "P2", "P3"], name="participant_id")
    res = ek.reliable_change(pd.Series([16, 16, 12], index=idx), [12, 19, 16], instrument="epds")
    table = res.to_frame().assign(site=["north", "south", "north"])
    by_col = ek.change_summary(table, by="site")
    by_series = ek.change_summary(res, by=pd.Series(["south", "north", "north"],
                                                       index=["P2", "P1", "P3"]))
    pd.testing.assert_frame_equal(by_col, by_series)
    imp = by_col[by_col["outcome"] == "reliable_improvement"].set_index("group")["count"]
    assert imp.to_dict() == {"all": 1, "north": 1, "south": 0}
    with_na = ek.change_summary(res, by=["a", None, "a"])
    assert with_na["group"].isna().sum() == len(OUTCOMES)  # missing group values stay visible


def test_summary_errors():
    res = ek.reliable_change([16, 12], [12, 16], instrument="epds")
    with pytest.raises(SpecificationError, match="by has 3 values but the table has 2 rows"):
        ek.change_summary(res, by=["a", "b", "c"])
    with pytest.raises(SpecificationError, match="'site' is not a column of the table"):
        ek.change_summary(res, by="site")
    with pytest.raises(SpecificationError, match="reserved for the overall rows"):
        ek.change_summary(res, by=["all", "b"])
    with pytest.raises(SpecificationError, match="lacks column"):
        ek.change_summary(res.table.drop(columns="recovered"))
    with pytest.raises(SpecificationError, match="needs the result of ek.reliable_change"):
        ek.change_summary([1, 2])
    with pytest.raises(SpecificationError, match="index does not match"):
        ek.change_summary(res, by=pd.Series(["a", "b"], index=[5, 6]))


# ====================================================================== properties
_score = st.one_of(st.none(), st.floats(0, 30, allow_nan=False),
                   st.integers(0, 30).map(float))
_SWAP = {IMPROVED: WORSE, WORSE: IMPROVED, SAME: SAME, None: None}


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(_score, _score), min_size=1, max_size=30),
       instrument=st.sampled_from(["epds", "jt"]))
def test_swapping_before_and_after_mirrors_the_result(pairs, instrument):
    spec = "epds" if instrument == "epds" else make_spec(
        "swaptest", higher_is="worse", range_=(0, 30),
        change={"rci_sd": 4.5, "rci_reliability": 0.87, "rci_source": "t"})
    before = [np.nan if b is None else b for b, _ in pairs]
    after = [np.nan if a is None else a for _, a in pairs]
    forward = ek.reliable_change(before, after, instrument=spec)
    back = ek.reliable_change(after, before, instrument=spec)
    f, b = forward.table, back.table
    np.testing.assert_array_equal(b["improvement"].to_numpy(), -f["improvement"].to_numpy())
    np.testing.assert_array_equal(b["change"].to_numpy(), -f["change"].to_numpy())
    assert _cats(back) == [_SWAP[c] for c in _cats(forward)]
    pd.testing.assert_series_equal(b["case_before"], f["case_after"], check_names=False)
    np.testing.assert_array_equal(b["mid_reached"].isna(), f["mid_reached"].isna())
    s_f = ek.change_summary(forward).set_index("outcome")
    s_b = ek.change_summary(back).set_index("outcome")
    assert s_f.loc["reliable_improvement", "count"] == s_b.loc["reliable_deterioration", "count"]
    assert s_f.loc["reliable_improvement", "n"] == s_b.loc["reliable_deterioration", "n"]


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(_score, _score), min_size=0, max_size=30))
def test_summary_categories_partition_the_complete_pairs(pairs):
    before = [np.nan if b is None else b for b, _ in pairs]
    after = [np.nan if a is None else a for _, a in pairs]
    res = ek.reliable_change(before, after, instrument="epds")
    out = ek.change_summary(res).set_index("outcome")
    complete = sum(b is not None and a is not None for b, a in pairs)
    cats = out.loc[["reliable_improvement", "no_reliable_change", "reliable_deterioration"]]
    assert (cats["n"] == complete).all()
    assert cats["count"].sum() == complete
    if complete:
        assert cats["proportion"].sum() == pytest.approx(1.0)
        assert ((cats["ci_low"] <= cats["proportion"]) & (cats["proportion"] <= cats["ci_high"])).all()
        assert ((cats["ci_low"] >= 0) & (cats["ci_high"] <= 1)).all()


def test_real_core10_spec_if_registered():
    spec = _registered("core10")
    if spec.change.clinical is None:
        pytest.skip("the core10 spec has no change.clinical norms")
    res = ek.reliable_change([18, 18], [10, 11], instrument=spec, clinical="jt_c")
    assert res.cut_off == "core10 >= 10.46"
    assert res.table["clinically_significant"].tolist() == [True, False]


def test_summary_group_is_the_old_name_of_by():
    from evalkit.errors import EvalkitDeprecationWarning

    res = ek.reliable_change([16, 16, 12], [12, 19, 16], instrument="epds")
    new = res.summary(by=["a", "a", "b"])
    with pytest.warns(EvalkitDeprecationWarning, match="use by= instead"):
        old = res.summary(group=["a", "a", "b"])
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(EvalkitDeprecationWarning, match="group= is deprecated"):
        pd.testing.assert_frame_equal(ek.change_summary(res, group=["a", "a", "b"]), new)
