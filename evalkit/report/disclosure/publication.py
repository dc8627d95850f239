"""One store of protected tables: every number a report publishes is registered and protected here.

A :class:`Publication` holds the run's people (in memory only: the dimensions and measures the
tables are about), the tables each step wants to publish with the role of every column
(:mod:`.columns`), and one disclosure policy. :meth:`Publication.protect` decides, for all tables
together, what is shown:

1. every registered count is checked against the people it claims to count (a mis-declared key is
   an error, never a silent leak);
2. *primary*: counts from 1 to T - 1 are hidden (and zeros, with ``suppress_zeros``);
3. shares, means, SDs and estimates are shown only where every count they rest on is shown (a
   share with its n gives its count; a mean with its n gives a sum), and estimates only for groups
   of at least the report's one minimum group size;
4. *secondary*: the linear relations between all published cells (:mod:`.system`) are solved for
   the tightest interval each hidden count (and each hidden sum behind a mean) can take; while any
   hidden count can be narrowed to fewer than T values, another published count in its relations
   is hidden (the smallest, never the grand total while another will do), and the check repeats.

Then every table becomes a :class:`ProtectedTable` whose hidden cells carry the interval the
published numbers allow — sentences say "fewer than 5" only when that interval does — and
:meth:`Publication.manifest` writes the declarations that let :mod:`.audit` rebuild the same
relations from the published files alone.

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.disclosure import Publication, Key, Label, Count, Share
>>> people = pd.DataFrame({"site": ["north"] * 40 + ["east"] * 30 + ["west"] * 3},
...                       index=[f"P{i}" for i in range(73)])
>>> pub = Publication(threshold=5)
>>> pub.dimension("site", people["site"])
>>> t = pd.DataFrame({"site": ["all", "north", "east", "west"], "n": [73, 40, 30, 3]})
>>> keys = [Key.of(), Key.of(site="north"), Key.of(site="east"), Key.of(site="west")]
>>> pub.add("reach", t, columns={"site": Label(), "n": Count(keys)})
>>> pub.protect()
>>> pub["reach"].data["n"].tolist()
[73.0, 40.0, nan, nan]
>>> b = pub["reach"].bounds_of(3, "n")     # west: 3, hidden; east hidden with it
>>> b.upper - b.lower >= 5                  # a reader cannot narrow it to fewer than 5 values
True
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from ...errors import SpecificationError
from .columns import Column, Label, Linked
from .keys import MISSING_LEVEL, Key, level_code
from .protected import HIDDEN, ProtectedTable, too_few

__all__ = ["Publication", "ProtectedTable", "HIDDEN", "too_few"]

class Publication:
    """The run's publication layer (see the module docstring).

    Parameters
    ----------
    threshold : int
        Smallest count that may be published (default 5).
    min_group : int, optional
        Smallest group an estimate is made for (default: the threshold).
    suppress_zeros : bool
        Hide zero counts too.
    """

    def __init__(self, threshold: int = 5, *, min_group: int | None = None,
                 suppress_zeros: bool = False):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
            raise SpecificationError(f"Publication: threshold must be a whole number >= 1, got "
                                     f"{threshold!r}")
        self.threshold = int(threshold)
        self.min_group = max(int(min_group or threshold), self.threshold)
        self.suppress_zeros = bool(suppress_zeros)
        self._units: dict[str, pd.Index] = {}
        self._dims: dict[str, dict[str, pd.Series]] = defaultdict(dict)
        self._levels: dict[str, dict[str, list]] = defaultdict(dict)
        self._measures: dict[str, tuple] = {}            # name -> (unit, values, lower, upper)
        self._zeros: list[Key] = []
        self._subsets: list[tuple[Key, Key]] = []
        self._specs: dict[str, tuple] = {}                # name -> (frame, columns, status, file)
        self._order: list[str] = []
        self._importance: dict[str, int] = {}
        self.tables: dict[str, ProtectedTable] = {}
        self._log: list[tuple] = []
        self._masks: dict = {}
        self._protected = False

    # ------------------------------------------------------------------ the people
    def dimension(self, name: str, values: pd.Series, *, levels=None, unit: str = "person") -> None:
        """Declare a dimension: one value per member of ``unit`` (the Series index is the id).

        ``levels`` lists every level (as values or codes) in display order; levels seen in the data
        are added, and the missing level is always one, so the levels are exhaustive.
        """
        if not isinstance(values, pd.Series):
            raise SpecificationError(f"dimension {name!r}: values must be a pandas Series indexed by "
                                     "the unit's identifiers")
        ids = self._unit_ids(unit, values.index, name)
        codes = values.reindex(ids).map(level_code).astype(object)
        declared = [level_code(v) for v in (levels or [])]
        seen = sorted(set(codes) - set(declared) - {MISSING_LEVEL})
        order = list(dict.fromkeys([*declared, *seen, MISSING_LEVEL]))
        self._dims[unit][name] = codes
        self._levels[unit][name] = order
        self._masks.clear()

    def measure(self, name: str, values: pd.Series, *, lower=None, upper=None,
                unit: str = "person") -> None:
        """Declare a measure (per-person number) whose means or SDs a table publishes."""
        ids = self._unit_ids(unit, values.index, name)
        self._measures[name] = (unit, pd.to_numeric(values.reindex(ids), errors="coerce")
                                .to_numpy(float), lower, upper)

    def zero(self, key: Key) -> None:
        """Declare a structural zero: no member can be in this set (an auditor knows it too)."""
        self._zeros.append(key)

    def subset(self, a: Key, b: Key) -> None:
        """Declare that set ``a`` lies inside set ``b`` (e.g. disengaged by week 4 ⊆ by week 8)."""
        self._subsets.append((a, b))

    def _unit_ids(self, unit, index, what) -> pd.Index:
        if unit not in self._units:
            if index.has_duplicates:
                raise SpecificationError(f"{what}: the identifiers of unit {unit!r} repeat")
            self._units[unit] = pd.Index(index)
        return self._units[unit]

    def count(self, key: Key) -> int:
        """How many members of the key's unit are in its set (from the data, never published)."""
        return int(self._mask(key).sum())

    def _mask(self, key: Key) -> np.ndarray:
        if key.unit not in self._units:
            raise SpecificationError(f"key {key}: no dimension of unit {key.unit!r} was declared")
        mask = np.ones(len(self._units[key.unit]), dtype=bool)
        for d, lv in key.where:
            cached = self._masks.get((key.unit, d, lv))
            if cached is None:
                col = self._dims[key.unit].get(d)
                if col is None:
                    raise SpecificationError(f"key {key}: dimension {d!r} was not declared")
                unknown = [x for x in lv if x not in self._levels[key.unit][d]]
                if unknown:
                    raise SpecificationError(f"key {key}: {unknown} are not levels of {d!r} "
                                             f"(levels: {self._levels[key.unit][d]})")
                cached = col.isin(lv).to_numpy()
                self._masks[(key.unit, d, lv)] = cached
            mask &= cached
        return mask

    # ------------------------------------------------------------------ the tables
    def add(self, name: str, frame: pd.DataFrame, *, columns: dict, status: str | None = None,
            file: str | None = None, importance: int = 1) -> None:
        """Register a table to publish; every column needs a role (see :mod:`.columns`).

        ``status`` names a text column that says why a row's estimates are not shown (created if
        absent). ``file`` is its path in the report folder (default ``tables/<name>.csv``).
        ``importance`` weighs what hiding one of its cells costs when complements are chosen (the
        participant flow and headline tables are expensive to hide).
        """
        if self._protected:
            raise SpecificationError(f"table {name!r}: the publication was already protected; add "
                                     "every table before protect()")
        if name in self._specs:
            raise SpecificationError(f"table {name!r} is registered twice; give each table its own name")
        frame = frame.reset_index(drop=True)
        if status is not None and status not in frame.columns:
            frame[status] = ""
        roles = dict(columns)
        if status is not None:
            roles.setdefault(status, Label())
        missing = [c for c in frame.columns if c not in roles]
        extra = [c for c in roles if c not in frame.columns]
        if missing or extra:
            raise SpecificationError(f"table {name!r}: every column needs a role and every role a "
                                     f"column; no role for {missing}, no column for {extra}")
        for c, spec in roles.items():
            if not isinstance(spec, Column):
                raise SpecificationError(f"table {name!r}, column {c!r}: role must be Label, Count, "
                                         f"Share, Mean, SD, Stat, Linked, Rounded or Free, got {spec!r}")
            for attr in ("keys", "num", "den", "n"):
                seq = getattr(spec, attr, None)
                if seq is not None and len(seq) != len(frame):
                    raise SpecificationError(f"table {name!r}, column {c!r}: {attr} has {len(seq)} "
                                             f"entries for {len(frame)} rows")
            if isinstance(spec, Linked) and spec.to not in roles:
                raise SpecificationError(f"table {name!r}, column {c!r}: linked to unknown column "
                                         f"{spec.to!r}")
        self._specs[name] = (frame, roles, status, file or f"tables/{name}.csv")
        self._importance[name] = int(importance)
        self._order.append(name)

    def __contains__(self, name) -> bool:
        return name in self._specs

    def __getitem__(self, name) -> ProtectedTable:
        if not self._protected:
            raise SpecificationError("call protect() before reading protected tables")
        return self.tables[name]

    # ------------------------------------------------------------------ protection
    def protect(self) -> None:
        """Decide what every table shows (see the module docstring); then tables can be read."""
        if self._protected:
            return
        from .protect import protect_publication

        protect_publication(self)
        self._protected = True

    @property
    def log(self) -> pd.DataFrame:
        """Every hidden cell with the rule that hid it (restricted: it says which cells are small)."""
        return pd.DataFrame(self._log, columns=["table", "row", "column", "rule"], dtype=object)

    @property
    def public_log(self) -> pd.DataFrame:
        """Every hidden cell, without the rule, so primary and secondary look alike."""
        return self.log[["table", "row", "column"]]

    def manifest(self) -> dict:
        """The declarations behind every published table (for ``manifest.json`` and the auditor)."""
        from .manifest import publication_manifest

        return publication_manifest(self)

    # helpers shared with protect/manifest
    def _spec(self, name):
        return self._specs[name]

    def _dim_levels(self) -> dict:
        return {u: dict(d) for u, d in self._levels.items()}

    def _measure_limits(self) -> dict:
        return {m: (lo, hi) for m, (_, _, lo, hi) in self._measures.items()}

    def _measure_sum(self, measure: str, key: Key) -> tuple[float, int]:
        square = measure.endswith("^2")
        unit, values, _, _ = self._measures[measure[:-2] if square else measure]
        if unit != key.unit:
            raise SpecificationError(f"measure {measure!r} is about unit {unit!r}, key {key} about "
                                     f"{key.unit!r}")
        v = values[self._mask(key)]
        v = v[~np.isnan(v)]
        return float(np.sum(v * v) if square else np.sum(v)), int(v.size)

