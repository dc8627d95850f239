"""Kenward–Roger for fits with several random-effects terms, as pbkrtest computes it.

The formulas are :mod:`evalkit.models.kenward_roger`'s (Φ_A = Φ + 2ΦUΦ, ``P_r``, ``Q_rs``, ``I_E``,
``W = 2 I_E⁻¹`` and pbkrtest's γ: per term, in the fit's term order, the lower triangle of its
covariance matrix column by column, then σ²); only how they are evaluated differs. With several
terms Σ is not block-diagonal by any one factor: ``Σ = Z D Z' + σ² I = Σ_r γ_r G_r + σ² I`` with
``G_r = Z E_r Z'``, ``E_r`` the unit template of term k's parameter r repeated over its levels.
Everything is written through ``A = Z'Σ⁻¹X``, ``B = Z'Σ⁻¹Z`` and Woodbury,
``Σ⁻¹ = σ⁻²(I − Z K Z')`` with ``K = Λ M⁻¹ Λ'``, ``M = Λ'Z'ZΛ + I`` (lme4's PLS matrix), so no
n × n matrix is formed:

* ``P_r = −A'E_rA``, ``Q_rs = A'E_r B E_s A``, ``tr(Σ⁻¹G_rΣ⁻¹G_s) = tr(B E_r B E_s)``;
* from ``σ²Σ⁻¹ = I − Z D Z'Σ⁻¹`` (D = Σ γ_r E_r): ``Z'Σ⁻²Z = σ⁻²(B − BDB)``, so
  ``tr(Σ⁻¹G_rΣ⁻¹) = σ⁻²(tr(E_rB) − Σ_s γ_s tr(BE_rBE_s))``, ``tr Σ⁻¹ = σ⁻²(n − Σ γ_r tr(E_rB))``
  and ``tr Σ⁻² = σ⁻²(tr Σ⁻¹ − Σ γ_r tr(E_r Z'Σ⁻²Z))``; ``X'Σ⁻ᵏX`` follow by the same identity.

M⁻¹ is taken apart as the fitting engine factorises M (:mod:`evalkit.models.sparse_reml`): the
first term's levels (the mothers) are one small block each, so with ``Y = [−M₁₁⁻¹M₁₂; I]`` and the
Schur complement ``S = M₂₂ − M₂₁M₁₁⁻¹M₁₂`` (q₂ × q₂, q₂ the random effects of the other terms),
``M⁻¹ = diag(M₁₁⁻¹, 0) + Y S⁻¹ Y'``. Hence ``B = σ⁻²(H − VV')`` with H sparse and V = ``Z'ZΛY
L_S⁻ᵀ`` dense q × q₂: the traces cost O(q q₂²) and the memory q × q₂, never q × q. Above
:data:`MAX_DENSE` entries of V Kenward–Roger is refused (use Satterthwaite).

**Why hand-written.** No Python library computes Kenward–Roger for linear mixed models, and
pbkrtest forms dense n × n matrices (emmeans stops using it above 3,000 observations). Checked
against pbkrtest's ``vcovAdj``, ``Lb_ddf`` and ``KRmodcomp`` on crossed, nested and
mothers-in-volunteers fits (``tests/reference/kenward_roger_terms_reference.R``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import evalkit as ek
>>> rng = np.random.default_rng(7)
>>> mother = np.repeat(np.arange(40), 3); volunteer = mother % 8
>>> weeks = np.tile([0.0, 6.0, 12.0], 40)
>>> y = (40 + rng.normal(0, 2, 8)[volunteer] + rng.normal(0, 4, 40)[mother] + 0.3 * weeks
...      + rng.normal(0, 3, 120))
>>> d = pd.DataFrame({"mother": mother, "volunteer": volunteer, "weeks": weeks,
...                   "y": y})[rng.random(120) > 0.3]
>>> args = dict(outcome="y", fixed="weeks", random="(1 | mother) + (1 | volunteer)")
>>> sat = ek.fit_mixed(d, **args)
>>> fit = ek.fit_mixed(d, **args, ddf="kenward-roger")
>>> pd.DataFrame({"term": fit.fixed["term"], "se": sat.fixed["std_error"],
...               "se_kr": fit.fixed["std_error"], "df": sat.fixed["df"],
...               "df_kr": fit.fixed["df"]}).round(3)
        term     se  se_kr      df   df_kr
0  Intercept  0.819  0.826  13.669  14.121
1      weeks  0.074  0.075  47.030  48.370
>>> fit.kenward_roger.parameters
('mother: var(Intercept)', 'volunteer: var(Intercept)', 'residual')
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as _la
import scipy.sparse as _sp

from ..errors import SpecificationError
from . import kenward_roger as _kr
from . import reml as _reml
from .small_blocks import congruence as _congruence
from .small_blocks import left as _left

__all__ = ["MAX_DENSE", "compute_terms", "kenward_roger_terms"]

MAX_DENSE = 6_000_000
"""Largest dense q × q₂ matrix (entries) Kenward–Roger forms; the work grows as q q₂² per
parameter. Measured on the shared 2-core machine: 3,000 mothers in 60 volunteers (6,060 × 60)
0.06 s; crossed 3,000 × 1,000 levels (3,997 × 1,000 = 4e6) 1.3 s and 0.5 GB peak with the fit;
3,000 × 2,000 (1e7) 4.7 s and 1 GB, which is refused."""


def _unit(q: int, offset: int, m: int, qk: int, a: int, b: int) -> _sp.csr_matrix:
    """E_r: the symmetric unit template (a, b) of a term with m levels × qk columns, q × q."""
    base = offset + np.arange(m) * qk
    rows, cols = [base + a], [base + b]
    if a != b:
        rows.append(base + b)
        cols.append(base + a)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return _sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(q, q))


def compute_terms(problem, theta, sigma: float, vcov=None, groups=None,
                  names=None) -> _kr.KenwardRoger:
    """Kenward–Roger from a :class:`evalkit.models.sparse_reml.Problem` (user's scale) at θ, σ.

    ``groups`` and ``names`` label each term's parameters (``"volunteer_id: var(Intercept)"``);
    ``vcov`` is Φ as the fit reports it (default ``(X'Σ⁻¹X)⁻¹`` computed here).
    """
    terms, q, n, p = problem.terms, problem.Q, problem.n, problem.p
    n1, q1, m1 = problem.n1, problem.q1, problem.m1
    q2 = q - n1
    if q * q2 > MAX_DENSE:
        raise SpecificationError(
            f"Kenward–Roger for these random effects needs a dense {q:,} × {q2:,} matrix (every "
            f"random effect against the {q2:,} outside the first term, {terms[0].m:,} levels), "
            f"above evalkit's limit of {MAX_DENSE:,} entries; use ddf='satterthwaite' (lmerTest's "
            "default; pbkrtest and emmeans also stop at 3,000 observations by default)")
    theta = np.asarray(theta, float)
    s2 = float(sigma) ** 2
    lam = problem.lambda_at(theta).tocsr()
    C = problem.ZtZ.tocsr()
    ZX = np.asarray(problem.ZtX, float)

    # M⁻¹ = diag(M11⁻¹, 0) + Y S⁻¹ Y' (module docstring); N = Λ1 M11⁻¹ Λ1', block by block
    T1 = _reml.make_lambda(theta[:problem.k1], q1, terms[0].layout[0])
    M11inv = np.linalg.inv(_congruence(T1, problem.B1) + np.eye(q1))
    blocks = _left(T1, M11inv @ T1.T)
    N = _sp.bsr_matrix((blocks, np.arange(m1), np.arange(m1 + 1)), shape=(n1, n1)).tocsr()
    C1 = C[:, :n1]
    H = (C - C1 @ N @ C1.T).tocsr()
    if q2:
        M = (lam.T @ C @ lam).tocsr()
        M12 = M[:n1, n1:].toarray()
        Minv_b = _sp.bsr_matrix((M11inv, np.arange(m1), np.arange(m1 + 1)), shape=(n1, n1))
        Y1 = -(Minv_b @ M12)
        S = M[n1:, n1:].toarray() + np.eye(q2) + M12.T @ Y1
        LS = _la.cholesky((S + S.T) / 2.0, lower=True)
        lamY = np.vstack([lam[:n1, :n1] @ Y1, lam[n1:, n1:].toarray()])
        KY = _la.solve_triangular(LS, lamY.T, lower=True).T        # K = N ⊕ 0 + KY KY'
        V = C @ KY                                                 # B = σ⁻²(H − VV')
    else:
        KY = V = np.zeros((q, 0))

    def K_(u):
        out = KY @ (KY.T @ u)
        out[:n1] += N @ u[:n1]
        return out

    def B_(u):
        return (H @ u - V @ (V.T @ u)) / s2

    KZX = K_(ZX)
    xwx = (problem.XtX - ZX.T @ KZX) / s2                          # X'Σ⁻¹X
    A = (ZX - C @ KZX) / s2                                        # Z'Σ⁻¹X
    xw2x = (xwx - A.T @ KZX) / s2                                  # X'Σ⁻²X
    F = (A - C @ K_(A)) / s2                                       # Z'Σ⁻²X
    xw3x = (xw2x - F.T @ KZX) / s2                                 # X'Σ⁻³X
    xw2x, xw3x = (xw2x + xw2x.T) / 2.0, (xw3x + xw3x.T) / 2.0
    Phi = np.linalg.inv((xwx + xwx.T) / 2.0) if vcov is None else np.asarray(vcov, float)

    E, labels, gamma, k0 = [], [], [], 0
    for t, off, g, nm in zip(terms, problem.offsets, groups or [f"g{i}" for i in range(len(terms))],
                             names or [[f"z{j}" for j in range(t.q)] for t in terms]):
        pos = t.layout[0]
        T = _reml.make_lambda(theta[k0:k0 + len(pos)], t.q, pos)
        D = s2 * T @ T.T
        k0 += len(pos)
        _, lab = _kr._parameters(t.q, pos, list(nm))
        for (a, b), text in zip(pos, lab):
            E.append(_unit(q, off, t.m, t.q, a, b))
            labels.append(f"{g}: {text}")
            gamma.append(D[a, b])
    kd = len(E)
    k = kd + 1
    gamma = np.r_[gamma, s2]
    EA = [e @ A for e in E]
    EV = [e @ V for e in E]
    HE = [(H @ e).tocsr() for e in E]
    HEV = [H @ ev for ev in EV]
    VEV = [V.T @ ev for ev in EV]
    BEA = [B_(ea) for ea in EA]
    trEB = np.array([(e.multiply(H)).sum() - np.sum(V * ev) for e, ev in zip(E, EV)]) / s2
    P = np.empty((k, p, p))
    Q = np.empty((k, k, p, p))
    Kt = np.empty((k, k))
    for r in range(kd):
        P[r] = -A.T @ EA[r]
        Q[r, kd] = EA[r].T @ F                                     # X'Σ⁻¹G_rΣ⁻²X
        Q[kd, r] = Q[r, kd].T
        for s in range(kd):
            Q[r, s] = EA[r].T @ BEA[s]
            Kt[r, s] = (HE[r].multiply(HE[s].T.tocsr()).sum() - 2.0 * np.sum(EV[r] * HEV[s])
                        + np.sum(VEV[r] * VEV[s].T)) / s2 ** 2     # tr(BE_rBE_s)
    zw2z = (trEB - Kt[:kd, :kd] @ gamma[:kd]) / s2                 # tr(E_r Z'Σ⁻²Z)
    Kt[:kd, kd] = Kt[kd, :kd] = zw2z
    tr_inv = (n - gamma[:kd] @ trEB) / s2                          # tr Σ⁻¹
    Kt[kd, kd] = (tr_inv - gamma[:kd] @ zw2z) / s2                 # tr Σ⁻²
    P[kd] = -xw2x
    Q[kd, kd] = xw3x
    return _kr.assemble(Phi, P, Q, Kt, gamma, (*labels, "residual"))


def kenward_roger_terms(fit) -> _kr.KenwardRoger:
    """Kenward–Roger for a REML fit with several random-effects terms (``fit.terms`` set)."""
    if not fit.spec.reml:
        raise SpecificationError("Kenward–Roger needs a REML fit (pbkrtest refits with REML, "
                                 "lmerTest refuses); refit with reml=True")
    return compute_terms(fit.raw.problem, fit.theta, fit.sigma, fit.vcov_beta,
                         groups=[td.term.group for td in fit.terms],
                         names=[td.names for td in fit.terms])
