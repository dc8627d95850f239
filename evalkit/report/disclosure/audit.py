"""The auditor: try to break a published report folder using only what is in it.

:func:`audit_folder` reads every published table (the CSV files), the declarations in
``manifest.json`` (the keys of every count, the measures behind every mean, the roles of every
column) and rebuilds the relations between cells of all tables (:mod:`.system`): partitions of
every set over every dimension, shares as ``count(num) = share × count(den)`` and means as
``sum = mean × n`` (within the rounding of the printed digits), rounded counts as intervals,
structural zeros and subset relations. For every hidden cell it then computes, by linear
programming (HiGHS, through highspy), the tightest interval the published numbers allow. Findings:

* a hidden count whose interval is narrower than the threshold T and reaches below T (a reader
  can tell it is a small count and nearly which; an interval wholly at or above T, such as a
  large complement pinned down, reveals no small group);
* a hidden mean whose total can be narrowed to less than T units while its group may be small;
* a rounded count narrowed to fewer than T values that include a small non-zero count;
* a published count from 1 to T - 1;
* a share, mean, SD or estimate published while a count it rests on is hidden, or an estimate
  for a group smaller than the minimum group size;
* a linked cell (a confidence limit) published while its estimate is hidden;
* published numbers that contradict the declared relations;
* a file in the folder that the manifest does not list, an undeclared numeric column;
* an identifier, a date or long free text in any published file (numeric identifiers only where
  they name someone: :mod:`.identifiers` says why).

A hidden count may be zero (zeros inside a group smaller than T are hidden with the group), so
the only bound a reader has on it, beyond the relations, is that it is not negative. ``evalkit audit REPORT_DIR`` runs this on a finished folder; ``evalkit
run`` runs it on the staged folder before publishing it.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> from evalkit.report.disclosure import Publication, Key, Label, Count
>>> from evalkit.report.disclosure.audit import audit_folder
>>> pub = Publication(threshold=5)
>>> pub.dimension("site", pd.Series(["a"] * 40 + ["b"] * 30 + ["c"] * 3, index=range(73)))
>>> keys = [Key.of(), Key.of(site="a"), Key.of(site="b"), Key.of(site="c")]
>>> pub.add("reach", pd.DataFrame({"site": ["all", "a", "b", "c"], "n": [73, 40, 30, 3]}),
...         columns={"site": Label(), "n": Count(keys)})
>>> pub.protect()
>>> with tempfile.TemporaryDirectory() as tmp:
...     _ = (pathlib.Path(tmp) / "tables").mkdir()
...     _ = (pathlib.Path(tmp) / "tables/reach.csv").write_text(pub["reach"].to_csv())
...     len(audit_folder(tmp, manifest=pub.manifest()))
0
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from ...errors import SpecificationError
from .identifiers import published_identifiers
from .keys import Key
from .system import LinearSystem

__all__ = ["audit_folder", "FINDING_COLUMNS"]

#: Columns of the findings table.
FINDING_COLUMNS = ["table", "row", "column", "finding"]

_DATE = re.compile(r"\b(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b|"
                   r"\b(0?[1-9]|[12]\d|3[01])/(0?[1-9]|1[0-2])/(19|20)\d\d\b")
_KNOWN = {"manifest.json", "provenance.json", "suppression_log.csv", "impact.html",
          "technical.html", "impact.pdf", "technical.pdf", "NOT_FOR_PUBLICATION.txt"}
_SUPPRESSED = "suppressed"
_FREE_TEXT = 160


def _key(obj):
    if obj is None:
        return None
    if isinstance(obj, dict):
        return (Key.from_json(obj),)
    return tuple(k for x in obj for k in (_key(x) or ()))


def _parse(cell: str):
    """'' -> None, 'suppressed' -> 'hidden', a number -> float, text -> str."""
    if cell == "":
        return None
    if cell == _SUPPRESSED:
        return "hidden"
    try:
        return float(cell)
    except ValueError:
        return cell


def _slack(value: float) -> float:
    """Half a unit of the last digit of a number printed with 6 significant digits."""
    if value == 0 or not math.isfinite(value):
        return 5e-7
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 5)


def audit_folder(folder, *, manifest: dict | None = None, threshold: int | None = None,
                 identifiers=None) -> pd.DataFrame:
    """Audit a report folder; return one row per finding (empty: nothing could be worked out).

    Parameters
    ----------
    folder : str or Path
        The report folder (or a staged copy of it).
    manifest : dict, optional
        The ``disclosure`` declarations; default read from ``folder/manifest.json``.
    threshold : int, optional
        Default: the threshold in the declarations.
    identifiers : iterable of str, optional
        Participant identifiers to look for in every file (in addition to the identifier pattern
        the declarations may carry); see :func:`.published_identifiers` for numeric ones.

    Returns
    -------
    pandas.DataFrame
        ``table, row, column, finding``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecificationError(f"audit: {str(folder)!r} is not a folder; give a report folder")
    files_declared = None
    if manifest is None:
        path = folder / "manifest.json"
        try:
            whole = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecificationError(f"audit: cannot read {path} ({exc}); audit a folder written by "
                                     "evalkit run") from None
        manifest = whole.get("disclosure")
        files_declared = set(whole.get("files", {}))
        if manifest is None:
            raise SpecificationError(f"audit: {path} has no 'disclosure' declarations; rerun the plan "
                                     "with this version of evalkit")
    t = int(threshold if threshold is not None else manifest["threshold"])
    findings: list[tuple] = []
    _Audit(folder, manifest, t, findings).run()
    _scan_files(folder, manifest, files_declared, identifiers, findings)
    out = pd.DataFrame(findings, columns=FINDING_COLUMNS)
    return out.drop_duplicates().reset_index(drop=True)


class _Audit:
    def __init__(self, folder, manifest, threshold, findings):
        self.folder, self.m, self.t, self.findings = folder, manifest, threshold, findings
        zeros = [Key.from_json(z) for z in manifest.get("zeros", [])]
        limits = {k: (v.get("lower"), v.get("upper")) for k, v in manifest.get("measures", {}).items()}
        self.system = LinearSystem(manifest["dimensions"], zeros=zeros, measures=limits)
        for a, b in manifest.get("subsets", []):
            self.system.subset(Key.from_json(a), Key.from_json(b))
        self.fixed, self.intervals, self.targets, self.kinds = {}, {}, [], {}
        self.ineqs = []
        self.min_checks = []                   # published estimates: (table, row, col, sets, min_n)
        self.key_state = defaultdict(set)      # single key -> {"shown", "hidden"}
        self.rows = {}

    def note(self, table, row, column, text):
        self.findings.append((table, self.rows.get((table, row), f"row {row + 1}"), column, text))

    def read(self, name, spec):
        path = self.folder / spec["file"]
        if not path.is_file():
            self.findings.append((name, "", "", f"declared file {spec['file']} is missing"))
            return None
        text = path.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return None
        header, body = rows[0], rows[1:]
        if len(body) != spec["rows"]:
            self.findings.append((name, "", "", f"{len(body)} rows published, {spec['rows']} declared"))
            return None
        cols = spec["columns"]
        for c in header:
            if c not in cols:
                self.findings.append((name, "", c, "a column the declarations do not describe"))
        labels = [c for c, s in cols.items() if s["role"] == "label" and c in header]
        for i, r in enumerate(body):
            parts = [f"{c}={r[header.index(c)]}" for c in labels if r[header.index(c)]]
            self.rows[(name, i)] = ", ".join(parts) or f"row {i + 1}"
        return {c: [_parse(r[header.index(c)]) if c in header else None for r in body] for c in cols}

    def run(self):
        tables = {}
        for name, spec in self.m["tables"].items():
            values = self.read(name, spec)
            if values is not None:
                tables[name] = (spec, values)
        # first pass: the state of every single key (shown anywhere, hidden anywhere)
        for name, (spec, values) in tables.items():
            for col, role in spec["columns"].items():
                if role["role"] == "count":
                    for i, k in enumerate(role["keys"]):
                        ks = _key(k)
                        if ks and len(ks) == 1:
                            v = values[col][i]
                            self.key_state[ks[0]].add("hidden" if v == "hidden" else "shown")
        for name, (spec, values) in tables.items():
            for col, role in spec["columns"].items():
                getattr(self, f"_{role['role']}", self._other)(name, spec, values, col, role)
        self.solve()

    # ---------------------------------------------------------------- roles
    def _other(self, *args):
        return None

    def _label(self, name, spec, values, col, role):
        if role.get("text"):
            return                               # evalkit's own messages, not data
        for i, v in enumerate(values[col]):
            if isinstance(v, str) and len(v) > _FREE_TEXT:
                self.note(name, i, col, "long free text in a published table")

    def _free(self, name, spec, values, col, role):
        for i, v in enumerate(values[col]):
            if v == "hidden":
                self.note(name, i, col, "a hidden cell in a column declared as not about people")

    def _count_cell(self, cid, keys):
        terms = defaultdict(float)
        for k in keys:
            terms[self.system.count_var(k)] += 1.0
        self.system.cell(cid, terms)

    def _count(self, name, spec, values, col, role):
        for i, k in enumerate(role["keys"]):
            v, keys = values[col][i], _key(k)
            if not keys:
                if isinstance(v, float):
                    self.note(name, i, col, "a number with no declared key")
                continue
            cid = (name, i, col)
            self._count_cell(cid, keys)
            if v == "hidden":
                self.targets.append(cid)
                self.kinds[cid] = "count"
            elif isinstance(v, float):
                if 0 < v < self.t:
                    self.note(name, i, col, f"a count below {self.t} is published ({v:g})")
                self.fixed[cid] = v

    def _rounded(self, name, spec, values, col, role):
        w = int(role["width"])
        for i, k in enumerate(role["keys"]):
            v, keys = values[col][i], _key(k)
            if not keys or not isinstance(v, float):
                continue
            cid = (name, i, col)
            self._count_cell(cid, keys)
            if v % w:
                self.note(name, i, col, f"a rounded count ({v:g}) that is not a multiple of {w}")
            group = _key(role["n"][i]) if role.get("n") else None
            if group and self._hidden_keys(group):
                self.note(name, i, col, "a rounded count is shown for a group whose size is hidden")
            self.intervals[cid] = (v, v + w - 1)
            self.targets.append(cid)
            self.kinds[cid] = "rounded"

    def _hidden_keys(self, keys) -> bool:
        return any("hidden" in self.key_state.get(k, ()) for k in keys)

    def _share(self, name, spec, values, col, role):
        scale = float(role.get("scale", 1.0))
        for i, v in enumerate(values[col]):
            if not isinstance(v, float):
                continue
            num, den = _key(role["num"][i]), _key(role["den"][i])
            if not num or not den:
                self.note(name, i, col, "a share with no declared counts")
                continue
            if self._hidden_keys(num) or self._hidden_keys(den):
                self.note(name, i, col, "a share is shown while a count it rests on is hidden")
            # (s - d) den <= num <= (s + d) den, d half a unit of the printed share
            s, d = v / scale, _slack(v) / scale
            for bound, sense in ((s - d, ">="), (s + d, "<=")):
                terms = defaultdict(float)
                for k in num:
                    terms[self.system.count_var(k)] += 1.0
                for k in den:
                    terms[self.system.count_var(k)] -= bound
                self.ineqs.append((dict(terms), 0.0, sense))

    def _measure(self, role, i):
        m = role["measure"]
        return m[i] if isinstance(m, list) else m

    def _mean(self, name, spec, values, col, role):
        for i, v in enumerate(values[col]):
            keys = _key(role["n"][i])
            if not keys or len(keys) != 1:
                continue
            (key,) = keys
            s_var = self.system.sum_var(self._measure(role, i), key)
            cid = (name, i, col)
            if v == "hidden":
                self.system.cell(cid, {s_var: 1.0})
                self.targets.append(cid)
                self.kinds[cid] = "sum"
                self._count_cell(("__n__", cid), keys)     # is the group perhaps small?
                continue
            if not isinstance(v, float):
                continue
            if self._hidden_keys(keys):
                self.note(name, i, col, "a mean is shown while the count it rests on is hidden")
            n_var, d = self.system.count_var(key), _slack(v)
            self.ineqs.append(({s_var: 1.0, n_var: -(v - d)}, 0.0, ">="))
            self.ineqs.append(({s_var: 1.0, n_var: -(v + d)}, 0.0, "<="))

    def _sd(self, name, spec, values, col, role):
        for i, v in enumerate(values[col]):
            keys = _key(role["n"][i])
            if not isinstance(v, float) or not keys:
                continue
            if self._hidden_keys(keys):
                self.note(name, i, col, "an SD is shown while the count it rests on is hidden")

    def _stat(self, name, spec, values, col, role):
        min_n = role.get("min_n")
        for i, v in enumerate(values[col]):
            if not isinstance(v, float):
                continue
            sets = role["n"][i]
            sets = [] if sets is None else ([sets] if isinstance(sets, dict) else sets)
            for s in sets:
                keys = _key(s)
                if keys and self._hidden_keys(keys):
                    self.note(name, i, col, "an estimate is shown for a group whose count is hidden")
                    break
            self.min_checks.append((name, i, col, [_key(s) for s in sets], min_n))

    def _linked(self, name, spec, values, col, role):
        target = values.get(role["to"])
        for i, v in enumerate(values[col]):
            if isinstance(v, float) and target is not None and target[i] == "hidden":
                self.note(name, i, col, f"shown while {role['to']} of the same row is hidden")

    # ---------------------------------------------------------------- solving
    def solve(self):
        if not self.targets and not self.min_checks:
            return
        # published inequalities (shares and means within rounding) as extra named cells
        for j, (terms, rhs, sense) in enumerate(self.ineqs):
            cid = ("__ineq__", j)
            self.system.cell(cid, terms)
            self.intervals[cid] = (rhs, None) if sense == ">=" else (None, rhs)
        integer = {c: self.kinds.get(c) in ("count", "rounded") for c in self.targets}
        probe = list(self.targets)
        for cid in self.targets:
            if self.kinds[cid] == "sum":
                probe.append(("__n__", cid))
                integer[("__n__", cid)] = True
        sizes = {}
        for name, i, col, sets, min_n in self.min_checks:
            for j, keys in enumerate(sets):
                if keys and min_n:
                    cid = ("__n__", name, i, col, j)
                    self._count_cell(cid, keys)
                    probe.append(cid)
                    integer[cid] = True
                    sizes[cid] = (name, i, col, min_n)
        bounds = self.system.bounds(self.fixed, self.intervals, probe, integer=integer,
                                    enough={c: self.t for c in self.targets})
        for cid in self.targets:
            b = bounds[cid]
            name, i, col = cid
            if not b.feasible:
                self.note(name, i, col, "the published numbers contradict the declared relations")
                continue
            width = b.upper - b.lower
            kind = self.kinds[cid]
            if kind == "count" and width < self.t and b.lower < self.t:
                self.note(name, i, col, f"hidden count can be narrowed to {b.lower:g}–{b.upper:g}")
            elif kind == "sum" and width < self.t and bounds[("__n__", cid)].lower < self.t:
                self.note(name, i, col, f"the total behind a hidden mean can be narrowed to "
                                        f"{b.lower:.6g}–{b.upper:.6g}")
            elif kind == "rounded" and width < self.t and b.upper >= 1 and b.lower < self.t:
                self.note(name, i, col, f"rounded count can be narrowed to {b.lower:g}–{b.upper:g}")
        for cid, (name, i, col, min_n) in sizes.items():
            b = bounds[cid]
            if b.feasible and b.upper < min_n:
                self.note(name, i, col, f"an estimate for a group of at most {b.upper:g} (minimum "
                                        f"{min_n})")


def _scan_files(folder: Path, manifest: dict, declared, identifiers, findings) -> None:
    tables = {spec["file"] for spec in manifest["tables"].values()}
    pattern = manifest.get("identifier_pattern")
    ident = re.compile(pattern) if pattern else None
    ids = {str(i) for i in (identifiers or ()) if str(i)}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if declared is not None and rel not in declared and rel != "manifest.json":
            findings.append((rel, "", "", "a file the manifest does not list"))
        if rel.endswith(".csv") and rel not in tables and rel != "suppression_log.csv":
            findings.append((rel, "", "", "a published CSV with no declarations"))
        if not rel.endswith((".csv", ".html", ".json", ".txt")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if rel.endswith(".html"):
            text = re.sub(r'src="data:[^"]*"', "", text)
        for m in _DATE.finditer(text):
            findings.append((rel, "", "", f"a date is published: {m.group(0)}"))
            break
        if ident is not None:
            m = ident.search(text)
            if m:
                findings.append((rel, "", "", "a participant identifier is published"))
        # numeric identifiers only where they name someone (see .identifiers): a count is not one
        if ids and published_identifiers(text, ids, table=rel.endswith(".csv")):
            findings.append((rel, "", "", "a participant identifier is published"))
