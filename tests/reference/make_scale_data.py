"""Write the CSV datasets that ``scale_reference.R`` fits (unit invariance and convergence checks).

Deterministic: every seed is fixed below. Run from the repository root (or anywhere)::

    python tests/reference/make_scale_data.py && Rscript tests/reference/scale_reference.R

Writes into ``tests/reference/data/``:

* ``scale15.csv``  -- 15 mothers, 1-4 waves at weeks 0/6/12/24 (+ jitter), y = 45 + 0.3 weeks +
  random intercept (SD 6) and slope (SD 0.15) + noise (SD 4); seed 0: an ordinary fit.
* ``scale15b.csv`` -- the same recipe, seed 5: the slope variance goes to the boundary (singular).
* ``scale60.csv``  -- 60 mothers with ``mode`` (one_to_one, group, both), slope SD 0.2; seed 11.
* ``converge400.csv.gz`` -- 400 seeded cohorts (column ``fit`` = seed 0..399) of 40 mothers each,
  ``y ~ weeks * mode + (weeks | id)`` well posed (intercept SD 6, slope SD 0.2, correlation -0.3,
  residual SD 4). To exercise scale-freeness the outcome is multiplied by 1, 100 or 1000
  (``fit % 3``) and time is in days for odd ``fit`` (column ``t``), weeks otherwise.

The outcome and time are multiplied in R and in the tests (scale15*, scale60: × 1, × 100,
× 1000; weeks or days = weeks × 7), so every variant is the same data in other units.
Floats are rounded to 4 decimals; R reads exactly these files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODES = ("one_to_one", "group", "both")


def cohort(n_id: int, seed: int, *, slope_sd: float = 0.15, modes: bool = False,
           corr: float = 0.0) -> pd.DataFrame:
    """Mothers with 1-4 observed waves (baseline always observed), jittered weeks."""
    rng = np.random.default_rng(seed)
    cov = np.array([[36.0, corr * 6.0 * slope_sd], [corr * 6.0 * slope_sd, slope_sd ** 2]])
    planned = np.array([0.0, 6.0, 12.0, 24.0])
    rows = []
    for i in range(n_id):
        b0, b1 = rng.multivariate_normal([0.0, 0.0], cov)
        mode = MODES[i % 3] if modes else None
        shift = {"one_to_one": 0.0, "group": 0.1, "both": 0.05}.get(mode, 0.0)
        weeks = planned + np.r_[0.0, rng.normal(0.0, 0.7, 3)]
        keep = rng.random(4) > 0.15
        keep[0] = True
        for t in weeks[keep]:
            y = 45.0 + b0 + (0.3 + shift + b1) * t + rng.normal(0.0, 4.0)
            row = {"id": f"M{i + 1:03d}", "weeks": round(float(t), 4), "y": round(float(y), 4)}
            if modes:
                row["mode"] = mode
            rows.append(row)
    return pd.DataFrame(rows)


def converge400() -> pd.DataFrame:
    parts = []
    for fit in range(400):
        d = cohort(40, 1000 + fit, slope_sd=0.2, modes=True, corr=-0.3)
        d["y"] = (d["y"] * (1, 100, 1000)[fit % 3]).round(4)
        d["t"] = (d["weeks"] * (7.0 if fit % 2 else 1.0)).round(4)
        d.insert(0, "fit", fit)
        parts.append(d[["fit", "id", "t", "mode", "y"]])
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    out = {
        "scale15": cohort(15, 0),
        "scale15b": cohort(15, 5),
        "scale60": cohort(60, 11, slope_sd=0.2, modes=True),
    }
    for name, d in out.items():
        d.to_csv(DATA / f"{name}.csv", index=False, lineterminator="\n")
        print(f"{name}: {len(d)} rows, {d['id'].nunique()} mothers")
    c = converge400()
    c.to_csv(DATA / "converge400.csv.gz", index=False, lineterminator="\n",
             compression={"method": "gzip", "mtime": 0})
    print(f"converge400: {len(c)} rows, {c['fit'].nunique()} fits")


if __name__ == "__main__":
    main()
