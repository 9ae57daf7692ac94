"""Cancelling a flow run: ``FlowRunner.run(cancel=event)`` / ``flow.run(cancel=event)``."""

from __future__ import annotations

import logging
import os
import signal
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


# =============================================================================================
# Ctrl-C (SIGINT in the main thread) cancels the run
# =============================================================================================
class ReleaseOnInterruptLine(logging.Handler):
    """Sets ``event`` when the loop logs that it saw the Ctrl-C (and waits for calls)."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "Interrupted (Ctrl-C)" in record.getMessage():
            self.event.set()


class InterruptWhenRunning(RunHooks):
    """Sends SIGINT to this process when the task named ``name`` starts running."""

    def __init__(self, name: str) -> None:
        self.name = name

    def task_state_changed(self, task: Any, old: State, new: State) -> None:
        if task.name == self.name and isinstance(new, Running):
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Ctrl-C is handled in the main thread only")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_waits_for_a_thread_call_and_records_its_success(main_thread: None) -> None:
    released = threading.Event()
    ran: list[str] = []

    @task
    def held() -> int:
        released.wait(SAFETY)
        ran.append("held")
        return 1

    @task
    def after(x: int) -> int:
        ran.append("after")
        return x + 1

    with Flow("ctrl-c-threads") as flow:
        a = after(held())

    watcher = ReleaseOnInterruptLine(released)
    logging.getLogger("lockgate").addHandler(watcher)
    try:
        state = flow.run(
            executor=ThreadExecutor(max_workers=2),
            hooks=[InterruptWhenRunning("held")],
            return_tasks=flow.tasks,
        )
    finally:
        logging.getLogger("lockgate").removeHandler(watcher)
        released.set()
    assert isinstance(state, Cancelled) and "Ctrl-C" in (state.message or ""), state
    assert type(state.result[flow.get_tasks(name="held")[0]]) is Success
    assert isinstance(state.result[a], Pending)
    assert ran == ["held"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_ctrl_c_stops_inline_task_code_which_ends_cancelled(main_thread: None) -> None:
    @task
    def interrupted() -> int:
        os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C now
        threading.Event().wait(SAFETY)
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    with Flow("ctrl-c-inline") as flow:
        a = after(interrupted())

    state = flow.run(return_tasks=flow.tasks)
    assert isinstance(state, Cancelled), state
    stopped = state.result[flow.get_tasks(name="interrupted")[0]]
    assert isinstance(stopped, Cancelled) and "Ctrl-C" in (stopped.message or ""), stopped
    assert isinstance(state.result[a], Pending)


def test_a_programs_own_sigint_handler_is_left_alone(main_thread: None) -> None:
    seen: list[int] = []

    def own(signum: int, frame: Any) -> None:
        seen.append(signum)

    @task
    def signals_itself() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        return 1

    with Flow("own-handler") as flow:
        signals_itself()

    previous = signal.signal(signal.SIGINT, own)
    try:
        state = flow.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert type(state) is Success and seen == [signal.SIGINT]


def test_a_keyboard_interrupt_that_is_not_a_cancel_still_ends_the_calls_in_flight(
    main_thread: None, tmp_path: Any
) -> None:
    from lockgate.store import RunStore

    released = threading.Event()

    def raises(signum: int, frame: Any) -> None:  # the program's own handler
        raise KeyboardInterrupt

    @task
    def held() -> int:
        # From this worker thread: the main thread gets it while it waits for the call.
        os.kill(os.getpid(), signal.SIGINT)
        released.wait(SAFETY)
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    with Flow("interrupted") as flow:
        after(held())

    previous = signal.signal(signal.SIGINT, raises)
    try:
        with RunStore.open(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path) as store:
            recorder = store.recorder()
            with pytest.raises(KeyboardInterrupt):
                flow.run(store=recorder, executor=ThreadExecutor(max_workers=2))
            store.wait_for_writer(recorder.flow_run_id)
            run = store.get_run(recorder.flow_run_id)
            tasks = {t.task_name: t.state for t in store.task_runs(run.id)}
    finally:
        signal.signal(signal.SIGINT, previous)
        released.set()
    assert run.state == "Cancelled" and not run.active, run
    assert tasks == {"held": "Cancelled"}, tasks  # not left Running


def test_a_cancel_ends_the_wait_for_a_retry() -> None:
    cancel = threading.Event()
    retrying = threading.Event()

    @task(max_retries=1, retry_delay=timedelta(hours=1))
    def flaky() -> int:
        raise ConnectionError("refused")

    class CancelWhileWaiting(RunHooks):
        def task_state_changed(self, task: Any, old: State, new: State) -> None:
            if type(new).__name__ == "Retrying":
                retrying.set()

    with Flow("retry-wait") as flow:
        flaky()

    def cancel_once_waiting() -> None:
        retrying.wait(SAFETY)
        cancel.set()

    helper = threading.Thread(target=cancel_once_waiting)
    helper.start()
    outcome: list[State] = []
    runner = threading.Thread(
        target=lambda: outcome.append(flow.run(cancel=cancel, hooks=[CancelWhileWaiting()])),
        daemon=True,  # if it regresses, it must not keep the test process for an hour
    )
    runner.start()
    runner.join(SAFETY)  # before: the run slept the whole hour
    helper.join(SAFETY)
    assert not runner.is_alive(), "the run did not notice the cancel while waiting"
    [state] = outcome
    assert isinstance(state, Cancelled), state
