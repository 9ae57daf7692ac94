"""The dashboard over plain HTTP: pages, 404s, filters, the chart, and what guards actions.

Against ``lockgate ui`` in a subprocess (the ``server`` fixture), except where an app in
this process is simpler (a store that does not exist, paging over many runs).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
from _ui_helpers import Server, Site, asgi, fetch, start_server

from lockgate import Flow, runs, task
from lockgate.engine.state import Failed, Mapped, Success, TriggerFailed
from lockgate.store import RunStore, StoreError, UnknownRunError
from lockgate.ui import create_app


def form_headers(server: Server, cookie: str | None = None, origin: str | None = "") -> dict:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin == "":
        origin = server.url.rstrip("/")
    if origin is not None:
        headers["Origin"] = origin
    if cookie is not None:
        headers["Cookie"] = f"lockgate_csrf={cookie}"
    return headers


def csrf_token(server: Server) -> str:
    """A CSRF token the server handed out (the cookie of a fresh page view)."""
    reply = fetch(server, "GET", "/")
    token = reply.cookies["lockgate_csrf"]
    assert f'value="{token}"' in reply.text or "lockgate_csrf" in reply.cookies
    return token


# -- pages -----------------------------------------------------------------------------------
def test_runs_list_shows_every_run_with_its_state(server: Server, site: Site) -> None:
    reply = fetch(server, "GET", "/")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    for name, run_id in site.runs.items():
        row = re.search(rf'<tr data-run="{run_id}">(.*?)</tr>', reply.text, re.S)
        assert row, name
        assert f'data-state="{site.state(run_id)}"' in row.group(1)
        assert run_id[:8] in row.group(1)


def test_run_page_has_graph_table_and_actions(server: Server, site: Site) -> None:
    run_id = site.runs["approval"]
    reply = fetch(server, "GET", f"/runs/{run_id}")
    assert reply.status == 200
    assert "<svg" in reply.text and 'data-task="publish-1"' in reply.text
    assert f'href="/runs/{run_id}/resume"' in reply.text  # publish waits for approval
    assert f'href="/runs/{run_id}/restart"' not in reply.text  # nothing failed
    short = run_id[:6]  # a prefix works as in the CLI
    assert fetch(server, "GET", f"/runs/{short}").status == 200


def test_run_graph_fills_each_task_with_its_state_colour(server: Server, site: Site) -> None:
    reply = fetch(server, "GET", f"/runs/{site.runs['mapped']}")
    fills = dict(re.findall(r'data-task="([^"]+)"[^>]*>.*?fill="(#[0-9a-f]{6})"', reply.text, re.S))
    assert fills == {
        "items-1": Success.color,
        "double-1": Mapped.color,
        "total-1": TriggerFailed.color,
    }
    assert 'data-task="double-1" data-state="Mapped" data-mapped="1"' in reply.text
    assert "4 ✓ / 1 ✗" in reply.text
    assert 'id="children-double-1"' in reply.text  # the mapped node expands to this list


def test_task_page_shows_history_inputs_logs_and_traceback(server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    reply = fetch(server, "GET", f"/runs/{run_id}/tasks/flaky-1")
    assert reply.status == 200
    text = reply.text
    assert 'class="timeline"' in text and 'data-state="Running"' in text
    assert re.search(r'<pre class="value" id="inputs">x = 21</pre>', text)
    assert "ConnectionError: service unavailable, try again" in text
    assert "lockgate frame(s) hidden" in text
    assert "the service is down" in text  # its log line
    ok = fetch(server, "GET", f"/runs/{run_id}/tasks/prepare-1")
    assert '<pre class="value" id="result">21</pre>' in ok.text


def test_task_page_of_a_mapped_child(server: Server, site: Site) -> None:
    run_id = site.runs["mapped"]
    child = fetch(server, "GET", f"/runs/{run_id}/tasks/double-1?child=3")
    assert child.status == 200
    assert "ValueError: four is bad today" in child.text
    assert 'id="inputs">x = 4<' in child.text
    parent = fetch(server, "GET", f"/runs/{run_id}/tasks/double-1")
    assert parent.text.count("data-child=") == 5


def test_flows_page_lists_each_flow_with_recent_runs(server: Server, site: Site) -> None:
    reply = fetch(server, "GET", "/flows")
    assert reply.status == 200
    for name, run_id in site.runs.items():
        section = re.search(
            rf'<section class="flow" data-flow="{name}">(.*?)</section>', reply.text, re.S
        )
        assert section, name
        assert f'data-run="{run_id}"' in section.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "/runs/0123abcd",
        "/runs/0123",
        "/runs/abc",
        "/runs/0123abcd/tasks/x-1",
        "/runs/0123abcd/fragment",
        "/runs/0123abcd/events",
        "/runs/0123abcd/resume",
        "/no/such/page",
    ],
)
def test_missing_things_are_404_pages_not_stack_traces(server: Server, path: str) -> None:
    reply = fetch(server, "GET", path)
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in reply.text
    assert "Traceback" not in reply.text


def test_unknown_task_and_action_of_a_real_run_are_404(server: Server, site: Site) -> None:
    run_id = site.runs["hello"]
    assert fetch(server, "GET", f"/runs/{run_id}/tasks/nothing-1").status == 404
    assert fetch(server, "GET", f"/runs/{run_id}/tasks/greet-1?child=7").status == 404
    assert fetch(server, "GET", f"/runs/{run_id}/explode").status == 404


# -- the runs list: filters, chart, paging -----------------------------------------------------
def test_filters_by_state_flow_and_day(server: Server, site: Site) -> None:
    failed = fetch(server, "GET", "/?state=failed").text
    assert site.runs["flaky"] in failed and site.runs["mapped"] in failed
    assert site.runs["hello"] not in failed
    running = fetch(server, "GET", "/?state=Running").text
    assert site.runs["approval"] in running and site.runs["hello"] not in running
    hello = fetch(server, "GET", "/?flow=hello").text
    assert site.runs["hello"] in hello and site.runs["flaky"] not in hello
    today = date.today().isoformat()
    assert site.runs["hello"] in fetch(server, "GET", f"/?from={today}&to={today}").text
    old = fetch(server, "GET", "/?from=2001-01-01&to=2001-01-31").text
    assert "No runs match." in old and 'class="chart"' in old


def test_bad_filters_say_what_is_wrong(server: Server) -> None:
    reply = fetch(server, "GET", "/?state=happy&from=yesterday")
    assert reply.status == 400
    assert 'class="filters"' in reply.text  # the form, to correct them
    assert "Unknown run state &#39;happy&#39;" in reply.text
    assert "&#39;yesterday&#39; is not a date" in reply.text


def test_chart_counts_todays_runs_by_state(server: Server, site: Site) -> None:
    reply = fetch(server, "GET", "/?flow=mapped")
    today = date.today().isoformat()
    bar = re.search(rf'<a href="[^"]*" class="day" data-day="{today}">(.*?)</a>', reply.text, re.S)
    assert bar
    counts = dict(re.findall(r'data-state="(\w+)" data-count="(\d+)"', bar.group(1)))
    mapped_runs = runs.list_runs(flow="mapped", limit=100, store=site.url)
    expected: dict[str, str] = {}
    for run in mapped_runs:
        expected[run.state] = str(int(expected.get(run.state, "0")) + 1)
    assert counts == expected
    assert f'fill="{Failed.color}"' in bar.group(1)


def test_paging_over_many_runs(tmp_path: Path) -> None:
    @task
    def one() -> int:
        return 1

    with Flow("many") as flow:
        one()
    url = f"sqlite:///{tmp_path}/store.db"
    with RunStore.open(url, home=tmp_path) as store:
        ids = []
        for _ in range(30):
            recorder = store.recorder()
            flow.run(store=recorder)
            ids.append(recorder.flow_run_id)
    app = create_app(url)
    try:
        first = asgi(app, "GET", "/")
        second = asgi(app, "GET", "/?page=2")
    finally:
        app.state.dashboard.store.close()
    newest = list(reversed(ids))
    assert "Page 1 of 2 · 30 runs" in first.text and 'rel="prev"' not in first.text
    assert first.text.count("<tr data-run=") == 25 and "Page 2 of 2" in second.text
    assert second.text.count("<tr data-run=") == 5
    assert [m for m in re.findall(r'<tr data-run="(\w+)"', first.text + second.text)] == newest
    assert 'href="/?page=2" rel="next"' in first.text


def test_a_store_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nothing/store.db"
    app = create_app(url)
    listing = asgi(app, "GET", "/")
    assert listing.status == 200 and "No runs recorded yet" in listing.text
    assert asgi(app, "GET", "/flows").status == 200
    assert asgi(app, "GET", "/runs/0123abcd").status == 404
    assert not (tmp_path / "nothing").exists()


# -- live updates -------------------------------------------------------------------------------
def test_events_of_a_finished_run_say_done(server: Server, site: Site) -> None:
    reply = fetch(server, "GET", f"/runs/{site.runs['hello']}/events?v=stale")
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", reply.text)
    assert [name for name, _ in events] == ["update", "done"]
    assert json.loads(events[0][1])["live"] is False


# -- guarding actions -----------------------------------------------------------------------------
def test_action_without_csrf_token_is_refused(server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    reply = fetch(server, "POST", f"/runs/{run_id}/restart", headers=form_headers(server), body="")
    assert reply.status == 403 and "security token" in reply.text
    assert site.state(run_id) == "Failed"


def test_action_with_mismatched_or_forged_token_is_refused(server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    token = csrf_token(server)
    other = csrf_token(server)
    for cookie, field in [(token, other), ("forged.abc", "forged.abc"), (None, token)]:
        body = urlencode({"csrf_token": field})
        reply = fetch(
            server,
            "POST",
            f"/runs/{run_id}/restart",
            headers=form_headers(server, cookie),
            body=body,
        )
        assert reply.status == 403, (cookie, field)
    assert site.state(run_id) == "Failed"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_action_from_another_origin_is_refused(
    server: Server, site: Site, origin: str | None
) -> None:
    run_id = site.runs["flaky"]
    token = csrf_token(server)
    headers = form_headers(server, token, origin=origin)
    reply = fetch(
        server,
        "POST",
        f"/runs/{run_id}/restart",
        headers=headers,
        body=urlencode({"csrf_token": token}),
    )
    assert reply.status == 403 and "did not come from a page of this dashboard" in reply.text


def test_referer_stands_in_for_a_missing_origin(server: Server, site: Site) -> None:
    run_id = site.runs["hello"]
    token = csrf_token(server)
    headers = form_headers(server, token, origin=None)
    headers["Referer"] = f"{server.url}runs/{run_id}/cancel"
    reply = fetch(
        server,
        "POST",
        f"/runs/{run_id}/cancel",
        headers=headers,
        body=urlencode({"csrf_token": token}),
    )
    assert reply.status == 303  # accepted; the cancel itself fails: the run is not running
    job = reply.headers["location"]
    assert job.startswith(f"/runs/{run_id}?job=")


def test_actions_are_posts(server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    page = fetch(server, "GET", f"/runs/{run_id}/restart")
    assert page.status == 200 and 'method="post"' in page.text  # GET only asks
    assert fetch(server, "PUT", f"/runs/{run_id}/restart").status == 405
    assert site.state(run_id) == "Failed"


def test_loopback_server_refuses_other_host_names(server: Server) -> None:
    assert fetch(server, "GET", "/", headers={"Host": "evil.example"}).status == 400
    assert (
        fetch(
            server, "GET", "/", headers={"Host": f"localhost:{server.netloc.split(':')[1]}"}
        ).status
        == 200
    )


def test_pages_carry_security_headers(server: Server) -> None:
    headers = fetch(server, "GET", "/").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]


@pytest.fixture(scope="module")
def token_server(site: Site, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    running = start_server(site, tmp_path_factory.mktemp("ui-token"), "--token", "s3cret-token")
    yield running
    running.stop()


def test_token_is_printed_and_required_for_actions(token_server: Server, site: Site) -> None:
    assert any(
        "s3cret-token" in line and "?token=s3cret-token" in line for line in token_server.printed
    )
    run_id = site.runs["hello"]
    form = fetch(token_server, "GET", f"/runs/{run_id}/cancel")
    assert 'name="token"' in form.text  # the confirmation asks for it
    token = form.cookies["lockgate_csrf"]
    headers = form_headers(token_server, token)
    refused = fetch(
        token_server,
        "POST",
        f"/runs/{run_id}/cancel",
        headers=headers,
        body=urlencode({"csrf_token": token}),
    )
    assert refused.status == 403 and "access token" in refused.text
    body = urlencode({"csrf_token": token, "token": "s3cret-token"})
    accepted = fetch(token_server, "POST", f"/runs/{run_id}/cancel", headers=headers, body=body)
    assert accepted.status == 303 and accepted.cookies["lockgate_token"] == "s3cret-token"


def test_token_link_sets_the_cookie(token_server: Server) -> None:
    assert fetch(token_server, "GET", "/?token=wrong").status == 403
    reply = fetch(token_server, "GET", "/?token=s3cret-token")
    assert reply.status == 303 and reply.headers["location"] == "/"
    assert reply.cookies["lockgate_token"] == "s3cret-token"
    page = fetch(
        token_server, "GET", "/runs/0000/cancel", headers={"Cookie": "lockgate_token=s3cret-token"}
    )
    assert page.status == 404


def test_non_loopback_host_gets_a_token(site: Site, tmp_path: Path) -> None:
    from lockgate.ui.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    printed: list[str] = []
    import lockgate.ui.server as server_module

    class Stop(Exception):
        pass

    def fake_bind(host: str, port: int):  # type: ignore[no-untyped-def]
        raise Stop

    original = server_module.bind
    server_module.bind = fake_bind
    try:
        with pytest.raises(Stop):
            server_module.serve(site.url, host="0.0.0.0", port=0, echo=printed.append)
    finally:
        server_module.bind = original
    assert printed == []  # the token is printed with the address, after binding


# -- the API and the command ------------------------------------------------------------------------
def test_runs_cancel_checks_the_run(site: Site) -> None:
    with pytest.raises(StoreError, match="is Success, not running; there is nothing to cancel"):
        runs.cancel(site.runs["hello"], store=site.url)
    with pytest.raises(StoreError, match="waits for approval"):
        runs.cancel(site.runs["approval"], store=site.url)
    with pytest.raises(UnknownRunError):
        runs.cancel("0123abcd", store=site.url)


def test_help_does_not_import_the_dashboard(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        sys.argv = ["lockgate", *sys.argv[1:]]
        from lockgate.cli import main
        try:
            main()
        except SystemExit:
            pass
        sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
        """
    )
    env = {**os.environ, "LOCKGATE_HOME": str(tmp_path)}
    for argv in (["--help"], ["ui", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        line = [ln for ln in done.stderr.splitlines() if ln.startswith("MODULES ")][-1]
        modules = json.loads(line[len("MODULES ") :])
        heavy = [
            m
            for m in modules
            if m.split(".")[0] in ("starlette", "uvicorn", "jinja2", "sqlalchemy")
        ]
        assert heavy == [], argv
        assert "lockgate.ui" not in modules
        if argv == ["ui", "--help"]:
            assert "--host" in done.stdout and "--port" in done.stdout and "--token" in done.stdout
    assert not list(tmp_path.iterdir())


def test_port_in_use_is_one_line_error(server: Server, site: Site) -> None:
    port = server.netloc.split(":")[1]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lockgate.cli import main; main()",
            "ui",
            "--port",
            port,
            "--store",
            site.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: Cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr
