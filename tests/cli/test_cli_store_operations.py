"""The run store through the real `lockgate` command (subprocesses, real SQLite files):
runs started from Python restart from the CLI, flow files ending in a bare
``flow.run()`` run once, damaged stores get one line, ``lockgate gc`` frees results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lockgate.store import RunStore


def _exe(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip(f"the `{name}` console script is not installed in this environment")
    return exe


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "LOCKGATE_HOME": str(home), "COLUMNS": "200"}
    for var in ("LOCKGATE_STORE_URL", "LOCKGATE_STORE", "LOCKGATE_EXECUTOR"):
        env.pop(var, None)
    return env


def lockgate(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``lockgate`` command with ``LOCKGATE_HOME=home``."""
    return subprocess.run(
        [_exe("lockgate"), *args],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=cwd,
        check=False,
    )


def python(script: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python SCRIPT`` as a user would, with ``LOCKGATE_HOME=home``."""
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=script.parent,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``Error:`` line of a failed command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


PIPELINE = """
from pathlib import Path

from lockgate import Flow, task

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")


@task
def prepare():
    note("prepare")
    return 21


@task
def flaky(x):
    note("flaky")
    marker = HERE / "flaky.marker"
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("transient failure")
    return x * 2


with Flow("pipeline") as flow:
    flaky(prepare())

flow.run(store=True)
"""


def _executions(directory: Path) -> list[str]:
    log = directory / "runs.log"
    return log.read_text().split() if log.exists() else []


def _only_run(home: Path) -> str:
    with RunStore.open(home=home) as store:
        (run,) = store.list_runs()
        return run.id


def test_a_run_started_from_python_restarts_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE))

    first = python(script, home)
    assert first.returncode == 0, first.stderr
    run_id = _only_run(home)
    with RunStore.open(home=home) as store:
        assert store.get_run(run_id).source == f"{script}:flow"
        assert store.get_run(run_id).state == "Failed"
    assert _executions(tmp_path) == ["prepare", "flaky"]

    again = lockgate("restart", run_id[:8], home=home)

    assert again.returncode == 0, (again.stdout, again.stderr)
    # The file's own bare flow.run() was skipped while lockgate loaded it, with a note.
    assert "skipped the flow.run() of flow 'pipeline'" in again.stderr
    line = script.read_text().splitlines().index("flow.run(store=True)") + 1
    assert f"{script} at line {line}" in again.stderr
    assert _executions(tmp_path) == ["prepare", "flaky", "flaky"]
    with RunStore.open(home=home) as store:
        assert store.get_run(run_id).state == "Success"
        assert [r.id for r in store.list_runs()] == [run_id]


def test_lockgate_run_of_a_file_ending_in_flow_run_runs_it_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "flaky.marker").write_text("already failed")

    result = lockgate("run", str(script), home=home)

    assert result.returncode == 0, (result.stdout, result.stderr)
    assert _executions(tmp_path) == ["prepare", "flaky"]
    notes = [ln for ln in result.stderr.splitlines() if "skipped" in ln]
    assert len(notes) == 1 and "lockgate runs the flow itself" in notes[0]
    with RunStore.open(home=home) as store:
        assert len(store.list_runs()) == 1


GATED = """
from lockgate import Flow, task, triggers


@task
def first():
    return 1


@task(trigger=triggers.manual_only)
def gate(x):
    return x


@task
def after(x):
    return x


with Flow("gated") as flow:
    after(gate(first()))
"""


def _row(output: str, name: str) -> list[str]:
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{output}")


def test_a_new_run_never_says_stored_for_tasks_that_did_not_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "gated.py"
    script.write_text(textwrap.dedent(GATED))

    result = lockgate("run", str(script), "--quiet", home=home)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "stored" not in result.stdout
    assert _row(result.stdout, "after")[1:3] == ["Pending", "-"]  # state, duration


def test_show_counts_each_attempt_and_lists_the_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE).replace("flow.run(store=True)\n", ""))
    assert lockgate("run", str(script), "-q", home=home).returncode == 1
    run_id = _only_run(home)
    assert lockgate("restart", run_id[:8], "-q", home=home).returncode == 0

    shown = lockgate("show", run_id[:8], home=home)

    assert shown.returncode == 0, shown.stderr
    flaky = _row(shown.stdout, "flaky")
    assert flaky[1] == "Success" and flaky[3] == "2"  # state, duration, RUNS
    assert _row(shown.stdout, "prepare")[3] == "1"  # reused, not run again
    assert "Restarted" in shown.stdout


SIMPLE = """
from lockgate import Flow, task


@task
def big():
    return b"x" * 100_000


@task
def size(data):
    return len(data)


with Flow("simple") as flow:
    size(big())
"""


def _damage(path: Path, start: float, end: float) -> None:
    data = bytearray(path.read_bytes())
    for i in range(int(len(data) * start), int(len(data) * end)):
        data[i] = 0x5A
    path.write_bytes(bytes(data))


def _store_with_runs(tmp_path: Path, count: int) -> tuple[Path, Path, list[str]]:
    home = tmp_path / "home"
    script = tmp_path / "simple.py"
    script.write_text(textwrap.dedent(SIMPLE))
    for _ in range(count):
        assert lockgate("run", str(script), "-q", home=home).returncode == 0
    with RunStore.open(home=home) as store:
        ids = [r.id for r in store.list_runs()]
    return home, script, ids


def test_a_damaged_store_gives_one_line_for_every_command(tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    home, script, ids = _store_with_runs(tmp_path, 3)
    db = home / "store.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage(db, 0.0, 0.02)  # the header: "file is not a database"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    short = ids[0][:8]
    for args in (
        ["runs"],
        ["show", short],
        ["logs", short],
        ["restart", short],
        ["resume", short, "--yes"],
        ["run", str(script)],
        ["gc", "--older-than", "0d"],
    ):
        line = one_error_line(lockgate(*args, home=home))
        assert "is damaged" in line and f'sqlite3 {db} ".recover"' in line, (args, line)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_zero_byte_store_is_reported_not_initialised(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "store.db"
    db.write_bytes(b"")
    for args in (["runs"], ["show", "abcd1234"], ["flows"]):
        line = one_error_line(lockgate(*args, home=home))
        assert "is empty (0 bytes)" in line, (args, line)
    assert db.stat().st_size == 0


def test_lockgate_home_on_a_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    script = tmp_path / "simple.py"
    script.write_text(textwrap.dedent(SIMPLE))
    line = one_error_line(lockgate("run", str(script), home=home))
    assert f"{home} is a file, not a directory (LOCKGATE_HOME)" in line
    assert home.read_text() == "not a directory"


def test_gc_frees_old_results_from_the_cli(tmp_path: Path) -> None:
    home, _, ids = _store_with_runs(tmp_path, 2)
    results = home / "results"
    assert sum(1 for _ in results.rglob("*.pickle")) == 2

    dry = lockgate("gc", "--older-than", "0d", "--dry-run", home=home)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Would drop the kept results of 2 run(s)")
    assert sum(1 for _ in results.rglob("*.pickle")) == 2

    done = lockgate("gc", "--older-than", "0d", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Dropped the kept results of 2 run(s)")
    assert "2 file(s)" in done.stdout
    assert list(results.rglob("*.pickle")) == []
    listed = lockgate("runs", home=home)
    assert all(i[:8] in listed.stdout for i in ids)  # the runs stay

    assert "is not a duration" in one_error_line(lockgate("gc", "--older-than", "soon", home=home))


MAPPED_THEN_FLAKY = """
from pathlib import Path

from lockgate import Flow, task

HERE = Path(__file__).parent


@task
def items():
    return [1, 2, 3]


@task
def double(x):
    if x == 2 and not (HERE / "child.marker").exists():
        (HERE / "child.marker").write_text("failed once")
        raise ValueError("two is bad today")
    return 2 * x


@task
def total(xs):
    if not (HERE / "total.marker").exists():
        (HERE / "total.marker").write_text("failed once")
        raise RuntimeError("not yet")
    return sum(xs)


with Flow("mapped-summary") as flow:
    total(double.map(items()))
"""


def test_the_run_summary_reads_a_mapped_task_as_its_children_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "mapped.py"
    script.write_text(textwrap.dedent(MAPPED_THEN_FLAKY))
    (tmp_path / "total.marker").write_text("total will not fail")

    first = lockgate("run", str(script), "-q", home=home)
    assert first.returncode == 1, first.stderr
    assert _row(first.stdout, "double")[1] == "Failed"  # a child failed: not a green Mapped

    (tmp_path / "total.marker").unlink()  # now total fails once, after double succeeds
    run_id = _only_run(home)
    second = lockgate("restart", run_id[:8], "-q", home=home)
    assert second.returncode == 1, second.stderr
    assert _row(second.stdout, "double")[1] == "Mapped"

    third = lockgate("restart", run_id[:8], "-q", home=home)
    assert third.returncode == 0, third.stderr
    # No child of double ran in this restart: its results were reused, not "0.00s".
    assert _row(third.stdout, "double")[1:3] == ["Mapped", "stored"]


def test_a_module_ending_in_flow_run_runs_once_when_lockgate_imports_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (package / "flaky.marker").write_text("already failed")

    result = lockgate("run", "jobs.pipeline:flow", "-q", home=home, cwd=tmp_path)

    assert result.returncode == 0, (result.stdout, result.stderr)
    assert _executions(package) == ["prepare", "flaky"]
    assert "skipped the flow.run() of flow 'pipeline'" in result.stderr
