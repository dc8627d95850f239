"""Shared fixtures: a tiny, valid, hand-made cohort (text values, as read from CSV)."""

from __future__ import annotations

import datetime as dt

import matplotlib
import pandas as pd
import pytest

import evalkit as ek

matplotlib.use("Agg")

TODAY = dt.date(2026, 1, 1)
MECH = ["mech_understood", "mech_normalisation", "mech_hope", "mech_information",
        "mech_negative_comparison"]


@pytest.fixture(scope="session")
def dd() -> ek.DataDictionary:
    return ek.DataDictionary.from_yaml(ek.example_dictionary_path())


def _participant(pid, site="north", mode="group"):
    return {"participant_id": pid, "site": site, "referred_on": "2024-01-01", "age": "31",
            "ethnicity": "white_british", "born_uk": "true", "imd_quintile": "2",
            "first_baby": "true", "partner": "false", "mh_history": "false", "antenatal": "false",
            "isolation": "4.5", "language_matched": "true", "started": "true",
            "delivery_mode": mode, "volunteer_id": "V001", "sessions_attended": "6",
            "first_session_on": "2024-01-10", "last_session_on": "2024-03-20",
            "exit_reason": "completed"}


def _response(pid, wave, date):
    row = {"participant_id": pid, "wave": wave, "assessed_on": date}
    row.update({f"wemwbs_{k}": "3" for k in range(1, 15)})
    row.update({f"epds_{k}": "1" for k in range(1, 11)})
    row.update({f"ucla3_{k}": "2" for k in range(1, 4)})
    row.update({m: ("2" if wave in ("mid", "end") else "") for m in MECH})
    return row


@pytest.fixture()
def tiny() -> dict[str, pd.DataFrame]:
    """Three participants; P1 has all four waves, P2 baseline and end, P3 baseline only."""
    people = pd.DataFrame([_participant("P1"), _participant("P2", "east", "one_to_one"),
                           _participant("P3", "south", "both")])
    resp = pd.DataFrame([
        _response("P1", "baseline", "2024-01-02"), _response("P1", "mid", "2024-02-13"),
        _response("P1", "end", "2024-03-26"), _response("P1", "follow_up", "2024-06-18"),
        _response("P2", "baseline", "2024-01-03"), _response("P2", "end", "2024-03-27"),
        _response("P3", "baseline", "2024-01-04"),
    ])
    return {"participants": people, "responses": resp}


def write_csvs(frames: dict[str, pd.DataFrame], folder) -> list[str]:
    paths = []
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a real, throwaway PostgreSQL server (tests/pg_server.py), stopped after the session.

    Where no server can be started the test is skipped with the reason, except in CI (``CI`` or
    ``EVALKIT_REQUIRE_POSTGRES`` set, as ``.ci/run`` does), where that is a failure.
    """
    from tests import pg_server

    try:
        server = pg_server.start()
    except pg_server.Unavailable as exc:
        if pg_server.required():
            pytest.fail(f"PostgreSQL is required here (CI or EVALKIT_REQUIRE_POSTGRES is set) but "
                        f"could not be started: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server.url
    finally:
        pg_server.stop(server)
