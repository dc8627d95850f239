"""Step: sensitivity to missing data — multiple imputation and a delta-adjusted tipping point.

Both refit the average-change model of the primary outcome; their estimates rest on the mothers in
that model. The imputation diagnostics publish observed means only where the observed count is
shown, and means of imputed values only where the number imputed is.
"""

from __future__ import annotations

from ..report.disclosure import SD, Count, Key, Label, Mean, Stat
from .context import RunContext
from .models import register_model_table

__all__ = ["run"]


def run(ctx: RunContext) -> None:
    mi = ctx.plan.sensitivity.multiple_imputation
    if mi is None:
        ctx.sections["sensitivity"] = "The plan asks for no multiple-imputation analysis."
        return
    from ..models.missing import fit_imputed, multiple_imputation, tipping_point
    from ..models.mixed import fit_mixed
    from ..models.moderation import change_from_baseline

    inst = ctx.plan.primary_outcome.instrument
    m, tcol, change = ctx.plan.model, ctx.time, ctx.plan.time.change
    pop = ctx.model_population(inst)
    label = ctx.facts["outcomes"].get(inst, {}).get("label", inst)
    why = ctx.cannot_model(ctx.analysis, inst, label)
    if why is None:
        waves = ctx.analysis.dropna(subset=[inst])[ctx.wave].nunique()
        if waves < len(ctx.window_waves):
            why = (f"{label} was not measured at every wave up to the end of support, so there is "
                   "nothing to impute the missing waves from")
    if why is not None:
        ctx.not_done("multiple imputation", why)
        ctx.sections["sensitivity"] = f"The multiple-imputation analysis could not be done: {why}."
        return

    def fit(d):
        return fit_mixed(d, outcome=inst, fixed=tcol, subject=ctx.id,
                         random=m.mother_random(ctx.id), engine=m.engine, simplify=m.simplify)

    def estimate(f):
        return change_from_baseline(f, time=tcol, change=change).assign(term="change")

    imputed = None
    with ctx.step("multiple imputation"):
        predictors = [p for p in mi.predictors if p in ctx.analysis.columns] or \
            [o.instrument for o in ctx.plan.outcomes if o.instrument != inst]
        imputed = multiple_imputation(ctx.analysis, outcome=inst, covariates=predictors,
                                      subject=ctx.id, wave=ctx.wave, time=tcol, m=mi.m,
                                      iterations=mi.iterations, method=mi.method,
                                      seed=ctx.plan.seed, progress=ctx.progress)
        pooled = fit_imputed(imputed, model=fit, estimate=estimate, progress=ctx.progress)
        table = pooled.table.assign(analysis=f"multiple imputation (m = {mi.m})")[
            ["analysis", "estimate", "std_error", "df", "ci_low", "ci_high", "p_value"]]
        register_model_table(ctx, "sensitivity_mi", table, population=pop, term="analysis")
        _pooled_fixed(ctx, pooled, pop)
        _diagnostics(ctx, inst, imputed)
        ctx.facts["mi"] = {"m": mi.m, "predictors": [ctx.label(p) for p in predictors],
                           "iterations": mi.iterations, "method": mi.method,
                           **_structures(ctx, pooled.fits)}
    tp = ctx.plan.sensitivity.tipping_point
    if tp is not None and imputed is not None:
        with ctx.step("tipping point"):
            tip = tipping_point(imputed, model=fit, estimate=estimate, deltas=tp.deltas,
                                from_wave=ctx.plan.time.end_wave, progress=ctx.progress)
            t = tip.table.copy()
            t["holds"] = t["holds"].map({True: "yes", False: "no"})
            register_model_table(ctx, "tipping_point", t, population=pop, term="__none__")
            ctx.facts["tipping"] = {"delta": tip.tipping_delta}
            ctx.figure("tipping_point", lambda p: _tipping(ctx, p), audience=("technical",))


def _pooled_fixed(ctx: RunContext, pooled, pop: Key) -> None:
    """``model_sensitivity_mi_fixed``: the average-change model's fixed effects pooled over the
    imputations by Rubin's rules (Barnard–Rubin df), with the fraction of missing information."""
    from ..models.pooling import pool_fits

    fits = [f for f in pooled.fits if f is not None]
    if len(fits) < 2:
        return
    table = pool_fits(fits)
    keep = [c for c in ("term", "estimate", "std_error", "df", "statistic", "p_value", "ci_low",
                        "ci_high", "fmi") if c in table.columns]
    register_model_table(ctx, "sensitivity_mi_fixed", table[keep], population=pop)


def _structures(ctx: RunContext, fits) -> dict:
    """How the imputations' models were fitted: random-effects structures (after simplification),
    df method, estimation, and how many fits converged or were singular (no number about people)."""
    from .models import describe_fit

    infos = [describe_fit(ctx, f) for f in fits if f is not None]
    if not infos:
        return {}
    shapes = {}
    for i in infos:
        shapes.setdefault(i["random_effects"], [0, i["random_effects_text"]])[0] += 1
    return {"fits": len(infos), "structures": [(k, n, text) for k, (n, text) in shapes.items()],
            "df_method": infos[0]["df_method"], "estimation": infos[0]["estimation"],
            "converged": sum(i["converged"] for i in infos),
            "singular": sum(i["singular"] for i in infos),
            "fixed": infos[0]["fixed"], "planned": infos[0]["random_effects_planned"]}


def _diagnostics(ctx: RunContext, inst: str, imputed) -> None:
    base = ctx.started_key if ctx.plan.model.population == "started" else Key.of()
    d = imputed.diagnostics.reset_index(drop=True)
    obs = [base & {f"{inst}@{w}": "yes"} for w in d["wave"]]
    imp = [base & {f"{inst}@{w}": "no"} for w in d["wave"]]
    meas = [f"{inst}@{w}" for w in d["wave"]]
    ctx.pub.add("imputation_diagnostics", d, status="status", columns={
        "wave": Label(), "n_observed": Count(obs), "n_imputed": Count(imp),
        "mean_observed": Mean(meas, obs), "mean_imputed": Stat(imp, min_n=ctx.min_group),
        "sd_observed": SD(meas, obs), "sd_imputed": Stat(imp, min_n=ctx.min_group)})


def _tipping(ctx, pub):
    from ..report.figures import tipping_figure

    return tipping_figure(pub["model_tipping_point"].data, name="tipping_point")
