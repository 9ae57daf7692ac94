"""Several processes and a killed one: the store stays whole.

* Two processes record runs into the same store at the same time; both land completely.
* A process killed with SIGKILL in the middle of a run leaves a store that opens
  cleanly, shows the run Crashed with every finished task intact, and the run can be
  restarted from it without rerunning what succeeded.

No sleeps: children say when they are ready on stdout, the test releases them through
stdin, and the crashing child blocks reading a FIFO until the test kills it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.engine.state import Mapped, Pending, Success
from lockgate.store import CRASHED, RunStore

sys.path.insert(0, str(Path(__file__).parent))
import _store_flows

CHILD = str(Path(__file__).with_name("_store_flows.py"))
TIMEOUT = 120


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect(proc: subprocess.Popen[str], word: str) -> list[str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(word):
        proc.kill()
        _, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"child said {line!r} instead of {word!r}; stderr:\n{err}")
    return line.split()


def test_two_processes_record_runs_into_one_store_at_once(store_url: str, home: Path) -> None:
    n = 1500
    RunStore.open(store_url, home=home).close()  # both children open an existing store
    children = [_spawn("wide", store_url, str(home), str(n)) for _ in range(2)]
    run_ids = [_expect(child, "ready")[1] for child in children]
    for child in children:  # release both together so their writes interleave
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=TIMEOUT)
        assert child.returncode == 0, err
        assert out.split()[2:] == ["Success", "None"], (out, err)

    with RunStore.open(store_url, home=home) as store:
        for run_id in run_ids:
            run = store.get_run(run_id)
            assert run.state == "Success"
            assert run.task_counts == {"Success": n + 2}
            rows = store.task_runs(run_id)
            assert len(rows) == n + 2
            assert len(store.transitions(run_id)) == 2 * (n + 2) + 2
        flow = _store_flows.wide_flow(n)
        states = store.task_states(run_ids[1], flow)
        reducer = next(t for t in flow.tasks if t.slug == "reduce")
        assert states[reducer].result == n


def test_a_fresh_store_opened_by_two_processes_at_once_is_migrated_once(
    store_url: str, home: Path
) -> None:
    children = [_spawn("wide", store_url, str(home), "3") for _ in range(2)]
    for child in children:
        _expect(child, "ready")
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        _, err = child.communicate(timeout=TIMEOUT)
        assert child.returncode == 0, err
    with RunStore.open(store_url, home=home) as store:
        assert len(store.list_runs()) == 2


def test_a_run_killed_with_sigkill_reads_as_crashed_with_finished_tasks_intact(
    store_url: str, home: Path, tmp_path: Path, backend: str
) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    child = _spawn("crash", store_url, str(home), str(fifo))
    run_id = _expect(child, "waiting")[1]

    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=TIMEOUT)  # reap it: a zombie would still look alive
    assert child.returncode == -signal.SIGKILL

    if backend.startswith("sqlite"):
        engine = sa.create_engine(store_url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        engine.dispose()

    with RunStore.open(store_url, home=home) as store:
        store.wait_for_writer(run_id)  # a killed run's writer process commits, then ends
        run = store.get_run(run_id)
        assert run.state == CRASHED and run.active is False
        assert [r.id for r in store.list_runs(state="Crashed")] == [run_id]
        assert store.list_runs(state="Running") == []
        rows = {(r.task_name, r.map_index): r for r in store.task_runs(run_id)}
        assert rows[("numbers", -1)].state == "Success"
        assert [rows[("double", i)].state for i in range(3)] == ["Success"] * 3
        assert rows[("total", -1)].state == "Success"
        assert rows[("wait", -1)].state == "Running"
        assert run.task_counts == {"Running": 1, "Success": 5}

        # Restart from the store: only the unfinished task runs; results come back.
        _store_flows.CALLS.clear()
        flow, tasks = _store_flows.crash_flow(lambda t: t)
        states = store.task_states(run_id, flow)
        assert isinstance(states[tasks["double"]], Mapped)
        assert [s.result for s in states[tasks["double"]].map_states] == [2, 4, 6]
        assert states[tasks["total"]].result == 12
        assert isinstance(states[tasks["wait"]], Pending)

        final = flow.run(store=store.recorder(flow_run_id=run_id), task_states=states)
        assert isinstance(final, Success)
        assert final.result[tasks["wait"]].result == 12
        assert _store_flows.CALLS == {"wait": 1}
        assert store.get_run(run_id).state == "Success"
        flow_changes = [
            (t.old_state, t.new_state) for t in store.transitions(run_id) if t.task_slug is None
        ]
        assert flow_changes == [(None, "Running"), (CRASHED, "Running"), ("Running", "Success")]


def test_mark_crashed_persists_the_crash(store_url: str, home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    child = _spawn("crash", store_url, str(home), str(fifo))
    run_id = _expect(child, "waiting")[1]
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=TIMEOUT)
    with RunStore.open(store_url, home=home) as store:
        assert store.mark_crashed(run_id) is True
        assert store.mark_crashed(run_id) is False  # already marked
        run = store.get_run(run_id)
        assert run.state == CRASHED and run.end_time is not None
        assert "died" in str(run.message)
