"""Control flow: switch, ifelse, merge and FilterTask, built with the functional API."""

from __future__ import annotations

from typing import Any

import cloudpickle
import pytest

from lockgate import Flow, Parameter, Task, task, triggers
from lockgate.engine import signals
from lockgate.engine.result import NoResult
from lockgate.engine.state import Failed, Mapped, Skipped, State, Success, TriggerFailed
from lockgate.tasks.control_flow import FilterTask, ifelse, merge, switch
from lockgate.tasks.control_flow.conditional import CastBool, CompareValue, Merge, merge_trigger
from lockgate.tasks.control_flow.filter import keep_result


def states_of(flow_state: State) -> dict[Task, State]:
    result = flow_state.result
    assert isinstance(result, dict)
    return result


def recorder(name: str, calls: list[str], value: Any = None) -> Task:
    """A task that records that it ran and returns ``value`` (default: its name)."""

    def fn() -> Any:
        calls.append(name)
        return name if value is None else value

    return task(fn, name=name)


@task
def identity(x: Any) -> Any:
    return x


@task
def shout(x: str) -> str:
    return x.upper() + "!"


@task
def always_skip() -> None:
    raise signals.SKIP("not today")


# -- switch --------------------------------------------------------------------------------
@pytest.mark.parametrize("chosen", ["a", "b", "c"])
def test_switch_runs_only_the_matching_case(chosen: str) -> None:
    calls: list[str] = []
    with Flow("switch") as flow:
        condition = identity(Parameter("which"))
        branches = {k: recorder(k, calls)() for k in "abc"}
        switch(condition, branches)
    state = flow.run(parameters={"which": chosen})
    states = states_of(state)

    assert state.is_successful()
    assert calls == [chosen]
    for key, branch in branches.items():
        if key == chosen:
            assert type(states[branch]) is Success
            assert states[branch].result == chosen
        else:
            assert isinstance(states[branch], Skipped)
            assert states[branch].result is NoResult


def test_switch_builds_one_comparison_per_case_with_state_only_edges() -> None:
    with Flow("switch") as flow:
        condition = identity(1)
        branches = {v: recorder(f"b{v}", [])() for v in (1, 2, 3)}
        switch(condition, branches)
    compares = flow.get_tasks(task_type=CompareValue)
    assert sorted(c.value for c in compares) == [1, 2, 3]  # type: ignore[attr-defined]
    for value, branch in branches.items():
        (edge,) = flow.edges_to(branch)
        assert edge.key is None and not edge.mapped
        assert isinstance(edge.upstream_task, CompareValue)
        assert edge.upstream_task.value == value
        (cond_edge,) = flow.edges_to(edge.upstream_task)
        assert cond_edge.upstream_task is condition and cond_edge.key == "x"


def test_comparison_tasks_skip_with_the_signal_as_result() -> None:
    with Flow("switch") as flow:
        branches = {v: recorder(f"b{v}", [])() for v in ("x", "y")}
        switch(identity("x"), branches)
    states = states_of(flow.run())
    (match,) = flow.get_tasks(name="case('x')")
    (other,) = flow.get_tasks(name="case('y')")
    assert type(states[match]) is Success and states[match].result is True
    assert isinstance(states[other], Skipped)
    assert isinstance(states[other].result, signals.SKIP)
    assert "'x'" in str(states[other].message) and "'y'" in str(states[other].message)


def test_switch_skips_everything_downstream_of_branches_not_taken() -> None:
    calls: list[str] = []
    with Flow("switch") as flow:
        a, b, c = (recorder(k, calls)() for k in "abc")
        switch(identity("b"), {"a": a, "b": b, "c": c})
        a2, b2, c2 = shout(a), shout(b), shout(c)
        a3 = identity(a2)
    states = states_of(flow.run())
    assert calls == ["b"]
    for t in (a, a2, a3, c, c2):
        assert isinstance(states[t], Skipped), t
    assert states[b2].result == "B!"


def test_switch_with_no_matching_case_skips_every_branch() -> None:
    calls: list[str] = []
    with Flow("switch") as flow:
        branches = {k: recorder(k, calls)() for k in "abc"}
        switch(identity("zzz"), branches)
    state = flow.run()
    assert calls == []
    assert all(isinstance(states_of(state)[b], Skipped) for b in branches.values())
    assert state.is_successful()  # skipped counts as success for the flow


def test_switch_accepts_a_plain_value_as_condition() -> None:
    calls: list[str] = []
    with Flow("switch") as flow:
        switch(2, {1: recorder("one", calls)(), 2: recorder("two", calls)()})
    assert flow.run().is_successful()
    assert calls == ["two"]


def test_switch_uses_equality_not_identity() -> None:
    calls: list[str] = []
    with Flow("switch") as flow:
        switch(identity(2.0), {2: recorder("two", calls)(), 3: recorder("three", calls)()})
    flow.run()
    assert calls == ["two"]


def test_failed_condition_fails_every_branch_without_running_it() -> None:
    calls: list[str] = []

    @task
    def broken() -> str:
        raise ValueError("no condition")

    with Flow("switch") as flow:
        cond = broken()
        branches = {k: recorder(k, calls)() for k in "ab"}
        switch(cond, branches)
    state = flow.run()
    assert calls == []
    assert state.is_failed()
    for branch in branches.values():
        assert isinstance(states_of(state)[branch], TriggerFailed)


def test_switch_errors() -> None:
    branch = recorder("b", [])
    with pytest.raises(ValueError, match=r"switch\(\) was called outside a flow"):
        switch(1, {1: branch})
    with Flow("errors"):
        with pytest.raises(TypeError, match="must be a mapping"):
            switch(1, [branch])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="cases is empty"):
            switch(1, {})
        with pytest.raises(TypeError, match="not a task"):
            switch(1, {1: lambda: 1})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="both case 1 and case 2"):
            switch(1, {1: branch, 2: branch})


# -- ifelse --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "yes"),
        (False, "no"),
        (1, "yes"),
        (0, "no"),
        (2, "yes"),
        ("x", "yes"),
        ("", "no"),
        ([], "no"),
        ([0], "yes"),
        ({}, "no"),
        (None, "no"),
        (0.0, "no"),
    ],
)
def test_ifelse_casts_the_condition_to_bool(value: Any, expected: str) -> None:
    calls: list[str] = []
    with Flow("ifelse") as flow:
        yes, no = recorder("yes", calls)(), recorder("no", calls)()
        ifelse(identity(value), yes, no)
        after_yes, after_no = shout(yes), shout(no)
    states = states_of(flow.run())
    assert calls == [expected]
    taken, not_taken = (yes, no) if expected == "yes" else (no, yes)
    assert states[taken].result == expected
    assert isinstance(states[not_taken], Skipped)
    after_taken, after_not = (after_yes, after_no) if expected == "yes" else (after_no, after_yes)
    assert states[after_taken].result == expected.upper() + "!"
    assert isinstance(states[after_not], Skipped)


def test_ifelse_adds_a_bool_cast_task() -> None:
    with Flow("ifelse") as flow:
        cond = identity(1)
        ifelse(cond, recorder("yes", [])(), recorder("no", [])())
    (cast,) = flow.get_tasks(task_type=CastBool)
    assert cast.name == "bool(identity)"
    assert {e.upstream_task for e in flow.edges_to(cast)} == {cond}
    assert sorted(c.value for c in flow.get_tasks(task_type=CompareValue)) == [False, True]  # type: ignore[attr-defined]


def test_ifelse_errors() -> None:
    yes, no = recorder("yes", []), recorder("no", [])
    with pytest.raises(ValueError, match=r"ifelse\(\) was called outside a flow"):
        ifelse(True, yes, no)
    with Flow("errors"):
        with pytest.raises(ValueError, match="same task"):
            ifelse(True, yes, yes)
        with pytest.raises(TypeError, match=r"false_task maps to .no., which is not a task"):
            ifelse(True, yes, "no")  # type: ignore[arg-type]


# -- merge ---------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", [True, False])
def test_merge_picks_the_result_of_the_branch_taken(flag: bool) -> None:
    with Flow("merge") as flow:
        yes, no = recorder("yes", [])(), recorder("no", [])()
        ifelse(Parameter("flag"), yes, no)
        merged = merge(shout(yes), shout(no))
        after = identity(merged)
    state = flow.run(parameters={"flag": flag})
    states = states_of(state)
    expected = "YES!" if flag else "NO!"
    assert type(states[merged]) is Success
    assert states[merged].result == expected
    assert states[after].result == expected
    assert state.is_successful()


def test_merge_after_switch_with_three_cases() -> None:
    with Flow("merge") as flow:
        branches = {k: recorder(k, [], value=k * 2)() for k in "abc"}
        switch(identity("c"), branches)
        merged = merge(*branches.values())
    assert states_of(flow.run())[merged].result == "cc"


def test_merge_is_skipped_only_when_every_branch_was_skipped() -> None:
    with Flow("merge") as flow:
        branches = {k: recorder(k, [])() for k in "ab"}
        switch(identity("nothing matches"), branches)
        merged = merge(*branches.values())
        after = identity(merged)
    states = states_of(flow.run())
    assert isinstance(states[merged], Skipped)
    assert isinstance(states[after], Skipped)


def test_merge_passes_over_a_branch_that_raised_skip_itself() -> None:
    with Flow("merge") as flow:
        skipped = always_skip()
        merged = merge(skipped, recorder("second", [])())
    states = states_of(flow.run())
    assert isinstance(states[skipped].result, signals.SKIP)
    assert states[merged].result == "second"


def test_merge_keeps_argument_order_past_nine_inputs() -> None:
    # task_10 must come after task_9, not after task_1 (numeric, not string, order).
    with Flow("merge") as flow:
        skipped = [always_skip(task_args={"name": f"skip{i}"}) for i in range(9)]
        tenth = recorder("tenth", [], value=10)()
        eleventh = recorder("eleventh", [], value=11)()
        merged = merge(*skipped, tenth, eleventh)
    assert {e.key for e in flow.edges_to(merged)} == {f"task_{i}" for i in range(1, 12)}
    assert states_of(flow.run())[merged].result == 10


def test_merge_prefers_earlier_arguments() -> None:
    with Flow("merge") as flow:
        first, second = recorder("first", [])(), recorder("second", [])()
        forward = merge(first, second)
        backward = merge(second, first)
    states = states_of(flow.run())
    assert states[forward].result == "first"
    assert states[backward].result == "second"


def test_merge_returns_a_none_result_but_not_a_missing_one() -> None:
    @task
    def none() -> None:
        return None

    with Flow("merge") as flow:
        merged = merge(always_skip(), none(), recorder("later", [])())
    assert states_of(flow.run())[merged].result is None


def test_merge_task_settings() -> None:
    with Flow("merge"):
        merged = merge(identity(1), identity(2))
    assert isinstance(merged, Merge)
    assert merged.trigger is merge_trigger
    assert merged.skip_on_upstream_skip is False


def test_merge_run_directly() -> None:
    skip = signals.SKIP("x")
    assert Merge().run(task_2="b", task_1=NoResult, task_3="c") == "b"
    assert Merge().run(task_1=skip, task_2=NoResult) is None
    assert Merge().run() is None


def test_merge_errors() -> None:
    with pytest.raises(ValueError, match=r"merge\(\) was called outside a flow"):
        merge(identity)
    with Flow("errors"), pytest.raises(ValueError, match="at least one task"):
        merge()


def test_merge_fails_when_the_branches_failed() -> None:
    @task
    def broken() -> bool:
        raise ValueError("no condition")

    with Flow("merge") as flow:
        yes, no = recorder("yes", [])(), recorder("no", [])()
        ifelse(broken(), yes, no)
        merged = merge(yes, no)
    state = flow.run()
    assert states_of(state)[merged].is_failed()
    assert state.is_failed()


# -- FilterTask ----------------------------------------------------------------------------
@task
def maybe_skip(x: int) -> int:
    if x == 5:
        raise signals.SKIP("five is skipped")
    return x


@task
def fragile(x: int) -> int:
    if x % 3 == 0:
        raise ValueError(f"bad {x}")
    return x * 10


def test_filter_task_drops_failed_and_skipped_children_of_a_map() -> None:
    with Flow("filter") as flow:
        first = maybe_skip.map([1, 2, 3, 4, 5, 6, 7])
        second = fragile.map(first)  # child 4 (x=5) Skipped by propagation: NoResult
        kept = FilterTask()(second)
        total = identity(kept)
    state = flow.run()
    states = states_of(state)
    mapped = states[second]
    assert isinstance(mapped, Mapped)
    kinds = [type(s).__name__ for s in mapped.map_states]
    assert kinds == ["Success", "Success", "Failed", "Success", "Skipped", "Failed", "Success"]
    assert mapped.map_states[4].result is NoResult
    assert type(states[kept]) is Success
    assert states[kept].result == [10, 20, 40, 70]
    assert states[total].result == [10, 20, 40, 70]


def test_filter_task_drops_skip_signals_too() -> None:
    with Flow("filter") as flow:
        kept = FilterTask()(maybe_skip.map([4, 5, 6]))
    assert states_of(flow.run())[kept].result == [4, 6]


def test_filter_task_with_custom_filter_func() -> None:
    with Flow("filter") as flow:
        numbers = identity.map([1, 5, 2, 8, 3])
        big = FilterTask(filter_func=lambda r: r > 2, name="big")(numbers)
    states = states_of(flow.run())
    assert big.name == "big"
    assert states[big].result == [5, 8, 3]


def test_filter_task_runs_when_every_child_failed() -> None:
    with Flow("filter") as flow:
        kept = FilterTask()(fragile.map([3, 6]))
    state = flow.run()
    assert states_of(state)[kept].result == []
    assert state.is_successful()


def test_filter_task_runs_after_a_skipped_upstream() -> None:
    with Flow("filter") as flow:
        kept = FilterTask()(always_skip())
    assert states_of(flow.run())[kept].result == []


def test_filter_task_fails_clearly_when_its_upstream_failed_whole() -> None:
    @task
    def broken() -> list[int]:
        raise ValueError("no list")

    with Flow("filter") as flow:
        kept = FilterTask()(broken())
    state = states_of(flow.run())[kept]
    assert type(state) is Failed
    assert "instead of a list of results" in str(state.message)


def test_filter_task_settings_and_overrides() -> None:
    default = FilterTask()
    assert default.trigger is triggers.all_finished
    assert default.skip_on_upstream_skip is False
    assert default.filter_func is keep_result
    custom = FilterTask(trigger=triggers.all_successful, skip_on_upstream_skip=True)
    assert custom.trigger is triggers.all_successful
    assert custom.skip_on_upstream_skip is True


def test_filter_task_run_directly() -> None:
    values = [1, NoResult, None, ValueError("x"), signals.SKIP("s"), 0, ""]
    assert FilterTask().run(values) == [1, None, 0, ""]
    assert FilterTask().run(NoResult) == []
    assert FilterTask().run(signals.SKIP("upstream skipped")) == []
    assert FilterTask(filter_func=bool).run(values[:3]) == [1]
    with pytest.raises(TypeError, match="needs a list of results"):
        FilterTask().run(42)
    with pytest.raises(signals.FAIL, match="failed as a whole"):
        FilterTask().run(ValueError("boom"))


def test_filter_task_errors() -> None:
    with pytest.raises(TypeError, match="filter_func must be callable"):
        FilterTask(filter_func=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside a flow"):
        FilterTask()([1, 2])


# -- pickling (executors ship tasks and states to other processes) --------------------------
def test_control_flow_tasks_and_states_pickle() -> None:
    with Flow("pickle") as flow:
        yes, no = recorder("yes", [])(), recorder("no", [])()
        ifelse(identity(0), yes, no)
        merged = merge(yes, no)
        kept = FilterTask()(identity.map([1]))
    state = flow.run()
    for t in [*flow.get_tasks(task_type=CompareValue), merged, kept]:
        clone = cloudpickle.loads(cloudpickle.dumps(t))
        assert type(clone) is type(t) and clone.name == t.name
    (not_taken,) = [c for c in flow.get_tasks(task_type=CompareValue) if c.value is True]  # type: ignore[attr-defined]
    skipped = cloudpickle.loads(cloudpickle.dumps(states_of(state)[not_taken]))
    assert isinstance(skipped, Skipped) and isinstance(skipped.result, signals.SKIP)


def test_filter_task_after_a_map_over_a_skipped_upstream() -> None:
    with Flow("filter") as flow:
        mapped = identity.map(always_skip())
        kept = FilterTask()(mapped)
    states = states_of(flow.run())
    assert isinstance(states[mapped], Skipped)
    assert states[kept].result == []


@pytest.mark.parametrize("by_name", [False, True])
def test_filter_task_over_a_list_of_tasks_keeps_going_past_failures(by_name: bool) -> None:
    @task
    def broken() -> int:
        raise ValueError("x")

    with Flow("filter") as flow:
        items = [identity(1), broken(), always_skip(), 7, identity(None)]
        kept = FilterTask()(task_results=items) if by_name else FilterTask()(items)
    states = states_of(flow.run())
    (gathered,) = {e.upstream_task for e in flow.edges_to(kept)}
    assert gathered.trigger is triggers.all_finished
    assert gathered.skip_on_upstream_skip is False
    assert states[kept].result == [1, 7, None]


def test_filter_task_over_a_tuple_of_tasks_when_all_succeed() -> None:
    with Flow("filter") as flow:
        kept = FilterTask(filter_func=lambda r: r % 2 == 1)((identity(1), identity(2), 3))
    assert states_of(flow.run())[kept].result == [1, 3]


def test_filter_task_list_outside_a_flow_names_the_filter() -> None:
    with pytest.raises(ValueError, match="Task 'FilterTask' was called outside a flow"):
        FilterTask()([identity])


def test_merge_trigger_accepts_plain_collections() -> None:
    assert merge_trigger([Success(), Skipped()]) is True
    with pytest.raises(signals.SKIP):
        merge_trigger({"a": Skipped(), "b": Skipped()})
    with pytest.raises(signals.TRIGGERFAIL, match="1 merged branch"):
        merge_trigger({Skipped(), Failed()})


# -- Prefect 0.5.1's warnings and lists of tasks as branches -----------------------------------
def test_a_branch_with_upstream_tasks_warns_that_they_run_anyway() -> None:
    from lockgate.utilities.exceptions import PrefectWarning

    calls: list[str] = []
    with Flow("warned") as flow:
        source = recorder("source", calls, 1)
        branch = recorder("branch", calls)
        branch.set_upstream(source)
        with pytest.warns(PrefectWarning, match="'branch', has upstream dependencies"):
            ifelse(False, branch, recorder("other", calls))
    flow.run()
    assert "source" in calls and "branch" not in calls


def test_a_list_of_tasks_as_a_branch_becomes_a_list_task() -> None:
    from lockgate.tasks.core.collections import List
    from lockgate.utilities.exceptions import PrefectWarning

    calls: list[str] = []
    with Flow("listed") as flow:
        both = [recorder("a", calls, 1), recorder("b", calls, 2)]
        with pytest.warns(PrefectWarning):
            ifelse(True, both, recorder("else", calls))
        joined = merge(flow.get_tasks(task_type=List)[0])
    assert flow.run().result[joined].result == [1, 2]
    assert sorted(calls) == ["a", "b"]


def test_a_merge_that_skips_on_upstream_skip_is_refused() -> None:
    with pytest.raises(ValueError, match="skip_on_upstream_skip=False"):
        Merge(skip_on_upstream_skip=True)
