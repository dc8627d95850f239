"""Time `y ~ weeks * group + (weeks | id)` (REML) at 1k, 10k and 100k mothers: fast engine,
statsmodels and lme4, in one run.

Run: .venv/bin/python benchmarks/bench_mixed.py [--sizes 1000 10000 100000]
                                                 [--skip-statsmodels-above 10000] [--full]

Data: 4 waves per mother at weeks 0/6/12/24, about 12 % of waves missing completely at random,
3 groups (A, B, C) with different mean trajectories; random intercept SD 6, random slope SD
0.15/week (correlation -0.2), residual SD 4; seed fixed, so every engine sees the same rows.

What is timed (wall clock, best of --repeats for the fast engine, one run otherwise):
  fast          ek.fit_mixed(engine="fast"): design matrices from the formula, the fit and the
                Satterthwaite df for every fixed effect — everything a user waits for.
  fast (no df)  the same steps without the Satterthwaite df, reproduced from the fast engine's
                parts (build_design, sufficient_stats, optimise_theta, solve); its logLik is checked
                against the full fit. The df stage alone is in the `df_seconds` column.
  statsmodels   ek.fit_mixed(engine="statsmodels"), design matrices included. Skipped above
                --skip-statsmodels-above mothers unless --full (which also times 100k).
  lme4          lme4::lmer(..., REML = TRUE) in Rscript, timing only the lmer() call with
                system.time() (elapsed) after a warm-up fit; reading the CSV and loading R are not
                timed. Only when Rscript is on PATH.
Peak memory of the fast engine is the tracemalloc peak (Python + numpy allocations) of a separate,
untimed ek.fit_mixed call, since tracing slows allocation; the input DataFrame is not counted.
The table is also written to benchmarks/out/bench_mixed.csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek
from evalkit.models import reml as _reml
from evalkit.models import satterthwaite as _sat
from threadpoolctl import threadpool_limits
from evalkit.models.design import build_design

OUT = Path(__file__).parent / "out" / "bench_mixed.csv"
MODEL = dict(outcome="y", fixed="weeks * group", subject="id", random="weeks")
R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(lme4))
d <- read.csv(args[1])
d$group <- factor(d$group, levels = c("A", "B", "C"))
d$id <- factor(d$id)
f <- y ~ weeks * group + (weeks | id)
warm <- d[d$id %in% levels(d$id)[1:50], ]
invisible(lmer(f, data = droplevels(warm), REML = TRUE))   # warm-up: lazy loading, JIT
t <- system.time(m <- lmer(f, data = d, REML = TRUE))
msgs <- m@optinfo$conv$lme4$messages
cat(sprintf("%.6f %.10f\n", t[["elapsed"]], as.numeric(logLik(m))))
cat(paste(gsub("[\r\n]+", " ", msgs), collapse = " | "), "\n")
"""


def simulate(mothers: int, seed: int = 20240601) -> pd.DataFrame:
    """Long data, one row per observed wave."""
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


def _quiet(fn, *args, **kwargs):
    """Call fn with evalkit's warnings recorded (not printed); returns (result, messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught]


def fit_without_df(data: pd.DataFrame) -> float:
    """The fast engine's steps up to β, Var(β) and the log-likelihood, with no Satterthwaite df."""
    with threadpool_limits(limits=1, user_api="blas"):  # as fit_mixed does
        return _fit_without_df(data)


def _fit_without_df(data: pd.DataFrame) -> float:
    design = build_design(data, outcome="y", fixed=MODEL["fixed"], subject="id", random="weeks")
    stats = _reml.sufficient_stats(design.X, design.Z, design.y, design.group)
    pos, lower = _reml.theta_layout(stats.q, True)
    theta, dev, _ = _reml.optimise_theta(stats, pos, lower, True)
    sol = _reml.solve(stats, theta, pos)
    sigma = math.sqrt(sol.pwrss / (stats.n - stats.p))
    sigma ** 2 * np.linalg.inv(sol.rxtrx)
    return -dev / 2.0


def df_stage(fit) -> None:
    """The Satterthwaite df of every fixed effect from a fitted model's state (as _fit_fast does)."""
    with threadpool_limits(limits=1, user_api="blas"):
        _df_stage(fit)


def _df_stage(fit) -> None:
    stats, pos = fit.raw.stats, fit.raw.pos
    varpar = np.r_[fit.theta, fit.sigma]
    A, _ = _sat.varpar_covariance(stats, pos, varpar, True)
    jac = _sat.vcov_jacobian(stats, pos, varpar)
    _sat.satterthwaite_df(np.eye(stats.p), fit.vcov_beta, jac, A)


def _short(note: str, width: int = 60) -> str:
    return note if len(note) <= width else note[: width - 1] + "…"


def best_of(repeats: int, fn, *args):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def time_lme4(data: pd.DataFrame, rscript: str) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        script = Path(tmp) / "fit.R"
        data.to_csv(path, index=False)
        script.write_text(R_SCRIPT)
        run = subprocess.run([rscript, str(script), str(path)], capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return math.nan, math.nan, f"failed: {last}"
    first, *rest = run.stdout.strip().splitlines()
    secs, loglik = first.split()
    msgs = " ".join(rest).strip()
    return float(secs), float(loglik), f"lme4: {msgs}" if msgs else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000],
                        help="numbers of mothers")
    parser.add_argument("--skip-statsmodels-above", type=int, default=10_000, metavar="N",
                        help="do not run statsmodels above N mothers (default 10000)")
    parser.add_argument("--full", action="store_true",
                        help="run statsmodels at every size (it takes minutes at 100k)")
    parser.add_argument("--repeats", type=int, default=3, help="fast engine: best of this many runs")
    parser.add_argument("--no-lme4", action="store_true", help="do not run lme4 even if Rscript exists")
    parser.add_argument("--out", type=Path, default=OUT, help=f"CSV output (default {OUT})")
    args = parser.parse_args()
    rscript = None if args.no_lme4 else shutil.which("Rscript")

    _quiet(ek.fit_mixed, simulate(50, seed=1), **MODEL)   # warm-up: imports, formulaic, scipy
    rows = []
    for n in args.sizes:
        data = simulate(n)
        base = {"mothers": n, "rows": len(data)}
        secs, fit = best_of(args.repeats, lambda: _quiet(ek.fit_mixed, data, **MODEL))
        fit, msgs = fit
        df_secs, _ = best_of(args.repeats, df_stage, fit)
        nodf_secs, nodf_ll = best_of(args.repeats, fit_without_df, data)
        if not math.isclose(nodf_ll, fit.loglik, rel_tol=1e-9):
            raise SystemExit(f"fast (no df) logLik {nodf_ll} differs from fit_mixed {fit.loglik}: "
                             "the benchmark's copy of the fast engine's steps is out of date")
        tracemalloc.start()
        _quiet(ek.fit_mixed, data, **MODEL)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        note = "; ".join(msgs) if msgs else ("" if fit.converged else "not converged")
        rows.append({**base, "engine": "fast", "seconds": secs, "loglik": fit.loglik,
                     "df_seconds": df_secs, "peak_mem_mb": peak / 2**20, "note": note})
        rows.append({**base, "engine": "fast (no df)", "seconds": nodf_secs, "loglik": nodf_ll,
                     "note": ""})

        if n > args.skip_statsmodels_above and not args.full:
            rows.append({**base, "engine": "statsmodels", "seconds": math.nan, "loglik": math.nan,
                         "note": f"skipped (> {args.skip_statsmodels_above})"})
        else:
            print(f"  statsmodels at {n:,} mothers (slow) …", flush=True)
            t0 = time.perf_counter()
            sm, msgs = _quiet(ek.fit_mixed, data, engine="statsmodels", **MODEL)
            secs_sm = time.perf_counter() - t0
            note = f"{len(msgs)} warning(s)" if msgs else ""
            if not sm.converged:
                note = "; ".join(x for x in ("not converged", note) if x)
            rows.append({**base, "engine": "statsmodels", "seconds": secs_sm, "loglik": sm.loglik,
                         "note": note})

        if rscript:
            secs_r, ll_r, note = time_lme4(data, rscript)
            rows.append({**base, "engine": "lme4", "seconds": secs_r, "loglik": ll_r, "note": note})
        else:
            rows.append({**base, "engine": "lme4", "seconds": math.nan, "loglik": math.nan,
                         "note": "skipped (Rscript not on PATH)" if not args.no_lme4 else "skipped"})
        for r in rows[-4:]:  # ratios against the full fast fit of the same size
            r["ratio_vs_fast"] = r["seconds"] / secs
        print(f"done: {n:,} mothers", flush=True)

    cols = ["mothers", "rows", "engine", "seconds", "loglik", "ratio_vs_fast", "df_seconds",
            "peak_mem_mb", "note"]
    table = pd.DataFrame(rows).reindex(columns=cols)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)

    def fmt(r):
        skipped = str(r.note).startswith("skipped")
        return [f"{r.mothers:,}", f"{r.rows:,}", r.engine,
                r.note if skipped else f"{r.seconds:.3f}",
                "" if skipped else f"{r.loglik:.4f}",
                "" if skipped or r.engine == "fast" else f"{r.ratio_vs_fast:.1f}x",
                "" if pd.isna(r.df_seconds) else f"{r.df_seconds:.3f}",
                "" if pd.isna(r.peak_mem_mb) else f"{r.peak_mem_mb:.1f}",
                "" if skipped or pd.isna(r.note) else _short(str(r.note))]

    head = ["mothers", "rows", "engine", "seconds", "logLik", "vs fast", "df s", "peak MB", "note"]
    body = [fmt(r) for r in table.itertuples()]
    width = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, width)).rstrip())
    for b in body:
        print("  ".join(c.rjust(w) if i not in (2, 8) else c.ljust(w)
                        for i, (c, w) in enumerate(zip(b, width))).rstrip())
    print("\nseconds: wall clock; fast = best of", args.repeats, "runs, Satterthwaite df included "
          "(df s = the df stage alone); lme4 = system.time(lmer()) elapsed, fit only.")
    print("peak MB: tracemalloc peak of one fast fit (Python and numpy allocations).")
    print("vs fast: engine seconds / fast seconds at the same size.")
    for n in args.sizes:
        sub = table.loc[table["mothers"] == n].set_index("engine")
        parts = [f"{e}/fast {sub.at[e, 'ratio_vs_fast']:.1f}x" for e in ("lme4", "statsmodels")
                 if pd.notna(sub.at[e, "ratio_vs_fast"])]
        print(f"{n:>7,} mothers: " + (", ".join(parts) or "no comparison engine run"))
    # The engines maximise the same likelihood: a fast logLik clearly below another engine's means
    # the fast engine stopped short of the maximum, and its estimates at that size are wrong.
    trouble = False
    for n in args.sizes:
        sub = table.loc[table["mothers"] == n].set_index("engine")["loglik"]
        others = sub.drop(["fast", "fast (no df)"]).dropna()
        if len(others) and sub["fast"] < others.max() - 0.01:
            trouble = True
            print(f"WARNING: at {n:,} mothers the fast engine's logLik ({sub['fast']:.4f}) is "
                  f"{others.max() - sub['fast']:.4f} below {others.idxmax()}'s ({others.max():.4f}): "
                  "the fast fit is not at the maximum, so its estimates (and timing) are not valid")
    print(f"\nwrote {args.out}")
    if trouble:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
