"""Normal QQ plot drawn from a few quantiles, so that no individual value is plotted.

With ``n`` values and disclosure threshold ``T`` the plot shows at most
``min(99, floor(n / T) - 1)`` sample quantiles at probabilities ``p_k = k / (m + 1)``: at least
``T`` values lie below the first, above the last and (roughly) between neighbours. Sample quantiles
are R's type 7 (numpy's ``"linear"``), theoretical ones ``scipy.stats.norm.ppf(p_k)``; the
reference line passes through the quartiles, as R's ``qqline``. With ``m < 3`` nothing is drawn.

Type 7 puts the quantile at ``p`` exactly on the sorted value number ``1 + (n - 1) p``
whenever that is a whole number: with ``n = 101`` and ``m = 19`` every quantile would be one
mother's value. So ``m`` is lowered from that maximum to the largest value with ``n - 1`` and
``m + 1`` coprime; then ``(n - 1) k / (m + 1)`` is never whole and every plotted quantile lies
strictly between two sorted values (it equals an input value only where those two are tied).

Examples
--------
>>> from evalkit.report.figures.qq import n_quantiles
>>> n_quantiles(1000, 5), n_quantiles(101, 5), n_quantiles(19, 5)
(99, 18, 0)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import SpecificationError
from .. import format as fmt
from .base import (DETERIORATED, LITERAL, NOTE, OKABE_ITO, ReportFigure, _check_threshold,
                   _figure, _in_sentence, _need_columns, _need_frame, _short, _styled)

_COLUMNS = ["probability", "theoretical", "sample", "reference"]
MAX_POINTS = 99


def n_quantiles(n: int, threshold: int) -> int:
    """How many quantiles a QQ plot of ``n`` values shows (0: too few to show any).

    The largest ``m <= min(99, floor(n / threshold) - 1)`` with ``gcd(n - 1, m + 1) = 1``, so no
    quantile falls exactly on one value; 0 when that is below 3.

    >>> n_quantiles(200, 5), n_quantiles(1001, 5), n_quantiles(20, 5)
    (39, 98, 3)
    """
    m = min(MAX_POINTS, n // threshold - 1)
    while m >= 3 and math.gcd(n - 1, m + 1) != 1:
        m -= 1
    return m if m >= 3 else 0


def qq_table(values, *, threshold: int = 5) -> pd.DataFrame:
    """The points of a normal QQ plot of ``values``: quantiles only, never an individual value.

    Parameters
    ----------
    values : array-like
        Residuals or predicted random effects; missing values are left out.
    threshold : int
        The disclosure threshold (:func:`n_quantiles`).

    Returns
    -------
    pandas.DataFrame
        ``probability`` (``k / (m + 1)``), ``theoretical`` (``norm.ppf``), ``sample`` (type 7
        sample quantile), ``reference`` (R's ``qqline`` through the quartiles, at the
        theoretical quantile); no rows when there are too few values.

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.report.figures.qq import qq_table
    >>> v = np.arange(40.0)
    >>> t = qq_table(v, threshold=5)
    >>> len(t), t["probability"].tolist()[:3], t["sample"].tolist()[:3]
    (7, [0.125, 0.25, 0.375], [4.875, 9.75, 14.625])
    >>> bool(t["sample"].isin(v).any())
    False
    """
    where = "qq_table"
    threshold = _check_threshold(threshold, where)
    try:
        v = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise SpecificationError(f"{where}: values must be numbers (residuals or random effects)") \
            from None
    v = v[np.isfinite(v)]
    m = n_quantiles(len(v), threshold)
    if m < 3:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in _COLUMNS})
    p = np.arange(1, m + 1) / (m + 1)
    sample = np.quantile(v, p, method="linear")
    q = stats.norm.ppf(p)
    yq = np.quantile(v, [0.25, 0.75], method="linear")
    xq = stats.norm.ppf([0.25, 0.75])
    slope = (yq[1] - yq[0]) / (xq[1] - xq[0])
    intercept = yq[0] - slope * xq[0]
    return pd.DataFrame({"probability": p, "theoretical": q, "sample": sample,
                         "reference": intercept + slope * q})


def _tails(table: pd.DataFrame) -> list[str]:
    """How the outermost quantiles depart from the line, in units of its slope (an SD for normal
    data); a quarter of that counts as a departure."""
    q, ref, y = (table[c].to_numpy(float) for c in ("theoretical", "reference", "sample"))
    slope = (ref[-1] - ref[0]) / (q[-1] - q[0]) if q[-1] > q[0] else 0.0
    if not slope > 0:
        return []
    low, high = (y[0] - ref[0]) / slope, (y[-1] - ref[-1]) / slope
    out = []
    if low <= -0.25:
        out.append("a longer lower tail")
    elif low >= 0.25:
        out.append("a shorter lower tail")
    if high >= 0.25:
        out.append("a longer upper tail")
    elif high <= -0.25:
        out.append("a shorter upper tail")
    return out


def _too_few(label: str) -> str:
    return (f"Too few {_in_sentence(_short(label))} values to draw a QQ plot without showing "
            "individuals")


def draw_qq(ax, quantiles, *, label: str | None = None):
    """Draw sample against normal quantiles and the quartile reference line on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    quantiles : pandas.DataFrame
        ``theoretical, sample, reference`` (the ``data`` of :func:`qq_figure`). No rows: a centred
        note says there are too few values to draw without showing individuals.
    label : str, optional
        What the values are, with units (y axis).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_qq
    >>> q = pd.DataFrame({"theoretical": [-1.0, 0.0, 1.0], "sample": [-1.2, 0.1, 0.9],
    ...                   "reference": [-1.0, 0.0, 1.0]})
    >>> len(draw_qq(Figure().subplots(), q, label="Residual").lines)
    2
    """
    quantiles = _need_frame(quantiles, "draw_qq", "quantiles")
    _need_columns(quantiles, ["theoretical", "sample", "reference"], "draw_qq", "quantiles")
    ax.set_xlabel("Theoretical normal quantile")
    if label:
        ax.set_ylabel(label, **LITERAL)
    if quantiles.empty:
        ax.text(0.5, 0.5, _too_few(label or "") + ".", transform=ax.transAxes, ha="center",
                va="center", style="italic", color=NOTE, wrap=True, **LITERAL)
        ax.set_axis_off()
        return ax
    q = quantiles["theoretical"].to_numpy(float)
    ax.plot(q, quantiles["sample"].to_numpy(float), "o", color=OKABE_ITO["blue"], markersize=4.5,
            label="sample quantiles")
    ax.plot(q, quantiles["reference"].to_numpy(float), color=DETERIORATED, lw=1.4, ls="--",
            label="normal reference (quartiles)")
    ax.legend(loc="upper left")
    return ax


@_styled
def qq_figure(values, *, label: str, name: str, threshold: int = 5) -> ReportFigure:
    """Normal QQ plot of quantiles (never individual values), with R's ``qqline`` reference.

    Parameters
    ----------
    values : array-like or pandas.DataFrame
        Residuals or predicted random effects; missing values are left out (counted in the
        caption). They are summarised into at most 99 quantiles (:func:`qq_table`), with at
        least ``threshold`` values below the first, above the last and between neighbours. Or
        the (published) table of :func:`qq_table` itself; then the alt text describes the tails
        against the line instead of skewness and kurtosis.
    label : str
        What the values are, with units, e.g. ``"Residual (WEMWBS points)"``.
    name : str
        File stem, e.g. ``"qq_residuals_wemwbs"``.
    threshold : int
        The disclosure threshold: at most ``min(99, floor(n / threshold) - 1)`` quantiles are
        drawn, none when that is below 3 (fewer than ``4 * threshold`` values).

    Returns
    -------
    ReportFigure
        ``data``: ``probability`` (``k / (m + 1)``), ``theoretical`` (normal quantile),
        ``sample`` (type 7 sample quantile), ``reference`` (the line at the theoretical quantile);
        no rows when nothing is drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.report.figures import qq_figure
    >>> v = np.random.default_rng(1).normal(size=200)
    >>> fig = qq_figure(v, label="Residual (points)", name="qq_residuals")
    >>> print(fig.alt)
    Normal QQ plot of 39 quantiles of 200 residual values: points lie close to the line,
    consistent with a normal distribution (skewness -0.07, excess kurtosis 0.54; both 0 for a
    normal distribution).
    >>> print(qq_figure(v[:12], label="Residual (points)", name="qq_small").alt)
    Too few residual values to draw a QQ plot without showing individuals (12 values).
    >>> from evalkit.report.figures.qq import qq_table
    >>> print(qq_figure(qq_table(v), label="Residual (points)", name="qq_table").alt)
    Normal QQ plot of 39 quantiles of residual values: points lie close to the line, consistent
    with a normal distribution. The points run from the 2.5% to the 97.5% quantile.
    """
    where = "qq_figure"
    threshold = _check_threshold(threshold, where)
    n = n_missing = None
    if isinstance(values, pd.DataFrame):
        _need_columns(values, _COLUMNS, where, "the quantile table")
        data = values[_COLUMNS].apply(pd.to_numeric, errors="coerce").dropna().reset_index(
            drop=True)
        if len(data) > MAX_POINTS:
            raise SpecificationError(f"{where}: a QQ table has at most {MAX_POINTS} quantiles "
                                     f"(see qq_table), got {len(data)} rows")
    else:
        try:
            v = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            raise SpecificationError(f"{where}: values must be numbers (residuals or random "
                                     "effects) or the table of qq_table()") from None
        n_missing = int(np.isnan(v).sum())
        v = v[np.isfinite(v)]
        n = len(v)
        data = qq_table(v, threshold=threshold)
    fig = _figure(4.3, layout="constrained")
    draw_qq(fig.subplots(), data, label=label)
    what = _in_sentence(_short(label))
    left_out = f" {fmt.count(n_missing)} missing value(s) left out." if n_missing else ""
    if data.empty:
        alt = _too_few(label) + ("." if n is None else f" ({fmt.count(n)} values).")
        caption = ("No QQ plot: there are too few values to draw one without showing "
                   "individuals." + left_out)
        return ReportFigure(name, fig, alt, data, caption)
    of = f"{len(data)} quantiles of" + ("" if n is None else f" {fmt.count(n)}")
    if n is None:        # a protected table: describe the tails against the line
        shape = _tails(data)
        msg = ("points lie close to the line, consistent with a normal distribution" if not shape
               else "compared with a normal distribution the values have "
               + " and ".join(shape))
        p = data["probability"]
        alt = (f"Normal QQ plot of {of} {what} values: {msg}. The points run from the "
               f"{fmt.percent(p.iat[0], digits=1)} to the {fmt.percent(p.iat[-1], digits=1)} "
               "quantile.")
    else:
        skew = float(stats.skew(v))
        kurt = float(stats.kurtosis(v))
        shape = []
        if skew >= 0.5:
            shape.append("right-skewed (long upper tail)")
        elif skew <= -0.5:
            shape.append("left-skewed (long lower tail)")
        if kurt >= 1:
            shape.append("heavier-tailed than normal")
        elif kurt <= -1:
            shape.append("lighter-tailed than normal")
        msg = ("points lie close to the line, consistent with a normal distribution" if not shape
               else "the distribution is " + " and ".join(shape))
        alt = (f"Normal QQ plot of {of} {what} values: {msg} (skewness {fmt.number(skew, 2)}, "
               f"excess kurtosis {fmt.number(kurt, 2)}; both 0 for a normal distribution).")
    caption = (f"{len(data)} evenly spaced quantiles of the {what} values against normal "
               "quantiles; the dashed line passes through the quartiles. Individual values are "
               "not plotted." + left_out)
    return ReportFigure(name, fig, alt, data, caption)
