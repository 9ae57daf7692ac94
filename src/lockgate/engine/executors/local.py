"""LocalExecutor: run every task inline, in the calling thread."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from lockgate.engine.executors.base import Executor

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Run each task inline, one at a time, in the calling thread (the default).

    The easiest executor to debug: a breakpoint in a task stops the whole run.
    Timeouts are soft: the task is marked ``TimedOut`` and its call is abandoned in a
    daemon thread.
    """

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` now and return its result (already "done")."""
        return fn(*args, **kwargs)

    def wait(self, futures: Any) -> Any:
        """Results are computed at submit time, so return them unchanged."""
        return futures

    def queue(self, maxsize: int = 0) -> queue.Queue[Any]:
        """A ``queue.Queue`` (tasks run in this thread, so a plain queue is shared).

        Args:
            maxsize: the most items it holds; 0 means no limit.

        Returns:
            A new queue.
        """
        return queue.Queue(maxsize=maxsize)

    def __repr__(self) -> str:
        return "LocalExecutor()"
