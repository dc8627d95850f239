"""Session logs (a REDCap repeating instrument): summed per mother into the engagement columns."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
import yaml

import evalkit as ek
from evalkit.errors import DictionaryError
from tests.data.redcap import HEADER, metadata_rows, write_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from evalkit.redcap import draft_from_redcap

    project = write_project(tmp_path_factory.mktemp("sessions"), n=24, seed=7)
    draft, _ = draft_from_redcap(project["metadata"], records=project["records"])
    return project, draft.data


def test_the_redcap_draft_declares_its_session_form_a_log(project):
    _, data = project
    assert data["datasets"]["sessions"]["session_log"] == {"date": "session_date"}
    dd = ek.DataDictionary.from_dict(data)
    assert dd.dataset("sessions").session_log.columns() == {
        "sessions_attended": "integer", "started": "boolean", "first_session_on": "date",
        "last_session_on": "date"}


def test_totals_join_the_participants(project):
    truth, data = project
    dd = ek.DataDictionary.from_dict(data)
    report = ek.validate([truth["records"]], dictionary=dd)
    assert report.ok, report.describe()
    people = ek.build_cohort(report, dictionary=dd).drop_duplicates("participant_id") \
        .set_index("participant_id")
    assert people["sessions_attended"].to_dict() == truth["sessions"]
    assert 0 in truth["sessions"].values()            # a mother with no session: 0, not missing
    assert (people["started"] == people["sessions_attended"].gt(0)).all()
    log = pd.read_csv(truth["records"], dtype=str).query("redcap_repeat_instrument == 'sessions'")
    dates = pd.to_datetime(log["session_date"]).groupby(log["record_id"])
    pd.testing.assert_series_equal(people["first_session_on"].dropna(), dates.min(),
                                   check_names=False, check_index_type=False)
    pd.testing.assert_series_equal(people["last_session_on"].dropna(), dates.max(),
                                   check_names=False, check_index_type=False)


def test_a_session_of_a_mother_not_in_the_participants_is_a_problem(project, tmp_path):
    truth, data = project
    lines = truth["records"].read_text(encoding="utf-8").splitlines()
    stray = next(line for line in lines if ",sessions," in line).replace("MT-0", "XX-0", 1)
    (tmp_path / "export.csv").write_text("\n".join([*lines, stray]) + "\n", encoding="utf-8")
    report = ek.validate([tmp_path / "export.csv"], dictionary=ek.DataDictionary.from_dict(data))
    found = report.problems[report.problems["rule"] == "unknown_participant"]
    assert found["line"].tolist() == [len(lines) + 1]
    assert "has a session logged" in found["message"].iat[0]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["datasets"]["sessions"].update(session_log={"date": "session_type"}),
     "'session_type' is not a date variable"),
    (lambda d: d["datasets"]["participants"]["variables"].update(
        started={"type": "boolean", "role": "admin"}),
     "would add a column 'started' to the participants, but variable 'started' is declared"),
    (lambda d: d["datasets"]["participants"].update(session_log={}),
     "has one row per participant"),
    (lambda d: d["datasets"]["sessions"].update(session_log={"dose": "x"}), "dose"),
])
def test_declaration_mistakes_are_dictionary_errors(project, change, message):
    _, data = project
    data = yaml.safe_load(yaml.safe_dump(data))      # a deep copy
    change(data)
    with pytest.raises(DictionaryError, match="session_log") as err:
        ek.DataDictionary.from_dict(data)
    assert message in str(err.value)


def test_a_renamed_or_omitted_total(project):
    truth, data = project
    data = yaml.safe_load(yaml.safe_dump(data))
    data["datasets"]["sessions"]["session_log"] = {"date": None, "sessions": "n_sessions",
                                                   "started": None}
    dd = ek.DataDictionary.from_dict(data)
    people = ek.build_cohort(ek.validate([truth["records"]], dictionary=dd), dictionary=dd)
    assert "n_sessions" in people and "started" not in people
    assert "first_session_on" not in people


def test_init_drafts_a_plan_whose_engagement_reads_the_log(project, tmp_path):
    from evalkit.init import init_project
    from evalkit.plan import load_plan

    truth, _ = project
    result = init_project([truth["metadata"], truth["records"]], out=tmp_path / "draft")
    plan = yaml.safe_load(result.plan.read_text(encoding="utf-8"))
    assert {k: plan["engagement"][k] for k in ("started", "sessions", "start", "stop", "reason",
                                               "disengaged")} == {
        "started": "started", "sessions": "sessions_attended", "start": "first_session_on",
        "stop": "last_session_on", "reason": "exit_reason", "disengaged": ["4"]}
    assert plan["model"]["population"] == "started"
    assert not [q for _, _, q in result.questions if "engagement" in q]
    loaded, _ = load_plan(result.plan)     # the plan checks its columns against the dictionary
    assert loaded.engagement.sessions == "sessions_attended"


def test_a_project_field_named_like_a_total_is_kept_and_not_derived(tmp_path):
    from evalkit.redcap import draft_from_redcap

    rows = metadata_rows()
    started = dict(rows[-1], **{"Variable / Field Name": "started", "Form Name": "enrolment",
                                "Field Type": "yesno", "Field Label": "Took up support",
                                "Choices, Calculations, OR Slider Labels": ""})
    rows.insert(3, started)
    project = write_project(tmp_path, n=6, seed=2)
    with open(project["metadata"], "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HEADER)
        w.writeheader()
        w.writerows(rows)
    draft, _ = draft_from_redcap(project["metadata"], records=project["records"])
    assert draft.data["datasets"]["sessions"]["session_log"] == {"date": "session_date",
                                                                 "started": None}
    assert ek.DataDictionary.from_dict(draft.data).variable("started").type == "boolean"
