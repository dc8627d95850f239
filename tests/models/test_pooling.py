"""Rubin's rules and Barnard–Rubin df: hand arithmetic, edge cases and pooling mixed-model fits."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import SpecificationError
from evalkit.models.pooling import POOL_COLUMNS, pool, pool_fits

EST = [1.0, 1.2, 0.9, 1.1, 1.3]
VAR = [0.04, 0.05, 0.06, 0.05, 0.05]


def test_hand_computed_example_with_barnard_rubin_df():
    # m = 5 imputations; exact arithmetic with fractions.
    m = 5
    # Qbar = (1.0 + 1.2 + 0.9 + 1.1 + 1.3) / 5 = 5.5 / 5 = 1.1
    qbar = F(11, 10)
    # Ubar = (0.04 + 0.05 + 0.06 + 0.05 + 0.05) / 5 = 0.25 / 5 = 0.05
    ubar = F(1, 20)
    # deviations -0.1, 0.1, -0.2, 0, 0.2 -> squares 0.01 + 0.01 + 0.04 + 0 + 0.04 = 0.10
    # B = 0.10 / (5 - 1) = 0.025
    b = F(1, 40)
    # (1 + 1/5) B = 1.2 * 0.025 = 0.03;  T = 0.05 + 0.03 = 0.08
    inflate = F(6, 5) * b
    assert inflate == F(3, 100)
    t = ubar + inflate
    assert t == F(2, 25)
    # r = 0.03 / 0.05 = 0.6;  lambda = 0.03 / 0.08 = 0.375
    r = inflate / ubar
    lam = inflate / t
    assert (r, lam) == (F(3, 5), F(3, 8))
    # nu_old = (m - 1) / lambda^2 = 4 / (9/64) = 256/9 = 28.444...
    nu_old = (m - 1) / lam ** 2
    assert nu_old == F(256, 9)
    # nu_com = 20: nu_obs = 21/23 * 20 * (1 - 3/8) = 21/23 * 12.5 = 525/46 = 11.413...
    nu_com = 20
    nu_obs = F(nu_com + 1, nu_com + 3) * nu_com * (1 - lam)
    assert nu_obs == F(525, 46)
    # nu = 1 / (9/256 + 46/525) = 134400 / 16501 = 8.14496...
    nu = 1 / (1 / nu_old + 1 / nu_obs)
    assert nu == F(134400, 16501)
    # fmi = (r + 2/(nu + 3)) / (1 + r)
    fmi = (r + 2 / (nu + 3)) / (1 + r)
    se = math.sqrt(float(t))                     # sqrt(0.08) = 0.28284...
    stat = float(qbar) / se                      # 1.1 / 0.28284 = 3.8891
    p = 2 * stats.t.sf(stat, float(nu))
    q = stats.t.ppf(0.975, float(nu))

    row = pool(EST, VAR, df_complete=nu_com).iloc[0]
    expected = {"estimate": qbar, "within_var": ubar, "between_var": b, "total_var": t, "riv": r,
                "lambda": lam, "df": nu, "fmi": fmi, "std_error": se, "statistic": stat,
                "p_value": p, "ci_low": float(qbar) - q * se, "ci_high": float(qbar) + q * se}
    for key, value in expected.items():
        assert row[key] == pytest.approx(float(value), abs=1e-12, rel=1e-12), key
    assert row["term"] == "Q" and row["m"] == 5


def test_hand_computed_example_rubin_df_without_df_complete():
    row = pool(EST, VAR).iloc[0]
    nu_old = 256 / 9
    assert row["df"] == pytest.approx(nu_old, rel=1e-12)
    # fmi = (0.6 + 2 / (256/9 + 3)) / 1.6 = (0.6 + 18/283) / 1.6
    assert row["fmi"] == pytest.approx((0.6 + 18 / 283) / 1.6, rel=1e-12)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(1.1 / math.sqrt(0.08), nu_old), rel=1e-12)


def test_table_shape_names_and_vectorised_columns():
    est = pd.DataFrame({"a": EST, "b": [2.0, 2.0, 2.5, 1.5, 2.0]})
    var = pd.DataFrame({"a": VAR, "b": [0.1] * 5})
    tab = pool(est, var, df_complete=[20, 40])
    assert list(tab.columns) == POOL_COLUMNS
    assert tab["term"].tolist() == ["a", "b"]
    # Each column pools the same as alone.
    for j, col in enumerate(["a", "b"]):
        alone = pool(est[col].to_numpy(), var[col].to_numpy(), df_complete=[20, 40][j]).iloc[0]
        pd.testing.assert_series_equal(tab.iloc[j].drop("term"), alone.drop("term"), check_names=False)
    # b: mean 2, deviations 0,0,.5,-.5,0 -> B = 0.5/4 = 0.125; T = 0.1 + 1.2*0.125 = 0.25
    assert tab.loc[1, "between_var"] == pytest.approx(0.125, abs=1e-15)
    assert tab.loc[1, "total_var"] == pytest.approx(0.25, abs=1e-15)


@pytest.mark.parametrize("nu_com", [3, 10, 20, 100, 1e6])
def test_barnard_rubin_df_bounded_by_complete_and_old_df(nu_com):
    br = pool(EST, VAR, df_complete=nu_com).iloc[0]["df"]
    old = pool(EST, VAR).iloc[0]["df"]
    assert br <= nu_com and br <= old
    assert br > 0


def test_barnard_rubin_tends_to_rubin_as_complete_df_grows():
    old = pool(EST, VAR).iloc[0]["df"]
    assert pool(EST, VAR, df_complete=1e12).iloc[0]["df"] == pytest.approx(old, rel=1e-9)
    assert pool(EST, VAR, df_complete=np.inf).iloc[0]["df"] == old


def test_zero_between_variance():
    est = [0.7] * 4
    var = [0.02, 0.03, 0.02, 0.03]
    row = pool(est, var).iloc[0]
    assert row["between_var"] == 0 and row["riv"] == 0 and row["lambda"] == 0
    assert math.isinf(row["df"])
    assert row["fmi"] == 0                           # r/(1+r) with 2/(inf+3) = 0
    assert row["total_var"] == pytest.approx(0.025)
    se = math.sqrt(0.025)
    assert row["ci_high"] == pytest.approx(0.7 + stats.norm.ppf(0.975) * se, rel=1e-12)
    # With nu_com: nu_old = inf so nu = nu_obs = nu_com (nu_com+1)/(nu_com+3) (lambda = 0).
    row = pool(est, var, df_complete=30).iloc[0]
    assert row["df"] == pytest.approx(30 * 31 / 33, rel=1e-12)
    assert row["df"] <= 30
    assert row["fmi"] == pytest.approx((2 / (30 * 31 / 33 + 3)), rel=1e-12)


def test_errors():
    with pytest.raises(SpecificationError, match="at least m = 2 imputations"):
        pool([1.0], [0.1])
    with pytest.raises(SpecificationError, match="at least m = 2 fits"):
        pool_fits([object()])
    with pytest.raises(SpecificationError, match="shape"):
        pool([1.0, 2.0], [0.1, 0.1, 0.1])
    with pytest.raises(SpecificationError, match="non-negative"):
        pool([1.0, 2.0], [0.1, -0.1])
    with pytest.raises(SpecificationError, match="averages to zero"):
        pool([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(SpecificationError, match="finite"):
        pool([1.0, np.nan], [0.1, 0.1])
    with pytest.raises(SpecificationError, match="df_complete must be positive"):
        pool(EST, VAR, df_complete=0)
    with pytest.raises(SpecificationError, match="confidence"):
        pool(EST, VAR, confidence=95)
    with pytest.raises(SpecificationError, match="names has 2"):
        pool(EST, VAR, names=["a", "b"])
    with pytest.raises(SpecificationError, match="not a mixed-model result"):
        pool_fits([object(), object()])
    # SpecificationError is also a ValueError
    with pytest.raises(ValueError):
        pool([1.0], [0.1])


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(2024)
    n_subj, n_time = 15, 4
    subj = np.repeat(np.arange(n_subj), n_time)
    weeks = np.tile(np.arange(n_time, dtype=float), n_subj)
    group = np.repeat(rng.integers(0, 2, n_subj), n_time).astype(float)
    y = (12 + rng.normal(0, 2, n_subj)[subj] - 0.8 * weeks + 1.0 * group
         + rng.normal(0, 1, subj.size))
    out = []
    for _ in range(3):   # "imputations": slightly perturbed copies of the outcome
        d = pd.DataFrame({"id": subj, "weeks": weeks, "group": group,
                          "y": y + rng.normal(0, 0.4, y.size)})
        out.append(ek.fit_mixed(d, outcome="y", fixed="weeks + group", subject="id"))
    return out


def test_pool_fits_one_row_per_fixed_effect(fits):
    tab = pool_fits(fits)
    names = list(fits[0].design.fixed_names)
    assert list(tab.columns) == POOL_COLUMNS
    assert tab["term"].tolist() == names and len(tab) == len(names)
    assert np.isfinite(tab["df"]).all() and (tab["df"] > 0).all()
    assert (tab["m"] == 3).all()
    nu_com = np.mean([f.fixed["df"].to_numpy() for f in fits], axis=0)
    assert (tab["df"].to_numpy() <= nu_com + 1e-9).all()
    # Same as pooling the pieces by hand.
    by_hand = pool(np.vstack([f.beta for f in fits]),
                   np.vstack([np.diag(f.vcov_beta) for f in fits]), df_complete=nu_com, names=names)
    pd.testing.assert_frame_equal(tab, by_hand)
    assert tab["estimate"].to_numpy() == pytest.approx(np.mean([f.beta for f in fits], axis=0))


def test_pool_fits_rejects_different_models(fits):
    rng = np.random.default_rng(7)
    d = pd.DataFrame({"id": np.repeat(np.arange(10), 3), "weeks": np.tile([0.0, 1.0, 2.0], 10)})
    d["y"] = rng.normal(size=len(d)) + d["weeks"]
    other = ek.fit_mixed(d, outcome="y", fixed="weeks", subject="id")
    with pytest.raises(SpecificationError, match="same model"):
        pool_fits([fits[0], other])
