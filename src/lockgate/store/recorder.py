"""StoreRecorder: records a flow run in a :class:`~lockgate.store.RunStore`.

The recorder is a :class:`~lockgate.engine.hooks.RunHooks` subscriber. On the task's
path it only appends a few values to a buffer (one ``list.extend``); a writer thread
turns what accumulated into rows and commits them in one transaction (so batches grow
by themselves while a commit runs), and the last batch is committed before
``flow_run_finished`` returns. A crash (even SIGKILL) loses at most the batch that was
not committed yet; the database itself stays consistent (SQLite WAL, transactions).

Use it through ``flow.run(store=...)``, which also installs :meth:`StoreRecorder.
state_handler` (it queues each change and persists results) and puts ``flow_run_id``
in ``lockgate.context``.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lockgate.engine.hooks import RunHooks
from lockgate.engine.result import NoResult, Result
from lockgate.engine.state import (
    Cached,
    Failed,
    Finished,
    Paused,
    Running,
    Scheduled,
    State,
    Success,
)
from lockgate.store import _process, history, logcapture, schema
from lockgate.store.graph import graph_hash
from lockgate.store.results import (
    INLINE_HANDLER_NAME,
    INLINE_LIMIT,
    UnstorableResultError,
    dumps,
    file_handler,
    qualified_name,
    write_file,
)
from lockgate.store.run_store import run_state, write_transaction
from lockgate.store.states import INLINE_LOCATION
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.task_runner import TaskRunner
    from lockgate.store.run_store import RunStore

__all__ = ["StoreRecorder", "run_with_store"]

_log = logging.getLogger("lockgate.store")

BATCH_SECONDS = 0.05
"""While changes stream in (the last batch had :data:`BUSY_EVENTS` or more), the writer
lets them gather this long before its next commit (unless a flush or the end is asked
for): a task's Running and Success then land in one row write, and commits are few. A
crash then loses at most the last 50 ms of changes; a quiet run commits each change at
once."""

BUSY_EVENTS = 256
"""A batch at least this big means changes are streaming in (see :data:`BATCH_SECONDS`)."""

CANCEL_POLL_SECONDS = 0.5
"""How often the recording process looks for a cancel request (one indexed SELECT)."""

# Record kinds (the first value of each record in the event buffer).
_TASK, _LOG, _START, _END, _FLUSH, _STOP = range(6)
_STRIDE = 11  # values per record in the event buffer (a task change has 11)

_TASK_COLUMNS = (
    "flow_run_id",
    "task_slug",
    "map_index",
    "seq",
    "task_name",
    "state",
    "message",
    "run_count",
    "start_time",
    "end_time",
    "scheduled_time",
    "result_location",
    "result_handler",
    "result_blob",
    "cached_inputs_location",
    "cached_inputs_blob",
    "traceback",
    "history",
)
# Positions in a task row that a later change of the same task run reads back.
_SEQ = _TASK_COLUMNS.index("seq")
_START_T = _TASK_COLUMNS.index("start_time")
_HISTORY = _TASK_COLUMNS.index("history")
_ROWS_PER_STATEMENT = 200
_NO_VALUES = (None, None, None, None, None)  # result location ... cached inputs blob
_LOG_COLUMNS = ("flow_run_id", "task_slug", "map_index", "level", "logger", "message", "timestamp")
_KEEP_INPUTS = (Paused, Failed, Scheduled)  # states that may run again with their inputs


class StoreRecorder(RunHooks):
    """Records one flow run (flow, run, task runs, transitions, logs, results).

    Get one from :meth:`RunStore.recorder` and pass it to ``flow.run(store=recorder)``.

    Args:
        store: the store to write to.
        source: where the flow was loaded from, or None.
        executor: a description of the executor, or None.
        flow_run_id: an existing run to continue (resume, restart); None for a new run.

    Attributes:
        flow_run_id: the run's id (known before the run starts).
        results_dir: where this run's result files go (``store.results_dir / id``).
        error: the exception that stopped the writer, or None. A store error never
            fails the flow run; it is logged (logger ``lockgate.store``) and kept here.
    """

    def __init__(
        self,
        store: RunStore,
        *,
        source: str | None = None,
        executor: str | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.executor = executor
        self.continuing = flow_run_id is not None
        self.flow_run_id: str = flow_run_id or uuid.uuid4().hex
        self.results_dir = store.results_dir / self.flow_run_id
        self.error: BaseException | None = None
        # Events go into one flat list (every record is _STRIDE values, appended with a
        # single atomic list.extend), and a doorbell wakes the writer. A queue of tuples
        # would keep thousands of new container objects alive while the writer lags
        # behind, and make the garbage collector run more often on the run's thread.
        self._buf: list[Any] = []
        self._bell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._ringing = False
        self._urgent = threading.Event()  # a flush or the end is waiting: commit now
        self._seen: State | None = None
        self._thread: threading.Thread | None = None
        self._finished = False
        self._lock = threading.Lock()
        self.cancel_event = threading.Event()
        """Set when someone asks to cancel this run (:meth:`RunStore.request_cancel`);
        ``flow.run(store=...)`` passes it to the run as its ``cancel`` event."""
        self._watching = threading.Event()  # set: stop watching for a cancel request

    def __repr__(self) -> str:
        return f"<StoreRecorder run {self.flow_run_id} in {self.store!r}>"

    def check_unused(self) -> None:
        """Raise unless this recorder is still unused (each records exactly one run).

        Raises:
            RuntimeError: it already recorded a run.
        """
        if self._thread is not None:
            raise RuntimeError(
                f"StoreRecorder for run {self.flow_run_id} was already used; "
                "get a new one from store.recorder() for each run "
                "(store.recorder(flow_run_id=...) continues a stored run)."
            )

    # -- RunHooks ------------------------------------------------------------------------
    def flow_run_started(self, flow: Flow, state: State, context: dict[str, Any]) -> None:
        """Start the writer thread and record the run as Running.

        Raises:
            RuntimeError: the recorder already recorded a run.
        """
        with self._lock:
            self.check_unused()
            # Logs are routed by lockgate.context.flow_run_id (flow.run(store=) sets it).
            context.setdefault("flow_run_id", self.flow_run_id)
            self._thread = threading.Thread(
                target=self._writer, name=f"lockgate-store-{self.flow_run_id[:8]}", daemon=True
            )
            self._thread.start()
            threading.Thread(
                target=self._watch_for_cancel,
                args=(time.time(),),
                name=f"lockgate-cancel-{self.flow_run_id[:8]}",
                daemon=True,
            ).start()
        self._emit(_START, flow, state.message, _parameters_json(context), time.time())
        logcapture.attach(self)

    def _watch_for_cancel(self, since: float) -> None:
        """Poll the store for a cancel request made after ``since``; set the event."""
        while not self._watching.wait(CANCEL_POLL_SECONDS):
            try:
                asked = self.store.cancel_requested(self.flow_run_id)
            except Exception:  # a busy or unreachable store: look again later
                _log.debug("could not read the cancel request of %s", self.flow_run_id)
                continue
            if asked is not None and asked >= since:
                _log.warning("Run %s: cancel requested; cancelling.", self.flow_run_id)
                self.cancel_event.set()
                return

    def task_state_changed(self, task: Any, old: State, new: State) -> None:
        """Queue the change (one ``queue.put``; the writer thread does the rest).

        Under ``flow.run(store=...)`` :meth:`state_handler` has queued the change
        already; this only catches a change it could not see (when a state handler
        before it raised).
        """
        if self._seen is not new:
            self._record(task.name, old, new, None)

    def _record(self, name: str, old: State, new: State, data: bytes | None) -> None:
        values = ctx.current()
        cls = type(new)
        kind_id = _KIND_IDS.get(cls)
        if kind_id is None:
            kind_id = _kind_id(cls)
        kind = _KIND_LIST[kind_id]
        self._buf.extend(
            (
                _TASK,
                values.get("task_slug"),
                values.get("map_index"),
                name,
                type(old).__name__,
                kind_id,
                new.message,
                values.get("task_run_count", 1),
                time.time(),
                data,
                new if kind.needs_state or (kind.stores_result and data is None) else None,
            )
        )
        if not self._ringing:
            self._ringing = True
            self._bell.put(None)

    def _emit(self, *record: Any) -> None:
        """Queue one (rare) record, padded to the stride, and wake the writer."""
        self._buf.extend(record + (None,) * (_STRIDE - len(record)))
        if not self._ringing:
            self._ringing = True
            self._bell.put(None)

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        """Record the flow's final state and wait until everything is committed."""
        self._finish(type(state).__name__, state.message)

    # -- results -------------------------------------------------------------------------
    def state_handler(self, runner: TaskRunner, old: State, new: State) -> State:
        """The task runner state handler ``flow.run(store=...)`` installs (last).

        It queues every state change (so the run hook has nothing left to do) and
        persists each successful task's result: a task with ``checkpoint=False`` is
        left alone, and so is a result the engine already stored through the task's
        handler; a task (or flow) ``result_handler`` stores the value itself; otherwise
        the value is pickled here, on the task's path, and the writer keeps it in the
        store (small) or in a file (large).

        Returns:
            ``new``, or a Failed state naming the task and the type when the value
            cannot be stored.
        """
        data = None
        cls = type(new)
        if cls is Success or cls is Cached:
            stored = self._store_result(runner, new)
            if isinstance(stored, State):
                new = stored
            else:
                data = stored
        self._record(runner.task.name, old, new, data)
        # The flow run calls handlers and hooks from its one scheduling loop, so a plain
        # attribute tells task_state_changed that this change is recorded already.
        self._seen = new
        return new

    def _store_result(self, runner: TaskRunner, new: State) -> bytes | State | None:
        """Pickled bytes for the writer, None (nothing to add), or a Failed state."""
        task = runner.task
        if task.checkpoint is False:
            return None
        stored = new._result
        if stored is not None and getattr(stored, "safe_value", None) is not None:
            return None
        value = new.result
        if value is NoResult:
            return None
        handler = task.result_handler or runner.result_handler
        try:
            if handler is not None:
                result = Result(value, handler)
                result.store_safe_value()
                new._result = result
                return None
            return dumps(value)
        except Exception as exc:
            name = ctx.current().get("task_full_name") or task.name
            why = exc if isinstance(exc, UnstorableResultError) else f"{type(exc).__name__}: {exc}"
            return Failed(
                f"Task {name!r} returned a value of type {type(value).__name__} that the run "
                f"store cannot keep ({why}); return a picklable value, or give the task "
                "a result_handler that can store it, or checkpoint=False.",
                result=exc,
            )

    # -- logs ----------------------------------------------------------------------------
    def log_record(self, task_slug: str | None, map_index: int | None, record: Any) -> None:
        """Queue one log record of this run (called by the log capture handler)."""
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
        self._emit(
            _LOG,
            task_slug,
            -1 if map_index is None else map_index,
            record.levelname,
            record.name,
            message,
            record.created,
        )

    # -- control -------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed.

        Args:
            timeout: give up after this many seconds (None: wait as long as it takes).

        Returns:
            True when it was committed (or there is nothing to commit).
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        done = threading.Event()
        self._emit(_FLUSH, done)
        self._urgent.set()
        return done.wait(timeout)

    def close(self) -> None:
        """Finish the record if the run ended without ``flow_run_finished`` (it raised).

        The run is recorded as Failed with a message saying the flow run raised.
        Idempotent; a no-op for a run that finished normally or never started.
        """
        if self._thread is not None and not self._finished:
            self._finish("Failed", "The flow run raised an exception before it finished.")

    def _finish(self, state_name: str, message: str | None) -> None:
        with self._lock:
            if self._finished or self._thread is None:
                return
            self._finished = True
        self._watching.set()
        try:
            self._emit(_END, state_name, message, time.time())
            self._emit(_STOP)
            self._urgent.set()
            self._thread.join()
        finally:
            logcapture.detach(self)
        if self.error is not None:
            _log.error(
                "The run store could not record all of run %s: %s",
                self.flow_run_id,
                self.error,
            )

    # -- the writer thread ---------------------------------------------------------------
    def _writer(self) -> None:
        writer = _Writer(self)
        buf, ring = self._buf, self._bell.get
        urgent = self._urgent
        busy = False
        try:
            while True:
                ring()
                if busy:  # let streaming changes gather (see BATCH_SECONDS)
                    urgent.wait(BATCH_SECONDS)
                urgent.clear()
                self._ringing = False  # before taking: a record added after rings again
                end = len(buf)
                busy = end >= BUSY_EVENTS * _STRIDE
                batch = buf[:end]
                del buf[:end]
                if writer.process(batch):
                    break
        except BaseException as exc:  # never leave flow_run_finished waiting
            self.error = exc
            _log.exception("The run store writer for run %s stopped", self.flow_run_id)
            while True:  # drain so waiters are released
                ring()
                self._ringing = False
                end = len(buf)
                batch = buf[:end]
                del buf[:end]
                kinds = batch[::_STRIDE]
                for i, kind in enumerate(kinds):
                    if kind == _FLUSH:
                        batch[i * _STRIDE + 1].set()
                if _STOP in kinds:
                    break
        finally:
            writer.close()


class _Kind:
    """What the writer needs to know about a state class (computed once per class)."""

    __slots__ = (
        "failed",
        "finished",
        "keeps_inputs",
        "name",
        "needs_state",
        "running",
        "scheduled",
        "stores_result",
    )

    def __init__(self, cls: type[State]) -> None:
        self.name = cls.__name__
        self.running = issubclass(cls, Running)
        self.finished = issubclass(cls, Finished)
        self.failed = issubclass(cls, Failed)
        self.scheduled = issubclass(cls, Scheduled)
        self.stores_result = cls is Success or cls is Cached
        self.keeps_inputs = issubclass(cls, _KEEP_INPUTS)
        # The writer reads the state object itself only for these (start time, inputs,
        # exception); other events carry plain values only.
        self.needs_state = self.scheduled or self.keeps_inputs or self.failed


# Kinds by class, as small ints: queue items then hold only untracked values (ints,
# strings, floats, bytes), which the garbage collector stops scanning: a recorded
# run must not make the collector work harder on the run's own objects.
_KIND_IDS: dict[type[State], int] = {}
_KIND_LIST: list[_Kind] = []
_kind_lock = threading.Lock()


def _kind_id(cls: type[State]) -> int:
    with _kind_lock:
        found = _KIND_IDS.get(cls)
        if found is None:
            _KIND_LIST.append(_Kind(cls))
            found = _KIND_IDS[cls] = len(_KIND_LIST) - 1
        return found


_US, _RS = "\x1f", "\x1e"  # history separators (see history.py)


class _Writer:
    """The writer thread's state: pending rows and how to commit them."""

    def __init__(self, recorder: StoreRecorder) -> None:
        self.recorder = recorder
        self.run_id = recorder.flow_run_id
        self.store = recorder.store
        self.conn: Connection | None = None
        self.transaction: Any = None
        self.broken = False
        self.seqs: dict[str, int] = {}
        self.next_seq = 0
        self.rows: dict[Any, tuple[Any, ...]] = {}
        self.logs: list[tuple[Any, ...]] = []
        self.start: tuple[Any, ...] | None = None
        self.end: tuple[Any, ...] | None = None
        dialect = self.store.engine.dialect
        quote = dialect.identifier_preparer.quote
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        # Rows go in as multi-row INSERTs (one statement per chunk, not one per row):
        # far less work per row, and SQLite drops the GIL once per statement, not per row.
        self.max_params = _max_params(dialect.name)
        table = quote("task_runs")
        keep = ("flow_run_id", "task_slug", "map_index", "seq", "start_time", "history")
        updates = [f"{quote(c)} = excluded.{quote(c)}" for c in _TASK_COLUMNS if c not in keep]
        for column, expression in (
            ("start_time", "COALESCE({old}, {new})"),
            ("history", "{old} || {new}"),
        ):
            old, new = f"{table}.{quote(column)}", f"excluded.{quote(column)}"
            updates.append(f"{quote(column)} = " + expression.format(old=old, new=new))
        self.task_sql = (
            _insert_head(quote, "task_runs", _TASK_COLUMNS),
            " ON CONFLICT (flow_run_id, task_slug, map_index) DO UPDATE SET " + ", ".join(updates),
            len(_TASK_COLUMNS),
        )
        self.log_sql = (_insert_head(quote, "logs", _LOG_COLUMNS), "", len(_LOG_COLUMNS))

    def insert_rows(
        self, conn: Connection, sql: tuple[str, str, int], rows: Sequence[Sequence[Any]]
    ) -> None:
        """INSERT ``rows``, :data:`_ROWS_PER_STATEMENT` per statement.

        Multi-row statements cost far less per row than one statement per row, and
        SQLite drops the GIL once per statement (so the run's own thread keeps going);
        full chunks share one prepared statement through ``executemany``.
        """
        head, tail, width = sql
        per = max(1, min(_ROWS_PER_STATEMENT, self.max_params // width))
        group = "(" + ", ".join([self.mark] * width) + ")"
        full = len(rows) - len(rows) % per
        if full:
            chunks = [
                tuple([value for row in rows[start : start + per] for value in row])
                for start in range(0, full, per)
            ]
            text = head + ", ".join([group] * per) + tail
            if len(chunks) == 1:
                conn.exec_driver_sql(text, chunks[0])
            else:
                conn.exec_driver_sql(text, chunks)
        if full < len(rows):
            rest = rows[full:]
            params = tuple([value for row in rest for value in row])
            conn.exec_driver_sql(head + ", ".join([group] * len(rest)) + tail, params)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                _log.debug("closing the store connection failed", exc_info=True)
            self.conn = None

    # -- turning queue items into rows ---------------------------------------------------
    def process(self, batch: list[Any]) -> bool:
        """Apply a batch of queue items in one transaction; True when the writer should stop.

        Task rows go to the database every :data:`_ROWS_PER_STATEMENT` rows within the
        transaction, so only a few hundred are alive at a time (many live objects would
        make the garbage collector run more often on the run's own thread).
        """
        stop = False
        flushes: list[threading.Event] = []
        task_event = self.task_event
        rows = self.rows
        try:
            for i in range(0, len(batch), _STRIDE):
                kind = batch[i]
                if kind == _TASK:
                    task_event(batch[i : i + _STRIDE])
                    if len(rows) >= _ROWS_PER_STATEMENT:
                        self.flush_rows()
                elif kind == _LOG:
                    self.logs.append((self.run_id, *batch[i + 1 : i + 7]))
                elif kind == _START:
                    self.start = tuple(batch[i : i + 5])
                elif kind == _END:
                    self.end = tuple(batch[i : i + 4])
                elif kind == _FLUSH:
                    flushes.append(batch[i + 1])
                elif kind == _STOP:
                    stop = True
            self.commit()
        except Exception as exc:
            self.rollback()
            self.broken = True
            self.recorder.error = exc
            _log.error(
                "The run store could not record run %s (%s); the run goes on unrecorded.",
                self.run_id,
                exc,
            )
        finally:
            rows.clear()
            self.logs.clear()
            for done in flushes:
                done.set()
        return stop

    def task_event(self, item: list[Any]) -> None:
        """Fold one state change into its task run's pending row (the hot path).

        Rows are tuples of plain values (rebuilt per change): the garbage collector
        stops tracking them, so recording does not make it scan the run's objects more.
        """
        _, slug, index, name, old_name, kind_id, message, run_count, ts, data, new = item
        if slug is None:
            slug = name
        # Mapped children are keyed (slug, index); tasks by slug alone (no tuple to make).
        key: Any = slug if index is None else (slug, index)
        kind = _KIND_LIST[kind_id]
        text = message
        if text and (_US in text or _RS in text):
            text = history.clean(text)
        step = f"{ts!r}{_US}{old_name}{_US}{kind.name}{_US}{text or ''}{_RS}"
        prev = self.rows.get(key)
        if prev is None:
            seq = self.seqs.get(slug)
            if seq is None:
                seq = self.seqs[slug] = self.next_seq
                self.next_seq += 1
            start = ts if kind.running else None
            steps = step
        else:
            seq = prev[_SEQ]
            start = prev[_START_T]
            if start is None and kind.running:
                start = ts
            steps = prev[_HISTORY] + step
        if kind.stores_result:
            stored = self.result_fields(data, new)
        elif kind.keeps_inputs and new.cached_inputs:
            stored = self.input_fields(new.cached_inputs)
        else:
            stored = _NO_VALUES
        trace = None
        if kind.failed and isinstance(new.result, BaseException):
            exc = new.result
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.rows[key] = (
            self.run_id,
            slug,
            -1 if index is None else index,
            seq,
            name,
            kind.name,
            message,
            run_count,
            start,
            ts if kind.finished else None,
            new.start_time.timestamp() if kind.scheduled else None,
            *stored,
            trace,
            steps,
        )

    def result_fields(self, data: bytes | None, new: State | None) -> tuple[Any, ...]:
        """(result location, handler, blob, inputs location, inputs blob) of a success."""
        if data is not None:
            if len(data) <= INLINE_LIMIT:
                return (INLINE_LOCATION, INLINE_HANDLER_NAME, data, None, None)
            directory = self.recorder.results_dir
            path = write_file(directory, data)
            handler = file_handler(directory)
            return (path, qualified_name(handler), pickle.dumps(_safe(path, handler)), None, None)
        stored = new._result if new is not None else None
        safe = getattr(stored, "safe_value", None) if stored is not None else None
        if safe is None:
            return _NO_VALUES
        try:
            blob = dumps(safe)
        except UnstorableResultError:
            return _NO_VALUES
        location = safe.value if isinstance(safe.value, str) else repr(safe.value)
        return (location, qualified_name(safe.result_handler), blob, None, None)

    def input_fields(self, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        """The same five fields for a state that keeps its inputs (Paused, Failed, ...)."""
        try:
            data = dumps(dict(inputs))
        except UnstorableResultError:
            kept = {}
            for k, v in inputs.items():
                try:
                    dumps(v)
                except UnstorableResultError:
                    continue
                kept[k] = v
            data = dumps(kept)
        if len(data) <= INLINE_LIMIT:
            return (None, None, None, INLINE_LOCATION, data)
        directory = self.recorder.results_dir
        path = write_file(directory, data)
        return (None, None, None, path, pickle.dumps(_safe(path, file_handler(directory))))

    # -- committing ----------------------------------------------------------------------
    def connection(self) -> Connection:
        if self.conn is None:
            self.conn = self.store.engine.connect()
        return self.conn

    def begin(self) -> Connection:
        """The connection, inside this batch's write transaction (begun on first use)."""
        conn = self.connection()
        if self.transaction is None:
            self.transaction = write_transaction(conn)
            self.transaction.__enter__()
            if self.start is not None:
                self.write_start(conn, self.start)
                self.start = None
        return conn

    def flush_rows(self) -> None:
        """Send the pending task rows (inside the open transaction)."""
        if self.broken:
            self.rows.clear()
            return
        conn = self.begin()
        self.insert_rows(conn, self.task_sql, list(self.rows.values()))
        self.rows.clear()

    def commit(self) -> None:
        """Write what is pending and commit the batch's transaction."""
        if self.broken:
            return
        if self.transaction is None and not (self.start or self.rows or self.logs or self.end):
            return
        conn = self.begin()
        if self.rows:
            self.insert_rows(conn, self.task_sql, list(self.rows.values()))
        if self.logs:
            self.insert_rows(conn, self.log_sql, self.logs)
        if self.end is not None:
            self.write_end(conn, self.end)
            self.end = None
        transaction, self.transaction = self.transaction, None
        assert transaction is not None
        transaction.__exit__(None, None, None)

    def rollback(self) -> None:
        """Abandon the batch's transaction after an error (nothing of it is kept)."""
        transaction, self.transaction = self.transaction, None
        if transaction is not None:
            try:
                transaction.__exit__(RuntimeError, RuntimeError("rollback"), None)
            except Exception:
                _log.debug("rolling back the store transaction failed", exc_info=True)

    def write_start(self, conn: Connection, item: tuple[Any, ...]) -> None:
        _, flow, message, parameters, ts = item
        recorder = self.recorder
        fr, tr = schema.flow_runs, schema.task_runs
        pid = os.getpid()
        process = {
            "pid": pid,
            "host": _process.host_name(),
            "proc_start": _process.process_start(pid),
            "active": True,
        }
        if recorder.continuing:
            row = conn.execute(sa.select(fr).where(fr.c.id == self.run_id)).first()
            old_state = run_state(row) if row is not None else None
            seqs = conn.execute(
                sa.select(tr.c.task_slug, sa.func.min(tr.c.seq))
                .where(tr.c.flow_run_id == self.run_id)
                .group_by(tr.c.task_slug)
            ).all()
            for slug, seq in seqs:
                self.seqs[slug] = seq
            self.next_seq = max((s for _, s in seqs), default=-1) + 1
            values: dict[str, Any] = {
                "state": "Running",
                "message": message,
                "end_time": None,
                # A paused run that goes on stays Running: no transition to record.
                "history": (row.history if row is not None else "")
                + (
                    ""
                    if old_state == "Running"
                    else history.entry(ts, old_state, "Running", message)
                ),
                **process,
            }
            if recorder.executor is not None:
                values["executor"] = recorder.executor
            conn.execute(fr.update().where(fr.c.id == self.run_id).values(**values))
            return
        digest = graph_hash(flow)
        flow_id = _flow_id(conn, flow.name, digest, recorder.source or "", ts)
        conn.execute(
            fr.insert().values(
                id=self.run_id,
                flow_id=flow_id,
                flow_name=flow.name,
                graph_hash=digest,
                source=recorder.source,
                parameters=parameters,
                executor=recorder.executor,
                state="Running",
                message=message,
                start_time=ts,
                end_time=None,
                created=ts,
                history=history.entry(ts, None, "Running", message),
                **process,
            )
        )

    def write_end(self, conn: Connection, item: tuple[Any, ...]) -> None:
        _, state_name, message, ts = item
        fr = schema.flow_runs
        conn.execute(
            fr.update()
            .where(fr.c.id == self.run_id)
            .values(
                state=state_name,
                message=message,
                end_time=None if state_name == "Running" else ts,
                active=False,
                # Ending with Paused tasks leaves the run Running: no transition.
                history=fr.c.history
                + (
                    ""
                    if state_name == "Running"
                    else history.entry(ts, "Running", state_name, message)
                ),
            )
        )


def _insert_head(quote: Any, table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "


def _max_params(dialect_name: str) -> int:
    """Bound parameters per statement: SQLite allows 32,766 since 3.32 (999 before)."""
    if dialect_name == "sqlite":
        import sqlite3

        return 32_000 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return 30_000  # PostgreSQL's protocol allows 65,535


def _safe(location: str, handler: Any) -> Any:
    from lockgate.engine.result import SafeResult

    return SafeResult(location, handler)


def _flow_id(conn: Connection, name: str, digest: str, source: str, ts: float) -> int:
    f = schema.flows
    where = (f.c.name == name, f.c.graph_hash == digest, f.c.source == source)
    found = conn.execute(sa.select(f.c.id).where(*where)).scalar()
    if found is None:
        dialect = conn.dialect.name
        values = {"name": name, "graph_hash": digest, "source": source, "created": ts}
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(f).values(**values).on_conflict_do_nothing())
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(f).values(**values).on_conflict_do_nothing())
        found = conn.execute(sa.select(f.c.id).where(*where)).scalar_one()
    return int(found)


def _parameters_json(context: Mapping[str, Any]) -> str:
    parameters = context.get("parameters") or {}
    try:
        return json.dumps(parameters, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps({k: repr(v) for k, v in parameters.items()}, sort_keys=True)


def describe_executor(executor: Any) -> str:
    """A short text for the executor a run uses (what ``lockgate runs`` shows).

    Args:
        executor: an Executor, a text form such as ``"threads:8"``, or None (then
            ``$LOCKGATE_EXECUTOR``, else ``"local"``).
    """
    if executor is None:
        return os.environ.get("LOCKGATE_EXECUTOR") or "local"
    if isinstance(executor, str):
        return executor
    return type(executor).__name__


def run_with_store(
    flow: Flow,
    store: Any,
    parameters: Mapping[str, Any],
    kwargs: dict[str, Any],
) -> State:
    """Run ``flow`` with its run recorded (what ``flow.run(store=...)`` does).

    Args:
        flow: the flow.
        store: True, a URL, a :class:`~lockgate.store.RunStore` or a
            :class:`StoreRecorder` (see :func:`~lockgate.store.resolve_store`).
        parameters: the (checked) parameter values.
        kwargs: the other ``FlowRunner.run`` arguments.

    Returns:
        The flow's final state.

    Raises:
        StoreError: the store cannot be opened.
    """
    from lockgate.engine.flow_runner import FlowRunner
    from lockgate.store.run_store import resolve_store

    run_store, recorder, owned = resolve_store(store)
    try:
        if recorder is None:
            recorder = run_store.recorder(executor=describe_executor(kwargs.get("executor")))
        else:
            recorder.check_unused()
            if recorder.executor is None:
                recorder.executor = describe_executor(kwargs.get("executor"))
        hooks = [*(kwargs.pop("hooks", None) or ()), recorder]
        handlers = [*(kwargs.pop("task_runner_state_handlers", None) or ()), recorder.state_handler]
        context = {**(kwargs.pop("context", None) or {}), "flow_run_id": recorder.flow_run_id}
        if kwargs.get("cancel") is not None:
            recorder.cancel_event = kwargs["cancel"]  # a request from the store sets theirs
        kwargs["cancel"] = recorder.cancel_event
        try:
            return FlowRunner(flow).run(
                parameters=parameters,
                hooks=hooks,
                task_runner_state_handlers=handlers,
                context=context,
                **kwargs,
            )
        finally:
            recorder.close()
    finally:
        if owned:
            run_store.close()
