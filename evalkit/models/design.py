"""Model matrices for mixed models: fixed effects from a formula, random-effect columns, groups.

Categorical predictors use treatment coding with a chosen reference level; centred predictors have
their centring constants recorded so predictions on new data reuse them. Rows that cannot be used
(missing outcome, subject or predictor) are counted by reason — never dropped silently.

formulaic defines every model matrix (terms, coding, column names). Its materialiser costs about
10 ms per call whatever the size of the data — more than the whole fit of a few hundred mothers —
so the formulaic model spec of a formula is kept per set of column types and levels, and matrices
whose terms are plain columns (numbers, categories with treatment coding, their products) are
filled from it with numpy; anything else (transforms, stateful functions) goes through formulaic
each time.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

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
    frame, centring, levels = _prepare(_columns_used(data, outcome, subject, fixed, random,
                                                     reference, centre),
                                       reference=reference, centre=centre, levels=None)
    original = frame.copy() if centring else frame
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
    usable = frame.loc[keep] if not keep.all() else frame
    try:
        fx = _model_matrix(fixed, usable, full_rank=True)
        rx = _model_matrix(random_terms(random), usable, full_rank=True)
    except Exception as exc:  # formulaic raises many types; the user needs the formula named
        raise SpecificationError(f"cannot build the model from fixed={fixed!r}, random={random!r}: "
                                 f"{exc}") from None
    complete = fx.complete & rx.complete
    dropped = ~complete
    if dropped.any():
        mask = np.zeros(len(frame), bool)
        mask[np.flatnonzero(keep)[dropped]] = True
        reasons.append(("missing predictor", mask))
    fixed_spec, random_spec = fx.spec, rx.spec
    rows = usable.index[complete]
    used = usable.loc[complete] if dropped.any() else usable
    codes, groups = pd.factorize(used[subject], sort=True)
    y = used[outcome].to_numpy(dtype=float)
    if y.size and np.ptp(y) == 0:
        raise SpecificationError(f"every value of the outcome {outcome!r} is {y[0]:g}: there is no "
                                 "variation to model; check the scoring, or leave this outcome out")
    if len(groups) < 2:
        raise SpecificationError(f"a mixed model needs at least 2 subjects in {subject!r}; found "
                                 f"{len(groups)}")
    X = fx.values[complete[fx.complete]] if dropped.any() else fx.values
    Z = rx.values[complete[rx.complete]] if dropped.any() else rx.values
    if _rank_deficient(X):
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
            distinct = pd.unique(values.dropna())
            if len(distinct) <= 2:   # boolean or 0/1: reference grids keep both values (emmeans)
                variables[var]["values"] = sorted(x.item() if hasattr(x, "item") else x for x in distinct)
    exclusions = pd.DataFrame(
        [{"reason": why, "rows": int(m.sum()),
          "subjects": int(frame.loc[m, subject].nunique())} for why, m in reasons],
        columns=["reason", "rows", "subjects"])
    return Design(X=X, Z=Z, y=y, group=codes, groups=groups,
                  fixed_names=list(fx.columns), random_names=list(rx.columns), rows=rows,
                  exclusions=exclusions, fixed_spec=fixed_spec, random_spec=random_spec,
                  centring=centring, levels=levels, variables=variables)


def _columns_used(data: pd.DataFrame, outcome, subject, fixed, random, reference, centre
                  ) -> pd.DataFrame:
    """The columns a model needs (all of them when a formula cannot be parsed here: formulaic
    then reports the problem with the whole frame, as before)."""
    names = [outcome, subject]
    for formula in (fixed, random_terms(random)):
        needed = _required_variables(formula)
        if needed is None:
            return data
        names += sorted(needed)
    names += list(reference or {}) + ([centre] if isinstance(centre, str) else list(centre or []))
    cols = list(dict.fromkeys(c for c in names if c in data.columns))
    return data[cols]


@functools.lru_cache(maxsize=256)
def _required_variables(formula: str) -> frozenset | None:
    try:
        return frozenset(str(v) for v in Formula(formula).required_variables)
    except Exception:  # a formula formulaic cannot parse: it says why when building the matrix
        return None


def _rank_deficient(X: np.ndarray) -> bool:
    """numpy.linalg.matrix_rank(X) < p, without an SVD of the n × p matrix in the usual case: the
    cross-product of the centred, scaled columns is clearly non-singular or the SVD decides."""
    n, p = X.shape
    if n < p:
        return True
    if p == 0:
        return False
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    if np.any(norms == 0):
        return True
    xs = X / norms
    vals = np.linalg.eigvalsh(xs.T @ xs)
    if vals[0] > 1e-8 * vals[-1]:
        return False
    return np.linalg.matrix_rank(X) < p


@dataclass(frozen=True)
class _Matrix:
    values: np.ndarray        # rows of the complete cases only
    columns: list
    complete: np.ndarray      # bool over the input rows: no missing value in the formula's variables
    spec: object              # formulaic ModelSpec


_SPECS: dict = {}             # (formula, full rank, column signature) -> (ModelSpec, plan or None)
_SPECS_LIMIT = 256


def clear_cache() -> None:
    """Forget the model specs kept for formulas seen before (benchmarks time first fits)."""
    _SPECS.clear()
    _required_variables.cache_clear()


def _signature(frame: pd.DataFrame) -> tuple | None:
    """What formulaic's coding of these columns depends on: dtypes and, for categories, levels."""
    sig = []
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            sig.append((col, "category", tuple(s.cat.categories)))
        elif pd.api.types.is_bool_dtype(s.dtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            try:
                sig.append((col, str(s.dtype), tuple(pd.unique(s.dropna()))))
            except TypeError:
                return None
        else:
            sig.append((col, str(s.dtype)))
    try:
        hash(tuple(sig))
    except TypeError:
        return None
    return tuple(sig)


def _model_matrix(formula: str, frame: pd.DataFrame, *, full_rank: bool) -> _Matrix:
    """formulaic's model matrix of ``formula`` on ``frame`` (rows with a missing value dropped)."""
    needed = _required_variables(formula)
    sig = _signature(frame[[c for c in frame.columns if c in needed]]) if needed is not None \
        else None
    key = (formula, full_rank, sig)
    hit = _SPECS.get(key) if sig is not None else None
    if hit is not None:
        return _materialise(hit[0], hit[1], frame)
    mm = model_matrix(formula, frame, na_action="drop", ensure_full_rank=full_rank)
    plan = _plan(mm.model_spec, frame) if sig is not None else None
    if plan is not None:     # only plain columns: the spec holds no state from these data
        if len(_SPECS) >= _SPECS_LIMIT:
            _SPECS.clear()
        _SPECS[key] = (mm.model_spec, plan)
    complete = frame.index.isin(mm.index) if len(mm) != len(frame) else np.ones(len(frame), bool)
    return _Matrix(values=np.asarray(mm, dtype=float), columns=list(mm.columns),
                   complete=complete, spec=mm.model_spec)


def _plan(spec, frame: pd.DataFrame) -> list | None:
    """Each model-matrix column as a product of (variable, level) factors (level None: the
    number itself), when every factor is a plain column coded as formulaic codes it; else None.

    The column names are built with formulaic's rule and must reproduce the spec's own names,
    column for column; any difference (a contrast, a transform, a naming change in formulaic)
    sends the formula back through formulaic."""
    try:
        from formulaic.parser.types import Factor
        from formulaic.transforms.contrasts import TreatmentContrasts
        from formulaic.utils.sentinels import UNSET

        plan = []
        for structure in spec.structure:
            built: dict = {}
            for scoped in structure.scoped_terms:
                if scoped.scale != 1:
                    return None
                parts = []
                for sf in scoped.factors:
                    factor = sf.factor.factor
                    expr = factor.expr
                    if factor.eval_method != Factor.EvalMethod.LOOKUP or expr not in frame.columns:
                        return None
                    kind, state = spec.encoder_state.get(expr, (None, None))
                    if kind is None or kind.value == "numerical":
                        if not pd.api.types.is_numeric_dtype(frame[expr].dtype) or \
                                pd.api.types.is_bool_dtype(frame[expr].dtype):
                            return None
                        parts.append([(expr, (expr, None))])
                        continue
                    if kind.value != "categorical":
                        return None
                    contrasts = state["contrasts"]
                    if type(contrasts.contrasts) is not TreatmentContrasts or \
                            contrasts.contrasts.base is not UNSET:
                        return None
                    levels = list(state["categories"])
                    if sf.reduced:
                        parts.append([(f"{expr}[T.{lv}]", (expr, lv)) for lv in levels[1:]])
                    else:
                        parts.append([(f"{expr}[{lv}]", (expr, lv)) for lv in levels])
                for combo in itertools.product(*parts):
                    name = ":".join(n for n, _ in combo) if combo else "Intercept"
                    built[name] = [f for _, f in combo]
            for col in structure.columns:
                if col not in built:
                    return None
                plan.append(built[col])
        if [c for s in spec.structure for c in s.columns] != list(spec.column_names):
            return None
        return plan
    except Exception:  # formulaic internals moved: use formulaic itself
        return None


def _materialise(spec, plan: list, frame: pd.DataFrame) -> _Matrix:
    """Fill the model matrix from a plan (see :func:`_plan`), as formulaic would."""
    n = len(frame)
    cache: dict = {}
    complete = np.ones(n, bool)
    for var in {v for factors in plan for v, _ in factors}:
        s = frame[var]
        complete &= ~s.isna().to_numpy()
    for var in {v for factors in plan for v, lv in factors if lv is not None}:
        s = frame[var]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cache[var] = ("codes", s.cat.codes.to_numpy(), list(s.cat.categories))
        else:
            cache[var] = ("values", s.to_numpy(), None)
    numbers = {v: frame[v].to_numpy(dtype=float, na_value=np.nan)
               for v in {v for factors in plan for v, lv in factors if lv is None}}
    out = np.empty((n, len(plan)))
    for j, factors in enumerate(plan):
        col = out[:, j]
        col.fill(1.0)
        for var, level in factors:
            if level is None:
                col *= numbers[var]
            else:
                how, arr, cats = cache[var]
                hit = arr == cats.index(level) if how == "codes" else arr == level
                col *= hit
    values = out if complete.all() else out[complete]
    return _Matrix(values=values, columns=list(spec.column_names), complete=complete, spec=spec)


def on_design_scale(design: Design, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the fit's category levels and centring (what the design saw)."""
    out = frame.copy()
    for col, cats in design.levels.items():
        if col in out.columns:
            out[col] = pd.Categorical(out[col].astype(object), categories=cats)
    for col, mean in design.centring.items():
        if col in out.columns:
            out[col] = pd.to_numeric(out[col]) - mean
    return out


def new_matrices(design: Design, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Fixed and random model matrices for new data, reusing levels and centring of the fit."""
    frame = on_design_scale(design, new)
    fx = design.fixed_spec.get_model_matrix(frame, na_action="ignore")
    rx = design.random_spec.get_model_matrix(frame, na_action="ignore")
    return np.asarray(fx, float), np.asarray(rx, float), frame.index
