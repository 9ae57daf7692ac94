"""Flow drawings: DOT source from a flow and a real run, rendering with Graphviz's dot."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from lockgate import Flow, Task, task
from lockgate.engine import signals
from lockgate.engine.state import Failed, Mapped, Skipped, State, Success
from lockgate.tasks.control_flow import ifelse, merge
from lockgate.utilities.graphviz import Graph, draw_flow

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' binary not installed; run `make test` which installs it",
)


@task
def numbers() -> list[int]:
    return [1, 2, 3, 4]


@task
def fragile(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


@task(trigger=lambda states: True)
def total(xs: list[Any]) -> int:
    return sum(x for x in xs if isinstance(x, int))


@task
def fail() -> None:
    raise ValueError("boom")


@task
def after(x: Any) -> Any:
    return x


@task
def skip() -> None:
    raise signals.SKIP("no")


def node_line(source: str, label_start: str) -> str:
    """The DOT line of the node whose label starts with ``label_start``."""
    lines = [ln for ln in source.splitlines() if f'[label="{label_start}' in ln]
    assert len(lines) == 1, lines
    return lines[0]


def node_id(source: str, label_start: str) -> str:
    return node_line(source, label_start).split()[0]


def edge_lines(source: str) -> list[str]:
    return [ln.strip() for ln in source.splitlines() if "->" in ln]


def mapped_flow() -> tuple[Flow, Task, Task, Task]:
    with Flow("mapped") as flow:
        nums = numbers()
        each = fragile.map(nums)
        summed = total(each)
    return flow, nums, each, summed


# -- the DOT source ------------------------------------------------------------------------
def test_source_has_every_task_and_labelled_edges() -> None:
    with Flow("etl") as flow:
        a = after(1)
        b = after(a, task_args={"name": "second"})
        c = fail(upstream_tasks=[b])
    graph = flow.visualize()
    assert isinstance(graph, Graph)
    src = graph.source
    assert src.startswith('digraph "etl" {') and src.rstrip().endswith("}")
    for t in (a, b, c):
        node_line(src, t.name)
    id_a, id_b, id_c = node_id(src, "after"), node_id(src, "second"), node_id(src, "fail")
    assert f'{id_a} -> {id_b} [label="x"];' in edge_lines(src)
    assert f'{id_b} -> {id_c} [style="dashed"];' in edge_lines(src)
    assert "fillcolor" not in src  # no run state: no colours, no legend
    assert "cluster_legend" not in src
    assert str(graph) == src


def test_every_edge_is_drawn_once() -> None:
    with Flow("diamond") as flow:
        top = after(1)
        left, right = after(top), after(top)
        bottom = total([left, right])
    src = draw_flow(flow).source
    assert len(edge_lines(src)) == len(flow.edges)
    assert len(flow.tasks) == 5  # the list input became a List task
    node_line(src, "List")
    node_line(src, "total")
    assert bottom in flow.tasks


def test_mapped_task_has_a_double_border_and_bold_edge() -> None:
    flow, *_ = mapped_flow()
    src = draw_flow(flow).source
    line = node_line(src, "fragile")
    assert 'label="fragile"' in line  # no counts without a run state
    assert 'peripheries="2"' in line
    assert 'peripheries="2"' not in node_line(src, "numbers")
    mapped_edge = (
        f'{node_id(src, "numbers")} -> {node_id(src, "fragile")} [label="x", style="bold"];'
    )
    assert mapped_edge in edge_lines(src)
    reduce_edge = f'{node_id(src, "fragile")} -> {node_id(src, "total")} [label="xs"];'
    assert reduce_edge in edge_lines(src)


def test_colours_from_a_real_flow_run() -> None:
    with Flow("colours") as flow:
        ok = after(1)
        bad = fail()
        downstream = after(bad, task_args={"name": "downstream"})
        skipped = skip()
    state = flow.run()
    states: dict[Task, State] = state.result
    src = flow.visualize(flow_state=state).source

    assert f'label="colours ({type(state).__name__})"' in src
    for t, expected in ((ok, Success), (bad, Failed), (skipped, Skipped)):
        assert type(states[t]) is expected
        assert f'fillcolor="{expected.color}"' in node_line(src, t.name)
    trigger_failed = states[downstream]
    assert f'fillcolor="{trigger_failed.color}"' in node_line(src, "downstream")
    assert 'tooltip="Failed: Unexpected error: ValueError(' in node_line(src, "fail")

    legend = src[src.index("subgraph cluster_legend") :]
    for name, color in (
        ("Success", Success.color),
        ("Failed", Failed.color),
        ("Skipped", Skipped.color),
        ("TriggerFailed", trigger_failed.color),
    ):
        assert f'[label="{name}", style="rounded,filled", fillcolor="{color}"' in legend
    assert "no state" not in legend


def test_mapped_node_label_counts_children() -> None:
    flow, _, each, summed = mapped_flow()
    state = flow.run()
    mapped = state.result[each]
    assert isinstance(mapped, Mapped)
    src = draw_flow(flow, flow_state=state).source
    line = node_line(src, "fragile")
    assert 'label="fragile (3 ✓ / 1 ✗)"' in line
    assert 'peripheries="2"' in line
    assert f'fillcolor="{Mapped.color}"' in line
    assert f'color="{Failed.color}"' in line  # a failed child marks the border
    assert state.result[summed].result == 1 + 2 + 4


def test_mapped_node_label_when_every_child_succeeds() -> None:
    with Flow("mapped") as flow:
        after.map([1, 2])
    src = draw_flow(flow, flow_state=flow.run()).source
    line = node_line(src, "after")
    assert 'label="after (2 ✓ / 0 ✗)"' in line
    assert f'color="{Failed.color}"' not in line


def test_tasks_missing_from_the_state_are_unfilled_and_in_the_legend() -> None:
    with Flow("partial") as flow:
        a = after(1)
        b = after(a, task_args={"name": "b"})
    state = flow.run(return_tasks=[b])
    src = draw_flow(flow, flow_state=state).source
    assert "fillcolor" not in node_line(src, "after")
    assert f'fillcolor="{Success.color}"' in node_line(src, "b")
    assert '[label="no state"' in src


def test_quotes_and_backslashes_in_names_are_escaped() -> None:
    with Flow('my "quoted" flow') as flow:
        after(1, task_args={"name": 'say "hi" \\ bye'})
    src = draw_flow(flow).source
    assert src.startswith('digraph "my \\"quoted\\" flow" {')
    assert '[label="say \\"hi\\" \\\\ bye"]' in src
    # Outside of escapes, every line has an even number of quotes.
    for ln in src.splitlines():
        assert ln.replace("\\\\", "").replace('\\"', "").count('"') % 2 == 0, ln


def test_control_flow_drawing() -> None:
    with Flow("branch") as flow:
        yes, no = after(1, task_args={"name": "yes"}), after(0, task_args={"name": "no"})
        ifelse(True, yes, no)
        merge(yes, no)
    state = flow.run()
    src = draw_flow(flow, flow_state=state).source
    assert f'fillcolor="{Skipped.color}"' in node_line(src, "no")
    assert f'fillcolor="{Success.color}"' in node_line(src, "yes")
    assert f'{node_id(src, "case(True)")} -> {node_id(src, "yes")} [style="dashed"];' in src
    assert f'{node_id(src, "yes")} -> {node_id(src, "Merge")} [label="task_1"];' in src


def test_draw_flow_rejects_a_non_state() -> None:
    with Flow("f") as flow:
        after(1)
    with pytest.raises(TypeError, match=r"state returned by flow\.run"):
        draw_flow(flow, flow_state={"not": "a state"})  # type: ignore[arg-type]


# -- rendering -----------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("ext", [".svg", ".png", ".pdf"])
def test_render_with_dot(tmp_path: Path, ext: str) -> None:
    flow, *_ = mapped_flow()
    target = tmp_path / f"flow{ext}"
    out = flow.visualize(flow_state=flow.run(), filename=str(target))
    assert isinstance(out, Graph)
    data = target.read_bytes()
    magic = {".svg": b"<svg", ".png": b"\x89PNG", ".pdf": b"%PDF"}[ext]
    assert magic in data[:400]
    assert os.listdir(tmp_path) == [target.name]  # no temporary file left behind


@needs_dot
def test_rendered_svg_shows_labels_and_repr_svg(tmp_path: Path) -> None:
    flow, *_ = mapped_flow()
    graph = draw_flow(flow, flow_state=flow.run())
    path = graph.render(tmp_path / "flow.svg")
    assert path == str(tmp_path / "flow.svg")
    svg = Path(path).read_text(encoding="utf-8")
    assert "fragile (3 ✓ / 1 ✗)" in svg
    assert "Legend" in svg
    inline = graph._repr_svg_()
    assert inline is not None and "<svg" in inline and "fragile" in inline


@needs_dot
def test_render_escaped_names_is_valid_dot(tmp_path: Path) -> None:
    with Flow('q"uote\\') as flow:
        after(1, task_args={"name": 'a "b" \\c\nd'})
    path = draw_flow(flow).render(tmp_path / "odd.svg")
    svg = Path(path).read_text(encoding="utf-8")
    assert "&quot;b&quot;" in svg or '"b"' in svg


def test_render_dot_source_needs_no_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    flow, *_ = mapped_flow()
    graph = draw_flow(flow)
    for name in ("flow.dot", "flow.gv"):
        graph.render(tmp_path / name)
        assert (tmp_path / name).read_text(encoding="utf-8") == graph.source


def test_missing_dot_gives_install_hint_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    flow, *_ = mapped_flow()
    target = tmp_path / "out" / "flow.svg"
    target.parent.mkdir()
    with pytest.raises(RuntimeError, match=re.escape("apt-get install graphviz")) as info:
        flow.visualize(filename=str(target))
    assert "make test" in str(info.value)
    assert os.listdir(target.parent) == []
    assert draw_flow(flow)._repr_svg_() is None  # notebooks fall back to the text repr


def test_failed_render_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_dot = fake_bin / "dot"
    fake_dot.write_text(
        "#!/bin/sh\nprintf '<svg partial'\necho 'syntax error in line 1' >&2\nexit 3\n"
    )
    fake_dot.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "flow.svg"
    target.write_text("previous drawing")
    flow, *_ = mapped_flow()
    with pytest.raises(RuntimeError, match=r"exit status 3.*syntax error in line 1"):
        draw_flow(flow).render(target)
    assert target.read_text() == "previous drawing"
    assert os.listdir(out_dir) == ["flow.svg"]


def test_render_rejects_unknown_extensions(tmp_path: Path) -> None:
    with Flow("f") as flow:
        after(1)
    graph = draw_flow(flow)
    for name in ("flow.jpeg", "flow"):
        with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.dot, \.gv"):
            graph.render(tmp_path / name)
    with pytest.raises(ValueError, match="format 'bmp'"):
        graph.pipe("bmp")
    assert os.listdir(tmp_path) == []


def test_graph_repr_is_short() -> None:
    with Flow("f") as flow:
        after(1)
    assert repr(draw_flow(flow)).startswith("<Graph: ")
