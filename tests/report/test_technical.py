"""The technical report is complete (issue 13, item 3): every model with what was fitted, the
coefficient tables of every model, Cox n and events, the note on why multiple imputation differs
from the headline, methods from the fits, readable plan settings, percentages as percentages.

Uses the session run ``small_run`` (tests/report/conftest.py); the unit tests below it need no run.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.report import format as fmt
from evalkit.report.disclosure.columns import Count, Label, Stat
from evalkit.report.technical import mi_note, plan_json, technical_view

OUTCOMES = {"wemwbs": "WEMWBS", "epds": "EPDS"}


# ---------------------------------------------------------------------- reading the HTML
class _Tables(HTMLParser):
    """Every <table> as {"caption", "header", "rows"}; <pre> and <p class=...> texts too."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.pres, self.paras = [], [], []
        self._t = self._row = self._cell = self._text = None
        self._where = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._t = {"caption": "", "header": [], "rows": []}
        elif tag == "caption" and self._t is not None:
            self._where, self._text = "caption", []
        elif tag == "tr" and self._t is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "pre":
            self._where, self._text = "pre", []
        elif tag == "p":
            self._where, self._text = ("p", attrs.get("class") or ""), []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(("th" if tag == "th" else "td", " ".join("".join(self._cell).split())))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and all(k == "th" for k, _ in self._row) and not self._t["header"] \
                    and not self._t["rows"]:
                self._t["header"] = [v for _, v in self._row]
            else:
                self._t["rows"].append([v for _, v in self._row])
            self._row = None
        elif tag == "caption" and self._where == "caption":
            self._t["caption"] = " ".join("".join(self._text).split())
            self._where = None
        elif tag == "table" and self._t is not None:
            self.tables.append(self._t)
            self._t = None
        elif tag == "pre" and self._where == "pre":
            self.pres.append("".join(self._text))
            self._where = None
        elif tag == "p" and isinstance(self._where, tuple):
            self.paras.append((self._where[1], " ".join("".join(self._text).split())))
            self._where = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._where is not None and self._text is not None:
            self._text.append(data)


@pytest.fixture(scope="module")
def technical(small_run):
    folder, result = small_run
    parser = _Tables()
    parser.feed((folder / "report" / "technical.html").read_text(encoding="utf-8"))
    return folder, result, parser


def _table(parser, caption: str) -> dict:
    found = [t for t in parser.tables if t["caption"] == caption]
    assert found, f"no table {caption!r}; captions: {[t['caption'] for t in parser.tables]}"
    return found[0]


def _spec(parser, caption: str) -> dict:
    return {row[0]: row[1] for row in _table(parser, caption)["rows"]}


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / "report" / "tables" / f"{name}.csv", dtype=str,
                       keep_default_na=False)


def _count_text(value: str) -> str:
    return value if value in ("suppressed", "") else fmt.count(float(value))


# ---------------------------------------------------------------------- every model as fitted
@pytest.mark.parametrize("inst", list(OUTCOMES))
@pytest.mark.parametrize("model, caption", [("overall", "average change model"),
                                            ("primary", "primary model (change by mode of "
                                                        "support received)")])
def test_each_mixed_model_says_what_was_fitted(technical, inst, model, caption):
    folder, result, parser = technical
    label = OUTCOMES[inst]
    spec = _spec(parser, f"{label}: {caption}: what was fitted")
    fit = _csv(folder, f"model_{inst}_{model}_fit").iloc[0]
    # the random-effects structure as fitted (after any simplification), in lme4 notation
    assert re.fullmatch(r"\(1( \+ weeks)? \|\|? participant_id\)( \+ \(1 \| volunteer_id\))?",
                        fit["random_effects"])
    assert spec["Random effects, as fitted"].startswith(fit["random_effects"] + ": a random")
    assert "for each mother" in spec["Random effects, as fitted"]
    assert spec["Outcome ~ fixed effects"] == fit["fixed"] and fit["fixed"].startswith(inst)
    assert spec["Mothers (participants)"] == _count_text(fit["mothers"])
    assert spec["Observations (scores)"] == _count_text(fit["observations"])
    assert int(fit["observations"]) > int(fit["mothers"]) > 0
    assert spec["Converged"] in ("yes", "no") and spec["Singular fit"] in ("yes", "no")
    assert spec["Degrees of freedom"].split(":")[0] in ("Satterthwaite", "Kenward–Roger")
    assert spec["Estimation"].startswith("REML")
    # the same model the run fitted: facts and table agree
    info = result.facts["outcomes"][inst]["methods"]["models"][model]
    assert info["random_effects"] == fit["random_effects"]
    assert info["df_method"] == fit["df_method"] == spec["Degrees of freedom"].split(":")[0]
    # variance components are shown, not all withheld as "not estimable"
    var = _table(parser, f"{label}: {caption}: variance components (random effects and residual)")
    numbers = [c for r in var["rows"] for c in r[2:4] if re.fullmatch(r"-?\d+(\.\d+)?", c)]
    assert len(numbers) >= 4, var
    assert any(r[0] == "residual" for r in var["rows"])
    fixed = _table(parser, f"{label}: {caption}: fixed effects")
    assert fixed["header"][:4] == ["Term", "Estimate", "SE", "df"]
    assert [r[0] for r in fixed["rows"]][:2] == ["Intercept", "weeks"]


def test_simplified_structure_is_reported_as_fitted_with_the_planned_one():
    from evalkit.models.mixed import MixedModel
    from evalkit.pipeline.models import random_notation, random_text

    fitted = MixedModel("y", "weeks", "participant_id", random="weeks", correlated=False)
    assert random_notation(fitted) == "(1 + weeks || participant_id)"
    assert random_text(fitted, time="weeks") == ("a random intercept and a random slope for time "
                                                 "for each mother, uncorrelated")
    assert random_text(MixedModel("y", "weeks", "id", random="1")) == \
        "a random intercept for each mother"


def test_impact_methods_facts_describe_the_headline_model(small_run):
    folder, result = small_run
    for inst in OUTCOMES:
        m = result.facts["outcomes"][inst]["methods"]
        fit = _csv(folder, f"model_{inst}_overall_fit").iloc[0]
        assert m["random_effects"] == fit["random_effects"]
        assert m["random_effects_text"].endswith(("correlated", "uncorrelated", "each mother",
                                                  "each volunteer"))
        assert m["df_method"] == fit["df_method"]
        assert m["average_change"]["random_effects"] == fit["random_effects"]
        assert set(m) >= {"primary", "models", "simplified", "df_method_text", "estimation"}


# ---------------------------------------------------------------------- coefficient tables
def test_johnson_neyman_context_scan_dose_and_mi_models_have_coefficient_tables(technical):
    folder, result, parser = technical
    for inst, label in OUTCOMES.items():
        jn = _table(parser, f"{label}: Johnson–Neyman model, change by social isolation index at "
                            "referral: fixed effects")
        assert [r[0] for r in jn["rows"]] == ["Intercept", "weeks", "isolation", "weeks:isolation"]
        assert "Mothers (participants)" in _spec(
            parser, f"{label}: Johnson–Neyman model, change by social isolation index at "
                    "referral: what was fitted")
        scan = _table(parser, f"{label} context-scan models: fixed effects")
        contexts = {r[0] for r in scan["rows"]}
        assert {"Programme site", "First baby", "Social isolation index at referral"} <= contexts
        assert any(r[1] == "weeks:site[T.east]" for r in scan["rows"])
        fits = _table(parser, f"{label} context-scan models: what was fitted")
        assert {r[0] for r in fits["rows"]} == contexts
        assert "Random effects, as fitted" in fits["header"]
    dose = _table(parser, "Dose–response model: fixed effects")
    assert any(r[0] == "weeks:sessions_attended" for r in dose["rows"])
    assert "Random effects, as fitted" in _spec(parser, "Dose–response model: what was fitted")
    mi = [t for t in parser.tables if t["caption"].startswith(
        "Average change model under multiple imputation: fixed effects pooled")]
    assert mi and mi[0]["header"][-1] == "FMI"
    rows = {r[0]: r for r in mi[0]["rows"]}
    assert set(rows) == {"Intercept", "weeks"}
    pooled = _csv(folder, "model_sensitivity_mi_fixed")
    assert rows["weeks"][1] == fmt.significant(float(pooled.loc[1, "estimate"]))


def test_cox_table_gives_mothers_and_events_as_protected_counts(technical):
    folder, result, parser = technical
    spec = _spec(parser, "Cox model: what was fitted")
    fit = _csv(folder, "model_cox_fit").iloc[0]
    assert spec["Mothers (participants)"] == _count_text(fit["mothers"])
    assert spec["Events (disengaged)"] == _count_text(fit["events"])
    assert spec["Ties"] == "Efron"
    manifest = json.loads((folder / "report" / "manifest.json").read_text())
    text = json.dumps(manifest)
    assert "model_cox_fit" in text
    roles = _roles(manifest, "model_cox_fit")
    assert roles["mothers"] == "count" and roles["events"] == "count"
    if fit["events"] != "suppressed":
        assert 0 < int(fit["events"]) <= int(fit["mothers"])


def _roles(manifest, name) -> dict:
    def walk(obj):
        if isinstance(obj, dict):
            if name in obj and isinstance(obj[name], dict):
                yield obj[name]
            for v in obj.values():
                yield from walk(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from walk(v)
    for entry in walk(manifest):
        cols = entry.get("columns")
        if isinstance(cols, dict):
            return {c: (r.get("role") if isinstance(r, dict) else r) for c, r in cols.items()}
    raise AssertionError(f"{name} not in the manifest")


# ---------------------------------------------------------------------- multiple imputation
def test_mi_note_is_computed_from_the_two_published_estimates(technical):
    folder, result, parser = technical
    notes = [t for c, t in parser.paras if c == "mi-note"]
    assert len(notes) == 1
    note = notes[0]
    compare = _table(parser, "Average change: headline (mixed model on observed scores) and "
                             "under multiple imputation")
    (head, mi) = compare["rows"]
    assert head[0].startswith("headline") and mi[0].startswith("multiple imputation")
    # the numbers in the note are the table's numbers
    for row in (head, mi):
        assert f"{row[1]} points (95% CI {row[4]} to {row[5]})" in note, note
    change = _csv(folder, "wemwbs_change").iloc[0]
    assert head[1] == fmt.significant(float(change["estimate"]))
    pooled = _csv(folder, "model_sensitivity_mi").iloc[0]
    assert mi[1] == fmt.significant(float(pooled["estimate"]))
    diff = float(pooled["estimate"]) - float(change["estimate"])
    found = re.search(r"is (\d+(?:\.\d+)?) points (higher|lower)", note)
    assert found, note
    assert found.group(2) == ("higher" if diff > 0 else "lower")
    assert float(found.group(1)) == pytest.approx(abs(diff), rel=0.05)
    assert "missing at random" in note and "epds" in note
    assert "overlap" in note


class _Fake:
    """A one-row protected table for the unit tests (nothing hidden unless asked)."""

    def __init__(self, hidden=(), **values):
        self.data = pd.DataFrame({k: [v] for k, v in values.items()})
        self.hidden = pd.DataFrame({k: [k in hidden] for k in values})
        self.columns = {k: Stat([None]) for k in values}


def _est(e, se, lo, hi, hidden=()):
    return _Fake(hidden=hidden, estimate=e, std_error=se, ci_low=lo, ci_high=hi)


def test_mi_note_says_when_the_assumption_changes_the_answer():
    same = mi_note(_est(4.0, 0.6, 2.8, 5.2), _est(3.9, 0.65, 2.6, 5.2), label="WEMWBS",
                   higher_is="better", predictors=["EPDS"], m=10)
    assert "0.10 points lower, i.e. less improvement" in same
    assert "overlap over" in same and "conclusion about average change is the same" in same
    apart = mi_note(_est(4.0, 0.6, 2.8, 5.2), _est(0.5, 0.4, -0.3, 1.3), label="WEMWBS",
                    higher_is="better", predictors=["EPDS"], m=10)
    assert "do not overlap" in apart and "depends on the assumption" in apart
    assert "3.5 points lower" in apart
    worse = mi_note(_est(-3.0, 0.4, -3.8, -2.2), _est(-2.1, 0.5, -3.1, -1.1), label="EPDS",
                    higher_is="worse", predictors=[], m=5)
    assert "0.90 points higher, i.e. less improvement" in worse
    hidden = mi_note(_est(4.0, 0.6, 2.8, 5.2, hidden=("estimate",)), _est(3.9, 0.6, 2.7, 5.1),
                     label="WEMWBS", higher_is="better", predictors=[], m=5)
    assert "cannot be set against" in hidden and "4.0" not in hidden


# ---------------------------------------------------------------------- methods text
def test_methods_text_comes_from_the_fits(technical):
    folder, result, parser = technical
    text = html.unescape(" ".join(t for _, t in parser.paras))
    start = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    assert "Methods (generated from the models as fitted)" in start
    for inst, label in OUTCOMES.items():
        fit = _csv(folder, f"model_{inst}_overall_fit").iloc[0]
        sentence = [t for _, t in parser.paras if t.startswith(f"Average change in {label}:")]
        assert sentence, text[:2000]
        s = sentence[0]
        assert fit["random_effects"] in s and fit["estimation"] in s
        assert f"{_count_text(fit['observations'])} scores from {_count_text(fit['mothers'])}" in s
        assert ("Satterthwaite" in s) == (fit["df_method"] == "Satterthwaite")
    mi = [t for _, t in parser.paras if t.startswith("Multiple imputation:")]
    assert mi and "5 imputed data sets" in mi[0] and "Rubin's rules" in mi[0]
    cox = [t for _, t in parser.paras if t.startswith("Time to disengagement:")]
    assert cox and "Efron" in cox[0]


# ---------------------------------------------------------------------- plan settings, numbers
def test_plan_settings_are_readable_json_without_absolute_paths(technical):
    folder, result, parser = technical
    pres = [p for p in parser.pres if p.lstrip().startswith("{")]
    assert len(pres) == 1
    raw = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    assert "\\u" not in raw
    settings = json.loads(pres[0])
    strings = []

    def walk(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str):
            strings.append(obj)
    walk(settings)
    assert strings
    assert not [s for s in strings if s.startswith(("/", "~")) or str(folder) in s
                or re.match(r"^[A-Za-z]:[\\/]", s)]
    assert settings["data"]["dictionary"] == "data_dictionary.yaml"


def test_plan_json_keeps_characters_and_relativises_paths(tmp_path):
    settings = {"period": "2023–2025", "data": {"files": [str(tmp_path / "data" / "a.csv"),
                                                          "relative/b.csv"],
                                                "dictionary": "/elsewhere/dd.yaml"},
                "windows": "C:\\Users\\me\\plan.yaml"}
    text = plan_json(settings, plan_dir=tmp_path)
    assert "2023–2025" in text and "\\u2013" not in text
    back = json.loads(text)
    assert back["data"]["files"] == ["data/a.csv", "relative/b.csv"]
    assert back["data"]["dictionary"] == "dd.yaml" and back["windows"] == "plan.yaml"


def test_percentages_read_as_percentages_and_no_number_in_scientific_notation(technical):
    folder, result, parser = technical
    checked = 0
    for t in parser.tables:
        for j, h in enumerate(t["header"]):
            if h.startswith("%") or "percent" in h.lower() or h.lower() in ("share", "proportion"):
                for r in t["rows"]:
                    if j < len(r):
                        checked += 1
                        assert re.fullmatch(r"<?\d+(\.\d+)?%|suppressed|–", r[j]), \
                            (t["caption"], h, r)
        for r in t["rows"]:
            for c in r:
                assert not re.fullmatch(r"-?\d+(\.\d+)?[eE][+-]?\d+", c), (t["caption"], r)
                assert not re.fullmatch(r"-?\d+\.0000", c), (t["caption"], r)
    assert checked > 10


def test_technical_view_formats_by_role_and_name():
    t = _Fake(term="weeks", estimate=0.000123456, p_value=0.00001, df=float("inf"),
              percent=1.9, fmi=0.2347)
    t.columns = {"term": Label(), "estimate": Stat([None]), "p_value": Stat([None]),
                 "df": Stat([None]), "percent": Stat([None]), "fmi": Stat([None])}
    view = technical_view(t)
    assert view["rows"] == [["weeks", "0.0001235", "<0.001", "∞", "2%", "0.2347"]]
    n = _Fake(hidden=("n",), n=3)
    n.columns = {"n": Count([None])}
    assert technical_view(n)["rows"] == [["suppressed"]]
    assert fmt.significant(np.float64(1716.835)) == "1717"
