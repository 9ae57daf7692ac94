"""Test doubles for code that uses lockgate: a fake clock and a recording executor.

``FakeClock`` makes retry delays, scheduled start times and cache expiry instant and
deterministic::

    from lockgate.testing import FakeClock

    with FakeClock() as clock:
        state = flow.run()          # retries "wait" without sleeping
        clock.advance(minutes=5)    # expire caches, reach start times

``RecordingExecutor`` runs tasks inline like :class:`LocalExecutor` and records
what was submitted, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from lockgate.core.task import Task
from lockgate.engine.executors.local import LocalExecutor
from lockgate.utilities import clock as _clock

__all__ = ["FakeClock", "RecordingExecutor"]


class FakeClock(_clock.Clock):
    """A clock that only moves when told to (or when the engine "sleeps" on it).

    Args:
        start: the initial time (naive means UTC; default 2026-01-01 00:00 UTC).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _clock.as_utc(start or datetime(2026, 1, 1, tzinfo=timezone.utc))
        self.sleeps: list[float] = []
        """Every sleep the engine asked for, in seconds, in order."""
        self._tokens: list[object] = []

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` at once, and record the request."""
        self.sleeps.append(seconds)
        if seconds > 0:
            self._now += timedelta(seconds=seconds)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move time forward by ``delta`` or ``timedelta(**kwargs)``; return the new now."""
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def __enter__(self) -> FakeClock:
        self._tokens.append(_clock.install(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _clock.uninstall(self._tokens.pop())


class RecordingExecutor(LocalExecutor):
    """A LocalExecutor that records every task whose code it runs, as ``(name, map_index)``.

    ``submitted`` lists them in submission order, so tests can assert scheduling
    order (depth-first, which tasks ran at all, how many mapped children). A task
    that never reaches its code (skipped, trigger failed, cached, paused) is not
    submitted, and neither is a mapped parent: only its children are.
    """

    def __init__(self) -> None:
        self.submitted: list[tuple[str, int | None]] = []
        self.starts = 0

    def start(self) -> Any:
        """Count the start (one per flow run) and start like a LocalExecutor."""
        self.starts += 1
        return super().start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Record ``(task name, map_index)`` for a task's code, then run it inline."""
        task = next((a for a in args if isinstance(a, Task)), None)
        if task is not None:
            context = next((a for a in args if isinstance(a, dict) and "task_name" in a), {})
            self.submitted.append((task.name, context.get("map_index")))
        return super().submit(fn, *args, **kwargs)
