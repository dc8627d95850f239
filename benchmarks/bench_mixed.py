"""evalkit's mixed-model engine against lme4 and lmerTest, side by side on the same data.

Model (issue 14): ``y ~ weeks * group + (weeks | id)``, REML — 4 waves per mother at weeks
0/6/12/24 (about 12 % of waves missing completely at random), a 3-level group, a correlated random
intercept (SD 6) and slope (SD 0.15/week, correlation −0.2), residual SD 4; seed fixed.

Run::

    .venv/bin/python benchmarks/bench_mixed.py [--sizes 300 3000 30000 300000] [--repeats 3]

For each size the data are simulated once, written to a CSV, and timed (median of ``--repeats``):

evalkit           ``ek.fit_mixed(data, ...)`` on the DataFrame: model matrices from the formula,
                  the REML fit, and the Satterthwaite df of every fixed effect — everything a user
                  waits for. The formula's model spec is kept from the warm-up fit (what a second
                  fit of the same formula in a session costs).
evalkit (cold)    the same after ``evalkit.models.design.clear_cache()``: formulaic builds the
                  model spec from scratch, as for the first fit of a formula in a session.
lme4              ``lme4::lmer(formula, data, REML = TRUE)`` on the data frame as ``read.csv`` gives
                  it (lmer builds its own model frame and factors inside the timed call).
lmerTest + df     ``lmerTest::lmer(...)`` and ``summary(fit, ddf = "Satterthwaite")``: the same fit
                  with Satterthwaite df for every fixed effect (lmerTest's Hessian and Jacobian are
                  computed when the model is fitted, the df in ``summary``).

R runs in one ``Rscript`` process per size (``system.time(...)[["elapsed"]]`` around each call,
after a warm-up fit of the same formula on 50 mothers; reading the CSV and loading the packages
are not timed). evalkit runs in this process, also after a warm-up fit. Both use one BLAS thread
(evalkit limits itself; R's reference BLAS is single-threaded). The log-likelihoods of the three
fits are compared: evalkit's must not be below lme4's by more than 1e-4, otherwise the run fails.

Results go to ``benchmarks/results/bench_mixed.csv`` and ``benchmarks/results/bench_mixed.md``
(the table, the machine, the versions and the load average before and after the run).
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
from evalkit.models import design as _design

RESULTS = Path(__file__).parent / "results"
MODEL = dict(outcome="y", fixed="weeks * group", subject="id", random="weeks")
R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
d <- read.csv(args[1])
repeats <- as.integer(args[2])
f <- y ~ weeks * group + (weeks | id)
warm <- d[d$id %in% unique(d$id)[1:50], ]
invisible(lme4::lmer(f, data = warm, REML = TRUE))                      # warm-up: lazy loading
invisible(summary(lmerTest::lmer(f, data = warm, REML = TRUE), ddf = "Satterthwaite"))
for (k in seq_len(repeats)) {
  t <- system.time(m <- lme4::lmer(f, data = d, REML = TRUE))[["elapsed"]]
  cat(sprintf("lme4 %.6f %.10f %d\n", t, as.numeric(logLik(m)), as.integer(m@optinfo$feval)))
}
msgs <- paste(gsub("[\r\n]+", " ", unlist(m@optinfo$conv$lme4$messages)), collapse = " | ")
cat(sprintf("lme4_messages %s\n", msgs))
for (k in seq_len(repeats)) {
  t <- system.time({m2 <- lmerTest::lmer(f, data = d, REML = TRUE)
                    s <- summary(m2, ddf = "Satterthwaite")})[["elapsed"]]
  cat(sprintf("lmerTest %.6f %.10f %s\n", t, as.numeric(logLik(m2)),
              paste(sprintf("%.6f", coef(s)[, "df"]), collapse = ",")))
}
cat(sprintf("versions R=%s lme4=%s lmerTest=%s Matrix=%s BLAS=%s\n", getRversion(),
            packageVersion("lme4"), packageVersion("lmerTest"), packageVersion("Matrix"),
            basename(sessionInfo()$BLAS)))
"""


def simulate(mothers: int, seed: int = 20240601) -> pd.DataFrame:
    """Long data, one row per observed wave (``id``, ``weeks``, ``group``, ``y``)."""
    rng = np.random.default_rng(seed)
    weeks = np.array([0.0, 6.0, 12.0, 24.0])
    group = rng.choice(np.array(["A", "B", "C"]), size=mothers)
    g = pd.Series(group).map({"A": 0, "B": 1, "C": 2}).to_numpy()
    sd = np.array([6.0, 0.15])
    corr = np.array([[1.0, -0.2], [-0.2, 1.0]])
    b = rng.multivariate_normal([0.0, 0.0], corr * np.outer(sd, sd), size=mothers)
    intercept = 42.0 + np.array([0.0, -1.0, 0.5])[g] + b[:, 0]
    slope = 0.20 + np.array([0.0, 0.10, 0.05])[g] + b[:, 1]
    idx = np.repeat(np.arange(mothers), len(weeks))
    w = np.tile(weeks, mothers)
    y = intercept[idx] + slope[idx] * w + rng.normal(0.0, 4.0, len(idx))
    keep = rng.random(len(idx)) >= 0.12
    return pd.DataFrame({"id": idx[keep], "weeks": w[keep], "group": group[idx][keep],
                         "y": np.round(y[keep], 6)})


def _fit(data: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ek.fit_mixed(data, **MODEL)


def time_evalkit(data: pd.DataFrame, repeats: int, *, cold: bool) -> tuple[float, object]:
    times, fit = [], None
    for _ in range(repeats):
        if cold:
            _design.clear_cache()
        t0 = time.perf_counter()
        fit = _fit(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), fit


def time_r(data: pd.DataFrame, rscript: str, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        script = Path(tmp) / "fit.R"
        data.to_csv(path, index=False)
        script.write_text(R_SCRIPT)
        run = subprocess.run([rscript, str(script), str(path), str(repeats)], capture_output=True,
                             text=True)
    if run.returncode != 0:
        raise SystemExit(f"Rscript failed: {run.stderr.strip()[-2000:]}")
    out: dict = {"lme4": [], "lmerTest": []}
    for line in run.stdout.splitlines():
        key, _, rest = line.partition(" ")
        if key == "lme4":
            secs, ll, feval = rest.split()
            out["lme4"].append(float(secs))
            out["lme4_loglik"], out["lme4_feval"] = float(ll), int(feval)
        elif key == "lmerTest":
            secs, ll, dfs = rest.split()
            out["lmerTest"].append(float(secs))
            out["lmerTest_loglik"] = float(ll)
            out["lmerTest_df"] = [float(x) for x in dfs.split(",")]
        elif key == "lme4_messages":
            out["lme4_messages"] = rest.strip()
        elif key == "versions":
            out["versions"] = rest.strip()
    return out


def machine() -> list[str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = [ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")]
        ram = f"{int(mem[0].split()[1]) / 2**20:.0f} GiB"
    except (OSError, IndexError):
        ram = "unknown"
    import numpy
    import scipy

    return [f"CPU: {cpu}, {os.cpu_count()} logical cores; RAM {ram}; {platform.platform()}",
            f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
            f"pandas {pd.__version__}, evalkit {getattr(ek, '__version__', '?')}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3_000, 30_000, 300_000],
                        help="numbers of mothers")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    parser.add_argument("--no-r", action="store_true", help="time evalkit only")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"output folder (default {RESULTS})")
    args = parser.parse_args()
    rscript = None if args.no_r else shutil.which("Rscript")
    load_before = os.getloadavg()

    _fit(simulate(50, seed=1))          # warm-up: imports, formulaic, scipy, the BLAS probe
    rows, versions = [], ""
    for n in args.sizes:
        data = simulate(n)
        warm, fit = time_evalkit(data, args.repeats, cold=False)
        cold, _ = time_evalkit(data, args.repeats, cold=True)
        _fit(data)                        # leave the spec cached for the next size's warm timing
        row = {"mothers": n, "rows": len(data), "evalkit_s": warm, "evalkit_cold_s": cold,
               "evalkit_loglik": fit.loglik, "evalkit_evaluations": fit.raw.optimizer["evaluations"],
               "evalkit_converged": fit.converged}
        if rscript:
            r = time_r(data, rscript, args.repeats)
            versions = r.get("versions", versions)
            row.update({"lme4_s": statistics.median(r["lme4"]), "lmerTest_df_s": statistics.median(r["lmerTest"]),
                        "lme4_loglik": r["lme4_loglik"], "lme4_feval": r["lme4_feval"],
                        "lme4_messages": r.get("lme4_messages", ""),
                        "max_df_rel_diff": float(np.max(np.abs(fit.fixed["df"].to_numpy()
                                                               / np.array(r["lmerTest_df"]) - 1)))})
            if fit.loglik < r["lme4_loglik"] - 1e-4:
                raise SystemExit(f"{n:,} mothers: evalkit logLik {fit.loglik:.6f} below lme4's "
                                 f"{r['lme4_loglik']:.6f}: the fit is not at the optimum")
        rows.append(row)
        print(f"done: {n:,} mothers  evalkit {warm:.3f} s (cold {cold:.3f} s)"
              + (f"  lme4 {row['lme4_s']:.3f} s  lmerTest+df {row['lmerTest_df_s']:.3f} s" if rscript else ""),
              flush=True)
    load_after = os.getloadavg()

    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "bench_mixed.csv", index=False, lineterminator="\n")
    lines = ["# evalkit vs lme4 vs lmerTest: `y ~ weeks * group + (weeks | id)`, REML", "",
             f"`benchmarks/bench_mixed.py --sizes {' '.join(map(str, args.sizes))} --repeats "
             f"{args.repeats}`; seconds are medians of {args.repeats} runs, wall clock.", "",
             "| mothers | rows | evalkit (with df) | evalkit, first fit of the formula | lme4 (no df) | "
             "lmerTest + Satterthwaite df | evalkit vs lme4 | evalkit vs lmerTest | max df diff vs lmerTest | "
             "logLik evalkit − lme4 | deviance evaluations evalkit / lme4 |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if rscript:
            lines.append(f"| {r['mothers']:,} | {r['rows']:,} | {r['evalkit_s']:.3f} s | "
                         f"{r['evalkit_cold_s']:.3f} s | {r['lme4_s']:.3f} s | {r['lmerTest_df_s']:.3f} s | "
                         f"{r['lme4_s'] / r['evalkit_s']:.1f}× faster | "
                         f"{r['lmerTest_df_s'] / r['evalkit_s']:.1f}× faster | {r['max_df_rel_diff']:.1e} | "
                         f"{r['evalkit_loglik'] - r['lme4_loglik']:+.2e} | "
                         f"{r['evalkit_evaluations']} / {r['lme4_feval']} |")
        else:
            lines.append(f"| {r['mothers']:,} | {r['rows']:,} | {r['evalkit_s']:.3f} s | "
                         f"{r['evalkit_cold_s']:.3f} s | – | – | – | – | – | – | "
                         f"{r['evalkit_evaluations']} / – |")
    lines += ["", "Machine and software:", ""] + [f"* {m}" for m in machine()]
    if versions:
        lines.append(f"* {versions}")
    lines += [f"* load average (1, 5, 15 min) before the run {tuple(round(x, 2) for x in load_before)}, "
              f"after {tuple(round(x, 2) for x in load_after)} (other work shared the machine: "
              "all engines were slowed alike, run by run)",
              "* evalkit's deviance evaluations each compute the criterion with its exact gradient and "
              "Hessian; lme4's (`optinfo$feval`) are criterion values only (BOBYQA)."]
    msgs = [f"{r['mothers']:,}: {r['lme4_messages']}" for r in rows if r.get("lme4_messages")]
    if msgs:
        lines.append("* lme4's convergence messages: " + "; ".join(msgs))
    (args.out / "bench_mixed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
