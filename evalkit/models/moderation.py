"""Effects by context: marginal means, change and slopes by group, Johnson–Neyman.

Everything here is a linear combination ``L β`` of a fitted model's fixed effects, so every
estimate comes with a standard error and Satterthwaite df (emmeans semantics on lmerTest fits), or
Kenward–Roger ones with ``ddf="kenward-roger"`` (emmeans' ``lmer.df = "kenward-roger"``).

Reference grid (as emmeans' defaults): every categorical model variable at each of its levels; a
boolean or any numeric variable with at most two distinct values in the fitted rows (a 0/1 flag) at
both values (emmeans treats a logical as a factor, and keeps a numeric with <= 2 values:
``cov.keep = "2"``); every other numeric variable at its mean in the fitted rows -- unless given in
``at``. Grid values of variables that are not in ``by`` (or ``at``) are averaged with equal weights,
so a mean is "averaged over first_baby = no/yes", not "at first_baby = 0.56".

Every table returned here remembers the linear combinations behind its rows, so
:func:`pairwise` can compare them (``ek.pairwise(ek.marginal_means(fit, ...))``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import evalkit as ek
>>> rng = np.random.default_rng(2)
>>> ids = np.repeat(np.arange(80), 3)
>>> weeks = np.tile([0.0, 6.0, 12.0], 80)
>>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
>>> gain = np.where(mode == "one_to_one", 0.42, 0.29)
>>> y = 38 + rng.normal(0, 6, 80)[ids] + gain * weeks + rng.normal(0, 4, 240)
>>> data = pd.DataFrame({"id": ids, "weeks": weeks, "mode": mode, "wemwbs": y})
>>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * mode", subject="id",
...                    reference={"mode": "one_to_one"})
>>> ce = ek.conditional_effects(fit, effect="weeks", by="mode", change=(0, 12))
>>> ce[["mode", "estimate", "std_error", "df"]].round(2)
         mode  estimate  std_error     df
0  one_to_one      6.51       0.91  158.0
1       group      2.59       0.91  158.0
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._compat import renamed
from .._result import Result
from ..errors import SpecificationError, UnknownNameError
from .design import new_matrices
from .jn_region import gap_function, region
from .multiplicity import adjust_p

__all__ = ["marginal_means", "change_from_baseline", "pairwise", "conditional_effects",
           "interaction_test", "johnson_neyman", "JohnsonNeyman", "InteractionTest", "Estimates"]

_ADJUST = ("holm", "bonferroni", "bh", "tukey", "none")


@dataclass(frozen=True)
class Estimates:
    """Linear combinations of a fit's fixed effects: a tidy table plus the rows of L behind it."""

    table: pd.DataFrame
    L: np.ndarray = field(repr=False)
    labels: pd.DataFrame = field(repr=False)
    fit: object = field(repr=False)


# ---------------------------------------------------------------------- reference grid
def _model_vars(fit) -> dict:
    vars_ = dict(fit.design.variables)
    vars_.pop(fit.spec.subject, None)
    return vars_


def _check_names(fit, names):
    known = _model_vars(fit)
    for n in names:
        if n not in known:
            raise UnknownNameError(f"{n!r} is not a variable of the model; variables: {', '.join(known)}")


def _with_ddf(fit, ddf):
    """The fit with its tests on ``ddf`` ("satterthwaite", "kenward-roger"); None: as fitted."""
    return fit if ddf is None else fit.with_ddf(ddf)


def _grid_values(info: dict) -> list:
    """Where the reference grid puts a variable that is not given in ``at`` (emmeans' defaults).

    Factors: every level. Numeric variables with at most two distinct values in the fitted rows
    (booleans, 0/1 flags): both values -- emmeans treats a logical as a factor and keeps a numeric
    with <= 2 distinct values (its default ``cov.keep = "2"``). Other numeric variables: the mean.
    """
    if info["kind"] == "categorical":
        return list(info["levels"])
    if "values" in info:
        return list(info["values"])
    return [info["mean"]]


def _grid(fit, *, at: dict, keep: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """L rows (averaged with equal weights over the grid values not kept) and their labels."""
    known = _model_vars(fit)
    _check_names(fit, list(at))
    axes = {}
    for var, info in known.items():
        if var in at:
            vals = at[var]
            axes[var] = list(vals) if np.ndim(vals) else [vals]
        else:
            axes[var] = _grid_values(info)
    names = list(axes)
    grid = pd.DataFrame(list(itertools.product(*axes.values())), columns=names)
    grid[fit.spec.subject] = fit.design.groups[0]  # random part unused; keeps new_matrices happy
    X, _, _ = new_matrices(fit.design, grid)
    grid = grid.drop(columns=fit.spec.subject)
    if not keep:
        return X.mean(axis=0, keepdims=True), pd.DataFrame(index=[0])
    keys = grid[keep].astype(object)
    labels = keys.drop_duplicates().reset_index(drop=True)
    L = np.vstack([X[(keys == row).all(axis=1).to_numpy()].mean(axis=0) for _, row in labels.iterrows()])
    return L, labels


_ROWS = "evalkit_rows"     # key in DataFrame.attrs of the tables returned here


class _Rows(dict):
    """The rows of L behind a returned table, kept in its ``.attrs`` for :func:`pairwise`.

    A dict holding only a short JSON-able description, so ``DataFrame.to_parquet`` (which writes
    ``attrs`` as JSON) still works; the fit and L are attributes. pandas deep-copies ``attrs`` on
    every operation: copies share this object. Pickling keeps the description only (the fit's
    closures do not pickle), so a table that was saved and loaded cannot be compared any more.
    """

    def __init__(self, fit, L: np.ndarray, labels: pd.DataFrame, index: pd.Index):
        super().__init__(kind="evalkit linear combinations of the fixed effects", rows=int(len(L)))
        self.fit, self.L, self.label_columns, self.index = fit, L, list(labels.columns), index

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __reduce__(self):
        return dict, (dict(self),)

    def __eq__(self, other):      # two tables are combined with their attrs only if they share them
        return self is other

    __hash__ = None


def _estimates(fit, L: np.ndarray, labels: pd.DataFrame) -> Estimates:
    table = fit.contrast(L, names=[f"r{i}" for i in range(len(L))]).drop(columns="term")
    table = pd.concat([labels.reset_index(drop=True), table], axis=1)
    table.attrs[_ROWS] = _Rows(fit, L, labels, table.index.copy())
    return Estimates(table=table, L=L, labels=labels, fit=fit)


def marginal_means(fit, *, at: dict | None = None, by: str | list[str] | None = None,
                   ddf: str | None = None) -> pd.DataFrame:
    """Model-based means on a reference grid, per level of ``by`` and each value in ``at``.

    Parameters
    ----------
    fit : MixedResult
    at : dict, optional
        Values for numeric variables (e.g. ``{"weeks": [0, 12]}``). Other numeric variables sit
        at their means, except booleans and 0/1 (two-valued) ones, which are averaged over both
        values like factors (emmeans' defaults; see the module docstring).
    by : str or list of str, optional
        Variables to report separately (categorical, boolean or 0/1); the others are averaged.
    ddf : {"satterthwaite", "kenward-roger"}, optional
        The df method (default: the fit's own, ``fit.spec.ddf``). "kenward-roger": standard errors
        from the adjusted covariance Φ_A and Kenward–Roger df (emmeans' ``lmer.df``).

    Returns
    -------
    pandas.DataFrame
        The ``by`` and ``at`` columns, then ``estimate, std_error, df, statistic, p_value, ci_low,
        ci_high`` (Satterthwaite or Kenward–Roger df; the test is against 0).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(2)
    >>> ids = np.repeat(np.arange(80), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 80)
    >>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
    >>> isolation = rng.uniform(0, 10, 80)[ids]
    >>> y = (38 + rng.normal(0, 6, 80)[ids] + np.where(mode == "one_to_one", 0.42, 0.29) * weeks
    ...      - 0.03 * isolation * weeks + rng.normal(0, 4, 240))
    >>> data = pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
    ...                      "isolation": isolation, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * mode")
    >>> means = ek.marginal_means(fit, at={"weeks": [0, 12]}, by="mode")
    >>> means[["mode", "weeks", "estimate", "std_error"]].round(2)
             mode weeks  estimate  std_error
    0       group     0     37.89       1.03
    1       group    12     39.14       1.03
    2  one_to_one     0     37.71       1.03
    3  one_to_one    12     40.87       1.03
    """
    return _marginal(_with_ddf(fit, ddf), at=at, by=by).table


def _marginal(fit, *, at=None, by=None) -> Estimates:
    at = dict(at or {})
    by = [by] if isinstance(by, str) else list(by or [])
    _check_names(fit, by)
    L, labels = _grid(fit, at=at, keep=[*by, *[k for k in at if k not in by]])
    return _estimates(fit, L, labels)


@renamed(at="change")
def change_from_baseline(fit, *, time: str = "weeks", change: tuple = (0, 12), by: str | None = None,
                         ddf: str | None = None) -> pd.DataFrame:
    """Model-based change in the outcome from ``time = change[0]`` to ``time = change[1]``, per ``by``
    level (``at=`` is the deprecated name of ``change=``).

    ``ddf``: "satterthwaite" or "kenward-roger" (default: the fit's own, ``fit.spec.ddf``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(2)
    >>> ids = np.repeat(np.arange(80), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 80)
    >>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
    >>> isolation = rng.uniform(0, 10, 80)[ids]
    >>> y = (38 + rng.normal(0, 6, 80)[ids] + np.where(mode == "one_to_one", 0.42, 0.29) * weeks
    ...      - 0.03 * isolation * weeks + rng.normal(0, 4, 240))
    >>> data = pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
    ...                      "isolation": isolation, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * mode")
    >>> change = ek.change_from_baseline(fit, change=(0, 12), by="mode")
    >>> change[["mode", "estimate", "std_error", "df"]].round(2)
             mode  estimate  std_error     df
    0       group      1.25       0.95  158.0
    1  one_to_one      3.16       0.95  158.0
    """
    return _change(_with_ddf(fit, ddf), time=time, at=change, by=by).table


def _change(fit, *, time, at, by) -> Estimates:
    if len(at) != 2:
        raise SpecificationError(f"change must be (start, end), e.g. (0, 12); got {at!r}")
    by_ = [by] if by else []
    L0, labels = _grid(fit, at={time: at[0]}, keep=by_)
    L1, _ = _grid(fit, at={time: at[1]}, keep=by_)
    return _estimates(fit, L1 - L0, labels)


def pairwise(estimates, *, by: str | list[str] | None = None, adjust: str = "holm") -> pd.DataFrame:
    """All pairwise differences between the rows of a table of estimates, with adjusted p-values.

    As emmeans' ``pairs()``: each difference is ``L_i β - L_j β`` with its own standard error and
    degrees of freedom (Satterthwaite, or those the table was computed with), and p-values are
    adjusted within each family of comparisons.

    Parameters
    ----------
    estimates : pandas.DataFrame
        A table returned by :func:`marginal_means`, :func:`change_from_baseline` or
        :func:`conditional_effects` -- or a subset of its rows (e.g. ``mm[mm["weeks"] == 12]``).
        Tables remember the linear combinations behind their rows (in ``.attrs``); one built by
        hand, combined with another table, or saved and loaded cannot be compared.
        (An :class:`Estimates` from the private helpers is accepted too.)
    by : str or list of str, optional
        Compare rows only within each value of these label columns -- emmeans'
        ``pairs(emmeans(fit, ~ mode | weeks))`` is ``pairwise(mm, by="weeks")``. Each group is a
        family for the adjustment. Default: all rows against each other (one family).
    adjust : {"holm", "bonferroni", "bh", "tukey", "none"}, default "holm"
        ``"bh"`` is Benjamini–Hochberg; ``"tukey"`` the studentized range with each contrast's own
        df and the family's number of estimates (emmeans' default for ``pairs()``, and the
        natural choice for all pairs of one set of means). The CI columns are unadjusted.

    Returns
    -------
    pandas.DataFrame
        ``term`` ("a - b", the row labels without the ``by`` columns), the ``by`` columns, then
        ``estimate, std_error, df, statistic, p_value`` (adjusted), ``ci_low, ci_high, adjust``.

    Raises
    ------
    SpecificationError
        The table does not carry the model behind its rows, or its estimates were changed.
    UnknownNameError
        An unknown ``adjust`` method or ``by`` column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(4)
    >>> ids = np.repeat(np.arange(90), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 90)
    >>> mode = pd.Categorical.from_codes(ids % 3, ["one_to_one", "group", "both"])
    >>> gain = np.array([0.45, 0.25, 0.40])[ids % 3]
    >>> y = 38 + rng.normal(0, 5, 90)[ids] + gain * weeks + rng.normal(0, 4, 270)
    >>> data = pd.DataFrame({"id": ids, "weeks": weeks, "mode": mode, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * mode", subject="id")
    >>> change = ek.change_from_baseline(fit, time="weeks", change=(0, 12), by="mode")
    >>> ek.pairwise(change, adjust="tukey")[["term", "estimate", "std_error", "df", "p_value"]].round(3)
                     term  estimate  std_error     df  p_value
    0  one_to_one - group     3.483      1.405  177.0    0.037
    1   one_to_one - both     2.972      1.405  177.0    0.090
    2        group - both    -0.511      1.405  177.0    0.930
    >>> mm = ek.marginal_means(fit, at={"weeks": [0, 12]}, by="mode")
    >>> ek.pairwise(mm, by="weeks")[["term", "weeks", "estimate"]].round(2)
                     term  weeks  estimate
    0  one_to_one - group      0     -0.59
    1   one_to_one - both      0     -1.30
    2        group - both      0     -0.71
    3  one_to_one - group     12      2.89
    4   one_to_one - both     12      1.67
    5        group - both     12     -1.22
    """
    if adjust not in _ADJUST:
        raise UnknownNameError(f"adjust={adjust!r} is not available; choose one of {', '.join(_ADJUST)}")
    fit, L, labels = _rows_of(estimates)
    by_ = [by] if isinstance(by, str) else list(by or [])
    unknown = [b for b in by_ if b not in labels.columns]
    if unknown:
        raise UnknownNameError(f"by={unknown[0]!r} is not a label column of these estimates; label "
                               f"columns: {', '.join(map(str, labels.columns)) or '(none)'}")
    name_cols = [c for c in labels.columns if c not in by_]
    names = (labels[name_cols].astype(str).agg(" ".join, axis=1).tolist() if name_cols
             else [f"row {i + 1}" for i in range(len(labels))])
    families = ([np.arange(len(labels))] if not by_ else
                [np.asarray(ix) for ix in labels.groupby(by_, sort=False, dropna=False).indices.values()])
    families.sort(key=lambda ix: ix[0])
    parts = []
    for rows in families:
        pairs = list(itertools.combinations(rows, 2))
        if not pairs:
            continue
        C = np.vstack([L[i] - L[j] for i, j in pairs])
        part = fit.contrast(C, names=[f"{names[i]} - {names[j]}" for i, j in pairs])
        part["p_value"] = _adjust(part, adjust, k=len(rows))
        for pos, col in enumerate(by_):
            part.insert(1 + pos, col, [labels[col].iat[rows[0]]] * len(part))
        parts.append(part)
    if not parts:
        columns = ["term", *by_, "estimate", "std_error", "df", "statistic", "p_value", "ci_low", "ci_high"]
        table = pd.DataFrame(columns=columns)
    else:
        table = pd.concat(parts, ignore_index=True)
    table.insert(len(table.columns), "adjust", adjust)
    return table


def _rows_of(estimates) -> tuple:
    """(fit, L, labels) behind the rows of a returned table (or an :class:`Estimates`)."""
    if isinstance(estimates, Estimates):
        return estimates.fit, estimates.L, estimates.labels.reset_index(drop=True)
    if not isinstance(estimates, pd.DataFrame) and isinstance(getattr(estimates, "table", None),
                                                              pd.DataFrame):
        estimates = estimates.table          # a result object holding the returned table
    if not isinstance(estimates, pd.DataFrame):
        raise SpecificationError("pairwise() compares the rows of a table returned by marginal_means, "
                                 f"change_from_baseline or conditional_effects; got {type(estimates).__name__}")
    rows = estimates.attrs.get(_ROWS)
    if not isinstance(rows, _Rows):
        raise SpecificationError(
            "pairwise() needs a table returned by marginal_means, change_from_baseline or "
            "conditional_effects (or a subset of its rows): this table does not carry the model behind "
            "its rows -- it was built by hand, combined with another table, or saved and loaded")
    pos = rows.index.get_indexer(estimates.index)
    if estimates.index.has_duplicates or (pos < 0).any():
        raise SpecificationError("pairwise(): the rows of this table are not rows of the table it came "
                                 "from (its index was reset or changed); select rows without "
                                 "resetting the index")
    missing = [c for c in rows.label_columns if c not in estimates.columns]
    if missing:
        raise SpecificationError(f"pairwise(): the label column(s) {missing} were removed or renamed")
    L = rows.L[pos]
    if "estimate" not in estimates.columns or not np.allclose(
            estimates["estimate"].to_numpy(float), L @ rows.fit.beta, rtol=1e-9, atol=1e-12):
        raise SpecificationError("pairwise(): the estimates in this table are no longer those of the "
                                 "model at these rows (the estimate column was changed, or the index "
                                 "was reset after selecting rows); compare the table as returned")
    return rows.fit, L, estimates[rows.label_columns].reset_index(drop=True)


def _adjust(table: pd.DataFrame, method: str, k: int) -> np.ndarray:
    return adjust_p(table["p_value"].to_numpy(), method, statistic=table["statistic"].to_numpy(),
                    df=table["df"].to_numpy(), k=k)


# ---------------------------------------------------------------------- conditional effects
def conditional_effects(fit, *, effect: str, by: str, at=None, change: tuple | None = None,
                        data: pd.DataFrame | None = None, ddf: str | None = None) -> pd.DataFrame:
    """The effect of ``effect`` (its slope, or the change between two values) within each level of a
    categorical moderator ``by``, or at chosen values of a numeric one.

    Parameters
    ----------
    fit : MixedResult
    effect : str
        A numeric model variable, usually time (``"weeks"``).
    by : str
        The moderator. Categorical: one row per level. Numeric: rows at ``at`` (default mean − SD,
        mean, mean + SD of the fitted rows).
    at : sequence of float or dict, optional
        Moderator values for a numeric moderator: a list, or ``{by: values}``.
    change : (float, float), optional
        Report the change from ``effect = change[0]`` to ``change[1]`` (e.g. weeks 0 → 12) instead
        of the slope per unit.
    data : pandas.DataFrame, optional
        The data the model was fitted to; when given, the interaction is also tested by a
        likelihood-ratio test of ML refits (columns ``lrt_statistic``, ``lrt_df``, ``lrt_p_value``).
    ddf : {"satterthwaite", "kenward-roger"}, optional
        The df method (default: the fit's own, ``fit.spec.ddf``). "kenward-roger": adjusted
        standard errors and Kenward–Roger df, and the interaction F test of pbkrtest's
        ``KRmodcomp`` (scaled F, Kenward–Roger denominator df).

    Returns
    -------
    pandas.DataFrame
        ``by`` column, ``estimate, std_error, df, statistic, p_value, ci_low, ci_high``, and the
        interaction test repeated on every row: ``interaction_f``, ``interaction_df1``,
        ``interaction_df2``, ``interaction_p`` (Wald F with Satterthwaite denominator df, or the
        Kenward–Roger F test).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(2)
    >>> ids = np.repeat(np.arange(80), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 80)
    >>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
    >>> isolation = rng.uniform(0, 10, 80)[ids]
    >>> y = (38 + rng.normal(0, 6, 80)[ids] + np.where(mode == "one_to_one", 0.42, 0.29) * weeks
    ...      - 0.03 * isolation * weeks + rng.normal(0, 4, 240))
    >>> data = pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
    ...                      "isolation": isolation, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * isolation")
    >>> ce = ek.conditional_effects(fit, effect="weeks", by="isolation", at={"isolation": [2, 5, 8]},
    ...                             change=(0, 12))
    >>> ce[["isolation", "estimate", "ci_low", "ci_high"]].round(2)
      isolation  estimate  ci_low  ci_high
    0         2      3.81    1.78     5.84
    1         5      2.28    0.96     3.60
    2         8      0.75   -1.18     2.67
    >>> round(float(ce["interaction_p"].iloc[0]), 4)
    0.0419
    """
    fit = _with_ddf(fit, ddf)
    if isinstance(at, dict):
        if set(at) != {by}:
            raise SpecificationError(f"at={at!r} must give values of the moderator {by!r} only, e.g. "
                                     f"at={{{by!r}: [2, 5, 8]}} or a plain list")
        at = at[by]
    est = _conditional(fit, effect=effect, by=by, at=at, change=change)
    table = est.table
    test = interaction_test(fit, effect=effect, by=by, data=data)
    for key, value in test.as_dict().items():
        table[key] = value
    return table


def _conditional(fit, *, effect, by, at=None, change=None) -> Estimates:
    _check_names(fit, [effect, by])
    info = fit.design.variables
    if info[effect]["kind"] != "numeric":
        raise SpecificationError(f"effect {effect!r} must be numeric (a slope or a change over it)")
    lo, hi = change if change is not None else (0.0, 1.0)
    if info[by]["kind"] == "categorical":
        L0, labels = _grid(fit, at={effect: lo}, keep=[by])
        L1, _ = _grid(fit, at={effect: hi}, keep=[by])
    else:
        m, sd = info[by]["mean"], info[by]["sd"]
        values = list(at) if at is not None else [m - sd, m, m + sd]
        L0, labels = _grid(fit, at={effect: lo, by: values}, keep=[by])
        L1, _ = _grid(fit, at={effect: hi, by: values}, keep=[by])
    # A slope is the change per unit: exact because the linear predictor is linear in `effect`.
    return _estimates(fit, L1 - L0, labels)


@dataclass(frozen=True, repr=False)
class InteractionTest(Result):
    """The test of whether an effect differs by ``by``, from :func:`interaction_test`.

    ``.table`` is one row: ``interaction_f, interaction_df1, interaction_df2, interaction_p`` (and
    ``lrt_statistic, lrt_df, lrt_p_value`` when the LRT was run). Indexing by those names
    (``test["interaction_p"]``) still works as it did when the function returned a dict.
    """

    effect: str
    by: str
    values: dict = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.values])

    @property
    def raw(self) -> None:
        return None

    @property
    def p_value(self) -> float:
        """The Wald F test's p-value (``interaction_p``)."""
        return self.values["interaction_p"]

    def as_dict(self) -> dict:
        """The test's numbers by name."""
        return dict(self.values)

    def __getitem__(self, key):
        return self.values[key]

    def _header(self) -> list[str]:
        return [f"does the effect of {self.effect} differ by {self.by}?"]


def interaction_test(fit, *, effect: str, by: str, data: pd.DataFrame | None = None,
                     ddf: str | None = None) -> InteractionTest:
    """Does the effect differ by ``by``? Wald F (Satterthwaite df, as lmerTest's type-III) and, when
    ``data`` is given, an LRT of ML refits with and without the interaction terms.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(2)
    >>> ids = np.repeat(np.arange(80), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 80)
    >>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
    >>> isolation = rng.uniform(0, 10, 80)[ids]
    >>> y = (38 + rng.normal(0, 6, 80)[ids] + np.where(mode == "one_to_one", 0.42, 0.29) * weeks
    ...      - 0.03 * isolation * weeks + rng.normal(0, 4, 240))
    >>> data = pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
    ...                      "isolation": isolation, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * mode")
    >>> test = ek.interaction_test(fit, effect="weeks", by="mode")
    >>> test.table[["interaction_f", "interaction_df1", "interaction_df2", "interaction_p"]].round(3)
       interaction_f  interaction_df1  interaction_df2  interaction_p
    0           2.04                1            158.0          0.155
    >>> round(test.p_value, 3) == round(test["interaction_p"], 3)
    True
    """
    names = fit.design.fixed_names
    idx = [i for i, n in enumerate(names) if ":" in n
           and any(p.split("[")[0] == effect for p in n.split(":"))
           and any(p.split("[")[0] == by for p in n.split(":"))]
    out = {"interaction_f": np.nan, "interaction_df1": 0, "interaction_df2": np.nan,
           "interaction_p": np.nan}
    if not idx:
        return InteractionTest(effect=effect, by=by, values=out)
    C = np.zeros((len(idx), len(names)))
    C[np.arange(len(idx)), idx] = 1.0
    F, df1, df2 = _wald_f(_with_ddf(fit, ddf), C)
    out.update(interaction_f=F, interaction_df1=df1, interaction_df2=df2,
               interaction_p=float(stats.f.sf(F, df1, df2)) if np.isfinite(df2) else
               float(stats.chi2.sf(F * df1, df1)))
    if data is not None:
        from .mixed import fit_mixed, lrt

        kept = [n for i, n in enumerate(_formula_terms(fit.spec.fixed)) if not _is_interaction(n, effect, by)]
        common = dict(outcome=fit.spec.outcome, subject=fit.spec.subject, random=fit.spec.random,
                      correlated=fit.spec.correlated, reml=False, reference=dict(fit.spec.reference),
                      centre=list(fit.spec.centre))
        full = fit_mixed(data, fixed=fit.spec.fixed, **common)
        reduced = fit_mixed(data, fixed=" + ".join(kept) or "1", **common)
        res = lrt(reduced, full).iloc[1]
        out.update(lrt_statistic=res["statistic"], lrt_df=res["df"], lrt_p_value=res["p_value"])
    return InteractionTest(effect=effect, by=by, values=out)


def _formula_terms(fixed: str) -> list[str]:
    from formulaic import Formula

    return [str(t) for t in Formula(fixed) if str(t) != "1"]


def _is_interaction(term: str, effect: str, by: str) -> bool:
    parts = [p.strip() for p in term.split(":")]
    return effect in parts and by in parts


def _wald_f(fit, C: np.ndarray) -> tuple[float, int, float]:
    """F for C β = 0 with Satterthwaite denominator df (Fai & Cornelius 1996, as lmerTest), or
    pbkrtest's Kenward–Roger F test when the fit uses ``ddf="kenward-roger"``."""
    V = fit.vcov_beta
    CVC = C @ V @ C.T
    vals, vecs = np.linalg.eigh(CVC)
    q = len(vals)
    Pc = vecs.T @ C
    est = Pc @ fit.beta
    if getattr(fit.spec, "ddf", None) == "kenward-roger":   # pbkrtest's KRmodcomp: F scaled by λ
        kr = fit.kenward_roger.f_test(C, fit.beta)
        return kr["F"], kr["ndf"], kr["ddf"]
    F = float(np.sum(est ** 2 / vals) / q)
    if fit._contrast_df is None:
        return F, q, np.inf
    nu = fit._contrast_df(Pc)
    E = np.sum(np.where(nu > 2, nu / (nu - 2), 0.0))
    df2 = 2 * E / (E - q) if E > q else np.nan
    return F, q, float(df2)


# ---------------------------------------------------------------------- Johnson–Neyman
@dataclass(frozen=True, repr=False)
class JohnsonNeyman(Result):
    """Where the conditional effect of ``effect`` stops (or starts) being distinguishable from 0.

    Attributes
    ----------
    bounds : pandas.DataFrame
        ``moderator_value, inside_data, side`` for each value where the CI crosses 0.
    curve : pandas.DataFrame
        The whole conditional-effect curve: ``<moderator>, estimate, std_error, df, ci_low,
        ci_high, significant`` over (at least) the observed moderator range.
    observed_range : tuple of float

    ``.table`` (and ``summary()``) is :attr:`bounds`; ``.raw`` is None.
    """

    effect: str
    moderator: str
    bounds: pd.DataFrame
    curve: pd.DataFrame
    observed_range: tuple
    confidence: float

    @property
    def table(self) -> pd.DataFrame:
        """:attr:`bounds`."""
        return self.bounds

    @property
    def raw(self) -> None:
        return None

    def _header(self) -> list[str]:
        lo, hi = self.observed_range
        return [f"effect of {self.effect} by {self.moderator} (observed {lo:g} to {hi:g})"]

    def plot(self, ax=None):
        """The conditional-effect curve with its CI band, 0 line and boundaries.

        Drawn by :func:`evalkit.report.figures.draw_jn`, the code that draws the report figure.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Default: pyplot's current Axes.

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from matplotlib.figure import Figure
        >>> from evalkit.models.moderation import JohnsonNeyman
        >>> w = np.linspace(0, 10, 11)
        >>> curve = pd.DataFrame({"isolation": w, "estimate": 6 - 0.6 * w, "ci_low": 4 - 0.6 * w,
        ...                       "ci_high": 8 - 0.6 * w})
        >>> bounds = pd.DataFrame({"moderator_value": [6.67], "inside_data": [True]})
        >>> jn = JohnsonNeyman(effect="weeks", moderator="isolation", bounds=bounds, curve=curve,
        ...                    observed_range=(0.0, 10.0), confidence=0.95)
        >>> jn.plot(Figure().subplots()).get_xlabel()
        'isolation'
        """
        import matplotlib.pyplot as plt

        from ..report import figures

        return figures.draw_jn(ax or plt.gca(), self.curve, self.bounds, moderator=self.moderator,
                               observed_range=self.observed_range, confidence=self.confidence,
                               effect_label=f"effect of {self.effect}")


@renamed(moderator="by")
def johnson_neyman(fit, *, effect: str, by: str, change: tuple | None = None,
                   n_points: int = 201, extend: float = 0.5, ddf: str | None = None) -> JohnsonNeyman:
    """Johnson–Neyman boundaries for a numeric moderator.

    The conditional effect is ``L(w) β`` with ``L`` linear in the moderator value ``w``; its CI uses
    the Satterthwaite df at each ``w``. Boundaries are the roots of ``|estimate(w)| = t(df(w))·se(w)``
    found with Brent's method between grid points, searched over the observed range extended by
    ``extend`` × its width on both sides; each is marked as inside the data or not. ``ddf``:
    "satterthwaite" or "kenward-roger" (default: the fit's own, ``fit.spec.ddf``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import evalkit as ek
    >>> rng = np.random.default_rng(2)
    >>> ids = np.repeat(np.arange(80), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 80)
    >>> mode = np.where(ids % 2 == 0, "one_to_one", "group")
    >>> isolation = rng.uniform(0, 10, 80)[ids]
    >>> y = (38 + rng.normal(0, 6, 80)[ids] + np.where(mode == "one_to_one", 0.42, 0.29) * weeks
    ...      - 0.03 * isolation * weeks + rng.normal(0, 4, 240))
    >>> data = pd.DataFrame({"participant_id": ids, "weeks": weeks, "mode": mode,
    ...                      "isolation": isolation, "wemwbs": y})
    >>> fit = ek.fit_mixed(data, outcome="wemwbs", fixed="weeks * isolation")
    >>> jn = ek.johnson_neyman(fit, effect="weeks", by="isolation", change=(0, 12))
    >>> jn.bounds.round(2)
       moderator_value  inside_data               side
    0             6.55         True  significant below
    """
    fit = _with_ddf(fit, ddf)
    _check_names(fit, [effect, by])
    info = fit.design.variables[by]
    if info["kind"] != "numeric":
        raise SpecificationError(f"Johnson–Neyman needs a numeric moderator; {by!r} is "
                                 "categorical — use conditional_effects(by=...) instead")
    lo, hi = info["min"], info["max"]
    width = hi - lo if hi > lo else 1.0
    a, b = lo - extend * width, hi + extend * width
    est0 = _conditional(fit, effect=effect, by=by, at=[0.0, 1.0], change=change)
    L0, L1 = est0.L[0], est0.L[1] - est0.L[0]      # L(w) = L0 + w L1
    conf = fit.spec.confidence

    def rows(L):
        out = fit.contrast(L)
        return out["estimate"].to_numpy(), out["std_error"].to_numpy(), out["df"].to_numpy()

    found = region(gap_function(rows, L0, L1, confidence=conf), a, b, n_points=n_points)
    bounds = pd.DataFrame({"moderator_value": found.bounds,
                           "inside_data": [lo <= r <= hi for r in found.bounds],
                           "side": found.sides})
    curve_x = np.linspace(lo, hi, n_points)
    rows = fit.contrast(L0[None, :] + curve_x[:, None] * L1[None, :])
    curve = rows.drop(columns="term")
    curve.insert(0, by, curve_x)
    curve["significant"] = (curve["ci_low"] > 0) | (curve["ci_high"] < 0)
    return JohnsonNeyman(effect=effect, moderator=by, bounds=bounds, curve=curve,
                         observed_range=(lo, hi), confidence=conf)
