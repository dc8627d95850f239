"""What every report figure shares: :class:`ReportFigure`, the style, the palette and small helpers.

Numbers are formatted by :mod:`evalkit.report.format` only; the helpers here turn its output into
the phrases figures need ("+6.1 (95% CI 4.0 to 8.2)", "p = 0.012") and never print a missing
value as ``nan``, ``None`` or ``NA``. Text that comes from data (group and level labels, stage
names, axis labels from a plan) is drawn literally: text artists get ``parse_math=False`` and tick
labels and legend entries go through :func:`_literal`, so a level called ``"$5 voucher$"`` is not
read as mathtext.

Examples
--------
>>> from evalkit.report.figures.base import HIDDEN, _literal, _estimate_ci
>>> HIDDEN
'not shown (protects a small group)'
>>> _literal("$5 voucher$")
'\\\\$5 voucher\\\\$'
>>> _estimate_ci(6.1, 4.0, 8.2, signed=True, unit=" points"), _estimate_ci(2.0, float("nan"), 3.0)
('+6.1 points (95% CI 4.0 to 8.2)', '2.0')
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.figure import Figure

from ...errors import SpecificationError, UnknownNameError
from .. import format as fmt

#: How a group or cell hidden by disclosure control reads, everywhere (drawn labels, alt text,
#: captions and the ``status`` column of figure CSVs). It never claims a bound: a group hidden to
#: protect a neighbour may be large.
HIDDEN = "not shown (protects a small group)"

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
    "text.usetex": False,                 # a caller's usetex=True would make "$" and "_" special
}

IMPROVED = OKABE_ITO["blue"]
DETERIORATED = OKABE_ITO["vermillion"]
NO_CHANGE = "#CFCFCF"
FAINT = "#8C8C8C"
NOTE = "#404040"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 1)), (0, (6, 2)))
PEOPLE = "mothers"
WHITE_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}
#: keyword arguments for every text artist showing data: drawn literally, never as mathtext
LITERAL = {"parse_math": False}
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
        The tidy data drawn; :meth:`save` writes it as ``<name>.csv``. Hidden cells are NaN (blank
        in the CSV).
    caption : str
        How to read the figure (what the bands and lines are, what was not shown).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.report.figures import qq_figure
    >>> fig = qq_figure(np.linspace(-2, 2, 200) ** 3, label="Residual (WEMWBS points)",
    ...                 name="qq_demo")
    >>> fig.name, list(fig.data.columns)
    ('qq_demo', ['probability', 'theoretical', 'sample', 'reference'])
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


# ====================================================================== building
def _styled(fn):
    """Build the figure under :data:`STYLE` so fonts and colours do not depend on the caller."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _figure(height: float, width: float = WIDTH, **kwargs) -> Figure:
    return Figure(figsize=(width, height), **kwargs)


def _name(name, default) -> str:
    return default if name is None else name


# ====================================================================== text
def _literal(text) -> str:
    """Text drawn as is where ``parse_math`` cannot be set (tick labels, legend entries)."""
    return str(text).replace("$", r"\$")


def _short(label: str) -> str:
    """'WEMWBS (14–70, higher = better)' -> 'WEMWBS'."""
    return str(label).split(" (")[0].strip() or str(label)


def _in_sentence(text: str) -> str:
    """'Isolation' -> 'isolation' mid-sentence; acronyms ('WEMWBS', 'IMD') stay as they are."""
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "figure"


def _clip(text, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _and(items) -> str:
    items = [str(i) for i in items]
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _group_label(level) -> str:
    return f"all {PEOPLE}" if str(level) == "all" else str(level)


def _text_width(text: str, size: float) -> float:
    """Width of ``text`` in inches at ``size`` points in the report font (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=STYLE["font.sans-serif"], size=size)
    return text_to_path.get_text_width_height_descent(str(text), prop, ismath=False)[0] / 72


# ====================================================================== numbers in words
def _time_value(t) -> str:
    """A time point as short as it can be (``12`` not ``12.0``, ``1.5``); not in ``format`` yet."""
    if fmt.is_missing(t):
        return ""
    if isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool):
        return f"{float(t):g}"
    return str(t)


def _estimate_ci(est, low, high, *, conf: int = 95, digits: int = 1, signed: bool = False,
                 unit: str = "") -> str:
    """``"+6.1 points (95% CI 4.0 to 8.2)"``; the CI is left out when a limit is missing and the
    whole phrase reads "not available" when the estimate is."""
    if fmt.is_missing(est):
        return "not available"
    text = (fmt.signed(est, digits) if signed else fmt.number(est, digits)) + unit
    if fmt.is_missing(low) or fmt.is_missing(high):
        return text
    return f"{text} ({conf}% CI {fmt.interval(low, high, digits)})"


def _share_ci(share, low, high, *, conf: int = 95) -> str:
    """``"60% (95% CI 36% to 80%)"`` for shares between 0 and 1."""
    if fmt.is_missing(share):
        return "not available"
    text = fmt.percent(share)
    if fmt.is_missing(low) or fmt.is_missing(high):
        return text
    return f"{text} ({conf}% CI {fmt.percent(low)} to {fmt.percent(high)})"


# ====================================================================== disclosure
def _hidden_status(status) -> bool:
    """True for a status that says disclosure control hid the row (any wording used upstream)."""
    if fmt.is_missing(status):
        return False
    s = str(status).strip().lower()
    return "suppress" in s or "withheld" in s or s.startswith("not shown")


def _hidden_sentence(names, what: str = "group") -> str:
    """``" 2 groups not shown (protects a small group): both and west."``; ``""`` for none."""
    names = list(names)
    if not names:
        return ""
    return f" {_plural(len(names), what)} {HIDDEN}: {_and(names)}."


def _hidden_caption(any_hidden: bool) -> str:
    return (f" Entries reading “{HIDDEN}” were withheld by disclosure control."
            if any_hidden else "")


def _check_threshold(threshold, where: str, *, optional: bool = False) -> int | None:
    if optional and threshold is None:
        return None
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


def _numbers(values) -> np.ndarray:
    """A column as floats; text, None and pandas NA become NaN."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of the True runs in a boolean array."""
    m = np.r_[False, np.asarray(mask, bool), False].astype(int)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))
