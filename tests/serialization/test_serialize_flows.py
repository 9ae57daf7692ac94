"""Tasks, parameters, edges and flows: a loaded flow has the structure of the original."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import marshmallow
import pytest

from lockgate import Flow, Parameter, Task, task, triggers
from lockgate.core.edge import Edge
from lockgate.engine import cache_validators
from lockgate.engine.retries import ExponentialBackoff
from lockgate.schedules import CronSchedule, IntervalSchedule
from lockgate.serialization.edge import EdgeSchema
from lockgate.serialization.flow import FlowSchema
from lockgate.serialization.task import ParameterSchema, TaskSchema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_flow(flow: Flow) -> Flow:
    loaded = FlowSchema().load(json.loads(json.dumps(flow.serialize())))
    assert isinstance(loaded, Flow)
    return loaded


def shape(flow: Flow) -> dict[str, Any]:
    """The structure of a flow, by task id, comparable across a round trip."""
    return {
        "name": flow.name,
        "id": flow.id,
        "tasks": sorted((t.id, t.name, t.slug, type(t) is Parameter) for t in flow.tasks),
        "edges": sorted(
            (e.upstream_task.id, e.downstream_task.id, e.key or "", e.mapped) for e in flow.edges
        ),
        "parameters": sorted((p.name, p.default, p.required) for p in flow.parameters()),
        "reference": sorted(t.id for t in flow.reference_tasks()),
    }


def on_failure_hook(task: Task, state: Any) -> None:
    """A module-level handler: it is found again by name when the flow loads."""


# -- tasks -----------------------------------------------------------------------------


def test_task_settings_round_trip() -> None:
    original = Task(
        name="fetch",
        slug="fetch-1",
        tags=["io", "eu"],
        max_retries=3,
        retry_delay=timedelta(seconds=1.5),
        timeout=2.5,
        trigger=triggers.any_failed,
        skip_on_upstream_skip=False,
        cache_for=timedelta(minutes=10),
        cache_validator=cache_validators.all_inputs,
        on_failure=on_failure_hook,
    )
    data = original.serialize()
    assert data["tags"] == ["eu", "io"]  # sorted: the same task always writes the same text
    assert data["trigger"] == "lockgate.triggers.any_failed"
    loaded = TaskSchema().load(json.loads(json.dumps(data)))
    assert type(loaded) is Task
    for name in ("id", "name", "slug", "tags", "max_retries", "retry_delay", "timeout"):
        assert getattr(loaded, name) == getattr(original, name), name
    assert loaded.trigger is triggers.any_failed
    assert loaded.cache_validator is cache_validators.all_inputs
    assert loaded.cache_for == timedelta(minutes=10)
    assert loaded.skip_on_upstream_skip is False
    assert loaded.on_failure is on_failure_hook
    # as a state handler, once
    assert [h.on_failure for h in loaded.state_handlers] == [on_failure_hook]


def test_a_backoff_retry_delay_round_trips() -> None:
    backoff = ExponentialBackoff(timedelta(seconds=2), factor=3, max_delay=timedelta(minutes=1))
    loaded = TaskSchema().load(Task(max_retries=2, retry_delay=backoff).serialize())
    assert isinstance(loaded.retry_delay, ExponentialBackoff)
    assert (loaded.retry_delay.base, loaded.retry_delay.factor) == (timedelta(seconds=2), 3)
    assert loaded.retry_delay.max_delay == timedelta(minutes=1)


def test_a_callable_that_cannot_be_found_stays_its_name() -> None:
    def local_trigger(upstream_states: Any) -> bool:
        return True

    loaded = TaskSchema().load(Task(trigger=local_trigger).serialize())
    assert isinstance(loaded.trigger, str)
    assert loaded.trigger.endswith("<locals>.local_trigger")


def test_inputs_and_output_are_described_and_remembered() -> None:
    @task
    def add(x: int, y: int = 1) -> int:
        return x + y

    data = add.serialize()
    # Annotations are strings in this module (from __future__ import annotations).
    assert data["inputs"] == {
        "x": {"required": True, "type": "int"},
        "y": {"required": False, "type": "int"},
    }
    assert data["outputs"] == "int"
    assert data["type"] == "lockgate.tasks.core.function.FunctionTask"
    loaded = TaskSchema().load(data)
    assert type(loaded) is Task  # the code is not carried
    assert set(loaded.inputs()) == {"x", "y"}


def test_a_parameter_round_trips_as_a_parameter() -> None:
    loaded = ParameterSchema().load(Parameter("region", default="eu").serialize())
    assert isinstance(loaded, Parameter)
    assert (loaded.name, loaded.default, loaded.required) == ("region", "eu", False)
    with pytest.raises(marshmallow.ValidationError, match="name"):
        ParameterSchema().load({})


def test_a_parameter_default_must_be_json() -> None:
    with pytest.raises(marshmallow.ValidationError, match="JSON-compatible"):
        Parameter("when", default=datetime(2030, 1, 1, tzinfo=timezone.utc)).serialize()


def test_copies_are_different_tasks_with_different_ids() -> None:
    original = Task(name="t")
    assert original.copy().id != original.id


# -- edges ----------------------------------------------------------------------------


def test_an_edge_writes_only_task_ids_and_reuses_loaded_tasks() -> None:
    a, b = Task("a"), Task("b")
    data = EdgeSchema().dump(Edge(a, b, key="x", mapped=True))
    assert data["upstream_task"]["id"] == a.id
    assert set(data["upstream_task"]) == {"id", "__version__"}
    context = {"task_id_cache": {a.id: a, b.id: b}}
    edge = EdgeSchema(context=context).load(data)
    assert edge.upstream_task is a and edge.downstream_task is b
    assert (edge.key, edge.mapped) == ("x", True)


def test_a_lone_edge_gets_placeholder_tasks_with_the_same_ids() -> None:
    a, b = Task("a"), Task("b")
    edge = EdgeSchema().load(EdgeSchema().dump(Edge(a, b)))
    assert (edge.upstream_task.id, edge.downstream_task.id) == (a.id, b.id)


# -- flows ----------------------------------------------------------------------------


def test_structure_round_trips_keys_mapping_parameters_and_reference_tasks() -> None:
    @task
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def total(xs: list[int], offset: int) -> int:
        return sum(xs) + offset

    @task(trigger=triggers.all_finished)
    def report() -> None:
        pass

    with Flow("numbers") as flow:
        n = Parameter("n", default=3)
        doubled = double.map(numbers(n))
        summed = total(doubled, offset=10)
        done = report(upstream_tasks=[summed])
    flow.set_reference_tasks([summed])

    loaded = load_flow(flow)
    assert shape(loaded) == shape(flow)
    assert any(e.mapped for e in loaded.edges)
    by_id = {t.id: t for t in loaded.tasks}
    assert by_id[done.id].trigger is triggers.all_finished
    assert isinstance(by_id[n.id], Parameter)
    assert loaded.constants[by_id[summed.id]] == {"offset": 10}


def test_the_same_flow_always_serializes_to_the_same_text() -> None:
    with Flow("stable") as flow:
        a = Task("a")
        for i in range(5):
            flow.add_edge(a, Task(f"t{i}"))
    assert json.dumps(flow.serialize()) == json.dumps(flow.serialize())
    names = [t["name"] for t in flow.serialize()["tasks"]]
    assert names == ["a", "t0", "t1", "t2", "t3", "t4"]  # the order they were added


def test_schedule_and_handlers_round_trip() -> None:
    start = datetime(2030, 3, 1, 9, tzinfo=timezone.utc)
    flow = Flow(
        "scheduled",
        schedule=IntervalSchedule(start_date=start, interval=timedelta(hours=6)),
        tasks=[Task("only")],
        on_failure=on_failure_hook,
    )
    loaded = load_flow(flow)
    assert isinstance(loaded.schedule, IntervalSchedule)
    assert loaded.schedule.next(3, after=start) == flow.schedule.next(3, after=start)
    assert loaded.on_failure is on_failure_hook
    # as a state handler, once
    assert [h.on_failure for h in loaded.state_handlers] == [on_failure_hook]


def test_loading_a_flow_of_subclassed_tasks_gives_plain_tasks() -> None:
    class Download(Task):
        def run(self, url: str) -> str:
            return url

    flow = Flow("subclassed")
    source, download = Task("source"), Download()
    flow.add_edge(source, download, key="url")
    data = flow.serialize()
    assert data["tasks"][1]["type"].endswith("<locals>.Download")
    loaded = load_flow(flow)
    assert {type(t) for t in loaded.tasks} == {Task}
    (edge,) = loaded.edges
    assert edge.key == "url"


@pytest.fixture
def example_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    yield load


def test_the_etl_example_round_trips(example_module: Any) -> None:
    flow, tasks = example_module("etl_with_approval").build_flow()
    loaded = load_flow(flow)
    assert shape(loaded) == shape(flow)
    by_id = {t.id: t for t in loaded.tasks}
    assert by_id[tasks["load"].id].trigger is triggers.manual_only
    assert by_id[tasks["extract"].id].max_retries == 2
    assert by_id[tasks["extract"].id].retry_delay == timedelta(seconds=0.2)


def test_the_scheduled_example_round_trips(example_module: Any) -> None:
    flow = example_module("scheduled_report").build_flow(
        start=datetime(2031, 1, 6, 7, tzinfo=timezone.utc)
    )
    loaded = load_flow(flow)
    assert shape(loaded) == shape(flow)
    assert isinstance(loaded.schedule, CronSchedule)
    after = datetime(2031, 1, 6, tzinfo=timezone.utc)
    assert loaded.schedule.next(4, after=after) == flow.schedule.next(4, after=after)
