"""Random-effects terms in lme4 syntax (issue 15): the parser, the routing in fit_mixed, and that
everything built on a fit (marginal means, contrasts, conditional effects, Johnson–Neyman,
predictions, the simplification ladder) works on fits with several terms."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import SingularFitWarning, SpecificationError
from evalkit.models.random_terms import parse_random


# ============================================================================ parser
def test_nested_combined_and_uncorrelated_terms_expand_as_lme4():
    spec = parse_random("(1 + weeks | participant_id) + (1 | site/volunteer_id) + (weeks || a:b)")
    got = [(t.expr, t.factor, t.correlated) for t in spec.terms]
    assert got == [("1 + weeks", ("participant_id",), True), ("1", ("site",), True),
                   ("1", ("site", "volunteer_id"), True), ("weeks", ("a", "b"), False)]
    assert [t.factor for t in parse_random("(1 | a/b/c)").terms] == [("a",), ("a", "b"), ("a", "b", "c")]
    assert parse_random(spec.text()) == spec


@pytest.mark.parametrize("text, names", [
    ("1 | site", "'1 | site' is not in parentheses"),
    ("(1 site)", "has no '|'"),
    ("( | site)", "nothing before the bar"),
    ("(1 | )", "no grouping factor"),
    ("(1 | site-2)", "'site-2' is not a grouping factor"),
    ("(1 | a) + (weeks | a)", "'a' appears in more than one term"),
    ("(1 | a", "is not closed"),
    ("(1 | a) + ", "empty term"),
    ("(1 | a | b)", "more than one bar"),
])
def test_bad_syntax_names_the_term_and_the_fix(text, names):
    with pytest.raises(SpecificationError, match="random") as err:
        parse_random(text)
    assert names in str(err.value)


# ============================================================================ data
def _cohort(seed=3, n_vol=12, per_vol=6, vol_sd=2.0):
    rng = np.random.default_rng(seed)
    mothers = n_vol * per_vol
    mother = np.repeat(np.arange(mothers), 3)
    vol = mother // per_vol
    weeks = np.tile([0.0, 6.0, 12.0], mothers)
    mode = np.where(vol % 2 == 0, "one_to_one", "group")
    iso = np.round(rng.uniform(1, 5, mothers), 2)[mother]
    y = (40 + 0.3 * weeks + 0.1 * weeks * (mode == "group") + rng.normal(0, vol_sd, n_vol)[vol]
         + rng.normal(0, 4, mothers)[mother] + rng.normal(0, 0.3, mothers)[mother] * weeks
         + 0.05 * weeks * iso + rng.normal(0, 2.0, len(weeks)))
    return pd.DataFrame({"mother": mother, "volunteer": [f"v{v:02d}" for v in vol], "weeks": weeks,
                         "mode": mode, "isolation": iso, "y": y})


TERMS = "(1 + weeks | mother) + (1 | volunteer)"


@pytest.fixture(scope="module")
def fit():
    return ek.fit_mixed(_cohort(), outcome="y", fixed="weeks * mode + weeks * isolation",
                        random=TERMS, reference={"mode": "one_to_one"})


# ============================================================================ routing
def test_one_term_on_one_column_is_the_short_form():
    d = _cohort()
    short = ek.fit_mixed(d, outcome="y", fixed="weeks", subject="mother", random="weeks")
    terms = ek.fit_mixed(d, outcome="y", fixed="weeks", random="(1 + weeks | mother)")
    assert not terms.terms and type(terms.raw) is type(short.raw)     # the closed-form engine
    pd.testing.assert_frame_equal(terms.fixed, short.fixed)
    assert terms.loglik == short.loglik
    uncorr = ek.fit_mixed(d, outcome="y", fixed="weeks", random="(weeks || mother)")
    assert uncorr.spec.correlated is False and uncorr.spec.subject == "mother"


def test_several_terms_need_the_fast_engine():
    d = _cohort()
    with pytest.raises(SpecificationError, match="engine='fast'"):
        ek.fit_mixed(d, outcome="y", fixed="weeks", random=TERMS, engine="statsmodels")
    # Kenward–Roger is available for them (tests/models/test_kenward_roger_terms.py)
    fit = ek.fit_mixed(d, outcome="y", fixed="weeks", random=TERMS, ddf="kenward-roger")
    assert fit.spec.ddf == "kenward-roger" and fit.terms


def test_missing_grouping_column_and_missing_values():
    d = _cohort()
    with pytest.raises(SpecificationError, match="'site'"):
        ek.fit_mixed(d, outcome="y", fixed="weeks", random="(1 | mother) + (1 | site)")
    d.loc[:4, "volunteer"] = None
    f = ek.fit_mixed(d, outcome="y", fixed="weeks", random=TERMS)
    row = f.exclusions.set_index("reason").loc["missing grouping factor"]
    assert row["rows"] == 5 and f.n_obs == len(d) - 5


# ============================================================================ the fit's tables
def test_tables_list_every_term(fit):
    vc = fit.variance_components
    assert list(vc["group"]) == ["mother", "mother", "mother", "volunteer", "residual"]
    assert vc.loc[2, "term"] == "Intercept:weeks" and -1 < vc.loc[2, "correlation"] < 1
    assert set(fit.ranef) == {"mother", "volunteer"}
    assert fit.ranef["volunteer"].shape == (12, 1) and fit.blups.shape == (72, 2)
    assert fit.ranef["volunteer"].index[0] == "v00"
    icc = fit.icc_by_level()
    assert list(icc["group"]) == ["mother", "volunteer", "residual"]
    assert icc["icc"].sum() == pytest.approx(1.0) and fit.icc() == pytest.approx(1 - icc["icc"].iloc[-1])
    assert "volunteer 12" in repr(fit) and "(1 | volunteer)" in repr(fit)
    assert np.all(np.isfinite(fit.fixed["df"])) and np.all(fit.fixed["df"] > 1)


def test_predictions_add_every_terms_blup(fit):
    d = _cohort()
    assert np.allclose(fit.predict(d).to_numpy(), fit.predict().to_numpy())
    new = d.iloc[:3].assign(volunteer="someone new")
    mother_only = fit.predict(new).to_numpy() - fit.predict(new, include_random=False).to_numpy()
    z = np.column_stack([np.ones(3), new["weeks"]])
    assert np.allclose(mother_only, z @ fit.ranef["mother"].iloc[0].to_numpy())
    assert abs(fit.residuals().mean()) < 0.1


def test_effects_work_unchanged(fit):
    mm = ek.marginal_means(fit, at={"weeks": [0, 12]}, by="mode")
    assert len(mm) == 4 and np.all(np.isfinite(mm["df"]))
    ce = ek.conditional_effects(fit, effect="weeks", by="isolation", at=[1, 5])
    assert len(ce) == 2 and np.all(np.isfinite(ce["std_error"]))
    ch = ek.change_from_baseline(fit, change=(0, 12), by="mode")
    # the 12-week change is a contrast of the fixed effects: its df are the fit's Satterthwaite df
    row = ch.iloc[0]
    L = np.zeros(len(fit.beta))
    names = list(fit.design.fixed_names)
    L[names.index("weeks")] = 12
    L[names.index("weeks:isolation")] = 12 * fit.design.variables["isolation"]["mean"]
    direct = fit.contrast(L[None, :])
    assert row["estimate"] == pytest.approx(direct["estimate"].item())
    assert row["df"] == pytest.approx(direct["df"].item())
    jn = ek.johnson_neyman(fit, effect="weeks", by="isolation")
    assert len(jn.table) >= 0 and jn.curve["df"].notna().all()
    # and on Kenward–Roger: the same contrast with the adjusted covariance and its df
    kr = fit.with_ddf("kenward-roger")
    kr_row = ek.change_from_baseline(kr, change=(0, 12), by="mode").iloc[0]
    assert kr_row["df"] == pytest.approx(kr.kenward_roger.df(L[None, :]).item())
    assert kr_row["std_error"] == pytest.approx(kr.kenward_roger.std_error(L[None, :]).item())


def test_simplify_drops_the_zero_variance_term():
    d = _cohort(vol_sd=0.0, seed=11)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        raw = ek.fit_mixed(d, outcome="y", fixed="weeks", random="(1 | mother) + (1 | volunteer)")
        simple = ek.fit_mixed(d, outcome="y", fixed="weeks", random="(1 | mother) + (1 | volunteer)",
                              simplify=True)
    assert raw.singular and raw.variance_components.loc[1, "variance"] < 1e-6
    assert not simple.singular and simple.simplification
    assert "(1 | mother)" in simple.spec.describe() and "volunteer" not in simple.spec.random


def test_richardson_two_steps_match_lmertests_four():
    fit = ek.fit_mixed(_cohort(), outcome="y", fixed="weeks", random=TERMS)
    from evalkit.models import satterthwaite as sat

    dfs = [sat.satterthwaite_df(np.eye(2), fit.vcov_beta, *fit.raw.satterthwaite(richardson=r)[1::-1])
           for r in (2, 4)]
    np.testing.assert_allclose(dfs[0], dfs[1], rtol=1e-4)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_small_block_factorisations_match_numpy(q):
    from evalkit.models.small_blocks import bmm, chol_inv, congruence

    rng = np.random.default_rng(q)
    G = rng.normal(size=(50, q, q))
    A = G @ G.transpose(0, 2, 1) + np.eye(q)
    L, Li = chol_inv(A)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Li, np.linalg.inv(np.linalg.cholesky(A)), rtol=1e-10, atol=1e-12)
    T = np.tril(rng.normal(size=(q, q)))
    np.testing.assert_allclose(congruence(T, A), T.T @ A @ T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bmm(Li, A), Li @ A, rtol=1e-12, atol=1e-12)
