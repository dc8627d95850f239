"""Step: engagement — sessions attended, time in support before disengaging, and dose–response.

Time in support is published two ways, protected together:

* a risk table at the plan's weeks: mothers still in support, disengaged before that week and
  ended support otherwise before it (exact counts, each with its key, so hidden cells are protected
  like any other count);
* Kaplan–Meier curves drawn from *pooled* steps: per week, cumulative disengagements and other
  endings are rounded down to multiples of T + 1 and the curve is computed from those rounded
  counts (the rounded curves of trusted research environments), so every step stands for at least
  T + 1 events and no step reveals what the risk table hides.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report.disclosure import SD, Count, Free, Key, Label, Linked, Mean, Rounded, Stat
from .context import RunContext, is_categorical
from .models import register_fit, register_model_table
from .reach import contexts

__all__ = ["run"]

_STATUS = ["at_risk", "disengaged", "ended"]


def run(ctx: RunContext) -> None:
    e = ctx.plan.engagement
    if e is None:
        ctx.sections["engagement"] = "The plan has no engagement section."
        return
    if not ctx.started_col or e.sessions not in ctx.people.columns:
        ctx.not_done("engagement", f"the data have no {e.started!r} or {e.sessions!r} column")
        return
    with ctx.step("sessions"):
        _sessions(ctx, e)
    with ctx.step("time to disengagement"):
        _survival(ctx, e)
    inst = ctx.plan.primary_outcome.instrument
    why = ctx.cannot_model(ctx.analysis, inst, inst.upper())
    if why is not None:
        ctx.not_done("dose-response", why)
        return
    with ctx.step("dose-response"):
        _dose(ctx, e)


# ---------------------------------------------------------------------- sessions
def _sessions(ctx: RunContext, e) -> None:
    from ..dose import sessions_summary

    people = ctx.people
    sessions = pd.to_numeric(people[e.sessions], errors="coerce")
    ctx.yes_no("has:sessions", sessions.notna())
    ctx.pub.measure("sessions", sessions, lower=0)
    by = [c for c in dict.fromkeys([e.by, *contexts(ctx)]) if c in people.columns
          and is_categorical(people[c])]
    for var in by:
        ctx.context_dimension(var)
    frame = people.reset_index()
    for var in by:
        frame[var] = frame[var].map(lambda v, c=var: ctx.code(c, v))
    summary = sessions_summary(frame, sessions=e.sessions, by=by, subject=ctx.id, started=e.started)
    base = Key.of(started="yes", **{"has:sessions": "yes"})
    keys, missing_keys, labels = [], [], []
    for var, lv in zip(summary["variable"], summary["level"]):
        if var == "all":
            k = base
            labels.append(("all mothers who started", "all"))
        else:
            code = "(missing)" if lv == "missing" else lv
            k = base & {var: code}
            labels.append((ctx.label(var), ctx.level_label(var, code)))
        keys.append(k)
        missing_keys.append(k.without("has:sessions") & {"has:sessions": "no"})
    table = pd.DataFrame({"variable": [a for a, _ in labels], "level": [b for _, b in labels]})
    for c in ("n", "n_missing", "mean", "sd", "median", "q1", "q3"):
        table[c] = summary[c].to_numpy()
    stat = Stat(keys, min_n=ctx.min_group)
    ctx.pub.add("sessions", table, status="status", columns={
        "variable": Label(), "level": Label(), "n": Count(keys), "n_missing": Count(missing_keys),
        "mean": Mean("sessions", keys), "sd": SD("sessions", keys),
        "median": stat, "q1": stat, "q3": stat})


# ---------------------------------------------------------------------- time in support
def _durations(ctx: RunContext, e) -> pd.DataFrame:
    people = ctx.people
    d = pd.DataFrame(index=people.index)
    weeks = (pd.to_datetime(people[e.stop]) - pd.to_datetime(people[e.start])).dt.days / 7.0
    d["weeks"] = weeks.clip(lower=0)
    d["event"] = people[e.reason].astype(object).isin(e.disengaged)
    d["group"] = people[e.by].map(lambda v: ctx.code(e.by, v))
    d["in_km"] = people[e.started].eq(True) & d["weeks"].notna() & people[e.by].notna()
    return d


def _status_at(d: pd.DataFrame, week: float) -> pd.Series:
    out = np.where(d["weeks"] >= week, "at_risk",
                   np.where(d["event"], "disengaged", "ended")).astype(object)
    return pd.Series(np.where(d["in_km"], out, None), index=d.index, dtype=object)


def _survival(ctx: RunContext, e) -> None:
    from ..models.survival import fit_cox, kaplan_meier, logrank_test

    pub, t = ctx.pub, ctx.threshold
    width = t + 1
    d = _durations(ctx, e)
    codes = ctx.context_dimension(e.by)
    groups = [g for g in codes if (d["in_km"] & d["group"].eq(g)).any()]
    km_d = d[d["in_km"]]
    last = math.ceil(km_d["weeks"].max()) if len(km_d) else 0
    weeks = sorted({float(w) for w in e.risk_times} | set(range(0, last + 1)))
    # pooled steps: weeks where some group's rounded cumulative counts change, and the risk times
    rounded = {}
    for g in groups:
        sub = km_d[km_d["group"] == g]
        ev = np.array([((sub["weeks"] < w) & sub["event"]).sum() for w in weeks])
        ce = np.array([((sub["weeks"] < w) & ~sub["event"]).sum() for w in weeks])
        rounded[g] = (len(sub), ev // width * width, ce // width * width)
    keep = [0] if weeks else []
    for i in range(1, len(weeks)):
        changed = any(r[1][i] != r[1][i - 1] or r[2][i] != r[2][i - 1] for r in rounded.values())
        if changed or weeks[i] in [float(w) for w in e.risk_times]:
            keep.append(i)
    used = [weeks[i] for i in keep]
    for w in used:
        pub.dimension(f"km@{w:g}", _status_at(d, w), levels=_STATUS)
        pub.zero(Key.of(started="no", **{f"km@{w:g}": _STATUS}))
        if w <= 0:       # nobody has left support before it starts
            pub.zero(Key.of(**{f"km@{w:g}": ["disengaged", "ended"]}))
    for a, b in zip(used, used[1:]):
        for g in [None, *groups]:
            base = Key.of(started="yes") if g is None else Key.of(started="yes", **{e.by: g})
            pub.subset(base & {f"km@{a:g}": "disengaged"}, base & {f"km@{b:g}": "disengaged"})
            pub.subset(base & {f"km@{a:g}": "ended"}, base & {f"km@{b:g}": "ended"})
            pub.subset(base & {f"km@{b:g}": "at_risk"}, base & {f"km@{a:g}": "at_risk"})
    label = ctx.label(e.by)
    # the pooled curve; the risk table is its rows at the plan's weeks (the same rounded counts,
    # so the table and the curve say the same and neither shows an exact small count)
    risk_weeks = {float(x) for x in e.risk_times}
    crow, k_e, k_c, n_keys, g_keys = [], [], [], [], []
    for g in groups:
        n0, ev_all, ce_all = rounded[g]
        ev, ce = ev_all[keep], ce_all[keep]
        base = Key.of(started="yes", **{e.by: g})
        surv, var, prev_e, prev_c = 1.0, 0.0, 0, 0
        for j, w in enumerate(used):
            at = n0 - prev_e - prev_c
            dj = ev[j] - prev_e
            if at > 0 and dj > 0:
                surv *= 1 - dj / at
                var += dj / (at * (at - dj)) if at > dj else math.inf
            lo, hi = _log_ci(surv, var)
            crow.append({"group": ctx.level_label(e.by, g), "week": w, "disengaged": int(ev[j]),
                         "ended_otherwise": int(ce[j]), "survival": surv, "ci_low": lo,
                         "ci_high": hi})
            k_e.append(base & {f"km@{w:g}": "disengaged"})
            k_c.append(base & {f"km@{w:g}": "ended"})
            g_keys.append(base & {f"km@{used[0]:g}": "at_risk"})
            # the curve stops once fewer than 2(T + 1) remain at risk by the rounded counts
            shown = at >= 2 * width
            n_keys.append(g_keys[-1] if shown else None)
            prev_e, prev_c = ev[j], ce[j]
    curve = pd.DataFrame(crow)
    if len(curve):
        for c in ("survival", "ci_low", "ci_high"):
            curve[c] = [v if k is not None else np.nan for v, k in zip(curve[c], n_keys)]
        pub.add("km_curve", curve, file="figures/km.csv", status="status", columns={
            "group": Label(), "week": Free("week of a pooled step"),
            "disengaged": Rounded(k_e, width, g_keys), "ended_otherwise": Rounded(k_c, width, g_keys),
            "survival": Stat(n_keys), "ci_low": Linked("survival"), "ci_high": Linked("survival")})
        at_weeks = curve["week"].isin(risk_weeks).to_numpy()
        risk = curve.loc[at_weeks, ["group", "week", "disengaged", "ended_otherwise"]]
        rk_e = [k for k, a in zip(k_e, at_weeks) if a]
        rk_c = [k for k, a in zip(k_c, at_weeks) if a]
        rk_g = [k for k, a in zip(g_keys, at_weeks) if a]
        pub.add("km_risk_table", risk.reset_index(drop=True), columns={
            "group": Label(), "week": Free("a week of the plan's risk table"),
            "disengaged": Rounded(rk_e, width, rk_g), "ended_otherwise": Rounded(rk_c, width, rk_g)})
    # medians and the log-rank test from the exact data
    km_frame = km_d.assign(group=km_d["group"].map(lambda g: ctx.level_label(e.by, g)))
    km_frame["event"] = km_frame["event"].astype(int)
    km = kaplan_meier(km_frame, duration="weeks", event="event", by="group")
    med = km.median.copy()
    gkeys = [Key.of(started="yes", **{e.by: g, f"km@{used[0]:g}": "at_risk"}) for g in groups]
    by_label = {ctx.level_label(e.by, g): k for g, k in zip(groups, gkeys)}
    med_keys = [by_label[str(g)] for g in med["group"]]
    med.insert(1, "n", [pub.count(k) for k in med_keys])
    stat = Stat(med_keys, min_n=ctx.min_group)
    pub.add("km_median", med[["group", "n", "median", "ci_low", "ci_high"]], status="status",
            columns={"group": Label(), "n": Count(med_keys), "median": stat, "ci_low": stat,
                     "ci_high": stat})
    strata = e.strata if e.strata in ctx.people.columns else None
    lr_frame = km_frame.join(ctx.people[[strata]]) if strata else km_frame
    lr = logrank_test(lr_frame, duration="weeks", event="event", by="group", strata=strata)
    lr_table = pd.DataFrame([{"test": "log-rank" + (f", stratified by {ctx.label(strata)}"
                                                    if strata else ""),
                              "statistic": lr.statistic, "df": float(lr.df), "p_value": lr.p_value}])
    lr_stat = Stat([gkeys], min_n=ctx.min_group)
    pub.add("km_logrank", lr_table, status="status", columns={
        "test": Label(), "statistic": lr_stat, "df": lr_stat, "p_value": lr_stat})
    ctx.figure("km", lambda p: _km_figure(ctx, p, e, label))
    if e.cox_covariates:
        cov = [c for c in e.cox_covariates if c in ctx.people.columns]
        cox_frame = km_d[["weeks", "event"]].join(ctx.people[cov])
        cox_frame["event"] = cox_frame["event"].astype(int)
        with ctx.step("Cox model"):
            strat = strata if strata and strata in cox_frame else None
            cox = fit_cox(cox_frame, duration="weeks", event="event", covariates=cov,
                          strata=strat)
            population = _cox_population(ctx, cox_frame, cov, strat, used[0])
            register_model_table(ctx, "cox", cox.table, population=population, factors=cov)
            _cox_fit(ctx, cox, population, strat)
            ctx.facts["cox"] = {"ties": _ties(cox), "strata": ctx.label(strat) if strat else None,
                                "covariates": [ctx.label(c) for c in cov]}
            with ctx.step("proportional-hazards check"):
                from ..models.survival import check_proportional_hazards

                zph = check_proportional_hazards(cox)
                table = zph.table.assign(global_chisq=zph.global_chisq,
                                         global_df=float(zph.global_df), global_p=zph.global_p)
                register_model_table(ctx, "cox_zph", table, population=population, factors=cov)


def _cox_population(ctx: RunContext, frame: pd.DataFrame, cov, strata, first: float) -> Key:
    """Declare ``cox`` (event / censored for the mothers the Cox model used, blank for the rest:
    not started, or a covariate missing) and return the key of the mothers in the model."""
    used = frame[["weeks", "event", *cov, *([strata] if strata else [])]].notna().all(axis=1)
    status = pd.Series(np.where(frame["event"].astype(bool), "event", "censored"),
                       index=frame.index, dtype=object).where(used)
    ctx.pub.dimension("cox", status.reindex(ctx.people.index).where(lambda s: s.notna(), None),
                      levels=["event", "censored"])
    everyone = Key.of(started="yes", **{f"km@{first:g}": "at_risk"})
    # every mother in the Kaplan-Meier analysis: the same key as the KM tables (no new count)
    return everyone if bool(used.all()) else everyone & {"cox": ["event", "censored"]}


def _ties(cox) -> str:
    """How the Cox fit handled tied times, as fitted ("Efron", "Breslow")."""
    return str(getattr(cox, "ties", "efron")).capitalize()


def _cox_fit(ctx: RunContext, cox, population: Key, strata) -> None:
    """``model_cox_fit``: mothers in the Cox model and disengagements (events), with the ties
    method, strata and partial log-likelihood; the counts are protected like any other."""
    events = Key.of(started="yes", cox="event")
    n, k = ctx.pub.count(population), ctx.pub.count(events)
    if (n, k) != (cox.n, cox.n_events):
        raise RuntimeError(f"the Cox model used {cox.n} mothers and {cox.n_events} events but "
                           f"their keys count {n} and {k}")
    # the same mothers as every mother who started (the participant flow's count): say so with
    # that key, so the number adds nothing the flow does not already publish
    n_key = ctx.started_key if ctx.pub.count(ctx.started_key) == n else population
    table = pd.DataFrame([{"model": "Cox proportional hazards, time to disengagement",
                           "ties": _ties(cox), "strata": ctx.label(strata) if strata else "none",
                           "mothers": n, "events": k, "loglik": cox.loglik}])
    ctx.pub.add("model_cox_fit", table, status="status", columns={
        "model": Label(), "ties": Label(), "strata": Label(), "mothers": Count([n_key]),
        "events": Count([events]), "loglik": Stat([population], min_n=ctx.min_group)})


def _log_ci(surv: float, var: float) -> tuple[float, float]:
    """R survfit's default ("log") interval from Greenwood's variance."""
    if surv <= 0 or not math.isfinite(var):
        return 0.0, 1.0
    half = 1.959963984540054 * math.sqrt(var)
    return surv * math.exp(-half), min(1.0, surv * math.exp(half))


def _km_figure(ctx: RunContext, pub, e, label):
    from ..report.figures import km_figure

    curve = pub["km_curve"].data.rename(columns={"week": "time"})
    sizes = dict(zip(pub["km_median"].data["group"], pub["km_median"].data["n"]))
    risk = pub["km_risk_table"].data.rename(columns={"week": "time", "disengaged": "events",
                                                     "ended_otherwise": "censored"})
    # still in support by the rounded counts (a derived number: group size minus both counts)
    risk["at_risk"] = [sizes.get(g, np.nan) - ev - ce for g, ev, ce in
                       zip(risk["group"], risk["events"], risk["censored"])]
    return km_figure(curve[["group", "time", "survival", "ci_low", "ci_high"]], risk,
                     label="Share still in support", times=[float(x) for x in e.risk_times],
                     threshold=ctx.threshold, name="km")


# ---------------------------------------------------------------------- dose-response
def _dose(ctx: RunContext, e) -> None:
    from ..dose import dose_response

    inst = ctx.plan.primary_outcome.instrument
    group = ctx.plan.model.group
    dr = dose_response(ctx.analysis, outcome=inst, sessions=e.sessions, subject=ctx.id,
                       time=ctx.time, change=ctx.plan.time.change, started=e.started,
                       # mode confounds dose through change: adjust its time slope
                       covariates=[group] if group else ())
    from .outcome import _population

    _population(ctx, inst)      # the outcome's model population (engagement runs first)
    population = ctx.model_population(inst) & {"has:sessions": "yes"}
    if ctx.plan.model.population != "started":      # the model's mothers are not all starters
        population = population & ctx.started_key
    register_model_table(ctx, "dose_response", dr.effect, population=population)
    register_fit(ctx, "dose_model", dr.fit, population=population, inst=inst,
                 factors=[group] if group else (), planned=(ctx.time, True))
    curve = dr.curve.copy()
    n = [population] * len(curve)
    ctx.pub.add("dose_curve", curve, file="figures/dose_response.csv", columns={
        "sessions": Free("a number of sessions on the prediction grid"),
        **{c: Stat(n, min_n=ctx.min_group) for c in curve.columns if c != "sessions"}})
    ctx.facts["dose"] = {"outcome": inst, "change": tuple(ctx.plan.time.change)}
    ctx.figure("dose_response", lambda p: _dose_figure(ctx, p))


def _dose_figure(ctx, pub):
    from ..report.figures import dose_figure

    return dose_figure(pub["dose_curve"].data, effect=pub["model_dose_response"].data,
                       outcome=ctx.facts["outcomes"].get(ctx.plan.primary_outcome.instrument, {})
                       .get("label", ctx.plan.primary_outcome.instrument),
                       change=ctx.plan.time.change, name="dose_response")
