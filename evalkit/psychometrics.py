"""Item-level psychometrics: internal consistency, item statistics, floor and ceiling effects.

Every function reads the items of a registered instrument from a wide table (one row per
questionnaire, item columns ``<id>_<k>`` by default), optionally split by a grouping column such as
``wave``, and returns a tidy DataFrame with one row per scale (or item) × group.

Keying. Under ``coding="scored"`` the item columns already hold scores, so reverse-keyed items are
used as they are. Under ``coding="position"`` they hold the position of the chosen option, and
reverse-keyed items are turned into scores (``min + max - value``) first; otherwise those items would
correlate negatively with the rest and alpha would be badly underestimated.

Missing values. Item values must be numbers within each item's range or missing (NaN); missing
codes such as ``-9`` must be replaced by NaN first (a value out of range raises
:class:`~evalkit.errors.ScoringError`). Alpha and the item–total statistics use complete rows of the
scale (listwise deletion); item means, SDs and floor/ceiling percentages use every answered value.

Examples
--------
>>> import numpy as np
>>> import evalkit as ek
>>> responses = ek.simulate_cohort(n=60, seed=1).responses.replace(-9, np.nan)
>>> table = ek.internal_consistency(responses, "epds", by=None)
>>> table[["scale", "group", "n", "n_items", "alpha", "ci_low", "ci_high"]].round(3)
     scale group    n  n_items  alpha  ci_low  ci_high
0     epds   all  117       10  0.823   0.771    0.867
1  epds_3a   all  127        3  0.687   0.580    0.771
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import instruments as _instruments
from ._compat import renamed
from .errors import DataQualityWarning, ScoringError, SmallGroupWarning, SpecificationError
from .instruments.spec import Instrument, Scale

__all__ = ["internal_consistency", "item_statistics", "floor_ceiling", "FLOOR_CEILING_THRESHOLD"]

#: Percentage of respondents at the lowest (highest) possible score above which a floor (ceiling)
#: effect is flagged (McHorney & Tarlov 1995; Terwee et al. 2007, J Clin Epidemiol 60:34-42).
FLOOR_CEILING_THRESHOLD = 15.0

_CODINGS = ("scored", "position")
_ALL = "all"

CONSISTENCY_COLUMNS = ["instrument", "scale", "group", "n", "n_items", "alpha", "ci_low", "ci_high"]
ITEM_COLUMNS = ["instrument", "scale", "group", "item", "column", "n", "mean", "sd", "n_complete",
                "corrected_item_total", "alpha_if_deleted", "floor_pct", "ceiling_pct"]
FLOOR_CEILING_COLUMNS = ["instrument", "scale", "group", "n", "floor_pct", "ceiling_pct",
                         "floor_effect", "ceiling_effect"]


# ====================================================================== public functions
def internal_consistency(data: pd.DataFrame, instrument: str | Instrument, *,
                         scale: str | Sequence[str] | None = None, by: str | None = "wave",
                         coding: str = "scored", items: Mapping[int, str] | None = None,
                         confidence: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha with a Feldt confidence interval, per scale and group.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per completed questionnaire, with the instrument's item columns.
    instrument : str or Instrument
        A registered instrument id (``"epds"``) or a spec.
    scale : str or sequence of str, optional
        Scale id(s) of the instrument. Default: every scale with at least two items, in spec order.
    by : str or None, default "wave"
        Column whose levels define the groups (one row per level); ``None`` uses all rows as one
        group called ``"all"``. Rows with a missing level are left out. Levels of a categorical
        column come in category order, other levels sorted.
    coding : {"scored", "position"}, default "scored"
        What the item columns hold; under ``"position"`` reverse-keyed items are reversed first.
    items : mapping of int to str, optional
        Column of an item, by item number, where it is not ``<id>_<k>`` (e.g. ``{10: "q10"}``).
    confidence : float, default 0.95
        Level of the confidence interval.

    Returns
    -------
    pandas.DataFrame
        One row per scale × group with columns ``instrument, scale, group, n`` (complete rows of the
        scale), ``n_items, alpha, ci_low, ci_high``. Alpha is computed by
        :func:`pingouin.cronbach_alpha` on the complete rows; the interval is Feldt's, rounded to three
        decimals by pingouin.

    Raises
    ------
    SpecificationError
        Item columns or the ``by`` column are missing, or an option is invalid.
    ScoringError
        An item holds a value that is not a number or lies outside the item's range.

    Warns
    -----
    SmallGroupWarning
        A scale × group has fewer than two complete rows, or a scale fewer than two items: its alpha
        is NaN.
    DataQualityWarning
        The total of a scale × group has no variance: its alpha is undefined (NaN).

    Examples
    --------
    >>> import numpy as np
    >>> import evalkit as ek
    >>> responses = ek.simulate_cohort(n=60, seed=1).responses.replace(-9, np.nan)
    >>> responses["wave"] = pd.Categorical(responses["wave"], ["baseline", "mid", "end", "follow_up"])
    >>> table = ek.internal_consistency(responses, "epds", scale="epds")
    >>> table[["scale", "group", "n", "alpha", "ci_low", "ci_high"]].round(3)
      scale      group   n  alpha  ci_low  ci_high
    0  epds   baseline  56  0.815   0.733    0.879
    1  epds        mid  25  0.747   0.568    0.872
    2  epds        end  22  0.841   0.719    0.924
    3  epds  follow_up  14  0.888   0.775    0.958

    The simulated items hold scores. Read as option positions, the seven reverse-keyed items would
    be flipped and alpha would collapse, which is how a coding mistake shows itself:

    >>> ek.internal_consistency(responses, "epds", scale="epds", by=None,
    ...                         coding="position")["alpha"].round(3).item()
    -0.111
    """
    _check_frame(data, "internal_consistency")
    _check_coding(coding)
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise SpecificationError(f"confidence={confidence!r} must be a number between 0 and 1, "
                                 "e.g. 0.95 for a 95% interval")
    spec = _instruments.get(instrument)
    scales = _select_scales(spec, scale)
    colmap = _column_map(spec, items)
    numbers = _union_items(spec, scales)
    values = _item_values(data, spec, numbers, colmap, coding)
    groups = _groups(data, by)

    rows, small, constant = [], [], []
    for sc in scales:
        cols = spec.scale_items(sc)
        for level, mask in groups:
            x = _complete(values.loc[mask, cols].to_numpy())
            alpha, lo, hi, status = _alpha(x, confidence)
            if status == "small":
                small.append(f"{sc.id} × {level} (n={len(x)}, items={len(cols)})")
            elif status == "constant":
                constant.append(f"{sc.id} × {level}")
            rows.append({"instrument": spec.id, "scale": sc.id, "group": level, "n": len(x),
                         "n_items": len(cols), "alpha": alpha, "ci_low": lo, "ci_high": hi})
    if small:
        warnings.warn(f"alpha needs at least 2 complete rows and 2 items; NaN for {_first(small)}; "
                      "pool groups (by=None) or check the item columns", SmallGroupWarning,
                      stacklevel=2)
    if constant:
        warnings.warn(f"the scale total has no variance, so alpha is undefined (NaN), for "
                      f"{_first(constant)}; check the item columns and missing codes",
                      DataQualityWarning, stacklevel=2)
    return _frame(rows, CONSISTENCY_COLUMNS, ints=("n", "n_items"))


def item_statistics(data: pd.DataFrame, instrument: str | Instrument, *, scale: str | None = None,
                    by: str | None = "wave", coding: str = "scored",
                    items: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Item means, SDs, corrected item–total correlations, alpha if deleted, floor and ceiling.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per completed questionnaire, with the instrument's item columns.
    instrument : str or Instrument
        A registered instrument id or a spec.
    scale : str, optional
        The scale whose items are described and against whose total each item is correlated.
        Default: the primary scale (the instrument's total).
    by : str or None, default "wave"
        Grouping column (see :func:`internal_consistency`); ``None`` for one group ``"all"``.
    coding : {"scored", "position"}, default "scored"
        What the item columns hold; under ``"position"`` reverse-keyed items are turned into scores
        first, and every statistic is reported on the score metric.
    items : mapping of int to str, optional
        Column of an item, by item number, where it is not ``<id>_<k>``.

    Returns
    -------
    pandas.DataFrame
        One row per item × group (items in spec order, then groups) with columns:

        - ``instrument, scale, group, item`` (the item number), ``column`` (its column in ``data``);
        - ``n`` (answered), ``mean``, ``sd`` (ddof=1) of the answered values;
        - ``n_complete``: rows with every item of the scale answered, on which the next two are based;
        - ``corrected_item_total``: Pearson r of the item with the sum of the *other* items (NaN when
          either has no variance);
        - ``alpha_if_deleted``: Cronbach's alpha of the other items (NaN when fewer than two remain);
        - ``floor_pct``, ``ceiling_pct``: % of answered values at the item's minimum / maximum score.

    Raises
    ------
    SpecificationError, ScoringError
        As :func:`internal_consistency`.

    Warns
    -----
    SmallGroupWarning
        A group has fewer than two complete rows: its correlations and alphas are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import evalkit as ek
    >>> responses = ek.simulate_cohort(n=60, seed=1).responses.replace(-9, np.nan)
    >>> stats = ek.item_statistics(responses, "epds", scale="epds_3a", by=None)
    >>> cols = ["column", "n", "mean", "corrected_item_total", "alpha_if_deleted", "floor_pct"]
    >>> print(stats[cols].round(2).to_string(index=False))
    column   n  mean  corrected_item_total  alpha_if_deleted  floor_pct
    epds_3 127  1.39                  0.52              0.57      15.75
    epds_4 127  1.46                  0.52              0.57      12.60
    epds_5 127  1.33                  0.47              0.63       9.45
    """
    _check_frame(data, "item_statistics")
    _check_coding(coding)
    spec = _instruments.get(instrument)
    if scale is not None and not isinstance(scale, str):
        raise SpecificationError(f"item_statistics() takes one scale id, not {scale!r}; scales of "
                                 f"{spec.id}: {', '.join(s.id for s in spec.scales)}")
    sc = spec.primary if scale is None else spec.scale(scale)
    colmap = _column_map(spec, items)
    numbers = spec.scale_items(sc)
    values = _item_values(data, spec, numbers, colmap, coding)
    groups = _groups(data, by)

    rows, small = [], []
    for level, mask in groups:
        sub = values.loc[mask, numbers].to_numpy()
        x = _complete(sub)
        if len(x) < 2:
            small.append(f"{level} (n={len(x)})")
        total = x.sum(axis=1)
        for j, k in enumerate(numbers):
            lo, hi = spec.items.range_of(k)
            v = sub[:, j]
            v = v[~np.isnan(v)]
            rest = np.delete(x, j, axis=1)
            rows.append({
                "instrument": spec.id, "scale": sc.id, "group": level, "item": k,
                "column": colmap[k], "n": len(v),
                "mean": float(v.mean()) if len(v) else np.nan,
                "sd": float(v.std(ddof=1)) if len(v) > 1 else np.nan,
                "n_complete": len(x),
                "corrected_item_total": _pearson(x[:, j], total - x[:, j]) if len(x) >= 2 else np.nan,
                "alpha_if_deleted": _alpha(rest, 0.95)[0],
                "floor_pct": _pct(v, lo), "ceiling_pct": _pct(v, hi)})
    if small:
        warnings.warn(f"item-total correlations and alpha if deleted need at least 2 complete rows of "
                      f"{sc.id}; NaN for group(s) {_first(small)}; pool groups (by=None) or check the "
                      "item columns", SmallGroupWarning, stacklevel=2)
    out = _frame(rows, ITEM_COLUMNS, ints=("item", "n", "n_complete"))
    if len(out):
        # items in spec order, then groups in their order (stable sort keeps the group order)
        out = out.sort_values("item", kind="stable",
                              key=lambda s: s.map({k: i for i, k in enumerate(numbers)}))
        out = out.reset_index(drop=True)
    return out


@renamed(scores="data")
def floor_ceiling(data: pd.DataFrame, *, instrument: str | Instrument,
                  scale: str | Sequence[str] | None = None, by: str | None = None,
                  threshold: float = FLOOR_CEILING_THRESHOLD) -> pd.DataFrame:
    """Percentage of scale scores at the lowest and highest possible score, with >15% flags.

    Parameters
    ----------
    data : pandas.DataFrame
        Scale scores in columns named by scale id (``epds``, ``epds_3a``), as :func:`evalkit.score`
        returns them (``scores=`` is the deprecated name of this argument).
    instrument : str or Instrument
        A registered instrument id or a spec.
    scale : str or sequence of str, optional
        Scale id(s). Default: every scale of the instrument that has a column in ``data``.
    by : str or None, default None
        Grouping column; ``None`` for one group ``"all"``.
    threshold : float, default 15
        A floor (ceiling) effect is flagged when *more than* this percentage of the scores lie at the
        scale's minimum (maximum), the conventional criterion (Terwee et al. 2007).

    Returns
    -------
    pandas.DataFrame
        One row per scale × group: ``instrument, scale, group, n`` (non-missing scores),
        ``floor_pct, ceiling_pct`` (percentages, NaN when n = 0), ``floor_effect, ceiling_effect``
        (nullable booleans, missing when n = 0).

    Raises
    ------
    SpecificationError
        No or missing score columns, or a missing ``by`` column.
    ScoringError
        A score is not a number or lies outside the scale's range.

    Warns
    -----
    SmallGroupWarning
        A scale × group has no score, so its percentages are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from evalkit.psychometrics import floor_ceiling
    >>> scores = pd.DataFrame({"epds": [0, 0, 0, 5, 12, 30, 8, np.nan],
    ...                        "epds_3a": [0, 1, 2, 3, 4, 9, 9, 9]})
    >>> table = floor_ceiling(scores, instrument="epds")
    >>> print(table.drop(columns="instrument").round(1).to_string(index=False))
      scale group  n  floor_pct  ceiling_pct  floor_effect  ceiling_effect
       epds   all  7       42.9         14.3          True           False
    epds_3a   all  8       12.5         37.5         False            True
    """
    _check_frame(data, "floor_ceiling")
    spec = _instruments.get(instrument)
    if not (isinstance(threshold, (int, float)) and 0 <= threshold < 100):
        raise SpecificationError(f"threshold={threshold!r} must be a percentage in [0, 100), "
                                 "conventionally 15")
    if scale is None:
        scales = [sc for sc in spec.scales if sc.id in data.columns]
        if not scales:
            raise SpecificationError(f"scores has no {spec.id} scale column; expected one of "
                                     f"{', '.join(s.id for s in spec.scales)} (score the items with "
                                     "ek.score first)")
    else:
        scales = _select_scales(spec, scale, min_items=1)
        missing = [sc.id for sc in scales if sc.id not in data.columns]
        if missing:
            raise SpecificationError(f"score column(s) {', '.join(missing)} are not in scores; "
                                     f"columns named by scale id are expected (score the items "
                                     "with ek.score first)")
    groups = _groups(data, by)

    rows, empty = [], []
    for sc in scales:
        lo, hi = sc.range
        v = _numeric(data[sc.id], sc.id, ScoringError)
        _check_range(data.index, v, sc.id, lo, hi, what="score")
        for level, mask in groups:
            s = v[mask]
            s = s[~np.isnan(s)]
            if len(s) == 0:
                empty.append(f"{sc.id} × {level}")
            f_pct, c_pct = _pct(s, lo), _pct(s, hi)
            rows.append({"instrument": spec.id, "scale": sc.id, "group": level, "n": len(s),
                         "floor_pct": f_pct, "ceiling_pct": c_pct,
                         "floor_effect": pd.NA if len(s) == 0 else bool(f_pct > threshold),
                         "ceiling_effect": pd.NA if len(s) == 0 else bool(c_pct > threshold)})
    if empty:
        warnings.warn(f"no score to describe for {_first(empty)}; floor and ceiling are NaN",
                      SmallGroupWarning, stacklevel=2)
    out = _frame(rows, FLOOR_CEILING_COLUMNS, ints=("n",))
    for col in ("floor_effect", "ceiling_effect"):
        out[col] = out[col].astype("boolean")
    return out


# ====================================================================== argument checks
def _check_frame(data, fn: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{fn}() needs a pandas DataFrame with one row per questionnaire, "
                                 f"not {type(data).__name__}")


def _check_coding(coding) -> None:
    if coding not in _CODINGS:
        raise SpecificationError(f"coding={coding!r} is not known; use 'scored' (items hold scores) "
                                 "or 'position' (items hold option positions)")


def _select_scales(spec: Instrument, scale, *, min_items: int = 2) -> list[Scale]:
    """The requested scales in spec order; by default those with at least ``min_items`` items."""
    if scale is None:
        return [sc for sc in spec.scales if len(spec.scale_items(sc)) >= min_items]
    wanted = [scale] if isinstance(scale, str) else (
        list(scale) if isinstance(scale, Sequence) else [scale])
    if not wanted or not all(isinstance(s, str) for s in wanted):
        raise SpecificationError(f"scale={scale!r} must be a scale id or a list of them; scales of "
                                 f"{spec.id}: {', '.join(s.id for s in spec.scales)}")
    chosen = {spec.scale(s).id for s in wanted}  # an unknown id raises, listing the scales
    return [sc for sc in spec.scales if sc.id in chosen]


def _column_map(spec: Instrument, items) -> dict[int, str]:
    colmap = dict(zip(spec.items.numbers, spec.item_columns()))
    if items is None:
        return colmap
    if not isinstance(items, Mapping):
        raise SpecificationError(f"items= maps item numbers to columns, e.g. {{1: 'q1'}}, not "
                                 f"{type(items).__name__}")
    unknown = [k for k in items if k not in colmap]
    if unknown:
        raise SpecificationError(f"items= names item(s) {', '.join(map(str, unknown))} that "
                                 f"{spec.id} does not have; its items are 1..{spec.items.n}")
    colmap.update({k: str(c) for k, c in items.items()})
    return colmap


def _union_items(spec: Instrument, scales: list[Scale]) -> list[int]:
    used = {k for sc in scales for k in spec.scale_items(sc)}
    return [k for k in spec.items.numbers if k in used]


def _numeric(s: pd.Series, name: str, error) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        raise error(f"column {name!r} holds {int(bad.sum())} value(s) that are not numbers "
                    f"(rows {_first(list(s.index[bad.to_numpy()]))}, e.g. {s[bad].iloc[0]!r}); "
                    "recode them as numbers or NaN")
    return num.to_numpy(dtype=float, na_value=np.nan)


def _check_range(index: pd.Index, v: np.ndarray, name: str, lo: float, hi: float, *,
                 what: str) -> None:
    out = ~np.isnan(v) & ((v < lo) | (v > hi))
    if out.any():
        raise ScoringError(f"column {name!r} has {int(out.sum())} {what}(s) outside {lo:g}..{hi:g} "
                           f"(rows {_first(list(index[out]))}, e.g. {v[out][0]:g}); replace missing "
                           "codes such as -9 with NaN first, or check the instrument and coding")


def _item_values(data: pd.DataFrame, spec: Instrument, numbers: list[int], colmap: dict[int, str],
                 coding: str) -> pd.DataFrame:
    """Float item scores with item numbers as columns; reverse-keyed items reversed under 'position'."""
    missing = [colmap[k] for k in numbers if colmap[k] not in data.columns]
    if missing:
        raise SpecificationError(f"{spec.id} item column(s) {', '.join(missing)} are not in data; "
                                 "rename the columns or map item numbers to columns with "
                                 "items={number: column}")
    out = {}
    for k in numbers:
        v = _numeric(data[colmap[k]], colmap[k], ScoringError)
        lo, hi = spec.items.range_of(k)
        _check_range(data.index, v, colmap[k], lo, hi, what="value")
        if coding == "position" and k in spec.items.reverse:
            v = lo + hi - v
        out[k] = v
    return pd.DataFrame(out, columns=numbers)


def _groups(data: pd.DataFrame, by) -> list[tuple[object, np.ndarray]]:
    """(level, row mask) pairs in a deterministic order."""
    if by is None:
        return [(_ALL, np.ones(len(data), dtype=bool))]
    if not isinstance(by, str):
        raise SpecificationError(f"by= takes one column name or None, not {by!r}")
    if by not in data.columns:
        raise SpecificationError(f"by={by!r} is not a column of data; pass by=None to use all rows "
                                 "as one group, or name an existing column")
    col = data[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        levels = [c for c in col.cat.categories if c in present]
        codes = col.astype(object).to_numpy()
    else:
        codes = col.to_numpy(dtype=object)
        levels = list(pd.unique(col.dropna()))
        try:
            levels = sorted(levels)
        except TypeError:  # mixed types: keep the order of first appearance
            pass
    levels = [v.item() if isinstance(v, np.generic) else v for v in levels]
    return [(lvl, np.asarray(codes == lvl, dtype=bool)) for lvl in levels]


# ====================================================================== statistics
def _complete(x: np.ndarray) -> np.ndarray:
    return x[~np.isnan(x).any(axis=1)]


def _alpha(x: np.ndarray, confidence: float) -> tuple[float, float, float, str]:
    """Alpha and Feldt CI of complete rows ``x`` via pingouin; status 'ok', 'small' or 'constant'."""
    n, k = x.shape
    if n < 2 or k < 2:
        return np.nan, np.nan, np.nan, "small"
    if not np.var(x.sum(axis=1), ddof=1) > 0:
        return np.nan, np.nan, np.nan, "constant"
    import pingouin  # heavy: loaded on first use

    # rows are complete already: pingouin takes n from the frame *before* its own listwise deletion,
    # so passing incomplete rows would give the CI the wrong degrees of freedom
    alpha, ci = pingouin.cronbach_alpha(data=pd.DataFrame(x), ci=confidence, nan_policy="listwise")
    return float(alpha), float(ci[0]), float(ci[1]), "ok"


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else np.nan


def _pct(v: np.ndarray, at: float) -> float:
    return float(100.0 * np.isclose(v, at).sum() / len(v)) if len(v) else np.nan


def _first(things: list, n: int = 5) -> str:
    shown = ", ".join(map(str, things[:n]))
    return shown + (f" and {len(things) - n} more" if len(things) > n else "")


def _frame(rows: list[dict], columns: list[str], *, ints: tuple[str, ...]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=columns)
    for col in ints:
        out[col] = out[col].astype("int64")
    return out
