"""Result files the store no longer references are removed; ``gc`` drops old runs'
results (issue 13 item 11)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lockgate import Flow, runs, task
from lockgate.engine.state import Failed, Success
from lockgate.store import RunStore, StoreError
from lockgate.store.results import INLINE_LIMIT

BIG = b"x" * (4 * INLINE_LIMIT)  # kept as a file, not in the row


def _files(store: RunStore, run_id: str) -> set[str]:
    directory = store.results_dir / run_id
    return {str(p) for p in directory.iterdir()} if directory.is_dir() else set()


def _referenced(store: RunStore, run_id: str) -> set[str]:
    return {
        loc
        for r in store.task_runs(run_id)
        for loc in (r.result_location, r.cached_inputs_location)
        if loc and loc != "(in the store)"
    }


def _flaky_flow(failures_left: list[int]) -> Flow:
    @task
    def produce() -> bytes:
        return BIG

    @task
    def consume(data: bytes) -> int:
        if failures_left[0] > 0:
            failures_left[0] -= 1
            raise RuntimeError("not yet")
        return len(data)

    with Flow("leaky") as flow:
        consume(produce())
    return flow


def test_failed_attempts_leave_no_unreferenced_input_files(store: RunStore) -> None:
    failures_left = [3]
    flow = _flaky_flow(failures_left)
    recorder = store.recorder()
    assert isinstance(flow.run(store=recorder), Failed)
    run_id = recorder.flow_run_id
    # The big result and the failed task's inputs, both referenced.
    assert _files(store, run_id) == _referenced(store, run_id)
    assert len(_files(store, run_id)) == 2

    for _ in range(2):  # two more failed restarts: each keeps its inputs in a new file
        assert isinstance(runs.restart(run_id, store=store, flow=flow), Failed)
        assert _files(store, run_id) == _referenced(store, run_id)
        assert len(_files(store, run_id)) == 2
    assert isinstance(runs.restart(run_id, store=store, flow=flow), Success)

    # Only the result still referenced is on disk (10 MiB inputs x 3 failures: 10 MiB).
    assert _files(store, run_id) == _referenced(store, run_id)
    assert len(_files(store, run_id)) == 1


def test_gc_drops_old_runs_results_and_keeps_their_records(store: RunStore) -> None:
    recorder = store.recorder()
    assert isinstance(_flaky_flow([0]).run(store=recorder), Success)
    run_id = recorder.flow_run_id
    assert len(_files(store, run_id)) == 1
    orphan = store.results_dir / ("f" * 32)  # a run the store no longer has
    orphan.mkdir(parents=True)
    (orphan / "lockgate-x.pickle").write_bytes(b"12345")

    kept = store.collect_garbage(timedelta(days=1))
    assert kept.runs == () and kept.files == (str(orphan / "lockgate-x.pickle"),)
    assert not orphan.exists()
    assert len(_files(store, run_id)) == 1  # ended less than a day ago: kept

    dry = store.collect_garbage(timedelta(0), dry_run=True)
    assert dry.runs == (run_id,) and len(dry.files) == 1 and dry.bytes_freed > len(BIG)
    assert len(_files(store, run_id)) == 1

    done = store.collect_garbage(timedelta(0))
    assert done.runs == (run_id,) and done.bytes_freed == dry.bytes_freed
    assert _files(store, run_id) == set()
    assert all(r.result_location is None for r in store.task_runs(run_id))
    assert store.get_run(run_id).state == "Success"  # the record stays
    assert store.collect_garbage(timedelta(0)).runs == ()  # nothing left to drop


def test_parse_age() -> None:
    assert runs.parse_age("30d") == timedelta(days=30)
    assert runs.parse_age("12h") == timedelta(hours=12)
    assert runs.parse_age("2w") == timedelta(weeks=2)
    assert runs.parse_age("7") == timedelta(days=7)
    for bad in ("", "soon", "-1d", "nand", "infd"):
        with pytest.raises(runs.RunsError, match="is not a duration"):
            runs.parse_age(bad)


def test_gc_on_a_read_only_store_is_refused(store: RunStore, home: Path) -> None:
    store.read_only = True  # as RunStore.open sets it for a file the user may only read
    with pytest.raises(StoreError, match="read-only for you"):
        store.collect_garbage(timedelta(0))
