"""The declarative instrument specification: items, keying, scales, bands, norms, change thresholds.

One YAML file per instrument in ``evalkit/instruments/specs/`` is parsed into an :class:`Instrument`.
The spec never contains question wording (it is copyrighted): item numbers, at most a label of three
words, and scoring rules with their sources.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Instrument", "Items", "Scale", "Band", "MissingRule", "Flag", "Norm", "Reliability",
           "ChangeRules", "Caseness", "ClinicalNorms", "Sourced", "NotApplicable"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sourced(_Frozen):
    """A number with where it comes from and how well it is verified."""

    source: str
    verified: Literal["V", "R", "C", "local"] = "V"
    note: str | None = None


class NotApplicable(_Frozen):
    """Items that may be answered 'not applicable', and the score such an answer receives (KPCS)."""

    items: tuple[int, ...]
    code: float = -8
    score: float
    source: str


class Items(_Frozen):
    """Item numbering, response range and keying."""

    n: int = Field(gt=0)
    min: float
    max: float
    ranges: dict[int, tuple[float, float]] = Field(default_factory=dict)
    reverse: tuple[int, ...] = ()
    labels: dict[int, str] = Field(default_factory=dict)
    not_applicable: NotApplicable | None = None

    @model_validator(mode="after")
    def _check(self) -> "Items":
        numbers = set(range(1, self.n + 1))
        for name, group in (("reverse", self.reverse), ("ranges", self.ranges), ("labels", self.labels)):
            extra = set(group) - numbers
            if extra:
                raise ValueError(f"{name} names items {sorted(extra)} outside 1..{self.n}")
        for k, lab in self.labels.items():
            if len(lab.split()) > 3:
                raise ValueError(f"label of item {k} has more than three words: a label, never the wording")
        return self

    def range_of(self, k: int) -> tuple[float, float]:
        return self.ranges.get(k, (self.min, self.max))

    @property
    def numbers(self) -> list[int]:
        return list(range(1, self.n + 1))


class MissingRule(_Frozen):
    """How many items may be missing before the scale score is missing, and how to fill them."""

    rule: Literal["complete", "prorate"]
    max_missing: int = 0
    never_impute: tuple[int, ...] = ()
    official: bool
    source: str

    @model_validator(mode="after")
    def _check(self) -> "MissingRule":
        if self.rule == "complete" and self.max_missing != 0:
            raise ValueError("rule 'complete' allows no missing item; use rule 'prorate' with max_missing")
        if self.rule == "prorate" and self.max_missing < 1:
            raise ValueError("rule 'prorate' needs max_missing >= 1")
        return self


class Band(_Frozen):
    """A labelled score range; bounds are inclusive and bands must not overlap."""

    label: str
    min: float
    max: float


class Caseness(_Frozen):
    """The cut-off at which a score counts as a 'case' (clinical range)."""

    value: float
    op: Literal[">=", "<="]
    label: str
    source: str
    verified: Literal["V", "R", "C", "local"] = "V"

    def is_case(self, score):
        return score >= self.value if self.op == ">=" else score <= self.value


class Scale(_Frozen):
    """A total or subscale: which items, how they combine, its range, bands and caseness."""

    id: str
    label: str
    items: tuple[int, ...] | Literal["all"] = "all"
    method: Literal["sum", "mean"] = "sum"
    multiplier: float = 1.0
    range: tuple[float, float]
    missing: MissingRule
    conversion: dict[int, float] | None = None
    conversion_source: str | None = None
    bands: tuple[Band, ...] = ()
    bands_source: str | None = None
    caseness: Caseness | None = None

    @model_validator(mode="after")
    def _check(self) -> "Scale":
        ordered = sorted(self.bands, key=lambda b: b.min)
        for a, b in zip(ordered, ordered[1:]):
            if b.min <= a.max:
                raise ValueError(f"bands {a.label!r} and {b.label!r} overlap")
        if self.bands and self.bands_source is None:
            raise ValueError("bands need a bands_source")
        if self.conversion is not None and self.conversion_source is None:
            raise ValueError("a conversion table needs a conversion_source")
        return self


class Flag(_Frozen):
    """A per-row flag raised by an item value, e.g. EPDS item 10 (thoughts of self-harm) > 0."""

    id: str
    item: int
    above: float
    safeguarding: bool = False
    action: str
    source: str


class Norm(_Frozen):
    """A reference mean and SD for a population."""

    population: str
    mean: float
    sd: float | None = None
    n: int | None = None
    scale: str | None = None
    source: str
    verified: Literal["V", "R", "C", "local"] = "V"


class Reliability(_Frozen):
    alpha: float | None = None
    test_retest: float | None = None
    source: str
    verified: Literal["V", "R", "C", "local"] = "V"


class ClinicalNorms(_Frozen):
    """Functional (population) and dysfunctional (clinical) means and SDs for J&T criterion c."""

    functional_mean: float
    functional_sd: float
    dysfunctional_mean: float
    dysfunctional_sd: float
    source: str
    verified: Literal["V", "R", "C", "local"] = "V"


class ChangeRules(_Frozen):
    """Thresholds for reliable and important change on the primary scale.

    ``reliable_change`` is a published threshold in raw points (e.g. PHQ-9 6); when absent the
    Jacobson–Truax index is computed from ``rci_sd`` and ``rci_reliability``.
    """

    reliable_change: float | None = None
    reliable_change_source: str | None = None
    rci_sd: float | None = None
    rci_reliability: float | None = None
    rci_source: str | None = None
    mid_improvement: float | None = None
    mid_deterioration: float | None = None
    mid_source: str | None = None
    clinical: ClinicalNorms | None = None

    @model_validator(mode="after")
    def _check(self) -> "ChangeRules":
        if self.reliable_change is not None and not self.reliable_change_source:
            raise ValueError("reliable_change needs reliable_change_source")
        if (self.rci_sd is None) != (self.rci_reliability is None):
            raise ValueError("rci_sd and rci_reliability go together")
        if self.rci_sd is not None and not self.rci_source:
            raise ValueError("rci_sd/rci_reliability need rci_source")
        if (self.mid_improvement is not None or self.mid_deterioration is not None) and not self.mid_source:
            raise ValueError("a minimal important difference needs mid_source")
        return self


class Instrument(_Frozen):
    """Everything evalkit knows about one questionnaire. Build from YAML via the registry."""

    id: str
    name: str
    abbreviation: str
    measures: str
    higher_is: Literal["better", "worse"]
    recall_period: str | None = None
    items: Items
    scales: tuple[Scale, ...]
    flags: tuple[Flag, ...] = ()
    norms: tuple[Norm, ...] = ()
    reliability: Reliability | None = None
    change: ChangeRules = ChangeRules()
    licence: str
    citation: str
    notes: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _lower(cls, v: str) -> str:
        if v != v.lower():
            raise ValueError("instrument ids are lower case")
        return v

    @model_validator(mode="after")
    def _check(self) -> "Instrument":
        if not self.scales:
            raise ValueError("an instrument needs at least one scale")
        if self.scales[0].id != self.id:
            raise ValueError(f"the first (primary) scale must be called {self.id!r}")
        numbers = set(self.items.numbers)
        for sc in self.scales:
            if not sc.id.startswith(self.id):
                raise ValueError(f"scale {sc.id!r} must start with the instrument id {self.id!r}")
            if sc.items != "all" and set(sc.items) - numbers:
                raise ValueError(f"scale {sc.id!r} uses items outside 1..{self.items.n}")
        for fl in self.flags:
            if fl.item not in numbers:
                raise ValueError(f"flag {fl.id!r} uses item {fl.item} outside 1..{self.items.n}")
        return self

    # -------------------------------------------------------------- conveniences
    @property
    def primary(self) -> Scale:
        """The total score (the first scale)."""
        return self.scales[0]

    def scale(self, scale_id: str) -> Scale:
        for sc in self.scales:
            if sc.id == scale_id:
                return sc
        from ..errors import UnknownNameError

        raise UnknownNameError(f"{self.id} has no scale {scale_id!r}; scales: "
                               f"{', '.join(s.id for s in self.scales)}")

    def scale_items(self, scale: Scale) -> list[int]:
        return self.items.numbers if scale.items == "all" else list(scale.items)

    def item_columns(self) -> list[str]:
        """Default column names of the items: ``<id>_<number>``."""
        return [f"{self.id}_{k}" for k in self.items.numbers]

    @property
    def sign(self) -> int:
        """+1 when a higher score is better, -1 when it is worse (improvement = sign × change > 0)."""
        return 1 if self.higher_is == "better" else -1
