"""Dose–response figure: predicted change against sessions attended, with its confidence band.

Drawn from the model's prediction grid only: no rug of the sessions individual mothers attended
(the model's own ``DoseResponse.plot`` may add one for the analyst; the report never does).
"""

from __future__ import annotations

import numpy as np

from .. import format as fmt
from .base import OKABE_ITO, ReportFigure, _figure, _literal, _name, _need_columns, _styled

__all__ = ["draw_dose", "dose_figure"]


def draw_dose(ax, curve, *, sessions_label: str = "Sessions attended",
              change_label: str = "Predicted change (points)", rug=None):
    """Draw the predicted change over sessions with its band and the zero line; return ``ax``.

    ``curve`` has ``sessions, estimate, ci_low, ci_high`` (rows with a missing estimate are not
    drawn). ``rug`` (the analyst's own plot only) marks individual values on the x axis.
    """
    _need_columns(curve, ["sessions", "estimate", "ci_low", "ci_high"], "draw_dose", "curve")
    c = curve.dropna(subset=["estimate"]).sort_values("sessions")
    x = c["sessions"].to_numpy(float)
    colour = OKABE_ITO["blue"]
    ax.fill_between(x, c["ci_low"].to_numpy(float), c["ci_high"].to_numpy(float), color=colour,
                    alpha=0.2, linewidth=0, label="95% CI")
    ax.plot(x, c["estimate"].to_numpy(float), color=colour, label="predicted change")
    ax.axhline(0.0, color="0.4", linewidth=0.8, linestyle=":")
    if rug is not None and len(rug):
        ax.plot(np.asarray(rug, float), np.full(len(rug), 0.02), "|", color="0.2", alpha=0.3,
                markersize=10, transform=ax.get_xaxis_transform(), label="participants")
    ax.set_xlabel(_literal(sessions_label))
    ax.set_ylabel(_literal(change_label))
    ax.legend(loc="best", fontsize="small")
    return ax


@_styled
def dose_figure(curve, *, effect=None, outcome: str, change=(0, 12), name: str | None = None
                ) -> ReportFigure:
    """The dose–response figure with alt text stating the extra change per session.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import dose_figure
    >>> curve = pd.DataFrame({"sessions": [0, 10], "estimate": [2.0, 5.0], "ci_low": [0.5, 3.0],
    ...                       "ci_high": [3.5, 7.0]})
    >>> effect = pd.DataFrame({"estimate": [0.3], "ci_low": [0.1], "ci_high": [0.5]})
    >>> print(dose_figure(curve, effect=effect, outcome="WEMWBS").alt)
    Dose–response: each extra session attended went with +0.30 points more change in WEMWBS over weeks 0 to 12 (95% CI 0.10 to 0.50); an association among mothers who started, not proof that more sessions cause more change.
    """
    fig = _figure(4.2)
    ax = fig.add_subplot()
    draw_dose(ax, curve, change_label=f"Predicted change in {outcome}, weeks {change[0]:g}–"
                                      f"{change[1]:g}")
    fig.tight_layout()
    alt = (f"Dose–response: predicted change in {outcome} by sessions attended; the estimate is not "
           "shown (protects a small group).")
    if effect is not None and len(effect):
        e = effect.iloc[0]
        if not fmt.is_missing(e["estimate"]):
            alt = (f"Dose–response: each extra session attended went with "
                   f"{fmt.signed(e['estimate'], 2)} points more change in {outcome} over weeks "
                   f"{change[0]:g} to {change[1]:g} (95% CI {fmt.interval(e['ci_low'], e['ci_high'], 2)}); "
                   "an association among mothers who started, not proof that more sessions cause "
                   "more change.")
    cols = [c for c in ("sessions", "estimate", "ci_low", "ci_high") if c in curve.columns]
    return ReportFigure(name=_name(name, "dose_response"), figure=fig, alt=alt, data=curve[cols])
