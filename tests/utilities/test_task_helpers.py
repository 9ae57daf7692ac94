"""Task helpers: @task, tags, as_task, unmapped, pause_task, contains_task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Task, context, task, triggers
from lockgate.engine import signals
from lockgate.engine.state import Paused, Pending, Success
from lockgate.tasks.core import Constant, Dict, FunctionTask, List, Set, Tuple
from lockgate.utilities.tasks import as_task, contains_task, pause_task, tags, unmapped


@task
def value(v: Any) -> Any:
    return v


def results(flow: Flow, *ts: Task) -> list[Any]:
    state = flow.run()
    assert state.is_successful(), (state, state.result)
    return [state.result[t].result for t in ts]


# -- @task --------------------------------------------------------------------------------------
class TestTaskDecorator:
    def test_without_arguments(self) -> None:
        @task
        def double(x: int) -> int:
            """Twice x."""
            return 2 * x

        assert isinstance(double, FunctionTask)
        assert double.name == "double"
        assert double.__doc__ == "Twice x."
        assert double.run(4) == 8
        assert double.run(x=5) == 10
        assert double.trigger is triggers.all_successful

    def test_with_arguments(self) -> None:
        @task(
            name="custom",
            slug="custom-slug",
            tags=["a", "b"],
            max_retries=2,
            retry_delay=timedelta(seconds=3),
            trigger=triggers.all_finished,
            timeout=5,
            skip_on_upstream_skip=False,
        )
        def fn() -> int:
            return 1

        assert isinstance(fn, FunctionTask)
        assert (fn.name, fn.slug, fn.tags) == ("custom", "custom-slug", {"a", "b"})
        assert (fn.max_retries, fn.retry_delay) == (2, timedelta(seconds=3))
        assert fn.trigger is triggers.all_finished
        assert fn.timeout == 5
        assert fn.skip_on_upstream_skip is False
        assert fn.run() == 1

    def test_empty_parentheses(self) -> None:
        @task()
        def fn() -> int:
            return 1

        assert isinstance(fn, FunctionTask)
        assert fn.name == "fn"

    def test_called_directly(self) -> None:
        def triple(x: int) -> int:
            return 3 * x

        t = task(triple, name="x3")
        assert t.name == "x3"
        assert t.run(2) == 6
        assert task(triple).name == "triple"

    def test_lambda(self) -> None:
        t = task(lambda x: x + 1)
        assert t.name == "<lambda>"
        with Flow("f") as flow:
            r = t(1)
        assert results(flow, r) == [2]

    def test_not_callable(self) -> None:
        with pytest.raises(TypeError, match="needs a callable"):
            task(42)  # type: ignore[call-overload]

    def test_invalid_task_arguments_name_the_function(self) -> None:
        with pytest.raises(ValueError, match=r"'fetch'.*retry_delay"):

            @task(max_retries=1)
            def fetch() -> None:
                return None

    def test_unknown_task_argument(self) -> None:
        with pytest.raises(TypeError):

            @task(retries=1)
            def fetch() -> None:
                return None

    def test_works_in_a_flow(self) -> None:
        @task
        def add(x: int, y: int = 10) -> int:
            return x + y

        with Flow("f") as flow:
            r = add(add(1), y=add(2, 3))
        assert results(flow, r) == [16]


# -- tags -----------------------------------------------------------------------------------------
class TestTags:
    def test_nesting_and_restore(self) -> None:
        with tags("a"):
            assert set(context.tags) == {"a"}
            with tags("b", "c"):
                assert set(context.tags) == {"a", "b", "c"}
                t = Task(tags=["own"])
            assert set(context.tags) == {"a"}
        assert "tags" not in context
        assert t.tags == {"a", "b", "c", "own"}

    def test_repeated_tag(self) -> None:
        with tags("a"), tags("a"):
            assert Task().tags == {"a"}

    def test_restored_after_an_error(self) -> None:
        with pytest.raises(RuntimeError), tags("x"):
            raise RuntimeError("inside")
        assert "tags" not in context
        assert Task().tags == set()

    def test_public_alias(self) -> None:
        assert lockgate.tags is tags


# -- as_task --------------------------------------------------------------------------------------
class TestAsTask:
    def test_task_is_returned_as_is(self) -> None:
        t = Task()
        assert as_task(t) is t
        assert as_task(unmapped(t)) is t

    @pytest.mark.parametrize("v", [1, "s", None, [1, 2], (1,), {"a": 1}, {1}], ids=repr)
    def test_plain_value_becomes_a_constant(self, v: Any) -> None:
        c = as_task(v)
        assert isinstance(c, Constant)
        assert c.value == v
        assert c.run() == v

    def test_unmapped_plain_value(self) -> None:
        c = as_task(unmapped(3))
        assert isinstance(c, Constant)
        assert c.value == 3

    def test_constant_names(self) -> None:
        assert Constant(5).name == "5"
        assert Constant("x" * 100).name == "Constant[str]"
        assert Constant(1, name="one").name == "one"

    @pytest.mark.parametrize(
        ("make", "cls", "expected"),
        [
            (lambda a, b: [a, 1, b], List, ["A", 1, "B"]),
            (lambda a, b: (a, b), Tuple, ("A", "B")),
            (lambda a, b: {a, b}, Set, {"A", "B"}),
            (lambda a, b: {"k": a, b: 2}, Dict, {"k": "A", "B": 2}),
            (lambda a, b: [[a], (b,)], List, [["A"], ("B",)]),
        ],
        ids=["list", "tuple", "set", "dict", "nested"],
    )
    def test_collections_become_collection_tasks(self, make: Any, cls: type, expected: Any) -> None:
        with Flow("f") as flow:
            a, b = value("A"), value("B")
            coll = as_task(make(a, b))
        assert isinstance(coll, cls)
        assert coll in flow.tasks
        assert results(flow, coll) == [expected]

    def test_collections_with_an_explicit_flow(self) -> None:
        flow = Flow("f")
        a = value.copy()
        flow.set_dependencies(a, keyword_tasks={"v": 1})
        coll = as_task([a, 2], flow=flow)
        assert isinstance(coll, List)
        assert flow.upstream_tasks(coll) == {a}
        assert results(flow, coll) == [[1, 2]]

    def test_collections_outside_a_flow(self) -> None:
        with pytest.raises(ValueError, match="outside a flow"):
            as_task([Task(), 1])


# -- unmapped ---------------------------------------------------------------------------------------
class TestUnmapped:
    def test_wraps_a_value(self) -> None:
        t = Task(name="t")
        u = unmapped(t)
        assert u.task is t
        assert repr(u) == "unmapped(<Task: t>)"
        assert lockgate.unmapped is unmapped

    def test_keeps_an_input_whole_in_a_map(self) -> None:
        @task
        def pair(x: int, ys: list[int]) -> tuple[int, int]:
            return (x, len(ys))

        with Flow("f") as flow:
            ys = value([7, 8, 9])
            literal = pair.map([1, 2], unmapped([0]))
            from_task = pair.map(ys, ys=unmapped(ys))
        assert results(flow, literal, from_task) == [[(1, 1), (2, 1)], [(7, 3), (8, 3), (9, 3)]]


# -- pause_task -------------------------------------------------------------------------------------
class TestPauseTask:
    def test_raises_pause(self) -> None:
        with pytest.raises(signals.PAUSE) as info:
            pause_task()
        assert isinstance(info.value.state, Paused)
        assert "pause_task" in info.value.state.message

    def test_custom_message(self) -> None:
        with pytest.raises(signals.PAUSE, match="needs approval") as info:
            pause_task("needs approval")
        assert info.value.state.message == "needs approval"

    def test_passes_when_resuming(self) -> None:
        with context(resume=True):
            assert pause_task("never raised") is None
        with context(resume=False), pytest.raises(signals.PAUSE):
            pause_task()

    def test_in_a_flow_pauses_then_resumes(self) -> None:
        calls: list[int] = []

        @task
        def approve(x: int) -> int:
            calls.append(x)
            pause_task("approve the load?")
            return x * 2

        @task
        def load(y: int) -> int:
            return y + 1

        with Flow("f") as flow:
            a = approve(3)
            b = load(a)
        first = flow.run()
        assert first.is_running()
        assert isinstance(first.result[a], Paused)
        assert first.result[a].message == "approve the load?"
        assert first.result[a].cached_inputs == {"x": 3}
        assert type(first.result[b]) is Pending

        second = flow.run(task_states=first.result, start_tasks=[a])
        assert isinstance(second, Success)
        assert second.result[a].result == 6
        assert second.result[b].result == 7
        assert calls == [3, 3]


# -- contains_task --------------------------------------------------------------------------------
class TestContainsTask:
    @pytest.mark.parametrize(
        ("make", "expected"),
        [
            (lambda t: t, True),
            (lambda t: [1, t], True),
            (lambda t: (t,), True),
            (lambda t: {t}, True),
            (lambda t: frozenset([t]), True),
            (lambda t: {"k": t}, True),
            (lambda t: {t: "v"}, True),
            (lambda t: [1, [2, (3, {"deep": t})]], True),
            (lambda t: 1, False),
            (lambda t: "task", False),
            (lambda t: None, False),
            (lambda t: [1, [2, (3,)]], False),
            (lambda t: {"k": "v"}, False),
            (lambda t: [], False),
            (lambda t: Task, False),
        ],
        ids=[
            "task",
            "list",
            "tuple",
            "set",
            "frozenset",
            "dict value",
            "dict key",
            "deep",
            "int",
            "str",
            "None",
            "nested without",
            "dict without",
            "empty",
            "the Task class",
        ],
    )
    def test_contains_task(self, make: Any, expected: bool) -> None:
        assert contains_task(make(Task())) is expected
