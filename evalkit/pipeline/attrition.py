"""Step: attrition — who has no end score, how the data went missing, and a model of completion.

Patterns, completer comparisons and the model all count mothers who started support, with keys,
so a pattern or a completer share is never shown where it would give a hidden count.
"""

from __future__ import annotations

import pandas as pd

from ..report.disclosure import SD, Count, Label, Mean, Share, Stat
from .context import RunContext, is_categorical
from .models import register_model_table
from .reach import contexts

__all__ = ["run"]


def run(ctx: RunContext) -> None:
    with ctx.step("attrition: patterns"):
        _patterns(ctx)
    with ctx.step("attrition: completers vs non-completers"):
        _completers(ctx)
    if ctx.plan.attrition.predictors:
        with ctx.step("attrition: model of having an end score"):
            _model(ctx)


def _population(ctx: RunContext) -> pd.DataFrame:
    frame = ctx.frame
    if ctx.started_col:
        frame = frame[frame[ctx.started_col].eq(True)]
    return frame


def _patterns(ctx: RunContext) -> None:
    from ..attrition import missingness_patterns

    inst = ctx.plan.primary_outcome.instrument
    pats = missingness_patterns(_population(ctx), outcome=inst, subject=ctx.id, wave=ctx.wave)
    wide = ctx.frame.pivot(index=ctx.id, columns=ctx.wave, values=inst).reindex(ctx.people.index)
    waves = [w for w in ctx.waves if w in pats.columns]
    code = wide.reindex(columns=waves).notna().apply(
        lambda r: "".join("X" if v else "." for v in r), axis=1)
    dim = f"pattern:{inst}"
    ctx.pub.dimension(dim, code, levels=list(pats["pattern"]))
    base = ctx.started_key
    keys = [base & {dim: p} for p in pats["pattern"]]
    table = pats.copy()
    for w in waves:
        table[w] = table[w].map({True: "yes", False: "no"})
    ctx.pub.add("missingness_patterns", table, columns={
        "pattern": Label(), **{w: Label() for w in waves}, "n_participants": Count(keys),
        "percent": Share(keys, [base] * len(keys), scale=100)})
    ctx.figure("missingness", lambda p: _figure(ctx, p, inst))


def _figure(ctx, pub, inst):
    from ..report.figures import missingness_figure

    t = pub["missingness_patterns"].data.copy()
    for w in ctx.waves:
        if w in t.columns:
            t[w] = t[w].eq("yes")
    return missingness_figure(t, label=ctx.facts["outcomes"].get(inst, {}).get("label", inst),
                              threshold=ctx.threshold, name="missingness")


def _completers(ctx: RunContext) -> None:
    from ..attrition import compare_completers

    inst = ctx.plan.primary_outcome.instrument
    base_w, end_w = ctx.plan.time.baseline_wave, ctx.plan.time.end_wave
    compare = ctx.plan.attrition.compare
    if compare == "all":
        compare = [*[o.instrument for o in ctx.plan.outcomes], *contexts(ctx)]
    compare = [c for c in compare if c in ctx.frame.columns]
    pop = _population(ctx).copy()
    for c in compare:
        if c in ctx.people.columns and is_categorical(ctx.people[c]):
            ctx.context_dimension(c)
            pop[c] = pop[c].map(lambda v, col=c: ctx.code(col, v))
    cmp = compare_completers(pop, outcome=inst, covariates=compare, subject=ctx.id, wave=ctx.wave,
                             baseline_wave=base_w, end_wave=end_w)
    base = ctx.started_key
    done, not_done = {f"{inst}@{end_w}": "yes"}, {f"{inst}@{end_w}": "no"}
    rows, n1, n0, nm, m1, m0, num1, num0, smd, meas = ([] for _ in range(10))
    for r in cmp.itertuples(index=False):
        var = r.variable
        if r.kind == "numeric":
            has = {f"{var}@{base_w}": "yes"} if var in [o.instrument for o in ctx.plan.outcomes] \
                else {f"has:{var}": "yes"}
            if "has:" in next(iter(has)):
                ctx.yes_no(f"has:{var}", ctx.people[var].notna())
                from .reach import _limits
                ctx.pub.measure(var, pd.to_numeric(ctx.people[var], errors="coerce"),
                                **_limits(ctx, var))
            measure = f"{var}@{base_w}" if "@" in next(iter(has)) else var
            missing = {next(iter(has)): "no"}
            k1, k0 = base & has & done, base & has & not_done
            rows.append({"variable": ctx.label(var), "level": "", "kind": "mean"})
            n1.append(k1), n0.append(k0), nm.append(base & missing)
            num1.append(None), num0.append(None), meas.append(measure)
            smd.append([k1, k0])
        else:
            present = [c for c in ctx.codes(var, ctx.people[var])]
            k1 = base & {var: present} & done
            k0 = base & {var: present} & not_done
            lv = str(r.level)
            rows.append({"variable": ctx.label(var), "level": ctx.level_label(var, lv),
                         "kind": "share"})
            n1.append(k1), n0.append(k0), nm.append(base & {var: "(missing)"})
            num1.append(base & {var: lv} & done), num0.append(base & {var: lv} & not_done)
            meas.append(None)
            smd.append([num1[-1], k1, num0[-1], k0])
    table = pd.DataFrame(rows)
    for c in ("n_completers", "n_non_completers", "n_missing", "completers", "non_completers",
              "sd_completers", "sd_non_completers", "std_difference"):
        table[c] = cmp[c].to_numpy()
    is_mean = [m is not None for m in meas]
    # means (numeric variables) and shares (levels of categorical ones) are two tables, so each
    # column has one meaning
    means = table[is_mean].reset_index(drop=True)
    shares = table[[not x for x in is_mean]].reset_index(drop=True)
    idx_m = [i for i in range(len(rows)) if is_mean[i]]
    idx_s = [i for i in range(len(rows)) if not is_mean[i]]
    if len(means):
        pick = lambda seq: [seq[i] for i in idx_m]   # noqa: E731
        ctx.pub.add("completers_means", means.drop(columns=["kind"]), status="status", columns={
            "variable": Label(), "level": Label(), "n_completers": Count(pick(n1)),
            "n_non_completers": Count(pick(n0)), "n_missing": Count(pick(nm)),
            "completers": Mean(pick(meas), pick(n1)), "non_completers": Mean(pick(meas), pick(n0)),
            "sd_completers": SD(pick(meas), pick(n1)), "sd_non_completers": SD(pick(meas), pick(n0)),
            "std_difference": Stat(pick(smd), min_n=ctx.min_group)})
    if len(shares):
        pick = lambda seq: [seq[i] for i in idx_s]   # noqa: E731
        ctx.pub.add("completers_shares", shares.drop(columns=["kind", "sd_completers",
                                                             "sd_non_completers"]),
                    status="status", columns={
            "variable": Label(), "level": Label(), "n_completers": Count(pick(n1)),
            "n_non_completers": Count(pick(n0)), "n_missing": Count(pick(nm)),
            "completers": Share(pick(num1), pick(n1)), "non_completers": Share(pick(num0), pick(n0)),
            "std_difference": Stat(pick(smd), min_n=ctx.min_group)})


def _model(ctx: RunContext) -> None:
    from ..attrition import attrition_model

    inst = ctx.plan.primary_outcome.instrument
    predictors = ctx.plan.attrition.predictors
    pop = _population(ctx).copy()
    cats = [p for p in predictors if p in ctx.people.columns and is_categorical(ctx.people[p])]
    for c in cats:
        ctx.context_dimension(c)
        pop[c] = pop[c].map(lambda v, col=c: ctx.code(col, v))
    am = attrition_model(pop, outcome=inst, covariates=predictors, subject=ctx.id, wave=ctx.wave,
                         end_wave=ctx.plan.time.end_wave, baseline_wave=ctx.plan.time.baseline_wave)
    register_model_table(ctx, "attrition_model", am.table, population=ctx.started_key,
                         factors=cats)
