"""Reliable and clinically significant change, recovery and deterioration.

:func:`reliable_change` classifies each person's change between two scores on an instrument's
primary scale, using the instrument spec for the direction of the scale (``higher_is``), the
reliable-change threshold (a published one, or the Jacobson–Truax index), the caseness cut-off and
the minimal important differences. :func:`change_summary` turns the per-person table into
proportions with Wilson score intervals, overall and by group, showing deterioration as plainly as
improvement.

Examples
--------
>>> import evalkit as ek
>>> res = ek.reliable_change([16, 16, 12, 15], [12, 19, 16, 10], instrument="epds")
>>> res.table["category"].tolist()
['reliable improvement', 'no reliable change', 'reliable deterioration', 'reliable improvement']
>>> ek.change_summary(res)[["outcome", "n", "count", "proportion"]].head(3)
                  outcome  n  count  proportion
0    reliable_improvement  4      2        0.50
1      no_reliable_change  4      1        0.25
2  reliable_deterioration  4      1        0.25
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_confidence
from ._compat import renamed
from ._result import Result
from .errors import SpecificationError
from .instruments import get as _get_instrument
from .instruments.spec import Instrument, Scale

__all__ = [
    "reliable_change",
    "change_summary",
    "ReliableChangeResult",
    "standard_error_of_difference",
    "jt_criterion_c",
    "CATEGORIES",
    "CHANGE_COLUMNS",
    "OUTCOMES",
    "SUMMARY_COLUMNS",
]

#: Levels of the ordered ``category`` column, worst first.
CATEGORIES = ("reliable deterioration", "no reliable change", "reliable improvement")

#: Columns of :attr:`ReliableChangeResult.table`, in order.
CHANGE_COLUMNS = ["before", "after", "change", "improvement", "rci", "threshold", "category",
                  "case_before", "case_after", "clinically_significant", "recovered", "mid_reached",
                  "mid_deterioration"]

#: Outcomes of :func:`change_summary`, in order: ``outcome -> (column, value counted)``.
OUTCOMES: Mapping[str, tuple[str, object]] = {
    "reliable_improvement": ("category", "reliable improvement"),
    "no_reliable_change": ("category", "no reliable change"),
    "reliable_deterioration": ("category", "reliable deterioration"),
    "recovered": ("recovered", True),
    "clinically_significant": ("clinically_significant", True),
    "mid_reached": ("mid_reached", True),
    "mid_deterioration": ("mid_deterioration", True),
}

#: Columns of the :func:`change_summary` table, in order.
SUMMARY_COLUMNS = ["group", "outcome", "n", "count", "proportion", "ci_low", "ci_high"]

_METHODS = ("auto", "published", "jt")
_CLINICAL = ("caseness", "jt_c")
_OVERALL = "all"
# Published thresholds read "a change of N or more"; differences of scores on a non-integer metric
# (SWEMWBS) can land a rounding error below N, so comparisons allow this much slack.
_TOL = 1e-9


# ====================================================================== formulae
def standard_error_of_difference(sd: float, reliability: float) -> float:
    """Jacobson–Truax standard error of the difference, with the Christensen–Mendoza correction.

    ``S_diff = sqrt(2 · SE²) = sd · √2 · √(1 − reliability)``, where ``SE = sd · √(1 − r)`` is the
    standard error of measurement.

    Parameters
    ----------
    sd : float
        Standard deviation of the scale in the reference (pre-treatment or normative) sample; > 0.
    reliability : float
        Reliability of the scale (Cronbach's alpha or test–retest), in [0, 1).

    Returns
    -------
    float

    Raises
    ------
    SpecificationError
        If ``sd`` is not positive or ``reliability`` is outside [0, 1).

    References
    ----------
    Jacobson NS, Truax P (1991). J Consult Clin Psychol 59(1):12–19. Christensen L, Mendoza JL
    (1986). Behav Ther 17:305–308.

    Examples
    --------
    WEMWBS with SD 8.79 and alpha 0.91 (Tennant 2007):

    >>> from evalkit.change import standard_error_of_difference
    >>> round(standard_error_of_difference(8.79, 0.91), 4)
    3.7293
    >>> round(1.96 * standard_error_of_difference(8.79, 0.91), 2)
    7.31
    """
    if not (np.isfinite(sd) and sd > 0):
        raise SpecificationError(f"sd must be a positive number, got {sd!r}; use the SD of the "
                                 "reference sample (change.rci_sd in the instrument spec)")
    if not (np.isfinite(reliability) and 0 <= reliability < 1):
        raise SpecificationError(f"reliability must lie in [0, 1), got {reliability!r}; use "
                                 "Cronbach's alpha or a test-retest coefficient (change.rci_reliability)")
    return float(sd * math.sqrt(2.0) * math.sqrt(1.0 - reliability))


def jt_criterion_c(functional_mean: float, functional_sd: float, dysfunctional_mean: float,
                   dysfunctional_sd: float) -> float:
    """Jacobson–Truax cut-off *c*: the point between the functional and dysfunctional populations.

    ``c = (s0·M1 + s1·M0) / (s0 + s1)`` with M0, s0 the functional (normative) mean and SD and M1,
    s1 the dysfunctional (clinical) mean and SD. A score on the far side of *c* from the
    dysfunctional mean is closer (in SD units) to the functional population.

    Parameters
    ----------
    functional_mean, functional_sd : float
        Mean and SD of the functional (general population) sample.
    dysfunctional_mean, dysfunctional_sd : float
        Mean and SD of the dysfunctional (clinical) sample.

    Returns
    -------
    float

    Raises
    ------
    SpecificationError
        If an SD is not positive or the two means are equal.

    Examples
    --------
    CORE-10 (Connell & Barkham 2007: population 4.7, SD 4.8; primary-care counselling 19.7, SD 7.7):

    >>> from evalkit.change import jt_criterion_c
    >>> round(jt_criterion_c(4.7, 4.8, 19.7, 7.7), 2)
    10.46
    """
    for name, value in (("functional_sd", functional_sd), ("dysfunctional_sd", dysfunctional_sd)):
        if not (np.isfinite(value) and value > 0):
            raise SpecificationError(f"{name} must be a positive number, got {value!r}; check "
                                     "change.clinical in the instrument spec")
    if functional_mean == dysfunctional_mean:
        raise SpecificationError("the functional and dysfunctional means are equal, so criterion c "
                                 "cannot separate them; check change.clinical in the instrument spec")
    s0, s1 = functional_sd, dysfunctional_sd
    return float((s0 * dysfunctional_mean + s1 * functional_mean) / (s0 + s1))


# ====================================================================== the result
@dataclass(frozen=True, eq=False, repr=False)
class ReliableChangeResult(Result):
    """The outcome of :func:`reliable_change`: the per-person table and the rules that made it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per person (index of the input Series, else 0..n-1) with columns
        ``before, after, change, improvement, rci, threshold, category, case_before, case_after,
        clinically_significant, recovered, mid_reached, mid_deterioration`` (see
        :func:`reliable_change`).
    instrument : str
        Instrument id.
    scale : str
        Scale id (the primary scale).
    higher_is : {"better", "worse"}
        Direction of the scale; ``improvement = change`` when better, ``-change`` when worse.
    method : {"published", "jt"}
        The rule used: a published threshold (|change| ≥ threshold) or the Jacobson–Truax index
        (|rci| > z).
    threshold : float
        Points of change needed to count as reliable.
    source : str
        Where the threshold comes from.
    confidence : float or None
        Confidence level of the J&T rule; None for a published threshold (it carries its own).
    s_diff : float or None
        Standard error of the difference (None when the spec gives no ``rci_sd``).
    clinical : {"caseness", "jt_c"}
        Which cut-off decided caseness.
    cut_off : str or None
        The caseness rule as text (e.g. ``"epds >= 13"``); None when the scale has none.
    cut_off_source : str or None
        Where the cut-off comes from.

    Examples
    --------
    >>> import evalkit as ek
    >>> res = ek.reliable_change([16, 12], [12, 16], instrument="epds")
    >>> res.method, res.threshold, res.cut_off
    ('published', 4.0, 'epds >= 13')
    >>> res.to_frame()["improvement"].tolist()
    [4.0, -4.0]
    >>> res.summary()["outcome"].head(3).tolist()
    ['reliable_improvement', 'no_reliable_change', 'reliable_deterioration']
    """

    table: pd.DataFrame
    instrument: str
    scale: str
    higher_is: str
    method: str
    threshold: float
    source: str
    confidence: float | None
    s_diff: float | None
    clinical: str
    cut_off: str | None
    cut_off_source: str | None

    @property
    def raw(self) -> None:
        """None: evalkit computes reliable change itself (no backend object)."""
        return None

    @renamed(group="by")
    def summary(self, *, by=None, confidence: float = 0.95) -> pd.DataFrame:
        """Proportions with Wilson intervals; see :func:`change_summary`."""
        return change_summary(self, by=by, confidence=confidence)

    def _header(self) -> list[str]:
        return [f"{self.instrument} ({self.scale}), {self.method} threshold "
                f"{_fmt(self.threshold, 4)} points, n = {len(self.table)}"]

    def describe(self) -> str:
        """The rules used, in one paragraph (for report methods sections)."""
        if self.method == "published":
            rule = (f"a change of {_fmt(self.threshold)} or more points (published threshold: "
                    f"{self.source})")
        else:
            rule = (f"|RCI| > {_fmt(stats.norm.ppf((1 + self.confidence) / 2), 3)} "
                    f"({_fmt(self.confidence * 100)}% Jacobson-Truax index; S_diff "
                    f"{_fmt(self.s_diff, 4)}, i.e. more than {_fmt(self.threshold, 2)} points; "
                    f"{self.source})")
        case = (f"caseness {self.cut_off} ({self.cut_off_source})" if self.cut_off
                else "no caseness cut-off, so recovery and clinical significance are not defined")
        return (f"{self.instrument} ({self.scale}, higher is {self.higher_is}): reliable change = "
                f"{rule}; {case}.")


# ====================================================================== reliable change
def reliable_change(before, after, *, instrument: str | Instrument, scale: str | None = None,
                    method: str = "auto", clinical: str = "caseness",
                    confidence: float = 0.95) -> ReliableChangeResult:
    """Classify each person's change between two scores as reliable improvement, no reliable
    change or reliable deterioration, and flag recovery and clinically significant change.

    Parameters
    ----------
    before, after : array-like or pandas.Series
        One score per person, in the same order and of the same length: totals on ``scale`` (for
        SWEMWBS the metric score). Missing scores (NaN, None, ``pd.NA``) are allowed. The index of a
        Series is kept; two Series must share the same index.
    instrument : str or Instrument
        Instrument id (``"epds"``, ``"phq9"`` …) or a spec.
    scale : str, optional
        Scale id; default the primary scale. The spec's change rules describe the primary scale only.
    method : {"auto", "published", "jt"}
        ``"auto"`` uses the published threshold (``change.reliable_change``) when the spec has one,
        else the Jacobson–Truax index from ``change.rci_sd`` and ``change.rci_reliability``.
        ``"published"`` and ``"jt"`` force one and raise if the spec lacks it.
    clinical : {"caseness", "jt_c"}
        Cut-off for "case": the scale's caseness cut-off, or the Jacobson–Truax criterion *c*
        computed from ``change.clinical`` (see :func:`jt_criterion_c`).
    confidence : float
        Confidence level of the J&T rule (0.95 → |RCI| > 1.96). A published threshold carries its
        own confidence, so any other value with a published threshold is an error.

    Returns
    -------
    ReliableChangeResult
        ``.table`` has one row per person:

        - ``before``, ``after`` : the scores (float).
        - ``change`` : after − before.
        - ``improvement`` : change signed so that positive is better (``-change`` when higher is
          worse).
        - ``rci`` : change / S_diff (the J&T index, whatever the method); NaN when the spec has no
          ``rci_sd``.
        - ``threshold`` : points of change needed to be reliable.
        - ``category`` : ordered categorical ``reliable deterioration < no reliable change <
          reliable improvement``; NaN when either score is missing.
        - ``case_before``, ``case_after`` : boolean, per the ``clinical`` cut-off.
        - ``clinically_significant`` : reliable improvement and moved from case to non-case
          (J&T 1991); False for non-cases at baseline.
        - ``recovered`` : a case at baseline, not a case after, with reliable improvement (NHS
          Talking Therapies "reliable recovery"); NA for people who were not cases at baseline,
          who are not eligible to recover.
        - ``mid_reached`` : improvement ≥ the minimal important difference for improvement.
        - ``mid_deterioration`` : −improvement ≥ the minimal important difference for
          deterioration.

        Flags are pandas ``boolean`` columns: NA when a score is missing or when the spec does not
        define what they need (no caseness cut-off, no MID). Missing scores never count as "no
        change". ``.method``, ``.threshold``, ``.source``, ``.cut_off`` and
        :meth:`~ReliableChangeResult.describe` record the rules used.

    Raises
    ------
    SpecificationError
        Lengths or indexes of ``before`` and ``after`` differ; scores are not numbers or lie outside
        the scale's range; the requested method or cut-off is not available in the spec (the
        message lists what is); an option is invalid.
    UnknownNameError
        The instrument or scale is not registered.

    Notes
    -----
    Threshold rules:

    - **Published** (``method="published"``): published thresholds are stated as "a change of N or
      more" (EPDS 4, Matthey 2004; PHQ-9 6 and GAD-7 4, NHS Talking Therapies; CORE-10 6), so a
      change is reliable when ``|change| ≥ threshold`` (allowing 1e-9 for floating-point rounding).
    - **Jacobson–Truax** (``method="jt"``): ``S_diff = SD·√2·√(1 − r)`` (Christensen–Mendoza
      correction) and a change is reliable when ``|change / S_diff| > z``, with ``z`` the
      ``(1 + confidence)/2`` normal quantile (1.96 at 95%). The ``threshold`` column is
      ``z·S_diff`` (WEMWBS, SD 8.79 and alpha 0.91: 7.31 points).

    The direction comes from the spec: for scales where higher is worse (EPDS, PHQ-9) a fall is an
    improvement. With ``clinical="jt_c"`` a score counts as a case when it is on the dysfunctional
    side of *c* or exactly on it (it is then not closer to the functional population).

    Examples
    --------
    EPDS (higher is worse; published threshold 4 points; caseness 13 or more):

    >>> import evalkit as ek
    >>> res = ek.reliable_change([16, 16, 12, 15, None], [12, 19, 16, 10, 8], instrument="epds")
    >>> res.method, res.threshold
    ('published', 4.0)
    >>> res.table[["change", "improvement", "category", "recovered"]]
       change  improvement                category  recovered
    0    -4.0          4.0    reliable improvement       True
    1     3.0         -3.0      no reliable change      False
    2     4.0         -4.0  reliable deterioration       <NA>
    3    -5.0          5.0    reliable improvement       True
    4     NaN          NaN                     NaN       <NA>

    Forcing the Jacobson–Truax index (EPDS SD 4.5, alpha 0.87):

    >>> round(ek.reliable_change([16], [12], instrument="epds", method="jt").threshold, 2)
    4.5
    """
    spec = _get_instrument(instrument)
    sc = spec.primary if scale is None else spec.scale(scale)
    if method not in _METHODS:
        raise SpecificationError(f"method={method!r} is not one of {', '.join(map(repr, _METHODS))}")
    if clinical not in _CLINICAL:
        raise SpecificationError(f"clinical={clinical!r} is not one of "
                                 f"{', '.join(map(repr, _CLINICAL))}")
    check_confidence(confidence)

    b, a, index = _paired_scores(before, after)
    _check_range(b, sc, "before", index)
    _check_range(a, sc, "after", index)

    rule = _resolve_rule(spec, sc, method, confidence)
    sign = spec.sign
    change = a - b
    improvement = sign * change
    valid = ~(np.isnan(a) | np.isnan(b))
    rci = change / rule["s_diff"] if rule["s_diff"] is not None else np.full(len(b), np.nan)

    with np.errstate(invalid="ignore"):
        if rule["method"] == "published":
            slack = _TOL * max(1.0, abs(rule["threshold"]))
            improved = improvement >= rule["threshold"] - slack
            worse = -improvement >= rule["threshold"] - slack
        else:
            z = rule["z"]
            improved = sign * rci > z
            worse = -sign * rci > z
    codes = np.where(improved, 2, np.where(worse, 0, 1))
    codes = np.where(valid, codes, -1)
    category = pd.Categorical.from_codes(codes, categories=list(CATEGORIES), ordered=True)

    is_case, cut_off, cut_off_source = _caseness(spec, sc, clinical)
    n = len(b)
    if is_case is None:  # no cut-off: caseness, recovery and clinical significance are undefined
        false, undefined = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
        case_before, case_after, cs, rec = (_flags(false, undefined) for _ in range(4))
    else:
        cb, ca = is_case(b), is_case(a)
        case_before = _flags(cb, np.isnan(b))
        case_after = _flags(ca, np.isnan(a))
        cs = _flags(improved & cb & ~ca, ~valid)
        rec = _flags(improved & ~ca, ~valid | ~cb)

    rules = spec.change
    mid_up = _mid_flag(improvement, rules.mid_improvement, valid)
    mid_down = _mid_flag(-improvement, rules.mid_deterioration, valid)

    table = pd.DataFrame({
        "before": b, "after": a, "change": change, "improvement": improvement, "rci": rci,
        "threshold": np.full(n, float(rule["threshold"])), "category": category,
        "case_before": case_before, "case_after": case_after, "clinically_significant": cs,
        "recovered": rec, "mid_reached": mid_up, "mid_deterioration": mid_down,
    }, index=index)
    return ReliableChangeResult(
        table=table, instrument=spec.id, scale=sc.id, higher_is=spec.higher_is,
        method=rule["method"], threshold=float(rule["threshold"]), source=rule["source"],
        confidence=rule["confidence"], s_diff=rule["s_diff"], clinical=clinical, cut_off=cut_off,
        cut_off_source=cut_off_source)


def _resolve_rule(spec: Instrument, sc: Scale, method: str, confidence: float) -> dict:
    rules = spec.change
    if sc.id != spec.primary.id:
        raise SpecificationError(
            f"{spec.id}'s change rules (change.reliable_change, change.rci_sd) describe the primary "
            f"scale {spec.primary.id!r}, not {sc.id!r}, so reliable change on {sc.id!r} cannot be "
            f"classified; leave scale unset to use {spec.primary.id!r}")
    s_diff = (standard_error_of_difference(rules.rci_sd, rules.rci_reliability)
              if rules.rci_sd is not None else None)
    has_published = rules.reliable_change is not None
    if method == "auto" and not has_published and s_diff is None:
        raise SpecificationError(
            f"{spec.id} has no reliable-change rule (neither change.reliable_change nor "
            f"change.rci_sd/rci_reliability); it has {_available_rules(spec)}. Add a published "
            "threshold with its source, or a reference SD and reliability, to the spec")
    if method == "auto":
        method = "published" if has_published else "jt"
    if method == "published" and not has_published:
        raise SpecificationError(
            f"{spec.id} has no published reliable-change threshold (change.reliable_change); it has "
            f"{_available_rules(spec)}. Use method='jt' or method='auto', or add the threshold and "
            "its source to the spec")
    if method == "jt" and s_diff is None:
        raise SpecificationError(
            f"{spec.id} has no rci_sd/rci_reliability for the Jacobson-Truax index; it has "
            f"{_available_rules(spec)}. Use method='published' or method='auto', or add "
            "change.rci_sd, change.rci_reliability and change.rci_source to the spec")
    if method == "published":
        if not math.isclose(confidence, 0.95):
            raise SpecificationError(
                f"confidence={confidence} applies only to the Jacobson-Truax index, but {spec.id} uses "
                f"its published threshold of {_fmt(rules.reliable_change)} points, which has its own "
                "stated confidence; pass method='jt' to use another confidence level")
        return {"method": "published", "threshold": float(rules.reliable_change),
                "source": rules.reliable_change_source, "s_diff": s_diff, "z": None,
                "confidence": None}
    z = float(stats.norm.ppf((1 + confidence) / 2))
    source = (f"Jacobson & Truax 1991 with Christensen-Mendoza S_diff; SD {_fmt(rules.rci_sd)}, "
              f"reliability {_fmt(rules.rci_reliability)} ({rules.rci_source})")
    return {"method": "jt", "threshold": z * s_diff, "source": source, "s_diff": s_diff, "z": z,
            "confidence": float(confidence)}


def _available_rules(spec: Instrument) -> str:
    r = spec.change
    have = []
    if r.reliable_change is not None:
        have.append(f"a published threshold of {_fmt(r.reliable_change)} points (method='published')")
    if r.rci_sd is not None:
        have.append(f"rci_sd {_fmt(r.rci_sd)} and rci_reliability {_fmt(r.rci_reliability)} "
                    "(method='jt')")
    if r.mid_improvement is not None or r.mid_deterioration is not None:
        have.append("minimal important differences only (not a reliable-change threshold)")
    return "; ".join(have) if have else "no change rules at all"


def _caseness(spec: Instrument, sc: Scale, clinical: str):
    """(is_case function or None, cut-off text, source)."""
    if clinical == "caseness":
        cas = sc.caseness
        if cas is None:
            return None, None, None
        return ((lambda x: cas.is_case(x)), f"{sc.id} {cas.op} {_fmt(cas.value)}",
                f"{cas.label}; {cas.source}")
    norms = spec.change.clinical if sc.id == spec.primary.id else None
    if norms is None:
        have = (f"a caseness cut-off {sc.id} {sc.caseness.op} {_fmt(sc.caseness.value)} "
                "(clinical='caseness')" if sc.caseness is not None else "no caseness cut-off either")
        raise SpecificationError(
            f"{spec.id} has no functional/dysfunctional norms (change.clinical) for criterion c on "
            f"{sc.id!r}; it has {have}. Use clinical='caseness' or add change.clinical to the spec")
    c = jt_criterion_c(norms.functional_mean, norms.functional_sd, norms.dysfunctional_mean,
                       norms.dysfunctional_sd)
    high_is_case = norms.dysfunctional_mean > norms.functional_mean
    if high_is_case != (spec.higher_is == "worse"):
        raise SpecificationError(
            f"{spec.id} says higher is {spec.higher_is}, but its change.clinical dysfunctional mean "
            f"({_fmt(norms.dysfunctional_mean)}) is {'above' if high_is_case else 'below'} the "
            f"functional mean ({_fmt(norms.functional_mean)}); fix higher_is or change.clinical")
    op = ">=" if high_is_case else "<="
    func = (lambda x: x >= c) if high_is_case else (lambda x: x <= c)
    return (func, f"{sc.id} {op} {_fmt(c, 4)}",
            f"Jacobson-Truax criterion c from functional {_fmt(norms.functional_mean)} "
            f"(SD {_fmt(norms.functional_sd)}) and dysfunctional {_fmt(norms.dysfunctional_mean)} "
            f"(SD {_fmt(norms.dysfunctional_sd)}); {norms.source}")


def _flags(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & ~missing, np.asarray(missing))


def _mid_flag(amount: np.ndarray, mid: float | None, valid: np.ndarray) -> pd.arrays.BooleanArray:
    if mid is None:
        return _flags(np.zeros(len(amount), dtype=bool), np.ones(len(amount), dtype=bool))
    with np.errstate(invalid="ignore"):
        reached = amount >= mid - _TOL * max(1.0, abs(mid))
    return _flags(reached, ~valid)


def _as_scores(values, name: str) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(values, pd.DataFrame):
        raise SpecificationError(f"{name} is a DataFrame; pass one column of scores, "
                                 f"e.g. {name}=frame['epds']")
    index = values.index if isinstance(values, pd.Series) else None
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise SpecificationError(f"{name} must be a one-dimensional list, array or Series of scores "
                                 f"(one per person), got {type(values).__name__} with "
                                 f"{np.ndim(values)} dimension(s); wrap a single score in a list")
    series = pd.Series(values, copy=False) if index is None else values
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        try:
            series = pd.to_numeric(series, errors="raise")
        except (ValueError, TypeError):
            num = pd.to_numeric(series, errors="coerce")
            bad = np.flatnonzero(num.isna().to_numpy() & series.notna().to_numpy())
            where = [f"position {i} ({series.iloc[i]!r})" for i in bad[:5]]
            raise SpecificationError(
                f"{name} holds values that are not numbers at {', '.join(where)}"
                f"{' …' if len(bad) > 5 else ''}; pass numeric scores and NaN/None for missing "
                "ones") from None
    if series.dtype == bool or isinstance(series.dtype, pd.BooleanDtype):
        raise SpecificationError(f"{name} holds True/False values, not scores; pass numeric scores")
    try:
        arr = series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise SpecificationError(f"{name} of dtype {series.dtype} cannot be read as numeric scores; "
                                 "pass numbers and NaN/None for missing ones") from None
    if np.isinf(arr).any():
        pos = np.flatnonzero(np.isinf(arr))[:5].tolist()
        raise SpecificationError(f"{name} holds infinite values at positions {pos}; pass finite scores "
                                 "and NaN/None for missing ones")
    return arr, index


def _paired_scores(before, after) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Before and after scores as float arrays of one length, with their common index."""
    b, index_b = _as_scores(before, "before")
    a, index_a = _as_scores(after, "after")
    if len(b) != len(a):
        raise SpecificationError(f"before has {len(b)} scores but after has {len(a)}: pass one before "
                                 "and one after score per person, in the same order (use NaN for a "
                                 "missing score)")
    return b, a, _common_index(index_b, index_a, len(b))


def _common_index(index_b: pd.Index | None, index_a: pd.Index | None, n: int) -> pd.Index:
    if index_b is not None and index_a is not None and not index_b.equals(index_a):
        raise SpecificationError(
            "before and after are Series with different indexes; align them first (e.g. "
            "after = after.reindex(before.index)) or pass arrays with .to_numpy() to pair by position")
    index = index_b if index_b is not None else index_a
    return index if index is not None else pd.RangeIndex(n)


def _check_range(x: np.ndarray, sc: Scale, name: str, index: pd.Index) -> None:
    lo, hi = sc.range
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((x < lo - _TOL) | (x > hi + _TOL))
    if len(bad):
        where = ", ".join(f"{index[i]!r} ({_fmt(x[i])})" for i in bad[:5])
        raise SpecificationError(
            f"{name} has {len(bad)} score(s) outside the {sc.id} range {_fmt(lo)}-{_fmt(hi)}: at "
            f"{where}{' …' if len(bad) > 5 else ''}; check that these are {sc.label} scores of the "
            "right instrument and scale")


def _fmt(x: float, digits: int = 6) -> str:
    return f"{float(x):.{digits}g}"


# ====================================================================== summary
@renamed(result_or_table="result", group="by")
def change_summary(result, *, by=None, confidence: float = 0.95) -> pd.DataFrame:
    """Proportions improved, unchanged, deteriorated, recovered, clinically significant and reaching
    the MID, with Wilson score intervals, overall and by group.

    Parameters
    ----------
    result : ReliableChangeResult or pandas.DataFrame
        The result of :func:`reliable_change`, or its ``.table`` (possibly with extra columns).
    by : str or array-like, optional
        Groups to break down by (``group=`` is its deprecated name): a column of the table, or
        values aligned with its rows (a Series with the table's index is aligned by label; anything
        else by position). Categorical groups keep unused categories (listed with n = 0); missing
        group values form their own group.
    confidence : float
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``group, outcome, n, count, proportion, ci_low, ci_high``. ``group`` is
        ``"all"`` for the whole table, followed by each group. ``outcome`` runs through
        ``reliable_improvement, no_reliable_change, reliable_deterioration, recovered,
        clinically_significant, mid_reached, mid_deterioration`` in every group: none is filtered
        out, so deterioration is always shown next to improvement. ``n`` counts people with the
        outcome defined (both scores present; for ``recovered``, cases at baseline), so missing
        scores are excluded, never counted as "no change". When n is 0 the proportion and interval
        are NaN.

    Raises
    ------
    SpecificationError
        The table lacks the columns of :func:`reliable_change`, ``by`` is an unknown column or
        has the wrong length, a group is called ``"all"``, or ``confidence`` is outside (0, 1).

    Notes
    -----
    Wilson score intervals (``statsmodels.stats.proportion.proportion_confint(method="wilson")``)
    keep sensible coverage for small groups and proportions near 0 or 1, where the Wald interval
    fails.

    Examples
    --------
    >>> import evalkit as ek
    >>> res = ek.reliable_change([16, 16, 12, 15, 20, 14], [12, 19, 16, 10, None, 12],
    ...                          instrument="epds")
    >>> out = ek.change_summary(res, by=["a", "a", "a", "b", "b", "c"])
    >>> out.query("outcome == 'reliable_improvement'")[["group", "n", "count", "proportion"]]
       group  n  count  proportion
    0    all  5      2    0.400000
    7      a  3      1    0.333333
    14     b  1      1    1.000000
    21     c  1      0    0.000000
    """
    from statsmodels.stats.proportion import proportion_confint

    if isinstance(result, ReliableChangeResult):
        table = result.table
    elif isinstance(result, pd.DataFrame):
        table = result
    else:
        raise SpecificationError(f"change_summary needs the result of ek.reliable_change or its "
                                 f".table, got {type(result).__name__}")
    needed = sorted({col for col, _ in OUTCOMES.values()})
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise SpecificationError(f"the table lacks column(s) {', '.join(missing)}; pass the result of "
                                 "ek.reliable_change (or its .table)")
    check_confidence(confidence)

    indicators = _indicators(table)
    frames = [(_OVERALL, np.ones(len(table), dtype=bool))]
    if by is not None:
        frames += _group_masks(table, by)

    rows = []
    for level, mask in frames:
        for outcome, (defined, hit) in indicators.items():
            n = int((defined & mask).sum())
            count = int((hit & defined & mask).sum())
            if n:
                low, high = proportion_confint(count, n, alpha=1 - confidence, method="wilson")
                prop = count / n
                # the formula is exact at the ends, but rounding can leave 1e-17 above 0
                low = 0.0 if count == 0 else min(float(low), prop)
                high = 1.0 if count == n else max(float(high), prop)
            else:
                prop = low = high = np.nan
            rows.append((level, outcome, n, count, prop, float(low), float(high)))
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out["group"] = out["group"].astype(object)
    return out


def _indicators(table: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """outcome -> (defined mask, hit mask) as plain bool arrays."""
    cat = table["category"]
    known = cat.dropna().astype(str)
    unknown = sorted(set(known) - set(CATEGORIES))
    if unknown:
        raise SpecificationError(f"column 'category' holds {unknown}; expected only "
                                 f"{', '.join(map(repr, CATEGORIES))} (the output of ek.reliable_change)")
    cat_defined = cat.notna().to_numpy()
    cat_text = cat.astype(object).where(cat.notna(), None).to_numpy()
    out = {}
    for outcome, (col, value) in OUTCOMES.items():
        if col == "category":
            out[outcome] = (cat_defined, cat_defined & (cat_text == value))
            continue
        try:
            flags = table[col].astype("boolean")
        except (TypeError, ValueError):
            raise SpecificationError(f"column {col!r} must hold True/False/NA, got dtype "
                                     f"{table[col].dtype}; pass the output of ek.reliable_change") from None
        defined = flags.notna().to_numpy()
        out[outcome] = (defined, flags.fillna(False).to_numpy(dtype=bool) & defined)
    return out


def _group_masks(table: pd.DataFrame, by) -> list[tuple[object, np.ndarray]]:
    if isinstance(by, str):
        if by not in table.columns:
            raise SpecificationError(f"by={by!r} is not a column of the table (columns: "
                                     f"{', '.join(map(str, table.columns))}); pass the column, or "
                                     "values aligned with the table's rows")
        key = table[by]
    elif isinstance(by, pd.Series):
        if by.index.equals(table.index):
            key = by
        elif (len(by) == len(table) and by.index.is_unique and table.index.is_unique
              and set(by.index) == set(table.index)):
            key = by.reindex(table.index)
        else:
            raise SpecificationError("by is a Series whose index does not match the table's; "
                                     "reindex it to the table (by.reindex(table.index)) or pass "
                                     "its values with .to_numpy() to align by position")
    else:
        if isinstance(by, pd.Categorical):
            key = pd.Series(by)
        else:
            if np.ndim(by) != 1:
                raise SpecificationError("by must be a column name or a one-dimensional array-like "
                                         "aligned with the table's rows")
            key = pd.Series(list(by) if not isinstance(by, np.ndarray) else by)
        if len(key) != len(table):
            raise SpecificationError(f"by has {len(key)} values but the table has {len(table)} rows; "
                                     "pass one group value per person, in the table's order")
    key = key.reset_index(drop=True)
    if isinstance(key.dtype, pd.CategoricalDtype):
        levels = list(key.cat.categories)
    else:
        present = pd.unique(key.dropna())
        try:
            levels = sorted(present)
        except TypeError:
            levels = list(present)
    if _OVERALL in [str(v) for v in levels]:
        raise SpecificationError(f"a group is called {_OVERALL!r}, which is reserved for the overall "
                                 "rows; rename that group")
    masks = [(lvl, np.asarray(key == lvl, dtype=bool)) for lvl in levels]
    isna = key.isna().to_numpy()
    if isna.any():
        masks.append((np.nan, isna))
    return masks
