"""Draft a data dictionary from a user's files: keys, waves, dates, item sets, contexts.

Guesses, each with its evidence (``# check``):

- the **id**: a column in every file, unique in one of them (that file is the participants' file),
  preferably named like an identifier;
- the **wave**: a column of the other file with a few values that, with the id, identify its rows;
- the **date**: a date column of that file; waves are ordered, and their weeks and visit windows
  set, from the weeks between each participant's dates;
- **item sets**: by name and range (:mod:`evalkit.instruments.recognise`);
- **contexts**: the participants' categories, yes/no and numbers; names like ``postcode`` are
  identifying.

What it cannot decide is a question in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._draft import Draft
from .._headers import _header_key
from ..instruments.recognise import recognise
from .columns import Profile, profile_table

__all__ = ["DraftedData", "draft_dictionary"]

_ID_NAME = re.compile(r"(^|_)(id|ids|participant|client|person|record|subject|mother|case|pid|"
                      r"ref|reference|number|no)($|_)")
_WAVE_NAME = re.compile(r"(wave|visit|time_?point|timepoint|occasion|event|assessment|stage|"
                        r"period|round|time)")
_FIRST = re.compile(r"^(baseline|base|pre|intake|referral|enrol|start|t0|time_?0|week_?0)")
_LAST = re.compile(r"(follow|fu\b|post|end|exit|final)")


@dataclass
class DraftedData:
    """The drafted dictionary and what the plan draft needs to know about it."""

    draft: Draft
    files: dict                      # dataset name -> path
    people: str | None = None        # the participants' dataset
    responses: str | None = None     # the waves' dataset
    instruments: list = field(default_factory=list)
    contexts: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)   # variable name -> Profile (participants' file)
    waves: list = field(default_factory=list)
    unanswered_items: list = field(default_factory=list)


def _dataset_name(path: Path, taken: set) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_") or "data"
    while name in taken:
        name += "_2"
    return name


def _spec(p: Profile) -> dict:
    spec: dict = {"type": p.type}
    if p.type in ("integer", "number") and p.range is not None:
        lo, hi = p.range
        spec["range"] = [int(lo) if float(lo).is_integer() else lo,
                         int(hi) if float(hi).is_integer() else hi]
    if p.type == "category":
        spec["levels"] = list(p.levels)
    if p.type == "date" and p.date_format != "%Y-%m-%d":
        spec["format"] = p.date_format
    if p.missing:
        spec["missing_codes"] = list(p.missing)
    if p.header != p.name and _header_key(p.header) != p.name:
        spec["aliases"] = [p.header]
    return spec


def _find_id(profiles: dict[str, dict[str, Profile]]) -> tuple[str | None, list[str]]:
    """The identifier's variable name, and the evidence."""
    shared = set.intersection(*(set(p) for p in profiles.values())) if profiles else set()
    candidates = []
    for name in shared:
        unique_in = [ds for ds, p in profiles.items() if p[name].unique]
        named = bool(_ID_NAME.search(name))
        if unique_in or len(profiles) == 1:
            candidates.append((len(unique_in) > 0, named, name, unique_in))
    if not candidates:
        return None, []
    candidates.sort(reverse=True)
    best = candidates[0]
    return best[2], [c[2] for c in candidates[1:] if c[1]]


def _wave_weeks(frame: pd.DataFrame, id_col: str, wave_col: str, date_col: str | None,
                levels: list) -> tuple[list, dict, str]:
    """Waves in time order with ``{week, window}``, and how the order was found."""
    if date_col is not None and frame[date_col].notna().any():
        dates = frame[date_col]
        first = frame.groupby(id_col)[date_col].transform("min")
        weeks = (dates - first).dt.days / 7.0
        by = weeks.groupby(frame[wave_col].astype(str)).agg(["median", "min", "max"])
        order = by.sort_values("median").index.tolist()
        out = {}
        for i, w in enumerate(order):
            med = 0 if i == 0 else int(round(by.loc[w, "median"]))
            lo = 0 if i == 0 else int(np.floor(by.loc[w, "min"]))
            hi = 0 if i == 0 else int(np.ceil(by.loc[w, "max"]))
            out[w] = {"week": med, "window": [min(lo, med), max(hi, med)]}
        return order, out, "the median weeks since each participant's first date"
    key = lambda w: (0 if _FIRST.match(w.lower()) else 2 if _LAST.search(w.lower()) else 1,  # noqa: E731
                     [int(d) for d in re.findall(r"\d+", w)] or [0], w)
    order = sorted(levels, key=key)
    return order, {w: {"week": i, "window": [i, i]} for i, w in enumerate(order)}, "their names"


def draft_dictionary(tables: dict[str, pd.DataFrame], paths: dict[str, Path]) -> DraftedData:
    """Draft the dictionary for ``tables`` (dataset name -> frame read by ``read_data``)."""
    profiles = {ds: profile_table(t) for ds, t in tables.items()}
    by_name = {ds: {p.name: p for p in prof.values()} for ds, prof in profiles.items()}
    draft = Draft({"version": 1, "study": "My programme"})
    draft.ask(("study",), "what is the programme or study called? (shown in every report)")
    out = DraftedData(draft=draft, files=dict(paths))
    id_name, others = _find_id(by_name)
    if id_name is None:
        draft.ask(("datasets",), "no column is in every file and unique in one of them: which "
                  "column identifies the participant? (mark it role: id in every dataset)")
    people = next((ds for ds, p in by_name.items() if id_name and p[id_name].unique), None)
    out.people = people
    if id_name is not None and people is None:
        draft.ask(("datasets",), f"no file has one row per participant ({id_name!r} repeats in "
                  "every file): reports need one (her characteristics and support); add it, "
                  "with the same identifier")

    # the wave column: few values which, with the id, identify the rows of a file
    wave, wave_ds = None, None
    for ds, prof in by_name.items():
        if ds == people or id_name is None:
            continue
        frame = tables[ds].rename(columns={p.header: p.name for p in profiles[ds].values()})
        for name, p in sorted(prof.items(), key=lambda kv: not _WAVE_NAME.search(kv[0])):
            if p.type == "category" and 2 <= len(p.levels) <= 8 and \
                    not frame.duplicated([id_name, name]).any():
                wave, wave_ds = name, ds
                break
        if wave:
            break
    out.responses = wave_ds

    all_levels = {}
    waves: dict = {}
    if wave is not None:
        frame = tables[wave_ds].rename(columns={p.header: p.name for p in profiles[wave_ds].values()})
        dates = [n for n, p in by_name[wave_ds].items() if p.type == "date"]
        date = next((d for d in dates if re.search(r"assess|complet|date|visit|survey", d)),
                    dates[0] if dates else None)
        if date is not None:
            fmt = by_name[wave_ds][date].date_format
            frame[date] = pd.to_datetime(frame[date], format=fmt if frame[date].dtype == object
                                         else None, errors="coerce")
        order, waves, how = _wave_weeks(frame, id_name, wave, date, by_name[wave_ds][wave].levels)
        out.waves = order
        all_levels = order
        for w in order:
            draft.check(("waves", w), f"order and week from {how}; window: the weeks seen")
        if date is None:
            draft.ask(("waves",), "the waves' file has no date column, so their order and weeks "
                      "come from their names: give each wave's week since baseline")
        if len(dates) > 1:
            draft.ask(("datasets", wave_ds, "variables", date), f"several date columns "
                      f"({', '.join(dates)}): is {date!r} the date the questionnaire was completed?")
    else:
        waves = {"baseline": {"week": 0, "window": [0, 0]}}
        draft.ask(("waves",), "no column looks like the wave (a few values that, with the id, "
                  "identify each row): name it (role: wave) and list the waves here")
        date = None
    draft.data["waves"] = waves

    datasets: dict = {}
    draft.data["datasets"] = datasets
    for ds, prof in by_name.items():
        keys = [id_name] if ds == people else [id_name, wave] if ds == wave_ds else [id_name]
        variables: dict = {}
        rename = {id_name: "participant_id", wave: "wave"}
        entry = {"file": paths[ds].name, "keys": [rename.get(k, k) for k in keys if k],
                 "variables": variables}
        datasets[ds] = entry
        ranges = {n: p.range for n, p in prof.items() if p.type == "integer"}
        found = recognise(ranges) if ds == wave_ds else []
        taken = set()
        sets = []
        for r in found:
            if not r.confident:
                for q in r.questions:
                    draft.ask(("datasets", ds, "variables", next(iter(r.columns.values()))), q)
                continue
            taken |= set(r.columns.values())
            item_set = {"instrument": r.instrument, "items": len(r.columns),
                        "range": [int(r.item_range[0]), int(r.item_range[1])], "coding": "scored"}
            aliases = {k: [prof[c].header] for k, c in r.columns.items()
                       if _header_key(prof[c].header) != f"{r.instrument}_{k}"}
            if aliases:
                item_set["aliases"] = aliases
            missing = sorted({m for c in r.columns.values() for m in prof[c].missing}, reverse=True)
            if missing:
                item_set["missing_codes"] = missing
            sets.append(item_set)
            codes = (f"; {', '.join(map(str, missing))} read as missing codes" if missing else "")
            draft.check(("datasets", ds, "item_sets", len(sets) - 1),
                        f"{r.evidence}{codes}; coding scored (the values are the item scores)")
            out.instruments.append(r.instrument)
        if sets:
            entry["item_sets"] = sets
        small = []
        for name, p in prof.items():
            if name in taken:
                continue
            spec = _spec(p)
            path = ("datasets", ds, "variables", name)
            if name == id_name:
                spec.update(type="string", role="id", required=True)
                spec.pop("range", None), spec.pop("levels", None)
                draft.check(path, f"in every file, no value twice in {paths[people].name if people else ds}")
                if others:
                    draft.ask(path, f"{', '.join(others)} could also be the identifier: is "
                              f"{p.header!r} right?")
            elif name == wave:
                spec.update(role="wave", required=True)
                spec.pop("levels", None)
                draft.check(path, f"{len(p.levels)} values which, with the id, identify each row")
            elif name == date and ds == wave_ds:
                spec["role"] = "date"
                draft.check(path, "the date of each questionnaire (weeks since baseline come "
                            "from it)")
            elif p.identifying:
                spec.update(type="string", role="admin", identifying=True)
                spec.pop("range", None), spec.pop("levels", None), spec.pop("format", None)
                draft.check(path, "its name says it could identify a person: kept out of reports")
            elif ds == people and p.type in ("category", "boolean", "integer", "number"):
                spec["role"] = "dose" if "session" in name else "context"
                if spec["role"] == "context":
                    out.contexts.append(name)
                draft.check(path, f"{p.evidence}: a {spec['role']} of the participant")
            else:
                spec["role"] = "admin"
                draft.check(path, f"{p.evidence}: kept, not analysed (role admin)")
                if ds == wave_ds and p.type == "integer" and p.range and p.range[1] - p.range[0] <= 10:
                    small.append(name)
            if p.type == "category" and spec.get("role") not in ("wave",):
                spec["levels"] = list(p.levels)
            vocabulary = {id_name: "participant_id", wave: "wave"}.get(name)
            if vocabulary and vocabulary != name:
                # evalkit's own names, so scores and reports say participant_id and wave
                spec["aliases"] = [p.header]
                if path in draft.comments:
                    draft.comments[path[:-1] + (vocabulary,)] = draft.comments.pop(path)
                name = vocabulary
            variables[name] = spec
            out.columns[name] = p
        if small:
            draft.ask(("datasets", ds, "variables", small[0]),
                      f"{', '.join(small)} hold small whole numbers but match no instrument "
                      "evalkit knows: are they mechanism ratings (role: mechanism), items of "
                      "another questionnaire, or something else (role: admin)?")
            out.unanswered_items = small
    return out
