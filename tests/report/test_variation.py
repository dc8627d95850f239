"""Variation between volunteers (issue 15): a protected technical table, one impact sentence, and
per-volunteer estimates in the restricted folder only (the shared small run has a volunteer
term)."""

from __future__ import annotations

import json
import re
import stat
from html.parser import HTMLParser

import pandas as pd
import pytest

from evalkit.report import variation
from evalkit.report.disclosure import Count

TABLE = "wemwbs_variation_by_level"
CAPTION = ("Variation between volunteers (and sites): each level's share of the variance of the "
           "scores (average-change model)")
_DATA_URI = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


class _Captions(HTMLParser):
    def __init__(self):
        super().__init__()
        self.captions, self._in = [], False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "caption"

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.captions.append(data)


@pytest.fixture(scope="module")
def restricted(small_run):
    folder, _ = small_run
    return folder / "report-restricted"


def test_variation_table_is_registered_and_shown(small_run, restricted):
    folder, result = small_run
    table = result.publication[TABLE]
    assert list(table.data["level"]) == ["mothers (participant_id)", "volunteers (volunteer_id)",
                                         "residual (scores within a mother)"]
    # every column has a role; the number of volunteers is a count of its own unit
    levels = table.columns["levels"]
    assert isinstance(levels, Count) and levels.keys[1].unit == "volunteer_id"
    blups = pd.read_csv(restricted / "level_blups.csv")
    n_volunteers = blups["level"].nunique()
    assert table.data["levels"].iat[1] == n_volunteers >= 5
    shares = table.data["share"].astype(float)
    assert shares.sum() == pytest.approx(1.0)
    low, high = table.data["share_ci_low"].astype(float), table.data["share_ci_high"].astype(float)
    assert (low <= shares + 1e-12).all() and (shares <= high + 1e-12).all()
    assert (table.data["refits"] > 0).all() and (table.data["refits"] <= 10).all()
    # the published CSV and the manifest carry it like every other table
    manifest = json.loads((folder / "report" / "manifest.json").read_text(encoding="utf-8"))
    assert TABLE in json.dumps(manifest)
    page = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    parser = _Captions()
    parser.feed(page)
    assert CAPTION in parser.captions
    assert "Bootstrap refits used" in page and "Share of the variance" in page
    assert "parametric bootstrap: 10 sets of scores" in page


def test_impact_report_says_it_in_one_sentence(small_run):
    folder, result = small_run
    page = (folder / "report" / "impact.html").read_text(encoding="utf-8")
    found = re.findall(r"About [^<.]*? of the differences between mothers&#39; [^<]*? scores lay "
                       r"between volunteers \(95% CI [^)]+\)\.", page)
    assert len(found) == 1, found
    share = result.publication[TABLE].data["share"].iat[1]
    assert f"About {variation.fmt.percent(share)} of" in found[0]


def test_no_sentence_without_a_volunteer_term():
    class Table:
        data = pd.DataFrame({"level": ["mothers (participant_id)", "residual"]})

    class Ctx:
        plan = type("P", (), {"primary_outcome": type("O", (), {"instrument": "wemwbs"})})
        facts = {"outcomes": {"wemwbs": {"words": "wellbeing"}}}
        pub = type("Pub", (), {"tables": {TABLE: Table()}})

    assert variation.variation_sentence(Ctx()) is None, "no variation facts: no sentence"
    assert variation.variation_methods(Ctx()) is None


def test_volunteer_estimates_only_in_the_restricted_folder(small_run, restricted):
    folder, _ = small_run
    blups = pd.read_csv(restricted / "level_blups.csv")
    assert set(blups.columns) >= {"level", "blup", "ci_low", "ci_high"}
    assert (restricted / "caterpillar_volunteer_id.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("level_blups.csv", "caterpillar_volunteer_id.png"):
        assert stat.S_IMODE((restricted / name).stat().st_mode) == 0o600
    ids = sorted(set(blups["level"].astype(str)))
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")
    leaks = []
    for path in (folder / "report").rglob("*"):
        if path.is_dir() or path.suffix in (".png", ".pdf"):
            continue
        text = _DATA_URI.sub("", path.read_text(encoding="utf-8", errors="replace"))
        leaks += [f"{path.name}: {m}" for m in pattern.findall(text)[:3]]
    assert leaks == [], "a volunteer id reached the report folder"
    manifest = (folder / "report" / "manifest.json").read_text(encoding="utf-8")
    assert "level_blups" not in manifest and "caterpillar_" not in manifest


@pytest.fixture(scope="module")
def change_run(tmp_path_factory):
    """A quick run whose volunteer term has a slope on time: the variation in change is split."""
    import dataclasses

    import evalkit as ek
    from evalkit.runner import run_plan

    folder = tmp_path_factory.mktemp("change_run")
    sim = ek.simulate_cohort(n=160, seed=6, volunteer_sd=0.6, mothers_per_volunteer=8)
    dataclasses.replace(sim).write(folder / "data", truth=False)
    (folder / "plan.yaml").write_text(f"""\
programme: Volunteer slopes
seed: 2
data:
  dictionary: {ek.example_dictionary_path().resolve()}
  files: [data/participants.csv, data/responses.csv]
outcomes: [{{instrument: wemwbs}}]
contexts: {{variables: [site]}}
model: {{random: "(1 + weeks | participant_id) + (1 + weeks | volunteer_id)", simplify: false,
        variance_bootstrap: 12}}
mechanisms: null
engagement: {{cox_covariates: []}}
sensitivity: {{multiple_imputation: null, tipping_point: null}}
""", encoding="utf-8")
    return folder, run_plan(folder / "plan.yaml", out=folder / "report")


@pytest.mark.slow      # a whole run of its own (about 10 s quiet)
def test_a_volunteer_slope_splits_the_variation_in_change(change_run):
    folder, result = change_run
    table = result.publication[TABLE]
    data = table.data
    assert {"change_share", "change_share_ci_low", "change_share_ci_high"} <= set(data.columns)
    change = data["change_share"].astype(float)
    assert change.iloc[:2].sum() == pytest.approx(1.0) and pd.isna(change.iat[2])
    page = (folder / "report" / "impact.html").read_text(encoding="utf-8")
    found = re.findall(r"About [^<.]*? of the differences between mothers in how much their "
                       r"[^<]*? scores changed lay between volunteers \(95% CI [^)]+\)\.", page)
    assert len(found) == 1, found
    hidden = bool(table.hidden["change_share"].iat[1]) if "change_share" in table.hidden else False
    assert not hidden
    assert f"About {variation.fmt.percent(change.iat[1])} of" in found[0]
    assert "lay between volunteers" not in page.replace(found[0], "")
    technical = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    parser = _Captions()
    parser.feed(technical)
    assert any("share of the variance of the scores and of the variation in change" in c
               for c in parser.captions)
    assert "Share of the variation in change" in technical
    assert "random slope on weeks over the sum of the levels" in technical
    assert not (folder / "report" / "NOT_FOR_PUBLICATION").exists()


def test_an_intercept_only_volunteer_term_says_so_in_the_methods(small_run):
    folder, _ = small_run
    technical = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    assert "not in how much the scores changed" in technical
    assert "Share of the variation in change" not in technical


def test_too_few_mothers_per_volunteer_keep_the_sentence_on_scores(small_run):
    """A volunteer slope with fewer than MOTHERS_FOR_CHANGE mothers per volunteer: the split of
    change stays in the technical table, the impact sentence speaks of scores, the methods say
    why (the facts are the run's own, with the split marked as estimated but not identified)."""
    import copy

    from evalkit.pipeline.volunteers import MOTHERS_FOR_CHANGE

    folder, result = small_run

    class Ctx:
        plan = type("P", (), {"primary_outcome": type("O", (), {"instrument": "wemwbs"}),
                              "model": type("M", (), {"variance_bootstrap": 10,
                                                      "random": "(1 + weeks | participant_id) + "
                                                                "(1 + weeks | volunteer_id)"}),
                              "seed": 5})
        time = "weeks"
        facts = copy.deepcopy(result.facts)
        pub = result.publication

    info = Ctx.facts["outcomes"]["wemwbs"]["variation"]
    info.update(change=False, change_estimated=True, mothers_for_change=MOTHERS_FOR_CHANGE,
                mothers_per_level={"volunteer_id": 2.4, "site": 40.0})
    sentence = variation.variation_sentence(Ctx())
    assert "scores lay between volunteers" in sentence and "changed" not in sentence
    methods = variation.variation_methods(Ctx())
    assert (f"Fewer than {MOTHERS_FOR_CHANGE} mothers per level of volunteers took part on average"
            in methods and "does not state this split" in methods)
    assert "2.4" not in methods, "the ratio of two counts is not published as a number"
    assert "sites" not in methods.split("Fewer than")[1].split(".")[0], "only the small levels"


def test_the_reason_bounds_no_hidden_count():
    """When the number of volunteers is hidden, the reason is given without the threshold: a
    ratio of mothers to volunteers would bound the hidden count."""
    data = pd.DataFrame({"level": ["mothers (participant_id)", "volunteers (volunteer_id)",
                                   "residual (scores within a mother)"], "levels": [12, 3, None]})
    hidden = pd.DataFrame({"levels": [False, True, False]})
    table = type("T", (), {"data": data, "hidden": hidden})()
    info = {"mothers_for_change": 5, "mothers_per_level": {"volunteer_id": 4.0},
            "words": {"volunteer_id": "volunteers"}}
    text = variation._why_no_change_sentence(info, table)
    assert "5" not in text and "4" not in text and "too few mothers" in text
    table.hidden = pd.DataFrame({"levels": [False, False, False]})
    assert "Fewer than 5 mothers per level of volunteers" in variation._why_no_change_sentence(
        info, table)
