"""Where the store's writer thread hands a run's task changes and logs: the sinks.

:class:`ProcessSink` sends each batch to a writer process (:class:`WriterProcess`, which
runs :mod:`lockgate.store._writer` as a script) that folds and commits it on another CPU
core: the default for a SQLite file. :class:`ThreadSink` folds and commits the batch in
the writer thread itself: for PostgreSQL, an in-memory SQLite, or with
``LOCKGATE_STORE_WRITER=thread`` (:func:`writer_mode`). Both fold records with the
same :class:`~lockgate.store._writer.TaskRows`, so a run's rows are the same either way.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from lockgate.store import _writer as _writer_file
from lockgate.store._writer import (
    STRIDE,
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
from lockgate.store.kinds import kinds_table
from lockgate.store.results import INLINE_HANDLER_NAME
from lockgate.store.run_store import BUSY_TIMEOUT_MS, write_transaction
from lockgate.store.states import INLINE_LOCATION

if TYPE_CHECKING:
    from lockgate.store.run_store import RunStore

__all__ = [
    "WRITER_ENV",
    "ProcessSink",
    "ThreadSink",
    "WriterProcess",
    "process_database",
    "writer_mode",
]

_log = logging.getLogger("lockgate.store")

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


def process_database(store: RunStore) -> str | None:
    """The SQLite file a writer process may write to, or None (write from a thread)."""
    if sys.platform == "win32" or not sys.executable:  # it needs select(), flock()
        return None  # and a Python to start
    return store.sqlite_file


_FOLD_RECORDS = 400  # records folded per INSERT in the writer thread


class ThreadSink:
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
        :meth:`ProcessSink.write` for ``reply``)."""
        if not batch:
            return
        rows = self.rows
        rows.kinds = kinds_table()
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


class WriterProcess:
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


class ProcessSink:
    """Sends batches to the writer process."""

    def __init__(self, process: WriterProcess, seqs: dict[str, int]) -> None:
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
        self.send((kinds_table(), batch, reply))
        if reply is None:
            return
        try:
            error = receive(self.process.outbox)
        except (EOFError, OSError):
            raise self.gone() from None
        if error is not None:
            raise StoreError(f"The store's writer process could not write: {error}")

    def close(self) -> None:
        """Wait for the process to end (see :meth:`WriterProcess.stop`)."""
        self.process.stop()
