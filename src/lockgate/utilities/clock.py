"""The engine's source of time.

Everything in lockgate that asks "what time is it?" or "wait until then" goes
through :func:`now` and :func:`sleep`. Both read the clock installed in the current
:mod:`contextvars` context, which is the real UTC wall clock unless a test installs a
:class:`lockgate.testing.FakeClock`. Retry delays, scheduled start times and cache
expiry can therefore be tested instantly and deterministically.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import datetime, timezone

__all__ = ["Clock", "SystemClock", "current_clock", "now", "sleep"]


class Clock:
    """Interface of a time source: timezone-aware UTC ``now()`` and ``sleep()``."""

    def now(self) -> datetime:
        """Return the current time as a timezone-aware UTC datetime."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """Block the caller for ``seconds`` of this clock's time."""
        raise NotImplementedError


class SystemClock(Clock):
    """The real clock: ``datetime.now(timezone.utc)`` and ``time.sleep``."""

    def now(self) -> datetime:
        """The wall-clock time in UTC."""
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` for positive durations."""
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
_current: ContextVar[Clock] = ContextVar("lockgate_clock", default=SYSTEM_CLOCK)


def current_clock() -> Clock:
    """Return the clock in force in this context."""
    return _current.get()


def now() -> datetime:
    """Return the current UTC time according to the clock in force."""
    return _current.get().now()


def sleep(seconds: float) -> None:
    """Sleep ``seconds`` according to the clock in force (instant on a fake clock)."""
    _current.get().sleep(seconds)


def install(clock: Clock) -> object:
    """Make ``clock`` current; returns a token for :func:`uninstall`."""
    return _current.set(clock)


def uninstall(token: object) -> None:
    """Restore the clock that was current before :func:`install` returned ``token``."""
    _current.reset(token)  # type: ignore[arg-type]


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC, reading a naive datetime as UTC.

    A naive datetime (no ``tzinfo``) is taken to be a UTC wall-clock time, as Prefect
    0.5.1 and :mod:`lockgate.schedules` read it, so ``datetime.utcnow()`` works.

    Args:
        value: the datetime to convert.

    Returns:
        A timezone-aware datetime in UTC naming the same instant.
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
