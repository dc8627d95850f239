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

import numpy as np
import pandas as pd

from ..errors import SpecificationError

__all__ = ["variance_shares", "level_blups"]


def _term_covariance(fit, index: int) -> np.ndarray:
    """The fitted covariance of term ``index`` from the model's variance-components table."""
    td = fit.terms[index]
    vc = fit.variance_components
    rows = vc[vc["group"] == td.term.group]
    # a term split by || repeats the group: take this term's own columns
    var = {str(t): float(v) for t, v in zip(rows["term"], rows["variance"]) if pd.notna(v)}
    cor = {str(t): float(c) for t, c in zip(rows["term"], rows["correlation"]) if pd.notna(c)}
    q = len(td.names)
    sd = np.sqrt([max(var.get(n, 0.0), 0.0) for n in td.names])
    corr = np.eye(q)
    for a in range(q):
        for b in range(a + 1, q):
            ab, ba = f"{td.names[a]}:{td.names[b]}", f"{td.names[b]}:{td.names[a]}"
            r = cor.get(ab, cor.get(ba, 0.0))
            corr[a, b] = corr[b, a] = r if td.term.correlated else 0.0
    return corr * np.outer(sd, sd)


def _simulate(fit, rng: np.random.Generator) -> np.ndarray:
    """One outcome vector drawn from the fitted model on its own rows."""
    y = fit.design.X @ fit.beta + rng.normal(0.0, fit.sigma, len(fit.design.rows))
    for k, td in enumerate(fit.terms):
        cov = _term_covariance(fit, k)
        u = rng.multivariate_normal(np.zeros(len(td.names)), cov, size=len(td.levels),
                                    method="eigh")
        y = y + np.einsum("ij,ij->i", np.asarray(td.Z, float), u[td.codes])
    return y


def variance_shares(fit, data: pd.DataFrame, *, n_boot: int = 200, seed: int = 1,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Each level's variance and share of the total, with parametric-bootstrap intervals.

    Parameters
    ----------
    fit : MixedResult
        A fit with lme4 terms (``fit.terms`` not empty), e.g.
        ``random="(1 + weeks | participant_id) + (1 | volunteer_id)"``.
    data : pandas.DataFrame
        The data the model was fitted to (its rows are refitted).
    n_boot : int, default 200
        Refits; 0 gives the estimates without intervals.
    seed : int, default 1
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        ``group, levels, variance, share, share_ci_low, share_ci_high, variance_ci_low,
        variance_ci_high, refits`` (one row per grouping factor, then ``residual`` with levels
        missing). ``refits`` counts the refits that converged (the others are left out).

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
    """
    if not getattr(fit, "terms", None):
        raise SpecificationError("variance_shares needs a model fitted with lme4 terms, e.g. "
                                 "random='(1 + weeks | participant_id) + (1 | volunteer_id)'")
    if not 0 < confidence < 1:
        raise SpecificationError(f"confidence must be between 0 and 1, got {confidence!r}")
    if n_boot < 0:
        raise SpecificationError(f"n_boot must be >= 0, got {n_boot!r}")
    icc = fit.icc_by_level()
    out = pd.DataFrame({
        "group": icc["group"].to_numpy(object),
        "levels": [float(len(td.levels)) for td in fit.terms] + [np.nan],
        "variance": icc["variance"].to_numpy(float), "share": icc["icc"].to_numpy(float)})
    draws = _bootstrap(fit, data, n_boot=n_boot, seed=seed)
    alpha = (1 - confidence) / 2
    for what, col in (("share", 1), ("variance", 0)):
        if len(draws):
            lo, hi = np.quantile(draws[:, :, col], [alpha, 1 - alpha], axis=0)
        else:
            lo = hi = np.full(len(out), np.nan)
        out[f"{what}_ci_low"], out[f"{what}_ci_high"] = lo, hi
    out["refits"] = len(draws)
    return out[["group", "levels", "variance", "share", "share_ci_low", "share_ci_high",
                "variance_ci_low", "variance_ci_high", "refits"]]


def _bootstrap(fit, data: pd.DataFrame, *, n_boot: int, seed: int) -> np.ndarray:
    """``(refits, levels, 2)``: variance and share of each level in each converged refit.

    Each refit is the engine's θ search alone on the fit's own design with the drawn outcome
    (rows, fixed columns and terms do not change between draws), started at the fitted θ: the
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
                                      start=np.asarray(fit.theta, float))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            continue             # a draw the model cannot fit says nothing about the interval
        if not refit.converged:
            continue
        v = np.r_[_ml.term_variances(terms, refit.covariances()), refit.sigma ** 2]
        out.append(np.c_[v, v / v.sum()])
    return np.array(out).reshape(len(out), len(terms) + 1, 2)


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
    for k in index:
        td = fit.terms[k]
        blups = fit.ranef[group]
        rows = np.bincount(td.codes, minlength=len(td.levels)).astype(float)
        cov = _term_covariance(fit, k)
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
