"""The ``power:`` section of an analysis plan, or a design file of its own, for ``evalkit power``.

The keys are :func:`evalkit.power_curve`'s options (see there for their meaning; ``test`` is a
term, a contrast ``{term: weight}``, or change in words, ``{change: [0, 24], between: [one_to_one,
group]}`` or ``{change: [0, 24], at: {delivery_mode: group}}``) and three report
options: ``targets`` (the powers whose smallest detectable difference is reported), ``labels``
(how the groups read in sentences) and ``unit`` (what the outcome's points are). Shape mistakes
(unknown keys, wrong types, shares that do not add up) are found by pydantic and listed all at
once with their key path and line, as for the rest of a plan; mistakes of meaning (a term the
formula does not make) are found by building the simulation problem and reported against the key
they belong to.

Examples
--------
>>> from evalkit.plan_power import PowerSection
>>> section = PowerSection.model_validate({
...     "fixed": "weeks * delivery_mode",
...     "effects": {"Intercept": 38, "weeks": 0.3, "delivery_mode[T.one_to_one]": 0,
...                 "weeks:delivery_mode[T.one_to_one]": 0.1},
...     "variance": {"intercept_sd": 6, "slope_sd": 0.15, "residual_sd": 4},
...     "waves": [0, 6, 12, 24], "allocation": {"group": 0.5, "one_to_one": 0.5},
...     "test": "weeks:delivery_mode[T.one_to_one]", "sizes": [60, 120]})
>>> section.nsim, section.targets, section.dropout
(1000, [0.8, 0.9], None)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._config import _nearest_line, _problem_report, _pydantic_problems, _read_yaml
from .errors import PlanError, SpecificationError

__all__ = ["PowerSection", "PowerVariance", "PowerTest", "load_power_design"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PowerVariance(_Section):
    """Standard deviations (outcome points; slope in points per week) and a correlation."""

    intercept_sd: float = Field(ge=0)
    slope_sd: float = Field(0.0, ge=0)
    correlation: float = Field(0.0, gt=-1, lt=1)
    residual_sd: float = Field(gt=0)


class PowerTest(_Section):
    """A test in words (:mod:`evalkit.models.power.kinds`): change from ``change[0]`` to
    ``change[1]`` in the group ``at`` names, or its difference ``between`` two groups.

    A Johnson–Neyman region has no detectable difference to report, so the design report does not
    take one: run it with :func:`evalkit.power_curve`.
    """

    change: tuple[float, float]
    at: dict[str, str | float] = {}
    between: tuple[str, str] | None = None

    def words(self) -> dict:
        """The test as :func:`evalkit.power_curve` takes it."""
        return self.model_dump(exclude_none=True, exclude_defaults=True) | {
            "change": self.change}


class PowerSection(_Section):
    """A power simulation and its design report (see the module docstring)."""

    fixed: str = "weeks * delivery_mode"
    random: str = "weeks"
    effects: dict[str, float] = Field(min_length=1)
    variance: PowerVariance
    waves: list[float] = Field(min_length=2)
    allocation: dict[str, float] = Field(min_length=2)
    by: str | None = None
    covariates: list[str] = []
    dropout_odds: dict[str, float] = {}
    dropout: list[float] | dict[str, list[float]] | None = None
    test: str | dict[str, float] | PowerTest
    sizes: list[int] = Field(min_length=1)
    nsim: int = Field(1000, ge=10)
    seed: int | None = Field(None, ge=0)
    alpha: float = Field(0.05, gt=0, lt=1)
    ddf: Literal["satterthwaite", "kenward-roger"] = "satterthwaite"
    targets: list[float] = Field([0.8, 0.9], min_length=1)
    labels: dict[str, str] = {}
    unit: str = "points"

    @field_validator("waves")
    @classmethod
    def _increasing(cls, v):
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"waves must increase (weeks since baseline), got {v}; e.g. "
                             "[0, 6, 12, 24]")
        return v

    @field_validator("allocation")
    @classmethod
    def _shares(cls, v):
        if any(s <= 0 for s in v.values()) or abs(sum(v.values()) - 1) > 1e-6:
            raise ValueError(f"allocation shares must be positive and add up to 1, got "
                             f"{dict(v)}; e.g. {{group: 0.5, one_to_one: 0.5}}")
        return v

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v):
        if len(set(v)) != len(v) or min(v) < 6:
            raise ValueError(f"sizes must be different numbers of mothers, each at least 6, "
                             f"got {v}")
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v):
        if any(not 0 < t < 1 for t in v):
            raise ValueError(f"targets are powers as shares between 0 and 1, got {v}; e.g. "
                             "[0.8, 0.9]")
        return v

    @model_validator(mode="after")
    def _dropout_per_wave(self):
        lists = (self.dropout.values() if isinstance(self.dropout, dict)
                 else [self.dropout] if self.dropout is not None else [])
        for shares in lists:
            if len(shares) != len(self.waves):
                raise ValueError(f"dropout has {len(shares)} shares for {len(self.waves)} waves; "
                                 "give the cumulative share lost by each wave, e.g. "
                                 "[0, 0.1, 0.2, 0.3]")
        return self

    def options(self, *, seed: int) -> dict:
        """Keyword arguments of :func:`evalkit.power_curve`."""
        return {"fixed": self.fixed, "random": self.random, "effects": dict(self.effects),
                "variance": self.variance.model_dump(), "waves": list(self.waves),
                "allocation": dict(self.allocation), "by": self.by, "dropout": self.dropout,
                "covariates": list(self.covariates), "dropout_odds": dict(self.dropout_odds),
                "test": self.test.words() if isinstance(self.test, PowerTest) else self.test,
                "sizes": list(self.sizes), "nsim": self.nsim,
                "seed": self.seed if self.seed is not None else seed, "alpha": self.alpha,
                "ddf": self.ddf}


#: union branches pydantic adds to error locations in this section
UNION_PARTS = ("PowerSection", "list[float]", "dict[str,list[float]]", "dict[str,float]",
               "PowerTest")

#: first word of a SpecificationError from building the problem -> the key it is about
_KEYS = ("effects", "test", "variance", "waves", "allocation", "dropout_odds", "dropout",
         "covariates", "sizes", "fixed", "random")


def _unknown_key(path: tuple) -> str:
    import difflib

    model = (PowerVariance if "variance" in path[:-1] else PowerTest if "test" in path[:-1]
             else PowerSection)
    keys = list(model.model_fields)
    if model is PowerTest and path[-1] in ("johnson_neyman", "covers", "within"):
        return (f"unknown key {path[-1]!r}: a Johnson–Neyman region has no detectable difference "
                "for the design report; run it with evalkit.power_curve(test={'johnson_neyman': "
                "...}), or test the difference in change here")
    close = difflib.get_close_matches(str(path[-1]), keys, n=1, cutoff=0.6)
    return (f"unknown key {path[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; the keys are {', '.join(keys)}")


def load_power_design(path) -> tuple[PowerSection, dict]:
    """The power section of a plan (its ``power:`` key) or of a design file, checked.

    Returns the section and ``{"source", "programme", "seed"}`` (the plan's name and seed when the
    file is a plan). Every mistake is a :class:`~evalkit.errors.PlanError` naming the file, the
    key and its line, and how to fix it.
    """
    path = Path(path)
    data, lines, _ = _read_yaml(path, PlanError)
    if not isinstance(data, Mapping):
        raise PlanError(f"{path}: a power design is a YAML mapping with a power: section (or the "
                        "power keys at the top level); see the power_curve options")
    # a plan holds the design under power: (its programme and seed at the top); a design file is
    # the power keys themselves, with an optional programme name
    prefix: tuple = ("power",) if "power" in data else ()
    body = data["power"] if prefix else {k: v for k, v in data.items() if k != "programme"}
    meta = {"source": str(path), "programme": data.get("programme"),
            "seed": data.get("seed", 1) if prefix else 1}
    if not isinstance(body, Mapping):
        raise PlanError(f"{path}: power (line {_nearest_line(prefix, lines)}): give the power "
                        "design as a mapping of keys (fixed, effects, variance, waves, "
                        "allocation, test, sizes)", [("power", _nearest_line(prefix, lines),
                                                      "not a mapping")])
    try:
        section = PowerSection.model_validate(body)
    except ValidationError as exc:
        problems = _pydantic_problems(exc, prefix, lines, drop=UNION_PARTS,
                                      unknown_key=_unknown_key)
        message, unique = _problem_report(str(path), problems, "power design")
        raise PlanError(message, unique) from None
    try:
        from .models.power.simulation import Problem

        opts = section.options(seed=int(meta["seed"] or 1))
        Problem.build(**{k: opts[k] for k in ("fixed", "random", "effects", "variance", "waves",
                                              "allocation", "by", "dropout", "dropout_odds",
                                              "covariates", "test", "ddf")})
    except SpecificationError as exc:
        text = str(exc)
        key = next((k for k in _KEYS if text.startswith(k)), "fixed")
        where = prefix + (key,)
        line = _nearest_line(where, lines)
        problem = (".".join(where), line, text)
        message, unique = _problem_report(str(path), [problem], "power design")
        raise PlanError(message, unique) from None
    return section, meta
