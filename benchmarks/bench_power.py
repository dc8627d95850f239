"""Power by simulation: wall time of a power curve, and time per refit against lme4 (simr's way).

Problem (issue 16): ``y ~ weeks * mode + (weeks | id)``, REML, waves at weeks 0/6/12/24, two
equal groups, random intercept SD 6, slope SD 0.15/week, residual SD 4, test of the difference in
change ``weeks:mode[T.one_to_one]`` (true value 0.1 points a week), Satterthwaite df.

Run::

    .venv/bin/python benchmarks/bench_power.py [--nsim 1000] [--sizes 100 150 200 250 300]
                                                [--n-jobs 2] [--r-fits 100]

Parts, all in one run:

1. **Power curve** — ``ek.power_curve(..., sizes=SIZES, nsim=NSIM, n_jobs=N_JOBS)`` with drop-out
   10/20/30 % by weeks 6/12/24: wall time including joblib's worker start-up.
2. **The issue's target** — 1,000 simulations for 300 mothers × 4 waves (complete data) with
   ``n_jobs=N_JOBS``: wall time (target < 60 s on 2 cores).
3. **Time per fit against lme4** — ``R_FITS`` simulated studies of 300 mothers × 4 waves
   (complete data, so lme4's ``refit`` applies) are written to one CSV. evalkit: each study
   simulated, refitted (fast engine, warm start) and tested with Satterthwaite df, in this
   process (median of 3 passes). R, in one ``Rscript`` process after a warm-up fit:
   ``lme4::refit(fit0, newresp = y)`` with ``coef(summary(.))`` (simr's approach: refit the
   response, Wald t without df), and ``lmerTest::lmer(...)`` with ``summary(.)$coefficients``
   (Satterthwaite df, what evalkit computes). The estimates of the tested term are compared
   (max absolute difference reported; the run fails above 1e-4).

Results go to ``benchmarks/results/bench_power.md`` with the machine, versions and load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek
from evalkit.models.power.simulation import Problem, run_block, _seed
from evalkit.models.power.design import simulate_data, template

RESULTS = Path(__file__).parent / "results"
TERM = "weeks:mode[T.one_to_one]"
SPEC = dict(fixed="weeks * mode", random="weeks",
            effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0, TERM: 0.1},
            variance={"intercept_sd": 6, "slope_sd": 0.15, "correlation": 0, "residual_sd": 4},
            waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5}, test=TERM)

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
d <- read.csv(args[1])
d$mode <- factor(d$mode, levels = c("group", "one_to_one"))
sims <- sort(unique(d$sim))
first <- d[d$sim == sims[1], ]
fit0 <- lme4::lmer(y ~ weeks * mode + (weeks | id), data = first, REML = TRUE)
invisible(lmerTest::lmer(y ~ weeks * mode + (weeks | id), data = first, REML = TRUE))
term <- "weeks:modeone_to_one"
est_refit <- numeric(length(sims)); est_lt <- numeric(length(sims))
t_refit <- system.time(for (i in seq_along(sims)) {
  f <- lme4::refit(fit0, newresp = d$y[d$sim == sims[i]])
  est_refit[i] <- coef(summary(f))[term, "Estimate"]
})[["elapsed"]]
t_lt <- system.time(for (i in seq_along(sims)) {
  f <- lmerTest::lmer(y ~ weeks * mode + (weeks | id), data = d[d$sim == sims[i], ], REML = TRUE)
  est_lt[i] <- summary(f)$coefficients[term, "Estimate"]
})[["elapsed"]]
cat(sprintf("refit %.6f\nlmertest %.6f\n", t_refit, t_lt))
write.csv(data.frame(sim = sims, refit = est_refit, lmertest = est_lt), args[2], row.names = FALSE)
cat(sprintf("R %s lme4 %s lmerTest %s\n", getRversion(), packageVersion("lme4"),
            packageVersion("lmerTest")))
"""


def _versions() -> str:
    import joblib
    import scipy

    return (f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, pandas {pd.__version__}, joblib {joblib.__version__}, "
            f"evalkit {ek.__version__}")


def power_curve_time(sizes, nsim, n_jobs) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    res = ek.power_curve(**SPEC, dropout=[0, 0.1, 0.2, 0.3], sizes=sizes, nsim=nsim, seed=1,
                         n_jobs=n_jobs, progress=False)
    return time.perf_counter() - start, res.table


def target_time(nsim, n_jobs) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    res = ek.power_curve(**SPEC, sizes=[300], nsim=nsim, seed=2, n_jobs=n_jobs, progress=False)
    return time.perf_counter() - start, res.table


def per_fit(r_fits: int, rscript: str | None) -> dict:
    problem = Problem.build(**SPEC)
    tmpl = template(problem.design, SPEC["fixed"], SPEC["random"], 300)
    beta = problem.truth.beta(tmpl.fixed_names)
    frames = []
    for sim in range(r_fits):
        rng = np.random.default_rng(_seed(7, sim))
        study = simulate_data(tmpl, problem.design, beta, problem.truth.random_cov(), 4.0, rng)
        frames.append(tmpl.frame.iloc[study.rows].assign(sim=sim, y=study.y)
                      .rename(columns={"participant_id": "id"}))
    data = pd.concat(frames, ignore_index=True)
    run_block(problem, 300, range(5), 7)                      # warm-up (imports, model matrices)
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        ours = run_block(problem, 300, range(r_fits), 7)
        passes.append(time.perf_counter() - start)
    out = {"evalkit_ms": 1000 * statistics.median(passes) / r_fits, "n": r_fits}
    if rscript is None:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        csv, est, script = Path(tmp) / "d.csv", Path(tmp) / "est.csv", Path(tmp) / "b.R"
        data[["sim", "id", "weeks", "mode", "y"]].to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        run = subprocess.run([rscript, str(script), str(csv), str(est)], capture_output=True,
                             text=True, timeout=3600)
        if run.returncode != 0:
            raise SystemExit(f"Rscript failed: {run.stderr.strip()[-2000:]}")
        lines = dict(line.split(" ", 1) for line in run.stdout.strip().splitlines())
        r_est = pd.read_csv(est)
    diff = float(np.max(np.abs(r_est["lmertest"].to_numpy() - ours["estimate"].to_numpy())))
    if diff > 1e-4:
        raise SystemExit(f"evalkit and lme4 estimates of {TERM} differ by {diff:.2e}")
    out.update(refit_ms=1000 * float(lines["refit"]) / r_fits,
               lmertest_ms=1000 * float(lines["lmertest"]) / r_fits, max_diff=diff,
               r_versions=lines["R"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 150, 200, 250, 300])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--r-fits", type=int, default=100)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ek.EvalkitWarning)
    load0 = os.getloadavg()
    curve_s, curve = power_curve_time(args.sizes, args.nsim, args.n_jobs)
    target_s, target = target_time(1000, args.n_jobs)
    fits = per_fit(args.r_fits, None if args.no_r else shutil.which("Rscript"))
    load1 = os.getloadavg()
    n_fits = args.nsim * len(args.sizes)
    lines = [
        "# Power by simulation: wall time and time per refit",
        "",
        "Generated by `benchmarks/bench_power.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" ({platform.machine()}, {os.cpu_count()} cores; load average {load0[0]:.2f} before, "
        f"{load1[0]:.2f} after — the machine is shared, so times are upper bounds).",
        f"{_versions()}.",
        "",
        "## Power curve: difference-in-change test",
        "",
        f"{args.nsim:,} simulations × {len(args.sizes)} sizes ({', '.join(map(str, args.sizes))} "
        f"mothers × 4 waves, drop-out 10/20/30 % by weeks 6/12/24) = {n_fits:,} refits, "
        f"`n_jobs={args.n_jobs}`: **{curve_s:.1f} s** wall "
        f"({1000 * curve_s / n_fits:.1f} ms per simulated study, worker start-up included).",
        "",
        curve[["n", "power", "ci_low", "ci_high", "n_failed", "n_singular", "bias",
               "coverage"]].round(4).to_markdown(index=False),
        "",
        "## The issue's target: 1,000 simulations, 300 mothers × 4 waves, 2 cores",
        "",
        f"**{target_s:.1f} s** wall with `n_jobs={args.n_jobs}` (target < 60 s); power "
        f"{target['power'].iloc[0]:.3f} ({target['ci_low'].iloc[0]:.3f} to "
        f"{target['ci_high'].iloc[0]:.3f}), {int(target['n_failed'].iloc[0])} failed, "
        f"{int(target['n_singular'].iloc[0])} singular.",
        "",
        f"## Time per fit against lme4 ({fits['n']} data sets of 300 mothers × 4 waves, "
        "one process)",
        "",
        "| engine | ms per data set |",
        "|---|---|",
        "| evalkit: simulate + fast refit (warm start) + Satterthwaite test | "
        f"{fits['evalkit_ms']:.1f} |",
    ]
    if "refit_ms" in fits:
        lines += [
            f"| lme4 `refit(fit0, newresp)` + `coef(summary())` (simr's approach, no df) | "
            f"{fits['refit_ms']:.1f} |",
            f"| lmerTest `lmer()` + `summary()` (Satterthwaite df) | {fits['lmertest_ms']:.1f} |",
            "",
            f"Speed-up against lme4 refit: {fits['refit_ms'] / fits['evalkit_ms']:.1f}×; against "
            f"lmerTest with Satterthwaite df: {fits['lmertest_ms'] / fits['evalkit_ms']:.1f}×. "
            f"Estimates of `{TERM}` agree with lmerTest's to {fits['max_diff']:.1e} (max abs). "
            f"R {fits['r_versions']}.",
        ]
    else:
        lines += ["", "R was not run (--no-r or no Rscript)."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_power.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
