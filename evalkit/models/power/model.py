"""The data-generating model of a power simulation: fixed effects and variance components.

Stated directly (``effects`` named as in ``fit.fixed["term"]``, ``variance`` as standard deviations
and a correlation) or taken from a pilot :class:`~evalkit.models.mixed.MixedResult` and edited
(``from_fit=`` with ``effects`` / ``variance`` overriding some of its values). Term names are
checked against the model matrix the formula gives, so a misspelt term is an error naming the
terms there are, never an effect silently left at zero.

Examples
--------
>>> from evalkit.models.power.model import TrueModel
>>> truth = TrueModel.build(fixed="weeks", random="weeks", effects={"Intercept": 38, "weeks": 0.3},
...                         variance={"intercept_sd": 6, "slope_sd": 0.15, "residual_sd": 4})
>>> truth.random_sd, truth.residual_sd
((6.0, 0.15), 4.0)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from ...errors import SpecificationError

__all__ = ["TrueModel", "VARIANCE_KEYS"]

#: The keys of ``variance=``: standard deviations of the random intercept and slope, their
#: correlation, and the residual standard deviation.
VARIANCE_KEYS = ("intercept_sd", "slope_sd", "correlation", "residual_sd")


@dataclass(frozen=True)
class TrueModel:
    """The truth simulated from: formula, effects and variance components (hashable, picklable).

    Attributes
    ----------
    fixed, random : str
        Fixed-effects formula and random terms (as in :func:`evalkit.fit_mixed`).
    effects : tuple of (str, float)
        The true fixed effects, by term name, in the order given.
    intercept_sd, slope_sd, correlation, residual_sd : float
        The variance components (``slope_sd`` is 0 for a random intercept only).
    correlated : bool
        Whether the analysis model estimates the intercept–slope correlation (lme4 ``|``).
    """

    fixed: str
    random: str
    effects: tuple
    intercept_sd: float
    slope_sd: float
    correlation: float
    residual_sd: float
    correlated: bool = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, *, fixed: str | None = None, random: str | None = None,
              effects: dict | None = None, variance: dict | None = None, from_fit=None,
              correlated: bool = True) -> "TrueModel":
        """The truth from stated values, or from a pilot fit edited by the stated ones."""
        base_effects: dict = {}
        base_variance: dict = {}
        if from_fit is not None:
            fixed = fixed or from_fit.spec.fixed
            random = random or from_fit.spec.random
            correlated = from_fit.spec.correlated
            base_effects = dict(zip(from_fit.fixed["term"],
                                    from_fit.fixed["estimate"].astype(float)))
            base_variance = _variance_of(from_fit)
        if not fixed:
            raise SpecificationError("the data-generating model needs fixed= (e.g. fixed='weeks * "
                                     "mode') or from_fit= (a pilot fit_mixed result)")
        random = (random or "1").strip()
        if random not in ("1", "") and not _one_slope(random):
            raise SpecificationError(f"random={random!r}: a power simulation takes a random "
                                     "intercept ('1') or an intercept and one slope (e.g. 'weeks')")
        merged_effects = {**base_effects, **{str(k): v for k, v in (effects or {}).items()}}
        unknown = [k for k in (variance or {}) if k not in VARIANCE_KEYS]
        if unknown:
            raise SpecificationError(f"variance: unknown key(s) {unknown}; the keys are "
                                     f"{', '.join(VARIANCE_KEYS)}")
        v = {"intercept_sd": None, "slope_sd": 0.0, "correlation": 0.0, "residual_sd": None,
             **base_variance, **(variance or {})}
        for key in ("intercept_sd", "residual_sd"):
            if v[key] is None:
                raise SpecificationError(f"variance needs {key} (a standard deviation in the "
                                         "outcome's points), e.g. variance={'intercept_sd': 6, "
                                         "'residual_sd': 4}")
        values = {k: _number(v[k], f"variance {k}") for k in VARIANCE_KEYS}
        for key in ("intercept_sd", "slope_sd", "residual_sd"):
            if values[key] < 0:
                raise SpecificationError(f"variance {key} is {values[key]:g}; a standard deviation "
                                         "is 0 or more")
        if values["residual_sd"] == 0:
            raise SpecificationError("variance residual_sd is 0; give the residual standard "
                                     "deviation of the outcome (e.g. 4 WEMWBS points)")
        if not -1 < values["correlation"] < 1:
            raise SpecificationError(f"variance correlation is {values['correlation']:g}; it must "
                                     "be between -1 and 1 (exclusive)")
        if random in ("1", "") and values["slope_sd"] > 0 and from_fit is None:
            raise SpecificationError(f"variance slope_sd is {values['slope_sd']:g} but random="
                                     f"{random!r} has no random slope; give random='weeks' or drop "
                                     "slope_sd")
        return cls(fixed=fixed, random=random,
                   effects=tuple((k, _number(x, f"effect {k!r}"))
                                 for k, x in merged_effects.items()),
                   correlated=bool(correlated), **values)

    # ------------------------------------------------------------------ derived
    @property
    def has_slope(self) -> bool:
        return self.random not in ("1", "")

    @property
    def random_sd(self) -> tuple:
        """Standard deviations of the random terms, in the order of the random-effects columns."""
        return (self.intercept_sd, self.slope_sd) if self.has_slope else (self.intercept_sd,)

    def random_cov(self) -> np.ndarray:
        """Covariance matrix of the random effects (q × q)."""
        sd = np.array(self.random_sd)
        if len(sd) == 1:
            return np.array([[sd[0] ** 2]])
        c = self.correlation * sd[0] * sd[1]
        return np.array([[sd[0] ** 2, c], [c, sd[1] ** 2]])

    def beta(self, names: list) -> np.ndarray:
        """The effects as a vector in the order of the model matrix's columns ``names``.

        Every term of the model needs a value and every value a term: a missing or misspelt name
        is an error naming the terms of the model (a silently zero effect would be a wrong
        design).
        """
        given = dict(self.effects)
        unknown = [k for k in given if k not in names]
        missing = [k for k in names if k not in given]
        if unknown or missing:
            parts = []
            for k in unknown:
                close = difflib.get_close_matches(k, names, n=1, cutoff=0.6)
                parts.append(f"{k!r} is not a term of the model"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
            if missing:
                parts.append(f"no value for {', '.join(map(repr, missing))} (give 0 for no effect)")
            raise SpecificationError(f"effects for fixed={self.fixed!r}: {'; '.join(parts)}; the "
                                     f"terms are {', '.join(map(repr, names))}")
        return np.array([given[k] for k in names], float)

    def theta(self) -> np.ndarray | None:
        """lme4's θ of the truth (the Cholesky factor of cov / σ², in the engine's order): the warm
        start of every refit. None when a variance is 0 (a start on the boundary would sit on a
        stationary point of the criterion; the engine's moment start is used instead)."""
        cov = self.random_cov() / self.residual_sd ** 2
        if np.any(np.diag(cov) <= 0):
            return None
        lam = np.linalg.cholesky(cov)
        if not self.correlated:
            return np.sqrt(np.diag(cov))
        q = len(cov)
        return np.array([lam[i, j] for j in range(q) for i in range(j, q)])

    def describe(self) -> dict:
        """The truth as plain values (for checkpoints and reports)."""
        return {"fixed": self.fixed, "random": self.random, "effects": dict(self.effects),
                "variance": {k: getattr(self, k) for k in VARIANCE_KEYS},
                "correlated": self.correlated}


def _one_slope(random: str) -> bool:
    terms = [t.strip() for t in random.replace("1 +", "").split("+") if t.strip()]
    return len(terms) == 1 and terms[0] not in ("0", "1") and terms[0].isidentifier()


def _number(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SpecificationError(f"{what} is {value!r}; give a number") from None
    if not np.isfinite(out):
        raise SpecificationError(f"{what} is {value!r}; give a finite number")
    return out


def _variance_of(fit) -> dict:
    """intercept_sd, slope_sd, correlation and residual_sd of a pilot fit (one grouping factor)."""
    names = list(fit.design.random_names)
    if len(names) > 2 or (len(names) == 2 and names[0] != "Intercept") or \
            (len(names) == 1 and names[0] != "Intercept"):
        raise SpecificationError(f"from_fit: the pilot fit's random terms {names} are not a random "
                                 "intercept with at most one slope; state variance= instead")
    from ..reml import make_lambda, theta_layout

    pos = theta_layout(len(names), fit.spec.correlated)[0]
    lam = make_lambda(fit.theta, len(names), pos)
    cov = fit.sigma ** 2 * lam @ lam.T
    sd = np.sqrt(np.diag(cov))
    out = {"intercept_sd": float(sd[0]), "residual_sd": float(fit.sigma)}
    if len(names) == 2:
        out["slope_sd"] = float(sd[1])
        out["correlation"] = float(cov[0, 1] / (sd[0] * sd[1])) if sd.all() else 0.0
        # a fit at the boundary (correlation ±1) cannot be simulated as given: keep it inside
        out["correlation"] = float(np.clip(out["correlation"], -0.999, 0.999))
    return out
