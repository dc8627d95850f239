"""KPCS scoring, hand-worked from the manual.

Sources (shared/reference/instruments.md §6.3): Črnčec, Barnett & Matthey 2008, Res Nurs Health
31:442-53, and the KPCS manual (text reproduced at performwell.org): 15 items 0-3 printed in scoring
order (no reverse keying), total 0-45, higher = more confident; items 1 (feeding) and 9 (partner)
may be "not applicable", scored 2; <= 39 low parenting confidence; alpha 0.81, test-retest 0.88.
Missing items: local rule (complete). evalkit's "not applicable" code is -8.
"""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ScoringError

ID, N, NA = "kpcs", 15, -8


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 15
    assert all(spec.items.range_of(k) == (0, 3) for k in range(1, 16))
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    na = spec.items.not_applicable
    assert (na.items, na.code, na.score) == ((1, 9), -8, 2) and na.source
    sc = spec.primary
    assert [s.id for s in spec.scales] == [ID]
    assert sc.range == (0, 45) and sc.method == "sum"
    assert sc.missing.rule == "complete" and sc.missing.source.startswith("Local rule")
    assert (sc.caseness.value, sc.caseness.op, sc.caseness.label) == (39, "<=", "low parenting confidence")
    assert (spec.reliability.alpha, spec.reliability.test_retest) == (0.81, 0.88)
    assert spec.licence and spec.citation


def test_hand_worked_totals():
    # 3 3 2 3 2 3 3 2 3 3 3 2 3 3 3 -> 41 (not low); 2 x 15 = 30; 3 x 15 = 45; 0 x 15 = 0
    out = ek.score(frame([3, 3, 2, 3, 2, 3, 3, 2, 3, 3, 3, 2, 3, 3, 3], [2] * 15, [3] * 15, [0] * 15), ID)
    assert out[ID].tolist() == [41, 30, 45, 0]
    assert list(out.columns) == [ID, f"{ID}_n_answered", f"{ID}_prorated"]


@pytest.mark.parametrize("total, low", [(39, True), (40, False)])
def test_caseness_both_sides(total, low):
    spec = ek.instruments.get(ID)
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out.loc[0, ID] == total
    assert bool(spec.primary.caseness.is_case(out.loc[0, ID])) is low


@pytest.mark.parametrize("dtype", [float, "int64", object])
def test_not_applicable_items_1_and_9_scored_2(dtype):
    # 3 on every item except "not applicable" on items 1 and 9: 13 x 3 + 2 + 2 = 43
    row = [NA] + [3] * 7 + [NA] + [3] * 6
    data = frame(row, dtype=dtype)
    before = data.copy()
    out = ek.score(data, ID)
    assert out.loc[0, ID] == 43
    assert not out.loc[0, f"{ID}_prorated"]
    pd.testing.assert_frame_equal(data, before)  # the caller's data are not changed


def test_not_applicable_scored_2_under_position_coding_and_despite_missing_codes():
    # item 9 not applicable, the rest 1: 14 x 1 + 2 = 16
    row = [1] * 8 + [NA] + [1] * 6
    assert ek.score(frame(row), ID, coding="position").loc[0, ID] == 16
    assert ek.score(frame(row), ID, missing_codes=(-9, -8)).loc[0, ID] == 16


def test_not_applicable_can_move_a_score_across_the_cut_off():
    # items 1 and 9 = 0 ("not at all confident"), others 3: 13 x 3 = 39 -> low confidence;
    # the same with items 1 and 9 not applicable: 39 + 2 + 2 = 43 -> not low
    spec = ek.instruments.get(ID)
    zero = [0] + [3] * 7 + [0] + [3] * 6
    na = [NA] + [3] * 7 + [NA] + [3] * 6
    out = ek.score(frame(zero, na), ID)
    assert out[ID].tolist() == [39, 43]
    assert [bool(spec.primary.caseness.is_case(v)) for v in out[ID]] == [True, False]


def test_not_applicable_code_on_other_items_is_invalid():
    row = [3] * 15
    row[4] = NA  # item 5 has no "not applicable" option
    with pytest.raises(ScoringError, match="kpcs_5"):
        ek.score(frame(row), ID)


def test_missing_item_makes_total_missing_and_all_missing_is_nan():
    row = [3] * 15
    row[6] = None
    out = ek.score(frame(row, [None] * 15), ID)
    assert out[ID].isna().all()
    assert out[f"{ID}_n_answered"].tolist() == [14, 0]
    assert not out[f"{ID}_prorated"].any()
