"""Ordinary messy exports give clear problems through `evalkit validate`, never tracebacks (issue 12).

Every case builds its files in a temporary folder from a small simulated cohort, corrupts them the
way real exports are corrupted, and runs the command line as a subprocess. All subprocesses run in
parallel from one module fixture, so the file stays fast; each test then reads its own result.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
import yaml

import evalkit as ek

EXAMPLE_DD = Path(ek.example_dictionary_path())
CASES: dict = {}


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


# ------------------------------------------------------------------------------------ running
def _args(folder: Path, spec) -> list[str]:
    spec = [str(s) for s in spec]
    command = "validate"
    if spec[0] == "score":
        command, spec = "score", spec[1:]
    if "--dictionary" not in spec:
        spec += ["--dictionary", str(EXAMPLE_DD)]
    if command == "validate":
        spec += ["--today", "2026-06-01"]
    return [sys.executable, "-m", "evalkit.cli", command, *spec]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("messy")
    base = root / "base"
    ek.simulate_cohort(n=20, seed=1).write(base)
    jobs = {}
    for name, build in CASES.items():
        folder = root / name
        folder.mkdir()
        jobs[name] = (folder, _args(folder, build(folder, base)))

    def run(item):
        name, (folder, args) = item
        done = subprocess.run(args, capture_output=True, text=True, cwd=folder, timeout=120,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        return name, Result(done.returncode, done.stdout, done.stderr, folder)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(run, jobs.items()))


def no_traceback(r: Result):
    assert "Traceback" not in r.out and "Traceback" not in r.err, r.text
    assert "KeyError" not in r.text and "UnicodeDecodeError" not in r.text, r.text


# ------------------------------------------------------------------------------------ the tests
def test_clean_files_exit_0(results):
    r = results["clean"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert "No problems found." in r.out


def test_identifier_matched_through_alias_and_case(results):
    r = results["id_renamed_alias"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert "No problems found." in r.out
    assert r.lines_with("note:", "responses.csv", "[pid]", "read as 'participant_id'", "alias")
    assert r.lines_with("note:", "participants.csv", "[Participant_ID]", "read as 'participant_id'",
                        "case")
    assert "responses: 48 records, 20 participants" in r.out


def test_missing_identifier_is_one_problem_with_nearest_header_and_fix(results):
    r = results["id_renamed_no_alias"]
    no_traceback(r)
    assert r.code == 1, r.text
    assert "1 problem(s): missing_column 1" in r.out
    [line] = r.lines_with("responses.csv:1", "[participant_id]")
    assert "the nearest header in the file is 'pid'" in line
    assert "rename the column or add its name to `aliases` in the dictionary" in line
    assert "unknown_participant" not in r.out and "no_responses" not in r.out


def test_score_with_renamed_identifiers_does_not_crash(results):
    r = results["score_id_renamed"]
    no_traceback(r)
    # Participant_ID matches by case; pid matches nothing: one problem, nothing scored
    assert r.code == 1, r.text
    assert "nothing was scored" in r.err
    assert r.lines_with("participants.csv:1", "[participant_id]", "'pid'")
    assert not (r.folder / "scores.csv").exists()


def test_score_with_identifier_alias(results):
    r = results["score_id_alias"]
    no_traceback(r)
    assert r.code == 0, r.text
    scores = pd.read_csv(r.folder / "scores.csv")
    assert len(scores) == 48 and scores["participant_id"].nunique() == 20


def test_missing_wave_column_is_one_problem_not_a_duplicate_per_row(results):
    r = results["wave_missing"]
    no_traceback(r)
    assert r.code == 1, r.text
    assert "1 problem(s): missing_column 1" in r.out
    assert "duplicate_key" not in r.out
    [line] = r.lines_with("responses.csv:1", "[wave]")
    assert "not checked for duplicates" in line and "aliases" in line


def test_excel_first_sheet_of_notes_uses_the_data_sheet(results):
    r = results["excel_notes_first"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "responses.xlsx", "read sheet 'Data'", "'Notes', 'Data'")
    assert r.lines_with("note:", "participants.xlsx", "read sheet 'Sheet2'")
    assert "responses: 48 records, 20 participants" in r.out


def test_excel_without_a_data_sheet_is_one_problem_naming_the_sheets(results):
    r = results["excel_no_data_sheet"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("responses.xlsx", "(sheet)")
    assert "no sheet has a 'participant_id' column" in line and "'Notes', 'Summary'" in line
    assert "sheet:" in line
    assert "no file was given" not in r.out


def test_excel_sheet_named_in_the_dictionary(results):
    r = results["excel_sheet_in_dictionary"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "read sheet 'Final'", "named in the data dictionary")


def test_excel_merged_title_row(results):
    r = results["excel_title_row"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "participants.xlsx:2", "header is on row 2",
                        "Participants export, June 2025")
    assert "no file was given" not in r.out
    assert "participants: 20 records, 20 participants" in r.out


def test_excel_formula_without_saved_value_is_a_problem_per_cell(results):
    r = results["excel_formulas"]
    no_traceback(r)
    assert r.code == 1, r.text
    for row, ref in ((4, "D4"), (8, "D8")):
        [line] = r.lines_with(f"participants.xlsx:{row}", "[age]", "(formula)")
        assert f"({ref})" in line
        assert "a formula with no saved value" in line
        assert "open the file in Excel and save it, or paste values" in line
    assert "2 problem(s): formula 2" in r.out  # no second problem for the same empty cell


def test_excel_serial_dates_are_dates(results):
    r = results["excel_serial_dates"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "responses.xlsx", "[assessed_on]", "Excel date numbers",
                        "read as dates")


def test_csv_serial_date_is_a_problem_saying_what_it_looks_like(results):
    r = results["csv_serial_dates"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("responses.csv:5", "[assessed_on]")
    assert "'45292'" in line and "looks like an Excel date number (2024-01-01)" in line
    assert "format the column as a date in Excel" in line


def test_spss_value_labels_do_not_replace_codes(results):
    r = results["spss_value_labels"]
    no_traceback(r)
    assert "is not a number" not in r.out
    # only the label of a code the dictionary does not have (epds_1: 7) is reported, as a warning
    assert r.code == 0, r.text
    assert "1 problem(s): value_label 1" in r.out
    [line] = r.lines_with("responses.sav", "[epds_1]", "(value_label)")
    assert "7 = 'Refused' lies outside the range [0, 3]" in line


def test_stata_value_labels_do_not_replace_codes(results):
    r = results["stata_value_labels"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert "No problems found." in r.out


def test_mixed_encoding_is_refused_with_the_first_bad_line(results):
    r = results["mixed_encoding"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("participants.csv", "(encoding)")
    assert "mixes text encodings" in line
    assert "line 1222" in line
    assert "save it as 'CSV UTF-8'" in line
    assert "ZoÃ«" not in r.out


def test_bom_utf16_and_crlf_read(results):
    r = results["bom_utf16_crlf"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "responses.txt", "read as UTF-16 text")
    assert "participants: 20 records, 20 participants" in r.out


def test_semicolon_delimiter_reads_decimal_commas(results):
    r = results["semicolon_decimal_comma"]
    no_traceback(r)
    assert r.code == 0, r.text
    assert r.lines_with("note:", "participants.csv", "decimal comma", "'3,5'", "isolation")


def test_ragged_rows_one_problem_per_line_rest_read(results):
    r = results["ragged_rows"]
    no_traceback(r)
    assert r.code == 1, r.text
    [long] = r.lines_with("responses.csv:5", "(ragged_row)")
    assert "line 5 has 36 fields but the header has 35" in long and "double quotes" in long
    [short] = r.lines_with("responses.csv:10", "(ragged_row)")
    assert "line 10 has 10 fields but the header has 35" in short
    assert "2 problem(s): ragged_row 2" in r.out
    assert "responses: 48 records" in r.out


def test_line_numbers_are_physical_lines(results):
    r = results["quoted_newline"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("[age]", "(range)")
    assert "participants.csv:10 [age] participant P00007: 200 in 'age'" in line  # physical line 10


def test_huge_cell_is_not_echoed_whole(results):
    r = results["huge_cell"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("responses.csv:4", "[wemwbs_3]")
    assert "…" in line and len(line) < 400
    assert len(r.out) < 5000


def test_two_row_header_is_one_problem(results):
    r = results["two_row_header"]
    no_traceback(r)
    assert r.code == 1, r.text
    assert "1 problem(s): label_row 1" in r.out
    [line] = r.lines_with("responses.csv:2", "(label_row)")
    assert "second header row" in line and "delete that row" in line


def test_binary_file_named_csv_is_one_problem(results):
    r = results["binary_named_csv"]
    no_traceback(r)
    assert r.code == 1, r.text
    [line] = r.lines_with("responses.csv", "(unreadable_file)")
    assert "not a text file" in line and ".xlsx" in line


def test_unreadable_dictionary_exit_2_lists_every_problem(results):
    r = results["unreadable_dictionary"]
    no_traceback(r)
    assert r.code == 2, r.text
    assert "3 problems in the data dictionary" in r.err
    for key in ("colour (line", "datasets.people.variables.age.colour (line",
                "datasets.people.variables.ref.aliases (line"):
        assert key in r.err
    assert "alias 'PID' of 'ref' is the name of another variable" in r.err
