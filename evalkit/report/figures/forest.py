"""Forest plot: change by context level with 95% CIs, grouped by context."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from ...errors import SpecificationError, UnknownNameError
from .. import format as fmt
from .base import (FAINT, HIDDEN, IMPROVED, LITERAL, NOTE, WHITE_BOX, ReportFigure, _and,
                   _check_threshold, _clip, _figure, _hidden_caption,
                   _hidden_sentence, _hidden_status, _literal, _name, _need_columns, _need_frame,
                   _numbers, _plural, _short, _slug, _styled)

_NEEDED = ["context", "level", "n_participants", "status", "estimate", "ci_low", "ci_high"]
_N_AT, _CHANGE_AT = 10, 46           # the right-hand columns, in points from the axes' right edge


def _forest_table(scan, *, outcome, threshold, where) -> pd.DataFrame:
    scan = _need_frame(scan, where, "scan")
    _need_columns(scan, _NEEDED, where, "scan")
    if outcome is not None and "outcome" in scan.columns:
        known = list(pd.unique(scan["outcome"]))
        if outcome not in known:
            raise UnknownNameError(f"{where}: outcome {outcome!r} is not in the scan; it has {known}")
        scan = scan.loc[scan["outcome"] == outcome]
    if scan.empty:
        raise SpecificationError(f"{where}: the scan has no rows to draw")
    n = _numbers(scan["n_participants"])
    hidden = scan["status"].map(_hidden_status).to_numpy(bool)
    if threshold is not None:
        hidden |= ~(np.isfinite(n) & (n >= threshold))
    est = _numbers(scan["estimate"])
    drawn = (scan["status"].astype(str) == "estimated").to_numpy() & ~hidden & np.isfinite(est)
    het = (_numbers(scan["heterogeneity_p_adjusted"]) if "heterogeneity_p_adjusted" in scan.columns
           else np.full(len(scan), np.nan))
    return pd.DataFrame({
        "context": scan["context"].to_numpy(), "level": scan["level"].astype(str).to_numpy(),
        "n_participants": np.where(hidden, np.nan, n),
        "status": np.where(hidden, HIDDEN, scan["status"].astype(str)),
        "estimate": np.where(drawn, est, np.nan),
        "ci_low": np.where(drawn, _numbers(scan["ci_low"]), np.nan),
        "ci_high": np.where(drawn, _numbers(scan["ci_high"]), np.nan),
        "heterogeneity_p_adjusted": het, "drawn": drawn})


def _layout(table):
    """(kind, context, y, row) top to bottom: a header row per context, then its levels."""
    layout, y = [], 0.0
    for ctx, grp in table.groupby("context", sort=False):
        layout.append(("header", ctx, y, grp))
        y += 1
        for i in grp.index:
            layout.append(("row", ctx, y, table.loc[i]))
            y += 1
        y += 0.4
    return layout, y


def draw_forest(ax, scan, *, outcome: str | None = None, reference: float | None = None,
                threshold: int | None = None, label: str | None = None):
    """Draw change by context level with 95% CIs on ``ax``, with n and the change as text.

    Levels are y tick labels (one per row), contexts bold headers; the n and "change (95% CI)"
    columns sit right of the axes. Rows that are not estimated show their status instead of a
    point; hidden rows read "not shown (protects a small group)".

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scan : pandas.DataFrame
        ``context, level, n_participants, status, estimate, ci_low, ci_high`` and optionally
        ``outcome`` and ``heterogeneity_p_adjusted`` (:func:`evalkit.models.context.context_scan`).
    outcome : str, optional
        Draw only this outcome's rows.
    reference : float, optional
        Overall change, drawn as a dashed vertical line (0 is always drawn).
    threshold : int, optional
        Rows with a visible n below it (or no n) are hidden too (None: trust the input).
    label : str, optional
        The outcome with units; the x axis reads "Change in <label>".

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_forest
    >>> scan = pd.DataFrame({"context": ["site", "site"], "level": ["north", "$5 voucher$"],
    ...                      "n_participants": [60, 55], "status": "estimated",
    ...                      "estimate": [4.4, 3.9], "ci_low": [2.2, 1.7], "ci_high": [6.6, 6.1]})
    >>> ax = draw_forest(Figure().subplots(), scan)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['north', '\\\\$5 voucher\\\\$']
    """
    where = "draw_forest"
    table = _forest_table(scan, outcome=outcome, where=where,
                          threshold=_check_threshold(threshold, where, optional=True))
    layout, y = _layout(table)
    rows = [(yy, r) for kind, _, yy, r in layout if kind == "row"]
    ax.set_ylim(y - 0.4, -0.9)
    ax.set_yticks([yy for yy, _ in rows], [_literal(_clip(r["level"], 30)) for _, r in rows])
    ax.tick_params(axis="y", length=0, pad=7)
    ax.spines["left"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_visible(False)
    left = blended_transform_factory(ax.transAxes, ax.transData)

    def right(text, yy, at, **kw):
        ax.annotate(text, (1, yy), xycoords=left, xytext=(at, 0), textcoords="offset points",
                    va="center", ha="left", fontsize=9, annotation_clip=False, **LITERAL, **kw)

    right("n", -0.75, _N_AT, fontweight="bold")
    right("change (95% CI)", -0.75, _CHANGE_AT, fontweight="bold")
    for kind, ctx, yy, r in layout:
        if kind == "header":
            ax.annotate(_clip(ctx, 30), (0, yy), xycoords=left, xytext=(-7, 0),
                        textcoords="offset points", ha="right", va="center", fontweight="bold",
                        annotation_clip=False, **LITERAL)
            p = r["heterogeneity_p_adjusted"].dropna()
            if len(p):
                # words, not a p-value: the figure is in the impact report too
                right("differs (adjusted test)" if p.iat[0] < 0.05 else "no clear difference",
                      yy, _N_AT, color=NOTE)
            continue
        if r["drawn"]:
            ax.errorbar(r["estimate"], yy, xerr=[[r["estimate"] - r["ci_low"]],
                                                 [r["ci_high"] - r["estimate"]]],
                        fmt="s", color=IMPROVED, ecolor=IMPROVED, markersize=5, capsize=2.5,
                        elinewidth=1.4, zorder=3)
            right(f"{fmt.signed(r['estimate'])} ({fmt.interval(r['ci_low'], r['ci_high'])})", yy,
                  _CHANGE_AT)
        else:
            ax.text(0.02, yy, r["status"], transform=left, va="center", ha="left",
                    style="italic", color=NOTE, fontsize=9, zorder=4, bbox=WHITE_BOX, **LITERAL)
        if np.isfinite(r["n_participants"]):
            right(fmt.count(r["n_participants"]), yy, _N_AT)
    xs = np.r_[table["ci_low"].dropna(), table["ci_high"].dropna(), 0.0,
               [] if reference is None or fmt.is_missing(reference) else [reference]]
    lo, hi = float(xs.min()), float(xs.max())
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvline(0, color="black", lw=0.9, zorder=1)
    if reference is not None and not fmt.is_missing(reference):
        ax.axvline(reference, color=FAINT, ls="--", lw=1.1, zorder=1)
        ax.text(reference, -0.75, f"overall {fmt.signed(reference)}", ha="center", va="center",
                fontsize=9, color=NOTE, bbox=WHITE_BOX, **LITERAL)
    ax.set_xlabel(f"Change in {label}" if label else "Change (95% CI)", fontsize=9.5, **LITERAL)
    return ax


@_styled
def forest_figure(scan, *, outcome: str, label: str, threshold: int = 5,
                  reference: float | None = None, name: str | None = None) -> ReportFigure:
    """Change by context level with 95% CIs, grouped by context, from a context scan.

    Parameters
    ----------
    scan : pandas.DataFrame
        From :func:`evalkit.models.context.context_scan` (after disclosure control): ``context,
        level, n_participants, status, estimate, ci_low, ci_high`` and optionally ``outcome`` and
        ``heterogeneity_p_adjusted``.
    outcome : str
        Rows of this outcome are drawn (when ``scan`` has an ``outcome`` column).
    label : str
        The outcome with units, e.g. ``"WEMWBS (14–70, higher = better)"``.
    threshold : int
        Rows whose status says suppressed/withheld, or whose ``n_participants`` is missing or below
        ``threshold``, read "not shown (protects a small group)" with no point and no n. Other rows
        whose status is not "estimated" show their status (e.g. "too small (n < 10)").
    reference : float, optional
        Overall change, drawn as a dashed vertical line (0 is always drawn).
    name : str, optional
        File stem; default ``"forest_<outcome>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``context, level, n_participants, status, estimate, ci_low, ci_high,
        heterogeneity_p_adjusted, drawn`` (hidden rows blank).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.report.figures import forest_figure
    >>> scan = pd.DataFrame({
    ...     "outcome": "wemwbs", "context": ["delivery_mode"] * 3,
    ...     "level": ["one_to_one", "group", "both"], "n_participants": [120, 90, np.nan],
    ...     "status": ["estimated", "estimated", "withheld (n < 5)"], "estimate": [6.1, 2.6, np.nan],
    ...     "ci_low": [4.0, 0.5, np.nan], "ci_high": [8.2, 4.7, np.nan],
    ...     "heterogeneity_p_adjusted": [0.012] * 3})
    >>> print(forest_figure(scan, outcome="wemwbs", label="WEMWBS (14–70, higher = better)").alt)
    Estimated change in WEMWBS ranged from +2.6 points (95% CI 0.5 to 4.7) for group
    (delivery_mode) to +6.1 points (95% CI 4.0 to 8.2) for one_to_one (delivery_mode). Change differed by
    delivery_mode by more than chance would explain, after adjusting for multiple tests. 1 group not
    shown (protects a small group): both (delivery_mode).
    """
    where = "forest_figure"
    threshold = _check_threshold(threshold, where)
    table = _forest_table(scan, outcome=outcome, threshold=threshold, where=where)
    _, y = _layout(table)
    fig = _figure(max(2.4, 0.27 * y + 1.3), layout="constrained")
    draw_forest(fig.subplots(), scan, outcome=outcome, reference=reference, threshold=threshold,
                label=label)
    short = _short(label)
    alt = _forest_alt(table, short, reference)
    caption = (f"Model-estimated change in {short} by context (squares) with 95% confidence "
               "intervals (lines); the solid line marks no change"
               + ("" if reference is None else ", the dashed line the overall change") + "."
               + _hidden_caption((table["status"] == HIDDEN).any()))
    return ReportFigure(_name(name, f"forest_{_slug(outcome)}"), fig, alt, table, caption)


def _forest_alt(table, short, reference):
    est = table.loc[table["drawn"]]
    hidden = table.loc[table["status"] == HIDDEN]
    other = table.loc[~table["drawn"] & (table["status"] != HIDDEN)]

    def desc(r):
        ci = ("" if fmt.is_missing(r["ci_low"]) or fmt.is_missing(r["ci_high"])
              else f" (95% CI {fmt.interval(r['ci_low'], r['ci_high'])})")
        return f"{fmt.signed(r['estimate'])} points{ci} for {_level(r)}"

    if est.empty:
        alt = f"No change in {short} could be estimated for any context level."
    elif len(est) == 1:
        alt = f"Estimated change in {short}: {desc(est.iloc[0])}."
    else:
        # lowest to highest estimate: "largest" would read backwards on a scale where lower is
        # better, and the direction of benefit is for the prose, which knows the scale
        low = est.loc[est["estimate"].idxmin()]
        top = est.loc[est["estimate"].idxmax()]
        alt = f"Estimated change in {short} ranged from {desc(low)} to {desc(top)}."
    if reference is not None and not fmt.is_missing(reference):
        alt += f" Overall change was {fmt.signed(reference)} points."
    het = table.drop_duplicates("context").dropna(subset=["heterogeneity_p_adjusted"])
    sig = het.loc[het["heterogeneity_p_adjusted"] < 0.05]
    if len(het):
        if len(sig):
            alt += (" Change differed by " + _and(str(r.context).lower() for r in sig.itertuples())
                    + " by more than chance would explain, after adjusting for multiple tests.")
        else:
            alt += (" No context showed a difference in change larger than chance would explain, "
                    "after adjusting for multiple tests.")
    alt += _hidden_sentence(_level(r._asdict()) for r in hidden.itertuples())
    if len(other):
        alt += (f" {_plural(len(other), 'level')} not estimated: "
                + "; ".join(f"{_level(r._asdict())}, {r.status}" for r in other.itertuples()) + ".")
    return alt


def _level(r) -> str:
    """A level with its context in words: "Asian or Asian British (ethnic group)"."""
    return fmt.level_phrase(r["level"], r["context"])

