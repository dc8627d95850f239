"""Time validation of 200,000 response rows (acceptance: under 10 s on 2 cores).

Run: .venv/bin/python benchmarks/bench_validate.py [--rows 200000]
Simulates a cohort large enough to give the requested number of response rows, writes it as CSV,
plants a few defects, and times `evalkit.validate` on the two files (reading included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import evalkit as ek


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    n = int(args.rows / 2.2) + 1  # the simulator gives about 2.2 response rows per referred mother
    t0 = time.perf_counter()
    sim = ek.simulate_cohort(n=n, seed=11)
    while len(sim.responses) < args.rows:
        n = int(n * args.rows / len(sim.responses)) + 50
        sim = ek.simulate_cohort(n=n, seed=11)
    resp = sim.responses.iloc[: args.rows].copy()
    people = sim.participants.loc[sim.participants["participant_id"].isin(resp["participant_id"])]
    resp.loc[resp.index[:50], "epds_4"] = 7       # 50 planted defects: found, not fatal to speed
    t_sim = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "responses.csv", Path(tmp) / "participants.csv"]
        resp.to_csv(paths[0], index=False)
        people.to_csv(paths[1], index=False)
        t0 = time.perf_counter()
        report = ek.validate([str(p) for p in paths], dictionary=dd)
        t_val = time.perf_counter() - t0
    print(f"simulated {n} mothers in {t_sim:.1f} s")
    print(f"validated {len(resp):,} response rows x {resp.shape[1]} columns + "
          f"{len(people):,} participants in {t_val:.2f} s "
          f"({len(report.problems)} problems found)")


if __name__ == "__main__":
    main()
