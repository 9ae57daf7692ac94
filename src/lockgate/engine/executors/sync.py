"""SynchronousExecutor: run tasks' code with dask's synchronous scheduler.

``dask`` is imported when this module is (on first use of ``SynchronousExecutor``),
never by ``import lockgate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dask
import dask.base
from dask.delayed import delayed

from lockgate.engine.executors.base import Done, Executor
from lockgate.engine.executors.local import LocalExecutor

__all__ = ["DelayedDone", "SynchronousExecutor"]


class DelayedDone(Done):
    """A completed future that can also be read as a computed ``dask.delayed`` call."""

    __slots__ = ()

    def compute(self) -> Any:
        """The call's result, as ``dask.delayed(...).compute()`` gives it.

        Raises:
            BaseException: what the call raised.
        """
        return self.result()


def _compute(value: Any) -> Any:
    return dask.base.compute(value, scheduler="synchronous")[0]  # type: ignore[no-untyped-call]


class SynchronousExecutor(Executor):
    """Run each task's code in the calling thread, one at a time, through ``dask``.

    :meth:`submit` computes a ``dask.delayed`` call with dask's ``"synchronous"``
    scheduler at once and returns the completed future (whose ``compute()``, as a
    delayed object's, gives the result). Runs give the same states as with
    :class:`~lockgate.engine.executors.LocalExecutor`, which does the same work
    without dask; this executor is for code that runs under dask's scheduler.
    Timeouts are soft.
    """

    def __repr__(self) -> str:
        return "SynchronousExecutor()"

    @contextmanager
    def start(self) -> Iterator[Any]:
        """Make ``"synchronous"`` dask's scheduler for the block; yield dask's config setter.

        Yields:
            The ``dask.config.set`` object in force.
        """
        with dask.config.set(scheduler="synchronous") as config:
            yield config

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> DelayedDone:
        """Compute ``fn(*args, **kwargs)`` now, as a ``dask.delayed`` call, in this thread.

        Every call is its own (``pure=False``): submitting the same call twice runs it
        twice.

        Returns:
            The completed future.
        """
        return DelayedDone.of(_compute, delayed(fn, pure=False)(*args, **kwargs))

    def wait(self, futures: Any) -> Any:
        """The results of ``futures`` (one, or any structure holding some), computed here.

        Completed futures give their results; ``dask.delayed`` objects are computed
        with the synchronous scheduler; other values come back unchanged.

        Returns:
            The same structure, with every future replaced by its result.

        Raises:
            BaseException: whatever a call raised.
        """
        if isinstance(futures, Done):
            return futures.result()
        if isinstance(futures, list):
            futures = [f.result() if isinstance(f, Done) else f for f in futures]
        return _compute(futures)

    # Tasks run in this thread, as on the LocalExecutor: a plain queue is shared.
    queue = LocalExecutor.queue
