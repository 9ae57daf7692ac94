"""Retries: max_retries / retry_delay, RETRY, TriggerFailed, TimedOut, backoff, mapped children.

Every retry wait goes through ``lockgate.utilities.clock``; the tests install a
``FakeClock`` so the waits are instant and ``clock.sleeps`` records them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Task, task, triggers
from lockgate.engine import signals
from lockgate.engine.retries import ExponentialBackoff, delay_for
from lockgate.engine.state import (
    Failed,
    Mapped,
    Retrying,
    State,
    Success,
    TimedOut,
    TriggerFailed,
)
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock, RecordingExecutor

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with FakeClock(start=T0) as fake:
        yield fake


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An Event a blocking task waits on; always set at teardown so no thread lingers."""
    event = threading.Event()
    yield event
    event.set()


def _recorder(seen: list[State]) -> Any:
    def handler(task: Task, old: State, new: State) -> None:
        seen.append(new)

    return handler


# -- max_retries / retry_delay --------------------------------------------------------------


def test_failing_twice_then_succeeding_ends_success_after_three_runs_in_one_flow_run(
    clock: FakeClock,
) -> None:
    run_counts: list[int] = []

    @task(max_retries=2, retry_delay=timedelta(seconds=10))
    def flaky() -> int:
        run_counts.append(lockgate.context.task_run_count)
        if len(run_counts) < 3:
            raise ValueError("not yet")
        return 42

    with Flow("retry") as flow:
        result = flaky()

    state = flow.run()

    assert isinstance(state, Success)
    assert state.message == "All reference tasks succeeded."
    final = state.result[result]
    assert type(final) is Success
    assert final.result == 42
    assert run_counts == [1, 2, 3]
    assert clock.sleeps == [10.0, 10.0]
    assert clock.now() == T0 + timedelta(seconds=20)


def test_retrying_states_carry_run_count_start_time_and_inputs(clock: FakeClock) -> None:
    seen: list[State] = []
    attempts: list[int] = []

    @task(max_retries=2, retry_delay=timedelta(minutes=1), state_handlers=[_recorder(seen)])
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ValueError("boom")
        return x

    with Flow("retry") as flow:
        flaky(7)

    flow.run()

    retrying = [s for s in seen if isinstance(s, Retrying)]
    assert [s.run_count for s in retrying] == [1, 2]
    assert [s.start_time for s in retrying] == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
    ]
    assert all(s.cached_inputs == {"x": 7} for s in retrying)
    assert all(s.message and "Retrying task" in s.message for s in retrying)
    assert [type(s).__name__ for s in seen] == [
        "Running",
        "Failed",
        "Retrying",
        "Running",
        "Failed",
        "Retrying",
        "Running",
        "Success",
    ]


def test_retries_exhausted_end_failed_keeping_message_and_result(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=2, retry_delay=timedelta(seconds=3))
    def always(x: int) -> None:
        attempts.append(lockgate.context.task_run_count)
        raise ValueError(f"nope {x}")

    with Flow("exhausted") as flow:
        t = always(7)

    state = flow.run()

    final = state.result[t]
    assert type(final) is Failed
    assert final.message == "Unexpected error: ValueError('nope 7')"
    assert isinstance(final.result, ValueError)
    assert final.result.args == ("nope 7",)
    assert final.cached_inputs == {"x": 7}
    assert attempts == [1, 2, 3]
    assert clock.sleeps == [3.0, 3.0]
    assert isinstance(state, Failed)


def test_fail_signal_is_retried_like_any_failure(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def fails_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise signals.FAIL("first try fails")
        return "ok"

    with Flow("fail") as flow:
        t = fails_once()

    assert flow.run().result[t].result == "ok"
    assert len(attempts) == 2


def test_no_retries_without_max_retries(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task
    def boom() -> None:
        attempts.append(1)
        raise ValueError("once")

    with Flow("once") as flow:
        t = boom()

    assert type(flow.run().result[t]) is Failed
    assert attempts == [1]
    assert clock.sleeps == []


def test_max_retries_needs_a_retry_delay() -> None:
    with pytest.raises(ValueError, match="retry_delay"):
        Task(max_retries=1)
    with pytest.raises(ValueError, match="max_retries"):
        Task(max_retries=-1)
    with pytest.raises(TypeError, match="retry_delay"):
        Task(max_retries=1, retry_delay=5)  # type: ignore[arg-type]


def test_retrying_state_sets_task_run_count(clock: FakeClock) -> None:
    seen: list[int] = []

    @task
    def report() -> int:
        seen.append(lockgate.context.task_run_count)
        return 1

    state = TaskRunner(report).run(state=Retrying(start_time=clock.now(), run_count=2))
    assert isinstance(state, Success)
    assert seen == [3]


def test_retrying_state_not_yet_due_is_returned_unchanged(clock: FakeClock) -> None:
    calls: list[int] = []

    @task
    def never() -> None:
        calls.append(1)

    waiting = Retrying(start_time=clock.now() + timedelta(hours=1), run_count=1)
    assert TaskRunner(never).run(state=waiting) is waiting
    assert calls == []


def test_downstream_of_a_retrying_task_waits_and_then_runs(clock: FakeClock) -> None:
    attempts: list[int] = []
    downstream_saw: list[int] = []

    @task(max_retries=2, retry_delay=timedelta(seconds=10))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")
        return 42

    @task
    def inc(x: int) -> int:
        downstream_saw.append(x)
        return x + 1

    @task
    def after() -> str:
        return "done"

    with Flow("downstream") as flow:
        a = flaky()
        b = inc(a)
        c = after(upstream_tasks=[a])

    executor = RecordingExecutor()
    state = flow.run(executor=executor)

    names = [name for name, _ in executor.submitted]
    assert names[:3] == ["flaky", "flaky", "flaky"]
    assert sorted(names[3:]) == ["after", "inc"]
    assert downstream_saw == [42]
    assert state.result[b].result == 43
    assert state.result[c].result == "done"
    assert isinstance(state, Success)


def test_task_waiting_for_retry_does_not_block_independent_tasks(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=timedelta(minutes=5))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first")
        return 1

    @task
    def other() -> int:
        return 2

    with Flow("independent") as flow:
        flaky()
        other()

    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert isinstance(state, Success)
    names = [name for name, _ in executor.submitted]
    # "other" does not wait five minutes behind the retry: it runs before the rerun.
    assert names.index("other") < len(names) - 1
    assert names[-1] == "flaky"
    assert clock.sleeps == [300.0]


# -- RETRY ------------------------------------------------------------------------------------


def test_retry_signal_retries_past_max_retries_zero(clock: FakeClock) -> None:
    run_counts: list[int] = []

    @task
    def retry_twice() -> str:
        run_counts.append(lockgate.context.task_run_count)
        if len(run_counts) < 3:
            raise signals.RETRY("again")
        return "done"

    assert retry_twice.max_retries == 0
    with Flow("retry-signal") as flow:
        t = retry_twice()

    state = flow.run()
    assert state.result[t].result == "done"
    assert run_counts == [1, 2, 3]
    assert clock.sleeps == [0.0, 0.0]  # no retry_delay: retry at once


def test_retry_signal_without_start_time_waits_the_retry_delay(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(retry_delay=timedelta(seconds=5))
    def retry_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise signals.RETRY("again")
        return "done"

    state = TaskRunner(retry_once).run()
    assert isinstance(state, Retrying)
    assert state.start_time == T0 + timedelta(seconds=5)
    assert state.run_count == 1
    assert state.message == "again"


def test_retry_signal_honours_start_time(clock: FakeClock) -> None:
    start = T0 + timedelta(minutes=7)
    attempts: list[int] = []

    @task
    def later() -> int:
        attempts.append(lockgate.context.task_run_count)
        if len(attempts) == 1:
            raise signals.RETRY("later", start_time=start)
        return lockgate.context.task_run_count

    state = TaskRunner(later).run()
    assert isinstance(state, Retrying)
    assert state.start_time == start
    assert state.run_count == 1

    attempts.clear()
    with Flow("start-time") as flow:
        t = later()
    flow_state = flow.run()
    assert flow_state.result[t].result == 2
    assert clock.sleeps == [420.0]
    assert clock.now() == start


def test_retry_signal_honours_run_count(clock: FakeClock) -> None:
    seen: list[int] = []

    @task
    def jump() -> int:
        seen.append(lockgate.context.task_run_count)
        if len(seen) == 1:
            raise signals.RETRY("jump", run_count=5)
        return lockgate.context.task_run_count

    first = TaskRunner(jump).run()
    assert isinstance(first, Retrying)
    assert first.run_count == 5
    second = TaskRunner(jump).run(state=first)
    assert isinstance(second, Success)
    assert second.result == 6
    assert seen == [1, 6]


def test_retry_signal_keeps_cached_inputs(clock: FakeClock) -> None:
    seen: list[State] = []
    received: list[int] = []

    @task(state_handlers=[_recorder(seen)])
    def needs_input(x: int) -> int:
        received.append(x)
        if len(received) == 1:
            raise signals.RETRY("again")
        return x

    with Flow("inputs") as flow:
        t = needs_input(3)

    state = flow.run()
    assert state.result[t].result == 3
    assert received == [3, 3]
    retrying = [s for s in seen if isinstance(s, Retrying)]
    assert len(retrying) == 1
    assert retrying[0].cached_inputs == {"x": 3}


# -- what is never / always retried ---------------------------------------------------------------


def test_trigger_failed_is_never_retried(clock: FakeClock) -> None:
    calls: list[int] = []

    @task
    def bad() -> int:
        raise ValueError("upstream broke")

    @task(max_retries=3, retry_delay=timedelta(seconds=1))
    def dependent(x: int) -> int:
        calls.append(1)
        return x

    with Flow("trigger-failed") as flow:
        d = dependent(bad())

    state = flow.run()
    assert type(state.result[d]) is TriggerFailed
    assert calls == []
    assert clock.sleeps == []


def test_triggerfail_signal_from_task_is_never_retried(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(max_retries=3, retry_delay=timedelta(seconds=1))
    def refuses() -> None:
        calls.append(1)
        raise signals.TRIGGERFAIL("no")

    state = TaskRunner(refuses).run()
    assert type(state) is TriggerFailed
    assert state.message == "no"
    assert calls == [1]


def test_falsy_trigger_is_never_retried(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(max_retries=2, retry_delay=timedelta(seconds=1), trigger=lambda upstream: False)
    def blocked() -> None:
        calls.append(1)

    state = TaskRunner(blocked).run()
    assert type(state) is TriggerFailed
    assert calls == []


def test_trigger_failed_task_downstream_of_a_retried_success_is_not_run(
    clock: FakeClock,
) -> None:
    """all_failed downstream of a task that succeeds after a retry: TriggerFailed, once."""
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first")
        return 1

    @task(trigger=triggers.all_failed, max_retries=2, retry_delay=timedelta(seconds=1))
    def cleanup() -> str:
        return "cleaned"

    with Flow("cleanup") as flow:
        f = flaky()
        c = cleanup(upstream_tasks=[f])

    state = flow.run()
    assert state.result[f].result == 1
    assert type(state.result[c]) is TriggerFailed
    assert clock.sleeps == [1.0]


def test_timed_out_task_is_retried(clock: FakeClock, gate: threading.Event) -> None:
    run_counts: list[int] = []

    @task(timeout=0.1, max_retries=1, retry_delay=timedelta(seconds=3))
    def slow_once() -> str:
        run_counts.append(lockgate.context.task_run_count)
        if len(run_counts) == 1:
            gate.wait(30)
        return "ok"

    seen: list[State] = []
    slow_once.state_handlers.append(_recorder(seen))
    with Flow("timeout-retry") as flow:
        t = slow_once()

    state = flow.run()
    assert state.result[t].result == "ok"
    assert run_counts == [1, 2]
    assert clock.sleeps == [3.0]
    assert any(type(s) is TimedOut for s in seen)


# -- ExponentialBackoff -------------------------------------------------------------------------


def test_backoff_delays_grow_geometrically() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=1))
    assert [backoff.delay_for(n) for n in range(1, 6)] == [
        timedelta(seconds=s) for s in (1, 2, 4, 8, 16)
    ]
    tripling = ExponentialBackoff(timedelta(milliseconds=500), factor=3)
    assert [tripling.delay_for(n).total_seconds() for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_backoff_factor_one_is_a_constant_delay() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=7), factor=1)
    assert {backoff.delay_for(n) for n in range(1, 10)} == {timedelta(seconds=7)}


def test_backoff_run_count_below_one_uses_the_base() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=2))
    assert backoff.delay_for(0) == timedelta(seconds=2)


def test_backoff_is_capped() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=1), factor=10, max_delay=timedelta(seconds=60))
    assert [backoff.delay_for(n).total_seconds() for n in (1, 2, 3, 4, 10)] == [
        1.0,
        10.0,
        60.0,
        60.0,
        60.0,
    ]


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=1), jitter=0.2, rng=random.Random(1234))
    for n in range(1, 12):
        nominal = 2.0 ** (n - 1)
        delay = backoff.delay_for(n).total_seconds()
        assert nominal * 0.8 <= delay <= nominal * 1.2


def test_backoff_jitter_is_applied_after_the_cap() -> None:
    backoff = ExponentialBackoff(
        timedelta(seconds=1),
        max_delay=timedelta(seconds=10),
        jitter=0.5,
        rng=random.Random(7),
    )
    delays = [backoff.delay_for(n).total_seconds() for n in range(5, 40)]
    assert all(5.0 <= d <= 15.0 for d in delays)
    assert len(set(delays)) > 1  # jitter really varies the capped delay


def test_backoff_with_seeded_rng_is_reproducible() -> None:
    def delays(seed: int) -> list[timedelta]:
        backoff = ExponentialBackoff(timedelta(seconds=1), jitter=0.3, rng=random.Random(seed))
        return [backoff.delay_for(n) for n in range(1, 8)]

    assert delays(42) == delays(42)
    assert delays(42) != delays(43)
    # The jitter factor is exactly rng.uniform(1 - jitter, 1 + jitter).
    rng = random.Random(42)
    expected = [timedelta(seconds=2.0 ** (n - 1) * rng.uniform(0.7, 1.3)) for n in range(1, 8)]
    assert delays(42) == expected


def test_backoff_without_jitter_does_not_draw_random_numbers() -> None:
    rng = random.Random(5)
    state_before = rng.getstate()
    ExponentialBackoff(timedelta(seconds=1), rng=rng).delay_for(3)
    assert rng.getstate() == state_before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base": timedelta(seconds=-1)}, "base cannot be negative"),
        ({"base": timedelta(seconds=1), "factor": 0.5}, "factor must be >= 1"),
        ({"base": timedelta(seconds=1), "jitter": -0.1}, r"jitter must be in \[0, 1\]"),
        ({"base": timedelta(seconds=1), "jitter": 1.5}, r"jitter must be in \[0, 1\]"),
    ],
)
def test_backoff_validation_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ExponentialBackoff(**kwargs)


def test_backoff_accepts_edge_values() -> None:
    ExponentialBackoff(timedelta(0))
    ExponentialBackoff(timedelta(seconds=1), factor=1, jitter=0)
    ExponentialBackoff(timedelta(seconds=1), jitter=1)


def test_backoff_repr_names_its_settings() -> None:
    text = repr(ExponentialBackoff(timedelta(seconds=1), factor=3, jitter=0.1))
    assert text.startswith("ExponentialBackoff(")
    assert "factor=3" in text
    assert "jitter=0.1" in text


def test_delay_for_helper() -> None:
    assert delay_for(None, 3) == timedelta(0)
    assert delay_for(timedelta(seconds=9), 3) == timedelta(seconds=9)
    assert delay_for(ExponentialBackoff(timedelta(seconds=1)), 3) == timedelta(seconds=4)

    class Linear:
        def delay_for(self, run_count: int) -> timedelta:
            return timedelta(seconds=10 * run_count)

    assert delay_for(Linear(), 3) == timedelta(seconds=30)


def test_backoff_drives_the_waits_of_a_flow_run(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=3, retry_delay=ExponentialBackoff(timedelta(seconds=1), factor=3))
    def always() -> None:
        attempts.append(1)
        raise ValueError("x")

    with Flow("backoff") as flow:
        t = always()

    state = flow.run()
    assert type(state.result[t]) is Failed
    assert len(attempts) == 4
    assert clock.sleeps == [1.0, 3.0, 9.0]


def test_custom_retry_delay_object_is_used(clock: FakeClock) -> None:
    class Linear:
        def delay_for(self, run_count: int) -> timedelta:
            return timedelta(seconds=10 * run_count)

    attempts: list[int] = []

    @task(max_retries=2, retry_delay=Linear())
    def always() -> None:
        attempts.append(1)
        raise ValueError("x")

    with Flow("linear") as flow:
        always()

    flow.run()
    assert clock.sleeps == [10.0, 20.0]


# -- mapped children ------------------------------------------------------------------------------


def test_mapped_children_are_retried_one_by_one(clock: FakeClock) -> None:
    tries: dict[int, int] = {}

    @task(max_retries=2, retry_delay=timedelta(seconds=5))
    def flaky(x: int) -> tuple[int, int]:
        tries[x] = tries.get(x, 0) + 1
        if x == 2 and tries[x] < 3:
            raise ValueError("flaky child")
        return x, lockgate.context.task_run_count

    with Flow("mapped-retries") as flow:
        m = flaky.map([1, 2, 3])

    executor = RecordingExecutor()
    state = flow.run(executor=executor)

    parent = state.result[m]
    assert isinstance(parent, Mapped)
    assert parent.result == [(1, 1), (2, 3), (3, 1)]
    assert all(type(s) is Success for s in parent.map_states)
    assert tries == {1: 1, 2: 3, 3: 1}
    assert clock.sleeps == [5.0, 5.0]
    children = [
        entry for entry in executor.submitted if entry[0] == "flaky" and entry[1] is not None
    ]
    assert children == [("flaky", 0), ("flaky", 1), ("flaky", 2), ("flaky", 1), ("flaky", 1)]
    assert isinstance(state, Success)


def test_mapped_child_that_exhausts_retries_fails_alone(clock: FakeClock) -> None:
    tries: dict[int, int] = {}

    @task(max_retries=1, retry_delay=timedelta(seconds=2))
    def child(x: int) -> int:
        tries[x] = tries.get(x, 0) + 1
        if x == 0:
            raise ValueError("always")
        return x

    with Flow("mapped-exhausted") as flow:
        m = child.map([0, 1])

    state = flow.run()
    parent = state.result[m]
    assert isinstance(parent, Mapped)
    assert [type(s) for s in parent.map_states] == [Failed, Success]
    assert tries == {0: 2, 1: 1}
    assert clock.sleeps == [2.0]
    assert isinstance(state, Failed)


def test_mapped_children_with_retry_signal_each_keep_their_own_run_count(
    clock: FakeClock,
) -> None:
    seen: list[tuple[int, int]] = []

    @task
    def child(x: int) -> int:
        count = lockgate.context.task_run_count
        seen.append((lockgate.context.map_index, count))
        if count <= x:
            raise signals.RETRY("again")
        return count

    with Flow("mapped-retry-signal") as flow:
        m = child.map([0, 1, 2])

    state = flow.run()
    assert state.result[m].result == [1, 2, 3]
    assert sorted(seen) == [(0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3)]
