"""Multiple-testing adjustment of p-values: statsmodels' ``multipletests``, plus Tukey for pairwise
contrasts.

``"holm"`` (Holm 1979), ``"bonferroni"`` and ``"bh"`` (Benjamini–Hochberg 1995 false discovery rate)
are computed by :func:`statsmodels.stats.multitest.multipletests` (methods ``holm``,
``bonferroni``, ``fdr_bh``), which gives the same numbers as R's ``p.adjust``. ``"tukey"`` refers
each pairwise contrast's t statistic to the studentized range on its own df, as emmeans does for
``adjust = "tukey"``. Missing p-values stay missing and do not count as tests.

Examples
--------
>>> from evalkit.models.multiplicity import adjust_p
>>> adjust_p([0.01, 0.04, 0.03, 0.20], "holm").round(3).tolist()
[0.04, 0.09, 0.09, 0.2]
>>> adjust_p([0.01, 0.04, 0.03, 0.20], "bh").round(4).tolist()
[0.04, 0.0533, 0.0533, 0.2]
>>> adjust_p([0.01, float("nan")], "bonferroni").tolist()
[0.01, nan]
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ..errors import SpecificationError, UnknownNameError

__all__ = ["adjust_p", "METHODS"]

#: Adjustment methods and the ``multipletests`` method behind each (None: not multipletests).
METHODS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "tukey": None, "none": None}


def adjust_p(p, method: str, *, statistic=None, df=None, k: int | None = None) -> np.ndarray:
    """Adjusted p-values, in the order given.

    Parameters
    ----------
    p : array-like of float
        Unadjusted p-values (NaN allowed: left as NaN and not counted).
    method : {"holm", "bonferroni", "bh", "tukey", "none"}
    statistic, df, k
        For ``"tukey"`` only: each contrast's t statistic and df (infinite df: normal), and the
        number of means compared.

    Returns
    -------
    numpy.ndarray
    """
    if method not in METHODS:
        raise UnknownNameError(f"adjust={method!r} is not available; choose one of "
                               f"{', '.join(METHODS)}")
    p = np.asarray(p, dtype=float)
    out = p.copy()
    ok = np.isfinite(p)
    if method == "none" or not ok.any():
        return out
    if method == "tukey":
        if statistic is None or df is None or k is None:
            raise SpecificationError("adjust='tukey' needs each contrast's statistic and df and the "
                                     "number of means compared")
        t = np.abs(np.asarray(statistic, dtype=float))
        dfs = np.asarray(df, dtype=float)
        dfs = np.where(np.isfinite(dfs), dfs, 1e6)
        return stats.studentized_range.sf(t * np.sqrt(2.0), k, dfs)
    out[ok] = multipletests(p[ok], method=METHODS[method])[1]
    return out
