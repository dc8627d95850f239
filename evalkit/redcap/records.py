"""What a REDCap record export says about a project: events, forms per event, repeating forms, sites.

A record export ("Export Data", CSV raw, or the API's flat format) has one row per record × event
and one per instance of a repeating instrument, with REDCap's own columns ``redcap_event_name``,
``redcap_repeat_instrument``, ``redcap_repeat_instance`` and ``redcap_data_access_group``, a column
per field (``field___code`` per checkbox option) and ``<form>_complete`` per form.

Examples
--------
>>> wave_name("6_weeks_arm_1", single_arm=True), week_of("6_weeks_arm_1"), week_of("baseline_arm_1")
('6_weeks', 6.0, 0.0)
>>> week_of("3_months_arm_1"), week_of("follow_up_arm_1") is None
(13.0, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RecordScan", "scan_records", "wave_name", "week_of", "EVENT", "REPEAT", "INSTANCE",
           "DAG"]

EVENT, REPEAT, INSTANCE, DAG = ("redcap_event_name", "redcap_repeat_instrument",
                                "redcap_repeat_instance", "redcap_data_access_group")
_ARM = re.compile(r"_arm_(\d+)$")
_START = re.compile(r"^(baseline|base|enrol(ment)?|enroll(ment)?|screening|referral|intake|"
                    r"registration|pre|t0|week_?0)\b")
_WHEN = re.compile(r"(\d+(?:\.\d+)?)_?(weeks?|wks?|w|months?|mths?|m|days?|d)\b")
_PER = {"w": 1.0, "m": 52 / 12, "d": 1 / 7}


def wave_name(event: str, *, single_arm: bool) -> str:
    """The wave an event stands for: its name without ``_arm_1`` when the project has one arm."""
    return _ARM.sub("", event) if single_arm else event


def week_of(event: str) -> float | None:
    """Weeks since baseline that an event's name states (``6_weeks``, ``3_months``), else None."""
    name = _ARM.sub("", str(event).lower())
    if _START.match(name):
        return 0.0
    hit = _WHEN.search(name)
    if hit is None:
        return None
    return round(float(hit.group(1)) * _PER[hit.group(2)[0]], 1)


@dataclass
class RecordScan:
    """The structure of a record export, as far as it can be seen from the data."""

    columns: list
    events: list = field(default_factory=list)          # in the order they first appear
    forms_at: dict = field(default_factory=dict)        # form -> events where it holds data
    repeating: list = field(default_factory=list)       # repeating instruments
    sites: list = field(default_factory=list)           # data access groups
    ranges: dict = field(default_factory=dict)          # numeric column -> (min, max) seen
    numeric_ids: bool = False                           # record ids are plain numbers


def _filled(col: pd.Series) -> np.ndarray:
    return (col.notna() & col.astype(str).str.strip().ne("")).to_numpy(bool)


def scan_records(path, fields) -> RecordScan:
    """Read the export at ``path`` and see which forms hold data at which events."""
    from ..io import read_table

    raw = read_table(path)
    cols = {c.lower(): c for c in raw.columns}
    scan = RecordScan(columns=list(raw.columns))
    if len(raw.columns):
        ids = raw.iloc[:, 0].dropna().astype(str).str.strip()
        scan.numeric_ids = bool(len(ids)) and bool(ids.str.fullmatch(r"\d+").all())
    plain = np.ones(len(raw), bool)
    if REPEAT in cols:
        rep = raw[cols[REPEAT]]
        plain = ~_filled(rep)
        scan.repeating = list(dict.fromkeys(rep[~plain].astype(str).str.strip()))
    if EVENT in cols:
        scan.events = list(dict.fromkeys(raw[cols[EVENT]].dropna().astype(str).str.strip()))
        weeks = [week_of(e) for e in scan.events]
        if all(w is not None for w in weeks):
            # a record without the second event lists the third one first: weeks give the order
            scan.events = [e for _, e in sorted(zip(weeks, scan.events), key=lambda we: we[0])]
    if DAG in cols:
        scan.sites = sorted(set(raw[cols[DAG]].dropna().astype(str).str.strip()) - {""})
    by_form: dict[str, list[str]] = {}
    for f in fields[1:]:     # the record id is on every row: it says nothing about its form
        names = ([c for c in raw.columns if c.lower().startswith(f.name.lower() + "___")]
                 if f.type == "checkbox" else [cols.get(f.name.lower())])
        by_form.setdefault(f.form, []).extend(n for n in names if n is not None)
        col = cols.get(f.name.lower())
        if col is not None and f.type != "checkbox":
            num = pd.to_numeric(raw[col], errors="coerce")
            if num.notna().any() and num.notna().sum() == _filled(raw[col]).sum():
                scan.ranges[f.name] = (float(num.min()), float(num.max()))
    for form, names in by_form.items():
        if not names:
            continue
        # checkbox columns hold 0 on every row of an event, filled or not: only a 1 is data
        held = np.zeros(len(raw), bool)
        for n in names:
            zero = raw[n].astype(str).str.strip().eq("0").to_numpy(bool)
            held |= _filled(raw[n]) & ~(zero if "___" in n else np.zeros(len(raw), bool))
        if EVENT in cols:
            events = raw.loc[held & plain, cols[EVENT]].dropna().astype(str).str.strip()
            scan.forms_at[form] = list(dict.fromkeys(events))
        else:
            scan.forms_at[form] = [""] if (held & plain).any() else []
    return scan
