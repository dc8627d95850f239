"""Ordinary messy exports give clear problems through `evalkit validate`, never tracebacks (issue 12).

The cases live in the messy-export corpus, `tests/data/messy/corpus.py`: each builds its files from a
small simulated cohort, corrupted the way real exports are corrupted, and names the command to run
and the answer it must give (`EXPECTED`). All subprocesses run in parallel from one module fixture,
so the file stays fast; every case is checked against `EXPECTED`, and the tests below make more
specific assertions per case.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data.messy import corpus
from tests.data.messy.corpus import CASES, EXPECTED, Result


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("messy")
    return corpus.run_all(root, corpus.build(root))


def no_traceback(r: Result):
    assert "Traceback" not in r.out and "Traceback" not in r.err, r.text
    assert "KeyError" not in r.text and "UnicodeDecodeError" not in r.text, r.text


# ------------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("name", list(dict.fromkeys([*CASES, *EXPECTED])))
def test_every_case_gives_its_expected_exit_code_and_message(results, name):
    assert name in CASES, f"{name!r} is in EXPECTED but has no builder"
    assert name in EXPECTED, f"case {name!r} has no EXPECTED entry"
    r = results[name]
    code, fragments = EXPECTED[name]
    assert "Traceback" not in r.out and "Traceback" not in r.err, r.text
    assert r.code == code, r.text
    missing = [f for f in fragments if f not in r.text]
    assert not missing, f"missing {missing} in:\n{r.text}"


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
