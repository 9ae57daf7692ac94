"""The executor contract on the inline executor: ``submit`` returns a completed future,
and a task's timeout is a deadline of the loop (issue 14 item 1)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.base import Done, Executor
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.flow_runner import FlowRunner
from lockgate.engine.state import Running, State, Success, TimedOut
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import RecordingExecutor


def test_submit_returns_a_completed_future_holding_the_result_or_the_error() -> None:
    executor = LocalExecutor()
    ok = executor.submit(divmod, 7, 2)
    assert isinstance(ok, Done) and ok.done()
    assert ok.result() == (3, 1) and ok.exception() is None
    failed = executor.submit(divmod, 1, 0)
    assert isinstance(failed.exception(), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        executor.wait(failed)
    assert executor.outcomes([ok, failed])[0] == (True, (3, 1))
    assert executor.wait([ok, 5]) == [(3, 1), 5]  # a plain value comes back as it is


def test_a_done_future_calls_its_callback_at_once() -> None:
    seen: list[Done] = []
    future = LocalExecutor().submit(int, "4")
    future.add_done_callback(seen.append)
    assert seen == [future]


def test_an_inline_task_past_its_timeout_is_abandoned_by_the_loop() -> None:
    release = threading.Event()
    ran_in: list[str] = []

    @task(timeout=0.1)
    def blocks() -> None:
        ran_in.append(threading.current_thread().name)
        release.wait(10)

    @task
    def after() -> int:
        return 1

    with Flow("soft-timeout") as flow:
        blocks()
        after()
    try:
        state = flow.run(executor=LocalExecutor(), return_tasks=flow.tasks)
    finally:
        release.set()
    by_name = {t.name: s for t, s in state.result.items()}
    assert type(by_name["blocks"]) is TimedOut
    assert type(by_name["after"]) is Success
    assert ran_in == ["lockgate-timed-call"]  # a thread the loop could give up on


class _OwnStep11(TaskRunner):
    def get_task_run_state(
        self,
        state: State,
        inputs: dict[str, Any],
        timeout_handler: Callable[..., Any] | None = None,
        executor: Executor | None = None,
    ) -> State:
        return super().get_task_run_state(state, inputs, timeout_handler, executor)


def test_an_overridden_step_11_runs_the_code_through_the_runs_executor() -> None:
    @task
    def one() -> int:
        return 1

    with Flow("own-step-11") as flow:
        one()
    executor = RecordingExecutor()
    state = FlowRunner(flow, task_runner_cls=_OwnStep11).run(
        return_tasks=flow.tasks, executor=executor
    )
    assert [s.result for s in state.result.values()] == [1]
    assert executor.submitted == [("one", None)]


def test_step_11_called_by_itself_runs_inline_under_the_deadline() -> None:
    release = threading.Event()

    @task(timeout=0.1)
    def blocks() -> None:
        release.wait(10)

    try:
        new = TaskRunner(blocks).get_task_run_state(Running(), {})
    finally:
        release.set()
    assert type(new) is TimedOut
