"""``ek.power`` and ``ek.power_curve``: power and sample size of a mixed-model test by simulation.

The run: check the problem (every term named must exist), read the studies already done from the
checkpoint, run the rest in blocks on the chosen backend, add each block to the checkpoint as it
arrives, and summarise. See :mod:`evalkit.models.power` for the parts.
"""

from __future__ import annotations

import sys
import time as _time
import warnings

import numpy as np
import pandas as pd

from ..._checks import check_confidence
from ...errors import ConvergenceWarning, SpecificationError
from .backends import backend_name, blocks, run_blocks
from .checkpoint import Checkpoint
from .result import PowerResult, summarise
from .simulation import COLUMNS, Problem

__all__ = ["power", "power_curve"]

#: Studies per block: small enough for a fresh checkpoint and an even spread over workers, large
#: enough that sending a block costs little next to its fits (~3 ms each at 300 mothers).
BLOCK = 25


def power_curve(*, fixed: str | None = None, random: str | None = None, effects: dict | None = None,
                variance: dict | None = None, from_fit=None, correlated: bool = True,
                waves, allocation: dict | None = None, by: str | None = None, time: str = "weeks",
                dropout=None, dropout_odds: dict | None = None, reference: dict | None = None,
                covariates: list | None = None, test, sizes, nsim: int = 1000,
                seed: int = 1, alpha: float = 0.05, ddf: str = "satterthwaite",
                confidence: float = 0.95, n_jobs: int | None = None, scheduler=None,
                checkpoint=None, progress: bool = True) -> PowerResult:
    """Power of a test in a linear mixed model at several sample sizes, by simulation.

    Each simulated study draws mothers' random intercepts and slopes and residuals from the
    stated truth, allocates mothers to groups, applies drop-out, refits the model with the fast
    engine (warm-started at the true variance parameters) and tests the term or contrast.

    Parameters
    ----------
    fixed : str
        Fixed-effects formula, e.g. ``"weeks * mode"`` (default: the pilot fit's).
    random : str
        ``"1"`` (random intercept) or ``"weeks"`` (intercept and slope); default the pilot fit's,
        else ``"1"``.
    effects : dict
        True fixed effects by term name as in ``fit.fixed["term"]``; every term needs a value.
    variance : dict
        ``intercept_sd``, ``slope_sd``, ``correlation``, ``residual_sd`` (outcome points; slope per
        unit of time).
    from_fit : MixedResult, optional
        A pilot fit giving the formula, effects and variance; ``effects`` / ``variance`` override
        some of them (e.g. the difference you want to detect).
    correlated : bool, default True
        The analysis model estimates the intercept–slope correlation (lme4 ``|``).
    waves : list of float
        The times of the waves (weeks since baseline).
    allocation : dict, optional
        Share of mothers in each level of ``by``, e.g. ``{"group": 0.5, "one_to_one": 0.5}``.
    by : str, optional
        The grouping column; default the one variable of ``fixed`` other than ``time``.
    time : str, default "weeks"
    dropout : list or dict, optional
        Cumulative share of mothers lost by each wave (``[0, 0.1, 0.2, 0.3]``), or one such list
        per level of ``by``. Drop-out is monotone and unrelated to the outcome.
    dropout_odds : dict, optional
        Drop-out by context: ``{covariate: odds ratio}`` of having dropped out by each wave per
        SD of a covariate (``{"isolation": 1.5}``); ``dropout`` is then for a mother at the mean.
    reference : dict, optional
        Reference level of ``by`` (default: the first in sorted order, as formulaic).
    covariates : list of str, optional
        Subject-level continuous columns of the formula (context such as ``"isolation"``), drawn
        standard normal for each mother: their effects, and their interactions with time (a
        continuous moderator of change, ``"weeks:isolation"``), are per standard deviation.
    test : str or dict
        A term (``"weeks:mode[T.one_to_one]"``: a fixed effect, or the interaction with a
        continuous moderator, ``"weeks:isolation"``), a contrast ``{term: weight}``, or a test
        in words (:mod:`evalkit.models.power.kinds`): change in a group,
        ``{"change": (0, 24), "at": {"mode": "one_to_one"}}``; the difference in change between
        groups, ``{"change": (0, 24), "between": ("one_to_one", "group")}``; a Johnson–Neyman
        region, ``{"johnson_neyman": "isolation", "change": (0, 24), "between": (...)}``, which
        a study detects when the region of significance exists among its mothers' moderator
        values (or ``"within": (low, high)``), or ``"covers"`` a stated value.
    sizes : list of int
        Numbers of mothers to try.
    nsim : int, default 1000
        Simulated studies per size.
    seed : int, default 1
        Study ``j`` uses ``SeedSequence(seed).spawn(nsim)[j]`` at every size and on every backend.
    alpha : float, default 0.05
        Two-sided significance level; coverage is that of the (1 − alpha) interval.
    ddf : {"satterthwaite", "kenward-roger"}
    confidence : float, default 0.95
        Level of the Monte Carlo (Wilson) intervals of power.
    n_jobs : int, optional
        Local cores through joblib (-1: all).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``) or client.
    checkpoint : str or path, optional
        A Parquet file: studies are added as they finish; a rerun continues where it stopped.
    progress : bool, default True
        A progress bar (only when standard error is a terminal).

    Returns
    -------
    PowerResult
        ``.table`` one row per size (``n, power, ci_low, ci_high, mc_se, n_sim, n_failed,
        n_nonconverged, n_singular, mean_estimate, true_value, bias, empirical_se,
        mean_std_error, coverage, mean_df, mean_observed``), ``.raw`` one row per study,
        ``.detectable()`` and ``.plot()``.

    Examples
    --------
    >>> import evalkit as ek
    >>> design = dict(fixed="weeks * mode", random="weeks",
    ...     effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0,
    ...              "weeks:mode[T.one_to_one]": 0.1},
    ...     variance={"intercept_sd": 6, "slope_sd": 0.15, "correlation": 0, "residual_sd": 4},
    ...     waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5})
    >>> res = ek.power_curve(**design, test="weeks:mode[T.one_to_one]", sizes=[40, 120],
    ...                      nsim=40, seed=1, progress=False)
    >>> res.table[["n", "n_sim", "n_failed"]].to_numpy().tolist()
    [[40, 40, 0], [120, 40, 0]]
    >>> bool(res.table["power"].iloc[1] > res.table["power"].iloc[0])
    True

    The same design, testing the difference in change over the 24 weeks in words:

    >>> res = ek.power_curve(**design, test={"change": (0, 24), "between": ("one_to_one", "group")},
    ...                      sizes=[40], nsim=10, seed=1, progress=False)
    >>> res.test, round(res.true_value, 6)
    ('difference in change from weeks 0 to 24 between mode one_to_one and group', 2.4)
    """
    check_confidence(confidence, "power_curve")
    if not 0 < alpha < 1:
        raise SpecificationError(f"alpha={alpha!r}: give the significance level, e.g. 0.05")
    sizes = _sizes(sizes)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # every study's seed is spawned from this one: without it no run could be repeated or
        # resumed
        raise SpecificationError(f"seed={seed!r}: give a whole number >= 0, e.g. seed=1")
    if not isinstance(nsim, int) or nsim < 1:
        raise SpecificationError(f"nsim={nsim!r}: give the number of simulated studies, e.g. 1000")
    kind = backend_name(n_jobs=n_jobs, scheduler=scheduler)
    problem = Problem.build(fixed=fixed, random=random, effects=effects, variance=variance,
                            from_fit=from_fit, correlated=correlated, waves=waves,
                            allocation=allocation, by=by, time=time, dropout=dropout,
                            dropout_odds=dropout_odds, reference=reference,
                            covariates=covariates, test=test, ddf=ddf, alpha=alpha)
    for n in sizes:
        if n < 2 * max(len(problem.design.allocation), 1) + 1:
            raise SpecificationError(f"sizes: {n} mothers are too few for this design; give at "
                                     "least 3 mothers per group")
    store = None
    done = pd.DataFrame(columns=COLUMNS)
    if checkpoint is not None:
        store = Checkpoint(checkpoint, problem.fingerprint(seed), problem.describe(seed))
        loaded = store.load()
        if len(loaded):
            done = loaded
    have = set(zip(done["n"].astype(int), done["sim"].astype(int))) if len(done) else set()
    todo = {n: [j for j in range(nsim) if (n, j) not in have] for n in sizes}
    work = blocks(sizes, todo, size=BLOCK)
    frames = [done] if len(done) else []
    start = _time.perf_counter()
    with _bar(sum(len(s) for _, s in work), progress) as bar:
        for frame in run_blocks(problem, work, seed, n_jobs=n_jobs, scheduler=scheduler):
            frames.append(frame)
            if store is not None:
                store.append(frame)
            bar.update(len(frame))
    seconds = _time.perf_counter() - start if work else 0.0
    sims = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    keep = sims["n"].isin(sizes) & (sims["sim"] < nsim)
    sims = sims[keep].sort_values(["n", "sim"], kind="stable").reset_index(drop=True)
    sims = sims.astype({"n": int, "sim": int, "n_observed": int, "n_mothers": int,
                        "converged": bool, "singular": bool, "failed": bool,
                        "significant": float})
    table = summarise(sims, alpha=alpha, confidence=confidence, true_value=problem.true_value())
    failed = int(table["n_failed"].sum())
    if failed:
        first = sims.loc[sims["failed"], "message"].iloc[0]
        warnings.warn(f"{failed} of {len(sims)} simulated fits failed (first: {first}); they are "
                      "counted in n_failed and left out of the power, not counted as 'not "
                      "significant'", ConvergenceWarning, stacklevel=2)
    return PowerResult(table=table, raw=sims, test=problem.test.label, alpha=alpha,
                       confidence=confidence, problem=problem.describe(seed), seconds=seconds,
                       backend=kind)


def power(*, n: int, fixed: str | None = None, random: str | None = None,
          effects: dict | None = None, variance: dict | None = None, from_fit=None,
          correlated: bool = True, waves, allocation: dict | None = None, by: str | None = None,
          time: str = "weeks", dropout=None, dropout_odds: dict | None = None,
          reference: dict | None = None, covariates: list | None = None, test,
          nsim: int = 1000, seed: int = 1, alpha: float = 0.05, ddf: str = "satterthwaite",
          confidence: float = 0.95, n_jobs: int | None = None, scheduler=None, checkpoint=None,
          progress: bool = True) -> PowerResult:
    """Power of a test in a linear mixed model with ``n`` mothers, by simulation.

    :func:`power_curve` at one size; every parameter means the same.

    Examples
    --------
    >>> import evalkit as ek
    >>> res = ek.power(n=60, fixed="weeks * mode", random="weeks",
    ...     effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0,
    ...              "weeks:mode[T.one_to_one]": 0},
    ...     variance={"intercept_sd": 6, "slope_sd": 0.15, "residual_sd": 4},
    ...     waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
    ...     test="weeks:mode[T.one_to_one]", nsim=30, seed=2, progress=False)
    >>> res.table[["n", "n_sim", "true_value"]].to_numpy().tolist()
    [[60.0, 30.0, 0.0]]
    """
    return power_curve(fixed=fixed, random=random, effects=effects, variance=variance,
                       from_fit=from_fit, correlated=correlated, waves=waves,
                       allocation=allocation, by=by, time=time, dropout=dropout,
                       dropout_odds=dropout_odds, reference=reference, covariates=covariates,
                       test=test, sizes=[n],
                       nsim=nsim, seed=seed,
                       alpha=alpha, ddf=ddf, confidence=confidence, n_jobs=n_jobs,
                       scheduler=scheduler, checkpoint=checkpoint, progress=progress)


def _sizes(sizes) -> list:
    try:
        out = [int(s) for s in ([sizes] if isinstance(sizes, int) else sizes)]
    except (TypeError, ValueError):
        raise SpecificationError(f"sizes={sizes!r}: give numbers of mothers, e.g. [40, 80, 120]"
                                 ) from None
    if not out or len(set(out)) != len(out):
        raise SpecificationError(f"sizes={sizes!r}: give each number of mothers once")
    return sorted(out)


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    # a bar written into a log file or a notebook's captured output is noise: terminals only
    show = bool(progress) and total > 0 and sys.stderr.isatty()
    return tqdm(total=total, desc="simulated studies", unit="study", disable=not show, leave=False)
