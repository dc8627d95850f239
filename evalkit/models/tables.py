"""The coefficient and variance-component tables every mixed-model engine (and GEE) reports.

Kept apart from :mod:`evalkit.models.mixed` so that the engines (the fast engine there,
:mod:`evalkit.models.sm_engine`) and :mod:`evalkit.models.gee` build their tables the same way
without importing each other.

Examples
--------
>>> import numpy as np
>>> from evalkit.models.tables import wald_table
>>> wald_table(["weeks"], np.array([0.4]), np.array([0.1]), np.array([20.0]), 0.95).round(3)
    term  estimate  std_error    df  statistic  p_value  ci_low  ci_high
0  weeks       0.4        0.1  20.0        4.0    0.001   0.191    0.609
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special as _sp

__all__ = ["wald_table", "variance_table"]


def wald_table(terms, est, se, df, confidence) -> pd.DataFrame:
    """``term, estimate, std_error, df, statistic, p_value, ci_low, ci_high``: t tests on ``df``
    (z tests where ``df`` is infinite)."""
    # scipy.special's t distribution directly (what scipy.stats.t calls, without its ~1 ms of
    # argument handling per call: a fit builds this table once per contrast)
    stat = est / se
    finite = np.isfinite(df)
    dfx = np.where(finite, df, 1.0)
    p = np.where(finite, 2 * _sp.stdtr(dfx, -np.abs(stat)), 2 * _sp.ndtr(-np.abs(stat)))
    q = np.where(finite, _sp.stdtrit(dfx, 0.5 + confidence / 2), _sp.ndtri(0.5 + confidence / 2))
    return pd.DataFrame({"term": list(terms), "estimate": est, "std_error": se, "df": df,
                         "statistic": stat, "p_value": p, "ci_low": est - q * se, "ci_high": est + q * se})


def variance_table(subject, names, cov, sigma, correlated) -> pd.DataFrame:
    """``group, term, variance, sd, correlation`` for each random term, their correlations and the
    residual."""
    rows = [{"group": subject, "term": n, "variance": cov[i, i], "sd": np.sqrt(cov[i, i])}
            for i, n in enumerate(names)]
    q = len(names)
    if correlated:
        for i in range(q):
            for j in range(i + 1, q):
                denom = np.sqrt(cov[i, i] * cov[j, j])
                rows.append({"group": subject, "term": f"{names[i]}:{names[j]}", "variance": np.nan,
                             "sd": np.nan, "correlation": cov[i, j] / denom if denom > 0 else np.nan})
    rows.append({"group": "residual", "term": "", "variance": sigma ** 2, "sd": sigma})
    out = pd.DataFrame(rows)
    if "correlation" not in out:
        out["correlation"] = np.nan
    return out[["group", "term", "variance", "sd", "correlation"]]
