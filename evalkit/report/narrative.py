"""Plain-English sentences generated from the numbers, claiming no more than the intervals allow.

Each function takes numbers (already disclosure-controlled) and returns one or two sentences for the
impact report. The wording rules: a change is called an improvement or a worsening only when its
confidence interval excludes zero; a difference between groups is called a difference only when the
(multiplicity-adjusted) heterogeneity test supports it; suppressed numbers are said to be "fewer than
N", never guessed; and change is never attributed to the programme without a comparison group.

Examples
--------
>>> from evalkit.report.narrative import change_sentence
>>> change_sentence("WEMWBS", estimate=3.1, ci_low=2.0, ci_high=4.2, higher_is="better",
...                 weeks=(0, 12), mid=3)
'On average, WEMWBS scores rose by 3.1 points between weeks 0 and 12 (95% CI 2.0 to 4.2), an improvement because higher scores are better. The smallest change that mothers notice (minimal important difference) is 3 points: the average change may be above or below it.'
>>> change_sentence("EPDS", estimate=-3.3, ci_low=-4.0, ci_high=-2.6, higher_is="worse",
...                 weeks=(0, 12))
'On average, EPDS scores fell by 3.3 points between weeks 0 and 12 (95% CI 2.6 to 4.0), an improvement because higher scores are worse.'
>>> change_sentence("EPDS", estimate=-0.4, ci_low=-1.5, ci_high=0.7, higher_is="worse",
...                 weeks=(0, 12))
'On average, EPDS scores changed by -0.4 points between weeks 0 and 12 (95% CI -1.5 to 0.7), which is consistent with no change.'
"""

from __future__ import annotations

import math

__all__ = ["change_sentence", "reliable_change_sentence", "context_sentence", "number",
           "attrition_sentence", "engagement_sentence", "percent"]


def number(x, digits: int = 1, *, signed: bool = False) -> str:
    """Format a number for prose; NaN/None becomes "not available"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "not available"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def percent(count, n, *, threshold: int) -> str:
    """"12 (40%)" or "fewer than 5" for a suppressed count."""
    if count is None or (isinstance(count, float) and math.isnan(count)):
        return f"fewer than {threshold}"
    if not n:
        return f"{int(count)}"
    return f"{int(count)} ({100 * count / n:.0f}%)"


def _good(estimate: float, higher_is: str) -> bool:
    return (estimate > 0) == (higher_is == "better")


def change_sentence(label: str, *, estimate: float, ci_low: float, ci_high: float, higher_is: str,
                    weeks: tuple, mid: float | None = None) -> str:
    """Average change with its CI, the direction named only when the CI excludes zero, and the MID."""
    span = f"between weeks {weeks[0]:g} and {weeks[1]:g}"
    ci = f"95% CI {number(ci_low)} to {number(ci_high)}"
    if any(v is None or math.isnan(v) for v in (estimate, ci_low, ci_high)):
        return f"The average change in {label} could not be estimated."
    if ci_low > 0 or ci_high < 0:
        # Say the direction in words and give the interval as sizes, so a fall in a
        # higher-is-worse score never reads as "improved by 3.3 (95% CI -4.0 to -2.6)".
        moved = "rose" if estimate > 0 else "fell"
        meaning = "an improvement" if _good(estimate, higher_is) else "a worsening"
        lo, hi = sorted((abs(ci_low), abs(ci_high)))
        text = (f"On average, {label} scores {moved} by {number(abs(estimate))} points {span} "
                f"(95% CI {number(lo)} to {number(hi)}), {meaning} because higher scores are "
                f"{higher_is}.")
    else:
        return (f"On average, {label} scores changed by {number(estimate)} points {span} ({ci}), "
                "which is consistent with no change.")
    if mid:
        lo, hi = sorted((abs(ci_low), abs(ci_high)))
        intro = (f" The smallest change that mothers notice (minimal important difference) is "
                 f"{mid:g} points:")
        if lo >= mid:
            text += intro + " the whole interval is above it."
        elif hi < mid:
            text += intro + " the whole interval is below it, so the average change is smaller than one mothers would notice."
        else:
            text += intro + " the average change may be above or below it."
    return text


def reliable_change_sentence(label: str, *, n: int, improved, unchanged, deteriorated,
                             threshold: int, rc_threshold: float | None = None) -> str:
    """Shares reliably improved, unchanged and deteriorated, deterioration as plain as improvement."""
    if not n:
        return f"No mother had {label} scores at both the start and the end of support."
    rule = f" (a change of at least {rc_threshold:.1f} points)" if rc_threshold else ""
    return (f"Of {n} mothers with {label} scores at the start and end of support, "
            f"{percent(improved, n, threshold=threshold)} reliably improved{rule}, "
            f"{percent(unchanged, n, threshold=threshold)} showed no reliable change and "
            f"{percent(deteriorated, n, threshold=threshold)} reliably deteriorated.")


def context_sentence(label: str, scan, *, threshold: int, min_n: int) -> str:
    """Who benefited less: named only where the adjusted heterogeneity test supports a difference."""
    est = scan[scan["status"] == "estimated"]
    parts = []
    if len(est):
        het = est.drop_duplicates("context")[["context", "heterogeneity_p_adjusted"]]
        supported = het[het["heterogeneity_p_adjusted"] < 0.05]["context"].tolist()
        if supported:
            for ctx in supported:
                rows = est[est["context"] == ctx].sort_values("estimate")
                low, high = rows.iloc[0], rows.iloc[-1]
                parts.append(f"Change in {label} differed by {ctx.replace('_', ' ')} (adjusted p = "
                             f"{rows['heterogeneity_p_adjusted'].iloc[0]:.3f}): from "
                             f"{number(low['estimate'], signed=True)} points ({low['level']}) to "
                             f"{number(high['estimate'], signed=True)} points ({high['level']}).")
        else:
            parts.append(f"Change in {label} did not differ between groups by more than chance would "
                         f"explain for any context examined (all adjusted p ≥ 0.05); this does not show "
                         "that all groups benefited equally, only that these data cannot tell them apart.")
    small = scan[scan["status"] != "estimated"]
    if len(small):
        names = [f"{r['level']} ({str(r['context']).replace('_', ' ')})" for _, r in small.iterrows()]
        parts.append(f"Not estimated because the group had fewer than {min_n} mothers (below "
                     f"{threshold}, its numbers are also withheld): {', '.join(names)}.")
    return " ".join(parts)


def attrition_sentence(*, n_started: int, n_end, threshold: int, smd_top=None) -> str:
    """How many starters have no end score, and the largest completer/non-completer difference."""
    if n_end is None or (isinstance(n_end, float) and math.isnan(n_end)):
        return "The number of mothers with an end-of-support score is suppressed."
    missing = int(n_started - n_end)
    text = (f"{missing} of {n_started} mothers who started support ({100 * missing / max(n_started, 1):.0f}%) "
            "have no end-of-support score, so the results describe the mothers who completed "
            "questionnaires, who may differ from those who did not.")
    if smd_top is not None:
        text += (f" The largest difference between completers and non-completers was in "
                 f"{smd_top[0]} (standardised difference {smd_top[1]:+.2f}).")
    return text


def engagement_sentence(medians, *, p_value=None) -> str:
    """Median weeks in support before disengaging, by group, and the log-rank test."""
    parts = []
    for _, r in medians.iterrows():
        if r.get("status", "").startswith("withheld"):
            parts.append(f"{r['group']}: withheld (small group)")
        elif isinstance(r["median"], float) and math.isnan(r["median"]):
            parts.append(f"{r['group']}: fewer than half disengaged")
        else:
            parts.append(f"{r['group']}: {r['median']:.1f} weeks")
    text = "Median time in support before disengaging — " + "; ".join(parts) + "."
    if p_value is not None and not math.isnan(p_value):
        text += (" The groups' disengagement differed more than chance would explain (log-rank p = "
                 f"{p_value:.3f})." if p_value < 0.05 else
                 f" The differences between groups were within chance (log-rank p = {p_value:.3f}).")
    return text
