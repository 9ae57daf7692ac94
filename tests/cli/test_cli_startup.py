"""`lockgate --help` stays fast: it imports no store, database driver, Dask or rich.

Checked by what gets imported (in a fresh interpreter), not by timing, so the test
is stable on a loaded machine. `make`-level timing is in docs/cli.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = (
    "starlette",
    "uvicorn",
    "jinja2",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "dask",
    "distributed",
    "rich",
    "cloudpickle",
    "lockgate.store",
    "lockgate.runs",
    "lockgate.engine.executors.dask",
)


def _modules_after(argv: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.argv = {["lockgate", *argv]!r}
        from lockgate.cli import main
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        else:
            code = 0
        sys.stdout.flush()
        sys.stderr.write("\\nMODULES " + json.dumps([code, sorted(sys.modules)]) + "\\n")
        """
    )
    env = {**os.environ, "LOCKGATE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("MODULES ")]
    assert line, done.stderr
    exit_code, modules = json.loads(line[-1][len("MODULES ") :])
    return int(exit_code), modules


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["run", "--help"], ["resume", "--help"], ["visualize", "--help"]],
)
def test_help_imports_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    exit_code, modules = _modules_after(argv, tmp_path)
    assert exit_code == 0
    heavy = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, f"`lockgate {' '.join(argv)}` imported {heavy}"
    assert "typer" in modules  # the check itself sees imports
    assert not (tmp_path / "home").exists(), "--help must not create the store"


def test_import_lockgate_imports_no_cli_or_store(tmp_path: Path) -> None:
    code = "import json, sys, lockgate, lockgate.runs; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout)
    bad = [m for m in modules if m.split(".")[0] in ("typer", "rich", "sqlalchemy", "click")]
    assert not bad, bad
    assert "lockgate.store.run_store" not in modules


def test_the_installed_command_answers_help() -> None:
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: lockgate" in done.stdout
    assert "restart" in done.stdout
