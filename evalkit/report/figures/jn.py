"""Johnson–Neyman figure: a conditional effect across a numeric moderator, and where its CI excludes 0.

Only the model's curve and its boundaries are drawn: no rug or histogram of individual moderator
values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import SpecificationError
from .. import format as fmt
from .base import (DETERIORATED, LITERAL, OKABE_ITO, ReportFigure, _capital, _estimate_ci,
                   _figure, _in_sentence, _name, _need_columns, _runs, _short, _slug, _styled)


def _jn_parts(curve, bounds, moderator, observed_range, where):
    for what, obj in (("curve", curve), ("bounds", bounds)):
        if not isinstance(obj, pd.DataFrame):
            raise SpecificationError(f"{where}: {what} must be the .{what} DataFrame of the result "
                                     f"of johnson_neyman(), got {type(obj).__name__}")
    _need_columns(curve, [moderator, "estimate", "ci_low", "ci_high"], where, "curve")
    _need_columns(bounds, ["moderator_value", "inside_data"], where, "bounds")
    try:
        lo, hi = (float(v) for v in observed_range)
    except (TypeError, ValueError):
        raise SpecificationError(f"{where}: observed_range must be (low, high), got "
                                 f"{observed_range!r}") from None
    c = curve.sort_values(moderator, kind="mergesort")
    x = c[moderator].to_numpy(float)
    sig = (c["significant"].to_numpy(bool) if "significant" in c.columns
           else ((c["ci_low"] > 0) | (c["ci_high"] < 0)).to_numpy())
    inside = (bounds.loc[bounds["inside_data"].astype(bool), "moderator_value"].to_numpy(float)
              if len(bounds) else np.array([]))
    regions = []
    for i, j in _runs(sig):
        a = x[i] if i == 0 else _nearest(inside, x[i - 1], x[i])
        z = x[j] if j == len(x) - 1 else _nearest(inside, x[j], x[j + 1])
        regions.append((a, z, i == 0, j == len(x) - 1))
    return c, x, sig, inside, regions, (lo, hi)


def _nearest(bounds: np.ndarray, a: float, b: float) -> float:
    """A Johnson–Neyman boundary between two grid points, else their midpoint."""
    m = bounds[(bounds >= min(a, b)) & (bounds <= max(a, b))]
    return float(m[0]) if len(m) else (a + b) / 2


def draw_jn(ax, curve, bounds, *, moderator: str, observed_range, confidence: float = 0.95,
            moderator_label: str | None = None, effect_label: str | None = None):
    """Draw a conditional-effect curve, its CI band, the 0 line and the Johnson–Neyman regions.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    curve : pandas.DataFrame
        ``JohnsonNeyman.curve``: the ``moderator`` column, ``estimate, ci_low, ci_high`` and
        optionally ``significant``.
    bounds : pandas.DataFrame
        ``JohnsonNeyman.bounds``: ``moderator_value, inside_data``.
    moderator : str
        The moderator column of ``curve``.
    observed_range : (float, float)
        x limits.
    confidence : float
    moderator_label, effect_label : str, optional
        x and y axis labels.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_jn
    >>> w = np.linspace(0, 10, 11)
    >>> curve = pd.DataFrame({"isolation": w, "estimate": 6 - 0.6 * w, "ci_low": 4 - 0.6 * w,
    ...                       "ci_high": 8 - 0.6 * w})
    >>> bounds = pd.DataFrame({"moderator_value": [6.67], "inside_data": [True]})
    >>> ax = draw_jn(Figure().subplots(), curve, bounds, moderator="isolation",
    ...              observed_range=(0, 10))
    >>> [t.get_text() for t in ax.texts]
    ['6.67']
    """
    c, x, _, inside, regions, (lo, hi) = _jn_parts(curve, bounds, moderator, observed_range,
                                                   "draw_jn")
    conf = int(round(confidence * 100))
    for k, (a, z, _, _) in enumerate(regions):
        ax.axvspan(a, z, color=OKABE_ITO["orange"], alpha=0.15, lw=0,
                   label=f"{conf}% CI excludes 0" if k == 0 else None)
    ax.fill_between(x, c["ci_low"].to_numpy(float), c["ci_high"].to_numpy(float),
                    color=OKABE_ITO["sky_blue"], alpha=0.45, lw=0, label=f"{conf}% CI")
    ax.plot(x, c["estimate"].to_numpy(float), color=OKABE_ITO["blue"], lw=2, label="estimate")
    ax.axhline(0, color="black", lw=0.9)
    for v in inside:
        ax.axvline(v, color=DETERIORATED, ls="--", lw=1.2)
        ax.annotate(fmt.number(v, 2), (v, 1.0), xycoords=("data", "axes fraction"), ha="center",
                    va="bottom", fontsize=9, color=DETERIORATED, **LITERAL)
    if hi > lo:
        ax.set_xlim(lo, hi)
    ax.set_xlabel(moderator_label or str(moderator), **LITERAL)
    effect = effect_label or "effect"
    ax.set_ylabel(f"{_capital(effect)}\n({conf}% CI)", **LITERAL)
    ax.legend(loc="best")
    return ax


@_styled
def jn_figure(curve, bounds, *, moderator: str, observed_range, confidence: float = 0.95,
              label: str, moderator_label: str, effect_label: str | None = None,
              name: str | None = None) -> ReportFigure:
    """The conditional effect across a numeric moderator, with the region where its CI excludes 0.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``JohnsonNeyman.curve`` from :func:`evalkit.models.moderation.johnson_neyman`: the
        ``moderator`` column, ``estimate, ci_low, ci_high`` and ``significant``.
    bounds : pandas.DataFrame
        ``JohnsonNeyman.bounds``: ``moderator_value, inside_data``.
    moderator : str
        The moderator column of ``curve``.
    observed_range : (float, float)
        The range of the moderator the model saw (``JohnsonNeyman.observed_range``).
    confidence : float
    label : str
        The outcome with units, e.g. ``"WEMWBS (14–70, higher = better)"``.
    moderator_label : str
        The moderator with units, e.g. ``"Isolation score (0–10)"``.
    effect_label : str, optional
        What the effect is, e.g. ``"change in WEMWBS over 12 weeks"``; default ``"the effect on
        <outcome>"``.
    name : str, optional
        File stem; default ``"jn_<moderator>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``kind`` ("curve" or "boundary": the boundaries inside the observed range, which
        are drawn), ``moderator_value, estimate, ci_low, ci_high, significant``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.report.figures import jn_figure
    >>> w = np.linspace(0, 10, 11)
    >>> curve = pd.DataFrame({"isolation": w, "estimate": 6 - 0.6 * w, "ci_low": 4 - 0.6 * w,
    ...                       "ci_high": 8 - 0.6 * w})
    >>> curve["significant"] = (curve["ci_low"] > 0) | (curve["ci_high"] < 0)
    >>> bounds = pd.DataFrame({"moderator_value": [6.67], "inside_data": [True]})
    >>> fig = jn_figure(curve, bounds, moderator="isolation", observed_range=(0.0, 10.0),
    ...                 label="WEMWBS (14–70)", moderator_label="Isolation (0–10)")
    >>> print(fig.alt)
    The effect on WEMWBS was distinguishable from 0 (95% CI excludes 0) for isolation below 6.67;
    elsewhere the CI includes 0. The estimate was +6.0 (95% CI 4.0 to 8.0) at isolation 0.00 and
    0.0 (95% CI -2.0 to 2.0) at isolation 10.00.
    """
    where = "jn_figure"
    c, x, sig, inside, regions, (lo, hi) = _jn_parts(curve, bounds, moderator, observed_range,
                                                     where)
    if not len(c):
        raise SpecificationError(f"{where}: the curve has no rows")
    conf = int(round(confidence * 100))
    short, mshort = _short(label), _in_sentence(_short(moderator_label))
    effect_label = effect_label or f"the effect on {short}"
    fig = _figure(4.0, layout="constrained")
    draw_jn(fig.subplots(), curve, bounds, moderator=moderator, observed_range=(lo, hi),
            confidence=confidence, moderator_label=moderator_label, effect_label=effect_label)

    data = pd.concat([
        pd.DataFrame({"kind": "curve", "moderator_value": x,
                      "estimate": c["estimate"].to_numpy(float),
                      "ci_low": c["ci_low"].to_numpy(float), "ci_high": c["ci_high"].to_numpy(float),
                      "significant": sig}),
        pd.DataFrame({"kind": "boundary", "moderator_value": inside, "estimate": np.nan,
                      "ci_low": np.nan, "ci_high": np.nan, "significant": pd.NA})],
        ignore_index=True)
    data["significant"] = data["significant"].astype("boolean")

    def num(v):
        return fmt.number(v, 2)

    subject = _capital(effect_label)
    if not regions:
        alt = (f"{subject} was not distinguishable from 0 ({conf}% CI includes 0) anywhere in "
               f"the observed range of {mshort} ({num(lo)} to {num(hi)}).")
    else:
        parts = []
        for a, z, at_lo, at_hi in regions:
            if at_lo and at_hi:
                parts.append(f"across the whole observed range ({num(lo)} to {num(hi)})")
            elif at_lo:
                parts.append(f"below {num(z)}")
            elif at_hi:
                parts.append(f"above {num(a)}")
            else:
                parts.append(f"between {num(a)} and {num(z)}")
        whole = len(regions) == 1 and regions[0][2] and regions[0][3]
        alt = (f"{subject} was distinguishable from 0 ({conf}% CI excludes 0) for {mshort} "
               + " and ".join(parts) + ("." if whole else "; elsewhere the CI includes 0."))
    first, last = c.iloc[0], c.iloc[-1]
    ends = [f"{_estimate_ci(r['estimate'], r['ci_low'], r['ci_high'], conf=conf, signed=True)} "
            f"at {mshort} {num(v)}" for r, v in ((first, x[0]), (last, x[-1]))]
    alt += f" The estimate was {ends[0]} and {ends[1]}."
    caption = (f"{subject} across the observed range of {mshort}, with its {conf}% confidence band; "
               "shaded regions are where the band excludes 0 (Johnson–Neyman)"
               + ("; dashed lines mark the boundaries." if len(inside) else "."))
    return ReportFigure(_name(name, f"jn_{_slug(moderator)}"), fig, alt, data, caption)
