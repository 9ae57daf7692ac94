"""The flow's graph is stored with every run: runs can be drawn without their file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lockgate import Flow, Parameter, task
from lockgate.store import RunStore, schema
from lockgate.store import graph as store_graph


def _flow() -> Flow:
    @task(tags={"io"}, max_retries=2, retry_delay=timedelta(seconds=1))
    def extract(n: int) -> list[int]:
        return list(range(n))

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    with Flow("drawn") as flow:
        n = Parameter("n", default=3)
        rows = extract(n)
        total(double.map(rows))
        total(rows)  # a second task named "total": slug total-2
    return flow


def _by_slug(flow: Flow) -> dict[str, Any]:
    return {slug: task for task, slug in flow.slugs().items()}


def test_every_run_stores_the_graph_in_the_layout_of_serialize(store: RunStore) -> None:
    flow = _flow()
    recorder = store.recorder()
    flow.run(store=recorder)

    graph = store.get_run_graph(recorder.flow_run_id[:8])

    assert graph is not None
    assert "environment" not in graph  # it may hold an encryption key
    serialized = flow.serialize()
    slugs = flow.slugs()
    assert graph["name"] == serialized["name"] == "drawn"
    by_id = {t.id: t for t in flow.tasks}
    expected_tasks = [
        {
            "slug": slugs[by_id[t["id"]]],
            "name": t["name"],
            "type": t["type"],
            "tags": sorted(t["tags"]),
            "max_retries": t["max_retries"],
        }
        for t in serialized["tasks"]
    ]
    assert sorted(graph["tasks"], key=lambda t: t["slug"]) == sorted(
        expected_tasks, key=lambda t: t["slug"]
    )
    assert {t["slug"] for t in graph["tasks"]} == {
        "n",
        "extract-1",
        "double-1",
        "total-1",
        "total-2",
    }
    expected_edges = sorted(
        (
            slugs[by_id[e["upstream_task"]["id"]]],
            slugs[by_id[e["downstream_task"]["id"]]],
            e["key"],
            e["mapped"],
        )
        for e in serialized["edges"]
    )
    got_edges = sorted(
        (e["upstream_task"]["slug"], e["downstream_task"]["slug"], e["key"], e["mapped"])
        for e in graph["edges"]
    )
    assert got_edges == expected_edges
    assert ("extract-1", "double-1", "x", True) in got_edges
    assert graph["parameters"] == [{"slug": "n"}]
    # The store's task rows use the same slugs, so a drawing can colour them.
    stored = {r.task_slug for r in store.task_runs(recorder.flow_run_id)}
    assert stored <= {t["slug"] for t in graph["tasks"]}


def test_the_graph_is_built_once_per_graph_not_once_per_run(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate.store import run_writer

    calls: list[str] = []
    real = store_graph.graph_document

    def counting(flow: Flow, slugs: Any = None) -> bytes:
        calls.append(flow.name)
        return real(flow, slugs)

    monkeypatch.setattr(run_writer, "graph_document", counting)
    flow = _flow()
    first, second = store.recorder(), store.recorder()
    flow.run(store=first)
    flow.run(store=second)
    assert calls == ["drawn"]
    assert store.get_run_graph(second.flow_run_id) == store.get_run_graph(first.flow_run_id)


def test_runs_recorded_before_graphs_were_stored_have_none_until_the_flow_runs_again(
    store: RunStore,
) -> None:
    flow = _flow()
    old = store.recorder()
    flow.run(store=old)
    with store.engine.begin() as conn:  # as a store migrated from 0002 holds it
        conn.execute(schema.flows.update().values(graph=None))
    assert store.get_run_graph(old.flow_run_id) is None

    new = store.recorder()
    flow.run(store=new)
    assert store.get_run_graph(new.flow_run_id) is not None
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.flows)).scalar() == 1


def test_a_damaged_stored_graph_reads_as_none(store: RunStore) -> None:
    flow = _flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    with store.engine.begin() as conn:
        conn.execute(schema.flows.update().values(graph=b"not a graph"))
    assert store.get_run_graph(recorder.flow_run_id) is None


def test_the_compact_document_round_trips_a_large_flow_quickly() -> None:
    import time

    @task
    def inc(x: int) -> int:
        return x + 1

    with Flow("big") as flow:
        prev = inc(0)
        for _ in range(9_999):
            prev = inc(prev)
    started = time.perf_counter()
    blob = store_graph.graph_document(flow)
    took = time.perf_counter() - started
    graph = store_graph.expand_graph(blob)
    assert len(graph["tasks"]) == 10_000 and len(graph["edges"]) == 9_999
    assert graph["edges"][0] == {
        "upstream_task": {"slug": "inc-1"},
        "downstream_task": {"slug": "inc-2"},
        "key": "x",
        "mapped": False,
    }
    assert took < 1.0  # ~30 ms; flow.serialize() takes ~0.4 s for the same flow


def test_a_run_is_drawn_from_its_stored_graph_without_its_file(
    store: RunStore, tmp_path: Path
) -> None:
    from lockgate import runs

    flow = _flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    stored = tmp_path / "stored.dot"
    runs.visualize(None, run_id=recorder.flow_run_id, output=stored, store=store)

    # The same drawing as from the flow itself, coloured by the same run.
    from lockgate.runs import task_states_from_records
    from lockgate.utilities.graphviz import draw_flow

    live = tmp_path / "live.dot"
    run = store.get_run(recorder.flow_run_id)
    draw_flow(
        flow,
        filename=live,
        task_states=task_states_from_records(flow, store.task_runs(run.id)),
        title=f"{flow.name} · run {run.id[:8]} ({run.state})",
    )
    assert stored.read_text() == live.read_text()
