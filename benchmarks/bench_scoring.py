"""Time scoring of 100,000 participants x 4 waves x 4 instruments (acceptance: under 3 s).

Run: .venv/bin/python benchmarks/bench_scoring.py [--participants 100000]
Builds 400,000 questionnaire rows of random valid item answers (about 1% missing) for WEMWBS,
SWEMWBS, EPDS and PHQ-9 and times `ek.score` on each.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import evalkit as ek
from evalkit.errors import ProratedScoreWarning

INSTRUMENTS = ("wemwbs", "swemwbs", "epds", "phq9")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=100_000)
    args = parser.parse_args()
    rows = args.participants * 4
    rng = np.random.default_rng(3)
    frames = {}
    for inst in INSTRUMENTS:
        spec = ek.instruments.get(inst)
        cols = {}
        for k in spec.items.numbers:
            lo, hi = spec.items.range_of(k)
            v = rng.integers(int(lo), int(hi) + 1, size=rows).astype(float)
            v[rng.random(rows) < 0.01] = np.nan
            cols[f"{inst}_{k}"] = v
        frames[inst] = pd.DataFrame(cols)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProratedScoreWarning)
        for inst in INSTRUMENTS:
            ek.score(frames[inst], inst)
    elapsed = time.perf_counter() - t0
    print(f"scored {args.participants:,} participants x 4 waves x {len(INSTRUMENTS)} instruments "
          f"({rows:,} rows each) in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
