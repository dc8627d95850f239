"""Step: the participant flow — referred, started, questionnaires returned, baseline and end score.

Every stage is a count of mothers with its key, so the flow is protected together with every other
table that counts the same mothers. Records excluded at validation are counted in their own table
(they count records, not mothers), by dataset and reason.
"""

from __future__ import annotations

import pandas as pd

from ..report.disclosure import MISSING_LEVEL, Count, Key, Label, Share
from ..report.format import lower_first
from .context import RunContext

__all__ = ["run"]


def run(ctx: RunContext) -> None:
    with ctx.step("participant flow"):
        _flow(ctx)
    with ctx.step("how support ended"):
        _endings(ctx)
    with ctx.step("validation records"):
        _records(ctx)


def stage_keys(ctx: RunContext) -> list[tuple[str, str, Key]]:
    """The flow's stages in order: (id, words, the set of mothers it counts).

    Ids (``referred``, ``started``, ``wave:<name>``, ``both``, ``end``) let the report find a stage
    whatever the words; the words use the dictionary's wave labels.
    """
    primary = ctx.plan.primary_outcome.instrument
    base, end = ctx.plan.time.baseline_wave, ctx.plan.time.end_wave
    name = _upper(primary)
    stages = [("referred", "referred", Key.of())]
    if ctx.started_col:
        stages.append(("started", "started support", Key.of(started="yes")))
    for wave in ctx.waves:
        stages.append((f"wave:{wave}", f"answered questionnaires at {lower_first(ctx.wave_label(wave))}",
                       Key.of(**{f"returned@{wave}": "yes"})))
    stages.append(("both", f"had a {name} score at {lower_first(ctx.wave_label(base))} and at "
                           f"{lower_first(ctx.wave_label(end))}",
                   Key.of(**{f"{primary}@{base}": "yes", f"{primary}@{end}": "yes"})))
    if ctx.started_col:
        stages.append(("end", f"started support and had a {name} score at "
                              f"{lower_first(ctx.wave_label(end))}",
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
    keys = [k for _, _, k in stages]
    n = [ctx.pub.count(k) for k in keys]
    total = n[0]
    table = pd.DataFrame({"stage": [s for _, s, _ in stages], "n": n,
                          "percent_of_referred": [100.0 * v / total if total else float("nan")
                                                  for v in n]})
    ctx.facts["flow_stages"] = [i for i, _, _ in stages]
    ctx.pub.add("participant_flow", table, columns={
        "stage": Label(), "n": Count(keys),
        "percent_of_referred": Share(num=keys, den=[Key.of()] * len(keys), scale=100)},
        importance=100)
    from ..report.figures import flow_figure

    ctx.figure("flow", lambda pub: flow_figure(pub["participant_flow"].data.assign(note=""),
                                               threshold=ctx.threshold, name="flow"))


def _endings(ctx: RunContext) -> None:
    """How support ended for the mothers who started, by the plan's reason column (every level,
    including "not recorded"), so the flow says why mothers left, not only how many."""
    reason = ctx.plan.engagement.reason if ctx.plan.engagement else None
    if not reason or reason not in ctx.people.columns or not ctx.started_col:
        return
    order = ctx.context_dimension(reason)
    started = ctx.people[ctx.started_col].eq(True).fillna(False)
    codes = ctx.people[reason].map(lambda v: ctx.code(reason, v) or MISSING_LEVEL)
    # a reason held only by mothers who did not start ("did not start") is not a way support
    # ended: left out, and declared an empty cell (true of the data, and known to any reader)
    shown = [c for c in order if c == MISSING_LEVEL or (codes[started] == c).any()
             or not (codes == c).any()]
    keys = [Key.of(started="yes", **{reason: c}) for c in shown]
    for c in order:
        if c not in shown:
            ctx.pub.zero(Key.of(started="yes", **{reason: c}))
    n = [ctx.pub.count(k) for k in keys]
    total = ctx.pub.count(Key.of(started="yes"))
    table = pd.DataFrame({"reason": [ctx.level_label(reason, c) for c in shown], "n": n,
                          "percent_of_started": [100.0 * v / total if total else float("nan")
                                                 for v in n]})
    ctx.pub.add("support_ended", table, columns={
        "reason": Label(), "n": Count(keys),
        "percent_of_started": Share(num=keys, den=[Key.of(started="yes")] * len(keys), scale=100)},
        importance=60)
    ctx.facts["support_ended_label"] = ctx.label(reason)


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
