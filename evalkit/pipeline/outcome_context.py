"""Effects of one outcome by context: change within each level, the test of difference, and
Johnson–Neyman regions for numeric moderators.

Each level's estimate rests on that level's mothers; levels smaller than the report's one minimum
group size are not estimated (their size is shown when it may be), and a level whose size is hidden
has its estimate hidden too. Reliable-change shares by level are shares of published counts, so a
share is never shown for a group whose count is hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.disclosure import Count, Free, Label, Linked, Share, Stat
from .context import RunContext, is_categorical
from .models import register_fit, register_fits
from .outcome_change import CLASSES, declare
from .reach import contexts

__all__ = ["scan", "johnson_neyman"]


def scan(ctx: RunContext, inst: str, label: str, facts: dict) -> None:
    from ..instruments import registry
    from ..models.context import context_scan

    data = ctx.analysis
    chosen = [c for c in contexts(ctx) if c in data.columns]
    if not chosen:
        ctx.sections[f"{inst}_by_context"] = "The plan names no context to examine."
        return
    coded = data.copy()
    for c in chosen:
        if is_categorical(ctx.people[c]):
            ctx.context_dimension(c)
            coded[c] = coded[c].map(lambda v, col=c: ctx.code(col, v))
    fits = {}
    table = context_scan(coded, outcome=[inst], by=chosen, subject=ctx.id, time=ctx.time,
                         random=ctx.plan.model.mother_random(ctx.id),
                         change=ctx.plan.time.change,
                         min_n=ctx.min_group, adjust=ctx.plan.contexts.adjust, wave=ctx.wave,
                         baseline_wave=ctx.plan.time.baseline_wave,
                         end_wave=ctx.plan.time.end_wave, fits=fits)
    spec = registry.get(inst).change
    has_rc = not (spec.reliable_change is None and spec.rci_sd is None)
    if has_rc:
        declare(ctx, inst)
    pop = ctx.model_population(inst)
    rc = f"rc:{inst}"
    classified = list(CLASSES.values())
    rows, n_keys, imp, det, den = [], [], [], [], []
    for r in table.itertuples(index=False):
        numeric = not is_categorical(ctx.people[r.context])
        if numeric:
            ctx.yes_no(f"has:{r.context}", ctx.people[r.context].notna())
            k = pop & {f"has:{r.context}": "yes"}
            level = f"at {r.level}" if r.level not in (None, "all") else "all"
        elif r.level == "all":
            k = pop
            level = "all"
        else:
            k = pop & {r.context: str(r.level)}
            level = ctx.level_label(r.context, r.level)
        rows.append({"context": ctx.label(r.context), "level": level,
                     "status": "estimated" if r.status == "estimated" else
                     (f"too few to estimate (fewer than {ctx.min_group})"
                      if str(r.status).startswith("too small") else str(r.status))})
        n_keys.append(k)
        imp.append(k & {rc: "improved"} if has_rc else None)
        det.append(k & {rc: "deteriorated"} if has_rc else None)
        den.append(k & {rc: classified} if has_rc else None)
    out = pd.DataFrame(rows)
    out.insert(2, "mothers", table["n_participants"].to_numpy())
    for c in ("estimate", "std_error", "df", "ci_low", "ci_high", "p_value",
              "heterogeneity_p_adjusted"):
        out[c] = table[c].to_numpy()
    stat = Stat(n_keys, min_n=ctx.min_group)
    # the test of difference rests on every level of its context that was estimated
    het_n = []
    for r in table.itertuples(index=False):
        rows_c = [(kk, rr) for kk, rr in zip(n_keys, table.itertuples(index=False))
                  if rr.context == r.context and rr.status == "estimated"]
        het_n.append([kk for kk, _ in rows_c] or None)
    columns = {"context": Label(), "level": Label(), "status": Label(), "mothers": Count(n_keys),
               "estimate": stat, "std_error": stat, "df": stat, "ci_low": stat, "ci_high": stat,
               "p_value": stat, "heterogeneity_p_adjusted": Stat(het_n, min_n=ctx.min_group)}
    if has_rc:
        out["reliable_improvement"] = table["reliable_improvement"].to_numpy()
        out["reliable_deterioration"] = table["reliable_deterioration"].to_numpy()
        out["n_change"] = table["n_change"].to_numpy()
        # levels too small to estimate have no shares either (the scan leaves them empty)
        small = [s != "estimated" for s in table["status"]]
        for col in ("reliable_improvement", "reliable_deterioration"):
            out[col] = out[col].mask(small)
        columns.update(reliable_improvement=Share(imp, den), reliable_deterioration=Share(det, den),
                       n_change=Count([None if s else d for s, d in zip(small, den)]))
        out["n_change"] = out["n_change"].mask(small)
    ctx.pub.add(f"{inst}_by_context", out, status="status", columns=columns)
    ctx.figure(f"{inst}_forest", lambda p: _forest(ctx, p, inst, label))
    _scan_models(ctx, inst, table, fits)


def _scan_models(ctx: RunContext, inst: str, table: pd.DataFrame, fits: dict) -> None:
    """The scan's models (``outcome ~ time * context``, one per context) as protected tables.

    Each model rests on the mothers in it: for a categorical context those in the levels large
    enough to estimate (smaller levels are left out of the model), for a numeric one those with a
    value; a coefficient naming a level also rests on that level and on the reference level.
    """
    entries = []
    pop = ctx.model_population(inst)
    for (_, context), fit in fits.items():
        if is_categorical(ctx.people[context]):
            rows = table[(table["context"] == context) & (table["status"] == "estimated")]
            codes = [str(v) for v in rows["level"]]
            if not codes:
                continue
            union = pop & {context: codes}
            if ctx.pub.count(union) == ctx.pub.count(pop):     # every mother of the outcome
                entries.append((ctx.label(context), fit, pop, [context], None))
            else:
                # levels left out: the rows rest on the levels' own keys (published in
                # <inst>_by_context), and the number of mothers is not given (it would give the
                # left-out levels' size by subtraction)
                entries.append((ctx.label(context), fit, union, [context],
                                [pop & {context: c} for c in codes]))
        else:
            ctx.yes_no(f"has:{context}", ctx.people[context].notna())
            with_value = pop & {f"has:{context}": "yes"}
            same = ctx.pub.count(with_value) == ctx.pub.count(pop)
            entries.append((ctx.label(context), fit, pop if same else with_value, [], None))
    # observations per level and wave are counts no other table publishes: mothers only
    register_fits(ctx, f"{inst}_context", entries, inst=inst, label="context", observations=False)


def _forest(ctx, pub, inst, label):
    from ..report.figures import forest_figure

    t = pub[f"{inst}_by_context"].data.rename(columns={"mothers": "n_participants"})
    ref = pub[f"{inst}_change"].data["estimate"].iloc[0] if f"{inst}_change" in pub else None
    return forest_figure(t, outcome=inst, label=label, threshold=ctx.threshold,
                         reference=None if ref is None or ref != ref else float(ref),
                         name=f"{inst}_forest")


def johnson_neyman(ctx: RunContext, inst: str, label: str, moderator: str) -> None:
    from ..models.mixed import fit_mixed
    from ..models.moderation import johnson_neyman as jn_fit

    m = ctx.plan.model
    pop = ctx.model_population(inst)
    fit = fit_mixed(ctx.analysis, outcome=inst, fixed=f"{ctx.time} * {moderator}", subject=ctx.id,
                    random=m.mother_random(ctx.id), engine=m.engine, simplify=m.simplify)
    jn = jn_fit(fit, effect=ctx.time, by=moderator, change=ctx.plan.time.change)
    ctx.yes_no(f"has:{moderator}", ctx.people[moderator].notna())
    with_value = pop & {f"has:{moderator}": "yes"}
    if ctx.pub.count(with_value) != ctx.pub.count(pop):   # mothers without a value are left out
        pop = with_value
    register_fit(ctx, f"{inst}_jn_{moderator}", fit, population=pop, inst=inst)
    n = [pop] * len(jn.bounds)
    ctx.pub.add(f"model_{inst}_jn_{moderator}", jn.bounds.assign(
        inside_data=jn.bounds["inside_data"].map({True: "yes", False: "no"})), status="status",
        columns={"moderator_value": Stat(n, min_n=ctx.min_group), "inside_data": Label(),
                 "side": Label()})
    # the curve only between the values with at least T mothers beyond them (no single extreme)
    x = ctx.people.loc[ctx.people.index.isin(ctx.analysis[ctx.id]), moderator].dropna()
    x = pd.to_numeric(x, errors="coerce").dropna().to_numpy(float)
    t = ctx.threshold
    if x.size < 2 * t + 2:
        ctx.not_done(f"{inst}: Johnson-Neyman figure ({moderator})",
                     f"too few mothers with {ctx.label(moderator)} to draw the curve without showing "
                     "individual values")
        return
    xs = np.sort(x)
    # between two mothers' values, with T below and above: no single mother's value is an end
    lo, hi = (xs[t - 1] + xs[t]) / 2, (xs[-t - 1] + xs[-t]) / 2
    curve = jn.curve[(jn.curve[moderator] >= lo) & (jn.curve[moderator] <= hi)].reset_index(drop=True)
    curve = curve[[moderator, "estimate", "ci_low", "ci_high", "significant"]].copy()
    curve["significant"] = curve["significant"].map({True: "yes", False: "no"})
    nn = [pop] * len(curve)
    name = f"{inst}_jn_{moderator}"
    ctx.pub.add(name, curve, status="status", file=f"figures/{name}.csv", columns={
        moderator: Free("a moderator value on the grid, inside the middle of the data"),
        "estimate": Stat(nn, min_n=ctx.min_group), "ci_low": Linked("estimate"),
        "ci_high": Linked("estimate"), "significant": Label()})
    ctx.figure(name, lambda p: _jn(ctx, p, inst, label, moderator, (float(lo), float(hi)),
                                   jn.confidence))


def _jn(ctx, pub, inst, label, moderator, span, confidence):
    from ..report.figures import jn_figure

    curve = pub[f"{inst}_jn_{moderator}"].data.copy()
    curve["significant"] = curve["significant"].eq("yes")
    bounds = pub[f"model_{inst}_jn_{moderator}"].data
    return jn_figure(curve, bounds, moderator=moderator, observed_range=span,
                     confidence=confidence, label=label, moderator_label=ctx.label(moderator),
                     name=f"{inst}_jn_{moderator}")
