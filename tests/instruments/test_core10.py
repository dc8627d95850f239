"""CORE-10 scoring, hand-worked.

Sources (shared/reference/instruments.md §6.2, §0.1): Barkham et al. 2013, Couns Psychother Res
13:3-13 (10 items 0-4, total 0-40; clinical cut-off 11.0; RCI 6 at a 90% CI; alpha 0.90); reverse
items 2 and 3 [V] (CamCOPS core10.py; novopsych); CORE System Trust "What's in a name 1" -
prorate when at most 1 item is missing, clinical score = mean of answered items x 10 [V]; bands
<=10 healthy/low, 11-14 mild, 15-19 moderate, 20-24 moderate-severe, >=25 severe (Connell & Barkham
2007 version choice [R]); norms 4.7 (4.8) general population, 19.7 (7.7) primary-care counselling
(J&T c = 10.5 [C]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ProratedScoreWarning, ScoringError

ID, N = "core10", 10
BANDS = ["healthy or low", "mild", "moderate", "moderate-severe", "severe"]


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 10
    assert all(spec.items.range_of(k) == (0, 4) for k in range(1, 11))
    assert spec.items.reverse == (2, 3)
    assert spec.higher_is == "worse" and spec.recall_period == "last week"
    sc = spec.primary
    assert sc.range == (0, 40)
    assert sc.missing.rule == "prorate" and sc.missing.max_missing == 1
    assert sc.missing.official and "CORE System Trust" in sc.missing.source
    assert sc.missing.never_impute == ()
    assert [b.label for b in sc.bands] == BANDS
    assert [(b.min, b.max) for b in sc.bands] == [(0, 10), (11, 14), (15, 19), (20, 24), (25, 40)]
    assert "[R]" in sc.bands_source
    assert (sc.caseness.value, sc.caseness.op) == (11, ">=") and sc.caseness.source
    assert spec.change.reliable_change == 6 and "90%" in spec.change.reliable_change_source
    cl = spec.change.clinical
    assert (cl.functional_mean, cl.functional_sd, cl.dysfunctional_mean, cl.dysfunctional_sd) == (
        4.7, 4.8, 19.7, 7.7)
    # J&T criterion c (weighted midpoint), worked in instruments.md §0.1: 10.46 -> 10.5
    c = (cl.functional_sd * cl.dysfunctional_mean + cl.dysfunctional_sd * cl.functional_mean) / (
        cl.functional_sd + cl.dysfunctional_sd)
    assert c == pytest.approx(10.46)
    assert spec.reliability.alpha == 0.90
    assert [(n.mean, n.sd) for n in spec.norms] == [(4.7, 4.8), (19.7, 7.7)]
    assert "CC BY-ND 4.0" in spec.licence and spec.citation
    flag = spec.flags[0]
    assert (flag.id, flag.item, flag.above, flag.safeguarding) == ("core10_risk", 6, 0, True)


def test_hand_worked_totals_scored():
    # 2 1 1 0 1 0 3 2 2 1 -> 13 (mild; a case at >= 11)
    out = ek.score(frame([2, 1, 1, 0, 1, 0, 3, 2, 2, 1], [0] * 10, [4] * 10), ID)
    assert out[ID].tolist() == [13, 0, 40]
    assert out[f"{ID}_band"].tolist() == ["mild", "healthy or low", "severe"]
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated", "core10_risk"]


def test_keying_under_position_coding():
    # Ticked positions (0 = not at all ... 4 = most or all of the time): 2 0 1 3 1 0 2 3 2 1
    #   items 2 and 3 reversed: 4 - 0 = 4, 4 - 1 = 3
    #   scores: 2 4 3 3 1 0 2 3 2 1 = 21 (moderate-severe)
    row = frame([2, 0, 1, 3, 1, 0, 2, 3, 2, 1])
    out = ek.score(row, ID, coding="position")
    assert out.loc[0, ID] == 21
    assert out.loc[0, f"{ID}_band"] == "moderate-severe"
    assert ek.score(row, ID).loc[0, ID] == 15  # the same numbers read as scores


@pytest.mark.parametrize("total, band, case", [
    (10, "healthy or low", False), (11, "mild", True),
    (14, "mild", True), (15, "moderate", True),
    (19, "moderate", True), (20, "moderate-severe", True),
    (24, "moderate-severe", True), (25, "severe", True),
])
def test_band_and_caseness_boundaries_both_sides(total, band, case):
    spec = ek.instruments.get(ID)
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out.loc[0, ID] == total
    assert out.loc[0, f"{ID}_band"] == band
    assert bool(spec.primary.caseness.is_case(out.loc[0, ID])) is case


def test_prorate_one_missing_is_mean_times_10_and_flagged():
    # 2 1 1 0 _ 0 3 2 2 1: answered sum 12 over 9 items -> mean 1.3333 x 10 = 13.333 (mild)
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([2, 1, 1, 0, None, 0, 3, 2, 2, 1]), ID)
    assert out.loc[0, ID] == pytest.approx(12 / 9 * 10)
    assert out.loc[0, f"{ID}_prorated"]
    assert out.loc[0, f"{ID}_n_answered"] == 9
    assert out.loc[0, f"{ID}_band"] == "mild"


def test_prorate_with_a_reversed_item_missing_under_position_coding():
    # Positions 2 _ 1 3 1 0 2 3 2 1; item 3 reversed 4 - 1 = 3
    #   scores 2 _ 3 3 1 0 2 3 2 1 = 17 over 9 -> 18.889 (moderate)
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([2, None, 1, 3, 1, 0, 2, 3, 2, 1]), ID, coding="position")
    assert out.loc[0, ID] == pytest.approx(17 / 9 * 10)
    assert out.loc[0, f"{ID}_band"] == "moderate"


@pytest.mark.parametrize("answered_sum, band", [
    (13, "mild"),            # 14.444: past 14, not yet 15 -> mild
    (14, "moderate"),        # 15.556
    (9, "healthy or low"),   # 10.000
    (10, "mild"),            # 11.111
])
def test_prorated_non_integer_scores_fall_in_the_band_they_passed_into(answered_sum, band):
    row = items_summing_to(answered_sum)[:9] + [None]
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out.loc[0, ID] == pytest.approx(answered_sum / 9 * 10)
    assert out.loc[0, f"{ID}_band"] == band


def test_two_missing_is_nan_never_zero():
    out = ek.score(frame([2, 1, 1, 0, None, 0, None, 2, 2, 1]), ID)  # nothing prorated: no warning
    assert np.isnan(out.loc[0, ID])
    assert pd.isna(out.loc[0, f"{ID}_band"])
    assert not out.loc[0, f"{ID}_prorated"]
    assert out.loc[0, f"{ID}_n_answered"] == 8


def test_all_missing_is_nan_never_zero():
    out = ek.score(frame([None] * 10), ID)
    assert np.isnan(out.loc[0, ID]) and out.loc[0, f"{ID}_n_answered"] == 0
    assert pd.isna(out.loc[0, "core10_risk"])


def test_risk_item_flag():
    rows = frame([0, 4, 4, 0, 0, 1, 0, 0, 0, 0], [0, 4, 4, 0, 0, 0, 0, 0, 0, 0])
    out = ek.score(rows, ID)
    assert out["core10_risk"].tolist() == [True, False]
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame([0, 4, 4, 0, 0, None, 0, 0, 0, 0]), ID)
    assert pd.isna(out.loc[0, "core10_risk"])  # item 6 missing: flag unknown, total prorated
    assert out.loc[0, ID] == pytest.approx(8 / 9 * 10)


def test_out_of_range_raises_and_on_invalid_missing():
    with pytest.raises(ScoringError, match="core10_2"):
        ek.score(frame([0, 5, 0, 0, 0, 0, 0, 0, 0, 0]), ID)
    out = ek.score(frame([0, 5, 0, 0, 0, 0, 0, 0, 0, 0], [1] * 10), ID, on_invalid="missing")
    assert np.isnan(out.loc[0, ID]) and out.loc[1, ID] == 10
    assert "item 2" in out.loc[0, f"{ID}_invalid"]
