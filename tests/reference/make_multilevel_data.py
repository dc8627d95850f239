"""Write tests/reference/data/multilevel_cohort.csv: mothers in volunteers in sites, random slopes.

480 mothers, 10 per volunteer, 6 volunteers per site, 8 sites; WEMWBS-like scores at weeks 0, 6,
12 and 24 (each follow-up missing with probability 0.15). Each volunteer delivers one mode
(one_to_one or group). Truth::

    y = 45 + 0.30 weeks + 0.10 weeks·[group] + site (sd 1.5) + volunteer (sd 2, slope sd 0.08)
        + mother (sd 5, slope sd 0.15, correlation -0.2) + e (sd 3)

``volunteer`` labels repeat within sites (v1 … v6), so only ``site/volunteer`` identifies a
volunteer; ``volunteer_id`` is the unique label. Deterministic (``numpy.random.default_rng(1515)``);
floats rounded to 4 decimals. Run from the repository root: ``python tests/reference/make_multilevel_data.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "data" / "multilevel_cohort.csv"


def main() -> None:
    rng = np.random.default_rng(1515)
    n_site, per_site, per_vol = 8, 6, 10
    n_vol = n_site * per_site
    n_mom = n_vol * per_vol
    vol_site = np.repeat(np.arange(n_site), per_site)
    vol_mode = np.tile(np.array(["one_to_one", "group"]), n_vol // 2)
    mom_vol = np.repeat(np.arange(n_vol), per_vol)
    weeks = np.array([0.0, 6.0, 12.0, 24.0])
    site_b = rng.normal(0, 1.5, n_site)
    vol_b0 = rng.normal(0, 2.0, n_vol)
    vol_b1 = rng.normal(0, 0.08, n_vol)
    cov = np.array([[25.0, -0.2 * 5 * 0.15], [-0.2 * 5 * 0.15, 0.15 ** 2]])
    mom_b = rng.multivariate_normal([0.0, 0.0], cov, n_mom)
    rows = []
    for i in range(n_mom):
        v = mom_vol[i]
        s = vol_site[v]
        for w, t in enumerate(weeks):
            if w > 0 and rng.random() < 0.15:
                continue
            mu = (45 + 0.30 * t + 0.10 * t * (vol_mode[v] == "group") + site_b[s] + vol_b0[v]
                  + vol_b1[v] * t + mom_b[i, 0] + mom_b[i, 1] * t)
            rows.append({"participant_id": f"m{i + 1:04d}", "volunteer_id": f"s{s + 1}v{v % per_site + 1}",
                         "volunteer": f"v{v % per_site + 1}", "site": f"site{s + 1}",
                         "mode": vol_mode[v], "weeks": t, "wemwbs": round(mu + rng.normal(0, 3), 4)})
    pd.DataFrame(rows).to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
