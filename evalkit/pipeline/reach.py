"""Step: who was reached — mothers referred and starting support, by every context in the plan.

Every level of a context is listed, including "not recorded" (shown as 0 when nobody is missing),
so the levels add up to the total in the published table itself and nothing can be inferred from
a missing row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.disclosure import SD, Count, Free, Key, Label, Mean, Share, Stat
from .context import RunContext, is_categorical

__all__ = ["run", "contexts"]


def contexts(ctx: RunContext) -> list[str]:
    """The contexts named by the plan (``all``: every context variable of the dictionary)."""
    chosen = ctx.plan.contexts.variables
    if chosen == "all":
        chosen = [v.name for v in ctx.dd.by_role("context")]
    return [c for c in chosen if c in ctx.people.columns]


def run(ctx: RunContext) -> None:
    with ctx.step("reach"):
        _categorical(ctx)
        _numeric(ctx)


def _categorical(ctx: RunContext) -> None:
    people, pub = ctx.people, ctx.pub
    rows, ref_keys, start_keys = [], [], []
    population = ctx.plan.report.population
    for var in contexts(ctx):
        if not is_categorical(people[var]):
            continue
        for code in [*ctx.context_dimension(var), "(missing)"]:
            k = Key.of(**{var: code})
            pop = population.get(var)
            rows.append({"variable": ctx.label(var), "level": ctx.level_label(var, code),
                         "population_percent": (pop.percent.get(code, np.nan)
                                                if pop is not None and code != "(missing)"
                                                else np.nan)})
            ref_keys.append(k)
            start_keys.append(k & {"started": "yes"} if ctx.started_col else None)
    if not rows:
        return
    table = pd.DataFrame(rows)
    everyone = [Key.of()] * len(rows)
    table.insert(2, "referred", [pub.count(k) for k in ref_keys])
    table.insert(3, "percent_referred", 100.0 * table["referred"] / max(pub.count(Key.of()), 1))
    columns = {"variable": Label(), "level": Label(), "referred": Count(ref_keys),
               "percent_referred": Share(ref_keys, everyone, scale=100),
               "population_percent": Free("the population's percentage, from the plan's source")}
    if ctx.started_col:
        n_started = pub.count(ctx.started_key)
        table.insert(4, "started", [pub.count(k) for k in start_keys])
        table.insert(5, "percent_started",
                     100.0 * table["started"] / n_started if n_started else np.nan)
        columns["started"] = Count(start_keys)
        columns["percent_started"] = Share(start_keys, [ctx.started_key] * len(rows), scale=100)
    pub.add("reach_by_context", table, columns=columns)
    ctx.facts["population_sources"] = {ctx.label(k): v.source for k, v in population.items()}


def _numeric(ctx: RunContext) -> None:
    people, pub = ctx.people, ctx.pub
    rows, keys, measures = [], [], []
    for var in contexts(ctx):
        values = people[var]
        if is_categorical(values):
            continue
        v = pd.to_numeric(values, errors="coerce")
        ctx.yes_no(f"has:{var}", v.notna())
        limits = _limits(ctx, var)
        pub.measure(var, v, **limits)
        x = v.dropna().to_numpy(float)
        k = Key.of(**{f"has:{var}": "yes"})
        rows.append({"variable": ctx.label(var), "n": int(x.size),
                     "mean": x.mean() if x.size else np.nan,
                     "sd": x.std(ddof=1) if x.size > 1 else np.nan,
                     "median": np.median(x) if x.size else np.nan,
                     "q1": np.quantile(x, 0.25) if x.size else np.nan,
                     "q3": np.quantile(x, 0.75) if x.size else np.nan})
        keys.append(k)
        measures.append(var)
    if not rows:
        return
    table = pd.DataFrame(rows)
    pub.add("reach_numeric", table, status="status", columns={
        "variable": Label(), "n": Count(keys), "mean": Mean(measures, keys),
        "sd": SD(measures, keys), "median": Stat(keys, min_n=ctx.min_group),
        "q1": Stat(keys, min_n=ctx.min_group), "q3": Stat(keys, min_n=ctx.min_group)})


def _limits(ctx: RunContext, var: str) -> dict:
    try:
        rng = ctx.dd.variable(var).range
    except Exception:   # noqa: BLE001 - limits only sharpen the audit
        rng = None
    return {"lower": float(rng[0]), "upper": float(rng[1])} if rng else {}
