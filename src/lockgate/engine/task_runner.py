"""TaskRunner: takes one task from its current state to its next one.

``TaskRunner.run`` is a fixed pipeline of public steps, each a method that can be
tested or overridden on its own. A step either returns the (possibly new) state or
raises :class:`~lockgate.engine.signals.ENDRUN` to stop the pipeline with a state:

1. :meth:`~TaskRunner.initialize_run`: unwrap meta states, set the run count.
2. :meth:`~TaskRunner.check_task_is_ready`: only Pending-family states go on.
3. :meth:`~TaskRunner.check_task_reached_start_time`: wait for a future start time.
4. :meth:`~TaskRunner.check_upstream_finished`: every upstream must be finished.
5. :meth:`~TaskRunner.run_mapped_task`: a task with a mapped edge runs its children.
6. :meth:`~TaskRunner.check_upstream_skipped`: skip propagation.
7. :meth:`~TaskRunner.get_task_inputs`: gather inputs from upstream results.
8. :meth:`~TaskRunner.check_task_is_cached`: reuse a valid cached result.
9. :meth:`~TaskRunner.check_task_trigger`: the trigger decides.
10. :meth:`~TaskRunner.set_task_to_running`.
11. :meth:`~TaskRunner.get_task_run_state`: call ``task.run`` under the timeout.
12. :meth:`~TaskRunner.cache_result`: keep a Cached state when ``cache_for`` is set.
13. :meth:`~TaskRunner.check_for_retry`: schedule a retry for a failure.

Every state change goes through :meth:`Runner.change_state
<lockgate.engine.runner.Runner.change_state>` (the path TaskRunner shares with
FlowRunner): the task's state handlers (``on_failure`` among them), the runner's, then
the run hooks. This is the hottest code in lockgate: it runs once per task, so it stays plain.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from lockgate.core.task import Task
from lockgate.engine import signals
from lockgate.engine.executors.base import (
    Executor,
    ExecutorError,
    RunCancelledError,
    RunInterrupted,
    TaskExitError,
    TaskTimeoutError,
    task_exit_error,
)
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.executors.remote import RemoteValue, fetch_remote_results
from lockgate.engine.result import NoResult, Result, ResultInterface
from lockgate.engine.retries import delay_for
from lockgate.engine.runner import ENDRUN, Runner, keep_inputs, standard_handling
from lockgate.engine.scheduler import (
    CallTask,
    MapChildren,
    Pipeline,
    call_on,
    current_executor,
    run_pipeline,
)
from lockgate.engine.state import (
    Cached,
    Cancelled,
    Failed,
    Finished,
    Mapped,
    Paused,
    Pending,
    Resume,
    Retrying,
    Running,
    Scheduled,
    Skipped,
    State,
    Success,
    TimedOut,
    TriggerFailed,
    is_done,
)
from lockgate.triggers import UpstreamStates, all_successful, states_of
from lockgate.utilities import clock
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.edge import Edge
    from lockgate.engine.result_handlers import ResultHandler

__all__ = ["ENDRUN", "TaskRunner", "TaskRunnerInitializeResult"]

RunnerStateHandler = Callable[["TaskRunner", State, State], "State | None"]
_log = logging.getLogger("lockgate.engine.task_runner")

# In-process store of Cached states, so `cache_for` works across runs in one process.
# Keyed weakly by the task object: two flows with equal names never share entries, and
# a task that is garbage-collected takes its cache with it.
_CACHES: weakref.WeakKeyDictionary[Task, dict[int | None, Cached]] = weakref.WeakKeyDictionary()


class TaskRunnerInitializeResult(NamedTuple):
    """What :meth:`TaskRunner.initialize_run` returns: the state to start from and the
    context, with ``task_run_count`` (and ``resume``) set."""

    state: State
    context: dict[str, Any]


class TaskRunner(Runner):
    """Runs one task (or one mapped child) through the pipeline above.

    Args:
        task: the task to run.
        state_handlers: callables ``handler(runner, old_state, new_state)`` called
            after the task's own handlers on every state change.
        result_handler: the handler used to checkpoint results when the task has none.
        listeners: observers ``listener(runner, old_state, new_state)`` told of every
            state change after the handlers; they cannot change the run, and one that
            raises is logged and ignored (the flow runner's lifecycle hooks use this).
        constants: plain values the flow binds as inputs of this task (see
            ``Flow.constants``); they fill inputs that no upstream edge provides.

    Raises:
        TypeError: when ``state_handlers`` is not a list of callables.
    """

    def __init__(
        self,
        task: Task,
        state_handlers: Iterable[RunnerStateHandler] | None = None,
        result_handler: ResultHandler | None = None,
        listeners: Iterable[RunnerStateHandler] = (),
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(state_handlers, listeners)
        self.task = task
        self.constants: Mapping[str, Any] = constants or {}
        self.result_handler = result_handler
        self._reported: State | None = None  # the Retrying state check_for_retry logged

    @property
    def target(self) -> Task:
        """The task: its ``state_handlers`` are called on every state change."""
        return self.task

    def __repr__(self) -> str:
        return f"<TaskRunner: {self.task.name}>"

    # -- the pipeline --------------------------------------------------------------------
    def run(
        self,
        state: State | None = None,
        upstream_states: Mapping[Edge, State] | None = None,
        context: Mapping[str, Any] | None = None,
        executor: Executor | None = None,
        ignore_trigger: bool = False,
    ) -> State:
        """Run the task once and return its new state.

        Args:
            state: the task's current state (default ``Pending()``).
            upstream_states: each upstream edge and its upstream task's state.
            context: values added to ``lockgate.context`` for this run.
            executor: where the task's code (and mapped children's) runs (default
                inline).
            ignore_trigger: run regardless of upstream states and trigger, as for a
                flow run's ``start_tasks`` or an approved ``manual_only`` task.

        Returns:
            The new state. Exceptions from task code never escape, unless
            ``lockgate.utilities.debug.raise_on_exception`` is active.
        """
        pipeline = self.pipeline(state, upstream_states, context, ignore_trigger)
        return run_pipeline(pipeline, executor or _INLINE)

    def pipeline(
        self,
        state: State | None = None,
        upstream_states: Mapping[Edge, State] | None = None,
        context: Mapping[str, Any] | None = None,
        ignore_trigger: bool = False,
    ) -> Pipeline:
        """The steps of :meth:`run` as a generator, for the scheduling loop to drive.

        It yields a :class:`~lockgate.engine.scheduler.CallTask` when the task's code
        must run, and a :class:`~lockgate.engine.scheduler.MapChildren` when mapped
        children must; it returns the new state.

        Args:
            state: see :meth:`run`.
            upstream_states: see :meth:`run`.
            context: see :meth:`run`.
            ignore_trigger: see :meth:`run`.

        Returns:
            The generator; its return value is the task's new state.
        """
        task = self.task
        given = state
        upstream = upstream_states or {}
        enclosing = ctx.current()
        values = {**enclosing, **context} if context else enclosing.copy()
        if "resume" in enclosing or "task_run_count" in enclosing:  # never inherited
            for inherited in ("resume", "task_run_count"):
                if not (context and inherited in context):
                    values.pop(inherited, None)
        name = task.name
        values["task_name"] = name
        if "task_slug" not in values:
            values["task_slug"] = task.slug or name
        map_index = values.get("map_index")
        values["task_full_name"] = name if map_index is None else f"{name}[{map_index}]"
        token = ctx.set_values(values)
        inputs: dict[str, Any] | None = None
        try:
            state = self.initialize_run(state, values).state
            inputs = state.cached_inputs  # until the task's inputs are gathered
            state = self.check_task_is_ready(state)
            state = self.check_task_reached_start_time(state)
            if not ignore_trigger:
                state = self.check_upstream_finished(state, upstream)
            if map_index is None and _maps(upstream):
                if type(self).run_mapped_task is TaskRunner.run_mapped_task:
                    # The children become nodes of the loop running this pipeline.
                    state = yield from self._map(state, upstream, ignore_trigger)
                else:  # a subclass's step 5 runs the children itself, on this executor
                    state = self.run_mapped_task(
                        state, upstream, executor=current_executor(), ignore_trigger=ignore_trigger
                    )
                raise ENDRUN(state)
            if not ignore_trigger:
                state = self.check_upstream_skipped(state, upstream)
            if type(self).get_task_inputs is TaskRunner.get_task_inputs:
                inputs = self._input_values(state, upstream)
            else:  # a subclass's step 7 speaks Results, as Prefect 0.5.1's does
                inputs = _unwrapped(self.get_task_inputs(state, upstream))
            state = self.check_task_is_cached(state, inputs)
            if isinstance(state, Cached):  # a valid cache is the task's result
                raise ENDRUN(state)
            state = self.check_task_trigger(state, upstream, inputs, ignore_trigger)
            state = self.set_task_to_running(state, inputs)
            if type(self).get_task_run_state is TaskRunner.get_task_run_state:
                # The loop runs the code on its executor while other tasks go on.
                outcome = yield CallTask(task, inputs, values)
                state = self._state_of(state, inputs, outcome)
            else:  # a subclass's step 11 runs the code itself, on this run's executor
                state = self.get_task_run_state(state, inputs)
            state = self.cache_result(state, inputs)
            state = self.check_for_retry(state, inputs)
        except ENDRUN as end:
            state = keep_inputs(end.state, inputs)
        except signals.PrefectStateSignal as sig:  # from a step a subclass overrode
            state = self._settle(state, self._fill_signal_state(sig, inputs), inputs)
        except Exception as exc:
            if values.get("raise_on_exception"):
                raise
            failed = Failed(f"Unexpected error while running task: {exc!r}", result=exc)
            state = self._settle(state, failed, inputs)
        finally:
            if type(state) is not Success and state is not given:  # a success: no more
                _report(task, values["task_full_name"], state, self)
            ctx.reset(token)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("Task %r: finished task run with state %r", values["task_full_name"], state)
        assert state is not None
        return state

    # -- state changes and handlers -----------------------------------------------------
    def _settle(self, old: State | None, new: State, inputs: dict[str, Any] | None) -> State:
        """:meth:`change_state` at the end of a run, where a handler's ENDRUN is the state."""
        try:
            return self.change_state(old, new, inputs)
        except ENDRUN as end:
            return keep_inputs(end.state, inputs)

    def state_from_signal(self, sig: signals.PrefectStateSignal) -> State:
        """The state a signal moves the task to; a RETRY's gaps are filled in.

        A RETRY raised without ``start_time`` retries after the task's
        ``retry_delay``; one raised without ``run_count`` counts the current attempt.

        Args:
            sig: the signal.

        Returns:
            The signal's state.
        """
        return self._fill_signal_state(sig, None)

    def call_state_handlers(self, old: State, new: State) -> State:
        """Call the task's handlers, then the runner's, and settle what they did.

        Unlike :meth:`handle_state_change`, this never raises for a handler's error
        (outside ``raise_on_exception``): a signal gives its state and any other
        exception ``Failed("Exception raised while calling state handlers.")``, each
        keeping the task's cached inputs.

        Args:
            old: the state being left.
            new: the state being entered.

        Returns:
            The state the task is now in.
        """
        inputs = old.cached_inputs or new.cached_inputs
        try:
            return self.handle_state_change(old, new)
        except signals.PrefectStateSignal as sig:
            return self._fill_signal_state(sig, inputs)
        except ENDRUN as end:
            return keep_inputs(end.state, inputs)

    @standard_handling
    def change_state(
        self, old_state: State | None, new_state: State, inputs: Mapping[str, Any] | None = None
    ) -> State:
        """Record the move ``old -> new`` through :meth:`Runner.change_state
        <lockgate.engine.runner.Runner.change_state>`, or skip it at once when nothing
        follows the task (no state handlers or listeners): the common case,
        once per step of every task.

        Args:
            old_state: the state being left (None means ``Pending()``).
            new_state: the state being entered.
            inputs: the task's inputs, if known.

        Returns:
            The state the task is now in.

        Raises:
            ENDRUN: when a state handler failed.
        """
        task = self.task
        if (
            task.state_handlers
            or self.state_handlers
            or self.listeners
            or not self._standard_handling
        ):
            return Runner.change_state(self, old_state, new_state, inputs)
        return new_state

    def _fill_signal_state(
        self, sig: signals.PrefectStateSignal, inputs: dict[str, Any] | None
    ) -> State:
        new = sig.state
        if isinstance(sig, signals.RETRY):
            assert isinstance(new, Retrying)
            run_count = ctx.current().get("task_run_count", 1)
            if not sig.run_count_given:
                new.run_count = run_count
            if not sig.start_time_given:
                new.start_time = clock.now() + delay_for(self.task.retry_delay, run_count)
        return keep_inputs(new, inputs)

    def _signal_state(
        self, old: State | None, sig: signals.PrefectStateSignal, inputs: dict[str, Any] | None
    ) -> State:
        return self.change_state(old, self._fill_signal_state(sig, inputs), inputs)

    # -- step 1 ----------------------------------------------------------------------------
    def initialize_run(
        self, state: State | None, context: dict[str, Any]
    ) -> TaskRunnerInitializeResult:
        """Unwrap meta states and set ``task_run_count`` (and ``resume``) in ``context``.

        ``task_run_count`` is a Retrying state's ``run_count`` + 1, else 1; a Resume
        state sets ``resume=True``.

        Args:
            state: the state the run was given (None means ``Pending()``).
            context: the run's context values, updated in place.

        Returns:
            ``(state, context)`` as a :class:`TaskRunnerInitializeResult`.
        """
        state, context = super().initialize_run(state, context)
        context["task_run_count"] = (state.run_count or 0) + 1 if isinstance(state, Retrying) else 1
        context["task_name"] = self.task.name
        if isinstance(state, Resume):
            context["resume"] = True
        return TaskRunnerInitializeResult(state, context)

    # -- step 2 ----------------------------------------------------------------------------
    def check_task_is_ready(self, state: State) -> State:
        """Let Pending states (and Cached, Mapped for revalidation) through.

        Args:
            state: the task's state.

        Returns:
            ``state`` unchanged.

        Raises:
            ENDRUN: with the state unchanged for Paused (unless resuming), Running and
                every other finished state.
        """
        if isinstance(state, Pending):
            if isinstance(state, Paused) and not ctx.current().get("resume"):
                raise ENDRUN(state)
            return state
        if isinstance(state, (Cached, Mapped)):
            return state
        raise ENDRUN(state)

    # -- step 3 ----------------------------------------------------------------------------
    def check_task_reached_start_time(self, state: State) -> State:
        """Stop here when a Scheduled state's ``start_time`` is still in the future.

        Args:
            state: the task's state.

        Returns:
            ``state`` unchanged.

        Raises:
            ENDRUN: with the state unchanged when it is too early.
        """
        if isinstance(state, Scheduled) and state.start_time > clock.now():
            raise ENDRUN(state)
        return state

    # -- step 4 ----------------------------------------------------------------------------
    def check_upstream_finished(self, state: State, upstream_states: Mapping[Edge, State]) -> State:
        """Stop here, still Pending, while any upstream task is unfinished.

        A Mapped upstream on a mapped edge does not hold the whole task back: each
        child checks its own item, so children whose items are done can run.

        Args:
            state: the task's state.
            upstream_states: each upstream edge (or any key) and its state.

        Returns:
            ``state`` unchanged.

        Raises:
            ENDRUN: with the state unchanged.
        """
        for edge, st in upstream_states.items():
            if type(st) is Success:  # done (is_done's first check, without the call)
                continue
            if not is_done(st) and not (getattr(edge, "mapped", False) and isinstance(st, Mapped)):
                raise ENDRUN(state)
        return state

    # -- step 5 ----------------------------------------------------------------------------
    def run_mapped_task(
        self,
        state: State,
        upstream_states: Mapping[Edge, State],
        context: Mapping[str, Any] | None = None,
        executor: Executor | None = None,
        ignore_trigger: bool = False,
    ) -> State:
        """Run one child per mapped item and return the parent's ``Mapped`` state.

        Each child goes through the whole pipeline with ``map_index`` set, on
        ``executor``. Inputs are zipped to the shortest mapped input; an empty input
        (or no mapped input at all) gives zero children. Children that end Retrying
        are retried on the clock in force.

        In a flow run, the base class's children become nodes of the flow's loop
        (so they stream, child waiting for child). A subclass that overrides this
        step is called instead, with the run's executor; its children then run in a
        loop of their own, and downstream mapped tasks wait for all of them.

        Args:
            state: the parent's state (a Mapped one re-runs its children's states).
            upstream_states: each upstream edge and its state.
            context: values added to ``lockgate.context`` for the children.
            executor: where the children's code runs (default inline).
            ignore_trigger: run the children without checking their triggers.

        Returns:
            The parent's Mapped state (or Skipped / Failed when there is nothing to
            map over).
        """
        token = ctx.set_values({**ctx.current(), **context}) if context else None
        try:
            pipeline = self._map(state, upstream_states, ignore_trigger)
            return run_pipeline(pipeline, executor or _INLINE)
        finally:
            if token is not None:
                ctx.reset(token)

    def _map(
        self, state: State, upstream_states: Mapping[Edge, State], ignore_trigger: bool
    ) -> Pipeline:
        children_items: dict[Edge, list[State]] = {}
        previous = state.map_states if isinstance(state, Mapped) else []
        resuming = ignore_trigger or bool(ctx.current().get("resume"))
        for edge, st in upstream_states.items():
            if not edge.mapped:
                continue
            if previous and ignore_trigger and not isinstance(st, Finished):
                # Resumed without the upstream's result: each child has its cached_inputs.
                children_items[edge] = [Pending() for _ in previous]
                continue
            if previous and type(st) is Success and st._value is NoResult and not st._handled:
                # Run again after the upstream's result was dropped: each child reads its
                # item from its cached_inputs.
                children_items[edge] = [st for _ in previous]
                continue
            if isinstance(st, Mapped):
                children_items[edge] = st.map_states
                continue
            if isinstance(st, Skipped):
                return self.change_state(
                    state,
                    Skipped(
                        f"Upstream task '{edge.upstream_task.name}' was skipped; "
                        "there is nothing to map over.",
                        cached_inputs=state.cached_inputs,
                    ),
                )
            if isinstance(st, Success) and _is_sequence(st.result):
                children_items[edge] = [Success(result=item) for item in st.result]
                continue
            if isinstance(st, Failed) and not ignore_trigger:
                # Nothing to map over: let the trigger judge the parent as a whole.
                self.check_task_trigger(state, upstream_states, state.cached_inputs or {}, False)
            name = edge.upstream_task.name
            if isinstance(st, Failed):
                why = f"upstream task '{name}' failed, so there is nothing to map over"
            else:
                why = (
                    f"the result of upstream task '{name}' is of type "
                    f"{type(st.result).__name__}, not a list or other sequence"
                )
            return self.change_state(
                state,
                Failed(
                    f"Cannot map over input {edge.key!r}: {why}.",
                    cached_inputs=state.cached_inputs,
                ),
            )
        count = min((len(items) for items in children_items.values()), default=0)
        child_runner = type(self)(
            self.task,
            state_handlers=self.state_handlers,
            result_handler=self.result_handler,
            listeners=self.listeners,
            constants=self.constants,
        )
        child_states: list[State] = []
        for i in range(count):
            if i < len(previous) and previous[i] is not None:
                child_state = previous[i]
                if resuming and isinstance(child_state, Paused):
                    child_state = Resume(cached_inputs=child_state.cached_inputs)
            else:
                child_state = Pending(cached_inputs=state.cached_inputs)
            child_states.append(child_state)

        def child_upstream(i: int) -> dict[Edge, State]:
            return {
                e: (children_items[e][i] if e.mapped else st) for e, st in upstream_states.items()
            }

        context_extra: dict[str, Any] = {"resume": True} if resuming else {}

        def start_child(i: int, child_state: State) -> Pipeline:
            return child_runner.pipeline(
                child_state,
                child_upstream(i),
                {"map_index": i, **context_extra},
                ignore_trigger,
            )

        final_states = yield MapChildren(child_states, start_child)
        return self.change_state(
            state,
            Mapped(
                f"Mapped {count} child run(s).",
                map_states=final_states,
                cached_inputs=state.cached_inputs,
            ),
        )

    # -- step 6 ----------------------------------------------------------------------------
    def check_upstream_skipped(self, state: State, upstream_states: Mapping[Edge, State]) -> State:
        """Skip the task when any upstream was skipped and ``skip_on_upstream_skip`` is set.

        Args:
            state: the task's state.
            upstream_states: each upstream edge and its state (a Mapped one by its
                children).

        Returns:
            ``state`` unchanged when no upstream was skipped (or the task opts out).

        Raises:
            ENDRUN: with a Skipped state.
        """
        if self.task.skip_on_upstream_skip and upstream_states:
            if type(upstream_states) is dict:  # as the loop gives them
                for st in upstream_states.values():
                    if type(st) is not Success:  # a plain Success: neither Skipped nor Mapped
                        break
                else:
                    return state
            for st in states_of(upstream_states):
                if isinstance(st, Skipped):
                    new = Skipped(
                        "Upstream task was skipped; skipping this task too (give it "
                        "skip_on_upstream_skip=False to run it anyway)."
                    )
                    raise ENDRUN(self.change_state(state, new))
        return state

    # -- step 7 ----------------------------------------------------------------------------
    def get_task_inputs(
        self, state: State, upstream_states: Mapping[Edge, State]
    ) -> dict[str, ResultInterface]:
        """The inputs for ``run``, each as a :class:`~lockgate.engine.result.Result`.

        Each keyed edge gives its upstream result. An input no upstream result provides
        comes from the runner's ``constants``, else from the state's ``cached_inputs``
        (the inputs a paused or retried task had); an upstream that has no result
        (``NoResult``, e.g. a state read back without its value) leaves the saved input
        in place. A Cached state's ``cached_inputs`` record what the cache was computed
        from, so they are never used as inputs.

        This is Prefect 0.5.1's step 7 and speaks its types, so an override written for
        Prefect keeps working. The pipeline itself gathers the same inputs as plain
        values (no object per input per task) and calls this method only when a
        subclass overrides it, unwrapping what the override returns.

        Args:
            state: the task's state.
            upstream_states: each upstream edge and its state.

        Returns:
            The keyword arguments for ``task.run``, each wrapped in a ``Result`` (a
            stored ``SafeResult`` is read back with its result handler).
        """
        saved = state.cached_inputs if not isinstance(state, Cached) else None
        inputs: dict[str, ResultInterface] = {}
        if saved:
            inputs.update((k, _as_result(v)) for k, v in saved.items())
        inputs.update((k, Result(v)) for k, v in self.constants.items())
        for edge, st in upstream_states.items():
            key = edge.key
            if key is not None:
                result = st._result
                if result is not NoResult or key not in inputs:
                    inputs[key] = result.to_result()
        return inputs

    def _input_values(self, state: State, upstream_states: Mapping[Edge, State]) -> dict[str, Any]:
        """:meth:`get_task_inputs` as plain values: what the pipeline passes to ``run``.

        A value still held on a Dask worker stays there (the task's executor fetches
        it), and no ``Result`` object is made per input.
        """
        saved = state.cached_inputs if not isinstance(state, Cached) else None
        if saved:
            saved = _unwrapped(saved)  # Prefect-style Result objects: their values
        inputs = {**saved, **self.constants} if saved else dict(self.constants)
        for edge, st in upstream_states.items():
            key = edge.key
            if key is not None:
                result = st._value  # as it is: a value still on a worker stays there
                if result is NoResult and st._handled is not None:
                    result = st._handled.to_result().value
                if result is not NoResult or key not in inputs:
                    inputs[key] = result
        return inputs

    # -- step 8 ----------------------------------------------------------------------------
    def check_task_is_cached(self, state: State, inputs: dict[str, Any]) -> State:
        """Reuse a valid Cached state (given, or kept from an earlier run in this process).

        Args:
            state: the task's state; a Cached one is checked with the task's
                ``cache_validator``.
            inputs: the task's inputs now, for validators that compare them.

        Returns:
            A valid Cached state (its result read back when it was stored through a
            result handler), which the pipeline takes as the task's outcome;
            ``Pending("Cache was invalid; ready to run.")`` for an invalid given one;
            else ``state`` unchanged.
        """
        task = self.task
        candidate: State | None = state
        if not isinstance(state, Cached) and task.cache_for is not None:
            candidate = _CACHES.get(task, {}).get(ctx.current().get("map_index"))
        if isinstance(candidate, Cached):
            if candidate.cached_inputs:  # compare values, also when given as Results
                candidate.cached_inputs = _unwrapped(candidate.cached_inputs)
                inputs = _unwrapped(inputs)
            parameters = ctx.current().get("parameters") or {}
            if task.cache_validator(candidate, inputs, parameters):
                stored = candidate._handled
                if stored is not None and not isinstance(stored, Result):
                    candidate._result = stored.to_result()  # read it back
                return self.change_state(state, candidate) if candidate is not state else state
            if candidate is state:
                return self.change_state(state, Pending("Cache was invalid; ready to run."))
        return state

    # -- step 9 ----------------------------------------------------------------------------
    def check_task_trigger(
        self,
        state: State,
        upstream_states: Mapping[Edge, State],
        inputs: dict[str, Any] | None = None,
        ignore_trigger: bool = False,
    ) -> State:
        """Call the task's trigger with the upstream states.

        A falsy return fails the task (TriggerFailed); a signal sets its state (PAUSE
        keeps ``inputs`` in ``cached_inputs``); any other exception gives
        TriggerFailed("Unexpected error while checking task trigger: ...").

        Args:
            state: the task's state.
            upstream_states: each upstream edge and its state.
            inputs: the task's inputs, kept in the state the trigger leads to.
            ignore_trigger: skip the trigger (start tasks, approved tasks).

        Returns:
            ``state`` unchanged when the trigger passes.

        Raises:
            ENDRUN: with the resulting state when the task may not run.
        """
        if ignore_trigger:
            return state
        trigger = self.task.trigger
        if trigger is all_successful:
            for st in upstream_states.values():
                if type(st) is not Success:  # not a plain Success: ask the trigger
                    break
            else:
                return state  # what all_successful says when every upstream succeeded
        try:
            passed = trigger(UpstreamStates(upstream_states))
        except signals.PrefectStateSignal as sig:
            raise ENDRUN(self._signal_state(state, sig, inputs)) from None
        except Exception as exc:
            if ctx.current().get("raise_on_exception"):
                raise
            new: State = TriggerFailed(
                f"Unexpected error while checking task trigger: {exc!r}",
                result=exc,
                cached_inputs=inputs,
            )
            raise ENDRUN(self.change_state(state, new)) from None
        if not passed:
            raise ENDRUN(self._signal_state(state, signals.TRIGGERFAIL("Trigger failed"), inputs))
        return state

    # -- step 10 ---------------------------------------------------------------------------
    def set_task_to_running(self, state: State, inputs: dict[str, Any] | None = None) -> State:
        """Move a Pending-family state to ``Running("Starting task run.")``.

        Args:
            state: the task's state.
            inputs: the task's inputs, kept in the state a handler may put instead.

        Returns:
            The Running state.

        Raises:
            ENDRUN: with ``state`` unchanged when it is not Pending (e.g. Cached or
                Running), or with the state a state handler chose instead of Running.
        """
        if not isinstance(state, Pending):
            raise ENDRUN(state)
        new = self.change_state(state, Running("Starting task run."), inputs)
        if not isinstance(new, Running):  # a state handler raised or replaced the state
            raise ENDRUN(keep_inputs(new, inputs))
        return new

    # -- step 11 ---------------------------------------------------------------------------
    def get_task_run_state(
        self,
        state: State,
        inputs: dict[str, Any],
        timeout_handler: Callable[..., Any] | None = None,
        executor: Executor | None = None,
    ) -> State:
        """Run ``task.run(**inputs)`` on the executor and turn the outcome into a state.

        The call goes through ``executor.submit`` like every call of a task's code,
        and its ``timeout`` is a deadline of the scheduling loop. A return value gives
        ``Success("Task run succeeded.")``; a signal gives its state; running past the
        timeout gives ``TimedOut``; an executor that could not run the code or bring
        its outcome back, or code that raised ``SystemExit`` or ``KeyboardInterrupt``
        (:class:`~lockgate.engine.executors.base.TaskExitError`), gives ``Failed``
        naming the task and the reason; Ctrl-C on the run gives ``Cancelled``; any
        other exception gives ``Failed("Unexpected error: ...")`` with the exception
        as result. Inputs given as :class:`~lockgate.engine.result.Result` objects (as
        Prefect 0.5.1 passes them) are unwrapped to their values.

        Args:
            state: the task's state; it must be Running.
            inputs: the keyword arguments for ``task.run``.
            timeout_handler: accepted for code written against Prefect 0.5.1 and not
                called: the timeout is the loop's deadline (soft on inline and thread
                executors, hard where :meth:`Executor.stop` can kill the call).
            executor: where the code runs (default: the executor of the flow run
                under way, else inline).

        Returns:
            The state the task's code led to.

        Raises:
            ENDRUN: with ``state`` unchanged when it is not Running; with the state
                the task's code raised ENDRUN with.
        """
        if not isinstance(state, Running):
            raise ENDRUN(state)
        inputs = _unwrapped(inputs)
        runner = executor or current_executor() or _INLINE
        outcome = call_on(runner, self.task, inputs, ctx.current())
        return self._state_of(state, inputs, outcome)

    def _state_of(self, state: State, inputs: dict[str, Any], outcome: tuple[bool, Any]) -> State:
        """Step 11's state for the call's outcome: ``(True, value)`` or ``(False, error)``."""
        task = self.task
        new: State
        try:
            try:
                ok, value = outcome
                if not ok:
                    raise value
            except RunInterrupted:
                raise RunCancelledError("the flow run was interrupted (Ctrl-C).") from None
            except (SystemExit, KeyboardInterrupt) as exc:  # must not end the flow's process
                raise task_exit_error(exc) from exc
            new = Success("Task run succeeded.", result=value)
            handler = task.result_handler or self.result_handler
            if handler is not None:
                if task.checkpoint:
                    result = Result(new.result, handler)  # fetches a value held remotely
                    result.store_safe_value()
                    new._result = result
                elif not isinstance(value, RemoteValue):
                    new._handled = Result(value, handler)  # how it would be stored
        except signals.PrefectStateSignal as sig:
            return self._signal_state(state, sig, inputs)
        except ENDRUN as end:  # the task's code ended its own run
            raise ENDRUN(self.change_state(state, keep_inputs(end.state, inputs), inputs)) from None
        except RunCancelledError as exc:
            new = Cancelled(f"Task '{task.name}': {exc}", result=exc, cached_inputs=inputs)
        except TaskTimeoutError as exc:
            new = TimedOut(
                f"Task '{task.name}' timed out after {task.timeout} s.",
                result=exc,
                cached_inputs=inputs,
            )
        except (ExecutorError, TaskExitError) as exc:
            if ctx.current().get("raise_on_exception"):
                raise
            name = ctx.current().get("task_full_name", task.name)
            new = Failed(f"Task {name!r}: {exc}.", result=exc, cached_inputs=inputs)
        except Exception as exc:
            if ctx.current().get("raise_on_exception"):
                raise
            new = Failed(f"Unexpected error: {exc!r}", result=exc, cached_inputs=inputs)
        return self.change_state(state, new, inputs)

    # -- step 12 ---------------------------------------------------------------------------
    def cache_result(self, state: State, inputs: dict[str, Any]) -> State:
        """Turn a Success of a task with ``cache_for`` into a Cached state.

        The Cached state keeps the Success's message and result, and records the
        inputs, the flow's parameters and when the cache expires.

        Args:
            state: the task's state after its run.
            inputs: the inputs the result was computed from.

        Returns:
            The Cached state, or ``state`` unchanged (no ``cache_for``, or not a plain
            Success).
        """
        task = self.task
        if task.cache_for is None or type(state) is not Success:
            return state
        cached = Cached(
            state.message,  # the Success's own words, as in Prefect 0.5.1
            result=state.result,
            cached_inputs=inputs,
            cached_parameters=ctx.current().get("parameters") or {},
            cached_result_expiration=clock.now() + task.cache_for,
        )
        cached._handled = state._handled
        fetch_remote_results([cached])  # the cache outlives this run's executor
        _CACHES.setdefault(task, {})[ctx.current().get("map_index")] = cached
        return self.change_state(state, cached)

    # -- step 13 ---------------------------------------------------------------------------
    def check_for_retry(self, state: State, inputs: dict[str, Any]) -> State:
        """Schedule a retry for a failure (not a trigger failure or a cancel) with retries left.

        Args:
            state: the task's state after its run.
            inputs: the task's inputs, kept in the Retrying state.

        Returns:
            ``Retrying`` (start time ``now + retry_delay``) while ``task_run_count <=
            max_retries``, else ``state`` unchanged.
        """
        task = self.task
        if (
            task.max_retries
            and isinstance(state, Failed)
            and not isinstance(state, (TriggerFailed, Cancelled))
        ):
            run_count = ctx.current().get("task_run_count", 1)
            if run_count <= task.max_retries:
                new = Retrying(
                    f"Retrying task (after attempt {run_count} of {task.max_retries + 1}).",
                    start_time=clock.now() + delay_for(task.retry_delay, run_count),
                    cached_inputs=inputs,
                    run_count=run_count,
                )
                changed = self.change_state(state, new)
                if isinstance(changed, Retrying):
                    _report_retry(task, state, changed, task.max_retries + 1)
                    self._reported = changed
                return changed
        return state


# -- the engine's own lines in the run's logs ------------------------------------------------
# Logged to the task's logger (``lockgate.task.<name>``, as ``lockgate.context.logger``
# in the task's code), in the task's context, so a recorded run keeps them with the
# task's own lines. Only for what did not succeed: a success logs nothing.
_LEVELS: dict[type[State], tuple[int, str]] = {  # the most specific first
    TimedOut: (logging.ERROR, "timed out"),
    TriggerFailed: (logging.WARNING, "did not run, its trigger failed"),
    Cancelled: (logging.WARNING, "was cancelled"),
    Failed: (logging.ERROR, "failed"),
    Retrying: (logging.WARNING, "will retry"),
    Paused: (logging.INFO, "is paused"),
    Skipped: (logging.INFO, "was skipped"),
}


def _reason(state: State) -> str:
    """``Type: message`` of the exception a state holds, else the state's message."""
    error = state.result
    if isinstance(error, BaseException) and not isinstance(error, signals.PrefectStateSignal):
        return f"{type(error).__name__}: {error}"
    return state.message or type(state).__name__


def _report(task: Task, name: str, state: State | None, runner: TaskRunner) -> None:
    """Log how a task's run ended when it did not succeed (see :data:`_LEVELS`)."""
    if state is None or state is getattr(runner, "_reported", None):
        return  # check_for_retry told already
    found = _LEVELS.get(type(state))
    if found is None:
        for kind, entry in _LEVELS.items():  # subclasses of the states above
            if isinstance(state, kind):
                found = entry
                break
        else:
            return  # Cached, Mapped, Pending, Running...: nothing to tell
    level, what = found
    logger = logging.getLogger(f"lockgate.task.{task.name}")
    if not logger.isEnabledFor(level):
        return
    if isinstance(state, Scheduled):  # a RETRY signal
        logger.log(
            level,
            "Task %r %s at %s: %s",
            name,
            what,
            _when(state.start_time),
            state.message or "retry requested",
        )
        return
    logger.log(level, "Task %r %s: %s", name, what, _reason(state))


def _report_retry(task: Task, failed: State, retrying: Retrying, attempts: int) -> None:
    """Log a failure that will be retried: the attempt, the error and when it retries."""
    logger = logging.getLogger(f"lockgate.task.{task.name}")
    if logger.isEnabledFor(logging.WARNING):
        logger.warning(
            "Task %r failed on attempt %d of %d (%s); retrying at %s.",
            ctx.current().get("task_full_name", task.name),
            retrying.run_count,
            attempts,
            _reason(failed),
            _when(retrying.start_time),
        )


def _when(moment: Any) -> str:
    """A start time as the logs show it: ``2030-06-01 12:00:05 UTC``."""
    try:
        return str(moment.strftime("%Y-%m-%d %H:%M:%S %Z")).strip()
    except AttributeError:
        return str(moment)


def _as_result(value: Any) -> ResultInterface:
    """``value`` as a Result: a stored one read back, a plain value wrapped."""
    return value.to_result() if isinstance(value, ResultInterface) else Result(value)


def _unwrapped(inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with every Result object replaced by its value."""
    for value in inputs.values():
        if isinstance(value, ResultInterface):
            return {
                k: (v.to_result().value if isinstance(v, ResultInterface) else v)
                for k, v in inputs.items()
            }
    return inputs


def _maps(upstream_states: Mapping[Edge, State]) -> bool:
    """Whether any upstream edge is mapped."""
    for edge in upstream_states:  # noqa: SIM110 (any() over a generator costs more)
        if edge.mapped:
            return True
    return False


def _is_sequence(value: Any) -> bool:
    return (
        hasattr(value, "__len__")
        and hasattr(value, "__getitem__")
        and not isinstance(value, (str, bytes, dict))
    )


_INLINE = LocalExecutor()
