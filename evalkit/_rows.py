"""One file, several datasets: the rows and columns of a shared file that belong to each dataset.

A REDCap record export holds every form of a project in one file: a row per record × event (the
participant's forms at the first event, the questionnaires at every event) and a row per instance of
a repeating instrument (session logs). The dictionary declares one dataset per table, all naming
the same ``file``, and each says which rows are its own with ``rows: {column: [values]}`` (``''``
is a blank cell). :func:`split_rows` gives every dataset its rows, with their own line numbers, and
lists the rows no dataset takes, so validation reports them instead of losing them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> raw = pd.DataFrame({"record_id": ["1", "1", "1"],
...                     "redcap_repeat_instrument": [None, "sessions", None]})
>>> taken, left = split_rows(raw, {"responses": {"redcap_repeat_instrument": ("",)},
...                                "sessions": {"redcap_repeat_instrument": ("sessions",)}})
>>> {name: rows.tolist() for name, rows in taken.items()}, left.tolist()
({'responses': [0, 2], 'sessions': [1]}, [])
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._headers import _header_key

__all__ = ["split_rows", "selection_columns", "incomplete_forms", "repeated_events"]

#: REDCap's form status codes (the ``<form>_complete`` fields).
FORM_STATUS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}


def _text(col: pd.Series) -> pd.Series:
    """Cells as stripped text, blank for empty or missing (how ``rows`` values are compared)."""
    out = col.astype(object).where(col.notna(), "").map(lambda v: str(v).strip())
    return out.str.replace(r"\.0$", "", regex=True)


def selection_columns(columns, selections: Mapping[str, Mapping[str, tuple]]) -> dict[str, str]:
    """Header of the file -> selection column it is (headers compared as validation compares them)."""
    wanted = {_header_key(c): c for sel in selections.values() for c in sel}
    return {str(c): wanted[_header_key(c)] for c in columns if _header_key(c) in wanted}


def split_rows(raw: pd.DataFrame, selections: Mapping[str, Mapping[str, tuple]]):
    """Positions of the rows of ``raw`` each dataset selects, and of the rows none selects.

    A selection column absent from the file counts as blank on every row (a REDCap project without
    repeating instruments exports no ``redcap_repeat_instrument``). A row may belong to several
    datasets: the first event's row holds the participant's forms and her first questionnaires.
    """
    by_key = {_header_key(c): c for c in raw.columns}
    blank = pd.Series("", index=raw.index, dtype=object)
    taken: dict[str, np.ndarray] = {}
    anyone = np.zeros(len(raw), bool)
    for name, sel in selections.items():
        mask = np.ones(len(raw), bool)
        for column, values in sel.items():
            header = by_key.get(_header_key(column))
            cells = _text(raw[header]) if header is not None else blank
            mask &= cells.isin([str(v) for v in values]).to_numpy(bool)
        taken[name] = np.flatnonzero(mask)
        anyone |= mask
    return taken, np.flatnonzero(~anyone)


def incomplete_forms(raw: pd.DataFrame, columns) -> list[tuple[int, str, str]]:
    """``(row position, column, value)`` of every form REDCap marks Incomplete (status 0).

    Its answers are used as entered (they may be all there is), but the data team should know the
    form was saved unfinished, so each one is reported as a warning.
    """
    out = []
    for col in columns:
        if not str(col).endswith("_complete") or col not in raw.columns:
            continue
        cells = _text(raw[col])
        for pos in np.flatnonzero((cells == "0").to_numpy(bool)):
            out.append((int(pos), str(col), "0"))
    return out


def repeated_events(raw: pd.DataFrame, rows: np.ndarray, id_header, read: set):
    """``(later, first)`` positions: instances after the first of a REDCap repeating event.

    A repeating *event* (not instrument) exports each instance as a row with
    ``redcap_repeat_instance`` filled and ``redcap_repeat_instrument`` blank, so a dataset keyed by
    participant × wave sees one record × event several times. Validation reports the later
    instances as what they are instead of as anonymous duplicate keys. Datasets that read the
    instance column themselves (``read``: their keys include it) are left alone.

    >>> raw = pd.DataFrame({"record_id": ["1", "1", "1"],
    ...                     "redcap_event_name": ["visit_arm_1"] * 3,
    ...                     "redcap_repeat_instance": ["1", "2", "3"]})
    >>> [x.tolist() for x in repeated_events(raw, np.arange(3), "record_id", set())]
    [[1, 2], [0, 0]]
    """
    by_key = {_header_key(c): c for c in raw.columns}
    inst = by_key.get(_header_key("redcap_repeat_instance"))
    event = by_key.get(_header_key("redcap_event_name"))
    instrument = by_key.get(_header_key("redcap_repeat_instrument"))
    none = np.array([], dtype=int)
    if inst is None or id_header is None or str(inst) in read or not len(rows):
        return none, none
    sub = raw.iloc[rows]
    repeating = _text(sub[inst]).ne("")
    if instrument is not None:
        repeating &= _text(sub[instrument]).eq("")
    if not repeating.any():
        return none, none
    keys = [id_header] + ([event] if event is not None else [])
    frame = pd.DataFrame({str(k): _text(sub[k]).to_numpy() for k in keys})
    frame["pos"] = rows
    frame = frame[repeating.to_numpy()]
    first = frame.groupby([str(k) for k in keys], sort=False)["pos"].transform("first")
    later = (frame["pos"] != first).to_numpy()
    return frame["pos"].to_numpy()[later], first.to_numpy()[later]
