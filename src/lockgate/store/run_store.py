"""RunStore: open (create, migrate) the store and read what was recorded."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Row

from lockgate.store import _process, history, schema
from lockgate.store._writer import wait_for_run_lock
from lockgate.store.errors import SchemaTooNewError, StoreError, UnknownRunError
from lockgate.store.paths import default_home, default_url
from lockgate.store.records import (
    CRASHED,
    FlowRecord,
    FlowRunRecord,
    LogRecord,
    TaskRunRecord,
    TransitionRecord,
    attempt_times,
)

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.engine.state import State
    from lockgate.store.recorder import StoreRecorder

__all__ = ["GcReport", "RunStore", "remove_unreferenced", "resolve_store"]

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another process's write to finish."""

MIN_PREFIX = 4
"""The shortest run id prefix reads accept."""

_OUR_TABLES = frozenset(t.name for t in schema.metadata.sorted_tables)
_TASK_COLUMNS = [
    c
    for c in schema.task_runs.c
    if c.name not in ("result_blob", "cached_inputs_blob", "seq", "scheduled_time")
]


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def _safe_url(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RunStore:
    """A run store: a SQLAlchemy database of recorded runs plus a results directory.

    Open one with :meth:`open`; use it as a context manager or call :meth:`close`.
    Every read is a few indexed queries. Reads never write: a run whose process died
    while it was Running *reads* as ``"Crashed"`` (see :meth:`mark_crashed` to persist it).

    Attributes:
        url: the SQLAlchemy URL of the database.
        home: the lockgate home directory (results live under it).
        results_dir: ``home / "results"``; a run's files go in ``results_dir / run_id``.
        engine: the SQLAlchemy engine (for advanced use and tests).
    """

    def __init__(self, engine: Engine, url: str, home: Path) -> None:
        self.engine = engine
        self.url = url
        self.home = home
        self.results_dir = home / "results"
        self.read_only = False
        """True when the SQLite file may only be read (opened with ``mode=ro``)."""
        self._checked = False  # ensure_writable ran its integrity check
        self._closed = False

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls, url: str | None = None, *, home: Path | None = None, create: bool = True
    ) -> RunStore:
        """Open the store, creating it or migrating it to this lockgate's schema first.

        SQLite stores use WAL journaling, a busy timeout (so concurrent runs wait for
        each other instead of failing) and enforced foreign keys. A store whose schema
        is newer than this lockgate is refused without being changed. A SQLite file you
        may only read is opened read-only (:attr:`read_only`): reads work, writes raise
        :class:`StoreError`. A damaged SQLite file gives a :class:`StoreError` saying
        how to recover it, on open or on the first read that meets the damage.

        Args:
            url: a SQLAlchemy URL (default :func:`~lockgate.store.default_url`:
                ``$LOCKGATE_STORE_URL``, else ``sqlite:///<home>/store.db``).
            home: the lockgate home (default ``$LOCKGATE_HOME`` or ``~/.lockgate``).
            create: make the store's tables when the database has none. False (what
                reading commands use) refuses an existing SQLite file without them, such
                as a 0-byte file, instead of writing into it (a missing file is still
                created: the ``lockgate`` commands check for that first).

        Returns:
            The open store.

        Raises:
            SchemaTooNewError: the store was written by a newer lockgate.
            StoreError: the URL is malformed, the database cannot be reached, is
                damaged, is empty while ``create`` is False, or holds tables that are
                not a lockgate store.
        """
        home = Path(home).expanduser() if home is not None else default_home()
        url = url or default_url(home)
        engine, read_only = _create_engine(url, home)
        if not create:
            # create=False guards files that exist; a missing one is a new store.
            path = _sqlite_file_of(engine.url) if engine.dialect.name == "sqlite" else None
            create = path is not None and not path.exists()
        try:
            _prepare(engine, url, create=create, read_only=read_only)
        except BaseException:
            engine.dispose()
            raise
        store = cls(engine, url, home)
        store.read_only = read_only
        return store

    def close(self) -> None:
        """Release the database connections (idempotent)."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RunStore {_safe_url(self.url)}>"

    # -- recording ---------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """Check that runs can be recorded here before anything is written.

        A read-only store is refused. A SQLite file is checked once per open store
        with ``PRAGMA quick_check`` (about 1 ms per MB of store): a damaged file is
        never written to. ``flow.run(store=...)``, ``restart``, ``resume``, ``cancel``
        and ``gc`` call this first.

        Raises:
            StoreError: the store is read-only for this user, or damaged (the message
                says how to recover it).
        """
        if self.read_only:
            raise StoreError(
                f"The run store at {_safe_url(self.url)} is read-only for you, so nothing "
                "can be recorded or changed in it (reading works); use a store you can "
                "write: set LOCKGATE_HOME to a directory of yours, or LOCKGATE_STORE_URL."
            )
        database = self.sqlite_file
        if database is None or self._checked:
            return
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA quick_check(1)").all()
        if [r[0] for r in rows] != ["ok"]:
            why = " ".join(str(rows[0][0]).replace("*** in database main ***", "").split())
            raise StoreError(damaged_message(database, why or "?"))
        self._checked = True

    def recorder(
        self,
        *,
        source: str | None = None,
        executor: str | None = None,
        flow_run_id: str | None = None,
    ) -> StoreRecorder:
        """A :class:`~lockgate.store.StoreRecorder` that records one run in this store.

        Pass it to ``flow.run(store=recorder)``; its ``flow_run_id`` is known at once.

        Args:
            source: where the flow was loaded from (e.g. ``"etl.py:flow"``).
            executor: a description of the executor (e.g. ``"threads:8"``).
            flow_run_id: continue this stored run (resume, restart) instead of
                starting a new record; a unique prefix is accepted.

        Raises:
            UnknownRunError: ``flow_run_id`` is not in the store.
        """
        from lockgate.store.recorder import StoreRecorder

        if flow_run_id is not None:
            flow_run_id = self.get_run(flow_run_id).id
        return StoreRecorder(self, source=source, executor=executor, flow_run_id=flow_run_id)

    # -- reads -------------------------------------------------------------------------
    def list_runs(
        self,
        flow: str | None = None,
        state: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunRecord]:
        """The latest runs, newest first.

        Args:
            flow: only runs of the flow with this name.
            state: only runs in this state (``"Success"``, ``"Failed"``, ``"Running"``,
                ``"Crashed"``...; compared case-insensitively).
            limit: at most this many runs.
            offset: skip this many (for paging).

        Returns:
            The runs, each with its ``task_counts``.
        """
        fr = schema.flow_runs
        query = sa.select(fr)
        if flow is not None:
            query = query.where(fr.c.flow_name == flow)
        wanted = state.lower() if state is not None else None
        live_check = wanted in ("running", CRASHED.lower())
        if wanted is not None:
            if live_check:
                query = query.where(fr.c.state.in_(("Running", CRASHED)))
            else:
                query = query.where(sa.func.lower(fr.c.state) == wanted)
        query = query.order_by(fr.c.created.desc(), fr.c.id.desc())
        if not live_check:
            query = query.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            if live_check:
                rows = [r for r in rows if run_state(r).lower() == wanted]
                rows = rows[offset : offset + limit]
            counts = _task_counts(conn, [r.id for r in rows])
        return [_run_record(r, counts.get(r.id, {})) for r in rows]

    def get_run(self, run_id: str) -> FlowRunRecord:
        """One run, by id or by a unique prefix of at least 4 characters.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        with self.engine.connect() as conn:
            row = self._find_run(conn, run_id)
            counts = _task_counts(conn, [row.id])
        return _run_record(row, counts.get(row.id, {}))

    def task_runs(self, run_id: str, slugs: Sequence[str] | None = None) -> list[TaskRunRecord]:
        """Every task run of a run (tasks and mapped children), in the order they started.

        Args:
            run_id: the run id or a unique prefix.
            slugs: only the task runs of these tasks (None: every task). With
                :meth:`task_outline`, a reader of a huge run reads the rows it shows only.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        tr = schema.task_runs
        with self.engine.connect() as conn:
            full = self._find_run(conn, run_id).id
            query = sa.select(*_TASK_COLUMNS, tr.c.seq).where(tr.c.flow_run_id == full)
            rows: list[Any]  # rows of _TASK_COLUMNS and seq
            if slugs is None:
                rows = list(conn.execute(query.order_by(tr.c.seq, tr.c.map_index)).all())
            else:
                wanted = list(dict.fromkeys(slugs))
                rows = []
                for start in range(0, len(wanted), _SLUGS_PER_QUERY):
                    chunk = wanted[start : start + _SLUGS_PER_QUERY]
                    rows.extend(conn.execute(query.where(tr.c.task_slug.in_(chunk))).all())
                rows.sort(key=lambda r: (r.seq, r.map_index))
        return [_task_record(r) for r in rows]

    def task_outline(self, run_id: str) -> tuple[list[tuple[str, str]], int]:
        """One small row per task of a run, and how many task runs it has in all.

        Args:
            run_id: the run's full id.

        Returns:
            ``(slug, state)`` of each task in the order they started (the state of the
            task's own row, or of its first mapped child when it has none), and the
            number of task runs (tasks and mapped children).
        """
        tr = schema.task_runs
        first = (
            sa.select(tr.c.task_slug, sa.func.min(tr.c.map_index).label("first"))
            .where(tr.c.flow_run_id == run_id)
            .group_by(tr.c.task_slug)
            .subquery()
        )
        query = (
            sa.select(tr.c.task_slug, tr.c.state)
            .join(
                first,
                sa.and_(tr.c.task_slug == first.c.task_slug, tr.c.map_index == first.c.first),
            )
            .where(tr.c.flow_run_id == run_id)
            .order_by(tr.c.seq, tr.c.map_index)
        )
        count = sa.select(sa.func.count()).where(tr.c.flow_run_id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = int(conn.execute(count).scalar_one())
        return [(r[0], r[1]) for r in rows], total

    def failed_task_runs(self, run_id: str, limit: int) -> tuple[list[TaskRunRecord], int]:
        """The first task runs of a run that kept a traceback, and how many did.

        A TriggerFailed task (it never ran: an upstream task failed) is left out.

        Args:
            run_id: the run's full id.
            limit: at most this many records (in the order the tasks started).

        Returns:
            The records, and the number of such task runs in all.
        """
        tr = schema.task_runs
        where = (
            tr.c.flow_run_id == run_id,
            tr.c.traceback.is_not(None),
            tr.c.traceback != "",
            tr.c.state != "TriggerFailed",
        )
        query = sa.select(*_TASK_COLUMNS).where(*where).order_by(tr.c.seq, tr.c.map_index)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
            total = int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
        return [_task_record(r) for r in rows], total

    def transitions(self, run_id: str, task_slug: str | None = None) -> list[TransitionRecord]:
        """State changes of a run in the order they happened.

        Args:
            run_id: the run id or a unique prefix.
            task_slug: only this task's (and its mapped children's) changes; None for
                every change, the flow run's own included.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        tr = schema.task_runs
        out: list[TransitionRecord] = []
        with self.engine.connect() as conn:
            run = self._find_run(conn, run_id)
            query = sa.select(tr.c.task_slug, tr.c.map_index, tr.c.history).where(
                tr.c.flow_run_id == run.id
            )
            if task_slug is not None:
                query = query.where(tr.c.task_slug == task_slug)
            rows = conn.execute(query.order_by(tr.c.seq, tr.c.map_index)).all()
        sources: list[tuple[str | None, int, str]] = [(r[0], r[1], r[2]) for r in rows]
        if task_slug is None:
            sources.insert(0, (None, -1, run.history))
        for slug, index, text in sources:
            for ts, old, new, message in history.parse(text):
                out.append(
                    TransitionRecord(
                        flow_run_id=run.id,
                        task_slug=slug,
                        map_index=index,
                        old_state=old,
                        new_state=new,
                        message=message,
                        timestamp=datetime.fromtimestamp(ts, tz=timezone.utc),
                    )
                )
        out.sort(key=lambda t: t.timestamp)  # stable: equal times keep their order
        return out

    def logs(self, run_id: str, task_slug: str | None = None) -> list[LogRecord]:
        """Log lines of a run in the order they were logged.

        Args:
            run_id: the run id or a unique prefix.
            task_slug: only lines logged by this task (and its mapped children).

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        lg = schema.logs
        with self.engine.connect() as conn:
            full = self._find_run(conn, run_id).id
            query = sa.select(lg).where(lg.c.flow_run_id == full)
            if task_slug is not None:
                query = query.where(lg.c.task_slug == task_slug)
            rows = conn.execute(query.order_by(lg.c.id)).all()
        return [_log_record(r) for r in rows]

    def logs_since(
        self, run_id: str, after: int = 0, task_slugs: Sequence[str] | None = None
    ) -> tuple[list[LogRecord], int]:
        """The log lines of a run recorded after the line numbered ``after``.

        ``lockgate logs --follow`` calls it again and again with the number it was
        given last, so each call reads only the new lines (one indexed query).

        Args:
            run_id: the run's full id.
            after: the number this method returned last time (0: from the first line).
            task_slugs: only lines logged by these tasks (and their mapped children).

        Returns:
            The new lines in the order they were logged, and the number to pass next.
        """
        lg = schema.logs
        query = sa.select(lg).where(lg.c.flow_run_id == run_id, lg.c.id > after)
        if task_slugs is not None:
            query = query.where(lg.c.task_slug.in_(list(task_slugs)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(lg.c.id)).all()
        last = int(rows[-1].id) if rows else after
        return [_log_record(r) for r in rows], last

    def latest_logs(self, run_id: str, logger: str, limit: int) -> list[LogRecord]:
        """The last ``limit`` lines a logger wrote in a run, oldest first.

        Args:
            run_id: the run's full id.
            logger: the logger's name (e.g. the dashboard's action logger).
            limit: at most this many lines (the latest).

        Returns:
            The lines.
        """
        lg = schema.logs
        query = (
            sa.select(lg)
            .where(lg.c.flow_run_id == run_id, lg.c.logger == logger)
            .order_by(lg.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_log_record(r) for r in reversed(rows)]

    def add_log(
        self,
        run_id: str,
        level: str,
        logger: str,
        message: str,
        task_slug: str | None = None,
        map_index: int = -1,
    ) -> None:
        """Add one log line to a recorded run (as if the run had logged it now).

        Args:
            run_id: the run's full id.
            level: the level name (``"INFO"``, ``"ERROR"``...).
            logger: the logger's name.
            message: the line.
            task_slug: the task it is about, or None (the run itself).
            map_index: the mapped child's index, or -1.

        Raises:
            StoreError: the store is read-only or damaged.
        """
        self.ensure_writable()
        with self.engine.connect() as conn, _write(conn):
            conn.execute(
                schema.logs.insert().values(
                    flow_run_id=run_id,
                    task_slug=task_slug,
                    map_index=map_index,
                    level=level,
                    logger=logger,
                    message=message,
                    timestamp=time.time(),
                )
            )

    def get_run_graph(self, run_id: str) -> dict[str, Any] | None:
        """The graph of the flow a run ran, as stored with it (no flow file is loaded).

        Args:
            run_id: the run id or a unique prefix.

        Returns:
            A dict in the layout of :meth:`Flow.serialize` (``name``, ``tasks`` with
            each task's store ``slug``, ``name``, ``type``, ``tags``; ``edges`` with
            ``upstream_task``/``downstream_task`` as ``{"slug": ...}``, ``key`` and
            ``mapped``), or None for a run recorded before graphs were stored (or
            whose stored graph cannot be read).

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        from lockgate.store.graph import expand_graph

        f = schema.flows
        with self.engine.connect() as conn:
            run = self._find_run(conn, run_id)
            blob = conn.execute(sa.select(f.c.graph).where(f.c.id == run.flow_id)).scalar()
        if blob is None:
            return None
        try:
            return expand_graph(bytes(blob))
        except ValueError:
            return None

    def list_flows(self) -> list[FlowRecord]:
        """Every flow (name, graph hash, source) with its run count and latest run."""
        f, fr = schema.flows, schema.flow_runs
        with self.engine.connect() as conn:
            flows = conn.execute(
                sa.select(f.c.id, f.c.name, f.c.graph_hash, f.c.source).order_by(
                    f.c.name, f.c.created
                )
            ).all()
            stats = {
                r.flow_id: (r.n, r.last)
                for r in conn.execute(
                    sa.select(
                        fr.c.flow_id,
                        sa.func.count().label("n"),
                        sa.func.max(fr.c.created).label("last"),
                    ).group_by(fr.c.flow_id)
                )
            }
            last_runs: dict[int, Row[Any]] = {}
            for flow_id, (_, last) in stats.items():
                row = conn.execute(
                    sa.select(fr)
                    .where(fr.c.flow_id == flow_id, fr.c.created == last)
                    .order_by(fr.c.id.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    last_runs[flow_id] = row
        out = []
        for row in flows:
            count = stats.get(row.id, (0, None))[0]
            last_run = last_runs.get(row.id)
            out.append(
                FlowRecord(
                    name=row.name,
                    graph_hash=row.graph_hash,
                    source=row.source or None,
                    run_count=int(count),
                    last_run_id=last_run.id if last_run is not None else None,
                    last_state=run_state(last_run) if last_run is not None else None,
                    last_start=_utc(last_run.start_time) if last_run is not None else None,
                )
            )
        return out

    def task_states(self, run_id: str, flow: Flow) -> dict[Task, State]:
        """Rebuild each task's last stored state, to resume or restart the run.

        Tasks of ``flow`` are matched to stored task runs by slug. Successful tasks get
        their result read back through the stored location and handler; a Mapped task
        gets one state per child in ``map_states``; Paused, Failed and Retrying tasks get
        their stored inputs back in ``cached_inputs``. A task that never reached a
        finished state (Pending, Running, ...) comes back as ``Pending`` (with its
        stored inputs), and so does a successful one whose result cannot be read back
        (not stored, or its file is gone): both run again. Tasks with no stored run are
        left out.

        Args:
            run_id: the run id or a unique prefix.
            flow: the flow the run ran (the same graph).

        Returns:
            ``{task: state}`` for every task of ``flow`` with a stored run.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        from lockgate.store import states

        tr = schema.task_runs
        with self.engine.connect() as conn:
            full = self._find_run(conn, run_id).id
            rows = conn.execute(
                sa.select(tr).where(tr.c.flow_run_id == full).order_by(tr.c.map_index)
            ).all()
        by_slug: dict[str, list[Row[Any]]] = {}
        for r in rows:
            by_slug.setdefault(r.task_slug, []).append(r)
        out: dict[Task, State] = {}
        for task, slug in flow.slugs().items():
            task_rows = by_slug.get(slug)
            if not task_rows:
                continue
            parent = next((r for r in task_rows if r.map_index == -1), None)
            children = [r for r in task_rows if r.map_index >= 0]
            out[task] = states.rebuild(parent, children)
        return out

    # -- cancelling ----------------------------------------------------------------------
    def request_cancel(self, run_id: str) -> str:
        """Ask the process recording a running run to cancel it.

        The request is stored; the recording process looks for it about twice a
        second and then cancels the run (``flow.run(cancel=...)``): calls in flight end
        Cancelled, nothing else starts, and the run ends Cancelled.

        Args:
            run_id: the run id or a unique prefix.

        Returns:
            The run's full id.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
            StoreError: the run is not running (finished, paused with nothing running,
                or crashed), so there is nothing to cancel.
        """
        fr = schema.flow_runs
        self.ensure_writable()
        with self.engine.connect() as conn:
            row = self._find_run(conn, run_id)
            state = run_state(row)
            if state != "Running" or not row.active:
                what = "crashed" if state == CRASHED else f"is {state}, not running"
                if state == "Running":
                    what = "has no process running it (it waits for approval)"
                raise StoreError(
                    f"Run {row.id[:8]} {what}; there is nothing to cancel "
                    f"(`lockgate show {row.id[:8]}` shows its tasks)."
                )
            with _write(conn):
                conn.execute(
                    fr.update().where(fr.c.id == row.id).values(cancel_requested=time.time())
                )
            return str(row.id)

    def cancel_requested(self, run_id: str) -> float | None:
        """When a cancel of the run was last requested (a Unix time), or None.

        Args:
            run_id: the run's full id.
        """
        fr = schema.flow_runs
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(fr.c.cancel_requested).where(fr.c.id == run_id)).scalar()
        return None if value is None else float(value)

    # -- housekeeping ------------------------------------------------------------------
    def collect_garbage(self, older_than: timedelta, *, dry_run: bool = False) -> GcReport:
        """Drop the kept results of runs that ended more than ``older_than`` ago.

        For each such run (finished: not Running, not waiting for approval) its
        result files under ``results/<run id>/`` are deleted and its task runs'
        stored results and inputs (files and the small ones kept in the rows) are
        cleared, in one transaction per run; the runs themselves, their states,
        transitions and logs stay. A restart of such a run then runs every task again.
        Result directories of runs the store no longer has are removed too.

        Args:
            older_than: keep the results of runs that ended more recently than this.
            dry_run: only report what would be removed.

        Returns:
            What was (or would be) removed.

        Raises:
            StoreError: the store is read-only or damaged.
        """
        fr, tr = schema.flow_runs, schema.task_runs
        if not dry_run:
            self.ensure_writable()
        cutoff = time.time() - older_than.total_seconds()
        with self.engine.connect() as conn:
            old = conn.execute(
                sa.select(fr.c.id)
                .where(fr.c.end_time.is_not(None), fr.c.end_time < cutoff, fr.c.active.is_(False))
                .order_by(fr.c.end_time)
            ).all()
            known = {r[0] for r in conn.execute(sa.select(fr.c.id)).all()}
        runs: list[str] = []
        files: list[Path] = []
        freed = 0
        for (run_id,) in old:
            with self.engine.connect() as conn:
                kept = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(tr)
                    .where(
                        tr.c.flow_run_id == run_id,
                        sa.or_(tr.c.result_blob.is_not(None), tr.c.cached_inputs_blob.is_not(None)),
                    )
                ).scalar_one()
                run_files = _run_files(self, run_id)
                if not kept and not run_files:
                    continue
                runs.append(run_id)
                files.extend(run_files)
                freed += sum(map(_size, run_files))
                if dry_run:
                    continue
                with _write(conn):
                    conn.execute(
                        tr.update()
                        .where(tr.c.flow_run_id == run_id)
                        .values(
                            result_location=None,
                            result_blob=None,
                            cached_inputs_location=None,
                            cached_inputs_blob=None,
                        )
                    )
            for path in run_files:  # after the commit: no row points at them any more
                path.unlink(missing_ok=True)
            _remove_empty(self.results_dir / run_id)
        if self.results_dir.is_dir():
            for directory in self.results_dir.iterdir():
                if directory.is_dir() and directory.name not in known:
                    orphans = [p for p in directory.iterdir() if p.is_file()]
                    files.extend(orphans)
                    freed += sum(map(_size, orphans))
                    if not dry_run:
                        for path in orphans:
                            path.unlink(missing_ok=True)
                        _remove_empty(directory)
        return GcReport(tuple(runs), tuple(str(p) for p in files), freed)

    # -- crash handling ------------------------------------------------------------------
    @property
    def sqlite_file(self) -> str | None:
        """The absolute path of this store's SQLite file; None for PostgreSQL, an
        in-memory SQLite or a SQLite URI with options."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        if url.query:
            return None
        return os.path.abspath(url.database)

    def wait_for_writer(self, run_id: str) -> None:
        """Wait until no writer process is still committing run ``run_id``.

        A run recorded in a SQLite file is written by a writer process of its own.
        When the run's process dies (even by SIGKILL) that writer still commits what
        it was sent, then ends, a few milliseconds later. ``resume`` and ``restart``
        call this first so they see every change the run made; call it yourself before
        reading a run you just killed. Returns at once when no writer holds the run
        (and for other stores, which are written from the run's own process).

        Args:
            run_id: the run id or a unique prefix.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        database = self.sqlite_file
        if database is not None:
            wait_for_run_lock(database, self.get_run(run_id).id)

    def mark_crashed(self, run_id: str) -> bool:
        """Persist ``"Crashed"`` for a run whose recording process died while Running.

        Reads already show such a run as Crashed; this writes it down (with a flow
        transition) so that other hosts see it too. A live or finished run is left
        alone.

        Args:
            run_id: the run id or a unique prefix.

        Returns:
            True when the run was marked.

        Raises:
            UnknownRunError: no run (or several runs) match ``run_id``.
        """
        fr = schema.flow_runs
        with self.engine.connect() as conn:
            row = self._find_run(conn, run_id)
            if run_state(row) != CRASHED or row.state == CRASHED:
                return False
            self.ensure_writable()
            now = time.time()
            message = f"The process recording this run (pid {row.pid} on {row.host}) died."
            with _write(conn):
                conn.execute(
                    fr.update()
                    .where(fr.c.id == row.id, fr.c.state == row.state)
                    .values(
                        state=CRASHED,
                        message=message,
                        active=False,
                        end_time=now,
                        history=fr.c.history + history.entry(now, row.state, CRASHED, message),
                    )
                )
        return True

    # -- helpers -----------------------------------------------------------------------
    def _find_run(self, conn: Connection, run_id: str) -> Row[Any]:
        fr = schema.flow_runs
        key = run_id.strip().lower()
        where = f"in the store at {_safe_url(self.url)}"
        if len(key) < MIN_PREFIX:
            raise UnknownRunError(
                f"Run id '{run_id}' is too short: give at least {MIN_PREFIX} characters "
                "of the id; `lockgate runs` lists them."
            )
        row = conn.execute(sa.select(fr).where(fr.c.id == key)).first()
        if row is not None:
            return row
        rows = conn.execute(
            sa.select(fr).where(fr.c.id >= key, fr.c.id < key + "\uffff").limit(3)
        ).all()
        if not rows:
            raise UnknownRunError(f"No run '{run_id}' {where}; `lockgate runs` lists them.")
        if len(rows) > 1:
            ids = ", ".join(r.id[:12] for r in rows[:2])
            raise UnknownRunError(
                f"Run id '{run_id}' matches several runs ({ids}, ...); give more characters."
            )
        return rows[0]


@dataclass(frozen=True)
class GcReport:
    """What :meth:`RunStore.collect_garbage` removed (or would remove, on a dry run).

    Attributes:
        runs: ids of the runs whose kept results were dropped.
        files: the result files removed.
        bytes_freed: their total size on disk.
    """

    runs: tuple[str, ...]
    files: tuple[str, ...]
    bytes_freed: int


def _run_files(store: RunStore, run_id: str) -> list[Path]:
    directory = store.results_dir / run_id
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if p.is_file()]


def remove_unreferenced(store: RunStore, run_id: str) -> list[Path]:
    """Delete the files in ``results/<run id>/`` that no task run of the run points at.

    A task that failed kept its inputs in a file; once it succeeds (or fails again
    with a new file) its row no longer points there. The recorder calls this when a
    run (or its restart or resume) ends, after its last rows are committed, so a file
    goes only once no committed row needs it; a crash before that leaves the file for
    ``lockgate gc``.

    Args:
        store: the store.
        run_id: the run's full id.

    Returns:
        The files removed.
    """
    files = _run_files(store, run_id)
    if not files:
        return []
    tr = schema.task_runs
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tr.c.result_location, tr.c.cached_inputs_location).where(
                tr.c.flow_run_id == run_id
            )
        ).all()
    used = {os.path.abspath(p) for row in rows for p in row if p}
    removed = []
    for path in files:
        if str(path.absolute()) not in used and not path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _remove_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:  # not empty (a file being written) or already gone
        pass


def resolve_store(store: Any) -> tuple[RunStore, StoreRecorder | None, bool]:
    """Turn ``flow.run(store=...)``'s value into a store (and maybe a recorder).

    Args:
        store: True (the default store), a URL string, a :class:`RunStore` or a
            :class:`~lockgate.store.StoreRecorder`.

    Returns:
        ``(store, recorder or None, whether the caller opened the store and must close it)``.

    Raises:
        TypeError: for any other value.
        StoreError: the store cannot be opened.
    """
    from lockgate.store.recorder import StoreRecorder

    if isinstance(store, StoreRecorder):
        return store.store, store, False
    if isinstance(store, RunStore):
        return store, None, False
    if store is True:
        return RunStore.open(), None, True
    if isinstance(store, (str, Path)):
        text = str(store)
        if "://" not in text:
            raise TypeError(
                f"store={text!r} is not a SQLAlchemy URL; pass e.g. 'sqlite:///path/store.db', "
                "True for the default store, or a RunStore."
            )
        return RunStore.open(text), None, True
    raise TypeError(
        f"store= takes True, a URL string, a RunStore or a StoreRecorder, not {store!r}."
    )


# -- engine set-up -------------------------------------------------------------------------
def damaged_message(database: str, why: str) -> str:
    """The one-line message for a damaged SQLite store: what is wrong, what to do.

    Args:
        database: the SQLite file.
        why: what SQLite said (e.g. ``database disk image is malformed``).

    Returns:
        The message.
    """
    why = " ".join(why.split())
    return (
        f"The run store {database} is damaged ({why}); nothing was written to it. "
        f'Recover what it holds with `sqlite3 {database} ".recover" | sqlite3 recovered.db` '
        f"and move recovered.db in its place, or move the file aside to start a new store."
    )


_DAMAGED = ("malformed", "not a database", "disk i/o error", "database corrupt")


def _is_damage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in _DAMAGED)


def _sqlite_file_of(parsed: sa.URL) -> Path | None:
    database = parsed.database
    if database in (None, "", ":memory:") or parsed.query:
        return None
    return Path(str(database)).expanduser().absolute()


def _writable(path: Path) -> bool:
    """Whether this user may write ``path`` (an existing file or directory)."""
    return os.access(path, os.W_OK)


def _create_engine(url: str, home: Path | None = None) -> tuple[Engine, bool]:
    """The engine for ``url``, and whether a SQLite file must be opened read-only."""
    try:
        parsed = sa.make_url(url)
    except Exception as exc:
        raise StoreError(
            f"Store URL {url!r} is not a SQLAlchemy URL ({_first_line(exc)}); use e.g. "
            "sqlite:////path/store.db or postgresql+psycopg://user@host/db."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"Store URL {_safe_url(url)!r} uses {backend!r}; the run store supports SQLite "
            "(sqlite:////path/store.db) and PostgreSQL (postgresql+psycopg://user@host/db)."
        )
    kwargs: dict[str, Any] = {}
    is_sqlite = backend == "sqlite"
    read_only = False
    if is_sqlite:
        database = parsed.database
        path = _sqlite_file_of(parsed)
        if database in (None, "", ":memory:"):
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        elif path is not None:
            _make_directory(path.parent, home)
            if path.is_dir():
                raise StoreError(
                    f"The run store {path} is a directory, not a SQLite file; point "
                    "LOCKGATE_STORE_URL at a file (sqlite:////path/store.db)."
                )
            if path.exists() and not (_writable(path) and _writable(path.parent)):
                # Open it read-only: reads work; a write fails with a clear message.
                read_only = True
                immutable = (
                    not _writable(path.parent) and not path.with_name(path.name + "-shm").exists()
                )
                options = "mode=ro&immutable=1" if immutable else "mode=ro"
                parsed = sa.make_url(f"sqlite:///file:{path}?{options}&uri=true")
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as exc:
        raise StoreError(
            f"Cannot use the store URL {_safe_url(url)!r}: {_first_line(exc)}; install the "
            "database driver it names (PostgreSQL: pip install 'psycopg[binary]')."
        ) from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        shown = str(_sqlite_file_of(sa.make_url(url)) or parsed.database)
        event.listen(engine, "handle_error", functools.partial(_sqlite_error, shown))
    return engine, read_only


def _make_directory(directory: Path, home: Path | None) -> None:
    """Create the store's directory, or say in one line why it cannot be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in [directory, *directory.parents] if p.is_file()), None)
        if blocker is not None:
            what = (
                "LOCKGATE_HOME"
                if home is not None and blocker == home.expanduser().absolute()
                else "the store's path"
            )
            raise StoreError(
                f"Cannot create the run store in {directory}: {blocker} is a file, not a "
                f"directory ({what}); point LOCKGATE_HOME at a directory (lockgate creates "
                "it) or LOCKGATE_STORE_URL at a SQLite file."
            ) from None
        raise StoreError(
            f"Cannot create the run store's directory {directory} ({exc.strerror}); point "
            "LOCKGATE_HOME at a directory you can write."
        ) from None


def _sqlite_error(database: str, context: Any) -> None:
    """SQLite errors that mean a damaged or read-only file become one-line StoreErrors."""
    exc = context.original_exception
    if _is_damage(exc):
        raise StoreError(damaged_message(database, _first_line(exc))) from None
    if "readonly" in str(exc).lower() or "read-only" in str(exc).lower():
        raise StoreError(
            f"The run store {database} is read-only for you, so nothing can be recorded "
            "or changed in it (reading works); use a store you can write: set "
            "LOCKGATE_HOME to a directory of yours, or LOCKGATE_STORE_URL."
        ) from None


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin): the sqlite3 module's own implicit
    # transactions would not cover DDL and could not take the write lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the lock when they begin (BEGIN IMMEDIATE) so two processes queue on
    # the busy timeout instead of failing when a read transaction tries to upgrade.
    if conn.get_execution_options().get("lockgate_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class _write:
    """``with _write(conn):`` a write transaction (SQLite: BEGIN IMMEDIATE)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        if self.conn.in_transaction():
            self.conn.rollback()
        self.conn.execution_options(lockgate_write=True)
        self.trans = self.conn.begin()
        return self.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.trans.commit()
            else:
                self.trans.rollback()
        finally:
            self.conn.execution_options(lockgate_write=False)


_SLUGS_PER_QUERY = 500
"""Task slugs per ``IN (...)`` list (SQLite allows 999 parameters in older versions)."""


def _log_record(row: Any) -> LogRecord:
    return LogRecord(
        flow_run_id=row.flow_run_id,
        task_slug=row.task_slug,
        map_index=row.map_index,
        level=row.level,
        logger=row.logger,
        message=row.message,
        timestamp=_utc(row.timestamp) or datetime.fromtimestamp(0, tz=timezone.utc),
    )


def write_transaction(conn: Connection) -> _write:
    """A write transaction on ``conn``: ``with write_transaction(conn): ...``.

    On SQLite it begins with ``BEGIN IMMEDIATE`` (takes the write lock, waiting up to
    the busy timeout for another writer); elsewhere it is a plain transaction.
    """
    return _write(conn)


def _prepare(engine: Engine, url: str, *, create: bool = True, read_only: bool = False) -> None:
    """Check the schema version, migrate to head, and switch SQLite to WAL.

    Read-only (or ``create=False`` on an empty SQLite file), nothing is written.
    """
    is_sqlite = engine.dialect.name == "sqlite"
    sqlite_path = _sqlite_file_of(sa.make_url(url)) if is_sqlite else None
    try:
        conn = engine.connect()
    except StoreError:
        raise
    except Exception as exc:
        where = "check the file's directory exists and you may read it"
        if not is_sqlite:
            where = "check the server is running and the URL (LOCKGATE_STORE_URL) is right"
        raise StoreError(
            f"Cannot connect to the run store at {_safe_url(url)}: {_first_line(exc)}; {where}."
        ) from None
    try:
        if read_only or (sqlite_path is not None and not create):
            with conn.begin():
                current = _current_revision(conn, url)
            if current is None and sqlite_path is not None:
                size = sqlite_path.stat().st_size if sqlite_path.exists() else 0
                what = "is empty (0 bytes)" if size == 0 else "holds no lockgate tables"
                raise StoreError(
                    f"The run store file {sqlite_path} {what}, so it holds no runs; if it "
                    f"should, restore it from a backup, else remove it (rm {sqlite_path}): "
                    "the next `lockgate run` creates a new store."
                )
            if current != schema.HEAD_REVISION:
                if read_only:
                    raise StoreError(
                        f"The run store {sqlite_path} has schema version {current}, older "
                        f"than this lockgate's ({schema.HEAD_REVISION}), and is read-only "
                        "for you, so it cannot be upgraded; ask its owner to run any "
                        "lockgate command on it, or use the lockgate that wrote it."
                    )
                with _write(conn):
                    _upgrade(conn)
            if read_only:
                return
        else:
            with _write(conn):
                if not is_sqlite and engine.dialect.name == "postgresql":
                    # One migrator at a time; the lock ends with the transaction.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7419530267)")
                current = _current_revision(conn, url)
                if current is None or current != schema.HEAD_REVISION:
                    _upgrade(conn)
        if is_sqlite and engine.url.database not in (None, "", ":memory:"):
            # Outside any transaction (SQLite refuses to switch inside one).
            raw: Any = conn.connection.dbapi_connection
            mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                raw.execute("PRAGMA journal_mode = WAL")
    except StoreError:
        raise
    except Exception as exc:
        if sqlite_path is not None and _is_damage(exc):
            raise StoreError(damaged_message(str(sqlite_path), _first_line(exc))) from None
        if not isinstance(exc, sa.exc.SQLAlchemyError) and not (
            is_sqlite and isinstance(exc, sqlite3.Error)
        ):
            raise
        raise StoreError(
            f"Cannot open the run store at {_safe_url(url)}: {_first_line(exc)}; "
            "check the database is reachable and writable."
        ) from None
    finally:
        conn.close()


def _current_revision(conn: Connection, url: str) -> str | None:
    names = set(sa.inspect(conn).get_table_names())
    if "alembic_version" not in names:
        ours = sorted(names & _OUR_TABLES)
        if ours:
            raise StoreError(
                f"The database at {_safe_url(url)} has tables named {', '.join(ours)} but "
                "no lockgate schema version, so it is not a lockgate store; point "
                "LOCKGATE_STORE_URL at an empty database or a lockgate store."
            )
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    versions = [r[0] for r in rows]
    if not versions:
        return None
    unknown = [v for v in versions if v not in schema.KNOWN_REVISIONS]
    if unknown:
        raise SchemaTooNewError(
            f"The run store at {_safe_url(url)} has schema version {unknown[0]}, newer than "
            f"this lockgate's ({schema.HEAD_REVISION}); upgrade lockgate "
            "(pip install -U lockgate) to use it. Nothing was changed."
        )
    return str(max(versions))


def migrations_dir() -> Path:
    """The directory of the Alembic environment shipped in the package."""
    return Path(__file__).with_name("migrations")


def _upgrade(conn: Connection) -> None:
    """Run the shipped Alembic migrations up to head on ``conn`` (inside its transaction)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


# -- reading helpers ---------------------------------------------------------------------
def run_state(row: Any) -> str:
    """A flow run row's state as readers see it (``Crashed`` for a dead recorder)."""
    state: str = row.state
    if (
        state == "Running"
        and row.active
        and row.pid is not None
        and not _process.is_alive(row.pid, row.host, row.proc_start)
    ):
        return CRASHED
    return state


def _task_counts(conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    if not run_ids:
        return {}
    tr = schema.task_runs
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        query = (
            sa.select(tr.c.flow_run_id, tr.c.state, sa.func.count())
            .where(tr.c.flow_run_id.in_(chunk), tr.c.state != "Mapped")
            .group_by(tr.c.flow_run_id, tr.c.state)
        )
        for run_id, state, n in conn.execute(query):
            out.setdefault(run_id, {})[state] = int(n)
    return out


def _run_record(row: Row[Any], counts: dict[str, int]) -> FlowRunRecord:
    try:
        parameters = json.loads(row.parameters) if row.parameters else {}
    except ValueError:
        parameters = {}
    state = run_state(row)
    return FlowRunRecord(
        id=row.id,
        flow_name=row.flow_name,
        graph_hash=row.graph_hash,
        source=row.source,
        parameters=parameters,
        executor=row.executor,
        state=state,
        message=row.message,
        start_time=_utc(row.start_time),
        end_time=_utc(row.end_time),
        pid=row.pid,
        host=row.host,
        task_counts=dict(sorted(counts.items())),
        active=bool(row.active) and state != CRASHED,
        attempts=attempt_times(history.running_spans(row.history)),
    )


def _task_record(row: Row[Any]) -> TaskRunRecord:
    spans = history.running_spans(row.history)
    return TaskRunRecord(
        flow_run_id=row.flow_run_id,
        task_slug=row.task_slug,
        task_name=row.task_name,
        map_index=row.map_index,
        state=row.state,
        message=row.message,
        # The engine counts retries within one run; the history also sees restarts.
        run_count=max(row.run_count, len(spans)),
        start_time=_utc(row.start_time),
        end_time=_utc(row.end_time),
        result_location=row.result_location,
        result_handler=row.result_handler,
        cached_inputs_location=row.cached_inputs_location,
        traceback=row.traceback,
        attempts=attempt_times(spans),
    )
