"""Report figures: each a matplotlib figure with alt text stating its message and the data drawn.

Every ``*_figure`` function returns a :class:`ReportFigure` holding the figure, an alt text
generated from the numbers (what the figure shows, in plain English), the tidy table that was
drawn (exported as CSV next to the PNG: only what is drawn, hidden cells blank) and a caption.
Each figure kind has one drawing path: ``draw_<kind>(ax, ...)`` draws on a given Axes from tidy
tables, and both ``<kind>_figure`` and the models' own ``.plot()`` methods call it.

Figures take only protected tidy tables (after disclosure control), never person-level data or
raw model results. Hidden cells arrive as NaN and withheld groups carry a status; a hidden group or
cell reads "not shown (protects a small group)" (:data:`HIDDEN`) in drawn labels, alt text,
captions and the ``status`` column, and is never drawn as a point, bar or line. As a second line
of defence a group whose visible count is below the threshold is hidden even if nobody marked it.

Figures are made with :class:`matplotlib.figure.Figure` directly (not pyplot), so nothing is left
open in pyplot's registry; they are 6.8 inches wide (A4 text width) with a 10-point base font, use
the Okabe–Ito colour-blind-safe palette (:data:`PALETTE`) and render to byte-identical PNGs for
identical inputs. Numbers are formatted by :mod:`evalkit.report.format`.

Modules: :mod:`.base` (ReportFigure, style, helpers), :mod:`.trajectory`, :mod:`.forest`,
:mod:`.jn`, :mod:`.power`, :mod:`.reliable_change`, :mod:`.km`, :mod:`.missingness`, :mod:`.flow`, :mod:`.qq`
and :mod:`.axes`.

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.figures import flow_figure
>>> flow = pd.DataFrame({"stage": ["referred", "started", "completed end"], "n": [200, 150, 3],
...                      "percent_of_referred": [100.0, 75.0, 1.5], "note": ["", "", ""]})
>>> fig = flow_figure(flow)
>>> print(fig.alt)
Participant flow: of 200 mothers referred, 150 (75%) reached started, the last stage with a
count shown. Stages: referred 200; started 150 (75%); completed end: not shown (protects a small
group).
>>> fig.to_data_uri()[:22]
'data:image/png;base64,'
"""

from __future__ import annotations

from .axes import axes_figure
from .base import HIDDEN, OKABE_ITO, PALETTE, STYLE, WIDTH, ReportFigure
from .dose import dose_figure, draw_dose
from .flow import draw_flow, flow_figure
from .forest import draw_forest, forest_figure
from .jn import draw_jn, jn_figure
from .km import draw_km, draw_risk_table, km_figure
from .missingness import draw_missingness, missingness_figure
from .power import draw_power, power_figure
from .qq import draw_qq, qq_figure
from .reliable_change import draw_reliable_change, reliable_change_figure
from .tipping import draw_tipping, tipping_figure
from .trajectory import draw_trajectory, trajectory_figure

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
    "dose_figure",
    "tipping_figure",
    "power_figure",
    "PALETTE",
    "OKABE_ITO",
    "STYLE",
    "WIDTH",
    "axes_figure",
]
