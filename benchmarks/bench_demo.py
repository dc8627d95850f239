"""Time the demonstration run (simulate 300 mothers + the bundled plan) and each of its steps.

    python benchmarks/bench_demo.py [--n 300]

The issue's goal is under 120 s on 2 cores for ``make demo``'s run (the venv install is extra).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import evalkit.runner as runner
from evalkit.demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    captured = {}
    original = runner.run_plan

    def spy(*a, **k):
        captured["result"] = original(*a, **k)
        return captured["result"]

    runner.run_plan = spy
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_demo(Path(tmp) / "demo", n=args.n)
        total = time.perf_counter() - start
    timings = captured["result"].timings
    for step, seconds in sorted(timings.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{seconds:7.2f} s  {step}")
    print(f"{total:7.2f} s  total (n = {args.n}; goal < 120 s)")


if __name__ == "__main__":
    main()
