"""No page runs the flow's code: graphs come from the store, values are plain data.

The run page's graph is drawn from the graph stored with the run, never from its
file; a task page shows stored results and inputs only when they are plain data.
Over HTTP to a real ``lockgate ui``, plus the drawing itself from a graph dict built
here (large flows drawn collapsed, too many names not drawn).
"""

from __future__ import annotations

import re
import sqlite3
import textwrap
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _ui_helpers import Server, Site, fetch, start_server

from lockgate import runs
from lockgate.store import TaskRunRecord
from lockgate.ui.graphs import MAX_GRAPH_TASKS, graph_dot

SIDE_EFFECT = """
from pathlib import Path

from lockgate import Flow, task

# Importing this file leaves a mark: the dashboard must never do it to draw a page.
(Path(__file__).parent / "imported.log").open("a").write("imported\\n")


@task
def one():
    return 1


@task
def two(x):
    return x + 1


with Flow("side-effect") as flow:
    two(one())
"""

MODEL = """
from pathlib import Path

# Importing this module, or loading a Thing, leaves a mark.
(Path(__file__).parent / "imported.log").open("a").write("import\\n")


class Thing:
    def __init__(self, n):
        self.n = n

    def __setstate__(self, state):
        (Path(__file__).parent / "imported.log").open("a").write("load\\n")
        self.__dict__.update(state)
"""

USES_MODEL = """
from lockgate import Flow, task

import sidemodel


@task
def make():
    return sidemodel.Thing(3)


@task
def use(thing):
    raise RuntimeError("cannot use it")


@task
def plain():
    return {"n": [1, 2.5, "three"]}


with Flow("uses-model") as flow:
    use(make())
    plain()
"""

BIG = """
from lockgate import Flow, task


@task
def fetch(i):
    return i


@task
def parse(x):
    return x


@task
def report(xs):
    return len(xs)


with Flow("big") as flow:
    parsed = [parse(fetch(i)) for i in range(160)]
    report(parsed)
"""


@pytest.fixture(scope="module")
def graph_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    home = tmp_path_factory.mktemp("ui-graph")
    site = Site(home=home, url=f"sqlite:///{home}/store.db")
    for name, text in (("side", SIDE_EFFECT), ("big", BIG)):
        folder = home / name
        folder.mkdir()
        (folder / "flow.py").write_text(textwrap.dedent(text))
        with site.open() as store:
            site.runs[name], _ = runs.run_file(str(folder / "flow.py"), {}, store=store)
    return site


@pytest.fixture(scope="module")
def graph_server(graph_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(graph_site, tmp_path_factory.mktemp("ui-graph-server"))
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text()


def test_a_run_page_never_imports_the_flow_file(graph_server: Server, graph_site: Site) -> None:
    run_id = graph_site.runs["side"]
    folder = graph_site.home / "side"
    assert (folder / "imported.log").read_text() == "imported\n"  # the run imported it once
    # Even a file that now builds another flow (or is gone) does not matter.
    (folder / "flow.py").write_text("raise SystemExit('must not be imported')\n")
    page = fetch(graph_server, "GET", f"/runs/{run_id}")
    assert page.status == 200
    assert 'data-task="one-1" data-state="Success"' in page.text
    assert 'data-task="two-1" data-state="Success"' in page.text
    (folder / "flow.py").unlink()
    assert fetch(graph_server, "GET", f"/runs/{run_id}/fragment").status == 200
    assert (folder / "imported.log").read_text() == "imported\n"  # still only once


def test_a_run_without_a_stored_graph_says_so(graph_site: Site, tmp_path: Path) -> None:
    # A copy of the store where the run's graph is gone, as for a run recorded before
    # graphs were stored (schema revision 0003 added the column, empty for old flows).
    copy = tmp_path / "old.db"
    with sqlite3.connect(graph_site.url.removeprefix("sqlite:///")) as source:
        with sqlite3.connect(copy) as target:
            source.backup(target)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE flows SET graph = NULL")
    old = Site(home=graph_site.home, url=f"sqlite:///{copy}")
    server = start_server(old, tmp_path)
    try:
        page = fetch(server, "GET", f"/runs/{graph_site.runs['side']}")
        assert page.status == 200
        assert "recorded before lockgate kept each run&#39;s graph" in page.text
        assert "<svg" not in page.text.split('class="graph-box"')[1].split("</section>")[0]
        assert 'data-task="two-1"' in page.text  # the table is still there
    finally:
        server.stop()


def test_a_flow_of_more_than_300_tasks_is_drawn_collapsed(
    graph_server: Server, graph_site: Site
) -> None:
    run_id = graph_site.runs["big"]
    with graph_site.open() as store:
        graph = store.get_run_graph(run_id)
    assert graph is not None
    tasks = len(graph["tasks"])  # 160 fetch, 160 parse, report, and the list they make
    assert tasks > MAX_GRAPH_TASKS
    page = fetch(graph_server, "GET", f"/runs/{run_id}")
    assert page.status == 200
    assert f"This flow has {tasks} tasks" in page.text
    groups = dict(re.findall(r'data-group="(\w+)" data-count="(\d+)"', page.text))
    assert groups == {"fetch": "160", "parse": "160"}
    assert 'data-task="report-1" data-state="Success"' in page.text  # alone in its name
    assert page.text.count("<tr data-task=") == tasks  # the table lists every task


def record(slug: str, state: str, index: int = -1) -> TaskRunRecord:
    now = datetime.now(timezone.utc)
    name = slug.rsplit("-", 1)[0]
    return TaskRunRecord(
        "r" * 32, slug, name, index, state, None, 1, now, now, None, None, None, None
    )


def chain_graph(names: list[str]) -> dict:
    tasks = [{"slug": f"{n}-1", "name": n, "type": "lockgate.Task", "tags": []} for n in names]
    edges = [
        {
            "upstream_task": {"slug": f"{a}-1"},
            "downstream_task": {"slug": f"{b}-1"},
            "key": "x",
            "mapped": False,
        }
        for a, b in zip(names, names[1:])
    ]
    return {"name": "chain", "tasks": tasks, "edges": edges}


def test_drawing_from_a_graph_dict() -> None:
    graph = chain_graph(["a", "b", "c"])
    graph["edges"][1]["mapped"] = True  # c is mapped over b
    records = [
        record("a-1", "Success"),
        record("b-1", "Failed"),
        record("c-1", "Success", 0),
        record("c-1", "Failed", 1),
    ]
    source, nodes, note = graph_dot(graph, records)
    assert source is not None and note is None
    by_slug = {n.slug: n for n in nodes.values()}
    assert by_slug["a-1"].state == "Success" and by_slug["b-1"].state == "Failed"
    assert by_slug["c-1"].mapped and by_slug["c-1"].label == "c (1 ✓ / 1 ✗)"
    assert by_slug["c-1"].failed_child
    assert 't0 -> t1 [label="x"]' in source and 't1 -> t2 [label="x", style="bold"]' in source


def test_a_task_that_never_started_is_drawn_unfilled() -> None:
    source, nodes, _ = graph_dot(chain_graph(["a", "b"]), [record("a-1", "Running")])
    assert source is not None
    assert {n.slug: n.state for n in nodes.values()} == {"a-1": "Running", "b-1": None}
    assert 'label="not started"' in source  # in the legend


def test_too_many_names_even_collapsed_are_not_drawn() -> None:
    names = [f"step{i}" for i in range(MAX_GRAPH_TASKS + 1)]
    source, nodes, note = graph_dot(chain_graph(names), [])
    assert source is None and nodes == {}
    assert note is not None and f"{MAX_GRAPH_TASKS + 1} different names" in note


def test_a_task_page_never_loads_user_classes(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "sidemodel.py").write_text(textwrap.dedent(MODEL))
    (folder / "flow.py").write_text(textwrap.dedent(USES_MODEL))
    with site.open() as store:
        run_id, _ = runs.run_file(str(folder / "flow.py"), {}, store=store)
    marks = (folder / "imported.log").read_text()
    assert marks == "import\n"  # the run imported it; nothing loaded a Thing back
    # The dashboard could import it (as an installed package): it must not.
    monkeypatch.setenv("PYTHONPATH", str(folder))
    server = start_server(site, tmp_path)
    try:
        made = fetch(server, "GET", f"/runs/{run_id}/tasks/make-1")
        assert made.status == 200
        assert "Stored, not shown: it holds a sidemodel.Thing object" in made.text
        used = fetch(server, "GET", f"/runs/{run_id}/tasks/use-1")
        assert "Stored, not shown: it holds a sidemodel.Thing object" in used.text
        plain = fetch(server, "GET", f"/runs/{run_id}/tasks/plain-1")
        assert "{&#39;n&#39;: [1, 2.5, &#39;three&#39;]}" in plain.text  # plain data is shown
    finally:
        server.stop()
    assert (folder / "imported.log").read_text() == marks
