"""Analysis plan schema: the bundled plan loads; every mistake is named with its key and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import evalkit as ek
from evalkit.demo import example_plan_path
from evalkit.errors import PlanError
from evalkit.plan import AnalysisPlan, load_plan

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _plan_text(tmp_path, extra: str = "", outcomes: str = "  - instrument: wemwbs\n    primary: true\n") -> str:
    dd = ek.example_dictionary_path().resolve()
    return (f"programme: Test\ndata:\n  dictionary: {dd}\n  files: [a.csv]\n"
            f"outcomes:\n{outcomes}{extra}")


def test_bundled_plan_loads_and_matches_the_dictionary():
    plan, dd = load_plan(example_plan_path())
    assert plan.primary_outcome.instrument == "wemwbs"
    assert [o.instrument for o in plan.outcomes] == ["wemwbs", "epds", "ucla3"]
    assert plan.report.suppression_threshold == 5
    assert plan.sha256 and len(plan.sha256) == 64
    assert (ROOT / "analyses" / "example_plan.yaml").read_bytes() == example_plan_path().read_bytes()


def test_typo_in_a_key_is_named_with_line_and_suggestion(tmp_path):
    text = _plan_text(tmp_path, "report:\n  audience: [impact]\n  suppresion_threshold: 10\n")
    with pytest.raises(PlanError) as err:
        AnalysisPlan.from_yaml(_write(tmp_path, text))
    message = str(err.value)
    assert "report.suppresion_threshold (line 10)" in message
    assert "did you mean 'suppression_threshold'?" in message
    assert err.value.problems == [("report.suppresion_threshold", 10,
                                   "unknown key 'suppresion_threshold' (did you mean "
                                   "'suppression_threshold'?)")]


def test_every_shape_problem_is_listed_at_once(tmp_path):
    text = _plan_text(tmp_path, "contxts: {}\ntime:\n  change: [12, 0]\nreport:\n  suppression_threshold: 0\n",
                      outcomes="  - instrument: wemwbs\n    primery: true\n")
    with pytest.raises(PlanError) as err:
        AnalysisPlan.from_yaml(_write(tmp_path, text))
    paths = [p for p, _, _ in err.value.problems]
    assert paths == ["outcomes.0.primery", "time.change", "report.suppression_threshold", "contxts"] or \
        sorted(paths) == sorted(["outcomes.0.primery", "time.change", "report.suppression_threshold",
                                 "contxts"])
    assert "4 problems" in str(err.value)


def test_names_are_checked_against_dictionary_and_registry(tmp_path):
    text = _plan_text(tmp_path, "contexts:\n  variables: [site, deprivation]\ntime:\n  end_wave: ending\n",
                      outcomes="  - instrument: wembws\n  - instrument: phq9\n")
    with pytest.raises(PlanError) as err:
        load_plan(_write(tmp_path, text))
    found = {p: msg for p, _, msg in err.value.problems}
    assert "did you mean 'wemwbs'" in found["outcomes.0.instrument"]
    assert "not in the data dictionary's item sets" in found["outcomes.1.instrument"]
    assert "'deprivation' is not a variable" in found["contexts.variables.1"]
    assert "wave 'ending' is not in the dictionary" in found["time.end_wave"]
    lines = {p: line for p, line, _ in err.value.problems}
    assert lines["contexts.variables.1"] == 9


def test_two_primary_outcomes_rejected(tmp_path):
    text = _plan_text(tmp_path, outcomes="  - {instrument: wemwbs, primary: true}\n"
                                         "  - {instrument: epds, primary: true}\n")
    with pytest.raises(PlanError, match="only one outcome can be primary"):
        AnalysisPlan.from_yaml(_write(tmp_path, text))


def test_invalid_yaml_gives_the_line(tmp_path):
    with pytest.raises(PlanError, match=r"at line 4: not valid YAML"):
        AnalysisPlan.from_yaml(_write(tmp_path, "programme: x\ndata:\n  - [unclosed\n"))


def test_missing_plan_file():
    with pytest.raises(PlanError, match="cannot read analysis plan"):
        AnalysisPlan.from_yaml("no/such/plan.yaml")


def test_cli_run_with_a_typo_exits_2_without_traceback(tmp_path):
    path = _write(tmp_path, _plan_text(tmp_path, "modle:\n  fixed: weeks\n"))
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "modle" in proc.stderr and "did you mean 'model'" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------- values checked at load time
def _problems(tmp_path, extra: str, outcomes: str | None = None, *, against_dictionary=False):
    kwargs = {} if outcomes is None else {"outcomes": outcomes}
    path = _write(tmp_path, _plan_text(tmp_path, extra, **kwargs))
    with pytest.raises(PlanError) as err:
        (load_plan if against_dictionary else AnalysisPlan.from_yaml)(path)
    return {p: msg for p, _, msg in err.value.problems}, err.value


def test_bootstrap_below_200_is_refused_at_load(tmp_path):
    found, err = _problems(tmp_path, "mechanisms:\n  bootstrap: 50\n")
    assert found == {"mechanisms.bootstrap": "bootstrap is 50, but bootstrap confidence intervals "
                     "need at least 200 resamples (1000 or more recommended); set bootstrap: 1000"}
    assert err.problems[0][1] == 9
    plan = AnalysisPlan.from_yaml(_write(tmp_path, _plan_text(tmp_path, "mechanisms:\n  bootstrap: 200\n")))
    assert plan.mechanisms.bootstrap == 200


def test_several_different_mistakes_come_out_in_one_error(tmp_path):
    extra = ("seed: -1\n"                                     # bad value
             "modle: {}\n"                                    # unknown key
             "time:\n  change: [0, .inf]\n"                   # not finite
             "contexts:\n  min_group_size: many\n"            # wrong type
             "mechanisms:\n  bootstrap: 50\n  items: [mech_hope, mech_hope]\n"
             "engagement:\n  risk_times: [0, 8, 4]\n"
             "sensitivity:\n  multiple_imputation: {m: 1}\n  tipping_point: {deltas: [0, 0]}\n"
             "report:\n  suppression_threshold: 0\n  audience: []\n")
    found, err = _problems(tmp_path, extra, outcomes="  - instrument: wemwbs\n  - instrument: wemwbs\n"
                                                      "    primry: true\n")
    assert set(found) == {"seed", "modle", "time.change.1", "contexts.min_group_size",
                          "mechanisms.bootstrap", "mechanisms.items", "engagement.risk_times",
                          "sensitivity.multiple_imputation.m", "sensitivity.tipping_point.deltas",
                          "report.suppression_threshold", "report.audience", "outcomes",
                          "outcomes.1.primry"}, found
    message = str(err)
    assert message.startswith(f"{tmp_path / 'plan.yaml'}: 13 problems in the analysis plan\n")
    assert "did you mean 'model'" in found["modle"]
    assert found["outcomes"] == "outcome(s) ['wemwbs'] are listed more than once; list each once"
    assert "listed more than once" in found["mechanisms.items"]
    assert "increasing order" in found["engagement.risk_times"]
    assert "at least 2 imputed data sets" in found["sensitivity.multiple_imputation.m"]
    assert "at least one non-zero shift" in found["sensitivity.tipping_point.deltas"]
    assert "list [0] more than once" in found["sensitivity.tipping_point.deltas"]
    assert "must be at least 1" in found["report.suppression_threshold"]
    lines = [line for _, line, _ in err.problems]
    assert lines == sorted(lines), "listed in the order of the file"


@pytest.mark.parametrize("extra, path, words", [
    ("engagement:\n  risk_times: [-4, 0, 4]\n", "engagement.risk_times", "negative week"),
    ("engagement:\n  risk_times: [0, 4, 4]\n", "engagement.risk_times", "each week once"),
    ("sensitivity:\n  tipping_point: {deltas: []}\n", "sensitivity.tipping_point.deltas",
     "at least one non-zero shift"),
    ("sensitivity:\n  tipping_point: {deltas: [0, -2, 2]}\n", "sensitivity.tipping_point.deltas",
     "mix positive and negative"),
    ("sensitivity:\n  multiple_imputation: {iterations: 0}\n",
     "sensitivity.multiple_imputation.iterations", "at least 1 cycle"),
    ("time:\n  baseline_wave: end\n", "time.end_wave", "is the baseline wave"),
    ("report:\n  population:\n    site: {source: x, percent: {north: 120}}\n",
     "report.population.site.percent", "between 0 and 100"),
    ("source: elsewhere.yaml\n", "source", "unknown key 'source'"),
])
def test_run_time_refusals_are_load_time_problems(tmp_path, extra, path, words):
    found, _ = _problems(tmp_path, extra)
    assert path in found and words in found[path], found


def test_values_are_checked_against_the_dictionary(tmp_path):
    extra = ("time:\n  change: [0, 30]\n"
             "contexts:\n  johnson_neyman: [site, isolation]\n"
             "sensitivity:\n  multiple_imputation: {predictors: [wemwbs, epds]}\n")
    found, err = _problems(tmp_path, extra, against_dictionary=True)
    assert set(found) == {"time.change", "contexts.johnson_neyman.0",
                          "sensitivity.multiple_imputation.predictors.0"}
    assert "reaches outside the weeks the modelled waves cover (0 to 20" in found["time.change"]
    assert "e.g. [0, 12]" in found["time.change"]
    assert "needs a numeric moderator" in found["contexts.johnson_neyman.0"]
    assert "is the primary outcome" in found["sensitivity.multiple_imputation.predictors.0"]
    assert [line for _, line, _ in err.problems] == [9, 11, 13]


def test_data_files_name_datasets_of_the_dictionary(tmp_path):
    text = _plan_text(tmp_path).replace("files: [a.csv]", "files: {participants: p.csv, respones: r.csv}")
    with pytest.raises(PlanError, match=r"data\.files\.respones \(line 4\): 'respones' is not a "
                                        r"dataset of the data dictionary \(did you mean 'responses'\?\)"):
        load_plan(_write(tmp_path, text))


# ---------------------------------------------------------------------- model.random in lme4 syntax
VOLUNTEERS = "(1 + weeks | participant_id) + (1 | volunteer_id)"


def test_random_terms_in_lme4_syntax_load(tmp_path):
    plan = AnalysisPlan.from_yaml(_write(tmp_path, _plan_text(
        tmp_path, f'model:\n  random: "{VOLUNTEERS}"\n')))
    assert plan.model.random == VOLUNTEERS and plan.model.several_terms
    assert plan.model.mother_random("participant_id") == "weeks"
    assert plan.model.ddf_for(300) == "kenward-roger", "auto: Kenward-Roger for them too"
    assert plan.model.ddf_for(5000) == "satterthwaite"
    short = AnalysisPlan.from_yaml(_write(tmp_path, _plan_text(tmp_path)))
    assert not short.model.several_terms and short.model.ddf_for(300) == "kenward-roger"


@pytest.mark.parametrize("random, words", [
    ("(1 + weeks | participant_id) + (1 volunteer_id)", "'(1 volunteer_id)' has no '|'"),
    ("(1 + weeks | participant_id) + (1 | volunteer_id", "is not closed"),
    ("(1 + weeks)", "has parentheses but no '|'"),
    ("(1 | site/)", "is not a grouping factor"),
])
def test_unreadable_random_terms_are_named_with_line_and_fix(tmp_path, random, words):
    found, err = _problems(tmp_path, f'model:\n  fixed: weeks\n  random: "{random}"\n')
    assert set(found) == {"model.random"}, found
    assert words in found["model.random"]
    assert "e.g. (" in found["model.random"], "says how to write it"
    assert err.problems[0][1] == 10, "the line of model.random"


def test_several_terms_need_the_fast_engine(tmp_path):
    found, _ = _problems(tmp_path, f'model:\n  random: "{VOLUNTEERS}"\n  engine: statsmodels\n')
    assert set(found) == {"model.engine"} and "use engine: fast" in found["model.engine"], found


def test_several_terms_take_kenward_roger(tmp_path):
    plan = AnalysisPlan.from_yaml(_write(tmp_path, _plan_text(
        tmp_path, f'model:\n  random: "{VOLUNTEERS}"\n  ddf: kenward-roger\n')))
    assert plan.model.ddf_for(300) == "kenward-roger"


@pytest.mark.parametrize("random, words", [
    ("(1 + weeks | participant_id) + (1 | volunter_id)",
     "'volunter_id' is not a variable in the data dictionary (did you mean 'volunteer_id'?)"),
    ("(1 | volunteer_id) + (1 + weeks | participant_id)",
     "the first term must be the mother's, (... | participant_id): move "
     "(1 + weeks | participant_id) to the front"),
    ("(1 | site/volunteer_id)", "no term groups by the mother (participant_id); start "
     "model.random with (1 + weeks | participant_id)"),
])
def test_random_grouping_factors_are_checked_against_the_dictionary(tmp_path, random, words):
    found, err = _problems(tmp_path, f'model:\n  random: "{random}"\n', against_dictionary=True)
    assert found == {"model.random": words}
    assert err.problems[0][1] == 9
