"""Outcomes the models cannot fit end in reports that say why, never in a traceback (issue 12).

Each case runs ``evalkit run`` as a subprocess on a cohort broken in one ordinary way and checks:
exit 0, no "Traceback", audited reports written, and the technical report says in plain words
what could not be done. Two cases run in the default suite, the rest are ``slow``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import cohort, dictionary, html_text, plan


def _constant(people, responses):
    for k in range(1, 15):
        col = f"wemwbs_{k}"
        responses[col] = responses[col].where(responses[col].isna(), 3)


def _baseline_only(people, responses):
    responses.drop(responses.index[responses["wave"] != "baseline"], inplace=True)


def _no_end(people, responses):
    responses.drop(responses.index[responses["wave"] == "end"], inplace=True)


def _separation(people, responses):
    # every mother in group support disengages, nobody else does: Cox cannot separate the effect
    started = people["started"].eq(True)
    people.loc[started & people["delivery_mode"].eq("group"), "exit_reason"] = "disengaged"
    people.loc[started & people["delivery_mode"].ne("group"), "exit_reason"] = "completed"


CASES = {
    "constant outcome": (40, _constant, None, "there is no variation to model"),
    "three mothers": (3, None, None, "could not"),
    "one mother": (1, None, None, "could not"),
    "only the baseline wave": (40, _baseline_only, None, "same point in time"),
    "no end wave": (40, _no_end, None, "not measured at every wave"),
    "a $ in a level label": (40, None, {"north": "$5 voucher$ area"}, None),
    "separation in the Cox model": (60, _separation, None, None),
}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=() if c in ("constant outcome", "three mothers") else pytest.mark.slow)
    for c in CASES])
def test_unfittable_data_give_reports_that_say_why(tmp_path, case):
    n, modify, labels, reason = CASES[case]
    cohort(tmp_path / "data", n=n, seed=3, modify=modify)
    dd = dictionary(tmp_path, site_labels=labels) if labels else None
    p = plan(tmp_path, dictionary_path=dd)
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(p), "--no-progress",
                           "--out", str(tmp_path / "report")], capture_output=True, text=True)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    technical = html_text(tmp_path / "report" / "technical.html")
    if reason:
        assert reason in technical, technical[:3000]
    assert "please report this" not in technical, technical[:3000]
    for name in ("model_cox", "model_attrition_model"):
        path = tmp_path / "report" / "tables" / f"{name}.csv"
        if path.exists():
            text = path.read_text()
            assert "e+" not in text and "inf" not in text, text
