"""Variation between volunteers (and sites) in the reports: a technical table, its methods text and
the impact report's one sentence, all from the protected table ``<outcome>_variation_by_level``
(:mod:`evalkit.pipeline.volunteers`); per-volunteer estimates never reach the report folder.
"""

from __future__ import annotations

from . import format as fmt

__all__ = ["variation_table", "variation_caption", "variation_methods", "variation_sentence",
           "COLUMNS"]

#: Columns of the technical table and their headers.
COLUMNS = {"level": "Level", "levels": "Number", "variance": "Variance",
           "variance_ci_low": "95% CI from", "variance_ci_high": "to",
           "share": "Share of the variance", "share_ci_low": "95% CI from",
           "share_ci_high": "to", "change_share": "Share of the variation in change",
           "change_share_ci_low": "95% CI from", "change_share_ci_high": "to",
           "refits": "Bootstrap refits used", "status": "Note"}


def _table(ctx, inst: str):
    info = ctx.facts.get("outcomes", {}).get(inst, {}).get("variation")
    if not info:
        return None, None
    return info, ctx.pub.tables.get(info["table"])


def variation_table(ctx, inst: str):
    """The protected table of an outcome's variation by level (None when it was not made); the
    technical report shows it with :data:`COLUMNS`."""
    return _table(ctx, inst)[1]


def variation_caption(ctx, inst: str) -> str:
    """The technical table's caption: what its shares are shares of."""
    info, _ = _table(ctx, inst)
    of = ("the variance of the scores and of the variation in change" if info and info.get("change")
          else "the variance of the scores")
    return (f"Variation between volunteers (and sites): each level's share of {of} "
            "(average-change model)")


def variation_methods(ctx) -> str | None:
    """The methods paragraph of the variation by level (None when it was not estimated)."""
    inst = ctx.plan.primary_outcome.instrument
    info, table = _table(ctx, inst)
    if table is None:
        return None
    refits = ctx.plan.model.variance_bootstrap
    ci = (f"95% CIs are the 2.5th and 97.5th percentiles of a parametric bootstrap: "
          f"{fmt.count(refits)} sets of scores were drawn from the fitted model (seed "
          f"{ctx.plan.seed}) and the model refitted to each (refits that did not converge are "
          "left out; the table gives how many were used)" if refits else
          "no confidence intervals were computed (model.variance_bootstrap: 0)")
    estimated = info.get("change_estimated", info.get("change"))
    change = (f" The share of the variation in change is each level's variance of its random "
              f"slope on {ctx.time} over the sum of the levels' slope variances: how much of "
              "the differences between mothers' rates of change lies between volunteers (sites) "
              "rather than between mothers of the same volunteer." if estimated else
              " The volunteer (site) terms have no slope on time, so the model lets volunteers "
              "differ in their mothers' average scores, not in how much the scores changed; "
              f"add {ctx.time} to a term (e.g. (1 + {ctx.time} | volunteer_id)) to split the "
              "variation in change.")
    if estimated and not info.get("change"):
        change += " " + _why_no_change_sentence(info, table)
    return (f"Variation between volunteers (and sites): the average-change model of "
            f"{ctx.facts['outcomes'][inst].get('label', inst)} with the plan's random effects "
            f"({ctx.plan.model.random}) splits the variance of the scores into each grouping "
            "factor's share (its variance averaged over the scores in the model, over the sum "
            f"of all levels' and the residual variance: the intraclass correlation by level); "
            f"{ci}.{change} Each volunteer's predicted effect and a caterpillar plot of them are "
            "in the restricted folder only, for supervision and training, not for publication.")


def _why_no_change_sentence(info: dict, table) -> str:
    """Why the impact report keeps to the scores although the split of change was estimated.

    The average number of mothers per volunteer is a ratio of two counts, so the rule is stated
    with its number only when the table shows both counts (then it reveals nothing); otherwise
    without a number, so that no sentence bounds a hidden count.
    """
    need = info.get("mothers_for_change")
    few = [g for g, v in info.get("mothers_per_level", {}).items() if v < need]
    levels = [str(x) for x in table.data["level"]]
    rows = [0] + [i for i, lv in enumerate(levels) if any(lv.endswith(f"({g})") for g in few)]
    words = " or ".join(info["words"].get(g, g) for g in few)
    if all(_shown(table, i, "levels") is not None for i in rows):
        return (f"Fewer than {need} mothers per level of {words} took part on average: too few "
                "for a level's effect on change to be told reliably from its mothers' own "
                "differences, so the impact report does not state this split (it states the "
                "share of the scores).")
    return (f"The impact report does not state this split (it states the share of the scores): "
            f"the levels of {words} hold too few mothers for their effect on change to be told "
            "reliably from the mothers' own differences.")


def variation_sentence(ctx) -> str | None:
    """One plain sentence on how much of the variation lies between volunteers (and sites), with
    its 95% CI, from the protected table; None when the model has no such term or a number is
    not shown.

    Examples
    --------
    >>> print(_sentence([("volunteers", 0.081, 0.02, 0.15)], "wellbeing"))
    About 8% of the differences between mothers' wellbeing scores lay between volunteers (95% CI 2% to 15%).
    >>> print(_sentence([("volunteers", 0.081, 0.02, 0.15), ("sites", 0.004, 0.0, 0.03)],
    ...                 "wellbeing"))
    About 8% of the differences between mothers' wellbeing scores lay between volunteers (95% CI 2% to 15%) and <1% between sites (95% CI 0% to 3%).

    When a volunteer term has a slope on time, the sentence is about change:

    >>> print(_sentence([("volunteers", 0.31, 0.12, 0.55)], "wellbeing", change=True))
    About 31% of the differences between mothers in how much their wellbeing scores changed lay between volunteers (95% CI 12% to 55%).
    """
    inst = ctx.plan.primary_outcome.instrument
    info, table = _table(ctx, inst)
    if table is None:
        return None
    change = bool(info.get("change"))
    share = "change_share" if change else "share"
    data, parts = table.data, []
    for i, level in enumerate(data["level"]):
        group = next((g for g in info["groups"] if str(level).endswith(f"({g})")), None)
        if group is None:
            continue
        cells = [_shown(table, i, c) for c in (share, f"{share}_ci_low", f"{share}_ci_high")]
        if change and cells[0] is None and not _hidden(table, i, share):
            continue              # this level's term has no slope: it has no share of change
        if any(c is None for c in cells):
            return None           # a number the table does not show is not said in words
        parts.append((info["words"][group], *cells))
    words = ctx.facts["outcomes"][inst].get("words") or inst
    return _sentence(parts, words, change=change) if parts else None


def _hidden(table, i: int, column: str) -> bool:
    return column in table.hidden.columns and bool(table.hidden[column].iat[i])


def _shown(table, i: int, column: str):
    value = table.data[column].iat[i]
    return None if _hidden(table, i, column) or fmt.is_missing(value) else float(value)


def _sentence(parts: list, words: str, *, change: bool = False) -> str:
    bits = [f"{fmt.percent(s)} between {unit} (95% CI {fmt.percent(lo)} to {fmt.percent(hi)})"
            for unit, s, lo, hi in parts]
    first, rest = bits[0].split(" between ", 1)
    tail = "" if len(bits) == 1 else ", ".join([""] + bits[1:-1]) + f" and {bits[-1]}"
    what = (f"mothers in how much their {words} scores changed" if change
            else f"mothers' {words} scores")
    return f"About {first} of the differences between {what} lay between {rest}{tail}."
