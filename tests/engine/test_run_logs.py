"""What the engine itself writes in a recorded run's logs, attributed to each task.

A user reading ``lockgate logs RUN --task T`` must learn why T failed, retried, was
paused, skipped, timed out or cancelled, at the level they expect (ERROR for a
failure, WARNING for a retry or a cancel, INFO for a pause or a skip), and nothing
for a task that succeeded. A flow state handler that fails the run's start still
leaves a recorded run, with the handler's traceback in its logs.

Every test records into a real SQLite file (its writer process included).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lockgate import Flow, context, signals, task, triggers
from lockgate.engine.executors.threads import ThreadExecutor
from lockgate.engine.state import Failed, Pending, Running, State, Success
from lockgate.store import LogRecord, RunStore
from lockgate.testing import FakeClock

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore.open(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path) as opened:
        yield opened


def recorded_logs(store: RunStore, flow: Flow, **run: Any) -> tuple[State, list[LogRecord], str]:
    recorder = store.recorder(source="test")
    state = flow.run(store=recorder, **run)
    store.wait_for_writer(recorder.flow_run_id)
    return state, store.logs(recorder.flow_run_id), recorder.flow_run_id


def engine_lines(logs: list[LogRecord], slug: str) -> list[tuple[str, str]]:
    return [(g.level, g.message) for g in logs if g.task_slug == slug]


def test_a_failure_is_logged_at_error_with_the_exception_type_and_message(
    store: RunStore,
) -> None:
    @task
    def broken() -> None:
        raise ValueError("the input file is empty")

    @task
    def fine() -> int:
        return 1

    with Flow("fails") as flow:
        broken()
        fine()
    state, logs, _ = recorded_logs(store, flow)
    assert isinstance(state, Failed)
    assert engine_lines(logs, "broken-1") == [
        ("ERROR", "Task 'broken' failed: ValueError: the input file is empty")
    ]
    assert engine_lines(logs, "fine-1") == []  # a success logs nothing


def test_each_retry_says_which_attempt_failed_why_and_when_it_runs_again(
    store: RunStore,
) -> None:
    @task(max_retries=2, retry_delay=timedelta(seconds=5))
    def flaky() -> None:
        raise ConnectionError("refused")

    with Flow("retries") as flow:
        flaky()
    with FakeClock(start=T0):
        _, logs, _ = recorded_logs(store, flow)
    assert engine_lines(logs, "flaky-1") == [
        (
            "WARNING",
            "Task 'flaky' failed on attempt 1 of 3 (ConnectionError: refused); "
            "retrying at 2030-06-01 12:00:05 UTC.",
        ),
        (
            "WARNING",
            "Task 'flaky' failed on attempt 2 of 3 (ConnectionError: refused); "
            "retrying at 2030-06-01 12:00:10 UTC.",
        ),
        ("ERROR", "Task 'flaky' failed: ConnectionError: refused"),
    ]


def test_a_retry_signal_says_when(store: RunStore) -> None:
    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def asks() -> int:
        if context.get("task_run_count") == 1:
            raise signals.RETRY("not yet", start_time=T0 + timedelta(minutes=1))
        return 1

    with Flow("retry-signal") as flow:
        asks()
    with FakeClock(start=T0):
        state, logs, _ = recorded_logs(store, flow)
    assert type(state) is Success
    assert engine_lines(logs, "asks-1") == [
        ("WARNING", "Task 'asks' will retry at 2030-06-01 12:01:00 UTC: not yet")
    ]


def test_trigger_failure_skip_and_pause_are_logged_at_their_levels(store: RunStore) -> None:
    @task
    def broken() -> None:
        raise RuntimeError("boom")

    @task
    def downstream(x: None) -> None:
        pass

    @task
    def skipper() -> None:
        raise signals.SKIP("nothing new today")

    @task
    def after_skip(x: None) -> None:
        pass

    @task(trigger=triggers.manual_only)
    def gate() -> None:
        pass

    with Flow("outcomes") as flow:
        downstream(broken())
        after_skip(skipper())
        gate()
    _, logs, _ = recorded_logs(store, flow)
    [(level, message)] = engine_lines(logs, "downstream-1")
    assert level == "WARNING"
    assert message.startswith("Task 'downstream' did not run, its trigger failed: ")
    assert engine_lines(logs, "skipper-1") == [
        ("INFO", "Task 'skipper' was skipped: nothing new today")
    ]
    [(level, message)] = engine_lines(logs, "after_skip-1")
    assert level == "INFO" and message.startswith("Task 'after_skip' was skipped: Upstream")
    [(level, message)] = engine_lines(logs, "gate-1")
    assert level == "INFO" and message.startswith("Task 'gate' is paused: ")


def test_a_timeout_is_logged_at_error(store: RunStore) -> None:
    release = threading.Event()

    @task(timeout=0.05)
    def slow() -> None:
        release.wait(30)

    with Flow("timeout") as flow:
        slow()
    try:
        _, logs, _ = recorded_logs(store, flow, executor=ThreadExecutor(2))
    finally:
        release.set()
    [(level, message)] = engine_lines(logs, "slow-1")
    assert level == "ERROR" and message.startswith("Task 'slow' timed out: "), message


def test_a_cancel_is_logged_at_warning(store: RunStore) -> None:
    release = threading.Event()
    cancel = threading.Event()

    @task
    def blocked() -> None:
        release.wait(30)

    with Flow("cancelled") as flow:
        blocked()

    class CancelWhenRunning:
        def __call__(self, runner: Any, old: State, new: State) -> State:
            if isinstance(new, Running):
                cancel.set()
            return new

    try:
        _, logs, _ = recorded_logs(
            store,
            flow,
            executor=ThreadExecutor(2),
            cancel=cancel,
            task_runner_state_handlers=[CancelWhenRunning()],
        )
    finally:
        release.set()
    [(level, message)] = engine_lines(logs, "blocked-1")
    assert level == "WARNING"
    assert message.startswith("Task 'blocked' was cancelled: RunCancelledError"), message


def test_mapped_children_are_named_and_attributed_with_their_index(store: RunStore) -> None:
    @task
    def check(x: int) -> int:
        if x == 2:
            raise ValueError(f"bad item {x}")
        return x

    with Flow("mapped") as flow:
        check.map([1, 2, 3])
    _, logs, _ = recorded_logs(store, flow)
    lines = [(g.map_index, g.level, g.message) for g in logs if g.task_slug == "check-1"]
    assert lines == [(1, "ERROR", "Task 'check[1]' failed: ValueError: bad item 2")]


def test_a_flow_state_handler_that_raises_on_the_start_still_records_the_run(
    store: RunStore,
) -> None:
    def refuses(flow: Flow, old: State, new: State) -> State:
        if isinstance(new, Running):
            raise PermissionError("the warehouse is closed on Sundays")
        return new

    @task
    def never() -> int:
        return 1

    with Flow("refused", state_handlers=[refuses]) as flow:
        never()
    state, logs, run_id = recorded_logs(store, flow)
    assert isinstance(state, Failed)
    run = store.get_run(run_id)  # before the fix: UnknownRunError
    assert run.state == "Failed" and not run.active
    assert "PermissionError: the warehouse is closed on Sundays" in (run.message or "")
    assert store.task_runs(run_id) == []
    [line] = [g for g in logs if g.level == "ERROR"]
    assert line.task_slug is None
    assert "Traceback (most recent call last)" in line.message
    assert "PermissionError: the warehouse is closed on Sundays" in line.message
    assert "refuses" in line.message  # the handler's frame


def test_a_flow_state_handler_that_raises_at_the_end_names_its_error(store: RunStore) -> None:
    def grumpy(flow: Flow, old: State, new: State) -> State:
        if isinstance(new, Success):
            raise RuntimeError("no success today")
        return new

    @task
    def one() -> int:
        return 1

    with Flow("grumpy", state_handlers=[grumpy]) as flow:
        one()
    state, logs, run_id = recorded_logs(store, flow)
    assert state.message == "Exception raised while calling state handlers."  # as Prefect
    assert store.get_run(run_id).message == (
        "Exception raised while calling state handlers: RuntimeError: no success today"
    )
    assert any("no success today" in g.message and g.level == "ERROR" for g in logs)


# =============================================================================================
# Logs of task code running on process and Dask workers
# =============================================================================================
@task
def chatty(x: int) -> int:
    context.logger.info("working on %s", x)
    if x == 2:
        try:
            raise KeyError("missing")
        except KeyError:
            context.logger.exception("item %s has no key", x)
        raise ValueError("cannot do 2")
    context.logger.debug("not kept: DEBUG is below INFO")
    return x


def test_task_logs_are_captured_on_every_executor(store: RunStore, any_executor: Any) -> None:
    with Flow("worker-logs") as flow:
        chatty.map([1, 2, 3])
    _, logs, _ = recorded_logs(store, flow, executor=any_executor)
    lines = sorted(
        (g.map_index, g.level, g.logger, g.message.splitlines()[0])
        for g in logs
        if g.task_slug == "chatty-1"
    )
    assert lines == [
        (0, "INFO", "lockgate.task.chatty", "working on 1"),
        (1, "ERROR", "lockgate.task.chatty", "Task 'chatty[1]' failed: ValueError: cannot do 2"),
        (1, "ERROR", "lockgate.task.chatty", "item 2 has no key"),
        (1, "INFO", "lockgate.task.chatty", "working on 2"),
        (2, "INFO", "lockgate.task.chatty", "working on 3"),
    ], lines
    [logged] = [g for g in logs if g.message.startswith("item 2 has no key")]
    assert "KeyError: 'missing'" in logged.message  # the traceback came back too


def test_a_state_given_to_the_run_and_kept_is_not_reported_again() -> None:
    from lockgate.engine.task_runner import TaskRunner

    @task
    def done_before() -> int:
        return 1

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger = logging.getLogger("lockgate.task.done_before")
    logger.addHandler(handler)
    try:
        kept = Failed("failed in an earlier run", result=ValueError("old"))
        assert TaskRunner(done_before).run(state=kept) is kept
        assert seen == []  # it did not fail now
        TaskRunner(done_before).run(state=Pending(), upstream_states={})
        assert seen == []  # and a success logs nothing
    finally:
        logger.removeHandler(handler)
