"""A REDCap project in REDCap's standard export layout, written by code (nothing binary committed).

:func:`write_project` copies a simulated cohort into the two files a REDCap user downloads: the
data dictionary (``metadata.csv``: REDCap's 18 columns, one row per field) and a longitudinal record
export (``export.csv``, raw values): three events (``baseline_arm_1``, ``6_weeks_arm_1``,
``12_weeks_arm_1``) with EPDS (``epds_1`` …) and WEMWBS (``wemwbs_01`` …, so the names differ from
evalkit's) at each, an enrolment form at baseline with identifiers, a checkbox field and the
delivery mode, a repeating ``sessions`` form (one row per session), a ``closure`` form (why support
ended) on the enrolment event, data access groups as sites and ``<form>_complete`` columns (a few
forms left Incomplete).

To look at the files::

    python -m tests.data.redcap OUT_DIR
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek

HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
          "Choices, Calculations, OR Slider Labels", "Field Note",
          "Text Validation Type OR Show Slider Number", "Text Validation Min",
          "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
          "Required Field?", "Custom Alignment", "Question Number (surveys only)",
          "Matrix Group Name", "Matrix Ranking?", "Field Annotation"]
EVENTS = {"baseline": "baseline_arm_1", "mid": "6_weeks_arm_1", "end": "12_weeks_arm_1"}
WEEKS = {"baseline": 0, "mid": 6, "end": 12}
MODES = {"one_to_one": "1", "group": "2", "both": "3"}
NEEDS = ["housing", "money", "feeding"]
EXITS = {"Completed": "1", "Feeling better": "2", "Referred on": "3", "Disengaged": "4",
         "Did not start": "5"}
# how many forms are left Incomplete (0) in the export: each must be reported as a warning
INCOMPLETE = 2


def _field(name, form, ftype, label, choices="", validation="", lo="", hi="", identifier="",
           matrix="", branching=""):
    row = dict.fromkeys(HEADER, "")
    row.update({"Variable / Field Name": name, "Form Name": form, "Field Type": ftype,
                "Field Label": label, "Choices, Calculations, OR Slider Labels": choices,
                "Text Validation Type OR Show Slider Number": validation,
                "Text Validation Min": lo, "Text Validation Max": hi, "Identifier?": identifier,
                "Matrix Group Name": matrix, "Branching Logic (Show field only if...)": branching})
    return row


def metadata_rows() -> list[dict]:
    """The project's fields, form by form, as REDCap's data dictionary lists them."""
    scale = lambda lo, hi: " | ".join(f"{k}, Option {k}" for k in range(lo, hi + 1))  # noqa: E731
    rows = [_field("record_id", "enrolment", "text", "Record ID"),
            _field("first_name", "enrolment", "text", "First name", identifier="y"),
            _field("postcode", "enrolment", "text", "Postcode", identifier="y"),
            _field("referred_on", "enrolment", "text", "Date of referral", validation="date_ymd"),
            _field("age", "enrolment", "text", "Age at referral", validation="integer", lo="16",
                   hi="50"),
            _field("delivery_mode", "enrolment", "radio", "Mode of support",
                   "1, One-to-one | 2, Group | 3, Both"),
            _field("support_needs", "enrolment", "checkbox", "Support needs",
                   " | ".join(f"{i}, {n.title()}" for i, n in enumerate(NEEDS, 1))),
            _field("first_baby", "enrolment", "yesno", "First baby"),
            _field("ethnicity_note", "enrolment", "notes", "Notes",
                   branching="[first_baby] = '0'"),
            _field("epds_date", "epds", "text", "Date completed", validation="date_ymd")]
    rows += [_field(f"epds_{k}", "epds", "radio", f"EPDS item {k}", scale(0, 3), matrix="epds")
             for k in range(1, 11)]
    rows += [_field("wemwbs_date", "wemwbs", "text", "Date completed", validation="date_ymd")]
    rows += [_field(f"wemwbs_{k:02d}", "wemwbs", "radio", f"WEMWBS item {k}", scale(1, 5),
                    matrix="wemwbs") for k in range(1, 15)]
    rows += [_field("session_date", "sessions", "text", "Session date", validation="date_ymd"),
             _field("session_type", "sessions", "radio", "Session type",
                    "1, One-to-one | 2, Group | 99, Prefer not to say"),
             _field("session_minutes", "sessions", "text", "Minutes", validation="integer",
                    lo="0", hi="240")]
    # a case-closure form on the enrolment event, filled when support ends
    rows += [_field("exit_reason", "closure", "radio", "Why support ended",
                    " | ".join(f"{k}, {label}" for label, k in EXITS.items()))]
    return rows


def _text(v) -> str:
    # the simulator's missing codes (-9, -8) are blank in REDCap: an unanswered radio button
    if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, (int, float, np.number))
                                                               and not isinstance(v, bool) and v < 0):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _by_hand(row: dict, items: list, never_imputed: str | None) -> float:
    """The total as the manual sums it; with one item blank (never the self-harm item), the mean
    of the others times the number of items (evalkit's stated local prorating rule); else NaN."""
    given = [int(row[c]) for c in items if row[c] != ""]
    blank = len(items) - len(given)
    if blank == 0:
        return float(sum(given))
    if blank == 1 and (never_imputed is None or row[never_imputed] != ""):
        return sum(given) / len(given) * len(items)
    return np.nan


def write_project(folder, *, n: int = 60, seed: int = 3, numeric_ids: bool = False) -> dict:
    """Write ``metadata.csv`` and ``export.csv`` into ``folder``; return their paths and truth.

    Records are named ``MT-0001`` …; ``numeric_ids=True`` numbers them ``1`` … as REDCap's
    auto-numbering does. The truth: ``scores`` (participant_id, wave, epds, wemwbs computed by
    hand from the items written, see :func:`_by_hand`), ``sessions`` (rows per participant), ``incomplete`` (lines of the
    forms left Incomplete), ``identifiers`` (the names written, which no report may show).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sim = ek.simulate_cohort(n=n, seed=seed)
    people = sim.participants.set_index("participant_id")
    resp = sim.responses[sim.responses["wave"].isin(list(EVENTS))]
    fields = metadata_rows()
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HEADER, quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        w.writerows(fields)

    epds = [f"epds_{k}" for k in range(1, 11)]
    wem = [f"wemwbs_{k:02d}" for k in range(1, 15)]
    columns = (["record_id", "redcap_event_name", "redcap_repeat_instrument",
                "redcap_repeat_instance", "redcap_data_access_group", "first_name", "postcode",
                "referred_on", "age", "delivery_mode"] + [f"support_needs___{i}" for i in (1, 2, 3)]
               + ["first_baby", "ethnicity_note", "enrolment_complete", "epds_date", *epds,
                  "epds_complete", "wemwbs_date", *wem, "wemwbs_complete", "session_date",
                  "session_type", "session_minutes", "sessions_complete", "exit_reason",
                  "closure_complete"])
    rows, truth, sessions, incomplete = [], [], {}, []
    for i, (pid, p) in enumerate(people.iterrows(), 1):
        # a study prefix, as REDCap's custom record naming gives, or REDCap's auto-numbering
        # (which the publication audit looks for only where a number names someone)
        record = str(i) if numeric_ids else f"MT-{i:04d}"
        start = pd.Timestamp(p["referred_on"])
        mine = resp[resp["participant_id"] == pid].set_index("wave")
        for wave, event in EVENTS.items():
            if wave not in mine.index and wave != "baseline":
                continue      # REDCap exports no row for an event without data
            row = dict.fromkeys(columns, "")
            row.update(record_id=record, redcap_event_name=event,
                       redcap_data_access_group=p["site"])
            if wave == "baseline":
                needs = rng.random(3) < 0.3
                row.update(first_name=f"Name{i:03d}", postcode=f"ZZ{i % 9} {i % 7}AA",
                           referred_on=start.strftime("%Y-%m-%d"), age=_text(p["age"]),
                           delivery_mode=MODES.get(p["delivery_mode"], ""),
                           first_baby=_text(p["first_baby"]), enrolment_complete="2",
                           exit_reason=EXITS[p["exit_reason"].replace("_", " ").capitalize()
                                             .replace("Not started", "Did not start")],
                           closure_complete="2",
                           **{f"support_needs___{k}": _text(bool(v)) for k, v in
                              zip((1, 2, 3), needs)})
            if wave in mine.index:
                r = mine.loc[wave]
                # dates inside the events' windows (halfway to the neighbouring events)
                when = start + pd.Timedelta(days=int(WEEKS[wave] * 7 + (rng.integers(0, 4) if
                                                                          wave != "baseline" else 0)))
                row.update(epds_date=when.strftime("%Y-%m-%d"), wemwbs_date=when.strftime("%Y-%m-%d"),
                           epds_complete="2", wemwbs_complete="2",
                           **{c: _text(r[c]) for c in epds},
                           **{c: _text(r[f"wemwbs_{k}"]) for k, c in enumerate(wem, 1)})
                truth.append({"participant_id": record, "wave": wave.replace("mid", "6_weeks")
                              .replace("end", "12_weeks"), "epds": _by_hand(row, epds, epds[-1]),
                              "wemwbs": _by_hand(row, wem, None)})
                if len(incomplete) < INCOMPLETE and wave == "end":
                    row["epds_complete"] = "0"
                    incomplete.append(len(rows) + 2)
            rows.append(row)
        k = int(min(p["sessions_attended"], 6)) if p["started"] else 0
        for s in range(1, k + 1):
            row = dict.fromkeys(columns, "")
            row.update(record_id=record, redcap_event_name="baseline_arm_1",
                       redcap_repeat_instrument="sessions", redcap_repeat_instance=str(s),
                       redcap_data_access_group=p["site"],
                       session_date=(start + pd.Timedelta(days=7 * s)).strftime("%Y-%m-%d"),
                       session_type=rng.choice(["1", "2", "99"]),
                       session_minutes=str(int(rng.integers(20, 120))), sessions_complete="2")
            rows.append(row)
        sessions[record] = k
    with open(folder / "export.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        w.writerows(rows)
    return {"metadata": folder / "metadata.csv", "records": folder / "export.csv",
            "scores": pd.DataFrame(truth), "sessions": sessions, "incomplete": incomplete,
            "identifiers": [f"Name{i:03d}" for i in range(1, len(people) + 1)]}
