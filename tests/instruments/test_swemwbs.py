"""SWEMWBS scoring, hand-worked from the published scoring rules and conversion table.

Sources (shared/reference/instruments.md §1): Stewart-Brown et al. 2009, HQLO 7:15 (7 items =
WEMWBS items 1, 2, 3, 6, 7, 9, 11, scored 1-5, raw 7-35, converted to the Rasch metric score with
Warwick's table); Warwick guidance bands on the metric score (<=17 / 18-20 / 21-27 / >=28 [R]);
Shah et al. 2018, HQLO 16:239 (reliable change 2.87 = 2.77 x SEM 1.03; 1-3 points important).
Missing items: local rule, complete forms only (the conversion is undefined otherwise).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to

ID, N, LO, HI = "swemwbs", 7, 1, 5
BANDS = ["probable depression", "possible depression", "average wellbeing", "high wellbeing"]

# Warwick raw -> metric conversion, typed from the table in instruments.md §1.
PUBLISHED = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32,
    15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25, 22: 19.98,
    23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03, 29: 26.02, 30: 27.03,
    31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55, 35: 35.00,
}
# SWEMWBS item k is WEMWBS item WEMWBS_ITEM[k]
WEMWBS_ITEM = {1: 1, 2: 2, 3: 3, 4: 6, 5: 7, 6: 9, 7: 11}


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


@pytest.mark.parametrize("raw, metric", sorted(PUBLISHED.items()))
def test_conversion_equals_the_published_table_at_every_raw_score(raw, metric):
    """Every raw total 7..35 converts to Warwick's published metric score."""
    out = ek.score(frame(items_summing_to(raw)), ID)
    assert out[f"{ID}_raw"].iloc[0] == raw
    assert out[ID].iloc[0] == pytest.approx(metric, abs=1e-9)


def test_spec_table_is_the_published_table():
    spec = ek.instruments.get(ID)
    assert spec.primary.conversion == PUBLISHED
    assert spec.primary.conversion_source
    values = [PUBLISHED[r] for r in range(7, 36)]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing


def test_totals_on_hand_worked_rows():
    """Raw = sum of 7 items; metric from the table: 3 x 7 = 21 -> 19.25; 5+4+4+4+5+4+4 = 30 -> 27.03."""
    out = ek.score(frame([3] * 7, [5, 4, 4, 4, 5, 4, 4], [1] * 7, [5] * 7, index=[10, 11, 12, 13]), ID)
    assert list(out.index) == [10, 11, 12, 13]
    assert out[f"{ID}_raw"].tolist() == [21.0, 30.0, 7.0, 35.0]
    assert out[ID].tolist() == pytest.approx([19.25, 27.03, 7.00, 35.00])
    assert out[f"{ID}_n_answered"].tolist() == [7] * 4
    assert not out[f"{ID}_prorated"].any()


def test_output_columns_and_types():
    """Metric score first, then the raw sum, band, count and prorated flag; no flags."""
    out = ek.score(frame([3] * 7), ID)
    assert list(out.columns) == [ID, f"{ID}_raw", f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]
    assert out[f"{ID}_band"].cat.ordered
    assert out[f"{ID}_band"].cat.categories.tolist() == BANDS
    assert str(out[f"{ID}_n_answered"].dtype) == "Int64"


@pytest.mark.parametrize("raw, metric, band", [
    (7, 7.00, "probable depression"),
    (17, 16.88, "probable depression"),   # <= 17
    (18, 17.43, "possible depression"),   # first metric score above 17
    (22, 19.98, "possible depression"),   # <= 20
    (23, 20.73, "average wellbeing"),     # first metric score above 20
    (30, 27.03, "average wellbeing"),     # below 28
    (31, 28.13, "high wellbeing"),        # >= 28
    (35, 35.00, "high wellbeing"),
])
def test_band_boundaries_from_both_sides(raw, metric, band):
    """Bands on the metric score [R]: <=17 probable depression, 18-20 possible, 21-27 average, >=28
    high. Metric scores are non-integer: the depression cut-offs are read as written (<= 17, <= 20)
    and the high band as >= 28."""
    out = ek.score(frame(items_summing_to(raw)), ID)
    assert out[ID].iloc[0] == pytest.approx(metric)
    assert out[f"{ID}_band"].iloc[0] == band


def test_band_edges_in_the_spec():
    """The boundary choice (documented in the spec): 17.00 is probable, 17.01 possible, 20.00
    possible, 20.01 average, 27.99 average, 28.00 high."""
    bands = {b.label: b for b in ek.instruments.get(ID).primary.bands}
    assert (bands["probable depression"].min, bands["probable depression"].max) == (7, 17)
    assert (bands["possible depression"].min, bands["possible depression"].max) == (17.01, 20)
    assert (bands["average wellbeing"].min, bands["average wellbeing"].max) == (20.01, 27.99)
    assert (bands["high wellbeing"].min, bands["high wellbeing"].max) == (28, 35)


def test_position_coding_equals_scored_coding():
    """No reverse-keyed items, so positions are scores."""
    data = frame([5, 4, 4, 4, 5, 4, 4], [1, 2, 3, 4, 5, 1, 2])
    pd.testing.assert_frame_equal(ek.score(data, ID, coding="position"), ek.score(data, ID))


def test_scored_from_wemwbs_columns():
    """SWEMWBS items 1-7 are WEMWBS items 1, 2, 3, 6, 7, 9, 11.

    WEMWBS row 5 4 4 3 3 4 5 4 4 3 4 5 4 4 -> items 1,2,3,6,7,9,11 = 5+4+4+4+5+4+4 = 30 -> 27.03.
    """
    wem = pd.DataFrame([[5, 4, 4, 3, 3, 4, 5, 4, 4, 3, 4, 5, 4, 4]],
                       columns=[f"wemwbs_{k}" for k in range(1, 15)])
    out = ek.score(wem, ID, items={k: f"wemwbs_{w}" for k, w in WEMWBS_ITEM.items()})
    assert out[f"{ID}_raw"].iloc[0] == 30
    assert out[ID].iloc[0] == pytest.approx(27.03)
    labels_w = ek.instruments.get("wemwbs").items.labels
    labels_s = ek.instruments.get(ID).items.labels
    assert {k: labels_w[w] for k, w in WEMWBS_ITEM.items()} == labels_s


def test_one_missing_item_is_missing_not_prorated():
    """Local rule: complete forms only (no valid conversion otherwise); no prorating warning."""
    out = ek.score(frame([5, 4, None, 4, 5, 4, 4]), ID)
    assert math.isnan(out[ID].iloc[0]) and math.isnan(out[f"{ID}_raw"].iloc[0])
    assert out[f"{ID}_n_answered"].iloc[0] == 6
    assert bool(out[f"{ID}_prorated"].iloc[0]) is False
    assert pd.isna(out[f"{ID}_band"].iloc[0])


def test_all_missing_row_is_missing_never_zero():
    out = ek.score(frame([None] * 7, [3] * 7), ID)
    assert math.isnan(out[ID].iloc[0]) and math.isnan(out[f"{ID}_raw"].iloc[0])
    assert out[ID].iloc[1] == pytest.approx(19.25)
    assert out[f"{ID}_n_answered"].iloc[0] == 0


def test_spec_metadata():
    """7 items 1-5, no reverse, 7-35; reliable change 2.87 (Shah 2018); MID 3 (upper end of 1-3)."""
    spec = ek.instruments.get(ID)
    assert spec.items.n == 7 and (spec.items.min, spec.items.max) == (1, 5)
    assert spec.items.reverse == ()
    assert spec.higher_is == "better"
    assert spec.primary.range == (7, 35)
    assert [s.id for s in spec.scales] == [ID]
    assert len(spec.items.labels) == 7
    assert all(len(label.split()) <= 3 for label in spec.items.labels.values())
    rule = spec.primary.missing
    assert (rule.rule, rule.official) == ("complete", False) and rule.source.startswith("Local rule")
    assert spec.change.reliable_change == 2.87 and "Shah" in spec.change.reliable_change_source
    assert spec.change.mid_improvement == 3 and "Shah" in spec.change.mid_source
    assert any(n.mean == 19.28 and n.sd == 3.92 for n in spec.norms)
