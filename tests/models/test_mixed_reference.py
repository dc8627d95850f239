"""The fast engine against lme4 + lmerTest (fixtures frozen by tests/reference/lme4_reference.R).

Tolerances (issue 4): fixed effects 1e-4 relative, standard errors 1e-3 relative, Satterthwaite df
1 %, variance components 1e-3 relative (absolute 1e-4 for components at the boundary), and a
log-likelihood no lower than lme4's minus 1e-4.
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
from evalkit.errors import SingularFitWarning

REF = Path(__file__).parents[1] / "reference"
FIXTURES = json.loads((REF / "lme4_fixtures.json").read_text())["cases"]
MODE = {"delivery_mode": "one_to_one"}

# case -> (data file, fit_mixed arguments)
CASES = {
    "sleepstudy_slope_reml": ("sleepstudy.csv", dict(outcome="Reaction", fixed="Days", subject="Subject", random="Days")),
    "sleepstudy_slope_ml": ("sleepstudy.csv", dict(outcome="Reaction", fixed="Days", subject="Subject", random="Days", reml=False)),
    "sleepstudy_uncorr_reml": ("sleepstudy.csv", dict(outcome="Reaction", fixed="Days", subject="Subject", random="Days", correlated=False)),
    "sleepstudy_intercept_reml": ("sleepstudy.csv", dict(outcome="Reaction", fixed="Days", subject="Subject")),
    "mothers30_slope_reml": ("mothers30.csv", dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id", random="weeks", reference=MODE)),
    "mothers30_intercept_reml": ("mothers30.csv", dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id", reference=MODE)),
    "mothers30_slope_ml": ("mothers30.csv", dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id", random="weeks", reml=False, reference=MODE)),
    "mothers30_isolation_reml": ("mothers30.csv", dict(outcome="wemwbs", fixed="weeks * isolation", subject="participant_id", random="weeks")),
    "mothers3000_slope_reml": ("mothers3000.csv", dict(outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id", random="weeks", reference=MODE)),
    "singular_slope_reml": ("singular.csv", dict(outcome="y", fixed="weeks", subject="id", random="weeks")),
    "singular_uncorr_reml": ("singular.csv", dict(outcome="y", fixed="weeks", subject="id", random="weeks", correlated=False)),
}


def r_name(term: str) -> str:
    """formulaic's term names in R's spelling: Intercept -> (Intercept), x[T.lvl] -> xlvl."""
    if term == "Intercept":
        return "(Intercept)"
    return re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", term)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    file, kwargs = CASES[name]
    data = pd.read_csv(REF / "data" / file)
    if "delivery_mode" in data:  # as build_cohort gives it: the dictionary's level order
        data["delivery_mode"] = pd.Categorical(data["delivery_mode"], ["one_to_one", "group", "both"])
    ref = FIXTURES[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ek.fit_mixed(data, **kwargs)
    return name, fit, ref, caught


def test_fixed_effects_se_and_df(case):
    name, fit, ref, _ = case
    assert [r_name(t) for t in fit.fixed["term"]] == ref["fixed"]["term"]
    np.testing.assert_allclose(fit.fixed["estimate"], ref["fixed"]["estimate"], rtol=1e-4, atol=1e-8,
                               err_msg=f"{name}: estimates")
    np.testing.assert_allclose(fit.fixed["std_error"], ref["fixed"]["std_error"], rtol=1e-3,
                               err_msg=f"{name}: standard errors")
    np.testing.assert_allclose(fit.fixed["df"], ref["fixed"]["df"], rtol=0.01, err_msg=f"{name}: df")


def test_loglik_at_least_lme4s(case):
    name, fit, ref, _ = case
    assert fit.loglik >= ref["loglik"] - 1e-4, f"{name}: logLik {fit.loglik} < lme4 {ref['loglik']}"
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)


def test_variance_components(case):
    name, fit, ref, _ = case
    # lme4 lists the terms of (x || g) as separate grouping factors: gather them all
    theirs = [v for group in ref["varcorr"]["groups"] for v in group["variances"]]
    vc = fit.variance_components
    ours = vc.loc[vc["group"] != "residual"].dropna(subset=["variance"])["variance"].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4, err_msg=name)
    corr = ref["varcorr"]["groups"][0].get("correlation")
    if fit.spec.correlated and corr and len(corr) > 1:
        ours_r = vc["correlation"].dropna().to_numpy()
        np.testing.assert_allclose(ours_r, [corr[0][1]], atol=2e-3, err_msg=f"{name}: correlation")
    resid = vc.loc[vc["group"] == "residual", "variance"].item()
    assert resid == pytest.approx(ref["varcorr"]["residual_variance"], rel=1e-3)


def test_singularity_flag_and_warning(case):
    name, fit, ref, caught = case
    assert fit.singular == ref["singular"], name
    assert any(issubclass(w.category, SingularFitWarning) for w in caught) == ref["singular"]


def test_contrasts_with_satterthwaite_df(case):
    name, fit, ref, _ = case
    for con in ref.get("contrasts", []):
        L = np.array(con["L"], float)
        assert [r_name(t) for t in fit.fixed["term"]] == con["L_colnames"]
        out = fit.contrast(L)
        np.testing.assert_allclose(out["estimate"], con["estimate"], rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(out["std_error"], con["std_error"], rtol=1e-3)
        np.testing.assert_allclose(out["df"], con["df"], rtol=0.01, err_msg=f"{name} {con['name']}")


def test_blups_match_lme4(case):
    name, fit, ref, _ = case
    ran = ref["ranef"][0]
    levels = ran["levels"]
    ours = fit.blups
    ours.index = ours.index.astype(str)
    np.testing.assert_allclose(ours.loc[levels].to_numpy(), np.array(ran["values"]), rtol=2e-3,
                               atol=2e-3 * np.abs(np.array(ran["values"])).max(), err_msg=name)
