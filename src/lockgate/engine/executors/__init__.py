"""Executors decide where a ready task runs: inline, in threads, processes or on Dask.

Only :class:`LocalExecutor` exists so far; thread, process and Dask executors plug
into the same interface (see :class:`Executor`).
"""

from lockgate.engine.executors.base import Executor, TaskTimeoutError
from lockgate.engine.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "TaskTimeoutError"]
