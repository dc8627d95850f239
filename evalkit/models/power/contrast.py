"""The test of a power simulation, and its extraction from one refit.

The test is a fixed-effect term (``"weeks:mode[T.one_to_one]"``: the difference in change per week
between one-to-one and group support), a contrast ``{term: weight}``
(``{"weeks:mode[T.one_to_one]": 24}``: that difference over 24 weeks), or a test in words
resolved to a contrast (:mod:`.kinds`). Each simulated data set is refitted with the fast engine
(:func:`evalkit.models.reml.fit_theta`, warm-started at the true θ) and the contrast tested with
Satterthwaite df exactly as :meth:`evalkit.models.mixed.MixedResult.contrast` does; with
``ddf="kenward-roger"`` the refit goes through :func:`evalkit.fit_mixed` (the Kenward–Roger
machinery needs the full result), which costs a few milliseconds more per fit.

A fit that raises is *failed* (no estimate; counted and left out of the power's denominator); a
fit whose optimum fails lme4's convergence check is counted as *not converged* and a fit with a
variance at 0 or a correlation at ±1 as *singular*; both still give a test, as they would in the
analysis of a real study.

Examples
--------
>>> from evalkit.models.power.contrast import TestSpec
>>> spec = TestSpec.build("weeks:mode[T.one_to_one]")
>>> spec.weights, spec.label
((('weeks:mode[T.one_to_one]', 1.0),), 'weeks:mode[T.one_to_one]')
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ...errors import EvalkitError, SpecificationError

__all__ = ["TestSpec", "refit"]


@dataclass(frozen=True)
class TestSpec:
    """What is tested: ``weights`` ((term, weight), …) of the contrast, and its label."""

    weights: tuple
    label: str
    ddf: str = "satterthwaite"
    region: object = None       # a Johnson–Neyman test (:class:`.kinds.Region`), else None

    __test__ = False            # not a pytest test class, despite its name

    @classmethod
    def build(cls, test, *, ddf: str = "satterthwaite") -> "TestSpec":
        """From a term name or a ``{term: weight}`` contrast."""
        from ..kenward_roger import ddf_name

        if isinstance(test, str):
            weights, label = ((test, 1.0),), test
        elif isinstance(test, dict) and test:
            try:
                weights = tuple((str(k), float(v)) for k, v in test.items())
            except (TypeError, ValueError):
                raise SpecificationError(f"test={test!r}: a contrast's weights are numbers, e.g. "
                                         "{'weeks:mode[T.one_to_one]': 24}") from None
            label = " + ".join(f"{w:g}*{t}" if w != 1 else t for t, w in weights)
        else:
            raise SpecificationError(f"test={test!r}: give a term of the model (as in "
                                     "fit.fixed['term']) or a contrast {term: weight}")
        return cls(weights=weights, label=label, ddf=ddf_name(ddf))

    @classmethod
    def worded(cls, test: dict, *, design, tmpl, ddf: str, alpha: float) -> "TestSpec":
        """From a test in words (:mod:`.kinds`), resolved against the model's rows."""
        from ..kenward_roger import ddf_name
        from .kinds import resolve

        weights, label, region = resolve(test, design=design, tmpl=tmpl, alpha=alpha)
        return cls(weights=weights, label=label, ddf=ddf_name(ddf), region=region)

    def describe(self) -> dict:
        return {"weights": [list(w) for w in self.weights], "ddf": self.ddf,
                **({"region": self.region.describe()} if self.region else {})}

    def vector(self, names: list) -> np.ndarray:
        """The contrast as a row vector over the model's terms ``names``."""
        L = np.zeros(len(names))
        for term, w in self.weights:
            if term not in names:
                raise SpecificationError(f"test names {term!r}, which is not a term of the model; "
                                         f"the terms are {', '.join(map(repr, names))}")
            L[names.index(term)] += w
        return L


def refit(X, Z, y, group, m, L, *, start, correlated: bool, ddf: str, frame=None,
          formula: tuple = ("", "1"), jn=None) -> dict:
    """Refit one simulated data set and test ``L β = 0``.

    Returns ``estimate, std_error, df, converged, singular, failed, message, significant`` (a
    failed fit has NaN numbers and the exception's message). ``frame`` (the observed design
    columns) and ``formula`` ((fixed, random)) are needed for Kenward–Roger only. ``jn``
    ``(L1, region, low, high)`` makes it a Johnson–Neyman test: ``significant`` is 1.0 when the
    region of significance of ``(L + (w − origin) L1) β`` covers the stated value or exists
    between ``low`` and ``high`` (NaN for other tests, whose rejection is read from the t test).
    """
    try:
        if ddf == "kenward-roger":
            fit = _refit_kr(frame, y, L, correlated, *formula)
        else:
            fit = _refit_fast(X, Z, y, group, m, L, start=start, correlated=correlated)
        rows = fit.pop("rows")
        return {**fit, "significant": _in_region(rows, L, jn) if jn else np.nan}
    except (EvalkitError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        return {"estimate": np.nan, "std_error": np.nan, "df": np.nan, "converged": False,
                "singular": False, "failed": True, "message": f"{type(exc).__name__}: {exc}"[:300],
                "significant": np.nan}


#: Grid of moderator values searched per simulated study: the region is a quadratic inequality
#: in the moderator (up to the df varying), so coarse bracketing plus Brent roots finds it; 201
#: points as in johnson_neyman would triple the cost of a study for nothing.
JN_POINTS = 41


def _in_region(rows, L: np.ndarray, jn) -> float:
    """Whether one study's Johnson–Neyman region meets the test's condition (1.0 or 0.0)."""
    from ..jn_region import gap_function, region

    L1, spec, low, high = jn
    gap = gap_function(rows, L - spec.origin * L1, L1, confidence=1 - spec.alpha)
    if spec.covers is not None:
        # a value is in the region exactly where the effect there is significant
        return float(gap(spec.covers)[0] > 0)
    return float(region(gap, low, high, n_points=JN_POINTS).exists(low, high))


def _refit_fast(X, Z, y, group, m, L, *, start, correlated: bool) -> dict:
    from .. import reml
    from ..satterthwaite import Satterthwaite

    tf = reml.fit_theta(X, Z, y, group, correlated=correlated, reml=True, start=start, m=m)
    ev = tf.evaluation
    sat = Satterthwaite(ev, float(np.sqrt(ev.pwrss / ev.nu)), tf.scaling.T)
    estimate = float(L @ tf.beta)
    se = float(np.sqrt(L @ tf.vcov @ L))
    df = float(sat.df(L[None, :])[0])
    if not (np.isfinite(estimate) and np.isfinite(se) and se > 0):
        raise FloatingPointError("the refit gave no finite standard error")

    def rows(M):
        return (M @ tf.beta, np.sqrt(np.einsum("ij,jk,ik->i", M, tf.vcov, M)), sat.df(M))

    return {"estimate": estimate, "std_error": se, "df": df, "converged": bool(tf.converged),
            "singular": _singular(tf, correlated), "failed": False, "message": "", "rows": rows}


def _singular(tf, correlated: bool) -> bool:
    """As :func:`evalkit.fit_mixed` decides: a variance at 0 or a correlation at ±1."""
    from .. import reml

    if tf.info["check"]["singular"]:
        return True
    q = tf.stats_s.q
    if q < 2 or not correlated:
        return False
    lam = reml.make_lambda(tf.theta, q, tf.pos)
    cov = lam @ lam.T
    sd = np.sqrt(np.diag(cov))
    return bool(np.all(sd > 0) and abs(cov[0, 1] / (sd[0] * sd[1])) > 1 - 1e-6)


def _refit_kr(frame, y, L, correlated: bool, fixed: str, random: str) -> dict:
    from ..mixed import fit_mixed
    from .design import OUTCOME, SUBJECT

    data = frame.assign(**{OUTCOME: y})
    with warnings.catch_warnings():
        # counted in the result's table; one warning per simulated fit would drown the user
        warnings.simplefilter("ignore")
        fit = fit_mixed(data, outcome=OUTCOME, fixed=fixed, subject=SUBJECT,
                        random=random, correlated=correlated, ddf="kenward-roger")
    row = fit.contrast(L[None, :]).iloc[0]

    def rows(M):
        out = fit.contrast(M)
        return out["estimate"].to_numpy(), out["std_error"].to_numpy(), out["df"].to_numpy()

    return {"estimate": float(row["estimate"]), "std_error": float(row["std_error"]),
            "df": float(row["df"]), "converged": bool(fit.converged),
            "singular": bool(fit.singular), "failed": False, "message": "", "rows": rows}
