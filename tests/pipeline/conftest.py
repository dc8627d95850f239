"""Cohorts, plans and end-to-end runs shared by the pipeline tests (session fixtures: each run once).

``scenario_run`` is one run on 60 simulated mothers built to contain, at once, the situations the
publication layer must get right: a site with a single mother, ``partner`` (yes/no) as the model's
group, EPDS as the primary outcome (higher is worse), exactly one safeguarding flag, and a site
label a spreadsheet would run as a formula.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

import evalkit as ek

INJECTION = "=HYPERLINK(\"http://x\",\"North\")"


def cohort(folder: Path, *, n: int, seed: int, modify=None) -> tuple[Path, Path]:
    """Simulate a cohort, let ``modify(participants, responses)`` change it, write it."""
    sim = ek.simulate_cohort(n=n, seed=seed)
    people, responses = sim.participants.copy(), sim.responses.copy()
    if modify is not None:
        modify(people, responses)
    return dataclasses.replace(sim, participants=people, responses=responses).write(
        folder, truth=False)


def dictionary(folder: Path, *, site_labels: dict | None = None) -> Path:
    """The example dictionary, optionally with other site labels (written beside the data)."""
    data = yaml.safe_load(ek.example_dictionary_path().read_text(encoding="utf-8"))
    for dataset in data["datasets"].values():
        site = dataset.get("variables", {}).get("site")
        if site and site_labels:
            site["levels"] = {**site["levels"], **site_labels}
    path = folder / "dictionary.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def plan(folder: Path, *, threshold: int = 5, outcomes=("wemwbs", "epds"), primary=None,
         fixed="weeks * delivery_mode", group="delivery_mode", contexts=None, dictionary_path=None,
         mechanisms=True, engagement=True, mi=True, extra: str = "") -> Path:
    """A complete plan on the cohort in ``folder/data`` (light settings so a run takes seconds)."""
    primary = primary or outcomes[0]
    outs = ", ".join(f"{{instrument: {o}{', primary: true' if o == primary else ''}}}"
                     for o in outcomes)
    ctx = contexts or ["delivery_mode", "site", "first_baby", "isolation"]
    text = f"""\
programme: Test programme
seed: 5
data:
  dictionary: {Path(dictionary_path or ek.example_dictionary_path()).resolve()}
  files: {{participants: data/participants.csv, responses: data/responses.csv}}
outcomes: [{outs}]
model: {{fixed: "{fixed}", group: {group if group else 'null'}}}
contexts:
  variables: [{", ".join(ctx)}]
  johnson_neyman: [isolation]
mechanisms: {"{bootstrap: 200}" if mechanisms else "null"}
engagement: {"{strata: site, cox_covariates: [first_baby, isolation]}" if engagement else "null"}
attrition: {{predictors: [{primary}, first_baby, isolation]}}
sensitivity:
  multiple_imputation: {"{m: 3, iterations: 3, predictors: [sessions_attended, isolation]}"
                        if mi else "null"}
  tipping_point: {"{deltas: [0, -4, -8]}" if mi else "null"}
report:
  suppression_threshold: {threshold}
{extra}"""
    path = folder / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run(folder: Path, plan_path: Path):
    """Run a plan into ``folder/report``; an audit failure returns its result (tests check it)."""
    from evalkit.pipeline import AuditFailed, run_plan

    try:
        return run_plan(plan_path, out=folder / "report")
    except AuditFailed as exc:
        return exc.result


def _scenario(people, responses):
    # a site with exactly one mother
    west = people.index[people["site"].eq("west")]
    people.loc[west[1:], "site"] = "north"
    # exactly one safeguarding flag: EPDS item 10 above 0 in one response only
    item = "epds_10"
    if item in responses.columns:
        values = responses[item]
        answered = values.notna() & values.ne(-9) & values.ne(-8)
        first = responses.index[answered & values.gt(0)]
        keep = first[:1]
        responses.loc[answered & ~responses.index.isin(keep), item] = 0


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenario")
    cohort(folder / "data", n=60, seed=11, modify=_scenario)
    dd = dictionary(folder, site_labels={"north": INJECTION})
    p = plan(folder, outcomes=("epds", "wemwbs"), primary="epds", fixed="weeks * partner",
             group="partner", dictionary_path=dd)
    return folder, run(folder, p)


@pytest.fixture(scope="session")
def threshold_1000_run(tmp_path_factory):
    """The same kind of cohort with a threshold no count reaches: nothing about people is shown."""
    folder = tmp_path_factory.mktemp("t1000")
    cohort(folder / "data", n=57, seed=12)
    p = plan(folder, threshold=1000, outcomes=("wemwbs",), mi=False, mechanisms=False)
    return folder, run(folder, p)


def truth_within_bounds(result) -> list[str]:
    """Hidden cells whose true count lies outside the bounds the layer says the tables allow."""
    from evalkit.report.disclosure import Count, Share

    pub = result.publication
    wrong = []
    for name, table in pub.tables.items():
        for (i, col), b in table.bounds.items():
            spec = table.columns[col]
            entry = spec.keys[i] if isinstance(spec, Count) else (
                spec.num[i] if isinstance(spec, Share) else None)
            if entry is None:
                continue
            keys = [entry] if not isinstance(entry, list) else entry
            truth = sum(pub.count(k) for k in keys)
            if not (b.lower - 1e-9 <= truth <= b.upper + 1e-9):
                wrong.append(f"{name}[{i}].{col}: {truth} outside {b}")
    return wrong


def html_text(path: Path) -> str:
    import html
    import re

    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<style>.*?</style>", " ", text, flags=re.S)
    text = re.sub(r'src="data:[^"]*"', "", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text))


def finite(x) -> bool:
    return x is not None and np.isfinite(x)
