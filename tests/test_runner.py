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
