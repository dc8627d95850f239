"""Step: the participant flow — referred, started, questionnaires returned, baseline and end score.

Every stage is a count of mothers with its key, so the flow is protected together with every other
table that counts the same mothers. Records excluded at validation are counted in their own table
(they count records, not mothers), by dataset and reason.
"""

from __future__ import annotations

import pandas as pd

from ..report.disclosure import Count, Key, Label, Share
from .context import RunContext

__all__ = ["run"]


def run(ctx: RunContext) -> None:
    with ctx.step("participant flow"):
        _flow(ctx)
    with ctx.step("validation records"):
        _records(ctx)


def stage_keys(ctx: RunContext) -> list[tuple[str, Key]]:
    """The flow's stages in order, each with the set of mothers it counts."""
    primary = ctx.plan.primary_outcome.instrument
    base, end = ctx.plan.time.baseline_wave, ctx.plan.time.end_wave
    stages = [("referred", Key.of())]
    if ctx.started_col:
        stages.append(("started support", Key.of(started="yes")))
    for wave in ctx.waves:
        stages.append((f"returned a questionnaire at {wave}", Key.of(**{f"returned@{wave}": "yes"})))
    stages.append((f"{_upper(primary)} at {base} and at {end}",
                   Key.of(**{f"{primary}@{base}": "yes", f"{primary}@{end}": "yes"})))
    if ctx.started_col:
        stages.append((f"started, with {_upper(primary)} at {end}",
                       Key.of(started="yes", **{f"{primary}@{end}": "yes"})))
    return stages


def _upper(inst: str) -> str:
    from ..instruments import registry

    try:
        return registry.get(inst).abbreviation
    except Exception:   # noqa: BLE001 - a label only
        return inst.upper()


def _flow(ctx: RunContext) -> None:
    stages = stage_keys(ctx)
    keys = [k for _, k in stages]
    n = [ctx.pub.count(k) for k in keys]
    total = n[0]
    table = pd.DataFrame({"stage": [s for s, _ in stages], "n": n,
                          "percent_of_referred": [100.0 * v / total if total else float("nan")
                                                  for v in n]})
    ctx.pub.add("participant_flow", table, columns={
        "stage": Label(), "n": Count(keys),
        "percent_of_referred": Share(num=keys, den=[Key.of()] * len(keys), scale=100)},
        importance=100)
    from ..report.figures import flow_figure

    ctx.figure("flow", lambda pub: flow_figure(pub["participant_flow"].data.assign(note=""),
                                               threshold=ctx.threshold, name="flow"))


def _records(ctx: RunContext) -> None:
    """Records read, excluded (by reason) and valid per dataset: a unit of its own per dataset."""
    flow = ctx.validation.flow
    rows, keys = [], []
    for dataset in pd.unique(flow["dataset"]):
        part = flow[flow["dataset"] == dataset]
        read = part.loc[part["stage"] == "read", "records"]
        if read.empty:
            continue
        total = int(read.iloc[0])
        status = []
        excluded = part[part["stage"] == "excluded"]
        for r in excluded.itertuples(index=False):
            status += [f"excluded: {r.reason}"] * int(r.records)
        status += ["valid"] * (total - len(status))
        unit = f"{dataset} record"
        levels = ["valid", *[f"excluded: {r}" for r in excluded["reason"]]]
        ctx.pub.dimension("status", pd.Series(status, index=[f"{dataset} {i}" for i in range(total)],
                                              dtype=object), levels=levels, unit=unit)
        rows.append({"dataset": dataset, "stage": "read"})
        keys.append(Key(unit))
        for level in levels:
            rows.append({"dataset": dataset, "stage": level})
            keys.append(Key.of(unit, status=level))
    if not rows:
        return
    table = pd.DataFrame(rows)
    table["records"] = [ctx.pub.count(k) for k in keys]
    ctx.pub.add("validation_records", table, columns={
        "dataset": Label(), "stage": Label(), "records": Count(keys)})
