"""Missingness patterns: which waves each group of participants completed, one row per pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ...errors import SpecificationError
from .. import format as fmt
from .base import (FAINT, HIDDEN, IMPROVED, LITERAL, NOTE, PEOPLE, ReportFigure, _check_threshold,
                   _clip, _figure, _hidden_caption, _hidden_status, _literal, _name,
                   _need_columns, _need_frame, _numbers, _plural, _short, _slug, _styled)

_META = ("pattern", "n_participants", "percent", "status")
_NOT_SEEN = "#F2F2F2"


def _waves(patterns, where) -> list:
    waves = [c for c in patterns.columns if c not in _META]
    bad = [c for c in waves if not (pd.api.types.is_bool_dtype(patterns[c])
                                    or str(patterns[c].dtype) == "boolean")]
    if bad or not waves:
        raise SpecificationError(f"{where}: the wave columns must be boolean (True = observed); "
                                 f"{'no wave columns found' if not waves else f'not boolean: {bad}'}")
    return waves


def _missingness_table(patterns, *, threshold, where) -> tuple[pd.DataFrame, list]:
    patterns = _need_frame(patterns, where, "patterns")
    _need_columns(patterns, ["pattern", "n_participants", "percent"], where, "patterns")
    waves = _waves(patterns, where)
    if patterns.empty:
        raise SpecificationError(f"{where}: the patterns table has no rows")
    n = _numbers(patterns["n_participants"])
    hidden = ~np.isfinite(n)
    if threshold is not None:
        hidden |= n < threshold
    if "status" in patterns.columns:
        hidden |= patterns["status"].map(_hidden_status).to_numpy(bool)
    table = patterns[["pattern", *waves]].copy().reset_index(drop=True)
    table["n_participants"] = np.where(hidden, np.nan, n)
    table["percent"] = np.where(hidden, np.nan, _numbers(patterns["percent"]))
    table["status"] = np.where(hidden, HIDDEN, "shown")
    return table, waves


def draw_missingness(ax, patterns, *, threshold: int | None = None, label: str | None = None):
    """Draw the pattern grid (rows patterns, columns waves, filled = observed) and its counts.

    Each row ends with a bar and ``"n = 60 (58%)"``, or "not shown (protects a small group)" when
    its count is hidden; missing cells carry a × as well as a colour, for greyscale printing.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    patterns : pandas.DataFrame
        ``pattern``, one boolean column per wave (True = observed), ``n_participants``,
        ``percent`` and optionally ``status`` (e.g. :func:`evalkit.attrition.missingness_patterns`;
        NaN counts are hidden).
    threshold : int, optional
        Visible counts below it are hidden too (None: trust the input).
    label : str, optional
        What was measured, for the legend ("WEMWBS observed").

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_missingness
    >>> p = pd.DataFrame({"pattern": ["XX", "X."], "baseline": [True, True], "end": [True, False],
    ...                   "n_participants": [60, np.nan], "percent": [60.0, np.nan]})
    >>> [t.get_text() for t in draw_missingness(Figure().subplots(), p).texts]
    ['n = 60 (60%)', 'not shown (protects a small group)']
    """
    table, waves = _missingness_table(
        patterns, where="draw_missingness",
        threshold=_check_threshold(threshold, "draw_missingness", optional=True))
    obs = table[waves].astype(bool).to_numpy()
    k, w = obs.shape
    ax.imshow(obs.astype(float), cmap=ListedColormap([_NOT_SEEN, IMPROVED]), vmin=0, vmax=1,
              aspect="auto", interpolation="nearest")
    miss_y, miss_x = np.nonzero(~obs)
    ax.scatter(miss_x, miss_y, marker="x", s=14, color="#9A9A9A", linewidths=0.9)
    # white lines between cells keep adjacent cells of the same colour countable
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0)
    ax.set_xticks(range(w), [_literal(c) for c in waves], rotation=30 if w > 4 else 0,
                  ha="right" if w > 4 else "center")
    ax.set_yticks(range(k), [_literal(_clip(p, 20)) for p in table["pattern"]],
                  family="monospace")
    # the counts: a bar right of the grid, then the number and share
    x0, span = w - 0.5 + 0.3, max(1.5, 0.5 * w)
    pct = table["percent"].to_numpy(float)
    top = np.nanmax(pct) if np.isfinite(pct).any() else 100.0
    for i, r in enumerate(table.itertuples(index=False)):
        if r.status != "shown":
            ax.text(x0, i, HIDDEN, va="center", ha="left", style="italic", color=NOTE,
                    fontsize=9, clip_on=False, **LITERAL)
            continue
        length = span * (r.percent / top if top > 0 and np.isfinite(r.percent) else 0.0)
        ax.barh(i, length, left=x0, height=0.6, color=FAINT)
        ax.annotate(f"n = {fmt.count(r.n_participants)} ({fmt.percent(r.percent, scale=100)})",
                    (x0 + length, i), xytext=(4, 0), textcoords="offset points", va="center",
                    ha="left", fontsize=9, annotation_clip=False, **LITERAL)
    ax.set_xlim(-0.5, x0 + span)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_xlabel("Wave")
    ax.set_ylabel("Pattern")
    for side in ax.spines.values():
        side.set_visible(False)
    what = f"{_literal(label)} observed" if label else "observed"
    handles = [Patch(facecolor=IMPROVED, label=what),
               Patch(facecolor=_NOT_SEEN, edgecolor="#9A9A9A", label="missing (×)")]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2,
              borderaxespad=0.3)
    return ax


@_styled
def missingness_figure(patterns, *, label: str, threshold: int = 5,
                       name: str | None = None) -> ReportFigure:
    """Which waves each group of participants completed: one row per missingness pattern.

    Parameters
    ----------
    patterns : pandas.DataFrame
        ``pattern``, one boolean column per wave (True = observed), ``n_participants`` and
        ``percent`` (e.g. from ``evalkit.attrition.missingness_patterns`` after disclosure
        control; NaN counts are hidden).
    label : str
        What was measured, e.g. ``"WEMWBS"``.
    threshold : int
        Counts below it are hidden even if visible.
    name : str, optional
        File stem; default ``"missingness_<label>"``.

    Returns
    -------
    ReportFigure
        ``data``: the patterns table with hidden counts blank and a ``status`` column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.report.figures import missingness_figure
    >>> p = pd.DataFrame({"pattern": ["XXX", "XX.", "X..", "X.X"],
    ...                   "baseline": [True] * 4, "mid": [True, True, False, False],
    ...                   "end": [True, False, False, True], "n_participants": [60, 25, 12, np.nan],
    ...                   "percent": [60.0, 25.0, 12.0, np.nan]})
    >>> print(missingness_figure(p, label="WEMWBS").alt)
    WEMWBS completion by wave: the most common pattern was all 3 waves (60 mothers, 60%). 60%
    completed all 3 waves and 12% baseline only. The count of 1 pattern is not shown (protects a
    small group).
    """
    where = "missingness_figure"
    threshold = _check_threshold(threshold, where)
    table, waves = _missingness_table(patterns, threshold=threshold, where=where)
    fig = _figure(max(2.4, 0.3 * len(table) + 1.5), layout="constrained")
    short = _short(label)
    draw_missingness(fig.subplots(), patterns, threshold=threshold, label=short)
    hidden = (table["status"] != "shown").any()
    alt = _missingness_alt(table, waves, short)
    caption = (f"Each row is a pattern of completed ({short} observed, blue) and missing (grey ×) "
               f"waves, with the number and share of {PEOPLE} who had it."
               + _hidden_caption(hidden))
    return ReportFigure(_name(name, f"missingness_{_slug(short)}"), fig, alt, table, caption)


def _describe_pattern(row_obs, waves) -> str:
    seen = [str(w) for w, o in zip(waves, row_obs) if o]
    if len(seen) == len(waves):
        return f"all {len(waves)} waves"
    if not seen:
        return "no wave"
    if len(seen) == 1:
        return f"{seen[0]} only"
    return ", ".join(seen[:-1]) + " and " + seen[-1]


def _missingness_alt(table, waves, short):
    shown = (table["status"] == "shown").to_numpy()
    obs = table[waves].astype(bool).to_numpy()
    if not shown.any():
        alt = f"{short} completion by wave: the count of every pattern is {HIDDEN}."
    else:
        i = int(table["n_participants"].astype(float).idxmax())
        r = table.loc[i]
        alt = (f"{short} completion by wave: the most common pattern was "
               f"{_describe_pattern(obs[i], waves)} ({fmt.count(r['n_participants'])} {PEOPLE}, "
               f"{fmt.percent(r['percent'], scale=100)}).")
        extras = []
        full = np.flatnonzero(obs.all(axis=1) & shown)
        if len(full):
            extras.append(f"{fmt.percent(table['percent'].iat[full[0]], scale=100)} completed "
                          f"all {len(waves)} waves")
        if len(waves) > 1:
            first_only = np.flatnonzero(obs[:, 0] & ~obs[:, 1:].any(axis=1) & shown)
            if len(first_only):
                extras.append(f"{fmt.percent(table['percent'].iat[first_only[0]], scale=100)} "
                              f"{waves[0]} only")
        if extras:
            alt += " " + " and ".join(extras) + "."
    k = int((~shown).sum())
    if k and shown.any():
        alt += (f" The count of {_plural(k, 'pattern')} is {HIDDEN}." if k == 1
                else f" The counts of {_plural(k, 'pattern')} are {HIDDEN}.")
    return alt
