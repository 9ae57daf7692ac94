"""StoreRecorder: records a flow run in a :class:`~lockgate.store.RunStore`.

The recorder is a :class:`~lockgate.engine.hooks.RunHooks` subscriber. The run's row is
committed when the run starts, before any task runs. After that, on the task's path it
only appends a few values to a buffer (one ``list.extend``). A writer thread takes what
accumulated (so batches grow by themselves while it works) and hands the task changes
and logs on (:mod:`lockgate.store.run_writer`) to a sink (:mod:`lockgate.store.sinks`):
for a SQLite file a writer process (:mod:`lockgate.store._writer`), which folds them
into rows and commits them on another CPU core without taking the run's GIL; for other
stores the writer thread writes them itself. The last batch, then the run's end,
are committed before ``flow_run_finished`` returns. A crash (even SIGKILL) loses at
most what was not committed yet (a killed run's writer process still commits what it
was sent); the database itself stays consistent (SQLite WAL, transactions).

Use it through ``flow.run(store=...)``, which also installs :meth:`StoreRecorder.
state_handler` (it persists results; the run hook records each change) and puts
``flow_run_id`` in ``lockgate.context``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lockgate.engine.hooks import RunHooks
from lockgate.engine.result import NoResult, Result
from lockgate.engine.state import Cached, Failed, State, Success
from lockgate.store import logcapture
from lockgate.store._writer import STRIDE, TASK, log_record
from lockgate.store.kinds import KIND_IDS, KINDS, kind_id_of
from lockgate.store.results import INLINE_LIMIT, UnstorableResultError, dumps
from lockgate.store.run_writer import END, FLUSH, RunWriter, unstarted_tasks
from lockgate.store.sinks import WriterProcess, process_database, writer_mode
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
        self._process: WriterProcess | None = None
        # Events go into one flat list (every record is STRIDE values, appended with a
        # single atomic list.extend), and a doorbell wakes the writer. A queue of tuples
        # would keep thousands of new container objects alive while the writer lags
        # behind, and make the garbage collector run more often on the run's thread.
        self._buf: list[Any] = []
        self._controls: list[tuple[Any, ...]] = []  # flush and end (see _control)
        self._bell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._ringing = False
        self._urgent = threading.Event()  # a flush or the end is waiting: commit now
        # A result the state handler pickled, handed to task_state_changed (the one
        # place that records): both run for the same change, one after the other, in
        # the thread that changes the task's state.
        self._handoff = threading.local()
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
            database = process_database(self.store) if self.writer_mode == "process" else None
            if database is not None:
                try:  # started first: it boots while the run begins
                    self._process = WriterProcess(database, self.flow_run_id)
                except OSError as exc:
                    _log.warning("No store writer process (%s); writing from a thread.", exc)
            writer = RunWriter(self)
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
        """Queue the change (one ``list.extend``; the writer thread does the rest).

        Every recorded change comes through here, the run hook the engine calls after
        the state handlers for every change (even when a handler raised). A result
        :meth:`state_handler` pickled for this very state goes with it.
        """
        handoff = self._handoff
        handed = getattr(handoff, "result", None)
        data = None
        if handed is not None:
            handoff.result = None
            if handed[0] is new:
                data = handed[1]
        self._record(task.name, old, new, data)

    def _record(self, name: str, old: State, new: State, data: bytes | None) -> None:
        values = ctx.current()
        cls = type(new)
        kind_id = KIND_IDS.get(cls)
        if kind_id is None:
            kind_id = kind_id_of(cls)
        kind = KINDS[kind_id]
        if kind.needs_state or (kind.stores_result and data is None):
            extra: Any = new  # the writer thread turns it into plain values
        elif data is not None and len(data) > INLINE_LIMIT:
            extra, data = data, None  # the writer thread puts it in a file
        else:
            extra = None
        self._buf.extend(
            (  # TaskChange's values, in order (a plain tuple: see TaskChange)
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

    def _emit(self, record: tuple[Any, ...]) -> None:
        """Queue one (rare) record of :data:`~lockgate.store._writer.STRIDE` values and
        wake the writer."""
        self._buf.extend(record)
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
        unstarted = unstarted_tasks(flow, state) if isinstance(state, Failed) else []
        self._finish(type(state).__name__, state.message, unstarted)

    # -- results -------------------------------------------------------------------------
    def state_handler(self, runner: TaskRunner, old: State, new: State) -> State:
        """The task runner state handler ``flow.run(store=...)`` installs (last).

        It persists each successful task's result (recording the change itself is
        :meth:`task_state_changed`'s job): a task with ``checkpoint=False`` is
        left alone, and so is a result the engine already stored through the task's
        handler; a task (or flow) ``result_handler`` stores the value itself; otherwise
        the value is pickled here, on the task's path, and the writer keeps it in the
        store (small) or in a file (large).

        Returns:
            ``new``, or a Failed state naming the task and the type when the value
            cannot be stored.
        """
        cls = type(new)
        if cls is Success or cls is Cached:
            stored = self._store_result(runner, new)
            if isinstance(stored, State):
                return stored
            if stored is not None:
                self._handoff.result = (new, stored)
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
            log_record(
                task_slug,
                -1 if map_index is None else map_index,
                record.levelname,
                record.name,
                message,
                record.created,
            )
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
        self._control(FLUSH, done)
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
            self._control(END, state_name, message, time.time(), unstarted or [])
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
    def _write_loop(self, writer: RunWriter) -> None:
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
                ended = any(record[0] is END for record in taken)
                if writer.deliver(taken, batch):
                    break
        except BaseException as exc:  # never leave flow_run_finished waiting
            self.error = exc
            _log.exception("The run store writer for run %s stopped", self.flow_run_id)
            while not ended:  # release every waiter until the end record comes
                kinds = [record[0] for record in controls]
                for record in controls:
                    if record[0] is FLUSH:
                        record[1].set()
                del controls[: len(kinds)]
                del buf[:]
                if END in kinds:
                    break
                ring()
                self._ringing = False
        finally:
            writer.close()


def _parameters_json(context: Mapping[str, Any]) -> str:
    parameters = context.get("parameters") or {}
    try:
        return json.dumps(parameters, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps({k: repr(v) for k, v in parameters.items()}, sort_keys=True)
