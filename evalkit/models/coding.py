"""Treatment-coded main-effects matrices built by formulaic: the one term-naming rule.

Every model in evalkit names its terms as formulaic names them (the mixed models build their
matrices from formulas in :mod:`evalkit.models.design`; the regressions that are not written as
formulas — attrition, mediation, ANCOVA — build theirs here, through formulaic too):

* the intercept is ``Intercept``;
* a numeric column is its name; a boolean column is numeric 0/1 (True = 1), also named by the
  column (formulaic's treatment of ``bool``);
* a categorical column (text or ``category``) gives ``column[T.level]`` for every level but the
  reference. Levels follow :func:`evalkit._levels.levels` (category order, else sorted; only the
  levels present); the reference is the first level unless one is chosen;
* interactions, where a formula has them, are ``a:b``.

Examples
--------
>>> import pandas as pd
>>> from evalkit.models.coding import treatment_matrix
>>> frame = pd.DataFrame({"site": ["north", "south", "east", "north"], "age": [30, 31, 29, 35],
...                       "first baby": [True, False, True, True]})
>>> coded = treatment_matrix(frame, ["site", "age", "first baby"], reference={"site": "north"})
>>> coded.names
['Intercept', 'site[T.east]', 'site[T.south]', 'age', 'first baby']
>>> coded.matrix[:, 1:3].tolist()
[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
>>> coded.owner
['', 'site', 'site', 'age', 'first baby']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import model_matrix

from .._levels import is_boolean
from .._levels import levels as _levels
from ..errors import SpecificationError

__all__ = ["CodedMatrix", "treatment_matrix", "is_categorical"]

_ALIAS = re.compile(r"^v(\d+)")


@dataclass(frozen=True)
class CodedMatrix:
    """A design matrix and what each column is."""

    matrix: np.ndarray            # n × p, float
    names: list                   # term names (the rule in the module docstring)
    owner: list                   # the data column of each term ("" for the intercept)
    levels: dict = field(default_factory=dict)   # categorical column -> levels, reference first


def is_categorical(values: pd.Series) -> bool:
    """True for a column coded by levels: text, object or ``category``. Numbers and booleans (also
    True/False values held as objects) are numeric, as formulaic treats a boolean column."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_numeric_dtype(dtype) or is_boolean(values, binary_numbers=False):
        return False
    return True


def treatment_matrix(frame: pd.DataFrame, columns: Sequence[str], *,
                     categorical: Sequence[str] | None = None,
                     reference: Mapping[str, object] | None = None,
                     intercept: bool = True) -> CodedMatrix:
    """Main-effects design matrix of ``columns`` by formulaic, treatment-coded.

    Parameters
    ----------
    frame : pandas.DataFrame
        Complete rows (no missing values in ``columns``).
    columns : sequence of str
        The columns, in the order their terms appear.
    categorical : sequence of str, optional
        Columns to code by levels even if numeric (default: :func:`is_categorical`).
    reference : mapping, optional
        Reference level per categorical column (default: its first level).
    intercept : bool, default True
        Keep the ``Intercept`` column (the coding is treatment coding either way).

    Returns
    -------
    CodedMatrix
    """
    columns = list(columns)
    forced = set(categorical or ())
    reference = dict(reference or {})
    coded, levels = {}, {}
    for i, col in enumerate(columns):
        values = frame[col]
        if values.isna().any():
            raise SpecificationError(f"column {col!r} has missing values; drop incomplete rows "
                                     "before coding")
        if col in forced or is_categorical(values):
            lv = _levels(values)
            if col in reference:
                ref = next((x for x in lv if x == reference[col] or str(x) == str(reference[col])),
                           None)
                if ref is None:
                    raise SpecificationError(f"reference level {reference[col]!r} is not a level of "
                                             f"{col!r}; levels: {', '.join(map(str, lv))}")
                lv = [ref, *[x for x in lv if x is not ref]]
            levels[col] = lv
            coded[f"v{i}"] = pd.Categorical(values.astype(object), categories=lv)
        else:
            coded[f"v{i}"] = values.astype(float).to_numpy()
    data = pd.DataFrame(coded, index=frame.index)
    formula = " + ".join(["1", *data.columns])
    mm = model_matrix(formula, data, ensure_full_rank=True, na_action="raise")
    names, owner = [], []
    for name in mm.columns:
        hit = _ALIAS.match(name)
        if hit is None:                 # the intercept
            names.append(name)
            owner.append("")
            continue
        col = columns[int(hit.group(1))]
        names.append(str(col) + name[hit.end():])
        owner.append(col)
    matrix = np.asarray(mm, dtype=float)
    if not intercept:
        keep = [j for j, o in enumerate(owner) if o]
        matrix, names, owner = matrix[:, keep], [names[j] for j in keep], [owner[j] for j in keep]
    return CodedMatrix(matrix=matrix, names=names, owner=owner, levels=levels)
