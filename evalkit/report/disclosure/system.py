"""The linear relations between published cells, and the tightest bounds they allow (HiGHS LP).

Both the publication layer (to decide what else to hide) and the auditor (to try to break what
was published) build a :class:`LinearSystem` from the same declarations — keys of every count
cell, the levels of every dimension, structural zeros, subset relations and the measures behind
published means — and ask it for the interval each hidden cell can still take.

Variables are counts of the sets named by :class:`~.keys.Key` objects and sums (and sums of
squares) of measures over those sets. Relations:

* *partition*: a set equals the sum of its parts over every level of one dimension (with the
  missing level, so the parts are exhaustive); the system closes the declared keys upward (every
  subset of their conditions) so chains of subtractions across tables are found;
* *split*: a condition on a set of levels is the sum of the single levels;
* *published cells*: a count fixed at its value, a sum of keys fixed at its value, a rounded count
  within its rounding interval, a sum of a measure fixed at mean × n;
* *measure bounds*: ``lower × n <= sum <= upper × n`` for a measure with known limits;
* *structural zeros* (a set that cannot have members) and *subset* relations ``n(a) <= n(b)``.

Counts are whole numbers >= 0; the LP relaxation's bounds are rounded inwards to whole numbers.
Cells are grouped into connected components of unknowns, so each LP is small. Written by hand
because no library builds these equations from keys; the solving is scipy's HiGHS.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.optimize import linprog

from ...errors import SpecificationError
from .keys import Key

__all__ = ["LinearSystem", "Bounds"]

_INF = math.inf


@dataclass(frozen=True)
class Bounds:
    """The interval a hidden cell can take given everything published (``upper`` may be inf)."""

    lower: float
    upper: float
    feasible: bool = True

    @property
    def values(self) -> float:
        """Number of whole values in the interval (inf when unbounded)."""
        if not self.feasible:
            return 0.0
        return self.upper - self.lower + 1 if math.isfinite(self.upper) else _INF


@dataclass
class _Var:
    kind: str            # "count" or "sum"
    key: Key
    measure: str | None = None
    lower: float = 0.0
    upper: float = _INF


@dataclass
class LinearSystem:
    """Equations between count and sum variables, built from keys (see the module docstring).

    Parameters
    ----------
    dimensions : dict
        ``{unit: {dimension: [levels, ...]}}``; levels include the missing level.
    zeros : list of Key
        Structural zeros: any set inside one of these is empty.
    measures : dict
        ``{measure: (lower, upper)}`` per-person limits (None: unknown), for sums of that measure.
    """

    dimensions: dict
    zeros: list = field(default_factory=list)
    measures: dict = field(default_factory=dict)

    def __post_init__(self):
        self._vars: list[_Var] = []
        self._index: dict = {}
        self._ubs: list[tuple[dict, float]] = []       # {var: coef} <= rhs
        self._cells: dict = {}                          # cell id -> {var: coef}
        self._built = False

    # ------------------------------------------------------------------ declaration
    def count_var(self, key: Key) -> int:
        """The variable counting ``key`` (created, with its upward closure, on first use)."""
        return self._var("count", key, None)

    def sum_var(self, measure: str, key: Key) -> int:
        """The variable summing ``measure`` (or ``measure^2``) over ``key``."""
        return self._var("sum", key, measure)

    def _var(self, kind, key, measure) -> int:
        ident = (kind, key, measure)
        found = self._index.get(ident)
        if found is not None:
            return found
        if key.unit not in self.dimensions:
            raise SpecificationError(f"key {key}: unit {key.unit!r} has no declared dimensions")
        dims = self.dimensions[key.unit]
        for d, lv in key.where:
            if d not in dims:
                raise SpecificationError(f"key {key}: dimension {d!r} is not declared")
            unknown = [x for x in lv if x not in dims[d]]
            if unknown:
                raise SpecificationError(f"key {key}: {unknown} are not levels of {d!r} "
                                         f"(levels: {dims[d]})")
        upper = 0.0 if kind == "count" and self._is_zero(key) else _INF
        self._vars.append(_Var(kind, key, measure, 0.0, upper))
        self._index[ident] = len(self._vars) - 1
        self._built = False
        return len(self._vars) - 1

    def _is_zero(self, key: Key) -> bool:
        for z in self.zeros:
            if z.unit != key.unit:
                continue
            if all((lv := key.level(d)) is not None and set(lv) <= set(zl) for d, zl in z.where):
                return True
        return False

    def cell(self, cell_id, terms: dict) -> None:
        """Name a linear expression ``{variable: coefficient}`` as a cell (to fix or bound)."""
        self._cells[cell_id] = dict(terms)

    def subset(self, a: Key, b: Key) -> None:
        """``n(a) <= n(b)``: every member of set a is in set b."""
        self._ubs.append(({self.count_var(a): 1.0, self.count_var(b): -1.0}, 0.0))

    # ------------------------------------------------------------------ structure
    def build(self) -> None:
        """Close the keys upward and write the partition, split and measure equations."""
        if self._built:
            return
        # upward closure of every count key (each subset of its conditions), then of sum keys
        for kind in ("count", "sum"):
            frontier = [v for v in list(self._vars) if v.kind == kind]
            seen = set()
            while frontier:
                nxt = []
                for v in frontier:
                    ident = (v.key, v.measure)
                    if ident in seen:
                        continue
                    seen.add(ident)
                    for d in v.key.dims():
                        parent = v.key.without(d)
                        i = self._var(kind, parent, v.measure)
                        nxt.append(self._vars[i])
                frontier = nxt
        partition: list[tuple[dict, float]] = []
        by_kind = defaultdict(list)
        for i, v in enumerate(list(self._vars)):
            by_kind[(v.kind, v.measure, v.key.unit)].append(i)
        for (kind, measure, unit), idxs in by_kind.items():
            dims = self.dimensions[unit]
            keys = {self._vars[i].key for i in idxs}
            refined = defaultdict(set)          # parent key -> dims it is split on
            for k in keys:
                for d, lv in k.where:
                    refined[k.without(d)].add(d)
                    if len(lv) > 1:
                        refined[k].add((d, lv))
            for parent, ds in refined.items():
                for d in ds:
                    if isinstance(d, tuple):      # a multi-level condition: split into levels
                        dim, lv = d
                        base = parent.without(dim)
                        total = self._var(kind, parent, measure)
                        parts = [self._var(kind, base & {dim: x}, measure) for x in lv]
                    else:
                        total = self._var(kind, parent, measure)
                        parts = [self._var(kind, parent & {d: x}, measure) for x in dims[d]]
                    terms = defaultdict(float)
                    terms[total] -= 1.0
                    for p in parts:
                        terms[p] += 1.0
                    partition.append((dict(terms), 0.0))
        ubs = []
        # measure limits link each sum to its count: lower*n <= sum <= upper*n
        for i, v in enumerate(list(self._vars)):
            if v.kind != "sum":
                continue
            lo, hi = _limits(v.measure, self.measures)
            n = self.count_var(v.key)
            if lo is not None:
                ubs.append(({n: lo, i: -1.0}, 0.0))
            if hi is not None:
                ubs.append(({i: 1.0, n: -hi}, 0.0))
            if lo is None or lo < 0:
                v.lower = -_INF
        self._partition = partition
        self._limits = ubs
        self.__dict__.pop("_rows_of", None)
        self._built = True

    def neighbours(self, variables) -> list:
        """Variables sharing a relation with any of ``variables`` (for choosing complements)."""
        self.build()
        if not hasattr(self, "_rows_of"):
            rows_of = defaultdict(list)
            for k, (terms, _) in enumerate(self._partition):
                for i in terms:
                    rows_of[i].append(k)
            self._rows_of = rows_of
        out = []
        want = set(variables)
        for v in variables:
            for k in self._rows_of.get(v, []):
                out.extend(i for i in self._partition[k][0] if i not in want)
        return list(dict.fromkeys(out))

    def component(self, variables) -> list:
        """Every variable linked to ``variables`` through relations (breadth first, in order)."""
        seen = list(dict.fromkeys(variables))
        known = set(seen)
        k = 0
        while k < len(seen):
            for i in self.neighbours([seen[k]]):
                if i not in known:
                    known.add(i)
                    seen.append(i)
            k += 1
        return [v for v in seen if v not in set(variables)]

    # ------------------------------------------------------------------ solving
    def bounds(self, fixed: dict, intervals: dict, targets: list, *, integer: dict | None = None
               ) -> dict:
        """Tightest bounds on each target cell.

        Parameters
        ----------
        fixed : dict
            cell id -> published value (the cell's expression equals it).
        intervals : dict
            cell id -> (low, high): published only to within an interval (rounding).
        targets : list
            cell ids to bound (hidden cells).
        integer : dict, optional
            cell id -> True when the cell is a count (bounds rounded inwards to whole numbers).

        Returns
        -------
        dict
            cell id -> :class:`Bounds`.
        """
        self.build()
        nvar = len(self._vars)
        value = np.full(nvar, np.nan)
        extra_eq, extra_ub = [], []
        for cid, val in fixed.items():
            terms = self._cells[cid]
            if len(terms) == 1 and next(iter(terms.values())) == 1.0:
                (i,) = terms
                if np.isnan(value[i]):
                    value[i] = val
                    continue
            extra_eq.append((terms, float(val)))
        for cid, (lo, hi) in intervals.items():
            terms = self._cells[cid]
            if lo is not None and math.isfinite(lo):
                extra_ub.append(({k: -c for k, c in terms.items()}, -float(lo)))
            if hi is not None and math.isfinite(hi):
                extra_ub.append((dict(terms), float(hi)))
        rows = [(t, r, "eq") for t, r in (*self._partition, *extra_eq)] + \
               [(t, r, "ub") for t, r in (*self._limits, *self._ubs, *extra_ub)]
        # substitute known values; what is left links unknown variables
        reduced = []
        infeasible = False
        for terms, rhs, sense in rows:
            left, r = {}, rhs
            for i, c in terms.items():
                if np.isnan(value[i]):
                    left[i] = left.get(i, 0.0) + c
                else:
                    r -= c * value[i]
            left = {i: c for i, c in left.items() if c != 0.0}
            if not left:
                tol = 1e-6 * max(1.0, abs(rhs))
                if (sense == "eq" and abs(r) > tol) or (sense == "ub" and r < -tol):
                    infeasible = True
                continue
            reduced.append((left, r, sense))
        parent = list(range(nvar))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for left, _, _ in reduced:
            it = iter(left)
            first = find(next(it))
            for i in it:
                root = find(i)
                if root != first:
                    parent[root] = first
        comp_rows = defaultdict(list)
        for row in reduced:
            comp_rows[find(next(iter(row[0])))].append(row)
        out = {}
        cache = {}
        for cid in targets:
            terms = self._cells[cid]
            unknown = {i: c for i, c in terms.items() if np.isnan(value[i])}
            const = sum(c * value[i] for i, c in terms.items() if not np.isnan(value[i]))
            if infeasible:
                out[cid] = Bounds(np.nan, np.nan, feasible=False)
                continue
            if not unknown:
                out[cid] = Bounds(const, const)
                continue
            roots = {find(i) for i in unknown}
            lo, hi, ok = const, const, True
            # a target spanning several components: bound each part separately and add up
            for root in sorted(roots):
                part = {i: c for i, c in unknown.items() if find(i) == root}
                if root not in cache:
                    cache[root] = self._component(root, comp_rows[root], find)
                a, b, feasible = self._optimise(cache[root], part)
                ok &= feasible
                lo += a
                hi += b
            if integer and integer.get(cid):
                lo = math.ceil(lo - 1e-6) if math.isfinite(lo) else lo
                hi = math.floor(hi + 1e-6) if math.isfinite(hi) else hi
            out[cid] = Bounds(lo, hi, feasible=ok)
        return out

    def _component(self, root, rows, find):
        cols = sorted({i for left, _, _ in rows for i in left})
        if not cols:
            # an unknown that appears in no relation: only its own limits bound it
            cols = [root]
        pos = {i: j for j, i in enumerate(cols)}
        eq = [(l, r) for l, r, s in rows if s == "eq"]
        ub = [(l, r) for l, r, s in rows if s == "ub"]

        def matrix(rs):
            if not rs:
                return None, None
            a = np.zeros((len(rs), len(cols)))
            b = np.zeros(len(rs))
            for k, (left, r) in enumerate(rs):
                for i, c in left.items():
                    a[k, pos[i]] += c
                b[k] = r
            return a, b

        a_eq, b_eq = matrix(eq)
        a_ub, b_ub = matrix(ub)
        bnds = [(None if not math.isfinite(self._vars[i].lower) else self._vars[i].lower,
                 None if not math.isfinite(self._vars[i].upper) else self._vars[i].upper)
                for i in cols]
        return {"pos": pos, "a_eq": a_eq, "b_eq": b_eq, "a_ub": a_ub, "b_ub": b_ub, "bounds": bnds,
                "n": len(cols)}

    @staticmethod
    def _optimise(comp, part) -> tuple[float, float, bool]:
        c = np.zeros(comp["n"])
        for i, coef in part.items():
            if i not in comp["pos"]:
                # no relation constrains it: only its own bounds
                return (0.0, _INF, True)
            c[comp["pos"][i]] = coef
        res = []
        for sign in (1.0, -1.0):
            r = linprog(sign * c, A_ub=comp["a_ub"], b_ub=comp["b_ub"], A_eq=comp["a_eq"],
                        b_eq=comp["b_eq"], bounds=comp["bounds"], method="highs")
            if r.status == 2:                     # infeasible: the published numbers contradict
                return (np.nan, np.nan, False)
            if r.status == 3:                     # unbounded in this direction
                res.append(-_INF if sign > 0 else _INF)
            elif r.status == 0:
                res.append(sign * r.fun)
            else:                                 # numerical trouble: claim nothing
                res.append(-_INF if sign > 0 else _INF)
        return res[0], res[1], True


def _limits(measure: str, measures: dict) -> tuple:
    """Per-person (lower, upper) of a measure, or of its square for ``"name^2"``."""
    square = measure.endswith("^2")
    lo, hi = measures.get(measure[:-2] if square else measure, (None, None))
    if not square:
        return lo, hi
    low = lo * lo if lo is not None and lo >= 0 else (hi * hi if hi is not None and hi <= 0 else 0.0)
    high = max(lo * lo, hi * hi) if lo is not None and hi is not None else None
    return low, high


def subsets(key: Key):
    """Every key obtained by dropping some of ``key``'s conditions (including ``key`` itself)."""
    dims = key.dims()
    for r in range(len(dims) + 1):
        for drop in combinations(dims, r):
            yield key.without(*drop)
