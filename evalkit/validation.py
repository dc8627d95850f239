"""Check data files against the data dictionary and report every problem at once.

Validation never stops at the first problem and never raises for a data problem: it returns a
:class:`ValidationReport` whose ``problems`` table says, for each one, the file, line (header = line
1), column, participant, value, rule broken and how to fix it. Cells that break a rule become missing
in the cleaned data; rows whose keys are unusable are excluded. Both are counted in the participant
flow (``report.flow``) and listed in ``report.exclusions``, so nothing is lost silently.

Examples
--------
>>> import evalkit as ek
>>> cohort = ek.simulate_cohort(n=40, seed=3)
>>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
>>> report = ek.validate({"participants": cohort.participants, "responses": cohort.responses},
...                      dictionary=dd)
>>> report.ok
True
>>> bad = cohort.responses.copy()
>>> bad.loc[0, "epds_3"] = 7
>>> report = ek.validate({"participants": cohort.participants, "responses": bad}, dictionary=dd)
>>> report.problems[["file", "line", "column", "value", "rule"]].to_string(index=False)
'     file  line column value  rule\\nresponses     2 epds_3     7 range'
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .dictionary import DataDictionary, Dataset, Variable
from .errors import DataReadError, DataValidationError, SpecificationError

__all__ = ["validate", "ValidationReport", "coerce_table", "PROBLEM_COLUMNS", "RULES"]

PROBLEM_COLUMNS = ["file", "line", "column", "participant_id", "value", "rule", "message", "severity"]

#: Every rule the validator checks, with a one-line description (shown by ``evalkit validate --rules``).
RULES = {
    "unreadable_file": "the file could not be read",
    "unknown_file": "the file matches no dataset of the dictionary",
    "missing_dataset": "a dataset declared in the dictionary was not supplied",
    "unknown_column": "a column is not declared in the dictionary",
    "missing_column": "a declared column is absent from the file",
    "type": "a value is not of the declared type (number, date, yes/no)",
    "integer": "a value of an integer variable has a fractional part",
    "range": "a number lies outside the declared range",
    "level": "a code is not one of the declared levels",
    "required": "a required value (or a key) is empty",
    "duplicate_key": "two rows share the same key (participant × wave)",
    "date_future": "a date lies in the future",
    "date_window": "a questionnaire date lies outside its wave's visit window",
    "unknown_participant": "a participant has responses but no row in the participants file",
    "no_responses": "a participant has no questionnaire responses at all",
}

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_ISO = "%Y-%m-%d"


# ====================================================================== the report
@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`.

    Attributes
    ----------
    problems : pandas.DataFrame
        One row per problem with columns ``file, line, column, participant_id, value, rule, message,
        severity``; sorted by file, line and column.
    flow : pandas.DataFrame
        Participant flow: ``dataset, stage, reason, records, participants`` — records read, excluded
        (with the reason), valid, and participants measured at each wave.
    exclusions : pandas.DataFrame
        Every excluded record: ``dataset, file, line, participant_id, reason``.
    data : dict of str to pandas.DataFrame
        The typed, cleaned data per dataset (invalid cells set to missing, excluded rows removed; a
        ``_line`` column keeps each row's line in its file).
    files : dict of str to str
        The file each dataset was read from.
    """

    problems: pd.DataFrame
    flow: pd.DataFrame
    exclusions: pd.DataFrame
    data: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no problem of severity ``error``."""
        return not (self.problems["severity"] == "error").any()

    @property
    def n_errors(self) -> int:
        return int((self.problems["severity"] == "error").sum())

    def to_records(self) -> list[dict]:
        """Problems as a list of JSON-ready dicts (the ``--json`` format of the design)."""
        out = []
        for rec in self.problems.to_dict(orient="records"):
            out.append({k: (None if _isna(v) else (int(v) if k == "line" else v))
                        for k, v in rec.items()})
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        """Write (and return) the problem list as JSON."""
        text = json.dumps(self.to_records(), indent=2, ensure_ascii=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def summary(self) -> str:
        """A short human-readable account: counts by rule, then every problem on its own line."""
        if self.problems.empty:
            return "No problems found."
        counts = self.problems.groupby("rule", sort=True).size()
        head = f"{len(self.problems)} problem(s): " + ", ".join(f"{r} {n}" for r, n in counts.items())
        body = [_format_problem(r) for r in self.problems.itertuples(index=False)]
        return "\n".join([head, *body])

    def raise_if_problems(self) -> "ValidationReport":
        """Raise :class:`DataValidationError` (holding this report) when there are errors."""
        if not self.ok:
            raise DataValidationError(f"{self.n_errors} data problem(s); see .report.problems\n"
                                      + self.summary(), report=self)
        return self

    def __repr__(self) -> str:
        return (f"ValidationReport(ok={self.ok}, problems={len(self.problems)}, "
                f"datasets={sorted(self.data)})")


def _format_problem(r) -> str:
    where = f"{r.file}:{r.line}" if not _isna(r.line) else f"{r.file}"
    col = f" [{r.column}]" if not _isna(r.column) else ""
    who = f" participant {r.participant_id}" if not _isna(r.participant_id) else ""
    return f"{where}{col}{who}: {r.message} ({r.rule})"


def _isna(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT


# ====================================================================== column coercion
class _Problems:
    """Collects problems column-wise (vectorised) and builds one tidy table at the end."""

    def __init__(self):
        self._chunks: list[pd.DataFrame] = []

    def add(self, *, file, rule, message, line=None, column=None, participant_id=None, value=None,
            severity="error"):
        self._chunks.append(pd.DataFrame([{
            "file": file, "line": line, "column": column, "participant_id": participant_id,
            "value": value, "rule": rule, "message": message, "severity": severity}]))

    def add_many(self, *, file, rule, lines, column, participant_ids, values, messages,
                 severity="error"):
        n = len(lines)
        if n == 0:
            return
        self._chunks.append(pd.DataFrame({
            "file": file, "line": np.asarray(lines, dtype="int64"), "column": column,
            "participant_id": list(participant_ids), "value": list(values), "rule": rule,
            "message": list(messages) if not isinstance(messages, str) else [messages] * n,
            "severity": severity}))

    def extend(self, frame: pd.DataFrame):
        if len(frame):
            self._chunks.append(frame[PROBLEM_COLUMNS])

    def frame(self) -> pd.DataFrame:
        chunks = [c for c in self._chunks if len(c)]
        if not chunks:
            return _empty_problems()
        out = pd.concat(chunks, ignore_index=True)
        out["line"] = out["line"].astype("Int64")
        for col in ("file", "column", "participant_id", "value", "rule", "message", "severity"):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        out["_order"] = out["rule"].map({r: i for i, r in enumerate(RULES)})
        out = out.sort_values(["file", "line", "_order", "column"], na_position="first",
                              kind="stable").drop(columns="_order")
        return out.reset_index(drop=True)


def _empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "line" else object)
                         for c in PROBLEM_COLUMNS})


def _as_text(s: pd.Series) -> pd.Series:
    """Raw values as stripped text, with empty cells as <NA>; numbers lose a trailing '.0'."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_float_dtype(s.dtype):
        # SPSS/Stata/Parquet numbers: 3.0 -> "3" so codes compare with the dictionary's text
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(vals) & (vals == np.round(vals))
        txt = pd.Series(vals, index=s.index).astype(str)
        txt[whole] = pd.Series(vals[whole]).astype("int64").astype(str).to_numpy()
        return txt.where(~np.isnan(vals), None).astype("string")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.dt.strftime(_ISO).astype("string")
    txt = s.astype("string").str.strip()
    return txt.mask(txt == "", pd.NA)


def _missing_mask(text: pd.Series, codes: tuple) -> pd.Series:
    if not codes:
        return pd.Series(False, index=text.index)
    str_codes = {str(c) for c in codes}
    num_codes = []
    for c in codes:
        try:
            num_codes.append(float(c))
        except (TypeError, ValueError):
            pass
    mask = text.isin(str_codes).fillna(False).astype(bool)
    if num_codes:
        num = pd.to_numeric(text, errors="coerce")
        mask |= num.isin(num_codes).fillna(False).astype(bool)
    return mask


def _fmt_range(var: Variable) -> str:
    lo, hi = var.range
    f = (lambda x: str(int(x)) if float(x).is_integer() else str(x))
    return f"[{f(lo)}, {f(hi)}]"


def _missing_hint(codes: tuple) -> str:
    return f" (missing code {' or '.join(str(c) for c in codes)})" if codes else " (an empty cell)"


def coerce_table(raw: pd.DataFrame, *, dictionary: DataDictionary, dataset: str | Dataset | None = None,
                 file: str = "data", today: _dt.date | None = None,
                 lines: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert a raw table to the types the dictionary declares, collecting every problem.

    Parameters
    ----------
    raw : pandas.DataFrame
        Values as read from the file (text for CSV; typed for Excel, SPSS, Stata, Parquet).
    dictionary : DataDictionary
    dataset : str or Dataset, optional
        Which dataset ``raw`` is; matched from ``file`` and the columns when omitted.
    file : str
        File name used in problem reports.
    today : datetime.date, optional
        Reference for the "date in the future" rule (default: today's date).
    lines : array of int, optional
        Line number of each row in its file (default: row position + 2, header = line 1).

    Returns
    -------
    typed : pandas.DataFrame
        Declared columns with typed values (integers as ``Int64``, categories as ``Categorical``,
        booleans as ``boolean``, dates as ``datetime64``); a cell that broke a rule is missing. A
        ``_line`` column holds each row's line number. Undeclared columns are left out.
    problems : pandas.DataFrame
        One row per problem (see :data:`PROBLEM_COLUMNS`).
    """
    ds = dataset if isinstance(dataset, Dataset) else (
        dictionary.dataset(dataset) if dataset else _match_dataset(raw, file, dictionary))
    if ds is None:
        raise SpecificationError(f"{file}: its columns match no dataset of the dictionary; pass "
                                 f"dataset= one of {', '.join(dictionary.datasets)}")
    today = today or _dt.date.today()
    probs = _Problems()
    lines = np.arange(len(raw), dtype="int64") + 2 if lines is None else np.asarray(lines)
    id_col = dictionary.id_column
    pid = (_as_text(raw[id_col]) if id_col in raw.columns
           else pd.Series(pd.NA, index=raw.index, dtype="string"))
    pid_obj = pid.astype(object).where(pid.notna(), None).to_numpy()

    for col in raw.columns:
        if col not in ds.variables:
            probs.add(file=file, line=1, column=col, rule="unknown_column",
                      message=f"column {col!r} is not declared for dataset {ds.name!r}; add it to the "
                              f"dictionary or remove it from the file")
    typed = {}
    for name, var in ds.variables.items():
        if name not in raw.columns:
            probs.add(file=file, line=1, column=name, rule="missing_column",
                      message=f"declared column {name!r} is missing from the file; add the column "
                              f"(it may be empty) or check the header spelling")
            continue
        typed[name] = _coerce_column(raw[name], var, dictionary, file, lines, pid_obj, probs, today,
                                     required=var.required or name in ds.keys)
    out = pd.DataFrame(typed, index=raw.index)
    out["_line"] = lines
    return out, probs.frame()


def _coerce_column(s, var, dictionary, file, lines, pid, probs, today, *, required):
    """Coerce one column, reporting each bad cell.

    Rules are evaluated on the column's distinct values only (item columns hold a handful), then
    mapped back to rows: this keeps validation of 200,000 rows to a few seconds.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    u = pd.Series(uniq)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        u = pd.to_datetime(u)
    typed_u, flags = _coerce_unique(u, var, dictionary, today, required=required)
    text_u = _as_text(u).to_numpy(dtype=object, na_value=None)
    for rule, bad_u, message in flags:
        if not bad_u.any():
            continue
        rows = np.flatnonzero(bad_u[codes])
        vals = text_u[codes[rows]]
        msgs = message if isinstance(message, str) else [message(v) for v in vals]
        probs.add_many(file=file, rule=rule, lines=lines[rows], column=var.name,
                       participant_ids=pid[rows], values=[None if v is None else str(v) for v in vals],
                       messages=msgs)
    out = typed_u.iloc[codes]
    out.index = s.index
    return out


def _coerce_unique(s, var, dictionary, today, *, required):
    """Typed values and rule violations ``(rule, bad_mask, message)`` for distinct raw values."""
    codes = dictionary.missing_codes_for(var)
    text = _as_text(s)
    missing_coded = _missing_mask(text, codes)
    present = text.notna().to_numpy() & ~missing_coded.to_numpy()
    name = var.name
    flags: list = []
    if required:
        flags.append(("required", ~present,
                      f"{name!r} is empty on this row; every row needs a value (keys and required "
                      f"columns cannot be missing)"))

    if var.numeric:
        if pd.api.types.is_numeric_dtype(s.dtype):
            num = pd.to_numeric(s, errors="coerce").where(present)
        else:
            num = pd.to_numeric(text.where(present).astype(object), errors="coerce")
        bad_type = present & num.isna().to_numpy()
        hint = (f"a number in {_fmt_range(var)}" if var.range else "a number") + " or mark it missing" + _missing_hint(codes)
        flags.append(("type", bad_type, lambda v: f"{v!r} in {name!r} is not a number; enter {hint}"))
        ok = present & ~bad_type
        vals = num.to_numpy(dtype=float, na_value=np.nan)
        bad_int = np.zeros(len(s), bool)
        if var.type == "integer":
            bad_int = ok & (np.abs(vals - np.round(vals)) > 1e-9)
            flags.append(("integer", bad_int,
                          lambda v: f"{v} in {name!r} is not a whole number; enter {hint}"))
        if var.range is not None:
            lo, hi = var.range
            bad_range = ok & ~bad_int & ((vals < lo) | (vals > hi))
            flags.append(("range", bad_range,
                          lambda v: f"{v} in {name!r} is outside the allowed range {_fmt_range(var)}; "
                                    f"correct it or record it as missing{_missing_hint(codes)}"))
            ok &= ~bad_range
        keep = ok & ~bad_int
        vals = np.where(keep, vals, np.nan)
        if var.type == "integer":
            return pd.Series(pd.array(np.round(vals), dtype="Float64").astype("Int64")), flags
        return pd.Series(vals, dtype="float64"), flags

    if var.type == "category":
        levels = var.levels or {}
        by_label = {lab.lower(): code for code, lab in levels.items()}
        codes_lower = {code.lower(): code for code in levels}
        low = text.where(present).str.lower()
        mapped = low.map(codes_lower)
        mapped = mapped.fillna(low.map(by_label))  # SPSS/Stata value labels arrive as labels
        bad = present & mapped.isna().to_numpy()
        allowed = ", ".join(levels)
        flags.append(("level", bad,
                      lambda v: f"{v!r} is not a declared level of {name!r}; use one of: {allowed} "
                                f"(or add the code to the dictionary's levels)"))
        cat = pd.Categorical(mapped.astype(object).where(mapped.notna() & ~bad, None),
                             categories=list(levels), ordered=var.ordered)
        return pd.Series(cat), flags

    if var.type == "boolean":
        low = text.where(present).str.lower()
        truth = pd.Series(pd.NA, index=s.index, dtype="boolean")
        truth[low.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        truth[low.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        bad = present & truth.isna().to_numpy()
        flags.append(("type", bad, lambda v: f"{v!r} in {name!r} is not yes/no; use true/false, yes/no "
                                             f"or 1/0, or mark it missing{_missing_hint(codes)}"))
        return truth, flags

    if var.type == "date":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            parsed = pd.to_datetime(s).where(present)
        else:
            fmt = var.format or _ISO
            parsed = pd.to_datetime(text.where(present), format=fmt, errors="coerce")
            if s.dtype == object:  # Excel cells may hold datetime objects
                is_dt = s.map(lambda v: isinstance(v, (_dt.date, pd.Timestamp))).to_numpy(bool)
                if is_dt.any():
                    parsed = parsed.where(~is_dt, pd.to_datetime(s.where(is_dt), errors="coerce"))
        parsed = parsed.dt.normalize()
        bad = present & parsed.isna().to_numpy()
        shown = (var.format or "YYYY-MM-DD").replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")
        flags.append(("type", bad, lambda v: f"{v!r} in {name!r} is not a valid date; write it as {shown}"))
        future = present & ~bad & (parsed > pd.Timestamp(today)).fillna(False).to_numpy(bool)
        flags.append(("date_future", future,
                      lambda v: f"date {v} in {name!r} is in the future (today is {today.isoformat()}); "
                                f"check the day, month and year"))
        return parsed.where(~pd.Series(bad | future, index=s.index)), flags

    # string
    return text.where(present).astype(object).where(lambda x: x.notna(), None), flags


# ====================================================================== dataset matching
def _match_dataset(raw: pd.DataFrame, file: str, dictionary: DataDictionary) -> Dataset | None:
    stem = Path(file).stem.lower()
    for ds in dictionary.datasets.values():
        if Path(ds.file).stem.lower() == stem or ds.name.lower() == stem:
            return ds
    cols = set(map(str, raw.columns))
    best, score = None, 0.0
    for ds in dictionary.datasets.values():
        overlap = len(cols & set(ds.variables)) / max(len(ds.variables), 1)
        if set(ds.keys) <= cols and overlap > score:
            best, score = ds, overlap
    return best if score >= 0.5 else None


# ====================================================================== validate
def validate(paths_or_frames, *, dictionary: DataDictionary | str | Path,
             today: _dt.date | None = None) -> ValidationReport:
    """Check data files (or frames) against the data dictionary, reporting every problem at once.

    Parameters
    ----------
    paths_or_frames : path, sequence of paths, or mapping of dataset name to path or DataFrame
        The files to check. Paths are matched to datasets by file name (``participants.csv`` →
        dataset ``participants``) or, failing that, by their columns. Frames are named by their key.
    dictionary : DataDictionary or path
        The data dictionary (a path is read with :meth:`DataDictionary.from_yaml`).
    today : datetime.date, optional
        Reference date for the "date in the future" rule (default: today).

    Returns
    -------
    ValidationReport
        ``.ok``, ``.problems`` (file, line, column, participant_id, value, rule, message, severity),
        ``.flow`` (participant flow), ``.exclusions`` and ``.data`` (typed, cleaned frames).

    Notes
    -----
    Rules are listed in :data:`RULES`. A cell that breaks a rule is set to missing in ``.data``; a row
    whose key is unusable (empty or invalid id or wave, a duplicate key, or a participant unknown to
    the participants file) is excluded from ``.data`` and counted in ``.flow`` with its reason.
    Line numbers count the header as line 1, for every file format.
    """
    dd = dictionary if isinstance(dictionary, DataDictionary) else DataDictionary.from_yaml(dictionary)
    today = today or _dt.date.today()
    probs = _Problems()
    inputs = _normalise_inputs(paths_or_frames)

    raw_tables: dict[str, tuple[pd.DataFrame, str]] = {}
    for label, obj in inputs:
        if isinstance(obj, pd.DataFrame):
            raw, file = obj.reset_index(drop=True), label
        else:
            from .io import read_table  # lazily: readers pull in pyreadstat/openpyxl

            file = str(obj)
            try:
                raw = read_table(obj)
            except DataReadError as exc:
                probs.add(file=file, rule="unreadable_file", message=str(exc))
                continue
        ds = (dd.datasets.get(label) if isinstance(obj, pd.DataFrame) else None) or \
            _match_dataset(raw, file, dd)
        if ds is None:
            probs.add(file=file, rule="unknown_file",
                      message=f"the file matches no dataset of the dictionary (declared: "
                              f"{', '.join(d.file for d in dd.datasets.values())}); rename it or "
                              f"add a dataset for it")
            continue
        if ds.name in raw_tables:
            probs.add(file=file, rule="unknown_file",
                      message=f"a second file for dataset {ds.name!r} (first: "
                              f"{raw_tables[ds.name][1]}); supply one file per dataset")
            continue
        raw_tables[ds.name] = (raw, file)

    typed: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for name, (raw, file) in raw_tables.items():
        frame, p = coerce_table(raw, dictionary=dd, dataset=name, file=file, today=today)
        probs.extend(p)
        typed[name], files[name] = frame, file
    for name in dd.datasets:
        if name not in typed:
            probs.add(file=dd.dataset(name).file, rule="missing_dataset", severity="warning",
                      message=f"no file was given for dataset {name!r} ({dd.dataset(name).file}); "
                              f"checks that need it were skipped")

    exclusions = _Exclusions()
    for name, frame in typed.items():
        typed[name] = _check_keys(frame, dd.dataset(name), dd, files[name], probs, exclusions)
    _check_participants(typed, files, dd, probs, exclusions)
    _check_windows(typed, files, dd, probs)

    flow = _flow(raw_tables, typed, exclusions, dd)
    return ValidationReport(problems=probs.frame(), flow=flow, exclusions=exclusions.frame(),
                            data=typed, files=files)


def _normalise_inputs(obj) -> list[tuple[str, object]]:
    if isinstance(obj, (str, Path)):
        return [(str(obj), obj)]
    if isinstance(obj, pd.DataFrame):
        return [("data", obj)]
    if isinstance(obj, Mapping):
        return [(str(k), v) for k, v in obj.items()]
    if isinstance(obj, Sequence):
        return [(str(p), p) for p in obj]
    raise SpecificationError(f"validate() takes a path, a list of paths or a mapping of dataset name "
                             f"to path or DataFrame, not {type(obj).__name__}")


class _Exclusions:
    def __init__(self):
        self.rows: list[pd.DataFrame] = []

    def add(self, dataset, file, frame, mask, reason, id_col):
        if mask.any():
            sub = frame.loc[mask]
            self.rows.append(pd.DataFrame({
                "dataset": dataset, "file": file, "line": sub["_line"].to_numpy(),
                "participant_id": sub[id_col].to_numpy() if id_col in sub else None,
                "reason": reason}))

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=["dataset", "file", "line", "participant_id", "reason"])
        return pd.concat(self.rows, ignore_index=True).sort_values(
            ["dataset", "line"], kind="stable").reset_index(drop=True)


def _check_keys(frame, ds, dd, file, probs, excl):
    keys = [k for k in ds.keys if k in frame.columns]
    if not keys:
        return frame
    id_col = dd.id_column
    unusable = frame[keys].isna().any(axis=1).to_numpy()
    excl.add(ds.name, file, frame, unusable, "empty or invalid key (" + " × ".join(keys) + ")", id_col)
    frame = frame.loc[~unusable]
    dup = frame.duplicated(keys, keep="first").to_numpy()
    if dup.any():
        first_line = frame.groupby(keys, observed=True, sort=False)["_line"].transform("first")
        sub = frame.loc[dup]
        key_txt = sub[keys].astype(str).agg(" × ".join, axis=1)
        msgs = [f"duplicate key {k} (first at line {fl}); keep one row per {' × '.join(keys)}"
                for k, fl in zip(key_txt, first_line[dup])]
        probs.add_many(file=file, rule="duplicate_key", lines=sub["_line"].to_numpy(),
                       column=" × ".join(keys), participant_ids=sub[id_col].to_numpy() if id_col in sub else [None] * len(sub),
                       values=key_txt.to_numpy(), messages=msgs)
        excl.add(ds.name, file, frame, dup, "duplicate key (a later copy; the first row is kept)", id_col)
        frame = frame.loc[~dup]
    return frame


def _response_dataset(dd: DataDictionary) -> str | None:
    wave_col = dd.wave_column
    for name, ds in dd.datasets.items():
        if wave_col and wave_col in ds.keys:
            return name
    return None


def _person_dataset(dd: DataDictionary) -> str | None:
    for name, ds in dd.datasets.items():
        if tuple(ds.keys) == (dd.id_column,):
            return name
    return None


def _check_participants(typed, files, dd, probs, excl):
    rname, pname = _response_dataset(dd), _person_dataset(dd)
    if rname not in typed or pname not in typed:
        return
    id_col = dd.id_column
    resp, people = typed[rname], typed[pname]
    known = set(people[id_col])
    unknown = ~resp[id_col].isin(known).to_numpy()
    if unknown.any():
        sub = resp.loc[unknown]
        probs.add_many(
            file=files[rname], rule="unknown_participant", lines=sub["_line"].to_numpy(), column=id_col,
            participant_ids=sub[id_col].to_numpy(), values=sub[id_col].to_numpy(),
            messages=[f"participant {p} has responses but is not in {files[pname]}; add her row there "
                      f"or correct the id" for p in sub[id_col]])
        excl.add(rname, files[rname], resp, unknown, f"participant not in {Path(files[pname]).name}", id_col)
        typed[rname] = resp.loc[~unknown]
    answered = set(typed[rname][id_col])
    silent = ~people[id_col].isin(answered).to_numpy()
    if silent.any():
        sub = people.loc[silent]
        probs.add_many(
            file=files[pname], rule="no_responses", lines=sub["_line"].to_numpy(), column=id_col,
            participant_ids=sub[id_col].to_numpy(), values=sub[id_col].to_numpy(),
            messages=[f"participant {p} has no questionnaire in {files[rname]}; add her responses or "
                      f"correct the id" for p in sub[id_col]])


def _check_windows(typed, files, dd, probs):
    rname = _response_dataset(dd)
    date_col, wave_col, id_col = dd.date_column, dd.wave_column, dd.id_column
    if rname not in typed or not date_col or not wave_col:
        return
    resp = typed[rname]
    if date_col not in resp or wave_col not in resp:
        return
    base_name = dd.baseline.name
    base = resp.loc[resp[wave_col] == base_name].set_index(id_col)[date_col]
    base_date = resp[id_col].map(base)
    weeks = (resp[date_col] - base_date).dt.days / 7.0
    lo = resp[wave_col].astype(object).map({w.name: w.window[0] for w in dd.waves})
    hi = resp[wave_col].astype(object).map({w.name: w.window[1] for w in dd.waves})
    out = (weeks.notna() & ((weeks < lo - 1e-9) | (weeks > hi + 1e-9))).to_numpy(bool)
    out &= (resp[wave_col] != base_name).to_numpy(bool)
    if out.any():
        sub = resp.loc[out]
        w = weeks[out]
        msgs = [f"wave {wv!r} completed {wk:.1f} weeks after baseline, outside its window "
                f"[{a:g}, {b:g}]; check the date and the wave"
                for wv, wk, a, b in zip(sub[wave_col], w, lo[out], hi[out])]
        probs.add_many(file=files[rname], rule="date_window", lines=sub["_line"].to_numpy(),
                       column=date_col, participant_ids=sub[id_col].to_numpy(),
                       values=sub[date_col].dt.strftime(_ISO).to_numpy(), messages=msgs,
                       severity="error")


def _flow(raw_tables, typed, excl: _Exclusions, dd) -> pd.DataFrame:
    id_col = dd.id_column
    rows = []
    ex = excl.frame()
    for name, (raw, _file) in raw_tables.items():
        rid = raw[id_col].astype("string").str.strip() if id_col in raw else pd.Series(dtype="string")
        rows.append({"dataset": name, "stage": "read", "reason": "", "records": len(raw),
                     "participants": int(rid.replace("", pd.NA).nunique())})
        sub = ex.loc[ex["dataset"] == name]
        for reason, grp in sub.groupby("reason", sort=True):
            rows.append({"dataset": name, "stage": "excluded", "reason": reason, "records": len(grp),
                         "participants": int(grp["participant_id"].nunique())})
        if name in typed:
            t = typed[name]
            rows.append({"dataset": name, "stage": "valid", "reason": "", "records": len(t),
                         "participants": int(t[id_col].nunique()) if id_col in t else 0})
    rname = _response_dataset(dd)
    if rname in typed and dd.wave_column in typed[rname]:
        t = typed[rname]
        for w in dd.waves:
            at = t.loc[t[dd.wave_column] == w.name]
            rows.append({"dataset": rname, "stage": "measured", "reason": w.name, "records": len(at),
                         "participants": int(at[id_col].nunique())})
    return pd.DataFrame(rows, columns=["dataset", "stage", "reason", "records", "participants"])
