"""The auditor: adversarial report folders, each built to leak one way, must each be caught.

Folders are built from a protected :class:`Publication` (the untampered folder must audit clean)
and then tampered with, cell by cell, the way a careless edit or a bug would: a hidden cell
unhidden, a share or mean left in, a file or column nobody declared. Some are written by hand
with a manifest built from ``Key.to_json()``.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import SpecificationError
from evalkit.pipeline.write import ReportWriter
from evalkit.report.disclosure import (Count, Key, Label, Linked, Mean, Publication, Rounded,
                                       Share, Stat)
from evalkit.report.disclosure.audit import FINDING_COLUMNS, audit_folder

T = 5
SITES = ["north"] * 40 + ["east"] * 30 + ["west"] * 3
SITE_NAMES = ["all", "north", "east", "west"]
SITE_KEYS = [Key.of(), Key.of(site="north"), Key.of(site="east"), Key.of(site="west")]


# ====================================================================== helpers
def series(values) -> pd.Series:
    return pd.Series(list(values), index=[f"P{i:05d}" for i in range(len(values))])


def write_tables(pub: Publication, folder: Path) -> Path:
    for name in pub.tables:
        path = folder / pub[name].file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pub[name].to_csv(), encoding="utf-8")
    return folder


def read_cell(folder: Path, file: str, row: int, column: str) -> str:
    rows = list(csv.reader(io.StringIO((folder / file).read_text(encoding="utf-8"))))
    return rows[row + 1][rows[0].index(column)]


def tamper(folder: Path, file: str, row: int, column: str, value) -> None:
    """Overwrite one cell of a published CSV (row counted from 0 below the header)."""
    path = folder / file
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[row + 1][rows[0].index(column)] = str(value)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def findings_with(found: pd.DataFrame, text: str, *, table=None, row=None, column=None):
    sel = found["finding"].str.contains(text, regex=False)
    if table is not None:
        sel &= found["table"] == table
    if row is not None:
        # the auditor labels rows by every label column (a status column too): match the start
        sel &= (found["row"] == row) | found["row"].str.startswith(row + ", ")
    if column is not None:
        sel &= found["column"] == column
    return found[sel]


def assert_finding(found: pd.DataFrame, text: str, **where) -> None:
    hits = findings_with(found, text, **where)
    assert len(hits), (f"expected a finding containing {text!r} at {where}; the auditor found:\n"
                       + (found.to_string() if len(found) else "(nothing)"))


def assert_clean(found: pd.DataFrame) -> None:
    assert list(found.columns) == FINDING_COLUMNS
    assert len(found) == 0, f"expected no findings, got:\n{found.to_string()}"


def reach_publication(*, extra=None) -> Publication:
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES), levels=["north", "east", "west"])
    n = [pub.count(k) for k in SITE_KEYS]
    pub.add("reach", pd.DataFrame({"site": SITE_NAMES, "n": n}),
            columns={"site": Label(), "n": Count(SITE_KEYS)})
    if extra:
        extra(pub)
    pub.protect()
    return pub


@pytest.fixture()
def reach(tmp_path):
    pub = reach_publication()
    assert pub["reach"].hidden["n"].tolist() == [False, False, True, True]
    return pub, write_tables(pub, tmp_path)


# ====================================================================== counts
def test_untampered_reach_is_clean(reach):
    pub, folder = reach
    assert read_cell(folder, "tables/reach.csv", 3, "n") == "suppressed"
    assert_clean(audit_folder(folder, manifest=pub.manifest()))


def test_a_published_count_below_the_threshold(reach):
    pub, folder = reach
    tamper(folder, "tables/reach.csv", 3, "n", "3")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "a count below 5", table="reach", row="site=west", column="n")
    assert len(found) == 1, f"only the published 3 is a problem:\n{found.to_string()}"


def unhide_complements(pub, folder, table, small_row, truth):
    """Publish the true value of every hidden count of ``table`` except ``small_row``'s."""
    t = pub[table]
    rows = [i for i in range(len(t.data)) if not t.shown(i, "n") and i != small_row]
    assert rows, f"{table}: the small count has no complement to unhide"
    for i in rows:
        tamper(folder, t.file, i, "n", truth[i])
    return rows


def test_a_hidden_count_recoverable_by_subtraction(reach):
    pub, folder = reach
    unhide_complements(pub, folder, "reach", 3, [73, 40, 30, 3])
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "hidden count can be narrowed", table="reach", row="site=west",
                   column="n")
    assert len(findings_with(found, "a count below")) == 0, "30 is not a small count"


def test_threshold_argument_overrides_the_manifest(reach):
    pub, folder = reach
    assert_clean(audit_folder(folder, manifest=pub.manifest(), threshold=10))
    tamper(folder, "tables/reach.csv", 3, "n", "7")
    assert_clean(audit_folder(folder, manifest=pub.manifest()))      # 7 >= 5
    found = audit_folder(folder, manifest=pub.manifest(), threshold=10)
    assert_finding(found, "a count below 10 is published (7)", table="reach", row="site=west")


def test_across_tables_a_second_table_gives_the_hidden_count_away(tmp_path):
    # written by hand so that both tables hide east as west's complement
    m = manifest({
        "reach": {"file": "tables/reach.csv", "rows": 4, "status": None,
                  "columns": {"site": {"role": "label"}, "n": count_column(SITE_KEYS)}},
        "sites": {"file": "tables/sites.csv", "rows": 3, "status": None,
                  "columns": {"site": {"role": "label"}, "n": count_column(SITE_KEYS[1:])}}})
    write(tmp_path, "tables/reach.csv",
          "site,n\nall,73\nnorth,40\neast,suppressed\nwest,suppressed\n")
    write(tmp_path, "tables/sites.csv", "site,n\nnorth,40\neast,suppressed\nwest,suppressed\n")
    assert_clean(audit_folder(tmp_path, manifest=m))
    write(tmp_path, "tables/sites.csv", "site,n\nnorth,40\neast,30\nwest,suppressed\n")
    found = audit_folder(tmp_path, manifest=m)
    assert_finding(found, "hidden count can be narrowed to 0–3", table="reach", row="site=west",
                   column="n")
    assert_finding(found, "hidden count can be narrowed to 0–3", table="sites", row="site=west")


def test_a_built_publication_with_a_second_table_audits_clean_until_tampered(tmp_path):
    def sites_table(pub):
        pub.add("sites", pd.DataFrame({"site": SITE_NAMES[1:], "n": [40, 30, 3]}),
                columns={"site": Label(), "n": Count(SITE_KEYS[1:])})

    pub = reach_publication(extra=sites_table)
    folder = write_tables(pub, tmp_path)
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    # whatever complement protection chose, publishing every hidden count of B but west's and
    # every hidden count of A but west's gives west away in A
    truth = dict(zip(SITE_NAMES, [73, 40, 30, 3]))
    for name in ("reach", "sites"):
        t = pub[name]
        for i in range(len(t.data)):
            site = t.data["site"].iat[i]
            if not t.shown(i, "n") and site != "west":
                tamper(folder, t.file, i, "n", truth[site])
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "hidden count can be narrowed", table="reach", row="site=west")


# ====================================================================== shares
def test_a_share_shown_while_its_count_is_hidden_elsewhere(tmp_path):
    def shares(pub):
        pub.add("shares", pd.DataFrame({"site": ["west"], "percent": [100 * 3 / 73]}),
                columns={"site": Label(),
                         "percent": Share([Key.of(site="west")], [Key.of()], scale=100)})

    pub = reach_publication(extra=shares)
    folder = write_tables(pub, tmp_path)
    assert read_cell(folder, "tables/shares.csv", 0, "percent") == "suppressed"
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    tamper(folder, "tables/shares.csv", 0, "percent", f"{100 * 3 / 73:.6g}")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "a share is shown while a count it rests on is hidden",
                   table="shares", column="percent")
    # share x n: 4.10959% of 73 is 3, so west itself is worked out in the other table
    assert_finding(found, "hidden count can be narrowed to 3–3", table="reach", row="site=west")


# ====================================================================== means
def means_publication(site, *, zero_missing=False, seed=2):
    score = series(np.random.default_rng(seed).integers(14, 71, len(site)).astype(float))
    pub = Publication(threshold=T)
    pub.dimension("site", series(site), levels=["north", "east", "west"])
    pub.measure("wemwbs", score, lower=14, upper=70)
    if zero_missing:
        pub.zero(Key.of(site="(missing)"))               # every mother has a site
    mean = [float(score[pub._mask(k)].mean()) for k in SITE_KEYS]
    pub.add("means", pd.DataFrame({"site": SITE_NAMES, "n": [pub.count(k) for k in SITE_KEYS],
                                   "mean": mean}),
            status="status", columns={"site": Label(), "n": Count(SITE_KEYS),
                                      "mean": Mean("wemwbs", SITE_KEYS)})
    pub.protect()
    return pub, mean


def test_a_mean_shown_for_a_group_whose_n_is_hidden(tmp_path):
    pub, mean = means_publication(SITES)
    folder = write_tables(pub, tmp_path)
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    tamper(folder, "tables/means.csv", 3, "mean", f"{mean[3]:.6g}")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "a mean is shown while the count it rests on is hidden",
                   table="means", row="site=west", column="mean")


def test_the_total_behind_a_hidden_mean_from_the_all_mean_and_the_other_groups(tmp_path):
    one_at_west = ["north"] * 40 + ["east"] * 30 + ["west"]
    pub, mean = means_publication(one_at_west, zero_missing=True)
    t = pub["means"]
    assert t.hidden["mean"].tolist() == [False, False, True, True]
    folder = write_tables(pub, tmp_path)
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    tamper(folder, "tables/means.csv", 2, "n", "30")
    tamper(folder, "tables/means.csv", 2, "mean", f"{mean[2]:.6g}")
    found = audit_folder(folder, manifest=pub.manifest())
    # 71 x all-mean - 40 x north - 30 x east is the one west mother's score
    assert_finding(found, "total behind a hidden mean", table="means", row="site=west",
                   column="mean")


# ====================================================================== linked cells
def test_a_confidence_limit_shown_while_its_estimate_is_hidden(tmp_path):
    groups = ["a"] * 30 + ["b"] * 3 + ["c"] * 12
    pub = Publication(threshold=T)
    pub.dimension("group", series(groups))
    keys = [Key.of(group=g) for g in "abc"]
    pub.add("est", pd.DataFrame({"group": list("abc"), "n": [30, 3, 12],
                                 "estimate": [0.5, 0.2, -0.1], "ci_low": [0.1, -0.3, -0.6],
                                 "ci_high": [0.9, 0.7, 0.4]}),
            status="status", columns={"group": Label(), "n": Count(keys),
                                      "estimate": Stat(keys, min_n=T),
                                      "ci_low": Linked("estimate"), "ci_high": Linked("estimate")})
    pub.protect()
    folder = write_tables(pub, tmp_path)
    assert read_cell(folder, "tables/est.csv", 1, "ci_low") == "suppressed"
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    tamper(folder, "tables/est.csv", 1, "ci_low", "-0.3")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "shown while estimate of the same row is hidden", table="est",
                   row="group=b", column="ci_low")
    tamper(folder, "tables/est.csv", 1, "estimate", "0.2")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "an estimate is shown for a group whose count is hidden",
                   table="est", row="group=b", column="estimate")


# ====================================================================== hand-built folders
def manifest(tables: dict, *, levels=None, threshold=T, **more) -> dict:
    """A disclosure manifest written by hand, keys from Key.to_json()."""
    return {"format": 1, "threshold": threshold, "min_group": threshold, "suppress_zeros": False,
            "dimensions": {"person": levels or {"site": ["north", "east", "west", "(missing)"]}},
            "zeros": [], "subsets": [], "measures": {}, "tables": tables, **more}


def count_column(keys) -> dict:
    return {"role": "count", "keys": [k.to_json() for k in keys]}


def write(folder: Path, file: str, text: str) -> None:
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_rounded_count_narrowed_by_an_exact_count(tmp_path):
    keys = SITE_KEYS[1:]
    m = manifest({
        "rounded": {"file": "tables/rounded.csv", "rows": 3, "status": None,
                    "columns": {"site": {"role": "label"},
                                "n": {"role": "rounded", "keys": [k.to_json() for k in keys],
                                      "width": T + 1}}},
        "exact": {"file": "tables/exact.csv", "rows": 3, "status": None,
                  "columns": {"site": {"role": "label"}, "n": count_column(SITE_KEYS[:3])}}})
    # rounded down to multiples of 6: north 40 -> 36, east 30 -> 30, west 3 -> 0
    write(tmp_path, "tables/rounded.csv", "site,n\nnorth,36\neast,30\nwest,0\n")
    write(tmp_path, "tables/exact.csv", "site,n\nall,suppressed\nnorth,suppressed\neast,suppressed\n")
    assert_clean(audit_folder(tmp_path, manifest=m))
    # the exact total, north and east leave west in [0, 3]: a small count nearly known
    write(tmp_path, "tables/exact.csv", "site,n\nall,73\nnorth,40\neast,30\n")
    found = audit_folder(tmp_path, manifest=m)
    assert_finding(found, "rounded count can be narrowed", table="rounded", row="site=west",
                   column="n")
    write(tmp_path, "tables/rounded.csv", "site,n\nnorth,36\neast,31\nwest,0\n")
    assert_finding(audit_folder(tmp_path, manifest=m), "not a multiple of 6", table="rounded")


def test_rounded_counts_protected_by_a_publication_then_unhidden(tmp_path):
    keys = SITE_KEYS[1:]
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES), levels=["north", "east", "west"])
    pub.add("rounded", pd.DataFrame({"site": SITE_NAMES[1:], "n": [36, 30, 0]}),
            columns={"site": Label(), "n": Rounded(keys, T + 1)})
    pub.add("exact", pd.DataFrame({"site": SITE_NAMES[:3], "n": [73, 40, 30]}),
            columns={"site": Label(), "n": Count(SITE_KEYS[:3])})
    pub.protect()
    assert pub.manifest()["tables"]["rounded"]["columns"]["n"]["width"] == T + 1
    hidden = [i for i in range(3) if not pub["exact"].shown(i, "n")]
    assert hidden, "exact counts would narrow the rounded west to [0, 3]: some must be hidden"
    folder = write_tables(pub, tmp_path)
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    for i in hidden:
        tamper(folder, "tables/exact.csv", i, "n", [73, 40, 30][i])
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "rounded count can be narrowed to 0–3", table="rounded",
                   row="site=west", column="n")


def test_inconsistent_published_numbers_contradict_the_declarations(tmp_path):
    m = manifest({"reach": {"file": "tables/reach.csv", "rows": 4, "status": None,
                            "columns": {"site": {"role": "label"}, "n": count_column(SITE_KEYS)}}})
    write(tmp_path, "tables/reach.csv",
          "site,n\nall,73\nnorth,40\neast,suppressed\nwest,suppressed\n")
    assert_clean(audit_folder(tmp_path, manifest=m))
    # the total is smaller than its parts: no table of people gives these numbers
    write(tmp_path, "tables/reach.csv",
          "site,n\nall,60\nnorth,40\neast,30\nwest,suppressed\n")
    found = audit_folder(tmp_path, manifest=m)
    assert_finding(found, "contradict", table="reach")


# ====================================================================== files and text
def test_a_date_in_an_html_file(reach):
    pub, folder = reach
    write(folder, "impact.html", "<p>Report for the year.</p>\n")
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    write(folder, "impact.html", "<p>Referred on 2024-03-01.</p>\n")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "a date", table="impact.html")
    assert "2024-03-01" in findings_with(found, "a date")["finding"].iat[0]


def test_a_participant_identifier_given_or_by_the_declared_pattern(reach):
    pub, folder = reach
    write(folder, "impact.html", "<p>Case study: P00001 said it helped.</p>\n")
    assert_clean(audit_folder(folder, manifest=pub.manifest()))
    found = audit_folder(folder, manifest=pub.manifest(), identifiers=["P00001"])
    assert_finding(found, "identifier", table="impact.html")
    assert_clean(audit_folder(folder, manifest=pub.manifest(), identifiers=["P99999"]))
    declared = {**pub.manifest(), "identifier_pattern": r"\bP\d{5}\b"}
    assert_finding(audit_folder(folder, manifest=declared), "identifier", table="impact.html")


def test_an_undeclared_csv(reach):
    pub, folder = reach
    write(folder, "tables/extra.csv", "site,n\nwest,3\n")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "no declarations", table="tables/extra.csv")


def test_an_undeclared_column(reach):
    pub, folder = reach
    path = folder / "tables/reach.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",sessions"] + [line + ",4" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "do not describe", table="reach", column="sessions")


def test_long_free_text_in_a_label_but_not_in_evalkit_messages(tmp_path):
    long_text = "She told us about her week in detail. " * 6
    assert len(long_text) > 200
    pub = Publication(threshold=T)
    pub.dimension("site", series(SITES))
    frame = pd.DataFrame({"note": [long_text], "message": [long_text], "n": [73]})
    pub.add("notes", frame, columns={"note": Label(), "message": Label(text=True),
                                     "n": Count([Key.of()])})
    pub.protect()
    folder = write_tables(pub, tmp_path)
    found = audit_folder(folder, manifest=pub.manifest())
    assert_finding(found, "free text", table="notes", column="note")
    assert len(findings_with(found, "free text", column="message")) == 0, \
        "a Label(text=True) column holds evalkit's own messages"


# ====================================================================== CLI
def committed_report(pub: Publication, out: Path) -> Path:
    with ReportWriter(out) as w:
        for name in pub.tables:
            w.write_text(pub[name].file, pub[name].to_csv())
        w.commit(extra={"disclosure": pub.manifest()})
    return out


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", "audit", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_audit_clean_tampered_and_unreadable(tmp_path):
    pub = reach_publication()
    report = committed_report(pub, tmp_path / "report")
    assert json.loads((report / "manifest.json").read_text())["disclosure"]["threshold"] == T
    assert_clean(audit_folder(report))                    # reads manifest.json itself

    out = tmp_path / "findings.json"
    clean = run_cli(report, "--json", out)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    lines = clean.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[-1].endswith(" 0 finding(s)") and str(report) in lines[-1], \
        clean.stdout
    assert json.loads(out.read_text()) == []

    unhide_complements(pub, report, "reach", 3, [73, 40, 30, 3])
    tampered = run_cli(report, "--json", "-")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    records, end = json.JSONDecoder().raw_decode(tampered.stdout)
    assert isinstance(records, list) and len(records) == 1, records
    assert records[0]["table"] == "reach" and records[0]["column"] == "n" \
        and set(records[0]) == set(FINDING_COLUMNS), records
    lines = tampered.stdout[end:].strip().splitlines()
    assert len(lines) == 2 and lines[-1].endswith(" 1 finding(s)"), lines
    assert lines[0].startswith("reach [site=west] n: hidden count can be narrowed"), lines

    bare = tmp_path / "bare"
    write_tables(pub, bare)
    missing = run_cli(bare)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "manifest.json" in missing.stderr and "Traceback" not in missing.stderr + missing.stdout


def test_audit_folder_refuses_what_it_cannot_audit(tmp_path):
    with pytest.raises(SpecificationError, match="not a folder"):
        audit_folder(tmp_path / "nope")
    with pytest.raises(SpecificationError, match="cannot read"):
        audit_folder(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"generator": "evalkit", "files": {}}))
    with pytest.raises(SpecificationError, match="no 'disclosure'"):
        audit_folder(tmp_path)


def test_a_file_the_manifest_does_not_list(tmp_path):
    pub = reach_publication()
    report = committed_report(pub, tmp_path / "report")
    write(report, "notes.txt", "written after the run\n")
    assert_finding(audit_folder(report), "a file the manifest does not list", table="notes.txt")


def test_numeric_identifiers_are_not_counts_but_are_caught_where_they_name_someone(reach):
    # REDCap numbers records 1, 2, 3 …: the published counts 73, 40 and 30 are record numbers too
    pub, folder = reach
    ids = [str(i) for i in range(1, 74)]
    write(folder, "impact.html", "<p>73 mothers; 40 in the north at week 12.</p>\n")
    assert_clean(audit_folder(folder, manifest=pub.manifest(), identifiers=ids))
    write(folder, "impact.html", "<p>Case study: record 12 said it helped.</p>\n")
    found = audit_folder(folder, manifest=pub.manifest(), identifiers=ids)
    assert_finding(found, "identifier", table="impact.html")
    write(folder, "impact.html", "<p>Report.</p>\n")
    path = folder / "tables/reach.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0] + ",record_id"] + [f"{line},7" for line in lines[1:]])
                    + "\n", encoding="utf-8")
    found = audit_folder(folder, manifest=pub.manifest(), identifiers=ids)
    assert_finding(found, "identifier", table="tables/reach.csv")
    # identifiers with letters are still matched as tokens anywhere (here: in a label cell)
    tamper(folder, "tables/reach.csv", 1, "site", "MT-0040")
    found = audit_folder(folder, manifest=pub.manifest(), identifiers=["MT-0040"])
    assert_finding(found, "identifier", table="tables/reach.csv")
