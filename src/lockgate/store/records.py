"""Plain, typed records returned by :class:`~lockgate.store.RunStore` reads.

They are frozen dataclasses holding only built-in values (text, numbers, datetimes in
UTC, dicts), so they print, compare and serialise without the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FlowRecord", "FlowRunRecord", "LogRecord", "TaskRunRecord", "TransitionRecord"]

CRASHED = "Crashed"
"""The state a recorded run reads as when its process died while it was Running."""


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
        run_count: how many times the task ran (retries included).
        start_time: when it first started running (UTC), or None.
        end_time: when it reached a finished state (UTC), or None.
        result_location: where the result was stored (as text), or None.
        result_handler: the qualified class name of the handler that stored it, or None.
        cached_inputs_location: where the task's inputs were stored (for a Paused,
            Failed or Retrying task that may run again), or None.
        traceback: the formatted exception of a failure, or None.
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
