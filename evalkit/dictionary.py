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

from ._config import _dotted, _problem_report, _pydantic_problems, _read_yaml
from ._headers import _header_key
from .errors import DictionaryError, UnknownNameError
from .session_log import SessionLog

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
    aliases: tuple[str, ...] = ()

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases_as_tuple(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            empty = [i for i, a in enumerate(v) if isinstance(a, str) and not a.strip()]
            if empty:
                raise ValueError("an alias is empty; give the other names the column is exported "
                                 "under, e.g. aliases: [Participant_ID, pid]")
            return tuple(a.strip() if isinstance(a, str) else a for a in v)
        return v

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_as_mapping(cls, v: Any) -> Any:
        # Levels may be written as a list of codes or as {code: label}; codes are matched as text.
        if isinstance(v, (list, dict)):
            pairs = ([(code, code) for code in v] if isinstance(v, list) else list(v.items()))
            out: dict[str, str] = {}
            twice: list[str] = []
            for code, lab in pairs:
                key = str(code)
                if key in out:
                    twice.append(key)
                out[key] = str(lab)
            if twice:
                raise ValueError(f"level code(s) {', '.join(map(repr, dict.fromkeys(twice)))} are "
                                 "listed twice (codes are compared as text, so 1 and '1' are the "
                                 "same); keep one of each")
            return out
        return v

    @field_validator("levels")
    @classmethod
    def _labels_distinct(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if not v:
            return v
        # Values are matched to levels by code or by label, ignoring case and surrounding spaces.
        by_label: dict[str, list[str]] = {}
        for code, lab in v.items():
            by_label.setdefault(lab.strip().lower(), []).append(code)
        same = [(codes, v[codes[0]]) for codes in by_label.values() if len(codes) > 1]
        if same:
            listed = "; ".join(f"{', '.join(map(repr, codes))} are all labelled {lab!r}"
                               for codes, lab in same)
            raise ValueError(f"duplicate level labels: {listed}; give every level its own label")
        codes_lower = {c.strip().lower(): c for c in v}
        clash = [(code, lab, codes_lower[lab.strip().lower()]) for code, lab in v.items()
                 if lab.strip().lower() in codes_lower and codes_lower[lab.strip().lower()] != code]
        if clash:
            listed = "; ".join(f"level {c!r} is labelled {lab!r}, which is the code of level {o!r}"
                               for c, lab, o in clash)
            raise ValueError(f"{listed}: a value {clash[0][1]!r} would be ambiguous; change the label")
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
    labels: dict[int, str] | None = Field(
        default=None, description="item number -> a short label for reports (a few words naming "
                                  "what the item measures, never its question wording)")
    aliases: dict[int, tuple[str, ...]] | None = Field(
        default=None, description="item number -> other names the item's column is exported under")

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases_as_tuples(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ([a] if isinstance(a, str) else a) for k, a in v.items()}
        return v

    @model_validator(mode="after")
    def _numbers_known(self) -> "ItemSet":
        known = set(self.numbers())
        for what, given in (("names", self.names), ("labels", self.labels),
                            ("aliases", self.aliases)):
            extra = sorted(set(given or {}) - known)
            if extra:
                raise ValueError(f"{what} given for item(s) {extra}, which the item set does not have "
                                 f"(items {min(known) if known else '-'}..{max(known) if known else '-'})")
        return self

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
                    label=(self.labels or {}).get(k) or (self.label and f"{self.label}, item {k}"),
                    range=self.range,
                    missing_codes=self.missing_codes,
                    instrument=self.instrument,
                    item=k,
                    coding=self.coding,
                    aliases=tuple((self.aliases or {}).get(k, ())),
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
    sheet: str | int | None = None
    rows: dict[str, tuple[str, ...]] | None = None
    session_log: SessionLog | None = None

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
    """A dataset's own keys; its variables and item sets are checked one by one afterwards."""

    file: str
    description: str | None = None
    keys: list[str]
    sheet: str | int | None = Field(default=None, description="Excel: sheet name or 0-based position")
    rows: dict[str, list[str]] | None = Field(
        default=None, description="for a file several datasets share (a REDCap export): the rows "
                                  "that belong to this dataset, column -> accepted values ('' = "
                                  "blank)")
    variables: dict[str, Any] = Field(default_factory=dict)
    item_sets: list[Any] = Field(default_factory=list)
    session_log: dict[str, Any] | None = Field(
        default=None, description="one row per session: summed per participant into "
                                  "sessions_attended, first/last_session_on, started "
                                  "(see evalkit.session_log)")

    @field_validator("rows", mode="before")
    @classmethod
    def _rows(cls, v: Any) -> Any:
        # values are compared as the file's text, so 1 and "1" are one value; None is a blank cell
        if isinstance(v, Mapping):
            return {k: ["" if x is None else str(x) for x in (vals if isinstance(vals, list)
                                                             else [vals])]
                    for k, vals in v.items()}
        return v

    @field_validator("sheet", mode="before")
    @classmethod
    def _sheet(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, int) and v < 0):
            raise ValueError(f"sheet must be a sheet name or a 0-based position (0, 1, ...), got {v!r}")
        if isinstance(v, str) and not v.strip():
            raise ValueError("sheet is empty; give the sheet's name or its 0-based position")
        return v


class _RawDictionary(_Frozen):
    """The top level; waves and datasets are checked one by one afterwards."""

    version: Literal[1] = 1
    study: str
    description: str | None = None
    missing_codes: tuple[MissingCode, ...] = ()
    waves: dict[str, Any]
    datasets: dict[str, Any]


def _validated(model, data, path: tuple, lines, problems, *, fields: tuple = ()):
    """``model.model_validate(data)`` or None; every error goes to ``problems``.

    When validation fails, the fields named in ``fields`` are returned from the raw mapping (if they
    have the right container type) so their contents can still be checked: one run lists every
    mistake, not just those of the first level that failed.
    """
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, path, lines))
    salvage = {}
    if isinstance(data, Mapping):
        for name, kind in fields:
            value = data.get(name)
            if isinstance(value, kind):
                salvage[name] = value
    return None, salvage


def _number(code) -> float | None:
    if isinstance(code, bool):
        return None
    try:
        return float(code)
    except (TypeError, ValueError):
        return None


def _overlaps(var: Variable, codes: tuple) -> list[str]:
    """Missing codes that a valid value of ``var`` could also be (as text for the message)."""
    out = []
    if var.numeric and var.range is not None:
        lo, hi = var.range
        for c in codes:
            x = _number(c)
            if x is None or not lo <= x <= hi:
                continue
            if var.type == "integer" and not float(x).is_integer():
                continue  # 2.5 is never a valid whole number, so it cannot be mistaken for one
            out.append(str(c))
    elif var.type == "category" and var.levels:
        level_codes = {k.strip().lower() for k in var.levels}
        for c in codes:
            text = str(c).strip().lower()
            x = _number(c)
            as_int = str(int(x)) if x is not None and float(x).is_integer() else None
            if text in level_codes or (as_int is not None and as_int in level_codes):
                out.append(str(c))
    return out


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
    evidence : pandas.DataFrame or None
        For a dictionary drafted from a REDCap project: the instrument item sets recognised, with
        the evidence for each, for the user to confirm.
    """

    def __init__(self, *, study: str, waves: tuple[Wave, ...], datasets: dict[str, Dataset],
                 missing_codes: tuple = (), description: str | None = None,
                 source: str | None = None, evidence=None):
        self.evidence = evidence
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
        data, lines, _ = _read_yaml(path, DictionaryError, "data dictionary")
        return cls.from_dict(data, source=str(path), _lines=lines)

    @classmethod
    def from_redcap(cls, metadata: str | Path, *, records: str | Path | None = None,
                    study: str | None = None, missing_codes: tuple = ()) -> "DataDictionary":
        """Convert a REDCap data dictionary (and record export) into an evalkit dictionary.

        Parameters
        ----------
        metadata : path
            The project's data dictionary CSV, as REDCap exports it.
        records : path, optional
            A record export (CSV, raw values). It tells the events (the waves, in order, with the week
            their names state: ``6_weeks_arm_1`` → wave ``6_weeks`` at week 6), which forms are
            filled once (participant-level) and which at every event, the repeating instruments, the
            data access groups (the sites) and the values, and it becomes the ``file`` of every
            dataset.
        study : str, optional
            The study's name in reports (default: from the metadata file's name).
        missing_codes : tuple, optional
            The project's missing-data codes (REDCap's "Missing Data Codes" setting). Choice options
            labelled like "Prefer not to say" or "Don't know" are missing codes of their field.

        Returns
        -------
        DataDictionary
            With ``evidence``: the instrument item sets recognised (by field names and choice codes),
            each with its evidence and ``status`` ("recognised: confirm", or "question" when it was
            not declared because something does not fit). ``evalkit import-redcap`` writes the same
            dictionary as commented YAML, every guess marked ``# check``.

        Raises
        ------
        DictionaryError
            When the metadata cannot be used (every problem with its line, column and value) or the
            draft is not a valid dictionary.

        Examples
        --------
        A worked example with the two files written out is in :mod:`evalkit.redcap`:

        >>> import evalkit as ek
        >>> ek.DataDictionary.from_redcap("no_such_metadata.csv")   # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        evalkit.errors.DictionaryError: cannot read the REDCap data dictionary: ...
        """
        import pandas as pd

        from .redcap.convert import EVIDENCE_COLUMNS, draft_from_redcap

        draft, evidence = draft_from_redcap(metadata, records=records, study=study,
                                            missing_codes=missing_codes)
        dd = cls.from_dict(draft.data, source=str(metadata))
        dd.evidence = pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS)
        return dd

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None,
                  _lines: dict[tuple, int] | None = None) -> "DataDictionary":
        """Build a dictionary from a mapping with the same structure as the YAML file.

        Every mistake is collected before anything is raised, so one :class:`DictionaryError` lists
        them all (unknown keys at every level, wrong types, ranges, levels, missing codes inside a
        variable's valid values, clashing aliases).
        """
        where = source or "data dictionary"
        lines = _lines or {}
        if not isinstance(data, Mapping):
            raise DictionaryError(f"{where}: the top level must be a mapping with 'study', 'waves' "
                                  "and 'datasets'", [("", 1, "top level is not a mapping")])
        problems: list[tuple[str, int | None, str]] = []

        def problem(path: tuple, message: str) -> None:
            problems.append((_dotted(path), _line_of(path, lines), message))

        raw, salvage = _validated(_RawDictionary, data, (), lines, problems,
                                  fields=(("waves", Mapping), ("datasets", Mapping),
                                          ("missing_codes", (list, tuple))))
        raw_waves = raw.waves if raw else salvage.get("waves", {})
        raw_datasets = raw.datasets if raw else salvage.get("datasets", {})
        global_missing = tuple(raw.missing_codes) if raw else tuple(
            c for c in salvage.get("missing_codes", ()) if isinstance(c, (int, float, str)))

        waves = []
        for wname, wspec in raw_waves.items():
            path = ("waves", wname)
            if wspec is not None and not isinstance(wspec, Mapping):
                problem(path, f"wave {wname!r} must be a mapping such as {{week: 6, window: [3, 10]}}, "
                              f"not {type(wspec).__name__}")
                continue
            wave, _ = _validated(Wave, {"name": str(wname), **(wspec or {})}, path, lines, problems)
            if wave is not None:
                waves.append(wave)
        wave_names = [w.name for w in waves]
        wave_levels = {w.name: w.label or w.name for w in waves}

        datasets: dict[str, Dataset] = {}
        for dname, dspec in raw_datasets.items():
            ds_path = ("datasets", dname)
            if not isinstance(dspec, Mapping):
                problem(ds_path, f"dataset {dname!r} must be a mapping with 'file', 'keys' and "
                                 f"'variables', not {type(dspec).__name__}")
                continue
            rds, salvage = _validated(_RawDataset, dspec, ds_path, lines, problems,
                                      fields=(("variables", Mapping), ("item_sets", list),
                                              ("keys", list)))
            raw_vars = rds.variables if rds else salvage.get("variables", {})
            raw_sets = rds.item_sets if rds else salvage.get("item_sets", [])
            keys = list(rds.keys) if rds else [k for k in salvage.get("keys", []) if isinstance(k, str)]

            variables: dict[str, Variable] = {}
            var_paths: dict[str, tuple] = {}
            for vname, vspec in raw_vars.items():
                path = ("datasets", dname, "variables", vname)
                if not _NAME.match(str(vname)):
                    problem(path, f"variable name {vname!r} must be letters, digits and '_'")
                    continue
                if vspec is not None and not isinstance(vspec, Mapping):
                    problem(path, f"variable {vname!r} must be a mapping such as {{type: integer}}, "
                                  f"not {type(vspec).__name__}")
                    continue
                spec = dict(vspec or {})
                if spec.get("role") == "wave" and "levels" not in spec and wave_names:
                    spec["levels"] = wave_levels  # the wave column's codes are the declared waves
                spec.pop("name", None)  # the mapping key is the name
                var, _ = _validated(Variable, {"name": vname, **spec}, path, lines, problems)
                if var is not None:
                    variables[vname] = var
                    var_paths[vname] = path
            for i, set_spec in enumerate(raw_sets):
                path = ("datasets", dname, "item_sets", i)
                item_set, _ = _validated(ItemSet, set_spec, path, lines, problems)
                if item_set is None:
                    continue
                for var in item_set.expand():
                    if var.name in variables:
                        problem(path, f"item {var.name!r} is declared twice")
                    variables[var.name] = var
                    var_paths[var.name] = path
            for j, key in enumerate(keys):
                if key not in variables and key not in raw_vars:
                    problem(("datasets", dname, "keys", j),
                            f"key {key!r} is not a declared variable of {dname!r}")
            if not any(v.role == "id" for v in variables.values()) and not any(
                    isinstance(v, Mapping) and v.get("role") == "id" for v in raw_vars.values()):
                problem(ds_path, "no variable has role 'id'; mark the participant identifier with role: id")
            _check_missing_codes(variables, var_paths, global_missing, problem)
            _check_aliases(dname, variables, var_paths, problem)
            log = None
            if rds is not None and rds.session_log is not None:
                log = _session_log(dname, rds.session_log, keys, variables, lines, problems)
            datasets[dname] = Dataset(name=dname, file=rds.file if rds else str(dspec.get("file")),
                                      description=rds.description if rds else None,
                                      keys=tuple(keys), variables=variables,
                                      sheet=rds.sheet if rds else None,
                                      rows=({k: tuple(v) for k, v in rds.rows.items()}
                                            if rds and rds.rows is not None else None),
                                      session_log=log)

        ids = {v.name for ds in datasets.values() for v in ds.by_role("id")}
        if len(ids) > 1:
            problem(("datasets",), f"datasets disagree on the participant identifier: {sorted(ids)}; "
                                   "use one name")
        _check_session_columns(datasets, problem)
        if problems or raw is None:
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
def _line_of(path: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of ``path`` in the YAML, else of its nearest enclosing key."""
    for k in range(len(path), -1, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return None


def _check_missing_codes(variables: dict[str, Variable], paths: dict[str, tuple], global_codes: tuple,
                         problem) -> None:
    """A missing code must not be a valid value too: 9 with range [0, 10] hides every real 9."""
    seen: set[tuple] = set()
    for var in variables.values():
        own = var.missing_codes is not None
        codes = var.missing_codes if own else global_codes
        clash = _overlaps(var, tuple(codes))
        if not clash:
            continue
        path = paths[var.name]
        key = (path, tuple(clash))
        if key in seen:  # an item set: one problem for the block, not one per item
            continue
        seen.add(key)
        in_set = path[-2] == "item_sets"
        name = f"item set {var.instrument!r}" if in_set else f"variable {var.name!r}"
        whose = "its own missing_codes" if own else "the top-level missing_codes"
        valid = (f"its range {_fmt_pair(var.range)}" if var.numeric else
                 f"its levels ({', '.join(var.levels or {})})")
        codes_txt = (f"missing code {clash[0]}" if len(clash) == 1 else
                     f"missing codes {', '.join(clash)}")
        verb = "is" if len(clash) == 1 else "are"
        fix = ("change its missing_codes to values outside them (e.g. -9)" if own else
               f"give {name} its own missing_codes outside them (e.g. missing_codes: [-9]), or "
               "change the top-level ones")
        problem(path + ("missing_codes",) if own and not in_set else path,
                f"{codes_txt} (from {whose}) {verb} also a valid value of {name}, within {valid}: "
                f"a real answer {clash[0]} would be read as missing; {fix}")


def _session_log(dname: str, spec, keys: list, variables: dict, lines, problems):
    """The dataset's ``session_log`` declaration, checked against its variables (or None)."""
    path = ("datasets", dname, "session_log")
    log, _ = _validated(SessionLog, spec, path, lines, problems)
    if log is None:
        return None
    ids = [v.name for v in variables.values() if v.role == "id"]
    if list(keys) == ids:
        problems.append((_dotted(path), _line_of(path, lines), f"dataset {dname!r} has one row per "
                         f"participant (keys: {keys}), but a session log has one row per session; "
                         "give its keys the session's number too (e.g. [participant_id, "
                         "redcap_repeat_instance]) or remove session_log"))
    if log.date is not None and (log.date not in variables or variables[log.date].type != "date"):
        problems.append((_dotted(path + ("date",)), _line_of(path + ("date",), lines),
                         f"{log.date!r} is not a date variable of dataset {dname!r}; name the "
                         "column holding each session's date, or write date: null"))
    return log


def _check_session_columns(datasets: dict, problem) -> None:
    """The columns session logs add must not clash with declared ones, nor with each other."""
    declared = {v for ds in datasets.values() for v in ds.variables}
    added: dict[str, str] = {}
    for dname, ds in datasets.items():
        if ds.session_log is None:
            continue
        for key, col, _ in ds.session_log.added():
            other = f"variable {col!r} is declared" if col in declared else (
                f"session log {added[col]!r} adds {col!r} too" if col in added else None)
            if other:
                problem(("datasets", dname, "session_log", key), f"session log {dname!r} would add "
                        f"a column {col!r} to the participants, but {other}; rename it here "
                        f"({key}: {col}_logged) or write {key}: null to take it from the data")
            added[col] = dname


def _fmt_pair(pair) -> str:
    f = (lambda x: str(int(x)) if float(x).is_integer() else str(x))
    return f"[{f(pair[0])}, {f(pair[1])}]"


def _check_aliases(dname: str, variables: dict[str, Variable], paths: dict[str, tuple], problem) -> None:
    """Within a dataset, every header (name or alias, compared as headers are) means one variable."""
    owner: dict[str, str] = {}
    for var in variables.values():
        key = _header_key(var.name)
        if key in owner:
            problem(paths[var.name], f"variables {owner[key]!r} and {var.name!r} of {dname!r} differ "
                                     "only in case or '_', so a header cannot tell them apart; "
                                     "rename one")
        owner.setdefault(key, var.name)
    claimed: dict[str, str] = {}
    for var in variables.values():
        for alias in var.aliases:
            key = _header_key(alias)
            path = paths[var.name] + ("aliases",)
            other = owner.get(key)
            if other is not None and other != var.name:
                problem(path, f"alias {alias!r} of {var.name!r} is the name of another variable of "
                              f"{dname!r} ({other!r}); remove it from the aliases")
            elif key in claimed and claimed[key] != var.name:
                problem(path, f"alias {alias!r} is claimed by both {claimed[key]!r} and "
                              f"{var.name!r} in {dname!r}; a column can mean only one variable, so "
                              "keep it in one list of aliases")
            else:
                claimed[key] = var.name


def _dictionary_error(where: str, problems: list[tuple[str, int | None, str]]) -> DictionaryError:
    message, unique = _problem_report(where, problems, "data dictionary")
    return DictionaryError(message, unique)
