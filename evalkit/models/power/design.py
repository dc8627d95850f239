"""The study design of a power simulation, and one simulated data set from it.

A design is the waves (their timing in weeks since baseline), the allocation of mothers to the
levels of a grouping column (delivery mode), subject-level covariates (continuous context such as
isolation, drawn standard normal for each mother, so their effects are per standard deviation),
and drop-out: the cumulative share of mothers lost by each wave, overall or per group, optionally
depending on context (``dropout_odds={"isolation": 1.5}``: a mother one SD more isolated has 1.5
times the odds of having been lost by each wave; the shares are then those of a mother at the
covariate's mean). Drop-out is monotone (a mother missing a wave misses every later one) and
unrelated to the outcome given the design and covariates (missing at random).

Allocation is the design, not a draw: with 80 mothers and ``{"group": 0.5, "one_to_one": 0.5}``
every simulated study has 40 in each group (largest remainder for shares that do not divide n).

The model matrices for n mothers are built once per process (formulaic through
:func:`evalkit.models.design.build_design`, so term names are exactly those of
``fit.fixed["term"]``) and each simulation only draws numbers and selects the rows observed. With
covariates, the matrices are built with each covariate at 0 and at 1: a formula in which
covariates enter linearly (alone, or multiplied by time or group) gives every simulated study's
matrices as ``X₀ + Σ c_k (X_k − X₀)``, which is checked against formulaic once, at random values,
when the template is built (building the matrices through formulaic for every study would cost
about three fits).

Examples
--------
>>> from evalkit.models.power.design import StudyDesign
>>> d = StudyDesign.build(waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
...                       by="mode", dropout=[0, 0.1, 0.2, 0.3])
>>> d.counts(5)
{'group': 3, 'one_to_one': 2}
>>> d.lost("group")
(0.0, 0.1, 0.2, 0.3)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import SpecificationError

__all__ = ["StudyDesign", "Template", "Study", "template", "simulate_data", "infer_by"]

#: The subject and outcome columns of simulated data sets (internal: never shown to users).
SUBJECT, OUTCOME = "participant_id", "outcome"


@dataclass(frozen=True)
class StudyDesign:
    """Waves, allocation and drop-out (hashable and picklable, so workers can cache by it)."""

    waves: tuple
    allocation: tuple           # ((level, share), …)
    by: str | None
    time: str = "weeks"
    dropout: tuple = ()         # ((level or None, (cumulative share lost by each wave, …)), …)
    reference: tuple = ()       # ((column, level), …) for build_design
    covariates: tuple = ()      # subject-level standard-normal columns
    dropout_odds: tuple = ()    # ((covariate, odds ratio of having dropped out per SD), …)

    @classmethod
    def build(cls, *, waves, allocation: dict | None, by: str | None, time: str = "weeks",
              dropout=None, reference: dict | None = None, covariates=None,
              dropout_odds: dict | None = None) -> "StudyDesign":
        """Check and freeze a design (see the module docstring for the forms of ``dropout``)."""
        try:
            waves = tuple(float(w) for w in waves)
        except (TypeError, ValueError):
            raise SpecificationError(f"waves={waves!r}: give the weeks of each wave, e.g. "
                                     "waves=[0, 6, 12, 24]") from None
        if len(waves) < 2 or any(b <= a for a, b in zip(waves, waves[1:])) or not \
                all(np.isfinite(waves)):
            raise SpecificationError(f"waves={list(waves)}: give at least two increasing times in "
                                     "weeks since baseline, e.g. waves=[0, 6, 12, 24]")
        alloc = ()
        if allocation:
            if by is None:
                raise SpecificationError("allocation= needs the grouping column: give by= (e.g. "
                                         "by='mode') or a formula naming one")
            shares = {str(k): float(v) for k, v in allocation.items()}
            if any(v <= 0 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
                raise SpecificationError(f"allocation={allocation!r}: shares must be positive and "
                                         "add up to 1, e.g. {'group': 0.5, 'one_to_one': 0.5}")
            alloc = tuple(shares.items())
        covariates = tuple([covariates] if isinstance(covariates, str) else covariates or ())
        clash = [c for c in covariates if c in (time, by) or not str(c).isidentifier()]
        if clash or len(set(covariates)) != len(covariates):
            raise SpecificationError(f"covariates={list(covariates)}: give each subject-level "
                                     "covariate once, by a column name that is not time or by")
        odds = tuple((str(c), float(r)) for c, r in (dropout_odds or {}).items())
        bad = [c for c, r in odds if c not in covariates or not (np.isfinite(r) and r > 0)]
        if bad:
            raise SpecificationError(f"dropout_odds for {bad}: give an odds ratio above 0 for a "
                                     f"column listed in covariates= ({list(covariates) or 'none'})")
        if odds and not dropout:
            raise SpecificationError("dropout_odds needs dropout= (the shares lost by each wave "
                                     "for a mother at the covariates' mean)")
        return cls(waves=waves, allocation=alloc, by=by, time=time,
                   dropout=_dropout(dropout, waves, [k for k, _ in alloc]),
                   reference=tuple(sorted((reference or {}).items())), covariates=covariates,
                   dropout_odds=odds)

    def counts(self, n: int) -> dict:
        """Mothers per level for ``n`` mothers (largest remainder; ties to the earlier level)."""
        if not self.allocation:
            return {None: n}
        shares = np.array([s for _, s in self.allocation])
        base = np.floor(shares * n).astype(int)
        rest = n - base.sum()
        order = np.argsort(-(shares * n - base), kind="stable")
        base[order[:rest]] += 1
        return {lv: int(c) for (lv, _), c in zip(self.allocation, base)}

    def lost(self, level) -> tuple:
        """Cumulative share lost by each wave for mothers in ``level``."""
        table = dict(self.dropout)
        return table.get(level, table.get(None, (0.0,) * len(self.waves)))

    def describe(self) -> dict:
        """The design as plain values (for checkpoints and reports)."""
        return {"waves": list(self.waves), "allocation": dict(self.allocation), "by": self.by,
                "time": self.time, "dropout": {str(k): list(v) for k, v in self.dropout},
                "reference": dict(self.reference), "covariates": list(self.covariates),
                "dropout_odds": dict(self.dropout_odds)}


def _dropout(dropout, waves: tuple, levels: list) -> tuple:
    if dropout is None:
        return ()
    if isinstance(dropout, dict):
        unknown = [k for k in dropout if str(k) not in levels]
        if unknown:
            raise SpecificationError(f"dropout by group names {unknown}, not levels of the "
                                     f"allocation ({', '.join(levels) or 'none'})")
        missing = [lv for lv in levels if lv not in {str(k) for k in dropout}]
        if missing:
            raise SpecificationError(f"dropout by group has no shares for {missing}; give one list "
                                     "per level, or one list for everyone")
        return tuple((str(k), _shares(v, waves, f"dropout[{k!r}]")) for k, v in dropout.items())
    return ((None, _shares(dropout, waves, "dropout")),)


def _shares(values, waves: tuple, where: str) -> tuple:
    try:
        shares = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise SpecificationError(f"{where}={values!r}: give the share of mothers lost by each "
                                 "wave, e.g. [0, 0.1, 0.2, 0.3]") from None
    if len(shares) != len(waves):
        raise SpecificationError(f"{where} has {len(shares)} shares for {len(waves)} waves; give "
                                 "the cumulative share lost by each wave (0 at baseline)")
    if any(not 0 <= s < 1 for s in shares) or any(b < a for a, b in zip(shares, shares[1:])):
        raise SpecificationError(f"{where}={list(shares)}: cumulative shares lost must be between "
                                 "0 and 1 (below 1) and never decrease from one wave to the next")
    return shares


def infer_by(fixed: str, time: str, allocation: dict | None, covariates=()) -> str | None:
    """The grouping column of ``allocation``: the one variable of ``fixed`` other than ``time``
    and the covariates.

    >>> infer_by("weeks * mode + weeks:isolation", "weeks", {"group": 0.5, "one_to_one": 0.5},
    ...          ["isolation"])
    'mode'
    """
    if not allocation:
        return None
    # the names in the formula that are not functions (I(...), log(...))
    names = sorted(set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_.]*\b(?!\s*\()", fixed))
                   - {time, "C", "Intercept", *covariates})
    if len(names) != 1:
        raise SpecificationError(f"cannot tell which column of fixed={fixed!r} the allocation is "
                                 f"for (candidates: {names or 'none'}); give by=")
    return names[0]


# ====================================================================== one data set
@dataclass(frozen=True)
class Template:
    """The complete-data model matrices for ``n`` mothers (subject-major rows), with every
    covariate at 0 (``X``, ``Z``) and how they change per unit of each covariate (``dX``,
    ``dZ``)."""

    X: np.ndarray
    Z: np.ndarray
    dX: tuple
    dZ: tuple
    group: np.ndarray           # subject code of each row
    level: np.ndarray           # allocation level index of each subject
    fixed_names: list
    random_names: list
    frame: pd.DataFrame         # the design columns (for engines that take a frame)
    model: object               # formulaic's Design: model rows for new values (test contrasts)


_CACHE: dict = {}


def template(design: StudyDesign, fixed: str, random: str, n: int) -> Template:
    """The model matrices for ``n`` mothers, built once per process and design."""
    key = (design, fixed, random, n)
    if key not in _CACHE:
        if len(_CACHE) > 64:            # a long session trying many designs: keep memory bounded
            _CACHE.clear()
        _CACHE[key] = _build(design, fixed, random, n)
    return _CACHE[key]


def _build(design: StudyDesign, fixed: str, random: str, n: int) -> Template:
    counts = design.counts(n)
    level = np.repeat(np.arange(len(counts)), list(counts.values()))
    w = len(design.waves)
    frame = pd.DataFrame({SUBJECT: np.repeat(np.arange(n), w),
                          design.time: np.tile(np.asarray(design.waves, float), n)})
    if design.by is not None:
        labels = np.array(list(counts), dtype=object)
        frame[design.by] = labels[np.repeat(level, w)]
    # a placeholder outcome with variation (build_design refuses a constant one)
    frame[OUTCOME] = np.arange(len(frame), dtype=float)
    # covariates at random values V and at V + 1 (one at a time): a constant covariate would make
    # the matrix collinear with the intercept, which build_design refuses
    values = np.random.default_rng(1).standard_normal((n, len(design.covariates)))
    d = _matrices(_assign(frame, design, values), design, fixed, random)
    X0, Z0, dX, dZ = d.X.copy(), d.Z.copy(), [], []
    for k in range(len(design.covariates)):
        step = values.copy()
        step[:, k] += 1.0
        d1 = _matrices(_assign(frame, design, step), design, fixed, random)
        dX.append(d1.X - d.X)
        dZ.append(d1.Z - d.Z)
        X0 -= values[d.group, k][:, None] * dX[-1]
        Z0 -= values[d.group, k][:, None] * dZ[-1]
    tmpl = Template(X=X0, Z=Z0, dX=tuple(dX), dZ=tuple(dZ), group=d.group, level=level,
                    fixed_names=list(d.fixed_names), random_names=list(d.random_names),
                    frame=frame.drop(columns=OUTCOME), model=d)
    if design.covariates:
        _check_linear(tmpl, frame, design, fixed, random)
    return tmpl


def _assign(frame: pd.DataFrame, design: StudyDesign, values: np.ndarray) -> pd.DataFrame:
    """The frame with covariate values (subjects × covariates) on every row of each subject."""
    per_row = values[frame[SUBJECT].to_numpy()]
    return frame.assign(**{c: per_row[:, k] for k, c in enumerate(design.covariates)})


def _matrices(frame: pd.DataFrame, design: StudyDesign, fixed: str, random: str):
    from ..design import build_design

    d = build_design(frame, outcome=OUTCOME, fixed=fixed, subject=SUBJECT, random=random,
                     reference=dict(design.reference) or None)
    if len(d.rows) != len(frame):
        known = [design.time, *([design.by] if design.by else []), *design.covariates]
        raise SpecificationError(f"fixed={fixed!r} uses columns the design does not make; a power "
                                 f"simulation knows {', '.join(map(repr, known))} (give other "
                                 "subject-level columns as covariates=)")
    return d


def _check_linear(tmpl: Template, frame: pd.DataFrame, design: StudyDesign, fixed: str,
                  random: str) -> None:
    values = np.random.default_rng(0).standard_normal((len(tmpl.level), len(design.covariates)))
    X, Z = _with_covariates(tmpl, values)
    exact = _matrices(_assign(frame, design, values), design, fixed, random)
    if not (np.allclose(X, exact.X) and np.allclose(Z, exact.Z)):
        raise SpecificationError(f"covariates {list(design.covariates)} enter fixed={fixed!r} or "
                                 f"random={random!r} other than linearly (squared, transformed or "
                                 "multiplied together); a power simulation takes covariates alone "
                                 "or multiplied by time or the grouping column")


def _with_covariates(tmpl: Template, values: np.ndarray):
    """X and Z for covariate values ``values`` (subjects × covariates)."""
    X, Z = tmpl.X, tmpl.Z
    for k, (dx, dz) in enumerate(zip(tmpl.dX, tmpl.dZ)):
        c = values[tmpl.group, k][:, None]
        X = X + c * dx
        Z = Z + c * dz
    return X, Z


@dataclass(frozen=True)
class Study:
    """One simulated study: the observed rows' matrices, outcome, subject codes (0 … m − 1), the
    rows of the template observed and the covariate values of those rows."""

    X: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    group: np.ndarray
    m: int
    rows: np.ndarray
    covariates: dict


def simulate_data(tmpl: Template, design: StudyDesign, beta: np.ndarray, cov: np.ndarray,
                  residual_sd: float, rng: np.random.Generator) -> Study:
    """One simulated study (the rows observed).

    The draws are made in a fixed order and number (drop-out, random effects, residuals for every
    planned row, covariates), so a data set depends only on the seed and the design, not on what
    was observed.
    """
    n, q = len(tmpl.level), tmpl.Z.shape[1]
    w = len(design.waves)
    u = rng.random(n)
    b = rng.standard_normal((n, q)) @ _factor(cov).T
    e = rng.standard_normal(n * w) * residual_sd
    values = rng.standard_normal((n, len(design.covariates)))
    X, Z = _with_covariates(tmpl, values) if design.covariates else (tmpl.X, tmpl.Z)
    y = X @ beta + np.einsum("ij,ij->i", Z, b[tmpl.group]) + e
    levels = [lv for lv, _ in design.allocation] or [None]
    lost = np.array([design.lost(lv) for lv in levels])[tmpl.level]      # (n, w)
    if design.dropout_odds:
        lost = _shifted(lost, design, values)
    observed = (u[:, None] >= lost).ravel()     # lost by wave k when u falls below its share
    rows = np.flatnonzero(observed)
    present, group = np.unique(tmpl.group[rows], return_inverse=True)
    per_row = values[tmpl.group[rows]]
    return Study(X=X[rows], Z=Z[rows], y=y[rows], group=group, m=len(present), rows=rows,
                 covariates={c: per_row[:, k] for k, c in enumerate(design.covariates)})


def _shifted(lost: np.ndarray, design: StudyDesign, values: np.ndarray) -> np.ndarray:
    """Shares lost with each mother's odds moved by her covariates (logit scale); 0 stays 0, so
    nobody is lost before the first wave with drop-out, and the order of waves is kept."""
    index = {c: k for k, c in enumerate(design.covariates)}
    shift = sum(np.log(r) * values[:, index[c]] for c, r in design.dropout_odds)
    inside = (lost > 0) & (lost < 1)
    logit = np.log(np.where(inside, lost, 0.5) / (1 - np.where(inside, lost, 0.5)))
    return np.where(inside, 1 / (1 + np.exp(-(logit + shift[:, None]))), lost)


def _factor(cov: np.ndarray) -> np.ndarray:
    """A square root of the random-effects covariance (a zero variance has no Cholesky factor)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.clip(vals, 0, None))
