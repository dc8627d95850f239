"""Power and sample size of mixed-model tests by simulation (``ek.power``, ``ek.power_curve``).

Modules, one concept each:

* :mod:`.model` — the data-generating truth (effects, variance components; or a pilot fit);
* :mod:`.design` — waves, allocation to groups, drop-out, and one simulated data set;
* :mod:`.contrast` — the term or contrast tested, and its extraction from one fast refit;
* :mod:`.simulation` — the problem and a block of simulated studies, each with its own seed;
* :mod:`.backends` — in-process, joblib and Dask execution of the blocks;
* :mod:`.checkpoint` — the Parquet file a stopped run resumes from;
* :mod:`.result` — power with Monte Carlo intervals, bias, coverage, detectable differences;
* :mod:`.api` — :func:`power` and :func:`power_curve`;
* :mod:`.config` and :mod:`.report` — the ``power:`` section of a plan and the design report
  written by ``evalkit power PLAN``.
"""

from __future__ import annotations

from .api import power, power_curve
from .result import PowerResult

__all__ = ["power", "power_curve", "PowerResult"]
