"""variance_shares: the bootstrap's lean refits are full fits' variances; seeded; sensible CIs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import SingularFitWarning
from evalkit.models import variance_share as vs


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(11)
    mother = np.repeat(np.arange(90), 3)
    volunteer = mother // 5
    weeks = np.tile([0.0, 6.0, 12.0], 90)
    y = (40 + 0.3 * weeks + rng.normal(0, 2, 18)[volunteer] + rng.normal(0, 4, 90)[mother]
         + rng.normal(0, 3, 270))
    d = pd.DataFrame({"mother": mother, "volunteer": volunteer, "weeks": weeks, "y": y})
    fit = ek.fit_mixed(d, outcome="y", fixed="weeks", random="(1 | mother) + (1 | volunteer)")
    return d, fit


def test_a_lean_refit_gives_the_full_fits_variances(fitted):
    d, fit = fitted
    draws = vs._bootstrap(fit, d, n_boot=2, seed=5)
    rng = np.random.default_rng(5)
    for k in range(2):
        dk = d.copy()
        dk["y"] = vs._simulate(fit, rng)
        with warnings.catch_warnings():
            # a draw with the volunteer variance at 0 is singular: a valid draw, compared as such
            warnings.simplefilter("ignore", SingularFitWarning)
            full = ek.fit_mixed(dk, outcome="y", fixed="weeks",
                                random="(1 | mother) + (1 | volunteer)")
        icc = full.icc_by_level()
        np.testing.assert_allclose(draws[k, :, 0], icc["variance"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(draws[k, :, 1], icc["icc"], rtol=1e-4, atol=1e-6)


def test_seeded_and_intervals_hold_the_estimates(fitted):
    d, fit = fitted
    a = vs.variance_shares(fit, d, n_boot=8, seed=2)
    b = vs.variance_shares(fit, d, n_boot=8, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert a["refits"].eq(8).all()
    assert (a["share_ci_low"] <= a["share"]).all() and (a["share"] <= a["share_ci_high"]).all()
    assert a["share"].sum() == pytest.approx(1.0)
    c = vs.variance_shares(fit, d, n_boot=8, seed=3)
    assert not a.equals(c), "another seed draws other outcomes"


@pytest.fixture(scope="module")
def slopes():
    rng = np.random.default_rng(21)
    mother = np.repeat(np.arange(150), 3)
    volunteer = mother // 6
    weeks = np.tile([0.0, 6.0, 12.0], 150)
    slope = 0.3 + rng.normal(0, 0.15, 25)[volunteer] + rng.normal(0, 0.1, 150)[mother]
    y = 40 + rng.normal(0, 4, 150)[mother] + slope * weeks + rng.normal(0, 2, 450)
    d = pd.DataFrame({"mother": mother, "volunteer": volunteer, "weeks": weeks, "y": y})
    return d


def _slope_fit(d):
    return ek.fit_mixed(d, outcome="y", fixed="weeks",
                        random="(1 + weeks | mother) + (0 + weeks | volunteer)")


def test_change_shares_split_the_slope_variances(slopes):
    fit = _slope_fit(slopes)
    t = vs.variance_shares(fit, slopes, time="weeks", n_boot=20, seed=4).set_index("group")
    cov = fit.raw.covariances()
    mother_slope, volunteer_slope = cov[0][1, 1], cov[1][0, 0]
    assert t.loc["mother", "change_variance"] == pytest.approx(mother_slope)
    assert t.loc["volunteer", "change_variance"] == pytest.approx(volunteer_slope)
    assert t.loc["volunteer", "change_share"] == pytest.approx(
        volunteer_slope / (volunteer_slope + mother_slope))
    assert t.loc[["mother", "volunteer"], "change_share"].sum() == pytest.approx(1.0)
    assert np.isnan(t.loc["residual", ["change_variance", "change_share"]].astype(float)).all()
    # the simulated volunteer SD (0.15) outweighs the mothers' own (0.1): most of the variation
    # in change lies between volunteers, and the interval holds the estimate
    assert t.loc["volunteer", "change_share"] > 0.5
    lo, est, hi = t.loc["volunteer", ["change_share_ci_low", "change_share",
                                       "change_share_ci_high"]]
    assert 0 <= lo <= est <= hi <= 1


def test_change_shares_do_not_depend_on_units(slopes):
    a = vs.variance_shares(_slope_fit(slopes), slopes, time="weeks", n_boot=6, seed=4)
    d = slopes.assign(y=slopes["y"] * 10, weeks=slopes["weeks"] / 7)
    b = vs.variance_shares(_slope_fit(d), d, time="weeks", n_boot=6, seed=4)
    for col in ("share", "change_share", "change_share_ci_low", "change_share_ci_high",
                "share_ci_low", "share_ci_high"):
        np.testing.assert_allclose(b[col], a[col], rtol=2e-4, atol=1e-6, err_msg=col)
    np.testing.assert_allclose(b["change_variance"][:2], a["change_variance"][:2] * 4900,
                               rtol=2e-4)


def test_a_level_without_a_slope_has_no_share_of_change(fitted):
    d, fit = fitted            # (1 | mother) + (1 | volunteer): no slope anywhere
    t = vs.variance_shares(fit, d, time="weeks", n_boot=4, seed=1)
    assert t["change_share"].isna().all() and t["change_share_ci_high"].isna().all()
    d2 = d.copy()
    fit2 = ek.fit_mixed(d2, outcome="y", fixed="weeks",
                        random="(1 + weeks | mother) + (1 | volunteer)")
    t2 = vs.variance_shares(fit2, d2, time="weeks", n_boot=4, seed=1).set_index("group")
    # only the mothers' term has a slope: nothing to split, so no share is reported
    assert t2["change_share"].isna().all()
    assert t2.loc["mother", "change_variance"] > 0
    assert "change_share" not in vs.variance_shares(fit2, d2, n_boot=0).columns
