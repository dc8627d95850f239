"""Statistical models: linear mixed models (fast engine and statsmodels), GEE, Satterthwaite df."""

from .mixed import ENGINES, MixedModel, MixedResult, fit_mixed, lrt

__all__ = ["fit_mixed", "lrt", "MixedModel", "MixedResult", "ENGINES"]
