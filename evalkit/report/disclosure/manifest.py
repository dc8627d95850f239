"""The declarations a publication writes beside its tables, from which the auditor rebuilds it.

``manifest.json`` (written by :mod:`evalkit.pipeline.write`) carries, under ``"disclosure"``:
the threshold, the minimum group size, every dimension's levels, the structural zeros, the subset
relations, the measures' per-person limits, and for every published table its file and, for every
column, its role and the keys of each row. Keys name sets of people, never people: the manifest is
as public as the tables.

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.disclosure import Publication, Key, Label, Count
>>> pub = Publication(threshold=5)
>>> pub.dimension("site", pd.Series(["a"] * 6 + ["b"] * 7, index=range(13)))
>>> pub.add("t", pd.DataFrame({"site": ["a", "b"], "n": [6, 7]}),
...         columns={"site": Label(), "n": Count([Key.of(site="a"), Key.of(site="b")])})
>>> pub.protect()
>>> m = pub.manifest()
>>> m["tables"]["t"]["columns"]["n"]["keys"][0]
{'unit': 'person', 'where': {'site': 'a'}}
>>> m["dimensions"]["person"]["site"]
['a', 'b', '(missing)']
"""

from __future__ import annotations

from .columns import SD, Count, Linked, Mean, Rounded, Share, Stat
from .keys import Key

__all__ = ["publication_manifest", "FORMAT"]

#: Version of the disclosure part of the manifest.
FORMAT = 1


def _key(entry):
    if entry is None:
        return None
    if isinstance(entry, Key):
        return entry.to_json()
    return [_key(x) for x in entry]


def _column(spec) -> dict:
    out = spec.manifest()
    if isinstance(spec, (Count, Rounded)):
        out["keys"] = [_key(k) for k in spec.keys]
        if isinstance(spec, Rounded):
            out["width"] = int(spec.width)
            if spec.n is not None:
                out["n"] = [_key(k) for k in spec.n]
    elif isinstance(spec, Share):
        out.update(num=[_key(k) for k in spec.num], den=[_key(k) for k in spec.den],
                   scale=float(spec.scale))
    elif isinstance(spec, (Mean, SD)):
        out.update(n=[_key(k) for k in spec.n],
                   measure=list(spec.measure) if isinstance(spec.measure, (list, tuple))
                   else spec.measure)
    elif isinstance(spec, Stat):
        out.update(n=[_key(k) for k in spec.n], min_n=spec.min_n)
    elif isinstance(spec, Linked):
        out.update(to=spec.to)
    return out


def publication_manifest(pub) -> dict:
    """The ``disclosure`` section of ``manifest.json`` for a protected :class:`Publication`."""
    tables = {}
    for name in pub._order:
        frame, cols, status, file = pub._spec(name)
        tables[name] = {"file": file, "rows": int(len(frame)),
                        "columns": {c: _column(s) for c, s in cols.items()},
                        "status": status}
    return {
        "format": FORMAT,
        "threshold": pub.threshold,
        "min_group": pub.min_group,
        "suppress_zeros": pub.suppress_zeros,
        "dimensions": pub._dim_levels(),
        "zeros": [z.to_json() for z in pub._zeros],
        "subsets": [[a.to_json(), b.to_json()] for a, b in pub._subsets],
        "measures": {m: {"lower": lo, "upper": hi} for m, (lo, hi) in pub._measure_limits().items()},
        "tables": tables,
    }
