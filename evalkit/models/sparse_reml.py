"""Exact (RE)ML for any number of random-effects terms: lme4's penalised least squares (PLS).

Model: ``y = X β + Z b + e``, ``b = Λ_θ u``, ``u ~ N(0, σ² I)``, ``e ~ N(0, σ² I)``; Z has one block
of columns per term (levels × columns of the term, level-major as lme4) and Λ_θ is block diagonal
with one lower-triangular q_k × q_k template per term, repeated over its levels, filled from θ in
lme4's order (column-major lower triangle; diagonal only for ``||``). With the sparse Cholesky
``P (Λ'Z'ZΛ + I) P' = L L'`` and the fixed effects by the Schur complement
``R_X'R_X = X'X − R_ZX'R_ZX`` (``R_ZX = L⁻¹PΛ'Z'X``, ``c_u = L⁻¹PΛ'Z'y``), the profiled criterion is
(Bates, Mächler, Bolker & Walker 2015, J Stat Softw 67(1), eqs. 34, 41)::

    ML:   log|L|² + n (1 + log(2π r²/n))
    REML: log|L|² + log|R_X|² + (n − p)(1 + log(2π r²/(n − p)))

with ``r² = y'y − c_u'c_u − c_β'c_β`` the penalised residual sum of squares. Only θ is searched
(L-BFGS-B, bounds θ_diag ≥ 0 as lme4, central-difference gradients); β, σ and the conditional modes
follow in closed form.

Why hand-written: no Python library fits lme4's profiled criterion in its θ parametrisation, and
the numbers must equal lme4/lmerTest's (logLik never below lme4's by more than 1e-4; see
``tests/models/test_multilevel_reference.py``). The Satterthwaite df use lmerTest's own numerical
recipe (numDeriv's Richardson Hessian of the deviance in (θ, σ) and Jacobian of Var(β);
:mod:`evalkit.models.satterthwaite`), so they agree with lmerTest for any number of terms.

Which Cholesky, and why (measured)
----------------------------------
The first term's levels are eliminated block by block, as MixedModels.jl does: its part of
``Λ'Z'ZΛ + I`` is block diagonal (one q₁ × q₁ block per level — a mother, a student), so its
Cholesky factor is a batch of small dense factorisations (in closed form for q₁ ≤ 2,
:mod:`evalkit.models.small_blocks`), and only the Schur complement S onto the other terms needs a
general factorisation: diagonal when they nest in the first factor (mothers in volunteers), dense
LAPACK when small (InstEval: 1,156 rows after eliminating 2,972 students), CHOLMOD when large and
scikit-sparse is installed — the choice and its measurements are in :mod:`evalkit.models.schur`.
(The first version used CHOLMOD on S always, rebuilding S with scipy's sparse products each
evaluation: 0.11 s per evaluation on InstEval and 3.5 ms on 500 mothers, most of the latter
scipy's per-call overhead; now 0.07 s and 0.8 ms on the same loaded machine.)
Terms are searched in the order given; the caller (:mod:`evalkit.models.multilevel`) puts the
factor with most levels first, as lme4 orders them.

The search over θ (COBYQA or L-BFGS-B, chosen by the work of one evaluation, and lme4's
gradient check at the end) is :mod:`evalkit.models.theta_search`'s. Whole-fit timings:
``benchmarks/results/bench_multilevel.md``.
Models with one grouping factor keep the closed-form engine of :mod:`evalkit.models.reml`, which
is faster still (no sparse matrices at all).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> a, b = np.repeat(np.arange(20), 6), np.tile(np.arange(6), 20)
>>> y = 5 + rng.normal(0, 1, 20)[a] + rng.normal(0, 2, 6)[b] + rng.normal(0, 0.5, 120)
>>> X = np.ones((120, 1)); one = np.ones((120, 1))
>>> fit = fit_terms(X, y, [Term(one, a, 20, True), Term(one, b, 6, True)], reml=True)
>>> fit.theta.round(3), round(float(fit.deviance), 3)
(array([2.417, 2.731]), 291.186)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import copy

import numpy as np
import scipy.linalg as _la
import scipy.sparse as _sp

from ..errors import FitError
from . import reml as _reml
from . import satterthwaite as _sat
from . import schur as _schur
from . import theta_search as _search
from .small_blocks import bmm as _bmm
from .small_blocks import chol_inv as _chol_inv
from .small_blocks import congruence as _congruence
from .small_blocks import left as _left

__all__ = ["Term", "Problem", "Evaluation", "TermsFit", "fit_terms"]


@dataclass(frozen=True)
class Term:
    """One term's data: its model columns ``Z`` (n × q), level ``codes`` (n), ``m`` levels."""

    Z: np.ndarray
    codes: np.ndarray
    m: int
    correlated: bool = True

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def layout(self):
        """Positions of this term's θ in its template and their lower bounds (lme4's order)."""
        return _reml.theta_layout(self.q, self.correlated)


@dataclass(frozen=True)
class Evaluation:
    """The PLS solution at θ: the criterion's parts, β and what the BLUPs need."""

    theta: np.ndarray
    ldL2: float
    ldRX2: float
    pwrss: float
    beta: np.ndarray
    rxtrx: np.ndarray
    cu: np.ndarray = field(repr=False)
    rzx: np.ndarray = field(repr=False)


class Problem:
    """The cross-products of one data set and the Λ_θ pattern; evaluates the criterion at θ."""

    def __init__(self, X: np.ndarray, y: np.ndarray, terms: list, *, reml: bool):
        self.X, self.y, self.terms, self.reml = X, y, list(terms), bool(reml)
        self.n, self.p = X.shape
        if self.n <= self.p:
            raise FitError(f"{self.n} observations cannot estimate {self.p} fixed effects")
        Z = _sp.hstack([_term_z(t) for t in self.terms], format="csc")
        self._Zt = Z.T.tocsr()
        self.Q = Z.shape[1]
        self.ZtZ = (Z.T @ Z).tocsc()
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)
        self.lambda_, self.lind, self.lower, self.offsets = _lambda_pattern(self.terms)
        # the first term's levels are eliminated block by block (see the module docstring)
        first = self.terms[0]
        self.k1, self.q1, self.m1 = len(first.layout[0]), first.q, first.m
        self.n1 = self.m1 * self.q1
        self.B1 = np.zeros((self.m1, self.q1, self.q1))
        for a in range(self.q1):
            for b in range(self.q1):
                self.B1[:, a, b] = np.bincount(first.codes, first.Z[:, a] * first.Z[:, b],
                                               minlength=self.m1)
        zxy = np.column_stack([self.ZtX, self.Zty])
        self.zxy1 = zxy[:self.n1].reshape(self.m1, self.q1, -1)
        self.zxy_r = zxy[self.n1:]
        lam_r, lind_r, _, _ = _lambda_pattern(self.terms[1:])
        self.schur = (_schur.Schur(self.ZtZ[self.n1:, :self.n1], self.ZtZ[self.n1:, self.n1:],
                                   m1=self.m1, q1=self.q1, lam_r=lam_r, lind_r=lind_r + self.k1)
                      if self.Q > self.n1 else None)
        self._cache: dict = {}

    def with_outcome(self, y: np.ndarray) -> "Problem":
        """The same design with another outcome: only the cross-products with ``y`` are
        recomputed (the pattern and the Schur complement's set-up, most of a small problem's
        construction, are shared), as a parametric bootstrap refits the same rows many times."""
        new = copy.copy(self)
        y = np.asarray(y, float)
        new.y, new.Zty = y, np.asarray(self._Zt @ y).ravel()
        new.Xty, new.yty = self.X.T @ y, float(y @ y)
        zxy = np.column_stack([self.ZtX, new.Zty])
        new.zxy1 = zxy[:self.n1].reshape(self.m1, self.q1, -1)
        new.zxy_r = zxy[self.n1:]
        new._cache = {}
        return new

    @property
    def n_theta(self) -> int:
        return len(self.lower)

    def cost(self) -> float:
        """A rough count of one evaluation's floating-point work (it chooses the optimiser)."""
        return 100.0 * self.m1 * self.q1 ** 3 + (0.0 if self.schur is None else self.schur.cost())

    def start(self) -> np.ndarray:
        """lme4's default start: 1 on each diagonal, 0 below it."""
        return np.where(np.isfinite(self.lower), 1.0, 0.0)

    def lambda_at(self, theta: np.ndarray) -> _sp.csc_matrix:
        lam = self.lambda_.copy()
        lam.data = np.asarray(theta, float)[self.lind]
        return lam

    def _factorise(self, theta: np.ndarray):
        """L = [[L11, 0], [W, M]]: L11 the first term's q1 × q1 blocks (T1'B_jT1 + I = L11_j L11_j'),
        W = Λr'(Z_r'Z_1)G with G = blockdiag(T1 L11_j⁻ᵀ), and M M' = S = Λr'Z_r'Z_rΛr + I − W W'
        (:mod:`evalkit.models.schur`). Returns (T1, L11, L11⁻¹, G, factor of S or None with one
        term). The blocks are handled as whole arrays: :mod:`evalkit.models.small_blocks`."""
        T1 = _reml.make_lambda(theta[:self.k1], self.q1, self.terms[0].layout[0])
        A11 = _congruence(T1, self.B1) + np.eye(self.q1)
        L11, Linv = _chol_inv(A11)
        G = _left(T1, Linv.transpose(0, 2, 1))
        if self.schur is None:
            return T1, L11, Linv, G, None
        return T1, L11, Linv, G, self.schur.factor(_bmm(G, G.transpose(0, 2, 1)), theta)

    def evaluate(self, theta: np.ndarray) -> Evaluation:
        theta = np.asarray(theta, float)
        key = theta.tobytes()
        if key in self._cache:       # Satterthwaite's steps in σ alone reuse an evaluation
            return self._cache[key]
        T1, L11, Linv, G, f = self._factorise(theta)
        n1 = self.n1
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2))))
        c1 = _bmm(Linv, _left(T1.T, self.zxy1))                  # L11⁻¹Λ1'Z_1'[X y], by block
        if f is not None:
            ldL2 += f.logdet()
            zgc = self.schur.zz_r1 @ _bmm(G, c1).reshape(n1, -1)       # W c1 = Λr' (Z_r'Z_1 G c1)
            c2 = f.solve_L(self.schur.lam_t(theta, self.zxy_r - zgc))
            sol = np.vstack([c1.reshape(n1, -1), c2])
        else:
            sol = c1.reshape(n1, -1)
        rzx, cu = sol[:, :-1], sol[:, -1]
        rxtrx = self.XtX - rzx.T @ rzx
        cb_rhs = self.Xty - rzx.T @ cu
        try:
            chol = _la.cho_factor(rxtrx, lower=True)
        except _la.LinAlgError:
            raise FitError("the fixed effects are not estimable at these variance parameters "
                           "(X'V⁻¹X is not positive definite); remove collinear fixed terms") from None
        beta = _la.cho_solve(chol, cb_rhs)
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(chol[0]))))
        pwrss = self.yty - float(cu @ cu) - float(cb_rhs @ beta)
        ev = Evaluation(theta=theta, ldL2=float(ldL2), ldRX2=ldRX2, pwrss=max(pwrss, 1e-300),
                        beta=beta, rxtrx=rxtrx, cu=cu, rzx=rzx)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = ev
        return ev

    def deviance(self, theta: np.ndarray) -> float:
        """lme4's profiled deviance (ML) or REML criterion at θ."""
        return self.criterion(self.evaluate(theta))

    def criterion(self, ev: Evaluation) -> float:
        nu = self.n - self.p if self.reml else self.n
        extra = ev.ldRX2 if self.reml else 0.0
        return ev.ldL2 + extra + nu * (1.0 + np.log(2.0 * np.pi * ev.pwrss / nu))

    def deviance_varpar(self, varpar: np.ndarray) -> float:
        """The criterion in (θ, σ), not profiled over σ (lmerTest's ``devfun_vp``)."""
        ev = self.evaluate(varpar[:-1])
        s2 = float(varpar[-1]) ** 2
        nu = self.n - self.p if self.reml else self.n
        extra = ev.ldRX2 if self.reml else 0.0
        return ev.ldL2 + extra + nu * np.log(2.0 * np.pi * s2) + ev.pwrss / s2

    def vcov_beta(self, varpar: np.ndarray) -> np.ndarray:
        """Var(β̂) = σ² (R_X'R_X)⁻¹ at (θ, σ)."""
        ev = self.evaluate(varpar[:-1])
        return float(varpar[-1]) ** 2 * np.linalg.inv(ev.rxtrx)

    def conditional_modes(self, ev: Evaluation) -> list:
        """b = Λ u with u = P'L'⁻¹(c_u − R_ZX β), split per term as (levels × q) arrays."""
        _, _, Linv, G, f = self._factorise(ev.theta)
        lam = self.lambda_at(ev.theta)
        c = ev.cu - ev.rzx @ ev.beta
        n1 = self.n1
        c1 = c[:n1]
        if f is not None:
            u2 = np.ravel(f.solve_Lt(c[n1:]))
            wt = self.schur.zz_r1.T @ self.schur.lam(ev.theta, u2)         # W'u2, by block
            c1 = c1 - _bmm(G.transpose(0, 2, 1), wt.reshape(self.m1, self.q1, 1)).ravel()
        else:
            u2 = np.zeros(0)
        u1 = _bmm(Linv.transpose(0, 2, 1), c1.reshape(self.m1, self.q1, 1)).ravel()
        b = lam @ np.r_[u1, u2]
        return [b[o:o + t.m * t.q].reshape(t.m, t.q) for o, t in zip(self.offsets, self.terms)]


def _term_z(t: Term) -> _sp.csc_matrix:
    """The term's n × (m q) block of Z: row i has Z_i in the columns of its level."""
    n, q = t.Z.shape
    rows = np.repeat(np.arange(n), q)
    cols = (np.asarray(t.codes)[:, None] * q + np.arange(q)[None, :]).ravel()
    return _sp.csc_matrix((t.Z.ravel(), (rows, cols)), shape=(n, t.m * q))


def _lambda_pattern(terms: list):
    """Λ's sparsity pattern (CSC), the θ index of each stored entry, θ's lower bounds and the
    column offset of each term."""
    none = np.zeros(0, dtype=np.int64)               # so that no terms give an empty pattern
    counts, indices, lind, lower, offsets = [none], [none], [none], [], []
    col0 = k0 = 0
    for t in terms:
        pos, low = t.layout
        offsets.append(col0)
        # one level's columns (rows and θ indices, column by column), repeated over the levels
        # as whole arrays: a loop over 100,000 mothers took 0.9 s per problem
        tmpl = [(r, k0 + i, cc) for cc in range(t.q) for i, (r, c) in enumerate(pos) if c == cc]
        rows = np.array([r for r, _, _ in tmpl])
        base = col0 + np.arange(t.m)[:, None] * t.q
        indices.append((base + rows[None, :]).ravel())
        lind.append(np.tile([k for _, k, _ in tmpl], t.m))
        per_col = np.bincount([cc for _, _, cc in tmpl], minlength=t.q)
        counts.append(np.tile(per_col, t.m))
        col0 += t.m * t.q
        k0 += len(pos)
        lower.extend(low)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    indices = np.concatenate(indices)
    lind = np.concatenate(lind)
    lam = _sp.csc_matrix((np.ones(len(indices)), indices, indptr), shape=(col0, col0))
    return lam, np.array(lind), np.array(lower, float), offsets


@dataclass(frozen=True)
class TermsFit:
    """A fitted multi-term model: θ, σ, β, Var(β), the criterion and Satterthwaite's pieces."""

    problem: Problem = field(repr=False)
    theta: np.ndarray
    sigma: float
    beta: np.ndarray
    vcov: np.ndarray
    deviance: float
    converged: bool
    info: dict
    evaluation: Evaluation = field(repr=False)
    problems: "Problems | None" = field(default=None, repr=False)

    def factors(self) -> list:
        """Each term's lower-triangular factor σ T_k of its covariance (lme4's scaled Λ block)."""
        out, k0 = [], 0
        for t in self.problem.terms:
            pos, _ = t.layout
            out.append(self.sigma * _reml.make_lambda(self.theta[k0:k0 + len(pos)], t.q, pos))
            k0 += len(pos)
        return out

    def covariances(self) -> list:
        """Each term's covariance matrix σ² T_k T_k'."""
        return [L @ L.T for L in self.factors()]

    def blups(self) -> list:
        return self.problem.conditional_modes(self.evaluation)

    def satterthwaite(self, *, richardson: int = 2):
        """(A, ∂Var(β)/∂φ, H positive definite) by lmerTest's numerical recipe, φ = (θ, σ).

        numDeriv's steps (Hessian d = 0.1, Jacobian d = 1e-4) with ``richardson`` extrapolation
        steps: lmerTest uses 4; 2 halves the cost (every step is a factorisation: 13 s on
        InstEval) and changes the df by less than 1e-4 relative on the reference fits. Steps in
        σ alone reuse the factorisation at θ (:meth:`Problem.evaluate` keeps recent ones).
        """
        phi = np.r_[self.theta, self.sigma]
        H = _sat.richardson_hessian(self.problem.deviance_varpar, phi, r=richardson)
        A, pd = _sat.covariance_from_hessian(H)
        J = _sat.richardson_jacobian(lambda v: self.problem.vcov_beta(v).ravel(), phi,
                                     r=richardson)
        p = len(self.beta)
        jac = np.stack([J[:, k].reshape(p, p) for k in range(J.shape[1])])
        return A, jac, pd


def fit_terms(X: np.ndarray, y: np.ndarray, terms: list, *, reml: bool = True,
              start: np.ndarray | None = None, optimizer: str | None = None,
              problems: "Problems | None" = None) -> TermsFit:
    """Fit θ for several random-effects terms by (RE)ML, as lme4's ``lmer``.

    Parameters
    ----------
    X : numpy.ndarray
        Fixed-effects design (n × p), full column rank.
    y : numpy.ndarray
        Outcome (n).
    terms : list of Term
        One per random-effects term.
    reml : bool, default True
    start : numpy.ndarray, optional
        Starting θ (lme4's default: 1 on the diagonals, 0 elsewhere).
    optimizer : {None, "COBYQA", "L-BFGS-B"}
        None chooses by the work of one evaluation (:mod:`evalkit.models.theta_search`).
    problems : Problems, optional
        The set-up of an earlier fit of the same ``X`` and ``terms`` (its ``.problems``), reused
        with this ``y``: a bootstrap's refits skip the construction.

    Returns
    -------
    TermsFit

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(30), 4); X = np.ones((120, 1))
    >>> y = rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 120)
    >>> fit_terms(X, y, [Term(X, g, 30)], reml=True).converged
    True
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    if problems is None:
        problems = Problems.build(X, y, terms, reml=reml)
    else:
        problems = problems.with_outcome(y)
    work, prob, row_scale = problems.work, problems.user, problems.row_scale
    x0 = work.start() if start is None else np.asarray(start, float) * row_scale
    x, info = _search.search(work, x0, optimizer=optimizer)
    converged = info.pop("converged")
    theta = np.where(np.isfinite(prob.lower), np.maximum(x, 0.0), x) / row_scale
    ev = prob.evaluate(theta)
    dev = prob.criterion(ev)
    nu = prob.n - prob.p if reml else prob.n
    sigma = float(np.sqrt(ev.pwrss / nu))
    vcov = sigma ** 2 * np.linalg.inv(ev.rxtrx)
    return TermsFit(problem=prob, theta=theta, sigma=sigma, beta=ev.beta, vcov=vcov, deviance=dev,
                    converged=converged, info=info, evaluation=ev, problems=problems)


@dataclass(frozen=True)
class Problems:
    """The search's problem (each term's columns scaled) and the user's, with the scaling."""

    work: Problem
    user: Problem
    row_scale: np.ndarray

    @classmethod
    def build(cls, X: np.ndarray, y: np.ndarray, terms: list, *, reml: bool) -> "Problems":
        # The search runs with each term's columns scaled to unit root mean square (a slope on weeks
    # 0-24 otherwise needs θ near 0.01 while the start is 1, a flat, badly conditioned surface
    # where the optimiser stalls); with Z_s = Z D⁻¹ the template is T = D⁻¹ T_s, so the optimum
    # maps back exactly and everything reported is in lme4's θ for the user's columns.
        scales = [np.sqrt(np.mean(t.Z ** 2, axis=0)) for t in terms]
        scales = [np.where(sc > 0, sc, 1.0) for sc in scales]
        work = Problem(X, y, [Term(t.Z / sc, t.codes, t.m, t.correlated)
                              for t, sc in zip(terms, scales)], reml=reml)
        row_scale = np.concatenate([sc[[r for r, _ in t.layout[0]]]
                                    for t, sc in zip(terms, scales)])
        # intercept-only terms need no scaling: the search's problem is the user's (its set-up,
        # the Schur complement's pattern, is a second or more on InstEval)
        same = all(np.all(sc == 1.0) for sc in scales)
        return cls(work, work if same else Problem(X, y, terms, reml=reml), row_scale)

    def with_outcome(self, y: np.ndarray) -> "Problems":
        work = self.work.with_outcome(y)
        return Problems(work, work if self.user is self.work else self.user.with_outcome(y),
                        self.row_scale)
