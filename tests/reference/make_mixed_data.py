"""Write the CSV datasets that ``lme4_reference.R`` fits to make the frozen lme4/lmerTest fixtures.

Deterministic: every seed is fixed below. Run from the repository root (or anywhere)::

    python tests/reference/make_mixed_data.py && Rscript tests/reference/lme4_reference.R

Writes into ``tests/reference/data/``:

* ``mothers30.csv``   -- ``ek.simulate_cohort(n=45, seed=32)``: 30 starters, 1-4 observed waves each.
* ``mothers3000.csv`` -- ``ek.simulate_cohort(n=4350, seed=20260)``: ~3,000 starters.
* ``singular.csv``    -- y = 40 + 0.4*weeks + subject intercept + noise, *no* slope variation,
  40 subjects x 4 waves, so the random-slope variance of ``(weeks | id)`` sits on the boundary.

``sleepstudy.csv`` is not written here: the R script exports it from lme4 itself.

Floats are rounded to 4 decimals; the R script reads exactly these files, so the fixtures refer to
the rounded values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

MOTHERS30 = dict(n=45, seed=32)        # -> 30 starters, waves per mother 1..4 (4/8/10/8)
MOTHERS3000 = dict(n=4350, seed=20260)  # -> 2,999 starters, ~8.3k rows
SINGULAR_SEED = 13  # both (weeks | id) and (weeks || id) fits are singular (checked in R)

COLUMNS = ["participant_id", "wave", "weeks", "wemwbs", "delivery_mode", "isolation"]


def mothers(n: int, seed: int) -> pd.DataFrame:
    """WEMWBS totals per observed wave for starters, with weeks since the mother's baseline."""
    sim = ek.simulate_cohort(n=n, seed=seed)
    resp = sim.responses
    scores = ek.score(resp, "wemwbs", missing_codes=(-9,), warn=False)
    d = resp[["participant_id", "wave", "assessed_on"]].copy()
    d["wemwbs"] = scores["wemwbs"].to_numpy()
    base = d.loc[d["wave"] == "baseline"].set_index("participant_id")["assessed_on"]
    d["weeks"] = (d["assessed_on"] - d["participant_id"].map(base)).dt.days / 7
    d = d.merge(sim.participants[["participant_id", "delivery_mode", "isolation"]],
                on="participant_id", how="left", validate="many_to_one")
    d = d.loc[d["wemwbs"].notna() & d["delivery_mode"].notna(), COLUMNS]
    d = d.sort_values(["participant_id", "weeks"], kind="mergesort").reset_index(drop=True)
    d["weeks"] = d["weeks"].round(4)
    d["wemwbs"] = d["wemwbs"].round(4)
    d["isolation"] = d["isolation"].round(4)
    return d


def singular(seed: int = SINGULAR_SEED, n_id: int = 40) -> pd.DataFrame:
    """Random intercept only in truth; fitted with (weeks | id) the slope variance goes to 0."""
    rng = np.random.default_rng(seed)
    planned = np.array([0.0, 6.0, 12.0, 24.0])
    rows = []
    for i in range(n_id):
        b0 = rng.normal(0.0, 5.0)
        weeks = planned + np.r_[0.0, rng.normal(0.0, 0.8, size=3)]
        y = 40.0 + 0.4 * weeks + b0 + rng.normal(0.0, 4.0, size=4)
        for w, yy in zip(weeks, y):
            rows.append({"id": f"S{i + 1:02d}", "weeks": round(float(w), 4), "y": round(float(yy), 4)})
    return pd.DataFrame(rows)


def summary(name: str, d: pd.DataFrame, id_col: str) -> str:
    per = d.groupby(id_col).size().value_counts().sort_index().to_dict()
    return f"{name}: {len(d)} rows, {d[id_col].nunique()} groups, waves-per-group {per}"


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    m30 = mothers(**MOTHERS30)
    m3000 = mothers(**MOTHERS3000)
    sing = singular()
    assert 28 <= m30["participant_id"].nunique() <= 35
    assert 2800 <= m3000["participant_id"].nunique() <= 3200
    for name, d in [("mothers30", m30), ("mothers3000", m3000), ("singular", sing)]:
        d.to_csv(DATA / f"{name}.csv", index=False, lineterminator="\n")
        print(summary(name, d, "id" if name == "singular" else "participant_id"))


if __name__ == "__main__":
    main()
