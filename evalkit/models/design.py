"""Model matrices for mixed models: fixed effects from a formula, random-effect columns, groups.

Categorical predictors use treatment coding with a chosen reference level; centred predictors have
their centring constants recorded so predictions on new data reuse them. Rows that cannot be used
(missing outcome, subject or predictor) are counted by reason — never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..errors import SpecificationError

__all__ = ["Design", "build_design", "random_terms"]


@dataclass(frozen=True)
class Design:
    """Everything the engines need, plus what predictions on new data must reuse."""

    X: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    group: np.ndarray             # integer codes 0..m-1
    groups: pd.Index              # subject labels, in code order
    fixed_names: list
    random_names: list
    rows: pd.Index                # labels of the rows used
    exclusions: pd.DataFrame      # reason, rows, subjects
    fixed_spec: object = field(repr=False)   # formulaic ModelSpec for new data
    random_spec: object = field(repr=False)
    centring: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    variables: dict = field(default_factory=dict)   # model variable -> summary in original units


def random_terms(random: str | None) -> str:
    """The random-effects formula: ``"weeks"`` means intercept and slope; ``"1"`` intercept only;
    ``"0 + weeks"`` slope only."""
    text = (random or "1").strip()
    return text


def _prepare(data: pd.DataFrame, *, reference: dict | None, centre, levels: dict | None):
    frame = data.copy()
    levels = dict(levels or {})
    for col, ref in (reference or {}).items():
        if col not in frame.columns:
            raise SpecificationError(f"reference level given for {col!r}, which is not a column")
        values = frame[col]
        cats = (list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype)
                else sorted(pd.unique(values.dropna()).tolist(), key=str))
        if ref not in cats:
            raise SpecificationError(f"reference level {ref!r} is not a level of {col!r}; levels: "
                                     f"{', '.join(map(str, cats))}")
        levels[col] = [ref, *[c for c in cats if c != ref]]
    for col, cats in levels.items():
        if col in frame.columns:
            frame[col] = pd.Categorical(frame[col].astype(object), categories=cats)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype) and col not in levels:
            # unused categories would become all-zero columns: keep only the observed ones
            frame[col] = frame[col].cat.remove_unused_categories()
            levels[col] = list(frame[col].cat.categories)
    centring = {}
    for col in ([centre] if isinstance(centre, str) else list(centre or [])):
        if col not in frame.columns:
            raise SpecificationError(f"cannot centre {col!r}: not a column")
        centring[col] = float(pd.to_numeric(frame[col]).mean())
    return frame, centring, levels


def build_design(data: pd.DataFrame, *, outcome: str, fixed: str, subject: str, random: str | None,
                 reference: dict | None = None, centre=None) -> Design:
    """Build X, Z, y and subject codes, counting excluded rows by reason."""
    missing_cols = [c for c in (outcome, subject) if c not in data.columns]
    if missing_cols:
        raise SpecificationError(f"column(s) {missing_cols} not in the data; available: "
                                 f"{', '.join(map(str, data.columns))}")
    frame, centring, levels = _prepare(data, reference=reference, centre=centre, levels=None)
    original = frame.copy()
    for col, mean in centring.items():
        frame[col] = pd.to_numeric(frame[col]) - mean
    reasons = []
    no_y = frame[outcome].isna().to_numpy()
    no_id = frame[subject].isna().to_numpy() & ~no_y
    if no_y.any():
        reasons.append(("missing outcome", no_y))
    if no_id.any():
        reasons.append(("missing subject", no_id))
    keep = ~(no_y | no_id)
    usable = frame.loc[keep]
    try:
        fx = model_matrix(fixed, usable, na_action="drop", ensure_full_rank=True)
        rx = model_matrix(random_terms(random), usable, na_action="drop")
    except Exception as exc:  # formulaic raises many types; the user needs the formula named
        raise SpecificationError(f"cannot build the model from fixed={fixed!r}, random={random!r}: "
                                 f"{exc}") from None
    rows = fx.index.intersection(rx.index)
    dropped = ~usable.index.isin(rows)
    if dropped.any():
        mask = np.zeros(len(frame), bool)
        mask[np.flatnonzero(keep)[dropped]] = True
        reasons.append(("missing predictor", mask))
    fixed_spec, random_spec = fx.model_spec, rx.model_spec  # .loc returns plain frames
    fx, rx = fx.loc[rows], rx.loc[rows]
    used = usable.loc[rows]
    codes, groups = pd.factorize(used[subject], sort=True)
    y = used[outcome].to_numpy(dtype=float)
    if y.size and np.ptp(y) == 0:
        raise SpecificationError(f"every value of the outcome {outcome!r} is {y[0]:g}: there is no "
                                 "variation to model; check the scoring, or leave this outcome out")
    if len(groups) < 2:
        raise SpecificationError(f"a mixed model needs at least 2 subjects in {subject!r}; found "
                                 f"{len(groups)}")
    X = np.asarray(fx, dtype=float)
    Z = np.asarray(rx, dtype=float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise SpecificationError(f"the fixed effects {list(fx.columns)} are collinear; remove a term")
    names = set(fixed_spec.variables_by_source.get("data", set())) | set(
        random_spec.variables_by_source.get("data", set()))
    variables = {}
    for var in sorted(names):
        values = original.loc[rows, var]
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
            variables[var] = {"kind": "categorical", "levels": levels.get(var, sorted(pd.unique(values)))}
        else:
            v = values.astype(float)
            variables[var] = {"kind": "numeric", "mean": float(v.mean()), "sd": float(v.std()),
                              "min": float(v.min()), "max": float(v.max())}
    exclusions = pd.DataFrame(
        [{"reason": why, "rows": int(m.sum()),
          "subjects": int(frame.loc[m, subject].nunique())} for why, m in reasons],
        columns=["reason", "rows", "subjects"])
    return Design(X=X, Z=Z, y=used[outcome].to_numpy(dtype=float), group=codes, groups=groups,
                  fixed_names=list(fx.columns), random_names=list(rx.columns), rows=rows,
                  exclusions=exclusions, fixed_spec=fixed_spec, random_spec=random_spec,
                  centring=centring, levels=levels, variables=variables)


def new_matrices(design: Design, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Fixed and random model matrices for new data, reusing levels and centring of the fit."""
    frame = new.copy()
    for col, cats in design.levels.items():
        if col in frame.columns:
            frame[col] = pd.Categorical(frame[col].astype(object), categories=cats)
    for col, mean in design.centring.items():
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col]) - mean
    fx = design.fixed_spec.get_model_matrix(frame, na_action="ignore")
    rx = design.random_spec.get_model_matrix(frame, na_action="ignore")
    return np.asarray(fx, float), np.asarray(rx, float), frame.index
