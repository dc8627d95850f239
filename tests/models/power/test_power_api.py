"""ek.power / ek.power_curve: the contract call, the checks on the problem, drop-out, pilot fits,
the fast refit against fit_mixed, failed fits counted (never zero power) and the checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import ConvergenceWarning, SpecificationError
from evalkit.models.power import api as power_api
from evalkit.models.power import backends
from evalkit.models.power.contrast import refit
from evalkit.models.power.design import template, simulate_data
from evalkit.models.power.simulation import Problem

from .designs import BASE, EFFECTS, VARIANCE

DESIGN = dict(BASE, test="weeks:mode[T.one_to_one]")


def test_contract_call_returns_a_tidy_power_table():
    res = ek.power_curve(**DESIGN, sizes=[40, 80, 120], nsim=30, seed=1, progress=False)
    assert isinstance(res, ek.PowerResult) and isinstance(res, ek.Result)
    t = res.table
    for col in ("n", "power", "ci_low", "ci_high", "n_sim", "n_failed", "n_singular",
                "mean_estimate", "bias", "coverage"):
        assert col in t.columns
    assert t["n"].tolist() == [40, 80, 120] and (t["n_sim"] == 30).all()
    assert ((t["ci_low"] <= t["power"]) & (t["power"] <= t["ci_high"])).all()
    assert (t["true_value"] == 0.1).all()
    assert list(res.raw.columns[:3]) == ["n", "sim", "n_observed"] and len(res.raw) == 90
    assert repr(res).startswith("PowerResult: power of the test of weeks:mode[T.one_to_one]")


def test_same_seed_same_table_and_another_seed_differs():
    a = ek.power_curve(**DESIGN, sizes=[40], nsim=20, seed=5, progress=False)
    b = ek.power_curve(**DESIGN, sizes=[40], nsim=20, seed=5, progress=False)
    c = ek.power_curve(**DESIGN, sizes=[40], nsim=20, seed=6, progress=False)
    pd.testing.assert_frame_equal(a.raw, b.raw)
    assert not np.allclose(a.raw["estimate"], c.raw["estimate"])


@pytest.mark.parametrize("change, message", [
    ({"effects": {**EFFECTS, "weeks:mode[T.one2one]": 0.1}},
     r"did you mean 'weeks:mode\[T.one_to_one\]'"),
    ({"effects": {"Intercept": 38, "weeks": 0.3}}, r"no value for 'mode\[T.one_to_one\]'.*give 0"),
    ({"test": "weeks:isolation"}, r"not a term of the model; the terms are 'Intercept'"),
    ({"allocation": {"group": 0.5, "one_to_one": 0.6}}, r"add up to 1"),
    ({"variance": {**VARIANCE, "slope_SD": 1}}, r"unknown key\(s\) \['slope_SD'\]"),
    ({"waves": [0, 12, 6]}, r"increasing"),
    ({"seed": None}, r"seed=None: give a whole number"),
    ({"dropout": [0, 0.3, 0.2, 0.4]}, r"never decrease"),
    ({"dropout": {"group": [0, 0.1, 0.2, 0.3]}}, r"no shares for \['one_to_one'\]"),
])
def test_problems_are_refused_before_any_simulation(change, message):
    with pytest.raises(SpecificationError, match=message):
        ek.power_curve(**{"seed": 1, **DESIGN, **change}, sizes=[40], nsim=5, progress=False)


def test_dropout_by_wave_and_by_group_removes_the_rows_it_says():
    res = ek.power_curve(**DESIGN, dropout={"group": [0, 0.2, 0.4, 0.5],
                                            "one_to_one": [0, 0, 0, 0]},
                         sizes=[200], nsim=20, seed=3, progress=False)
    expected = 100 * (1 + 0.8 + 0.6 + 0.5) + 100 * 4           # group loses, one-to-one keeps all
    observed = res.table["mean_observed"].iloc[0]
    assert abs(observed - expected) < 0.05 * expected
    assert (res.raw["n_mothers"] == 200).all()                   # nobody lost at baseline


def test_fast_refit_equals_fit_mixed_contrast():
    problem = Problem.build(**DESIGN, dropout=[0, 0.1, 0.2, 0.3])
    tmpl = template(problem.design, "weeks * mode", "weeks", 60)
    beta = problem.truth.beta(tmpl.fixed_names)
    s = simulate_data(tmpl, problem.design, beta, problem.truth.random_cov(), 4.0,
                      np.random.default_rng(11))
    X, Z, y, g, m, rows = s.X, s.Z, s.y, s.group, s.m, s.rows
    L = problem.test.vector(tmpl.fixed_names)
    fast = refit(X, Z, y, g, m, L, start=problem.truth.theta(), correlated=True,
                 ddf="satterthwaite")
    data = tmpl.frame.iloc[rows].assign(y=y)
    fit = ek.fit_mixed(data, outcome="y", fixed="weeks * mode", random="weeks")
    row = fit.fixed.set_index("term").loc["weeks:mode[T.one_to_one]"]
    assert fast["estimate"] == pytest.approx(row["estimate"], rel=1e-6)
    assert fast["std_error"] == pytest.approx(row["std_error"], rel=1e-5)
    assert fast["df"] == pytest.approx(row["df"], rel=1e-4)
    kr = refit(X, Z, y, g, m, L, start=None, correlated=True, ddf="kenward-roger",
               frame=tmpl.frame.iloc[rows], formula=("weeks * mode", "weeks"))
    row_kr = fit.contrast({"d": {"weeks:mode[T.one_to_one]": 1}}, ddf="kenward-roger").iloc[0]
    assert kr["estimate"] == pytest.approx(row_kr["estimate"])
    assert kr["df"] == pytest.approx(row_kr["df"])


def test_kenward_roger_refits_give_the_same_estimates_and_their_own_df():
    sat = ek.power(**DESIGN, n=30, nsim=3, seed=4, progress=False)
    kr = ek.power(**DESIGN, n=30, nsim=3, seed=4, ddf="kenward-roger", progress=False)
    np.testing.assert_allclose(kr.raw["estimate"], sat.raw["estimate"], rtol=1e-6)
    assert not np.allclose(kr.raw["df"], sat.raw["df"])
    # the small-sample adjustment widens
    assert (kr.raw["std_error"] >= sat.raw["std_error"] - 1e-12).all()


def test_from_fit_takes_the_pilot_and_edits_it():
    rng = np.random.default_rng(4)
    ids = np.repeat(np.arange(80), 4)
    weeks = np.tile([0.0, 6.0, 12.0, 24.0], 80)
    mode = np.where(ids % 2, "one_to_one", "group")
    y = 40 + rng.normal(0, 5, 80)[ids] + (0.3 + rng.normal(0, 0.2, 80)[ids]) * weeks \
        + rng.normal(0, 3, 320)
    pilot = ek.fit_mixed(pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
                                       "y": y}),
                         outcome="y", fixed="weeks * mode", random="weeks")
    res = ek.power(n=60, from_fit=pilot, effects={"weeks:mode[T.one_to_one]": 0.25},
                   waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
                   test="weeks:mode[T.one_to_one]", nsim=10, progress=False)
    truth = res.problem["truth"]
    assert truth["effects"]["weeks:mode[T.one_to_one]"] == 0.25
    assert truth["effects"]["weeks"] == pytest.approx(pilot.fixed["estimate"].iloc[1])
    assert truth["variance"]["residual_sd"] == pytest.approx(pilot.sigma)
    assert res.true_value == 0.25


def test_failed_fits_are_counted_and_left_out_never_zero_power(monkeypatch):
    from evalkit.models import reml

    real = reml.fit_theta
    calls = {"k": 0}

    def flaky(*args, **kwargs):
        calls["k"] += 1
        if calls["k"] % 3 == 0:
            raise np.linalg.LinAlgError("Matrix is singular")
        return real(*args, **kwargs)

    monkeypatch.setattr(reml, "fit_theta", flaky)
    with pytest.warns(ConvergenceWarning, match=r"4 of 12 simulated fits failed.*n_failed"):
        res = ek.power_curve(**{**DESIGN, "effects": {**EFFECTS, "weeks:mode[T.one_to_one]": 1.0}},
                             sizes=[40], nsim=12, progress=False)
    row = res.table.iloc[0]
    assert row["n_failed"] == 4 and row["n_sim"] == 12
    assert row["power"] == 1.0                     # 8 of 8 usable fits; failures are not "misses"
    assert res.raw["message"].str.contains("LinAlgError").sum() == 4


def test_checkpoint_resumes_a_stopped_run(tmp_path, monkeypatch):
    path = tmp_path / "power.parquet"
    whole = ek.power_curve(**DESIGN, sizes=[30, 50], nsim=8, seed=2, progress=False)
    monkeypatch.setattr(power_api, "BLOCK", 3)
    real = backends.run_block
    ran = []

    def counted(problem, n, sims, seed):
        ran.append((n, list(sims)))
        if len(ran) == 3 and stop["on"]:
            raise KeyboardInterrupt           # the user stops the run during the third block
        return real(problem, n, sims, seed)

    stop = {"on": True}
    monkeypatch.setattr(backends, "run_block", counted)
    with pytest.raises(KeyboardInterrupt):
        ek.power_curve(**DESIGN, sizes=[30, 50], nsim=8, seed=2, progress=False, checkpoint=path)
    assert len(pd.read_parquet(path)) == 6                      # two blocks of 3 were saved
    stop["on"], ran[:] = False, []
    resumed = ek.power_curve(**DESIGN, sizes=[30, 50], nsim=8, seed=2, progress=False,
                             checkpoint=path)
    assert sum(len(s) for _, s in ran) == 16 - 6                 # only the studies not done
    pd.testing.assert_frame_equal(resumed.raw, whole.raw)
    pd.testing.assert_frame_equal(resumed.table, whole.table)
    with pytest.raises(SpecificationError, match="another power problem"):
        ek.power_curve(**DESIGN, sizes=[30], nsim=8, seed=3, progress=False, checkpoint=path)


def test_detectable_difference_matches_a_rerun_at_that_difference():
    res = ek.power_curve(**DESIGN, sizes=[80], nsim=60, seed=9, progress=False)
    d80 = res.detectable(power=[0.8]).iloc[0]["difference"]
    assert 0.1 < d80 < 0.4
    again = ek.power_curve(**{**DESIGN, "effects": {**EFFECTS, "weeks:mode[T.one_to_one]": d80}},
                           sizes=[80], nsim=60, seed=9, progress=False)
    # same seeds, only the fixed effect moved: the shift argument is exact, so power is >= 80 %
    assert again.table["power"].iloc[0] >= 0.8
    np.testing.assert_allclose(again.raw["std_error"], res.raw["std_error"], rtol=1e-4)


def test_plot_draws_the_curve_and_the_target():
    from matplotlib.figure import Figure

    res = ek.power_curve(**DESIGN, sizes=[40, 80], nsim=10, progress=False)
    ax = res.plot(Figure().subplots(), target=0.9)
    assert any(abs(line.get_ydata()[0] - 0.9) < 1e-12 for line in ax.get_lines())


def test_a_continuous_moderator_of_change():
    # isolation (per SD) slows change by 0.1 points a week: the interaction with a continuous
    # moderator, estimated without bias and refitted exactly as fit_mixed would
    design = dict(fixed="weeks * mode + weeks * isolation", random="weeks",
                  covariates=["isolation"],
                  effects={**EFFECTS, "isolation": -1.0, "weeks:isolation": -0.1},
                  variance=VARIANCE, waves=[0, 6, 12, 24],
                  allocation={"group": 0.5, "one_to_one": 0.5}, test="weeks:isolation")
    res = ek.power_curve(**design, sizes=[100], nsim=40, seed=8, progress=False)
    row = res.table.iloc[0]
    assert row["true_value"] == -0.1 and row["power"] > 0.9
    assert abs(row["bias"]) < 4 * row["empirical_se"] / np.sqrt(40)
    problem = Problem.build(**{k: v for k, v in design.items()})
    tmpl = template(problem.design, design["fixed"], "weeks", 40)
    s = simulate_data(tmpl, problem.design, problem.truth.beta(tmpl.fixed_names),
                      problem.truth.random_cov(), 4.0, np.random.default_rng(2))
    data = tmpl.frame.iloc[s.rows].assign(y=s.y, **s.covariates)
    fit = ek.fit_mixed(data, outcome="y", fixed=design["fixed"], random="weeks")
    np.testing.assert_allclose(fit.design.X, s.X)
    L = problem.test.vector(tmpl.fixed_names)
    fast = refit(s.X, s.Z, s.y, s.group, s.m, L, start=None, correlated=True, ddf="satterthwaite")
    assert fast["estimate"] == pytest.approx(
        fit.fixed.set_index("term").loc["weeks:isolation", "estimate"], rel=1e-6)


def test_covariates_must_enter_linearly():
    with pytest.raises(SpecificationError, match="other than linearly"):
        ek.power_curve(fixed="weeks * mode + I(isolation ** 2)", random="weeks",
                       covariates=["isolation"],
                       effects={**EFFECTS, "I(isolation ** 2)": 0.5}, variance=VARIANCE,
                       waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
                       test="weeks:mode[T.one_to_one]", sizes=[20], nsim=2, progress=False)


def test_dropout_by_context_loses_more_of_the_mothers_it_says():
    design = dict(DESIGN, fixed="weeks * mode + isolation", covariates=["isolation"],
                  effects={**EFFECTS, "isolation": -1.0}, dropout=[0, 0.2, 0.3, 0.4],
                  dropout_odds={"isolation": 3.0})
    problem = Problem.build(**design)
    tmpl = template(problem.design, design["fixed"], "weeks", 400)
    s = simulate_data(tmpl, problem.design, problem.truth.beta(tmpl.fixed_names),
                      problem.truth.random_cov(), 4.0, np.random.default_rng(5))
    rows = pd.DataFrame({"mother": tmpl.group[s.rows], "isolation": s.covariates["isolation"]})
    per = rows.groupby("mother").agg(waves=("mother", "size"), isolation=("isolation", "first"))
    assert per.loc[per["isolation"] > 1, "waves"].mean() < \
        per.loc[per["isolation"] < -1, "waves"].mean() - 0.8
    assert len(per) == 400                                  # nobody lost at baseline
    with pytest.raises(SpecificationError, match=r"dropout_odds for \['isolated'\]"):
        Problem.build(**{**design, "dropout_odds": {"isolated": 2.0}})
