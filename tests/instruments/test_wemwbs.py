"""WEMWBS scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §1): Tennant et al. 2007, HQLO 5:63 (14 items scored 1-5,
no reverse keying, total 14-70); Warwick "howto" page (bands <=40 / 41-44 / 45-59 / >=60 [R]);
Warwick FAQ (a change of about 3 points is meaningful); the missing-item rule is local (prorate when
at most one item is missing).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ProratedScoreWarning, ScoringError

ID, N, LO, HI = "wemwbs", 14, 1, 5
BANDS = ["probable depression", "possible depression", "average wellbeing", "high wellbeing"]


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_totals_on_hand_worked_rows():
    """Total = sum of the 14 items (Tennant 2007): 14 x 3 = 42; the mixed row sums to 56."""
    mixed = [5, 4, 4, 3, 3, 4, 5, 4, 4, 3, 4, 5, 4, 4]  # 5+4+4+3+3+4+5+4+4+3+4+5+4+4 = 56
    out = ek.score(frame([3] * 14, mixed, [1] * 14, [5] * 14, index=["a", "b", "c", "d"]), ID)
    assert list(out.index) == ["a", "b", "c", "d"]
    assert out[ID].tolist() == [42.0, 56.0, 14.0, 70.0]
    assert out[f"{ID}_band"].astype(object).tolist() == [
        "possible depression", "average wellbeing", "probable depression", "high wellbeing"]
    assert out[f"{ID}_n_answered"].tolist() == [14] * 4
    assert not out[f"{ID}_prorated"].any()


def test_output_columns_and_types():
    """One scale, no subscales (Tennant 2007: unidimensional), no flags."""
    out = ek.score(frame([3] * 14), ID)
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]
    assert out[ID].dtype == float
    assert out[f"{ID}_band"].cat.ordered
    assert out[f"{ID}_band"].cat.categories.tolist() == BANDS
    assert str(out[f"{ID}_n_answered"].dtype) == "Int64"
    assert out[f"{ID}_prorated"].dtype == bool


@pytest.mark.parametrize("total, band", [
    (14, "probable depression"), (40, "probable depression"),
    (41, "possible depression"), (44, "possible depression"),
    (45, "average wellbeing"), (59, "average wellbeing"),
    (60, "high wellbeing"), (70, "high wellbeing"),
])
def test_band_boundaries_from_both_sides(total, band):
    """Warwick bands [R]: <=40 probable depression, 41-44 possible, 45-59 average, >=60 high."""
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out[ID].iloc[0] == total
    assert out[f"{ID}_band"].iloc[0] == band


def test_position_coding_equals_scored_coding():
    """No reverse-keyed items (Warwick howto; CamCOPS wemwbs.py), so positions are scores."""
    data = frame([5, 4, 4, 3, 3, 4, 5, 4, 4, 3, 4, 5, 4, 4], [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_prorating_at_the_limit():
    """Local rule: one item missing -> mean of the 13 answered x 14 (unrounded), flagged.

    Item 5 missing; answered 4+2+3+3+3+4+2+3+3+3+4+2+3 = 39; 39 / 13 x 14 = 42.0.
    """
    row = [4, 2, 3, 3, None, 3, 4, 2, 3, 3, 3, 4, 2, 3]
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out[ID].iloc[0] == pytest.approx(42.0)
    assert bool(out[f"{ID}_prorated"].iloc[0]) is True
    assert out[f"{ID}_n_answered"].iloc[0] == 13
    assert out[f"{ID}_band"].iloc[0] == "possible depression"


@pytest.mark.parametrize("row, expected, band", [
    # item 14 missing; 13 answered: 12 x 3 + 2 = 38; 38 / 13 x 14 = 40.92, past "<= 40"
    ([3] * 12 + [2, None], 38 / 13 * 14, "possible depression"),
    # item 14 missing; 13 answered: 11 x 3 + 2 + 2 = 37; 37 / 13 x 14 = 39.85
    ([3] * 11 + [2, 2, None], 37 / 13 * 14, "probable depression"),
])
def test_prorated_non_integer_score_falls_in_the_band_it_has_passed_into(row, expected, band):
    """Non-integer prorated totals: "<= 40" is read as written, so 40.92 is possible depression."""
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out[ID].iloc[0] == pytest.approx(expected)
    assert out[f"{ID}_band"].iloc[0] == band


def test_past_the_prorating_limit_is_missing_not_zero():
    """Two items missing: more than the local max_missing = 1, so the total is missing."""
    row = [4, 2, 3, 3, None, 3, 4, 2, 3, None, 3, 4, 2, 3]
    out = ek.score(frame(row), ID)
    assert math.isnan(out[ID].iloc[0])
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert out[f"{ID}_n_answered"].iloc[0] == 12
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 14, [3] * 14), ID)
    assert math.isnan(out[ID].iloc[0])
    assert out[ID].iloc[1] == 42.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False


def test_missing_code_counts_as_missing():
    """A -9 "not answered" code is missing, so one -9 is prorated like a blank."""
    row = [4, 2, 3, 3, -9, 3, 4, 2, 3, 3, 3, 4, 2, 3]
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID, missing_codes=(-9,))
    assert out[ID].iloc[0] == pytest.approx(42.0)


@pytest.mark.parametrize("bad", [0, 6, 2.5])
def test_out_of_range_values_are_never_scored(bad):
    """Items are scored 1-5: a 0 (0-4 coding by mistake), 6 or 2.5 is an error."""
    row = [3] * 14
    row[6] = bad
    with pytest.raises(ScoringError, match=r"row 0 wemwbs_7"):
        ek.score(frame(row, dtype=object), ID)
    out = ek.score(frame(row, [3] * 14), ID, on_invalid="missing")
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 42.0
    assert "item 7" in out[f"{ID}_invalid"].iloc[0]
    assert out[f"{ID}_invalid"].iloc[1] is None


def test_scoring_leaves_the_input_unchanged():
    """Scoring must not modify the caller's data (invalid values and missing codes included), and
    the error raised for float columns (as read from a CSV with blanks) must name the bad cell."""
    row = [3] * 14
    row[6], row[12] = 6, -9
    data = frame(row)
    before = data.copy()
    ek.score(data, ID, missing_codes=(-9,), on_invalid="missing")
    pd.testing.assert_frame_equal(data, before)
    with pytest.raises(ScoringError, match=r"row 0 wemwbs_7"):
        ek.score(frame(row), ID, missing_codes=(-9,))


def test_spec_metadata():
    """14 items 1-5, no reverse, 14-70; RCI inputs give 7.3 points [C]; MID 3 (Warwick FAQ)."""
    spec = ek.instruments.get(ID)
    assert spec.items.n == 14 and (spec.items.min, spec.items.max) == (1, 5)
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    assert spec.primary.range == (14, 70)
    assert [s.id for s in spec.scales] == [ID]
    assert len(spec.items.labels) == 14
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.max_missing, rule.official) == ("prorate", 1, False)
    assert rule.source.startswith("Local rule")
    assert spec.primary.bands_source and "R" in spec.primary.bands_source
    ch = spec.change
    assert ch.reliable_change is None
    assert (ch.rci_sd, ch.rci_reliability) == (8.79, 0.91) and ch.rci_source
    rci = 1.96 * ch.rci_sd * math.sqrt(2) * math.sqrt(1 - ch.rci_reliability)
    assert round(rci, 1) == 7.3
    assert ch.mid_improvement == 3 and "Warwick" in ch.mid_source
    tennant = [n for n in spec.norms if "Tennant" in n.source]
    assert [(n.mean, n.sd, n.verified) for n in tennant] == [(50.7, 8.79, "R")]
    assert any(n.mean == 49.6 and "women" in n.population for n in spec.norms)
    assert spec.licence and spec.citation
