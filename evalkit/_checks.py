"""Argument checks shared across modules, so one mistake reads the same everywhere."""

from __future__ import annotations

from .errors import SpecificationError


def check_confidence(confidence, where: str | None = None) -> float:
    """Return ``confidence`` as a float, or raise if it is not a number strictly between 0 and 1.

    >>> check_confidence(0.9)
    0.9
    >>> check_confidence(95, "pool")
    Traceback (most recent call last):
    ...
    evalkit.errors.SpecificationError: pool: confidence must lie strictly between 0 and 1, got 95; use e.g. 0.95
    """
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        prefix = f"{where}: " if where else ""
        raise SpecificationError(f"{prefix}confidence must lie strictly between 0 and 1, got "
                                 f"{confidence!r}; use e.g. 0.95")
    return float(confidence)
