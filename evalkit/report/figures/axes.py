"""Any result's own ``.plot(ax=)`` drawn as a report figure (same size, style and saving rules)."""

from __future__ import annotations

import matplotlib as mpl
import pandas as pd

from .base import STYLE, ReportFigure, _figure


def axes_figure(name: str, draw, *, data: pd.DataFrame, alt: str, caption: str = "",
                height: float = 4.2) -> ReportFigure:
    """Build a report-width Figure under :data:`STYLE`, call ``draw(ax=ax)`` and wrap it.

    Parameters
    ----------
    name : str
        File stem.
    draw : callable
        Called as ``draw(ax=ax)`` with the figure's only Axes (e.g. a result's ``.plot``). It must
        draw protected, tidy data only: what it draws is published.
    data : pandas.DataFrame
        The data drawn (written as ``<name>.csv``).
    alt : str
        Alt text stating the figure's message.
    caption : str
    height : float
        Inches (the width is :data:`WIDTH`).

    Returns
    -------
    ReportFigure

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import axes_figure
    >>> d = pd.DataFrame({"sessions": [0, 10], "change": [1.0, 4.0]})
    >>> fig = axes_figure("dose", lambda ax: ax.plot(d["sessions"], d["change"]), data=d,
    ...                   alt="Change rose from 1.0 to 4.0 points over 10 sessions.")
    >>> fig.name, fig.figure.get_size_inches().tolist()
    ('dose', [6.8, 4.2])
    """
    with mpl.rc_context(STYLE):
        fig = _figure(height)
        ax = fig.add_subplot()
        draw(ax=ax)
        fig.tight_layout()
    return ReportFigure(name=name, figure=fig, alt=alt, data=data, caption=caption)
