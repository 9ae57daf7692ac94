"""Who writes a recorded run's rows: a writer process (SQLite files) or a thread."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate import Flow, task
from lockgate.engine.state import Success
from lockgate.store import RunStore, StoreError, StoreRecorder
from lockgate.store._writer import run_lock_path
from lockgate.store.sinks import WRITER_ENV


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore.open(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path / "home") as store:
        yield store


def chain_flow(middle: object = None) -> Flow:
    @task
    def first() -> int:
        return 1

    @task
    def second(x: int) -> int:
        if callable(middle):
            middle()
        return x + 1

    @task
    def third(x: int) -> int:
        return x + 1

    with Flow("chain") as flow:
        third(second(first()))
    return flow


def test_a_sqlite_file_is_written_by_a_writer_process_that_ends_with_the_run(
    sqlite_store: RunStore,
) -> None:
    recorder = sqlite_store.recorder()

    state = chain_flow().run(store=recorder)

    assert isinstance(state, Success)
    assert recorder.error is None
    process = recorder._process
    assert process is not None
    assert process.popen.returncode == 0
    assert sqlite_store.sqlite_file is not None
    assert not os.path.exists(run_lock_path(sqlite_store.sqlite_file, recorder.flow_run_id))
    records = sqlite_store.task_runs(recorder.flow_run_id)
    assert [(r.task_name, r.state) for r in records] == [
        ("first", "Success"),
        ("second", "Success"),
        ("third", "Success"),
    ]


def test_thread_mode_writes_the_same_rows_without_a_process(
    sqlite_store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRITER_ENV, "thread")
    recorder = sqlite_store.recorder()

    chain_flow().run(store=recorder)

    assert recorder._process is None
    assert sqlite_store.get_run(recorder.flow_run_id).task_counts == {"Success": 3}


def test_an_in_memory_store_is_written_from_a_thread() -> None:
    with RunStore.open("sqlite://", home=Path("/nonexistent-lockgate-home")) as store:
        assert store.sqlite_file is None
        recorder = store.recorder()
        chain_flow().run(store=recorder)
        assert recorder._process is None
        assert store.get_run(recorder.flow_run_id).task_counts == {"Success": 3}


def test_an_unknown_writer_mode_is_refused_before_the_run_starts(
    sqlite_store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRITER_ENV, "fork")

    with pytest.raises(StoreError) as raised:
        chain_flow().run(store=sqlite_store)

    message = str(raised.value)
    assert "LOCKGATE_STORE_WRITER='fork'" in message
    assert "'process'" in message and "'thread'" in message
    assert sqlite_store.list_runs() == []


def test_a_killed_writer_process_is_reported_and_the_run_goes_on(
    sqlite_store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    recorder: StoreRecorder = sqlite_store.recorder()

    def kill_the_writer() -> None:
        process = recorder._process
        assert process is not None
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait()

    state = chain_flow(kill_the_writer).run(store=recorder)

    assert isinstance(state, Success)
    assert isinstance(recorder.error, StoreError)
    assert "writer process" in str(recorder.error)
    assert "ended unexpectedly" in str(recorder.error)
    assert "could not record" in caplog.text
    # The run's own row is written by the run's process: its end is recorded.
    run = sqlite_store.get_run(recorder.flow_run_id)
    assert run.state == "Success" and run.active is False
