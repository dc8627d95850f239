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
