"""Attrition: who has no end score, how the data went missing, and the participant flow.

In routine peer-support services 30–55 % of mothers have no end-of-support score, and who drops out
is not random. These functions make attrition visible instead of letting a completers-only analysis
flatter the programme:

* :func:`missingness_patterns` and :func:`plot_missingness` -- which waves each participant was
  measured at (the classic pattern table and grid);
* :func:`compare_completers` -- completers against non-completers on baseline scores and context,
  with the standardised differences of "table 1" (tableone / cobalt conventions; |SMD| > 0.1 is
  commonly flagged);
* :func:`attrition_model` -- a logistic regression of having an end score;
* :func:`participant_flow` -- the CONSORT-style flow from referral to end score, optionally headed
  by the record-level stages of validation.

All of them take the long frame (one row per participant × wave, e.g. from
:func:`evalkit.build_cohort` with scores joined). A participant with no row for a wave counts as
not measured at that wave. A variable that is constant within each participant is a
participant-level variable; one that varies between waves (a score) is taken at the baseline wave.

Examples
--------
>>> import pandas as pd
>>> from evalkit.attrition import missingness_patterns
>>> long = pd.DataFrame({"participant_id": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
...                      "wave": ["baseline", "mid", "end"] * 3,
...                      "epds": [14, 12, 10, 16, None, None, 11, None, 9]})
>>> missingness_patterns(long, outcome="epds")[["pattern", "n_participants", "percent"]]
  pattern  n_participants    percent
0     X..               1  33.333333
1     X.X               1  33.333333
2     XXX               1  33.333333
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ._levels import levels as _levels
from ._checks import check_confidence
from ._compat import renamed, warn_deprecated
from ._result import Result
from .errors import ConvergenceWarning, DataQualityWarning, SpecificationError, UnknownNameError
from .models.coding import treatment_matrix

__all__ = [
    "missingness_patterns",
    "plot_missingness",
    "compare_completers",
    "attrition_model",
    "participant_flow",
    "AttritionModel",
    "COMPARE_COLUMNS",
    "MODEL_COLUMNS",
    "FLOW_COLUMNS",
]

#: Columns of :func:`compare_completers`, in order.
COMPARE_COLUMNS = ["variable", "level", "kind", "n_completers", "n_non_completers", "completers",
                   "non_completers", "sd_completers", "sd_non_completers", "n_missing",
                   "std_difference"]
#: Columns of :attr:`AttritionModel.table`, in order.
MODEL_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high",
                 "odds_ratio", "or_ci_low", "or_ci_high"]
#: Columns of :func:`participant_flow`, in order.
FLOW_COLUMNS = ["stage", "n", "percent_of_referred", "note"]

# Okabe–Ito blue for "measured" and a light grey for "missing": distinguishable in every common
# colour-vision deficiency and in greyscale print.
_MEASURED, _MISSING = "#0072B2", "#E5E5E5"


# ====================================================================== shared data handling
def _check_frame(data, columns, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{where}: data must be a pandas DataFrame (the long participant × "
                                 f"wave frame), got {type(data).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if missing:
        raise UnknownNameError(f"{where}: column(s) {missing} not in the data; available columns are "
                               f"{list(data.columns)}")


def _wave_levels(data: pd.DataFrame, wave: str) -> list:
    """Waves in time order: the categorical order (levels present), else order of appearance."""
    values = data[wave]
    present = pd.unique(values.dropna())
    if isinstance(values.dtype, pd.CategoricalDtype):
        seen = set(present)
        return [lv for lv in values.cat.categories if lv in seen]
    return list(present)


def _keys(data: pd.DataFrame, subject: str, wave: str, where: str) -> None:
    """Every row needs a subject and a wave, and a participant has at most one row per wave."""
    bad = data[subject].isna() | data[wave].isna()
    if bad.any():
        raise SpecificationError(f"{where}: {int(bad.sum())} row(s) have no {subject!r} or no {wave!r}; "
                                 "every row of the long frame must name its participant and wave")
    dup = data.duplicated([subject, wave])
    if dup.any():
        first = data.loc[dup, [subject, wave]].iloc[0].tolist()
        raise SpecificationError(f"{where}: {int(dup.sum())} duplicate {subject} × {wave} row(s) "
                                 f"(first: {first[0]!r} at {first[1]!r}); keep one row per participant "
                                 "and wave")


def _subjects(data: pd.DataFrame, subject: str) -> pd.Index:
    # Sorted, so that shuffling the rows of the input never changes a table.
    return pd.Index(sorted(pd.unique(data[subject]), key=lambda v: (str(type(v)), v)), name=subject)


def _check_wave(levels: list, value, name: str, where: str) -> None:
    if value not in levels:
        raise UnknownNameError(f"{where}: {name} wave {value!r} is not in the data; waves are "
                               f"{[str(w) for w in levels]}")


def _score_at(data, outcome, subject, wave, level, ids) -> pd.Series:
    """True where the participant has a non-missing ``outcome`` at wave ``level`` (aligned to ids)."""
    at = data.loc[data[wave] == level]
    has = at.loc[at[outcome].notna(), subject]
    return pd.Series(ids.isin(has), index=ids)


def _participant_values(data, variables, subject, wave, baseline, ids) -> pd.DataFrame:
    """One value per participant: constant columns as they are, wave-varying ones at baseline."""
    out = {}
    for var in variables:
        col = data[[subject, var]]
        varies = col.groupby(subject, sort=False, observed=True)[var].nunique(dropna=False).gt(1).any()
        if varies:
            at = data.loc[data[wave] == baseline].set_index(subject)[var]
        else:
            at = col.drop_duplicates(subject).set_index(subject)[var]
        out[var] = at.reindex(ids)
    return pd.DataFrame(out, index=ids)


def _kind(values: pd.Series) -> str:
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(values.dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "numeric"
    return "categorical"


def _std_diff(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 -> NaN (no spread in either group: nothing to standardise by)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num, float) / np.asarray(den, float)


# ====================================================================== missingness patterns
def missingness_patterns(data: pd.DataFrame, *, outcome: str, subject: str = "participant_id",
                         wave: str = "wave") -> pd.DataFrame:
    """Which waves each participant was measured at, as a table of patterns.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame, one row per participant × wave (planned waves present as rows with the
        outcome missing where not measured).
    outcome : str
        The score column; a wave counts as measured where it is not missing.
    subject, wave : str
        Participant and wave columns. Waves are ordered by the categorical order of ``wave`` (levels
        present in the data), else by order of first appearance.

    Returns
    -------
    pandas.DataFrame
        One row per observed pattern: ``pattern`` (one character per wave in wave order, ``"X"``
        measured, ``"."`` missing), one boolean column per wave (named by the wave),
        ``n_participants`` and ``percent`` (of all participants). Sorted by ``n_participants``
        (descending), then ``pattern``. A participant with no row for a wave is missing there.

    Raises
    ------
    UnknownNameError
        A column is not in the data.
    SpecificationError
        Rows without participant or wave, duplicate participant × wave rows, or a wave named like
        one of the output columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.attrition import missingness_patterns
    >>> long = pd.DataFrame({"participant_id": ["a", "a", "b", "b", "c", "c"],
    ...                      "wave": ["baseline", "end"] * 3, "wemwbs": [40, 45, 38, None, 41, 47]})
    >>> missingness_patterns(long, outcome="wemwbs")
      pattern  baseline    end  n_participants    percent
    0      XX      True   True               2  66.666667
    1      X.      True  False               1  33.333333
    """
    where = "missingness_patterns"
    _check_frame(data, [subject, wave, outcome], where)
    _keys(data, subject, wave, where)
    waves = _wave_levels(data, wave)
    clash = [w for w in waves if str(w) in ("pattern", "n_participants", "percent")]
    if clash:
        raise SpecificationError(f"{where}: wave(s) {clash} are named like an output column; rename "
                                 "the wave levels")
    if data.empty:
        raise SpecificationError(f"{where}: the data have no rows")
    ids = _subjects(data, subject)
    measured = pd.DataFrame({str(w): _score_at(data, outcome, subject, wave, w, ids) for w in waves},
                            index=ids)
    pattern = pd.Series(np.where(measured.to_numpy(), "X", ".").tolist(), index=ids).map("".join)
    counts = pattern.value_counts()
    table = pd.DataFrame({"pattern": counts.index.to_numpy(dtype=object),
                          "n_participants": counts.to_numpy(dtype=np.int64)})
    for j, w in enumerate(measured.columns):
        table.insert(1 + j, w, table["pattern"].str[j].eq("X"))
    table["percent"] = 100.0 * table["n_participants"] / len(ids)
    table = table.sort_values(["n_participants", "pattern"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def plot_missingness(patterns: pd.DataFrame, *, ax=None):
    """The missingness pattern grid: rows are patterns, columns waves, filled cells measured.

    Parameters
    ----------
    patterns : pandas.DataFrame
        The table from :func:`missingness_patterns`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        With the number (and percentage) of participants of each pattern labelled on the right.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from evalkit.attrition import missingness_patterns, plot_missingness
    >>> long = pd.DataFrame({"participant_id": ["a", "a", "b", "b"], "wave": ["baseline", "end"] * 2,
    ...                      "epds": [12, 9, 15, None]})
    >>> ax = plot_missingness(missingness_patterns(long, outcome="epds"))
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['baseline', 'end']
    """
    import matplotlib.pyplot as plt

    from .report import figures

    needed = ["pattern", "n_participants", "percent"]
    if not isinstance(patterns, pd.DataFrame) or any(c not in patterns.columns for c in needed):
        raise SpecificationError("plot_missingness: pass the table returned by missingness_patterns() "
                                 f"(columns {needed} and one boolean column per wave)")
    if ax is None:
        waves = len(patterns.columns) - len(needed)
        _, ax = plt.subplots(figsize=(3.2 + 0.9 * waves, 1.2 + 0.35 * max(len(patterns), 1)),
                             layout="constrained")
    return figures.draw_missingness(ax, patterns)


# ====================================================================== completers vs non-completers
@renamed(variables="covariates", baseline="baseline_wave", end="end_wave")
def compare_completers(data: pd.DataFrame, *, outcome: str, covariates,
                       subject: str = "participant_id", wave: str = "wave",
                       baseline_wave: str = "baseline", end_wave: str = "end") -> pd.DataFrame:
    """Completers against non-completers on baseline scores and context, with standardised differences.

    Completers are participants with a non-missing ``outcome`` at the ``end_wave``; everyone else in
    ``data`` is a non-completer (filter ``data`` first, e.g. to starters, to compare within them).

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame.
    outcome : str
        The score whose presence at ``end_wave`` defines a completer.
    covariates : str or sequence of str
        Participant-level columns (context) or scores to compare; a variable that varies between a
        participant's waves is taken at ``baseline_wave`` (``variables=`` is the deprecated name).
    subject, wave : str
        The participant and wave columns.
    baseline_wave, end_wave : str
        The baseline and end levels of ``wave`` (``baseline=``/``end=`` are deprecated names).

    Returns
    -------
    pandas.DataFrame
        ``variable, level, kind, n_completers, n_non_completers, completers, non_completers,
        sd_completers, sd_non_completers, n_missing, std_difference``.

        * numeric (``kind="numeric"``, ``level`` None): means and SDs per group and the
          standardised mean difference (completers − non-completers) / sqrt((var1 + var2) / 2);
        * boolean or categorical (``kind="categorical"``): one row per level (category order,
          False before True, else sorted) with the proportion per group and
          (p1 − p2) / sqrt((p1 (1 − p1) + p2 (1 − p2)) / 2); SDs are NaN.

        ``n_completers`` and ``n_non_completers`` count participants with the variable present
        (the denominators); ``n_missing`` counts participants, in either group, without it. A
        difference with no spread in either group is NaN (0/0) or ±inf.

    Warns
    -----
    DataQualityWarning
        When one of the groups is empty (everybody, or nobody, has an end score).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.attrition import compare_completers
    >>> long = pd.DataFrame({"participant_id": list("aabbccdd"), "wave": ["baseline", "end"] * 4,
    ...                      "epds": [10, 8, 14, 11, 16, None, 18, None],
    ...                      "partner": [True, True, True, True, False, False, True, True]})
    >>> t = compare_completers(long, outcome="epds", covariates=["epds", "partner"])
    >>> t[["variable", "level", "completers", "non_completers", "std_difference"]].round(3)
      variable  level  completers  non_completers  std_difference
    0     epds   None        12.0            17.0          -2.236
    1  partner  False         0.0             0.5          -1.414
    2  partner   True         1.0             0.5           1.414
    """
    where = "compare_completers"
    covariates = _names(covariates, "covariates", where)
    _check_frame(data, [subject, wave, outcome, *covariates], where)
    bad = [v for v in covariates if v in (subject, wave)]
    if bad:
        raise SpecificationError(f"{where}: {bad} is the participant or wave column, not a variable to "
                                 "compare")
    _keys(data, subject, wave, where)
    levels = _wave_levels(data, wave)
    _check_wave(levels, baseline_wave, "baseline", where)
    _check_wave(levels, end_wave, "end", where)
    ids = _subjects(data, subject)
    done = _score_at(data, outcome, subject, wave, end_wave, ids).to_numpy()
    if done.all() or not done.any():
        warnings.warn(f"{where}: {'all' if done.all() else 'none'} of the {len(ids)} participants have "
                      f"{outcome!r} at {end_wave!r}, so there is no one to compare them with",
                      DataQualityWarning, stacklevel=2)
    values = _participant_values(data, covariates, subject, wave, baseline_wave, ids)
    rows = []
    for var in covariates:
        v = values[var]
        present = v.notna().to_numpy()
        n1, n0 = int((present & done).sum()), int((present & ~done).sum())
        n_missing = int((~present).sum())
        base = {"variable": var, "n_completers": n1, "n_non_completers": n0, "n_missing": n_missing}
        if _kind(v) == "numeric":
            x = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            g1, g0 = x[present & done], x[present & ~done]
            m1, m0 = _mean(g1), _mean(g0)
            s1, s0 = _sd(g1), _sd(g0)
            smd = _std_diff(m1 - m0, np.sqrt((s1 ** 2 + s0 ** 2) / 2))
            rows.append({**base, "level": None, "kind": "numeric", "completers": m1,
                         "non_completers": m0, "sd_completers": s1, "sd_non_completers": s0,
                         "std_difference": float(smd)})
            continue
        obj = v.astype(object)
        for level in _levels(v):
            hit = (obj == level).to_numpy(dtype=bool, na_value=False)
            p1 = hit[present & done].sum() / n1 if n1 else np.nan
            p0 = hit[present & ~done].sum() / n0 if n0 else np.nan
            smd = _std_diff(p1 - p0, np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2))
            rows.append({**base, "level": level, "kind": "categorical", "completers": float(p1),
                         "non_completers": float(p0), "sd_completers": np.nan,
                         "sd_non_completers": np.nan, "std_difference": float(smd)})
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    table["level"] = table["level"].astype(object).where(table["kind"].eq("categorical"), None)
    return table


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else np.nan


def _sd(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else np.nan


def _names(value, what: str, where: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value or ())
    if not names or not all(isinstance(n, str) for n in names):
        raise SpecificationError(f"{where}: {what} must be a column name or a non-empty list of column "
                                 f"names, got {value!r}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecificationError(f"{where}: {what} lists {dup} more than once")
    return names


# ====================================================================== logistic model of completion
@dataclass(frozen=True, eq=False, repr=False)
class AttritionModel(Result):
    """A logistic regression of having an end score, from :func:`attrition_model`.

    Attributes
    ----------
    table : pandas.DataFrame
        ``term, estimate`` (log-odds), ``std_error, statistic`` (Wald z), ``p_value, ci_low,
        ci_high, odds_ratio, or_ci_low, or_ci_high``. Terms are named as in mixed-model tables
        (:mod:`evalkit.models.coding`): categorical ``variable[T.level]`` (treatment coding
        against the first level), numeric and boolean by the column name.
    outcome : str
        The score whose presence at the end wave is modelled.
    covariates : tuple of str
    n : int
        Participants used.
    n_excluded : int
        Participants left out because a predictor was missing.
    n_events : int
        Participants used who have an end score.
    confidence : float
    warnings : tuple of str
        Fitting problems (separation, non-convergence), also emitted as
        :class:`~evalkit.errors.ConvergenceWarning`.
    raw : statsmodels GLMResults
    """

    table: pd.DataFrame
    outcome: str
    covariates: tuple
    n: int
    n_excluded: int
    n_events: int
    confidence: float
    warnings: tuple
    raw: object = field(repr=False)

    @property
    def predictors(self) -> tuple:
        """Deprecated name of :attr:`covariates`."""
        warn_deprecated("AttritionModel.predictors is now .covariates")
        return self.covariates

    def _header(self) -> list[str]:
        return [f"logistic regression of having {self.outcome} at the end wave; {self.n} "
                f"participants ({self.n_events} with an end score, {self.n_excluded} excluded)",
                *[f"warning: {w}" for w in self.warnings]]


@renamed(predictors="covariates", end="end_wave", baseline="baseline_wave")
def attrition_model(data: pd.DataFrame, *, outcome: str, covariates,
                    subject: str = "participant_id", wave: str = "wave", end_wave: str = "end",
                    baseline_wave: str = "baseline", confidence: float = 0.95) -> AttritionModel:
    """Logistic regression of having an end score on participant-level predictors.

    Fitted by maximum likelihood (statsmodels GLM, binomial family, logit link: the same estimates
    as R's ``glm(family = binomial)``), with Wald z-tests and intervals.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame.
    outcome : str
        Score column: the response is 1 where it is present at ``end_wave``, else 0.
    covariates : str or sequence of str
        Participant-level columns; scores (varying by wave) are taken at ``baseline_wave``
        (``predictors=`` is the deprecated name). Numeric and boolean columns enter as numbers
        (True = 1); text and categorical ones are treatment-coded against their first level
        (category order, else sorted), named ``column[T.level]``
        (:mod:`evalkit.models.coding`).
    subject, wave : str
        The participant and wave columns.
    end_wave, baseline_wave : str
        The end and baseline levels of ``wave`` (``end=``/``baseline=`` are deprecated names).
    confidence : float, default 0.95

    Returns
    -------
    AttritionModel

    Raises
    ------
    SpecificationError
        A predictor is constant, predictors are collinear (both named), or every (or no)
        participant has an end score.
    UnknownNameError
        A column or wave is not in the data.

    Warns
    -----
    ConvergenceWarning
        Perfect separation or non-convergence; the message is also kept in ``.warnings``.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.attrition import attrition_model
    >>> long = pd.DataFrame({
    ...     "participant_id": [p for p in range(12) for _ in range(2)],
    ...     "wave": ["baseline", "end"] * 12,
    ...     "epds": [v for p in range(12) for v in (10 + p, 8 if p % 3 else None)],
    ...     "deprived": [p < 6 for p in range(12) for _ in range(2)]})
    >>> m = attrition_model(long, outcome="epds", covariates="deprived")
    >>> m.n, m.n_events
    (12, 8)
    >>> m.table[["term", "estimate", "std_error", "odds_ratio"]].round(4)
            term  estimate  std_error  odds_ratio
    0  Intercept    0.6931     0.8660         2.0
    1   deprived    0.0000     1.2247         1.0
    """
    where = "attrition_model"
    covariates = _names(covariates, "covariates", where)
    check_confidence(confidence, where)
    _check_frame(data, [subject, wave, outcome, *covariates], where)
    _keys(data, subject, wave, where)
    levels = _wave_levels(data, wave)
    _check_wave(levels, end_wave, "end", where)
    _check_wave(levels, baseline_wave, "baseline", where)
    ids = _subjects(data, subject)
    y_all = _score_at(data, outcome, subject, wave, end_wave, ids)
    values = _participant_values(data, covariates, subject, wave, baseline_wave, ids)
    complete = values.notna().all(axis=1).to_numpy()
    values, y = values.loc[complete], y_all.to_numpy()[complete].astype(float)
    n, n_events = len(y), int(y.sum())
    if n_events in (0, n):
        raise SpecificationError(f"{where}: {'all' if n_events else 'none'} of the {n} participants "
                                 f"with complete predictors have {outcome!r} at {end_wave!r}; there is "
                                 "nothing to model")
    X, names, owner = _design(values, covariates, where)
    _check_rank(X, names, owner, where)

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergence
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a tight tolerance: the default stops IRLS while standard errors still move at 1e-6
        raw = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=100)
    notes = []
    kinds = {w.category for w in caught}
    fitted = np.asarray(raw.fittedvalues)
    eps = 10 * np.finfo(float).eps
    if PerfectSeparationWarning in kinds or np.any((fitted < eps) | (fitted > 1 - eps)):
        notes.append("perfect or quasi-perfect separation: fitted probabilities of 0 or 1 occur, so "
                     "some coefficients are not identified (huge estimates and standard errors); "
                     "merge sparse levels or drop the predictor that separates completers")
    if SMConvergence in kinds or not raw.converged:
        notes.append(f"the logistic fit did not converge in {raw.fit_history.get('iteration', '?')} "
                     "iterations; estimates may not be at the optimum")
    for note in notes:
        warnings.warn(f"{where}: {note}", ConvergenceWarning, stacklevel=2)

    est = np.asarray(raw.params, float)
    se = np.asarray(raw.bse, float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(over="ignore"):
        table = pd.DataFrame({"term": names, "estimate": est, "std_error": se, "statistic": est / se,
                              "p_value": 2 * stats.norm.sf(np.abs(est / se)),
                              "ci_low": est - z * se, "ci_high": est + z * se,
                              "odds_ratio": np.exp(est), "or_ci_low": np.exp(est - z * se),
                              "or_ci_high": np.exp(est + z * se)}, columns=MODEL_COLUMNS)
    return AttritionModel(table=table, outcome=outcome, covariates=tuple(covariates), n=n,
                          n_excluded=int((~complete).sum()), n_events=n_events,
                          confidence=float(confidence), warnings=tuple(notes), raw=raw)


def _design(values: pd.DataFrame, covariates, where) -> tuple[np.ndarray, list[str], list[str]]:
    """Intercept and the covariates' terms, coded and named by the one rule of
    :mod:`evalkit.models.coding` (formulaic's treatment coding)."""
    constant = [var for var in covariates if values[var].nunique(dropna=True) < 2]
    if constant:
        raise SpecificationError(f"{where}: predictor(s) {constant} take a single value among the "
                                 f"{len(values)} participants with complete predictors; drop them")
    coded = treatment_matrix(values, covariates)
    return coded.matrix, coded.names, coded.owner


def _check_rank(X: np.ndarray, names, owner, where) -> None:
    # Scale columns first so that the rank decision does not depend on units.
    scale = np.sqrt((X ** 2).mean(axis=0))
    Xs = X / np.where(scale > 0, scale, 1.0)
    _, sv, vt = np.linalg.svd(Xs, full_matrices=False)
    tol = sv.max() * max(Xs.shape) * np.finfo(float).eps * 1e3
    null = vt[sv <= tol]
    if not len(null):
        return
    involved = np.any(np.abs(null) > 1e-6, axis=0)
    terms = [names[i] for i in np.flatnonzero(involved)]
    variables = list(dict.fromkeys(owner[i] for i in np.flatnonzero(involved) if owner[i]))
    raise SpecificationError(f"{where}: predictors {variables} are collinear (terms {terms} are a "
                             "linear combination of each other); drop one of them")


# ====================================================================== participant flow
@renamed(baseline="baseline_wave", end="end_wave")
def participant_flow(data: pd.DataFrame, *, subject: str = "participant_id", wave: str = "wave",
                     outcome: str | None = None, started: str | None = "started",
                     validation_flow: pd.DataFrame | None = None,
                     baseline_wave: str = "baseline", end_wave: str = "end") -> pd.DataFrame:
    """The CONSORT-style participant flow, from referral to a baseline and end score.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame, one row per participant × wave.
    subject, wave : str
    outcome : str, optional
        A score column. Where the data have no ``observed`` column, a wave counts as measured where
        this score is present; with it, the flow ends with participants who have it at both
        ``baseline_wave`` and ``end_wave``.
    started : str or None, default "started"
        Boolean column marking who started support (``None``: no such stage).
    validation_flow : pandas.DataFrame, optional
        The ``.flow`` table of a :class:`~evalkit.validation.ValidationReport`; its record-level
        stages (records read, excluded by reason, valid) head the flow so that exclusions at
        validation stay visible. They count *records* (``percent_of_referred`` is NaN).
    baseline_wave, end_wave : str
        Waves of the last stage (``baseline=``/``end=`` are deprecated names).

    Returns
    -------
    pandas.DataFrame
        ``stage, n, percent_of_referred, note``. Stages in order: validation stages (if given, as
        ``"<dataset>: read"``, ``"<dataset>: excluded (<reason>)"``, ``"<dataset>: valid"``),
        ``referred`` (all participants), ``started support``, ``measured at <wave>`` for every
        wave (a questionnaire returned: ``observed`` if present, else the outcome present), and
        ``with baseline and end score``.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.attrition import participant_flow
    >>> long = pd.DataFrame({"participant_id": list("aabbcc"), "wave": ["baseline", "end"] * 3,
    ...                      "started": [True, True, True, True, False, False],
    ...                      "epds": [12, 9, 15, None, 14, 13]})
    >>> participant_flow(long, outcome="epds")[["stage", "n", "percent_of_referred"]]
                             stage  n  percent_of_referred
    0                     referred  3           100.000000
    1              started support  2            66.666667
    2         measured at baseline  3           100.000000
    3              measured at end  2            66.666667
    4  with baseline and end score  2            66.666667
    """
    where = "participant_flow"
    use_observed = "observed" in data.columns if isinstance(data, pd.DataFrame) else False
    cols = [subject, wave] + ([started] if started else []) + ([outcome] if outcome else [])
    _check_frame(data, cols, where)
    if not use_observed and outcome is None:
        raise SpecificationError(f"{where}: the data have no 'observed' column, so name the score that "
                                 "marks a returned questionnaire with outcome=")
    _keys(data, subject, wave, where)
    ids = _subjects(data, subject)
    total = len(ids)
    if not total:
        raise SpecificationError(f"{where}: the data have no rows")
    rows = [] if validation_flow is None else _validation_stages(validation_flow, where)
    n_records = len(rows)
    rows.append({"stage": "referred", "n": total, "note": "all participants in the data"})
    if started:
        if data.groupby(subject, observed=True)[started].nunique(dropna=False).gt(1).any():
            raise SpecificationError(f"{where}: {started!r} differs between waves of a participant; it "
                                     "must be a participant-level column")
        per = data.drop_duplicates(subject).set_index(subject)[started].reindex(ids)
        unknown = int(per.isna().sum())
        note = f"{started} is true"
        if unknown:
            note += f"; {unknown} with {started} unknown not counted"
        rows.append({"stage": "started support", "n": int(per.eq(True).fillna(False).sum()),
                     "note": note})
    flag = "observed" if use_observed else outcome
    how = "questionnaire returned (observed)" if use_observed else f"{outcome} present"
    for w in _wave_levels(data, wave):
        at = data.loc[data[wave] == w]
        hit = at[flag].eq(True).fillna(False) if use_observed else at[flag].notna()
        n_at = int(at.loc[hit.to_numpy(bool), subject].nunique())
        rows.append({"stage": f"measured at {w}", "n": n_at, "note": how})
    if outcome is not None:
        levels = _wave_levels(data, wave)
        _check_wave(levels, baseline_wave, "baseline", where)
        _check_wave(levels, end_wave, "end", where)
        both = (_score_at(data, outcome, subject, wave, baseline_wave, ids)
                & _score_at(data, outcome, subject, wave, end_wave, ids))
        rows.append({"stage": "with baseline and end score", "n": int(both.sum()),
                     "note": f"{outcome} present at {baseline_wave} and at {end_wave}"})
    out = pd.DataFrame(rows)
    # validation stages count records, not participants: no percentage of referred
    out["percent_of_referred"] = (100.0 * out["n"] / total).mask(np.arange(len(out)) < n_records)
    out["n"] = out["n"].astype(np.int64)
    return out[FLOW_COLUMNS]


def _validation_stages(flow: pd.DataFrame, where: str) -> list[dict]:
    needed = ["dataset", "stage", "reason", "records", "participants"]
    if not isinstance(flow, pd.DataFrame) or any(c not in flow.columns for c in needed):
        raise SpecificationError(f"{where}: validation_flow must be the .flow table of a "
                                 f"ValidationReport (columns {needed})")
    rows = []
    # "measured" stages of validation are per wave and repeated from the data below
    for r in flow.loc[flow["stage"].isin(["read", "excluded", "valid"])].itertuples(index=False):
        label = f"{r.dataset}: {r.stage}"
        if r.stage == "excluded" and r.reason:
            label += f" ({r.reason})"
        rows.append({"stage": label, "n": int(r.records),
                     "note": f"records, of {int(r.participants)} participant(s)"})
    return rows
