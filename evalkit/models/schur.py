"""The Schur complement onto the random-effects terms after the first, and its Cholesky factor.

:mod:`evalkit.models.sparse_reml` eliminates the first term's levels block by block; what is left
is ``S = Λr'(Z_r'Z_r − Z_r'Z_1 Λ1 A11⁻¹ Λ1'Z_1'Z_r)Λr + I`` on the other terms' columns (A11 the
first term's block-diagonal part of ``Λ'Z'ZΛ + I``). Its pattern does not depend on θ, and the
middle product is linear in the blocks ``B_j = T1 A11_j⁻¹ T1'``: one sparse matrix K, built once
from the pairs of entries of ``Z_r'Z_1`` that share a level of the first factor, maps the stacked
B_j to S's lower triangle. Each evaluation is then one sparse mat-vec, a scaling by the (diagonal,
for scalar terms) Λr and a factorisation, with no sparse matrix built or multiplied by scipy —
whose per-call overhead (index checks, format conversions, ~1 ms per product) was most of an
evaluation on small problems (500 mothers in 50 volunteers: 3.5 ms per whole evaluation with
scipy's products and CHOLMOD, 0.8 ms now).

Which factorisation, and why (measured on this shared 2-core machine, one BLAS thread)
----------------------------------------------------------------------------------------
* S diagonal (mothers nested in volunteers, scalar volunteer term): square roots, in closed form.
* Otherwise a dense LAPACK Cholesky (``potrf``) of S when it has at most :data:`DENSE_MAX` rows:
  on InstEval (S 1,156 rows, crossed factors, 145,400 of its 668,000 lower entries non-zero — too
  many for fill-reducing orderings to help much) a whole evaluation took 0.07 s with the dense
  factor against 0.11 s with CHOLMOD's (same build of S, machine load ~6 on 2 cores). A dense
  factor costs n³/3: at 2,500 rows ~0.6 s per evaluation, where a sparse S is better to CHOLMOD.
* Larger S (many crossed or nested levels after the first factor) go to CHOLMOD (scikit-sparse,
  symbolic analysis once, numeric refactorisation in place) when it is installed: the optional
  ``sparse`` extra, which builds from source against the system SuiteSparse. Without it they use
  the dense path too — the same numbers, slower only for thousands of non-nested levels.
  :data:`USE_CHOLMOD` is the switch (the tests set it to False to check the dense path).

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> zr1 = sp.csc_matrix(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0]]))   # 2 rest × 3 first levels
>>> zrr = sp.csc_matrix(np.diag([8.0, 12.0])); lam = sp.identity(2, format="csc")
>>> s = Schur(zr1, zrr, m1=3, q1=1, lam_r=lam, lind_r=np.array([1, 1]))
>>> B = np.full((3, 1, 1), 0.5); theta = np.array([1.0, 2.0])
>>> f = s.factor(B, theta)
>>> dense = 4 * (zrr.toarray() - zr1.toarray() @ zr1.toarray().T * 0.5) + np.eye(2)
>>> bool(np.isclose(f.logdet(), np.linalg.slogdet(dense)[1]))
True
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as _la
import scipy.sparse as _sp

try:
    from sksparse.cholmod import analyze as _cholmod_analyze
except ImportError:          # the optional ``sparse`` extra is not installed
    _cholmod_analyze = None

__all__ = ["Schur", "DENSE_MAX", "USE_CHOLMOD"]

#: S with more rows than this goes to CHOLMOD, when installed (see the module docstring)
DENSE_MAX = 2500
#: whether CHOLMOD may be used at all (False without scikit-sparse; tests force the dense path)
USE_CHOLMOD = _cholmod_analyze is not None


class Schur:
    """S's fixed pattern (lower triangle), the map K from the blocks B_j to it, and Λr.

    Parameters
    ----------
    zz_r1 : scipy.sparse matrix
        ``Z_r'Z_1`` (rest columns × first-term columns, level-major).
    zz_rr : scipy.sparse matrix
        ``Z_r'Z_r``.
    m1, q1 : int
        The first term's levels and columns.
    lam_r : scipy.sparse.csc_matrix
        Λr's pattern; ``lind_r`` gives the θ index of each stored entry.
    lind_r : numpy.ndarray
    """

    def __init__(self, zz_r1, zz_rr, *, m1: int, q1: int, lam_r, lind_r: np.ndarray):
        nr = zz_rr.shape[0]
        self.nr, self.zz_r1 = nr, _sp.csr_matrix(zz_r1)
        coo = _sp.coo_matrix(zz_r1)
        lev, a = np.divmod(coo.col, q1)
        order = np.argsort(lev, kind="stable")
        pair_keys, bcol, vals = _level_pairs(coo.row[order], lev[order], a[order],
                                             coo.data[order], q1, nr)
        rr = _sp.coo_matrix(zz_rr)
        low = rr.row >= rr.col
        rr_keys = rr.row[low].astype(np.int64) * nr + rr.col[low]
        diag_keys = np.arange(nr, dtype=np.int64) * (nr + 1)
        keys = np.unique(np.concatenate([pair_keys, rr_keys, diag_keys]))
        self.rows, self.cols = np.divmod(keys, nr)
        self.K = _sp.csr_matrix((vals, (np.searchsorted(keys, pair_keys), bcol)),
                                shape=(len(keys), m1 * q1 * q1))
        self.zrr = np.bincount(np.searchsorted(keys, rr_keys), rr.data[low], minlength=len(keys))
        self.diag_pos = np.searchsorted(keys, diag_keys)
        self.is_diag = len(keys) == nr
        self.lam_r, self.lind_r = lam_r, np.asarray(lind_r)
        # scalar terms only: Λr is diagonal and scales S's entries in place
        self.lam_diag = lam_r.nnz == nr and np.array_equal(lam_r.indices, np.arange(nr))
        off = np.flatnonzero(self.rows != self.cols)
        full = _sp.csc_matrix((np.r_[np.arange(len(keys)), off] + 1.0,
                               (np.r_[self.rows, self.cols[off]], np.r_[self.cols, self.rows[off]])),
                              shape=(nr, nr))
        self._full = full                    # the symmetric pattern, data = lower position + 1
        self._perm = full.data.astype(np.int64) - 1
        self._analysis = None

    def cost(self) -> float:
        """A rough count of one factorisation's floating-point work: the map K, then S's factor."""
        return 2.0 * self.K.nnz + (self.nr if self.is_diag and self.lam_diag else self.nr ** 3 / 3)

    def lam_t(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Λr'x."""
        if self.lam_diag:
            return theta[self.lind_r].reshape((-1,) + (1,) * (x.ndim - 1)) * x
        return self._lam(theta).T @ x

    def lam(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Λr x."""
        if self.lam_diag:
            return theta[self.lind_r] * x
        return self._lam(theta) @ x

    def _lam(self, theta):
        lam = self.lam_r.copy()
        lam.data = theta[self.lind_r]
        return lam

    def _symmetric(self, data: np.ndarray):
        return _sp.csc_matrix((data[self._perm], self._full.indices, self._full.indptr),
                              shape=(self.nr, self.nr))

    def factor(self, B: np.ndarray, theta: np.ndarray):
        """The Cholesky factor of S at θ, given the blocks ``B_j = T1 A11_j⁻¹ T1'`` (m1 × q1 × q1)."""
        data = self.zrr - self.K @ B.ravel()
        if self.lam_diag:
            lamd = theta[self.lind_r]
            data = data * lamd[self.rows] * lamd[self.cols]
            data[self.diag_pos] += 1.0
            if self.is_diag:
                return _Diagonal(data)
            S = None
        else:
            lam = self._lam(theta)
            S = (lam.T @ self._symmetric(data) @ lam + _sp.identity(self.nr, format="csc")).tocsc()
        if USE_CHOLMOD and self.nr > DENSE_MAX:
            return self._cholmod(self._symmetric(data) if S is None else S)
        if S is None:
            dense = np.zeros((self.nr, self.nr))
            dense[self.rows, self.cols] = data       # potrf reads the lower triangle only
        else:
            dense = S.toarray()
        return _Dense(dense)

    def _cholmod(self, S):
        if self._analysis is None:
            # a pattern holding S's at any θ: the products at all-ones data cannot cancel
            ones = self._symmetric(np.ones(len(self.rows)))
            lam = self._lam(np.ones(int(self.lind_r.max()) + 1))
            pattern = (abs(lam.T) @ ones @ abs(lam) + _sp.identity(self.nr)).tocsc()
            self._analysis = _cholmod_analyze(pattern, mode="auto")
        self._analysis.cholesky_inplace(S)
        return _Cholmod(self._analysis)


def _level_pairs(r, lev, a, v, q1: int, nr: int, chunk: int = 1 << 19):
    """Every pair (e, f) of entries of ``Z_r'Z_1`` in the same level j (entries sorted by level)
    adds ``B_j[a_e, a_f] v_e v_f`` to ``S[r_e, r_f]``: the pairs in S's lower triangle as (S key
    ``r_e nr + r_f``, column of the stacked B, ``v_e v_f``). Built a few levels at a time: all of
    InstEval's 3.6 million pairs at once, with their temporaries, raised the fit's peak memory
    by ~180 MB."""
    if len(lev) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    sizes = np.bincount(lev)
    starts = np.cumsum(sizes) - sizes                    # each level's first entry
    cum = np.cumsum(sizes.astype(np.int64) ** 2)
    cuts = np.unique(np.r_[0, np.searchsorted(cum, np.arange(chunk, cum[-1], chunk)) + 1,
                           len(sizes)])
    out = []
    for l0, l1 in zip(cuts[:-1], cuts[1:]):
        e0 = starts[l0]
        e1 = starts[l1] if l1 < len(sizes) else len(lev)
        counts = sizes[lev[e0:e1]]
        e = np.repeat(np.arange(e0, e1), counts)
        first = np.cumsum(counts) - counts               # start of e's block of pairs
        f = starts[lev[e]] + np.arange(len(e)) - np.repeat(first, counts)
        keep = r[e] >= r[f]
        e, f = e[keep], f[keep]
        out.append((r[e].astype(np.int64) * nr + r[f], lev[e] * q1 * q1 + a[e] * q1 + a[f],
                    v[e] * v[f]))
    return tuple(np.concatenate(parts) for parts in zip(*out))


class _Diagonal:
    """L = diag(√s): S is diagonal when the later factors nest in the first."""

    def __init__(self, s):
        self.d = np.sqrt(s)

    def logdet(self):
        return 2.0 * float(np.sum(np.log(self.d)))

    def solve_L(self, b):
        return b / self.d.reshape((-1,) + (1,) * (b.ndim - 1))

    solve_Lt = solve_L


class _Dense:
    """LAPACK's Cholesky of a dense S (lower triangle used)."""

    def __init__(self, S):
        self.L = _la.cholesky(S, lower=True, overwrite_a=True, check_finite=False)

    def logdet(self):
        return 2.0 * float(np.sum(np.log(np.diag(self.L))))

    def solve_L(self, b):
        return _la.solve_triangular(self.L, b, lower=True, check_finite=False)

    def solve_Lt(self, c):
        return _la.solve_triangular(self.L, c, lower=True, trans="T", check_finite=False)


class _Cholmod:
    """CHOLMOD's factor P S P' = L L' (L⁻¹P b and P'L⁻ᵀ c)."""

    def __init__(self, f):
        self.f = f

    def logdet(self):
        return float(self.f.logdet())

    def solve_L(self, b):
        return self.f.solve_L(self.f.apply_P(b), use_LDLt_decomposition=False)

    def solve_Lt(self, c):
        return np.asarray(self.f.apply_Pt(self.f.solve_Lt(c, use_LDLt_decomposition=False)))
