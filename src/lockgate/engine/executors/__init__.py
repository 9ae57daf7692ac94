"""Executors decide where a task's code runs: inline, in threads, processes or on Dask.

- ``LocalExecutor`` (default): inline, one at a time; soft timeouts.
- ``ThreadExecutor``: in a pool of threads; soft timeouts.
- ``ProcessExecutor``: in a pool of worker processes; hard timeouts (process killed).
- ``DaskExecutor``: on a ``dask.distributed`` cluster; hard timeouts (worker restarted).
- ``SynchronousExecutor``: inline, through dask's synchronous scheduler; soft timeouts.

Pick one per run (``flow.run(executor=ThreadExecutor(8))`` or a text form such as
``flow.run(executor="processes:4")``) or for every run with the ``LOCKGATE_EXECUTOR``
environment variable. ``ThreadExecutor``, ``ProcessExecutor``, ``DaskExecutor`` and
``SynchronousExecutor`` are imported on first use, so ``import lockgate`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.engine.executors._choose import default_executor, executor_from_spec
from lockgate.engine.executors.base import (
    Executor,
    ExecutorError,
    TaskTimeoutError,
    WorkerLostError,
)
from lockgate.engine.executors.local import LocalExecutor

if TYPE_CHECKING:
    from lockgate.engine.executors.dask import DaskExecutor
    from lockgate.engine.executors.processes import ProcessExecutor
    from lockgate.engine.executors.sync import SynchronousExecutor
    from lockgate.engine.executors.threads import ThreadExecutor

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "ProcessExecutor",
    "SynchronousExecutor",
    "TaskTimeoutError",
    "ThreadExecutor",
    "WorkerLostError",
    "default_executor",
    "executor_from_spec",
]


def __getattr__(name: str) -> Any:
    if name == "ThreadExecutor":
        from lockgate.engine.executors.threads import ThreadExecutor

        return ThreadExecutor
    if name == "ProcessExecutor":
        from lockgate.engine.executors.processes import ProcessExecutor

        return ProcessExecutor
    if name == "DaskExecutor":
        from lockgate.engine.executors.dask import DaskExecutor

        return DaskExecutor
    if name == "SynchronousExecutor":
        from lockgate.engine.executors.sync import SynchronousExecutor

        return SynchronousExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
