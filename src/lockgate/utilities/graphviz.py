"""Draw a flow as a Graphviz graph (used by :meth:`lockgate.core.flow.Flow.visualize`).

The DOT text is generated here, so building a drawing needs nothing installed;
only turning it into an image (:meth:`Graph.render`, notebook display) runs the
Graphviz ``dot`` program. Install it with your system's package manager, e.g.
``apt-get install graphviz`` or ``brew install graphviz``; ``make test`` installs it
for the test suite.

What the drawing shows:

* one box per task, labelled with the task's name;
* a mapped task (one with a mapped incoming edge) as one box with a double border;
  with a run state its label counts the children, e.g. ``parse (3 ✓ / 1 ✗ / 2 skipped)``
  (also ``paused`` and ``unfinished`` children when there are some);
* edges labelled with the input they feed; dashed for state-only dependencies,
  bold for mapped inputs;
* with ``flow_state`` (or ``task_states``, e.g. rebuilt from the run store): each box
  filled with its state's ``color`` and a legend of the states shown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.engine.state import State

__all__ = ["FORMATS", "Graph", "draw_flow", "find_dot"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
"""File extensions :meth:`Graph.render` can write, and the ``dot -T`` format of each."""

_SOURCE_EXTENSIONS = (".dot", ".gv")
_INSTALL_HINT = (
    "Graphviz's 'dot' program was not found on PATH, so the flow cannot be drawn as an "
    "image. Install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz`, "
    "or run `make test`, which installs it), or use `Graph.source` for the DOT text."
)


def find_dot() -> str | None:
    """Locate Graphviz's ``dot`` program.

    Returns:
        The path of ``dot`` on ``PATH``, or None when Graphviz is not installed.
    """
    return shutil.which("dot")


def _quote(text: str) -> str:
    """Quote ``text`` as a DOT string: backslashes and quotes escaped, newlines kept."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def _font_color(fill: str) -> str:
    """Black text on light fills, white on dark ones (fills are ``#rrggbb``)."""
    if len(fill) == 7 and fill.startswith("#"):
        try:
            r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            return "black"
        if 0.299 * r + 0.587 * g + 0.114 * b < 140:
            return "white"
    return "black"


class Graph:
    """A drawing of a flow: DOT text, plus ways to turn it into an image.

    Args:
        source: the DOT text.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"<Graph: {len(self.source)} characters of DOT; .render('flow.svg') to draw it>"

    def __str__(self) -> str:
        return self.source

    def pipe(self, format: str = "svg") -> bytes:
        """Run ``dot`` on the source and return the image bytes.

        Args:
            format: a ``dot -T`` output format: ``"svg"``, ``"png"`` or ``"pdf"``.

        Returns:
            The rendered image.

        Raises:
            ValueError: for an unsupported format.
            RuntimeError: when ``dot`` is not installed, or fails.
        """
        if format not in FORMATS.values():
            raise ValueError(
                f"Cannot render to format {format!r}; choose one of {sorted(FORMATS.values())}."
            )
        dot = find_dot()
        if dot is None:
            raise RuntimeError(_INSTALL_HINT)
        try:
            done = subprocess.run(
                [dot, f"-T{format}"],
                input=self.source.encode("utf-8"),
                capture_output=True,
                check=False,
            )
        except OSError as exc:
            raise RuntimeError(f"Could not run Graphviz 'dot' at {dot!r}: {exc}") from exc
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip() or "no error message"
            raise RuntimeError(
                f"Graphviz 'dot' failed (exit status {done.returncode}) rendering to "
                f"{format}: {message}"
            )
        return done.stdout

    def render(self, path: str | os.PathLike[str]) -> str:
        """Write the drawing to ``path``; the format comes from the extension.

        ``.svg``, ``.png`` and ``.pdf`` run Graphviz's ``dot``; ``.dot`` and ``.gv``
        write the DOT text itself. The file is written to a temporary file next to
        ``path`` and moved into place, so a failed render never leaves a partial file
        (and never touches an existing one).

        Args:
            path: the file to write.

        Returns:
            The path written, as a string.

        Raises:
            ValueError: when the extension is not one of the supported ones.
            RuntimeError: when ``dot`` is needed but not installed, or fails.
        """
        target = os.fspath(path)
        ext = os.path.splitext(target)[1].lower()
        if ext in _SOURCE_EXTENSIONS:
            data = self.source.encode("utf-8")
        elif ext in FORMATS:
            data = self.pipe(FORMATS[ext])
        else:
            supported = ", ".join([*FORMATS, *_SOURCE_EXTENSIONS])
            raise ValueError(
                f"Cannot tell the image format of {target!r} from its extension; "
                f"use one of: {supported}."
            )
        directory = os.path.dirname(os.path.abspath(target))
        # Not tempfile.mkstemp: its files are mode 0600; "x" mode honours the umask.
        tmp = os.path.join(
            directory, f".{os.path.basename(target)}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
        )
        try:
            with open(tmp, "xb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return target

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter and IPython; None (text display) when Graphviz is missing.

        Returns:
            The SVG text, or None when ``dot`` is not installed.
        """
        if find_dot() is None:
            return None
        return self.pipe("svg").decode("utf-8")


def _legend_lines(entries: Sequence[tuple[str, str]]) -> list[str]:
    """The DOT lines of a legend: one box per (state name, fill colour)."""
    lines = ["  subgraph cluster_legend {"]
    lines.append(f"    graph {_attrs(label='Legend', style='rounded', color='#9e9e9e')};")
    for i, (name, fill) in enumerate(entries):
        legend_attrs = _attrs(
            label=name,
            style="rounded,filled",
            fillcolor=fill,
            fontcolor=_font_color(fill),
            fontsize="10",
        )
        lines.append(f"    legend_{i} {legend_attrs};")
    lines.append("  }")
    return lines


def _is_mapped(flow: Flow, task: Task) -> bool:
    return any(e.mapped for e in flow.edges_to(task))


def _child_counts(state: State) -> str:
    from lockgate.engine.state import Failed, Mapped, Paused, Skipped, Success

    assert isinstance(state, Mapped)
    skipped = sum(1 for s in state.map_states if isinstance(s, Skipped))
    ok = sum(1 for s in state.map_states if isinstance(s, Success)) - skipped
    failed = sum(1 for s in state.map_states if isinstance(s, Failed))
    paused = sum(1 for s in state.map_states if isinstance(s, Paused))
    other = len(state.map_states) - ok - skipped - failed - paused
    text = f"{ok} ✓ / {failed} ✗"
    if skipped:
        text += f" / {skipped} skipped"
    if paused:
        text += f" / {paused} paused"
    if other:
        text += f" / {other} unfinished"
    return text


def _task_states(flow_state: State | None) -> dict[Task, State] | None:
    if flow_state is None:
        return None
    from lockgate.engine.state import State as StateClass

    if not isinstance(flow_state, StateClass):
        raise TypeError(
            "draw_flow(flow_state=...) takes the state returned by flow.run(), "
            f"got {type(flow_state).__name__}."
        )
    result = flow_state.result
    return dict(result) if isinstance(result, Mapping) else {}


def draw_flow(
    flow: Flow,
    flow_state: State | None = None,
    filename: str | os.PathLike[str] | None = None,
    *,
    task_states: Mapping[Task, State] | None = None,
    title: str | None = None,
) -> Graph:
    """Build a Graphviz drawing of ``flow``, coloured by a run's states when given.

    Args:
        flow: the flow to draw.
        flow_state: the state ``flow.run()`` returned; its ``result`` maps tasks to
            states. Tasks without a state in it are drawn unfilled.
        filename: also write the drawing there (format from the extension, see
            :meth:`Graph.render`).
        task_states: a state per task, used instead of ``flow_state.result`` (for
            example states rebuilt from the run store; a mapped task's ``Mapped``
            state carries its children in ``map_states``).
        title: the drawing's title (default: the flow's name, with the flow state's
            class when ``flow_state`` is given).

    Returns:
        The :class:`Graph`; its ``source`` is the DOT text.

    Raises:
        TypeError: when ``flow_state`` is not a state.
        ValueError: when ``filename`` has an unsupported extension.
        RuntimeError: when ``filename`` needs Graphviz's ``dot`` and it is missing
            or fails.
    """
    from lockgate.engine.state import Failed, Mapped

    states = _task_states(flow_state)
    if task_states is not None:
        states = dict(task_states)
    tasks = flow.sorted_tasks()
    position = {t: i for i, t in enumerate(tasks)}
    ids = {t: f"t{i}" for t, i in position.items()}

    if title is None:
        title = flow.name if flow_state is None else f"{flow.name} ({type(flow_state).__name__})"
    lines = [
        f"digraph {_quote(flow.name)} {{",
        f"  graph {_attrs(label=title, labelloc='t', fontname='Helvetica', rankdir='TB')};",
        '  node [shape="box", style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize="10"];',
    ]
    legend: dict[str, str] = {}
    no_state = False
    for t in tasks:
        attrs: dict[str, str] = {"label": t.name}
        mapped = _is_mapped(flow, t)
        if mapped:
            attrs["peripheries"] = "2"
        if states is not None:
            state = states.get(t)
            if state is None:
                no_state = True
            else:
                fill = str(getattr(state, "color", "#ffffff"))
                attrs["style"] = "rounded,filled"
                attrs["fillcolor"] = fill
                attrs["fontcolor"] = _font_color(fill)
                kind = type(state).__name__
                attrs["tooltip"] = f"{kind}: {state.message}" if state.message else kind
                legend.setdefault(kind, fill)
                if mapped and isinstance(state, Mapped):
                    attrs["label"] = f"{t.name} ({_child_counts(state)})"
                    if any(isinstance(s, Failed) for s in state.map_states):
                        attrs["color"] = Failed.color
                        attrs["penwidth"] = "2"
        lines.append(f"  {ids[t]} {_attrs(**attrs)};")

    for t in tasks:
        out = sorted(
            flow.edges_from(t),
            key=lambda e: (position[e.downstream_task], e.key or "", e.mapped),
        )
        for e in out:
            edge_attrs: dict[str, str] = {}
            if e.key is not None:
                edge_attrs["label"] = e.key
            if e.mapped:
                edge_attrs["style"] = "bold"
            elif e.key is None:
                edge_attrs["style"] = "dashed"
            suffix = f" {_attrs(**edge_attrs)}" if edge_attrs else ""
            lines.append(f"  {ids[e.upstream_task]} -> {ids[e.downstream_task]}{suffix};")

    if states is not None:
        entries = sorted(legend.items())
        if no_state:
            entries.append(("no state", "#ffffff"))
        lines.extend(_legend_lines(entries))
    lines.append("}")
    graph = Graph("\n".join(lines) + "\n")
    if filename is not None:
        graph.render(filename)
    return graph
