"""What must never be published: participant identifiers and restricted columns.

:func:`find_identifiers` checks a text, file or folder for participant identifiers;
:func:`published_identifiers` is the auditor's scan of one published file;
:func:`restricted_columns` lists, from a data dictionary, the columns (identifiers, dates, free
text, safeguarding flags) that no published table may contain.

Purely numeric identifiers (REDCap numbers records 1, 2, 3 …) cannot be told apart from the
counts, weeks and scores of a report: matched as tokens, every report of such a project would
"leak" record 12 the moment it counts 12 mothers. What a leak of an identifier would publish is a
row about one person; so :func:`published_identifiers` looks for a numeric identifier only where
it would name someone, and the structure of the report guards the rest:

* a numeric identifier is found when it follows a word that names an identifier (``record 12``,
  ``participant_id=12``, ``ID: 12``), anywhere in a file, and in a published table when it is a
  cell of a column whose header names an identifier (``record_id``, ``participant``, ``pid``);
* a row-level listing cannot reach a report unnoticed: identifier, date and free-text columns are
  refused in every published table (:func:`restricted_columns`), and the auditor flags every
  published count below the threshold and every estimate for a group smaller than its minimum,
  which is what a row about one mother is.

Identifiers with any letter or sign (``MT-0001``) are still matched as whole tokens everywhere.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from ...errors import SpecificationError
from ..format import is_missing as _missing

__all__ = ["find_identifiers", "published_identifiers", "restricted_columns",
           "ALWAYS_RESTRICTED"]

#: Column names refused in every table, whatever the dictionary says.
ALWAYS_RESTRICTED = ("participant_id", "date_of_birth", "dob")
# a token is a run of letters and digits: "_" and "-" separate, so "P0001_report.png" contains P0001
_TOKEN = re.compile(r"[^\W_]+")
# words that name an identifier; a number right after one (a few separators between) names someone
_ID_WORDS = r"(?:id|ids|record|participant|pid)"
_AFTER_ID_WORD = re.compile(r"(?<![^\W_])" + _ID_WORDS
                            + r"(?![^\W_])[\s_:=#'\"-]{0,3}(\d+)(?![^\W_])", re.IGNORECASE)
_ID_HEADER = re.compile(r"(?<![^\W_])" + _ID_WORDS + r"(?![^\W_])", re.IGNORECASE)


def _read_text(text_or_path) -> str:
    if isinstance(text_or_path, bytes):
        return text_or_path.decode("utf-8", errors="replace")
    if isinstance(text_or_path, os.PathLike):
        p = Path(text_or_path)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            return "\n".join(f.read_bytes().decode("utf-8", errors="replace") for f in files)
        if not p.exists():
            raise SpecificationError(f"find_identifiers: {str(p)!r} does not exist")
        return p.read_bytes().decode("utf-8", errors="replace")
    if isinstance(text_or_path, str):
        return text_or_path
    raise SpecificationError("find_identifiers: give the text (str), or a pathlib.Path to a file or a "
                             f"folder, got {type(text_or_path).__name__}")


def find_identifiers(text_or_path, identifiers, *, case_sensitive: bool = False) -> list[str]:
    """Identifiers that occur as whole tokens in a text, a file or every file of a folder.

    A token is a run of letters and digits, so ``P0001`` is found in ``id=P0001,`` or
    ``P0001_report.png`` but not inside ``P00011``. Identifiers that contain other characters
    (``P-0001``) are matched as whole strings with letters or digits on neither side. Matching
    ignores case unless ``case_sensitive``. The text is split into a set of tokens once, so 100 000
    identifiers against a few megabytes of HTML take well under a second. Purely numeric identifiers
    are matched as tokens too, so they also match unrelated numbers; to check a published file, use
    :func:`published_identifiers`, which looks for them only where they would name someone.

    Parameters
    ----------
    text_or_path : str, bytes or os.PathLike
        A ``str`` is the text itself; a path is read (a folder: all files below it).
    identifiers : iterable
        Participant identifiers (converted with ``str``; missing values skipped).
    case_sensitive : bool

    Returns
    -------
    list of str
        The identifiers found, sorted.

    Examples
    --------
    >>> from evalkit.report.disclosure import find_identifiers
    >>> find_identifiers("<td>P0001</td><img src='P0003_fig.png'> P00011", ["P0001", "P0002", "P0003"])
    ['P0001', 'P0003']
    """
    text = _read_text(text_or_path)
    fold = (lambda s: s) if case_sensitive else str.casefold
    body = fold(text)
    tokens = set(_TOKEN.findall(body))
    found = set()
    for ident in identifiers:
        if _missing(ident):
            continue
        s = str(ident)
        key = fold(s)
        if not key:
            continue
        if _TOKEN.fullmatch(key):
            if key in tokens:
                found.add(s)
            continue
        parts = _TOKEN.findall(key)
        if parts and parts[0] not in tokens:
            continue
        if re.search(r"(?<![^\W_])" + re.escape(key) + r"(?![^\W_])", body):
            found.add(s)
    return sorted(found)


def _numeric(ident: str) -> bool:
    return ident.isascii() and ident.isdigit()


def published_identifiers(text: str, identifiers, *, table: bool = False) -> list[str]:
    """Identifiers a published file gives away (the auditor's scan; see the module notes).

    Identifiers with a letter or sign are found as whole tokens (:func:`find_identifiers`).
    Purely numeric ones are found only where they name someone: right after a word naming an
    identifier (``record 12``, ``participant_id=12``), or, when ``table`` is true (``text`` is a
    CSV table), as a cell of a column whose header names an identifier. A count, week or score
    that happens to equal a record number is not an identifier.

    Parameters
    ----------
    text : str
        The file's text.
    identifiers : iterable
        Participant identifiers (converted with ``str``; missing values skipped).
    table : bool, default False
        ``text`` is a published CSV table.

    Returns
    -------
    list of str
        The identifiers found, sorted.

    Examples
    --------
    >>> from evalkit.report.disclosure import published_identifiers
    >>> ids = ["3", "12", "MT-0007"]
    >>> published_identifiers("<td>12</td><td>3</td> mothers at week 12", ids)
    []
    >>> published_identifiers("Record ID: 12 said it helped; so did MT-0007", ids)
    ['12', 'MT-0007']
    >>> published_identifiers("site,n\\nnorth,12\\n", ids, table=True)
    []
    >>> published_identifiers("record_id,n\\n3,12\\n", ids, table=True)
    ['3']
    """
    ids = {str(i).strip() for i in identifiers if not _missing(i)} - {""}
    numeric = {i for i in ids if _numeric(i)}
    found = set(find_identifiers(text, ids - numeric)) if ids - numeric else set()
    if not numeric:
        return sorted(found)
    # REDCap exports 007 as 7: compare numbers by value
    by_value = {i.lstrip("0") or "0": i for i in numeric}
    for m in _AFTER_ID_WORD.finditer(text):
        hit = by_value.get(m.group(1).lstrip("0") or "0")
        if hit is not None:
            found.add(hit)
    if table:
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0] if rows else []
        for j, name in enumerate(header):
            if _ID_HEADER.search(name):
                for r in rows[1:]:
                    hit = by_value.get(r[j].strip().lstrip("0") or "0") if j < len(r) else None
                    if hit is not None and r[j].strip():
                        found.add(hit)
    return sorted(found)


def restricted_columns(dictionary) -> list[str]:
    """Columns that must never appear in a published table, from a data dictionary.

    The participant identifier and every variable with role ``id``, every variable marked
    ``identifying: true``, every date and free-text (``string``) variable, the safeguarding flag
    columns of every registered instrument (e.g. ``epds_self_harm``), and
    :data:`ALWAYS_RESTRICTED`. Pass the result as ``DisclosureControl(restricted=...)``.

    Examples
    --------
    >>> import evalkit as ek
    >>> from evalkit.report.disclosure import restricted_columns
    >>> cols = restricted_columns(ek.DataDictionary.from_yaml(ek.example_dictionary_path()))
    >>> [c for c in ["participant_id", "assessed_on", "volunteer_id", "epds_self_harm", "site"]
    ...  if c in cols]
    ['participant_id', 'assessed_on', 'volunteer_id', 'epds_self_harm']
    """
    from ...instruments import available, get

    names = set(ALWAYS_RESTRICTED)
    names.add(dictionary.id_column)
    for v in dictionary.variables():
        if v.role == "id" or v.identifying or v.type in ("date", "string"):
            names.add(v.name)
    for inst in available():
        for fl in get(inst).flags:
            if fl.safeguarding:
                names.add(fl.id)
    return sorted(names)
