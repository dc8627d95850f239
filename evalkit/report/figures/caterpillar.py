"""Caterpillar plot of predicted random effects (BLUPs) with intervals, one row per level.

RESTRICTED OUTPUT ONLY. Unlike every other figure in this package, a caterpillar plot shows one
estimate per named unit (a volunteer, a site): it is for supervision and training inside the
charity, and the pipeline writes it to the restricted folder only, never to the report folder (a
published ranking of volunteers is not what the charity wants; volunteers are people too).

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.figures.caterpillar import caterpillar_figure
>>> b = pd.DataFrame({"level": ["V1", "V2", "V3"], "term": "Intercept",
...                   "blup": [-1.0, 0.2, 1.5], "ci_low": [-2.5, -1.0, 0.1],
...                   "ci_high": [0.5, 1.4, 2.9], "rows": [6, 9, 3]})
>>> fig = caterpillar_figure(b, label="WEMWBS points", unit="volunteer", name="cat")
>>> print(fig.alt)
Predicted random effects of 3 volunteers (WEMWBS points) with 95% intervals, ordered from lowest
to highest (-1.0 to 1.5); the interval of 1 of them lies wholly above or below 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import SpecificationError
from .. import format as fmt
from .base import LITERAL, NOTE, PALETTE, ReportFigure, _figure, _need_columns, _need_frame, _styled

__all__ = ["caterpillar_figure"]

_COLUMNS = ["level", "term", "blup", "ci_low", "ci_high"]


@_styled
def caterpillar_figure(blups: pd.DataFrame, *, label: str, unit: str, name: str,
                       term: str | None = None) -> ReportFigure:
    """Each level's BLUP as a point with its interval, sorted, with a line at 0.

    Parameters
    ----------
    blups : pandas.DataFrame
        :func:`evalkit.models.variance_share.level_blups`: ``level, term, blup, ci_low, ci_high``.
    label : str
        What the effects are, with units (x axis), e.g. ``"WEMWBS points"``.
    unit : str
        What a level is, singular (``"volunteer"``), for the alt text.
    name : str
        File stem.
    term : str, optional
        Which term to draw (default: the first, usually ``Intercept``).

    Returns
    -------
    ReportFigure
        ``data``: the rows drawn, in drawing order.
    """
    where = "caterpillar_figure"
    blups = _need_frame(blups, where, "blups")
    _need_columns(blups, _COLUMNS, where, "the BLUP table")
    if not len(blups):
        raise SpecificationError(f"{where}: the BLUP table has no rows")
    term = blups["term"].iloc[0] if term is None else term
    data = blups[blups["term"] == term].sort_values("blup", kind="stable").reset_index(drop=True)
    n = len(data)
    fig = _figure(max(2.0, 0.6 + 0.12 * n))
    ax = fig.add_subplot()
    y = np.arange(n)
    has_ci = data["ci_low"].notna() & data["ci_high"].notna()
    ax.hlines(y[has_ci], data.loc[has_ci, "ci_low"], data.loc[has_ci, "ci_high"],
              color=PALETTE[0], linewidth=1)
    ax.plot(data["blup"], y, "o", color=PALETTE[0], markersize=3)
    ax.axvline(0, color=NOTE, linewidth=0.8, linestyle="--")
    ax.set_yticks(y, [str(v) for v in data["level"]], fontsize=max(4, 8 - n // 40))
    ax.set_xlabel(label, **LITERAL)
    ax.set_ylabel(f"{unit.capitalize()}s, ordered", **LITERAL)
    clear = int(((data["ci_low"] > 0) | (data["ci_high"] < 0)).sum())
    alt = (f"Predicted random effects of {fmt.count(n)} {unit}s ({label}) with 95% intervals, "
           f"ordered from lowest to highest ({fmt.number(data['blup'].min())} to "
           f"{fmt.number(data['blup'].max())}); the interval of {fmt.count(clear)} of them lies "
           f"wholly above or below 0.")
    caption = (f"Each point is a {unit}'s predicted random effect ({term}), shrunk towards 0 "
               f"for {unit}s with few scores; bars are approximate 95% intervals. Restricted: "
               f"for supervision and training, not for publication or ranking.")
    return ReportFigure(name=name, figure=fig, alt=alt, data=data, caption=caption)
