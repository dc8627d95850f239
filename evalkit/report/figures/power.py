"""Power curve: the chance of detecting the effect by number of mothers, with its Monte Carlo band.

Drawn from the power table (``n, power, ci_low, ci_high``) of a power simulation; the target power
(80 % by default) is a dashed line so the size that reaches it can be read off.
"""

from __future__ import annotations

from .. import format as fmt
from .base import OKABE_ITO, ReportFigure, _figure, _literal, _name, _need_columns, _styled

__all__ = ["draw_power", "power_figure"]


def draw_power(ax, table, *, target: float | None = 0.8, confidence: float = 0.95,
               xlabel: str = "mothers in the study", ylabel: str = "power"):
    """Draw power against n with its band and the target line; return ``ax``.

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.report.figures import draw_power
    >>> t = pd.DataFrame({"n": [40, 80], "power": [0.4, 0.7], "ci_low": [0.35, 0.65],
    ...                   "ci_high": [0.45, 0.75]})
    >>> [float(v) for v in draw_power(Figure().subplots(), t).get_ylim()]
    [0.0, 1.0]
    """
    _need_columns(table, ["n", "power", "ci_low", "ci_high"], "draw_power", "table")
    tab = table.dropna(subset=["power"]).sort_values("n")
    x = tab["n"].to_numpy(float)
    colour = OKABE_ITO["blue"]
    ax.plot(x, tab["power"].to_numpy(float), marker="o", ms=3, color=colour, label="power")
    ax.fill_between(x, tab["ci_low"].to_numpy(float), tab["ci_high"].to_numpy(float), alpha=0.2,
                    color=colour, label=f"{confidence:.0%} Monte Carlo interval")
    if target is not None:
        ax.axhline(target, color=OKABE_ITO["vermillion"], ls="--", lw=1,
                   label=f"target {fmt.percent(target)}")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(_literal(xlabel))
    ax.set_ylabel(_literal(ylabel))
    ax.legend(loc="lower right", fontsize="small")
    return ax


def _reached(table, target: float):
    hit = table[table["power"] >= target].sort_values("n")
    return int(hit["n"].iloc[0]) if len(hit) else None


@_styled
def power_figure(table, *, target: float = 0.8, name: str | None = None) -> ReportFigure:
    """The power-curve figure from the power table of :func:`evalkit.power_curve`.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.report.figures import power_figure
    >>> t = pd.DataFrame({"n": [40, 80, 120], "power": [0.31, 0.62, 0.83],
    ...                   "ci_low": [0.27, 0.58, 0.79], "ci_high": [0.35, 0.66, 0.86]})
    >>> print(power_figure(t).alt)
    Power curve: the chance of detecting the difference rises from 31% with 40 mothers to 83% with
    120; 80% power is first reached with 120 mothers of the sizes tried.
    """
    fig = _figure(3.8)
    ax = fig.add_subplot()
    shown = table.dropna(subset=["power"]).sort_values("n")
    draw_power(ax, shown, target=target)
    fig.tight_layout()
    if len(shown):
        first, last = shown.iloc[0], shown.iloc[-1]
        moved = "rises" if last["power"] >= first["power"] else "falls"
        hit = _reached(shown, target)
        alt = (f"Power curve: the chance of detecting the difference {moved} from "
               f"{fmt.percent(first['power'])} with {int(first['n'])} mothers to "
               f"{fmt.percent(last['power'])} with {int(last['n'])}; "
               + (f"{fmt.percent(target)} power is first reached with {hit} mothers of the sizes "
                  "tried." if hit is not None else
                  f"{fmt.percent(target)} power is not reached at any size tried."))
    else:
        alt = "Power curve: no size could be simulated."
    caption = ("Each point is the share of simulated studies in which the test was significant; "
               "the band is its Monte Carlo interval (it narrows with more simulations) and the "
               "dashed line the target power.")
    cols = [c for c in ("n", "power", "ci_low", "ci_high", "n_sim", "n_failed") if c in table]
    return ReportFigure(name=_name(name, "power_curve"), figure=fig, alt=alt,
                        data=table[cols].reset_index(drop=True), caption=caption)

