"""The dashboard while a run is being recorded: it keeps answering, and pages follow the run.

The run goes on in a thread of the test process (another process than the dashboard,
as in real use) and records into the same SQLite store. Its ``hold`` task waits until
the test releases it (a ``threading.Event``), so the test decides when it ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _ui_helpers import (
    Server,
    Site,
    fetch,
    run_in_background,
    wait_until_served,
    write_gated_flow,
)

from lockgate import runs
from lockgate.engine.state import Running, Success

SAFETY_S = 120.0

Snap = Callable[[Any, str], Path]


def newest_run(site: Site, flow: str, after: set[str]) -> str | None:
    """The id of a run of ``flow`` that is not in ``after``, once it is stored."""
    for run in runs.list_runs(flow=flow, limit=5, store=site.url):
        if run.id not in after:
            return run.id
    return None


def known_runs(site: Site, flow: str) -> set[str]:
    return {r.id for r in runs.list_runs(flow=flow, limit=1000, store=site.url)}


def test_pages_answer_while_a_run_writes_to_the_store(server: Server, site: Site) -> None:
    before = known_runs(site, "gated")
    path, gates = write_gated_flow(site)
    background = run_in_background(site, path, n=3000)
    seen_done: list[int] = []
    slowest = 0.0
    run_id = None
    try:
        deadline = time.monotonic() + SAFETY_S
        # Until the run reaches its held task, its 3,000 mapped children are being written.
        while not gates.REACHED.is_set():
            assert time.monotonic() < deadline, "the run never reached its held task"
            started = time.perf_counter()
            listing = fetch(server, "GET", "/")
            assert listing.status == 200
            run_id = run_id or newest_run(site, "gated", before)
            if run_id is not None:
                page = fetch(server, "GET", f"/runs/{run_id}")
                assert page.status == 200, page.text[:500]
                done = re.search(r"(\d+) children: ", page.text)
                seen_done.append(int(done.group(1)) if done else 0)
            slowest = max(slowest, time.perf_counter() - started)
        assert run_id is not None
        # The pages showed the run at several points of its writing, not only before/after.
        assert len(set(seen_done)) >= 2, seen_done
        held = fetch(server, "GET", f"/runs/{run_id}")
        assert 'class="live-dot"' in held.text and 'data-events="' in held.text
        assert f'href="/runs/{run_id}/cancel"' in held.text
    finally:
        gates.RELEASE.set()
        background.thread.join(SAFETY_S)
    assert "error" not in background.outcome
    assert isinstance(background.outcome["state"], Success)
    done_page = fetch(server, "GET", f"/runs/{run_id}")
    assert 'data-state="Success"' in done_page.text and 'class="live-dot"' not in done_page.text
    assert slowest < 10.0  # generous: a loaded 2-core machine; bench/bench_ui.py measures


def test_run_page_follows_a_live_run(page: Any, server: Server, site: Site, snap: Snap) -> None:
    from playwright.sync_api import expect

    path, gates = write_gated_flow(site)
    background = run_in_background(site, path, n=4)
    try:
        assert gates.REACHED.wait(SAFETY_S)
        run_id = gates.RUN_ID
        wait_until_served(server, f"/runs/{run_id}")
        page.goto(f"{server.url}runs/{run_id}")
        expect(page.locator(".live-dot")).to_be_visible()
        expect(page.locator("#live")).to_have_attribute("data-listening", "yes")
        expect(page.locator('g.node[data-task="hold-1"]')).to_have_attribute(
            "data-state", "Running"
        )
        fill = page.locator('g.node[data-task="hold-1"] path[fill^="#"]').first
        expect(fill).to_have_attribute("fill", Running.color)
        snap(page, "running")
    finally:
        gates.RELEASE.set()
    # No reload: the event stream says the run changed, the page fetches its new state.
    expect(page.locator("#run-state .badge")).to_have_text("Success")
    expect(page.locator("#live")).to_have_attribute("data-listening", "done")
    expect(page.locator(".live-dot")).to_have_count(0)
    expect(page.locator('g.node[data-task="after-1"]')).to_have_attribute("data-state", "Success")
    snap(page, "finished")
    background.thread.join(SAFETY_S)
    assert isinstance(background.outcome.get("state"), Success)


def test_cancel_through_the_page_stops_the_run(
    page: Any, server: Server, site: Site, snap: Snap
) -> None:
    from playwright.sync_api import expect

    path, gates = write_gated_flow(site)
    background = run_in_background(site, path, n=2, executor="threads:2")
    try:
        assert gates.REACHED.wait(SAFETY_S)
        run_id = gates.RUN_ID
        wait_until_served(server, f"/runs/{run_id}")
        page.goto(f"{server.url}runs/{run_id}")
        page.get_by_role("link", name="Cancel run").click()
        snap(page, "confirm")
        page.locator("#confirm").click()
        expect(page.locator("#job")).to_have_attribute("data-done", "yes")
        expect(page.locator("#job")).not_to_contain_text("failed")
        expect(page.locator("#run-state .badge")).to_have_text("Cancelled")
        expect(page.locator('g.node[data-task="after-1"]')).not_to_have_attribute(
            "data-state", "Success"
        )
        snap(page, "cancelled")
    finally:
        gates.RELEASE.set()
        background.thread.join(SAFETY_S)
    assert type(background.outcome.get("state")).__name__ == "Cancelled"
    assert site.state(run_id) == "Cancelled"


def test_cancel_of_a_run_that_is_not_running_shows_why(
    page: Any, server: Server, site: Site
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}runs/{site.runs['hello']}/cancel")
    page.locator("#confirm").click()
    expect(page.locator("#job")).to_have_attribute("data-done", "yes")
    expect(page.locator("#job")).to_contain_text("Cancel failed: Run")
    expect(page.locator("#job")).to_contain_text("is Success, not running")
