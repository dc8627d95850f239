"""evalkit.models.survival against R's survival package (fixtures frozen by
tests/reference/survival_reference.R on tests/reference/data/engagement.csv).

Tolerances: Cox coefficients 1e-4, standard errors 1e-3, KM survival at fixed times 1e-6, log-rank
chi-square 1e-3, cox.zph per-term and global p-values within 0.01.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import DataQualityWarning, SpecificationError, UnknownNameError
from evalkit.models.survival import (COX_COLUMNS, KM_COLUMNS, MEDIAN_COLUMNS, CoxResult, KMResult,
                                     check_proportional_hazards, fit_cox, kaplan_meier,
                                     logrank_test)

REF = Path(__file__).parents[1] / "reference"
FIX = json.loads((REF / "survival_fixtures.json").read_text())
MODES = ["one_to_one", "group", "both"]
COVS = ["delivery_mode", "imd_quintile", "age", "isolation"]
R_TERMS = {"delivery_modegroup": "delivery_mode[T.group]", "delivery_modeboth": "delivery_mode[T.both]"}
KW = dict(duration="duration", event="event")


def _load() -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / "engagement.csv")
    d["delivery_mode"] = pd.Categorical(d["delivery_mode"], categories=MODES)
    return d


def _nan(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _load()


# ------------------------------------------------------------------ Kaplan-Meier
def test_km_at_fixed_times_matches_survfit(data):
    ref = FIX["km"]["at_times"]
    km = kaplan_meier(data, **KW, by="delivery_mode")
    got = km.survival_at([4, 8, 12]).dropna(subset=["survival"]).reset_index(drop=True)
    assert got["group"].tolist() == ref["group"]
    np.testing.assert_allclose(got["time"], ref["time"])
    np.testing.assert_array_equal(got["at_risk"], ref["at_risk"])
    for col in ("survival", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col], ref[col], atol=1e-6, rtol=0)


def test_km_past_last_time_is_nan(data):
    got = kaplan_meier(data, **KW, by="delivery_mode").survival_at(12, level="group")
    assert np.isnan(got["survival"].iat[0])


def test_km_full_table_matches_survfit(data):
    ref = FIX["km"]["table"]
    km = kaplan_meier(data, **KW, by="delivery_mode")
    assert list(km.table.columns) == KM_COLUMNS
    assert km.table["group"].tolist() == ref["group"]
    for col in ("time", "at_risk", "events", "censored"):
        np.testing.assert_array_equal(km.table[col].to_numpy(float), ref[col])
    for col in ("survival", "ci_low", "ci_high"):
        np.testing.assert_allclose(km.table[col], _nan(ref[col]), atol=1e-6, rtol=0)


def test_km_medians_match_survfit(data):
    ref = FIX["km"]["median"]
    med = kaplan_meier(data, **KW, by="delivery_mode").median
    assert list(med.columns) == MEDIAN_COLUMNS
    assert med["group"].tolist() == ref["group"]
    for col in ("median", "ci_low", "ci_high"):
        np.testing.assert_allclose(med[col], _nan(ref[col]), atol=1e-9)
    overall = FIX["km"]["overall"]
    km1 = kaplan_meier(data, **KW)
    np.testing.assert_allclose(km1.survival_at([4, 8, 12])["survival"], overall["survival"], atol=1e-6)
    assert np.isnan(km1.median["median"].iat[0]) and overall["median"] is None


def test_km_median_reached():
    d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12], "e": [1, 1, 0, 1, 0, 1, 0, 0]})
    med = kaplan_meier(d, duration="w", event="e").median
    assert med["median"].iat[0] == 8.0


def test_risk_table_suppression(data):
    km = kaplan_meier(data, **KW, by="delivery_mode")
    plain = km.risk_table([0, 4, 16])
    assert not plain["suppressed"].any()
    assert plain.loc[plain["time"] == 0, "at_risk"].tolist() == [159, 79, 44]
    sup = km.risk_table([0, 4, 16], suppress_below=10)
    counts = plain[["at_risk", "events", "censored"]]
    hidden = (counts > 0) & (counts < 10)
    assert sup[["at_risk", "events", "censored"]].isna().equals(hidden)
    assert sup["suppressed"].equals(hidden.any(axis=1))
    with pytest.raises(SpecificationError, match="suppress_below"):
        km.risk_table([4], suppress_below=0)


def test_km_plot_returns_axes(data):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    ax = kaplan_meier(data, **KW, by="delivery_mode").plot()
    assert ax.get_ylabel() == "survival probability"
    plt.close(ax.figure)


# ------------------------------------------------------------------ log-rank
@pytest.mark.parametrize("key,strata", [("logrank", None), ("logrank_stratified", "site")])
def test_logrank_matches_survdiff(data, key, strata):
    ref = FIX[key]
    res = logrank_test(data, **KW, by="delivery_mode", strata=strata)
    assert res.statistic == pytest.approx(ref["statistic"], abs=1e-3)
    assert res.df == ref["df"]
    assert res.p_value == pytest.approx(ref["p_value"], abs=1e-4)
    assert res.table["group"].tolist() == ref["group"]
    np.testing.assert_allclose(res.table["observed"], ref["observed"])
    np.testing.assert_allclose(res.table["expected"], ref["expected"], atol=1e-6)


# ------------------------------------------------------------------ Cox and cox.zph
@pytest.mark.parametrize("key,strata", [("cox", None), ("cox_strata", "site")])
def test_cox_matches_coxph(data, key, strata):
    ref = FIX[key]
    fit = fit_cox(data, **KW, covariates=COVS, strata=strata)
    assert isinstance(fit, CoxResult)
    assert list(fit.table.columns) == COX_COLUMNS
    assert fit.table["term"].tolist() == [R_TERMS.get(t, t) for t in ref["term"]]
    s = fit.table
    np.testing.assert_allclose(s["estimate"], ref["estimate"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(s["std_error"], ref["std_error"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(s["p_value"], ref["p_value"], atol=1e-4)
    np.testing.assert_allclose(s["ci_low"], ref["ci_low"], atol=1e-3)
    np.testing.assert_allclose(s["hazard_ratio"], np.exp(ref["estimate"]), rtol=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert (fit.n, fit.n_events) == (ref["n"], ref["nevent"])


@pytest.mark.parametrize("key,strata", [("cox", None), ("cox_strata", "site")])
def test_cox_zph_matches_r(data, key, strata):
    ref = FIX[key]["zph"]
    ph = check_proportional_hazards(fit_cox(data, **KW, covariates=COVS, strata=strata))
    assert ph.table["term"].tolist() == ref["term"]
    np.testing.assert_array_equal(ph.table["df"], ref["df"])
    np.testing.assert_allclose(ph.table["p_value"], ref["p_value"], atol=0.01)
    np.testing.assert_allclose(ph.table["chisq"], ref["chisq"], rtol=1e-4)
    assert ph.global_df == ref["global_df"]
    assert ph.global_p == pytest.approx(ref["global_p"], abs=0.01)
    assert ph.global_chisq == pytest.approx(ref["global_chisq"], rel=1e-4)


# ------------------------------------------------------------------ row order
def _everything(d: pd.DataFrame) -> dict:
    km = kaplan_meier(d, **KW, by="delivery_mode")
    out = {"km": km.table, "median": km.median, "at": km.survival_at([4, 8, 12]),
           "risk": km.risk_table([4, 8], suppress_below=5)}
    for strata in (None, "site"):
        lr = logrank_test(d, **KW, by="delivery_mode", strata=strata)
        out[f"lr{strata}"] = pd.DataFrame({"s": [lr.statistic, lr.p_value]})
        out[f"lrt{strata}"] = lr.table
        fit = fit_cox(d, **KW, covariates=COVS, strata=strata)
        ph = check_proportional_hazards(fit)
        out[f"cox{strata}"] = fit.table
        out[f"zph{strata}"] = ph.table
        out[f"g{strata}"] = pd.DataFrame({"g": [ph.global_chisq, ph.global_p, fit.loglik]})
    return out


def test_shuffling_rows_changes_nothing(data):
    base = _everything(data)
    for seed in (1, 2):
        shuffled = data.sample(frac=1, random_state=seed).reset_index(drop=True)
        again = _everything(shuffled)
        for k, v in base.items():
            pd.testing.assert_frame_equal(v.reset_index(drop=True), again[k].reset_index(drop=True),
                                          check_exact=True, obj=k)


# ------------------------------------------------------------------ errors and warnings
def test_collinear_covariates_named(data):
    d = data.assign(age2=2 * data["age"] + 1)
    with pytest.raises(SpecificationError, match=r"covariates \['age', 'age2'\] are collinear"):
        fit_cox(d, **KW, covariates=["age", "isolation", "age2"])


def test_constant_covariate_named(data):
    d = data.assign(const=1.0, one_mode="group")
    with pytest.raises(SpecificationError, match=r"\['const'\] are constant"):
        fit_cox(d, **KW, covariates=["age", "const"])
    with pytest.raises(SpecificationError, match="'one_mode' is constant"):
        fit_cox(d, **KW, covariates=["age", "one_mode"])


def test_missing_rows_excluded_with_warning(data):
    d = data.copy()
    d.loc[[0, 5, 9], "age"] = np.nan
    with pytest.warns(DataQualityWarning, match="excluded 3 of 282 rows"):
        fit = fit_cox(d, **KW, covariates=COVS)
    assert (fit.n, fit.n_excluded) == (279, 3)
    with pytest.warns(DataQualityWarning, match="excluded 3 of 282"):
        km = kaplan_meier(d[["duration", "event", "age"]].assign(duration=d["duration"].where(d["age"].notna())), **KW)
    assert km.n_excluded == 3


def test_bad_inputs(data):
    with pytest.raises(UnknownNameError, match="'nope'"):
        kaplan_meier(data, duration="nope", event="event")
    with pytest.raises(SpecificationError, match="event column 'age' must be 0/1"):
        kaplan_meier(data, duration="duration", event="age")
    with pytest.raises(SpecificationError, match="duration column"):
        kaplan_meier(data.assign(duration=-data["duration"]), **KW)
    with pytest.raises(SpecificationError, match="confidence"):
        kaplan_meier(data, **KW, confidence=95)
    with pytest.raises(SpecificationError, match="two or more groups"):
        logrank_test(data.assign(one="x"), **KW, by="one")
    with pytest.raises(SpecificationError, match="needs the result of fit_cox"):
        check_proportional_hazards("fit")
    with pytest.raises(SpecificationError, match="no events"):
        fit_cox(data.assign(event=0), **KW, covariates=["age"])
    with pytest.raises(UnknownNameError, match="'bogus' is not a group"):
        kaplan_meier(data, **KW, by="delivery_mode").survival_at(4, level="bogus")


def test_result_is_frozen(data):
    km = kaplan_meier(data, **KW)
    assert isinstance(km, KMResult)
    with pytest.raises(AttributeError):
        km.by = "x"
