"""The fast (RE)ML engine for linear mixed models with one grouping factor.

Model: ``y_i = X_i β + Z_i b_i + e_i``, ``b_i ~ N(0, σ² Λ Λ')``, ``e_i ~ N(0, σ² I)``, with Λ the
lower-triangular relative covariance factor parametrised by θ exactly as in lme4 (Bates, Mächler,
Bolker & Walker 2015, J Stat Softw 67(1), §3). β and σ are profiled out, so the optimiser only
searches θ (3 numbers for a correlated random intercept and slope).

Why this is written by hand rather than calling a library: the numbers must equal lme4's and
lmerTest's (estimates to 1e-4, standard errors to 1e-3, Satterthwaite df to 1 %; see
``tests/models/test_mixed_reference.py``), no Python library fits lme4's profiled criterion with
its θ parametrisation, and the Satterthwaite df need the deviance's derivatives in exactly
lmerTest's variance parameters (θ, σ). With one grouping factor the criterion reduces to sums over
subjects of q × q blocks, which numpy evaluates in closed form much faster than a sparse Cholesky.

How it stays exact and fast at every size and in any units
----------------------------------------------------------
* **Sufficient statistics.** ``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i`` are summed once per subject
  (``numpy.bincount``, no sorting); every later evaluation costs O(subjects × q²p) and never
  touches the n observations again.
* **Scale-free problem.** :func:`standardise` centres and scales the fixed-effects design and the
  outcome and scales the random-effects columns to unit root mean square before anything is
  optimised; results are reported back on the user's scale (:class:`Scaling`). A cost in pence or
  in pounds, time in days or in weeks give the same standardised problem, so the same iterations,
  the same convergence verdict and the same Satterthwaite df.
* **Closed-form derivatives.** With Ψ = ΛΛ', K_i = Z_i'V_i⁻¹Z_i, F_i = Z_i'V_i⁻¹X_i and
  u_i = Z_i'V_i⁻¹(y_i − X_iβ̂) (V relative to σ²), the differentials of the three parts of the
  criterion are ``d log|I + Z'ZΨ| = Σ tr(K_i dΨ)``, ``d log|X'V⁻¹X| = −Σ tr(F_iP⁻¹F_i' dΨ)`` and
  ``d pwrss = −Σ u_i'dΨu_i``; their second differentials are sums of traces of the same blocks
  (:func:`evaluate`). The gradient and Hessian in θ follow by the chain rule through Ψ(θ); the
  optimiser is a trust-region Newton method that converges in a handful of evaluations, and the
  Satterthwaite df (:mod:`evalkit.models.satterthwaite`) use the exact Hessian and Jacobian
  instead of 100-odd extra deviance evaluations for finite differences.
* **Convergence** is judged as lme4's ``checkConv`` does — the gradient scaled by the Hessian's
  Cholesky factor below 0.002 and a positive-definite Hessian at the optimum, no check at a
  boundary (singular) optimum — never by the optimiser's exit message (:func:`check_convergence`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> g = np.repeat(np.arange(50), 4)
>>> t = np.tile([0.0, 1.0, 2.0, 3.0], 50)
>>> X = np.column_stack([np.ones(200), t])
>>> Z = X.copy()
>>> y = 10 + 0.5 * t + rng.normal(0, 2, 50)[g] + rng.normal(0, 1, 200)
>>> fit = fit_theta(X, Z, y, g, correlated=True, reml=True)
>>> fit.converged, fit.theta.round(3)
(True, array([ 1.763, -0.056,  0.   ]))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SufficientStats", "sufficient_stats", "theta_layout", "make_lambda", "Scaling",
           "standardise", "Evaluation", "evaluate", "profiled_deviance", "deviance_varpar",
           "optimise_theta", "moment_start", "check_convergence", "Solution", "solve", "blups", "ThetaFit",
           "fit_theta", "default_start", "Workspace"]


# ====================================================================== sufficient statistics
@dataclass(frozen=True)
class SufficientStats:
    """Cross-products of the data, per subject (``ztz``, ``ztx``, ``zty``) and overall.

    Attributes
    ----------
    ztz, ztx, zty : numpy.ndarray
        Z_i'Z_i (q, q, m), Z_i'X_i (q, p, m) and Z_i'y_i (q, m): subjects on the last axis.
    xtx, xty, yty : numpy.ndarray, numpy.ndarray, float
        X'X, X'y and y'y over all rows.
    n, p, q, m : int
        Rows, fixed effects, random effects per subject, subjects.
    zy : numpy.ndarray or None
        [Z_i'X_i | Z_i'y_i] (q, p + 1, m); ``ztx`` and ``zty`` are views into it.
    """

    ztz: np.ndarray   # (q, q, m): component-major, so each block entry is one contiguous vector
    ztx: np.ndarray   # (q, p, m): subjects on the contiguous axis, so per-subject scaling is fast
    zty: np.ndarray   # (q, m)
    xtx: np.ndarray   # (p, p)
    xty: np.ndarray   # (p,)
    yty: float
    n: int
    p: int
    q: int
    m: int
    zy: np.ndarray | None = field(default=None, repr=False)   # (q, p+1, m): [Z'X | Z'y]


def _zy(stats: SufficientStats) -> np.ndarray:
    """[Z_i'X_i | Z_i'y_i] as one (q, p + 1, m) array (``ztx``, ``zty`` are views into it)."""
    if stats.zy is not None:
        return stats.zy
    return np.concatenate([stats.ztx, stats.zty[:, None, :]], axis=1)


def sufficient_stats(X: np.ndarray, Z: np.ndarray, y: np.ndarray, group: np.ndarray,
                     m: int | None = None) -> SufficientStats:
    """Per-subject cross-products, computed once.

    Parameters
    ----------
    X, Z : numpy.ndarray
        Fixed- and random-effects design matrices (n × p, n × q).
    y : numpy.ndarray
        The outcome (n).
    group : numpy.ndarray
        Integer subject codes 0 … m − 1.
    m : int, optional
        Number of subjects (default ``group.max() + 1``).

    Returns
    -------
    SufficientStats

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((4, 1)); Z = np.ones((4, 1)); y = np.array([1.0, 2.0, 3.0, 5.0])
    >>> s = sufficient_stats(X, Z, y, np.array([0, 0, 1, 1]))
    >>> s.ztz[0, 0], s.zty[0], s.m
    (array([2., 2.]), array([3., 8.]), 2)
    """
    X = np.asarray(X, float)
    Z = np.asarray(Z, float)
    y = np.asarray(y, float)
    group = np.asarray(group, np.intp)
    m = int(group.max()) + 1 if m is None else int(m)
    n, p = X.shape
    q = Z.shape[1]
    ztz = np.empty((q, q, m))
    zy = np.empty((q, p + 1, m))
    Zt = np.ascontiguousarray(Z.T)
    Xt = np.ascontiguousarray(X.T)
    for a in range(q):
        za = Zt[a]
        for b in range(a, q):
            ztz[a, b] = ztz[b, a] = np.bincount(group, za * Zt[b], minlength=m)
        for j in range(p):
            zy[a, j] = np.bincount(group, za * Xt[j], minlength=m)
        zy[a, p] = np.bincount(group, za * y, minlength=m)
    return SufficientStats(ztz=ztz, ztx=zy[:, :p], zty=zy[:, p], xtx=Xt @ X, xty=Xt @ y,
                           yty=float(y @ y), n=n, p=p, q=q, m=m, zy=zy)


# ====================================================================== θ and Λ
def theta_layout(q: int, correlated: bool) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Positions of θ in Λ (column-major lower triangle, as lme4) and the lower bounds.

    Parameters
    ----------
    q : int
        Random effects per subject.
    correlated : bool
        Full lower triangle (lme4's ``|``) or diagonal (``||``).

    Returns
    -------
    tuple
        ``(pos, lower)``: the (row, column) of each θ in Λ and lme4's lower bounds (0 on the
        diagonal, −inf below it).

    Examples
    --------
    >>> theta_layout(2, True)[0]
    [(0, 0), (1, 0), (1, 1)]
    >>> theta_layout(2, False)
    ([(0, 0), (1, 1)], array([0., 0.]))
    """
    if correlated:
        pos = [(i, j) for j in range(q) for i in range(j, q)]
    else:
        pos = [(j, j) for j in range(q)]
    lower = np.array([0.0 if i == j else -np.inf for i, j in pos])
    return pos, lower


def make_lambda(theta: np.ndarray, q: int, pos) -> np.ndarray:
    """Λ (q × q, lower triangular) from θ.

    Parameters
    ----------
    theta : numpy.ndarray
    q : int
    pos : list of (int, int)
        Positions from :func:`theta_layout`.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> make_lambda(np.array([1.0, 0.5, 2.0]), 2, [(0, 0), (1, 0), (1, 1)])
    array([[1. , 0. ],
           [0.5, 2. ]])
    """
    lam = np.zeros((q, q))
    for t, (i, j) in zip(theta, pos):
        lam[i, j] = t
    return lam


# ====================================================================== scaling
@dataclass(frozen=True)
class Scaling:
    """How the engine's standardised problem maps to the user's.

    ``X* = X T`` (T centres every non-constant column on the intercept and scales it to unit SD),
    ``Z* = Z / z_scale`` (column RMS 1; random-effect columns are never centred, which would change
    the model), ``y* = (y − y_centre) / y_scale`` (centred only when X has an intercept column).
    Then ``β = y_scale T β* + y_centre e₀``, ``Var(β) = y_scale² T Var(β*) T'``,
    ``σ = y_scale σ*``, ``θ = θ* / z_scale[row]`` and the criterion differs by a constant.

    Attributes
    ----------
    T : numpy.ndarray
        p × p, with X* = X T.
    intercept : int or None
        The column of ones in X (centring needs one).
    z_scale : numpy.ndarray
        RMS of each Z column.
    y_centre, y_scale : float

    Examples
    --------
    >>> X = np.column_stack([np.ones(3), [0.0, 7.0, 14.0]])
    >>> sc = standardise(X, X, np.array([100.0, 300.0, 200.0]))[3]
    >>> sc.theta_from(sc.theta_to(np.array([1.0, 0.5, 0.25]), [(0, 0), (1, 0), (1, 1)]),
    ...               [(0, 0), (1, 0), (1, 1)])
    array([1.  , 0.5 , 0.25])
    """

    T: np.ndarray
    intercept: int | None
    z_scale: np.ndarray
    y_centre: float
    y_scale: float

    def theta_from(self, theta_s: np.ndarray, pos) -> np.ndarray:
        """θ for the user's Z from the standardised θ*."""
        return np.array([t / self.z_scale[i] for t, (i, _) in zip(theta_s, pos)])

    def theta_to(self, theta: np.ndarray, pos) -> np.ndarray:
        """θ* of the standardised problem from the user's θ."""
        return np.array([t * self.z_scale[i] for t, (i, _) in zip(theta, pos)])

    def beta_from(self, beta_s: np.ndarray) -> np.ndarray:
        """β on the user's scale from β*."""
        beta = self.y_scale * (self.T @ beta_s)
        if self.intercept is not None:
            beta[self.intercept] += self.y_centre
        return beta

    def vcov_from(self, vcov_s: np.ndarray) -> np.ndarray:
        """Var(β) on the user's scale from Var(β*)."""
        return self.y_scale ** 2 * (self.T @ vcov_s @ self.T.T)

    def deviance_offset(self, n: int, p: int, reml: bool) -> float:
        """User-scale criterion minus standardised criterion."""
        if reml:
            return (2.0 * (n - p) * np.log(self.y_scale)
                    - 2.0 * float(np.linalg.slogdet(self.T)[1]))
        return 2.0 * n * np.log(self.y_scale)


def standardise(X: np.ndarray, Z: np.ndarray, y: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Scaling]:
    """Centre and scale X and y, scale Z (see :class:`Scaling`).

    Parameters
    ----------
    X, Z : numpy.ndarray
        Fixed- and random-effects designs.
    y : numpy.ndarray

    Returns
    -------
    tuple
        ``(X*, Z*, y*, Scaling)``.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 7.0, 14.0, 21.0]])
    >>> Xs, Zs, ys, sc = standardise(X, X, np.array([1000.0, 3000.0, 2000.0, 4000.0]))
    >>> Xs[:, 1].round(4), ys.round(4)
    (array([-1.3416, -0.4472,  0.4472,  1.3416]), array([-1.3416,  0.4472, -0.4472,  1.3416]))
    >>> sc.beta_from(np.linalg.lstsq(Xs, ys, rcond=None)[0]).round(4)
    array([1300.    ,  114.2857])
    """
    X = np.asarray(X, float)
    Z = np.asarray(Z, float)
    y = np.asarray(y, float)
    n, p = X.shape
    T = np.eye(p)
    const = [j for j in range(p) if n and np.all(X[:, j] == 1.0)]
    intercept = const[0] if const else None
    mu = X.mean(axis=0) if n else np.zeros(p)
    Xs = np.empty_like(X)
    for j in range(p):
        col = X[:, j]
        if j == intercept:
            Xs[:, j] = col
            continue
        centre = mu[j] if intercept is not None else 0.0
        dev = col - centre
        sd = float(np.sqrt(dev @ dev / max(n, 1)))
        if not np.isfinite(sd) or sd <= 0:
            sd = 1.0
        Xs[:, j] = dev / sd
        T[j, j] = 1.0 / sd
        if intercept is not None:
            T[intercept, j] = -centre / sd
    zs = np.sqrt(np.einsum("ij,ij->j", Z, Z) / max(n, 1))
    zs = np.where((zs > 0) & np.isfinite(zs), zs, 1.0)
    Zs = Z / zs
    yc = float(y.mean()) if intercept is not None and n else 0.0
    ys = y - yc
    sy = float(np.sqrt(ys @ ys / max(n, 1)))
    if not np.isfinite(sy) or sy <= 0:
        sy = 1.0
    ys = ys / sy
    return Xs, Zs, ys, Scaling(T=T, intercept=intercept, z_scale=zs, y_centre=yc, y_scale=sy)


# ====================================================================== the criterion
def _dpsi(theta: np.ndarray, q: int, pos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Λ, ∂Ψ/∂θ_k (k, q, q) and ∂²Ψ/∂θ_k∂θ_l (k, l, q, q) for Ψ = ΛΛ'."""
    lam = make_lambda(theta, q, pos)
    k = len(pos)
    d1 = np.zeros((k, q, q))
    for r, (a, b) in enumerate(pos):
        col = lam[:, b]
        d1[r, a, :] += col
        d1[r, :, a] += col
    return lam, d1, _d2psi(q, tuple(pos))


@functools.lru_cache(maxsize=64)
def _d2psi(q: int, pos: tuple) -> np.ndarray:
    k = len(pos)
    d2 = np.zeros((k, k, q, q))
    for r, (a, b) in enumerate(pos):
        for s, (c, e) in enumerate(pos):
            if e == b:
                d2[r, s, a, c] += 1.0
                d2[r, s, c, a] += 1.0
    d2.flags.writeable = False
    return d2


@dataclass
class Evaluation:
    """The criterion at one θ and, on request, its derivatives (see :func:`evaluate`).

    ``value`` is the profiled criterion (−2 log-likelihood or the REML criterion); ``gradient``
    and ``hessian`` are its derivatives in θ. The parts (``g_*``, ``h_*``: log|I+Z'ZΨ| as ``m``,
    log|X'V⁻¹X| as ``p``, the penalised residual sum of squares as ``pw``) serve the unprofiled
    deviance of lmerTest (:mod:`evalkit.models.satterthwaite`); ``dP`` holds ∂(X'V⁻¹X)/∂θ_k.
    """

    theta: np.ndarray
    reml: bool
    value: float
    beta: np.ndarray
    P: np.ndarray
    pwrss: float
    logdet_m: float
    logdet_p: float
    nu: int
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    g_m: np.ndarray | None = None
    g_p: np.ndarray | None = None
    g_pw: np.ndarray | None = None
    h_m: np.ndarray | None = None
    h_p: np.ndarray | None = None
    h_pw: np.ndarray | None = None
    dP: np.ndarray | None = None
    P_inv: np.ndarray | None = field(default=None, repr=False)


def _blocks(stats: SufficientStats, psi: np.ndarray):
    """Per subject: N_i⁻¹ (N_i = I + A_iΨ, A_i = Z_i'Z_i) and Σ log|N_i|."""
    A, q = stats.ztz, stats.q
    if q == 1:
        N = 1.0 + A[0, 0] * psi[0, 0]
        return (1.0 / N)[None, None, :], float(np.log(N).sum())
    if q == 2:
        p00, p01, p11 = psi[0, 0], psi[0, 1], psi[1, 1]
        a00, a01, a11 = A[0, 0], A[0, 1], A[1, 1]
        n00 = 1.0 + a00 * p00 + a01 * p01
        n01 = a00 * p01 + a01 * p11
        n10 = a01 * p00 + a11 * p01
        n11 = 1.0 + a01 * p01 + a11 * p11
        det = n00 * n11 - n01 * n10
        inv = np.empty((2, 2, stats.m))
        np.divide(n11, det, out=inv[0, 0])
        np.divide(n00, det, out=inv[1, 1])
        np.divide(n01, det, out=inv[0, 1]); inv[0, 1] *= -1.0
        np.divide(n10, det, out=inv[1, 0]); inv[1, 0] *= -1.0
        return inv, float(np.log(det).sum())
    N = np.einsum("acm,cb->mab", A, psi) + np.eye(q)
    sign, logdet = np.linalg.slogdet(N)
    return np.moveaxis(np.linalg.inv(N), 0, 2).copy(), float(logdet.sum())


def _mix(M: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Per-subject products M_i V_i for M (q, q, m) and V (q, …, m) (subjects on the last axis;
    einsum's loop beats broadcasting, which allocates a temporary per term)."""
    if V.ndim == 2:
        return np.einsum("acm,cm->am", M, V)
    return np.einsum("acm,cjm->ajm", M, V)


def evaluate(stats: SufficientStats, theta: np.ndarray, pos, reml: bool, order: int = 0
             ) -> Evaluation:
    """The profiled criterion at θ and, for ``order`` 1 or 2, its gradient and Hessian in θ.

    Per subject only N_i⁻¹ = (I + A_iΨ)⁻¹ (A_i = Z_i'Z_i) is formed, and Y_i = [Z_i'X_i | Z_i'y_i]
    is mapped to N_i⁻¹Y_i = [F_i | Z_i'V_i⁻¹y_i]. Every sum over subjects the criterion and its
    derivatives need is then an entry of one of a few Gram matrices (Σ Y_i'·N_i⁻¹Y_i,
    Σ (N_i⁻¹Y_i)'(N_i⁻¹Y_i), and for the Hessian the same weighted by each entry of K_i), i.e. a
    handful of BLAS products over the subjects, whatever the number of parameters.

    Parameters
    ----------
    stats : SufficientStats
    theta : numpy.ndarray
        lme4's θ for the problem in ``stats``.
    pos : list of (int, int)
        Positions of θ in Λ (:func:`theta_layout`).
    reml : bool
    order : {0, 1, 2}

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(20), 3); X = np.ones((60, 1)); y = rng.normal(0, 1, 20)[g] + rng.normal(0, 1, 60)
    >>> s = sufficient_stats(X, X, y, g)
    >>> ev = evaluate(s, np.array([0.8]), [(0, 0)], True, order=2)
    >>> h = 1e-5
    >>> fd = (evaluate(s, np.array([0.8 + h]), [(0, 0)], True).value
    ...       - evaluate(s, np.array([0.8 - h]), [(0, 0)], True).value) / (2 * h)
    >>> bool(abs(ev.gradient[0] - fd) < 1e-6)
    True
    """
    theta = np.asarray(theta, float)
    q, p, n = stats.q, stats.p, stats.n
    p1 = p + 1
    lam, d1, d2 = _dpsi(theta, q, pos)
    psi = lam @ lam.T
    Ninv, logdet_m = _blocks(stats, psi)
    Y = _zy(stats)
    FY = _mix(Ninv, Y)                                   # [F_i | Z_i'V_i⁻¹y_i] per subject
    Yf = Y.reshape(q * p1, -1)
    FYf = FY.reshape(q * p1, -1)
    G1 = (Yf @ FYf.T).reshape(q, p1, q, p1)              # Σ Y_i[a]'(N_i⁻¹Y_i)[c]
    # Σ Y_i'W_iY_i with W_i = ΨN_i⁻¹ (Woodbury: V_i⁻¹ = I − Z_iW_iZ_i')
    M = np.einsum("ac,aicj->ij", psi, G1)
    M = (M + M.T) / 2.0
    P = stats.xtx - M[:p, :p]
    rhs = stats.xty - M[:p, p]
    yvy = stats.yty - M[p, p]
    try:
        chol = np.linalg.cholesky(P)
        P_inv = np.linalg.inv(P)     # p × p and well conditioned: X is centred and scaled
        beta = P_inv @ rhs
        logdet_p = float(2.0 * np.log(np.diag(chol)).sum())
    except np.linalg.LinAlgError:
        P_inv = np.linalg.pinv(P)
        beta = np.linalg.lstsq(P, rhs, rcond=None)[0]
        logdet_p = float(np.linalg.slogdet(P)[1])
    pwrss = max(float(yvy - rhs @ beta), 1e-300)
    nu = n - p if reml else n
    value = ((logdet_m + logdet_p if reml else logdet_m)
             + nu * (1.0 + np.log(2.0 * np.pi * pwrss / nu)))
    ev = Evaluation(theta=theta, reml=reml, value=float(value), beta=beta, P=P, pwrss=pwrss,
                    logdet_m=logdet_m, logdet_p=logdet_p, nu=nu, P_inv=P_inv)
    if order == 0:
        return ev

    k = len(pos)
    qq = q * q
    w = np.r_[-beta, 1.0]                                # u_i = (N_i⁻¹Y_i) w = Z_i'V_i⁻¹(y_i − X_iβ̂)
    G2 = (FYf @ FYf.T).reshape(q, p1, q, p1)             # Σ (N_i⁻¹Y_i)[a]'(N_i⁻¹Y_i)[c]
    S = G2[:, :p, :, :p]                                 # Σ F_i[a]'F_i[c]
    A = stats.ztz
    K = _mix(Ninv, A)                                    # K_i = Z_i'V_i⁻¹Z_i
    G_m = K.sum(axis=2)
    G_m = (G_m + G_m.T) / 2.0
    G_p = -np.einsum("apbr,pr->ab", S, P_inv)            # −Σ F_iP⁻¹F_i'
    G_pw = -np.einsum("aibj,i,j->ab", G2, w, w)          # −Σ u_iu_i'
    d1f = d1.reshape(k, qq)
    g_m = d1f @ G_m.ravel()
    g_p = d1f @ G_p.ravel()
    g_pw = d1f @ G_pw.ravel()
    dP = -(d1f @ S.transpose(0, 2, 1, 3).reshape(qq, p * p)).reshape(k, p, p)
    ev.g_m, ev.g_p, ev.g_pw, ev.dP = g_m, g_p, g_pw, dP
    ev.gradient = g_m + (g_p if reml else 0.0) + nu * g_pw / pwrss
    if order == 1:
        return ev

    # Σ_i K_i[c,d] (N_i⁻¹Y_i)[a]'(N_i⁻¹Y_i)[b]: one weighted Gram matrix per entry of K_i
    Kf = K.reshape(qq, -1)
    KK = (Kf @ Kf.T).reshape(q, q, q, q)                 # Σ K_ab K_cd
    QK = np.empty((q, q, q, q))                          # Σ Q_ab K_cd, Q_i = F_iP⁻¹F_i'
    UK = np.empty((q, q, q, q))                          # Σ U_ab K_cd, U_i = u_iu_i'
    for c in range(q):
        for d in range(c, q):
            Gw = ((FYf * K[c, d]) @ FYf.T).reshape(q, p1, q, p1)
            QK[:, :, c, d] = QK[:, :, d, c] = np.einsum("apbr,pr->ab", Gw[:, :p, :, :p], P_inv)
            UK[:, :, c, d] = UK[:, :, d, c] = np.einsum("aibj,i,j->ab", Gw, w, w)
    s3 = np.einsum("cpdj,j->cpd", G2[:, :p], w)          # Σ F_i[c]'u_i[d]
    h = np.einsum("kcd,cpd->kp", d1, s3)                 # Σ F_i'dΨ_k u_i
    # second differentials along (dΨ_k, dΨ_l), as  d1f · R · d1f' with R a rearranged 4-tensor
    KKr = KK.transpose(1, 2, 3, 0).reshape(qq, qq)       # [(b,c),(d,a)]: tr(K dΨ K dΨ)
    QKr = QK.transpose(1, 2, 3, 0).reshape(qq, qq)
    UKr = UK.transpose(0, 2, 3, 1).reshape(qq, qq)       # [(a,b),(c,d)]: u'dΨ K dΨ u
    d2f = d2.reshape(k, k, qq)
    h_m = -(d1f @ KKr @ d1f.T) + d2f @ G_m.ravel()
    T1 = (d1f @ QKr @ d1f.T).T
    PdP = P_inv[None] @ dP
    h_p = (-np.einsum("kpr,lrp->kl", PdP, PdP) + T1 + T1.T + d2f @ G_p.ravel())
    h_pw = 2.0 * (d1f @ UKr @ d1f.T) - 2.0 * h @ P_inv @ h.T + d2f @ G_pw.ravel()
    h_m, h_p, h_pw = [(x + x.T) / 2.0 for x in (h_m, h_p, h_pw)]
    ev.h_m, ev.h_p, ev.h_pw = h_m, h_p, h_pw
    ev.hessian = (h_m + (h_p if reml else 0.0)
                  + nu * (h_pw / pwrss - np.outer(g_pw, g_pw) / pwrss ** 2))
    return ev


def profiled_deviance(stats: SufficientStats, theta: np.ndarray, pos, reml: bool,
                      ws=None) -> float:
    """−2 log-likelihood (ML) or the REML criterion with β and σ profiled out (lme4's devfun).

    Parameters
    ----------
    stats : SufficientStats
    theta : numpy.ndarray
    pos : list of (int, int)
    reml : bool
    ws : ignored
        Kept for the earlier signature.

    Returns
    -------
    float

    Examples
    --------
    >>> X = np.ones((6, 1)); g = np.array([0, 0, 1, 1, 2, 2])
    >>> s = sufficient_stats(X, X, np.array([1.0, 2, 4, 3, 7, 8]), g)
    >>> round(profiled_deviance(s, np.array([1.0]), [(0, 0)], True), 4)
    23.3066
    """
    return evaluate(stats, theta, pos, reml).value


def deviance_varpar(stats: SufficientStats, varpar: np.ndarray, pos, reml: bool) -> float:
    """The deviance as a function of (θ, σ), not profiled over σ (lmerTest's devfun_vp).

    Parameters
    ----------
    stats : SufficientStats
    varpar : numpy.ndarray
        (θ, σ).
    pos : list of (int, int)
    reml : bool

    Returns
    -------
    float

    Examples
    --------
    >>> X = np.ones((6, 1)); g = np.array([0, 0, 1, 1, 2, 2])
    >>> s = sufficient_stats(X, X, np.array([1.0, 2, 4, 3, 7, 8]), g)
    >>> round(float(deviance_varpar(s, np.array([1.0, 1.5]), [(0, 0)], True)), 4)
    23.4306
    """
    theta, sigma = np.asarray(varpar[:-1], float), float(varpar[-1])
    ev = evaluate(stats, theta, pos, reml)
    s2 = sigma * sigma
    if reml:
        return (ev.logdet_m + ev.logdet_p + (stats.n - stats.p) * np.log(2 * np.pi * s2)
                + ev.pwrss / s2)
    return ev.logdet_m + stats.n * np.log(2 * np.pi * s2) + ev.pwrss / s2


# ====================================================================== solution at θ
@dataclass(frozen=True)
class Solution:
    """What the deviance evaluation computes at one θ (see :func:`solve`).

    Attributes
    ----------
    theta, lam, beta : numpy.ndarray
    rxtrx : numpy.ndarray
        X'V⁻¹X, so Var(β) = σ² rxtrx⁻¹.
    pwrss, logdet_m, logdet_rx : float
        Penalised residual sum of squares, log|I + Λ'Z'ZΛ|, log|X'V⁻¹X|.
    """

    theta: np.ndarray
    lam: np.ndarray
    beta: np.ndarray
    rxtrx: np.ndarray   # RX'RX = X'V⁻¹X (so Var(β) = σ² RX'RX⁻¹)
    pwrss: float        # penalised weighted residual sum of squares
    logdet_m: float     # log|Λ'Z'ZΛ + I|
    logdet_rx: float    # log|RX'RX|


class Workspace:
    """Kept for callers of the earlier API; evaluations allocate what they need.

    Examples
    --------
    >>> Workspace().stats is None
    True
    """

    def __init__(self, stats: SufficientStats | None = None):
        self.stats = stats


def solve(stats: SufficientStats, theta: np.ndarray, pos, ws: Workspace | None = None) -> Solution:
    """Solve the penalised least-squares problem at θ (β, PWRSS and the log-determinants).

    Parameters
    ----------
    stats : SufficientStats
    theta : numpy.ndarray
    pos : list of (int, int)
    ws : ignored
        Kept for the earlier signature.

    Returns
    -------
    Solution

    Examples
    --------
    >>> X = np.ones((6, 1)); g = np.array([0, 0, 1, 1, 2, 2])
    >>> s = sufficient_stats(X, X, np.array([1.0, 2, 4, 3, 7, 8]), g)
    >>> sol = solve(s, np.array([1.0]), [(0, 0)])
    >>> sol.beta.round(4), round(sol.pwrss, 4)
    (array([4.1667]), 13.9444)
    """
    ev = evaluate(stats, theta, pos, True)
    return Solution(theta=np.asarray(theta, float), lam=make_lambda(theta, stats.q, pos),
                    beta=ev.beta, rxtrx=ev.P, pwrss=ev.pwrss, logdet_m=ev.logdet_m,
                    logdet_rx=ev.logdet_p)


def blups(stats: SufficientStats, sol: Solution) -> np.ndarray:
    """Conditional modes b_i = Λ M_i⁻¹ Λ'(Z_i'y − Z_i'X β), as an (m, q) array.

    Parameters
    ----------
    stats : SufficientStats
    sol : Solution
        :func:`solve` at θ̂.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> X = np.ones((6, 1)); g = np.array([0, 0, 1, 1, 2, 2])
    >>> s = sufficient_stats(X, X, np.array([1.0, 2, 4, 3, 7, 8]), g)
    >>> blups(s, solve(s, np.array([1.0]), [(0, 0)])).round(4).ravel()
    array([-1.7778, -0.4444,  2.2222])
    """
    lam = sol.lam
    q = lam.shape[0]
    resid = stats.zty - np.einsum("cpm,p->cm", stats.ztx, sol.beta)      # (q, m)
    M = np.einsum("ca,cdm,db->mab", lam, stats.ztz, lam) + np.eye(q)
    u = np.linalg.solve(M, (lam.T @ resid).T[:, :, None])[:, :, 0]        # (m, q)
    return u @ lam.T


# ====================================================================== optimisation
def default_start(stats: SufficientStats, pos) -> np.ndarray:
    """lme4's start Λ = I, made scale-free: each diagonal divided by its Z column's RMS (on a
    standardised problem, Λ = I itself).

    Parameters
    ----------
    stats : SufficientStats
    pos : list of (int, int)

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 2.0, 0.0, 2.0]])
    >>> default_start(sufficient_stats(X, X, np.arange(4.0), np.array([0, 0, 1, 1])),
    ...               [(0, 0), (1, 0), (1, 1)]).round(4)
    array([1.    , 0.    , 0.7071])
    """
    q = stats.q
    scale = np.sqrt(np.maximum(stats.ztz[np.arange(q), np.arange(q)].sum(axis=1) / stats.n, 1e-12))
    return np.array([1.0 / scale[i] if i == j else 0.0 for i, j in pos])


def moment_start(stats: SufficientStats, pos) -> np.ndarray:
    """θ from moments: per-subject least-squares coefficients of the OLS residuals.

    With e the OLS residuals, b_i = (Z_i'Z_i)⁻¹Z_i'e_i has E[b_i b_i'] ≈ σ²(Ψ + (Z_i'Z_i)⁻¹), and
    the within-subject residual sum of squares estimates σ²; so Ψ ≈ mean(b_ib_i')/σ² −
    mean((Z_i'Z_i)⁻¹) over subjects with Z_i'Z_i invertible. Eigenvalues are floored at 1 % of the
    largest diagonal of Λ = I on the data's scale (a start at exactly 0 would sit on the even
    criterion's stationary point). Falls back to :func:`default_start`.

    Parameters
    ----------
    stats : SufficientStats
    pos : list of (int, int)

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(300), 4); X = np.ones((1200, 1))
    >>> y = rng.normal(0, 2, 300)[g] + rng.normal(0, 1, 1200)
    >>> moment_start(sufficient_stats(X, X, y, g), [(0, 0)]).round(1)
    array([2.])
    """
    q = stats.q
    base = default_start(stats, pos)
    try:
        beta = np.linalg.solve(stats.xtx, stats.xty)
        ee = float(stats.yty - 2.0 * beta @ stats.xty + beta @ stats.xtx @ beta)
        r = stats.zty - np.einsum("apm,p->am", stats.ztx, beta)          # Z_i'e_i
        A = np.moveaxis(stats.ztz, 2, 0)
        det = np.linalg.det(A)
        scale = np.einsum("maa->m", A) ** q
        ok = det > 1e-8 * scale
        if ok.sum() < max(2 * q, 3):
            return base
        Ainv = np.linalg.inv(A[ok])
        b = np.einsum("mab,bm->ma", Ainv, r[:, ok])
        proj = float(np.einsum("ma,am->", b, r[:, ok]))                  # Σ r_i'A_i⁻¹r_i
        dof = stats.n - q * int(ok.sum()) - stats.p
        # subjects with too few observations contribute their whole residual sum of squares
        # to neither part: approximate by removing their share of the projection from ee
        if dof <= 0:
            return base
        sigma2 = max((ee - proj) / dof, 1e-12 * max(ee, 1e-300))
        psi = np.einsum("ma,mb->ab", b, b) / len(b) / sigma2 - Ainv.mean(axis=0)
        psi = (psi + psi.T) / 2.0
        floor = 1e-4 * float(np.max(base) ** 2)
        vals, vecs = np.linalg.eigh(psi)
        psi = (vecs * np.maximum(vals, floor)) @ vecs.T
        if all(i == j for i, j in pos):
            return np.sqrt(np.diag(psi))[[i for i, _ in pos]]
        lam = np.linalg.cholesky(psi)
        return np.array([lam[i, j] for i, j in pos])
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        return base


def _canonical(theta: np.ndarray, pos) -> np.ndarray:
    """Flip the sign of every column of Λ whose diagonal is negative (ΛΛ' is unchanged)."""
    return np.asarray(theta, float) * _signs(theta, pos)


def _signs(theta: np.ndarray, pos) -> np.ndarray:
    sign = np.ones(len(pos))
    for j, (i, c) in enumerate(pos):
        if i == c and theta[j] < 0:
            sign[[t for t, (_, cc) in enumerate(pos) if cc == c]] = -1.0
    return sign


def _flip(ev: Evaluation, sign: np.ndarray) -> Evaluation:
    """The evaluation at θ·sign (same criterion; derivatives change sign with their θ)."""
    if np.all(sign > 0):
        return ev
    ev.theta = ev.theta * sign
    S = np.outer(sign, sign)
    for name in ("gradient", "g_m", "g_p", "g_pw"):
        if getattr(ev, name) is not None:
            setattr(ev, name, getattr(ev, name) * sign)
    for name in ("hessian", "h_m", "h_p", "h_pw"):
        if getattr(ev, name) is not None:
            setattr(ev, name, getattr(ev, name) * S)
    if ev.dP is not None:
        ev.dP = ev.dP * sign[:, None, None]
    return ev


def _trust_step(g: np.ndarray, H: np.ndarray, radius: float) -> np.ndarray:
    """Minimise g's + s'Hs/2 over |s| ≤ radius (exact, by eigen-decomposition: k ≤ 10).

    The multiplier λ with |(H + λI)⁻¹g| = radius is found by Newton's method on
    1/|s(λ)| − 1/radius (Moré & Sorensen 1983), which is nearly linear in λ.
    """
    w, V = np.linalg.eigh(H)
    gt = V.T @ g
    if w[0] > 0:
        s = -(gt / w)
        if math.sqrt(s @ s) <= radius:
            return V @ s
    lo = max(0.0, -w[0]) * (1.0 + 1e-12) + 1e-15 * max(1.0, abs(w[-1]))
    s = gt / (w + lo)
    if math.sqrt(s @ s) <= radius:          # hard case: fill up along the lowest eigenvector
        s = -s
        s[0] = 0.0
        tau = math.sqrt(max(radius ** 2 - s @ s, 0.0))
        return V @ s + tau * V[:, 0]
    lmb = lo
    for _ in range(100):
        d = w + lmb
        s = gt / d
        norm = math.sqrt(s @ s)
        if abs(norm - radius) <= 1e-10 * radius:
            break
        dnorm = -(s @ (s / d)) / norm        # d|s|/dλ
        step = -(1.0 / norm - 1.0 / radius) / (-dnorm / norm ** 2)
        lmb = max(lmb + step, lo)
    return V @ (-(gt / (w + lmb)))


def _newton(fun, x0: np.ndarray, free: np.ndarray, *, maxiter: int, info: dict
            ) -> tuple[np.ndarray, "Evaluation"]:
    """Trust-region Newton on the free coordinates; ``fun(x, order)`` returns an Evaluation.

    Once the predicted decrease is below 1e-12 of the criterion with a positive-definite Hessian,
    one last full Newton step is taken without a ratio test (the decrease is then below rounding
    noise of the criterion, while the exact gradient still points the way), which puts θ̂ at
    the optimum to about 1e-10 and makes results reproducible across scalings of the data.
    """
    x = np.array(x0, float)
    ev = fun(x, 2)
    info["evaluations"] += 1
    radius = 1.0
    for it in range(maxiter):
        g = ev.gradient[free]
        H = ev.hessian[np.ix_(free, free)]
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(g))):
            info["messages"].append("non-finite derivatives")
            break
        s = _trust_step(g, H, radius)
        pred = -(g @ s + 0.5 * s @ H @ s)
        tiny = 1e-12 * max(1.0, abs(ev.value))
        snorm = float(np.linalg.norm(s))
        if pred <= tiny:
            if pred > 1e-10 * tiny and np.linalg.eigvalsh(H)[0] > 0 and snorm < radius:
                trial = x.copy()
                trial[free] += s
                new = fun(trial, 2)
                info["evaluations"] += 1
                if np.isfinite(new.value) and new.value <= ev.value + tiny:
                    x, ev = trial, new
            info["iterations"] += it + 1
            return x, ev
        trial = x.copy()
        trial[free] += s
        new = fun(trial, 2)
        info["evaluations"] += 1
        rho = (ev.value - new.value) / pred if np.isfinite(new.value) else -1.0
        if rho > 1e-4:
            x, ev = trial, new
            if rho > 0.75 and snorm > 0.99 * radius:
                radius = min(2.0 * radius, 1e3)
            elif rho < 0.25:
                radius = 0.25 * snorm
        else:
            radius = 0.25 * snorm
            if radius < 1e-14:
                info["iterations"] += it + 1
                return x, ev
    else:
        info["messages"].append(f"Newton iterations reached the limit ({maxiter})")
    info["iterations"] += maxiter
    return x, ev


def optimise_theta(stats: SufficientStats, pos, lower: np.ndarray | None = None,
                   reml: bool = True, start: np.ndarray | None = None, *, polish=None,
                   maxiter: int = 100) -> tuple[np.ndarray, float, dict]:
    """Minimise the profiled criterion over θ; returns (θ̂, criterion, information).

    A trust-region Newton method with the exact gradient and Hessian (:func:`evaluate`) searches
    θ without bounds: the criterion is unchanged when a column of Λ changes sign, so signs are
    made canonical afterwards. A diagonal θ that ends near 0 is then tried at exactly 0 (the
    boundary optimum lme4's bounded optimiser reaches: singular fits are common with few waves
    per mother) and the other parameters are polished with it held there. Whether the result is
    an optimum is judged by :func:`check_convergence`, not by how the iterations ended.

    Parameters
    ----------
    stats : SufficientStats
    pos : list of (int, int)
    lower : numpy.ndarray, optional
        Unused (bounds are implied by the sign symmetry); kept for the earlier signature.
    reml : bool
    start : numpy.ndarray, optional
        Starting θ (warm start); default :func:`moment_start`.
    polish : ignored
    maxiter : int, default 100
        Newton iterations at most.

    Returns
    -------
    tuple
        ``(theta, criterion, info)`` with ``info`` holding ``evaluations``, ``iterations``,
        ``messages``, ``converged`` and ``check`` (the :func:`check_convergence` result).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(30), 4); X = np.ones((120, 1))
    >>> y = rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 120)
    >>> theta, dev, info = optimise_theta(sufficient_stats(X, X, y, g), [(0, 0)], reml=True)
    >>> theta.round(4), info["converged"]
    (array([2.0939]), True)
    """
    x0 = moment_start(stats, pos) if start is None else np.asarray(start, float)
    info: dict = {"evaluations": 0, "iterations": 0, "messages": []}
    k = len(pos)

    def fun(x, order):
        return evaluate(stats, x, pos, reml, order)

    free = np.ones(k, bool)
    x, ev = _newton(fun, x0, free, maxiter=maxiter, info=info)
    ev = _flip(ev, _signs(x, pos))
    x = ev.theta
    # boundary: a diagonal θ near 0 is tried at exactly 0, and the rest polished with it there
    # (scale: θ per unit RMS of its Z column, so the same on any scale of the data)
    scale = default_start(stats, pos)
    diag = [j for j, (i, c) in enumerate(pos) if i == c]
    for j in sorted(diag, key=lambda j: x[j] / scale[j]):
        if x[j] >= 0.05 * scale[j] or not free[j]:
            continue
        trial = x.copy()
        trial[j] = 0.0
        ev0 = fun(trial, 2)
        info["evaluations"] += 1
        if ev0.value <= ev.value + 1e-10 * max(1.0, abs(ev.value)):
            free[j] = False
            x, ev = trial, ev0
            if free.any():
                x, ev = _newton(fun, x, free, maxiter=maxiter, info=info)
                ev = _flip(ev, _signs(x, pos))
                x = ev.theta
    check = check_convergence(ev, pos, boundary=~free)
    info["check"] = check
    info["converged"] = check["converged"]
    info["messages"] += check["messages"]
    info["evaluation"] = ev
    return x, ev.value, info


def check_convergence(ev: Evaluation, pos, *, boundary: np.ndarray | None = None,
                      grad_tol: float = 2e-3, hess_tol: float = 1e-6, singular_tol: float = 1e-4
                      ) -> dict:
    """lme4's convergence check (``checkConv``) at an evaluated optimum.

    A fit on the boundary (a diagonal θ below ``singular_tol``) is singular and, as in lme4, its
    gradient is not checked; its boundary parameters must not be able to decrease the criterion by
    moving inside (curvature ≥ −``hess_tol``), and the free parameters are checked as below.
    Otherwise: the gradient scaled by the Hessian's Cholesky factor (``solve(chol(H), g)``), taken
    element-wise as the smaller of it and the raw gradient, must be below ``grad_tol`` (0.002), and
    the Hessian must have no eigenvalue below −``hess_tol`` and be numerically non-singular.

    Parameters
    ----------
    ev : Evaluation
        :func:`evaluate` with ``order=2`` at the optimum.
    pos : list of (int, int)
    boundary : numpy.ndarray of bool, optional
        Parameters held at 0 by the optimiser.

    Returns
    -------
    dict
        ``converged`` (bool), ``code`` (lme4's: 0 fine, −1 gradient, −3 negative eigenvalues,
        −4 singular Hessian), ``messages``, ``max_grad`` and ``singular``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(30), 4); X = np.ones((120, 1))
    >>> s = sufficient_stats(X, X, rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 120), g)
    >>> theta = optimise_theta(s, [(0, 0)], reml=True)[0]
    >>> check_convergence(evaluate(s, theta, [(0, 0)], True, 2), [(0, 0)])["converged"]
    True
    >>> bad = check_convergence(evaluate(s, 1.1 * theta, [(0, 0)], True, 2), [(0, 0)])
    >>> bad["converged"], bad["code"]
    (False, -1)
    """
    theta = ev.theta
    k = len(theta)
    boundary = np.zeros(k, bool) if boundary is None else np.asarray(boundary, bool).copy()
    diag = np.array([i == j for i, j in pos])
    boundary |= diag & (np.abs(theta) < singular_tol)
    free = ~boundary
    out = {"converged": True, "code": 0, "messages": [], "max_grad": 0.0,
           "singular": bool(boundary.any())}
    g, H = ev.gradient, ev.hessian
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        out.update(converged=False, code=-5, messages=["gradient contains NaNs"])
        return out
    if boundary.any():
        hb = np.diag(H)[boundary]
        if np.any(hb < -hess_tol):
            out.update(converged=False, code=-3,
                       messages=["the criterion decreases off the boundary (negative curvature "
                                 f"{hb.min():.3g} at a variance held at 0)"])
            return out
    if not free.any():
        return out
    gf, Hf = g[free], H[np.ix_(free, free)]
    try:
        R = np.linalg.cholesky(Hf).T                    # R'R = H as R's chol()
        scgrad = np.linalg.solve(R, gf)
    except np.linalg.LinAlgError:
        scgrad = None
    if scgrad is None or not np.all(np.isfinite(scgrad)):
        out.update(converged=False, code=-1, messages=["unable to evaluate scaled gradient"])
    else:
        mingrad = float(np.max(np.minimum(np.abs(scgrad), np.abs(gf))))
        out["max_grad"] = mingrad
        if mingrad > grad_tol:
            out.update(converged=False, code=-1,
                       messages=[f"failed to converge with max|grad| = {mingrad:.3g} "
                                 f"(tol = {grad_tol:g})"])
    ev_ = np.linalg.eigvalsh(Hf)
    if np.sum(ev_ < -hess_tol):
        out["converged"] = False
        out["code"] = -3
        out["messages"].append(f"degenerate Hessian with {int(np.sum(ev_ < -hess_tol))} "
                               "negative eigenvalues")
    elif np.sum(np.abs(ev_) < hess_tol):
        out["converged"] = False
        out["code"] = -4
        out["messages"].append("Hessian is numerically singular: parameters are not uniquely "
                               "determined")
    return out


# ====================================================================== the whole fit in θ
@dataclass
class ThetaFit:
    """A fit of the variance parameters on the user's scale (see :func:`fit_theta`).

    Attributes
    ----------
    theta, theta_s : numpy.ndarray
        lme4's θ for the user's Z, and θ* of the standardised problem.
    pos : list of (int, int)
    reml : bool
    stats_s : SufficientStats
        The standardised problem.
    scaling : Scaling
    evaluation : Evaluation
        Order-2 evaluation at θ̂* (for Satterthwaite df and the convergence check).
    beta, vcov : numpy.ndarray
    sigma, deviance : float
        On the user's scale (``deviance`` is lme4's REML criterion or −2 log-likelihood).
    converged : bool
        lme4's check (:func:`check_convergence`).
    info : dict
        Evaluations, iterations, messages and the check's details.
    """

    theta: np.ndarray          # lme4's θ for the user's Z
    theta_s: np.ndarray        # θ of the standardised problem
    pos: list
    reml: bool
    stats_s: SufficientStats   # sufficient statistics of the standardised problem
    scaling: Scaling
    evaluation: Evaluation     # order-2 evaluation at θ̂ (standardised)
    beta: np.ndarray
    vcov: np.ndarray
    sigma: float
    deviance: float
    converged: bool
    info: dict


def fit_theta(X: np.ndarray, Z: np.ndarray, y: np.ndarray, group: np.ndarray, *,
              correlated: bool = True, reml: bool = True, start: np.ndarray | None = None,
              m: int | None = None, maxiter: int = 100) -> ThetaFit:
    """Fit θ on the standardised problem and report β, Var(β), σ, θ and the criterion on the
    user's scale.

    The search starts from the moment estimate (:func:`moment_start`) or from ``start`` (a warm
    start, e.g. the θ of a similar model), and typically needs three to five evaluations of the
    criterion with its derivatives, at any number of subjects.

    Parameters
    ----------
    X, Z, y, group : numpy.ndarray
        Designs, outcome and integer subject codes 0 … m − 1.
    correlated, reml : bool
    start : numpy.ndarray, optional
        Warm start: θ on the user's scale.
    m : int, optional
        Number of subjects.
    maxiter : int, default 100

    Returns
    -------
    ThetaFit

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(30), 4); X = np.ones((120, 1))
    >>> y = 1000 * (rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 120))
    >>> f = fit_theta(X, X, y, g)
    >>> f.theta.round(4), round(f.sigma / 1000, 4), f.converged
    (array([2.0939]), 1.1078, True)
    """
    Xs, Zs, ys, scaling = standardise(X, Z, y)
    group = np.asarray(group, np.intp)
    stats = sufficient_stats(Xs, Zs, ys, group, m)
    pos, _ = theta_layout(stats.q, correlated)
    start_s = None if start is None else scaling.theta_to(np.asarray(start, float), pos)
    theta_s, dev_s, info = optimise_theta(stats, pos, reml=reml, start=start_s, maxiter=maxiter)
    ev = info.pop("evaluation")
    nu = ev.nu
    sigma_s = float(np.sqrt(ev.pwrss / nu))
    vcov_s = sigma_s ** 2 * (ev.P_inv if ev.P_inv is not None else np.linalg.inv(ev.P))
    return ThetaFit(theta=scaling.theta_from(theta_s, pos), theta_s=theta_s, pos=pos, reml=reml,
                    stats_s=stats, scaling=scaling, evaluation=ev,
                    beta=scaling.beta_from(ev.beta), vcov=scaling.vcov_from(vcov_s),
                    sigma=scaling.y_scale * sigma_s,
                    deviance=float(dev_s + scaling.deviance_offset(stats.n, stats.p, reml)),
                    converged=bool(info["converged"]), info=info)
