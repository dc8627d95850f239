"""GAD-7 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §3): Spitzer et al. 2006, Arch Intern Med 166:1092-7
(7 items 0-3, total 0-21, bands 0-4 / 5-9 / 10-14 / 15-21, alpha 0.92 [R]); NHS Talking Therapies
(caseness >= 8, reliable change 4, via secondary sources); Toussaint et al. 2020 (MCID 4). Missing
items: local rule, prorate when at most one item is missing.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ProratedScoreWarning, ScoringError

ID, N, LO, HI = "gad7", 7, 0, 3
BANDS = ["minimal", "mild", "moderate", "severe"]


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_totals_on_hand_worked_rows():
    """Total = sum of items 1-7: 0+1+2+3+0+1+2 = 9; 3 x 7 = 21; 2+2+2+2+0+0+0 = 8; 0."""
    out = ek.score(frame([0, 1, 2, 3, 0, 1, 2], [3] * 7, [2, 2, 2, 2, 0, 0, 0], [0] * 7,
                         index=["a", "b", "c", "d"]), ID)
    assert list(out.index) == ["a", "b", "c", "d"]
    assert out[ID].tolist() == [9.0, 21.0, 8.0, 0.0]
    assert out[f"{ID}_band"].astype(object).tolist() == ["mild", "severe", "mild", "minimal"]
    assert out[f"{ID}_n_answered"].tolist() == [7] * 4


def test_output_columns_and_types():
    out = ek.score(frame([0] * 7), ID)
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]
    assert out[f"{ID}_band"].cat.ordered
    assert out[f"{ID}_band"].cat.categories.tolist() == BANDS


@pytest.mark.parametrize("total, band", [
    (0, "minimal"), (4, "minimal"),
    (5, "mild"), (9, "mild"),
    (10, "moderate"), (14, "moderate"),
    (15, "severe"), (21, "severe"),
])
def test_band_boundaries_from_both_sides(total, band):
    """Spitzer 2006: cut-points 5, 10, 15 (mild, moderate, severe)."""
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out[ID].iloc[0] == total
    assert out[f"{ID}_band"].iloc[0] == band


@pytest.mark.parametrize("total, case", [(7, False), (8, True), (9, True), (10, True)])
def test_caseness_is_the_talking_therapies_cut_off(total, case):
    """NHS Talking Therapies caseness GAD-7 >= 8 (the Spitzer screening cut-off is >= 10)."""
    spec = ek.instruments.get(ID)
    assert (spec.primary.caseness.value, spec.primary.caseness.op) == (8, ">=")
    assert spec.primary.caseness.is_case(total) is case


def test_position_coding_equals_scored_coding():
    data = frame([0, 1, 2, 3, 0, 1, 2], [3, 3, 0, 0, 1, 2, 1])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_prorating_at_the_limit():
    """Local rule: item 4 missing; answered 2+1+3+1+0+2 = 9; 9 / 6 x 7 = 10.5 (moderate), flagged."""
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([2, 1, 3, None, 1, 0, 2]), ID)
    assert out[ID].iloc[0] == pytest.approx(10.5)
    assert bool(out[f"{ID}_prorated"].iloc[0]) is True
    assert out[f"{ID}_n_answered"].iloc[0] == 6
    assert out[f"{ID}_band"].iloc[0] == "moderate"


def test_prorated_score_below_a_cut_point_stays_in_the_lower_band():
    """Item 7 missing; answered 1+1+1+1+0+0 = 4; 4 / 6 x 7 = 4.67 -> minimal (not yet 5)."""
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([1, 1, 1, 1, 0, 0, None]), ID)
    assert out[ID].iloc[0] == pytest.approx(28 / 6)
    assert out[f"{ID}_band"].iloc[0] == "minimal"


def test_past_the_prorating_limit_is_missing_not_zero():
    out = ek.score(frame([2, 1, 3, None, None, 0, 2]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert out[f"{ID}_n_answered"].iloc[0] == 5
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 7, [0] * 7), ID)
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 0.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0


def test_out_of_range_value_raises():
    data = pd.DataFrame([[0, 1, 2, 3, 0, 1, 5]], columns=[f"{ID}_{k}" for k in range(1, 8)])
    with pytest.raises(ScoringError, match=r"gad7_7"):
        ek.score(data, ID)


def test_spec_metadata():
    """7 items 0-3, 0-21; reliable change 4 (Talking Therapies); MID 4 (Toussaint 2020); alpha 0.92 [R]."""
    spec = ek.instruments.get(ID)
    assert spec.items.n == 7 and (spec.items.min, spec.items.max) == (0, 3)
    assert spec.items.reverse == ()
    assert spec.higher_is == "worse"
    assert spec.primary.range == (0, 21)
    assert len(spec.items.labels) == 7
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.max_missing, rule.official) == ("prorate", 1, False)
    assert rule.source.startswith("Local rule")
    assert spec.change.reliable_change == 4 and "Talking Therapies" in spec.change.reliable_change_source
    assert spec.change.mid_improvement == 4 and "Toussaint" in spec.change.mid_source
    assert (spec.reliability.alpha, spec.reliability.verified) == (0.92, "R")
