"""LSNS-6 scoring, hand-worked.

Sources (shared/reference/instruments.md §5.5): Lubben et al. 2006, Gerontologist 46:503-13,
doi:10.1093/geront/46.4.503 - 6 items scored 0-5 (LSNS-R form), Family items 1-3 and Friends items
4-6 (0-15 each), total 0-30; total < 12 at risk of social isolation [R]; subscale < 6 limited ties [R].
Missing items: local rule (complete).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame
from evalkit.errors import ScoringError

ID = "lsns6"


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 6
    assert all(spec.items.range_of(k) == (0, 5) for k in range(1, 7))
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    assert [(s.id, s.items, s.range) for s in spec.scales] == [
        ("lsns6", "all", (0, 30)), ("lsns6_family", (1, 2, 3), (0, 15)),
        ("lsns6_friends", (4, 5, 6), (0, 15))]
    for sc in spec.scales:
        assert sc.missing.rule == "complete" and sc.missing.source.startswith("Local rule")
        assert sc.caseness.op == "<=" and sc.caseness.verified == "R" and sc.caseness.source
        assert sc.bands == ()
    assert spec.primary.caseness.value == 11
    assert spec.primary.caseness.label == "at risk of social isolation"
    assert spec.scale("lsns6_family").caseness.value == 5
    assert spec.scale("lsns6_friends").caseness.value == 5
    assert spec.licence and spec.citation


def test_hand_worked_total_and_subscales():
    # [2, 3, 1 | 0, 2, 1]: family 2 + 3 + 1 = 6, friends 0 + 2 + 1 = 3, total 9
    # [5, 5, 5 | 5, 5, 5]: 15, 15, 30;  [0]*6: 0, 0, 0
    out = ek.score(frame([2, 3, 1, 0, 2, 1], [5] * 6, [0] * 6), ID)
    assert out["lsns6"].tolist() == [9, 30, 0]
    assert out["lsns6_family"].tolist() == [6, 15, 0]
    assert out["lsns6_friends"].tolist() == [3, 15, 0]
    assert list(out.columns) == [c for s in ("lsns6", "lsns6_family", "lsns6_friends")
                                 for c in (s, f"{s}_n_answered", f"{s}_prorated")]


@pytest.mark.parametrize("row, total, at_risk", [
    ([2, 2, 2, 2, 2, 1], 11, True),
    ([2, 2, 2, 2, 2, 2], 12, False),
])
def test_total_caseness_both_sides_of_12(row, total, at_risk):
    spec = ek.instruments.get(ID)
    out = ek.score(frame(row), ID)
    assert out.loc[0, ID] == total
    assert bool(spec.primary.caseness.is_case(out.loc[0, ID])) is at_risk


@pytest.mark.parametrize("sid, row, value, limited", [
    ("lsns6_family", [2, 2, 1, 3, 3, 3], 5, True),
    ("lsns6_family", [2, 2, 2, 3, 3, 3], 6, False),
    ("lsns6_friends", [3, 3, 3, 1, 2, 2], 5, True),
    ("lsns6_friends", [3, 3, 3, 2, 2, 2], 6, False),
])
def test_subscale_caseness_both_sides_of_6(sid, row, value, limited):
    spec = ek.instruments.get(ID)
    out = ek.score(frame(row), ID)
    assert out.loc[0, sid] == value
    assert bool(spec.scale(sid).caseness.is_case(out.loc[0, sid])) is limited


def test_position_coding_equals_scored():
    rows = frame([2, 3, 1, 0, 2, 1], [5, 4, 3, 2, 1, 0])
    pd.testing.assert_frame_equal(ek.score(rows, ID), ek.score(rows, ID, coding="position"))


def test_missing_item_withholds_its_scales_only():
    out = ek.score(frame([2, 3, None, 0, 2, 1]), ID)
    assert np.isnan(out.loc[0, "lsns6"]) and np.isnan(out.loc[0, "lsns6_family"])
    assert out.loc[0, "lsns6_friends"] == 3
    assert out.loc[0, "lsns6_n_answered"] == 5 and out.loc[0, "lsns6_family_n_answered"] == 2


def test_all_missing_is_nan_never_zero():
    out = ek.score(frame([None] * 6), ID)
    for sid in ("lsns6", "lsns6_family", "lsns6_friends"):
        assert np.isnan(out.loc[0, sid])
        assert out.loc[0, f"{sid}_n_answered"] == 0


def test_out_of_range_raises():
    with pytest.raises(ScoringError, match="lsns6_4"):
        ek.score(frame([0, 0, 0, 6, 0, 0]), ID)
