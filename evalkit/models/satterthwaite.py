"""Satterthwaite degrees of freedom for fixed effects and linear contrasts, as lmerTest computes them.

For a contrast ``L'β`` with variance ``v(φ) = L' Var(β; φ) L``, where ``φ = (θ, σ)`` are the
variance parameters, ``df = 2 v² / (∇v' A ∇v)`` with ``A = 2 H⁻¹`` the asymptotic covariance of φ
from the Hessian ``H`` of the deviance in φ (Kuznetsova, Brockhoff & Christensen 2017, J Stat Softw
82(13), §3.1). The derivatives are numerical, with the same Richardson-extrapolation recipe as R's
numDeriv (``hessian``: d = 0.1, r = 4; ``jacobian``: d = 1e-4, r = 4), so the df agree with lmerTest
even near a boundary where the deviance is far from quadratic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import reml as _reml

__all__ = ["richardson_hessian", "richardson_jacobian", "varpar_covariance", "vcov_jacobian",
           "satterthwaite_df"]

_ZERO_TOL = np.sqrt(np.finfo(float).eps / 7e-7)


def _richardson(approx: list[np.ndarray], v: float = 2.0) -> np.ndarray:
    a = [np.asarray(x, float) for x in approx]
    r = len(a)
    for m in range(1, r):
        four = 4.0 ** m
        a = [(a[k + 1] * four - a[k]) / (four - 1.0) for k in range(r - m)]
    return a[0]


def richardson_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, d: float = 1e-4,
                        eps: float = 1e-4, r: int = 4, v: float = 2.0) -> np.ndarray:
    """numDeriv::jacobian (method "Richardson"): columns are ∂f/∂x_i."""
    x = np.asarray(x, float)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    cols = []
    for i in range(len(x)):
        h, approx = h0.copy(), []
        for _ in range(r):
            e = np.zeros_like(x)
            e[i] = h[i]
            approx.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2.0 * h[i]))
            h = h / v
        cols.append(_richardson(approx).ravel())
    return np.column_stack(cols)


def richardson_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, *, d: float = 0.1,
                       eps: float = 1e-4, r: int = 4, v: float = 2.0) -> np.ndarray:
    """numDeriv::hessian (genD with Richardson extrapolation) of a scalar function."""
    x = np.asarray(x, float)
    p = len(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    f0 = float(f(x))
    hdiag = np.zeros(p)
    for i in range(p):
        h, approx = h0.copy(), []
        for _ in range(r):
            e = np.zeros(p)
            e[i] = h[i]
            approx.append((f(x + e) - 2.0 * f0 + f(x - e)) / h[i] ** 2)
            h = h / v
        hdiag[i] = _richardson(approx)
    H = np.diag(hdiag)
    for i in range(p):
        for j in range(i):
            h, approx = h0.copy(), []
            for _ in range(r):
                e = np.zeros(p)
                e[i], e[j] = h[i], h[j]
                approx.append((f(x + e) - 2.0 * f0 + f(x - e) - hdiag[i] * h[i] ** 2
                               - hdiag[j] * h[j] ** 2) / (2.0 * h[i] * h[j]))
                h = h / v
            H[i, j] = H[j, i] = _richardson(approx)
    return H


def varpar_covariance(stats, pos, varpar: np.ndarray, reml: bool) -> tuple[np.ndarray, bool]:
    """A = 2 H⁻¹ for φ = (θ, σ); the bool says whether H was positive definite.

    As lmerTest does, a Hessian with non-positive eigenvalues is inverted on its positive
    eigenvalues only (the caller records a warning).
    """
    ws = _reml.Workspace(stats)

    def dev(phi):
        theta, sigma = phi[:-1], phi[-1]
        sol = _reml.solve(stats, theta, pos, ws)
        s2 = sigma * sigma
        if reml:
            return (sol.logdet_m + sol.logdet_rx + (stats.n - stats.p) * np.log(2 * np.pi * s2)
                    + sol.pwrss / s2)
        return sol.logdet_m + stats.n * np.log(2 * np.pi * s2) + sol.pwrss / s2

    H = richardson_hessian(dev, varpar)
    vals, vecs = np.linalg.eigh((H + H.T) / 2.0)
    tol = 1e-8 * max(abs(vals).max(), 1.0)
    keep = vals > tol
    A = 2.0 * (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    return A, bool(keep.all())


def vcov_jacobian(stats, pos, varpar: np.ndarray) -> np.ndarray:
    """∂Var(β)/∂φ_k for each variance parameter, as an array (k, p, p)."""
    ws = _reml.Workspace(stats)
    p = stats.p

    def covbeta(phi):
        sol = _reml.solve(stats, phi[:-1], pos, ws)
        return (phi[-1] ** 2 * np.linalg.inv(sol.rxtrx)).ravel()

    J = richardson_jacobian(covbeta, varpar)
    return np.stack([J[:, k].reshape(p, p) for k in range(J.shape[1])])


def satterthwaite_df(L: np.ndarray, vcov: np.ndarray, jac: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Satterthwaite df for each row of ``L`` (one contrast per row)."""
    L = np.atleast_2d(np.asarray(L, float))
    out = np.empty(len(L))
    for i, l in enumerate(L):
        var = float(l @ vcov @ l)
        grad = np.array([l @ jk @ l for jk in jac])
        denom = float(grad @ A @ grad)
        out[i] = 2.0 * var * var / denom if denom > 0 else np.inf
    return out
