"""Kenward–Roger by its definition, with dense n × n matrices: the oracle both KR test files use.

pbkrtest's ``vcovAdj_internal`` written out for ``Σ = Σ_r γ_r G_r``; only for small test fits.
"""

from __future__ import annotations

import numpy as np


def dense_kenward_roger(X: np.ndarray, G: list, gamma) -> tuple:
    """``(Φ_A, W, P)`` for fixed-effects design ``X`` and ``Σ = Σ_r γ_r G_r`` (residual last)."""
    Si = np.linalg.inv(sum(g * Gr for g, Gr in zip(gamma, G)))
    Phi = np.linalg.inv(X.T @ Si @ X)
    P = [-X.T @ Si @ Gr @ Si @ X for Gr in G]
    Q = [[X.T @ Si @ Gr @ Si @ Gs @ Si @ X for Gs in G] for Gr in G]
    k = len(G)
    IE = np.array([[np.trace(Si @ G[r] @ Si @ G[s]) - 2 * np.trace(Phi @ Q[r][s])
                    + np.trace(Phi @ P[r] @ Phi @ P[s]) for s in range(k)] for r in range(k)])
    W = 2 * np.linalg.inv(IE)
    U = sum(W[r, s] * (Q[r][s] - P[r] @ Phi @ P[s]) for r in range(k) for s in range(k))
    return Phi + 2 * Phi @ U @ Phi, W, np.array(P)


def term_parts(Z: np.ndarray, codes: np.ndarray, m: int, pos, cov: np.ndarray) -> tuple:
    """One term's ``G_r = Z_f (I_m ⊗ E_r) Z_f'`` and ``γ_r`` for each parameter ``(a, b)`` in
    ``pos`` (``Z_f`` the n × mq design of the term's columns ``Z`` by level ``codes``)."""
    n, q = Z.shape
    Zf = np.zeros((n, m * q))
    for i in range(n):
        Zf[i, codes[i] * q:(codes[i] + 1) * q] = Z[i]
    G, gamma = [], []
    for a, b in pos:
        e = np.zeros((q, q))
        e[a, b] = e[b, a] = 1.0
        G.append(Zf @ np.kron(np.eye(m), e) @ Zf.T)
        gamma.append(cov[a, b])
    return G, gamma
