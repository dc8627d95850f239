"""WHO-5 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §4): Topp et al. 2015, Psychother Psychosom 84:167-76
(5 items 0-5, raw 0-25, percentage = raw x 4); INSPQ / Topp 2015 (<= 50 poor wellbeing, screen for
depression); <= 28 likely depression [R]; Valant (raw < 13 poor wellbeing; a 10-point change on the
percentage scale is significant). Missing items: no official rule, complete forms only.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID, N = "who5", 5
BANDS = ["likely depression", "poor wellbeing", "adequate wellbeing"]


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_totals_on_hand_worked_rows():
    """Raw = sum of 5 items; percentage = raw x 4: 3x5 = 15 -> 60; 1+2+1+2+1 = 7 -> 28; 0; 25 -> 100."""
    out = ek.score(frame([3] * 5, [1, 2, 1, 2, 1], [0] * 5, [5] * 5, index=[1, 2, 3, 4]), ID)
    assert list(out.index) == [1, 2, 3, 4]
    assert out[ID].tolist() == [15.0, 7.0, 0.0, 25.0]
    assert out["who5_pct"].tolist() == [60.0, 28.0, 0.0, 100.0]
    assert out["who5_pct_band"].astype(object).tolist() == [
        "adequate wellbeing", "likely depression", "likely depression", "adequate wellbeing"]


def test_output_columns_and_types():
    """Raw score (no bands) then the percentage scale with its bands; no flags."""
    out = ek.score(frame([3] * 5), ID)
    assert list(out.columns) == [ID, f"{ID}_n_answered", f"{ID}_prorated",
                                 "who5_pct", "who5_pct_band", "who5_pct_n_answered", "who5_pct_prorated"]
    assert out["who5_pct_band"].cat.ordered
    assert out["who5_pct_band"].cat.categories.tolist() == BANDS


@pytest.mark.parametrize("row, raw, pct, band", [
    ([1, 2, 1, 2, 1], 7, 28, "likely depression"),    # <= 28
    ([2, 2, 2, 1, 1], 8, 32, "poor wellbeing"),       # first score above 28
    ([3, 3, 2, 2, 2], 12, 48, "poor wellbeing"),      # <= 50
    ([3, 3, 3, 2, 2], 13, 52, "adequate wellbeing"),  # first score above 50
])
def test_band_boundaries_from_both_sides(row, raw, pct, band):
    """Bands on the percentage: <= 28 likely depression [R], 29-50 poor wellbeing, > 50."""
    out = ek.score(frame(row), ID)
    assert (out[ID].iloc[0], out["who5_pct"].iloc[0]) == (raw, pct)
    assert out["who5_pct_band"].iloc[0] == band


@pytest.mark.parametrize("raw, case", [(12, True), (13, False)])
def test_caseness_on_both_scales_agrees(raw, case):
    """Raw < 13 (Valant) is the same rule as percentage <= 50 (INSPQ / Topp 2015)."""
    spec = ek.instruments.get(ID)
    assert spec.scale(ID).caseness.is_case(raw) is case
    assert spec.scale("who5_pct").caseness.is_case(4 * raw) is case
    assert (spec.scale("who5_pct").caseness.value, spec.scale("who5_pct").caseness.op) == (50, "<=")


def test_position_coding_equals_scored_coding():
    data = frame([5, 4, 3, 2, 1], [0, 1, 0, 1, 0])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_one_missing_item_is_missing_not_prorated():
    """No official rule; the percentage assumes all 5 items, so an incomplete form is missing."""
    out = ek.score(frame([3, 3, None, 3, 3]), ID)
    assert math.isnan(out[ID].iloc[0]) and math.isnan(out["who5_pct"].iloc[0])
    assert out[f"{ID}_n_answered"].iloc[0] == 4
    assert not out[f"{ID}_prorated"].iloc[0] and not out["who5_pct_prorated"].iloc[0]
    assert pd.isna(out["who5_pct_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 5, [0] * 5), ID)
    assert math.isnan(out[ID].iloc[0]) and math.isnan(out["who5_pct"].iloc[0])
    assert out[ID].iloc[1] == 0.0 and out["who5_pct"].iloc[1] == 0.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0


def test_out_of_range_value_raises():
    data = pd.DataFrame([[3, 3, 6, 3, 3]], columns=[f"{ID}_{k}" for k in range(1, 6)])
    with pytest.raises(ScoringError, match=r"who5_3"):
        ek.score(data, ID)


def test_spec_metadata():
    """5 items 0-5; raw 0-25 primary, x4 percentage 0-100; MID 10 points = 2.5 raw."""
    spec = ek.instruments.get(ID)
    assert spec.items.n == 5 and (spec.items.min, spec.items.max) == (0, 5)
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    assert [s.id for s in spec.scales] == [ID, "who5_pct"]
    assert spec.primary.range == (0, 25)
    assert spec.scale("who5_pct").range == (0, 100) and spec.scale("who5_pct").multiplier == 4
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    for scale in spec.scales:
        rule = scale.missing
        assert (rule.rule, rule.official) == ("complete", False) and rule.source.startswith("Local rule")
    assert spec.change.mid_improvement == 2.5 == 10 / 4
    assert "10" in spec.change.mid_source
    assert spec.change.reliable_change is None
