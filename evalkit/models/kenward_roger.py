"""Kenward–Roger small-sample inference for linear mixed models, as pbkrtest computes it.

Kenward & Roger (1997, Biometrics 53, 983–997) correct two things Wald tests on a REML fit get wrong
with few subjects: the model-based covariance of β̂, ``Φ = (X'Σ⁻¹X)⁻¹``, is too small because it
ignores that the variance parameters were estimated; and the reference distribution needs
denominator degrees of freedom. This module computes

* the **adjusted covariance** ``Φ_A = Φ + 2 Φ U Φ`` with ``U = Σ_rs W_rs (Q_rs − P_r Φ P_s)``, where
  ``P_r = −X'Σ⁻¹G_rΣ⁻¹X``, ``Q_rs = X'Σ⁻¹G_rΣ⁻¹G_sΣ⁻¹X``, ``G_r = ∂Σ/∂γ_r`` and ``W = 2 I_E⁻¹``
  with ``I_E[r, s] = tr(Σ⁻¹G_rΣ⁻¹G_s) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s)`` (twice the expected REML
  information; the second-derivative term ``R_rs`` is 0 because Σ is linear in γ);
* the **df** of a test of ``Lβ = 0`` with ``q`` rows (``q = 1``: a t test; ``q > 1``: an F test with
  the scaling λ applied to the Wald F), from ``A1 = Σ W_rs tr(ΘΦP_rΦ) tr(ΘΦP_sΦ)`` and
  ``A2 = Σ W_rs tr(ΘΦP_rΦΘΦP_sΦ)``, ``Θ = L'(LΦL')⁻¹L``, exactly as pbkrtest's ``.KR_adjust`` and
  ``Lb_ddf``.

The variance parameters γ are those of pbkrtest's ``get_SigmaG``: the lower triangle (column by
column) of the random-effects covariance matrix on the **covariance scale** (only the variances for
``correlated=False``, which lme4 writes as ``(x || g)``: separate terms), then the residual variance
σ². So ``Σ = Σ_r γ_r G_r`` is linear in γ and pbkrtest's ``vcovAdj`` (``vcovAdj_internal``) is
reproduced term by term; ``lmerTest``'s ``summary(fit, ddf = "Kenward-Roger")`` and ``contest`` and
emmeans' ``lmer.df = "kenward-roger"`` call exactly these pbkrtest functions (``vcovAdj`` for the
standard errors, ``Lb_ddf`` for single-row df; ``anova``/``contestMD`` use ``KRmodcomp``). pbkrtest
needs a REML fit (it refits an ML fit with REML; lmerTest refuses one); so does this module.

**Why hand-written.** No Python library computes Kenward–Roger for linear mixed models
(statsmodels' ``MixedLM`` reports z tests; pymer4 calls R). And pbkrtest forms dense n × n
matrices (``Σ⁻¹``, ``G_rΣ⁻¹``), which is why emmeans stops using it above 3,000 observations
(``pbkrtest.limit``). Here Σ is block-diagonal by subject, ``Σ_i = Z_i D Z_i' + σ² I``, and every
quantity above is a sum over subjects of q × q and q × p products of the per-subject
cross-products ``Z_i'Z_i``, ``Z_i'X_i`` the fitting engine already holds: with
``T_i = (D Z_i'Z_i + σ² I)⁻¹``, ``Σ_i⁻¹Z_i = Z_i T_i`` and ``Σ_i⁻¹ = σ⁻²(I − Z_i T_i D Z_i')``, so
``Z_i'Σ_i⁻¹X_i = T_i'Z_i'X_i``, ``Z_i'Σ_i⁻¹Z_i = Z_i'Z_i T_i``, ``Z_i'Σ_i⁻²X_i = T_i'Z_i'Σ_i⁻¹X_i`` and
the σ² terms follow from the same identities (``Σ X_i'X_i`` enters only through ``X'X``). The cost is
O(subjects × q³p²) in vectorised numpy, never an n × n matrix: 3,000 mothers take a few hundredths
of a second, 100,000 about a second.
Exactness is checked against pbkrtest's own numbers (tests/reference/kenward_roger_reference.R).
Fits with several random-effects terms use the same formulas through
:mod:`evalkit.models.kenward_roger_terms` (and :func:`assemble`).

One deliberate difference: pbkrtest inverts ``I_E`` with ``solve`` unless its smallest absolute
eigenvalue is below 1e-10, and with ``MASS::ginv`` otherwise. That threshold is absolute, so it
depends on the outcome's units (γ scales with the square of the outcome). Here ``I_E`` is first
equilibrated by its diagonal and then inverted on its singular values above √ε × the largest (the
``ginv`` rule): identical to pbkrtest whenever ``I_E`` is well conditioned, and the same in any
units.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import evalkit as ek
>>> rng = np.random.default_rng(6)
>>> ids = np.repeat(np.arange(24), 3)
>>> weeks = np.tile([0.0, 6.0, 12.0], 24)
>>> y = (40 + rng.normal(0, 5, 24)[ids] + (0.3 + rng.normal(0, 0.2, 24)[ids]) * weeks
...      + rng.normal(0, 3, 72))
>>> data = pd.DataFrame({"id": ids, "weeks": weeks, "wemwbs": y})[rng.random(72) > 0.25]
>>> args = dict(outcome="wemwbs", fixed="weeks", subject="id", random="weeks")
>>> sat = ek.fit_mixed(data, **args)
>>> kr = ek.fit_mixed(data, **args, ddf="kenward-roger")
>>> pd.DataFrame({"term": kr.fixed["term"], "se": sat.fixed["std_error"],
...               "se_kr": kr.fixed["std_error"], "df": sat.fixed["df"],
...               "df_kr": kr.fixed["df"]}).round(3)
        term     se  se_kr      df   df_kr
0  Intercept  1.563  1.575  22.785  22.467
1      weeks  0.113  0.116  19.384  18.236
>>> kr.kenward_roger.parameters
('var(Intercept)', 'cov(Intercept, weeks)', 'var(weeks)', 'residual')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

__all__ = ["KenwardRoger", "kenward_roger", "compute", "assemble", "DDF_METHODS", "ddf_name"]

DDF_METHODS = ("satterthwaite", "kenward-roger")
"""The denominator-df methods of :func:`evalkit.fit_mixed` (lmerTest's ``ddf``, lower case)."""

_ALIASES = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger",
            "kenward_roger": "kenward-roger", "kenwardroger": "kenward-roger", "kr": "kenward-roger"}


def ddf_name(ddf) -> str:
    """The canonical name of a df method (``"Kenward-Roger"``, ``"kenward_roger"``, ``"KR"`` →
    ``"kenward-roger"``); :class:`~evalkit.errors.UnknownNameError` for anything else."""
    from ..errors import UnknownNameError

    key = str(ddf).strip().lower().replace(" ", "-").replace("–", "-")
    if key not in _ALIASES:
        raise UnknownNameError(f"ddf={ddf!r} is not available; choose one of "
                               f"{', '.join(DDF_METHODS)}")
    return _ALIASES[key]


@dataclass(frozen=True)
class KenwardRoger:
    """The Kenward–Roger machinery of one REML fit.

    Attributes
    ----------
    vcov : numpy.ndarray
        Φ, the model-based covariance of β̂ (what ``vcov(fit)`` gives in R).
    vcov_adjusted : numpy.ndarray
        Φ_A, the Kenward–Roger adjusted covariance (pbkrtest's ``vcovAdj``).
    P : numpy.ndarray
        ``P_r`` for each variance parameter, shape (k, p, p).
    W : numpy.ndarray
        ``2 I_E⁻¹``, the asymptotic covariance of the variance parameters (k × k).
    parameters : tuple of str
        Names of the variance parameters γ, in order (covariance scale; residual last).
    gamma : numpy.ndarray
        Their values at the REML estimate.
    condition : float
        The smallest absolute eigenvalue of ``I_E`` (pbkrtest's ``condi``).
    """

    vcov: np.ndarray = field(repr=False)
    vcov_adjusted: np.ndarray = field(repr=False)
    P: np.ndarray = field(repr=False)
    W: np.ndarray = field(repr=False)
    parameters: tuple
    gamma: np.ndarray
    condition: float

    def std_error(self, L) -> np.ndarray:
        """Adjusted standard error ``√(l'Φ_A l)`` of each row of ``L``."""
        L = np.atleast_2d(np.asarray(L, float))
        var = np.einsum("ij,jk,ik->i", L, self.vcov_adjusted, L)
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.where(var >= 0, var, np.nan))

    def df(self, L) -> np.ndarray:
        """Kenward–Roger df of the t test of each row of ``L`` (pbkrtest's ``Lb_ddf``)."""
        L = np.atleast_2d(np.asarray(L, float))
        LPhi = L @ self.vcov
        v = np.einsum("ij,ij->i", LPhi, L)
        g = np.einsum("ia,kab,ib->ik", LPhi, self.P, LPhi)        # l'ΦP_rΦl
        with np.errstate(divide="ignore", invalid="ignore"):
            g = g / v[:, None]
            a = np.einsum("ik,kl,il->i", g, self.W, g)            # A1 = A2 for one row
            out = _ddf(a, a, 1.0)
        return np.where(v > 0, out, np.inf)

    def f_test(self, L, beta, rhs=None) -> dict:
        """The Kenward–Roger F test of ``L β = rhs`` (pbkrtest's ``KRmodcomp``, lmerTest's
        ``anova``/``contestMD`` with ``ddf = "Kenward-Roger"``).

        Returns ``{"F", "ndf", "ddf", "F_scaling", "p_value", "F_unscaled"}``: ``F`` is the Wald F
        on Φ_A times the scaling λ (``F_scaling``), referred to F(ndf, ddf).
        """
        L = np.atleast_2d(np.asarray(L, float))
        Phi = self.vcov
        M = L @ Phi @ L.T
        Minv = np.linalg.pinv(M, rcond=1e-12, hermitian=True)
        Theta = L.T @ Minv @ L
        q = float(np.linalg.matrix_rank(L))
        u = np.einsum("ab,bc,kcd,de->kae", Theta, Phi, self.P, Phi)   # ΘΦP_rΦ
        tr = np.einsum("kaa->k", u)
        A1 = float(tr @ self.W @ tr)
        A2 = float(np.einsum("kl,kab,lba->", self.W, u, u))
        df2 = float(_ddf(np.array([A1]), np.array([A2]), q)[0])
        scaling = 1.0 if abs(df2 - 2.0) < 0.01 else df2 * (1.0 - A2 / q) / (df2 - 2.0)
        diff = np.asarray(beta, float)
        if rhs is not None and np.any(np.asarray(rhs, float) != 0):
            diff = diff - np.linalg.pinv(L) @ np.atleast_1d(np.asarray(rhs, float))
        Lb = L @ diff
        wald = float(Lb @ np.linalg.pinv(L @ self.vcov_adjusted @ L.T, rcond=1e-12,
                                         hermitian=True) @ Lb)
        f_u = wald / q
        F = scaling * f_u
        p = float(_st.f.sf(F, q, df2)) if np.isfinite(df2) and df2 > 0 else float(_st.chi2.sf(F * q, q))
        return {"F": F, "ndf": int(q), "ddf": df2, "F_scaling": scaling, "p_value": p,
                "F_unscaled": f_u}


def _ddf(A1, A2, q):
    """pbkrtest's denominator df from A1, A2 (``.KR_adjust``; ``Lb_ddf`` when q = 1)."""
    A1 = np.asarray(A1, float)
    A2 = np.asarray(A2, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
        den = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2.0 - g) / den
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        V0 = np.where(np.abs(V0) < 1e-10, 0.0, V0)
        num = 1.0 - A2 / q
        ratio = np.where((np.abs(num) < 1e-14) & (np.abs(V1) < 1e-14), 1.0, num / V1)  # .divZero
        rho = ratio ** 2 * V0 / V2 / q
        df = 4.0 + (q + 2.0) / (q * rho - 1.0)
    # A2 = 0: the contrast's variance does not depend on the variance parameters (infinite df)
    return np.where(A2 > 0, df, np.inf)


def _parameters(q: int, pos, names) -> tuple[list, list]:
    """The symmetric unit matrices E_r (∂D/∂γ_r) and names for the covariance parameters."""
    E, labels = [], []
    for i, j in pos:
        e = np.zeros((q, q))
        e[i, j] = e[j, i] = 1.0
        E.append(e)
        labels.append(f"var({names[i]})" if i == j else f"cov({names[j]}, {names[i]})")
    return E, labels


def compute(stats, theta: np.ndarray, sigma: float, pos, vcov: np.ndarray | None = None,
            random_names=None) -> KenwardRoger:
    """Kenward–Roger from the per-subject cross-products (``evalkit.models.reml.SufficientStats``)
    and the REML estimates θ (lme4's relative Cholesky factor) and σ.

    ``vcov`` is Φ as the fit reports it (default: ``(X'Σ⁻¹X)⁻¹`` computed here).
    """
    from . import reml as _reml

    q, p, n = stats.q, stats.p, stats.n
    s2 = float(sigma) ** 2
    lam = _reml.make_lambda(np.asarray(theta, float), q, pos)
    D = s2 * lam @ lam.T                                         # random-effects covariance
    S = np.ascontiguousarray(np.moveaxis(stats.ztz, 2, 0))       # (m, q, q)  Z_i'Z_i
    C = np.ascontiguousarray(np.moveaxis(stats.ztx, 2, 0))       # (m, q, p)  Z_i'X_i
    T = np.linalg.inv(D @ S + s2 * np.eye(q))                    # (D S_i + σ²I)⁻¹
    Tt = np.ascontiguousarray(np.swapaxes(T, 1, 2))
    A = Tt @ C                                                   # Z'Σ⁻¹X = T'C
    B = S @ T                                                    # Z'Σ⁻¹Z = S T (symmetric)
    F = Tt @ A                                                   # Z'Σ⁻²X = T'A
    U = T @ (D @ C)                                              # T D C
    TDS = T @ (D @ S)

    def total(left, right):                                      # Σ_i left_i' right_i, (p, p)
        return left.reshape(-1, left.shape[-1]).T @ right.reshape(-1, right.shape[-1])

    # X'Σ⁻¹X, X'Σ⁻²X, X'Σ⁻³X summed over subjects (X_i'X_i only enters through X'X)
    xwx = (stats.xtx - total(C, U)) / s2
    xw2x = (xwx - total(A, U)) / s2
    xw3x = (xw2x - total(F, U)) / s2
    xw2x, xw3x = (xw2x + xw2x.T) / 2.0, (xw3x + xw3x.T) / 2.0
    Phi = np.linalg.inv((xwx + xwx.T) / 2.0) if vcov is None else np.asarray(vcov, float)

    E, labels = _parameters(q, pos, list(random_names or [f"z{i}" for i in range(q)]))
    kd = len(E)
    k = kd + 1
    EA = [e @ A for e in E]                                      # E_r Z'Σ⁻¹X
    EB = [e @ B for e in E]                                      # E_r Z'Σ⁻¹Z
    BEA = [B @ ea for ea in EA]
    P = np.empty((k, p, p))
    Q = np.empty((k, k, p, p))
    K = np.empty((k, k))
    ZW2Z = (Tt @ B).sum(axis=0)                                  # Σ_i Z_i'Σ_i⁻²Z_i = Σ T'B
    for r in range(kd):
        P[r] = -total(A, EA[r])                                  # −X'Σ⁻¹ZE_rZ'Σ⁻¹X
        Q[r, kd] = total(EA[r], F)                               # X'Σ⁻¹ZE_rZ'Σ⁻²X
        Q[kd, r] = Q[r, kd].T
        K[r, kd] = K[kd, r] = float(np.sum(E[r] * ZW2Z.T))       # tr(Σ⁻¹G_rΣ⁻¹) = tr(E_r T'B)
        for s_ in range(kd):
            Q[r, s_] = total(EA[r], BEA[s_])                     # (E_rA)' B (E_sA)
            K[r, s_] = float(np.sum(EB[r] * np.swapaxes(EB[s_], 1, 2)))   # tr(E_rBE_sB)
    P[kd] = -xw2x
    Q[kd, kd] = xw3x
    K[kd, kd] = (n - 2.0 * np.trace(TDS, axis1=1, axis2=2).sum()
                 + np.sum(TDS * np.swapaxes(TDS, 1, 2))) / s2 ** 2

    gamma = np.r_[[D[i, j] for i, j in pos], s2]
    return assemble(Phi, P, Q, K, gamma, (*labels, "residual"))


def assemble(Phi: np.ndarray, P: np.ndarray, Q: np.ndarray, K: np.ndarray, gamma: np.ndarray,
             parameters: tuple) -> KenwardRoger:
    """Φ_A and W from Φ, ``P_r``, ``Q_rs`` and ``K_rs = tr(Σ⁻¹G_rΣ⁻¹G_s)`` (shared by
    :func:`compute` and :mod:`evalkit.models.kenward_roger_terms`)."""
    PhiP = np.einsum("ab,kbc->kac", Phi, P)                      # Φ P_r
    IE = (K - 2.0 * np.einsum("ab,rsba->rs", Phi, Q)
          + np.einsum("rab,sba->rs", PhiP, PhiP))
    IE = (IE + IE.T) / 2.0
    condition = float(np.min(np.abs(np.linalg.eigvalsh(IE))))
    W = 2.0 * _inverse(IE)
    PPhiP = np.einsum("rab,sbc->rsac", P, PhiP)                  # P_r Φ P_s
    Umat = np.einsum("rs,rspq->pq", W, Q - PPhiP)
    Umat = (Umat + Umat.T) / 2.0
    PhiA = Phi + 2.0 * Phi @ Umat @ Phi
    return KenwardRoger(vcov=Phi, vcov_adjusted=(PhiA + PhiA.T) / 2.0, P=P, W=W,
                        parameters=tuple(parameters), gamma=gamma, condition=condition)


def _inverse(M: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric matrix, equilibrated by its diagonal and inverted on singular values
    above √ε × the largest (MASS::ginv's rule): the same in any units of the parameters."""
    d = np.sqrt(np.abs(np.diag(M)))
    d = np.where(d > 0, d, 1.0)
    Ms = M / np.outer(d, d)
    return np.linalg.pinv(Ms, rcond=np.sqrt(np.finfo(float).eps), hermitian=True) / np.outer(d, d)


def kenward_roger(fit) -> KenwardRoger:
    """Kenward–Roger for a REML fit of :func:`evalkit.fit_mixed` (fast engine).

    Raises :class:`~evalkit.errors.SpecificationError` for an ML fit (refit with ``reml=True``, as
    pbkrtest would) or a fit of the statsmodels engine.
    """
    from ..errors import SpecificationError
    from . import reml as _reml

    if not fit.spec.reml:
        raise SpecificationError("Kenward–Roger needs a REML fit (pbkrtest refits with REML, "
                                 "lmerTest refuses); refit with reml=True")
    if fit.spec.engine != "fast":
        raise SpecificationError("Kenward–Roger is computed for engine='fast' fits; the "
                                 f"{fit.spec.engine} engine reports z tests")
    d = fit.design        # the model matrices as reported (not the engine's internal scaling)
    stats = _reml.sufficient_stats(d.X, d.Z, d.y, d.group)
    pos, _ = _reml.theta_layout(stats.q, fit.spec.correlated)
    return compute(stats, fit.theta, fit.sigma, pos, fit.vcov_beta,
                   random_names=fit.design.random_names)
