"""Errors and warnings raised by evalkit.

Every error is an :class:`EvalkitError` and also subclasses the matching built-in exception, so
``except ValueError`` in user code keeps working. Messages say *what* went wrong, *where*, and *how
to fix it*, on one line.

Warnings are specific classes (never bare ``UserWarning``) so tests can check for them with
``pytest.warns`` and reports can list them.
"""

from __future__ import annotations

__all__ = [
    "EvalkitError",
    "DictionaryError",
    "DataReadError",
    "DataValidationError",
    "UnknownNameError",
    "SpecificationError",
    "ScoringError",
    "PlanError",
    "FitError",
    "AuditFailed",
    "EvalkitWarning",
    "DataQualityWarning",
    "SmallGroupWarning",
    "ProratedScoreWarning",
    "SafeguardingWarning",
    "ConvergenceWarning",
    "SingularFitWarning",
    "EvalkitDeprecationWarning",
]


class EvalkitError(Exception):
    """Base class of all evalkit errors."""


class DictionaryError(EvalkitError, ValueError):
    """The data dictionary YAML is malformed.

    ``problems`` holds one ``(key_path, line, message)`` tuple per mistake so that all of them can be
    shown at once.
    """

    def __init__(self, message: str, problems: list[tuple[str, int | None, str]] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class DataReadError(EvalkitError, OSError):
    """A data file could not be read (missing, unsupported format, or unparseable)."""


class DataValidationError(EvalkitError, ValueError):
    """Data do not satisfy the data dictionary; ``report`` holds the full ValidationReport."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class UnknownNameError(EvalkitError, KeyError):
    """A name (instrument, dataset, variable, engine) is not registered; the message lists what is."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class SpecificationError(EvalkitError, ValueError):
    """A function was called with arguments that cannot work together."""


class PlanError(EvalkitError, ValueError):
    """An analysis plan is malformed or refers to something that does not exist.

    ``problems`` lists ``(key_path, line, message)`` for every mistake found, so one run shows them all.
    """

    def __init__(self, message: str, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class ScoringError(EvalkitError, ValueError):
    """Item values that cannot be scored (out of range or not numbers); the message names rows and items."""


class FitError(EvalkitError, RuntimeError):
    """A model could not be fitted (the message names the model and what the backend said)."""


class AuditFailed(EvalkitError):
    """The auditor could work out a hidden number from the report: it is marked not for publication.

    ``result`` holds the run's :class:`~evalkit.pipeline.RunResult` (the report was written).
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class EvalkitWarning(UserWarning):
    """Base class of all evalkit warnings."""


class DataQualityWarning(EvalkitWarning):
    """Data were usable but something about them deserves the analyst's attention."""


class SmallGroupWarning(EvalkitWarning):
    """A group is too small for a stable estimate or for publication."""


class ProratedScoreWarning(EvalkitWarning):
    """Some scores were prorated from incomplete items under the instrument's missing-item rule."""


class SafeguardingWarning(EvalkitWarning):
    """A safeguarding flag was raised (e.g. EPDS item 10 > 0): act under the safeguarding procedure."""


class ConvergenceWarning(EvalkitWarning):
    """A model's optimiser did not report convergence: estimates may not be at the optimum."""


class SingularFitWarning(EvalkitWarning):
    """A random-effect variance is 0 or a correlation ±1: the random-effects structure is too rich."""


class EvalkitDeprecationWarning(EvalkitWarning, DeprecationWarning):
    """An old name or form of an argument was used: it still works for one release; the message
    names the replacement (see :mod:`evalkit._vocabulary`)."""
