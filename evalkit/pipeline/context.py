"""The run context: what every step of a run reads and adds to.

A :class:`RunContext` carries the plan and dictionary, the data (the long cohort frame and one row
per mother), the :class:`~evalkit.report.disclosure.Publication` every published number goes
through, the figures to draw once the tables are protected, and the run's bookkeeping (warnings
raised, analyses that could not be done, timings). Steps (one module each in this package) compute
tidy results through library functions and register what they publish; none of them formats a
number or writes a file.

Dimensions are declared here with the dictionary's level order and labels, so every table agrees on
what a level is called and in which order levels come (:mod:`evalkit._levels`).
"""

from __future__ import annotations

import contextlib
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .._levels import is_boolean, is_numeric, levels as level_order
from ..errors import EvalkitError
from ..report.disclosure import MISSING_LEVEL, Key, Publication, level_code

__all__ = ["RunContext", "FigureSpec"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure to draw after protection: ``build(pub)`` returns a ReportFigure from its tables."""

    name: str
    build: Callable
    audience: tuple = ("impact", "technical")


@dataclass
class RunContext:
    """State shared by the steps of one run (see the module docstring)."""

    plan: object
    dd: object
    writer: object
    progress: bool = False
    pub: Publication = None
    figures: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    warning_rows: list = field(default_factory=list)
    failure_rows: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)

    def __post_init__(self):
        self.threshold = int(self.plan.report.suppression_threshold)
        # one minimum group size across the report: no estimate for a smaller group anywhere
        self.min_group = max(int(self.plan.contexts.min_group_size), self.threshold)
        self.pub = Publication(self.threshold, min_group=self.min_group)
        self.time = self.plan.time.column
        self.facts.setdefault("outcomes", {})

    # ------------------------------------------------------------------ bookkeeping
    @contextlib.contextmanager
    def step(self, name: str, *, optional: bool = True):
        """Run a step: record its warnings; an optional step that fails is recorded, not fatal.

        An evalkit error says why the analysis could not be done on these data; any other
        exception in an optional step is recorded with its type (a bug to report), and the run
        goes on without that section.
        """
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except EvalkitError as exc:
                if not optional:
                    raise
                self.failure_rows.append((name, one_line(exc), type(exc).__name__))
            except Exception as exc:   # noqa: BLE001 - the step boundary: record, never crash
                if not optional:
                    raise
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.failure_rows.append((name, f"{type(exc).__name__}: {one_line(exc)} (in "
                                          f"{where.name}, {where.filename.rsplit('/', 1)[-1]}:"
                                          f"{where.lineno}; please report this)",
                                          type(exc).__name__))
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
        for w in caught:
            self.warning_rows.append((name, w.category.__name__, one_line(w.message)))

    def not_done(self, name: str, reason: str) -> None:
        """Record an analysis that cannot be done on these data, in plain words."""
        self.failure_rows.append((name, reason, "not applicable"))

    def figure(self, name: str, build: Callable, *, audience=("impact", "technical")) -> None:
        """Register a figure drawn after protection from the publication's tables."""
        self.figures.append(FigureSpec(name, build, tuple(audience)))

    # ------------------------------------------------------------------ labels
    def label(self, column: str) -> str:
        """The dictionary's label of a variable (its name in words when it has none)."""
        try:
            var = self.dd.variable(column)
        except EvalkitError:
            return column.replace("_", " ")
        return (var.label or column.replace("_", " ")).split(" (")[0]

    def level_label(self, column: str, code) -> str:
        """The dictionary's label of a level (given as a value or a level code)."""
        code = code if isinstance(code, str) else level_code(code)
        if code == MISSING_LEVEL:
            return "did not start" if self.blank_when_not_started(column) else "not recorded"
        try:
            var = self.dd.variable(column)
        except EvalkitError:
            return code
        if var.levels and code in var.levels:
            return str(var.levels[code])
        return code

    def blank_when_not_started(self, column: str) -> bool:
        """True when a column is blank for exactly the mothers who did not start support (e.g.
        the mode of support), so its missing level reads "did not start", not "not recorded"."""
        started = getattr(self, "started_col", None)
        if not started or column not in self.people.columns or column == started:
            return False
        blank = self.people[column].isna().to_numpy()
        not_started = ~self.people[started].eq(True).fillna(False).to_numpy(dtype=bool)
        return bool(not_started.any()) and bool(np.array_equal(blank, not_started))

    def wave_label(self, wave: str) -> str:
        """The dictionary's label of a wave ("End of support"), else the wave's name in words."""
        w = next((w for w in getattr(self.dd, "waves", ()) if w.name == wave), None)
        label = getattr(w, "label", None)
        return label if label else str(wave).replace("_", " ")

    # ------------------------------------------------------------------ dimensions
    def codes(self, column: str, values: pd.Series) -> list[str]:
        """Level codes of a person-level column in the one order (dictionary order first)."""
        declared = []
        try:
            var = self.dd.variable(column)
            if var.levels:
                declared = [str(k) for k in var.levels]
        except EvalkitError:
            pass
        if is_boolean(values):
            declared = ["no", "yes"]
            values = values.map(lambda v: None if v is None or v != v or v is pd.NA else bool(v))
        seen = [level_code(v) for v in level_order(values)]
        return list(dict.fromkeys([*declared, *seen]))

    def code(self, column: str, value) -> str | None:
        """The level code of one value of a column (yes/no for yes/no columns; None if missing)."""
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
            return None
        if column in self.people.columns and is_boolean(self.people[column]):
            return level_code(bool(value))
        return level_code(value)

    def context_dimension(self, column: str) -> list[str]:
        """Declare a categorical context of the mothers as a dimension; return its level codes."""
        values = self.people[column]
        if is_boolean(values):
            values = values.map(lambda v: None if v is None or v != v or v is pd.NA else bool(v))
        order = self.codes(column, values)
        if column not in self.pub._dims.get("person", {}):
            self.pub.dimension(column, values, levels=order)
        return order

    def yes_no(self, name: str, values) -> None:
        """Declare a yes/no dimension from booleans indexed by participant."""
        s = pd.Series(values, index=self.people.index) if not isinstance(values, pd.Series) \
            else values.reindex(self.people.index)
        self.pub.dimension(name, s.map(lambda v: None if v is None or v != v else bool(v)),
                           levels=["no", "yes"])

    def key(self, **where) -> Key:
        """A key over mothers: ``ctx.key(started="yes", site="north")``."""
        return Key.of(**where)

    def cannot_model(self, data: pd.DataFrame, outcome: str, label: str) -> str | None:
        """Why change in ``outcome`` cannot be modelled on ``data`` (plain words), or None.

        Checked before fitting, so a report says "every score is from the same week" instead of
        an error from linear algebra.
        """
        if outcome not in data.columns:
            return f"the data have no {label} scores"
        scored = data.dropna(subset=[outcome])
        if scored.empty:
            return f"no mother has a {label} score in the analysis window"
        if scored[self.id].nunique() < 2:
            return f"too few mothers have {label} scores to model change"
        if self.time not in scored.columns or scored[self.time].dropna().nunique() < 2:
            return (f"every {label} score is from the same point in time, so change over time "
                    "cannot be estimated")
        if scored[outcome].nunique() < 2:
            return f"every {label} score has the same value: there is no variation to model"
        return None

    def model_population(self, inst: str) -> Key:
        """Mothers in the models of an outcome: the plan's population with a score in the window."""
        return Key.of(**{f"model:{inst}": "yes"})

    @property
    def started_key(self) -> Key:
        """Mothers who started support (everyone when the data do not say)."""
        return Key.of(started="yes") if self.started_col else Key.of()


def one_line(message) -> str:
    """A message on one line (formulaic's messages carry newlines and terminal colours)."""
    import re

    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(message)).split())


def is_categorical(series: pd.Series) -> bool:
    """True for a column that splits mothers into groups (not a numeric measure)."""
    return not is_numeric(series) or is_boolean(series)


def mean_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and SD (n - 1) of the non-missing values; NaN where undefined."""
    v = values[~np.isnan(values)]
    return (float(v.mean()) if v.size else np.nan, float(v.std(ddof=1)) if v.size > 1 else np.nan)


def group_column(ctx: RunContext, data: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The plan's group as labelled level codes (yes/no columns too), or None without a group."""
    g = ctx.plan.model.group
    if not g or g not in data.columns or g not in ctx.plan.model.fixed:
        return data, None
    ctx.context_dimension(g)
    out = data.copy()
    codes = ctx.codes(g, ctx.people[g])
    coded = out[g].map(lambda v: ctx.code(g, v))
    present = [c for c in codes if (coded == c).any()]
    out[g] = pd.Categorical(coded, categories=present)
    return out, g
