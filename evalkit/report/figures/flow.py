"""CONSORT-style participant flow: one box per stage, notes beside them."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from ...errors import SpecificationError
from .. import format as fmt
from .base import (HIDDEN, IMPROVED, LITERAL, NOTE, PEOPLE, WIDTH, ReportFigure, _check_threshold,
                   _clip, _figure, _hidden_caption, _name, _need_columns, _need_frame, _numbers,
                   _styled)

_STEP, _BOX_X, _BOX_W, _BOX_H = 0.95, 0.3, 3.4, 0.62


def _flow_table(flow, *, threshold, where) -> pd.DataFrame:
    flow = _need_frame(flow, where, "flow")
    _need_columns(flow, ["stage", "n", "percent_of_referred", "note"], where, "flow")
    if flow.empty:
        raise SpecificationError(f"{where}: the flow table has no rows")
    n = _numbers(flow["n"])
    hidden = ~np.isfinite(n)
    if threshold is not None:
        hidden |= (n > 0) & (n < threshold)
    return pd.DataFrame({
        "stage": flow["stage"].astype(str).to_numpy(),
        "n": np.where(hidden, np.nan, n),
        "percent_of_referred": np.where(hidden, np.nan, _numbers(flow["percent_of_referred"])),
        "note": flow["note"].astype(object).where(flow["note"].notna(), "").astype(str).to_numpy(),
        "status": np.where(hidden, HIDDEN, "shown")})


def _height(k: int) -> float:
    return 0.3 + (k - 1) * _STEP + _BOX_H


def draw_flow(ax, flow, *, threshold: int | None = None):
    """Draw the flow boxes on ``ax`` (axis off; one inch per data unit across ``WIDTH``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Best the whole figure (``fig.add_axes((0, 0, 1, 1))``), ``WIDTH`` wide and
        ``0.3 + 0.95 (k - 1) + 0.62`` inches tall for ``k`` stages.
    flow : pandas.DataFrame
        ``stage, n, percent_of_referred, note`` (e.g. :func:`evalkit.attrition.participant_flow`);
        NaN ``n`` is hidden.
    threshold : int, optional
        Visible counts from 1 to ``threshold - 1`` are hidden too.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_flow
    >>> flow = pd.DataFrame({"stage": ["referred", "started"], "n": [200, None],
    ...                      "percent_of_referred": [100.0, None], "note": ["", ""]})
    >>> ax = draw_flow(Figure().add_axes((0, 0, 1, 1)), flow)
    >>> [t.get_text() for t in ax.texts if t.get_text().startswith("n ")]
    ['n = 200', 'n not shown (protects a small group)']
    """
    table = _flow_table(flow, where="draw_flow",
                        threshold=_check_threshold(threshold, "draw_flow", optional=True))
    k = len(table)
    height = _height(k)
    ax.set_axis_off()
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(height, 0)
    bx, bw, bh = _BOX_X, _BOX_W, _BOX_H
    if not any(table["note"]):
        # no notes beside the boxes: wide boxes in the middle, so stage names fit on one line
        bw = WIDTH - 2 * _BOX_X
    chars = int(bw * 13)          # about 13 bold 10-point characters per inch
    for i, r in enumerate(table.itertuples(index=False)):
        top = 0.15 + i * _STEP
        ax.add_patch(FancyBboxPatch((bx, top), bw, bh, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor="#EAF2F8", edgecolor=IMPROVED, linewidth=1.2))
        if r.status != "shown":
            count = f"n {HIDDEN}"
        else:
            count = f"n = {fmt.count(r.n)}"
            if np.isfinite(r.percent_of_referred) and i > 0:
                count += f" ({fmt.percent(r.percent_of_referred, scale=100)} of referred)"
        stage = r.stage[:1].upper() + r.stage[1:]
        ax.text(bx + bw / 2, top + bh * 0.32, _clip(stage, chars), ha="center", va="center",
                fontweight="bold", fontsize=10, **LITERAL)
        ax.text(bx + bw / 2, top + bh * 0.72, count, ha="center", va="center", fontsize=9.5,
                style="italic" if r.status != "shown" else "normal", **LITERAL)
        if r.note:
            ax.text(bx + bw + 0.25, top + bh / 2, textwrap.fill(r.note, 38), ha="left",
                    va="center", fontsize=9, color=NOTE, **LITERAL)
        if i < k - 1:
            ax.annotate("", xy=(bx + bw / 2, top + _STEP), xytext=(bx + bw / 2, top + bh),
                        arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.2))
    return ax


@_styled
def flow_figure(flow, *, threshold: int = 5, name: str | None = None) -> ReportFigure:
    """CONSORT-style participant flow: one box per stage, notes beside them.

    Parameters
    ----------
    flow : pandas.DataFrame
        ``stage, n, percent_of_referred, note`` (e.g. from ``evalkit.attrition.participant_flow``,
        after disclosure control); NaN ``n`` reads "n not shown (protects a small group)".
    threshold : int
        Visible counts below it (other than 0) are hidden too.
    name : str, optional
        File stem; default ``"flow"``.

    Returns
    -------
    ReportFigure
        ``data``: ``stage, n, percent_of_referred, note, status`` with hidden counts blank.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import flow_figure
    >>> flow = pd.DataFrame({"stage": ["referred", "started", "completed end"], "n": [200, 150, 96],
    ...                      "percent_of_referred": [100.0, 75.0, 48.0], "note": ["", "", ""]})
    >>> print(flow_figure(flow).alt)
    Participant flow: of 200 mothers referred, 96 (48%) reached the last stage (completed end).
    Stages: referred 200; started 150 (75%); completed end 96 (48%).
    """
    where = "flow_figure"
    threshold = _check_threshold(threshold, where)
    table = _flow_table(flow, threshold=threshold, where=where)
    fig = _figure(_height(len(table)))
    draw_flow(fig.add_axes((0, 0, 1, 1)), flow, threshold=threshold)
    alt = _flow_alt(table)
    caption = ("Participant flow from referral to the last questionnaire; percentages are of "
               "those referred." + _hidden_caption((table["status"] != "shown").any()))
    return ReportFigure(_name(name, "flow"), fig, alt, table, caption)


def _flow_alt(table):
    def pct(r):
        p = r["percent_of_referred"]
        return "" if fmt.is_missing(p) else f" ({fmt.percent(p, scale=100)})"

    def stage(r, first=False):
        if r["status"] != "shown":
            return f"{r['stage']}: {HIDDEN}"
        return f"{r['stage']} {fmt.count(r['n'])}" + ("" if first else pct(r))

    first = table.iloc[0]
    shown = table.iloc[1:].loc[table["status"].iloc[1:] == "shown"]
    last = shown.iloc[-1] if len(shown) else None
    if first["status"] == "shown" and last is not None:
        msg = (f"Participant flow: of {fmt.count(first['n'])} {PEOPLE} {first['stage']}, "
               f"{fmt.count(last['n'])}{pct(last)}"
               + (f" reached the last stage ({last['stage']})." if last.name == table.index[-1]
                  else f" reached {last['stage']}, the last stage with a count shown."))
    else:
        msg = "Participant flow."
    stages = "; ".join(stage(r, i == 0) for i, (_, r) in enumerate(table.iterrows()))
    return f"{msg} Stages: {stages}."
