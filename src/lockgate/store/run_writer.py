"""The store writer thread's work for one run: the run's own row, and batches to a sink.

:class:`~lockgate.store.recorder.StoreRecorder` queues changes on the run's path; its
writer thread hands each batch to a :class:`RunWriter`, which turns the few records
that carry a state object or a large result into plain values (result and input files
written here), passes the batch to a sink (:mod:`lockgate.store.sinks`), and writes the
run's own ``flow_runs`` row when the run starts and when it ends.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lockgate.engine.state import State
from lockgate.store import _process, history, schema
from lockgate.store._writer import NO_VALUES, replace_extras
from lockgate.store.graph import graph_document, graph_hash
from lockgate.store.kinds import KINDS
from lockgate.store.results import (
    INLINE_LIMIT,
    UnstorableResultError,
    dumps,
    file_handler,
    qualified_name,
    write_file,
)
from lockgate.store.run_store import remove_unreferenced, run_state, write_transaction
from lockgate.store.sinks import ProcessSink, ThreadSink
from lockgate.store.states import INLINE_LOCATION

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.store.recorder import StoreRecorder

__all__ = ["END", "FLUSH", "RunWriter", "unstarted_tasks"]

_log = logging.getLogger("lockgate.store")

# Control records (see StoreRecorder._control): a flush, the end.
FLUSH, END = "flush", "end"


class RunWriter:
    """The writer thread's state: the run's row, and the sink for task and log rows."""

    def __init__(self, recorder: StoreRecorder) -> None:
        self.recorder = recorder
        self.run_id = recorder.flow_run_id
        self.store = recorder.store
        self.process = recorder._process
        self.gathers = self.process is None  # a writer process gathers on its side
        self.sink: ThreadSink | ProcessSink | None = None
        self.conn: Connection | None = None

    # -- one batch -----------------------------------------------------------------------
    def deliver(self, controls: list[tuple[Any, ...]], batch: list[Any]) -> bool:
        """Write one batch, then the end if it came; True once the run has ended."""
        flushes: list[threading.Event] = []
        end = None
        for record in controls:
            if record[0] is FLUSH:
                flushes.append(record[1])
            else:
                end = record
        try:
            if self.sink is not None:
                replace_extras(batch, self.plain)
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
        kind, new = KINDS[kind_id], extra
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
            self.sink = ProcessSink(self.process, seqs)
        else:
            self.sink = ThreadSink(self.connection(), self.run_id, seqs)

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


def unstarted_tasks(flow: Flow, state: State) -> list[tuple[str, int, str]]:
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
