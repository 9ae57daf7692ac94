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

from lockgate.engine.executors.base import Executor
from lockgate.engine.executors.local import LocalExecutor

__all__ = ["SynchronousExecutor"]


class SynchronousExecutor(Executor):
    """Run each task's code in the calling thread, one at a time, through ``dask``.

    :meth:`submit` builds a ``dask.delayed`` call and :meth:`wait` computes it with
    dask's ``"synchronous"`` scheduler. Runs give the same states as with
    :class:`~lockgate.engine.executors.LocalExecutor`, which does the same work
    without dask; this executor is for code that expects dask objects from
    ``submit`` (as Prefect 0.5.1's did). Timeouts are soft.
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

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A ``dask.delayed`` call of ``fn(*args, **kwargs)``; nothing runs until :meth:`wait`.

        Every call is its own (``pure=False``): submitting the same call twice runs it
        twice.

        Returns:
            The ``dask.delayed`` object.
        """
        return delayed(fn, pure=False)(*args, **kwargs)

    def wait(self, futures: Any) -> Any:
        """Compute ``futures`` (one delayed call, or any structure holding some) here.

        Values that are not dask objects come back unchanged.

        Returns:
            The same structure, with every delayed call replaced by its result.

        Raises:
            Exception: whatever a call raised.
        """
        return dask.base.compute(futures, scheduler="synchronous")[0]  # type: ignore[no-untyped-call]

    # Tasks run in this thread, as on the LocalExecutor: a plain queue is shared.
    queue = LocalExecutor.queue
