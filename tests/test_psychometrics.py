"""Internal consistency, item statistics and floor/ceiling effects (evalkit.psychometrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import evalkit as ek
from evalkit.errors import DataQualityWarning, ScoringError, SmallGroupWarning, SpecificationError
from evalkit.instruments.spec import Scale
from evalkit.psychometrics import floor_ceiling

EPDS = ek.instruments.get("epds")
REVERSE = list(EPDS.items.reverse)  # 3, 5..10

# a tiny 6 × 3 matrix for EPDS-3A (items 3, 4, 5), small enough to check by hand
TINY = np.array([[0, 1, 0],
                 [1, 1, 2],
                 [2, 2, 1],
                 [3, 2, 3],
                 [1, 0, 1],
                 [2, 3, 3]], dtype=float)


def hand_alpha(x: np.ndarray) -> float:
    """alpha = k/(k-1) * (1 - sum of item variances / variance of the total), ddof=1."""
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def tiny_frame(matrix=TINY, **extra) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, columns=["epds_3", "epds_4", "epds_5"])
    return frame.assign(**extra)


def epds_scores(n=200, seed=0, waves=("baseline", "end")) -> pd.DataFrame:
    """EPDS symptom scores (0-3) driven by one latent trait, so the items hang together."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(n, 1))
    scores = np.clip(np.round(1.5 + theta + rng.normal(scale=0.7, size=(n, 10))), 0, 3)
    frame = pd.DataFrame(scores, columns=EPDS.item_columns())
    frame.insert(0, "wave", np.resize(np.array(waves), n))
    return frame


def as_positions(scores: pd.DataFrame) -> pd.DataFrame:
    """What a form stores when items hold option positions: reverse-keyed items printed 3-2-1-0."""
    out = scores.copy()
    cols = [f"epds_{k}" for k in REVERSE]
    out[cols] = 3 - out[cols]
    return out


# ====================================================================== internal_consistency
def test_alpha_matches_formula_and_pingouin_with_pingouin_ci():
    table = ek.internal_consistency(tiny_frame(), "epds", scale="epds_3a", by=None)
    assert list(table.columns) == ["instrument", "scale", "group", "n", "n_items", "alpha",
                                   "ci_low", "ci_high"]
    row = table.iloc[0]
    assert (row["instrument"], row["scale"], row["group"], row["n"], row["n_items"]) == \
        ("epds", "epds_3a", "all", 6, 3)
    # by hand: item variances 5.5/5, 5.5/5, 7.33/5 (sum 11/3); totals 1,4,5,8,2,8 have variance 26/3
    assert hand_alpha(TINY) == pytest.approx(3 / 2 * (1 - (11 / 3) / (26 / 3)))  # = 45/52
    assert hand_alpha(TINY) == pytest.approx(45 / 52)
    assert row["alpha"] == pytest.approx(hand_alpha(TINY), abs=1e-12)
    alpha, ci = pg.cronbach_alpha(data=pd.DataFrame(TINY), ci=0.95)
    assert row["alpha"] == pytest.approx(alpha, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == (ci[0], ci[1])


def test_confidence_level_is_passed_to_pingouin():
    table = ek.internal_consistency(tiny_frame(), "epds", scale="epds_3a", by=None, confidence=0.9)
    _, ci = pg.cronbach_alpha(data=pd.DataFrame(TINY), ci=0.9)
    assert (table["ci_low"].item(), table["ci_high"].item()) == (ci[0], ci[1])


def test_listwise_deletion_and_ci_uses_complete_rows():
    matrix = np.vstack([TINY, [[np.nan, 1, 2], [2, np.nan, np.nan]]])
    table = ek.internal_consistency(tiny_frame(matrix), "epds", scale="epds_3a", by=None)
    assert table["n"].item() == 6
    assert table["alpha"].item() == pytest.approx(hand_alpha(TINY))
    _, ci = pg.cronbach_alpha(data=pd.DataFrame(TINY))  # the 6 complete rows, not 8
    assert (table["ci_low"].item(), table["ci_high"].item()) == (ci[0], ci[1])


def test_default_scales_are_those_with_two_or_more_items_in_spec_order():
    table = ek.internal_consistency(epds_scores(), "epds", by=None)
    assert table["scale"].tolist() == ["epds", "epds_3a"]
    assert table["n_items"].tolist() == [10, 3]
    assert table["alpha"].between(0.8, 1).all()


def test_one_row_per_wave_in_category_order_or_sorted():
    data = epds_scores(waves=("mid", "baseline", "end"))
    table = ek.internal_consistency(data, "epds", scale="epds")
    assert table["group"].tolist() == ["baseline", "end", "mid"]  # plain strings: sorted
    assert table["n"].tolist() == [(data["wave"] == w).sum() for w in ["baseline", "end", "mid"]]
    for wave, alpha in zip(table["group"], table["alpha"]):
        sub = data.loc[data["wave"] == wave, EPDS.item_columns()].to_numpy()
        assert alpha == pytest.approx(hand_alpha(sub))

    data["wave"] = pd.Categorical(data["wave"], ["baseline", "mid", "end", "follow_up"])
    table = ek.internal_consistency(data, "epds")
    # scale order first, then the categories present, in category order
    assert list(zip(table["scale"], table["group"])) == [
        ("epds", "baseline"), ("epds", "mid"), ("epds", "end"),
        ("epds_3a", "baseline"), ("epds_3a", "mid"), ("epds_3a", "end")]


def test_rows_do_not_depend_on_row_order():
    data = epds_scores()
    shuffled = data.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(ek.internal_consistency(data, "epds"),
                                  ek.internal_consistency(shuffled, "epds"))


def test_position_coding_reverses_keyed_items_before_alpha():
    scores = epds_scores()
    positions = as_positions(scores)
    right = ek.internal_consistency(positions, "epds", coding="position", by=None)
    truth = ek.internal_consistency(scores, "epds", coding="scored", by=None)
    pd.testing.assert_frame_equal(right, truth)
    wrong = ek.internal_consistency(positions, "epds", coding="scored", by=None)
    assert (wrong["alpha"] < truth["alpha"] - 0.5).all()


def test_custom_item_columns():
    data = tiny_frame().rename(columns={"epds_4": "q4"})
    table = ek.internal_consistency(data, "epds", scale="epds_3a", by=None, items={4: "q4"})
    assert table["alpha"].item() == pytest.approx(hand_alpha(TINY))


def test_too_small_group_gives_nan_and_warns():
    data = tiny_frame(wave=["baseline"] * 5 + ["end"])
    with pytest.warns(SmallGroupWarning, match=r"epds_3a × end \(n=1, items=3\)"):
        table = ek.internal_consistency(data, "epds", scale="epds_3a")
    assert table["group"].tolist() == ["baseline", "end"]
    assert table["alpha"].notna().tolist() == [True, False]
    assert np.isnan(table.loc[1, ["ci_low", "ci_high"]].astype(float)).all()
    assert table.loc[1, "n"] == 1


def test_single_item_scale_gives_nan_and_warns():
    single = Scale(id="epds_self_harm", label="item 10", items=(10,), range=(0, 3),
                   missing=EPDS.scale("epds_3a").missing)
    spec = EPDS.model_copy(update={"scales": (*EPDS.scales, single)})
    data = epds_scores()
    assert "epds_self_harm" not in ek.internal_consistency(data, spec, by=None)["scale"].tolist()
    with pytest.warns(SmallGroupWarning, match="at least 2 complete rows and 2 items"):
        table = ek.internal_consistency(data, spec, scale="epds_self_harm", by=None)
    assert table["n_items"].item() == 1 and np.isnan(table["alpha"].item())


def test_constant_total_gives_nan_and_warns():
    data = tiny_frame(np.array([[1, 2, 0], [2, 1, 0], [0, 3, 0]], dtype=float))
    with pytest.warns(DataQualityWarning, match="no variance"):
        table = ek.internal_consistency(data, "epds", scale="epds_3a", by=None)
    assert np.isnan(table["alpha"].item())


def test_missing_item_columns_are_listed():
    data = tiny_frame().drop(columns=["epds_4", "epds_5"])
    with pytest.raises(SpecificationError,
                       match=r"epds item column\(s\) epds_4, epds_5 are not in data; .*items="):
        ek.internal_consistency(data, "epds", scale="epds_3a", by=None)
    with pytest.raises(SpecificationError, match=r"epds_1, epds_2, .*epds_10 are not in data"):
        ek.item_statistics(data, "epds", by=None)


@pytest.mark.parametrize("kwargs, message", [
    ({"by": "visit"}, r"by='visit' is not a column of data; pass by=None"),
    ({"coding": "raw"}, r"coding='raw' is not known; use 'scored' .* or 'position'"),
    ({"confidence": 95}, r"confidence=95 must be a number between 0 and 1"),
    ({"items": {11: "q11"}}, r"items= names item\(s\) 11 that epds does not have"),
    ({"scale": 3}, r"scale=3 must be a scale id"),
])
def test_invalid_options_raise_specification_error(kwargs, message):
    with pytest.raises(SpecificationError, match=message):
        ek.internal_consistency(tiny_frame(), "epds", **{"scale": "epds_3a", "by": None, **kwargs})


def test_unknown_scale_lists_the_scales():
    with pytest.raises(ek.UnknownNameError, match="epds has no scale 'epds_9z'; scales: epds, epds_3a"):
        ek.internal_consistency(tiny_frame(), "epds", scale="epds_9z", by=None)


def test_missing_codes_and_text_raise_scoring_error():
    data = tiny_frame()
    data.loc[[1, 4], "epds_4"] = -9
    with pytest.raises(ScoringError, match=r"'epds_4' has 2 value\(s\) outside 0..3 \(rows 1, 4, "
                                           r"e.g. -9\); replace missing codes such as -9 with NaN"):
        ek.internal_consistency(data, "epds", scale="epds_3a", by=None)
    data = tiny_frame().astype(object)
    data.loc[2, "epds_5"] = "often"
    with pytest.raises(ScoringError, match=r"'epds_5' holds 1 value\(s\) that are not numbers"):
        ek.item_statistics(data, "epds", scale="epds_3a", by=None)


def test_not_a_dataframe():
    with pytest.raises(SpecificationError, match="needs a pandas DataFrame"):
        ek.internal_consistency(TINY, "epds")


# ====================================================================== item_statistics
def test_item_statistics_by_hand():
    stats = ek.item_statistics(tiny_frame(), "epds", scale="epds_3a", by=None)
    assert list(stats.columns) == ["instrument", "scale", "group", "item", "column", "n", "mean",
                                   "sd", "n_complete", "corrected_item_total", "alpha_if_deleted",
                                   "floor_pct", "ceiling_pct"]
    assert stats["item"].tolist() == [3, 4, 5]
    assert stats["column"].tolist() == ["epds_3", "epds_4", "epds_5"]
    for j, row in stats.iterrows():
        item, rest = TINY[:, j], np.delete(TINY, j, axis=1)
        assert row["n"] == 6 and row["n_complete"] == 6
        assert row["mean"] == pytest.approx(item.mean())
        assert row["sd"] == pytest.approx(item.std(ddof=1))
        assert row["corrected_item_total"] == pytest.approx(np.corrcoef(item, rest.sum(axis=1))[0, 1])
        assert row["alpha_if_deleted"] == pytest.approx(hand_alpha(rest))
        assert row["alpha_if_deleted"] == pytest.approx(pg.cronbach_alpha(pd.DataFrame(rest))[0])
    # epds_3 = 0,1,2,3,1,2: one 0 and one 3 of 6; epds_4 = 1,1,2,2,0,3; epds_5 = 0,2,1,3,1,3
    assert stats["floor_pct"].tolist() == pytest.approx([100 / 6, 100 / 6, 100 / 6])
    assert stats["ceiling_pct"].tolist() == pytest.approx([100 / 6, 100 / 6, 200 / 6])


def test_item_statistics_corrected_total_uses_complete_rows_and_n_uses_answered():
    matrix = np.vstack([TINY, [[3, np.nan, 3]]])
    stats = ek.item_statistics(tiny_frame(matrix), "epds", scale="epds_3a", by=None)
    assert stats["n"].tolist() == [7, 6, 7]
    assert stats["n_complete"].tolist() == [6, 6, 6]
    assert stats.loc[0, "mean"] == pytest.approx(np.append(TINY[:, 0], 3).mean())
    assert stats.loc[0, "ceiling_pct"] == pytest.approx(200 / 7)
    r = np.corrcoef(TINY[:, 0], TINY[:, 1:].sum(axis=1))[0, 1]
    assert stats.loc[0, "corrected_item_total"] == pytest.approx(r)


def test_alpha_if_deleted_equals_alpha_of_remaining_items():
    data = epds_scores(n=120, seed=4)
    stats = ek.item_statistics(data, "epds", by=None)
    assert stats["item"].tolist() == list(range(1, 11))
    full = ek.internal_consistency(data, "epds", scale="epds", by=None)["alpha"].item()
    x = data[EPDS.item_columns()].to_numpy()
    for j, row in stats.iterrows():
        assert row["alpha_if_deleted"] == pytest.approx(hand_alpha(np.delete(x, j, axis=1)))
        assert row["corrected_item_total"] > 0.3
        assert row["alpha_if_deleted"] < full  # every item helps a one-factor scale


def test_position_coding_flips_item_total_sign_of_reverse_keyed_items():
    positions = as_positions(epds_scores())
    wrong = ek.item_statistics(positions, "epds", coding="scored", by=None).set_index("item")
    right = ek.item_statistics(positions, "epds", coding="position", by=None).set_index("item")
    assert (right["corrected_item_total"] > 0).all()
    # left as positions, seven of ten items point the other way: the rest-score follows them, so the
    # three items keyed forwards (1, 2, 4) correlate negatively with it
    assert (wrong.loc[[1, 2, 4], "corrected_item_total"] < 0).all()
    assert (wrong.loc[REVERSE, "corrected_item_total"] < right.loc[REVERSE, "corrected_item_total"]).all()
    # on the score metric, floor and ceiling of a reversed item swap
    assert right.loc[REVERSE, "floor_pct"].tolist() == wrong.loc[REVERSE, "ceiling_pct"].tolist()
    truth = ek.item_statistics(epds_scores(), "epds", by=None).set_index("item")
    pd.testing.assert_frame_equal(right, truth)


def test_item_statistics_rows_item_then_group():
    data = epds_scores(n=40)
    stats = ek.item_statistics(data, "epds", scale="epds_3a")
    assert list(zip(stats["item"], stats["group"])) == [
        (3, "baseline"), (3, "end"), (4, "baseline"), (4, "end"), (5, "baseline"), (5, "end")]
    base = ek.item_statistics(data.loc[data["wave"] == "baseline"], "epds", scale="epds_3a", by=None)
    got = stats.loc[stats["group"] == "baseline"].drop(columns="group").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, base.drop(columns="group"))


def test_item_statistics_small_group_warns():
    data = tiny_frame(wave=["baseline"] * 5 + ["end"])
    with pytest.warns(SmallGroupWarning, match=r"NaN for group\(s\) end \(n=1\)"):
        stats = ek.item_statistics(data, "epds", scale="epds_3a")
    end = stats.loc[stats["group"] == "end"]
    assert end["corrected_item_total"].isna().all() and end["alpha_if_deleted"].isna().all()
    assert end["n"].tolist() == [1, 1, 1] and end["sd"].isna().all()


def test_item_statistics_takes_one_scale():
    with pytest.raises(SpecificationError, match="takes one scale id"):
        ek.item_statistics(tiny_frame(), "epds", scale=["epds", "epds_3a"], by=None)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int8, st.tuples(st.integers(3, 12), st.just(3)),
                  elements=st.integers(0, 3)))
def test_alpha_and_alpha_if_deleted_match_formula(matrix):
    x = matrix.astype(float)
    # alpha is undefined for a constant total (see test_constant_total_gives_nan_and_warns)
    assume(x.sum(axis=1).var(ddof=1) > 0)
    assume(all(np.delete(x, j, axis=1).sum(axis=1).var(ddof=1) > 0 for j in range(3)))
    table = ek.internal_consistency(tiny_frame(x), "epds", scale="epds_3a", by=None)
    assert table["alpha"].item() == pytest.approx(hand_alpha(x), abs=1e-9)
    stats = ek.item_statistics(tiny_frame(x), "epds", scale="epds_3a", by=None)
    expected = [hand_alpha(np.delete(x, j, axis=1)) for j in range(3)]
    assert stats["alpha_if_deleted"].tolist() == pytest.approx(expected, abs=1e-9)


# ====================================================================== floor_ceiling
def test_floor_ceiling_percentages_and_fifteen_percent_flags():
    # 20 EPDS totals: 3 at 0 (15%: not above 15, no flag), 4 at 30 (20%: flag)
    totals = [0] * 3 + [30] * 4 + list(range(5, 18)) + [np.nan]
    subscale = [9] * 3 + [0] * 17 + [np.nan]  # 3 of 20 at each end -> ceiling 15%, floor 85%
    scores = pd.DataFrame({"epds": totals, "epds_3a": subscale})
    table = floor_ceiling(scores, instrument="epds")
    assert list(table.columns) == ["instrument", "scale", "group", "n", "floor_pct", "ceiling_pct",
                                   "floor_effect", "ceiling_effect"]
    assert table["scale"].tolist() == ["epds", "epds_3a"]
    assert table["n"].tolist() == [20, 20]
    assert table["floor_pct"].tolist() == pytest.approx([15.0, 85.0])
    assert table["ceiling_pct"].tolist() == pytest.approx([20.0, 15.0])
    assert table["floor_effect"].tolist() == [False, True]
    assert table["ceiling_effect"].tolist() == [True, False]
    strict = floor_ceiling(scores, instrument="epds", scale="epds", threshold=10)
    assert strict[["floor_effect", "ceiling_effect"]].iloc[0].tolist() == [True, True]


def test_floor_ceiling_by_group():
    scores = pd.DataFrame({"epds": [0, 0, 4, 30, 5, 6, 7, 8],
                           "wave": ["end", "end", "end", "end", "baseline", "baseline", "baseline",
                                    "baseline"]})
    table = floor_ceiling(scores, instrument="epds", by="wave")
    assert table["group"].tolist() == ["baseline", "end"]
    assert table["floor_pct"].tolist() == [0.0, 50.0]
    assert table["ceiling_pct"].tolist() == [0.0, 25.0]
    assert table["floor_effect"].tolist() == [False, True]


def test_floor_ceiling_empty_group_warns_and_is_missing():
    scores = pd.DataFrame({"epds": [3.0, np.nan], "wave": ["baseline", "end"]})
    with pytest.warns(SmallGroupWarning, match="no score to describe for epds × end"):
        table = floor_ceiling(scores, instrument="epds", by="wave")
    assert table.loc[1, "n"] == 0 and np.isnan(table.loc[1, "floor_pct"])
    assert table.loc[1, "floor_effect"] is pd.NA
    assert str(table["floor_effect"].dtype) == "boolean"


def test_floor_ceiling_errors():
    with pytest.raises(SpecificationError, match="scores has no epds scale column; expected one of "
                                                 "epds, epds_3a"):
        floor_ceiling(pd.DataFrame({"wemwbs": [40]}), instrument="epds")
    with pytest.raises(SpecificationError, match=r"score column\(s\) epds_3a are not in scores"):
        floor_ceiling(pd.DataFrame({"epds": [4]}), instrument="epds", scale=["epds", "epds_3a"])
    with pytest.raises(ScoringError, match=r"'epds' has 1 score\(s\) outside 0..30"):
        floor_ceiling(pd.DataFrame({"epds": [4, -9]}), instrument="epds")
    with pytest.raises(SpecificationError, match="threshold='15%' must be"):
        floor_ceiling(pd.DataFrame({"epds": [4]}), instrument="epds", threshold="15%")


def test_simulated_cohort_end_to_end():
    responses = ek.simulate_cohort(n=60, seed=1).responses.replace(-9, np.nan)
    table = ek.internal_consistency(responses, "wemwbs", by=None)
    assert table["scale"].tolist()[0] == "wemwbs" and table["alpha"].iloc[0] > 0.7
    stats = ek.item_statistics(responses, "epds")
    assert len(stats) == 10 * responses["wave"].nunique()
