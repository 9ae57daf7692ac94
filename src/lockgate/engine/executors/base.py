"""The executor interface: *where* a ready task runs. The flow runner decides *what*."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import copy_context
from typing import Any

__all__ = ["Executor", "TaskTimeoutError"]


class TaskTimeoutError(TimeoutError):
    """Raised by an executor when a task runs past its ``timeout``.

    A distinct class, so that a ``TimeoutError`` raised by the task's own code (a
    socket timeout, say) stays an ordinary failure rather than a ``TimedOut`` state.
    """


class Executor:
    """Base class of executors.

    An executor offers ``start()`` (a context manager around a run), ``submit``,
    ``map`` and ``wait``. The flow runner's scheduling loop hands it one ready task
    at a time (up to ``capacity`` at once) and collects finished ones with
    :meth:`as_completed`. Executors must pickle (they travel with task runners).
    """

    capacity: int = 1
    """How many tasks the scheduling loop may have in flight at once."""

    @contextmanager
    def start(self) -> Iterator[None]:
        """Set up whatever the executor needs for one flow run, and tear it down."""
        yield

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Start ``fn(*args, **kwargs)`` and return a future (or the result itself)."""
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], *args: Sequence[Any]) -> list[Any]:
        """Submit ``fn`` once per zipped item of ``args``; return the futures."""
        return [self.submit(fn, *items) for items in zip(*args)]

    def wait(self, futures: Any) -> Any:
        """Block until ``futures`` (one, or a list) are done; return their results."""
        raise NotImplementedError

    def as_completed(self, futures: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(position, result)`` for the futures as they finish (at least one)."""
        for position, future in enumerate(futures):
            yield position, self.wait(future)

    def timeout_handler(
        self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Call ``fn`` and raise ``TimeoutError`` if it runs longer than ``timeout`` seconds.

        This default is a *soft* timeout: ``fn`` runs in a daemon thread that is
        abandoned (it keeps running until it returns) when time is up. Executors
        that run tasks in processes override this with a hard timeout.

        Raises:
            TaskTimeoutError: when ``fn`` did not return in time.
        """
        if timeout is None:
            return fn(*args, **kwargs)
        outcome: list[Any] = []

        def target() -> None:
            try:
                outcome.append((True, fn(*args, **kwargs)))
            except BaseException as exc:  # delivered to the caller below
                outcome.append((False, exc))

        thread = threading.Thread(
            target=copy_context().run, args=(target,), daemon=True, name="lockgate-timeout"
        )
        thread.start()
        thread.join(timeout)
        if thread.is_alive() or not outcome:
            raise TaskTimeoutError(f"Task did not finish within its timeout of {timeout} s.")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value
