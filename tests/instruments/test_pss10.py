"""PSS-10 scoring, hand-worked from Cohen's scoring instructions.

Sources (shared/reference/instruments.md §6.1): Cohen, Kamarck & Mermelstein 1983; Cohen &
Williamson 1988; Cohen's scoring page (psy.cmu.edu/~scohen/PSSscore.html): 10 items 0-4 (never ...
very often), reverse items 4, 5, 7, 8 (0 = 4 ... 4 = 0), total 0-40 [V]. Bands 0-13 / 14-26 / 27-40
are a common convention, not Cohen's [V]. US norms 13.0 (6.35) [R]; alpha 0.78 [V]. Missing items:
local rule (complete).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ScoringError

ID, N = "pss10", 10


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 10
    assert all(spec.items.range_of(k) == (0, 4) for k in range(1, 11))
    assert spec.items.reverse == (4, 5, 7, 8)
    assert spec.higher_is == "worse" and spec.recall_period == "last month"
    sc = spec.primary
    assert [s.id for s in spec.scales] == [ID]
    assert sc.range == (0, 40) and sc.method == "sum"
    assert sc.missing.rule == "complete" and sc.missing.source.startswith("Local rule")
    assert [(b.min, b.max) for b in sc.bands] == [(0, 13), (14, 26), (27, 40)]
    assert "not from Cohen" in sc.bands_source
    assert spec.reliability.alpha == 0.78 and spec.reliability.source
    norm = spec.norms[0]
    assert (norm.mean, norm.sd, norm.verified) == (13.0, 6.35, "R")
    # J&T threshold from the norm SD and alpha: 1.96 * 6.35 * sqrt(2) * sqrt(0.22) = 8.26
    ch = spec.change
    assert 1.96 * ch.rci_sd * math.sqrt(2 * (1 - ch.rci_reliability)) == pytest.approx(8.26, abs=0.01)
    assert spec.licence and spec.citation


def test_hand_worked_total_scored():
    # Scores (reverse items already reversed): 3 2 1 1 3 0 2 0 0 1 -> 13
    out = ek.score(frame([3, 2, 1, 1, 3, 0, 2, 0, 0, 1], [4] * 10, [0] * 10), ID)
    assert out[ID].tolist() == [13, 40, 0]
    assert out[f"{ID}_band"].tolist() == ["low stress", "high stress", "low stress"]
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]


def test_keying_under_position_coding():
    # Ticked option positions (0 = never ... 4 = very often): 3 2 1 3 1 0 2 4 0 1
    #   items 1, 2, 3, 6, 9, 10 as ticked:            3 + 2 + 1 + 0 + 0 + 1 = 7
    #   reversed items 4, 5, 7, 8 -> 4 - position:    (4-3) + (4-1) + (4-2) + (4-4) = 1 + 3 + 2 + 0 = 6
    #   total 13 (low stress); read as scores the same numbers would sum to 17
    row = frame([3, 2, 1, 3, 1, 0, 2, 4, 0, 1])
    assert ek.score(row, ID, coding="position").loc[0, ID] == 13
    assert ek.score(row, ID, coding="scored").loc[0, ID] == 17


def test_position_coding_extremes():
    # "Very often" on every item: 6 negative items x 4 + 4 positive items x 0 = 24
    # "Never" on every item:      6 x 0 + 4 x 4 = 16
    out = ek.score(frame([4] * 10, [0] * 10), ID, coding="position")
    assert out[ID].tolist() == [24, 16]


@pytest.mark.parametrize("total, band", [
    (13, "low stress"), (14, "moderate stress"), (26, "moderate stress"), (27, "high stress"),
])
def test_band_boundaries_both_sides(total, band):
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out.loc[0, ID] == total
    assert out.loc[0, f"{ID}_band"] == band


def test_one_missing_item_is_missing_not_prorated():
    out = ek.score(frame([3, 2, 1, 1, 3, 0, 2, 0, 0, None]), ID)
    assert np.isnan(out.loc[0, ID])
    assert pd.isna(out.loc[0, f"{ID}_band"])
    assert out.loc[0, f"{ID}_n_answered"] == 9
    assert not out.loc[0, f"{ID}_prorated"]


def test_all_missing_is_nan_never_zero():
    out = ek.score(frame([None] * 10), ID)
    assert np.isnan(out.loc[0, ID]) and out.loc[0, f"{ID}_n_answered"] == 0


def test_out_of_range_raises():
    with pytest.raises(ScoringError, match="pss10_3"):
        ek.score(frame([0, 0, 5, 0, 0, 0, 0, 0, 0, 0]), ID)
