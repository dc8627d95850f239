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
    # one case in the default suite (each is a whole run); the rest run with -m slow (CI)
    pytest.param(c, marks=() if c == "three mothers" else pytest.mark.slow)
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


def test_a_renamed_identifier_column_stops_the_run_with_one_clear_problem(tmp_path):
    # issue 12: `Participant_ID` gave KeyError: 'participant_id' in validate, score and run
    paths = cohort(tmp_path / "data", n=12, seed=2)
    import pandas as pd

    responses = pd.read_csv(tmp_path / "data" / "responses.csv")
    responses.rename(columns={"participant_id": "Client Ref"}).to_csv(
        tmp_path / "data" / "responses.csv", index=False)
    p = plan(tmp_path, mi=False, mechanisms=False)
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(p), "--no-progress",
                           "--out", str(tmp_path / "report")], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "responses.csv" in proc.stderr and "participant_id" in proc.stderr
    assert "Client Ref" in proc.stderr and "aliases" in proc.stderr, proc.stderr
    assert not (tmp_path / "report").exists()
    del paths


def test_estimates_the_data_cannot_identify_are_withheld_with_the_reason():
    # issue 12: "HR 3.4e-09 (0.0000 to inf)" and an odds ratio of 8.2e26 were published
    import numpy as np
    import pandas as pd

    from evalkit.pipeline.models import _withhold_unidentified

    cox = pd.DataFrame({"term": ["a", "b"], "estimate": [-19.5, 0.3], "std_error": [2100.0, 0.2],
                        "hazard_ratio": [3.4e-9, 1.35], "hr_ci_low": [0.0, 0.9],
                        "hr_ci_high": [np.inf, 2.0]})
    out = _withhold_unidentified(cox)
    assert out.loc[0, ["estimate", "hazard_ratio", "hr_ci_high"]].isna().all()
    assert out.loc[0, "status"].startswith("not estimable")
    assert out.loc[1, "hazard_ratio"] == 1.35 and out.loc[1, "status"] == ""
    odds = pd.DataFrame({"term": ["x"], "estimate": [61.97], "std_error": [1.2],
                         "odds_ratio": [8.2e26]})
    assert _withhold_unidentified(odds)["odds_ratio"].isna().all()
