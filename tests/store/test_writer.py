"""The writer module: folding recorded changes into rows, multi-row INSERTs, the wire,
the run lock, and the writer process itself."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.engine.state import Running, Success
from lockgate.store import RunStore, history, kinds, sinks
from lockgate.store._writer import (
    LOG,
    STRIDE,
    TASK,
    TASK_COLUMNS,
    TaskRows,
    insert_rows,
    lock_run,
    receive,
    run_lock_path,
    send,
    sqlite_max_params,
    task_upsert,
    unlock_run,
    wait_for_run_lock,
)
from lockgate.store.errors import StoreError

RUN = "r" * 32
KINDS = [("Running", True, False), ("Success", False, True)]
RUNNING, SUCCESS = 0, 1
INLINE = ("inline-location", "InlineHandler")
TIMEOUT = 30


def change(
    slug: str | None,
    kind_id: int,
    ts: float,
    *,
    name: str = "t",
    old: str = "Pending",
    index: int | None = None,
    message: str | None = None,
    run_count: int = 1,
    data: bytes | None = None,
    extra: Any = None,
) -> list[Any]:
    record = [TASK, slug, index, name, old, kind_id, message, run_count, ts, data, extra]
    assert len(record) == STRIDE
    return record


def log(slug: str, index: int, message: str, ts: float) -> list[Any]:
    record = [LOG, slug, index, "INFO", "lockgate.task", message, ts]
    return record + [None] * (STRIDE - len(record))


def task_rows(seqs: dict[str, int] | None = None) -> TaskRows:
    rows = TaskRows(RUN, seqs or {}, INLINE)
    rows.kinds = KINDS
    return rows


def as_dicts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    for row in rows:
        assert len(row) == len(TASK_COLUMNS)
    return [dict(zip(TASK_COLUMNS, row, strict=True)) for row in rows]


# -- TaskRows --------------------------------------------------------------------------


def test_running_then_success_fold_into_one_row() -> None:
    rows = task_rows()
    rows.add(
        change("a-1", RUNNING, 10.5, name="a", message="go")
        + change("a-1", SUCCESS, 12.25, name="a", old="Running", message="done", run_count=1)
    )

    [row] = as_dicts(rows.take_rows())

    assert row["flow_run_id"] == RUN
    assert (row["task_slug"], row["task_name"], row["map_index"]) == ("a-1", "a", -1)
    assert (row["state"], row["message"], row["run_count"]) == ("Success", "done", 1)
    assert (row["start_time"], row["end_time"]) == (10.5, 12.25)
    assert history.parse(row["history"]) == [
        (10.5, "Pending", "Running", "go"),
        (12.25, "Running", "Success", "done"),
    ]


def test_a_running_row_has_no_end_time_and_a_success_only_row_no_start_time() -> None:
    rows = task_rows()
    rows.add(change("a", RUNNING, 1.0) + change("b", SUCCESS, 2.0))

    by_slug = {r["task_slug"]: r for r in as_dicts(rows.take_rows())}

    assert (by_slug["a"]["start_time"], by_slug["a"]["end_time"]) == (1.0, None)
    assert (by_slug["b"]["start_time"], by_slug["b"]["end_time"]) == (None, 2.0)


def test_the_first_start_time_is_kept_across_batches_until_taken() -> None:
    rows = task_rows()
    rows.add(change("a", RUNNING, 1.0))
    rows.add(change("a", RUNNING, 2.0, old="Running", run_count=2))
    rows.add(change("a", SUCCESS, 3.0, old="Running", run_count=2))

    [row] = as_dicts(rows.take_rows())

    assert (row["start_time"], row["end_time"], row["run_count"]) == (1.0, 3.0, 2)
    assert [new for _, _, new, _ in history.parse(row["history"])] == [
        "Running",
        "Running",
        "Success",
    ]


def test_a_slug_of_none_falls_back_to_the_task_name() -> None:
    rows = task_rows()
    rows.add(change(None, RUNNING, 1.0, name="plain"))

    [row] = as_dicts(rows.take_rows())

    assert row["task_slug"] == "plain"


def test_seqs_follow_the_order_slugs_are_first_seen() -> None:
    rows = task_rows()
    rows.add(
        change("b", RUNNING, 1.0)
        + change("a", RUNNING, 2.0)
        + change("b", SUCCESS, 3.0)
        + change("c", RUNNING, 4.0)
    )

    seqs = {r["task_slug"]: r["seq"] for r in as_dicts(rows.take_rows())}

    assert seqs == {"b": 0, "a": 1, "c": 2}


def test_a_continuing_run_keeps_stored_seqs_and_numbers_new_slugs_after_them() -> None:
    rows = task_rows({"a-1": 3, "z": 1})
    rows.add(change("new-1", RUNNING, 1.0) + change("a-1", RUNNING, 2.0))
    rows.add(change("new-2", RUNNING, 3.0))

    seqs = {r["task_slug"]: r["seq"] for r in as_dicts(rows.take_rows())}

    assert seqs == {"new-1": 4, "a-1": 3, "new-2": 5}


def test_a_slug_keeps_its_seq_after_its_rows_were_taken() -> None:
    rows = task_rows()
    rows.add(change("a", RUNNING, 1.0) + change("b", RUNNING, 2.0))
    rows.take_rows()
    rows.add(change("b", SUCCESS, 3.0) + change("c", RUNNING, 4.0))

    seqs = {r["task_slug"]: r["seq"] for r in as_dicts(rows.take_rows())}

    assert seqs == {"b": 1, "c": 2}


def test_mapped_children_are_rows_of_their_own_sharing_the_parents_seq() -> None:
    rows = task_rows()
    rows.add(
        change("m", RUNNING, 1.0)
        + change("m", RUNNING, 2.0, index=0)
        + change("m", RUNNING, 3.0, index=1)
        + change("m", SUCCESS, 4.0, index=0, old="Running")
    )

    by_index = {r["map_index"]: r for r in as_dicts(rows.take_rows())}

    assert sorted(by_index) == [-1, 0, 1]
    assert {r["seq"] for r in by_index.values()} == {0}
    assert (by_index[0]["state"], by_index[0]["start_time"], by_index[0]["end_time"]) == (
        "Success",
        2.0,
        4.0,
    )
    assert (by_index[1]["state"], by_index[1]["end_time"]) == ("Running", None)
    assert by_index[-1]["state"] == "Running"
    assert len(history.parse(by_index[0]["history"])) == 2
    assert len(history.parse(by_index[-1]["history"])) == 1


def test_history_separators_in_a_message_are_cleaned_in_history_only() -> None:
    message = "a\x1fb\x1ec"
    rows = task_rows()
    rows.add(
        change("a", RUNNING, 1.0, message=message)
        + change("a", SUCCESS, 2.0, old="Running", message="ok")
    )

    [row] = as_dicts(rows.take_rows())
    rows.add(change("b", SUCCESS, 3.0, message=message))
    [other] = as_dicts(rows.take_rows())

    assert history.parse(row["history"]) == [
        (1.0, "Pending", "Running", "a b c"),
        (2.0, "Running", "Success", "ok"),
    ]
    assert other["message"] == message
    assert history.parse(other["history"]) == [(3.0, "Pending", "Success", "a b c")]


def test_a_small_inline_result_is_stored_with_the_inline_location_and_handler() -> None:
    rows = task_rows()
    rows.add(change("a", SUCCESS, 1.0, data=b"pickled"))

    [row] = as_dicts(rows.take_rows())

    assert (row["result_location"], row["result_handler"], row["result_blob"]) == (
        *INLINE,
        b"pickled",
    )
    assert (row["cached_inputs_location"], row["cached_inputs_blob"]) == (None, None)
    assert (row["traceback"], row["scheduled_time"]) == (None, None)


def test_a_change_without_result_stores_no_result_fields() -> None:
    rows = task_rows()
    rows.add(change("a", RUNNING, 1.0))

    [row] = as_dicts(rows.take_rows())

    assert [row[c] for c in ("result_location", "result_handler", "result_blob")] == [None] * 3
    assert [row[c] for c in ("cached_inputs_location", "cached_inputs_blob")] == [None] * 2


def test_extra_values_are_stored_as_given() -> None:
    stored = ("/results/x", "FileHandler", None, "/inputs/x", b"inputs")
    rows = task_rows()
    rows.add(change("a", SUCCESS, 5.0, data=b"ignored", extra=(stored, "Traceback...", 9.5)))

    [row] = as_dicts(rows.take_rows())

    assert (
        row["result_location"],
        row["result_handler"],
        row["result_blob"],
        row["cached_inputs_location"],
        row["cached_inputs_blob"],
    ) == stored
    assert (row["traceback"], row["scheduled_time"]) == ("Traceback...", 9.5)


def test_log_records_become_log_rows_and_other_kinds_are_skipped() -> None:
    rows = task_rows()
    other = [99] + [None] * (STRIDE - 1)
    rows.add(log("a", -1, "hello", 1.0) + other + change("a", RUNNING, 2.0) + log("m", 2, "x", 3.0))

    logs = rows.take_logs()

    assert logs == [
        (RUN, "a", -1, "INFO", "lockgate.task", "hello", 1.0),
        (RUN, "m", 2, "INFO", "lockgate.task", "x", 3.0),
    ]
    assert len(rows.take_rows()) == 1


def test_take_rows_and_take_logs_empty_the_pending_rows() -> None:
    rows = task_rows()
    rows.add(change("a", RUNNING, 1.0) + log("a", -1, "hello", 1.5))

    assert len(rows.take_rows()) == 1
    assert len(rows.take_logs()) == 1
    assert rows.take_rows() == []
    assert rows.take_logs() == []

    rows.add(change("a", SUCCESS, 2.0, old="Running"))
    [row] = as_dicts(rows.take_rows())
    assert row["start_time"] is None
    assert history.parse(row["history"]) == [(2.0, "Running", "Success", None)]


# -- insert_rows -----------------------------------------------------------------------


class Recording:
    """An execute function that records its calls and runs them on ``db``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, sql: str, params: Any) -> None:
        self.calls.append((sql, params))
        if isinstance(params, list):
            self.db.executemany(sql, params)
        else:
            self.db.execute(sql, params)


@pytest.fixture
def memory_db() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a INTEGER, b TEXT, c REAL)")
    try:
        yield db
    finally:
        db.close()


SQL_T = ('INSERT INTO "t" ("a", "b", "c") VALUES ', "", 3)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7])
def test_insert_rows_lands_every_row_exactly_once(
    memory_db: sqlite3.Connection, count: int
) -> None:
    rows = [(i, f"row {i}", i / 2) for i in range(count)]
    execute = Recording(memory_db)

    insert_rows(execute, SQL_T, rows, mark="?", max_params=7)

    assert memory_db.execute("SELECT a, b, c FROM t ORDER BY a").fetchall() == rows
    for sql, params in execute.calls:
        groups = sql.count("(?, ?, ?)")
        assert 1 <= groups <= 2
        chunks = params if isinstance(params, list) else [params]
        assert all(len(chunk) == 3 * groups for chunk in chunks)


def test_full_chunks_share_one_executemany_and_the_rest_is_one_statement(
    memory_db: sqlite3.Connection,
) -> None:
    rows = [(i, "x", 0.0) for i in range(5)]
    execute = Recording(memory_db)

    insert_rows(execute, SQL_T, rows, mark="?", max_params=7)

    assert len(execute.calls) == 2
    (full_sql, full_params), (rest_sql, rest_params) = execute.calls
    assert full_sql == SQL_T[0] + "(?, ?, ?), (?, ?, ?)"
    assert full_params == [(0, "x", 0.0, 1, "x", 0.0), (2, "x", 0.0, 3, "x", 0.0)]
    assert rest_sql == SQL_T[0] + "(?, ?, ?)"
    assert rest_params == (4, "x", 0.0)


def test_a_single_full_chunk_is_one_plain_statement(memory_db: sqlite3.Connection) -> None:
    execute = Recording(memory_db)

    insert_rows(execute, SQL_T, [(1, "a", 1.0), (2, "b", 2.0)], mark="?", max_params=7)

    assert execute.calls == [(SQL_T[0] + "(?, ?, ?), (?, ?, ?)", (1, "a", 1.0, 2, "b", 2.0))]


def test_insert_rows_sends_at_least_one_row_per_statement_and_nothing_for_no_rows(
    memory_db: sqlite3.Connection,
) -> None:
    execute = Recording(memory_db)

    insert_rows(execute, SQL_T, [], mark="?", max_params=7)
    assert execute.calls == []

    insert_rows(execute, SQL_T, [(1, "a", 1.0), (2, "b", 2.0)], mark="?", max_params=2)
    assert len(execute.calls) == 1
    assert memory_db.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_insert_rows_uses_the_given_marker() -> None:
    calls: list[tuple[str, Any]] = []

    insert_rows(
        lambda sql, params: calls.append((sql, params)),
        SQL_T,
        [(1, "a", 1.0)],
        mark="%s",
        max_params=100,
    )

    assert calls == [(SQL_T[0] + "(%s, %s, %s)", (1, "a", 1.0))]


# -- a real store ----------------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[RunStore]:
    opened = RunStore.open(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path / "home")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def run_id(sqlite_store: RunStore) -> str:
    @task
    def one() -> int:
        return 1

    with Flow("tiny") as flow:
        one()
    rec = sqlite_store.recorder()
    state = flow.run(store=rec)
    assert isinstance(state, Success)
    assert rec.error is None
    return rec.flow_run_id


def stored_task_row(database: str, run: str, slug: str) -> dict[str, Any]:
    db = sqlite3.connect(database)
    try:
        found = db.execute(
            f"SELECT {', '.join(TASK_COLUMNS)} FROM task_runs "
            "WHERE flow_run_id = ? AND task_slug = ? AND map_index = -1",
            (run, slug),
        ).fetchone()
    finally:
        db.close()
    assert found is not None
    return dict(zip(TASK_COLUMNS, found, strict=True))


def test_task_upsert_appends_history_and_keeps_the_first_start_time_and_seq(
    sqlite_store: RunStore, run_id: str
) -> None:
    database = sqlite_store.sqlite_file
    assert database is not None
    [recorded] = sqlite_store.task_runs(run_id)
    before = stored_task_row(database, run_id, recorded.task_slug)
    assert before["start_time"] is not None
    rows = TaskRows(run_id, {"other": 7}, INLINE)
    rows.kinds = [("Running", True, False), ("Failed", False, True)]
    rows.add(
        change(recorded.task_slug, 0, 1e9, name="one", old="Success")
        + change(recorded.task_slug, 1, 1e9 + 1, name="one", old="Running", message="boom")
    )
    [new_row] = rows.take_rows()
    assert new_row[TASK_COLUMNS.index("seq")] == 8 != before["seq"]

    db = sqlite3.connect(database)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        execute = Recording(db)
        insert_rows(execute, task_upsert(), [new_row], mark="?", max_params=sqlite_max_params())
        db.commit()
    finally:
        db.close()

    after = stored_task_row(database, run_id, recorded.task_slug)
    assert after["start_time"] == before["start_time"]
    assert after["seq"] == before["seq"]
    assert (after["state"], after["message"], after["end_time"]) == ("Failed", "boom", 1e9 + 1)
    assert after["history"] == before["history"] + new_row[-1]
    assert history.parse(after["history"])[-2:] == [
        (1e9, "Success", "Running", None),
        (1e9 + 1, "Running", "Failed", "boom"),
    ]


# -- the wire --------------------------------------------------------------------------


@pytest.fixture
def pipe() -> Iterator[tuple[Any, Any]]:
    r, w = os.pipe()
    reader = os.fdopen(r, "rb", buffering=0)
    writer = os.fdopen(w, "wb")
    try:
        yield reader, writer
    finally:
        reader.close()
        if not writer.closed:
            writer.close()


def test_messages_round_trip_over_a_pipe(pipe: tuple[Any, Any]) -> None:
    reader, writer = pipe
    first = {"run_id": RUN, "seqs": {"a": 1}}
    second = ([("Running", True, False)], [TASK, "a", None], "sync")

    send(writer, first)
    send(writer, second)
    send(writer, None)

    assert receive(reader) == first
    assert receive(reader) == second
    assert receive(reader) is None


def test_a_message_larger_than_the_pipe_buffer_is_read_whole(pipe: tuple[Any, Any]) -> None:
    reader, writer = pipe
    big = [os.urandom(1024) for _ in range(1024)]  # 1 MiB, far over a pipe's buffer
    errors: list[BaseException] = []

    def write() -> None:
        try:
            send(writer, big)
            send(writer, "after")
        except BaseException as exc:
            errors.append(exc)

    sender = threading.Thread(target=write, daemon=True)
    sender.start()
    got = receive(reader)
    after = receive(reader)
    sender.join(TIMEOUT)

    assert not sender.is_alive()
    assert errors == []
    assert got == big
    assert after == "after"


def test_receive_raises_eof_when_the_stream_ends_before_a_message(
    pipe: tuple[Any, Any],
) -> None:
    reader, writer = pipe
    send(writer, "one")
    writer.close()

    assert receive(reader) == "one"
    with pytest.raises(EOFError):
        receive(reader)


def test_receive_raises_eof_when_the_stream_ends_inside_a_message(
    pipe: tuple[Any, Any],
) -> None:
    reader, writer = pipe
    writer.write((1000).to_bytes(8, "little") + b"only a few bytes")
    writer.close()

    with pytest.raises(EOFError):
        receive(reader)


def test_receive_raises_eof_when_the_stream_ends_inside_the_header(
    pipe: tuple[Any, Any],
) -> None:
    reader, writer = pipe
    writer.write(b"\x05\x00\x00")
    writer.close()

    with pytest.raises(EOFError):
        receive(reader)


# -- the run lock ----------------------------------------------------------------------


def returns_in_time(call: Callable[[], None]) -> bool:
    """Whether ``call`` returns within TIMEOUT (run in a thread, so a hang fails the test)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(TIMEOUT)


def test_waiting_for_a_run_without_a_lock_file_returns_at_once(tmp_path: Path) -> None:
    database = str(tmp_path / "store.db")

    wait_for_run_lock(database, RUN)

    assert not os.path.exists(run_lock_path(database, RUN))


def test_a_waiter_is_blocked_until_the_run_is_unlocked(tmp_path: Path) -> None:
    database = str(tmp_path / "store.db")
    fd = lock_run(database, RUN)
    assert os.path.exists(run_lock_path(database, RUN))
    started, returned = threading.Event(), threading.Event()

    def wait() -> None:
        started.set()
        wait_for_run_lock(database, RUN)
        returned.set()

    waiter = threading.Thread(target=wait, daemon=True)
    try:
        waiter.start()
        assert started.wait(TIMEOUT)
        assert not returned.wait(0.05)
    finally:
        unlock_run(database, RUN, fd)
    waiter.join(TIMEOUT)

    assert returned.is_set()
    assert not os.path.exists(run_lock_path(database, RUN))


def test_unlock_run_removes_the_lock_file_and_closes_the_descriptor(tmp_path: Path) -> None:
    database = str(tmp_path / "store.db")
    fd = lock_run(database, RUN)

    unlock_run(database, RUN, fd)

    assert not os.path.exists(run_lock_path(database, RUN))
    with pytest.raises(OSError):
        os.fstat(fd)


def test_another_runs_lock_does_not_block_a_waiter(tmp_path: Path) -> None:
    database = str(tmp_path / "store.db")
    fd = lock_run(database, RUN)
    try:
        assert returns_in_time(lambda: wait_for_run_lock(database, "other"))
    finally:
        unlock_run(database, RUN, fd)


# -- the writer process ----------------------------------------------------------------


def success_change(slug: str, ts: float) -> list[Any]:
    return change(
        slug,
        kinds.kind_id_of(Running),
        ts,
        name=slug,
        message="running",
    ) + change(
        slug,
        kinds.kind_id_of(Success),
        ts + 1,
        name=slug,
        old="Running",
        message="done",
    )


@pytest.fixture
def writer_process(sqlite_store: RunStore, run_id: str) -> Iterator[sinks.WriterProcess]:
    """A started writer process for ``run_id`` in ``sqlite_store`` (stopped afterwards)."""
    database = sqlite_store.sqlite_file
    assert database is not None
    process = sinks.WriterProcess(database, run_id)
    try:
        yield process
    finally:
        process.stop()


def test_a_writer_whose_run_died_still_commits_what_it_was_sent(
    sqlite_store: RunStore, run_id: str, writer_process: sinks.WriterProcess
) -> None:
    process = writer_process
    sink = sinks.ProcessSink(process, seqs={})
    sink.write(success_change("late", time.time()), reply=None)
    process.inbox.close()  # the run dies: its end of the wire goes away

    assert returns_in_time(lambda: sqlite_store.wait_for_writer(run_id))

    by_slug = {r.task_slug: r for r in sqlite_store.task_runs(run_id)}
    assert "late" in by_slug
    assert (by_slug["late"].state, by_slug["late"].message) == ("Success", "done")
    assert not os.path.exists(run_lock_path(process.database, run_id))
    assert process.popen.wait(TIMEOUT) == 0


def test_a_sync_write_returns_once_the_rows_are_readable(
    run_id: str, writer_process: sinks.WriterProcess
) -> None:
    process, database = writer_process, writer_process.database
    sink = sinks.ProcessSink(process, seqs={"one": 0})
    sink.write(success_change("synced", 1000.0) + log("synced", -1, "hi", 1000.5), reply="sync")

    row = stored_task_row(database, run_id, "synced")
    db = sqlite3.connect(database)
    try:
        logs = db.execute(
            "SELECT message FROM logs WHERE flow_run_id = ? AND task_slug = ?",
            (run_id, "synced"),
        ).fetchall()
    finally:
        db.close()
    process.stop()

    assert (row["state"], row["start_time"], row["end_time"], row["seq"]) == (
        "Success",
        1000.0,
        1001.0,
        1,
    )
    assert logs == [("hi",)]
    assert process.popen.returncode == 0


def test_a_killed_writer_process_makes_the_next_sync_write_fail(
    writer_process: sinks.WriterProcess,
) -> None:
    process = writer_process
    sink = sinks.ProcessSink(process, seqs={})
    process.popen.kill()
    process.popen.wait(TIMEOUT)

    with pytest.raises(StoreError, match=r"writer process .* ended unexpectedly"):
        sink.write(success_change("lost", 1.0), reply="sync")


def test_the_recorder_writes_records_in_the_layout_the_writers_read(
    sqlite_store: RunStore,
) -> None:
    import logging

    import lockgate
    from lockgate.engine.state import Pending
    from lockgate.store._writer import LogLine, TaskChange, replace_extras

    recorder = sqlite_store.recorder()
    with lockgate.context(task_slug="one", map_index=2, task_run_count=3):
        recorder._record("one-name", Pending(), Success("done"), b"blob")
    entry = logging.LogRecord("lockgate.task", logging.INFO, __file__, 1, "hello", None, None)
    recorder.log_record("one", None, entry)
    buf = list(recorder._buf)
    assert len(buf) == 2 * STRIDE
    change_ = TaskChange(*buf[:STRIDE])
    assert change_.kind == TASK and change_.task_slug == "one" and change_.map_index == 2
    assert (change_.task_name, change_.old_state, change_.message) == (
        "one-name",
        "Pending",
        "done",
    )
    assert change_.run_count == 3 and change_.result_blob == b"blob" and change_.extra is None
    assert kinds.KINDS[change_.kind_id].name == "Success"
    line = LogLine(*buf[STRIDE : STRIDE + len(LogLine._fields)])
    assert (line.kind, line.task_slug, line.map_index, line.level, line.message) == (
        LOG,
        "one",
        -1,
        "INFO",
        "hello",
    )
    assert buf[STRIDE + len(LogLine._fields) :] == [None] * (STRIDE - len(LogLine._fields))
    rows = TaskRows(RUN, {}, INLINE)
    rows.kinds = kinds.kinds_table()
    rows.add(buf)
    assert [row[1:3] for row in rows.take_rows()] == [("one", 2)]
    assert [log_row[1:6] for log_row in rows.take_logs()] == [
        ("one", -1, "INFO", "lockgate.task", "hello")
    ]
    seen: list[tuple[int, Any]] = []
    batch = change("a", SUCCESS, 1.0) + change("b", SUCCESS, 2.0, extra="big")

    def plain(kind_id: int, extra: Any) -> Any:
        seen.append((kind_id, extra))
        return ("plain",)

    replace_extras(batch, plain)
    assert seen == [(SUCCESS, "big")]
    assert (
        TaskChange(*batch[STRIDE:]).extra == ("plain",)
        and TaskChange(*batch[:STRIDE]).extra is None
    )
