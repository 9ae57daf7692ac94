"""StoreRecorder: records a flow run in a :class:`~lockgate.store.RunStore`.

The recorder is a :class:`~lockgate.engine.hooks.RunHooks` subscriber. The run's row is
committed when the run starts, before any task runs. After that, on the task's path it
only appends a few values to a buffer (one ``list.extend``). A writer thread takes what
accumulated (so batches grow by themselves while it works) and hands the task changes
and logs on: for a SQLite file to a writer process (:mod:`lockgate.store._writer`),
which folds them into rows and commits them on another CPU core without taking the
run's GIL; for other stores it writes them itself. The last batch, then the run's end,
are committed before ``flow_run_finished`` returns. A crash (even SIGKILL) loses at
most what was not committed yet (a killed run's writer process still commits what it
was sent); the database itself stays consistent (SQLite WAL, transactions).

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
import subprocess
import sys
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
from lockgate.store import _writer as _writer_file
from lockgate.store._writer import (
    EXTRA,
    KIND_ID,
    LOG,
    NO_VALUES,
    STRIDE,
    TASK,
    TaskRows,
    insert_rows,
    lock_run,
    log_insert,
    receive,
    remove_run_lock,
    send,
    sqlite_max_params,
    task_upsert,
    unlock_run,
)
from lockgate.store.errors import StoreError
from lockgate.store.graph import graph_document, graph_hash
from lockgate.store.results import (
    INLINE_HANDLER_NAME,
    INLINE_LIMIT,
    UnstorableResultError,
    dumps,
    file_handler,
    qualified_name,
    write_file,
)
from lockgate.store.run_store import (
    BUSY_TIMEOUT_MS,
    remove_unreferenced,
    run_state,
    write_transaction,
)
from lockgate.store.states import INLINE_LOCATION
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.task_runner import TaskRunner
    from lockgate.store.run_store import RunStore

__all__ = ["StoreRecorder"]

_log = logging.getLogger("lockgate.store")

BATCH_SECONDS = 0.05
"""While changes stream in (the last batch had :data:`BUSY_EVENTS` or more), a writer
thread that writes rows itself lets them gather this long before its next commit
(unless a flush or the end is asked for): a task's Running and Success then land in
one row write, and commits are few. A crash then loses at most the last 50 ms of
changes; a quiet run commits each change at once."""

BUSY_EVENTS = 256
"""A batch at least this big means changes are streaming in (see :data:`BATCH_SECONDS`)."""

CANCEL_POLL_SECONDS = 0.5
"""How often the recording process looks for a cancel request (one indexed SELECT)."""

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
        self.writer_mode = writer_mode()
        self._process: _WriterProcess | None = None
        # Events go into one flat list (every record is STRIDE values, appended with a
        # single atomic list.extend), and a doorbell wakes the writer. A queue of tuples
        # would keep thousands of new container objects alive while the writer lags
        # behind, and make the garbage collector run more often on the run's thread.
        self._buf: list[Any] = []
        self._controls: list[tuple[Any, ...]] = []  # flush and end (see _control)
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
        """Record the run as Running and start the writer thread (and process).

        The run's row is committed before this returns, so a run shows in the store
        (``lockgate runs``) before any of its tasks starts.

        Raises:
            RuntimeError: the recorder already recorded a run.
        """
        with self._lock:
            self.check_unused()
            # Logs are routed by lockgate.context.flow_run_id (flow.run(store=) sets it).
            context.setdefault("flow_run_id", self.flow_run_id)
            database = _process_database(self.store) if self.writer_mode == "process" else None
            if database is not None:
                try:  # started first: it boots while the run begins
                    self._process = _WriterProcess(database, self.flow_run_id)
                except OSError as exc:
                    _log.warning("No store writer process (%s); writing from a thread.", exc)
            writer = _RunWriter(self)
            self._thread = threading.Thread(
                target=self._write_loop,
                args=(writer,),
                name=f"lockgate-store-{self.flow_run_id[:8]}",
                daemon=True,
            )
            threading.Thread(
                target=self._watch_for_cancel,
                args=(time.time(),),
                name=f"lockgate-cancel-{self.flow_run_id[:8]}",
                daemon=True,
            ).start()
        try:
            writer.start(flow, state.message, _parameters_json(context), time.time())
        except Exception as exc:  # the run goes on unrecorded
            writer.fail(exc)
        self._thread.start()
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
        if kind.needs_state or (kind.stores_result and data is None):
            extra: Any = new  # the writer thread turns it into plain values
        elif data is not None and len(data) > INLINE_LIMIT:
            extra, data = data, None  # the writer thread puts it in a file
        else:
            extra = None
        self._buf.extend(
            (
                TASK,
                values.get("task_slug"),
                values.get("map_index"),
                name,
                type(old).__name__,
                kind_id,
                new.message,
                values.get("task_run_count", 1),
                time.time(),
                data,
                extra,
            )
        )
        if not self._ringing:
            self._ringing = True
            self._bell.put(None)

    def _emit(self, *record: Any) -> None:
        """Queue one (rare) record, padded to the stride, and wake the writer."""
        self._buf.extend(record + (None,) * (STRIDE - len(record)))
        if not self._ringing:
            self._ringing = True
            self._bell.put(None)

    def _control(self, *record: Any) -> None:
        """Queue a flush or end record and wake the writer.

        They have a list of their own, which the writer takes before the buffer: so
        the batch it takes next holds every change queued before them, and the buffer
        holds task changes and logs only (no scan for the rare kinds).
        """
        self._controls.append(record)
        self._urgent.set()
        if not self._ringing:
            self._ringing = True
            self._bell.put(None)

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        """Record the flow's final state and wait until everything is committed.

        A run that ended Failed or Cancelled also records a Pending row for each task
        and mapped child that never started, so ``show`` lists them, the run's counts
        include them and ``restart`` runs them. (A paused run's waiting tasks are not
        recorded until they run.)
        """
        unstarted = _unstarted(flow, state) if isinstance(state, Failed) else []
        self._finish(type(state).__name__, state.message, unstarted)

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
        if stored is not None and getattr(stored, "safe_value", None):  # NoResult is falsy
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
            LOG,
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
        self._control(_FLUSH, done)
        return done.wait(timeout)

    def close(self) -> None:
        """Finish the record if the run ended without ``flow_run_finished`` (it raised).

        The run is recorded as Failed with a message saying the flow run raised.
        Idempotent; a no-op for a run that finished normally or never started.
        """
        if self._thread is not None and not self._finished:
            self._finish("Failed", "The flow run raised an exception before it finished.")

    def _finish(
        self,
        state_name: str,
        message: str | None,
        unstarted: list[tuple[str, int, str]] | None = None,
    ) -> None:
        with self._lock:
            if self._finished or self._thread is None:
                return
            self._finished = True
        self._watching.set()
        try:
            self._control(_END, state_name, message, time.time(), unstarted or [])
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
    def _write_loop(self, writer: _RunWriter) -> None:
        """The writer thread: take what the run queued and hand it to the sink.

        It turns state objects into plain values, keeps results too big for a row in
        files, hands task changes and logs to a sink (the writer process for a SQLite
        file, else rows written right here) and at last writes the run's end.
        """
        buf, controls = self._buf, self._controls
        ring, urgent = self._bell.get, self._urgent
        busy = ended = False
        try:
            while True:
                ring()
                if busy and writer.gathers:  # let streaming changes gather (BATCH_SECONDS)
                    urgent.wait(BATCH_SECONDS)
                urgent.clear()
                self._ringing = False  # before taking: a record added after rings again
                count = len(controls)  # controls first: see _control
                taken = controls[:count]
                del controls[:count]
                end = len(buf)
                busy = end >= BUSY_EVENTS * STRIDE
                batch = buf[:end]
                del buf[:end]
                ended = any(record[0] is _END for record in taken)
                if writer.deliver(taken, batch):
                    break
        except BaseException as exc:  # never leave flow_run_finished waiting
            self.error = exc
            _log.exception("The run store writer for run %s stopped", self.flow_run_id)
            while not ended:  # release every waiter until the end record comes
                kinds = [record[0] for record in controls]
                for record in controls:
                    if record[0] is _FLUSH:
                        record[1].set()
                del controls[: len(kinds)]
                del buf[:]
                if _END in kinds:
                    break
                ring()
                self._ringing = False
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


def _kinds_table() -> list[tuple[str, bool, bool]]:
    """The kinds as :class:`~lockgate.store._writer.TaskRows` reads them."""
    return [(k.name, k.running, k.finished) for k in _KIND_LIST]


WRITER_ENV = "LOCKGATE_STORE_WRITER"
"""Environment variable: ``process`` (the default) writes a SQLite file's rows from a
separate writer process, ``thread`` from a thread of the run's own process."""

_WRITER_MODES = ("process", "thread")


def writer_mode() -> str:
    """The writer mode from :data:`WRITER_ENV`, else the setting ``store.writer``
    (default ``process``).

    Raises:
        StoreError: the variable or the setting holds something else.
    """
    source = f"{WRITER_ENV}={os.environ.get(WRITER_ENV)!r}"
    mode = os.environ.get(WRITER_ENV, "").strip().lower()
    if not mode:
        from lockgate.configuration import config

        setting = config.get_nested("store.writer")
        source = f"Setting store.writer = {setting!r}"
        mode = str(setting or "process").strip().lower()
    if mode not in _WRITER_MODES:
        raise StoreError(
            f"{source} is not a writer mode; set it to 'process' (the default) or 'thread'."
        )
    return mode


def _process_database(store: RunStore) -> str | None:
    """The SQLite file a writer process may write to, or None (write from a thread)."""
    if sys.platform == "win32" or not sys.executable:  # it needs select(), flock()
        return None  # and a Python to start
    return store.sqlite_file


# Control records (see StoreRecorder._control): a flush, the end.
_FLUSH, _END = "flush", "end"


class _RunWriter:
    """The writer thread's state: the run's row, and the sink for task and log rows."""

    def __init__(self, recorder: StoreRecorder) -> None:
        self.recorder = recorder
        self.run_id = recorder.flow_run_id
        self.store = recorder.store
        self.process = recorder._process
        self.gathers = self.process is None  # a writer process gathers on its side
        self.sink: _ThreadSink | _ProcessSink | None = None
        self.conn: Connection | None = None

    # -- one batch -----------------------------------------------------------------------
    def deliver(self, controls: list[tuple[Any, ...]], batch: list[Any]) -> bool:
        """Write one batch, then the end if it came; True once the run has ended."""
        flushes: list[threading.Event] = []
        end = None
        for record in controls:
            if record[0] is _FLUSH:
                flushes.append(record[1])
            else:
                end = record
        try:
            if self.sink is not None:
                extras = batch[EXTRA::STRIDE]
                if extras.count(None) != len(extras):
                    for j, extra in enumerate(extras):
                        if extra is not None:
                            i = j * STRIDE
                            batch[i + EXTRA] = self.plain(batch[i + KIND_ID], extra)
                reply = "stop" if end else "sync" if flushes else None
                if batch or reply:
                    self.sink.write(batch, reply=reply)
        except Exception as exc:
            self.fail(exc)
        finally:
            if end is not None:
                self.end(end)
            for done in flushes:
                done.set()
        return end is not None

    def fail(self, exc: BaseException) -> None:
        """Keep the first error; the run goes on, and later changes are not written."""
        if self.recorder.error is None:
            self.recorder.error = exc
            _log.error(
                "The run store could not record run %s (%s); the run goes on unrecorded.",
                self.run_id,
                exc,
            )
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.close()

    def plain(self, kind_id: int, extra: Any) -> tuple[Any, ...]:
        """(five result/input fields, traceback, scheduled time) for a record's extra."""
        if isinstance(extra, bytes):  # a result too big to keep inline
            return (self.file_fields(extra, result=True), None, None)
        kind, new = _KIND_LIST[kind_id], extra
        if kind.stores_result:
            stored = self.result_fields(new)
        elif kind.keeps_inputs and new.cached_inputs:
            stored = self.input_fields(new.cached_inputs)
        else:
            stored = NO_VALUES
        trace = None
        if kind.failed and isinstance(new.result, BaseException):
            exc = new.result
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        scheduled = new.start_time.timestamp() if kind.scheduled else None
        return (stored, trace, scheduled)

    def file_fields(self, data: bytes, *, result: bool) -> tuple[Any, ...]:
        """Write ``data`` to a file; the five fields that point at it."""
        directory = self.recorder.results_dir
        path = write_file(directory, data)
        handler = file_handler(directory)
        blob = pickle.dumps(_safe(path, handler))
        if result:
            return (path, qualified_name(handler), blob, None, None)
        return (None, None, None, path, blob)

    def result_fields(self, new: State) -> tuple[Any, ...]:
        """The fields of a success whose result the task's own handler stored."""
        stored = new._result
        safe = getattr(stored, "safe_value", None) if stored is not None else None
        if not safe:  # None, or NoResult: the value was never stored
            return NO_VALUES
        try:
            blob = dumps(safe)
        except UnstorableResultError:
            return NO_VALUES
        location = safe.value if isinstance(safe.value, str) else repr(safe.value)
        return (location, qualified_name(safe.result_handler), blob, None, None)

    def input_fields(self, inputs: Mapping[str, Any]) -> tuple[Any, ...]:
        """The fields of a state that keeps its inputs (Paused, Failed, ...)."""
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
        return self.file_fields(data, result=False)

    # -- the run's own row ---------------------------------------------------------------
    def connection(self) -> Connection:
        if self.conn is None:
            self.conn = self.store.engine.connect()
        return self.conn

    def start(self, flow: Flow, message: str | None, parameters: str, ts: float) -> None:
        """Record the run as Running, then open the sink for its task rows."""
        with write_transaction(self.connection()) as conn:
            seqs = self.write_start(conn, flow, message, parameters, ts)
        if self.process is not None:
            self.sink = _ProcessSink(self.process, seqs)
        else:
            self.sink = _ThreadSink(self.connection(), self.run_id, seqs)

    def write_start(
        self, conn: Connection, flow: Flow, message: str | None, parameters: str, ts: float
    ) -> dict[str, int]:
        """Insert (or, continuing, update) the run's row; the stored tasks' ``seq``."""
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
            return {slug: seq for slug, seq in seqs}
        slugs = flow.slugs()
        digest = graph_hash(flow, slugs)
        flow_id = _flow_id(conn, flow, slugs, digest, recorder.source or "", ts)
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
        return {}

    def end(self, item: Sequence[Any]) -> None:
        """Record the run's final state (after its task rows are committed)."""
        _, state_name, message, ts, unstarted = item
        fr = schema.flow_runs
        try:
            with write_transaction(self.connection()) as conn:
                if unstarted:
                    _insert_unstarted(conn, self.run_id, unstarted, state_name)
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
        except Exception as exc:
            self.fail(exc)
            return
        try:  # only now: every row that stopped pointing at a file is committed
            remove_unreferenced(self.store, self.run_id)
        except Exception:
            _log.warning("could not remove run %s's unused result files", self.run_id)

    def close(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.close()
        elif self.process is not None:  # never got as far as the sink
            self.process.stop()
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                _log.debug("closing the store connection failed", exc_info=True)
            self.conn = None


_FOLD_RECORDS = 400  # records folded per INSERT in the writer thread


class _ThreadSink:
    """Folds batches into rows and commits each batch from the writer thread.

    Used for stores a writer process cannot write (PostgreSQL, an in-memory SQLite),
    and with ``LOCKGATE_STORE_WRITER=thread``.
    """

    def __init__(self, conn: Connection, run_id: str, seqs: dict[str, int]) -> None:
        self.conn = conn
        self.rows = TaskRows(run_id, seqs, (INLINE_LOCATION, INLINE_HANDLER_NAME))
        dialect = conn.dialect
        self.options: dict[str, Any] = {
            "mark": "?" if dialect.paramstyle == "qmark" else "%s",
            "max_params": sqlite_max_params() if dialect.name == "sqlite" else 30_000,
        }
        self.task_sql = task_upsert()
        self.log_sql = log_insert()

    def write(self, batch: list[Any], *, reply: str | None) -> None:
        """Fold ``batch`` and commit its rows (every batch is committed; see
        :meth:`_ProcessSink.write` for ``reply``)."""
        if not batch:
            return
        rows = self.rows
        rows.kinds = _kinds_table()
        execute = self.conn.exec_driver_sql
        with write_transaction(self.conn):
            # A few hundred rows at a time: many live rows would make the garbage
            # collector run more often on the run's own thread.
            for i in range(0, len(batch), _FOLD_RECORDS * STRIDE):
                rows.add(batch[i : i + _FOLD_RECORDS * STRIDE])
                insert_rows(execute, self.task_sql, rows.take_rows(), **self.options)
            insert_rows(execute, self.log_sql, rows.take_logs(), **self.options)

    def close(self) -> None:
        """Nothing to release (the connection is the writer's)."""


class _WriterProcess:
    """A started writer process (:func:`lockgate.store._writer.main`) and its run lock.

    Args:
        database: the SQLite file.
        run_id: the run it records.

    Raises:
        OSError: the run lock or the process could not be made.
    """

    def __init__(self, database: str, run_id: str) -> None:
        self.database = database
        self.run_id = run_id
        # Locked before the process exists, inherited by it: see _writer's run lock.
        lock = lock_run(database, run_id)
        try:
            self.popen = subprocess.Popen(
                # -E -s -S: no environment, user site or site-packages: it needs the
                # standard library only, and starts in a few tens of milliseconds.
                [sys.executable, "-E", "-s", "-S", "-B", _writer_file.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(lock,),
                # Out of the terminal's process group: a Ctrl-C that cancels the run
                # must not kill it while it boots (before it ignores SIGINT).
                start_new_session=True,
            )
        except OSError:
            unlock_run(database, run_id, lock)
            raise
        os.close(lock)  # the writer process holds the lock now
        self.lock = lock
        """The lock's descriptor number in the writer process."""
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.inbox, self.outbox = self.popen.stdin, self.popen.stdout

    def stop(self) -> None:
        """Close the process's input (it commits what it has and ends), wait for it,
        and end the run lock."""
        for stream in (self.inbox, self.outbox):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.popen.wait(timeout=BUSY_TIMEOUT_MS / 1000 + 30)
        except subprocess.TimeoutExpired:
            _log.error("The store's writer process %s did not end; killing it.", self.popen.pid)
            self.popen.kill()
            self.popen.wait()
        remove_run_lock(self.database, self.run_id)  # the process's own job, unless killed


class _ProcessSink:
    """Sends batches to the writer process."""

    def __init__(self, process: _WriterProcess, seqs: dict[str, int]) -> None:
        self.process = process
        self.send(
            {
                "database": process.database,
                "run_id": process.run_id,
                "seqs": seqs,
                "inline": (INLINE_LOCATION, INLINE_HANDLER_NAME),
                "busy_timeout_ms": BUSY_TIMEOUT_MS,
                "lock": process.lock,
            }
        )

    def send(self, message: Any) -> None:
        try:
            send(self.process.inbox, message)
        except OSError:  # BrokenPipeError: the process is gone
            raise self.gone() from None

    def gone(self) -> StoreError:
        return StoreError(
            f"The store's writer process for {self.process.database} ended unexpectedly "
            f"(exit code {self.process.popen.poll()}); changes it had not committed are "
            "not recorded."
        )

    def write(self, batch: list[Any], *, reply: str | None) -> None:
        """Send ``batch``.

        Args:
            batch: records (TASK and LOG) with plain values only.
            reply: ``"sync"``: wait until the process committed everything;
                ``"stop"``: that, and the process ends; None: do not wait.

        Raises:
            StoreError: the process could not write, or it is gone.
        """
        self.send((_kinds_table(), batch, reply))
        if reply is None:
            return
        try:
            error = receive(self.process.outbox)
        except (EOFError, OSError):
            raise self.gone() from None
        if error is not None:
            raise StoreError(f"The store's writer process could not write: {error}")

    def close(self) -> None:
        """Wait for the process to end (see :meth:`_WriterProcess.stop`)."""
        self.process.stop()


def _safe(location: str, handler: Any) -> Any:
    from lockgate.engine.result import SafeResult

    return SafeResult(location, handler)


def _flow_id(
    conn: Connection, flow: Flow, slugs: dict[Any, str], digest: str, source: str, ts: float
) -> int:
    """The id of the ``flows`` row of this name, graph and source, made when new.

    The graph document is built only for a new row (or an older row without one):
    once per graph, not once per run.
    """
    f = schema.flows
    where = (f.c.name == flow.name, f.c.graph_hash == digest, f.c.source == source)
    found = conn.execute(sa.select(f.c.id, f.c.graph.is_(None)).where(*where)).first()
    if found is not None:
        if found[1]:
            conn.execute(
                f.update().where(f.c.id == found[0]).values(graph=graph_document(flow, slugs))
            )
        return int(found[0])
    dialect = conn.dialect.name
    values = {
        "name": flow.name,
        "graph_hash": digest,
        "source": source,
        "created": ts,
        "graph": graph_document(flow, slugs),
    }
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(f).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(f).values(**values).on_conflict_do_nothing())
    return int(conn.execute(sa.select(f.c.id).where(*where)).scalar_one())


def _unstarted(flow: Flow, state: State) -> list[tuple[str, int, str]]:
    """``(slug, map_index, name)`` of every task and mapped child still plain Pending
    in a finished run's result: they never started."""
    from lockgate.engine.state import Mapped, Pending

    result = state.result if isinstance(state.result, dict) else {}
    if not result:
        return []
    out: list[tuple[str, int, str]] = []
    slugs = flow.slugs()
    for task, task_state in result.items():
        slug = slugs.get(task)
        if slug is None:
            continue
        if type(task_state) is Pending:
            out.append((slug, -1, task.name))
        elif isinstance(task_state, Mapped):
            out.extend(
                (slug, i, task.name)
                for i, child in enumerate(task_state.map_states)
                if type(child) is Pending
            )
    return out


def _insert_unstarted(
    conn: Connection, run_id: str, unstarted: list[tuple[str, int, str]], state_name: str
) -> None:
    """Pending rows for task runs that never started; rows already there are kept."""
    tr = schema.task_runs
    first = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(tr.c.seq), 0)).where(tr.c.flow_run_id == run_id)
    ).scalar_one()
    seqs = dict(
        conn.execute(
            sa.select(tr.c.task_slug, sa.func.min(tr.c.seq))
            .where(tr.c.flow_run_id == run_id)
            .group_by(tr.c.task_slug)
        ).all()
    )
    message = f"Not started: the run ended {state_name} first."
    rows = []
    for n, (slug, index, name) in enumerate(unstarted, start=1):
        rows.append(
            {
                "flow_run_id": run_id,
                "task_slug": slug,
                "map_index": index,
                "seq": seqs.get(slug, int(first) + n),
                "task_name": name,
                "state": "Pending",
                "message": message,
                "run_count": 0,
                "history": "",
            }
        )
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    for start in range(0, len(rows), 500):
        conn.execute(insert(tr).on_conflict_do_nothing(), rows[start : start + 500])


def _parameters_json(context: Mapping[str, Any]) -> str:
    parameters = context.get("parameters") or {}
    try:
        return json.dumps(parameters, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps({k: repr(v) for k, v in parameters.items()}, sort_keys=True)
