"""Moderation API: argument errors and conventions not covered by the emmeans fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import SpecificationError, UnknownNameError
from evalkit.models.moderation import _marginal, pairwise

DATA = Path(__file__).parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def fit():
    d = pd.read_csv(DATA / "mothers30.csv")
    d["delivery_mode"] = pd.Categorical(d["delivery_mode"], ["one_to_one", "group", "both"])
    return ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id")


def test_unknown_variables_are_named(fit):
    with pytest.raises(UnknownNameError, match="'mode' is not a variable of the model; variables: "):
        ek.marginal_means(fit, by="mode")
    with pytest.raises(SpecificationError, match="effect 'delivery_mode' must be numeric"):
        ek.conditional_effects(fit, effect="delivery_mode", by="weeks")
    with pytest.raises(SpecificationError, match="Johnson–Neyman needs a numeric moderator"):
        ek.johnson_neyman(fit, effect="weeks", by="delivery_mode")
    with pytest.raises(SpecificationError, match=r"change must be \(start, end\)"):
        ek.change_from_baseline(fit, time="weeks", change=(0, 6, 12), by="delivery_mode")
    with pytest.raises(UnknownNameError, match="adjust='sidak' is not available"):
        pairwise(_marginal(fit, by="delivery_mode"), adjust="sidak")


def test_means_average_over_other_factors_with_equal_weights(fit):
    overall = ek.marginal_means(fit, at={"weeks": 0})
    by_mode = ek.marginal_means(fit, at={"weeks": 0}, by="delivery_mode")
    assert overall["estimate"].item() == pytest.approx(by_mode["estimate"].mean())


def test_holm_adjustment_by_hand(fit):
    mm = ek.marginal_means(fit, at={"weeks": 12}, by="delivery_mode")
    pw_none = ek.pairwise(mm, adjust="none")
    pw_holm = ek.pairwise(mm, adjust="holm")
    # the private Estimates still work and agree
    pd.testing.assert_frame_equal(pairwise(_marginal(fit, at={"weeks": 12}, by="delivery_mode"),
                                           adjust="holm"), pw_holm)
    p = pw_none["p_value"].to_numpy()
    order = np.argsort(p)
    expected = np.empty(3)
    expected[order] = np.minimum(np.maximum.accumulate(p[order] * np.array([3, 2, 1])), 1)
    np.testing.assert_allclose(pw_holm["p_value"], expected)
    assert pw_holm["term"].tolist() == ["one_to_one 12 - group 12", "one_to_one 12 - both 12",
                                        "group 12 - both 12"]


def test_change_equals_twelve_slopes(fit):
    slopes = ek.conditional_effects(fit, effect="weeks", by="delivery_mode")
    change = ek.conditional_effects(fit, effect="weeks", by="delivery_mode", change=(0, 12))
    np.testing.assert_allclose(change["estimate"], 12 * slopes["estimate"])
    np.testing.assert_allclose(change["df"], slopes["df"])


def test_lrt_when_data_given():
    d = pd.read_csv(DATA / "mothers30.csv")
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * isolation", subject="participant_id")
    ce = ek.conditional_effects(fit, effect="weeks", by="isolation", data=d)
    assert {"lrt_statistic", "lrt_df", "lrt_p_value"} <= set(ce.columns)
    assert ce["lrt_df"].iloc[0] == 1
