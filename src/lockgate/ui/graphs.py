"""The run page's flow graph: Graphviz SVG with each task filled with its state's colour.

The store records task runs, not the flow's edges, so the flow is loaded again from
the file the run recorded (its ``source``), as ``lockgate visualize --run`` does, and
checked against the run's graph hash. Loaded flows are kept per (source, graph hash);
drawings per (run, stored version), so a live page redraws only when something changed.

Each task's ``<g class="node">`` in the SVG gets ``data-task`` (its slug),
``data-state`` and, for a mapped task, ``data-mapped``, for the page's script (a click
opens the task, or a mapped task's list of children) and for tests.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from lockgate.core.flow import Flow
from lockgate.store import FlowRunRecord, TaskRunRecord

__all__ = ["MAX_GRAPH_TASKS", "Drawing", "FlowGraphs"]

MAX_GRAPH_TASKS = 300
"""Flows with more tasks are not drawn (Graphviz layout time grows fast); the table stays."""

RETRY_LOAD_S = 30.0
"""How long a flow file that failed to load is left alone before trying again."""

_NODE = re.compile(r'<g id="(node\d+)" class="node">(\s*<title>)(t\d+)(</title>)')


@dataclass(frozen=True)
class Drawing:
    """A run's graph, or why there is none.

    Attributes:
        svg: the SVG markup (no XML prolog), or None.
        note: why the graph is missing or incomplete, or None.
    """

    svg: str | None
    note: str | None = None


class FlowGraphs:
    """Loads flows from their files (once per source and graph) and draws runs of them."""

    def __init__(self, cache_size: int = 64) -> None:
        self._lock = threading.Lock()
        self._flows: dict[tuple[str, str], tuple[float, Flow | str]] = {}
        self._drawings: OrderedDict[tuple[str, str], Drawing] = OrderedDict()
        self._size = cache_size

    def flow_for(self, run: FlowRunRecord) -> Flow | str:
        """The flow ``run`` ran, loaded from its source file, or why it cannot be had.

        Args:
            run: the run.

        Returns:
            The flow (the same graph as the run's), or a sentence saying why not.
        """
        if not run.source:
            return "The run was recorded without a source file, so its graph is unknown."
        key = (run.source, run.graph_hash)
        with self._lock:
            cached = self._flows.get(key)
            if cached is not None and (
                isinstance(cached[1], Flow) or time.monotonic() - cached[0] < RETRY_LOAD_S
            ):
                return cached[1]
            found = _load(run)
            self._flows[key] = (time.monotonic(), found)
            return found

    def draw(self, run: FlowRunRecord, records: Sequence[TaskRunRecord], version: str) -> Drawing:
        """The SVG of ``run``'s graph coloured by ``records``' states.

        Args:
            run: the run.
            records: its task runs.
            version: the run's stored version (see :func:`lockgate.ui.queries.run_activity`);
                the drawing is reused while it does not change.

        Returns:
            The drawing.
        """
        key = (run.id, version)
        with self._lock:
            if key in self._drawings:
                self._drawings.move_to_end(key)
                return self._drawings[key]
        drawing = self._draw(run, records)
        with self._lock:
            self._drawings[key] = drawing
            while len(self._drawings) > self._size:
                self._drawings.popitem(last=False)
        return drawing

    def _draw(self, run: FlowRunRecord, records: Sequence[TaskRunRecord]) -> Drawing:
        from lockgate.runs import task_states_from_records
        from lockgate.utilities.graphviz import draw_flow, find_dot

        tasks = sum(1 for r in records if r.map_index < 0)
        if tasks > MAX_GRAPH_TASKS:
            return Drawing(
                None, f"The graph is not drawn for flows of more than {MAX_GRAPH_TASKS} tasks."
            )
        if find_dot() is None:
            return Drawing(
                None,
                "Graphviz's `dot` is not installed, so the graph cannot be drawn "
                "(apt-get install graphviz).",
            )
        flow = self.flow_for(run)
        if isinstance(flow, str):
            return Drawing(None, flow)
        states = task_states_from_records(flow, records)
        try:
            svg = draw_flow(flow, task_states=states, title="").pipe("svg").decode("utf-8")
        except (RuntimeError, ValueError) as exc:
            return Drawing(None, f"Graphviz could not draw the graph: {exc}")
        return Drawing(_annotate(svg, flow, records))


def _load(run: FlowRunRecord) -> Flow | str:
    from lockgate.runs import RunsError, load_flow_file
    from lockgate.store import graph_hash

    assert run.source is not None
    try:
        flow = load_flow_file(run.source).flow
    except RunsError as exc:
        return f"The flow's file cannot be loaded to draw its graph: {exc}"
    if graph_hash(flow) != run.graph_hash:
        return (
            f"The flow in {run.source} has changed since this run (its tasks or edges "
            "differ), so its graph is not drawn."
        )
    return flow


def _annotate(svg: str, flow: Flow, records: Sequence[TaskRunRecord]) -> str:
    """Strip the XML prolog and tag each task's node with its slug, state and mapping."""
    svg = svg[svg.find("<svg") :]
    slugs = flow.slugs()
    ids = {f"t{i}": slugs[t] for i, t in enumerate(flow.sorted_tasks())}
    state = {r.task_slug: r.state for r in records if r.map_index < 0}
    mapped = {r.task_slug for r in records if r.map_index >= 0}

    def tag(match: re.Match[str]) -> str:
        slug = ids.get(match.group(3))
        if slug is None:
            return match.group(0)
        extra = f' data-task="{escape(slug)}" data-state="{escape(state.get(slug, ""))}"'
        if slug in mapped:
            extra += ' data-mapped="1"'
        return f'<g id="{match.group(1)}" class="node"{extra}>{"".join(match.group(2, 3, 4))}'

    return _NODE.sub(tag, svg)
