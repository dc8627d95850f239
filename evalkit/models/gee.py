"""Generalised estimating equations: a population-average sensitivity model for the mixed models.

:func:`fit_gee` fits the same fixed effects as :func:`evalkit.fit_mixed` (same formula, reference
levels, centring and exclusions, because both build the design with
:func:`evalkit.models.design.build_design`) by GEE, with a working correlation within subject and
robust (sandwich) standard errors. For a linear model the GEE coefficients estimate the same
population-average effects as the mixed model's fixed effects; the sandwich SEs stay valid when
the working correlation is wrong, which is why GEE is a useful check on the random-effects
assumptions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.genmod import families
from statsmodels.genmod.cov_struct import Autoregressive, Exchangeable, Independence
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning
from statsmodels.tools.sm_exceptions import IterationLimitWarning as _SMIterationLimitWarning

from .._checks import check_confidence
from .._result import Result
from ..errors import ConvergenceWarning, FitError, SpecificationError, UnknownNameError
from .design import Design, build_design
from .tables import wald_table

__all__ = ["GEEModel", "GEEResult", "fit_gee", "CORRELATIONS", "FAMILIES"]

CORRELATIONS = ("exchangeable", "ar1", "independence")
FAMILIES = {"gaussian": families.Gaussian, "binomial": families.Binomial,
            "poisson": families.Poisson}


@dataclass(frozen=True)
class GEEModel:
    """What to fit: outcome, fixed-effects formula, subject, working correlation and family."""

    outcome: str
    fixed: str
    subject: str = "participant_id"
    time: str | None = None
    correlation: str = "exchangeable"
    family: str = "gaussian"
    reference: tuple = ()
    centre: tuple = ()
    confidence: float = 0.95

    def __post_init__(self):
        if self.correlation not in CORRELATIONS:
            raise UnknownNameError(f"correlation {self.correlation!r} is not available; "
                                   f"correlations: {', '.join(CORRELATIONS)}")
        if self.family not in FAMILIES:
            raise UnknownNameError(f"family {self.family!r} is not available; families: "
                                   f"{', '.join(FAMILIES)}")
        if self.correlation == "ar1" and not self.time:
            raise SpecificationError("correlation='ar1' needs time=: the column that orders each "
                                     "subject's observations (e.g. time='weeks')")
        check_confidence(self.confidence, "GEEModel")

    def describe(self) -> str:
        return (f"GEE {self.outcome} ~ {self.fixed}, {self.family}, {self.correlation} working "
                f"correlation within {self.subject}")


@dataclass(frozen=True, repr=False)
class GEEResult(Result):
    """An immutable fitted GEE model.

    Attributes
    ----------
    spec : GEEModel
    fixed : pandas.DataFrame
        ``term, estimate, std_error, df, statistic, p_value, ci_low, ci_high``: robust (sandwich)
        standard errors and z-tests (``df = inf``), on the link scale. Also ``.table`` and
        ``summary()``.
    working_correlation : float
        The estimated working-correlation parameter: the common within-subject correlation
        (exchangeable), the lag-1 autocorrelation (ar1), or 0 (independence).
    scale : float
        The estimated scale (residual variance for the gaussian family).
    n_obs, n_groups : int
    converged : bool
    warnings : tuple of str
    exclusions : pandas.DataFrame
        Rows not used, by reason (as :func:`evalkit.fit_mixed`, plus "missing time" for ar1).
    raw : statsmodels GEEResults
    """

    spec: GEEModel
    fixed: pd.DataFrame
    working_correlation: float
    scale: float
    beta: np.ndarray = field(repr=False)
    vcov_beta: np.ndarray = field(repr=False)
    n_obs: int = 0
    n_groups: int = 0
    converged: bool = True
    warnings: tuple = ()
    exclusions: pd.DataFrame = field(default=None, repr=False)
    raw: object = field(default=None, repr=False)
    design: Design = field(default=None, repr=False)

    @property
    def vcov(self) -> pd.DataFrame:
        """The robust covariance matrix of the coefficients."""
        names = self.design.fixed_names
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    @property
    def table(self) -> pd.DataFrame:
        """The coefficient table (:attr:`fixed`)."""
        return self.fixed

    def _header(self) -> list[str]:
        return [self.spec.describe(), f"{self.n_obs} observations, {self.n_groups} subjects; "
                f"working correlation {self.working_correlation:.3f}; "
                f"{'converged' if self.converged else 'NOT converged'}",
                *[f"warning: {w}" for w in self.warnings]]


def fit_gee(data: pd.DataFrame, *, outcome: str, fixed: str, subject: str = "participant_id",
            time: str | None = None,
            correlation: str = "exchangeable", family: str = "gaussian",
            reference: dict | None = None, centre=None, confidence: float = 0.95) -> GEEResult:
    """Fit a population-average model by GEE with robust standard errors.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per observation.
    outcome, fixed : str
        As in :func:`evalkit.fit_mixed`: outcome column, fixed-effects formula.
    subject : str, default "participant_id"
        The participant column: observations of one subject are correlated.
    time : str, optional
        Column ordering each subject's observations; needed for ``correlation="ar1"``. Each
        subject's observations are numbered 0, 1, 2, … in the order of this column, and the AR(1)
        correlation between two observations is ρ^(difference of those numbers): *observed waves
        apart*, not time elapsed, so a missed wave does not lengthen the lag.
    correlation : {"exchangeable", "ar1", "independence"}
        The working correlation within subject.
    family : {"gaussian", "binomial", "poisson"}
        Outcome distribution (canonical link: identity, logit, log).
    reference : dict, optional
        Reference level per categorical column, as in :func:`evalkit.fit_mixed`.
    centre : str or list of str, optional
        Columns to centre at their mean, as in :func:`evalkit.fit_mixed`.
    confidence : float, default 0.95

    Returns
    -------
    GEEResult

    Notes
    -----
    Sandwich standard errors are consistent as the number of subjects grows but are biased
    downwards with few subjects (roughly under 40; Mancl & DeRouen 2001, Biometrics 57:126–134);
    with few subjects prefer the mixed model's Satterthwaite tests.

    For gaussian outcomes with the same covariate values in every subject's block (balanced, no
    missing rows), exchangeable GEE estimates equal ordinary least squares: every estimating
    step is a GLS fit with compound-symmetric V, and GLS equals OLS when V maps the column space
    of X into itself (Zyskind 1967, Ann Math Stat 38:1092–1109), which holds when X has an
    intercept and each subject's column sums of X are equal.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(3)
    >>> ids = np.repeat(np.arange(50), 4)
    >>> weeks = np.tile([0.0, 6.0, 12.0, 24.0], 50)
    >>> y = 40 + rng.normal(0, 5, 50)[ids] + 0.4 * weeks + rng.normal(0, 3, 200)
    >>> data = pd.DataFrame({"id": ids, "weeks": weeks, "wemwbs": y})
    >>> fit = ek.fit_gee(data, outcome="wemwbs", fixed="weeks", subject="id")
    >>> fit.fixed[["term", "estimate", "std_error", "df"]].round(2)
            term  estimate  std_error   df
    0  Intercept      40.1       0.84  inf
    1      weeks       0.4       0.02  inf
    >>> round(fit.working_correlation, 2)
    0.76
    >>> ar = ek.fit_gee(data, outcome="wemwbs", fixed="weeks", subject="id", time="weeks",
    ...                 correlation="ar1")
    >>> -1 < ar.working_correlation < 1
    True
    """
    spec = GEEModel(outcome=outcome, fixed=fixed, subject=subject, time=time,
                    correlation=correlation, family=family,
                    reference=tuple(sorted((reference or {}).items())),
                    centre=tuple([centre] if isinstance(centre, str) else (centre or ())),
                    confidence=confidence)
    if time is not None and time not in data.columns:
        raise SpecificationError(f"time column {time!r} is not in the data; available: "
                                 f"{', '.join(map(str, data.columns))}")
    design = build_design(data, outcome=outcome, fixed=fixed, subject=subject, random="1",
                          reference=reference, centre=list(spec.centre))
    X, y, codes, exclusions = design.X, design.y, design.group, design.exclusions
    wave = None
    if correlation == "ar1":
        t = pd.to_numeric(data.loc[design.rows, time], errors="coerce").to_numpy()
        ok = ~np.isnan(t)
        if not ok.all():
            lost = design.groups[codes[~ok]]
            exclusions = pd.concat([exclusions, pd.DataFrame(
                [{"reason": "missing time", "rows": int((~ok).sum()),
                  "subjects": int(pd.Index(lost).nunique())}])], ignore_index=True)
            X, y, codes, t = X[ok], y[ok], codes[ok], t[ok]
        frame = pd.DataFrame({"g": codes, "t": t})
        if frame.duplicated().any():
            dup = design.groups[frame.loc[frame.duplicated(), "g"].unique()]
            raise SpecificationError(f"{len(dup)} subject(s) have two rows at the same {time!r} "
                                     f"(e.g. {', '.join(map(str, dup[:5]))}); AR(1) needs one row "
                                     "per subject and time: remove or aggregate the duplicates")
        wave = frame.groupby("g")["t"].rank(method="first").to_numpy() - 1.0
        order = np.lexsort((wave, codes))
        X, y, codes, wave = X[order], y[order], codes[order], wave[order]
    n_groups = len(np.unique(codes))

    cov_struct = {"exchangeable": Exchangeable, "independence": Independence,
                  # grid=True: the lag-1 moment estimator over adjacent rows, which are adjacent
                  # waves because rows are sorted by wave within subject
                  "ar1": lambda: Autoregressive(grid=True)}[correlation]()
    model = GEE(y, X, groups=codes, time=wave, family=FAMILIES[family](), cov_struct=cov_struct)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(cov_type="robust")
    conv_types = (_SMConvergenceWarning, _SMIterationLimitWarning)
    sm_msgs = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, conv_types)))
    for w in caught:
        if not issubclass(w.category, conv_types):
            warnings.warn(w.message, stacklevel=2)
    if res is None:
        raise FitError(f"statsmodels could not fit {spec.describe()}: {'; '.join(sm_msgs)}. "
                       "Try correlation='independence' or a simpler fixed= formula")
    notes = []
    converged = bool(getattr(res, "converged", True)) and not sm_msgs
    if not converged:
        notes.append(f"GEE did not converge ({'; '.join(sm_msgs) or 'iteration limit'}): estimates "
                     "may not solve the estimating equations; try correlation='independence' "
                     "or check the outcome for separation or extreme values")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=2)

    beta = np.asarray(res.params, float)
    vcov = np.asarray(res.cov_robust, float)
    table = wald_table(design.fixed_names, beta, np.sqrt(np.diag(vcov)),
                        np.full(len(beta), np.inf), confidence)
    rho = 0.0 if correlation == "independence" else float(np.ravel(cov_struct.dep_params)[0])
    if not -1 < rho < 1:
        notes.append(f"the estimated working correlation is {rho:.3f}, outside (-1, 1), so the "
                     f"{correlation} working structure does not fit these data; use "
                     "correlation='exchangeable' or 'independence'")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=2)
    return GEEResult(spec=spec, fixed=table, working_correlation=rho,
                     scale=float(res.scale), beta=beta, vcov_beta=vcov, n_obs=len(y),
                     n_groups=n_groups, converged=converged, warnings=tuple(notes),
                     exclusions=exclusions, raw=res, design=design)
