"""A REDCap data dictionary (and, if given, a record export) -> a drafted evalkit data dictionary.

One export file holds every form, so the draft declares one dataset per table it holds, each
naming the export as its file and selecting its rows (see :mod:`evalkit._rows`):

- ``participants``: the forms filled at one event only (enrolment, demographics), from that
  event's row; the data access group becomes ``site``;
- ``responses``: the forms filled at several events, or holding questionnaire items, one row per
  record × event; ``redcap_event_name`` is the ``wave`` (``baseline_arm_1`` -> ``baseline``);
- one dataset per repeating instrument, one row per instance; the first one named like a session
  log (``sessions``, ``visits``, ``contacts`` …) is declared a ``session_log``
  (:mod:`evalkit.session_log`), so each mother's sessions, first and last session and whether she
  started are known to the plan's engagement section.

Every guess is marked ``# check`` with its evidence; what cannot be decided is a question.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._draft import Draft
from ..session_log import SessionLog
from ..errors import DictionaryError
from ..instruments.recognise import recognise
from .metadata import MISSING_LABEL, Field, read_metadata
from .records import DAG, EVENT, INSTANCE, REPEAT, RecordScan, scan_records, wave_name, week_of

__all__ = ["draft_from_redcap", "EVIDENCE_COLUMNS"]

#: The columns of ``DataDictionary.evidence`` (one row per item set found).
EVIDENCE_COLUMNS = ["instrument", "items", "form", "columns", "evidence", "questions", "status"]

ID = "participant_id"
SURVEY_ID = "redcap_survey_identifier"
_STATUS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _code_range(f: Field) -> tuple[float, float] | None:
    """The values a field can hold, for recognising instrument items (missing codes left out)."""
    if f.type in ("radio", "dropdown"):
        codes = [_num(c) for c, lab in f.choices if not MISSING_LABEL.search(lab)]
        if codes and all(c is not None for c in codes):
            return min(codes), max(codes)
    if f.type == "text" and f.validation in ("integer", "number"):
        lo, hi = _num(f.minimum), _num(f.maximum)
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _levels(f: Field) -> tuple[dict, list]:
    """Levels ``{code: label}`` and missing codes of a radio/dropdown field."""
    levels, missing, used = {}, [], set()
    for code, label in f.choices:
        if MISSING_LABEL.search(label):
            number = _num(code)
            missing.append(int(number) if number is not None and number.is_integer() else code)
            continue
        label = label or code
        if label.strip().lower() in used or label.strip().lower() in {c.lower() for c, _ in f.choices
                                                                      if c != code}:
            label = f"{label} ({code})"   # two options with one label: the code tells them apart
        used.add(label.strip().lower())
        levels[code] = label
    return levels, missing


def _file_pattern(name: str) -> str:
    """The export's name with REDCap's date and time stamp as ``*``, so later exports match too.

    >>> _file_pattern("MyProject_DATA_2025-03-01_1412.csv"), _file_pattern("export.csv")
    ('MyProject_DATA_*.csv', 'export.csv')
    """
    return re.sub(r"_DATA_\d{4}-\d{2}-\d{2}_\d{4}", "_DATA_*", name)


def _whole(x: float) -> float | int:
    """3.0 -> 3 (the YAML reads as the user would write it)."""
    return int(x) if float(x).is_integer() else x


def _spec(f: Field) -> dict:
    """The evalkit variable for a REDCap field (checkboxes are expanded by the caller)."""
    spec: dict = {}
    if f.type == "text" and f.validation == "integer":
        spec["type"] = "integer"
    elif f.type == "text" and f.validation.startswith("number") or f.type == "calc":
        spec["type"] = "number"
    elif f.type == "text" and f.validation.startswith("date_"):
        spec["type"] = "date"     # REDCap's raw export writes every date as YYYY-MM-DD
    elif f.type == "text" and f.validation.startswith("datetime_"):
        spec["type"] = "date"
        spec["format"] = "%Y-%m-%d %H:%M:%S" if "seconds" in f.validation else "%Y-%m-%d %H:%M"
    elif f.type == "slider":
        spec.update(type="integer", range=[_whole(_num(f.minimum) or 0),
                                           _whole(_num(f.maximum) or 100)])
    elif f.type in ("yesno", "truefalse"):
        spec["type"] = "boolean"
    elif f.type in ("radio", "dropdown"):
        levels, missing = _levels(f)
        spec.update(type="category", levels=levels) if levels else spec.update(type="string")
        if missing:
            spec["missing_codes"] = missing
    else:
        spec["type"] = "string"
    if spec["type"] in ("integer", "number") and "range" not in spec:
        lo, hi = _num(f.minimum), _num(f.maximum)
        if lo is not None and hi is not None and lo <= hi:
            spec["range"] = [_whole(lo), _whole(hi)]
    if f.plain_label:
        spec["label"] = f.plain_label
    return spec


def _weeks(events: list[str], draft: Draft) -> dict:
    """Waves from events: the week each event's name states; windows halfway to the neighbours.

    The first wave's window is its own week (baseline is where time starts); the last reaches as
    far past its week as the gap before it.
    """
    arms = sorted({e.rsplit("_arm_", 1)[-1] for e in events if "_arm_" in e})
    if len(arms) > 1:
        draft.ask(("waves",), f"the project has {len(arms)} arms ({', '.join(arms)}): each arm's "
                  "events are separate waves here, and only the first event's forms are read as "
                  "the participants' table; export one arm at a time, or merge the arms' events "
                  "into one set of waves")
    names, weeks, guessed = [], [], []
    last = -1.0
    for e in events:
        week = week_of(e)
        unknown = week is None or week <= last
        if unknown:      # a placeholder after the previous event, to be answered
            week = last + 1.0
        names.append(wave_name(e, single_arm=len(arms) <= 1))
        weeks.append(week)
        guessed.append(unknown)
        last = week
    out = {}
    for i, (name, event, week) in enumerate(zip(names, events, weeks)):
        if i == 0:
            lo = hi = week
        else:
            lo = (weeks[i - 1] + week) / 2
            hi = (week + weeks[i + 1]) / 2 if i + 1 < len(weeks) else week + (week - weeks[i - 1])
        out[name] = {"label": event, "week": _whole(week), "window": [_whole(lo), _whole(hi)]}
        if guessed[i]:
            draft.ask(("waves", name, "week"), f"event {event!r} does not say when it happens: "
                      f"at how many weeks after baseline is it? (week {week:g} is a placeholder "
                      "after the previous event)")
        else:
            draft.check(("waves", name), f"week {week:g} read from the event name {event!r}; "
                        "window halfway to the neighbouring waves")
    return out


def draft_from_redcap(metadata, *, records=None, study: str | None = None,
                      missing_codes=()) -> tuple[Draft, list[dict]]:
    """Draft an evalkit dictionary from a REDCap data dictionary and (optionally) a record export.

    Parameters
    ----------
    metadata : path
        The project's data dictionary CSV.
    records : path, optional
        A flat record export (raw values); without it the events are a question.
    study : str, optional
        The study's name.
    missing_codes : sequence, optional
        Project-wide missing-data codes.

    Returns
    -------
    (Draft, list of dict)
        The draft (its ``data`` loads with :meth:`evalkit.DataDictionary.from_dict`; ``to_yaml``
        writes it with every guess marked) and one dict per item set found, with the keys of
        :data:`EVIDENCE_COLUMNS`. :mod:`evalkit.redcap` has a worked example.
    """
    fields = read_metadata(metadata)
    scan = scan_records(records, fields) if records is not None else RecordScan(columns=[])
    if records is not None and not scan.events:
        raise DictionaryError(
            f"{records}: line 1: the export has no column 'redcap_event_name', so it comes from a "
            "classic (non-longitudinal) REDCap project or was exported without events; evalkit "
            "needs the events as waves: export from a longitudinal project (Project Setup → "
            "Define My Events), or write the dictionary by hand with a wave column")
    file = _file_pattern(Path(records).name) if records is not None else "*_DATA_*.csv"
    record_id = fields[0].name
    draft = Draft({"version": 1, "study": study or f"REDCap project ({Path(metadata).stem})"})
    if missing_codes:
        draft.data["missing_codes"] = list(missing_codes)

    # ---------------------------------------------------------------- instruments
    ranges = {f.name: _code_range(f) or scan.ranges.get(f.name) for f in fields[1:]
              if f.type not in ("checkbox", "descriptive", "notes", "file")}
    found = recognise(ranges)
    by_field = {f.name: f for f in fields}
    sets, evidence, item_fields = [], [], set()
    for r in found:
        forms = sorted({by_field[c].form for c in r.columns.values()})
        matrices = {by_field[c].matrix for c in r.columns.values()}
        if len(matrices) == 1 and "" not in matrices:
            r.evidence += f"; one matrix group ({matrices.pop()!r}) on form {forms[0]!r}"
        evidence.append({"instrument": r.instrument, "items": len(r.columns), "form": ", ".join(forms),
                         "columns": ", ".join(r.columns.values()), "evidence": r.evidence,
                         "questions": "; ".join(r.questions),
                         "status": "recognised: confirm" if r.confident else "question"})
        if not r.confident:
            for q in r.questions:
                draft.ask(("datasets",), f"{q} (so its fields were left as ordinary variables)")
            continue
        item_fields |= set(r.columns.values())
        f0 = by_field[next(iter(r.columns.values()))]
        item_set = {"instrument": r.instrument, "items": len(r.columns),
                    "range": [_whole(r.item_range[0]), _whole(r.item_range[1])], "coding": "scored",
                    "label": r.instrument.upper()}
        names = {k: c for k, c in r.columns.items() if c != f"{r.instrument}_{k}"}
        if names:
            item_set["names"] = names
        _, missing = _levels(f0) if f0.type in ("radio", "dropdown") else ({}, [])
        if missing:
            item_set["missing_codes"] = missing
        sets.append((forms, item_set, r.evidence))

    # ---------------------------------------------------------------- forms -> tables
    forms = list(dict.fromkeys(f.form for f in fields))
    repeating = [f for f in forms if f in scan.repeating]
    with_items = {form for fs, _, _ in sets for form in fs}
    events = scan.events or ["baseline_arm_1"]
    wave_forms = [f for f in forms if f not in repeating and
                  (f in with_items or len(scan.forms_at.get(f, [])) > 1)]
    once = [f for f in forms if f not in repeating and f not in wave_forms]
    first_event = {f: (scan.forms_at.get(f) or events[:1])[0] for f in once}
    if records is None:
        draft.ask(("waves",), "no record export was given, so the project's events are unknown: "
                  "run import-redcap again with --records EXPORT.csv, or list the waves here")
    waves = _weeks(events, draft)
    draft.data["waves"] = waves
    wave_of = {w["label"]: name for name, w in waves.items()}

    datasets: dict = {}
    draft.data["datasets"] = datasets
    datasets_asked: list = []

    def table(name: str, keys: list, rows: dict, why: str) -> dict:
        ds = {"file": file, "keys": keys, "rows": rows, "variables": {}}
        datasets[name] = ds
        draft.check(("datasets", name, "rows"), why)
        ident = {"type": "string", "role": "id", "required": True, "label": "Record ID"}
        if record_id != ID:
            ident["aliases"] = [record_id]
        ds["variables"][ID] = ident
        if scan.numeric_ids and not datasets_asked:
            datasets_asked.append(name)
            draft.check(("datasets", name, "variables", ID), "the record ids are plain numbers "
                        "(REDCap's auto-numbering): the publication audit cannot tell them from "
                        "counts, so it looks for them only where they would name someone (after "
                        "'record' or 'ID', in an id column); a study prefix (MT-0001) lets it "
                        "look everywhere")
        return ds

    groups: dict[str, list[str]] = {}
    for f in once:
        groups.setdefault(first_event[f], []).append(f)
    for i, (event, group) in enumerate(sorted(groups.items(), key=lambda kv: events.index(kv[0])
                                               if kv[0] in events else 0)):
        name = "participants" if i == 0 else "_".join(group)
        ds = table(name, [ID], {EVENT: [event], REPEAT: [""]},
                   f"forms {', '.join(group)} are filled at one event ({event}): one row per "
                   "participant, from that event's row")
        if i == 0 and SURVEY_ID in [c.lower() for c in scan.columns]:
            ds["variables"][SURVEY_ID] = {"type": "string", "role": "admin", "identifying": True,
                                          "label": "Survey respondent identifier"}
            draft.check(("datasets", name, "variables", SURVEY_ID), "REDCap's survey "
                        "identifier (an email or name, when the project collects one): identifying")
        if i == 0 and (scan.sites or DAG in [c.lower() for c in scan.columns]):
            ds["variables"]["site"] = ({"type": "category", "role": "context", "label": "Site",
                                        "levels": {s: s for s in scan.sites}, "aliases": [DAG]}
                                       if scan.sites else {"type": "string", "role": "admin",
                                                           "aliases": [DAG]})
            draft.check(("datasets", name, "variables", "site"), "the data access group of each "
                        "record, read as the site")
        for form in group:
            _add_form(draft, ds, name, form, fields, "context", item_fields, record_id, scan.columns)
    if wave_forms:
        ds = table("responses", [ID, "wave"], {REPEAT: [""]},
                   f"forms {', '.join(wave_forms)} are filled at several events: one row per "
                   "participant × event")
        ds["variables"]["wave"] = {"type": "category", "role": "wave", "required": True,
                                   "label": "Event", "aliases": [EVENT],
                                   "levels": {wave_of[e]: e for e in events}}
        for form in wave_forms:
            _add_form(draft, ds, "responses", form, fields, "admin", item_fields, record_id, scan.columns)
        ds["item_sets"] = []
        for i, (_, item_set, why) in enumerate(sets):
            ds["item_sets"].append(item_set)
            draft.check(("datasets", "responses", "item_sets", i), f"{why}; coding scored: the "
                        "codes are the item scores as the manual defines them (write coding: "
                        "position if the form codes options by their place)")
    for form in repeating:
        keys = [ID, EVENT, INSTANCE] if scan.events else [ID, INSTANCE]
        ds = table(form, keys, {REPEAT: [form]},
                   f"repeating instrument {form!r}: one row per instance (a separate long table)")
        if scan.events:
            ds["variables"][EVENT] = {"type": "string", "role": "admin", "label": "Event"}
        ds["variables"][INSTANCE] = {"type": "integer", "role": "admin", "required": True,
                                     "label": "Instance of the repeating form"}
        _add_form(draft, ds, form, form, fields, "admin", item_fields, record_id, scan.columns)
        _session_log(draft, ds, form, fields, datasets)
    return draft, evidence


_SESSIONS = re.compile(r"session|visit|contact|appointment|attend", re.IGNORECASE)


def _session_log(draft: Draft, ds: dict, form: str, fields: list[Field], datasets: dict) -> None:
    """A repeating form named like a session log is summed per participant (the plan's dose).

    Only the first such form: two logs would add the same columns (the user can rename them).
    """
    if not _SESSIONS.search(form) or any("session_log" in d for d in datasets.values()):
        return
    dates = [n for n, v in ds["variables"].items() if v.get("type") == "date"]
    ds["session_log"] = {"date": dates[0] if dates else None}
    # a field of the project with a total's name (a 'started' yes/no) is the data's own: keep it
    declared = {v for d in datasets.values() for v in d["variables"]}
    for key, name in SessionLog().added_names():
        if name in declared:
            ds["session_log"][key] = None
    why = (f"repeating form {form!r} is named like a session log: each instance is one session, "
           "summed per participant into sessions_attended and started")
    draft.check(("datasets", form, "session_log"), why + (
        f", its first date field {dates[0]!r} giving first_session_on and last_session_on; "
        "select only attended sessions with rows if the log records missed ones too"
        if dates else "; it has no date field, so first and last session dates are not known"))


def _add_form(draft: Draft, ds: dict, dname: str, form: str, fields: list[Field], role: str,
              item_fields: set, record_id: str, columns: list) -> None:
    """The variables of one form, then its survey timestamp (if exported) and its status."""
    # one date column dates the questionnaires: the first of the responses' forms
    dated = dname != "responses" or any(v.get("role") == "date" for v in ds["variables"].values())
    for f in fields:
        if f.form != form or f.name == record_id or f.name in item_fields or f.type == "descriptive":
            continue
        path = ("datasets", dname, "variables")
        if f.type == "checkbox":
            for code, label in f.choices:
                name = f"{f.name}___{code.lower().replace('-', '_')}"
                ds["variables"][name] = {"type": "boolean", "role": role,
                                         "label": f"{f.plain_label}: {label}"[:80]}
            draft.check(path + (f"{f.name}___{f.choices[0][0].lower().replace('-', '_')}",),
                        f"checkbox {f.name!r}: one yes/no column per option "
                        f"({', '.join(c for c, _ in f.choices)})")
            continue
        spec = _spec(f)
        if f.identifier:
            spec.update(role="admin", identifying=True)
            draft.check(path + (f.name,), "Identifier? = y in REDCap: kept out of every report")
        elif spec["type"] == "date" and role == "admin" and not dated:
            spec["role"] = "date"
            dated = True
            draft.check(path + (f.name,), "the first date field of the questionnaire forms: the "
                        "date each questionnaire was completed (weeks since baseline come from it)")
        elif spec["type"] in ("category", "boolean", "integer", "number") and role == "context":
            spec["role"] = "context"
            draft.check(path + (f.name,), f"{f.type} field on form {form!r}, collected once: a "
                        "context of the participant (set role: admin if it is not)")
        else:
            spec["role"] = "admin"
        ds["variables"][f.name] = spec
    exported = {str(c).lower() for c in columns}
    if f"{form}_timestamp" in exported:
        # "include survey fields" exports when a survey was submitted ("[not completed]" if not)
        ds["variables"][f"{form}_timestamp"] = {"type": "string", "role": "admin",
                                                "label": f"Survey {form} submitted at"}
    ds["variables"][f"{form}_complete"] = {"type": "category", "role": "admin",
                                           "label": f"REDCap status of form {form}",
                                           "levels": dict(_STATUS)}
