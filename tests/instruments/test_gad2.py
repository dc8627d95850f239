"""GAD-2 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §3): Kroenke et al. 2007, Ann Intern Med 146:317-25
(GAD-7 items 1-2, each 0-3, total 0-6, cut-off >= 3 [R]). Missing items: local rule, complete
forms only.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID, N = "gad2", 2


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_totals_on_hand_worked_rows():
    """Total = item 1 + item 2: 0+0 = 0, 0+2 = 2, 2+1 = 3, 3+3 = 6."""
    out = ek.score(frame([0, 0], [0, 2], [2, 1], [3, 3], index=[5, 6, 7, 8]), ID)
    assert list(out.index) == [5, 6, 7, 8]
    assert out[ID].tolist() == [0.0, 2.0, 3.0, 6.0]
    assert out[f"{ID}_band"].astype(object).tolist() == [
        "negative screen", "negative screen", "positive screen", "positive screen"]
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]


@pytest.mark.parametrize("row, band", [
    ([1, 1], "negative screen"), ([0, 2], "negative screen"),
    ([1, 2], "positive screen"), ([3, 0], "positive screen"),
])
def test_band_boundary_from_both_sides(row, band):
    """Cut-off >= 3 (Kroenke 2007 [R]): 2 negative, 3 positive."""
    out = ek.score(frame(row), ID)
    assert out[f"{ID}_band"].iloc[0] == band
    assert ek.instruments.get(ID).primary.caseness.is_case(out[ID].iloc[0]) == (band == "positive screen")


def test_position_coding_equals_scored_coding():
    data = frame([0, 3], [2, 1])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_scored_from_gad7_columns_matches_gad7_items_1_and_2():
    """GAD-2 = GAD-7 items 1-2: GAD-7 row 1 1 3 3 0 0 2 -> GAD-2 = 1 + 1 = 2 (negative)."""
    gad7 = pd.DataFrame([[1, 1, 3, 3, 0, 0, 2]], columns=[f"gad7_{k}" for k in range(1, 8)])
    out = ek.score(gad7, ID, items={1: "gad7_1", 2: "gad7_2"})
    assert out[ID].iloc[0] == 2.0
    assert out[f"{ID}_band"].iloc[0] == "negative screen"
    assert ek.instruments.get(ID).items.labels == {
        k: ek.instruments.get("gad7").items.labels[k] for k in (1, 2)}


def test_one_missing_item_is_missing_not_prorated():
    out = ek.score(frame([None, 3]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert out[f"{ID}_n_answered"].iloc[0] == 1
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None, None], [0, 0]), ID)
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 0.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0


def test_out_of_range_value_raises():
    data = pd.DataFrame([[0, 7]], columns=[f"{ID}_1", f"{ID}_2"])
    with pytest.raises(ScoringError, match=r"gad2_2"):
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
