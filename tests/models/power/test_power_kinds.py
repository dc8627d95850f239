"""Tests in words: change in a group, the difference in change, and a Johnson–Neyman region,
each against a case whose answer is known exactly or bounded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import SingularFitWarning, SpecificationError
from evalkit.models.power.design import simulate_data, template
from evalkit.models.power.simulation import Problem, _seed

from .designs import BASE, EFFECTS

DESIGN = dict(BASE, dropout=[0, 0.1, 0.2, 0.3], sizes=[40, 80], nsim=25, seed=3, progress=False)
#: a moderator of the difference in change: isolation (per SD) narrows it by 0.1 a week
MODERATED = dict(DESIGN, fixed="weeks * mode * isolation", covariates=["isolation"],
                 effects={**EFFECTS, "isolation": -1.0, "weeks:isolation": 0.0,
                          "mode[T.one_to_one]:isolation": 0.0,
                          "weeks:mode[T.one_to_one]:isolation": -0.1})
BETWEEN = {"change": (0, 24), "between": ("one_to_one", "group")}


def one_size(design: dict, **change) -> dict:
    """A design for ek.power (one size, no sizes=)."""
    return {**{k: v for k, v in design.items() if k != "sizes"}, **change}


def test_change_in_a_group_is_the_time_term_of_the_model_with_that_group_as_reference():
    # one-to-one as the reference level: its change over 24 weeks is 24 × the weeks term, so the
    # two tests see the same data (same seeds, same mean) and must agree study by study
    change = ek.power_curve(**DESIGN, test={"change": (0, 24), "at": {"mode": "one_to_one"}})
    term = ek.power_curve(**{**DESIGN, "reference": {"mode": "one_to_one"},
                             "effects": {"Intercept": 38, "weeks": 0.4, "mode[T.group]": 0,
                                         "weeks:mode[T.group]": -0.1}}, test="weeks")
    assert change.true_value == pytest.approx(24 * 0.4)
    np.testing.assert_allclose(change.raw["estimate"], 24 * term.raw["estimate"], rtol=1e-6)
    np.testing.assert_allclose(change.raw["std_error"], 24 * term.raw["std_error"], rtol=1e-5)
    np.testing.assert_allclose(change.raw["df"], term.raw["df"], rtol=1e-4)
    assert change.table["power"].tolist() == term.table["power"].tolist()
    assert change.test == "change from weeks 0 to 24 at mode=one_to_one"


def test_change_averaged_over_groups_gives_equal_weight_to_each():
    res = ek.power(**one_size(DESIGN, nsim=5), n=40, test={"change": (6, 12)})
    assert res.true_value == pytest.approx(6 * (0.3 + 0.1 / 2))
    assert res.problem["test"]["weights"] == [["weeks", 6.0], ["weeks:mode[T.one_to_one]", 3.0]]


def test_difference_in_change_is_the_contrast_of_the_interaction_over_the_weeks():
    words = ek.power_curve(**DESIGN, test=BETWEEN)
    contrast = ek.power_curve(**DESIGN, test={"weeks:mode[T.one_to_one]": 24})
    assert words.problem["test"]["weights"] == [["weeks:mode[T.one_to_one]", 24.0]]
    np.testing.assert_allclose(words.raw["estimate"], contrast.raw["estimate"], rtol=1e-12)
    assert words.table["power"].tolist() == contrast.table["power"].tolist()
    # the other way round is the same test of the opposite difference
    back = ek.power_curve(**DESIGN, test={"change": (0, 24), "between": ("group", "one_to_one")})
    np.testing.assert_allclose(back.raw["estimate"], -words.raw["estimate"], rtol=1e-12)
    assert back.table["power"].tolist() == words.table["power"].tolist()


def test_region_covering_a_value_is_the_test_of_the_effect_at_that_value():
    # a moderator value lies in the region of significance exactly when the effect there is
    # significant: the region's verdict and the t test at isolation = 1 agree study by study
    jn = ek.power_curve(**MODERATED, test={**BETWEEN, "johnson_neyman": "isolation", "covers": 1})
    at = ek.power_curve(**MODERATED, test={**BETWEEN, "at": {"isolation": 1}})
    assert jn.true_value == pytest.approx(at.true_value) == pytest.approx(2.4 - 2.4)
    _, _, half = _critical(at.raw)
    np.testing.assert_array_equal(jn.raw["significant"] > 0.5, np.abs(at.raw["estimate"]) > half)
    assert jn.table["power"].tolist() == at.table["power"].tolist()
    assert at.raw["significant"].isna().all()


def _critical(raw, alpha=0.05):
    crit = stats.t.ppf(1 - alpha / 2, raw["df"].to_numpy())
    return raw["estimate"], crit, crit * raw["std_error"].to_numpy()


def test_region_exists_always_for_a_huge_effect_and_rarely_for_none():
    huge = dict(MODERATED, effects={**MODERATED["effects"], "weeks:mode[T.one_to_one]:isolation":
                                    -1.0})
    res = ek.power_curve(**dict(huge, sizes=[40]), test={**BETWEEN, "johnson_neyman": "isolation"})
    assert res.table["power"].tolist() == [1.0]
    null = dict(MODERATED, effects={**MODERATED["effects"], "weeks:mode[T.one_to_one]": 0.0,
                                    "weeks:mode[T.one_to_one]:isolation": 0.0}, nsim=150,
                sizes=[60])
    none = ek.power_curve(**null, test={**BETWEEN, "johnson_neyman": "isolation"})
    mean = ek.power_curve(**null, test=BETWEEN)
    # the region is searched over every isolation value among the mothers, so it turns up by
    # chance more often than the test at the mean (which it includes), but no more often than
    # Scheffé's bound for a line in the moderator: sup over w of t(w)² is at most chi² on 2 df
    rejected_at_mean = np.abs(mean.raw["estimate"]) > _critical(mean.raw)[2]
    assert (none.raw["significant"][rejected_at_mean] == 1).all()
    scheffe = stats.chi2.sf(stats.norm.ppf(0.975) ** 2, 2)
    power = none.table["power"].iloc[0]
    assert mean.table["power"].iloc[0] <= power <= scheffe + 3 * np.sqrt(scheffe * (1 - scheffe)
                                                                         / 150)


def test_region_per_study_is_the_one_johnson_neyman_finds_on_a_fit_of_that_study():
    design = dict(MODERATED, fixed="weeks * isolation",
                  effects={"Intercept": 38, "weeks": 0.0, "isolation": -1,
                           "weeks:isolation": -0.03},
                  allocation=None, dropout=None)
    test = {"johnson_neyman": "isolation", "within": (-1.5, 1.5)}
    # no change at the mean isolation and a modest moderation: some studies find a region
    res = ek.power(**one_size(design, nsim=8), n=60, test=test)
    assert 0 < res.raw["significant"].sum() < 8
    problem = Problem.build(**{k: design[k] for k in ("fixed", "random", "effects", "variance",
                                                      "waves", "covariates")}, test=test)
    tmpl = template(problem.design, design["fixed"], "weeks", 60)
    for sim in range(8):
        s = simulate_data(tmpl, problem.design, problem.truth.beta(tmpl.fixed_names),
                          problem.truth.random_cov(), 4.0, np.random.default_rng(_seed(3, sim)))
        data = tmpl.frame.iloc[s.rows].assign(y=s.y, **s.covariates)
        with warnings.catch_warnings():
            # a singular simulated study is still one the power counts: compare it as well
            warnings.simplefilter("ignore", SingularFitWarning)
            fit = ek.fit_mixed(data, outcome="y", fixed=design["fixed"], random="weeks")
        jn = ek.johnson_neyman(fit, effect="weeks", by="isolation")
        inside = [(-1.5 <= b <= 1.5) for b in jn.bounds["moderator_value"]]
        at_mean = ek.conditional_effects(fit, effect="weeks", by="isolation", at=[0.0]).iloc[0]
        # with the slope's region a ray or an interval, it meets (-1.5, 1.5) when a boundary
        # lies inside or the effect at the centre is significant
        expected = any(inside) or at_mean["p_value"] < 0.05
        assert bool(res.raw["significant"].iloc[sim]) == expected, sim


@pytest.mark.parametrize("test, message", [
    ({"change": (0, 24), "at": {"mode": "one2one"}}, r"'one2one' is not a level"),
    ({"change": (0, 24), "betwen": ("one_to_one", "group")}, r"did you mean 'between'"),
    ({"change": (0, 0)}, r"two different times"),
    ({"change": (0, 24), "between": ("one_to_one", "one_to_one")}, r"two levels"),
    ({"change": (0, 24), "covers": 1}, r"add johnson_neyman="),
    ({"johnson_neyman": "mode"}, r"continuous moderator listed in covariates="),
    ({"johnson_neyman": "isolation", "within": (2, -2)}, r"low must be below high"),
])
def test_worded_tests_are_checked_before_any_simulation(test, message):
    with pytest.raises(SpecificationError, match=message):
        ek.power_curve(**{**MODERATED, "sizes": [20], "nsim": 2}, test=test)


def test_a_region_that_cannot_move_with_the_moderator_is_refused():
    with pytest.raises(SpecificationError, match=r"does not depend on isolation"):
        ek.power_curve(**{**DESIGN, "fixed": "weeks * mode + isolation",
                          "covariates": ["isolation"], "effects": {**EFFECTS, "isolation": 0}},
                       test={**BETWEEN, "johnson_neyman": "isolation"})


def test_detectable_difference_is_refused_for_a_region():
    res = ek.power(**one_size(MODERATED, nsim=3), n=30,
                   test={**BETWEEN, "johnson_neyman": "isolation"})
    with pytest.raises(SpecificationError, match="not defined for a Johnson–Neyman test"):
        res.detectable()
