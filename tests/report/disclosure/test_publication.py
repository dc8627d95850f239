"""Publication: registering tables with keyed columns, protecting them together, logs and checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import SpecificationError
from evalkit.report.disclosure import (HIDDEN, SD, Count, Key, Label, Linked, Mean, Publication,
                                       Share, Stat, too_few)
from evalkit.report.disclosure.audit import audit_folder

from .test_system import Problem

T = 5


def ids(n: int) -> list[str]:
    return [f"P{i:03d}" for i in range(n)]


def series(values) -> pd.Series:
    return pd.Series(list(values), index=ids(len(values)))


def hidden_counts(table) -> list[tuple[int, str]]:
    """(row, column) of every hidden Count cell."""
    out = []
    for col, spec in table.columns.items():
        if isinstance(spec, Count):
            out += [(i, col) for i in range(len(table.data)) if not table.shown(i, col)]
    return out


def audit(pub, tmp_path) -> pd.DataFrame:
    """Write every protected table where the manifest says and audit the folder independently."""
    for name in pub.tables:
        path = tmp_path / pub[name].file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pub[name].to_csv(), encoding="utf-8")
    return audit_folder(tmp_path, manifest=pub.manifest())


def assert_protected(table, threshold=T):
    """No hidden count can be narrowed to fewer than T values reaching below T."""
    for cell in hidden_counts(table):
        b = table.bounds_of(*cell)
        assert b is not None, f"{table.name} {cell}: a hidden count has no bounds"
        assert b.feasible
        assert b.upper - b.lower >= threshold or b.lower >= threshold, \
            f"{table.name} {cell}: hidden count can be narrowed to [{b.lower}, {b.upper}]"


# ====================================================================== reach: a level of 3
SITES = ["north"] * 40 + ["east"] * 30 + ["west"] * 3
SITE_KEYS = [Key.of(), Key.of(site="north"), Key.of(site="east"), Key.of(site="west")]
TRUE_N = [73, 40, 30, 3]


def reach_publication(threshold=T, **kw) -> Publication:
    pub = Publication(threshold=threshold, **kw)
    pub.dimension("site", series(SITES), levels=["north", "east", "west"])
    t = pd.DataFrame({"site": ["all", "north", "east", "west"], "n": TRUE_N,
                      "percent": [100 * x / 73 for x in TRUE_N]})
    pub.add("reach", t, columns={"site": Label(), "n": Count(SITE_KEYS),
                                 "percent": Share(SITE_KEYS, [Key.of()] * 4, scale=100)})
    return pub


def test_reach_hides_the_small_level_and_a_complement_but_not_the_total(tmp_path):
    pub = reach_publication()
    pub.protect()
    t = pub["reach"]
    assert t.data["n"].tolist()[:2] == [73.0, 40.0], "the total and the large level stay shown"
    assert np.isnan(t.data["n"].iat[3]), "3 < 5 is hidden"
    assert np.isnan(t.data["n"].iat[2]), "east is hidden too, else west = 73 - 40 - east"
    assert t.hidden["n"].tolist() == [False, False, True, True]
    for row in (2, 3):
        b = t.bounds_of(row, "n")
        assert b.lower <= TRUE_N[row] <= b.upper, f"row {row}: {b} excludes the truth {TRUE_N[row]}"
        assert b.upper - b.lower >= T, f"row {row}: a reader can narrow it to {b}"
    assert t.bounds_of(1, "n") is None and t.shown(1, "n")
    assert len(audit(pub, tmp_path)) == 0


def test_shares_of_hidden_counts_are_hidden():
    pub = reach_publication()
    pub.protect()
    t = pub["reach"]
    assert t.hidden["percent"].tolist() == t.hidden["n"].tolist(), \
        "a share with its denominator gives its count: hidden exactly where the count is"
    assert t.data["percent"].iat[1] == pytest.approx(100 * 40 / 73)
    assert t.bounds_of(3, "percent") is not None, "a hidden share carries its count's bounds"
    assert "suppressed" in t.to_csv().splitlines()[4]


def test_protect_is_required_before_reading_and_is_idempotent():
    pub = reach_publication()
    with pytest.raises(SpecificationError, match="protect"):
        pub["reach"]
    pub.protect()
    first = pub["reach"].data.copy()
    pub.protect()
    pd.testing.assert_frame_equal(pub["reach"].data, first)
    with pytest.raises(SpecificationError, match="already protected"):
        pub.add("late", pd.DataFrame({"n": [73]}), columns={"n": Count([Key.of()])})


# ====================================================================== means and SDs
def means_publication(with_all=True) -> tuple[Publication, pd.Series]:
    rng = np.random.default_rng(1)
    score = series(rng.integers(14, 71, len(SITES)).astype(float))
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES), levels=["north", "east", "west"])
    pub.measure("wemwbs", score, lower=14, upper=70)
    keys = SITE_KEYS if with_all else SITE_KEYS[1:]
    names = ["all", "north", "east", "west"][-len(keys):]
    frame = pd.DataFrame({"site": names, "n": [pub.count(k) for k in keys],
                          "mean": [score[pub._mask(k)].mean() for k in keys],
                          "sd": [score[pub._mask(k)].std() for k in keys]})
    pub.add("means", frame, status="status",
            columns={"site": Label(), "n": Count(keys), "mean": Mean("wemwbs", keys),
                     "sd": SD("wemwbs", keys)})
    return pub, score


def test_mean_and_sd_of_a_hidden_n_are_hidden_with_the_hidden_status(tmp_path):
    pub, _ = means_publication()
    pub.protect()
    t = pub["means"]
    for row in (2, 3):
        assert not t.shown(row, "n")
        assert not t.shown(row, "mean") and not t.shown(row, "sd"), \
            f"row {row}: a mean with its n hidden gives away the sum behind it"
        assert t.data["status"].iat[row] == HIDDEN, t.data["status"].tolist()
    assert HIDDEN == "not shown (protects a small group)"
    for row in (0, 1):
        assert t.shown(row, "mean") and t.data["status"].iat[row] == ""
    assert "status" in t.data.columns and t.columns["status"] == Label()
    assert len(audit(pub, tmp_path)) == 0


def test_a_declared_mean_that_does_not_match_the_data_is_refused():
    pub, score = means_publication()
    frame, cols, status, file = pub._spec("means")
    frame.loc[1, "mean"] += 1.0
    with pytest.raises(SpecificationError, match=r"means\[1\]\.mean"):
        pub.protect()


# ====================================================================== estimates and min_n
def stat_publication(min_n=10) -> Publication:
    groups = ["a"] * 30 + ["b"] * 7 + ["c"] * 12
    pub = Publication(threshold=T)
    pub.dimension("group", series(groups))
    keys = [Key.of(group=g) for g in "abc"]
    frame = pd.DataFrame({"group": list("abc"), "n": [30, 7, 12], "estimate": [0.5, 0.2, -0.1],
                          "ci_low": [0.1, -0.3, -0.6], "ci_high": [0.9, 0.7, 0.4]})
    pub.add("est", frame, status="status", columns={
        "group": Label(), "n": Count(keys), "estimate": Stat(keys, min_n=min_n),
        "ci_low": Linked("estimate"), "ci_high": Linked("estimate")})
    return pub


def test_estimate_for_a_shown_group_below_min_n_says_too_few():
    pub = stat_publication(min_n=10)
    pub.protect()
    t = pub["est"]
    assert t.data["n"].tolist() == [30, 7, 12], "7 >= T: the count itself is shown"
    assert np.isnan(t.data["estimate"].iat[1]) and np.isnan(t.data["ci_low"].iat[1]) \
        and np.isnan(t.data["ci_high"].iat[1]), "no estimate or limits for a group of 7 < 10"
    assert t.data["status"].iat[1] == too_few(10) == "too few to estimate (fewer than 10)"
    assert t.data["estimate"].iat[2] == -0.1 and t.data["status"].iat[2] == ""
    rules = pub.log.set_index(["row", "column"])["rule"]
    assert rules[("group=b", "estimate")] == "withheld: group smaller than 10"


def test_estimate_without_min_n_is_shown_for_any_shown_group():
    pub = stat_publication(min_n=None)
    pub.protect()
    assert pub["est"].data["estimate"].tolist() == [0.5, 0.2, -0.1]
    assert len(pub.log) == 0


# ====================================================================== declarations checked
def test_a_key_that_does_not_count_the_value_is_an_error_naming_table_row_and_column():
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES))
    frame = pd.DataFrame({"site": ["north", "east"], "n": [40, 31]})
    pub.add("reach", frame, columns={"site": Label(),
                                     "n": Count([Key.of(site="north"), Key.of(site="east")])})
    with pytest.raises(SpecificationError) as exc:
        pub.protect()
    msg = str(exc.value)
    assert "reach[1].n" in msg and "31" in msg and "30" in msg, msg


def test_registration_errors():
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES))
    frame = pd.DataFrame({"site": ["north"], "n": [40]})
    with pytest.raises(SpecificationError, match="no role for"):
        pub.add("t", frame, columns={"site": Label()})
    with pytest.raises(SpecificationError, match="entries for 1 rows"):
        pub.add("t", frame, columns={"site": Label(), "n": Count([Key.of(), Key.of()])})
    with pytest.raises(SpecificationError, match="linked to unknown"):
        pub.add("t", frame, columns={"site": Label(), "n": Linked("x")})
    pub.add("t", frame, columns={"site": Label(), "n": Count([Key.of(site="north")])})
    with pytest.raises(SpecificationError, match="twice"):
        pub.add("t", frame, columns={"site": Label(), "n": Count([Key.of(site="north")])})
    with pytest.raises(SpecificationError, match="threshold"):
        Publication(threshold=0)
    with pytest.raises(SpecificationError, match="not levels"):
        pub.count(Key.of(site="south"))


# ====================================================================== linked tables
def test_the_same_key_in_two_tables_is_hidden_in_both_or_neither(tmp_path):
    pub = reach_publication()
    started = ["yes"] * 60 + ["no"] * 13
    pub.dimension("started", series(started))
    keys2 = [Key.of(site="east"), Key.of(site="north"), Key.of(site="west"),
             Key.of(started="yes"), Key.of(started="no")]
    frame = pd.DataFrame({"what": ["east", "north", "west", "started", "not started"],
                          "n": [pub.count(k) for k in keys2]})
    pub.add("summary", frame, columns={"what": Label(), "n": Count(keys2)})
    pub.protect()
    state = {}
    for name in ("reach", "summary"):
        t = pub[name]
        for i, k in enumerate(t.columns["n"].keys):
            state.setdefault(k, set()).add(t.shown(i, "n"))
    for k, seen in state.items():
        assert len(seen) == 1, f"{k} is shown in one table and hidden in another"
    assert state[Key.of(site="west")] == {False}
    complements = [k for k, seen in state.items() if seen == {False} and k != Key.of(site="west")]
    assert complements, "west needs a complement, hidden wherever its key is published"
    assert len(audit(pub, tmp_path)) == 0


# ====================================================================== reliable change
RC = ["improved", "unchanged", "deteriorated"]
RC_GROUPS = {"g1": (8, 10, 2), "g2": (6, 7, 2), "g3": (1, 4, 1)}


def reliable_change_publication(threshold=T) -> Publication:
    grp, rc = [], []
    for g, counts in RC_GROUPS.items():
        for r, c in zip(RC, counts):
            grp += [g] * c
            rc += [r] * c
    grp += ["g1"] * 3
    rc += [None] * 3                                   # unclassified: no follow-up score
    pub = Publication(threshold=threshold)
    pub.dimension("group", series(grp))
    pub.dimension("rc", series(rc), levels=RC)
    rows, keys, dens = [], [], []
    for g in ["all", *RC_GROUPS]:
        base = Key.of() if g == "all" else Key.of(group=g)
        for r in RC:
            rows.append({"group": g, "result": r})
            keys.append(base & {"rc": r})
            dens.append(base & {"rc": RC})
    t = pd.DataFrame(rows)
    t["n"] = [pub.count(k) for k in dens]
    t["count"] = [pub.count(k) for k in keys]
    t["proportion"] = t["count"] / t["n"]
    t["ci_low"] = t["proportion"] * 0.8
    t["ci_high"] = np.minimum(t["proportion"] * 1.2, 1.0)
    pub.add("rc", t, columns={"group": Label(), "result": Label(), "n": Count(dens),
                              "count": Count(keys), "proportion": Share(keys, dens),
                              "ci_low": Linked("proportion"), "ci_high": Linked("proportion")})
    return pub


def test_reliable_change_groups_with_an_all_group_leave_nothing_to_subtract(tmp_path):
    pub = reliable_change_publication()
    pub.protect()
    t = pub["rc"]
    counts = t.data["count"]
    # g3 (1 improved, 1 deteriorated) is hidden; the all-group row minus g1 and g2 would give it
    for i in (9, 11):
        assert not t.shown(i, "count"), f"row {i}: a count of 1 must be hidden"
    g3_from_all = [counts.iat[j] - counts.iat[3 + j] - counts.iat[6 + j] for j in range(3)]
    assert all(math.isnan(x) for x in g3_from_all), \
        f"all - g1 - g2 must not give g3's counts: {g3_from_all}"
    assert_protected(t)
    for col in ("proportion", "ci_low", "ci_high"):
        assert (t.hidden[col] | ~t.hidden["count"]).all() and \
            (t.hidden[col] >= t.hidden["count"]).all(), f"{col} shown for a hidden count"
    found = audit(pub, tmp_path)
    assert len(found) == 0, f"the auditor breaks the protected table:\n{found.to_string()}"


# ====================================================================== a lone cross key
def test_lone_two_way_key_is_protected_against_the_cells_it_implies(tmp_path):
    """n(both) >= n(baseline) + n(end) - n(referred): a lone hidden 'both' needs a complement."""
    base = ["yes"] * 11 + ["no"]
    end = ["yes"] * 4 + ["no"] * 7 + ["yes"]              # end 5, both 4
    pub = Publication(threshold=T)
    pub.dimension("base", series(base))
    pub.dimension("end", series(end))
    keys = [Key.of(), Key.of(base="yes"), Key.of(end="yes"), Key.of(base="yes", end="yes")]
    frame = pd.DataFrame({"stage": ["referred", "baseline", "end", "both"],
                          "n": [pub.count(k) for k in keys]})
    assert frame["n"].tolist() == [12, 11, 5, 4]
    pub.add("flow", frame, columns={"stage": Label(), "n": Count(keys)})
    pub.protect()
    t = pub["flow"]
    assert not t.shown(3, "n")
    # what a reader can work out, trying every population with these published numbers
    levels = pub._dim_levels()["person"]
    problem = Problem({d: levels[d] for d in ("base", "end")},
                      {row: k for row, k in enumerate(keys)})
    fixed = {row: t.data["n"].iat[row] for row in range(4) if t.shown(row, "n")}
    hidden = [row for row in range(4) if not t.shown(row, "n")]
    total = [int(fixed[0])] if 0 in fixed else range(0, 16)
    reader = problem.brute(fixed, {}, hidden, total)
    for row in hidden:
        lo, hi = reader[row]
        assert hi - lo >= T or lo >= T, \
            f"{frame['stage'][row]}: a reader narrows it to [{lo}, {hi}] from {fixed}"
    assert len(audit(pub, tmp_path)) == 0


# ====================================================================== logs
def test_log_has_the_rule_and_public_log_does_not():
    pub = reach_publication()
    pub.protect()
    log, public = pub.log, pub.public_log
    assert list(log.columns) == ["table", "row", "column", "rule"]
    assert list(public.columns) == ["table", "row", "column"], \
        "the public log must not say which hidden cells are the small ones"
    rules = log.set_index(["row", "column"])["rule"]
    assert rules[("site=west", "n")] == "primary: count below 5"
    assert rules[("site=east", "n")].startswith("secondary")
    assert rules[("site=west", "percent")].startswith("withheld")
    assert len(public) == len(log) == 4
    cells = {str(x) for x in log.to_numpy().ravel()}
    assert not cells & {"3", "30", "3.0", "30.0"}, f"the log must not hold hidden values: {cells}"


# ====================================================================== threshold and zeros
def test_threshold_ten_hides_more_than_five():
    groups = ["a"] * 30 + ["b"] * 7 + ["c"] * 12
    out = {}
    for threshold in (5, 10):
        pub = Publication(threshold=threshold)
        pub.dimension("group", series(groups))
        keys = [Key.of(), *[Key.of(group=g) for g in "abc"]]
        pub.add("t", pd.DataFrame({"group": ["all", "a", "b", "c"], "n": [49, 30, 7, 12]}),
                columns={"group": Label(), "n": Count(keys)})
        pub.protect()
        out[threshold] = pub
    assert out[5]["t"].hidden["n"].sum() == 0, "7 >= 5: nothing to hide"
    t10 = out[10]["t"]
    assert t10.hidden["n"].tolist() == [False, False, True, True], t10.data
    assert out[10].log.set_index("row")["rule"]["group=b"] == "primary: count below 10"
    assert t10.threshold == 10
    assert_protected(t10, threshold=10)
    assert out[10].manifest()["threshold"] == 10


def _zero_publication(suppress_zeros) -> Publication:
    groups = ["a"] * 20 + ["b"] * 12
    done = ["yes"] * 20 + ["no"] * 12                    # nobody in b finished: a zero
    pub = Publication(threshold=T, suppress_zeros=suppress_zeros)
    pub.dimension("group", series(groups))
    pub.dimension("done", series(done))
    keys = [Key.of(group="a", done="yes"), Key.of(group="a", done="no"),
            Key.of(group="b", done="yes"), Key.of(group="b", done="no")]
    pub.add("t", pd.DataFrame({"cell": ["a yes", "a no", "b yes", "b no"],
                               "n": [20, 0, 0, 12]}),
            columns={"cell": Label(), "n": Count(keys)})
    return pub


def test_zeros_are_shown_by_default():
    pub = _zero_publication(False)
    pub.protect()
    assert pub["t"].data["n"].tolist() == [20, 0, 0, 12]


def test_suppress_zeros_hides_zero_counts_and_protects_them():
    pub = _zero_publication(True)
    pub.protect()
    t = pub["t"]
    assert not t.shown(1, "n") and not t.shown(2, "n"), t.data
    rules = pub.log.set_index("row")["rule"]
    assert rules["cell=a no"] == "primary: zero count"
    assert pub.manifest()["suppress_zeros"] is True


def test_a_zero_inside_a_small_group_is_hidden_with_it(tmp_path):
    groups = ["a"] * 20 + ["b"] * 3
    rc = ["improved"] * 10 + ["unchanged"] * 10 + ["unchanged"] * 3   # b: 0 improved
    pub = Publication(threshold=T)
    pub.dimension("group", series(groups))
    pub.dimension("rc", series(rc))
    keys = [k for g in "ab" for k in
            (Key.of(group=g), Key.of(group=g, rc="improved"), Key.of(group=g, rc="unchanged"))]
    pub.add("t", pd.DataFrame({"cell": ["a", "a+", "a=", "b", "b+", "b="],
                               "n": [pub.count(k) for k in keys]}),
            columns={"cell": Label(), "n": Count(keys)})
    pub.protect()
    t = pub["t"]
    assert t.data["n"].tolist()[:3] == [20, 10, 10]
    assert t.hidden["n"].tolist()[3:] == [True, True, True], \
        "0 improved in a group of 3 says what all three did: hidden with the group"
    rules = pub.log.set_index("row")["rule"]
    assert rules["cell=b+"] == "primary: zero in a group smaller than 5"
    assert len(audit(pub, tmp_path)) == 0
