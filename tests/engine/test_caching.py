"""Output caching: cache_for, the six cache validators, and cached runs in one process.

The engine remembers each task's latest Cached state in
``lockgate.engine.task_runner._CACHES``; every test here gets a fresh, empty dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Parameter, Task, task
from lockgate.engine import cache_validators as cv
from lockgate.engine import signals
from lockgate.engine import task_runner as task_runner_module
from lockgate.engine.state import (
    Cached,
    Failed,
    Mapped,
    Pending,
    Skipped,
    State,
    Success,
)
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock

T0 = datetime(2032, 2, 2, 8, 0, tzinfo=timezone.utc)
TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh, empty cache store of the engine's own type, for this test only."""
    caches = type(task_runner_module._CACHES)()
    monkeypatch.setattr(task_runner_module, "_CACHES", caches)
    return caches


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with FakeClock(start=T0) as fake:
        yield fake


def cached(
    inputs: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    expires_in: timedelta | None = TEN_MINUTES,
    result: Any = "cached value",
) -> Cached:
    return Cached(
        result=result,
        cached_inputs=inputs,
        cached_parameters=parameters,
        cached_result_expiration=None if expires_in is None else T0 + expires_in,
    )


# -- the validators as plain functions -----------------------------------------------------------


def test_validators_are_exported() -> None:
    assert set(cv.__all__) >= {
        "never_use",
        "duration_only",
        "all_inputs",
        "all_parameters",
        "partial_inputs_only",
        "partial_parameters_only",
    }


def test_never_use_is_never_valid(clock: FakeClock) -> None:
    assert not cv.never_use(cached({"x": 1}, {"p": 1}), {"x": 1}, {"p": 1})
    assert not cv.never_use(cached(expires_in=None), {}, {})


def test_duration_only_checks_expiry_only(clock: FakeClock) -> None:
    fresh = cached({"x": 1}, {"p": 1})
    assert cv.duration_only(fresh, {"x": 1}, {"p": 1})
    assert cv.duration_only(fresh, {"x": 2}, {"p": 2})  # inputs and parameters ignored
    assert cv.duration_only(cached(expires_in=None), {}, {})  # no expiry: valid for ever

    clock.advance(minutes=9, seconds=59)
    assert cv.duration_only(fresh, {}, {})
    clock.advance(seconds=1)  # exactly at the expiration: expired
    assert not cv.duration_only(fresh, {}, {})
    assert cv.duration_only(cached(expires_in=None), {}, {})


def test_all_inputs(clock: FakeClock) -> None:
    state = cached({"x": 1, "y": "a"})
    assert cv.all_inputs(state, {"x": 1, "y": "a"}, {"p": "ignored"})
    assert not cv.all_inputs(state, {"x": 2, "y": "a"}, {})
    assert not cv.all_inputs(state, {"x": 1}, {})  # a missing input
    assert not cv.all_inputs(state, {"x": 1, "y": "a", "z": 0}, {})  # an extra input
    assert cv.all_inputs(cached(None), {}, {})  # no inputs at all
    clock.advance(TEN_MINUTES)
    assert not cv.all_inputs(state, {"x": 1, "y": "a"}, {})


def test_all_parameters(clock: FakeClock) -> None:
    state = cached({"x": 1}, {"p": 1, "q": 2})
    assert cv.all_parameters(state, {"x": "ignored"}, {"p": 1, "q": 2})
    assert not cv.all_parameters(state, {"x": 1}, {"p": 1, "q": 3})
    assert not cv.all_parameters(state, {"x": 1}, {"p": 1})
    assert cv.all_parameters(cached(parameters=None), {}, {})
    clock.advance(TEN_MINUTES)
    assert not cv.all_parameters(state, {"x": 1}, {"p": 1, "q": 2})


def test_partial_inputs_only(clock: FakeClock) -> None:
    state = cached({"a": 1, "b": 2})
    only_a = cv.partial_inputs_only(validate_on=["a"])
    assert only_a(state, {"a": 1, "b": 999}, {})
    assert not only_a(state, {"a": 2, "b": 2}, {})
    assert not only_a(state, {"b": 2}, {})  # "a" missing now
    assert cv.partial_inputs_only(["c"])(state, {"a": 5}, {})  # absent on both sides
    assert cv.partial_inputs_only(("a", "b"))(state, {"a": 1, "b": 2, "c": 3}, {})
    assert not cv.partial_inputs_only(("a", "b"))(state, {"a": 1, "b": 3}, {})
    clock.advance(TEN_MINUTES)
    assert not only_a(state, {"a": 1, "b": 2}, {})


def test_partial_inputs_only_without_names_checks_only_expiry(clock: FakeClock) -> None:
    nothing = cv.partial_inputs_only()
    state = cached({"a": 1, "b": 2})
    assert nothing(state, {"a": 1, "b": 3}, {})
    assert cv.partial_inputs_only(state, {"a": 9}, {})  # the direct form, as Prefect's


def test_partial_validators_validate_directly_or_through_functools_partial(
    clock: FakeClock,
) -> None:
    import functools

    state = cached({"a": 1, "b": 2})
    assert cv.partial_inputs_only(state, {"a": 1, "b": 3}, {}, validate_on=["a"])
    assert not cv.partial_inputs_only(state, {"a": 1, "b": 3}, {}, validate_on=["b"])
    only_b = functools.partial(cv.partial_inputs_only, validate_on=["b"])
    assert only_b(state, {"a": 5, "b": 2}, {})
    with pytest.raises(TypeError, match="state, inputs, parameters"):
        cv.partial_parameters_only(state, {})


def test_partial_parameters_only(clock: FakeClock) -> None:
    state = cached(parameters={"p": 1, "q": 2})
    only_p = cv.partial_parameters_only(validate_on=["p"])
    assert only_p(state, {"x": "ignored"}, {"p": 1, "q": 999})
    assert not only_p(state, {}, {"p": 2, "q": 2})
    assert not only_p(state, {}, {"q": 2})
    assert cv.partial_parameters_only()(state, {}, {"p": 1, "q": 2})
    assert cv.partial_parameters_only()(state, {}, {"p": 1, "q": 3})  # no names: expiry only
    clock.advance(TEN_MINUTES)
    assert not only_p(state, {}, {"p": 1, "q": 2})


def test_partial_validators_accept_any_iterable_of_names(clock: FakeClock) -> None:
    names = (n for n in ["a"])  # a one-shot generator is read once, at build time
    validator = cv.partial_inputs_only(names)
    state = cached({"a": 1})
    assert validator(state, {"a": 1}, {})
    assert validator(state, {"a": 1}, {})  # still works on a second call
    assert validator.__name__ == "partial_inputs_only"
    assert cv.partial_parameters_only(["p"]).__name__ == "partial_parameters_only"


def test_default_validator_depends_on_cache_for() -> None:
    assert Task().cache_validator is cv.never_use
    assert Task(cache_for=TEN_MINUTES).cache_validator is cv.duration_only
    assert Task(cache_for=TEN_MINUTES, cache_validator=cv.all_inputs).cache_validator is (
        cv.all_inputs
    )


def test_cache_for_must_be_a_timedelta() -> None:
    with pytest.raises(TypeError, match="cache_for must be a timedelta"):
        Task(cache_for=600)  # type: ignore[arg-type]


# -- through flow runs ---------------------------------------------------------------------------


def test_second_run_reuses_the_cached_result_without_running_the_task(
    clock: FakeClock, fresh_caches: Any
) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * x

    with Flow("cache") as flow:
        p = Parameter("p", default=4)
        e = expensive(p)

    first = flow.run()
    second = flow.run()

    assert type(first.result[e]) is Cached
    assert type(second.result[e]) is Cached
    assert first.result[e].result == second.result[e].result == 16
    assert calls == [4]
    assert len(fresh_caches) == 1  # the engine used this test's own cache store


def test_cached_state_records_inputs_parameters_and_expiry(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES)
    def expensive(x: int, y: int) -> int:
        return x + y

    with Flow("cache-fields") as flow:
        p = Parameter("p")
        e = expensive(p, 2)

    state = flow.run(parameters={"p": 1}).result[e]
    assert isinstance(state, Cached)
    assert state.result == 3
    assert state.cached_inputs == {"x": 1, "y": 2}
    assert state.cached_parameters == {"p": 1}
    assert state.cached_result_expiration == T0 + TEN_MINUTES
    assert state.message == "Task run succeeded."  # the Success's message is kept
    assert state.is_successful()


def test_state_handlers_see_success_then_cached(clock: FakeClock) -> None:
    seen: list[State] = []

    @task(cache_for=TEN_MINUTES, state_handlers=[lambda t, old, new: seen.append(new)])
    def expensive() -> int:
        return 1

    TaskRunner(expensive).run()
    assert [type(s) for s in seen][-2:] == [Success, Cached]


def test_cache_expires_with_the_clock(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def expensive() -> int:
        calls.append(1)
        return len(calls)

    with Flow("expiry") as flow:
        e = expensive()

    assert flow.run().result[e].result == 1
    clock.advance(minutes=9)
    assert flow.run().result[e].result == 1
    clock.advance(minutes=1)  # now exactly at the expiration
    renewed = flow.run().result[e]
    assert renewed.result == 2
    assert renewed.cached_result_expiration == T0 + timedelta(minutes=20)
    assert len(calls) == 2


def test_duration_only_reuses_the_result_for_other_inputs(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.duration_only)
    def expensive(x: int) -> int:
        calls.append(x)
        return x

    with Flow("duration") as flow:
        p = Parameter("p")
        e = expensive(p)

    assert flow.run(parameters={"p": 1}).result[e].result == 1
    assert flow.run(parameters={"p": 2}).result[e].result == 1
    assert calls == [1]


def test_never_use_runs_every_time(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.never_use)
    def expensive() -> int:
        calls.append(1)
        return len(calls)

    with Flow("never") as flow:
        e = expensive()

    assert flow.run().result[e].result == 1
    assert flow.run().result[e].result == 2
    assert len(calls) == 2


def test_all_inputs_reruns_when_an_input_changes(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.all_inputs)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    with Flow("all-inputs") as flow:
        p = Parameter("p")
        e = expensive(p)

    assert flow.run(parameters={"p": 1}).result[e].result == 10
    assert flow.run(parameters={"p": 1}).result[e].result == 10
    assert calls == [1]
    assert flow.run(parameters={"p": 2}).result[e].result == 20
    assert calls == [1, 2]


def test_all_parameters_reruns_when_any_parameter_changes(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.all_parameters)
    def expensive(x: int) -> int:
        calls.append(x)
        return x

    with Flow("all-parameters") as flow:
        p = Parameter("p")
        e = expensive(p)
        flow.add_task(Parameter("unused", default=0))

    flow.run(parameters={"p": 1, "unused": 0})
    flow.run(parameters={"p": 1, "unused": 0})
    assert calls == [1]
    flow.run(parameters={"p": 1, "unused": 1})  # the task's input did not change
    assert calls == [1, 1]
    assert type(flow.run(parameters={"p": 1, "unused": 1}).result[e]) is Cached


def test_partial_inputs_only_through_a_flow(clock: FakeClock) -> None:
    calls: list[tuple[int, int]] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.partial_inputs_only(validate_on=["x"]))
    def expensive(x: int, y: int) -> int:
        calls.append((x, y))
        return x + y

    with Flow("partial-inputs") as flow:
        px = Parameter("px")
        py = Parameter("py")
        e = expensive(px, py)

    assert flow.run(parameters={"px": 1, "py": 1}).result[e].result == 2
    assert flow.run(parameters={"px": 1, "py": 5}).result[e].result == 2  # y ignored
    assert calls == [(1, 1)]
    assert flow.run(parameters={"px": 3, "py": 5}).result[e].result == 8
    assert calls == [(1, 1), (3, 5)]


def test_partial_parameters_only_through_a_flow(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.partial_parameters_only(["a"]))
    def expensive() -> int:
        calls.append(1)
        params = lockgate.context.parameters
        return params["a"] + params["b"]

    with Flow("partial-parameters") as flow:
        e = expensive()
        flow.add_task(Parameter("a"))
        flow.add_task(Parameter("b"))

    assert flow.run(parameters={"a": 1, "b": 1}).result[e].result == 2
    assert flow.run(parameters={"a": 1, "b": 7}).result[e].result == 2  # b ignored
    assert len(calls) == 1
    assert flow.run(parameters={"a": 2, "b": 7}).result[e].result == 9
    assert len(calls) == 2


def test_downstream_tasks_receive_the_cached_value(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES)
    def expensive() -> list[int]:
        return [1, 2, 3]

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    with Flow("downstream") as flow:
        t = total(expensive())

    flow.run()
    assert flow.run().result[t].result == 6


# -- Cached states handed in through task_states ---------------------------------------------------


def test_valid_cached_state_in_task_states_is_reused(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.all_inputs)
    def expensive(x: int) -> int:
        calls.append(x)
        return x

    with Flow("given-valid") as flow:
        p = Parameter("p")
        e = expensive(p)

    given = cached({"x": 3}, result=99)
    state = flow.run(parameters={"p": 3}, task_states={e: given})
    assert state.result[e] is given
    assert state.result[e].result == 99
    assert calls == []


def test_invalid_cached_state_in_task_states_goes_pending_and_reruns(
    clock: FakeClock,
) -> None:
    calls: list[int] = []
    seen: list[State] = []

    @task(
        cache_for=TEN_MINUTES,
        cache_validator=cv.all_inputs,
        state_handlers=[lambda t, old, new: seen.append(new)],
    )
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 2

    with Flow("given-invalid") as flow:
        p = Parameter("p")
        e = expensive(p)

    stale = cached({"x": 4}, result=99)
    state = flow.run(parameters={"p": 3}, task_states={e: stale})

    assert calls == [3]
    assert type(seen[0]) is Pending
    assert seen[0].message == "Cache was invalid; ready to run."
    assert [type(s) for s in seen] == [Pending, lockgate.engine.state.Running, Success, Cached]
    final = state.result[e]
    assert type(final) is Cached
    assert final.result == 6
    assert final.cached_inputs == {"x": 3}


def test_expired_cached_state_in_task_states_reruns(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def expensive() -> str:
        calls.append(1)
        return "fresh"

    with Flow("given-expired") as flow:
        e = expensive()

    old = cached(result="stale")
    clock.advance(minutes=11)
    assert flow.run(task_states={e: old}).result[e].result == "fresh"
    assert calls == [1]


def test_cached_state_for_a_task_without_cache_for_reruns(clock: FakeClock) -> None:
    calls: list[int] = []

    @task
    def plain() -> str:
        calls.append(1)
        return "ran"

    state = TaskRunner(plain).run(state=cached(result="old"))
    assert type(state) is Success
    assert state.result == "ran"
    assert calls == [1]


def test_task_runner_pending_cache_invalid_message(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES, cache_validator=cv.all_inputs)
    def expensive(x: int) -> int:
        return x

    runner = TaskRunner(expensive)
    state = runner.check_task_is_cached(cached({"x": 1}), {"x": 2})
    assert type(state) is Pending
    assert state.message == "Cache was invalid; ready to run."


def test_cached_state_with_other_constant_inputs_is_invalid(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES, cache_validator=cv.all_inputs)
    def expensive(x: int) -> int:
        calls.append(x)
        return x

    with Flow("given-constant") as flow:
        e = expensive(3)

    state = flow.run(task_states={e: cached({"x": 4}, result=99)})
    assert calls == [3]
    assert state.result[e].result == 3


# -- what is never cached --------------------------------------------------------------------------


def test_skipped_is_never_cached(clock: FakeClock, fresh_caches: Any) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def skipper() -> None:
        calls.append(1)
        raise signals.SKIP("not today")

    with Flow("skip") as flow:
        s = skipper()

    assert type(flow.run().result[s]) is Skipped
    assert type(flow.run().result[s]) is Skipped
    assert len(calls) == 2
    assert len(fresh_caches) == 0


def test_failures_are_never_cached(clock: FakeClock, fresh_caches: Any) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def broken() -> None:
        calls.append(1)
        raise ValueError("no")

    with Flow("fail") as flow:
        b = broken()

    assert type(flow.run().result[b]) is Failed
    assert type(flow.run().result[b]) is Failed
    assert len(calls) == 2
    assert len(fresh_caches) == 0


def test_task_without_cache_for_is_not_cached(clock: FakeClock, fresh_caches: Any) -> None:
    @task
    def plain() -> int:
        return 1

    with Flow("plain") as flow:
        p = plain()

    assert type(flow.run().result[p]) is Success
    assert len(fresh_caches) == 0


# -- mapped children and separate tasks --------------------------------------------------------------


def test_mapped_children_are_cached_one_by_one(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(cache_for=TEN_MINUTES)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    with Flow("mapped-cache") as flow:
        m = square.map([1, 2, 3])

    first = flow.run()
    second = flow.run()
    assert first.result[m].result == second.result[m].result == [1, 4, 9]
    assert isinstance(second.result[m], Mapped)
    assert all(type(s) is Cached for s in second.result[m].map_states)
    assert calls == [1, 2, 3]


def test_two_tasks_of_one_flow_do_not_share_a_cache(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES)
    def value(x: int) -> int:
        return x

    with Flow("two") as flow:
        a = value(1)
        b = value(2)

    flow.run()
    state = flow.run()
    assert state.result[a].result == 1
    assert state.result[b].result == 2


def test_unrelated_flows_with_the_same_name_do_not_share_a_cache(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES)
    def load() -> str:
        return "first flow"

    with Flow("etl") as first:
        load()

    @task(cache_for=TEN_MINUTES, name="load")
    def load_again() -> str:
        return "second flow"

    with Flow("etl") as second:
        t = load_again()

    first.run()
    assert second.run().result[t].result == "second flow"


def test_cached_state_keeps_the_message_of_the_success_it_replaces(clock: FakeClock) -> None:
    @task(cache_for=TEN_MINUTES)
    def parse(text: str) -> int:
        return len(text)

    given = Success("parsed the header", result=6)
    cached = TaskRunner(parse).cache_result(given, {"text": "header"})
    assert type(cached) is Cached and cached is not given
    assert cached.message == "parsed the header"
    assert cached.result == 6
    assert cached.cached_inputs == {"text": "header"}
