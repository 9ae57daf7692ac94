"""The scheduling loop: order of work, the pure helpers, and release of results."""

from __future__ import annotations

import gc
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lockgate import Flow, Task, task
from lockgate.engine.flow_runner import FlowRunner
from lockgate.engine.scheduler import initial_state, is_done
from lockgate.engine.state import (
    Cached,
    Failed,
    Mapped,
    Paused,
    Pending,
    Resume,
    Retrying,
    Running,
    Scheduled,
    Skipped,
    State,
    Submitted,
    Success,
    TimedOut,
    TriggerFailed,
)
from lockgate.testing import FakeClock, RecordingExecutor

T0 = datetime(2033, 1, 1, tzinfo=timezone.utc)


@task
def root() -> int:
    return 1


@task
def step(x: int) -> int:
    return x + 1


def two_chains() -> tuple[Flow, dict[str, Task]]:
    """root -> a1 -> a2 and root -> b1 -> b2, with a-branch tasks added first."""
    with Flow("two-chains") as flow:
        r = root()
        a1 = step(r, task_args={"name": "a1"})
        a2 = step(a1, task_args={"name": "a2"})
        b1 = step(r, task_args={"name": "b1"})
        b2 = step(b1, task_args={"name": "b2"})
    return flow, {"root": r, "a1": a1, "a2": a2, "b1": b1, "b2": b2}


def names(executor: RecordingExecutor) -> list[str]:
    return [name for name, _ in executor.submitted]


# -- order of work ------------------------------------------------------------------------------


def test_work_goes_depth_first() -> None:
    flow, _ = two_chains()
    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert isinstance(state, Success)

    order = names(executor)
    assert sorted(order) == ["a1", "a2", "b1", "b2", "root"]
    assert order[0] == "root"
    # After a1 the loop runs a2 straight away, not the other branch; same for b.
    assert order.index("a2") == order.index("a1") + 1
    assert order.index("b2") == order.index("b1") + 1


def test_local_run_order_follows_sorted_tasks_for_sibling_branches() -> None:
    flow, _ = two_chains()
    executor = RecordingExecutor()
    flow.run(executor=executor)
    assert [task.name for task in flow.sorted_tasks()] == ["root", "a1", "a2", "b1", "b2"]
    assert names(executor) == ["root", "a1", "a2", "b1", "b2"]


def test_independent_roots_run_in_insertion_order() -> None:
    with Flow("roots") as flow:
        for name in ("first", "second", "third"):
            root(task_args={"name": name})

    executor = RecordingExecutor()
    flow.run(executor=executor)
    assert names(executor) == ["first", "second", "third"]


def test_each_task_is_submitted_once_and_after_its_upstream() -> None:
    with Flow("diamond") as flow:
        r = root()
        left = step(r, task_args={"name": "left"})
        right = step(r, task_args={"name": "right"})

        @task
        def join(a: int, b: int) -> int:
            return a + b

        j = join(left, right)

    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    order = names(executor)
    assert sorted(order) == ["join", "left", "right", "root"]
    assert order[0] == "root"
    assert order[-1] == "join"
    assert state.result[j].result == 4


def test_tasks_with_finished_states_given_are_not_submitted() -> None:
    flow, t = two_chains()
    executor = RecordingExecutor()
    state = flow.run(executor=executor, task_states={t["a1"]: Success(result=100)})
    assert "a1" not in names(executor)
    assert state.result[t["a2"]].result == 101
    assert state.result[t["b2"]].result == 3


def test_start_tasks_limit_what_is_submitted() -> None:
    flow, t = two_chains()
    executor = RecordingExecutor()
    again = flow.run(
        executor=executor, task_states={t["root"]: Success(result=1)}, start_tasks=[t["b1"]]
    )
    assert names(executor) == ["b1", "b2"]
    assert again.result[t["b2"]].result == 3


def test_downstream_of_a_paused_task_is_never_submitted() -> None:
    from lockgate import triggers

    with Flow("paused") as flow:
        r = root()
        gate = step.copy(trigger=triggers.manual_only, name="gate")(r)
        step(gate, task_args={"name": "after"})

    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert isinstance(state, Running)
    assert names(executor) == ["root"]  # the gate paused before its code
    assert type(state.result[gate]) is Paused


def test_retrying_task_waits_on_the_clock_without_blocking_ready_work() -> None:
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=timedelta(minutes=1))
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first")
        return 1

    with Flow("timed") as flow:
        f = flaky()
        step(f, task_args={"name": "after-flaky"})
        r = root()
        step(r, task_args={"name": "after-root"})

    executor = RecordingExecutor()
    with FakeClock(start=T0) as clock:
        state = flow.run(executor=executor)
    assert isinstance(state, Success)
    assert names(executor) == ["flaky", "root", "after-root", "flaky", "after-flaky"]
    assert clock.sleeps == [60.0]


def test_task_scheduled_in_the_future_is_waited_for_on_the_clock() -> None:
    with Flow("scheduled") as flow:
        r = root()
        after = step(r, task_args={"name": "after"})

    executor = RecordingExecutor()
    with FakeClock(start=T0) as clock:
        later = Scheduled(start_time=T0 + timedelta(hours=2))
        state = flow.run(executor=executor, task_states={r: later})
    assert isinstance(state, Success)
    assert state.result[after].result == 2
    assert names(executor) == ["root", "after"]  # waited on the clock, then ran once
    assert clock.sleeps == [7200.0]


def test_executor_is_started_once_per_flow_run() -> None:
    flow, _ = two_chains()
    executor = RecordingExecutor()
    flow.run(executor=executor)
    flow.run(executor=executor)
    assert executor.starts == 2


# -- is_done ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [Success(), Failed(), Skipped(), Cached(), TimedOut(), TriggerFailed(), Mapped()],
)
def test_is_done_for_finished_states(state: State) -> None:
    assert is_done(state)


@pytest.mark.parametrize(
    "state",
    [
        Pending(),
        Paused(),
        Running(),
        Scheduled(start_time=T0),
        Resume(start_time=T0),
        Retrying(start_time=T0, run_count=1),
        Submitted(state=Success()),
    ],
)
def test_is_done_for_unfinished_states(state: State) -> None:
    assert not is_done(state)


def test_is_done_for_mapped_states_looks_at_every_child() -> None:
    assert is_done(Mapped(map_states=[]))
    assert is_done(Mapped(map_states=[Success(), Failed(), Skipped()]))
    assert not is_done(Mapped(map_states=[Success(), Retrying(start_time=T0)]))
    assert not is_done(Mapped(map_states=[Paused()]))
    assert is_done(Mapped(map_states=[Mapped(map_states=[Success()])]))
    assert not is_done(Mapped(map_states=[Success(), Mapped(map_states=[Pending()])]))


# -- initial_state -------------------------------------------------------------------------------------


def test_initial_state_without_a_given_state_is_pending() -> None:
    state = initial_state(None, False)
    assert type(state) is Pending
    assert state.cached_inputs is None
    assert type(initial_state(None, True)) is Pending


@pytest.mark.parametrize(
    "given",
    [
        Success(result=3),
        Failed("no"),
        Cached(result=1),
        Mapped(map_states=[]),
        Pending(cached_inputs={"x": 1}),
        Retrying(start_time=T0, run_count=1, cached_inputs={"x": 1}),
        Resume(start_time=T0),
    ],
)
@pytest.mark.parametrize("start", [False, True])
def test_initial_state_keeps_a_given_state_as_it_is(given: State, start: bool) -> None:
    assert initial_state(given, start) is given


def test_initial_state_resumes_a_paused_start_task() -> None:
    paused = Paused("wait", cached_inputs={"x": 1, "y": 5})
    resumed = initial_state(paused, True)
    assert type(resumed) is Resume
    assert resumed.cached_inputs == {"x": 1, "y": 5}
    assert paused.cached_inputs == {"x": 1, "y": 5}  # the given state is untouched
    # not a start task: it stays Paused
    assert initial_state(paused, False) is paused


@task
def takes_two(x: int, y: int) -> int:
    return x + y


def test_constant_inputs_reach_a_task_that_starts_from_a_given_pending_state() -> None:
    with Flow("constants") as flow:
        r = root()
        t = takes_two(r, 5)  # y is a constant input

    given = Retrying(start_time=T0, run_count=1, cached_inputs={"x": 1})
    with FakeClock(start=T0):
        state = flow.run(task_states={t: given})
    assert state.result[t].result == 6
    assert given.cached_inputs == {"x": 1}  # the caller's state is untouched


def test_saved_inputs_fill_what_upstream_tasks_do_not_provide() -> None:
    with Flow("saved-inputs") as flow:
        r = root()
        t = takes_two(r, 5)

    # r is not computed in this run (only t and what follows it), so x comes from the
    # saved inputs of t's Paused state.
    paused = Paused("wait", cached_inputs={"x": 10, "y": 5})
    state = flow.run(task_states={t: paused}, start_tasks=[t])
    assert state.result[t].result == 15


# -- release of results -------------------------------------------------------------------------------


class Blob:
    """A large-ish object we can hold a weak reference to."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.payload = bytearray(100_000)


def blob_chain(length: int) -> tuple[Flow, list[Task], dict[int, weakref.ref[Blob]]]:
    refs: dict[int, weakref.ref[Blob]] = {}

    @task
    def make(i: int, previous: Any = None) -> Blob:
        blob = Blob(i)
        refs[i] = weakref.ref(blob)
        return blob

    tasks: list[Task] = []
    with Flow("blobs") as flow:
        previous: Any = None
        for i in range(length):
            previous = make(i, previous)
            tasks.append(previous)
    return flow, tasks, refs


def test_intermediate_results_are_released_when_not_returned() -> None:
    flow, tasks, refs = blob_chain(4)
    last = tasks[-1]

    state = FlowRunner(flow).run(return_tasks=[last])
    gc.collect()

    assert isinstance(state, Success)
    assert set(state.result) == {last}
    assert state.result[last].result.index == 3
    assert [refs[i]() is None for i in range(3)] == [True, True, True]
    assert refs[3]() is not None  # the returned task's result is alive


def test_returned_intermediate_results_are_kept() -> None:
    flow, tasks, refs = blob_chain(4)

    state = FlowRunner(flow).run(return_tasks=[tasks[1], tasks[3]])
    gc.collect()

    assert state.result[tasks[1]].result.index == 1
    assert refs[0]() is None
    assert refs[1]() is not None
    assert refs[2]() is None
    assert refs[3]() is not None


def test_flow_run_keeps_every_result() -> None:
    flow, tasks, refs = blob_chain(4)

    state = flow.run()
    gc.collect()

    assert set(state.result) == set(tasks)
    assert all(refs[i]() is not None for i in range(4))
    assert [state.result[t].result.index for t in tasks] == [0, 1, 2, 3]


def test_reference_tasks_decide_the_flow_state_even_when_not_returned() -> None:
    from lockgate import triggers

    @task
    def broken() -> Blob:
        raise ValueError("no blob")

    @task(trigger=triggers.all_finished)
    def after(b: Any) -> Blob:
        return Blob(1)

    with Flow("reference") as flow:
        b = broken()
        a = after(b)
    flow.set_reference_tasks([b])  # an upstream task decides the flow state

    state = FlowRunner(flow).run(return_tasks=[a])
    assert set(state.result) == {a}
    assert type(state.result[a]) is Success
    assert isinstance(state, Failed)
    assert state.message == "Some reference tasks failed."


def test_result_of_a_task_still_needed_downstream_is_not_released_early() -> None:
    """A fan-out: the upstream result must survive until its last consumer ran."""
    seen: list[int] = []

    @task
    def source() -> Blob:
        return Blob(0)

    @task
    def use(b: Blob) -> int:
        seen.append(b.index)
        return b.index

    with Flow("fan-out") as flow:
        s = source()
        uses = [use(s, task_args={"name": f"use{i}"}) for i in range(3)]

    state = FlowRunner(flow).run(return_tasks=uses)
    assert seen == [0, 0, 0]
    assert all(state.result[u].result == 0 for u in uses)


# -- the loop built in one place: a fixed graph index, per-node arrays -------------------------
def test_the_loop_is_built_from_a_fixed_graph_index() -> None:
    from lockgate.engine.executors.local import LocalExecutor
    from lockgate.engine.scheduler import _Graph, _Loop
    from lockgate.engine.state import Pending

    @task
    def items() -> list[int]:
        return [1, 2]

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def add(xs: list[int], y: int) -> int:
        return sum(xs) + y

    with Flow("graph") as flow:
        first = items()
        doubled = double.map(first)
        added = add(doubled, first)
    tasks = flow.sorted_tasks()
    assert list(tasks) == [first, doubled, added]
    index = {t: i for i, t in enumerate(tasks)}
    in_edges = [[(e, index[e.upstream_task]) for e in flow.edges_to(t)] for t in tasks]
    graph = _Graph(tasks, in_edges, [False, True, True], frozenset({2}), frozenset())
    assert graph.size == 3
    assert sorted(graph.out_edges[0]) == [(1, True), (2, False)]
    assert graph.out_edges[1] == [(2, False)]
    assert graph.may_map == [False, True, False]

    loop = _Loop(
        LocalExecutor(), graph, states=[Pending()] * 3, to_run=[False, True, True], run_one=None
    )
    # The first task is not run (say, its result is given): nothing waits for it.
    assert loop.unavailable == [0, 0, 1]
    assert loop.needed_by == [2, 1, 0]
    assert loop.ready == [1]
    assert [loop.is_task(i) for i in range(3)] == [True, True, True]
    child = loop.add_node(Pending(), None, retry=True, parent=1)
    assert not loop.is_task(child) and loop.parent[child] == 1
