"""The shared base of evalkit's result objects.

Every result from a model or a test is a :class:`Result`:

* ``.table`` — the main tidy table (snake_case columns, numbers as numbers);
* ``.to_frame()`` — a copy of it, to change freely;
* ``.raw`` — the backend's own object (statsmodels, lifelines, the fast engine's state), or None
  where evalkit computed everything itself;
* ``summary()`` — a DataFrame to read (by default the table; results whose table has one row per
  participant summarise it);
* ``repr()`` — a short text block (what was fitted, then the summary); ``_repr_html_`` the same
  for notebooks.

A subclass provides ``table`` and ``raw`` (as dataclass fields or properties) and may override
:meth:`Result._header` and :meth:`Result._footer` (lines above and below the table in ``repr``)
and :meth:`Result.summary`. Dataclass
subclasses are declared with ``repr=False`` so that the base's ``__repr__`` is used.

Examples
--------
>>> from dataclasses import dataclass
>>> import pandas as pd
>>> from evalkit._result import Result
>>> @dataclass(frozen=True, repr=False)
... class Toy(Result):
...     table: pd.DataFrame
...     raw: object = None
...     def _header(self):
...         return ["a toy result"]
>>> toy = Toy(pd.DataFrame({"term": ["a"], "estimate": [1.25]}))
>>> toy
Toy: a toy result
term  estimate
   a      1.25
>>> toy.summary().equals(toy.table), toy.to_frame() is toy.table
(True, False)
>>> "<table" in toy._repr_html_()
True
"""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["Result"]

_MAX_ROWS = 20


class Result:
    """Base class of evalkit results: ``.table``, ``.to_frame()``, ``.raw``, ``summary()``,
    ``repr`` and ``_repr_html_`` (see :mod:`evalkit._result`)."""

    __slots__ = ()

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`table`."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """The table to read; the base class returns :attr:`table`."""
        return self.table

    def _header(self) -> list[str]:
        """Lines shown above the summary in ``repr`` (what was fitted, n, convergence…)."""
        return []

    def _footer(self) -> list[str]:
        """Lines shown below the summary in ``repr`` (further tables, warnings…)."""
        return []

    def _summary_frame(self) -> pd.DataFrame | None:
        try:
            frame = self.summary()
        except Exception:       # a repr must never raise
            frame = getattr(self, "table", None)
        return frame if isinstance(frame, pd.DataFrame) else None

    def __repr__(self) -> str:
        head = self._header()
        lines = [f"{type(self).__name__}" + (f": {head[0]}" if head else "")] + head[1:]
        frame = self._summary_frame()
        if frame is not None:
            lines.append(frame.to_string(index=False, max_rows=_MAX_ROWS) if len(frame)
                         else f"(no rows; columns: {', '.join(map(str, frame.columns))})")
        return "\n".join(lines + self._footer())

    def _repr_html_(self) -> str:
        head = self._header()
        title = html.escape(type(self).__name__ + (f": {head[0]}" if head else ""))
        notes = "".join(f"<br>{html.escape(line)}" for line in head[1:] if line)
        frame = self._summary_frame()
        table = frame.to_html(index=False, max_rows=_MAX_ROWS) if frame is not None else ""
        foot = "".join(f"<br>{html.escape(line)}" for line in self._footer() if line)
        foot = f"<p>{foot[4:]}</p>" if foot else ""
        return f"<div><p><strong>{title}</strong>{notes}</p>{table}{foot}</div>"
