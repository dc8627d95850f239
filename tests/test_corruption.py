"""Corrupted exports never end in a traceback: a hypothesis strategy breaks a valid export.

The strategy drops, renames and duplicates columns, injects bad cells (text in numbers, huge
numbers, formula-like text, a megabyte cell, quotes and newlines), duplicates or deletes lines,
makes rows ragged and truncates the file anywhere. Whatever it does, ``evalkit validate`` must exit
0, 1 or 2, never raise, and every problem it lists must name the file, the line and the column.
The default suite tries 40 corruptions; the slow suite (CI) 300.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalkit as ek
from evalkit.cli import cli

DICTIONARY = str(ek.example_dictionary_path())


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("export")
    paths = ek.simulate_cohort(n=12, seed=4).write(folder, truth=False)
    return {Path(p).name: Path(p).read_text(encoding="utf-8") for p in paths}


BAD_CELLS = ["", "abc", "-9999", "1e308", "=cmd|' /C calc'!A0", "x" * 1_000_000, "Zoë", "\"",
             "\"a\nb\"", "NaN", "3,5", "2024-13-45", "\x00", " 7 ", "TRUE"]


@st.composite
def corruption(draw):
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["drop", "rename", "duplicate", "cell", "dup_line", "del_line", "ragged",
                         "truncate", "case"]),
        st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(BAD_CELLS),
        st.text(min_size=0, max_size=8)), min_size=1, max_size=3))
    which = draw(st.sampled_from(["participants.csv", "responses.csv"]))
    return which, steps


def _apply(text: str, steps) -> str:
    lines = text.split("\n")
    for kind, a, b, cell, name in steps:
        header = lines[0].split(",")
        j = a % len(header)
        if kind == "truncate":
            text = "\n".join(lines)
            text = text[: (a * 37 + b) % max(len(text), 1)]
            lines = text.split("\n")
            continue
        if kind in ("drop", "rename", "duplicate", "case"):
            rows = [r.split(",") for r in lines]
            for r in rows:
                if len(r) != len(header):
                    continue
                if kind == "drop":
                    del r[j]
                elif kind == "duplicate":
                    r.insert(j, r[j])
            if kind == "rename":
                rows[0][j] = name.replace(",", "").replace("\n", "") or "x"
            elif kind == "case":
                rows[0][j] = f" {rows[0][j].upper()} "
            lines = [",".join(r) for r in rows]
        elif len(lines) > 2:
            i = 1 + b % (len(lines) - 2)
            if kind == "cell":
                r = lines[i].split(",")
                r[j % len(r)] = cell
                lines[i] = ",".join(r)
            elif kind == "dup_line":
                lines.insert(i, lines[i])
            elif kind == "del_line":
                del lines[i]
            elif kind == "ragged":
                lines[i] = lines[i].replace(",", "", 1) if b % 2 else lines[i] + ",extra"
    return "\n".join(lines)


def _check(export, tmp_path, case):
    which, steps = case
    folder = tmp_path
    paths = []
    for name, text in export.items():
        path = folder / name
        path.write_text(_apply(text, steps) if name == which else text, encoding="utf-8")
        paths.append(str(path))
    out = folder / "problems.json"
    result = CliRunner().invoke(cli, ["validate", *paths, "--dictionary", DICTIONARY, "--json",
                                      str(out), "--today", "2030-01-01"])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{type(result.exception).__name__}: {result.exception} after {case}"
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        problems = json.loads(out.read_text(encoding="utf-8"))
        assert problems, "exit 1 lists its problems"
        for p in problems:
            assert p.get("file"), p
            assert "line" in p and "column" in p, p
            assert p["line"] is not None or p["column"] is not None, p


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=corruption())
def test_corrupted_exports_end_in_problems_not_tracebacks(export, tmp_path, case):
    _check(export, tmp_path, case)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=corruption())
def test_three_hundred_corrupted_exports(export, tmp_path, case):
    _check(export, tmp_path, case)
