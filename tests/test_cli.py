"""The command line, end to end: simulate, validate (clean and with planted defects), demo."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

import evalkit as ek
from evalkit.cli import cli


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(cli, ["simulate", "--n", "120", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _validate(*args):
    return CliRunner().invoke(cli, ["validate", *map(str, args),
                                    "--dictionary", str(ek.example_dictionary_path()),
                                    "--today", "2026-01-01"])


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_simulated_cohort_validates_cleanly(simulated):
    result = _validate(simulated / "responses.csv", simulated / "participants.csv")
    assert result.exit_code == 0, result.output
    assert "No problems found." in result.output
    assert "participants: 120 records, 120 participants" in result.output


def test_planted_defects_are_each_listed(simulated, tmp_path):
    resp, people = _rows(simulated / "responses.csv"), _rows(simulated / "participants.csv")
    rh, ph = resp[0], people[0]
    resp[5][rh.index("epds_4")] = "7"                    # item out of range: line 6
    resp[9][rh.index("wemwbs_2")] = "often"              # text in a numeric item: line 10
    resp.append(list(resp[12]))                          # duplicated row: new last line
    dup_line, dup_id = len(resp), resp[12][0]
    people[3][ph.index("delivery_mode")] = "telephone"   # undeclared category code: line 4
    gone = people.pop(20)[0]                             # participant missing from participants.csv
    for name, rows in (("responses.csv", resp), ("participants.csv", people)):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    out_json = tmp_path / "problems.json"
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "responses.csv"),
                                      str(tmp_path / "participants.csv"), "--dictionary",
                                      str(ek.example_dictionary_path()), "--json", str(out_json)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    problems = json.loads(out_json.read_text())
    found = {(p["rule"], p["file"].rsplit("/", 1)[-1], p["line"], p["column"]) for p in problems}
    assert ("range", "responses.csv", 6, "epds_4") in found
    assert ("type", "responses.csv", 10, "wemwbs_2") in found
    assert ("duplicate_key", "responses.csv", dup_line, "participant_id × wave") in found
    assert ("level", "participants.csv", 4, "delivery_mode") in found
    unknown = [p for p in problems if p["rule"] == "unknown_participant"]
    assert unknown and {p["participant_id"] for p in unknown} == {gone}
    assert {p["participant_id"] for p in problems if p["rule"] == "duplicate_key"} == {dup_id}
    assert len(problems) == 4 + len(unknown)
    assert "responses.csv:6 [epds_4]" in result.output


def test_data_problem_via_real_process_has_no_traceback(simulated, tmp_path):
    bad = tmp_path / "responses.csv"
    bad.write_text((simulated / "responses.csv").read_text().replace("\n", "\nx,y,z\n", 1))
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "validate", str(bad),
                           str(simulated / "participants.csv"), "--dictionary",
                           str(ek.example_dictionary_path())], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bad_dictionary_is_a_usage_error(simulated, tmp_path):
    (tmp_path / "dd.yaml").write_text("study: x\n")
    result = CliRunner().invoke(cli, ["validate", str(simulated / "responses.csv"), "--dictionary",
                                      str(tmp_path / "dd.yaml")])
    assert result.exit_code == 2
    assert "required key 'waves' is missing" in result.output


def test_json_to_stdout(simulated):
    result = CliRunner().invoke(cli, ["validate", str(simulated / "responses.csv"),
                                      str(simulated / "participants.csv"), "--dictionary",
                                      str(ek.example_dictionary_path()), "--json", "-"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for cmd in ("simulate", "validate", "demo"):
        assert cmd in result.output


@pytest.mark.slow
def test_demo_writes_reports_tables_and_no_identifiers(tmp_path):
    # Byte-identical reruns are checked on a full plan run in tests/report/test_render.py.
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--n", "80", "--seed", "3"])
    assert result.exit_code == 0, result.output
    for name in ("impact.html", "technical.html", "tables/participant_flow.csv",
                 "tables/wemwbs_reliable_change.csv", "figures/flow.png", "manifest.json"):
        assert (out / name).is_file(), name
    flow = (out / "tables" / "participant_flow.csv").read_text()
    assert flow.startswith("stage,n,percent_of_referred")
    assert "\nreferred,80,100" in flow
    data = tmp_path / "demo-restricted" / "demo_data"
    assert not (out / "data").exists(), "the simulated row-level data stay out of the report"
    ids = set(pd_read(data / "participants.csv")["participant_id"])
    for table in [*(out / "tables").glob("*.csv"), *(out / "figures").glob("*.csv")]:
        text = table.read_text()
        assert not any(pid in text for pid in ids), f"participant id in {table.name}"
    assert not (out / "restricted").exists(), "restricted outputs live beside the report folder"


def pd_read(path):
    import pandas as pd

    return pd.read_csv(path)


# ---------------------------------------------------------------------- output paths, checked first
def _evalkit(*args, unprivileged=False):
    """``python -m evalkit.cli ARGS``; ``unprivileged``: without root's power to ignore file modes."""
    prefix = []
    if unprivileged and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only folder is writable")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run([*prefix, sys.executable, "-m", "evalkit.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """20 simulated mothers (some with safeguarding flags), a file, and a read-only folder."""
    root = tmp_path_factory.mktemp("small")
    paths = ek.simulate_cohort(n=20, seed=1).write(root / "data")
    (root / "file.txt").write_text("not a folder\n")
    (root / "readonly").mkdir()
    (root / "readonly").chmod(0o555)
    yield root, [p for p in paths if str(p).endswith(".csv")]
    (root / "readonly").chmod(0o755)


def _refused(proc, path: str, words: str):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: cannot write {path}: ") and words in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, "one line"
    assert "No problems found" not in proc.stdout, "the data were validated before the check"


@pytest.mark.parametrize("option, target, words", [
    ("--json", "file.txt/x.json", "file.txt is a file, not a folder; choose a path inside a folder"),
    ("--json", "readonly/x.json", "is not writable (Permission denied); choose another path or "
                                  "make the folder writable"),
    ("--json", "readonly/new/x.json", "cannot be created (Permission denied); create it yourself"),
    ("--json", "data", "it is a folder; give a file name, e.g."),
    ("--flow", "file.txt/flow.csv", "file.txt is a file, not a folder"),
    ("--flow", "readonly/flow.csv", "is not writable"),
])
def test_validate_refuses_an_unwritable_output_before_validating(small, option, target, words):
    root, data = small
    proc = _evalkit("validate", *data, "--dictionary", ek.example_dictionary_path(),
                    option, root / target, unprivileged=target.startswith("readonly"))
    _refused(proc, f"{option} {root / target}", words)
    assert not (root / target).is_file() and not (root / "readonly" / "new").exists()


def test_validate_creates_a_missing_output_folder(small, tmp_path):
    _, data = small
    out = tmp_path / "new" / "deeper" / "problems.json"
    proc = _evalkit("validate", *data, "--dictionary", ek.example_dictionary_path(),
                    "--json", out, "--flow", tmp_path / "other" / "flow.csv")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == []
    assert (tmp_path / "other" / "flow.csv").read_text().startswith("dataset,")


def test_score_with_an_unwritable_restricted_folder_stops_before_scoring(small, tmp_path):
    root, data = small
    for restricted in (root / "file.txt" / "restricted", root / "readonly" / "restricted"):
        out = tmp_path / "out" / "scores.csv"
        proc = _evalkit("score", *data, "--dictionary", ek.example_dictionary_path(), "--out", out,
                        "--restricted", restricted, unprivileged=True)
        _refused(proc, f"--restricted {restricted}", "choose a path inside a folder"
                 if "file.txt" in str(restricted) else "cannot be created (Permission denied)")
        assert not out.exists() and not out.parent.exists(), "nothing is written or created"
    proc = _evalkit("score", *data, "--dictionary", ek.example_dictionary_path(),
                    "--out", root / "file.txt" / "scores.csv")
    _refused(proc, f"--out {root / 'file.txt' / 'scores.csv'}", "is a file, not a folder")
    assert not (root / "file.txt" / "restricted").exists()


def test_score_writes_owner_only_flags_and_warns_on_stderr(small, tmp_path):
    _, data = small
    out = tmp_path / "out" / "scores.csv"
    proc = _evalkit("score", *data, "--dictionary", ek.example_dictionary_path(), "--out", out)
    assert proc.returncode == 0, proc.stderr
    flags = tmp_path / "out" / "restricted" / "safeguarding_flags.csv"
    assert stat.S_IMODE(flags.stat().st_mode) == 0o600
    assert stat.S_IMODE(flags.parent.stat().st_mode) == 0o700
    n = len(_rows(flags)) - 1
    assert n > 0, "the simulated cohort raises safeguarding flags"
    assert f"WARNING: {n} safeguarding flag(s) written to {flags}" in proc.stderr
    assert "safeguarding" not in proc.stdout
    assert "epds_self_harm" not in out.read_text().splitlines()[0]
    # flags first: written before the scores
    assert flags.stat().st_mtime_ns <= out.stat().st_mtime_ns


def test_simulate_refuses_an_output_folder_under_a_file(small):
    root, _ = small
    proc = _evalkit("simulate", "--n", "5", "--out", root / "file.txt" / "sim")
    _refused(proc, f"--out {root / 'file.txt' / 'sim'}", "file.txt is a file, not a folder")


@pytest.mark.slow
def test_make_demo_is_the_same_bytes_and_audits_clean_under_any_hash_seed(tmp_path):
    # `make demo` exactly (300 mothers, seed 1) in fresh interpreters: under hash seeds 9 and 10
    # the auditor once narrowed a hidden count protection had passed, and the complements hidden
    # differed from run to run (tests/report/disclosure/test_determinism.py has the small case)
    exe = shutil.which("evalkit", path=os.path.dirname(sys.executable)) or "evalkit"
    folders = []
    for seed in ("9", "10"):
        out = tmp_path / f"demo{seed}"
        done = subprocess.run([exe, "demo", "--out", str(out)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stdout + done.stderr
        assert not (out / "NOT_FOR_PUBLICATION.txt").exists()
        folders.append(out)
    first, second = ({p.relative_to(f): p.read_bytes() for p in sorted(f.rglob("*")) if p.is_file()}
                     for f in folders)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    from evalkit.report.disclosure.audit import audit_folder

    assert len(audit_folder(folders[0])) == 0
