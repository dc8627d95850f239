"""A small end-to-end run shared by the report tests.

The cohort is simulated, then all but three of the mothers supported in both modes are recoded to
group support, so the level ``both`` ("One-to-one and group") has exactly 3 mothers: below the
disclosure threshold of 5, it must be suppressed in every table, figure and risk table. The models
have a volunteer term, kept even where singular (``simplify: false``), so the variation between
volunteers is reported (10 bootstrap refits: the machinery, not the interval, is tested here).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import evalkit as ek

SMALL_LEVEL = "both"
SMALL_LABEL = "One-to-one and group"


def write_small_cohort(folder: Path, *, n: int = 160, seed: int = 3) -> tuple[Path, Path]:
    sim = ek.simulate_cohort(n=n, seed=seed)
    people = sim.participants.copy()
    both = people.index[people["delivery_mode"].eq(SMALL_LEVEL)]
    people.loc[both[3:], "delivery_mode"] = "group"
    assert people["delivery_mode"].eq(SMALL_LEVEL).sum() == 3
    return dataclasses.replace(sim, participants=people).write(folder, truth=False)


def small_plan(folder: Path, *, threshold: int = 5) -> Path:
    resp, people = write_small_cohort(folder / "data")
    text = f"""\
programme: Test programme
seed: 5
data:
  dictionary: {ek.example_dictionary_path().resolve()}
  files: {{participants: data/participants.csv, responses: data/responses.csv}}
outcomes:
  - {{instrument: wemwbs, primary: true}}
  - {{instrument: epds}}
contexts:
  variables: [delivery_mode, site, first_baby, isolation]
  johnson_neyman: [isolation]
model: {{random: "(1 + weeks | participant_id) + (1 | volunteer_id)", simplify: false,
        variance_bootstrap: 10}}
mechanisms: {{bootstrap: 200}}
engagement: {{strata: site, cox_covariates: [first_baby, isolation]}}
attrition: {{predictors: [wemwbs, first_baby, isolation]}}
sensitivity:
  multiple_imputation: {{m: 5, iterations: 5, predictors: [epds, sessions_attended, isolation]}}
  tipping_point: {{deltas: [0, -2, -4, -6, -8]}}
report:
  suppression_threshold: {threshold}
  population:
    site:
      source: invented for the test
      percent: {{north: 25, east: 25, south: 25, west: 25}}
"""
    path = folder / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small_run")
    plan = small_plan(folder)
    from evalkit.runner import run_plan

    result = run_plan(plan, out=folder / "report")
    return folder, result


def light_plan(folder: Path, *, on_problems: str = "stop", corrupt: bool = False) -> Path:
    """A quick plan (one outcome, no mechanisms or imputation) for testing the run's data handling."""
    resp, people = write_small_cohort(folder / "data", n=90, seed=4)
    if corrupt:
        lines = resp.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(",")
        cells = lines[5].split(",")
        cells[header.index("wemwbs_3")] = "9"          # outside the item range 1-5
        lines[5] = ",".join(cells)
        resp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = f"""\
programme: Light test
data:
  dictionary: {ek.example_dictionary_path().resolve()}
  files: [data/participants.csv, data/responses.csv]
  on_problems: {on_problems}
outcomes: [{{instrument: wemwbs}}]
contexts: {{variables: [site]}}
mechanisms: null
engagement: {{cox_covariates: []}}
sensitivity: {{multiple_imputation: null, tipping_point: null}}
"""
    path = folder / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path
