"""Time-to-event analysis: Kaplan–Meier curves, log-rank tests, Cox models and PH checks.

Built for questions such as "how long do mothers stay engaged, and does that differ by delivery
mode?". Every number is checked against R's ``survival`` package (``survfit`` with each
``conf.type``, ``survdiff``, ``coxph(ties = "efron")`` and ``coxph(ties = "breslow")``, ``cox.zph``)
in ``tests/reference/survival_fixtures.json`` and ``parity_fixtures.json``, and every computation
sorts the data itself, so shuffling the rows of the input never changes a result.

* :func:`kaplan_meier` -- product-limit estimates with Greenwood standard errors and R's
  ``conf.type`` intervals (``"log"``, R's default, or ``"log-log"`` / ``"plain"``), medians with
  confidence limits, risk tables with small-cell suppression.
* :func:`logrank_test` -- the (optionally stratified) log-rank test of ``survdiff``.
* :func:`fit_cox` -- Cox proportional hazards (Efron ties through lifelines, or Breslow ties by
  Newton–Raphson; optional strata), with a rank check that names collinear or constant covariates
  before the optimiser runs.
* :func:`check_proportional_hazards` -- the score test of ``cox.zph`` (``transform = "km"``, one
  test per term plus a global test), computed from scratch.

Examples
--------
>>> import pandas as pd
>>> from evalkit.models.survival import kaplan_meier, logrank_test
>>> d = pd.DataFrame({"weeks": [2, 3, 3, 5, 8, 8, 9, 12], "left": [1, 1, 0, 1, 0, 1, 0, 0],
...                   "mode": ["a", "b"] * 4})
>>> km = kaplan_meier(d, duration="weeks", event="left")
>>> km.table[["time", "at_risk", "events", "survival"]].head(3)
   time  at_risk  events  survival
0   2.0        8       1     0.875
1   3.0        7       1     0.750
2   5.0        5       1     0.600
>>> round(logrank_test(d, duration="weeks", event="left", by="mode").statistic, 4)
0.6971
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._levels import levels as _levels
from .._checks import check_confidence
from .._result import Result
from ..errors import DataQualityWarning, SpecificationError, UnknownNameError
from .coding import is_categorical, treatment_matrix

__all__ = [
    "kaplan_meier",
    "logrank_test",
    "fit_cox",
    "check_proportional_hazards",
    "KMResult",
    "LogrankResult",
    "CoxResult",
    "PHCheckResult",
    "KM_COLUMNS",
    "KM_CONF_TYPES",
    "MEDIAN_COLUMNS",
    "COX_COLUMNS",
    "COX_TIES",
    "CoxNewtonFit",
]

#: Columns of :attr:`KMResult.table`, in order.
KM_COLUMNS = ["group", "time", "at_risk", "events", "censored", "survival", "ci_low", "ci_high"]
#: Columns of :attr:`KMResult.median`, in order.
MEDIAN_COLUMNS = ["group", "median", "ci_low", "ci_high"]
#: Columns of :attr:`CoxResult.table`, in order.
COX_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high",
               "hazard_ratio", "hr_ci_low", "hr_ci_high"]

_OVERALL = "all"
_TOL = np.sqrt(np.finfo(float).eps)


# ====================================================================== data handling


def _prepare(data: pd.DataFrame, duration: str, event: str, columns: list[str], where: str
             ) -> pd.DataFrame:
    """Select the columns, drop incomplete rows (with a DataQualityWarning) and validate them."""
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{where}: data must be a pandas DataFrame, got {type(data).__name__}")
    needed = [duration, event, *columns]
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        raise UnknownNameError(f"{where}: column(s) {missing} not in the data; available columns are "
                               f"{list(data.columns)}")
    d = data[list(dict.fromkeys(needed))].copy()
    incomplete = d.isna().any(axis=1)
    if incomplete.any():
        by_col = {c: int(d[c].isna().sum()) for c in d.columns if d[c].isna().any()}
        warnings.warn(f"{where}: excluded {int(incomplete.sum())} of {len(d)} rows with missing values "
                      f"(missing per column: {by_col}); impute or check the data if this matters",
                      DataQualityWarning, stacklevel=3)
        d = d.loc[~incomplete]
    if d.empty:
        raise SpecificationError(f"{where}: no complete rows left after dropping missing values")
    t = pd.to_numeric(d[duration], errors="coerce")
    if t.isna().any() or not np.isfinite(t).all() or (t < 0).any():
        raise SpecificationError(f"{where}: duration column {duration!r} must hold finite numbers >= 0")
    e = d[event]
    if e.dtype == bool:
        e = e.astype(int)
    e = pd.to_numeric(e, errors="coerce")
    if e.isna().any() or not e.isin([0, 1]).all():
        raise SpecificationError(f"{where}: event column {event!r} must be 0/1 (or boolean); 1 = event, "
                                 "0 = censored")
    d[duration] = t.astype(float)
    d[event] = e.astype(int)
    return d


# ====================================================================== Kaplan-Meier
#: Pointwise interval types of :func:`kaplan_meier` (R's ``survfit(conf.type = ...)``).
KM_CONF_TYPES = ("log", "log-log", "plain")


def _km_limits(surv: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> tuple:
    """Pointwise limits from S and the Greenwood SE of log S, as R's ``survfit_confint``.

    ``log``: S·exp(∓z·se), upper capped at 1. ``log-log``: exp(−exp(log(−log S) ∓ z·se/log S)),
    undefined where S is 0 or 1. ``plain``: S ∓ z·S·se clipped to [0, 1]. Undefined where S = 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            lo, hi = surv * np.exp(-z * se), np.minimum(1.0, surv * np.exp(z * se))
        elif conf_type == "plain":
            lo, hi = np.maximum(surv - z * se * surv, 0.0), np.minimum(surv + z * se * surv, 1.0)
        else:
            ll = np.log(-np.log(surv))
            step = z * se / np.log(surv)
            lo, hi = np.exp(-np.exp(ll - step)), np.exp(-np.exp(ll + step))
    bad = ~np.isfinite(se) | (surv <= 0)
    if conf_type == "log-log":
        bad |= surv >= 1
    lo, hi = np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)
    return lo, hi


def _km_curve(t: np.ndarray, e: np.ndarray, z: float, conf_type: str = "log") -> pd.DataFrame:
    """Product-limit table at every distinct time (events or censorings), R's survfit layout."""
    times = np.unique(t)
    events = np.array([e[t == u].sum() for u in times], dtype=int)
    total = np.array([(t == u).sum() for u in times], dtype=int)
    at_risk = np.array([(t >= u).sum() for u in times], dtype=int)
    censored = total - events
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - events / at_risk)
        green = np.cumsum(np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0))
        se = np.sqrt(green)     # standard error of log S (R's std.err)
    lo, hi = _km_limits(surv, se, z, conf_type)
    return pd.DataFrame({"time": times.astype(float), "at_risk": at_risk, "events": events,
                         "censored": censored, "survival": surv, "ci_low": lo, "ci_high": hi})


def _quantile_time(times: np.ndarray, curve: np.ndarray, p: float = 0.5) -> float:
    """First time the step curve is <= 1 - p (R's quantile.survfit rule, averaging flat hits)."""
    target = 1.0 - p
    ok = np.isfinite(curve)
    times, curve = times[ok], curve[ok]
    below = np.nonzero(curve <= target + _TOL)[0]
    if below.size == 0:
        return float("nan")
    i = below[0]
    if abs(curve[i] - target) < _TOL:          # the curve sits exactly on the target: average
        later = np.nonzero(curve < target - _TOL)[0]
        return float((times[i] + times[later[0]]) / 2) if later.size else float(times[i])
    return float(times[i])


@dataclass(frozen=True, eq=False, repr=False)
class KMResult(Result):
    """Kaplan–Meier estimates from :func:`kaplan_meier`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group and distinct time with columns ``group, time, at_risk, events, censored,
        survival, ci_low, ci_high`` (Greenwood intervals on the scale of ``conf_type``).
    median : pandas.DataFrame
        ``group, median, ci_low, ci_high``; NaN where the curve (or interval) never reaches 0.5.
    by : str or None
        The grouping column (None: one overall curve, group ``"all"``).
    confidence : float
        Confidence level of the intervals.
    n : int
        Rows used.
    n_excluded : int
        Rows dropped for missing values.
    conf_type : str
        ``"log"``, ``"log-log"`` or ``"plain"``: the scale of the pointwise intervals.
    """

    table: pd.DataFrame
    median: pd.DataFrame
    by: str | None
    confidence: float
    n: int
    n_excluded: int
    conf_type: str = "log"
    _group_sizes: dict = field(repr=False, default_factory=dict)
    _durations: dict = field(repr=False, default_factory=dict)

    @property
    def raw(self) -> None:
        """None: the estimates are evalkit's own (checked against R's survfit)."""
        return None

    def summary(self) -> pd.DataFrame:
        """The medians (:attr:`median`); the whole curves are :attr:`table`."""
        return self.median

    def _header(self) -> list[str]:
        return [f"Kaplan–Meier {'by ' + self.by if self.by else 'overall'}; n = {self.n} "
                f"({self.n_excluded} excluded), {self.conf_type} {self.confidence:.0%} intervals"]

    @property
    def groups(self) -> list:
        """Group labels in table order."""
        return list(dict.fromkeys(self.table["group"]))

    def survival_at(self, t, level=None) -> pd.DataFrame:
        """Survival (with CI and number at risk) at given times, like R's ``summary(fit, times=)``.

        Parameters
        ----------
        t : float or sequence of float
            Times to read off; the estimate is the step value at the last time <= ``t``.
        level : optional
            Restrict to one group.

        Returns
        -------
        pandas.DataFrame
            ``group, time, at_risk, survival, ci_low, ci_high``. Times past the last observed time
            give NaN survival.

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.models.survival import kaplan_meier
        >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12], "e": [1, 1, 0, 1, 0, 1, 0, 0]})
        >>> kaplan_meier(d, duration="w", event="e").survival_at([4, 10])[["time", "at_risk", "survival"]]
           time  at_risk  survival
        0   4.0        5      0.75
        1  10.0        1      0.45
        """
        ts = np.atleast_1d(np.asarray(t, dtype=float))
        groups = self.groups
        if level is not None:
            if level not in groups:
                raise UnknownNameError(f"level {level!r} is not a group; groups are {groups}")
            groups = [level]
        rows = []
        for g in groups:
            tab = self.table[self.table["group"] == g]
            times = tab["time"].to_numpy()
            dur = self._durations[g]
            for u in ts:
                i = np.searchsorted(times, u, side="right") - 1
                if u > times.max():
                    s = lo = hi = np.nan
                elif i < 0:
                    s, lo, hi = 1.0, 1.0, 1.0
                else:
                    s, lo, hi = tab["survival"].iat[i], tab["ci_low"].iat[i], tab["ci_high"].iat[i]
                rows.append({"group": g, "time": float(u), "at_risk": int((dur >= u).sum()),
                             "survival": s, "ci_low": lo, "ci_high": hi})
        return pd.DataFrame(rows, columns=["group", "time", "at_risk", "survival", "ci_low", "ci_high"])

    def risk_table(self, times, *, suppress_below: int | None = None) -> pd.DataFrame:
        """Numbers at risk, and cumulative events and censorings, at the given times.

        Parameters
        ----------
        times : sequence of float
        suppress_below : int, optional
            Counts below this (but above zero) are shown as NaN for disclosure control; the
            ``suppressed`` column flags rows with any hidden cell.

        Returns
        -------
        pandas.DataFrame
            ``group, time, at_risk, events, censored, suppressed`` (events and censorings are
            cumulative up to and including ``time``).

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.models.survival import kaplan_meier
        >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12], "e": [1, 1, 0, 1, 0, 1, 0, 0]})
        >>> kaplan_meier(d, duration="w", event="e").risk_table([0, 6], suppress_below=3)
          group  time  at_risk  events  censored  suppressed
        0   all   0.0      8.0     0.0       0.0       False
        1   all   6.0      4.0     3.0       NaN        True
        """
        ts = np.atleast_1d(np.asarray(times, dtype=float))
        if suppress_below is not None and not (isinstance(suppress_below, (int, np.integer))
                                               and suppress_below >= 1):
            raise SpecificationError(f"suppress_below must be a positive integer, got {suppress_below!r}")
        rows = []
        for g in self.groups:
            tab = self.table[self.table["group"] == g]
            dur = self._durations[g]
            for u in ts:
                upto = tab[tab["time"] <= u]
                rows.append({"group": g, "time": float(u), "at_risk": float((dur >= u).sum()),
                             "events": float(upto["events"].sum()),
                             "censored": float(upto["censored"].sum())})
        out = pd.DataFrame(rows, columns=["group", "time", "at_risk", "events", "censored"])
        counts = ["at_risk", "events", "censored"]
        if suppress_below is not None:
            hide = (out[counts] > 0) & (out[counts] < suppress_below)
            out["suppressed"] = hide.any(axis=1)
            out[counts] = out[counts].mask(hide)
        else:
            out["suppressed"] = False
        return out

    def plot(self, ax=None, *, ci: bool = True):
        """Step plot of the survival curves (with shaded intervals).

        Drawn by :func:`evalkit.report.figures.draw_km`, the code that draws the report figure.
        This draws every time point of :attr:`table`: for a published figure use
        :func:`evalkit.report.figures.km_figure` with the disclosure-controlled curve.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Default: a new pyplot figure.
        ci : bool
            Shade the confidence intervals.

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import pandas as pd
        >>> from matplotlib.figure import Figure
        >>> from evalkit.models.survival import kaplan_meier
        >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12], "e": [1, 1, 0, 1, 0, 1, 0, 0]})
        >>> ax = kaplan_meier(d, duration="w", event="e").plot(Figure().subplots())
        >>> ax.get_ylabel(), ax.lines[0].get_xdata()[:3].tolist()
        ('survival probability', [0.0, 2.0, 3.0])
        """
        import matplotlib.pyplot as plt

        from ..report import figures

        if ax is None:
            _, ax = plt.subplots()
        return figures.draw_km(ax, self.table, ci=ci, label="survival probability",
                               time_label="time", legend_title=self.by)


def kaplan_meier(data: pd.DataFrame, *, duration: str, event: str, by: str | None = None,
                 confidence: float = 0.95, conf_type: str = "log") -> KMResult:
    """Kaplan–Meier survival curves, overall or by group (R's ``survfit`` with defaults).

    Parameters
    ----------
    data : pandas.DataFrame
    duration : str
        Follow-up time column (>= 0).
    event : str
        1 = event, 0 = censored (or boolean).
    by : str, optional
        Grouping column; levels in categorical order, else sorted.
    confidence : float
        Confidence level of the pointwise intervals.
    conf_type : {"log", "log-log", "plain"}, default "log"
        Scale on which the Greenwood interval is symmetric, as R's ``survfit(conf.type = ...)``
        (matched to 1e-6 in ``tests/reference/parity_fixtures.json``). ``"log"`` is the default
        because it is R's default, so numbers agree with ``survfit`` out of the box; it can reach
        an upper limit of 1. ``"log-log"`` (the default of SAS PROC LIFETEST and Stata) always stays
        inside (0, 1) and covers better in small groups and in the tails -- a good choice for
        cohorts of a few dozen mothers; it is undefined while survival is still 1. ``"plain"`` is
        the untransformed S ± z·SE(S), clipped to [0, 1]; it covers worst and is offered to match
        older reports. The median's confidence limits are read off these curves, so they depend on
        the choice.

    Returns
    -------
    KMResult

    Raises
    ------
    SpecificationError
        Bad durations, events or confidence.
    UnknownNameError
        A column is not in the data.

    Warns
    -----
    DataQualityWarning
        When rows with missing values are excluded (the count is in the message).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import kaplan_meier
    >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12], "e": [1, 1, 0, 1, 0, 1, 0, 0]})
    >>> kaplan_meier(d, duration="w", event="e").median
      group  median  ci_low  ci_high
    0   all     8.0     5.0      NaN
    >>> km = kaplan_meier(d, duration="w", event="e", conf_type="log-log")
    >>> km.table[["time", "survival", "ci_low", "ci_high"]].round(3).head(3)
       time  survival  ci_low  ci_high
    0   2.0     0.875   0.387    0.981
    1   3.0     0.750   0.315    0.931
    2   5.0     0.600   0.195    0.852
    """
    conf = check_confidence(confidence)
    if conf_type not in KM_CONF_TYPES:
        raise UnknownNameError(f"kaplan_meier: conf_type={conf_type!r} is not available; choose one of "
                               f"{', '.join(KM_CONF_TYPES)}")
    n_in = len(data) if isinstance(data, pd.DataFrame) else 0
    d = _prepare(data, duration, event, [by] if by else [], "kaplan_meier")
    z = stats.norm.ppf(0.5 + conf / 2)
    groups = _levels(d[by]) if by else [_OVERALL]
    tables, medians, sizes, durs = [], [], {}, {}
    for g in groups:
        sub = d if by is None else d[d[by] == g]
        t = sub[duration].to_numpy(float)
        e = sub[event].to_numpy(int)
        tab = _km_curve(t, e, z, conf_type)
        tab.insert(0, "group", g)
        tables.append(tab)
        sizes[g] = len(sub)
        durs[g] = np.sort(t)
        times = tab["time"].to_numpy()
        medians.append({"group": g,
                        "median": _quantile_time(times, tab["survival"].to_numpy()),
                        "ci_low": _quantile_time(times, tab["ci_low"].to_numpy()),
                        "ci_high": _quantile_time(times, tab["ci_high"].to_numpy())})
    table = pd.concat(tables, ignore_index=True)[KM_COLUMNS]
    return KMResult(table=table, median=pd.DataFrame(medians, columns=MEDIAN_COLUMNS), by=by,
                    confidence=conf, n=len(d), n_excluded=n_in - len(d), conf_type=conf_type,
                    _group_sizes=sizes,
                    _durations=durs)


# ====================================================================== log-rank
@dataclass(frozen=True, eq=False, repr=False)
class LogrankResult(Result):
    """The log-rank test from :func:`logrank_test` (R's ``survdiff`` with ``rho = 0``).

    Attributes
    ----------
    statistic : float
        Chi-square statistic.
    df : int
        Number of groups minus one.
    p_value : float
    table : pandas.DataFrame
        ``group, observed, expected`` events (summed over strata).
    strata : str or None
        Stratifying column, if any.
    n : int
        Rows used.
    """

    statistic: float
    df: int
    p_value: float
    table: pd.DataFrame
    strata: str | None
    n: int

    @property
    def raw(self) -> None:
        return None

    def _header(self) -> list[str]:
        return [f"chi-square {self.statistic:.3f} on {self.df} df, p = {self.p_value:.4g}; n = {self.n}"]


def logrank_test(data: pd.DataFrame, *, duration: str, event: str, by: str,
                 strata: str | None = None) -> LogrankResult:
    """Log-rank test of equal survival across the levels of ``by``, optionally stratified.

    With ``strata``, observed-minus-expected counts and their variances are summed over strata
    before forming the chi-square (as ``survdiff(... + strata(s))``).

    Parameters
    ----------
    data : pandas.DataFrame
    duration, event : str
        Follow-up time and 0/1 event columns.
    by : str
        Grouping column (at least two levels).
    strata : str, optional
        Stratifying column.

    Returns
    -------
    LogrankResult

    Raises
    ------
    SpecificationError
        If ``by`` has fewer than two levels.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import logrank_test
    >>> d = pd.DataFrame({"w": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1] * 8, "g": list("aaaabbbb")})
    >>> res = logrank_test(d, duration="w", event="e", by="g")
    >>> round(res.statistic, 4), res.df
    (7.3444, 1)
    """
    d = _prepare(data, duration, event, [by] + ([strata] if strata else []), "logrank_test")
    groups = _levels(d[by])
    k = len(groups)
    if k < 2:
        raise SpecificationError(f"logrank_test: {by!r} has {k} level(s) among complete rows; the "
                                 "test compares two or more groups")
    gi = pd.Categorical(d[by], categories=groups).codes
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    svals = _levels(d[strata]) if strata else [None]
    for s in svals:
        m = np.ones(len(d), bool) if s is None else (d[strata] == s).to_numpy()
        t = d[duration].to_numpy(float)[m]
        e = d[event].to_numpy(int)[m]
        g = gi[m]
        for u in np.unique(t[e == 1]):
            risk = t >= u
            n = risk.sum()
            dead = (t == u) & (e == 1)
            dd = dead.sum()
            ng = np.bincount(g[risk], minlength=k).astype(float)
            og = np.bincount(g[dead], minlength=k).astype(float)
            obs += og
            exp += dd * ng / n
            if n > 1:
                frac = ng / n
                var += dd * (n - dd) / (n - 1) * (np.diag(frac) - np.outer(frac, frac))
    diff = obs - exp
    # R drops groups with no expected events; use a generalised inverse over the rest
    keep = exp > 0
    stat = float(diff[keep] @ np.linalg.pinv(var[np.ix_(keep, keep)]) @ diff[keep])
    df = int(keep.sum() - 1)
    table = pd.DataFrame({"group": groups, "observed": obs, "expected": exp})
    return LogrankResult(statistic=stat, df=df, p_value=float(stats.chi2.sf(stat, df)), table=table,
                         strata=strata, n=len(d))


# ====================================================================== Cox
def _cox_design(d: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric design matrix (factors treatment-coded by formulaic, :mod:`evalkit.models.coding`)
    and the columns belonging to each term."""
    categorical = [c for c in covariates if is_categorical(d[c])]
    for c in categorical:
        if len(_levels(d[c])) < 2:
            raise SpecificationError(f"fit_cox: covariate {c!r} is constant (only level "
                                     f"{_levels(d[c])!r}); drop it")
    coded = treatment_matrix(d, covariates, categorical=categorical, intercept=False)
    assign = {c: [n for n, o in zip(coded.names, coded.owner) if o == c] for c in covariates}
    return pd.DataFrame(coded.matrix, index=d.index, columns=coded.names), assign


def _check_rank(X: pd.DataFrame, where: str = "fit_cox") -> None:
    """Name constant columns and collinear sets before the optimiser sees them."""
    const = [c for c in X.columns if np.ptp(X[c].to_numpy()) == 0]
    if const:
        raise SpecificationError(f"{where}: covariate column(s) {const} are constant among the complete "
                                 "rows, so their hazard ratios are not identifiable; drop them")
    A = X.to_numpy(float)
    A = (A - A.mean(0)) / A.std(0)
    rank = np.linalg.matrix_rank(A)
    if rank < A.shape[1]:
        # columns in the null space of the centred design are the collinear ones
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        null = vt[sv < sv.max() * max(A.shape) * np.finfo(float).eps * 10]
        if null.size == 0:
            null = vt[-(A.shape[1] - rank):]
        involved = [c for c, w in zip(X.columns, np.abs(null).max(axis=0)) if w > 1e-6]
        raise SpecificationError(f"{where}: covariates {involved} are collinear (design rank {rank} < "
                                 f"{A.shape[1]} columns); remove one of them")


@dataclass(frozen=True, eq=False, repr=False)
class CoxResult(Result):
    """A Cox proportional hazards fit from :func:`fit_cox`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per design column: ``term, estimate`` (log hazard ratio), ``std_error, statistic``
        (Wald z), ``p_value, ci_low, ci_high, hazard_ratio, hr_ci_low, hr_ci_high``; also
        ``summary()``. (It was the field ``summary`` before the shared result base.)
    raw : lifelines.CoxPHFitter or CoxNewtonFit
        The fitted lifelines model (Efron ties) or evalkit's Newton–Raphson fit (Breslow ties).
    duration, event : str
    covariates : list of str
    strata : str or list of str or None
    assign : dict
        Term -> design columns (a factor has several).
    design : pandas.DataFrame
        The design matrix with duration, event and strata columns (rows sorted as fitted).
    confidence : float
    n, n_events, n_excluded : int
    loglik : float
        Partial log-likelihood at the estimate.
    ties : str
        ``"efron"`` or ``"breslow"``: how tied event times entered the partial likelihood.
    """

    table: pd.DataFrame
    raw: object
    duration: str
    event: str
    covariates: list
    strata: object
    assign: dict
    design: pd.DataFrame
    confidence: float
    n: int
    n_events: int
    n_excluded: int
    loglik: float
    ties: str = "efron"

    def _header(self) -> list[str]:
        return [f"Cox model of {self.duration} to {self.event} ({self.ties} ties); n = {self.n}, "
                f"{self.n_events} events, {self.n_excluded} excluded"]


#: Tie handling of :func:`fit_cox` (R's ``coxph(ties = ...)``; ``"exact"`` is not offered).
COX_TIES = ("efron", "breslow")


@dataclass(frozen=True, eq=False)
class CoxNewtonFit:
    """The Newton–Raphson Cox fit behind ``ties="breslow"`` (``CoxResult.raw``).

    Attributes
    ----------
    params, standard_errors : pandas.Series
        Log hazard ratios and their SEs (inverse observed information).
    variance : pandas.DataFrame
        Covariance of the estimates.
    log_likelihood : float
        Partial log-likelihood at the estimate.
    iterations : int
    ties : str
    """

    params: pd.Series
    standard_errors: pd.Series
    variance: pd.DataFrame
    log_likelihood: float
    iterations: int
    ties: str


def _cox_terms(beta, X, t, e, strata, ties):
    """Partial log-likelihood, score and information (Breslow or Efron ties, strata respected)."""
    p = X.shape[1]
    loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
    eta = X @ beta
    for s_ in np.unique(strata):
        m = strata == s_
        ts, es, Xs, etas = t[m], e[m], X[m], eta[m]
        w = np.exp(etas - etas.max())
        for tu in np.unique(ts[es == 1]):
            risk = ts >= tu
            dead = (ts == tu) & (es == 1)
            nd = int(dead.sum())
            wr, Xr = w[risk], Xs[risk]
            S0, S1, S2 = wr.sum(), wr @ Xr, (Xr * wr[:, None]).T @ Xr
            wd, Xd = w[dead], Xs[dead]
            D0, D1, D2 = wd.sum(), wd @ Xd, (Xd * wd[:, None]).T @ Xd
            loglik += etas[dead].sum()
            score += Xd.sum(0)
            for k in range(nd):
                f = k / nd if ties == "efron" else 0.0
                s0 = S0 - f * D0
                mean = (S1 - f * D1) / s0
                loglik -= np.log(s0) + etas.max()
                score -= mean
                info += (S2 - f * D2) / s0 - np.outer(mean, mean)
    return loglik, score, info


def _cox_newton(X: np.ndarray, t, e, strata, ties: str, *, tol: float = 1e-12, max_iter: int = 50):
    """Newton–Raphson from β = 0 with step halving, as R's ``coxph.fit`` (covariates centred)."""
    Xc = X - X.mean(0)
    beta = np.zeros(X.shape[1])
    loglik, score, info = _cox_terms(beta, Xc, t, e, strata, ties)
    for it in range(1, max_iter + 1):
        step = np.linalg.solve(info, score)
        new = beta + step
        ll_new, sc_new, in_new = _cox_terms(new, Xc, t, e, strata, ties)
        halvings = 0
        while not np.isfinite(ll_new) or ll_new < loglik - 1e-12 * abs(loglik):
            halvings += 1
            if halvings > 30:
                raise SpecificationError("fit_cox: the Newton iterations did not improve the partial "
                                         "likelihood (separation: a covariate perfectly predicts the "
                                         "order of events?); drop or merge that covariate")
            new = (beta + new) / 2
            ll_new, sc_new, in_new = _cox_terms(new, Xc, t, e, strata, ties)
        done = abs(ll_new - loglik) <= tol * max(1.0, abs(ll_new)) and np.max(np.abs(new - beta)) < 1e-9
        beta, loglik, score, info = new, ll_new, sc_new, in_new
        if done:
            break
    return beta, np.linalg.inv(info), loglik, it


def fit_cox(data: pd.DataFrame, *, duration: str, event: str, covariates, strata=None,
            confidence: float = 0.95, ties: str = "efron") -> CoxResult:
    """Cox proportional hazards regression, Efron (R's ``coxph`` default) or Breslow ties.

    Factors (string, boolean or categorical columns) are treatment coded against their first level
    (categorical order, else sorted), named ``column[T.level]``. Rows are sorted by (strata,
    duration, event, covariates) before fitting, so the fit does not depend on the input order.

    Parameters
    ----------
    data : pandas.DataFrame
    duration, event : str
        Follow-up time and 0/1 event columns.
    covariates : str or list of str
    strata : str or list of str, optional
        Stratify the baseline hazard (R's ``strata()``).
    confidence : float
        Confidence level of the Wald intervals.
    ties : {"efron", "breslow"}, default "efron"
        How tied event times enter the partial likelihood, as R's ``coxph(ties = ...)``. Efron's
        approximation (fitted by lifelines) is R's default and the closer one to the exact
        likelihood when many events share a time (weekly or monthly follow-up);
        ``"breslow"`` (fitted by evalkit's own Newton–Raphson) reproduces SAS PROC PHREG and Stata's
        defaults and older R analyses. Both match ``coxph`` to 1e-6 on the reference data;
        without ties they are identical.

    Returns
    -------
    CoxResult

    Raises
    ------
    SpecificationError
        If a covariate is constant or the covariates are collinear (named in the message), or no
        events remain.

    Warns
    -----
    DataQualityWarning
        When rows with missing values are excluded.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import fit_cox
    >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12, 4, 6], "e": [1, 1, 0, 1, 0, 1, 0, 0, 1, 1],
    ...                   "x": [1.0, 2.0, 0.5, 1.5, 0.0, 2.5, 0.2, 0.1, 1.0, 0.3]})
    >>> fit = fit_cox(d, duration="w", event="e", covariates=["x"])
    >>> list(fit.table.columns[:3])
    ['term', 'estimate', 'std_error']
    >>> breslow = fit_cox(d, duration="w", event="e", covariates=["x"], ties="breslow")
    >>> breslow.ties, round(float(breslow.table["estimate"].iat[0]), 4)
    ('breslow', 0.6026)
    """
    from lifelines import CoxPHFitter

    conf = check_confidence(confidence)
    if ties not in COX_TIES:
        raise UnknownNameError(f"fit_cox: ties={ties!r} is not available; choose one of "
                               f"{', '.join(COX_TIES)}")
    covs = [covariates] if isinstance(covariates, str) else list(covariates)
    if not covs:
        raise SpecificationError("fit_cox: give at least one covariate")
    strat = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    n_in = len(data) if isinstance(data, pd.DataFrame) else 0
    d = _prepare(data, duration, event, covs + strat, "fit_cox")
    if d[event].sum() == 0:
        raise SpecificationError("fit_cox: there are no events among the complete rows")
    X, assign = _cox_design(d, covs)
    _check_rank(X)
    design = X.copy()
    design["__duration"] = d[duration].to_numpy(float)
    design["__event"] = d[event].to_numpy(int)
    for s in strat:
        design[f"__strata_{s}"] = d[s].astype(str).to_numpy()
    # canonical order: identical input sets give identical floating-point sums
    sort_cols = [f"__strata_{s}" for s in strat] + ["__duration", "__event", *X.columns]
    design = design.sort_values(sort_cols, kind="mergesort").reset_index(drop=True)
    if ties == "breslow":
        scols = [f"__strata_{s}" for s in strat]
        groups = (design[scols].astype(str).agg("\x1f".join, axis=1).to_numpy() if scols
                  else np.zeros(len(design), dtype=int))
        b, V, ll, iters = _cox_newton(design[list(X.columns)].to_numpy(float),
                                      design["__duration"].to_numpy(float),
                                      design["__event"].to_numpy(int), groups, ties)
        cph = CoxNewtonFit(params=pd.Series(b, index=X.columns),
                           standard_errors=pd.Series(np.sqrt(np.diag(V)), index=X.columns),
                           variance=pd.DataFrame(V, index=X.columns, columns=X.columns),
                           log_likelihood=float(ll), iterations=iters, ties=ties)
        beta, se = b, np.sqrt(np.diag(V))
    else:
        cph = CoxPHFitter(alpha=1 - conf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph.fit(design, duration_col="__duration", event_col="__event",
                    strata=[f"__strata_{s}" for s in strat] or None,
                    fit_options={"precision": 1e-12, "max_steps": 200})
        beta = cph.params_.reindex(X.columns).to_numpy()
        se = cph.standard_errors_.reindex(X.columns).to_numpy()
    z = stats.norm.ppf(0.5 + conf / 2)
    zstat = beta / se
    lo, hi = beta - z * se, beta + z * se
    summary = pd.DataFrame({"term": list(X.columns), "estimate": beta, "std_error": se,
                            "statistic": zstat, "p_value": 2 * stats.norm.sf(np.abs(zstat)),
                            "ci_low": lo, "ci_high": hi, "hazard_ratio": np.exp(beta),
                            "hr_ci_low": np.exp(lo), "hr_ci_high": np.exp(hi)})[COX_COLUMNS]
    return CoxResult(table=summary, raw=cph, duration=duration, event=event, covariates=covs,
                     strata=strata, assign=assign, design=design, confidence=conf, n=len(d),
                     n_events=int(d[event].sum()), n_excluded=n_in - len(d),
                     loglik=float(cph.log_likelihood if ties == "breslow" else cph.log_likelihood_),
                     ties=ties)


# ====================================================================== cox.zph
@dataclass(frozen=True, eq=False, repr=False)
class PHCheckResult(Result):
    """Score tests of proportional hazards from :func:`check_proportional_hazards`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term: ``term, chisq, df, p_value``.
    global_chisq : float
    global_df : int
    global_p : float
    transform : str
        Time transform used (``"km"``).
    """

    table: pd.DataFrame
    global_chisq: float
    global_df: int
    global_p: float
    transform: str = "km"

    @property
    def raw(self) -> None:
        return None

    def _header(self) -> list[str]:
        return [f"proportional hazards (cox.zph, {self.transform} time): global chi-square "
                f"{self.global_chisq:.3f} on {self.global_df} df, p = {self.global_p:.4g}"]


def _zph_score(t, e, X, eta, strata, gtime, ties="efron"):
    """u (2p) and information (2p x 2p) of the expanded model [X, X*g(t)] at the fit (the fit's ties)."""
    p = X.shape[1]
    u = np.zeros(2 * p)
    imat = np.zeros((2 * p, 2 * p))
    risk_w = np.exp(eta)
    for s in np.unique(strata):
        m = strata == s
        ts, es, Xs, ws, gs = t[m], e[m], X[m], risk_w[m], gtime[m]
        for tu in np.unique(ts[es == 1]):
            risk = ts >= tu
            dead = (ts == tu) & (es == 1)
            nd = int(dead.sum())
            g = gs[dead][0]
            wr, Xr = ws[risk], Xs[risk]
            S0, S1, S2 = wr.sum(), wr @ Xr, (Xr * wr[:, None]).T @ Xr
            wd, Xd = ws[dead], Xs[dead]
            D0, D1, D2 = wd.sum(), wd @ Xd, (Xd * wd[:, None]).T @ Xd
            xsum = Xd.sum(0)
            for k in range(nd):
                f = k / nd if ties == "efron" else 0.0
                s0 = S0 - f * D0
                mean = (S1 - f * D1) / s0
                v = (S2 - f * D2) / s0 - np.outer(mean, mean)
                u[:p] += xsum / nd - mean
                u[p:] += g * (xsum / nd - mean)
                imat[:p, :p] += v
                imat[:p, p:] += g * v
                imat[p:, :p] += g * v
                imat[p:, p:] += g * g * v
    return u, imat


def check_proportional_hazards(cox: CoxResult) -> PHCheckResult:
    """Test proportional hazards as R's ``cox.zph(fit)`` (transform ``"km"``, terms, global test).

    The time transform is one minus the left-continuous Kaplan–Meier estimate over all rows (strata
    ignored, as in R), centred on its mean over events. For each term the score test of adding
    ``X * g(t)`` for that term's columns (all original coefficients held at the estimate) is
    ``u' I^{-1} u`` from the expanded model's score and information (the fit's ties, as R uses
    ``fit$method``; strata respected);
    the global test adds all of them. Computed from scratch on the sorted design, so row order does
    not matter.

    Parameters
    ----------
    cox : CoxResult
        From :func:`fit_cox`.

    Returns
    -------
    PHCheckResult

    Raises
    ------
    SpecificationError
        If ``cox`` is not a :class:`CoxResult`.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.models.survival import fit_cox, check_proportional_hazards
    >>> d = pd.DataFrame({"w": [2, 3, 3, 5, 8, 8, 9, 12, 4, 6], "e": [1, 1, 0, 1, 0, 1, 0, 0, 1, 1],
    ...                   "x": [1.0, 2.0, 0.5, 1.5, 0.0, 2.5, 0.2, 0.1, 1.0, 0.3]})
    >>> ph = check_proportional_hazards(fit_cox(d, duration="w", event="e", covariates=["x"]))
    >>> list(ph.table.columns)
    ['term', 'chisq', 'df', 'p_value']
    """
    if not isinstance(cox, CoxResult):
        raise SpecificationError("check_proportional_hazards needs the result of fit_cox, got "
                                 f"{type(cox).__name__}")
    des = cox.design
    cols = list(cox.table["term"])
    X = des[cols].to_numpy(float)
    t = des["__duration"].to_numpy(float)
    e = des["__event"].to_numpy(int)
    scols = [c for c in des.columns if c.startswith("__strata_")]
    strata = (des[scols].astype(str).agg("\x1f".join, axis=1).to_numpy() if scols
              else np.zeros(len(des), dtype=int))
    beta = cox.table["estimate"].to_numpy(float)
    # R's linear predictor is centred on the column means; centring cancels in every ratio used here
    eta = (X - X.mean(0)) @ beta
    # 1 - left-continuous KM over everybody
    km = _km_curve(t, e, 1.0)
    idx = np.searchsorted(km["time"].to_numpy(), t, side="left")   # times strictly below t
    ttimes = 1.0 - np.r_[1.0, km["survival"].to_numpy()][idx]
    gtime = ttimes - ttimes[e == 1].mean()
    u, imatr = _zph_score(t, e, X, eta, strata, gtime, cox.ties)
    p = len(cols)
    u0 = np.zeros(p)
    rows = []
    for term, tcols in cox.assign.items():
        jj = [cols.index(c) for c in tcols]
        kk = list(range(p)) + [p + j for j in jj]
        uu = np.r_[u0, u[[p + j for j in jj]]]
        chisq = _solve_quadratic(imatr[np.ix_(kk, kk)], uu, term)
        rows.append({"term": term, "chisq": chisq, "df": len(jj),
                     "p_value": float(stats.chi2.sf(chisq, len(jj)))})
    ug = np.r_[u0, u[p:]]
    gchisq = _solve_quadratic(imatr, ug, "global")
    return PHCheckResult(table=pd.DataFrame(rows, columns=["term", "chisq", "df", "p_value"]),
                         global_chisq=gchisq, global_df=p,
                         global_p=float(stats.chi2.sf(gchisq, p)))


def _solve_quadratic(info: np.ndarray, score: np.ndarray, term: str) -> float:
    """``score' info^-1 score``; a singular information matrix becomes a clear error, not LinAlgError."""
    try:
        return float(np.linalg.solve(info, score) @ score)
    except np.linalg.LinAlgError:
        raise SpecificationError(
            f"check_proportional_hazards(): the information matrix for {term!r} is singular (too few "
            "events, or a covariate with no variation among the mothers who had an event); refit with "
            "fewer covariates or more data") from None
