"""Analysis plans: the YAML an evaluator writes (or copies) to describe one evaluation end to end.

A plan names the data and dictionary, the outcomes, how time is coded, the primary model, the
contexts to scan, the mechanisms, how engagement is defined, the sensitivity analyses and the report
options. :meth:`AnalysisPlan.from_yaml` checks it twice and reports every mistake at once, each with
its key path and line number: first its shape (unknown keys — with the nearest valid key suggested —,
wrong types, missing keys), then its meaning against the data dictionary and the instrument
registry (an outcome the dictionary does not measure, a context that is not a variable, a wave that
does not exist). ``evalkit run PLAN`` (see :mod:`evalkit.runner`) executes it.

Paths in a plan are relative to the plan file, so a plan and its data can move together.

``report: {pdf: true}`` also prints each report to A4 PDF (``impact.pdf``, ``technical.pdf``, in the
report folder and its manifest) with the system Chromium (:mod:`evalkit.report.pdf`); ``evalkit run
PLAN --pdf`` (or ``--no-pdf``) overrides it for one run. A PDF that cannot be printed is listed
among the analyses not done; the HTML reports are written all the same.

Examples
--------
>>> from evalkit.plan import AnalysisPlan
>>> plan = AnalysisPlan.from_dict({
...     "programme": "Example peer support",
...     "data": {"dictionary": "data_dictionary.yaml",
...              "files": {"participants": "p.csv", "responses": "r.csv"}},
...     "outcomes": [{"instrument": "wemwbs", "primary": True}, {"instrument": "epds"}]})
>>> plan.primary_outcome.instrument, plan.report.suppression_threshold
('wemwbs', 5)
>>> AnalysisPlan.from_dict({"programme": "x", "data": {"dictionary": "d.yaml", "files": ["a.csv"]},
...                         "outcomes": [{"instrument": "wemwbs"}], "contxts": {}})
Traceback (most recent call last):
...
evalkit.errors.PlanError: plan: 1 problem in the analysis plan
  contxts: unknown key 'contxts' (did you mean 'contexts'?)
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from ._config import _dotted, _nearest_line, _problem_report, _pydantic_problems, _read_yaml
from .dictionary import DataDictionary
from .errors import DictionaryError, PlanError
from .session_log import derived_columns
from .plan_power import UNION_PARTS, PowerSection
from .plan_random import (check_random, grouping_columns, mother_random, order_problems,
                          several_terms)

__all__ = ["AnalysisPlan", "load_plan"]


MIN_BOOTSTRAP = 200
"""Fewest bootstrap resamples a plan may ask for (percentile limits from fewer are unstable)."""

KENWARD_ROGER_BELOW = 1000
"""``model.ddf: auto`` uses Kenward–Roger for a model with fewer participants than this.

Why 1,000: emmeans, the R package analysts use for these tables, uses Kenward–Roger for ``lmer``
fits by default unless the model has more than 3,000 observations (its ``pbkrtest.limit``, a
computing limit: pbkrtest forms n × n matrices), and these programmes collect about three scores
per mother in the modelled window (baseline, mid, end), so 3,000 observations is about 1,000 mothers:
below it evalkit gives what emmeans' defaults give. Above it the adjustment no longer matters
(Kenward–Roger widens slope standard errors by 3–8 % at 30 mothers but 0.4 % at 300 in the
reference cohorts, shrinking like 1/mothers), and Satterthwaite is lmerTest's default. evalkit's
Kenward–Roger costs O(mothers) (:mod:`evalkit.models.kenward_roger`), so cost is not the reason."""


class _Section(BaseModel):
    # inf and nan are never meaningful in a plan (weeks, shifts, percentages)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _nums(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _unique(values, what: str):
    """Refuse a list naming something twice (each would be analysed, counted or drawn twice)."""
    if isinstance(values, (list, tuple)):
        twice = sorted({str(v) for v in values if list(values).count(v) > 1})
        if twice:
            raise ValueError(f"{what} {', '.join(map(repr, twice))} listed more than once; "
                             "name each once")
    return values


class DatabaseSource(_Section):
    """A dataset read from a database: ``{url: ..., table: ...}`` or ``{url: ..., query: ...}``.

    See :mod:`evalkit.io_sql`: ``url`` is a SQLAlchemy or DuckDB URL (relative database files are
    relative to the plan), ``key`` the column(s) naming a row in problem reports.
    """

    url: str
    table: str | None = None
    query: str | None = None
    key: str | list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of `table` (a table or view name) and `query` (a "
                             "select statement)")
        return self

    def source(self, base_dir: str):
        """The :class:`evalkit.io_sql.SqlSource` this describes, relative paths from ``base_dir``."""
        from .io_sql import SqlSource

        return SqlSource(url=self.url, table=self.table, query=self.query, key=self.key or (),
                         base_dir=base_dir)


class DataSection(_Section):
    """Where the data are: the dictionary and one file (or database source) per dataset.

    Paths are relative to the plan; a dataset may instead be a :class:`DatabaseSource`.
    """

    dictionary: str
    files: dict[str, str | DatabaseSource] | list[str | DatabaseSource] = Field(min_length=1)
    on_problems: Literal["stop", "exclude"] = "stop"
    """``stop``: any validation problem stops the run (listing them all); ``exclude``: invalid
    cells become missing, invalid rows are excluded, and both are counted in the flow and report."""


class OutcomeSection(_Section):
    instrument: str
    primary: bool = False
    label: str | None = None


class TimeSection(_Section):
    column: str = "weeks"
    baseline_wave: str = "baseline"
    end_wave: str = Field("end", validate_default=True)
    change: tuple[float, float] = (0.0, 12.0)

    @field_validator("end_wave")
    @classmethod
    def _two_waves(cls, v, info: ValidationInfo):
        if v == info.data.get("baseline_wave"):
            raise ValueError(f"end_wave is the baseline wave ({v!r}); change needs two different "
                             "waves, e.g. baseline_wave: baseline, end_wave: end")
        return v

    @field_validator("change")
    @classmethod
    def _ordered(cls, v):
        if not v[0] < v[1]:
            raise ValueError(f"change must be [start, end] with start < end, got {list(v)}")
        return v


class ModelSection(_Section):
    fixed: str = "weeks * delivery_mode"
    random: str = "weeks"
    """The random effects: the short form gives the mother's own (``weeks``: intercept and slope;
    ``1``: intercept), or terms in lme4's syntax with their grouping factors, the mother's first:
    ``(1 + weeks | participant_id) + (1 | volunteer_id)`` (:mod:`evalkit.plan_random`). Several
    terms are fitted in the primary models of change; the context scan, Johnson–Neyman and the
    imputation models keep the mother's term only (:meth:`mother_random`)."""
    group: str | None = "delivery_mode"
    population: Literal["started", "all"] = "started"
    engine: Literal["fast", "statsmodels"] = "fast"
    """Mixed-model engine: ``fast`` (evalkit's; lme4/lmerTest's estimates, SEs and df) or
    ``statsmodels`` (MixedLM, a cross-check: z-tests without small-sample df, and SEs that differ
    from lme4's on unbalanced data -- measured up to 3.3 % with 30 mothers, under 1 % with a few
    hundred or more). Report with ``fast``."""
    simplify: bool = True
    variance_bootstrap: int = Field(200, ge=0)
    """Parametric-bootstrap refits for the 95% CIs of the variation by level (volunteers, sites)
    when ``random`` has several terms (:mod:`evalkit.models.variance_share`); 0: no CI."""
    ddf: Literal["auto", "satterthwaite", "kenward-roger"] = "auto"
    """Denominator df of the mixed models' tests and intervals: ``kenward-roger`` (adjusted standard
    errors and df, pbkrtest; the small-sample method), ``satterthwaite`` (lmerTest's default), or
    ``auto``: Kenward–Roger when the model has fewer than :data:`KENWARD_ROGER_BELOW` (1,000)
    participants, Satterthwaite otherwise (always Satterthwaite when ``random`` has several
    terms; ``kenward-roger`` works for them too). Used for the primary models of each outcome;
    the statsmodels engine has z tests only."""

    @field_validator("random")
    @classmethod
    def _random_terms(cls, v):
        return check_random(v)

    @field_validator("engine")
    @classmethod
    def _engine_terms(cls, v, info: ValidationInfo):
        if v == "statsmodels" and several_terms(info.data.get("random")):
            raise ValueError("engine: statsmodels takes one grouping factor, but model.random has "
                             "several terms; use engine: fast, or keep only the mother's term")
        return v

    @field_validator("ddf")
    @classmethod
    def _ddf_engine(cls, v, info: ValidationInfo):
        if v == "kenward-roger" and info.data.get("engine") == "statsmodels":
            raise ValueError("ddf: kenward-roger needs engine: fast (the statsmodels engine reports "
                             "z tests)")
        return v

    @property
    def several_terms(self) -> bool:
        """Whether ``random`` has more than one random-effects term (e.g. volunteers as well)."""
        return several_terms(self.random)

    def mother_random(self, id_column: str) -> str:
        """The mother's own random effects (for the secondary models); see
        :func:`evalkit.plan_random.mother_random`."""
        return mother_random(self.random, id_column)

    def ddf_for(self, participants: int) -> str:
        """The df method for a model of ``participants`` (``auto`` resolved: Kenward–Roger below
        :data:`KENWARD_ROGER_BELOW`, with one random-effects term or several,
        :mod:`evalkit.models.kenward_roger_terms`)."""
        if self.ddf != "auto":
            return self.ddf
        return "kenward-roger" if participants < KENWARD_ROGER_BELOW else "satterthwaite"


class ContextSection(_Section):
    variables: list[str] | Literal["all"] = "all"
    min_group_size: int = Field(10, ge=2)
    adjust: Literal["bh", "holm", "bonferroni", "none"] = "bh"
    johnson_neyman: list[str] = []

    @field_validator("variables", "johnson_neyman")
    @classmethod
    def _once(cls, v):
        return _unique(v, "variable(s)")


class MechanismSection(_Section):
    items: list[str] | Literal["all"] = "all"
    wave: str = "end"
    mediation: bool = True
    bootstrap: int = 500

    @field_validator("items")
    @classmethod
    def _once(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("items is empty; name the mechanism ratings to analyse, or write "
                             "'all' (every variable with role mechanism), or remove the "
                             "mechanisms section")
        return _unique(v, "item(s)")

    @field_validator("bootstrap")
    @classmethod
    def _enough(cls, v):
        if v < MIN_BOOTSTRAP:
            raise ValueError(f"bootstrap is {v}, but bootstrap confidence intervals need at least "
                             f"{MIN_BOOTSTRAP} resamples (1000 or more recommended); set "
                             "bootstrap: 1000")
        return v


class EngagementSection(_Section):
    started: str = "started"
    sessions: str = "sessions_attended"
    start: str = "first_session_on"
    stop: str = "last_session_on"
    reason: str = "exit_reason"
    disengaged: list[str] = ["disengaged"]
    by: str = "delivery_mode"
    strata: str | None = None
    cox_covariates: list[str] = []
    risk_times: list[float] = Field([0, 4, 8, 12, 16], min_length=1)

    @field_validator("disengaged")
    @classmethod
    def _some_reason(cls, v):
        if not v:
            raise ValueError("disengaged is empty; list the exit reason(s) that count as "
                             "disengaging, e.g. [disengaged]")
        return _unique(v, "reason(s)")

    @field_validator("cox_covariates")
    @classmethod
    def _once(cls, v):
        return _unique(v, "covariate(s)")

    @field_validator("risk_times")
    @classmethod
    def _weeks(cls, v):
        problems = []
        if any(t < 0 for t in v):
            problems.append("include a negative week (they are weeks since support started)")
        if list(v) != sorted(set(v)):
            problems.append("must be in increasing order, each week once")
        if problems:
            fixed = _nums(sorted({max(t, 0.0) for t in v}))
            raise ValueError(f"risk_times {_nums(v)} {' and '.join(problems)}; e.g. {fixed}")
        return v


class AttritionSection(_Section):
    compare: list[str] | Literal["all"] = "all"
    predictors: list[str] = []


class ImputationSection(_Section):
    m: int = 20
    iterations: int = 10
    predictors: list[str] = []
    method: Literal["pmm", "norm"] = "pmm"

    @field_validator("m")
    @classmethod
    def _pool(cls, v):
        if v < 2:
            raise ValueError(f"m is {v}, but pooling needs at least 2 imputed data sets (20 or "
                             "more recommended); set m: 20")
        return v

    @field_validator("iterations")
    @classmethod
    def _cycles(cls, v):
        if v < 1:
            raise ValueError(f"iterations is {v}; the imputation needs at least 1 cycle (10 is "
                             "usual); set iterations: 10")
        return v

    @field_validator("predictors")
    @classmethod
    def _once(cls, v):
        return _unique(v, "predictor(s)")


class TippingSection(_Section):
    deltas: list[float] = [0, -1, -2, -3, -4, -5, -6, -8, -10]

    @field_validator("deltas")
    @classmethod
    def _shifts(cls, v):
        problems = []
        if not any(d != 0 for d in v):
            problems.append("need at least one non-zero shift (points worse than missing at "
                            "random predicts)")
        if any(d > 0 for d in v) and any(d < 0 for d in v):
            problems.append("mix positive and negative shifts (give one direction: all <= 0 "
                            "where higher scores are better)")
        twice = sorted({d for d in v if v.count(d) > 1})
        if twice:
            problems.append(f"list {_nums(twice)} more than once")
        if problems:
            raise ValueError(f"deltas {_nums(v)} {' and '.join(problems)}; e.g. "
                             "[0, -2, -4, -6, -8, -10]")
        return v


class SensitivitySection(_Section):
    multiple_imputation: ImputationSection | None = ImputationSection()
    tipping_point: TippingSection | None = TippingSection()


class PopulationComparison(_Section):
    source: str
    percent: dict[str, float] = Field(min_length=1)

    @field_validator("percent")
    @classmethod
    def _percentages(cls, v):
        bad = {k: p for k, p in v.items() if not 0 <= p <= 100}
        if bad:
            raise ValueError(f"percentages must lie between 0 and 100; got {bad}")
        return v


class ReportSection(_Section):
    audience: list[Literal["impact", "technical"]] = ["impact", "technical"]
    suppression_threshold: int = 5

    @field_validator("audience")
    @classmethod
    def _once(cls, v):
        if not v:
            raise ValueError("audience is empty; list the reports to write: [impact, technical]")
        return _unique(v, "report(s)")

    @field_validator("suppression_threshold")
    @classmethod
    def _protects(cls, v):
        if v < 1:
            raise ValueError(f"suppression_threshold is {v}; it must be at least 1 (counts below "
                             "it are hidden; 5 is usual, 10 for very small areas)")
        return v
    population: dict[str, PopulationComparison] = {}
    contact: str | None = None
    pdf: bool = False           # also print each report to A4 PDF (evalkit.report.pdf)


class AnalysisPlan(_Section):
    """A validated analysis plan. Build with :meth:`from_yaml` (or :meth:`from_dict`)."""

    programme: str
    organisation: str | None = None
    period: str | None = None
    seed: int = 1
    data: DataSection
    outcomes: list[OutcomeSection] = Field(min_length=1)
    time: TimeSection = TimeSection()
    model: ModelSection = ModelSection()
    contexts: ContextSection = ContextSection()
    mechanisms: MechanismSection | None = MechanismSection()
    engagement: EngagementSection | None = EngagementSection()
    attrition: AttritionSection = AttritionSection()
    sensitivity: SensitivitySection = SensitivitySection()
    report: ReportSection = ReportSection()
    power: PowerSection | None = None
    """The design of the next evaluation (``evalkit power PLAN``; :mod:`evalkit.plan_power`)."""

    # where the plan came from (not part of the YAML)
    source: str | None = Field(None, exclude=True)
    base_dir: str = Field(".", exclude=True)
    sha256: str | None = Field(None, exclude=True)
    _lines: dict = PrivateAttr(default_factory=dict)   # key path -> line in the plan file

    @field_validator("seed")
    @classmethod
    def _seed(cls, v):
        if v < 0:
            raise ValueError(f"seed is {v}; it must be a whole number >= 0, e.g. seed: 1")
        return v

    @field_validator("outcomes")
    @classmethod
    def _one_primary(cls, outcomes):
        # a field validator (not a model validator), so it runs, and reports, alongside every
        # other problem of the plan
        message = _outcome_problems([(o.instrument, o.primary) for o in outcomes])
        if message:
            raise ValueError(message)
        return outcomes

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> "AnalysisPlan":
        """Read and check a plan file; :class:`~evalkit.errors.PlanError` lists every mistake."""
        path = Path(path)
        data, lines, raw = _read_yaml(path, PlanError)
        return cls.from_dict(data, source=str(path), base_dir=str(path.resolve().parent),
                             sha256=hashlib.sha256(raw).hexdigest(), _lines=lines)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None, base_dir: str = ".",
                  sha256: str | None = None, _lines: dict | None = None) -> "AnalysisPlan":
        """Check a plan given as a mapping with the YAML's structure."""
        where = source or "plan"
        if not isinstance(data, Mapping):
            raise PlanError(f"{where}: an analysis plan is a YAML mapping (key: value), "
                            f"not {type(data).__name__}; start from analyses/example_plan.yaml")
        lines = _lines or {}
        problems = []
        payload = {}
        for key, value in data.items():
            if not isinstance(key, str):
                problems.append((_dotted((key,)), _nearest_line((key,), lines),
                                 f"key {key!r} is not a name; top-level keys are "
                                 f"{', '.join(_fields(AnalysisPlan, ()))}"))
            elif key in ("source", "base_dir", "sha256"):  # set by evalkit, never by the plan
                problems.append((key, _nearest_line((key,), lines), f"unknown key {key!r}"
                                 f"{_suggest(key, _fields(AnalysisPlan, ()))}"))
            else:
                payload[key] = value
        try:
            plan = cls.model_validate({**payload, "source": source, "base_dir": base_dir,
                                       "sha256": sha256})
        except ValidationError as exc:
            problems.extend(_problems(exc, lines))
            # an outcome with a mistake stops pydantic before the list-wide checks: run them here
            # too, so a duplicate outcome is reported with the rest (the same problem twice is
            # listed once)
            outcomes = payload.get("outcomes")
            if isinstance(outcomes, list) and all(isinstance(o, Mapping) for o in outcomes):
                message = _outcome_problems([(o.get("instrument"), o.get("primary") is True)
                                             for o in outcomes if "instrument" in o])
                if message:
                    problems.append(("outcomes", _nearest_line(("outcomes",), lines), message))
        if problems:
            raise _plan_error(where, problems) from None
        plan._lines = dict(lines)
        return plan

    # ------------------------------------------------------------------ derived
    @property
    def primary_outcome(self) -> OutcomeSection:
        """The outcome marked ``primary`` (or the first one)."""
        return next((o for o in self.outcomes if o.primary), self.outcomes[0])

    def path(self, relative: str) -> Path:
        """A path from the plan, resolved against the plan file's folder."""
        p = Path(relative)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def dictionary(self) -> DataDictionary:
        """Load the plan's data dictionary."""
        return DataDictionary.from_yaml(self.path(self.data.dictionary))

    def data_files(self) -> list[Path]:
        """The plan's data files (database sources are not files: see :meth:`data_inputs`)."""
        files = self.data.files
        return [self.path(f) for f in (files.values() if isinstance(files, dict) else files)
                if isinstance(f, str)]

    def data_inputs(self) -> dict | list:
        """What :func:`evalkit.validate` reads: file paths and database sources, as the plan names them."""
        def one(f):
            return self.path(f) if isinstance(f, str) else f.source(str(Path(self.base_dir).resolve()))
        files = self.data.files
        return ({k: one(v) for k, v in files.items()} if isinstance(files, dict)
                else [one(f) for f in files])

    def check(self, dictionary: DataDictionary) -> None:
        """Check the plan's names against the dictionary and the instrument registry.

        Raises :class:`~evalkit.errors.PlanError` listing every name that does not resolve.
        """
        from .instruments import registry

        lines = self._lines
        if not lines and self.source and Path(self.source).is_file():
            try:   # a plan built with from_dict(source=...): its file's line numbers, if readable
                lines = _read_yaml(self.source, PlanError)[1]
            except PlanError:
                lines = {}
        problems: list[tuple[str, int | None, str]] = []

        def bad(path: tuple, message: str) -> None:
            problems.append((_dotted(path), _nearest_line(path, lines), message))

        names = {v.name for v in dictionary.variables()}
        measured = set(dictionary.instruments())
        known = set(registry.available())
        for i, o in enumerate(self.outcomes):
            if o.instrument not in known:
                bad(("outcomes", i, "instrument"), f"unknown instrument {o.instrument!r}"
                    f"{_suggest(o.instrument, known)}; evalkit knows {sorted(known)}")
            elif o.instrument not in measured:
                bad(("outcomes", i, "instrument"), f"instrument {o.instrument!r} is not in the data "
                    f"dictionary's item sets (it has {sorted(measured)})")
        waves = [w.name for w in dictionary.waves]
        for key in ("baseline_wave", "end_wave"):
            value = getattr(self.time, key)
            if value not in waves:
                bad(("time", key), f"wave {value!r} is not in the dictionary{_suggest(value, waves)}; "
                    f"waves are {waves}")
        if self.mechanisms is not None and self.mechanisms.wave not in waves:
            bad(("mechanisms", "wave"), f"wave {self.mechanisms.wave!r} is not in the dictionary"
                f"{_suggest(self.mechanisms.wave, waves)}; waves are {waves}")
        by_name = {w.name: w for w in dictionary.waves}
        base, end = by_name.get(self.time.baseline_wave), by_name.get(self.time.end_wave)
        if base is not None and end is not None:
            if end.week <= base.week:
                bad(("time", "end_wave"), f"end wave {end.name!r} (week {end.week:g}) is not after "
                    f"the baseline wave {base.name!r} (week {base.week:g}); choose a later wave")
            else:
                # the models see the waves up to the end wave, at any week inside their windows
                modelled = [w for w in dictionary.waves if w.week <= end.week]
                lo, hi = min(w.window[0] for w in modelled), end.window[1]
                start, stop = self.time.change
                if start < lo or stop > hi:
                    bad(("time", "change"), f"change [{start:g}, {stop:g}] reaches outside the weeks "
                        f"the modelled waves cover ({lo:g} to {hi:g}: from {modelled[0].name!r} to "
                        f"the end of the {end.name!r} window), so the model would extrapolate; "
                        f"choose weeks inside them, e.g. [{base.week:g}, {end.week:g}]")
        files = self.data.files
        if isinstance(files, dict):
            for name in files:
                if name not in dictionary.datasets:
                    bad(("data", "files", name), f"{name!r} is not a dataset of the data dictionary"
                        f"{_suggest(name, dictionary.datasets)}; datasets are "
                        f"{sorted(dictionary.datasets)}")
        # build_cohort adds these: weeks from dates, and the totals of every session log
        derived = {"weeks", "wave_week"} | set(derived_columns(dictionary))

        def need(path: tuple, column: str | None) -> None:
            if column is not None and column not in names and column not in derived:
                bad(path, f"{column!r} is not a variable in the data dictionary"
                    f"{_suggest(column, names | derived)}")

        if isinstance(self.contexts.variables, list):
            for i, c in enumerate(self.contexts.variables):
                need(("contexts", "variables", i), c)
        for i, c in enumerate(self.contexts.johnson_neyman):
            need(("contexts", "johnson_neyman", i), c)
            if c in names and c not in derived and not dictionary.variable(c).numeric:
                bad(("contexts", "johnson_neyman", i), f"{c!r} is a "
                    f"{dictionary.variable(c).type} variable, but Johnson-Neyman needs a numeric "
                    "moderator (integer or number); scan it under contexts.variables instead")
        need(("model", "group"), self.model.group)
        for column in grouping_columns(self.model.random):
            need(("model", "random"), column)
        for message in order_problems(self.model.random, id_column=dictionary.id_column):
            bad(("model", "random"), message)
        need(("time", "column"), self.time.column)
        if self.mechanisms is not None and isinstance(self.mechanisms.items, list):
            for i, c in enumerate(self.mechanisms.items):
                need(("mechanisms", "items", i), c)
        if self.engagement is not None:
            e = self.engagement
            for key in ("started", "sessions", "start", "stop", "reason", "by", "strata"):
                need(("engagement", key), getattr(e, key))
            for i, c in enumerate(e.cox_covariates):
                need(("engagement", "cox_covariates", i), c)
        if isinstance(self.attrition.compare, list):
            for i, c in enumerate(self.attrition.compare):
                need(("attrition", "compare", i), c)
        for i, c in enumerate(self.attrition.predictors):
            if c not in measured:
                need(("attrition", "predictors", i), c)
        mi = self.sensitivity.multiple_imputation
        if mi is not None:
            primary = self.primary_outcome.instrument
            for i, c in enumerate(mi.predictors):
                if c == primary:
                    bad(("sensitivity", "multiple_imputation", "predictors", i), f"{c!r} is the "
                        "primary outcome, the variable being imputed; its other waves are used "
                        "automatically, so remove it from the predictors")
                elif c not in measured:
                    need(("sensitivity", "multiple_imputation", "predictors", i), c)
        for var in self.report.population:
            need(("report", "population", var), var)
        if problems:
            raise _plan_error(self.source or "plan", problems)


def load_plan(path: str | Path) -> tuple[AnalysisPlan, DataDictionary]:
    """Read a plan and its dictionary and check one against the other.

    Raises :class:`~evalkit.errors.PlanError` listing every mistake (with its line) at once.

    Examples
    --------
    >>> import evalkit as ek
    >>> from evalkit.demo import example_plan_path
    >>> plan, dictionary = ek.load_plan(example_plan_path())
    >>> [o.instrument for o in plan.outcomes], plan.model.fixed
    (['wemwbs', 'epds', 'ucla3'], 'weeks * delivery_mode')
    >>> dictionary.id_column
    'participant_id'
    """
    plan = AnalysisPlan.from_yaml(path)
    try:
        dd = plan.dictionary()
    except DictionaryError as exc:
        raise PlanError(f"{plan.source}: data.dictionary: {exc}") from None
    plan.check(dd)
    return plan, dd


# ---------------------------------------------------------------------- error reporting
def _fields(model: type[BaseModel], path: tuple) -> list[str]:
    """Valid keys at a key path of the plan (for 'did you mean' suggestions)."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            if current is DatabaseSource:   # data.files.<dataset>: a name the plan chooses
                continue
            return []
        current = _section_type(field.annotation)
    return [k for k in getattr(current, "model_fields", {}) if k not in ("source", "base_dir", "sha256")]


def _section_type(annotation) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None


def _suggest(value: str, options) -> str:
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _problems(exc: ValidationError, lines: dict) -> list[tuple[str, int | None, str]]:
    # union branches and model names pydantic adds to error locations
    drop = ("list[str]", "dict[str,str]", "literal['all']", "ImputationSection", "TippingSection",
            "MechanismSection", "EngagementSection", "str", "DatabaseSource",
            "dict[str,union[str,function-after[_one_of(), DatabaseSource]]]",
            "list[union[str,function-after[_one_of(), DatabaseSource]]]", *UNION_PARTS)

    def unknown_key(path: tuple) -> str:
        return f"unknown key {path[-1]!r}{_suggest(path[-1], _fields(AnalysisPlan, path[:-1]))}"

    return _one_source_problem(_pydantic_problems(exc, (), lines, drop=drop,
                                                  unknown_key=unknown_key))


def _one_source_problem(problems: list) -> list:
    """A dataset under data.files is a path or a database source: one problem per entry, not one
    per kind it could have been (pydantic reports "not a string" beside the source's own problem)."""
    not_text, other = "Input should be a valid string", "Input should be a valid dictionary"
    paths = {p for p, _, m in problems if p.startswith("data.files.") and m != not_text}
    out = []
    for path, line, message in problems:
        if path.startswith("data.files.") and message == not_text and path in paths:
            continue
        if path.startswith("data.files.") and message.startswith(other):
            message = ("give a file path, or a database source ({url: ..., table: ...} or "
                       "{url: ..., query: ...})")
        out.append((path, line, message))
    return out


def _outcome_problems(outcomes: list[tuple[Any, bool]]) -> str | None:
    """Checks across the outcome list: one primary, each instrument once."""
    problems = []
    primaries = [i for i, primary in outcomes if primary]
    if len(primaries) > 1:
        problems.append(f"only one outcome can be primary; {primaries} are marked primary")
    ids = [str(i) for i, _ in outcomes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"outcome(s) {dupes} are listed more than once; list each once")
    return "; ".join(problems) or None


def _plan_error(where: str, problems: list[tuple[str, int | None, str]]) -> PlanError:
    # in the order of the file, so the list can be worked through from the top
    problems = sorted(problems, key=lambda p: (p[1] is None, p[1] or 0))
    message, unique = _problem_report(where, problems, "analysis plan")
    return PlanError(message, unique)
