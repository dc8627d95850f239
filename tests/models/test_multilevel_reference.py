"""Several random-effects terms against lme4 + lmerTest (issue 15).

Fixtures frozen by tests/reference/multilevel_reference.R (data: lme4's Dyestuff, Penicillin
(crossed), Pastes (nested), sleepstudy, InstEval, and tests/reference/make_multilevel_data.py's
cohort of mothers in volunteers in sites with random slopes). Tolerances: logLik never below lme4's
by more than 1e-4 (and within 1e-3), fixed effects 1e-4 relative (1e-4 of a standard error
absolute), standard errors 1e-3 relative, variance components 1e-3 relative (1e-6 of the residual
variance absolute, for components at 0), Satterthwaite df 1 %.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek

REF = Path(__file__).parents[1] / "reference"
FIXTURES = json.loads((REF / "multilevel_fixtures.json").read_text())["cases"]
COHORT = "(1 + weeks | participant_id) + (1 + weeks || volunteer_id) + (1 | site)"

# case -> (fit_mixed arguments); data files are the fixtures' own
CASES = {
    "dyestuff_reml": dict(outcome="Yield", fixed="1", random="(1 | Batch)"),
    "dyestuff_ml": dict(outcome="Yield", fixed="1", random="(1 | Batch)", reml=False),
    "penicillin_crossed_reml": dict(outcome="diameter", fixed="1", random="(1 | plate) + (1 | sample)"),
    "pastes_nested_reml": dict(outcome="strength", fixed="1", random="(1 | batch/cask)"),
    "pastes_nested_ml": dict(outcome="strength", fixed="1", random="(1 | batch/cask)", reml=False),
    "sleepstudy_terms_reml": dict(outcome="Reaction", fixed="Days", random="(Days | Subject)"),
    "sleepstudy_uncorr_ml": dict(outcome="Reaction", fixed="Days", random="(Days || Subject)", reml=False),
    "cohort_slopes_reml": dict(outcome="wemwbs", fixed="weeks * mode", random=COHORT,
                               reference={"mode": "one_to_one"}),
    "cohort_nested_ml": dict(outcome="wemwbs", fixed="weeks * mode", reml=False,
                             random="(1 + weeks | participant_id) + (1 | site/volunteer)",
                             reference={"mode": "one_to_one"}),
}
# lme4's bobyqa stops early on the cohort with 3 variance terms at the site/volunteer level: its
# logLik is 2.9e-4 below evalkit's (and two lme4 runs gave -4956.272561 and -4956.272832), so the
# flat direction (the site variance, 8 sites) and what depends on it are compared more loosely.
# test_criterion_at_lme4s_theta shows that evalkit's criterion at lme4's θ is lme4's logLik.
LOOSE = {"cohort_slopes_reml": {"variance": 2e-2, "std_error": 1e-2, "df": 3e-2, "blup": 1e-2}}
SLOW = {"insteval_reml": dict(outcome="y", fixed="service",
                              random="(1 | s) + (1 | d) + (1 | dept:service)")}


def r_name(term: str) -> str:
    """formulaic's names in R's spelling: Intercept -> (Intercept), x[T.lvl] -> xlvl."""
    return "(Intercept)" if term == "Intercept" else re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", term)


def group_key(name: str) -> frozenset:
    """lme4 names a || term's second part g.1 and a nested factor b:a; compare as a set."""
    return frozenset(re.sub(r"\.\d+$", "", name).split(":"))


def load(name: str) -> pd.DataFrame:
    ref = FIXTURES[name]
    data = pd.read_csv(REF / "data" / ref["data"])
    if name.startswith("dyestuff_reml"):
        # a second factor identical to Batch but with one level per row pair: the model
        # (1 | Batch) + (1 | Batch:Batch2) has a zero-variance term, lme4's fit with (1 | Batch)
        data["Batch2"] = "x"
    return data


def fit_case(name: str, kwargs: dict):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ek.fit_mixed(load(name), **kwargs)
    return fit, caught


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    return (name, *fit_case(name, CASES[name]), FIXTURES[name])


def check(name, fit, ref):
    tol = {"variance": 1e-3, "std_error": 1e-3, "df": 0.01, **LOOSE.get(name, {})}
    assert fit.loglik >= ref["loglik"] - 1e-4, f"{name}: logLik {fit.loglik} < lme4 {ref['loglik']}"
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3), name
    fx = ref["fixed"]
    assert [r_name(t) for t in fit.fixed["term"]] == [t.replace("service1", "service") for t in fx["term"]]
    se = np.asarray(fx["std_error"])
    np.testing.assert_allclose(fit.fixed["estimate"], fx["estimate"], rtol=1e-4, atol=1e-4 * se.max(),
                               err_msg=f"{name}: estimates")
    np.testing.assert_allclose(fit.fixed["std_error"], se, rtol=tol["std_error"], err_msg=f"{name}: SEs")
    np.testing.assert_allclose(fit.fixed["df"], fx["df"], rtol=tol["df"], err_msg=f"{name}: df")
    vc = fit.variance_components
    resid = vc.loc[vc["group"] == "residual", "variance"].item()
    assert resid == pytest.approx(ref["residual_variance"], rel=1e-3), name
    theirs = {(group_key(g["grouping_factor"]), t): v for g in ref["varcorr"]
              for t, v in zip(g["terms"], g["variances"])}
    ours = {(group_key(r.group), r_name(r.term)): r.variance
            for r in vc.itertuples() if r.group != "residual" and not np.isnan(r.variance)}
    extra = {k: v for k, v in ours.items() if k not in theirs}
    assert all(v < 1e-6 * resid for v in extra.values()), f"{name}: {extra}"   # the zero term
    for key, v in theirs.items():
        assert ours[key] == pytest.approx(v, rel=tol["variance"], abs=1e-6 * resid), f"{name}: {key}"
    for con in ref["contrasts"]:
        out = fit.contrast(np.array([con["L"]], float))
        np.testing.assert_allclose(out["estimate"], [con["estimate"]], rtol=1e-4)
        np.testing.assert_allclose(out["std_error"], [con["std_error"]], rtol=tol["std_error"])
        np.testing.assert_allclose(out["df"], [con["df"]], rtol=tol["df"], err_msg=f"{name} {con['name']}")


def test_matches_lme4_and_lmertest(case):
    name, fit, _, ref = case
    check(name, fit, ref)


def test_singular_flag(case):
    name, fit, caught, ref = case
    assert fit.singular == ref["singular"], name
    assert any(issubclass(w.category, ek.errors.SingularFitWarning) for w in caught) == ref["singular"]


def test_blups_match_lme4(case):
    name, fit, _, ref = case
    for ran in ref["ranef"]:
        key = group_key(ran["grouping_factor"])
        ours = next(df for g, df in fit.ranef.items() if group_key(g) == key)
        if ":" in ran["grouping_factor"]:   # lme4 labels b:a levels in its own order
            continue
        ours = ours.set_axis(ours.index.astype(str))
        vals = np.array(ran["values"])
        cols = [c for c in ours.columns if r_name(c) in ran["terms"]]
        rel = LOOSE.get(name, {}).get("blup", 2e-3)
        np.testing.assert_allclose(ours.loc[ran["levels"], cols].to_numpy(), vals, rtol=rel,
                                   atol=rel * np.abs(vals).max() + 1e-8, err_msg=name)


@pytest.mark.parametrize("name", ["cohort_slopes_reml", "cohort_nested_ml", "penicillin_crossed_reml",
                                  "pastes_nested_reml"])
def test_criterion_at_lme4s_theta(name):
    """The same criterion: evalkit's deviance at lme4's θ is lme4's (terms in lme4's order)."""
    fit, _ = fit_case(name, CASES[name])
    theirs = np.array(FIXTURES[name]["theta"]["values"])
    assert -fit.raw.problem.deviance(theirs) / 2 == pytest.approx(FIXTURES[name]["loglik"], abs=1e-6)
    assert fit.loglik >= FIXTURES[name]["loglik"] - 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_insteval(name):
    fit, _ = fit_case(name, SLOW[name])
    check(name, fit, FIXTURES[name])
    assert not fit.singular


@pytest.mark.parametrize("name", ["cohort_slopes_reml", "cohort_nested_ml", "penicillin_crossed_reml",
                                  "pastes_nested_reml"])
def test_cobyqa_search_reaches_lme4s_loglik(name, monkeypatch):
    """The derivative-free search that large problems get (models/theta_search.py), forced on the
    small fixtures: logLik never below lme4's by more than 1e-4, θ where lme4 puts it."""
    from evalkit.models import theta_search

    monkeypatch.setattr(theta_search, "COBYQA_FROM", 0.0)
    fit, _ = fit_case(name, CASES[name])
    assert fit.raw.info["optimizer"] == "COBYQA"
    check(name, fit, FIXTURES[name])
