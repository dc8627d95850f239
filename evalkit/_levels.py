"""The one rule for the levels of a grouping column, used by every module that groups rows.

Five modules used to carry their own ``_levels`` with different rules (True before False in one,
False before True in another; unused categories kept in one, dropped in the next), so the same
group came out in different orders, or a yes/no column was treated as a number. Everything that
groups now asks :func:`levels` and :func:`is_boolean`.

Rules: a categorical column keeps its category order (only the categories present, unless
``observed=False``); a yes/no column (bool dtype, or values that are all True/False, or all 0/1 when
``binary_numbers=True``) gives ``[False, True]``; anything else is sorted, numbers numerically and
mixed types by type name then value, so the order never depends on row order.

Examples
--------
>>> import pandas as pd
>>> from evalkit._levels import levels, is_boolean
>>> levels(pd.Series(["b", "a", None, "b"]))
['a', 'b']
>>> levels(pd.Series([True, False, True]))
[False, True]
>>> levels(pd.Categorical(["x", "y"], categories=["y", "x", "z"]))
['y', 'x']
>>> levels(pd.Series([2, 10, 1]))
[1, 2, 10]
>>> is_boolean(pd.Series([0, 1, 1])), is_boolean(pd.Series([0, 1, 1]), binary_numbers=False)
(True, False)
"""

from __future__ import annotations

import pandas as pd

__all__ = ["levels", "is_boolean", "is_numeric"]


def is_boolean(values, *, binary_numbers: bool = True) -> bool:
    """True for a yes/no column: bool dtype, values all True/False, or (optionally) all 0/1."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype):
        return True
    if isinstance(s.dtype, pd.CategoricalDtype):
        return False
    present = s.dropna()
    if present.empty:
        return False
    try:
        uniq = set(present.unique().tolist())
    except TypeError:
        return False
    if uniq and all(isinstance(v, bool) for v in uniq):
        return True
    if binary_numbers and pd.api.types.is_numeric_dtype(s.dtype) and uniq <= {0, 1}:
        return True
    return False


def is_numeric(values) -> bool:
    """True for a numeric column that is not yes/no-like and not categorical."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    return (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
            and not isinstance(s.dtype, pd.CategoricalDtype))


def _sort_key(v):
    if isinstance(v, bool):
        return ("0bool", int(v))
    if isinstance(v, (int, float)):
        return ("1number", float(v))
    return ("2" + type(v).__name__, str(v))


def levels(values, *, observed: bool = True) -> list:
    """The levels of a grouping column, in the one evalkit order (see the module docstring).

    Parameters
    ----------
    values : pandas.Series, Categorical or array-like
    observed : bool, default True
        For a categorical column, only the categories that occur (``False``: all categories).

    Returns
    -------
    list
        Missing values are never a level.
    """
    if isinstance(values, pd.Categorical):
        values = pd.Series(values)
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
        if not observed:
            return cats
        present = set(s.dropna().unique().tolist())
        return [c for c in cats if c in present]
    present = s.dropna()
    if present.empty:
        return []
    if is_boolean(s, binary_numbers=False):
        seen = set(present.unique().tolist())
        return [lv for lv in (False, True) if lv in seen or not observed]
    uniq = pd.unique(present).tolist()
    return sorted(uniq, key=_sort_key)
