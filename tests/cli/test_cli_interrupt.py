"""Ctrl-C (SIGINT to the job's processes) on a real `lockgate run` cancels the run, and
`restart` finishes it.

Each flow's tasks append one line per execution to ``runs.log`` and write a marker
file when they are under way; the test sends SIGINT when the markers are there (no
sleeping), then checks what the store recorded, and that `lockgate restart` runs
exactly what did not succeed: no task that succeeded runs twice. A task that calls
``sys.exit()`` or raises ``KeyboardInterrupt`` itself fails only that task.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate import runs
from lockgate.store import RunStore, UnknownRunError


def lockgate_exe() -> str:
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    return exe


SAFETY = 60.0

HEADER = """
import time
from pathlib import Path

from lockgate import Flow, task

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")


def wait_for_file(name):
    # Bounded: a test that goes wrong ends instead of hanging.
    deadline = time.monotonic() + 60
    while not (HERE / name).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""

# Two tasks in flight when Ctrl-C comes, ten more behind them: 12 tasks.
HELD = (
    HEADER
    + """
@task
def hold(name):
    note(name)
    if not (HERE / "release").exists():  # the first run only
        (HERE / f"{name}.marker").write_text("")
        wait_for_file("release")
    return name


@task
def after(i, a, b):
    note(f"after-{i}")
    return i


with Flow("held") as flow:
    a = hold("hold-a")
    b = hold("hold-b")
    for i in range(10):
        after(i, a, b)
"""
)

INLINE = (
    HEADER
    + """
@task
def first():
    note("first")
    return 1


@task
def blocked(x):
    note("blocked")
    if not (HERE / "blocked.marker").exists():  # the first run only
        (HERE / "blocked.marker").write_text("")
        wait_for_file("never")  # Ctrl-C interrupts this
    return x + 1


@task
def last(y):
    note("last")
    return y + 1


with Flow("inline") as flow:
    last(blocked(first()))
"""
)


def wait_for(condition: Callable[[], bool], what: str, child: Run) -> None:
    """Poll ``condition()`` (bounded by SAFETY): it reads files another process writes.

    Fails at once when the child ended, with what it printed.
    """
    deadline = time.monotonic() + SAFETY
    while not condition():
        if child.proc.poll() is not None:
            out, err = child.proc.communicate()
            raise AssertionError(f"the child ended before {what}: {out}{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.01)


class Run:
    """`lockgate run FILE -e EXECUTOR` in a child process."""

    def __init__(self, path: Path, executor: str, home: Path) -> None:
        env = {**os.environ, "LOCKGATE_HOME": str(home), "COLUMNS": "200"}
        env.pop("LOCKGATE_STORE_URL", None)
        self.env = env
        self.proc = subprocess.Popen(
            [lockgate_exe(), "run", str(path), "-e", executor],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its own process group, as a terminal's job
        )

    def ctrl_c(self) -> None:
        """What Ctrl-C in a terminal does: SIGINT to every process of the job."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def interrupt(self) -> tuple[int, str, str]:
        self.ctrl_c()
        out, err = self.proc.communicate(timeout=SAFETY)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate()


def restart(run_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [lockgate_exe(), "restart", run_id[:8]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=SAFETY,
    )


def executions(directory: Path) -> Counter[str]:
    log = directory / "runs.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def recorded(run_id: str) -> tuple[str, dict[str, str]]:
    with RunStore.open() as store:
        store.wait_for_writer(run_id)
        run = store.get_run(run_id)
        return run.state, {t.task_slug: t.state for t in store.task_runs(run_id)}


def interrupt_logged(run_ids: list[str]) -> bool:
    """Whether the run's logs hold the loop's "Interrupted (Ctrl-C)" line."""
    found = runs.list_runs()
    if not found:
        return False
    run_ids[:] = [found[0].id]
    try:
        with RunStore.open() as store:
            lines = store.logs(found[0].id)
    except UnknownRunError:
        return False
    return any("Interrupted (Ctrl-C)" in line.message for line in lines)


@pytest.fixture
def flow_file(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        path = directory / f"{name}.py"
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_ctrl_c_with_threads_waits_for_the_calls_in_flight_then_restart_runs_the_rest(
    flow_file: Callable[[str, str], Path], home: Path
) -> None:
    path = flow_file("held", HELD)
    here = path.parent
    child = Run(path, "threads:2", home)
    try:
        wait_for(
            lambda: (here / "hold-a.marker").exists() and (here / "hold-b.marker").exists(),
            "both held tasks to run",
            child,
        )
        child.ctrl_c()
        run_ids: list[str] = []
        # The loop saw the Ctrl-C before the held tasks may finish.
        wait_for(lambda: interrupt_logged(run_ids), "the run to log the interrupt", child)
        (here / "release").write_text("")
        out, err = child.proc.communicate(timeout=SAFETY)
        code = child.proc.returncode
    finally:
        child.kill()
    (run_id,) = run_ids
    state, tasks = recorded(run_id)
    assert state == "Cancelled", (state, tasks, out, err)
    # Both calls in flight finished during the shutdown: recorded as they ended.
    assert tasks["hold-1"] == "Success" and tasks["hold-2"] == "Success", tasks
    assert not any(s == "Running" for s in tasks.values()), tasks
    assert not any(slug.startswith("after") and s == "Success" for slug, s in tasks.items())
    assert executions(here) == Counter({"hold-a": 1, "hold-b": 1}), executions(here)
    assert "Cancelled" in out, out
    assert code != 0, (code, out, err)

    again = restart(run_id, child.env)
    assert again.returncode == 0, (again.stdout, again.stderr)
    counts = executions(here)
    assert sum(counts.values()) == 12, counts  # 12 tasks, each run once
    assert all(n == 1 for n in counts.values()), counts
    assert recorded(run_id)[0] == "Success"


def test_ctrl_c_inline_stops_the_task_which_ends_cancelled(
    flow_file: Callable[[str, str], Path], home: Path
) -> None:
    path = flow_file("inline", INLINE)
    here = path.parent
    child = Run(path, "local", home)
    try:
        wait_for(lambda: (here / "blocked.marker").exists(), "the blocked task to run", child)
        code, out, err = child.interrupt()
    finally:
        child.kill()
    (run,) = runs.list_runs()
    state, tasks = recorded(run.id)
    assert state == "Cancelled", (state, tasks, out, err)
    assert tasks.get("first-1") == "Success", (tasks, out, err)
    assert tasks["blocked-1"] == "Cancelled", tasks
    assert "last-1" not in tasks or tasks["last-1"] == "Pending", tasks
    assert "Cancelled" in out, (out, err)
    assert code != 0 and code != -signal.SIGINT, (code, out, err)

    again = restart(run.id, child.env)
    assert again.returncode == 0, (again.stdout, again.stderr)
    # The stopped task runs again; the one that succeeded does not.
    assert executions(here) == Counter({"first": 1, "blocked": 2, "last": 1})
    assert recorded(run.id)[0] == "Success"


def test_ctrl_c_with_processes_stops_the_calls_in_flight(
    flow_file: Callable[[str, str], Path], home: Path
) -> None:
    path = flow_file("held", HELD)
    here = path.parent
    child = Run(path, "processes:2", home)
    try:
        wait_for(
            lambda: (here / "hold-a.marker").exists() and (here / "hold-b.marker").exists(),
            "both held tasks to run",
            child,
        )
        code, out, err = child.interrupt()
    finally:
        child.kill()
    (run,) = runs.list_runs()
    state, tasks = recorded(run.id)
    assert state == "Cancelled", (state, tasks, out, err)
    assert tasks["hold-1"] == "Cancelled" and tasks["hold-2"] == "Cancelled", tasks
    assert not any(s == "Running" for s in tasks.values()), tasks
    assert code != 0, (code, out, err)

    (here / "release").write_text("")
    again = restart(run.id, child.env)
    assert again.returncode == 0, (again.stdout, again.stderr)
    counts = executions(here)
    assert counts["hold-a"] == 2 and counts["hold-b"] == 2  # stopped, then run again
    assert all(counts[f"after-{i}"] == 1 for i in range(10)), counts


EXITS = (
    HEADER
    + """
import sys


@task
def quits():
    note("quits")
    sys.exit(0)


@task
def exits_three():
    note("exits_three")
    sys.exit(3)


@task
def interrupts():
    note("interrupts")
    raise KeyboardInterrupt


@task
def fine():
    note("fine")
    return 1


with Flow("exits") as flow:
    quits()
    exits_three()
    interrupts()
    fine()
"""
)


def test_a_task_exiting_or_interrupting_itself_fails_only_that_task(
    flow_file: Callable[[str, str], Path], home: Path
) -> None:
    path = flow_file("exits", EXITS)
    child = Run(path, "local", home)
    out, err = child.proc.communicate(timeout=SAFETY)
    (run,) = runs.list_runs()
    state, tasks = recorded(run.id)
    assert state == "Failed", (state, tasks, out, err)
    assert tasks == {
        "quits-1": "Failed",
        "exits_three-1": "Failed",
        "interrupts-1": "Failed",
        "fine-1": "Success",
    }, tasks
    with RunStore.open() as store:
        messages = {t.task_slug: t.message for t in store.task_runs(run.id)}
    assert "SystemExit(0)" in (messages["quits-1"] or "")
    assert "SystemExit(3)" in (messages["exits_three-1"] or "")
    assert "KeyboardInterrupt()" in (messages["interrupts-1"] or "")
    assert executions(path.parent) == Counter(
        {"quits": 1, "exits_three": 1, "interrupts": 1, "fine": 1}
    )
    # The run's summary is printed and the exit code is the run's (Failed), never the
    # task's own SystemExit code nor 130.
    assert "Failed" in out, (out, err)
    assert child.proc.returncode == 1, (child.proc.returncode, out, err)
