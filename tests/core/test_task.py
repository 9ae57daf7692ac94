"""Task: construction and validation, run() signatures, copying, binding, dependencies, operators.

Every validation error must name the task and say how to fix it; the tables below list the
message fragments each error must contain.
"""

from __future__ import annotations

import functools
import typing
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Parameter, Task, task, triggers, unmapped
from lockgate.core import Edge
from lockgate.engine import cache_validators
from lockgate.engine.retries import ExponentialBackoff
from lockgate.engine.state import Success
from lockgate.tasks.core import (
    Add,
    And,
    Div,
    Equal,
    FloorDiv,
    FunctionTask,
    GetItem,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Mod,
    Mul,
    Not,
    NotEqual,
    Pow,
    Sub,
)


# -- helpers ---------------------------------------------------------------------------------
class XY(Task):
    """A task with two optional inputs that returns them."""

    def run(self, x: int = 0, y: int = 0) -> tuple[int, int]:
        return (x, y)


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def value(v: Any) -> Any:
    return v


def results(flow: Flow, *tasks: Task) -> list[Any]:
    """Run ``flow`` and return the results of ``tasks`` (asserting the run succeeded)."""
    state = flow.run()
    assert state.is_successful(), (state, state.result)
    return [state.result[t].result for t in tasks]


# -- construction ------------------------------------------------------------------------------
class TestConstruction:
    def test_defaults(self) -> None:
        t = Task()
        assert t.name == "Task"
        assert t.slug is None
        assert t.tags == set()
        assert t.max_retries == 0
        assert t.retry_delay is None
        assert t.timeout is None
        assert t.trigger is triggers.all_successful
        assert t.skip_on_upstream_skip is True
        assert t.cache_for is None
        assert t.cache_validator is cache_validators.never_use
        assert t.state_handlers == []
        assert t.on_failure is None

    def test_subclass_name_defaults_to_class_name(self) -> None:
        assert XY().name == "XY"
        assert XY(name="other").name == "other"

    def test_cache_for_defaults_the_validator_to_duration_only(self) -> None:
        t = Task(cache_for=timedelta(minutes=1))
        assert t.cache_validator is cache_validators.duration_only
        t = Task(cache_for=timedelta(minutes=1), cache_validator=cache_validators.all_inputs)
        assert t.cache_validator is cache_validators.all_inputs

    @pytest.mark.parametrize(
        "retry_delay",
        [timedelta(seconds=5), ExponentialBackoff(timedelta(seconds=1))],
        ids=["timedelta", "ExponentialBackoff"],
    )
    def test_max_retries_with_retry_delay_is_accepted(self, retry_delay: Any) -> None:
        t = Task(max_retries=3, retry_delay=retry_delay)
        assert t.max_retries == 3
        assert t.retry_delay is retry_delay

    def test_valid_callables_are_kept(self) -> None:
        def handler(task: Task, old: Any, new: Any) -> None:
            return None

        def on_failure(task: Task, state: Any) -> None:
            return None

        t = Task(trigger=triggers.any_failed, state_handlers=[handler], on_failure=on_failure)
        assert t.trigger is triggers.any_failed
        assert t.state_handlers[0] is handler and t.state_handlers[1].on_failure is on_failure
        assert t.on_failure is on_failure

    @pytest.mark.parametrize("timeout", [1, 0.5, 30])
    def test_positive_timeouts_are_accepted(self, timeout: float) -> None:
        assert Task(timeout=timeout).timeout == timeout


def _not_callable_handler(task: Task, old: Any, new: Any) -> None:
    return None


# (kwargs, exception type, fragments the message must contain besides the task's name)
INVALID: dict[str, tuple[dict[str, Any], type[Exception], list[str]]] = {
    "max_retries without retry_delay": (
        {"max_retries": 2},
        ValueError,
        ["max_retries=2", "retry_delay", "timedelta("],
    ),
    "negative max_retries": ({"max_retries": -1}, ValueError, ["max_retries", ">= 0", "-1"]),
    "fractional max_retries": (
        {"max_retries": 1.5, "retry_delay": timedelta(seconds=1)},
        ValueError,
        ["max_retries", ">= 0"],
    ),
    "zero timeout": ({"timeout": 0}, ValueError, ["timeout", "positive number of seconds"]),
    "negative timeout": ({"timeout": -3}, ValueError, ["timeout", "positive number of seconds"]),
    "string timeout": ({"timeout": "5"}, ValueError, ["timeout", "positive number of seconds"]),
    "bool timeout": ({"timeout": True}, ValueError, ["timeout", "positive number of seconds"]),
    "non-callable trigger": (
        {"trigger": "all_successful"},
        TypeError,
        ["trigger", "callable", "lockgate.triggers"],
    ),
    "non-callable state handler": (
        {"state_handlers": [_not_callable_handler, 42]},
        TypeError,
        ["state handler", "42", "callable"],
    ),
    "non-callable on_failure": ({"on_failure": "page me"}, TypeError, ["on_failure", "callable"]),
    "cache_for not a timedelta": ({"cache_for": 60}, TypeError, ["cache_for", "timedelta"]),
    "retry_delay an int": (
        {"max_retries": 1, "retry_delay": 10},
        TypeError,
        ["retry_delay", "timedelta", "int"],
    ),
    "retry_delay a string without retries": (
        {"retry_delay": "10s"},
        TypeError,
        ["retry_delay", "timedelta", "str"],
    ),
}


class TestValidation:
    @pytest.mark.parametrize("case", list(INVALID))
    def test_invalid_argument_names_the_task_and_the_fix(self, case: str) -> None:
        kwargs, exc_type, fragments = INVALID[case]
        with pytest.raises(exc_type) as info:
            Task(name="load-orders", **kwargs)
        message = str(info.value)
        assert "'load-orders'" in message
        for fragment in fragments:
            assert fragment in message, (fragment, message)

    @pytest.mark.parametrize("case", ["max_retries without retry_delay", "non-callable trigger"])
    def test_task_decorator_reports_the_function_name(self, case: str) -> None:
        kwargs, exc_type, _ = INVALID[case]

        def fetch_orders() -> None:
            return None

        with pytest.raises(exc_type, match="'fetch_orders'"):
            task(**kwargs)(fetch_orders)

    def test_subclass_validation_names_the_subclass(self) -> None:
        with pytest.raises(ValueError, match=r"'XY'.*retry_delay"):
            XY(max_retries=1)

    def test_single_state_handler_instead_of_a_list_names_the_task(self) -> None:
        with pytest.raises(TypeError) as info:
            Task(name="load-orders", state_handlers=_not_callable_handler)  # type: ignore[arg-type]
        message = str(info.value)
        assert "'load-orders'" in message
        assert "state_handlers" in message
        assert "list" in message


# -- run() signatures --------------------------------------------------------------------------
class TestRunSignature:
    def test_star_args_are_refused_at_class_creation(self) -> None:
        with pytest.raises(ValueError) as info:

            class Gather(Task):
                def run(self, *items: Any) -> Any:
                    return items

        message = str(info.value)
        assert "Gather" in message
        assert "*args" in message
        assert "named arguments" in message

    def test_star_args_after_named_arguments_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"Gather2\.run\(\) takes \*args"):

            class Gather2(Task):
                def run(self, first: Any, *rest: Any, **kwargs: Any) -> Any:
                    return first

    @pytest.mark.parametrize("reserved", ["upstream_tasks", "mapped", "task_args", "flow"])
    def test_reserved_names_are_refused_at_class_creation(self, reserved: str) -> None:
        namespace: dict[str, Any] = {"Task": Task}
        source = (
            f"class Reserved(Task):\n    def run(self, x, {reserved}=None):\n        return x\n"
        )
        with pytest.raises(ValueError) as info:
            exec(source, namespace)
        message = str(info.value)
        assert "Reserved.run()" in message
        assert repr(reserved) in message
        assert "rename" in message

    def test_reserved_keyword_only_name_is_refused(self) -> None:
        with pytest.raises(ValueError, match="'flow'"):

            class KwOnly(Task):
                def run(self, *, flow: Any = None) -> Any:
                    return flow

    def test_var_keyword_is_allowed_and_accepts_any_key(self) -> None:
        class AnyKeys(Task):
            def run(self, **inputs: Any) -> dict[str, Any]:
                return inputs

        with Flow("kw") as flow:
            t = AnyKeys()(alpha=1, beta=inc(1))
        assert results(flow, t) == [{"alpha": 1, "beta": 2}]

    def test_keyword_only_arguments_are_inputs(self) -> None:
        class KwInputs(Task):
            def run(self, a: int, *, b: int, c: int = 3) -> int:
                return a + b + c

        assert list(KwInputs().inputs()) == ["a", "b", "c"]
        with Flow("kwonly") as flow:
            t = KwInputs()(1, b=2)
        assert results(flow, t) == [6]

    def test_subclass_inherits_the_parent_signature(self) -> None:
        class Child(XY):
            pass

        assert Child.run_signature == XY.run_signature
        assert list(Child().inputs()) == ["x", "y"]

    @pytest.mark.parametrize(
        "fn",
        [lambda *args: args, lambda x, *args: x],
        ids=["only *args", "named then *args"],
    )
    def test_task_decorator_refuses_star_args(self, fn: Callable[..., Any]) -> None:
        with pytest.raises(ValueError, match=r"\*args"):
            task(fn)

    def test_task_decorator_error_names_the_function(self) -> None:
        with pytest.raises(ValueError) as info:

            @task
            def collect(*things: Any) -> Any:
                return things

        assert "'collect'" in str(info.value)

    @pytest.mark.parametrize("reserved", ["upstream_tasks", "mapped", "task_args", "flow"])
    def test_task_decorator_refuses_reserved_names(self, reserved: str) -> None:
        namespace: dict[str, Any] = {}
        exec(f"def uses_reserved(x, {reserved}=None):\n    return x\n", namespace)
        with pytest.raises(ValueError) as info:
            task(namespace["uses_reserved"])
        message = str(info.value)
        assert "'uses_reserved'" in message
        assert repr(reserved) in message

    def test_functools_partial_is_supported(self) -> None:
        add_ten = task(functools.partial(add.run, y=10), name="add_ten")
        assert add_ten.name == "add_ten"
        assert list(add_ten.inputs()) == ["x", "y"]
        with Flow("partial") as flow:
            t = add_ten(5)
        assert results(flow, t) == [15]


# -- copy ------------------------------------------------------------------------------------
class TestCopy:
    def test_copy_is_a_new_equal_looking_task(self) -> None:
        original = XY(name="orig", tags=["a"], max_retries=1, retry_delay=timedelta(seconds=1))
        clone = original.copy()
        assert clone is not original
        assert clone != original  # == is identity
        assert type(clone) is XY
        assert (clone.name, clone.tags, clone.max_retries, clone.retry_delay) == (
            "orig",
            {"a"},
            1,
            timedelta(seconds=1),
        )

    def test_task_args_override_attributes_without_touching_the_original(self) -> None:
        original = XY(name="orig")
        clone = original.copy(name="clone", max_retries=2, retry_delay=timedelta(seconds=1))
        assert (clone.name, clone.max_retries) == ("clone", 2)
        assert (original.name, original.max_retries) == ("orig", 0)

    def test_mutable_attributes_are_not_shared(self) -> None:
        original = XY(tags=["a"], state_handlers=[_not_callable_handler])
        clone = original.copy()
        clone.tags.add("b")
        clone.state_handlers.append(_not_callable_handler)
        assert original.tags == {"a"}
        assert original.state_handlers == [_not_callable_handler]

    def test_unknown_attribute_is_an_error_naming_task_and_attribute(self) -> None:
        with pytest.raises(AttributeError) as info:
            XY(name="orig").copy(max_retires=3)
        message = str(info.value)
        assert "'orig'" in message
        assert "'max_retires'" in message
        assert "task_args" in message

    def test_function_task_copy_keeps_its_function(self) -> None:
        clone = inc.copy(name="inc2")
        assert isinstance(clone, FunctionTask)
        assert clone.run(1) == 2
        assert clone.run_signature == inc.run_signature

    def test_task_args_when_calling(self) -> None:
        with Flow("ta") as flow:
            t = inc(1, task_args={"name": "first", "tags": {"x"}})
        assert (t.name, t.tags) == ("first", {"x"})
        assert inc.name == "inc"
        assert flow.get_tasks(name="first") == [t]

    def test_unknown_task_args_when_calling(self) -> None:
        with Flow("ta") as flow, pytest.raises(AttributeError, match="'nmae'"):
            inc(1, task_args={"nmae": "typo"})
        assert flow.tasks == set()


# -- calling / binding ---------------------------------------------------------------------------
class TestBinding:
    def test_call_returns_a_bound_copy(self) -> None:
        with Flow("f") as flow:
            a = inc(1)
            b = inc(2)
        assert a is not inc and b is not inc and a is not b
        assert isinstance(a, FunctionTask)
        assert flow.tasks == {a, b}
        assert inc not in flow.tasks

    def test_positional_binding_follows_run_order(self) -> None:
        with Flow("f") as flow:
            a, b = inc(1), inc(10)
            s = add(a, b)
        assert flow.edges_to(s) == {Edge(a, s, key="x"), Edge(b, s, key="y")}
        assert results(flow, s) == [13]

    def test_keyword_binding(self) -> None:
        with Flow("f") as flow:
            a, b = value(100), value(1)
            s = Sub()(y=b, x=a)
        assert flow.edges_to(s) == {Edge(a, s, key="x"), Edge(b, s, key="y")}
        assert results(flow, s) == [99]

    def test_mixed_positional_keyword_and_constant(self) -> None:
        with Flow("f") as flow:
            a = inc(1)
            s = add(a, y=40)
        assert flow.edges_to(s) == {Edge(a, s, key="x")}
        assert flow.constants[s] == {"y": 40}
        assert results(flow, s) == [42]

    def test_too_many_positional_arguments(self) -> None:
        with Flow("f") as flow, pytest.raises(TypeError) as info:
            add(1, 2, 3)
        message = str(info.value)
        assert "'add'" in message
        assert "2 input(s) (x, y)" in message
        assert "3 were given" in message
        assert flow.tasks == set()

    def test_argument_given_twice(self) -> None:
        with (
            Flow("f") as flow,
            pytest.raises(TypeError, match="'add' got two values for input 'x'"),
        ):
            add(1, x=2)
        assert flow.tasks == set()

    def test_unknown_keyword_lists_the_real_arguments(self) -> None:
        with Flow("f"), pytest.raises(TypeError) as info:
            add(1, z=2)
        message = str(info.value)
        assert "'add'" in message
        assert "'z'" in message
        assert "x, y" in message

    def test_rejected_call_leaves_the_flow_unchanged(self) -> None:
        with Flow("f") as flow:
            a = inc(1)
            with pytest.raises(TypeError):
                add(a, z=2)
        assert flow.tasks == {a}
        assert flow.run().is_successful()

    def test_calling_outside_a_flow_says_how_to_fix(self) -> None:
        with pytest.raises(ValueError) as info:
            inc(1)
        message = str(info.value)
        assert "'inc'" in message
        assert "outside a flow" in message
        assert "with Flow(" in message
        assert "flow=" in message

    def test_explicit_flow_outside_a_with_block(self) -> None:
        flow = Flow("explicit")
        a = inc(1, flow=flow)
        b = inc(a, flow=flow)
        assert flow.tasks == {a, b}
        assert results(flow, b) == [3]

    def test_bind_binds_the_task_itself(self) -> None:
        t = XY()
        with Flow("f") as flow:
            a = inc(1)
            returned = t.bind(a, y=5)
        assert returned is t
        assert flow.tasks == {a, t}
        assert results(flow, t) == [(2, 5)]

    def test_calling_a_parameter_adds_a_copy_and_takes_no_inputs(self) -> None:
        with Flow("f") as flow:
            with pytest.raises(TypeError):
                Parameter("p")(1)  # type: ignore[arg-type]
            p = Parameter("p")()
        assert flow.parameters() == {p} and p.name == "p"
        assert flow.run(p=lambda: 1).result[p].result() == 1  # any value, even a function

    def test_ids_are_uuids(self) -> None:
        import uuid

        t = Task()
        assert t.id != t.copy().id and uuid.UUID(t.id)
        t.id = str(uuid.UUID(int=1))
        for bad in (1, "1", None):
            with pytest.raises(ValueError, match="UUID"):
                t.id = bad  # type: ignore[assignment]
            with pytest.raises(ValueError, match="UUID"):
                Flow("f").id = bad  # type: ignore[assignment]

    def test_an_id_drawn_late_is_stable_and_shared_by_pickles_and_plain_copies(self) -> None:
        import copy
        import pickle

        t = Task()
        t2 = Task().copy()
        assert t.id == t.id and t2.id == t2.id and t.id != t2.id
        fresh = Task()  # its id not read yet: a pickle or copy.copy is still the same task
        assert pickle.loads(pickle.dumps(fresh)).id == fresh.id
        fresher = Task()
        assert copy.copy(fresher).id == fresher.id
        # The functional API's copy is another task, whether the id was read or not.
        assert fresh.copy().id != fresh.id and Task().copy().id != fresher.copy().id

    def test_task_ids_are_distinct_version_4_uuids(self) -> None:
        import uuid

        from lockgate.core.task import new_task_id

        ids = [new_task_id() for _ in range(1000)]  # more than one batch from the OS
        assert len(set(ids)) == 1000
        for text in ids[:300]:
            parsed = uuid.UUID(text)
            assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)

    @pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
    def test_a_forked_process_does_not_reuse_its_parents_ids(self) -> None:
        import os

        from lockgate.core.task import new_task_id

        new_task_id()  # the parent now holds spare ids
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report its next ids and leave at once
            os.write(write, " ".join(new_task_id() for _ in range(5)).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child_ids = set(pipe.read().split())
        os.waitpid(pid, 0)
        parent_ids = {new_task_id() for _ in range(5)}
        assert len(child_ids) == 5 and not child_ids & parent_ids

    def test_copy_honours_a_class_that_customizes_copying(self) -> None:
        class Custom(Task):
            def __copy__(self) -> Custom:
                new = Custom(name=self.name)
                new.custom = "copied"  # type: ignore[attr-defined]
                return new

        class Slotted(Task):
            __slots__ = ("extra",)

        clone = Custom(name="c").copy(name="d")
        assert (clone.name, clone.custom) == ("d", "copied")  # type: ignore[attr-defined]
        s = Slotted()
        s.extra = 5
        assert s.copy().extra == 5

    def test_calling_a_task_bound_to_values_warns_that_the_copy_is_unbound(self) -> None:
        adder = add.copy()
        with Flow("f"):
            adder.bind(1, 2)
            with pytest.warns(UserWarning, match="has dependencies"):
                adder(3, 4)

    def test_upstream_tasks_add_state_only_edges(self) -> None:
        order: list[str] = []

        @task
        def record(label: str) -> str:
            order.append(label)
            return label

        with Flow("f") as flow:
            first = record("first")
            second = record("second", upstream_tasks=[first])
        assert flow.edges_to(second) == {Edge(first, second)}
        assert Edge(first, second).key is None
        assert results(flow, second) == ["second"]
        assert order == ["first", "second"]

    def test_upstream_tasks_may_hold_collections(self) -> None:
        with Flow("f") as flow:
            a, b = inc(1), inc(2)
            c = inc(3, upstream_tasks=[[a, b]])
        (edge,) = flow.edges_to(c)
        assert edge.key is None
        assert flow.upstream_tasks(edge.upstream_task) == {a, b}

    def test_map(self) -> None:
        with Flow("f") as flow:
            items = value([1, 2, 3])
            mapped = inc.map(items)
            offset = value(100)
            added = add.map(mapped, y=unmapped(offset))
        assert flow.edges_to(mapped) == {Edge(items, mapped, key="x", mapped=True)}
        assert flow.edges_to(added) == {
            Edge(mapped, added, key="x", mapped=True),
            Edge(offset, added, key="y", mapped=False),
        }
        assert results(flow, mapped, added) == [[2, 3, 4], [102, 103, 104]]

    def test_map_over_a_literal_list(self) -> None:
        with Flow("f") as flow:
            mapped = add.map([1, 2], y=unmapped(10))
        assert results(flow, mapped) == [[11, 12]]

    def test_map_with_unmapped_upstream_tasks(self) -> None:
        with Flow("f") as flow:
            gate = value(None)
            mapped = inc.map([1, 2], upstream_tasks=[unmapped(gate)])
        assert Edge(gate, mapped) in flow.edges_to(mapped)
        assert results(flow, mapped) == [[2, 3]]

    def test_map_maps_over_upstream_tasks_too(self) -> None:
        with Flow("f") as flow:
            rows = value([10, 20, 30])
            mapped = Task(name="per-row").map(upstream_tasks=[rows])
        assert Edge(rows, mapped, mapped=True) in flow.edges_to(mapped)
        assert results(flow, mapped) == [[None, None, None]]


# -- imperative dependencies -------------------------------------------------------------------
class TestDependencies:
    def test_set_upstream_and_set_downstream(self) -> None:
        a, b, c = XY(name="a"), XY(name="b"), XY(name="c")
        flow = Flow("f")
        b.set_upstream(a, flow=flow)
        b.set_downstream(c, flow=flow, key="x")
        assert flow.edges == {Edge(a, b), Edge(b, c, key="x")}

    def test_set_upstream_with_key_and_mapped(self) -> None:
        a, b = value.copy(), inc.copy()
        flow = Flow("f")
        flow.set_dependencies(a, keyword_tasks={"v": [1, 2]})
        b.set_upstream(a, flow=flow, key="x", mapped=True)
        assert flow.edges == {Edge(a, b, key="x", mapped=True)}
        assert results(flow, b) == [[2, 3]]

    def test_set_upstream_uses_the_active_flow(self) -> None:
        a, b = XY(name="a"), XY(name="b")
        with Flow("f") as flow:
            a.set_downstream(b)
        assert flow.edges == {Edge(a, b)}

    def test_set_upstream_outside_a_flow(self) -> None:
        with pytest.raises(ValueError, match="outside a flow"):
            XY(name="lonely").set_upstream(XY())

    def test_set_dependencies(self) -> None:
        a, b, c, d = (XY(name=n) for n in "abcd")
        flow = Flow("f")
        b.set_dependencies(flow=flow, upstream_tasks=[a], downstream_tasks=[c])
        d.set_dependencies(flow=flow, keyword_tasks={"x": b, "y": 7})
        assert flow.edges == {Edge(a, b), Edge(b, c), Edge(b, d, key="x")}
        assert flow.constants[d] == {"y": 7}

    def test_pipe_adds_a_state_dependency_and_returns_the_right_task(self) -> None:
        a, b, c = XY(name="a"), XY(name="b"), XY(name="c")
        with Flow("f") as flow:
            last = a | b | c
        assert last is c
        assert flow.edges == {Edge(a, b), Edge(b, c)}
        assert all(e.key is None for e in flow.edges)

    def test_pipe_outside_a_flow(self) -> None:
        with pytest.raises(ValueError, match="outside a flow"):
            XY() | XY()


# -- inputs / outputs -----------------------------------------------------------------------------
# This file uses `from __future__ import annotations`, which turns annotations into strings;
# the annotated tasks below are compiled without it so that `type` holds real classes.
_ANNOTATED_SOURCE = """
from lockgate import Task, task

@task
def inc_annotated(x: int) -> int:
    return x + 1

class Annotated(Task):
    def run(self, a: int, b: str = "x", *, c: float, d: int = 1) -> str:
        return b
"""


def _annotated() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(_ANNOTATED_SOURCE, "<annotated>", "exec", dont_inherit=True), namespace)
    return namespace


class TestInputsOutputs:
    def test_function_task(self) -> None:
        inc_annotated = _annotated()["inc_annotated"]
        assert inc_annotated.inputs() == {"x": {"required": True, "type": int, "default": None}}
        assert inc_annotated.outputs() is int

    def test_defaults_and_missing_annotations(self) -> None:
        @task
        def f(a, b=1):  # type: ignore[no-untyped-def]
            return a

        assert f.inputs() == {
            "a": {"required": True, "type": typing.Any, "default": None},
            "b": {"required": False, "type": typing.Any, "default": 1},
        }
        assert f.outputs() is typing.Any

    def test_subclass(self) -> None:
        annotated = _annotated()["Annotated"]()
        assert annotated.inputs() == {
            "a": {"required": True, "type": int, "default": None},
            "b": {"required": False, "type": str, "default": "x"},
            "c": {"required": True, "type": float, "default": None},
            "d": {"required": False, "type": int, "default": 1},
        }
        assert annotated.outputs() is str

    def test_parameter_and_base_task_have_no_inputs(self) -> None:
        assert Parameter("p").inputs() == {}
        assert Task().inputs() == {}


# -- tags ----------------------------------------------------------------------------------------
class TestTags:
    def test_constructor_tags(self) -> None:
        assert Task(tags=["a", "b", "a"]).tags == {"a", "b"}

    def test_tags_context_nests_and_restores(self) -> None:
        with lockgate.tags("outer"):
            t1 = Task()
            with lockgate.tags("inner", "more"):
                t2 = Task(tags=["own"])
            t3 = Task()
        t4 = Task()
        assert t1.tags == {"outer"}
        assert t2.tags == {"outer", "inner", "more", "own"}
        assert t3.tags == {"outer"}
        assert t4.tags == set()

    def test_decorated_function_inside_tags(self) -> None:
        with lockgate.tags("etl"):

            @task
            def extract() -> int:
                return 1

        assert extract.tags == {"etl"}

    def test_calling_a_task_inside_tags_tags_the_copy(self) -> None:
        with Flow("f"), lockgate.tags("math", "function"):
            result = add(1, 5)
        assert result.tags == {"math", "function"}


# -- identity ------------------------------------------------------------------------------------
class TestIdentity:
    def test_equality_is_identity(self) -> None:
        a, b = XY(name="same"), XY(name="same")
        assert a == a
        assert a != b
        assert (a == b) is False

    def test_tasks_are_hashable(self) -> None:
        a, b = XY(name="same"), XY(name="same")
        assert len({a, b, a}) == 2
        assert {a: 1, b: 2}[a] == 1
        assert hash(a) == hash(a)

    def test_is_equal_builds_a_task_instead(self) -> None:
        with Flow("f"):
            t = inc(1)
            assert isinstance(t.is_equal(2), Equal)

    def test_tasks_are_not_iterable(self) -> None:
        with Flow("f") as flow:
            t = value([1, 2])
            with pytest.raises(TypeError):
                iter(t)
        assert flow.tasks == {t}


# -- operators -----------------------------------------------------------------------------------
# name -> (build(five, flag, items), expected task class, expected result)
# five returns 5, flag returns True, items returns [10, 20, 30].
OPERATORS: dict[str, tuple[Callable[[Any, Any, Any], Task], type[Task], Any]] = {
    "t + 2": (lambda f, b, i: f + 2, Add, 7),
    "2 + t": (lambda f, b, i: 2 + f, Add, 7),
    "t + t": (lambda f, b, i: f + f, Add, 10),
    "t - 2": (lambda f, b, i: f - 2, Sub, 3),
    "10 - t": (lambda f, b, i: 10 - f, Sub, 5),
    "t * 3": (lambda f, b, i: f * 3, Mul, 15),
    "3 * t": (lambda f, b, i: 3 * f, Mul, 15),
    "t / 2": (lambda f, b, i: f / 2, Div, 2.5),
    "10 / t": (lambda f, b, i: 10 / f, Div, 2.0),
    "t // 2": (lambda f, b, i: f // 2, FloorDiv, 2),
    "11 // t": (lambda f, b, i: 11 // f, FloorDiv, 2),
    "t % 3": (lambda f, b, i: f % 3, Mod, 2),
    "7 % t": (lambda f, b, i: 7 % f, Mod, 2),
    "t ** 2": (lambda f, b, i: f**2, Pow, 25),
    "2 ** t": (lambda f, b, i: 2**f, Pow, 32),
    "t & True": (lambda f, b, i: b & True, And, True),
    "t & False": (lambda f, b, i: b & False, And, False),
    "False & t": (lambda f, b, i: False & b, And, False),
    "True & t": (lambda f, b, i: True & b, And, True),
    "t > 4": (lambda f, b, i: f > 4, GreaterThan, True),
    "t > 5": (lambda f, b, i: f > 5, GreaterThan, False),
    "t >= 5": (lambda f, b, i: f >= 5, GreaterThanOrEqual, True),
    "t >= 6": (lambda f, b, i: f >= 6, GreaterThanOrEqual, False),
    "t < 6": (lambda f, b, i: f < 6, LessThan, True),
    "t < 5": (lambda f, b, i: f < 5, LessThan, False),
    "t <= 5": (lambda f, b, i: f <= 5, LessThanOrEqual, True),
    "t <= 4": (lambda f, b, i: f <= 4, LessThanOrEqual, False),
    "4 < t (reflected)": (lambda f, b, i: 4 < f, GreaterThan, True),  # noqa: SIM300
    "6 <= t (reflected)": (lambda f, b, i: 6 <= f, GreaterThanOrEqual, False),  # noqa: SIM300
    "t[1]": (lambda f, b, i: i[1], GetItem, 20),
    "t[-1]": (lambda f, b, i: i[-1], GetItem, 30),
    "t[1:]": (lambda f, b, i: i[1:], GetItem, [20, 30]),
    "t[task]": (lambda f, b, i: i[f - 4], GetItem, 20),
    "is_equal(5)": (lambda f, b, i: f.is_equal(5), Equal, True),
    "is_equal(6)": (lambda f, b, i: f.is_equal(6), Equal, False),
    "is_equal(task)": (lambda f, b, i: f.is_equal(f), Equal, True),
    "is_not_equal(5)": (lambda f, b, i: f.is_not_equal(5), NotEqual, False),
    "is_not_equal(6)": (lambda f, b, i: f.is_not_equal(6), NotEqual, True),
    "not_() of truthy": (lambda f, b, i: f.not_(), Not, False),
    "not_() of falsy": (lambda f, b, i: (f - 5).not_(), Not, True),
}


class TestOperators:
    @pytest.mark.parametrize("case", list(OPERATORS))
    def test_operator_builds_a_task_with_the_right_result(self, case: str) -> None:
        build, cls, expected = OPERATORS[case]
        with Flow("ops") as flow:
            five, flag, items = value(5), value(True), value([10, 20, 30])
            result = build(five, flag, items)
        assert isinstance(result, cls)
        assert result in flow.tasks
        (got,) = results(flow, result)
        assert got == expected
        assert type(got) is type(expected)

    def test_dict_item(self) -> None:
        with Flow("ops") as flow:
            d = value({"k": "v"})
            got = d["k"]
        assert results(flow, got) == ["v"]

    def test_operator_constants_are_inputs_not_tasks(self) -> None:
        with Flow("ops") as flow:
            five = value(5)
            result = five + 2
        assert flow.tasks == {five, result}
        assert flow.constants[result] == {"y": 2}

    def test_operators_chain(self) -> None:
        with Flow("ops") as flow:
            five = value(5)
            result = ((five + 1) * 2 - 2) // 5
        assert results(flow, result) == [2]

    def test_operator_outside_a_flow(self) -> None:
        with pytest.raises(ValueError, match="outside a flow"):
            XY() + 1

    def test_operator_result_is_a_task_state(self) -> None:
        with Flow("ops") as flow:
            result = value(1) + 1
        state = flow.run()
        assert isinstance(state.result[result], Success)


# -- Prefect 0.5.1's task behaviours ---------------------------------------------------------
class TestPrefectTaskBehaviours:
    def test_a_bare_task_succeeds_with_none_as_a_placeholder(self) -> None:
        placeholder = Task(name="checkpoint")
        assert placeholder.run() is None
        with Flow("f") as flow:
            after = Task(name="after")
            placeholder.set_downstream(after)
        state = flow.run()
        assert state.is_successful() and state.result[placeholder].result is None

    def test_tags_given_as_one_string_are_refused(self) -> None:
        with pytest.raises(TypeError, match=r"tags=\['nightly'\]"):
            Task(tags="nightly")  # type: ignore[arg-type]

    def test_a_cache_validator_without_cache_for_warns(self) -> None:
        from lockgate.engine.cache_validators import all_inputs

        with pytest.warns(UserWarning, match="will not be cached"):
            Task(cache_validator=all_inputs)

    def test_copying_a_task_wired_in_the_active_flow_warns(self) -> None:
        a, b = Task(name="a"), Task(name="b")
        with Flow("f"):
            a.set_downstream(b)
            with pytest.warns(UserWarning, match="has dependencies in the active flow"):
                a.copy()
            with Flow("other"):
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    a.copy()  # no dependencies in this flow: silent

    def test_task_args_tags_add_to_the_tasks_tags(self) -> None:
        @task(tags=["etl"])
        def load(x: int) -> int:
            return x

        with lockgate.tags("nightly"), Flow("f"):
            copy = load(1, task_args={"tags": ["db"], "name": "load-db"})
        assert copy.tags == {"etl", "nightly", "db"} and copy.name == "load-db"

    def test_binding_in_a_tags_block_adds_its_tags(self) -> None:
        @task
        def load(x: int) -> int:
            return x

        with Flow("f"):
            with lockgate.tags("nightly"):
                load.bind(1)
        assert load.tags == {"nightly"}

    def test_calling_a_task_without_a_required_argument_fails_at_once(self) -> None:
        @task
        def load(table: str, limit: int = 10) -> str:
            return table

        with Flow("f"), pytest.raises(TypeError, match="'table'"):
            load(limit=5)

    def test_outside_a_flow_the_message_says_no_flow_was_passed(self) -> None:
        with pytest.raises(ValueError, match="No Flow was passed"):
            Task().set_downstream(Task())

    def test_or_with_a_value_makes_it_a_constant_task(self) -> None:
        from lockgate.tasks.core.constants import Constant

        with Flow("f") as flow:
            first = Task()
            after = first | 3
        assert isinstance(after, Constant) and flow.upstream_tasks(after) == {first}

    def test_parameters_keep_their_values_as_json_and_tasks_have_loggers(self) -> None:
        from lockgate.engine.result_handlers import JSONResultHandler

        assert isinstance(Parameter("p").result_handler, JSONResultHandler)
        assert Task(name="load").logger.name == "lockgate.task.load"


# -- on_failure ----------------------------------------------------------------------------------
class FailsOnOdd(Task):
    def run(self, x: int) -> int:
        if x % 2:
            raise ValueError(f"odd: {x}")
        return x


class TestOnFailure:
    def test_it_is_appended_to_the_state_handlers_after_the_given_ones(self) -> None:
        def alert(task: Task, state: Any) -> None:
            return None

        def audit(task: Task, old: Any, new: Any) -> None:
            return None

        t = Task(state_handlers=[audit], on_failure=alert)
        assert len(t.state_handlers) == 2
        assert t.state_handlers[0] is audit and t.state_handlers[1].on_failure is alert
        assert len(Task(on_failure=alert).state_handlers) == 1
        assert Task().state_handlers == []

    def test_a_copied_task_keeps_one_handler(self) -> None:
        t = Task(on_failure=lambda task, state: None)
        assert len(t.copy().state_handlers) == 1
        rebuilt = Task(state_handlers=t.state_handlers, on_failure=t.on_failure)
        assert len(rebuilt.state_handlers) == 1

    def test_called_once_for_each_failed_mapped_child_and_not_for_successes(self) -> None:
        seen: list[tuple[str, str]] = []
        with Flow("odd") as flow:
            checked = FailsOnOdd(
                name="check", on_failure=lambda t, s: seen.append((t.name, str(s.result)))
            ).map([1, 2, 3, 4])
        state = flow.run()
        assert state.is_failed()
        assert [s.is_failed() for s in state.result[checked].map_states] == [
            True,
            False,
            True,
            False,
        ]
        assert sorted(seen) == [("check", "odd: 1"), ("check", "odd: 3")]

    def test_one_that_raises_is_logged_and_the_run_goes_on(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken_alert(task: Task, state: Any) -> None:
            raise ConnectionError("alert service down")

        with Flow("f") as flow:
            failing = FailsOnOdd(on_failure=broken_alert)(1)
        state = flow.run()
        task_state = state.result[failing]
        assert task_state.is_failed() and str(task_state.result) == "odd: 1"
        assert "on_failure" in caplog.text and "alert service down" in caplog.text
