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


# ------------------------------------------------------------------------------ load-time checks (issue 12)
def _problems(tmp_path, text) -> dict:
    with pytest.raises(DictionaryError) as info:
        ek.DataDictionary.from_yaml(_write(tmp_path, text))
    return {(p, line): msg for p, line, msg in info.value.problems}, str(info.value)


BASE = """\
    study: x
    missing_codes: [-9]
    waves: {baseline: {week: 0, window: [0, 0]}}
    datasets:
      people:
        file: people.csv
        keys: [pid]
        variables:
"""


def test_aliases_and_sheet_are_read(tmp_path):
    dd = ek.DataDictionary.from_yaml(_write(tmp_path, BASE + """\
          pid: {type: string, role: id, aliases: [Participant_ID, participant id]}
          mood: {type: integer, range: [0, 3], aliases: Mood score}
        item_sets:
          - {instrument: phq9, items: 2, range: [0, 3], aliases: {1: [PHQ-9 Q1], 2: Q2}}
        sheet: Data
    """))
    assert dd.variable("pid").aliases == ("Participant_ID", "participant id")
    assert dd.variable("mood").aliases == ("Mood score",)
    assert dd.variable("phq9_1").aliases == ("PHQ-9 Q1",) and dd.variable("phq9_2").aliases == ("Q2",)
    assert dd.dataset("people").sheet == "Data"
    assert ek.DataDictionary.from_yaml(ek.example_dictionary_path()).dataset("responses").sheet is None


def test_every_schema_problem_at_once(tmp_path):
    problems, message = _problems(tmp_path, """\
        study: x
        colour: blue
        waves: {baseline: {week: 0, window: [0, 0]}, mid: [6, 8]}
        datasets:
          people:
            file: people.csv
            keys: [pid]
            shape: wide
            variables:
              pid: {type: string, role: id}
              age: {type: integer, rnage: [16, 50]}
              notes: string
            item_sets:
              - {instrument: phq9, items: 9, range: [0, 3], scale: 1}
    """)
    assert problems[("colour", 2)].startswith("unknown key 'colour'")
    assert problems[("datasets.people.shape", 8)].startswith("unknown key 'shape'")
    assert problems[("datasets.people.variables.age.rnage", 11)].startswith("unknown key 'rnage'")
    assert problems[("datasets.people.variables.notes", 12)].startswith(
        "variable 'notes' must be a mapping")
    assert problems[("datasets.people.item_sets.0.scale", 14)].startswith("unknown key 'scale'")
    assert problems[("waves.mid", 3)].startswith("wave 'mid' must be a mapping")
    assert message.startswith(f"{tmp_path / 'dd.yaml'}: 6 problems in the data dictionary")


def test_duplicate_level_labels_and_codes(tmp_path):
    problems, _ = _problems(tmp_path, BASE + """\
          pid: {type: string, role: id}
          mode: {type: category, levels: {a: Group, b: group , c: One-to-one}}
          site: {type: category, levels: [1, "1", 2]}
          area: {type: category, levels: {n: s, s: South}}
    """)
    assert problems[("datasets.people.variables.mode.levels", 10)] == (
        "duplicate level labels: 'a', 'b' are all labelled 'Group'; give every level its own label")
    assert "level code(s) '1' are listed twice" in problems[("datasets.people.variables.site.levels", 11)]
    assert "level 'n' is labelled 's', which is the code of level 's'" in problems[
        ("datasets.people.variables.area.levels", 12)]


def test_missing_codes_inside_the_valid_values(tmp_path):
    problems, _ = _problems(tmp_path, """\
        study: x
        missing_codes: [-9, 9]
        waves: {baseline: {week: 0, window: [0, 0]}}
        datasets:
          people:
            file: people.csv
            keys: [pid]
            variables:
              pid: {type: string, role: id}
              isolation: {type: number, range: [0, 10]}
              age: {type: integer, range: [16, 50]}
              score: {type: integer, range: [0, 3], missing_codes: [3, 2.5, -1]}
              band: {type: category, levels: [1, 2, 9]}
            item_sets:
              - {instrument: phq9, items: 9, range: [0, 3], missing_codes: [0, -9]}
    """)
    assert problems[("datasets.people.variables.isolation", 10)] == (
        "missing code 9 (from the top-level missing_codes) is also a valid value of variable "
        "'isolation', within its range [0, 10]: a real answer 9 would be read as missing; give "
        "variable 'isolation' its own missing_codes outside them (e.g. missing_codes: [-9]), or "
        "change the top-level ones")
    assert ("datasets.people.variables.age", 11) not in problems
    assert problems[("datasets.people.variables.score.missing_codes", 12)].startswith(
        "missing code 3 (from its own missing_codes) is also a valid value of variable 'score'")
    assert "its levels (1, 2, 9)" in problems[("datasets.people.variables.band", 13)]
    item_set = [k for k in problems if k[0] == "datasets.people.item_sets.0"]
    assert item_set == [("datasets.people.item_sets.0", 15)]  # once for the block, not per item
    assert "item set 'phq9'" in problems[item_set[0]]


def test_clashing_aliases(tmp_path):
    problems, _ = _problems(tmp_path, BASE + """\
          pid: {type: string, role: id, aliases: [ID]}
          ref: {type: string, aliases: [id, PID]}
          age: {type: integer, aliases: [Age years]}
          age_band: {type: string, aliases: [age-years]}
    """)
    with pytest.raises(DictionaryError) as info:
        ek.DataDictionary.from_yaml(tmp_path / "dd.yaml")
    msgs = [m for _, _, m in info.value.problems]
    assert any(m.startswith("alias 'id' is claimed by both 'pid' and 'ref'") for m in msgs)
    assert any(m.startswith("alias 'PID' of 'ref' is the name of another variable of 'people' ('pid')")
               for m in msgs)
    assert any(m.startswith("alias 'age-years' is claimed by both 'age' and 'age_band'") for m in msgs)
    assert len(msgs) == 3


def test_same_alias_in_two_datasets_is_fine(tmp_path):
    dd = ek.DataDictionary.from_yaml(_write(tmp_path, """\
        study: x
        waves: {baseline: {week: 0, window: [0, 0]}}
        datasets:
          a: {file: a.csv, keys: [pid], variables: {pid: {type: string, role: id, aliases: [ID]}}}
          b: {file: b.csv, keys: [pid], variables: {pid: {type: string, role: id, aliases: [ID]}}}
    """))
    assert dd.dataset("b").variable("pid").aliases == ("ID",)


def test_bad_sheet(tmp_path):
    problems, _ = _problems(tmp_path, BASE + """\
          pid: {type: string, role: id}
        sheet: -1
    """)
    assert problems[("datasets.people.sheet", 10)].startswith("sheet must be a sheet name or a 0-based")


def test_names_that_headers_cannot_tell_apart(tmp_path):
    problems, _ = _problems(tmp_path, BASE + """\
          pid: {type: string, role: id}
          Age: {type: integer}
          age: {type: integer}
    """)
    assert problems[("datasets.people.variables.age", 11)].startswith(
        "variables 'Age' and 'age' of 'people' differ only in case")
