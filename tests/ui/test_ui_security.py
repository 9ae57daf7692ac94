"""Who the dashboard answers: Host names on every bind, the token for reads off loopback.

Each test starts a real ``lockgate ui`` (``--host 0.0.0.0``, ``--host 127.0.0.2``) on
the session's store and talks to it over HTTP, as a DNS-rebinding page would: the
request reaches this machine, but its ``Host`` (and ``Origin``) name the attacker's
site. The browser test makes Chromium resolve an attacker's name to 127.0.0.1
(``--host-resolver-rules``), which is what rebinding achieves.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from _ui_helpers import Server, Site, fetch, start_server

TOKEN = "s3cret-token-for-reads"
LOCKGATE = [sys.executable, "-c", "from lockgate.cli import main; main()"]


@pytest.fixture(scope="module")
def open_server(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lockgate ui --host 0.0.0.0 --token ... --allowed-host dash.example``."""
    running = start_server(
        site,
        tmp_path_factory.mktemp("ui-open"),
        "--host",
        "0.0.0.0",
        "--token",
        TOKEN,
        "--allowed-host",
        "dash.example",
    )
    yield running
    running.stop()
    assert "Traceback" not in running.log.read_text()


def port_of(server: Server) -> str:
    return server.netloc.rsplit(":", 1)[1]


def with_token(host: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"lockgate_token={TOKEN}"}
    if host is not None:
        headers["Host"] = host
    return headers


def test_off_loopback_refuses_foreign_host_names(open_server: Server, site: Site) -> None:
    port = port_of(open_server)
    run_id = site.runs["hello"]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", ""):
        reply = fetch(open_server, "GET", f"/runs/{run_id}", headers=with_token(host))
        assert reply.status == 400, host
        assert run_id not in reply.text
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"dash.example:{port}",  # --allowed-host
        f"{socket.gethostname()}:{port}",  # the name the printed address uses
        f"192.0.2.7:{port}",  # an IP literal: no page can rebind one
        f"[2001:db8::7]:{port}",
    ):
        assert fetch(open_server, "GET", "/", headers=with_token(host)).status == 200, host


def test_a_forged_origin_on_a_rebound_name_cannot_act(open_server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    host = f"evil.example:{port_of(open_server)}"
    page = fetch(open_server, "GET", f"/runs/{run_id}/restart", headers=with_token())
    csrf = page.cookies["lockgate_csrf"]
    headers = {
        "Host": host,
        "Origin": f"http://{host}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"lockgate_csrf={csrf}; lockgate_token={TOKEN}",
    }
    body = urlencode({"csrf_token": csrf, "token": TOKEN})
    reply = fetch(open_server, "POST", f"/runs/{run_id}/restart", headers=headers, body=body)
    assert reply.status == 400
    assert site.state(run_id) == "Failed"


def test_off_loopback_every_page_needs_the_token(open_server: Server, site: Site) -> None:
    run_id = site.runs["flaky"]
    pages = [
        "/",
        "/flows",
        "/?flow=flaky",
        f"/runs/{run_id}",
        f"/runs/{run_id}/fragment",
        f"/runs/{run_id}/events",
        f"/runs/{run_id}/tasks/flaky-1",
        f"/runs/{run_id}/restart",
    ]
    for path in pages:
        locked = fetch(open_server, "GET", path)
        assert locked.status == 401, path
        assert f'name="next" value="{path}"' in locked.text.replace("&amp;", "&")
        shown = re.sub(r'name="next" value="[^"]*"', "", locked.text)  # the address asked for
        for secret in (run_id, "service unavailable", "x = 21", site.url, "store.db"):
            assert secret not in shown, (path, secret)
        wrong = fetch(open_server, "GET", path, headers={"Cookie": "lockgate_token=nope"})
        assert wrong.status == 401, path
        assert fetch(open_server, "GET", path, headers=with_token()).status == 200, path
    # What holds no run data stays open (health checks, the stylesheet).
    assert fetch(open_server, "GET", "/healthz").status == 200
    assert fetch(open_server, "GET", "/static/lockgate.css").status == 200


def test_a_non_ascii_token_cookie_is_just_a_wrong_token(open_server: Server) -> None:
    for path in ("/", "/flows", "/?token=%C3%A9"):
        reply = fetch(open_server, "GET", path, headers={"Cookie": "lockgate_token=é".encode()})  # type: ignore[dict-item]
        assert reply.status in (401, 403), path


def test_the_token_link_goes_back_to_the_page_asked_for(open_server: Server, site: Site) -> None:
    run_id = site.runs["hello"]
    query = urlencode({"token": TOKEN, "next": f"/runs/{run_id}?x=1"})
    reply = fetch(open_server, "GET", f"/?{query}")
    assert reply.status == 303 and reply.headers["location"] == f"/runs/{run_id}?x=1"
    assert reply.cookies["lockgate_token"] == TOKEN
    for elsewhere in ("//evil.example/", "https://evil.example/", "runs", "/\\evil.example"):
        query = urlencode({"token": TOKEN, "next": elsewhere})
        assert fetch(open_server, "GET", f"/?{query}").headers["location"] == "/", elsewhere
    wrong = fetch(open_server, "GET", "/?" + urlencode({"token": "nope", "next": "/flows"}))
    assert wrong.status == 403 and "Wrong access token" in wrong.text
    assert site.url not in wrong.text


def test_off_loopback_prints_that_pages_need_the_token(open_server: Server) -> None:
    address, token_line = open_server.printed[-2:]
    assert f"http://{socket.gethostname()}:" in address
    assert token_line.startswith("Pages and actions need the access token")


def test_a_loopback_address_other_than_127_0_0_1_is_served(site: Site, tmp_path: Path) -> None:
    server = start_server(site, tmp_path, "--host", "127.0.0.2", connect="127.0.0.2")
    try:
        port = port_of(server)
        assert server.printed[-1].startswith(f"lockgate ui: http://127.0.0.2:{port}/")
        assert fetch(server, "GET", "/").status == 200  # Host: 127.0.0.2:PORT
        assert fetch(server, "GET", "/", headers={"Host": f"localhost:{port}"}).status == 200
        assert fetch(server, "GET", "/", headers={"Host": "evil.example"}).status == 400
    finally:
        server.stop()


@pytest.mark.parametrize("token", ["", "   ", "päss", "a b", 'x"y'])
def test_a_token_no_request_can_carry_is_refused(site: Site, token: str) -> None:
    done = subprocess.run(
        [*LOCKGATE, "ui", "--port", "0", "--store", site.url, "--token", token],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("Error: --token: The access token")
    assert "Traceback" not in done.stderr


def test_create_app_refuses_an_empty_token() -> None:
    from lockgate.ui import create_app

    with pytest.raises(ValueError, match="must not be empty"):
        create_app("sqlite:///unused.db", token="")


# -- in the browser ---------------------------------------------------------------------------
@pytest.fixture
def rebinding_browser(browser: Any) -> Iterator[Any]:
    """Chromium resolving evil.example to 127.0.0.1, as after a DNS rebinding.

    Launched by the session's Playwright (one sync Playwright per process).
    """
    launched = browser.browser_type.launch(
        executable_path=shutil.which("chromium"),
        args=["--host-resolver-rules=MAP evil.example 127.0.0.1"],
    )
    try:
        yield launched
    finally:
        launched.close()


def test_a_rebound_name_in_the_browser_reads_nothing(
    rebinding_browser: Any, open_server: Server, site: Site
) -> None:
    from playwright.sync_api import expect

    run_id = site.runs["flaky"]
    port = port_of(open_server)
    context = rebinding_browser.new_context()
    try:
        page = context.new_page()
        # The attacker's page, served under its own name, fetches the dashboard.
        response = page.goto(f"http://evil.example:{port}/runs/{run_id}")
        assert response is not None and response.status == 400
        assert run_id not in page.content()

        # The user, on the real address: asked for the token, then shown the run.
        response = page.goto(f"http://127.0.0.1:{port}/runs/{run_id}")
        assert response is not None and response.status == 401
        page.fill('#token-form input[name="token"]', TOKEN)
        page.click("#open")
        expect(page).to_have_url(f"http://127.0.0.1:{port}/runs/{run_id}")
        expect(page.locator("#run-state .badge")).to_have_text("Failed")
    finally:
        context.close()
