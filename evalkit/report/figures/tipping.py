"""Tipping-point figure: the pooled estimate as imputed scores are shifted by delta.

Drawn from the (protected) tipping-point table: estimates and intervals per delta.
"""

from __future__ import annotations

import math


from .base import OKABE_ITO, ReportFigure, _figure, _literal, _name, _need_columns, _styled

__all__ = ["draw_tipping", "tipping_figure"]


def draw_tipping(ax, table, *, tipping_delta=None, null: float = 0.0, confidence: float = 0.95,
                 xlabel: str = "delta: shift of imputed end scores (points)",
                 ylabel: str = "pooled estimate"):
    """Draw estimate and CI band against delta, the null line and the tipping delta; return ``ax``."""
    _need_columns(table, ["delta", "estimate", "ci_low", "ci_high"], "draw_tipping", "table")
    tab = table.dropna(subset=["estimate"]).sort_values("delta")
    x = tab["delta"].to_numpy(float)
    colour = OKABE_ITO["blue"]
    ax.plot(x, tab["estimate"].to_numpy(float), marker="o", ms=3, color=colour,
            label="pooled estimate")
    ax.fill_between(x, tab["ci_low"].to_numpy(float), tab["ci_high"].to_numpy(float), alpha=0.2,
                    color=colour, label=f"{confidence:.0%} CI")
    ax.axhline(null, color="grey", ls="--", lw=1)
    if tipping_delta is not None and math.isfinite(tipping_delta):
        ax.axvline(tipping_delta, color=OKABE_ITO["vermillion"], ls=":", lw=1.5,
                   label=f"tipping point ({tipping_delta:g})")
    ax.set_xlabel(_literal(xlabel))
    ax.set_ylabel(_literal(ylabel))
    ax.legend(loc="best", fontsize="small")
    return ax


@_styled
def tipping_figure(table, *, name: str | None = None) -> ReportFigure:
    """The tipping-point figure from the tipping-point table (``holds`` marks the conclusion).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import tipping_figure
    >>> t = pd.DataFrame({"delta": [0, -2, -4], "estimate": [4.0, 2.0, 0.5],
    ...                   "ci_low": [2.5, 0.4, -1.2], "ci_high": [5.5, 3.6, 2.2],
    ...                   "holds": ["yes", "yes", "no"]})
    >>> print(tipping_figure(t).alt)
    Tipping point: the pooled estimate falls from 4.0 at delta 0 to 0.5 at delta -4; the conclusion no longer holds from delta -4.
    """
    fig = _figure(4.2)
    ax = fig.add_subplot()
    shown = table.dropna(subset=["estimate"])
    tip = None
    if "holds" in shown.columns:
        fails = shown[shown["holds"].astype(str).isin(["no", "False"])]
        tip = float(fails["delta"].iloc[0]) if len(fails) else None
    draw_tipping(ax, shown, tipping_delta=tip)
    fig.tight_layout()
    if len(shown):
        first, last = shown.iloc[0], shown.iloc[-1]
        moved = "falls" if last["estimate"] < first["estimate"] else "rises"
        alt = (f"Tipping point: the pooled estimate {moved} from {first['estimate']:.1f} at delta "
               f"{first['delta']:g} to {last['estimate']:.1f} at delta {last['delta']:g}; "
               + (f"the conclusion no longer holds from delta {tip:g}." if tip is not None else
                  "the conclusion holds over every delta tried."))
    else:
        alt = "Tipping point: the estimates are not shown (protects a small group)."
    cols = [c for c in ("delta", "estimate", "ci_low", "ci_high", "holds") if c in table.columns]
    return ReportFigure(name=_name(name, "tipping_point"), figure=fig, alt=alt, data=table[cols])
