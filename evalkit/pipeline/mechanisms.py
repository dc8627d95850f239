"""Step: how support helped — mechanism ratings at the end of support, and their mediation.

A rating of 3 or 4 counts as experiencing the mechanism; negative comparison (feeling worse off than
others) is a way support can harm, reported like the others. Counts of "3 or 4" and their shares
are counts of mothers with keys, protected with everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..report.disclosure import SD, Count, Label, Mean, Share
from .context import RunContext, group_column
from .models import register_model_table

__all__ = ["run"]

_AGREE, _DISAGREE = "3-4", "0-2"


def run(ctx: RunContext) -> None:
    mp = ctx.plan.mechanisms
    if mp is None:
        ctx.sections["mechanisms"] = "The plan does not ask about mechanisms."
        return
    items = mp.items if mp.items != "all" else [v.name for v in ctx.dd.by_role("mechanism")]
    items = [i for i in items if i in ctx.frame.columns]
    if not items:
        ctx.not_done("mechanisms", "the data have no mechanism ratings")
        return
    with ctx.step("mechanisms"):
        _ratings(ctx, mp, items)
    if mp.mediation:
        with ctx.step("mechanisms: mediation"):
            _mediation(ctx, mp, items)


def _ratings(ctx: RunContext, mp, items) -> None:
    at = ctx.frame[ctx.frame[ctx.wave] == mp.wave].set_index(ctx.id).reindex(ctx.people.index)
    base = ctx.started_key
    people, group = group_column(ctx, ctx.people.reset_index())
    levels = [None] if group is None else [None, *people[group].cat.categories]
    rows, n_keys, agree_keys, measures = [], [], [], []
    for item in items:
        values = pd.to_numeric(at[item], errors="coerce")
        dim, measure = f"mech:{item}", f"mech:{item}"
        band = values.map(lambda v: None if v != v else (_AGREE if v >= 3 else _DISAGREE))
        ctx.pub.dimension(dim, band, levels=[_DISAGREE, _AGREE])
        ctx.pub.measure(measure, values, lower=0, upper=4)
        for g in levels:
            k = base if g is None else base & {group: str(g)}
            n_key = k & {dim: [_DISAGREE, _AGREE]}
            mask = ctx.pub._mask(n_key)
            v = values.to_numpy(float)[mask]
            rows.append({"mechanism": _label(ctx, item),
                         "group": "all" if g is None else ctx.level_label(group, g),
                         "n": int(v.size), "mean": v.mean() if v.size else np.nan,
                         "sd": v.std(ddof=1) if v.size > 1 else np.nan,
                         "agree": int((v >= 3).sum()),
                         "percent_agree": 100 * (v >= 3).mean() if v.size else np.nan})
            n_keys.append(n_key)
            agree_keys.append(k & {dim: _AGREE})
            measures.append(measure)
    table = pd.DataFrame(rows)
    ctx.pub.add("mechanisms", table, status="status", columns={
        "mechanism": Label(), "group": Label(), "n": Count(n_keys),
        "mean": Mean(measures, n_keys), "sd": SD(measures, n_keys), "agree": Count(agree_keys),
        "percent_agree": Share(agree_keys, n_keys, scale=100)})
    ctx.facts["mechanism_items"] = {_label(ctx, i): i for i in items}


def _label(ctx: RunContext, item: str) -> str:
    """The item's label from the dictionary (item sets' ``labels``); a generic item-set label
    ("checklist, item 1") says nothing, so then the column name carries the mechanism."""
    try:
        label = ctx.dd.variable(item).label or ""
    except EvalkitError:
        label = ""
    if label and not label.rsplit(", item ", 1)[-1].isdigit():
        return label
    return item.removeprefix("mech_").replace("_", " ")


def _mediation(ctx: RunContext, mp, items) -> None:
    from ..models.mediation import mediation

    inst = ctx.plan.primary_outcome.instrument
    base_w, end_w = ctx.plan.time.baseline_wave, ctx.plan.time.end_wave
    at = ctx.frame[ctx.frame[ctx.wave] == mp.wave]
    if ctx.started_col:
        at = at[at[ctx.started_col].eq(True)]
    wide = ctx.frame.pivot(index=ctx.id, columns=ctx.wave, values=inst)
    per = at.set_index(ctx.id)[items].join((wide[end_w] - wide[base_w]).rename("change"))
    per = per.join(wide[base_w].rename("baseline"))
    e = ctx.plan.engagement
    if e is not None and e.sessions in ctx.people.columns:
        per = per.join(ctx.people[[e.sessions]])
    res = mediation(per.reset_index(), exposure=e.sessions if e else items[0], mediators=items,
                    outcome="change", covariates=["baseline"], n_boot=mp.bootstrap,
                    seed=ctx.plan.seed, progress=False)
    population = ctx.started_key & {f"{inst}@{base_w}": "yes", f"{inst}@{end_w}": "yes"}
    register_model_table(ctx, "mediation", res.to_frame(), population=population, term="path")
