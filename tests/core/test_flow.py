"""Flow: reading and changing the graph, errors at the moment they are made, parameters,
constants and collections, and the cost of building a flow (O(N), counted, not timed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lockgate import Flow, Parameter, Task, task, triggers
from lockgate.core import Edge
from lockgate.engine.flow_runner import FlowRunner
from lockgate.engine.result import NoResult
from lockgate.engine.state import Failed, Success
from lockgate.tasks.core import Dict, List, Set, Tuple


# -- helpers ---------------------------------------------------------------------------------
class XY(Task):
    """Two optional inputs, returned as a tuple."""

    def run(self, x: Any = None, y: Any = None) -> tuple[Any, Any]:
        return (x, y)


class AnyKeys(Task):
    def run(self, **inputs: Any) -> dict[str, Any]:
        return inputs


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def value(v: Any) -> Any:
    return v


@task
def noop() -> int:
    return 1


@task
def fail() -> None:
    raise RuntimeError("boom")


def tasks(*names: str) -> list[XY]:
    return [XY(name=n) for n in names]


def results(flow: Flow, *ts: Task, **run_kwargs: Any) -> list[Any]:
    state = flow.run(**run_kwargs)
    assert state.is_successful(), (state, state.result)
    return [state.result[t].result for t in ts]


def snapshot(flow: Flow) -> tuple[set[Task], set[Edge], dict[Task, dict[str, Any]]]:
    return flow.tasks, flow.edges, {t: dict(v) for t, v in flow.constants.items()}


# -- construction ----------------------------------------------------------------------------
class TestConstruction:
    def test_empty_flow(self) -> None:
        flow = Flow("empty")
        assert flow.name == "empty"
        assert flow.tasks == set()
        assert flow.edges == set()
        assert flow.root_tasks() == set()
        assert flow.sorted_tasks() == ()

    def test_tasks_and_edges_arguments(self) -> None:
        a, b, c = tasks("a", "b", "c")
        flow = Flow("f", tasks=[c], edges=[Edge(a, b, key="x"), Edge(b, c)], validate=True)
        assert flow.tasks == {a, b, c}
        assert flow.edges == {Edge(a, b, key="x"), Edge(b, c)}
        assert flow.reference_tasks() == {c}

    def test_reference_tasks_argument(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f", edges=[Edge(a, b)], reference_tasks=[a])
        assert flow.reference_tasks() == {a}

    def test_name_must_be_a_string(self) -> None:
        with pytest.raises(TypeError, match="name must be a string"):
            Flow(3)  # type: ignore[arg-type]

    def test_handlers_must_be_callable(self) -> None:
        with pytest.raises(TypeError, match=r"Flow 'f'.*not callable"):
            Flow("f", state_handlers=[1])  # type: ignore[list-item]
        with pytest.raises(TypeError, match=r"Flow 'f'.*on_failure must be callable"):
            Flow("f", on_failure=1)  # type: ignore[arg-type]

    def test_nested_with_blocks(self) -> None:
        with Flow("outer") as outer:
            a = noop()
            with Flow("inner") as inner:
                b = noop()
            c = noop()
        assert outer.tasks == {a, c}
        assert inner.tasks == {b}


# -- reading and changing the graph ------------------------------------------------------------
class TestGraph:
    def test_add_task(self) -> None:
        flow = Flow("f")
        (a,) = tasks("a")
        assert flow.add_task(a) is a
        assert flow.add_task(a) is a  # twice: nothing changes
        assert flow.tasks == {a}

    def test_tasks_and_edges_are_copies(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        flow.add_edge(a, b)
        flow.tasks.add(XY())
        flow.edges.clear()
        assert flow.tasks == {a, b}
        assert flow.edges == {Edge(a, b)}

    def test_add_edge(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        edge = flow.add_edge(a, b, key="x", mapped=True)
        assert edge == Edge(a, b, key="x", mapped=True)
        assert (edge.upstream_task, edge.downstream_task, edge.key, edge.mapped) == (
            a,
            b,
            "x",
            True,
        )
        assert flow.tasks == {a, b}

    def test_add_the_same_state_edge_twice(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        flow.add_edge(a, b)
        flow.add_edge(a, b)
        assert flow.edges == {Edge(a, b)}
        assert len(flow.edges_to(b)) == 1

    def test_reading(self) -> None:
        #   a -> b -> d
        #   a -> c -> d      e alone
        a, b, c, d, e = tasks("a", "b", "c", "d", "e")
        flow = Flow("f")
        flow.add_edge(a, b, key="x")
        flow.add_edge(a, c)
        flow.add_edge(b, d, key="x")
        flow.add_edge(c, d, key="y")
        flow.add_task(e)
        assert flow.edges_to(d) == {Edge(b, d, key="x"), Edge(c, d, key="y")}
        assert flow.edges_from(a) == {Edge(a, b, key="x"), Edge(a, c)}
        assert flow.edges_to(a) == set()
        assert flow.edges_from(d) == set()
        assert flow.upstream_tasks(d) == {b, c}
        assert flow.downstream_tasks(a) == {b, c}
        assert flow.upstream_tasks(e) == set() == flow.downstream_tasks(e)
        assert flow.root_tasks() == {a, e}
        assert flow.terminal_tasks() == {d, e}

    def test_set_dependencies(self) -> None:
        a, b, c, d = tasks("a", "b", "c", "d")
        flow = Flow("f")
        flow.set_dependencies(
            b, upstream_tasks=[a], downstream_tasks=[c], keyword_tasks={"x": d, "y": 5}
        )
        assert flow.edges == {Edge(a, b), Edge(b, c), Edge(d, b, key="x")}
        assert flow.constants == {b: {"y": 5}}
        assert results(flow, b) == [(d.run(), 5)]

    def test_set_dependencies_mapped(self) -> None:
        flow = Flow("f")
        items = value.copy()
        flow.set_dependencies(items, keyword_tasks={"v": [1, 2, 3]})
        mapped = inc.copy()
        flow.set_dependencies(mapped, keyword_tasks={"x": items}, mapped=True)
        assert flow.edges == {Edge(items, mapped, key="x", mapped=True)}
        assert results(flow, mapped) == [[2, 3, 4]]

    def test_chain(self) -> None:
        a, b, c, d = tasks("a", "b", "c", "d")
        flow = Flow("f")
        edges = flow.chain(a, b, c, d)
        assert edges == [Edge(a, b), Edge(b, c), Edge(c, d)]
        assert flow.sorted_tasks() == (a, b, c, d)
        assert flow.chain(a) == []

    def test_update(self) -> None:
        with Flow("one") as one:
            a = inc(1)
        with Flow("two") as two:
            b = inc(10)
            c = add(b, 5)
        one.update(two)
        assert one.tasks == {a, b, c}
        assert one.edges == two.edges
        assert one.constants == {a: {"x": 1}, b: {"x": 10}, c: {"y": 5}}
        assert results(one, a, c) == [2, 16]
        assert two.tasks == {b, c}

    def test_replace(self) -> None:
        with Flow("f") as flow:
            a = inc(1)
            b = inc(a)
            c = add(b, y=5)
        flow.set_reference_tasks([b])
        new = inc.copy(name="double_inc")
        flow.replace(b, new)
        assert b not in flow.tasks
        assert flow.tasks == {a, new, c}
        assert flow.edges == {Edge(a, new, key="x"), Edge(new, c, key="x")}
        assert flow.reference_tasks() == {new}
        assert flow.constants == {a: {"x": 1}, c: {"y": 5}}
        assert results(flow, c) == [8]

    def test_replace_carries_constants_of_the_old_task(self) -> None:
        with Flow("f") as flow:
            a = add(1, y=2)
        new = add.copy(name="add2")
        flow.replace(a, new)
        assert flow.constants == {new: {"x": 1, "y": 2}}
        assert results(flow, new) == [3]

    def test_replace_a_task_not_in_the_flow(self) -> None:
        with pytest.raises(ValueError, match="Task 'ghost' is not in flow 'f'"):
            Flow("f").replace(XY(name="ghost"), XY())

    def test_failed_replace_leaves_the_flow_unchanged(self) -> None:
        with Flow("f") as flow:
            a = inc(1)
            b = inc(a)
            inc(b)
        before = snapshot(flow)
        with pytest.raises(TypeError, match="no run\\(\\) argument named 'x'"):
            flow.replace(b, noop.copy())
        assert snapshot(flow) == before

    def test_copy(self) -> None:
        def handler(flow: Flow, old: Any, new: Any) -> None:
            return None

        with Flow("f", state_handlers=[handler]) as flow:
            p = Parameter("p", default=1)
            a = inc(p)
            b = add(a, y=2)
        flow.set_reference_tasks([a])
        clone = flow.copy()
        assert clone is not flow
        assert clone.name == "f"
        assert clone.tasks == flow.tasks
        assert clone.edges == flow.edges
        assert clone.constants == flow.constants
        assert clone.parameters() == {p}
        assert clone.reference_tasks() == {a}
        assert clone.state_handlers == [handler]
        # independent afterwards
        clone.add_edge(b, XY(name="extra"))
        clone.constants[b]["y"] = 100
        assert len(flow.tasks) == 3
        assert flow.constants[b] == {"y": 2}
        assert results(flow, b) == [4]

    def test_validate(self) -> None:
        a, b, c = tasks("a", "b", "c")
        flow = Flow("f")
        flow.chain(a, b, c)
        flow.set_reference_tasks([b])
        flow.validate()  # no error

    def test_get_tasks(self) -> None:
        a = XY(name="a", tags=["x", "y"])
        b = XY(name="b", slug="b-slug", tags=["x"])
        c = XY(name="a")
        p = Parameter("p", tags=["x"])
        flow = Flow("f", tasks=[a, b, c, p])
        assert flow.get_tasks() == [a, b, c, p]
        assert flow.get_tasks(name="a") == [a, c]
        assert flow.get_tasks(slug="b-slug") == [b]
        assert flow.get_tasks(tags=["x"]) == [a, b, p]
        assert flow.get_tasks(tags=["x", "y"]) == [a]
        assert flow.get_tasks(task_type=Parameter) == [p]
        assert flow.get_tasks(name="a", tags=["y"]) == [a]
        assert flow.get_tasks(name="nobody") == []

    def test_parameters(self) -> None:
        with Flow("f") as flow:
            p, q = Parameter("p"), Parameter("q", default=2)
            s = add(p, q)
        assert flow.parameters() == {p, q}
        assert s not in flow.parameters()
        assert Flow("g").parameters() == set()

    def test_reference_tasks_default_to_terminal_tasks(self) -> None:
        a, b, c = tasks("a", "b", "c")
        flow = Flow("f")
        flow.add_edge(a, b)
        flow.add_task(c)
        assert flow.reference_tasks() == {b, c}
        flow.add_edge(b, c)
        assert flow.reference_tasks() == {c}

    def test_set_reference_tasks_decides_the_flow_state(self) -> None:
        with Flow("f") as flow:
            good = noop()
            bad = fail()
        assert flow.reference_tasks() == {good, bad}
        assert isinstance(flow.run(), Failed)
        flow.set_reference_tasks([good])
        assert flow.reference_tasks() == {good}
        assert isinstance(flow.run(), Success)

    def test_set_reference_tasks_outside_the_flow(self) -> None:
        (a,) = tasks("a")
        flow = Flow("f")
        with pytest.raises(ValueError) as info:
            flow.set_reference_tasks([XY(name="stranger")])
        assert "flow 'f'" in str(info.value)
        assert "stranger" in str(info.value)
        flow.add_task(a)
        flow.set_reference_tasks([a])
        assert flow.reference_tasks() == {a}

    def test_sorted_tasks_orders_upstream_first(self) -> None:
        a, b, c, d, e = tasks("a", "b", "c", "d", "e")
        flow = Flow("f")
        # added in reverse dependency order on purpose
        flow.add_edge(d, e)
        flow.add_edge(c, d)
        flow.add_edge(b, d)
        flow.add_edge(a, b)
        flow.add_edge(a, c)
        order = flow.sorted_tasks()
        assert set(order) == {a, b, c, d, e}
        for edge in flow.edges:
            assert order.index(edge.upstream_task) < order.index(edge.downstream_task)

    def test_sorted_tasks_ties_keep_insertion_order(self) -> None:
        ts = tasks(*"gfedcba")
        flow = Flow("f", tasks=ts)
        assert flow.sorted_tasks() == tuple(ts)

    def test_sorted_tasks_with_root_tasks(self) -> None:
        #  a -> b -> c -> d ;  x -> c ; y alone
        a, b, c, d, x, y = tasks("a", "b", "c", "d", "x", "y")
        flow = Flow("f")
        flow.chain(a, b, c, d)
        flow.add_edge(x, c)
        flow.add_task(y)
        assert flow.sorted_tasks(root_tasks=[c]) == (c, d)
        assert flow.sorted_tasks(root_tasks=[b]) == (b, c, d)
        assert set(flow.sorted_tasks(root_tasks=[x, y])) == {x, c, d, y}
        assert flow.sorted_tasks(root_tasks=[]) == flow.sorted_tasks()  # none given: all
        with pytest.raises(ValueError, match="was not found in Flow"):
            flow.sorted_tasks(root_tasks=[Task(name="stranger")])
        assert len(flow.sorted_tasks()) == 6

    def test_sorted_tasks_sees_later_changes(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f", tasks=[b, a])
        assert flow.sorted_tasks() == (b, a)
        flow.add_edge(a, b)
        assert flow.sorted_tasks() == (a, b)
        (c,) = tasks("c")
        flow.add_task(c)
        assert flow.sorted_tasks() == (a, b, c)

    def test_slugs(self) -> None:
        a1, a2 = XY(name="a"), XY(name="a")
        taken = XY(name="z", slug="a-1")
        custom = XY(name="b", slug="custom")
        p = Parameter("p")
        flow = Flow("f", tasks=[taken, a1, a2, custom, p])
        slugs = flow.slugs()
        assert slugs == {taken: "a-1", a1: "a-2", a2: "a-3", custom: "custom", p: "p"}
        assert len(set(slugs.values())) == len(slugs)
        assert flow.slugs() == slugs  # stable


# -- errors at the moment they are made --------------------------------------------------------
class TestErrors:
    def test_cycle_message_shows_the_path(self) -> None:
        a, b, c, d = tasks("a", "b", "c", "d")
        flow = Flow("f")
        flow.chain(a, b, c, d)
        before = snapshot(flow)
        with pytest.raises(ValueError) as info:
            flow.add_edge(d, a)
        message = str(info.value)
        assert "d -> a" in message
        assert "a -> b -> c -> d -> a" in message
        assert "cycle" in message
        assert snapshot(flow) == before

    def test_short_cycle(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        flow.add_edge(a, b, key="x")
        with pytest.raises(ValueError, match=r"edge b -> a would create a cycle \(a -> b -> a\)"):
            flow.add_edge(b, a)

    def test_cycle_through_the_functional_api(self) -> None:
        a = XY(name="a")
        with Flow("f") as flow:
            b = inc(a)
            c = inc(b)
            with pytest.raises(ValueError, match="a -> inc -> inc -> a"):
                a.set_upstream(c, key="x")
        assert flow.edges_to(a) == set()

    def test_self_loop(self) -> None:
        (a,) = tasks("a")
        flow = Flow("f")
        with pytest.raises(ValueError, match="Task 'a' cannot depend on itself"):
            flow.add_edge(a, a)
        with pytest.raises(ValueError, match="cannot depend on itself"):
            flow.add_edge(a, a, key="x")
        assert flow.edges == set()

    def test_duplicate_edge_key(self) -> None:
        a, b, c = tasks("a", "b", "c")
        flow = Flow("f")
        flow.add_edge(a, c, key="x")
        with pytest.raises(ValueError) as info:
            flow.add_edge(b, c, key="x")
        message = str(info.value)
        assert "Task 'c'" in message
        assert "'x'" in message
        assert flow.edges_to(c) == {Edge(a, c, key="x")}

    def test_keys_that_contain_one_another_are_different_inputs(self) -> None:
        @task
        def three(ab: int, a: int, b: int) -> int:
            return ab + a + b

        x, y, z, w = tasks("x", "y", "z", "w")
        flow = Flow("f")
        flow.add_edge(x, three, key="ab")
        flow.add_edge(y, three, key="a")  # "a" is in "ab", but is another input
        flow.add_edge(z, three, key="b")
        for key in ("ab", "a", "b"):  # the first, second and third key are each bound
            with pytest.raises(ValueError, match=f"already has an input bound to '{key}'"):
                flow.add_edge(w, three, key=key)
        assert {e.key for e in flow.edges_to(three)} == {"ab", "a", "b"}

    def test_key_bound_to_a_constant_then_to_a_task(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        flow.set_dependencies(b, keyword_tasks={"x": 1})
        with pytest.raises(ValueError, match="already has an input bound to 'x'"):
            flow.add_edge(a, b, key="x")
        with pytest.raises(ValueError, match="already has an input bound to 'x'"):
            flow.set_dependencies(b, keyword_tasks={"x": 2})

    def test_duplicate_key_through_the_functional_api(self) -> None:
        t = XY(name="t")
        with Flow("f"):
            t.bind(x=noop())
            with pytest.raises(ValueError, match="'x'"):
                t.bind(x=noop())

    def test_key_not_an_argument_lists_the_real_arguments(self) -> None:
        a, b = tasks("a", "b")
        flow = Flow("f")
        with pytest.raises(TypeError) as info:
            flow.add_edge(a, b, key="z")
        message = str(info.value)
        assert "Task 'b'" in message
        assert "'z'" in message
        assert "x, y" in message
        assert flow.edges == set()

    def test_key_for_a_task_without_arguments(self) -> None:
        with pytest.raises(TypeError, match=r"arguments are: \(none\)"):
            Flow("f").add_edge(XY(), noop, key="x")

    def test_any_key_for_var_keyword_run(self) -> None:
        a, b = XY(name="a"), AnyKeys()
        flow = Flow("f")
        flow.add_edge(a, b, key="anything")
        assert results(flow, b) == [{"anything": (None, None)}]

    @pytest.mark.parametrize("key", [1, "two words", "5th", "a.b", ""])
    def test_edge_key_must_be_an_argument_name(self, key: Any) -> None:
        with pytest.raises(ValueError, match="not a valid argument name"):
            Edge(XY(), XY(), key=key)
        with pytest.raises(ValueError, match="not a valid argument name"):
            Flow("f").add_edge(XY(), XY(), key=key)

    def test_edge_tasks_are_both_ends(self) -> None:
        a, b = XY(name="a"), XY(name="b")
        assert Edge(a, b, key="x").tasks == {a, b}

    def test_duplicate_parameter_name(self) -> None:
        flow = Flow("f")
        flow.add_task(Parameter("when"))
        with pytest.raises(ValueError, match="'when'"):
            flow.add_task(Parameter("when", default=1))
        assert len(flow.parameters()) == 1

    def test_duplicate_parameter_name_through_the_functional_api(self) -> None:
        with Flow("f"):
            inc(Parameter("x"))
            with pytest.raises(ValueError, match="'x'"):
                inc(Parameter("x"))

    def test_a_parameters_name_and_slug_are_fixed(self) -> None:
        when = Parameter("when")
        with pytest.raises(AttributeError, match="cannot be changed"):
            when.name = "then"
        with pytest.raises(AttributeError, match="cannot be changed"):
            when.copy(slug="when-2")
        assert (when.name, when.slug) == ("when", "when")

    def test_duplicate_slug(self) -> None:
        flow = Flow("f")
        flow.add_task(XY(name="a", slug="same"))
        with pytest.raises(ValueError) as info:
            flow.add_task(XY(name="b", slug="same"))
        assert "'same'" in str(info.value)
        assert "unique" in str(info.value)

    def test_slug_clashing_with_a_parameter(self) -> None:
        flow = Flow("f")
        flow.add_task(Parameter("p"))
        with pytest.raises(ValueError, match="'p'"):
            flow.add_task(XY(slug="p"))

    @pytest.mark.parametrize(
        "thing", [3, "task", lambda: 1, None, Edge], ids=["int", "str", "function", "None", "class"]
    )
    def test_non_task(self, thing: Any) -> None:
        flow = Flow("f")
        with pytest.raises(TypeError) as info:
            flow.add_task(thing)
        message = str(info.value)
        assert "Flow 'f'" in message
        assert "@task" in message
        assert type(thing).__name__ in message
        assert flow.tasks == set()

    def test_non_task_edge_end(self) -> None:
        flow = Flow("f")
        with pytest.raises(TypeError, match="downstream_task must be a Task"):
            flow.add_edge(XY(), 3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="upstream_task must be a Task"):
            flow.add_edge("a", XY())  # type: ignore[arg-type]
        assert flow.tasks == set()


# -- running: parameters -------------------------------------------------------------------------
class TestRunParameters:
    def test_values_reach_tasks(self) -> None:
        with Flow("f") as flow:
            x, y = Parameter("x"), Parameter("y")
            s = add(x, y)
        assert results(flow, s, parameters={"x": 1, "y": 2}) == [3]
        assert results(flow, s, parameters={"x": 10, "y": 20}) == [30]

    def test_unknown_parameter(self) -> None:
        with Flow("f") as flow:
            inc(Parameter("x"))
        with pytest.raises(ValueError) as info:
            flow.run(parameters={"x": 1, "typo": 2})
        message = str(info.value)
        assert "Flow 'f'" in message
        assert "'typo'" in message
        assert "x" in message.split("parameters are:")[1]

    def test_unknown_parameter_in_a_flow_without_parameters(self) -> None:
        with Flow("f") as flow:
            noop()
        with pytest.raises(ValueError, match=r"no parameter named 'x'.*\(none\)"):
            flow.run(parameters={"x": 1})

    def test_missing_required_parameter(self) -> None:
        with Flow("f") as flow:
            add(Parameter("x"), Parameter("y"))
        with pytest.raises(ValueError) as info:
            flow.run(parameters={"x": 1})
        message = str(info.value)
        assert "'y'" in message
        assert "'x'" not in message
        assert "required but not provided" in message
        assert "parameters={'y': ...}" in message
        with pytest.raises(ValueError, match="'x', 'y'"):
            flow.run()

    def test_default_makes_a_parameter_optional(self) -> None:
        with Flow("f") as flow:
            x = Parameter("x", default=5)
            zero = Parameter("zero", default=0)
            s = add(x, zero)
        assert not x.required and not zero.required
        assert results(flow, s) == [5]
        assert results(flow, s, parameters={"zero": 1}) == [6]

    def test_not_required_without_default_gives_none(self) -> None:
        with Flow("f") as flow:
            v = value(Parameter("v", required=False))
        assert results(flow, v) == [None]

    def test_parameter_task_fails_clearly_when_the_runner_gets_no_value(self) -> None:
        with Flow("f") as flow:
            p = Parameter("needed")
            inc(p)
        state = FlowRunner(flow).run(return_tasks=[p])
        assert isinstance(state, Failed)
        message = state.result[p].message
        assert "'needed'" in message
        assert "required but not provided" in message
        assert "parameters={'needed': ...}" in message


class TestOnFailure:
    def test_it_is_appended_to_the_flow_state_handlers(self) -> None:
        def audit(flow: Flow, old: Any, new: Any) -> None:
            return None

        def alert(flow: Flow, state: Any) -> None:
            return None

        f = Flow("f", state_handlers=[audit], on_failure=alert)
        assert len(f.state_handlers) == 2 and f.state_handlers[1].on_failure is alert
        assert len(f.copy().state_handlers) == 2

    def test_called_once_when_the_flow_fails(self) -> None:
        seen: list[Any] = []
        with Flow("f", on_failure=lambda flow, state: seen.append((flow, state))) as flow:
            fail()
        state = flow.run()
        assert state.is_failed()
        assert seen == [(flow, state)]

    def test_not_called_when_the_flow_succeeds(self) -> None:
        seen: list[Any] = []
        with Flow("f", on_failure=lambda flow, state: seen.append(state)) as flow:
            noop()
        assert flow.run().is_successful()
        assert seen == []


class TestRunResultMapsEveryTask:
    def test_a_finished_state_given_runs_nothing_and_lists_every_task_as_not_run(self) -> None:
        with Flow("f") as flow:
            first = noop()
            second = inc(first)
        given = Success(message="done earlier")
        state = flow.run(state=given)
        assert isinstance(state, Success) and state.message == "done earlier"
        assert set(state.result) == {first, second}
        for task_state in state.result.values():
            assert task_state.is_pending() and task_state.message == "Task not run."
        assert state is given  # the same object, now with a result, as in Prefect 0.5.1

    def test_a_finished_state_with_some_task_states_keeps_them(self) -> None:
        with Flow("f") as flow:
            first = noop()
            second = inc(first)
        state = flow.run(state=Success(result={first: Success(result=1)}))
        assert state.result[first] == Success(result=1)
        assert state.result[second].is_pending()

    def test_return_tasks_still_asks_for_some_tasks_only(self) -> None:
        with Flow("f") as flow:
            first = noop()
            second = inc(first)
        state = flow.run(return_tasks=[second])
        assert set(state.result) == {second}
        assert flow.run(state=Success(), return_tasks=[second]).result is NoResult


# -- constants and collections -----------------------------------------------------------------
class TestConstantsAndCollections:
    def test_constants_are_inputs_not_tasks(self) -> None:
        with Flow("f") as flow:
            one = inc(1)
            assert flow.tasks == {one}
            two = add(one, 3)
        assert flow.tasks == {one, two}
        assert flow.constants == {one: {"x": 1}, two: {"y": 3}}
        assert results(flow, two) == [5]

    @pytest.mark.parametrize(
        "literal",
        [[1, 2], (1, 2), {1, 2}, {"a": 1}, None, "text", [[1], {"k": (2,)}]],
        ids=["list", "tuple", "set", "dict", "None", "str", "nested"],
    )
    def test_plain_values_are_passed_as_they_are(self, literal: Any) -> None:
        with Flow("f") as flow:
            v = value(literal)
        assert flow.tasks == {v}
        assert results(flow, v) == [literal]

    def test_list(self) -> None:
        with Flow("f") as flow:
            a, b = value("a"), value("b")
            v = value([a, 2, b])
        (coll,) = flow.upstream_tasks(v)
        assert isinstance(coll, List)
        assert flow.upstream_tasks(coll) == {a, b}
        assert flow.tasks == {a, b, coll, v}
        assert results(flow, v) == [["a", 2, "b"]]

    def test_tuple(self) -> None:
        with Flow("f") as flow:
            a, b = value("a"), value("b")
            v = value((a, b))
        (coll,) = flow.upstream_tasks(v)
        assert isinstance(coll, Tuple)
        assert results(flow, v) == [("a", "b")]

    def test_set(self) -> None:
        with Flow("f") as flow:
            a, b = value("a"), value("b")
            v = value({a, b})
        (coll,) = flow.upstream_tasks(v)
        assert isinstance(coll, Set)
        assert results(flow, v) == [{"a", "b"}]

    def test_dict_with_task_keys_and_values(self) -> None:
        with Flow("f") as flow:
            a, b = value("A"), value("B")
            v = value({"k": a, b: 1})
        (coll,) = flow.upstream_tasks(v)
        assert isinstance(coll, Dict)
        (got,) = results(flow, v)
        assert got == {"k": "A", "B": 1}
        assert list(got) == ["k", "B"]

    def test_nested(self) -> None:
        with Flow("f") as flow:
            a, b = value("a"), value("b")
            v = value([[a], b])
        (outer,) = flow.upstream_tasks(v)
        inner = flow.upstream_tasks(outer) - {b}
        assert isinstance(outer, List)
        assert all(isinstance(t, List) for t in inner)
        assert results(flow, v) == [[["a"], "b"]]

    @pytest.mark.parametrize("size", [3, 12, 25])
    def test_collections_keep_element_order(self, size: int) -> None:
        # 12 and 25 elements: "item_10" sorts before "item_2" as text, not as a number.
        with Flow("f") as flow:
            items = [value(i) if i % 2 else i for i in range(size)]
            as_list = value(items)
            as_tuple = value(tuple(items))
            as_dict = value({f"k{i}": item for i, item in enumerate(items)})
            keys_are_tasks = value({item: i for i, item in enumerate(items)})
        got_list, got_tuple, got_dict, got_keys = results(
            flow, as_list, as_tuple, as_dict, keys_are_tasks
        )
        assert got_list == list(range(size))
        assert got_tuple == tuple(range(size))
        assert list(got_dict.items()) == [(f"k{i}", i) for i in range(size)]
        assert list(got_keys.items()) == [(i, i) for i in range(size)]

    def test_collection_of_tasks_passed_positionally_to_an_operator(self) -> None:
        with Flow("f") as flow:
            a = value(1)
            got = value([a, 5])[1]
        assert results(flow, got) == [5]


# -- building cost: O(N), counted deterministically --------------------------------------------
class WorkMeter:
    """Counts the graph work a flow does while it is built.

    The flow's adjacency maps (``_edges_to``, ``_edges_from``) are replaced by dicts that
    count every lookup and every edge visited when one of their edge lists is iterated
    (cycle checks, key checks), and its task map counts every task visited when it is
    scanned whole. The count is deterministic: no clocks involved.
    """

    def __init__(self, flow: Flow) -> None:
        for attr in ("_tasks", "_edges_to", "_edges_from"):
            assert isinstance(getattr(flow, attr, None), dict), (
                f"Flow.{attr} is gone; update WorkMeter to the new graph storage"
            )
            assert not getattr(flow, attr), "install the meter on an empty flow"
        self.steps = 0
        meter = self

        class CountingList(list):  # type: ignore[type-arg]
            def __iter__(self) -> Iterator[Any]:
                meter.steps += len(self)
                return super().__iter__()

        class CountingAdjacency(dict):  # type: ignore[type-arg]
            def get(self, key: Any, default: Any = None) -> Any:
                meter.steps += 1
                return super().get(key, default)

            def setdefault(self, key: Any, default: Any = None) -> Any:
                if key not in self:
                    default = CountingList(default or ())
                return super().setdefault(key, default)

            def __getitem__(self, key: Any) -> Any:
                meter.steps += 1
                return super().__getitem__(key)

        class CountingTasks(dict):  # type: ignore[type-arg]
            def __iter__(self) -> Iterator[Any]:
                meter.steps += len(self)
                return super().__iter__()

        flow._edges_to = CountingAdjacency()
        flow._edges_from = CountingAdjacency()
        flow._tasks = CountingTasks()


def chain_functional(flow: Flow, n: int) -> None:
    with flow:
        x = inc(0)
        for _ in range(n - 1):
            x = inc(x)


def fan_in_state_only(flow: Flow, n: int) -> None:
    with flow:
        noop(upstream_tasks=[noop() for _ in range(n - 1)])


def fan_out_functional(flow: Flow, n: int) -> None:
    with flow:
        root = noop()
        for _ in range(n - 1):
            inc(root)


def fan_in_collection(flow: Flow, n: int) -> None:
    with flow:
        value([noop() for _ in range(n - 2)])  # n - 2 tasks + one List + one value


def chain_built_backwards(flow: Flow, n: int) -> None:
    # sink first, then each new task is set upstream of the previous one
    current = XY(name="sink")
    flow.add_task(current)
    for i in range(n - 1):
        upstream = XY(name=f"t{i}")
        current.set_upstream(upstream, flow=flow, key="x")
        current = upstream


def measure(build: Callable[[Flow, int], None], n: int) -> int:
    flow = Flow("cost")
    meter = WorkMeter(flow)
    build(flow, n)
    assert len(flow.tasks) == n
    return meter.steps


def assert_linear(build: Callable[[Flow, int], None], small: int, large: int) -> None:
    steps_small, steps_large = measure(build, small), measure(build, large)
    ratio = steps_large / steps_small
    expected = large / small
    per_task = steps_large / large
    # Linear work scales with N (ratio ~ 4); quadratic work scales with N^2 (ratio ~ 16).
    assert ratio < expected * 1.25, (
        f"building {large} tasks did {steps_large} graph steps, {small} tasks did "
        f"{steps_small}: ratio {ratio:.1f}, expected about {expected:.0f} for O(N)"
    )
    assert per_task < 20, f"{per_task:.1f} graph steps per task"


class TestBuildCost:
    @pytest.mark.parametrize(
        "build",
        [chain_functional, fan_in_state_only, fan_out_functional],
        ids=["chain", "fan-in", "fan-out"],
    )
    def test_building_20000_tasks_is_linear(self, build: Callable[[Flow, int], None]) -> None:
        assert_linear(build, 5_000, 20_000)

    def test_fan_in_through_a_collection_is_linear(self) -> None:
        # Small N: the quadratic version must stay fast while it is still quadratic.
        assert_linear(fan_in_collection, 200, 800)

    def test_chain_built_backwards_is_linear(self) -> None:
        assert_linear(chain_built_backwards, 200, 800)

    def test_meter_detects_quadratic_work(self) -> None:
        # The meter itself: a deliberately quadratic build must fail assert_linear.
        def quadratic(flow: Flow, n: int) -> None:
            for _ in range(n):
                flow.add_task(XY())
                flow.root_tasks()  # scans every task

        with pytest.raises(AssertionError, match="expected about 4"):
            assert_linear(quadratic, 100, 400)

    def test_built_flows_run(self) -> None:
        flow = Flow("chain")
        chain_functional(flow, 50)
        (last,) = flow.terminal_tasks()
        assert results(flow, last) == [50]
        flow = Flow("backwards")
        chain_built_backwards(flow, 50)
        assert flow.run().is_successful()


def test_trigger_sees_every_upstream_edge() -> None:
    # A Flow-level check that edges become upstream states: any_failed passes on one failure.
    with Flow("f") as flow:
        bad, good = fail(), noop()
        after = noop(upstream_tasks=[bad, good], task_args={"trigger": triggers.any_failed})
    flow.set_reference_tasks([after])
    state = flow.run()
    assert state.is_successful()
    assert state.result[after].result == 1


# -- Prefect 0.5.1's flow behaviours -----------------------------------------------------------
class TestPrefectFlowBehaviours:
    @pytest.mark.parametrize("name", [None, "", False])
    def test_a_flow_needs_a_name(self, name: Any) -> None:
        with pytest.raises(ValueError, match="needs a name"):
            Flow(name)

    def test_flows_with_the_same_graph_are_equal(self) -> None:
        a, b = XY(name="a"), XY(name="b")
        first, second = Flow("f"), Flow("f")
        for flow in (first, second):
            flow.add_edge(a, b, key="x")
        assert first == second and first.copy() == first and hash(first) == hash(second)
        second.set_reference_tasks([a])
        assert first != second
        assert Flow("f") != Flow("g")

    def test_iterating_gives_tasks_upstream_first(self) -> None:
        a, b = XY(name="a"), XY(name="b")
        flow = Flow("f")
        flow.add_edge(b, a)
        assert list(flow) == [b, a]
        assert flow.logger.name == "lockgate.flow.f"

    def test_asking_about_a_task_not_in_the_flow_is_an_error(self) -> None:
        stranger = XY(name="stranger")
        for question in ("edges_to", "edges_from", "upstream_tasks", "downstream_tasks"):
            with pytest.raises(ValueError, match="was not found in Flow 'f'"):
                getattr(Flow("f"), question)(stranger)

    def test_parameters_can_be_given_as_keywords(self) -> None:
        with Flow("f") as flow:
            x, y = Parameter("x"), Parameter("y", default=1)
            total = add(x, y)
        state = flow.run(parameters={"x": 1, "y": 2}, x=10)
        assert state.result[total].result == 12
        with pytest.raises(TypeError):
            flow.run(x=1, z=3)  # neither a parameter nor a runner argument

    def test_runner_cls_runs_the_flow(self) -> None:
        used: list[str] = []

        class NotingRunner(FlowRunner):
            def run(self, *args: Any, **kwargs: Any) -> Any:
                used.append(self.flow.name)
                return super().run(*args, **kwargs)

        flow = Flow("noted", tasks=[XY(name="a")])
        assert flow.run(runner_cls=NotingRunner).is_successful() and used == ["noted"]

    def test_replace_a_task_with_a_value(self) -> None:
        with Flow("f") as flow:
            x = Parameter("x")
            total = add(x, 1)
        flow.replace(x, 41)
        assert results(flow, total) == [42]


def test_task_ids_and_all_edges_describe_the_whole_graph() -> None:
    a, b, c = XY(name="a"), XY(name="b"), XY(name="c")
    flow = Flow("f")
    ab = flow.add_edge(a, b, key="x")
    flow.add_task(c)
    assert flow.task_ids == {a.id: a, b.id: b, c.id: c}
    assert flow.all_upstream_edges() == {a: set(), b: {ab}, c: set()}
    assert flow.all_downstream_edges() == {a: {ab}, b: set(), c: set()}
