"""evalkit: longitudinal outcome evaluation of community programmes.

Score validated questionnaires, validate data against a data dictionary, build a longitudinal cohort
frame, fit mixed and moderation models that estimate effects by context, and write impact and
technical reports.

Heavy backends load lazily, so ``import evalkit`` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from . import instruments
from .dictionary import DataDictionary
from ._result import Result
from .errors import *  # noqa: F403  (every class in errors.__all__ is public here)
from .errors import __all__ as _errors

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "read_data": "evalkit.validation",
    "validate": "evalkit.validation",
    "ValidationReport": "evalkit.validation",
    "build_cohort": "evalkit.cohort",
    "to_wide": "evalkit.cohort",
    "to_long": "evalkit.cohort",
    "simulate_cohort": "evalkit.simulate",
    "SimulatedCohort": "evalkit.simulate",
    "score": "evalkit.scoring",
    "score_dictionary": "evalkit.scoring",
    "reliable_change": "evalkit.change",
    "change_summary": "evalkit.change",
    "internal_consistency": "evalkit.psychometrics",
    "item_statistics": "evalkit.psychometrics",
    "floor_ceiling": "evalkit.psychometrics",
    "fit_mixed": "evalkit.models.mixed",
    "lrt": "evalkit.models.mixed",
    "fit_gee": "evalkit.models.gee",
    "marginal_means": "evalkit.models.moderation",
    "change_from_baseline": "evalkit.models.moderation",
    "pairwise": "evalkit.models.moderation",
    "conditional_effects": "evalkit.models.moderation",
    "interaction_test": "evalkit.models.moderation",
    "johnson_neyman": "evalkit.models.moderation",
    "context_scan": "evalkit.models.context",
    "forest_plot": "evalkit.models.context",
    "mediation": "evalkit.models.mediation",
    "moderated_mediation": "evalkit.models.mediation",
    "kaplan_meier": "evalkit.models.survival",
    "logrank_test": "evalkit.models.survival",
    "fit_cox": "evalkit.models.survival",
    "check_proportional_hazards": "evalkit.models.survival",
    "pool": "evalkit.models.pooling",
    "pool_fits": "evalkit.models.pooling",
    "missingness_patterns": "evalkit.attrition",
    "plot_missingness": "evalkit.attrition",
    "compare_completers": "evalkit.attrition",
    "attrition_model": "evalkit.attrition",
    "participant_flow": "evalkit.attrition",
    "sessions_summary": "evalkit.dose",
    "dose_response": "evalkit.dose",
    "AnalysisPlan": "evalkit.plan",
    "load_plan": "evalkit.plan",
    "run_plan": "evalkit.pipeline",
    "multiple_imputation": "evalkit.models.missing",
    "fit_imputed": "evalkit.models.missing",
    "tipping_point": "evalkit.models.missing",
    "DisclosureControl": "evalkit.report.disclosure",
    "prepost": "evalkit.pre_post",
    "ancova": "evalkit.pre_post",
    "power": "evalkit.models.power",
    "power_curve": "evalkit.models.power",
    "PowerResult": "evalkit.models.power",
}

__all__ = [
    "DataDictionary", "example_dictionary_path", "__version__", "instruments", "Result",
    *_errors,       # every error and warning class of evalkit.errors
    *_LAZY,
]


def example_dictionary_path() -> Path:
    """Path of the bundled data dictionary describing the example (simulated) cohort.

    Examples
    --------
    >>> import evalkit as ek
    >>> ek.example_dictionary_path().name
    'data_dictionary.yaml'
    >>> [w.name for w in ek.DataDictionary.from_yaml(ek.example_dictionary_path()).waves]
    ['baseline', 'mid', 'end', 'follow_up']
    """
    return Path(__file__).parent / "data" / "data_dictionary.yaml"


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
