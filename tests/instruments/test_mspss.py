"""MSPSS scoring, hand-worked from Zimet's scoring information.

Sources (shared/reference/instruments.md §5.3): Zimet et al. 1988, J Pers Assess 52:30-41 (12 items
scored 1-7, no reverse keying); NINDS CDE report and Zimet's scoring sheet (Significant Other items
1, 2, 5, 10; Family 3, 4, 8, 11; Friends 6, 7, 9, 12; each score is a mean, range 1-7; bands 1-2.9
low, 3-5 moderate, 5.1-7 high). Missing items: local rule (mean of answered items, at most 1 missing
per subscale; the total allows at most 1 missing overall - schema gap, see the spec's notes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ProratedScoreWarning, ScoringError

ID, N = "mspss", 12
SUBSCALES = {"mspss_significant_other": (1, 2, 5, 10), "mspss_family": (3, 4, 8, 11),
             "mspss_friends": (6, 7, 9, 12)}


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


# Hand-worked row: items 1..12 = 7 6 5 4 7 3 2 4 3 6 5 1
#   Significant Other (1, 2, 5, 10): 7 + 6 + 7 + 6 = 26 -> 26/4 = 6.50 (high)
#   Family (3, 4, 8, 11):            5 + 4 + 4 + 5 = 18 -> 18/4 = 4.50 (moderate)
#   Friends (6, 7, 9, 12):           3 + 2 + 3 + 1 =  9 ->  9/4 = 2.25 (low)
#   Total: 53/12 = 4.41667 (moderate)
ROW = [7, 6, 5, 4, 7, 3, 2, 4, 3, 6, 5, 1]


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 12
    assert all(spec.items.range_of(k) == (1, 7) for k in range(1, 13))
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    assert [s.id for s in spec.scales] == [ID, *SUBSCALES]
    for sc in spec.scales:
        assert sc.method == "mean" and sc.range == (1, 7)
        assert sc.missing.rule == "prorate" and sc.missing.max_missing == 1
        assert not sc.missing.official and sc.missing.source.startswith("Local rule")
        assert sc.bands_source and "Zimet" in sc.bands_source
        assert [(b.min, b.max) for b in sc.bands] == [(1, 2.9), (3, 5), (5.1, 7)]
    for sid, items in SUBSCALES.items():
        assert spec.scale(sid).items == items
    # the three subscales partition the 12 items
    assert sorted(k for items in SUBSCALES.values() for k in items) == list(range(1, 13))
    assert spec.reliability.alpha == 0.88 and spec.reliability.source
    assert spec.licence and spec.citation


def test_hand_worked_total_and_subscales():
    out = ek.score(frame(ROW), ID)
    assert out.loc[0, ID] == pytest.approx(53 / 12)
    assert out.loc[0, "mspss_significant_other"] == pytest.approx(6.5)
    assert out.loc[0, "mspss_family"] == pytest.approx(4.5)
    assert out.loc[0, "mspss_friends"] == pytest.approx(2.25)
    assert out.loc[0, "mspss_band"] == "moderate support"
    assert out.loc[0, "mspss_significant_other_band"] == "high support"
    assert out.loc[0, "mspss_family_band"] == "moderate support"
    assert out.loc[0, "mspss_friends_band"] == "low support"
    assert out.loc[0, "mspss_n_answered"] == 12
    assert out.loc[0, "mspss_family_n_answered"] == 4


def test_output_columns_in_spec_order():
    out = ek.score(frame(ROW), ID)
    expected = []
    for sid in [ID, *SUBSCALES]:
        expected += [sid, f"{sid}_band", f"{sid}_n_answered", f"{sid}_prorated"]
    assert list(out.columns) == expected


@pytest.mark.parametrize("total, band", [
    (12, "low support"),        # 1.000
    (35, "low support"),        # 2.917: above the printed 2.9 but below 3 -> stays low
    (36, "moderate support"),   # 3.000
    (60, "moderate support"),   # 5.000
    (61, "moderate support"),   # 5.083: between 5 and 5.1 -> stays moderate (no rounding)
    (62, "high support"),       # 5.167
    (84, "high support"),       # 7.000
])
def test_total_band_boundaries_both_sides(total, band):
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out.loc[0, ID] == pytest.approx(total / 12)
    assert out.loc[0, "mspss_band"] == band


@pytest.mark.parametrize("values, mean, band", [
    ([3, 3, 3, 2], 2.75, "low support"),
    ([3, 3, 3, 3], 3.00, "moderate support"),
    ([5, 5, 5, 5], 5.00, "moderate support"),
    ([5, 5, 5, 6], 5.25, "high support"),
])
def test_subscale_band_boundaries_both_sides(values, mean, band):
    # put the values on the Family items (3, 4, 8, 11); everything else 4
    row = [4] * 12
    for k, v in zip((3, 4, 8, 11), values):
        row[k - 1] = v
    out = ek.score(frame(row), ID)
    assert out.loc[0, "mspss_family"] == pytest.approx(mean)
    assert out.loc[0, "mspss_family_band"] == band


def test_position_coding_equals_scored_no_reverse_items():
    a = ek.score(frame(ROW), ID)
    b = ek.score(frame(ROW), ID, coding="position")
    pd.testing.assert_frame_equal(a, b)


def test_one_missing_item_mean_of_answered_and_flagged():
    # ROW with item 5 (Significant Other) missing:
    #   Significant Other = (7 + 6 + 6)/3 = 6.3333; total = (53 - 7)/11 = 46/11 = 4.1818
    row = list(ROW)
    row[4] = None
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out.loc[0, "mspss_significant_other"] == pytest.approx(19 / 3)
    assert out.loc[0, ID] == pytest.approx(46 / 11)
    assert out.loc[0, "mspss_prorated"] and out.loc[0, "mspss_significant_other_prorated"]
    assert not out.loc[0, "mspss_family_prorated"]
    assert out.loc[0, "mspss_family"] == pytest.approx(4.5)
    assert out.loc[0, "mspss_n_answered"] == 11


def test_two_missing_in_one_subscale_is_missing():
    row = list(ROW)
    row[0] = row[1] = None  # items 1 and 2, both Significant Other
    out = ek.score(frame(row), ID)  # nothing prorated -> no warning
    assert np.isnan(out.loc[0, "mspss_significant_other"])
    assert np.isnan(out.loc[0, ID])  # 2 missing overall
    assert pd.isna(out.loc[0, "mspss_band"])
    assert out.loc[0, "mspss_family"] == pytest.approx(4.5)
    assert not out.loc[0, "mspss_prorated"]


def test_one_missing_in_each_of_two_subscales_scores_subscales_but_not_total():
    # Documented schema gap: the local rule would allow this total; evalkit withholds it.
    row = list(ROW)
    row[0] = None   # item 1, Significant Other -> (6 + 7 + 6)/3
    row[2] = None   # item 3, Family            -> (4 + 4 + 5)/3
    with pytest.warns(ProratedScoreWarning):
        out = ek.score(frame(row), ID)
    assert out.loc[0, "mspss_significant_other"] == pytest.approx(19 / 3)
    assert out.loc[0, "mspss_family"] == pytest.approx(13 / 3)
    assert np.isnan(out.loc[0, ID])


def test_all_missing_is_nan_never_zero():
    out = ek.score(frame([None] * 12), ID)
    for sid in [ID, *SUBSCALES]:
        assert np.isnan(out.loc[0, sid])
        assert pd.isna(out.loc[0, f"{sid}_band"])
        assert out.loc[0, f"{sid}_n_answered"] == 0
        assert not out.loc[0, f"{sid}_prorated"]


def test_out_of_range_raises_naming_item():
    row = list(ROW)
    row[11] = 0
    with pytest.raises(ScoringError, match="mspss_12"):
        ek.score(frame(row), ID)
