"""PHQ-2 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §3): Kroenke, Spitzer & Williams 2003, Med Care 41:1284
(PHQ-9 items 1-2, each 0-3, total 0-6, cut-off >= 3 [R]); Arroll et al. 2010, Ann Fam Med 8:348.
Missing items: local rule, complete forms only.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID, N = "phq2", 2


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_totals_on_hand_worked_rows():
    """Total = item 1 + item 2: 0+0 = 0, 1+1 = 2, 1+2 = 3, 3+3 = 6."""
    out = ek.score(frame([0, 0], [1, 1], [1, 2], [3, 3], index=list("wxyz")), ID)
    assert list(out.index) == list("wxyz")
    assert out[ID].tolist() == [0.0, 2.0, 3.0, 6.0]
    assert out[f"{ID}_n_answered"].tolist() == [2] * 4
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]


@pytest.mark.parametrize("row, band", [
    ([0, 0], "negative screen"), ([2, 0], "negative screen"), ([1, 1], "negative screen"),
    ([3, 0], "positive screen"), ([2, 1], "positive screen"), ([3, 3], "positive screen"),
])
def test_band_boundary_from_both_sides(row, band):
    """Cut-off >= 3 (Kroenke 2003 [R]): 2 negative, 3 positive."""
    out = ek.score(frame(row), ID)
    assert out[f"{ID}_band"].iloc[0] == band
    case = ek.instruments.get(ID).primary.caseness
    assert case.is_case(out[ID].iloc[0]) == (band == "positive screen")


def test_position_coding_equals_scored_coding():
    data = frame([0, 3], [2, 1])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_scored_from_phq9_columns_matches_phq9_items_1_and_2():
    """PHQ-2 = PHQ-9 items 1-2: PHQ-9 row 2 1 3 0 0 1 2 0 0 -> PHQ-2 = 2 + 1 = 3."""
    phq9 = pd.DataFrame([[2, 1, 3, 0, 0, 1, 2, 0, 0]], columns=[f"phq9_{k}" for k in range(1, 10)])
    out = ek.score(phq9, ID, items={1: "phq9_1", 2: "phq9_2"})
    assert out[ID].iloc[0] == 3.0
    assert out[f"{ID}_band"].iloc[0] == "positive screen"
    assert ek.instruments.get(ID).items.labels == {
        k: ek.instruments.get("phq9").items.labels[k] for k in (1, 2)}


def test_one_missing_item_is_missing_not_prorated():
    """Local rule: a two-item screen is never prorated (max_missing 0 -> no warning)."""
    out = ek.score(frame([3, None]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert out[f"{ID}_n_answered"].iloc[0] == 1
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None, None], [0, 0]), ID)
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 0.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0


def test_out_of_range_value_raises():
    data = pd.DataFrame([[4, 0]], columns=[f"{ID}_1", f"{ID}_2"])
    with pytest.raises(ScoringError, match=r"phq2_1"):
        ek.score(data, ID)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 2 and (spec.items.min, spec.items.max) == (0, 3)
    assert spec.items.reverse == ()
    assert spec.higher_is == "worse"
    assert spec.primary.range == (0, 6)
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.official) == ("complete", False) and rule.source.startswith("Local rule")
    case = spec.primary.caseness
    assert (case.value, case.op, case.verified) == (3, ">=", "R") and "Kroenke" in case.source
    assert spec.flags == ()
