"""Acceptance: simulated power agrees with the closed form where there is one.

Balanced design, complete data, random intercept and slope, two equal groups, test of the
difference in slopes. Every mother's least-squares slope has variance ``slope_sd² + σ²/Sxx``
(Sxx = Σ (t − t̄)² over her waves); with balanced complete data the mixed model's estimate is the
difference of the two groups' mean slopes, and (away from a zero slope variance) its t statistic
has n − 2 df, so the power is that of a two-sample t test on the slopes: a noncentral t with
n − 2 df and noncentrality δ / √(v (1/n₁ + 1/n₂)).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import evalkit as ek

WAVES = [0.0, 6.0, 12.0, 24.0]
SD = {"intercept_sd": 6.0, "slope_sd": 0.3, "correlation": 0.0, "residual_sd": 4.0}
DELTA = 0.2


def analytic_power(n: int, delta: float, alpha: float = 0.05) -> float:
    t = np.asarray(WAVES)
    v = SD["slope_sd"] ** 2 + SD["residual_sd"] ** 2 / np.sum((t - t.mean()) ** 2)
    se = np.sqrt(v * (2 / n + 2 / n))              # two groups of n / 2
    df = n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = delta / se
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def simulated(sizes, delta, nsim, seed, **options):
    return ek.power_curve(fixed="weeks * mode", random="weeks",
                          effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0,
                                   "weeks:mode[T.one_to_one]": delta},
                          variance=SD, waves=WAVES, allocation={"group": 0.5, "one_to_one": 0.5},
                          test="weeks:mode[T.one_to_one]", sizes=sizes, nsim=nsim, seed=seed,
                          progress=False, **options)


def check_against_closed_form(res, delta):
    for row in res.table.itertuples():
        p = analytic_power(row.n, delta)
        mc_se = np.sqrt(p * (1 - p) / (row.n_sim - row.n_failed))
        assert abs(row.power - p) <= 3 * mc_se, (row.n, row.power, p, mc_se)
        assert row.n_failed == 0


def test_the_closed_form_is_right():
    # the normal approximation it tends to, and power = alpha at no effect
    assert analytic_power(20000, 0.0) == pytest.approx(0.05)
    v = 0.3 ** 2 + 16 / 315
    z = 0.02 / np.sqrt(v * 4 / 20000)
    assert analytic_power(20000, 0.02) == pytest.approx(stats.norm.sf(1.96 - z), abs=2e-3)


def test_power_matches_the_closed_form_quick():
    check_against_closed_form(simulated([20, 60, 100], DELTA, nsim=150, seed=11), DELTA)


def test_type_one_error_is_alpha_quick():
    row = simulated([40], 0.0, nsim=300, seed=12).table.iloc[0]
    assert abs(row.power - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / row.n_sim)
    assert abs(row.coverage - 0.95) <= 3 * np.sqrt(0.05 * 0.95 / row.n_sim)


@pytest.mark.slow
def test_power_matches_the_closed_form_at_five_sizes():
    res = simulated([20, 40, 60, 80, 100], DELTA, nsim=2000, seed=21, n_jobs=2)
    check_against_closed_form(res, DELTA)


@pytest.mark.slow
def test_type_one_error_is_alpha():
    res = simulated([30, 60], 0.0, nsim=4000, seed=22, n_jobs=2)
    for row in res.table.itertuples():
        assert abs(row.power - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / row.n_sim), row
        assert abs(row.bias) < 4 * row.empirical_se / np.sqrt(row.n_sim)
