"""What each column of a published table is, so every published number is accounted for.

A table registered with :meth:`~.publication.Publication.add` declares a role for every column:

========== =====================================================================================
:class:`Label`    text that names the row (a level, a stage, a term)
:class:`Count`    the number of people in a set: one :class:`~.keys.Key` per row (or a list of
                  keys whose counts add up), None where the cell is empty
:class:`Rounded`  a count published only rounded down to a multiple of ``width``
:class:`Share`    count(num) / count(den) × ``scale``; publishing it publishes both counts
:class:`Mean`     the mean of a measure over a set; publishing it publishes the set's count and
                  the measure's sum over it
:class:`SD`       the standard deviation of a measure over a set (publishes the sum of squares)
:class:`Stat`     any other number about one or more sets (an estimate, its SE, CI, p-value, a
                  median): published only when those sets' counts are, and at least ``min_n``
:class:`Linked`   published exactly when another column of the row is (confidence limits)
:class:`Free`     a number that says nothing about people (a time, a threshold, a grid value)
========== =====================================================================================

Examples
--------
>>> from evalkit.report.disclosure.columns import Count, Share
>>> from evalkit.report.disclosure.keys import Key
>>> rows = [Key.of(site=s) for s in ("north", "east")]
>>> Count(rows).role, Share(num=rows, den=[Key.of()] * 2, scale=100).scale
('count', 100)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Label", "Count", "Rounded", "Share", "Mean", "SD", "Stat", "Linked", "Free", "Column"]


class Column:
    """Base of the column roles."""

    role = "column"

    def manifest(self) -> dict:
        return {"role": self.role}


@dataclass(frozen=True)
class Label(Column):
    """Text naming the row; never a number about people. ``text``: evalkit's own messages."""

    text: bool = False
    role = "label"

    def manifest(self) -> dict:
        return {"role": self.role, **({"text": True} if self.text else {})}


@dataclass(frozen=True)
class Free(Column):
    """A number that says nothing about people (time, grid value, threshold); ``why`` says so."""

    why: str = ""
    role = "free"

    def manifest(self) -> dict:
        return {"role": self.role, "why": self.why}


@dataclass(frozen=True)
class Count(Column):
    """Counts of people: ``keys[i]`` is the row's Key, a list of Keys (summed), or None."""

    keys: list
    role = "count"


@dataclass(frozen=True)
class Rounded(Column):
    """Counts rounded down to a multiple of ``width`` (true value in [v, v + width - 1]).

    ``n`` (optional, one Key per row): the group the count belongs to; the rounded count is shown
    only where that group's size is (a group withheld is withheld whole).
    """

    keys: list
    width: int
    n: list | None = None
    role = "rounded"


@dataclass(frozen=True)
class Share(Column):
    """``count(num[i]) / count(den[i]) * scale`` for each row."""

    num: list
    den: list
    scale: float = 1.0
    role = "share"


@dataclass(frozen=True)
class Mean(Column):
    """Mean of ``measure`` (a name, or one per row) over the set ``n[i]``."""

    measure: object
    n: list
    role = "mean"


@dataclass(frozen=True)
class SD(Column):
    """Standard deviation (n - 1 denominator) of ``measure`` over the set ``n[i]``."""

    measure: object
    n: list
    role = "sd"


@dataclass(frozen=True)
class Stat(Column):
    """A number about the sets ``n[i]`` (Key, list of Keys, or None for the whole table's set)."""

    n: list
    min_n: int | None = None
    role = "stat"


@dataclass(frozen=True)
class Linked(Column):
    """Published exactly when column ``to`` of the same row is (e.g. confidence limits)."""

    to: str
    role = "linked"

    def manifest(self) -> dict:
        return {"role": self.role, "to": self.to}
