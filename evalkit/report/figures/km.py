"""Kaplan–Meier curves from a protected curve table, with a protected risk table under them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from ...errors import SpecificationError, UnknownNameError
from .. import format as fmt
from .base import (DASHES, HIDDEN, LITERAL, NOTE, PALETTE, ReportFigure, _check_threshold, _clip,
                   _figure, _group_label, _hidden_caption, _hidden_sentence, _literal, _name,
                   _need_columns, _need_frame, _numbers, _runs, _share_ci, _short, _styled,
                   _time_value)

_CURVE = ["group", "time", "survival", "ci_low", "ci_high"]
_COUNTS = ["at_risk", "events", "censored"]
#: how a hidden cell of the risk table is drawn (the figure's note says what it means)
HIDDEN_MARK = "*"


def _groups(*frames) -> list:
    out = []
    for f in frames:
        if f is not None:
            out += [g for g in pd.unique(f["group"]) if g not in out]
    return out


def _curve_rows(curve, g, *, threshold) -> pd.DataFrame:
    """One group's curve sorted by time, with survival and its CI NaN where not to be drawn."""
    c = curve.loc[curve["group"] == g].sort_values("time", kind="mergesort")
    out = pd.DataFrame({"group": g, "time": _numbers(c["time"])})
    for col in _CURVE[2:]:
        out[col] = _numbers(c[col]) if col in c.columns else np.nan
    if threshold is not None and "at_risk" in c.columns:
        # second line of defence: the curve stops where fewer than the threshold are at risk
        n = _numbers(c["at_risk"])
        tail = np.cumsum(~(np.isfinite(n) & (n >= threshold))) > 0
        out.loc[tail, _CURVE[2:]] = np.nan
    return out.reset_index(drop=True)


def _drawn_curve(curve, g, *, threshold) -> list[pd.DataFrame]:
    """The runs of a group's curve that are drawn (the first starts at time 0, survival 1)."""
    c = _curve_rows(curve, g, threshold=threshold)
    ok = np.isfinite(c["survival"].to_numpy(float))
    runs = [c.iloc[i:j + 1] for i, j in _runs(ok)]
    if runs and runs[0].index[0] == 0 and c["time"].iat[0] > 0:
        start = pd.DataFrame({"group": [g], "time": [0.0], "survival": [1.0], "ci_low": [1.0],
                              "ci_high": [1.0]})
        runs[0] = pd.concat([start, runs[0]], ignore_index=True)
    return runs


def draw_km(ax, curve, *, groups=None, hidden=(), ci: bool = True, threshold: int | None = None,
            label: str | None = None, time_label: str | None = None, legend_title=None):
    """Draw Kaplan–Meier step curves (``where="post"``) with shaded confidence bands on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    curve : pandas.DataFrame
        ``group, time, survival`` and optionally ``ci_low, ci_high`` and ``at_risk`` (e.g.
        ``KMResult.table``, or its disclosure-controlled version). Rows with NaN survival are not
        drawn; a curve starts at time 0 with survival 1.
    groups : sequence, optional
        All groups in colour order (default: those of ``curve``); keeps colours stable when some
        are hidden.
    hidden : sequence
        Groups not drawn.
    ci : bool
        Shade the confidence bands.
    threshold : int, optional
        With an ``at_risk`` column, each curve stops where fewer than ``threshold`` are at risk.
    label, time_label : str, optional
        y and x axis labels.
    legend_title : str, optional
        Title of the legend (drawn when there is more than one group or the group is not "all").

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_km
    >>> curve = pd.DataFrame({"group": "all", "time": [2.0, 5.0, 8.0],
    ...                       "survival": [0.9, 0.7, float("nan")]})
    >>> ax = draw_km(Figure().subplots(), curve, ci=False)
    >>> ax.lines[0].get_xdata().tolist()
    [0.0, 2.0, 5.0]
    """
    curve = _need_frame(curve, "draw_km", "curve")
    _need_columns(curve, ["group", "time", "survival"], "draw_km", "curve")
    threshold = _check_threshold(threshold, "draw_km", optional=True)
    groups = _groups(curve) if groups is None else list(groups)
    hidden = {str(h) for h in hidden}
    drawn = []
    for i, g in enumerate(groups):
        if str(g) in hidden or not (curve["group"] == g).any():
            continue
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        for k, run in enumerate(_drawn_curve(curve, g, threshold=threshold)):
            x = run["time"].to_numpy(float)
            if ci and run[["ci_low", "ci_high"]].notna().all().all():
                ax.fill_between(x, run["ci_low"].to_numpy(float), run["ci_high"].to_numpy(float),
                                step="post", color=colour, alpha=0.18, lw=0)
            ax.step(x, run["survival"].to_numpy(float), where="post", color=colour, ls=dash, lw=2,
                    label=_literal(_group_label(g)) if k == 0 else None)
            drawn.append(g)
    ax.set_ylim(0, 1.02)
    if label:
        ax.set_ylabel(label, **LITERAL)
    if time_label:
        ax.set_xlabel(time_label, **LITERAL)
    if drawn and (len(groups) > 1 or str(groups[0]) != "all"):
        ax.legend(title=None if legend_title is None else _literal(legend_title), loc="lower left")
    return ax


def _risk_table(risk, groups, hidden, times, threshold) -> pd.DataFrame:
    """The protected risk table drawn: one row per group × time, hidden cells NaN."""
    rows = []
    for g in groups:
        sub = risk.loc[risk["group"].astype(str) == str(g)]
        st = _numbers(sub["time"])
        for t in times:
            hit = sub.loc[np.isclose(st, t)]
            vals = {c: (_numbers(hit[c])[0] if len(hit) and c in hit.columns else np.nan)
                    for c in _COUNTS}
            present = len(hit) > 0
            if str(g) in hidden:
                vals = dict.fromkeys(_COUNTS, np.nan)
            elif threshold is not None:      # second line of defence: visible small counts
                vals = {c: (np.nan if 0 < v < threshold else v) for c, v in vals.items()}
            gone = str(g) in hidden or (present and any(
                np.isnan(vals[c]) for c in _COUNTS if c in risk.columns))
            rows.append({"kind": "risk", "group": g, "time": float(t), **vals,
                         "status": HIDDEN if gone else ("shown" if present else "no data")})
    return pd.DataFrame(rows, columns=["kind", "group", "time", *_COUNTS, "status"])


def draw_risk_table(ax, risk, *, times, groups=None, hidden=(), threshold: int | None = None,
                    time_label: str | None = None):
    """Draw a Kaplan–Meier "number at risk" table on ``ax`` (one row per group).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    risk : pandas.DataFrame
        ``group, time, at_risk`` (protected: NaN = hidden, drawn as ``*`` with a note).
    times : sequence of float
        Columns (also the x ticks).
    groups : sequence, optional
        Rows, in colour order (default: the groups of ``risk``).
    hidden : sequence
        Groups whose row reads "not shown (protects a small group)".
    threshold : int, optional
        Visible counts from 1 to ``threshold - 1`` are hidden too.
    time_label : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_risk_table
    >>> risk = pd.DataFrame({"group": "all", "time": [0.0, 6.0], "at_risk": [12.0, float("nan")]})
    >>> ax = draw_risk_table(Figure().subplots(), risk, times=[0, 6])
    >>> [t.get_text() for t in ax.texts]
    ['Number at risk', 'all mothers', '12', '*', '* not shown (protects a small group)']
    """
    risk = _need_frame(risk, "draw_risk_table", "risk")
    _need_columns(risk, ["group", "time", "at_risk"], "draw_risk_table", "risk")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    groups = _groups(risk) if groups is None else list(groups)
    hidden = {str(h) for h in hidden}
    table = _risk_table(risk, groups, hidden, times,
                        _check_threshold(threshold, "draw_risk_table", optional=True))
    k = len(groups)
    ax.set_ylim(k + 0.1, -1.0)
    ax.tick_params(left=False, labelleft=False)
    for side in ("left", "top", "right"):
        ax.spines[side].set_visible(False)
    if time_label:
        ax.set_xlabel(time_label, **LITERAL)
    ax.set_xticks(times, [_time_value(t) for t in times])
    lab = blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(-0.01, -0.55, "Number at risk", transform=lab, ha="right", va="center",
            fontweight="bold", fontsize=9, **LITERAL)
    marks = False
    for j, g in enumerate(groups):
        ax.text(-0.01, j + 0.35, _clip(_group_label(g), 24), transform=lab, ha="right",
                va="center", fontsize=9, color=NOTE if str(g) in hidden else PALETTE[j % len(PALETTE)],
                **LITERAL)
        if str(g) in hidden:
            ax.text(0.5, j + 0.35, HIDDEN, transform=lab, ha="center", va="center",
                    style="italic", color=NOTE, fontsize=9, **LITERAL)
            continue
        for r in table.loc[table["group"] == g].itertuples(index=False):
            if r.status == "no data":
                text = fmt.MISSING
            elif np.isnan(r.at_risk):
                text, marks = HIDDEN_MARK, True
            else:
                text = fmt.count(r.at_risk)
            ax.text(r.time, j + 0.35, text, ha="center", va="center", fontsize=9, **LITERAL)
    if marks:
        ax.annotate(f"{HIDDEN_MARK} {HIDDEN}", (0, 0), xycoords="axes fraction", xytext=(0, -36),
                    textcoords="offset points", ha="left", va="top", fontsize=9, color=NOTE,
                    **LITERAL)
    return ax


@_styled
def km_figure(curve, risk, *, label: str, times, withheld=(), threshold: int = 5,
              time_label: str = "Weeks since baseline", name: str | None = None) -> ReportFigure:
    """Kaplan–Meier curves with confidence bands and a disclosure-controlled risk table.

    Parameters
    ----------
    curve : pandas.DataFrame
        The protected curve (e.g. ``DisclosureControl.km_curve(KMResult.table).data``): ``group,
        time, survival, ci_low, ci_high`` (other columns ignored, except ``at_risk``: each curve
        also stops where fewer than ``threshold`` are at risk). A step function drawn with
        ``where="post"``; rows with NaN survival are not drawn.
    risk : pandas.DataFrame
        The protected risk table ``group, time, at_risk, events, censored`` (NaN = hidden; hidden
        cells read ``*``, explained under the table).
    label : str
        y-axis label, e.g. ``"Proportion still engaged"``.
    times : sequence of float
        Times of the risk-table columns (also the x ticks).
    withheld : sequence
        Groups not drawn (their risk-table row reads "not shown (protects a small group)"), e.g.
        ``SafeTable.withheld_groups``. Groups with no drawable curve point, or whose first number
        at risk is hidden or below ``threshold``, are withheld too.
    threshold : int
    time_label : str
    name : str, optional
        File stem; default ``"km"``.

    Returns
    -------
    ReportFigure
        ``data``: ``kind`` ("curve" or "risk"), ``group, time, survival, ci_low, ci_high,
        at_risk, events, censored, status``: the curve points drawn, then the risk table drawn
        (hidden cells blank).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import kaplan_meier
    >>> from evalkit.report.disclosure import DisclosureControl
    >>> from evalkit.report.figures import km_figure
    >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12, 4, 6, 7, 12],
    ...                   "e": [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0]})
    >>> km = kaplan_meier(d, duration="w", event="e")
    >>> dc = DisclosureControl(threshold=5)
    >>> curve = dc.km_curve(km.table, name="curve").data
    >>> risk = dc.risk_table(km.risk_table([0, 6, 12]), name="risk").data
    >>> print(km_figure(curve, risk, label="Proportion still engaged", times=[0, 6, 12]).alt)
    Proportion still engaged (Kaplan–Meier) at week 6: 65% (95% CI 42% to 100%) for all mothers.
    At week 12 the curve is not available for all mothers.
    """
    where = "km_figure"
    threshold = _check_threshold(threshold, where)
    curve = _need_frame(curve, where, "curve")
    _need_columns(curve, ["group", "time", "survival"], where, "curve")
    risk = _need_frame(risk, where, "risk")
    _need_columns(risk, ["group", "time", "at_risk"], where, "risk")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.size == 0:
        raise SpecificationError(f"{where}: give at least one time for the risk table")
    if isinstance(withheld, (str, bytes)):
        withheld = [withheld]
    groups = _groups(curve, risk)
    unknown = [w for w in withheld if str(w) not in {str(g) for g in groups}]
    if unknown:
        raise UnknownNameError(f"{where}: withheld group(s) {unknown} are not groups of the curve; "
                               f"groups are {groups}")
    hide = {str(g) for g in withheld}
    for g in groups:
        r = risk.loc[risk["group"].astype(str) == str(g)]
        first = _numbers(r.sort_values("time", kind="mergesort")["at_risk"])[:1]
        if not _drawn_curve(curve, g, threshold=threshold) or not (
                len(first) and np.isfinite(first[0]) and first[0] >= threshold):
            hide.add(str(g))
    shown = [g for g in groups if str(g) not in hide]
    hidden = [g for g in groups if str(g) in hide]

    k = len(groups)
    risk_h = 0.24 * (k + 1) + 0.2
    fig = _figure(3.3 + risk_h + 0.95, layout="constrained")
    ax, ax_r = fig.subplots(2, 1, sharex=True, height_ratios=[3.3, risk_h],
                            gridspec_kw={"hspace": 0.0})
    draw_km(ax, curve, groups=groups, hidden=hide, threshold=threshold, label=label)
    ax.tick_params(labelbottom=False)
    curves = [run.assign(kind="curve", status="shown") for g in shown
              for run in _drawn_curve(curve, g, threshold=threshold)]
    # the axis ends at the last risk-table time or drawn point, never at a hidden time
    xmax = max([float(times.max()), *(float(c["time"].max()) for c in curves)])
    xmin = min(0.0, float(times.min()))
    span = xmax - xmin if xmax > xmin else 1.0
    ax.set_xlim(xmin - 0.06 * span, xmax + 0.02 * span)
    draw_risk_table(ax_r, risk, times=times, groups=groups, hidden=hide, threshold=threshold,
                    time_label=time_label)

    data = pd.concat([*curves, _risk_table(risk, groups, hide, times, threshold)],
                     ignore_index=True)
    data = data.reindex(columns=["kind", "group", "time", "survival", "ci_low", "ci_high",
                                 *_COUNTS, "status"])

    alt = _km_alt(curve, shown, hidden, label, times, threshold)
    any_hidden = bool(hidden) or (data["status"] == HIDDEN).any()
    caption = ("Kaplan–Meier estimates with 95% confidence bands; the table gives the number "
               "still at risk." + _hidden_caption(any_hidden))
    return ReportFigure(_name(name, "km"), fig, alt, data, caption)


def _km_alt(curve, shown, hidden, label, times, threshold):
    short = _short(label)
    if not shown:
        return "No Kaplan–Meier curve is shown." + _hidden_sentence(map(_group_label, hidden))
    ends = {}
    for g in shown:
        c = _curve_rows(curve, g, threshold=threshold)
        t = c["time"].to_numpy(float)
        if len(t):
            c = pd.concat([pd.DataFrame({"group": [g], "time": [0.0], "survival": [1.0],
                                         "ci_low": [1.0], "ci_high": [1.0]}), c]) \
                if t[0] > 0 else c
        ends[g] = c.reset_index(drop=True)

    def at(g, u):
        c = ends[g]
        t = c["time"].to_numpy(float)
        if not len(t) or u > t.max():
            return None                               # follow-up ended earlier
        r = c.iloc[np.searchsorted(t, u, side="right") - 1]
        return r if np.isfinite(r["survival"]) else None

    # the latest risk-table time at which every shown curve can be read
    readable = [u for u in sorted(times) if all(at(g, u) is not None for g in shown)]
    t_end = float(readable[-1]) if readable else float(times.max())
    parts = []
    for g in shown:
        r = at(g, t_end)
        who = _group_label(g)
        parts.append(f"not available for {who}" if r is None else
                     f"{_share_ci(r['survival'], r['ci_low'], r['ci_high'])} for {who}")
    alt = f"{short} (Kaplan–Meier) at week {_time_value(t_end)}: " + "; ".join(parts) + "."
    last = float(times.max())
    if last > t_end:
        missing = [_group_label(g) for g in shown if at(g, last) is None]
        if missing:
            alt += (f" At week {_time_value(last)} the curve is not available for "
                    f"{', '.join(missing)}.")
    return alt + _hidden_sentence(map(_group_label, hidden))
