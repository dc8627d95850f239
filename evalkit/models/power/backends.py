"""Where the simulated studies run: in this process, on local cores (joblib), or on Dask.

The work is cut into blocks of studies of one size (:func:`blocks`); each backend runs
:func:`evalkit.models.power.simulation.run_block` on them and yields each block's table as it
finishes, in whatever order that is. Results do not depend on the backend: every study carries its
own seed (:mod:`evalkit.models.power.simulation`), and the caller sorts the studies at the end.

* in-process (the default): no start-up cost; best below a few thousand fits;
* ``n_jobs=k``: joblib's process pool (loky) on k local cores (``-1``: all of them);
* ``scheduler="tcp://host:8786"`` or a ``distributed.Client``: a Dask cluster. A client made here
  from an address is closed at the end; a client passed in is left open for the caller.

Examples
--------
>>> from evalkit.models.power.backends import blocks
>>> blocks([40, 80], [0, 1, 2], size=2)
[(40, [0, 1]), (40, [2]), (80, [0, 1]), (80, [2])]
"""

from __future__ import annotations

from ...errors import SpecificationError
from .simulation import run_block

__all__ = ["blocks", "run_blocks", "backend_name"]


def blocks(sizes, todo, *, size: int = 25) -> list:
    """``(n, [study numbers])`` blocks of at most ``size`` studies; ``todo`` is a list of study
    numbers for every size, or a ``{n: [study numbers]}`` mapping."""
    out = []
    for n in sizes:
        sims = list(todo[n] if isinstance(todo, dict) else todo)
        out.extend((n, sims[i:i + size]) for i in range(0, len(sims), size))
    return out


def backend_name(*, n_jobs=None, scheduler=None) -> str:
    """``"in-process"``, ``"joblib"`` or ``"dask"`` for these options (refusing both)."""
    if scheduler is not None and n_jobs not in (None, 1):
        raise SpecificationError("give n_jobs= (local cores through joblib) or scheduler= (a Dask "
                                 "cluster), not both")
    if scheduler is not None:
        return "dask"
    if n_jobs not in (None, 1):
        if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise SpecificationError(f"n_jobs={n_jobs!r}: give a number of cores (2, 4…) or -1 for "
                                     "all of them")
        return "joblib"
    return "in-process"


def run_blocks(problem, work: list, seed, *, n_jobs=None, scheduler=None):
    """Yield each block's table as it finishes, on the chosen backend."""
    kind = backend_name(n_jobs=n_jobs, scheduler=scheduler)
    if not work:
        return
    if kind == "in-process":
        for n, sims in work:
            yield run_block(problem, n, sims, seed)
    elif kind == "joblib":
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(delayed(run_block)(problem, n, sims, seed) for n, sims in work)
    else:
        yield from _dask(problem, work, seed, scheduler)


def _dask(problem, work: list, seed, scheduler):
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise SpecificationError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}); start "
                                 "it (dask scheduler) or check the address, e.g. "
                                 "tcp://host:8786") from None
    try:
        # the problem is sent once and shared by every task (it carries no large arrays anyway)
        shared = client.scatter(problem, broadcast=True)
        futures = [client.submit(run_block, shared, n, sims, seed, pure=False) for n, sims in work]
        for future in as_completed(futures):
            yield future.result()
            future.release()
    finally:
        if own:
            client.close()
