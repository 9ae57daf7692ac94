"""ThreadExecutor: run tasks' code in a pool of threads in this process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from lockgate.engine.executors.base import Executor

__all__ = ["ThreadExecutor"]


class ThreadExecutor(Executor):
    """Run up to ``max_workers`` tasks at once, each in a thread of this process.

    Good for tasks that wait (I/O, HTTP, databases, ``time.sleep``): no pickling, and
    tasks share memory. CPU-bound Python code does not speed up (the GIL).
    Timeouts are *soft*: a task past its timeout is marked ``TimedOut`` and abandoned;
    its thread runs on until the code returns.

    Args:
        max_workers: how many threads (default: ``min(32, cpu count + 4)``, as the
            standard library's thread pool).

    Raises:
        ValueError: when ``max_workers`` is not a positive integer.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(
                f"ThreadExecutor(max_workers={max_workers!r}): use a positive integer, "
                "or None for the default."
            )
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        # One call per thread: a queued call would already be on its timeout clock.
        self.capacity = self.max_workers
        self._pool: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self.max_workers})"

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "capacity": self.capacity, "_pool": None}

    @contextmanager
    def start(self) -> Iterator[None]:
        """Start the thread pool for one run; on exit, stop waiting for abandoned calls."""
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="lockgate-task")
        self._pool = pool
        try:
            yield
        finally:
            self._pool = None
            # Timed-out calls are abandoned: do not wait for them, but drop queued ones.
            pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a pool thread (inline-started pool if none)."""
        if self._pool is None:
            raise RuntimeError("ThreadExecutor.submit() needs `with executor.start():` first.")
        return self._pool.submit(fn, *args, **kwargs)

    def wait(self, futures: Any) -> Any:
        """The result of one future, or the list of results of a list of futures."""
        if isinstance(futures, list):
            return [f.result() if isinstance(f, Future) else f for f in futures]
        return futures.result() if isinstance(futures, Future) else futures
