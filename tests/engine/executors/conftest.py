"""A real ``distributed.LocalCluster`` on loopback, shared by a test session.

Self-contained, so it can move to a conftest higher up: it needs only dask.distributed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_cluster_address() -> Iterator[str]:
    """The scheduler address of a LocalCluster: 2 worker processes of 1 thread, on loopback.

    Its scheduler has ``allowed-failures`` 0, as the clusters ``DaskExecutor`` starts:
    a call whose worker dies fails at once. Tests that kill or restart workers wait for
    the cluster to have its 2 workers again (``Client.wait_for_workers``).
    """
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.WARNING,
            # The scheduler's small HTTP server on a free port, not 8787 (no warning).
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
