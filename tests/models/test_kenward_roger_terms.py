"""Kenward–Roger with several random-effects terms against pbkrtest and lmerTest (fixtures frozen
by tests/reference/kenward_roger_terms_reference.R), against the dense n × n definition, and its
units, limits and routing.

Tolerances: the fits' θ agree with lme4's to ~1e-6 relative (Penicillin, Pastes) and ~1e-5 (the
cohort's volunteer variance, a flat direction of the criterion), and Kenward–Roger's numbers move
with θ; measured differences from pbkrtest are ≤ 3e-7 relative on Penicillin and Pastes and ≤ 3e-5
on the cohort, so standard errors, df, Φ_A, W and F are checked at 1e-4 relative. At lme4's own θ
and σ the algebra agrees with pbkrtest to rounding (checked at 1e-7).
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
from evalkit.errors import SpecificationError
from evalkit.models import kenward_roger as kr
from evalkit.models import kenward_roger_terms as krt
from evalkit.models import reml
from evalkit.models.moderation import change_from_baseline, conditional_effects, marginal_means

from ._kr_dense import dense_kenward_roger, term_parts

REF = Path(__file__).parents[1] / "reference"
FIXTURES = json.loads((REF / "kr_terms_fixtures.json").read_text())["cases"]
MODE = {"mode": "one_to_one"}
COHORT = "(1 + weeks | participant_id) + (1 | volunteer_id)"
CASES = {
    "penicillin_crossed": dict(outcome="diameter", fixed="1", random="(1 | plate) + (1 | sample)"),
    "pastes_nested": dict(outcome="strength", fixed="1", random="(1 | batch/cask)"),
    "cohort_slope_volunteer": dict(outcome="wemwbs", fixed="weeks * mode", random=COHORT,
                                   reference=MODE),
}
TOL = 1e-4


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / FIXTURES[name]["data"])


def r_name(term: str) -> str:
    return "(Intercept)" if term == "Intercept" else re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", term)


def parameter_key(name: str, r: bool = False) -> tuple:
    """A parameter's name with the grouping factor as a set (lme4 writes a nested factor b:a);
    ``r``: R's spelling, (Intercept) for Intercept."""
    if name == "residual":
        return ("residual",)
    group, _, what = name.partition(": ")
    return frozenset(group.split(":")), what.replace("(Intercept)", "Intercept") if r else what


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    return name, ek.fit_mixed(load(name), **CASES[name], ddf="kenward-roger"), FIXTURES[name]


def test_adjusted_se_df_and_covariance_match_pbkrtest(case):
    """summary(fit, ddf = "Kenward-Roger"), pbkrtest's vcovAdj (every entry, its W) and Lb_ddf."""
    name, fit, ref = case
    f = ref["fixed"]
    assert [r_name(t) for t in fit.fixed["term"]] == f["term"]
    assert fit.spec.ddf == "kenward-roger"
    np.testing.assert_allclose(fit.fixed["estimate"], f["estimate"], rtol=TOL, err_msg=name)
    np.testing.assert_allclose(fit.fixed["std_error"], f["std_error_kr"], rtol=TOL, err_msg=name)
    np.testing.assert_allclose(fit.fixed["df"], f["df_kr"], rtol=TOL, err_msg=name)
    np.testing.assert_allclose(fit.fixed["df"], f["Lb_ddf"], rtol=TOL, err_msg=name)
    np.testing.assert_allclose(fit.fixed["p_value"], f["p_kr"], rtol=1e-3, atol=1e-12, err_msg=name)
    K = fit.kenward_roger
    assert [parameter_key(p) for p in K.parameters] == [parameter_key(p, r=True) for p in ref["gamma"]["names"]]
    np.testing.assert_allclose(K.gamma, ref["gamma"]["values"], rtol=TOL, err_msg=name)
    PhiA = np.array(ref["vcov_adjusted"])
    scale = np.sqrt(np.outer(np.diag(PhiA), np.diag(PhiA)))
    np.testing.assert_array_less(np.abs(K.vcov_adjusted - PhiA), TOL * scale)
    W = np.array(ref["W"])
    np.testing.assert_array_less(np.abs(K.W - W), TOL * np.sqrt(np.outer(np.diag(W), np.diag(W))))
    assert K.condition == pytest.approx(ref["condition"], rel=TOL)


def test_f_tests_match_krmodcomp(case):
    """pbkrtest::KRmodcomp (= lmerTest::contest(joint = TRUE, ddf = "Kenward-Roger"))."""
    name, fit, ref = case
    for t in ref["ftests"]:
        res = fit.kenward_roger.f_test(np.array(t["L"]), fit.beta)
        assert res["ndf"] == t["ndf"]
        for key in ("F", "ddf", "F_scaling", "F_unscaled"):
            assert res[key] == pytest.approx(t[key], rel=TOL), (name, t["name"], key)
        assert res["p_value"] == pytest.approx(t["p"], rel=1e-3, abs=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_algebra_at_lme4s_estimates_is_pbkrtests(name):
    """At lme4's own θ and σ the differences left are rounding: the algebra is pbkrtest's."""
    ref = FIXTURES[name]
    fit = ek.fit_mixed(load(name), **CASES[name])
    K = krt.compute_terms(fit.raw.problem, np.array(ref["theta"]["values"]), ref["sigma"])
    for ours, key in [(K.vcov, "vcov"), (K.vcov_adjusted, "vcov_adjusted"), (K.W, "W")]:
        theirs = np.array(ref[key])     # entries that are 0 up to rounding: absolute 1e-10
        np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-10 * np.abs(theirs).max(),
                                   err_msg=key)
    np.testing.assert_allclose(K.df(np.eye(len(fit.beta))), ref["fixed"]["Lb_ddf"], rtol=1e-7)


def _dense(fit):
    """pbkrtest's vcovAdj_internal with dense n × n matrices (the definition)."""
    X, n = fit.design.X, fit.n_obs
    G, gamma = [], []
    for td, cov in zip(fit.terms, fit.raw.covariances()):
        pos = reml.theta_layout(td.Z.shape[1], td.term.correlated)[0]
        g, c = term_parts(np.asarray(td.Z, float), td.codes, len(td.levels), pos, cov)
        G, gamma = G + g, gamma + c
    G.append(np.eye(n))
    gamma.append(fit.sigma ** 2)
    return (*dense_kenward_roger(X, G, gamma), np.array(gamma))


@pytest.mark.parametrize("random", ["(1 + x | a) + (1 | b)", "(1 + x || a) + (1 + x | b)",
                                    "(1 | a) + (1 | b) + (1 | a:b)", "(1 | a:b) + (1 + x | a)"])
def test_equals_the_dense_definition(random):
    """Crossed factors (b's levels cut across a's), slopes, ||, a:b: Woodbury, the block-wise
    elimination and the trace identities give the n × n definition to rounding."""
    rng = np.random.default_rng(4)
    a, b = np.repeat(np.arange(12), 15), np.tile(np.repeat(np.arange(5), 3), 12)
    keep = rng.random(180) > 0.2                      # unbalanced: about 144 of the 180 rows
    a, b, n = a[keep], b[keep], int(keep.sum())
    x = rng.normal(size=n)
    y = (1 + rng.normal(0, 1, 12)[a] + (0.5 + rng.normal(0, 0.4, 12)[a]) * x
         + rng.normal(0, 0.8, 5)[b]
         + rng.normal(0, 0.7, 60)[a * 5 + b] + rng.normal(0, 1, n))
    data = pd.DataFrame({"a": a, "b": b, "x": x, "g": (a % 2).astype(str), "y": y})
    with warnings.catch_warnings():      # a singular fit is a valid test of the algebra too
        warnings.simplefilter("ignore")
        fit = ek.fit_mixed(data, outcome="y", fixed="x * g", random=random)
    PhiA, W, P, gamma = _dense(fit)
    K = fit.kenward_roger
    np.testing.assert_allclose(K.gamma, gamma, rtol=1e-10)
    np.testing.assert_allclose(K.vcov_adjusted, PhiA, rtol=1e-8, atol=1e-12 * np.abs(PhiA).max())
    np.testing.assert_allclose(K.W, W, rtol=1e-7, atol=1e-10 * np.abs(W).max())
    np.testing.assert_allclose(K.P, P, rtol=1e-8, atol=1e-12 * np.abs(P).max())


def test_units_do_not_change_df():
    """Outcome × 10 and time × 7, refitted: df equal to 1e-6 relative (measured 5e-8, the refits'
    agreement), SEs scale by 10 (outcome) and 10/7 (time terms)."""
    name = "cohort_slope_volunteer"
    data = load(name)
    base = ek.fit_mixed(data, **CASES[name], ddf="kenward-roger")
    scaled = ek.fit_mixed(data.assign(y=data["wemwbs"] * 10, t=data["weeks"] * 7), outcome="y",
                          fixed="t * mode", random="(1 + t | participant_id) + (1 | volunteer_id)",
                          reference=MODE, ddf="kenward-roger")
    np.testing.assert_allclose(scaled.fixed["df"], base.fixed["df"], rtol=1e-6)
    np.testing.assert_allclose(scaled.fixed["std_error"],
                               base.fixed["std_error"] * np.array([10, 10 / 7, 10, 10 / 7]), rtol=1e-6)


def test_every_route_to_kenward_roger():
    """fit_mixed(ddf=…), with_ddf, contrast(ddf=…) and the functions built on contrast agree."""
    name = "cohort_slope_volunteer"
    data = load(name)
    sat = ek.fit_mixed(data, **CASES[name])
    kr_fit = ek.fit_mixed(data, **CASES[name], ddf="kenward-roger")
    pd.testing.assert_frame_equal(sat.with_ddf("kenward-roger").fixed, kr_fit.fixed)
    L = np.array(FIXTURES[name]["ftests"][1]["L"])       # change to week 12 in the group mode
    c = sat.contrast(L, ddf="kenward-roger")
    K = sat.kenward_roger          # two fits of the same data agree to ~1e-9, not bit for bit
    assert K.df(L).item() == pytest.approx(kr_fit.kenward_roger.df(L).item(), rel=1e-8)
    assert c["df"].item() == pytest.approx(K.df(L).item(), rel=1e-12)
    assert c["std_error"].item() == pytest.approx(K.std_error(L).item(), rel=1e-12)
    assert not np.isclose(c["df"].item(), sat.contrast(L)["df"].item(), rtol=1e-3)
    ch = change_from_baseline(sat, time="weeks", change=(0, 12), by="mode", ddf="kenward-roger")
    row = ch.loc[ch["mode"].astype(str) == "group"]
    assert row["df"].item() == pytest.approx(K.df(L).item(), rel=1e-10)
    mm = marginal_means(sat, at={"weeks": [12]}, by="mode", ddf="kenward-roger")
    at12 = mm.loc[mm["mode"].astype(str) == "group"]
    mean12 = np.array([[1.0, 12.0, 1.0, 12.0]])
    assert at12["df"].item() == pytest.approx(K.df(mean12).item(), rel=1e-10)
    assert at12["std_error"].item() == pytest.approx(K.std_error(mean12).item(), rel=1e-10)
    ce = conditional_effects(sat, effect="weeks", by="mode", ddf="kenward-roger")
    F = K.f_test(np.array([[0.0, 0.0, 0.0, 1.0]]), sat.beta)           # weeks × mode
    assert ce["interaction_f"].iloc[0] == pytest.approx(F["F"], rel=1e-10)
    assert ce["interaction_df2"].iloc[0] == pytest.approx(F["ddf"], rel=1e-10)


def test_too_many_random_effects_is_refused(monkeypatch):
    name = "cohort_slope_volunteer"
    fit = ek.fit_mixed(load(name), **CASES[name])
    monkeypatch.setattr(krt, "MAX_DENSE", 1000)      # the cohort: 1,008 × 48
    with pytest.raises(SpecificationError, match=r"1,008 × 48 matrix.*ddf='satterthwaite'"):
        fit.contrast(np.eye(4), ddf="kenward-roger")
    with pytest.raises(SpecificationError, match="ddf='satterthwaite'"):
        ek.fit_mixed(load(name), **CASES[name], ddf="kenward-roger")


def test_ml_fit_is_refused():
    name = "pastes_nested"
    with pytest.raises(SpecificationError, match="REML"):
        ek.fit_mixed(load(name), **CASES[name], reml=False, ddf="kenward-roger")
    ml = ek.fit_mixed(load(name), **CASES[name], reml=False)
    with pytest.raises(SpecificationError, match="REML"):
        ml.with_ddf("kenward-roger")


def test_one_term_keeps_the_per_subject_path(monkeypatch):
    """One term on one column is the short form: same fit, kenward_roger.compute's numbers
    exactly, and kenward_roger_terms is never called."""
    def refuse(*args, **kwargs):
        raise AssertionError("the several-terms path was used for one term")

    monkeypatch.setattr(krt, "compute_terms", refuse)
    data = load("cohort_slope_volunteer")
    args = dict(outcome="wemwbs", fixed="weeks * mode", reference=MODE, ddf="kenward-roger")
    fit = ek.fit_mixed(data, **args, random="(1 + weeks | participant_id)")
    short = ek.fit_mixed(data, **args, subject="participant_id", random="weeks")
    assert not fit.terms
    pd.testing.assert_frame_equal(fit.fixed, short.fixed)
    d = fit.design
    stats = reml.sufficient_stats(d.X, d.Z, d.y, d.group)
    pos, _ = reml.theta_layout(stats.q, True)
    K = kr.compute(stats, fit.theta, fit.sigma, pos, fit.vcov_beta, random_names=d.random_names)
    np.testing.assert_array_equal(fit.kenward_roger.vcov_adjusted, K.vcov_adjusted)
    np.testing.assert_array_equal(fit.fixed["df"], K.df(np.eye(len(fit.beta))))
