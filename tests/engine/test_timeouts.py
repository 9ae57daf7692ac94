"""Soft timeouts on the LocalExecutor: the call runs in a daemon thread and is abandoned.

A blocking task waits on a ``threading.Event`` that is never set during the test (it
is set at teardown, so the abandoned thread ends); the timeout itself is real (0.1 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Task, task
from lockgate.engine import signals
from lockgate.engine.executors import LocalExecutor
from lockgate.engine.state import (
    Failed,
    Mapped,
    Paused,
    Pending,
    Retrying,
    Skipped,
    Success,
    TimedOut,
    TriggerFailed,
)
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock
from lockgate.utilities import clock as clock_module

BLOCK_SECONDS = 30.0
T0 = datetime(2031, 3, 4, 5, 6, tzinfo=timezone.utc)


class Gate:
    """A never-set Event plus the threads that blocked on it (joined at teardown)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.threads: list[threading.Thread] = []

    def block(self) -> None:
        self.threads.append(threading.current_thread())
        self.event.wait(BLOCK_SECONDS)


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.event.set()
    for thread in g.threads:
        thread.join(5)


def test_blocking_task_times_out_and_the_flow_does_not_wait(gate: Gate) -> None:
    @task(timeout=0.1)
    def blocker(x: int) -> int:
        gate.block()
        return x

    with Flow("timeout") as flow:
        t = blocker(5)

    started = time.perf_counter()
    state = flow.run()
    elapsed = time.perf_counter() - started

    assert elapsed < BLOCK_SECONDS / 3  # returned long before the call would have
    final = state.result[t]
    assert type(final) is TimedOut
    assert isinstance(final, Failed)
    assert final.is_failed()
    assert final.cached_inputs == {"x": 5}
    assert isinstance(final.result, TimeoutError)
    assert final.message is not None
    assert "blocker" in final.message
    assert "0.1" in final.message
    assert isinstance(state, Failed)

    # The abandoned call is still blocked, in a daemon thread that is not ours.
    assert len(gate.threads) == 1
    abandoned = gate.threads[0]
    assert abandoned is not threading.current_thread()
    assert abandoned.daemon
    assert abandoned.is_alive()


def test_task_runner_times_out_with_an_explicit_local_executor(gate: Gate) -> None:
    @task(timeout=0.1)
    def blocker() -> None:
        gate.block()

    started = time.perf_counter()
    state = TaskRunner(blocker).run(executor=LocalExecutor())
    assert time.perf_counter() - started < BLOCK_SECONDS / 3
    assert type(state) is TimedOut
    assert state.cached_inputs == {}


def test_downstream_of_a_timed_out_task_trigger_fails(gate: Gate) -> None:
    @task(timeout=0.1)
    def blocker() -> int:
        gate.block()
        return 1

    @task
    def after(x: int) -> int:
        return x

    with Flow("timeout-downstream") as flow:
        a = after(blocker())

    state = flow.run()
    assert type(state.result[a]) is TriggerFailed


def test_fast_task_with_a_timeout_succeeds() -> None:
    threads: list[threading.Thread] = []

    @task(timeout=5)
    def quick(x: int) -> int:
        threads.append(threading.current_thread())
        return x * 2

    with Flow("fast") as flow:
        t = quick(21)

    state = flow.run()
    assert type(state.result[t]) is Success
    assert state.result[t].result == 42
    # The soft timeout runs the call in a separate thread.
    assert threads[0] is not threading.current_thread()


def test_task_without_timeout_runs_in_the_calling_thread() -> None:
    threads: list[threading.Thread] = []

    @task
    def inline() -> None:
        threads.append(threading.current_thread())

    TaskRunner(inline).run()
    assert threads == [threading.current_thread()]


def test_timed_out_task_with_retries_is_retried(gate: Gate) -> None:
    run_counts: list[int] = []

    @task(timeout=0.1, max_retries=2, retry_delay=timedelta(seconds=30))
    def slow_once() -> str:
        run_counts.append(lockgate.context.task_run_count)
        if len(run_counts) == 1:
            gate.block()
        return "ok"

    with Flow("timeout-retry") as flow:
        t = slow_once()

    with FakeClock() as fake:
        state = flow.run()

    assert state.result[t].result == "ok"
    assert run_counts == [1, 2]
    assert fake.sleeps == [30.0]


def test_timed_out_task_becomes_retrying_with_its_inputs(gate: Gate) -> None:
    @task(timeout=0.1, max_retries=1, retry_delay=timedelta(minutes=1))
    def blocker(x: int) -> None:
        gate.block()

    with FakeClock(start=T0):
        # Without upstream tasks the input comes from the state's cached_inputs.
        state = TaskRunner(blocker).run(state=Pending(cached_inputs={"x": 9}))

    assert isinstance(state, Retrying)
    assert state.run_count == 1
    assert state.start_time == T0 + timedelta(minutes=1)
    assert state.cached_inputs == {"x": 9}


def test_timed_out_task_that_exhausts_retries_ends_timed_out(gate: Gate) -> None:
    attempts: list[int] = []

    @task(timeout=0.1, max_retries=1, retry_delay=timedelta(seconds=1))
    def always_slow() -> None:
        attempts.append(1)
        gate.block()

    with Flow("timeout-exhausted") as flow:
        t = always_slow()

    with FakeClock():
        state = flow.run()
    assert type(state.result[t]) is TimedOut
    assert len(attempts) == 2


# -- signals and errors inside a timeout ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected_type", "message"),
    [
        (signals.SKIP("skip me"), Skipped, "skip me"),
        (signals.FAIL("fail me"), Failed, "fail me"),
        (signals.TRIGGERFAIL("refused"), TriggerFailed, "refused"),
        (signals.PAUSE("wait"), Paused, "wait"),
        (signals.RETRY("again"), Retrying, "again"),
    ],
)
def test_signals_raised_inside_a_timeout_still_set_their_state(
    raised: signals.PrefectStateSignal, expected_type: type, message: str
) -> None:
    @task(timeout=5)
    def signaller(x: int) -> None:
        raise raised

    with FakeClock():
        state = TaskRunner(signaller).run(state=Pending(cached_inputs={"x": 1}))
    assert type(state) is expected_type
    assert state.message == message
    if expected_type in (Paused, Retrying, Failed):
        assert state.cached_inputs == {"x": 1}


def test_skip_inside_a_timeout_in_a_flow() -> None:
    @task(timeout=5)
    def skipper() -> None:
        raise signals.SKIP("nothing to do")

    @task
    def after() -> str:
        return "ran"

    with Flow("skip-timeout") as flow:
        s = skipper()
        a = after(upstream_tasks=[s])

    state = flow.run()
    assert type(state.result[s]) is Skipped
    assert type(state.result[a]) is Skipped  # skip propagation still applies
    assert isinstance(state, Success)


def test_success_signal_with_result_inside_a_timeout() -> None:
    @task(timeout=5)
    def early() -> int:
        raise signals.SUCCESS("early exit", result=99)

    state = TaskRunner(early).run()
    assert type(state) is Success
    assert state.result == 99


def test_exception_inside_a_timeout_is_an_ordinary_failure() -> None:
    @task(timeout=5)
    def broken() -> None:
        raise KeyError("missing")

    state = TaskRunner(broken).run()
    assert type(state) is Failed
    assert state.message == "Unexpected error: KeyError('missing')"
    assert isinstance(state.result, KeyError)


@pytest.mark.parametrize("timeout", [None, 5])
def test_timeout_error_raised_by_task_code_is_not_the_task_timeout(timeout: Any) -> None:
    @task(timeout=timeout)
    def network() -> None:
        raise TimeoutError("socket timed out")

    state = TaskRunner(network).run()
    assert type(state) is Failed
    assert state.message == "Unexpected error: TimeoutError('socket timed out')"


# -- context inside the timeout thread ---------------------------------------------------------


def test_context_values_are_visible_inside_a_task_under_a_timeout() -> None:
    seen: dict[str, Any] = {}

    @task(timeout=5)
    def look(x: int) -> None:
        ctx = lockgate.context
        seen.update(
            flow_name=ctx.flow_name,
            task_name=ctx.task_name,
            task_full_name=ctx.task_full_name,
            task_slug=ctx.task_slug,
            task_run_count=ctx.task_run_count,
            parameters=ctx.parameters,
            custom=ctx.get("custom"),
            thread=threading.current_thread(),
        )

    with Flow("ctx-timeout") as flow:
        p = lockgate.Parameter("p")
        look(p)

    state = flow.run(parameters={"p": 1}, context={"custom": "value"})
    assert isinstance(state, Success)
    assert seen["thread"] is not threading.current_thread()
    assert seen["flow_name"] == "ctx-timeout"
    assert seen["task_name"] == "look"
    assert seen["task_full_name"] == "look"
    assert seen["task_slug"] == "look-1"
    assert seen["task_run_count"] == 1
    assert seen["parameters"] == {"p": 1}
    assert seen["custom"] == "value"


def test_mapped_children_under_a_timeout_see_their_map_index() -> None:
    @task(timeout=5)
    def where(x: int) -> tuple[Any, ...]:
        return x, lockgate.context.map_index, lockgate.context.task_full_name

    with Flow("mapped-timeout") as flow:
        m = where.map([10, 20])

    state = flow.run()
    assert isinstance(state.result[m], Mapped)
    assert state.result[m].result == [(10, 0, "where[0]"), (20, 1, "where[1]")]


def test_fake_clock_follows_the_task_into_the_timeout_thread() -> None:
    @task(timeout=5)
    def what_time() -> datetime:
        return clock_module.now()

    with FakeClock(start=T0):
        state = TaskRunner(what_time).run()
    assert state.result == T0


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, "1"])
def test_timeout_must_be_a_positive_number(bad: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        Task(timeout=bad)


def test_float_and_int_timeouts_are_accepted() -> None:
    assert Task(timeout=0.5).timeout == 0.5
    assert Task(timeout=2).timeout == 2
