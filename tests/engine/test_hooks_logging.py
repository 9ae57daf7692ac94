"""Logging (standard library, names under ``lockgate.``) and hooks seen from a task's context."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lockgate import Flow, Task, context, task, triggers
from lockgate.engine.hooks import RunHooks
from lockgate.engine.state import Paused, Pending, Resume, Running, State, Success
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    with FakeClock() as c:
        yield c


def lockgate_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lockgate" or r.name.startswith("lockgate.")]


def simple_flow(name: str = "logged") -> Flow:
    @task
    def first() -> int:
        context.logger.info("hello from first")
        return 1

    @task
    def second(x: int) -> int:
        context.logger.debug("second got %s", x)
        return x + 1

    with Flow(name) as flow:
        second(first())
    return flow


# =============================================================================================
# Logger names
# =============================================================================================
def test_every_record_of_a_run_is_under_lockgate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")
    simple_flow().run()
    assert caplog.records, "a run logs something at DEBUG"
    assert all(r.name.startswith("lockgate.") for r in caplog.records), [
        r.name for r in caplog.records
    ]


def test_flow_and_each_task_get_their_own_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")
    simple_flow("own-loggers").run()
    by_message = {r.getMessage(): r.name for r in lockgate_records(caplog)}
    assert by_message["hello from first"] == "lockgate.task.first"
    assert by_message["second got 1"] == "lockgate.task.second"
    flow_records = [r for r in caplog.records if r.name == "lockgate.flow.own-loggers"]
    assert flow_records


def test_context_logger_is_per_task_in_mapped_children(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    @task
    def child(x: int) -> int:
        context.logger.info("child %s", x)
        return x

    with Flow("mapped-logs") as flow:
        child.map([1, 2])
    flow.run()
    names = {r.name for r in lockgate_records(caplog) if r.getMessage().startswith("child ")}
    assert names == {"lockgate.task.child"}


def test_context_logger_outside_a_task_is_the_flow_logger(caplog: pytest.LogCaptureFixture) -> None:
    with context(flow_name="outside"):
        assert context.logger.name == "lockgate.flow.outside"
    assert context.logger.name == "lockgate"


def test_task_runner_logs_at_debug_under_lockgate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    class Quiet(Task):
        def run(self) -> int:
            return 1

    TaskRunner(Quiet(name="quiet")).run()
    records = lockgate_records(caplog)
    assert records
    assert all(r.name.startswith("lockgate.") for r in records)
    assert all(r.levelno == logging.DEBUG for r in records)


# =============================================================================================
# Levels
# =============================================================================================
def test_nothing_at_warning_for_a_successful_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")
    state = simple_flow().run()
    assert type(state) is Success
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []


def test_nothing_at_warning_for_a_successful_mapped_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    @task
    def double(x: int) -> int:
        return 2 * x

    with Flow("mapped-quiet") as flow:
        double.map(double.map([1, 2, 3]))
    assert type(flow.run()) is Success
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_nothing_at_warning_for_a_paused_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    @task(trigger=triggers.manual_only)
    def gate() -> int:
        return 1

    with Flow("paused-quiet") as flow:
        gate()
    assert type(flow.run()) is Running
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_flow_start_and_end_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")
    simple_flow("info-flow").run()
    flow_info = [
        r
        for r in caplog.records
        if r.name == "lockgate.flow.info-flow" and r.levelno == logging.INFO
    ]
    assert len(flow_info) >= 2
    start, end = flow_info[0], flow_info[-1]
    assert "info-flow" in start.getMessage()
    assert "info-flow" in end.getMessage()
    assert "Success" in end.getMessage()
    # the start comes before any task logs, the end after all of them
    records = lockgate_records(caplog)
    task_positions = [i for i, r in enumerate(records) if r.name.startswith("lockgate.task.")]
    assert records.index(start) < min(task_positions)
    assert records.index(end) > max(task_positions)


def test_flow_start_and_end_visible_at_info_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lockgate")
    simple_flow("info-only").run()
    flow_msgs = [r for r in caplog.records if r.name == "lockgate.flow.info-only"]
    assert len(flow_msgs) == 2
    assert all(r.levelno == logging.INFO for r in flow_msgs)
    assert not any(r.levelno == logging.DEBUG for r in caplog.records)


def test_an_engine_error_is_logged_at_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    class BrokenRunner(TaskRunner):
        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("engine broke")

    from lockgate.engine.flow_runner import FlowRunner

    @task
    def one() -> int:
        return 1

    with Flow("err-flow") as flow:
        one()
    state = FlowRunner(flow, task_runner_cls=BrokenRunner).run()
    assert not state.is_successful()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert all(r.name.startswith("lockgate.") for r in errors)
    assert errors[0].exc_info is not None


def test_user_failure_is_not_logged_above_info_by_the_engine(
    caplog: pytest.LogCaptureFixture, fake_clock: FakeClock
) -> None:
    caplog.set_level(logging.DEBUG, logger="lockgate")

    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def flaky() -> int:
        raise ValueError("always")

    with Flow("fails") as flow:
        flaky()
    state = flow.run()
    assert state.is_failed()
    # the flow end is still logged at INFO and names the failure
    end = [r for r in caplog.records if r.name == "lockgate.flow.fails"][-1]
    assert end.levelno == logging.INFO
    assert "Failed" in end.getMessage()


# =============================================================================================
# Import configures nothing
# =============================================================================================
def test_import_configures_no_logging() -> None:
    code = (
        "import logging, lockgate, lockgate.engine.flow_runner, lockgate.testing\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "lg = logging.getLogger('lockgate')\n"
        "assert lg.handlers == [] and lg.level == logging.NOTSET and lg.propagate\n"
        "assert logging.getLogger().level == logging.WARNING\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# =============================================================================================
# Hooks see the task's context
# =============================================================================================
class ContextHooks(RunHooks):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any, str, str]] = []

    def task_state_changed(self, task: Task, old: State, new: State) -> None:
        self.seen.append(
            (
                task.name,
                context.get("task_slug"),
                context.get("map_index"),
                type(old).__name__,
                type(new).__name__,
            )
        )


def test_hooks_run_inside_the_task_context() -> None:
    @task
    def item(x: int) -> int:
        return x

    with Flow("hook-ctx") as flow:
        item.map([5, 6])
    hooks = ContextHooks()
    flow.run(hooks=[hooks])
    item_changes = [(i, new) for name, _, i, _, new in hooks.seen if name == "item"]
    assert item_changes == [
        (0, "Running"),
        (0, "Success"),
        (1, "Running"),
        (1, "Success"),
        (None, "Mapped"),
    ]
    assert all(slug for _, slug, _, _, _ in hooks.seen)


def test_hooks_during_a_resume(fake_clock: FakeClock) -> None:
    @task(trigger=triggers.manual_only)
    def gate() -> int:
        return 1

    with Flow("hook-resume") as flow:
        g = gate()
    hooks = ContextHooks()
    first = flow.run(hooks=[hooks])
    assert type(first.result[g]) is Paused
    assert [(h[0], h[2], h[3], h[4]) for h in hooks.seen] == [("gate", None, "Pending", "Paused")]
    hooks.seen.clear()
    second = flow.run(task_states=first.result, start_tasks=[g], hooks=[hooks])
    assert type(second) is Success
    olds = [h[3] for h in hooks.seen]
    news = [h[4] for h in hooks.seen]
    assert news == ["Running", "Success"]
    assert olds[0] in {Resume.__name__, Paused.__name__, Pending.__name__}
    assert fake_clock.sleeps == []
