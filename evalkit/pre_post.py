"""Simple pre–post analyses: paired tests with effect sizes, and ANCOVA of end scores.

:func:`prepost` compares one group's scores before and after (paired t-test and Wilcoxon
signed-rank test) and reports the mean change with its confidence interval and the standardised
effect sizes *d_z*, *d_av* and Hedges' *g_av* with intervals, in one tidy table. Pairs with a missing
score are dropped and counted. :func:`ancova` compares groups (sites, delivery modes) on their end
scores adjusted for baseline by ordinary least squares, and returns the coefficient table and the
adjusted (estimated marginal) group means.

Both are meant for small programmes (30–300 mothers): they warn when a group is too small for the
results to be trusted (:class:`~evalkit.errors.SmallGroupWarning`) and never drop rows silently.

Examples
--------
>>> from evalkit.pre_post import prepost
>>> before = [18, 15, 21, 12, 16, 19, 14, 20, 17, 13, 22, 15]
>>> after = [12, 14, 16, 14, 9, 16, 18, 12, 8, 3, 10, None]
>>> out = prepost(before, after, instrument="epds")
>>> out[["test", "n_pairs", "n_excluded", "estimate", "p_value", "effect_size", "effect"]].round(3)
       test  n_pairs  n_excluded  estimate  p_value    effect_size  effect
0  paired_t       11           1      -5.0    0.008            d_z  -0.992
1  paired_t       11           1      -5.0    0.008           d_av  -1.311
2  paired_t       11           1      -5.0    0.008           g_av  -1.210
3  wilcoxon       11           1      -6.0    0.014  rank_biserial  -0.818
>>> out["improvement"].tolist()  # EPDS: higher is worse, so a fall is an improvement
[5.0, 5.0, 5.0, 6.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._levels import levels as _levels
from .change import _check_range, _paired_scores
from ._checks import check_confidence
from ._compat import renamed
from ._result import Result
from .errors import DataQualityWarning, SmallGroupWarning, SpecificationError
from .instruments import get as _get_instrument
from .models.coding import treatment_matrix

__all__ = ["prepost", "ancova", "AncovaResult", "PREPOST_COLUMNS", "TERM_COLUMNS",
           "ADJUSTED_MEAN_COLUMNS", "MIN_PAIRS", "SMALL_N"]

#: Columns of the :func:`prepost` table, in order (``improvement`` is added last when the
#: direction of the scale is known).
PREPOST_COLUMNS = ["test", "n_pairs", "n_excluded", "estimate", "ci_low", "ci_high", "statistic",
                   "df", "p_value", "effect_size", "effect", "effect_ci_low", "effect_ci_high"]

#: Columns of :attr:`AncovaResult.table`, in order.
TERM_COLUMNS = ["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]

#: Columns of :attr:`AncovaResult.adjusted_means`, in order.
ADJUSTED_MEAN_COLUMNS = ["group", "n", "observed_mean", "at_baseline", "estimate", "std_error", "df",
                         "ci_low", "ci_high"]

#: Fewest complete pairs :func:`prepost` will analyse.
MIN_PAIRS = 3
#: Below this many pairs (or rows in a group) results are fragile and a SmallGroupWarning is given.
SMALL_N = 10

_DIRECTIONS = {"higher_better": 1, "higher_worse": -1}


# ====================================================================== pre-post
def prepost(before, after, *, confidence: float = 0.95, direction: str | None = None,
            instrument=None) -> pd.DataFrame:
    """Paired t-test and Wilcoxon signed-rank test of the change from before to after, with the
    mean change and standardised effect sizes (*d_z*, *d_av*, Hedges' *g_av*) and their intervals.

    Parameters
    ----------
    before, after : array-like or pandas.Series
        One score per person, in the same order and of the same length. Missing scores (NaN, None,
        ``pd.NA``) are allowed: a pair with either score missing is dropped and counted in
        ``n_excluded``. Two Series must share the same index (they are paired by label).
    confidence : float
        Confidence level of all intervals, strictly between 0 and 1.
    direction : {None, "higher_better", "higher_worse"}
        Direction of the scale. When given (or implied by ``instrument``) an ``improvement`` column is
        added.
    instrument : str or Instrument, optional
        Instrument id (``"epds"``, ``"wemwbs"`` …) or spec. Its ``higher_is`` sets the direction, and
        scores are checked against the range of its primary scale. A ``direction`` that contradicts
        the instrument is an error.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per effect-size measure, grouped under the test it accompanies:

        ========  =============  ===================================================
        test      effect_size    effect
        ========  =============  ===================================================
        paired_t  d_z            mean change / SD of the changes
        paired_t  d_av           mean change / average of the before and after SDs
        paired_t  g_av           d_av × J, J = 1 − 3 / (4(n − 1) − 1)
        wilcoxon  rank_biserial  matched-pairs rank-biserial correlation
        ========  =============  ===================================================

        Columns:

        - ``test`` : ``"paired_t"`` or ``"wilcoxon"``.
        - ``n_pairs`` : complete pairs analysed; ``n_excluded`` : pairs dropped for a missing score.
        - ``estimate``, ``ci_low``, ``ci_high`` : for ``paired_t`` the mean change (after − before)
          with its t interval; for ``wilcoxon`` the median change (no interval: NaN).
        - ``statistic``, ``df``, ``p_value`` : for ``paired_t`` t, n − 1 and the two-sided p-value;
          for ``wilcoxon`` W = min(W+, W−) (as scipy reports it), NaN and the two-sided p-value.
          They belong to the test, so they repeat on its effect-size rows: count tests with
          ``table["test"].unique()``, not with rows.
        - ``effect_size``, ``effect``, ``effect_ci_low``, ``effect_ci_high`` : the measure, its value
          and interval (NaN for the rank-biserial correlation, whose usual approximate intervals
          misbehave at the small n and extreme values met here).
        - ``improvement`` (only with ``direction`` or ``instrument``) : ``estimate`` signed so that
          positive means better (−estimate when a higher score is worse, as on the EPDS).

        Every change and effect is signed after − before: negative means scores fell.

    Raises
    ------
    SpecificationError
        Fewer than 3 complete pairs; the changes do not vary (all equal), so the t-test and *d_z*
        are undefined; lengths or indexes of ``before`` and ``after`` differ; scores are not numbers
        or lie outside the instrument's range; an option is invalid or ``direction`` contradicts the
        instrument.
    UnknownNameError
        The instrument is not registered.

    Warns
    -----
    SmallGroupWarning
        Fewer than 10 complete pairs: the results are fragile (one person can move them).

    Notes
    -----
    *Tests.* The paired t-test is :func:`pingouin.ttest` with ``paired=True`` (identical to
    :func:`scipy.stats.ttest_rel`); the interval of the mean change is ``mean ± t(1 − α/2, n − 1) ·
    S_diff/√n``, computed here because pingouin rounds its 95% interval to two decimals. The
    Wilcoxon signed-rank test is :func:`pingouin.wilcoxon`, i.e. :func:`scipy.stats.wilcoxon`
    with ``zero_method="wilcox"`` (zero changes are dropped from the ranks, though counted in
    ``n_pairs``), ``method="auto"`` (the exact null distribution for up to 50 changes without ties
    or zeros; an exact permutation distribution for up to 13 changes with ties or zeros; otherwise
    the normal approximation) and ``correction=True`` (continuity correction of the normal
    approximation, as in R's ``wilcox.test``). The permutation case can take a second or two with
    12–13 pairs. The rank-biserial correlation is ``(R+ − R−) / (R+ + R−)`` over the ranks of the
    non-zero changes (Kerby 2014).

    *Effect sizes* (formulas of Lakens 2013 for within-subjects designs; n pairs, changes with
    mean M and SD S_diff, SD_1 and SD_2 the SDs of before and after, all with ddof = 1):

    - ``d_z = M / S_diff`` (Cohen's d_z). Its interval inverts the noncentral t distribution
      (Steiger & Fouladi 1997): with t = d_z·√n and df = n − 1, find the noncentrality λ_L with
      ``nct.cdf(t, df, λ_L) = 1 − α/2`` and λ_U with ``nct.cdf(t, df, λ_U) = α/2``
      (:func:`scipy.stats.nct` and Brent's method); the interval is ``[λ_L/√n, λ_U/√n]``. It is
      exact for normally distributed changes.
    - ``d_av = M / ((SD_1 + SD_2)/2)`` (Lakens 2013, after Cumming 2012): the change in units of
      the spread of the scores themselves, comparable with a between-group d. The interval follows
      the approximation of Algina & Keselman (2003): the noncentrality interval [λ_L, λ_U] of the
      paired t above, rescaled by the observed ratio of standardisers, ``λ · S_diff / (√n ·
      SD_av)``, i.e. the d_z interval multiplied by ``S_diff / SD_av``. Algina & Keselman
      standardise by √((SD_1² + SD_2²)/2); Lakens' average of the SDs differs from it only when
      the two SDs differ markedly. The approximation treats the ratio of standardisers as known,
      ignoring its sampling error; in evalkit's own simulations of normal data (1,500 replicates
      per condition; n 12–30, d_av 0.3–1.5, before–after correlation 0.2–0.8) the 95% interval
      covered 95–97% of the time, i.e. it is if anything slightly conservative.
    - ``g_av = J · d_av`` with Hedges' small-sample correction on n − 1 degrees of freedom,
      ``J = 1 − 3/(4(n − 1) − 1)``. Its interval is the d_av interval multiplied by J.

    Which to report: d_z describes the consistency of change (it grows as people change alike and
    is the effect size of the paired t-test, used for power); d_av and g_av describe the size of
    change against the spread of scores and are the ones to compare with other studies.

    References
    ----------
    Lakens D (2013). Calculating and reporting effect sizes to facilitate cumulative science: a
    practical primer for t-tests and ANOVAs. Front Psychol 4:863. Cumming G (2012). Understanding
    the New Statistics. Routledge. Algina J, Keselman HJ (2003). Approximate confidence intervals for
    effect sizes. Educ Psychol Meas 63(4):537–553. Steiger JH, Fouladi RT (1997). Noncentrality
    interval estimation and the evaluation of statistical models. In: Harlow, Mulaik, Steiger (eds),
    What If There Were No Significance Tests? Kerby DS (2014). The simple difference formula: an
    approach to teaching nonparametric correlation. Compr Psychol 3:11.IT.3.1.

    Examples
    --------
    WEMWBS (higher is better) for twelve mothers, one without an end score:

    >>> from evalkit.pre_post import prepost
    >>> before = [40, 38, 45, 35, 42, 44, 37, 41, 39, 36, 43, 40]
    >>> after = [46, 41, 47, 34, 49, 48, 46, 46, 31, 46, 54, None]
    >>> out = prepost(before, after, direction="higher_better")
    >>> out[["n_pairs", "n_excluded"]].iloc[0].tolist()
    [11, 1]
    >>> out[["test", "estimate", "ci_low", "ci_high", "statistic", "df", "p_value"]].round(3)
           test  estimate  ci_low  ci_high  statistic    df  p_value
    0  paired_t     4.364   0.705    8.022      2.658  10.0    0.024
    1  paired_t     4.364   0.705    8.022      2.658  10.0    0.024
    2  paired_t     4.364   0.705    8.022      2.658  10.0    0.024
    3  wilcoxon     5.000     NaN      NaN      9.000   NaN    0.032
    >>> out[["effect_size", "effect", "effect_ci_low", "effect_ci_high", "improvement"]].round(3)
         effect_size  effect  effect_ci_low  effect_ci_high  improvement
    0            d_z   0.801          0.102           1.472        4.364
    1           d_av   0.875          0.111           1.608        4.364
    2           g_av   0.808          0.102           1.484        4.364
    3  rank_biserial   0.727            NaN             NaN        5.000
    """
    check_confidence(confidence)
    sign = _direction_sign(direction, instrument)
    spec = _get_instrument(instrument) if instrument is not None else None

    b, a, index = _paired_scores(before, after)
    if spec is not None:
        _check_range(b, spec.primary, "before", index)
        _check_range(a, spec.primary, "after", index)

    complete = ~(np.isnan(b) | np.isnan(a))
    n = int(complete.sum())
    n_excluded = int(len(b) - n)
    if n < MIN_PAIRS:
        raise SpecificationError(
            f"prepost needs at least {MIN_PAIRS} complete before-after pairs, got {n} ({n_excluded} "
            "pair(s) dropped for a missing score); with so few people report the scores themselves, "
            "not a test")
    b, a = b[complete], a[complete]
    diff = a - b
    s_diff = float(np.std(diff, ddof=1))
    if not s_diff > 0:
        raise SpecificationError(
            f"all {n} changes equal {_fmt(diff[0])}, so the SD of the changes is 0 and the paired "
            "t-test and d_z are undefined; report the change itself")
    if n < SMALL_N:
        warnings.warn(f"prepost has only {n} complete pairs (fewer than {SMALL_N}): results are "
                      "fragile, one mother can change the estimate, p-value and effect sizes; report "
                      "them with caution and show the individual changes", SmallGroupWarning,
                      stacklevel=2)

    import pingouin as pg

    tt = pg.ttest(a, b, paired=True, confidence=confidence)
    t_val = float(tt["T"].iloc[0])
    t_df = float(tt["dof"].iloc[0])
    t_p = float(tt["p_val"].iloc[0])
    mean_diff = float(diff.mean())
    # pingouin rounds its 95% interval to 2 decimals for display, so compute it here
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * s_diff / math.sqrt(n)
    mean_low, mean_high = mean_diff - half, mean_diff + half

    wx = pg.wilcoxon(a, b, alternative="two-sided", zero_method="wilcox", correction=True,
                     method="auto")
    w_val = float(wx["W_val"].iloc[0])
    w_p = float(wx["p_val"].iloc[0])
    rbc = float(wx["RBC"].iloc[0])

    # effect sizes (Lakens 2013)
    sd_av = (float(np.std(b, ddof=1)) + float(np.std(a, ddof=1))) / 2
    d_z = mean_diff / s_diff
    lam_low, lam_high = _nct_ci(d_z * math.sqrt(n), n - 1, confidence)
    dz_low, dz_high = lam_low / math.sqrt(n), lam_high / math.sqrt(n)
    d_av = mean_diff / sd_av
    ratio = s_diff / sd_av
    dav_low, dav_high = dz_low * ratio, dz_high * ratio
    j = 1 - 3 / (4 * (n - 1) - 1)

    t_part = ("paired_t", n, n_excluded, mean_diff, mean_low, mean_high, t_val, t_df, t_p)
    rows = [
        (*t_part, "d_z", d_z, dz_low, dz_high),
        (*t_part, "d_av", d_av, dav_low, dav_high),
        (*t_part, "g_av", j * d_av, j * dav_low, j * dav_high),
        ("wilcoxon", n, n_excluded, float(np.median(diff)), np.nan, np.nan, w_val, np.nan, w_p,
         "rank_biserial", rbc, np.nan, np.nan),
    ]
    out = pd.DataFrame(rows, columns=PREPOST_COLUMNS)
    for col in ("ci_low", "ci_high", "df", "effect_ci_low", "effect_ci_high"):
        out[col] = out[col].astype(float)
    if sign is not None:
        out["improvement"] = sign * out["estimate"]
    return out


def _nct_ci(t: float, df: float, confidence: float) -> tuple[float, float]:
    """Noncentrality interval [λ_L, λ_U] of an observed t: nct.cdf(t, df, λ) = 1 − α/2 and α/2."""
    alpha = 1 - confidence

    def cdf(lam: float) -> float:
        value = float(stats.nct.cdf(t, df, lam))
        if math.isnan(value):  # scipy can return NaN far in the tails, where the cdf is 0 or 1
            value = 0.0 if lam > t else 1.0
        return value

    def solve(target: float) -> float:
        f = lambda lam: cdf(lam) - target  # noqa: E731  (decreasing in lam)
        width = 2 * max(1.0, math.sqrt(1 + t * t / (2 * df)))
        lo, hi = t - width, t + width
        for _ in range(60):
            if f(lo) > 0:
                break
            lo -= width
            width *= 2
        for _ in range(60):
            if f(hi) < 0:
                break
            hi += width
            width *= 2
        return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=500))

    return solve(1 - alpha / 2), solve(alpha / 2)


def _direction_sign(direction, instrument) -> int | None:
    if direction is not None and direction not in _DIRECTIONS:
        raise SpecificationError(f"direction={direction!r} is not one of None, 'higher_better', "
                                 "'higher_worse'")
    if instrument is None:
        return None if direction is None else _DIRECTIONS[direction]
    spec = _get_instrument(instrument)
    if direction is not None and _DIRECTIONS[direction] != spec.sign:
        raise SpecificationError(
            f"direction={direction!r} contradicts the instrument: on {spec.id} higher is "
            f"{spec.higher_is}; drop direction= (the instrument sets it)")
    return spec.sign


def _fmt(x: float, digits: int = 6) -> str:
    return f"{float(x):.{digits}g}"


# ====================================================================== ANCOVA
@dataclass(frozen=True, eq=False, repr=False)
class AncovaResult(Result):
    """The outcome of :func:`ancova`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model term, columns ``term, estimate, std_error, df, statistic, p_value,
        ci_low, ci_high``. Terms in order: ``Intercept``, the baseline, the group contrasts
        ``<by>[T.<level>]`` (level − reference, adjusted for baseline and covariates), then the
        covariates (numeric and boolean by name, categorical as ``<covariate>[T.<level>]``): the
        term names of :mod:`evalkit.models.coding`.
    adjusted_means : pandas.DataFrame
        One row per group (reference first), columns ``group, n, observed_mean, at_baseline,
        estimate, std_error, df, ci_low, ci_high``: the estimated marginal mean of the outcome at the
        mean baseline (``at_baseline``) with numeric covariates at their means and categorical
        covariates at their observed proportions.
    n : int
        Rows analysed.
    exclusions : pandas.DataFrame
        Rows dropped, by reason (``reason, rows``): ``missing outcome``, ``missing baseline``,
        ``missing group``, ``missing covariate``; each row is counted under its first reason, so
        ``exclusions["rows"].sum()`` is the number dropped. Empty when none were.
    raw : statsmodels.regression.linear_model.RegressionResultsWrapper
        The fitted statsmodels OLS results (for diagnostics and ``raw.summary()``), on the design
        matrix whose columns are the terms of ``table``.
    outcome, baseline, by : str
        The columns analysed.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.pre_post import ancova
    >>> rng = np.random.default_rng(1)
    >>> pre = rng.normal(15, 4, 40).round()
    >>> site = np.repeat(["north", "south"], 20)
    >>> post = (4 + 0.6 * pre - 2 * (site == "south") + rng.normal(0, 2, 40)).round()
    >>> data = pd.DataFrame({"pre": pre, "post": post, "site": site})
    >>> res = ancova(data, outcome="post", baseline="pre", by="site")
    >>> print(repr(res).splitlines()[0])
    AncovaResult: post adjusted for pre, by site (reference 'north'); n = 40, 0 excluded
    >>> res.table[["term", "estimate", "std_error", "p_value"]].round(2)
                term  estimate  std_error  p_value
    0      Intercept      2.91       1.07     0.01
    1            pre      0.65       0.07     0.00
    2  site[T.south]     -2.04       0.50     0.00
    """

    table: pd.DataFrame
    adjusted_means: pd.DataFrame
    n: int
    exclusions: pd.DataFrame
    raw: object = field(repr=False)
    outcome: str = ""
    baseline: str = ""
    by: str = ""

    def _header(self) -> list[str]:
        groups = self.adjusted_means["group"].tolist()
        return [f"{self.outcome} adjusted for {self.baseline}, by {self.by} (reference "
                f"{groups[0]!r}); n = {self.n}, {int(self.exclusions['rows'].sum())} excluded"]


@renamed(group="by")
def ancova(data: pd.DataFrame, *, outcome: str, baseline: str, by: str,
           covariates: str | Sequence[str] = (), reference=None,
           confidence: float = 0.95) -> AncovaResult:
    """ANCOVA: compare groups on the end score adjusted for the baseline score (and covariates).

    Fits ``outcome ~ baseline + by [+ covariates]`` by ordinary least squares (statsmodels
    ``OLS``) on the formulaic design matrix of :mod:`evalkit.models.coding`, with treatment coding
    of ``by`` against ``reference``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per person (wide format: baseline and end score in columns).
    outcome : str
        Column of end scores (numeric).
    baseline : str
        Column of baseline scores (numeric), same instrument as ``outcome``.
    by : str
        Column of group labels (site, delivery mode, arm …); at least two groups (``group=`` is
        the deprecated name).
    covariates : str or sequence of str
        Further adjustment columns. Numeric and boolean columns enter linearly (True = 1); text and
        categorical columns enter as treatment-coded factors (reference: first level).
    reference : optional
        Reference group (a value of ``by``); default the first level (the first category of a
        categorical column, else the smallest value).
    confidence : float
        Confidence level of the intervals.

    Returns
    -------
    AncovaResult
        ``.table`` (all terms, with t-tests on the residual df), ``.adjusted_means`` (estimated
        marginal means at the mean baseline), ``.n``, ``.exclusions`` and ``.raw``; see
        :class:`AncovaResult`.

    Raises
    ------
    SpecificationError
        A column is missing, repeated across roles or not numeric where it must be; ``reference``
        is not a group with complete rows; fewer than two groups; the terms are collinear; too few
        rows to estimate the model (no residual df).

    Warns
    -----
    DataQualityWarning
        Rows were dropped for missing outcome, baseline, group or covariate (counts by reason).
    SmallGroupWarning
        A group has fewer than 10 rows analysed: its adjusted mean and contrast are fragile.

    Notes
    -----
    The group coefficient ``<by>[T.<level>]`` is the difference in mean end score between
    ``level`` and the reference among people with the same baseline (and covariates); ANCOVA is
    preferable to comparing change scores when groups differ at baseline by chance (Vickers &
    Altman 2001). It assumes the baseline slope is the same in every group and residuals of constant
    variance; ``raw`` holds the fit for checking them.

    The adjusted mean of group g is ``x_g·β`` with ``x_g`` the mean row of the design matrix (the
    baseline and numeric covariates at their means over the rows analysed, dummies of categorical
    covariates at their observed proportions) with the group dummies set to g; its standard error
    is ``√(x_g V x_gᵀ)`` with V the OLS covariance of β, and its interval uses t on the residual df.

    References
    ----------
    Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and follow up
    measurements. BMJ 323:1123–1124.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.pre_post import ancova
    >>> rng = np.random.default_rng(9)
    >>> n = 60
    >>> data = pd.DataFrame({"mode": np.tile(["group", "one_to_one", "online"], n // 3),
    ...                      "epds_0": rng.integers(10, 24, n).astype(float)})
    >>> effect = data["mode"].map({"group": 0.0, "one_to_one": -2.0, "online": 1.0})
    >>> data["epds_12"] = (3 + 0.6 * data["epds_0"] + effect + rng.normal(0, 2.5, n)).round()
    >>> res = ancova(data, outcome="epds_12", baseline="epds_0", by="mode", reference="group")
    >>> res.table[["term", "estimate", "std_error", "df", "p_value", "ci_low", "ci_high"]].round(3)
                     term  estimate  std_error    df  p_value  ci_low  ci_high
    0           Intercept     4.118      1.304  56.0    0.003   1.506    6.729
    1              epds_0     0.510      0.065  56.0    0.000   0.379    0.640
    2  mode[T.one_to_one]    -1.696      0.686  56.0    0.016  -3.070   -0.322
    3      mode[T.online]     0.983      0.688  56.0    0.158  -0.394    2.361
    >>> res.adjusted_means[["group", "n", "observed_mean", "estimate", "ci_low", "ci_high"]].round(2)
            group   n  observed_mean  estimate  ci_low  ci_high
    0       group  20          13.60     13.39   12.42    14.36
    1  one_to_one  20          11.70     11.69   10.72    12.66
    2      online  20          14.15     14.37   13.40    15.34
    >>> res.exclusions.empty, res.n
    (True, 60)
    """
    import statsmodels.api as sm

    check_confidence(confidence)
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"data must be a pandas DataFrame with one row per person, got "
                                 f"{type(data).__name__}")
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = tuple(covariates)
    roles = [("outcome", outcome), ("baseline", baseline), ("group", by)]
    roles += [("covariate", c) for c in covariates]
    names = [name for _, name in roles]
    for role, name in roles:
        if not isinstance(name, str):
            raise SpecificationError(f"{role} must be a column name (a string), got {name!r}")
    missing_cols = [name for name in names if name not in data.columns]
    if missing_cols:
        raise SpecificationError(f"column(s) {missing_cols} not in the data; available: "
                                 f"{', '.join(map(str, data.columns))}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SpecificationError(f"column(s) {repeated} given in more than one role (outcome, "
                                 "baseline, by, covariates); each column can play one role")

    frame = data[list(dict.fromkeys(names))].copy()
    for role, name in roles[:2]:
        frame[name] = _numeric_column(frame[name], name, role)
    for cov in covariates:
        col = frame[cov]
        if not (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col)
                or not pd.api.types.is_numeric_dtype(col)):
            frame[cov] = _numeric_column(col, cov, "covariate")

    # exclusions, counted under the first reason that applies
    reasons, dropped = [], np.zeros(len(frame), dtype=bool)
    checks = [("missing outcome", [outcome]), ("missing baseline", [baseline]),
              ("missing group", [by]), ("missing covariate", list(covariates))]
    for reason, cols in checks:
        if not cols:
            continue
        miss = frame[cols].isna().any(axis=1).to_numpy() & ~dropped
        if miss.any():
            reasons.append({"reason": reason, "rows": int(miss.sum())})
        dropped |= miss
    exclusions = pd.DataFrame(reasons, columns=["reason", "rows"])
    if dropped.any():
        detail = ", ".join(f"{r['reason']} {r['rows']}" for r in reasons)
        warnings.warn(f"ancova dropped {int(dropped.sum())} of {len(frame)} rows ({detail}); the "
                      "analysis uses complete rows only, which can bias it if the missing are not "
                      "like the rest; see result.exclusions", DataQualityWarning, stacklevel=2)
    frame = frame.loc[~dropped]

    levels = _levels(frame[by])
    if reference is None:
        if not levels:
            raise SpecificationError(f"no rows left to analyse: every row misses {outcome!r}, "
                                     f"{baseline!r}, {by!r} or a covariate")
        reference = levels[0]
    elif reference not in levels:
        raise SpecificationError(f"reference={reference!r} is not a group with complete rows in "
                                 f"{by!r}; groups: {', '.join(map(repr, levels))}")
    levels = [reference, *[lv for lv in levels if lv != reference]]
    if len(levels) < 2:
        raise SpecificationError(f"ancova compares groups, but {by!r} has only one group with "
                                 f"complete rows ({levels[0]!r}); use prepost for a single group")
    frame[by] = pd.Categorical(frame[by].astype(object), categories=levels)
    counts = frame[by].value_counts(sort=False)
    small = [f"{lv!r} ({int(counts[lv])})" for lv in levels if counts[lv] < SMALL_N]
    if small:
        warnings.warn(f"group(s) {', '.join(small)} of {by!r} have fewer than {SMALL_N} rows: "
                      "their adjusted means and contrasts are fragile; report them with caution",
                      SmallGroupWarning, stacklevel=2)

    n = len(frame)
    if n == 0:
        raise SpecificationError(f"no rows left to analyse: every row misses {outcome!r}, "
                                 f"{baseline!r}, {by!r} or a covariate")
    # one design-matrix path (formulaic) and one term-naming rule: evalkit.models.coding
    coded = treatment_matrix(frame, [baseline, by, *covariates], categorical=[by],
                             reference={by: reference})
    X = coded.matrix
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise SpecificationError(f"the model terms {coded.names[1:]} are collinear (e.g. a constant "
                                 "baseline or a covariate that repeats the group); remove a term")
    if n - X.shape[1] < 1:
        raise SpecificationError(f"{n} rows cannot estimate {X.shape[1]} coefficients with any "
                                 "residual degrees of freedom; add rows or drop covariates")
    exog = pd.DataFrame(X, index=frame.index, columns=coded.names)
    raw = sm.OLS(frame[outcome].rename(outcome), exog).fit()
    ci = np.asarray(raw.conf_int(alpha=1 - confidence))
    df_resid = float(raw.df_resid)
    table = pd.DataFrame({
        "term": coded.names,
        "estimate": np.asarray(raw.params),
        "std_error": np.asarray(raw.bse),
        "df": df_resid,
        "statistic": np.asarray(raw.tvalues),
        "p_value": np.asarray(raw.pvalues),
        "ci_low": ci[:, 0],
        "ci_high": ci[:, 1],
    }, columns=TERM_COLUMNS)

    # adjusted (estimated marginal) means at the mean row of the design matrix
    group_cols = [j for j, o in enumerate(coded.owner) if o == by]
    xbar = X.mean(axis=0)
    beta = np.asarray(raw.params)
    V = np.asarray(raw.cov_params())
    tcrit = float(stats.t.ppf((1 + confidence) / 2, df_resid))
    rows = []
    for k, lv in enumerate(levels):
        x = xbar.copy()
        x[group_cols] = 0.0
        if k > 0:
            x[group_cols[k - 1]] = 1.0
        est = float(x @ beta)
        se = float(math.sqrt(x @ V @ x))
        in_group = (frame[by] == lv).to_numpy()
        rows.append((lv, int(in_group.sum()), float(frame.loc[in_group, outcome].mean()),
                     float(frame[baseline].mean()), est, se, df_resid, est - tcrit * se,
                     est + tcrit * se))
    adjusted = pd.DataFrame(rows, columns=ADJUSTED_MEAN_COLUMNS)
    adjusted["group"] = adjusted["group"].astype(object)
    return AncovaResult(table=table, adjusted_means=adjusted, n=n, exclusions=exclusions, raw=raw,
                        outcome=outcome, baseline=baseline, by=by)


def _numeric_column(col: pd.Series, name: str, role: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
        raise SpecificationError(f"{role} column {name!r} must hold numbers, got {col.dtype}")
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() & col.notna()
    if bad.any():
        where = ", ".join(f"{i!r} ({col[i]!r})" for i in col.index[bad][:5])
        raise SpecificationError(f"{role} column {name!r} holds values that are not numbers at rows "
                                 f"{where}{' …' if bad.sum() > 5 else ''}; use numbers and NaN for "
                                 "missing")
    num = num.astype(float)
    if np.isinf(num).any():
        raise SpecificationError(f"{role} column {name!r} holds infinite values; use finite numbers")
    return num

