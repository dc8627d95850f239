"""Complementary suppression: hide more cells until no hidden cell can be worked out.

:class:`_Protector` works on a matrix of counts and a list of additive equations (sets of cells that
add up to a margin); it is shared by the per-table policy (:mod:`.policy`).
"""

from __future__ import annotations

import numpy as np

from ._rules import _R_AUDIT, _R_SUM


class _Protector:
    """Complementary suppression over a set of additive equations, to a fixed point, then audited.

    ``values`` is a float matrix (NaN: not published or already hidden upstream); ``hidden`` and
    ``rules`` are modified in place. An equation is a list of member cells that add up to a margin,
    which is either one of the members (a total row or row-total column in the table) or outside
    the table (published elsewhere, or could be).
    """

    def __init__(self, values: np.ndarray, hidden: np.ndarray, rules: np.ndarray, *,
                 protect_zeros: bool):
        self.v = values.reshape(-1)
        self.h = hidden.reshape(-1)          # views: writes go through to the caller's arrays
        self.r = rules.reshape(-1)
        self.ncol = values.shape[1]
        self.protect_zeros = protect_zeros
        # what a reader knows about a hidden cell: a primary-suppressed count is at least 1 (zeros
        # are shown), and so is a complement chosen among non-zero cells; anything else may be 0
        primary = np.array([str(x).startswith("primary: count below") for x in self.r], dtype=bool)
        self.lo = np.where(self.h & primary, 1.0, 0.0)
        self.eqs: list[tuple[np.ndarray, np.ndarray, str]] = []
        self._of_cell: dict[int, list[int]] = {}

    def add(self, cells, margin, rule: str) -> None:
        members = [i * self.ncol + j for i, j in cells]
        is_margin = [False] * len(members)
        if margin is not None:
            members.append(margin[0] * self.ncol + margin[1])
            is_margin.append(True)
        if not members:
            return
        k = len(self.eqs)
        self.eqs.append((np.asarray(members, dtype=np.int64), np.asarray(is_margin), rule))
        for f in members:
            self._of_cell.setdefault(f, []).append(k)

    def hide(self, flat: int, rule: str, lo: float = 0.0) -> bool:
        if self.h[flat]:
            return False
        self.h[flat] = True
        self.r[flat] = rule
        self.lo[flat] = lo
        return True

    def hide_pick(self, pick, rule: str) -> bool:
        flat, tier, _ = pick
        return self.hide(flat, rule, 1.0 if tier == 0 else 0.0)

    def hide_small_totals(self, threshold: int, rule_for) -> None:
        """Hide every member of an equation whose total is below the threshold (but not zero)."""
        for m, is_m, rule in self.eqs:
            vals = self.v[m]
            total = vals[is_m][0] if is_m.any() else (np.nansum(vals) if np.isfinite(vals).any()
                                                      else np.nan)
            if np.isfinite(total) and 0 < total < threshold:
                for f in m[np.isfinite(vals)]:
                    self.hide(int(f), rule_for(rule))

    def _candidate(self, m: np.ndarray, is_m: np.ndarray):
        """Best unhidden member to hide: smallest non-zero cell, else a zero, else the margin."""
        ok = ~self.h[m] & np.isfinite(self.v[m])
        if not ok.any():
            return None
        vals = self.v[m]
        tier = np.where(is_m, 2, np.where(vals > 0, 0, 1))
        idx = np.flatnonzero(ok)
        best = idx[np.lexsort((idx, vals[idx], tier[idx]))[0]]
        return int(m[best]), int(tier[best]), float(vals[best])

    def _settle(self) -> None:
        changed = True
        while changed:
            changed = False
            for m, is_m, rule in self.eqs:
                hm = self.h[m]
                k = int(hm.sum())
                if k == 0:
                    continue
                if k == 1:
                    pick = self._candidate(m, is_m)
                    if pick is not None:
                        changed |= self.hide_pick(pick, rule)
                    continue
                if is_m[hm].any():
                    continue            # a hidden total: the hidden cells' sum is not known
                # hidden cells summing to their known lower bounds are each at that bound (two
                # suppressed cells adding up to 2 are both 1); learning that zeros are zeros is
                # harmless unless zeros are protected
                low = self.lo[m][hm].sum()
                if self.v[m][hm].sum() <= low and (low > 0 or self.protect_zeros):  # NaN: False
                    pick = self._candidate(m, is_m)
                    if pick is not None:
                        changed |= self.hide_pick(pick, _R_SUM)

    def _determined(self) -> np.ndarray:
        """Hidden cells whose value follows exactly from the equations (row-major order)."""
        hid = np.flatnonzero(self.h)
        if hid.size == 0:
            return hid
        col = np.full(self.v.size, -1, dtype=np.int64)
        col[hid] = np.arange(hid.size)
        rows = []
        for m, is_m, _ in self.eqs:
            hm = self.h[m]
            if hm.any():
                row = np.zeros(hid.size)
                row[col[m[hm]]] = np.where(is_m[hm], -1.0, 1.0)
                rows.append(row)
        if not rows:
            return hid[:0]
        a = np.vstack(rows)
        # x_j is determined iff e_j lies in the row space, i.e. the null space has no weight on j
        _, s, vt = np.linalg.svd(a, full_matrices=True)
        tol = max(a.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
        null = vt[int((s > tol).sum()):]
        weight = np.sqrt((null ** 2).sum(axis=0)) if null.shape[0] else np.zeros(hid.size)
        return hid[weight < 1e-8]

    def run(self) -> None:
        while True:
            self._settle()
            hid_something = False
            for f in self._determined():
                picks = []
                for k in self._of_cell.get(int(f), []):
                    m, is_m, _ = self.eqs[k]
                    pick = self._candidate(m, is_m)
                    if pick is not None:
                        picks.append((pick[1], pick[2], k, pick))
                if picks:
                    self.hide_pick(min(picks, key=lambda x: x[:3])[3], _R_AUDIT)
                    hid_something = True
                    break
            if not hid_something:
                return

