"""Reading configuration YAML (evalkit/_config.py): unsafe or ambiguous YAML is refused, fast.

One parser reads data dictionaries and analysis plans. An alias bomb, a huge or absurdly deep
document, duplicate keys, tags and unreadable values all end in one DictionaryError / PlanError
naming the line and the fix, never in a traceback, a hang or gigabytes of memory.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import evalkit as ek
from evalkit._config import MAX_BYTES, MAX_DEPTH, _key_lines, _parse_yaml
from evalkit.errors import DictionaryError, PlanError
from evalkit.plan import AnalysisPlan, load_plan

DD = ek.example_dictionary_path().resolve()

# the classic "billion laughs": nine levels of nine aliases, 9**9 (387 million) strings if expanded
BOMB = "lol: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]\n" for k in range(1, 10))


def _plan_head() -> str:
    return (f"programme: Test\ndata:\n  dictionary: {DD}\n  files: [a.csv]\n"
            "outcomes:\n  - instrument: wemwbs\n    primary: true\n")


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


# ---------------------------------------------------------------------- anchors and aliases
def test_alias_bomb_in_a_dictionary_is_refused_at_once(tmp_path):
    path = tmp_path / "dd.yaml"
    path.write_text(BOMB, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(DictionaryError) as err:
        ek.DataDictionary.from_yaml(path)
    assert time.perf_counter() - start < 2
    message = str(err.value)
    assert "anchors and aliases are not allowed" in message and "write each value out" in message
    assert "l1 (line 2): anchor &a1 and alias *a0 (9 times)" in message
    assert len(err.value.problems) == 10          # one per line, not one per alias
    assert {line for _, line, _ in err.value.problems} == set(range(1, 11))


def test_alias_bomb_in_a_plan_is_refused_at_once(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(_plan_head() + BOMB, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(PlanError, match=r"anchor &a0: YAML anchors and aliases are not allowed"):
        AnalysisPlan.from_yaml(path)
    assert time.perf_counter() - start < 2


def test_alias_bomb_through_the_cli_exits_2_quickly(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    data = ek.simulate_cohort(n=20, seed=1).write(tmp_path / "data")
    start = time.perf_counter()
    proc = _cli("validate", *data, "--dictionary", bomb)
    assert time.perf_counter() - start < 10       # interpreter start-up included
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{bomb}: 10 problems in the data dictionary" in proc.stderr
    assert "(line 2): anchor &a1 and alias *a0 (9 times)" in proc.stderr

    plan = tmp_path / "plan.yaml"
    plan.write_text(_plan_head() + BOMB, encoding="utf-8")
    proc = _cli("run", plan, "--out", tmp_path / "report", "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "anchors and aliases are not allowed" in proc.stderr
    assert not (tmp_path / "report").exists()


def test_a_single_anchor_and_alias_name_their_lines(tmp_path):
    text = "a: &x [1, 2]\nb:\n  c: *x\n"
    with pytest.raises(DictionaryError) as err:
        _parse_yaml(text, "dd.yaml", DictionaryError)
    assert [(p, line) for p, line, _ in err.value.problems] == [("a", 1), ("b.c", 3)]
    assert "alias *x" in err.value.problems[1][2]


# ---------------------------------------------------------------------- duplicate keys
def test_duplicate_keys_in_a_plan_name_both_lines(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(_plan_head() + "report:\n  suppression_threshold: 10\n  audience: [impact]\n"
                    "  suppression_threshold: 3\nseed: 1\nseed: 2\n", encoding="utf-8")
    with pytest.raises(PlanError) as err:
        AnalysisPlan.from_yaml(path)
    assert err.value.problems == [
        ("report.suppression_threshold", 11, "duplicate key 'suppression_threshold' at lines 9 "
         "and 11 (YAML would silently keep only the last); keep one of them"),
        ("seed", 13, "duplicate key 'seed' at lines 12 and 13 (YAML would silently keep only the "
         "last); keep one of them")]
    assert "2 problems in the analysis plan" in str(err.value)


def test_duplicate_keys_in_a_dictionary_name_both_lines(tmp_path):
    text = DD.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  mid:")) + 1
    # declare the 'mid' wave a second time, right after the first one
    lines.insert(first, "  mid:       {label: Mid, week: 7, window: [3, 10]}")
    path = tmp_path / "dd.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DictionaryError) as err:
        ek.DataDictionary.from_yaml(path)
    assert err.value.problems == [("waves.mid", first + 1, f"duplicate key 'mid' at lines {first} "
                                   f"and {first + 1} (YAML would silently keep only the last); "
                                   "keep one of them")]


def test_same_key_in_different_mappings_is_fine():
    data, node = _parse_yaml("a: {x: 1}\nb: {x: 2}\n", "p.yaml", PlanError)
    assert data == {"a": {"x": 1}, "b": {"x": 2}}
    assert _key_lines(node) == {(): 1, ("a",): 1, ("a", "x"): 1, ("b",): 2, ("b", "x"): 2}


# ---------------------------------------------------------------------- size, depth, values
def test_a_huge_document_is_refused_before_parsing(tmp_path):
    path = tmp_path / "dd.yaml"
    path.write_text("study: x\n" + "# padding\n" * (MAX_BYTES // 10 + 1), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(DictionaryError, match=r"the file is 2\.0 MB, more than an evalkit data "
                                              r"dictionary can be \(2 MB\)"):
        ek.DataDictionary.from_yaml(path)
    with pytest.raises(PlanError, match="more than an evalkit analysis plan can be"):
        AnalysisPlan.from_yaml(path)
    assert time.perf_counter() - start < 2


def test_deep_nesting_is_refused_with_its_line():
    deep = "a:\n" + "".join("  " * k + f"k{k}:\n" for k in range(1, 40)) + "  " * 40 + "v: 1\n"
    with pytest.raises(PlanError, match=rf"at line \d+: nested more than {MAX_DEPTH} levels deep"):
        _parse_yaml(deep, "p.yaml", PlanError)
    start = time.perf_counter()
    with pytest.raises(DictionaryError, match="nested more than"):   # no RecursionError either
        _parse_yaml("x: " + "[" * 100_000 + "]" * 100_000, "dd.yaml", DictionaryError)
    assert time.perf_counter() - start < 2


def test_tags_and_unreadable_values_are_named():
    with pytest.raises(PlanError, match=r"at line 2: the YAML tag !!python/object/apply:os\.system "
                                        r"is not allowed in an evalkit analysis plan"):
        _parse_yaml("a: 1\nb: !!python/object/apply:os.system [ls]\n", "p.yaml", PlanError)
    with pytest.raises(DictionaryError, match=r"at line 2: '2024-13-45' cannot be read \(month "
                                              r"must be in 1\.\.12\); correct the value or put "
                                              r"it in quotes"):
        _parse_yaml("a: 1\nb: 2024-13-45\n", "dd.yaml", DictionaryError)


def test_valid_configuration_still_parses_with_line_numbers():
    dd = ek.DataDictionary.from_yaml(DD)
    assert [w.name for w in dd.waves] == ["baseline", "mid", "end", "follow_up"]
    plan, _ = load_plan(Path(ek.__file__).parent / "data" / "example_plan.yaml")
    assert plan._lines[("mechanisms", "bootstrap")] > plan._lines[("mechanisms",)]


def test_a_binary_file_given_as_configuration_is_a_clean_error(tmp_path):
    from click.testing import CliRunner

    from evalkit.cli import cli

    with pytest.raises(PlanError, match=r"at line 2: character #x0000 is not allowed in YAML"):
        _parse_yaml("a: 1\nb: \x00\n", "p.yaml", PlanError)
    binary = tmp_path / "dd.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (tmp_path / "r.csv").write_text("participant_id\nP1\n")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "r.csv"), "--dictionary", str(binary)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"{binary}" in result.output and "Traceback" not in result.output
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(b"programme: x\n\x00\xff\n")
    with pytest.raises(PlanError, match="is not allowed in YAML"):
        AnalysisPlan.from_yaml(plan)
