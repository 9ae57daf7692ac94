"""The dashboard in a real browser (Debian's chromium driven by Playwright).

Each step is checked on the page as a person sees it, and a screenshot of it is kept
(tmp dir and ``build/ui-screenshots/``). Actions go through the page's own links,
confirmation pages and forms, so the CSRF token and Origin checks are those a browser
really sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _ui_helpers import Server, Site

from lockgate.engine.state import Failed, Mapped, Paused, Success, TriggerFailed

pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")

from playwright.sync_api import expect

Snap = Callable[[Any, str], Path]

NODE_FILLS = """
() => Object.fromEntries(
  Array.from(document.querySelectorAll("g.node[data-task]")).map((node) => {
    const shape = Array.from(node.querySelectorAll("path, polygon, ellipse")).find(
      (el) => (el.getAttribute("fill") || "none") !== "none"
    );
    return [node.getAttribute("data-task"), shape ? shape.getAttribute("fill") : null];
  })
)
"""


def node_fills(page: Any) -> dict[str, str]:
    """The fill colour of each task's node in the run page's graph, by task slug."""
    fills: dict[str, str] = page.evaluate(NODE_FILLS)
    return fills


def open_run(page: Any, server: Server, run_id: str) -> None:
    page.goto(f"{server.url}runs/{run_id}")
    expect(page.locator("#run-state")).to_be_visible()


def test_runs_list_shows_the_runs(page: Any, server: Server, site: Site, snap: Snap) -> None:
    page.goto(server.url)
    for name, run_id in site.runs.items():
        row = page.locator(f'tr[data-run="{run_id}"]')
        expect(row).to_be_visible()
        expect(row.locator(".badge")).to_have_text(site.state(run_id))
        expect(row).to_contain_text(name)
    expect(page.locator("svg.chart")).to_be_visible()
    snap(page, "list")

    page.select_option('select[name="state"]', "Failed")
    page.click('form.filters button[type="submit"]')
    expect(page).to_have_url(re.compile(r"state=Failed"))
    expect(page.locator(f'tr[data-run="{site.runs["flaky"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-run="{site.runs["hello"]}"]')).to_have_count(0)
    snap(page, "list-failed")


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        ("hello", {"name": Success, "greet-1": Success, "shout-1": Success}),
        ("flaky", {"prepare-1": Success, "flaky-1": Failed, "report-1": TriggerFailed}),
        (
            "approval",
            {"n": Success, "extract-1": Success, "total-1": Success, "publish-1": Paused},
        ),
        ("mapped", {"items-1": Success, "double-1": Mapped, "total-1": TriggerFailed}),
    ],
)
def test_run_graph_shows_state_colours(
    page: Any, server: Server, site: Site, snap: Snap, flow: str, expected: dict[str, type]
) -> None:
    open_run(page, server, site.runs[flow])
    expect(page.locator(".graph svg")).to_be_visible()
    assert node_fills(page) == {slug: cls.color for slug, cls in expected.items()}
    for slug, cls in expected.items():  # the table agrees with the graph
        expect(
            page.locator(f'tr[data-task="{slug}"]:not([data-child]) > td > .badge')
        ).to_have_text(cls.__name__)
    snap(page, "run")


def test_mapped_node_expands_to_its_children(
    page: Any, server: Server, site: Site, snap: Snap
) -> None:
    open_run(page, server, site.runs["mapped"])
    node = page.locator('g.node[data-task="double-1"]')
    expect(node).to_contain_text("4 ✓ / 1 ✗")
    children = page.locator("#children-double-1")
    expect(children.locator("tr[data-child]").first).to_be_hidden()
    node.click()
    expect(children.locator("tr[data-child]")).to_have_count(5)
    expect(children.locator('tr[data-child="3"] .badge')).to_have_text("Failed")
    expect(children.locator('tr[data-child="0"] .badge')).to_have_text("Success")
    snap(page, "children")

    children.locator('tr[data-child="3"] a').click()
    expect(page.locator("#traceback")).to_contain_text("ValueError: four is bad today")
    expect(page.locator("#inputs")).to_have_text("x = 4")
    snap(page, "child")


def test_task_page_from_the_graph(page: Any, server: Server, site: Site, snap: Snap) -> None:
    open_run(page, server, site.runs["flaky"])
    page.locator('g.node[data-task="flaky-1"]').click()
    expect(page).to_have_url(re.compile(r"/tasks/flaky-1$"))
    expect(page.locator("#task-state .badge")).to_have_text("Failed")
    expect(page.locator(".timeline .seg")).to_have_count(2)
    expect(page.locator("#inputs")).to_have_text("x = 21")
    expect(page.locator("#traceback")).to_contain_text("ConnectionError: service unavailable")
    expect(page.locator("#logs")).to_contain_text("the service is down")
    snap(page, "task")


def test_flows_page(page: Any, server: Server, site: Site, snap: Snap) -> None:
    page.goto(f"{server.url}flows")
    for name, run_id in site.runs.items():
        section = page.locator(f'section.flow[data-flow="{name}"]')
        expect(section.locator(f'tr[data-run="{run_id}"]')).to_be_visible()
    snap(page, "flows")


def test_missing_run_is_a_404_page(page: Any, server: Server, snap: Snap) -> None:
    response = page.goto(f"{server.url}runs/0123abcd")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_contain_text("No such run")
    expect(page.locator("#error-message")).to_contain_text("No run '0123abcd'")
    snap(page, "404")


def test_approving_a_paused_task_finishes_the_run(
    page: Any, server: Server, site: Site, snap: Snap
) -> None:
    run_id = site.run("approval")
    assert site.state(run_id) == "Running"
    assert site.ran(run_id) == {"extract": 1, "total": 1}
    open_run(page, server, run_id)
    expect(page.locator('g.node[data-task="publish-1"]')).to_be_visible()
    assert node_fills(page)["publish-1"] == Paused.color
    snap(page, "paused")

    page.get_by_role("link", name=re.compile("Approve and resume")).click()
    expect(page.locator('input[name="tasks"][value="publish-1"]')).to_be_checked()
    snap(page, "confirm")
    page.locator("#confirm").click()

    expect(page).to_have_url(re.compile(rf"/runs/{run_id}\?job="))
    expect(page.locator("#job")).to_have_attribute("data-done", "yes")
    expect(page.locator("#job")).to_contain_text("Resume finished: the run is Success")
    expect(page.locator("#run-state .badge")).to_have_text("Success")
    expect(page.locator('g.node[data-task="publish-1"]')).to_have_attribute("data-state", "Success")
    assert node_fills(page)["publish-1"] == Success.color
    snap(page, "approved")
    assert site.state(run_id) == "Success"
    assert site.ran(run_id) == {"extract": 1, "total": 1, "publish": 1}  # nothing ran twice


def test_restart_reruns_only_the_failed_task(
    page: Any, server: Server, site: Site, snap: Snap
) -> None:
    run_id = site.run("flaky")
    assert site.state(run_id) == "Failed"
    assert site.ran(run_id) == {"prepare": 1, "flaky": 1}
    open_run(page, server, run_id)
    snap(page, "failed")

    page.get_by_role("link", name="Restart failed tasks").click()
    expect(page.locator("h1")).to_contain_text("Restart run")
    snap(page, "confirm")
    page.locator("#confirm").click()

    expect(page.locator("#job")).to_have_attribute("data-done", "yes")
    expect(page.locator("#job")).to_contain_text("Restart finished: the run is Success")
    expect(page.locator("#run-state .badge")).to_have_text("Success")
    assert node_fills(page) == {
        "prepare-1": Success.color,
        "flaky-1": Success.color,
        "report-1": Success.color,
    }
    snap(page, "restarted")
    assert site.state(run_id) == "Success"
    assert site.ran(run_id) == {"prepare": 1, "flaky": 2, "report": 1}


def test_a_refused_action_says_why(page: Any, server: Server, site: Site, snap: Snap) -> None:
    run_id = site.runs["hello"]
    page.goto(f"{server.url}runs/{run_id}/resume")
    expect(page.locator(".problem")).to_contain_text("nothing paused to resume")
    expect(page.locator("#confirm")).to_have_count(0)
    page.goto(f"{server.url}runs/{run_id}/cancel")
    page.context.clear_cookies()  # as if the dashboard had restarted since the page loaded
    page.locator("#confirm").click()
    expect(page.locator("h1")).to_contain_text("Action refused")
    expect(page.locator("#error-message")).to_contain_text("security token")
    snap(page, "refused")


COLUMN_WIDTHS = """
() => Array.from(document.querySelectorAll("section.flow table.runs")).map((table) =>
  Array.from(table.querySelectorAll("thead th")).map((th) =>
    Math.round(th.getBoundingClientRect().width)
  )
)
"""


def test_flows_page_tables_line_up(page: Any, server: Server, site: Site, snap: Snap) -> None:
    page.goto(f"{server.url}flows")
    expect(page.locator("section.flow table.runs").first).to_be_visible()
    widths: list[list[int]] = page.evaluate(COLUMN_WIDTHS)
    assert len(widths) >= len(site.runs)
    assert all(w == widths[0] for w in widths), widths  # same columns, same widths
    snap(page, "flows-aligned")
