"""Issue 11's acceptance matrix: the whole job and the auditor on many cohorts, all clean.

Each run is checked five ways: the run's own audit found nothing; the auditor, reading only the
published folder, finds nothing; every hidden count lies inside the bounds sentences may rely on;
no published count is below the threshold; and every sentence that states a bound or names a
largest/smallest group is true of the unprotected numbers. The small cohorts run in the default
suite; the rest are marked ``slow`` (CI runs them too).
"""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from evalkit.report.disclosure.audit import audit_folder
from evalkit.report.narrative import improvement

from .conftest import cohort, html_text, plan, run, truth_within_bounds


def _one_mother_site(people, responses):
    west = people.index[people["site"].eq("west")]
    people.loc[west[1:], "site"] = "north"


def _one_mode(people, responses):
    people.loc[people["delivery_mode"].notna(), "delivery_mode"] = "group"


SCENARIOS = {
    "site with one mother": dict(modify=_one_mother_site),
    "every mother in one mode": dict(modify=_one_mode),
    "yes/no group": dict(plan=dict(fixed="weeks * first_baby", group="first_baby")),
    "EPDS primary": dict(plan=dict(outcomes=("epds", "wemwbs"), primary="epds")),
}

SIZES = [(3, 1, 5), (8, 2, 10), (30, 1, 5), (30, 2, 10), (60, 3, 5), (60, 4, 10),
         (300, 1, 5), (300, 2, 10), (3000, 1, 5)]


def check(folder, result, threshold):
    """The five checks; returns a one-line summary for the log."""
    report = folder / "report"
    assert result.findings.empty, result.findings.to_string()
    again = audit_folder(report)
    assert again.empty, again.to_string()
    assert truth_within_bounds(result) == []
    for path in [*report.glob("tables/*.csv"), *report.glob("figures/*.csv")]:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        spec = result.publication.tables.get(path.stem) or next(
            (t for t in result.publication.tables.values() if t.file.endswith(path.name)), None)
        if spec is None:
            continue
        from evalkit.report.disclosure import Count

        counts = [c for c, s in spec.columns.items() if isinstance(s, Count)]
        for r in rows[1:]:
            for col in counts:
                cell = r[rows[0].index(col)]
                if cell not in ("", "suppressed"):
                    v = float(cell)
                    assert v == 0 or v >= threshold, f"{path.name} {col} = {v}"
    check_sentences(report, result)
    return f"{len(result.suppression_log)} hidden, 0 findings"


def check_sentences(report, result):
    pub = result.publication
    for page in ("impact.html", "technical.html"):
        if not (report / page).exists():
            continue
        text = html_text(report / page)
        # a bound is stated only as the report's minimum group size, about groups whose size is
        # shown below it, or as policy; never "fewer than T" about a hidden count
        for m in re.finditer(r"fewer than (\d+)", text):
            around = text[max(0, m.start() - 160): m.end() + 60]
            assert int(m.group(1)) == pub.min_group, around
            assert any(w in around for w in ("to estimate", "groups of", "group of")), around
        # "Of N mothers with ..." quotes a shown count
        for m in re.finditer(r"Of ([\d,]+) mothers with (\S+) scores", text):
            n = float(m.group(1).replace(",", ""))
            inst = m.group(2).lower()
            rc = pub.tables.get(f"{inst}_reliable_change")
            assert rc is not None and n in set(rc.data["n"].dropna()), m.group(0)
    # largest/smallest improvement names the right group for the outcome's direction
    text = html_text(report / "impact.html")
    for o, facts in result.facts["outcomes"].items():
        table = pub.tables.get(f"{o}_change_by_group")
        m = re.search(rf"Improvement in {re.escape(facts['label'])} was largest for (.+?) \(", text)
        if table is None or m is None:
            continue
        shown = table.data.dropna(subset=["estimate"])
        best = max(shown.itertuples(), key=lambda r: improvement(r.estimate, facts["higher_is"]))
        assert m.group(1) == best.group, (m.group(0), shown)


def _params():
    out = []
    for n, seed, t in SIZES:
        marks = () if (n, t) == (3, 5) else (pytest.mark.slow,)
        out.append(pytest.param(n, seed, t, None, id=f"n{n}-seed{seed}-t{t}", marks=marks))
    for name in SCENARIOS:
        out.append(pytest.param(60, 5, 5, name, id=name.replace(" ", "-").replace("/", ""),
                                marks=(pytest.mark.slow,)))
    return out


@pytest.mark.parametrize("n, seed, threshold, scenario", _params())
def test_every_cohort_publishes_nothing_recoverable_and_nothing_false(tmp_path, n, seed,
                                                                      threshold, scenario):
    options = SCENARIOS.get(scenario, {})
    cohort(tmp_path / "data", n=n, seed=seed, modify=options.get("modify"))
    p = plan(tmp_path, threshold=threshold, **options.get("plan", {}))
    result = run(tmp_path, p)
    print(f"n={n} seed={seed} threshold={threshold} {scenario or ''}: "
          f"{check(tmp_path, result, threshold)}")
