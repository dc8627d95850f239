"""Sentences for the reports, written only from protected tables and claiming nothing more.

Every number in a sentence comes from a cell of a :class:`~evalkit.report.disclosure.ProtectedTable`
and is formatted by :mod:`evalkit.report.format`. The rules, kept as data below:

* a change is called an improvement or a worsening only when its confidence interval excludes
  zero, and the direction is named in words from whether higher scores are better or worse
  (:data:`DIRECTION`), so "largest improvement" is the most negative change on a scale where
  higher is worse;
* a difference between groups is named only when the (multiplicity-adjusted) test supports it;
* a hidden count is "fewer than N" only when the published tables already imply it
  (:func:`~evalkit.report.format.hidden_count`), else "not shown to protect small groups"; parts
  that are hidden are never added up;
* a group too small to estimate is called that only when its size is shown; one minimum group size
  holds across the report;
* change is never attributed to the programme without a comparison group.

Examples
--------
>>> from evalkit.report.narrative import change_sentence
>>> change_sentence("WEMWBS", estimate=3.1, ci_low=2.0, ci_high=4.2, higher_is="better",
...                 weeks=(0, 12), mid=3)
'On average, WEMWBS scores rose by 3.1 points between week 0 and week 12, an improvement because higher scores are better. Allowing for chance, the true average change is likely to be between 2.0 and 4.2 points higher (95% confidence interval). Mothers notice a change of about 3 points (the minimal important difference): the average change may be above or below it.'
>>> change_sentence("EPDS", estimate=-3.3, ci_low=-4.0, ci_high=-2.6, higher_is="worse",
...                 weeks=(0, 12))
'On average, EPDS scores fell by 3.3 points between week 0 and week 12, an improvement because higher scores are worse. Allowing for chance, the true average change is likely to be between 2.6 and 4.0 points lower (95% confidence interval).'
>>> change_sentence("EPDS", estimate=-0.4, ci_low=-1.5, ci_high=0.7, higher_is="worse",
...                 weeks=(0, 12))
'On average, EPDS scores fell by 0.4 points between week 0 and week 12, but allowing for chance the true average change is likely to be anywhere from 1.5 points lower to 0.7 points higher (95% confidence interval): it could be no change at all.'
"""

from __future__ import annotations

from dataclasses import dataclass

from . import format as fmt

__all__ = ["Cell", "cell", "count_phrase", "likely_range", "moved", "change_sentence", "reliable_change_sentence",
           "group_change_sentence", "context_sentence", "attrition_sentence",
           "engagement_sentence", "mechanisms_sentence", "norm_sentence", "DIRECTION",
           "improvement"]

#: +1 where a higher score is better, -1 where it is worse: the sign of an improvement.
DIRECTION = {"better": 1.0, "worse": -1.0}
#: Words for a change by its direction and meaning.
WORDS = {"rise": "rose", "fall": "fell", "good": "an improvement", "bad": "a worsening"}


@dataclass(frozen=True)
class Cell:
    """One protected cell: its value when shown, and the bounds of its count when hidden."""

    value: object
    shown: bool
    upper: float | None = None

    @property
    def number(self) -> float | None:
        if not self.shown or fmt.is_missing(self.value) or isinstance(self.value, str):
            return None
        return float(self.value)


def cell(table, row: int, column: str) -> Cell:
    """The cell of a ProtectedTable at (row position, column)."""
    shown = not bool(table.hidden[column].iat[row])
    b = table.bounds.get((row, column)) if hasattr(table, "bounds") else None
    return Cell(table.data[column].iat[row], shown, None if b is None else b.upper)


def improvement(estimate: float, higher_is: str) -> float:
    """The change signed so that larger means more improvement."""
    return DIRECTION[higher_is] * estimate


def count_phrase(c: Cell, threshold: int) -> str:
    """A count as words: the number, or what the published tables allow saying about it."""
    if c.shown and not fmt.is_missing(c.value):
        return fmt.count(c.value)
    if not c.shown:
        return fmt.hidden_count(c.upper, threshold)
    return "a number not available"


def likely_range(low, high, *, unit: str = "points", digits: int = 1) -> str:
    """A confidence interval of a change in words, without minus signs.

    >>> likely_range(3.0, 5.6)
    'between 3.0 and 5.6 points higher'
    >>> likely_range(-4.0, -2.6)
    'between 2.6 and 4.0 points lower'
    >>> likely_range(-0.8, 4.3)
    'anywhere from 0.8 points lower to 4.3 points higher'
    """
    n = lambda v: fmt.number(abs(v), digits)  # noqa: E731 - a local shorthand
    if low > 0:
        return f"between {n(low)} and {n(high)} {unit} higher"
    if high < 0:
        return f"between {n(high)} and {n(low)} {unit} lower"
    return f"anywhere from {n(low)} {unit} lower to {n(high)} {unit} higher"


def moved(estimate, *, unit: str = "points", digits: int = 1) -> str:
    """A change in words: ``a rise of 5.3 points``, ``a fall of 1.7 points``, ``no change``."""
    if fmt.number(abs(estimate), digits) == fmt.number(0, digits):
        return "no change"
    return f"a {'rise' if estimate > 0 else 'fall'} of {fmt.number(abs(estimate), digits)} {unit}"


def change_sentence(label: str, *, estimate, ci_low, ci_high, higher_is: str, weeks: tuple,
                    mid: float | None = None) -> str:
    """Average change with its interval in words, the direction named only when the interval
    excludes zero, and the minimal important difference compared with the whole interval."""
    span = f"between week {weeks[0]:g} and week {weeks[1]:g}"
    if any(fmt.is_missing(v) for v in (estimate, ci_low, ci_high)):
        return f"The average change in {label} could not be estimated."
    went = WORDS["rise"] if estimate > 0 else WORDS["fall"]
    size = fmt.number(abs(estimate))
    if not (ci_low > 0 or ci_high < 0):
        return (f"On average, {label} scores {went} by {size} points {span}, but allowing for "
                f"chance the true average change is likely to be {likely_range(ci_low, ci_high)} "
                "(95% confidence interval): it could be no change at all.")
    meaning = WORDS["good"] if improvement(estimate, higher_is) > 0 else WORDS["bad"]
    text = (f"On average, {label} scores {went} by {size} points {span}, {meaning} because higher "
            f"scores are {higher_is}. Allowing for chance, the true average change is likely to be "
            f"{likely_range(ci_low, ci_high)} (95% confidence interval).")
    if mid:
        lo, hi = sorted((abs(ci_low), abs(ci_high)))
        intro = (f" Mothers notice a change of about {mid:g} points (the minimal important "
                 "difference):")
        if lo >= mid:
            text += intro + " the whole likely range is above it."
        elif hi < mid:
            text += (intro + " the whole likely range is below it, so the average change is "
                     "smaller than one mothers would notice.")
        else:
            text += intro + " the average change may be above or below it."
    return text


def reliable_change_sentence(label: str, rows: dict, *, threshold: int,
                             rc_threshold: float | None = None) -> str:
    """Shares reliably improved, unchanged and deteriorated, deterioration as plain as improvement.

    ``rows`` maps ``improved``/``unchanged``/``deteriorated`` to ``(count Cell, share Cell, n Cell)``
    of the overall group.
    """
    n = rows["improved"][2]
    if not n.shown:
        return (f"The numbers of mothers whose {label} scores reliably changed are not shown, to "
                "protect small groups.")
    if not n.number:
        return f"No mother had {label} scores at both the start and the end of support."

    def part(key):
        c, s, _ = rows[key]
        if c.shown and s.shown and c.number is not None:
            return f"{fmt.count(c.value)} ({fmt.percent(s.value)})"
        return count_phrase(c, threshold)

    rule = f" (a change of at least {fmt.number(rc_threshold)} points)" if rc_threshold else ""
    text = (f"Of {fmt.count(n.value)} mothers with {label} scores at the start and end of support, "
            f"{part('improved')} reliably improved{rule}, {part('unchanged')} showed no reliable "
            f"change and {part('deteriorated')} reliably deteriorated.")
    return text


def group_change_sentence(label: str, table, *, higher_is: str) -> str:
    """Change by group: which shown group improved most and least, and which could be no change."""
    shown = []
    for i in range(len(table.data)):
        est, lo, hi = (cell(table, i, c).number for c in ("estimate", "ci_low", "ci_high"))
        if est is not None and lo is not None and hi is not None:
            shown.append((str(table.data["group"].iat[i]), est, lo, hi))
    if not shown:
        return ""
    parts = []
    if len(shown) >= 2:
        ranked = sorted(shown, key=lambda r: improvement(r[1], higher_is))
        worst, best = ranked[0], ranked[-1]
        parts.append(f"Improvement in {label} was largest for {best[0]} ({moved(best[1])}, likely "
                     f"{likely_range(best[2], best[3])}) and smallest for {worst[0]} "
                     f"({moved(worst[1])}, likely {likely_range(worst[2], worst[3])}).")
    zero = [g for g, _, lo, hi in shown if lo <= 0 <= hi]
    if zero:
        parts.append(f"For {_and(zero)} the change could be no change at all.")
    hidden = [str(table.data["group"].iat[i]) for i in range(len(table.data))
              if not cell(table, i, "estimate").shown]
    if hidden:
        parts.append(f"Not shown, to protect small groups: {_and(hidden)}.")
    return " ".join(parts)


def context_sentence(label: str, table, *, higher_is: str, min_group: int) -> str:
    """Who benefited less: named only where the adjusted test supports a difference."""
    d = table.data
    parts = []
    contexts = list(dict.fromkeys(d["context"]))
    supported = []
    for ctx_name in contexts:
        rows = [i for i in range(len(d)) if d["context"].iat[i] == ctx_name]
        p = next((cell(table, i, "heterogeneity_p_adjusted").number for i in rows
                  if cell(table, i, "heterogeneity_p_adjusted").number is not None), None)
        est = [(str(d["level"].iat[i]), cell(table, i, "estimate").number) for i in rows]
        est = [(lv, e) for lv, e in est if e is not None]
        if p is not None and p < 0.05 and len(est) >= 2:
            ranked = sorted(est, key=lambda r: improvement(r[1], higher_is))
            supported.append(f"Change in {label} differed by {fmt.lower_first(ctx_name)}: improvement was "
                             f"largest for {ranked[-1][0]} ({moved(ranked[-1][1])}) and smallest "
                             f"for {ranked[0][0]} ({moved(ranked[0][1])}).")
    if supported:
        parts.extend(supported)
    elif any(cell(table, i, "estimate").number is not None for i in range(len(d))):
        parts.append(f"Change in {label} did not differ between groups by more than chance would "
                     "explain for any context examined (after adjusting for multiple tests); this "
                     "does not show that all groups benefited equally, only that these data cannot "
                     "tell them apart.")
    small = [fmt.level_phrase(d["level"].iat[i], d["context"].iat[i]) for i in range(len(d))
             if str(d["status"].iat[i]).startswith("too few")]
    if small:
        parts.append(f"Too few mothers to estimate (fewer than {min_group}): {_and(small)}.")
    hidden = [fmt.level_phrase(d["level"].iat[i], d["context"].iat[i]) for i in range(len(d))
              if str(d["status"].iat[i]).startswith("not shown")]
    if hidden:
        parts.append(f"Not shown, to protect small groups: {_and(hidden)}.")
    return " ".join(parts)


def attrition_sentence(started: Cell, with_end: Cell, *, threshold: int) -> str:
    """How many starters have no end score (only when both counts are shown)."""
    if started.number is None or with_end.number is None:
        return ("The number of mothers who started support without an end-of-support score is not "
                "shown, to protect small groups.")
    missing = started.number - with_end.number
    share = missing / started.number if started.number else float("nan")
    return (f"{fmt.count(missing)} of {fmt.count(started.value)} mothers who started support "
            f"({fmt.percent(share)}) have no end-of-support score, so the results describe the "
            "mothers who completed questionnaires, who may differ from those who did not.")


def engagement_sentence(table) -> str:
    """Median weeks in support before disengaging, by group."""
    parts = []
    for i in range(len(table.data)):
        g = str(table.data["group"].iat[i])
        c = cell(table, i, "median")
        status = str(table.data.get("status", [""] * len(table.data))[i] or "")
        if not c.shown or status.startswith("not shown"):
            parts.append(f"{g}: not shown (protects a small group)")
        elif status.startswith("too few"):
            parts.append(f"{g}: {status}")
        elif c.number is None:
            parts.append(f"{g}: fewer than half disengaged")
        else:
            parts.append(f"{g}: {fmt.number(c.number)} weeks")
    return "Median time in support before disengaging — " + "; ".join(parts) + "." if parts else ""


def mechanisms_sentence(table, *, threshold: int) -> str:
    """The mechanism rated highest, and how many rated negative comparison 3 or 4."""
    d = table.data
    rows = [i for i in range(len(d)) if d["group"].iat[i] == "all"]
    rated = [(str(d["mechanism"].iat[i]), cell(table, i, "mean").number) for i in rows]
    rated = [(m, v) for m, v in rated if v is not None]
    parts = []
    if rated:
        top = max(rated, key=lambda r: r[1])
        parts.append(f"The mechanism mothers rated highest was \u201c{top[0]}\u201d (mean "
                     f"{fmt.number(top[1])} of 4).")
    for i in rows:
        if "negative" in str(d["mechanism"].iat[i]).lower():
            agree, share, n = (cell(table, i, c) for c in ("agree", "percent_agree", "n"))
            if agree.number is not None and n.number is not None and share.number is not None:
                parts.append(f"{fmt.count(agree.value)} of {fmt.count(n.value)} mothers "
                             f"({fmt.percent(share.value, scale=100)}) rated negative comparison 3 "
                             "or 4: for them, meeting other mothers may have made things feel worse.")
            else:
                parts.append(f"The number who rated negative comparison 3 or 4 is "
                             f"{count_phrase(agree, threshold)}.")
    return " ".join(parts)


def norm_sentence(label: str, table, norms, baseline: str, end: str, higher_is: str) -> str:
    """Where the group started and ended, against the first population norm of the instrument."""
    if table is None or not norms:
        return ""
    waves = [str(w) for w in table.data["wave"]]
    if baseline not in waves or end not in waves:
        return ""
    b = cell(table, waves.index(baseline), "mean").number
    e = cell(table, waves.index(end), "mean").number
    if b is None or e is None:
        return ""
    pop, mean, _ = norms[0]
    return (f"Mothers' average {label} score was {fmt.number(b)} at the start and {fmt.number(e)} "
            f"at the end of support (among those who answered), against a population average of "
            f"{mean:g} ({pop}; higher = {higher_is}). Those who answered at the end may differ from "
            "those who did not.")


def _and(items) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
