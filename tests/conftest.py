"""Fixtures shared by the whole test suite: every executor, and a real Dask cluster.

``any_executor`` gives a fresh executor of each kind (one test run per kind), so a
behavioural test written once checks that every executor gives the same states.
Executors whose module does not import (not written yet, or a missing optional
dependency) are skipped with the import error as the reason.
"""

from __future__ import annotations

import os

# The suite never reads the developer's own ~/.lockgate/config.toml (set before lockgate
# is first imported, which is when settings are loaded).
os.environ["LOCKGATE__USER_CONFIG_PATH"] = ""

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.engine.executors.base import Executor
from lockgate.engine.executors.local import LocalExecutor

EXECUTOR_IDS = ["local", "threads", "processes", "dask"]
"""The ``any_executor`` parameters, in order: the ids tests see (``test_x[dask]``)."""


@pytest.fixture(scope="session")
def dask_cluster_address() -> Iterator[str]:
    """Start a real ``distributed.LocalCluster`` (2 worker processes, 1 thread each).

    On loopback, without a dashboard, and with ``allowed-failures`` at 0 so a task
    whose worker dies is reported at once instead of being rerun on another worker.
    Shared by the whole session (per xdist worker); yields the scheduler's address.
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
            # The scheduler's small HTTP server on a free port, not 8787: two xdist
            # workers each start a cluster, and must not fight over the port.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def _import_executor(module: str, name: str) -> Any:
    """``module.name``, or skip the test when the module does not import (yet)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except Exception as exc:  # ImportError, or a module being written (SyntaxError, ...)
        pytest.skip(f"{module}.{name} is not available: {type(exc).__name__}: {exc}")


@pytest.fixture(params=EXECUTOR_IDS)
def any_executor(request: pytest.FixtureRequest) -> Executor:
    """A fresh executor of each kind: local, threads (4), processes (2), dask (cluster)."""
    kind = request.param
    executor: Executor
    if kind == "local":
        executor = LocalExecutor()
    elif kind == "threads":
        cls = _import_executor("lockgate.engine.executors.threads", "ThreadExecutor")
        executor = cls(max_workers=4)
    elif kind == "processes":
        cls = _import_executor("lockgate.engine.executors.processes", "ProcessExecutor")
        executor = cls(max_workers=2)
    else:
        assert kind == "dask", kind
        cls = _import_executor("lockgate.engine.executors.dask", "DaskExecutor")
        executor = cls(address=request.getfixturevalue("dask_cluster_address"))
    return executor
