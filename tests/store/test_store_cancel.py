"""Cancelling a recorded run from elsewhere: ``RunStore.request_cancel``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.store import RunStore, StoreError, UnknownRunError

SAFETY = 30.0


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition()`` until it is true (bounded by SAFETY), for cross-thread state."""
    deadline = time.monotonic() + SAFETY
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.01)


def test_a_cancel_request_stops_the_recording_run(store: RunStore) -> None:
    release = threading.Event()

    @task
    def blocked() -> int:
        release.wait(SAFETY)
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    with Flow("cancel-me") as flow:
        after(blocked())

    recorder = store.recorder(source="test")
    outcome: list[Any] = []
    runner = threading.Thread(
        target=lambda: outcome.append(flow.run(store=recorder, executor="threads:2"))
    )
    runner.start()
    try:

        def blocked_is_running() -> bool:
            recorder.flush()
            try:
                tasks = store.task_runs(recorder.flow_run_id)
            except UnknownRunError:  # the run's first record is not committed yet
                return False
            return any(t.task_name == "blocked" and t.state == "Running" for t in tasks)

        wait_for(blocked_is_running, "the task to run")
        assert store.request_cancel(recorder.flow_run_id[:8]) == recorder.flow_run_id
        runner.join(SAFETY)
    finally:
        release.set()
        runner.join(SAFETY)
    [state] = outcome
    assert type(state).__name__ == "Cancelled"
    run = store.get_run(recorder.flow_run_id)
    assert run.state == "Cancelled" and not run.active
    states = {t.task_name: t.state for t in store.task_runs(run.id)}
    assert states["blocked"] == "Cancelled"
    assert states.get("after", "Pending") == "Pending"


def test_a_run_that_is_not_running_cannot_be_cancelled(store: RunStore, home: Path) -> None:
    @task
    def one() -> int:
        return 1

    with Flow("done") as flow:
        one()

    recorder = store.recorder()
    flow.run(store=recorder)
    with pytest.raises(StoreError, match="is Success, not running; there is nothing to cancel"):
        store.request_cancel(recorder.flow_run_id)
    assert store.cancel_requested(recorder.flow_run_id) is None
    with pytest.raises(UnknownRunError):
        store.request_cancel("ffffffffffff")
