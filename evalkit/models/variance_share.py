"""How much of the variation lies at each level (mothers, volunteers, sites), with a 95% CI.

:func:`variance_shares` takes a mixed model with several random-effects terms (``ek.fit_mixed``
with lme4 terms) and returns, for each grouping factor and the residual, its variance and its share
of the total (the model's :meth:`~evalkit.models.mixed.MixedResult.icc_by_level`: the factor's
variance averaged over the fitted rows, over the sum of all of them), with percentile intervals
from a *parametric bootstrap*: new outcomes are drawn from the fitted model (fixed part, random
effects from each term's fitted covariance, normal residuals) on the same rows, the model is
refitted each time (the structure as fitted, no simplification; θ and σ only), and the interval is
the 2.5th to 97.5th percentile of the refits' shares. Chosen over a profile interval because the
share is a ratio of all the variance parameters (a profile would need a constrained fit per
point), and because a share near zero needs an interval that respects the boundary: a refit can
only give a share >= 0. Seeded, so the same fit and seed give the same interval.

:func:`level_blups` gives each level's predicted random effect with an interval (restricted
output: these are estimates about named people).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import SpecificationError

__all__ = ["variance_shares", "level_blups"]


def _simulate(fit, rng: np.random.Generator) -> np.ndarray:
    """One outcome vector drawn from the fitted model on its own rows.

    Random effects are ``σ T_k z`` with ``z`` standard normal and ``σ T_k`` the term's
    lower-triangular factor (lme4's Λ): rescaling the outcome or time rescales the factor's rows
    and columns, so the same seed draws the same outcomes in any units (an eigen-decomposition
    of the covariance would not: its axes turn when one variance is rescaled).
    """
    y = fit.design.X @ fit.beta + rng.normal(0.0, fit.sigma, len(fit.design.rows))
    for td, factor in zip(fit.terms, fit.raw.factors()):
        u = rng.standard_normal((len(td.levels), len(td.names))) @ factor.T
        y = y + np.einsum("ij,ij->i", np.asarray(td.Z, float), u[td.codes])
    return y


def variance_shares(fit, data: pd.DataFrame, *, time: str | None = None, n_boot: int = 200,
                    seed: int = 1, confidence: float = 0.95) -> pd.DataFrame:
    """Each level's variance and share of the total, with parametric-bootstrap intervals; with
    ``time``, also each level's share of the variation in *change*.

    Parameters
    ----------
    fit : MixedResult
        A fit with lme4 terms (``fit.terms`` not empty), e.g.
        ``random="(1 + weeks | participant_id) + (1 | volunteer_id)"``.
    data : pandas.DataFrame
        The data the model was fitted to (its rows are refitted).
    time : str, optional
        The time variable of the random slopes (e.g. ``"weeks"``). Given, the table gains
        ``change_variance`` (the variance of the level's random slope on ``time``: how much rates
        of change differ between its units, per unit of time squared), ``change_share`` (that over
        the sum of every level's slope variance: the share of the differences between mothers'
        rates of change that lies at this level) and its interval; missing for a level whose term
        has no slope on ``time`` (the model does not let change differ there) and for the residual.
    n_boot : int, default 200
        Refits; 0 gives the estimates without intervals.
    seed : int, default 1
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        ``group, levels, variance, share, share_ci_low, share_ci_high, variance_ci_low,
        variance_ci_high, refits`` (one row per grouping factor, then ``residual`` with levels
        missing), and with ``time`` ``change_variance, change_share, change_share_ci_low,
        change_share_ci_high``. ``refits`` counts the refits that converged (the others are left
        out). Shares do not depend on the units of the outcome or of time.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(7)
    >>> mother = np.repeat(np.arange(120), 3); volunteer = mother // 6
    >>> y = (40 + rng.normal(0, 2, 20)[volunteer] + rng.normal(0, 4, 120)[mother]
    ...      + rng.normal(0, 3, 360))
    >>> d = pd.DataFrame({"mother": mother, "volunteer": volunteer, "y": y})
    >>> fit = ek.fit_mixed(d, outcome="y", fixed="1", random="(1 | mother) + (1 | volunteer)")
    >>> t = variance_shares(fit, d, n_boot=10, seed=3)
    >>> t[["group", "levels", "share"]].round(2)
           group  levels  share
    0     mother   120.0   0.51
    1  volunteer    20.0   0.14
    2   residual     NaN   0.36
    >>> bool((t["share_ci_low"] <= t["share"]).all() and (t["share"] <= t["share_ci_high"]).all())
    True

    With a volunteer slope, the share of the variation in change that lies between volunteers:

    >>> weeks = np.tile([0.0, 6.0, 12.0], 120)
    >>> d["y"] = y + (0.3 + rng.normal(0, 0.1, 20)[volunteer] + rng.normal(0, 0.1, 120)[mother]) * weeks
    >>> d["weeks"] = weeks
    >>> fit = ek.fit_mixed(d, outcome="y", fixed="weeks",
    ...                    random="(1 + weeks | mother) + (0 + weeks | volunteer)")
    >>> t = variance_shares(fit, d, time="weeks", n_boot=10, seed=3)
    >>> t[["group", "change_share"]].round(2)
           group  change_share
    0     mother          0.51
    1  volunteer          0.49
    2   residual           NaN
    """
    if not getattr(fit, "terms", None):
        raise SpecificationError("variance_shares needs a model fitted with lme4 terms, e.g. "
                                 "random='(1 + weeks | participant_id) + (1 | volunteer_id)'")
    if not 0 < confidence < 1:
        raise SpecificationError(f"confidence must be between 0 and 1, got {confidence!r}")
    if n_boot < 0:
        raise SpecificationError(f"n_boot must be >= 0, got {n_boot!r}")
    icc = fit.icc_by_level()
    slopes = _slope_variances(fit.terms, fit.raw.covariances(), time)
    out = pd.DataFrame({
        "group": icc["group"].to_numpy(object),
        "levels": [float(len(td.levels)) for td in fit.terms] + [np.nan],
        "variance": icc["variance"].to_numpy(float), "share": icc["icc"].to_numpy(float)})
    draws = _bootstrap(fit, data, n_boot=n_boot, seed=seed, time=time)
    alpha = (1 - confidence) / 2
    for what, col in (("share", 1), ("variance", 0)):
        if len(draws):
            lo, hi = np.quantile(draws[:, :, col], [alpha, 1 - alpha], axis=0)
        else:
            lo = hi = np.full(len(out), np.nan)
        out[f"{what}_ci_low"], out[f"{what}_ci_high"] = lo, hi
    out["refits"] = len(draws)
    columns = ["group", "levels", "variance", "share", "share_ci_low", "share_ci_high",
               "variance_ci_low", "variance_ci_high", "refits"]
    if time is not None:
        out["change_variance"] = np.r_[slopes, np.nan]
        out["change_share"] = np.r_[_change_shares(slopes), np.nan]
        if len(draws):
            boot = _change_shares(draws[:, :-1, 2])
            with warnings.catch_warnings():   # a level without a slope is all missing: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
        else:
            lo = hi = np.full(len(slopes), np.nan)
        out["change_share_ci_low"] = np.r_[lo, np.nan]
        out["change_share_ci_high"] = np.r_[hi, np.nan]
        columns += ["change_variance", "change_share", "change_share_ci_low",
                    "change_share_ci_high"]
    return out[columns]


def _slope_variances(terms, covariances, time: str | None) -> np.ndarray:
    """Each term's variance of its random slope on ``time`` (NaN for a term without one)."""
    out = np.full(len(terms), np.nan)
    for k, (td, cov) in enumerate(zip(terms, covariances)):
        if time is not None and time in td.names:
            j = list(td.names).index(time)
            out[k] = cov[j, j]
    return out


def _change_shares(slopes: np.ndarray) -> np.ndarray:
    """Slope variances over their sum across levels (last axis); NaN where a level has none, and
    everywhere when fewer than two levels have a slope (no split of change to report)."""
    slopes = np.asarray(slopes, float)
    has = np.isfinite(slopes)
    total = np.where(has, slopes, 0.0).sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(has & (total > 0), slopes / total, np.nan)
    enough = has.sum(axis=-1, keepdims=True) >= 2
    return np.where(enough, share, np.nan)


def _bootstrap(fit, data: pd.DataFrame, *, n_boot: int, seed: int,
               time: str | None = None) -> np.ndarray:
    """``(refits, levels, 3)``: variance, share and random-slope variance on ``time`` (NaN
    without one; 0 for the residual) of each level in each converged refit.

    Each refit is the engine's θ search alone on the fit's own design with the drawn outcome
    (rows, fixed columns and terms do not change between draws; the fit's problem set-up is
    reused with each new outcome), started at the fitted θ: the
    shares need θ and σ only, so the fixed-effects tests of a full ``fit_mixed`` (Satterthwaite's
    numerical Hessian, most of a fit's time) are not computed 200 times. ``data`` is accepted for
    the public signature; the fit carries its rows.
    """
    from . import multilevel as _ml
    from . import sparse_reml as _sparse

    design, terms = fit.design, fit.terms
    engine_terms = [_sparse.Term(td.Z, td.codes, len(td.levels), td.term.correlated)
                    for td in terms]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        y = _simulate(fit, rng)
        try:
            refit = _sparse.fit_terms(design.X, y, engine_terms, reml=fit.spec.reml,
                                      start=np.asarray(fit.theta, float),
                                      problems=getattr(fit.raw, "problems", None))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            continue             # a draw the model cannot fit says nothing about the interval
        if not refit.converged:
            continue
        covs = refit.covariances()
        v = np.r_[_ml.term_variances(terms, covs), refit.sigma ** 2]
        out.append(np.c_[v, v / v.sum(), np.r_[_slope_variances(terms, covs, time), 0.0]])
    return np.array(out).reshape(len(out), len(terms) + 1, 3)


def level_blups(fit, group: str, *, confidence: float = 0.95) -> pd.DataFrame:
    """Each level's predicted random effects (BLUPs) with a normal interval from their
    conditional SD, for one grouping factor; restricted output (estimates about named people).

    The conditional SD is approximated, for a term with one column, by the shrinkage formula
    ``sqrt(v (1 - v / (v + s^2 / n_j)))`` (``v`` the term's variance, ``s^2`` the residual variance,
    ``n_j`` the level's rows): exact for a random intercept alone, and it ignores the
    uncertainty of the other terms' effects and of the fixed effects, so the intervals are slightly
    narrow. Terms with several columns give each column's BLUP without an interval.

    Returns ``level, term, blup, ci_low, ci_high, rows`` sorted by BLUP.

    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(7)
    >>> mother = np.repeat(np.arange(120), 3); volunteer = mother // 6
    >>> y = (40 + rng.normal(0, 2, 20)[volunteer] + rng.normal(0, 4, 120)[mother]
    ...      + rng.normal(0, 3, 360))
    >>> d = pd.DataFrame({"mother": mother, "volunteer": volunteer, "y": y})
    >>> fit = ek.fit_mixed(d, outcome="y", fixed="1", random="(1 | mother) + (1 | volunteer)")
    >>> b = level_blups(fit, "volunteer")
    >>> list(b.columns), len(b), bool((b["ci_low"] < b["blup"]).all())
    (['level', 'term', 'blup', 'ci_low', 'ci_high', 'rows'], 20, True)
    """
    from scipy.stats import norm

    index = [k for k, td in enumerate(fit.terms) if td.term.group == group]
    if not index:
        raise SpecificationError(f"the model has no random-effects term for {group!r}; its "
                                 f"factors are {[td.term.group for td in fit.terms]}")
    z = norm.ppf(0.5 + confidence / 2)
    frames = []
    covariances = fit.raw.covariances()
    for k in index:
        td = fit.terms[k]
        blups = fit.ranef[group]
        rows = np.bincount(td.codes, minlength=len(td.levels)).astype(float)
        cov = covariances[k]
        for j, name in enumerate(td.names):
            b = blups[name].reindex(td.levels).to_numpy(float)
            if len(td.names) == 1:
                v = cov[0, 0]
                sd = np.sqrt(v * (1 - v / (v + fit.sigma ** 2 / rows))) if v > 0 else 0 * b
            else:
                sd = np.full(len(b), np.nan)
            frames.append(pd.DataFrame({"level": td.levels.astype(str), "term": name, "blup": b,
                                        "ci_low": b - z * sd, "ci_high": b + z * sd,
                                        "rows": rows.astype(int)}))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["term", "blup"], kind="stable", ignore_index=True)
