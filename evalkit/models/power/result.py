"""The result of a power simulation: power per size with its Monte Carlo interval, and more.

:func:`summarise` turns the per-study table into one row per sample size:

* ``power`` — the share of usable studies whose test rejected at ``alpha``, with a Wilson interval
  (``ci_low``, ``ci_high``) and its Monte Carlo standard error ``mc_se``;
* ``n_sim``, ``n_failed`` (fits that raised: no test; left out of the denominator and warned
  about, never counted as "not significant"), ``n_nonconverged``, ``n_singular`` (counted; their
  tests count, as in a real analysis);
* ``mean_estimate``, ``true_value``, ``bias``, ``empirical_se`` (SD of the estimates),
  ``mean_std_error`` and ``coverage`` of the (1 − alpha) confidence interval;
* ``mean_df`` and ``mean_observed`` (rows observed after drop-out).

:func:`detectable` finds the smallest true difference each size detects with a given power,
without new fits: REML (and ML) variance estimates are unchanged when the outcome is shifted by a
fixed-effects term (``y + Xδ``), so moving the true contrast from ``c0`` to ``c`` moves each
study's estimate by exactly ``c − c0`` and leaves its standard error and df as they were.

Examples
--------
>>> import pandas as pd
>>> from evalkit.models.power.result import summarise
>>> sims = pd.DataFrame({"n": [40] * 4, "sim": range(4), "n_observed": 160, "n_mothers": 40,
...                      "estimate": [0.2, 0.05, 0.3, float("nan")], "std_error": 0.08,
...                      "df": 38.0, "converged": True, "singular": False,
...                      "failed": [False, False, False, True], "message": ""})
>>> row = summarise(sims, alpha=0.05, confidence=0.95, true_value=0.1).iloc[0]
>>> round(float(row["power"]), 4), int(row["n_failed"]), round(float(row["bias"]), 3)
(0.6667, 1, 0.083)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..._result import Result
from ...errors import SpecificationError

__all__ = ["PowerResult", "summarise", "detectable"]


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return np.nan, np.nan
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def _tests(sims: pd.DataFrame, alpha: float, shift: float = 0.0):
    """Rejection and coverage of each usable study (estimates moved by ``shift``).

    A Johnson–Neyman test's studies carry their own verdict (``significant``: the region met its
    condition); every other test rejects where its t test does.
    """
    est = sims["estimate"].to_numpy(float) + shift
    se, df = sims["std_error"].to_numpy(float), sims["df"].to_numpy(float)
    crit = stats.t.ppf(1 - alpha / 2, np.where(np.isfinite(df) & (df > 0), df, np.inf))
    reject = np.abs(est) > crit * se
    if _is_region(sims):
        reject = sims["significant"].to_numpy(float) > 0.5
    return reject, est, crit * se


def _is_region(sims: pd.DataFrame) -> bool:
    return "significant" in sims and bool(sims["significant"].notna().any())


def summarise(sims: pd.DataFrame, *, alpha: float, confidence: float, true_value: float
              ) -> pd.DataFrame:
    """One row per size from the per-study table (see the module docstring for the columns)."""
    rows = []
    for n, part in sims.groupby("n", sort=True):
        ok = part[~part["failed"].astype(bool)]
        reject, est, half = _tests(ok, alpha)
        k, used = int(reject.sum()), len(ok)
        low, high = _wilson(k, used, confidence)
        share = k / used if used else np.nan
        covered = (est - half <= true_value) & (true_value <= est + half)
        rows.append({
            "n": int(n), "power": share, "ci_low": low, "ci_high": high,
            "mc_se": float(np.sqrt(share * (1 - share) / used)) if used else np.nan,
            "n_sim": len(part), "n_failed": int(part["failed"].sum()),
            "n_nonconverged": int((~ok["converged"].astype(bool)).sum()),
            "n_singular": int(ok["singular"].astype(bool).sum()),
            "mean_estimate": float(np.mean(est)) if used else np.nan,
            "true_value": float(true_value),
            "bias": float(np.mean(est) - true_value) if used else np.nan,
            "empirical_se": float(np.std(est, ddof=1)) if used > 1 else np.nan,
            "mean_std_error": float(ok["std_error"].mean()) if used else np.nan,
            "coverage": float(np.mean(covered)) if used else np.nan,
            "mean_df": float(ok["df"].mean()) if used else np.nan,
            "mean_observed": float(part["n_observed"].mean()),
        })
    return pd.DataFrame(rows)


def detectable(sims: pd.DataFrame, *, alpha: float, true_value: float, power=(0.8, 0.9)
               ) -> pd.DataFrame:
    """Smallest true difference detected with each ``power``, per size (module docstring).

    The search is over the true contrast in the direction of ``true_value`` (positive when it is
    0): the smallest value at which the share of studies rejecting reaches the target. Sizes that
    do not reach it within 20 standard errors get NaN.
    """
    if _is_region(sims):
        # a region depends on the whole line of the effect over the moderator, not on one
        # contrast: shifting the estimates cannot say where it would appear
        raise SpecificationError("detectable differences are not defined for a Johnson–Neyman "
                                 "test; rerun power_curve with other effects to see how the "
                                 "region's power moves")
    sign = -1.0 if true_value < 0 else 1.0
    rows = []
    for n, part in sims.groupby("n", sort=True):
        ok = part[~part["failed"].astype(bool)]
        # study k rejects at true value c when |e_k + s (c − c0)| > h_k (e: estimate, h: critical
        # half-width); along the sign s the candidates for the smallest c are where a study starts
        # to reject
        _, est, half = _tests(ok, alpha)
        e = sign * (est - true_value)           # estimates as if the truth were 0, along the sign
        candidates = np.sort(np.concatenate([[0.0], np.maximum(half - e, 0.0)]))
        limit = 20 * float(np.nanmedian(ok["std_error"])) if len(ok) else 0.0
        for target in np.atleast_1d(power):
            found = np.nan
            for c in candidates:
                if c > limit:
                    break
                if np.mean(np.abs(e + c + 1e-12 * max(c, 1.0)) > half) >= target:
                    found = sign * c
                    break
            rows.append({"n": int(n), "power": float(target), "difference": found})
    return pd.DataFrame(rows, columns=["n", "power", "difference"])


@dataclass(frozen=True, repr=False)
class PowerResult(Result):
    """Power by sample size from simulated studies (:func:`evalkit.models.power_curve`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per size (see :mod:`evalkit.models.power.result` for the columns).
    raw : pandas.DataFrame
        One row per simulated study: ``n, sim, n_observed, n_mothers, estimate, std_error, df,
        converged, singular, failed, message, significant`` (the last: whether a Johnson–Neyman
        region met its condition; NaN for other tests).
    test : str
        The term or contrast tested.
    alpha : float
    confidence : float
        Level of the Monte Carlo intervals of power.
    problem : dict
        The truth, design and test simulated, as plain values.
    seconds : float
        Wall time of the run (0 for a run read entirely from its checkpoint).
    backend : str
    """

    table: pd.DataFrame
    raw: pd.DataFrame = field(repr=False)
    test: str = ""
    alpha: float = 0.05
    confidence: float = 0.95
    problem: dict = field(default_factory=dict, repr=False)
    seconds: float = 0.0
    backend: str = "in-process"

    def detectable(self, *, power=(0.8, 0.9)) -> pd.DataFrame:
        """Smallest true value of the tested contrast detected with each ``power`` (a share),
        per size: ``n, power, difference`` (see :func:`detectable`)."""
        return detectable(self.raw, alpha=self.alpha, true_value=self.true_value, power=power)

    @property
    def true_value(self) -> float:
        return float(self.table["true_value"].iloc[0]) if len(self.table) else np.nan

    def plot(self, ax=None, *, target: float = 0.8):
        """The power curve with its Monte Carlo band and the target line.

        Drawn by :func:`evalkit.report.figures.draw_power` (the code of the report figure).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from ...report.figures.power import draw_power

        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.gca()
        return draw_power(ax, self.table, target=target, confidence=self.confidence)

    def _header(self) -> list[str]:
        sims = int(self.table["n_sim"].max()) if len(self.table) else 0
        return [f"power of the test of {self.test} at alpha {self.alpha:g}",
                f"{sims} simulated studies per size; {self.backend}, {self.seconds:.1f} s"]

    def _footer(self) -> list[str]:
        failed = int(self.table["n_failed"].sum()) if len(self.table) else 0
        return [f"warning: {failed} fit(s) failed and are left out of the power (n_failed)"] \
            if failed else []
