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
