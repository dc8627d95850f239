"""Check data files against the data dictionary and report every problem at once.

Validation never stops at the first problem and never raises for a data problem: it returns a
:class:`ValidationReport` whose ``problems`` table says, for each one, the file, line (header = line
1), column, participant, value, rule broken and how to fix it. Cells that break a rule become missing
in the cleaned data; rows whose keys are unusable, and rows the file holds in a shape that cannot be
read (a line with the wrong number of fields, a second header row), are excluded. Both are counted in
the participant flow (``report.flow``) and listed in ``report.exclusions``, so nothing is lost
silently.

Headers are matched to the dictionary ignoring case, surrounding spaces and the difference between
``-``, space and ``_``, and through each variable's ``aliases``; such matches, the worksheet read
and the like are listed as notes at the end of :meth:`ValidationReport.summary`.

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
import difflib
import fnmatch
import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._result import Result
from .dictionary import DataDictionary, Dataset, Variable, _header_key
from .errors import DataQualityWarning, DataReadError, DataValidationError, SpecificationError
from .io_sql import SqlSource, is_sql_source

__all__ = ["validate", "read_data", "ValidationReport", "coerce_table", "PROBLEM_COLUMNS",
           "RULES"]

PROBLEM_COLUMNS = ["file", "line", "key", "column", "participant_id", "value", "rule", "message",
                   "severity"]
EXCLUSION_COLUMNS = ["dataset", "file", "line", "key", "participant_id", "reason"]
NOTE_COLUMNS = ["file", "line", "column", "message"]

#: Every rule the validator checks, with a one-line description (shown by ``evalkit validate --rules``).
RULES = {
    "unreadable_file": "the file could not be read",
    "encoding": "a text file mixes encodings (e.g. UTF-8 and Windows-1252)",
    "sheet": "no worksheet of an Excel file holds the data, or the named sheet does not exist",
    "unknown_file": "the file matches no dataset of the dictionary",
    "missing_dataset": "a dataset declared in the dictionary was not supplied",
    "duplicate_column": "two columns of the header have the same name",
    "column_match": "two columns of a file match the same declared variable",
    "unknown_column": "a column is not declared in the dictionary",
    "missing_column": "a declared column is absent from the file",
    "value_label": "an SPSS/Stata value label disagrees with the dictionary's levels or range",
    "label_row": "a second header row (labels) under the column names",
    "ragged_row": "a line has more or fewer fields than the header",
    "formula": "an Excel cell holds a formula with no saved value",
    "type": "a value is not of the declared type (number, date, yes/no)",
    "integer": "a value of an integer variable has a fractional part",
    "range": "a number lies outside the declared range",
    "level": "a code is not one of the declared levels",
    "required": "a required value (or a key) is empty",
    "duplicate_key": "two rows share the same key (participant × wave)",
    "date_future": "a date lies in the future",
    "date_window": "a questionnaire date lies outside its wave's visit window",
    "unknown_participant": "a participant has responses (or a logged session) but no row in the "
                           "participants file",
    "no_responses": "a participant has no questionnaire responses at all",
    "unassigned_row": "a row of a shared file (a REDCap export) belongs to no dataset",
    "incomplete_form": "REDCap marks a form Incomplete (its answers are used as entered)",
}

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_ISO = "%Y-%m-%d"
_SHOW = 60
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_DECIMAL_COMMA = r"^\s*([+-]?\d*),(\d+)\s*$"


def _short(value, limit: int = _SHOW) -> str:
    """A value as text of at most ``limit`` characters (a 1 MB cell is not echoed whole)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(value) -> str:
    """A value quoted for a message: shortened, line breaks escaped."""
    return repr(_short(value))


# ====================================================================== the report
@dataclass(frozen=True, repr=False)
class ValidationReport(Result):
    """The outcome of :func:`validate`.

    ``.table`` is :attr:`problems`; ``summary()`` counts them by severity and rule; ``describe()``
    lists every problem on its own line (what ``evalkit validate`` prints); ``.raw`` is None.

    Attributes
    ----------
    problems : pandas.DataFrame
        One row per problem with columns ``file, line, key, column, participant_id, value, rule,
        message, severity``; sorted by file, line and column. ``column`` is the header as written in
        the file. For a database source (see :mod:`evalkit.io_sql`) ``file`` names the database (its
        password masked) and the table (or ``query``), ``line`` is empty and ``key`` names the row by
        its key columns (``participant_id=P1, wave=baseline``) or its position (``row 3``).
    flow : pandas.DataFrame
        Participant flow: ``dataset, stage, reason, records, participants`` — records read, excluded
        (with the reason), valid, and participants measured at each wave.
    exclusions : pandas.DataFrame
        Every excluded record: ``dataset, file, line, key, participant_id, reason`` (``key`` as in
        ``problems``).
    data : dict of str to pandas.DataFrame
        The typed, cleaned data per dataset (invalid cells set to missing, excluded rows removed; a
        ``_line`` column keeps each row's line in its file, or for a database source its position in
        the result, 1 for the first row). Every declared column is present (empty where the file
        lacks it).
    files : dict of str to str
        The file each dataset was read from.
    notes : pandas.DataFrame
        How the files were read where that is not obvious (``file, line, column, message``): a
        column matched through an alias or despite a difference of case or spacing, the worksheet
        used, a title row skipped, decimal commas, Excel date numbers. Not problems; shown at the
        end of :meth:`describe`.
    value_labels : dict
        SPSS/Stata value labels per dataset and column (``{dataset: {column: {code: label}}}``).
    digests : dict
        For each dataset read from a database, the SHA-256 of its rows as read (a file's is taken
        from the file itself), so a report can record which data it used.
    """

    problems: pd.DataFrame
    flow: pd.DataFrame
    exclusions: pd.DataFrame
    data: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    notes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NOTE_COLUMNS))
    value_labels: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)

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

    @property
    def table(self) -> pd.DataFrame:
        """:attr:`problems`."""
        return self.problems

    @property
    def raw(self) -> None:
        return None

    def summary(self) -> pd.DataFrame:
        """Problems counted by ``severity`` and ``rule`` (columns ``severity, rule, problems``)."""
        counts = self.problems.groupby(["severity", "rule"], sort=True).size()
        return counts.rename("problems").reset_index()

    def _header(self) -> list[str]:
        state = "ok" if self.ok else f"{self.n_errors} error(s)"
        return [f"{state}; {len(self.problems)} problem(s) in {', '.join(sorted(self.data)) or 'no data'}"]

    def describe(self) -> str:
        """A short human-readable account: counts by rule, every problem on its own line, then notes."""
        if self.problems.empty:
            out = ["No problems found."]
        else:
            counts = self.problems.groupby("rule", sort=True).size()
            out = [f"{len(self.problems)} problem(s): " + ", ".join(f"{r} {n}" for r, n in counts.items())]
            out += [_format_problem(r) for r in self.problems.itertuples(index=False)]
        out += [_format_note(r) for r in self.notes.itertuples(index=False)]
        return "\n".join(out)

    def raise_if_problems(self) -> "ValidationReport":
        """Raise :class:`DataValidationError` (holding this report) when there are errors."""
        if not self.ok:
            raise DataValidationError(
                f"{self.n_errors} data problem(s) in the input files, each listed below with its file, "
                "line and column; fix them (or run `evalkit validate` on the files) and run again\n"
                + self.describe(), report=self)
        return self



def _format_problem(r) -> str:
    where = f"{r.file}:{r.line}" if not _isna(r.line) else f"{r.file}"
    where += f", row {r.key}" if not _isna(r.key) else ""
    col = f" [{r.column}]" if not _isna(r.column) else ""
    who = f" participant {r.participant_id}" if not _isna(r.participant_id) else ""
    return f"{where}{col}{who}: {_one_line(r.message)} ({r.rule})"


def _format_note(r) -> str:
    where = f"{r.file}:{r.line}" if not _isna(r.line) else f"{r.file}"
    col = f" [{r.column}]" if not _isna(r.column) else ""
    return f"note: {where}{col}: {_one_line(r.message)}"


def _one_line(text) -> str:
    return " ".join(str(text).split("\n"))


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
            "file": file, "line": line, "key": None, "column": column, "participant_id": participant_id,
            "value": None if value is None else _short(value), "rule": rule, "message": message,
            "severity": severity}]))

    def add_many(self, *, file, rule, lines, column, participant_ids, values, messages,
                 severity="error"):
        n = len(lines)
        if n == 0:
            return
        self._chunks.append(pd.DataFrame({
            "file": file, "line": np.asarray(lines, dtype="int64"), "key": None, "column": column,
            "participant_id": list(participant_ids),
            "value": [None if v is None else _short(v) for v in values], "rule": rule,
            "message": list(messages) if not isinstance(messages, str) else [messages] * n,
            "severity": severity}))

    def extend(self, frame: pd.DataFrame):
        if len(frame):
            self._chunks.append(frame[PROBLEM_COLUMNS])

    def frame(self) -> pd.DataFrame:
        chunks = [c for c in self._chunks if len(c)]
        if not chunks:
            return _empty_problems()
        out = pd.DataFrame({col: np.concatenate([c[col].to_numpy(dtype=object) for c in chunks])
                            for col in PROBLEM_COLUMNS})
        out["line"] = pd.array([None if _isna(v) else int(v) for v in out["line"]], dtype="Int64")
        for col in ("file", "key", "column", "participant_id", "value", "rule", "message", "severity"):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        out["_order"] = out["rule"].map({r: i for i, r in enumerate(RULES)})
        out = out.sort_values(["file", "line", "_order", "column"], na_position="first",
                              kind="stable").drop(columns="_order")
        return out.reset_index(drop=True)


def _empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "line" else object)
                         for c in PROBLEM_COLUMNS})


def _notes_frame(notes: list[dict]) -> pd.DataFrame:
    if not notes:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "line" else object)
                             for c in NOTE_COLUMNS})
    # a file several datasets share (a REDCap export) would say how a header was read once per
    # dataset: the same note twice tells the reader nothing more
    out = pd.DataFrame(notes, columns=NOTE_COLUMNS).drop_duplicates(ignore_index=True)
    out["line"] = out["line"].astype("Int64")
    for col in ("file", "column", "message"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


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


def _code_text(value) -> str:
    """A code as text: 3.0 -> '3', 2.5 -> '2.5', 'a' -> 'a'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _first_of(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a`` where it has a value, else ``b`` (object dtype; no silent downcasting)."""
    a = a.astype(object)
    return a.where(a.notna(), b.astype(object))


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


def _serial_date(v) -> str | None:
    """The ISO date a 5-digit Excel date number (e.g. 45292) stands for, else None."""
    text = str(v).strip()
    if not re.fullmatch(r"\d{5}(\.\d+)?", text):
        return None
    x = float(text)
    if not 20000 <= x <= 80000:   # 1954 to 2119
        return None
    return (_EXCEL_EPOCH + pd.Timedelta(days=int(x))).strftime(_ISO)


@dataclass
class _Source:
    """One table to check: its raw values, where they come from and what the reader found."""

    raw: pd.DataFrame
    file: str
    lines: np.ndarray
    fmt: str | None = None             # None: a DataFrame given directly
    decimal_comma: bool = False
    value_labels: dict = field(default_factory=dict)
    read_problems: list = field(default_factory=list)
    set_aside: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    header_line: int | None = 1
    row_keys: list | None = None       # a database source: each row's key text (lines are 1..n)
    digest: str | None = None          # a database source: SHA-256 of its rows as read


@dataclass
class _Checked:
    """A table after coercion: typed values, and what could not be checked."""

    typed: pd.DataFrame
    raw: pd.DataFrame                  # raw values under the declared names (flow counts)
    absent_keys: list
    set_aside: list                    # rows not read as data: {line, reason, id}
    id_values: list                    # identifiers of the rows read (for the flow)


def _map_columns(columns, ds: Dataset):
    """Declared variable -> the file's column for it, matching headers as the docs say.

    Returns ``(mapping, how, unknown, clashes)``: ``how`` says for matched-but-not-identical
    headers whether an alias or a difference of case/spacing matched; ``unknown`` lists the file's
    columns that match nothing; ``clashes`` ``(variable, kept column, other column)``.
    """
    by_key: dict[str, tuple[str, str]] = {}
    for var in ds.variables.values():
        by_key.setdefault(_header_key(var.name), (var.name, "name"))
    for var in ds.variables.values():
        for alias in var.aliases:
            by_key.setdefault(_header_key(alias), (var.name, "alias"))
    columns = [str(c) for c in columns]
    mapping = {c: c for c in columns if c in ds.variables}
    how: dict[str, str] = {}
    unknown, clashes = [], []
    for col in columns:
        if col in ds.variables:
            continue
        hit = by_key.get(_header_key(col))
        if hit is None:
            unknown.append(col)
            continue
        name, kind = hit
        if name in mapping:
            clashes.append((name, mapping[name], col))
            continue
        mapping[name] = col
        how[name] = kind
    return mapping, how, unknown, clashes


def _is_label_row(raw: pd.DataFrame, ds: Dataset, mapping: dict, dd: DataDictionary,
                  decimal_comma: bool) -> list[str] | None:
    """The texts of row 0 if it is a second header row (labels under numeric columns), else None."""
    numeric = [v for v in ds.variables.values() if v.numeric and v.name in mapping]
    if len(raw) == 0 or len(numeric) < 2:
        return None
    texts = []
    for var in numeric:
        value = raw[mapping[var.name]].iloc[0]
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        if decimal_comma:
            text = re.sub(_DECIMAL_COMMA, r"\1.\2", text)
        codes = {str(c) for c in dd.missing_codes_for(var)}
        if text in codes:
            return None
        try:
            float(text)
            return None
        except ValueError:
            texts.append(value.strip())
    return texts if len(set(texts)) >= 2 else None


def _check_source(src: _Source, ds: Dataset, dd: DataDictionary, probs: "_Problems", notes: list,
                  today: _dt.date) -> _Checked:
    """Coerce one table to the dictionary's types, collecting every problem and note."""
    raw, file = src.raw, src.file
    lines = np.asarray(src.lines, dtype=np.int64)
    mapping, how, unknown, clashes = _map_columns(raw.columns, ds)
    keys = set(ds.keys)
    id_col = dd.id_column
    header_line = src.header_line

    for name, kind in how.items():
        col = mapping[name]
        why = ("an alias in the dictionary" if kind == "alias" else
               "the header differs only in case, spaces or '-'/'_'")
        notes.append({"file": file, "line": header_line, "column": col,
                      "message": f"column {_shown(col)} read as {name!r} ({why})"})
    for name, kept, other in clashes:
        probs.add(file=file, line=header_line, column=other, rule="column_match", value=other,
                  message=f"columns {_shown(kept)} and {_shown(other)} both match declared column "
                          f"{name!r}; only {_shown(kept)} was read: delete the other column or rename "
                          "it (and check which of the two holds the right values)")
    absent = [name for name in ds.variables if name not in mapping]
    near_used: set[str] = set()
    unknown_keys = {_header_key(c): c for c in unknown}
    for name in absent:
        var = ds.variables[name]
        wanted = [_header_key(n) for n in (name, *var.aliases)]
        near = None
        for cutoff in (0.6, 0.3):  # a close spelling first, else the likeliest header (pid)
            for key in wanted:
                hit = difflib.get_close_matches(key, [k for k in unknown_keys
                                                      if unknown_keys[k] not in near_used],
                                                n=1, cutoff=cutoff)
                if hit:
                    near = unknown_keys[hit[0]]
                    break
            if near is not None:
                break
        if near is not None:
            near_used.add(near)
        found = (f"; the nearest header in the file is {_shown(near)}" if near is not None else
                 f"; no header of the file is close to it (headers: "
                 f"{_short(', '.join(map(str, raw.columns)), 120)})")
        if name in keys:
            role = ("the participant identifier" if name == id_col else
                    "the wave column" if name == dd.wave_column else "a key column")
            consequence = (f" It is {role}: without it no row can be keyed, so the {len(raw)} rows "
                           "of this file are not checked for duplicates or matched with the other "
                           "files, and none of them is used")
            fix = "; rename the column or add its name to `aliases` in the dictionary."
            message = f"declared column {name!r} is missing from the file{found}{fix}{consequence}"
        else:
            message = (f"declared column {name!r} is missing from the file{found}; rename the column "
                       "or add its name to `aliases` in the dictionary (or add the column; it may "
                       "be empty)")
        probs.add(file=file, line=header_line, column=name, rule="missing_column", message=message)
    for col in unknown:
        if col in near_used:
            continue  # named as the nearest header of a missing column: one problem, not two
        probs.add(file=file, line=header_line, column=col, rule="unknown_column",
                  message=f"column {_shown(col)} is not declared for dataset {ds.name!r}; add it to the "
                          f"dictionary or remove it from the file")

    # a second header row of labels under the names is not data
    set_aside = [dict(a) for a in src.set_aside]
    labels = _is_label_row(raw, ds, mapping, dd, src.decimal_comma)
    if labels is not None:
        shown = ", ".join(_shown(t) for t in labels[:3]) + (" …" if len(labels) > 3 else "")
        who = raw[mapping[id_col]].iloc[0] if id_col in mapping else None
        probs.add(file=file, line=int(lines[0]), rule="label_row", value=" | ".join(labels[:3]),
                  message=f"line {int(lines[0])} holds text under the numeric columns ({shown}): it "
                          "looks like a second header row of labels, so it was not read as data; "
                          "delete that row from the file")
        set_aside.append({"line": int(lines[0]), "reason": "second header row (labels)",
                          "id": None, "label_row": who})
        raw, lines = raw.iloc[1:], lines[1:]

    pid = (_as_text(raw[mapping[id_col]]) if id_col in mapping
           else pd.Series(pd.NA, index=raw.index, dtype="string"))
    pid_obj = pid.astype(object).where(pid.notna(), None).to_numpy()
    typed = {}
    decimal_cols: dict[str, tuple[int, str]] = {}
    for name, var in ds.variables.items():
        if name not in mapping:
            empty = pd.Series([None] * len(raw), index=raw.index, dtype=object)
            typed[name] = _coerce_column(empty, var, dd, file, lines, pid_obj, _Problems(), today,
                                         required=False)
            continue
        col = mapping[name]
        labels_here = src.value_labels.get(col)
        info: dict = {}
        typed[name] = _coerce_column(raw[col], var, dd, file, lines, pid_obj, probs, today,
                                     required=var.required or name in keys, column=col,
                                     labels=labels_here, decimal_comma=src.decimal_comma,
                                     fmt=src.fmt, info=info)
        if info.get("decimal_comma"):
            decimal_cols[col] = info["decimal_comma"]
        if info.get("serial_date"):
            n, example, date = info["serial_date"]
            notes.append({"file": file, "line": None, "column": col,
                          "message": f"{n} cell{'s' if n != 1 else ''} held Excel date numbers (e.g. "
                                     f"{example} = {date}) and {'were' if n != 1 else 'was'} read as "
                                     "dates"})
        if info.get("via_labels"):
            notes.append({"file": file, "line": None, "column": col,
                          "message": f"codes matched to the levels of {name!r} through the file's "
                                     "value labels"})
        if labels_here:
            _check_value_labels(var, labels_here, dd, file, col, probs)
    if decimal_cols:
        n = sum(v[0] for v in decimal_cols.values())
        example = next(iter(decimal_cols.values()))[1]
        cols = ", ".join(list(decimal_cols)[:5]) + (" …" if len(decimal_cols) > 5 else "")
        notes.append({"file": file, "line": None, "column": None,
                      "message": f"{n} value{'s' if n != 1 else ''} with a decimal comma (e.g. "
                                 f"{_shown(example)}) read as decimal numbers, because the file is "
                                 f"semicolon-delimited (columns: {cols})"})
    out = pd.DataFrame(typed, index=raw.index)
    out["_line"] = lines
    named = raw.rename(columns={col: name for name, col in mapping.items()})
    id_values = [v for v in pid_obj if v is not None]
    absent_keys = [k for k in ds.keys if k in absent]
    return _Checked(typed=out, raw=named, absent_keys=absent_keys, set_aside=set_aside,
                    id_values=id_values)


def _check_value_labels(var: Variable, labels: dict, dd: DataDictionary, file: str, column: str,
                        probs: "_Problems") -> None:
    """SPSS/Stata value labels against the dictionary: one warning per column that disagrees."""
    codes = dd.missing_codes_for(var)
    missing_text = {str(c).strip() for c in codes}
    for c in codes:
        try:
            missing_text.add(_code_text(float(c)))
        except (TypeError, ValueError):
            pass
    issues = []
    for code, label in labels.items():
        ct, lab = _code_text(code), str(label).strip()
        if ct in missing_text:
            continue
        if var.numeric:
            try:
                x = float(code)
            except (TypeError, ValueError):
                issues.append(f"{ct} = {_shown(lab)} is not a number")
                continue
            if var.range is not None and not var.range[0] <= x <= var.range[1]:
                issues.append(f"{ct} = {_shown(lab)} lies outside the range {_fmt_range(var)}")
            elif var.type == "integer" and not float(x).is_integer():
                issues.append(f"{ct} = {_shown(lab)} is not a whole number")
        elif var.type == "category" and var.levels:
            levels = {k.strip().lower(): (k, v) for k, v in var.levels.items()}
            by_label = {v.strip().lower() for v in var.levels.values()}
            if ct.lower() in levels:
                k, expected = levels[ct.lower()]
                if lab.lower() not in (expected.strip().lower(), k.lower()):
                    issues.append(f"{ct} is labelled {_shown(lab)} in the file but {expected!r} in "
                                  "the dictionary")
            elif lab.lower() not in levels and lab.lower() not in by_label:
                issues.append(f"{ct} = {_shown(lab)} is not a level in the dictionary")
    if issues:
        more = len(issues) - 5
        listed = "; ".join(issues[:5]) + (f"; and {more} more" if more > 0 else "")
        probs.add(file=file, column=column, rule="value_label", severity="warning",
                  message=f"the file's value labels of {var.name!r} disagree with the dictionary: "
                          f"{listed}; the stored codes were checked, not the labels: correct the "
                          "labels in the file or the dictionary's levels/range")


def coerce_table(raw: pd.DataFrame, *, dictionary: DataDictionary, dataset: str | Dataset | None = None,
                 file: str = "data", today: _dt.date | None = None,
                 lines: np.ndarray | None = None, decimal_comma: bool = False,
                 value_labels: Mapping | None = None,
                 source_format: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    decimal_comma : bool, default False
        Read ``3,5`` in numeric columns as 3.5 (semicolon-delimited files).
    value_labels : mapping, optional
        SPSS/Stata value labels, ``{column: {code: label}}``: categories and yes/no columns whose
        stored codes are not the dictionary's are matched through them; they are checked against
        the dictionary (a disagreement is a warning).
    source_format : str, optional
        ``"xlsx"`` reads numbers in date columns as Excel date numbers.

    Returns
    -------
    typed : pandas.DataFrame
        Declared columns with typed values (integers as ``Int64``, categories as ``Categorical``,
        booleans as ``boolean``, dates as ``datetime64``); a cell that broke a rule is missing, a
        declared column the table lacks is empty. A ``_line`` column holds each row's line number.
        Undeclared columns are left out, and so is a second header row of labels (reported).
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
    src = _Source(raw=raw, file=file, lines=lines, fmt=source_format, decimal_comma=decimal_comma,
                  value_labels={str(k): dict(v) for k, v in (value_labels or {}).items()})
    checked = _check_source(src, ds, dictionary, probs, [], today)
    return checked.typed, probs.frame()


def _coerce_column(s, var, dictionary, file, lines, pid, probs, today, *, required, column=None,
                   labels=None, decimal_comma=False, fmt=None, info=None):
    """Coerce one column, reporting each bad cell.

    Rules are evaluated on the column's distinct values only (item columns hold a handful), then
    mapped back to rows: this keeps validation of 200,000 rows to a few seconds.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    # from the Index's array: a Series built from an object Index infers dates only until pandas 3
    # (FutureWarning); from the array it infers exactly that (dates, not numbers) in every version
    u = pd.Series(uniq.to_numpy() if isinstance(uniq, pd.Index) else uniq)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        u = pd.to_datetime(u)
    found: dict = {}
    typed_u, flags = _coerce_unique(u, var, dictionary, today, required=required, labels=labels,
                                    decimal_comma=decimal_comma, fmt=fmt, found=found)
    text_u = _as_text(u).to_numpy(dtype=object, na_value=None)
    for rule, bad_u, message in flags:
        if not bad_u.any():
            continue
        rows = np.flatnonzero(bad_u[codes])
        vals = text_u[codes[rows]]
        msgs = message if isinstance(message, str) else [message(v) for v in vals]
        probs.add_many(file=file, rule=rule, lines=lines[rows], column=column or var.name,
                       participant_ids=pid[rows], values=[None if v is None else str(v) for v in vals],
                       messages=msgs)
    if info is not None:
        for kind, mask_u in found.items():
            if kind == "via_labels":
                info[kind] = bool(mask_u[codes].any())
                continue
            rows = np.flatnonzero(mask_u[codes])
            if len(rows):
                example = text_u[codes[rows[0]]]
                if kind == "serial_date":
                    date = typed_u.iloc[codes[rows[0]]]
                    info[kind] = (len(rows), example,
                                  date.strftime(_ISO) if pd.notna(date) else "a date in the future")
                else:
                    info[kind] = (len(rows), example)
    out = typed_u.iloc[codes]
    out.index = s.index
    return out


def _coerce_unique(s, var, dictionary, today, *, required, labels=None, decimal_comma=False,
                   fmt=None, found=None):
    """Typed values and rule violations ``(rule, bad_mask, message)`` for distinct raw values.

    ``found`` receives boolean masks over the distinct values for notes: ``decimal_comma``,
    ``serial_date`` (Excel date numbers read as dates), ``via_labels``.
    """
    found = {} if found is None else found
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
            given = text.where(present)
            if decimal_comma:
                converted = given.str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True)
                found["decimal_comma"] = ((converted != given).fillna(False)).to_numpy(bool)
                given = converted
            num = pd.to_numeric(given.astype(object), errors="coerce")
        bad_type = present & num.isna().to_numpy()
        hint = (f"a number in {_fmt_range(var)}" if var.range else "a number") + " or mark it missing" + _missing_hint(codes)

        def not_a_number(v):
            if not decimal_comma and re.fullmatch(_DECIMAL_COMMA, str(v)):
                return (f"{_shown(v)} in {name!r} is not a number: it has a decimal comma; write it "
                        f"with a decimal point ({str(v).replace(',', '.').strip()}), or save the file "
                        "with ';' as the delimiter so that decimal commas are read")
            return f"{_shown(v)} in {name!r} is not a number; enter {hint}"

        flags.append(("type", bad_type, not_a_number))
        ok = present & ~bad_type
        vals = num.to_numpy(dtype=float, na_value=np.nan)
        bad_int = np.zeros(len(s), bool)
        if var.type == "integer":
            bad_int = ok & (np.abs(vals - np.round(vals)) > 1e-9)
            flags.append(("integer", bad_int,
                          lambda v: f"{_short(v)} in {name!r} is not a whole number; enter {hint}"))
        if var.range is not None:
            lo, hi = var.range
            bad_range = ok & ~bad_int & ((vals < lo) | (vals > hi))
            flags.append(("range", bad_range,
                          lambda v: f"{_short(v)} in {name!r} is outside the allowed range "
                                    f"{_fmt_range(var)}; correct it or record it as "
                                    f"missing{_missing_hint(codes)}"))
            ok &= ~bad_range
        keep = ok & ~bad_int
        vals = np.where(keep, vals, np.nan)
        if var.type == "integer":
            return pd.Series(pd.array(np.round(vals), dtype="Float64").astype("Int64")), flags
        return pd.Series(vals, dtype="float64"), flags

    label_text = None
    if labels:
        label_text = text.map({_code_text(k): str(v).strip() for k, v in labels.items()}).astype("string")

    if var.type == "category":
        levels = var.levels or {}
        by_label = {lab.strip().lower(): code for code, lab in levels.items()}
        codes_lower = {code.lower(): code for code in levels}
        low = text.where(present).str.lower()
        mapped = low.map(codes_lower)
        mapped = _first_of(mapped, low.map(by_label))  # a level's label is accepted for its code
        if label_text is not None:  # SPSS/Stata: a stored code matched through its value label
            lab_low = label_text.where(present & mapped.isna().to_numpy()).str.lower()
            via = _first_of(lab_low.map(codes_lower), lab_low.map(by_label))
            found["via_labels"] = via.notna().to_numpy(bool)
            mapped = _first_of(mapped, via)
        bad = present & mapped.isna().to_numpy()
        allowed = ", ".join(levels)
        label_of = ({} if label_text is None else
                    dict(zip(text[bad].astype(object), label_text[bad].astype(object))))

        def not_a_level(v):
            lab = label_of.get(v)
            labelled = f" (labelled {_shown(lab)} in the file)" if isinstance(lab, str) else ""
            return (f"{_shown(v)}{labelled} is not a declared level of {name!r}; use one of: {allowed} "
                    f"(or add the code to the dictionary's levels)")

        flags.append(("level", bad, not_a_level))
        cat = pd.Categorical(mapped.astype(object).where(mapped.notna() & ~bad, None),
                             categories=list(levels), ordered=var.ordered)
        return pd.Series(cat), flags

    if var.type == "boolean":
        low = text.where(present).str.lower()
        truth = pd.Series(pd.NA, index=s.index, dtype="boolean")
        truth[low.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        truth[low.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        if label_text is not None:
            lab_low = label_text.where(present & truth.isna().to_numpy()).str.lower()
            truth[lab_low.isin(_TRUE).fillna(False).to_numpy(bool)] = True
            truth[lab_low.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        bad = present & truth.isna().to_numpy()
        flags.append(("type", bad, lambda v: f"{_shown(v)} in {name!r} is not yes/no; use true/false, "
                                             f"yes/no or 1/0, or mark it missing{_missing_hint(codes)}"))
        return truth, flags

    if var.type == "date":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            parsed = pd.to_datetime(s).where(present)
        else:
            fmt_date = var.format or _ISO
            parsed = pd.to_datetime(text.where(present), format=fmt_date, errors="coerce")
            if s.dtype == object:  # Excel cells may hold datetime objects
                is_dt = s.map(lambda v: isinstance(v, (_dt.date, pd.Timestamp))).to_numpy(bool)
                if is_dt.any():
                    parsed = parsed.where(~is_dt, pd.to_datetime(s.where(is_dt), errors="coerce"))
                if fmt == "xlsx":  # a date cell formatted as a number holds Excel's day count
                    is_num = s.map(lambda v: isinstance(v, (int, float, np.integer, np.floating))
                                   and not isinstance(v, bool) and 1 <= v < 2958466).to_numpy(bool)
                    is_num &= present & parsed.isna().to_numpy()
                    if is_num.any():
                        days = pd.to_numeric(s.where(is_num), errors="coerce")
                        serial = _EXCEL_EPOCH + pd.to_timedelta(np.floor(days), unit="D")
                        parsed = parsed.where(~is_num, serial)
                        found["serial_date"] = is_num
        parsed = parsed.dt.normalize()
        bad = present & parsed.isna().to_numpy()
        shown = (var.format or "YYYY-MM-DD").replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")

        def not_a_date(v):
            serial = _serial_date(v)
            if serial is not None:
                return (f"{_shown(v)} in {name!r} looks like an Excel date number ({serial}), which "
                        f"a text file cannot mark as a date: format the column as a date in Excel "
                        f"before saving as CSV, or write the date as {shown}")
            return f"{_shown(v)} in {name!r} is not a valid date; write it as {shown}"

        flags.append(("type", bad, not_a_date))
        future = present & ~bad & (parsed > pd.Timestamp(today)).fillna(False).to_numpy(bool)
        flags.append(("date_future", future,
                      lambda v: f"date {_short(v)} in {name!r} is in the future (today is "
                                f"{today.isoformat()}); check the day, month and year"))
        return parsed.where(~pd.Series(bad | future, index=s.index)), flags

    # string
    return text.where(present).astype(object).where(lambda x: x.notna(), None), flags


# ====================================================================== dataset matching
def _datasets_for_file(file: str, dictionary: DataDictionary) -> list[Dataset]:
    """Datasets whose declared file name fits ``file`` (name, pattern or stem; any extension)."""
    path = Path(file)
    name, stem = path.name.lower(), path.stem.lower()
    out = []
    for ds in dictionary.datasets.values():
        pattern = ds.file.lower()
        if (name == pattern or fnmatch.fnmatch(name, pattern) or Path(pattern).stem == stem
                or fnmatch.fnmatch(stem, Path(pattern).stem) or ds.name.lower() == stem):
            out.append(ds)
    return out


def _match_dataset(raw: pd.DataFrame, file: str, dictionary: DataDictionary) -> Dataset | None:
    by_name = _datasets_for_file(file, dictionary)
    if by_name:
        return by_name[0]
    best, score = None, 0.0
    for ds in dictionary.datasets.values():
        mapping, _how, _unknown, _clashes = _map_columns(raw.columns, ds)
        overlap = len(mapping) / max(len(ds.variables), 1)
        if set(ds.keys) <= set(mapping) and overlap > score:
            best, score = ds, overlap
    return best if score >= 0.5 else None


# ====================================================================== validate
def read_data(path: str | Path, *, dictionary=None, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a data file into typed columns.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`evalkit.io.read_table` reads.
    dictionary : evalkit.DataDictionary, optional
        If given, each column is converted to the type the dictionary declares (missing codes
        become NaN, categories get their declared levels) by
        :func:`coerce_table`. Values that cannot be converted become missing and a
        :class:`~evalkit.errors.DataQualityWarning` says how many; run ``evalkit validate`` (or
        :func:`evalkit.validate`) to see each one with its line and column.
        If omitted, types are inferred much as :func:`pandas.read_csv` does: a text column whose
        every non-missing value is a number becomes numeric (``int64`` if whole numbers with no
        gaps, else ``float64``), ``True``/``False`` text becomes boolean, Excel date cells become
        ``datetime64``, and empty text and ``"NA"``-like strings (``NA``, ``N/A``, ``null`` …)
        become NaN; SPSS/Stata columns with value labels become categoricals of their labels.
        Missing codes such as ``-9`` are *not* recognised without a dictionary, and dates written
        as text stay text.
    sheet : str or int, optional
        Excel only: the worksheet, by name or 0-based position (default: the first).

    Returns
    -------
    pandas.DataFrame
        With a fresh ``RangeIndex`` in file order.

    Raises
    ------
    DataReadError
        As :func:`evalkit.io.read_table`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from evalkit import read_data
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "participants.csv"
    >>> _ = path.write_text("participant_id,age,site\\nP001,31,North\\nP002,,South\\n")
    >>> data = read_data(path)
    >>> data.dtypes.astype(str).to_dict()
    {'participant_id': 'object', 'age': 'float64', 'site': 'object'}
    >>> data["age"].tolist()
    [31.0, nan]
    >>> tmp.cleanup()
    """
    from .io import FIRST_DATA_LINE, _apply_labels, _infer_types, _problems_summary, _read
    from .io import _warn_read_problems

    table = _read(path, sheet=sheet)
    _warn_read_problems(path, table)
    raw = table.frame
    if dictionary is None:
        typed = _infer_types(raw)
        for name, labels in table.value_labels.items():
            if name in typed.columns and labels:
                typed[name] = _apply_labels(raw[name], labels, table.missing_ranges.get(name, []))
        return typed
    extra = {}  # only what differs from coerce_table's defaults
    if not np.array_equal(table.lines, np.arange(len(raw)) + FIRST_DATA_LINE):
        extra["lines"] = table.lines
    if table.decimal_comma:
        extra["decimal_comma"] = True
    if table.value_labels:
        extra["value_labels"] = table.value_labels
    if table.fmt == "xlsx":
        extra["source_format"] = "xlsx"
    typed, problems = coerce_table(raw, dictionary=dictionary, file=str(path), **extra)
    if problems is not None and len(problems):
        warnings.warn(_problems_summary(path, problems), DataQualityWarning, stacklevel=2)
    return typed


def validate(paths_or_frames, *, dictionary: DataDictionary | str | Path,
             today: _dt.date | None = None) -> ValidationReport:
    """Check data files (or frames) against the data dictionary, reporting every problem at once.

    Parameters
    ----------
    paths_or_frames : path, sequence of paths, or mapping of dataset name to path or DataFrame
        The files to check. Paths are matched to datasets by file name (``participants.csv`` or
        ``participants.xlsx`` → dataset ``participants``) or, failing that, by their columns. Frames
        are named by their key. A database table or query may stand for a file:
        ``{"url": "duckdb:///cohort.duckdb", "table": "responses"}`` or ``{"url": ...,
        "query": "select ...", "key": [...]}`` (see :mod:`evalkit.io_sql`), named by its key in a
        mapping, else by its table name or columns.
    dictionary : DataDictionary or path
        The data dictionary (a path is read with :meth:`DataDictionary.from_yaml`).
    today : datetime.date, optional
        Reference date for the "date in the future" rule (default: today).

    Returns
    -------
    ValidationReport
        ``.ok``, ``.problems`` (file, line, column, participant_id, value, rule, message, severity),
        ``.flow`` (participant flow), ``.exclusions``, ``.data`` (typed, cleaned frames) and
        ``.notes`` (how the files were read).

    Notes
    -----
    Rules are listed in :data:`RULES`. A cell that breaks a rule is set to missing in ``.data``; a row
    whose key is unusable (empty or invalid id or wave, a duplicate key, or a participant unknown to
    the participants file) is excluded from ``.data`` and counted in ``.flow`` with its reason, as
    is a row the file holds in a shape that cannot be read (a line with the wrong number of fields,
    a second header row of labels). A file without one of its key columns is reported once and none
    of its rows is used. Line numbers are the file's own: physical lines of a text file, worksheet
    rows of an Excel file; the header is line 1 unless the file has title rows above it.

    Headers match the dictionary whatever their case, surrounding spaces, or use of ``-``, space or
    ``_``, and through each variable's ``aliases``. An Excel workbook is read from the dataset's
    ``sheet`` if the dictionary names one, else from the first sheet with the identifier column;
    the header is the first row (of the first ten) that holds the identifier or most of the
    expected columns.

    Examples
    --------
    >>> import evalkit as ek
    >>> sim = ek.simulate_cohort(n=20, seed=2)
    >>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    >>> responses = sim.responses.copy()
    >>> responses.loc[0, "epds_1"] = 7
    >>> report = ek.validate({"participants": sim.participants, "responses": responses},
    ...                      dictionary=dd)
    >>> report.ok
    False
    >>> report.problems[["file", "line", "column", "value", "rule"]]
            file  line  column value   rule
    0  responses     2  epds_1     7  range
    >>> print(report.describe())
    1 problem(s): range 1
    responses:2 [epds_1] participant P00001: 7 in 'epds_1' is outside the allowed range [0, 3]; correct it or record it as missing (missing code -9 or -8) (range)
    """
    from .io import Expected, _read  # lazily: readers pull in pyreadstat/openpyxl

    dd = dictionary if isinstance(dictionary, DataDictionary) else DataDictionary.from_yaml(dictionary)
    today = today or _dt.date.today()
    probs = _Problems()
    notes: list[dict] = []
    inputs = _normalise_inputs(paths_or_frames)

    sources: dict[str, _Source] = {}
    attempted: set[str] = set()
    unusable_files = False
    for label, obj in inputs:
        if is_sql_source(obj):
            source = obj if isinstance(obj, SqlSource) else SqlSource.from_mapping(obj)
            try:
                targets = [_read_sql_input(label, source, dd)]
            except DataReadError as exc:
                probs.add(file=source.label, rule="unreadable_file", message=str(exc))
                unusable_files = True
                if label in dd.datasets:
                    attempted.add(label)
                continue
        elif isinstance(obj, pd.DataFrame):
            raw = obj.reset_index(drop=True)
            ds = dd.datasets.get(label) or _match_dataset(raw, label, dd)
            targets = [(ds, _Source(raw=raw, file=label, lines=np.arange(len(raw)) + 2))]
        else:
            file = str(obj)
            by_name = _datasets_for_file(file, dd)
            # datasets that select their rows of the file (a REDCap export): read once, split
            shared = bool(by_name) and all(d.rows is not None for d in by_name)
            if len(by_name) > 1 and file.lower().endswith(".xlsx") and all(
                    d.sheet is not None for d in by_name) and not shared:
                wanted = by_name      # one workbook, one sheet per dataset
            else:
                wanted = by_name[:1] or [None]   # a shared file is read once, then split below
            targets = []
            for ds in wanted:
                expect = Expected.from_dictionary(dd, ds)
                try:
                    table = _read(obj, expect=expect, strict=False)
                except DataReadError as exc:
                    probs.add(file=file, rule=getattr(exc, "rule", "unreadable_file"),
                              line=getattr(exc, "line", None), message=str(exc))
                    unusable_files = True
                    if ds is not None:
                        attempted.add(ds.name)
                    continue
                src = _Source(raw=table.frame, file=file, lines=table.lines, fmt=table.fmt,
                              decimal_comma=table.decimal_comma, value_labels=table.value_labels,
                              read_problems=table.problems, set_aside=table.set_aside,
                              notes=table.notes, header_line=table.header_line)
                targets.append((ds or _match_dataset(table.frame, file, dd), src))
            if shared and targets:
                targets = _split_shared(targets[0][1], by_name, dd, probs)
        for ds, src in targets:
            if ds is None:
                probs.add(file=src.file, rule="unknown_file",
                          message=f"the file matches no dataset of the dictionary (declared: "
                                  f"{', '.join(d.file for d in dd.datasets.values())}); rename it or "
                                  f"add a dataset for it")
                unusable_files = True
                continue
            attempted.add(ds.name)
            if ds.name in sources:
                probs.add(file=src.file, rule="unknown_file",
                          message=f"a second file for dataset {ds.name!r} (first: "
                                  f"{sources[ds.name].file}); supply one file per dataset")
                continue
            sources[ds.name] = src

    checked: dict[str, _Checked] = {}
    typed: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    labels: dict[str, dict] = {}
    for name, src in sources.items():
        for note in src.notes:
            notes.append({"file": src.file, **note})
        cells = set()
        for p in src.read_problems:
            probs.add(file=src.file, **p)
            if p.get("column") is not None and p.get("line") is not None:
                cells.add((p["line"], p["column"]))
        sub = _Problems()
        result = _check_source(src, dd.dataset(name), dd, sub, notes, today)
        found = sub.frame()
        if cells and len(found):  # a formula cell without a value is one problem, not two
            repeat = [(r.rule == "required" and (int(r.line), r.column) in cells)
                      for r in found.itertuples(index=False)]
            found = found.loc[~np.asarray(repeat, dtype=bool)]
        probs.extend(found)
        checked[name], typed[name], files[name] = result, result.typed, src.file
        if src.value_labels:
            labels[name] = src.value_labels
    for name in dd.datasets:
        if name not in attempted:
            unless = (", unless it is one of the files above that could not be used"
                      if unusable_files else "")
            probs.add(file=dd.dataset(name).file, rule="missing_dataset", severity="warning",
                      message=f"no file was given for dataset {name!r} ({dd.dataset(name).file})"
                              f"{unless}; checks that need it were skipped")

    exclusions = _Exclusions()
    unusable: set[str] = set()
    for name, frame in typed.items():
        res = checked[name]
        for row in res.set_aside:
            exclusions.add_row(name, files[name], row["line"], row.get("id"), row["reason"])
        if res.absent_keys:
            unusable.add(name)
            cols = " and ".join(res.absent_keys)
            exclusions.add(name, files[name], frame, np.ones(len(frame), bool),
                           f"no {cols} column in the file", dd.id_column)
            typed[name] = frame.iloc[:0]
            continue
        typed[name] = _check_keys(frame, dd.dataset(name), dd, files[name], probs, exclusions,
                                  unit="row" if sources[name].row_keys is not None else "line")
    aside_ids = {name: {r["id"] for r in res.set_aside if r.get("id")} for name, res in checked.items()}
    _check_participants(typed, files, dd, probs, exclusions, unusable, aside_ids)
    if _response_dataset(dd) not in unusable:
        _check_windows(typed, files, dd, probs)

    flow = _flow(checked, typed, exclusions, dd)
    keyed = {src.file: src.row_keys for src in sources.values() if src.row_keys is not None}
    return ValidationReport(problems=_rows_by_key(probs.frame(), keyed),
                            flow=flow, exclusions=_rows_by_key(exclusions.frame(), keyed),
                            data=typed, files=files, notes=_notes_frame(notes), value_labels=labels,
                            digests={n: s.digest for n, s in sources.items() if s.digest})


def _read_sql_input(label: str, source: SqlSource, dd: DataDictionary) -> tuple:
    """(dataset, _Source) for a database source: named by its dataset, its table or its columns."""
    from .io_sql import read_sql_source, row_keys

    raw = read_sql_source(source)
    problems: list = []
    names = _sql_header(raw.columns, source.label, problems)
    if None in names:   # a later copy of a duplicated name is reported, not read
        raw = raw.loc[:, [n is not None for n in names]]
    raw.columns = pd.Index([n for n in names if n is not None], dtype=object)
    ds = dd.datasets.get(label)
    if ds is None and source.table:   # table "responses" or "public.responses" -> dataset responses
        ds = (_datasets_for_file(source.table.rpartition(".")[2], dd) or [None])[0]
    ds = ds or _match_dataset(raw, label, dd)
    if source.key:
        absent = [k for k in source.key if k not in raw.columns]
        if absent:
            raise DataReadError(f"cannot read {source.label}: key column(s) {', '.join(absent)} are "
                                f"not in the result (its columns: "
                                f"{_short(', '.join(map(str, raw.columns)), 120)}); correct `key`")
        key = list(source.key)
    else:   # the dataset's keys (participant × wave) name a row better than its position
        mapping = _map_columns(raw.columns, ds)[0] if ds is not None else {}
        wanted = list(ds.keys) if ds is not None else []
        # all of them or none: "wave=baseline" alone would not say which row
        key = [mapping[k] for k in wanted] if wanted and all(k in mapping for k in wanted) else []
    # two queries on one database would share a label: the dataset tells their rows apart
    file = source.label if source.table or ds is None else f"{source.label} for {ds.name}"
    src = _Source(raw=raw, file=file, lines=np.arange(1, len(raw) + 1), fmt="sql",
                  read_problems=problems, header_line=None, row_keys=row_keys(raw, key),
                  digest=hashlib.sha256(raw.to_csv(index=False, lineterminator="\n")
                                        .encode("utf-8")).hexdigest())
    return ds, src


def _sql_header(columns, label: str, problems: list) -> list:
    """A result's column names; repeated ones (``select a.*, b.*``) are reported as problems."""
    from .io import _header_names

    return _header_names(list(columns), label, "the result's column names", problems, None)


def _rows_by_key(frame: pd.DataFrame, keyed: dict) -> pd.DataFrame:
    """Rows of database sources: ``key`` names the row and ``line`` (a position) is emptied."""
    if not keyed or not len(frame):
        return frame
    frame = frame.copy()
    line = frame["line"].astype("Int64")
    for file, keys in keyed.items():
        rows = (frame["file"] == file).to_numpy() & line.notna().to_numpy()
        if rows.any():
            frame.loc[rows, "key"] = [keys[int(n) - 1] for n in line[rows]]
            line[rows] = pd.NA
    frame["line"] = line
    return frame


def _split_shared(src: _Source, datasets: list[Dataset], dd: DataDictionary,
                  probs: "_Problems") -> list[tuple[Dataset, _Source]]:
    """The tables of a file several datasets share (a REDCap export), each with its own rows.

    Each dataset sees the columns it declares; a column no dataset declares (and no ``rows``
    selection uses) is reported once, as unknown to the first dataset. What the reader found
    (problems, notes, rows set aside) is reported once too. A row no dataset selects is reported
    and counted as set aside, never dropped silently; a form REDCap marks Incomplete is a warning.
    """
    from ._rows import (FORM_STATUS, incomplete_forms, repeated_events, selection_columns,
                        split_rows)

    selections = {ds.name: ds.rows for ds in datasets}
    taken, left = split_rows(src.raw, selections)
    mapped = {ds.name: set(_map_columns(src.raw.columns, ds)[0].values()) for ds in datasets}
    known = set().union(*mapped.values()) | set(selection_columns(src.raw.columns, selections))
    orphans = {str(c) for c in src.raw.columns} - known
    first = datasets[0]
    id_header = _map_columns(src.raw.columns, first)[0].get(dd.id_column)
    ids = (_as_text(src.raw[id_header]) if id_header is not None
           else pd.Series(pd.NA, index=src.raw.index, dtype="string"))
    lines = np.asarray(src.lines)
    set_aside = list(src.set_aside)
    for pos in left:
        line, who = int(lines[pos]), (None if pd.isna(ids.iloc[pos]) else str(ids.iloc[pos]))
        shown = ", ".join(f"{c} {_shown(src.raw.iloc[pos][h])}" for h, c in
                          selection_columns(src.raw.columns, selections).items())
        probs.add(file=src.file, rule="unassigned_row", line=line, participant_id=who,
                  value=shown, message=f"line {line} ({shown}) belongs to no dataset of the "
                  "dictionary, so it was not used; add a dataset whose `rows` select it (e.g. a "
                  "repeating instrument missing from the dictionary), or delete the row")
        set_aside.append({"line": line, "reason": "row of no dataset in the dictionary", "id": who})
    out, told = [], set()
    for i, ds in enumerate(datasets):
        rows = taken[ds.name]
        # a REDCap repeating event repeats record × event: say so, read its first instance only
        later, first_of = repeated_events(src.raw, rows, id_header, mapped[ds.name])
        repeated = []
        for pos, first_pos in zip(later, first_of):
            line, who = int(lines[pos]), (None if pd.isna(ids.iloc[pos]) else str(ids.iloc[pos]))
            row = src.raw.iloc[pos]
            what = ", ".join(f"{h} {_shown(row[h])}" for h in src.raw.columns
                             if str(h).lower() in ("redcap_event_name", "redcap_repeat_instance"))
            repeated.append({"line": line, "reason": "a further instance of a repeating event",
                             "id": who})
            if line in told:       # a row several datasets read is reported once
                continue
            told.add(line)
            probs.add(file=src.file, rule="duplicate_key", line=line, participant_id=who,
                      column="redcap_repeat_instance", value=what,
                      message=f"line {line} ({what}) is a further instance of a REDCap repeating "
                      f"event (its first instance is line {int(lines[first_pos])}); evalkit reads "
                      "one row per participant × event, so only the first instance is used: make "
                      "the event non-repeating (Project Setup → Repeating instruments and events) "
                      "and move repeated data to a repeating instrument, or delete the extra "
                      "instances")
        rows = np.setdiff1d(rows, later) if len(later) else rows
        cols = [c for c in src.raw.columns if str(c) in mapped[ds.name] or (i == 0 and str(c) in orphans)]
        raw = src.raw.iloc[rows][cols].reset_index(drop=True)
        for pos, col, value in incomplete_forms(raw, cols):
            line = int(lines[rows[pos]])
            who = ids.iloc[rows[pos]]
            probs.add(file=src.file, rule="incomplete_form", line=line, column=col, value=value,
                      participant_id=None if pd.isna(who) else str(who), severity="warning",
                      message=f"{col!r} is {value} ({FORM_STATUS[value]}): REDCap says this form "
                              "was saved unfinished; its answers are used as entered, so check "
                              "the form and mark it Complete (2), or clear what should not count")
        out.append((ds, _Source(raw=raw, file=src.file, lines=lines[rows], fmt=src.fmt,
                                decimal_comma=src.decimal_comma, value_labels=src.value_labels,
                                read_problems=src.read_problems if i == 0 else [],
                                set_aside=(set_aside if i == 0 else []) + repeated,
                                notes=src.notes if i == 0 else [], header_line=src.header_line)))
    return out


def _normalise_inputs(obj) -> list[tuple[str, object]]:
    if is_sql_source(obj):
        return [("data", obj)]
    if isinstance(obj, (str, Path)):
        return [(str(obj), obj)]
    if isinstance(obj, pd.DataFrame):
        return [("data", obj)]
    if isinstance(obj, Mapping):
        return [(str(k), v) for k, v in obj.items()]
    if isinstance(obj, Sequence):
        return [(p.label if isinstance(p, SqlSource) else "data" if is_sql_source(p) else str(p), p)
                for p in obj]
    raise SpecificationError(f"validate() takes a path, a list of paths or a mapping of dataset name "
                             f"to path or DataFrame, not {type(obj).__name__}")


class _Exclusions:
    def __init__(self):
        self.rows: list[pd.DataFrame] = []

    def add(self, dataset, file, frame, mask, reason, id_col):
        if mask.any():
            sub = frame.loc[mask]
            self.rows.append(pd.DataFrame({
                "dataset": dataset, "file": file, "line": sub["_line"].to_numpy(), "key": None,
                "participant_id": sub[id_col].to_numpy() if id_col in sub else None,
                "reason": reason}))

    def add_row(self, dataset, file, line, participant_id, reason):
        self.rows.append(pd.DataFrame({"dataset": [dataset], "file": [file], "line": [line],
                                       "key": [None], "participant_id": [participant_id], "reason": [reason]}))

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=EXCLUSION_COLUMNS)
        return pd.concat(self.rows, ignore_index=True).sort_values(
            ["dataset", "line"], kind="stable").reset_index(drop=True)


def _check_keys(frame, ds, dd, file, probs, excl, unit="line"):
    """Exclude rows with empty keys and later copies of a key; ``unit``: a database has rows."""
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
        msgs = [f"duplicate key {_short(k)} (first at {unit} {fl}); keep one row per {' × '.join(keys)}"
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


def _check_participants(typed, files, dd, probs, excl, unusable=frozenset(), aside_ids=None):
    """Responses of unknown participants, and participants without responses.

    Skipped when either file lacks its key columns (every one of its rows would be reported for a
    single missing column); ids of rows set aside as unreadable still count as present.
    """
    rname, pname = _response_dataset(dd), _person_dataset(dd)
    if rname not in typed or pname not in typed or rname in unusable or pname in unusable:
        return
    aside_ids = aside_ids or {}
    id_col = dd.id_column
    resp, people = typed[rname], typed[pname]
    known = set(people[id_col]) | aside_ids.get(pname, set())
    unknown = ~resp[id_col].isin(known).to_numpy()
    if unknown.any():
        sub = resp.loc[unknown]
        probs.add_many(
            file=files[rname], rule="unknown_participant", lines=sub["_line"].to_numpy(), column=id_col,
            participant_ids=sub[id_col].to_numpy(), values=sub[id_col].to_numpy(),
            messages=[f"participant {_short(p)} has responses but is not in {files[pname]}; add her "
                      f"row there or correct the id" for p in sub[id_col]])
        excl.add(rname, files[rname], resp, unknown, f"participant not in {Path(files[pname]).name}", id_col)
        typed[rname] = resp.loc[~unknown]
    for lname, ds in dd.datasets.items():
        if ds.session_log is None or lname not in typed or lname in unusable:
            continue
        log = typed[lname]
        # a session of a mother the participants' table does not know would vanish from her totals
        stray = ~log[id_col].isin(known).to_numpy()
        if stray.any():
            sub = log.loc[stray]
            probs.add_many(
                file=files[lname], rule="unknown_participant", lines=sub["_line"].to_numpy(),
                column=id_col, participant_ids=sub[id_col].to_numpy(), values=sub[id_col].to_numpy(),
                messages=[f"participant {_short(p)} has a session logged but is not in "
                          f"{files[pname]}; add her row there or correct the id"
                          for p in sub[id_col]])
            excl.add(lname, files[lname], log, stray,
                     f"participant not in {Path(files[pname]).name}", id_col)
            typed[lname] = log.loc[~stray]
    answered = set(typed[rname][id_col]) | aside_ids.get(rname, set())
    silent = ~people[id_col].isin(answered).to_numpy()
    if silent.any():
        sub = people.loc[silent]
        probs.add_many(
            file=files[pname], rule="no_responses", lines=sub["_line"].to_numpy(), column=id_col,
            participant_ids=sub[id_col].to_numpy(), values=sub[id_col].to_numpy(),
            messages=[f"participant {_short(p)} has no questionnaire in {files[rname]}; add her "
                      f"responses or correct the id" for p in sub[id_col]])


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
        # like every invalid cell, the date becomes missing: time since baseline then falls back
        # to the wave's planned week instead of a date the data team has to check
        resp.loc[out, date_col] = pd.NaT


def _flow(checked: dict, typed, excl: _Exclusions, dd) -> pd.DataFrame:
    id_col = dd.id_column
    rows = []
    ex = excl.frame()
    for name, res in checked.items():
        ids = {str(v).strip() for v in res.id_values if str(v).strip()}
        ids |= {str(r["id"]) for r in res.set_aside if r.get("id")}
        rows.append({"dataset": name, "stage": "read", "reason": "",
                     "records": len(res.raw) + len(res.set_aside), "participants": len(ids)})
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
