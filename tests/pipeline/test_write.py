"""Tests of evalkit.pipeline.write: safe paths, atomic swaps, restricted permissions, CSV text."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import SpecificationError
from evalkit.pipeline.write import (ReportWriter, frame_to_csv, resolve_output,
                                    verify_report)

REPO = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent: Path, name: str = "r") -> list[str]:
    return [n for n in os.listdir(parent) if n.startswith(f".{name}.evalkit-")]


def _make_report(out: Path, files: dict[str, str]) -> dict[str, bytes]:
    with ReportWriter(out) as w:
        for rel, text in files.items():
            w.write_text(rel, text)
        w.commit()
    return _snapshot(out)


# -- resolve_output ----------------------------------------------------------------------------
def test_dot_keeps_restricted_outside_report(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    paths = resolve_output(".")
    assert paths.report == proj.resolve()
    assert paths.restricted == (tmp_path / "proj-restricted").resolve()
    with ReportWriter(".") as w:
        w.write_text("impact.html", "<p>x</p>\n")
        w.restricted_text("notes.txt", "private\n")
        w.commit()
    assert (proj / "impact.html").is_file()
    assert (tmp_path / "proj-restricted" / "notes.txt").is_file()
    assert not (proj / "-restricted").exists() and not (proj / "proj-restricted").exists()


def test_dotdot_keeps_restricted_outside_report(tmp_path, monkeypatch):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    # "a" holds the folder "b": it is not a report folder, so it may not be replaced
    with pytest.raises(SpecificationError, match="holds other files"):
        resolve_output("..")
    (tmp_path / "a" / "manifest.json").write_text('{"generator": "evalkit"}')
    paths = resolve_output("..")
    assert paths.report == (tmp_path / "a").resolve()
    assert paths.restricted == (tmp_path / "a-restricted").resolve()


def test_symlinked_report_path_resolves(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    paths = resolve_output(tmp_path / "link" / "r")
    assert paths.report == (tmp_path / "real" / "r").resolve()
    assert paths.restricted == (tmp_path / "real" / "r-restricted").resolve()
    assert paths.report.is_absolute() and paths.restricted.is_absolute()


def test_restricted_symlinked_into_report_refused(tmp_path):
    (tmp_path / "r" / "inner").mkdir(parents=True)
    (tmp_path / "r" / "manifest.json").write_text('{"generator": "evalkit"}')
    (tmp_path / "r-restricted").symlink_to(tmp_path / "r" / "inner")
    with pytest.raises(SpecificationError, match="would be inside"):
        resolve_output(tmp_path / "r")


def test_report_inside_restricted_refused(tmp_path):
    (tmp_path / "r-restricted").symlink_to(tmp_path)
    with pytest.raises(SpecificationError, match="would be inside"):
        resolve_output(tmp_path / "r")


def test_root_refused():
    with pytest.raises(SpecificationError, match="'/' is the filesystem root"):
        resolve_output("/")


def test_file_and_path_under_file_refused(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SpecificationError, match="is a path under a file") as info:
        resolve_output(tmp_path / "f.txt" / "r")
    assert str((tmp_path / "f.txt" / "r").resolve()) in str(info.value)
    with pytest.raises(SpecificationError, match="exists and is a file") as info:
        resolve_output(tmp_path / "f.txt")
    assert str((tmp_path / "f.txt").resolve()) in str(info.value)


def test_non_empty_non_report_folder_refused_and_untouched(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "thesis.tex").write_text("years of work")
    (proj / "manifest.json").write_text('{"generator": "other"}')
    before = _snapshot(proj)
    with pytest.raises(SpecificationError, match="holds other files") as info:
        ReportWriter(proj)
    assert str(proj.resolve()) in str(info.value) and "empty or new folder" in str(info.value)
    assert _snapshot(proj) == before
    (tmp_path / "empty").mkdir()
    with ReportWriter(tmp_path / "empty") as w:   # an empty folder may be used
        w.write_text("a.txt", "a")
        w.commit()
    assert verify_report(tmp_path / "empty") == []


def test_parent_folders_are_created(tmp_path):
    with ReportWriter(tmp_path / "x" / "y" / "r") as w:
        w.write_text("a.txt", "a")
        w.commit()
    assert verify_report(tmp_path / "x" / "y" / "r") == []


# -- permissions -------------------------------------------------------------------------------
def test_restricted_permissions_umask_proof(tmp_path):
    old = os.umask(0)
    try:
        with ReportWriter(tmp_path / "r") as w:
            w.restricted_csv("safeguarding_flags.csv", pd.DataFrame({"id": ["P1"]}))
            w.restricted_text("sub/notes.txt", "n\n")
            w.write_text("a.txt", "a")
            w.commit()
    finally:
        os.umask(old)
    restricted = tmp_path / "r-restricted"
    assert stat.S_IMODE(restricted.stat().st_mode) == 0o700
    assert stat.S_IMODE((restricted / "sub").stat().st_mode) == 0o700
    for name in ("safeguarding_flags.csv", "sub/notes.txt"):
        assert stat.S_IMODE((restricted / name).stat().st_mode) == 0o600
    assert sorted(os.listdir(restricted)) == ["safeguarding_flags.csv", "sub"]
    assert stat.S_IMODE((tmp_path / "r" / "a.txt").stat().st_mode) & 0o044  # report is readable


def test_existing_restricted_folder_is_tightened(tmp_path):
    (tmp_path / "r-restricted").mkdir(mode=0o755)
    os.chmod(tmp_path / "r-restricted", 0o755)
    ReportWriter(tmp_path / "r").abort()
    assert stat.S_IMODE((tmp_path / "r-restricted").stat().st_mode) == 0o700


def test_restricted_written_at_once_and_survive_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with ReportWriter(tmp_path / "r") as w:
            w.restricted_text("safeguarding_flags.csv", "id\nP1\n")
            raise RuntimeError("later step failed")
    assert (tmp_path / "r-restricted" / "safeguarding_flags.csv").read_text() == "id\nP1\n"
    assert not (tmp_path / "r").exists()


# -- atomic replacement ------------------------------------------------------------------------
def test_rerun_leaves_no_stale_file(tmp_path):
    out = tmp_path / "r"
    frame = pd.DataFrame({"n": [1, 2]})
    with ReportWriter(out) as w:
        w.write_csv("tables/a.csv", frame)
        w.write_csv("tables/b.csv", frame)
        w.commit()
    with ReportWriter(out) as w:
        w.write_csv("tables/a.csv", frame)
        written = w.commit(extra={"tables": {"a": "Reach"}})
    assert not (out / "tables" / "b.csv").exists()
    assert sorted(written) == [out.resolve() / "manifest.json", out.resolve() / "tables/a.csv"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generator"] == "evalkit" and manifest["format"] == 1
    assert manifest["tables"] == {"a": "Reach"}
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == present - {"manifest.json"} == {"tables/a.csv"}
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert text.endswith("}\n") and text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert verify_report(out) == [] and _leftovers(tmp_path) == []


def test_exception_leaves_previous_report_identical(tmp_path):
    out = tmp_path / "r"
    before = _make_report(out, {"a.txt": "old a\n", "b/c.txt": "old c\n"})
    with pytest.raises(RuntimeError):
        with ReportWriter(out) as w:
            w.write_text("a.txt", "new a\n")
            raise RuntimeError("boom")
    assert _snapshot(out) == before and _leftovers(tmp_path) == []
    with ReportWriter(out) as w:                     # commit never called
        w.write_text("a.txt", "new a\n")
    assert _snapshot(out) == before and _leftovers(tmp_path) == []


def test_construction_recovers_killed_runs(tmp_path):
    out = tmp_path / "r"
    before = _make_report(out, {"a.txt": "a\n"})
    os.rename(out, tmp_path / ".r.evalkit-old-0123")         # killed between the two renames
    (tmp_path / ".r.evalkit-tmp-4567" / "x").mkdir(parents=True)
    ReportWriter(out).abort()
    assert _snapshot(out) == before and _leftovers(tmp_path) == []
    (tmp_path / ".r.evalkit-old-89ab").mkdir()                 # killed while deleting the old one
    ReportWriter(out).abort()
    assert _snapshot(out) == before and _leftovers(tmp_path) == []


_CHILD = textwrap.dedent("""
    import os, sys, time
    from evalkit.pipeline.write import ReportWriter
    real_rename = os.rename
    def slow_rename(a, b):
        real_rename(a, b)
        print("RENAMED", flush=True)
        time.sleep(0.5)
    print("READY", flush=True)
    with ReportWriter(sys.argv[1]) as w:
        for i in range(200):
            w.write_text(f"t/{i:03d}.txt", f"new {i}\\n")
            time.sleep(0.004)
        print("COMMIT", flush=True)
        os.rename = slow_rename
        w.commit()
    print("DONE", flush=True)
""")
NEW = {f"t/{i:03d}.txt": f"new {i}\n".encode() for i in range(200)}


def _kill_run(folder: Path, previous: bool, when) -> tuple[dict | None, dict | None, str]:
    """Run the child writing ``folder/r``, SIGKILL it at ``when``; return (prev, state, output)."""
    folder.mkdir()
    out = folder / "r"
    prev = None
    if previous:
        prev = _make_report(out, {f"p/{i:03d}.txt": f"prev {i}\n" for i in range(50)}
                            | {"stale.txt": "only in the previous run\n"})
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], stdout=subprocess.PIPE,
                            text=True, cwd=folder, env=env)
    lines = []
    marker, count = when if isinstance(when, tuple) else ("READY", 1)
    while lines.count(marker) < count:
        line = proc.stdout.readline()
        assert line, f"child ended before {marker}: {lines}"
        lines.append(line.strip())
    if not isinstance(when, tuple):
        time.sleep(when)
    os.kill(proc.pid, signal.SIGKILL)
    lines += proc.stdout.read().split()
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    before_recovery = out.exists()
    ReportWriter(out).abort()                        # a new run tidies up
    assert _leftovers(folder) == []
    state = None
    if out.exists():
        assert verify_report(out) == []
        state = {k: v for k, v in _snapshot(out).items() if k != "manifest.json"}
    return prev, state, " ".join(lines) + f" before_recovery={before_recovery}"


def test_sigkill_leaves_previous_report_or_none(tmp_path):
    cases = [(True, 0.05), (False, 0.2), (True, 0.5), (True, ("COMMIT", 1)),
             (False, ("COMMIT", 1)), (True, ("RENAMED", 1)), (True, ("RENAMED", 2)),
             (False, ("RENAMED", 1))]
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda i: _kill_run(tmp_path / f"case{i}", *cases[i]),
                                range(len(cases))))
    for (previous, when), (prev, state, output) in zip(cases, results):
        prev = None if prev is None else {k: v for k, v in prev.items() if k != "manifest.json"}
        assert "DONE" not in output, (when, output)
        if "COMMIT" not in output:                   # killed while writing files
            assert state == prev, (when, output)
        else:
            assert state in (prev, NEW), (when, output)
    # deterministic points: between the two renames, and after the swap
    assert results[5][1] == {k: v for k, v in results[5][0].items() if k != "manifest.json"}
    assert "before_recovery=False" in results[5][2]  # the old report was moved aside, put back
    assert results[6][1] == NEW and results[7][1] == NEW


# -- CSV text ----------------------------------------------------------------------------------
BAD = ['=HYPERLINK("x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_csv_injection_neutralised_in_headers_and_cells(tmp_path):
    frame = pd.DataFrame({bad: [bad] for bad in BAD})
    frame["num_text"] = ["-3.5"]
    frame["e_text"] = ["1e-3"]
    frame["plus"] = ["+4"]
    frame["floats"] = [-3.5]
    frame["small"] = [1e-3]
    with ReportWriter(tmp_path / "r") as w:
        w.write_csv("t.csv", frame)
        w.restricted_csv("t.csv", frame)
        w.commit()
    for path in (tmp_path / "r" / "t.csv", tmp_path / "r-restricted" / "t.csv"):
        raw = path.read_bytes()
        assert raw == frame_to_csv(frame).encode("utf-8") and b"\r\n" not in raw
        header, row = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        assert header[:6] == row[:6] == ["'" + bad for bad in BAD]
        assert header[6:] == ["num_text", "e_text", "plus", "floats", "small"]
        assert row[6:] == ["-3.5", "1e-3", "+4", "-3.5", "0.001"]


def test_frame_to_csv_rules():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.1234567, None], "c": [True, False]},
                         index=[10, 11])
    assert frame_to_csv(frame) == "a,b,c\n1,0.123457,true\n2,,false\n"
    assert frame_to_csv(pd.DataFrame({"q": ['say "hi", ok']})) == 'q\n"say ""hi"", ok"\n'
    with pytest.raises(SpecificationError, match="DataFrame"):
        frame_to_csv([[1]])


# -- bad relative paths ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", "", ".", "a\\b", "manifest.json"])
def test_bad_report_paths_refused(tmp_path, bad):
    with ReportWriter(tmp_path / "r") as w, pytest.raises(SpecificationError):
        w.write_text(bad, "x")
    assert not (tmp_path / "x").exists() and not Path("/etc/x").exists()


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../x", ""])
def test_bad_restricted_paths_refused(tmp_path, bad):
    with ReportWriter(tmp_path / "r") as w, pytest.raises(SpecificationError):
        w.restricted_text(bad, "x")


def test_same_path_twice_refused(tmp_path):
    with ReportWriter(tmp_path / "r") as w:
        w.write_text("a/b.txt", "1")
        for clash in ("a/b.txt", "a//b.txt", "./a/b.txt", "a", "a/b.txt/c"):
            with pytest.raises(SpecificationError, match="write each path once"):
                w.write_text(clash, "2")
        w.restricted_text("f.csv", "1")
        with pytest.raises(SpecificationError, match="write each path once"):
            w.restricted_text("f.csv", "2")
        with pytest.raises(SpecificationError, match="may not set"):
            w.commit(extra={"files": {}})
        w.commit()
        with pytest.raises(SpecificationError, match="already committed"):
            w.write_text("late.txt", "x")
    assert (tmp_path / "r" / "a" / "b.txt").read_text() == "1"
