"""The installed `lockgate` command in real subprocesses: exit codes, output, a SIGKILL.

The crash test starts a long flow with `lockgate run`, waits (on the child's stdout, no
sleeping) until it is in the middle, kills it with SIGKILL, and checks that the store
opens cleanly, the run reads as Crashed with its finished tasks intact, and `restart`
completes it without running again any task the store had recorded as successful.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from lockgate import runs
from lockgate.store import RunStore

LONG = """
import sys
from pathlib import Path

from lockgate import Flow, task

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")


@task
def step(i):
    note(f"step-{i}")
    return i


@task
def gate(values):
    note("gate")
    marker = HERE / "gate.marker"
    if not marker.exists():
        marker.write_text("")
        print("REACHED", flush=True)
        sys.stdin.readline()  # blocks until the test kills this process
    return sum(values)


@task
def finish(total):
    note("finish")
    return total * 2


with Flow("long") as flow:
    finish(gate([step(i) for i in range(6)]))
"""


def lockgate_exe() -> str:
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    return exe


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCKGATE_HOME": str(home), "COLUMNS": "200"}
    env.pop("LOCKGATE_STORE_URL", None)
    return subprocess.run(
        [lockgate_exe(), *args], capture_output=True, text=True, env=env, check=False
    )


def test_run_resume_runs_in_subprocesses(flows_dir: Path, home: Path) -> None:
    first = run_cli("run", str(flows_dir / "approval.py"), "-p", "n=2", home=home)
    assert first.returncode == 3, first.stderr
    assert "Waiting for approval: publish." in first.stdout
    (run,) = runs.list_runs()
    resumed = run_cli("resume", run.id[:8], "--yes", home=home)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Run {run.id[:8]} (approval) resumed: Success" in resumed.stdout
    listed = run_cli("runs", home=home)
    assert listed.returncode == 0
    assert run.id[:8] in listed.stdout and "Success" in listed.stdout

    missing = run_cli("show", "0123abcd", home=home)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("Error: No run '0123abcd'")


class LongRun:
    """A `lockgate run long.py` child process, stopped in the middle of its run."""

    def __init__(self, directory: Path, home: Path) -> None:
        (directory / "long.py").write_text(textwrap.dedent(LONG))
        env = {**os.environ, "LOCKGATE_HOME": str(home)}
        env.pop("LOCKGATE_STORE_URL", None)
        self.directory = directory
        self.proc = subprocess.Popen(
            [lockgate_exe(), "run", str(directory / "long.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # EOF (not a hang) if the child dies first
        if line.strip() != "REACHED":
            self.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"the child did not reach the gate: {line!r} {err}")
        (self.run,) = runs.list_runs()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def long_run(tmp_path: Path, home: Path) -> Iterator[LongRun]:
    directory = tmp_path / "long"
    directory.mkdir()
    child = LongRun(directory, home)
    try:
        yield child
    finally:
        child.kill()


def test_sigkill_mid_run_then_restart_completes_it(
    long_run: LongRun, cli: Callable[..., Result]
) -> None:
    run = long_run.run
    with RunStore.open() as store:
        seen_before = {r.task_slug for r in store.task_runs(run.id) if r.state == "Success"}
    long_run.kill()
    assert long_run.proc.returncode == -9

    with RunStore.open() as store:  # opens cleanly after the crash
        assert store.get_run(run.id).state == "Crashed"
        # The killed run's writer process commits what it was sent, then ends.
        store.wait_for_writer(run.id)
        records = store.task_runs(run.id)
    succeeded = {r.task_slug for r in records if r.state == "Success"}
    assert seen_before <= succeeded, "a finished task's state was lost"
    assert "gate-1" not in succeeded and "finish-1" not in succeeded
    steps_kept = {slug for slug in succeeded if slug.startswith("step-")}
    assert steps_kept, "the store should hold the steps that finished before the gate"

    result = cli("restart", run.id[:8])
    assert result.exit_code == 0, result.output
    assert f"Run {run.id[:8]} (long) restarted: Success" in result.stdout
    counts = Counter((long_run.directory / "runs.log").read_text().split())
    # every step ran once before the kill; only steps the store had lost run again
    assert sum(counts[f"step-{i}"] for i in range(6)) == 6 + (6 - len(steps_kept)), counts
    assert counts["gate"] == 2 and counts["finish"] == 1
    run_after, tasks = runs.show(run.id)
    assert run_after.state == "Success"
    assert all(t.state == "Success" for t in tasks)


def test_a_run_that_is_still_running_is_not_restarted(
    long_run: LongRun, cli: Callable[..., Result], error_line: Callable[[Result], str]
) -> None:
    short = long_run.run.id[:8]
    line = error_line(cli("restart", short))
    assert f"Run {short} is still running (pid {long_run.proc.pid} on " in line
    assert "wait for it to end before restarting it" in line
    assert Counter((long_run.directory / "runs.log").read_text().split())["gate"] == 1
