"""LinearSystem: LP bounds on hidden counts checked against brute force over every integer table.

Each problem is a small population cross-classified on a few dimensions. The "atoms" are the cells
of the full cross classification; a key counts the atoms it matches. Brute force enumerates every
non-negative integer vector of atom counts with the published totals and keeps those satisfying the
published values, intervals, structural zeros and subset relations; the min and max of each hidden
cell over those vectors is what a reader can learn. The LP bounds are a relaxation, so they must
contain that interval, and for these partition systems (totally unimodular) they must equal it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.report.disclosure import Key, LinearSystem
from evalkit.report.disclosure import system as system_module


# ====================================================================== brute force
@lru_cache(maxsize=None)
def compositions(total: int, parts: int) -> np.ndarray:
    """Every vector of ``parts`` non-negative integers adding up to ``total`` (one per row)."""
    if parts == 1:
        return np.array([[total]], dtype=np.int64)
    blocks = []
    for first in range(total + 1):
        rest = compositions(total - first, parts - 1)
        blocks.append(np.hstack([np.full((len(rest), 1), first, dtype=np.int64), rest]))
    return np.vstack(blocks)


def test_compositions_helper():
    c = compositions(3, 3)
    assert c.shape == (10, 3) and (c.sum(axis=1) == 3).all() and len({tuple(r) for r in c}) == 10


class Problem:
    """A population on ``levels`` (one unit, "person") and named cells, each a Key or list of Keys."""

    def __init__(self, levels: dict, cells: dict, *, zeros=(), subsets=(), measures=None):
        self.levels = levels
        self.cells = {cid: (k if isinstance(k, list) else [k]) for cid, k in cells.items()}
        self.zeros = list(zeros)
        self.subsets = list(subsets)
        self.measures = measures or {}
        self.dims = sorted(levels)
        self.atoms = list(product(*[levels[d] for d in self.dims]))

    def indicator(self, key: Key) -> np.ndarray:
        return np.array([all(a[self.dims.index(d)] in lv for d, lv in key.where)
                         for a in self.atoms], dtype=np.int64)

    def matrix(self, cid) -> np.ndarray:
        return sum(self.indicator(k) for k in self.cells[cid])

    def values(self, truth: dict) -> dict:
        """Every cell's value for a population given as {atom tuple: count}."""
        x = np.array([truth.get(a, 0) for a in self.atoms])
        return {cid: int(self.matrix(cid) @ x) for cid in self.cells}

    def system(self, *, remember=False, zeros=True, subsets=True) -> LinearSystem:
        s = LinearSystem({"person": self.levels}, zeros=self.zeros if zeros else [],
                         measures=self.measures, remember=remember)
        for cid, keys in self.cells.items():
            terms = {}
            for k in keys:
                v = s.count_var(k)
                terms[v] = terms.get(v, 0.0) + 1.0
            s.cell(cid, terms)
        if subsets:
            for a, b in self.subsets:
                s.subset(a, b)
        return s

    def lp(self, fixed, intervals, targets, **kw) -> dict:
        s = kw.pop("system", None) or self.system()
        return s.bounds(fixed, intervals, targets, integer={t: True for t in targets}, **kw)

    def brute(self, fixed, intervals, targets, totals, *, zeros=True, subsets=True):
        """{target: (min, max)} over every integer population, or None if none is feasible."""
        zero = np.zeros(len(self.atoms), dtype=bool)
        if zeros:
            for z in self.zeros:
                zero |= self.indicator(z).astype(bool)
        free = np.flatnonzero(~zero)
        lo = {t: math.inf for t in targets}
        hi = {t: -math.inf for t in targets}
        found = False
        for n in totals:
            sub = compositions(n, len(free))
            x = np.zeros((len(sub), len(self.atoms)), dtype=np.int64)
            x[:, free] = sub
            ok = np.ones(len(x), dtype=bool)
            for cid, v in fixed.items():
                ok &= x @ self.matrix(cid) == v
            for cid, (a, b) in intervals.items():
                val = x @ self.matrix(cid)
                if a is not None:
                    ok &= val >= a
                if b is not None:
                    ok &= val <= b
            if subsets:
                for a, b in self.subsets:
                    ok &= x @ self.indicator(a) <= x @ self.indicator(b)
            if not ok.any():
                continue
            found = True
            for t in targets:
                val = x[ok] @ self.matrix(t)
                lo[t], hi[t] = min(lo[t], int(val.min())), max(hi[t], int(val.max()))
        return {t: (lo[t], hi[t]) for t in targets} if found else None


def check(problem, fixed, intervals, targets, totals, *, exact=True, **kw) -> dict:
    """LP bounds contain the brute-force interval (and equal it when ``exact``)."""
    lp = problem.lp(fixed, intervals, targets)
    bf = problem.brute(fixed, intervals, targets, totals, **kw)
    assert bf is not None, "the test problem itself is infeasible"
    for t in targets:
        b = lp[t]
        assert b.feasible, f"{t}: LP says infeasible but {bf[t]} is possible"
        lo, hi = bf[t]
        assert b.lower <= lo + 1e-9 and hi <= b.upper + 1e-9, \
            f"{t}: LP bounds [{b.lower}, {b.upper}] exclude a possible value of [{lo}, {hi}]"
        if exact:
            assert (b.lower, b.upper) == (lo, hi), \
                f"{t}: LP bounds [{b.lower}, {b.upper}] are looser than what a reader can work " \
                f"out by trying every table: [{lo}, {hi}]"
    return lp


# ====================================================================== one-way tables
SITES = {"site": ["a", "b", "c", "d"]}
ONE_WAY = Problem(SITES, {"all": Key.of(), **{s: Key.of(site=s) for s in SITES["site"]}})
ONE_WAY_TRUTH = {("a",): 6, ("b",): 2, ("c",): 3, ("d",): 1}


def test_one_way_single_hidden_cell_is_determined_by_the_total():
    v = ONE_WAY.values(ONE_WAY_TRUTH)
    assert v == {"all": 12, "a": 6, "b": 2, "c": 3, "d": 1}
    fixed = {c: v[c] for c in ("all", "a", "b", "c")}
    lp = check(ONE_WAY, fixed, {}, ["d"], totals=[12])
    assert (lp["d"].lower, lp["d"].upper) == (1, 1), "a lone hidden cell is the total minus the rest"
    assert lp["d"].exact and lp["d"].values == 1


def test_one_way_two_hidden_cells_share_what_is_left():
    v = ONE_WAY.values(ONE_WAY_TRUTH)
    fixed = {c: v[c] for c in ("all", "a", "c")}
    lp = check(ONE_WAY, fixed, {}, ["b", "d"], totals=[12])
    assert (lp["b"].lower, lp["b"].upper) == (0, 3)
    # a reader knows hidden counts are at least 1
    pos = {"b": (1, None), "d": (1, None)}
    lp = check(ONE_WAY, fixed, pos, ["b", "d"], totals=[12])
    assert (lp["b"].lower, lp["b"].upper) == (1, 2) and (lp["d"].lower, lp["d"].upper) == (1, 2)


def test_one_way_hidden_total():
    v = ONE_WAY.values(ONE_WAY_TRUTH)
    fixed = {c: v[c] for c in ("a", "b", "c")}
    lp = ONE_WAY.lp(fixed, {"d": (1, None)}, ["all", "d"])
    assert lp["all"].lower == 12 and lp["all"].upper == math.inf, \
        f"a hidden total with a hidden part is unbounded above: {lp['all']}"
    assert lp["d"].lower == 1 and lp["d"].upper == math.inf
    assert lp["all"].values == math.inf
    check(ONE_WAY, fixed, {"d": (1, 4)}, ["all", "d"], totals=range(0, 16))


# ====================================================================== two-way tables
ROWS, COLS = ["r1", "r2"], ["c1", "c2"]


def two_way(rows=ROWS, cols=COLS) -> Problem:
    cells = {"all": Key.of()}
    cells.update({r: Key.of(row=r) for r in rows})
    cells.update({c: Key.of(col=c) for c in cols})
    cells.update({(r, c): Key.of(row=r, col=c) for r in rows for c in cols})
    return Problem({"row": list(rows), "col": list(cols)}, cells)


def test_two_by_two_with_margins_single_hidden_cell_is_determined():
    p = two_way()
    truth = {("c1", "r1"): 2, ("c2", "r1"): 5, ("c1", "r2"): 4, ("c2", "r2"): 1}
    v = p.values(truth)
    assert v["all"] == 12 and v["r1"] == 7 and v["c1"] == 6
    for hidden in [("r1", "c1"), ("r2", "c2")]:
        fixed = {c: x for c, x in v.items() if c != hidden}
        lp = check(p, fixed, {hidden: (1, None)}, [hidden], totals=[12])
        assert lp[hidden].lower == lp[hidden].upper == v[hidden], \
            f"{hidden} is its margin minus the other cell: {lp[hidden]}"


def test_two_by_two_hidden_row_is_still_determined_by_the_column_margins():
    p = two_way()
    truth = {("c1", "r1"): 2, ("c2", "r1"): 1, ("c1", "r2"): 5, ("c2", "r2"): 4}
    v = p.values(truth)
    hide = [("r1", "c1"), ("r1", "c2")]
    fixed = {c: x for c, x in v.items() if c not in hide}
    lp = check(p, fixed, {h: (1, None) for h in hide}, hide, totals=[v["all"]])
    for h in hide:
        assert lp[h].lower == lp[h].upper == v[h], f"{h}: {lp[h]}"


def test_two_by_two_all_inner_cells_hidden_gives_the_frechet_bounds():
    p = two_way()
    truth = {("c1", "r1"): 3, ("c2", "r1"): 4, ("c1", "r2"): 2, ("c2", "r2"): 3}
    v = p.values(truth)
    hide = [(r, c) for r in ROWS for c in COLS]
    fixed = {c: x for c, x in v.items() if c not in hide}
    lp = check(p, fixed, {}, hide, totals=[v["all"]])
    # r1=7, c1=5, all=12: max(0, 7 + 5 - 12) <= n(r1, c1) <= min(7, 5)
    assert (lp[("r1", "c1")].lower, lp[("r1", "c1")].upper) == (0, 5)


def test_three_by_three_rectangle_of_hidden_cells():
    p = two_way(["r1", "r2", "r3"], ["c1", "c2", "c3"])
    counts = [[1, 4, 2], [3, 0, 2], [0, 1, 3]]
    truth = {(c, r): counts[i][j] for i, r in enumerate(["r1", "r2", "r3"])
             for j, c in enumerate(["c1", "c2", "c3"])}
    v = p.values(truth)
    hide = [("r1", "c1"), ("r1", "c3"), ("r2", "c1"), ("r2", "c3")]
    fixed = {c: x for c, x in v.items() if c not in hide}
    pos = {h: (1, None) for h in hide}
    lp = check(p, fixed, pos, hide, totals=[v["all"]])
    assert lp[("r1", "c1")].upper - lp[("r1", "c1")].lower >= 1, "a hidden rectangle can move"


# ====================================================================== keys with level sets
MECH = {"mech": ["0-2", "3-4", "5-6", "(missing)"]}
ANSWERED = Key.of(mech=["0-2", "3-4", "5-6"])


def test_multi_level_condition_is_the_sum_of_its_levels():
    p = Problem(MECH, {"all": Key.of(), "answered": ANSWERED, "low": Key.of(mech=["0-2", "3-4"]),
                       **{lv: Key.of(mech=lv) for lv in MECH["mech"]}})
    truth = {("0-2",): 2, ("3-4",): 3, ("5-6",): 4, ("(missing)",): 1}
    v = p.values(truth)
    assert v["answered"] == 9 and v["low"] == 5
    # "0-2" is the level set minus its other level
    fixed = {c: v[c] for c in ("all", "answered", "low", "5-6")}
    lp = check(p, fixed, {"0-2": (1, None), "3-4": (1, None)}, ["0-2", "3-4", "(missing)"],
               totals=[10])
    assert (lp["(missing)"].lower, lp["(missing)"].upper) == (1, 1), \
        "missing = everyone - answered"
    assert (lp["0-2"].lower, lp["0-2"].upper) == (1, 4)
    fixed = {c: v[c] for c in ("all", "answered", "3-4", "5-6")}
    lp = check(p, fixed, {}, ["0-2", "low"], totals=[10])
    assert lp["0-2"].lower == lp["0-2"].upper == 2
    assert lp["low"].lower == lp["low"].upper == 5, "a level set is the sum of its levels"


def test_a_cell_summing_several_keys():
    p = Problem(SITES, {"all": Key.of(), "ab": [Key.of(site="a"), Key.of(site="b")],
                        **{s: Key.of(site=s) for s in SITES["site"]}})
    v = p.values(ONE_WAY_TRUTH)
    assert v["ab"] == 8
    lp = check(p, {"all": 12, "ab": 8, "a": 6, "c": 3}, {}, ["b", "d"], totals=[12])
    assert lp["b"].lower == lp["b"].upper == 2 and lp["d"].lower == lp["d"].upper == 1


# ====================================================================== structural zeros
STARTED = {"started": ["yes", "no"], "session": ["yes", "no"]}


def test_structural_zero_determines_a_cell():
    cells = {"all": Key.of(), "started": Key.of(started="yes"), "session": Key.of(session="yes"),
             "both": Key.of(started="yes", session="yes"),
             "started_none": Key.of(started="yes", session="no")}
    p = Problem(STARTED, cells, zeros=[Key.of(started="no", session="yes")])
    truth = {("yes", "yes"): 7, ("no", "yes"): 3, ("no", "no"): 2}   # atoms are (session, started)
    v = p.values(truth)
    assert v == {"all": 12, "started": 10, "session": 7, "both": 7, "started_none": 3}
    fixed = {"all": 12, "started": 10, "session": 7}
    lp = check(p, fixed, {}, ["both", "started_none"], totals=[12])
    assert lp["both"].lower == lp["both"].upper == 7, "nobody who did not start has a session"
    loose = p.system(zeros=False)
    lp0 = p.lp(fixed, {}, ["both"], system=loose)
    bf0 = p.brute(fixed, {}, ["both"], totals=[12], zeros=False)
    assert (lp0["both"].lower, lp0["both"].upper) == bf0["both"] == (5, 7), \
        "without the zero the cell only has its Fréchet bounds"


def test_structural_zero_key_is_fixed_at_zero_even_when_hidden():
    p = Problem(STARTED, {"all": Key.of(), "odd": Key.of(started="no", session="yes")},
                zeros=[Key.of(started="no", session="yes")])
    lp = p.lp({"all": 12}, {}, ["odd"])
    assert (lp["odd"].lower, lp["odd"].upper) == (0, 0)


# ====================================================================== subset relations
DISENGAGED = {"dis4": ["yes", "no"], "dis8": ["yes", "no"]}


def test_subset_relation_bounds_the_smaller_set():
    a, b = Key.of(dis4="yes"), Key.of(dis8="yes")
    p = Problem(DISENGAGED, {"all": Key.of(), "w4": a, "w8": b}, subsets=[(a, b)])
    fixed = {"all": 12, "w8": 4}
    lp = check(p, fixed, {"w4": (1, None)}, ["w4"], totals=[12])
    assert (lp["w4"].lower, lp["w4"].upper) == (1, 4), "disengaged by week 4 is within week 8"
    lp = check(p, {"all": 12, "w4": 3}, {"w8": (1, None)}, ["w8"], totals=[12])
    assert (lp["w8"].lower, lp["w8"].upper) == (3, 12)
    free = p.lp(fixed, {"w4": (1, None)}, ["w4"], system=p.system(subsets=False))
    assert (free["w4"].lower, free["w4"].upper) == (1, 12)
    assert p.brute(fixed, {"w4": (1, None)}, ["w4"], [12], subsets=False)["w4"] == (1, 12)


# ====================================================================== intervals (rounding)
def test_rounded_count_is_an_interval():
    v = ONE_WAY.values(ONE_WAY_TRUTH)                 # a=6 published rounded down to 5: [5, 9]
    fixed = {"all": 12, "c": 3}
    lp = check(ONE_WAY, fixed, {"a": (5, 9), "b": (1, None), "d": (1, None)}, ["a", "b", "d"],
               totals=[12])
    assert (lp["a"].lower, lp["a"].upper) == (5, 7), "a + b + d = 9 with b, d >= 1"
    assert (lp["b"].lower, lp["b"].upper) == (1, 3)
    # an exact count elsewhere narrows the rounded one
    lp = check(ONE_WAY, {**fixed, "b": 2, "d": 1}, {"a": (5, 9)}, ["a"], totals=[12])
    assert lp["a"].lower == lp["a"].upper == v["a"]


# ====================================================================== measures
def test_sum_of_a_measure_is_within_its_limits_times_n():
    p = Problem(SITES, {"n_a": Key.of(site="a")}, measures={"x": (2, 10)})
    s = p.system()
    s.cell("s_a", {s.sum_var("x", Key.of(site="a")): 1.0})
    b = s.bounds({"n_a": 4}, {}, ["s_a"])["s_a"]
    assert (b.lower, b.upper) == pytest.approx((8, 40)), f"2*4 <= sum <= 10*4, got {b}"


def test_published_sums_bound_hidden_counts():
    # x in [2, 10]; 12 people, sum 60; site a sums to 25, so b sums to 35:
    # 25/10 <= n_a <= 25/2 and 35/10 <= n_b = 12 - n_a <= 35/2  ->  n_a in [3, 8]
    levels = {"site": ["a", "b"]}
    p = Problem(levels, {"all": Key.of(), "a": Key.of(site="a"), "b": Key.of(site="b")},
                measures={"x": (2, 10)})
    s = p.system()
    s.cell("S", {s.sum_var("x", Key.of()): 1.0})
    s.cell("S_a", {s.sum_var("x", Key.of(site="a")): 1.0})
    s.cell("S_b", {s.sum_var("x", Key.of(site="b")): 1.0})
    out = s.bounds({"all": 12, "S": 60.0, "S_a": 25.0}, {}, ["a", "b", "S_b"],
                   integer={"a": True, "b": True})
    brute = [n for n in range(13) if 2 * n <= 25 <= 10 * n and 2 * (12 - n) <= 35 <= 10 * (12 - n)]
    assert (out["a"].lower, out["a"].upper) == (min(brute), max(brute)) == (3, 8), out["a"]
    assert (out["b"].lower, out["b"].upper) == (4, 9)
    assert out["S_b"].lower == pytest.approx(35) and out["S_b"].upper == pytest.approx(35), \
        "sums partition like counts"


def test_sum_without_a_lower_limit_is_unbounded_below():
    p = Problem(SITES, {"n_a": Key.of(site="a")}, measures={"x": (None, 10)})
    s = p.system()
    s.cell("s_a", {s.sum_var("x", Key.of(site="a")): 1.0})
    b = s.bounds({"n_a": 4}, {}, ["s_a"])["s_a"]
    assert b.lower == -math.inf and b.upper == pytest.approx(40)
    p = Problem(SITES, {"n_a": Key.of(site="a")}, measures={})
    s = p.system()
    s.cell("s_a", {s.sum_var("x", Key.of(site="a")): 1.0})
    b = s.bounds({"n_a": 4}, {}, ["s_a"])["s_a"]
    assert (b.lower, b.upper) == (-math.inf, math.inf), "no limits: the sum can be anything"


# ====================================================================== infeasible
def test_contradicting_published_numbers_are_infeasible():
    # a + b + c + d = 10 but a = 4, b = 7: c, d >= 0 cannot hold
    out = ONE_WAY.lp({"all": 10, "a": 4, "b": 7}, {}, ["c", "d"])
    assert not out["c"].feasible and not out["d"].feasible, out
    assert out["c"].values == 0
    # fully published and inconsistent: every target is reported infeasible
    out = ONE_WAY.lp({"all": 10, "a": 4, "b": 3, "c": 2, "d": 2}, {}, ["a"])
    assert not out["a"].feasible
    # an interval that cannot hold
    out = ONE_WAY.lp({"all": 10, "a": 4, "b": 3}, {"c": (5, None)}, ["c", "d"])
    assert not out["d"].feasible
    assert ONE_WAY.brute({"all": 10, "a": 4, "b": 3}, {"c": (5, None)}, ["d"], [10]) is None


def test_consistent_published_numbers_stay_feasible():
    out = ONE_WAY.lp({"all": 10, "a": 4, "b": 3, "c": 2, "d": 1}, {}, ["a"])
    assert out["a"].feasible and out["a"].lower == out["a"].upper == 4


# ====================================================================== enough= witnesses
def _five_sites():
    levels = {"site": ["a", "b", "c", "d", "e"]}
    return Problem(levels, {"all": Key.of(), **{s: Key.of(site=s) for s in levels["site"]}})


def assert_witness_sound(name, b, truth, enough):
    """A target answered by witnesses (exact=False) really spans ``enough``; no answer is narrower
    than what a reader can learn by trying every table."""
    lo, hi = truth
    assert b.feasible, f"{name}: {b}"
    assert b.lower <= lo and hi <= b.upper, \
        f"{name}: bounds {b} are narrower than the truth [{lo}, {hi}]"
    if b.exact:
        assert (b.lower, b.upper) == (lo, hi), f"{name}: exact bounds {b} differ from [{lo}, {hi}]"
    else:
        assert hi - lo >= enough, \
            f"{name}: claimed at least {enough} wide without solving, but it is [{lo}, {hi}]"


def test_enough_skips_solving_targets_seen_to_be_wide_and_stays_sound():
    p = _five_sites()
    truth = {("a",): 3, ("b",): 9, ("c",): 4, ("d",): 1, ("e",): 3}
    v = p.values(truth)
    fixed = {c: v[c] for c in ("all", "c", "e")}
    targets = ["a", "b", "d"]
    pos = {t: (1, None) for t in targets}
    exact = p.lp(fixed, pos, targets)
    witness = p.lp(fixed, pos, targets, enough={t: 5 for t in targets})
    bf = p.brute(fixed, pos, targets, [v["all"]])
    for t in targets:
        assert (exact[t].lower, exact[t].upper) == bf[t] and exact[t].exact
        assert_witness_sound(t, witness[t], bf[t], 5)
    assert any(not witness[t].exact for t in targets), \
        "with 13 to share between three hidden cells, some target should be seen to be wide"


def test_enough_never_prunes_a_narrow_interval():
    # b and d hidden, everything else shown: the pair adds up to 10, but b <= 9 and
    # d is also bounded by a second table (d within the level set {d, e} = 4)
    levels = {"site": ["a", "b", "c", "d", "e"]}
    p = Problem(levels, {"all": Key.of(), "de": Key.of(site=["d", "e"]),
                         **{s: Key.of(site=s) for s in levels["site"]}})
    truth = {("a",): 3, ("b",): 9, ("c",): 4, ("d",): 1, ("e",): 3}
    v = p.values(truth)
    fixed = {c: v[c] for c in ("all", "a", "c", "de")}
    targets = ["b", "d", "e"]
    pos = {t: (1, None) for t in targets}
    out = p.lp(fixed, pos, targets, enough={t: 5 for t in targets})
    bf = p.brute(fixed, pos, targets, [v["all"]])
    assert bf["b"] == (9, 9) and bf["d"] == (1, 3)
    for t in targets:
        assert out[t].exact, f"{t}: a narrow interval must be solved exactly, got {out[t]}"
        assert (out[t].lower, out[t].upper) == bf[t]


def _count_solves(monkeypatch):
    calls = []
    original = system_module._Component._solve

    def counting(self, *args):
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(system_module._Component, "_solve", counting)
    return calls


def _two_rounds(monkeypatch, remember):
    """Round 1 hides a, b, d; round 2 hides c as well (only adds unknowns, as protection does)."""
    p = _five_sites()
    truth = {("a",): 3, ("b",): 9, ("c",): 4, ("d",): 1, ("e",): 3}
    v = p.values(truth)
    s = p.system(remember=remember)
    enough = {t: 5 for t in "abcde"}
    s.bounds({c: v[c] for c in ("all", "c", "e")}, {t: (1, None) for t in "abd"},
             list("abd"), integer=dict.fromkeys("abd", True), enough=enough)
    calls = _count_solves(monkeypatch)
    fixed2, pos2 = {c: v[c] for c in ("all", "e")}, {t: (1, None) for t in "abcd"}
    second = s.bounds(fixed2, pos2, list("abcd"), integer=dict.fromkeys("abcd", True),
                      enough=enough)
    monkeypatch.undo()
    return second, len(calls), p.brute(fixed2, pos2, list("abcd"), [v["all"]])


@pytest.mark.parametrize("remember", [True, False])
def test_remember_across_calls_stays_sound(monkeypatch, remember):
    second, _, bf = _two_rounds(monkeypatch, remember)
    for t in "abcd":
        assert_witness_sound(t, second[t], bf[t], 5)


def test_remember_reuses_witnesses_of_earlier_calls(monkeypatch):
    kept, solves_kept, _ = _two_rounds(monkeypatch, True)
    fresh, solves_fresh, _ = _two_rounds(monkeypatch, False)
    assert all(not kept[t].exact for t in "abd"), \
        f"remembered witnesses of round 1 should answer a, b and d without solving: {kept}"
    assert solves_kept < solves_fresh, \
        f"remember=True should save LP solves in round 2 ({solves_kept} vs {solves_fresh})"


# ====================================================================== a lone cross key
def test_lone_two_way_key_uses_every_implied_cell():
    """Only 'both' is declared: n(both) >= n(base) + n(end) - n(everyone) (the cell 'neither' >= 0)."""
    levels = {"base": ["yes", "no"], "end": ["yes", "no"]}
    p = Problem(levels, {"all": Key.of(), "base": Key.of(base="yes"), "end": Key.of(end="yes"),
                         "both": Key.of(base="yes", end="yes")})
    fixed = {"all": 20, "base": 18, "end": 6}
    lp = check(p, fixed, {"both": (1, None)}, ["both"], totals=[20])
    assert (lp["both"].lower, lp["both"].upper) == (4, 6), \
        f"a reader knows 18 + 6 - 20 <= both <= 6, the LP says {lp['both']}"


def test_lone_key_in_three_dimensions():
    levels = {"x": ["0", "1"], "y": ["0", "1"], "z": ["0", "1"]}
    cells = {"all": Key.of(), "x": Key.of(x="1"), "y": Key.of(y="1"), "z": Key.of(z="1"),
             "xyz": Key.of(x="1", y="1", z="1")}
    p = Problem(levels, cells)
    fixed = {"all": 10, "x": 9, "y": 9, "z": 8}
    lp = check(p, fixed, {}, ["xyz"], totals=[10])
    assert lp["xyz"].lower == 6, "at most 1 + 1 + 2 people lack one of x, y, z"


# ====================================================================== property test
@st.composite
def two_way_tables(draw):
    nr, nc = draw(st.integers(2, 3)), draw(st.integers(2, 3))
    counts = draw(st.lists(st.lists(st.integers(0, 4), min_size=nc, max_size=nc),
                           min_size=nr, max_size=nr))
    cells = ["all", *[f"r{i}" for i in range(nr)], *[f"c{j}" for j in range(nc)],
             *[(f"r{i}", f"c{j}") for i in range(nr) for j in range(nc)]]
    hidden = draw(st.lists(st.sampled_from(cells), min_size=1, max_size=len(cells), unique=True))
    return nr, nc, counts, hidden


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_way_tables())
def test_lp_bounds_contain_the_truth_in_random_two_way_tables(case):
    nr, nc, counts, hidden = case
    rows, cols = [f"r{i}" for i in range(nr)], [f"c{j}" for j in range(nc)]
    p = two_way(rows, cols)
    truth = {(c, r): counts[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    v = p.values(truth)
    fixed = {c: x for c, x in v.items() if c not in hidden}
    # the policy: a hidden count is known to be >= 1 (zeros are shown)
    pos = {h: (1, None) for h in hidden if v[h] >= 1}
    lp = p.lp(fixed, pos, hidden)
    for h in hidden:
        b = lp[h]
        assert b.feasible and b.lower <= v[h] <= b.upper, f"{h}: truth {v[h]} outside {b}"
    if "all" not in hidden and v["all"] <= 10:
        bf = p.brute(fixed, pos, hidden, [v["all"]])
        for h in hidden:
            assert (lp[h].lower, lp[h].upper) == bf[h], \
                f"{h}: LP {lp[h]} differs from brute force {bf[h]} (counts {counts}, hidden {hidden})"
