"""Start a throwaway PostgreSQL server for the store tests (no pytest in here).

Used by ``conftest.py``'s ``postgres_server`` fixture: ``initdb`` + ``pg_ctl`` from the
Debian ``postgresql`` binaries (``pg_config --bindir``, else /usr/lib/postgresql/*/bin),
in a temporary directory, listening on 127.0.0.1 at a free port (and a unix socket in
that directory). As root, the server runs as the ``postgres`` user via ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PostgresServer:
    """A running test server: connect with ``url(database)``."""

    port: int
    socket_dir: str
    user: str = "postgres"

    def url(self, database: str = "lockgate_test") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"


def bindir() -> str | None:
    """Where initdb and pg_ctl are: ``pg_config --bindir``, else /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for directory in candidates:
        if os.path.exists(os.path.join(directory, "initdb")) and os.path.exists(
            os.path.join(directory, "pg_ctl")
        ):
            return directory
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> tuple[PostgresServer | None, str, str | None, list[str]]:
    """Start a server; returns (server or None, reason when None, data dir, runner prefix)."""
    binaries = bindir()
    if binaries is None:
        return (
            None,
            "PostgreSQL binaries not found (no pg_config, no /usr/lib/postgresql/*/bin); "
            "install the Debian 'postgresql' package (make test does it as root)",
            None,
            [],
        )
    prefix: list[str] = []
    base = tempfile.mkdtemp(prefix="lockgate-pg-")
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server as the 'postgres' user.
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            return (
                None,
                "running as root and there is no 'postgres' user to run the server",
                base,
                [],
            )
        if runuser is None:
            return None, "running as root and 'runuser' is missing", base, []
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chmod(base, 0o700)
        prefix = [runuser, "-u", "postgres", "--"]
    data = os.path.join(base, "data")
    port = free_port()
    log = os.path.join(base, "server.log")
    try:
        subprocess.run(
            [*prefix, os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        subprocess.run(
            [*prefix, os.path.join(binaries, "pg_ctl"), "-D", data, "-o", options, "-l", log,
             "-w", "-t", "60", "start"],
            capture_output=True, text=True, check=True, timeout=90,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        try:
            detail += Path(log).read_text()[-400:]
        except OSError:
            pass
        return (
            None,
            f"could not start PostgreSQL from {binaries}: {exc} {detail.strip()}",
            base,
            prefix,
        )
    server = PostgresServer(port=port, socket_dir=base)
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE lockgate_test")
    except Exception as exc:
        stop(binaries, data, prefix)
        return (
            None,
            f"PostgreSQL started but the test database could not be made: {exc}",
            base,
            prefix,
        )
    return server, "", base, prefix


def stop(bindir: str, data: str, prefix: list[str]) -> None:
    subprocess.run(
        [*prefix, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
        capture_output=True,
        timeout=60,
    )


def reset(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="postgres", dbname="lockgate_test",
        autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
