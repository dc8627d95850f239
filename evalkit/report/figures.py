"""Report figures: each a matplotlib figure with alt text stating its message and the data drawn.

Every function returns a :class:`ReportFigure` holding the figure, an alt text generated from the
numbers (what the figure shows, in plain English: largest and smallest, direction, share
deteriorated, how many groups were suppressed), the tidy table that was drawn (exported as CSV next
to the PNG) and a caption.

Disclosure control happens *before* these functions are called: small cells arrive as NaN and
withheld groups carry a status. The figures draw that honestly: a suppressed group appears as a
labelled entry reading "suppressed (n < 5)" (the threshold is an argument), never as a point, bar or
line, and its numbers are blanked in the exported table too. As a second line of defence a group
whose visible count is below the threshold is treated as suppressed even if nobody marked it.

Figures are made with :class:`matplotlib.figure.Figure` directly (not pyplot), so nothing is left
open in pyplot's registry; they are 6.8 inches wide (A4 text width) with a 10-point base font, use
the Okabe–Ito colour-blind-safe palette (:data:`PALETTE`) and render to byte-identical PNGs for
identical inputs.

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.figures import flow_figure
>>> flow = pd.DataFrame({"stage": ["referred", "started", "completed end"], "n": [200, 150, 96],
...                      "percent_of_referred": [100.0, 75.0, 48.0], "note": ["", "", ""]})
>>> fig = flow_figure(flow)
>>> print(fig.alt)
Participant flow: of 200 mothers referred, 96 (48%) reached the last stage (completed end).
Stages: referred 200; started 150 (75%); completed end 96 (48%).
>>> fig.to_data_uri()[:22]
'data:image/png;base64,'
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.transforms import blended_transform_factory
from scipy import stats

from ..errors import SpecificationError, UnknownNameError

__all__ = [
    "ReportFigure",
    "trajectory_figure",
    "forest_figure",
    "jn_figure",
    "reliable_change_figure",
    "km_figure",
    "missingness_figure",
    "flow_figure",
    "qq_figure",
    "PALETTE",
    "OKABE_ITO",
    "STYLE",
    "WIDTH",
]

#: The Okabe–Ito palette (Okabe & Ito 2008), distinguishable with every common colour-vision
#: deficiency and in greyscale by lightness.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}

#: Colours for groups, in order of use (Okabe–Ito; yellow late because it is faint on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")

#: Figure width in inches: the text width of an A4 page with 2 cm margins.
WIDTH = 6.8

#: matplotlib settings used while building and rendering every figure (readable at A4).
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],   # bundled with matplotlib: same glyphs on every machine
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

_IMPROVED = OKABE_ITO["blue"]
_DETERIORATED = OKABE_ITO["vermillion"]
_NO_CHANGE = "#CFCFCF"
_FAINT = "#8C8C8C"
_NOTE = "#404040"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 1)), (0, (6, 2)))
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PEOPLE = "mothers"
_WHITE = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}


# ====================================================================== the result
@dataclass(frozen=True, eq=False)
class ReportFigure:
    """A report figure: the matplotlib figure, its alt text, the data drawn and a caption.

    Attributes
    ----------
    name : str
        File stem (letters, digits, ``_ . -``), e.g. ``"forest_wemwbs"``.
    figure : matplotlib.figure.Figure
    alt : str
        Alt text stating the figure's message, generated from the numbers.
    data : pandas.DataFrame
        The tidy data drawn; :meth:`save` writes it as ``<name>.csv``. Suppressed cells are NaN.
    caption : str
        How to read the figure (what the bands and lines are, what was suppressed).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.report.figures import qq_figure
    >>> fig = qq_figure(np.linspace(-2, 2, 9), label="Residual (WEMWBS points)", name="qq_demo")
    >>> fig.name, list(fig.data.columns)
    ('qq_demo', ['theoretical', 'sample', 'reference'])
    >>> fig.to_html()[:9]
    '<figure>\\n'
    """

    name: str
    figure: Figure
    alt: str
    data: pd.DataFrame
    caption: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not _STEM.fullmatch(self.name):
            raise SpecificationError(f"ReportFigure name {self.name!r} is not a safe file stem; use "
                                     "letters, digits, '_', '.' and '-' (e.g. 'forest_wemwbs')")
        if not isinstance(self.alt, str) or not self.alt.strip():
            raise SpecificationError(f"ReportFigure {self.name!r} needs alt text stating its message")

    def to_png(self, *, dpi: int = 150) -> bytes:
        """The figure as PNG bytes; identical inputs give identical bytes (no timestamp)."""
        self._check_open()
        if not (isinstance(dpi, (int, np.integer)) and 20 <= dpi <= 1200):
            raise SpecificationError(f"dpi must be an integer between 20 and 1200, got {dpi!r}")
        buf = io.BytesIO()
        with mpl.rc_context(STYLE):
            # "Software" would stamp the matplotlib version into the file
            self.figure.savefig(buf, format="png", dpi=int(dpi), metadata={"Software": None})
        return buf.getvalue()

    def save(self, folder, *, dpi: int = 150) -> tuple[Path, Path]:
        """Write ``<name>.png`` and ``<name>.csv`` into ``folder`` (created if needed).

        Returns
        -------
        (pathlib.Path, pathlib.Path)
            The PNG and CSV paths. Rerunning writes byte-identical files.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        png, csv = folder / f"{self.name}.png", folder / f"{self.name}.csv"
        png.write_bytes(self.to_png(dpi=dpi))
        self.data.to_csv(csv, index=False, lineterminator="\n")
        return png, csv

    def to_data_uri(self, *, dpi: int = 150) -> str:
        """``"data:image/png;base64,..."`` for embedding in a self-contained HTML report."""
        return "data:image/png;base64," + base64.b64encode(self.to_png(dpi=dpi)).decode("ascii")

    def to_html(self, *, dpi: int = 150) -> str:
        """A ``<figure>`` element with the embedded PNG, escaped alt text and the caption."""
        cap = f"\n<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return (f'<figure>\n<img src="{self.to_data_uri(dpi=dpi)}" alt="{html.escape(self.alt)}">'
                f"{cap}\n</figure>")

    def close(self) -> None:
        """Release the figure's artists; the figure cannot be rendered afterwards."""
        self.figure.clear()
        object.__setattr__(self, "_closed", True)   # frozen dataclass: bypass on purpose

    def _check_open(self):
        if getattr(self, "_closed", False):
            raise SpecificationError(f"figure {self.name!r} was closed; build it again to render it")

    def __repr__(self) -> str:
        return f"ReportFigure(name={self.name!r}, rows={len(self.data)}, alt={self.alt[:60]!r}...)"


# ====================================================================== helpers
def _figure(height: float, width: float = WIDTH, **kwargs) -> Figure:
    return Figure(figsize=(width, height), **kwargs)


def _short(label: str) -> str:
    """'WEMWBS (14–70, higher = better)' -> 'WEMWBS'."""
    return str(label).split(" (")[0].strip() or str(label)


def _in_sentence(text: str) -> str:
    """'Isolation' -> 'isolation' mid-sentence; acronyms ('WEMWBS', 'IMD') stay as they are."""
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _slug(text) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "figure"


def _name(name, default) -> str:
    return default if name is None else name


def _num(x, digits: int = 1) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    s = f"{x:.{digits}f}"
    return s[1:] if re.fullmatch(r"-0\.?0*", s) else s


def _signed(x, digits: int = 1) -> str:
    s = _num(x, digits)
    return s if s.startswith("-") or s == "NA" or float(s) == 0 else "+" + s


def _pct(p) -> str:
    return "NA" if p is None or not np.isfinite(p) else f"{100 * p:.0f}%"


def _time(t) -> str:
    return f"{t:g}" if isinstance(t, (int, float, np.integer, np.floating)) else str(t)


def _count(n) -> str:
    return "NA" if n is None or not np.isfinite(n) else f"{int(n):,}"


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _suppressed_sentence(k: int, threshold: int, what: str = "group") -> str:
    if not k:
        return ""
    verb = "it" if k == 1 else "they"
    return (f" {_plural(k, what)} suppressed because {verb} had fewer than {threshold} "
            f"{_PEOPLE}.")


def _hidden_status(status) -> bool:
    s = str(status).lower()
    return "suppress" in s or "withheld" in s


def _suppressed_text(threshold: int) -> str:
    return f"suppressed (n < {threshold})"


def _check_threshold(threshold, where: str) -> int:
    if not (isinstance(threshold, (int, np.integer)) and not isinstance(threshold, bool)
            and threshold >= 1):
        raise SpecificationError(f"{where}: threshold must be a positive integer (the disclosure "
                                 f"threshold, e.g. 5), got {threshold!r}")
    return int(threshold)


def _need_frame(obj, where: str, what: str) -> pd.DataFrame:
    if not isinstance(obj, pd.DataFrame):
        raise SpecificationError(f"{where}: {what} must be a pandas DataFrame, got "
                                 f"{type(obj).__name__}")
    return obj


def _need_columns(frame: pd.DataFrame, columns, where: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnknownNameError(f"{where}: {what} lacks column(s) {missing}; it has "
                               f"{list(frame.columns)}")


def _group_label(level) -> str:
    return f"all {_PEOPLE}" if str(level) == "all" else str(level)


def _text_width(text: str, size: float) -> float:
    """Width of ``text`` in inches at ``size`` points in the report font (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=STYLE["font.sans-serif"], size=size)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of the True runs in a boolean array."""
    m = np.r_[False, np.asarray(mask, bool), False].astype(int)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def _styled(fn):
    """Build the figure under :data:`STYLE` so fonts and colours do not depend on the caller."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


# ====================================================================== trajectories
@_styled
def trajectory_figure(data, means, *, outcome: str, label: str, subject: str = "participant_id",
                      time: str = "weeks", group: str | None = None, individuals: bool = True,
                      max_individuals: int = 150, seed: int = 0, threshold: int = 5,
                      time_label: str | None = None, name: str | None = None) -> ReportFigure:
    """Individual trajectories (faint) with model means and confidence bands, by group.

    Parameters
    ----------
    data : pandas.DataFrame or None
        Long frame (participant × wave) with ``subject``, ``time``, ``outcome`` (and ``group``).
        Used for the faint individual lines and the number of participants per group; may be None
        when ``individuals=False`` (then group sizes are unknown).
    means : pandas.DataFrame
        Model means: a ``time`` column, the ``group`` column when grouped, ``estimate, ci_low,
        ci_high`` and optionally ``status`` (e.g. :func:`evalkit.models.moderation.marginal_means`
        with ``at={time: [...]}``, after disclosure control).
    outcome, label : str
        Score column and its axis label with units, e.g. ``"WEMWBS (14–70, higher = better)"``.
    subject, time, group : str
        Column roles; ``group`` draws one panel per group (with individuals) or one colour per
        group (without).
    individuals : bool
        Draw each participant's observed scores as faint lines (technical report); False for
        public reports.
    max_individuals : int
        At most this many individual lines per group: a seeded sample, the same on every run.
    seed : int
        Seed of that sample.
    threshold : int
        Groups marked withheld/suppressed in ``means``, or with fewer than ``threshold``
        participants in ``data``, are not drawn (no means, no individual lines) and are named as
        "suppressed (n < threshold)".
    time_label : str, optional
        x-axis label; default "Weeks since baseline" for ``time="weeks"``.
    name : str, optional
        File stem; default ``"trajectory_<outcome>"``.

    Returns
    -------
    ReportFigure
        ``data``: one row per group × time: ``group, time, estimate, ci_low, ci_high,
        n_participants, n_individuals_drawn, status``. Individual scores are never exported: the
        CSV next to a figure holds summaries only.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import trajectory_figure
    >>> means = pd.DataFrame({"weeks": [0, 12], "estimate": [44.0, 50.1], "ci_low": [43.0, 49.0],
    ...                       "ci_high": [45.0, 51.2]})
    >>> fig = trajectory_figure(None, means, outcome="wemwbs",
    ...                         label="WEMWBS (14–70, higher = better)", individuals=False)
    >>> print(fig.alt)
    Model-estimated mean WEMWBS went from 44.0 (95% CI 43.0 to 45.0) at week 0 to 50.1 (95% CI
    49.0 to 51.2) at week 12. Bands are 95% confidence intervals.
    """
    where = "trajectory_figure"
    threshold = _check_threshold(threshold, where)
    means = _need_frame(means, where, "means")
    _need_columns(means, [time, "estimate", "ci_low", "ci_high", *([group] if group else [])],
                  where, "means")
    if individuals and data is None:
        raise SpecificationError(f"{where}: individuals=True needs the long data frame; pass data= "
                                 "or individuals=False")
    if data is not None:
        data = _need_frame(data, where, "data")
        _need_columns(data, [subject, time, outcome, *([group] if group else [])], where, "data")
    if not (isinstance(max_individuals, (int, np.integer)) and max_individuals >= 0):
        raise SpecificationError(f"{where}: max_individuals must be a non-negative integer, got "
                                 f"{max_individuals!r}")
    if group is None and means[time].duplicated().any():
        raise SpecificationError(f"{where}: means has several rows per {time!r} value; pass the "
                                 "column that separates them as group=")
    time_label = time_label or ("Weeks since baseline" if time == "weeks" else time)
    short = _short(label)

    levels = list(pd.unique(means[group])) if group else ["all"]
    unmatched = ([] if data is None or group is None else
                 [g for g in pd.unique(data[group].dropna()) if g not in set(levels)])
    obs = None
    if data is not None:
        obs = data.loc[data[outcome].notna(), [subject, time, outcome, *([group] if group else [])]]
    rows, suppressed, drawn, lines = [], [], [], {}
    for gi, lv in enumerate(levels):
        m = means if group is None else means.loc[means[group] == lv]
        m = m.sort_values(time, kind="mergesort")
        sub = None if obs is None else (obs if group is None else obs.loc[obs[group] == lv])
        n = np.nan if sub is None else sub[subject].nunique()
        hidden = (("status" in m.columns and m["status"].map(_hidden_status).any())
                  or m["estimate"].isna().all() or (np.isfinite(n) and n < threshold))
        ids = []
        if not hidden and individuals and sub is not None and len(sub):
            ids = _sample_ids(sub[subject], max_individuals, seed, gi)
            lines[lv] = _segments(sub.loc[sub[subject].isin(ids)], subject, time, outcome)
        (suppressed if hidden else drawn).append(lv)
        for rd in m.to_dict("records"):
            rows.append({"group": lv, "time": rd[time],
                         "estimate": np.nan if hidden else rd["estimate"],
                         "ci_low": np.nan if hidden else rd["ci_low"],
                         "ci_high": np.nan if hidden else rd["ci_high"],
                         "n_participants": np.nan if hidden else n,
                         "n_individuals_drawn": 0 if hidden else len(ids),
                         "status": _suppressed_text(threshold) if hidden else "estimated"})
    table = pd.DataFrame(rows, columns=["group", "time", "estimate", "ci_low", "ci_high",
                                        "n_participants", "n_individuals_drawn", "status"])
    colour = {lv: PALETTE[i % len(PALETTE)] for i, lv in enumerate(levels)}
    style = {lv: (_MARKERS[i % len(_MARKERS)], _DASHES[i % len(_DASHES)])
             for i, lv in enumerate(levels)}

    facets = group is not None and individuals
    if facets:
        k = len(levels)
        ncols = min(k, 3)
        nrows = math.ceil(k / ncols)
        fig = _figure(2.5 * nrows + 0.9, layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax in axes[k:]:
            ax.set_visible(False)
        for ax, lv in zip(axes, levels):
            t = table.loc[table["group"] == lv]
            if lv in suppressed:
                ax.set_title(str(lv))
                ax.text(0.5, 0.5, _suppressed_text(threshold), transform=ax.transAxes, ha="center",
                        va="center", style="italic", color=_NOTE)
                continue
            nn = t["n_participants"].iat[0]
            ax.set_title(f"{lv} (n = {_count(nn)})" if np.isfinite(nn) else str(lv))
            _draw_individuals(ax, lines.get(lv))
            _draw_mean(ax, t, colour[lv], style[lv], label="model mean (95% CI)")
        for i, ax in enumerate(axes[:k]):
            # panels with no panel below them carry the x axis labels
            ax.tick_params(labelbottom=True)
            if i + ncols >= k:
                ax.set_xlabel(time_label)
            if i % ncols == 0:
                ax.set_ylabel(label)
        if any(lv not in suppressed for lv in levels):
            first = next(ax for ax, lv in zip(axes, levels) if lv not in suppressed)
            first.legend(loc="best")
    else:
        fig = _figure(4.2, layout="constrained")
        ax = fig.subplots()
        if group is None:
            if "all" in lines:
                _draw_individuals(ax, lines["all"], label="individual " + _PEOPLE)
            t = table
            if drawn:
                _draw_mean(ax, t, PALETTE[0], style["all"], label="model mean (95% CI)")
            else:
                ax.text(0.5, 0.5, _suppressed_text(threshold), transform=ax.transAxes, ha="center",
                        va="center", style="italic", color=_NOTE)
        else:
            for lv in drawn:
                t = table.loc[table["group"] == lv]
                nn = t["n_participants"].iat[0]
                lab = f"{lv} (n = {_count(nn)})" if np.isfinite(nn) else str(lv)
                _draw_mean(ax, t, colour[lv], style[lv], label=lab)
        ax.set_xlabel(time_label)
        ax.set_ylabel(label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title=group, loc="best")
        if suppressed and group is not None:
            ax.text(0.0, -0.2, "Not shown: " + "; ".join(f"{lv} — {_suppressed_text(threshold)}"
                                                         for lv in suppressed),
                    transform=ax.transAxes, ha="left", va="top", color=_NOTE, fontsize=9)

    alt = _trajectory_alt(table, drawn, suppressed, short, time, threshold, individuals, group,
                          max_individuals)
    caption = ("Lines join the model-estimated means; shaded bands are 95% confidence intervals."
               + (f" Faint lines are individual {_PEOPLE}' observed scores (a random sample of at "
                  f"most {max_individuals} per group)." if individuals else "")
               + (f" Groups with fewer than {threshold} {_PEOPLE} are suppressed." if suppressed
                  else "")
               + (f" No model means for {', '.join(map(str, unmatched))}, so not drawn."
                  if unmatched else ""))
    return ReportFigure(_name(name, f"trajectory_{_slug(outcome)}"), fig, alt, table, caption)


def _sample_ids(ids: pd.Series, k: int, seed: int, stream: int) -> list:
    unique = pd.unique(ids)
    try:
        unique = np.array(sorted(unique))
    except TypeError:
        unique = np.array(sorted(unique, key=str), dtype=object)
    if len(unique) <= k:
        return list(unique)
    # one stream per group: adding a group never changes another group's sample
    rng = np.random.default_rng([int(seed), int(stream)])
    return list(unique[np.sort(rng.choice(len(unique), size=k, replace=False))])


def _segments(sub, subject, time, outcome) -> list[np.ndarray]:
    d = sub.sort_values([subject, time], kind="mergesort")
    xy = d[[time, outcome]].to_numpy(float)
    cuts = np.flatnonzero(d[subject].to_numpy()[1:] != d[subject].to_numpy()[:-1]) + 1
    return [s for s in np.split(xy, cuts) if len(s)]


def _draw_individuals(ax, segments, label=None):
    if not segments:
        return
    lc = LineCollection(segments, colors=_FAINT, linewidths=0.6, alpha=0.35, label=label, zorder=1)
    ax.add_collection(lc)
    singles = np.vstack([s for s in segments if len(s) == 1]) if any(len(s) == 1 for s in segments) \
        else None
    if singles is not None:   # people seen once have no line; show them as faint dots
        ax.scatter(singles[:, 0], singles[:, 1], s=4, color=_FAINT, alpha=0.35, zorder=1)
    ax.autoscale_view()


def _draw_mean(ax, t, colour, style, label):
    t = t.dropna(subset=["estimate"])
    x = t["time"].to_numpy(float)
    ax.fill_between(x, t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float), color=colour,
                    alpha=0.25, linewidth=0, zorder=2)
    ax.plot(x, t["estimate"].to_numpy(float), color=colour, marker=style[0], linestyle=style[1],
            linewidth=2, markersize=5, label=label, zorder=3)


def _trajectory_alt(table, drawn, suppressed, short, time, threshold, individuals, group, k):
    def at(t):
        return f"at week {_time(t)}" if time == "weeks" else f"at {time} {_time(t)}"

    parts = []
    for lv in drawn:
        t = table.loc[(table["group"] == lv)].dropna(subset=["estimate"])
        if t.empty:
            continue
        a, b = t.iloc[0], t.iloc[-1]
        if len(t) == 1:
            text = f"{_num(a.estimate)} (95% CI {_num(a.ci_low)} to {_num(a.ci_high)}) {at(a.time)}"
        else:
            text = (f"went from {_num(a.estimate)} (95% CI {_num(a.ci_low)} to {_num(a.ci_high)}) "
                    f"{at(a.time)} to {_num(b.estimate)} (95% CI {_num(b.ci_low)} to "
                    f"{_num(b.ci_high)}) {at(b.time)}")
        parts.append(text if group is None else f"for {lv} it {text}")
    if not parts:
        alt = f"No model means for {short} are shown."
    elif group is None:
        alt = f"Model-estimated mean {short} {parts[0]}."
    else:
        alt = f"Model-estimated mean {short}: " + "; ".join(parts) + "."
    alt += " Bands are 95% confidence intervals."
    if individuals:
        shown = table.drop_duplicates("group")
        n_drawn = int(shown["n_individuals_drawn"].sum())
        n_all = shown["n_participants"].sum(min_count=1)
        if n_drawn:
            of = (f"all {n_drawn}" if np.isfinite(n_all) and n_drawn == int(n_all)
                  else f"a random sample of {n_drawn} of {_count(n_all)}")
            alt += f" Faint lines show the observed scores of {of} {_PEOPLE}."
    return alt + _suppressed_sentence(len(suppressed), threshold)


# ====================================================================== forest
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
        Rows whose status says suppressed/withheld, or whose ``n_participants`` is below
        ``threshold``, are shown as "suppressed (n < threshold)" with no point and no n. Other rows
        whose status is not "estimated" show their status (e.g. "too small (n < 10)").
    reference : float, optional
        Overall change, drawn as a dotted vertical line (0 is always drawn).
    name : str, optional
        File stem; default ``"forest_<outcome>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``context, level, n_participants, status, estimate, ci_low, ci_high,
        heterogeneity_p_adjusted, drawn`` (suppressed rows blanked).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.report.figures import forest_figure
    >>> scan = pd.DataFrame({
    ...     "outcome": "wemwbs", "context": ["delivery_mode"] * 3,
    ...     "level": ["one_to_one", "group", "both"], "n_participants": [120, 90, np.nan],
    ...     "status": ["estimated", "estimated", "suppressed"], "estimate": [6.1, 2.6, np.nan],
    ...     "ci_low": [4.0, 0.5, np.nan], "ci_high": [8.2, 4.7, np.nan],
    ...     "heterogeneity_p_adjusted": [0.012] * 3})
    >>> print(forest_figure(scan, outcome="wemwbs", label="WEMWBS (14–70, higher = better)").alt)
    Change in WEMWBS was largest for delivery_mode one_to_one (+6.1 points, 95% CI 4.0 to 8.2)
    and smallest for delivery_mode group (+2.6 points, 95% CI 0.5 to 4.7). Change differed by
    delivery_mode (adjusted p = 0.012). 1 group suppressed because it had fewer than 5 mothers.
    """
    where = "forest_figure"
    threshold = _check_threshold(threshold, where)
    scan = _need_frame(scan, where, "scan")
    _need_columns(scan, ["context", "level", "n_participants", "status", "estimate", "ci_low",
                         "ci_high"], where, "scan")
    if "outcome" in scan.columns:
        known = list(pd.unique(scan["outcome"]))
        if outcome not in known:
            raise UnknownNameError(f"{where}: outcome {outcome!r} is not in the scan; it has {known}")
        scan = scan.loc[scan["outcome"] == outcome]
    if scan.empty:
        raise SpecificationError(f"{where}: the scan has no rows to draw")
    short = _short(label)

    n = pd.to_numeric(scan["n_participants"], errors="coerce")
    hidden = scan["status"].map(_hidden_status).to_numpy() | (n < threshold).to_numpy()
    estimated = (scan["status"].astype(str) == "estimated").to_numpy() & ~hidden \
        & np.isfinite(pd.to_numeric(scan["estimate"], errors="coerce")).to_numpy()
    het = (scan["heterogeneity_p_adjusted"] if "heterogeneity_p_adjusted" in scan.columns
           else pd.Series(np.nan, index=scan.index))
    table = pd.DataFrame({
        "context": scan["context"].to_numpy(), "level": scan["level"].astype(str).to_numpy(),
        "n_participants": n.where(~hidden).to_numpy(),
        "status": np.where(hidden, _suppressed_text(threshold), scan["status"].astype(str)),
        "estimate": scan["estimate"].where(estimated).to_numpy(float),
        "ci_low": scan["ci_low"].where(estimated).to_numpy(float),
        "ci_high": scan["ci_high"].where(estimated).to_numpy(float),
        "heterogeneity_p_adjusted": pd.to_numeric(het, errors="coerce").to_numpy(float),
        "drawn": estimated})

    # layout: rows top to bottom, a header row per context
    layout, y = [], 0.0
    for ctx, grp in table.groupby("context", sort=False):
        layout.append(("header", ctx, y, grp))
        y += 1
        for i in grp.index:
            layout.append(("row", ctx, y, table.loc[i]))
            y += 1
        y += 0.4
    height = max(2.4, 0.27 * y + 1.1)
    fig = _figure(height)
    gs = fig.add_gridspec(1, 3, width_ratios=[2.2, 3.0, 2.2], wspace=0.03,
                          left=0.01, right=0.99, top=1 - 0.35 / height, bottom=0.62 / height)
    ax_lab = fig.add_subplot(gs[0])
    ax = fig.add_subplot(gs[1], sharey=ax_lab)
    ax_txt = fig.add_subplot(gs[2], sharey=ax_lab)
    for a in (ax_lab, ax_txt):
        a.set_axis_off()
        a.set_xlim(0, 1)
    ax_lab.set_ylim(y - 0.4, -0.9)
    ax.tick_params(left=False, labelleft=False)
    ax.spines["left"].set_visible(False)
    ax_txt.text(0.04, -0.75, "n", fontweight="bold", va="center", fontsize=9)
    ax_txt.text(0.38, -0.75, "change (95% CI)", fontweight="bold", va="center", fontsize=9)
    in_plot = blended_transform_factory(ax.transAxes, ax.transData)
    for kind, ctx, yy, r in layout:
        if kind == "header":
            ax_lab.text(0.02, yy, _clip(str(ctx), 30), fontweight="bold", va="center")
            p = r["heterogeneity_p_adjusted"].dropna()
            if len(p):
                ax_txt.text(0.04, yy, f"difference p = {_p(p.iat[0])} (adj.)", va="center",
                            fontsize=9, color=_NOTE)
            continue
        ax_lab.text(0.08, yy, _clip(str(r["level"]), 30), va="center")
        if r["drawn"]:
            ax.errorbar(r["estimate"], yy, xerr=[[r["estimate"] - r["ci_low"]],
                                                 [r["ci_high"] - r["estimate"]]],
                        fmt="s", color=_IMPROVED, ecolor=_IMPROVED, markersize=5, capsize=2.5,
                        elinewidth=1.4, zorder=3)
            ax_txt.text(0.38, yy, f"{_signed(r['estimate'])} ({_num(r['ci_low'])} to "
                                  f"{_num(r['ci_high'])})", va="center", fontsize=9)
        else:
            ax.text(0.02, yy, r["status"], transform=in_plot, va="center", ha="left",
                    style="italic", color=_NOTE, fontsize=9, zorder=4, bbox=_WHITE)
        ax_txt.text(0.04, yy, "suppressed" if not np.isfinite(r["n_participants"])
                    else _count(r["n_participants"]), va="center", fontsize=9,
                    style="italic" if not np.isfinite(r["n_participants"]) else "normal")
    xs = np.r_[table["ci_low"].dropna(), table["ci_high"].dropna(), 0.0,
               [] if reference is None else [reference]]
    lo, hi = float(xs.min()), float(xs.max())
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvline(0, color="black", lw=0.9, zorder=1)
    if reference is not None and np.isfinite(reference):
        ax.axvline(reference, color=_FAINT, ls="--", lw=1.1, zorder=1)
        ax.text(reference, -0.75, f"overall {_signed(reference)}", ha="center", va="center",
                fontsize=9, color=_NOTE, bbox=_WHITE)
    ax.set_xlabel(f"Change in {label}", fontsize=9.5)

    alt = _forest_alt(table, short, reference, threshold)
    caption = (f"Model-estimated change in {short} by context (squares) with 95% confidence "
               "intervals (lines); the solid line marks no change"
               + ("" if reference is None else ", the dashed line the overall change")
               + f". Levels with fewer than {threshold} {_PEOPLE} are suppressed.")
    return ReportFigure(_name(name, f"forest_{_slug(outcome)}"), fig, alt, table, caption)


def _and(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _p(p) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _forest_alt(table, short, reference, threshold):
    est = table.loc[table["drawn"]]
    n_hidden = int(table["status"].eq(_suppressed_text(threshold)).sum())
    other = table.loc[~table["drawn"] & table["status"].ne(_suppressed_text(threshold))]
    if est.empty:
        alt = f"No change in {short} could be estimated for any context level."
    else:
        top = est.loc[est["estimate"].idxmax()]
        low = est.loc[est["estimate"].idxmin()]

        def desc(r):
            return (f"{r['context']} {r['level']} ({_signed(r['estimate'])} points, 95% CI "
                    f"{_num(r['ci_low'])} to {_num(r['ci_high'])})")
        alt = (f"Change in {short} was largest for {desc(top)}" +
               (f" and smallest for {desc(low)}." if len(est) > 1 else "."))
    if reference is not None and np.isfinite(reference):
        alt += f" Overall change was {_signed(reference)} points."
    het = table.drop_duplicates("context").dropna(subset=["heterogeneity_p_adjusted"])
    sig = het.loc[het["heterogeneity_p_adjusted"] < 0.05]
    if len(het):
        if len(sig):
            alt += " Change differed by " + _and([
                f"{r.context} (adjusted p = {_p(r.heterogeneity_p_adjusted)})"
                for r in sig.itertuples()]) + "."
        else:
            alt += (" No context showed a clear difference in change (all adjusted p ≥ 0.05).")
    alt += _suppressed_sentence(n_hidden, threshold)
    if len(other):
        alt += (f" {_plural(len(other), 'level')} not estimated: "
                + "; ".join(f"{r.context} {r.level}, {r.status}" for r in other.itertuples()) + ".")
    return alt


# ====================================================================== Johnson–Neyman
@_styled
def jn_figure(jn, *, label: str, moderator_label: str, effect_label: str | None = None,
              name: str | None = None) -> ReportFigure:
    """The conditional effect across a numeric moderator, with the region where its CI excludes 0.

    Parameters
    ----------
    jn : evalkit.models.moderation.JohnsonNeyman
        From :func:`evalkit.models.moderation.johnson_neyman` (``.curve``, ``.bounds``,
        ``.observed_range``, ``.confidence``).
    label : str
        The outcome with units, e.g. ``"WEMWBS (14–70, higher = better)"``.
    moderator_label : str
        The moderator with units, e.g. ``"Isolation score (0–10)"``.
    effect_label : str, optional
        What the effect is, e.g. ``"change in WEMWBS over 12 weeks"``; default ``"the effect of
        <effect> on <outcome>"``.
    name : str, optional
        File stem; default ``"jn_<moderator>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``kind`` ("curve" or "boundary"), ``moderator_value, estimate, ci_low, ci_high,
        significant``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.moderation import JohnsonNeyman
    >>> from evalkit.report.figures import jn_figure
    >>> w = np.linspace(0, 10, 11)
    >>> curve = pd.DataFrame({"isolation": w, "estimate": 6 - 0.6 * w, "std_error": 1.0, "df": 100.0,
    ...                       "ci_low": 4 - 0.6 * w, "ci_high": 8 - 0.6 * w})
    >>> curve["significant"] = (curve["ci_low"] > 0) | (curve["ci_high"] < 0)
    >>> bounds = pd.DataFrame({"moderator_value": [6.67], "inside_data": [True],
    ...                        "side": ["significant below"]})
    >>> jn = JohnsonNeyman(effect="weeks", moderator="isolation", bounds=bounds, curve=curve,
    ...                    observed_range=(0.0, 10.0), confidence=0.95)
    >>> print(jn_figure(jn, label="WEMWBS (14–70)", moderator_label="Isolation (0–10)").alt)
    The effect of weeks on WEMWBS was distinguishable from 0 (95% CI excludes 0) for isolation
    below 6.67; elsewhere the CI includes 0. The estimate was +6.0 (95% CI 4.0 to 8.0) at
    isolation 0.00 and 0.0 (95% CI -2.0 to 2.0) at isolation 10.00.
    """
    where = "jn_figure"
    for attr in ("curve", "bounds", "moderator", "effect", "observed_range", "confidence"):
        if not hasattr(jn, attr):
            raise SpecificationError(f"{where}: needs the result of johnson_neyman(), got "
                                     f"{type(jn).__name__} (no .{attr})")
    c = jn.curve
    _need_columns(c, [jn.moderator, "estimate", "ci_low", "ci_high"], where, "jn.curve")
    c = c.sort_values(jn.moderator, kind="mergesort")
    x = c[jn.moderator].to_numpy(float)
    sig = (c["significant"].to_numpy(bool) if "significant" in c.columns
           else ((c["ci_low"] > 0) | (c["ci_high"] < 0)).to_numpy())
    conf = int(round(jn.confidence * 100))
    short, mshort = _short(label), _in_sentence(_short(moderator_label))
    effect_label = effect_label or f"the effect of {jn.effect} on {short}"
    lo, hi = jn.observed_range
    b = jn.bounds
    inside = (b.loc[b["inside_data"].astype(bool), "moderator_value"].to_numpy(float)
              if len(b) else np.array([]))
    regions = []
    for i, j in _runs(sig):
        a = x[i] if i == 0 else _nearest(inside, x[i - 1], x[i])
        z = x[j] if j == len(x) - 1 else _nearest(inside, x[j], x[j + 1])
        regions.append((a, z, i == 0, j == len(x) - 1))

    fig = _figure(4.0, layout="constrained")
    ax = fig.subplots()
    for k, (a, z, _, _) in enumerate(regions):
        ax.axvspan(a, z, color=OKABE_ITO["orange"], alpha=0.15, lw=0,
                   label=f"{conf}% CI excludes 0" if k == 0 else None)
    ax.fill_between(x, c["ci_low"].to_numpy(float), c["ci_high"].to_numpy(float),
                    color=OKABE_ITO["sky_blue"], alpha=0.45, lw=0, label=f"{conf}% CI")
    ax.plot(x, c["estimate"].to_numpy(float), color=OKABE_ITO["blue"], lw=2, label="estimate")
    ax.axhline(0, color="black", lw=0.9)
    for v in inside:
        ax.axvline(v, color=_DETERIORATED, ls="--", lw=1.2)
        ax.annotate(f"{v:.2f}", (v, 1.0), xycoords=("data", "axes fraction"), ha="center",
                    va="bottom", fontsize=9, color=_DETERIORATED)
    ax.set_xlim(lo, hi) if hi > lo else None
    ax.set_xlabel(moderator_label)
    ax.set_ylabel(f"{effect_label[0].upper()}{effect_label[1:]}\n({conf}% CI)")
    ax.legend(loc="best")

    data = pd.concat([
        pd.DataFrame({"kind": "curve", "moderator_value": x, "estimate": c["estimate"].to_numpy(float),
                      "ci_low": c["ci_low"].to_numpy(float), "ci_high": c["ci_high"].to_numpy(float),
                      "significant": sig}),
        pd.DataFrame({"kind": "boundary", "moderator_value": b["moderator_value"].to_numpy(float)
                      if len(b) else np.array([]), "estimate": np.nan, "ci_low": np.nan,
                      "ci_high": np.nan, "significant": pd.NA})], ignore_index=True)
    data["significant"] = data["significant"].astype("boolean")

    first, last = c.iloc[0], c.iloc[-1]
    subject = effect_label[0].upper() + effect_label[1:]
    if not regions:
        alt = (f"{subject} was not distinguishable from 0 ({conf}% CI includes 0) anywhere in "
               f"the observed range of {mshort} ({lo:.2f} to {hi:.2f}).")
    else:
        parts = []
        for a, z, at_lo, at_hi in regions:
            if at_lo and at_hi:
                parts.append(f"across the whole observed range ({lo:.2f} to {hi:.2f})")
            elif at_lo:
                parts.append(f"below {z:.2f}")
            elif at_hi:
                parts.append(f"above {a:.2f}")
            else:
                parts.append(f"between {a:.2f} and {z:.2f}")
        whole = len(regions) == 1 and regions[0][2] and regions[0][3]
        alt = (f"{subject} was distinguishable from 0 ({conf}% CI excludes 0) for {mshort} "
               + " and ".join(parts) + ("." if whole else "; elsewhere the CI includes 0."))
    alt += (f" The estimate was {_signed(first['estimate'])} ({conf}% CI {_num(first['ci_low'])} to "
            f"{_num(first['ci_high'])}) at {mshort} {x[0]:.2f} and {_signed(last['estimate'])} "
            f"({conf}% CI {_num(last['ci_low'])} to {_num(last['ci_high'])}) at {mshort} {x[-1]:.2f}.")
    caption = (f"{subject} across the observed range of {mshort}, with its {conf}% confidence band; "
               "shaded regions are where the band excludes 0 (Johnson–Neyman)"
               + ("; dashed lines mark the boundaries." if len(inside) else "."))
    return ReportFigure(_name(name, f"jn_{_slug(jn.moderator)}"), fig, alt, data, caption)


def _nearest(bounds: np.ndarray, a: float, b: float) -> float:
    """A Johnson–Neyman boundary between two grid points, else the grid point ``b`` side midpoint."""
    m = bounds[(bounds >= min(a, b)) & (bounds <= max(a, b))]
    return float(m[0]) if len(m) else (a + b) / 2


# ====================================================================== reliable change
_RC = ("reliable_improvement", "no_reliable_change", "reliable_deterioration")
_RC_LABEL = {"reliable_improvement": "reliably improved", "no_reliable_change": "no reliable change",
             "reliable_deterioration": "reliably deteriorated"}
_RC_COLOUR = {"reliable_improvement": _IMPROVED, "no_reliable_change": _NO_CHANGE,
              "reliable_deterioration": _DETERIORATED}


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
        The instrument, e.g. ``"WEMWBS (14–70, higher = better)"``.
    threshold : int
        A group is drawn as "suppressed" when any of its three counts is hidden (NaN), its status
        says suppressed/withheld, or its n is below ``threshold`` (showing the other shares would
        reveal the hidden one by subtraction).
    name : str, optional
        File stem; default ``"reliable_change_<instrument>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``group, outcome, n, count, proportion, ci_low, ci_high, status`` for the three
        outcomes of every group (all blank for a suppressed group).

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
    summary = _need_frame(summary, where, "summary")
    _need_columns(summary, ["group", "outcome", "n", "count", "proportion", "ci_low", "ci_high"],
                  where, "summary")
    s = summary.loc[summary["outcome"].isin(_RC)]
    if s.empty:
        raise SpecificationError(f"{where}: summary has no rows for {list(_RC)}; pass the output of "
                                 "evalkit.change.change_summary")
    short = _short(label)
    groups = list(pd.unique(s["group"].astype(object).where(s["group"].notna(), "missing")))
    s = s.assign(group=s["group"].astype(object).where(s["group"].notna(), "missing"))
    rows, info = [], []
    for g in groups:
        sub = s.loc[s["group"] == g].set_index("outcome").reindex(list(_RC))
        n = pd.to_numeric(sub["n"], errors="coerce").max()
        counts = pd.to_numeric(sub["count"], errors="coerce")
        props = pd.to_numeric(sub["proportion"], errors="coerce")
        status_hidden = "status" in sub.columns and sub["status"].map(_hidden_status).any()
        if np.isfinite(n) and n == 0:
            status = "no data (n = 0)"
        elif (status_hidden or not np.isfinite(n) or n < threshold or counts.isna().any()
              or props.isna().any()):
            status = (_suppressed_text(threshold) if not np.isfinite(n) or n < threshold
                      else f"suppressed (a count below {threshold})")
        else:
            status = "shown"
        shown = status == "shown"
        info.append((g, n if (shown or (np.isfinite(n) and n >= threshold)) else np.nan, status, sub))
        for o in _RC:
            rows.append({"group": g, "outcome": o,
                         "n": n if (np.isfinite(n) and n >= threshold) or n == 0 else np.nan,
                         "count": counts[o] if shown else np.nan,
                         "proportion": props[o] if shown else np.nan,
                         "ci_low": sub.at[o, "ci_low"] if shown else np.nan,
                         "ci_high": sub.at[o, "ci_high"] if shown else np.nan, "status": status})
    table = pd.DataFrame(rows, columns=["group", "outcome", "n", "count", "proportion", "ci_low",
                                        "ci_high", "status"])

    k = len(groups)
    ticklabels = [_clip(_group_label(g), 28) + (f" (n = {_count(n)})" if np.isfinite(n) else "")
                  for g, n, _, _ in info]
    height = max(2.6, 0.45 * k + 1.6)
    fig = _figure(height)
    # fixed margins in inches (tick labels measured), so the share columns on the right always fit
    left = (max(_text_width(t, 9) for t in ticklabels) + 0.25) / WIDTH
    col_imp, col_det = 1 - 1.2 / WIDTH, 1 - 0.48 / WIDTH
    ax = fig.add_axes((left, 0.85 / height, 1 - 1.65 / WIDTH - left, 1 - 1.2 / height))
    ys = np.arange(k)
    side = blended_transform_factory(ax.transAxes, ax.transData)
    cols = blended_transform_factory(fig.transFigure, ax.transData)
    for x, text in ((col_imp, "improved"), (col_det, "deteriorated")):
        ax.text(x, -0.55, text, transform=cols, ha="center", va="bottom", fontsize=9,
                color=_NOTE)
    for y, (g, n, status, _) in zip(ys, info):
        t = table.loc[table["group"] == g].set_index("outcome")
        if status != "shown":
            ax.text(0.01, y, status, va="center", ha="left", style="italic", color=_NOTE,
                    transform=side)
            continue
        p = t["proportion"]
        left_of = {"reliable_improvement": 0.0, "no_reliable_change": p["reliable_improvement"],
                   "reliable_deterioration": 1.0 - p["reliable_deterioration"]}
        for o in _RC:
            ax.barh(y, 100 * p[o], left=100 * left_of[o], height=0.62, color=_RC_COLOUR[o],
                    edgecolor="white", linewidth=0.8)
            if o == "no_reliable_change" and p[o] >= 0.07:
                ax.text(100 * (left_of[o] + p[o] / 2), y, _pct(p[o]), ha="center", va="center",
                        fontsize=9, color="black")
        # improvement and deterioration as numbers too, side by side with equal weight
        for x, o in ((col_imp, "reliable_improvement"), (col_det, "reliable_deterioration")):
            ax.text(x, y, _pct(p[o]), transform=cols, ha="center", va="center", fontsize=9.5,
                    fontweight="bold", color=_RC_COLOUR[o])
        imp, det = t.loc["reliable_improvement"], t.loc["reliable_deterioration"]
        ax.errorbar(100 * imp["proportion"], y - 0.18,
                    xerr=[[100 * (imp["proportion"] - imp["ci_low"])],
                          [100 * (imp["ci_high"] - imp["proportion"])]],
                    fmt="none", ecolor="black", elinewidth=1.1, capsize=2.5)
        edge = 1.0 - det["proportion"]
        ax.errorbar(100 * edge, y + 0.18, xerr=[[100 * (det["ci_high"] - det["proportion"])],
                                               [100 * (det["proportion"] - det["ci_low"])]],
                    fmt="none", ecolor="black", elinewidth=1.1, capsize=2.5)
    ax.set_yticks(ys, ticklabels)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"Share of {_PEOPLE} with both {short} scores (%)")
    handles = [Patch(facecolor=_RC_COLOUR[o], edgecolor="#999999", label=_RC_LABEL[o]) for o in _RC]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=3)

    alt = _rc_alt(table, info, short, threshold)
    caption = (f"Reliable change on {short}: blue bars from the left are {_PEOPLE} who reliably "
               "improved, vermillion bars from the right those who reliably deteriorated; black "
               "lines are 95% Wilson confidence intervals."
               + (f" Groups with small numbers are suppressed (n < {threshold})."
                  if any(st.startswith("suppressed") for _, _, st, _ in info) else ""))
    return ReportFigure(_name(name, f"reliable_change_{_slug(short)}"), fig, alt, table, caption)


def _rc_alt(table, info, short, threshold):
    shown = [g for g, _, st, _ in info if st == "shown"]
    wide = {o: table.loc[table["outcome"] == o].set_index("group") for o in _RC}

    def share(o, g):
        r = wide[o].loc[g]
        return f"{_pct(r['proportion'])} (95% CI {_pct(r['ci_low'])} to {_pct(r['ci_high'])})"

    lead = "all" if "all" in shown else (shown[0] if shown else None)
    if lead is None:
        alt = f"No reliable-change shares for {short} can be shown."
    else:
        n = wide["reliable_improvement"].at[lead, "n"]
        who = (f"all {_count(n)} {_PEOPLE} with both scores" if lead == "all"
               else f"the {_count(n)} {_PEOPLE} in {lead} with both scores")
        alt = (f"Of {who}, {share('reliable_improvement', lead)} reliably improved on {short} and "
               f"{share('reliable_deterioration', lead)} reliably deteriorated; "
               f"{_pct(wide['no_reliable_change'].at[lead, 'proportion'])} showed no reliable change.")
    others = [g for g in shown if g != "all"]
    if len(others) >= 2:
        imp = wide["reliable_improvement"].loc[others, "proportion"].astype(float)
        det = wide["reliable_deterioration"].loc[others, "proportion"].astype(float)
        alt += (f" Reliable improvement ranged from {_pct(imp.min())} ({imp.idxmin()}) to "
                f"{_pct(imp.max())} ({imp.idxmax()}); reliable deterioration from "
                f"{_pct(det.min())} ({det.idxmin()}) to {_pct(det.max())} ({det.idxmax()}).")
    hidden = sum(st.startswith("suppressed") for _, _, st, _ in info)
    small = sum(st == _suppressed_text(threshold) for _, _, st, _ in info)
    if small:
        alt += _suppressed_sentence(small, threshold)
    if hidden - small:
        alt += (f" {_plural(hidden - small, 'group')} suppressed because a count was below "
                f"{threshold}.")
    return alt


# ====================================================================== Kaplan–Meier
@_styled
def km_figure(km, risk, *, label: str, times, withheld=(), threshold: int = 5,
              time_label: str = "Weeks since baseline", name: str | None = None) -> ReportFigure:
    """Kaplan–Meier curves with confidence bands and a disclosure-controlled risk table.

    Parameters
    ----------
    km : evalkit.models.survival.KMResult
    risk : pandas.DataFrame
        The risk table after disclosure control (``KMResult.risk_table(times,
        suppress_below=threshold)``): ``group, time, at_risk`` (NaN cells are printed
        ``"<threshold"``).
    label : str
        y-axis label, e.g. ``"Proportion still engaged"``.
    times : sequence of float
        Times of the risk-table columns (also the x ticks).
    withheld : sequence
        Groups not drawn (named in a note and as a "suppressed" row of the risk table). Groups
        with fewer than ``threshold`` people are withheld too.
    threshold : int
    time_label : str
    name : str, optional
        File stem; default ``"km_<by>"``.

    Returns
    -------
    ReportFigure
        ``data``: ``kind`` ("curve" or "risk"), ``group, time, survival, ci_low, ci_high,
        at_risk, events, censored``. Curve rows carry no counts (the per-time counts are not
        disclosure-controlled); risk rows are the controlled risk table.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import kaplan_meier
    >>> from evalkit.report.figures import km_figure
    >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12, 4, 6, 7, 12],
    ...                   "e": [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0]})
    >>> km = kaplan_meier(d, duration="w", event="e")
    >>> risk = km.risk_table([0, 6, 12], suppress_below=5)
    >>> print(km_figure(km, risk, label="Proportion still engaged", times=[0, 6, 12]).alt)
    Proportion still engaged (Kaplan–Meier) at week 12: 43% (95% CI 21% to 88%) for all mothers.
    Median time: 8 weeks (95% CI 5 to not reached).
    """
    where = "km_figure"
    threshold = _check_threshold(threshold, where)
    if not (hasattr(km, "table") and hasattr(km, "groups") and hasattr(km, "median")):
        raise SpecificationError(f"{where}: km must be the result of kaplan_meier(), got "
                                 f"{type(km).__name__}")
    risk = _need_frame(risk, where, "risk")
    _need_columns(risk, ["group", "time", "at_risk"], where, "risk")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.size == 0:
        raise SpecificationError(f"{where}: give at least one time for the risk table")
    if isinstance(withheld, (str, bytes)):
        withheld = [withheld]
    groups = km.groups
    unknown = [w for w in withheld if str(w) not in {str(g) for g in groups}]
    if unknown:
        raise UnknownNameError(f"{where}: withheld group(s) {unknown} are not groups of the curve; "
                               f"groups are {groups}")
    sizes = km.table.groupby("group", sort=False)["at_risk"].max()
    hide = {str(g) for g in withheld} | {str(g) for g in groups if sizes.get(g, 0) < threshold}
    shown = [g for g in groups if str(g) not in hide]
    hidden = [g for g in groups if str(g) in hide]
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    dash = {g: _DASHES[i % len(_DASHES)] for i, g in enumerate(groups)}
    conf = int(round(km.confidence * 100))

    k = len(groups)
    risk_h = 0.24 * (k + 1) + 0.2
    note_h = 0.3 if hidden else 0.0
    height = 3.3 + risk_h + note_h + 0.75
    fig = _figure(height)
    labels = [_clip(_group_label(g), 24) for g in groups]
    left = max(0.8, max(_text_width(t, 9) for t in [*labels, "Number at risk"]) + 0.35) / WIDTH
    gs = fig.add_gridspec(2, 1, height_ratios=[3.3, risk_h], hspace=0.0,
                          left=left, right=0.97, top=1 - 0.15 / height,
                          bottom=(0.6 + note_h) / height)
    ax = fig.add_subplot(gs[0])
    ax_r = fig.add_subplot(gs[1], sharex=ax)
    curves = []
    for g in shown:
        tab = km.table.loc[km.table["group"] == g]
        x = np.r_[0.0, tab["time"].to_numpy(float)]
        s = np.r_[1.0, tab["survival"].to_numpy(float)]
        lo = np.r_[1.0, tab["ci_low"].to_numpy(float)]
        hi = np.r_[1.0, tab["ci_high"].to_numpy(float)]
        ax.fill_between(x, lo, hi, step="post", color=colour[g], alpha=0.18, lw=0)
        ax.step(x, s, where="post", color=colour[g], ls=dash[g], lw=2,
                label=_group_label(g) if km.by is not None else f"all {_PEOPLE}")
        curves.append(pd.DataFrame({"kind": "curve", "group": g, "time": x, "survival": s,
                                    "ci_low": lo, "ci_high": hi}))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(label)
    ax.tick_params(labelbottom=False)
    ax.set_xticks(times)
    xmax = max(float(times.max()), float(km.table["time"].max()))
    xmin = min(0.0, float(times.min()))
    span = xmax - xmin if xmax > xmin else 1.0
    # room left of the first risk-table column, so counts never touch the group labels
    ax.set_xlim(xmin - 0.06 * span, xmax + 0.02 * span)
    if shown and km.by is not None:
        ax.legend(title=km.by, loc="lower left")
    # the risk table: one row per group (withheld groups say so), one column per time
    ax_r.set_ylim(k + 0.1, -1.0)
    ax_r.tick_params(left=False, labelleft=False)
    for side in ("left", "top", "right"):
        ax_r.spines[side].set_visible(False)
    ax_r.set_xlabel(time_label)
    ax_r.set_xticks(times, [_time(t) for t in times])
    lab = blended_transform_factory(ax_r.transAxes, ax_r.transData)
    ax_r.text(-0.01, -0.55, "Number at risk", transform=lab, ha="right", va="center",
              fontweight="bold", fontsize=9)
    rk = risk.assign(_g=risk["group"].astype(str))
    for j, g in enumerate(groups):
        ax_r.text(-0.01, j + 0.35, labels[j], transform=lab, ha="right",
                  va="center", fontsize=9, color=colour[g] if g in shown else _NOTE)
        if g in hidden:
            ax_r.text(0.5, j + 0.35, _suppressed_text(threshold), transform=lab, ha="center",
                      va="center", style="italic", color=_NOTE, fontsize=9)
            continue
        sub = rk.loc[rk["_g"] == str(g)]
        for t in times:
            cell = sub.loc[np.isclose(sub["time"].astype(float), t), "at_risk"]
            text = ("–" if cell.empty else f"<{threshold}" if pd.isna(cell.iat[0])
                    else _count(cell.iat[0]))
            ax_r.text(t, j + 0.35, text, ha="center", va="center", fontsize=9)
    if hidden:
        fig.text(0.01, 0.02, "Not shown: " + "; ".join(f"{_group_label(g)} — "
                                                        f"{_suppressed_text(threshold)}"
                                                        for g in hidden),
                 ha="left", va="bottom", fontsize=9, color=_NOTE)

    keep = risk.loc[~risk["group"].astype(str).isin(hide)].copy()
    risk_rows = pd.DataFrame({"kind": "risk", "group": keep["group"].to_numpy(),
                              "time": keep["time"].to_numpy(float),
                              "at_risk": keep["at_risk"].to_numpy(float)})
    for col in ("events", "censored"):
        risk_rows[col] = keep[col].to_numpy(float) if col in keep.columns else np.nan
    data = pd.concat([*curves, risk_rows], ignore_index=True)
    data = data.reindex(columns=["kind", "group", "time", "survival", "ci_low", "ci_high",
                                 "at_risk", "events", "censored"])

    alt = _km_alt(km, shown, hidden, label, times, conf, threshold)
    caption = (f"Kaplan–Meier estimates with {conf}% confidence bands; the table gives the number "
               f"still at risk (counts below {threshold} shown as <{threshold})."
               + (f" Groups with fewer than {threshold} {_PEOPLE} are not drawn." if hidden else ""))
    return ReportFigure(_name(name, f"km_{_slug(km.by or 'all')}"), fig, alt, data, caption)


def _km_alt(km, shown, hidden, label, times, conf, threshold):
    t_end = float(times.max())
    if not shown:
        return ("No Kaplan–Meier curve is shown." + _suppressed_sentence(len(hidden), threshold))
    at = km.survival_at(t_end)
    at = at.loc[at["group"].isin(shown)].set_index("group")
    parts = []
    for g in shown:
        r = at.loc[g]
        who = _group_label(g) if km.by is not None else f"all {_PEOPLE}"
        if np.isfinite(r["survival"]):
            parts.append(f"{_pct(r['survival'])} ({conf}% CI {_pct(r['ci_low'])} to "
                         f"{_pct(r['ci_high'])}) for {who}")
        else:
            parts.append(f"not estimable for {who} (follow-up ended earlier)")
    alt = f"{_short(label)} (Kaplan–Meier) at week {_time(t_end)}: " + "; ".join(parts) + "."
    med = km.median.loc[km.median["group"].isin(shown)].set_index("group")

    def wk(v):
        return "not reached" if not np.isfinite(v) else f"{v:g}"
    meds = []
    for g in shown:
        r = med.loc[g]
        who = "" if km.by is None else f" for {_group_label(g)}"
        meds.append(f"{wk(r['median'])}{'' if not np.isfinite(r['median']) else ' weeks'} "
                    f"({conf}% CI {wk(r['ci_low'])} to {wk(r['ci_high'])}){who}")
    alt += " Median time: " + "; ".join(meds) + "."
    if hidden:
        alt += (f" Not shown: {', '.join(map(_group_label, hidden))} "
                f"(fewer than {threshold} {_PEOPLE}, suppressed).")
    return alt


# ====================================================================== missingness
_PATTERN_META = ("pattern", "n_participants", "percent", "status")


@_styled
def missingness_figure(patterns, *, label: str, threshold: int = 5,
                       name: str | None = None) -> ReportFigure:
    """Which waves each group of participants completed: one row per missingness pattern.

    Parameters
    ----------
    patterns : pandas.DataFrame
        ``pattern``, one boolean column per wave (True = observed), ``n_participants`` and
        ``percent`` (e.g. from ``evalkit.attrition.missingness_patterns``; NaN counts are
        suppressed and printed as "suppressed").
    label : str
        What was measured, e.g. ``"WEMWBS"``.
    threshold : int
        Counts below it are treated as suppressed even if visible.
    name : str, optional
        File stem; default ``"missingness_<label>"``.

    Returns
    -------
    ReportFigure
        ``data``: the patterns table with suppressed counts blanked and a ``status`` column.

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
    completed all 3 waves and 12% baseline only. 1 pattern suppressed because it had fewer than
    5 mothers.
    """
    where = "missingness_figure"
    threshold = _check_threshold(threshold, where)
    patterns = _need_frame(patterns, where, "patterns")
    _need_columns(patterns, ["pattern", "n_participants", "percent"], where, "patterns")
    waves = [c for c in patterns.columns if c not in _PATTERN_META]
    bad = [c for c in waves if not (pd.api.types.is_bool_dtype(patterns[c])
                                    or str(patterns[c].dtype) == "boolean")]
    if bad or not waves:
        raise SpecificationError(f"{where}: the wave columns must be boolean (True = observed); "
                                 f"{'no wave columns found' if not waves else f'not boolean: {bad}'}")
    if patterns.empty:
        raise SpecificationError(f"{where}: the patterns table has no rows")
    short = _short(label)
    n = pd.to_numeric(patterns["n_participants"], errors="coerce")
    hidden = n.isna() | (n < threshold)
    if "status" in patterns.columns:
        hidden |= patterns["status"].map(_hidden_status)
    table = patterns.copy()
    table["n_participants"] = n.mask(hidden)
    table["percent"] = pd.to_numeric(patterns["percent"], errors="coerce").mask(hidden)
    table["status"] = np.where(hidden, _suppressed_text(threshold), "shown")
    obs = table[waves].astype(bool).to_numpy()

    k, w = obs.shape
    height = max(2.4, 0.3 * k + 1.3)
    fig = _figure(height, layout="constrained")
    ax, ax_n = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [max(w, 2), 3.2]})
    cmap = ListedColormap(["#F2F2F2", _IMPROVED])
    ax.pcolormesh(np.arange(w + 1), np.arange(k + 1), obs.astype(float), cmap=cmap, vmin=0, vmax=1,
                  edgecolors="white", linewidth=1.5)
    miss_y, miss_x = np.nonzero(~obs)   # a mark as well as a colour, for greyscale printing
    ax.scatter(miss_x + 0.5, miss_y + 0.5, marker="x", s=14, color="#9A9A9A", linewidths=0.9)
    ax.set_xticks(np.arange(w) + 0.5, [str(c) for c in waves], rotation=30 if w > 4 else 0,
                  ha="right" if w > 4 else "center")
    ax.set_yticks(np.arange(k) + 0.5, [_clip(str(p), 20) for p in table["pattern"]])
    ax.set_ylim(k, 0)
    ax.set_xlabel("Wave")
    ax.set_ylabel("Pattern")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    pct = table["percent"].to_numpy(float)
    ax_n.barh(np.arange(k)[~hidden.to_numpy()] + 0.5, pct[~hidden.to_numpy()], height=0.6,
              color=_FAINT)
    top = np.nanmax(pct) if np.isfinite(pct).any() else 100.0
    ax_n.set_xlim(0, top * 1.45 + 1)
    for i, r in enumerate(table.itertuples(index=False)):
        if r.status != "shown":
            ax_n.text(0.5, i + 0.5, "suppressed", va="center", ha="left", style="italic",
                      color=_NOTE, fontsize=9)
        else:
            ax_n.text(r.percent + top * 0.03, i + 0.5, f"{_count(r.n_participants)} ({r.percent:.0f}%)",
                      va="center", ha="left", fontsize=9)
    ax_n.set_xlabel(f"{_PEOPLE.capitalize()} (%)")
    ax_n.tick_params(left=False)
    handles = [Patch(facecolor=_IMPROVED, label=f"{short} observed"),
               Patch(facecolor="#F2F2F2", edgecolor="#9A9A9A", label="missing (×)")]
    fig.legend(handles=handles, loc="outside upper center", ncol=2)

    alt = _missingness_alt(table, waves, short, threshold)
    caption = (f"Each row is a pattern of completed ({short} observed, blue) and missing (grey ×) "
               f"waves, with the number and share of {_PEOPLE} who had it."
               + (f" Patterns with fewer than {threshold} {_PEOPLE} are suppressed."
                  if hidden.any() else ""))
    return ReportFigure(_name(name, f"missingness_{_slug(short)}"), fig, alt, table, caption)


def _describe_pattern(row_obs, waves) -> str:
    seen = [w for w, o in zip(waves, row_obs) if o]
    if len(seen) == len(waves):
        return f"all {len(waves)} waves"
    if not seen:
        return "no wave"
    if len(seen) == 1:
        return f"{seen[0]} only"
    return ", ".join(seen[:-1]) + " and " + seen[-1]


def _missingness_alt(table, waves, short, threshold):
    shown = table.loc[table["status"] == "shown"]
    obs = table[waves].astype(bool).to_numpy()
    if shown.empty:
        alt = f"{short} completion by wave: every pattern is suppressed."
    else:
        i = shown["n_participants"].astype(float).idxmax()
        pos = table.index.get_loc(i)
        r = table.loc[i]
        alt = (f"{short} completion by wave: the most common pattern was "
               f"{_describe_pattern(obs[pos], waves)} ({_count(r['n_participants'])} {_PEOPLE}, "
               f"{r['percent']:.0f}%).")
        extras = []
        full = np.flatnonzero(obs.all(axis=1) & (table["status"] == "shown").to_numpy())
        if len(full):
            extras.append(f"{table['percent'].iat[full[0]]:.0f}% completed all {len(waves)} waves")
        first_only = np.flatnonzero(obs[:, 0] & ~obs[:, 1:].any(axis=1)
                                    & (table["status"] == "shown").to_numpy()) if len(waves) > 1 \
            else []
        if len(first_only):
            extras.append(f"{table['percent'].iat[first_only[0]]:.0f}% {waves[0]} only")
        if extras:
            alt += " " + " and ".join(extras) + "."
    k = int((table["status"] != "shown").sum())
    return alt + _suppressed_sentence(k, threshold, "pattern")


# ====================================================================== flow
@_styled
def flow_figure(flow, *, threshold: int = 5, name: str | None = None) -> ReportFigure:
    """CONSORT-style participant flow: one box per stage, notes beside them.

    Parameters
    ----------
    flow : pandas.DataFrame
        ``stage, n, percent_of_referred, note`` (e.g. from ``evalkit.attrition.participant_flow``);
        NaN ``n`` is suppressed and printed as "suppressed".
    threshold : int
        Used in the wording of suppressed counts ("suppressed (n < 5)"); visible counts below it
        (other than 0) are suppressed too.
    name : str, optional
        File stem; default ``"flow"``.

    Returns
    -------
    ReportFigure
        ``data``: the flow table with suppressed counts blanked and a ``status`` column.

    Examples
    --------
    See the module docstring.
    """
    where = "flow_figure"
    threshold = _check_threshold(threshold, where)
    flow = _need_frame(flow, where, "flow")
    _need_columns(flow, ["stage", "n", "percent_of_referred", "note"], where, "flow")
    if flow.empty:
        raise SpecificationError(f"{where}: the flow table has no rows")
    n = pd.to_numeric(flow["n"], errors="coerce")
    hidden = n.isna() | ((n > 0) & (n < threshold))
    table = flow[["stage", "n", "percent_of_referred", "note"]].copy()
    table["n"] = n.mask(hidden)
    table["percent_of_referred"] = pd.to_numeric(flow["percent_of_referred"],
                                                 errors="coerce").mask(hidden)
    table["note"] = table["note"].fillna("").astype(str)
    table["status"] = np.where(hidden, _suppressed_text(threshold), "shown")

    k = len(table)
    step = 0.95
    bx, bw, bh = 0.3, 3.4, 0.62
    height = 0.3 + (k - 1) * step + bh
    fig = _figure(height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(height, 0)
    for i, r in enumerate(table.itertuples(index=False)):
        top = 0.15 + i * step
        ax.add_patch(FancyBboxPatch((bx, top), bw, bh, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor="#EAF2F8", edgecolor=_IMPROVED, linewidth=1.2))
        if r.status != "shown":
            count = "n suppressed" + f" (< {threshold})"
        else:
            count = f"n = {_count(r.n)}"
            if np.isfinite(r.percent_of_referred) and i > 0:
                count += f" ({r.percent_of_referred:.0f}% of referred)"
        ax.text(bx + bw / 2, top + bh * 0.32, _clip(str(r.stage), 48), ha="center", va="center",
                fontweight="bold", fontsize=10)
        ax.text(bx + bw / 2, top + bh * 0.72, count, ha="center", va="center", fontsize=9.5,
                style="italic" if r.status != "shown" else "normal")
        if r.note:
            ax.text(bx + bw + 0.25, top + bh / 2, textwrap.fill(r.note, 38), ha="left",
                    va="center", fontsize=9, color=_NOTE)
        if i < k - 1:
            ax.annotate("", xy=(bx + bw / 2, top + step), xytext=(bx + bw / 2, top + bh),
                        arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.2))

    alt = _flow_alt(table, threshold)
    caption = ("Participant flow from referral to the last questionnaire; percentages are of "
               "those referred." + (f" Counts below {threshold} are suppressed."
                                    if hidden.any() else ""))
    return ReportFigure(_name(name, "flow"), fig, alt, table, caption)


def _flow_alt(table, threshold):
    def cnt(r, first=False):
        if r["status"] != "shown":
            return f"{r['stage']} suppressed (fewer than {threshold})"
        pct = r["percent_of_referred"]
        return (f"{r['stage']} {_count(r['n'])}"
                + ("" if first or not np.isfinite(pct) else f" ({pct:.0f}%)"))

    first = table.iloc[0]
    shown = table.iloc[1:].loc[table["status"].iloc[1:] == "shown"]
    last = shown.iloc[-1] if len(shown) else None
    if first["status"] == "shown" and last is not None:
        pct = last["percent_of_referred"]
        msg = (f"Participant flow: of {_count(first['n'])} {_PEOPLE} {first['stage']}, "
               f"{_count(last['n'])}" + ("" if not np.isfinite(pct) else f" ({pct:.0f}%)")
               + (f" reached the last stage ({last['stage']})." if last.name == table.index[-1]
                  else f" reached {last['stage']}, the last stage with a count shown."))
    else:
        msg = "Participant flow."
    stages = "; ".join(cnt(r, i == 0) for i, (_, r) in enumerate(table.iterrows()))
    return f"{msg} Stages: {stages}."


# ====================================================================== QQ
@_styled
def qq_figure(values, *, label: str, name: str) -> ReportFigure:
    """Normal QQ plot with R's ``qqline`` reference line (through the quartiles).

    Parameters
    ----------
    values : array-like
        Residuals or predicted random effects; missing values are left out (counted in the
        caption).
    label : str
        What the values are, with units, e.g. ``"Residual (WEMWBS points)"``.
    name : str
        File stem, e.g. ``"qq_residuals_wemwbs"``.

    Returns
    -------
    ReportFigure
        ``data``: ``theoretical`` (normal quantiles at R's ``ppoints``), ``sample`` (sorted
        values), ``reference`` (the line at each theoretical quantile).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.report.figures import qq_figure
    >>> v = np.random.default_rng(1).normal(size=200)
    >>> print(qq_figure(v, label="Residual (points)", name="qq_residuals").alt)
    Normal QQ plot of 200 residual values: points lie close to the line, consistent with a
    normal distribution (skewness -0.07, excess kurtosis 0.54; both 0 for a normal
    distribution). 1 value more than 3 SD from the mean.
    """
    where = "qq_figure"
    try:
        v = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise SpecificationError(f"{where}: values must be numbers (residuals or random effects)") \
            from None
    n_missing = int(np.isnan(v).sum())
    v = np.sort(v[np.isfinite(v)])
    n = len(v)
    if n < 3:
        raise SpecificationError(f"{where}: needs at least 3 finite values, got {n}")
    a = 3 / 8 if n <= 10 else 0.5   # R's ppoints
    q = stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))
    yq = np.quantile(v, [0.25, 0.75])
    xq = stats.norm.ppf([0.25, 0.75])
    slope = (yq[1] - yq[0]) / (xq[1] - xq[0])
    intercept = yq[0] - slope * xq[0]
    ref = intercept + slope * q
    data = pd.DataFrame({"theoretical": q, "sample": v, "reference": ref})

    fig = _figure(4.3, layout="constrained")
    ax = fig.subplots()
    ax.plot(q, v, "o", color=OKABE_ITO["blue"], alpha=0.6, markersize=3.5, markeredgewidth=0,
            label="observed")
    ax.plot(q, ref, color=_DETERIORATED, lw=1.4, ls="--", label="normal reference (quartiles)")
    ax.set_xlabel("Theoretical normal quantile")
    ax.set_ylabel(label)
    ax.legend(loc="upper left")

    skew = float(stats.skew(v))
    kurt = float(stats.kurtosis(v))
    shape = []
    if skew >= 0.5:
        shape.append("right-skewed (long upper tail)")
    elif skew <= -0.5:
        shape.append("left-skewed (long lower tail)")
    if kurt >= 1:
        shape.append("heavier-tailed than normal")
    elif kurt <= -1:
        shape.append("lighter-tailed than normal")
    msg = ("points lie close to the line, consistent with a normal distribution" if not shape
           else "the distribution is " + " and ".join(shape))
    z = (v - v.mean()) / v.std(ddof=1) if v.std(ddof=1) > 0 else np.zeros(n)
    far = int((np.abs(z) > 3).sum())
    alt = (f"Normal QQ plot of {n} {_in_sentence(_short(label))} values: {msg} (skewness {skew:.2f}, excess "
           f"kurtosis {kurt:.2f}; both 0 for a normal distribution)."
           + (f" {_plural(far, 'value')} more than 3 SD from the mean." if far else ""))
    caption = (f"Sorted {_in_sentence(_short(label))} values against normal quantiles; the dashed line passes "
               "through the quartiles." + (f" {n_missing} missing value(s) left out."
                                           if n_missing else ""))
    return ReportFigure(name, fig, alt, data, caption)
