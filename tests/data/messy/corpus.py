"""The messy-export corpus of issue 12: ordinary broken exports, each with the answer it must get.

Real exports arrive renamed, re-encoded, re-delimited, saved from Excel with notes sheets and
formulas, labelled by SPSS or Stata, ragged, or not text at all. Each *case* here is a small builder,
``fn(folder, base)``, that copies a simulated cohort (``ek.simulate_cohort(n=20, seed=1)``, written
to ``base``) into ``folder`` with one such defect, and returns the command-line arguments to check
it: the files, then options; a leading ``"score"`` runs ``evalkit score`` instead of
``evalkit validate``. Nothing in the corpus is committed as a binary file: the Excel workbooks, SPSS
and Stata files, UTF-16 text and mixed-encoding CSVs are all generated here, so the corpus is
reproducible and reviewable as code.

``EXPECTED`` gives, for every case, the exit code and the message fragments that must all appear
in stdout+stderr: the file (with its line or sheet), the column, and a word of the fix. The
command must never print a traceback. ``tests/test_messy_readers.py`` builds the corpus once, runs
every command in parallel, and checks both ``EXPECTED`` and more specific assertions per case.

To regenerate the corpus and inspect it by hand (from the repository root)::

    python -m tests.data.messy.corpus OUT_DIR

writes every case under ``OUT_DIR/<case>/`` (and the clean cohort under ``OUT_DIR/base/``) and
prints, per case, the command to run and the exit code it should give. Use a new or empty folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import yaml

import evalkit as ek

EXAMPLE_DD = Path(ek.example_dictionary_path())
TODAY = "2026-06-01"  # `validate --today`, so that date checks do not depend on the day of the run
CASES: dict = {}


def case(fn):
    """Register a builder: ``fn(folder, base)`` writes its files into ``folder`` and returns the
    command-line arguments (files, then options; a leading "score" runs `evalkit score`)."""
    CASES[fn.__name__] = fn
    return fn


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows, *, delimiter=",", encoding="utf-8", newline="\n") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        csv.writer(f, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return path


def dictionary_with(folder: Path, *, aliases=None, sheets=None) -> Path:
    """A copy of the example dictionary with ``aliases`` ({variable: [...]}) and ``sheet``s added."""
    data = yaml.safe_load(EXAMPLE_DD.read_text(encoding="utf-8"))
    for ds in data["datasets"].values():
        for name, spec in ds["variables"].items():
            if aliases and name in aliases:
                spec["aliases"] = list(aliases[name])
    for name, sheet in (sheets or {}).items():
        data["datasets"][name]["sheet"] = sheet
    path = folder / "dd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def frames(base: Path):
    read = dict(dtype=str, keep_default_na=False)
    return pd.read_csv(base / "participants.csv", **read), pd.read_csv(base / "responses.csv", **read)


def write_xlsx(path: Path, sheets: dict) -> Path:
    """sheets: name -> list of rows (lists of cell values, None for empty)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def typed_rows(frame: pd.DataFrame) -> list[list]:
    """Rows of a text frame with numbers as numbers (as Excel would hold them)."""
    out = [list(frame.columns)]
    for rec in frame.itertuples(index=False):
        row = []
        for v in rec:
            try:
                row.append(int(v))
            except ValueError:
                try:
                    row.append(float(v))
                except ValueError:
                    row.append(v if v != "" else None)
        out.append(row)
    return out


# ------------------------------------------------------------------------------------ the cases
@case
def clean(folder, base):
    return [base / "responses.csv", base / "participants.csv"]


@case
def id_renamed_alias(folder, base):
    people, resp = frames(base)
    resp.rename(columns={"participant_id": "pid"}).to_csv(folder / "responses.csv", index=False)
    people.rename(columns={"participant_id": "Participant_ID"}).to_csv(folder / "participants.csv",
                                                                     index=False)
    dd = dictionary_with(folder, aliases={"participant_id": ["pid"]})
    return [folder / "responses.csv", folder / "participants.csv", "--dictionary", dd]


@case
def id_renamed_no_alias(folder, base):
    people, resp = frames(base)
    resp.rename(columns={"participant_id": "pid"}).to_csv(folder / "responses.csv", index=False)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def score_id_renamed(folder, base):
    people, resp = frames(base)
    resp.rename(columns={"participant_id": "Participant_ID"}).to_csv(folder / "responses.csv",
                                                                   index=False)
    people.rename(columns={"participant_id": "pid"}).to_csv(folder / "participants.csv", index=False)
    return ["score", folder / "responses.csv", folder / "participants.csv", "--out",
            folder / "scores.csv", "--invalid", "missing"]


@case
def score_id_alias(folder, base):
    people, resp = frames(base)
    resp.rename(columns={"participant_id": "Participant_ID"}).to_csv(folder / "responses.csv",
                                                                   index=False)
    people.rename(columns={"participant_id": "pid"}).to_csv(folder / "participants.csv", index=False)
    dd = dictionary_with(folder, aliases={"participant_id": ["pid"]})
    return ["score", folder / "responses.csv", folder / "participants.csv", "--out",
            folder / "scores.csv", "--dictionary", dd]


@case
def wave_missing(folder, base):
    people, resp = frames(base)
    resp.drop(columns="wave").to_csv(folder / "responses.csv", index=False)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def excel_notes_first(folder, base):
    people, resp = frames(base)
    write_xlsx(folder / "responses.xlsx", {"Notes": [["Exported from the case system"], ["by JS"]],
                                           "Data": typed_rows(resp)})
    write_xlsx(folder / "participants.xlsx", {"README": [["Read me"]], "Sheet2": typed_rows(people)})
    return [folder / "responses.xlsx", folder / "participants.xlsx"]


@case
def excel_no_data_sheet(folder, base):
    people, _ = frames(base)
    write_xlsx(folder / "responses.xlsx", {"Notes": [["nothing here"]], "Summary": [["n", 3]]})
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.xlsx", folder / "participants.csv"]


@case
def excel_sheet_in_dictionary(folder, base):
    people, resp = frames(base)
    wrong = resp.assign(epds_1="99")  # a decoy sheet: reading it would give range errors
    write_xlsx(folder / "responses.xlsx", {"Old": typed_rows(wrong), "Final": typed_rows(resp)})
    people.to_csv(folder / "participants.csv", index=False)
    dd = dictionary_with(folder, sheets={"responses": "Final"})
    return [folder / "responses.xlsx", folder / "participants.csv", "--dictionary", dd]


@case
def excel_title_row(folder, base):
    people, resp = frames(base)
    path = write_xlsx(folder / "participants.xlsx",
                      {"Participants": [["Participants export, June 2025"]] + typed_rows(people)})
    wb = openpyxl.load_workbook(path)
    wb.active.merge_cells(start_row=1, start_column=1, end_row=1, end_column=people.shape[1])
    wb.save(path)
    resp.to_csv(folder / "responses.csv", index=False)
    return [folder / "responses.csv", folder / "participants.xlsx"]


@case
def excel_formulas(folder, base):
    people, resp = frames(base)
    rows = typed_rows(people)
    col = rows[0].index("age")
    rows[3][col] = "=30+1"       # worksheet row 4, no saved value (openpyxl saves none)
    rows[7][col] = "=A1*0"       # row 8
    write_xlsx(folder / "participants.xlsx", {"participants": rows})
    resp.to_csv(folder / "responses.csv", index=False)
    return [folder / "responses.csv", folder / "participants.xlsx"]


@case
def excel_serial_dates(folder, base):
    people, resp = frames(base)
    rows = typed_rows(resp)
    col = rows[0].index("assessed_on")
    for row in rows[1:]:
        if row[col]:
            row[col] = (dt.date.fromisoformat(row[col]) - dt.date(1899, 12, 30)).days
    write_xlsx(folder / "responses.xlsx", {"responses": rows})
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.xlsx", folder / "participants.csv"]


@case
def csv_serial_dates(folder, base):
    people, resp = frames(base)
    resp.loc[3, "assessed_on"] = "45292"
    resp.to_csv(folder / "responses.csv", index=False)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if c.startswith(("wemwbs_", "epds_", "ucla3_", "mech_")):
            out[c] = pd.to_numeric(out[c].replace("", np.nan))
    return out


FREQ = {1: "None of the time", 2: "Rarely", 3: "Some of the time", 4: "Often", 5: "All of the time",
        -9: "Not answered"}


@case
def spss_value_labels(folder, base):
    people, resp = frames(base)
    data = _labelled(resp)
    labels = {f"wemwbs_{k}": FREQ for k in range(1, 15)}
    labels["epds_1"] = {0: "As much as I always could", 1: "Not quite so much now",
                        2: "Definitely not so much now", 3: "Not at all", 7: "Refused"}
    pyreadstat.write_sav(data, str(folder / "responses.sav"), variable_value_labels=labels)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.sav", folder / "participants.csv"]


@case
def stata_value_labels(folder, base):
    people, resp = frames(base)
    data = _labelled(resp)
    labels = {f"wemwbs_{k}": {k2: v for k2, v in FREQ.items() if k2 > 0} for k in range(1, 15)}
    pyreadstat.write_dta(data.replace(-9, np.nan), str(folder / "responses.dta"),
                         variable_value_labels=labels)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.dta", folder / "participants.csv"]


@case
def mixed_encoding(folder, base):
    people, resp = frames(base)
    people.loc[0, "volunteer_id"] = "Zoë"                  # UTF-8 near the top
    text = people.to_csv(index=False).encode("utf-8")
    # pad the file beyond 64 KB with harmless rows, then one row typed in Windows-1252
    extra = people.iloc[[1]].copy()
    lines = []
    for i in range(1200):
        extra["participant_id"] = f"X{i:05d}"
        lines.append(extra.to_csv(index=False, header=False).encode("utf-8"))
    late = people.iloc[[2]].assign(participant_id="Y00001", volunteer_id="Zoë")
    body = text + b"".join(lines) + late.to_csv(index=False, header=False).encode("cp1252")
    assert len(body) > 64 * 1024
    (folder / "participants.csv").write_bytes(body)
    resp.to_csv(folder / "responses.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def bom_utf16_crlf(folder, base):
    people, resp = frames(base)
    people.loc[0, "volunteer_id"] = "Zoë"
    write_rows(folder / "participants.csv", [people.columns, *people.values.tolist()],
               encoding="utf-8-sig", newline="\r\n")
    (folder / "responses.txt").write_bytes(
        resp.to_csv(index=False, sep="\t", lineterminator="\r\n").encode("utf-16"))
    return [folder / "responses.txt", folder / "participants.csv"]


@case
def semicolon_decimal_comma(folder, base):
    people, resp = frames(base)
    people["isolation"] = people["isolation"].str.replace(".", ",", regex=False)
    people.loc[0, "isolation"] = "3,5"
    people.to_csv(folder / "participants.csv", index=False, sep=";")
    resp.to_csv(folder / "responses.csv", index=False, sep=";")
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def ragged_rows(folder, base):
    people, resp = frames(base)
    rows = read_rows(base / "responses.csv")
    rows[4] = rows[4] + ["extra"]            # line 5: one field too many
    rows[9] = rows[9][:10]                   # line 10: too few fields
    write_rows(folder / "responses.csv", rows)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def quoted_newline(folder, base):
    people, resp = frames(base)
    people.loc[1, "volunteer_id"] = "V01\nsecond line\nthird line"   # line 3 spans lines 3-5
    people.loc[6, "age"] = "200"                                        # row 7: physical line 10
    people.to_csv(folder / "participants.csv", index=False)
    resp.to_csv(folder / "responses.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def huge_cell(folder, base):
    people, resp = frames(base)
    resp.loc[2, "wemwbs_3"] = "x" * 1_000_000
    resp.to_csv(folder / "responses.csv", index=False)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def two_row_header(folder, base):
    people, resp = frames(base)
    labels = {c: c.replace("_", " ").title() for c in resp.columns}
    labelled = pd.concat([pd.DataFrame([labels]), resp], ignore_index=True)
    labelled.to_csv(folder / "responses.csv", index=False)
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def binary_named_csv(folder, base):
    people, resp = frames(base)
    resp.to_excel(folder / "book.xlsx", index=False)
    (folder / "responses.csv").write_bytes((folder / "book.xlsx").read_bytes())
    people.to_csv(folder / "participants.csv", index=False)
    return [folder / "responses.csv", folder / "participants.csv"]


@case
def unreadable_dictionary(folder, base):
    path = folder / "dd.yaml"
    path.write_text("study: x\nwaves: {baseline: {week: 0, window: [0, 0]}}\ndatasets:\n"
                    "  people: {file: p.csv, keys: [pid], variables: {pid: {type: string, role: id},"
                    " ref: {type: string, aliases: [PID]},"
                    " age: {type: integer, range: [0, 10], colour: red}}}\n"
                    "colour: blue\n", encoding="utf-8")
    return [base / "responses.csv", "--dictionary", path]


# ------------------------------------------------------------------------------------ expected
# case -> (exit code, fragments that must all appear in stdout+stderr)
EXPECTED: dict[str, tuple[int, list[str]]] = {
    "clean": (0, ["No problems found.",
                  "responses: 48 records, 20 participants"]),
    "id_renamed_alias": (0, ["No problems found.",
                             "responses.csv:1 [pid]", "read as 'participant_id'", "alias",
                             "participants.csv:1 [Participant_ID]", "differs only in case"]),
    "id_renamed_no_alias": (1, ["1 problem(s): missing_column 1",
                                "responses.csv:1 [participant_id]",
                                "the nearest header in the file is 'pid'",
                                "rename the column or add its name to `aliases`"]),
    "score_id_renamed": (1, ["participants.csv:1 [participant_id]", "'pid'",
                             "add its name to `aliases`", "nothing was scored"]),
    "score_id_alias": (0, ["scores.csv (48 rows"]),
    "wave_missing": (1, ["1 problem(s): missing_column 1", "responses.csv:1 [wave]",
                         "not checked for duplicates", "aliases"]),
    "excel_notes_first": (0, ["responses.xlsx: read sheet 'Data'", "'Notes', 'Data'",
                              "participants.xlsx: read sheet 'Sheet2'"]),
    "excel_no_data_sheet": (1, ["responses.xlsx", "(sheet)",
                                "no sheet has a 'participant_id' column", "'Notes', 'Summary'",
                                "name the data sheet in the data dictionary (sheet:"]),
    "excel_sheet_in_dictionary": (0, ["responses.xlsx: read sheet 'Final'",
                                      "named in the data dictionary"]),
    "excel_title_row": (0, ["participants.xlsx:2", "header is on row 2",
                            "Participants export, June 2025",
                            "participants: 20 records, 20 participants"]),
    "excel_formulas": (1, ["2 problem(s): formula 2",
                           "participants.xlsx:4 [age]", "(D4)", "participants.xlsx:8 [age]", "(D8)",
                           "a formula with no saved value",
                           "open the file in Excel and save it, or paste values"]),
    "excel_serial_dates": (0, ["responses.xlsx [assessed_on]", "Excel date numbers",
                               "read as dates"]),
    "csv_serial_dates": (1, ["responses.csv:5 [assessed_on]", "'45292'",
                             "looks like an Excel date number (2024-01-01)",
                             "format the column as a date in Excel"]),
    "spss_value_labels": (0, ["1 problem(s): value_label 1", "responses.sav [epds_1]",
                              "7 = 'Refused' lies outside the range [0, 3]",
                              "correct the labels"]),
    "stata_value_labels": (0, ["No problems found.",
                               "responses: 48 records, 20 participants"]),
    "mixed_encoding": (1, ["participants.csv", "(encoding)", "mixes text encodings", "line 1222",
                           "save it as 'CSV UTF-8'"]),
    "bom_utf16_crlf": (0, ["responses.txt: read as UTF-16 text",
                           "participants: 20 records, 20 participants"]),
    "semicolon_decimal_comma": (0, ["participants.csv", "decimal comma", "'3,5'",
                                    "columns: isolation"]),
    "ragged_rows": (1, ["2 problem(s): ragged_row 2",
                        "responses.csv:5", "line 5 has 36 fields but the header has 35",
                        "double quotes",
                        "responses.csv:10", "line 10 has 10 fields but the header has 35",
                        "complete the row"]),
    "quoted_newline": (1, ["participants.csv:10 [age] participant P00007: 200 in 'age'",
                           "correct it or record it as missing"]),
    "huge_cell": (1, ["responses.csv:4 [wemwbs_3]", "…", "is not a number", "enter a number"]),
    "two_row_header": (1, ["1 problem(s): label_row 1", "responses.csv:2", "(label_row)",
                           "second header row", "delete that row"]),
    "binary_named_csv": (1, ["responses.csv", "(unreadable_file)", "not a text file",
                             "give it the .xlsx extension"]),
    "unreadable_dictionary": (2, ["dd.yaml: 3 problems in the data dictionary",
                                  "colour (line", "datasets.people.variables.age.colour (line",
                                  "datasets.people.variables.ref.aliases (line",
                                  "alias 'PID' of 'ref' is the name of another variable",
                                  "check its spelling"]),
}


# ------------------------------------------------------------------------------------ building
def _args(folder: Path, spec) -> list[str]:
    spec = [str(s) for s in spec]
    command = "validate"
    if spec[0] == "score":
        command, spec = "score", spec[1:]
    if "--dictionary" not in spec:
        spec += ["--dictionary", str(EXAMPLE_DD)]
    if command == "validate":
        spec += ["--today", TODAY]
    return [sys.executable, "-m", "evalkit.cli", command, *spec]


def build(folder) -> dict[str, list[str]]:
    """Write the clean cohort to ``folder/base/`` and every case under ``folder/<case>/``.

    Returns ``{case: command}``, each command a full argument list (``python -m evalkit.cli ...``)
    to be run from ``folder/<case>/``.
    """
    root = Path(folder)
    base = root / "base"
    ek.simulate_cohort(n=20, seed=1).write(base)
    commands = {}
    for name, builder in CASES.items():
        where = root / name
        where.mkdir(parents=True, exist_ok=True)
        commands[name] = _args(where, builder(where, base))
    return commands


# ------------------------------------------------------------------------------------ running
@dataclass
class Result:
    code: int
    out: str
    err: str
    folder: Path

    @property
    def text(self) -> str:
        return self.out + self.err

    def lines_with(self, *words) -> list[str]:
        return [ln for ln in self.out.splitlines() if all(w in ln for w in words)]


def run(folder, args: list[str]) -> Result:
    """Run one command in ``folder`` (warnings silenced, as a user would see it)."""
    done = subprocess.run(args, capture_output=True, text=True, cwd=folder, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return Result(done.returncode, done.stdout, done.stderr, Path(folder))


def run_all(folder, commands: dict[str, list[str]]) -> dict[str, Result]:
    """Run every case's command (from :func:`build`) in parallel; ``{case: Result}``."""
    root = Path(folder)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(run, root / name, args) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python -m tests.data.messy.corpus OUT_DIR")
    root = Path(argv[0]).resolve()
    commands = build(root)
    print(f"Wrote {len(commands)} cases under {root}")
    for name, args in commands.items():
        code, fragments = EXPECTED.get(name, (None, []))
        print(f"\n{name}: expect exit {code}")
        print(f"  cd {shlex.quote(str(root / name))} && {shlex.join(args)}")
        for fragment in fragments:
            print(f"  expect: {fragment!r}")


if __name__ == "__main__":
    main()
