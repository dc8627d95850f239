"""PHQ-9 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §3): Kroenke, Spitzer & Williams 2001, J Gen Intern Med
16:606-13 (9 items 0-3, total 0-27, bands 0-4 / 5-9 / 10-14 / 15-19 / 20-27, caseness >= 10, item 9
> 0 needs risk follow-up); NHS Talking Therapies Manual (reliable change 6, via a secondary
source); Lowe 2004 (MCID 5 [R]). Missing items: local rule, prorate when at most one item other than
item 9 is missing.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ProratedScoreWarning, ScoringError

ID, N, LO, HI = "phq9", 9, 0, 3
BANDS = ["minimal", "mild", "moderate", "moderately severe", "severe"]


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_totals_on_hand_worked_rows():
    """Total = sum of items 1-9: 0+1+2+3+0+1+2+3+0 = 12; 1+1+1+1+1 = 5; 3 x 9 = 27; 0."""
    out = ek.score(frame([0, 1, 2, 3, 0, 1, 2, 3, 0], [1, 1, 1, 1, 1, 0, 0, 0, 0], [3] * 9, [0] * 9,
                         index=["p1", "p2", "p3", "p4"]), ID)
    assert list(out.index) == ["p1", "p2", "p3", "p4"]
    assert out[ID].tolist() == [12.0, 5.0, 27.0, 0.0]
    assert out[f"{ID}_band"].astype(object).tolist() == ["moderate", "mild", "severe", "minimal"]
    assert out[f"{ID}_n_answered"].tolist() == [9] * 4
    assert not out[f"{ID}_prorated"].any()


def test_output_columns_and_types():
    """One total (no subscales), then the item 9 flag."""
    out = ek.score(frame([0] * 9), ID)
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated", "phq9_self_harm"]
    assert out[f"{ID}_band"].cat.ordered
    assert out[f"{ID}_band"].cat.categories.tolist() == BANDS
    assert str(out[f"{ID}_n_answered"].dtype) == "Int64"
    assert str(out["phq9_self_harm"].dtype) == "boolean"


@pytest.mark.parametrize("total, band", [
    (0, "minimal"), (4, "minimal"),
    (5, "mild"), (9, "mild"),
    (10, "moderate"), (14, "moderate"),
    (15, "moderately severe"), (19, "moderately severe"),
    (20, "severe"), (27, "severe"),
])
def test_band_boundaries_from_both_sides(total, band):
    """Kroenke 2001: cut-points 5, 10, 15, 20 (mild, moderate, moderately severe, severe)."""
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out[ID].iloc[0] == total
    assert out[f"{ID}_band"].iloc[0] == band


def test_caseness_at_ten():
    """Caseness >= 10 (Kroenke 2001; NHS Talking Therapies)."""
    case = ek.instruments.get(ID).primary.caseness
    assert (case.value, case.op) == (10, ">=")
    assert not case.is_case(9) and case.is_case(10)


def test_position_coding_equals_scored_coding():
    """No reverse-keyed items, so positions are scores."""
    data = frame([0, 1, 2, 3, 0, 1, 2, 3, 0], [3, 2, 1, 0, 3, 2, 1, 0, 1])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_prorating_at_the_limit():
    """Local rule: one item missing -> mean of the 8 answered x 9, unrounded, flagged.

    Item 3 missing; answered 1+2+0+3+1+1+2+0 = 10; 10 / 8 x 9 = 11.25 (moderate).
    """
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([1, 2, None, 0, 3, 1, 1, 2, 0]), ID)
    assert out[ID].iloc[0] == pytest.approx(11.25)
    assert bool(out[f"{ID}_prorated"].iloc[0]) is True
    assert out[f"{ID}_n_answered"].iloc[0] == 8
    assert out[f"{ID}_band"].iloc[0] == "moderate"
    assert bool(out["phq9_self_harm"].iloc[0]) is False


@pytest.mark.parametrize("row, expected, band", [
    ([1, 1, 1, 1, None, 0, 0, 0, 0], 4 / 8 * 9, "minimal"),   # 4.5: not yet 5
    ([2, 1, 1, 1, None, 1, 1, 1, 0], 8 / 8 * 9, "mild"),      # 9.0
    ([2, 2, 1, 1, None, 1, 1, 1, 0], 9 / 8 * 9, "moderate"),  # 10.125: past 10
])
def test_prorated_non_integer_scores_use_the_cut_points_as_lower_bounds(row, expected, band):
    """Cut-points are ">= 5", ">= 10": 4.5 is minimal, 10.125 moderate."""
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out[ID].iloc[0] == pytest.approx(expected)
    assert out[f"{ID}_band"].iloc[0] == band


def test_item_9_is_never_imputed():
    """One item missing, but it is item 9: the total is missing, not prorated, and not warned of."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ek.score(frame([1, 2, 1, 0, 3, 1, 1, 2, None]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert out[f"{ID}_n_answered"].iloc[0] == 8
    assert pd.isna(out["phq9_self_harm"].iloc[0])


def test_past_the_prorating_limit_is_missing_not_zero():
    """Two items missing: more than max_missing = 1, so the total is missing."""
    out = ek.score(frame([1, 2, None, 0, None, 1, 1, 2, 0]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert out[f"{ID}_n_answered"].iloc[0] == 7
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 9, [0] * 9), ID)
    assert math.isnan(out[ID].iloc[0])
    assert out[ID].iloc[1] == 0.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0
    assert pd.isna(out["phq9_self_harm"].iloc[0])


def test_self_harm_flag_on_item_9():
    """Any item 9 score above 0 raises the safeguarding flag, whatever the total; missing -> NA."""
    rows = [[0] * 8 + [v] for v in (0, 1, 2, 3)] + [[3] * 8 + [0], [0] * 8 + [None]]
    out = ek.score(frame(*rows), ID)
    flag = out["phq9_self_harm"]
    assert flag.iloc[:5].tolist() == [False, True, True, True, False]
    assert pd.isna(flag.iloc[5])
    assert out[ID].iloc[1] == 1.0  # total 1 (minimal) but flagged
    spec_flag = ek.instruments.get(ID).flags[0]
    assert (spec_flag.id, spec_flag.item, spec_flag.above, spec_flag.safeguarding) == (
        "phq9_self_harm", 9, 0, True)
    assert spec_flag.action and spec_flag.source


@pytest.mark.parametrize("bad", [4, -1, "x"])
def test_out_of_range_values_are_never_scored(bad):
    row = [1] * 9
    row[1] = bad
    data = pd.DataFrame([row], columns=[f"{ID}_{k}" for k in range(1, N + 1)])
    with pytest.raises(ScoringError, match=r"phq9_2"):
        ek.score(data, ID)
    data = pd.DataFrame([row, [1] * 9], columns=[f"{ID}_{k}" for k in range(1, N + 1)])
    out = ek.score(data, ID, on_invalid="missing")
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 9.0
    assert "item 2" in out[f"{ID}_invalid"].iloc[0]


def test_spec_metadata():
    """9 items 0-3, 0-27; reliable change 6 (Talking Therapies); MID 5 [R]; alpha 0.89."""
    spec = ek.instruments.get(ID)
    assert spec.items.n == 9 and (spec.items.min, spec.items.max) == (0, 3)
    assert spec.items.reverse == ()
    assert spec.higher_is == "worse"
    assert spec.primary.range == (0, 27)
    assert [s.id for s in spec.scales] == [ID]
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.max_missing, rule.never_impute, rule.official) == ("prorate", 1, (9,), False)
    assert rule.source.startswith("Local rule")
    assert spec.change.reliable_change == 6 and "Talking Therapies" in spec.change.reliable_change_source
    assert spec.change.mid_improvement == 5 and "R" in spec.change.mid_source
    assert spec.reliability.alpha == 0.89
