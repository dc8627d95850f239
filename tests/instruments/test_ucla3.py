"""UCLA-3 scoring, hand-worked from the published scoring rules.

Sources (shared/reference/instruments.md §5.1): Hughes et al. 2004, Res Aging 26:655-72 (3 items
1-3: hardly ever 1, some of the time 2, often 3; total 3-9; alpha 0.72 [R]); common bands 3-5 not
lonely, 6-9 lonely [R] (no official cut-off). Missing items: local rule, complete forms only.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID, N = "ucla3", 3


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_totals_on_hand_worked_rows():
    """Total = sum of 3 items: 1+1+1 = 3; 2+2+1 = 5; 2+2+2 = 6; 3+3+3 = 9; 1+3+2 = 6."""
    out = ek.score(frame([1, 1, 1], [2, 2, 1], [2, 2, 2], [3, 3, 3], [1, 3, 2], index=list("abcde")), ID)
    assert list(out.index) == list("abcde")
    assert out[ID].tolist() == [3.0, 5.0, 6.0, 9.0, 6.0]
    assert out[f"{ID}_n_answered"].tolist() == [3] * 5
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]
    assert out[f"{ID}_band"].cat.categories.tolist() == ["not lonely", "lonely"]


@pytest.mark.parametrize("row, band", [
    ([1, 1, 1], "not lonely"), ([2, 2, 1], "not lonely"),   # 3, 5
    ([2, 2, 2], "lonely"), ([3, 3, 3], "lonely"),           # 6, 9
])
def test_band_boundary_from_both_sides(row, band):
    """3-5 not lonely, 6-9 lonely [R]."""
    out = ek.score(frame(row), ID)
    assert out[f"{ID}_band"].iloc[0] == band
    assert ek.instruments.get(ID).primary.caseness.is_case(out[ID].iloc[0]) == (band == "lonely")


def test_position_coding_equals_scored_coding():
    data = frame([1, 2, 3], [3, 1, 1])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_one_missing_item_is_missing_not_prorated():
    out = ek.score(frame([3, None, 3]), ID)
    assert math.isnan(out[ID].iloc[0])
    assert out[f"{ID}_n_answered"].iloc[0] == 2
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 3, [1, 1, 1]), ID)
    assert math.isnan(out[ID].iloc[0]) and out[ID].iloc[1] == 3.0
    assert out[f"{ID}_n_answered"].iloc[0] == 0


@pytest.mark.parametrize("bad", [0, 4])
def test_out_of_range_value_raises(bad):
    """Coded 1-3; a 0 (0-2 coding by mistake) or 4 is an error, never scored."""
    data = pd.DataFrame([[2, bad, 2]], columns=[f"{ID}_{k}" for k in range(1, 4)])
    with pytest.raises(ScoringError, match=r"ucla3_2"):
        ek.score(data, ID)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 3 and (spec.items.min, spec.items.max) == (1, 3)
    assert spec.items.reverse == ()
    assert spec.higher_is == "worse"
    assert spec.primary.range == (3, 9)
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.official) == ("complete", False) and rule.source.startswith("Local rule")
    case = spec.primary.caseness
    assert (case.value, case.op, case.verified) == (6, ">=", "R")
    assert (spec.reliability.alpha, spec.reliability.verified) == (0.72, "R")
