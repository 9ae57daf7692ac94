"""The PostgreSQL test server fixture reports why it cannot start (so tests skip, loudly)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _pg_server


def test_missing_postgres_binaries_give_a_reason_to_skip_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pg_server, "bindir", lambda: None)
    server, reason, base, _ = _pg_server.start()
    assert server is None and base is None
    assert "PostgreSQL binaries not found" in reason and "postgresql" in reason


def test_a_server_that_fails_to_start_gives_its_error_as_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Outside pytest's private tmp dirs: as root the fixture runs these as 'postgres'.
    fake = Path(tempfile.mkdtemp(prefix="lockgate-fake-pg-"))
    fake.chmod(0o755)
    for name in ("initdb", "pg_ctl"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'cannot start: no shared memory' >&2\nexit 1\n")
        script.chmod(0o755)
    monkeypatch.setattr(_pg_server, "bindir", lambda: str(fake))
    try:
        server, reason, base, _ = _pg_server.start()
    finally:
        shutil.rmtree(fake, ignore_errors=True)
    if base:
        shutil.rmtree(base, ignore_errors=True)
    assert server is None
    assert "could not start PostgreSQL" in reason and "no shared memory" in reason
