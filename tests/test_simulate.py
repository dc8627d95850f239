"""The simulator: determinism, the dictionary contract, structure, marginals against the evidence.

Marginal distributions are checked against ``reference/evidence.md`` §7 on a seeded cohort of 3,000
referred mothers; every assertion message names the evidence value and its section. Truth-recovery
checks on the latent (error-free) quantities use a larger seeded cohort, which takes under a second.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.simulate import MECH_COLUMNS, MODES, SimulationTruth

MISSING = {-9, -8}
LAST_DATE = pd.Timestamp("2025-12-31")


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def dd() -> ek.DataDictionary:
    return ek.DataDictionary.from_yaml(ek.example_dictionary_path())


@pytest.fixture(scope="module")
def cohort() -> ek.SimulatedCohort:
    return ek.simulate_cohort(n=3000, seed=2024)


@pytest.fixture(scope="module")
def trial() -> ek.SimulatedCohort:
    return ek.simulate_cohort(n=3000, seed=2024, missing="trial")


@pytest.fixture(scope="module")
def big() -> ek.SimulatedCohort:
    return ek.simulate_cohort(n=20000, seed=99)


def totals(responses: pd.DataFrame, instrument: str, k: int) -> pd.Series:
    """Item sum, prorated over answered items (items are rarely missing)."""
    items = responses[[f"{instrument}_{i}" for i in range(1, k + 1)]].astype(float)
    return items.where(~items.isin(MISSING)).mean(axis=1) * k


def wide(cohort, instrument="wemwbs", k=14) -> pd.DataFrame:
    r = cohort.responses.assign(total=totals(cohort.responses, instrument, k))
    return r.pivot(index="participant_id", columns="wave", values="total")


def dictionary_problems(frame: pd.DataFrame, ds) -> list[str]:
    """A small local check of values against the dictionary (the real validator is tested apart)."""
    problems = []
    for name, var in ds.variables.items():
        s = frame[name]
        present = s.notna() & ~s.isin(MISSING) if var.type in ("integer", "number") else s.notna()
        if var.required and not s.notna().all():
            problems.append(f"{name}: required but has blanks")
        vals = s[present]
        if var.type in ("integer", "number"):
            x = vals.astype(float)
            if var.type == "integer" and not (x == np.round(x)).all():
                problems.append(f"{name}: non-integer values")
            lo, hi = var.range if var.range else (-np.inf, np.inf)
            if ((x < lo) | (x > hi)).any():
                problems.append(f"{name}: values outside [{lo}, {hi}]: {sorted(set(x[(x < lo) | (x > hi)]))[:5]}")
        elif var.type == "category":
            bad = set(vals.astype(str)) - set(var.levels)
            if bad:
                problems.append(f"{name}: undeclared levels {sorted(bad)}")
        elif var.type == "boolean":
            if s.dtype != bool:
                problems.append(f"{name}: dtype {s.dtype}, expected bool")
        elif var.type == "date":
            if not pd.api.types.is_datetime64_any_dtype(s.dtype):
                problems.append(f"{name}: dtype {s.dtype}, expected datetime64")
            elif ((vals < pd.Timestamp("2023-01-01")) | (vals > LAST_DATE)).any():
                problems.append(f"{name}: dates outside 2023-01-01 … {LAST_DATE.date()}")
        elif var.type == "string":
            if not vals.map(lambda v: isinstance(v, str)).all():
                problems.append(f"{name}: non-text values")
    return problems


# ---------------------------------------------------------------------- determinism and files
def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    a = ek.simulate_cohort(n=150, seed=5).write(tmp_path / "a")
    b = ek.simulate_cohort(n=150, seed=5).write(tmp_path / "b")
    c = ek.simulate_cohort(n=150, seed=6).write(tmp_path / "c")
    assert [p.name for p in a] == ["responses.csv", "participants.csv"]
    for pa, pb, pc in zip(a, b, c):
        assert pa.read_bytes() == pb.read_bytes(), f"{pa.name} differs between two runs with seed 5"
        assert pa.read_bytes() != pc.read_bytes(), f"{pa.name} is the same for seeds 5 and 6"
    assert (tmp_path / "a" / "truth.json").read_bytes() == (tmp_path / "b" / "truth.json").read_bytes()


def test_written_text_format(tmp_path, dd):
    sim = ek.simulate_cohort(n=120, seed=3)
    resp_path, people_path = sim.write(tmp_path / "new" / "folder", truth=False)
    assert not (tmp_path / "new" / "folder" / "truth.json").exists()
    raw = resp_path.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    people = pd.read_csv(people_path, dtype=str, keep_default_na=False)
    resp = pd.read_csv(resp_path, dtype=str, keep_default_na=False)
    assert list(people.columns) == list(dd.dataset("participants").variables)
    assert list(resp.columns) == list(dd.dataset("responses").variables)
    for col in ("born_uk", "first_baby", "partner", "mh_history", "antenatal", "language_matched",
                "started"):
        assert set(people[col]) <= {"true", "false"}, col
    iso_date = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    for col in ("referred_on", "first_session_on", "last_session_on"):
        assert people[col].map(lambda v: v == "" or bool(iso_date.match(v))).all(), col
    assert resp["assessed_on"].map(lambda v: bool(iso_date.match(v))).all()
    assert people["isolation"].str.fullmatch(r"\d{1,2}\.\d").all(), "isolation has one decimal"
    assert set(people["imd_quintile"]) <= {"1", "2", "3", "4", "5"}
    for col in MECH_COLUMNS:  # blank where not asked, an integer (or -9) where asked
        asked = resp["wave"].isin(["mid", "end"])
        assert (resp.loc[~asked, col] == "").all(), col
        assert resp.loc[asked, col].str.fullmatch(r"-9|[0-4]").all(), col
    back = pd.read_csv(resp_path)
    assert (back["wemwbs_1"].to_numpy() == sim.responses["wemwbs_1"].to_numpy()).all()


def test_truth_is_json_ready(cohort):
    d = json.loads(cohort.truth.to_json())
    assert d["change_by_mode"]["wemwbs"]["one_to_one"] == 5.0
    assert d["n"] == 3000 and d["seed"] == 2024 and d["missing"] == "routine"


# ---------------------------------------------------------------------- the dictionary contract
def test_columns_exactly_as_the_dictionary(cohort, dd):
    assert list(cohort.participants.columns) == list(dd.dataset("participants").variables)
    assert list(cohort.responses.columns) == list(dd.dataset("responses").variables)


@pytest.mark.parametrize("setting", ["routine", "trial"])
def test_values_within_declared_ranges_and_levels(cohort, trial, dd, setting):
    sim = cohort if setting == "routine" else trial
    for name, frame in (("participants", sim.participants), ("responses", sim.responses)):
        assert dictionary_problems(frame, dd.dataset(name)) == [], name
    waves = dd.dataset("responses").variables["wave"].levels
    assert set(sim.responses["wave"]) <= set(waves)


def test_wave_dates_inside_the_visit_windows(cohort, trial, dd):
    for sim in (cohort, trial):
        r = sim.responses
        base = r.loc[r.wave == "baseline"].set_index("participant_id")["assessed_on"]
        weeks = (r["assessed_on"] - r["participant_id"].map(base)).dt.days / 7
        for w in dd.waves:
            wk = weeks[r.wave == w.name]
            assert wk.between(*w.window).all(), f"{w.name}: weeks {wk.min():.2f}–{wk.max():.2f} outside {w.window}"
        assert r["assessed_on"].max() < pd.Timestamp("2026-01-01"), "all dates are in the past"


@pytest.mark.parametrize("n", [1, 2, 9])
def test_tiny_cohorts_work(n, dd):
    sim = ek.simulate_cohort(n=n, seed=n)
    assert len(sim.participants) == n
    assert sim.participants["participant_id"].tolist() == [f"P{i:05d}" for i in range(1, n + 1)]
    for name, frame in (("participants", sim.participants), ("responses", sim.responses)):
        assert dictionary_problems(frame, dd.dataset(name)) == []


# ---------------------------------------------------------------------- structure
def test_every_referred_mother_has_a_baseline_row(cohort):
    p, r = cohort.participants, cohort.responses
    assert p["participant_id"].is_unique
    assert p["participant_id"].str.fullmatch(r"P\d{5}").all()
    assert set(r["participant_id"]) == set(p["participant_id"])
    assert not r.duplicated(["participant_id", "wave"]).any()
    base = r.loc[r.wave == "baseline"]
    assert len(base) == len(p)
    lag = (base.set_index("participant_id")["assessed_on"]
           - p.set_index("participant_id")["referred_on"]).dt.days
    assert lag.between(0, 14).all(), "baseline questionnaire within 14 days of referral"
    order = r["wave"].map({"baseline": 0, "mid": 1, "end": 2, "follow_up": 3})
    assert (r.assign(o=order).sort_values(["participant_id", "o"]).index == r.index).all()


def test_non_starters_and_starters_are_consistent(cohort):
    p, r = cohort.participants, cohort.responses
    ns = p.loc[~p.started]
    assert ns[["delivery_mode", "volunteer_id", "first_session_on", "last_session_on"]].isna().all().all()
    assert (ns["sessions_attended"] == 0).all() and (ns["exit_reason"] == "not_started").all()
    only_baseline = r.loc[r.participant_id.isin(ns.participant_id), "wave"].unique().tolist()
    assert only_baseline == ["baseline"], "routine setting: non-starters give only their baseline"
    st = p.loc[p.started]
    assert st[["delivery_mode", "volunteer_id", "first_session_on", "last_session_on"]].notna().all().all()
    assert (st["sessions_attended"] >= 1).all() and (st["exit_reason"] != "not_started").all()
    assert st.loc[st.delivery_mode == "one_to_one", "sessions_attended"].between(1, 14).all()
    assert (st["sessions_attended"] <= 40).all()
    wait = (st["first_session_on"] - st["referred_on"]).dt.days
    assert wait.between(1, 35).all(), "first session within about 4 weeks of referral"
    assert (st["last_session_on"] >= st["first_session_on"]).all()
    assert (st.loc[st.sessions_attended > 1, "last_session_on"]
            > st.loc[st.sessions_attended > 1, "first_session_on"]).all()
    # volunteers are nested in site
    assert (st.groupby("volunteer_id")["site"].nunique() == 1).all()


def test_mechanisms_only_at_mid_and_end_for_starters(cohort, trial):
    for sim in (cohort, trial):
        r = sim.responses.merge(sim.participants[["participant_id", "started"]], on="participant_id")
        asked = r.wave.isin(["mid", "end"]) & r.started
        mech = r[list(MECH_COLUMNS)]
        assert mech[~asked].isna().all().all()
        assert mech[asked].notna().all().all()


def test_trial_setting_follows_up_non_starters(trial):
    p, r = trial.participants, trial.responses
    ns_waves = set(r.loc[r.participant_id.isin(p.participant_id[~p.started]), "wave"])
    assert ns_waves == {"baseline", "end", "follow_up"}
    assert trial.participants.equals(ek.simulate_cohort(n=3000, seed=2024).participants), \
        "the missing-data setting changes who answers, not who was referred"


def test_exit_reasons_follow_the_trajectory(big):
    """MNAR (§7.7): leavers feeling better improved more than completers; the disengaged less."""
    z = big.latent.set_index("participant_id")["trajectory_z"]
    by = z.groupby(big.participants.set_index("participant_id")["exit_reason"]).mean()
    assert by["feeling_better"] > by["completed"] + 0.3
    assert by["disengaged"] < by["completed"] - 0.3
    assert by["referred_on"] < by["completed"] - 0.3
    leavers = big.participants.exit_reason.isin(["feeling_better", "disengaged", "referred_on"])
    share_fb = (big.participants.exit_reason == "feeling_better").sum() / leavers.sum()
    assert 0.3 <= share_fb <= 0.5, f"{share_fb:.0%} of leavers feel better; §7.7: about 40%"


# ---------------------------------------------------------------------- marginals vs evidence.md
def test_takeup_modes_and_context_marginals(cohort):
    p = cohort.participants
    st = p.loc[p.started]
    takeup = p.started.mean()
    assert abs(takeup - 0.70) <= 0.05, f"take-up {takeup:.1%}; §7.1/§7.7: 70% (TU, 182/260)"
    modes = st.delivery_mode.value_counts(normalize=True)
    for mode, target, tol in (("one_to_one", 0.57, 0.04), ("group", 0.28, 0.04), ("both", 0.15, 0.03)):
        assert abs(modes[mode] - target) <= tol, f"{mode} {modes[mode]:.1%} of starters; §7.1: {target:.0%}"
    imd = p.imd_quintile.value_counts(normalize=True)
    for q, target in zip(range(1, 6), (0.35, 0.25, 0.17, 0.13, 0.10)):
        assert abs(imd[q] - target) <= 0.03, f"IMD Q{q} {imd[q]:.1%}; §7.3: {target:.0%}"
    for col, target, tol in (("first_baby", 0.55, 0.03), ("partner", 0.80, 0.03),
                             ("mh_history", 0.50, 0.03), ("antenatal", 0.30, 0.03),
                             ("born_uk", 0.75, 0.03)):
        assert abs(p[col].mean() - target) <= tol, f"{col} {p[col].mean():.1%}; §7.3: {target:.0%}"
    minority = (p.ethnicity != "white_british").mean()
    assert abs(minority - 0.35) <= 0.03, f"ethnic minority {minority:.1%}; §7.3: 35%"
    isolated = (p.isolation >= 5).mean()
    assert abs(isolated - 0.45) <= 0.04, f"isolated (index ≥ 5) {isolated:.1%}; §7.3: 45% (Home-Start 44%)"
    assert abs(p.age.mean() - 30) <= 1, f"mean age {p.age.mean():.1f}; brief: about 30"
    assert p.groupby("site").started.mean().between(0.45, 0.92).all(), "§7.1: take-up 55–85% by site"
    per_vol = st.volunteer_id.value_counts()
    assert 2.0 <= len(st) / len(per_vol) <= 3.0, "§7.1: one volunteer per 2–3 mothers"
    mismatched = ~p.language_matched
    migrant = (p.ethnicity != "white_british") | ~p.born_uk
    assert mismatched[migrant].mean() > 3 * mismatched[~migrant].mean(), \
        "language/culture matching fails more often for minority or non-UK-born mothers"


def test_sessions_by_mode(cohort):
    st = cohort.participants.loc[cohort.participants.started]
    one = st.loc[st.delivery_mode == "one_to_one", "sessions_attended"]
    grp = st.loc[st.delivery_mode == "group", "sessions_attended"]
    assert 7 <= one.mean() <= 9, f"one-to-one sessions mean {one.mean():.1f}; §7.7: 7–9 (Bradford 7)"
    assert 2.5 <= one.std() <= 4.5, f"one-to-one sessions SD {one.std():.1f}; §7.7: about 3.5"
    assert 4 <= grp.mean() <= 6, f"group sessions mean {grp.mean():.1f}; §7.7: 5"


def test_baseline_outcome_distributions(cohort):
    base = cohort.responses.loc[cohort.responses.wave == "baseline"].set_index("participant_id")
    w, e = totals(base, "wemwbs", 14), totals(base, "epds", 10)
    u = totals(base, "ucla3", 3)
    assert abs(w.mean() - 38) <= 1, f"WEMWBS mean {w.mean():.2f}; §7.3: 38"
    assert abs(w.std() - 8.5) <= 1, f"WEMWBS SD {w.std():.2f}; §7.3: 8.5"
    assert abs(e.mean() - 14) <= 0.7, f"EPDS mean {e.mean():.2f}; §7.3: 14 (Kamalifard 14.1)"
    assert abs(e.std() - 4.5) <= 0.8, f"EPDS SD {e.std():.2f}; §7.3: 4.5"
    assert abs(u.mean() - 6.5) <= 0.3, f"UCLA-3 mean {u.mean():.2f}; §7.3: 6.5"
    assert abs(u.std() - 1.8) <= 0.3, f"UCLA-3 SD {u.std():.2f}; §7.3: 1.8"
    r_we = w.corr(e)
    assert -0.7 <= r_we <= -0.5, f"r(WEMWBS, EPDS) = {r_we:.2f}; §7.3: about -0.6"
    iso = cohort.participants.set_index("participant_id")["isolation"]
    r_iso = w.corr(iso)
    assert -0.4 <= r_iso <= -0.2, f"r(isolation, WEMWBS) = {r_iso:.2f}; §7.3: about -0.3"
    imd = cohort.participants.set_index("participant_id")["imd_quintile"]
    gap = e[imd == 1].mean() - e[imd == 5].mean()
    assert 0.0 <= gap <= 2.2, f"EPDS Q1 - Q5 = {gap:.2f}; §7.3: about +1"
    item10 = (base["epds_10"] > 0).mean()
    assert 0.04 <= item10 <= 0.12, f"EPDS item 10 > 0 in {item10:.1%} at baseline; brief: 5–10%"


def test_item_answers_missing_about_one_percent(cohort):
    items = cohort.responses[[c for c in cohort.responses.columns if c.startswith(("wemwbs_", "epds_", "ucla3_"))]]
    share = (items == -9).to_numpy().mean()
    assert 0.005 <= share <= 0.015, f"{share:.2%} of item answers are -9; brief: about 1%"


def test_missing_at_end_and_follow_up(cohort, trial):
    for sim, end, fu, tol, label in ((cohort, 0.40, 0.55, 0.06, "routine"),
                                     (trial, 0.13, 0.14, 0.04, "trial")):
        p, r = sim.participants, sim.responses
        starters = set(p.participant_id[p.started])
        for wave, target in (("end", end), ("follow_up", fu)):
            have = set(r.participant_id[r.wave == wave])
            miss = 1 - len(starters & have) / len(starters)
            assert abs(miss - target) <= tol, \
                f"{label}: {miss:.1%} of starters miss {wave}; §7.7: {target:.0%}"


def test_within_person_correlation(cohort):
    w = wide(cohort)
    both = w[["baseline", "end"]].dropna()
    r = both["baseline"].corr(both["end"])
    assert 0.4 <= r <= 0.7, f"r(WEMWBS baseline, end) = {r:.2f}; §7.4: 0.55 (0.40–0.70)"
    e = wide(cohort, "epds", 10)[["baseline", "end"]].dropna()
    r = e["baseline"].corr(e["end"])
    assert 0.35 <= r <= 0.7, f"r(EPDS baseline, end) = {r:.2f}; §7.4: 0.50 (0.40–0.65)"


def test_completers_change_by_mode(cohort):
    mode = cohort.participants.set_index("participant_id")["delivery_mode"]
    for instrument, k, targets in (("wemwbs", 14, {"one_to_one": 5, "group": 3.5, "both": 6.5}),
                                   ("epds", 10, {"one_to_one": -3.5, "group": -2.5, "both": -4.5})):
        w = wide(cohort, instrument, k)
        change = (w["end"] - w["baseline"]).dropna()
        by = change.groupby(mode.reindex(change.index)).mean()
        tol = 1.5 if instrument == "wemwbs" else 1.0
        for m, target in targets.items():
            assert abs(by[m] - target) <= tol + (0.5 if m == "both" else 0.0), \
                f"completers' {instrument} change, {m}: {by[m]:+.2f}; §7.5: {target:+}"


def test_reliable_deterioration_is_uncommon(cohort):
    w = wide(cohort)
    change = (w["end"] - w["baseline"]).dropna()
    worse = (change <= -8).mean()
    assert worse <= 0.10, f"{worse:.1%} reliably worse on WEMWBS (-8); §7.8: about 5% (3–8%)"


# ---------------------------------------------------------------------- truth
def test_truth_design_values(cohort):
    t = cohort.truth
    assert t.change_by_mode["wemwbs"] == {"not_started": 2.0, "one_to_one": 5.0, "group": 3.5, "both": 6.5}
    assert t.change_by_mode["epds"] == {"not_started": -1.5, "one_to_one": -3.5, "group": -2.5, "both": -4.5}
    assert t.isolation_slope_per_sd == {"wemwbs": 0.85, "epds": -0.45}
    assert t.isolation_slope_per_unit["wemwbs"] == pytest.approx(0.85 / t.isolation_scale["sd"])
    assert t.deprivation_effect == {"wemwbs": 0.425, "epds": -0.225}
    assert t.b_paths["wemwbs"]["understood"] == pytest.approx(0.25 * 8.5)
    assert t.b_paths["epds"]["negative_comparison"] == pytest.approx(0.25 * 4.5)
    assert t.a_paths["group"]["negative_comparison"] == 0.25
    for y in ("wemwbs", "epds"):
        for m in MODES:  # the net effect splits exactly into dose-scaled direct and indirect parts
            dose = np.clip(1 + 0.04 * (t.dose_response["design_mean_sessions"][m] - 7),
                           *t.dose_response["bounds"])
            assert t.direct_effect_by_mode[y][m] * dose + t.indirect_effect_by_mode[y][m] == \
                pytest.approx(t.net_effect_by_mode[y][m], abs=1e-3)
    assert t.realised["n_started"] == int(cohort.participants.started.sum())


def test_realised_truth_matches_design(big):
    """The latent 12-week changes average to the design values (sampling error only)."""
    t = big.truth
    for y in ("wemwbs", "epds"):
        for g, target in t.change_by_mode[y].items():
            assert t.change_by_mode_realised[y][g] == pytest.approx(target, abs=0.35), (y, g)
        assert t.mean_change_starters_realised[y] == pytest.approx(t.mean_change_starters[y], abs=0.2)


def test_latent_truth_recovers_paths_and_moderation(big):
    """OLS on the error-free quantities gives back the stated a-paths, b-paths and moderation."""
    t, lat, p = big.truth, big.latent, big.participants
    st = p.started.to_numpy()
    mode = p.delivery_mode.to_numpy()
    for m in MODES:
        for k, name in enumerate(t.mechanisms):
            got = lat.loc[mode == m, f"mech_{name}"].mean()
            assert got == pytest.approx(t.a_paths[m][name], abs=0.06), (m, name)
    dummies = np.column_stack([(mode[st] == m).astype(float) for m in MODES])
    mis = lat.cultural_mismatch.to_numpy(float)[st]
    grp = np.isin(mode[st], ["group", "both"]).astype(float)
    ctx = np.column_stack([lat.isolation_z.to_numpy()[st], lat.deprived.to_numpy(float)[st],
                           mis * (1 - grp), mis * grp])
    mech = lat.loc[st, [f"mech_{k}" for k in t.mechanisms]].to_numpy()
    for y in ("wemwbs", "epds"):
        change = lat[f"true_change_{y}"].to_numpy()[st]
        beta = np.linalg.lstsq(np.column_stack([dummies, ctx]), change, rcond=None)[0]
        assert beta[3] == pytest.approx(t.isolation_slope_per_sd[y], abs=0.15), f"{y} isolation"
        assert beta[4] == pytest.approx(t.deprivation_effect[y], abs=0.35), f"{y} deprivation"
        assert beta[5] == pytest.approx(t.mismatch_effect[y]["one_to_one"], abs=0.45), f"{y} mismatch"
        b = np.linalg.lstsq(np.column_stack([dummies, ctx, mech]), change, rcond=None)[0][7:]
        assert b == pytest.approx([t.b_paths[y][k] for k in t.mechanisms], abs=0.12), f"{y} b-paths"


def test_observed_totals_are_unbiased_for_the_latent_totals(big):
    """Items: rounding and clipping add noise, not bias (expected item sum = latent total)."""
    base = big.responses.loc[big.responses.wave == "baseline"]
    obs = totals(base, "wemwbs", 14).to_numpy()
    true = big.latent["baseline_wemwbs"].to_numpy()
    ok = (true > 20) & (true < 64)
    assert obs[ok].mean() - true[ok].mean() == pytest.approx(0, abs=0.1)
    slope = np.polyfit(true[ok], obs[ok], 1)[0]
    assert slope == pytest.approx(1, abs=0.02)
    sem = np.std(obs[ok] - true[ok])
    assert 2 <= sem <= 3.5, f"WEMWBS measurement SD {sem:.2f}; §4.3: SEM 2.4–3.1"


# ---------------------------------------------------------------------- argument errors
@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, r"n=0 is not a valid number of referred mothers; pass a positive integer"),
    ({"n": 2.5}, r"n=2\.5 is not a valid number"),
    ({"n": True}, r"n=True is not a valid number"),
    ({"n": "600"}, r"n='600' is not a valid number"),
    ({"seed": -1}, r"seed=-1 is not a valid seed; pass a non-negative integer"),
    ({"seed": 1.0}, r"seed=1\.0 is not a valid seed"),
    ({"missing": "mnar"}, r"missing='mnar' is not a missing-data setting; use missing='routine'"),
    ({"volunteer_sd": -0.1}, r"volunteer_sd=-0\.1 is not a valid SD; pass a non-negative"),
    ({"volunteer_sd": "big"}, r"volunteer_sd='big' is not a valid SD"),
    ({"mothers_per_volunteer": 0.5}, r"mothers_per_volunteer=0\.5 is not valid; pass a number "
                                     r"of at least 1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ek.SpecificationError, match=match):
        ek.simulate_cohort(**kwargs)


def test_missing_is_keyword_only():
    with pytest.raises(TypeError):
        ek.simulate_cohort(10, 1, "trial")


def test_numpy_integers_are_accepted():
    sim = ek.simulate_cohort(n=np.int64(5), seed=np.int32(2))
    assert len(sim.participants) == 5 and isinstance(sim.truth.n, int)


def test_every_truth_field_is_documented():
    doc = SimulationTruth.__doc__
    undocumented = [f.name for f in dataclasses.fields(SimulationTruth) if f.name not in doc]
    assert undocumented == []


# ---------------------------------------------------------------------- volunteers and groups
def test_group_mothers_meet_several_volunteers_of_their_site(cohort):
    c, p = cohort.volunteer_contacts, cohort.participants.set_index("participant_id")
    weight = c.groupby("participant_id")["weight"].sum()
    assert np.allclose(weight, 1.0), "a mother's volunteer weights sum to 1"
    mode = p.loc[weight.index, "delivery_mode"]
    met = c.groupby("participant_id")["volunteer_id"].nunique()
    assert (met[mode == "one_to_one"] == 1).all()
    assert (met[mode == "group"] >= 2).mean() > 0.95, "groups are run by several volunteers"
    assert (met[mode == "both"] >= 3).mean() > 0.95
    # the recorded volunteer is one she met, and every volunteer she met works in her site
    recorded = c.merge(p[["volunteer_id"]].reset_index(), on=["participant_id", "volunteer_id"])
    assert set(recorded["participant_id"]) == set(weight.index)
    vsite = cohort.volunteers.set_index("volunteer_id")["site"]
    assert (vsite[c["volunteer_id"]].to_numpy() == p.loc[c["participant_id"], "site"].to_numpy()).all()
    sizes = c[c.role == "group"].groupby("group")["participant_id"].nunique()
    assert 4 <= sizes.mean() <= 6, "§7 table: about 6 families per group course"


def test_volunteer_effect_truth_is_exposed_and_consistent(cohort):
    t, vols, c, lat = cohort.truth, cohort.volunteers, cohort.volunteer_contacts, cohort.latent
    assert t.volunteers["n_volunteers"] == len(vols) == t.realised["n_volunteers"]
    assert t.volunteers["n_groups"] == c["group"].nunique()
    # each mother's latent volunteer effect is the weighted mean of the volunteers she met
    eff = c.merge(vols[["volunteer_id", "effect_wemwbs"]], on="volunteer_id")
    mine = (eff["weight"] * eff["effect_wemwbs"]).groupby(eff["participant_id"]).sum()
    latent = lat.set_index("participant_id")["volunteer_effect_wemwbs"]
    assert np.allclose(latent[mine.index], mine)
    assert (latent.drop(mine.index) == 0).all(), "no volunteer effect without support"
    # the volunteer SD is the §7.1 default (0.1 outcome-SD) and the draws match it
    sd = t.random_effects["volunteer_sd"]["wemwbs"]
    assert sd == pytest.approx(0.85)
    assert vols["effect_wemwbs"].std() == pytest.approx(sd, rel=0.1)
    assert (np.sign(vols["effect_wemwbs"]) == -np.sign(vols["effect_epds"])).all()
    share = t.volunteers["share_of_change_variance"]["wemwbs"]
    starters = lat.loc[cohort.participants["started"].to_numpy()]
    assert share == pytest.approx(starters["volunteer_effect_wemwbs"].var(ddof=0)
                                  / starters["true_change_wemwbs"].var(ddof=0), abs=1e-4)


def test_volunteer_structure_is_deterministic():
    a, b = ek.simulate_cohort(n=200, seed=8), ek.simulate_cohort(n=200, seed=8)
    pd.testing.assert_frame_equal(a.volunteer_contacts, b.volunteer_contacts)
    pd.testing.assert_frame_equal(a.volunteers, b.volunteers)
    assert not ek.simulate_cohort(n=200, seed=9).volunteers.equals(a.volunteers)


def test_volunteer_design_options_change_only_the_volunteer_level():
    base = ek.simulate_cohort(n=600, seed=3)
    same = ek.simulate_cohort(n=600, seed=3, volunteer_sd=0.1, mothers_per_volunteer=2.5)
    pd.testing.assert_frame_equal(base.responses, same.responses)
    big = ek.simulate_cohort(n=600, seed=3, volunteer_sd=0.4, mothers_per_volunteer=10)
    t = big.truth
    assert t.random_effects["volunteer_sd"]["wemwbs"] == pytest.approx(4 * 0.85, abs=0.01)
    assert t.volunteers["mothers_per_volunteer"] == 10
    starters = int(big.participants["started"].sum())
    assert 8 <= starters / t.volunteers["n_volunteers"] <= 12
    assert big.volunteers["effect_wemwbs"].std() == pytest.approx(3.4, rel=0.35)
    # the same mothers, sites and take-up: only who supports whom and how much she helps differ
    cols = ["participant_id", "site", "started", "delivery_mode"]
    pd.testing.assert_frame_equal(base.participants[cols], big.participants[cols])
    none = ek.simulate_cohort(n=300, seed=3, volunteer_sd=0)
    assert (none.volunteers["effect_wemwbs"] == 0).all()
