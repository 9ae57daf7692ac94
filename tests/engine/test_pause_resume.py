"""Pause -> approve -> resume, end to end, both ways of resuming:

* ``flow.run(task_states=previous.result, start_tasks=[paused_task])``, and
* replacing the paused task's state with ``Resume()`` in ``task_states``.

Covered: a manual_only root task, a manual_only task with upstreams, a task that raises
PAUSE in run() (and one that calls pause_task()), inputs restored from cached_inputs when
upstream results are missing, a mapped manual_only task, no rerun of finished tasks, and
resuming twice. No test waits on the clock: FakeClock.sleeps stays empty throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lockgate import Flow, Task, context, task, triggers, unmapped
from lockgate.engine import signals
from lockgate.engine.state import (
    Mapped,
    Paused,
    Pending,
    Resume,
    Running,
    State,
    Success,
)
from lockgate.testing import FakeClock, RecordingExecutor
from lockgate.utilities.tasks import pause_task

Resumer = Callable[[Flow, dict[Task, State], Task], State]


@pytest.fixture(autouse=True)
def fake_clock() -> Iterator[FakeClock]:
    with FakeClock() as c:
        yield c
    assert c.sleeps == [], "a pause must never make the run wait on the clock"


def resume_with_start_tasks(flow: Flow, states: dict[Task, State], paused: Task) -> State:
    return flow.run(task_states=states, start_tasks=[paused])


def resume_with_resume_state(flow: Flow, states: dict[Task, State], paused: Task) -> State:
    new_states = dict(states)
    new_states[paused] = Resume(cached_inputs=states[paused].cached_inputs)
    return flow.run(task_states=new_states)


def resume_with_bare_resume_state(flow: Flow, states: dict[Task, State], paused: Task) -> State:
    new_states = dict(states)
    new_states[paused] = Resume()
    return flow.run(task_states=new_states)


RESUMERS = [resume_with_start_tasks, resume_with_resume_state]
RESUMER_IDS = ["start_tasks", "Resume()"]


class Counter:
    """Counts calls per task name."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


# -- flows under test ----------------------------------------------------------------------------
def manual_root_flow(counter: Counter) -> tuple[Flow, Task, Task]:
    @task(trigger=triggers.manual_only)
    def approve() -> int:
        counter.hit("approve")
        return 10

    @task
    def after(x: int) -> int:
        counter.hit("after")
        return x + 1

    with Flow("manual-root") as flow:
        p = approve()
        a = after(p)
    return flow, p, a


def manual_with_upstreams_flow(counter: Counter) -> tuple[Flow, Task, Task, Task]:
    @task
    def load() -> int:
        counter.hit("load")
        return 2

    @task(trigger=triggers.manual_only)
    def publish(x: int, y: int) -> int:
        counter.hit("publish")
        return x * y

    @task
    def report(x: int) -> str:
        counter.hit("report")
        return f"published {x}"

    with Flow("manual-upstreams") as flow:
        up = load()
        p = publish(up, y=21)  # x from an upstream result, y a constant
        r = report(p)
    return flow, up, p, r


def pause_in_run_flow(counter: Counter, use_pause_task: bool) -> tuple[Flow, Task, Task, Task]:
    @task
    def load() -> int:
        counter.hit("load")
        return 3

    @task
    def risky(x: int, y: int) -> int:
        counter.hit("risky")
        if use_pause_task:
            pause_task("needs a human")
        elif not context.get("resume"):
            raise signals.PAUSE("needs a human")
        return x + y

    @task
    def after(x: int) -> int:
        counter.hit("after")
        return x * 10

    with Flow("pause-in-run") as flow:
        up = load()
        p = risky(up, y=4)
        a = after(p)
    return flow, up, p, a


# =============================================================================================
# manual_only root task
# =============================================================================================
def test_manual_root_pauses_and_downstream_waits() -> None:
    counter = Counter()
    flow, p, a = manual_root_flow(counter)
    state = flow.run()
    assert type(state) is Running
    assert type(state.result[p]) is Paused
    assert type(state.result[a]) is Pending
    assert counter.calls == {}


@pytest.mark.parametrize(
    "resume", [*RESUMERS, resume_with_bare_resume_state], ids=[*RESUMER_IDS, "bare Resume()"]
)
def test_manual_root_resume(resume: Resumer) -> None:
    counter = Counter()
    flow, p, a = manual_root_flow(counter)
    first = flow.run()
    second = resume(flow, first.result, p)
    assert type(second) is Success
    assert second.result[p].result == 10
    assert second.result[a].result == 11
    assert counter.calls == {"approve": 1, "after": 1}


# =============================================================================================
# manual_only task with upstreams
# =============================================================================================
def test_manual_with_upstreams_pauses_with_its_inputs() -> None:
    counter = Counter()
    flow, up, p, r = manual_with_upstreams_flow(counter)
    state = flow.run()
    assert type(state) is Running
    assert type(state.result[up]) is Success
    paused = state.result[p]
    assert type(paused) is Paused
    assert paused.cached_inputs == {"x": 2, "y": 21}
    assert type(state.result[r]) is Pending
    assert counter.calls == {"load": 1}


@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_manual_with_upstreams_resume(resume: Resumer) -> None:
    counter = Counter()
    flow, _up, p, r = manual_with_upstreams_flow(counter)
    first = flow.run()
    second = resume(flow, first.result, p)
    assert type(second) is Success
    assert second.result[p].result == 42
    assert second.result[r].result == "published 42"
    assert counter.calls == {"load": 1, "publish": 1, "report": 1}  # load not rerun


def test_manual_with_upstreams_bare_resume_uses_upstream_results_and_constants() -> None:
    counter = Counter()
    flow, _up, p, _r = manual_with_upstreams_flow(counter)
    first = flow.run()
    second = resume_with_bare_resume_state(flow, first.result, p)
    assert second.result[p].result == 42
    assert counter.calls == {"load": 1, "publish": 1, "report": 1}


# =============================================================================================
# PAUSE raised in run() and pause_task()
# =============================================================================================
@pytest.mark.parametrize("use_pause_task", [False, True], ids=["PAUSE", "pause_task()"])
def test_pause_in_run_keeps_inputs(use_pause_task: bool) -> None:
    counter = Counter()
    flow, _up, p, a = pause_in_run_flow(counter, use_pause_task)
    state = flow.run()
    assert type(state) is Running
    assert type(state.result[p]) is Paused
    assert state.result[p].cached_inputs == {"x": 3, "y": 4}
    assert type(state.result[a]) is Pending
    assert counter.calls == {"load": 1, "risky": 1}


@pytest.mark.parametrize("use_pause_task", [False, True], ids=["PAUSE", "pause_task()"])
@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_pause_in_run_resume(resume: Resumer, use_pause_task: bool) -> None:
    counter = Counter()
    flow, _up, p, a = pause_in_run_flow(counter, use_pause_task)
    first = flow.run()
    second = resume(flow, first.result, p)
    assert type(second) is Success
    assert second.result[p].result == 7
    assert second.result[a].result == 70
    assert counter.calls == {"load": 1, "risky": 2, "after": 1}


# =============================================================================================
# Inputs restored from cached_inputs when upstream results are not provided
# =============================================================================================
@pytest.mark.parametrize("use_pause_task", [False, True], ids=["PAUSE", "pause_task()"])
def test_start_tasks_resume_with_only_the_paused_state(use_pause_task: bool) -> None:
    counter = Counter()
    flow, _up, p, a = pause_in_run_flow(counter, use_pause_task)
    first = flow.run()
    executor = RecordingExecutor()
    second = flow.run(task_states={p: first.result[p]}, start_tasks=[p], executor=executor)
    assert second.result[p].result == 7
    assert second.result[a].result == 70
    assert "load" not in [name for name, _ in executor.submitted]
    assert counter.calls["load"] == 1


def test_manual_only_start_tasks_resume_with_only_the_paused_state() -> None:
    counter = Counter()
    flow, up, p, r = manual_with_upstreams_flow(counter)
    first = flow.run()
    second = flow.run(task_states={p: first.result[p]}, start_tasks=[p])
    assert type(second.result[up]) is Pending  # never computed
    assert second.result[p].result == 42
    assert second.result[r].result == "published 42"
    assert counter.calls == {"load": 1, "publish": 1, "report": 1}


@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_resume_when_the_upstream_result_was_not_kept(resume: Resumer) -> None:
    """The upstream is known to be finished, but its result is gone (e.g. not stored)."""
    counter = Counter()
    flow, up, p, _r = manual_with_upstreams_flow(counter)
    first = flow.run()
    states = dict(first.result)
    states[up] = Success("finished earlier; result not kept")
    second = resume(flow, states, p)
    assert second.result[p].result == 42
    assert counter.calls == {"load": 1, "publish": 1, "report": 1}


# =============================================================================================
# Mapped task with manual_only
# =============================================================================================
def mapped_manual_flow(counter: Counter) -> tuple[Flow, Task, Task, Task]:
    @task
    def items() -> list[int]:
        counter.hit("items")
        return [1, 2, 3]

    @task(trigger=triggers.manual_only)
    def approve_each(x: int, scale: int) -> int:
        counter.hit(f"approve_each[{context.map_index}]")
        return x * scale

    @task
    def total(xs: list[int]) -> int:
        counter.hit("total")
        return sum(xs)

    with Flow("mapped-manual") as flow:
        i = items()
        m = approve_each.map(i, scale=unmapped(10))
        t = total(m)
    return flow, i, m, t


def test_mapped_manual_only_pauses_every_child() -> None:
    counter = Counter()
    flow, _i, m, t = mapped_manual_flow(counter)
    state = flow.run()
    assert type(state) is Running
    mapped = state.result[m]
    assert isinstance(mapped, Mapped)
    assert [type(s) for s in mapped.map_states] == [Paused, Paused, Paused]
    assert [s.cached_inputs for s in mapped.map_states] == [
        {"x": 1, "scale": 10},
        {"x": 2, "scale": 10},
        {"x": 3, "scale": 10},
    ]
    assert type(state.result[t]) is Pending
    assert counter.calls == {"items": 1}


MAPPED_RESUMERS = [
    resume_with_start_tasks,
    pytest.param(resume_with_bare_resume_state),
]


@pytest.mark.parametrize("resume", MAPPED_RESUMERS, ids=RESUMER_IDS)
def test_mapped_manual_only_resume_finishes_every_child(resume: Resumer) -> None:
    counter = Counter()
    flow, _i, m, t = mapped_manual_flow(counter)
    first = flow.run()
    second = resume(flow, first.result, m)
    mapped = second.result[m]
    assert [type(s) for s in mapped.map_states] == [Success, Success, Success]
    assert mapped.result == [10, 20, 30]
    assert second.result[t].result == 60
    assert type(second) is Success
    assert counter.calls == {
        "items": 1,
        "approve_each[0]": 1,
        "approve_each[1]": 1,
        "approve_each[2]": 1,
        "total": 1,
    }


def test_mapped_manual_only_resume_with_only_the_mapped_state() -> None:
    counter = Counter()
    flow, _i, m, t = mapped_manual_flow(counter)
    first = flow.run()
    second = flow.run(task_states={m: first.result[m]}, start_tasks=[m])
    assert second.result[m].result == [10, 20, 30]
    assert second.result[t].result == 60
    assert counter.calls["items"] == 1


def test_mapped_manual_only_resume_twice_does_not_rerun_children() -> None:
    counter = Counter()
    flow, _i, m, t = mapped_manual_flow(counter)
    first = flow.run()
    second = flow.run(task_states=first.result, start_tasks=[m])
    third = flow.run(task_states=second.result, start_tasks=[m])
    assert type(third) is Success
    assert third.result[t].result == 60
    assert counter.calls == {
        "items": 1,
        "approve_each[0]": 1,
        "approve_each[1]": 1,
        "approve_each[2]": 1,
        "total": 1,
    }


# =============================================================================================
# Resuming does not rerun finished tasks; resuming twice is harmless
# =============================================================================================
def wide_flow(counter: Counter) -> tuple[Flow, dict[str, Task]]:
    """Independent finished work next to a paused branch: side, load -> gate -> report."""

    @task
    def side() -> str:
        counter.hit("side")
        return "side"

    @task
    def load() -> int:
        counter.hit("load")
        return 5

    @task(trigger=triggers.manual_only)
    def gate(x: int) -> int:
        counter.hit("gate")
        return x

    @task
    def report(x: int) -> int:
        counter.hit("report")
        return x + 1

    with Flow("wide") as flow:
        s = side()
        ld = load()
        g = gate(ld)
        r = report(g)
    return flow, {"side": s, "load": ld, "gate": g, "report": r}


@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_resume_does_not_rerun_finished_tasks(resume: Resumer) -> None:
    counter = Counter()
    flow, t = wide_flow(counter)
    first = flow.run()
    assert counter.calls == {"side": 1, "load": 1}
    second = resume(flow, first.result, t["gate"])
    assert type(second) is Success
    assert counter.calls == {"side": 1, "load": 1, "gate": 1, "report": 1}
    assert second.result[t["side"]] is first.result[t["side"]]
    assert second.result[t["load"]] is first.result[t["load"]]


@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_resume_twice_is_harmless(resume: Resumer) -> None:
    counter = Counter()
    flow, t = wide_flow(counter)
    first = flow.run()
    second = resume(flow, first.result, t["gate"])
    # Resume again from the resumed run's states: the gate is finished now.
    third = flow.run(task_states=second.result, start_tasks=[t["gate"]])
    fourth = flow.run(task_states=second.result)
    for state in (third, fourth):
        assert type(state) is Success
        assert state.result[t["report"]].result == 6
    assert counter.calls == {"side": 1, "load": 1, "gate": 1, "report": 1}


@pytest.mark.parametrize("resume", RESUMERS, ids=RESUMER_IDS)
def test_resume_does_not_change_the_previous_states(resume: Resumer) -> None:
    counter = Counter()
    flow, t = wide_flow(counter)
    first = flow.run()
    before = dict(first.result)
    paused = first.result[t["gate"]]
    inputs_before = dict(paused.cached_inputs or {})
    resume(flow, first.result, t["gate"])
    assert first.result == before
    assert all(first.result[k] is before[k] for k in before)
    assert type(paused) is Paused
    assert paused.cached_inputs == inputs_before
    # so the same paused states can be resumed again, with the same outcome
    again = resume(flow, first.result, t["gate"])
    assert again.result[t["report"]].result == 6


def test_a_paused_state_without_approval_stays_paused() -> None:
    counter = Counter()
    flow, t = wide_flow(counter)
    first = flow.run()
    second = flow.run(task_states=first.result)
    assert type(second) is Running
    assert type(second.result[t["gate"]]) is Paused
    assert type(second.result[t["report"]]) is Pending
    assert counter.calls == {"side": 1, "load": 1}


def test_resume_only_approves_the_named_task() -> None:
    @task(trigger=triggers.manual_only)
    def first_gate() -> int:
        return 1

    @task(trigger=triggers.manual_only)
    def second_gate(x: int) -> int:
        return x + 1

    with Flow("two-gates") as flow:
        g1 = first_gate()
        g2 = second_gate(g1)
    s1 = flow.run()
    assert type(s1.result[g1]) is Paused
    s2 = flow.run(task_states=s1.result, start_tasks=[g1])
    assert type(s2) is Running
    assert s2.result[g1].result == 1
    assert type(s2.result[g2]) is Paused  # its own approval is still needed
    s3 = flow.run(task_states=s2.result, start_tasks=[g2])
    assert type(s3) is Success
    assert s3.result[g2].result == 2
