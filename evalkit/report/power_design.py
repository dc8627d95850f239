"""The design report of ``evalkit power``: plain-English sentences and the HTML page.

Takes only tables and plain values (the power table, the detectable differences, the phrases that
describe the comparison and the drop-out), never models, and formats every number through
:mod:`evalkit.report.format`.

Examples
--------
>>> from evalkit.report.power_design import chance_sentence, detectable_sentence
>>> print(chance_sentence({"n": 120, "power": 0.482, "ci_low": 0.438, "ci_high": 0.526},
...                       difference=2.4, unit="points", comparison="between one-to-one and group "
...                       "support",
...                       dropout="10% lost by week 6, 20% by week 12 and 30% by week 24"))
With 120 mothers and this drop-out (10% lost by week 6, 20% by week 12 and 30% by week 24), the
chance of detecting a difference of 2.4 points between one-to-one and group support is 48% (95% CI
44% to 53%).
>>> print(detectable_sentence(120, 0.8, 3.26, unit="points", comparison="between one-to-one and "
...                           "group support"))
With 120 mothers, the smallest difference between one-to-one and group support detected with 80%
power is 3.3 points.
"""

from __future__ import annotations

import math

from . import format as fmt

__all__ = ["chance_sentence", "detectable_sentence", "dropout_phrase", "render_power_report"]


def chance_sentence(row, *, difference: float, unit: str, comparison: str, dropout: str | None,
                    confidence: float = 0.95) -> str:
    """"With N mothers and this drop-out (…), the chance of detecting a difference of D … is P
    (95% CI …)." for one row of the power table."""
    lost = f" and this drop-out ({dropout})" if dropout else " and no drop-out"
    return (f"With {fmt.count(row['n'])} mothers{lost}, the chance of detecting a difference of "
            f"{fmt.number(abs(difference))} {unit} {comparison} is {fmt.percent(row['power'])} "
            f"({confidence:.0%} CI {fmt.percent(row['ci_low'])} to "
            f"{fmt.percent(row['ci_high'])}).")


def detectable_sentence(n: int, target: float, difference: float, *, unit: str,
                        comparison: str) -> str:
    """The smallest difference detected with ``target`` power at ``n`` mothers, in words."""
    if difference is None or not math.isfinite(difference):
        return (f"With {fmt.count(n)} mothers, {fmt.percent(target)} power is not reached for any "
                f"difference {comparison} within 20 standard errors: more mothers are needed.")
    return (f"With {fmt.count(n)} mothers, the smallest difference {comparison} detected with "
            f"{fmt.percent(target)} power is {fmt.number(abs(difference))} {unit}.")


def dropout_phrase(waves, lost, *, time_unit: str = "week") -> str | None:
    """"10% lost by week 6, 20% by week 12 and 30% by week 24" (None for no drop-out).

    >>> dropout_phrase([0, 6, 12], [0, 0.1, 0.25])
    '10% lost by week 6 and 25% by week 12'
    """
    parts = [(w, s) for w, s in zip(waves, lost) if s > 0]
    if not parts:
        return None
    words = [f"{fmt.percent(s)} lost by {time_unit} {w:g}" if i == 0
             else f"{fmt.percent(s)} by {time_unit} {w:g}"
             for i, (w, s) in enumerate(parts)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def render_power_report(*, programme: str, nsim: int, chances: list, detectable: list,
                        assumptions: list, figure: dict, power_table: dict,
                        detectable_table: dict, unit: str) -> str:
    """The self-contained HTML design report.

    ``figure`` is ``{"src": data URI, "alt": …, "caption": …}``; the tables are
    ``{"header": […], "rows": [[…]]}`` of formatted strings.

    Examples
    --------
    >>> page = render_power_report(programme="Next <study>", nsim=100, chances=["With 40…"],
    ...     detectable=[], assumptions=["Mothers are measured at weeks 0 and 12."],
    ...     figure={"src": "data:image/png;base64,", "alt": "Power curve", "caption": ""},
    ...     power_table={"header": ["n"], "rows": [["40"]]},
    ...     detectable_table={"header": ["n"], "rows": []}, unit="points")
    >>> "Next &lt;study&gt;" in page and "weeks 0 and 12" in page
    True
    """
    from .render import _ENV

    return _ENV.get_template("power.html.j2").render(
        programme=programme, nsim_text=fmt.count(nsim), chances=chances, detectable=detectable,
        assumptions=assumptions, figure=figure, power_table=power_table,
        detectable_table=detectable_table, unit=unit)
