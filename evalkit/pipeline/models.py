"""Registering model tables: every coefficient is an estimate about the groups it compares.

A term such as ``weeks:delivery_mode[T.group]`` compares mothers in group support with the
reference level, so it rests on both groups' sizes; :func:`register_model_table` finds the levels
each term names (formulaic's ``[T.level]`` naming) and declares the row's sets, so a coefficient for
a group whose size is hidden, or smaller than the report's minimum group, is withheld like any other
estimate.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..report.disclosure import Count, Key, Label, Stat
from .context import RunContext, is_categorical

__all__ = ["register_model_table", "term_levels", "register_fit"]

_TERM_LEVEL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\[(?:T\.)?([^\]]+)\]")


def term_levels(term: str) -> list[tuple[str, str]]:
    """``(factor, level)`` pairs a term names.

    >>> term_levels("weeks:delivery_mode[T.group]")
    [('delivery_mode', 'group')]
    >>> term_levels("Intercept")
    []
    """
    return [(f, lv) for f, lv in _TERM_LEVEL.findall(str(term))]


def _reference_levels(ctx: RunContext, population: Key, factors) -> dict:
    refs = {}
    for f in factors or ():
        if f not in ctx.people.columns or not is_categorical(ctx.people[f]):
            continue
        refs[f] = None
    return refs


def register_model_table(ctx: RunContext, name: str, table: pd.DataFrame, *, population: Key,
                         factors=(), term: str = "term", publish: str | None = None) -> None:
    """Publish a model's coefficient (or other) table as ``model_<name>``.

    Every row rests on ``population`` (the mothers in the model); a row whose ``term`` names
    levels of categorical ``factors`` also rests on each of those levels and on the factors'
    reference levels (the comparison group). Numbers are withheld where any of those sets is hidden
    or smaller than the report's minimum group.
    """
    table = table.reset_index(drop=True)
    factors = [f for f in (factors or ()) if f in ctx.people.columns
               and is_categorical(ctx.people[f])]
    for f in factors:
        ctx.context_dimension(f)
    # the reference level of each factor: a level with members in the population that no term names
    named = {f: set() for f in factors}
    if term in table.columns:
        for t in table[term].astype(str):
            for f, lv in term_levels(t):
                if f in named:
                    named[f].add(lv)
    refs = {}
    for f in factors:
        present = [c for c in ctx.codes(f, ctx.people[f]) if ctx.pub.count(population & {f: c}) > 0]
        rest = [c for c in present if c not in named[f]]
        if len(rest) == 1 and named[f]:
            refs[f] = rest[0]
    rows = []
    for i in range(len(table)):
        sets = [population]
        t = str(table[term].iat[i]) if term in table.columns else ""
        levels = [(f, lv) for f, lv in term_levels(t) if f in factors]
        for f, lv in levels:
            code = lv if lv in ctx.codes(f, ctx.people[f]) else ctx.code(f, lv)
            sets.append(population & {f: code})
        for f, ref in refs.items():
            if any(f == g for g, _ in levels) or (t.split(":")[0] in ("Intercept",) or not levels):
                sets.append(population & {f: ref})
        rows.append(list(dict.fromkeys(sets)))
    table = _withhold_unidentified(table)
    columns = {}
    for c in table.columns:
        col = table[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            columns[c] = Stat(rows, min_n=ctx.min_group)
        else:
            table[c] = col.map(lambda v: "yes" if v is True else "no" if v is False else v)
            columns[c] = Label()
    ctx.pub.add(publish or f"model_{name}", table, status="status", columns=columns)


#: Ratios (hazard, odds) outside these limits mean a model that could not identify the effect
#: (separation: every event in one group), not a finding.
_RATIO_LIMITS = (1e-4, 1e4)
_RATIOS = ("hazard_ratio", "hr_ci_low", "hr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high")


def _withhold_unidentified(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose estimates are not finite or not identified are withheld with the reason.

    A Cox hazard ratio of 3.4e-09 (0.0000 to inf) or an odds ratio of 8.2e26 says the data could
    not separate the effect (every event in one group), not that the effect is huge: such a row
    keeps its term and says why, with every number blank.
    """
    table = table.copy()
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    if not numeric:
        return table
    values = table[numeric].astype(float)
    bad = ~np.isfinite(values).all(axis=1) & values.notna().any(axis=1)
    ratios = [c for c in _RATIOS if c in table.columns]
    if ratios:
        r = table[ratios].astype(float)
        bad |= ((r < _RATIO_LIMITS[0]) | (r > _RATIO_LIMITS[1])).any(axis=1)
    if "std_error" in table.columns and "estimate" in table.columns:
        se = table["std_error"].astype(float)
        bad |= se > 1e3 * np.maximum(1.0, table["estimate"].astype(float).abs())
    if bad.any():
        table.loc[bad, numeric] = np.nan
        if "status" not in table.columns:
            table["status"] = ""
        table.loc[bad, "status"] = ("not estimable: the data cannot separate this effect "
                                    "(e.g. every event in one group)")
    return table


def register_fit(ctx: RunContext, name: str, fit, *, population: Key, inst: str, factors=()) -> None:
    """Publish a mixed model: fixed effects, variance components and a summary of the fit."""
    register_model_table(ctx, f"{name}_fixed", fit.fixed, population=population, factors=factors)
    vc = fit.variance_components.copy()
    register_model_table(ctx, f"{name}_variance", vc, population=population, term="__none__")
    obs = [population & {f"{inst}@{w}": "yes"} for w in ctx.window_waves]
    n_obs = sum(ctx.pub.count(k) for k in obs)
    summary = pd.DataFrame([{"formula": fit.spec.describe(), "mothers": ctx.pub.count(population),
                             "observations": n_obs, "loglik": fit.loglik, "aic": fit.aic,
                             "converged": "yes" if fit.converged else "no",
                             "singular": "yes" if fit.singular else "no",
                             "df_method": "Satterthwaite"}])
    stat = Stat([population], min_n=ctx.min_group)
    ctx.pub.add(f"model_{name}_fit", summary, status="status", columns={
        "formula": Label(), "mothers": Count([population]), "observations": Count([obs]),
        "loglik": stat, "aic": stat, "converged": Label(), "singular": Label(),
        "df_method": Label()})
