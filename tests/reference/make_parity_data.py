"""Write ``data/parity.csv``, the cohort that ``parity_reference.R`` fits for issue 14's fixtures.

Deterministic (fixed seed). Run from the repository root::

    .venv/bin/python tests/reference/make_parity_data.py && Rscript tests/reference/parity_reference.R

``ek.simulate_cohort(n=420, seed=1414)``, starters only, one row per observed WEMWBS wave, with
weeks since the mother's baseline assessment and four mother-level covariates:

* ``first_baby`` -- boolean (written ``True``/``False``; R reads it as logical),
* ``partner``    -- the simulator's boolean written as an integer 0/1 (R reads it as numeric),
* ``imd_quintile`` -- integer 1-5 (numeric in both),
* ``isolation``  -- continuous 0-10.

Floats are rounded to 4 decimals; R fits exactly these values.
"""

from __future__ import annotations

from pathlib import Path

import evalkit as ek

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "parity.csv"
COHORT = dict(n=420, seed=1414)
COLUMNS = ["participant_id", "wave", "weeks", "wemwbs", "delivery_mode", "isolation", "first_baby",
           "partner", "imd_quintile"]


def parity():
    sim = ek.simulate_cohort(**COHORT)
    resp = sim.responses
    scores = ek.score(resp, "wemwbs", missing_codes=(-9,), warn=False)
    d = resp[["participant_id", "wave", "assessed_on"]].copy()
    d["wemwbs"] = scores["wemwbs"].to_numpy()
    base = d.loc[d["wave"] == "baseline"].set_index("participant_id")["assessed_on"]
    d["weeks"] = (d["assessed_on"] - d["participant_id"].map(base)).dt.days / 7
    people = sim.participants[["participant_id", "delivery_mode", "isolation", "first_baby", "partner",
                               "imd_quintile"]]
    d = d.merge(people, on="participant_id", how="left", validate="many_to_one")
    d = d.loc[d["wemwbs"].notna() & d["delivery_mode"].notna() & d["weeks"].notna(), COLUMNS].copy()
    d["partner"] = d["partner"].astype(int)
    d["first_baby"] = d["first_baby"].astype(bool)
    d = d.sort_values(["participant_id", "weeks"], kind="mergesort").reset_index(drop=True)
    for col in ("weeks", "wemwbs", "isolation"):
        d[col] = d[col].round(4)
    return d


def main() -> None:
    d = parity()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    d.to_csv(OUT, index=False)
    per = d.groupby("participant_id").size().value_counts().sort_index().to_dict()
    print(f"{OUT.name}: {len(d)} rows, {d['participant_id'].nunique()} mothers, waves per mother {per}; "
          f"first_baby {d['first_baby'].mean():.3f}, partner {d['partner'].mean():.3f}")


if __name__ == "__main__":
    main()
