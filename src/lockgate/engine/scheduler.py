"""The scheduling loop: which task runs next, over plain indexed state.

Every flow run, whatever the executor, goes through :func:`run_tasks`. Tasks are
numbered in topological order and the loop keeps, per task index:

* ``waiting[i]``: how many upstream edges still wait for an unfinished upstream task;
* ``dependents[i]``: the indexes of downstream tasks (one entry per edge);
* ``needed_by[i]``: how many downstream tasks have yet to finish with its result;
* ``states[i]``: the task's current state.

Ready tasks sit on a LIFO stack, so work goes depth-first; a task whose state is
Scheduled in the future (a retry) waits on a heap ordered by start time. When a task
finishes, its dependents' waiting counts drop, and the results of upstream tasks
nothing needs any more are released (unless the caller asked to get them back).
Executors only decide where each submitted task runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lockgate.engine.state import (
    Cached,
    Finished,
    Mapped,
    Paused,
    Pending,
    Resume,
    Scheduled,
    State,
    is_done,
)
from lockgate.utilities import clock

if TYPE_CHECKING:
    from lockgate.core.edge import Edge
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.engine.executors.base import Executor

__all__ = ["is_done", "run_tasks"]

RunOne = Callable[["Task", State, dict["Edge", State], bool], State]


def initial_state(given: State | None, start: bool) -> State:
    """The state a task enters the run with: the given one, or ``Pending()``.

    A Paused start task becomes ``Resume`` so that it runs (the run approves it).
    """
    state = given if given is not None else Pending()
    if start and isinstance(state, Paused):
        state = Resume("Resumed as a start task.", cached_inputs=state.cached_inputs)
    return state


def run_tasks(
    flow: Flow,
    task_states: Mapping[Task, State],
    start_tasks: Collection[Task],
    keep: Iterable[Task],
    executor: Executor,
    run_one: RunOne,
) -> dict[Task, State]:
    """Run the flow's tasks to the point where none can make progress.

    Args:
        flow: the flow.
        task_states: states to start from; a finished one (other than Cached or
            Mapped) is used as it is and its task is not run again.
        start_tasks: if not empty, run only these and their downstream tasks, the
            start tasks without checking their upstream states or trigger.
        keep: tasks whose results must survive the run; others are released once
            every downstream task has finished.
        executor: where each task runs.
        run_one: ``run_one(task, state, upstream_states, is_start_task)`` returns the
            task's new state; the loop submits it to the executor.

    Returns:
        The final state of every task (released ones excluded).
    """
    tasks = flow.sorted_tasks()
    n = len(tasks)
    index = {t: i for i, t in enumerate(tasks)}
    start = {index[t] for t in start_tasks}

    # Which tasks this run computes: all, or the start tasks and their descendants.
    if start:
        computed = [False] * n
        for i in sorted(start):
            computed[i] = True
        for i, t in enumerate(tasks):
            if not computed[i] and any(
                computed[index[e.upstream_task]] for e in flow._edges_to.get(t, ())
            ):
                computed[i] = True
    else:
        computed = [True] * n

    states: list[State | None] = [None] * n
    to_run = [False] * n
    for i, t in enumerate(tasks):
        given = task_states.get(t)
        st = initial_state(given, i in start)
        states[i] = st
        to_run[i] = computed[i] and not (
            given is not None and isinstance(st, Finished) and not isinstance(st, (Cached, Mapped))
        )

    in_edges: list[list[tuple[Edge, int]]] = [[] for _ in range(n)]
    dependents: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    needed_by = [0] * n
    for i, t in enumerate(tasks):
        for e in flow._edges_to.get(t, ()):
            u = index[e.upstream_task]
            in_edges[i].append((e, u))
            if to_run[i]:
                dependents[u].append(i)
                needed_by[u] += 1
                if to_run[u]:
                    waiting[i] += 1
    keep_index = {index[t] for t in keep if t in index}

    ready = [i for i in range(n - 1, -1, -1) if to_run[i] and waiting[i] == 0]
    timed: list[tuple[Any, int, int]] = []  # (start_time, tie-breaker, index)
    in_flight: list[tuple[Any, int]] = []
    capacity = max(1, executor.capacity)
    seq = 0

    def submit(i: int) -> Any:
        upstream = {e: states[u] for e, u in in_edges[i]}
        return executor.submit(run_one, tasks[i], states[i], upstream, i in start)

    def settle(i: int, state: State) -> None:
        nonlocal seq
        states[i] = state
        if is_done(state):
            for d in reversed(dependents[i]):  # LIFO stack: first dependent runs first
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)
            for _, u in in_edges[i]:
                needed_by[u] -= 1
                if needed_by[u] == 0 and u not in keep_index and is_done(states[u]):  # type: ignore[arg-type]
                    states[u] = None  # release the result
        elif isinstance(state, Scheduled):
            seq += 1
            heapq.heappush(timed, (state.start_time, seq, i))
        # Paused, or Pending behind an unfinished upstream: it stays, and so do its dependents.

    while True:
        if capacity == 1:
            while ready:
                i = ready.pop()
                settle(i, executor.wait(submit(i)))
        else:
            while ready and len(in_flight) < capacity:
                i = ready.pop()
                in_flight.append((submit(i), i))
            if in_flight:
                position, state = next(iter(executor.as_completed([f for f, _ in in_flight])))
                settle(in_flight.pop(position)[1], state)
                continue
        if timed:
            start_time, _, i = heapq.heappop(timed)
            clock.sleep((start_time - clock.now()).total_seconds())
            ready.append(i)
            continue
        break

    return {t: st for t, st in zip(tasks, states) if st is not None}
