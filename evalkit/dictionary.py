"""The data dictionary: a YAML description of the files, variables and waves of a study.

The YAML is parsed into frozen, typed objects. Every mistake in the YAML is reported at once with its
key path (``datasets.responses.variables.age.range``) and line number, so a user copying the bundled
``data_dictionary.yaml`` can fix all of them in one pass.

Examples
--------
>>> import evalkit as ek
>>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
>>> [w.name for w in dd.waves]
['baseline', 'mid', 'end', 'follow_up']
>>> dd.variable("epds_10").instrument, dd.variable("epds_10").item
('epds', 10)
>>> dd.id_column, dd.wave_column, dd.date_column
('participant_id', 'wave', 'assessed_on')
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._config import (_dotted, _key_lines, _parse_yaml, _problem_report,
                      _pydantic_problems)
from .errors import DictionaryError, UnknownNameError

__all__ = ["DataDictionary", "Dataset", "Variable", "ItemSet", "Wave", "ROLES", "TYPES"]

ROLES = ("id", "wave", "date", "item", "context", "dose", "mechanism", "outcome", "admin")
TYPES = ("integer", "number", "string", "category", "boolean", "date")

Role = Literal["id", "wave", "date", "item", "context", "dose", "mechanism", "outcome", "admin"]
VarType = Literal["integer", "number", "string", "category", "boolean", "date"]
Coding = Literal["scored", "position"]
MissingCode = int | float | str

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variable(_Frozen):
    """One column of a dataset: its type, allowed values, missing codes and role."""

    name: str
    type: VarType
    role: Role = "admin"
    label: str | None = None
    unit: str | None = None
    range: tuple[float, float] | None = None
    levels: dict[str, str] | None = None
    ordered: bool = False
    missing_codes: tuple[MissingCode, ...] | None = None
    required: bool = False
    instrument: str | None = None
    item: int | None = None
    coding: Coding | None = None
    format: str | None = None
    identifying: bool = False

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_as_mapping(cls, v: Any) -> Any:
        # Levels may be written as a list of codes or as {code: label}; codes are matched as text.
        if isinstance(v, list):
            return {str(code): str(code) for code in v}
        if isinstance(v, dict):
            return {str(k): str(lab) for k, lab in v.items()}
        return v

    @field_validator("range")
    @classmethod
    def _range_ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"range must be [min, max] with min <= max, got [{v[0]}, {v[1]}]")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Variable":
        if self.type == "category" and not self.levels:
            raise ValueError("a category variable needs 'levels' (a list of codes or {code: label})")
        if self.range is not None and self.type not in ("integer", "number"):
            raise ValueError(f"'range' applies to integer or number variables, not {self.type}")
        if self.role == "item" and (self.instrument is None or self.item is None):
            raise ValueError("an item variable needs 'instrument' and 'item' (its number in the instrument)")
        return self

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "number")


class ItemSet(_Frozen):
    """A block of questionnaire items named ``<instrument>_<number>``, declared once."""

    instrument: str
    items: int | list[int] = Field(description="N for items 1..N, or a list of item numbers")
    type: Literal["integer", "number"] = "integer"
    range: tuple[float, float]
    coding: Coding = "scored"
    role: Literal["item", "mechanism"] = "item"
    label: str | None = None
    missing_codes: tuple[MissingCode, ...] | None = None
    names: dict[int, str] | None = None

    @field_validator("instrument")
    @classmethod
    def _id_lower(cls, v: str) -> str:
        if not _NAME.match(v) or v != v.lower():
            raise ValueError(f"instrument id must be lower-case letters, digits and '_', got {v!r}")
        return v

    def numbers(self) -> list[int]:
        return list(range(1, self.items + 1)) if isinstance(self.items, int) else list(self.items)

    def expand(self) -> list[Variable]:
        out = []
        for k in self.numbers():
            name = (self.names or {}).get(k, f"{self.instrument}_{k}")
            out.append(
                Variable(
                    name=name,
                    type=self.type,
                    role=self.role,
                    label=self.label and f"{self.label}, item {k}",
                    range=self.range,
                    missing_codes=self.missing_codes,
                    instrument=self.instrument,
                    item=k,
                    coding=self.coding,
                )
            )
        return out


class Wave(_Frozen):
    """A planned measurement occasion with its target week and visit window (weeks since baseline)."""

    name: str
    label: str | None = None
    week: float
    window: tuple[float, float]

    @model_validator(mode="after")
    def _window_contains_week(self) -> "Wave":
        lo, hi = self.window
        if not lo <= self.week <= hi:
            raise ValueError(f"window [{lo}, {hi}] must contain the target week {self.week}")
        return self


class Dataset(_Frozen):
    """One data file: its name pattern, key columns and variables."""

    name: str
    file: str
    description: str | None = None
    keys: tuple[str, ...]
    variables: dict[str, Variable]

    def variable(self, name: str) -> Variable:
        try:
            return self.variables[name]
        except KeyError:
            raise UnknownNameError(
                f"variable {name!r} is not declared in dataset {self.name!r}; "
                f"declared: {', '.join(self.variables)}"
            ) from None

    def by_role(self, role: str) -> list[Variable]:
        return [v for v in self.variables.values() if v.role == role]


class _RawDataset(_Frozen):
    file: str
    description: str | None = None
    keys: list[str]
    variables: dict[str, dict[str, Any]] = Field(default_factory=dict)
    item_sets: list[ItemSet] = Field(default_factory=list)


class _RawDictionary(_Frozen):
    version: Literal[1] = 1
    study: str
    description: str | None = None
    missing_codes: tuple[MissingCode, ...] = ()
    waves: dict[str, dict[str, Any]]
    datasets: dict[str, _RawDataset]


class DataDictionary:
    """A parsed, immutable data dictionary.

    Build it with :meth:`from_yaml` (a file) or :meth:`from_dict` (an already-loaded mapping).

    Attributes
    ----------
    study : str
        Name of the study or programme.
    waves : tuple of Wave
        Planned waves in time order.
    datasets : dict of str to Dataset
        The files the study consists of, by dataset name.
    missing_codes : tuple
        Codes that mean "missing" in every variable unless the variable overrides them.
    source : str or None
        The file the dictionary was read from.
    """

    def __init__(self, *, study: str, waves: tuple[Wave, ...], datasets: dict[str, Dataset],
                 missing_codes: tuple = (), description: str | None = None,
                 source: str | None = None):
        self.study = study
        self.description = description
        self.waves = waves
        self.datasets = datasets
        self.missing_codes = missing_codes
        self.source = source

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> "DataDictionary":
        """Read a data dictionary from a YAML file.

        Raises
        ------
        DictionaryError
            Listing every mistake with its key path and line number.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DictionaryError(
                f"cannot read data dictionary {str(path)!r}: {exc.strerror}; check the path"
            ) from None
        data, node = _parse_yaml(text, path, DictionaryError)
        return cls.from_dict(data, source=str(path), _lines=_key_lines(node))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None,
                  _lines: dict[tuple, int] | None = None) -> "DataDictionary":
        """Build a dictionary from a mapping with the same structure as the YAML file."""
        where = source or "data dictionary"
        lines = _lines or {}
        if not isinstance(data, Mapping):
            raise DictionaryError(f"{where}: the top level must be a mapping with 'study', 'waves' "
                                  "and 'datasets'", [("", 1, "top level is not a mapping")])
        problems: list[tuple[str, int | None, str]] = []
        try:
            raw = _RawDictionary.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, (), lines))
            raise _dictionary_error(where, problems) from None

        waves = []
        for wname, wspec in raw.waves.items():
            try:
                waves.append(Wave.model_validate({"name": wname, **(wspec or {})}))
            except ValidationError as exc:
                problems.extend(_pydantic_problems(exc, ("waves", wname), lines))
        wave_names = [w.name for w in waves]
        wave_levels = {w.name: w.label or w.name for w in waves}

        datasets: dict[str, Dataset] = {}
        for dname, rds in raw.datasets.items():
            variables: dict[str, Variable] = {}
            for vname, vspec in rds.variables.items():
                path = ("datasets", dname, "variables", vname)
                if not _NAME.match(str(vname)):
                    problems.append((_dotted(path), lines.get(path),
                                     f"variable name {vname!r} must be letters, digits and '_'"))
                    continue
                spec = dict(vspec or {})
                if spec.get("role") == "wave" and "levels" not in spec and wave_names:
                    spec["levels"] = wave_levels  # the wave column's codes are the declared waves
                spec.pop("name", None)  # the mapping key is the name
                try:
                    variables[vname] = Variable.model_validate({"name": vname, **spec})
                except ValidationError as exc:
                    problems.extend(_pydantic_problems(exc, path, lines))
            for i, item_set in enumerate(rds.item_sets):
                for var in item_set.expand():
                    if var.name in variables:
                        path = ("datasets", dname, "item_sets", i)
                        problems.append((_dotted(path), lines.get(path),
                                         f"item {var.name!r} is declared twice"))
                    variables[var.name] = var
            for j, key in enumerate(rds.keys):
                if key not in variables:
                    path = ("datasets", dname, "keys", j)
                    problems.append((_dotted(path), lines.get(path),
                                     f"key {key!r} is not a declared variable of {dname!r}"))
            ds_path = ("datasets", dname)
            if not any(v.role == "id" for v in variables.values()):
                problems.append((_dotted(ds_path), lines.get(ds_path),
                                 "no variable has role 'id'; mark the participant identifier with role: id"))
            datasets[dname] = Dataset(name=dname, file=rds.file, description=rds.description,
                                      keys=tuple(rds.keys), variables=variables)

        ids = {v.name for ds in datasets.values() for v in ds.by_role("id")}
        if len(ids) > 1:
            problems.append(("datasets", lines.get(("datasets",)),
                             f"datasets disagree on the participant identifier: {sorted(ids)}; use one name"))
        if problems:
            raise _dictionary_error(where, problems)
        waves.sort(key=lambda w: w.week)
        return cls(study=raw.study, description=raw.description, waves=tuple(waves),
                   datasets=datasets, missing_codes=raw.missing_codes, source=source)

    # ------------------------------------------------------------------ lookups
    def dataset(self, name: str) -> Dataset:
        """The dataset called ``name``; unknown names list the declared ones."""
        try:
            return self.datasets[name]
        except KeyError:
            raise UnknownNameError(f"dataset {name!r} is not in the data dictionary; "
                                   f"declared: {', '.join(self.datasets)}") from None

    def variables(self) -> Iterator[Variable]:
        """Every declared variable (a key shared by datasets is yielded once)."""
        seen = set()
        for ds in self.datasets.values():
            for v in ds.variables.values():
                if v.name not in seen:
                    seen.add(v.name)
                    yield v

    def variable(self, name: str) -> Variable:
        """The declaration of column ``name`` in whichever dataset declares it."""
        for v in self.variables():
            if v.name == name:
                return v
        raise UnknownNameError(f"variable {name!r} is not declared in any dataset of the dictionary")

    def by_role(self, role: str) -> list[Variable]:
        """Variables with the given role (``context``, ``item``, ``dose`` …)."""
        if role not in ROLES:
            raise UnknownNameError(f"role {role!r} does not exist; roles are: {', '.join(ROLES)}")
        return [v for v in self.variables() if v.role == role]

    def missing_codes_for(self, var: Variable) -> tuple:
        return var.missing_codes if var.missing_codes is not None else self.missing_codes

    def wave(self, name: str) -> Wave:
        for w in self.waves:
            if w.name == name:
                return w
        raise UnknownNameError(f"wave {name!r} is not declared; waves are: "
                               f"{', '.join(w.name for w in self.waves)}")

    def instruments(self) -> dict[str, list[Variable]]:
        """Item variables grouped by instrument id, in item order."""
        out: dict[str, list[Variable]] = {}
        for v in self.variables():
            if v.instrument is not None:
                out.setdefault(v.instrument, []).append(v)
        return {k: sorted(vs, key=lambda v: v.item or 0) for k, vs in out.items()}

    def _single(self, role: str) -> str | None:
        names = [v.name for v in self.by_role(role)]
        return names[0] if names else None

    @property
    def id_column(self) -> str:
        """Name of the participant identifier column."""
        return self._single("id") or "participant_id"

    @property
    def wave_column(self) -> str | None:
        return self._single("wave")

    @property
    def date_column(self) -> str | None:
        return self._single("date")

    @property
    def baseline(self) -> Wave:
        return self.waves[0]

    def __repr__(self) -> str:
        return (f"DataDictionary(study={self.study!r}, waves={[w.name for w in self.waves]}, "
                f"datasets={list(self.datasets)})")


# ---------------------------------------------------------------------- helpers
def _dictionary_error(where: str, problems: list[tuple[str, int | None, str]]) -> DictionaryError:
    message, unique = _problem_report(where, problems, "data dictionary")
    return DictionaryError(message, unique)
