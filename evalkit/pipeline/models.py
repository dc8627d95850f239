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

__all__ = ["register_model_table", "model_rows", "term_levels", "register_fit",
           "register_fits", "describe_fit", "random_notation", "random_text", "df_method"]

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
    table, rows = model_rows(ctx, table, population=population, factors=factors, term=term)
    _publish_rows(ctx, publish or f"model_{name}", table, rows)


def model_rows(ctx: RunContext, table: pd.DataFrame, *, population: Key, factors=(),
               term: str = "term") -> tuple[pd.DataFrame, list]:
    """The table with unidentified rows withheld, and the sets each row rests on (see
    :func:`register_model_table`), so tables of several models can be published as one."""
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
        allowed = population.level(f)      # a model of some levels only (small ones left out)
        present = [c for c in ctx.codes(f, ctx.people[f]) if (allowed is None or c in allowed)
                   and ctx.pub.count(population & {f: c}) > 0]
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
    return _withhold_unidentified(table), rows


def _publish_rows(ctx: RunContext, name: str, table: pd.DataFrame, rows: list,
                  labels=()) -> None:
    columns = {}
    table = table.copy()
    for c in table.columns:
        col = table[c]
        if c not in labels and pd.api.types.is_numeric_dtype(col) \
                and not pd.api.types.is_bool_dtype(col):
            columns[c] = Stat(rows, min_n=ctx.min_group)
        else:
            table[c] = col.map(lambda v: "yes" if v is True else "no" if v is False else v)
            columns[c] = Label()
    ctx.pub.add(name, table, status="status", columns=columns)


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
    # an infinite estimate, SE or limit is not identified; infinite df are a z-test's, and a blank
    # cell (no correlation for a lone random term, no p-value for a bootstrap estimate) is no sign
    checked = [c for c in numeric if not (c == "df" or c.endswith("_df") or c.startswith("df_"))]
    bad = np.isinf(values[checked]).any(axis=1)
    if "estimate" in numeric:
        others = [c for c in checked if c != "estimate"]
        bad |= values["estimate"].isna() & values[others].notna().any(axis=1)
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


def register_fit(ctx: RunContext, name: str, fit, *, population: Key, inst: str, factors=(),
                 planned: tuple | None = None) -> dict:
    """Publish a mixed model: fixed effects, variance components and a summary of the fit.

    ``model_<name>_fit`` says what was fitted: the fixed part, the random-effects structure as
    fitted (after any simplification, lme4 notation) next to the planned one, the estimation, the
    mothers and observations in the model (counts, protected like any other), the fit statistics,
    convergence, singularity and the df method. ``planned`` is ``(random, correlated)`` as asked
    for (default: the plan's random terms, correlated). Returns :func:`describe_fit`'s description,
    also kept in ``facts["outcomes"][inst]["methods"]["models"]`` under the name without the
    outcome (``overall``, ``primary``, ``jn_isolation``, ...), or in ``facts["models"][name]``
    for a model not named after the outcome (``dose_model``).
    """
    register_model_table(ctx, f"{name}_fixed", fit.fixed, population=population, factors=factors)
    register_model_table(ctx, f"{name}_variance", fit.variance_components.copy(),
                         population=population, term="__none__")
    info = describe_fit(ctx, fit, planned=planned)
    row, cols = _fit_row(ctx, fit, info, population, inst)
    obs = row.pop("_obs")
    ctx.pub.add(f"model_{name}_fit", pd.DataFrame([row]), status="status",
                columns=_fit_columns(ctx, [population], [obs], cols))
    _remember(ctx, inst, name, info)
    return info


def register_fits(ctx: RunContext, name: str, fits: list, *, inst: str, label: str = "model",
                  planned: tuple | None = None, observations: bool = True) -> list:
    """Publish several mixed models of one outcome as three long tables, ``model_<name>_fixed``,
    ``_variance`` and ``_fit``, with a first column ``label`` naming each model.

    ``fits``: ``(name, fit, population, factors, parts)`` for each model (e.g. one per context of
    the context scan). ``parts`` (or None): keys whose union is ``population`` and whose counts
    are published already (the levels of a context that were estimated); the rows then rest on
    those parts and the model's number of mothers is left blank, so the models publish no count
    the other tables do not (a model leaving out a small level would otherwise give that level's
    size by subtraction). Without
    ``observations`` the fit table has no count of observations (per level and wave they are
    counts no other table publishes). Rows are protected as in :func:`register_fit`.
    Returns the descriptions.
    """
    fixed, fixed_rows, var, var_rows, summary, pops, obs, infos = [], [], [], [], [], [], [], []
    counted = []
    for what, fit, population, factors, parts in fits:
        t, rows = model_rows(ctx, fit.fixed, population=population, factors=factors)
        v, vrows = model_rows(ctx, fit.variance_components.copy(), population=population,
                              term="__none__")
        if parts:
            rows = [_replace_key(r, population, parts) for r in rows]
            vrows = [_replace_key(r, population, parts) for r in vrows]
        fixed.append(t.assign(**{label: what})[[label, *t.columns]])
        fixed_rows += rows
        var.append(v.assign(**{label: what})[[label, *v.columns]])
        var_rows += vrows
        info = describe_fit(ctx, fit, planned=planned)
        row, cols = _fit_row(ctx, fit, info, population, inst)
        obs.append(row.pop("_obs"))
        if not observations:
            row.pop("observations")
            cols.pop("observations")
        row["note"] = ""
        if parts:
            row["mothers"] = np.nan
            row["note"] = ("levels too small to estimate were left out of this model; its number "
                           "of mothers is not given, as it would give theirs by subtraction")
        summary.append({label: what, **row})
        pops.append(list(parts) if parts else population)
        counted.append(None if parts else population)
        infos.append(info)
    if not fits:
        return infos
    for parts, rows, kind in ((fixed, fixed_rows, "fixed"), (var, var_rows, "variance")):
        table = pd.concat(parts, ignore_index=True)
        if "status" in table.columns:
            table["status"] = table["status"].fillna("")
        _publish_rows(ctx, f"model_{name}_{kind}", table, rows, labels=(label,))
    columns = {label: Label(), **_fit_columns(ctx, pops, obs, cols), "note": Label(text=True)}
    # the mothers in each model: one key (the union of its parts), a count protection can hide
    columns["mothers"] = Count(counted)
    if not observations:
        columns.pop("observations")
    ctx.pub.add(f"model_{name}_fit", pd.DataFrame(summary), status="status", columns=columns)
    return infos


def _replace_key(sets: list, key: Key, parts) -> list:
    out = []
    for s in sets:
        out.extend(parts if s == key else [s])
    return list(dict.fromkeys(out))


def _fit_row(ctx: RunContext, fit, info: dict, population: Key, inst: str) -> tuple[dict, dict]:
    obs = [population & {f"{inst}@{w}": "yes"} for w in ctx.window_waves]
    row = {"fixed": f"{fit.spec.outcome} ~ {fit.spec.fixed}",
           "random_effects": info["random_effects"],
           "random_effects_planned": info["random_effects_planned"],
           "estimation": info["estimation"], "mothers": ctx.pub.count(population),
           "observations": sum(ctx.pub.count(k) for k in obs), "loglik": fit.loglik,
           "aic": fit.aic, "converged": "yes" if fit.converged else "no",
           "singular": "yes" if fit.singular else "no", "df_method": info["df_method"],
           "_obs": obs}
    return row, {c: None for c in row if c != "_obs"}


def _fit_columns(ctx: RunContext, pops: list, obs: list, cols) -> dict:
    # a model's log-likelihood rests on the mothers in it (each part of them, when given in parts)
    stat = Stat(list(pops), min_n=ctx.min_group)
    out = {c: Label() for c in cols}
    out.update(mothers=Count(list(pops)), observations=Count(list(obs)), loglik=stat, aic=stat)
    return out


def _remember(ctx: RunContext, inst: str, name: str, info: dict) -> None:
    if not name.startswith(f"{inst}_"):      # not one of the outcome's own models (dose-response)
        ctx.facts.setdefault("models", {})[name] = info
        return
    facts = ctx.facts.setdefault("outcomes", {}).setdefault(inst, {})
    methods = facts.setdefault("methods", {})
    key = name.removeprefix(f"{inst}_")
    methods.setdefault("models", {})[key] = info
    alias = {"overall": "average_change", "primary": "primary"}.get(key)
    if alias:
        methods[alias] = info
    if key == "overall":        # the headline's model: what the impact report's methods describe
        methods.update({k: info[k] for k in ("random_effects", "random_effects_text", "df_method",
                                             "df_method_text", "estimation", "simplified")})


def random_notation(spec) -> str:
    """The random-effects structure of a mixed-model spec in lme4 notation.

    >>> from evalkit.models.mixed import MixedModel
    >>> random_notation(MixedModel("y", "weeks", "participant_id", random="weeks",
    ...                            correlated=False))
    '(1 + weeks || participant_id)'
    >>> random_notation(MixedModel("y", "weeks", "participant_id", random="1"))
    '(1 | participant_id)'
    """
    r = str(spec.random).strip()
    if "|" in r:                     # already lme4 notation
        return r
    if r in ("", "1"):
        return f"(1 | {spec.subject})"
    # "1 + weeks" (a one-term plan in lme4 syntax, fitted in the short form) has its intercept
    terms = r if r.split("+")[0].strip() in ("0", "1") else f"1 + {r}"
    return f"({terms} {'|' if spec.correlated else '||'} {spec.subject})"


def random_text(spec, *, time: str | None = None, unit: str = "mother") -> str:
    """The random-effects structure in plain words.

    >>> from evalkit.models.mixed import MixedModel
    >>> random_text(MixedModel("y", "weeks", "id", random="weeks", correlated=False), time="weeks")
    'a random intercept and a random slope for time for each mother, uncorrelated'
    >>> random_text(MixedModel("y", "weeks", "id", random="1"), time="weeks")
    'a random intercept for each mother'
    """
    r = str(spec.random).strip()
    if "|" in r:
        return _terms_text(r, time=time, unit=unit)
    if r in ("", "1"):
        return f"a random intercept for each {unit}"
    names = [t.strip() for t in r.split("+") if t.strip() not in ("0", "1", "")]
    words = ["time" if n == time else n.replace("_", " ") for n in names]
    slopes = (f"a random slope for {words[0]}" if len(words) == 1 else
              "random slopes for " + ", ".join(words[:-1]) + f" and {words[-1]}")
    if r.startswith("0"):
        return f"{slopes} for each {unit} (no random intercept)"
    return (f"a random intercept and {slopes} for each {unit}, "
            f"{'correlated' if spec.correlated else 'uncorrelated'}")


def _terms_text(r: str, *, time: str | None, unit: str) -> str:
    """lme4 terms in words; the first term's factor is the ``unit`` (the mother).

    >>> _terms_text("(1 + weeks | id) + (1 | volunteer_id)", time="weeks", unit="mother")
    'a random intercept and a random slope for time for each mother, correlated; and a random intercept for each volunteer'
    """
    from ..models.mixed import MixedModel
    from ..models.random_terms import parse_random

    parts = []
    for k, term in enumerate(parse_random(r).terms):
        who = unit if k == 0 else " within ".join(
            re.sub(r"_id$", "", f).replace("_", " ") for f in reversed(term.factor))
        expr = term.expr.strip()
        names = [p.strip() for p in expr.split("+")]
        short = " + ".join(names[1:]) if names[0] == "1" and len(names) > 1 else expr
        parts.append(random_text(MixedModel("y", "1", term.group, random=short,
                                            correlated=term.correlated), time=time, unit=who))
    return "; and ".join(parts)


def df_method(fit) -> tuple[str, str]:
    """``(name, words)`` of how a fit's tests get their degrees of freedom."""
    ddf = getattr(fit.spec, "ddf", None)
    df = pd.to_numeric(fit.fixed.get("df"), errors="coerce") if "df" in fit.fixed else None
    if df is not None and len(df) and np.isinf(df).all():     # statsmodels engine: spec.ddf unused
        name = "none (z-tests)"
    elif ddf:
        name = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward–Roger",
                "kenward_roger": "Kenward–Roger"}.get(str(ddf).lower(), str(ddf))
    else:
        name = "Satterthwaite"
    words = {
        "Satterthwaite": "t-tests with Satterthwaite's approximation to the degrees of freedom",
        "Kenward–Roger": "t-tests with the Kenward–Roger adjustment of the standard errors and "
                         "degrees of freedom",
        "none (z-tests)": "z-tests (large-sample normal approximation, no small-sample degrees of "
                          "freedom)"}.get(name, f"{name} degrees of freedom")
    return name, words


def describe_fit(ctx: RunContext, fit, *, planned: tuple | None = None) -> dict:
    """What was fitted, in notation and in words (no number about people)."""
    from dataclasses import replace

    # a secondary model (context scan, Johnson-Neyman, imputation) plans the mother's term only
    m = ctx.plan.model
    whole = "|" in str(fit.spec.random) or not m.several_terms
    random, correlated = planned or (m.random if whole else m.mother_random(ctx.id), True)
    try:
        planned_spec = replace(fit.spec, random=random, correlated=correlated)
    except TypeError:               # a spec without those fields: as fitted
        planned_spec = fit.spec
    name, words = df_method(fit)
    fitted = random_notation(fit.spec)
    return {"fixed": f"{fit.spec.outcome} ~ {fit.spec.fixed}", "random_effects": fitted,
            "random_effects_planned": random_notation(planned_spec),
            "random_effects_text": random_text(fit.spec, time=ctx.time),
            "random_effects_planned_text": random_text(planned_spec, time=ctx.time),
            "simplified": bool(fit.simplification) or fitted != random_notation(planned_spec),
            "simplification": list(fit.simplification),
            "estimation": "REML" if getattr(fit.spec, "reml", True) else "ML",
            "engine": getattr(fit.spec, "engine", ""), "df_method": name, "df_method_text": words,
            "converged": bool(fit.converged), "singular": bool(fit.singular)}
