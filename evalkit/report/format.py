"""The one formatter for every number a report shows: counts, numbers, percentages, p-values, gaps.

Tables, sentences, captions, alt text and figure labels all format through these functions, so a
percentage reads the same in a table and in the sentence about it, a missing value is never printed
as ``nan`` or ``None``, and a hidden cell is described only by what the published tables support
(:func:`hidden_count`). CSV cells go through :func:`csv_cell`, which also neutralises text that a
spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``).

Examples
--------
>>> from evalkit.report import format as fmt
>>> fmt.number(3.14159), fmt.number(-0.04), fmt.number(2.5, signed=True)
('3.1', '0.0', '+2.5')
>>> fmt.count(1234), fmt.count(None)
('1,234', '–')
>>> fmt.percent(0.3712), fmt.percent(0.0004), fmt.percent(1.9, scale=100, digits=1)
('37%', '<1%', '1.9%')
>>> fmt.p_value(0.0000038), fmt.p_value(0.0432), fmt.p_value(float("nan"))
('<0.001', '0.043', '–')
>>> fmt.interval(-0.82, 4.34)
'-0.8 to 4.3'
>>> fmt.csv_cell("=HYPERLINK(1)"), fmt.csv_cell("-3"), fmt.csv_cell(0.1 + 0.2)
("'=HYPERLINK(1)", '-3', '0.3')
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["MISSING", "SUPPRESSED", "is_missing", "number", "significant", "count", "percent",
           "p_value", "interval", "signed", "hidden_count", "cell", "csv_cell", "neutralise"]

#: How a value that does not exist (not applicable, not estimable) reads in tables and prose.
MISSING = "–"
#: How a cell hidden by disclosure control reads in tables (CSV and HTML alike).
SUPPRESSED = "suppressed"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def is_missing(x) -> bool:
    """True for None, NaN, pandas NA and ±inf (a value that must not be printed as a number).

    >>> is_missing(float("inf")), is_missing(0), is_missing("text")
    (True, False, False)
    """
    if x is None:
        return True
    try:
        import pandas as pd

        if x is pd.NA or x is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(x, (float, np.floating, int, np.integer)) and not isinstance(x, bool):
        return not math.isfinite(float(x))
    return False


def number(x, digits: int = 1, *, signed: bool = False) -> str:
    """A number with ``digits`` decimals; ``-0.0`` reads ``0.0``; missing reads :data:`MISSING`."""
    if is_missing(x):
        return MISSING
    text = f"{float(x):+.{digits}f}" if signed else f"{float(x):.{digits}f}"
    if re.fullmatch(r"[+-]0(\.0*)?", text):      # -0.0 and +0.0 are just 0.0
        text = text[1:]
    return text


def significant(x, digits: int = 4, *, max_decimals: int = 8) -> str:
    """A number to about ``digits`` significant digits, never in scientific notation.

    Whole numbers read whole; at most ``max_decimals`` decimals, so a number smaller than that
    shows as zeros rather than as ``1e-09``.

    >>> significant(38.80621), significant(0.00035731), significant(-1716.835), significant(211.4772)
    ('38.81', '0.0003573', '-1717', '211.5')
    >>> significant(2.0), significant(-1e-12), significant(float("nan"))
    ('2', '0.00000000', '–')
    """
    if is_missing(x):
        return MISSING
    v = float(x)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    magnitude = math.floor(math.log10(abs(v)))
    decimals = max(0, min(digits - 1 - magnitude, max_decimals))
    text = f"{v:.{decimals}f}"
    if re.fullmatch(r"-0(\.0*)?", text):
        text = text[1:]
    return text


def signed(x, digits: int = 1) -> str:
    """A number with an explicit sign (``+2.5``, ``-1.0``, ``0.0``)."""
    return number(x, digits, signed=True)


def count(n) -> str:
    """A whole number with thousands separators; missing reads :data:`MISSING`."""
    if is_missing(n):
        return MISSING
    return f"{int(round(float(n))):,}"


def percent(share, *, scale: float = 1.0, digits: int = 0) -> str:
    """A share as a percentage (``scale=100`` when ``share`` already is one); ``<1%`` for tiny ones."""
    if is_missing(share):
        return MISSING
    value = float(share) * (100.0 / scale)
    if 0 < value < 10 ** -digits:
        return f"<{10 ** -digits:g}%"
    return f"{number(value, digits)}%"


def p_value(p) -> str:
    """``<0.001`` below one in a thousand, else three decimals; never scientific notation."""
    if is_missing(p):
        return MISSING
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def interval(low, high, digits: int = 1) -> str:
    """``"low to high"`` (the two limits of a confidence interval)."""
    return f"{number(low, digits)} to {number(high, digits)}"


def hidden_count(upper, threshold: int) -> str:
    """How prose describes a count that is not shown.

    ``upper`` is the largest value the *published* numbers allow for it (from the disclosure
    layer's bounds); "fewer than T" is said only when the published tables already imply it, so a
    cell hidden to protect a neighbour (which may be large) is never described as small.

    >>> hidden_count(4, 5)
    'fewer than 5'
    >>> hidden_count(55, 5)
    'a number not shown to protect small groups'
    """
    if upper is not None and not is_missing(upper) and float(upper) < threshold:
        return f"fewer than {threshold}"
    return "a number not shown to protect small groups"


def lower_first(label: str) -> str:
    """A label inside a sentence: its first letter lower-cased unless it starts an acronym or
    the label is a proper name (another capitalised word follows: "Index of Multiple Deprivation").

    >>> lower_first("End of support"), lower_first("WEMWBS at end"), lower_first("IMD quintile")
    ('end of support', 'WEMWBS at end', 'IMD quintile')
    >>> lower_first("Index of Multiple Deprivation quintile"), lower_first("Born in the UK")
    ('Index of Multiple Deprivation quintile', 'born in the UK')
    """
    label = str(label)
    later = label.split()[1:]
    if any(w[:1].isupper() and not w.isupper() for w in later):
        return label
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def level_phrase(level, context) -> str:
    """A group named with what it is a level of: "Asian or Asian British (ethnic group)"; a yes/no
    level reads "Lives with a partner: no".

    >>> level_phrase("Group", "Mode of support received"), level_phrase("no", "First baby")
    ('Group (mode of support received)', 'First baby: no')
    """
    if str(level).lower() in ("yes", "no"):
        return f"{context}: {level}"
    return f"{level} ({lower_first(context)})"


def cell(value, kind: str = "number", *, digits: int = 1) -> str:
    """One table cell as text: ``kind`` is count, number, percent (0–100), share (0–1), p or label."""
    if kind == "label":
        if is_missing(value):
            return MISSING
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, str):
        return value
    if kind == "count":
        return count(value)
    if kind == "percent":
        return percent(value, scale=100, digits=digits)
    if kind == "share":
        return percent(value, digits=digits)
    if kind == "p":
        return p_value(value)
    return number(value, digits)


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers.

    OWASP's advice for CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return that is not a plain number is prefixed with ``'``.

    >>> neutralise("+cmd|' /C calc'!A0"), neutralise("-1.5e3"), neutralise("plain")
    ("'+cmd|' /C calc'!A0", '-1.5e3', 'plain')
    """
    if text and text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value) -> str:
    """A CSV cell: floats to 6 significant digits, missing empty, text neutralised."""
    if is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        text = "%.6g" % float(value)
        return text
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return neutralise(str(value))
