"""Variation between volunteers (and sites): a protected table, and restricted per-volunteer output.

When the plan's ``model.random`` has terms beyond the mother's (e.g.
``(1 + weeks | participant_id) + (1 | volunteer_id)``), the primary outcome's average-change
model is split into levels (:func:`evalkit.models.variance_share.variance_shares`): each grouping
factor's variance and share of the variance of the scores, with a parametric-bootstrap 95% CI
(``model.variance_bootstrap`` refits, seeded with the plan's seed). When a volunteer (site) term
has a slope on time too (``(1 + weeks | volunteer_id)``), the table also splits the variation in
*change* (the random slopes' variances) between the levels, and the impact report speaks of that. The table
``<outcome>_variation_by_level`` is registered with the publication layer like every other table:
the number of volunteers (sites) is a count of a unit of its own, declared as such, and the
estimates rest on the mothers in the model.

Each volunteer's (site's) predicted effect with its interval, and a caterpillar plot of them, go to
the restricted folder only (``level_blups.csv``, ``caterpillar_<factor>.png``): they are for
supervision and training, and a published ranking of volunteers is not what a charity wants.
"""

from __future__ import annotations

import re

import pandas as pd

from ..report.disclosure import Count, Free, Key, Label, Linked, Stat
from .context import RunContext

__all__ = ["run", "RESTRICTED_FILES", "unit_words", "table_name", "mothers_per_level",
           "MOTHERS_FOR_CHANGE"]

#: Mothers per volunteer (site), on average, below which the impact report does not say how much of
#: the variation in change lies between them. Measured (benchmarks/results/
#: bench_volunteer_coverage.md): with 5-6 mothers per volunteer the volunteer slope variance's 95%
#: CI covered the truth in 93% of 200 cohorts; with about 1.5 it was not identified (intervals
#: from 0 to 15-35 times the truth), and at the simulator's 2.5 a fit can put most of the mothers'
#: own differences in change on their volunteers. The technical table still shows the split.
MOTHERS_FOR_CHANGE = 5

#: Restricted files this step writes (besides ``caterpillar_<factor>.png``, one per factor).
RESTRICTED_FILES = ("level_blups.csv",)


def table_name(inst: str) -> str:
    """The published table's name for an outcome.

    >>> table_name("wemwbs")
    'wemwbs_variation_by_level'
    """
    return f"{inst}_variation_by_level"


def unit_words(group: str) -> str:
    """A grouping factor in plural words, for tables and sentences.

    >>> unit_words("volunteer_id"), unit_words("site"), unit_words("site:volunteer_id")
    ('volunteers', 'sites', 'volunteers within sites')
    """
    parts = [re.sub(r"_id$", "", p).replace("_", " ") + "s" for p in group.split(":")]
    return " within ".join(reversed(parts))


def run(ctx: RunContext, inst: str, fit, data: pd.DataFrame, population: Key) -> None:
    """Publish the variation by level of ``fit`` (a model with lme4 terms) and write the
    restricted per-level estimates; nothing when the model has the mother's term only."""
    from ..models.variance_share import level_blups, variance_shares

    terms = getattr(fit, "terms", None) or ()
    if len(terms) < 2:
        return
    m = ctx.plan.model
    shares = variance_shares(fit, data, time=ctx.time, n_boot=m.variance_bootstrap,
                             seed=ctx.plan.seed)
    # the split of change is estimated when a volunteer (site) term has a slope on time too, and
    # said in words only where each such level has enough mothers to tell it from theirs
    change = bool(shares["change_share"].iloc[1:-1].notna().any())
    per_level = mothers_per_level(terms)
    sloped = [td.term.group for td, v in zip(terms[1:], shares["change_share"].iloc[1:-1])
              if pd.notna(v)]
    identified = change and all(per_level[g] >= MOTHERS_FOR_CHANGE for g in sloped)
    others = [td.term.group for td in terms[1:]]
    keys, words = [population], [f"mothers ({terms[0].term.group})"]
    for td in terms[1:]:
        dim = f"in_{inst}_model"
        ctx.pub.dimension(dim, pd.Series("yes", index=td.levels.astype(str)), unit=td.term.group)
        keys.append(Key.of(unit=td.term.group, **{dim: "yes"}))
        words.append(f"{unit_words(td.term.group)} ({td.term.group})")
    keys.append(None)
    words.append("residual (scores within a mother)")
    in_change = ["change_share", "change_share_ci_low", "change_share_ci_high"] if change else []
    table = shares.assign(level=words, status="")[
        ["level", "levels", "variance", "variance_ci_low", "variance_ci_high", "share",
         "share_ci_low", "share_ci_high", *in_change, "refits", "status"]]
    stat = Stat([population] * len(table), min_n=ctx.min_group)
    roles = {"level": Label(), "levels": Count(keys), "variance": stat,
             "variance_ci_low": Linked("variance"), "variance_ci_high": Linked("variance"),
             "share": stat, "share_ci_low": Linked("share"), "share_ci_high": Linked("share"),
             "refits": Free("bootstrap refits that converged: a property of the method")}
    if change:
        roles.update({"change_share": stat, "change_share_ci_low": Linked("change_share"),
                      "change_share_ci_high": Linked("change_share")})
    ctx.pub.add(table_name(inst), table, status="status", columns=roles)
    ctx.facts["outcomes"][inst]["variation"] = {
        "table": table_name(inst), "groups": others, "refits_planned": m.variance_bootstrap,
        "words": {g: unit_words(g) for g in others}, "change": identified,
        "change_estimated": change, "mothers_for_change": MOTHERS_FOR_CHANGE,
        "mothers_per_level": {g: round(per_level[g], 1) for g in sloped}}
    _restricted(ctx, inst, fit, others, level_blups)


def mothers_per_level(terms) -> dict:
    """Average number of distinct mothers (the first term's levels) per level of every other
    term, over the fitted rows.

    >>> from types import SimpleNamespace as NS
    >>> import numpy as np
    >>> mother = NS(term=NS(group="participant_id"), codes=np.array([0, 0, 1, 1, 2, 2]))
    >>> volunteer = NS(term=NS(group="volunteer_id"), codes=np.array([0, 0, 0, 0, 1, 1]))
    >>> mothers_per_level([mother, volunteer])
    {'volunteer_id': 1.5}
    """
    first = terms[0].codes
    out = {}
    for td in terms[1:]:
        pairs = pd.DataFrame({"level": td.codes, "mother": first}).drop_duplicates()
        out[td.term.group] = float(pairs.groupby("level").size().mean())
    return out


def _restricted(ctx: RunContext, inst: str, fit, groups: list, level_blups) -> None:
    """Per-volunteer (per-site) BLUPs and caterpillar plots: restricted folder only."""
    from ..report.figures.caterpillar import caterpillar_figure

    short = ctx.facts["outcomes"][inst].get("label") or inst
    frames = []
    for group in groups:
        blups = level_blups(fit, group).assign(outcome=inst, group=group)
        frames.append(blups)
        unit = unit_words(group).split(" ")[0][:-1]
        fig = caterpillar_figure(blups, label=f"Predicted {unit} effect ({short} points)",
                                 unit=unit, name=f"caterpillar_{_stem(group)}")
        try:
            ctx.writer.restricted_bytes(f"caterpillar_{_stem(group)}.png", fig.to_png())
        finally:
            fig.close()
    out = pd.concat(frames, ignore_index=True)
    ctx.writer.restricted_csv("level_blups.csv", out[["outcome", "group", "level", "term", "blup",
                                                      "ci_low", "ci_high", "rows"]])


def _stem(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", group)
