"""The data dictionary schema: parsing, lookups and error reporting with key paths and lines."""

from __future__ import annotations

import textwrap

import pytest

import evalkit as ek
from evalkit.errors import DictionaryError, UnknownNameError


def _write(tmp_path, text):
    path = tmp_path / "dd.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    version: 1
    study: Test
    missing_codes: [-9]
    waves:
      end: {week: 12, window: [9, 20]}
      baseline: {label: Start, week: 0, window: [0, 0]}
    datasets:
      people:
        file: people.csv
        keys: [participant_id]
        variables:
          participant_id: {type: string, role: id}
          imd: {type: category, role: context, levels: {1: most deprived, 2: least}}
          mode: {type: category, levels: [a, b]}
      answers:
        file: answers.csv
        keys: [participant_id, wave]
        variables:
          participant_id: {type: string, role: id}
          wave: {type: category, role: wave}
        item_sets:
          - {instrument: phq9, items: 9, range: [0, 3]}
          - {instrument: core10, items: [2, 3], range: [0, 4], coding: position}
"""


def test_example_dictionary_describes_the_simulated_cohort(dd):
    assert dd.study.startswith("Example")
    assert [w.name for w in dd.waves] == ["baseline", "mid", "end", "follow_up"]
    assert set(dd.instruments()) == {"wemwbs", "epds", "ucla3", "mechanisms"}
    assert len(dd.instruments()["wemwbs"]) == 14
    assert dd.variable("delivery_mode").levels == {
        "one_to_one": "One-to-one", "group": "Group", "both": "One-to-one and group"}
    assert {v.name for v in dd.by_role("context")} >= {
        "site", "delivery_mode", "age", "ethnicity", "imd_quintile", "first_baby", "partner",
        "mh_history", "isolation", "language_matched"}
    assert dd.variable("mech_hope").role == "mechanism"


def test_parses_item_sets_waves_and_levels(tmp_path):
    dd = ek.DataDictionary.from_yaml(_write(tmp_path, GOOD))
    assert [w.name for w in dd.waves] == ["baseline", "end"]  # sorted by target week
    assert dd.wave("baseline").label == "Start"
    phq = dd.instruments()["phq9"]
    assert [v.name for v in phq] == [f"phq9_{k}" for k in range(1, 10)]
    assert phq[0].range == (0.0, 3.0) and phq[0].coding == "scored"
    assert [v.name for v in dd.instruments()["core10"]] == ["core10_2", "core10_3"]
    assert dd.variable("core10_3").coding == "position"
    assert dd.variable("imd").levels == {"1": "most deprived", "2": "least"}  # codes become text
    assert dd.variable("mode").levels == {"a": "a", "b": "b"}
    assert dd.variable("wave").levels == {"baseline": "Start", "end": "end"}
    assert dd.missing_codes_for(dd.variable("mode")) == (-9,)


def test_unknown_names_list_what_exists(tmp_path):
    dd = ek.DataDictionary.from_yaml(_write(tmp_path, GOOD))
    with pytest.raises(UnknownNameError, match=r"dataset 'peple' is not in the data dictionary; declared: people, answers"):
        dd.dataset("peple")
    with pytest.raises(UnknownNameError, match=r"wave 'mid' is not declared; waves are: baseline, end"):
        dd.wave("mid")
    with pytest.raises(UnknownNameError, match="role 'contxt' does not exist"):
        dd.by_role("contxt")


def test_every_mistake_is_reported_with_key_path_and_line(tmp_path):
    path = _write(tmp_path, """\
        version: 1
        study: Broken
        waves:
          baseline: {week: 0, window: [0, 0]}
          mid: {week: 6, window: [8, 10]}
        datasets:
          p:
            file: p.csv
            keys: [participant_id, wave]
            variables:
              participant_id: {type: string, role: id}
              age: {type: integr, range: [50, 16]}
              site: {type: category}
              x: {type: integer, rnage: [1, 2]}
              e: {type: string, role: item}
    """)
    with pytest.raises(DictionaryError) as info:
        ek.DataDictionary.from_yaml(path)
    problems = {(p, line): msg for p, line, msg in info.value.problems}
    assert problems[("waves.mid", 5)] == "window [8.0, 10.0] must contain the target week 6.0"
    assert "Input should be 'integer'" in problems[("datasets.p.variables.age.type", 12)]
    assert problems[("datasets.p.variables.age.range", 12)].startswith("range must be [min, max]")
    assert problems[("datasets.p.variables.site", 13)].startswith("a category variable needs 'levels'")
    assert problems[("datasets.p.variables.x.rnage", 14)].startswith("unknown key 'rnage'")
    assert problems[("datasets.p.variables.e", 15)].startswith("an item variable needs 'instrument'")
    assert problems[("datasets.p.keys.1", 9)] == "key 'wave' is not a declared variable of 'p'"
    assert str(info.value).startswith(f"{path}: 7 problems in the data dictionary")


def test_missing_top_level_keys_and_bad_yaml(tmp_path):
    with pytest.raises(DictionaryError, match=r"\(top level\)|waves.*required key 'waves' is missing"):
        ek.DataDictionary.from_yaml(_write(tmp_path, "study: x\ndatasets: {}\n"))
    with pytest.raises(DictionaryError, match=r"at line 2: not valid YAML"):
        ek.DataDictionary.from_yaml(_write(tmp_path, "study: x\n  waves: [\n"))
    with pytest.raises(DictionaryError, match=r"cannot read data dictionary '.*nope.yaml'.*check the path"):
        ek.DataDictionary.from_yaml(tmp_path / "nope.yaml")


def test_dataset_without_id_and_conflicting_ids(tmp_path):
    path = _write(tmp_path, """\
        study: x
        waves: {baseline: {week: 0, window: [0, 0]}}
        datasets:
          a: {file: a.csv, keys: [pid], variables: {pid: {type: string, role: id}}}
          b: {file: b.csv, keys: [ref], variables: {ref: {type: string}}}
          c: {file: c.csv, keys: [cid], variables: {cid: {type: string, role: id}}}
    """)
    with pytest.raises(DictionaryError) as info:
        ek.DataDictionary.from_yaml(path)
    msgs = [m for _, _, m in info.value.problems]
    assert any(m.startswith("no variable has role 'id'") for m in msgs)
    assert any("datasets disagree on the participant identifier: ['cid', 'pid']" in m for m in msgs)


def test_objects_are_immutable(dd):
    var = dd.variable("age")
    with pytest.raises(Exception):
        var.range = (0, 1)
