"""What `lockgate` answers with: exit codes that match the recorded run whatever a task
does, one-line errors for every kind of bad input, and no secret in what it prints.

Every command is the installed `lockgate` in a subprocess, on a real SQLite store.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate import runs
from lockgate.store import RunStore

Lockgate = Callable[..., "subprocess.CompletedProcess[str]"]

EXITS = """
import sys

from lockgate import Flow, task


@task
def ok():
    return 1


@task
def leave(x):
    {body}


with Flow("exits") as flow:
    leave(ok())
"""


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in done.stderr and "Usage:" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "body",
    ["sys.exit(0)", "sys.exit(1)", "sys.exit(2)", "sys.exit(3)", "raise KeyboardInterrupt"],
)
def test_a_task_ending_the_process_cannot_choose_the_exit_code(
    lockgate: Lockgate, tmp_path: Path, body: str
) -> None:
    flow_file = tmp_path / "exits.py"
    flow_file.write_text(textwrap.dedent(EXITS.format(body=body)))
    done = lockgate("run", str(flow_file))
    (run,) = runs.list_runs()
    _, tasks = runs.show(run.id)
    assert run.state == "Failed"
    assert {t.task_name: t.state for t in tasks} == {"ok": "Success", "leave": "Failed"}
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"Run {run.id[:8]} (exits) ended: Failed" in done.stdout
    assert "leave" in done.stdout  # the summary table was printed


def test_exit_code_is_that_of_the_recorded_state(lockgate: Lockgate, flows_dir: Path) -> None:
    """Success 0, Failed 1, waiting for approval 3, each as `lockgate runs` says."""
    from lockgate.cli.app import EXIT_CANCELLED, exit_code

    assert lockgate("run", str(flows_dir / "approval.py")).returncode == 3
    assert lockgate("run", str(flows_dir / "flaky.py")).returncode == 1
    states = {r.flow_name: r.state for r in runs.list_runs()}
    assert states == {"approval": "Running", "flaky": "Failed"}
    assert [exit_code(s) for s in ("Success", "Failed", "TimedOut", "Crashed")] == [0, 1, 1, 1]
    assert exit_code("Cancelled") == EXIT_CANCELLED == 130
    assert exit_code("Running") == exit_code("Pending") == 3


def test_usage_errors_are_one_line(lockgate: Lockgate, home: Path) -> None:
    assert one_error_line(lockgate("runs", "--limit", "0")) == (
        "Error: --limit must be 1 or more (got 0); e.g. `lockgate runs --limit 20`."
    )
    assert one_error_line(lockgate("runs", "--limit", "many")) == (
        "Error: Invalid value for '--limit' / '-n': 'many' is not a valid integer. "
        "See `lockgate runs --help`."
    )
    assert one_error_line(lockgate("run")) == (
        "Error: Missing argument 'FILE[:FLOW]'. See `lockgate run --help`."
    )
    assert "No such option: --colour" in one_error_line(lockgate("runs", "--colour"))
    assert "No such command 'sho'" in one_error_line(lockgate("sho", "abcd"))
    helped = lockgate()  # no command: the help, as click has it
    assert helped.returncode == 2 and "Usage: lockgate" in helped.stderr
    assert not home.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ["n=1", "n=2"],
            "Parameter 'n' is given twice (--param n=1 and --param n=2); give it once.",
        ),
        (
            ["n=" + "7" * 5000],
            "Parameter 'n' is a 5000-digit number, longer than the 4300 digits Python reads; "
            "pass it quoted (--param 'n=\"...\"') to use it as text.",
        ),
    ],
)
def test_bad_parameters_are_refused(
    lockgate: Lockgate, flows_dir: Path, home: Path, params: list[str], message: str
) -> None:
    args = [a for p in params for a in ("--param", p)]
    assert one_error_line(lockgate("run", str(flows_dir / "approval.py"), *args)) == (
        f"Error: {message}"
    )
    assert not home.exists(), "nothing is recorded"


def test_nan_and_infinity_are_text_not_json(lockgate: Lockgate, tmp_path: Path, home: Path) -> None:
    flow_file = tmp_path / "echo.py"
    flow_file.write_text(
        "from lockgate import Flow, Parameter, task\n\n"
        "@task\ndef echo(v):\n    return v\n\n"
        "with Flow('echo') as flow:\n    echo(Parameter('n'))\n"
    )
    done = lockgate("run", str(flow_file), "-p", "n=NaN")
    assert done.returncode == 0, done.stderr
    (run,) = runs.list_runs()
    assert run.parameters == {"n": "NaN"}
    with sqlite3.connect(home / "store.db") as db:
        (stored,) = db.execute("select parameters from flow_runs").fetchone()
    assert json.loads(stored, parse_constant=lambda c: pytest.fail(f"{c} stored")) == {"n": "NaN"}
    assert runs.parse_parameter("x=-Infinity") == ("x", "-Infinity")
    assert runs.parse_parameter("x=12") == ("x", 12)


def test_resume_with_stdin_closed_is_one_line(lockgate: Lockgate, flows_dir: Path) -> None:
    assert lockgate("run", str(flows_dir / "approval.py")).returncode == 3
    short = runs.list_runs()[0].id[:8]
    closed = lockgate("resume", short, stdin_closed=True)  # `lockgate resume RUN <&-`
    assert one_error_line(closed) == (
        f"Error: No answer could be read (stdin is closed); run {short} is unchanged. "
        "Approve with --yes, or name tasks with --task NAME."
    )
    empty = lockgate("resume", short)  # stdin is /dev/null: no answer means no
    assert empty.returncode == 1
    assert f"Error: Nothing approved; run {short} is unchanged." in empty.stderr
    assert "Aborted" not in empty.stderr
    assert [r.task_name for r in runs.waiting(short)] == ["publish"]


SECRET_FLOW = """
from lockgate import Flow, Parameter, task


@task
def connect(db_password, api_token, region):
    return region


with Flow("secret") as flow:
    connect(Parameter("db_password"), Parameter("api_token"), Parameter("region"))
"""


def test_secrets_are_masked_in_cli_output(lockgate: Lockgate, tmp_path: Path, home: Path) -> None:
    flow_file = tmp_path / "secret.py"
    flow_file.write_text(textwrap.dedent(SECRET_FLOW))
    args = ["-p", "db_password=hunter2", "-p", "api_token=tok-123", "-p", "region=eu"]
    assert lockgate("run", str(flow_file), *args).returncode == 0
    short = runs.list_runs()[0].id[:8]
    shown = lockgate("show", short)
    assert "db_password='***'" in shown.stdout and "api_token='***'" in shown.stdout
    assert "region='eu'" in shown.stdout
    assert "hunter2" not in shown.stdout and "tok-123" not in shown.stdout
    revealed = lockgate("show", short, "--show-secrets")
    assert "db_password='hunter2'" in revealed.stdout and "api_token='tok-123'" in revealed.stdout

    # a store that cannot be reached: the driver's error names the URL, masked
    url = "postgresql://ann:s3cret@127.0.0.1:1/runs?connect_timeout=1&password=s3cret"
    for command in (["runs", "--store", url], ["show", "abcd1234", "--store", url]):
        done = lockgate(*command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "s3cret" not in done.stdout + done.stderr, (command, done.stdout, done.stderr)
    missing = lockgate("show", "abcd1234", "--store", f"sqlite:///{tmp_path / 'x.db'}?password=pw1")
    assert f"sqlite:///{tmp_path / 'x.db'}?password=***: nothing" in missing.stderr
    assert "pw1" not in missing.stderr
    empty = lockgate("runs", "--store", f"sqlite:///{tmp_path / 'y.db'}?password=pw2")
    assert "password=***" in empty.stdout and "pw2" not in empty.stdout


def test_store_is_unchanged_by_refused_input(lockgate: Lockgate, flows_dir: Path) -> None:
    assert lockgate("run", str(flows_dir / "approval.py")).returncode == 3
    with RunStore.open() as store:
        before = [(r.id, r.state) for r in store.list_runs()]
    one_error_line(lockgate("run", str(flows_dir / "approval.py"), "-p", "n=1", "-p", "n=1"))
    with RunStore.open() as store:
        assert [(r.id, r.state) for r in store.list_runs()] == before


HANDLER_EXITS = """
import sys

from lockgate import Flow, task


def leave(flow, old, new):
    if new.is_finished():
        sys.exit(3)
    return new


@task
def one():
    return 1


with Flow("handler-exits", state_handlers=[leave]) as flow:
    one()
"""


def test_sys_exit_outside_any_task_cannot_choose_the_exit_code(
    lockgate: Lockgate, tmp_path: Path
) -> None:
    """A flow state handler's sys.exit(3) escapes the engine: lockgate still says what
    the store recorded, and exits with that run's code, not with 3 (not finished)."""
    flow_file = tmp_path / "handler.py"
    flow_file.write_text(textwrap.dedent(HANDLER_EXITS))
    done = lockgate("run", str(flow_file))
    (run,) = runs.list_runs()
    assert run.state == "Failed"
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"Run {run.id[:8]} (handler-exits) ended: Failed" in done.stdout
    assert "interrupted by SystemExit(3), raised outside its tasks" in done.stdout
    assert "one " in done.stdout  # the task table, read from the store


STOPPABLE = """
import time

from lockgate import Flow, task


@task
def step(i):
    if i == 2:
        print("REACHED", flush=True)
        for _ in range(600):  # the test interrupts this; 30 s at most otherwise
            time.sleep(0.05)
    return i


with Flow("stoppable") as flow:
    for i in range(5):
        step(i)
"""


def test_ctrl_c_prints_the_summary_and_exits_as_the_run_was_recorded(
    home: Path, tmp_path: Path
) -> None:
    import os
    import shutil
    import signal
    import sys

    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `lockgate` console script is not installed in this environment")
    flow_file = tmp_path / "stoppable.py"
    flow_file.write_text(textwrap.dedent(STOPPABLE))
    env = {**os.environ, "LOCKGATE_HOME": str(home), "COLUMNS": "200"}
    env.pop("LOCKGATE_STORE_URL", None)
    proc = subprocess.Popen(
        [exe, "run", str(flow_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "REACHED"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (run,) = runs.list_runs()
    assert run.state == "Cancelled", (out, err)
    assert proc.returncode == 130, (out, err)
    assert f"Run {run.id[:8]} (stoppable) ended: Cancelled" in out
    assert out.splitlines()[0].split() == ["TASK", "STATE", "DURATION", "MESSAGE"]
    assert f"`lockgate restart {run.id[:8]}` re-runs what did not finish." in out
    assert "Traceback" not in err
