"""Coverage of the volunteer-variance 95% CI over seeded simulated cohorts (issue 15: >= 93 %).

Run: .venv/bin/python benchmarks/bench_volunteer_coverage.py [--cohorts 200] [--n 1200]
     [--refits 200] [--jobs 2] [--volunteer-sd 0.4] [--mothers-per-volunteer 12]
     [--time capped|weeks] [--out FILE.csv] [--max-minutes 10] [--force]

For each seeded cohort (``simulate_cohort(n, volunteer_sd=0.4, mothers_per_volunteer=12)``:
volunteers matter more, and each supports more mothers, than the evidence's defaults of 0.1 SD
and 2.5; see below why): score WEMWBS, keep the mothers in one-to-one support (the structure a
``(... | volunteer_id)`` term describes exactly: one volunteer each; group mothers meet several
volunteers, see ``evalkit._sim_volunteers``) over the support period (baseline, mid, end), and fit
``wemwbs ~ t`` with ``(1 + t | participant_id) + (0 + t | volunteer_id)``, ``t`` the simulator's
shape of change, ``min(weeks, 12)`` (``--time capped``, default) or ``weeks`` (``--time weeks``):
the simulator puts the volunteer effect on change, so the volunteer term is a slope. The interval
is :func:`evalkit.models.variance_share.variance_shares`' parametric-bootstrap CI of the
volunteer level's variance, which (as ``icc_by_level``) is the slope variance averaged over the
fitted rows, ``var_slope * mean(t^2)``; the truth is the same quantity from the simulator's
volunteer SD on 12-week change, ``(truth.random_effects.volunteer_sd.wemwbs / 12)^2 * mean(t^2)``.

Measured (2026-12-02, shared 2-core machine, ``--cohorts 200 --refits 200 --jobs 2``, seeds
15000-15199; per-cohort tables in ``results/bench_volunteer_coverage_*.csv``, summary in
``results/bench_volunteer_coverage.md``):

* ``--time capped``: coverage 0.930 (186 / 200; Monte Carlo SE 0.018, so consistent with the
  nominal 0.95 at 1.1 SE); truth below the interval 4 times, above it 10 times; mean estimate /
  truth 1.055 (a variance cannot go below 0); 20 lower limits at 0; median width 1.5 x the truth;
  about 70 volunteers and 5-6 one-to-one mothers each; 1,038 s.
* ``--time weeks`` (a straight line through end questionnaires returned after week 12, where the
  simulated change has stopped growing): coverage 0.920 (184 / 200), all 16 misses above the
  interval, estimates 8 % low on average: the misfit of time, not the interval, costs coverage.
* At the evidence's defaults (0.1 SD, 2.5 starters per volunteer, ``--volunteer-sd 0.1
  --mothers-per-volunteer 2.5 --n 800``), a pilot of 20 cohorts x 50 refits covered 20 / 20, but
  trivially: every lower limit was 0 and the upper limits 15-35 x the truth, 14 of 20 estimates
  were 0. With about 1.5 one-to-one mothers per volunteer a volunteer slope variance of 0.1 SD is
  not separable from the mothers' own slopes, which is why the check uses the larger design.

The script first times one cohort and prints the estimated total; it stops there when that is over
``--max-minutes`` unless ``--force`` is given (each cohort is ``--refits`` + 1 multi-term fits).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _cohort import wemwbs_frame
from joblib import Parallel, delayed



def one(seed: int, n: int, refits: int, volunteer_sd: float, per_volunteer: float,
        time: str = "capped") -> dict:
    import evalkit as ek
    from evalkit.models.variance_share import variance_shares

    warnings.simplefilter("ignore")
    sim, frame = wemwbs_frame(n=n, seed=seed, volunteer_sd=volunteer_sd,
                              mothers_per_volunteer=per_volunteer)
    keep = (frame["delivery_mode"].astype(str).eq("one_to_one")
            & frame["wave"].isin(["baseline", "mid", "end"]))
    d = frame.loc[keep].dropna(subset=["wemwbs"]).copy()
    # the simulator's change builds linearly to week 12 and is then kept (g(t) = min(t, 12) / 12):
    # "capped" fits that shape, "weeks" a straight line through the later end questionnaires
    d["t"] = np.minimum(d["weeks"], 12.0) if time == "capped" else d["weeks"]
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="t",
                       random="(1 + t | participant_id) + (0 + t | volunteer_id)")
    shares = variance_shares(fit, d, n_boot=refits, seed=seed).set_index("group")
    weeks = d.loc[fit.design.rows, "t"].astype(float)
    slope_sd = sim.truth.random_effects["volunteer_sd"]["wemwbs"] / 12   # per week
    truth = slope_sd ** 2 * float((weeks ** 2).mean())
    row = shares.loc["volunteer_id"]
    return {"seed": seed, "truth": truth, "estimate": row.variance, "ci_low": row.variance_ci_low,
            "ci_high": row.variance_ci_high, "refits": int(row.refits),
            "covered": bool(row.variance_ci_low <= truth <= row.variance_ci_high),
            "volunteers": int(row.levels)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohorts", type=int, default=200)
    p.add_argument("--n", type=int, default=1200, help="mothers referred per cohort")
    p.add_argument("--volunteer-sd", type=float, default=0.4,
                   help="volunteer SD of 12-week change, outcome SDs (simulator default 0.1)")
    p.add_argument("--mothers-per-volunteer", type=float, default=12,
                   help="starters per volunteer in each site (simulator default 2.5)")
    p.add_argument("--out", default=None, help="write the per-cohort table to this CSV")
    p.add_argument("--time", choices=("capped", "weeks"), default="capped",
                   help="capped: time as the simulator shapes change, min(weeks, 12); weeks: "
                        "a straight line in weeks")
    p.add_argument("--refits", type=int, default=200)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=15000, help="first cohort's seed")
    p.add_argument("--max-minutes", type=float, default=10.0)
    p.add_argument("--force", action="store_true")
    a = p.parse_args()
    start = time.perf_counter()
    design = (a.volunteer_sd, a.mothers_per_volunteer, a.time)
    first = one(a.seed, a.n, a.refits, *design)
    per = time.perf_counter() - start
    total = per * a.cohorts / max(a.jobs, 1)
    print(f"first cohort: {first}")
    print(f"one cohort: {per:.1f} s; {a.cohorts} cohorts on {a.jobs} jobs: about "
          f"{total / 60:.1f} min")
    if total / 60 > a.max_minutes and not a.force:
        print(f"over --max-minutes {a.max_minutes:g}: not run (use --force, fewer --refits or "
              "--cohorts)")
        return
    rest = Parallel(n_jobs=a.jobs)(delayed(one)(a.seed + i, a.n, a.refits, *design)
                                   for i in range(1, a.cohorts))
    res = pd.DataFrame([first, *rest])
    if a.out:
        res.to_csv(a.out, index=False)
    print(res.describe().round(4).to_string())
    print(f"coverage of the volunteer variance: {res.covered.mean():.3f} over {len(res)} cohorts "
          f"(target >= 0.93); {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
