"""The engine's behaviour on every executor: the same flow gives the same states.

Each scenario runs once per executor (the ``any_executor`` fixture: local, threads,
processes, a real Dask ``LocalCluster``) through :func:`same_states`, which runs the
flow on the LocalExecutor and on the executor under test from the same starting point
(cache, fake clock) and asserts that every task ends with the same type, message,
result and cached inputs, mapped children included. The scenario then asserts the
states it expects.

Task code may run in another process: tasks are defined at module level, and nothing
in task code counts calls through globals or closures. What a task saw comes back in
its result. State handlers, triggers, hooks and the clock live in the coordinator, so
they may use closures and lists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Parameter, Task, task, triggers, unmapped
from lockgate.engine import signals, task_runner
from lockgate.engine.cache_validators import all_inputs, all_parameters, partial_inputs_only
from lockgate.engine.executors.base import Executor
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.hooks import RunHooks
from lockgate.engine.retries import ExponentialBackoff
from lockgate.engine.state import (
    Cached,
    Failed,
    Mapped,
    Paused,
    Pending,
    Resume,
    Running,
    Skipped,
    State,
    Success,
    TriggerFailed,
)
from lockgate.testing import FakeClock
from lockgate.utilities.clock import current_clock
from lockgate.utilities.tasks import pause_task

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock() -> Iterator[FakeClock]:
    """Every scenario runs on a fake clock: retries are instant, dates are fixed."""
    with FakeClock(start=T0) as fake:
        yield fake


# =============================================================================================
# Comparing runs
# =============================================================================================
def norm(value: Any) -> Any:
    """A value in a form that compares equal across processes (exceptions by type and text)."""
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value))
    if isinstance(value, (list, tuple)):
        return type(value)(norm(v) for v in value)
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    return value


def summary(state: State | None) -> Any:
    """What must be identical between executors: type, message, result, inputs, children."""
    if state is None:
        return None
    out: dict[str, Any] = {
        "type": type(state).__name__,
        "message": state.message,
        "result": norm(state.result),
        "cached_inputs": norm(state.cached_inputs),
    }
    if isinstance(state, Mapped):
        out["children"] = [summary(child) for child in state.map_states]
    return out


def by_slug(flow: Flow, state: State) -> dict[str, Any]:
    slugs = flow.slugs()
    return {slugs[t]: summary(s) for t, s in state.result.items()}


def same_states(flow: Flow, executor: Executor, **run_kwargs: Any) -> State:
    """Run ``flow`` on the LocalExecutor, then on ``executor``, from the same start.

    Both runs see the same in-process cache (``cache_for``) and the same fake time.
    Asserts that the flow states, every task's state and the waits asked of the fake
    clock are identical, and returns the state of the run on ``executor`` (its cache
    and clock are what remain).
    """
    tasks = flow.tasks
    caches = task_runner._CACHES
    saved = {t: dict(caches[t]) for t in tasks if t in caches}
    fake = current_clock()
    assert isinstance(fake, FakeClock)
    start, first_sleep = fake.now(), len(fake.sleeps)

    expected = flow.run(executor=LocalExecutor(), **run_kwargs)

    for t in tasks:
        caches.pop(t, None)
    for t, entries in saved.items():
        caches[t] = dict(entries)
    fake.advance(start - fake.now())
    middle = len(fake.sleeps)

    state = flow.run(executor=executor, **run_kwargs)

    got = {
        "(the flow)": (type(state).__name__, state.message),
        "(clock sleeps)": fake.sleeps[middle:],
        **by_slug(flow, state),
    }
    want = {
        "(the flow)": (type(expected).__name__, expected.message),
        "(clock sleeps)": fake.sleeps[first_sleep:middle],
        **by_slug(flow, expected),
    }
    assert got == want, f"states on {executor!r} differ from those on LocalExecutor()"
    return state


def types(state: State) -> list[str]:
    assert isinstance(state, Mapped), state
    return [type(s).__name__ for s in state.map_states]


# =============================================================================================
# Tasks (module level: they must travel to worker processes)
# =============================================================================================
@task
def ok() -> int:
    return 1


@task
def boom() -> int:
    raise ValueError("boom")


@task
def skip_me() -> int:
    raise signals.SKIP("nothing to do")


@task
def refuse() -> int:
    raise signals.TRIGGERFAIL("refused")


@task
def seen(a: Any = None, b: Any = None) -> list[str]:
    """What arrived as inputs, by type (exceptions and signals arrive as values)."""
    return [type(a).__name__, type(b).__name__]


@task
def plus_one(x: int) -> int:
    return x + 1


@task
def value_type(x: Any) -> str:
    return type(x).__name__


@task
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def collect(xs: list[Any]) -> list[Any]:
    return list(xs)


@task
def picky(x: int) -> int:
    if x == 2:
        raise signals.SKIP("skip two")
    if x == 3:
        raise signals.FAIL("three is bad")
    return x * 10


@task
def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


@task
def where(x: Any) -> tuple[Any, ...]:
    ctx = lockgate.context
    return x, ctx.get("map_index"), ctx.task_full_name, ctx.task_name


# =============================================================================================
# Triggers: the truth table, over real upstream outcomes
# =============================================================================================
UPSTREAMS: dict[str, Task] = {"ok": ok, "fail": boom, "skip": skip_me, "tfail": refuse}

TRIGGER_ROWS: dict[str, Callable[[Any], bool]] = {
    "all_finished": triggers.all_finished,
    "always_run": triggers.always_run,
    "manual_only": triggers.manual_only,
    "all_successful": triggers.all_successful,
    "all_failed": triggers.all_failed,
    "any_successful": triggers.any_successful,
    "any_failed": triggers.any_failed,
    "not_all_skipped": triggers.not_all_skipped,
    "some_successful_1": triggers.some_successful(at_least=1),
    "some_failed_1_1": triggers.some_failed(at_least=1, at_most=1),
}
# The last row: the default trigger (all_successful) with skip propagation on.
DEFAULT_ROW = "default"

OK, TF, P, S = "Success", "TriggerFailed", "Paused", "Skipped"
# fmt: off
TRIGGER_COLUMNS = ["none", "ok+ok", "fail+fail", "ok+fail", "ok+skip", "fail+skip", "skip+skip", "ok+tfail"]
TRIGGER_TABLE = {
    #                     none ok+ok fl+fl ok+fl ok+sk fl+sk sk+sk ok+tf
    "all_finished":      (OK,  OK,   OK,   OK,   OK,   OK,   OK,   OK),
    "always_run":        (OK,  OK,   OK,   OK,   OK,   OK,   OK,   OK),
    "manual_only":       (P,   P,    P,    P,    P,    P,    P,    P),
    "all_successful":    (OK,  OK,   TF,   TF,   OK,   TF,   OK,   TF),
    "all_failed":        (OK,  TF,   OK,   TF,   TF,   TF,   TF,   TF),
    "any_successful":    (OK,  OK,   TF,   OK,   OK,   OK,   OK,   OK),
    "any_failed":        (OK,  TF,   OK,   OK,   TF,   OK,   TF,   OK),
    "not_all_skipped":   (OK,  OK,   OK,   OK,   OK,   OK,   S,    OK),
    "some_successful_1": (TF,  OK,   TF,   OK,   OK,   OK,   OK,   OK),
    "some_failed_1_1":   (TF,  TF,   TF,   OK,   TF,   OK,   TF,   OK),
    DEFAULT_ROW:         (OK,  OK,   TF,   TF,   S,    S,    S,    TF),
}
# fmt: on
# What `seen` receives from each kind of upstream: its result (the signal, the error).
INPUT_TYPES = {"ok": "int", "fail": "ValueError", "skip": "SKIP", "tfail": "TRIGGERFAIL"}


@pytest.mark.parametrize("column", TRIGGER_COLUMNS)
def test_trigger_truth_table(any_executor: Executor, column: str) -> None:
    with Flow(f"triggers-{column}") as flow:
        kinds = [] if column == "none" else column.split("+")
        ups = [UPSTREAMS[k](task_args={"name": f"up{i}"}) for i, k in enumerate(kinds)]
        rows: dict[str, Task] = {}
        for name, trigger in TRIGGER_ROWS.items():
            rows[name] = seen(
                *ups,
                task_args={"name": name, "trigger": trigger, "skip_on_upstream_skip": False},
            )
        rows[DEFAULT_ROW] = seen(*ups, task_args={"name": DEFAULT_ROW})

    state = same_states(flow, any_executor)

    col = TRIGGER_COLUMNS.index(column)
    got = {name: type(state.result[t]).__name__ for name, t in rows.items()}
    assert got == {name: outcomes[col] for name, outcomes in TRIGGER_TABLE.items()}
    ran = [t for t in rows.values() if type(state.result[t]) is Success]
    expected_inputs = [INPUT_TYPES[k] for k in kinds] + ["NoneType"] * (2 - len(kinds))
    for t in ran:
        assert state.result[t].result == expected_inputs
    assert type(state) is Running  # the manual_only row waits for approval


def exploding_trigger(upstream_states: Any) -> bool:
    raise ZeroDivisionError("bad trigger")


def skipping_trigger(upstream_states: Any) -> bool:
    raise signals.SKIP("the trigger said skip")


def test_custom_triggers_that_raise(any_executor: Executor) -> None:
    with Flow("custom-triggers") as flow:
        up = ok()
        broken = plus_one(up, task_args={"name": "broken", "trigger": exploding_trigger})
        skipping = plus_one(up, task_args={"name": "skipping", "trigger": skipping_trigger})
        after = plus_one(skipping, task_args={"name": "after"})

    state = same_states(flow, any_executor)

    assert type(state.result[broken]) is TriggerFailed
    assert "Unexpected error while checking task trigger" in str(state.result[broken].message)
    assert type(state.result[skipping]) is Skipped
    assert state.result[skipping].message == "the trigger said skip"
    assert type(state.result[after]) is Skipped


# =============================================================================================
# Signals raised in task code
# =============================================================================================
@task
def raise_fail() -> int:
    raise signals.FAIL("no good", result={"why": "bad"})


@task
def raise_skip() -> int:
    raise signals.SKIP("not today")


@task
def raise_success() -> int:
    raise signals.SUCCESS("done early", result=41)


@task
def raise_retry() -> int:
    count: int = lockgate.context.task_run_count
    if count < 3:
        raise signals.RETRY(f"attempt {count}")
    return count


@task
def raise_pause() -> int:
    raise signals.PAUSE("wait for a human")


@task(max_retries=2, retry_delay=timedelta(seconds=5))
def raise_triggerfail() -> int:
    raise signals.TRIGGERFAIL("refused in run")


@task
def raise_error() -> int:
    raise ValueError("boom")


# (task, its state type, message, normalised result, downstream type, downstream result)
SIGNAL_CASES: dict[str, tuple[Task, type, str, Any, type, Any]] = {
    "FAIL": (raise_fail, Failed, "no good", {"why": "bad"}, TriggerFailed, None),
    "SKIP": (raise_skip, Skipped, "not today", ("SKIP", "not today"), Skipped, None),
    "SUCCESS": (raise_success, Success, "done early", 41, Success, 42),
    "RETRY": (raise_retry, Success, "Task run succeeded.", 3, Success, 4),
    "PAUSE": (
        raise_pause,
        Paused,
        "wait for a human",
        ("PAUSE", "wait for a human"),
        Pending,
        None,
    ),
    "TRIGGERFAIL": (
        raise_triggerfail,
        TriggerFailed,
        "refused in run",
        ("TRIGGERFAIL", "refused in run"),
        TriggerFailed,
        None,
    ),
    "error": (
        raise_error,
        Failed,
        "Unexpected error: ValueError('boom')",
        ("ValueError", "boom"),
        TriggerFailed,
        None,
    ),
}


@pytest.mark.parametrize("case", list(SIGNAL_CASES))
def test_signal_raised_in_task_code(any_executor: Executor, clock: FakeClock, case: str) -> None:
    signal_task, state_type, message, result, down_type, down_result = SIGNAL_CASES[case]
    with Flow(f"signal-{case}") as flow:
        t = signal_task()
        after = plus_one(t)

    state = same_states(flow, any_executor)

    assert type(state.result[t]) is state_type
    assert state.result[t].message == message
    assert norm(state.result[t].result) == result
    assert type(state.result[after]) is down_type
    if down_result is not None:
        assert state.result[after].result == down_result
    if case == "PAUSE":
        assert type(state) is Running
    if case == "TRIGGERFAIL":
        assert clock.sleeps == []  # never retried, despite max_retries


# =============================================================================================
# Skip propagation
# =============================================================================================
def test_skip_propagates_down_a_chain_unless_a_task_opts_out(any_executor: Executor) -> None:
    with Flow("skip-chain") as flow:
        s = skip_me()
        a = plus_one(s, task_args={"name": "a"})
        b = plus_one(a, task_args={"name": "b"})
        stubborn = value_type(
            b,
            task_args={
                "name": "stubborn",
                "skip_on_upstream_skip": False,
                "trigger": triggers.all_finished,
            },
        )
        after_stubborn = plus_one(stubborn, task_args={"name": "after_stubborn"})

    state = same_states(flow, any_executor)

    assert type(state.result[a]) is Skipped
    assert state.result[a].message.startswith("Upstream task was skipped; skipping this task too")
    assert "skip_on_upstream_skip=False" in state.result[a].message
    assert type(state.result[b]) is Skipped
    assert state.result[stubborn].result == "NoResultType"  # b was skipped without a result
    assert type(state.result[after_stubborn]) is Failed  # "SKIP" + 1: a TypeError
    assert "TypeError" in str(state.result[after_stubborn].message)


def test_skip_next_to_independent_work(any_executor: Executor) -> None:
    with Flow("skip-branches") as flow:
        s = skip_me()
        skipped_child = plus_one(s, task_args={"name": "skipped_child"})
        o = ok()
        fine = plus_one(o, task_args={"name": "fine"})
        both = seen(skipped_child, fine, task_args={"name": "both"})
        either = seen(
            skipped_child,
            fine,
            task_args={
                "name": "either",
                "skip_on_upstream_skip": False,
                "trigger": triggers.not_all_skipped,
            },
        )

    state = same_states(flow, any_executor)

    assert type(state.result[skipped_child]) is Skipped
    assert state.result[fine].result == 2
    assert type(state.result[both]) is Skipped
    assert state.result[either].result == ["NoResultType", "int"]
    assert type(state) is Success


# =============================================================================================
# Retries, on the fake clock (it lives in the coordinator: the same on every executor)
# =============================================================================================
@task(max_retries=2, retry_delay=timedelta(seconds=10))
def flaky() -> int:
    count: int = lockgate.context.task_run_count
    if count < 3:
        raise ValueError(f"attempt {count}")
    return count


@task(max_retries=1, retry_delay=timedelta(seconds=10))
def hopeless() -> int:
    raise ValueError(f"attempt {lockgate.context.task_run_count}")


@task(max_retries=3, retry_delay=ExponentialBackoff(base=timedelta(seconds=1), factor=2.0))
def backing_off() -> int:
    count: int = lockgate.context.task_run_count
    if count < 4:
        raise signals.FAIL(f"attempt {count}")
    return count


@task(max_retries=1, retry_delay=timedelta(seconds=30))
def flaky_with_input(x: int) -> tuple[int, int]:
    count: int = lockgate.context.task_run_count
    if count == 1:
        raise ValueError("first attempt fails")
    return x, count


@task(max_retries=1, retry_delay=timedelta(seconds=10))
def flaky_odd_child(x: int) -> tuple[int, int]:
    count: int = lockgate.context.task_run_count
    if x % 2 and count == 1:
        raise ValueError(f"odd {x} fails once")
    return x, count


def test_retry_until_success_then_downstream_runs(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry") as flow:
        f = flaky()
        after = plus_one(f)

    state = same_states(flow, any_executor)

    assert type(state.result[f]) is Success
    assert state.result[f].result == 3
    assert state.result[after].result == 4
    assert clock.sleeps == [10.0, 10.0] * 2  # each run (local, then this executor) waited twice


def test_retries_exhausted(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry-exhausted") as flow:
        h = hopeless()
        after = plus_one(h)

    state = same_states(flow, any_executor)

    assert type(state.result[h]) is Failed
    assert state.result[h].message == "Unexpected error: ValueError('attempt 2')"
    assert type(state.result[after]) is TriggerFailed
    assert type(state) is Failed
    assert clock.sleeps == [10.0] * 2


def test_retries_with_exponential_backoff(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("backoff") as flow:
        b = backing_off()

    state = same_states(flow, any_executor)

    assert state.result[b].result == 4
    assert clock.sleeps == [1.0, 2.0, 4.0] * 2


def test_retry_keeps_its_inputs(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry-inputs") as flow:
        f = flaky_with_input(plus_one(41))

    state = same_states(flow, any_executor)

    assert state.result[f].result == (42, 2)
    assert clock.now() == T0 + timedelta(seconds=30)


def test_each_mapped_child_retries_on_its_own(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry-children") as flow:
        m = flaky_odd_child.map(numbers(4))
        t = collect(m)

    state = same_states(flow, any_executor)

    assert state.result[m].result == [(1, 2), (2, 1), (3, 2), (4, 1)]
    assert types(state.result[m]) == ["Success"] * 4
    assert state.result[t].result == [(1, 2), (2, 1), (3, 2), (4, 1)]
    assert clock.now() == T0 + timedelta(seconds=10)


def test_parallel_branches_retry_at_their_own_times(
    any_executor: Executor, clock: FakeClock
) -> None:
    with Flow("retry-branches") as flow:
        a = flaky(task_args={"name": "a"})
        b = flaky_with_input(5, task_args={"name": "b"})
        c = seen(a, b, task_args={"name": "c"})

    state = same_states(flow, any_executor)

    assert state.result[a].result == 3
    assert state.result[b].result == (5, 2)
    assert state.result[c].result == ["int", "tuple"]
    assert clock.now() == T0 + timedelta(seconds=30)


@task
def retry_in_a_minute() -> int:
    count: int = lockgate.context.task_run_count
    if count == 1:
        raise signals.RETRY("later", start_time=lockgate.context.date + timedelta(minutes=1))
    return count


def test_retry_signal_with_a_start_time(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry-start-time") as flow:
        r = retry_in_a_minute()

    state = same_states(flow, any_executor)

    assert state.result[r].result == 2
    assert clock.sleeps == [60.0] * 2


@task(max_retries=1, retry_delay=timedelta(seconds=10))
def mixed_child(x: int) -> int:
    if x == 1 and lockgate.context.task_run_count == 1:
        raise ValueError("retry me")
    if x == 2:
        pause_task("approve 2")
    if x == 3:
        raise signals.SKIP("skip 3")
    return x


def test_children_retrying_pausing_and_skipping_together(
    any_executor: Executor, clock: FakeClock
) -> None:
    with Flow("mixed-children") as flow:
        m = mixed_child.map([0, 1, 2, 3, 4])
        after = inc.map(m)
        t = total(after)

    first = same_states(flow, any_executor)
    assert types(first.result[m]) == ["Success", "Success", "Paused", "Skipped", "Success"]
    assert types(first.result[after]) == ["Success", "Success", "Pending", "Skipped", "Success"]
    assert type(first.result[t]) is Pending
    assert type(first) is Running

    second = same_states(flow, any_executor, task_states=first.result, start_tasks=[m])
    assert types(second.result[m]) == ["Success", "Success", "Success", "Skipped", "Success"]
    assert type(second.result[t]) is Skipped  # a skipped child skips the reduce


@task(max_retries=1, retry_delay=timedelta(seconds=10))
def fail_signal_once() -> str:
    if lockgate.context.task_run_count == 1:
        raise signals.FAIL("first run")
    return "second run"


def test_fail_signal_is_retried(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("retry-fail-signal") as flow:
        f = fail_signal_once()

    state = same_states(flow, any_executor)

    assert state.result[f].result == "second run"
    assert clock.sleeps == [10.0] * 2


# =============================================================================================
# Mapping
# =============================================================================================
def test_map_over_an_upstream_list_a_mapped_task_and_reduce(any_executor: Executor) -> None:
    with Flow("map") as flow:
        n = numbers()
        first = inc.map(n)
        second = inc.map(first)
        t = total(second)

    state = same_states(flow, any_executor)

    assert state.result[first].result == [2, 3, 4]
    assert state.result[second].result == [3, 4, 5]
    assert types(state.result[second]) == ["Success"] * 3
    assert state.result[second].message == "Mapped 3 child run(s)."
    assert state.result[t].result == 12


def test_map_of_a_map_of_a_map_keeps_item_order(any_executor: Executor) -> None:
    with Flow("map-3") as flow:
        n = numbers(25)
        one = inc.map(n)
        two = add.map(one, n)
        three = where.map(two)
        c = collect(three)

    state = same_states(flow, any_executor)

    expected = [(2 * i + 1, i - 1, f"where[{i - 1}]", "where") for i in range(1, 26)]
    assert state.result[three].result == expected
    assert state.result[c].result == expected


def test_map_with_unmapped_inputs_constants_and_zip(any_executor: Executor) -> None:
    with Flow("map-unmapped") as flow:
        n = numbers()
        scale = plus_one(99, task_args={"name": "scale"})
        a = add.map(n, unmapped(scale), task_args={"name": "with_task"})
        c = add.map(n, unmapped(5), task_args={"name": "with_constant"})
        z = add.map([1, 2, 3], (10, 20), task_args={"name": "zipped"})
        k = add.map(x=n, y=[100, 200, 300, 400], task_args={"name": "keywords"})

    state = same_states(flow, any_executor)

    assert state.result[a].result == [101, 102, 103]
    assert state.result[c].result == [6, 7, 8]
    assert state.result[z].result == [11, 22]
    assert state.result[k].result == [101, 202, 303]


def test_map_over_an_empty_list(any_executor: Executor) -> None:
    with Flow("map-empty") as flow:
        m = inc.map(numbers(0))
        again = inc.map(m, task_args={"name": "again"})
        c = collect(m)

    state = same_states(flow, any_executor)

    assert type(state.result[m]) is Mapped
    assert state.result[m].map_states == []
    assert state.result[again].result == []
    assert state.result[c].result == []
    assert type(state) is Success


def test_a_failing_child(any_executor: Executor) -> None:
    with Flow("map-failing-child") as flow:
        m = fail_on_two.map(numbers())
        downstream = inc.map(m)
        reduced = total(m)
        tolerant = collect(m, task_args={"name": "tolerant", "trigger": triggers.all_finished})

    state = same_states(flow, any_executor)

    assert types(state.result[m]) == ["Success", "Failed", "Success"]
    assert state.result[m].map_states[1].message == "Unexpected error: ValueError('two')"
    assert types(state.result[downstream]) == ["Success", "TriggerFailed", "Success"]
    assert state.result[downstream].result[::2] == [2, 4]
    assert type(state.result[reduced]) is TriggerFailed
    assert norm(state.result[tolerant].result) == [1, ("ValueError", "two"), 3]
    assert type(state) is Failed


def test_a_skipped_child(any_executor: Executor) -> None:
    with Flow("map-skipped-child") as flow:
        p = picky.map([1, 2, 4])
        downstream = inc.map(p)
        reduced = total(p)
        keep_all = collect(
            p,
            task_args={
                "name": "keep_all",
                "trigger": triggers.all_finished,
                "skip_on_upstream_skip": False,
            },
        )

    state = same_states(flow, any_executor)

    assert types(state.result[p]) == ["Success", "Skipped", "Success"]
    assert types(state.result[downstream]) == ["Success", "Skipped", "Success"]
    assert type(state.result[reduced]) is Skipped
    assert norm(state.result[keep_all].result) == [10, ("SKIP", "skip two"), 40]
    assert type(state) is Success


def test_children_with_every_signal(any_executor: Executor) -> None:
    with Flow("map-signals") as flow:
        p = picky.map([1, 2, 3, 4])
        q = inc.map(p)

    state = same_states(flow, any_executor)

    assert types(state.result[p]) == ["Success", "Skipped", "Failed", "Success"]
    assert types(state.result[q]) == ["Success", "Skipped", "TriggerFailed", "Success"]
    assert state.result[q].result[3] == 41


@task
def not_a_list() -> int:
    return 5


def test_mapping_over_bad_upstreams(any_executor: Executor) -> None:
    with Flow("map-bad-upstreams") as flow:
        over_failed = inc.map(boom(), task_args={"name": "over_failed"})
        over_int = inc.map(not_a_list(), task_args={"name": "over_int"})
        over_skipped = inc.map(skip_me(), task_args={"name": "over_skipped"})
        unmapped_failed = add.map([1, 2], unmapped(boom()), task_args={"name": "unmapped_failed"})

    state = same_states(flow, any_executor)

    assert type(state.result[over_failed]) is TriggerFailed
    assert type(state.result[over_int]) is Failed
    assert "Cannot map over input 'x'" in str(state.result[over_int].message)
    assert "int" in str(state.result[over_int].message)
    assert type(state.result[over_skipped]) is Skipped
    assert types(state.result[unmapped_failed]) == ["TriggerFailed", "TriggerFailed"]


def test_mapped_reference_task_fails_the_flow_when_a_child_failed(any_executor: Executor) -> None:
    with Flow("map-reference") as flow:
        m = fail_on_two.map([1, 2, 3])
        fine = inc(1)
    flow.set_reference_tasks([m, fine])

    state = same_states(flow, any_executor)

    assert type(state.result[m]) is Mapped
    assert type(state) is Failed
    assert state.message == "Some reference tasks failed."


def only_even_children(upstream_states: Any) -> bool:
    if lockgate.context.map_index % 2:
        raise signals.SKIP("odd child")
    return True


def test_each_child_checks_its_own_trigger(any_executor: Executor) -> None:
    with Flow("map-child-trigger") as flow:
        w = where.map([5, 6, 7], task_args={"trigger": only_even_children})

    state = same_states(flow, any_executor)

    assert types(state.result[w]) == ["Success", "Skipped", "Success"]
    assert state.result[w].result[2] == (7, 2, "where[2]", "where")


# =============================================================================================
# Pause and resume
# =============================================================================================
@task(trigger=triggers.manual_only)
def approve() -> int:
    return 10


@task(trigger=triggers.manual_only)
def publish(x: int, y: int) -> int:
    return x * y


@task
def risky(x: int, y: int) -> tuple[int, Any]:
    pause_task("needs a human")
    return x + y, lockgate.context.get("resume")


@task(trigger=triggers.manual_only)
def approve_each(x: int, scale: int) -> int:
    return x * scale


@task
def approve_two(x: int) -> int:
    if x == 2:
        pause_task("approve 2")
    return x


def test_manual_only_root_pauses_then_resumes_with_start_tasks(any_executor: Executor) -> None:
    with Flow("manual-root") as flow:
        p = approve()
        a = plus_one(p)

    first = same_states(flow, any_executor)
    assert type(first) is Running
    assert type(first.result[p]) is Paused
    assert type(first.result[a]) is Pending

    second = same_states(flow, any_executor, task_states=first.result, start_tasks=[p])
    assert type(second) is Success
    assert second.result[p].result == 10
    assert second.result[a].result == 11


def test_manual_only_with_upstreams_resumes_with_a_resume_state(any_executor: Executor) -> None:
    with Flow("manual-upstreams") as flow:
        up = numbers.copy(name="two")(1)
        p = publish(total(up), y=21)
        r = plus_one(p)

    first = same_states(flow, any_executor)
    assert type(first.result[p]) is Paused
    assert first.result[p].cached_inputs == {"x": 1, "y": 21}

    states = dict(first.result)
    states[p] = Resume(cached_inputs=first.result[p].cached_inputs)
    second = same_states(flow, any_executor, task_states=states)
    assert second.result[p].result == 21
    assert second.result[r].result == 22
    assert type(second) is Success


def test_pause_task_in_run_then_resume(any_executor: Executor) -> None:
    with Flow("pause-in-run") as flow:
        up = plus_one(2)
        p = risky(up, y=4)
        after = value_type(p)

    first = same_states(flow, any_executor)
    assert type(first.result[p]) is Paused
    assert first.result[p].message == "needs a human"
    assert first.result[p].cached_inputs == {"x": 3, "y": 4}
    assert type(first.result[after]) is Pending

    second = same_states(flow, any_executor, task_states=first.result, start_tasks=[p])
    assert second.result[p].result == (7, True)
    assert second.result[after].result == "tuple"


def test_resume_with_only_the_paused_state(any_executor: Executor) -> None:
    with Flow("pause-only-state") as flow:
        up = plus_one(2)
        p = risky(up, y=4)

    first = same_states(flow, any_executor)
    second = same_states(flow, any_executor, task_states={p: first.result[p]}, start_tasks=[p])
    assert type(second.result[up]) is Pending  # never computed: the inputs were kept
    assert second.result[p].result == (7, True)


def test_mapped_manual_only_pauses_every_child_then_resumes(any_executor: Executor) -> None:
    with Flow("mapped-manual") as flow:
        m = approve_each.map(numbers(), scale=unmapped(10))
        t = total(m)

    first = same_states(flow, any_executor)
    assert types(first.result[m]) == ["Paused"] * 3
    assert [s.cached_inputs for s in first.result[m].map_states] == [
        {"x": 1, "scale": 10},
        {"x": 2, "scale": 10},
        {"x": 3, "scale": 10},
    ]
    assert type(first.result[t]) is Pending

    second = same_states(flow, any_executor, task_states=first.result, start_tasks=[m])
    assert second.result[m].result == [10, 20, 30]
    assert second.result[t].result == 60
    assert type(second) is Success


def test_a_paused_child_holds_back_the_reduce(any_executor: Executor) -> None:
    with Flow("paused-child") as flow:
        a = approve_two.map([1, 2, 3])
        t = total(a)

    first = same_states(flow, any_executor)
    assert types(first.result[a]) == ["Success", "Paused", "Success"]
    assert type(first.result[t]) is Pending
    assert type(first) is Running

    second = same_states(flow, any_executor, task_states=first.result, start_tasks=[a])
    assert types(second.result[a]) == ["Success"] * 3
    assert second.result[t].result == 6


# =============================================================================================
# Caching: cache_for and validators, across runs in this process
# =============================================================================================
@task(cache_for=timedelta(hours=1))
def remember(x: int) -> tuple[int, str]:
    """Returns the run's ``attempt`` context value: a cached result shows an earlier one."""
    return x, lockgate.context.attempt


@task
def first_of(pair: tuple[int, str]) -> str:
    return pair[1]


def test_cache_for_reuses_the_result_in_the_next_run(any_executor: Executor) -> None:
    with Flow("cache") as flow:
        r = remember(1)
        d = first_of(r)

    first = same_states(flow, any_executor, context={"attempt": "first"})
    assert type(first.result[r]) is Cached
    assert first.result[r].result == (1, "first")

    second = same_states(flow, any_executor, context={"attempt": "second"})
    assert type(second.result[r]) is Cached
    assert second.result[r].result == (1, "first")
    assert second.result[d].result == "first"  # downstream gets the cached value


def test_cache_expires_with_the_clock(any_executor: Executor, clock: FakeClock) -> None:
    with Flow("cache-expiry") as flow:
        r = remember(1)

    same_states(flow, any_executor, context={"attempt": "first"})
    clock.advance(hours=2)
    second = same_states(flow, any_executor, context={"attempt": "second"})
    assert second.result[r].result == (1, "second")


def test_cache_validators(any_executor: Executor) -> None:
    with Flow("cache-validators") as flow:
        x = Parameter("x")
        y = Parameter("y", default=0)
        by_inputs = remember(x, task_args={"name": "by_inputs", "cache_validator": all_inputs})
        by_params = remember(x, task_args={"name": "by_params", "cache_validator": all_parameters})
        by_x = add.copy(name="by_x", cache_for=timedelta(hours=1))(x, y)
        by_x.cache_validator = partial_inputs_only(["x"])

    def run(attempt: str, **parameters: int) -> State:
        return same_states(flow, any_executor, parameters=parameters, context={"attempt": attempt})

    run("first", x=1)
    second = run("second", x=1, y=5)
    assert second.result[by_inputs].result == (1, "first")  # same inputs
    assert second.result[by_params].result == (1, "second")  # y changed
    assert second.result[by_x].result == 1  # y is not validated: the cached 1 + 0
    third = run("third", x=2, y=5)
    assert third.result[by_inputs].result == (2, "third")
    assert third.result[by_x].result == 7


def test_mapped_children_are_cached_one_by_one(any_executor: Executor) -> None:
    with Flow("cache-mapped") as flow:
        items = Parameter("items")
        m = remember.map(items, task_args={"cache_validator": all_inputs})

    first = same_states(
        flow, any_executor, parameters={"items": [1, 2, 3]}, context={"attempt": "a"}
    )
    assert types(first.result[m]) == ["Cached"] * 3
    second = same_states(
        flow, any_executor, parameters={"items": [1, 2, 5]}, context={"attempt": "b"}
    )
    assert second.result[m].result == [(1, "a"), (2, "a"), (5, "b")]


# =============================================================================================
# Context inside tasks
# =============================================================================================
@task
def whoami(x: Any = None) -> dict[str, Any]:
    ctx = lockgate.context
    return {
        "x": x,
        "flow_name": ctx.flow_name,
        "task_name": ctx.task_name,
        "task_slug": ctx.task_slug,
        "task_full_name": ctx.task_full_name,
        "map_index": ctx.get("map_index"),
        "task_run_count": ctx.task_run_count,
        "parameters": ctx.parameters,
        "today": ctx.today,
        "date": ctx.date,
        "user": ctx.get("user"),
        "env": ctx.get("env"),
        "extra": ctx.get("extra"),
        "resume": ctx.get("resume"),
        "logger": ctx.logger.name,
    }


def test_context_values_inside_tasks(any_executor: Executor) -> None:
    with Flow("context") as flow:
        n = Parameter("n", default=2)
        plain = whoami(n, task_args={"name": "plain"})
        mapped = whoami.map([7, 8], task_args={"name": "mapped"})

    with lockgate.context(user="alice"):
        state = same_states(
            flow,
            any_executor,
            parameters={"n": 3},
            context={"env": "staging"},
            task_contexts={plain: {"extra": 42}},
        )

    common = {
        "flow_name": "context",
        "task_run_count": 1,
        "parameters": {"n": 3},
        "today": "2030-06-01",
        "date": T0,
        "user": "alice",
        "env": "staging",
        "resume": None,
    }
    assert state.result[plain].result == {
        **common,
        "x": 3,
        "task_name": "plain",
        "task_slug": "plain-1",
        "task_full_name": "plain",
        "map_index": None,
        "extra": 42,
        "logger": "lockgate.task.plain",
    }
    children = state.result[mapped].result
    assert [c["map_index"] for c in children] == [0, 1]
    assert [c["task_full_name"] for c in children] == ["mapped[0]", "mapped[1]"]
    assert [c["x"] for c in children] == [7, 8]
    assert all(c["extra"] is None and c["user"] == "alice" for c in children)


@task(max_retries=2, retry_delay=timedelta(seconds=1))
def count_runs(x: int) -> tuple[int, int | None, int]:
    count: int = lockgate.context.task_run_count
    if count < 2:
        raise ValueError("again")
    return x, lockgate.context.get("map_index"), count


def test_context_of_retried_children_of_a_map_of_a_map(any_executor: Executor) -> None:
    with Flow("context-retry") as flow:
        first = inc.map([10, 20])
        second = count_runs.map(first)
        after = where(second)

    state = same_states(flow, any_executor)

    assert state.result[second].result == [(11, 0, 2), (21, 1, 2)]
    assert state.result[after].result[1:] == (None, "where", "where")


# =============================================================================================
# Results
# =============================================================================================
@task
def make(kind: str) -> Any:
    values: dict[str, Any] = {
        "none": None,
        "tuple": (1, "a", None),
        "dict": {"k": [1, 2], "nested": {"x": (3,)}},
        "bytes": b"\x00\xff",
        "set": {1, 2, 3},
        "big": list(range(10_000)),
        "datetime": datetime(2030, 1, 1, tzinfo=timezone.utc),
        "exception": KeyError("as a value"),
    }
    return values[kind]


RESULT_KINDS = ["none", "tuple", "dict", "bytes", "set", "big", "datetime", "exception"]


def test_results_of_many_types_travel_unchanged(any_executor: Executor) -> None:
    with Flow("results") as flow:
        made = {kind: make(kind, task_args={"name": kind}) for kind in RESULT_KINDS}
        passed_on = {
            kind: value_type(made[kind], task_args={"name": f"type_of_{kind}"})
            for kind in RESULT_KINDS
        }

    state = same_states(flow, any_executor)

    assert state.result[made["big"]].result == list(range(10_000))
    assert state.result[made["set"]].result == {1, 2, 3}
    assert norm(state.result[made["exception"]].result) == ("KeyError", "'as a value'")
    assert type(state.result[made["exception"]]) is Success
    assert {k: state.result[t].result for k, t in passed_on.items()} == {
        "none": "NoneType",
        "tuple": "tuple",
        "dict": "dict",
        "bytes": "bytes",
        "set": "set",
        "big": "list",
        "datetime": "datetime",
        "exception": "KeyError",
    }


def test_return_tasks_only_those(any_executor: Executor) -> None:
    with Flow("return-tasks") as flow:
        n = numbers()
        m = inc.map(n)
        t = total(m)

    state = same_states(flow, any_executor, return_tasks=[t, n])

    assert set(state.result) == {t, n}
    assert state.result[t].result == 9
    assert state.result[n].result == [1, 2, 3]
    assert type(state) is Success


def test_constants_and_keyword_inputs(any_executor: Executor) -> None:
    with Flow("constants") as flow:
        a = add(1, y=2, task_args={"name": "a"})
        b = add(x=a, y=40, task_args={"name": "b"})
        c = seen(b=b, task_args={"name": "c"})

    state = same_states(flow, any_executor)

    assert state.result[b].result == 43
    assert state.result[c].result == ["NoneType", "int"]


# =============================================================================================
# State handlers, on_failure and hooks: they run in the coordinator
# =============================================================================================
def test_state_handlers_see_the_same_transitions(any_executor: Executor) -> None:
    log: list[tuple[str, Any, str, str]] = []

    def record(t: Task, old: State, new: State) -> None:
        log.append(
            (t.name, lockgate.context.get("map_index"), type(old).__name__, type(new).__name__)
        )

    def mark(flow: Flow, old: State, new: State) -> None:
        if isinstance(new, Running):
            log.append(("-- run --", None, "", ""))

    handlers = {"state_handlers": [record]}
    with Flow("handlers", state_handlers=[mark]) as flow:
        o = ok(task_args={"name": "o", **handlers})
        b = boom(task_args={"name": "b", **handlers})
        inc.map(numbers(2), task_args={"name": "m", **handlers})
        flaky(task_args={"name": "f", **handlers})
        seen(o, b, task_args={"name": "s", **handlers})

    same_states(flow, any_executor)

    split = log.index(("-- run --", None, "", ""), 1)
    local_log, executor_log = log[1:split], log[split + 1 :]

    def per_task(entries: list[tuple[str, Any, str, str]]) -> dict[Any, list[str]]:
        out: dict[Any, list[str]] = {}
        for name, index, old, new in entries:
            out.setdefault((name, index), []).append(f"{old}->{new}")
        return out

    assert per_task(executor_log) == per_task(local_log)
    got = per_task(executor_log)
    assert got[("o", None)] == ["Pending->Running", "Running->Success"]
    assert got[("b", None)] == ["Pending->Running", "Running->Failed"]
    assert got[("m", 1)] == ["Pending->Running", "Running->Success"]
    assert got[("m", None)] == ["Pending->Mapped"]
    assert got[("f", None)] == [
        "Pending->Running",
        "Running->Failed",
        "Failed->Retrying",
        "Retrying->Running",
        "Running->Failed",
        "Failed->Retrying",
        "Retrying->Running",
        "Running->Success",
    ]
    assert got[("s", None)] == ["Pending->TriggerFailed"]


def recover(t: Task, old: State, new: State) -> State | None:
    if isinstance(new, Failed):
        return Success("recovered by a handler", result=0)
    return None


def skip_instead_of_running(t: Task, old: State, new: State) -> None:
    if isinstance(new, Running):
        raise signals.SKIP("a handler skipped it")


def test_state_handlers_that_change_states(any_executor: Executor) -> None:
    failures: list[tuple[str, str | None]] = []

    def on_failure(t: Task, state: State) -> None:
        failures.append((t.name, state.message))

    with Flow("changing-handlers") as flow:
        r = boom(task_args={"name": "recovered", "state_handlers": [recover]})
        after = plus_one(r)
        s = ok(task_args={"name": "skipped", "state_handlers": [skip_instead_of_running]})
        f = boom(task_args={"name": "failing", "on_failure": on_failure})

    state = same_states(flow, any_executor)

    assert state.result[r] == Success("recovered by a handler", result=0)
    assert state.result[after].result == 1
    assert type(state.result[s]) is Skipped
    assert state.result[s].message == "a handler skipped it"
    assert type(state.result[f]) is Failed
    assert failures == [("failing", "Unexpected error: ValueError('boom')")] * 2


COORDINATOR_ONLY = ["state_handlers", "trigger", "on_failure", "cache_validator"]


@pytest.mark.parametrize("attribute", COORDINATOR_ONLY)
def test_callables_that_only_the_coordinator_calls_need_not_pickle(
    any_executor: Executor, attribute: str
) -> None:
    """State handlers, triggers, on_failure and cache validators run in the coordinator,
    so what they hold (a lock, a connection, a client) need not pickle."""
    lock = threading.Lock()
    calls: list[str] = []

    def handler(t: Task, old: State, new: State) -> None:
        with lock:
            calls.append(type(new).__name__)

    def trigger(upstream_states: Any) -> bool:
        with lock:
            calls.append("trigger")
        return True

    def on_failure(t: Task, state: State) -> None:
        with lock:
            calls.append("on_failure")

    def validator(state: State, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
        with lock:
            calls.append("validator")
        return True

    settings: dict[str, dict[str, Any]] = {
        "state_handlers": {"state_handlers": [handler]},
        "trigger": {"trigger": trigger},
        "on_failure": {"on_failure": on_failure},
        "cache_validator": {"cache_validator": validator, "cache_for": timedelta(hours=1)},
    }
    with Flow(f"coordinator-only-{attribute}") as flow:
        source = boom if attribute == "on_failure" else ok
        t = source(task_args=settings[attribute])

    state = same_states(flow, any_executor)

    if attribute == "on_failure":
        assert state.result[t].message == "Unexpected error: ValueError('boom')"
    else:
        assert state.result[t].result == 1
    if attribute == "cache_validator":  # consulted once a Cached state exists
        again = same_states(flow, any_executor)
        assert type(again.result[t]) is Cached
    assert calls


class Recorder(RunHooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def flow_run_started(self, flow: Flow, state: State, context: dict[str, Any]) -> None:
        self.events.append(f"start {type(state).__name__}")

    def task_state_changed(self, task: Task, old: State, new: State) -> None:
        index = lockgate.context.get("map_index")
        self.events.append(f"{task.name}[{index}] {type(new).__name__}")

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        self.events.append(f"end {type(state).__name__}")


def test_run_hooks(any_executor: Executor) -> None:
    with Flow("hooks") as flow:
        m = inc.map([1, 2])
        total(m)

    local, other = Recorder(), Recorder()
    flow.run(executor=LocalExecutor(), hooks=[local])
    state = flow.run(executor=any_executor, hooks=[other])

    assert type(state) is Success
    assert sorted(other.events) == sorted(local.events)
    assert other.events[0] == "start Running"
    assert other.events[-1] == "end Success"
    assert "inc[1] Success" in other.events


def test_raise_on_exception_reraises_the_task_error(any_executor: Executor) -> None:
    from lockgate.utilities.debug import raise_on_exception

    with Flow("raise-on-exception") as flow:
        plus_one(boom())

    with raise_on_exception(), pytest.raises(ValueError, match="boom"):
        flow.run(executor=any_executor)
    # the executor was torn down: it runs the next flow as usual
    state = same_states(flow, any_executor)
    assert type(state) is Failed


class OwnError(Exception):
    """An exception class of this module: it travels by reference, as Double does."""


class Double(Task):
    """A class-based task (imperative API): its class travels by reference."""

    def run(self, x: int) -> int:  # type: ignore[override]
        if x == 6:
            raise OwnError(f"no {x}")
        return 2 * x


def test_class_based_tasks_and_the_imperative_api(any_executor: Executor) -> None:
    flow = Flow("imperative")
    source = numbers.copy()
    flow.add_task(source)
    double = Double(name="double")
    flow.add_edge(source, double, key="x", mapped=True)
    again = Double(name="again")
    flow.add_edge(double, again, key="x", mapped=True)
    t = total.copy(trigger=triggers.all_finished)
    flow.add_edge(again, t, key="xs")

    state = same_states(flow, any_executor)

    assert types(state.result[again]) == ["Success", "Success", "Failed"]
    assert state.result[again].map_states[2].message == "Unexpected error: OwnError('no 6')"
    assert isinstance(state.result[again].result[2], OwnError)
    assert state.result[again].result[:2] == [4, 8]
    assert type(state.result[t]) is Failed  # 4 + 8 + an OwnError: a TypeError


# =============================================================================================
# The flow's final state
# =============================================================================================
FLOW_CASES = ["all-succeed", "one-fails", "failure-not-referenced", "paused", "skipped", "empty"]


@pytest.mark.parametrize("case", FLOW_CASES)
def test_flow_final_state(any_executor: Executor, case: str) -> None:
    flow = Flow(f"final-{case}")
    if case != "empty":
        with flow:
            good = plus_one(1)
            if case == "one-fails":
                boom()
            if case == "failure-not-referenced":
                boom()
                flow.set_reference_tasks([good])
            if case == "paused":
                approve()
            if case == "skipped":
                plus_one(skip_me())

    state = same_states(flow, any_executor)

    expected = {
        "all-succeed": Success("All reference tasks succeeded."),
        "one-fails": Failed("Some reference tasks failed."),
        "failure-not-referenced": Success("All reference tasks succeeded."),
        "paused": Running("Flow run in progress."),
        "skipped": Success("All reference tasks succeeded."),
        "empty": Success("All reference tasks succeeded."),
    }[case]
    assert (type(state), state.message) == (type(expected), expected.message)
    if case != "empty":
        assert state.result[good].result == 2
