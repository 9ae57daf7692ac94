"""Reads for browsing a store: pages of runs, runs per day, a run's activity, stored values.

The dashboard (:mod:`lockgate.ui`) reads the store through these and through
:class:`~lockgate.store.RunStore`'s own methods; it writes no SQL of its own. Each
function reads the store's tables (:mod:`lockgate.store.schema`) with SQLAlchemy Core.
Runs are turned into records by the store itself (:meth:`RunStore.get_run`), so crash
detection and task counts stay in one place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lockgate.store import schema
from lockgate.store.errors import UnknownRunError
from lockgate.store.records import CRASHED, FlowRunRecord
from lockgate.store.run_store import run_state

if TYPE_CHECKING:
    from lockgate.store.run_store import RunStore

__all__ = [
    "RunActivity",
    "RunFilter",
    "StoredValues",
    "day_bounds",
    "flow_names",
    "page_of_runs",
    "restarts",
    "run_activity",
    "runs_per_day",
    "stored_values",
]

_FINISHED = frozenset({"Success", "Failed", "Cancelled", "TimedOut", "TriggerFailed", CRASHED})
"""Flow states a run leaves only when it is restarted."""

_LIVE_STATES = ("Running", CRASHED)
"""States that are only known for sure after checking the recording process."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs the runs list shows.

    Attributes:
        flow: only runs of the flow with this name.
        state: only runs in this state, as recorded (``"Success"``, ``"Crashed"``...).
        since: only runs created at or after this time (seconds since the epoch).
        until: only runs created before this time (seconds since the epoch).
    """

    flow: str | None = None
    state: str | None = None
    since: float | None = None
    until: float | None = None


def _filtered(query: Any, where: RunFilter, with_state: bool = True) -> Any:
    fr = schema.flow_runs
    if where.flow is not None:
        query = query.where(fr.c.flow_name == where.flow)
    if where.since is not None:
        query = query.where(fr.c.created >= where.since)
    if where.until is not None:
        query = query.where(fr.c.created < where.until)
    if with_state and where.state is not None:
        if where.state in _LIVE_STATES:
            query = query.where(fr.c.state.in_(_LIVE_STATES))
        else:
            query = query.where(fr.c.state == where.state)
    return query


def _live_ids(conn: Any, where: RunFilter) -> list[str]:
    """Ids of the runs matching a Running/Crashed filter, newest first.

    Running or Crashed depends on whether the recording process is alive, so the
    candidates are checked one by one.
    """
    fr = schema.flow_runs
    columns = (fr.c.id, fr.c.state, fr.c.active, fr.c.pid, fr.c.host, fr.c.proc_start)
    query = _filtered(sa.select(*columns), where).order_by(fr.c.created.desc(), fr.c.id.desc())
    return [r.id for r in conn.execute(query).all() if run_state(r) == where.state]


def page_of_runs(
    store: RunStore, where: RunFilter, limit: int, offset: int
) -> tuple[list[FlowRunRecord], int]:
    """One page of runs, newest first, and how many runs match in all.

    Args:
        store: the open store.
        where: the filter.
        limit: at most this many runs.
        offset: skip this many first.

    Returns:
        The runs of the page (with their task counts) and the total number matching.
    """
    fr = schema.flow_runs
    order = (fr.c.created.desc(), fr.c.id.desc())
    with store.engine.connect() as conn:
        if where.state in _LIVE_STATES:
            ids = _live_ids(conn, where)
            total = len(ids)
            ids = ids[offset : offset + limit]
        else:
            count = sa.select(sa.func.count()).select_from(fr)
            total = int(conn.execute(_filtered(count, where)).scalar_one())
            query = _filtered(sa.select(fr.c.id), where).order_by(*order)
            ids = list(conn.execute(query.limit(limit).offset(offset)).scalars())
    records = []
    for run_id in ids:
        try:
            records.append(store.get_run(run_id))
        except UnknownRunError:  # deleted since the ids were read
            total -= 1
    return records, total


def day_bounds(day: date) -> tuple[float, float]:
    """The start and end of a local calendar day, in seconds since the epoch.

    Args:
        day: the day, in the server's local time zone.

    Returns:
        ``(start, end)``; ``end`` is the next day's start.
    """
    start = datetime.combine(day, time()).astimezone()
    end = datetime.combine(day + timedelta(days=1), time()).astimezone()
    return start.timestamp(), end.timestamp()


def runs_per_day(
    store: RunStore, first: date, last: date, flow: str | None = None
) -> dict[date, dict[str, int]]:
    """How many runs were created on each local day, by the state they are in now.

    Args:
        store: the open store.
        first: the first day (local time).
        last: the last day, included.
        flow: only runs of the flow with this name.

    Returns:
        For each day from ``first`` to ``last`` (days without runs included), the
        count of runs per state (``"Crashed"`` for runs whose process died).
    """
    fr = schema.flow_runs
    since, _ = day_bounds(first)
    _, until = day_bounds(last)
    query = sa.select(
        fr.c.created, fr.c.state, fr.c.active, fr.c.pid, fr.c.host, fr.c.proc_start
    ).where(fr.c.created >= since, fr.c.created < until)
    if flow is not None:
        query = query.where(fr.c.flow_name == flow)
    out: dict[date, dict[str, int]] = {}
    day = first
    while day <= last:
        out[day] = {}
        day += timedelta(days=1)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        day = datetime.fromtimestamp(row.created).date()
        state = run_state(row) if row.state == "Running" else row.state
        counts = out.setdefault(day, {})
        counts[state] = counts.get(state, 0) + 1
    return out


def flow_names(store: RunStore) -> list[str]:
    """The names of every flow the store has seen, sorted.

    Args:
        store: the open store.

    Returns:
        The names, each once.
    """
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.flows.c.name).distinct().order_by(schema.flows.c.name))
        return list(rows.scalars())


@dataclass(frozen=True)
class RunActivity:
    """Whether a run is being recorded right now, and a version of what is stored.

    Attributes:
        live: a process is recording the run now (it is Running and its process is
            alive). A run waiting for approval after its process ended is not live.
        version: changes whenever anything stored about the run changes (its state,
            a task's state, a new task run), so live pages know when to refresh.
    """

    live: bool
    version: str


def run_activity(store: RunStore, run_id: str) -> RunActivity:
    """Read a run's :class:`RunActivity` (two small indexed queries).

    Args:
        store: the open store.
        run_id: the run's full id.

    Returns:
        The activity.

    Raises:
        UnknownRunError: when no run has that id.
    """
    fr, tr = schema.flow_runs, schema.task_runs
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                fr.c.state,
                fr.c.active,
                fr.c.pid,
                fr.c.host,
                fr.c.proc_start,
                fr.c.end_time,
                sa.func.length(fr.c.history),
            ).where(fr.c.id == run_id)
        ).first()
        if row is None:
            raise UnknownRunError(f"No run '{run_id}' in the store.")
        tasks = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(sa.func.length(tr.c.history))).where(
                tr.c.flow_run_id == run_id
            )
        ).one()
    state = run_state(row)
    live = state == "Running" and bool(row.active)
    text = f"{state}|{row.active}|{row.end_time}|{row[6]}|{tasks[0]}|{tasks[1]}"
    return RunActivity(live=live, version=hashlib.sha1(text.encode()).hexdigest()[:16])


@dataclass(frozen=True)
class StoredValues:
    """What the store kept of one task run's result and inputs (still pickled).

    Attributes:
        result_handler: the qualified name of the handler that stored the result.
        result_blob: the stored result (an inline pickle or a pickled location).
        inputs_location: where the task's inputs were stored.
        inputs_blob: the stored inputs (an inline pickle or a pickled location).
    """

    result_handler: str | None
    result_blob: bytes | None
    inputs_location: str | None
    inputs_blob: bytes | None


def stored_values(store: RunStore, run_id: str, slug: str, map_index: int) -> StoredValues | None:
    """The stored result and inputs of one task run, without unpickling them.

    Args:
        store: the open store.
        run_id: the run's full id.
        slug: the task's slug.
        map_index: the mapped child's index, or -1 for the task itself.

    Returns:
        The values, or None when there is no such task run.
    """
    tr = schema.task_runs
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                tr.c.result_handler,
                tr.c.result_blob,
                tr.c.cached_inputs_location,
                tr.c.cached_inputs_blob,
            ).where(
                tr.c.flow_run_id == run_id,
                tr.c.task_slug == slug,
                tr.c.map_index == map_index,
            )
        ).first()
    if row is None:
        return None
    return StoredValues(row[0], row[1], row[2], row[3])


def restarts(store: RunStore, run_id: str) -> list[datetime]:
    """When the run was started again after it had ended (``restart``), oldest first.

    Read from the run's own state history: a restart takes a finished run back to
    ``Running``. (A resume continues a run that is still ``Running``, so it does not
    show there; the dashboard logs its own resumes as log lines of the run.)

    Args:
        store: the open store.
        run_id: the run's full id.

    Returns:
        The times (UTC) of the restarts; empty for a run never restarted.
    """
    from datetime import timezone

    from lockgate.store import history

    fr = schema.flow_runs
    with store.engine.connect() as conn:
        text = conn.execute(sa.select(fr.c.history).where(fr.c.id == run_id)).scalar()
    return [
        datetime.fromtimestamp(ts, tz=timezone.utc)
        for ts, old, new, _ in history.parse(text)
        if new == "Running" and old in _FINISHED
    ]
