"""Model-estimated means over time with confidence bands, by group (no individual data)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ...errors import SpecificationError
from .. import format as fmt
from .base import (DASHES, HIDDEN, LITERAL, MARKERS, NOTE, PALETTE, ReportFigure,
                   _check_threshold, _estimate_ci, _figure, _group_label, _hidden_caption,
                   _hidden_sentence, _hidden_status, _literal, _name, _need_columns, _need_frame,
                   _numbers, _short, _slug, _styled, _time_value)

_COLUMNS = ["group", "time", "kind", "estimate", "ci_low", "ci_high", "n", "status"]


def _trajectory_table(means, observed, *, time, group, threshold, where):
    """The protected tidy table drawn: model rows then observed rows, hidden cells NaN."""
    means = _need_frame(means, where, "means")
    _need_columns(means, [time, "estimate", "ci_low", "ci_high", *([group] if group else [])],
                  where, "means")
    if group is None and means[time].duplicated().any():
        raise SpecificationError(f"{where}: means has several rows per {time!r} value; pass the "
                                 "column that separates them as group=")
    if observed is not None:
        observed = _need_frame(observed, where, "observed")
        if time not in observed.columns and "time" in observed.columns:
            observed = observed.rename(columns={"time": time})
        _need_columns(observed, [time, "mean", "n", *([group] if group else [])], where,
                      "observed")
    levels = list(pd.unique(means[group])) if group else ["all"]
    ncol = next((c for c in ("n_participants", "n") if c in means.columns), None)
    rows, hidden = [], []
    for lv in levels:
        m = means if group is None else means.loc[means[group] == lv]
        m = m.sort_values(time, kind="mergesort")
        est = _numbers(m["estimate"])
        n = _numbers(m[ncol]) if ncol else np.full(len(m), np.nan)
        low, high = _numbers(m["ci_low"]), _numbers(m["ci_high"])
        small = threshold is not None and (
            (ncol is not None and not np.isfinite(n).any())
            or (np.isfinite(n) & (n < threshold)).any())
        gone = ("status" in m.columns and m["status"].map(_hidden_status).any()) \
            or not np.isfinite(est).any() or small
        if gone:
            hidden.append(lv)
        for i, t in enumerate(m[time]):
            rows.append({"group": lv, "time": t, "kind": "model",
                         "estimate": np.nan if gone else est[i],
                         "ci_low": np.nan if gone else low[i],
                         "ci_high": np.nan if gone else high[i],
                         "n": np.nan if gone else n[i],
                         "status": HIDDEN if gone else "shown"})
    unmatched = []
    if observed is not None:
        if group is not None:
            unmatched = [g for g in pd.unique(observed[group].dropna()) if g not in set(levels)]
        for lv in levels:
            o = observed if group is None else observed.loc[observed[group] == lv]
            o = o.sort_values(time, kind="mergesort")
            mean, n = _numbers(o["mean"]), _numbers(o["n"])
            for t, mu, k, st in zip(o[time], mean, n,
                                    o["status"] if "status" in o.columns else [None] * len(o)):
                gone = (lv in hidden or not np.isfinite(mu) or _hidden_status(st)
                        or (threshold is not None and not (np.isfinite(k) and k >= threshold)))
                rows.append({"group": lv, "time": t, "kind": "observed",
                             "estimate": np.nan if gone else mu, "ci_low": np.nan,
                             "ci_high": np.nan, "n": np.nan if gone else k,
                             "status": HIDDEN if gone else "shown"})
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return table, levels, hidden, unmatched


def draw_trajectory(ax, means, *, observed=None, time: str = "weeks", group: str | None = None,
                    threshold: int | None = None, label: str | None = None,
                    time_label: str | None = None, group_label: str | None = None):
    """Draw model means with confidence bands (and observed means as hollow markers) on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    means : pandas.DataFrame
        ``time``, the ``group`` column when grouped, ``estimate, ci_low, ci_high`` and optionally
        ``status`` and ``n_participants`` (or ``n``).
    observed : pandas.DataFrame, optional
        Observed means by wave: ``time`` (or a column named ``"time"``), the ``group`` column,
        ``mean`` and ``n`` (already disclosure-controlled; NaN = hidden).
    time, group : str
        Column roles; one colour, marker and dash per group.
    threshold : int, optional
        Groups or waves with a visible count below it are not drawn (None: trust the input).
    label, time_label : str, optional
        Axis labels.
    group_label : str, optional
        Legend title (the grouping variable's label); default the ``group`` column's name.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_trajectory
    >>> means = pd.DataFrame({"weeks": [0, 12], "estimate": [44.0, 50.1], "ci_low": [43.0, 49.0],
    ...                       "ci_high": [45.0, 51.2]})
    >>> ax = draw_trajectory(Figure().subplots(), means)
    >>> len(ax.lines), ax.get_xlabel()
    (1, 'Weeks since baseline')
    """
    table, levels, hidden, _ = _trajectory_table(
        means, observed, time=time, group=group,
        threshold=_check_threshold(threshold, "draw_trajectory", optional=True),
        where="draw_trajectory")
    for i, lv in enumerate(levels):
        if lv in hidden:
            continue
        colour, marker, dash = (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)],
                                DASHES[i % len(DASHES)])
        t = table.loc[(table["group"] == lv) & (table["kind"] == "model")].dropna(subset=["estimate"])
        x = _numbers(t["time"])
        n = t["n"].dropna()
        name = ("model mean (95% CI)" if group is None
                else _group_label(lv) + (f" (n = {fmt.count(n.max())})" if len(n) else ""))
        ax.fill_between(x, t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float),
                        color=colour, alpha=0.25, linewidth=0, zorder=2)
        ax.plot(x, t["estimate"].to_numpy(float), color=colour, marker=marker, linestyle=dash,
                linewidth=2, markersize=5, label=_literal(name), zorder=3)
        o = table.loc[(table["group"] == lv) & (table["kind"] == "observed")].dropna(
            subset=["estimate"])
        if len(o):
            ax.plot(_numbers(o["time"]), o["estimate"].to_numpy(float), linestyle="none",
                    marker=marker, markersize=7, markerfacecolor="none", markeredgecolor=colour,
                    markeredgewidth=1.4, zorder=4,
                    label="observed mean" if group is None else None)
    ax.set_xlabel(time_label or ("Weeks since baseline" if time == "weeks" else str(time)),
                  **LITERAL)
    if label:
        ax.set_ylabel(label, **LITERAL)
    if len(hidden) == len(levels):
        ax.text(0.5, 0.5, HIDDEN, transform=ax.transAxes, ha="center", va="center",
                style="italic", color=NOTE, **LITERAL)
    handles, names = ax.get_legend_handles_labels()
    observed_drawn = (table["kind"].eq("observed") & table["estimate"].notna()).any()
    if group is not None and observed_drawn:     # one key for the hollow markers of every group
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=7,
                              markerfacecolor="none", markeredgecolor=NOTE, markeredgewidth=1.4))
        names.append("observed mean")
    if handles:
        title = group_label or group
        ax.legend(handles, names, title=_literal(title) if title else None, loc="best")
    if hidden and group is not None:
        # wrapped: a long list of hidden groups must stay inside the image
        ax.annotate(textwrap.fill("; ".join(f"{_group_label(lv)}: {HIDDEN}" for lv in hidden), 90),
                    xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                    textcoords="offset points", ha="left", va="top", color=NOTE, fontsize=9,
                    **LITERAL)
    return ax


@_styled
def trajectory_figure(means, *, observed=None, outcome: str, label: str, time: str = "weeks",
                      group: str | None = None, threshold: int = 5, time_label: str | None = None,
                      group_label: str | None = None, name: str | None = None) -> ReportFigure:
    """Model-estimated means with confidence bands by group, and optionally observed means.

    Person-level data never reach this figure: it draws model means and, optionally, a protected
    table of observed means by wave.

    Parameters
    ----------
    means : pandas.DataFrame
        Model means (after disclosure control): a ``time`` column, the ``group`` column when
        grouped, ``estimate, ci_low, ci_high`` and optionally ``status`` and ``n_participants``
        (e.g. :func:`evalkit.models.moderation.marginal_means` with ``at={time: [...]}``).
    observed : pandas.DataFrame, optional
        Protected observed means by wave: ``time`` (or ``"time"``), the ``group`` column, ``mean``
        and ``n``; drawn as hollow markers. Hidden cells (NaN) are not drawn.
    outcome, label : str
        Score column and its axis label with units, e.g. ``"WEMWBS (14–70, higher = better)"``.
    time, group : str
        Column roles; ``group`` draws one colour per group.
    threshold : int
        Groups whose status says suppressed/withheld, whose estimates are all missing or whose
        visible ``n_participants`` is below ``threshold`` are not drawn and read "not shown
        (protects a small group)"; observed means with ``n`` below it are not drawn.
    time_label : str, optional
        x-axis label; default "Weeks since baseline" for ``time="weeks"``.
    group_label : str, optional
        Legend title, e.g. the dictionary's label of the grouping variable.
    name : str, optional
        File stem; default ``"trajectory_<outcome>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``group, time, kind`` ("model" or "observed"), ``estimate, ci_low, ci_high, n,
        status``; hidden cells blank.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import trajectory_figure
    >>> means = pd.DataFrame({"weeks": [0, 12], "estimate": [44.0, 50.1], "ci_low": [43.0, 49.0],
    ...                       "ci_high": [45.0, 51.2]})
    >>> fig = trajectory_figure(means, outcome="wemwbs", label="WEMWBS (14–70, higher = better)")
    >>> print(fig.alt)
    Model-estimated mean WEMWBS went from 44.0 (95% CI 43.0 to 45.0) at week 0 to 50.1 (95% CI
    49.0 to 51.2) at week 12.
    """
    where = "trajectory_figure"
    threshold = _check_threshold(threshold, where)
    table, levels, hidden, unmatched = _trajectory_table(means, observed, time=time, group=group,
                                                         threshold=threshold, where=where)
    fig = _figure(4.2, layout="constrained")
    draw_trajectory(fig.subplots(), means, observed=observed, time=time, group=group,
                    threshold=threshold, label=label, time_label=time_label,
                    group_label=group_label)
    shown = [lv for lv in levels if lv not in hidden]
    has_obs = bool(table.loc[table["kind"] == "observed", "estimate"].notna().any())
    alt = _trajectory_alt(table, shown, hidden, _short(label), time, group, has_obs)
    caption = ("Lines join the model-estimated means; shaded bands are 95% confidence intervals."
               + (" Hollow markers are observed mean scores at each wave." if has_obs else "")
               + _hidden_caption(bool(hidden) or (table["status"] == HIDDEN).any())
               + (f" No model means for {', '.join(map(str, unmatched))}, so not drawn."
                  if unmatched else ""))
    return ReportFigure(_name(name, f"trajectory_{_slug(outcome)}"), fig, alt, table, caption)


def _trajectory_alt(table, shown, hidden, short, time, group, has_obs):
    def at(t):
        return f"at week {_time_value(t)}" if time == "weeks" else f"at {time} {_time_value(t)}"

    parts = []
    for lv in shown:
        t = table.loc[(table["group"] == lv) & (table["kind"] == "model")].dropna(
            subset=["estimate"])
        if t.empty:
            continue
        a, b = t.iloc[0], t.iloc[-1]
        first = f"{_estimate_ci(a.estimate, a.ci_low, a.ci_high)} {at(a.time)}"
        text = first if len(t) == 1 else (
            f"went from {first} to {_estimate_ci(b.estimate, b.ci_low, b.ci_high)} {at(b.time)}")
        parts.append(text if group is None else f"for {_group_label(lv)} it {text}")
    if not parts:
        alt = f"No model means for {short} are shown."
    elif group is None:
        alt = f"Model-estimated mean {short} {parts[0]}."
    else:
        alt = f"Model-estimated mean {short}: " + "; ".join(parts) + "."
    # the caption (always shown beside the image) says what the bands are
    if has_obs:
        alt += f" Hollow markers show the observed mean {short} at each wave."
    if group is None and hidden:
        return alt + f" The means are {HIDDEN}."
    return alt + _hidden_sentence([_group_label(lv) for lv in hidden])
