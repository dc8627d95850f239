"""The search over θ for the several-term engine: which optimiser, and lme4's convergence check.

The profiled criterion of :class:`evalkit.models.sparse_reml.Problem` has no analytic gradient
here, so every optimiser pays in evaluations. Two are used, chosen by the work of one evaluation
(:meth:`Problem.cost`, a deterministic estimate, so that reruns are identical):

* **COBYQA** (scipy ≥ 1.14; derivative-free, quadratic models in a trust region — Powell's
  successor to the BOBYQA that lme4 uses) when an evaluation is expensive: InstEval 70
  evaluations against 127 for L-BFGS-B with numerical gradients (2.8 s against 6.3 s), 100,000
  mothers in 2,000 volunteers 83 against 122 (2.9 s against 5.6 s), same optimum to 5e-6 of the
  criterion. Its own work, ~2–3 ms per evaluation in Python, is what rules it out for cheap ones.
* **L-BFGS-B with finite-difference gradients** when an evaluation costs about a millisecond
  (500 mothers: 120 evaluations in 0.06 s against COBYQA's 72 in 0.28 s; 3,000 mothers 0.15 s
  against 0.24 s): forward differences while steps still gain more than 1 and central after,
  ending when three calls in a row gain less than 1e-7.

Either way the verdict is lme4's: the projected central-difference gradient at the optimum
(components pushing against a bound at 0 are no failure) must be below 0.002.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize as _opt

__all__ = ["search", "COBYQA_FROM"]

#: estimated floating-point work of one evaluation above which COBYQA is used (~3 ms here)
COBYQA_FROM = 1e7


class _Flat(Exception):
    """The criterion stopped improving: the search is over."""


def search(problem, x0: np.ndarray, *, optimizer: str | None = None) -> tuple[np.ndarray, dict]:
    """Minimise ``problem.deviance`` over θ from ``x0`` within θ's bounds.

    Parameters
    ----------
    problem : evalkit.models.sparse_reml.Problem
    x0 : numpy.ndarray
        Start.
    optimizer : {None, "COBYQA", "L-BFGS-B"}
        None chooses by :meth:`Problem.cost` against :data:`COBYQA_FROM`.

    Returns
    -------
    theta : numpy.ndarray
    info : dict
        optimizer, message, evaluations, iterations, max_gradient (projected, at θ) and converged.
    """
    method = optimizer or ("COBYQA" if problem.cost() > COBYQA_FROM else "L-BFGS-B")
    lower = problem.lower
    evals = [0]
    best = {"f": np.inf, "x": np.asarray(x0, float), "stale": 0}

    def fun(theta):
        evals[0] += 1
        return problem.deviance(theta)

    def fun_grad(theta):
        f0 = fun(theta)
        # Past the optimum L-BFGS-B's line searches chase rounding, inside one iteration (on
        # InstEval the optimum was reached after 170 evaluations and 200 more were spent there):
        # three calls in a row that lower the criterion by less than 1e-7 (logLik 5e-8, far
        # inside the 1e-4 that matters) end the search at the best point.
        far = best["f"] - f0 > 1.0
        best["stale"] = best["stale"] + 1 if best["f"] - f0 < 1e-7 else 0
        if f0 < best["f"]:
            best["f"], best["x"] = f0, np.array(theta, float)
        if best["stale"] >= 3:
            raise _Flat
        # Central differences: the criterion is smooth in θ (also through θ_diag = 0, where it
        # is even); the step balances rounding (ε·|f|/h: the criterion is ~10⁵ on InstEval, so
        # h = 1e-6 leaves 0.05 of noise and the line searches stall) against truncation (h²).
        # While a step still gains more than 1 the gradient only has to point downhill: forward
        # differences, half the evaluations.
        g = np.empty_like(theta)
        for i in range(len(theta)):
            h = 1e-4 * max(1.0, abs(theta[i]))
            e = np.zeros_like(theta)
            e[i] = h
            g[i] = ((fun(theta + e) - f0) / h if far
                    else (fun(theta + e) - fun(theta - e)) / (2 * h))
        return f0, g

    x0 = np.asarray(x0, float)
    if method == "COBYQA":
        bounds = _opt.Bounds(np.where(np.isfinite(lower), lower, -np.inf), np.inf)
        res = _opt.minimize(fun, x0, method="COBYQA", bounds=bounds, options={"maxfev": 2000})
        x, message, nit, success = res.x, str(res.message), int(res.nit), bool(res.success)
    else:
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
        try:
            res = _opt.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 500})
            x, message, nit, success = res.x, str(res.message), int(res.nit), bool(res.success)
        except _Flat:
            x, message, nit, success = best["x"], "criterion flat to 1e-7", -1, True
    # Judged by the gradient at the optimum, not the optimiser's message: with ftol this tight
    # L-BFGS-B often ends on a failed line search ("ABNORMAL") at the optimum itself, because
    # the last decrease is below the criterion's rounding.
    best["f"], best["stale"] = -np.inf, 0      # central differences for the verdict
    _, g = fun_grad(x)
    at_bound = np.isfinite(lower) & (x <= lower + 1e-10) & (g > 0)
    grad = float(np.max(np.abs(np.where(at_bound, 0.0, g)), initial=0.0))
    info = {"optimizer": method, "message": message, "evaluations": evals[0], "iterations": nit,
            "max_gradient": grad, "converged": bool(success or grad < 2e-3)}
    return x, info
