"""Tables after disclosure control: :class:`SafeTable` and how its cells display.

A SafeTable holds the published values with every hidden cell set to NaN, a mask of the hidden
cells and the kind of each column; the hidden values are not kept anywhere in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import SpecificationError
from .. import format as fmt
from .system import Bounds

__all__ = ["SafeTable", "ProtectedTable", "display", "csv_text", "SUPPRESSED", "HIDDEN", "too_few"]

#: What a hidden cell reads as in CSV files, and for counts and percentages in :func:`display`.
SUPPRESSED = fmt.SUPPRESSED

_PROTECTED_KINDS = ("count", "percent", "estimate")


@dataclass(frozen=True, eq=False)
class SafeTable:
    """A table after disclosure control: safe to publish as it stands.

    Attributes
    ----------
    name : str
        The table's name in the suppression log.
    data : pandas.DataFrame
        The input's rows and columns; protected columns are floats and every hidden cell is NaN.
        The hidden values are not kept anywhere in the object.
    hidden : pandas.DataFrame
        Booleans of the same shape: True where a cell was hidden.
    threshold : int
        The threshold in force.
    kinds : dict
        Column -> ``"count"``, ``"percent"``, ``"estimate"``, ``"status"`` or ``"label"``; decides
        how :func:`display` shows a hidden cell.
    withheld_groups : tuple
        Groups withheld entirely (risk tables, curves): their curves must not be drawn.
    """

    name: str
    data: pd.DataFrame
    hidden: pd.DataFrame
    threshold: int
    kinds: dict = field(default_factory=dict)
    withheld_groups: tuple = ()

    def to_csv(self, path=None) -> str | None:
        """Write :attr:`data` as CSV with hidden cells reading ``suppressed``.

        Deterministic: ``\\n`` line ends, floats as ``%.6g``, no index; text a spreadsheet would
        run as a formula is neutralised (:func:`evalkit.report.format.csv_cell`). With
        ``path=None`` the text is returned instead.
        """
        text = csv_text(self.data, self.hidden)
        if path is None:
            return text
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return None


def csv_text(data: pd.DataFrame, hidden: pd.DataFrame | None = None) -> str:
    """CSV text of a table: no index, ``\\n`` line ends, hidden cells ``suppressed``.

    The one CSV writer of evalkit (reports and restricted outputs alike): every header and cell
    goes through :func:`evalkit.report.format.csv_cell`, which neutralises formula-like text.

    >>> import pandas as pd
    >>> print(csv_text(pd.DataFrame({"=a": ["@SUM(A1)", "-2"], "b": [0.1234567, None]})), end="")
    '=a,b
    '@SUM(A1),0.123457
    -2,
    """
    import csv
    import io

    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"a CSV output must be a pandas DataFrame, not "
                                 f"{type(data).__name__}; convert it with pd.DataFrame(...)")
    mask = None if hidden is None else hidden.reindex(columns=data.columns,
                                                      fill_value=False).to_numpy(bool)
    # The csv module quotes only the characters of its line terminator, so rows are written with
    # "\r\n" (a cell holding a lone "\r" is then quoted too) and the terminator becomes "\n".
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines = []
    rows = [list(data.columns), *data.itertuples(index=False, name=None)]
    for i, row in enumerate(rows):
        buffer.seek(0)
        buffer.truncate()
        if i == 0 or mask is None:
            cells = [fmt.csv_cell(v if i else str(v)) for v in row]
        else:
            cells = [SUPPRESSED if mask[i - 1, j] else fmt.csv_cell(v) for j, v in enumerate(row)]
        writer.writerow(cells)
        lines.append(buffer.getvalue()[:-2] + "\n")
    return "".join(lines)


def display(safe: SafeTable, *, digits: int = 1) -> pd.DataFrame:
    """Strings for an HTML table, one per cell of a :class:`SafeTable`.

    Hidden counts and percentages read ``suppressed``; hidden estimates read ``withheld (n < T)``
    with T the threshold. Shown counts are whole numbers, percentages and estimates have ``digits``
    decimals, ``p_value`` columns three (``<0.001`` below that). Cells that were missing before
    disclosure control are empty strings.

    Parameters
    ----------
    safe : SafeTable
    digits : int
        Decimals for percentages and estimates.

    Returns
    -------
    pandas.DataFrame
        Same index and columns as ``safe.data``, every cell a string.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.disclosure import DisclosureControl, display
    >>> t = pd.DataFrame({"level": ["a", "b"], "n": [3, 40], "estimate": [1.25, 2.5],
    ...                   "p_value": [0.2, 0.0001]})
    >>> safe = DisclosureControl().estimates(t, name="t", n_column="n",
    ...                                      value_columns=["estimate", "p_value"])
    >>> display(safe, digits=2)
      level           n          estimate           p_value            status
    0     a  suppressed  withheld (n < 5)  withheld (n < 5)  withheld (n < 5)
    1     b          40              2.50            <0.001
    """
    if not isinstance(safe, SafeTable):
        raise SpecificationError(f"display needs a SafeTable (from DisclosureControl), got "
                                 f"{type(safe).__name__}")
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise SpecificationError(f"display: digits must be a whole number >= 0, got {digits!r}")
    withheld = f"withheld (n < {safe.threshold})"
    out = {}
    for c in safe.data.columns:
        kind = safe.kinds.get(c, "label")
        hid = safe.hidden[c].to_numpy()
        if kind == "count":
            show = _fmt_count
        elif kind in ("percent", "estimate"):
            show = _fmt_p if _is_p_column(c) else (lambda v, d=digits: _fmt_number(v, d))
        else:
            show = _fmt_label
        text = [show(v) for v in safe.data[c].tolist()]
        mark = withheld if kind == "estimate" else SUPPRESSED
        out[c] = [mark if h else t for h, t in zip(hid, text)]
    return pd.DataFrame(out, index=safe.data.index, columns=safe.data.columns, dtype=object)


# display() leaves cells that were missing before disclosure control empty
def _missing(v) -> bool:
    return fmt.is_missing(v)


def _fmt_count(v) -> str:
    return "" if _missing(v) else fmt.count(v)


def _fmt_number(v, digits: int) -> str:
    if _missing(v):
        return ""
    try:
        return fmt.number(float(v), digits)
    except (TypeError, ValueError):
        return str(v)


def _fmt_p(v) -> str:
    return "" if _missing(v) else fmt.p_value(v)


def _fmt_label(v) -> str:
    return "" if _missing(v) else fmt.cell(v, "label")


def _is_p_column(name) -> bool:
    s = str(name)
    return s == "p_value" or s.startswith("p_value_") or s.endswith("_p_value")


#: What a hidden statistic's status says: the same for every hidden cell, so it never tells which
#: cells are small.
HIDDEN = "not shown (protects a small group)"


def too_few(min_n: int) -> str:
    """Status of an estimate not made because its group (whose size is shown) is too small."""
    return f"too few to estimate (fewer than {min_n})"


@dataclass(frozen=True, eq=False)
class ProtectedTable(SafeTable):
    """A published table: hidden cells are NaN, ``bounds`` holds what the published numbers allow.

    ``columns`` keeps each column's role (:mod:`.columns`); ``bounds`` maps ``(row, column)`` of a
    hidden count or share to the :class:`~.system.Bounds` of its count.
    """

    columns: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)
    file: str | None = None

    def bounds_of(self, row: int, column: str) -> Bounds | None:
        """Bounds of the hidden count behind cell (row position, column), or None if shown."""
        return self.bounds.get((row, column))

    def shown(self, row: int, column: str) -> bool:
        """Whether the cell at (row position, column) is published."""
        return not bool(self.hidden[column].iat[row])
