"""Step: validate, score and build the cohort; declare who the mothers are to the publication layer.

Data problems stop the run (``on_problems: stop``, every problem listed) or become missing values
(``exclude``); the full problem list, with lines and identifiers the data team needs, and every
safeguarding flag go to the restricted folder at once, before any analysis, so they survive a later
failure. The report counts them only through the publication layer (a count below the threshold
is not shown, not even "1 safeguarding flag").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.disclosure import Count, Key, Label
from .context import RunContext

__all__ = ["run"]


def run(ctx: RunContext) -> None:
    from ..cohort import build_cohort
    from ..scoring import score_dictionary
    from ..validation import validate

    plan, dd = ctx.plan, ctx.dd
    with ctx.step("validate", optional=False):
        # files are matched to datasets by their names, database sources by the plan's names
        report = validate(plan.data_inputs(), dictionary=dd)
        problems = report.problems
        if len(problems):
            ctx.writer.restricted_csv("data_problems.csv", problems)
        if plan.data.on_problems == "stop":
            report.raise_if_problems()
    ctx.validation = report
    with ctx.step("score", optional=False):
        scored = score_dictionary(report, dictionary=dd, on_invalid="missing")
    if len(scored.safeguarding):
        ctx.writer.restricted_csv("safeguarding_flags.csv", scored.safeguarding)
    frame = build_cohort(report, dictionary=dd)
    wave_col, id_col = dd.wave_column, dd.id_column
    scores = scored.scores.assign(**{wave_col: scored.scores[wave_col].astype(frame[wave_col].dtype)})
    keep = [c for c in scores.columns if c not in frame.columns or c in (id_col, wave_col)]
    ctx.frame = frame.merge(scores[keep], on=[id_col, wave_col], how="left")
    ctx.id, ctx.wave = id_col, wave_col
    ctx.instruments = scored.instruments
    people = ctx.frame.drop_duplicates(id_col).set_index(id_col)
    ctx.people = people
    started = plan.engagement.started if plan.engagement else "started"
    ctx.started_col = started if started in people.columns else None

    # the analysis window: waves up to the end of support (later waves are described only)
    end_week = dd.wave(plan.time.end_wave).week
    ctx.waves = [w.name for w in dd.waves]
    ctx.window_waves = [w.name for w in dd.waves if w.week <= end_week]
    analysis = ctx.frame[ctx.frame[wave_col].isin(ctx.window_waves)]
    if plan.model.population == "started" and ctx.started_col:
        analysis = analysis[analysis[started].eq(True)]
    ctx.analysis = analysis.reset_index(drop=True)
    _declare(ctx, scored, problems)


def _declare(ctx: RunContext, scored, problems) -> None:
    """Dimensions every later step counts by, and the run's data checks table."""
    plan, people, frame = ctx.plan, ctx.people, ctx.frame
    pub = ctx.pub
    idx = people.index
    if ctx.started_col:
        ctx.yes_no("started", people[ctx.started_col].astype("boolean"))
    # a questionnaire returned, and each outcome scored, at each wave
    for wave in ctx.waves:
        at = frame[frame[ctx.wave] == wave].set_index(ctx.id)
        returned = at["observed"].eq(True) if "observed" in at.columns else pd.Series(True, at.index)
        ctx.yes_no(f"returned@{wave}", returned.reindex(idx).fillna(False))
        for o in plan.outcomes:
            inst = o.instrument
            score = at[inst].reindex(idx) if inst in at.columns else pd.Series(np.nan, idx)
            ctx.yes_no(f"{inst}@{wave}", score.notna())
            pub.measure(f"{inst}@{wave}", score, **_score_limits(inst))
    flags = scored.safeguarding
    flagged = pd.Series(idx.isin(flags[ctx.id].astype(str)) if len(flags) else False, index=idx)
    ctx.yes_no("safeguarding_flag", flagged)
    # data problems: one member per problem cell, by file, column and rule
    units = problems.reset_index(drop=True)
    kinds = (units["file"].map(lambda f: str(f).replace("\\", "/").rsplit("/", 1)[-1]) + " | "
             + units["column"].astype(str) + " | " + units["rule"].astype(str)) if len(units) else \
        pd.Series([], dtype=object)
    pub.dimension("problem", pd.Series(kinds.to_numpy(), index=[f"problem {i}" for i in
                                                                   range(len(units))], dtype=object),
                  unit="data problem")
    rows = [{"check": "safeguarding flags raised (mothers)", "n": int(flagged.sum()),
             "key": Key.of(safeguarding_flag="yes")},
            {"check": "data values that broke the dictionary's rules", "n": int(len(units)),
             "key": Key("data problem")}]
    for kind, n in kinds.value_counts().sort_index().items():
        rows.append({"check": f"broke a rule: {kind}", "n": int(n),
                     "key": Key.of("data problem", problem=kind)})
    table = pd.DataFrame(rows)
    pub.add("data_checks", table[["check", "n"]],
            columns={"check": Label(), "n": Count(table["key"].tolist())})


def _score_limits(inst: str) -> dict:
    from ..instruments import registry

    try:
        spec = registry.get(inst)
        lo, hi = spec.scales[0].range
        return {"lower": float(lo), "upper": float(hi)}
    except Exception:   # noqa: BLE001 - limits only sharpen the audit; unknown is safe
        return {}
