"""Run an analysis plan end to end: validate → score → cohort → models → disclosure → reports.

:func:`run_plan` is what ``evalkit run PLAN`` and ``evalkit demo`` call. Each analysis step records
the warnings it raised (never muted: they are listed in the technical report and summarised in the
impact report's limitations) and, if an optional analysis cannot be done on these data (too few
events for a Cox model, say), the reason, instead of stopping the whole run. Data problems stop the
run before any analysis, listing every problem at once (``data.on_problems: stop``), or exclude the
offending cells and rows and count them in the participant flow (``exclude``).

Everything published passes through :class:`~evalkit.report.disclosure.DisclosureControl` first;
participant identifiers, free text, dates and safeguarding flags never reach ``tables/``,
``figures/`` or the HTML. Safeguarding flags are written to ``<out>-restricted/`` (beside the report
folder, never inside it) for authorised staff only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .dictionary import DataDictionary
from .errors import EvalkitError
from .plan import AnalysisPlan, load_plan

__all__ = ["run_plan", "RunResult"]

_CSV = {"index": False, "lineterminator": "\n", "float_format": "%.6g"}
_RC_OUTCOMES = ("reliable_improvement", "no_reliable_change", "reliable_deterioration")


@dataclass(frozen=True, eq=False)
class RunResult:
    """What :func:`run_plan` wrote and found.

    Attributes
    ----------
    out : Path
        The report folder.
    files : list of Path
        Every file written (reports, tables, figures, provenance, restricted outputs).
    tables : dict of str to DataFrame
        The published (disclosure-controlled) tables by name.
    warnings : pandas.DataFrame
        ``step, category, message, count``: every warning raised during the run.
    failures : pandas.DataFrame
        ``step, message``: analyses that could not be done on these data, with the reason.
    suppression_log : pandas.DataFrame
        Every hidden cell (table, row, column, rule), never the hidden value.
    """

    out: Path
    files: list
    tables: dict
    warnings: pd.DataFrame
    failures: pd.DataFrame
    suppression_log: pd.DataFrame
    facts: dict = field(default_factory=dict, repr=False)
    timings: dict = field(default_factory=dict, repr=False)


def run_plan(plan: str | Path | AnalysisPlan, *, out: str | Path | None = None,
             progress: bool = False) -> RunResult:
    """Execute an analysis plan and write the impact and technical reports.

    Parameters
    ----------
    plan : str, Path or AnalysisPlan
        The plan file (checked against its dictionary first) or an already loaded plan.
    out : str or Path, optional
        Report folder; default ``reports/<plan file stem>`` next to the current directory.
    progress : bool, default False
        Show progress bars for the long steps (imputation).

    Returns
    -------
    RunResult

    Raises
    ------
    PlanError
        The plan is malformed or names things the dictionary does not have (all listed).
    DataValidationError
        The data break the dictionary's rules and the plan says ``on_problems: stop`` (all listed).
    """
    if isinstance(plan, AnalysisPlan):
        dd = plan.dictionary()
        plan.check(dd)
    else:
        plan, dd = load_plan(plan)
    out = Path(out) if out is not None else Path("reports") / Path(plan.source or "plan").stem
    return _Run(plan, dd, out, progress).execute()


class _Run:
    """One execution of a plan; each ``_step_*`` method fills tables, figures and facts."""

    def __init__(self, plan: AnalysisPlan, dd: DataDictionary, out: Path, progress: bool):
        from .report.disclosure import DisclosureControl

        self.plan, self.dd, self.out, self.progress = plan, dd, out, progress
        self.threshold = plan.report.suppression_threshold
        self.dc = DisclosureControl(threshold=self.threshold)
        self.tables: dict[str, object] = {}        # name -> SafeTable (published)
        self.model_tables: dict[str, pd.DataFrame] = {}   # technical: coefficient tables etc.
        self.figures: dict[str, object] = {}       # name -> ReportFigure
        self.facts: dict = {"outcomes": {}}
        self.warning_rows: list[tuple[str, str, str]] = []
        self.failure_rows: list[tuple[str, str]] = []
        self.written: list[Path] = []
        self.timings: dict[str, float] = {}      # seconds per step (not written: not deterministic)
        self.fits: dict[str, object] = {}        # primary model per outcome
        self.time = plan.time.column

    # ------------------------------------------------------------------ bookkeeping
    @contextlib.contextmanager
    def step(self, name: str, *, optional: bool = True):
        """Record warnings raised in a step; an optional step that fails is recorded, not fatal."""
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except EvalkitError as exc:
                if not optional:
                    raise
                self.failure_rows.append((name, _one_line(exc)))
        self.timings[name] = time.perf_counter() - start
        for w in caught:
            self.warning_rows.append((name, w.category.__name__, _one_line(w.message)))

    def _restricted(self) -> Path:
        # Beside the report folder, never inside it: the report folder may be published whole.
        folder = self.out.parent / f"{self.out.name}-restricted"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def publish(self, name: str, safe) -> None:
        self.tables[name] = safe

    def label(self, column: str) -> str:
        try:
            var = self.dd.variable(column)
        except EvalkitError:
            return column.replace("_", " ")
        return var.label or column.replace("_", " ")

    def level_label(self, column: str, level) -> str:
        try:
            var = self.dd.variable(column)
        except EvalkitError:
            return str(level)
        if isinstance(level, (bool, np.bool_)):
            return "yes" if level else "no"
        if var.levels and str(level) in var.levels:
            return var.levels[str(level)]
        return str(level)

    # ------------------------------------------------------------------ the run
    def execute(self) -> RunResult:
        for folder in (self.out, self.out / "tables", self.out / "figures"):
            folder.mkdir(parents=True, exist_ok=True)
        self._step_data()
        self._step_flow()
        self._step_reach()
        self._step_engagement()
        for outcome in self.plan.outcomes:
            self._step_outcome(outcome)
        self._step_mechanisms()
        self._step_attrition()
        self._step_sensitivity()
        return self._write()

    # ------------------------------------------------------------------ data
    def _step_data(self) -> None:
        from .cohort import build_cohort
        from .scoring import score_dictionary
        from .validation import validate

        files = self.plan.data_files()
        with self.step("validate", optional=False):
            report = validate([str(f) for f in files], dictionary=self.dd)
            if self.plan.data.on_problems == "stop":
                report.raise_if_problems()
        self.validation = report
        problems = report.problems
        self.facts["n_data_problems"] = int(len(problems))
        if len(problems):
            # Counts by file, column and rule for the technical report; the full list (with line
            # numbers and participant ids, which the data team needs to fix them) is restricted.
            summary = (problems.assign(file=problems["file"].map(lambda f: Path(str(f)).name))
                       .groupby(["file", "column", "rule", "severity"], sort=True).size()
                       .rename("cells").reset_index())
            self.model_tables["data_problems"] = summary
            path = self._restricted() / "data_problems.csv"
            problems.to_csv(path, **_CSV)
            self.written.append(path)
        with self.step("score", optional=False):
            scored = score_dictionary(report, dictionary=self.dd, on_invalid="missing")
        if len(scored.safeguarding):
            path = self._restricted() / "safeguarding_flags.csv"
            scored.safeguarding.to_csv(path, **_CSV)
            self.written.append(path)
        self.facts["safeguarding_flags"] = int(len(scored.safeguarding))
        self.facts["prorated"] = {inst: int(scored.scores[f"{inst}_prorated"].eq(True).sum())
                                  for inst in scored.instruments if f"{inst}_prorated" in scored.scores}
        frame = build_cohort(report, dictionary=self.dd)
        wave_col, id_col = self.dd.wave_column, self.dd.id_column
        scores = scored.scores.assign(**{wave_col: scored.scores[wave_col].astype(frame[wave_col].dtype)})
        keep = [c for c in scores.columns if c not in frame.columns or c in (id_col, wave_col)]
        self.frame = frame.merge(scores[keep], on=[id_col, wave_col], how="left")
        self.id, self.wave = id_col, wave_col
        self.instruments = scored.instruments
        people = self.frame.drop_duplicates(id_col)
        self.facts["n_referred"] = int(len(people))
        started = self.plan.engagement.started if self.plan.engagement else "started"
        self.started_col = started if started in self.frame else None
        self.facts["n_started"] = int(people[started].eq(True).sum()) if self.started_col else None
        primary = self.plan.primary_outcome.instrument
        at_end = self.frame[(self.frame[wave_col] == self.plan.time.end_wave)
                            & self.frame[primary].notna()]
        if self.started_col:
            at_end = at_end[at_end[started].eq(True)]
        self.facts["n_end_started"] = int(at_end[id_col].nunique())
        # The primary analysis window: waves up to the end of support (change is modelled as linear
        # over it); later waves (follow-up) are described, not modelled.
        end_week = self.dd.wave(self.plan.time.end_wave).week
        self.window_waves = [w.name for w in self.dd.waves if w.week <= end_week]
        self.analysis = self.frame[self.frame[wave_col].isin(self.window_waves)]
        if self.plan.model.population == "started" and self.started_col:
            self.analysis = self.analysis[self.analysis[started].eq(True)]
        self.analysis = self.analysis.reset_index(drop=True)

    # ------------------------------------------------------------------ who was reached
    def _step_flow(self) -> None:
        from .attrition import participant_flow
        from .report.figures import flow_figure

        with self.step("participant flow"):
            flow = participant_flow(self.frame, subject=self.id, wave=self.wave,
                                    outcome=self.plan.primary_outcome.instrument,
                                    started=self.started_col or "started",
                                    validation_flow=self.validation.flow)
            self.publish("participant_flow", self.dc.counts(
                flow, name="participant flow", count_columns=["n"],
                percent_columns={"n": ["percent_of_referred"]}, groups=["stage"]))
            self.facts["flow"] = flow
            self.figures["flow"] = flow_figure(self.tables["participant_flow"].data)

    def _contexts(self) -> list[str]:
        chosen = self.plan.contexts.variables
        if chosen == "all":
            chosen = [v.name for v in self.dd.by_role("context") if v.name in self.frame]
        return [c for c in chosen if c in self.frame]

    def _step_reach(self) -> None:
        people = self.frame.drop_duplicates(self.id)
        rows, numeric = [], []
        for ctx in self._contexts():
            col = people[ctx]
            if _is_numeric(col):
                v = col.dropna()
                numeric.append({"variable": ctx, "label": self.label(ctx), "n": int(len(v)),
                                "n_missing": int(col.isna().sum()), "mean": v.mean(),
                                "sd": v.std(), "median": v.median(),
                                "q1": v.quantile(0.25), "q3": v.quantile(0.75)})
                continue
            levels = _levels(col)
            started = people[self.started_col].eq(True) if self.started_col else None
            pop = self.plan.report.population.get(ctx)
            for level in [*levels, None]:
                mask = col.isna() if level is None else col.eq(level)
                n = int(mask.sum())
                if level is None and n == 0:
                    continue
                rows.append({"variable": ctx, "label": self.label(ctx),
                             "level": "missing" if level is None else self.level_label(ctx, level),
                             "referred": n,
                             "percent_referred": 100 * n / len(people),
                             "started": int((mask & started).sum()) if started is not None else np.nan,
                             "percent_started": (100 * (mask & started).sum() / max(started.sum(), 1)
                                                 if started is not None else np.nan),
                             "population_percent": (pop.percent.get(str(level), np.nan)
                                                    if pop is not None and level is not None else np.nan)})
        reach = pd.DataFrame(rows)
        if len(reach):
            self.publish("reach_by_context", self.dc.counts(
                reach, name="reach by context", count_columns=["referred", "started"],
                percent_columns={"referred": ["percent_referred"], "started": ["percent_started"]},
                groups=["variable"]))
        if numeric:
            self.publish("reach_numeric", self.dc.estimates(
                pd.DataFrame(numeric), name="reach (numeric context)", n_column="n",
                value_columns=["mean", "sd", "median", "q1", "q3"]))
        self.facts["population_sources"] = {k: v.source for k, v in self.plan.report.population.items()}

    # ------------------------------------------------------------------ engagement
    def _people(self) -> pd.DataFrame:
        return self.frame.drop_duplicates(self.id).reset_index(drop=True)

    def _step_engagement(self) -> None:
        e = self.plan.engagement
        if e is None:
            return
        people = self._people()
        starters = people[people[e.started].eq(True)]
        with self.step("sessions"):
            from .dose import sessions_summary

            by = [c for c in dict.fromkeys([e.by, *self._contexts()]) if c in people
                  and not _is_numeric(people[c])]
            summary = sessions_summary(people, sessions=e.sessions, by=by, subject=self.id,
                                       started=e.started)
            summary["level"] = [lv if var == "all" or lv == "missing" else self.level_label(var, lv)
                                for var, lv in zip(summary["variable"], summary["level"])]
            self.publish("sessions", self.dc.estimates(
                summary, name="sessions attended", n_column="n",
                value_columns=["mean", "sd", "median", "q1", "q3", "min", "max"]))
            self.facts["sessions"] = summary[summary["variable"].isin(["all", e.by])]
        with self.step("time to disengagement"):
            from .models.survival import check_proportional_hazards, fit_cox, kaplan_meier, logrank_test
            from .report.figures import km_figure

            d = starters.copy()
            weeks = (d[e.stop] - d[e.start]).dt.days / 7.0
            d["weeks_in_support"] = weeks.clip(lower=0)
            d["disengaged"] = d[e.reason].astype(object).isin(e.disengaged).astype(int)
            d = d[d[e.by].notna()]
            d[e.by] = pd.Categorical([self.level_label(e.by, v) for v in d[e.by]],
                                     categories=[self.level_label(e.by, v) for v in _levels(d[e.by])])
            km = kaplan_meier(d, duration="weeks_in_support", event="disengaged", by=e.by)
            risk = km.risk_table(e.risk_times)
            safe = self.dc.risk_table(risk, name="time to disengagement: numbers at risk")
            self.publish("km_risk_table", safe)
            withheld = list(getattr(safe, "withheld_groups", []))
            medians = km.median.copy()
            sizes = d.groupby(e.by, observed=True).size()
            medians.insert(1, "n", [int(sizes.get(g, 0)) for g in medians["group"]])
            self.publish("km_median", self.dc.estimates(
                medians, name="median weeks to disengagement", n_column="n",
                value_columns=["median", "ci_low", "ci_high"]))
            self.figures["km"] = km_figure(km, safe.data, label="Share still engaged in support",
                                           times=e.risk_times, withheld=withheld,
                                           threshold=self.threshold)
            self.facts["km"] = {"n": km.n, "events": int(d["disengaged"].sum()),
                                "excluded": km.n_excluded}
            lr = logrank_test(d, duration="weeks_in_support", event="disengaged", by=e.by,
                              strata=e.strata)
            self.facts["logrank"] = {"statistic": lr.statistic, "df": lr.df, "p_value": lr.p_value,
                                     "strata": e.strata}
            if e.cox_covariates:
                cox = fit_cox(d, duration="weeks_in_support", event="disengaged",
                              covariates=e.cox_covariates, strata=e.strata)
                self.model_tables["cox"] = cox.summary
                with self.step("proportional-hazards check"):
                    zph = check_proportional_hazards(cox)
                    self.model_tables["cox_zph"] = zph.table.assign(
                        global_chisq=zph.global_chisq, global_df=zph.global_df,
                        global_p=zph.global_p)
        with self.step("dose-response"):
            from .dose import dose_response

            dr = dose_response(self.analysis, outcome=self.plan.primary_outcome.instrument,
                               sessions=e.sessions, subject=self.id, time=self.time,
                               change=self.plan.time.change, started=e.started,
                               # mode confounds dose through change: adjust its time slope
                               covariates=[self.plan.model.group] if self.plan.model.group else ())
            self.model_tables["dose_response"] = dr.effect
            self.facts["dose"] = dr.effect.iloc[0].to_dict()
            self.figures["dose_response"] = _axes_figure(
                "dose_response", dr.plot, data=dr.curve,
                alt=_dose_alt(dr, self.plan.primary_outcome.instrument, self.plan.time.change))

    # ------------------------------------------------------------------ outcomes
    def _step_outcome(self, o) -> None:
        from .instruments import registry
        from .models.context import context_scan
        from .models.mixed import fit_mixed
        from .models.moderation import change_from_baseline, johnson_neyman, marginal_means
        from .report.figures import forest_figure, jn_figure, qq_figure, trajectory_figure

        inst = o.instrument
        spec = registry.get(inst)
        label = o.label or spec.abbreviation
        facts = self.facts["outcomes"].setdefault(inst, {"label": label, "higher_is": spec.higher_is,
                                                          "primary": o is self.plan.primary_outcome})
        m, tcol, change = self.plan.model, self.time, self.plan.time.change
        # descriptive scores by wave (all referred mothers with a score)
        with self.step(f"{inst}: scores by wave"):
            rows = []
            for wave, grp in self.frame.groupby(self.wave, observed=True, sort=True):
                v = grp[inst].dropna()
                se = v.std() / np.sqrt(len(v)) if len(v) > 1 else np.nan
                rows.append({"wave": wave, "n": len(v), "mean": v.mean() if len(v) else np.nan,
                             "sd": v.std() if len(v) > 1 else np.nan,
                             "ci_low": v.mean() - 1.96 * se, "ci_high": v.mean() + 1.96 * se})
            self.publish(f"{inst}_by_wave", self.dc.estimates(
                pd.DataFrame(rows), name=f"{label} by wave", n_column="n",
                value_columns=["mean", "sd", "ci_low", "ci_high"]))
        data = self.analysis
        with self.step(f"{inst}: average change"):
            overall = fit_mixed(data, outcome=inst, fixed=tcol, subject=self.id, random=m.random,
                                engine=m.engine, simplify=m.simplify)
            ch = change_from_baseline(overall, time=tcol, at=change)
            facts["change"] = ch.iloc[0].to_dict()
            facts["n_model"] = int(overall.n_groups)
            facts["n_obs"] = int(overall.n_obs)
            self.model_tables[f"{inst}_overall_fixed"] = overall.fixed
            self.model_tables[f"{inst}_overall_variance"] = overall.variance_components
            facts["overall_notes"] = list(overall.warnings) + list(overall.simplification)
        with self.step(f"{inst}: primary model"):
            fit = fit_mixed(data, outcome=inst, fixed=m.fixed, subject=self.id, random=m.random,
                            engine=m.engine, simplify=m.simplify)
            self.fits[inst] = fit
            self.model_tables[f"{inst}_fixed"] = fit.fixed
            self.model_tables[f"{inst}_variance"] = fit.variance_components
            facts["model"] = {"formula": fit.spec.describe(), "converged": fit.converged,
                              "singular": fit.singular, "warnings": list(fit.warnings),
                              "simplification": list(fit.simplification),
                              "exclusions": fit.exclusions, "loglik": fit.loglik, "aic": fit.aic,
                              "n_obs": fit.n_obs, "n_groups": fit.n_groups}
            if m.group and m.group in m.fixed:
                by_group = change_from_baseline(fit, time=tcol, at=change, by=m.group)
                # mothers contributing to the model: at least one score in the window
                sizes = data.dropna(subset=[inst]).drop_duplicates(self.id)[m.group].value_counts()
                by_group.insert(1, "n_participants",
                                [int(sizes.get(g, 0)) for g in by_group[m.group]])
                by_group[m.group] = [self.level_label(m.group, g) for g in by_group[m.group]]
                self.publish(f"{inst}_change_by_{m.group}", self.dc.estimates(
                    by_group, name=f"change in {label} by {self.label(m.group)}",
                    n_column="n_participants",
                    value_columns=["estimate", "std_error", "df", "statistic", "p_value",
                                   "ci_low", "ci_high"]))
            grid = np.linspace(change[0], change[1], 7)
            means = marginal_means(fit, at={tcol: list(grid)},
                                   by=m.group if m.group and m.group in m.fixed else None)
            tgroup = m.group if m.group and m.group in m.fixed else None
            tdata = data
            if tgroup:      # readers see the dictionary's labels, not the codes
                tdata = data.assign(**{tgroup: data[tgroup].map(
                    lambda v: self.level_label(tgroup, v) if v == v and v is not None else v)})
                means = means.assign(**{tgroup: [self.level_label(tgroup, v) for v in means[tgroup]]})
            for audience, individuals in (("impact", False), ("technical", True)):
                self.figures[f"{inst}_trajectory_{audience}"] = trajectory_figure(
                    tdata, means, outcome=inst, label=_axis_label(spec, label), subject=self.id,
                    time=tcol, group=tgroup, individuals=individuals, seed=self.plan.seed)
            resid = fit.residuals()
            self.figures[f"{inst}_qq_residuals"] = qq_figure(
                resid.dropna().to_numpy(), label=f"{label}: residuals", name=f"{inst}_qq_residuals")
            blups = fit.blups
            for col in blups.columns[:2]:
                self.figures[f"{inst}_qq_{_slug(col)}"] = qq_figure(
                    blups[col].to_numpy(), label=f"{label}: random effect {col}",
                    name=f"{inst}_qq_{_slug(col)}")
        rules = spec.change
        if rules.reliable_change is None and rules.rci_sd is None:
            self.failure_rows.append((f"{inst}: reliable change", f"{inst} has no published "
                                      "reliable-change rule in its spec, so individual change is not "
                                      "classified; average change is still reported"))
        else:
            self._reliable_change(inst, label, facts, spec)
        facts["mid"] = spec.change.mid_improvement
        facts["norms"] = [(n.population, n.mean, n.sd) for n in spec.norms if n.scale in (None, inst)]
        with self.step(f"{inst}: effects by context"):
            contexts = [c for c in self._contexts() if c in data]
            scan = context_scan(data, outcomes=[inst], contexts=contexts, subject=self.id,
                                time=tcol, random=m.random, change=change,
                                min_n=max(self.plan.contexts.min_group_size, self.threshold),
                                adjust=self.plan.contexts.adjust, wave=self.wave,
                                waves=(self.plan.time.baseline_wave, self.plan.time.end_wave))
            scan["level"] = [self.level_label(c, lv) if lv is not None else lv
                             for c, lv in zip(scan["context"], scan["level"])]
            safe = self.dc.estimates(scan, name=f"change in {label} by context",
                                     n_column="n_participants",
                                     value_columns=["estimate", "std_error", "df", "ci_low", "ci_high",
                                                    "p_value", "reliable_improvement",
                                                    "reliable_deterioration", "n_change"],
                                     status_column="status")
            self.publish(f"{inst}_by_context", safe)
            facts["scan"] = safe.data
            self.figures[f"{inst}_forest"] = forest_figure(
                safe.data, outcome=inst, label=label, threshold=self.threshold,
                reference=facts.get("change", {}).get("estimate"))
        for moderator in self.plan.contexts.johnson_neyman:
            with self.step(f"{inst}: Johnson-Neyman ({moderator})"):
                jfit = fit_mixed(data, outcome=inst, fixed=f"{tcol} * {moderator}", subject=self.id,
                                 random=m.random, engine=m.engine, simplify=m.simplify)
                jn = johnson_neyman(jfit, effect=tcol, moderator=moderator, change=change)
                self.model_tables[f"{inst}_jn_{moderator}"] = jn.bounds
                self.figures[f"{inst}_jn_{moderator}"] = jn_figure(
                    jn, label=label, moderator_label=self.label(moderator))

    def _reliable_change(self, inst: str, label: str, facts: dict, spec) -> None:
        from .change import change_summary, reliable_change
        from .report.figures import reliable_change_figure

        m = self.plan.model
        with self.step(f"{inst}: reliable change"):
            base, end = self.plan.time.baseline_wave, self.plan.time.end_wave
            wide = self.frame.pivot(index=self.id, columns=self.wave, values=inst)
            people = self._people().set_index(self.id).reindex(wide.index)
            rc = reliable_change(wide[base], wide[end], instrument=inst)
            group = None
            if m.group and m.group in people:
                group = people[m.group].map(lambda v: self.level_label(m.group, v)).astype(object)
                group = group.where(people[m.group].notna(), "not started")
            summary = change_summary(rc, group=None if group is None else group.to_numpy())
            summary = summary[summary["outcome"].isin(_RC_OUTCOMES)].reset_index(drop=True)
            safe = self.dc.counts(summary, name=f"reliable change in {label}", count_columns=["count"],
                                  percent_columns={"count": ["proportion", "ci_low", "ci_high"]},
                                  groups=["group"])
            safe = self.dc.estimates(safe.data, name=f"reliable change in {label} (groups)",
                                     n_column="n", value_columns=["count", "proportion", "ci_low",
                                                                   "ci_high"],
                                     previous=safe)
            self.publish(f"{inst}_reliable_change", safe)
            facts["reliable_change"] = summary[summary["group"] == "all"].set_index("outcome")
            facts["rc_threshold"] = rc.threshold
            facts["rc_method"] = rc.method
            self.figures[f"{inst}_reliable_change"] = reliable_change_figure(
                safe.data, label=label, threshold=self.threshold)

    # ------------------------------------------------------------------ mechanisms
    def _step_mechanisms(self) -> None:
        mp = self.plan.mechanisms
        if mp is None:
            return
        items = mp.items if mp.items != "all" else [v.name for v in self.dd.by_role("mechanism")]
        items = [i for i in items if i in self.frame]
        if not items:
            return
        at = self.frame[self.frame[self.wave] == mp.wave]
        if self.started_col:
            at = at[at[self.started_col].eq(True)]
        group = self.plan.model.group
        with self.step("mechanisms"):
            rows = []
            for item in items:
                for level, grp in [("all", at), *(
                        [(g, d) for g, d in at.groupby(group, observed=True)] if group in at else [])]:
                    v = grp[item].dropna()
                    rows.append({"mechanism": item, "label": _mechanism_label(item),
                                 "group": level if level == "all" else self.level_label(group, level),
                                 "n": int(len(v)), "mean": v.mean() if len(v) else np.nan,
                                 "sd": v.std() if len(v) > 1 else np.nan,
                                 "agree": int((v >= 3).sum()),
                                 "percent_agree": 100 * (v >= 3).mean() if len(v) else np.nan})
            table = pd.DataFrame(rows)
            safe = self.dc.estimates(table, name="mechanism ratings", n_column="n",
                                     value_columns=["mean", "sd", "agree", "percent_agree"])
            safe = self.dc.counts(safe.data, name="mechanism ratings (agree)", count_columns=["agree"],
                                  percent_columns={"agree": ["percent_agree"]},
                                  groups=["mechanism", "group"], previous=safe)
            self.publish("mechanisms", safe)
            self.facts["mechanisms"] = safe.data[safe.data["group"] == "all"]
        if mp.mediation:
            with self.step("mechanisms: mediation"):
                from .models.mediation import mediation

                inst = self.plan.primary_outcome.instrument
                wide = self.frame.pivot(index=self.id, columns=self.wave, values=inst)
                per = at.set_index(self.id)[items].join(
                    (wide[self.plan.time.end_wave] - wide[self.plan.time.baseline_wave]).rename("change"))
                per = per.join(wide[self.plan.time.baseline_wave].rename("baseline"))
                e = self.plan.engagement
                per = per.join(self._people().set_index(self.id)[[e.sessions]]) if e else per
                res = mediation(per.reset_index(), exposure=e.sessions if e else items[0],
                                mediators=items, outcome="change", covariates=["baseline"],
                                n_boot=mp.bootstrap, seed=self.plan.seed, progress=False)
                self.model_tables["mediation"] = res.to_frame()
                self.facts["mediation"] = res.describe()

    # ------------------------------------------------------------------ attrition
    def _step_attrition(self) -> None:
        from .attrition import attrition_model, compare_completers, missingness_patterns
        from .report.figures import missingness_figure

        inst = self.plan.primary_outcome.instrument
        base, end = self.plan.time.baseline_wave, self.plan.time.end_wave
        population = self.frame
        if self.started_col:
            population = population[population[self.started_col].eq(True)]
        with self.step("attrition: patterns"):
            patterns = missingness_patterns(population, outcome=inst, subject=self.id, wave=self.wave)
            safe = self.dc.counts(patterns, name="missingness patterns", count_columns=["n_participants"],
                                  percent_columns={"n_participants": ["percent"]})
            self.publish("missingness_patterns", safe)
            self.figures["missingness"] = missingness_figure(safe.data, label=inst)
        compare = self.plan.attrition.compare
        if compare == "all":
            compare = [*[o.instrument for o in self.plan.outcomes], *self._contexts()]
        with self.step("attrition: completers vs non-completers"):
            cmp = compare_completers(population, outcome=inst, variables=compare, subject=self.id,
                                     wave=self.wave, baseline=base, end=end)
            cmp["level"] = [self.level_label(v, lv) if lv is not None else lv
                            for v, lv in zip(cmp["variable"], cmp["level"])]
            self.publish("completers", self.dc.estimates(
                cmp.assign(n_smallest=cmp[["n_completers", "n_non_completers"]].min(axis=1)),
                name="completers vs non-completers", n_column="n_smallest",
                value_columns=["completers", "non_completers", "sd_completers", "sd_non_completers",
                               "std_difference"]))
            self.facts["completers"] = cmp
        predictors = self.plan.attrition.predictors
        if predictors:
            with self.step("attrition: model of having an end score"):
                am = attrition_model(population, outcome=inst, predictors=predictors,
                                     subject=self.id, wave=self.wave, end=end, baseline=base)
                self.model_tables["attrition_model"] = am.table
                self.facts["attrition_model"] = {"n": am.n, "n_excluded": am.n_excluded,
                                                 "n_events": am.n_events}

    # ------------------------------------------------------------------ sensitivity
    def _step_sensitivity(self) -> None:
        mi = self.plan.sensitivity.multiple_imputation
        if mi is None:
            return
        from .models.missing import fit_imputed, multiple_imputation, tipping_point
        from .models.mixed import fit_mixed
        from .models.moderation import change_from_baseline

        inst = self.plan.primary_outcome.instrument
        m, tcol, change = self.plan.model, self.time, self.plan.time.change

        def fit(d):
            return fit_mixed(d, outcome=inst, fixed=tcol, subject=self.id, random=m.random,
                             engine=m.engine, simplify=m.simplify)

        def estimate(f):
            return change_from_baseline(f, time=tcol, at=change).assign(term="change")

        with self.step("multiple imputation"):
            predictors = [p for p in mi.predictors if p in self.analysis] or \
                [o.instrument for o in self.plan.outcomes if o.instrument != inst]
            imputed = multiple_imputation(self.analysis, outcome=inst, predictors=predictors,
                                          subject=self.id, wave=self.wave, time=tcol, m=mi.m,
                                          iterations=mi.iterations, method=mi.method,
                                          seed=self.plan.seed, progress=self.progress)
            pooled = fit_imputed(imputed, fit=fit, estimate=estimate, progress=self.progress)
            cc = self.facts["outcomes"][inst].get("change", {})
            table = pd.concat([
                pd.DataFrame([{"analysis": "available data (mixed model, missing at random)", **{
                    k: cc.get(k) for k in ("estimate", "std_error", "df", "ci_low", "ci_high",
                                           "p_value")}}]),
                pooled.table.assign(analysis=f"multiple imputation (m = {mi.m})")[
                    ["analysis", "estimate", "std_error", "df", "ci_low", "ci_high", "p_value"]],
            ], ignore_index=True)
            self.model_tables["sensitivity_mi"] = table
            self.model_tables["imputation_missing"] = imputed.n_missing
            self.model_tables["imputation_diagnostics"] = imputed.diagnostics
            self.facts["mi"] = {"table": table, "m": mi.m, "predictors": predictors}
        tp = self.plan.sensitivity.tipping_point
        if tp is not None and "mi" in self.facts:
            with self.step("tipping point"):
                tip = tipping_point(imputed, fit=fit, estimate=estimate, deltas=tp.deltas,
                                    wave=self.plan.time.end_wave, progress=self.progress)
                self.model_tables["tipping_point"] = tip.table
                self.facts["tipping"] = {"delta": tip.tipping_delta, "text": tip.describe()}
                self.figures["tipping_point"] = _axes_figure(
                    "tipping_point", tip.plot, data=tip.table, alt=tip.describe())

    # ------------------------------------------------------------------ output
    def _write(self) -> RunResult:
        from .report.render import render_reports

        import dataclasses

        # One file stem per figure, from the run's own key (two outcomes share a figure kind).
        self.figures = {k: dataclasses.replace(f, name=k) for k, f in self.figures.items()}
        tables_dir, fig_dir = self.out / "tables", self.out / "figures"
        for name, safe in sorted(self.tables.items()):
            path = tables_dir / f"{name}.csv"
            safe.to_csv(path)
            self.written.append(path)
        for name, table in sorted(self.model_tables.items()):
            path = tables_dir / f"model_{name}.csv"
            _safe_model_table(table).to_csv(path, **_CSV)
            self.written.append(path)
        for name, fig in sorted(self.figures.items()):
            self.written.extend(fig.save(fig_dir))
        log = self.dc.log
        log_path = self.out / "suppression_log.csv"
        log.to_csv(log_path, **_CSV)
        self.written.append(log_path)
        warn = _warning_table(self.warning_rows)
        failures = pd.DataFrame(self.failure_rows, columns=["step", "message"])
        provenance = self._provenance()
        prov_path = self.out / "provenance.json"
        prov_path.write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n",
                             encoding="utf-8")
        self.written.append(prov_path)
        self.written.extend(render_reports(self, warnings=warn, failures=failures,
                                           provenance=provenance))
        for fig in self.figures.values():
            fig.close()
        published = {name: safe.data for name, safe in self.tables.items()}
        return RunResult(out=self.out, files=self.written, tables=published, warnings=warn,
                         failures=failures, suppression_log=log, facts=self.facts,
                         timings=dict(self.timings))

    def _provenance(self) -> dict:
        import importlib.metadata as md

        versions = {"python": platform.python_version()}
        for pkg in ("evalkit", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib",
                    "formulaic", "pydantic", "jinja2"):
            try:
                versions[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                versions[pkg] = "not installed"
        files = {f.name: _sha256(f) for f in self.plan.data_files()}
        files[Path(self.plan.data.dictionary).name] = _sha256(self.plan.path(self.plan.data.dictionary))
        return {"programme": self.plan.programme, "plan": Path(self.plan.source).name
                if self.plan.source else None, "plan_sha256": self.plan.sha256,
                "data_sha256": files, "seed": self.plan.seed, "versions": versions,
                "suppression_threshold": self.threshold,
                "plan_settings": self.plan.model_dump(mode="json")}


# ---------------------------------------------------------------------- helpers
def _one_line(message) -> str:
    text = str(message).strip()
    return " ".join(text.split())


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) \
        and not isinstance(s.dtype, pd.CategoricalDtype)


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    if pd.api.types.is_bool_dtype(s) or set(s.dropna().unique()) <= {True, False}:
        return [True, False]
    return sorted(s.dropna().unique(), key=str)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text)).strip("_").lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _axis_label(spec, label: str) -> str:
    lo, hi = spec.scales[0].range if getattr(spec.scales[0], "range", None) else (None, None)
    rng = f"{lo:g}–{hi:g}, " if lo is not None else ""
    return f"{label} ({rng}higher = {spec.higher_is})"


def _warning_table(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["step", "category", "message", "count"])
    frame = pd.DataFrame(rows, columns=["step", "category", "message"])
    return (frame.groupby(["step", "category", "message"], sort=False).size()
            .rename("count").reset_index())


def _safe_model_table(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    return pd.DataFrame(table)


def _axes_figure(name: str, plot, *, data: pd.DataFrame, alt: str):
    """Wrap a result's own ``.plot(ax=)`` as a ReportFigure (same size, palette and saving rules)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from .report.figures import STYLE, WIDTH, ReportFigure

    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 4.2))
        ax = fig.add_subplot()
        plot(ax=ax)
        fig.tight_layout()
    return ReportFigure(name=name, figure=fig, alt=alt, data=data)


def _dose_alt(dr, outcome: str, change) -> str:
    e = dr.effect.iloc[0]
    return (f"Dose-response: each extra session attended went with {e['estimate']:+.2f} points more "
            f"change in {outcome} over weeks {change[0]:g} to {change[1]:g} (95% CI "
            f"{e['ci_low']:.2f} to {e['ci_high']:.2f}); this association among mothers who started "
            f"is not proof that more sessions cause more change.")


def _mechanism_label(item: str) -> str:
    # Item-set labels are generic ("checklist, item 1"); the column names carry the mechanism.
    return item.removeprefix("mech_").replace("_", " ")
