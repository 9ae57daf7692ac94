"""Edges serialize to their tasks' ids, key and mapped flag, and load back."""

from __future__ import annotations

import lockgate
from lockgate import Flow, Task
from lockgate.core.edge import Edge
from lockgate.serialization.edge import EdgeSchema


def test_serialize_names_both_tasks_by_id():
    extract, load = Task(name="extract"), Task(name="load")
    data = Edge(extract, load, key="rows", mapped=True).serialize()
    assert data == {
        "upstream_task": {"id": extract.id, "__version__": lockgate.__version__},
        "downstream_task": {"id": load.id, "__version__": lockgate.__version__},
        "key": "rows",
        "mapped": True,
        "__version__": lockgate.__version__,
    }


def test_ordering_edge_serializes_without_a_key():
    data = Edge(Task(), Task()).serialize()
    assert data["key"] is None
    assert data["mapped"] is False


class Load(Task):
    def run(self, rows: list[int]) -> int:  # type: ignore[override]
        return len(rows)


def test_serialized_edge_loads_back_onto_the_flows_tasks():
    extract, load = Task(name="extract"), Load(name="load")
    flow = Flow("etl")
    flow.add_edge(extract, load, key="rows")
    edge = next(iter(flow.edges))
    schema = EdgeSchema(context={"task_id_cache": {extract.id: extract, load.id: load}})
    assert schema.load(edge.serialize()) == edge
