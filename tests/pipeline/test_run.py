"""Running a plan: data problems, safe and atomic outputs, and plan variants that must not crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import DataValidationError
from evalkit.pipeline import AuditFailed, run_plan
from evalkit.pipeline.write import ReportWriter, verify_report

from ..report.conftest import light_plan

CLI = [sys.executable, "-m", "evalkit.cli"]


def _cli(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_data_problems_stop_the_run_and_leave_no_skeleton(tmp_path):
    plan = light_plan(tmp_path, corrupt=True)
    with pytest.raises(DataValidationError, match=r"responses\.csv:6 \[wemwbs_3\]"):
        run_plan(plan, out=tmp_path / "report")
    assert not (tmp_path / "report").exists(), "a stopped run leaves no report folder at all"
    problems = tmp_path / "report-restricted" / "data_problems.csv"
    assert problems.is_file() and oct(problems.stat().st_mode & 0o777) == "0o600"
    proc = _cli("run", plan, "--no-progress", "--out", tmp_path / "report")
    assert proc.returncode == 1 and "wemwbs_3" in proc.stderr and "Traceback" not in proc.stderr


def test_a_stopped_run_keeps_the_previous_complete_report(tmp_path):
    plan = light_plan(tmp_path)
    first = run_plan(plan, out=tmp_path / "report")
    before = {p: p.read_bytes() for p in first.out.rglob("*") if p.is_file()}
    light_plan(tmp_path, corrupt=True)                    # same plan, now with a data problem
    with pytest.raises(DataValidationError):
        run_plan(plan, out=tmp_path / "report")
    after = {p: p.read_bytes() for p in first.out.rglob("*") if p.is_file()}
    assert after == before and verify_report(first.out) == []


def test_excluded_problems_become_missing_and_are_counted_through_the_layer(tmp_path):
    plan = light_plan(tmp_path, on_problems="exclude", corrupt=True)
    result = run_plan(plan, out=tmp_path / "report")
    checks = result.tables["data_checks"]
    row = checks[checks["check"].str.startswith("data values")]
    # one problem is a count below the threshold: counted, but not published as "1"
    assert row["n"].isna().all()
    restricted = pd.read_csv(tmp_path / "report-restricted" / "data_problems.csv")
    assert restricted[["line", "column", "value"]].values.tolist() == [[6, "wemwbs_3", 9]]
    assert result.tables["participant_flow"]["n"].iloc[0] == 90


def test_a_rerun_with_fewer_outcomes_leaves_no_stale_file(tmp_path):
    plan = light_plan(tmp_path)
    text = plan.read_text(encoding="utf-8")
    plan.write_text(text.replace("outcomes: [{instrument: wemwbs}]",
                                 "outcomes: [{instrument: wemwbs}, {instrument: epds}]"),
                    encoding="utf-8")
    first = run_plan(plan, out=tmp_path / "report")
    assert list(first.out.glob("tables/epds_*.csv"))
    plan.write_text(text, encoding="utf-8")
    second = run_plan(plan, out=tmp_path / "report")
    assert not list(second.out.rglob("epds_*")), "files of a dropped outcome survived"
    assert verify_report(second.out) == []
    listed = set(json.loads((second.out / "manifest.json").read_text())["files"])
    present = {p.relative_to(second.out).as_posix() for p in second.out.rglob("*") if p.is_file()}
    assert present - {"manifest.json"} == listed


@pytest.mark.slow          # two whole runs (~23 s): in CI's slow suite, out of the 5-minute default
def test_out_dot_keeps_the_restricted_folder_outside_and_out_dotdot_is_refused(tmp_path):
    plan = light_plan(tmp_path)
    here = tmp_path / "reports" / "spring"
    here.mkdir(parents=True)
    proc = _cli("run", plan.resolve(), "--no-progress", "--out", ".", cwd=here)
    assert proc.returncode == 0, proc.stderr
    assert (here / "impact.html").is_file()
    restricted = tmp_path / "reports" / "spring-restricted"
    assert restricted.is_dir() and not (here / "-restricted").exists()
    assert oct(restricted.stat().st_mode & 0o777) == "0o700"
    # ".." from inside the report folder is the report folder: restricted outputs still go
    # beside it, never to "../..-restricted"
    inner = here / "sub"
    inner.mkdir()
    proc = _cli("run", plan.resolve(), "--no-progress", "--out", "..", cwd=inner)
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("..-restricted")) and not list(tmp_path.rglob("-restricted"))
    assert verify_report(here) == []
    # a folder holding someone's other files is never replaced
    project = tmp_path / "project"
    (project / "work").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    proc = _cli("run", plan.resolve(), "--no-progress", "--out", "..", cwd=project / "work")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "holds other files" in proc.stderr and (project / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "project-restricted").exists()


def test_demo_data_go_to_the_restricted_folder_not_the_report(tmp_path, monkeypatch):
    from evalkit import demo

    seen = {}

    def fake_run(plan, out, progress, **options):     # pdf=... among them
        seen["files"], seen["out"] = plan.data.files, out
        raise DataValidationError("stop here")

    monkeypatch.setattr("evalkit.pipeline.run.run_plan", fake_run)
    with pytest.raises(DataValidationError):
        demo.run_demo(tmp_path / "demo", n=20, seed=1)
    for path in seen["files"].values():
        assert Path(path).is_relative_to(tmp_path / "demo-restricted"), path
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "demo" / "data").exists()


def test_an_audit_finding_marks_the_report_not_for_publication(tmp_path, monkeypatch):
    plan = light_plan(tmp_path)

    def finds(folder, **kw):
        return pd.DataFrame([{"table": "reach", "row": "site=x", "column": "n",
                              "finding": "planted for the test"}])

    monkeypatch.setattr("evalkit.report.disclosure.audit.audit_folder", finds)
    with pytest.raises(AuditFailed, match="NOT FOR PUBLICATION"):
        run_plan(plan, out=tmp_path / "report")
    out = tmp_path / "report"
    assert "planted for the test" in (out / "NOT_FOR_PUBLICATION.txt").read_text()
    assert json.loads((out / "manifest.json").read_text())["audit"]["findings"] == 1


def test_a_killed_run_leaves_the_previous_report_or_a_complete_new_one(tmp_path):
    plan = light_plan(tmp_path)
    out = tmp_path / "report"
    first = run_plan(plan, out=out)
    previous = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for delay in (1.0, 4.0):
        proc = subprocess.Popen([*CLI, "run", str(plan), "--no-progress", "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the next run starts by recovering what a killed run left: the previous report
        ReportWriter(out).abort()
        assert out.is_dir() and verify_report(out) == [], delay
        now = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert now == previous or set(now) == set(previous), delay
    assert first.findings.empty


VARIANTS = {
    "population all, grouped by site": (
        "outcomes: [{instrument: epds}]\n"
        "model: {population: all, fixed: weeks * site, group: site}\nmechanisms: null\n"
        "sensitivity: {multiple_imputation: {m: 3, iterations: 3}, tipping_point: {deltas: [0, 2, 4]}}\n"),
    "no engagement section": (
        "outcomes: [{instrument: ucla3, primary: true}, {instrument: wemwbs}]\nengagement: null\n"
        "mechanisms: {mediation: false}\nsensitivity: {multiple_imputation: null}\n"),
    "impact only, threshold 10": (
        "outcomes: [{instrument: wemwbs}]\nreport: {audience: [impact], suppression_threshold: 10}\n"
        "contexts: {variables: [ethnicity, imd_quintile]}\nmechanisms: {bootstrap: 200}\n"
        "sensitivity: {multiple_imputation: {m: 3, iterations: 3}, tipping_point: null}\n"),
    "no group": (
        "outcomes: [{instrument: wemwbs}]\nmodel: {fixed: weeks, group: null}\nmechanisms: null\n"
        "sensitivity: {multiple_imputation: null}\n"),
}


@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=pytest.mark.slow) if v != "impact only, threshold 10" else v
    for v in VARIANTS])
def test_plan_variants_run_to_reports(tmp_path, variant):
    """Optional sections switched off or changed: the run still ends in audited reports."""
    plan = light_plan(tmp_path)
    head = plan.read_text(encoding="utf-8").split("outcomes:")[0]
    plan.write_text(head + VARIANTS[variant], encoding="utf-8")
    result = run_plan(plan, out=tmp_path / "report")
    audience = ["impact"] if "impact only" in variant else ["impact", "technical"]
    assert sorted(p.stem for p in result.out.glob("*.html")) == sorted(audience)
    assert result.findings.empty
    if "threshold 10" in variant:
        reach = result.tables["reach_by_context"]
        shown = reach["referred"].dropna()
        assert (shown.eq(0) | shown.ge(10)).all(), reach
    # every failure is a named step with a plain reason, never an exception that escaped
    assert all(isinstance(m, str) and m for m in result.failures["message"])
    crashed = result.failures[~result.failures["kind"].isin(["not applicable"])]
    assert not crashed["kind"].isin(["TypeError", "KeyError", "AttributeError", "ValueError",
                                     "IndexError", "NameError"]).any(), crashed.to_string()


def test_restricted_outputs_of_an_earlier_run_do_not_survive(tmp_path):
    plan = light_plan(tmp_path, on_problems="exclude", corrupt=True)
    run_plan(plan, out=tmp_path / "report")
    problems = tmp_path / "report-restricted" / "data_problems.csv"
    assert problems.is_file()
    light_plan(tmp_path, on_problems="exclude")             # the data fixed
    run_plan(plan, out=tmp_path / "report")
    assert not problems.exists(), "an old list of data problems passed for the new run's"
