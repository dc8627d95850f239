"""Disclosure control: hand-worked suppression patterns, recoverability properties, logs, identifiers."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.errors import SpecificationError, UnknownNameError
from evalkit.models.survival import kaplan_meier
from evalkit.report.disclosure import (ALWAYS_RESTRICTED, LOG_COLUMNS, SUMMARY_COLUMNS,
                                       DisclosureControl, SafeTable, display, find_identifiers,
                                       restricted_columns)

PRIMARY = "primary: count below 5"
SAME_GROUP = "secondary: protects a suppressed cell in the same group"
LINKED = "linked: percent of a suppressed count"


def _nan_list(s):
    return [None if np.isnan(v) else v for v in s.astype(float)]


def _reach():
    return pd.DataFrame({"context": ["site"] * 4,
                         "level": ["north", "east", "west", "Total"],
                         "n": [40, 30, 3, 73],
                         "percent": [54.8, 41.1, 4.1, 100.0]})


# ====================================================================== counts: hand-worked
def test_level_of_three_suppressed_with_its_complement_and_percent():
    dc = DisclosureControl()
    safe = dc.counts(_reach(), name="reach by context", count_columns=["n"],
                     percent_columns={"n": "percent"}, groups=["context"], total="Total")
    # 3 < 5 is primary; 30 is the smallest other non-zero cell, else 73 - 40 - 30 = 3 comes back
    assert _nan_list(safe.data["n"]) == [40.0, None, None, 73.0]
    assert _nan_list(safe.data["percent"]) == [54.8, None, None, 100.0]
    assert safe.hidden["n"].tolist() == [False, True, True, False]
    assert safe.hidden["percent"].tolist() == [False, True, True, False]
    assert not safe.hidden[["context", "level"]].to_numpy().any()
    assert safe.data[["context", "level"]].equals(_reach()[["context", "level"]])
    log = dc.log
    assert list(log.columns) == LOG_COLUMNS
    assert log.values.tolist() == [
        ["reach by context", "context=site, level=east", "n", SAME_GROUP],
        ["reach by context", "context=site, level=east", "percent", LINKED],
        ["reach by context", "context=site, level=west", "n", PRIMARY],
        ["reach by context", "context=site, level=west", "percent", LINKED],
    ]


def test_two_small_cells_need_no_secondary_and_groups_are_separate():
    t = pd.DataFrame({"context": ["site"] * 3 + ["mode"] * 3,
                      "level": ["north", "east", "west", "one", "group", "both"],
                      "n": [40, 30, 3, 66, 3, 4]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="reach", count_columns="n", groups="context")
    assert _nan_list(safe.data["n"]) == [40.0, None, None, 66.0, None, None]
    rules = dict(zip(dc.log["row"], dc.log["rule"]))
    assert rules == {"context=site, level=east": SAME_GROUP, "context=site, level=west": PRIMARY,
                     "context=mode, level=group": PRIMARY, "context=mode, level=both": PRIMARY}


def test_ties_take_the_first_cell_in_row_order():
    t = pd.DataFrame({"g": ["a", "b", "c", "d"], "n": [12, 9, 9, 2]})
    safe = DisclosureControl().counts(t, name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [False, True, False, True]


def test_group_total_below_threshold_hides_everything_in_it():
    t = pd.DataFrame({"ctx": ["x"] * 3 + ["y"] * 2, "lv": ["a", "b", "c", "a", "b"],
                      "n": [2, 1, 0, 20, 7]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns="n", groups="ctx")
    assert safe.hidden["n"].tolist() == [True, True, True, False, False]
    assert dc.log["rule"].tolist() == [PRIMARY, PRIMARY, "primary: group total below 5"]


def test_hidden_ones_that_would_add_up_to_their_count_get_a_complement():
    # 52 - 50 = 2 shared by two suppressed cells, each at least 1: both would be 1
    t = pd.DataFrame({"eth": ["white", "black", "asian"], "n": [50, 1, 1]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [True, True, True]
    assert dc.log["rule"].tolist() == [
        "secondary: stops suppressed cells being deduced from their sum", PRIMARY, PRIMARY]
    # 1 + 2 = 3 does not pin either cell
    safe = DisclosureControl().counts(pd.DataFrame({"n": [50, 1, 2]}), name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [False, True, True]


def test_threshold_ten():
    t = pd.DataFrame({"site": ["a", "b", "c"], "n": [40, 30, 9]})
    assert DisclosureControl(threshold=5).counts(t, name="t", count_columns="n").hidden["n"].sum() == 0
    dc = DisclosureControl(threshold=10)
    safe = dc.counts(t, name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [False, True, True]
    assert dc.threshold == 10
    assert "primary: count below 10" in dc.log["rule"].tolist()


@pytest.mark.parametrize("bad", [0, -1, "5", 5.0, True, None])
def test_bad_threshold(bad):
    with pytest.raises(SpecificationError, match="threshold must be a whole number >= 1"):
        DisclosureControl(threshold=bad)


def test_numpy_integer_threshold_and_repr():
    dc = DisclosureControl(threshold=np.int64(7))
    assert dc.threshold == 7 and isinstance(dc.threshold, int)
    assert repr(dc) == "DisclosureControl(threshold=7, suppress_zeros=False, tables=0, hidden_cells=0)"


def test_suppress_zeros():
    t = pd.DataFrame({"g": ["a", "b", "c"], "n": [0, 20, 30]})
    assert DisclosureControl().counts(t, name="t", count_columns="n").hidden["n"].sum() == 0
    dc = DisclosureControl(suppress_zeros=True)
    safe = dc.counts(t, name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [True, True, False]
    assert dc.log["rule"].tolist() == ["primary: zero count", SAME_GROUP]


def test_total_row_is_never_the_complement_but_is_suppressed_when_small():
    t = pd.DataFrame({"lv": ["a", "b", "Total"], "n": [3, 1, 4]})
    safe = DisclosureControl().counts(t, name="t", count_columns="n", total="Total")
    assert safe.hidden["n"].tolist() == [True, True, True]
    t = pd.DataFrame({"lv": ["a", "b", "Total"], "n": [3, 9, 12]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns="n", total=("lv", "Total"))
    assert safe.hidden["n"].tolist() == [True, True, False]


def test_total_as_a_column_repeating_the_group_total():
    t = pd.DataFrame({"ctx": ["x", "x", "y", "y"], "lv": ["a", "b", "a", "b"], "n": [1, 2, 10, 20],
                      "n_ctx": [3, 3, 30, 30]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns="n", groups="ctx", total="n_ctx")
    assert safe.hidden["n"].tolist() == [True, True, False, False]
    assert safe.hidden["n_ctx"].tolist() == [True, True, False, False]
    with pytest.raises(SpecificationError, match="must repeat one value within each group"):
        dc.counts(t.assign(n_ctx=[3, 4, 30, 30]), name="t2", count_columns="n", groups="ctx",
                  total="n_ctx")


def test_two_way_table_with_row_and_column_totals():
    t = pd.DataFrame({"site": ["north", "east", "west", "Total"],
                      "one": [20, 3, 10, 33], "group": [15, 12, 8, 35], "n_total": [35, 15, 18, 68]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="site by mode", count_columns=["one", "group"], row_total="n_total",
                     total="Total")
    # east.one = 3 (primary); column "one" takes west.one = 10; row east takes east.group = 12;
    # row west then takes west.group = 8; column "group" has two hidden: done (a 2 x 2 cycle)
    assert _nan_list(safe.data["one"]) == [20.0, None, None, 33.0]
    assert _nan_list(safe.data["group"]) == [15.0, None, None, 35.0]
    assert not safe.hidden["n_total"].any()
    log = dc.log
    assert log[["row", "column", "rule"]].values.tolist() == [
        ["site=east", "one", PRIMARY],
        ["site=east", "group", "secondary: protects a suppressed cell in the same row"],
        ["site=west", "one", SAME_GROUP],
        ["site=west", "group", "secondary: protects a suppressed cell in the same row"],
    ]
    assert _determined_cells(t, ["one", "group"], "n_total", safe.hidden) == []


def _determined_cells(table, counts, row_total, hidden, total_row=-1):
    """Independent check: which hidden cells follow exactly from the row and column equations."""
    cols = counts + [row_total]
    n = len(table)
    cells = [(i, c) for i in range(n) for c in cols if hidden[c].iat[i]]
    index = {cell: k for k, cell in enumerate(cells)}
    eqs = []
    rows = [i for i in range(n) if i != n + total_row]
    for c in cols:   # column c: interior rows add up to the total row
        eqs.append([(i, c, 1.0) for i in rows] + [(n + total_row, c, -1.0)])
    for i in range(n):   # row i: counts add up to the row total
        eqs.append([(i, c, 1.0) for c in counts] + [(i, row_total, -1.0)])
    a = np.zeros((len(eqs), len(cells)))
    for r, eq in enumerate(eqs):
        for i, c, w in eq:
            if (i, c) in index:
                a[r, index[(i, c)]] = w
    out = []
    rank = np.linalg.matrix_rank(a) if cells else 0
    for k, cell in enumerate(cells):
        e = np.zeros((1, len(cells)))
        e[0, k] = 1
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(cell)
    return out


def test_audit_breaks_a_bridge_between_two_suppressed_cycles():
    # primary cells: a 2 x 2 block in rows r1-r2 x c1-c2, another in r3-r4 x c3-c4, and r2.c3
    # joining them. Every row and column then has >= 2 hidden cells, yet r2.c3 equals
    # (row r1 + row r2) - (column c1 + column c2) of published numbers. The audit hides one more
    # cell of column c3 (its first equation): the smallest non-zero, first in row order, r1.c3.
    counts = ["c1", "c2", "c3", "c4", "c5"]
    body = np.array([[2, 3, 20, 20, 20], [3, 2, 4, 20, 20], [20, 20, 2, 3, 20],
                     [20, 20, 3, 2, 20], [20, 20, 20, 20, 20]])
    full = np.vstack([body, body.sum(axis=0)])
    t = pd.DataFrame(full, columns=counts)
    t.insert(0, "row", ["r1", "r2", "r3", "r4", "r5", "Total"])
    t["n_total"] = full.sum(axis=1)
    primary_only = t[counts].to_numpy() < 5
    assert _determined_cells(t, counts, "n_total", pd.DataFrame(
        np.c_[primary_only, np.zeros(6, bool)], columns=counts + ["n_total"])) == [(1, "c3")]
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns=counts, row_total="n_total", total="Total")
    expected = primary_only.copy()
    expected[0, 2] = True
    assert (safe.hidden[counts].to_numpy() == expected).all()
    assert not safe.hidden["n_total"].any()
    audit = dc.log[dc.log["rule"].str.contains("combining totals")]
    assert audit[["row", "column"]].values.tolist() == [["row=r1", "c3"]]
    assert _determined_cells(t, counts, "n_total", safe.hidden) == []


def test_percent_whose_denominator_is_suppressed_is_hidden():
    # east's row total 3 is below 5: the whole row goes; the column of row totals then needs a
    # complement (west's 18), and with it hidden, west's row percents (10/18) would give it back
    t = pd.DataFrame({"site": ["north", "east", "west", "Total"],
                      "one": [20, 1, 10, 31], "group": [15, 2, 8, 25], "n_total": [35, 3, 18, 56],
                      "pct_one": [57.1, 33.3, 55.6, 55.4], "pct_group": [42.9, 66.7, 44.4, 44.6]})
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns=["one", "group"], row_total="n_total", total="Total",
                     percent_columns={"one": "pct_one", "group": "pct_group"})
    assert safe.hidden["n_total"].tolist() == [False, True, True, False]
    assert safe.hidden.loc[2, ["pct_one", "pct_group"]].all()
    for c, pc in (("one", "pct_one"), ("group", "pct_group")):
        assert not (safe.hidden[c] & ~safe.hidden[pc]).any()
    assert _determined_cells(t, ["one", "group"], "n_total", safe.hidden) == []


def test_row_percents_of_shown_counts_are_hidden_with_their_row_total():
    # east (1, 1, 1 | 3) is all suppressed. The row-total column then takes west's 21 (smallest);
    # west's row takes its smallest cell, a = 7. West's b = 7 and c = 7 stay, but 7 / 33.3% would
    # give back the hidden 21, so their row percents go. Columns a, b take north (6), c takes
    # south (5); south's row then takes a = 40.
    body = np.array([[6, 6, 60], [1, 1, 1], [7, 7, 7], [40, 40, 5]])
    full = np.vstack([body, body.sum(axis=0)])
    t = pd.DataFrame(full, columns=["a", "b", "c"])
    t.insert(0, "site", ["north", "east", "west", "south", "Total"])
    t["n_total"] = full.sum(axis=1)
    for c in "abc":
        t[f"pct_{c}"] = (100 * t[c] / t["n_total"]).round(1)
    dc = DisclosureControl()
    safe = dc.counts(t, name="t", count_columns=["a", "b", "c"], row_total="n_total", total="Total",
                     percent_columns={c: f"pct_{c}" for c in "abc"})
    assert safe.hidden[["a", "b", "c", "n_total"]].astype(int).values.tolist() == [
        [1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert safe.hidden.loc[2, ["pct_a", "pct_b", "pct_c"]].all()
    log = dc.log
    assert log.loc[log["rule"] == "linked: percent whose denominator is suppressed",
                   ["row", "column"]].values.tolist() == [["site=west", "pct_b"],
                                                          ["site=west", "pct_c"]]
    assert _determined_cells(t, ["a", "b", "c"], "n_total", safe.hidden) == []


def test_cells_already_missing_are_left_alone_and_not_used_as_complements():
    t = pd.DataFrame({"g": ["a", "b", "c", "d"], "n": [3, np.nan, 40, 30]})
    safe = DisclosureControl().counts(t, name="t", count_columns="n")
    assert safe.hidden["n"].tolist() == [True, False, False, True]
    assert np.isnan(safe.data["n"].iat[1])


# ====================================================================== counts: properties
@st.composite
def _grouped_tables(draw):
    n_groups = draw(st.integers(1, 4))
    rows = []
    for g in range(n_groups):
        k = draw(st.integers(1, 5))
        values = draw(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 40)), min_size=k,
                               max_size=k))
        rows += [{"grp": f"g{g}", "level": f"l{j}", "n": v} for j, v in enumerate(values)]
        rows.append({"grp": f"g{g}", "level": "Total", "n": sum(values)})
    return pd.DataFrame(rows), draw(st.sampled_from([3, 5, 10])), draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_grouped_tables())
def test_no_hidden_count_can_be_recovered_from_a_published_total(case):
    table, threshold, zeros = case
    safe = DisclosureControl(threshold=threshold, suppress_zeros=zeros).counts(
        table, name="t", count_columns="n", groups="grp", total="Total")
    hid = safe.hidden["n"].to_numpy()
    n = table["n"].to_numpy()
    # hidden cells are NaN, shown cells unchanged, and no shown count is small
    assert np.isnan(safe.data["n"].to_numpy()[hid]).all()
    assert (safe.data["n"].to_numpy()[~hid] == n[~hid]).all()
    small = (n > 0) & (n < threshold) | ((n == 0) & zeros)
    assert not (small & ~hid).any()
    for _, g in table.groupby("grp"):
        is_total = (g["level"] == "Total").to_numpy()
        gh = hid[g.index][~is_total]
        gv = n[g.index][~is_total]
        if hid[g.index][is_total][0]:        # the total is itself suppressed: all of it is
            assert gh.all()
            continue
        k = int(gh.sum())
        # 0 hidden, or >= 2 whose published sum does not pin each one (every hidden count >= 1)
        assert k != 1
        if k >= 2 and not zeros:
            assert gv[gh].sum() > k


@st.composite
def _two_way_tables(draw):
    n_rows, n_cols = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    body = np.array(draw(st.lists(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 30)),
                                           min_size=n_cols, max_size=n_cols),
                                  min_size=n_rows, max_size=n_rows)))
    full = np.vstack([body, body.sum(axis=0)])
    counts = [f"c{j}" for j in range(n_cols)]
    t = pd.DataFrame(full, columns=counts)
    t.insert(0, "row", [f"r{i}" for i in range(n_rows)] + ["Total"])
    t["n_total"] = full.sum(axis=1)
    return t, counts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_two_way_tables())
def test_two_way_tables_leave_no_cell_determined(case):
    table, counts = case
    safe = DisclosureControl().counts(table, name="t", count_columns=counts, row_total="n_total",
                                      total="Total")
    hid = safe.hidden
    values = table[counts + ["n_total"]].to_numpy()
    assert not (((values > 0) & (values < 5)) & ~hid[counts + ["n_total"]].to_numpy()).any()
    assert _determined_cells(table, counts, "n_total", hid) == []
    # every row and column equation whose total is shown has 0 or >= 2 hidden cells
    for i in range(len(table)):
        if not hid["n_total"].iat[i]:
            assert hid.loc[i, counts].sum() != 1
    for c in counts + ["n_total"]:
        if not hid[c].iat[-1]:
            assert hid[c].iloc[:-1].sum() != 1


# ====================================================================== estimates
def test_estimates_withheld_below_threshold():
    t = pd.DataFrame({"context": ["site"] * 3, "level": ["north", "east", "west"],
                      "n_participants": [40, 30, 3], "estimate": [4.0, 2.5, 9.1],
                      "std_error": [1.0, 1.2, 3.3], "p_value": [0.001, 0.04, 0.01]})
    dc = DisclosureControl()
    safe = dc.estimates(t, name="change by context", n_column="n_participants",
                        value_columns=["estimate", "std_error", "p_value"])
    assert np.isnan(safe.data.loc[2, ["n_participants", "estimate", "std_error", "p_value"]]
                    .astype(float)).all()
    assert safe.data["status"].tolist() == ["", "", "withheld (n < 5)"]
    assert safe.data.loc[:1, "estimate"].tolist() == [4.0, 2.5]
    assert safe.data.loc[:1, "n_participants"].tolist() == [40.0, 30.0]   # no groups: no secondary
    assert dc.log["rule"].tolist() == [PRIMARY] + ["withheld: group below 5"] * 3
    assert dc.log["row"].unique().tolist() == ["context=site, level=west"]
    shown = display(safe, digits=2)
    assert shown.loc[2].tolist() == ["site", "west", "suppressed", "withheld (n < 5)",
                                     "withheld (n < 5)", "withheld (n < 5)", "withheld (n < 5)"]
    assert shown.loc[0].tolist() == ["site", "north", "40", "4.00", "1.00", "0.001", ""]


def test_estimates_secondary_on_n_keeps_the_estimate_and_keeps_existing_status():
    t = pd.DataFrame({"level": ["north", "east", "west", "south"], "n": [40, 30, 3, np.nan],
                      "status": ["estimated", "estimated", "estimated", "not estimable"],
                      "estimate": [4.0, 2.5, 9.1, np.nan]})
    dc = DisclosureControl()
    safe = dc.estimates(t, name="e", n_column="n", value_columns="estimate", groups=None)
    assert safe.data["status"].tolist() == ["estimated", "estimated", "withheld (n < 5)",
                                            "withheld (n unknown)"]
    safe = DisclosureControl().estimates(t.assign(grp="site"), name="e", n_column="n",
                                         value_columns="estimate", groups="grp")
    assert safe.hidden["n"].tolist() == [False, True, True, False]
    assert safe.data["estimate"].iat[1] == 2.5


def test_estimates_zero_n_is_withheld_but_shown():
    t = pd.DataFrame({"level": ["a", "b"], "n": [0, 20], "mean": [np.nan, 3.0]})
    safe = DisclosureControl().estimates(t, name="e", n_column="n", value_columns=["mean"])
    assert safe.data["n"].tolist() == [0.0, 20.0]
    assert safe.hidden["mean"].tolist() == [True, False]
    assert safe.data["status"].tolist() == ["withheld (n < 5)", ""]


def test_chained_passes_keep_earlier_suppression():
    t = pd.DataFrame({"item": ["hope"] * 3, "group": ["all", "one", "both"], "n": [40, 37, 3],
                      "mean": [3.1, 3.2, 2.0], "agree": [30, 28, 2],
                      "percent_agree": [75.0, 75.7, 66.7]})
    dc = DisclosureControl()
    first = dc.estimates(t, name="ratings", n_column="n", value_columns=["mean", "agree",
                                                                        "percent_agree"])
    second = dc.counts(first.data, name="ratings (agree)", count_columns="agree",
                       percent_columns={"agree": "percent_agree"}, groups="item", previous=first)
    assert second.hidden.loc[2, ["n", "mean", "agree", "percent_agree"]].all()
    # agree (2) was already hidden by the first pass: the second pass protects it by hiding 28
    # (smallest non-zero other cell; the previous pass's cells count as hidden)
    assert second.hidden["agree"].tolist() == [False, True, True]
    assert second.kinds["mean"] == "estimate" and second.kinds["agree"] == "estimate"
    assert second.data["status"].tolist() == ["", "", "withheld (n < 5)"]
    assert dc.log["table"].value_counts().to_dict() == {"ratings": 4, "ratings (agree)": 2}
    with pytest.raises(SpecificationError, match="other rows"):
        dc.counts(first.data.iloc[:2], name="bad", count_columns="agree", previous=first)


# ====================================================================== risk tables
def _risk():
    return pd.DataFrame({
        "group": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "time": [0.0, 10.0, 20.0] * 3,
        "at_risk": [40, 30, 2, 30, 22, 12, 3, 1, 0],
        "events": [0, 6, 20, 0, 5, 10, 0, 1, 2],
        "censored": [0, 4, 18, 0, 3, 8, 0, 1, 1]})


def test_risk_table_withholds_small_groups_and_protects_rows():
    dc = DisclosureControl()
    safe = dc.risk_table(_risk(), name="km", across_groups=False)
    assert safe.withheld_groups == ("c",)
    d = safe.data
    assert safe.hidden.loc[d["group"] == "c", ["at_risk", "events", "censored"]].all().all()
    # a at 10: censored 4 hidden; the row adds up to 40, so the smallest other non-zero (6) goes
    # a at 20: at_risk 2 hidden; censored 18 goes with it.  b at 10: censored 3, then events 5
    assert _nan_list(d.loc[1, ["at_risk", "events", "censored"]]) == [30.0, None, None]
    assert _nan_list(d.loc[2, ["at_risk", "events", "censored"]]) == [None, 20.0, None]
    assert _nan_list(d.loc[4, ["at_risk", "events", "censored"]]) == [22.0, None, None]
    assert _nan_list(d.loc[5, ["at_risk", "events", "censored"]]) == [12.0, 10.0, 8.0]
    assert _nan_list(d.loc[0, ["at_risk", "events", "censored"]]) == [40.0, 0.0, 0.0]
    log = dc.log
    assert set(log.loc[log["row"].str.startswith("group=c"), "rule"]) == {"withheld: group below 5"}
    assert log.loc[(log["row"] == "group=a, time=20") & (log["column"] == "at_risk"),
                   "rule"].tolist() == [PRIMARY]
    assert log.loc[(log["row"] == "group=a, time=20") & (log["column"] == "censored"),
                   "rule"].tolist() == ["secondary: protects a suppressed count at the same time"]


def test_risk_table_across_groups_withholds_a_second_group():
    dc = DisclosureControl()
    safe = dc.risk_table(_risk(), name="km")
    # c alone withheld would be the overall table minus a and b: the smaller of those (b) goes too
    assert safe.withheld_groups == ("c", "b")
    assert set(dc.log.loc[dc.log["row"].str.startswith("group=b"), "rule"]) == {
        "withheld: protects a withheld group"}
    assert _nan_list(safe.data.loc[1, ["at_risk", "events", "censored"]]) == [30.0, None, None]


def test_risk_table_from_kaplan_meier_with_upstream_suppression():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"w": rng.integers(1, 30, 60).astype(float), "e": rng.integers(0, 2, 60),
                      "g": ["x"] * 35 + ["y"] * 22 + ["z"] * 3})
    km = kaplan_meier(d, duration="w", event="e", by="g")
    risk = km.risk_table([0, 10, 20, 25], suppress_below=5)
    dc = DisclosureControl()
    safe = dc.risk_table(risk, name="km")
    assert safe.withheld_groups == ("z", "y")
    counts = safe.data[["at_risk", "events", "censored"]].to_numpy()
    assert not ((counts > 0) & (counts < 5)).any()
    assert safe.data["suppressed"].tolist() == safe.hidden[["at_risk", "events", "censored"]] \
        .any(axis=1).tolist()
    upstream = risk[["at_risk", "events", "censored"]].isna().to_numpy()
    assert safe.hidden[["at_risk", "events", "censored"]].to_numpy()[upstream].all()
    # every row of a drawn group has 0 or >= 2 hidden counts
    per_row = safe.hidden.loc[safe.data["group"] == "x", ["at_risk", "events", "censored"]].sum(axis=1)
    assert not (per_row == 1).any()


def test_risk_table_time_zero_ties_do_not_hide_the_starting_number():
    # 1 event and 1 censoring at time 0 are ties at 0: at_risk(0) = 40 says nothing about them
    risk = pd.DataFrame({"group": ["a", "a"], "time": [0.0, 10.0], "at_risk": [40, 30],
                         "events": [1, 6], "censored": [1, 5]})
    safe = DisclosureControl().risk_table(risk, name="km")
    assert _nan_list(safe.data["at_risk"]) == [40.0, 30.0]
    assert safe.hidden.loc[0, ["events", "censored"]].tolist() == [True, True]
    assert not safe.hidden.loc[1].any()


def test_risk_table_group_sizes_and_errors():
    risk = _risk()[lambda r: r["time"] > 0].reset_index(drop=True)
    safe = DisclosureControl().risk_table(risk, name="km", group_sizes={"a": 40, "b": 30, "c": 3},
                                          across_groups=False)
    assert safe.withheld_groups == ("c",)
    with pytest.raises(UnknownNameError, match="at_risk"):
        DisclosureControl().risk_table(risk.drop(columns="at_risk"), name="km")


def test_km_curve_stops_below_threshold_and_hides_withheld_groups():
    km = pd.DataFrame({"group": ["a"] * 4 + ["b"] * 2, "time": [1.0, 2, 3, 4, 1, 2],
                       "at_risk": [9, 7, 4, 6, 3, 2], "events": [2, 3, 1, 0, 1, 1],
                       "censored": [0, 0, 0, 0, 0, 0],
                       "survival": [0.78, 0.44, 0.33, 0.33, 0.67, 0.33],
                       "ci_low": [0.5, 0.2, 0.1, 0.1, 0.3, 0.1], "ci_high": [1.0] * 6})
    dc = DisclosureControl()
    safe = dc.km_curve(km, name="curve")
    assert safe.withheld_groups == ("b",)
    assert _nan_list(safe.data["survival"]) == [0.78, 0.44, None, None, None, None]
    assert safe.hidden.loc[4:, ["at_risk", "events", "censored"]].all().all()
    assert display(safe).loc[2, "survival"] == "withheld (n < 5)"
    safe = DisclosureControl().km_curve(km, name="curve", withheld_groups=["a"])
    assert safe.withheld_groups == ("a", "b")
    with pytest.raises(UnknownNameError, match="not in the table"):
        DisclosureControl().km_curve(km, name="curve", withheld_groups=["zz"])


# ====================================================================== log, summary, output
def test_log_never_contains_hidden_values():
    dc = DisclosureControl()
    t = pd.DataFrame({"site": ["north", "east", "west"], "n": [40, 37, 3], "pct": [50.0, 46.25, 3.75]})
    safe = dc.counts(t, name="reach", count_columns="n", percent_columns={"n": "pct"})
    e = pd.DataFrame({"site": ["north", "west"], "n_participants": [40, 3], "estimate": [1.5, 8.25]})
    safe2 = dc.estimates(e, name="change", n_column="n_participants", value_columns="estimate")
    log = dc.log
    assert len(log) == int(safe.hidden.to_numpy().sum() + safe2.hidden.to_numpy().sum()) == 6
    text = log.to_csv(index=False)
    assert find_identifiers(text, ["37", "3", "46.25", "3.75", "8.25"]) == []
    # nor does the published table keep them anywhere
    for obj in (safe, safe2):
        blob = obj.to_csv() + repr(obj.data.to_dict()) + repr(obj.kinds)
        assert find_identifiers(blob, ["37", "46.25", "3.75", "8.25"]) == []
    assert dc.summary().values.tolist() == [
        ["reach", SAME_GROUP, 1], ["reach", LINKED, 2], ["reach", PRIMARY, 1],
        ["change", PRIMARY, 1], ["change", "withheld: group below 5", 1]]
    assert list(DisclosureControl().summary().columns) == SUMMARY_COLUMNS


def test_to_csv_is_exact_and_deterministic(tmp_path):
    dc = DisclosureControl()
    safe = dc.counts(_reach(), name="reach", count_columns="n", percent_columns={"n": "percent"},
                     total="Total")
    expected = ("context,level,n,percent\n"
                "site,north,40,54.8\n"
                "site,east,suppressed,suppressed\n"
                "site,west,suppressed,suppressed\n"
                "site,Total,73,100\n")
    assert safe.to_csv() == expected
    safe.to_csv(tmp_path / "sub" / "a.csv")
    safe.to_csv(tmp_path / "b.csv")
    assert (tmp_path / "sub" / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() \
        == expected.encode()


def test_display_conventions():
    t = pd.DataFrame({"lv": ["a", "b", "c"], "n": [20, 30, 4], "percent": [37.04, 55.56, 7.41],
                      "score": [np.nan, 1.0, 2.0]})
    safe = DisclosureControl().counts(t, name="t", count_columns="n", percent_columns={"n": "percent"})
    shown = DisclosureControl.display(safe)
    assert shown.values.tolist() == [["a", "suppressed", "suppressed", ""],
                                     ["b", "30", "55.6", "1"],
                                     ["c", "suppressed", "suppressed", "2"]]
    with pytest.raises(SpecificationError, match="SafeTable"):
        display(t)


def test_safe_table_is_frozen():
    safe = DisclosureControl().counts(_reach(), name="t", count_columns="n")
    assert isinstance(safe, SafeTable)
    with pytest.raises(AttributeError):
        safe.data = None


# ====================================================================== input errors
def test_input_errors_name_what_and_how():
    dc = DisclosureControl()
    t = pd.DataFrame({"site": ["a", "b"], "n": [10, 20], "pct": [33.3, 66.7]})
    with pytest.raises(UnknownNameError, match=r"count_columns \['m'\] not in the table"):
        dc.counts(t, name="t", count_columns="m")
    with pytest.raises(SpecificationError, match="negative"):
        dc.counts(t.assign(n=[-1, 2]), name="t", count_columns="n")
    with pytest.raises(SpecificationError, match="must hold numbers"):
        dc.counts(t, name="t", count_columns="site")
    with pytest.raises(SpecificationError, match="both as count_columns and as groups"):
        dc.counts(t, name="t", count_columns="n", groups="n")
    with pytest.raises(SpecificationError, match="not a count column"):
        dc.counts(t, name="t", count_columns="n", percent_columns={"pct": "n"})
    with pytest.raises(SpecificationError, match="no row is labelled 'Total'"):
        dc.counts(t, name="t", count_columns="n", total="Total")
    with pytest.raises(SpecificationError, match="name must be a non-empty string"):
        dc.counts(t, name="", count_columns="n")
    with pytest.raises(SpecificationError, match="DataFrame"):
        dc.counts(t.to_dict(), name="t", count_columns="n")
    dc.counts(t, name="t", count_columns="n")
    with pytest.raises(SpecificationError, match="already processed"):
        dc.counts(t, name="t", count_columns="n")
    with pytest.raises(SpecificationError, match="value column 'site' must hold numbers"):
        dc.estimates(t, name="e", n_column="n", value_columns="site")


def test_restricted_columns_are_refused(dd):
    cols = restricted_columns(dd)
    for c in ("participant_id", "assessed_on", "referred_on", "volunteer_id", "epds_self_harm",
              "phq9_self_harm", "core10_risk", *ALWAYS_RESTRICTED):
        assert c in cols
    assert "site" not in cols and "delivery_mode" not in cols
    t = pd.DataFrame({"participant_id": ["P0001"], "n": [1]})
    with pytest.raises(SpecificationError, match=r"\['participant_id'\] must never be published"):
        DisclosureControl().counts(t, name="t", count_columns="n")
    dc = DisclosureControl(restricted=cols)
    with pytest.raises(SpecificationError, match="epds_self_harm"):
        dc.counts(pd.DataFrame({"site": ["a"], "epds_self_harm": [2]}), name="t",
                  count_columns="epds_self_harm")
    with pytest.raises(SpecificationError, match="Date_Of_Birth"):
        dc.estimates(pd.DataFrame({"Date_Of_Birth": ["x"], "n": [9], "m": [1.0]}), name="e",
                     n_column="n", value_columns="m")


# ====================================================================== identifiers
def test_find_identifiers_whole_tokens():
    html = ("<td>P0001</td><td>P00011</td><a href='P0003_fig.png'>x</a> XP0004 p0005 "
            "<p>id AB-12.</p> AB-123 ZAB-12x")
    ids = ["P0001", "P0002", "P0003", "P0004", "P0005", "AB-12", "AB-1", None, ""]
    assert find_identifiers(html, ids) == ["AB-12", "P0001", "P0003", "P0005"]
    assert find_identifiers(html, ids, case_sensitive=True) == ["AB-12", "P0001", "P0003"]
    assert find_identifiers("P00011 and 1P0001", ["P0001"]) == []


def test_find_identifiers_reads_files_and_folders(tmp_path):
    (tmp_path / "figs").mkdir()
    (tmp_path / "impact.html").write_text("<p>No identifiers here</p>", encoding="utf-8")
    (tmp_path / "figs" / "table.csv").write_text("site,n\nP0042,3\n", encoding="utf-8")
    assert find_identifiers(tmp_path / "impact.html", ["P0042"]) == []
    assert find_identifiers(tmp_path, pd.Series(["P0042", "P0043"])) == ["P0042"]
    with pytest.raises(SpecificationError, match="does not exist"):
        find_identifiers(tmp_path / "nope.html", ["P1"])
    with pytest.raises(SpecificationError, match="give the text"):
        find_identifiers(42, ["P1"])


def test_find_identifiers_is_fast_enough():
    ids = [f"P{i:06d}" for i in range(100_000)]
    rng = np.random.default_rng(0)
    words = np.array(["<td>", "</td>", "mothers", "wellbeing", "42.0", "site", "north", "A1B2C3"])
    text = " ".join(rng.choice(words, 350_000)) + " P012345 "
    assert len(text) > 2_000_000
    start = time.perf_counter()
    found = find_identifiers(text, ids)
    elapsed = time.perf_counter() - start
    assert found == ["P012345"]
    assert elapsed < 5.0
