"""Keys: which people a published count counts, so linked tables can be protected together.

Every count a report publishes is the number of people (or records) in a set defined by conditions
on *dimensions* — ``started = yes``, ``ethnicity = mixed``, ``reliable change in WEMWBS =
deteriorated``. A :class:`Key` names that set. Two tables that publish the same key publish the
same number; a key and the keys that split it over every level of one dimension add up (the
*partition* equations). Because the equations follow from the keys alone, the publication layer
(:mod:`.publication`) and the auditor (:mod:`.audit`) rebuild the same relations between cells of
different tables, which is what lets a count hidden in one table be protected against subtraction
in another.

A condition names one level (``ethnicity = "mixed"``) or a set of levels (``mech_hope in {"0-2",
"3-4"}``: answered the item). Levels are strings; a missing value is the level
:data:`MISSING_LEVEL`, so every dimension's levels are exhaustive.

Examples
--------
>>> from evalkit.report.disclosure.keys import Key
>>> k = Key.of(started="yes") & {"ethnicity": "mixed"}
>>> str(k)
'person: ethnicity=mixed & started=yes'
>>> k.to_json()
{'unit': 'person', 'where': {'ethnicity': 'mixed', 'started': 'yes'}}
>>> Key.from_json(k.to_json()) == k
True
>>> str(k.without("started")), str(Key.of())
('person: ethnicity=mixed', 'person: everyone')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ...errors import SpecificationError

__all__ = ["Key", "MISSING_LEVEL", "level_code", "YES", "NO"]

#: The level of a dimension for people whose value is missing (always one of its levels).
MISSING_LEVEL = "(missing)"
YES, NO = "yes", "no"


def level_code(value) -> str:
    """The string a value has as a level of a dimension (``True`` → ``"yes"``, NaN → missing).

    >>> level_code(True), level_code(2.0), level_code(None), level_code("group")
    ('yes', '2', '(missing)', 'group')
    """
    from ..format import is_missing

    if is_missing(value):
        return MISSING_LEVEL
    if isinstance(value, (bool, np.bool_)):       # numpy 2 names np.bool_ "bool"
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, order=True)
class Key:
    """A set of people (``unit``) defined by conditions on dimensions.

    ``where`` is a sorted tuple of ``(dimension, levels)`` with ``levels`` a sorted tuple of
    strings; build keys with :meth:`of` and ``&``.
    """

    unit: str = "person"
    where: tuple = ()

    @classmethod
    def of(cls, unit: str = "person", **where) -> "Key":
        """A key from keyword conditions: ``Key.of(started="yes", mode=["group", "both"])``."""
        return cls(unit, ()) & where

    def __and__(self, other) -> "Key":
        """The key with more conditions (an intersection of sets)."""
        items = other.where if isinstance(other, Key) else _items(other)
        if isinstance(other, Key) and other.unit != self.unit:
            raise SpecificationError(f"cannot combine keys of units {self.unit!r} and {other.unit!r}")
        cond = dict(self.where)
        for dim, levels in items:
            if dim in cond:
                both = tuple(sorted(set(cond[dim]) & set(levels)))
                if not both:
                    raise SpecificationError(f"key {self}: conditions on {dim!r} exclude each other "
                                             f"({cond[dim]} and {levels})")
                cond[dim] = both
            else:
                cond[dim] = levels
        return Key(self.unit, tuple(sorted(cond.items())))

    def without(self, *dims: str) -> "Key":
        """The key with the conditions on ``dims`` dropped (a larger set)."""
        return Key(self.unit, tuple((d, lv) for d, lv in self.where if d not in dims))

    def dims(self) -> tuple:
        """The dimensions this key has conditions on."""
        return tuple(d for d, _ in self.where)

    def level(self, dim: str):
        """The levels of ``dim`` in this key (a tuple), or None without a condition on it."""
        for d, lv in self.where:
            if d == dim:
                return lv
        return None

    def to_json(self) -> dict:
        """``{"unit": ..., "where": {dim: level or [levels]}}`` for the manifest."""
        return {"unit": self.unit,
                "where": {d: (lv[0] if len(lv) == 1 else list(lv)) for d, lv in self.where}}

    @classmethod
    def from_json(cls, obj: Mapping) -> "Key":
        """The inverse of :meth:`to_json`."""
        if not isinstance(obj, Mapping) or "unit" not in obj:
            raise SpecificationError(f"not a key: {obj!r}; a key is {{'unit': ..., 'where': {{...}}}}")
        return cls(str(obj["unit"]), ()) & dict(obj.get("where") or {})

    def __str__(self) -> str:
        if not self.where:
            return f"{self.unit}: everyone"
        parts = [f"{d}={lv[0]}" if len(lv) == 1 else f"{d} in {{{', '.join(lv)}}}"
                 for d, lv in self.where]
        return f"{self.unit}: " + " & ".join(parts)


def _items(where) -> list:
    if where is None:
        return []
    if not isinstance(where, Mapping):
        raise SpecificationError(f"conditions must be a mapping of dimension to level(s), got {where!r}")
    out = []
    for dim, levels in where.items():
        if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
            levels = [levels]
        codes = tuple(sorted({lv if isinstance(lv, str) else level_code(lv) for lv in levels}))
        if not codes:
            raise SpecificationError(f"condition on {dim!r} names no level")
        out.append((str(dim), codes))
    return out
