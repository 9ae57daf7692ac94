"""The run page's flow graph: Graphviz SVG with each task filled with its state's colour.

It is drawn from the graph the store keeps with each run
(:meth:`~lockgate.store.RunStore.get_run_graph`): serving a page never loads the
flow's file, so reading a run never runs user code. Runs recorded before graphs were
stored get a short note instead.

Flows of up to :data:`MAX_GRAPH_TASKS` tasks are drawn a node per task. Larger ones
are drawn collapsed: the tasks that share a name (the same task called in a loop)
become one node, ``name x N``, filled with the colour of the most pressing state among
them, as long as that leaves at most :data:`MAX_GRAPH_TASKS` nodes.

Each task's ``<g class="node">`` in the SVG gets ``data-task`` (its slug),
``data-state`` and, for a mapped task, ``data-mapped``, for the page's script (a click
opens the task, or a mapped task's list of children) and for tests; a collapsed node
gets ``data-group`` (the shared name) and ``data-count``. Drawings are cached per
(run, stored version), so a live page redraws only when something changed.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from lockgate.store import FlowRunRecord, TaskRunRecord
from lockgate.ui.formatting import state_color

__all__ = [
    "MAX_GRAPH_TASKS",
    "NOT_STARTED",
    "Drawing",
    "FlowGraphs",
    "GraphNode",
    "draw_run",
    "graph_dot",
]

MAX_GRAPH_TASKS = 300
"""The most nodes drawn (Graphviz's layout time grows fast); larger flows are collapsed."""

NOT_STARTED = "not started"
"""What a task the run has no record of is called (drawn unfilled)."""

_NODE = re.compile(r'<g id="(node\d+)" class="node">(\s*<title>)(t\d+)(</title>)')

_URGENCY = (
    "Failed",
    "TimedOut",
    "TriggerFailed",
    "Crashed",
    "Cancelled",
    "Running",
    "Retrying",
    "Paused",
    "Resume",
    "Scheduled",
    "Pending",
)
"""Which state a collapsed node shows when its tasks differ: the first one found here."""


@dataclass(frozen=True)
class Drawing:
    """A run's graph, or why there is none.

    Attributes:
        svg: the SVG markup (no XML prolog), or None.
        note: why the graph is missing or drawn collapsed, or None.
    """

    svg: str | None
    note: str | None = None


@dataclass
class GraphNode:
    """One node to draw: a task, or a group of tasks sharing a name.

    Attributes:
        id: its DOT id (``t0``, ``t1``...), the ``<title>`` of its SVG group.
        label: the text in the box.
        state: the state it is filled with, or None (not started).
        mapped: a mapped task (drawn with a double border).
        failed_child: a mapped task with a failed child (outlined red).
        slug: the task's slug (None for a group of several tasks).
        group: the shared name of a collapsed node's tasks.
        count: how many tasks the node stands for.
        tooltip: the text shown on hover.
    """

    id: str
    label: str
    state: str | None
    mapped: bool = False
    failed_child: bool = False
    slug: str | None = None
    group: str | None = None
    count: int = 1
    tooltip: str = ""


class FlowGraphs:
    """Stored graphs (per flow version) and drawings (per run version), recently used.

    Args:
        cache_size: how many drawings to keep (and a quarter as many graphs).
    """

    def __init__(self, cache_size: int = 64) -> None:
        self._lock = threading.Lock()
        self._drawings: OrderedDict[tuple[str, str], Drawing] = OrderedDict()
        self._graphs: OrderedDict[tuple[str, str], Mapping[str, Any]] = OrderedDict()
        self._size = cache_size

    def graph(
        self, run: FlowRunRecord, load: Callable[[], Mapping[str, Any] | None]
    ) -> Mapping[str, Any] | None:
        """The graph stored with ``run``, read once per flow version.

        Args:
            run: the run.
            load: reads it from the store (:meth:`~lockgate.store.RunStore.get_run_graph`).

        Returns:
            The graph in the layout of :meth:`Flow.serialize`, or None for a run
            recorded before graphs were stored (not cached: a later read may find one).
        """
        key = (run.flow_name, run.graph_hash)
        with self._lock:
            if key in self._graphs:
                self._graphs.move_to_end(key)
                return self._graphs[key]
        found = load()
        if found is not None:
            with self._lock:
                self._graphs[key] = found
                while len(self._graphs) > max(1, self._size // 4):
                    self._graphs.popitem(last=False)
        return found

    def draw(
        self,
        run: FlowRunRecord,
        graph: Mapping[str, Any] | None,
        records: Sequence[TaskRunRecord],
        version: str,
    ) -> Drawing:
        """The SVG of ``run``'s graph coloured by ``records``' states.

        Args:
            run: the run.
            graph: its stored graph (see :meth:`graph`), or None.
            records: its task runs.
            version: the run's stored version (see :func:`lockgate.store.queries.run_activity`);
                the drawing is reused while it does not change.

        Returns:
            The drawing.
        """
        key = (run.id, version)
        with self._lock:
            if key in self._drawings:
                self._drawings.move_to_end(key)
                return self._drawings[key]
        drawing = draw_run(graph, records)
        with self._lock:
            self._drawings[key] = drawing
            while len(self._drawings) > self._size:
                self._drawings.popitem(last=False)
        return drawing


def draw_run(graph: Mapping[str, Any] | None, records: Sequence[TaskRunRecord]) -> Drawing:
    """Draw a stored graph with the states of a run's task runs.

    Args:
        graph: the run's stored graph (layout of :meth:`Flow.serialize`), or None for
            a run recorded before graphs were stored.
        records: the run's task runs.

    Returns:
        The drawing, or a note saying why there is none.
    """
    from lockgate.utilities.graphviz import Graph, find_dot

    if graph is None:
        return Drawing(
            None,
            "This run was recorded before lockgate kept each run's graph, so its graph "
            "is not drawn; its tasks are listed below.",
        )
    if find_dot() is None:
        return Drawing(
            None,
            "Graphviz's `dot` is not installed, so the graph cannot be drawn "
            "(apt-get install graphviz).",
        )
    source, nodes, note = graph_dot(graph, records)
    if source is None:
        return Drawing(None, note)
    try:
        svg = Graph(source).pipe("svg").decode("utf-8")
    except (RuntimeError, ValueError) as exc:
        return Drawing(None, f"Graphviz could not draw the graph: {exc}")
    return Drawing(_annotate(svg, nodes), note)


def _child_label(states: Sequence[str]) -> str:
    """``4 ✓ / 1 ✗``: a mapped task's children by outcome, as ``lockgate visualize`` says."""
    from lockgate.engine.state import Mapped
    from lockgate.engine.state_lookup import plain_state
    from lockgate.utilities.graphviz import _child_counts

    return _child_counts(Mapped(map_states=[plain_state(name) for name in states]))


def _most_urgent(states: Counter[str]) -> str | None:
    for name in _URGENCY:
        if states.get(name):
            return name
    return max(states, key=lambda s: (states[s], s)) if states else None


def graph_dot(
    graph: Mapping[str, Any], records: Sequence[TaskRunRecord]
) -> tuple[str | None, dict[str, GraphNode], str | None]:
    """The DOT source of a stored graph coloured by a run's states.

    Args:
        graph: the stored graph (``tasks`` with ``slug`` and ``name``; ``edges`` with
            ``upstream_task``/``downstream_task`` slugs, ``key``, ``mapped``).
        records: the run's task runs.

    Returns:
        The DOT source (None when there are too many nodes even collapsed), the nodes
        by DOT id, and a note (why it is collapsed or not drawn), or None.
    """
    from lockgate.engine.state import Failed
    from lockgate.utilities.graphviz import _attrs, _font_color, _legend_lines, _quote

    tasks: list[Mapping[str, Any]] = list(graph.get("tasks") or [])
    edges: list[Mapping[str, Any]] = list(graph.get("edges") or [])
    state = {r.task_slug: r.state for r in records if r.map_index < 0}
    children: dict[str, list[str]] = {}
    for r in records:
        if r.map_index >= 0:
            children.setdefault(r.task_slug, []).append(r.state)
    mapped_slugs = {e["downstream_task"]["slug"] for e in edges if e.get("mapped")}
    failed_states = set(_URGENCY[:4])

    node_of: dict[str, str] = {}  # task slug -> DOT id
    nodes: dict[str, GraphNode] = {}
    note = None
    if len(tasks) <= MAX_GRAPH_TASKS:
        for i, t in enumerate(tasks):
            slug = str(t["slug"])
            node = GraphNode(f"t{i}", str(t.get("name", slug)), state.get(slug), slug=slug)
            kids = children.get(slug)
            if slug in mapped_slugs:
                node.mapped = True
                if kids:
                    node.state = node.state or "Running"  # its children still run
                    node.label = f"{node.label} ({_child_label(kids)})"
                    node.failed_child = any(k in failed_states for k in kids)
            node_of[slug] = node.id
            nodes[node.id] = node
    else:
        groups: dict[str, list[str]] = {}
        for t in tasks:
            groups.setdefault(str(t.get("name", t["slug"])), []).append(str(t["slug"]))
        if len(groups) > MAX_GRAPH_TASKS:
            return (
                None,
                {},
                f"The graph is not drawn: its {len(tasks)} tasks have {len(groups)} "
                f"different names, more than the {MAX_GRAPH_TASKS} nodes a drawing holds "
                "even with the tasks of one name drawn as one node.",
            )
        note = (
            f"This flow has {len(tasks)} tasks: the tasks that share a name are drawn "
            "as one node ('name x count'), filled with the most pressing state among them."
        )
        for i, (name, slugs) in enumerate(groups.items()):
            counts = Counter(state.get(s, NOT_STARTED) for s in slugs)
            known = Counter({k: v for k, v in counts.items() if k != NOT_STARTED})
            node = GraphNode(f"t{i}", name, _most_urgent(known), group=name, count=len(slugs))
            if len(slugs) > 1:
                node.label = f"{name} x {len(slugs)}"
            else:
                node.slug = slugs[0]
            node.mapped = any(s in mapped_slugs for s in slugs)
            node.tooltip = ", ".join(f"{n} {s}" for s, n in counts.most_common())
            for s in slugs:
                node_of[s] = node.id
            nodes[node.id] = node

    lines = [
        f"digraph {_quote(str(graph.get('name', 'flow')))} {{",
        f"  graph {_attrs(label='', rankdir='TB', fontname='Helvetica')};",
        '  node [shape="box", style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize="10"];',
    ]
    legend: dict[str, str] = {}
    for node in nodes.values():
        attrs: dict[str, str] = {"label": node.label}
        if node.mapped:
            attrs["peripheries"] = "2"
        if node.state is None:
            legend.setdefault(NOT_STARTED, "#ffffff")
            attrs["tooltip"] = node.tooltip or NOT_STARTED
        else:
            fill = state_color(node.state)
            attrs.update(style="rounded,filled", fillcolor=fill, fontcolor=_font_color(fill))
            attrs["tooltip"] = node.tooltip or node.state
            legend.setdefault(node.state, fill)
        if node.failed_child:
            attrs.update(color=Failed.color, penwidth="2")
        lines.append(f"  {node.id} {_attrs(**attrs)};")
    seen: set[tuple[str, str]] = set()
    for e in edges:
        up = node_of.get(str(e["upstream_task"]["slug"]))
        down = node_of.get(str(e["downstream_task"]["slug"]))
        if up is None or down is None:
            continue
        edge_attrs: dict[str, str] = {}
        if note is not None:  # collapsed: one plain edge per pair of groups
            if up == down or (up, down) in seen:
                continue
            seen.add((up, down))
        else:
            if e.get("key"):
                edge_attrs["label"] = str(e["key"])
            if e.get("mapped"):
                edge_attrs["style"] = "bold"
            elif not e.get("key"):
                edge_attrs["style"] = "dashed"
        suffix = f" {_attrs(**edge_attrs)}" if edge_attrs else ""
        lines.append(f"  {up} -> {down}{suffix};")
    lines.extend(_legend_lines(sorted(legend.items())))
    lines.append("}")
    return "\n".join(lines) + "\n", nodes, note


def _annotate(svg: str, nodes: Mapping[str, GraphNode]) -> str:
    """Strip the XML prolog and tag each node with its task (or group) and state."""
    svg = svg[svg.find("<svg") :]

    def tag(match: re.Match[str]) -> str:
        node = nodes.get(match.group(3))
        if node is None:
            return match.group(0)
        extra = f' data-state="{escape(node.state or "")}"'
        if node.slug is not None:
            extra = f' data-task="{escape(node.slug)}"' + extra
        if node.group is not None and node.count > 1:
            extra += f' data-group="{escape(node.group)}" data-count="{node.count}"'
        if node.mapped:
            extra += ' data-mapped="1"'
        return f'<g id="{match.group(1)}" class="node"{extra}>{"".join(match.group(2, 3, 4))}'

    return _NODE.sub(tag, svg)
