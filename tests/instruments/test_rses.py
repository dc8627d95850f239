"""RSES scoring, hand-worked from the UMD scoring sheet.

Sources (shared/reference/instruments.md §6.4): Rosenberg 1965; UMD/Rosenberg layout (item 1 =
satisfied with self; options printed Strongly agree, Agree, Disagree, Strongly disagree). Scoring:
SA 3, A 2, D 1, SD 0; the asterisked items 2, 5, 6, 8, 9 are reverse-scored (SA 0 ... SD 3) [V].
Total 0-30; 15-25 normal range, < 15 low (a common convention, not Rosenberg's) [V]; alpha 0.77 [R].
Missing items: local rule (complete).

Because the options are printed SA first, evalkit's `reverse` (score = 3 - printed position) lists
the positively worded items 1, 3, 4, 7, 10; Rosenberg's asterisked items are the others.
"""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit as ek
from ._items import item_frame, items_summing_to as _items_summing_to
from evalkit.errors import ScoringError

ID, N = "rses", 10
SA, A, D, SD = 0, 1, 2, 3  # printed positions on the UMD form


def frame(*rows, **kwargs) -> pd.DataFrame:
    return item_frame(ID, *rows, **kwargs)


def items_summing_to(total: int) -> list[int]:
    return _items_summing_to(ID, total)


def test_spec_metadata():
    spec = ek.instruments.get(ID)
    assert spec.items.n == 10
    assert all(spec.items.range_of(k) == (0, 3) for k in range(1, 11))
    assert spec.items.reverse == (1, 3, 4, 7, 10)
    # Rosenberg's asterisked (reverse-scored) items are exactly the complement
    assert set(range(1, 11)) - set(spec.items.reverse) == {2, 5, 6, 8, 9}
    assert spec.higher_is == "better"
    sc = spec.primary
    assert sc.range == (0, 30)
    assert sc.missing.rule == "complete" and sc.missing.source.startswith("Local rule")
    assert [(b.label, b.min, b.max) for b in sc.bands] == [
        ("low", 0, 14), ("normal range", 15, 25), ("above 25", 26, 30)]
    assert "not Rosenberg" in sc.bands_source
    assert (spec.reliability.alpha, spec.reliability.verified) == (0.77, "R")
    assert any("3, 5, 8, 9, 10" in note for note in spec.notes)  # the other order is documented
    assert spec.licence and spec.citation


def test_hand_worked_total_scored():
    # Scores: 2 2 3 2 3 2 2 1 3 1 -> 21 (normal range)
    out = ek.score(frame([2, 2, 3, 2, 3, 2, 2, 1, 3, 1], [3] * 10, [0] * 10), ID)
    assert out[ID].tolist() == [21, 30, 0]
    assert out[f"{ID}_band"].tolist() == ["normal range", "above 25", "low"]
    assert list(out.columns) == [ID, f"{ID}_band", f"{ID}_n_answered", f"{ID}_prorated"]


def test_keying_under_position_coding_umd_form():
    # Ticked on the UMD form:  1 A, 2 D, 3 SA, 4 A, 5 SD, 6 D, 7 A, 8 A, 9 SD, 10 D
    # Positive items (SA 3, A 2, D 1, SD 0):  1 A=2, 3 SA=3, 4 A=2, 7 A=2, 10 D=1  -> 10
    # Asterisked items (SA 0, A 1, D 2, SD 3): 2 D=2, 5 SD=3, 6 D=2, 8 A=1, 9 SD=3 -> 11
    # Total 21 -- the same row as test_hand_worked_total_scored
    row = frame([A, D, SA, A, SD, D, A, A, SD, D])
    out = ek.score(row, ID, coding="position")
    assert out.loc[0, ID] == 21
    scored = ek.score(frame([2, 2, 3, 2, 3, 2, 2, 1, 3, 1]), ID)
    assert out.loc[0, ID] == scored.loc[0, ID]


def test_position_coding_all_strongly_agree_and_all_strongly_disagree():
    # All SA: positives 5 x 3 + asterisked 5 x 0 = 15; all SD: 5 x 0 + 5 x 3 = 15
    # Highest self-esteem: SA on positives, SD on asterisked = 30
    best = [SA, SD, SA, SA, SD, SD, SA, SD, SD, SA]
    out = ek.score(frame([SA] * 10, [SD] * 10, best), ID, coding="position")
    assert out[ID].tolist() == [15, 15, 30]


@pytest.mark.parametrize("total, band", [
    (14, "low"), (15, "normal range"), (25, "normal range"), (26, "above 25"),
])
def test_band_boundaries_both_sides(total, band):
    out = ek.score(frame(items_summing_to(total)), ID)
    assert out.loc[0, ID] == total
    assert out.loc[0, f"{ID}_band"] == band


def test_missing_item_is_missing_and_all_missing_is_nan():
    out = ek.score(frame([2, 2, 3, 2, None, 2, 2, 1, 3, 1], [None] * 10), ID)
    assert out[ID].isna().all()
    assert out[f"{ID}_band"].isna().all()
    assert out[f"{ID}_n_answered"].tolist() == [9, 0]
    assert not out[f"{ID}_prorated"].any()


def test_one_to_four_coding_is_caught_when_a_4_appears():
    with pytest.raises(ScoringError, match="rses_1"):
        ek.score(frame([4, 3, 3, 3, 3, 3, 3, 3, 3, 3]), ID)
