"""Write ``data/small20.csv``, the 20-mother cohort of the Kenward–Roger fixtures.

Deterministic (``numpy.random.default_rng(SEED)``, plain numpy: independent of evalkit's simulator,
so the file only changes when this script does). Run from anywhere::

    python tests/reference/make_kr_data.py && Rscript tests/reference/kenward_roger_reference.R

20 mothers, 11 one-to-one and 9 in a group; planned weeks 0, 6, 12, 24 with jitter after baseline;
each mother has 1–4 consecutive waves (drop-out), so the design is unbalanced and the Kenward–Roger
adjustment of the standard errors is not zero. WEMWBS-like outcome::

    wemwbs = 44 + 0.6 * isolation_c + b0 + (0.35 - 0.15 * group + b1) * weeks + e
    (b0, b1) ~ N(0, [[6², -0.3·6·0.2], [., 0.2²]]),  e ~ N(0, 4²)

with ``isolation_c`` the mother's isolation (0–10) minus 5. Floats are rounded to 4 decimals; R
fits exactly these values. Columns as ``mothers30.csv``: ``participant_id, wave, weeks, wemwbs,
delivery_mode, isolation``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SEED = 20142
N_MOTHERS = 20
WAVES = ["baseline", "mid", "end", "follow_up"]


def small20(seed: int = SEED, n: int = N_MOTHERS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    planned = np.array([0.0, 6.0, 12.0, 24.0])
    sd0, sd1, rho = 6.0, 0.2, -0.3
    cov = np.array([[sd0 ** 2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1 ** 2]])
    modes = np.array(["one_to_one"] * 11 + ["group"] * 9)
    rng.shuffle(modes)
    n_waves = rng.choice([1, 2, 3, 4], size=n, p=[0.1, 0.2, 0.3, 0.4])
    rows = []
    for i in range(n):
        b0, b1 = rng.multivariate_normal([0.0, 0.0], cov)
        iso = round(float(rng.uniform(0.0, 10.0)), 4)
        group = modes[i] == "group"
        weeks = planned + np.r_[0.0, rng.normal(0.0, 1.0, size=3)]
        for k in range(int(n_waves[i])):
            w = round(float(weeks[k]), 4)
            y = 44.0 + 0.6 * (iso - 5.0) + b0 + (0.35 - 0.15 * group + b1) * w + rng.normal(0.0, 4.0)
            rows.append({"participant_id": f"M{i + 1:02d}", "wave": WAVES[k], "weeks": w,
                         "wemwbs": round(float(y), 4), "delivery_mode": modes[i], "isolation": iso})
    return pd.DataFrame(rows)


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    d = small20()
    d.to_csv(DATA / "small20.csv", index=False, lineterminator="\n")
    per = d.groupby("participant_id").size().value_counts().sort_index().to_dict()
    modes = {str(k): int(v) for k, v in
             d.drop_duplicates("participant_id")["delivery_mode"].value_counts().items()}
    print(f"small20: {len(d)} rows, {d['participant_id'].nunique()} mothers, waves-per-mother {per}, "
          f"modes {modes}")


if __name__ == "__main__":
    main()
