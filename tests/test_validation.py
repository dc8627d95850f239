"""Validation: every rule, its message, the participant flow and the exclusion log."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import evalkit as ek
from evalkit.validation import PROBLEM_COLUMNS, RULES, coerce_table

from .conftest import TODAY, write_csvs


def _run(frames, dd):
    return ek.validate(frames, dictionary=dd, today=TODAY)


def _only(report, rule):
    rows = report.problems.loc[report.problems["rule"] == rule]
    assert len(rows) == 1, report.summary()
    return rows.iloc[0]


def test_clean_data_pass(tiny, dd):
    report = _run(tiny, dd)
    assert report.ok, report.summary()
    assert report.problems.empty
    assert list(report.problems.columns) == PROBLEM_COLUMNS
    assert report.summary() == "No problems found."


def test_typed_output(tiny, dd):
    data = _run(tiny, dd).data
    resp, people = data["responses"], data["participants"]
    assert str(resp["epds_1"].dtype) == "Int64"
    assert str(people["isolation"].dtype) == "float64"
    assert str(people["born_uk"].dtype) == "boolean"
    assert list(people["delivery_mode"].cat.categories) == ["one_to_one", "group", "both"]
    assert people["imd_quintile"].cat.ordered
    assert str(resp["assessed_on"].dtype).startswith("datetime64")
    assert resp["mech_hope"].isna().sum() == 4  # not asked at baseline / follow-up
    assert list(resp["_line"]) == [2, 3, 4, 5, 6, 7, 8]


def test_missing_codes_become_missing_without_problem(tiny, dd):
    tiny["responses"].loc[0, "epds_5"] = "-9"
    tiny["responses"].loc[1, "epds_6"] = "-8.0"
    tiny["participants"].loc[0, "age"] = "-9"
    report = _run(tiny, dd)
    assert report.ok, report.summary()
    assert pd.isna(report.data["responses"].loc[0, "epds_5"])
    assert pd.isna(report.data["responses"].loc[1, "epds_6"])
    assert pd.isna(report.data["participants"].loc[0, "age"])


def test_out_of_range_item(tiny, dd):
    tiny["responses"].loc[2, "epds_4"] = "7"
    report = _run(tiny, dd)
    p = _only(report, "range")
    assert (p.file, p.line, p.column, p.participant_id, p.value) == ("responses", 4, "epds_4", "P1", "7")
    assert p.message == ("7 in 'epds_4' is outside the allowed range [0, 3]; correct it or record it "
                         "as missing (missing code -9 or -8)")
    assert pd.isna(report.data["responses"].loc[2, "epds_4"])  # the cell, not the row, is dropped
    assert not report.ok


def test_text_in_numeric_item(tiny, dd):
    tiny["responses"].loc[5, "wemwbs_3"] = "often"
    p = _only(_run(tiny, dd), "type")
    assert (p.line, p.column, p.participant_id, p.value) == (7, "wemwbs_3", "P2", "often")
    assert p.message == ("'often' in 'wemwbs_3' is not a number; enter a number in [1, 5] or mark it "
                         "missing (missing code -9 or -8)")


def test_fractional_integer(tiny, dd):
    tiny["responses"].loc[0, "ucla3_2"] = "2.5"
    p = _only(_run(tiny, dd), "integer")
    assert p.message.startswith("2.5 in 'ucla3_2' is not a whole number")


def test_undeclared_category_code_and_labels_accepted(tiny, dd):
    tiny["participants"].loc[1, "delivery_mode"] = "1to1"
    tiny["participants"].loc[2, "delivery_mode"] = "One-to-one and group"  # a label is accepted
    report = _run(tiny, dd)
    p = _only(report, "level")
    assert (p.line, p.column, p.participant_id, p.value) == (3, "delivery_mode", "P2", "1to1")
    assert p.message == ("'1to1' is not a declared level of 'delivery_mode'; use one of: one_to_one, "
                         "group, both (or add the code to the dictionary's levels)")
    assert report.data["participants"].loc[2, "delivery_mode"] == "both"


def test_boolean_and_date_types(tiny, dd):
    tiny["participants"].loc[0, "born_uk"] = "maybe"
    tiny["participants"].loc[1, "referred_on"] = "31/12/2023"
    report = _run(tiny, dd)
    msgs = report.problems.set_index("column")["message"]
    assert msgs["born_uk"] == ("'maybe' in 'born_uk' is not yes/no; use true/false, yes/no or 1/0, or "
                               "mark it missing (missing code -9 or -8)")
    assert msgs["referred_on"] == "'31/12/2023' in 'referred_on' is not a valid date; write it as YYYY-MM-DD"


def test_required_and_empty_key(tiny, dd):
    tiny["responses"].loc[3, "wave"] = ""
    report = _run(tiny, dd)
    p = _only(report, "required")
    assert (p.line, p.column) == (5, "wave")
    assert p.message.startswith("'wave' is empty on this row; every row needs a value")
    ex = report.exclusions
    assert list(ex["line"]) == [5] and ex["reason"].iloc[0] == "empty or invalid key (participant_id × wave)"


def test_duplicate_rows(tiny, dd):
    resp = tiny["responses"]
    tiny["responses"] = pd.concat([resp, resp.iloc[[1]]], ignore_index=True)
    report = _run(tiny, dd)
    p = _only(report, "duplicate_key")
    assert (p.line, p.participant_id, p.value) == (9, "P1", "P1 × mid")
    assert p.message == "duplicate key P1 × mid (first at line 3); keep one row per participant_id × wave"
    assert len(report.data["responses"]) == 7
    assert report.exclusions["reason"].tolist() == ["duplicate key (a later copy; the first row is kept)"]


def test_unknown_and_missing_columns(tiny, dd):
    tiny["responses"]["notes"] = "x"
    tiny["responses"] = tiny["responses"].drop(columns="ucla3_3")
    report = _run(tiny, dd)
    assert _only(report, "unknown_column").message == (
        "column 'notes' is not declared for dataset 'responses'; add it to the dictionary or remove "
        "it from the file")
    p = _only(report, "missing_column")
    assert (p.line, p.column) == (1, "ucla3_3")


def test_participants_without_context_and_without_responses(tiny, dd):
    tiny["responses"].loc[6, "participant_id"] = "P9"
    report = _run(tiny, dd)
    p = _only(report, "unknown_participant")
    assert (p.line, p.participant_id) == (8, "P9")
    assert p.message == ("participant P9 has responses but is not in participants; add her row there "
                         "or correct the id")
    q = _only(report, "no_responses")
    assert (q.file, q.line, q.participant_id) == ("participants", 4, "P3")
    assert "P9" not in set(report.data["responses"]["participant_id"])


def test_dates_in_future_and_outside_window(tiny, dd):
    tiny["responses"].loc[1, "assessed_on"] = "2024-04-30"  # mid at 17 weeks
    tiny["responses"].loc[3, "assessed_on"] = "2027-06-18"
    report = _run(tiny, dd)
    w = _only(report, "date_window")
    assert (w.line, w.value) == (3, "2024-04-30")
    assert w.message == ("wave 'mid' completed 17.0 weeks after baseline, outside its window [3, 10]; "
                         "check the date and the wave")
    f = _only(report, "date_future")
    assert f.message == ("date 2027-06-18 in 'assessed_on' is in the future (today is 2026-01-01); "
                         "check the day, month and year")


def test_all_problems_reported_at_once_sorted(tiny, dd):
    tiny["responses"].loc[2, "epds_4"] = "7"
    tiny["responses"].loc[0, "wemwbs_1"] = "x"
    tiny["participants"].loc[0, "site"] = "Nowhere"
    report = _run(tiny, dd)
    assert report.problems[["file", "line", "rule"]].values.tolist() == [
        ["participants", 2, "level"], ["responses", 2, "type"], ["responses", 4, "range"]]
    assert report.n_errors == 3
    with pytest.raises(ek.DataValidationError, match="3 data problem"):
        report.raise_if_problems()


def test_flow_counts_read_excluded_valid_and_waves(tiny, dd):
    resp = tiny["responses"]
    tiny["responses"] = pd.concat([resp, resp.iloc[[0]]], ignore_index=True)
    flow = _run(tiny, dd).flow
    rows = {(r.dataset, r.stage, r.reason): (r.records, r.participants) for r in flow.itertuples()}
    assert rows[("responses", "read", "")] == (8, 3)
    assert rows[("responses", "excluded", "duplicate key (a later copy; the first row is kept)")] == (1, 1)
    assert rows[("responses", "valid", "")] == (7, 3)
    assert rows[("participants", "valid", "")] == (3, 3)
    assert [rows[("responses", "measured", w)][1] for w in ("baseline", "mid", "end", "follow_up")] == [3, 1, 2, 1]


def test_files_on_disk_json_and_line_numbers(tiny, dd, tmp_path):
    tiny["responses"].loc[4, "epds_2"] = "5"
    paths = write_csvs(tiny, tmp_path)
    report = ek.validate(paths, dictionary=dd, today=TODAY)
    out = json.loads(report.to_json(tmp_path / "p.json"))
    assert out == [{"file": paths[1], "line": 6, "column": "epds_2", "participant_id": "P2",
                    "value": "5", "rule": "range", "severity": "error",
                    "message": "5 in 'epds_2' is outside the allowed range [0, 3]; correct it or "
                               "record it as missing (missing code -9 or -8)"}]
    assert report.files == {"participants": paths[0], "responses": paths[1]}


def test_unreadable_unknown_and_missing_files(dd, tmp_path, tiny):
    (tmp_path / "stuff.csv").write_text("a,b\n1,2\n")
    report = ek.validate([str(tmp_path / "nope.csv"), str(tmp_path / "stuff.csv")], dictionary=dd)
    rules = report.problems["rule"].tolist()
    assert rules.count("unreadable_file") == 1 and rules.count("unknown_file") == 1
    assert rules.count("missing_dataset") == 2
    assert not report.ok


def test_coerce_table_alone_matches_by_columns(tiny, dd):
    typed, problems = coerce_table(tiny["participants"], dictionary=dd, file="export.csv", today=TODAY)
    assert problems.empty and len(typed) == 3 and "delivery_mode" in typed


def test_rule_catalogue_is_complete():
    assert set(RULES) >= {"unknown_column", "missing_column", "type", "range", "level",
                          "duplicate_key", "date_window", "date_future", "unknown_participant",
                          "no_responses"}
