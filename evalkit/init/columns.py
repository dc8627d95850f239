"""What a user's columns hold: type, range, levels, missing codes, and what their names suggest.

Each profile says what was seen (``n`` values, the range, the levels) so that every guess drawn from
it can show its evidence in the drafted dictionary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._headers import _header_key

__all__ = ["Profile", "profile_table", "variable_name", "MISSING_CANDIDATES"]

#: Negative codes forms use for "no answer"; seen in a column of otherwise non-negative values they
#: are guessed to be missing codes (and marked for checking).
MISSING_CANDIDATES = (-9, -8, -99, -98, -999, -1)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d")
_MAX_LEVELS = 12
_IDENTIFYING = re.compile(r"(^|_)(name|surname|forename|postcode|post_code|address|phone|mobile|"
                          r"email|dob|birth|nhs|nhs_number)($|_)")


def variable_name(header: str) -> str:
    """A valid evalkit variable name for a header (``"Client ID"`` -> ``client_id``)."""
    name = re.sub(r"[^a-z0-9_]+", "_", _header_key(header)).strip("_") or "column"
    return name if re.match(r"^[a-z_]", name) else f"x_{name}"


@dataclass
class Profile:
    """One column: its header, guessed type and what the guess rests on."""

    header: str
    name: str
    type: str                      # integer, number, boolean, date, category, string
    n: int                         # non-missing values
    unique: bool                   # no value twice
    range: tuple | None = None     # numbers: (min, max) without the missing codes
    levels: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)   # level -> label, where the source declares them
    missing: list = field(default_factory=list)
    date_format: str | None = None
    identifying: bool = False

    @property
    def evidence(self) -> str:
        if self.type in ("integer", "number") and self.range is not None:
            seen = f"{self.n} numbers from {self.range[0]:g} to {self.range[1]:g}"
        elif self.type == "category":
            seen = f"{len(self.levels)} distinct values ({', '.join(map(str, self.levels[:6]))}" \
                   f"{' …' if len(self.levels) > 6 else ''})"
        elif self.type == "date":
            seen = f"{self.n} dates ({self.date_format.replace('%', '')})"
        else:
            seen = f"{self.n} {self.type} values"
        if self.missing:
            seen += f"; {', '.join(map(str, self.missing))} read as missing codes"
        return seen


def _as_date(text: pd.Series) -> str | None:
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().all():
            return fmt
    return None


def _profile(header: str, col: pd.Series) -> Profile:
    name = variable_name(header)
    present = col.dropna()
    if present.dtype == object:
        present = present[present.astype(str).str.strip() != ""]
    n = len(present)
    unique = bool(n) and not present.astype(str).duplicated().any()
    ident = bool(_IDENTIFYING.search(name))
    base = dict(header=header, name=name, n=n, unique=unique, identifying=ident)
    if n == 0:
        return Profile(type="string", **base)
    if pd.api.types.is_bool_dtype(col.dtype) or set(present.astype(str).str.lower()) <= {
            "true", "false", "yes", "no"}:
        return Profile(type="boolean", **base)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return Profile(type="date", date_format="%Y-%m-%d", **base)
    if pd.api.types.is_numeric_dtype(col.dtype):
        x = present.astype(float)
        missing = sorted({int(v) for v in x.unique() if v in MISSING_CANDIDATES and (x >= 0).any()
                          and v < 0}, reverse=True)
        valid = x[~x.isin(missing)]
        whole = bool(np.all(np.isclose(valid, np.round(valid))))
        lo, hi = (float(valid.min()), float(valid.max())) if len(valid) else (None, None)
        return Profile(type="integer" if whole else "number", missing=missing,
                       range=(lo, hi) if lo is not None else None, **base)
    text = present.astype(str).str.strip()
    fmt = _as_date(text)
    if fmt is not None:
        return Profile(type="date", date_format=fmt, **base)
    levels = sorted(text.unique().tolist())
    if len(levels) <= _MAX_LEVELS and len(levels) <= max(2, n // 2) and not ident:
        return Profile(type="category", levels=levels, **base)
    return Profile(type="string", **base)


def profile_table(frame: pd.DataFrame) -> dict[str, Profile]:
    """A profile per column of ``frame`` (values as :func:`evalkit.read_data` infers them)."""
    return {str(c): _profile(str(c), frame[c]) for c in frame.columns}
