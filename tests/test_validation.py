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
    assert len(rows) == 1, report.describe()
    return rows.iloc[0]


def test_clean_data_pass(tiny, dd):
    report = _run(tiny, dd)
    assert report.ok, report.describe()
    assert report.problems.empty
    assert list(report.problems.columns) == PROBLEM_COLUMNS
    assert report.describe() == "No problems found."


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
    assert report.ok, report.describe()
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
    assert out == [{"file": paths[1], "line": 6, "key": None, "column": "epds_2", "participant_id": "P2",
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


# ------------------------------------------------------------------------------ messy headers (issue 12)
def _dd_with(dd, **variable_fields):
    """The example dictionary with extra fields on some variables, e.g. participant_id={"aliases": [...]}."""
    import yaml

    data = yaml.safe_load(ek.example_dictionary_path().read_text(encoding="utf-8"))
    for ds in data["datasets"].values():
        for name, extra in variable_fields.items():
            if name in ds["variables"]:
                ds["variables"][name].update(extra)
    return ek.DataDictionary.from_dict(data)


def test_headers_match_case_spaces_and_aliases_with_notes(tiny, dd):
    dd2 = _dd_with(dd, participant_id={"aliases": ["pid", "Mother ID"]})
    tiny["responses"] = tiny["responses"].rename(columns={"participant_id": "PID", "epds_1": " EPDS-1 "})
    tiny["participants"] = tiny["participants"].rename(columns={"participant_id": "mother id",
                                                                "born_uk": "Born UK"})
    tiny["responses"].loc[2, " EPDS-1 "] = "7"
    report = _run(tiny, dd2)
    assert report.n_errors == 1
    p = _only(report, "range")
    assert (p.line, p.column) == (4, " EPDS-1 ")  # the header as written, so it can be found
    assert "in 'epds_1' is outside" in p.message
    notes = report.notes.set_index(["file", "column"])["message"]
    assert "an alias in the dictionary" in notes[("responses", "PID")]
    assert "an alias in the dictionary" in notes[("participants", "mother id")]
    assert "differs only in case" in notes[("participants", "Born UK")]
    assert "note: participants:1 [Born UK]: column 'Born UK' read as 'born_uk'" in report.describe()
    assert str(report.data["participants"]["born_uk"].dtype) == "boolean"


def test_two_columns_for_one_variable(tiny, dd):
    tiny["responses"]["EPDS_1"] = tiny["responses"]["epds_1"]
    p = _only(_run(tiny, dd), "column_match")
    assert p.column == "EPDS_1" and "only 'epds_1' was read" in p.message


def test_missing_identifier_is_one_problem_and_nothing_breaks(tiny, dd):
    tiny["responses"] = tiny["responses"].rename(columns={"participant_id": "pid"})
    report = _run(tiny, dd)
    assert report.problems["rule"].tolist() == ["missing_column"]
    p = report.problems.iloc[0]
    assert (p.file, p.line, p.column) == ("responses", 1, "participant_id")
    assert "the nearest header in the file is 'pid'" in p.message
    assert "rename the column or add its name to `aliases` in the dictionary" in p.message
    resp = report.data["responses"]
    assert len(resp) == 0 and "participant_id" in resp.columns and "wave" in resp.columns
    assert report.exclusions["reason"].unique().tolist() == ["no participant_id column in the file"]
    rows = {(r.dataset, r.stage): r.records for r in report.flow.itertuples()}
    assert rows[("responses", "read")] == rows[("responses", "excluded")] == 7
    # later steps get empty data, not a KeyError
    scored = ek.score_dictionary(report, dictionary=dd, on_invalid="missing")
    assert len(scored.scores) == 0
    assert len(ek.build_cohort(report, dictionary=dd)) == 3 * len(dd.waves)


def test_missing_wave_column_no_duplicate_cascade(tiny, dd):
    tiny["responses"] = tiny["responses"].drop(columns="wave")
    report = _run(tiny, dd)
    assert report.problems["rule"].tolist() == ["missing_column"]
    assert "not checked for duplicates" in report.problems["message"].iloc[0]


def test_raise_if_problems_message_names_no_python_attribute(tiny, dd):
    tiny["responses"].loc[2, "epds_4"] = "7"
    with pytest.raises(ek.DataValidationError) as info:
        _run(tiny, dd).raise_if_problems()
    first = str(info.value).splitlines()[0]
    assert "1 data problem(s)" in first and ".report" not in str(info.value) and ".problems" not in first


def test_second_header_row_of_labels(tiny, dd):
    resp = tiny["responses"]
    labels = pd.DataFrame([{c: c.replace("_", " ").title() for c in resp.columns}])
    tiny["responses"] = pd.concat([labels, resp], ignore_index=True)
    report = _run(tiny, dd)
    p = _only(report, "label_row")
    assert p.line == 2 and "delete that row" in p.message
    assert report.n_errors == 1
    assert list(report.data["responses"]["_line"]) == [3, 4, 5, 6, 7, 8, 9]
    assert report.exclusions["reason"].tolist() == ["second header row (labels)"]


def test_decimal_commas_and_excel_dates_in_coerce_table(tiny, dd):
    people = tiny["participants"].assign(isolation=["4,5", "3", "x,y"])
    typed, problems = coerce_table(people, dictionary=dd, dataset="participants", today=TODAY,
                                   decimal_comma=True)
    assert typed["isolation"].tolist()[:2] == [4.5, 3.0]
    assert problems["value"].tolist() == ["x,y"]
    typed, problems = coerce_table(tiny["participants"].assign(isolation="4,5"), dictionary=dd,
                                   dataset="participants", today=TODAY)
    assert "has a decimal comma" in problems["message"].iloc[0]
    excel = tiny["participants"].astype(object)
    excel["referred_on"] = [45292, 45293.5, "2024-01-01"]
    typed, problems = coerce_table(excel, dictionary=dd, dataset="participants", today=TODAY,
                                   source_format="xlsx")
    assert problems.empty
    assert typed["referred_on"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02",
                                                                     "2024-01-01"]
    typed, problems = coerce_table(excel, dictionary=dd, dataset="participants", today=TODAY)
    assert problems["rule"].tolist() == ["type", "type"]
    assert "looks like an Excel date number (2024-01-01)" in problems["message"].iloc[0]


def test_value_labels_codes_validated_labels_checked(tiny, dd):
    people = tiny["participants"].copy()
    people["site"] = [1.0, 2.0, 3.0]
    people["age"] = [31.0, -9.0, 30.0]
    labels = {"site": {1.0: "North", 2.0: "East", 3.0: "Southern"},
              "age": {-9.0: "Not answered", 99.0: "Refused"}}
    typed, problems = coerce_table(people, dictionary=dd, dataset="participants", today=TODAY,
                                   value_labels=labels)
    assert typed["age"].tolist()[0] == 31 and pd.isna(typed["age"][1])
    assert typed["site"].tolist()[:2] == ["north", "east"]  # codes matched through their labels
    rules = problems.set_index("column")["rule"]
    assert rules["age"] == "value_label"
    assert problems.set_index("column").loc["age", "severity"] == "warning"
    assert "99 = 'Refused' lies outside the range [16, 50]" in problems.set_index("column").loc["age", "message"]
    assert problems.loc[problems["rule"] == "level", "message"].iloc[0].startswith(
        "'3' (labelled 'Southern' in the file) is not a declared level")


def test_long_values_shortened_in_messages(tiny, dd):
    tiny["responses"].loc[0, "wemwbs_1"] = "z" * 10_000
    p = _only(_run(tiny, dd), "type")
    assert len(p.message) < 200 and "…" in p.message and len(p.value) <= 60


def test_a_date_outside_its_wave_window_becomes_missing_not_a_time(tmp_path):
    # issue 12: with on_problems: exclude a date_window error kept weeks = 1347.6 in the model frame
    import pandas as pd

    import evalkit as ek

    paths = ek.simulate_cohort(n=20, seed=1).write(tmp_path, truth=False)
    responses = pd.read_csv(tmp_path / "responses.csv")
    i = responses.index[responses["wave"] == "end"][0]
    responses.loc[i, "assessed_on"] = "2026-06-01"
    responses.to_csv(tmp_path / "responses.csv", index=False)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    report = ek.validate([str(p) for p in paths], dictionary=dd, today=pd.Timestamp("2026-12-01").date())
    assert report.problems["rule"].tolist() == ["date_window"]
    frame = ek.build_cohort(report, dictionary=dd)
    pid = responses.loc[i, "participant_id"]
    row = frame[(frame["participant_id"] == pid) & (frame["wave"] == "end")].iloc[0]
    assert row["weeks"] == 12.0 and row["weeks_source"] == "planned", row
