"""Reliable change of one outcome: improved, unchanged and deteriorated, overall and by group.

Deterioration is published as plainly as improvement. Counts, shares and their Wilson intervals are
one table; a group whose counts are hidden has its shares hidden with them, and the overall row is
protected together with the groups' rows (no count can be had by subtraction).
"""

from __future__ import annotations

import pandas as pd

from ..report.disclosure import Count, Key, Label, Linked, Share
from .context import RunContext, group_column

__all__ = ["run", "CLASSES"]

#: Reliable-change classes as level codes of the ``rc:<instrument>`` dimension, in display order.
CLASSES = {"reliable_improvement": "improved", "no_reliable_change": "unchanged",
           "reliable_deterioration": "deteriorated"}
_CATEGORY = {"reliable improvement": "improved", "no reliable change": "unchanged",
             "reliable deterioration": "deteriorated"}


def declare(ctx: RunContext, inst: str):
    """Declare ``rc:<inst>`` (baseline to end, all referred mothers); return the result."""
    from ..change import reliable_change

    dim = f"rc:{inst}"
    base, end = ctx.plan.time.baseline_wave, ctx.plan.time.end_wave
    wide = ctx.frame.pivot(index=ctx.id, columns=ctx.wave, values=inst).reindex(ctx.people.index)
    rc = reliable_change(wide[base], wide[end], instrument=inst)
    category = rc.table["category"].astype(object).map(_CATEGORY)
    if dim not in ctx.pub._dims.get("person", {}):
        ctx.pub.dimension(dim, pd.Series(category.to_numpy(), index=ctx.people.index),
                          levels=list(CLASSES.values()))
    return rc


def run(ctx: RunContext, inst: str, label: str, facts: dict) -> None:
    from ..change import change_summary

    rc = declare(ctx, inst)
    dim = f"rc:{inst}"
    classified = list(CLASSES.values())
    people, group = group_column(ctx, ctx.people.reset_index())
    groups = None if group is None else people[group].astype(object).where(
        people[group].notna(), None).to_numpy()
    summary = change_summary(rc, by=groups)
    summary = summary[summary["outcome"].isin(list(CLASSES))].reset_index(drop=True)
    rows, keys, dens = [], [], []
    for g, outcome in zip(summary["group"], summary["outcome"]):
        if g == "all":
            base, name = Key.of(), "all mothers"
        elif g is None or g != g:
            base, name = Key.of(**{group: "(missing)"}), ctx.level_label(group, "(missing)")
        else:
            base, name = Key.of(**{group: str(g)}), ctx.level_label(group, g)
        rows.append({"group": name, "result": outcome.replace("_", " ")})
        keys.append(base & {dim: CLASSES[outcome]})
        dens.append(base & {dim: classified})
    table = pd.DataFrame(rows)
    for c in ("n", "count", "proportion", "ci_low", "ci_high"):
        table[c] = summary[c].to_numpy()
    ctx.pub.add(f"{inst}_reliable_change", table, columns={
        "group": Label(), "result": Label(), "n": Count(dens), "count": Count(keys),
        "proportion": Share(keys, dens), "ci_low": Linked("proportion"),
        "ci_high": Linked("proportion")}, importance=20)
    facts["rc_threshold"] = rc.threshold
    facts["rc_method"] = rc.method
    ctx.figure(f"{inst}_reliable_change", lambda p: _figure(ctx, p, inst, label))


def _figure(ctx, pub, inst, label):
    from ..report.figures import reliable_change_figure

    t = pub[f"{inst}_reliable_change"].data
    summary = t.rename(columns={"result": "outcome"})
    summary["outcome"] = summary["outcome"].str.replace(" ", "_")
    summary["group"] = summary["group"].replace({"all mothers": "all"})
    return reliable_change_figure(summary, label=label, threshold=ctx.threshold,
                                  name=f"{inst}_reliable_change")
