"""Operating runs from the terminal, end to end: run -> runs -> show -> logs -> resume
-> restart -> visualize, on real flow files and the real (SQLite) store in LOCKGATE_HOME.

Each flow file logs every task execution to ``runs.log`` (see conftest), so the tests
check exactly what ran again and what was reused.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lockgate import runs
from lockgate.store import RunStore

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]
Executions = Callable[[], Counter[str]]

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' binary not installed; run `make test`, which installs it",
)


def only_run_id() -> str:
    (run,) = runs.list_runs()
    return run.id


def snapshot(run_id: str) -> Any:
    """Everything the store holds about a run, to check a failed command changed nothing."""
    with RunStore.open() as store:
        run = store.get_run(run_id)
        return (
            run,
            store.task_runs(run_id),
            store.transitions(run_id),
            store.logs(run_id),
            store.list_flows(),
        )


# -- approval: run, wait, ask, resume -----------------------------------------------------
def test_approval_run_waits_then_resume_asks_and_continues(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, executions: Executions
) -> None:
    result = cli("run", str(flows_dir / "approval.py"), "--param", "n=4")
    assert result.exit_code == 3, result.output  # not finished: waiting for approval
    run_id = only_run_id()
    short = run_id[:8]
    assert f"Run {short} (approval) ended: Running" in result.stdout
    assert f"Waiting for approval: publish. `lockgate resume {short}`" in result.stdout
    summary = {ln.split()[0]: ln.split()[1] for ln in result.stdout.splitlines()[1:5]}
    assert summary == {
        "n": "Success",
        "extract": "Success",
        "total": "Success",
        "publish": "Paused",
    }
    assert executions() == Counter({"extract": 1, "total": 1})

    listed = cli("runs")
    assert listed.exit_code == 0
    (row,) = [ln for ln in listed.stdout.splitlines() if ln.startswith(short)]
    assert "approval" in row and "Running" in row and "1 Paused" in row
    assert short in cli("runs", "--state", "running", "--flow", "approval").stdout
    assert cli("runs", "--state", "failed").stdout.strip() == "No runs match."
    assert cli("runs", "--flow", "other").stdout.strip() == "No runs match."
    bad_state = cli("runs", "--state", "exploded")
    assert "Unknown run state 'exploded'; use one of: " in error_line(bad_state)

    shown = cli("show", short)
    assert shown.exit_code == 0
    assert run_id in shown.stdout
    assert "n=4" in shown.stdout
    (publish_row,) = [ln for ln in shown.stdout.splitlines() if ln.startswith("publish")]
    assert "Paused" in publish_row

    # Without --task and --yes it lists what waits and asks; "no" changes nothing.
    before = snapshot(run_id)
    declined = cli("resume", short, input="n\n")
    assert declined.exit_code == 1
    assert "is waiting for:" in declined.stdout
    (waiting_row,) = [ln for ln in declined.stdout.splitlines() if ln.startswith("publish")]
    assert waiting_row.split()[1] == "publish-1"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", " ".join(waiting_row.split()[2:4]))
    assert "Approve all 1 and resume run" in declined.stdout
    assert f"Nothing approved; run {short} is unchanged." in declined.stderr
    assert snapshot(run_id) == before
    assert executions()["publish"] == 0

    approved = cli("resume", short, input="y\n")
    assert approved.exit_code == 0, approved.output
    assert f"Run {short} (approval) resumed: Success" in approved.stdout
    # publish ran once; what it needed came from the store, nothing upstream re-ran
    assert executions() == Counter({"extract": 1, "total": 1, "publish": 1})
    assert only_run_id() == run_id, "resume continues the same run record"
    run, tasks = runs.show(run_id)
    assert run.state == "Success"
    assert {t.task_name: t.state for t in tasks}["publish"] == "Success"

    finished = snapshot(run_id)
    again = cli("resume", short, "--yes")
    assert f"Run {short} has nothing paused to resume (it is Success)" in error_line(again)
    restarted = cli("restart", short)
    assert f"Run {short} succeeded; there is nothing to restart." in error_line(restarted)
    cancelled = cli("cancel", short)
    assert cancelled.exit_code == 2
    assert f"Run {short} is Success, not running; there is nothing to cancel" in error_line(
        cancelled
    )
    assert snapshot(run_id) == finished


def test_resume_with_task_names_and_yes(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, executions: Executions
) -> None:
    cli("run", str(flows_dir / "approval.py"))
    short = only_run_id()[:8]
    before = snapshot(short)

    unknown = cli("resume", short, "--task", "publsh")
    assert f"Run {short} has no paused task 'publsh'; the paused tasks are: publish." in (
        error_line(unknown)
    )
    not_paused = cli("resume", short, "--task", "total")
    assert (
        f"Task 'total' of run {short} is not paused (it is Success); the paused tasks are: "
        "publish." in error_line(not_paused)
    )
    assert snapshot(short) == before

    done = cli("resume", short, "--task", "publish", "--quiet")
    assert done.exit_code == 0, done.output
    assert "is waiting for" not in done.stdout  # named tasks: nothing to ask
    assert executions()["publish"] == 1


def test_resume_yes_approves_everything_without_asking(
    cli: Invoke, flows_dir: Path, executions: Executions
) -> None:
    cli("run", str(flows_dir / "approval.py"), "-p", "n=2")
    short = only_run_id()[:8]
    done = cli("resume", short, "--yes")
    assert done.exit_code == 0, done.output
    assert "is waiting for:" in done.stdout
    assert "Approve all" not in done.stdout
    assert executions()["publish"] == 1
    _, tasks = runs.show(short)
    assert {t.task_name: t.state for t in tasks}["publish"] == "Success"


# -- failures: show, logs, restart --------------------------------------------------------
def test_failed_run_show_logs_and_restart_reruns_only_what_failed(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, executions: Executions
) -> None:
    result = cli("run", str(flows_dir / "flaky.py"))
    assert result.exit_code == 1, result.output
    run_id = only_run_id()
    short = run_id[:8]
    assert f"Run {short} (flaky) ended: Failed" in result.stdout
    assert f"`lockgate restart {short}` re-runs what failed." in result.stdout
    assert executions() == Counter({"prepare": 1, "flaky": 1})

    shown = cli("show", short)
    rows: dict[str, str] = {}
    for ln in shown.stdout.splitlines():
        if ln.split():
            rows.setdefault(ln.split()[0], ln)
    assert "Failed" in rows["flaky"] and "transient failure" in rows["flaky"]
    assert "TriggerFailed" in rows["report"]
    assert "Traceback (most recent call last)" in shown.stdout
    assert "RuntimeError: transient failure, try again" in shown.stdout
    assert 'flaky.py", line' in shown.stdout  # the user's frame is kept...
    assert "task_runner.py" not in shown.stdout  # ...lockgate's own are hidden
    assert "lockgate frame(s) hidden" in shown.stdout
    assert "flaky (Failed)" in shown.stdout
    assert "report (TriggerFailed)" not in shown.stdout  # no engine traceback for triggers

    first_logs = cli("logs", short).stdout
    assert "INFO     flaky-1: doubling 21" in first_logs, first_logs
    missing = cli("logs", short, "--task", "nope")
    assert f"Run {short} has no task 'nope'; its tasks are: flaky, prepare, report." in (
        error_line(missing)
    )

    restarted = cli("restart", short)
    assert restarted.exit_code == 0, restarted.output
    assert f"Run {short} (flaky) restarted: Success" in restarted.stdout
    # prepare's stored result was reused; only the failed task and its downstream ran
    assert executions() == Counter({"prepare": 1, "flaky": 2, "report": 1})
    summary = {
        ln.split()[0]: ln.split()[2] for ln in restarted.stdout.splitlines()[1:4] if ln.split()
    }
    assert summary["prepare"] == "stored"
    assert only_run_id() == run_id

    flaky_logs = cli("logs", short, "--task", "flaky")
    assert flaky_logs.exit_code == 0
    assert "second attempt worked" in flaky_logs.stdout
    assert "WARNING" in flaky_logs.stdout

    with RunStore.open() as store:
        flow, _ = runs.load_flow(str(flows_dir / "flaky.py"))
        states = {t.name: s for t, s in store.task_states(run_id, flow).items()}
    assert states["report"].result == "answer 42"


def test_mapped_restart_reruns_only_the_failed_child(
    cli: Invoke, flows_dir: Path, executions: Executions
) -> None:
    result = cli("run", str(flows_dir / "mapped.py"))
    assert result.exit_code == 1
    short = only_run_id()[:8]
    assert "3 Success, 1 Failed" in result.stdout
    shown = cli("show", short)
    (child,) = [ln for ln in shown.stdout.splitlines() if ln.startswith("  double[")]
    assert child.split()[:2] == ["double[2]", "Failed"]
    assert "three is bad today" in child
    assert "4 children: 3 Success, 1 Failed" in shown.stdout
    assert "double[0]" in cli("show", short, "--all").stdout

    restarted = cli("restart", short)
    assert restarted.exit_code == 0, restarted.output
    assert executions() == Counter(
        {"items": 1, "double-1": 1, "double-2": 1, "double-3": 2, "double-4": 1, "total": 1}
    )
    with RunStore.open() as store:
        flow, _ = runs.load_flow(str(flows_dir / "mapped.py"))
        states = {t.name: s for t, s in store.task_states(short, flow).items()}
    assert states["total"].result == 20


def test_restart_refuses_a_changed_flow_file(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, executions: Executions
) -> None:
    path = flows_dir / "flaky.py"
    cli("run", str(path))
    short = only_run_id()[:8]
    before = snapshot(short)
    path.write_text(path.read_text().replace("report(flaky(prepare()))", "flaky(prepare())"))
    changed = cli("restart", short)
    line = error_line(changed)
    assert f"has changed since run {short} started" in line
    assert "restore the file, or start a new run" in line
    assert snapshot(short) == before
    assert executions() == Counter({"prepare": 1, "flaky": 1})


# -- unknown runs, newer schemas ------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["show", "deadbeef"],
        ["logs", "deadbeef"],
        ["resume", "deadbeef", "--yes"],
        ["restart", "deadbeef"],
    ],
)
def test_unknown_run_id(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, args: list[str]
) -> None:
    cli("run", str(flows_dir / "flaky.py"))
    run_id = only_run_id()
    before = snapshot(run_id)
    line = error_line(cli(*args))
    assert "No run 'deadbeef'" in line
    assert "`lockgate runs` lists them" in line
    assert snapshot(run_id) == before


def test_store_of_a_newer_schema_is_refused_and_left_alone(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path, home: Path
) -> None:
    cli("run", str(flows_dir / "flaky.py"))
    db = home / "store.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    data = db.read_bytes()
    for args in (
        ["runs"],
        ["flows"],
        ["show", "abcd"],
        ["restart", "abcd"],
        ["run", str(flows_dir / "approval.py")],
    ):
        line = error_line(cli(*args))
        assert "schema version 9999_from_the_future, newer than this lockgate" in line
        assert "upgrade lockgate" in line
    assert db.read_bytes() == data


# -- flows, visualize with a run ----------------------------------------------------------
def test_flows_lists_each_flow_with_its_last_run(cli: Invoke, flows_dir: Path) -> None:
    empty = cli("flows")
    assert "No flows recorded yet" in empty.stdout
    cli("run", str(flows_dir / "flaky.py"))
    cli("run", str(flows_dir / "two.py:second"))
    out = cli("flows").stdout
    (flaky,) = [ln for ln in out.splitlines() if ln.startswith("flaky")]
    assert "Failed" in flaky and str(flows_dir / "flaky.py") in flaky
    (second,) = [ln for ln in out.splitlines() if ln.startswith("second")]
    assert "Success" in second


@needs_dot
def test_visualize_a_run_colours_tasks_and_counts_children(
    cli: Invoke, error_line: ErrorLine, flows_dir: Path
) -> None:
    from lockgate.engine.state import Failed, TriggerFailed

    cli("run", str(flows_dir / "mapped.py"))
    short = only_run_id()[:8]
    out = flows_dir / "run.svg"
    result = cli("visualize", str(flows_dir / "mapped.py"), "--run", short, "-o", str(out))
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert "<svg" in svg
    assert f"run {short} (Failed)" in svg
    assert "double (3 ✓ / 1 ✗)" in svg
    assert TriggerFailed.color in svg and Failed.color in svg

    other = cli("visualize", str(flows_dir / "flaky.py"), "--run", short, "-o", str(out))
    assert f"Run {short} is a run of flow 'mapped', not of 'flaky'" in error_line(other)


def test_visualize_a_run_from_its_stored_graph_without_the_file(
    lockgate: Callable[..., subprocess.CompletedProcess[str]], flows_dir: Path, tmp_path: Path
) -> None:
    flow_file = flows_dir / "mapped.py"
    assert lockgate("run", str(flow_file)).returncode == 1  # one child fails
    with_file = tmp_path / "with_file.dot"
    assert (
        lockgate(
            "visualize", str(flow_file), "--run", only_run_id(), "-o", str(with_file)
        ).returncode
        == 0
    )
    flow_file.unlink()  # the run's graph comes from the store, not from the file
    stored = tmp_path / "stored.dot"
    result = lockgate("visualize", "--run", only_run_id(), "-o", str(stored))
    assert result.returncode == 0, result.stderr
    assert stored.read_text() == with_file.read_text()


def test_visualize_needs_a_file_or_a_run(
    lockgate: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = lockgate("visualize")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: Give the flow to draw: `lockgate visualize FILE[:FLOW]`, or a recorded run: "
        "`lockgate visualize --run RUN`."
    ]
