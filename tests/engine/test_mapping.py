"""Mapping (SPEC §8): one child run per item, zipped inputs, reduce, map of a map, edge cases."""

from __future__ import annotations

from typing import Any

import pytest

import lockgate
from lockgate import Flow, Task, task, triggers, unmapped
from lockgate.engine import signals
from lockgate.engine.state import (
    Failed,
    Mapped,
    Skipped,
    State,
    Success,
    TriggerFailed,
)
from lockgate.testing import FakeClock, RecordingExecutor


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def collect(xs: list[Any]) -> list[Any]:
    return list(xs)


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def child_types(state: State) -> list[type]:
    assert isinstance(state, Mapped)
    return [type(s) for s in state.map_states]


# -- the basic shapes ------------------------------------------------------------------------------


def test_map_over_a_list_from_an_upstream_task() -> None:
    with Flow("map") as flow:
        m = inc.map(numbers())

    state = flow.run()
    parent = state.result[m]
    assert type(parent) is Mapped
    assert parent.result == [2, 3, 4]
    assert [s.result for s in parent.map_states] == [2, 3, 4]
    assert child_types(parent) == [Success, Success, Success]
    assert parent.message == "Mapped 3 child run(s)."
    assert isinstance(state, Success)


def test_map_over_a_constant_list() -> None:
    with Flow("constant") as flow:
        m = inc.map([10, 20])

    assert flow.run().result[m].result == [11, 21]


@pytest.mark.parametrize("items", [(1, 2), range(1, 3)])
def test_map_over_other_sequences(items: Any) -> None:
    with Flow("sequences") as flow:
        m = inc.map(items)

    assert flow.run().result[m].result == [2, 3]


def test_unmapped_input_is_passed_whole_to_every_child() -> None:
    @task
    def scale() -> int:
        return 100

    @task
    def pair(x: int, extra: list[int]) -> tuple[int, int]:
        return x, len(extra)

    with Flow("unmapped") as flow:
        n = numbers()
        a = add.map(n, unmapped(scale()))
        c = add.map(n, unmapped(5))
        p = pair.map(n, unmapped([7, 8, 9, 10]))

    state = flow.run()
    assert state.result[a].result == [101, 102, 103]
    assert state.result[c].result == [6, 7, 8]
    assert state.result[p].result == [(1, 4), (2, 4), (3, 4)]


def test_mapped_inputs_are_zipped_to_the_shortest() -> None:
    @task
    def letters() -> list[str]:
        return ["a", "b"]

    @task
    def join(x: int, y: str) -> str:
        return f"{x}{y}"

    with Flow("zip") as flow:
        j = join.map(numbers(), letters())
        k = add.map([1, 2, 3], [10, 20])

    state = flow.run()
    assert state.result[j].result == ["1a", "2b"]
    assert len(state.result[j].map_states) == 2
    assert state.result[k].result == [11, 22]


def test_reduce_gets_the_list_of_child_results() -> None:
    with Flow("reduce") as flow:
        m = inc.map(numbers())
        t = total(m)
        c = collect(m)

    state = flow.run()
    assert state.result[t].result == 9
    assert state.result[c].result == [2, 3, 4]


def test_map_of_a_mapped_task_maps_child_to_child() -> None:
    with Flow("map-of-map") as flow:
        first = inc.map(numbers())
        second = inc.map(first)
        t = total(second)

    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert state.result[second].result == [3, 4, 5]
    assert len(state.result[second].map_states) == 3
    assert state.result[t].result == 12
    children = [entry for entry in executor.submitted if entry[1] is not None]
    assert children == [("inc", 0), ("inc", 0), ("inc", 1), ("inc", 1), ("inc", 2), ("inc", 2)]


def test_map_of_a_map_zipped_with_a_list() -> None:
    with Flow("map-of-map-zip") as flow:
        first = inc.map(numbers())
        z = add.map(first, [100, 200])

    assert flow.run().result[z].result == [102, 203]


# -- empty, skipped, failed and wrong-typed inputs -------------------------------------------------------


def test_empty_input_maps_to_zero_children_and_reduce_gets_an_empty_list() -> None:
    calls: list[int] = []

    @task
    def empty() -> list[int]:
        return []

    @task
    def never(x: int) -> int:
        calls.append(x)
        return x

    with Flow("empty") as flow:
        m = never.map(empty())
        c = collect(m)
        again = inc.map(m)

    state = flow.run()
    parent = state.result[m]
    assert type(parent) is Mapped
    assert parent.map_states == []
    assert parent.result == []
    assert calls == []
    assert state.result[c].result == []
    assert state.result[again].result == []
    assert isinstance(state, Success)


def test_mapping_over_a_skipped_upstream_is_skipped() -> None:
    @task
    def skipper() -> list[int]:
        raise signals.SKIP("nothing today")

    @task(skip_on_upstream_skip=False)
    def stubborn(x: int) -> int:
        return x

    with Flow("skipped") as flow:
        s = skipper()
        m = inc.map(s)
        m2 = stubborn.map(s)  # even without skip propagation there is nothing to map
        c = collect(m)

    state = flow.run()
    assert type(state.result[m]) is Skipped
    assert type(state.result[m2]) is Skipped
    assert state.result[m].message is not None
    assert "skipped" in state.result[m].message
    assert type(state.result[c]) is Skipped
    assert isinstance(state, Success)


def test_mapping_over_a_failed_upstream_trigger_fails_by_default() -> None:
    @task
    def broken() -> list[int]:
        raise ValueError("no list for you")

    with Flow("failed") as flow:
        m = inc.map(broken())

    state = flow.run()
    assert type(state.result[m]) is TriggerFailed
    assert isinstance(state, Failed)


def test_mapping_over_a_failed_upstream_with_all_finished_fails_clearly() -> None:
    calls: list[int] = []

    @task
    def broken() -> list[int]:
        raise ValueError("no list for you")

    @task(trigger=triggers.all_finished)
    def tolerant(x: Any) -> Any:
        calls.append(x)
        return x

    with Flow("failed-all-finished") as flow:
        m = tolerant.map(broken())

    state = flow.run()
    parent = state.result[m]
    assert type(parent) is Failed
    assert parent.message is not None
    assert "Cannot map over" in parent.message
    assert "broken" in parent.message
    assert calls == []


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(5, "int"), (None, "NoneType"), ("abc", "str"), ({"a": 1}, "dict")],
)
def test_mapping_over_a_non_sequence_fails_clearly(value: Any, type_name: str) -> None:
    @task
    def not_a_list() -> Any:
        return value

    with Flow("not-a-sequence") as flow:
        up = not_a_list()
        m = inc.map(up)

    state = flow.run()
    parent = state.result[m]
    assert type(parent) is Failed
    assert parent.message is not None
    assert "Cannot map over" in parent.message
    assert "not_a_list" in parent.message
    assert "'x'" in parent.message
    assert type_name in parent.message
    assert isinstance(state, Failed)


def test_mapping_over_a_generator_fails_clearly() -> None:
    @task
    def gen() -> Any:
        return (i for i in range(3))

    with Flow("generator") as flow:
        m = inc.map(gen())

    parent = flow.run().result[m]
    assert type(parent) is Failed
    assert parent.message is not None
    assert "Cannot map over" in parent.message
    assert "generator" in parent.message


# -- each child is its own task run ----------------------------------------------------------------------


@task
def picky(x: int) -> int:
    if x == 2:
        raise signals.SKIP("skip two")
    if x == 3:
        raise signals.FAIL("three is bad")
    return x * 10


def test_each_child_has_its_own_signal_state() -> None:
    with Flow("children") as flow:
        p = picky.map([1, 2, 3, 4])

    state = flow.run()
    parent = state.result[p]
    assert child_types(parent) == [Success, Skipped, Failed, Success]
    assert parent.map_states[1].message == "skip two"
    assert parent.map_states[2].message == "three is bad"
    assert parent.result[0] == 10
    assert parent.result[3] == 40
    assert isinstance(parent.result[2], signals.FAIL)


def test_children_of_a_map_of_a_map_follow_their_own_upstream_child() -> None:
    with Flow("child-triggers") as flow:
        p = picky.map([1, 2, 3, 4])
        q = inc.map(p)

    parent = flow.run().result[q]
    assert child_types(parent) == [Success, Skipped, TriggerFailed, Success]
    assert parent.result[0] == 11
    assert parent.result[3] == 41


def test_reduce_with_all_successful_trigger_fails_when_a_child_failed() -> None:
    @task
    def fail_on_two(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    calls: list[Any] = []

    @task
    def gather(xs: list[Any]) -> list[Any]:
        calls.append(xs)
        return xs

    with Flow("reduce-fails") as flow:
        m = fail_on_two.map([1, 2, 3])
        g = gather(m)

    state = flow.run()
    assert child_types(state.result[m]) == [Success, Failed, Success]
    assert type(state.result[g]) is TriggerFailed
    assert calls == []


def test_reduce_with_a_skipped_child_is_skipped_by_default() -> None:
    with Flow("reduce-skip") as flow:
        p = picky.map([1, 2])
        c = collect(p)

    assert type(flow.run().result[c]) is Skipped


def test_filter_like_reduce_with_all_finished_gets_the_exceptions() -> None:
    @task(trigger=triggers.all_finished, skip_on_upstream_skip=False)
    def keep_good(xs: list[Any]) -> list[Any]:
        return [x for x in xs if not isinstance(x, BaseException)]

    @task(trigger=triggers.all_finished, skip_on_upstream_skip=False)
    def everything(xs: list[Any]) -> list[Any]:
        return xs

    with Flow("filter") as flow:
        p = picky.map([1, 2, 3, 4])
        k = keep_good(p)
        e = everything(p)

    state = flow.run()
    assert state.result[k].result == [10, 40]
    seen = state.result[e].result
    assert seen[0] == 10
    assert isinstance(seen[1], signals.SKIP)
    assert isinstance(seen[2], signals.FAIL)
    assert seen[3] == 40


def test_reduce_trigger_sees_every_child_state() -> None:
    received: list[list[str]] = []

    def spy(upstream_states: Any) -> bool:
        received.append(sorted(type(s).__name__ for s in upstream_states))
        return True

    @task(trigger=spy, skip_on_upstream_skip=False)
    def gather(xs: list[Any]) -> int:
        return len(xs)

    with Flow("reduce-trigger") as flow:
        p = picky.map([1, 2, 3, 4])
        g = gather(p)

    assert flow.run().result[g].result == 4
    assert received == [["Failed", "Skipped", "Success", "Success"]]


def test_each_child_checks_its_own_trigger() -> None:
    calls: list[int] = []

    def only_even_index(upstream_states: Any) -> bool:
        if lockgate.context.map_index % 2:
            raise signals.SKIP("odd child")
        return True

    @task(trigger=only_even_index)
    def work(x: int) -> int:
        calls.append(x)
        return x

    with Flow("child-trigger") as flow:
        w = work.map([5, 6, 7])

    parent = flow.run().result[w]
    assert child_types(parent) == [Success, Skipped, Success]
    assert calls == [5, 7]


def test_each_child_has_its_own_retries() -> None:
    from datetime import timedelta

    tries: dict[int, int] = {}

    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def flaky(x: int) -> int:
        tries[x] = tries.get(x, 0) + 1
        if x == 1 and tries[x] == 1:
            raise ValueError("once")
        return x

    with Flow("child-retries") as flow:
        f = flaky.map([0, 1, 2])

    with FakeClock():
        state = flow.run()
    assert state.result[f].result == [0, 1, 2]
    assert tries == {0: 1, 1: 2, 2: 1}


def test_unmapped_failed_input_trigger_fails_every_child() -> None:
    @task
    def broken() -> int:
        raise ValueError("no")

    with Flow("unmapped-failed") as flow:
        a = add.map([1, 2], unmapped(broken()))

    parent = flow.run().result[a]
    assert isinstance(parent, Mapped)
    assert child_types(parent) == [TriggerFailed, TriggerFailed]


# -- context and bookkeeping ----------------------------------------------------------------------------------


def test_map_index_and_task_full_name_in_context() -> None:
    @task
    def where(x: int) -> tuple[Any, ...]:
        ctx = lockgate.context
        return ctx.map_index, ctx.task_full_name, ctx.task_name

    with Flow("context") as flow:
        w = where.map([7, 8, 9])

    assert flow.run().result[w].result == [
        (0, "where[0]", "where"),
        (1, "where[1]", "where"),
        (2, "where[2]", "where"),
    ]


def test_unmapped_downstream_does_not_see_a_map_index() -> None:
    @task
    def outside(xs: list[int]) -> tuple[Any, ...]:
        return lockgate.context.get("map_index"), lockgate.context.task_full_name

    with Flow("no-index") as flow:
        o = outside(inc.map([1]))

    assert flow.run().result[o].result == (None, "outside")


def test_recording_executor_sees_each_child_not_the_parent() -> None:
    with Flow("recorded") as flow:
        inc.map([1, 2, 3])

    executor = RecordingExecutor()
    flow.run(executor=executor)
    assert executor.submitted[-3:] == [("inc", 0), ("inc", 1), ("inc", 2)]
    assert ("inc", None) not in executor.submitted


def test_mapped_reference_task_makes_the_flow_fail_if_any_child_failed() -> None:
    @task
    def fail_on_two(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    with Flow("mapped-reference") as flow:
        m = fail_on_two.map([1, 2, 3])
        after = inc(1)

    flow.set_reference_tasks([m])
    state = flow.run()
    assert isinstance(state.result[m], Mapped)  # the parent itself is a success...
    assert state.result[after].result == 2
    assert isinstance(state, Failed)  # ...but its failed child fails the flow
    assert state.message == "Some reference tasks failed."


def test_mapped_reference_task_with_all_children_successful() -> None:
    with Flow("mapped-reference-ok") as flow:
        m = inc.map([1, 2])

    flow.set_reference_tasks([m])
    state = flow.run()
    assert isinstance(state, Success)
    assert state.message == "All reference tasks succeeded."


def test_mapped_reference_task_with_a_skipped_child_does_not_fail() -> None:
    with Flow("mapped-reference-skip") as flow:
        p = picky.map([1, 2])

    state = flow.run()
    assert isinstance(state, Success)  # Skipped counts as a success
    assert state.message == "All reference tasks succeeded."
    assert state.result[p].result[0] == 10


def test_map_requires_an_active_flow() -> None:
    with pytest.raises(ValueError, match="outside a flow"):
        inc.map([1, 2])


def test_imperative_mapped_edge() -> None:
    class Double(Task):
        def run(self, x: int) -> int:  # type: ignore[override]
            return 2 * x

    source = numbers.copy()
    double = Double()
    flow = Flow("imperative")
    flow.add_edge(source, double, key="x", mapped=True)
    state = flow.run()
    assert state.result[double].result == [2, 4, 6]


def test_a_paused_child_holds_back_the_reduce_until_resumed() -> None:
    from lockgate.engine.state import Paused, Pending, Running
    from lockgate.utilities.tasks import pause_task

    @task
    def approve(x: int) -> int:
        if x == 2:
            pause_task("approve 2")
        return x

    with Flow("paused-child") as flow:
        a = approve.map([1, 2, 3])
        t = total(a)

    first = flow.run()
    assert isinstance(first, Running)
    assert child_types(first.result[a]) == [Success, Paused, Success]
    assert type(first.result[t]) is Pending

    second = flow.run(task_states=first.result, start_tasks=[a])
    assert child_types(second.result[a]) == [Success, Success, Success]
    assert second.result[t].result == 6
    assert isinstance(second, Success)
