"""Reading runs from a terminal: `show --task` history, dependency order, big runs,
`logs --task` and `--follow`, `--version`, and flows named by module.

Every command here is the installed `lockgate` in a subprocess, on a real SQLite store.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate import runs

Lockgate = Callable[..., "subprocess.CompletedProcess[str]"]


def lockgate_exe() -> str:
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    return exe


ALWAYS_FAILS = """
from datetime import timedelta

from lockgate import Flow, task


@task(max_retries=1, retry_delay=timedelta(0))
def boom():
    raise ValueError("bad value 42")


@task
def after(x):
    return x


with Flow("always-fails") as flow:
    after(boom())
"""

# Two chains on threads; a1 waits until the b chain has finished, so the tasks start
# in the order a1, b1, b2, a2 while the flow's order is a1, a2, b1, b2.
TWO_CHAINS = """
import threading

from lockgate import Flow, task

B_DONE = threading.Event()


@task
def a1():
    assert B_DONE.wait(60), "the b chain never finished"
    return 1


@task
def a2(x):
    return x + 1


@task
def b1():
    return 10


@task
def b2(x):
    B_DONE.set()
    return x + 1


with Flow("two-chains") as flow:
    a2(a1())
    b2(b1())
"""

MANY = """
from lockgate import Flow, task


@task
def step(i):
    return i


with Flow("many") as flow:
    for i in range({n}):
        step(i)
"""

GATED = """
import sys
from pathlib import Path

import lockgate
from lockgate import Flow, task

HERE = Path(__file__).parent


@task
def first():
    lockgate.context.logger.info("first line")
    print("REACHED", flush=True)
    sys.stdin.readline()  # waits until the test has seen the first line followed
    lockgate.context.logger.warning("second line")
    return 1


with Flow("gated") as flow:
    first()
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def only_run_id() -> str:
    (run,) = runs.list_runs()
    return run.id


def test_show_task_prints_every_transition_with_time_and_message(
    lockgate: Lockgate, tmp_path: Path
) -> None:
    flow_file = write(tmp_path, "fails.py", ALWAYS_FAILS)
    assert lockgate("run", str(flow_file)).returncode == 1
    short = only_run_id()[:8]
    shown = lockgate("show", short, "--task", "boom")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    history = [
        ln for ln in out.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", ln)
    ]
    states = [ln.split()[2] for ln in history]
    assert states == ["Running", "Failed", "Retrying", "Running", "Failed"], out
    assert "Unexpected error: ValueError('bad value 42')" in history[1]
    assert "Retrying task" in history[2]
    assert 'raise ValueError("bad value 42")' in out  # its traceback
    assert re.search(r"Runs\s+2", out)
    assert f"lockgate logs {short} --task boom-1" in out

    downstream = lockgate("show", short, "--task", "after")
    assert downstream.returncode == 0
    assert "TriggerFailed" in downstream.stdout

    unknown = lockgate("show", short, "--task", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith(f"Error: Run {short} has no task 'nope'; its tasks are:")


def test_show_task_of_one_mapped_child(lockgate: Lockgate, flows_dir: Path) -> None:
    assert lockgate("run", str(flows_dir / "mapped.py")).returncode == 1
    short = only_run_id()[:8]
    child = lockgate("show", short, "--task", "double[2]")
    assert child.returncode == 0, child.stderr
    assert re.search(r"Task\s+double\[2\]", child.stdout)
    assert "three is bad today" in child.stdout
    whole = lockgate("show", short, "--task", "double")  # its history, then its children
    assert whole.returncode == 0
    assert re.search(r"^Task\s+double$", whole.stdout, re.MULTILINE), whole.stdout
    assert re.search(r"\d\.\d{3}\s+Mapped\s", whole.stdout)
    for i in range(4):
        assert re.search(rf"^  double\[{i}\]\s", whole.stdout, re.MULTILINE), whole.stdout
    assert f"`lockgate show {short} --task double[2]` shows one child's history." in whole.stdout
    cut = lockgate("show", short, "--task", "double", "--limit", "2")
    assert re.findall(r"^  (double\[\d\])\s", cut.stdout, re.MULTILINE) == [
        "double[0]",
        "double[1]",
    ]
    assert re.search(r"^double\s.*4 children", cut.stdout, re.MULTILINE), cut.stdout
    assert "… 2 more children not listed; `--limit 4` lists them all." in cut.stdout
    missing = lockgate("show", short, "--task", "double[9]")
    assert missing.returncode == 2
    assert "has no mapped child 9" in missing.stderr


def test_logs_of_a_failed_task_name_the_exception(lockgate: Lockgate, tmp_path: Path) -> None:
    """The engine records its own lines (failure, retry) in the run's logs."""
    flow_file = write(tmp_path, "fails.py", ALWAYS_FAILS)
    lockgate("run", str(flow_file))
    logged = lockgate("logs", only_run_id()[:8], "--task", "boom")
    assert logged.returncode == 0, logged.stderr
    assert "No log lines recorded." not in logged.stdout
    assert "ValueError" in logged.stdout and "bad value 42" in logged.stdout


def test_show_lists_tasks_in_dependency_order(lockgate: Lockgate, tmp_path: Path) -> None:
    flow_file = write(tmp_path, "chains.py", TWO_CHAINS)
    done = lockgate("run", str(flow_file), "--executor", "threads:4")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = only_run_id()
    _, records = runs.show(run_id)
    started = [r.task_name for r in records]
    assert started.index("a2") > started.index("b2"), "the flow should start a2 last"
    shown = lockgate("show", run_id[:8])
    rows = shown.stdout.split("TASK ", 1)[1].splitlines()[1:5]
    assert [row.split()[0] for row in rows] == ["a1", "a2", "b1", "b2"], shown.stdout
    summary = done.stdout.split("TASK ", 1)[1].splitlines()[1:5]
    assert [row.split()[0] for row in summary] == ["a1", "a2", "b1", "b2"]


def test_show_stops_a_huge_run_after_limit_rows_with_a_note(
    lockgate: Lockgate, tmp_path: Path
) -> None:
    flow_file = write(tmp_path, "many.py", MANY.format(n=250))
    assert lockgate("run", str(flow_file)).returncode == 0
    short = only_run_id()[:8]
    shown = lockgate("show", short)
    assert shown.returncode == 0
    rows = [ln for ln in shown.stdout.splitlines() if ln.startswith("step ")]
    assert len(rows) == 200
    assert shown.stdout.rstrip().endswith(
        f"… 50 more tasks (50 Success) not listed: the table stops after 200 rows. "
        f"`lockgate show {short} --limit 250` lists everything; `--task NAME` shows one task."
    )
    everything = lockgate("show", short, "--limit", "250")
    assert len([ln for ln in everything.stdout.splitlines() if ln.startswith("step ")]) == 250
    assert "not listed" not in everything.stdout
    few = lockgate("show", short, "-n", "3")
    assert len([ln for ln in few.stdout.splitlines() if ln.startswith("step ")]) == 3
    assert "… 247 more tasks (247 Success) not listed" in few.stdout
    bad = lockgate("show", short, "--limit", "0")
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: --limit must be 1 or more (got 0)")


def test_logs_follow_prints_new_lines_until_the_run_ends(
    home: Path, tmp_path: Path, lockgate: Lockgate
) -> None:
    flow_file = write(tmp_path, "gated.py", GATED)
    env = {**os.environ, "LOCKGATE_HOME": str(home)}
    env.pop("LOCKGATE_STORE_URL", None)
    run = subprocess.Popen(
        [lockgate_exe(), "run", str(flow_file), "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    follow: subprocess.Popen[str] | None = None
    try:
        assert run.stdout is not None and run.stdin is not None
        assert run.stdout.readline().strip() == "REACHED"
        follow = subprocess.Popen(
            [lockgate_exe(), "logs", only_run_id()[:8], "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "COLUMNS": "200"},
        )
        assert follow.stdout is not None
        first = follow.stdout.readline()  # the line logged before the gate
        assert "INFO" in first and "first line" in first, first

        stopped = subprocess.Popen(  # a second follower, stopped with Ctrl-C
            [lockgate_exe(), "logs", only_run_id()[:8], "-f"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert stopped.stdout is not None
        assert "first line" in stopped.stdout.readline()
        stopped.send_signal(signal.SIGINT)
        _, stopped_err = stopped.communicate(timeout=60)
        assert (stopped.returncode, stopped_err) == (0, ""), "Ctrl-C stops following quietly"

        run.stdin.write("go\n")
        run.stdin.close()
        rest, err = follow.communicate(timeout=60)  # ends by itself once the run has ended
        assert follow.returncode == 0, err
        assert "WARNING" in rest and "second line" in rest
        assert run.wait(timeout=60) == 0
    finally:
        for proc in (run, follow):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_logs_follow_of_a_finished_run_prints_and_returns(
    lockgate: Lockgate, flows_dir: Path
) -> None:
    assert lockgate("run", str(flows_dir / "flaky.py")).returncode == 1
    followed = lockgate("logs", only_run_id()[:8], "--follow")
    assert followed.returncode == 0
    assert "doubling 21" in followed.stdout


def test_version(lockgate: Lockgate, home: Path) -> None:
    import lockgate as package

    for flag in ("--version", "-V"):
        done = lockgate(flag)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"lockgate {package.__version__} (Python ")
    assert not home.exists()


PACKAGE_FLOW = """
from lockgate import Flow, task

from .helpers import marker


@task
def check():
    path = marker()
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "ok"


with Flow("from-a-module") as flow:
    check()
"""


def test_run_a_flow_from_an_importable_module(lockgate: Lockgate, tmp_path: Path) -> None:
    package = tmp_path / "project" / "pipelines"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(
        "from pathlib import Path\n\n\ndef marker():\n    return Path(__file__).with_name('m')\n"
    )
    write(package, "daily.py", PACKAGE_FLOW)
    project = package.parent
    first = lockgate("run", "pipelines.daily:from-a-module", cwd=project)
    assert first.returncode == 1, first.stdout + first.stderr  # relative import worked
    (run,) = runs.list_runs()
    assert run.source == "pipelines.daily:from-a-module"
    again = lockgate("restart", run.id[:8], cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Run {run.id[:8]} (from-a-module) restarted: Success" in again.stdout
    assert lockgate("run", "pipelines.daily", cwd=project).returncode == 0

    missing = lockgate("run", "pipelines.weekly", cwd=project)
    assert missing.returncode == 2
    assert "an importable module (package.module[:FLOW])" in missing.stderr
    (package / "broken.py").write_text("raise KeyError('no config')\n")
    broken = lockgate("run", "pipelines.broken", cwd=project)
    assert broken.returncode == 2
    assert broken.stderr.startswith(
        "Error: Importing module 'pipelines.broken' failed: KeyError: 'no config'"
    )
