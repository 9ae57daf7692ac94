"""Helpers of the dashboard tests: flow files, a filled store, a server, HTTP and ASGI calls.

Every task of the flow files appends a line to ``runs.log`` next to its file, so a test
can tell exactly which tasks ran again after a resume or a restart through the page.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lockgate import runs
from lockgate.store import RunStore

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "ui-screenshots"
START_TIMEOUT_S = 60.0

HEADER = """
from pathlib import Path

import lockgate
from lockgate import Flow, Parameter, task, triggers

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")
"""

HELLO = (
    HEADER
    + """
@task
def greet(name):
    note("greet")
    lockgate.context.logger.info("greeting %s", name)
    return f"hello {name}"


@task
def shout(text):
    note("shout")
    return text.upper()


with Flow("hello") as flow:
    shout(greet(Parameter("name", default="world")))
"""
)

FLAKY = (
    HEADER
    + """
@task
def prepare():
    note("prepare")
    return 21


@task
def flaky(x):
    note("flaky")
    marker = HERE / "flaky.marker"
    if not marker.exists():
        marker.write_text("failed once")
        lockgate.context.logger.warning("the service is down")
        raise ConnectionError("service unavailable, try again")
    return x * 2


@task
def report(y):
    note("report")
    return f"answer {y}"


with Flow("flaky") as flow:
    report(flaky(prepare()))
"""
)

APPROVAL = (
    HEADER
    + """
@task
def extract(n):
    note("extract")
    return list(range(n))


@task
def total(xs):
    note("total")
    return sum(xs)


@task(trigger=triggers.manual_only)
def publish(value):
    note("publish")
    return f"published {value}"


with Flow("approval") as flow:
    publish(total(extract(Parameter("n", default=4))))
"""
)

MAPPED = (
    HEADER
    + """
@task
def items():
    note("items")
    return [1, 2, 3, 4, 5]


@task
def double(x):
    note(f"double-{x}")
    if x == 4 and not (HERE / "mapped.marker").exists():
        (HERE / "mapped.marker").write_text("child 3 failed once")
        raise ValueError("four is bad today")
    return 2 * x


@task
def total(xs):
    note("total")
    return sum(xs)


with Flow("mapped") as flow:
    total(double.map(items()))
"""
)

GATED = """
import importlib

import lockgate
from lockgate import Flow, Parameter, task

gates = importlib.import_module("{gates}")


@task
def items(n):
    return list(range(n))


@task
def work(x):
    return sum(range(20_000)) + x


@task
def hold(xs):
    gates.RUN_ID = lockgate.context.flow_run_id
    gates.REACHED.set()
    if not gates.RELEASE.wait(120):
        raise TimeoutError("the test never released the gate")
    return len(xs)


@task
def after(count):
    return f"{count} items"


with Flow("gated") as flow:
    after(hold(work.map(items(Parameter("n", default=10)))))
"""

GATES = """
import threading

RUN_ID = None
REACHED = threading.Event()
RELEASE = threading.Event()
"""

FLOWS = {"hello": HELLO, "flaky": FLAKY, "approval": APPROVAL, "mapped": MAPPED}


@dataclass
class Site:
    """A LOCKGATE_HOME with a SQLite store and the flow files its runs came from.

    Attributes:
        home: the directory (``store.db`` and ``results/`` in it).
        url: the store's URL.
        runs: the id of the first run of each flow, by flow name.
    """

    home: Path
    url: str
    runs: dict[str, str] = field(default_factory=dict)

    def flow_file(self, name: str, directory: str | None = None) -> Path:
        """Write flow ``name`` into its own directory (``directory`` or a fresh one)."""
        folder = self.home / "flows" / (directory or f"{name}-{uuid.uuid4().hex[:6]}")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "flow.py"
        path.write_text(textwrap.dedent(FLOWS[name]))
        return path

    def run(self, name: str, directory: str | None = None, **parameters: Any) -> str:
        """Run flow ``name`` from a fresh flow file, recording it; returns the run id."""
        path = self.flow_file(name, directory)
        with self.open() as store:
            run_id, _ = runs.run_file(str(path), parameters, store=store)
        return run_id

    def open(self) -> RunStore:
        """The store, opened with this home (results files go under it)."""
        return RunStore.open(self.url, home=self.home)

    def ran(self, run_id: str) -> Counter[str]:
        """How many times each task of a run's flow file ran (from its ``runs.log``)."""
        run = runs.show(run_id, store=self.url)[0]
        assert run.source is not None
        log = Path(run.source.rsplit(":", 1)[0]).parent / "runs.log"
        return Counter(log.read_text().split()) if log.exists() else Counter()

    def state(self, run_id: str) -> str:
        """The run's state as the store reads it now."""
        return runs.show(run_id, store=self.url)[0].state


# -- the server ------------------------------------------------------------------------------
@dataclass
class Server:
    """A running ``lockgate ui``.

    Attributes:
        url: its address, ``http://127.0.0.1:PORT/``.
        proc: the process.
        log: the file its stderr goes to.
        printed: the lines it printed when it started.
    """

    url: str
    proc: subprocess.Popen[str]
    log: Path
    printed: list[str]

    @property
    def netloc(self) -> str:
        """``127.0.0.1:PORT``."""
        return urlsplit(self.url).netloc

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after a deadline)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def start_server(
    site: Site,
    tmp: Path,
    *extra: str,
    connect: str = "127.0.0.1",
    token_line: bool | None = None,
) -> Server:
    """Start ``lockgate ui --port 0 --store URL [extra]``; return once it listens.

    The returned server's ``url`` is ``http://{connect}:PORT/`` (the printed address
    may name the machine instead, e.g. with ``--host 0.0.0.0``); ``printed`` has the
    lines it printed, with the token line when ``token_line`` (default: when
    ``--token`` is given).
    """
    log = tmp / f"ui-{uuid.uuid4().hex[:6]}.stderr"
    env = {**os.environ, "LOCKGATE_HOME": str(site.home), "PYTHONUNBUFFERED": "1"}
    code = "from lockgate.cli import main; main()"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "ui", "--port", "0", "--store", site.url, *extra],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    printed: list[str] = []
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            proc.kill()
            raise AssertionError(
                f"lockgate ui printed no address; stderr: {log.read_text()}"
            ) from None
        if line is None:
            raise AssertionError(f"lockgate ui exited {proc.wait()}: {log.read_text()}")
        printed.append(line)
        found = re.search(r"http://\S+:(\d+)/", line)
        if found:
            break
    if token_line if token_line is not None else "--token" in extra:  # it follows the address
        line = lines.get(timeout=START_TIMEOUT_S)
        if line is not None:
            printed.append(line)
    return Server(f"http://{connect}:{found.group(1)}/", proc, log, printed)


# -- plain HTTP --------------------------------------------------------------------------------
@dataclass
class Reply:
    """An HTTP response: status, headers (lower-case names; Set-Cookie values listed), body."""

    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    text: str


def fetch(
    server: Server,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One HTTP request to the server (no redirects followed, no cookies kept)."""
    conn = HTTPConnection(server.netloc, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        cookies = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                cookies[key] = rest.split(";", 1)[0]
        heads = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, heads, cookies, text)
    finally:
        conn.close()


def write_gated_flow(site: Site, text: str = GATED) -> tuple[Path, Any]:
    """A flow file (``text``, :data:`GATED` by default) whose task waits for the test,
    and its gates module (``{gates}`` in ``text`` is that module's name)."""
    import importlib

    name = f"ui_gates_{uuid.uuid4().hex[:8]}"
    folder = site.home / "flows" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(GATES))
    path = folder / "flow.py"
    path.write_text(textwrap.dedent(text).replace("{gates}", name))
    sys.path.insert(0, str(folder))
    try:
        gates = importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
    return path, gates


@dataclass
class Background:
    """A recorded run going on in a thread of the test process."""

    thread: threading.Thread
    outcome: dict[str, Any]


def run_in_background(
    site: Site, path: Path, executor: str = "local", **parameters: Any
) -> Background:
    """Start ``runs.run_file(path)`` in a thread (it records into the site's store)."""
    outcome: dict[str, Any] = {}

    def go() -> None:
        try:
            with site.open() as store:
                outcome["run_id"], outcome["state"] = runs.run_file(
                    str(path), parameters, executor=executor, store=store
                )
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=go, name="recorded-run", daemon=True)
    thread.start()
    return Background(thread, outcome)


def live_run_id(site: Site, flow: str) -> str:
    """The id of the newest run of ``flow``."""
    (latest,) = runs.list_runs(flow=flow, limit=1, store=site.url)
    return latest.id


# -- the ASGI app in this process ---------------------------------------------------------------
def asgi(
    app: Any,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Reply:
    """One request straight through an ASGI app (no server, no lifespan)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    raw_path, _, query = path.partition("?")
    sent: list[dict[str, Any]] = []
    heads = {"host": "127.0.0.1:8080", **(headers or {})}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in heads.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    pairs = [(k.decode().lower(), v.decode()) for k, v in start["headers"]]
    cookies = {}
    for name, value in pairs:
        if name == "set-cookie":
            key, _, rest = value.partition("=")
            cookies[key] = rest.split(";", 1)[0]
    return Reply(start["status"], dict(pairs), cookies, text.decode("utf-8", "replace"))


def make_site(home: Path) -> Site:
    """A store in ``home`` filled by real runs: hello (Success), flaky (Failed),
    approval (Running, paused for approval) and mapped (Failed: one of five children)."""
    found = Site(home=home, url=f"sqlite:///{home}/store.db")
    for name in FLOWS:
        found.runs[name] = found.run(name)
    return found


def wait_until_served(server: Server, path: str, deadline_s: float = 60.0) -> Reply:
    """GET ``path`` until it answers 200 (a run's first batch may not be committed yet).

    A bounded loop of HTTP requests (each one waits for the server), not a sleep.
    """
    import time

    deadline = time.monotonic() + deadline_s
    while True:
        reply = fetch(server, "GET", path)
        if reply.status == 200 or time.monotonic() > deadline:
            assert reply.status == 200, f"{path} answered {reply.status}"
            return reply
