"""``evalkit power PLAN``: run the power simulation of a plan's ``power:`` section and write the
design report folder (``power.html``, ``power.csv``, ``detectable.csv``, ``simulations.csv``,
``power_curve.png`` and ``power_curve.csv``, and the manifest), atomically.

What the tested difference means in words is worked out from the test's term, as named by the
model table: ``weeks:delivery_mode[T.one_to_one]`` is the difference in change per week between
one-to-one and group support, so the report speaks of the difference in change over the study
(the value times the weeks from the first to the last wave); ``delivery_mode[T.one_to_one]`` is a
difference at baseline; anything else is the value of the term or contrast as it stands. A test
in words (``{change: [0, 24], between: [...]}``) already is a change in points, and is said as
it was asked (:func:`worded_comparison`).

Examples
--------
>>> from evalkit.pipeline.power_design import comparison
>>> comparison({"weeks:delivery_mode[T.one_to_one]": 1.0}, time="weeks", waves=[0, 6, 12, 24],
...            labels={}, levels=["group", "one_to_one"])
(24.0, 'in change from week 0 to week 24 between one-to-one and group support')
"""

from __future__ import annotations

import re

import pandas as pd

from ..report import format as fmt

__all__ = ["write_power_report", "comparison", "worded_comparison"]

# a treatment-coded term as the model table names it, with the time variable on either side
_TERM = re.compile(r"^(?:(?P<pre>\w+):)?(?P<by>\w+)\[T\.(?P<level>[^\]]+)\](?::(?P<post>\w+))?$")
_GROUPING = ("delivery_mode", "mode")


def _label(level: str, labels: dict) -> str:
    return labels.get(level, str(level).replace("_", "-"))


def comparison(weights: dict, *, time: str, waves, labels: dict, reference: str | None = None,
               levels=()) -> tuple[float, str]:
    """``(points per unit of the test's value, the words after "a difference of D points")``."""
    if len(weights) == 1:
        term, weight = next(iter(weights.items()))
        match = _TERM.match(term)
        if match:
            level, by = match["level"], match["by"]
            ref = reference or next((lv for lv in levels if lv != level), "the reference group")
            support = " support" if by in _GROUPING else ""
            between = f"between {_label(level, labels)} and {_label(ref, labels)}{support}"
            with_time = time in (match["pre"], match["post"])
            if with_time and weight == 1.0:
                span = float(waves[-1]) - float(waves[0])
                return span, (f"in change from week {waves[0]:g} to week {waves[-1]:g} {between}")
            if with_time:
                return 1.0, f"in change over {weight:g} weeks {between}"
            if match["pre"] is None and match["post"] is None:
                return 1.0, f"at baseline {between}"
    return 1.0, "in the tested effect (" + " + ".join(
        f"{w:g} × {t}" if w != 1 else t for t, w in weights.items()) + ")"


def worded_comparison(test, *, by: str | None, labels: dict) -> tuple[float, str]:
    """``(1.0, the words after "a difference of D points")`` for a test in words (its value is
    already the change, or the difference in change, in points).

    >>> from evalkit.plan_power import PowerTest
    >>> worded_comparison(PowerTest(change=(0, 24), between=("one_to_one", "group")),
    ...                   by="delivery_mode", labels={})
    (1.0, 'in change from week 0 to week 24 between one-to-one and group support')
    >>> worded_comparison(PowerTest(change=(0, 12), at={"delivery_mode": "group"}),
    ...                   by="delivery_mode", labels={})
    (1.0, 'from week 0 to week 12 among mothers in group support')
    """
    start, end = test.change
    span = f"from week {start:g} to week {end:g}"
    support = " support" if by in _GROUPING else ""
    if test.between:
        first, second = (_label(lv, labels) for lv in test.between)
        return 1.0, f"in change {span} between {first} and {second}{support}"
    where = [f"{_label(v, labels)}{support}" if k == by else f"{k} {v:g}"
             for k, v in test.at.items()]
    return 1.0, f"{span} among mothers" + (f" in {' and '.join(where)}" if where else "")


def _dropout_words(section) -> tuple[str | None, list]:
    from ..report.power_design import dropout_phrase

    if section.dropout is None:
        return None, ["Every mother completes every wave (no drop-out)."]
    if isinstance(section.dropout, dict):
        parts = [f"{_label(lv, section.labels)}: {dropout_phrase(section.waves, s) or 'none'}"
                 for lv, s in section.dropout.items()]
        return "; ".join(parts), [f"Drop-out differs by group ({'; '.join(parts)}); it is "
                                  "unrelated to the mothers' scores, and a mother who misses a "
                                  "wave misses every later one."]
    phrase = dropout_phrase(section.waves, section.dropout)
    return phrase, [f"Drop-out: {phrase or 'none'}; it is unrelated to the mothers' scores, and a "
                    "mother who misses a wave misses every later one."]


def _context_words(section) -> list[str]:
    """Covariates and drop-out by context, in words."""
    out = [f"{c} varies between mothers (standard normal: its effects are per standard "
           "deviation)." for c in section.covariates]
    out += [f"A mother one standard deviation higher on {c} has {r:g} times the odds of having "
            "dropped out by each wave (the drop-out above is for a mother at the average)."
            for c, r in section.dropout_odds.items()]
    return out


def _assumptions(section, result, dropout: list) -> list[str]:
    v = section.variance
    alloc = ", ".join(f"{fmt.percent(s)} {_label(lv, section.labels)}"
                      for lv, s in section.allocation.items())
    effects = ", ".join(f"{t} {x:g}" for t, x in section.effects.items())
    slope = (f" and in how fast they change (standard deviation {v.slope_sd:g} {section.unit} a "
             f"week; correlation {v.correlation:g} with the starting level)") if v.slope_sd else ""
    table = result.table
    return [
        f"Mothers are measured at weeks {', '.join(f'{w:g}' for w in section.waves)} after "
        f"baseline; they are allocated {alloc}.",
        *dropout,
        *_context_words(section),
        f"The true effects, as the model table names them: {effects}.",
        f"Mothers differ in their starting level (standard deviation {v.intercept_sd:g} "
        f"{section.unit}){slope}; each score varies around the mother's own line with standard "
        f"deviation {v.residual_sd:g} {section.unit}.",
        f"Each simulated study is analysed with a linear mixed model (fixed effects "
        f"{section.fixed}; random {section.random} per mother; REML) and the test of "
        f"{result.test} is two-sided at the {fmt.percent(section.alpha)} level with "
        f"{'Kenward–Roger' if section.ddf == 'kenward-roger' else 'Satterthwaite'} degrees of "
        "freedom.",
        f"Power is the share of {fmt.count(section.nsim)} simulated studies per size in which the "
        f"test was significant; the interval is its 95% Monte Carlo (Wilson) interval. "
        f"{fmt.count(table['n_failed'].sum())} fits failed (left out), "
        f"{fmt.count(table['n_nonconverged'].sum())} did not pass the convergence check and "
        f"{fmt.count(table['n_singular'].sum())} were singular (both kept, as in a real analysis).",
    ]


def _table_view(frame: pd.DataFrame, columns: dict) -> dict:
    rows = []
    for _, r in frame.iterrows():
        rows.append([fmt.count(r[c]) if kind == "count" else fmt.percent(r[c]) if kind == "share"
                     else fmt.number(r[c], 2) for c, (_, kind) in columns.items()])
    return {"header": [h for h, _ in columns.values()], "rows": rows}


def write_power_report(section, meta: dict, *, out, n_jobs=None, scheduler=None,
                       progress: bool = True) -> tuple[list, object]:
    """Run the simulation and write the report folder; returns (files written, PowerResult)."""
    from ..models.power import power_curve
    from ..plan_power import PowerTest
    from ..report.figures import power_figure
    from ..report.power_design import chance_sentence, detectable_sentence, render_power_report
    from .write import ReportWriter

    options = section.options(seed=int(meta.get("seed") or 1))
    result = power_curve(**options, n_jobs=n_jobs, scheduler=scheduler, progress=progress)
    if isinstance(section.test, PowerTest):
        scale, words = worded_comparison(section.test, by=result.problem["design"]["by"],
                                         labels=section.labels)
    else:
        weights = ({section.test: 1.0} if isinstance(section.test, str) else dict(section.test))
        scale, words = comparison(weights, time="weeks", waves=section.waves,
                                  labels=section.labels, levels=sorted(section.allocation))
    lost, dropout_assumptions = _dropout_words(section)
    chances = [chance_sentence(r, difference=result.true_value * scale, unit=section.unit,
                               comparison=words, dropout=lost)
               for _, r in result.table.iterrows()]
    found = result.detectable(power=section.targets)
    found = found.assign(difference_points=found["difference"].abs() * scale)
    detectable = [detectable_sentence(int(r["n"]), r["power"], r["difference_points"],
                                      unit=section.unit, comparison=words)
                  for _, r in found.iterrows()]
    fig = power_figure(result.table, target=section.targets[0])
    png = fig.to_png()
    html = render_power_report(
        programme=meta.get("programme") or "Next evaluation", nsim=section.nsim, chances=chances,
        detectable=detectable, assumptions=_assumptions(section, result, dropout_assumptions),
        figure={"src": fig.to_data_uri(), "alt": fig.alt, "caption": fig.caption},
        power_table=_table_view(result.table, {
            "n": ("mothers", "count"), "power": ("power", "share"), "ci_low": ("CI low", "share"),
            "ci_high": ("CI high", "share"), "n_failed": ("failed fits", "count"),
            "n_singular": ("singular fits", "count"), "coverage": ("CI coverage", "share"),
            "bias": ("bias", "number")}),
        detectable_table=_table_view(found, {
            "n": ("mothers", "count"), "power": ("power", "share"),
            "difference_points": (f"difference ({section.unit})", "number")}),
        unit=section.unit)
    fig.close()
    with ReportWriter(out) as writer:
        writer.write_text("power.html", html)
        writer.write_csv("power.csv", result.table)
        writer.write_csv("detectable.csv", found)
        writer.write_csv("simulations.csv", result.raw)
        writer.write_bytes("power_curve.png", png)
        writer.write_csv("power_curve.csv", fig.data)
        files = writer.commit(extra={"title": "Design of the next evaluation (power)",
                                     "source": meta.get("source")})
    return files, result
