"""The scheduling loop: which task runs next, over plain indexed state.

Every flow run, whatever the executor, goes through one loop (:class:`_Loop`).
Each task of the flow is a *node*; when a mapped task expands, each of its children
becomes a node too. The loop keeps two kinds of data, both plain lists indexed by node:

* the flow's graph (:class:`_Graph`), built once per run and never changed: the
  tasks, the edges into and out of each, which may map, which to keep;
* the per-node arrays that change as the run goes (documented on :class:`_Loop`),
  chief among them ``states[i]``, ``unavailable[i]`` (upstream nodes still awaited;
  at zero the node is pushed on the ``ready`` stack) and ``pipelines[i]`` (the
  node's suspended TaskRunner pipeline, while it is under way).

A node's pipeline (:meth:`TaskRunner.pipeline`) runs in the loop's thread, step by
step, and *yields* when it needs something from outside:

* :class:`CallTask`: run the task's own code. The loop hands it to the executor's
  ``submit``; a future that is already done (an inline executor's) goes straight
  back into the pipeline, others are kept in flight (up to ``executor.capacity``),
  each task's ``timeout`` a deadline the loop watches.
* :class:`MapChildren`: run one child per mapped item. The loop adds the children
  as nodes and sends their final states back when all have settled.

Ready nodes sit on a LIFO stack, so work goes depth-first: a mapped pipeline
(load -> transform -> save) streams item by item, because a child waits only for the
child of the same index upstream, not for the whole upstream task. A node whose
state is Scheduled in the future (a retry) waits on a heap ordered by start time, when
the run waits for retries (``flow.run()`` does; ``FlowRunner.run`` by itself, as in
Prefect 0.5.1, leaves the task Retrying for a later run).
Results that no unfinished task needs are released, per task and per mapped child.
"""

from __future__ import annotations

import copy
import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from contextvars import Context, ContextVar, copy_context
from typing import TYPE_CHECKING, Any

from lockgate.engine.executors.base import (
    Done,
    RunCancelledError,
    RunInterrupted,
    TaskTimeoutError,
    task_exit_error,
)
from lockgate.engine.result import NoResult
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
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.edge import Edge
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.engine.executors.base import Executor
    from lockgate.engine.interrupt import CtrlC

_log = logging.getLogger("lockgate.engine.scheduler")

__all__ = [
    "CallTask",
    "MapChildren",
    "call_on",
    "call_task_code",
    "current_executor",
    "run_pipeline",
    "run_tasks",
]

_EXECUTOR: ContextVar[Executor | None] = ContextVar("lockgate_executor", default=None)


def current_executor() -> Executor | None:
    """The executor of the loop driving the calling pipeline, or None outside a loop.

    A TaskRunner step a subclass overrode runs its own work there (see
    :meth:`TaskRunner.run_mapped_task <lockgate.engine.task_runner.TaskRunner.run_mapped_task>`).

    Returns:
        The executor, or None.
    """
    return _EXECUTOR.get()


class CallTask:
    """What a pipeline yields to have the task's code run: ``task.run(**inputs)``.

    The loop sends back ``(True, value)`` or ``(False, exception)``.
    """

    __slots__ = ("context", "inputs", "task")

    def __init__(self, task: Task, inputs: dict[str, Any], context: dict[str, Any]) -> None:
        self.task = task
        self.inputs = inputs
        self.context = context


class MapChildren:
    """What a mapped task's pipeline yields to have its children run.

    Args:
        states: each child's state to start from (``len(states)`` children).
        start_child: ``start_child(map_index, state)`` returns that child's pipeline;
            called when the child is ready, so it reads its upstream item then.

    Children start in a copy of the context the request was made in (the mapped
    task's). The loop sends back the list of the children's final states.
    """

    __slots__ = ("context", "start_child", "states")

    def __init__(self, states: list[State], start_child: Callable[[int, State], Pipeline]) -> None:
        self.states = states
        self.start_child = start_child
        self.context = copy_context()


Pipeline = Generator[CallTask | MapChildren, Any, State]
RunOne = Callable[["Task", State, dict["Edge", State], bool], Pipeline]


def call_task_code(
    task: Task,
    inputs: dict[str, Any],
    context: dict[str, Any],
) -> Any:
    """Run ``task.run(**inputs)`` with ``lockgate.context`` set to ``context``.

    The one way a task's code is called: this is the function the loop hands every
    executor (which runs it inline, in a thread, a process or on a Dask worker), so
    the context arrives wherever the task's code runs.

    Args:
        task: the task.
        inputs: its keyword arguments.
        context: the task's ``lockgate.context``.

    Returns:
        What the task's code returned.

    Raises:
        RunInterrupted: Ctrl-C on the run while the code ran inline (it cancels the run).
        TaskExitError: the task's code raised ``SystemExit`` or ``KeyboardInterrupt``
            (which must not end the process or worker running it).
        Exception: whatever else the task's code raised.
    """
    # Inline, the pipeline's context is in force already: no need to set it again.
    token = None if ctx.current() is context else ctx.set_values(context)
    try:
        return task.run(**inputs)
    except RunInterrupted:
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        raise task_exit_error(exc) from exc
    finally:
        if token is not None:
            ctx.reset(token)


TASK_CALL_CODES = frozenset({call_task_code.__code__})
"""The code of the frames under which a task's own code runs (for Ctrl-C, see
:mod:`lockgate.engine.interrupt`)."""


def initial_state(given: State | None, start: bool) -> State:
    """The state a task enters the run with: the given one, or ``Pending()``.

    A Paused start task becomes ``Resume`` so that it runs (the run approves it).
    """
    state = given if given is not None else Pending()
    if start and isinstance(state, Paused):
        state = Resume("Resumed as a start task.", cached_inputs=state.cached_inputs)
    return state


def run_pipeline(pipeline: Pipeline, executor: Executor) -> State:
    """Drive one pipeline to its end (``TaskRunner.run``) and return its state.

    Mapped children run as nodes of the loop, spread over the executor, and children
    that end Retrying are retried on the clock in force; the pipeline's own final
    state is returned as it is, even when Scheduled.
    """
    loop = _Loop(executor, root=lambda _state: pipeline)
    loop.run()
    state = loop.states[0]
    assert state is not None
    executor.collect([state])
    return state


def call_on(
    executor: Executor, task: Task, inputs: dict[str, Any], context: dict[str, Any]
) -> tuple[bool, Any]:
    """Run one call of ``task``'s code on ``executor``, under the loop's deadline.

    What :meth:`TaskRunner.get_task_run_state
    <lockgate.engine.task_runner.TaskRunner.get_task_run_state>` does when it is
    called by itself (or overridden) rather than driven by a flow run's loop.

    Args:
        executor: where the code runs (started, if it needs starting).
        task: the task; its ``timeout`` is the call's deadline.
        inputs: the keyword arguments for ``task.run``.
        context: the task's ``lockgate.context``.

    Returns:
        ``(True, value)`` or ``(False, exception)``.
    """
    got: list[tuple[bool, Any]] = []

    def one_call(_state: State) -> Pipeline:
        got.append((yield CallTask(task, inputs, context)))
        return _CALLED

    _Loop(executor, root=one_call).run()
    return got[0]


_CALLED = Pending("called")  # what call_on's one-step pipeline ends with (never seen)


def run_tasks(
    flow: Flow,
    task_states: Mapping[Task, State],
    start_tasks: Collection[Task],
    keep: Iterable[Task],
    executor: Executor,
    run_one: RunOne,
    cancel: threading.Event | None = None,
    wait_for_retries: bool = True,
    interrupt: CtrlC | None = None,
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
        executor: where the tasks' code runs.
        run_one: ``run_one(task, state, upstream_states, is_start_task)`` returns the
            task's pipeline (see :meth:`TaskRunner.pipeline`).
        cancel: when set (from any thread), the run stops: calls in flight end
            Cancelled (stopped for real on executors with hard timeouts), and nothing
            else starts. Checked between tasks and at least every 0.2 s.
        wait_for_retries: when a task (or mapped child) ends Retrying or Scheduled,
            wait for its start time and run it again in this run; False leaves it
            Retrying (and its downstream tasks unrun) for a later run.
        interrupt: the run's Ctrl-C handler, if any: after one Ctrl-C, calls the
            executor cannot stop are waited for instead of abandoned (see
            :mod:`lockgate.engine.interrupt`).

    Returns:
        The final state of every task (released ones excluded).
    """
    tasks = flow.sorted_tasks()
    n = len(tasks)
    index = {t: i for i, t in enumerate(tasks)}
    start = frozenset(index[t] for t in start_tasks)
    in_edges = [[(e, index[e.upstream_task]) for e in flow._edges_to.get(t, ())] for t in tasks]

    # Which tasks this run computes: all, or the start tasks and their descendants.
    if start:
        computed = [i in start for i in range(n)]
        for i in range(n):  # topological order: upstream tasks come first
            if not computed[i] and any(computed[u] for _, u in in_edges[i]):
                computed[i] = True
    else:
        computed = [True] * n

    states: list[State] = []
    to_run = [False] * n
    for i, t in enumerate(tasks):
        given = task_states.get(t)
        state = initial_state(given, i in start)
        states.append(state)
        to_run[i] = computed[i] and not (
            given is not None
            and isinstance(state, Finished)
            and not isinstance(state, (Cached, Mapped))
        )
    graph = _Graph(tasks, in_edges, to_run, frozenset(index[t] for t in keep if t in index), start)
    loop = _Loop(
        executor,
        graph,
        states=states,
        to_run=to_run,
        run_one=run_one,
        cancel=cancel,
        interrupt=interrupt,
        wait_for_retries=wait_for_retries,
    )
    loop.run()
    return {t: st for t, st in zip(tasks, loop.states) if st is not None}


class _Graph:
    """The flow's tasks as the loop sees them: built once per run, never changed.

    Task ``i`` of the flow (in topological order) is node ``i`` of the loop; mapped
    children, added while the run goes, come after the ``size`` task nodes.

    * ``tasks[i]``: the task.
    * ``in_edges[i]``: ``(edge, u)`` for each edge into task ``i`` from task ``u``.
    * ``out_edges[u]``: ``(i, mapped)`` for each edge from task ``u`` into a task ``i``
      this run computes: what ``u`` makes available, item by item when ``mapped``.
    * ``may_map[i]``: task ``i`` has a mapped edge in (its pipeline may wait for its
      children, so it needs a context of its own).
    * ``keep``: the tasks whose results the caller wants back: never released.
    * ``start``: the start tasks (their upstream states and triggers are not checked).
    """

    __slots__ = ("in_edges", "keep", "may_map", "out_edges", "size", "start", "tasks")

    def __init__(
        self,
        tasks: Sequence[Task] = (),
        in_edges: Sequence[list[tuple[Edge, int]]] = (),
        to_run: Sequence[bool] = (),
        keep: frozenset[int] = frozenset(),
        start: frozenset[int] = frozenset(),
    ) -> None:
        self.tasks = tasks
        self.size = len(tasks)
        self.in_edges = in_edges
        self.out_edges: list[list[tuple[int, bool]]] = [[] for _ in tasks]
        self.may_map = [False] * len(in_edges)
        for i, edges in enumerate(in_edges):  # one pass, no generator per task
            runs = to_run[i]
            for e, u in edges:
                mapped = e.mapped
                if mapped:
                    self.may_map[i] = True
                if runs:
                    self.out_edges[u].append((i, mapped))
        self.keep = keep
        self.start = start


_NO_TASKS = _Graph()  # a loop that drives pipelines (TaskRunner.run), not a flow's tasks


class _Loop:
    """The loop's indexed state and its event handlers (see the module docstring).

    Built in one go by its constructor: for a flow run (:func:`run_tasks`) from the
    flow's :class:`_Graph` and each task's starting state; to drive one pipeline
    (:func:`run_pipeline`, :func:`call_on`) from a ``root`` that starts it. Nodes are
    indexed ``0, 1, ...``: first the graph's tasks (:meth:`is_task`), then mapped
    children as they are added (:meth:`add_node`). What changes as the run goes:

    Per node (lists indexed by node):

    * ``states[i]``: the node's current state; None once its result is released.
    * ``starters[i]``: for a child (or the root), ``starter(state)`` gives its pipeline;
      None for a task, whose pipeline comes from ``run_one``.
    * ``retry[i]``: whether a Scheduled (Retrying) end waits on the clock and reruns.
    * ``pipelines[i]``: the suspended pipeline while the node is under way, else None.
    * ``contexts[i]``: the ``contextvars.Context`` that pipeline runs in (None: the
      loop's own, when it never waits while others run).
    * ``unavailable[i]``: how many upstream nodes it still waits for; at 0 it is ready.
    * ``dependents[i]``: children waiting for child ``i`` (child to child, by index).
    * ``parent[i]``: the mapped node a child belongs to; -1 for a task or the root.
    * ``origins[i]``: the context a child's pipeline starts from (its parent's).
    * ``map_index[i]``: a child's index in its parent's map; -1 otherwise.
    * ``readers_left[i]``: downstream children still to read child ``i``'s result; -1
      when it must be kept.
    * ``needed_by[u]``: (tasks only) downstream tasks not yet done with task ``u``'s
      result; at 0 (and not in ``graph.keep``) it is released.

    Per mapped node that has expanded (dicts keyed by node):

    * ``children[p]``: its children's nodes, in map-index order.
    * ``live[p]``: its Mapped state so far, which readers see while it expands.
    * ``unsettled[p]``: how many of its children have not ended yet.

    Scheduling:

    * ``ready``: nodes to start, a LIFO stack (depth first).
    * ``timed``: a heap of ``(start_time, seq, node)``: retries waiting for their time.
    * ``in_flight``: ``id(future) -> (future, node)`` for calls the executor runs.
    * ``deadlines``: a heap of ``(monotonic time, seq, id(future), timeout)``.
    * ``done``: the queue futures put themselves on when they finish.
    * ``submitting``: the node whose call is being handed to the executor, else -1.
    * ``shipped``: each task as sent to other processes (see :func:`_code_only`).
    """

    def __init__(
        self,
        executor: Executor,
        graph: _Graph = _NO_TASKS,
        *,
        states: Sequence[State] = (),
        to_run: Sequence[bool] = (),
        run_one: RunOne | None = None,
        root: Callable[[State], Pipeline] | None = None,
        cancel: threading.Event | None = None,
        interrupt: CtrlC | None = None,
        wait_for_retries: bool = True,
    ) -> None:
        self.executor = executor
        self.graph = graph
        self.run_one = run_one
        self.cancel = cancel
        self.interrupt = interrupt
        self.wait_for_retries = wait_for_retries
        self.waiting_logged = False
        self.inline = executor.capacity <= 1
        self.capacity = max(1, executor.capacity)
        n = graph.size
        # Per node: the graph's tasks first.
        self.states: list[State | None] = list(states)
        self.starters: list[Callable[[State], Pipeline] | None] = [None] * n
        self.retry: list[bool] = [wait_for_retries] * n
        self.pipelines: list[Pipeline | None] = [None] * n
        self.contexts: list[Context | None] = [None] * n
        self.unavailable: list[int] = [0] * n
        self.dependents: list[list[int]] = [[] for _ in range(n)]
        self.parent: list[int] = [-1] * n
        self.origins: list[Context | None] = [None] * n
        self.map_index: list[int] = [-1] * n
        self.readers_left: list[int] = [-1] * n
        self.needed_by: list[int] = [len(out) for out in graph.out_edges]
        every = all(to_run)  # then each edge in counts, without looking
        for i, edges in enumerate(graph.in_edges):
            if to_run[i]:
                self.unavailable[i] = len(edges) if every else sum(1 for _, u in edges if to_run[u])
        # Per mapped node that expanded.
        self.children: dict[int, list[int]] = {}
        self.live: dict[int, Mapped] = {}
        self.unsettled: dict[int, int] = {}
        # Scheduling: tasks ready now, first task on top.
        unavailable = self.unavailable
        self.ready: list[int] = [
            i for i in range(n - 1, -1, -1) if to_run[i] and unavailable[i] == 0
        ]
        self.timed: list[tuple[Any, int, int]] = []
        self.seq = 0
        self.in_flight: dict[int, tuple[Any, int]] = {}
        self.submitting = -1
        self.deadlines: list[tuple[float, int, int, float]] = []
        self.done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.shipped: dict[Task, Task] = {}
        if root is not None:  # its own Scheduled end is returned, not waited for
            self.ready.append(self.add_node(Pending(), root, retry=False))

    def is_task(self, node: int) -> bool:
        """Whether ``node`` is one of the graph's tasks (not a mapped child or a root)."""
        return node < self.graph.size

    # -- nodes ------------------------------------------------------------------------
    def add_node(
        self,
        state: State,
        starter: Callable[[State], Pipeline] | None,
        retry: bool,
        parent: int = -1,
    ) -> int:
        self.states.append(state)
        self.starters.append(starter)
        self.retry.append(retry)
        self.pipelines.append(None)
        self.contexts.append(None)
        self.unavailable.append(0)
        self.dependents.append([])
        self.parent.append(parent)
        self.origins.append(None)
        self.map_index.append(-1)
        self.readers_left.append(-1)
        return len(self.states) - 1

    def upstream_state(self, u: int) -> State:
        """The state a reader of task node ``u`` sees (its Mapped-so-far while expanding)."""
        live = self.live.get(u)
        if live is not None and self.unsettled.get(u, 0) > 0:
            return live
        state = self.states[u]
        assert state is not None, "a released result was needed"
        return state

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        token = _EXECUTOR.set(self.executor)  # before any pipeline's context is copied
        try:
            self._run()
        except KeyboardInterrupt:
            # A Ctrl-C not turned into a cancel (a third one, or under the program's own
            # SIGINT handler): the calls in flight end Cancelled, so none stays Running.
            self.stop_in_flight()
            raise
        finally:
            # After an engine error or Ctrl-C, end suspended pipelines in their own
            # contexts (their clean-up resets context values set there).
            for node, pipeline in enumerate(self.pipelines):
                context = self.contexts[node]
                if pipeline is None:
                    continue
                if context is None:
                    pipeline.close()
                else:
                    context.run(pipeline.close)
            _EXECUTOR.reset(token)

    def _run(self) -> None:
        ready = self.ready
        timed = self.timed
        cancel = self.cancel
        while True:
            if cancel is not None and cancel.is_set():
                self.cancel_calls()
            if timed and self.in_flight:
                self.take_due_retries()  # while other calls run
            while ready and len(self.in_flight) < self.capacity:
                if cancel is not None and cancel.is_set():
                    break  # the top of the loop ends the run
                node = ready.pop()
                self.start(node)
            if self.in_flight:
                self.collect()
                continue
            if timed:
                wait = (timed[0][0] - clock.now()).total_seconds()
                if cancel is not None and isinstance(clock.current_clock(), clock.SystemClock):
                    cancel.wait(max(0.0, wait))  # a cancel (or Ctrl-C) ends the wait
                else:
                    clock.sleep(wait)
                self.take_due_retries()
                continue
            if ready:
                continue  # cancelled between two tasks
            if self.finish_stuck_parents():
                continue
            break

    def start(self, node: int) -> None:
        state = self.states[node]
        assert state is not None
        # A pipeline sets its task's values in lockgate.context and keeps them while it
        # is suspended, so one that may be suspended while others run gets a Context of
        # its own. Inline, only a mapped task waits (for its children); its children
        # run one after another in the context it mapped in.
        origin = self.origins[node]
        starter = self.starters[node]
        context: Context | None
        if not self.inline:
            context = origin.copy() if origin is not None else copy_context()
        elif origin is not None:
            context = origin
        elif starter is not None or self.graph.may_map[node]:
            context = copy_context()
        else:
            context = None
        self.contexts[node] = context
        if starter is None:  # a task of the flow
            run_one = self.run_one
            assert run_one is not None
            graph = self.graph
            if self.live:  # a task expanding: its readers see its Mapped-so-far
                upstream = {e: self.upstream_state(u) for e, u in graph.in_edges[node]}
            else:  # what upstream_state gives when nothing expands, without a call per edge
                states = self.states
                upstream = {}
                for e, u in graph.in_edges[node]:
                    st = states[u]
                    assert st is not None, "a released result was needed"
                    upstream[e] = st
            args = (graph.tasks[node], state, upstream, node in graph.start)
            if context is None:
                self.pipelines[node] = run_one(*args)
            else:
                self.pipelines[node] = context.run(run_one, *args)
        elif context is None:
            self.pipelines[node] = starter(state)
        else:
            self.pipelines[node] = context.run(starter, state)
        self.advance(node, None)

    def advance(self, node: int, value: Any) -> None:
        """Send ``value`` into the node's pipeline and act on what it yields next."""
        pipeline = self.pipelines[node]
        context = self.contexts[node]
        assert pipeline is not None
        executor = self.executor
        while True:
            try:
                if context is None:
                    request = pipeline.send(value)
                else:
                    request = context.run(pipeline.send, value)
            except StopIteration as stop:
                self.pipelines[node] = None
                self.contexts[node] = None
                self.settle(node, stop.value)
                return
            if type(request) is CallTask:
                future = self.submit(node, request, context)
                if future is None:
                    return  # in flight: collect() resumes the pipeline
                # It ran inline: go straight on (a Done holds its own outcome).
                if type(future) is Done:
                    value = future.outcome()
                else:
                    value = executor.outcomes((future,))[0]
                continue
            assert isinstance(request, MapChildren)
            self.expand(node, request)
            return

    def submit(self, node: int, request: CallTask, context: Context | None) -> Any:
        """Hand the node's call to the executor; return its future if it is already done.

        A call that is not done is in flight: its outcome comes back through
        :meth:`collect`, and a task with a ``timeout`` gets a deadline there. An
        inline executor runs a call with a timeout in a daemon thread instead
        (:class:`_SoftCall`), so that the loop can give up on it at its deadline.
        """
        task = request.task
        executor = self.executor
        timeout = task.timeout
        self.submitting = node  # until it is in flight (see stop_in_flight)
        future: Any
        if not self.inline:
            shipped = self.shipped.get(task)
            if shipped is None:
                shipped = self.shipped[task] = _code_only(task)
            future = executor.submit(call_task_code, shipped, request.inputs, request.context)
        elif timeout is not None:
            future = _SoftCall(executor, task, request.inputs, request.context)
        elif context is None:
            future = executor.submit(call_task_code, task, request.inputs, request.context)
        else:  # inline, in the pipeline's own context (other context variables it set)
            future = context.run(
                executor.submit, call_task_code, task, request.inputs, request.context
            )
        if self.inline and future.done():  # (a pool's done() takes a lock: not worth it)
            self.submitting = -1
            return future
        key = id(future)
        self.in_flight[key] = (future, node)
        self.submitting = -1
        if timeout is not None:
            self.seq += 1
            heapq.heappush(self.deadlines, (time.monotonic() + timeout, self.seq, key, timeout))
        future.add_done_callback(self.done.put)
        if type(future) is _SoftCall:
            future.start()
        return None

    def cancel_calls(self) -> None:
        """The run was cancelled: start nothing more, and end the calls in flight.

        After one Ctrl-C, calls the executor cannot stop (threads) are left to finish:
        their outcome is what happened, so a task that succeeded is recorded Success
        and does not run again on restart.
        """
        self.ready.clear()
        self.timed.clear()
        interrupt = self.interrupt
        if (
            interrupt is not None
            and interrupt.waiting
            and self.in_flight
            and not self.executor.hard_timeouts
        ):
            if not self.waiting_logged:
                self.waiting_logged = True
                _log.warning(
                    "Interrupted (Ctrl-C): cancelling the run; waiting for %d running "
                    "task(s) to finish (press Ctrl-C again to stop waiting).",
                    len(self.in_flight),
                )
            return
        self.deadlines.clear()
        in_flight, self.in_flight = self.in_flight, {}
        self.executor.stop_all([future for future, _ in in_flight.values()])
        for _, node in in_flight.values():
            self.advance(node, (False, RunCancelledError("the flow run was cancelled.")))
        self.ready.clear()

    def stop_in_flight(self) -> None:
        """Stop the calls in flight and end their tasks Cancelled (the run is interrupted)."""
        in_flight, self.in_flight = self.in_flight, {}
        nodes = [node for _, node in in_flight.values()]
        if self.submitting >= 0:  # interrupted while handing it to the executor
            nodes.append(self.submitting)
            self.submitting = -1
        if not nodes:
            return
        try:
            self.executor.stop_all([future for future, _ in in_flight.values()])
        except Exception:
            _log.exception("could not stop the calls in flight")
        error = RunCancelledError("the flow run was interrupted (Ctrl-C).")
        for node in nodes:
            try:
                self.advance(node, (False, error))
            except Exception:
                _log.exception("could not end an interrupted task run")

    def take_due_retries(self) -> None:
        """Move the nodes whose start time has come to the ready stack, earliest on top."""
        timed = self.timed
        now = clock.now()
        due: list[int] = []
        while timed and timed[0][0] <= now:
            due.append(heapq.heappop(timed)[2])
        self.ready.extend(reversed(due))

    def collect(self) -> None:
        """Wait for finished calls (or a passed deadline) and resume their pipelines."""
        wakes = []
        if self.deadlines:
            wakes.append(self.deadlines[0][0] - time.monotonic())
        if self.timed:  # wake for the next retry too (on a fake clock: checks, harmless)
            wakes.append((self.timed[0][0] - clock.now()).total_seconds())
        if self.cancel is not None:
            wakes.append(_CANCEL_POLL)
        wait = max(0.0, min(wakes)) if wakes else None
        try:
            batch = [self.done.get(timeout=wait)]
        except queue.Empty:
            batch = []
        while True:
            try:
                batch.append(self.done.get_nowait())
            except queue.Empty:
                break
        # A call stopped at its timeout may still report in: it is no longer in flight.
        batch = [f for f in batch if self.in_flight.get(id(f), (None,))[0] is f]
        outcomes: Sequence[tuple[bool, Any] | None]
        if self.inline:  # timed calls in threads of their own: their outcome is theirs
            outcomes = [f.outcome() if type(f) is _SoftCall else None for f in batch]
            if None in outcomes:
                outcomes = self.executor.outcomes(batch)
        else:
            outcomes = self.executor.outcomes(batch)
        for future, outcome in zip(batch, outcomes):
            assert outcome is not None
            _, node = self.in_flight.pop(id(future))
            self.advance(node, outcome)
        now = time.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, key, timeout = heapq.heappop(self.deadlines)
            entry = self.in_flight.pop(key, None)
            if entry is None:
                continue  # finished in time
            future, node = entry
            self.executor.stop(future)
            error = TaskTimeoutError(f"Task did not finish within its timeout of {timeout} s.")
            self.advance(node, (False, error))

    # -- events -------------------------------------------------------------------------
    def expand(self, node: int, request: MapChildren) -> None:
        """A mapped task asks for its children: add them as nodes of the loop."""
        count = len(request.states)
        readers = self._child_readers(node)
        is_task = self.is_task(node)
        mapped_upstreams = (
            [u for e, u in self.graph.in_edges[node] if e.mapped and u in self.children]
            if is_task
            else []
        )
        ids: list[int] = []
        for i, state in enumerate(request.states):
            child = self.add_node(
                state, _child_starter(request, i), retry=self.wait_for_retries, parent=node
            )
            self.map_index[child] = i
            self.origins[child] = request.context
            self.readers_left[child] = readers
            for u in mapped_upstreams:
                siblings = self.children[u]
                if i < len(siblings) and self.unsettled.get(u, 0) > 0:
                    upstream_child = siblings[i]
                    up_state = self.states[upstream_child]
                    if up_state is None or not is_done(up_state):
                        self.unavailable[child] += 1
                        self.dependents[upstream_child].append(child)
            ids.append(child)
        live = Mapped(result=None)
        live.map_states = list(request.states)
        self.children[node] = ids
        self.live[node] = live
        self.unsettled[node] = count
        self.ready.extend(c for c in reversed(ids) if self.unavailable[c] == 0)
        # Streaming: downstream mapped tasks may expand now, child waiting for child.
        # They go on top of the stack, so they expand before the first child runs.
        if is_task:
            for d, mapped in reversed(self.graph.out_edges[node]):
                if mapped:
                    self.unavailable[d] -= 1
                    if self.unavailable[d] == 0:
                        self.ready.append(d)
        if count == 0:
            self.resume_parent(node)

    def settle(self, node: int, state: State) -> None:
        """A node's pipeline ended with ``state``."""
        self.states[node] = state
        parent = self.parent[node]
        if is_done(state):
            self.node_done(node)
        elif isinstance(state, Scheduled) and self.retry[node]:
            self.seq += 1
            heapq.heappush(self.timed, (state.start_time, self.seq, node))
            return
        # Paused, or Pending behind an unfinished upstream: it stays, and so do its readers.
        if parent >= 0:
            self.live[parent].map_states[self.map_index[node]] = state
            self.unsettled[parent] -= 1
            if self.unsettled[parent] == 0:
                self.resume_parent(parent)

    def resume_parent(self, parent: int) -> None:
        self.advance(parent, self.live[parent].map_states)

    def node_done(self, node: int) -> None:
        ready = self.ready
        for d in reversed(self.dependents[node]):  # LIFO stack: first dependent runs first
            self.unavailable[d] -= 1
            if self.unavailable[d] == 0:
                ready.append(d)
        if self.is_task(node):
            expanded = node in self.children
            graph = self.graph
            for d, mapped in reversed(graph.out_edges[node]):
                if mapped and expanded:
                    continue  # made available when this node expanded
                self.unavailable[d] -= 1
                if self.unavailable[d] == 0:
                    ready.append(d)
            for _, u in graph.in_edges[node]:
                self.needed_by[u] -= 1
                if self.needed_by[u] == 0 and u not in graph.keep:
                    self.release_task(u)
        else:
            parent = self.parent[node]
            if parent >= 0 and self.is_task(parent):
                self.release_read_children(parent, self.map_index[node])

    # -- releasing results --------------------------------------------------------------
    def _child_readers(self, node: int) -> int:
        """How many downstream children will read each child of ``node`` (-1: keep them).

        Children can be let go one by one only when every downstream task maps over
        this one; a task that takes the whole list needs every child's result.
        """
        if not self.is_task(node) or node in self.graph.keep:
            return -1
        dependents = self.graph.out_edges[node]
        if not dependents or not all(mapped for _, mapped in dependents):
            return -1
        return len(dependents)

    def release_read_children(self, reader_task: int, i: int) -> None:
        """A child of ``reader_task`` finished: drop upstream children nothing else reads."""
        for e, u in self.graph.in_edges[reader_task]:
            siblings = self.children.get(u)
            if not e.mapped or siblings is None or i >= len(siblings):
                continue
            child = siblings[i]
            if self.readers_left[child] <= 0:
                continue
            self.readers_left[child] -= 1
            if self.readers_left[child] == 0:
                self.states[child] = None
                for mapped in (self.live[u], self.states[u]):
                    if isinstance(mapped, Mapped) and i < len(mapped.map_states):
                        mapped.map_states[i] = _without_result(mapped.map_states[i])
                        values = mapped._value  # not .result: that would fetch remote values
                        if isinstance(values, list) and i < len(values):
                            values[i] = NoResult

    def release_task(self, u: int) -> None:
        state = self.states[u]
        if state is None or not is_done(state):
            return
        self.states[u] = None
        for child in self.children.pop(u, ()):
            self.states[child] = None
        self.live.pop(u, None)

    # -- the end --------------------------------------------------------------------------
    def finish_stuck_parents(self) -> bool:
        """Nothing can run: end mapped tasks whose children wait for ever (e.g. on a
        paused upstream child) with their children's states so far."""
        stuck = [p for p, left in self.unsettled.items() if left > 0]
        for parent in stuck:
            self.unsettled[parent] = 0
            self.resume_parent(parent)
        return bool(stuck) and bool(self.ready or self.in_flight or self.timed)


_CANCEL_POLL = 0.2  # s: how often a run that may be cancelled looks while calls run

_COORDINATOR_ONLY: dict[str, Any] = {
    "state_handlers": [],
    "_on_failure": None,
    "trigger": None,
    "cache_validator": None,
    "result_handler": None,
}


def _code_only(task: Task) -> Task:
    """A copy of ``task`` to send to an executor: without what only the loop calls.

    Triggers, state handlers, ``on_failure``, cache validators and result handlers
    run in the calling process, so they need not pickle (they may hold locks, open
    connections or clients).
    """
    light = copy.copy(task)
    light.__dict__.update(_COORDINATOR_ONLY)
    return light


class _SoftCall(Done):
    """A timed call of an inline executor, made in a daemon thread.

    The loop cannot give up on a call running in its own thread, so an inline
    executor's call with a ``timeout`` runs (through the executor's ``submit``) in a
    daemon thread instead; at the deadline the loop abandons it (a soft timeout: the
    code runs on, and its outcome is ignored).
    """

    __slots__ = ("_args", "_callback", "_executor", "_finished")

    def __init__(
        self, executor: Executor, task: Task, inputs: dict[str, Any], context: dict[str, Any]
    ) -> None:
        super().__init__()
        self._executor = executor
        self._args = (task, inputs, context)
        self._finished = False
        self._callback: Callable[[Done], Any] | None = None

    def done(self) -> bool:
        """Whether the call has finished."""
        return self._finished

    def add_done_callback(self, fn: Callable[[Done], Any]) -> None:
        """Call ``fn(self)`` when the call finishes (set before :meth:`start`)."""
        self._callback = fn

    def start(self) -> None:
        """Start the call in a daemon thread."""
        thread = threading.Thread(
            target=copy_context().run, args=(self._run,), daemon=True, name="lockgate-timed-call"
        )
        thread.start()

    def _run(self) -> None:
        executor = self._executor
        ok, value = executor.outcomes((executor.submit(call_task_code, *self._args),))[0]
        if ok:
            self._value = value
        else:
            self._error = value
        self._finished = True
        if self._callback is not None:
            self._callback(self)


def _child_starter(request: MapChildren, i: int) -> Callable[[State], Pipeline]:
    def start(state: State) -> Pipeline:
        return request.start_child(i, state)

    return start


def _without_result(state: State) -> State:
    """A copy of a released child's state that no longer holds its result or inputs."""
    light = state.__copy__()
    light.result = NoResult
    light._handled = None
    light.cached_inputs = None
    return light
