"""evalkit init (issue 17): drafts from a user's files, every guess shown, questions answerable."""

from __future__ import annotations

import re
import warnings

import pytest
import yaml
from click.testing import CliRunner

import evalkit as ek
from evalkit.cli import cli
from evalkit.init import init_project
from tests.data.redcap import write_project

# the simulator's columns as a form designer might name them
RENAMED = {"participant_id": "Client ID", "wave": "Timepoint", "assessed_on": "Date completed",
           **{f"epds_{k}": (f"Q{k}_EPDS" if k % 2 else f"epds q{k}") for k in range(1, 11)},
           **{f"wemwbs_{k}": (f"WEMWBS-{k}" if k % 2 else f"wemwbs_{k:02d}") for k in range(1, 15)},
           **{f"ucla3_{k}": f"UCLA3 item {k}" for k in range(1, 4)}}
MECH = ["mech_understood", "mech_normalisation", "mech_hope", "mech_information",
        "mech_negative_comparison"]


@pytest.fixture(scope="session")
def user_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    sim = ek.simulate_cohort(n=80, seed=5)
    sim.participants.rename(columns={"participant_id": "Client ID",
                                     "delivery_mode": "Delivery mode"}).to_csv(
        folder / "clients.csv", index=False)
    sim.responses.rename(columns=RENAMED).to_excel(folder / "questionnaires.xlsx", index=False)
    return folder, [folder / "clients.csv", folder / "questionnaires.xlsx"]


@pytest.fixture(scope="session")
def drafted(user_files):
    folder, files = user_files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return init_project(files, out=folder / "draft")


def test_recognises_every_instrument_and_the_keys(drafted):
    assert drafted.instruments == ["wemwbs", "epds", "ucla3"]
    assert drafted.waves == ["baseline", "mid", "end", "follow_up"]
    dd = ek.DataDictionary.from_yaml(drafted.dictionary)
    assert (dd.id_column, dd.wave_column, dd.date_column) == ("participant_id", "wave",
                                                              "date_completed")
    assert dd.variable("participant_id").aliases == ("Client ID",)
    assert dd.variable("wave").aliases == ("Timepoint",)
    for original, header in RENAMED.items():
        if re.fullmatch(r"(epds|wemwbs|ucla3)_\d+", original):
            var = dd.variable(original)
            assert var.instrument == original.rsplit("_", 1)[0]
            # a header that already reads as the item's name needs no alias (WEMWBS-1)
            assert var.aliases in ((header,), ())
    # the simulator's mid-support questionnaire is due at week 6 (its dates scatter around it)
    assert [(w.name, w.week) for w in dd.waves][:2] == [("baseline", 0), ("mid", 6)]
    assert drafted.fix_first() == []


def test_every_guess_is_marked_and_questions_listed(drafted):
    text = drafted.dictionary.read_text(encoding="utf-8")
    for name in ("participant_id:", "wave:", "date_completed:", "- instrument: epds",
                 "- instrument: wemwbs", "- instrument: ucla3", "site:"):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(name))
        assert "# check" in line or "# QUESTION" in line, line
    assert "values 0–3 lie within the item range 0–3" in text
    asked = [q for _, _, q in drafted.questions]
    assert any("mech_understood" in q and "mechanism" in q for q in asked)
    assert any("end of support" in q for q in asked)
    plan = drafted.plan.read_text(encoding="utf-8")
    assert plan.count("  # QUESTION") == sum(f == "analysis_plan.yaml" for f, _, _ in drafted.questions)


def answer(drafted, name):
    """Answer the drafts' questions as a user would (the mechanism items, names, end wave).

    The answered files go to a sibling of the draft folder (the plan's relative paths still hold),
    so the drafts themselves stay as init wrote them for the other tests.
    """
    folder = drafted.plan.parent.parent / name
    folder.mkdir(exist_ok=True)
    dd = yaml.safe_load(drafted.dictionary.read_text(encoding="utf-8"))
    dd["study"] = "Mothers Together"
    responses = dd["datasets"]["questionnaires"]["variables"]
    for name in MECH:
        responses[name]["role"] = "mechanism"
    plan = yaml.safe_load(drafted.plan.read_text(encoding="utf-8"))
    plan["programme"] = "Mothers Together"
    plan["mechanisms"] = {"items": "all", "wave": "end", "mediation": False}
    plan["sensitivity"] = {"multiple_imputation": {"m": 2, "iterations": 2},
                           "tipping_point": {"deltas": [0, -2]}}
    (folder / "data_dictionary.yaml").write_text(yaml.safe_dump(dd, sort_keys=False))
    (folder / "analysis_plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return folder / "analysis_plan.yaml"


def test_answered_plan_checks_against_its_dictionary(drafted):
    path = answer(drafted, "answered_check")
    plan, dd = ek.load_plan(path)
    assert [o.instrument for o in plan.outcomes] == ["wemwbs", "epds", "ucla3"]
    assert plan.model.group == "delivery_mode" and plan.engagement.sessions == "sessions_attended"
    assert sorted(v.name for v in dd.by_role("mechanism")) == sorted(MECH)


@pytest.mark.slow      # the whole pipeline on 80 mothers
def test_answered_plan_runs_to_both_reports(drafted, tmp_path):
    path = answer(drafted, "answered_run")
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "report"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "impact.html").exists()
    assert (tmp_path / "report" / "technical.html").exists()


def test_redcap_project_through_init(tmp_path):
    project = write_project(tmp_path / "redcap", n=12, seed=6)
    result = init_project([project["metadata"], project["records"]], out=tmp_path / "draft")
    assert result.instruments == ["epds", "wemwbs"]
    assert result.waves == ["baseline", "6_weeks", "12_weeks"]
    plan = yaml.safe_load(result.plan.read_text(encoding="utf-8"))
    assert plan["data"]["files"] == ["../redcap/export.csv"]
    assert plan["model"]["group"] == "delivery_mode"
    assert result.fix_first() == []          # the incomplete forms are warnings only
    plan["programme"] = "x"
    result.plan.write_text(yaml.safe_dump(plan, sort_keys=False))
    ek.load_plan(result.plan)
    with pytest.raises(ek.SpecificationError, match="is a REDCap record export.*Data Dictionary"):
        init_project([project["records"]], out=tmp_path / "no_metadata")


def test_cli_lists_questions_and_refuses_to_overwrite(user_files, tmp_path):
    _, files = user_files
    runner = CliRunner()
    args = ["init", *map(str, files), "--out", str(tmp_path)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "instruments recognised (confirm each in data_dictionary.yaml): wemwbs, epds, ucla3" \
        in first.output
    assert "analysis_plan.yaml QUESTION 3: which wave is the end of support?" in first.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "exists; drafts never overwrite" in again.output
    missing = runner.invoke(cli, ["init", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "nope.csv" in missing.output
    assert "Traceback" not in again.output + missing.output


def test_what_cannot_be_guessed_is_asked_not_invented(tmp_path):
    sim = ek.simulate_cohort(n=12, seed=8)
    sim.responses.to_csv(tmp_path / "responses.csv", index=False)
    (tmp_path / "notes.csv").write_text("comment\nfine\nlate\n", encoding="utf-8")
    alone = init_project([tmp_path / "responses.csv"], out=tmp_path / "a")
    assert any("no file has one row per participant" in q for _, _, q in alone.questions)
    unkeyed = init_project([tmp_path / "notes.csv", tmp_path / "responses.csv"], out=tmp_path / "b")
    assert any("which column identifies the participant" in q for _, _, q in unkeyed.questions)
    first = unkeyed.fix_first()
    assert first[0] == "the drafted dictionary does not load until its questions are answered:"
    assert any("no variable has role 'id'" in line for line in first[1:])
