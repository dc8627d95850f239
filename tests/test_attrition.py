"""Attrition: missingness patterns, completers vs non-completers, the logistic model, the flow."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.attrition import (COMPARE_COLUMNS, FLOW_COLUMNS, MODEL_COLUMNS, attrition_model,
                               compare_completers, missingness_patterns, participant_flow,
                               plot_missingness)
from evalkit.errors import (ConvergenceWarning, DataQualityWarning, SpecificationError,
                            UnknownNameError)

from .conftest import _participant, _response

matplotlib.use("Agg")

WAVES = pd.CategoricalDtype(["baseline", "mid", "end", "follow_up"], ordered=True)


def five_people() -> pd.DataFrame:
    """Five mothers; P4 has no mid row at all; rows deliberately out of order.

    Patterns by hand (baseline, mid, end, follow_up):
    P1 XXXX, P2 X.X., P3 X..., P4 X.X. (no mid row), P5 XX.. -> X.X. twice, the rest once.
    """
    rows = [
        ("P3", "end", None), ("P1", "baseline", 40.0), ("P1", "mid", 42.0), ("P1", "end", 45.0),
        ("P1", "follow_up", 47.0), ("P2", "baseline", 35.0), ("P2", "mid", None),
        ("P2", "end", 39.0), ("P2", "follow_up", None), ("P3", "baseline", 30.0), ("P3", "mid", None),
        ("P3", "follow_up", None), ("P4", "baseline", 44.0), ("P4", "end", 46.0),
        ("P4", "follow_up", None), ("P5", "baseline", 38.0), ("P5", "mid", 41.0),
        ("P5", "end", None), ("P5", "follow_up", None),
    ]
    d = pd.DataFrame(rows, columns=["participant_id", "wave", "wemwbs"])
    d["wave"] = d["wave"].astype(WAVES)
    d["started"] = d["participant_id"].map({"P1": True, "P2": True, "P3": False, "P4": True,
                                            "P5": True})
    d["observed"] = d["wemwbs"].notna()
    return d


# ====================================================================== missingness patterns
def test_patterns_hand_counted_five_people():
    t = missingness_patterns(five_people(), outcome="wemwbs")
    assert list(t.columns) == ["pattern", "baseline", "mid", "end", "follow_up", "n_participants",
                               "percent"]
    # n descending, then pattern ("." sorts before "X")
    assert t["pattern"].tolist() == ["X.X.", "X...", "XX..", "XXXX"]
    assert t["n_participants"].tolist() == [2, 1, 1, 1]
    assert t["percent"].tolist() == pytest.approx([40.0, 20.0, 20.0, 20.0])
    assert t.loc[0, ["baseline", "mid", "end", "follow_up"]].tolist() == [True, False, True, False]
    assert t.loc[2, ["baseline", "mid", "end", "follow_up"]].tolist() == [True, True, False, False]
    assert t["n_participants"].sum() == 5


def test_patterns_follow_category_order_not_row_order():
    d = five_people()
    # categories in time order but rows shuffled: same table
    shuffled = d.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(missingness_patterns(shuffled, outcome="wemwbs"),
                                  missingness_patterns(d, outcome="wemwbs"))
    # plain strings: order of first appearance (here end comes first)
    plain = d.assign(wave=d["wave"].astype(str))
    t = missingness_patterns(plain, outcome="wemwbs")
    assert list(t.columns[1:5]) == ["end", "baseline", "mid", "follow_up"]
    # (end, baseline, mid, follow_up): P1 XXXX, P2 XX.., P3 .X.., P4 XX.., P5 .XX.
    assert dict(zip(t["pattern"], t["n_participants"])) == {"XX..": 2, ".X..": 1, ".XX.": 1,
                                                           "XXXX": 1}


def test_patterns_errors_name_the_problem():
    d = five_people()
    with pytest.raises(UnknownNameError, match="epds"):
        missingness_patterns(d, outcome="epds")
    dup = pd.concat([d, d.iloc[[1]]])
    with pytest.raises(SpecificationError, match="duplicate participant_id × wave.*'P1' at 'baseline'"):
        missingness_patterns(dup, outcome="wemwbs")
    no_id = d.copy()
    no_id.loc[0, "participant_id"] = None
    with pytest.raises(SpecificationError, match="1 row\\(s\\) have no 'participant_id'"):
        missingness_patterns(no_id, outcome="wemwbs")


def test_plot_missingness_grid_and_labels():
    import matplotlib.pyplot as plt

    t = missingness_patterns(five_people(), outcome="wemwbs")
    fig, ax = plt.subplots()
    out = plot_missingness(t, ax=ax)
    assert out is ax
    assert [x.get_text() for x in ax.get_xticklabels()] == ["baseline", "mid", "end", "follow_up"]
    assert [y.get_text() for y in ax.get_yticklabels()] == t["pattern"].tolist()
    image = ax.get_images()[0].get_array()
    np.testing.assert_array_equal(np.asarray(image), t[["baseline", "mid", "end",
                                                        "follow_up"]].to_numpy(float))
    labels = [x.get_text() for x in ax.texts]
    assert labels == ["n = 2 (40%)", "n = 1 (20%)", "n = 1 (20%)", "n = 1 (20%)"]
    plt.close(fig)
    with pytest.raises(SpecificationError, match="missingness_patterns"):
        plot_missingness(pd.DataFrame({"a": [1]}))


# ====================================================================== completers vs non-completers
def completers_frame() -> pd.DataFrame:
    """Seven mothers at baseline and end.

    Completers (end score present): A, B, C. Non-completers: D, E, F, G (G has no baseline score).
    epds at baseline: completers 10, 12, 14 (mean 12, var 4); non-completers 15, 19, 17 (mean 17,
    var 4); SMD = (12 - 17) / sqrt((4 + 4) / 2) = -2.5.
    mode: completers one_to_one, one_to_one, group; non-completers group, group, both, (G missing).
    one_to_one: 2/3 vs 0 -> (2/3) / sqrt((2/9 + 0) / 2) = 2.0;
    group: 1/3 vs 2/3 -> (-1/3) / sqrt((2/9 + 2/9) / 2) = -1/sqrt(2);
    both: 0 vs 1/3 -> (-1/3) / sqrt((0 + 2/9) / 2) = -1.0.
    """
    people = {"A": (10, 9, "one_to_one", 4.0), "B": (12, 10, "one_to_one", 6.0),
              "C": (14, 11, "group", 5.0), "D": (15, None, "group", 7.0),
              "E": (19, None, "group", 8.0), "F": (17, None, "both", 9.0),
              "G": (None, None, None, 3.0)}
    rows = []
    for pid, (b, e, mode, iso) in people.items():
        rows.append({"participant_id": pid, "wave": "baseline", "epds": b, "mode": mode, "iso": iso})
        rows.append({"participant_id": pid, "wave": "end", "epds": e, "mode": mode, "iso": iso})
    d = pd.DataFrame(rows)
    d["wave"] = d["wave"].astype(pd.CategoricalDtype(["baseline", "end"], ordered=True))
    d["mode"] = d["mode"].astype(pd.CategoricalDtype(["one_to_one", "group", "both"]))
    return d


def test_compare_completers_hand_computed():
    t = compare_completers(completers_frame(), outcome="epds", covariates=["epds", "mode", "iso"])
    assert list(t.columns) == COMPARE_COLUMNS
    num = t.iloc[0]
    assert (num["variable"], num["level"], num["kind"]) == ("epds", None, "numeric")
    assert (num["n_completers"], num["n_non_completers"], num["n_missing"]) == (3, 3, 1)
    assert (num["completers"], num["non_completers"]) == (12.0, 17.0)
    assert (num["sd_completers"], num["sd_non_completers"]) == (2.0, 2.0)
    assert num["std_difference"] == pytest.approx(-2.5)

    cat = t[t["variable"] == "mode"]
    assert cat["level"].tolist() == ["one_to_one", "group", "both"]     # category order
    assert (cat["kind"] == "categorical").all()
    assert cat["completers"].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert cat["non_completers"].tolist() == pytest.approx([0.0, 2 / 3, 1 / 3])
    assert cat["std_difference"].tolist() == pytest.approx([2.0, -1 / math.sqrt(2), -1.0])
    assert cat["sd_completers"].isna().all()
    assert (cat["n_completers"] == 3).all() and (cat["n_non_completers"] == 3).all()
    assert (cat["n_missing"] == 1).all()

    # participant-level numeric (constant across waves): completers 4, 6, 5; others 7, 9, 8, 3
    iso = t[t["variable"] == "iso"].iloc[0]
    assert (iso["n_completers"], iso["n_non_completers"], iso["n_missing"]) == (3, 4, 0)
    v1, v0 = np.var([4, 6, 5], ddof=1), np.var([7, 9, 8, 3], ddof=1)
    assert iso["std_difference"] == pytest.approx((5.0 - 6.75) / math.sqrt((v1 + v0) / 2))


def test_compare_completers_booleans_and_row_order():
    d = completers_frame()
    d["partner"] = d["participant_id"].map({"A": True, "B": True, "C": False, "D": False,
                                            "E": False, "F": True, "G": pd.NA}).astype("boolean")
    t = compare_completers(d.sample(frac=1.0, random_state=1), outcome="epds", covariates="partner")
    assert t["level"].tolist() == [False, True]
    # True: 2/3 vs 1/3 -> (1/3) / sqrt((2/9 + 2/9) / 2)
    assert t["std_difference"].tolist() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert t["n_missing"].tolist() == [1, 1]
    pd.testing.assert_frame_equal(t, compare_completers(d, outcome="epds", covariates="partner"))


def test_compare_completers_warns_when_nobody_dropped_out():
    d = completers_frame()
    d = d[d["participant_id"].isin(["A", "B", "C"])]
    with pytest.warns(DataQualityWarning, match="all of the 3 participants"):
        t = compare_completers(d, outcome="epds", covariates="iso")
    assert np.isnan(t["std_difference"].iloc[0])


def test_compare_completers_errors():
    d = completers_frame()
    with pytest.raises(UnknownNameError, match="end wave 'week12'.*'baseline', 'end'"):
        compare_completers(d, outcome="epds", covariates="iso", end_wave="week12")
    with pytest.raises(UnknownNameError, match="imd"):
        compare_completers(d, outcome="epds", covariates=["imd"])
    with pytest.raises(SpecificationError, match="more than once"):
        compare_completers(d, outcome="epds", covariates=["iso", "iso"])


# ====================================================================== logistic model
# Hand-built data; reference values from R 4.2.2 (tests/reference/attrition_glm_reference.R):
#   glm(end ~ epds + mode + dep, family = binomial, control = glm.control(epsilon = 1e-14,
#       maxit = 100)), mode levels one_to_one, group, both; coef(summary(fit)) and
#   confint.default(fit) (Wald intervals). With R's default epsilon = 1e-8 the standard errors
#   (taken from the weights of the last IRLS step) are off by ~1e-5 relative; at 1e-14 R and
#   evalkit both sit at the maximum-likelihood estimate.
R_EPDS = [23, 17, 18, 22, 16, 20, 21, 9, 6, 11, 10, 22, 23, 5, 14, 21, 7, 20, 7, 14, 21, 11, 11,
          10, 19, 10, 24, 13, 14, 15, 16, 16, 15, 24, 21, 20, 19, 17, 11, 24]
R_MODE = ["group", "one_to_one", "both", "one_to_one", "both", "group", "one_to_one", "one_to_one",
          "group", "one_to_one", "one_to_one", "group", "both", "group", "both", "both", "both",
          "group", "group", "group", "one_to_one", "group", "group", "one_to_one", "both",
          "one_to_one", "one_to_one", "one_to_one", "both", "both", "both", "one_to_one", "both",
          "group", "group", "one_to_one", "group", "both", "group", "one_to_one"]
R_DEP = [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1,
         0, 1, 0, 0, 1, 0, 0, 0, 0, 1]
R_END = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1,
         1, 0, 1, 0, 1, 0, 0, 1, 1, 0]
R_TABLE = {  # term: (estimate, std_error, z, p, ci_low, ci_high)
    "Intercept": (7.571702615, 2.602426457, 2.909478036, 0.003620328249, 2.471040487, 12.67236474),
    "epds": (-0.4707357252, 0.1506202365, -3.125315271, 0.001776145878, -0.7659459641,
             -0.1755254863),
    "mode[T.group]": (1.422126085, 1.329654267, 1.069545761, 0.2848238202, -1.18394839,
                      4.02820056),
    "mode[T.both]": (1.049381022, 1.167358461, 0.8989364082, 0.3686865337, -1.238599519,
                     3.337361563),
    "dep": (0.2140216086, 0.9578639397, 0.2234363355, 0.8231959274, -1.663357215,
                    2.091400433),
}


def r_frame() -> pd.DataFrame:
    """Long frame: baseline epds is the predictor; the end score is present where R_END is 1.

    The end epds is baseline - 3 (so epds varies by wave and must be taken at baseline).
    """
    n = len(R_EPDS)
    ids = [f"M{i:02d}" for i in range(n)]
    base = pd.DataFrame({"participant_id": ids, "wave": "baseline", "epds": np.array(R_EPDS, float)})
    end = pd.DataFrame({"participant_id": ids, "wave": "end",
                        "epds": np.where(np.array(R_END) == 1, np.array(R_EPDS) - 3.0, np.nan)})
    d = pd.concat([end, base], ignore_index=True)
    d["wave"] = d["wave"].astype(pd.CategoricalDtype(["baseline", "end"], ordered=True))
    d["mode"] = np.tile(R_MODE, 2)
    d["mode"] = d["mode"].astype(pd.CategoricalDtype(["one_to_one", "group", "both"]))
    d["dep"] = np.tile(np.array(R_DEP) == 1, 2)
    return d


def test_attrition_model_matches_r_glm():
    m = attrition_model(r_frame(), outcome="epds", covariates=["epds", "mode", "dep"])
    assert list(m.table.columns) == MODEL_COLUMNS
    assert m.table["term"].tolist() == list(R_TABLE)
    ref = np.array(list(R_TABLE.values()))
    cols = ["estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
    np.testing.assert_allclose(m.table[cols].to_numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(m.table["odds_ratio"], np.exp(ref[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(m.table["or_ci_low"], np.exp(ref[:, 4]), rtol=1e-6)
    assert (m.n, m.n_events, m.n_excluded) == (40, sum(R_END), 0)
    assert m.warnings == ()


def test_attrition_model_two_by_two_closed_form():
    # 2 x 2 table: deprived 3 of 10 with an end score, not deprived 6 of 8.
    # Closed form: intercept = logit(6/8) = log 3; log OR = log((3/7) / (6/2)) = log(1/7);
    # SE(log OR) = sqrt(1/3 + 1/7 + 1/6 + 1/2).
    dep = [True] * 10 + [False] * 8
    has_end = [1] * 3 + [0] * 7 + [1] * 6 + [0] * 2
    ids = range(len(dep))
    d = pd.DataFrame({"participant_id": [i for i in ids for _ in (0, 1)],
                      "wave": ["baseline", "end"] * len(dep),
                      "wemwbs": [v for h in has_end for v in (40.0, 44.0 if h else np.nan)],
                      "deprived": [x for x in dep for _ in (0, 1)]})
    m = attrition_model(d, outcome="wemwbs", covariates="deprived", confidence=0.9)
    row = m.table.set_index("term").loc["deprived"]
    se = math.sqrt(1 / 3 + 1 / 7 + 1 / 6 + 1 / 2)
    assert row["estimate"] == pytest.approx(math.log(1 / 7), rel=1e-8)
    assert row["std_error"] == pytest.approx(se, rel=1e-6)
    assert row["or_ci_high"] == pytest.approx(math.exp(math.log(1 / 7) + 1.6448536269514722 * se),
                                              rel=1e-6)
    assert m.table.loc[0, "estimate"] == pytest.approx(math.log(3), rel=1e-8)


def test_attrition_model_counts_missing_predictors():
    d = r_frame()
    d["dep"] = d["dep"].astype("boolean")
    d.loc[d["participant_id"].isin(["M00", "M01", "M02"]), "dep"] = pd.NA
    m = attrition_model(d, outcome="epds", covariates=["epds", "dep"])
    assert (m.n, m.n_excluded) == (37, 3)
    assert m.n_events == sum(R_END[3:])
    # missing baseline score (the end score is present) also excludes
    d2 = r_frame()
    d2.loc[(d2["participant_id"] == "M00") & (d2["wave"] == "baseline"), "epds"] = np.nan
    m2 = attrition_model(d2, outcome="epds", covariates="epds")
    assert (m2.n, m2.n_excluded) == (39, 1)


def test_attrition_model_separation_is_recorded_and_warned():
    d = r_frame()
    # every deprived mother has an end score and no other does: perfect separation
    d["dep"] = d["participant_id"].map(dict(zip([f"M{i:02d}" for i in range(40)],
                                                np.array(R_END) == 1)))
    with pytest.warns(ConvergenceWarning, match="separation"):
        m = attrition_model(d, outcome="epds", covariates=["dep"])
    assert any("separation" in w for w in m.warnings)
    assert m.table.set_index("term").loc["dep", "std_error"] > 100


def test_attrition_model_constant_and_collinear_predictors_are_named():
    d = r_frame()
    d["site"] = "north"
    with pytest.raises(SpecificationError, match="\\['site'\\] take a single value"):
        attrition_model(d, outcome="epds", covariates=["epds", "site"])
    d["epds_x2"] = np.tile(np.array(R_EPDS, float) * 2 + 1, 2)
    with pytest.raises(SpecificationError, match="\\['epds', 'epds_x2'\\] are collinear"):
        attrition_model(d, outcome="epds", covariates=["epds", "mode", "epds_x2"])
    d2 = r_frame()
    d2.loc[d2["wave"] == "end", "epds"] = 5.0
    with pytest.raises(SpecificationError, match="all of the 40 participants"):
        attrition_model(d2, outcome="epds", covariates=["mode"])


# ====================================================================== participant flow
def test_participant_flow_hand_counted():
    d = five_people()
    f = participant_flow(d, outcome="wemwbs")
    assert list(f.columns) == FLOW_COLUMNS
    assert f["stage"].tolist() == ["referred", "started support", "measured at baseline",
                                   "measured at mid", "measured at end", "measured at follow_up",
                                   "with baseline and end score"]
    # started: P1, P2, P4, P5; mid: P1, P5; end: P1, P2, P4; follow_up: P1
    assert f["n"].tolist() == [5, 4, 5, 2, 3, 1, 3]
    assert f["percent_of_referred"].tolist() == pytest.approx([100, 80, 100, 40, 60, 20, 60])
    assert f["note"].iloc[2] == "questionnaire returned (observed)"


def test_participant_flow_uses_observed_over_outcome():
    d = five_people()
    # a questionnaire returned at P3's end wave whose score could not be computed
    d.loc[(d["participant_id"] == "P3") & (d["wave"] == "end"), "observed"] = True
    f = participant_flow(d, outcome="wemwbs").set_index("stage")["n"]
    assert f["measured at end"] == 4
    assert f["with baseline and end score"] == 3
    f2 = participant_flow(d.drop(columns="observed"), outcome="wemwbs", started=None)
    assert "started support" not in f2["stage"].tolist()
    assert f2.set_index("stage").loc["measured at end", "note"] == "wemwbs present"
    with pytest.raises(SpecificationError, match="outcome="):
        participant_flow(d.drop(columns="observed"))


def test_participant_flow_with_validation_flow(dd):
    people = pd.DataFrame([_participant("P1"), _participant("P2", "east", "one_to_one"),
                           _participant("P3", "south", "both")])
    people.loc[2, "started"] = "false"
    resp = pd.DataFrame([
        _response("P1", "baseline", "2024-01-02"), _response("P1", "mid", "2024-02-13"),
        _response("P1", "end", "2024-03-26"), _response("P2", "baseline", "2024-01-03"),
        _response("P2", "end", "2024-03-27"), _response("P3", "baseline", "2024-01-04"),
        _response("P9", "baseline", "2024-01-04"),      # not in participants: excluded
    ])
    report = ek.validate({"participants": people, "responses": resp}, dictionary=dd)
    frame = ek.build_cohort(report, dictionary=dd)
    f = participant_flow(frame, outcome="wemwbs_1", validation_flow=report.flow)
    assert f["stage"].tolist()[:5] == ["participants: read", "participants: valid", "responses: read",
                                       "responses: excluded (participant not in participants)",
                                       "responses: valid"]
    assert f["n"].tolist() == [3, 3, 7, 1, 6, 3, 2, 3, 1, 2, 0, 2]
    assert f["percent_of_referred"].iloc[:5].isna().all()
    assert f["note"].iloc[3] == "records, of 1 participant(s)"
    assert f["percent_of_referred"].iloc[5:].tolist() == pytest.approx(
        [100, 200 / 3, 100, 100 / 3, 200 / 3, 0, 200 / 3])
    with pytest.raises(SpecificationError, match="ValidationReport"):
        participant_flow(frame, outcome="wemwbs_1", validation_flow=pd.DataFrame({"x": [1]}))
