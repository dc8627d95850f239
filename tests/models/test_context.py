"""The context scan recovers the simulator's true moderators and flags no null context."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import evalkit as ek
from evalkit.errors import SmallGroupWarning
from evalkit.scoring import score_dictionary


def _frame(n: int, seed: int):
    sim = ek.simulate_cohort(n=n, seed=seed)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    rep = ek.validate({"participants": sim.participants, "responses": sim.responses}, dictionary=dd)
    frame = ek.build_cohort(rep, dictionary=dd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = score_dictionary(rep, dictionary=dd).scores
    scores["wave"] = scores["wave"].astype(str)
    frame["wave"] = frame["wave"].astype(str)
    frame = frame.merge(scores[["participant_id", "wave", "wemwbs"]], on=["participant_id", "wave"],
                        how="left")
    # the support period: change is linear to week 12 in the change model (it plateaus after)
    starters = frame.loc[frame["started"].fillna(False).astype(bool)
                         & frame["wave"].isin(["baseline", "mid", "end"])].copy()
    starters["deprived"] = starters["imd_quintile"].astype(str).isin(["1", "2"])
    return sim, starters


@pytest.fixture(scope="module")
def scan():
    sim, data = _frame(1000, 21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ek.errors.SingularFitWarning)
        table = ek.context_scan(data, outcome="wemwbs",
                                by=["delivery_mode", "isolation", "deprived", "first_baby",
                                    "partner", "site"])
    return sim, data, table


def test_true_change_by_delivery_mode_inside_each_ci(scan):
    sim, data, table = scan
    lat = sim.latent.merge(sim.participants[["participant_id", "delivery_mode"]], on="participant_id")
    ids = data["participant_id"].unique()
    truth = lat.loc[lat.participant_id.isin(ids)].groupby("delivery_mode")["true_change_wemwbs"].mean()
    rows = table.loc[table.context == "delivery_mode"].set_index("level")
    for mode in ("one_to_one", "group", "both"):
        r = rows.loc[mode]
        assert r.ci_low <= truth[mode] <= r.ci_high, (
            f"{mode}: true mean 12-week change {truth[mode]:.2f} outside CI [{r.ci_low:.2f}, {r.ci_high:.2f}]")


def test_true_isolation_and_deprivation_moderation_inside_ci(scan):
    sim, data, _ = scan
    fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * isolation + weeks * deprived",
                       subject="participant_id", random="weeks", simplify=True)
    per12 = fit.contrast({"isolation x 12 weeks": {"weeks:isolation": 12},
                          "deprived x 12 weeks": {"weeks:deprived": 12}}).set_index("term")
    iso, dep = per12.loc["isolation x 12 weeks"], per12.loc["deprived x 12 weeks"]
    true_iso = sim.truth.isolation_slope_per_unit["wemwbs"]
    true_dep = sim.truth.deprivation_effect["wemwbs"]
    assert iso.ci_low <= true_iso <= iso.ci_high, f"isolation: truth {true_iso} vs CI [{iso.ci_low:.3f}, {iso.ci_high:.3f}]"
    assert dep.ci_low <= true_dep <= dep.ci_high, f"deprivation: truth {true_dep} vs CI [{dep.ci_low:.3f}, {dep.ci_high:.3f}]"


def test_no_null_context_flagged_after_adjustment(scan):
    _, _, table = scan
    nulls = table.loc[table.context.isin(["first_baby", "partner", "site"])]
    assert (nulls["heterogeneity_p_adjusted"] > 0.05).all(), nulls[["context", "heterogeneity_p_adjusted"]]


def test_table_shape_and_reliable_change_shares(scan):
    _, _, table = scan
    assert set(table.status) == {"estimated"}
    assert table["reliable_improvement"].between(0, 1).all()
    assert table["reliable_deterioration"].between(0, 1).all()
    assert (table.groupby("context")["heterogeneity_p"].nunique() == 1).all()


def test_small_levels_reported_not_merged():
    _, data = _frame(300, 5)
    ids = data["participant_id"].unique()[:3]
    data = data.assign(site=data["site"].astype(object))
    data.loc[data.participant_id.isin(ids), "site"] = "island"
    with pytest.warns(SmallGroupWarning, match=r"site: level\(s\) island have fewer than 10 participants"):
        table = ek.context_scan(data, outcome="wemwbs", by=["site"], simplify=True)
    row = table.set_index("level").loc["island"]
    assert row.status == "too small (n < 10)" and row.n_participants == 3
    assert np.isnan(row.estimate) and np.isnan(row.reliable_improvement)
    assert "3 participant(s) in levels too small" in row.note


def test_forest_plot_returns_axes(scan):
    import matplotlib.pyplot as plt

    _, _, table = scan
    fig, ax = plt.subplots()
    assert ek.forest_plot(table, ax=ax) is ax
    assert len(ax.get_yticklabels()) == len(table)
    plt.close(fig)


def test_contexts_default_to_the_dictionarys_context_roles():
    _, data = _frame(300, 5)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ek.context_scan(data, outcome="wemwbs", dictionary=dd)
    expected = [v.name for v in dd.by_role("context") if v.name in data.columns]
    assert list(dict.fromkeys(table["context"])) == expected
    with pytest.raises(ek.SpecificationError, match="give by=\\[...\\] or a dictionary="):
        ek.context_scan(data, outcome="wemwbs")
