"""Mediation and moderated mediation with percentile bootstrap intervals, one row per participant.

The realist change model says that support works *through* mechanisms (feeling understood,
normalisation, hope, experiential information, negative social comparison) and that these paths
differ by context. :func:`mediation` estimates the paths from an exposure (delivery mode, dose) to
one or more mechanisms measured in parallel and on to an outcome; :func:`moderated_mediation` asks
whether one of those indirect paths is stronger in some contexts than others, either because the
context changes how much the exposure moves the mechanism (``stage="first"``) or how much the
mechanism moves the outcome (``stage="second"``).

All paths are ordinary least-squares regressions on the same complete rows, so the total effect is
exactly the direct effect plus the indirect effects. Intervals come from one percentile bootstrap
that resamples participants, computed for every path in a single vectorised pass. Rows with a
missing value in any variable used are dropped, counted by variable (``.exclusions``) and reported
with a :class:`~evalkit.errors.DataQualityWarning` -- never silently.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evalkit.models.mediation import mediation
>>> rng = np.random.default_rng(7)
>>> n = 1000
>>> x = rng.integers(0, 2, n)                        # 1 = one-to-one, 0 = group
>>> understood = 0.5 * x + rng.normal(size=n)
>>> change = 0.4 * understood + 0.2 * x + rng.normal(size=n)
>>> data = pd.DataFrame({"one_to_one": x, "understood": understood, "change": change})
>>> res = mediation(data, exposure="one_to_one", mediators="understood", outcome="change",
...                 n_boot=1000, seed=1)
>>> res.table[["path", "estimate", "ci_low", "ci_high"]].round(2)
                          path  estimate  ci_low  ci_high
0  a: one_to_one -> understood      0.41    0.29     0.54
1      b: understood -> change      0.40    0.34     0.46
2                       direct      0.23    0.10     0.36
3                        total      0.39    0.26     0.52
4         indirect: understood      0.16    0.11     0.22
5              indirect: total      0.16    0.11     0.22
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from .._compat import renamed
from .._levels import levels as _levels
from .._result import Result
from ..errors import DataQualityWarning, SpecificationError
from .coding import treatment_matrix

__all__ = ["mediation", "moderated_mediation", "MediationResult", "ModeratedMediationResult",
           "TABLE_COLUMNS", "MIN_ROWS"]

#: Columns of the ``.table`` of both results, in order.
TABLE_COLUMNS = ["path", "estimate", "std_error", "ci_low", "ci_high", "p_value"]
#: Fewest complete rows either function accepts.
MIN_ROWS = 20
_MIN_BOOT = 100
_PROGRESS_CELLS = 2_000_000      # n_boot * n above which progress=None shows a bar (on a TTY)
_CHUNK_CELLS = 1_000_000         # resamples are drawn in chunks of about this many row draws
_SINGULAR_TOL = 1e-10            # smallest / largest eigenvalue of a standardised X'WX
_FAILED_WARN = 0.01
_STAGES = ("first", "second")


# ====================================================================== results
@dataclass(frozen=True, eq=False, repr=False)
class MediationResult(Result):
    """The outcome of :func:`mediation`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per path, columns ``path, estimate, std_error, ci_low, ci_high, p_value``. Paths, in
        order: ``"a: <exposure> -> <mediator>"`` per mediator, ``"b: <mediator> -> <outcome>"`` per
        mediator, ``"direct"``, ``"total"``, ``"indirect: <mediator>"`` per mediator and
        ``"indirect: total"`` (their sum; present even with one mediator). ``std_error`` and
        ``p_value`` are OLS (t-test) for regression paths; for indirect effects ``std_error`` is the
        bootstrap SD and ``p_value`` is NaN. ``ci_low``/``ci_high`` are percentile bootstrap limits
        for every path.
    models : pandas.DataFrame
        Every coefficient of every regression (``equation, term, estimate, std_error, statistic,
        df, p_value``; OLS), including intercepts and covariates, for the methods appendix.
    bootstrap : pandas.DataFrame
        The bootstrap estimates of every path in ``table`` (one row per successful resample).
    exposure, outcome : str
    mediators, covariates : tuple of str
    exposure_levels : tuple or None
        ``(control, treated)`` when the exposure was coded from two levels; estimates are treated
        minus control. None for a numeric or boolean exposure (effects per unit; True = 1).
    n : int
        Complete rows (participants) analysed.
    n_excluded : int
        Rows of ``data`` not analysed (missing values, or an exposure level outside
        ``exposure_levels``).
    exclusions : pandas.DataFrame
        ``variable, role, reason, rows``: rows excluded per variable and reason (a row missing two
        variables counts under both, once in ``n_excluded``). Empty when nothing was excluded.
    n_boot, n_failed_boot : int
        Resamples drawn, and resamples in which a regression was singular (left out of the
        intervals; equivalent to redrawing them).
    seed : int or None
    confidence : float
    """

    table: pd.DataFrame
    models: pd.DataFrame
    bootstrap: pd.DataFrame = field(repr=False)
    exposure: str
    mediators: tuple
    outcome: str
    covariates: tuple
    exposure_levels: tuple | None
    n: int
    n_excluded: int
    exclusions: pd.DataFrame
    n_boot: int
    n_failed_boot: int
    seed: int | None
    confidence: float

    def path(self, name: str) -> pd.Series:
        """One row of ``table`` by its ``path`` label."""
        return _row(self.table, name)

    def describe(self) -> str:
        """The analysis in one paragraph (for report methods sections)."""
        cov = f", adjusting for {', '.join(self.covariates)}" if self.covariates else ""
        return (f"Parallel mediation of the effect of {_exposure_text(self)} on {self.outcome} "
                f"through {', '.join(self.mediators)}{cov}: OLS regressions of each mediator on the "
                f"exposure, and of the outcome on the exposure and all mediators; indirect effects "
                f"a*b with {_pct(self.confidence)} percentile bootstrap intervals from "
                f"{self.n_boot - self.n_failed_boot} resamples of participants (seed {self.seed}). "
                f"{self.n} participants with complete data; {self.n_excluded} excluded by listwise "
                f"deletion, which assumes data missing completely at random.")

    @property
    def raw(self) -> None:
        """None: the regressions and the bootstrap are evalkit's own (see ``models`` and
        ``bootstrap``)."""
        return None

    def _header(self) -> list[str]:
        return [f"{_exposure_text(self)} -> {', '.join(self.mediators)} -> {self.outcome}; "
                f"n = {self.n} ({self.n_excluded} excluded), {self.n_boot} bootstrap resamples"]


@dataclass(frozen=True, eq=False, repr=False)
class ModeratedMediationResult(Result):
    """The outcome of :func:`moderated_mediation`.

    Attributes
    ----------
    table : pandas.DataFrame
        ``path, estimate, std_error, ci_low, ci_high, p_value``. Regression paths (OLS ``std_error``
        and ``p_value``) -- for ``stage="first"``: ``"a: X -> M (W = 0)"`` (or ``W = <reference>``),
        ``"W -> M"``, ``"X:W -> M"``, ``"b: M -> Y"``, ``"direct"``; for ``stage="second"``:
        ``"a: X -> M"``, ``"b: M -> Y (W = 0)"``, ``"W -> Y"``, ``"M:W -> Y"``, ``"direct"``. Then
        the ``"index of moderated mediation"`` (one per non-reference level of a categorical W) and
        one ``"indirect: W = <value>"`` row per conditional indirect effect; for these
        ``std_error`` is the bootstrap SD and ``p_value`` NaN. All intervals are percentile
        bootstrap.
    conditional : pandas.DataFrame
        One row per moderator value: ``moderator_value, label, a_path, b_path, indirect, std_error,
        ci_low, ci_high`` (``a_path``/``b_path`` are the conditional paths at that value).
    models : pandas.DataFrame
        Every OLS coefficient of both regressions (``equation, term, …``).
    bootstrap : pandas.DataFrame
        Bootstrap estimates of every row of ``table`` (successful resamples).
    stage : {"first", "second"}
    exposure, mediator, outcome, moderator : str
    covariates : tuple of str
    exposure_levels : tuple or None
    moderator_kind : {"numeric", "binary", "categorical"}
    moderator_levels : tuple or None
        Levels of a categorical moderator, reference first.
    n, n_excluded, exclusions, n_boot, n_failed_boot, seed, confidence
        As in :class:`MediationResult`.
    """

    table: pd.DataFrame
    conditional: pd.DataFrame
    models: pd.DataFrame
    bootstrap: pd.DataFrame = field(repr=False)
    stage: str
    exposure: str
    mediator: str
    outcome: str
    moderator: str
    covariates: tuple
    exposure_levels: tuple | None
    moderator_kind: str
    moderator_levels: tuple | None
    n: int
    n_excluded: int
    exclusions: pd.DataFrame
    n_boot: int
    n_failed_boot: int
    seed: int | None
    confidence: float

    @property
    def index(self) -> pd.DataFrame:
        """The index-of-moderated-mediation rows of ``table``."""
        keep = self.table["path"].str.startswith("index of moderated mediation")
        return self.table.loc[keep].reset_index(drop=True)

    def path(self, name: str) -> pd.Series:
        """One row of ``table`` by its ``path`` label."""
        return _row(self.table, name)

    def describe(self) -> str:
        """The analysis in one paragraph (for report methods sections)."""
        where = ("the exposure -> mechanism path (first stage)" if self.stage == "first"
                 else "the mechanism -> outcome path (second stage)")
        cov = f", adjusting for {', '.join(self.covariates)}" if self.covariates else ""
        return (f"Moderated mediation of the effect of {_exposure_text(self)} on {self.outcome} "
                f"through {self.mediator}, with {self.moderator} moderating {where}{cov}: OLS "
                f"regressions with a product term; index of moderated mediation and conditional "
                f"indirect effects with {_pct(self.confidence)} percentile bootstrap intervals from "
                f"{self.n_boot - self.n_failed_boot} resamples of participants (seed {self.seed}). "
                f"{self.n} participants with complete data; {self.n_excluded} excluded by listwise "
                f"deletion, which assumes data missing completely at random.")

    @property
    def raw(self) -> None:
        """None: the regressions and the bootstrap are evalkit's own (see ``models`` and
        ``bootstrap``)."""
        return None

    def _header(self) -> list[str]:
        return [f"{_exposure_text(self)} -> {self.mediator} -> {self.outcome}, moderated by "
                f"{self.moderator} ({self.stage} stage); n = {self.n} ({self.n_excluded} "
                f"excluded), {self.n_boot} bootstrap resamples"]


def _row(table: pd.DataFrame, name: str) -> pd.Series:
    hit = table.loc[table["path"] == name]
    if hit.empty:
        raise SpecificationError(f"no path {name!r} in the table; paths: "
                                 f"{', '.join(map(repr, table['path']))}")
    return hit.iloc[0]


def _exposure_text(res) -> str:
    if res.exposure_levels is not None:
        return f"{res.exposure} ({res.exposure_levels[1]} vs {res.exposure_levels[0]})"
    return res.exposure


def _pct(confidence: float) -> str:
    return f"{100 * confidence:g}%"


# ====================================================================== public functions
def mediation(data: pd.DataFrame, *, exposure: str, mediators, outcome: str, covariates=(),
              exposure_levels=None, n_boot: int = 2000, seed: int | None = 0,
              confidence: float = 0.95, progress: bool | None = None) -> MediationResult:
    """Estimate how much of an exposure's effect on an outcome runs through each of several
    mechanisms measured in parallel, with percentile bootstrap intervals.

    The model is three sets of OLS regressions on the same complete rows (Hayes' PROCESS model 4
    when there are several mediators, i.e. parallel mediation):

    - a-paths: ``M_j ~ X + covariates`` for each mediator ``j``;
    - b-paths and direct effect: ``Y ~ X + M_1 + … + M_k + covariates``;
    - total effect: ``Y ~ X + covariates``.

    The indirect effect through mediator ``j`` is ``a_j * b_j``; ``indirect: total`` is their sum,
    and ``total = direct + indirect: total`` exactly.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant.
    exposure : str
        Column of the exposure X: numeric (effects per unit, e.g. sessions attended), boolean
        (True = 1), or any column with two levels named in ``exposure_levels``.
    mediators : str or sequence of str
        Mechanism column(s), numeric (a binary mediator is modelled by OLS, i.e. as a linear
        probability).
    outcome : str
        Numeric outcome column (e.g. change in WEMWBS from baseline to end).
    covariates : sequence of str, optional
        Adjusted for in every regression. Numeric and boolean columns enter as they are; text or
        categorical columns are dummy-coded against their first level (category order, else sorted).
    exposure_levels : tuple, optional
        ``(control, treated)``: code the exposure 0 for ``control`` and 1 for ``treated``; rows with
        any other (non-missing) level are excluded and counted. Required for a text or categorical
        exposure.
    n_boot : int, default 2000
        Bootstrap resamples of participants (at least 100; use 5000+ for publication-grade limits).
    seed : int or None, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives identical results.
    confidence : float, default 0.95
        Level of the intervals.
    progress : bool or None, default None
        Show a progress bar: ``None`` only when ``n_boot * n > 2e6`` and stderr is a terminal,
        ``True`` always, ``False`` never.

    Returns
    -------
    MediationResult
        ``.table`` (paths), ``.models`` (all OLS coefficients), ``.bootstrap``, ``.n``,
        ``.n_excluded``, ``.exclusions``, ``.n_failed_boot`` and :meth:`~MediationResult.describe`.

    Raises
    ------
    SpecificationError
        A column is not in ``data`` (the message lists them), a column has two roles, the exposure
        is constant or needs ``exposure_levels``, a mediator or outcome is not numeric, fewer than
        20 complete rows remain, a regression is singular (e.g. a constant covariate), or an option
        is invalid.

    Warns
    -----
    DataQualityWarning
        When rows with missing values were dropped (how many, by variable; listwise deletion assumes
        data missing completely at random), or when more than 1% of bootstrap resamples had a
        singular regression.

    Notes
    -----
    - **Intervals.** Participants are resampled with replacement ``n_boot`` times and every
      regression is refitted on each resample (as weighted normal equations, all resamples at once).
      ``ci_low``/``ci_high`` are the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles of
      the bootstrap estimates (percentile method, linear interpolation) for *every* path.
    - **Standard errors and p-values.** For the regression paths (a, b, direct, total)
      ``std_error`` and ``p_value`` are the usual OLS ones (t-test, ``n - p`` df, constant error
      variance), so near the 5% boundary the p-value and the bootstrap interval can disagree. For
      indirect effects ``std_error`` is the SD of the bootstrap estimates and ``p_value`` is NaN:
      the product ``a*b`` is not normally distributed, so judge it by its interval.
    - **Failed resamples.** A resample in which a regression is singular (e.g. it holds no one in a
      covariate level) is left out of the intervals, which is the same as drawing another;
      ``n_failed_boot`` counts them and more than 1% gives a warning.
    - **Missing data.** Listwise deletion on all variables used, before anything is estimated, so
      every path uses the same participants. It is unbiased only if data are missing completely at
      random; in routine service data the end questionnaire is often missing for the mothers who
      did worst, so compare with multiple imputation.
    - **Interpretation.** The indirect effect is causal only if there is no unmeasured confounding
      of the mechanism -> outcome path (mechanisms are not randomised), and a mechanism measured at
      the same time as the outcome cannot establish order. Mechanism ratings carry measurement
      error, which biases ``b`` towards zero and moves effect into ``direct``.
    - **Comparison with other tools.** Point estimates, OLS standard errors and p-values match
      ``pingouin.mediation_analysis`` for the a-paths, direct and total effects and indirect
      effects (pingouin's ``Y ~ M`` rows are from a regression *without* X, so they are not the
      b-paths here); pingouin's indirect intervals are bias-corrected rather than percentile.
      Unlike PyProcessMacro, the total effect is always reported.

    Examples
    --------
    Two mechanisms measured in parallel, one covariate:

    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.mediation import mediation
    >>> rng = np.random.default_rng(3)
    >>> n = 300
    >>> x = rng.integers(0, 2, n)
    >>> isolation = rng.normal(size=n)
    >>> understood = 0.5 * x + rng.normal(size=n)
    >>> hope = 0.3 * x + rng.normal(size=n)
    >>> change = 0.4 * understood + 0.2 * hope + 0.3 * isolation + rng.normal(size=n)
    >>> data = pd.DataFrame({"one_to_one": x, "understood": understood, "hope": hope,
    ...                      "isolation": isolation, "change": change})
    >>> res = mediation(data, exposure="one_to_one", mediators=["understood", "hope"],
    ...                 outcome="change", covariates=["isolation"], n_boot=500, seed=1)
    >>> res.table.round(2)
                              path  estimate  std_error  ci_low  ci_high  p_value
    0  a: one_to_one -> understood      0.26       0.11    0.05     0.47     0.02
    1        a: one_to_one -> hope      0.33       0.12    0.13     0.57     0.00
    2      b: understood -> change      0.35       0.06    0.24     0.45     0.00
    3            b: hope -> change      0.27       0.05    0.16     0.36     0.00
    4                       direct      0.13       0.11   -0.08     0.36     0.26
    5                        total      0.30       0.12    0.07     0.55     0.01
    6         indirect: understood      0.09       0.04    0.02     0.17      NaN
    7               indirect: hope      0.09       0.04    0.03     0.16      NaN
    8              indirect: total      0.18       0.06    0.08     0.29      NaN
    >>> res.n, res.n_excluded
    (300, 0)

    A two-level text exposure needs its levels, control first:

    >>> data["mode"] = np.where(x == 1, "one_to_one", "group")
    >>> res = mediation(data, exposure="mode", exposure_levels=("group", "one_to_one"),
    ...                 mediators="understood", outcome="change", n_boot=200)
    >>> round(float(res.path("a: mode -> understood")["estimate"]), 2)
    0.26
    """
    mediators = _names(mediators, "mediators")
    covariates = _names(covariates, "covariates", allow_empty=True)
    n_boot, confidence, progress = _check_options(n_boot, seed, confidence, progress)
    if len(set(mediators)) != len(mediators):
        raise SpecificationError(f"mediation(): mediators {list(mediators)} list a column twice; "
                                 "name each mechanism once")
    roles = {exposure: "exposure", **{m: "mediator" for m in mediators}, outcome: "outcome",
             **{c: "covariate" for c in covariates}}
    _check_roles(data, "mediation()", [("exposure", [exposure]), ("mediators", mediators),
                                       ("outcome", [outcome]), ("covariates", covariates)])
    prep = _prepare(data, "mediation()", roles, exposure, exposure_levels)

    x = prep.x
    med = np.column_stack([_numeric(prep.frame[m], m, "mediator", "mediation()") for m in mediators])
    y = _numeric(prep.frame[outcome], outcome, "outcome", "mediation()")
    for j, m in enumerate(mediators):
        _not_constant(med[:, j], m, "mediator", "mediation()")
    cov, cov_names = _covariate_block(prep.frame, covariates, "mediation()")
    n, k = len(y), len(mediators)
    ones = np.ones((n, 1))

    eq_a = _Equation(np.column_stack([ones, x, cov]), np.column_stack([med, y]),
                     ["Intercept", exposure, *cov_names], [*mediators, f"{outcome} (total)"],
                     "mediation()")
    eq_y = _Equation(np.column_stack([ones, x, med, cov]), y[:, None],
                     ["Intercept", exposure, *mediators, *cov_names], [outcome], "mediation()")

    names = ([f"a: {exposure} -> {m}" for m in mediators]
             + [f"b: {m} -> {outcome}" for m in mediators] + ["direct", "total"]
             + [f"indirect: {m}" for m in mediators] + ["indirect: total"])
    n_reg = 2 * k + 2

    def paths(coef_a, coef_y):
        a = coef_a[:, 1, :k]
        total = coef_a[:, 1, k]
        b = coef_y[:, 2:2 + k, 0]
        direct = coef_y[:, 1, 0]
        ab = a * b
        return np.column_stack([a, b, direct, total, ab, ab.sum(axis=1)])

    boot = _run(paths, [eq_a, eq_y], names, n_reg, n_boot, seed, confidence, progress,
                "mediation()")
    return MediationResult(
        table=boot.table, models=_models_table([eq_a, eq_y]), bootstrap=boot.draws,
        exposure=exposure, mediators=tuple(mediators), outcome=outcome,
        covariates=tuple(covariates), exposure_levels=prep.exposure_levels, n=n,
        n_excluded=prep.n_excluded, exclusions=prep.exclusions, n_boot=n_boot,
        n_failed_boot=boot.n_failed, seed=seed, confidence=confidence)


@renamed(moderator="by")
def moderated_mediation(data: pd.DataFrame, *, exposure: str, mediator: str, outcome: str,
                        by: str, stage: str = "first", covariates=(), at=None,
                        exposure_levels=None, n_boot: int = 2000, seed: int | None = 0,
                        confidence: float = 0.95,
                        progress: bool | None = None) -> ModeratedMediationResult:
    """Test whether an indirect path (exposure -> mechanism -> outcome) differs by context.

    ``stage`` says which link the context (the moderator W, column ``by``) changes:

    - ``"first"``: W changes how much the exposure moves the mechanism --
      ``M ~ X + W + X:W + covariates`` and ``Y ~ X + M + covariates`` (Hayes' PROCESS model 7).
      Conditional indirect effect ``(a1 + a3 w) * b``; index of moderated mediation ``a3 * b``.
    - ``"second"``: W changes how much the mechanism moves the outcome --
      ``M ~ X + covariates`` and ``Y ~ X + M + W + M:W + covariates`` (PROCESS model 14).
      Conditional indirect effect ``a * (b1 + b3 w)``; index ``a * b3``.

    The index is the change in the indirect effect per unit of W (per level, against the reference
    level, for a categorical W); an interval excluding 0 is evidence that mediation depends on
    context.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant.
    exposure, mediator, outcome : str
        Columns of X, M and Y, as in :func:`mediation` (one mediator).
    by : str
        The moderator W (``moderator=`` is the deprecated name): numeric, boolean (True = 1), or
        text/categorical (treatment-coded against its first level: category order, else sorted;
        terms ``W[T.level]``).
    stage : {"first", "second"}, default "first"
    covariates : sequence of str, optional
        Adjusted for in both regressions. In ``stage="first"`` W is not in the outcome regression
        (as in PROCESS model 7); list W among the covariates as well to adjust the outcome for it.
    at : sequence or dict, optional
        Moderator values for the conditional indirect effects: a list, or ``{by: values}``.
        Default: mean - 1 SD, mean and
        mean + 1 SD for a numeric W; both values of a two-valued (binary) numeric or boolean W;
        every level of a categorical W.
    exposure_levels : tuple, optional
        ``(control, treated)`` for a two-level exposure; see :func:`mediation`.
    n_boot, seed, confidence, progress
        As in :func:`mediation`.

    Returns
    -------
    ModeratedMediationResult
        ``.table`` (paths, index, conditional indirect effects), ``.index``, ``.conditional``,
        ``.models``, ``.bootstrap`` and the exclusion counts.

    Raises
    ------
    SpecificationError
        As :func:`mediation`; also an unknown ``stage``, a constant moderator, or an ``at`` value
        that is not a number (numeric W) or not a level (categorical W).

    Warns
    -----
    DataQualityWarning
        Rows dropped for missing values (listwise deletion assumes MCAR); a numeric ``at`` value
        outside the observed range of W (the conditional effect is an extrapolation); more than 1%
        of resamples singular.

    Notes
    -----
    Intervals for every row are percentile bootstrap from one set of resamples of participants;
    ``std_error``/``p_value`` are OLS for regression coefficients, and bootstrap SD / NaN for the
    index and the conditional indirect effects (see :func:`mediation`). The lower-order paths
    (``"a: X -> M (W = 0)"`` in the first stage, ``"b: M -> Y (W = 0)"`` in the second) are
    conditional on W = 0 (or the reference level), so they are only interpretable where 0 is a
    meaningful value of W; the index and the conditional effects do not depend on where W is
    centred. Detecting moderated mediation needs several times the sample size needed for simple
    mediation: a null index in a programme of 100-200 mothers is rarely evidence of no difference.

    Examples
    --------
    Isolation strengthens the effect of one-to-one support on feeling understood (first stage):

    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.mediation import moderated_mediation
    >>> rng = np.random.default_rng(11)
    >>> n = 400
    >>> x = rng.integers(0, 2, n)
    >>> isolation = rng.normal(size=n)
    >>> understood = 0.4 * x + 0.1 * isolation + 0.3 * x * isolation + rng.normal(size=n)
    >>> change = 0.5 * understood + 0.1 * x + rng.normal(size=n)
    >>> data = pd.DataFrame({"x": x, "isolation": isolation, "understood": understood,
    ...                      "change": change})
    >>> res = moderated_mediation(data, exposure="x", mediator="understood", outcome="change",
    ...                           by="isolation", stage="first", n_boot=500, seed=2)
    >>> res.index[["path", "estimate", "ci_low", "ci_high"]].round(2)
                               path  estimate  ci_low  ci_high
    0  index of moderated mediation      0.21     0.1     0.32
    >>> res.conditional[["label", "a_path", "b_path", "indirect"]].round(2)
             label  a_path  b_path  indirect
    0  mean - 1 SD   -0.05     0.5     -0.03
    1         mean    0.37     0.5      0.18
    2  mean + 1 SD    0.80     0.5      0.39
    """
    fn = "moderated_mediation()"
    if stage not in _STAGES:
        raise SpecificationError(f"{fn}: stage={stage!r} is not one of 'first' (the moderator "
                                 "changes exposure -> mechanism) or 'second' (it changes "
                                 "mechanism -> outcome)")
    for name, value in (("mediator", mediator), ("moderator", by)):
        if not isinstance(value, str):
            hint = "; use mediation() for several mediators" if name == "mediator" else ""
            raise SpecificationError(f"{fn}: {name} must be one column name, got {value!r}{hint}")
    covariates = _names(covariates, "covariates", allow_empty=True)
    n_boot, confidence, progress = _check_options(n_boot, seed, confidence, progress)
    _check_roles(data, fn, [("exposure", [exposure]), ("mediator", [mediator]),
                            ("outcome", [outcome]), ("moderator", [by]),
                            ("covariates", covariates)], shared_ok={by})
    roles = {exposure: "exposure", mediator: "mediator", outcome: "outcome",
             **{c: "covariate" for c in covariates}, by: "moderator"}
    prep = _prepare(data, fn, roles, exposure, exposure_levels)

    x = prep.x
    m = _numeric(prep.frame[mediator], mediator, "mediator", fn)
    y = _numeric(prep.frame[outcome], outcome, "outcome", fn)
    _not_constant(m, mediator, "mediator", fn)
    mod = _moderator_block(prep.frame[by], by, fn)
    w_at, at_labels, at_values = _at_values(mod, _at_for(at, by, fn), by, fn)
    # W enters explicitly where it moderates; listed among the covariates it also adjusts the other
    # regression (the outcome in the first stage, the mechanism in the second)
    cov_all, cov_names_all = _covariate_block(prep.frame, covariates, fn)
    cov_ex, cov_names_ex = _covariate_block(prep.frame, [c for c in covariates if c != by],
                                            fn)
    n, q = len(y), mod.matrix.shape[1]
    ones = np.ones((n, 1))
    W = mod.matrix
    wn = mod.names
    xw_names = [f"{exposure}:{w}" for w in wn]
    mw_names = [f"{mediator}:{w}" for w in wn]
    zero = "0" if mod.kind != "categorical" else str(mod.levels[0])
    at_w = f"{by} = {zero}"

    if stage == "first":
        eq_m = _Equation(np.column_stack([ones, x, W, x[:, None] * W, cov_ex]), m[:, None],
                         ["Intercept", exposure, *wn, *xw_names, *cov_names_ex], [mediator], fn)
        eq_y = _Equation(np.column_stack([ones, x, m, cov_all]), y[:, None],
                         ["Intercept", exposure, mediator, *cov_names_all], [outcome], fn)
        reg = ([f"a: {exposure} -> {mediator} ({at_w})"] + [f"{w} -> {mediator}" for w in wn]
               + [f"{t} -> {mediator}" for t in xw_names]
               + [f"b: {mediator} -> {outcome}", "direct"])
    else:
        eq_m = _Equation(np.column_stack([ones, x, cov_all]), m[:, None],
                         ["Intercept", exposure, *cov_names_all], [mediator], fn)
        eq_y = _Equation(np.column_stack([ones, x, m, W, m[:, None] * W, cov_ex]), y[:, None],
                         ["Intercept", exposure, mediator, *wn, *mw_names, *cov_names_ex],
                         [outcome], fn)
        reg = ([f"a: {exposure} -> {mediator}", f"b: {mediator} -> {outcome} ({at_w})"]
               + [f"{w} -> {outcome}" for w in wn] + [f"{t} -> {outcome}" for t in mw_names]
               + ["direct"])
    index_names = (["index of moderated mediation"] if mod.kind != "categorical" else
                   [f"index of moderated mediation: {w}" for w in wn])
    cond_names = [f"indirect: {by} = {lab}" for lab in at_labels]
    names = reg + index_names + cond_names
    n_reg = len(reg)

    def paths(coef_m, coef_y):
        if stage == "first":
            a1 = coef_m[:, 1, 0]
            aw = coef_m[:, 2:2 + q, 0]
            a3 = coef_m[:, 2 + q:2 + 2 * q, 0]
            b = coef_y[:, 2, 0]
            direct = coef_y[:, 1, 0]
            index = a3 * b[:, None]
            cond_a = a1[:, None] + a3 @ w_at.T
            cond = cond_a * b[:, None]
            return np.column_stack([a1, aw, a3, b, direct, index, cond])
        a = coef_m[:, 1, 0]
        direct = coef_y[:, 1, 0]
        b1 = coef_y[:, 2, 0]
        bw = coef_y[:, 3:3 + q, 0]
        b3 = coef_y[:, 3 + q:3 + 2 * q, 0]
        index = a[:, None] * b3
        cond_b = b1[:, None] + b3 @ w_at.T
        cond = a[:, None] * cond_b
        return np.column_stack([a, b1, bw, b3, direct, index, cond])

    boot = _run(paths, [eq_m, eq_y], names, n_reg, n_boot, seed, confidence, progress, fn)
    table = boot.table
    est = table.set_index("path")["estimate"]
    if stage == "first":
        a1 = est[reg[0]]
        a3 = est[[f"{t} -> {mediator}" for t in xw_names]].to_numpy()
        b = est[f"b: {mediator} -> {outcome}"]
        cond_a = a1 + w_at @ a3
        cond_b = np.full(len(at_labels), b)
    else:
        a = est[reg[0]]
        b1 = est[reg[1]]
        b3 = est[[f"{t} -> {outcome}" for t in mw_names]].to_numpy()
        cond_a = np.full(len(at_labels), a)
        cond_b = b1 + w_at @ b3
    cond_rows = table.set_index("path").loc[cond_names]
    conditional = pd.DataFrame({
        "moderator_value": pd.Series(list(at_values), dtype=object if mod.kind == "categorical"
                                     else float),
        "label": list(at_labels), "a_path": cond_a, "b_path": cond_b,
        "indirect": cond_rows["estimate"].to_numpy(), "std_error": cond_rows["std_error"].to_numpy(),
        "ci_low": cond_rows["ci_low"].to_numpy(), "ci_high": cond_rows["ci_high"].to_numpy()})
    return ModeratedMediationResult(
        table=table, conditional=conditional, models=_models_table([eq_m, eq_y]),
        bootstrap=boot.draws, stage=stage, exposure=exposure, mediator=mediator, outcome=outcome,
        moderator=by, covariates=tuple(covariates), exposure_levels=prep.exposure_levels,
        moderator_kind=mod.kind,
        moderator_levels=tuple(mod.levels) if mod.kind == "categorical" else None,
        n=n, n_excluded=prep.n_excluded, exclusions=prep.exclusions, n_boot=n_boot,
        n_failed_boot=boot.n_failed, seed=seed, confidence=confidence)


# ====================================================================== argument checks
def _names(value, what: str, *, allow_empty: bool = False) -> list[str]:
    if value is None and allow_empty:
        return []
    if isinstance(value, str):
        out = [value]
    elif isinstance(value, Sequence) or isinstance(value, (pd.Index, np.ndarray)):
        out = list(value)
    else:
        raise SpecificationError(f"{what} must be a column name or a list of column names, got "
                                 f"{value!r}")
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise SpecificationError(f"{what} must be column names (text), got {bad!r}")
    if not out and not allow_empty:
        raise SpecificationError(f"{what} is empty; name at least one column")
    if len(set(out)) != len(out):
        raise SpecificationError(f"{what} {out} list a column twice; name each once")
    return out


def _check_options(n_boot, seed, confidence, progress):
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < _MIN_BOOT:
        raise SpecificationError(f"n_boot={n_boot!r} is not a whole number of at least {_MIN_BOOT}; "
                                 "percentile limits from fewer resamples are unstable (2000 is the "
                                 "default, 5000+ for publication)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise SpecificationError(f"seed={seed!r} must be a non-negative whole number (or None for "
                                 "an unrepeatable run)")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
            or not 0 < confidence < 1:
        raise SpecificationError(f"confidence={confidence!r} must lie strictly between 0 and 1, "
                                 "e.g. 0.95")
    if progress not in (None, True, False):
        raise SpecificationError(f"progress={progress!r} must be None (automatic), True or False")
    return int(n_boot), float(confidence), progress


def _check_roles(data, fn: str, roles: list[tuple[str, list[str]]], shared_ok=frozenset()):
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{fn}: data must be a pandas DataFrame with one row per "
                                 f"participant, got {type(data).__name__}")
    for role, cols in roles:
        for c in cols:
            if not isinstance(c, str):
                raise SpecificationError(f"{fn}: {role} must be column names (text), got {c!r}")
    wanted = [c for _, cols in roles for c in cols]
    unknown = [c for c in dict.fromkeys(wanted) if c not in data.columns]
    if unknown:
        avail = list(map(str, data.columns))
        shown = ", ".join(avail[:30]) + (" …" if len(avail) > 30 else "")
        raise SpecificationError(f"{fn}: column(s) {', '.join(map(repr, unknown))} not in the data; "
                                 f"available: {shown}")
    seen: dict[str, str] = {}
    for role, cols in roles:
        for c in cols:
            # only a moderator may also be a covariate (it then adjusts the other regression too)
            allowed = c in shared_ok and {seen.get(c), role} == {"moderator", "covariates"}
            if c in seen and seen[c] != role and not allowed:
                raise SpecificationError(f"{fn}: column {c!r} is given as both {seen[c]} and "
                                         f"{role}; each variable can play one role")
            seen.setdefault(c, role)


# ====================================================================== data preparation
@dataclass
class _Prepared:
    frame: pd.DataFrame
    x: np.ndarray
    exposure_levels: tuple | None
    n_excluded: int
    exclusions: pd.DataFrame


def _prepare(data: pd.DataFrame, fn: str, roles: dict, exposure: str, exposure_levels) -> _Prepared:
    """Listwise deletion with counts; exposure coded to 0/1 (two levels) or kept as numbers."""
    frame = data[list(roles)]
    ex = frame[exposure]
    rows = []
    # 1. rows outside the comparison (an exposure level not in exposure_levels): by design
    other = np.zeros(len(frame), bool)
    x_all = None
    if exposure_levels is not None:
        if (isinstance(exposure_levels, (str, bytes)) or not isinstance(exposure_levels, Sequence)
                or len(exposure_levels) != 2 or _same(exposure_levels[0], exposure_levels[1])):
            raise SpecificationError(f"{fn}: exposure_levels={exposure_levels!r} must be two "
                                     "different levels (control, treated), e.g. "
                                     "('group', 'one_to_one')")
        observed = _levels(ex)
        absent = [lev for lev in exposure_levels if not any(_same(lev, o) for o in observed)]
        if absent:
            raise SpecificationError(f"{fn}: exposure level(s) {', '.join(map(repr, absent))} do not "
                                     f"occur in {exposure!r}; its levels are "
                                     f"{', '.join(map(repr, observed))}")
        is_t = _equals(ex, exposure_levels[1])
        other = ex.notna().to_numpy() & ~(_equals(ex, exposure_levels[0]) | is_t)
        if other.any():
            rows.append({"variable": exposure, "role": "exposure",
                         "reason": "level not in exposure_levels", "rows": int(other.sum())})
        x_all = is_t.astype(float)
    elif _kind(ex) == "categorical":
        observed = _levels(ex)
        raise SpecificationError(
            f"{fn}: exposure {exposure!r} holds levels {', '.join(map(repr, observed[:10]))}; say "
            f"which two to compare with exposure_levels=(control, treated), e.g. "
            f"exposure_levels={tuple(observed[:2])!r}")
    # 2. missing values among the rows in the comparison
    missing_any = np.zeros(len(frame), bool)
    for col, role in roles.items():
        miss = frame[col].isna().to_numpy() & ~other
        missing_any |= miss
        if miss.any():
            rows.append({"variable": col, "role": role, "reason": "missing", "rows": int(miss.sum())})
    keep = ~(missing_any | other)
    n_keep = int(keep.sum())
    exclusions = pd.DataFrame(rows, columns=["variable", "role", "reason", "rows"])
    if n_keep < MIN_ROWS:
        detail = "; ".join(f"{r['variable']}: {r['rows']} {r['reason']}" for r in rows) or "none"
        raise SpecificationError(f"{fn}: only {n_keep} of {len(frame)} rows are complete on the "
                                 f"variables used (excluded: {detail}); at least {MIN_ROWS} are "
                                 "needed -- check the column names and the missing values")
    n_missing = int(missing_any.sum())
    if n_missing:
        in_scope = int((~other).sum())
        by_var = ", ".join(f"{r['variable']} {r['rows']}" for r in rows if r["reason"] == "missing")
        warnings.warn(f"{fn}: dropped {n_missing} of {in_scope} rows with a missing value "
                      f"(by variable: {by_var}); this listwise deletion assumes the data are missing "
                      "completely at random (MCAR), which drop-out rarely is -- see "
                      "result.exclusions and consider multiple imputation",
                      DataQualityWarning, stacklevel=3)
    kept = frame.loc[keep].reset_index(drop=True)
    if x_all is not None:
        x = x_all[keep]
        levels = (exposure_levels[0], exposure_levels[1])
    else:
        x = _numeric(kept[exposure], exposure, "exposure", fn)
        levels = None
    if np.ptp(x) == 0:
        raise SpecificationError(f"{fn}: the exposure {exposure!r} takes one value ({x[0]:g}) in all "
                                 f"{n_keep} complete rows, so its effect cannot be estimated; check "
                                 "the column and the rows excluded for missing values")
    return _Prepared(frame=kept, x=x, exposure_levels=levels, n_excluded=len(frame) - n_keep,
                     exclusions=exclusions)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _equals(series: pd.Series, value) -> np.ndarray:
    out = (series == value)
    return out.fillna(False).to_numpy(dtype=bool) if hasattr(out, "fillna") else np.asarray(out)


def _kind(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return "numeric"
    return "categorical"


def _numeric(series: pd.Series, name: str, role: str, fn: str) -> np.ndarray:
    kind = _kind(series)
    if kind == "categorical":
        example = series.dropna().iloc[0] if series.notna().any() else None
        raise SpecificationError(f"{fn}: the {role} {name!r} must be numeric or boolean, but it "
                                 f"holds {series.dtype} values such as {example!r}; convert it to "
                                 "numbers first" + (" or give exposure_levels=(control, treated)"
                                                    if role == "exposure" else ""))
    return series.to_numpy(dtype=float)


def _not_constant(values: np.ndarray, name: str, role: str, fn: str) -> None:
    if np.ptp(values) == 0:
        raise SpecificationError(f"{fn}: the {role} {name!r} takes one value ({values[0]:g}) in all "
                                 f"{len(values)} complete rows, so no path through it can be "
                                 "estimated; check the column or drop it")


def _covariate_block(frame: pd.DataFrame, covariates, fn: str) -> tuple[np.ndarray, list[str]]:
    """The covariates' columns (no intercept), coded and named by :mod:`evalkit.models.coding`."""
    for c in covariates:
        s = frame[c]
        if _kind(s) == "categorical":
            levels = _levels(s)
            if len(levels) < 2:
                raise SpecificationError(f"{fn}: covariate {c!r} has a single level "
                                         f"({levels[0]!r}) among the complete rows, so it cannot be "
                                         "adjusted for; remove it from covariates")
        else:
            v = s.to_numpy(dtype=float)
            if np.ptp(v) == 0:
                raise SpecificationError(f"{fn}: covariate {c!r} takes one value ({v[0]:g}) in all "
                                         f"{len(v)} complete rows, so it cannot be adjusted for; "
                                         "remove it from covariates")
    if not len(covariates):
        return np.empty((len(frame), 0)), []
    coded = treatment_matrix(frame, list(covariates), intercept=False,
                             categorical=[c for c in covariates if _kind(frame[c]) == "categorical"])
    return coded.matrix, coded.names


@dataclass
class _Moderator:
    kind: str                 # numeric, binary, categorical
    matrix: np.ndarray        # n x q
    names: list
    levels: list | None
    values: np.ndarray | None  # numeric values (numeric/binary)
    is_bool: bool = False


def _moderator_block(series: pd.Series, name: str, fn: str) -> _Moderator:
    kind = _kind(series)
    if kind == "categorical":
        levels = _levels(series)
        if len(levels) < 2:
            raise SpecificationError(f"{fn}: the moderator {name!r} has one level ({levels[0]!r}) "
                                     "among the complete rows, so no moderation can be estimated")
        coded = treatment_matrix(series.to_frame(name), [name], categorical=[name],
                                 intercept=False)
        return _Moderator("categorical", coded.matrix, coded.names, levels, None)
    v = series.to_numpy(dtype=float)
    distinct = np.unique(v)
    if len(distinct) < 2:
        raise SpecificationError(f"{fn}: the moderator {name!r} takes one value ({v[0]:g}) in all "
                                 f"{len(v)} complete rows, so no moderation can be estimated")
    return _Moderator("binary" if len(distinct) == 2 else "numeric", v[:, None], [name],
                      None, v, is_bool=(kind == "bool"))


def _at_for(at, name: str, fn: str):
    """``at`` as moderator values: a list as it is, or the entry of ``{name: values}``."""
    if isinstance(at, dict):
        if set(at) != {name}:
            raise SpecificationError(f"{fn}: at={at!r} must give values of the moderator only, e.g. "
                                     f"at={{{name!r}: [...]}} or a plain list")
        return at[name]
    return at


def _at_values(mod: _Moderator, at, name: str, fn: str):
    """Moderator values for the conditional effects: (n_at x q design rows, labels, values)."""
    if mod.kind == "categorical":
        levels = mod.levels
        chosen = levels if at is None else [at] if np.ndim(at) == 0 else list(at)
        if not chosen:
            raise SpecificationError(f"{fn}: at is empty; pass levels of {name!r} or leave it unset")
        rows, values = [], []
        for lev in chosen:
            pos = next((i for i, level in enumerate(levels) if _same(level, lev)), None)
            if pos is None:
                raise SpecificationError(f"{fn}: at={lev!r} is not a level of the moderator "
                                         f"{name!r}; levels: {', '.join(map(repr, levels))}")
            r = np.zeros(len(levels) - 1)
            if pos > 0:
                r[pos - 1] = 1.0
            rows.append(r)
            values.append(levels[pos])
        return np.vstack(rows), [str(v) for v in values], values
    v = mod.values
    if at is None:
        if mod.kind == "binary":
            vals = [float(u) for u in np.unique(v)]
            labels = [str(bool(u)) if mod.is_bool else f"{u:g}" for u in vals]
        else:
            mean, sd = float(v.mean()), float(v.std(ddof=1))
            vals = [mean - sd, mean, mean + sd]
            labels = ["mean - 1 SD", "mean", "mean + 1 SD"]
    else:
        vals = []
        for a in ([at] if np.ndim(at) == 0 else list(at)):
            if isinstance(a, (bool, np.bool_)) or (isinstance(a, numbers.Real) and np.isfinite(a)):
                vals.append(float(a))
            else:
                raise SpecificationError(f"{fn}: at={a!r} is not a number, but the moderator "
                                         f"{name!r} is numeric; pass numbers such as at=[0, 1]")
        if not vals:
            raise SpecificationError(f"{fn}: at is empty; pass moderator values or leave it unset")
        labels = [f"{u:g}" for u in vals]
    lo, hi = float(v.min()), float(v.max())
    outside = [f"{lab} ({u:.4g})" if lab.startswith("mean") else lab
               for u, lab in zip(vals, labels) if u < lo or u > hi]
    if outside:
        warnings.warn(f"{fn}: moderator value(s) {', '.join(outside)} lie outside the observed range "
                      f"of {name!r} ({lo:g} to {hi:g}), so the conditional indirect effects there "
                      "are extrapolations; pass at= values inside the range (e.g. percentiles)",
                      DataQualityWarning, stacklevel=3)
    return np.asarray(vals, float)[:, None], labels, vals


# ====================================================================== OLS and the bootstrap
class _Equation:
    """One OLS design (intercept first) with one or more responses sharing it."""

    def __init__(self, D: np.ndarray, Y: np.ndarray, terms: list, responses: list, fn: str):
        self.D, self.Y, self.terms, self.responses = D, Y, list(terms), list(responses)
        n, p = D.shape
        self.n, self.p, self.q = n, p, Y.shape[1]
        if n <= p:
            raise SpecificationError(f"{fn}: the regression of {responses[0]!r} has {p} "
                                     f"coefficients but only {n} complete rows; use fewer covariates")
        Q, R = np.linalg.qr(D)
        diag = np.abs(np.diag(R))
        if diag.min() <= 1e-10 * diag.max():
            bad = terms[int(np.argmin(diag))]
            raise SpecificationError(f"{fn}: in the regression of {responses[0]!r} the term {bad!r} "
                                     f"is (nearly) a combination of the others {terms}; remove a "
                                     "covariate that duplicates another variable")
        self.beta = np.linalg.solve(R, Q.T @ Y)                 # p x q
        resid = Y - D @ self.beta
        self.df = n - p
        sigma2 = (resid ** 2).sum(axis=0) / self.df
        rinv = np.linalg.solve(R, np.eye(p))
        xtx_inv = rinv @ rinv.T
        self.se = np.sqrt(np.outer(np.diag(xtx_inv), sigma2))   # p x q
        # standardised copy for the resampled normal equations
        shift = D.mean(axis=0)
        scale = D.std(axis=0)
        shift[0], scale[0] = 0.0, 1.0
        self.shift, self.scale = shift, scale
        Ds = (D - shift) / scale
        self._outer = (Ds[:, :, None] * Ds[:, None, :]).reshape(n, p * p)
        self._cross = (Ds[:, :, None] * Y[:, None, :]).reshape(n, p * self.q)

    def boot(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (b x p x q, original units) for resampling weights ``counts`` (b x n)."""
        b, p, q = counts.shape[0], self.p, self.q
        G = (counts @ self._outer).reshape(b, p, p) / self.n
        H = (counts @ self._cross).reshape(b, p, q) / self.n
        eig = np.linalg.eigvalsh(G)
        ok = eig[:, 0] > _SINGULAR_TOL * eig[:, -1]
        beta = np.full((b, p, q), np.nan)
        if ok.any():
            beta[ok] = np.linalg.solve(G[ok], H[ok])
        beta[:, 1:, :] /= self.scale[1:, None]
        beta[:, 0, :] -= np.einsum("j,bjq->bq", self.shift[1:], beta[:, 1:, :])
        return beta, ok

    def table(self) -> pd.DataFrame:
        out = []
        for r, resp in enumerate(self.responses):
            est, se = self.beta[:, r], self.se[:, r]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = est / se
            out.append(pd.DataFrame({"equation": resp, "term": self.terms, "estimate": est,
                                     "std_error": se, "statistic": t, "df": float(self.df),
                                     "p_value": 2 * _st.t.sf(np.abs(t), self.df)}))
        return pd.concat(out, ignore_index=True)

    def ols_at(self, term_index: int, response: int = 0) -> tuple[float, float]:
        """(std_error, p_value) of one coefficient."""
        se = float(self.se[term_index, response])
        t = self.beta[term_index, response] / se if se > 0 else np.nan
        return se, float(2 * _st.t.sf(abs(t), self.df)) if np.isfinite(t) else np.nan


def _models_table(equations) -> pd.DataFrame:
    return pd.concat([eq.table() for eq in equations], ignore_index=True)


@dataclass
class _Boot:
    table: pd.DataFrame
    draws: pd.DataFrame
    n_failed: int


def _run(paths, equations, names, n_reg, n_boot, seed, confidence, progress, fn) -> _Boot:
    """Point estimates, OLS SE/p for the first ``n_reg`` paths, bootstrap for all of them."""
    point = paths(*[eq.beta[None] for eq in equations])[0]
    se = np.full(len(names), np.nan)
    p = np.full(len(names), np.nan)
    for i, (j_eq, j_term, j_resp) in enumerate(_locate_regression_paths(paths, equations, n_reg)):
        se[i], p[i] = equations[j_eq].ols_at(j_term, j_resp)

    n = equations[0].n
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(names)))
    ok_all = np.ones(n_boot, bool)
    chunk = int(max(1, min(n_boot, _CHUNK_CELLS // n)))
    show = progress if progress is not None else (n_boot * n > _PROGRESS_CELLS
                                                  and _stderr_is_tty())
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_boot, desc=f"{fn} bootstrap", unit="resample", leave=False)
    try:
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(b, n))
            flat = (idx + (np.arange(b) * n)[:, None]).ravel()
            counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)
            coefs, ok = [], np.ones(b, bool)
            for eq in equations:
                beta, good = eq.boot(counts)
                coefs.append(beta)
                ok &= good
            draws[start:start + b] = paths(*coefs)
            ok_all[start:start + b] = ok
            if bar is not None:
                bar.update(b)
    finally:
        if bar is not None:
            bar.close()
    n_failed = int((~ok_all).sum())
    good = draws[ok_all]
    if len(good) < 2:
        raise SpecificationError(f"{fn}: a regression was singular in {n_failed} of {n_boot} "
                                 "bootstrap resamples, so no interval can be formed; a covariate "
                                 "or moderator level is too rare -- merge rare levels or drop it")
    if n_failed > _FAILED_WARN * n_boot:
        warnings.warn(f"{fn}: a regression was singular in {n_failed} of {n_boot} bootstrap "
                      f"resamples ({100 * n_failed / n_boot:.1f}%), which were left out of the "
                      "intervals; a rare covariate or moderator level is the usual cause -- merge "
                      "rare levels", DataQualityWarning, stacklevel=3)
    alpha = 1 - confidence
    lo, hi = np.quantile(good, [alpha / 2, 1 - alpha / 2], axis=0)
    boot_sd = good.std(axis=0, ddof=1)
    se[n_reg:] = boot_sd[n_reg:]
    table = pd.DataFrame({"path": names, "estimate": point, "std_error": se, "ci_low": lo,
                          "ci_high": hi, "p_value": p}, columns=TABLE_COLUMNS)
    return _Boot(table=table, draws=pd.DataFrame(good, columns=names), n_failed=n_failed)


def _locate_regression_paths(paths, equations, n_reg):
    """Which (equation, term, response) coefficient each of the first ``n_reg`` paths is.

    Found by probing ``paths`` with unit coefficient arrays, so the path definitions live in one
    place (the ``paths`` function of each public function).
    """
    shapes = [eq.beta.shape for eq in equations]
    probes = []
    for j, (pp, qq) in enumerate(shapes):
        for t in range(pp):
            for r in range(qq):
                probes.append((j, t, r))
    coefs = [np.zeros((len(probes), pp, qq)) for pp, qq in shapes]
    for i, (j, t, r) in enumerate(probes):
        coefs[j][i, t, r] = 1.0
    out = paths(*coefs)[:, :n_reg]          # each regression path picks exactly one probe
    where = []
    for c in range(n_reg):
        hits = np.flatnonzero(out[:, c] == 1.0)
        where.append(probes[hits[0]])
    return where


def _stderr_is_tty() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False
