"""REDCap projects (issue 17): data dictionary conversion, record exports, scoring, import-redcap."""

from __future__ import annotations

import csv
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import evalkit as ek
from evalkit.cli import cli
from evalkit.instruments.recognise import item_of, recognise
from tests.data.redcap import HEADER, metadata_rows, write_project


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("redcap"))


@pytest.fixture(scope="session")
def converted(project):
    dd = ek.DataDictionary.from_redcap(project["metadata"], records=project["records"])
    report = ek.validate([project["records"]], dictionary=dd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ek.EvalkitWarning)   # prorated scores, safeguarding flags
        scored = ek.score_dictionary(report, dictionary=dd)
    return dd, report, scored


def test_events_become_waves_in_order_with_weeks(converted):
    dd, _, _ = converted
    assert [(w.name, w.week, w.window) for w in dd.waves] == [
        ("baseline", 0, (0, 0)), ("6_weeks", 6, (3, 9)), ("12_weeks", 12, (9, 18))]
    assert dd.id_column == "participant_id" and dd.variable("participant_id").aliases == ("record_id",)
    assert dd.wave_column == "wave" and dd.date_column == "epds_date"


def test_fields_convert_to_types_levels_identifiers(converted):
    dd, _, _ = converted
    people = dd.dataset("participants")
    assert people.rows == {"redcap_event_name": ("baseline_arm_1",), "redcap_repeat_instrument": ("",)}
    assert dd.variable("first_name").identifying and dd.variable("postcode").identifying
    assert dd.variable("age").type == "integer" and dd.variable("age").range == (16, 50)
    assert dd.variable("delivery_mode").levels == {"1": "One-to-one", "2": "Group", "3": "Both"}
    assert [dd.variable(f"support_needs___{k}").type for k in (1, 2, 3)] == ["boolean"] * 3
    assert dd.variable("site").aliases == ("redcap_data_access_group",)
    assert dd.variable("site").levels == {s: s for s in ("east", "north", "south", "west")}
    session_type = dd.dataset("sessions").variable("session_type")
    assert session_type.levels == {"1": "One-to-one", "2": "Group"}
    assert session_type.missing_codes == (99,)            # "Prefer not to say" is no answer
    assert dd.variable("epds_complete").levels == {"0": "Incomplete", "1": "Unverified",
                                                   "2": "Complete"}


def test_instruments_recognised_with_evidence(converted):
    dd, _, _ = converted
    assert sorted(dd.instruments()) == ["epds", "wemwbs"]
    assert dd.variable("wemwbs_01").instrument == "wemwbs" and dd.variable("wemwbs_01").item == 1
    ev = dd.evidence.set_index("instrument")
    assert ev.loc["epds", "status"] == "recognised: confirm"
    assert "all 14 items present" in ev.loc["wemwbs", "evidence"]
    assert "values 1–5 lie within the item range 1–5" in ev.loc["wemwbs", "evidence"]
    assert "one matrix group ('epds') on form 'epds'" in ev.loc["epds", "evidence"]


def test_unknown_weeks_and_second_arms_are_questions():
    from evalkit._draft import Draft
    from evalkit.redcap.convert import _weeks

    draft = Draft({})
    waves = _weeks(["enrolment_arm_1", "visit_a_arm_1", "3_months_arm_1", "enrolment_arm_2"],
                   draft)
    assert [(w, v["week"]) for w, v in waves.items()] == [
        ("enrolment_arm_1", 0), ("visit_a_arm_1", 1), ("3_months_arm_1", 13),
        ("enrolment_arm_2", 14)]
    asked = [q for _, q in draft.questions]
    assert "2 arms (1, 2)" in asked[0]
    assert any("'visit_a_arm_1' does not say when" in q for q in asked)
    assert any("'enrolment_arm_2' does not say when" in q for q in asked)


def test_scores_equal_hand_computed(project, converted):
    _, report, scored = converted
    assert report.ok, report.describe()
    assert report.notes["message"].str.contains("'record_id' read as").sum() == 1   # not per table
    got = scored.scores[["participant_id", "wave", "epds", "wemwbs"]].astype({"wave": str})
    truth = project["scores"]
    both = truth.merge(got, on=["participant_id", "wave"], suffixes=("_hand", ""), validate="1:1")
    assert len(both) == len(truth) == len(got)
    for inst in ("epds", "wemwbs"):
        np.testing.assert_allclose(both[inst], both[f"{inst}_hand"], rtol=0, atol=1e-9)
        assert both[f"{inst}_hand"].notna().sum() > 50
        assert scored.scores[f"{inst}_prorated"].sum() > 0        # the prorated ones too


def test_repeating_sessions_are_a_long_table(project, converted):
    _, report, _ = converted
    sessions = report.data["sessions"]
    counts = sessions.groupby("participant_id").size().to_dict()
    assert counts == {pid: k for pid, k in project["sessions"].items() if k}
    assert sessions["session_type"].isna().sum() == \
        pd.read_csv(project["records"], dtype=str)["session_type"].eq("99").sum()


def test_incomplete_forms_flagged_not_dropped(project, converted):
    _, report, scored = converted
    flagged = report.problems[report.problems["rule"] == "incomplete_form"]
    assert flagged["line"].tolist() == project["incomplete"]
    assert set(flagged["severity"]) == {"warning"}
    rows = pd.read_csv(project["records"], dtype=str)
    pids = rows.iloc[[ln - 2 for ln in project["incomplete"]]]["record_id"].tolist()
    kept = scored.scores[(scored.scores["wave"].astype(str) == "12_weeks")
                         & scored.scores["participant_id"].isin(pids)]
    assert len(kept) == len(pids)       # the incomplete forms are still scored


def test_row_of_no_dataset_is_reported_and_counted(project, converted, tmp_path):
    dd, _, _ = converted
    rows = list(csv.DictReader(open(project["records"], encoding="utf-8")))
    extra = dict.fromkeys(rows[0], "")
    extra.update(record_id="1", redcap_event_name="baseline_arm_1",
                 redcap_repeat_instrument="phone_calls", redcap_repeat_instance="1")
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows([*rows, extra])
    report = ek.validate([path], dictionary=dd)
    bad = report.problems[report.problems["rule"] == "unassigned_row"]
    assert bad["line"].tolist() == [len(rows) + 2] and "phone_calls" in bad["message"].iloc[0]
    assert "belongs to no dataset" in bad["message"].iloc[0]
    excluded = report.flow[report.flow["stage"] == "excluded"]
    assert excluded["records"].sum() == 1


def _write_metadata(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HEADER)
        w.writeheader()
        w.writerows(rows)


def test_survey_fields_are_declared(project, tmp_path):
    rows = pd.read_csv(project["records"], dtype=str, keep_default_na=False)
    rows.insert(1, "redcap_survey_identifier", "")
    rows.insert(rows.columns.get_loc("epds_date"), "epds_timestamp",
                rows["epds_date"].where(rows["epds_date"] == "", rows["epds_date"] + " 10:01"))
    rows.to_csv(tmp_path / "export.csv", index=False)
    dd = ek.DataDictionary.from_redcap(project["metadata"], records=tmp_path / "export.csv")
    assert dd.dataset("responses").variable("epds_timestamp").type == "string"
    assert dd.dataset("participants").variable("redcap_survey_identifier").identifying
    assert ek.validate([tmp_path / "export.csv"], dictionary=dd).ok


def test_bad_metadata_names_line_column_value(tmp_path):
    rows = metadata_rows()
    rows[5]["Choices, Calculations, OR Slider Labels"] = "One-to-one | Group"
    rows[7]["Field Type"] = "radiobutton"
    _write_metadata(tmp_path / "metadata.csv", rows)
    with pytest.raises(ek.DictionaryError) as exc:
        ek.DataDictionary.from_redcap(tmp_path / "metadata.csv")
    text = str(exc.value)
    assert "line 7, column 'Choices, Calculations, OR Slider Labels'" in text
    assert "'One-to-one | Group'" in text and "'1, Label | 2, Label'" in text
    assert "line 9, column 'Field Type'" in text and "'radiobutton'" in text
    (tmp_path / "other.csv").write_text("name,form\nx,y\n")
    with pytest.raises(ek.DictionaryError, match="no column .*'Field Type'; export.*Download the current"):
        ek.DataDictionary.from_redcap(tmp_path / "other.csv")


def test_classic_project_export_is_refused_with_the_fix(project, tmp_path):
    rows = pd.read_csv(project["records"], dtype=str, keep_default_na=False)
    rows.drop(columns="redcap_event_name").to_csv(tmp_path / "classic.csv", index=False)
    with pytest.raises(ek.DictionaryError, match="classic.csv: line 1: .*no column "
                                                 "'redcap_event_name'.*Define My Events"):
        ek.DataDictionary.from_redcap(project["metadata"], records=tmp_path / "classic.csv")


def test_without_records_the_events_are_a_question(project):
    from evalkit.redcap import draft_from_redcap

    draft, evidence = draft_from_redcap(project["metadata"])
    assert [e["instrument"] for e in evidence] == ["epds", "wemwbs"]
    assert any("events are unknown" in q for _, q in draft.questions)
    assert "QUESTION 1" in draft.to_yaml(title="data dictionary")


def test_import_redcap_writes_a_commented_dictionary(project, tmp_path):
    out = tmp_path / "data_dictionary.yaml"
    result = CliRunner().invoke(cli, ["import-redcap", str(project["metadata"]), "--records",
                                      str(project["records"]), "--out", str(out),
                                      "--missing-code", "UNK", "--missing-code", "NASK"])
    assert result.exit_code == 0, result.output
    assert "epds: recognised (confirm): 10 columns named like EPDS items" in result.output
    text = out.read_text(encoding="utf-8")
    assert "# check: Identifier? = y in REDCap" in text
    dd = ek.DataDictionary.from_yaml(out)
    assert sorted(dd.datasets) == ["participants", "responses", "sessions"]
    assert dd.missing_codes == ("UNK", "NASK")
    assert ek.validate([project["records"]], dictionary=dd).ok
    bad = CliRunner().invoke(cli, ["import-redcap", str(tmp_path / "absent.csv"), "--out", str(out)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "absent.csv" in bad.output


@pytest.mark.parametrize("name, expected", [
    ("Q1_EPDS", ("epds", 1)), ("epds q2", ("epds", 2)), ("WEMWBS-1", ("wemwbs", 1)),
    ("wemwbs_01", ("wemwbs", 1)), ("SWEMWBS_7", ("swemwbs", 7)), ("phq9_3", ("phq9", 3)),
    ("GAD7 item 4", ("gad7", 4)), ("epds_total", None), ("epds_date", None), ("age", None)])
def test_item_names_as_form_designers_write_them(name, expected):
    assert item_of(name) == expected


def test_recognition_asks_when_something_does_not_fit():
    short = recognise({f"phq_{k}": (0, 3) for k in range(1, 3)})
    assert short[0].instrument == "phq2" and short[0].confident
    partial = recognise({f"gad7_{k}": (1, 4) for k in range(1, 6)})[0]
    assert not partial.confident
    assert any("[6, 7] were not found" in q for q in partial.questions)
    assert any("hold 1–4, but the instrument scores them 0–3" in q for q in partial.questions)


def test_plain_number_record_ids_are_a_note_not_a_question(tmp_path):
    from evalkit.redcap import draft_from_redcap

    numbered = write_project(tmp_path, n=8, seed=4, numeric_ids=True)
    draft, _ = draft_from_redcap(numbered["metadata"], records=numbered["records"])
    assert not [q for _, q in draft.questions if "plain numbers" in q]
    where = ("datasets", "participants", "variables", "participant_id")
    assert "plain numbers" in draft.comments[where]


PLAN = """\
programme: Mothers Together (REDCap)
data: {dictionary: data_dictionary.yaml, files: [export.csv]}
outcomes: [{instrument: epds, primary: true}, {instrument: wemwbs}]
time: {baseline_wave: baseline, end_wave: 12_weeks, change: [0, 12]}
model: {fixed: weeks * delivery_mode, group: delivery_mode, population: all}
contexts: {variables: [site, delivery_mode, age, first_baby]}
mechanisms: null
engagement: null
sensitivity: {multiple_imputation: null}
"""


def _import_and_run(project, plan: str, out):
    """``evalkit import-redcap`` on the project, then ``evalkit run`` of ``plan`` into ``out``."""
    folder = project["records"].parent
    runner = CliRunner()
    made = runner.invoke(cli, ["import-redcap", str(project["metadata"]), "--records",
                               str(project["records"]), "--out", str(folder / "data_dictionary.yaml")])
    assert made.exit_code == 0, made.output
    (folder / "plan.yaml").write_text(plan, encoding="utf-8")
    result = runner.invoke(cli, ["run", str(folder / "plan.yaml"), "--out", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "not done" not in result.output
    return result


@pytest.mark.slow      # ~20 s: the whole pipeline on a 60-record project
def test_export_runs_to_both_reports(project, tmp_path):
    out = tmp_path / "report"
    _import_and_run(project, PLAN, out)
    html = (out / "impact.html").read_text(encoding="utf-8") + \
        (out / "technical.html").read_text(encoding="utf-8")
    assert "EPDS" in html and "WEMWBS" in html and "12_weeks" in html
    assert not any(name in html for name in project["identifiers"])


def test_an_instrument_that_does_not_fit_is_a_question_not_an_item_set(tmp_path):
    from evalkit.redcap import draft_from_redcap

    rows = metadata_rows()
    for r in rows:      # items 9 and 10 renamed out of recognition
        if r["Variable / Field Name"] in ("epds_9", "epds_10"):
            r["Variable / Field Name"] = "x_" + r["Variable / Field Name"][5:]
    _write_metadata(tmp_path / "metadata.csv", rows)
    draft, evidence = draft_from_redcap(tmp_path / "metadata.csv")
    assert {e["instrument"]: e["status"] for e in evidence} == {"epds": "question",
                                                               "wemwbs": "recognised: confirm"}
    assert any("epds item(s) [9, 10] were not found" in q for _, q in draft.questions)
    dd = ek.DataDictionary.from_dict(draft.data)
    assert sorted(dd.instruments()) == ["wemwbs"]
    assert dd.variable("epds_1").type == "category"     # kept, as the form declares it


def test_rows_apply_to_a_single_dataset_too(tmp_path):
    (tmp_path / "log.csv").write_text("participant_id,kind,n\nP1,call,2\nP1,visit,1\nP2,call,3\n",
                                      encoding="utf-8")
    dd = ek.DataDictionary.from_dict({
        "study": "x", "waves": {"baseline": {"week": 0, "window": [0, 0]}},
        "datasets": {"calls": {"file": "log.csv", "keys": ["participant_id"],
                               "rows": {"kind": ["call"]},
                               "variables": {"participant_id": {"type": "string", "role": "id"},
                                             "n": {"type": "integer"}}}}})
    report = ek.validate([tmp_path / "log.csv"], dictionary=dd)
    assert report.data["calls"]["participant_id"].tolist() == ["P1", "P2"]
    left = report.problems[report.problems["rule"] == "unassigned_row"]
    assert left["line"].tolist() == [3]


@pytest.mark.slow      # ~20 s: init's drafted plan on a project numbered 1, 2, 3 … as REDCap does
def test_numeric_record_ids_run_to_a_report_that_audits_clean(tmp_path):
    from evalkit.init import init_project

    project = write_project(tmp_path / "project", n=60, seed=3, numeric_ids=True)
    drafted = init_project([project["metadata"], project["records"]], out=tmp_path / "draft")
    plan = yaml.safe_load(drafted.plan.read_text(encoding="utf-8"))
    # engagement from the repeating session log, summed per mother (evalkit.session_log)
    assert plan["engagement"]["sessions"] == "sessions_attended"
    plan["programme"] = "Mothers Together"            # the one question without a default
    drafted.plan.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["run", str(drafted.plan), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "not done" not in result.output
    assert not (out / "NOT_FOR_PUBLICATION.txt").exists()
    sessions = pd.read_csv(out / "tables" / "sessions.csv")
    assert int(sessions["n"].iloc[0]) == sum(1 for k in project["sessions"].values() if k)
    # the report does hold numbers equal to record numbers: they are counts, not identifiers
    html = (out / "impact.html").read_text(encoding="utf-8")
    assert set(re.findall(r"\b\d+\b", html)) & {str(i) for i in range(1, 61)}


def test_a_repeating_event_is_named_as_such_not_as_a_duplicate(project, converted, tmp_path):
    dd, _, _ = converted
    raw = pd.read_csv(project["records"], dtype=str, keep_default_na=False)
    plain = raw["redcap_repeat_instrument"].eq("")
    # the 6-week event made repeating: every plain row gets instance 1, one record a second visit
    raw.loc[plain & raw["redcap_event_name"].eq("6_weeks_arm_1"), "redcap_repeat_instance"] = "1"
    first = raw.index[plain & raw["redcap_event_name"].eq("6_weeks_arm_1")][0]
    again = raw.loc[[first]].assign(redcap_repeat_instance="2")
    raw = pd.concat([raw, again], ignore_index=True)
    raw.to_csv(tmp_path / "export.csv", index=False)
    report = ek.validate([tmp_path / "export.csv"], dictionary=dd)
    dup = report.problems[report.problems["rule"] == "duplicate_key"]
    assert dup["line"].tolist() == [len(raw) + 1]          # the header is line 1
    message = dup["message"].iat[0]
    assert "further instance of a REDCap repeating event" in message
    assert f"first instance is line {first + 2}" in message and "non-repeating" in message
    assert dup["column"].iat[0] == "redcap_repeat_instance"
    aside = report.exclusions[report.exclusions["reason"].str.contains("repeating event")]
    assert aside["line"].tolist() == [len(raw) + 1]
