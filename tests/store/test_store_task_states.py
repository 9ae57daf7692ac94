"""task_states: rebuilding stored states to resume a paused run and to restart a failed one.

Each test records a run, rebuilds the states from the store alone (the first run's
in-memory states are not used), continues the SAME run record, and checks what ran
again by counting calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from lockgate import Flow, Task, task, triggers
from lockgate.engine.state import (
    Failed,
    Mapped,
    Paused,
    Pending,
    State,
    Success,
)
from lockgate.store import RunStore


class Calls:
    def __init__(self) -> None:
        self.n: dict[Any, int] = {}

    def hit(self, key: Any) -> None:
        self.n[key] = self.n.get(key, 0) + 1


def restartable(states: dict[Task, State]) -> dict[Task, State]:
    """What ``lockgate restart`` does: failed tasks (and failed mapped children) -> Pending."""
    out: dict[Task, State] = {}
    for t, st in states.items():
        if isinstance(st, Mapped):
            children = [
                Pending(cached_inputs=c.cached_inputs) if isinstance(c, Failed) else c
                for c in st.map_states
            ]
            out[t] = Mapped(st.message, map_states=children)
        elif isinstance(st, Failed):
            out[t] = Pending(cached_inputs=st.cached_inputs)
        else:
            out[t] = st
    return out


def test_resume_a_paused_task_from_stored_states_and_results(store: RunStore) -> None:
    calls = Calls()

    @task
    def extract() -> list[int]:
        calls.hit("extract")
        return [1, 2, 3]

    @task(trigger=triggers.manual_only)
    def approve(rows: list[int]) -> int:
        calls.hit("approve")
        return len(rows)

    @task
    def publish(n: int) -> str:
        calls.hit("publish")
        return f"published {n}"

    with Flow("approval") as flow:
        a = approve(extract())
        p = publish(a)

    first = store.recorder()
    state = flow.run(store=first)
    assert state.is_running() and isinstance(state.result[a], Paused)
    run_id = first.flow_run_id

    states = store.task_states(run_id, flow)
    assert isinstance(states[a], Paused)
    assert states[a].cached_inputs == {"rows": [1, 2, 3]}
    assert p not in states or not states[p].is_finished()

    second = store.recorder(flow_run_id=run_id[:8])
    assert second.flow_run_id == run_id
    final = flow.run(store=second, task_states=states, start_tasks=[a])

    assert isinstance(final, Success)
    assert final.result[p].result == "published 3"
    assert calls.n == {"extract": 1, "approve": 1, "publish": 1}
    run = store.get_run(run_id)
    assert run.state == "Success" and run.task_counts == {"Success": 3}
    assert len(store.list_runs()) == 1  # the same run record, continued
    approve_slug = flow.slugs()[a]
    changes = [t.new_state for t in store.transitions(run_id, approve_slug)]
    assert changes[0] == "Paused" and changes[-1] == "Success"
    flow_changes = [
        (t.old_state, t.new_state) for t in store.transitions(run_id) if not t.task_slug
    ]
    assert flow_changes == [(None, "Running"), ("Running", "Success")]


def test_restart_reruns_the_failed_task_and_reuses_succeeded_results(store: RunStore) -> None:
    calls = Calls()
    broken = {"load": True}

    @task
    def extract() -> int:
        calls.hit("extract")
        return 20

    @task
    def transform(x: int) -> int:
        calls.hit("transform")
        return x + 1

    @task
    def load(x: int) -> int:
        calls.hit("load")
        if broken["load"]:
            raise ConnectionError("warehouse is down")
        return x * 2

    @task
    def report(x: int) -> str:
        calls.hit("report")
        return f"loaded {x}"

    with Flow("etl") as flow:
        t = transform(extract())
        ld = load(t)
        r = report(ld)

    recorder = store.recorder()
    assert isinstance(flow.run(store=recorder), Failed)
    run_id = recorder.flow_run_id
    states = store.task_states(run_id, flow)
    assert isinstance(states[ld], Failed)
    assert states[ld].cached_inputs == {"x": 21}
    assert states[t].result == 21

    broken["load"] = False
    final = flow.run(store=store.recorder(flow_run_id=run_id), task_states=restartable(states))

    assert isinstance(final, Success)
    assert final.result[r].result == "loaded 42"
    assert calls.n == {"extract": 1, "transform": 1, "load": 2, "report": 1}
    assert store.get_run(run_id).state == "Success"
    load_row = next(x for x in store.task_runs(run_id) if x.task_name == "load")
    assert load_row.state == "Success" and load_row.traceback is None
    assert load_row.run_count == 2  # both attempts: the failed one and the restart


def test_restart_reruns_only_the_failed_mapped_children(store: RunStore) -> None:
    calls = Calls()
    flaky = {2}

    @task
    def items() -> list[int]:
        calls.hit("items")
        return [1, 2, 3, 4]

    @task
    def square(x: int) -> int:
        calls.hit(("square", x))
        if x in flaky:
            raise RuntimeError(f"item {x} failed")
        return x * x

    @task
    def total(xs: list[int]) -> int:
        calls.hit("total")
        return sum(xs)

    with Flow("squares") as flow:
        s = square.map(items())
        tot = total(s)

    recorder = store.recorder()
    flow.run(store=recorder)
    run_id = recorder.flow_run_id
    states = store.task_states(run_id, flow)
    mapped = states[s]
    assert isinstance(mapped, Mapped)
    assert [type(c).__name__ for c in mapped.map_states] == [
        "Success",
        "Failed",
        "Success",
        "Success",
    ]
    assert [c.result for c in mapped.map_states if isinstance(c, Success)] == [1, 9, 16]
    assert type(states[tot]).__name__ == "TriggerFailed"

    flaky.clear()
    final = flow.run(store=store.recorder(flow_run_id=run_id), task_states=restartable(states))

    assert isinstance(final, Success)
    assert final.result[tot].result == 1 + 4 + 9 + 16
    assert calls.n[("square", 2)] == 2
    assert calls.n[("square", 1)] == calls.n[("square", 3)] == calls.n[("square", 4)] == 1
    assert calls.n["items"] == 1 and calls.n["total"] == 1
    children = [x for x in store.task_runs(run_id) if x.task_name == "square" and x.map_index >= 0]
    assert [c.state for c in children] == ["Success"] * 4


def test_a_result_whose_file_is_gone_comes_back_pending(store: RunStore) -> None:
    from pathlib import Path

    from lockgate.store.results import INLINE_LIMIT

    @task
    def big() -> bytes:
        return b"x" * (INLINE_LIMIT + 1)

    with Flow("gone") as flow:
        b = big()
    recorder = store.recorder()
    flow.run(store=recorder)
    (row,) = store.task_runs(recorder.flow_run_id)
    assert row.result_location is not None
    Path(row.result_location).unlink()
    rebuilt = store.task_states(recorder.flow_run_id, flow)[b]
    assert isinstance(rebuilt, Pending)
    assert "cannot be read back" in str(rebuilt.message)


def test_tasks_are_matched_by_slug_and_unknown_ones_are_left_out(store: RunStore) -> None:
    @task(slug="the-one")
    def one() -> int:
        return 1

    with Flow("slugs") as flow:
        one()
    recorder = store.recorder()
    flow.run(store=recorder)

    @task(slug="the-one")
    def one_again() -> int:
        return 2

    @task(slug="new-task")
    def new() -> int:
        return 3

    with Flow("slugs") as reloaded:
        same = one_again()
        added = new()
    states = store.task_states(recorder.flow_run_id, reloaded)
    assert set(states) == {same}
    assert states[same].result == 1
    assert added not in states


@pytest.mark.parametrize("state_name", ["Running", "Pending", "Submitted"])
def test_unfinished_stored_states_come_back_pending(store: RunStore, state_name: str) -> None:
    import sqlalchemy as sa

    from lockgate.store import schema

    @task
    def work() -> int:
        return 1

    with Flow("unfinished") as flow:
        w = work()
    recorder = store.recorder()
    flow.run(store=recorder)
    tr = schema.task_runs
    with store.engine.begin() as conn:
        conn.execute(sa.update(tr).values(state=state_name, result_blob=None))
    assert isinstance(store.task_states(recorder.flow_run_id, flow)[w], Pending)
