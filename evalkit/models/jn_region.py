"""The Johnson–Neyman region of significance of an effect that is linear in a moderator.

The effect at moderator value ``w`` is ``L(w) β`` with ``L(w) = L0 + w L1``; it is significant
where ``|estimate(w)| > t(df(w)) · se(w)``. With df that vary with ``w`` (Satterthwaite,
Kenward–Roger) the boundaries have no closed form, so they are the roots of that gap, bracketed
on a grid and refined with Brent's method. Shared by :func:`evalkit.johnson_neyman` (one fitted
model) and the Johnson–Neyman test of :func:`evalkit.power_curve` (every simulated study), so
both find the same region from the same numbers.

Examples
--------
>>> import numpy as np
>>> from evalkit.models.jn_region import gap_function, region
>>> # effect 1 - 0.5 w with standard error 0.2 everywhere and 100 df
>>> def rows(L):
...     return L @ np.array([1.0, -0.5]), np.full(len(L), 0.2), np.full(len(L), 100.0)
>>> gap = gap_function(rows, np.array([1.0, 0.0]), np.array([0.0, 1.0]), confidence=0.95)
>>> r = region(gap, -5.0, 5.0, n_points=41)
>>> [round(b, 3) for b in r.bounds], r.sides
([1.206, 2.794], ['significant below', 'significant above'])
>>> r.exists(1.5, 2.5), r.exists(-1.0, 0.0)
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = ["gap_function", "region", "Region"]


def gap_function(rows, L0: np.ndarray, L1: np.ndarray, *, confidence: float):
    """``gap(w) = |estimate(w)| − t(df(w)) · se(w)`` for an array of moderator values ``w``.

    ``rows(L)`` returns ``(estimate, std_error, df)`` arrays for the rows of ``L`` (a fit's
    contrasts, or a simulated study's refit); a non-finite df uses the normal quantile.
    """
    def gap(w):
        w = np.atleast_1d(np.asarray(w, float))
        est, se, df = rows(L0[None, :] + w[:, None] * L1[None, :])
        df = np.asarray(df, float)
        q = np.where(np.isfinite(df), stats.t.ppf(0.5 + confidence / 2, np.where(
            np.isfinite(df), df, 1.0)), stats.norm.ppf(0.5 + confidence / 2))
        return np.abs(np.asarray(est, float)) - q * np.asarray(se, float)

    return gap


@dataclass(frozen=True)
class Region:
    """Where the effect is significant: the grid, the gap on it, and the boundaries found."""

    grid: np.ndarray
    gap: np.ndarray
    bounds: list
    sides: list

    def exists(self, low: float, high: float) -> bool:
        """Whether the effect is significant somewhere between ``low`` and ``high``."""
        inside = (self.grid >= low) & (self.grid <= high)
        return bool(np.any(self.gap[inside] > 0) or any(low <= b <= high for b in self.bounds))


def region(gap, a: float, b: float, *, n_points: int = 201, xtol: float = 1e-10) -> Region:
    """Boundaries of the region of significance between ``a`` and ``b``.

    The gap is evaluated on ``n_points`` equally spaced values; each sign change is refined with
    Brent's method, and the side on which the effect is significant is read just above the root.
    """
    grid = np.linspace(a, b, n_points)
    g = gap(grid)
    bounds, sides = [], []
    step = 1e-6 * (b - a)

    def scalar(w):
        return float(gap(w)[0])

    for i in np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0):
        root = optimize.brentq(scalar, grid[i], grid[i + 1], xtol=xtol)
        bounds.append(root)
        sides.append("significant above" if scalar(root + step) > 0 else "significant below")
    return Region(grid=grid, gap=g, bounds=bounds, sides=sides)
