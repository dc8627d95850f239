"""How a :class:`~.publication.Publication` decides what is shown (its ``protect()``).

Kept apart from the store so the algorithm reads in one place: check every declaration against
the data, hide small counts, derive which statistics can be shown, then hide complements until the
LP bounds of every hidden count span at least T values (and every hidden sum at least T units).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd

from ...errors import SpecificationError
from .columns import SD, Count, Free, Label, Linked, Mean, Rounded, Share, Stat
from .keys import Key
from .system import LinearSystem

_PRIMARY = "primary: count below {t}"
_ZERO = "primary: zero count"
_ZERO_SMALL = "primary: zero in a group smaller than {t}"
_SECONDARY = "secondary: stops a hidden count being worked out from published ones"
_SECONDARY_SUM = "secondary: stops a hidden sum being worked out from published means"
_WITH_N = "withheld: a count it rests on is not shown"
_MIN_N = "withheld: group smaller than {m}"
_TOL = 1e-6
#: A count more published cells rest on than this (the mothers in a model carry all its
#: estimates; flow stages carry the headline) is hidden as a complement only when nothing else will do.
_HEAVY = 12
_DEBUG = False


def _keys(entry) -> tuple:
    if entry is None:
        return ()
    if isinstance(entry, Key):
        return (entry,)
    out = tuple(entry)
    if not all(isinstance(k, Key) for k in out):
        raise SpecificationError(f"expected a Key or a list of Keys, got {entry!r}")
    return out


def protect_publication(pub) -> None:
    t = pub.threshold
    items: dict = {}             # id -> dict(kind, keys|measure/key, value, width, order)
    cells: dict = {}             # (table, row, col) -> list of item ids (exposures)
    roles: dict = {}             # (table, row, col) -> role object
    problems: list[str] = []

    def count_item(keys: tuple) -> tuple:
        ident = ("count", tuple(sorted(keys)))
        if ident not in items:
            items[ident] = {"kind": "count", "keys": ident[1], "order": len(items),
                            "value": sum(pub.count(k) for k in ident[1])}
        return ident

    def sum_item(measure: str, key: Key) -> tuple:
        ident = ("sum", measure, key)
        if ident not in items:
            total, n = pub._measure_sum(measure, key)
            items[ident] = {"kind": "sum", "measure": measure, "key": key, "value": total,
                            "n_valid": n, "order": len(items)}
        return ident

    def measure_of(spec, i):
        m = spec.measure
        return m[i] if isinstance(m, (list, tuple)) else m

    # 1. declarations -> items, each checked against the data
    for name in pub._order:
        frame, cols, status, _ = pub._spec(name)
        for col, spec in cols.items():
            values = frame[col].tolist()
            for i, v in enumerate(values):
                here = (name, i, col)
                roles[here] = spec
                missing = v is None or (isinstance(v, float) and math.isnan(v))
                if isinstance(spec, (Count, Rounded)):
                    keys = _keys(spec.keys[i])
                    if not keys:
                        if not missing:
                            problems.append(f"{name}[{i}].{col}: a value {v!r} with no key")
                        cells[here] = []
                        continue
                    if isinstance(spec, Rounded):
                        # a rounded count publishes only an interval: no exact count item
                        ordered = tuple(sorted(keys))
                        true = sum(pub.count(k) for k in ordered)
                        rid = ("rounded", ordered, spec.width)
                        items.setdefault(rid, {"kind": "rounded", "keys": ordered, "value": true,
                                               "width": spec.width, "order": len(items)})
                        ok = not missing and float(v) <= true < float(v) + spec.width
                        group = _keys(spec.n[i]) if spec.n is not None else ()
                        cells[here] = [rid] + ([count_item(group)] if group else [])
                    else:
                        ident = count_item(keys)
                        true = items[ident]["value"]
                        ok = not missing and abs(float(v) - true) < _TOL
                        cells[here] = [ident]
                    if not ok:
                        problems.append(f"{name}[{i}].{col} = {v!r} but {' + '.join(map(str, keys))} "
                                        f"counts {true}")
                elif isinstance(spec, Share):
                    num, den = _keys(spec.num[i]), _keys(spec.den[i])
                    if missing or not num or not den:
                        cells[here] = [count_item(k) for k in (num, den) if k]
                        continue
                    a, b = count_item(num), count_item(den)
                    cells[here] = [a, b]
                    nv, dv = items[a]["value"], items[b]["value"]
                    expect = nv / dv * spec.scale if dv else math.nan
                    if not (dv and abs(float(v) - expect) <= _TOL * max(1.0, abs(expect))):
                        problems.append(f"{name}[{i}].{col} = {v!r} but {nv}/{dv}×{spec.scale:g} "
                                        f"= {expect!r}")
                elif isinstance(spec, (Mean, SD)):
                    keys = _keys(spec.n[i])
                    if len(keys) != 1:
                        if keys or not missing:
                            problems.append(f"{name}[{i}].{col}: a mean or SD needs one key for n")
                        cells[here] = []
                        continue
                    (key,) = keys
                    m = measure_of(spec, i)
                    n_id = count_item(keys)
                    s_id = sum_item(m, key)
                    exposed = [n_id, s_id]
                    n = items[n_id]["value"]
                    if items[s_id]["n_valid"] != n:
                        problems.append(f"{name}[{i}].{col}: {key} counts {n} people but "
                                        f"{items[s_id]['n_valid']} have a value of {m!r}")
                    if isinstance(spec, SD):
                        q_id = sum_item(f"{m}^2", key)
                        exposed.append(q_id)
                        s, q = items[s_id]["value"], items[q_id]["value"]
                        expect = math.sqrt(max(q - s * s / n, 0.0) / (n - 1)) if n > 1 else math.nan
                    else:
                        expect = items[s_id]["value"] / n if n else math.nan
                    cells[here] = exposed if not missing else [n_id]
                    if not missing and not abs(float(v) - expect) <= 1e-6 * max(1.0, abs(expect)):
                        problems.append(f"{name}[{i}].{col} = {v!r} but the {spec.role} of {m!r} "
                                        f"over {key} is {expect!r}")
                elif isinstance(spec, Stat):
                    cells[here] = [count_item(_keys(k)) for k in _as_list(spec.n[i])]
                else:
                    cells[here] = []
    if problems:
        raise SpecificationError(f"{len(problems)} published cell(s) do not match what their "
                                 "declared keys count (a bug in the step that registered them): "
                                 + "; ".join(problems[:6]))

    # 2. primary suppression
    hidden: dict = {}
    for ident, it in items.items():
        if it["kind"] == "count":
            v = it["value"]
            if 0 < v < t:
                hidden[ident] = _PRIMARY.format(t=t)
            elif v == 0 and pub.suppress_zeros:
                hidden[ident] = _ZERO

    # a zero inside a group smaller than T says what everyone in that group did (0 improved,
    # 0 deteriorated: all unchanged), so it is hidden with the group
    small = [it["keys"][0] for e, it in items.items() if e in hidden and it["kind"] == "count"
             and len(it["keys"]) == 1]
    for ident, it in items.items():
        if it["kind"] == "count" and it["value"] == 0 and len(it["keys"]) == 1 and ident not in hidden:
            if any(_splits(p, it["keys"][0]) for p in small):
                hidden[ident] = _ZERO_SMALL.format(t=t)

    # 3. the linear system over every declared key
    system = LinearSystem(pub._dim_levels(), zeros=list(pub._zeros), measures=pub._measure_limits(),
                          remember=True)
    for ident, it in items.items():
        if it["kind"] in ("count", "rounded"):
            terms = defaultdict(float)
            for k in it["keys"]:
                terms[system.count_var(k)] += 1.0
            system.cell(ident, terms)
        else:
            system.cell(ident, {system.sum_var(it["measure"], it["key"]): 1.0})
    for a, b in pub._subsets:
        system.subset(a, b)
    system.build()

    def published(cell) -> bool:
        spec = roles[cell]
        exposed = cells.get(cell, [])
        if isinstance(spec, Linked):
            return published((cell[0], cell[1], spec.to))
        if any(e in hidden for e in exposed):
            return False
        if isinstance(spec, Stat) and spec.min_n is not None:
            return all(items[e]["value"] >= spec.min_n for e in exposed)
        return True

    # 4. secondary suppression until every hidden count spans at least T values: first the
    # classic pass over single relations (cheap), then LP rounds for what combinations reveal
    margins = _margins(items, list(items))
    cost = defaultdict(int)                 # published cells lost if an item is hidden
    for c, exposed_items in cells.items():
        for e in exposed_items:
            cost[e] += pub._importance.get(c[0], 1)
    _settle(items, cells, roles, hidden, published, system, margins, t, cost)
    attempts = defaultdict(int)             # rounds a target has stayed too narrow
    settled, all_bounds = set(), {}
    final_bounds = {}
    rounds = 0
    verifying = False           # this round re-solves every target from scratch

    def start_afresh():
        # the next round trusts nothing earlier rounds found: no settled target, no remembered
        # bounds, no widths seen in earlier solutions
        settled.clear()
        all_bounds.clear()
        system.forget_solutions()

    while True:
        rounds += 1
        # ordered dicts, not sets: their order is the order of the LP's rows (hash-free)
        exposed = dict.fromkeys(e for c in cells if published(c) for e in _exposures(c, cells, roles))
        fixed = {e: items[e]["value"] for e in exposed if items[e]["kind"] in ("count", "sum")}
        intervals = {e: (items[e]["value"] // items[e]["width"] * items[e]["width"],
                         items[e]["value"] // items[e]["width"] * items[e]["width"]
                         + items[e]["width"] - 1)
                     for e in exposed if items[e]["kind"] == "rounded"}
        targets = [e for e in hidden] + [e for e, it in items.items() if it["kind"] == "sum"
                                          and e not in hidden
                                          and ("count", (it["key"],)) in hidden]
        targets += [e for e in exposed if items[e]["kind"] == "rounded"]
        # hiding more only widens intervals: a target found wide enough stays so, and only the
        # rest (and new targets) are solved for again
        todo = [e for e in targets if e not in settled]
        todo += [("count", (items[e]["key"],)) for e in todo if items[e]["kind"] == "sum"
                 and ("count", (items[e]["key"],)) in items
                 and ("count", (items[e]["key"],)) not in todo]
        integer = {e: items[e]["kind"] in ("count", "rounded") for e in todo}
        # the verifying round trusts only solutions of this round's LP, and for a count asks
        # them to span T + 2: the auditor rounds LP bounds inwards to whole numbers, which narrows
        # a span seen in (fractional) solutions by less than 2
        fresh = system.bounds(fixed, intervals, todo, integer=integer,
                              enough={e: t + 2 if verifying and integer[e] else t for e in todo})
        all_bounds.update(fresh)
        bnds = all_bounds
        bad = []
        for e in [x for x in todo if x in set(targets)]:
            b = bnds[e]
            if not b.feasible:
                raise SpecificationError("the published tables contradict each other (their "
                                         f"declared keys cannot all hold); first at {e!r}")
            # narrower than the threshold: the reader learns too much about a small group
            # an interval wholly at or above T (a large complement pinned down) shows no small
            # group; a rounded count narrowed to exactly 0 shows what a published zero would
            if items[e]["kind"] == "sum":
                # the total behind a mean matters only for a group that may be small
                n = bnds.get(("count", (items[e]["key"],)))
                if b.upper - b.lower < t and (n is None or not n.exact or n.lower < t):
                    bad.append(e)
            elif items[e]["kind"] == "rounded":
                if b.upper - b.lower < t and b.lower < t and b.upper >= 1:
                    bad.append(e)
            elif b.upper - b.lower < t and b.lower < t:
                bad.append(e)
            # settled only when wide enough: hiding more widens an interval, so that stays true,
            # but an interval passed because it lies wholly at or above T can widen below T
            if (not bad or bad[-1] != e) and b.upper - b.lower >= t:
                settled.add(e)
        # a zero hidden with its small group is shown again when a published total of zero
        # gives it anyway (nobody anywhere: nothing about the small group)
        zeros = [items[x]["keys"][0] for x in exposed if items[x]["kind"] == "count"
                 and items[x]["value"] == 0 and len(items[x]["keys"]) == 1]
        given = [e for e in bad if hidden.get(e, "").startswith("primary: zero in a group")
                 and bnds[e].upper == 0
                 and any(_splits(z, items[e]["keys"][0]) for z in zeros)]
        for e in given:
            del hidden[e]
        if given:
            # showing a cell again narrows what the others can be: targets found wide enough
            # before, and the widths seen in earlier solutions, no longer hold
            start_afresh()
            continue
        final_bounds = bnds
        if _DEBUG:
            print(f"round {rounds}: {len(targets)} targets, {len(bad)} bad")
            for e in bad[:8]:
                print("   ", e if items[e]["kind"] != "count" else [str(k) for k in items[e]["keys"]],
                      items[e]["value"], bnds[e])
        if not bad and not verifying:
            # targets settled in earlier rounds and widths seen in earlier solutions are
            # shortcuts: before anything is published every target is solved for again from
            # scratch (the auditor's question), and what that finds is hidden like the rest
            verifying = True
            start_afresh()
            continue
        if not bad or rounds > 200:
            break
        chosen = set()
        known = set()
        for e in fixed:
            x = items[e]
            if x["kind"] == "count" and len(x["keys"]) == 1:
                known.add(system.count_var(x["keys"][0]))
            elif x["kind"] == "sum":
                known.add(system.sum_var(x["measure"], x["key"]))
        for e in sorted(bad, key=lambda x: items[x]["order"]):
            attempts[e] += 1
            picks = _complement(e, items, exposed, hidden, chosen, system, known, margins, cost,
                                stuck=attempts[e] > 2, pins=bnds[e].pins)
            for pick in picks or ():
                chosen.add(pick)
                hidden[pick] = _SECONDARY_SUM if items[pick]["kind"] == "sum" else _SECONDARY
                if _DEBUG:
                    print("      hide", [str(k) for k in items[pick].get("keys",
                                                                      [items[pick].get("key")])],
                          items[pick]["value"])
        if not chosen:
            if verifying:
                break
            # nothing more to hide for what is left (e.g. zeros everyone knows): verify the rest
            verifying = True
            start_afresh()
            continue
        verifying = False       # more is hidden: check again, then verify again

    _finish(pub, items, cells, roles, hidden, final_bounds, published)


def _splits(group: Key, part: Key) -> bool:
    """True when ``part`` is ``group`` split by one dimension (a cell of that group's row)."""
    if group.unit != part.unit or group == part:
        return False
    g, p = dict(group.where), dict(part.where)
    differ = [d for d in set(g) | set(p) if g.get(d) != p.get(d)]
    if len(differ) != 1:
        return False
    d = differ[0]
    return d in p and (d not in g or set(p[d]) < set(g[d]))


def _as_list(entry) -> list:
    """A Stat's sets: None, a Key, or a list whose items are Keys or lists of Keys (sums)."""
    if entry is None:
        return []
    if isinstance(entry, Key):
        return [entry]
    return list(entry)


def _exposures(cell, cells, roles) -> list:
    spec = roles[cell]
    if isinstance(spec, Linked):
        return _exposures((cell[0], cell[1], spec.to), cells, roles)
    return cells.get(cell, [])


def _settle(items, cells, roles, hidden, published, system, margins, t, cost) -> None:
    """Complementary suppression within single relations, to a fixed point (no LP).

    A relation whose other members are all published gives a lone hidden count by subtraction,
    and hidden counts adding up to less than T are each pinned near a small value: either way one
    more published count of the relation is hidden (an inner cell before a total, the smallest
    non-zero first).
    """
    var_item = {}
    for e, it in items.items():
        if it["kind"] == "count" and len(it["keys"]) == 1:
            var_item[system.count_var(it["keys"][0])] = e
    rows = [terms for terms, _ in system._partition]
    changed = True
    while changed:
        changed = False
        exposed = dict.fromkeys(e for c in cells if published(c) for e in _exposures(c, cells, roles))
        for terms in rows:
            status = {}
            for v in terms:
                e = var_item.get(v)
                status[v] = "hidden" if e in hidden else ("shown" if e in exposed else "latent")
            if "latent" in status.values():
                continue
            hid = [v for v, st in status.items() if st == "hidden"]
            if not hid:
                continue
            total = sum(items[var_item[v]]["value"] for v in hid)
            if len(hid) == 1 or total - len(hid) < t:
                cands = [var_item[v] for v, st in status.items() if st == "shown"
                         and items[var_item[v]]["value"] > 0]
                if not cands:
                    continue

                def rank(e):
                    key = items[e]["keys"][0]
                    return (cost.get(e, 0) > _HEAVY, key in margins or len(key.where) <= 1,
                            cost.get(e, 0), items[e]["value"], items[e]["order"])

                pick = min(cands, key=rank)
                hidden[pick] = _SECONDARY
                exposed.pop(pick, None)
                changed = True


def _margins(items, exposed) -> set:
    """Published keys that other published keys split further (totals of a table)."""
    keys = [items[e]["keys"][0] for e in exposed
            if items[e]["kind"] == "count" and len(items[e]["keys"]) == 1]
    out = set()
    for k in keys:
        conds = dict(k.where)
        for other in keys:
            if other is k or other.unit != k.unit or len(other.where) <= len(conds):
                continue
            od = dict(other.where)
            if all(d in od and set(od[d]) <= set(lv) for d, lv in conds.items()):
                out.add(k)
                break
    return out


def _complement(target, items, exposed, hidden, chosen, system, known, margins, cost,
                stuck=False, pins=frozenset()):
    """The published item to hide so that ``target`` is no longer pinned down.

    Candidates are the published counts (or sums) reachable from the target through relations
    whose other members are unknown: the nearest first, then the smallest non-zero one, the
    everyone-total only when nothing else will do.
    """
    it = items[target]
    if it["kind"] == "sum":
        own = [system.sum_var(it["measure"], it["key"])]
        kind = "sum"
    else:
        own = [system.count_var(k) for k in it["keys"]]
        kind = "count"
    var_of = {}
    for e in exposed:
        x = items[e]
        if (e in hidden and e not in chosen) or x["kind"] != kind:
            continue
        if kind == "count" and len(x["keys"]) == 1 and x["value"] > 0:
            var_of[system.count_var(x["keys"][0])] = e
        elif kind == "sum":
            var_of[system.sum_var(x["measure"], x["key"])] = e
    chosen_vars = {v for v, e in var_of.items() if e in chosen}

    def cheap(v):
        e = var_of[v]
        x = items[e]
        key = x["keys"][0] if x["kind"] == "count" else x["key"]
        return (cost.get(e, 0) > _HEAVY, key in margins or len(key.where) <= 1, cost.get(e, 0),
                x["value"] if x["kind"] == "count" else x.get("n_valid", 0), x["order"])

    picks = []
    for side in pins:
        # the published cells in the relations binding this side of the target's interval:
        # hiding one of them is what moves that bound
        if any(v in chosen_vars for v in side) or any(p in side for p in picks):
            continue
        direct = [v for v in side if v in var_of]
        if direct:
            picks.append(min(direct, key=cheap))
    if picks:
        return [var_of[v] for v in dict.fromkeys(picks)]
    if any(pins):
        return None
    found = system.ring(own, known, set(var_of) | chosen_vars)
    if any(v in chosen_vars for d, v in found if d == 1):
        return None                     # a complement chosen this round shares its relation
    found = [(d, v) for d, v in found if v not in chosen_vars]
    if not found:
        return None

    def rank(pair):
        # the cheapest: the count fewest published numbers rest on (the mothers in a model carry
        # every estimate of it), inner cells before totals, then the nearest and the smallest
        depth, v = pair
        e = var_of[v]
        x = items[e]
        key = x["keys"][0] if x["kind"] == "count" else x["key"]
        value = x["value"] if x["kind"] == "count" else x.get("n_valid", 0)
        heavy = cost.get(e, 0) > _HEAVY
        if stuck:       # cheap distant complements did not help: take the nearest
            return (depth, heavy, key in margins or len(key.where) <= 1, cost.get(e, 0), value,
                    x["order"])
        return (heavy, key in margins or len(key.where) <= 1, depth, cost.get(e, 0), value,
                x["order"])

    return [var_of[min(found, key=rank)[1]]]


def _finish(pub, items, cells, roles, hidden, bounds, published) -> None:
    from .protected import HIDDEN, ProtectedTable, too_few

    for name in pub._order:
        frame, cols, status, file = pub._spec(name)
        data = frame.copy()
        mask = pd.DataFrame(False, index=data.index, columns=data.columns)
        tbounds = {}
        labels = _row_labels(frame, cols)
        status_text = {}
        for col, spec in cols.items():
            if isinstance(spec, (Label, Free)):
                continue
            numeric = pd.to_numeric(data[col], errors="coerce").astype(float)
            hide = np.zeros(len(data), dtype=bool)
            for i in range(len(data)):
                cell = (name, i, col)
                if published(cell):
                    continue
                exposed = _exposures(cell, cells, roles)
                reason = next((hidden[e] for e in exposed if e in hidden), None)
                statistic = not isinstance(spec, (Count, Rounded, Share))
                if reason is None:               # a group too small to estimate, its n shown
                    reason = _MIN_N.format(m=_min_n(spec, cols))
                    if statistic:
                        status_text.setdefault(i, too_few(_min_n(spec, cols)))
                elif statistic:
                    status_text[i] = HIDDEN
                if math.isnan(numeric.iat[i]):
                    continue                     # nothing to hide: no value was computed
                hide[i] = True
                pub._log.append((name, labels[i], col,
                                 reason if isinstance(spec, (Count, Rounded)) or reason.startswith(
                                     "withheld") else _WITH_N))
                count_ids = [e for e in exposed if items[e]["kind"] == "count"]
                if count_ids and count_ids[0] in bounds:
                    tbounds[(i, col)] = bounds[count_ids[0]]
            data[col] = numeric.mask(hide)
            mask[col] = hide
        if status is not None:
            st = data[status].astype(object).where(data[status].notna(), "")
            for i, text in status_text.items():
                st.iat[i] = text
            data[status] = st.to_numpy()
        kinds = {c: _kind(s) for c, s in cols.items()}
        pub.tables[name] = ProtectedTable(name=name, data=data, hidden=mask,
                                          threshold=pub.threshold, kinds=kinds, columns=dict(cols),
                                          bounds=tbounds, file=file)


def _min_n(spec, cols):
    while isinstance(spec, Linked):
        spec = cols[spec.to]
    return getattr(spec, "min_n", None)


def _kind(spec) -> str:
    if isinstance(spec, (Count, Rounded)):
        return "count"
    if isinstance(spec, Share):
        return "percent"
    if isinstance(spec, (Label, Free)):
        return "label"
    return "estimate"


def _row_labels(frame, cols) -> list[str]:
    names = [c for c, s in cols.items() if isinstance(s, Label)]
    if not names:
        return [f"row {i + 1}" for i in range(len(frame))]
    out = []
    for i in range(len(frame)):
        parts = [f"{c}={frame[c].iat[i]}" for c in names
                 if not (isinstance(frame[c].iat[i], float) and math.isnan(frame[c].iat[i]))
                 and str(frame[c].iat[i]) != ""]
        out.append(", ".join(parts) or f"row {i + 1}")
    return out
