"""A damaged, empty, misplaced or read-only SQLite store: one line that says what is
wrong and what to do, never a traceback, never a write into the file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from lockgate import Flow, runs, task
from lockgate.store import RunStore, StoreError
from lockgate.store import run_store as run_store_module


def _flow(name: str = "damage") -> Flow:
    @task
    def first() -> str:
        return "x" * 2000

    @task
    def second(x: str) -> int:
        return len(x)

    with Flow(name) as flow:
        second(first())
    return flow


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _filled_store(tmp_path: Path, runs_count: int = 40) -> tuple[str, Path, list[str]]:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    ids = []
    with RunStore.open(url, home=tmp_path) as store:
        flow = _flow()
        for _ in range(runs_count):
            recorder = store.recorder()
            flow.run(store=recorder)
            ids.append(recorder.flow_run_id)
    # Fold the WAL into the file, as a closed store is on disk.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return url, path, ids


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def _damage(path: Path, start: float, end: float) -> None:
    data = bytearray(path.read_bytes())
    for i in range(int(len(data) * start), int(len(data) * end)):
        data[i] = 0x5A
    path.write_bytes(bytes(data))


def test_garbage_in_the_middle_gives_one_line_on_reads_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    url, path, ids = _filled_store(tmp_path)
    _damage(path, 0.3, 0.7)
    before = _digest(path)

    reads = [
        lambda: runs.list_runs(store=url),
        lambda: runs.show(ids[20], store=url),
        lambda: runs.logs(ids[20], store=url),
        lambda: runs.flows(store=url),
    ]
    damaged = 0
    for read in reads:
        try:
            read()
        except StoreError as exc:  # never an SQLAlchemy error with a traceback
            message = _one_line(exc)
            assert "is damaged" in message and ".recover" in message
            damaged += 1
    assert damaged >= 1  # at least the full listing meets the damaged pages

    with pytest.raises(StoreError) as caught:  # a new run is refused before it starts
        _flow().run(store=url)
    assert "is damaged" in _one_line(caught.value)
    for again in (lambda: runs.restart(ids[0], store=url), lambda: runs.cancel(ids[0], store=url)):
        with pytest.raises((StoreError, runs.RunsError)):
            again()
    assert _digest(path) == before


def test_a_file_that_is_not_a_database_is_refused_in_one_line(tmp_path: Path) -> None:
    url, path, _ = _filled_store(tmp_path, runs_count=2)
    _damage(path, 0.0, 0.01)  # the header
    before = _digest(path)
    for open_it in (
        lambda: RunStore.open(url, home=tmp_path),
        lambda: runs.list_runs(store=url),
    ):
        with pytest.raises(StoreError) as caught:
            open_it()
        message = _one_line(caught.value)
        assert "is damaged" in message and f"sqlite3 {path}" in message
    assert _digest(path) == before


def test_a_zero_byte_store_is_not_initialised_by_a_read(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    url = f"sqlite:///{path}"
    for read in (lambda: runs.list_runs(store=url), lambda: runs.show("abcd", store=url)):
        with pytest.raises(StoreError) as caught:
            read()
        message = _one_line(caught.value)
        assert "is empty (0 bytes)" in message and f"rm {path}" in message
    assert path.stat().st_size == 0
    # Recording (run, flow.run(store=...)) creates the store in it, as for a new file.
    run_id, state = runs.run_flow(runs.LoadedFlow(_flow(), tmp_path / "x.py", "damage"), store=url)
    assert state.is_successful()
    assert [r.id for r in runs.list_runs(store=url)] == [run_id]


def test_lockgate_home_pointing_at_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "not-a-dir"
    home.write_text("a file")
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    monkeypatch.delenv("LOCKGATE_STORE_URL", raising=False)
    with pytest.raises(StoreError) as caught:
        RunStore.open()
    message = _one_line(caught.value)
    assert f"{home} is a file, not a directory (LOCKGATE_HOME)" in message
    with pytest.raises(StoreError):
        _flow().run(store=True)
    assert home.read_text() == "a file"


def test_a_store_the_user_may_only_read_opens_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, path, ids = _filled_store(tmp_path, runs_count=3)
    # As for a user without write permission (the tests may run as root, whom
    # permissions do not stop; the next test checks real permissions when they can).
    monkeypatch.setattr(run_store_module, "_writable", lambda p: False)
    before = _digest(path)
    with RunStore.open(url, home=tmp_path) as store:
        assert store.read_only
        assert {r.id for r in store.list_runs()} == set(ids)
        assert store.task_runs(ids[0])
        with pytest.raises(StoreError) as caught:
            _flow().run(store=store)
        assert "is read-only for you" in _one_line(caught.value)
    assert [r.id for r in runs.list_runs(store=url)] != []
    with pytest.raises(StoreError, match="read-only for you"):
        runs.cancel(ids[0], store=url)
    assert _digest(path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file; see the test above")
def test_a_store_without_write_permission_is_listed(tmp_path: Path) -> None:
    url, path, ids = _filled_store(tmp_path, runs_count=2)
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert {r.id for r in runs.list_runs(store=url)} == set(ids)
        with pytest.raises(StoreError, match="read-only for you"):
            _flow().run(store=url)
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
