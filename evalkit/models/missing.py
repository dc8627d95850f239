"""Missing-data sensitivity: multiple imputation of outcome scores and a delta-adjusted tipping point.

Routine services lose an end score for 30–55 % of mothers, and whether it comes back depends on how
she is doing. This module answers two questions about a change estimate:

* :func:`multiple_imputation` — what is the estimate if the missing scores are *missing at random*
  (MAR) given baseline, the other waves, context and engagement? Missing outcome scores are
  imputed *m* times by chained equations (fully conditional specification, FCS) and
  :func:`fit_imputed` fits the analysis model to each completed data set and pools the results
  with Rubin's rules and Barnard–Rubin degrees of freedom
  (:func:`evalkit.models.pooling.pool`).
* :func:`tipping_point` — how much worse than MAR predicts would the mothers without an end score
  have to be for the conclusion to change? The imputed values from a chosen wave on are shifted by
  *delta* (the "delta adjustment" of pattern-mixture multiple imputation; Carpenter & Kenward 2013,
  ch. 10; Cro et al. 2020), the model is refitted and pooled for each delta, and the smallest shift
  that changes the conclusion is reported.

Design choices
--------------
*Wide, not long.* The outcome is pivoted to one column per planned wave (one row per participant)
and every wave is imputed from every other wave plus the predictors. For a few fixed waves this is
the standard way to respect the correlation between a mother's repeated scores (van Buuren 2018,
ch. 11); a single-level imputation of the long frame, which is what statsmodels' ``MICEData`` would
do, treats her scores as unrelated rows, so her mid score says nothing about her missing end score.
Individual variation in the timing *within* a wave is not part of the imputation model.

*Own FCS loop, not statsmodels' MICEData.* ``MICEData`` is single-level (see above) and works on a
frame of numeric columns only, so the wide layout, the dummy coding and the per-wave predictors
would have to be built around it anyway. The loop here is a few dozen lines of numpy that follow
mice's ``norm`` and ``pmm`` methods: for each incomplete column in turn, a proper Bayesian
linear-regression draw (``sigma*^2 = RSS / chi^2_{n-p}``, ``beta* ~ N(beta_hat, sigma*^2 (X'X)^-1)``,
with mice's ridge ``1e-5 * diag(X'X)``), then either the normal draw ``X beta* + N(0, sigma*^2)``
(``"norm"``) or predictive mean matching (``"pmm"``, mice's type-1 matching: observed cases are
predicted with ``beta_hat``, missing ones with ``beta*``, and the observed value of one of the
``donors`` closest observed cases, drawn at random, is taken). Missing values start as random draws
from the observed values of their column, as in mice. Before each regression, predictors that are
constant or linearly dependent among the observed cases are left out (mice's ``remove.lindep``):
"never started" is constant among mothers with a mid score, and a coefficient drawn for it from a
flat posterior would throw the imputations far off. For 1000 mothers, four waves and 15 predictors,
``m=20, iterations=10`` takes about 5 s on one core.

*Predictors.* A predictor constant within each participant (context, engagement) enters once; one
that varies by wave (e.g. another instrument's score) enters once per wave, so "baseline EPDS" and
"mid EPDS" are separate predictors. Numeric and boolean predictors with missing values are imputed
in the same loop (their imputations are auxiliary: only the outcome is filled in the returned data).
Categorical predictors are dummy-coded and a missing value is coded as its own category rather than
imputed — for ``delivery_mode`` it means "never started", which must not be imputed. No row is
dropped; :attr:`ImputedData.predictor_info` counts what was missing.

*Seeds.* Imputation *i* uses its own generator, spawned from ``numpy.random.SeedSequence(seed)``, so
the same seed gives identical data sets and the first *k* data sets do not depend on *m*.

References
----------
van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd ed. CRC (ch. 3: Bayesian linear
regression and predictive mean matching; ch. 4: FCS; ch. 11: longitudinal data).
Carpenter JR, Kenward MG (2013). *Multiple Imputation and its Application*. Wiley (ch. 10).
Cro S, Morris TP, Kenward MG, Carpenter JR (2020). Sensitivity analysis for clinical trials with
missing continuous outcome data using controlled multiple imputation. *Stat Med* 39:2815–2842.
Rubin DB (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evalkit.models.missing import multiple_imputation, fit_imputed
>>> rng = np.random.default_rng(3)
>>> n = 60
>>> base = rng.normal(40, 8, n)
>>> end = base + 4 + rng.normal(0, 4, n)
>>> end[rng.random(n) < 0.3] = np.nan
>>> long = pd.DataFrame({"participant_id": np.repeat(np.arange(n), 2),
...                      "wave": np.tile(["baseline", "end"], n),
...                      "weeks": np.tile([0.0, 12.0], n),
...                      "wemwbs": np.column_stack([base, end]).ravel()})
>>> imp = multiple_imputation(long, outcome="wemwbs", covariates=[], m=5, seed=1, progress=False)
>>> imp.n_missing
       wave   n  n_missing  percent
0  baseline  60          0      0.0
1       end  60         19     31.7
>>> def mean_change(d):
...     w = d.pivot(index="participant_id", columns="wave", values="wemwbs")
...     diff = w["end"] - w["baseline"]
...     return pd.DataFrame({"term": ["change"], "estimate": [diff.mean()],
...                          "std_error": [diff.std() / np.sqrt(len(diff))], "df": [len(diff) - 1]})
>>> res = fit_imputed(imp, model=lambda d: d, estimate=mean_change, progress=False)
>>> res.table[["term", "estimate", "std_error", "df", "fmi"]].round(2)
     term  estimate  std_error     df   fmi
0  change      3.28       0.79  16.98  0.42
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg

from .._blas import single_threaded_blas
from .._compat import renamed, warn_deprecated
from .._result import Result
from ..errors import SpecificationError, UnknownNameError
from .pooling import pool

__all__ = ["multiple_imputation", "fit_imputed", "tipping_point", "ImputedData", "PooledResult",
           "TippingPoint", "METHODS", "TIPPING_COLUMNS"]

#: Imputation methods: predictive mean matching (mice's default) and the Bayesian normal draw.
METHODS = ("pmm", "norm")
#: Columns of :attr:`TippingPoint.table`, in order.
TIPPING_COLUMNS = ["delta", "estimate", "std_error", "df", "statistic", "p_value", "ci_low",
                   "ci_high", "fmi", "holds"]

_RIDGE = 1e-5          # mice's default ridge penalty, relative to diag(X'X)
_STAT_COLUMNS = ("estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high")


# ====================================================================== results
@dataclass(frozen=True, repr=False)
class ImputedData(Result):
    """*m* completed copies of a long frame, from :func:`multiple_imputation`.

    ``.table`` is :attr:`diagnostics` (observed against imputed, per wave); ``.raw`` is None (the
    chained equations are evalkit's own).

    Attributes
    ----------
    datasets : list of pandas.DataFrame
        The *m* completed long frames: the input's rows in the input's order, the outcome filled
        (as float), missing ``time`` values of imputed rows set to the wave's planned week, and a
        boolean column ``<outcome>_imputed``.
    m, seed, method, iterations, donors
        The settings used.
    n_missing : pandas.DataFrame
        ``wave, n, n_missing, percent``: outcome cells imputed per wave (``n`` participants).
    covariates : tuple of str
        The imputation model's covariates (``predictors`` is the deprecated name).
    predictor_info : pandas.DataFrame
        ``predictor, varies ("person" or "wave"), kind ("numeric" or "categorical"), n_missing,
        handling``: how each predictor entered the imputation model and how its gaps were handled
        (``n_missing`` counts participants for person-level and participant-waves for wave-level
        predictors; waves at which a predictor is never observed are left out and named).
    diagnostics : pandas.DataFrame
        ``wave, n_observed, n_imputed, mean_observed, mean_imputed, sd_observed, sd_imputed`` (the
        imputed statistics averaged over imputations): imputed means far from the observed ones
        are expected when drop-out depends on how mothers are doing, but are worth a look.
    trace : pandas.DataFrame
        ``imputation, iteration, wave, mean``: the mean of the imputed outcome values after each
        iteration of each chain, for convergence plots (chains should mix, with no trend).
    outcome, subject, wave, time : str
    waves : tuple
        The waves in time order (ordered categorical order, else by median time).
    """

    datasets: list = field(repr=False)
    m: int
    seed: int
    method: str
    iterations: int
    donors: int
    n_missing: pd.DataFrame = field(repr=False)
    covariates: tuple
    predictor_info: pd.DataFrame = field(repr=False)
    diagnostics: pd.DataFrame = field(repr=False)
    trace: pd.DataFrame = field(repr=False)
    outcome: str
    subject: str
    wave: str
    time: str | None
    waves: tuple

    @property
    def table(self) -> pd.DataFrame:
        """:attr:`diagnostics`."""
        return self.diagnostics

    @property
    def raw(self) -> None:
        return None

    @property
    def predictors(self) -> tuple:
        """Deprecated name of :attr:`covariates`."""
        warn_deprecated("ImputedData.predictors is now .covariates")
        return self.covariates

    def _header(self) -> list[str]:
        missing = ", ".join(f"{r.wave} {r.n_missing}" for r in self.n_missing.itertuples())
        return [f"{self.m} imputations of {self.outcome} ({self.method}, {self.iterations} "
                f"iterations, seed {self.seed}); missing by wave: {missing}"]

    def long(self, i: int) -> pd.DataFrame:
        """The *i*-th completed long frame (0-based)."""
        if not isinstance(i, (int, np.integer)) or not 0 <= i < self.m:
            raise SpecificationError(f"ImputedData.long(): i must be an integer from 0 to {self.m - 1}, "
                                     f"got {i!r}")
        return self.datasets[int(i)]


@dataclass(frozen=True, repr=False)
class PooledResult(Result):
    """Estimates pooled over imputed data sets, from :func:`fit_imputed`.

    Attributes
    ----------
    table : pandas.DataFrame
        The label columns of the estimate table (e.g. ``term`` or ``delivery_mode``), then the
        :func:`~evalkit.models.pooling.pool` columns ``estimate, std_error, df, statistic, p_value,
        ci_low, ci_high, within_var, between_var, total_var, riv, lambda, fmi, m``.
    fits : list
        The *m* fitted models, in imputation order.
    estimates : pandas.DataFrame
        Every imputation's estimate table stacked, with an ``imputation`` column first.
    warnings : tuple of str
        Each distinct warning raised (or recorded in a fit's ``.warnings``) while fitting, once,
        with the number of imputations it came from. Raised warnings are raised again, once each.
    dropped_columns : tuple of str
        Columns of the estimate tables that differ between imputations and are not pooled by
        Rubin's rules (e.g. a per-fit test statistic); they stay in ``estimates``.
    """

    table: pd.DataFrame
    fits: list = field(repr=False)
    estimates: pd.DataFrame = field(repr=False)
    warnings: tuple = ()
    dropped_columns: tuple = ()

    @property
    def raw(self) -> list:
        """The *m* fitted models (:attr:`fits`)."""
        return self.fits

    def _header(self) -> list[str]:
        return [f"pooled over {len(self.fits)} imputed data sets (Rubin's rules)",
                *[f"warning: {w}" for w in self.warnings]]


@dataclass(frozen=True, repr=False)
class TippingPoint(Result):
    """A delta-adjusted sensitivity analysis, from :func:`tipping_point`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per delta, ordered from 0 outwards: ``delta, estimate, std_error, df, statistic,
        p_value, ci_low, ci_high, fmi, holds`` (``holds``: the conclusion is the one at delta 0).
    tipping_delta : float
        The smallest shift (in the direction of ``deltas``) at which the conclusion changes: the
        confidence interval first includes ``null`` or the estimate crosses it (when the CI
        excluded ``null`` at delta 0), or the CI first excludes ``null`` (when it included it at
        delta 0); NaN if the conclusion holds over the whole range.
    term : str
        Label of the pooled row analysed.
    null, confidence : float
    outcome, from_wave : str
        The outcome and the first wave whose imputed values were shifted (``wave`` is the
        deprecated name of ``from_wave``).
    higher_is : str or None
        ``"better"`` or ``"worse"`` (from the instrument registry when the outcome is an instrument
        id), or None when unknown; it only changes the wording of :meth:`describe`.
    warnings : tuple of str
        As :attr:`PooledResult.warnings`, over all refits.
    """

    table: pd.DataFrame
    tipping_delta: float
    term: str
    null: float
    confidence: float
    outcome: str
    from_wave: str
    higher_is: str | None = None
    warnings: tuple = ()

    @property
    def raw(self) -> None:
        return None

    @property
    def wave(self) -> str:
        """Deprecated name of :attr:`from_wave`."""
        warn_deprecated("TippingPoint.wave is now .from_wave")
        return self.from_wave

    def _header(self) -> list[str]:
        return [f"tipping point of {self.term} ({self.outcome} shifted from {self.from_wave} on); "
                f"tipping delta {self.tipping_delta:g}"]

    def plot(self, ax=None):
        """Pooled estimate with its confidence band against delta; returns the matplotlib Axes.

        A dashed horizontal line marks ``null`` and a dotted vertical line the tipping delta. Drawn
        by :func:`evalkit.report.figures.tipping.draw_tipping`, the code behind the report figure.
        """
        import matplotlib.pyplot as plt

        from ..report.figures.tipping import draw_tipping

        if ax is None:
            _, ax = plt.subplots()
        return draw_tipping(ax, self.table, tipping_delta=self.tipping_delta, null=self.null,
                            confidence=self.confidence,
                            xlabel=f"delta: shift of imputed {self.outcome} from {self.from_wave} on "
                                   "(points)", ylabel=f"pooled estimate ({self.term})")

    def describe(self) -> str:
        """One plain-English sentence saying how robust the conclusion is to missing-not-at-random."""
        ref = self.table.iloc[0]
        deltas = self.table["delta"].to_numpy()
        sign = 1.0 if (deltas >= 0).all() and (deltas > 0).any() else -1.0
        pct = f"{self.confidence:.0%}"
        state = (f"estimate {ref['estimate']:.1f}, {pct} CI {ref['ci_low']:.1f} to "
                 f"{ref['ci_high']:.1f} if missing scores are missing at random")
        who = (f"mothers without {_article(self.from_wave)} {self.from_wave.replace('_', '-')} "
               "score")

        def shift(size: float) -> str:
            if self.higher_is in ("better", "worse"):
                worse = (sign < 0) == (self.higher_is == "better")
                return f"did on average {size:.1f} points {'worse' if worse else 'better'}"
            return f"scored on average {size:.1f} points {'lower' if sign < 0 else 'higher'}"

        sig = not (ref["ci_low"] <= self.null <= ref["ci_high"])
        if np.isfinite(self.tipping_delta):
            if sig:
                return (f"The conclusion ({state}) holds unless {who} {shift(abs(self.tipping_delta))} "
                        "than similar mothers who completed.")
            return (f"The estimate does not differ from {self.null:g} ({state}); that changes if {who} "
                    f"{shift(abs(self.tipping_delta))} than similar mothers who completed.")
        widest = float(np.max(np.abs(deltas)))
        what = "conclusion" if sig else f"lack of a difference from {self.null:g}"
        return (f"The {what} ({state}) holds even if {who} {shift(widest)} than similar mothers who "
                "completed (the largest shift tried).")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# ====================================================================== input handling
def _check_columns(data, names: dict, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{where}: data must be a pandas DataFrame (the long frame, one row "
                                 f"per participant x wave), got {type(data).__name__}")
    missing = [f"{role}={col!r}" for role, col in names.items() if col is not None and col not in data]
    if missing:
        raise UnknownNameError(f"{where}: column(s) {', '.join(missing)} not in the data; available "
                               f"columns are {list(data.columns)}")


def _wave_order(data: pd.DataFrame, wave: str, time: str | None) -> list:
    s = data[wave]
    present = set(s.dropna().unique())
    if isinstance(s.dtype, pd.CategoricalDtype) and s.dtype.ordered:
        return [w for w in s.cat.categories if w in present]
    if time is not None:
        med = pd.to_numeric(data[time], errors="coerce").groupby(s, observed=True, sort=False).median()
        return sorted(present, key=lambda w: (med.get(w, np.inf), str(w)))
    return list(pd.unique(s.dropna()))


def _layout(data, subject, wave, waves, where):
    """Row positions (participant code, wave code) and the participants, checking a full grid."""
    if data[subject].isna().any() or data[wave].isna().any():
        raise SpecificationError(f"{where}: {subject!r} and {wave!r} must not be missing; "
                                 f"{int(data[subject].isna().sum())} and {int(data[wave].isna().sum())} "
                                 "rows are")
    try:    # sorted ids make the imputations independent of the input's row order
        subj_code, subjects = pd.factorize(data[subject], sort=True)
    except TypeError:
        subj_code, subjects = pd.factorize(data[subject], sort=False)
    wave_code = pd.Categorical(data[wave].astype(object), categories=waves).codes.astype(np.intp)
    cell = subj_code.astype(np.int64) * len(waves) + wave_code
    if pd.Series(cell).duplicated().any():
        dup = data.loc[pd.Series(cell).duplicated().to_numpy(), [subject, wave]].head(3)
        raise SpecificationError(f"{where}: more than one row per {subject} x {wave}, e.g. "
                                 f"{dup.to_dict('records')}; give one row per participant and wave")
    if len(cell) != len(subjects) * len(waves):
        raise SpecificationError(f"{where}: the frame has {len(cell)} rows, not one per participant "
                                 f"and planned wave ({len(subjects)} x {len(waves)}); build it with "
                                 "build_cohort(..., all_waves=True) so unreturned questionnaires "
                                 "are rows with a missing score")
    return subj_code.astype(np.intp), wave_code, subjects


def _as_float(s: pd.Series, name: str, where: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_object_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().sum() == s.notna().sum():
            return num.to_numpy(dtype=float)
    raise SpecificationError(f"{where}: column {name!r} must be numeric, got dtype {s.dtype}")


def _is_categorical(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        return False
    return not (pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype))


def _predictor_block(data, name, subj_code, wave_code, n_subj, waves, where):
    """Wide numeric columns for one predictor, their names, and a row of predictor_info."""
    s = data[name]
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        raise SpecificationError(f"{where}: predictor {name!r} is a date/time; convert it to a number "
                                 "(e.g. days since referral) before imputing")
    cat = _is_categorical(s)
    if cat:
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels, codes = list(s.cat.categories), s.cat.codes.to_numpy()
        else:
            text = s.astype(object).where(s.isna(), s.astype(str))
            levels = sorted(text.dropna().unique())
            codes = pd.Categorical(text, categories=levels).codes
        values = np.where(codes < 0, np.nan, codes.astype(float))
    else:
        values = _as_float(s, name, where)
    # person-level when no participant has two different observed values
    ok = ~np.isnan(values)
    pairs = pd.DataFrame({"s": subj_code[ok], "v": values[ok]}).drop_duplicates()
    person = not pairs["s"].duplicated().any()
    if person:
        wide = np.full((n_subj, 1), np.nan)
        wide[pairs["s"].to_numpy(), 0] = pairs["v"].to_numpy()
        labels = [name]
    else:
        wide = np.full((n_subj, len(waves)), np.nan)
        wide[subj_code, wave_code] = values
        labels = [f"{name}@{w}" for w in waves]
    if np.isnan(wide).all():
        raise SpecificationError(f"{where}: predictor {name!r} has no observed values; drop it from "
                                 "predictors")
    # A wave at which the predictor is never asked (e.g. mechanism ratings at baseline) has
    # nothing to impute from and nothing to contribute.
    asked = ~np.isnan(wide).all(axis=0)
    not_asked = [w for w, a in zip(waves, asked) if not a] if not person else []
    wide, labels = wide[:, asked], [lab for lab, a in zip(labels, asked) if a]
    n_miss = int(np.isnan(wide).sum())
    note = f"; never observed at {', '.join(map(str, not_asked))}, not used there" if not_asked else ""
    if not cat:
        info = {"predictor": name, "varies": "person" if person else "wave", "kind": "numeric",
                "n_missing": n_miss, "handling": ("imputed" if n_miss else "complete") + note}
        return wide, labels, info
    cols, col_names = [], []
    for j, lab in enumerate(labels):
        v = wide[:, j]
        for k, level in enumerate(levels[1:], start=1):   # first level is the reference
            cols.append((v == k).astype(float))
            col_names.append(f"{lab}[{level}]")
        if np.isnan(v).any():
            cols.append(np.isnan(v).astype(float))
            col_names.append(f"{lab}[missing]")
    info = {"predictor": name, "varies": "person" if person else "wave", "kind": "categorical",
            "n_missing": n_miss,
            "handling": ("missing coded as a category" if n_miss else "complete") + note}
    return (np.column_stack(cols) if cols else np.empty((n_subj, 0))), col_names, info


# ====================================================================== the FCS engine
def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Columns of X that are linearly independent among these rows (mice's remove.lindep).

    A predictor that is constant, or a combination of others, among the observed cases has no
    identified coefficient: its posterior draw would be limited only by the ridge and could throw
    the predictions for the missing cases (where it does vary) far off. A pivoted QR keeps a
    maximal independent set, preferring the columns that explain most.
    """
    _, r, piv = linalg.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(r))
    rank = int((d > 1e-7 * d[0]).sum()) if d.size and d[0] > 0 else 0
    return np.sort(piv[:max(rank, 1)])


def _regression_draw(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """mice's .norm.draw: least-squares coefficients and one draw of (beta*, sigma*)."""
    n, p = X.shape
    xtx = X.T @ X
    d = np.diag(xtx).copy()
    # A column that is constant zero among the observed rows would make X'X singular; the tiny
    # floor keeps the Cholesky factor defined without changing any identified coefficient.
    xtx[np.diag_indices(p)] += _RIDGE * d + 1e-10 * max(d.max(), 1.0)
    chol = linalg.cholesky(xtx, lower=True)
    coef = linalg.cho_solve((chol, True), X.T @ y)
    resid = y - X @ coef
    sigma = math.sqrt(float(resid @ resid) / rng.chisquare(max(n - p, 1)))
    beta = coef + sigma * linalg.solve_triangular(chol.T, rng.standard_normal(p), lower=False)
    return coef, beta, sigma


def _pmm(yhat_obs: np.ndarray, yhat_mis: np.ndarray, donors: int,
         rng: np.random.Generator) -> np.ndarray:
    """Type-1 predictive mean matching: for each missing case, the position (among the observed
    cases) of one of the ``donors`` nearest observed cases, drawn at random."""
    order = np.argsort(yhat_obs, kind="stable")
    sorted_hat = yhat_obs[order]
    n_obs = len(sorted_hat)
    k = min(donors, n_obs)
    width = min(2 * k, n_obs)
    # The k nearest values of a sorted array to a point lie in the 2k values around its position.
    start = np.clip(np.searchsorted(sorted_hat, yhat_mis) - k, 0, n_obs - width)
    window = start[:, None] + np.arange(width)[None, :]
    dist = np.abs(sorted_hat[window] - yhat_mis[:, None])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(yhat_mis))
    pick = nearest[rows, rng.integers(0, k, size=len(yhat_mis))]
    return order[window[rows, pick]]


def _chain(Z: np.ndarray, R: np.ndarray, miss: np.ndarray, visit: list[int], *, iterations: int,
           method: str, donors: int, rng: np.random.Generator, scale: tuple, trace_cols: list[int]):
    """One FCS chain. ``Z`` is the standardised wide matrix the regressions use, ``R`` the same on
    the raw scale; pmm copies donors' raw values into ``R`` so observed numbers are reproduced
    exactly. Returns the completed raw matrix and the trace of imputed means."""
    Z, R = Z.copy(), R.copy()
    mean, sd = scale
    for j in visit:
        mj = miss[:, j]
        donor = rng.integers(0, int((~mj).sum()), size=int(mj.sum()))
        Z[mj, j], R[mj, j] = Z[~mj, j][donor], R[~mj, j][donor]
    n, p = Z.shape
    trace = np.empty((iterations, len(trace_cols)))
    for it in range(iterations):
        for j in visit:
            mj = miss[:, j]
            X = np.column_stack([np.ones(n), Z[:, np.arange(p) != j]])
            X = X[:, _independent_columns(X[~mj])]
            coef, beta, sigma = _regression_draw(X[~mj], Z[~mj, j], rng)
            if method == "norm":
                Z[mj, j] = X[mj] @ beta + rng.normal(0.0, sigma, int(mj.sum()))
                R[mj, j] = Z[mj, j] * sd[j] + mean[j]
            else:
                donor = _pmm(X[~mj] @ coef, X[mj] @ beta, donors, rng)
                Z[mj, j], R[mj, j] = Z[~mj, j][donor], R[~mj, j][donor]
        trace[it] = [R[miss[:, j], j].mean() for j in trace_cols]
    return R, trace


@renamed(predictors="covariates")
def multiple_imputation(data: pd.DataFrame, *, outcome: str, covariates: Sequence[str],
                        subject: str = "participant_id", wave: str = "wave",
                        time: str | None = "weeks", m: int = 20, iterations: int = 10,
                        method: str = "pmm", donors: int = 5, seed: int,
                        progress: bool = True) -> ImputedData:
    """Impute missing outcome scores *m* times by chained equations in wide form.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame, one row per participant and planned wave (e.g.
        :func:`evalkit.build_cohort` with scores joined), the outcome missing where no score came
        back.
    outcome : str
        The numeric outcome to impute (e.g. ``"wemwbs"``).
    covariates : sequence of str
        Columns that predict the outcome or its missingness (``predictors=`` is the deprecated
        name): context (``isolation``,
        ``imd_quintile``), engagement (``sessions_attended``, ``delivery_mode``) and other
        instruments' scores (``epds`` enters once per wave). Include every variable that drop-out
        depends on: MI is only as good as the MAR assumption given these. May be empty (the
        outcome's other waves are always used).
    subject, wave : str
        The participant and planned-wave columns.
    time : str or None, default "weeks"
        Time column; where it is missing on an imputed row it is set to the wave's planned week
        (``wave_week`` if the frame has it, else the median observed ``time`` at that wave). None
        leaves time alone.
    m : int, default 20
        Number of imputed data sets (at least 2).
    iterations : int, default 10
        Iterations of each chained-equations chain.
    method : {"pmm", "norm"}, default "pmm"
        Predictive mean matching (imputed values are observed values of similar mothers, so they
        stay on the scale's range) or the Bayesian normal-regression draw.
    donors : int, default 5
        Candidate donors for ``"pmm"`` (mice's default 5).
    seed : int
        Required; the same seed gives byte-identical data sets.
    progress : bool, default True
        Show a tqdm progress bar over imputations.

    Returns
    -------
    ImputedData

    Raises
    ------
    UnknownNameError
        If a named column is not in ``data``.
    SpecificationError
        If the frame is not one row per participant and wave, the outcome is not numeric or has no
        observed value at some wave, a predictor is a date or entirely missing, or ``m``,
        ``iterations``, ``method``, ``donors`` or ``seed`` are invalid.

    Notes
    -----
    Observed outcome values are never changed. Rows are neither dropped nor reordered: every
    returned data set has the input's rows in the input's order.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.missing import multiple_imputation
    >>> long = pd.DataFrame({"participant_id": np.repeat([1, 2, 3, 4, 5, 6], 2),
    ...                      "wave": ["baseline", "end"] * 6, "weeks": [0, 12] * 6,
    ...                      "score": [30, 34, 40, 45, 50, np.nan, 35, 39, 45, np.nan, 38, 41],
    ...                      "isolation": np.repeat([6, 3, 2, 5, 3, 4], 2)})
    >>> imp = multiple_imputation(long, outcome="score", covariates=["isolation"], m=3, seed=7,
    ...                           progress=False)
    >>> imp.datasets[0].loc[[4, 5], ["participant_id", "wave", "score", "score_imputed"]]
       participant_id      wave  score  score_imputed
    4               3  baseline   50.0          False
    5               3       end   34.0           True

    The two missing end scores in each of the three data sets (pmm copies observed scores):

    >>> [d.loc[[5, 9], "score"].tolist() for d in imp.datasets]
    [[34.0, 45.0], [41.0, 41.0], [34.0, 39.0]]
    """
    where = "multiple_imputation()"
    _check_columns(data, {"outcome": outcome, "subject": subject, "wave": wave, "time": time}, where)
    if isinstance(covariates, str):
        covariates = [covariates]
    predictors = list(dict.fromkeys(covariates))
    bad = [p for p in predictors if p in (outcome, subject, wave)]
    if bad:
        raise SpecificationError(f"{where}: {bad} cannot be a predictor (it is the outcome, subject or "
                                 "wave column; the outcome's other waves are used automatically)")
    _check_columns(data, {f"covariates[{i}]": p for i, p in enumerate(predictors)}, where)
    if method not in METHODS:
        raise UnknownNameError(f"{where}: method={method!r} is not available; choose one of "
                               f"{', '.join(METHODS)}")
    for name, value, low in (("m", m, 2), ("iterations", iterations, 1), ("donors", donors, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SpecificationError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecificationError(f"{where}: seed must be a non-negative integer (e.g. seed=1), got "
                                 f"{seed!r}; it makes the imputations reproducible")

    waves = _wave_order(data, wave, time)
    subj_code, wave_code, subjects = _layout(data, subject, wave, waves, where)
    n_subj, n_waves = len(subjects), len(waves)
    y_long = _as_float(data[outcome], outcome, where)
    Y = np.full((n_subj, n_waves), np.nan)
    Y[subj_code, wave_code] = y_long
    n_obs_wave = (~np.isnan(Y)).sum(axis=0)
    if (n_obs_wave == 0).any():
        empty = [w for w, k in zip(waves, n_obs_wave) if k == 0]
        raise SpecificationError(f"{where}: {outcome!r} has no observed value at wave(s) {empty}; "
                                 "nothing to impute from — drop those waves from the frame")

    blocks, names, info = [Y], [f"{outcome}@{w}" for w in waves], []
    for p in predictors:
        block, labels, row = _predictor_block(data, p, subj_code, wave_code, n_subj, waves, where)
        blocks.append(block)
        names += labels
        info.append(row)
    Zraw = np.column_stack(blocks)
    miss = np.isnan(Zraw)
    # Constant complete columns carry no information and would only be collinear with the intercept.
    keep = np.array([miss[:, j].any() or np.ptp(Zraw[:, j]) > 0 for j in range(Zraw.shape[1])])
    keep[:n_waves] = True
    Zraw, miss, names = Zraw[:, keep], miss[:, keep], [nm for nm, k in zip(names, keep) if k]
    # Standardise so the ridge and the Cholesky factor see columns on one scale; pmm donors are
    # taken from the raw values, so observed numbers are copied exactly.
    mean = np.nanmean(Zraw, axis=0)
    sd = np.nanstd(Zraw, axis=0)
    sd[~(sd > 0)] = 1.0
    Z = (Zraw - mean) / sd
    visit = [j for j in range(Z.shape[1]) if miss[:, j].any()]
    trace_cols = [j for j in range(n_waves) if miss[:, j].any()]

    from tqdm.auto import tqdm

    children = np.random.SeedSequence(int(seed)).spawn(m)
    completed, traces = [], []
    # Thousands of small regressions: BLAS threads only add synchronisation (evalkit._blas)
    with single_threaded_blas():
        for i in tqdm(range(m), desc=f"imputing {outcome}", unit="imputation", disable=not progress,
                      leave=False):
            rng = np.random.Generator(np.random.PCG64(children[i]))
            Ri, tr = _chain(Z, Zraw, miss, visit, iterations=iterations, method=method,
                            donors=donors, rng=rng, scale=(mean, sd), trace_cols=trace_cols)
            completed.append(Ri[:, :n_waves])
            traces.append(tr)

    datasets = _fill(data, completed, outcome=outcome, time=time, wave=wave, waves=waves,
                     subj_code=subj_code, wave_code=wave_code, y_long=y_long)
    miss_y = miss[:, :n_waves]
    n_missing = pd.DataFrame({"wave": waves, "n": n_subj, "n_missing": miss_y.sum(axis=0),
                              "percent": np.round(100.0 * miss_y.sum(axis=0) / n_subj, 1)})
    diagnostics = _diagnostics(Y, miss_y, completed, waves)
    trace = pd.DataFrame([{"imputation": i, "iteration": it + 1, "wave": waves[j], "mean": tr[it, c]}
                          for i, tr in enumerate(traces) for it in range(iterations)
                          for c, j in enumerate(trace_cols)],
                         columns=["imputation", "iteration", "wave", "mean"])
    predictor_info = pd.DataFrame(info, columns=["predictor", "varies", "kind", "n_missing", "handling"])
    return ImputedData(datasets=datasets, m=int(m), seed=int(seed), method=method,
                       iterations=int(iterations), donors=int(donors), n_missing=n_missing,
                       covariates=tuple(predictors), predictor_info=predictor_info,
                       diagnostics=diagnostics, trace=trace, outcome=outcome, subject=subject,
                       wave=wave, time=time, waves=tuple(waves))


def _fill(data, completed, *, outcome, time, wave, waves, subj_code, wave_code, y_long):
    """The m long frames: input rows and order, outcome filled, imputed flag, planned time."""
    missing_rows = np.isnan(y_long)
    base = data.copy()
    base[outcome] = y_long
    base[f"{outcome}_imputed"] = missing_rows
    if time is not None:
        t = pd.to_numeric(base[time], errors="coerce").to_numpy(dtype=float)
        fill = missing_rows & np.isnan(t)
        if fill.any():
            if "wave_week" in base.columns:
                planned = pd.to_numeric(base["wave_week"], errors="coerce").to_numpy(dtype=float)
            else:
                med = pd.Series(t).groupby(wave_code).median()
                planned = med.reindex(wave_code).to_numpy(dtype=float)
            t = np.where(fill, planned, t)
            base[time] = t
    out = []
    rows_s, rows_w = subj_code[missing_rows], wave_code[missing_rows]
    col = base.columns.get_loc(outcome)
    for Yi in completed:
        d = base.copy()
        y = y_long.copy()
        y[missing_rows] = Yi[rows_s, rows_w]
        d.isetitem(col, y)
        out.append(d)
    return out


def _diagnostics(Y, miss, completed, waves) -> pd.DataFrame:
    rows = []
    for j, w in enumerate(waves):
        obs = Y[~miss[:, j], j]
        imp = [Yi[miss[:, j], j] for Yi in completed]
        k = int(miss[:, j].sum())
        rows.append({"wave": w, "n_observed": len(obs), "n_imputed": k,
                     "mean_observed": obs.mean(),
                     "mean_imputed": float(np.mean([v.mean() for v in imp])) if k else np.nan,
                     "sd_observed": obs.std(ddof=1) if len(obs) > 1 else np.nan,
                     "sd_imputed": float(np.mean([v.std(ddof=1) for v in imp])) if k > 1 else np.nan})
    return pd.DataFrame(rows)


# ====================================================================== fitting and pooling
def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="fit", disable=not progress, leave=False)


def _fit_all(datasets, fit, estimate, *, bar, desc: str):
    """Fit and estimate on each data set, recording warnings instead of letting them repeat m times."""
    fits, tables, notes = [], [], []
    for i, d in enumerate(datasets):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                f = fit(d)
                tab = estimate(f)
            except Exception as exc:
                exc.add_note(f"while fitting imputed data set {i} ({desc})")
                raise
        seen = {}
        for w in caught:
            seen.setdefault(str(w.message), w.category)
        for text in getattr(f, "warnings", ()) or ():
            seen.setdefault(str(text), None)
        notes.append(seen)
        if isinstance(tab, pd.Series):
            tab = tab.to_frame().T
        if not isinstance(tab, pd.DataFrame) or not {"estimate", "std_error"} <= set(tab.columns):
            raise SpecificationError(f"{desc}: estimate(fit) must return a DataFrame with 'estimate' "
                                     "and 'std_error' columns (and 'df' for Barnard-Rubin df), e.g. "
                                     "change_from_baseline(fit, time='weeks', change=(0, 12)); got "
                                     f"{type(tab).__name__} with columns "
                                     f"{list(getattr(tab, 'columns', []))}")
        if len(tab) == 0:
            raise SpecificationError(f"{desc}: estimate(fit) returned no rows for imputed data set {i}")
        fits.append(f)
        tables.append(tab.reset_index(drop=True))
        bar.update(1)
    return fits, tables, notes


def _summarise_warnings(notes: list[dict], *, of: str) -> tuple[str, ...]:
    """Deduplicate per-fit warnings, count them, and raise each raised one again, once."""
    counts, category = {}, {}
    for seen in notes:
        for text, cat in seen.items():
            counts[text] = counts.get(text, 0) + 1
            if cat is not None:
                category.setdefault(text, cat)
    out = []
    for text, k in counts.items():
        line = f"{text} (in {k} of {len(notes)} {of})"
        out.append(line)
        if text in category:
            warnings.warn(line, category[text], stacklevel=3)
    return tuple(out)


def _pool_tables(tables: list[pd.DataFrame], *, confidence: float, desc: str):
    m = len(tables)
    n_rows = {len(t) for t in tables}
    if len(n_rows) != 1:
        raise SpecificationError(f"{desc}: the estimate tables have different numbers of rows "
                                 f"{sorted(n_rows)} across imputations; return the same rows each time")
    cols = [c for c in tables[0].columns if c not in _STAT_COLUMNS]
    labels, dropped = [], []
    for c in cols:
        same = all(c in t.columns and t[c].equals(tables[0][c]) for t in tables[1:])
        (labels if same else dropped).append(c)
    est = np.column_stack([pd.to_numeric(t["estimate"], errors="coerce").to_numpy(float) for t in tables]).T
    var = np.column_stack([pd.to_numeric(t["std_error"], errors="coerce").to_numpy(float) ** 2
                           for t in tables]).T
    df_complete = None
    if all("df" in t.columns for t in tables):
        dfs = np.column_stack([pd.to_numeric(t["df"], errors="coerce").to_numpy(float) for t in tables])
        # An unknown complete-data df means "large sample": Rubin's original df.
        df_complete = np.where(np.isnan(dfs).any(axis=1), np.inf, dfs.mean(axis=1))
    names = (tables[0]["term"].astype(str).tolist() if "term" in labels else None)
    pooled = pool(est, var, df_complete=df_complete, confidence=confidence, names=names)
    if labels:
        lab = tables[0][labels].reset_index(drop=True)
        pooled = pd.concat([lab, pooled.drop(columns="term")], axis=1)
    stacked = pd.concat([t.assign(imputation=i) for i, t in enumerate(tables)], ignore_index=True)
    stacked = stacked[["imputation", *[c for c in stacked.columns if c != "imputation"]]]
    return pooled, stacked, tuple(dropped), m


def _check_imputed(imputed, where):
    if not isinstance(imputed, ImputedData):
        raise SpecificationError(f"{where}: expected the ImputedData returned by multiple_imputation(), "
                                 f"got {type(imputed).__name__}")


def _check_callables(model, estimate, where):
    for name, f in (("model", model), ("estimate", estimate)):
        if not callable(f):
            raise SpecificationError(f"{where}: {name} must be a function, e.g. model=lambda d: "
                                     "fit_mixed(d, outcome='wemwbs', fixed='weeks') and "
                                     "estimate=lambda fit: change_from_baseline(fit, time='weeks', "
                                     f"change=(0, 12)); got {type(f).__name__}")


@renamed(fit="model")
def fit_imputed(imputed: ImputedData, *, model: Callable, estimate: Callable,
                confidence: float = 0.95, progress: bool = True) -> PooledResult:
    """Fit the analysis model to every imputed data set and pool the estimates with Rubin's rules.

    Parameters
    ----------
    imputed : ImputedData
        From :func:`multiple_imputation`.
    model : callable
        Takes one completed long frame and returns a fitted model, e.g.
        ``lambda d: fit_mixed(d, outcome="wemwbs", fixed="weeks", random="weeks")`` (``fit=`` is
        the deprecated name).
    estimate : callable
        Takes the fitted model and returns a tidy table with ``estimate`` and ``std_error`` (and
        ``df``, the complete-data df, for Barnard–Rubin df; without it Rubin's df is used), plus
        label columns, e.g. ``lambda f: change_from_baseline(f, time="weeks", change=(0, 12))`` or
        ``lambda f: f.fixed``. Rows are pooled by position; label columns (every column other than
        ``estimate, std_error, df, statistic, p_value, ci_low, ci_high`` that is the same in every
        imputation) are kept.
    confidence : float, default 0.95
    progress : bool, default True
        Show a tqdm progress bar over the fits.

    Returns
    -------
    PooledResult
        ``.table`` has the label columns then ``estimate, std_error, df, statistic, p_value,
        ci_low, ci_high, within_var, between_var, total_var, riv, lambda, fmi, m``. Without label
        columns, a ``term`` column names the rows ``Q`` (or ``Q0, Q1, …``).

    Raises
    ------
    SpecificationError
        If ``model``/``estimate`` are not callables, the estimate tables lack ``estimate`` or
        ``std_error`` or differ in their number of rows, or the pooling inputs are invalid.

    Notes
    -----
    The complete-data df for Barnard–Rubin is, per row, the mean of the imputations' ``df`` (as
    :func:`~evalkit.models.pooling.pool_fits`), infinite if any is missing. Warnings from the
    fits are collected and raised again once each, with the number of imputations they came from.

    Examples
    --------
    The change from week 0 to 12 in a random-intercept model, pooled over five imputations:

    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.missing import multiple_imputation, fit_imputed
    >>> from evalkit.models.mixed import fit_mixed
    >>> from evalkit.models.moderation import change_from_baseline
    >>> rng = np.random.default_rng(8)
    >>> n, weeks = 80, np.array([0.0, 6.0, 12.0])
    >>> y = rng.normal(40, 6, (n, 1)) + 0.4 * weeks + rng.normal(0, 3, (n, 3))
    >>> y[rng.random(n) < 0.3, 2] = np.nan
    >>> long = pd.DataFrame({"participant_id": np.repeat(np.arange(n), 3),
    ...                      "wave": np.tile(["baseline", "mid", "end"], n),
    ...                      "weeks": np.tile(weeks, n), "wemwbs": y.ravel()})
    >>> imp = multiple_imputation(long, outcome="wemwbs", covariates=[], m=5, seed=2, progress=False)
    >>> res = fit_imputed(imp, progress=False,
    ...                   model=lambda d: fit_mixed(d, outcome="wemwbs", fixed="weeks",
    ...                                             subject="participant_id"),
    ...                   estimate=lambda f: change_from_baseline(f, time="weeks", change=(0, 12)))
    >>> res.table[["term", "estimate", "std_error", "df", "fmi"]].round(2)
      term  estimate  std_error     df   fmi
    0    Q      4.78       0.58  28.06  0.37
    """
    where = "fit_imputed()"
    _check_imputed(imputed, where)
    _check_callables(model, estimate, where)
    with _bar(imputed.m, "fitting imputed data", progress) as bar:
        fits, tables, notes = _fit_all(imputed.datasets, model, estimate, bar=bar,
                                       desc="fitting imputed data")
    table, stacked, dropped, _ = _pool_tables(tables, confidence=confidence, desc=where)
    notes_out = _summarise_warnings(notes, of="imputed data sets")
    return PooledResult(table=table, fits=fits, estimates=stacked, warnings=notes_out,
                        dropped_columns=dropped)


# ====================================================================== tipping point
def _select_row(table: pd.DataFrame, row, where: str) -> int:
    if isinstance(row, (int, np.integer)) and not isinstance(row, bool):
        if not -len(table) <= row < len(table):
            raise SpecificationError(f"{where}: row={row} is out of range; the estimate table has "
                                     f"{len(table)} row(s)")
        return int(row) % len(table)
    if isinstance(row, str):
        labels = table.loc[:, :"estimate"].drop(columns="estimate").astype(str)
        hits = np.flatnonzero((labels == row).any(axis=1).to_numpy())
        if len(hits) == 1:
            return int(hits[0])
        shown = labels.agg(" ".join, axis=1).tolist()
        raise SpecificationError(f"{where}: row={row!r} matches {len(hits)} rows of the estimate "
                                 f"table (rows: {shown}); give a label that matches one row, or its "
                                 "position")
    raise SpecificationError(f"{where}: row must be a position (int) or a row label (str), got {row!r}")


def _row_label(table: pd.DataFrame, i: int) -> str:
    labels = table.loc[:, :"estimate"].drop(columns="estimate")
    return " ".join(str(v) for v in labels.iloc[i].tolist()) if labels.shape[1] else f"row {i}"


def _higher_is(outcome: str) -> str | None:
    try:
        from ..instruments import get

        value = getattr(get(outcome), "higher_is", None)
    except Exception:       # not a registered instrument: neutral wording
        return None
    return value if value in ("better", "worse") else None


@renamed(fit="model", wave="from_wave")
def tipping_point(imputed: ImputedData, *, model: Callable, estimate: Callable,
                  deltas: Sequence[float], row: int | str = 0, from_wave: str = "end",
                  null: float = 0.0,
                  confidence: float = 0.95, higher_is: str | None = None,
                  progress: bool = True) -> TippingPoint:
    """Delta-adjusted sensitivity analysis: shift the imputed scores and find where the conclusion tips.

    For each ``delta``, every *imputed* value of the outcome at ``from_wave`` and at later waves is
    shifted by ``delta`` (negative: the mothers without a score did worse than MAR predicts when
    higher scores are better), the model is refitted to the *m* shifted data sets and the chosen row
    is pooled with Rubin's rules. The shifts are applied to the already-imputed data sets (no
    re-imputation per delta), the usual shortcut when the delta applies to the outcome at and after
    drop-out (Cro et al. 2020): values imputed for earlier waves, and observed values, are left as
    they were.

    Parameters
    ----------
    imputed : ImputedData
    model, estimate : callable
        As in :func:`fit_imputed` (``fit=`` is the deprecated name of ``model=``).
    deltas : sequence of float
        Shifts in outcome points, all of one sign (0 is always added as the MAR reference), e.g.
        ``np.arange(0, -10.5, -0.5)``.
    row : int or str, default 0
        The row of the estimate table to follow: its position, or a label value (e.g. a ``term``
        or a ``delivery_mode`` level).
    from_wave : str, default "end"
        The first wave whose imputed values are shifted (``wave=`` is the deprecated name; ``wave``
        is always the wave column).
    null : float, default 0.0
        The value that the conclusion is about (no change).
    confidence : float, default 0.95
    higher_is : {"better", "worse"}, optional
        Direction of the outcome, only for the wording of :meth:`TippingPoint.describe`; looked up
        in the instrument registry when the outcome is an instrument id.
    progress : bool, default True

    Returns
    -------
    TippingPoint

    Raises
    ------
    SpecificationError
        If ``deltas`` are empty, not finite or of both signs, ``from_wave`` is not a wave of the data,
        ``row`` does not pick one row, or the fits fail as in :func:`fit_imputed`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.missing import multiple_imputation, tipping_point
    >>> rng = np.random.default_rng(3)
    >>> base = rng.normal(40, 8, 60)
    >>> end = base + 4 + rng.normal(0, 4, 60)
    >>> end[rng.random(60) < 0.3] = np.nan
    >>> long = pd.DataFrame({"participant_id": np.repeat(np.arange(60), 2),
    ...                      "wave": np.tile(["baseline", "end"], 60),
    ...                      "wemwbs": np.column_stack([base, end]).ravel()})
    >>> imp = multiple_imputation(long, outcome="wemwbs", covariates=[], time=None, m=5, seed=1,
    ...                           progress=False)
    >>> def mean_change(d):
    ...     w = d.pivot(index="participant_id", columns="wave", values="wemwbs")
    ...     diff = w["end"] - w["baseline"]
    ...     return pd.DataFrame({"term": ["change"], "estimate": [diff.mean()],
    ...                          "std_error": [diff.std() / np.sqrt(len(diff))],
    ...                          "df": [len(diff) - 1]})
    >>> tp = tipping_point(imp, model=lambda d: d, estimate=mean_change, deltas=np.arange(0, -8, -1),
    ...                    progress=False)
    >>> tp.table[["delta", "estimate", "ci_low", "ci_high", "holds"]].iloc[[0, 4, 5]].round(2)
       delta  estimate  ci_low  ci_high  holds
    0    0.0      3.28    1.62     4.95   True
    4   -4.0      2.02    0.28     3.76   True
    5   -5.0      1.70   -0.08     3.48  False
    >>> tp.tipping_delta
    -5.0
    >>> print(tp.describe())
    The conclusion (estimate 3.3, 95% CI 1.6 to 4.9 if missing scores are missing at random) holds
    unless mothers without an end score did on average 5.0 points worse than similar mothers who
    completed.
    """
    where = "tipping_point()"
    _check_imputed(imputed, where)
    _check_callables(model, estimate, where)
    try:
        d = np.asarray(list(np.atleast_1d(deltas)), dtype=float)
    except (TypeError, ValueError):
        raise SpecificationError(f"{where}: deltas must be numbers, got {deltas!r}") from None
    if d.size == 0 or not np.isfinite(d).all() or not d.any():
        raise SpecificationError(f"{where}: deltas must be a sequence of finite numbers with at "
                                 "least one non-zero shift, e.g. np.arange(0, -10.5, -0.5)")
    if (d > 0).any() and (d < 0).any():
        raise SpecificationError(f"{where}: deltas must all have one sign (all <= 0 for 'worse' on a "
                                 "higher-is-better scale, all >= 0 otherwise); run the two directions "
                                 "as two analyses")
    d = np.unique(np.r_[0.0, d])
    d = d[np.argsort(np.abs(d), kind="stable")]
    if from_wave not in imputed.waves:
        raise UnknownNameError(f"{where}: from_wave={from_wave!r} is not a wave of the data; waves "
                               f"are {list(imputed.waves)}")
    if higher_is not in (None, "better", "worse"):
        raise SpecificationError(f"{where}: higher_is must be 'better', 'worse' or None, got "
                                 f"{higher_is!r}")
    if not (isinstance(null, (int, float, np.number)) and np.isfinite(null)):
        raise SpecificationError(f"{where}: null must be a finite number, got {null!r}")

    y, flag = imputed.outcome, f"{imputed.outcome}_imputed"
    later = [w for w in imputed.waves[imputed.waves.index(from_wave):]]
    shifts = [(ds[flag].to_numpy(bool) & ds[imputed.wave].isin(later).to_numpy()).astype(float)
              for ds in imputed.datasets]
    rows, notes, label, index = [], [], None, None
    with _bar(len(d) * imputed.m, "tipping point", progress) as bar:
        for delta in d:
            shifted = [ds.assign(**{y: ds[y].to_numpy() + delta * s}) if delta else ds
                       for ds, s in zip(imputed.datasets, shifts)]
            _, tables, seen = _fit_all(shifted, model, estimate, bar=bar,
                                       desc=f"tipping point, delta {delta:g}")
            notes += seen
            table, _, _, _ = _pool_tables(tables, confidence=confidence, desc=where)
            if index is None:
                index = _select_row(table, row, where)
                label = _row_label(table, index)
            r = table.iloc[index]
            rows.append({c: float(r[c]) for c in TIPPING_COLUMNS if c not in ("delta", "holds")}
                        | {"delta": float(delta)})
    out = pd.DataFrame(rows)
    excl = ~((out["ci_low"] <= null) & (null <= out["ci_high"]))
    side = np.sign(out["estimate"] - null)
    # A significant result must keep its CI clear of null on the same side; a non-significant one
    # holds while the CI still includes null, whichever side of null the estimate drifts to.
    out["holds"] = (excl == excl.iloc[0]) & ((side == side.iloc[0]) | (side == 0) | ~excl.iloc[0])
    out = out[TIPPING_COLUMNS]
    changed = np.flatnonzero(~out["holds"].to_numpy())
    tip = float(out["delta"].iloc[changed[0]]) if len(changed) else float("nan")
    notes_out = _summarise_warnings(notes, of="fits")
    return TippingPoint(table=out, tipping_delta=tip, term=label, null=float(null),
                        confidence=float(confidence), outcome=y, from_wave=str(from_wave),
                        higher_is=higher_is if higher_is is not None else _higher_is(y),
                        warnings=notes_out)
