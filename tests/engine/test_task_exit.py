"""Task code that raises ``SystemExit`` or ``KeyboardInterrupt`` fails its task, nothing more.

Neither may end the process running the flow (or a worker): the task ends Failed with
a message naming what was raised, and the run goes on as for any other failure.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.base import Executor, TaskExitError
from lockgate.engine.executors.sync import SynchronousExecutor
from lockgate.engine.state import Failed, Retrying, Success, TriggerFailed
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock


@task
def exits_zero() -> None:
    sys.exit(0)


@task
def exits_two() -> None:
    sys.exit(2)


@task
def interrupts() -> None:
    raise KeyboardInterrupt


@task
def fine() -> int:
    return 1


@task
def after(x: None) -> int:
    return 2


def exit_flow() -> Flow:
    with Flow("task-exits") as flow:
        after(exits_zero())
        exits_two()
        interrupts()
        fine()
    return flow


def test_every_executor_fails_the_task_and_goes_on(any_executor: Executor) -> None:
    flow = exit_flow()
    state = flow.run(executor=any_executor)
    assert isinstance(state, Failed), state
    by_name = {t.name: s for t, s in state.result.items()} if state.result else {}
    if not by_name:  # only reference tasks are returned: ask for all of them
        state = flow.run(executor=any_executor, return_tasks=flow.tasks)
        by_name = {t.name: s for t, s in state.result.items()}
    for name, raised in (
        ("exits_zero", "SystemExit(0)"),
        ("exits_two", "SystemExit(2)"),
        ("interrupts", "KeyboardInterrupt()"),
    ):
        st = by_name[name]
        assert type(st) is Failed, (name, st)
        assert raised in (st.message or ""), st.message
        assert f"'{name}'" in (st.message or "")
        assert isinstance(st.result, TaskExitError)
    assert isinstance(by_name["after"], TriggerFailed)
    assert type(by_name["fine"]) is Success


def test_the_synchronous_executor_too() -> None:
    flow = exit_flow()
    state = flow.run(executor=SynchronousExecutor(), return_tasks=flow.tasks)
    by_name = {t.name: s for t, s in state.result.items()}
    assert "SystemExit(0)" in (by_name["exits_zero"].message or "")
    assert type(by_name["fine"]) is Success


def test_a_task_with_a_timeout_runs_through_the_timeout_handler_and_fails_too() -> None:
    @task(timeout=30)
    def timed_exit() -> None:
        sys.exit(3)

    with Flow("timed-exit") as flow:
        timed_exit()
    state = flow.run(return_tasks=flow.tasks)
    [st] = state.result.values()
    assert type(st) is Failed and "SystemExit(3)" in (st.message or ""), st


def test_a_task_runner_alone_fails_the_task() -> None:
    state = TaskRunner(exits_zero).run()
    assert type(state) is Failed and "SystemExit(0)" in (state.message or "")


def test_an_exit_is_retried_like_any_failure() -> None:
    @task(max_retries=1, retry_delay=timedelta(seconds=5))
    def flaky_exit() -> None:
        raise SystemExit("bye")

    with FakeClock():
        with Flow("retried-exit") as flow:
            flaky_exit()
        first = TaskRunner(flaky_exit).run()
        assert isinstance(first, Retrying), first
        state = flow.run(return_tasks=flow.tasks)
    [st] = state.result.values()
    assert type(st) is Failed and "SystemExit('bye')" in (st.message or ""), st


@pytest.mark.parametrize("executor", ["local", "threads:2"])
def test_the_flow_runs_in_this_process_to_its_end(executor: str) -> None:
    # Before the fix, SystemExit(0) ended the run (and the test process) at once.
    flow = exit_flow()
    state = flow.run(executor=executor)
    assert isinstance(state, Failed)
