"""LocalExecutor: run every task inline, in the calling thread."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from lockgate.engine.executors.base import Done, Executor

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Run each task inline, one at a time, in the calling thread (the default).

    The easiest executor to debug: a breakpoint in a task stops the whole run.
    Timeouts are soft: a task with a ``timeout`` runs in a daemon thread the loop
    gives up on at its deadline (the task is marked ``TimedOut``; the call runs on).
    """

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Done:
        """Call ``fn(*args, **kwargs)`` now.

        Returns:
            The completed future: its ``result()`` is what ``fn`` returned (or raises
            what it raised).
        """
        try:  # Done.of, spelled out: this is once per task
            return Done(fn(*args, **kwargs))
        except BaseException as exc:
            return Done(None, exc)

    def wait(self, futures: Any) -> Any:
        """The result of one future, or the list of results of a list of futures.

        Anything that is not a future comes back unchanged.

        Raises:
            BaseException: what a call raised.
        """
        if isinstance(futures, list):
            return [_result(f) for f in futures]
        return _result(futures)

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


def _result(future: Any) -> Any:
    return future.result() if isinstance(future, Done) else future
