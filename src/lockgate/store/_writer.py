"""Turning a recorded run's state changes into rows, and the process that writes them.

:class:`~lockgate.store.recorder.StoreRecorder` queues every state change as a flat
record (see :class:`TaskChange`). :class:`TaskRows` folds a batch of them into one
``task_runs`` row per task run (so a task's Running and Success usually land in one row
write) plus ``logs`` rows, and :func:`insert_rows` sends rows as multi-row INSERTs.

For a SQLite file the folding and the writing happen in a separate process that runs
this file as a script (:func:`main`): it works on the other CPU core and never takes
the run's GIL, which a writer thread has to share with the run. That process must start
fast, so this module imports the standard library only (no lockgate, no SQLAlchemy).
Other stores (PostgreSQL, an in-memory SQLite) use :class:`TaskRows` in a writer thread.

The wire between the recorder and the writer process is the process's stdin and stdout:
each message is an 8-byte little-endian length and a pickle (see :func:`send` and
:func:`receive`).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any, NamedTuple

# Record kinds: the first value of each record in the recorder's buffer.
TASK, LOG = 0, 1


# -- the record layout ---------------------------------------------------------------------
# The one place that says where each value of a record sits in the recorder's flat
# buffer: the recorder writes records in these orders, and the writer thread and the
# writer process read them through the names and helpers below.


class TaskChange(NamedTuple):
    """The values of a TASK record, in the order they sit in the buffer.

    The recorder appends them as a plain tuple in this order (building this type per
    change would cost the run's thread time); readers unpack a record into these names.
    """

    kind: int  # TASK
    task_slug: str | None  # None: use the task name
    map_index: int | None  # None for a task that is not a mapped child
    task_name: str
    old_state: str  # the old state's class name
    kind_id: int  # index into the kinds table: (state name, is Running, is Finished)
    message: str | None
    run_count: int
    timestamp: float
    result_blob: bytes | None  # pickled result small enough to keep inline, or None
    extra: Any  # None, or (five result/input fields, traceback, scheduled time)


class LogLine(NamedTuple):
    """The values of a LOG record, in buffer order (then padded to :data:`STRIDE`)."""

    kind: int  # LOG
    task_slug: str | None
    map_index: int  # -1: not a mapped child
    level: str
    logger: str
    message: str
    timestamp: float


RECORD = TaskChange._fields
"""The names of a TASK record's values, in order."""
STRIDE = len(TaskChange._fields)
"""Values per record in the recorder's buffer (every record is padded to this)."""
LOG_WIDTH = len(LogLine._fields)
"""Values of a LOG record before its padding."""
KIND_ID = RECORD.index("kind_id")
EXTRA = RECORD.index("extra")


def log_record(
    task_slug: str | None, map_index: int, level: str, logger: str, message: str, ts: float
) -> tuple[Any, ...]:
    """A LOG record, padded to :data:`STRIDE` values."""
    return (LOG, task_slug, map_index, level, logger, message, ts) + (None,) * (STRIDE - LOG_WIDTH)


def replace_extras(batch: list[Any], plain: Callable[[int, Any], Any]) -> None:
    """Replace, in place, each record's ``extra`` that is set by ``plain(kind_id, extra)``.

    Args:
        batch: records, :data:`STRIDE` values each.
        plain: turns a record's kind id and extra into plain values (the writer thread
            does this before a batch goes to the writer process).
    """
    extras = batch[EXTRA::STRIDE]
    if extras.count(None) == len(extras):  # the usual batch: nothing to replace
        return
    for n, extra in enumerate(extras):
        if extra is not None:
            start = n * STRIDE
            batch[start + EXTRA] = plain(batch[start + KIND_ID], extra)


TASK_COLUMNS = (
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
LOG_COLUMNS = ("flow_run_id", "task_slug", "map_index", "level", "logger", "message", "timestamp")
NO_VALUES = (None, None, None, None, None)
"""The five result and input fields (result location, handler, blob, inputs location,
inputs blob) of a change that stores neither."""

ROWS_PER_STATEMENT = 200
# Positions in a task row that a later change of the same task run reads back.
_SEQ = TASK_COLUMNS.index("seq")
_START_T = TASK_COLUMNS.index("start_time")
_HISTORY = TASK_COLUMNS.index("history")

US, RS = "\x1f", "\x1e"
"""The separators of a ``history`` column (see :mod:`lockgate.store.history`)."""


def clean(message: str) -> str:
    """``message`` with the history separator characters replaced by spaces."""
    return message.replace(US, " ").replace(RS, " ")


def entry(ts: float, old: str | None, new: str, message: str | None) -> str:
    """One history entry (separators inside the message are replaced by spaces)."""
    if message and (US in message or RS in message):
        message = clean(message)
    return f"{ts!r}{US}{old or ''}{US}{new}{US}{message or ''}{RS}"


class TaskRows:
    """The pending rows of one run, folded from its recorded changes.

    Args:
        run_id: the flow run's id.
        seqs: the ``seq`` (first-seen order) of task slugs the store already holds for
            this run (a resumed or restarted run), by slug.
        inline: the (result location, result handler) of a result kept in its row.

    Attributes:
        rows: one task_runs row per task run changed since :meth:`take_rows`.
        logs: logs rows added since :meth:`take_logs`.
        kinds: ``(state name, is Running, is Finished)`` by kind id; the recorder sends
            the current table with every batch.
    """

    def __init__(self, run_id: str, seqs: dict[str, int], inline: tuple[str, str]) -> None:
        self.run_id = run_id
        self.seqs = dict(seqs)
        self.next_seq = max(seqs.values(), default=-1) + 1
        self.inline = inline
        self.rows: dict[Any, tuple[Any, ...]] = {}
        self.logs: list[tuple[Any, ...]] = []
        self.kinds: Sequence[tuple[str, bool, bool]] = ()

    def add(self, batch: Sequence[Any]) -> None:
        """Fold the TASK and LOG records of ``batch`` (other kinds are skipped)."""
        task = self.task_change
        for i in range(0, len(batch), STRIDE):
            kind = batch[i]
            if kind == TASK:
                task(batch[i : i + STRIDE])
            elif kind == LOG:
                self.logs.append((self.run_id, *batch[i + 1 : i + LOG_WIDTH]))

    def task_change(self, item: Sequence[Any]) -> None:
        """Fold one state change into its task run's pending row (the hot path).

        Args:
            item: one TASK record (:class:`TaskChange`'s values, in order).
        """
        _, slug, index, name, old_name, kind_id, message, run_count, ts, data, extra = item
        if slug is None:
            slug = name
        # Mapped children are keyed (slug, index); tasks by slug alone (no tuple to make).
        key: Any = slug if index is None else (slug, index)
        state, running, finished = self.kinds[kind_id]
        step = entry(ts, old_name, state, message)
        prev = self.rows.get(key)
        if prev is None:
            seq = self.seqs.get(slug)
            if seq is None:
                seq = self.seqs[slug] = self.next_seq
                self.next_seq += 1
            start = ts if running else None
            steps = step
        else:
            seq = prev[_SEQ]
            start = prev[_START_T]
            if start is None and running:
                start = ts
            steps = prev[_HISTORY] + step
        if extra is not None:
            stored, trace, scheduled = extra
        else:
            stored = NO_VALUES if data is None else (*self.inline, data, None, None)
            trace = scheduled = None
        self.rows[key] = (
            self.run_id,
            slug,
            -1 if index is None else index,
            seq,
            name,
            state,
            message,
            run_count,
            start,
            ts if finished else None,
            scheduled,
            *stored,
            trace,
            steps,
        )

    def take_rows(self) -> list[tuple[Any, ...]]:
        """The pending task rows (and forget them)."""
        rows = list(self.rows.values())
        self.rows.clear()
        return rows

    def take_logs(self) -> list[tuple[Any, ...]]:
        """The pending log rows (and forget them)."""
        logs, self.logs = self.logs, []
        return logs


# -- SQL -----------------------------------------------------------------------------------
Execute = Callable[[str, Any], object]
"""``execute(sql, params)``: one statement for a tuple of parameters, executemany for a
list of tuples."""


def _quote(name: str) -> str:
    return f'"{name}"'


def _insert_head(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) VALUES "


def task_upsert() -> tuple[str, str, int]:
    """The (head, tail, width) of the task_runs upsert, for :func:`insert_rows`.

    A later change of a task run keeps its first ``seq`` and start time and appends to
    its history; the other columns take the new values.
    """
    keep = ("flow_run_id", "task_slug", "map_index", "seq", "start_time", "history")
    table = _quote("task_runs")
    updates = [f"{_quote(c)} = excluded.{_quote(c)}" for c in TASK_COLUMNS if c not in keep]
    start, history = _quote("start_time"), _quote("history")
    updates.append(f"{start} = COALESCE({table}.{start}, excluded.{start})")
    updates.append(f"{history} = {table}.{history} || excluded.{history}")
    tail = " ON CONFLICT (flow_run_id, task_slug, map_index) DO UPDATE SET " + ", ".join(updates)
    return (_insert_head("task_runs", TASK_COLUMNS), tail, len(TASK_COLUMNS))


def log_insert() -> tuple[str, str, int]:
    """The (head, tail, width) of the logs insert, for :func:`insert_rows`."""
    return (_insert_head("logs", LOG_COLUMNS), "", len(LOG_COLUMNS))


def insert_rows(
    execute: Execute,
    sql: tuple[str, str, int],
    rows: Sequence[Sequence[Any]],
    *,
    mark: str,
    max_params: int,
) -> None:
    """INSERT ``rows``, :data:`ROWS_PER_STATEMENT` per statement.

    Multi-row statements cost far less per row than one statement per row (and SQLite
    drops the GIL once per statement, not per row); full chunks share one prepared
    statement through executemany.

    Args:
        execute: runs one statement (see :data:`Execute`).
        sql: (head, tail, width) from :func:`task_upsert` or :func:`log_insert`.
        rows: the rows, each ``width`` values.
        mark: the driver's parameter marker (``?`` or ``%s``).
        max_params: the most bound parameters one statement may have.
    """
    head, tail, width = sql
    per = max(1, min(ROWS_PER_STATEMENT, max_params // width))
    group = "(" + ", ".join([mark] * width) + ")"
    full = len(rows) - len(rows) % per
    if full:
        chunks = [
            tuple([value for row in rows[start : start + per] for value in row])
            for start in range(0, full, per)
        ]
        text = head + ", ".join([group] * per) + tail
        execute(text, chunks[0] if len(chunks) == 1 else chunks)
    if full < len(rows):
        rest = rows[full:]
        params = tuple([value for row in rest for value in row])
        execute(head + ", ".join([group] * len(rest)) + tail, params)


def sqlite_max_params() -> int:
    """Bound parameters per statement: SQLite allows 32,766 since 3.32 (999 before)."""
    return 32_000 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


# -- the wire ------------------------------------------------------------------------------
_HEADER = struct.Struct("<Q")


def send(stream: IO[bytes], message: Any) -> None:
    """Write one message (length and pickle) to ``stream`` and flush it."""
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """Read one message from ``stream``.

    Raises:
        EOFError: the other side closed the stream (before or inside a message).
    """
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    # An unbuffered stream returns what the pipe holds, which may be less than asked.
    data = stream.read(size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            raise EOFError("the stream ended")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


# -- the run lock ----------------------------------------------------------------------------
# A run's writer process may outlive the run's own process (a SIGKILLed run leaves it
# committing what it was sent). Its run lock tells restart and resume when it is done:
# a file per run next to the database, locked (flock) by the recording process before
# it starts the writer process. The writer inherits the locked descriptor and the
# recording process closes its own copy, so the lock lasts exactly as long as the writer
# process, however it ends (and processes the run forks later do not hold it).


def run_lock_path(database: str, run_id: str) -> str:
    """The lock file of run ``run_id`` in the SQLite file ``database``."""
    return os.path.join(f"{database}-lockgate", f"{run_id}.lock")


def lock_run(database: str, run_id: str) -> int:
    """Create and lock the run's lock file (exclusively); its file descriptor.

    Raises:
        OSError: the file cannot be created or locked.
    """
    import fcntl

    path = run_lock_path(database, run_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        raise
    return fd


def remove_run_lock(database: str, run_id: str) -> None:
    """Remove the run's lock file, if it is there."""
    try:
        os.unlink(run_lock_path(database, run_id))
    except OSError:
        pass


def unlock_run(database: str, run_id: str, fd: int) -> None:
    """Remove the run's lock file and close ``fd`` (the lock ends with the last holder)."""
    remove_run_lock(database, run_id)
    os.close(fd)


def wait_for_run_lock(database: str, run_id: str) -> None:
    """Return once no process holds the run's lock (at once when there is none)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): runs there have no writer process
        return
    try:
        fd = os.open(run_lock_path(database, run_id), os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


# -- the writer process --------------------------------------------------------------------
COMMIT_SECONDS = 0.05
"""While batches keep arriving, the writer process commits at least this often (and
whenever no batch is waiting): a crash of the run loses at most what it had not sent."""


class _Process:
    """The writer process's state: one connection, one open transaction at a time."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.rows = TaskRows(config["run_id"], config["seqs"], config["inline"])
        self.database = config["database"]
        self.lock: int | None = config["lock"]  # inherited: see "the run lock" above
        self.db = sqlite3.connect(self.database, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout = {int(config['busy_timeout_ms'])}")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.task_sql = task_upsert()
        self.log_sql = log_insert()
        self.max_params = sqlite_max_params()
        self.error: str | None = None

    def execute(self, sql: str, params: Any) -> None:
        if isinstance(params, list):
            self.db.executemany(sql, params)
        else:
            self.db.execute(sql, params)

    def write(self) -> None:
        """Send the pending rows inside the open transaction (beginning it if needed)."""
        rows, logs = self.rows.take_rows(), self.rows.take_logs()
        if self.error is not None or not (rows or logs):
            return
        try:
            if not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
            if rows:
                insert_rows(self.execute, self.task_sql, rows, mark="?", max_params=self.max_params)
            if logs:
                insert_rows(self.execute, self.log_sql, logs, mark="?", max_params=self.max_params)
        except sqlite3.Error as exc:
            self.fail(exc)

    def commit(self) -> None:
        self.write()
        if self.db.in_transaction and self.error is None:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Keep the first error and drop the open transaction (nothing of it is kept)."""
        self.error = f"{type(exc).__name__}: {exc}"
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


def main() -> None:
    """The writer process: fold and write batches until told to stop or the run is gone.

    The first message is the configuration (``database``, ``run_id``, ``seqs``,
    ``inline``, ``busy_timeout_ms``, ``lock``: the inherited run lock's descriptor, or
    None); each next one is ``(kinds, batch, reply)``. With
    ``reply`` set, everything so far is committed and the first error (or None) is sent
    back; ``reply == "stop"`` also ends the process. End of input (the recording process
    died, even by SIGKILL) commits what arrived and ends.
    """
    # Ctrl-C and a terminal's SIGTERM reach the whole process group: the run decides
    # when recording ends, and this process commits what it was sent either way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Unbuffered input, so select() tells exactly whether another batch is waiting.
    inbox: IO[bytes] = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)
    outbox = sys.stdout.buffer
    process: _Process | None = None
    error: str | None = None
    try:
        process = _Process(receive(inbox))
    except EOFError:
        return
    except sqlite3.Error as exc:  # cannot open the store: say so at the first reply
        error = f"{type(exc).__name__}: {exc}"
    pending_since: float | None = None  # when the oldest uncommitted batch arrived
    while True:
        try:
            kinds, batch, reply = receive(inbox)
        except EOFError:
            break
        if process is None:
            if reply is not None:
                send(outbox, error)
                if reply == "stop":
                    return
            continue
        rows = process.rows
        rows.kinds = kinds
        rows.add(batch)
        if pending_since is None:
            pending_since = time.monotonic()
        if len(rows.rows) + len(rows.logs) >= ROWS_PER_STATEMENT:
            process.write()  # a few hundred rows at a time keeps memory flat
        if (
            reply is not None
            or not select.select([inbox], [], [], 0)[0]  # no next batch waiting
            or time.monotonic() - pending_since >= COMMIT_SECONDS
        ):
            process.commit()
            pending_since = None
        if reply is not None:
            send(outbox, process.error)
            if reply == "stop":
                break
    if process is not None:
        process.commit()
        process.db.close()
        if process.lock is not None:
            unlock_run(process.database, process.rows.run_id, process.lock)
    # Nothing is left to clean up: skip the interpreter's teardown, so the recording
    # process that waits for this one is not kept waiting.
    os._exit(0)


if __name__ == "__main__":
    main()
