"""lockgate.runs: the Python twin of every CLI command, on real flow files and stores.

Flow files are written into tmp_path; each task appends its name to ``runs.log`` when
it runs, so the tests see exactly what ran again after a resume or a restart.
"""

from __future__ import annotations

import runpy
import shutil
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate import runs
from lockgate.store import RunStore, UnknownRunError

PRELUDE = """
from pathlib import Path

from lockgate import Flow, Parameter, task, triggers
import lockgate

HERE = Path(__file__).parent


def note(name):
    with (HERE / "runs.log").open("a") as out:
        out.write(name + "\\n")
"""

GATED = (
    PRELUDE
    + """
@task
def load(rows):
    note("load")
    return [r * 10 for r in rows]


@task(trigger=triggers.manual_only)
def approve(rows):
    note("approve")
    return len(rows)


@task(trigger=triggers.manual_only)
def audit(rows):
    note("audit")
    return "audited"


@task
def publish(count, label):
    note("publish")
    lockgate.context.logger.info("publishing %s rows as %s", count, label)
    return f"{label}: {count}"


with Flow("gated") as flow:
    rows = Parameter("rows", default=[1, 2])
    label = Parameter("label", default="daily")
    loaded = load(rows)
    publish(approve(loaded), label)
    audit(loaded)
"""
)

FANOUT = (
    PRELUDE
    + """
@task
def seeds():
    note("seeds")
    return [1, 2, 3, 4, 5]


@task
def square(x):
    note(f"square-{x}")
    marker = HERE / f"square-{x}.ok"
    if x in (2, 5) and not marker.exists():
        marker.write_text("")
        raise ValueError(f"{x} is unlucky once")
    return x * x


@task
def plus_one(y):
    note(f"plus_one-{y}")
    return y + 1


@task
def total(values):
    note("total")
    return sum(values)


with Flow("fanout") as flow:
    total(plus_one.map(square.map(seeds())))
"""
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    for var in ("LOCKGATE_STORE_URL", "LOCKGATE_EXECUTOR", "LOCKGATE_STORE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def files(tmp_path: Path, home: Path) -> Path:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "gated.py").write_text(textwrap.dedent(GATED))
    (directory / "fanout.py").write_text(textwrap.dedent(FANOUT))
    return directory


@pytest.fixture
def store(home: Path) -> Iterator[RunStore]:
    with RunStore.open() as opened:
        yield opened


def ran(directory: Path) -> Counter[str]:
    log = directory / "runs.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def everything(store: RunStore, run_id: str) -> Any:
    return (
        store.get_run(run_id),
        store.task_runs(run_id),
        store.transitions(run_id),
        store.logs(run_id),
    )


def test_run_wait_resume_one_task_then_the_rest(files: Path, store: RunStore) -> None:
    run_id, state = runs.run_file(
        str(files / "gated.py"), {"rows": [1, 2, 3], "label": "weekly"}, store=store
    )
    assert state.is_running()
    assert ran(files) == Counter({"load": 1})

    (record,) = runs.list_runs(store=store)
    assert record.id == run_id
    assert record.flow_name == "gated"
    assert record.state == "Running"
    assert record.parameters == {"rows": [1, 2, 3], "label": "weekly"}
    assert record.source == f"{files / 'gated.py'}:gated"
    assert runs.list_runs(flow="gated", state="RUNNING", store=store) == [record]
    assert runs.list_runs(state="success", store=store) == []
    with pytest.raises(runs.RunsError, match="Unknown run state 'done'"):
        runs.list_runs(state="done", store=store)
    with pytest.raises(runs.RunsError, match="--limit must be at least 1"):
        runs.list_runs(limit=0, store=store)

    assert sorted(r.task_name for r in runs.waiting(run_id, store=store)) == ["approve", "audit"]

    state = runs.resume(run_id[:6], tasks=["approve"], store=store)
    assert state.is_running(), "audit still waits"
    assert ran(files) == Counter({"load": 1, "approve": 1, "publish": 1})
    assert [r.task_name for r in runs.waiting(run_id, store=store)] == ["audit"]
    publish_logs = runs.logs(run_id, task="publish", store=store)
    assert [line.message for line in publish_logs] == ["publishing 3 rows as weekly"]

    state = runs.resume(run_id, store=store)
    assert state.is_successful()
    assert ran(files) == Counter({"load": 1, "approve": 1, "publish": 1, "audit": 1})
    run, tasks = runs.show(run_id, store=store)
    assert run.state == "Success"
    assert {t.task_name: t.state for t in tasks} == {
        "rows": "Success",
        "label": "Success",
        "load": "Success",
        "approve": "Success",
        "publish": "Success",
        "audit": "Success",
    }
    (flow_record,) = runs.flows(store=store)
    assert (flow_record.name, flow_record.run_count, flow_record.last_state) == (
        "gated",
        1,
        "Success",
    )


def test_bad_resume_and_restart_change_nothing(files: Path, store: RunStore) -> None:
    run_id, _ = runs.run_file(str(files / "gated.py"), store=store)
    before = everything(store, run_id)
    with pytest.raises(
        runs.RunsError, match=r"has no paused task 'publsh'; the paused tasks are: approve, audit\."
    ):
        runs.resume(run_id, tasks=["publsh"], store=store)
    with pytest.raises(runs.RunsError, match=r"Task 'load' .* is not paused \(it is Success\)"):
        runs.resume(run_id, tasks=["load"], store=store)
    with pytest.raises(runs.RunsError, match="has no failed or unfinished tasks to restart"):
        runs.restart(run_id, store=store)
    with pytest.raises(UnknownRunError, match="No run 'ffffffff'"):
        runs.resume("ffffffff", store=store)
    with pytest.raises(UnknownRunError):
        runs.restart("ffffffff", store=store)
    assert everything(store, run_id) == before
    assert ran(files) == Counter({"load": 1})

    runs.resume(run_id, store=store)
    done = everything(store, run_id)
    with pytest.raises(runs.RunsError, match="has nothing paused to resume"):
        runs.resume(run_id, store=store)
    with pytest.raises(runs.RunsError, match="succeeded; there is nothing to restart"):
        runs.restart(run_id, store=store)
    assert everything(store, run_id) == done


def test_resume_after_the_file_changed_is_refused(files: Path, store: RunStore) -> None:
    path = files / "gated.py"
    run_id, _ = runs.run_file(str(path), store=store)
    path.write_text(path.read_text().replace("    audit(loaded)\n", ""))
    before = everything(store, run_id)
    with pytest.raises(runs.RunsError, match=r"has changed since run .* started"):
        runs.resume(run_id, store=store)
    path.unlink()
    with pytest.raises(runs.RunsError, match=r"Cannot load the run's flow from .*does not exist"):
        runs.resume(run_id, store=store)
    assert everything(store, run_id) == before


@pytest.mark.parametrize("executor", ["local", "threads:3"])
def test_restart_reruns_failed_children_and_their_downstream_only(
    files: Path, store: RunStore, executor: str
) -> None:
    run_id, state = runs.run_file(str(files / "fanout.py"), executor=executor, store=store)
    assert state.is_failed()
    first = ran(files)
    assert first["square-2"] == first["square-5"] == 1
    assert first["plus_one-4"] == first["plus_one-25"] == 0  # downstream of failures
    assert first["total"] == 0

    state = runs.restart(run_id, store=store)
    assert state.is_successful()
    again = ran(files) - first
    assert again == Counter(
        {"square-2": 1, "square-5": 1, "plus_one-4": 1, "plus_one-25": 1, "total": 1}
    )
    _, tasks = runs.show(run_id, store=store)
    assert all(t.state in ("Success", "Mapped") for t in tasks)
    assert store.get_run(run_id).executor == executor

    flow, _ = runs.load_flow(str(files / "fanout.py"))
    final = {t.name: s for t, s in store.task_states(run_id, flow).items()}
    assert final["total"].result == sum(x * x + 1 for x in range(1, 6))


def test_store_given_as_a_url(files: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    run_id, _ = runs.run_file(str(files / "fanout.py"), store=url)
    assert [r.id for r in runs.list_runs(store=url)] == [run_id]
    runs.restart(run_id, store=url)
    assert runs.show(run_id, store=url)[0].state == "Success"
    with RunStore.open() as default:
        assert default.list_runs() == [], "the default store was not used"


def test_run_file_rejects_bad_input_before_touching_the_store(files: Path, home: Path) -> None:
    with pytest.raises(
        runs.RunsError, match="no parameter 'rowz'; its parameters are: label, rows"
    ):
        runs.run_file(str(files / "gated.py"), {"rowz": [1]})
    with pytest.raises(runs.RunsError, match="Executor 'nope' cannot be used"):
        runs.run_file(str(files / "gated.py"), executor="nope")
    with pytest.raises(runs.RunsError, match="does not exist"):
        runs.run_file(str(files / "missing.py"))
    assert not home.exists()
    assert ran(files) == Counter()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_visualize_a_recorded_run(files: Path, store: RunStore, tmp_path: Path) -> None:
    run_id, _ = runs.run_file(str(files / "fanout.py"), store=store)
    out = runs.visualize(
        str(files / "fanout.py"), run_id=run_id, output=tmp_path / "f.svg", store=store
    )
    svg = out.read_text()
    assert "square (3 ✓ / 2 ✗)" in svg
    assert f"run {run_id[:8]} (Failed)" in svg


def test_naming_a_mapped_task_approves_all_its_paused_children(
    tmp_path: Path, store: RunStore
) -> None:
    path = tmp_path / "each.py"
    path.write_text(
        textwrap.dedent(
            PRELUDE
            + """
@task
def batches():
    note("batches")
    return ["a", "b", "c"]


@task(trigger=triggers.manual_only)
def ship(batch):
    note(f"ship-{batch}")
    return batch.upper()


with Flow("each") as flow:
    ship.map(batches())
"""
        )
    )
    run_id, state = runs.run_file(str(path), store=store)
    assert state.is_running()
    waiting = runs.waiting(run_id, store=store)
    assert sorted((r.task_name, r.map_index) for r in waiting) == [
        ("ship", 0),
        ("ship", 1),
        ("ship", 2),
    ]
    state = runs.resume(run_id, tasks=["ship"], store=store)
    assert state.is_successful()
    assert ran(tmp_path) == Counter({"batches": 1, "ship-a": 1, "ship-b": 1, "ship-c": 1})
    assert runs.waiting(run_id, store=store) == []


def test_runs_recorded_from_python_without_a_source_take_the_flow(
    tmp_path: Path, store: RunStore
) -> None:
    from lockgate import Flow, task, triggers

    calls: list[str] = []

    @task
    def first() -> int:
        calls.append("first")
        return 2

    @task(trigger=triggers.manual_only)
    def second(x: int) -> int:
        calls.append("second")
        return x * 3

    with Flow("inline") as flow:
        second(first())

    recorder = store.recorder()
    flow.run(store=recorder)
    run_id = recorder.flow_run_id
    assert store.get_run(run_id).source is None
    before = everything(store, run_id)
    with pytest.raises(runs.RunsError, match=r"recorded without a source file.*flow=flow"):
        runs.resume(run_id, store=store)
    with Flow("inline") as other:
        second(second(first()))
    with pytest.raises(runs.RunsError, match=r"is not the graph run .* ran"):
        runs.resume(run_id, store=store, flow=other)
    assert everything(store, run_id) == before

    state = runs.resume(run_id, store=store, flow=flow)
    assert state.is_successful()
    assert calls == ["first", "second"]


def test_restart_of_a_run_without_a_source_says_to_pass_the_flow_to_restart(
    store: RunStore,
) -> None:
    from lockgate import Flow, task

    @task
    def boom() -> None:
        raise ValueError("broken today")

    with Flow("built-in-a-function") as flow:  # not a module variable: no source
        boom()
    recorder = store.recorder()
    flow.run(store=recorder)
    short = recorder.flow_run_id[:8]
    with pytest.raises(runs.RunsError) as caught:
        runs.restart(short, store=store)
    message = str(caught.value)
    assert f"lockgate.runs.restart('{short}', flow=flow)" in message
    assert "resume" not in message and "\n" not in message


def test_a_run_of_a_module_level_flow_records_its_file_and_variable(
    tmp_path: Path, store: RunStore
) -> None:
    path = tmp_path / "from_python.py"
    path.write_text(
        "from lockgate import Flow, task\n"
        "@task\n"
        "def one():\n"
        "    return 1\n"
        "with Flow('from-python') as my_flow:\n"
        "    one()\n"
        "def go(store):\n"
        "    recorder = store.recorder()\n"
        "    my_flow.run(store=recorder)\n"
        "    return recorder.flow_run_id\n"
    )
    namespace = runpy.run_path(str(path))
    run_id = namespace["go"](store)
    assert store.get_run(run_id).source == f"{path}:my_flow"
    loaded = runs.load_flow_file(f"{path}:my_flow")
    assert loaded.flow.name == "from-python"


def test_restart_keeps_paused_tasks_waiting(tmp_path: Path, store: RunStore) -> None:
    path = tmp_path / "both.py"
    path.write_text(
        textwrap.dedent(
            PRELUDE
            + """
@task
def flaky():
    note("flaky")
    marker = HERE / "flaky.ok"
    if not marker.exists():
        marker.write_text("")
        raise RuntimeError("first time fails")
    return 1


@task(trigger=triggers.manual_only)
def gate():
    note("gate")
    return "approved"


with Flow("both") as flow:
    flaky()
    gate()
"""
        )
    )
    run_id, state = runs.run_file(str(path), store=store)
    assert state.is_running(), "gate waits, so the run is not over"
    _, tasks = runs.show(run_id, store=store)
    assert {t.task_name: t.state for t in tasks} == {"flaky": "Failed", "gate": "Paused"}
    state = runs.restart(run_id, store=store)
    assert state.is_running(), "gate still waits"
    assert ran(tmp_path) == Counter({"flaky": 2})
    assert [r.task_name for r in runs.waiting(run_id, store=store)] == ["gate"]
    assert runs.resume(run_id, store=store).is_successful()
    assert ran(tmp_path) == Counter({"flaky": 2, "gate": 1})
