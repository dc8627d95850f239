"""What must never be published: participant identifiers and restricted columns.

:func:`find_identifiers` checks a text, file or folder for participant identifiers;
:func:`restricted_columns` lists, from a data dictionary, the columns (identifiers, dates, free
text, safeguarding flags) that no published table may contain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import SpecificationError
from ..format import is_missing as _missing

__all__ = ["find_identifiers", "restricted_columns", "ALWAYS_RESTRICTED"]

#: Column names refused in every table, whatever the dictionary says.
ALWAYS_RESTRICTED = ("participant_id", "date_of_birth", "dob")
# a token is a run of letters and digits: "_" and "-" separate, so "P0001_report.png" contains P0001
_TOKEN = re.compile(r"[^\W_]+")


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
    will also match unrelated numbers; prefer identifiers with a prefix.

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
