"""`evalkit fit`: estimates as ek.fit_mixed gives them, warnings on stderr, clean usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import evalkit as ek
from evalkit.cli import cli

DATA = Path(__file__).parent / "reference" / "data"
SLEEP = ["fit", str(DATA / "sleepstudy.csv"), "--outcome", "Reaction", "--fixed", "Days",
         "--subject", "Subject", "--random", "Days"]
SINGULAR = ["fit", str(DATA / "singular.csv"), "--outcome", "y", "--fixed", "weeks",
            "--subject", "id", "--random", "weeks"]


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def test_sleepstudy_json_matches_fit_mixed(tmp_path):
    out = tmp_path / "fit.json"
    result = _run(*SLEEP, "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "Reaction ~ Days + (1 + Days | Subject), REML" in result.stdout
    assert "180 observations, 18 subjects; converged" in result.stdout
    assert "warning:" not in result.output

    got = json.loads(out.read_text())
    want = ek.fit_mixed(pd.read_csv(DATA / "sleepstudy.csv"), outcome="Reaction", fixed="Days",
                        subject="Subject", random="Days")
    fixed = pd.DataFrame(got["fixed"])
    assert fixed["term"].tolist() == want.fixed["term"].tolist()
    for col in ("estimate", "std_error", "df", "p_value", "ci_low", "ci_high"):
        np.testing.assert_allclose(fixed[col], want.fixed[col], rtol=1e-10, err_msg=col)
    vc = pd.DataFrame(got["variance_components"]).astype({"variance": float, "sd": float,
                                                         "correlation": float})
    for col in ("variance", "sd", "correlation"):
        np.testing.assert_allclose(vc[col], want.variance_components[col], rtol=1e-10, err_msg=col)
    assert got["variance_components"][0]["correlation"] is None          # NaN -> null
    assert got["loglik"] == pytest.approx(want.loglik, rel=1e-12)
    assert got["aic"] == pytest.approx(want.aic, rel=1e-12)
    assert got["bic"] == pytest.approx(want.bic, rel=1e-12)
    assert (got["n_obs"], got["n_groups"]) == (180, 18)
    assert got["converged"] is True and got["singular"] is False
    assert got["warnings"] == [] and got["exclusions"] == []


def test_singular_fit_warns_on_stderr(tmp_path):
    out = tmp_path / "fit.json"
    result = _run(*SINGULAR, "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "SINGULAR fit" in result.stdout
    assert "warning: singular fit" in result.stderr
    assert "--simplify" in result.stderr
    got = json.loads(out.read_text())
    assert got["singular"] is True
    assert any(w.startswith("singular fit") for w in got["warnings"])


def test_simplify_records_each_step(tmp_path):
    out = tmp_path / "fit.json"
    result = _run(*SINGULAR, "--simplify", "--json", str(out))
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert got["model"] == "y ~ weeks + (1 | id), REML"
    assert len(got["simplification"]) == 2
    assert "refitted as y ~ weeks + (1 + weeks || id)" in got["simplification"][0]
    assert all(step in got["warnings"] for step in got["simplification"])
    assert f"warning: {got['simplification'][0]}" in result.stderr
    assert "y ~ weeks + (1 | id), REML" in result.stdout


def test_json_to_stdout_replaces_summary():
    result = _run(*SLEEP, "--ml", "--uncorrelated", "--json", "-")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["model"] == "Reaction ~ Days + (1 + Days || Subject), ML"


@pytest.mark.parametrize("change, message", [
    ({"--fixed": "Days + nope"}, "`nope` is not present"),
    ({"--outcome": "Reaktion"}, "['Reaktion'] not in the data"),
    ({"--reference": "mode=group"}, "reference level given for 'mode'"),
    ({"--fixed": "Days +* "}, "cannot build the model"),
])
def test_usage_errors_exit_2_with_one_line(change, message):
    options = {**dict(zip(SLEEP[2::2], SLEEP[3::2])), **change}
    result = _run("fit", SLEEP[1], *[x for pair in options.items() for x in pair])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_text_in_outcome_is_a_data_problem(tmp_path):
    lines = (DATA / "sleepstudy.csv").read_text().splitlines()
    lines[4] = "slow," + lines[4].split(",", 1)[1]
    bad = tmp_path / "sleep.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = _run("fit", str(bad), *SLEEP[2:])
    assert result.exit_code == 1, result.output
    assert "'slow' on line 5" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("target, words", [
    ("notes.txt/fit.json", "notes.txt is a file, not a folder; choose a path inside a folder"),
    ("readonly/fit.json", "is not writable (Permission denied)"),
])
def test_unwritable_json_path_is_refused_before_fitting(tmp_path, target, words):
    import os
    import shutil
    import subprocess
    import sys

    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "readonly").mkdir(mode=0o555)
    prefix = []
    if target.startswith("readonly") and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only folder is writable")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    # data that would fail (exit 1): the output path is checked first, so they are never read
    args = ["fit", str(tmp_path / "sleep.csv"), *SLEEP[2:], "--json", str(tmp_path / target)]
    (tmp_path / "sleep.csv").write_text("Reaction,Days,Subject\nslow,0,1\n")
    proc = subprocess.run([*prefix, sys.executable, "-m", "evalkit.cli", *args],
                          capture_output=True, text=True, timeout=60)
    (tmp_path / "readonly").chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write --json {tmp_path / target}: ")
    assert proc.stderr.count("\n") == 1, "one line"
    assert words in proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    assert "not numeric" not in proc.stderr, "the data were read before the check"
    assert not (tmp_path / target).exists()


def test_subject_defaults_to_participant_id(tmp_path):
    """As in ek.fit_mixed, the subject column is participant_id unless --subject names another."""
    data = pd.read_csv(DATA / "sleepstudy.csv").rename(columns={"Subject": "participant_id"})
    path = tmp_path / "sleep.csv"
    data.to_csv(path, index=False)
    result = _run("fit", str(path), "--outcome", "Reaction", "--fixed", "Days", "--random", "Days")
    assert result.exit_code == 0, result.output
    assert "Reaction ~ Days + (1 + Days | participant_id), REML" in result.stdout
