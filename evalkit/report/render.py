"""Render the impact and technical reports (self-contained HTML) from a finished run.

The templates live in ``evalkit/report/templates``; figures are embedded as PNG data URIs so one
HTML file can be emailed or printed on its own. Tables come only from disclosure-controlled
:class:`~evalkit.report.disclosure.SafeTable` objects or model tables (coefficients, never rows of
data), so nothing identifying can reach the HTML through them. Sentences come from
:mod:`evalkit.report.narrative`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import narrative as nv

__all__ = ["render_reports", "html_table"]

_ENV = Environment(loader=PackageLoader("evalkit", "report/templates"),
                   autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _cell(value, *, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e6 and digits > 0:
            return f"{value:.{digits}f}" if digits else f"{int(value)}"
        if 0 < abs(value) < 0.001:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def html_table(table, columns: dict | None = None, *, digits: int = 2, counts: tuple = ()) -> dict:
    """A table for the templates: ``{"header": [...], "rows": [[...], ...]}`` of strings.

    ``table`` is a SafeTable (every hidden cell shown as "suppressed": a cell hidden to protect a
    neighbour may be large, so "<5" would be wrong) or a DataFrame; ``columns`` maps column → header
    (and selects/orders them); ``counts`` columns are printed as whole numbers.
    """
    data = getattr(table, "data", table)
    hidden = getattr(table, "hidden", None)
    columns = columns or {c: c.replace("_", " ") for c in data.columns}
    columns = {c: h for c, h in columns.items() if c in data.columns}
    rows = []
    for i in range(len(data)):
        row = []
        for c in columns:
            if hidden is not None and bool(hidden[c].iat[i]):
                # "suppressed" for every hidden cell: one hidden to protect a neighbour may be large
                row.append("suppressed")
            else:
                v = data[c].iat[i]
                row.append(_cell(v, digits=0 if c in counts else digits))
        rows.append(row)
    return {"header": list(columns.values()), "rows": rows}


# model tables shown in their own section of the technical report (the rest go under "Other")
_SECTIONED = ("cox", "cox_zph", "attrition_model", "sensitivity_mi", "imputation_missing",
              "imputation_diagnostics", "tipping_point", "data_problems", "dose_response")


def _figure(fig) -> dict:
    return {"src": fig.to_data_uri(), "alt": fig.alt, "caption": getattr(fig, "caption", "") or "",
            "csv": f"figures/{fig.name}.csv"}


def render_reports(run, *, warnings: pd.DataFrame, failures: pd.DataFrame, provenance: dict) -> list[Path]:
    """Write ``impact.html`` and/or ``technical.html`` for a finished run; return their paths."""
    context = _context(run, warnings=warnings, failures=failures, provenance=provenance)
    written = []
    for audience in run.plan.report.audience:
        html = _ENV.get_template(f"{audience}.html.j2").render(**context)
        path = run.out / f"{audience}.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
    return written


def _context(run, *, warnings, failures, provenance) -> dict:
    plan, facts, t = run.plan, run.facts, run.threshold
    figs = {name: _figure(f) for name, f in run.figures.items()}
    tab = run.tables

    def table(name, columns=None, *, digits=2, counts=()):
        return html_table(tab[name], columns, digits=digits, counts=counts) \
            if name in tab else None

    n_ref, n_started = facts["n_referred"], facts.get("n_started")
    primary = plan.primary_outcome.instrument
    # Mothers who started and have the primary outcome at the end wave (a count below the
    # threshold becomes NaN and is then left out of the headline and the attrition sentence).
    n_end = facts.get("n_end_started")
    if n_end is not None and 0 < n_end < t:
        n_end = float("nan")
    outcomes = []
    for o in plan.outcomes:
        f = facts["outcomes"].get(o.instrument, {})
        inst = o.instrument
        entry = {"id": inst, "label": f.get("label", inst), "primary": f.get("primary", False)}
        ch = f.get("change")
        entry["change_sentence"] = nv.change_sentence(
            entry["label"], estimate=ch["estimate"], ci_low=ch["ci_low"], ci_high=ch["ci_high"],
            higher_is=f["higher_is"], weeks=plan.time.change, mid=f.get("mid")) if ch else \
            f"The average change in {entry['label']} could not be estimated (see the technical report)."
        entry["change"] = ch
        norms = f.get("norms") or []
        entry["norms"] = [f"{pop}: mean {mean:g}" + (f" (SD {sd:g})" if sd else "")
                          for pop, mean, sd in norms]
        entry["norm_sentence"] = _norm_sentence(entry["label"], tab.get(f"{inst}_by_wave"), norms,
                                                plan.time.baseline_wave, plan.time.end_wave,
                                                f.get("higher_is"))
        entry["by_wave"] = table(f"{inst}_by_wave", {"wave": "Wave", "n": "Mothers", "mean": "Mean",
                                                     "sd": "SD", "ci_low": "95% CI from",
                                                     "ci_high": "to"}, digits=1, counts=("n",))
        entry["by_group"] = None
        # "Mode of support received (blank if …)" -> "Change by mode of support received"
        entry["by_group_caption"] = f"Change by {run.label(plan.model.group).split(' (')[0].lower()}" \
            if plan.model.group else ""
        if plan.model.group:
            entry["by_group"] = table(f"{inst}_change_by_{plan.model.group}", {
                plan.model.group: run.label(plan.model.group), "n_participants": "Mothers",
                "estimate": "Change (points)", "ci_low": "95% CI from", "ci_high": "to",
                "p_value": "p"}, digits=2, counts=("n_participants",))
        rc = f.get("reliable_change")
        if rc is not None:
            safe_rc = tab[f"{inst}_reliable_change"].data
            overall = safe_rc[safe_rc["group"] == "all"].set_index("outcome")
            n = int(rc["n"].iloc[0]) if len(rc) else 0
            entry["rc_sentence"] = nv.reliable_change_sentence(
                entry["label"], n=n, improved=overall["count"].get("reliable_improvement"),
                unchanged=overall["count"].get("no_reliable_change"),
                deteriorated=overall["count"].get("reliable_deterioration"), threshold=t,
                rc_threshold=f.get("rc_threshold"))
        else:
            entry["rc_sentence"] = ""
        entry["rc_table"] = table(f"{inst}_reliable_change", {
            "group": "Group", "outcome": "Result", "n": "Mothers", "count": "Count",
            "proportion": "Share", "ci_low": "95% CI from", "ci_high": "to"},
            digits=2, counts=("n", "count"))
        scan = f.get("scan")
        entry["context_sentence"] = nv.context_sentence(
            entry["label"], scan, threshold=t,
            min_n=max(plan.contexts.min_group_size, t)) if scan is not None else ""
        entry["by_context"] = table(f"{inst}_by_context", {
            "context": "Context", "level": "Group", "n_participants": "Mothers", "status": "Status",
            "estimate": "Change", "ci_low": "95% CI from", "ci_high": "to",
            "heterogeneity_p_adjusted": "Difference p (adjusted)",
            "reliable_deterioration": "Share reliably worse"}, digits=2, counts=("n_participants",))
        entry["model"] = f.get("model")
        entry["figures"] = {k.removeprefix(f"{inst}_"): v for k, v in figs.items()
                            if k.startswith(f"{inst}_")}
        entry["fixed"] = html_table(run.model_tables.get(f"{inst}_fixed", pd.DataFrame()), digits=4) \
            if f"{inst}_fixed" in run.model_tables else None
        entry["variance"] = html_table(run.model_tables[f"{inst}_variance"], digits=4) \
            if f"{inst}_variance" in run.model_tables else None
        entry["overall_fixed"] = html_table(run.model_tables[f"{inst}_overall_fixed"], digits=4) \
            if f"{inst}_overall_fixed" in run.model_tables else None
        entry["jn"] = {k.removeprefix(f"{inst}_jn_"): html_table(v, digits=3)
                       for k, v in run.model_tables.items() if k.startswith(f"{inst}_jn_")}
        outcomes.append(entry)

    smd_top = None
    comp = facts.get("completers")
    if comp is not None and len(comp):
        top = comp.loc[comp["std_difference"].abs().idxmax()]
        name = top["variable"] if top["level"] is None else f"{top['variable']} = {top['level']}"
        if top["variable"] in {o.instrument for o in plan.outcomes}:
            name = f"the {top['variable'].upper()} score at the start"
        smd_top = (name, float(top["std_difference"]))
    limitations = []
    if n_started and n_end is not None and n_end == n_end:
        limitations.append(nv.attrition_sentence(n_started=n_started, n_end=n_end, threshold=t,
                                                 smd_top=smd_top))
    n_problems = facts.get("n_data_problems", 0)
    if n_problems:
        limitations.append(f"{n_problems} data value(s) broke the data dictionary's rules and were "
                           "treated as missing; the technical report counts them by column and rule.")
    limitations.append("There is no comparison group: changes over the months after a birth can "
                       "happen without support, so the changes shown cannot be attributed to the "
                       "programme alone.")
    if len(run.dc.log):
        limitations.append(f"To protect mothers' privacy, {len(run.dc.log)} numbers based on fewer than "
                           f"{t} mothers (or that would reveal such numbers) are not shown.")
    if len(warnings):
        limitations.append(f"The analysis raised {int(warnings['count'].sum())} warning(s) "
                           f"({', '.join(sorted(set(warnings['category'])))}); each is listed in the "
                           "technical report.")
    if len(failures):
        limitations.append(f"{len(failures)} planned analysis step(s) could not be done on these "
                           "data; the technical report gives the reasons.")
    tip = facts.get("tipping")
    if tip:
        limitations.append(tip["text"])
    km_median = tab.get("km_median")
    engagement = None
    if km_median is not None:
        med = km_median.data.copy()
        med["group"] = [run.level_label(plan.engagement.by, g) for g in med["group"]]
        lr = facts.get("logrank", {})
        engagement = nv.engagement_sentence(med, p_value=lr.get("p_value"))
    headline = {
        "referred": n_ref, "started": n_started,
        "started_pct": 100 * n_started / n_ref if n_started is not None and n_ref else None,
        "end": n_end if n_end == n_end else None,
        "end_pct": 100 * n_end / n_started if n_end is not None and n_end == n_end and n_started else None,
    }
    mech_sentence = ""
    mech = facts.get("mechanisms")
    if mech is not None and len(mech) and mech["mean"].notna().any():
        ranked = mech.dropna(subset=["mean"]).sort_values("mean", ascending=False)
        top = ranked.iloc[0]
        mech_sentence = (f"The mechanism mothers rated highest was \u201c{top['label']}\u201d (mean "
                         f"{top['mean']:.1f} of 4).")
        neg = mech[mech["mechanism"].str.contains("negative")]
        if len(neg):
            r = neg.iloc[0]
            if r["agree"] == r["agree"]:          # not suppressed
                mech_sentence += (f" {int(r['agree'])} of {int(r['n'])} mothers "
                                  f"({r['percent_agree']:.0f}%) rated negative comparison 3 or 4: "
                                  "for them, meeting other mothers may have made things feel worse.")
            else:
                mech_sentence += (f" Fewer than {t} mothers rated negative comparison 3 or 4 (exact "
                                  "number suppressed).")
    return {
        "mech_sentence": mech_sentence,
        "plan": plan, "programme": plan.programme, "organisation": plan.organisation,
        "period": plan.period, "threshold": t, "headline": headline, "outcomes": outcomes,
        "figures": figs, "limitations": limitations, "engagement_sentence": engagement,
        "flow": table("participant_flow", {"stage": "Stage", "n": "Mothers",
                                           "percent_of_referred": "% of referred", "note": "Note"},
                      digits=0, counts=("n",)),
        "reach": table("reach_by_context", {"label": "Context", "level": "Group", "referred": "Referred",
                                            "percent_referred": "% referred", "started": "Started",
                                            "percent_started": "% started",
                                            "population_percent": "% in population"},
                       digits=0, counts=("referred", "started")),
        "reach_numeric": table("reach_numeric", {"label": "Context", "n": "Mothers", "mean": "Mean",
                                                 "sd": "SD", "median": "Median"}, digits=1,
                               counts=("n",)),
        "population_sources": facts.get("population_sources", {}),
        "sessions": table("sessions", {"variable": "By", "level": "Group", "n": "Mothers",
                                       "mean": "Mean", "median": "Median", "q1": "Lower quartile",
                                       "q3": "Upper quartile"}, digits=1, counts=("n",)),
        "km_risk": table("km_risk_table", {"group": "Group", "time": "Week", "at_risk": "In support",
                                           "events": "Disengaged (cumulative)",
                                           "censored": "Ended otherwise (cumulative)"},
                         digits=0, counts=("at_risk", "events", "censored")),
        "km_median": table("km_median", digits=1, counts=("n",)),
        "logrank": facts.get("logrank"),
        "dose": facts.get("dose"),
        "mechanisms": table("mechanisms", {"label": "Mechanism", "group": "Group", "n": "Mothers",
                                           "mean": "Mean rating (0–4)", "agree": "Rated 3 or 4",
                                           "percent_agree": "%"}, digits=1, counts=("n", "agree")),
        "mediation": facts.get("mediation"),
        "patterns": table("missingness_patterns", digits=1, counts=("n_participants",)),
        "completers": table("completers", {"variable": "Variable", "level": "Level",
                                           "completers": "Completers", "non_completers": "Non-completers",
                                           "std_difference": "Standardised difference"}, digits=2),
        "model_tables": {k: html_table(v, digits=4) for k, v in sorted(run.model_tables.items())
                         if not k.startswith(tuple(f"{o.instrument}_" for o in plan.outcomes))
                         and k not in _SECTIONED},
        "mt": {k: html_table(run.model_tables[k], digits=4) for k in _SECTIONED
               if k in run.model_tables},
        "mi": facts.get("mi"),
        "tipping": facts.get("tipping"),
        "warnings": html_table(warnings, digits=0),
        "failures": html_table(failures, digits=0),
        "suppression_log": html_table(run.dc.summary(), digits=0),
        "n_suppressed": len(run.dc.log),
        "provenance": provenance,
        "safeguarding_flags": facts.get("safeguarding_flags", 0),
        "prorated": facts.get("prorated", {}),
        "primary": primary,
        "min_n": max(plan.contexts.min_group_size, t),
    }


def _norm_sentence(label, safe, norms, baseline, end, higher_is) -> str:
    """Where the group started and ended, against the first population norm of the instrument."""
    if safe is None or not norms:
        return ""
    data = safe.data.assign(wave=safe.data["wave"].astype(str)).set_index("wave")
    if baseline not in data.index or end not in data.index:
        return ""
    b, e = data.loc[baseline, "mean"], data.loc[end, "mean"]
    if b != b or e != e:
        return ""
    pop, mean, _ = norms[0]
    return (f"Mothers' average {label} score was {b:.1f} at the start and {e:.1f} at the end of "
            f"support (among those who answered), against a population average of {mean:g} "
            f"({pop}; higher = {higher_is}). Those who answered at the end may differ from those who "
            "did not.")
