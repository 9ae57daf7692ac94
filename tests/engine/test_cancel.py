"""Cancelling a flow run: ``FlowRunner.run(cancel=event)`` / ``flow.run(cancel=event)``."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.processes import ProcessExecutor
from lockgate.engine.executors.threads import ThreadExecutor
from lockgate.engine.hooks import RunHooks
from lockgate.engine.state import Cancelled, Pending, Running, State, Success

SAFETY = 30.0


class CancelWhenRunning(RunHooks):
    """Sets ``cancel`` when the task named ``name`` starts running."""

    def __init__(self, name: str, cancel: threading.Event) -> None:
        self.name = name
        self.cancel = cancel

    def task_state_changed(self, task: Any, old: State, new: State) -> None:
        if task.name == self.name and isinstance(new, Running):
            self.cancel.set()


def test_a_call_in_flight_ends_cancelled_and_nothing_else_starts() -> None:
    release = threading.Event()
    cancel = threading.Event()

    @task(max_retries=3, retry_delay=timedelta(seconds=1))
    def blocked() -> int:
        release.wait(SAFETY)
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    with Flow("cancel-threads") as flow:
        a = after(blocked())

    try:
        state = flow.run(
            executor=ThreadExecutor(max_workers=2),
            cancel=cancel,
            hooks=[CancelWhenRunning("blocked", cancel)],
        )
    finally:
        release.set()
    assert isinstance(state, Cancelled), state
    blocked_state = state.result[flow.get_tasks(name="blocked")[0]]
    assert isinstance(blocked_state, Cancelled), blocked_state  # not Retrying: no retries
    assert "cancelled" in (blocked_state.message or "")
    assert isinstance(state.result[a], Pending)


def test_inline_the_running_task_finishes_and_the_next_does_not_start() -> None:
    cancel = threading.Event()
    ran: list[str] = []

    @task
    def first() -> int:
        ran.append("first")
        cancel.set()
        return 1

    @task
    def second(x: int) -> int:
        ran.append("second")
        return x

    with Flow("cancel-inline") as flow:
        b = second(first())

    state = flow.run(cancel=cancel)
    assert isinstance(state, Cancelled)
    assert ran == ["first"]
    assert isinstance(state.result[flow.get_tasks(name="first")[0]], Success)
    assert isinstance(state.result[b], Pending)


def test_a_cancel_stops_a_process_call_for_real() -> None:
    cancel = threading.Event()

    @task
    def stuck() -> None:
        time.sleep(SAFETY)  # the task's own work: the cancel must kill it

    with Flow("cancel-processes") as flow:
        stuck()

    started = time.monotonic()
    state = flow.run(
        executor=ProcessExecutor(max_workers=2),
        cancel=cancel,
        hooks=[CancelWhenRunning("stuck", cancel)],
    )
    assert isinstance(state, Cancelled)
    assert isinstance(state.result[flow.get_tasks(name="stuck")[0]], Cancelled)
    assert time.monotonic() - started < SAFETY / 2, "the call ran on instead of being stopped"


@pytest.mark.parametrize("executor", ["local", "threads:2"])
def test_an_unset_cancel_event_changes_nothing(executor: str) -> None:
    @task
    def one() -> int:
        return 1

    with Flow("not-cancelled") as flow:
        t = one()

    state = flow.run(executor=executor, cancel=threading.Event())
    assert state.is_successful() and state.result[t].result == 1
