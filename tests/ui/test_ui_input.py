"""What the dashboard does with odd input and secret values, over HTTP to a real server.

Bad input (non-ASCII cookies and form values, huge page numbers, dates at the ends of
the calendar, odd child numbers, a huge flow filter) is a 400 or 404 page, never a
500; task slugs with ``/`` stay one path segment; store passwords and secret-looking
parameters are masked unless asked for.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from _ui_helpers import (
    Server,
    Site,
    fetch,
    run_in_background,
    start_server,
    write_gated_flow,
)

from lockgate import runs

ODD = """
import lockgate
from lockgate import Flow, Parameter, task


@task(name="load/eu")
def load(password, api_key, n):
    raise RuntimeError("eu is down")


@task(name="odd?#%name")
def odd():
    return "fine"


with Flow("odd") as flow:
    load(Parameter("password", default="hunter2"), Parameter("api_key", default="k-123"),
         Parameter("n", default=3))
    odd()
"""

MAPPED_GATE = """
import importlib

import lockgate
from lockgate import Flow, task

gates = importlib.import_module("{gates}")


@task
def items():
    return [0, 1, 2]


@task
def slow(x):
    if x == 1:
        gates.RUN_ID = lockgate.context.flow_run_id
        gates.REACHED.set()
        if not gates.RELEASE.wait(120):
            raise TimeoutError("the test never released the gate")
    return x


@task
def total(xs):
    return sum(xs)


with Flow("gatedmap") as flow:
    total(slow.map(items()))
"""

SAFETY_S = 120.0


@pytest.fixture(scope="module")
def odd_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    home = tmp_path_factory.mktemp("ui-odd")
    site = Site(home=home, url=f"sqlite:///{home}/store.db")
    path = home / "odd.py"
    path.write_text(textwrap.dedent(ODD))
    with site.open() as store:
        given = {"password": "hunter2", "api_key": "k-123", "n": 3}
        site.runs["odd"], _ = runs.run_file(str(path), given, store=store)
    return site


@pytest.fixture(scope="module")
def odd_server(odd_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(odd_site, tmp_path_factory.mktemp("ui-odd-server"))
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text()


# -- item 16: bad input is a 400/404 page ------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("page=99999999999999999999", 404, "there is no page 99999999999999999999"),
        ("page=2", 404, "there is no page 2"),
        ("page=" + "9" * 5000, 404, "there is no page 999"),  # int() refuses 4,300 digits
        ("page=0", 400, "is not a page number"),
        ("page=abc", 400, "is not a page number"),
        ("page=%C2%B2", 400, "is not a page number"),  # "²" is a digit to str.isdigit
        ("from=0001-01-01", 400, "out of range for &#39;from&#39;"),
        ("to=9999-12-31", 400, "out of range for &#39;to&#39;"),
        ("from=1969-12-31", 400, "out of range"),
        ("state=%C3%A9t%C3%A9", 400, "Unknown run state"),
    ],
)
def test_bad_list_queries_are_400_or_404_pages(
    odd_server: Server, query: str, status: int, says: str
) -> None:
    reply = fetch(odd_server, "GET", f"/?{query}")
    assert reply.status == status, reply.text[-600:]
    assert says in reply.text
    assert reply.headers["content-type"].startswith("text/html")


def test_the_edges_of_the_calendar_that_are_allowed(odd_server: Server) -> None:
    assert fetch(odd_server, "GET", "/?from=1970-01-01&to=9998-12-31").status == 200


def test_a_huge_flow_filter_is_refused_not_echoed(odd_server: Server) -> None:
    flow = "x" * 100_000
    reply = fetch(odd_server, "GET", "/?" + urlencode({"flow": flow}))
    assert reply.status == 400
    assert len(reply.text) < 20_000  # it used to be in every chart link: 1.5 MB pages
    long_name = "y" * 255  # the longest name a flow can have is still a filter
    assert fetch(odd_server, "GET", "/?" + urlencode({"flow": long_name})).status == 200


@pytest.mark.parametrize(
    ("child", "status"),
    [
        ("%C2%B2", 400),
        ("-1", 400),
        ("x", 400),
        ("", 400),
        ("99999999999999999999", 404),
        ("9" * 5000, 404),
    ],
)
def test_odd_child_numbers(odd_server: Server, odd_site: Site, child: str, status: int) -> None:
    run_id = odd_site.runs["odd"]
    reply = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/load%2Feu-1?child={child}")
    assert reply.status == status


NON_ASCII = "é".encode()  # sent as UTF-8 bytes, as a browser would


def test_non_ascii_cookies_do_not_lock_the_user_out(odd_server: Server) -> None:
    # Another web app on the same host name can plant this cookie: every page used to
    # fail comparing it (hmac.compare_digest refuses non-ASCII str).
    planted = b"lockgate_csrf=nonce." + NON_ASCII
    for path in ("/", "/flows"):
        reply = fetch(odd_server, "GET", path, headers={"Cookie": planted})  # type: ignore[dict-item]
        assert reply.status == 200, path
        assert reply.cookies["lockgate_csrf"].count(".") == 1  # replaced by a good one


def test_non_ascii_form_values_are_refused_not_500(odd_server: Server, odd_site: Site) -> None:
    run_id = odd_site.runs["odd"]
    csrf = fetch(odd_server, "GET", "/").cookies["lockgate_csrf"]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": odd_server.url.rstrip("/"),
        "Cookie": f"lockgate_csrf={csrf}",
    }
    for body in (
        urlencode({"csrf_token": "é.é"}),
        urlencode({"csrf_token": csrf + "é"}),
        "csrf_token=%FF%FE",
    ):
        reply = fetch(odd_server, "POST", f"/runs/{run_id}/restart", headers=headers, body=body)
        assert reply.status == 403, body
    token_server_reply = fetch(odd_server, "GET", "/?" + urlencode({"token": "é"}))
    assert token_server_reply.status == 403


def test_task_pages_of_odd_slugs(odd_server: Server, odd_site: Site) -> None:
    run_id = odd_site.runs["odd"]
    page = fetch(odd_server, "GET", f"/runs/{run_id}")
    for slug in ("load/eu-1", "odd?#%name-1"):
        href = f"/runs/{run_id}/tasks/{quote(slug, safe='')}"
        assert f'href="{href}"' in page.text, slug  # "/" escaped too: one path segment
        reply = fetch(odd_server, "GET", href)
        assert reply.status == 200, slug
        assert f'<dd class="mono">{slug.replace("%", "%")}' in reply.text.replace("&#34;", '"')


# -- item 17: secrets ------------------------------------------------------------------------
def test_secret_parameters_are_masked_unless_asked(odd_server: Server, odd_site: Site) -> None:
    run_id = odd_site.runs["odd"]
    page = fetch(odd_server, "GET", f"/runs/{run_id}")
    params = re.search(r'<dd class="mono" id="parameters">(.*?)</dd>', page.text, re.S)
    assert params is not None
    assert 'password="***"' in params.group(1)
    assert 'api_key="***"' in params.group(1) and "n=3" in params.group(1)
    assert "hunter2" not in page.text and "k-123" not in page.text
    assert f'href="/runs/{run_id}?secrets=1"' in page.text

    shown = fetch(odd_server, "GET", f"/runs/{run_id}?secrets=1")
    assert "hunter2" in shown.text and "k-123" in shown.text
    assert "secrets=1" in re.search(r'data-refresh="([^"]*)"', shown.text).group(1)  # type: ignore[union-attr]


def test_secret_inputs_and_parameter_results_are_masked(odd_server: Server, odd_site: Site) -> None:
    run_id = odd_site.runs["odd"]
    load = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/load%2Feu-1")
    inputs = re.search(r'<pre class="value" id="inputs">(.*?)</pre>', load.text, re.S)
    assert inputs is not None
    assert inputs.group(1).splitlines() == ["password = ***", "api_key = ***", "n = 3"]
    assert "hunter2" not in load.text
    assert f'id="reveal" href="/runs/{run_id}/tasks/load%2Feu-1?secrets=1"' in load.text
    revealed = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/load%2Feu-1?secrets=1")
    assert "password = &#39;hunter2&#39;" in revealed.text

    param = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/password")
    assert '<pre class="value" id="result">***</pre>' in param.text
    assert "hunter2" not in param.text
    shown = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/password?secrets=1")
    assert "hunter2" in shown.text
    plain = fetch(odd_server, "GET", f"/runs/{run_id}/tasks/n")
    assert '<pre class="value" id="result">3</pre>' in plain.text


def test_a_token_dashboard_reveals_only_to_the_token(odd_site: Site, tmp_path: Path) -> None:
    server = start_server(odd_site, tmp_path, "--token", "tok-123")
    try:
        run_id = odd_site.runs["odd"]
        without = fetch(server, "GET", f"/runs/{run_id}?secrets=1")
        assert without.status == 200 and "hunter2" not in without.text
        with_token = fetch(
            server, "GET", f"/runs/{run_id}?secrets=1", headers={"Cookie": "lockgate_token=tok-123"}
        )
        assert "hunter2" in with_token.text
    finally:
        server.stop()


def test_a_password_in_the_store_url_is_masked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{tmp_path}/nothing-yet.db?password=hunter2&mode=ro"
    server = start_server(Site(home=home, url=url), tmp_path)
    try:
        assert "hunter2" not in "\n".join(server.printed)
        assert "password=***" in server.printed[-1]
        for path in ("/", "/flows", "/runs/0123abcd"):
            reply = fetch(server, "GET", path)
            assert "hunter2" not in reply.text, path
            assert "password=***" in reply.text, path
    finally:
        server.stop()


# -- item 18: a mapped task's page while its children run, a task not started yet --------------------------------------
def test_a_mapped_task_page_while_its_children_run_and_tasks_not_started(
    server: Server, site: Site
) -> None:
    path, gates = write_gated_flow(site, MAPPED_GATE)
    background = run_in_background(site, path)
    try:
        assert gates.REACHED.wait(SAFETY_S), "the run never reached its held child"
        run_id = gates.RUN_ID
        deadline = time.monotonic() + SAFETY_S
        with site.open() as store:
            # The writer commits the finished child within its batch interval: poll for
            # that condition (bounded), as a page reader would.
            while True:
                records = [r for r in store.task_runs(run_id) if r.task_slug == "slow-1"]
                if records or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        assert records and all(r.map_index >= 0 for r in records)  # no parent stored yet

        reply = fetch(server, "GET", f"/runs/{run_id}/tasks/slow-1")
        assert reply.status == 200
        assert 'data-state="Running"' in reply.text and "Mapping:" in reply.text
        assert reply.text.count("data-child=") == len(records)
        table = fetch(server, "GET", f"/runs/{run_id}")
        row = re.search(r'<tr data-task="slow-1">(.*?)</tr>', table.text, re.S)
        assert row is not None and ">slow<" in row.group(1)  # the task, not its first child
        # total has not started: the graph draws it (unfilled), the table lists it too.
        assert 'data-task="total-1" data-state=""' in table.text
        waiting = re.search(
            r'<tr data-task="total-1" data-started="no">(.*?)</tr>', table.text, re.S
        )
        assert waiting is not None and 'data-state="not started"' in waiting.group(1)
    finally:
        gates.RELEASE.set()
        background.thread.join(SAFETY_S)
    assert background.outcome.get("state") is not None, background.outcome
    done = fetch(server, "GET", f"/runs/{run_id}/tasks/slow-1")
    assert 'data-state="Mapped"' in done.text
