"""Dose: sessions attended, and whether more sessions go with more change.

* :func:`sessions_summary` -- sessions attended among starters, overall and by delivery mode or any
  context (n, mean, SD, median, quartiles, range), with missing levels shown.
* :func:`dose_response` -- the mixed model ``outcome ~ time * sessions`` (plus covariates, each
  with its own time slope) with a random intercept and slope per participant; the dose–response
  effect is the extra change over a window (e.g. weeks 0 → 12) per additional session, with
  Satterthwaite df, and a curve of predicted change against sessions.

Sessions are not randomised: mothers who attend more differ from those who attend less (they stay
in support longer, feel understood, are less often referred on), and delivery modes differ both in
how many sessions they offer and in how much change they bring. The dose–response effect is an
association, adjusted for what is in ``covariates``; adjust at least for delivery mode.

Examples
--------
>>> import pandas as pd
>>> from evalkit.dose import sessions_summary
>>> people = pd.DataFrame({"participant_id": list("abcdef"),
...                        "started": [True, True, True, True, True, False],
...                        "delivery_mode": ["group", "group", "one_to_one", "one_to_one", None, None],
...                        "sessions_attended": [4, 6, 8, 12, 3, 0]})
>>> sessions_summary(people)[["variable", "level", "n", "mean", "median", "min", "max"]]
        variable       level  n  mean  median  min  max
0            all         all  5   6.6     6.0  3.0 12.0
1  delivery_mode       group  2   5.0     5.0  4.0  6.0
2  delivery_mode  one_to_one  2  10.0    10.0  8.0 12.0
3  delivery_mode     missing  1   3.0     3.0  3.0  3.0
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._levels import levels as _levels
from ._checks import check_confidence
from ._compat import renamed
from ._result import Result
from .errors import SingularFitWarning, SpecificationError, UnknownNameError

__all__ = ["sessions_summary", "dose_response", "DoseResponse", "SUMMARY_COLUMNS", "CURVE_COLUMNS"]

#: Columns of :func:`sessions_summary`, in order.
SUMMARY_COLUMNS = ["variable", "level", "n", "n_missing", "mean", "sd", "median", "q1", "q3", "min",
                   "max"]
#: Columns of :attr:`DoseResponse.curve`, in order.
CURVE_COLUMNS = ["sessions", "estimate", "std_error", "df", "ci_low", "ci_high"]



# ====================================================================== participant level
def _check_frame(data, columns, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(f"{where}: data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if missing:
        raise UnknownNameError(f"{where}: column(s) {missing} not in the data; available columns are "
                               f"{list(data.columns)}")


def _per_participant(data: pd.DataFrame, subject: str, columns, where: str) -> pd.DataFrame:
    """One row per participant (sorted by id); the columns must not vary between her rows."""
    if data[subject].isna().any():
        raise SpecificationError(f"{where}: {int(data[subject].isna().sum())} row(s) have no "
                                 f"{subject!r}; every row must name its participant")
    cols = list(dict.fromkeys(columns))
    if cols:
        varies = data.groupby(subject, observed=True)[cols].nunique(dropna=False).gt(1).any()
        bad = varies[varies].index.tolist()
        if bad:
            raise SpecificationError(f"{where}: column(s) {bad} differ between rows of the same "
                                     f"participant; they must be participant-level (one value per "
                                     f"{subject})")
    # sorted by id, so that shuffling the rows never changes a result
    return data.drop_duplicates(subject)[[subject, *cols]].set_index(subject).sort_index()


def _starters(per: pd.DataFrame, started: str | None) -> np.ndarray:
    if started is None:
        return np.ones(len(per), bool)
    return per[started].eq(True).fillna(False).to_numpy(dtype=bool)


def _describe(x: np.ndarray) -> dict:
    x = x[~np.isnan(x)]
    if not len(x):
        return {"mean": np.nan, "sd": np.nan, "median": np.nan, "q1": np.nan, "q3": np.nan,
                "min": np.nan, "max": np.nan}
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])   # linear interpolation: R's type 7
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
            "median": float(med), "q1": float(q1), "q3": float(q3), "min": float(x.min()),
            "max": float(x.max())}


# ====================================================================== sessions summary
def sessions_summary(data: pd.DataFrame, *, sessions: str = "sessions_attended",
                     by="delivery_mode", subject: str = "participant_id",
                     started: str | None = "started") -> pd.DataFrame:
    """Sessions attended among starters, overall and by one or more participant-level columns.

    Parameters
    ----------
    data : pandas.DataFrame
        Participants, or the long frame (one row per participant × wave; reduced to one row per
        participant, so ``sessions`` and ``by`` must not vary between a participant's rows).
    sessions : str
        Number of sessions attended.
    by : str, sequence of str or None
        Columns to break the summary down by (e.g. ``"delivery_mode"``, ``["delivery_mode",
        "imd_quintile"]``).
    subject : str
    started : str or None, default "started"
        Only participants with ``started`` true are summarised (``None``: everyone).

    Returns
    -------
    pandas.DataFrame
        ``variable, level, n, n_missing, mean, sd, median, q1, q3, min, max``: first the overall row
        (``variable = level = "all"``), then one row per level of each ``by`` column (category
        order, False before True, else sorted; categories nobody is in are kept with ``n = 0``),
        and a ``"missing"`` level for starters with that column missing. ``n`` counts starters with
        ``sessions`` recorded, ``n_missing`` those without; quartiles use linear interpolation
        (R's default type 7).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.dose import sessions_summary
    >>> d = pd.DataFrame({"participant_id": [1, 2, 3, 4], "started": [True] * 4,
    ...                   "sessions_attended": [2, 4, 6, None], "mode": ["a", "a", "b", "b"]})
    >>> sessions_summary(d, by="mode")[["variable", "level", "n", "n_missing", "mean", "q1", "q3"]]
      variable level  n  n_missing  mean   q1   q3
    0      all   all  3          1   4.0  3.0  5.0
    1     mode     a  2          0   3.0  2.5  3.5
    2     mode     b  1          1   6.0  6.0  6.0
    """
    where = "sessions_summary"
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    _check_frame(data, [subject, sessions, *by, *([started] if started else [])], where)
    if sessions in by or subject in by:
        raise SpecificationError(f"{where}: by= cannot include the sessions or participant column")
    per = _per_participant(data, subject, [sessions, *by, *([started] if started else [])], where)
    per = per.loc[_starters(per, started)]
    x = pd.to_numeric(per[sessions], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if np.any(x[~np.isnan(x)] < 0):
        raise SpecificationError(f"{where}: {sessions!r} has negative values; it must count sessions")
    rows = [{"variable": "all", "level": "all", "n": int((~np.isnan(x)).sum()),
             "n_missing": int(np.isnan(x).sum()), **_describe(x)}]
    for var in by:
        values = per[var]
        obj = values.astype(object)
        for level in _levels(values, observed=False):
            mask = (obj == level).to_numpy(dtype=bool, na_value=False)
            rows.append({"variable": var, "level": level, "n": int((mask & ~np.isnan(x)).sum()),
                         "n_missing": int((mask & np.isnan(x)).sum()), **_describe(x[mask])})
        miss = values.isna().to_numpy()
        if miss.any():
            rows.append({"variable": var, "level": "missing", "n": int((miss & ~np.isnan(x)).sum()),
                         "n_missing": int((miss & np.isnan(x)).sum()), **_describe(x[miss])})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out["level"] = out["level"].astype(object)
    return out


# ====================================================================== dose–response
@dataclass(frozen=True, eq=False, repr=False)
class DoseResponse(Result):
    """The dose–response analysis from :func:`dose_response`.

    ``.table`` is :attr:`effect`; ``.raw`` is the mixed model (:attr:`fit`).

    Attributes
    ----------
    effect : pandas.DataFrame
        One row: ``term, estimate, std_error, df, statistic, p_value, ci_low, ci_high`` -- the extra
        change over the window per additional session, ``(change[1] - change[0]) * β[time:sessions]``,
        with Satterthwaite df.
    curve : pandas.DataFrame
        ``sessions, estimate, std_error, df, ci_low, ci_high``: predicted change over the window at
        each number of sessions (other covariates at their means, categorical ones averaged over
        their levels with equal weights, as emmeans).
    fit : MixedResult
    n_participants : int
        Participants in the model.
    n_excluded : int
        Participants left out (sum of ``exclusions``).
    exclusions : pandas.DataFrame
        ``reason, participants``: not started, sessions missing, no usable observation (outcome,
        time or a covariate missing on every row).
    change : tuple of float
    outcome, sessions, time : str
    warnings : tuple of str
        The fit's warnings (e.g. a singular fit and how it was simplified).
    """

    effect: pd.DataFrame
    curve: pd.DataFrame
    fit: object = field(repr=False)
    n_participants: int = 0
    n_excluded: int = 0
    exclusions: pd.DataFrame = field(default=None, repr=False)
    change: tuple = (0.0, 12.0)
    outcome: str = ""
    sessions: str = ""
    time: str = ""
    warnings: tuple = ()
    observed_sessions: np.ndarray = field(default=None, repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """:attr:`effect`."""
        return self.effect

    @property
    def raw(self):
        """The mixed model (:attr:`fit`)."""
        return self.fit

    def _header(self) -> list[str]:
        c0, c1 = self.change
        return [f"change in {self.outcome} ({self.time} {c0:g} to {c1:g}) per {self.sessions}; "
                f"{self.n_participants} participants ({self.n_excluded} excluded)",
                *[f"warning: {w}" for w in self.warnings]]

    def plot(self, ax=None):
        """Predicted change against sessions with its confidence band and a rug of the sessions
        actually attended (one tick per participant in the model); returns the Axes.

        Drawn by :func:`evalkit.report.figures.dose.draw_dose`, the code behind the report figure
        (which never draws the rug: individual values are not published).
        """
        import matplotlib.pyplot as plt

        from .report.figures.dose import draw_dose

        if ax is None:
            _, ax = plt.subplots()
        c0, c1 = self.change
        return draw_dose(ax, self.curve, sessions_label=f"{self.sessions} (sessions attended)",
                         change_label=f"predicted change in {self.outcome}, {self.time} {c0:g} to "
                                      f"{c1:g}", rug=self.observed_sessions)


@renamed(grid="at")
def dose_response(data: pd.DataFrame, *, outcome: str, sessions: str = "sessions_attended",
                  subject: str = "participant_id", time: str = "weeks", covariates=(),
                  change=(0, 12), started: str | None = "started", at=None,
                  confidence: float = 0.95, simplify: bool = True) -> DoseResponse:
    """Dose–response of change on sessions attended, from a mixed model among starters.

    Fits ``outcome ~ time * sessions + time * covariate + …`` with a random intercept and slope
    for ``time`` per participant (:func:`evalkit.models.mixed.fit_mixed`, REML, Satterthwaite df)
    and reports the ``time:sessions`` interaction on the raw scale, as the extra change from
    ``time = change[0]`` to ``change[1]`` per additional session.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame (participant × wave) with the score, ``time`` and participant-level
        ``sessions``, ``started`` and covariates.
    outcome : str
    sessions : str
        Sessions attended (participant-level, numeric).
    subject, time : str
    covariates : sequence of str
        Participant-level adjustments. Each enters with its own time slope (``time * covariate``):
        a confounder of dose and *change* (delivery mode above all: modes differ both in sessions
        offered and in change) only biases the dose effect through the slope, so a level-only
        adjustment would not remove it.
    change : (float, float), default (0, 12)
        The window of change. Time enters linearly, so restrict ``data`` to the waves inside the
        window (e.g. baseline to end of support) when change is not linear beyond it.
    started : str or None, default "started"
        Only participants with ``started`` true are analysed (``None``: everyone).
    at : sequence of float or dict, optional
        Session counts for ``curve``: a list, or ``{sessions: values}`` (``grid=`` is the
        deprecated name); default every integer from the 5 % to the 95 % quantile of the sessions
        of the participants in the model.
    confidence : float, default 0.95
    simplify : bool, default True
        On a singular fit, drop the slope correlation, then the random slope (recorded in
        ``warnings``).

    Returns
    -------
    DoseResponse

    Raises
    ------
    SpecificationError
        Non-numeric sessions or time, a degenerate window, or participant-level columns that vary
        between rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.dose import dose_response
    >>> rng = np.random.default_rng(3)
    >>> n = 120
    >>> s = rng.integers(1, 15, n)
    >>> ids = np.repeat(np.arange(n), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], n)
    >>> y = (40 + rng.normal(0, 5, n)[ids] + (0.1 + 0.02 * s[ids]) * weeks
    ...      + rng.normal(0, 1, n)[ids] * weeks / 12 + rng.normal(0, 3, 3 * n))
    >>> d = pd.DataFrame({"participant_id": ids, "weeks": weeks, "wemwbs": y,
    ...                   "sessions_attended": s[ids], "started": True})
    >>> res = dose_response(d, outcome="wemwbs")
    >>> res.effect[["estimate", "std_error", "df"]].round(3)
       estimate  std_error     df
    0     0.213      0.105  118.0
    >>> res.n_participants, res.n_excluded
    (120, 0)
    """
    from .models.mixed import fit_mixed
    from .models.moderation import conditional_effects

    where = "dose_response"
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
    _check_frame(data, [subject, time, outcome, sessions, *covariates,
                        *([started] if started else [])], where)
    for name in [outcome, sessions, time, subject, *covariates]:
        if not name.isidentifier():
            raise SpecificationError(f"{where}: column name {name!r} cannot be used in a model formula; "
                                     "rename it to letters, digits and underscores")
    clash = [c for c in covariates if c in (outcome, sessions, time, subject)]
    if clash:
        raise SpecificationError(f"{where}: covariates {clash} repeat a column with another role")
    if not (np.ndim(change) == 1 and len(change) == 2 and float(change[1]) != float(change[0])):
        raise SpecificationError(f"{where}: change must be two different times, e.g. (0, 12); got "
                                 f"{change!r}")
    c0, c1 = float(change[0]), float(change[1])
    check_confidence(confidence, where)
    for col in (time, sessions):
        v = data[col]
        if not pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v):
            raise SpecificationError(f"{where}: {col!r} must be numeric, got dtype {v.dtype}")

    per = _per_participant(data, subject, [sessions, *covariates, *([started] if started else [])],
                           where)
    starter = _starters(per, started)
    has_sessions = per[sessions].notna().to_numpy()
    keep_ids = per.index[starter & has_sessions]
    d = data.loc[data[subject].isin(keep_ids), [subject, time, outcome, sessions, *covariates]].copy()
    d[sessions] = d[sessions].astype(float)
    d[time] = d[time].astype(float)
    d[outcome] = pd.to_numeric(d[outcome], errors="coerce").astype(float)
    for c in covariates:
        v = d[c]
        if pd.api.types.is_bool_dtype(v.dtype):
            # a yes/no covariate is 0/1, named by its column (the one term-naming rule of
            # evalkit.models.coding); float, because formulaic cannot code nullable booleans
            d[c] = v.astype("float64")
        elif pd.api.types.is_numeric_dtype(v.dtype) and not isinstance(v.dtype, pd.CategoricalDtype):
            d[c] = v.astype(float)

    fixed = " + ".join([f"{time} * {sessions}", *[f"{time} * {c}" for c in covariates]])
    with warnings.catch_warnings(record=True) as caught:
        # intermediate singular fits are handled by simplify=; the final fit's state is re-emitted
        warnings.simplefilter("always", SingularFitWarning)
        fit = fit_mixed(d, outcome=outcome, fixed=fixed, subject=subject, random=time,
                        confidence=confidence, simplify=simplify)
    for w in caught:
        if not issubclass(w.category, SingularFitWarning):
            warnings.warn(w.message, w.category, stacklevel=2)
    if fit.singular:
        warnings.warn(f"{where}: the final fit is singular: {'; '.join(fit.warnings)}",
                      SingularFitWarning, stacklevel=2)

    term = f"{time}:{sessions}"
    label = f"change {time} {c0:g} to {c1:g} per {sessions}"
    effect = fit.contrast({label: {term: c1 - c0}})

    used = pd.Index(fit.design.groups)
    observed = per.loc[used, sessions].astype(float).to_numpy()
    grid = at
    if isinstance(grid, dict):
        if set(grid) != {sessions}:
            raise SpecificationError(f"{where}: at={grid!r} must give session counts only, e.g. "
                                     f"at={{{sessions!r}: [0, 6, 12]}} or a plain list")
        grid = grid[sessions]
    if grid is None:
        lo, hi = np.quantile(observed, [0.05, 0.95])
        grid = np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=float)
        if not len(grid):
            grid = np.array([float(np.round(np.median(observed)))])
    grid = np.asarray(grid, dtype=float).ravel()
    if not len(grid) or not np.all(np.isfinite(grid)):
        raise SpecificationError(f"{where}: at must be a non-empty sequence of finite session "
                                 "counts")
    ce = conditional_effects(fit, effect=time, by=sessions, at=list(grid), change=(c0, c1))
    curve = ce.rename(columns={sessions: "sessions"})[CURVE_COLUMNS].reset_index(drop=True)

    no_obs = int((starter & has_sessions).sum()) - len(used)
    exclusions = pd.DataFrame({
        "reason": ["not started", f"{sessions} missing", "no usable observation"],
        "participants": [int((~starter).sum()), int((starter & ~has_sessions).sum()), no_obs]})
    if started is None:
        exclusions = exclusions.iloc[1:].reset_index(drop=True)
    n_excluded = int(exclusions["participants"].sum())
    return DoseResponse(effect=effect, curve=curve, fit=fit, n_participants=len(used),
                        n_excluded=n_excluded, exclusions=exclusions, change=(c0, c1),
                        outcome=outcome, sessions=sessions, time=time,
                        warnings=tuple(fit.warnings), observed_sessions=observed)
