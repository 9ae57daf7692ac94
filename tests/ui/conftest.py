"""Fixtures for the dashboard tests: a store filled by real runs, a real server, a browser.

* ``site``: a private LOCKGATE_HOME whose SQLite store holds real runs of flow files
  written into it (see :func:`_ui_helpers.make_site`).
* ``server``: ``lockgate ui --port 0`` in a subprocess against that store (the address
  it prints is listening already); its stderr goes to a file, checked for tracebacks.
* ``browser`` / ``page``: Debian's ``chromium`` driven by Playwright's Python package.
  Without ``chromium`` (``apt-get install chromium``) or ``playwright`` the browser
  tests are skipped, with the reason. ``snap(page, name)`` keeps a screenshot in the
  test's tmp dir and in ``build/ui-screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the dashboard needs the ui extra (starlette)")
pytest.importorskip("jinja2", reason="the dashboard needs the ui extra (jinja2)")
pytest.importorskip("uvicorn", reason="the dashboard needs the ui extra (uvicorn)")

from _ui_helpers import SCREENSHOTS, Server, Site, make_site, start_server


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A store filled by real runs (see :func:`_ui_helpers.make_site`)."""
    return make_site(tmp_path_factory.mktemp("ui-home"))


@pytest.fixture(scope="session")
def server(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lockgate ui`` on a free loopback port over the ``site`` store."""
    running = start_server(site, tmp_path_factory.mktemp("ui-server"))
    yield running
    running.stop()
    errors = running.log.read_text()
    assert "Traceback" not in errors, errors


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (skips when either is missing)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright's Python package is not installed"
    )
    sync_api.expect.set_options(timeout=30_000)
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (its own cookies), 1280x900."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def snap(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Any, str], Path]:
    """``snap(page, "step")``: a full-page screenshot into tmp_path and build/ui-screenshots/."""
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(page: Any, step: str) -> Path:
        path = tmp_path / f"{test}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / path.name)
        return path

    return take
