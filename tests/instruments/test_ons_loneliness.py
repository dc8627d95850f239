"""ONS direct loneliness question (national indicator), hand-worked.

Source: ONS (2018) "Measuring loneliness: guidance for use of the national indicators on surveys";
shared/reference/instruments.md §5.2. Options as printed: Often/always, Some of the time,
Occasionally, Hardly ever, Never. evalkit scores 1 = never ... 5 = often/always (higher = lonelier);
"often/always" is chronic loneliness.
"""

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import ScoringError

ID = "ons_loneliness"


def frame(values):
    return pd.DataFrame({f"{ID}_1": pd.array(values, dtype="Float64").astype(float)})


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert ID in ek.instruments.available()
    assert spec.items.n == 1
    assert spec.items.range_of(1) == (1, 5)
    assert spec.higher_is == "worse"
    assert spec.items.reverse == (1,)  # printed often/always first
    assert [s.id for s in spec.scales] == [ID]
    sc = spec.primary
    assert sc.range == (1, 5)
    assert sc.missing.rule == "complete" and not sc.missing.official
    assert sc.missing.source.startswith("Local rule")
    assert sc.bands_source and sc.caseness.source
    assert sc.caseness.verified == "R"
    assert spec.licence and spec.citation


@pytest.mark.parametrize("value, band", [
    (1, "hardly ever or never"),       # never
    (2, "hardly ever or never"),       # hardly ever
    (3, "occasionally"),
    (4, "some of the time"),
    (5, "often or always (chronic loneliness)"),
])
def test_scores_and_every_band(value, band):
    out = ek.score(frame([value]), ID)
    assert out.loc[0, ID] == value
    assert out.loc[0, f"{ID}_band"] == band
    assert out.loc[0, f"{ID}_n_answered"] == 1
    assert not out.loc[0, f"{ID}_prorated"]


def test_caseness_chronic_loneliness_both_sides():
    cas = ek.instruments.get(ID).primary.caseness
    assert cas.label == "chronic loneliness"
    assert not cas.is_case(4) and cas.is_case(5)


def test_position_coding_reverses_ons_printed_order():
    # Option positions as printed (1 = often/always ... 5 = never) -> score 6 - position.
    out = ek.score(frame([1, 2, 3, 4, 5]), ID, coding="position")
    assert out[ID].tolist() == [5, 4, 3, 2, 1]
    assert out.loc[0, f"{ID}_band"] == "often or always (chronic loneliness)"
    assert out.loc[4, f"{ID}_band"] == "hardly ever or never"


def test_unanswered_is_missing_never_zero():
    out = ek.score(frame([np.nan, -9]), ID, missing_codes=(-9,))
    assert out[ID].isna().all()
    assert out[f"{ID}_band"].isna().all()
    assert out[f"{ID}_n_answered"].tolist() == [0, 0]
    assert not out[f"{ID}_prorated"].any()


@pytest.mark.parametrize("bad", [0, 6])
def test_out_of_range_raises(bad):
    with pytest.raises(ScoringError, match="ons_loneliness_1"):
        ek.score(frame([bad]), ID)


def test_output_columns():
    out = ek.score(frame([3]), ID)
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]
    assert out[f"{ID}_band"].cat.ordered
