"""The plan runner's handling of data problems: stop and list them all, or exclude and count them.

The full report (suppression, identifiers, alt text, browser) is tested in tests/report/test_render.py.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from evalkit.errors import DataValidationError
from evalkit.runner import run_plan

from .report.conftest import light_plan


def test_data_problems_stop_the_run_with_file_line_and_column(tmp_path):
    plan = light_plan(tmp_path, corrupt=True)
    with pytest.raises(DataValidationError, match=r"responses\.csv:6 \[wemwbs_3\]"):
        run_plan(plan, out=tmp_path / "report")
    assert not (tmp_path / "report" / "impact.html").exists()
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(plan), "--no-progress",
                           "--out", str(tmp_path / "report")], capture_output=True, text=True)
    assert proc.returncode == 1 and "wemwbs_3" in proc.stderr and "Traceback" not in proc.stderr


def test_excluded_problems_are_counted_and_reported(tmp_path):
    plan = light_plan(tmp_path, on_problems="exclude", corrupt=True)
    result = run_plan(plan, out=tmp_path / "report")
    flow = pd.read_csv(tmp_path / "report" / "tables" / "participant_flow.csv")
    assert flow["stage"].iloc[0] == "participants: read"
    html = (tmp_path / "report" / "technical.html").read_text(encoding="utf-8")
    # the invalid cell became missing: the mother's WEMWBS at that wave is prorated or missing,
    # and the run says so instead of dropping her
    assert result.facts["n_referred"] == 90
    assert "wemwbs" in result.facts["outcomes"]
    problems = pd.read_csv(tmp_path / "report" / "tables" / "model_data_problems.csv")
    assert problems.to_dict("records") == [{"file": "responses.csv", "column": "wemwbs_3",
                                            "rule": "range", "severity": "error", "cells": 1}]
    restricted = pd.read_csv(tmp_path / "report-restricted" / "data_problems.csv")
    assert restricted[["line", "column", "value"]].values.tolist() == [[6, "wemwbs_3", 9]]
    assert "1 data value(s) broke the data dictionary" in (
        tmp_path / "report" / "impact.html").read_text(encoding="utf-8")
    assert "Data values that broke the dictionary&#39;s rules" in html
    assert (tmp_path / "report" / "impact.html").is_file()


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
        "contexts: {variables: [ethnicity, imd_quintile]}\nmechanisms: {bootstrap: 60}\n"
        "sensitivity: {multiple_imputation: {m: 3, iterations: 3}, tipping_point: null}\n"),
    "no group": (
        "outcomes: [{instrument: wemwbs}]\nmodel: {fixed: weeks, group: null}\nmechanisms: null\n"
        "sensitivity: {multiple_imputation: null}\n"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_plan_variants_run_to_reports(tmp_path, variant):
    """Optional sections switched off or changed: the run still ends in reports, never a crash."""
    plan = light_plan(tmp_path)
    head = plan.read_text(encoding="utf-8").split("outcomes:")[0]
    plan.write_text(head + VARIANTS[variant], encoding="utf-8")
    result = run_plan(plan, out=tmp_path / "report")
    audience = ["impact"] if "impact only" in variant else ["impact", "technical"]
    assert sorted(p.stem for p in result.out.glob("*.html")) == sorted(audience)
    if "threshold 10" in variant:
        reach = result.tables["reach_by_context"]
        shown = reach["referred"].dropna()
        assert (shown.eq(0) | shown.ge(10)).all(), reach
    # every failure is a named step with a reason, never an exception
    assert all(isinstance(m, str) and m for m in result.failures["message"])
