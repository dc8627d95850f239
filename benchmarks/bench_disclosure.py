"""The disclosure matrix of issue 11, measured: cohorts x thresholds, cells hidden, audit findings.

Runs the whole job (the test plan of ``tests/pipeline/conftest.py``: two outcomes, four contexts,
Johnson-Neyman, mechanisms, engagement, attrition, multiple imputation and tipping point) on
simulated cohorts of 3 to 3,000 mothers at thresholds 5 and 10, plus the four scenarios of the
acceptance matrix, and prints one row per run: seconds for the whole run and for disclosure
control, cells hidden, and the auditor's findings (re-audited from the published folder alone).

    .venv/bin/python benchmarks/bench_disclosure.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalkit.report.disclosure.audit import audit_folder  # noqa: E402
from tests.pipeline.conftest import cohort, plan, run  # noqa: E402
from tests.pipeline.test_matrix import SCENARIOS, SIZES  # noqa: E402


def main(quick: bool = False) -> None:
    rows = []
    cases = [(n, s, t, None) for n, s, t in SIZES] + [(60, 5, 5, name) for name in SCENARIOS]
    if quick:
        cases = [c for c in cases if c[0] <= 60 and c[3] is None]
    print("| mothers | seed | threshold | scenario | run (s) | disclosure (s) | cells hidden | "
          "findings (run) | findings (re-audit) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, seed, t, scenario in cases:
        options = SCENARIOS.get(scenario, {})
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folder = Path(tmp)
            cohort(folder / "data", n=n, seed=seed, modify=options.get("modify"))
            p = plan(folder, threshold=t, **options.get("plan", {}))
            start = time.perf_counter()
            result = run(folder, p)
            seconds = time.perf_counter() - start
            again = audit_folder(folder / "report")
        row = (n, seed, t, scenario or "", f"{seconds:.1f}",
               f"{result.timings.get('disclosure control', float('nan')):.1f}",
               len(result.suppression_log), len(result.findings), len(again))
        rows.append(row)
        print("| " + " | ".join(map(str, row)) + " |", flush=True)
    total = sum(r[6] for r in rows)
    findings = sum(r[7] + r[8] for r in rows)
    print(f"\n{len(rows)} runs, {total} cells hidden in all, {findings} findings")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
