"""Issue 11's examples as regression tests: nothing hidden can be worked out, no sentence is false.

Each test names the example it guards. They run on two shared end-to-end runs (see conftest): a
60-mother scenario with a one-mother site, a yes/no group, EPDS primary, one safeguarding flag and
a formula-like label; and a run whose threshold (1000) no count reaches.
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pandas as pd

from evalkit.report.disclosure import Key
from evalkit.report.disclosure.audit import audit_folder

from .conftest import INJECTION, html_text, truth_within_bounds


def _csv(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def _published_numbers(folder):
    """Every numeric cell of every published CSV: (file, row, column, value)."""
    out = []
    for path in sorted([*folder.glob("tables/*.csv"), *folder.glob("figures/*.csv")]):
        rows = _csv(path)
        for i, row in enumerate(rows[1:]):
            for col, cell in zip(rows[0], row):
                try:
                    out.append((path.name, i, col, float(cell)))
                except ValueError:
                    pass
    return out


def test_the_run_is_audited_clean_and_the_auditor_agrees_from_the_files(scenario_run):
    folder, result = scenario_run
    assert result.findings.empty, result.findings.to_string()
    again = audit_folder(folder / "report")
    assert again.empty, again.to_string()
    manifest = json.loads((folder / "report" / "manifest.json").read_text())
    assert manifest["audit"] == {"findings": 0, "hidden_cells": len(result.suppression_log)}


def test_every_hidden_count_lies_within_the_bounds_sentences_rely_on(scenario_run):
    _, result = scenario_run
    assert truth_within_bounds(result) == []


def test_no_hidden_count_of_the_reliable_change_table_follows_from_the_all_row(scenario_run):
    # "the reliable-change table hides a group's deteriorations while the all row and the other
    # groups' counts give them by subtraction"
    folder, result = scenario_run
    table = result.publication["epds_reliable_change"]
    for (i, col), b in table.bounds.items():
        assert b.upper - b.lower >= 5 or b.lower >= 5, (i, col, b)


def test_no_share_times_n_gives_a_count_below_the_threshold(scenario_run):
    # "*_by_context.csv publishes share reliably worse with n_change (0.0689655 x 29 = 2)";
    # "completers.csv publishes shares with n that give counts hidden in reach_by_context.csv"
    folder, result = scenario_run
    pub = result.publication
    from evalkit.report.disclosure import Share

    for name, table in pub.tables.items():
        for col, spec in table.columns.items():
            if not isinstance(spec, Share):
                continue
            for i in range(len(table.data)):
                if table.hidden[col].iat[i] or pd.isna(table.data[col].iat[i]):
                    continue
                num = spec.num[i]
                count = sum(pub.count(k) for k in (num if isinstance(num, list) else [num]))
                assert count == 0 or count >= 5, f"{name}[{i}].{col}: share of {count} shown"


def test_a_mothers_own_sessions_cannot_be_had_from_the_all_mean(scenario_run):
    # "with one mother at a site, the all mean of sessions.csv and the other sites' means give
    # her exact sessions"
    folder, result = scenario_run
    pub = result.publication
    assert pub.count(Key.of(site="west")) == 1
    sessions = pub["sessions"].data
    west = sessions[(sessions["variable"] == "Programme site") & (sessions["level"] == "West")]
    assert west["mean"].isna().all() and west["n"].isna().all()
    site_rows = sessions[sessions["variable"] == "Programme site"]
    # another site's mean is hidden with it, so the all-mean gives only a sum of two groups
    assert site_rows["mean"].isna().sum() >= 2


def test_kaplan_meier_publishes_only_pooled_counts(scenario_run):
    # "figures/km.csv steps give the events that km_risk_table.csv hides"
    folder, result = scenario_run
    for name in ("figures/km.csv", "tables/km_risk_table.csv"):
        rows = _csv(folder / "report" / name)
        head = rows[0]
        for col in ("disengaged", "ended_otherwise"):
            j = head.index(col)
            for r in rows[1:]:
                assert r[j] == "" or float(r[j]) % 6 == 0, (name, r)


def test_one_safeguarding_flag_is_not_published(scenario_run):
    # 'the technical report says "1 safeguarding flag(s) raised"'
    folder, result = scenario_run
    pub = result.publication
    assert pub.count(Key.of(safeguarding_flag="yes")) == 1
    checks = pub["data_checks"]
    row = list(checks.data["check"]).index("safeguarding flags raised (mothers)")
    assert checks.hidden["n"].iat[row]
    for page in ("impact.html", "technical.html"):
        text = html_text(folder / "report" / page)
        assert not re.search(r"\b1 safeguarding", text)
    restricted = folder / "report-restricted" / "safeguarding_flags.csv"
    assert restricted.is_file() and len(_csv(restricted)) == 2


def test_a_yes_no_group_is_estimated_per_level(scenario_run):
    # "a yes/no variable as model.group gives one row labelled 0.8333333333333334 and empty figures"
    folder, result = scenario_run
    by_group = result.publication["epds_change_by_group"].data
    assert set(by_group["group"]) <= {"yes", "no"} and len(by_group) == 2
    traj = result.publication["epds_trajectory"].data
    assert set(traj["group"]) <= {"yes", "no"}
    assert (folder / "report" / "figures" / "epds_trajectory.png").stat().st_size > 5000


def test_one_minimum_group_size_holds_in_every_section(scenario_run):
    # "small groups are estimated in one section (n = 6) and called too small (n < 10) in another"
    folder, result = scenario_run
    pub = result.publication
    for name, table in pub.tables.items():
        for col, spec in table.columns.items():
            if getattr(spec, "min_n", None) is None:
                continue
            assert spec.min_n == pub.min_group == 10, (name, col)
            for i in range(len(table.data)):
                if table.hidden[col].iat[i] or pd.isna(table.data[col].iat[i]):
                    continue
                for entry in ([spec.n[i]] if isinstance(spec.n[i], Key) else spec.n[i] or []):
                    keys = entry if isinstance(entry, list) else [entry]
                    n = sum(pub.count(k) for k in keys)
                    assert n >= 10, f"{name}[{i}].{col} estimated on {n} mothers"


def test_sentences_never_call_a_large_hidden_count_small(scenario_run):
    # "fewer than 5 reliably improved ... when 17 and 3 did"
    folder, result = scenario_run
    for page in ("impact.html", "technical.html"):
        text = html_text(folder / "report" / page)
        for m in re.finditer(r"fewer than (\d+)", text):
            around = text[max(0, m.start() - 120): m.end() + 40]
            assert int(m.group(1)) == 10 and ("estimate" in around or "groups of" in around), around


def test_largest_improvement_is_the_largest_fall_for_epds(scenario_run):
    folder, result = scenario_run
    text = html_text(folder / "report" / "impact.html")
    table = result.publication["epds_change_by_group"].data.dropna(subset=["estimate"])
    m = re.search(r"Improvement in perinatal depressive symptoms \(EPDS\) was largest for ([\w-]+) "
                  r"\(a (rise|fall) of ([\d.]+) points", text)
    if len(table) >= 2:
        assert m, text[:2000]
        best = table.loc[table["estimate"].idxmin(), "group"]       # higher is worse
        assert m.group(1) == best
        assert m.group(2) == ("fall" if table["estimate"].min() < 0 else "rise")


def test_formula_like_labels_are_neutralised_in_every_csv(scenario_run):
    folder, result = scenario_run
    hits = 0
    for path in [*(folder / "report").rglob("*.csv"), *(folder / "report-restricted").rglob("*.csv")]:
        for row in _csv(path):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
                hits += cell == "'" + INJECTION
    assert hits > 0, "the formula-like site label was not published at all"


def test_restricted_outputs_are_owner_only(scenario_run):
    folder, _ = scenario_run
    restricted = folder / "report-restricted"
    assert oct(restricted.stat().st_mode & 0o777) == "0o700"
    for f in restricted.rglob("*"):
        if f.is_file():
            assert oct(f.stat().st_mode & 0o777) == "0o600", f.name


def test_threshold_1000_hides_every_count_and_every_estimate(threshold_1000_run):
    # "with suppression_threshold: 1000 sentences and model tables still show n = 57"
    folder, result = threshold_1000_run
    assert result.findings.empty
    report = folder / "report"
    for name, row, col, value in _published_numbers(report):
        if name.startswith(("run_", "km_curve", "km_risk")) or col in ("week", "time", "sessions",
                                                                        "probability", "theoretical",
                                                                        "delta", "isolation",
                                                                        "population_percent"):
            continue
        assert value == 0, f"{name} row {row} {col} = {value} published at threshold 1000"
    for page in ("impact.html", "technical.html"):
        text = html_text(report / page)
        assert not re.search(r"\b57\b", text), page


def test_suppression_log_does_not_tell_small_cells_from_complements(scenario_run):
    folder, result = scenario_run
    rows = _csv(folder / "report" / "suppression_log.csv")
    assert rows[0] == ["table", "row", "column"]
    assert "primary:" not in (folder / "report" / "suppression_log.csv").read_text()
    full = _csv(folder / "report-restricted" / "suppression_log_full.csv")
    assert full[0] == ["table", "row", "column", "rule"] and any("primary" in r[3] for r in full[1:])


def test_no_identifier_date_or_row_level_data_in_the_report_folder(scenario_run):
    folder, result = scenario_run
    ids = pd.read_csv(folder / "data" / "participants.csv")["participant_id"].astype(str)
    from evalkit.report.disclosure import find_identifiers

    assert find_identifiers(folder / "report", ids) == []
    for path in (folder / "report").rglob("*"):
        if path.suffix in (".csv", ".html", ".json"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\b20\d\d-\d\d-\d\d\b", re.sub(r'src="data:[^"]*"', "", text)), path


def test_figure_captions_quote_only_published_shares(scenario_run):
    # 'a caption says "Reliable improvement ranged from 40% to 47%" when the overall share is 37%
    # and one group is hidden'
    folder, result = scenario_run
    from html.parser import HTMLParser

    class Alts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.alts = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.alts.append(dict(attrs).get("alt", ""))

    parser = Alts()
    parser.feed((folder / "report" / "impact.html").read_text(encoding="utf-8"))
    rc_alts = [a for a in parser.alts if "reliab" in a.lower()]
    assert rc_alts, "the reliable-change figures have alt text"
    published = set()
    for name in ("epds_reliable_change", "wemwbs_reliable_change"):
        t = result.publication[name].data
        for col in ("proportion", "ci_low", "ci_high"):
            published |= {round(100 * v) for v in t[col].dropna()}
    for alt in rc_alts:
        for pct in re.findall(r"(\d+)%", alt):
            assert int(pct) in published, (pct, alt)
