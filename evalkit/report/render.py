"""Render the impact and technical reports (self-contained HTML) from a run's protected tables.

The templates live in ``evalkit/report/templates``; figures are embedded as PNG data URIs so one
HTML file can be emailed or printed on its own. Every number on the page comes from a protected
table of the run's :class:`~evalkit.report.disclosure.Publication` — tables through
:func:`table_view`, sentences through :mod:`evalkit.report.narrative` — and is formatted by
:mod:`evalkit.report.format`. A section with nothing to show says why in one sentence.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import format as fmt
from . import narrative as nv
from .impact import impact_context
from .technical import technical_context
from .disclosure.columns import Count, Free, Label, Linked, Rounded, Share

__all__ = ["render_reports", "table_view"]

_ENV = Environment(loader=PackageLoader("evalkit", "report/templates"),
                   autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _is_p(column: str) -> bool:
    return column == "p_value" or column.endswith("_p") or "p_value" in column or column.endswith(
        "_p_adjusted")


def table_view(table, columns: dict | None = None, *, digits: int = 1) -> dict | None:
    """A protected table as strings for the templates: ``{"header": [...], "rows": [[...]]}``.

    ``columns`` maps column → header (and selects and orders them). Hidden cells read
    "suppressed"; counts are whole numbers, shares percentages, p-values never in scientific
    notation, missing values a dash.
    """
    if table is None:
        return None
    data = table.data
    roles = getattr(table, "columns", {}) or {}
    columns = columns or {c: c.replace("_", " ") for c in data.columns}
    columns = {c: h for c, h in columns.items() if c in data.columns}
    rows = []
    for i in range(len(data)):
        row = []
        for c in columns:
            if bool(table.hidden[c].iat[i]):
                row.append(fmt.SUPPRESSED)
                continue
            v, role = data[c].iat[i], roles.get(c)
            while isinstance(role, Linked):
                role = roles.get(role.to)
            if isinstance(role, (Label,)) or role is None and isinstance(v, str):
                row.append(fmt.cell(v, "label"))
            elif isinstance(role, (Count, Rounded)):
                row.append(fmt.count(v))
            elif isinstance(role, Share):
                row.append(fmt.percent(v, scale=role.scale, digits=0 if role.scale == 100 else 0))
            elif _is_p(c):
                row.append(fmt.p_value(v))
            elif isinstance(role, Free) and not isinstance(v, str):
                row.append(fmt.MISSING if fmt.is_missing(v) else f"{float(v):g}")
            else:
                row.append(fmt.cell(v, "number", digits=digits) if not isinstance(v, str) else v)
        rows.append(row)
    return {"header": list(columns.values()), "rows": rows}


def _figure(fig, spec, png: bytes) -> dict:
    import base64

    return {"src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "alt": fig.alt, "caption": getattr(fig, "caption", "") or "", "audience": spec.audience}


def render_reports(ctx, *, figures: dict, provenance: dict) -> dict:
    """``{audience: html}`` for the plan's audiences, from the run context and drawn figures."""
    context = _context(ctx, figures=figures, provenance=provenance)
    return {a: _ENV.get_template(f"{a}.html.j2").render(**context, audience=a)
            for a in ctx.plan.report.audience}


def _get(pub, name):
    return pub.tables.get(name)


def _context(ctx, *, figures, provenance) -> dict:
    plan, pub, t = ctx.plan, ctx.pub, ctx.threshold
    figs = {name: _figure(f, spec, png) for name, (f, spec, png) in figures.items()}
    flow = _get(pub, "participant_flow")
    outcomes = [_outcome(ctx, o, figs) for o in plan.outcomes]
    headline = _headline(ctx, flow)
    km_median = _get(pub, "km_median")
    mech = _get(pub, "mechanisms")
    checks = _get(pub, "data_checks")
    return {
        "plan": plan, "programme": plan.programme, "organisation": plan.organisation,
        "period": plan.period, "threshold": t, "min_group": ctx.min_group, "headline": headline,
        "outcomes": outcomes, "figures": figs,
        **impact_context(ctx, outcomes=outcomes, flow=flow),
        "sections": ctx.sections,
        "engagement_sentence": nv.engagement_sentence(km_median) if km_median else "",
        "flow": table_view(flow, {"stage": "Stage", "n": "Mothers",
                                  "percent_of_referred": "% of referred"}),
        "support_ended": table_view(_get(pub, "support_ended"), {
            "reason": "How support ended", "n": "Mothers",
            "percent_of_started": "% of those who started"}),
        "records": table_view(_get(pub, "validation_records"), {
            "dataset": "File", "stage": "Records", "records": "Number"}),
        "reach": table_view(_get(pub, "reach_by_context"), {
            "variable": "Context", "level": "Group", "referred": "Referred",
            "percent_referred": "% referred", "started": "Started", "percent_started": "% started",
            "population_percent": "% in population"}),
        "reach_numeric": table_view(_get(pub, "reach_numeric"), {
            "variable": "Context", "n": "Mothers", "mean": "Mean", "sd": "SD", "median": "Median",
            "status": "Note"}),
        "population_sources": ctx.facts.get("population_sources", {}),
        "sessions": table_view(_get(pub, "sessions"), {
            "variable": "By", "level": "Group", "n": "Mothers", "mean": "Mean", "median": "Median",
            "q1": "Lower quartile", "q3": "Upper quartile", "status": "Note"}),
        "km_risk": table_view(_get(pub, "km_risk_table"), {
            "group": "Group", "week": "Week", "disengaged": "Disengaged before (rounded down)",
            "ended_otherwise": "Ended otherwise before (rounded down)"}),
        "km_median": table_view(km_median, {"group": "Group", "n": "Mothers", "median": "Median weeks",
                                            "ci_low": "95% CI from", "ci_high": "to",
                                            "status": "Note"}),
        "logrank": table_view(_get(pub, "km_logrank")),
        "dose": table_view(_get(pub, "model_dose_response"), digits=3),
        "mechanisms": table_view(mech, {"mechanism": "Mechanism", "group": "Group", "n": "Mothers",
                                        "mean": "Mean rating (0–4)", "agree": "Rated 3 or 4",
                                        "percent_agree": "%", "status": "Note"}),
        "mech_sentence": nv.mechanisms_sentence(mech, threshold=t) if mech else "",
        "mediation": table_view(_get(pub, "model_mediation"), digits=3),
        "patterns": table_view(_get(pub, "missingness_patterns")),
        "completers_means": table_view(_get(pub, "completers_means"), digits=2),
        "completers_shares": table_view(_get(pub, "completers_shares"), digits=2),
        "model_tables": {name[len("model_"):]: table_view(tab, digits=4)
                         for name, tab in pub.tables.items() if name.startswith("model_")},
        "mi": ctx.facts.get("mi"),
        "imputation": table_view(_get(pub, "imputation_diagnostics"), digits=2),
        "tipping": ctx.facts.get("tipping"),
        "warnings": table_view(_get(pub, "run_warnings")),
        "failures": table_view(_get(pub, "run_not_done"), {"step": "Step", "message": "Why"}),
        "checks": table_view(checks, {"check": "Check", "n": "Number"}),
        "suppression_count": int(len(pub.log)),
        "provenance": provenance,
        **technical_context(ctx, provenance=provenance),
        "primary": plan.primary_outcome.instrument,
        "primary_label": next((o["label"] for o in outcomes if o["primary"]), ""),
    }


def _headline(ctx, flow) -> dict:
    if flow is None:
        return {}
    ids = ctx.facts.get("flow_stages", [])
    out = {}
    for key in ("referred", "started"):
        if key in ids:
            i = ids.index(key)
            out[key] = nv.count_phrase(nv.cell(flow, i, "n"), ctx.threshold)
            pct = nv.cell(flow, i, "percent_of_referred").number
            out[key + "_pct"] = fmt.percent(pct, scale=100) if key != "referred" and \
                pct is not None else ""
    if "end" in ids:
        i = ids.index("end")
        out["end"] = nv.count_phrase(nv.cell(flow, i, "n"), ctx.threshold)
        out["end_stage"] = str(flow.data["stage"].iat[i])
    return out


def _outcome(ctx, o, figs) -> dict:
    pub, plan = ctx.pub, ctx.plan
    inst = o.instrument
    f = ctx.facts["outcomes"].get(inst, {})
    label = f.get("words", f.get("label", inst))
    entry = {"id": inst, "label": f.get("label", inst), "words": label,
             "title": label[:1].upper() + label[1:], "primary": f.get("primary", False),
             "model": f.get("model"), "overall": f.get("overall")}
    ch = _get(pub, f"{inst}_change")
    if ch is not None and len(ch.data):
        est, lo, hi = (nv.cell(ch, 0, c) for c in ("estimate", "ci_low", "ci_high"))
        if est.number is None:
            status = str(ch.data["status"].iat[0])
            why = ("the mothers it describes are too few to publish it" if status.startswith(
                ("not shown", "too few")) else "it could not be estimated on these data")
            entry["change_sentence"] = f"The average change in {label} is not shown: {why}."
        else:
            entry["change_sentence"] = nv.change_sentence(
                label, estimate=est.number, ci_low=lo.number, ci_high=hi.number,
                higher_is=f["higher_is"], weeks=plan.time.change, mid=f.get("mid"))
    else:
        entry["change_sentence"] = (f"The average change in {label} could not be estimated on these "
                                    "data; the technical report says why.")
    entry["norms"] = [f"{pop}: mean {mean:g}" + (f" (SD {sd:g})" if sd else "")
                      for pop, mean, sd in f.get("norms") or []]
    entry["norm_sentence"] = nv.norm_sentence(label, _get(pub, f"{inst}_by_wave"), f.get("norms"),
                                              plan.time.baseline_wave, plan.time.end_wave,
                                              f.get("higher_is"))
    entry["by_wave"] = table_view(_get(pub, f"{inst}_by_wave"), {
        "wave": "Wave", "n": "Mothers", "mean": "Mean", "sd": "SD", "ci_low": "95% CI from",
        "ci_high": "to"})
    by_group = _get(pub, f"{inst}_change_by_group")
    group = plan.model.group
    entry["by_group_caption"] = f"Change by {ctx.label(group).lower()}" if group else ""
    entry["by_group"] = table_view(by_group, {
        "group": ctx.label(group) if group else "Group", "mothers": "Mothers",
        "estimate": "Change (points)", "ci_low": "95% CI from", "ci_high": "to", "p_value": "p",
        "status": "Note"}, digits=2)
    # the impact report gives intervals, not p-values
    entry["by_group_plain"] = table_view(by_group, {
        "group": ctx.label(group) if group else "Group", "mothers": "Mothers",
        "estimate": "Change (points)", "ci_low": "Likely between", "ci_high": "and",
        "status": "Note"}, digits=1)
    entry["group_sentence"] = nv.group_change_sentence(label, by_group, higher_is=f["higher_is"]) \
        if by_group is not None else ""
    rc = _get(pub, f"{inst}_reliable_change")
    entry["rc_sentence"] = ""
    if rc is not None:
        rows = {}
        for i in range(len(rc.data)):
            if rc.data["group"].iat[i] == "all mothers":
                key = {"reliable improvement": "improved", "no reliable change": "unchanged",
                       "reliable deterioration": "deteriorated"}[rc.data["result"].iat[i]]
                rows[key] = (nv.cell(rc, i, "count"), nv.cell(rc, i, "proportion"),
                             nv.cell(rc, i, "n"))
        if len(rows) == 3:
            entry["rc_sentence"] = nv.reliable_change_sentence(
                label, rows, threshold=ctx.threshold, rc_threshold=f.get("rc_threshold"))
    entry["rc_table"] = table_view(rc, {"group": "Group", "result": "Result", "n": "Mothers",
                                        "count": "Count", "proportion": "Share",
                                        "ci_low": "95% CI from", "ci_high": "to"})
    scan = _get(pub, f"{inst}_by_context")
    entry["context_sentence"] = nv.context_sentence(label, scan, higher_is=f["higher_is"],
                                                    min_group=ctx.min_group) if scan else \
        ctx.sections.get(f"{inst}_by_context", "")
    entry["by_context"] = table_view(scan, {
        "context": "Context", "level": "Group", "mothers": "Mothers", "status": "Status",
        "estimate": "Change", "ci_low": "95% CI from", "ci_high": "to",
        "heterogeneity_p_adjusted": "Difference p (adjusted)",
        "reliable_deterioration": "Share reliably worse"}, digits=2)
    entry["figures"] = {k.removeprefix(f"{inst}_"): v for k, v in figs.items()
                        if k.startswith(f"{inst}_")}
    entry["tables"] = {name: table_view(tab, digits=4) for name, tab in pub.tables.items()
                       if name.startswith(f"model_{inst}_")}
    return entry
