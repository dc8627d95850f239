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


# ============================================================================ units (issue 14)
# scale_fixtures.json (tests/reference/scale_reference.R): three cohorts, each with the outcome × 1,
# × 100, × 1000 and time in weeks or days. Same tolerances as above against lmerTest; and evalkit's
# df and p must not depend on the units at all (1e-6 relative).
SCALE = json.loads((REF / "scale_fixtures.json").read_text())["cases"]
SCALE_MODELS = {"scale15": "weeks", "scale15b": "weeks", "scale60": "weeks * mode"}


def _variant(ref: dict) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / ref["data"])
    if "mode" in d:
        d["mode"] = pd.Categorical(d["mode"], ["one_to_one", "group", "both"])
    d["y"] = d["y"] * ref["y_multiplier"]
    d["weeks"] = d["weeks"] * ref["time_multiplier"]
    return d


@pytest.fixture(scope="module")
def scale_fits():
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        warnings.simplefilter("error", ek.errors.ConvergenceWarning)
        for name, ref in SCALE.items():
            fits[name] = ek.fit_mixed(_variant(ref), outcome="y", fixed=SCALE_MODELS[ref["dataset"]],
                                      subject="id", random="weeks")
    return fits


@pytest.mark.parametrize("name", sorted(SCALE))
def test_every_unit_matches_lmertest(scale_fits, name):
    fit, ref = scale_fits[name], SCALE[name]
    assert [r_name(t) for t in fit.fixed["term"]] == ref["fixed"]["term"]
    np.testing.assert_allclose(fit.fixed["estimate"], ref["fixed"]["estimate"], rtol=1e-4,
                               atol=1e-4 * np.max(ref["fixed"]["std_error"]), err_msg=name)
    np.testing.assert_allclose(fit.fixed["std_error"], ref["fixed"]["std_error"], rtol=1e-3, err_msg=name)
    np.testing.assert_allclose(fit.fixed["df"], ref["fixed"]["df"], rtol=0.01, err_msg=name)
    np.testing.assert_allclose(fit.fixed["p_value"], ref["fixed"]["p"], rtol=0.01, atol=1e-12, err_msg=name)
    assert fit.loglik >= ref["loglik"] - 1e-4 and fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-3)
    assert fit.singular == ref["singular"] and fit.converged
    for con in ref["contrasts"]:
        out = fit.contrast(np.array([con["L"]], float))
        np.testing.assert_allclose(out["estimate"], [con["estimate"]], rtol=1e-4,
                                   atol=1e-4 * con["std_error"])
        np.testing.assert_allclose(out["std_error"], [con["std_error"]], rtol=1e-3)
        np.testing.assert_allclose(out["df"], [con["df"]], rtol=0.01, err_msg=f"{name} {con['name']}")


@pytest.mark.parametrize("dataset", sorted(SCALE_MODELS))
def test_df_and_p_do_not_depend_on_units(scale_fits, dataset):
    names = sorted(n for n, r in SCALE.items() if r["dataset"] == dataset)
    assert len(names) == 6      # × 1, × 100, × 1000 in weeks and in days
    first = scale_fits[names[0]]
    L = np.eye(len(first.beta))
    if dataset == "scale60":   # and contrasts that mix terms (mean of 'group' at 12 weeks)
        L = np.vstack([L, [0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 1, -1], [1, 12, 1, 0, 12, 0]])
    timed = np.array([":" in t or t == "weeks" for t in first.fixed["term"]])

    def in_units(name):   # the same linear combinations when time is in days: 12 weeks = 84 days
        return L * np.where(timed, SCALE[name]["time_multiplier"], 1.0)

    base = first.contrast(in_units(names[0]))
    for name in names[1:]:
        other = scale_fits[name].contrast(in_units(name))
        np.testing.assert_allclose(other["df"], base["df"], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(other["p_value"], base["p_value"], rtol=1e-6, atol=1e-300,
                                   err_msg=name)
        np.testing.assert_allclose(other["statistic"], base["statistic"], rtol=1e-6, err_msg=name)
        assert scale_fits[name].singular == first.singular
        assert scale_fits[name].warnings == first.warnings


# ============================================================================ convergence (issue 14)
# 400 seeded, well-posed cohorts (tests/reference/data/converge400.csv.gz: 40 mothers each,
# y ~ t * mode + (t | id), outcome × 1/100/1000, time in weeks or days) and lmerTest's fits of
# each (converge400_lmer.csv). Convergence is judged as lme4's checkConv does, so none of them may
# report converged=False; every fit must reach at least lme4's likelihood, and where lme4 itself
# reports no problem the estimates, SEs and df must agree with lmerTest.
def test_no_false_nonconvergence_in_400_seeded_fits():
    data = pd.read_csv(REF / "data" / "converge400.csv.gz")
    data["mode"] = pd.Categorical(data["mode"], ["one_to_one", "group", "both"])
    ref = pd.read_csv(REF / "converge400_lmer.csv").set_index("fit")
    cols = {k: [f"{k}_{i}" for i in range(1, 7)] for k in ("estimate", "std_error", "df")}
    not_converged, below, compared = [], [], 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fit_id, d in data.groupby("fit"):
            fit = ek.fit_mixed(d, outcome="y", fixed="t * mode", subject="id", random="t")
            r = ref.loc[fit_id]
            if not fit.converged:
                not_converged.append(fit_id)
            if fit.loglik < r["loglik"] - 1e-6:
                below.append((fit_id, fit.loglik - r["loglik"]))
            if r["lme4_code"] == 0 and not r["singular"]:
                compared += 1
                est, se = r[cols["estimate"]].to_numpy(float), r[cols["std_error"]].to_numpy(float)
                np.testing.assert_allclose(fit.fixed["estimate"], est, rtol=1e-4, atol=1e-4 * se.max(),
                                           err_msg=f"fit {fit_id}")
                np.testing.assert_allclose(fit.fixed["std_error"], se, rtol=1e-3, err_msg=f"fit {fit_id}")
                np.testing.assert_allclose(fit.fixed["df"], r[cols["df"]].to_numpy(float), rtol=0.01,
                                           err_msg=f"fit {fit_id}")
    assert not_converged == [], f"converged=False in fits {not_converged}"
    assert not any(issubclass(w.category, ek.errors.ConvergenceWarning) for w in caught)
    assert below == [], f"log-likelihood below lme4's: {below}"
    assert compared == 325      # fits where lme4 reports neither a convergence warning nor a singular fit
