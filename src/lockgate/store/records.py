"""Plain, typed records returned by :class:`~lockgate.store.RunStore` reads.

They are frozen dataclasses holding only built-in values (text, numbers, datetimes in
UTC, dicts), so they print, compare and serialise without the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "FlowRecord",
    "FlowRunRecord",
    "LogRecord",
    "TaskRunRecord",
    "TransitionRecord",
    "attempt_times",
    "mapped_run_seconds",
    "mapped_state",
]

CRASHED = "Crashed"
"""The state a recorded run reads as when its process died while it was Running."""


_MAPPED_OUTCOMES = (
    "Failed",
    "TimedOut",
    "TriggerFailed",
    "Cancelled",
    "Running",
    "Retrying",
    "Paused",
    "Scheduled",
    "Pending",
)
"""Child states that decide how a mapped task reads, the most telling first."""


def mapped_state(child_states: Iterable[str]) -> str:
    """How a mapped task reads from its children's states (the parent's row says Mapped).

    A mapped task whose children all succeeded is ``"Mapped"``; otherwise it reads as
    its most telling child state: a failure (``Failed``, ``TimedOut``,
    ``TriggerFailed``, ``Cancelled``) first, then unfinished states (``Running``,
    ``Retrying``, ``Paused``, ``Scheduled``, ``Pending``), so a mapped task whose
    children were cancelled or never started is not shown as a success.

    Args:
        child_states: the children's state names.

    Returns:
        A state name.
    """
    present = set(child_states)
    for name in _MAPPED_OUTCOMES:
        if name in present:
            return name
    return "Mapped"


@dataclass(frozen=True)
class FlowRecord:
    """A flow the store has seen (one per name, graph hash and source).

    Attributes:
        name: the flow's name.
        graph_hash: a hash of the flow's graph (task slugs, classes and edges).
        source: where the flow was loaded from (e.g. ``"etl.py:flow"``), or None.
        run_count: how many runs of this flow (this hash and source) are stored.
        last_run_id: the id of the latest run, or None.
        last_state: the state of the latest run (``"Crashed"`` when its process died).
        last_start: when the latest run started (UTC), or None.
    """

    name: str
    graph_hash: str
    source: str | None
    run_count: int
    last_run_id: str | None
    last_state: str | None
    last_start: datetime | None


@dataclass(frozen=True)
class FlowRunRecord:
    """One flow run.

    Attributes:
        id: the run id (32 hex digits; reads accept a unique prefix of 4 or more).
        flow_name: the flow's name.
        graph_hash: the hash of the flow's graph when it ran.
        source: where the flow was loaded from, or None.
        parameters: the parameter values (as stored: JSON values, else their repr).
        executor: a description of the executor, or None.
        state: the flow state's class name (``"Running"``, ``"Success"``, ``"Failed"``...),
            or ``"Crashed"`` when the process recording a Running run is gone.
        message: the flow state's message.
        start_time: when the run started (UTC).
        end_time: when the run finished (UTC), or None while it is unfinished.
        pid: the process id that recorded the run last.
        host: the host name of that process.
        task_counts: how many task runs are in each state (mapped children are counted
            one by one; the Mapped parents themselves are not counted).
        active: a live process is recording this run right now (False once the run
            returned, even with Paused tasks left, and False for a Crashed run).
        attempts: ``(started, ended)`` of each time the run ran: the first run, then
            each resume or restart (``ended`` None while running or after a crash).
    """

    id: str
    flow_name: str
    graph_hash: str
    source: str | None
    parameters: dict[str, Any]
    executor: str | None
    state: str
    message: str | None
    start_time: datetime | None
    end_time: datetime | None
    pid: int | None
    host: str | None
    task_counts: dict[str, int] = field(default_factory=dict)
    active: bool = False
    attempts: tuple[tuple[datetime, datetime | None], ...] = ()

    @property
    def run_seconds(self) -> float | None:
        """How long the run ran: its attempts added up, without the idle time between
        them (a restart the next day adds its own running time only). None before
        any attempt ended."""
        return _seconds(self.attempts)

    @property
    def restarts(self) -> tuple[datetime, ...]:
        """When the run was resumed or restarted (each attempt after the first)."""
        return tuple(start for start, _ in self.attempts[1:])


@dataclass(frozen=True)
class TaskRunRecord:
    """The last known state of one task run (a task, or one mapped child of it).

    Attributes:
        flow_run_id: the flow run it belongs to.
        task_slug: the task's slug in the flow.
        task_name: the task's name.
        map_index: the child's index for a mapped child; -1 for the task itself.
        state: the state's class name (``"Success"``, ``"Paused"``, ``"Mapped"``...).
        message: the state's message.
        run_count: how many times the task ran: retries, resumes and restarts
            included (one per attempt in ``attempts``).
        start_time: when it first started running (UTC), or None.
        end_time: when it reached a finished state (UTC), or None.
        result_location: where the result was stored (as text), or None.
        result_handler: the qualified class name of the handler that stored it, or None.
        cached_inputs_location: where the task's inputs were stored (for a Paused,
            Failed or Retrying task that may run again), or None.
        traceback: the formatted exception of a failure, or None.
        attempts: ``(started, ended)`` of each attempt, oldest first (``ended`` None
            while it runs, or when its process died).
    """

    flow_run_id: str
    task_slug: str
    task_name: str
    map_index: int
    state: str
    message: str | None
    run_count: int
    start_time: datetime | None
    end_time: datetime | None
    result_location: str | None
    result_handler: str | None
    cached_inputs_location: str | None
    traceback: str | None
    attempts: tuple[tuple[datetime, datetime | None], ...] = ()

    @property
    def run_seconds(self) -> float | None:
        """How long the task ran: its attempts added up (not the time between them).
        None when no attempt ended (it never ran, or its result was reused)."""
        return _seconds(self.attempts)


@dataclass(frozen=True)
class TransitionRecord:
    """One state change of a task run or of the flow run.

    Attributes:
        flow_run_id: the flow run.
        task_slug: the task's slug, or None for a change of the flow run's state.
        map_index: the mapped child's index, or -1.
        old_state: the previous state's class name (None for the first one).
        new_state: the new state's class name.
        message: the new state's message.
        timestamp: when it happened (UTC).
    """

    flow_run_id: str
    task_slug: str | None
    map_index: int
    old_state: str | None
    new_state: str
    message: str | None
    timestamp: datetime


@dataclass(frozen=True)
class LogRecord:
    """One log line emitted during a recorded run.

    Attributes:
        flow_run_id: the flow run.
        task_slug: the slug of the task that logged it, or None (the flow runner).
        map_index: the mapped child's index, or -1.
        level: the level name (``"INFO"``, ``"WARNING"``...).
        logger: the logger's name.
        message: the formatted message (with the traceback when one was logged).
        timestamp: when it was logged (UTC).
    """

    flow_run_id: str
    task_slug: str | None
    map_index: int
    level: str
    logger: str
    message: str
    timestamp: datetime


def _seconds(attempts: Iterable[tuple[datetime, datetime | None]]) -> float | None:
    """The length of the union of the finished attempts, in seconds (None: none ended)."""
    from lockgate.store.history import running_seconds

    return running_seconds(
        (start.timestamp(), end.timestamp() if end is not None else None) for start, end in attempts
    )


def attempt_times(
    spans: Iterable[tuple[float, float | None]],
) -> tuple[tuple[datetime, datetime | None], ...]:
    """``(started, ended)`` Unix times as UTC datetimes (for records' ``attempts``).

    Args:
        spans: pairs of Unix times (the end may be None).

    Returns:
        The same pairs as timezone-aware datetimes.
    """
    from datetime import timezone

    return tuple(
        (
            datetime.fromtimestamp(start, tz=timezone.utc),
            None if end is None else datetime.fromtimestamp(end, tz=timezone.utc),
        )
        for start, end in spans
    )


def mapped_run_seconds(children: Iterable[TaskRunRecord]) -> float | None:
    """How long a mapped task ran: the union of its children's attempts (children that
    ran side by side count once; the time between a run and its restart not at all).

    Args:
        children: the mapped task's child records.

    Returns:
        Seconds, or None when no child attempt ended.
    """
    return _seconds(a for child in children for a in child.attempts)
