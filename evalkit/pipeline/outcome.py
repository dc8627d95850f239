"""Step: one outcome — scores by wave, average change, the primary model, change by group.

Reliable change and effects by context for the same outcome are in :mod:`.outcome_change` and
:mod:`.outcome_context`. A yes/no grouping variable (``model.group: partner``) is turned into
labelled levels before fitting, so change is estimated per level, never at the share of "yes".
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..errors import SpecificationError
from ..report.disclosure import SD, Count, Free, Key, Label, Linked, Mean, Stat
from .context import RunContext, group_column, is_categorical
from .models import register_fit

__all__ = ["run"]


def run(ctx: RunContext, o) -> None:
    from ..instruments import registry
    from . import outcome_change, outcome_context

    inst = o.instrument
    spec = registry.get(inst)
    label = o.label or spec.abbreviation
    facts = ctx.facts["outcomes"].setdefault(inst, {
        "label": label, "words": o.label or _words(spec, label), "higher_is": spec.higher_is,
        "primary": o is ctx.plan.primary_outcome,
        "mid": spec.change.mid_improvement, "axis": _axis_label(spec, label),
        "norms": [(n.population, n.mean, n.sd) for n in spec.norms if n.scale in (None, inst)]})
    _population(ctx, inst)
    with ctx.step(f"{inst}: scores by wave"):
        _by_wave(ctx, inst, label)
    why = ctx.cannot_model(ctx.analysis, inst, label)
    if why is not None:
        ctx.not_done(f"{inst}: models of change", why)
        ctx.sections[f"{inst}_models"] = f"Change in {label} could not be modelled: {why}."
        return
    overall = None          # the average-change model, if it could be fitted
    with ctx.step(f"{inst}: average change"):
        overall = _average_change(ctx, inst, facts)
    if o is ctx.plan.primary_outcome and ctx.plan.model.several_terms and overall is not None:
        from . import volunteers
        with ctx.step(f"{inst}: variation between volunteers"):
            volunteers.run(ctx, inst, overall, ctx.analysis, ctx.model_population(inst))
    with ctx.step(f"{inst}: primary model"):
        _primary(ctx, inst, label, facts, spec)
    rules = spec.change
    if rules.reliable_change is None and rules.rci_sd is None:
        ctx.not_done(f"{inst}: reliable change", f"{label} has no published reliable-change rule, "
                     "so individual change is not classified; average change is still reported")
    else:
        with ctx.step(f"{inst}: reliable change"):
            outcome_change.run(ctx, inst, label, facts)
    with ctx.step(f"{inst}: effects by context"):
        outcome_context.scan(ctx, inst, label, facts)
    for moderator in ctx.plan.contexts.johnson_neyman:
        with ctx.step(f"{inst}: Johnson-Neyman ({moderator})"):
            outcome_context.johnson_neyman(ctx, inst, label, moderator)


def _words(spec, label: str) -> str:
    """What the outcome measures, named for a reader: "mental wellbeing (WEMWBS)"."""
    measures = (spec.measures or "").split(" (")[0].strip()
    return f"{measures} ({label})" if measures else label


def _axis_label(spec, label: str) -> str:
    rng = getattr(spec.scales[0], "range", None)
    span = f"{rng[0]:g}–{rng[1]:g}, " if rng else ""
    return f"{label} ({span}higher = {spec.higher_is})"


def _population(ctx: RunContext, inst: str) -> None:
    """``model:<inst>``: in the plan's population with at least one score in the analysis window."""
    used = ctx.analysis.dropna(subset=[inst])[ctx.id].unique()
    ctx.yes_no(f"model:{inst}", pd.Series(ctx.people.index.isin(used), index=ctx.people.index))


def _by_wave(ctx: RunContext, inst: str, label: str) -> None:
    rows, keys, measures = [], [], []
    for wave in ctx.waves:
        k = Key.of(**{f"{inst}@{wave}": "yes"})
        at = ctx.frame.loc[ctx.frame[ctx.wave] == wave, inst].dropna().to_numpy(float)
        n = at.size
        mean = at.mean() if n else np.nan
        sd = at.std(ddof=1) if n > 1 else np.nan
        se = sd / np.sqrt(n) if n > 1 else np.nan
        rows.append({"wave": wave, "n": n, "mean": mean, "sd": sd,
                     "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se})
        keys.append(k)
        measures.append(f"{inst}@{wave}")
    table = pd.DataFrame(rows)
    ctx.pub.add(f"{inst}_by_wave", table, status="status", columns={
        "wave": Label(), "n": Count(keys), "mean": Mean(measures, keys), "sd": SD(measures, keys),
        "ci_low": Linked("sd"), "ci_high": Linked("sd")})


def _fit(ctx: RunContext, data, inst, fixed):
    """The plan's mixed model; ``model.ddf: auto`` gives Kenward–Roger below
    :data:`evalkit.plan.KENWARD_ROGER_BELOW` participants in the fitted model (fast engine)."""
    from ..models.mixed import fit_mixed

    m = ctx.plan.model
    fit = fit_mixed(data, outcome=inst, fixed=fixed, subject=ctx.id, random=m.random,
                    engine=m.engine, simplify=m.simplify,
                    ddf="kenward-roger" if m.ddf == "kenward-roger" else "satterthwaite")
    if m.ddf == "auto" and m.engine == "fast" and m.ddf_for(fit.n_groups) == "kenward-roger":
        try:
            fit = fit.with_ddf("kenward-roger")
        except SpecificationError as err:     # too many random effects for its q × q₂ matrix
            note = (f"Kenward–Roger was not computed ({err}); the tests use Satterthwaite df")
            fit = dataclasses.replace(fit, warnings=fit.warnings + (note,))
    return fit


def _average_change(ctx: RunContext, inst: str, facts: dict):
    from ..models.moderation import change_from_baseline

    pop = ctx.model_population(inst)
    fit = _fit(ctx, ctx.analysis, inst, ctx.time)
    register_fit(ctx, f"{inst}_overall", fit, population=pop, inst=inst)
    ch = change_from_baseline(fit, time=ctx.time, change=ctx.plan.time.change)
    table = ch[["estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]]
    table = table.assign(mothers=ctx.pub.count(pop))
    stat = Stat([pop] * len(table), min_n=ctx.min_group)
    ctx.pub.add(f"{inst}_change", table, status="status", columns={
        **{c: stat for c in table.columns if c != "mothers"}, "mothers": Count([pop] * len(table))},
        importance=20)
    facts["overall"] = {"formula": fit.spec.describe(), "notes": list(fit.warnings)
                        + list(fit.simplification)}
    return fit


def _primary(ctx: RunContext, inst: str, label: str, facts: dict, spec) -> None:
    from ..models.moderation import change_from_baseline, marginal_means

    m, tcol, change = ctx.plan.model, ctx.time, ctx.plan.time.change
    data, group = group_column(ctx, ctx.analysis)
    pop = ctx.model_population(inst)
    fit = _fit(ctx, data, inst, m.fixed)
    register_fit(ctx, f"{inst}_primary", fit, population=pop, inst=inst,
                 factors=[c for c in data.columns if c in m.fixed and c != inst
                          and c in ctx.people.columns and is_categorical(ctx.people[c])])
    facts["model"] = {"formula": fit.spec.describe(), "converged": bool(fit.converged),
                      "singular": bool(fit.singular), "warnings": list(fit.warnings),
                      "simplification": list(fit.simplification), "group": group}
    grid = [float(x) for x in np.linspace(change[0], change[1], 7)]
    means = marginal_means(fit, at={tcol: grid}, by=group)
    if group:
        by_group = change_from_baseline(fit, time=tcol, change=change, by=group)
        keys = [pop & {group: str(g)} for g in by_group[group]]
        table = pd.DataFrame({"group": [ctx.level_label(group, g) for g in by_group[group]],
                              "mothers": [ctx.pub.count(k) for k in keys]})
        for c in ("estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"):
            table[c] = by_group[c].to_numpy()
        stat = Stat(keys, min_n=ctx.min_group)
        ctx.pub.add(f"{inst}_change_by_group", table, status="status", columns={
            "group": Label(), "mothers": Count(keys),
            **{c: stat for c in table.columns if c not in ("group", "mothers")}})
        mkeys = [pop & {group: str(g)} for g in means[group]]
        means = means.assign(group=[ctx.level_label(group, g) for g in means[group]])
    else:
        mkeys = [pop] * len(means)
        means = means.assign(group="all")
    traj = pd.DataFrame({"group": means["group"].to_numpy(), "time": means[tcol].to_numpy(float)})
    for c in ("estimate", "ci_low", "ci_high"):
        traj[c] = means[c].to_numpy()
    stat = Stat(mkeys, min_n=ctx.min_group)
    ctx.pub.add(f"{inst}_trajectory", traj, status="status",
                file=f"figures/{inst}_trajectory.csv", columns={
                    "group": Label(), "time": Free("a week on the prediction grid"),
                    "estimate": stat, "ci_low": stat, "ci_high": stat})
    ctx.figure(f"{inst}_trajectory", lambda p: _trajectory(ctx, p, inst, group))
    _qq(ctx, inst, label, fit, pop)


def _trajectory(ctx, pub, inst, group):
    from ..report.figures import trajectory_figure

    # the published column is "time"; the plan's time column names the unit ("weeks")
    means = pub[f"{inst}_trajectory"].data.rename(columns={"time": ctx.time})
    return trajectory_figure(means, outcome=inst, label=ctx.facts["outcomes"][inst]["axis"],
                             time=ctx.time, group="group" if group else None,
                             group_label=ctx.label(group) if group else None,
                             threshold=ctx.threshold, name=f"{inst}_trajectory")


def _qq(ctx: RunContext, inst: str, label: str, fit, pop: Key) -> None:
    """QQ points of residuals and random effects: quantiles only, never a mother's own value."""
    from ..report.figures.qq import qq_table

    series = {"residuals": (fit.residuals().dropna().to_numpy(float), f"{label}: residuals")}
    for col in list(fit.blups.columns)[:2]:
        series[_slug(col)] = (fit.blups[col].to_numpy(float), f"{label}: random effect {col}")
    for key, (values, what) in series.items():
        table = qq_table(values, threshold=ctx.threshold)
        name = f"{inst}_qq_{key}"
        n = [pop] * len(table)
        ctx.pub.add(name, table, file=f"figures/{name}.csv", columns={
            "probability": Free("a probability of the normal QQ plot"),
            "theoretical": Free("the normal quantile at that probability"),
            "sample": Stat(n, min_n=ctx.min_group), "reference": Stat(n, min_n=ctx.min_group)})
        ctx.figure(name, lambda p, nm=name, w=what: _qq_figure(p, nm, w, ctx.threshold),
                   audience=("technical",))


def _qq_figure(pub, name, what, threshold):
    from ..report.figures import qq_figure

    return qq_figure(pub[name].data, label=what, name=name, threshold=threshold)


def _slug(text) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text)).strip("_").lower()
