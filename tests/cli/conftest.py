"""Fixtures for the CLI tests: a private LOCKGATE_HOME and real flow files on disk.

Every flow file appends one line per task execution to ``runs.log`` next to it, so a
test can count exactly which tasks (and mapped children) ran, across processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

HEADER = """
from pathlib import Path

from lockgate import Flow, Parameter, task, triggers

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")
"""

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
    n = Parameter("n", default=3)
    publish(total(extract(n)))

if __name__ == "__main__":
    raise SystemExit("the __main__ block must not run when lockgate loads this file")
"""
)

FLAKY = (
    HEADER
    + """
import lockgate


@task
def prepare():
    note("prepare")
    return 21


@task
def flaky(x):
    note("flaky")
    lockgate.context.logger.info("doubling %s", x)
    marker = HERE / "flaky.marker"
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("transient failure, try again")
    lockgate.context.logger.warning("second attempt worked")
    return x * 2


@task
def report(y):
    note("report")
    return f"answer {y}"


with Flow("flaky") as flow:
    report(flaky(prepare()))
"""
)

MAPPED = (
    HEADER
    + """
@task
def items():
    note("items")
    return [1, 2, 3, 4]


@task
def double(x):
    note(f"double-{x}")
    marker = HERE / "mapped.marker"
    if x == 3 and not marker.exists():
        marker.write_text("child 3 failed once")
        raise ValueError("three is bad today")
    return 2 * x


@task
def total(xs):
    note("total")
    return sum(xs)


with Flow("mapped") as flow:
    total(double.map(items()))
"""
)

TWO_FLOWS = (
    HEADER
    + """
@task
def one():
    return 1


with Flow("first") as first:
    one()

with Flow("second") as second:
    one()
"""
)

NO_FLOW = """
x = 1
"""

BROKEN = """
import lockgate

raise RuntimeError("cannot build the flow today")
"""

FLOW_FILES = {
    "approval.py": APPROVAL,
    "flaky.py": FLAKY,
    "mapped.py": MAPPED,
    "two.py": TWO_FLOWS,
    "noflow.py": NO_FLOW,
    "broken.py": BROKEN,
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LOCKGATE_HOME (the default store lives there); no store URL override."""
    home = tmp_path / "home"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    for var in ("LOCKGATE_STORE_URL", "LOCKGATE_EXECUTOR", "LOCKGATE_STORE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A directory holding every flow file of :data:`FLOW_FILES`."""
    directory = tmp_path / "flows"
    directory.mkdir()
    for name, text in FLOW_FILES.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


@pytest.fixture
def executions(flows_dir: Path) -> Callable[[], Counter[str]]:
    """How many times each task (mapped child: ``double-3``) ran, read from runs.log."""

    def read() -> Counter[str]:
        log = flows_dir / "runs.log"
        if not log.exists():
            return Counter()
        return Counter(log.read_text().split())

    return read


Invoke = Callable[..., Result]


@pytest.fixture
def cli(home: Path) -> Invoke:
    """Run ``lockgate ARGS...`` in-process (typer's CliRunner) with a wide terminal."""
    from lockgate.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env={"COLUMNS": "200"})

    return invoke


def _error_line(result: Result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


@pytest.fixture
def error_line() -> Callable[[Result], str]:
    """Check a bad-input result: exit code 2 and exactly one ``Error:`` line on stderr."""

    def check(result: Result) -> str:
        assert result.exit_code == 2, (result.exit_code, result.output)
        return _error_line(result)

    return check


def _lockgate_exe() -> str:
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    return exe


@pytest.fixture
def lockgate(home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``lockgate ARGS...`` in a subprocess, with this test's LOCKGATE_HOME.

    Keyword arguments: ``input`` (stdin text; without it stdin is /dev/null, or
    closed with ``stdin_closed=True``), ``cwd``, and ``env`` (extra variables; a value
    of None removes one).
    """

    def run(
        *args: str,
        input: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str | None] | None = None,
        stdin_closed: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "LOCKGATE_HOME": str(home), "COLUMNS": "200"}
        for var in ("LOCKGATE_STORE_URL", "LOCKGATE_EXECUTOR", "FORCE_COLOR"):
            full.pop(var, None)
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        return subprocess.run(
            [_lockgate_exe(), *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            preexec_fn=(lambda: os.close(0)) if stdin_closed else None,
            capture_output=True,
            text=True,
            env=full,
            cwd=cwd,
            check=False,
            timeout=120,
        )

    return run
