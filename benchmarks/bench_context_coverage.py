"""Coverage of the context analysis's 95% CIs over many simulated cohorts (issue 5: 93–97 %).

Run: .venv/bin/python benchmarks/bench_context_coverage.py [--cohorts 200] [--n 1000] [--jobs 2]

For each seeded cohort: score WEMWBS, keep starters over the support period (baseline, mid, end),
and fit `wemwbs ~ weeks * delivery_mode` (change by mode, 3 intervals) and
`wemwbs ~ weeks * isolation + weeks * deprived` (2 interaction intervals) with random intercept and
slope. Each interval is checked against the simulator's truth: for modes, the mean true 12-week
change of that cohort's analysed mothers; for moderators, the design value per 12 weeks.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from _cohort import wemwbs_frame
from joblib import Parallel, delayed


def one(seed: int, n: int) -> list[dict]:
    import evalkit as ek

    warnings.simplefilter("ignore")
    sim, frame = wemwbs_frame(n=n, seed=seed)
    d = frame.loc[frame["started"].fillna(False).astype(bool) & frame["wave"].isin(["baseline", "mid", "end"])].copy()
    d["deprived"] = d["imd_quintile"].astype(str).isin(["1", "2"])
    rows = []
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * delivery_mode", subject="participant_id",
                       random="weeks", simplify=True)
    ch = ek.change_from_baseline(fit, time="weeks", change=(0, 12), by="delivery_mode").set_index("delivery_mode")
    lat = sim.latent.merge(sim.participants[["participant_id", "delivery_mode"]], on="participant_id")
    used = lat.loc[lat.participant_id.isin(d.dropna(subset=["wemwbs"]).participant_id.unique())]
    truth = used.groupby("delivery_mode")["true_change_wemwbs"].mean()
    for mode in ("one_to_one", "group", "both"):
        r = ch.loc[mode]
        rows.append({"seed": seed, "target": f"change {mode}", "truth": truth[mode], "estimate": r.estimate,
                     "covered": r.ci_low <= truth[mode] <= r.ci_high})
    fit2 = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * isolation + weeks * deprived",
                        subject="participant_id", random="weeks", simplify=True)
    con = fit2.contrast({"isolation": {"weeks:isolation": 12}, "deprivation": {"weeks:deprived": 12}})
    for r in con.itertuples():
        true = (sim.truth.isolation_slope_per_unit if r.term == "isolation" else sim.truth.deprivation_effect)["wemwbs"]
        rows.append({"seed": seed, "target": r.term, "truth": true, "estimate": r.estimate,
                     "covered": r.ci_low <= true <= r.ci_high})
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cohorts", type=int, default=200)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    t0 = time.perf_counter()
    out = Parallel(n_jobs=a.jobs)(delayed(one)(1000 + s, a.n) for s in range(a.cohorts))
    table = pd.DataFrame([r for rows in out for r in rows])
    summary = table.groupby("target").agg(intervals=("covered", "size"), coverage=("covered", "mean"),
                                          mean_estimate=("estimate", "mean"), truth=("truth", "mean"))
    print(summary.round(3).to_string())
    print(f"overall coverage {table['covered'].mean():.3f} over {len(table)} intervals "
          f"({a.cohorts} cohorts of {a.n} referred mothers) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
