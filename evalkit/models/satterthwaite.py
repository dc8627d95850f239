"""Satterthwaite degrees of freedom for fixed effects and linear contrasts, as lmerTest computes them.

For a contrast ``L'β`` with variance ``v(φ) = L' Var(β; φ) L``, where ``φ = (θ, σ)`` are the
variance parameters, ``df = 2 v² / (∇v' A ∇v)`` with ``A = 2 H⁻¹`` the asymptotic covariance of φ
from the Hessian ``H`` of the deviance in φ (Kuznetsova, Brockhoff & Christensen 2017, J Stat Softw
82(13), §3.1).

Written by hand because the df must equal lmerTest's (to 1 %, frozen in
``tests/reference/lme4_fixtures.json``): no Python library computes them for lme4's θ.

Why the df do not depend on the data's units
--------------------------------------------
``df`` is invariant under any linear change of the variance parameters (H → J'HJ, A → J⁻¹AJ⁻ᵀ,
∇v → J'∇v), so it can be computed in the engine's standardised parametrisation
(:func:`evalkit.models.reml.standardise`: outcome and random-effect columns on unit scale), where a
cost in pence and one in pounds, or time in days and in weeks, give the same numbers. lmerTest
inverts H on its eigenvalues above an absolute 1e-8 in the *user's* units, which agrees with the
full inverse whenever H is clearly positive definite — the ordinary case — but a rule relative to
H's largest eigenvalue in the user's units drops the residual-SD direction when the outcome is
in large units (df 80.4 instead of 28.4 for an outcome × 1000). :class:`Satterthwaite` therefore
takes the exact Hessian and Jacobian (:func:`varpar_hessian`, :func:`vcov_jacobian_exact`) in the
standardised parametrisation and drops only eigenvalues below 1e-8 of the largest there, i.e.
directions the data do not inform at all (a singular fit).

The numerical recipe of lmerTest (R's numDeriv: ``hessian`` d = 0.1, r = 4; ``jacobian``
d = 1e-4, r = 4) is kept in :func:`richardson_hessian`, :func:`varpar_covariance` and
:func:`vcov_jacobian` for checks against R.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import reml as _reml

__all__ = ["richardson_hessian", "richardson_jacobian", "varpar_covariance", "vcov_jacobian",
           "satterthwaite_df", "varpar_hessian", "vcov_jacobian_exact", "covariance_from_hessian",
           "Satterthwaite", "EIGEN_TOL"]

# eigenvalues of the standardised Hessian below this fraction of the largest are dropped
EIGEN_TOL = 1e-8

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
    """numDeriv::jacobian (method "Richardson"): columns are ∂f/∂x_i.

    Parameters
    ----------
    f : callable
        Vector (or scalar) function of ``x``.
    x : numpy.ndarray
        Where to differentiate.
    d, eps, r, v : float, float, int, float
        numDeriv's ``method.args``: relative step ``d`` (absolute ``eps`` for |x| below numDeriv's
        zero tolerance), ``r`` Richardson steps, each dividing the step by ``v``.

    Returns
    -------
    numpy.ndarray
        (len(f(x)), len(x)).

    Examples
    --------
    >>> richardson_jacobian(lambda x: np.array([x[0] * x[1], np.sin(x[0])]), np.array([1.0, 2.0])).round(8)
    array([[2.        , 1.        ],
           [0.54030231, 0.        ]])
    """
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
    """numDeriv::hessian (genD with Richardson extrapolation) of a scalar function.

    Parameters
    ----------
    f : callable
        Scalar function of ``x``.
    x : numpy.ndarray
    d, eps, r, v : float, float, int, float
        numDeriv's ``method.args`` for ``hessian`` (d = 0.1, r = 4 by default, as lmerTest).

    Returns
    -------
    numpy.ndarray
        (len(x), len(x)).

    Examples
    --------
    >>> richardson_hessian(lambda x: x[0] ** 2 * x[1] + np.exp(x[1]), np.array([1.0, 0.0])).round(4)
    array([[0., 2.],
           [2., 1.]])
    """
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
    """lmerTest's A = 2 H⁻¹ for φ = (θ, σ), numerically; the bool: H was positive definite.

    lmerTest's recipe exactly (``as_lmerModLT``): numDeriv's Richardson Hessian of ``devfun_vp``
    on the user's scale, inverted on its eigenvalues above an absolute 1e-8. Kept for checks
    against R; fits use :class:`Satterthwaite` (exact, and the same in any units).

    Parameters
    ----------
    stats : evalkit.models.reml.SufficientStats
    pos : list of (int, int)
    varpar : numpy.ndarray
        (θ, σ) at the optimum.
    reml : bool

    Returns
    -------
    tuple of (numpy.ndarray, bool)

    Examples
    --------
    >>> from evalkit.models import reml
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(25), 4); X = np.ones((100, 1))
    >>> s = reml.sufficient_stats(X, X, rng.normal(0, 1, 25)[g] + rng.normal(0, 1, 100), g)
    >>> theta = reml.optimise_theta(s, [(0, 0)], reml=True)[0]
    >>> sigma = np.sqrt(reml.solve(s, theta, [(0, 0)]).pwrss / 99)
    >>> A, ok = varpar_covariance(s, [(0, 0)], np.r_[theta, sigma], True)
    >>> A.shape, ok
    ((2, 2), True)
    """
    def dev(phi):
        return _reml.deviance_varpar(stats, phi, pos, reml)

    H = richardson_hessian(dev, varpar)
    vals, vecs = np.linalg.eigh((H + H.T) / 2.0)
    keep = vals > 1e-8
    A = 2.0 * (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    return A, bool(keep.all())


def vcov_jacobian(stats, pos, varpar: np.ndarray) -> np.ndarray:
    """∂Var(β)/∂φ_k for each variance parameter, numerically (lmerTest's numDeriv::jacobian).

    Parameters
    ----------
    stats : evalkit.models.reml.SufficientStats
    pos : list of (int, int)
    varpar : numpy.ndarray
        (θ, σ).

    Returns
    -------
    numpy.ndarray
        (k, p, p), k = len(varpar).

    Examples
    --------
    >>> from evalkit.models import reml
    >>> X = np.ones((6, 1)); g = np.array([0, 0, 1, 1, 2, 2])
    >>> s = reml.sufficient_stats(X, X, np.array([1.0, 2, 4, 3, 7, 8]), g)
    >>> vcov_jacobian(s, [(0, 0)], np.array([1.0, 1.5])).round(4)
    array([[[1.5]],
    <BLANKLINE>
           [[1.5]]])
    """
    p = stats.p

    def covbeta(phi):
        sol = _reml.solve(stats, phi[:-1], pos)
        return (phi[-1] ** 2 * np.linalg.inv(sol.rxtrx)).ravel()

    J = richardson_jacobian(covbeta, varpar)
    return np.stack([J[:, k].reshape(p, p) for k in range(J.shape[1])])


def satterthwaite_df(L: np.ndarray, vcov: np.ndarray, jac: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Satterthwaite df for each row of ``L`` (one contrast per row): 2 v² / (∇v' A ∇v).

    Parameters
    ----------
    L : array_like
        (k, p) contrast weights.
    vcov : numpy.ndarray
        Var(β) (p × p) in the parametrisation of ``jac`` and ``A``.
    jac : numpy.ndarray
        ∂Var(β)/∂φ (k, p, p).
    A : numpy.ndarray
        Asymptotic covariance of φ.

    Returns
    -------
    numpy.ndarray
        One df per row (inf when the variance does not depend on φ).

    Examples
    --------
    >>> satterthwaite_df([[1.0]], np.array([[2.0]]), np.array([[[1.0]]]), np.array([[0.5]]))
    array([16.])
    """
    L = np.atleast_2d(np.asarray(L, float))
    out = np.empty(len(L))
    for i, l in enumerate(L):
        var = float(l @ vcov @ l)
        grad = np.array([l @ jk @ l for jk in jac])
        denom = float(grad @ A @ grad)
        out[i] = 2.0 * var * var / denom if denom > 0 else np.inf
    return out


# ====================================================================== exact derivatives
def varpar_hessian(ev: "_reml.Evaluation", sigma: float) -> np.ndarray:
    """The exact Hessian of lmerTest's deviance in φ = (θ, σ) (``devfun_vp``) at an evaluation.

    ``ev`` is :func:`evalkit.models.reml.evaluate` with ``order=2`` at θ; σ is the residual SD of
    the same problem (at the optimum, √(pwrss/ν)).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.models import reml
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(25), 4); X = np.ones((100, 1))
    >>> s = reml.sufficient_stats(X, X, rng.normal(0, 1, 25)[g] + rng.normal(0, 1, 100), g)
    >>> phi = np.array([0.9, 1.1])
    >>> exact = varpar_hessian(reml.evaluate(s, phi[:1], [(0, 0)], True, 2), phi[1])
    >>> numeric = richardson_hessian(lambda v: reml.deviance_varpar(s, v, [(0, 0)], True), phi)
    >>> bool(np.allclose(exact, numeric, rtol=1e-7))
    True
    """
    s2 = float(sigma) ** 2
    k = len(ev.theta)
    H = np.empty((k + 1, k + 1))
    H[:k, :k] = ev.h_m + (ev.h_p if ev.reml else 0.0) + ev.h_pw / s2
    H[:k, k] = H[k, :k] = -2.0 * ev.g_pw / (s2 * sigma)
    H[k, k] = -2.0 * ev.nu / s2 + 6.0 * ev.pwrss / (s2 * s2)
    return H


def vcov_jacobian_exact(ev: "_reml.Evaluation", sigma: float) -> np.ndarray:
    """∂Var(β)/∂φ_k, φ = (θ, σ), exactly: −σ²P⁻¹(∂P/∂θ_k)P⁻¹ and 2σP⁻¹ (P = X'V⁻¹X), as (k, p, p).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.models import reml
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(25), 4); X = np.column_stack([np.ones(100), np.tile([0., 1, 2, 3], 25)])
    >>> s = reml.sufficient_stats(X, X, rng.normal(0, 1, 25)[g] + rng.normal(0, 1, 100), g)
    >>> pos = reml.theta_layout(2, True)[0]; phi = np.array([0.9, 0.1, 0.3, 1.1])
    >>> exact = vcov_jacobian_exact(reml.evaluate(s, phi[:3], pos, True, 1), phi[3])
    >>> bool(np.allclose(exact, vcov_jacobian(s, pos, phi), rtol=1e-6, atol=1e-9))
    True
    """
    Pinv = ev.P_inv
    s2 = float(sigma) ** 2
    jac = [-s2 * Pinv @ dPk @ Pinv for dPk in ev.dP]
    jac.append(2.0 * sigma * Pinv)
    return np.stack(jac)


def covariance_from_hessian(H: np.ndarray, rel_tol: float = EIGEN_TOL) -> tuple[np.ndarray, bool]:
    """A = 2 H⁺ on the eigenvalues above ``rel_tol`` × the largest; the bool: all were kept.

    Examples
    --------
    >>> A, ok = covariance_from_hessian(np.diag([4.0, 1.0]))
    >>> A, ok
    (array([[0.5, 0. ],
           [0. , 2. ]]), True)
    >>> covariance_from_hessian(np.diag([4.0, -1e-3]))[1]
    False
    """
    vals, vecs = np.linalg.eigh((H + H.T) / 2.0)
    top = float(np.abs(vals).max()) if vals.size else 0.0
    keep = vals > rel_tol * top
    A = 2.0 * (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    return A, bool(keep.all())


class Satterthwaite:
    """Satterthwaite df for contrasts of a fit, in the engine's standardised parametrisation.

    ``T`` maps the user's β to the standardised one (``L β = (L T) β*``); the df of a contrast is
    the same in either parametrisation (see the module docstring), and computing it here makes
    it independent of the data's units.

    Parameters
    ----------
    ev : evalkit.models.reml.Evaluation
        Order-2 evaluation at the optimum of the standardised problem.
    sigma : float
        Residual SD of the standardised problem.
    T : numpy.ndarray
        :attr:`evalkit.models.reml.Scaling.T`.

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.models import reml
    >>> rng = np.random.default_rng(4)
    >>> g = np.repeat(np.arange(15), 4); t = np.tile([0.0, 6, 12, 24], 15)
    >>> X = np.column_stack([np.ones(60), t])
    >>> y = 40 + 0.3 * t + rng.normal(0, 5, 15)[g] + rng.normal(0, 0.2, 15)[g] * t + rng.normal(0, 3, 60)
    >>> dfs = []
    >>> for k in (1.0, 1000.0):
    ...     f = reml.fit_theta(X, X, k * y, g)
    ...     sat = Satterthwaite(f.evaluation, float(np.sqrt(f.evaluation.pwrss / f.evaluation.nu)),
    ...                         f.scaling.T)
    ...     dfs.append(sat.df(np.eye(2)))
    >>> bool(np.allclose(dfs[0], dfs[1], rtol=1e-9))
    True
    """

    def __init__(self, ev, sigma: float, T: np.ndarray, rel_tol: float = EIGEN_TOL):
        self.T = np.asarray(T, float)
        self.sigma = float(sigma)
        self.hessian = varpar_hessian(ev, sigma)
        self.A, self.positive_definite = covariance_from_hessian(self.hessian, rel_tol)
        self.jacobian = vcov_jacobian_exact(ev, sigma)
        self.vcov = self.sigma ** 2 * ev.P_inv

    def df(self, L) -> np.ndarray:
        """df for each row of ``L`` (contrasts of the user's β)."""
        L = np.atleast_2d(np.asarray(L, float)) @ self.T
        return satterthwaite_df(L, self.vcov, self.jacobian, self.A)
