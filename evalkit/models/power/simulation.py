"""One power problem (truth, design, test) and the simulation of a block of studies from it.

Every simulated study has its own seed, ``numpy.random.SeedSequence(seed).spawn(nsim)[j]`` for
study ``j`` (the same child for every sample size: common random numbers make the power curve
smooth, and adding sizes or studies to a checkpointed run keeps the studies already done). A
block's result therefore depends only on the problem, the size, the study numbers and the seed —
never on which process ran it or in what order — so every backend gives identical numbers.

Examples
--------
>>> from evalkit.models.power.simulation import Problem, run_block
>>> problem = Problem.build(fixed="weeks * mode", random="weeks",
...     effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0,
...              "weeks:mode[T.one_to_one]": 0.1},
...     variance={"intercept_sd": 6, "slope_sd": 0.15, "residual_sd": 4},
...     waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
...     test="weeks:mode[T.one_to_one]")
>>> block = run_block(problem, 40, [0, 1], 1)
>>> block[["n", "sim", "n_observed", "failed"]].to_numpy().tolist()
[[40, 0, 160, False], [40, 1, 160, False]]
>>> problem.true_value()
0.1
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .contrast import TestSpec, refit
from .design import StudyDesign, infer_by, simulate_data, template
from .kinds import is_worded
from .model import TrueModel

__all__ = ["Problem", "run_block", "COLUMNS"]

#: The columns of the per-study table (``PowerResult.raw``, the checkpoint file).
COLUMNS = ["n", "sim", "n_observed", "n_mothers", "estimate", "std_error", "df", "converged",
           "singular", "failed", "message", "significant"]


@dataclass(frozen=True)
class Problem:
    """What a power simulation simulates and tests (hashable and picklable)."""

    truth: TrueModel
    design: StudyDesign
    test: TestSpec

    @classmethod
    def build(cls, *, fixed=None, random=None, effects=None, variance=None, from_fit=None,
              correlated: bool = True, waves, allocation=None, by=None, time: str = "weeks",
              dropout=None, dropout_odds=None, reference=None, covariates=None, test,
              ddf: str = "satterthwaite", alpha: float = 0.05) -> "Problem":
        """Check every part and make sure the terms named exist (fails before any simulation).

        A test in words (:mod:`.kinds`) is resolved here to its contrast; ``alpha`` is the level
        of a Johnson–Neyman region (a study's region depends on it, so it is part of the test).
        """
        truth = TrueModel.build(fixed=fixed, random=random, effects=effects, variance=variance,
                                from_fit=from_fit, correlated=correlated)
        covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
        by = by or infer_by(truth.fixed, time, allocation, covariates)
        design = StudyDesign.build(waves=waves, allocation=allocation, by=by, time=time,
                                   dropout=dropout, reference=reference, covariates=covariates,
                                   dropout_odds=dropout_odds)
        if is_worded(test):
            spec = TestSpec.worded(test, design=design, tmpl=_smallest(design, truth), ddf=ddf,
                                   alpha=alpha)
        else:
            spec = TestSpec.build(test, ddf=ddf)
        problem = cls(truth=truth, design=design, test=spec)
        problem.true_value()        # names checked now, with the whole list in the message
        return problem

    def _template(self):
        return _smallest(self.design, self.truth)

    def true_value(self) -> float:
        """The tested contrast's true value (``L β``)."""
        tmpl = self._template()
        names = tmpl.fixed_names
        return float(self.test.vector(names) @ self.truth.beta(names))

    def with_value(self, value: float) -> "Problem":
        """The same problem with the tested contrast's true value moved to ``value`` (the terms of
        the contrast shift along its weights)."""
        names = self._template().fixed_names
        L = self.test.vector(names)
        beta = self.truth.beta(names) + (value - self.true_value()) * L / (L @ L)
        effects = tuple((k, float(b)) for k, b in zip(names, beta))
        from dataclasses import replace

        return replace(self, truth=replace(self.truth, effects=effects))

    def describe(self, seed) -> dict:
        return {"truth": self.truth.describe(), "design": self.design.describe(),
                "test": self.test.describe(),
                "seed": seed}

    def fingerprint(self, seed) -> str:
        """A digest of everything a simulated study depends on (checkpoints must match it)."""
        text = json.dumps(self.describe(seed), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _smallest(design: StudyDesign, truth: TrueModel):
    # the smallest study with two mothers per group: enough to name the model's terms
    return template(design, truth.fixed, truth.random, 2 * max(len(design.allocation), 1))


def _seed(seed, sim: int) -> np.random.SeedSequence:
    # SeedSequence(seed, spawn_key=(j,)) is exactly SeedSequence(seed).spawn(nsim)[j], without
    # spawning the j children before it (a worker may be given any block of studies)
    return np.random.SeedSequence(seed, spawn_key=(int(sim),))


def run_block(problem: Problem, n: int, sims, seed) -> pd.DataFrame:
    """Simulate and refit studies ``sims`` of size ``n``: one row per study (:data:`COLUMNS`)."""
    from ..._blas import single_threaded_blas

    truth, design = problem.truth, problem.design
    tmpl = template(design, truth.fixed, truth.random, n)
    beta = truth.beta(tmpl.fixed_names)
    L = problem.test.vector(tmpl.fixed_names)
    cov, start = truth.random_cov(), truth.theta()
    kr = problem.test.ddf == "kenward-roger"
    region = problem.test.region
    slope = TestSpec(weights=region.slope, label="").vector(tmpl.fixed_names) if region else None
    out = []
    # thin matrix products: BLAS threads only add synchronisation (see evalkit.models.mixed)
    with single_threaded_blas():
        for sim in sims:
            rng = np.random.default_rng(_seed(seed, sim))
            s = simulate_data(tmpl, design, beta, cov, truth.residual_sd, rng)
            frame = tmpl.frame.iloc[s.rows].assign(**s.covariates) if kr else None
            jn = None
            if region:
                # without a stated range, the region must lie among this study's mothers
                values = s.covariates[region.moderator]
                low, high = region.within or (float(values.min()), float(values.max()))
                jn = (slope, region, low, high)
            fit = refit(s.X, s.Z, s.y, s.group, s.m, L, start=start, correlated=truth.correlated,
                        ddf=problem.test.ddf, frame=frame, formula=(truth.fixed, truth.random),
                        jn=jn)
            out.append({"n": int(n), "sim": int(sim), "n_observed": int(len(s.y)),
                        "n_mothers": int(s.m), **fit})
    return pd.DataFrame(out, columns=COLUMNS)
