"""Analysis plans: the YAML an evaluator writes (or copies) to describe one evaluation end to end.

A plan names the data and dictionary, the outcomes, how time is coded, the primary model, the
contexts to scan, the mechanisms, how engagement is defined, the sensitivity analyses and the report
options. :meth:`AnalysisPlan.from_yaml` checks it twice and reports every mistake at once, each with
its key path and line number: first its shape (unknown keys — with the nearest valid key suggested —,
wrong types, missing keys), then its meaning against the data dictionary and the instrument
registry (an outcome the dictionary does not measure, a context that is not a variable, a wave that
does not exist). ``evalkit run PLAN`` (see :mod:`evalkit.runner`) executes it.

Paths in a plan are relative to the plan file, so a plan and its data can move together.

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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._config import (_dotted, _key_lines, _nearest_line, _parse_yaml, _problem_report,
                      _pydantic_problems)
from .dictionary import DataDictionary
from .errors import DictionaryError, PlanError

__all__ = ["AnalysisPlan", "load_plan"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSection(_Section):
    """Where the data are: the dictionary and one file per dataset (paths relative to the plan)."""

    dictionary: str
    files: dict[str, str] | list[str]
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
    end_wave: str = "end"
    change: tuple[float, float] = (0.0, 12.0)

    @field_validator("change")
    @classmethod
    def _ordered(cls, v):
        if not v[0] < v[1]:
            raise ValueError(f"change must be [start, end] with start < end, got {list(v)}")
        return v


class ModelSection(_Section):
    fixed: str = "weeks * delivery_mode"
    random: str = "weeks"
    group: str | None = "delivery_mode"
    population: Literal["started", "all"] = "started"
    engine: Literal["fast", "statsmodels"] = "fast"
    simplify: bool = True


class ContextSection(_Section):
    variables: list[str] | Literal["all"] = "all"
    min_group_size: int = Field(10, ge=2)
    adjust: Literal["bh", "holm", "bonferroni", "none"] = "bh"
    johnson_neyman: list[str] = []


class MechanismSection(_Section):
    items: list[str] | Literal["all"] = "all"
    wave: str = "end"
    mediation: bool = True
    bootstrap: int = Field(500, ge=50)


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
    risk_times: list[float] = [0, 4, 8, 12, 16]


class AttritionSection(_Section):
    compare: list[str] | Literal["all"] = "all"
    predictors: list[str] = []


class ImputationSection(_Section):
    m: int = Field(20, ge=2)
    iterations: int = Field(10, ge=1)
    predictors: list[str] = []
    method: Literal["pmm", "norm"] = "pmm"


class TippingSection(_Section):
    deltas: list[float] = [0, -1, -2, -3, -4, -5, -6, -8, -10]


class SensitivitySection(_Section):
    multiple_imputation: ImputationSection | None = ImputationSection()
    tipping_point: TippingSection | None = TippingSection()


class PopulationComparison(_Section):
    source: str
    percent: dict[str, float]


class ReportSection(_Section):
    audience: list[Literal["impact", "technical"]] = ["impact", "technical"]
    suppression_threshold: int = Field(5, ge=1)
    population: dict[str, PopulationComparison] = {}
    contact: str | None = None


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

    # where the plan came from (not part of the YAML)
    source: str | None = Field(None, exclude=True)
    base_dir: str = Field(".", exclude=True)
    sha256: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _one_primary(self) -> "AnalysisPlan":
        primaries = [o.instrument for o in self.outcomes if o.primary]
        if len(primaries) > 1:
            raise ValueError(f"only one outcome can be primary; {primaries} are marked primary")
        ids = [o.instrument for o in self.outcomes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"outcome(s) {dupes} are listed more than once")
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> "AnalysisPlan":
        """Read and check a plan file; :class:`~evalkit.errors.PlanError` lists every mistake."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PlanError(f"cannot read analysis plan {str(path)!r}: {exc.strerror}; check the path") from None
        text = raw.decode("utf-8", errors="replace")
        data, node = _parse_yaml(text, path, PlanError)
        return cls.from_dict(data, source=str(path), base_dir=str(path.resolve().parent),
                             sha256=hashlib.sha256(raw).hexdigest(), _lines=_key_lines(node))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None, base_dir: str = ".",
                  sha256: str | None = None, _lines: dict | None = None) -> "AnalysisPlan":
        """Check a plan given as a mapping with the YAML's structure."""
        where = source or "plan"
        if not isinstance(data, Mapping):
            raise PlanError(f"{where}: an analysis plan is a YAML mapping (key: value), "
                            f"not {type(data).__name__}; start from analyses/example_plan.yaml")
        try:
            return cls(**data, source=source, base_dir=base_dir, sha256=sha256)
        except ValidationError as exc:
            problems = _problems(exc, _lines or {})
            raise _plan_error(where, problems) from None

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
        files = self.data.files
        return [self.path(f) for f in (files.values() if isinstance(files, dict) else files)]

    def check(self, dictionary: DataDictionary) -> None:
        """Check the plan's names against the dictionary and the instrument registry.

        Raises :class:`~evalkit.errors.PlanError` listing every name that does not resolve.
        """
        from .instruments import registry

        lines = _key_lines(yaml.compose(Path(self.source).read_text(encoding="utf-8"))) \
            if self.source and Path(self.source).exists() else {}
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
        derived = {"weeks", "wave_week"}

        def need(path: tuple, column: str | None) -> None:
            if column is not None and column not in names and column not in derived:
                bad(path, f"{column!r} is not a variable in the data dictionary"
                    f"{_suggest(column, names | derived)}")

        if isinstance(self.contexts.variables, list):
            for i, c in enumerate(self.contexts.variables):
                need(("contexts", "variables", i), c)
        for i, c in enumerate(self.contexts.johnson_neyman):
            need(("contexts", "johnson_neyman", i), c)
        need(("model", "group"), self.model.group)
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
            for i, c in enumerate(mi.predictors):
                if c not in measured:
                    need(("sensitivity", "multiple_imputation", "predictors", i), c)
        for var in self.report.population:
            need(("report", "population", var), var)
        if problems:
            raise _plan_error(self.source or "plan", problems)


def load_plan(path: str | Path) -> tuple[AnalysisPlan, DataDictionary]:
    """Read a plan and its dictionary and check one against the other."""
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
            "MechanismSection", "EngagementSection")

    def unknown_key(path: tuple) -> str:
        return f"unknown key {path[-1]!r}{_suggest(path[-1], _fields(AnalysisPlan, path[:-1]))}"

    return _pydantic_problems(exc, (), lines, drop=drop, unknown_key=unknown_key)


def _plan_error(where: str, problems: list[tuple[str, int | None, str]]) -> PlanError:
    message, unique = _problem_report(where, problems, "analysis plan")
    return PlanError(message, unique)
