"""Reliable change: shares improved, unchanged and deteriorated per group, with Wilson CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from ...errors import SpecificationError
from .. import format as fmt
from .base import (DETERIORATED, HIDDEN, IMPROVED, LITERAL, NO_CHANGE, NOTE, PEOPLE, ReportFigure,
                   _check_threshold, _clip, _figure, _group_label, _hidden_caption,
                   _hidden_sentence, _hidden_status, _literal, _name, _need_columns, _need_frame,
                   _numbers, _share_ci, _short, _slug, _styled)

_RC = ("reliable_improvement", "no_reliable_change", "reliable_deterioration")
_RC_LABEL = {"reliable_improvement": "reliably improved", "no_reliable_change": "no reliable change",
             "reliable_deterioration": "reliably deteriorated"}
_RC_COLOUR = {"reliable_improvement": IMPROVED, "no_reliable_change": NO_CHANGE,
              "reliable_deterioration": DETERIORATED}
_COLUMNS = ["group", "outcome", "n", "count", "proportion", "ci_low", "ci_high", "status"]
_IMP_AT, _DET_AT = 26, 88            # share columns right of the axes, in points


def _rc_table(summary, *, threshold, where) -> pd.DataFrame:
    summary = _need_frame(summary, where, "summary")
    _need_columns(summary, ["group", "outcome", "n", "count", "proportion", "ci_low", "ci_high"],
                  where, "summary")
    s = summary.loc[summary["outcome"].isin(_RC)]
    if s.empty:
        raise SpecificationError(f"{where}: summary has no rows for {list(_RC)}; pass the output of "
                                 "evalkit.change.change_summary")
    s = s.assign(group=s["group"].astype(object).where(s["group"].notna(), "missing"))
    rows = []
    for g in pd.unique(s["group"]):
        sub = s.loc[s["group"] == g].set_index("outcome").reindex(list(_RC))
        n = np.nanmax(np.r_[_numbers(sub["n"]), -np.inf])
        n = n if np.isfinite(n) else np.nan
        counts, props = _numbers(sub["count"]), _numbers(sub["proportion"])
        lows, highs = _numbers(sub["ci_low"]), _numbers(sub["ci_high"])
        small_n = threshold is not None and not (np.isfinite(n) and n >= threshold)
        if n == 0:
            status = "no data (n = 0)"
        elif (("status" in sub.columns and sub["status"].map(_hidden_status).any()) or small_n
              or not np.isfinite(n) or np.isnan(counts).any() or np.isnan(props).any()):
            status = HIDDEN
        else:
            status = "shown"
        shown = status == "shown"
        for k, o in enumerate(_RC):
            rows.append({"group": g, "outcome": o, "n": np.nan if small_n and n != 0 else n,
                         "count": counts[k] if shown else np.nan,
                         "proportion": props[k] if shown else np.nan,
                         "ci_low": lows[k] if shown else np.nan,
                         "ci_high": highs[k] if shown else np.nan, "status": status})
    return pd.DataFrame(rows, columns=_COLUMNS)


def draw_reliable_change(ax, summary, *, threshold: int | None = None, label: str | None = None):
    """Draw one bar per group: improved from the left, deteriorated from the right, with CIs.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    summary : pandas.DataFrame
        ``group, outcome, n, count, proportion, ci_low, ci_high`` (and optionally ``status``) from
        :func:`evalkit.change.change_summary`.
    threshold : int, optional
        Groups with a visible n below it are hidden too (None: trust the input). A group with any
        hidden share is hidden whole (the others would give it away by subtraction).
    label : str, optional
        The instrument, for the x-axis label.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import evalkit as ek
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_reliable_change
    >>> res = ek.reliable_change([16, 16, 12, 15, 18, 20], [12, 19, 16, 10, 13, 15],
    ...                          instrument="epds")
    >>> ax = draw_reliable_change(Figure().subplots(), ek.change_summary(res), label="EPDS")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['all mothers (n = 6)']
    """
    table = _rc_table(summary, where="draw_reliable_change",
                      threshold=_check_threshold(threshold, "draw_reliable_change", optional=True))
    groups = list(pd.unique(table["group"]))
    k = len(groups)
    ys = np.arange(k)
    side = blended_transform_factory(ax.transAxes, ax.transData)

    def column(text, y, at, **kw):
        ax.annotate(text, (1, y), xycoords=side, xytext=(at, 0), textcoords="offset points",
                    ha="center", annotation_clip=False, **LITERAL, **kw)

    column("improved", -0.5, _IMP_AT, va="bottom", fontsize=9, color=NOTE)
    column("deteriorated", -0.5, _DET_AT, va="bottom", fontsize=9, color=NOTE)
    ticklabels = []
    for y, g in zip(ys, groups):
        t = table.loc[table["group"] == g].set_index("outcome")
        n = t["n"].iat[0]
        ticklabels.append(_literal(_clip(_group_label(g), 28)
                                   + ("" if np.isnan(n) else f" (n = {fmt.count(n)})")))
        status = t["status"].iat[0]
        if status != "shown":
            ax.text(0.01, y, status, va="center", ha="left", style="italic", color=NOTE,
                    transform=side, **LITERAL)
            continue
        p = t["proportion"]
        left_of = {"reliable_improvement": 0.0, "no_reliable_change": p["reliable_improvement"],
                   "reliable_deterioration": 1.0 - p["reliable_deterioration"]}
        for o in _RC:
            ax.barh(y, 100 * p[o], left=100 * left_of[o], height=0.62, color=_RC_COLOUR[o],
                    edgecolor="white", linewidth=0.8)
            if o == "no_reliable_change" and p[o] >= 0.07:
                ax.text(100 * (left_of[o] + p[o] / 2), y, fmt.percent(p[o]), ha="center",
                        va="center", fontsize=9, color="black", **LITERAL)
        # improvement and deterioration as numbers too, side by side with equal weight
        for at, o in ((_IMP_AT, "reliable_improvement"), (_DET_AT, "reliable_deterioration")):
            column(fmt.percent(p[o]), y, at, va="center", fontsize=9.5, fontweight="bold",
                   color=_RC_COLOUR[o])
        imp, det = t.loc["reliable_improvement"], t.loc["reliable_deterioration"]
        if np.isfinite([imp["ci_low"], imp["ci_high"]]).all():
            ax.errorbar(100 * imp["proportion"], y - 0.18,
                        xerr=[[100 * (imp["proportion"] - imp["ci_low"])],
                              [100 * (imp["ci_high"] - imp["proportion"])]],
                        fmt="none", ecolor="black", elinewidth=1.1, capsize=2.5)
        if np.isfinite([det["ci_low"], det["ci_high"]]).all():
            ax.errorbar(100 * (1.0 - det["proportion"]), y + 0.18,
                        xerr=[[100 * (det["ci_high"] - det["proportion"])],
                              [100 * (det["proportion"] - det["ci_low"])]],
                        fmt="none", ecolor="black", elinewidth=1.1, capsize=2.5)
    ax.set_yticks(ys, ticklabels)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_xlim(0, 100)
    what = f"both {_short(label)} scores" if label else "both scores"
    ax.set_xlabel(f"Share of {PEOPLE} with {what} (%)", **LITERAL)
    handles = [Patch(facecolor=_RC_COLOUR[o], edgecolor="#999999", label=_RC_LABEL[o]) for o in _RC]
    # under the axis label: half an inch below the axes, whatever their size
    below = ax.transAxes + ScaledTranslation(0, -0.5, ax.figure.dpi_scale_trans)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=below, ncol=3, borderaxespad=0.0)
    return ax


@_styled
def reliable_change_figure(summary, *, label: str, threshold: int = 5,
                           name: str | None = None) -> ReportFigure:
    """Shares reliably improved, unchanged and reliably deteriorated, per group, with Wilson CIs.

    Improvement (blue, from the left) and deterioration (vermillion, from the right) are drawn with
    equal weight, each with its confidence interval.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`evalkit.change.change_summary` (after disclosure control): ``group, outcome, n,
        count, proportion, ci_low, ci_high`` and optionally ``status``.
    label : str
        The instrument, e.g. ``"EPDS (0–30, higher = worse)"``.
    threshold : int
        A group reads "not shown (protects a small group)" when any of its three counts is hidden
        (NaN), its status says suppressed/withheld, or its n is missing or below ``threshold``
        (showing the other shares would reveal a hidden one by subtraction).
    name : str, optional
        File stem; default ``"reliable_change_<instrument>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``group, outcome, n, count, proportion, ci_low, ci_high, status`` for the three
        outcomes of every group (blank where hidden).

    Examples
    --------
    >>> import evalkit as ek
    >>> from evalkit.report.figures import reliable_change_figure
    >>> res = ek.reliable_change([16, 16, 12, 15, 18, 20], [12, 19, 16, 10, 13, 15],
    ...                          instrument="epds")
    >>> fig = reliable_change_figure(ek.change_summary(res), label="EPDS (0–30, higher = worse)")
    >>> print(fig.alt)
    Of all 6 mothers with both scores, 67% (95% CI 30% to 90%) reliably improved on EPDS and 17%
    (95% CI 3% to 56%) reliably deteriorated; 17% showed no reliable change.
    """
    where = "reliable_change_figure"
    threshold = _check_threshold(threshold, where)
    table = _rc_table(summary, threshold=threshold, where=where)
    k = table["group"].nunique()
    fig = _figure(max(2.6, 0.45 * k + 1.7), layout="constrained")
    draw_reliable_change(fig.subplots(), summary, threshold=threshold, label=label)
    short = _short(label)
    hidden = list(pd.unique(table.loc[table["status"] == HIDDEN, "group"]))
    alt = _rc_alt(table, short) + _hidden_sentence([_group_label(g) for g in hidden])
    caption = (f"Reliable change on {short}: blue bars from the left are {PEOPLE} who reliably "
               "improved, vermillion bars from the right those who reliably deteriorated; black "
               "lines are 95% Wilson confidence intervals." + _hidden_caption(bool(hidden)))
    return ReportFigure(_name(name, f"reliable_change_{_slug(short)}"), fig, alt, table, caption)


def _rc_alt(table, short):
    shown = list(pd.unique(table.loc[table["status"] == "shown", "group"]))
    wide = {o: table.loc[table["outcome"] == o].set_index("group") for o in _RC}

    def share(o, g):
        r = wide[o].loc[g]
        return _share_ci(r["proportion"], r["ci_low"], r["ci_high"])

    lead = "all" if "all" in shown else (shown[0] if shown else None)
    if lead is None:
        alt = f"No reliable-change shares for {short} can be shown."
    else:
        n = wide["reliable_improvement"].at[lead, "n"]
        who = (f"all {fmt.count(n)} {PEOPLE} with both scores" if lead == "all"
               else f"the {fmt.count(n)} {PEOPLE} in {lead} with both scores")
        alt = (f"Of {who}, {share('reliable_improvement', lead)} reliably improved on {short} and "
               f"{share('reliable_deterioration', lead)} reliably deteriorated; "
               f"{fmt.percent(wide['no_reliable_change'].at[lead, 'proportion'])} showed no "
               "reliable change.")
    others = [g for g in shown if g != "all"]
    if len(others) >= 2:
        imp = wide["reliable_improvement"].loc[others, "proportion"].astype(float)
        det = wide["reliable_deterioration"].loc[others, "proportion"].astype(float)
        alt += (f" Reliable improvement ranged from {fmt.percent(imp.min())} ({imp.idxmin()}) to "
                f"{fmt.percent(imp.max())} ({imp.idxmax()}); reliable deterioration from "
                f"{fmt.percent(det.min())} ({det.idxmin()}) to {fmt.percent(det.max())} "
                f"({det.idxmax()}).")
    return alt
