"""Read data files (CSV, Excel, SPSS, Stata, Parquet) into DataFrames, keeping values as written.

:func:`read_table` is the reader that validation builds on. It returns the values as the file holds
them, so that a validator can report every problem with the file, line and column where it occurs:

========  ==================  ============================================================
format    extensions          what comes back
========  ==================  ============================================================
csv       .csv .tsv .txt      every value as text, exactly as written (``""``, ``"NA"``,
                              ``"-9"`` and ``" 3 "`` all stay text); delimiter (comma,
                              semicolon or tab) sniffed from the first 64 KB; the whole file
                              decoded with one encoding: UTF-8 (with or without BOM),
                              UTF-16 with BOM, or Windows-1252 when no byte of the file is
                              UTF-8 beyond ASCII
xlsx      .xlsx               cell values as Python objects (``int``, ``float``, ``str``,
                              ``bool``, ``datetime.datetime`` for dates); empty cells NaN;
                              Excel error cells (``#N/A``) NaN; text cells such as ``"NA"``
                              stay text
sav       .sav                numbers float64 as stored (value labels do not replace the
                              codes: they are in ``frame.attrs["value_labels"]``); dates
                              datetime64; system-missing NaN; user-missing values kept as
                              their codes
dta       .dta                as .sav; Stata's missing values (``.`` and ``.a`` – ``.z``) NaN
parquet   .parquet            the stored dtypes (a named stored index becomes a column)
========  ==================  ============================================================

Every frame has a fresh ``RangeIndex`` and string column names with surrounding whitespace removed.
:func:`line_numbers` gives the file line of every row: the physical line of a text file (a quoted
value spanning several lines does not shift the lines after it) or the worksheet row of an Excel
file, with the header on line 1 unless the file says otherwise. Anything that cannot be read raises
:class:`~evalkit.errors.DataReadError` with the file name, the reason and what to do about it.

:func:`evalkit.read_data` (in :mod:`evalkit.validation`, which converts values to the dictionary's
types) is for users who want typed columns: with a data dictionary it converts each column to its
declared type; without one it infers types much as :func:`pandas.read_csv` would.

Validation (:func:`evalkit.validate`) reads files through the same readers with the data dictionary's
expectations, so that it can also find the header under a title row, pick the worksheet that holds
the data, and report lines with the wrong number of fields, formulas without saved values and the
like as problems while reading the rest of the file.

Examples
--------
>>> from evalkit.io import SUPPORTED_FORMATS, table_format
>>> sorted(set(SUPPORTED_FORMATS.values()))
['csv', 'dta', 'parquet', 'sav', 'xlsx']
>>> table_format("responses.CSV"), table_format("wave2.sav")
('csv', 'sav')
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from ._headers import _header_key
from .errors import DataQualityWarning, DataReadError, SpecificationError

__all__ = [
    "SUPPORTED_FORMATS",
    "FIRST_DATA_LINE",
    "table_format",
    "read_table",
    "line_numbers",
]

#: File extension (lower case, with the dot) -> format name returned by :func:`table_format`.
SUPPORTED_FORMATS = MappingProxyType({
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".sav": "sav",
    ".dta": "dta",
    ".parquet": "parquet",
})

#: File line of the first data row of a file whose header is line 1 and whose rows are one line each.
FIRST_DATA_LINE = 2

_SNIFF_BYTES = 64 * 1024
_HEADER_SEARCH_ROWS = 10   # the header is looked for in this many rows at the top of a file
_SHOW = 60                 # values longer than this are shortened in messages
_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# Strings read as missing by read_data without a dictionary (pandas.read_csv's defaults).
_NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                         "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                         "nan", "null"})
_TRUE, _FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})
_HINTS = {
    ".xls": "save it as .xlsx (Excel: File > Save As > Excel Workbook)",
    ".xlsm": "save it as .xlsx (Excel: File > Save As > Excel Workbook)",
    ".ods": "save it as .xlsx or .csv",
    ".zsav": "save it uncompressed as .sav in SPSS",
    ".por": "save it as .sav in SPSS",
    ".json": "convert it to .csv or .parquet",
}
# Binary formats recognised by their first bytes, for "not a text file" messages.
_MAGIC = (
    (b"PK\x03\x04", "a zip archive, probably an Excel workbook", "if it is a workbook, give it the "
                                                                 ".xlsx extension"),
    (b"\xd0\xcf\x11\xe0", "an old Office file, probably an Excel 97-2003 .xls workbook",
     "open it in Excel and save it as .xlsx or as CSV UTF-8"),
    (b"$FL2", "an SPSS data file", "give it the .sav extension"),
    (b"$FL3", "a compressed SPSS data file", "save it uncompressed as .sav in SPSS"),
    (b"<stata_dta>", "a Stata data file", "give it the .dta extension"),
    (b"PAR1", "a Parquet file", "give it the .parquet extension"),
    (b"%PDF", "a PDF document", "export the data from the program that made it as CSV"),
)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _short(value, limit: int = _SHOW) -> str:
    """``value`` as text of at most ``limit`` characters (longer values end in "…")."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(value, limit: int = _SHOW) -> str:
    """``value`` quoted for a message, shortened, with line breaks and the like escaped."""
    return repr(_short(value, limit))


# ---------------------------------------------------------------------------------- read results
@dataclass
class TableRead:
    """Everything a reader learnt about a file (used by validation; see :func:`read_table`).

    ``frame`` holds the values as in the file, ``lines`` the file line (or worksheet row) of each
    of its rows. ``problems`` are defects found while reading that did not stop it (dicts with
    ``line, column, value, rule, message, severity``); ``set_aside`` lists rows that could not be
    read as rows (``line, reason, id``), so that they are counted, not lost; ``notes`` say how the
    file was read where that is not obvious (``line, column, message``).
    """

    frame: pd.DataFrame
    lines: np.ndarray
    fmt: str
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    problems: list = field(default_factory=list)
    set_aside: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    value_labels: dict = field(default_factory=dict)
    missing_ranges: dict = field(default_factory=dict)
    header_line: int = 1

    @property
    def decimal_comma(self) -> bool:
        """True for semicolon-delimited text, where ``3,5`` is the number 3.5."""
        return self.delimiter == ";"


@dataclass(frozen=True)
class Expected:
    """What a reader looks for: the identifier's header and each dataset's headers.

    Headers are compared with :func:`evalkit.dictionary._header_key` (case, surrounding spaces and
    ``-``/space/``_`` ignored); ``datasets`` maps, per candidate dataset, each accepted header key to
    the declared variable it means. ``sheet`` is the dictionary's worksheet for an Excel file.
    """

    id_keys: frozenset
    datasets: tuple = ()
    id_name: str = "participant_id"
    sheet: str | int | None = None

    @classmethod
    def from_dictionary(cls, dictionary, dataset=None) -> "Expected":
        datasets = [dataset] if dataset is not None else list(dictionary.datasets.values())
        id_name = dictionary.id_column
        id_keys = set()
        maps = []
        for ds in datasets:
            keys = {}
            for var in ds.variables.values():
                for name in (var.name, *var.aliases):
                    keys.setdefault(_header_key(name), var.name)
                    if var.name == id_name:
                        id_keys.add(_header_key(name))
            maps.append(keys)
        id_keys.add(_header_key(id_name))
        return cls(id_keys=frozenset(id_keys), datasets=tuple(maps), id_name=id_name,
                   sheet=dataset.sheet if dataset is not None else None)

    def header_row(self, rows) -> int | None:
        """Index of the first of ``rows`` (lists of cells) that is the header, or None."""
        for i, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
            keys = {_header_key(c) for c in _cell_names(row) if c}
            if keys & self.id_keys:
                return i
            for mapping in self.datasets:
                wanted = set(mapping.values())
                found = {mapping[k] for k in keys if k in mapping}
                if wanted and len(found) >= max(2, math.ceil(len(wanted) / 2)):
                    return i
        return None

    def id_position(self, names) -> int | None:
        for j, name in enumerate(names):
            if name and _header_key(name) in self.id_keys:
                return j
        return None


def _cell_names(values) -> list[str]:
    """Header cells as names: stripped text; empty and NaN cells -> ''; 2024.0 -> '2024'."""
    names = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            names.append("")
        elif isinstance(v, float) and v.is_integer():
            names.append(str(int(v)))
        else:
            names.append(str(v).strip().lstrip("\ufeff").strip())
    return names


# ---------------------------------------------------------------------------------- public API
def table_format(path: str | PathLike) -> str:
    """The format of a data file, from its extension (case-insensitive).

    Parameters
    ----------
    path : str or path-like
        The file. It need not exist; only its name is looked at.

    Returns
    -------
    str
        One of ``"csv"`` (``.csv``, ``.tsv``, ``.txt``), ``"xlsx"``, ``"sav"``, ``"dta"`` or
        ``"parquet"``.

    Raises
    ------
    DataReadError
        If the extension is not supported; the message names the file, the extension and the
        supported extensions.

    Examples
    --------
    >>> from evalkit.io import table_format
    >>> table_format("data/Wave 1.XLSX")
    'xlsx'
    >>> table_format("export.tsv")
    'csv'
    >>> table_format("old.xls")
    Traceback (most recent call last):
    ...
    evalkit.errors.DataReadError: cannot read old.xls: unsupported extension '.xls'; ...
    """
    path = Path(path)
    ext = path.suffix.lower()
    try:
        return SUPPORTED_FORMATS[ext]
    except KeyError:
        shown = f"extension {ext!r}" if ext else "no extension"
        hint = _HINTS.get(ext, "save it in one of these formats")
        raise DataReadError(
            f"cannot read {path}: unsupported {shown}; supported extensions are "
            f"{', '.join(SUPPORTED_FORMATS)}; {hint}"
        ) from None


def read_table(path: str | PathLike, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame that keeps the values as the file has them.

    This is the reader validation uses: nothing is converted, guessed or dropped, so every problem
    can be reported with its file, line and column. Use :func:`evalkit.read_data` for typed
    columns.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv``, ``.txt``, ``.xlsx``, ``.sav``, ``.dta`` or ``.parquet`` file; the
        format comes from the extension (case-insensitive), see :func:`table_format`.
    sheet : str or int, optional
        Excel only: the worksheet, by name or by 0-based position. Default: the first sheet.

    Returns
    -------
    pandas.DataFrame
        With a fresh ``RangeIndex`` and the header's column names as ``str``, surrounding
        whitespace removed; :func:`line_numbers` gives the file line of every row (header = line 1,
        first row = line 2 unless a value spans several lines). What the values are depends on the
        format:

        - **CSV/TSV/TXT**: every value is a ``str`` exactly as written, surrounding whitespace
          included (``" 3 "`` stays ``" 3 "``; ``""``, ``"NA"`` and ``"-9"`` stay text), so the data
          dictionary decides what is missing. Blank lines inside the data are kept as rows of
          ``""`` (so line numbers stay right); blank lines at the end are dropped. Line numbers are
          physical lines: a quoted value spanning several lines does not shift the rows after it.
          The whole file is decoded with one encoding (UTF-8, UTF-16 with BOM, or Windows-1252); a
          file mixing UTF-8 and another encoding is refused with the first line that is not UTF-8.
          A row with more fields than the header (other than empty trailing ones) is refused with
          its line; a row with fewer fields is padded with ``""`` and a
          :class:`~evalkit.errors.DataQualityWarning` names its line.
        - **XLSX**: cell values as Python objects (``int``, ``float``, ``str``, ``bool``,
          ``datetime.datetime`` for dates) in ``object`` columns; empty cells and Excel error cells
          are NaN; text cells are kept as written. Empty rows at the end are dropped. A formula
          without a saved value is NaN and a :class:`~evalkit.errors.DataQualityWarning` names its
          cell.
        - **SAV/DTA**: numeric columns ``float64`` holding the stored codes (value labels do not
          replace them; ``frame.attrs["value_labels"]`` maps column -> {code: label}), date
          columns ``datetime64[ns]``, text columns ``str``. SPSS user-missing values stay codes
          (``-9.0``), so the dictionary's missing codes apply. System-missing values and Stata's
          ``.`` and ``.a`` – ``.z`` are NaN.
        - **Parquet**: the stored column dtypes. A named stored index becomes a column.

    Raises
    ------
    DataReadError
        If the file is missing, has an unsupported extension, is empty (no header), is not text
        (for the text extensions), mixes encodings, has duplicate or missing column names or rows
        with too many fields, or cannot be parsed; the message says which file, where, why, and
        what to do.
    SpecificationError
        If ``sheet`` is given for a file that is not ``.xlsx``.

    See Also
    --------
    evalkit.read_data : typed columns, optionally converted with a data dictionary.
    line_numbers : the file line of every row.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from evalkit.io import read_table, line_numbers
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "responses.csv"
    >>> _ = path.write_text("participant_id;wave;epds_1\\n"
    ...                     "P001;baseline;2\\n"
    ...                     "P002;baseline;-9\\n"
    ...                     "P003;baseline;\\n", encoding="utf-8")
    >>> raw = read_table(path)
    >>> raw
      participant_id      wave epds_1
    0           P001  baseline      2
    1           P002  baseline     -9
    2           P003  baseline
    >>> raw["epds_1"].tolist()
    ['2', '-9', '']
    >>> line_numbers(raw).tolist()
    [2, 3, 4]
    >>> tmp.cleanup()
    """
    table = _read(path, sheet=sheet)
    _warn_read_problems(path, table)
    return _with_attrs(table)


def line_numbers(frame: pd.DataFrame) -> np.ndarray:
    """The file line of every row of a frame returned by :func:`read_table` (header = line 1).

    For a text file these are physical lines; for a worksheet, row numbers. Without a reader's
    record (any other frame), row ``i`` (by position) is line ``i + FIRST_DATA_LINE``.

    Parameters
    ----------
    frame : pandas.DataFrame
        A frame as returned by :func:`read_table`, or any slice of it that kept its index.

    Returns
    -------
    numpy.ndarray of int64
        One line number per row. For a slice whose index is still the reader's ``RangeIndex``
        labels (e.g. ``raw[raw.wave == "end"]``), the numbers refer to the original file lines.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.io import line_numbers
    >>> raw = pd.DataFrame({"participant_id": ["P1", "P2", "P3"]})
    >>> line_numbers(raw).tolist()
    [2, 3, 4]
    >>> line_numbers(raw.iloc[[0, 2]]).tolist()
    [2, 4]
    """
    index = frame.index
    lines = frame.attrs.get("lines") if isinstance(frame.attrs, dict) else None
    if pd.api.types.is_integer_dtype(index.dtype):
        positions = np.asarray(index, dtype=np.int64)
        if lines is not None:
            lines = np.asarray(lines, dtype=np.int64)
            if len(positions) == 0 or (positions.min() >= 0 and positions.max() < len(lines)):
                return lines[positions]
        return positions + FIRST_DATA_LINE
    if lines is not None and len(lines) == len(frame):
        return np.asarray(lines, dtype=np.int64)
    return np.arange(len(frame), dtype=np.int64) + FIRST_DATA_LINE


# ---------------------------------------------------------------------------------- reading
def _read(path: str | PathLike, *, sheet: str | int | None = None, expect: Expected | None = None,
          strict: bool = True) -> TableRead:
    """Read ``path`` into a :class:`TableRead`.

    ``strict`` (what :func:`read_table` does): a defect that would lose values (a row with too many
    fields, duplicate or missing column names) raises :class:`DataReadError`. Otherwise (validation):
    such defects become ``problems``, the rows concerned are ``set_aside`` and the rest is read.
    ``expect`` lets the reader find the header under title rows and choose the worksheet.
    """
    path = Path(path)
    fmt = table_format(path)
    if sheet is not None and fmt != "xlsx":
        raise SpecificationError(
            f"sheet={sheet!r} was given for {path}, but sheets exist only in .xlsx files; "
            "drop the sheet argument"
        )
    if not path.exists():
        raise DataReadError(f"file not found: {path}; check the path")
    if path.is_dir() and fmt != "parquet":
        raise DataReadError(f"cannot read {path}: it is a folder, not a file; give the file's path")
    if fmt == "csv":
        table = _read_csv(path, expect, strict)
    elif fmt == "xlsx":
        table = _read_xlsx(path, sheet, expect, strict)
    elif fmt in ("sav", "dta"):
        table = _read_spss_stata(path, fmt)
    else:
        table = _read_parquet(path)
    table.frame.index = pd.RangeIndex(len(table.frame))
    table.lines = np.asarray(table.lines, dtype=np.int64)
    return table


def _with_attrs(table: TableRead) -> pd.DataFrame:
    frame = table.frame
    if not np.array_equal(table.lines, np.arange(len(frame)) + FIRST_DATA_LINE):
        frame.attrs["lines"] = table.lines
    if table.value_labels:
        frame.attrs["value_labels"] = table.value_labels
    return frame


def _warn_read_problems(path, table: TableRead) -> None:
    if not table.problems:
        return
    first = table.problems[0]
    more = len(table.problems) - 1
    warnings.warn(f"{path}: {first['message']}" + (f" (and {more} more such problem"
                                                     f"{'s' if more != 1 else ''}; run `evalkit "
                                                     "validate` to list them all)" if more else ""),
                  DataQualityWarning, stacklevel=3)


def _problem(line, column, value, rule, message, severity="error", participant_id=None) -> dict:
    return {"line": line, "column": column, "value": None if value is None else _short(value),
            "rule": rule, "message": message, "severity": severity, "participant_id": participant_id}


def _read_error(message: str, *, line: int | None = None, rule: str = "unreadable_file") -> DataReadError:
    exc = DataReadError(message)
    exc.line = line   # validation reports the line with the problem
    exc.rule = rule
    return exc


# ---------------------------------------------------------------------------------- helpers
def _reason(exc: BaseException) -> str:
    """A library exception as one short line: ``TypeName: message``."""
    text = " ".join(str(exc).split()) or "no details given"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def _header_names(values, path: Path, where: str, problems: list | None = None,
                  line: int | None = 1) -> list:
    """Header cells -> stripped str names; duplicates raise (``problems`` None) or are reported.

    When reported, every later copy of a duplicated name becomes ``None``: that column is not read.
    """
    names: list = _cell_names(values)
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        if name:
            seen.setdefault(name, []).append(i)
    dups = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dups and problems is None:
        listed = "; ".join(f"{n!r} (columns {', '.join(map(str, pos))})" for n, pos in dups.items())
        raise DataReadError(
            f"{path}: duplicate column names in the header ({where}): {listed}; "
            "rename them so that every column name is unique"
        )
    for name, pos in dups.items():
        for j in pos[1:]:
            names[j - 1] = None
        problems.append(_problem(
            line, name, name, "duplicate_column",
            f"columns {', '.join(map(str, pos))} of the header ({where}) are "
            f"{'both' if len(pos) == 2 else 'all'} named {_shown(name)}; "
            f"only column {pos[0]} was read: rename the others (or delete them) so that every column "
            "name is unique"))
    return names


def _finish_columns(frame: pd.DataFrame, names: list, path: Path, where: str, is_empty,
                    problems: list | None = None, line: int | None = 1) -> pd.DataFrame:
    """Give ``frame`` the header ``names``; drop unnamed empty columns, refuse unnamed full ones.

    A name ``None`` marks a column already reported (a duplicate): it is dropped. With ``problems``
    given, an unnamed column with values is reported there (and not read) instead of raising.
    """
    frame.columns = pd.RangeIndex(frame.shape[1])
    keep = []
    for j in range(frame.shape[1]):
        name = names[j] if j < len(names) else ""
        if name:
            keep.append(j)
        elif name is None or is_empty(frame[j]).all():
            continue
        else:
            message = (f"column {j + 1} has values but no name in the header ({where}); type a "
                       "column name there or delete the column")
            if problems is None:
                raise DataReadError(f"{path}: {message}")
            problems.append(_problem(line, f"column {j + 1}", None, "unknown_column",
                                     message + "; its values were not read"))
    frame = frame[keep] if len(keep) != frame.shape[1] else frame
    frame.columns = pd.Index([names[j] for j in keep], dtype=object)
    return frame


def _trailing_empty(frame: pd.DataFrame, is_empty) -> int:
    """How many rows at the end have every cell empty (they are dropped: they shift no line)."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return 0
    tail = min(frame.shape[0], 64)
    while True:
        block = frame.iloc[-tail:]
        empty_rows = np.column_stack([is_empty(block.iloc[:, j]).to_numpy()
                                      for j in range(block.shape[1])]).all(axis=1)
        n_trailing = len(empty_rows) - (np.flatnonzero(~empty_rows)[-1] + 1 if (~empty_rows).any() else 0)
        if n_trailing < tail or tail == frame.shape[0]:
            return int(n_trailing)
        tail = min(frame.shape[0], tail * 8)


def _text_is_empty(col: pd.Series) -> pd.Series:
    return col.isna() | (col == "")


def _cell_is_empty(col: pd.Series) -> pd.Series:
    return col.isna()


def _title_note(rows, first_line: int, header_line: int, unit: str) -> dict:
    texts = [c for row in rows for c in _cell_names(row) if c]
    what = f" ({_shown(' '.join(texts))})" if texts else ""
    span = (f"{unit} {first_line}" if header_line - first_line == 1 else
            f"{unit}s {first_line}–{header_line - 1}")
    return {"line": header_line, "column": None,
            "message": f"the header is on {unit} {header_line}; {span} above it{what} "
                       f"{'is' if header_line - first_line == 1 else 'are'} not data and "
                       f"{'was' if header_line - first_line == 1 else 'were'} skipped"}


# ---------------------------------------------------------------------------------- CSV
def _read_csv(path: Path, expect: Expected | None, strict: bool) -> TableRead:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataReadError(f"cannot read {path}: {exc.strerror or _reason(exc)}; "
                            "check that the file is readable") from None
    text, body, encoding = _decode(path, data)
    if not text.strip():
        raise _read_error(f"cannot read {path}: the file is empty (no header line); "
                          "the first line must hold the column names", line=1)
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    delimiter = _sniff_delimiter(text[:_SNIFF_BYTES], len(text) <= _SNIFF_BYTES, default)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a 1 MB cell is a value to report, not a reason to fail
    try:
        records = _scan(body, delimiter) or _ListRecords.parse(text, delimiter)
        try:
            table = _assemble_csv(path, records, expect, strict, delimiter)
        except _ScanMismatch:  # the fast reader disagreed with the scan: read it the careful way
            table = _assemble_csv(path, _ListRecords.parse(text, delimiter), expect, strict, delimiter)
    finally:
        csv.field_size_limit(old_limit)
    table.encoding = encoding
    if encoding != "UTF-8":
        table.notes.insert(0, {"line": None, "column": None,
                               "message": f"read as {encoding} text (the file is not UTF-8)"})
    return table


def _not_text(path: Path, what: str, fix: str = "export the data as CSV (or give the file its real "
                                                 "extension)", *, line: int = 1) -> DataReadError:
    return _read_error(f"cannot read {path}: it is not a text file: {what}; {fix}", line=line,
                       rule="unreadable_file")


def _decode(path: Path, data: bytes) -> tuple[str, bytes, str]:
    """The whole file decoded with ONE encoding: (text, the text as UTF-8 bytes, encoding name)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].decode("utf-16", errors="replace").count("\n") + 1
            raise _read_error(f"cannot read {path}: it starts as UTF-16 text but line {line} is not "
                              "UTF-16; save the file again as 'CSV UTF-8'", line=line,
                              rule="encoding") from None
        return text, text.encode("utf-8"), "UTF-16"
    for magic, what, fix in _MAGIC:
        if data.startswith(magic):
            raise _not_text(path, f"it is {what}", fix)
    if b"\x00" in data[:_SNIFF_BYTES]:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise _not_text(path, f"it contains NUL bytes (the first on line {line}), so it is a binary "
                              "file, not delimited text", line=line)
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    else:
        _check_control(path, body)
        return text, body, "UTF-8"
    if bom or _UTF8_MULTIBYTE.search(body):
        # UTF-8 in places and not in others: re-reading it all as Windows-1252 would garble the
        # UTF-8 part ("Zoë" -> "ZoÃ«") without a word, so nothing is read.
        raw_lines = body.split(b"\n")
        bad_lines, where = [], 0
        for number, raw_line in enumerate(raw_lines, start=1):
            try:
                raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not bad_lines:
                    where = exc.start
                bad_lines.append(number)
        first = bad_lines[0] if bad_lines else body.count(b"\n", 0, first_bad) + 1
        bad = raw_lines[first - 1]
        lo, hi = max(0, where - 25), where + 25
        sample = (("…" if lo else "") + bad[lo:hi].decode("cp1252", errors="replace").strip()
                  + ("…" if hi < len(bad.rstrip()) else ""))
        more = len(bad_lines) - 1
        also = f" (and {more} more line{'s' if more != 1 else ''})" if more > 0 else ""
        raise _read_error(
            f"cannot read {path}: the file mixes text encodings: it is UTF-8, but line {first}{also} "
            f"is not (as Windows-1252 it reads {_shown(sample)}); nothing was read, so that no value "
            "is garbled: open the file in the program that made it and save it as 'CSV UTF-8' "
            f"(UTF-8 throughout), or retype the accented letters on line {first}",
            line=first, rule="encoding")
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise _not_text(path, f"byte 0x{body[exc.start]:02x} on line {line} is neither UTF-8 nor "
                              "Windows-1252 text",
                        "save it as 'CSV UTF-8' from the program that made it, or give the file its "
                        "real extension") from None
    _check_control(path, body)
    return text, text.encode("utf-8"), "Windows-1252"


def _check_control(path: Path, data: bytes) -> None:
    """Text has few control characters; a file of many is binary whatever its name."""
    head = np.frombuffer(data[:_SNIFF_BYTES], dtype=np.uint8)
    control = int(((head < 32) & ~np.isin(head, (9, 10, 11, 12, 13))).sum())
    if head.size and control > 0.05 * head.size:
        raise _not_text(path, "it is mostly control characters, so it is a binary file")


def _sniff_delimiter(text: str, complete: bool, default: str) -> str:
    """Pick comma, semicolon or tab: the one giving most fields, consistently, in the sample."""
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial sample may be cut short
    lines = [ln for ln in lines if ln.strip()][:50]
    order = (default,) + tuple(d for d in _DELIMITERS if d != default)
    best, best_score = default, (False, 1)
    for delim in order:
        try:
            rows = list(csv.reader(lines, delimiter=delim))
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = all(len(r) == width for r in rows)
        score = (consistent, width)
        if width > 1 and score > best_score:
            best, best_score = delim, score
    return best


class _ScanMismatch(Exception):
    """The vectorised scan and pandas' parser disagree on the records (never seen; a safety net)."""


class _Records:
    """Records (rows) of a delimited text: first and last physical line and field count of each.

    ``counts`` is 0 for a blank record. ``fields(i)`` parses record ``i``; ``frame(idx, width)``
    parses the records ``idx`` into a frame of ``width`` text columns (short records padded).
    """

    lines: np.ndarray
    last: np.ndarray
    counts: np.ndarray
    unclosed: int | None = None   # a record whose opening quote is never closed

    def __len__(self) -> int:
        return len(self.counts)


class _ListRecords(_Records):
    """Records parsed by the csv module one by one: exact, and slow (about 70,000 rows a second)."""

    def __init__(self, rows, lines, last, unclosed=None):
        self.rows = rows
        self.lines = np.asarray(lines, dtype=np.int64)
        self.last = np.asarray(last, dtype=np.int64)
        self.counts = np.array([0 if (not r or (len(r) == 1 and not r[0].strip())) else len(r)
                                for r in rows], dtype=np.int64)
        self.unclosed = unclosed

    @classmethod
    def parse(cls, text: str, delimiter: str) -> "_ListRecords":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                            doublequote=True, strict=False)
        rows, lines, last, prev = [], [], [], 0
        for rec in reader:
            rows.append(rec)
            lines.append(prev + 1)
            last.append(reader.line_num)
            prev = reader.line_num
        unclosed = None
        if rows and text.count('"') % 2 and last[-1] > lines[-1]:
            unclosed = len(rows) - 1  # the last record ran to the end of the file inside quotes
        return cls(rows, lines, last, unclosed)

    def fields(self, i: int) -> list[str]:
        return list(self.rows[i])

    def frame(self, idx: np.ndarray, width: int) -> pd.DataFrame:
        data = [(self.rows[i] + [""] * (width - len(self.rows[i])))[:width] for i in idx]
        return pd.DataFrame(data, columns=range(width), dtype=object) if data else \
            pd.DataFrame(columns=range(width), dtype=object)


class _ScanRecords(_Records):
    """Records found by a vectorised scan of the bytes; parsed by pandas' C reader (fast)."""

    def __init__(self, body, delimiter, starts, ends, nexts, lines, last, counts):
        self.body, self.delimiter = body, delimiter
        self.starts, self.ends, self.nexts = starts, ends, nexts
        self.lines, self.last, self.counts = lines, last, counts

    def fields(self, i: int) -> list[str]:
        segment = self.body[self.starts[i]:self.ends[i]].decode("utf-8")
        return next(csv.reader(io.StringIO(segment, newline=""), delimiter=self.delimiter), [])

    def frame(self, idx: np.ndarray, width: int) -> pd.DataFrame:
        if len(idx) == 0:
            return pd.DataFrame(columns=range(width), dtype=object)
        cut = np.flatnonzero(np.diff(idx) != 1) + 1
        runs = np.split(idx, cut)
        buf = b"".join(self.body[self.starts[r[0]]:self.nexts[r[-1]]] for r in runs)
        if not buf.endswith((b"\n", b"\r")):
            buf += b"\n"
        frame = pd.read_csv(io.BytesIO(buf), sep=self.delimiter, header=None, names=range(width),
                            dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, engine="c", encoding="utf-8", quotechar='"',
                            doublequote=True, index_col=False)
        if len(frame) != len(idx):
            raise _ScanMismatch()
        return frame.astype(object)


def _scan(body: bytes, delimiter: str) -> _ScanRecords | None:
    """Find the records of standard CSV text (RFC 4180 quoting) without a Python loop.

    Returns None when quotes are used in a way the scan does not model (a quote inside an unquoted
    value, an odd number of quotes): the csv module then reads the file record by record.
    """
    arr = np.frombuffer(body, dtype=np.uint8)
    n = arr.size
    d = ord(delimiter)
    qpos = np.flatnonzero(arr == 34)
    if qpos.size % 2:
        return None
    if qpos.size:
        k = np.arange(qpos.size)
        prev = np.full(qpos.size, 10, dtype=np.uint8)
        has = qpos > 0
        prev[has] = arr[qpos[has] - 1]
        nxt = np.full(qpos.size, 10, dtype=np.uint8)
        has = qpos < n - 1
        nxt[has] = arr[qpos[has] + 1]
        adj_prev = np.zeros(qpos.size, dtype=bool)
        adj_prev[1:] = qpos[1:] == qpos[:-1] + 1
        adj_next = np.zeros(qpos.size, dtype=bool)
        adj_next[:-1] = adj_prev[1:]

        def sep(b):
            return (b == d) | (b == 10) | (b == 13)

        opener = (k % 2) == 0
        ok = np.where(opener, sep(prev) | adj_prev, sep(nxt) | adj_next)
        if not ok.all():
            return None

    def inside(pos):
        return (np.searchsorted(qpos, pos) % 2) == 1 if qpos.size else np.zeros(len(pos), bool)

    nl = np.flatnonzero(arr == 10)
    cr = np.flatnonzero(arr == 13)
    if cr.size:
        after = np.zeros(cr.size, dtype=np.uint8)
        has = cr < n - 1
        after[has] = arr[cr[has] + 1]
        term = np.sort(np.concatenate([nl, cr[after != 10]]))
    else:
        term = nl
    rec_term = term[~inside(term)]
    starts = np.concatenate([[0], rec_term + 1]).astype(np.int64)
    ends = np.concatenate([rec_term, [n]]).astype(np.int64)
    if starts[-1] >= n:   # the text ends with a line break: no record after it
        starts, ends = starts[:-1], ends[:-1]
    nexts = np.append(starts[1:], n)
    crlf = np.zeros(len(ends), dtype=bool)
    has = (ends < n) & (ends > starts)
    crlf[has] = (arr[ends[has]] == 10) & (arr[ends[has] - 1] == 13)
    cend = ends - crlf
    lines = np.searchsorted(term, starts) + 1
    last = np.searchsorted(term, cend) + 1
    if len(starts) == 0:
        return _ScanRecords(body, delimiter, starts, cend, nexts, lines, last, starts.copy())
    is_delim = arr == d
    if qpos.size:
        dpos = np.flatnonzero(is_delim)
        is_delim[dpos[inside(dpos)]] = False
    # each record's span runs to the next record's start: its line break adds no delimiter and
    # no visible character, so per-span sums count the record's own
    counts = np.add.reduceat(is_delim, starts, dtype=np.int64) + 1
    visible = ~((arr == 32) | (arr == 9) | (arr == 13) | (arr == 10))
    blank = (np.add.reduceat(visible, starts, dtype=np.int64) == 0) & (counts == 1)
    counts[blank] = 0
    return _ScanRecords(body, delimiter, starts, cend, nexts, lines, last, counts)


def _assemble_csv(path: Path, recs: _Records, expect: Expected | None, strict: bool,
                  delimiter: str) -> TableRead:
    """Header, rows and their lines from the records; rows with the wrong number of fields noted."""
    dname = _DELIMITER_NAMES[delimiter]
    problems: list = []
    notes: list = []
    set_aside: list = []
    nonblank = np.flatnonzero(recs.counts > 0)
    if nonblank.size == 0:
        raise _read_error(f"cannot read {path}: the file is empty (no header line); "
                          "the first line must hold the column names", line=1)
    n_head = min(len(recs), int(nonblank[0]) + _HEADER_SEARCH_ROWS)
    head_rows = [recs.fields(i) for i in range(n_head)]
    h = expect.header_row(head_rows) if expect is not None else None
    if h is None:
        h = int(nonblank[0])
    hline = int(recs.lines[h])
    if any(recs.counts[:h] > 0):
        notes.append(_title_note(head_rows[:h], 1, hline, "line"))
    header = head_rows[h]
    names = _header_names(header, path, f"line {hline}", None if strict else problems, hline)
    w_header = len(names)
    w_named = max((j + 1 for j, nm in enumerate(names) if nm or nm is None), default=0)
    id_pos = expect.id_position([nm or "" for nm in names]) if expect is not None else None

    data = np.arange(h + 1, len(recs))
    counts = recs.counts[data]
    filled = counts > 0
    width, short_ok = w_header, w_named
    if filled.any():
        values, freq = np.unique(counts[filled], return_counts=True)
        common = int(values[np.argmax(freq)])
        share = freq.max() / filled.sum()
        if share >= 0.9 and common > w_header:
            width = common      # the header lacks names for the last columns: reported below
        if share >= 0.9 and common < w_named:
            short_ok = common   # every row lacks the last columns: one problem, rows padded
            missing = [nm for nm in names[common:w_named] if nm]
            problems.append(_problem(
                hline, None, None, "ragged_row",
                f"every row has {common} field{'s' if common != 1 else ''} but the header has "
                f"{w_named} names: column{'s' if len(missing) != 1 else ''} "
                f"{', '.join(_shown(m) for m in missing)} {'have' if len(missing) != 1 else 'has'} "
                "no values in any row (read as empty); check the export, or delete the name(s) "
                "from the header", severity="warning"))

    def row_problem(i: int, kind: str):
        fields = recs.fields(i)
        k, first, last = int(recs.counts[i]), int(recs.lines[i]), int(recs.last[i])
        who = fields[id_pos].strip() if id_pos is not None and id_pos < len(fields) else None
        if kind == "unclosed":
            message = (f"line {first}: a quoted value opened on this line is never closed, so lines "
                       f"{first}–{last} would be read as one value; the row was not read: add the "
                       "closing quote (\") or remove the opening one")
        elif kind == "long":
            message = (f"line {first} has {k} fields but the header has {w_header}; the row was not "
                       f"read: a value probably contains a {dname} without quotes around it — put that "
                       f"value in double quotes (or remove the extra {dname}) and run again")
        else:
            message = (f"line {first} has {k} field{'s' if k != 1 else ''} but the header has "
                       f"{w_named}; the row was not read: a value or a {dname} is missing — complete "
                       f"the row (an empty value still needs its {dname})")
        if kind != "unclosed" and last > first:
            message += (f" (the row runs from line {first} to line {last}: a quote (\") may be "
                        "missing its closing quote)")
        shown = delimiter.join(fields)
        return _problem(first, None, shown, "ragged_row", message, participant_id=who or None), \
            {"line": first, "reason": "wrong number of fields" if kind != "unclosed" else
             "unclosed quote", "id": who or None}

    bad = np.zeros(len(data), dtype=bool)
    if recs.unclosed is not None and recs.unclosed > h:
        bad[recs.unclosed - h - 1] = True
    long = np.flatnonzero(filled & (counts > width) & ~bad)
    extra_width = width
    for j in long:
        fields = recs.fields(int(data[j]))
        if all(not f.strip() for f in fields[width:]):
            extra_width = max(extra_width, len(fields))  # only empty fields beyond the header
        else:
            bad[j] = True
    short = filled & (counts < short_ok) & ~bad
    if strict and bad.any():
        said = []
        for j in np.flatnonzero(bad)[:10]:
            i = int(data[j])
            said.append(f"line {int(recs.lines[i])} opens a quote that is never closed"
                        if recs.unclosed == i else
                        f"line {int(recs.lines[i])} has {int(recs.counts[i])} fields")
        more = int(bad.sum()) - len(said)
        raise DataReadError(
            f"cannot parse {path} as {dname}-delimited text: {'; '.join(said)}"
            + (f" (and {more} more such lines)" if more > 0 else "")
            + f", but the header has {w_header} fields; check that quotes are balanced and each "
              "line has as many fields as the header")
    for j in np.flatnonzero(bad | (short if not strict else np.zeros_like(short))):
        i = int(data[j])
        kind = "unclosed" if recs.unclosed == i else ("long" if recs.counts[i] > width else "short")
        problem, aside = row_problem(i, kind)
        problems.append(problem)
        set_aside.append(aside)
    if strict:
        for j in np.flatnonzero(short):
            problem, _ = row_problem(int(data[j]), "short")
            problem["message"] = problem["message"].replace(
                "the row was not read", "the row was padded with empty values")
            problem["severity"] = "warning"
            problems.append(problem)
        keep = data[~bad]
    else:
        keep = data[~bad & ~short]
    frame = recs.frame(keep, extra_width)
    blank_rows = recs.counts[keep] == 0
    if blank_rows.any():
        frame.loc[blank_rows, :] = ""
    if frame.shape[1] > width:
        frame = frame.iloc[:, :width]
    lines = recs.lines[keep]
    n_trailing = _trailing_empty(frame, _text_is_empty)
    if n_trailing:
        frame, lines = frame.iloc[: len(frame) - n_trailing], lines[: len(lines) - n_trailing]
    frame = _finish_columns(frame, names, path, f"line {hline}", _text_is_empty,
                            None if strict else problems, hline)
    return TableRead(frame=frame.reset_index(drop=True), lines=lines, fmt="csv", delimiter=delimiter,
                     problems=problems, set_aside=set_aside, notes=notes, header_line=hline)


# ---------------------------------------------------------------------------------- Excel
def _read_xlsx(path: Path, sheet: str | int | None, expect: Expected | None, strict: bool) -> TableRead:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:
        raise DataReadError(
            f"cannot read {path} as an Excel workbook ({_reason(exc)}); check that it is a real "
            ".xlsx file (not a renamed .xls or CSV, not password-protected) and that it opens in Excel"
        ) from None
    notes: list = []
    problems: list = []
    with book:
        names = list(book.sheet_names)
        listed = ", ".join(repr(s) for s in names)
        if sheet is None and expect is not None and expect.sheet is not None:
            sheet = expect.sheet
            named_by = "named in the data dictionary"
        else:
            named_by = None
        if sheet is None:
            chosen = names[0] if names else None
            if expect is not None and len(names) > 1:
                chosen = None
                for name in names:
                    try:
                        peek = book.parse(name, header=None, dtype=object, keep_default_na=False,
                                          na_values=[""], nrows=_HEADER_SEARCH_ROWS)
                    except Exception:  # a sheet that cannot be read is not the data sheet
                        continue
                    if expect.header_row(peek.values.tolist()) is not None:
                        chosen = name
                        break
                if chosen is None:
                    raise _read_error(
                        f"cannot use {path}: no sheet has a {expect.id_name!r} column in its first "
                        f"{_HEADER_SEARCH_ROWS} rows (sheets: {listed}); name the data sheet in the "
                        "data dictionary (sheet: under the dataset), or rename the column or add "
                        "its name to `aliases` in the dictionary", rule="sheet")
                notes.append({"line": None, "column": None,
                              "message": f"read sheet {chosen!r}, the first with a "
                                         f"{expect.id_name!r} column (sheets: {listed})"})
        elif isinstance(sheet, bool) or not isinstance(sheet, (str, int)):
            raise SpecificationError(f"sheet must be a sheet name or a 0-based position, got "
                                     f"{sheet!r}; {path} has sheets {listed}")
        elif isinstance(sheet, int):
            if not -len(names) <= sheet < len(names):
                raise _read_error(f"{path} has no sheet at position {sheet} (positions start at 0); "
                                  f"its {len(names)} sheets are {listed}", rule="sheet")
            chosen = names[sheet]
        elif sheet in names:
            chosen = sheet
        else:
            folded = [s for s in names if s.strip().lower() == sheet.strip().lower()]
            if not folded or strict:
                where = " (the sheet named in the data dictionary)" if named_by else ""
                fix = ("correct sheet: in the dictionary" if named_by else "pass one of these as sheet=")
                raise _read_error(f"{path} has no sheet named {sheet!r}{where}; its sheets are "
                                  f"{listed}; {fix}", rule="sheet")
            chosen = folded[0]
        if named_by and len(names) > 1:
            notes.append({"line": None, "column": None,
                          "message": f"read sheet {chosen!r} ({named_by}; sheets: {listed})"})
        try:
            frame = book.parse(chosen, header=None, dtype=object, keep_default_na=False,
                               na_values=[""])
        except Exception as exc:
            raise DataReadError(f"cannot read sheet {chosen!r} of {path} ({_reason(exc)}); "
                                "check that the sheet opens in Excel and re-save the workbook") from None
    if frame.shape[0] == 0 or frame.notna().to_numpy().sum() == 0:
        raise DataReadError(f"{path}: sheet {chosen!r} is empty (no header row); "
                            "put the column names in row 1 or choose another sheet with sheet=")
    filled_rows = np.flatnonzero(frame.notna().to_numpy().any(axis=1))
    h = expect.header_row(frame.values.tolist()) if expect is not None else None
    if h is None:
        h = int(filled_rows[0]) if expect is not None else 0
    hrow = h + 1
    if h > 0 and frame.iloc[:h].notna().to_numpy().any():
        notes.append(_title_note(frame.iloc[:h].values.tolist(), 1, hrow, "row"))
    where = f"sheet {chosen!r}, row {hrow}"
    header = _header_names(frame.iloc[h].tolist(), path, where, None if strict else problems, hrow)
    formulas = [(row, col, f) for row, col, f in _formula_cells(path, chosen)
                if row > hrow and col < len(header) and header[col]]
    if formulas and max(r for r, _, _ in formulas) > len(frame):
        # rows holding nothing but formulas without values are dropped by the reader: restore them
        frame = frame.reindex(range(max(r for r, _, _ in formulas)))
    body = frame.iloc[h + 1:]
    lines = np.arange(h + 2, h + 2 + len(body), dtype=np.int64)
    n_trailing = _trailing_empty(body, _cell_is_empty)
    if formulas:  # a row of formulas without values looks empty, but it is not
        n_trailing = min(n_trailing, len(body) - (max(r for r, _, _ in formulas) - hrow))
    if n_trailing > 0:
        body, lines = body.iloc[: len(body) - n_trailing], lines[: len(lines) - n_trailing]
    for row, col, formula in formulas:
        if row > h + 1 + len(body):
            continue
        problems.append(_problem(
            row, header[col], "=" + formula if formula else None, "formula",
            f"row {row}, column {header[col]!r} ({_column_letter(col)}{row}) holds a formula with no "
            "saved value, so the cell reads as empty: open the file in Excel and save it, or paste "
            "values (Paste Special > Values)"))
    body = _finish_columns(body, header, path, where, _cell_is_empty, None if strict else problems,
                           hrow)
    return TableRead(frame=body.reset_index(drop=True), lines=lines, fmt="xlsx", sheet=chosen,
                     problems=problems, notes=notes, header_line=hrow)


def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _column_index(letters: str) -> int:
    j = 0
    for ch in letters:
        j = j * 26 + (ord(ch) - 64)
    return j - 1


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _formula_cells(path: Path, sheet: str) -> list[tuple[int, int, str]]:
    """(row, 0-based column, formula) of every formula cell of ``sheet`` that has no saved value.

    Excel saves each formula's last value beside it; files written by scripts (openpyxl, some
    exports) often do not, and the value then reads as an empty cell. Anything unexpected in the
    workbook's XML means "none found": the values themselves were read by openpyxl already.
    """
    import xml.etree.ElementTree as ET
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            book = ET.fromstring(z.read("xl/workbook.xml"))
            rid = None
            for node in book.iter(f"{{{_MAIN_NS}}}sheet"):
                if node.get("name") == sheet:
                    rid = node.get(f"{{{_REL_NS}}}id")
            rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            target = next((r.get("Target") for r in rels if r.get("Id") == rid), None)
            if target is None:
                return []
            part = target.lstrip("/") if target.startswith("/") else "xl/" + target
            data = z.read(part)
    except Exception:  # noqa: BLE001 - see the docstring
        return []
    if b"<f" not in data and b":f>" not in data and b":f " not in data:
        return []
    out = []
    cell_tag, f_tag, v_tag = (f"{{{_MAIN_NS}}}{t}" for t in ("c", "f", "v"))
    try:
        for _event, elem in ET.iterparse(io.BytesIO(data), events=("end",)):
            if elem.tag != cell_tag:
                continue
            formula = elem.find(f_tag)
            if formula is not None:
                value = elem.find(v_tag)
                cached = value is not None and (value.text not in (None, "") or elem.get("t") == "str")
                if not cached:
                    match = re.match(r"([A-Z]+)(\d+)$", elem.get("r") or "")
                    if match:
                        out.append((int(match.group(2)), _column_index(match.group(1)),
                                    formula.text or ""))
            elem.clear()
    except ET.ParseError:
        return out
    return out


# ---------------------------------------------------------------------------------- SPSS / Stata
def _code_text(value) -> str:
    """A code as text: 3.0 -> '3', 2.5 -> '2.5', 'a' -> 'a'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _user_missing(value, ranges: list[dict]) -> bool:
    for r in ranges:
        lo, hi = r.get("lo"), r.get("hi")
        try:
            if lo <= value <= hi:
                return True
        except TypeError:
            continue
    return False


def _apply_labels(col: pd.Series, labels: dict, ranges: list[dict]) -> pd.Series:
    """Labelled codes -> Categorical of labels; user-missing and unlabelled codes -> code text."""
    present = pd.unique(col.dropna())
    mapping: dict[Hashable, str] = {}
    extra: list[str] = []
    for v in present:
        if isinstance(v, str) and v == "" and "" not in labels:
            continue  # an empty SPSS string is "no value", not a code
        if v in labels and not _user_missing(v, ranges):
            mapping[v] = str(labels[v])
        else:
            mapping[v] = _code_text(v)
            extra.append(mapping[v])
    ordered_codes = sorted(labels, key=lambda k: (isinstance(k, str), k))
    cats = [str(labels[k]) for k in ordered_codes if not _user_missing(k, ranges)]
    cats += sorted(set(extra) - set(cats), key=lambda s: (_numeric_key(s), s))
    cats = list(dict.fromkeys(cats))
    values = col.map(mapping)  # unmapped (NaN, empty string) -> NaN
    return pd.Series(pd.Categorical(values, categories=cats), index=col.index, name=col.name)


def _numeric_key(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _read_spss_stata(path: Path, fmt: str) -> TableRead:
    import pyreadstat  # heavy-ish; only needed for these formats

    kind = "an SPSS .sav" if fmt == "sav" else "a Stata .dta"
    try:
        if fmt == "sav":
            frame, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False,
                                              dates_as_pandas_datetime=True)
        else:
            frame, meta = pyreadstat.read_dta(str(path), user_missing=False, apply_value_formats=False,
                                              dates_as_pandas_datetime=True)
    except Exception as exc:
        raise DataReadError(
            f"cannot read {path} as {kind} file ({_reason(exc)}); check that the file opens in "
            f"{'SPSS' if fmt == 'sav' else 'Stata'} and re-save it"
        ) from None
    missing = dict(getattr(meta, "missing_ranges", None) or {}) if fmt == "sav" else {}
    # The stored codes are the data; value labels are kept beside them (validation checks them
    # against the dictionary's levels, read_data turns them into categories).
    labels = {str(name).strip(): dict(lab) for name, lab in (meta.variable_value_labels or {}).items()
              if name in frame.columns and lab}
    names = _header_names(list(frame.columns), path, "variable names")
    frame.columns = pd.Index(names, dtype=object)
    return TableRead(frame=frame.reset_index(drop=True),
                     lines=np.arange(len(frame), dtype=np.int64) + FIRST_DATA_LINE, fmt=fmt,
                     value_labels=labels,
                     missing_ranges={str(k).strip(): v for k, v in missing.items()})


# ---------------------------------------------------------------------------------- Parquet
def _read_parquet(path: Path) -> TableRead:
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:
        raise DataReadError(
            f"cannot read {path} as a Parquet file ({_reason(exc)}); check that it was written "
            "completely by a Parquet writer (e.g. DataFrame.to_parquet) and write it again"
        ) from None
    if any(n is not None for n in frame.index.names):
        frame = frame.reset_index()  # a named index (e.g. participant_id) is data: keep it
    names = _header_names(list(frame.columns), path, "column names")
    if "" in names:
        raise DataReadError(f"{path}: a column has an empty name; give every column a name")
    frame.columns = pd.Index(names, dtype=object)
    return TableRead(frame=frame.reset_index(drop=True),
                     lines=np.arange(len(frame), dtype=np.int64) + FIRST_DATA_LINE, fmt="parquet")


# ---------------------------------------------------------------------------------- read_data
def _infer_types(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed columns without a dictionary, following pandas.read_csv's conventions."""
    out = {}
    for name in raw.columns:
        col = raw[name]
        out[name] = _infer_column(col) if col.dtype == object else col
    return pd.DataFrame(out, index=raw.index, columns=raw.columns)


def _infer_column(col: pd.Series) -> pd.Series:
    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind in ("datetime", "datetime64", "date"):
        return pd.to_datetime(col)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return pd.to_numeric(col)
    if kind == "boolean":
        return col.astype(bool) if col.notna().all() else col
    if kind == "empty":
        return pd.Series(np.nan, index=col.index, name=col.name)
    if kind not in ("string", "mixed", "mixed-integer"):
        return col
    # Work on the distinct values: questionnaire columns hold few, so this is fast.
    codes, uniques = pd.factorize(col)  # missing -> code -1
    text = np.array([v.strip() if isinstance(v, str) else v for v in uniques] + [None], dtype=object)
    missing_u = np.array([isinstance(v, str) and v in _NA_STRINGS for v in text[:-1]] + [True])
    missing = missing_u[codes]  # code -1 picks the trailing "missing" slot
    if missing.all():
        return pd.Series(np.nan, index=col.index, name=col.name)
    present = text[:-1][~missing_u[:-1]]
    if kind == "string" and all(v in _TRUE or v in _FALSE for v in present):
        flags = np.array([v in _TRUE for v in text[:-1]] + [False])[codes]
        if not missing.any():
            return pd.Series(flags, index=col.index, name=col.name)
        return pd.Series(np.where(missing, np.nan, flags.astype(object)), index=col.index,
                         name=col.name, dtype=object)
    num = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
    if num.isna().any():
        return col.where(~missing, np.nan)  # some value is not a number: a text column
    values_u = np.full(len(text), np.nan)
    values_u[:-1][~missing_u[:-1]] = num.to_numpy(dtype=float)
    values = values_u[codes]
    if not missing.any() and pd.api.types.is_integer_dtype(num.dtype):
        return pd.Series(values.astype(np.int64), index=col.index, name=col.name)
    return pd.Series(values, index=col.index, name=col.name)


def _problems_summary(path, problems: pd.DataFrame) -> str:
    n = len(problems)
    first = problems.iloc[0]
    parts = []
    for key in ("line", "column", "value"):
        if key in problems.columns and pd.notna(first.get(key)):
            parts.append(f"{key} {first[key]!r}" if key == "value" else f"{key} {first[key]}")
    detail = f" (first: {', '.join(parts)}: {first.get('message', '')})" if parts else ""
    return (f"{path}: {n} value{'s' if n != 1 else ''} did not match the data dictionary and "
            f"{'were' if n != 1 else 'was'} set to missing{detail}; run `evalkit validate` to list "
            "every problem with its line and column")
