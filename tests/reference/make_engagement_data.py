"""Write ``tests/reference/data/engagement.csv``, the time-to-disengagement data that
``survival_reference.R`` fits to make the frozen R ``survival`` fixtures.

Deterministic. Run from anywhere::

    python tests/reference/make_engagement_data.py && Rscript tests/reference/survival_reference.R

Participants of ``ek.simulate_cohort(n=400, seed=3)`` who started. ``duration`` is whole weeks from
``first_session_on`` to ``last_session_on`` plus one (rounding to whole weeks makes ties, which
exercises Efron's method); ``event`` is 1 when ``exit_reason`` is disengaged, referred_on or
feeling_better and 0 otherwise (completed = censored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "engagement.csv"
EVENTS = ("disengaged", "referred_on", "feeling_better")
COLUMNS = ["participant_id", "duration", "event", "delivery_mode", "imd_quintile", "age",
           "isolation", "site"]


def engagement() -> pd.DataFrame:
    p = ek.simulate_cohort(n=400, seed=3).participants
    p = p[p["started"].astype(bool)].copy()
    days = (pd.to_datetime(p["last_session_on"]) - pd.to_datetime(p["first_session_on"])).dt.days
    p["duration"] = np.round(days / 7.0).astype(int) + 1
    p["event"] = p["exit_reason"].isin(EVENTS).astype(int)
    p["imd_quintile"] = pd.to_numeric(p["imd_quintile"]).astype(int)
    p["age"] = pd.to_numeric(p["age"]).astype(int)
    p["isolation"] = pd.to_numeric(p["isolation"]).astype(float).round(4)
    return p[COLUMNS].reset_index(drop=True)


if __name__ == "__main__":
    d = engagement()
    d.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(d)} rows, {int(d['event'].sum())} events)")
