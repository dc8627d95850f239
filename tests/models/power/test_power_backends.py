"""The same seed gives identical studies in-process, on joblib's process pool and on a real Dask
LocalCluster whose workers are separate processes."""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import SpecificationError
from evalkit.models.power import api as power_api

from .test_power_api import DESIGN

RUN = dict(DESIGN, dropout=[0, 0.1, 0.15, 0.25], sizes=[30, 50], nsim=10, seed=4, progress=False)


@pytest.fixture()
def small_blocks(monkeypatch):
    # several blocks per size, so workers finish them out of order
    monkeypatch.setattr(power_api, "BLOCK", 3)


def test_blocks_in_any_order_and_grouping_give_the_same_studies():
    # what makes every backend agree: a study depends on its seed only, not on its block or order
    from evalkit.models.power.simulation import Problem, run_block

    problem = Problem.build(**DESIGN, dropout=[0, 0.1, 0.15, 0.25])
    ordered = run_block(problem, 30, range(6), 4)
    shuffled = pd.concat([run_block(problem, 30, [5, 2], 4), run_block(problem, 30, [0], 4),
                          run_block(problem, 30, [4, 1, 3], 4)]).sort_values("sim")
    pd.testing.assert_frame_equal(shuffled.reset_index(drop=True), ordered)


@pytest.mark.slow      # ~10 s on a loaded 2-core machine: starting loky workers imports evalkit
def test_joblib_gives_the_in_process_table(small_blocks):
    local = ek.power_curve(**RUN)
    pool = ek.power_curve(**RUN, n_jobs=2)
    assert pool.backend == "joblib" and local.backend == "in-process"
    pd.testing.assert_frame_equal(pool.raw, local.raw)
    pd.testing.assert_frame_equal(pool.table, local.table)


@pytest.mark.slow      # ~11 s: cluster start-up and evalkit imported in each worker process
def test_dask_local_cluster_gives_the_in_process_table(small_blocks):
    distributed = pytest.importorskip("distributed")
    local = ek.power_curve(**RUN)
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            on_client = ek.power_curve(**RUN, scheduler=client)
            assert client.status == "running"           # a client passed in is left open
        on_address = ek.power_curve(**RUN, scheduler=cluster.scheduler_address)
    assert on_client.backend == "dask"
    for other in (on_client, on_address):
        pd.testing.assert_frame_equal(other.raw, local.raw)
        pd.testing.assert_frame_equal(other.table, local.table)


@pytest.mark.parametrize("options, message", [
    ({"n_jobs": 2, "scheduler": "tcp://127.0.0.1:8786"}, "not both"),
    ({"n_jobs": 0}, "number of cores"),
])
def test_backend_options_are_checked(options, message):
    with pytest.raises(SpecificationError, match=message):
        ek.power_curve(**RUN, **options)
