"""Read data files (CSV, Excel, SPSS, Stata, Parquet) into DataFrames, keeping values as written.

:func:`read_table` is the reader that validation builds on. It returns the values as the file holds
them, so that a validator can report every problem with the file, line and column where it occurs:

========  ==================  ============================================================
format    extensions          what comes back
========  ==================  ============================================================
csv       .csv .tsv .txt      every value as text, exactly as written (``""``, ``"NA"``,
                              ``"-9"`` and ``" 3 "`` all stay text); delimiter (comma,
                              semicolon or tab) sniffed from the first 64 KB; UTF-8 (with or
                              without BOM), UTF-16 with BOM, else Windows-1252
xlsx      .xlsx               cell values as Python objects (``int``, ``float``, ``str``,
                              ``bool``, ``datetime.datetime`` for dates); empty cells NaN;
                              Excel error cells (``#N/A``) NaN; text cells such as ``"NA"``
                              stay text
sav       .sav                numbers float64; dates datetime64; labelled columns Categorical
                              of the value labels; system-missing NaN; user-missing values
                              kept as their codes
dta       .dta                as .sav; Stata's missing values (``.`` and ``.a`` – ``.z``) NaN
parquet   .parquet            the stored dtypes (a named stored index becomes a column)
========  ==================  ============================================================

Every frame has a fresh ``RangeIndex`` and string column names with surrounding whitespace removed.
Row ``i`` comes from line ``i + FIRST_DATA_LINE`` of the file (the header is line 1), for every
format; :func:`line_numbers` gives these numbers. Anything that cannot be read raises
:class:`~evalkit.errors.DataReadError` with the file name, the reason and what to do about it.

:func:`read_data` is for users who want typed columns: with a data dictionary it converts each column
to its declared type; without one it infers types much as :func:`pandas.read_csv` would.

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
import math
import warnings
from collections.abc import Hashable
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .errors import DataQualityWarning, DataReadError, SpecificationError

__all__ = [
    "SUPPORTED_FORMATS",
    "FIRST_DATA_LINE",
    "table_format",
    "read_table",
    "read_data",
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

#: File line of the first data row (the header is line 1): row ``i`` is line ``i + FIRST_DATA_LINE``.
FIRST_DATA_LINE = 2

_SNIFF_BYTES = 64 * 1024
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
    can be reported with its file, line and column. Use :func:`read_data` for typed columns.

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
        With a fresh ``RangeIndex`` (row ``i`` is line ``i + 2`` of the file, header = line 1; see
        :func:`line_numbers`) and the header's column names as ``str``, surrounding whitespace
        removed. What the values are depends on the format:

        - **CSV/TSV/TXT**: every value is a ``str`` exactly as written, surrounding whitespace
          included (``" 3 "`` stays ``" 3 "``; ``""``, ``"NA"`` and ``"-9"`` stay text), so the data
          dictionary decides what is missing. A short row is padded with ``""``. Blank lines inside
          the data are kept as rows of ``""`` (so line numbers stay right); blank lines at the end
          are dropped. Line numbers count records: a quoted value spanning several lines shifts
          the physical lines of the rows after it.
        - **XLSX**: cell values as Python objects (``int``, ``float``, ``str``, ``bool``,
          ``datetime.datetime`` for dates) in ``object`` columns; empty cells and Excel error cells
          are NaN; text cells are kept as written. Empty rows at the end are dropped.
        - **SAV/DTA**: numeric columns ``float64``, date columns ``datetime64[ns]``, text columns
          ``str``. Columns with value labels become ``Categorical`` whose categories are the labels
          (in code order); a value without a label, and an SPSS user-missing value, appears as its
          code written as text (``"-9"``, ``"3"``), so the dictionary's missing codes still apply.
          In unlabelled numeric columns SPSS user-missing values stay numeric codes (``-9.0``).
          System-missing values, Stata's ``.`` and ``.a`` – ``.z``, and empty strings in labelled
          text columns are NaN.
        - **Parquet**: the stored column dtypes. A named stored index becomes a column.

    Raises
    ------
    DataReadError
        If the file is missing, has an unsupported extension, is empty (no header), has duplicate
        or missing column names, or cannot be parsed; the message says which file, why, and what
        to do.
    SpecificationError
        If ``sheet`` is given for a file that is not ``.xlsx``.

    See Also
    --------
    read_data : typed columns, optionally converted with a data dictionary.
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
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "sav": _read_spss_stata,
              "dta": _read_spss_stata, "parquet": _read_parquet}[fmt]
    if fmt == "xlsx":
        frame = reader(path, sheet)
    elif fmt in ("sav", "dta"):
        frame = reader(path, fmt)
    else:
        frame = reader(path)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def line_numbers(frame: pd.DataFrame) -> np.ndarray:
    """The file line of every row of a frame returned by :func:`read_table` (header = line 1).

    Row ``i`` (by position) is line ``i + FIRST_DATA_LINE``, i.e. ``i + 2``, for every format.

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
    if pd.api.types.is_integer_dtype(index.dtype):
        return np.asarray(index, dtype=np.int64) + FIRST_DATA_LINE
    return np.arange(len(frame), dtype=np.int64) + FIRST_DATA_LINE


def read_data(path: str | PathLike, *, dictionary=None, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a data file into typed columns.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`read_table` reads.
    dictionary : evalkit.DataDictionary, optional
        If given, each column is converted to the type the dictionary declares (missing codes
        become NaN, categories get their declared levels) by
        :func:`evalkit.validation.coerce_table`. Values that cannot be converted become missing and a
        :class:`~evalkit.errors.DataQualityWarning` says how many; run ``evalkit validate`` (or
        :func:`evalkit.validate`) to see each one with its line and column.
        If omitted, types are inferred much as :func:`pandas.read_csv` does: a text column whose
        every non-missing value is a number becomes numeric (``int64`` if whole numbers with no
        gaps, else ``float64``), ``True``/``False`` text becomes boolean, Excel date cells become
        ``datetime64``, and empty text and ``"NA"``-like strings (``NA``, ``N/A``, ``null`` …)
        become NaN. Missing codes such as ``-9`` are *not* recognised without a dictionary, and
        dates written as text stay text.
    sheet : str or int, optional
        Excel only: the worksheet, by name or 0-based position (default: the first).

    Returns
    -------
    pandas.DataFrame
        With a fresh ``RangeIndex`` in file order (row ``i`` is file line ``i + 2``).

    Raises
    ------
    DataReadError
        As :func:`read_table`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from evalkit.io import read_data
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
    raw = read_table(path, sheet=sheet)
    if dictionary is None:
        return _infer_types(raw)
    from .validation import coerce_table  # lazy: validation is heavier than reading

    typed, problems = coerce_table(raw, dictionary=dictionary, file=str(path))
    if problems is not None and len(problems):
        warnings.warn(_problems_summary(path, problems), DataQualityWarning, stacklevel=2)
    return typed


# ---------------------------------------------------------------------------------- helpers
def _reason(exc: BaseException) -> str:
    """A library exception as one short line: ``TypeName: message``."""
    text = " ".join(str(exc).split()) or "no details given"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def _header_names(values, path: Path, where: str) -> list[str]:
    """Header cells -> stripped str names; raise on duplicates (names listed with positions)."""
    names = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            names.append("")
        elif isinstance(v, float) and v.is_integer():
            names.append(str(int(v)))
        else:
            names.append(str(v).strip())
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        if name:
            seen.setdefault(name, []).append(i)
    dups = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dups:
        listed = "; ".join(f"{n!r} (columns {', '.join(map(str, pos))})" for n, pos in dups.items())
        raise DataReadError(
            f"{path}: duplicate column names in the header ({where}): {listed}; "
            "rename them so that every column name is unique"
        )
    return names


def _finish_columns(frame: pd.DataFrame, names: list[str], path: Path, where: str,
                    is_empty) -> pd.DataFrame:
    """Give ``frame`` the header ``names``; drop unnamed empty columns, refuse unnamed full ones."""
    frame.columns = pd.RangeIndex(frame.shape[1])
    keep = []
    for j, name in enumerate(names):
        if name:
            keep.append(j)
        elif not is_empty(frame[j]).all():
            raise DataReadError(
                f"{path}: column {j + 1} has values but no name in the header ({where}); "
                "type a column name there or delete the column"
            )
    extra = range(len(names), frame.shape[1])  # data wider than the header (xlsx only)
    for j in extra:
        if not is_empty(frame[j]).all():
            raise DataReadError(
                f"{path}: column {j + 1} has values but no name in the header ({where}); "
                "type a column name there or delete the column"
            )
    frame = frame[keep] if len(keep) != frame.shape[1] else frame
    frame.columns = pd.Index([names[j] for j in keep], dtype=object)
    return frame


def _drop_trailing_empty(frame: pd.DataFrame, is_empty) -> pd.DataFrame:
    """Remove rows at the end in which every cell is empty (they shift no line numbers)."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return frame
    tail = min(frame.shape[0], 64)
    while True:
        block = frame.iloc[-tail:]
        empty_rows = np.column_stack([is_empty(block[c]).to_numpy() for c in block.columns]).all(axis=1)
        n_trailing = len(empty_rows) - (np.flatnonzero(~empty_rows)[-1] + 1 if (~empty_rows).any() else 0)
        if n_trailing < tail or tail == frame.shape[0]:
            break
        tail = min(frame.shape[0], tail * 8)
    return frame.iloc[: frame.shape[0] - n_trailing] if n_trailing else frame


def _text_is_empty(col: pd.Series) -> pd.Series:
    return col.isna() | (col == "")


def _cell_is_empty(col: pd.Series) -> pd.Series:
    return col.isna()


# ---------------------------------------------------------------------------------- CSV
def _sniff_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


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


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
            complete = not fh.read(1)
    except OSError as exc:
        raise DataReadError(f"cannot read {path}: {exc.strerror or _reason(exc)}; "
                            "check that the file is readable") from None
    encoding = _sniff_encoding(head)
    if encoding != "utf-16" and b"\x00" in head:
        raise DataReadError(
            f"cannot read {path}: it contains NUL bytes, so it is a binary file, not delimited text; "
            "export the data as CSV (or give the file its real extension)"
        )
    if encoding == "utf-16":
        sample = head.decode("utf-16", errors="ignore")
    else:
        try:
            sample = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
        except UnicodeDecodeError:
            raise DataReadError(
                f"cannot read {path}: it is neither UTF-8 nor Windows-1252 text (is it a binary file "
                "with a .csv/.txt name?); save it as 'CSV UTF-8' from the program that made it"
            ) from None
    if not sample.lstrip("\ufeff").strip():
        raise DataReadError(f"cannot read {path}: the file is empty (no header line); "
                            "the first line must hold the column names")
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    delimiter = _sniff_delimiter(sample.lstrip("\ufeff"), complete, default)

    frame = None
    for enc in ([encoding, "cp1252"] if encoding == "utf-8-sig" else [encoding]):
        try:
            frame = pd.read_csv(path, sep=delimiter, header=None, dtype=str, keep_default_na=False,
                                na_filter=False, skip_blank_lines=False, engine="c", encoding=enc,
                                quotechar='"', doublequote=True)
            break
        except UnicodeDecodeError:
            continue  # UTF-8 in the first 64 KB, not later: Windows-1252 is the usual culprit
        except pd.errors.EmptyDataError:
            raise DataReadError(f"cannot read {path}: the file is empty (no header line); "
                                "the first line must hold the column names") from None
        except Exception as exc:  # the parser's reason, e.g. "Expected 3 fields in line 5, saw 4"
            raise DataReadError(
                f"cannot parse {path} as {_DELIMITER_NAMES[delimiter]}-delimited text "
                f"({_reason(exc)}); check that quotes are balanced and each line has as many "
                "fields as the header"
            ) from None
    if frame is None:
        raise DataReadError(
            f"cannot read {path}: it is neither UTF-8 nor Windows-1252 text; "
            "save it as 'CSV UTF-8' from the program that made it"
        )
    names = _header_names(frame.iloc[0].tolist(), path, "line 1")
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0].lstrip("\ufeff").strip()
    body = frame.iloc[1:]
    body = _drop_trailing_empty(body, _text_is_empty)
    body = _finish_columns(body, names, path, "line 1", _text_is_empty)
    return body.reset_index(drop=True)


# ---------------------------------------------------------------------------------- Excel
def _read_xlsx(path: Path, sheet: str | int | None) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:
        raise DataReadError(
            f"cannot read {path} as an Excel workbook ({_reason(exc)}); check that it is a real "
            ".xlsx file (not a renamed .xls or CSV, not password-protected) and that it opens in Excel"
        ) from None
    with book:
        names = list(book.sheet_names)
        listed = ", ".join(repr(s) for s in names)
        if sheet is None:
            chosen = names[0] if names else None
        elif isinstance(sheet, bool) or not isinstance(sheet, (str, int)):
            raise SpecificationError(f"sheet must be a sheet name or a 0-based position, got "
                                     f"{sheet!r}; {path} has sheets {listed}")
        elif isinstance(sheet, int):
            if not -len(names) <= sheet < len(names):
                raise DataReadError(f"{path} has no sheet at position {sheet} (positions start at 0); "
                                    f"its {len(names)} sheets are {listed}")
            chosen = names[sheet]
        elif sheet in names:
            chosen = sheet
        else:
            raise DataReadError(f"{path} has no sheet named {sheet!r}; its sheets are {listed}; "
                                "pass one of these as sheet=")
        where = f"sheet {chosen!r}, row 1"
        try:
            frame = book.parse(chosen, header=None, dtype=object, keep_default_na=False,
                               na_values=[""])
        except Exception as exc:
            raise DataReadError(f"cannot read sheet {chosen!r} of {path} ({_reason(exc)}); "
                                "check that the sheet opens in Excel and re-save the workbook") from None
    if frame.shape[0] == 0:
        raise DataReadError(f"{path}: sheet {chosen!r} is empty (no header row); "
                            "put the column names in row 1 or choose another sheet with sheet=")
    header = _header_names(frame.iloc[0].tolist(), path, where)
    body = _drop_trailing_empty(frame.iloc[1:], _cell_is_empty)
    body = _finish_columns(body, header, path, where, _cell_is_empty)
    return body.reset_index(drop=True)


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


def _read_spss_stata(path: Path, fmt: str) -> pd.DataFrame:
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
    for name, labels in (meta.variable_value_labels or {}).items():
        if name in frame.columns and labels:
            frame[name] = _apply_labels(frame[name], labels, missing.get(name, []))
    names = _header_names(list(frame.columns), path, "variable names")
    frame.columns = pd.Index(names, dtype=object)
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------- Parquet
def _read_parquet(path: Path) -> pd.DataFrame:
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
    return frame.reset_index(drop=True)


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
