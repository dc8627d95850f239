"""Tests stated in words: change in a group, the difference in change between groups, and a
Johnson–Neyman region of a continuous moderator.

A power simulation tests a term (``"weeks:mode[T.one_to_one]"``), a contrast ``{term: weight}``,
or one of these, given as a dict with the package's vocabulary:

* ``{"change": (0, 24), "at": {"mode": "one_to_one"}}`` — the model-implied change in the
  outcome from week 0 to week 24 among one-to-one mothers (without ``at``: averaged over the
  groups with equal weights, as :func:`evalkit.change_from_baseline`);
* ``{"change": (0, 24), "between": ("one_to_one", "group")}`` — the difference in that change,
  one-to-one minus group;
* ``{"johnson_neyman": "isolation", "change": (0, 24), "between": ("one_to_one", "group")}`` —
  the region of isolation values where that difference is significant (as
  :func:`evalkit.johnson_neyman` finds it): a study "detects" when the region exists within
  ``within`` (default: the range of isolation among the study's mothers), or, with
  ``"covers": 1.0``, when it includes isolation 1 SD above the mean. Without ``change`` the
  effect is the slope per unit of time.

``at`` may also fix a covariate (``{"isolation": 1}``; covariates are standard normal, so values
are in standard deviations; those not given are at their mean, 0). Change and difference tests
resolve to a contrast of the fixed effects, built from the model's own rows (formulaic) at the
stated times and levels; a Johnson–Neyman test also keeps how that contrast moves per unit of
the moderator.

Examples
--------
>>> from evalkit.models.power.simulation import Problem
>>> problem = Problem.build(fixed="weeks * mode", random="weeks",
...     effects={"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0,
...              "weeks:mode[T.one_to_one]": 0.1},
...     variance={"intercept_sd": 6, "slope_sd": 0.15, "residual_sd": 4},
...     waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5},
...     test={"change": (0, 24), "between": ("one_to_one", "group")})
>>> problem.test.weights
(('weeks:mode[T.one_to_one]', 24.0),)
>>> round(problem.true_value(), 6)
2.4
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import SpecificationError

__all__ = ["is_worded", "resolve", "Region"]

#: The keys of a test stated in words.
KEYS = ("change", "at", "between", "johnson_neyman", "covers", "within")


def is_worded(test) -> bool:
    """Whether ``test`` is a test in words (a dict with ``change`` or ``johnson_neyman``)."""
    return isinstance(test, dict) and any(k in test for k in ("change", "johnson_neyman"))


@dataclass(frozen=True)
class Region:
    """A Johnson–Neyman test: the moderator, how the tested contrast moves per unit of it
    (``slope``, ((term, weight), …)), the value the contrast is at (``origin``), where the region
    must be (``covers`` a value, or exist ``within`` a range; None: the study's observed range)
    and its level."""

    moderator: str
    slope: tuple
    origin: float
    covers: float | None
    within: tuple | None
    alpha: float

    def describe(self) -> dict:
        return {"moderator": self.moderator, "slope": [list(w) for w in self.slope],
                "origin": self.origin, "covers": self.covers,
                "within": list(self.within) if self.within else None, "alpha": self.alpha}


def resolve(test: dict, *, design, tmpl, alpha: float) -> tuple:
    """``(weights, label, region)`` of a test in words, against the model's terms."""
    unknown = [k for k in test if k not in KEYS]
    if unknown:
        hints = [difflib.get_close_matches(str(k), KEYS, n=1) for k in unknown]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise SpecificationError(f"test has unknown key(s) {unknown}{hint}; a test in words takes "
                                 f"{', '.join(KEYS)}")
    time = design.time
    start, end = _change(test.get("change"), time, required="johnson_neyman" not in test)
    at = _at(test.get("at"), design)
    moderator = test.get("johnson_neyman")
    if moderator is not None and (moderator not in design.covariates or moderator in at):
        raise SpecificationError(f"test johnson_neyman={moderator!r}: name a continuous moderator "
                                 f"listed in covariates= ({list(design.covariates) or 'none'}) "
                                 "and not fixed in at=")
    between = _between(test.get("between"), design, at)

    def change(values: dict) -> np.ndarray:
        return _row(tmpl, design, {**values, time: end}) - _row(tmpl, design,
                                                                {**values, time: start})

    def effect(values: dict) -> np.ndarray:
        if between is None:
            return change(values)
        return change({**values, design.by: between[0]}) - change({**values,
                                                                   design.by: between[1]})

    words = _words(time, start, end, at, between, design.by, test.get("change") is None)
    if moderator is None:
        for key in ("covers", "within"):
            if key in test:
                raise SpecificationError(f"test {key}= belongs to a Johnson–Neyman test: add "
                                         "johnson_neyman='<moderator>'")
        return _weights(effect(at), tmpl.fixed_names), words, None
    covers = _value(test.get("covers"), "covers")
    within = _range(test.get("within"))
    origin = covers if covers is not None else 0.0
    L = effect({**at, moderator: origin})
    slope = effect({**at, moderator: origin + 1.0}) - L
    if not np.any(np.abs(slope) > 1e-12):
        raise SpecificationError(f"test johnson_neyman={moderator!r}: the tested effect does not "
                                 f"depend on {moderator} in fixed=; add its interaction (e.g. "
                                 f"'{time} * {moderator}')")
    where = (f"covers {moderator} = {covers:g}" if covers is not None else
             f"exists for {moderator} in {within}" if within else
             f"exists within the observed {moderator}")
    label = f"Johnson–Neyman region of {words}: {where}"
    region = Region(moderator=str(moderator), slope=_weights(slope, tmpl.fixed_names),
                    origin=float(origin), covers=covers, within=within, alpha=float(alpha))
    return _weights(L, tmpl.fixed_names), label, region


def _row(tmpl, design, values: dict) -> np.ndarray:
    """The model row at ``values``, averaged with equal weights over the levels of ``by`` when
    they are not given (emmeans' reference grid); covariates not given are at their mean, 0."""
    from ..design import new_matrices
    from .design import SUBJECT

    levels = [lv for lv, _ in design.allocation]
    grid = [dict(values)] if design.by is None or design.by in values else \
        [{**values, design.by: lv} for lv in levels]
    frame = pd.DataFrame(grid)
    for c in design.covariates:
        if c not in frame:
            frame[c] = 0.0
    frame[SUBJECT] = tmpl.frame[SUBJECT].iloc[0]     # the random part is not used
    X, _, _ = new_matrices(tmpl.model, frame)
    return X.mean(axis=0)


def _weights(L: np.ndarray, names: list) -> tuple:
    # rows built at different times differ by rounding in terms the test does not involve
    return tuple((t, float(w)) for t, w in zip(names, L) if abs(w) > 1e-12)


def _pair(value, key: str, hint: str) -> tuple:
    """Two finite numbers given as ``key`` of the test."""
    try:
        first, second = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecificationError(f"test {key}={value!r}: give {hint}") from None
    if not np.isfinite([first, second]).all():
        raise SpecificationError(f"test {key}={value!r}: give finite numbers, {hint}")
    return first, second


def _change(value, time: str, *, required: bool) -> tuple:
    if value is None:
        if required:
            raise SpecificationError(f"test needs change=(start, end) in {time}, e.g. "
                                     "{'change': (0, 24)}")
        return 0.0, 1.0           # the slope per unit of time, as johnson_neyman's change=None
    start, end = _pair(value, "change", f"(start, end) in {time}, e.g. (0, 24)")
    if start == end:
        raise SpecificationError(f"test change={value!r}: give two different times in {time}, "
                                 "e.g. (0, 24)")
    return start, end


def _at(value, design) -> dict:
    at = dict(value or {})
    levels = [lv for lv, _ in design.allocation]
    for key, v in at.items():
        if key == design.by and design.by is not None:
            if str(v) not in levels:
                raise SpecificationError(f"test at={{{key!r}: {v!r}}}: {v!r} is not a level of "
                                         f"the allocation ({', '.join(levels)})")
            at[key] = str(v)
        elif key in design.covariates:
            at[key] = _value(v, f"at {key}")
        else:
            known = [k for k in (design.by, *design.covariates) if k]
            raise SpecificationError(f"test at names {key!r}; give the grouping column or a "
                                     f"covariate ({', '.join(known) or 'none'})")
    return at


def _between(value, design, at: dict):
    if value is None:
        return None
    levels = [lv for lv, _ in design.allocation]
    pair = [str(v) for v in value] if isinstance(value, (list, tuple)) else []
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(levels):
        raise SpecificationError(f"test between={value!r}: give two levels of the allocation, "
                                 f"the first minus the second, e.g. {tuple(levels[::-1][:2])}")
    if design.by in at:
        raise SpecificationError(f"test: between= compares levels of {design.by!r}; do not also "
                                 "fix it in at=")
    return tuple(pair)


def _value(value, what: str):
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SpecificationError(f"test {what}={value!r}: give a number (standard deviations "
                                 "from the mean)") from None
    if not np.isfinite(out):
        raise SpecificationError(f"test {what}={value!r}: give a finite number")
    return out


def _range(value):
    if value is None:
        return None
    low, high = _pair(value, "within", "(low, high) moderator values, e.g. (-2, 2)")
    if not low < high:
        raise SpecificationError(f"test within={value!r}: low must be below high, e.g. (-2, 2)")
    return (low, high)


def _words(time, start, end, at, between, by, slope: bool) -> str:
    what = f"slope per unit of {time}" if slope else f"change from {time} {start:g} to {end:g}"
    if between:
        what = f"difference in {what} between {by} {between[0]} and {between[1]}"
    if at:
        what += " at " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in at.items())
    return what
