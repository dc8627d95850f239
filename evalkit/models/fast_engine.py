"""The one-grouping-factor engine behind :func:`evalkit.fit_mixed`: a fit, its notes and tables.

:mod:`evalkit.models.reml` profiles the (RE)ML criterion over per-subject sufficient statistics
(lme4's parametrisation, standardised so that iterations and the convergence verdict do not
depend on units); this module turns its :class:`~evalkit.models.reml.ThetaFit` into the fields of
a :class:`~evalkit.models.mixed.MixedResult`: the singular-fit and convergence notes (raised as
warnings too), Satterthwaite df (:mod:`evalkit.models.satterthwaite`) and the fixed-effects and
variance tables. Several random-effects terms go to :mod:`evalkit.models.multilevel` instead.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np

from .._blas import single_threaded_blas
from ..errors import ConvergenceWarning, SingularFitWarning
from . import reml as _reml
from . import satterthwaite as _sat
from .design import Design
from .tables import variance_table as _variance_table
from .tables import wald_table as _wald_table

__all__ = ["fit_fast", "FastRaw"]


class FastRaw:
    """The fast engine's state, kept on the result as ``.raw``.

    ``fit`` is the engine's :class:`evalkit.models.reml.ThetaFit` (the standardised problem, its
    scaling and the evaluation at the optimum); ``stats`` and ``solution`` are the sufficient
    statistics and the solution on the user's scale, computed when first asked for.
    """

    def __init__(self, fit, design, satterthwaite):
        self.fit, self.design, self.satterthwaite = fit, design, satterthwaite
        self.pos = fit.pos
        self.optimizer = fit.info

    @cached_property
    def stats(self):
        d = self.design
        return _reml.sufficient_stats(d.X, d.Z, d.y, d.group, len(d.groups))

    @cached_property
    def solution(self):
        return _reml.solve(self.stats, self.fit.theta, self.pos)

    def blups(self) -> np.ndarray:
        f = self.fit
        sol = _reml.solve(f.stats_s, f.theta_s, f.pos)
        # b = s_y · b* / z_scale: the standardised problem's random effects on the user's scale
        return _reml.blups(f.stats_s, sol) * (f.scaling.y_scale / f.scaling.z_scale)


def fit_fast(spec, design: Design) -> dict:
    """Fit ``spec`` (a :class:`~evalkit.models.mixed.MixedModel` with one grouping factor) to
    ``design`` with :mod:`evalkit.models.reml`; returns the fields of its ``MixedResult``."""
    # The engine's matrix products are thin (p x 10^5 by 10^5 x p): BLAS threads only add
    # synchronisation, and on a busy machine make a fit several times slower.
    with single_threaded_blas():
        return _fit(spec, design)


def _fit(spec, design: Design) -> dict:
    tf = _reml.fit_theta(design.X, design.Z, design.y, design.group, correlated=spec.correlated,
                         reml=spec.reml, m=len(design.groups))
    theta, sigma, vcov, beta, dev, pos = tf.theta, tf.sigma, tf.vcov, tf.beta, tf.deviance, tf.pos
    n, p, q = tf.stats_s.n, tf.stats_s.p, tf.stats_s.q
    check = tf.info["check"]
    notes: list[str] = []

    lam = _reml.make_lambda(theta, q, pos)
    singular = bool(check["singular"])          # a diagonal θ < 1e-4 on the standardised scale
    cov = sigma ** 2 * lam @ lam.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd) if q > 1 and np.all(sd > 0) else None
    if corr is not None and spec.correlated and np.any(np.abs(corr[np.triu_indices(q, 1)]) > 1 - 1e-6):
        singular = True
    if not tf.converged:
        notes.append("the fit did not converge (" + "; ".join(check["messages"]) + "): at the "
                     "reported estimates the gradient of the criterion scaled by its Hessian is not "
                     "below 0.002 or the Hessian is not positive definite (lme4's check); compare "
                     "with engine='statsmodels' and treat estimates with caution")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=3)
    if singular:
        notes.append("singular fit: a random-effect variance is estimated as 0 or a correlation as "
                      "±1, so the data cannot support this random-effects structure. Estimates are "
                      "valid but the structure is over-specified; refit with simplify=True (drops the "
                      "correlation, then the random slope) or a simpler random=")
        warnings.warn(notes[-1], SingularFitWarning, stacklevel=3)

    ev = tf.evaluation
    sat = _sat.Satterthwaite(ev, float(np.sqrt(ev.pwrss / ev.nu)), tf.scaling.T)
    if not sat.positive_definite:
        notes.append("the Hessian of the variance parameters is not positive definite (typical of "
                     "a singular fit); Satterthwaite df use its positive part, as lmerTest does")
    contrast_df = sat.df

    se = np.sqrt(np.diag(vcov))
    fixed = _wald_table(design.fixed_names, beta, se, contrast_df(np.eye(p)), spec.confidence)
    vc = _variance_table(spec.subject, design.random_names, cov, sigma, spec.correlated)
    k = p + len(theta) + 1
    loglik = -dev / 2.0
    raw = FastRaw(tf, design, sat)
    return dict(fixed=fixed, variance_components=vc, beta=beta, vcov_beta=vcov, theta=theta,
                sigma=sigma, loglik=loglik, deviance=dev, aic=dev + 2 * k, bic=dev + k * np.log(n),
                n_obs=n, n_groups=tf.stats_s.m, converged=bool(tf.converged), singular=singular,
                warnings=tuple(notes), exclusions=design.exclusions, raw=raw, design=design,
                _contrast_df=contrast_df)
