"""Pooling estimates across multiply imputed data sets with Rubin's rules.

:func:`pool` combines *m* sets of point estimates and their (within-imputation) sampling variances
into one tidy table per parameter, with Rubin's (1987) total variance, the relative increase in
variance due to nonresponse, the fraction of missing information and either Rubin's original
degrees of freedom or, when the complete-data degrees of freedom are known, the Barnard–Rubin
(1999) small-sample degrees of freedom. :func:`pool_fits` does the same for a list of
:class:`~evalkit.models.mixed.MixedResult` fits, one per imputed data set.

For each parameter, with :math:`m` imputations, estimates :math:`\\hat Q_\\ell` and within
variances :math:`U_\\ell`:

* :math:`\\bar Q = m^{-1}\\sum_\\ell \\hat Q_\\ell` (``estimate``)
* :math:`\\bar U = m^{-1}\\sum_\\ell U_\\ell` (``within_var``)
* :math:`B = (m-1)^{-1}\\sum_\\ell (\\hat Q_\\ell - \\bar Q)^2` (``between_var``)
* :math:`T = \\bar U + (1 + 1/m) B` (``total_var``; ``std_error`` is :math:`\\sqrt T`)
* :math:`r = (1 + 1/m) B / \\bar U` (``riv``)
* :math:`\\lambda = (1 + 1/m) B / T` (``lambda``)
* :math:`\\nu_{old} = (m-1)/\\lambda^2`; with complete-data df :math:`\\nu_{com}`,
  :math:`\\nu_{obs} = \\frac{\\nu_{com}+1}{\\nu_{com}+3}\\nu_{com}(1-\\lambda)` and
  :math:`\\nu = (1/\\nu_{old} + 1/\\nu_{obs})^{-1}` (``df``)
* :math:`\\gamma = (r + 2/(\\nu+3)) / (1 + r)` (``fmi``)

References
----------
Rubin DB (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley (pp. 76–77).
Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
*Biometrika* 86(4):948–955.
van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd ed., §2.3 (eqs. 2.20–2.32).

Examples
--------
>>> from evalkit.models.pooling import pool
>>> tab = pool([1.0, 1.2, 0.9, 1.1, 1.3], [0.04, 0.05, 0.06, 0.05, 0.05], df_complete=20)
>>> tab[["term", "estimate", "total_var", "riv", "lambda", "m"]].round(4)
  term  estimate  total_var  riv  lambda  m
0    Q       1.1       0.08  0.6   0.375  5
>>> round(float(tab["df"].iloc[0]), 3)
8.145
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._checks import check_confidence
from ..errors import SpecificationError

__all__ = ["pool", "pool_fits", "POOL_COLUMNS"]

#: Columns of the :func:`pool` / :func:`pool_fits` table, in order.
POOL_COLUMNS = ["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high",
                "within_var", "between_var", "total_var", "riv", "lambda", "fmi", "m"]


def _as_matrix(values, what: str) -> tuple[np.ndarray, list[str] | None]:
    """``values`` as an (m, p) float array, plus column names when it was a DataFrame/Series."""
    names = None
    if isinstance(values, pd.DataFrame):
        names = [str(c) for c in values.columns]
    elif isinstance(values, pd.Series) and values.name is not None:
        names = [str(values.name)]
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SpecificationError(f"{what} must be numbers (one per imputation, or an m x p array), "
                                 f"could not read them: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SpecificationError(f"{what} must be 1-D (m,) or 2-D (m, p), got shape {arr.shape}; "
                                 "put one row per imputation and one column per parameter")
    return arr, names


def pool(estimates, variances, *, df_complete=None, confidence: float = 0.95,
         names: Sequence[str] | None = None) -> pd.DataFrame:
    """Pool *m* imputation-specific estimates with Rubin's rules.

    Parameters
    ----------
    estimates : array-like, shape (m,) or (m, p)
        Point estimates, one row per imputed data set and one column per parameter. A DataFrame's
        columns name the parameters.
    variances : array-like, same shape as ``estimates``
        Within-imputation sampling variances (squared standard errors) of the estimates; finite
        and non-negative, with a positive mean for every parameter.
    df_complete : float or array-like of length p, optional
        Complete-data degrees of freedom :math:`\\nu_{com}` (e.g. ``n - k`` for a linear model).
        When given, ``df`` is the Barnard–Rubin (1999) small-sample df; when None or infinite,
        ``df`` is Rubin's (1987) original :math:`\\nu_{old} = (m-1)/\\lambda^2`.
    confidence : float, default 0.95
        Level of the t intervals ``ci_low``/``ci_high``.
    names : sequence of str, optional
        Parameter names for ``term``; default the DataFrame columns, else ``"Q"`` for a single
        parameter and ``"Q0", "Q1", …`` for several.

    Returns
    -------
    pandas.DataFrame
        One row per parameter with columns ``term, estimate, std_error, df, statistic, p_value,
        ci_low, ci_high, within_var, between_var, total_var, riv, lambda, fmi, m``:
        ``estimate`` is :math:`\\bar Q`; ``std_error`` :math:`\\sqrt T`; ``statistic``
        :math:`\\bar Q/\\sqrt T` referred to a t distribution on ``df`` (normal when ``df`` is
        infinite); ``riv`` the relative increase in variance :math:`r`; ``lambda`` the proportion
        of total variance due to missingness :math:`\\lambda`; ``fmi`` the fraction of missing
        information :math:`\\gamma = (r + 2/(\\nu+3))/(1+r)` (Rubin 1987, p. 77; van Buuren 2018,
        eq. 2.24), computed with the ``df`` reported in the table, as R's ``mice::pool`` does.

    Raises
    ------
    SpecificationError
        If fewer than two imputations are given, the shapes disagree, a value is not finite, a
        variance is negative or averages to zero, ``df_complete`` is not positive, or
        ``confidence`` is outside (0, 1).

    Notes
    -----
    When the estimates agree exactly (:math:`B = 0`), :math:`r = \\lambda = 0` and
    :math:`\\nu_{old} = \\infty`, so ``df`` is infinite without ``df_complete`` and equals
    :math:`\\nu_{obs} = \\nu_{com}(\\nu_{com}+1)/(\\nu_{com}+3)` with it — the Barnard–Rubin
    formula's limit as :math:`B \\to 0`, slightly below :math:`\\nu_{com}`. The Barnard–Rubin
    df never exceeds :math:`\\nu_{old}` nor :math:`\\nu_{com}`.

    References
    ----------
    Rubin DB (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
    Barnard J, Rubin DB (1999). *Biometrika* 86(4):948–955.
    van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd ed., §2.3.

    Examples
    --------
    Two parameters from three imputations, without and with complete-data df:

    >>> import numpy as np
    >>> from evalkit.models.pooling import pool
    >>> est = np.array([[2.0, 0.50], [2.2, 0.40], [2.1, 0.45]])
    >>> var = np.array([[0.09, 0.010], [0.10, 0.012], [0.11, 0.011]])
    >>> pool(est, var, names=["intercept", "slope"])[["term", "estimate", "between_var", "total_var"]].round(4)
            term  estimate  between_var  total_var
    0  intercept      2.10       0.0100     0.1133
    1      slope      0.45       0.0025     0.0143
    >>> pool(est, var, df_complete=30, names=["intercept", "slope"])["df"].round(2).tolist()
    [21.22, 13.65]
    """
    check_confidence(confidence)
    q, q_names = _as_matrix(estimates, "estimates")
    u, _ = _as_matrix(variances, "variances")
    if q.shape != u.shape:
        raise SpecificationError(f"estimates have shape {q.shape} but variances have shape {u.shape}; "
                                 "give one variance per estimate (squared standard errors)")
    m, p = q.shape
    if m < 2:
        raise SpecificationError(f"Rubin's rules need at least m = 2 imputations, got m = {m}; the "
                                 "between-imputation variance cannot be estimated from one data set")
    if not (np.isfinite(q).all() and np.isfinite(u).all()):
        raise SpecificationError("estimates and variances must all be finite; drop or refit the "
                                 "imputations that produced NaN or infinite values")
    if (u < 0).any():
        raise SpecificationError("variances must be non-negative; pass squared standard errors, "
                                 "not standard errors or covariances")
    if names is None:
        names = q_names if q_names is not None and len(q_names) == p else (
            ["Q"] if p == 1 else [f"Q{j}" for j in range(p)])
    names = [str(n) for n in names]
    if len(names) != p:
        raise SpecificationError(f"names has {len(names)} entries but there are {p} parameters; "
                                 "give one name per column of estimates")

    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    if (ubar <= 0).any():
        bad = [names[j] for j in np.flatnonzero(ubar <= 0)]
        raise SpecificationError(f"the within-imputation variance averages to zero for {bad}; "
                                 "Rubin's rules need positive sampling variances")
    b = q.var(axis=0, ddof=1)
    inflate = (1.0 + 1.0 / m) * b
    t = ubar + inflate
    riv = inflate / ubar
    lam = inflate / t
    with np.errstate(divide="ignore"):
        df_old = np.where(lam > 0, (m - 1) / np.where(lam > 0, lam, 1.0) ** 2, np.inf)

    if df_complete is None:
        df = df_old
    else:
        nu_com = np.broadcast_to(np.asarray(df_complete, dtype=float), (p,)).copy() \
            if np.ndim(df_complete) in (0, 1) and np.size(df_complete) in (1, p) else None
        if nu_com is None:
            raise SpecificationError(f"df_complete must be one number or one per parameter ({p}), "
                                     f"got shape {np.shape(df_complete)}")
        if np.isnan(nu_com).any() or (nu_com <= 0).any():
            raise SpecificationError(f"df_complete must be positive, got {df_complete!r}; use the "
                                     "complete-data residual df (e.g. n - k), or None for Rubin's df")
        finite = np.isfinite(nu_com)
        nc = np.where(finite, nu_com, 1.0)
        nu_obs = (nc + 1.0) / (nc + 3.0) * nc * (1.0 - lam)
        with np.errstate(divide="ignore"):
            df_br = 1.0 / (1.0 / df_old + 1.0 / nu_obs)
        # nu_com = inf means "large sample": Barnard-Rubin reduces to Rubin's df.
        df = np.where(finite, df_br, df_old)

    se = np.sqrt(t)
    stat = qbar / se
    fin = np.isfinite(df)
    dfs = np.where(fin, df, 1.0)
    pval = np.where(fin, 2 * stats.t.sf(np.abs(stat), dfs), 2 * stats.norm.sf(np.abs(stat)))
    crit = np.where(fin, stats.t.ppf(0.5 + confidence / 2, dfs), stats.norm.ppf(0.5 + confidence / 2))
    # 2/(nu+3) -> 0 as nu -> inf, so fmi -> r/(1+r) = lambda in large samples.
    fmi = (riv + np.where(fin, 2.0 / (dfs + 3.0), 0.0)) / (1.0 + riv)

    return pd.DataFrame({"term": names, "estimate": qbar, "std_error": se, "df": df,
                         "statistic": stat, "p_value": pval, "ci_low": qbar - crit * se,
                         "ci_high": qbar + crit * se, "within_var": ubar, "between_var": b,
                         "total_var": t, "riv": riv, "lambda": lam, "fmi": fmi,
                         "m": np.full(p, m, dtype=int)}, columns=POOL_COLUMNS)


def pool_fits(fits, *, confidence: float = 0.95) -> pd.DataFrame:
    """Pool the fixed effects of mixed-model fits to *m* imputed data sets with Rubin's rules.

    Parameters
    ----------
    fits : sequence of MixedResult
        One fit per imputed data set, all with the same fixed-effects terms (e.g. from
        :func:`evalkit.fit_mixed` with the same arguments). Anything with ``.beta``,
        ``.vcov_beta``, ``.design.fixed_names`` and a ``.fixed`` table with ``term`` and ``df``
        columns works.
    confidence : float, default 0.95
        Level of the pooled t intervals.

    Returns
    -------
    pandas.DataFrame
        The :func:`pool` table, one row per fixed effect in the fits' order.

    Raises
    ------
    SpecificationError
        If fewer than two fits are given, a fit lacks the needed attributes, or the fits' fixed
        effects differ.

    Notes
    -----
    The within variances are the diagonal of each fit's ``vcov_beta``. The complete-data degrees of
    freedom :math:`\\nu_{com}` passed to the Barnard–Rubin formula are, per term, the **mean of the
    fits' Satterthwaite df** (``fit.fixed["df"]``). Mixed models have no single residual df, so
    this is a choice: the Satterthwaite df approximates the df each analysis would have used had
    the data been complete, and averaging over imputations smooths its variation between them.
    Terms whose df are infinite (e.g. the ``"statsmodels"`` engine's z-tests) fall back to
    Rubin's original df.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> from evalkit.models.pooling import pool_fits
    >>> rng = np.random.default_rng(1)
    >>> subj = np.repeat(np.arange(12), 4); weeks = np.tile(np.arange(4.0), 12)
    >>> base = 10 + rng.normal(0, 2, 12)[subj] - 0.5 * weeks + rng.normal(0, 1, 48)
    >>> fits = [ek.fit_mixed(pd.DataFrame({"id": subj, "weeks": weeks,
    ...                                    "y": base + rng.normal(0, 0.3, 48)}),
    ...                      outcome="y", fixed="weeks", subject="id") for _ in range(3)]
    >>> tab = pool_fits(fits)
    >>> tab["term"].tolist(), int(tab["m"].iloc[0])
    (['Intercept', 'weeks'], 3)
    """
    check_confidence(confidence)
    fits = list(fits)
    if len(fits) < 2:
        raise SpecificationError(f"Rubin's rules need at least m = 2 fits, got {len(fits)}; fit the "
                                 "model to each imputed data set and pass the list")
    names = None
    est, var, dfs = [], [], []
    for i, fit in enumerate(fits):
        try:
            fit_names = [str(n) for n in fit.design.fixed_names]
            beta = np.asarray(fit.beta, dtype=float).ravel()
            vcov = np.asarray(fit.vcov_beta, dtype=float)
            table = fit.fixed.set_index(fit.fixed["term"].astype(str))
        except (AttributeError, KeyError, TypeError) as exc:
            raise SpecificationError(f"fit {i} is not a mixed-model result ({exc}); pass the "
                                     "MixedResult objects returned by evalkit.fit_mixed") from None
        if names is None:
            names = fit_names
        elif fit_names != names:
            raise SpecificationError(f"fit {i} has fixed effects {fit_names} but fit 0 has {names}; "
                                     "fit the same model (same formula and reference levels) to every "
                                     "imputed data set")
        if vcov.shape != (len(names), len(names)) or beta.shape != (len(names),):
            raise SpecificationError(f"fit {i} has {beta.size} coefficients and a {vcov.shape} "
                                     f"covariance matrix for {len(names)} fixed effects")
        missing = [n for n in names if n not in table.index]
        if missing or "df" not in table.columns:
            raise SpecificationError(f"fit {i}'s fixed table lacks df for {missing or names}; it "
                                     "needs 'term' and 'df' columns")
        est.append(beta)
        var.append(np.diag(vcov))
        dfs.append(table.loc[names, "df"].to_numpy(dtype=float))
    nu_com = np.mean(dfs, axis=0)
    if np.isnan(nu_com).any():
        raise SpecificationError("a fit reports NaN degrees of freedom; refit it or use pool() with "
                                 "df_complete set explicitly")
    return pool(np.vstack(est), np.vstack(var), df_complete=nu_com, confidence=confidence, names=names)
