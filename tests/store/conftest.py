"""Fixtures of the run store tests: a store URL per backend, and a real PostgreSQL server.

``store_url`` is parametrized over ``sqlite`` (a fresh file per test, written by a
writer process), ``sqlite-thread`` (the same, written from a thread of the run's
process: ``LOCKGATE_STORE_WRITER=thread``) and ``postgresql`` (a fresh schema per test
in a server this session starts on loopback, from the Debian ``postgresql`` binaries). When the server cannot be started, the
PostgreSQL parameters are skipped with the reason; they never pass silently.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _pg_server import PostgresServer, bindir, reset, start, stop

BACKENDS = ["sqlite", "sqlite-thread", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 (a free port) for this session.

    Skips (with the reason) every test that needs it when it cannot be started.
    """
    server, reason, base, prefix = start()
    if server is None:
        if base:
            shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        yield server
    finally:
        found = bindir()
        if found is not None and base is not None:
            stop(found, os.path.join(base, "data"), prefix)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test: ``sqlite``, ``sqlite-thread`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def store_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty store URL: a fresh SQLite file, or a freshly emptied PostgreSQL schema."""
    if backend.startswith("sqlite"):
        if backend == "sqlite-thread":
            monkeypatch.setenv("LOCKGATE_STORE_WRITER", "thread")
        return f"sqlite:///{tmp_path / 'db' / 'store.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    reset(server)
    return server.url()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A LOCKGATE_HOME for the test (results go under it)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(store_url: str, home: Path) -> Iterator[object]:
    """An open RunStore on ``store_url`` (closed after the test)."""
    from lockgate.store import RunStore

    opened = RunStore.open(store_url, home=home)
    try:
        yield opened
    finally:
        opened.close()
