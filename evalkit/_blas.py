"""One thread for BLAS while evalkit's engines run many thin products.

The mixed-model engines and chained-equation imputation multiply thin matrices (p × 10⁵ by
10⁵ × p) or solve thousands of small systems: BLAS threads only add synchronisation there, and
on a busy machine they made fits several times (imputation 30 times) slower.
"""

from __future__ import annotations

__all__ = ["single_threaded_blas"]

_CONTROLLER = None


def single_threaded_blas():
    """A context limiting BLAS to one thread; the library scan (~10 ms) is done once per process.

    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
