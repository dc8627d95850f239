"""What the impact report says in words: main points first, each section's finding, limitations.

A funder reads the first page and stops. So the impact report opens with main points in the order
a statistical bulletin uses — who was reached, who stayed, what changed and how sure we are, who
benefited less, who got worse, what we cannot tell — then one summary figure; every later section
opens with its finding in one sentence. The rules of :mod:`evalkit.report.narrative` hold here:
every number is a shown cell of a protected table (a hidden one is "not shown", or "fewer than T"
only when the published tables imply it), a direction is named only when its interval excludes
zero, a difference between groups only when the adjusted test supports it; no p-values, no
variable names, no Python names. Warnings raised by the run become plain limitations.

Examples
--------
>>> from evalkit.report.impact import plain_warning
>>> plain_warning("ProratedScoreWarning", "wemwbs: # scale score(s) prorated")[:40]
'Some questionnaires had a few unanswered'
>>> plain_warning("SafeguardingWarning", "...") is None
True
"""

from __future__ import annotations

from . import format as fmt
from . import narrative as nv
from .variation import variation_sentence

__all__ = ["impact_context", "main_points", "findings", "limitations", "plain_warning",
           "methods_text"]

#: Warning classes as limitations a reader understands (None: said elsewhere, or not for the
#: public report: safeguarding is handled privately and small groups in the privacy limitation).
PLAIN_WARNINGS = {
    "ProratedScoreWarning": "Some questionnaires had a few unanswered questions; their scores were "
                            "completed from the answered questions, as the questionnaire's scoring "
                            "rules allow.",
    "DataQualityWarning": "Some analyses could use only the mothers who answered every question "
                          "they needed, who may differ from the others; the technical report says "
                          "which analyses and how many mothers.",
    "ConvergenceWarning": "A statistical model did not settle fully on its estimates; the technical "
                          "report gives the details, and its results should be read with care.",
    "SingularFitWarning": "A statistical model was simplified because the data could not support "
                          "all of it (too little variation between mothers in how they changed); "
                          "the estimates of change are unaffected, and the technical report says "
                          "what was simplified.",
    "SafeguardingWarning": None,
    "SmallGroupWarning": None,
}
_OTHER = ("The analysis raised {n} other technical warning{s}; the technical report lists each with "
          "what it means.")


def plain_warning(category: str, message: str) -> str | None:
    """A run warning as a plain limitation (None when the impact report should not repeat it)."""
    return PLAIN_WARNINGS.get(category, "")


def impact_context(ctx, *, outcomes: list, flow) -> dict:
    """Template variables of the impact report (merged into the shared context)."""
    pts = main_points(ctx, outcomes, flow)
    primary = next((o for o in outcomes if o["primary"]), outcomes[0] if outcomes else None)
    summary = None
    if primary is not None:
        summary = primary["figures"].get("trajectory")
    return {"main_points": pts, "summary_figure": summary, "finding": findings(ctx, outcomes, flow),
            "limitations": limitations(ctx, flow), "impact_methods": methods_text(ctx),
            "variation_sentence": variation_sentence(ctx)}


# ---------------------------------------------------------------------------- flow cells
def _stage(ctx, flow, stage_id):
    """The n cell of a flow stage by its id, or None."""
    ids = ctx.facts.get("flow_stages", [])
    if flow is None or stage_id not in ids:
        return None
    return nv.cell(flow, ids.index(stage_id), "n")


def _share(part, whole) -> str:
    """`` (58%)`` from two shown counts, else nothing (never from a hidden one)."""
    if part is None or whole is None or part.number is None or not whole.number:
        return ""
    return f" ({fmt.percent(part.number / whole.number)})"


def _reached(ctx, flow) -> str | None:
    t = ctx.threshold
    referred, started = _stage(ctx, flow, "referred"), _stage(ctx, flow, "started")
    if referred is None:
        return None
    text = f"{nv.count_phrase(referred, t)} mothers were referred"
    if started is not None:
        text += f" and {nv.count_phrase(started, t)}{_share(started, referred)} started support"
    return text + "."


def _stayed(ctx, flow) -> str | None:
    t = ctx.threshold
    started, end = _stage(ctx, flow, "started"), _stage(ctx, flow, "end")
    if started is None or end is None:
        return None
    end_wave = fmt.lower_first(ctx.wave_label(ctx.plan.time.end_wave))
    text = (f"Of the {nv.count_phrase(started, t)} mothers who started, "
            f"{nv.count_phrase(end, t)}{_share(end, started)} answered the questionnaire at "
            f"{end_wave}.")
    ended = ctx.pub.tables.get("support_ended")
    if ended is not None:
        rows = [(str(ended.data["reason"].iat[i]), nv.cell(ended, i, "n"))
                for i in range(len(ended.data))]
        shown = sorted([(r, c) for r, c in rows if c.number], key=lambda rc: -rc[1].number)
        if shown:
            text += (" How support ended: " + "; ".join(
                f"{fmt.lower_first(r)}, {fmt.count(c.number)}" for r, c in shown[:5]) + ".")
    return text


# ---------------------------------------------------------------------------- outcome cells
def _change_cells(ctx, inst):
    ch = ctx.pub.tables.get(f"{inst}_change")
    if ch is None or not len(ch.data):
        return None
    est, lo, hi = (nv.cell(ch, 0, c).number for c in ("estimate", "ci_low", "ci_high"))
    return None if None in (est, lo, hi) else (est, lo, hi)


def _changed(ctx, outcomes) -> str | None:
    parts = []
    weeks = ctx.plan.time.change
    for o in sorted(outcomes, key=lambda o: not o["primary"]):
        cells = _change_cells(ctx, o["id"])
        if cells is None:
            parts.append(f"Change in {o['words']} could not be shown.")
            continue
        est, lo, hi = cells
        f = ctx.facts["outcomes"].get(o["id"], {})
        went = "rose" if est > 0 else "fell"
        text = (f"{_cap(o['words'])} {went} by {fmt.number(abs(est))} points on average "
                f"between week {weeks[0]:g} and week {weeks[1]:g}")
        if lo > 0 or hi < 0:
            good = nv.improvement(est, f["higher_is"]) > 0
            text += (f", {'an improvement' if good else 'a worsening'}: allowing for chance, "
                     f"likely {nv.likely_range(lo, hi)}.")
            mid = f.get("mid")
            if o["primary"] and mid:
                small, big = sorted((abs(lo), abs(hi)))
                text += (" That is more than the " if small >= mid else
                         " That is less than the " if big < mid else
                         " That may be more or less than the ") + \
                    f"{mid:g} points mothers notice as a difference."
        else:
            text += (f", but allowing for chance the change is likely "
                     f"{nv.likely_range(lo, hi)}: it could be no change at all.")
        parts.append(text)
    return " ".join(parts) or None


def _benefited_less(ctx, outcomes) -> str | None:
    primary = next((o for o in outcomes if o["primary"]), None)
    if primary is None:
        return None
    inst, words = primary["id"], primary["words"]
    f = ctx.facts["outcomes"].get(inst, {})
    parts = []
    scan = ctx.pub.tables.get(f"{inst}_by_context")
    if scan is not None:
        d = scan.data
        supported = []
        for name in dict.fromkeys(d["context"]):
            rows = [i for i in range(len(d)) if d["context"].iat[i] == name]
            p = next((nv.cell(scan, i, "heterogeneity_p_adjusted").number for i in rows
                      if nv.cell(scan, i, "heterogeneity_p_adjusted").number is not None), None)
            est = [(str(d["level"].iat[i]), nv.cell(scan, i, "estimate").number) for i in rows]
            est = [(lv, e) for lv, e in est if e is not None]
            if p is not None and p < 0.05 and len(est) >= 2:
                least = min(est, key=lambda r: nv.improvement(r[1], f["higher_is"]))
                supported.append(f"by {fmt.lower_first(name)}, change was smallest for {least[0]} "
                                 f"({nv.moved(least[1])})")
        if supported:
            parts.append(f"Change in {words} differed, by more than chance would explain: "
                         + "; ".join(supported) + ".")
        elif any(nv.cell(scan, i, "estimate").number is not None for i in range(len(d))):
            parts.append(f"No background or circumstance we looked at went with a difference in "
                         f"change in {words} larger than chance would explain; that does not show "
                         "everyone benefited equally, only that these data cannot tell groups "
                         "apart.")
    by_group = ctx.pub.tables.get(f"{inst}_change_by_group")
    if by_group is not None:
        zero = []
        for i in range(len(by_group.data)):
            est, lo, hi = (nv.cell(by_group, i, c).number for c in ("estimate", "ci_low", "ci_high"))
            if None not in (est, lo, hi) and lo <= 0 <= hi:
                zero.append(f"{by_group.data['group'].iat[i]} ({nv.moved(est)}, likely "
                            f"{nv.likely_range(lo, hi)})")
        if zero:
            group = ctx.plan.model.group
            by = f" ({fmt.lower_first(ctx.label(group))})" if group else ""
            parts.append(f"For mothers in {nv._and(zero)}{by}, the change in {words} could be no "
                         "change at all.")
    return " ".join(parts) or None


def _got_worse(ctx, outcomes) -> str | None:
    t = ctx.threshold
    parts = []
    for o in sorted(outcomes, key=lambda o: not o["primary"]):
        rc = ctx.pub.tables.get(f"{o['id']}_reliable_change")
        if rc is None:
            continue
        for i in range(len(rc.data)):
            if rc.data["group"].iat[i] == "all mothers" and \
                    rc.data["result"].iat[i] == "reliable deterioration":
                c, s, n = (nv.cell(rc, i, k) for k in ("count", "proportion", "n"))
                if c.number is not None and s.number is not None and n.number is not None:
                    parts.append(f"{fmt.count(c.number)} of {fmt.count(n.number)} mothers "
                                 f"({fmt.percent(s.number)}) reliably got worse on {o['words']}")
                elif c.upper is not None and c.upper < t and n.number is not None:
                    parts.append(f"fewer than {t} of {fmt.count(n.number)} mothers reliably got "
                                 f"worse on {o['words']}")
                else:
                    parts.append(f"for {o['words']} the number who reliably got worse is not "
                                 "shown, to protect small groups")
    text = ("Counting only changes bigger than the questionnaire's measurement error, "
            + "; ".join(parts) + ".") if parts else ""
    mech = ctx.pub.tables.get("mechanisms")
    if mech is not None:
        d = mech.data
        for i in range(len(d)):
            if d["group"].iat[i] == "all" and "negative" in str(d["mechanism"].iat[i]).lower():
                agree, n, share = (nv.cell(mech, i, k) for k in ("agree", "n", "percent_agree"))
                if agree.number is not None and n.number is not None and share.number is not None:
                    text += (f" {fmt.count(agree.number)} of {fmt.count(n.number)} mothers "
                             f"({fmt.percent(share.number, scale=100)}) said that comparing "
                             "themselves with other mothers made them feel worse off.")
    return text.strip() or None


def _cannot_tell(ctx, flow) -> str:
    t = ctx.threshold
    text = ("There was no comparison group of mothers without support, so we cannot tell how much "
            "of the change would have happened anyway.")
    started, end = _stage(ctx, flow, "started"), _stage(ctx, flow, "end")
    if started is not None and end is not None and started.number is not None and \
            end.number is not None:
        missing = started.number - end.number
        text += (f" {fmt.count(missing)} of the {nv.count_phrase(started, t)} mothers who started "
                 f"({fmt.percent(missing / started.number) if started.number else '–'}) gave no "
                 "end-of-support answers, and they may have fared differently.")
    tip = _tipping(ctx)
    if tip:
        text += " " + tip
    return text


def _tipping(ctx) -> str:
    tip = ctx.pub.tables.get("model_tipping_point")
    if tip is None or not len(tip.data):
        return ""
    shown = tip.data.dropna(subset=["estimate"])
    if not len(shown):
        return ""
    fails = shown[shown["holds"].astype(str) == "no"]
    if len(fails):
        delta = float(fails["delta"].iloc[0])
        return (f"If their end scores had been {abs(delta):g} points {'lower' if delta < 0 else 'higher'} "
                "than the answers we have predict, the conclusion about average change would no "
                "longer hold.")
    return ("The conclusion about average change held even when their missing end scores were "
            "assumed to be a good deal worse than the answers we have predict.")


def main_points(ctx, outcomes: list, flow) -> list[dict]:
    """The first page: ``[{"title", "text"}]`` in a bulletin's order (points that cannot be made
    on these data are left out, never invented)."""
    points = [("Who we reached", _reached(ctx, flow)), ("Who stayed", _stayed(ctx, flow)),
              ("What changed", _changed(ctx, outcomes)),
              ("Who benefited less", _benefited_less(ctx, outcomes)),
              ("Who got worse", _got_worse(ctx, outcomes)),
              ("What we cannot tell", _cannot_tell(ctx, flow))]
    return [{"title": title, "text": text} for title, text in points if text]


# ---------------------------------------------------------------------------- section openers
def findings(ctx, outcomes: list, flow) -> dict:
    """One sentence opening each later section of the impact report."""
    out = {"flow": " ".join(s for s in (_reached(ctx, flow), _stayed(ctx, flow)) if s),
           "reach": _reach_finding(ctx), "engagement": _sessions_finding(ctx)}
    out["reliable"] = _got_worse(ctx, outcomes) or ""
    out["context"] = _benefited_less(ctx, outcomes) or ""
    return out


def _reach_finding(ctx) -> str:
    reach = ctx.pub.tables.get("reach_by_context")
    if reach is None:
        return ""
    d = reach.data
    over, under, rates = [], [], []
    for i in range(len(d)):
        share = nv.cell(reach, i, "percent_referred").number
        pop = d["population_percent"].iat[i] if "population_percent" in d else None
        level, var = str(d["level"].iat[i]), str(d["variable"].iat[i])
        if share is not None and not fmt.is_missing(pop) and float(pop) > 0:
            ratio = share / float(pop)
            item = (f"{fmt.level_phrase(level, var)} ({fmt.percent(share, scale=100)} of those referred, "
                    f"{fmt.percent(float(pop), scale=100)} of the population)")
            if ratio >= 1.25:
                over.append((ratio, item))
            elif ratio <= 0.8:
                under.append((ratio, item))
        ref = nv.cell(reach, i, "referred").number
        # a plan without engagement data (no `started` column) has no uptake to compare
        st = nv.cell(reach, i, "started").number if "started" in reach.data else None
        if ref and st is not None and ref >= ctx.min_group and level not in ("did not start",):
            rates.append((st / ref, level, var, st, ref))
    parts = []
    if under:
        parts.append("fewest came, relative to the population, from " + min(under)[1])
    if over:
        parts.append("most from " + max(over)[1])
    if parts:
        return "Compared with the local population, " + "; ".join(parts) + "."
    rates = [r for r in rates if 0 < r[0] < 1]
    if len(rates) >= 2:
        low, high = min(rates), max(rates)
        return (f"The share of referred mothers who started support ranged from "
                f"{fmt.percent(low[0])} ({fmt.level_phrase(low[1], low[2])}) to "
                f"{fmt.percent(high[0])} ({fmt.level_phrase(high[1], high[2])}).")
    return ""


def _sessions_finding(ctx) -> str:
    s = ctx.pub.tables.get("sessions")
    if s is None or not len(s.data):
        return ""
    med, q1, q3, n = (nv.cell(s, 0, c).number for c in ("median", "q1", "q3", "n"))
    if None in (med, q1, q3, n):
        return ""
    return (f"Mothers who started attended a median of {fmt.number(med, 0)} sessions; half "
            f"attended between {fmt.number(q1, 0)} and {fmt.number(q3, 0)}.")


# ---------------------------------------------------------------------------- limitations, methods
def limitations(ctx, flow) -> list[str]:
    """Limitations in plain words: missing answers, data problems, privacy, warnings, gaps."""
    pub, t = ctx.pub, ctx.threshold
    out = [_cannot_tell(ctx, flow)]
    checks = pub.tables.get("data_checks")
    if checks is not None:
        i = [j for j, c in enumerate(checks.data["check"]) if str(c).startswith("data values")]
        if i:
            c = nv.cell(checks, i[0], "n")
            if c.number != 0:
                out.append(f"Some answers broke the rules of the data dictionary "
                           f"({nv.count_phrase(c, t)} values); they were treated as missing.")
    if len(pub.log):
        out.append(f"To protect mothers' privacy, {len(pub.log)} numbers are not shown: counts "
                   f"below {t}, numbers that would let them be worked out, and estimates for "
                   f"groups of fewer than {ctx.min_group} mothers.")
    seen, other = [], 0
    for _step, category, message in ctx.warning_rows:
        text = plain_warning(category, message)
        if text is None:
            continue
        if text == "":
            other += 1
        elif text not in seen:
            seen.append(text)
    out.extend(seen)
    if other:
        out.append(_OTHER.format(n=other, s="" if other == 1 else "s"))
    for step, reason, kind in ctx.failure_rows:
        what = _step_words(ctx, step)
        if kind == "not applicable":
            out.append(f"{_cap(reason)}.")
        else:
            out.append(f"One planned analysis ({what}) could not be done on these data; the "
                       "technical report says why.")
    return out


def _step_words(ctx, step: str) -> str:
    """A run step in words: "wemwbs: effects by context" -> "mental wellbeing (WEMWBS): effects by
    context"."""
    head, _, rest = step.partition(": ")
    words = ctx.facts["outcomes"].get(head, {}).get("words")
    return f"{words}: {rest}" if words and rest else step.replace("_", " ")


def methods_text(ctx) -> str:
    """How change was estimated, from what was actually fitted (not from the plan)."""
    t = ctx.threshold
    fitted = []
    for inst, f in ctx.facts["outcomes"].items():
        m = f.get("methods") or {}
        notation = m.get("random_effects")
        if notation:
            # a random slope (``1 + weeks``) lets each mother change at her own rate
            slope = "+" in notation.split("|")[0]
            fitted.append((f.get("words", inst),
                           "each mother her own starting level and her own rate of change" if slope
                           else "each mother her own starting level, with one rate of change for "
                                "all" + (" (the data could not support more)"
                                         if m.get("simplified") else "")))
    weeks = ctx.plan.time.change
    text = ("Questionnaires were scored by their published rules. Change between week "
            f"{weeks[0]:g} and week {weeks[1]:g} was estimated with a statistical model that uses "
            "every questionnaire each mother returned up to the end of support, so mothers who "
            "missed a questionnaire still count; it assumes that the missing answers are like the "
            "answers given by similar mothers.")
    kinds = {}
    for words, re_words in fitted:
        kinds.setdefault(re_words, []).append(words)
    if kinds:
        text += " The model allowed " + "; ".join(
            f"{re_words} ({nv._and(ws)})" if len(kinds) > 1 else re_words
            for re_words, ws in kinds.items()) + "."
    text += (" Reliable change counts a mother as improved or worse only when her change is bigger "
             "than the questionnaire's measurement error. Differences between groups were tested "
             "allowing for the number of comparisons made; no estimate is made for a group of fewer "
             f"than {ctx.min_group} mothers, and counts below {t} are not shown, with any number "
             "that would let them be worked out.")
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
