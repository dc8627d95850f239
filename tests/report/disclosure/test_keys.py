"""Keys: the sets of people a published count counts (evalkit.report.disclosure.keys)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.errors import SpecificationError
from evalkit.report.disclosure.keys import MISSING_LEVEL, Key, level_code


# ---------------------------------------------------------------------- Key.of
def test_of_sorts_conditions_and_codes_levels():
    k = Key.of(started=True, site="north", mode=["group", "both"])
    assert k.unit == "person"
    assert k.where == (("mode", ("both", "group")), ("site", ("north",)), ("started", ("yes",))), \
        f"conditions must be sorted by dimension, levels sorted and coded: {k.where}"
    assert k.dims() == ("mode", "site", "started")
    assert k.level("mode") == ("both", "group")
    assert k.level("age") is None, "a dimension without a condition has no level"


def test_of_is_order_independent_and_hashable():
    a = Key.of(site="north", started="yes")
    b = Key.of(started="yes", site="north")
    assert a == b and hash(a) == hash(b), "the same conditions in another order are the same key"
    assert len({a, b, Key.of(site="north")}) == 2


def test_of_with_other_unit_and_everyone():
    k = Key.of("session", status="attended")
    assert k.unit == "session" and k.where == (("status", ("attended",)),)
    assert Key.of() == Key() and Key.of().where == ()


def test_of_codes_non_string_levels():
    k = Key.of(wave=2.0, flag=False, band=[1, 2.0, 3])
    assert k.level("wave") == ("2",), "a float that is whole is coded without the .0"
    assert k.level("flag") == ("no",), "a bool is coded yes/no"
    assert k.level("band") == ("1", "2", "3"), "repeated levels (2 and 2.0) collapse"


def test_of_refuses_an_empty_level_list_and_non_mapping():
    with pytest.raises(SpecificationError, match="names no level"):
        Key.of(site=[])
    with pytest.raises(SpecificationError, match="mapping"):
        Key.of() & ["site"]


# ---------------------------------------------------------------------- &
def test_and_adds_conditions():
    k = Key.of(started="yes") & {"ethnicity": "mixed"}
    assert k == Key.of(started="yes", ethnicity="mixed")
    k2 = Key.of(started="yes") & Key.of(site="east")
    assert k2 == Key.of(started="yes", site="east")


def test_and_intersects_level_sets_on_the_same_dimension():
    k = Key.of(mech=["0-2", "3-4"]) & {"mech": ["3-4", "5-6"]}
    assert k.level("mech") == ("3-4",), f"the intersection of two level sets, got {k.level('mech')}"
    assert Key.of(site="a") & {"site": "a"} == Key.of(site="a"), "repeating a condition is harmless"
    wide = Key.of(site=["a", "b", "c"]) & Key.of(site=["b", "c", "d"])
    assert wide.level("site") == ("b", "c")


def test_and_refuses_conditions_that_exclude_each_other():
    with pytest.raises(SpecificationError, match="exclude each other") as exc:
        Key.of(site="north") & {"site": "east"}
    assert "site" in str(exc.value), "the message names the dimension"
    with pytest.raises(SpecificationError, match="exclude each other"):
        Key.of(mech=["0-2", "3-4"]) & Key.of(mech="5-6")


def test_and_refuses_keys_of_different_units():
    with pytest.raises(SpecificationError, match="units"):
        Key.of(site="a") & Key.of("session", site="a")


def test_and_does_not_mutate_its_operands():
    a = Key.of(site="a")
    _ = a & {"started": "yes"}
    assert a == Key.of(site="a"), "keys are values: & returns a new key"


# ---------------------------------------------------------------------- without
def test_without_drops_conditions():
    k = Key.of(site="a", started="yes", mode="group")
    assert k.without("started") == Key.of(site="a", mode="group")
    assert k.without("started", "mode") == Key.of(site="a")
    assert k.without("site", "started", "mode") == Key.of()
    assert k.without("not_a_dimension") == k, "dropping an absent dimension changes nothing"
    assert Key.of("session", x="1").without("x").unit == "session", "without keeps the unit"


# ---------------------------------------------------------------------- json
@pytest.mark.parametrize("key", [
    Key.of(),
    Key.of(site="north"),
    Key.of(started="yes", ethnicity="mixed"),
    Key.of(mech=["0-2", "3-4"], wave="end"),
    Key.of("session", status="attended"),
    Key.of(site=MISSING_LEVEL),
])
def test_json_round_trip(key):
    obj = key.to_json()
    assert set(obj) == {"unit", "where"}
    assert Key.from_json(obj) == key, f"round trip changed {key}: {obj}"


def test_to_json_shape():
    assert Key.of(started="yes", ethnicity="mixed").to_json() == \
        {"unit": "person", "where": {"ethnicity": "mixed", "started": "yes"}}
    assert Key.of(mech=["3-4", "0-2"]).to_json() == \
        {"unit": "person", "where": {"mech": ["0-2", "3-4"]}}, "a level set is a sorted list"
    assert Key.of().to_json() == {"unit": "person", "where": {}}


def test_from_json_tolerates_missing_where_and_refuses_non_keys():
    assert Key.from_json({"unit": "person"}) == Key.of()
    assert Key.from_json({"unit": "person", "where": None}) == Key.of()
    for bad in ({"where": {"site": "a"}}, ["person"], "person: everyone", None):
        with pytest.raises(SpecificationError, match="not a key"):
            Key.from_json(bad)


# ---------------------------------------------------------------------- str
def test_str():
    assert str(Key.of()) == "person: everyone"
    assert str(Key.of(started="yes", ethnicity="mixed")) == "person: ethnicity=mixed & started=yes"
    assert str(Key.of(mech=["3-4", "0-2"])) == "person: mech in {0-2, 3-4}"
    assert str(Key.of("session", status="attended")) == "session: status=attended"


# ---------------------------------------------------------------------- level_code
@pytest.mark.parametrize("value, code", [
    (True, "yes"), (False, "no"), (np.bool_(True), "yes"), (np.bool_(False), "no"),
    (2.0, "2"), (-3.0, "-3"), (0.0, "0"), (2.5, "2.5"), (3, "3"), (np.int64(4), "4"),
    ("group", "group"), ("", ""),
    (None, MISSING_LEVEL), (math.nan, MISSING_LEVEL), (np.nan, MISSING_LEVEL),
])
def test_level_code(value, code):
    got = level_code(value)
    assert got == code, f"level_code({value!r}) = {got!r}, expected {code!r}"


def test_level_code_numpy_float_that_is_whole():
    # numpy floats subclass float: whole values lose their ".0" like Python floats
    assert level_code(np.float64(2.0)) == "2"


def test_missing_level_is_a_plain_string():
    assert MISSING_LEVEL == "(missing)"
    assert Key.of(site=None).level("site") == (MISSING_LEVEL,), \
        "a missing value as a condition names the missing level"


def test_numpy_bool_condition_matches_yes():
    flags = np.array([True, False])
    assert Key.of(started=flags[0]) == Key.of(started="yes"), \
        "a numpy bool (as read from an array) names the level 'yes', not 'True'"
    assert Key.of(started=flags[1]) == Key.of(started="no")
