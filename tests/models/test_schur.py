"""The several-term engine's factorisation paths (issue 15): the closed-form diagonal, the dense LAPACK
and the CHOLMOD Cholesky of the Schur complement give lme4's criterion and random effects, checked
against the criterion computed from its definition with dense numpy on small data."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.models import schur
from evalkit.models import sparse_reml as sr


def _data(nested: bool):
    """60 mothers (intercept + slope) in 12 volunteers (intercept + slope) and 4 sites; with
    ``nested`` False mothers meet volunteers across sites, so S is not diagonal."""
    rng = np.random.default_rng(7)
    mother = np.repeat(np.arange(60), 5)
    weeks = np.tile([0.0, 4.0, 8.0, 12.0, 24.0], 60)
    volunteer = mother % 12 if nested else rng.integers(0, 12, len(mother))
    site = volunteer % 4 if nested else rng.integers(0, 4, len(mother))
    Zs = np.column_stack([np.ones_like(weeks), weeks])
    y = (40 + 0.2 * weeks + rng.normal(0, 4, 60)[mother] + rng.normal(0, 0.1, 60)[mother] * weeks
         + rng.normal(0, 2, 12)[volunteer] + rng.normal(0, 1, 4)[site] + rng.normal(0, 3, len(weeks)))
    X = Zs.copy()
    terms = [sr.Term(Zs, mother, 60), sr.Term(Zs, volunteer, 12, correlated=not nested),
             sr.Term(Zs[:, :1], site, 4)]
    theta = (np.array([1.2, -0.01, 0.03, 0.5, 0.02, 0.3]) if nested
             else np.array([1.2, -0.01, 0.03, 0.5, 0.01, 0.02, 0.3]))
    return X, y, terms, theta


def _by_definition(X, y, terms, theta, reml):
    """lme4's profiled criterion and b = Λu from dense matrices (Bates et al. 2015, eqs. 34, 41)."""
    prob = sr.Problem(X, y, terms, reml=reml)
    Z = np.hstack([sr._term_z(t).toarray() for t in terms])
    lam = prob.lambda_at(theta).toarray()
    ZL = Z @ lam
    A = ZL.T @ ZL + np.eye(Z.shape[1])
    Ai_zl = np.linalg.solve(A, ZL.T)
    rx = X.T @ X - X.T @ ZL @ Ai_zl @ X
    beta = np.linalg.solve(rx, X.T @ y - X.T @ ZL @ Ai_zl @ y)
    u = Ai_zl @ (y - X @ beta)
    pwrss = np.sum((y - X @ beta - ZL @ u) ** 2) + u @ u
    n, p = X.shape
    nu = n - p if reml else n
    dev = np.linalg.slogdet(A)[1] + nu * (1 + np.log(2 * np.pi * pwrss / nu))
    return dev + (np.linalg.slogdet(rx)[1] if reml else 0.0), lam @ u


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("path", ["dense", "cholmod"])
def test_factorisations_give_the_criterion_by_definition(nested, path, monkeypatch):
    if path == "cholmod":
        pytest.importorskip("sksparse.cholmod")
        monkeypatch.setattr(schur, "USE_CHOLMOD", True)
        monkeypatch.setattr(schur, "DENSE_MAX", 0)
    else:
        monkeypatch.setattr(schur, "USE_CHOLMOD", False)
    X, y, terms, theta = _data(nested)
    prob = sr.Problem(X, y, terms, reml=True)
    assert prob.schur.nr == 12 * 2 + 4 and prob.schur.lam_diag == nested   # || only when nested
    dev, b = _by_definition(X, y, terms, theta, reml=True)
    ev = prob.evaluate(theta)
    assert prob.criterion(ev) == pytest.approx(dev, rel=1e-12)
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in prob.conditional_modes(ev)]), b,
                               rtol=1e-8, atol=1e-10)


def test_diagonal_schur_complement_in_closed_form():
    X, y, terms, _ = _data(nested=True)
    # mothers in volunteers, a volunteer intercept only: nothing couples two volunteers
    scalar = [terms[0], sr.Term(terms[1].Z[:, :1], terms[1].codes, 12)]
    prob = sr.Problem(X, y, scalar, reml=False)
    theta = np.array([1.2, -0.01, 0.03, 0.5])
    assert prob.schur.is_diag and prob.schur.lam_diag
    assert isinstance(prob.schur.factor(np.zeros((60, 2, 2)), theta), schur._Diagonal)
    dev, b = _by_definition(X, y, scalar, theta, reml=False)
    ev = prob.evaluate(theta)
    assert prob.criterion(ev) == pytest.approx(dev, rel=1e-12)
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in prob.conditional_modes(ev)]), b,
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 30])
def test_level_pairs_in_chunks_are_every_lower_pair_once(chunk):
    """Pairs of Z_r'Z_1 entries sharing a first-factor level, built a few levels at a time."""
    rng = np.random.default_rng(0)
    lev = np.sort(rng.integers(0, 50, 400))
    r, a, v = rng.integers(0, 30, 400), rng.integers(0, 2, 400), rng.normal(size=400)
    keys, bcol, vals = schur._level_pairs(r, lev, a, v, 2, 30, chunk=chunk)
    want = sorted((r[e] * 30 + r[f], lev[e] * 4 + a[e] * 2 + a[f], v[e] * v[f])
                  for e in range(400) for f in range(400) if lev[e] == lev[f] and r[e] >= r[f])
    got = sorted(zip(keys.tolist(), bcol.tolist(), vals.tolist()))
    assert got == want
