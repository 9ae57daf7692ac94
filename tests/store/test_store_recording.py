"""Recording real flow runs: flows, runs, task runs (mapped children too), transitions,
logs and results, read back through RunStore."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

import lockgate
from lockgate import Flow, task, triggers
from lockgate.engine.result_handlers import JSONResultHandler
from lockgate.engine.state import Failed, Mapped, Paused, Pending, Success
from lockgate.store import (
    FlowRunRecord,
    RunStore,
    StoreRecorder,
    UnknownRunError,
    graph_hash,
)
from lockgate.store.results import INLINE_LIMIT


def etl_flow() -> tuple[Flow, dict[str, Any]]:
    @task
    def extract() -> list[int]:
        lockgate.context.logger.info("extracted %d rows", 3)
        return [1, 2, 3]

    @task
    def transform(x: int) -> int:
        lockgate.context.logger.warning("transforming %s", x)
        return x * 10

    @task
    def load(xs: list[int]) -> int:
        return sum(xs)

    with Flow("etl") as flow:
        e = extract()
        t = transform.map(e)
        ld = load(t)
    return flow, {"extract": e, "transform": t, "load": ld}


def test_a_run_is_recorded_with_tasks_children_transitions_logs_and_results(
    store: RunStore,
) -> None:
    flow, tasks = etl_flow()
    recorder = store.recorder(source="etl.py:flow", executor="local")

    state = flow.run(parameters={}, store=recorder)

    assert isinstance(state, Success)
    assert recorder.error is None
    run = store.get_run(recorder.flow_run_id)
    assert isinstance(run, FlowRunRecord)
    assert (run.flow_name, run.state, run.source, run.executor) == (
        "etl",
        "Success",
        "etl.py:flow",
        "local",
    )
    assert run.graph_hash == graph_hash(flow)
    assert run.start_time is not None and run.end_time is not None
    assert run.start_time <= run.end_time
    assert run.task_counts == {"Success": 5}  # extract, 3 children, load (not the parent)

    rows = store.task_runs(run.id)
    by_key = {(r.task_name, r.map_index): r for r in rows}
    assert set(by_key) == {
        ("extract", -1),
        ("transform", -1),
        ("transform", 0),
        ("transform", 1),
        ("transform", 2),
        ("load", -1),
    }
    assert by_key[("transform", -1)].state == "Mapped"
    for i in range(3):
        child = by_key[("transform", i)]
        assert child.state == "Success" and child.run_count == 1
        assert child.start_time is not None and child.end_time is not None
        assert child.result_location is not None
    assert rows[0].task_name == "extract"  # the order they started

    # Transitions: the flow's own and each task's, in time order.
    transitions = store.transitions(run.id)
    flow_changes = [(t.old_state, t.new_state) for t in transitions if t.task_slug is None]
    assert flow_changes == [(None, "Running"), ("Running", "Success")]
    slug = by_key[("load", -1)].task_slug
    load_changes = [(t.old_state, t.new_state) for t in store.transitions(run.id, slug)]
    assert load_changes == [("Pending", "Running"), ("Running", "Success")]
    times = [t.timestamp for t in transitions]
    assert times == sorted(times)

    # Logs are tagged with the task and the mapped child that logged them.
    logs = store.logs(run.id)
    extract_slug = by_key[("extract", -1)].task_slug
    assert [(g.task_slug, g.level, g.message) for g in logs if g.task_slug == extract_slug] == [
        (extract_slug, "INFO", "extracted 3 rows")
    ]
    child_logs = store.logs(run.id, by_key[("transform", -1)].task_slug)
    assert sorted((g.map_index, g.message) for g in child_logs) == [
        (0, "transforming 1"),
        (1, "transforming 2"),
        (2, "transforming 3"),
    ]

    # Results come back through the stored location + handler.
    states = store.task_states(run.id, flow)
    assert states[tasks["extract"]].result == [1, 2, 3]
    mapped = states[tasks["transform"]]
    assert isinstance(mapped, Mapped)
    assert [s.result for s in mapped.map_states] == [10, 20, 30]
    assert states[tasks["load"]].result == 60

    # The flow is listed with its run.
    (flow_record,) = store.list_flows()
    assert (flow_record.name, flow_record.run_count, flow_record.last_run_id) == (
        "etl",
        1,
        run.id,
    )
    assert flow_record.last_state == "Success" and flow_record.source == "etl.py:flow"


def test_a_run_is_active_while_its_process_records_it(store: RunStore) -> None:
    recorder = store.recorder()
    seen: list[tuple[str, bool]] = []

    @task
    def peek() -> None:
        assert recorder.flush(timeout=30)
        run = store.get_run(recorder.flow_run_id)
        seen.append((run.state, run.active))

    with Flow("live") as flow:
        peek()
    flow.run(store=recorder)
    assert seen == [("Running", True)]
    run = store.get_run(recorder.flow_run_id)
    assert (run.state, run.active) == ("Success", False)


def test_logging_outside_a_recorded_run_is_not_captured(store: RunStore) -> None:
    flow, _ = etl_flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    logging.getLogger("lockgate.task.extract").warning("after the run")
    assert all(g.message != "after the run" for g in store.logs(recorder.flow_run_id))
    # The capture handler is gone once no run is recorded.
    assert not any(type(h).__name__ == "_Router" for h in logging.getLogger().handlers)


def test_a_failed_task_keeps_its_traceback_and_the_run_is_failed(store: RunStore) -> None:
    @task
    def boom() -> None:
        raise ValueError("the input file is empty")

    with Flow("fails") as flow:
        boom()
    recorder = store.recorder()
    state = flow.run(store=recorder)
    assert isinstance(state, Failed)
    run = store.get_run(recorder.flow_run_id)
    assert run.state == "Failed" and run.task_counts == {"Failed": 1}
    (row,) = store.task_runs(run.id)
    assert row.state == "Failed"
    assert row.traceback is not None
    assert "ValueError: the input file is empty" in row.traceback
    assert "raise ValueError" in row.traceback


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("sockets cannot be pickled")


def test_a_result_that_cannot_be_stored_fails_the_task_naming_it_and_the_type(
    store: RunStore,
) -> None:
    @task
    def connect() -> Unpicklable:
        return Unpicklable()

    with Flow("unstorable") as flow:
        c = connect()

    assert isinstance(flow.run(store=False).result[c], Success)  # fine without a store

    recorder = store.recorder()
    state = flow.run(store=recorder)
    task_state = state.result[c]
    assert isinstance(task_state, Failed)
    assert "'connect'" in str(task_state.message)
    assert "Unpicklable" in str(task_state.message)
    assert "checkpoint=False" in str(task_state.message)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert row.state == "Failed" and "Unpicklable" in str(row.message)


def test_a_large_result_is_a_file_under_the_runs_results_dir(store: RunStore) -> None:
    big = "x" * (INLINE_LIMIT * 2)

    @task
    def make() -> str:
        return big

    with Flow("big") as flow:
        m = make()
    recorder = store.recorder()
    flow.run(store=recorder)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert (
        row.result_handler
        == "lockgate.engine.result_handlers.local_result_handler.LocalResultHandler"
    )
    assert row.result_location is not None
    location = Path(row.result_location)
    assert location.parent == store.results_dir / recorder.flow_run_id
    assert location.exists()
    assert store.task_states(recorder.flow_run_id, flow)[m].result == big


def test_a_tasks_own_result_handler_is_used(store: RunStore) -> None:
    @task(result_handler=JSONResultHandler())
    def make() -> dict[str, int]:
        return {"a": 1}

    with Flow("json") as flow:
        m = make()
    recorder = store.recorder()
    flow.run(store=recorder)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert (
        row.result_handler
        == "lockgate.engine.result_handlers.json_result_handler.JSONResultHandler"
    )
    assert row.result_location == '{"a": 1}'
    assert store.task_states(recorder.flow_run_id, flow)[m].result == {"a": 1}


def test_checkpoint_false_keeps_no_result_and_the_task_would_run_again(
    store: RunStore,
) -> None:
    @task(checkpoint=False)
    def secret() -> str:
        return "token"

    with Flow("secret") as flow:
        s = secret()
    recorder = store.recorder()
    flow.run(store=recorder)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert row.state == "Success" and row.result_location is None
    rebuilt = store.task_states(recorder.flow_run_id, flow)[s]
    assert isinstance(rebuilt, Pending)
    assert "will run again" in str(rebuilt.message)


def test_a_paused_run_reads_as_running_after_its_process_returned(store: RunStore) -> None:
    @task
    def prepare() -> int:
        return 1

    @task(trigger=triggers.manual_only)
    def approve(x: int) -> int:
        return x

    with Flow("approval") as flow:
        a = approve(prepare())
    recorder = store.recorder()
    state = flow.run(store=recorder)
    assert state.is_running() and isinstance(state.result[a], Paused)
    run = store.get_run(recorder.flow_run_id)
    assert run.state == "Running"  # not Crashed: the recorder said it was done
    assert run.active is False  # waiting for approval, not being run
    assert run.task_counts == {"Paused": 1, "Success": 1}
    (paused,) = [r for r in store.task_runs(run.id) if r.state == "Paused"]
    assert paused.cached_inputs_location is not None
    assert store.list_runs(state="crashed") == []
    assert [r.id for r in store.list_runs(state="running")] == [run.id]


def test_run_ids_resolve_by_unique_prefix_with_one_line_errors(store: RunStore) -> None:
    flow, _ = etl_flow()
    recorders = [store.recorder() for _ in range(2)]
    for recorder in recorders:
        flow.run(store=recorder)
    run_id = recorders[0].flow_run_id
    assert store.get_run(run_id[:8]).id == run_id
    assert store.get_run(run_id.upper()).id == run_id
    with pytest.raises(UnknownRunError, match="at least 4 characters"):
        store.get_run("ab")
    with pytest.raises(UnknownRunError) as info:
        store.get_run("zzzzzzzz")
    assert "No run 'zzzzzzzz'" in str(info.value) and "`lockgate runs`" in str(info.value)
    with pytest.raises(UnknownRunError):
        store.task_runs("zzzzzzzz")
    with pytest.raises(UnknownRunError):
        store.recorder(flow_run_id="zzzzzzzz")


def test_ambiguous_prefixes_are_refused(store: RunStore) -> None:
    flow, _ = etl_flow()
    store.recorder()
    ids = []
    for suffix in ("1", "2"):
        recorder = StoreRecorder(store, flow_run_id=None)
        recorder.flow_run_id = "abcd" + suffix * 28
        ids.append(recorder.flow_run_id)
        flow.run(store=recorder)
    with pytest.raises(UnknownRunError, match="matches several runs"):
        store.get_run("abcd")
    assert store.get_run("abcd1").id == ids[0]


def test_list_runs_filters_pages_and_orders_newest_first(store: RunStore) -> None:
    flow, _ = etl_flow()

    @task
    def boom() -> None:
        raise RuntimeError("no")

    with Flow("other") as other:
        boom()
    ids = []
    for f in (flow, other, flow):
        recorder = store.recorder()
        f.run(store=recorder)
        ids.append(recorder.flow_run_id)
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(flow="etl")] == [ids[2], ids[0]]
    assert [r.id for r in store.list_runs(state="failed")] == [ids[1]]
    assert [r.id for r in store.list_runs(limit=1, offset=1)] == [ids[1]]
    assert store.list_runs(flow="nope") == []
    assert {f.name: f.run_count for f in store.list_flows()} == {"etl": 2, "other": 1}


def test_parameters_are_recorded(store: RunStore) -> None:
    @task
    def echo(x: Any) -> Any:
        return x

    with Flow("params") as flow:
        echo(lockgate.Parameter("when"))
        echo(lockgate.Parameter("n", default=3))
    recorder = store.recorder()
    flow.run(parameters={"when": "2024-01-01"}, store=recorder)
    assert store.get_run(recorder.flow_run_id).parameters == {"when": "2024-01-01"}


def test_store_true_and_the_environment_switch_record_in_the_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOCKGATE_STORE_URL", raising=False)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "lg"))
    flow, _ = etl_flow()
    flow.run(store=True)
    monkeypatch.setenv("LOCKGATE_STORE", "1")
    flow.run()
    flow.run(store=False)  # False wins over the environment
    monkeypatch.delenv("LOCKGATE_STORE")
    flow.run()
    with RunStore.open() as store:
        assert len(store.list_runs()) == 2


def test_store_url_string_opens_and_closes_a_store(tmp_path: Path) -> None:
    flow, _ = etl_flow()
    url = f"sqlite:///{tmp_path / 's.db'}"
    flow.run(store=url)
    with RunStore.open(url, home=tmp_path) as store:
        assert [r.state for r in store.list_runs()] == ["Success"]
    with pytest.raises(TypeError, match="not a SQLAlchemy URL"):
        flow.run(store="just-a-name")


def test_a_recorder_records_one_run_only(store: RunStore) -> None:
    flow, _ = etl_flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    with pytest.raises(RuntimeError, match=r"new one from store\.recorder"):
        flow.run(store=recorder)


def test_two_threads_recording_at_once_keep_their_logs_apart(store: RunStore) -> None:
    barrier = threading.Barrier(2)

    def make(name: str) -> Flow:
        @task(name=name)
        def work() -> int:
            barrier.wait(timeout=30)
            lockgate.context.logger.warning("from %s", name)
            barrier.wait(timeout=30)
            return 1

        with Flow(name) as flow:
            work()
        return flow

    recorders = {name: store.recorder() for name in ("left", "right")}
    threads = [
        threading.Thread(target=make(name).run, kwargs={"store": rec})
        for name, rec in recorders.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for name, rec in recorders.items():
        assert [g.message for g in store.logs(rec.flow_run_id)] == [f"from {name}"]


@pytest.mark.parametrize("executor", ["threads:4", "processes:2"])
def test_runs_on_other_executors_are_recorded_with_results(tmp_path: Path, executor: str) -> None:
    flow, tasks = etl_flow()
    with RunStore.open(f"sqlite:///{tmp_path / 's.db'}", home=tmp_path) as store:
        recorder = store.recorder()
        state = flow.run(store=recorder, executor=executor)
        assert isinstance(state, Success)
        run = store.get_run(recorder.flow_run_id)
        assert run.executor == executor
        assert run.task_counts == {"Success": 5}
        states = store.task_states(run.id, flow)
        assert [s.result for s in states[tasks["transform"]].map_states] == [10, 20, 30]
        if executor.startswith("threads"):  # task code ran in this process: logs are kept
            logs = store.logs(run.id, flow.slugs()[tasks["extract"]])
            assert [g.message for g in logs] == ["extracted 3 rows"]


def test_a_change_made_by_a_raising_state_handler_is_still_recorded(store: RunStore) -> None:
    def grumpy(task: Any, old: Any, new: Any) -> None:
        if new.is_successful():
            raise RuntimeError("handler broke")

    @task(state_handlers=[grumpy])
    def work() -> int:
        return 1

    with Flow("handlers") as flow:
        w = work()
    recorder = store.recorder()
    state = flow.run(store=recorder)
    assert isinstance(state.result[w], Failed)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert row.state == "Failed"
    assert row.message == "Exception raised while calling state handlers."
    assert [t.new_state for t in store.transitions(recorder.flow_run_id, row.task_slug)] == [
        "Running",
        "Failed",
    ]


def test_logs_since_reads_only_new_lines_and_add_log_appends_one(store: RunStore) -> None:
    flow, _ = etl_flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    run_id = recorder.flow_run_id

    every, after = store.logs_since(run_id)
    assert [(r.logger, r.message) for r in every] == [
        (r.logger, r.message) for r in store.logs(run_id)
    ]
    assert every and after > 0
    assert store.logs_since(run_id, after) == ([], after)  # nothing new: nothing read

    store.add_log(run_id, "ERROR", "someone", "a note", task_slug="extract")
    new, later = store.logs_since(run_id, after)
    assert [(r.level, r.logger, r.message, r.task_slug, r.map_index) for r in new] == [
        ("ERROR", "someone", "a note", "extract", -1)
    ]
    assert later > after
    only_load, _ = store.logs_since(run_id, 0, ["load"])
    assert only_load == []
    assert [r.message for r in store.logs_since(run_id, 0, ["extract"])[0]][-1] == "a note"
    assert [r.message for r in store.latest_logs(run_id, "someone", 5)] == ["a note"]
    assert store.latest_logs(run_id, "nobody", 5) == []


def test_add_log_refuses_a_read_only_store(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate.store import StoreError

    flow, _ = etl_flow()
    recorder = store.recorder()
    flow.run(store=recorder)
    before = store.logs(recorder.flow_run_id)
    monkeypatch.setattr(store, "read_only", True)
    with pytest.raises(StoreError, match="read-only"):
        store.add_log(recorder.flow_run_id, "INFO", "someone", "never kept")
    assert store.logs(recorder.flow_run_id) == before


def test_a_reader_can_read_a_few_tasks_of_a_run_without_reading_every_row(
    store: RunStore,
) -> None:
    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @task
    def check(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    with Flow("outline") as flow:
        checked = check.map(numbers())
        total(checked)
        check(5)
    recorder = store.recorder()
    flow.run(store=recorder)
    run_id = recorder.flow_run_id
    every = store.task_runs(run_id)
    slugs = flow.slugs()

    outline, count = store.task_outline(run_id)
    assert count == len(every) == 7
    first = {r.task_slug: r for r in sorted(every, key=lambda r: -r.map_index)}  # lowest wins
    assert outline == [
        (slug, first[slug].state) for slug in dict.fromkeys(r.task_slug for r in every)
    ]
    assert dict(outline)[slugs[checked]] == "Mapped"

    some = store.task_runs(run_id, slugs=[slugs[checked]])
    assert [(r.task_slug, r.map_index) for r in some] == [
        (r.task_slug, r.map_index) for r in every if r.task_slug == slugs[checked]
    ]
    assert store.task_runs(run_id, slugs=[]) == []

    failed, failed_count = store.failed_task_runs(run_id, 5)
    assert [(r.task_slug, r.map_index) for r in failed] == [(slugs[checked], 1)]
    assert failed_count == 1  # the TriggerFailed total is left out
    assert "ValueError: two" in (failed[0].traceback or "")
    assert store.failed_task_runs(run_id, 0) == ([], 1)
