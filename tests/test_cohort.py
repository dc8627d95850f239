"""The long cohort frame and the wide <-> long helpers."""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit as ek

from .conftest import TODAY


@pytest.fixture()
def frame(tiny, dd):
    report = ek.validate(tiny, dictionary=dd, today=TODAY)
    return ek.build_cohort(report, dictionary=dd)


def test_one_row_per_participant_and_wave(frame):
    assert len(frame) == 3 * 4
    assert not frame.duplicated(["participant_id", "wave"]).any()
    assert list(frame["wave"].cat.categories) == ["baseline", "mid", "end", "follow_up"]
    assert frame["observed"].tolist() == [True] * 4 + [True, False, True, False] + [True, False, False, False]


def test_weeks_from_dates_else_planned(frame):
    p1 = frame.loc[frame.participant_id == "P1"]
    assert p1["weeks"].tolist() == [0.0, 6.0, 12.0, 24.0]
    assert p1["weeks_source"].tolist() == ["date"] * 4
    p2 = frame.loc[frame.participant_id == "P2"].set_index("wave", drop=False)
    assert p2.loc["end", "weeks"] == 12.0 and p2.loc["end", "weeks_source"] == "date"
    assert p2.loc["mid", "weeks"] == 6.0 and p2.loc["mid", "weeks_source"] == "planned"


def test_dates_give_fractional_weeks(tiny, dd):
    tiny["responses"].loc[1, "assessed_on"] = "2024-02-16"  # 45 days after baseline
    f = ek.build_cohort(ek.validate(tiny, dictionary=dd, today=TODAY), dictionary=dd)
    assert f.loc[(f.participant_id == "P1") & (f.wave == "mid"), "weeks"].item() == pytest.approx(45 / 7, abs=1e-4)


def test_context_is_joined_to_every_row(frame):
    assert (frame.groupby("participant_id")["delivery_mode"].nunique() == 1).all()
    assert frame.loc[frame.participant_id == "P2", "delivery_mode"].unique().tolist() == ["one_to_one"]
    assert "_line" not in frame.columns


def test_observed_only(tiny, dd):
    f = ek.build_cohort(ek.validate(tiny, dictionary=dd, today=TODAY), dictionary=dd, all_waves=False)
    assert len(f) == 7 and f["observed"].all()


def test_raw_frames_are_validated_first(tiny, dd):
    tiny["responses"].loc[0, "epds_1"] = "9"
    with pytest.raises(ek.DataValidationError, match="1 data problem"):
        ek.build_cohort(tiny, dictionary=dd)


def test_wide_long_round_trip(frame):
    obs = frame.loc[frame.observed, ["participant_id", "wave", "wemwbs_1", "epds_1"]]
    wide = ek.to_wide(obs, values=["wemwbs_1", "epds_1"])
    assert list(wide.columns) == ["participant_id", "wemwbs_1_baseline", "wemwbs_1_mid", "wemwbs_1_end",
                                  "wemwbs_1_follow_up", "epds_1_baseline", "epds_1_mid", "epds_1_end",
                                  "epds_1_follow_up"]
    back = ek.to_long(wide, stubs=["wemwbs_1", "epds_1"], levels=["baseline", "mid", "end", "follow_up"])
    back = back.dropna(subset=["wemwbs_1"]).reset_index(drop=True)
    expect = obs.assign(wave=obs.wave.astype(object)).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expect, check_dtype=False)


def test_reshape_errors(frame):
    with pytest.raises(ek.SpecificationError, match=r"column\(s\) \['nope'\] not in the data"):
        ek.to_wide(frame, values="nope")
    with pytest.raises(ek.SpecificationError, match="more than one row per participant_id × mid"):
        ek.to_wide(frame.assign(mid=1), values="epds_1", wave="mid")
    # the old name of wave= still works for one release, with a deprecation warning
    with pytest.warns(ek.EvalkitDeprecationWarning, match="use wave= instead"), \
            pytest.raises(ek.SpecificationError, match="more than one row"):
        ek.to_wide(frame.assign(mid=1), values="epds_1", time="mid")
