"""The scoring engine across the registry: properties, invalid answers, prorating, safeguarding."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalkit as ek
from evalkit.errors import ProratedScoreWarning, SafeguardingWarning, ScoringError, SpecificationError
from evalkit.scoring import recode_items, score_dictionary

ALL = ek.instruments.available()


def _item_values(spec, draw, n_rows, allow_missing=True):
    rows = []
    for _ in range(n_rows):
        row = {}
        for k in spec.items.numbers:
            lo, hi = spec.items.range_of(k)
            v = draw(st.one_of(st.none(), st.integers(int(lo), int(hi))) if allow_missing
                     else st.integers(int(lo), int(hi)))
            row[f"{spec.id}_{k}"] = np.nan if v is None else float(v)
        rows.append(row)
    return pd.DataFrame(rows)


def _quiet_score(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProratedScoreWarning)
        return ek.score(*args, **kwargs)


@pytest.mark.parametrize("inst", ALL)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_totals_stay_inside_documented_range(inst, data):
    spec = ek.instruments.get(inst)
    frame = _item_values(spec, data.draw, 5)
    out = _quiet_score(frame, inst)
    for scale in spec.scales:
        v = out[scale.id].dropna()
        lo, hi = scale.range
        assert ((v >= lo - 1e-9) & (v <= hi + 1e-9)).all(), (scale.id, v.tolist(), scale.range)
        n_items = len(spec.scale_items(scale))
        none_answered = frame[[f"{spec.id}_{k}" for k in spec.scale_items(scale)]].isna().all(axis=1)
        assert out.loc[none_answered, scale.id].isna().all(), "an all-missing scale must be missing, never 0"
        assert (out[f"{scale.id}_n_answered"] <= n_items).all()


@pytest.mark.parametrize("inst", ALL)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reversing_twice_is_identity_and_position_coding_matches(inst, data):
    spec = ek.instruments.get(inst)
    positions = _item_values(spec, data.draw, 4)
    twice = recode_items(recode_items(positions, inst), inst)
    pd.testing.assert_frame_equal(twice, positions)
    by_position = _quiet_score(positions, inst, coding="position")
    by_score = _quiet_score(recode_items(positions, inst), inst, coding="scored")
    pd.testing.assert_frame_equal(by_position, by_score)


@pytest.mark.parametrize("inst", ALL)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_rows_score_does_not_depend_on_other_rows(inst, data):
    spec = ek.instruments.get(inst)
    frame = _item_values(spec, data.draw, 6)
    together = _quiet_score(frame, inst)
    for i in range(len(frame)):
        alone = _quiet_score(frame.iloc[[i]], inst)
        pd.testing.assert_frame_equal(alone, together.iloc[[i]], check_categorical=False)


def test_out_of_range_and_text_raise_naming_rows_and_items():
    frame = pd.DataFrame({f"epds_{k}": [1, 1, 1] for k in range(1, 11)}, index=["a", "b", "c"])
    frame = frame.astype(object)
    frame.loc["b", "epds_4"] = 7
    frame.loc["c", "epds_2"] = "often"
    with pytest.raises(ScoringError, match=(
            r"epds: 2 item value\(s\) cannot be scored \(out of range or not a number\): "
            r"row 'b' epds_4=7 \(allowed 0–3\); row 'c' epds_2='often' \(allowed 0–3\)\. "
            r"Correct them.*on_invalid='missing'")):
        ek.score(frame, "epds")


def test_invalid_as_missing_records_reason_and_withholds_only_affected_scales():
    frame = pd.DataFrame({f"epds_{k}": [1, 1] for k in range(1, 11)}).astype(object)
    frame.loc[1, "epds_7"] = 9
    out = ek.score(frame, "epds", on_invalid="missing")
    assert out["epds"].tolist()[0] == 10 and np.isnan(out["epds"].tolist()[1])
    assert out["epds_3a"].tolist() == [3.0, 3.0]  # item 7 is not in EPDS-3A
    assert out["epds_invalid"].tolist() == [None, "item 7 = 9 (outside 0–3)"]


def test_missing_codes_never_count_as_zero():
    frame = pd.DataFrame({f"epds_{k}": [2, -9] for k in range(1, 11)})
    with pytest.raises(ScoringError, match="row 1 epds_1=-9"):
        ek.score(frame, "epds")
    out = ek.score(frame, "epds", missing_codes=(-9, -8))
    assert out["epds"].tolist()[0] == 20 and np.isnan(out["epds"].tolist()[1])
    assert out["epds_n_answered"].tolist() == [10, 0]


def test_prorating_is_flagged_and_warned():
    frame = pd.DataFrame({f"epds_{k}": [2.0] for k in range(1, 11)})
    frame.loc[0, "epds_1"] = np.nan
    with pytest.warns(ProratedScoreWarning, match=r"epds: 1 scale score\(s\) prorated .* local rule"):
        out = ek.score(frame, "epds")
    assert out["epds"].item() == pytest.approx(20.0) and out["epds_prorated"].item()


def test_item_column_mapping_and_errors():
    frame = pd.DataFrame({f"q{k}": [1] for k in range(1, 11)})
    out = ek.score(frame, "epds", items={k: f"q{k}" for k in range(1, 11)})
    assert out["epds"].item() == 10
    with pytest.raises(SpecificationError, match=r"item column\(s\) epds_1, epds_2, .* not in the data"):
        ek.score(frame, "epds")
    with pytest.raises(ek.UnknownNameError, match="instrument 'edps' is not registered; available: "):
        ek.score(frame, "edps")
    with pytest.raises(SpecificationError, match="coding must be 'scored' or 'position'"):
        ek.score(frame, "epds", coding="positions", items={k: f"q{k}" for k in range(1, 11)})


def test_every_spec_is_complete():
    for inst in ALL:
        spec = ek.instruments.get(inst)
        assert spec.licence and spec.citation, inst
        for scale in spec.scales:
            assert scale.missing.source, (inst, scale.id)
            if scale.bands:
                assert scale.bands_source, (inst, scale.id)
        for k, label in spec.items.labels.items():
            assert len(label.split()) <= 3, (inst, k, label)


@pytest.fixture(scope="module")
def scored_sim():
    sim = ek.simulate_cohort(n=3000, seed=5)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    report = ek.validate({"participants": sim.participants, "responses": sim.responses}, dictionary=dd)
    assert report.ok, report.describe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = score_dictionary(report, dictionary=dd)
    return sim, result, caught


def test_simulator_scores_cleanly_and_keeps_safeguarding_apart(scored_sim):
    sim, result, caught = scored_sim
    assert "epds" in result.instruments
    assert "epds_self_harm" not in result.scores.columns
    assert set(result.safeguarding["flag"]) == {"epds_self_harm"}
    assert (result.safeguarding["value"] > 0).all()
    assert any(issubclass(w.category, SafeguardingWarning) for w in caught)
    assert "mechanisms" in result.skipped


def test_simulator_true_baseline_means_are_recovered(scored_sim):
    sim, result, _ = scored_sim
    base = result.scores.loc[result.scores["wave"] == "baseline"]
    truth = sim.truth.baseline
    for inst in ("epds", "wemwbs", "ucla3"):
        if inst not in result.instruments:
            pytest.skip(f"{inst} not registered yet")
        mean = base[inst].mean()
        target = truth[inst]["mean"]
        se = base[inst].std() / np.sqrt(base[inst].notna().sum())
        assert abs(mean - target) < 4 * se + 0.3, f"{inst}: scored baseline mean {mean:.2f} vs true {target}"


def test_score_cli_writes_restricted_file_separately(tmp_path):
    sim = ek.simulate_cohort(n=80, seed=4)
    paths = sim.write(tmp_path / "d")
    out = tmp_path / "out" / "scores.csv"
    res = CliRunner().invoke(ek.cli.cli if hasattr(ek, "cli") else __import__("evalkit.cli").cli.cli,
                             ["score", *map(str, paths), "--dictionary", str(ek.example_dictionary_path()),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(out)
    assert "epds" in scores.columns and "epds_self_harm" not in scores.columns
    flags = tmp_path / "out" / "restricted" / "safeguarding_flags.csv"
    assert flags.exists() and "safeguarding flag(s) written to" in res.output
    assert set(pd.read_csv(flags)["participant_id"]) <= set(scores["participant_id"])


def test_dictionary_range_must_match_instrument():
    dd = ek.DataDictionary.from_dict({
        "study": "x", "waves": {"baseline": {"week": 0, "window": [0, 0]}},
        "datasets": {"r": {"file": "r.csv", "keys": ["participant_id", "wave"], "variables": {
            "participant_id": {"type": "string", "role": "id"}, "wave": {"type": "category", "role": "wave"}},
            "item_sets": [{"instrument": "epds", "items": 10, "range": [1, 4]}]}}})
    frame = pd.DataFrame({"participant_id": ["a"], "wave": ["baseline"],
                          **{f"epds_{k}": [1] for k in range(1, 11)}})
    with pytest.raises(SpecificationError, match=r"epds: the data dictionary disagrees with the instrument: "
                                                  r"epds_1 declared \[1, 4\], epds item 1 is scored 0–3"):
        score_dictionary(frame, dictionary=dd)
