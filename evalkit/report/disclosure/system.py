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
Cells are grouped into connected components of unknowns, so each LP is small; each component is
one HiGHS model (``highspy``) re-solved with a new objective per bound. Written by hand because no
library builds these equations from keys; the solving is HiGHS.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ...errors import SpecificationError
from .keys import Key

__all__ = ["LinearSystem", "Bounds"]

_INF = math.inf


@dataclass(frozen=True)
class Bounds:
    """The interval a hidden cell can take given everything published (``upper`` may be inf).

    ``exact=False``: the cell was seen to take values at least the asked-for width apart in
    feasible solutions, so its interval is that wide; it was not solved for, and ``lower`` and
    ``upper`` are then -inf and inf (nothing is claimed about it).
    """

    lower: float
    upper: float
    feasible: bool = True
    exact: bool = True
    #: Published cells (system variables) in the relations that pin the lower and the upper
    #: bound: hiding one of each is what widens the interval.
    pins: tuple = field(default=(frozenset(), frozenset()), compare=False, repr=False)

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

    #: Keep the values seen in solutions from one ``bounds`` call to the next. Valid while each
    #: call only adds unknowns (hides more cells): an old solution stays feasible, so a cell seen
    #: to move widely still can. The protection loop sets it; the auditor solves once.
    remember: bool = False

    def __post_init__(self):
        self._seen: dict = {}
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

    def forget_solutions(self) -> None:
        """Drop the values remembered from earlier solutions (``remember``): needed when a call
        fixes a cell an earlier call left free, so old solutions may no longer be feasible."""
        self._seen.clear()      # in place: every component shares this dict

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
        written = set()
        # to a fixed point: the parts a partition creates are split too, so every cell of a cross
        # classification some key touches is a variable (>= 0). Without that, a lone key such as
        # "returned at baseline and at end" misses n(both) >= n(baseline) + n(end) - n(everyone).
        while True:
            before = len(self._vars)
            for v in list(self._vars):
                if v.kind == "sum" and any(x is not None for x in _limits(v.measure, self.measures)):
                    self.count_var(v.key)          # linked to its sum by the limits below
            by_kind = defaultdict(list)
            for i, v in enumerate(list(self._vars)):
                by_kind[(v.kind, v.measure, v.key.unit)].append(i)
            for (kind, measure, unit), idxs in by_kind.items():
                dims = self.dimensions[unit]
                # dicts, not sets: the order variables are created in is the LP's column order,
                # and it must not follow the string hash (PYTHONHASHSEED) or runs differ
                keys = dict.fromkeys(self._vars[i].key for i in idxs)
                refined = defaultdict(dict)         # parent key -> dims it is split on
                for k in keys:
                    for d, lv in k.where:
                        refined[k.without(d)][d] = None
                        if len(lv) > 1:
                            refined[k][(d, lv)] = None
                for parent, ds in refined.items():
                    for d in ds:
                        if (kind, measure, parent, d) in written:
                            continue
                        written.add((kind, measure, parent, d))
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
            if len(self._vars) == before:
                break
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

    def ring(self, variables, known: set, wanted: set, depth: int = 3) -> list:
        """``(distance, variable)`` of ``wanted`` variables reachable from ``variables``.

        The search walks through relations, passing only through unknown variables (a published
        one ends a path: hiding what lies beyond it cannot help), up to ``depth`` steps.
        """
        found, seen = [], set(variables)
        frontier = list(variables)
        for d in range(1, depth + 1):
            nxt = []
            for v in frontier:
                for i in self.neighbours([v]):
                    if i in seen:
                        continue
                    seen.add(i)
                    if i in wanted:
                        found.append((d, i))
                    elif i not in known:
                        nxt.append(i)
            frontier = nxt
        return found

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
    def bounds(self, fixed: dict, intervals: dict, targets: list, *, integer: dict | None = None,
               enough: dict | None = None) -> dict:
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
        enough : dict, optional
            cell id -> a width that is wide enough: a target already seen to take values this far
            apart in the solutions found for other targets is not solved for (``exact=False``,
            infinite bounds). The checks only ask whether an interval is narrower than the
            threshold, so this saves most LP solves.

        Returns
        -------
        dict
            cell id -> :class:`Bounds`.
        """
        self.build()
        nvar = len(self._vars)
        value = np.full(nvar, np.nan)
        for i, v in enumerate(self._vars):
            if v.upper == 0.0 and v.lower == 0.0:
                value[i] = 0.0                   # a structural zero is known to everyone
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
        # substitute known values; what is left links unknown variables (as ranged rows)
        reduced = []
        infeasible = False
        for terms, rhs, sense in rows:
            left, r, subs = {}, rhs, []
            for i, c in terms.items():
                if np.isnan(value[i]):
                    left[i] = left.get(i, 0.0) + c
                else:
                    r -= c * value[i]
                    subs.append(i)
            left = {i: c for i, c in left.items() if c != 0.0}
            if not left:
                tol = 1e-6 * max(1.0, abs(rhs))
                if (sense == "eq" and abs(r) > tol) or (sense == "ub" and r < -tol):
                    infeasible = True
                continue
            reduced.append([left, r if sense == "eq" else -_INF, r, tuple(subs)])
        keep = {i for cid in targets for i in self._cells[cid] if np.isnan(value[i])}
        bounds = {i: (v.lower, v.upper) for i, v in enumerate(self._vars)}
        reduced, bad = _eliminate(reduced, keep, bounds)
        infeasible |= bad
        parent = list(range(nvar))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for left, *_ in reduced:
            it = iter(left)
            first = find(next(it))
            for i in it:
                root = find(i)
                if root != first:
                    parent[root] = first
        comp_rows = defaultdict(list)
        for row in reduced:
            comp_rows[find(next(iter(row[0])))].append(row)
        # single-variable targets of each component: their values are watched in every solution
        t_parts = defaultdict(list)
        for cid in targets:
            terms = self._cells[cid]
            unknown = [i for i in terms if np.isnan(value[i])]
            if len(unknown) == 1 and not infeasible:
                t_parts[find(unknown[0])].append(unknown[0])
        out, comps = {}, {}
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
            wide = (enough or {}).get(cid)
            if wide is not None and len(unknown) == 1:
                (i, c), = unknown.items()
                seen = self._seen.get(i)
                if c == 1.0 and seen is not None and seen[1] - seen[0] >= wide:
                    out[cid] = Bounds(-_INF, _INF, exact=False)
                    continue
            lo, hi, ok, exact, pins = const, const, True, True, (frozenset(), frozenset())
            # a target spanning several components: bound each part separately and add up
            for root in sorted(roots):
                part = {i: c for i, c in unknown.items() if find(i) == root}
                comp = comps.get(root)
                if comp is None:
                    comp = comps[root] = self._component(root, comp_rows[root])
                comp.watch(t_parts.get(root, ()), reach=wide)
                a, b, feasible, precise = comp.range(part, wide if len(roots) == 1 else None)
                if precise and getattr(comp, "last_pins", None):
                    pins = (pins[0] | comp.last_pins[0], pins[1] | comp.last_pins[1])
                ok &= feasible
                exact &= precise
                lo += a
                hi += b
            if integer and integer.get(cid):
                lo = math.ceil(lo - 1e-6) if math.isfinite(lo) else lo
                hi = math.floor(hi + 1e-6) if math.isfinite(hi) else hi
            out[cid] = Bounds(lo, hi, feasible=ok, exact=exact, pins=pins)
        return out

    def _component(self, root, rows):
        """The HiGHS model of one component, reused while its rows are unchanged."""
        cols = sorted({i for left, *_ in rows for i in left}) or [root]
        sig = (tuple(cols), tuple((tuple(sorted(left.items())), lo, hi) for left, lo, hi, _ in rows))
        cache = self.__dict__.setdefault("_comp_cache", {})
        comp = cache.get(sig)
        if comp is None:
            comp = _Component(cols, rows, [(self._vars[i].lower, self._vars[i].upper) for i in cols],
                              seen=self._seen if self.remember else {})
            cache[sig] = comp
        return comp


_HIGHS_READY = False


def _new_highs():
    """A silent HiGHS instance (its first construction prints a banner on the C-level stdout)."""
    import os
    import sys

    import highspy

    global _HIGHS_READY
    if _HIGHS_READY:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _HIGHS_READY = True
    h.setOptionValue("output_flag", False)
    # each model is re-solved with a new objective: presolve off lets the simplex start from the
    # previous optimal basis instead of from scratch
    h.setOptionValue("presolve", "off")
    # a new objective keeps the previous basis primal feasible: primal simplex restarts from it
    # (about three times faster here than the default dual simplex)
    h.setOptionValue("simplex_strategy", 4)
    return h


class _Component:
    """One connected set of unknowns as a HiGHS model, re-solved for each objective.

    The model is passed to HiGHS once; each target only changes the objective, so the simplex
    starts from the previous basis (far faster than a fresh ``linprog`` per bound).
    """

    def __init__(self, cols, rows, bounds, *, seen=None):
        import highspy
        from scipy.sparse import csc_matrix

        self.cols = list(cols)
        self.seen = {} if seen is None else seen
        self.pos = {i: j for j, i in enumerate(cols)}
        self.n = len(cols)
        inf = highspy.kHighsInf
        r_idx, c_idx, vals, lo, hi = [], [], [], [], []
        self.pins = [row[3] for row in rows]
        for k, (left, row_lo, row_hi, _) in enumerate(rows):
            for i, c in left.items():
                r_idx.append(k)
                c_idx.append(self.pos[i])
                vals.append(c)
            lo.append(row_lo if math.isfinite(row_lo) else -inf)
            hi.append(row_hi if math.isfinite(row_hi) else inf)
        a = csc_matrix((vals, (r_idx, c_idx)), shape=(len(rows), self.n))
        lp = highspy.HighsLp()
        lp.num_col_ = self.n
        lp.num_row_ = len(rows)
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.array([b[0] if math.isfinite(b[0]) else -inf for b in bounds], float)
        lp.col_upper_ = np.array([b[1] if math.isfinite(b[1]) else inf for b in bounds], float)
        lp.row_lower_ = np.array(lo, float)
        lp.row_upper_ = np.array(hi, float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        self.h = _new_highs()
        self.h.passModel(lp)
        self._hs = highspy
        self._last: list[int] = []

    def _binding(self) -> set:
        """Published variables in the rows whose dual is not zero at the current optimum."""
        duals = np.asarray(self.h.getSolution().row_dual, float)
        out = set()
        for k in np.flatnonzero(np.abs(duals) > 1e-9):
            out.update(self.pins[k])
        return out

    def _solve(self, idx, vals, sense) -> tuple[float, int]:
        hs = self._hs
        if self._last:
            self.h.changeColsCost(len(self._last), np.array(self._last, np.int32),
                                  np.zeros(len(self._last)))
        self.h.changeColsCost(len(idx), np.array(idx, np.int32), np.array(vals, float))
        self._last = list(idx)
        self.h.changeObjectiveSense(sense)
        self.h.run()
        status = self.h.getModelStatus()
        if status == hs.HighsModelStatus.kOptimal:
            self._record()
            return self.h.getInfo().objective_function_value, 0
        if status == hs.HighsModelStatus.kInfeasible:
            return math.nan, 2
        if status in (hs.HighsModelStatus.kUnbounded, hs.HighsModelStatus.kUnboundedOrInfeasible):
            return math.nan, 3
        return math.nan, 4

    def watch(self, variables, reach: float | None = None) -> None:
        """Variables whose values every solution records (witnesses of how far they can move).

        With ``reach``, two solutions certify most of them at once: the minimum of their sum, then
        the maximum of their sum with each capped at its minimum plus ``reach`` (a variable that
        reaches its cap can move at least ``reach``; the cap keeps unbounded ones finite).
        """
        cols = [self.pos[i] for i in variables if i in self.pos]
        if not hasattr(self, "_seen_lo"):
            self._seen_lo = np.full(self.n, np.inf)
            self._seen_hi = np.full(self.n, -np.inf)
            self._watched = np.zeros(self.n, dtype=bool)
        if cols and not self._watched[cols].all():
            self._watched[cols] = True
            if not getattr(self, "_seeded", False) and reach is not None:
                self._seeded = True
                idx = np.flatnonzero(self._watched).astype(np.int32)
                _, status = self._solve(list(idx), [1.0] * len(idx), self._hs.ObjSense.kMinimize)
                if status != 0:
                    return
                lp = self.h.getLp()
                lower = np.asarray(lp.col_lower_, float)[idx]
                upper = np.asarray(lp.col_upper_, float)[idx]
                cap = np.minimum(upper, self._seen_lo[idx] + reach)
                self.h.changeColsBounds(len(idx), idx, lower, cap)
                self._solve(list(idx), [1.0] * len(idx), self._hs.ObjSense.kMaximize)
                self.h.changeColsBounds(len(idx), idx, lower, upper)

    def _record(self) -> None:
        if not hasattr(self, "_seen_lo"):
            return
        x = np.asarray(self.h.getSolution().col_value, float)
        if x.size == self.n:
            np.minimum(self._seen_lo, x, out=self._seen_lo)
            np.maximum(self._seen_hi, x, out=self._seen_hi)
            for j in np.flatnonzero(self._watched):
                i = self.cols[j]
                old = self.seen.get(i)
                lo, hi = float(self._seen_lo[j]), float(self._seen_hi[j])
                self.seen[i] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    def range(self, part, enough=None) -> tuple[float, float, bool, bool]:
        if enough is not None and len(part) == 1 and hasattr(self, "_seen_lo"):
            (i, coef), = part.items()
            j = self.pos.get(i)
            if j is not None and coef == 1.0 and self._seen_hi[j] - self._seen_lo[j] >= enough:
                # seen to move at least that far: wide enough, but not solved for (no bounds)
                return (-_INF, _INF, True, False)
        key = tuple(sorted(part.items()))
        done = self.__dict__.setdefault("_done", {})
        if key not in done:
            self.last_pins = (frozenset(), frozenset())
            done[key] = (*self._range(part), self.last_pins)
        *result, self.last_pins = done[key]
        return tuple(result)

    def _range(self, part) -> tuple[float, float, bool, bool]:
        idx, vals = [], []
        for i, coef in part.items():
            if i not in self.pos:
                return (0.0, _INF, True, True)     # no relation constrains it: only its bounds
            idx.append(self.pos[i])
            vals.append(coef)
        lo, s1 = self._solve(idx, vals, self._hs.ObjSense.kMinimize)
        low = self._binding() if s1 == 0 else set()
        hi, s2 = self._solve(idx, vals, self._hs.ObjSense.kMaximize)
        high = self._binding() if s2 == 0 else set()
        if s1 == 2 or s2 == 2:
            return (math.nan, math.nan, False, True)   # the published numbers contradict
        # the cells binding the lower bound, and those binding the upper bound
        self.last_pins = (frozenset(low), frozenset(high))
        # unbounded (or numerical trouble): claim nothing in that direction
        return (lo if s1 == 0 else -_INF, hi if s2 == 0 else _INF, True, True)


def _eliminate(rows: list, keep: set, bounds: dict) -> tuple[list, bool]:
    """Remove variables that appear in one row only (and are not asked about).

    A variable x in [L, U] with coefficient c in one row ``lo <= sum + c x <= hi`` lets the rest of
    the row take any value in ``[lo - max(c x), hi - min(c x)]``: the row is replaced by that
    range, the variable dropped, and rows with no bound left are dropped. This is the column
    singleton step of LP presolve, done once so each HiGHS model stays small.
    """
    count = defaultdict(int)
    for left, *_ in rows:
        for i in left:
            count[i] += 1
    alive = [True] * len(rows)
    where = defaultdict(list)
    for k, (left, *_) in enumerate(rows):
        for i in left:
            where[i].append(k)
    queue = [i for i, n in count.items() if n == 1 and i not in keep]
    bad = False
    while queue:
        i = queue.pop()
        if count.get(i, 0) != 1 or i in keep:
            continue
        k = next(k for k in where[i] if alive[k] and i in rows[k][0])
        left, lo, hi, pins = rows[k]
        c = left.pop(i)
        count[i] = 0
        low, up = bounds[i]
        a, b = (c * low, c * up) if c > 0 else (c * up, c * low)
        lo = lo - b if math.isfinite(lo) and math.isfinite(b) else -_INF
        hi = hi - a if math.isfinite(hi) and math.isfinite(a) else _INF
        rows[k] = [left, lo, hi, pins]
        if not left or (not math.isfinite(lo) and not math.isfinite(hi)):
            if not left and (lo > 1e-6 * max(1.0, abs(lo)) or hi < -1e-6 * max(1.0, abs(hi))):
                bad = True
            alive[k] = False
            for j in left:
                count[j] -= 1
                if count[j] == 1 and j not in keep:
                    queue.append(j)
    return [r for r, a in zip(rows, alive) if a], bad


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
