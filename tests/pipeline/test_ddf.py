"""The runner's choice of df method: ``model.ddf`` in the plan, Kenward–Roger below
``evalkit.plan.KENWARD_ROGER_BELOW`` participants when ``auto``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import evalkit.plan as plan_module
from evalkit.errors import PlanError
from evalkit.pipeline import outcome
from evalkit.plan import AnalysisPlan, ModelSection

DATA = Path(__file__).parents[1] / "reference" / "data" / "small20.csv"
PLAN = {"programme": "x", "data": {"dictionary": "d.yaml", "files": ["a.csv"]},
        "outcomes": [{"instrument": "wemwbs"}]}


def _fit(model: ModelSection):
    data = pd.read_csv(DATA)
    ctx = SimpleNamespace(plan=SimpleNamespace(model=model), id="participant_id")
    return outcome._fit(ctx, data, "wemwbs", "weeks * delivery_mode")


def test_auto_uses_kenward_roger_for_a_small_cohort_only(monkeypatch):
    assert ModelSection().ddf == "auto"
    small = _fit(ModelSection())                       # 20 mothers
    assert small.spec.ddf == "kenward-roger"
    assert small.fixed["std_error"].iloc[1] > small.with_ddf("satterthwaite").fixed["std_error"].iloc[1]
    monkeypatch.setattr(plan_module, "KENWARD_ROGER_BELOW", 20)
    assert _fit(ModelSection()).spec.ddf == "satterthwaite"     # 20 is not below 20
    monkeypatch.setattr(plan_module, "KENWARD_ROGER_BELOW", 21)
    assert _fit(ModelSection()).spec.ddf == "kenward-roger"


def test_the_plan_can_choose():
    assert _fit(ModelSection(ddf="satterthwaite")).spec.ddf == "satterthwaite"
    assert _fit(ModelSection(ddf="kenward-roger")).spec.ddf == "kenward-roger"
    assert ModelSection(ddf="kenward-roger").ddf_for(10 ** 6) == "kenward-roger"
    assert ModelSection().ddf_for(plan_module.KENWARD_ROGER_BELOW - 1) == "kenward-roger"
    assert ModelSection().ddf_for(plan_module.KENWARD_ROGER_BELOW) == "satterthwaite"


def test_statsmodels_engine_keeps_z_tests_and_refuses_kenward_roger():
    fit = _fit(ModelSection(engine="statsmodels"))
    assert fit.fixed["df"].eq(float("inf")).all()
    with pytest.raises(PlanError, match="kenward-roger needs engine: fast"):
        AnalysisPlan.from_dict({**PLAN, "model": {"engine": "statsmodels", "ddf": "kenward-roger"}})
    with pytest.raises(PlanError, match="ddf"):
        AnalysisPlan.from_dict({**PLAN, "model": {"ddf": "kr"}})


SITES = "(1 + weeks | participant_id) + (1 | site)"


def _fit_sites(model: ModelSection):
    data = pd.read_csv(DATA)
    data["site"] = data["participant_id"].str[-1].map(lambda c: f"s{int(c) % 4}")
    ctx = SimpleNamespace(plan=SimpleNamespace(model=model), id="participant_id")
    return outcome._fit(ctx, data, "wemwbs", "weeks * delivery_mode")


def test_auto_uses_kenward_roger_with_several_terms_and_says_when_it_cannot(monkeypatch):
    import warnings

    from evalkit.models import kenward_roger_terms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # 4 sites in 20 mothers may be singular: kept as fitted
        fit = _fit_sites(ModelSection(random=SITES, simplify=False))
        assert fit.terms and fit.spec.ddf == "kenward-roger"
        assert fit.fixed["df"].to_numpy() == pytest.approx(
            fit.kenward_roger.df(np.eye(len(fit.beta))))
        monkeypatch.setattr(kenward_roger_terms, "MAX_DENSE", 10)
        small = _fit_sites(ModelSection(random=SITES, simplify=False))
    assert small.spec.ddf == "satterthwaite"
    assert any("Kenward–Roger was not computed" in w and "satterthwaite" in w.lower()
               for w in small.warnings), small.warnings
