"""OSSS-3 scoring, hand-worked.

Sources (shared/reference/instruments.md §5.4): Kocalevent et al. 2018, BMC Psychol 6:31,
doi:10.1186/s40359-018-0249-9, as reproduced at emerge.ucsd.edu/?p=23634 - item 1 scored 1-4
(none, 1-2, 3-5, 5+), items 2 and 3 scored 1-5, sum 3-14; 3-8 poor, 9-11 moderate, 12-14 strong
support; German norms men 10.1 (2.3), women 10.2 (2.2). Missing items: local rule (complete).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID = "osss3"


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 3
    assert spec.items.range_of(1) == (1, 4)
    assert spec.items.range_of(2) == (1, 5) and spec.items.range_of(3) == (1, 5)
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    sc = spec.primary
    assert sc.id == ID and sc.range == (3, 14) and sc.method == "sum"
    assert sc.missing.rule == "complete" and sc.missing.source.startswith("Local rule")
    assert [(b.label, b.min, b.max) for b in sc.bands] == [
        ("poor support", 3, 8), ("moderate support", 9, 11), ("strong support", 12, 14)]
    assert "Kocalevent" in sc.bands_source
    women = [n for n in spec.norms if "women" in n.population][0]
    assert (women.mean, women.sd) == (10.2, 2.2) and women.source
    assert spec.reliability.verified == "R"
    assert spec.licence and spec.citation


def test_hand_worked_totals():
    # [3, 4, 2]: 3-5 confidants (3) + some concern (4) + difficult (2) = 9
    # [4, 5, 5]: maximum 4 + 5 + 5 = 14; [1, 1, 1]: minimum 3
    out = ek.score(frame([3, 4, 2], [4, 5, 5], [1, 1, 1]), ID)
    assert out[ID].tolist() == [9, 14, 3]
    assert out[f"{ID}_band"].tolist() == ["moderate support", "strong support", "poor support"]
    assert out[f"{ID}_n_answered"].tolist() == [3, 3, 3]


@pytest.mark.parametrize("row, total, band", [
    ([2, 3, 3], 8, "poor support"),
    ([3, 3, 3], 9, "moderate support"),
    ([3, 4, 4], 11, "moderate support"),
    ([4, 4, 4], 12, "strong support"),
])
def test_band_boundaries_both_sides(row, total, band):
    out = ek.score(frame(row), ID)
    assert out.loc[0, ID] == total
    assert out.loc[0, f"{ID}_band"] == band


def test_item1_range_is_1_to_4():
    with pytest.raises(ScoringError, match="osss3_1"):
        ek.score(frame([5, 3, 3]), ID)
    out = ek.score(frame([5, 3, 3], [4, 5, 5]), ID, on_invalid="missing")
    assert np.isnan(out.loc[0, ID]) and out.loc[1, ID] == 14
    assert "item 1" in out.loc[0, f"{ID}_invalid"]


def test_position_coding_equals_scored():
    rows = frame([3, 4, 2], [1, 5, 1])
    pd.testing.assert_frame_equal(ek.score(rows, ID), ek.score(rows, ID, coding="position"))


def test_missing_item_makes_total_missing_and_all_missing_is_nan():
    out = ek.score(frame([3, None, 2], [None, None, None]), ID)
    assert out[ID].isna().all()
    assert out[f"{ID}_band"].isna().all()
    assert out[f"{ID}_n_answered"].tolist() == [2, 0]
    assert not out[f"{ID}_prorated"].any()
