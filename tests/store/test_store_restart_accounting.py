"""Cancelled runs restart; attempts are counted and timed one by one (issue 13 items 1, 3, 4)."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa

from lockgate import Flow, runs, task
from lockgate.engine.state import Failed, Paused, Success
from lockgate.store import RunStore, UnknownRunError, history, schema
from lockgate.store.records import mapped_state

SAFETY = 30.0


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition()`` until true (bounded), for state another thread changes."""
    deadline = time.monotonic() + SAFETY
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.01)


def test_a_cancelled_mapped_run_records_what_never_started_and_restarts(
    store: RunStore,
) -> None:
    release = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    @task
    def items() -> list[int]:
        return list(range(6))

    @task
    def slow(x: int) -> int:
        with lock:
            calls.append(x)
        if x < 2:  # the first two block until the run is cancelled
            release.wait(SAFETY)
        return x

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    with Flow("cancel-mapped") as flow:
        total(slow.map(items()))

    recorder = store.recorder()
    outcome: list[Any] = []
    runner = threading.Thread(
        target=lambda: outcome.append(flow.run(store=recorder, executor="threads:2"))
    )
    runner.start()
    try:

        def two_children_run() -> bool:
            recorder.flush()
            try:
                rows = store.task_runs(recorder.flow_run_id)
            except UnknownRunError:
                return False
            return sum(r.task_name == "slow" and r.state == "Running" for r in rows) == 2

        wait_for(two_children_run, "two children to run")
        store.request_cancel(recorder.flow_run_id)
        runner.join(SAFETY)
    finally:
        release.set()
        runner.join(SAFETY)
    run_id = recorder.flow_run_id
    run = store.get_run(run_id)
    assert run.state == "Cancelled"
    rows = {(r.task_slug, r.map_index): r for r in store.task_runs(run_id)}
    # Never-started children and tasks are recorded (show lists them, counts keep them).
    assert rows[("total-1", -1)].state == "Pending"
    assert rows[("total-1", -1)].message == "Not started: the run ended Cancelled first."
    children = [r for (slug, i), r in rows.items() if slug == "slow-1" and i >= 0]
    assert len(children) == 6
    assert {r.state for r in children} >= {"Cancelled", "Pending"}
    assert mapped_state(r.state for r in children) == "Cancelled"  # not a green Mapped
    assert run.task_counts.get("Pending", 0) >= 1 + sum(r.state == "Pending" for r in children)

    state = runs.restart(run_id, store=store, flow=flow)

    assert isinstance(state, Success)
    assert store.get_run(run_id).state == "Success"
    final = {(r.task_slug, r.map_index): r.state for r in store.task_runs(run_id)}
    assert set(final.values()) <= {"Success", "Mapped"}
    assert sorted(calls) == [0, 0, 1, 1, 2, 3, 4, 5]  # the cancelled ran again, once more


def test_restarted_tasks_count_and_time_each_attempt_without_the_gap(store: RunStore) -> None:
    broken = {"load": True}

    @task
    def extract() -> int:
        return 21

    @task
    def load(x: int) -> int:
        if broken["load"]:
            raise ConnectionError("warehouse is down")
        return x * 2

    with Flow("gap") as flow:
        load(extract())

    recorder = store.recorder()
    assert isinstance(flow.run(store=recorder), Failed)
    run_id = recorder.flow_run_id
    # As if the restart came a day later: move the first attempt back 86,400 s.
    day = 86_400.0
    tr, fr = schema.task_runs, schema.flow_runs

    def shifted(text: str) -> str:
        return "".join(
            history.entry(ts - day, old, new, message)
            for ts, old, new, message in history.parse(text)
        )

    with store.engine.begin() as conn:
        for slug, index, text in conn.execute(
            sa.select(tr.c.task_slug, tr.c.map_index, tr.c.history).where(
                tr.c.flow_run_id == run_id
            )
        ).all():
            conn.execute(
                tr.update()
                .where(tr.c.flow_run_id == run_id, tr.c.task_slug == slug, tr.c.map_index == index)
                .values(history=shifted(text), start_time=tr.c.start_time - day)
            )
        text = conn.execute(sa.select(fr.c.history).where(fr.c.id == run_id)).scalar_one()
        conn.execute(
            fr.update()
            .where(fr.c.id == run_id)
            .values(history=shifted(text), start_time=fr.c.start_time - day)
        )

    broken["load"] = False
    assert isinstance(runs.restart(run_id, store=store, flow=flow), Success)

    load_row = next(r for r in store.task_runs(run_id) if r.task_name == "load")
    assert load_row.run_count == 2 and len(load_row.attempts) == 2
    assert load_row.run_seconds is not None and load_row.run_seconds < 60
    assert (load_row.end_time - load_row.start_time).total_seconds() > day - 60  # type: ignore[operator]
    extract_row = next(r for r in store.task_runs(run_id) if r.task_name == "extract")
    assert extract_row.run_count == 1  # reused, not run again
    run = store.get_run(run_id)
    assert len(run.attempts) == 2 and len(run.restarts) == 1
    assert run.run_seconds is not None and run.run_seconds < 60


def test_running_seconds_is_the_union_of_finished_spans() -> None:
    assert history.running_seconds([]) is None
    assert history.running_seconds([(0.0, None)]) is None
    assert history.running_seconds([(0.0, 1.0), (0.5, 2.0), (10.0, 10.5)]) == 2.5
    text = "".join(
        [
            history.entry(0.0, None, "Running", None),
            history.entry(0.2, "Running", "Failed", "boom"),
            history.entry(100.0, "Failed", "Pending", None),
            history.entry(100.1, "Pending", "Running", None),
            history.entry(100.3, "Running", "Success", None),
        ]
    )
    spans = history.running_spans(text)
    assert spans == [(0.0, 0.2), (100.1, 100.3)]
    assert round(history.running_seconds(spans) or 0, 6) == 0.4
    # A crash: Running with no end, then the restart's Running (from Crashed/Pending).
    crashed = "".join(
        [
            history.entry(0.0, None, "Running", None),
            history.entry(5000.0, "Crashed", "Running", None),
            history.entry(5002.0, "Running", "Success", None),
        ]
    )
    assert history.running_spans(crashed) == [(0.0, None), (5000.0, 5002.0)]
    assert history.running_seconds(history.running_spans(crashed)) == 2.0


def test_a_paused_run_records_no_rows_for_its_waiting_tasks(store: RunStore) -> None:
    from lockgate import triggers

    @task
    def first() -> int:
        return 1

    @task(trigger=triggers.manual_only)
    def gate(x: int) -> int:
        return x

    @task
    def after(x: int) -> int:
        return x

    with Flow("paused") as flow:
        after(gate(first()))

    recorder = store.recorder()
    state = flow.run(store=recorder)
    assert not isinstance(state, (Success, Failed))
    assert isinstance(state.result[flow.get_tasks(name="gate")[0]], Paused)
    names = {r.task_name for r in store.task_runs(recorder.flow_run_id)}
    assert "after" not in names
