"""The ``engine="statsmodels"`` cross-check: the same mixed model fitted by statsmodels' ``MixedLM``.

The spec and design are exactly those of the fast engine (same X, Z, y and subjects), so the two
engines can be compared number for number. Differences a reader should know:

* **Tests are z-tests** (``df = inf``): statsmodels gives no small-sample degrees of freedom, so
  p-values and intervals are slightly anti-conservative with few subjects. ``contrast`` uses z too.
* **Standard errors are statsmodels' own, and differ from lme4's**: the inverse of the joint
  observed Hessian of (β, Ψ), not σ²(X'V⁻¹X)⁻¹ as in lme4 and the fast engine. The β–Ψ cross block
  vanishes for balanced designs (identical SEs) but not for unbalanced ones. Measured against
  lme4 (largest relative difference over the fixed effects): sleepstudy (balanced) < 2e-5;
  the 3,000-mother reference cohort 0.4 %; a 303-mother cohort with binary covariates 0.8 %; the
  30-mother reference cohort 3.3 % (issue 14's audit saw up to 1.1 % on its own cases). The
  estimates, and SEs computed from them by the lme4 formula, agree. Use this engine to
  cross-check a fit, not to report one.
* **Log-likelihood**: for REML, statsmodels' ``llf`` is the REML log-likelihood with β and σ²
  profiled out, written term for term as lme4's ``-REMLcrit/2`` (log|V| + (n−p)·log(2π·r'V⁻¹r/(n−p))
  + log|X'V⁻¹X| + (n−p), with V on the σ² = 1 scale); for ML it is lme4's ``logLik``. There is no
  constant offset (checked to 1e-9 on the lme4 reference cases), so no adjustment is made.
* **Optimisers** are tried in the order lbfgs, bfgs, cg, nm until one reports convergence. Every
  failure is recorded in ``result.warnings`` and raised as :class:`~evalkit.errors.ConvergenceWarning`,
  as is any convergence diagnostic statsmodels emits about the fit that is kept. Nelder–Mead is
  skipped for uncorrelated random effects, because it ignores the ``free=`` mask that keeps the
  random-effect covariance diagonal.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import evalkit as ek
>>> rng = np.random.default_rng(7)
>>> ids = np.repeat(np.arange(40), 4)
>>> weeks = np.tile([0.0, 6.0, 12.0, 24.0], 40)
>>> y = 40 + rng.normal(0, 5, 40)[ids] + 0.4 * weeks + rng.normal(0, 3, 160)
>>> data = pd.DataFrame({"id": ids, "weeks": weeks, "y": y})
>>> sm = ek.fit_mixed(data, outcome="y", fixed="weeks", subject="id", engine="statsmodels")
>>> fast = ek.fit_mixed(data, outcome="y", fixed="weeks", subject="id")
>>> bool(np.allclose(sm.beta, fast.beta, rtol=1e-4)), bool(abs(sm.loglik - fast.loglik) < 1e-4)
(True, True)
>>> sm.fixed["df"].tolist()
[inf, inf]
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams
from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning

from ..errors import ConvergenceWarning, FitError, SingularFitWarning
from . import reml as _reml
from .design import Design
from .tables import variance_table, wald_table

__all__ = ["fit_statsmodels", "StatsmodelsRaw", "METHODS"]

METHODS = ("lbfgs", "bfgs", "cg", "nm")
_GENERIC = ("Maximum Likelihood optimization failed", "MixedLM optimization failed")


class StatsmodelsRaw:
    """The statsmodels objects behind a result (``result.raw``): ``results``, ``model``, ``method``
    (the optimiser whose fit is reported) and ``attempts`` (one line per optimiser tried)."""

    def __init__(self, results, model, method, attempts, design):
        self.results, self.model, self.method, self.attempts = results, model, method, attempts
        self._design = design

    def blups(self) -> np.ndarray:
        """Predicted random effects as an (m, q) array, rows in ``design.groups`` order."""
        m, q = len(self._design.groups), self._design.Z.shape[1]
        try:
            ranef = self.results.random_effects          # {group code: Series of length q}
        except ValueError:  # statsmodels inverts cov_re, which fails on a singular fit
            return self._blups_direct()
        out = np.zeros((m, q))
        for code, values in ranef.items():
            out[int(code)] = np.asarray(values)[:q]
        return out

    def _blups_direct(self) -> np.ndarray:
        """b_i = D Z_i' (Z_i D Z_i' + σ²I)⁻¹ (y_i − X_i β): needs no inverse of D."""
        d, res = self._design, self.results
        D, s2, beta = np.asarray(res.cov_re), float(res.scale), np.asarray(res.fe_params)
        out = np.zeros((len(d.groups), d.Z.shape[1]))
        for i in range(len(d.groups)):
            rows = d.group == i
            Zi = d.Z[rows]
            V = Zi @ D @ Zi.T + s2 * np.eye(len(Zi))
            out[i] = D @ Zi.T @ np.linalg.solve(V, d.y[rows] - d.X[rows] @ beta)
        return out


def fit_statsmodels(spec, design: Design):
    """Fit ``spec`` to ``design`` with statsmodels' ``MixedLM``; returns the fields of the
    :class:`~evalkit.models.mixed.MixedResult` (all but ``spec``), which ``fit_mixed`` assembles.

    Called by :func:`evalkit.fit_mixed` with ``engine="statsmodels"``; see the module notes for how
    the result differs from the fast engine (z-tests, no contrast df).
    """
    p, q = design.X.shape[1], design.Z.shape[1]
    free = None if spec.correlated or q == 1 else MixedLMParams.from_components(
        fe_params=np.ones(p), cov_re=np.eye(q))
    model = MixedLM(endog=design.y, exog=design.X, groups=design.group, exog_re=design.Z)

    attempts, tried, others = [], [], {}
    for method in METHODS:
        if method == "nm" and free is not None:
            attempts.append("nm skipped: Nelder–Mead ignores the mask that keeps uncorrelated "
                            "random effects uncorrelated")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(reml=spec.reml, method=method, free=free)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                res, error = None, exc
        for w in caught:  # non-convergence warnings pass through unchanged (once each)
            if not issubclass(w.category, _SMConvergenceWarning):
                others.setdefault((w.category, str(w.message)), w.message)
        sm_msgs = list(dict.fromkeys(str(w.message) for w in caught
                                     if issubclass(w.category, _SMConvergenceWarning)))
        # keep statsmodels' specific messages (e.g. the gradient norm) over its generic ones
        sm_msgs = [m for m in sm_msgs if not m.startswith(_GENERIC)] or sm_msgs
        if res is None:
            attempts.append(f"{method} failed: {error}")
            continue
        tried.append((method, res, sm_msgs))
        if res.converged:
            break
        attempts.append(f"{method} did not converge ({'; '.join(sm_msgs) or 'no message'})")
    for message in others.values():
        warnings.warn(message, stacklevel=3)
    if not tried:
        raise FitError(f"statsmodels MixedLM could not fit {spec.describe()}: "
                       + "; ".join(attempts) + ". Use engine='fast', or simplify random=")

    converged = bool(tried[-1][1].converged)
    if converged:
        method, res, sm_msgs = tried[-1]
    else:  # keep the best of the failed fits (highest finite log-likelihood)
        method, res, sm_msgs = max(tried, key=lambda t: t[1].llf if np.isfinite(t[1].llf) else -np.inf)

    notes: list[str] = []
    if attempts:
        outcome = (f"{method} converged and its estimates are reported" if converged else
                   f"no optimiser converged; the best fit ({method}) is reported and may not be "
                   "at the optimum")
        notes.append(f"statsmodels MixedLM: {'; '.join(attempts)}; {outcome}. Compare with "
                     "engine='fast' (exact profiled REML/ML) before relying on these estimates")
    if converged and sm_msgs:  # diagnostics statsmodels raised about the fit we keep
        notes.append(f"statsmodels MixedLM ({method}) warned: {'; '.join(sm_msgs)}. Its boundary "
                     "check flags any random-effect variance below 0.01 in the outcome's units; "
                     "check result.singular and variance_components, and compare with engine='fast'")
    for note in notes:
        warnings.warn(note, ConvergenceWarning, stacklevel=3)

    sigma2 = float(res.scale)
    sigma = float(np.sqrt(sigma2))
    cov = np.asarray(res.cov_re, float).reshape(q, q)
    pos, _ = _reml.theta_layout(q, spec.correlated)
    # lme4's relative factor: ΛΛ' = cov_re / σ² (diagonal Λ for uncorrelated terms)
    lam = (_psd_cholesky(cov / sigma2) if spec.correlated
           else np.diag(np.sqrt(np.clip(np.diag(cov) / sigma2, 0.0, None))))
    theta = np.array([lam[i, j] for i, j in pos])

    var = np.diag(cov)
    singular = bool(np.any(var < 1e-8 * sigma2))
    if spec.correlated and q > 1 and np.all(var > 0):
        corr = cov / np.sqrt(np.outer(var, var))
        singular = singular or bool(np.any(np.abs(corr[np.triu_indices(q, 1)]) > 1 - 1e-6))
    if singular:
        notes.append("singular fit: a random-effect variance is estimated as 0 or a correlation as "
                     "±1, so the data cannot support this random-effects structure; refit with "
                     "simplify=True or a simpler random=")
        warnings.warn(notes[-1], SingularFitWarning, stacklevel=3)

    beta = np.asarray(res.fe_params, float)
    vcov = np.asarray(res.cov_params(), float)[:p, :p]
    fixed = wald_table(design.fixed_names, beta, np.sqrt(np.diag(vcov)), np.full(p, np.inf),
                        spec.confidence)
    loglik = float(res.llf)
    dev = -2.0 * loglik
    k = p + len(theta) + 1
    n = len(design.y)
    raw = StatsmodelsRaw(res, model, method, tuple(attempts), design)
    return dict(fixed=fixed,
                variance_components=variance_table(spec.subject, design.random_names, cov, sigma,
                                                   spec.correlated),
                beta=beta, vcov_beta=vcov, theta=theta, sigma=sigma, loglik=loglik,
                deviance=dev, aic=dev + 2 * k, bic=dev + k * np.log(n), n_obs=n,
                n_groups=len(design.groups), converged=converged, singular=singular,
                warnings=tuple(notes), exclusions=design.exclusions, raw=raw, design=design,
                _contrast_df=None)


def _psd_cholesky(A: np.ndarray) -> np.ndarray:
    """Lower-triangular L with LL' = A for a positive *semi*-definite A (a zero pivot gives a zero
    column, as lme4's Λ has at a singular fit)."""
    q = A.shape[0]
    L = np.zeros_like(A)
    for j in range(q):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = np.sqrt(max(d, 0.0))
        for i in range(j + 1, q):
            L[i, j] = (A[i, j] - L[i, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 1e-12 else 0.0
    return L
