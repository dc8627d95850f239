"""The context scan: for whom did the programme work, for whom less, and for whom not?

For each outcome and each context variable, fit ``outcome ~ time * context`` with a random intercept
and slope per participant, and tabulate the model-based change (e.g. weeks 0 → 12) in every level of
the context (a numeric context at mean − SD, mean, mean + SD), with its CI, the heterogeneity test
(does change differ by this context?) and its p-value adjusted across the whole scan, next to the
shares of mothers in that level who reliably improved and reliably deteriorated.

Levels with fewer than ``min_n`` participants are reported as too small to estimate; they are not
merged into other levels and their participants are left out of that context's model (counted).
"""

from __future__ import annotations


import warnings

import numpy as np
import pandas as pd

from .._levels import is_boolean, is_numeric
from ..errors import SingularFitWarning, SmallGroupWarning, SpecificationError
from .mixed import fit_mixed
from .._compat import renamed
from .moderation import conditional_effects
from .multiplicity import adjust_p

__all__ = ["context_scan", "forest_plot"]

COLUMNS = ["outcome", "context", "level", "n_participants", "status", "estimate", "std_error", "df",
           "ci_low", "ci_high", "p_value", "heterogeneity_p", "heterogeneity_p_adjusted",
           "reliable_improvement", "reliable_deterioration", "n_change"]


@renamed(outcomes="outcome", contexts="by", waves=("baseline_wave", "end_wave"))
def context_scan(data: pd.DataFrame, *, outcome, by=None, dictionary=None,
                 subject: str = "participant_id",
                 time: str = "weeks", random: str = "weeks", change: tuple = (0, 12),
                 min_n: int = 10, adjust: str = "bh", wave: str | None = "wave",
                 baseline_wave: str = "baseline", end_wave: str = "end", simplify: bool = True,
                 fits: dict | None = None) -> pd.DataFrame:
    """Scan every context variable for differences in change.

    Parameters
    ----------
    data : pandas.DataFrame
        Long frame (participant × wave) with scores and context columns, e.g. from
        :func:`evalkit.build_cohort` with scores joined.
    outcome : str or list of str
        Score column(s); registered instrument ids also get reliable-change shares
        (``outcomes=`` is the deprecated name).
    by : str or list of str, optional
        Context columns (categorical, boolean or numeric) to scan (``contexts=`` is the deprecated
        name). Default: every variable the ``dictionary`` marks with role ``context`` that is
        present in ``data``.
    dictionary : DataDictionary, optional
        Used for the default ``by``.
    change : (float, float)
        Times between which change is estimated.
    min_n : int, default 10
        Levels with fewer participants are reported as too small to estimate.
    adjust : {"bh", "holm", "bonferroni", "none"}
        Multiplicity adjustment of the heterogeneity p-values across the whole scan
        (:func:`evalkit.models.multiplicity.adjust_p`: statsmodels' ``multipletests``).
    wave : str or None, default "wave"
        Wave column (``None`` skips reliable change).
    baseline_wave, end_wave : str
        The two waves compared for reliable change (``waves=(baseline, end)`` is the deprecated
        form).
    simplify : bool, default True
        Simplify singular random-effects structures (recorded in the ``note`` column).
    fits : dict, optional
        Filled with the fitted models, ``{(outcome, context): MixedResult}`` (contexts whose
        model could not be fitted are absent), for their coefficient tables.

    Returns
    -------
    pandas.DataFrame
        One row per outcome × context × level: ``outcome, context, level, n_participants, status``
        ("estimated" or "too small (n < min_n)"), ``estimate, std_error, df, ci_low, ci_high,
        p_value`` (change within the level), ``heterogeneity_p`` and ``heterogeneity_p_adjusted``
        (the interaction test, repeated per level), ``reliable_improvement,
        reliable_deterioration, n_change`` and ``note``.

    Examples
    --------
    Change in wellbeing was larger in the north:

    >>> import numpy as np, pandas as pd
    >>> from evalkit.models.context import context_scan
    >>> rng = np.random.default_rng(4)
    >>> ids = np.repeat(np.arange(60), 3)
    >>> weeks = np.tile([0.0, 6.0, 12.0], 60)
    >>> site = np.where(ids < 30, "north", "south")
    >>> y = 45 + rng.normal(0, 5, 60)[ids] + np.where(site == "north", 0.6, 0.1) * weeks
    >>> data = pd.DataFrame({"participant_id": ids, "wave": np.tile(["baseline", "mid", "end"], 60),
    ...                      "weeks": weeks, "site": site,
    ...                      "wemwbs": (y + rng.normal(0, 3, 180)).round()})
    >>> scan = context_scan(data, outcome="wemwbs", by="site")
    >>> scan[["level", "n_participants", "estimate", "ci_low", "ci_high"]].round(2)
       level  n_participants  estimate  ci_low  ci_high
    0  north              30      7.13    5.62     8.64
    1  south              30      1.23   -0.28     2.74
    >>> bool(scan["heterogeneity_p_adjusted"].iloc[0] < 0.001)
    True
    """
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    contexts = [by] if isinstance(by, str) else by
    if contexts is None:
        if dictionary is None:
            raise SpecificationError("context_scan(): give by=[...] or a dictionary= whose "
                                     "variables with role 'context' are scanned")
        contexts = [v.name for v in dictionary.by_role("context") if v.name in data.columns]
    missing = [c for c in [*outcomes, *contexts, subject, time] if c not in data.columns]
    if missing:
        raise SpecificationError(f"context_scan(): column(s) {missing} not in the data")
    rows = []
    for outcome in outcomes:
        rc = _reliable_change_by_participant(data, outcome, subject, wave,
                                             (baseline_wave, end_wave))
        for ctx in contexts:
            found, fit = _scan_one(data, outcome, ctx, subject=subject, time=time, random=random,
                                   change=change, min_n=min_n, rc=rc, simplify=simplify)
            rows.extend(found)
            if fits is not None and fit is not None:
                fits[(outcome, ctx)] = fit
    table = pd.DataFrame(rows)
    het = table.drop_duplicates(["outcome", "context"])[["outcome", "context", "heterogeneity_p"]]
    het = het.dropna(subset=["heterogeneity_p"])
    adjusted = adjust_p(het["heterogeneity_p"].to_numpy(), adjust)
    key = dict(zip(zip(het["outcome"], het["context"]), adjusted))
    table["heterogeneity_p_adjusted"] = [key.get((o, c), np.nan)
                                         for o, c in zip(table["outcome"], table["context"])]
    return table[[*COLUMNS, "note"]]


def _scan_one(data, outcome, ctx, *, subject, time, random, change, min_n, rc, simplify):
    d = data.dropna(subset=[outcome]).copy()
    values = d[ctx]
    # one rule for what is a number (evalkit._levels): a 0/1 column is yes/no, any other numeric
    # column stays numeric however few values a small cohort happens to have
    numeric = is_numeric(values) and not is_boolean(values)
    per_person = d.drop_duplicates(subject).set_index(subject)[ctx]
    out, notes = [], []
    if numeric:
        small = []
        levels = None
    else:
        if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
            d[ctx] = values.map({True: "yes", False: "no"})
            per_person = per_person.map({True: "yes", False: "no"})
        counts = per_person.value_counts()
        cats = (list(d[ctx].cat.categories) if isinstance(d[ctx].dtype, pd.CategoricalDtype)
                else sorted(counts.index, key=str))
        levels = [c for c in cats if counts.get(c, 0) > 0]
        small = [c for c in levels if counts.get(c, 0) < min_n]
        if small:
            warnings.warn(f"{ctx}: level(s) {', '.join(map(str, small))} have fewer than {min_n} "
                          "participants and are reported as too small to estimate", SmallGroupWarning,
                          stacklevel=3)
            notes.append(f"{int(sum(counts[c] for c in small))} participant(s) in levels too small "
                         "to estimate left out of this model")
        d = d.loc[~d[ctx].isin(small)]
    d = d.dropna(subset=[ctx])
    fit = None
    if d[subject].nunique() >= min_n and (numeric or len(levels) - len(small) >= 2):
        if not numeric:
            d[ctx] = pd.Categorical(d[ctx].astype(object), [c for c in levels if c not in small])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SingularFitWarning)
            fit = fit_mixed(d, outcome=outcome, fixed=f"{time} * {ctx}", subject=subject,
                            random=random, simplify=simplify)
        notes += [str(w.message) for w in caught if issubclass(w.category, SingularFitWarning)][:1]
        notes += list(fit.simplification)
    note = "; ".join(notes)
    if fit is not None:
        ce = conditional_effects(fit, effect=time, by=ctx, change=change)
        for r in ce.itertuples(index=False):
            level = getattr(r, ctx)
            ids = _ids_at(per_person, level, numeric)
            out.append(_row(outcome, ctx, _label(level, numeric, per_person), len(ids), "estimated", r,
                            rc, ids, note))
    for level in small:
        ids = per_person.index[per_person == level]
        out.append(_row(outcome, ctx, level, len(ids), f"too small (n < {min_n})", None, rc, ids, note,
                        suppress_rc=True))
    if fit is None and not small:
        out.append(_row(outcome, ctx, "all", int(per_person.notna().sum()), "not estimable", None, rc,
                        per_person.index, note))
    return out, fit


def _ids_at(per_person, level, numeric):
    if numeric:
        return per_person.dropna().index
    return per_person.index[per_person == level]


def _label(level, numeric, per_person):
    return f"{level:.2f}" if numeric else level


def _row(outcome, ctx, level, n, status, r, rc, ids, note, suppress_rc=False):
    row = {"outcome": outcome, "context": ctx, "level": level, "n_participants": int(n), "status": status,
           "note": note}
    for key in ("estimate", "std_error", "df", "ci_low", "ci_high", "p_value"):
        row[key] = getattr(r, key) if r is not None else np.nan
    row["heterogeneity_p"] = getattr(r, "interaction_p") if r is not None else np.nan
    sub = rc.reindex(ids).dropna() if rc is not None and not suppress_rc else pd.Series(dtype=object)
    row["n_change"] = int(len(sub))
    row["reliable_improvement"] = float((sub == "reliable improvement").mean()) if len(sub) else np.nan
    row["reliable_deterioration"] = float((sub == "reliable deterioration").mean()) if len(sub) else np.nan
    return row


def _reliable_change_by_participant(data, outcome, subject, wave, waves):
    from .. import instruments
    from ..change import reliable_change

    if wave is None or wave not in data.columns or outcome not in instruments.available():
        return None
    rules = instruments.get(outcome).change
    if rules.reliable_change is None and rules.rci_sd is None:
        return None         # no published rule: the scan reports change only (columns left NaN)
    first = data.loc[data[wave] == waves[0]].drop_duplicates(subject).set_index(subject)[outcome]
    last = data.loc[data[wave] == waves[1]].drop_duplicates(subject).set_index(subject)[outcome]
    both = pd.concat([first.rename("before"), last.rename("after")], axis=1).dropna()
    if both.empty:
        return None
    res = reliable_change(both["before"], both["after"], instrument=outcome)
    return res.table["category"].astype(object)


@renamed(reference="overall")
def forest_plot(scan: pd.DataFrame, *, outcome: str | None = None, ax=None,
                overall: float | None = None):
    """Change by context level with 95% CIs, one line per level; levels not estimated show their
    status, never a point.

    Drawn by :func:`evalkit.report.figures.draw_forest`, the code that draws the report figure.

    Parameters
    ----------
    scan : pandas.DataFrame
        The table from :func:`context_scan`.
    outcome : str, optional
        Draw only this outcome's rows.
    ax : matplotlib.axes.Axes, optional
        Default: pyplot's current Axes.
    overall : float, optional
        Overall change, drawn as a dashed line (``reference=`` is the deprecated name).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from evalkit.models.context import forest_plot
    >>> scan = pd.DataFrame({"context": "site", "level": ["north", "east"],
    ...                      "n_participants": [60, 8], "status": ["estimated", "too small (n < 10)"],
    ...                      "estimate": [4.4, None], "ci_low": [2.2, None], "ci_high": [6.6, None]})
    >>> ax = forest_plot(scan, ax=Figure().subplots())
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['north', 'east']
    """
    import matplotlib.pyplot as plt

    from ..report import figures

    return figures.draw_forest(ax or plt.gca(), scan, outcome=outcome, reference=overall)
