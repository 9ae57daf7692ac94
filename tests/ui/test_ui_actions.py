"""What the dashboard's actions leave in the store, and what a run page says about them.

Actions go through the real server's forms (CSRF cookie, Origin); their outcome is
then read by a second ``lockgate ui`` process that never saw them, so only what the
store kept can show.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from _ui_helpers import Server, Site, fetch, start_server

from lockgate import runs
from lockgate.ui.queries import ACTION_LOGGER


def act(server: Server, run_id: str, action: str) -> str:
    """Post ``action`` through the dashboard's form; wait until it ends; return the job id."""
    csrf = fetch(server, "GET", f"/runs/{run_id}/{action}").cookies["lockgate_csrf"]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": server.url.rstrip("/"),
        "Cookie": f"lockgate_csrf={csrf}",
    }
    reply = fetch(
        server,
        "POST",
        f"/runs/{run_id}/{action}",
        headers=headers,
        body=urlencode({"csrf_token": csrf}),
    )
    assert reply.status == 303, reply.text[-500:]
    job = reply.headers["location"].split("job=", 1)[1]
    # The event stream ends ("done") once the action has ended and nothing records the run.
    events = fetch(server, "GET", f"/runs/{run_id}/events?job={job}", timeout=120)
    assert "event: done" in events.text
    return job


def test_action_outcomes_outlive_the_dashboard(server: Server, site: Site, tmp_path: Path) -> None:
    restarted = site.run("flaky")
    act(server, restarted, "restart")
    finished = site.run("hello")
    act(server, finished, "cancel")  # refused by lockgate.runs: the run is not running

    with site.open() as store:
        kept = [
            (ln.level, ln.message) for ln in store.logs(restarted) if ln.logger == ACTION_LOGGER
        ]
    assert kept == [
        ("INFO", "Restart asked from the dashboard."),
        ("INFO", "Restart finished: the run is Success - All reference tasks succeeded."),
    ]

    other = start_server(site, tmp_path)  # a dashboard started after the actions
    try:
        page = fetch(other, "GET", f"/runs/{restarted}")
        actions = re.search(
            r'<details class="action-log" id="actions" open>(.*?)</details>', page.text, re.S
        )
        assert actions is not None
        assert "Restart asked from the dashboard." in actions.group(1)
        assert "Restart finished: the run is Success" in actions.group(1)
        assert re.search(r'id="restarted">Restarted 1 time, last at ', page.text)

        refused = fetch(other, "GET", f"/runs/{finished}")
        line = re.search(r'<li class="level-error">(.*?)</li>', refused.text, re.S)
        assert line is not None and "Cancel failed:" in line.group(1)
        assert 'id="restarted"' not in refused.text
    finally:
        other.stop()


def test_a_restart_from_the_cli_shows_on_the_run_page(server: Server, site: Site) -> None:
    run_id = site.run("flaky")
    page = fetch(server, "GET", f"/runs/{run_id}")
    assert 'id="restarted"' not in page.text
    runs.restart(run_id, store=site.url)
    page = fetch(server, "GET", f"/runs/{run_id}")
    assert re.search(r'id="restarted">Restarted 1 time, last at ', page.text)
    assert 'id="actions"' not in page.text  # not an action of the dashboard
