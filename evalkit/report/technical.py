"""The technical report's own context: every model as it was fitted, its coefficient tables, the
note on why multiple imputation differs from the headline, methods text generated from the fits,
and the plan's settings as readable JSON.

Every number comes from a protected table of the run's
:class:`~evalkit.report.disclosure.Publication` (a hidden cell reads "suppressed", in tables and in
sentences alike) and is formatted by :mod:`evalkit.report.format`: about four significant digits,
never scientific notation, p-values below 0.001 as "<0.001", shares as percentages. What a model
*is* (its formula, random-effects structure after any simplification, df method) comes from the
Label columns of the ``model_*_fit`` tables and from the run's facts, which hold no number about
people. :func:`technical_context` returns ``{"tech": {...}}`` for ``templates/technical.html.j2``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path, PureWindowsPath

from . import format as fmt
from .disclosure.columns import Count, Label, Linked, Rounded, Share
from .variation import COLUMNS as VARIATION_COLUMNS
from .variation import variation_caption, variation_methods, variation_table

__all__ = ["technical_context", "technical_view", "plan_json", "mi_note"]

#: Column headers of the technical tables (anything else: the name in words).
HEADERS = {
    "term": "Term", "estimate": "Estimate", "std_error": "SE", "df": "df", "statistic": "t",
    "p_value": "p", "ci_low": "95% CI from", "ci_high": "to", "status": "Note",
    "fmi": "Fraction of missing information", "group": "Grouping", "variance": "Variance",
    "sd": "SD", "correlation": "Correlation", "context": "Context",
    "fixed": "Outcome ~ fixed effects",
    "random_effects": "Random effects (as fitted)", "random_effects_planned": "Planned",
    "estimation": "Estimation", "mothers": "Mothers", "observations": "Observations",
    "loglik": "Log-likelihood", "aic": "AIC", "converged": "Converged", "singular": "Singular",
    "df_method": "df method", "hazard_ratio": "Hazard ratio", "hr_ci_low": "HR 95% CI from",
    "hr_ci_high": "to", "odds_ratio": "Odds ratio", "or_ci_low": "OR 95% CI from",
    "or_ci_high": "to", "chisq": "Chi-square", "global_chisq": "Global chi-square",
    "global_df": "Global df", "global_p": "Global p", "delta": "Delta (points)",
    "holds": "Conclusion holds", "analysis": "Analysis", "path": "Path", "events": "Events",
    "ties": "Ties", "strata": "Strata", "model": "Model", "moderator_value": "Moderator value",
    "inside_data": "Inside the data", "side": "Side", "wave": "Wave",
    "n_observed": "Observed", "n_imputed": "Imputed", "mean_observed": "Mean observed",
    "mean_imputed": "Mean imputed", "sd_observed": "SD observed", "sd_imputed": "SD imputed",
}

_SUBJECT_WORDS = "mother"


def _is_p(column: str) -> bool:
    return column in ("p_value", "global_p") or column.endswith("_p") or "p_value" in column \
        or column.endswith("_p_adjusted")


def _percent_scale(column: str) -> float | None:
    """The scale of a column that holds a percentage or a share by its name (None: not one)."""
    c = column.lower()
    if c in ("percent", "pct") or c.startswith(("percent_", "pct_")) or c.endswith(
            ("_percent", "_pct")):
        return 100.0
    if c in ("proportion", "share") or c.endswith(("_proportion", "_share")):
        return 1.0
    return None


def _role(roles: dict, column: str):
    role = roles.get(column)
    seen = set()
    while isinstance(role, Linked) and role.to not in seen:
        seen.add(role.to)
        role = roles.get(role.to)
    return role


def _hidden(table, i: int, column: str) -> bool:
    return bool(table.hidden[column].iat[i]) if column in table.hidden.columns else False


def cell_text(table, i: int, column: str) -> str:
    """One protected cell as text ("suppressed" when hidden), formatted by its role and name."""
    if _hidden(table, i, column):
        return fmt.SUPPRESSED
    v = table.data[column].iat[i]
    roles = getattr(table, "columns", {}) or {}
    role, own = _role(roles, column), roles.get(column)
    if isinstance(v, str) or isinstance(role, Label) or (role is None and not _numeric(v)):
        return fmt.cell(v, "label")
    if isinstance(role, (Count, Rounded)):
        return fmt.count(v)
    if isinstance(role, Share):
        return fmt.percent(v, scale=role.scale)
    scale = _percent_scale(column)
    if scale is None and isinstance(own, Linked):
        scale = _percent_scale(own.to)
    if scale is not None:
        return fmt.percent(v, scale=scale)
    if _is_p(column):
        return fmt.p_value(v)
    if (column == "df" or column.endswith("_df")) and _numeric(v) and math.isinf(float(v)):
        return "∞"
    return fmt.significant(v)


def _numeric(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, bool)


def _blank(table, column: str) -> bool:
    data = table.data[column]
    return all((not _hidden(table, i, column)) and (fmt.is_missing(v) or str(v).strip() == "")
               for i, v in enumerate(data))


def technical_view(table, columns: dict | None = None, *, drop_blank=("status",),
                   relabel=None) -> dict | None:
    """A protected table as strings for the technical templates: ``{"header", "rows"}``.

    ``columns`` maps column → header (selects and orders them; default every column with
    :data:`HEADERS`). Columns in ``drop_blank`` are left out when no row has anything in them.
    ``relabel(column, text)`` may reword label cells (a variance component's grouping, ...).
    """
    if table is None:
        return None
    data = table.data
    if columns is None:
        columns = {c: HEADERS.get(c, c.replace("_", " ")) for c in data.columns}
    columns = {c: h for c, h in columns.items() if c in data.columns
               and not (c in drop_blank and _blank(table, c))}
    roles = getattr(table, "columns", {}) or {}
    rows = []
    for i in range(len(data)):
        row = []
        for c in columns:
            text = cell_text(table, i, c)
            if relabel is not None and text != fmt.SUPPRESSED and isinstance(
                    _role(roles, c), (Label, type(None))):
                text = relabel(c, text)
            row.append(text)
        rows.append(row)
    return {"header": list(columns.values()), "rows": rows}


# ---------------------------------------------------------------------- model sections
_FIXED = {"term": "Term", "estimate": "Estimate", "std_error": "SE", "df": "df", "statistic": "t",
          "p_value": "p", "ci_low": "95% CI from", "ci_high": "to", "fmi": "FMI",
          "status": "Note"}
_VARIANCE = {"group": "Grouping", "term": "Term", "variance": "Variance", "sd": "SD",
             "correlation": "Correlation", "status": "Note"}
_SPEC = [("fixed", "Outcome ~ fixed effects"), ("random_effects", "Random effects, as fitted"),
         ("random_effects_planned", "Random effects, as planned"), ("estimation", "Estimation"),
         ("mothers", "Mothers (participants)"), ("observations", "Observations (scores)"),
         ("converged", "Converged"), ("singular", "Singular fit"),
         ("df_method", "Degrees of freedom"), ("loglik", "Log-likelihood"), ("aic", "AIC")]


def _variance_relabel(subject: str):
    def relabel(column, text):
        if column == "group":
            return {subject: f"{_SUBJECT_WORDS} ({subject})"}.get(text, text)
        if column == "term" and ":" in text:
            return text.replace(":", " with ") + " (correlation)"
        return text
    return relabel


def _cell(table, i, column):
    """(shown, value) of a cell (value None where missing or hidden)."""
    if table is None or column not in table.data.columns or i >= len(table.data):
        return False, None
    if _hidden(table, i, column):
        return False, None
    v = table.data[column].iat[i]
    return True, (None if fmt.is_missing(v) else v)


def _model(ctx, name: str, caption: str, *, info: dict | None = None, notes=()) -> dict | None:
    """A model's section: what was fitted (from ``model_<name>_fit``), fixed effects, variance
    components, simplification steps and warnings."""
    pub = ctx.pub.tables
    fit = pub.get(f"model_{name}_fit")
    fixed = pub.get(f"model_{name}_fixed")
    if fit is None and fixed is None:
        return None
    spec = []
    if fit is not None and len(fit.data):
        planned = _cell(fit, 0, "random_effects_planned")[1]
        fitted = _cell(fit, 0, "random_effects")[1]
        for col, label in _SPEC:
            if col not in fit.data.columns:
                continue
            if col == "random_effects_planned" and planned == fitted:
                continue
            text = cell_text(fit, 0, col)
            if col == "random_effects" and info and info.get("random_effects_text"):
                text = f"{text}: {info['random_effects_text']}"
            if col == "estimation":
                text = {"REML": "REML (restricted maximum likelihood)",
                        "ML": "ML (maximum likelihood)"}.get(text, text)
            if col == "df_method" and info and info.get("df_method_text"):
                text = f"{text}: {info['df_method_text']}"
            spec.append((label, text))
    subject = getattr(ctx, "id", "participant_id")
    steps = list((info or {}).get("simplification") or [])
    return {"name": name, "caption": caption, "spec": spec,
            "fixed": technical_view(fixed, _FIXED),
            "variance": technical_view(pub.get(f"model_{name}_variance"), _VARIANCE,
                                       relabel=_variance_relabel(subject)),
            "simplification": steps,
            "notes": [n for n in dict.fromkeys(notes) if n not in steps]}


def _outcome(ctx, inst: str) -> dict:
    facts = ctx.facts.get("outcomes", {}).get(inst, {})
    models = facts.get("methods", {}).get("models", {})
    label = facts.get("label", inst)
    pub = ctx.pub.tables
    overall_notes = (facts.get("overall") or {}).get("notes") or []
    primary_notes = (facts.get("model") or {}).get("warnings") or []
    group = ctx.plan.model.group
    out = {
        "overall": _model(ctx, f"{inst}_overall", f"{label}: average change model",
                          info=models.get("overall"), notes=overall_notes),
        "primary": _model(ctx, f"{inst}_primary",
                          f"{label}: primary model" + (f" (change by {ctx.label(group).lower()})"
                                                       if group else ""),
                          info=models.get("primary"), notes=primary_notes),
        "jn": [],
        "context": None,
        "variation": technical_view(variation_table(ctx, inst), VARIATION_COLUMNS),
        "variation_caption": variation_caption(ctx, inst),
    }
    for moderator in ctx.plan.contexts.johnson_neyman:
        name = f"{inst}_jn_{moderator}"
        sec = _model(ctx, name, f"{label}: Johnson–Neyman model, change by "
                                f"{ctx.label(moderator).lower()}",
                     info=models.get(f"jn_{moderator}"))
        if sec is None:
            continue
        sec["bounds"] = technical_view(pub.get(f"model_{name}"), {
            "moderator_value": f"{ctx.label(moderator)} where the 95% CI of change touches 0",
            "inside_data": "Inside the observed range", "side": "Change distinguishable from 0",
            "status": "Note"})
        sec["moderator"] = ctx.label(moderator)
        out["jn"].append(sec)
    fit = pub.get(f"model_{inst}_context_fit")
    if fit is not None:
        out["context"] = {
            "fit": technical_view(fit, {
                "context": "Context", "fixed": "Outcome ~ fixed effects",
                "random_effects": "Random effects, as fitted", "mothers": "Mothers",
                "observations": "Observations", "converged": "Converged", "singular": "Singular",
                "df_method": "df method", "note": "Note", "status": "Note"},
                drop_blank=("status", "note")),
            "fixed": technical_view(pub.get(f"model_{inst}_context_fixed"),
                                    {"context": "Context", **_FIXED}),
            "variance": technical_view(pub.get(f"model_{inst}_context_variance"),
                                       {"context": "Context", **_VARIANCE},
                                       relabel=_variance_relabel(getattr(ctx, "id",
                                                                         "participant_id"))),
        }
    return out


# ---------------------------------------------------------------------- multiple imputation
def _estimate(table, row: int = 0) -> dict | None:
    """estimate, SE, CI of one row of a protected table (None where any of them is hidden)."""
    if table is None or not len(table.data):
        return None
    out = {}
    for c in ("estimate", "std_error", "ci_low", "ci_high"):
        shown, v = _cell(table, row, c)
        if not shown or v is None:
            return None
        out[c] = float(v)
    out["text"] = {c: cell_text(table, row, c) for c in ("estimate", "ci_low", "ci_high",
                                                         "std_error")}
    return out


def mi_note(headline_table, mi_table, *, label: str, higher_is: str | None, predictors,
            m: int | None) -> str:
    """Why the multiple-imputation estimate differs from the headline, computed from the two
    protected rows (the headline ``<inst>_change`` and ``model_sensitivity_mi``)."""
    h, i = _estimate(headline_table), _estimate(mi_table)
    if h is None or i is None:
        return ("The multiple-imputation estimate cannot be set against the headline estimate "
                "here: one of them is not shown (to protect small groups) or could not be made.")
    sig = fmt.significant
    diff = i["estimate"] - h["estimate"]
    shown_same = sig(i["estimate"]) == sig(h["estimate"])
    parts = [f"The headline average change in {label} is {h['text']['estimate']} points (95% CI "
             f"{h['text']['ci_low']} to {h['text']['ci_high']}), from the mixed model fitted to "
             f"every observed score; under multiple imputation it is {i['text']['estimate']} "
             f"points (95% CI {i['text']['ci_low']} to {i['text']['ci_high']})."]
    if shown_same:
        parts.append("The two estimates agree to the precision shown.")
    else:
        direction = "higher" if diff > 0 else "lower"
        meaning = ""
        if higher_is in ("better", "worse"):
            more = (diff > 0) == (higher_is == "better")
            meaning = f", i.e. {'more' if more else 'less'} improvement"
        rel = (f" ({sig(abs(diff) / abs(h['estimate']) * 100, 2)}% of the headline estimate)"
               if h["estimate"] else "")
        parts.append(f"The imputation estimate is {sig(abs(diff), 2)} points {direction}"
                     f"{meaning}{rel}; that is {sig(abs(diff) / h['std_error'], 2)} times the "
                     "headline estimate's standard error.")
    preds = ", ".join(predictors) if predictors else "no other variables"
    parts.append("They answer the same question under different assumptions about the missing "
                 "scores. The mixed model assumes scores are missing at random given each "
                 "mother's own observed scores and the time they were given, and uses them all "
                 "without filling anything in. Multiple imputation also predicts each missing "
                 f"score from {preds}, so it allows missingness to depend on those as well; a "
                 "difference means they carry information about the missing scores beyond a "
                 "mother's own observed scores"
                 + (f", plus the simulation error of using {m} imputed data sets." if m else "."))
    lo = max(h["ci_low"], i["ci_low"])
    hi = min(h["ci_high"], i["ci_high"])
    narrow = min(h["ci_high"] - h["ci_low"], i["ci_high"] - i["ci_low"])
    overlap = max(0.0, hi - lo) / narrow if narrow > 0 else 0.0
    if overlap >= 0.75:
        parts.append(f"The intervals overlap over {fmt.percent(overlap)} of the narrower one: "
                     "the difference is small next to the uncertainty of either estimate.")
    elif overlap > 0:
        parts.append(f"The intervals overlap over only {fmt.percent(overlap)} of the narrower "
                     "one: the assumption about the missing scores matters here.")
    else:
        parts.append("The intervals do not overlap: the assumption about the missing scores "
                     "changes the answer, and the headline should be read with that in mind.")
    h_zero = h["ci_low"] > 0 or h["ci_high"] < 0
    i_zero = i["ci_low"] > 0 or i["ci_high"] < 0
    if h_zero and i_zero and (h["estimate"] > 0) == (i["estimate"] > 0):
        parts.append("Both intervals exclude no change, in the same direction: the conclusion "
                     "about average change is the same.")
    elif not h_zero and not i_zero:
        parts.append("Neither interval excludes no change: the conclusion is the same.")
    else:
        parts.append("One interval excludes no change and the other does not: the conclusion "
                     "depends on the assumption about the missing scores.")
    return " ".join(parts)


def _mi(ctx) -> dict | None:
    pub = ctx.pub.tables
    mi = pub.get("model_sensitivity_mi")
    if mi is None:
        return None
    inst = ctx.plan.primary_outcome.instrument
    facts = ctx.facts.get("outcomes", {}).get(inst, {})
    info = ctx.facts.get("mi") or {}
    head = pub.get(f"{inst}_change")
    rows = []
    for what, table in (("headline: mixed model on the observed scores", head),
                        (f"multiple imputation (m = {info.get('m', '?')})", mi)):
        if table is None or not len(table.data):
            continue
        rows.append([what] + [cell_text(table, 0, c) if c in table.data.columns else fmt.MISSING
                              for c in ("estimate", "std_error", "df", "ci_low", "ci_high",
                                        "p_value")])
    compare = {"header": ["Analysis", "Change (points)", "SE", "df", "95% CI from", "to", "p"],
               "rows": rows} if rows else None
    structures = [f"{notation} ({text}) in {n} of {info.get('fits')} imputed data sets"
                  for notation, n, text in info.get("structures", [])]
    return {"compare": compare,
            "note": mi_note(head, mi, label=facts.get("label", inst),
                            higher_is=facts.get("higher_is"), predictors=info.get("predictors"),
                            m=info.get("m")),
            "fixed": technical_view(pub.get("model_sensitivity_mi_fixed"), _FIXED),
            "structures": structures, "info": info}


# ---------------------------------------------------------------------- engagement
def _cox(ctx) -> dict | None:
    pub = ctx.pub.tables
    fit = pub.get("model_cox_fit")
    coef = pub.get("model_cox")
    if fit is None and coef is None:
        return None
    spec = []
    if fit is not None and len(fit.data):
        for col, label in (("model", "Model"), ("ties", "Ties"), ("strata", "Strata"),
                           ("mothers", "Mothers (participants)"),
                           ("events", "Events (disengaged)"), ("loglik", "Partial log-likelihood")):
            if col in fit.data.columns:
                spec.append((label, cell_text(fit, 0, col)))
    cols = {"term": "Term", "estimate": "log HR", "std_error": "SE", "statistic": "z",
            "p_value": "p", "hazard_ratio": "Hazard ratio", "hr_ci_low": "95% CI from",
            "hr_ci_high": "to", "status": "Note"}
    return {"spec": spec, "coef": technical_view(coef, cols),
            "zph": technical_view(pub.get("model_cox_zph"))}


def _dose(ctx) -> dict | None:
    pub = ctx.pub.tables
    effect = pub.get("model_dose_response")
    if effect is None:
        return None
    return {"effect": technical_view(effect, _FIXED),
            "model": _model(ctx, "dose_model", "Dose–response model",
                            info=ctx.facts.get("models", {}).get("dose_model"))}


# ---------------------------------------------------------------------- methods text
def _count_words(table, column: str, threshold: int) -> str:
    if table is None or column not in table.data.columns or not len(table.data):
        return "a number not available"
    shown, v = _cell(table, 0, column)
    if not shown:
        return "a number not shown to protect small groups"
    return fmt.count(v) if v is not None else "a number not available"


def _model_sentence(ctx, name: str, info: dict | None, what: str) -> str:
    pub = ctx.pub.tables
    fit = pub.get(f"model_{name}_fit")
    if info is None or fit is None:
        return ""
    t = ctx.threshold
    mothers = _count_words(fit, "mothers", t)
    obs = _count_words(fit, "observations", t)
    text = (f"{what}: a linear mixed model, {info['fixed']}, with "
            f"{info['random_effects_text']} {info['random_effects']}, fitted by "
            f"{info['estimation']} to {obs} scores from {mothers} mothers; fixed effects were "
            f"tested with {info['df_method_text']}.")
    if info.get("simplified"):
        text += (f" The planned structure {info['random_effects_planned']} "
                 f"({info['random_effects_planned_text']}) gave a singular fit and was simplified "
                 f"to the one above.")
    if not info.get("converged", True):
        text += " The fit did NOT converge; its estimates should not be relied on."
    if info.get("singular"):
        text += " The fit is singular (a variance component at zero or a correlation at ±1)."
    return text


def _methods(ctx) -> list[str]:
    plan, pub = ctx.plan, ctx.pub.tables
    out = []
    outcomes = ctx.facts.get("outcomes", {})
    for o in plan.outcomes:
        inst = o.instrument
        f = outcomes.get(inst, {})
        label = f.get("label", inst)
        models = f.get("methods", {}).get("models", {})
        for key, what in (("overall", f"Average change in {label}"),
                          ("primary", f"Change in {label} by "
                                      f"{ctx.label(plan.model.group).lower()}"
                                      if plan.model.group else f"Primary model of {label}")):
            s = _model_sentence(ctx, f"{inst}_{key}", models.get(key), what)
            if s:
                out.append(s)
    variation = variation_methods(ctx)
    if variation:
        out.append(variation)
    change = plan.time.change
    if out:
        out.append(f"Change is the model-based difference in mean score between week "
                   f"{change[0]:g} and week {change[1]:g} of the time since each mother's "
                   f"baseline ({ctx.time}); only scores up to the end of support enter the models.")
    scans = [o.instrument for o in plan.outcomes if f"model_{o.instrument}_context_fit" in pub]
    if scans:
        fit = pub[f"model_{scans[0]}_context_fit"]
        shapes = sorted({str(v) for v in fit.data["random_effects"].dropna()}) \
            if "random_effects" in fit.data.columns else []
        adjust = {"bh": "Benjamini–Hochberg", "holm": "Holm", "bonferroni": "Bonferroni",
                  "none": "no"}.get(str(plan.contexts.adjust), str(plan.contexts.adjust))
        same = ("the mother's random effects only (the volunteer and site terms are fitted in "
                "the average-change and primary models)" if plan.model.several_terms
                else "the same random effects")
        out.append(f"Effects by context: for each context, {ctx.time} × context was fitted as a "
                   f"separate mixed model with {same} (simplified where the fit "
                   "was singular; as fitted: " + ", ".join(shapes) + "). Levels too small to "
                   f"estimate (groups of fewer than {ctx.min_group} mothers) were left out of "
                   "their context's model; numeric "
                   "contexts are shown at their mean and one SD either side. The test of a "
                   "difference between levels is the Wald test of the interaction, with "
                   f"{adjust} adjustment across the scan.")
    for moderator in plan.contexts.johnson_neyman:
        inst = plan.primary_outcome.instrument
        info = outcomes.get(inst, {}).get("methods", {}).get("models", {}).get(f"jn_{moderator}")
        if info:
            out.append(f"Johnson–Neyman intervals for {ctx.label(moderator).lower()}: "
                       f"{info['fixed']} with {info['random_effects']}, the conditional change "
                       f"and its 95% CI (with {info['df_method']} df at each value) computed "
                       "over the observed range; boundaries are where the CI touches 0.")
    dose = ctx.facts.get("models", {}).get("dose_model")
    if dose:
        s = _model_sentence(ctx, "dose_model", dose, "Dose–response")
        out.append(s + " The dose effect is the extra change over the window per session "
                       "attended, among mothers who started support; an association, not a "
                       "causal effect.")
    cox = ctx.facts.get("cox")
    if cox is not None and "model_cox_fit" in pub:
        fit = pub["model_cox_fit"]
        strata = cox.get("strata")
        out.append("Time to disengagement: Cox proportional-hazards model with "
                   f"{cox.get('ties') or 'Efron'} ties"
                   + (f", stratified by {strata.lower()}" if strata else ", not stratified")
                   + f", covariates {', '.join(cox.get('covariates') or [])}; "
                   f"{_count_words(fit, 'mothers', ctx.threshold)} mothers who started support "
                   f"and had every covariate, {_count_words(fit, 'events', ctx.threshold)} of "
                   "whom disengaged (events); other endings are censored. Proportional hazards "
                   "were checked with scaled Schoenfeld residuals (KM time transform).")
    mi = ctx.facts.get("mi")
    if mi:
        shapes = "; ".join(f"{k} in {n} of {mi.get('fits')}" for k, n, _ in
                           mi.get("structures", []))
        out.append(f"Multiple imputation: {mi['m']} imputed data sets, chained equations in wide "
                   f"form ({mi.get('method', 'pmm')}, {mi.get('iterations')} iterations) using "
                   f"the outcome at the other waves and {', '.join(mi.get('predictors') or [])}; "
                   f"the average-change model ({mi.get('fixed', '')}, {mi.get('estimation', '')}"
                   f"; random effects as fitted: {shapes}) was refitted on each and the results "
                   "pooled with Rubin's rules, with Barnard–Rubin degrees of freedom (complete-"
                   f"data df: the mean {mi.get('df_method', 'Satterthwaite')} df).")
    if ctx.facts.get("tipping") is not None:
        out.append("Tipping point: the imputed end scores were shifted by each delta in the plan "
                   "and the pooled analysis repeated, to find the shift at which the conclusion "
                   "no longer holds.")
    return out


# ---------------------------------------------------------------------- plan settings
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]|^\\\\")


def _relative(value: str, base: Path | None) -> str:
    """An absolute path as relative to the plan's folder (else its file name)."""
    if _WINDOWS_ABS.match(value):
        return PureWindowsPath(value).name
    p = Path(value).expanduser() if value.startswith("~") else Path(value)
    if base is not None:
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return p.name


def _paths_relative(obj, base: Path | None):
    if isinstance(obj, dict):
        return {k: _paths_relative(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_paths_relative(v, base) for v in obj]
    if isinstance(obj, str) and (obj.startswith(("/", "~")) or _WINDOWS_ABS.match(obj)):
        return _relative(obj, base)
    return obj


def plan_json(settings, *, plan_dir=None) -> str:
    """The plan's settings as indented JSON, characters as they are (no ``\\u2013``), every
    absolute path made relative to the plan's folder. Plain text: the template escapes it."""
    base = Path(plan_dir) if plan_dir else None
    return json.dumps(_paths_relative(copy.deepcopy(settings or {}), base), indent=2,
                      ensure_ascii=False, sort_keys=True, default=str)


# ---------------------------------------------------------------------- the context
def technical_context(ctx, *, provenance: dict) -> dict:
    """``{"tech": {...}}``: the technical report's sections built from the protected tables."""
    plan = ctx.plan
    source = getattr(plan, "source", None)
    plan_dir = Path(source).parent if source else None
    tables = {name: technical_view(t) for name, t in ctx.pub.tables.items()
              if name.startswith("model_")}
    return {"tech": {
        "outcomes": {o.instrument: _outcome(ctx, o.instrument) for o in plan.outcomes},
        "dose": _dose(ctx), "cox": _cox(ctx), "mi": _mi(ctx), "tables": tables,
        "imputation": technical_view(ctx.pub.tables.get("imputation_diagnostics"), {
            "wave": "Wave", "n_observed": "Observed (mothers)", "n_imputed": "Imputed (mothers)",
            "mean_observed": "Mean observed", "mean_imputed": "Mean imputed",
            "sd_observed": "SD observed", "sd_imputed": "SD imputed", "status": "Note"}),
        "methods": _methods(ctx),
        "plan_json": plan_json((provenance or {}).get("plan_settings"), plan_dir=plan_dir),
    }}
