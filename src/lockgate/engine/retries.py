"""Retry delays beyond a fixed ``timedelta``."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Protocol

__all__ = ["ExponentialBackoff", "RetryDelay", "delay_for"]


class RetryDelay(Protocol):
    """Anything with ``delay_for(run_count) -> timedelta`` can be a ``retry_delay``."""

    def delay_for(self, run_count: int) -> timedelta:
        """The wait before the retry that follows run number ``run_count``."""
        ...


class ExponentialBackoff:
    """Wait ``base * factor ** (run_count - 1)``, capped at ``max_delay``, with jitter.

    Example: ``Task(max_retries=5, retry_delay=ExponentialBackoff(timedelta(seconds=1),
    max_delay=timedelta(minutes=1), jitter=0.2))`` waits about 1 s, 2 s, 4 s, 8 s, 16 s.

    Args:
        base: the first delay.
        factor: how much each delay grows.
        max_delay: the longest delay (before jitter); None for no cap.
        jitter: a fraction in [0, 1]; each delay is scaled by a random factor in
            ``[1 - jitter, 1 + jitter]`` so that many failing tasks do not retry at once.
        rng: the random source (seed one for reproducible delays).

    Raises:
        ValueError: for a negative base, a factor below 1 or a jitter outside [0, 1].
    """

    def __init__(
        self,
        base: timedelta,
        factor: float = 2.0,
        max_delay: timedelta | None = None,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if base < timedelta(0):
            raise ValueError(f"ExponentialBackoff(base={base!r}): base cannot be negative.")
        if factor < 1:
            raise ValueError(f"ExponentialBackoff(factor={factor!r}): factor must be >= 1.")
        if not 0 <= jitter <= 1:
            raise ValueError(f"ExponentialBackoff(jitter={jitter!r}): jitter must be in [0, 1].")
        self.base = base
        self.factor = factor
        self.max_delay = max_delay
        self.jitter = jitter
        self.rng = rng or random.Random()

    def delay_for(self, run_count: int) -> timedelta:
        """The delay after run number ``run_count`` (1 for the first run)."""
        seconds = self.base.total_seconds() * self.factor ** max(run_count - 1, 0)
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay.total_seconds())
        if self.jitter:
            seconds *= self.rng.uniform(1 - self.jitter, 1 + self.jitter)
        return timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return (
            f"ExponentialBackoff(base={self.base!r}, factor={self.factor}, "
            f"max_delay={self.max_delay!r}, jitter={self.jitter})"
        )


def delay_for(retry_delay: timedelta | RetryDelay | None, run_count: int) -> timedelta:
    """The wait before the next retry for a task's ``retry_delay`` setting."""
    if retry_delay is None:
        return timedelta(0)
    if isinstance(retry_delay, timedelta):
        return retry_delay
    return retry_delay.delay_for(run_count)
