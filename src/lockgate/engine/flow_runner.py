"""FlowRunner: runs a whole flow and turns its tasks' states into the flow's state.

``FlowRunner.run`` goes through public steps, like TaskRunner:

1. :meth:`~FlowRunner.initialize_run`: unwrap meta states; build the run's context
   (``flow_name``, ``parameters``, the dates) and each task's context.
2. :meth:`~FlowRunner.check_flow_is_pending_or_running`: a finished flow run ends.
3. :meth:`~FlowRunner.check_flow_reached_start_time`: a Scheduled flow run whose
   start time is in the future ends unchanged.
4. :meth:`~FlowRunner.set_flow_to_running`: Pending or Scheduled becomes Running
   (the flow's state handlers see that move).
5. :meth:`~FlowRunner.get_flow_run_state`: run the tasks (through the scheduling loop
   of :mod:`lockgate.engine.scheduler`) and decide the flow's state with
   :meth:`~FlowRunner.determine_final_state`.

Flow state changes go through :meth:`Runner.change_state
<lockgate.engine.runner.Runner.change_state>`, the path TaskRunner uses too: the
flow's state handlers (``on_failure`` among them), then the runner's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from lockgate.engine.executors._choose import default_executor, executor_from_spec
from lockgate.engine.executors.base import Executor
from lockgate.engine.hooks import RunHooks
from lockgate.engine.interrupt import CtrlC
from lockgate.engine.runner import ENDRUN, Runner
from lockgate.engine.scheduler import Pipeline, run_tasks
from lockgate.engine.state import (
    Cancelled,
    Failed,
    Mapped,
    Pending,
    Running,
    Scheduled,
    State,
    Success,
    is_done,
)
from lockgate.engine.task_runner import RunnerStateHandler, TaskRunner
from lockgate.utilities import clock
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.edge import Edge
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

__all__ = ["ENDRUN", "FlowRunner", "FlowRunnerInitializeResult", "TaskContexts"]

FlowRunnerStateHandler = Callable[["FlowRunner", State, State], "State | None"]

# Values that belong to one task run, never inherited by a flow run from its caller.
_TASK_KEYS = ("task_name", "task_slug", "task_full_name", "map_index", "resume", "task_run_count")


class FlowRunnerInitializeResult(NamedTuple):
    """What :meth:`FlowRunner.initialize_run` returns."""

    state: State
    task_states: dict[Task, State]
    context: dict[str, Any]
    task_contexts: Mapping[Task, dict[str, Any]]


class TaskContexts(Mapping["Task", dict[str, Any]]):
    """Each task's context values (``task_id``, ``task_name``, ``task_slug`` and the
    caller's own), made when a task asks for them.

    A mapping rather than a dict, so that a run of many tasks does not build and hold
    one dict per task before any of them runs.

    Args:
        slugs: each task of the flow and its slug.
        own: per-task values the caller gave; they are kept, under the names above.
    """

    __slots__ = ("_own", "slugs")

    def __init__(self, slugs: Mapping[Task, str], own: Mapping[Task, Mapping[str, Any]]) -> None:
        self.slugs = slugs
        self._own = own

    def __getitem__(self, task: Task) -> dict[str, Any]:
        slug = self.slugs[task]  # KeyError for a task of another flow
        names = {"task_id": task.id, "task_name": task.name, "task_slug": slug}
        own = self._own.get(task)
        return {**own, **names} if own else names

    def __iter__(self) -> Iterator[Task]:
        return iter(self.slugs)

    def __len__(self) -> int:
        return len(self.slugs)


class FlowRunner(Runner):
    """Runs a flow: its tasks in dependency order, then decides the flow's state.

    Args:
        flow: the flow to run.
        task_runner_cls: the TaskRunner class to use for each task (default: the
            setting ``engine.task_runner.default_class``, ``TaskRunner``).
        state_handlers: callables ``handler(runner, old_state, new_state)`` called after
            the flow's own handlers on every flow state change.

    Raises:
        TypeError: when ``state_handlers`` is not a list of callables.
    """

    def __init__(
        self,
        flow: Flow,
        task_runner_cls: type[TaskRunner] | None = None,
        state_handlers: Iterable[FlowRunnerStateHandler] | None = None,
    ) -> None:
        super().__init__(state_handlers)
        self.flow = flow
        if task_runner_cls is None:
            from lockgate.engine import get_default_task_runner_class

            task_runner_cls = get_default_task_runner_class()
        self.task_runner_cls = task_runner_cls
        self._interrupt: CtrlC | None = None  # the current run's Ctrl-C handler

    def __repr__(self) -> str:
        return f"<FlowRunner: {getattr(self.flow, 'name', None)}>"

    @property
    def logger(self) -> logging.Logger:
        """The flow's logger, ``lockgate.flow.<flow name>``."""
        return logging.getLogger(f"lockgate.flow.{getattr(self.flow, 'name', None)}")

    @property
    def target(self) -> Flow:
        """The flow: its ``state_handlers`` are called on every flow state change."""
        return self.flow

    # -- state changes ---------------------------------------------------------------
    def _set(self, old: State, new: State, hooks: Iterable[RunHooks] = ()) -> State:
        """A flow state change that ends in a state even when a handler failed."""
        try:
            return self.change_state(old, new)
        except ENDRUN as end:
            return end.state

    def _start_failed(self, state: State, hooks: Iterable[RunHooks], values: Any) -> None:
        """The move to Running failed (a state handler raised): report the run anyway.

        The hooks see it start and end at once, so a run store records it, with the
        handler's error in the run's logs, rather than losing it.
        """
        flow = self.flow
        for hook in hooks:
            hook.flow_run_started(flow, Running("Running flow."), values)
        error = state.result
        self.logger.error(
            "Flow run of %r failed before it started: %s",
            flow.name,
            state.message,
            exc_info=error if isinstance(error, BaseException) else None,
        )
        for hook in hooks:
            hook.flow_run_finished(flow, _for_hooks(state))

    # -- the run -----------------------------------------------------------------------
    def run(
        self,
        state: State | None = None,
        task_states: Mapping[Task, State] | None = None,
        return_tasks: Iterable[Task] | None = None,
        parameters: Mapping[str, Any] | None = None,
        task_runner_state_handlers: Iterable[RunnerStateHandler] | None = None,
        executor: Executor | str | None = None,
        context: Mapping[str, Any] | None = None,
        task_contexts: Mapping[Task, Mapping[str, Any]] | None = None,
        start_tasks: Iterable[Task] | None = None,
        hooks: Iterable[RunHooks] | None = None,
        cancel: threading.Event | None = None,
        wait_for_retries: bool = False,
    ) -> State:
        """Run the flow and return its new state.

        Args:
            state: the flow's current state (default ``Pending()``); a finished state,
                or a Scheduled one in the future, is returned unchanged.
            task_states: states to start tasks from; a task with a finished state
                (other than Cached or Mapped) is not run again.
            return_tasks: tasks whose states go into the result dict (their results
                are kept; other results are released once nothing needs them).
            parameters: values for the flow's parameters (they override those of
                ``context["parameters"]`` with the same name).
            task_runner_state_handlers: handlers given to every TaskRunner.
            executor: where tasks' code runs: an :class:`Executor`, a text form such as
                ``"threads:8"`` (see :func:`executor_from_spec`), or None for
                ``$LOCKGATE_EXECUTOR``, else :class:`LocalExecutor`.
            context: values added to ``lockgate.context`` for the whole run.
            task_contexts: per-task values added to the context.
            start_tasks: run only these and their downstream tasks; the start tasks
                run without checking upstream states or trigger (a Paused one is
                resumed).
            hooks: :class:`~lockgate.engine.hooks.RunHooks` listeners.
            cancel: an event another thread may set to cancel the run: calls in flight
                end ``Cancelled`` (stopped for real by executors with hard timeouts),
                nothing else starts, and the flow ends ``Cancelled``. A task running
                inline (LocalExecutor) is not interrupted; the run stops after it.
                In the main thread, Ctrl-C sets it too (see
                :mod:`lockgate.engine.interrupt`): the run ends ``Cancelled``.
            wait_for_retries: run a task that ends Retrying again in this run, once its
                start time comes (``flow.run()`` passes True). False (the default, as
                in Prefect 0.5.1) ends the run with the task Retrying and the flow
                Running; run again with the returned states to retry it.

        Returns:
            ``Running`` if a reference or terminal task is unfinished (e.g. Paused or
            Retrying), ``Failed`` if a reference task failed, else ``Success``.
            ``result`` maps each return task to its state.

        Raises:
            ValueError: when ``return_tasks`` or ``start_tasks`` name tasks of another
                flow, or ``executor`` is an unknown text form.
        """
        flow = self.flow
        if isinstance(executor, str):
            executor = executor_from_spec(executor)
        elif executor is None:
            executor = default_executor()
        hooks = list(hooks or ())
        return_tasks = set(return_tasks or ())
        unknown = [t for t in return_tasks | set(start_tasks or ()) if t not in flow._tasks]
        if unknown:
            raise ValueError(
                f"return_tasks / start_tasks must be tasks of flow '{flow.name}'; "
                f"these are not: {unknown}."
            )
        outer = {k: v for k, v in ctx.current().items() if k not in _TASK_KEYS}
        token = ctx.set_values(outer)  # steps see the caller's context until initialized
        values = outer
        interrupt = CtrlC.install(cancel if cancel is not None else threading.Event())
        if interrupt is not None:
            cancel = interrupt.cancel
        self._interrupt = interrupt
        started = False
        try:
            state, task_states, run_context, task_contexts = self.initialize_run(
                state=state,
                task_states=dict(task_states or {}),
                context=dict(context or {}),
                task_contexts=task_contexts or {},
                parameters=dict(parameters or {}),
            )
            if isinstance(run_context, dict):
                values = {**outer, **run_context}
                ctx.set_values(values)
            state = self.check_flow_is_pending_or_running(state)
            state = self.check_flow_reached_start_time(state)
            try:
                state = self.set_flow_to_running(state)
            except ENDRUN as end:
                if hooks and end.state is not state and isinstance(end.state, Failed):
                    self._start_failed(end.state, hooks, values)
                raise
            self.logger.info("Beginning flow run for %r", flow.name)
            for hook in hooks:
                hook.flow_run_started(flow, state, values)
            started = True
            state = self.get_flow_run_state(
                state,
                task_states=task_states,
                task_contexts=task_contexts,
                return_tasks=return_tasks,
                task_runner_state_handlers=list(task_runner_state_handlers or ()),
                executor=executor,
                listeners=[_notifier(hooks)] if hooks else [],
                start_tasks=list(start_tasks or ()),
                cancel=cancel,
                wait_for_retries=wait_for_retries,
            )
        except ENDRUN as end:
            return end.state  # ended before its tasks ran (or a step said so)
        except KeyboardInterrupt:  # not turned into a cancel: see lockgate.engine.interrupt
            if started:
                state = Cancelled("Flow run was interrupted (KeyboardInterrupt).")
                for hook in hooks:  # a run store records it Cancelled, restartable
                    hook.flow_run_finished(flow, state)
            raise
        except Exception as exc:
            if values.get("raise_on_exception"):
                raise
            self.logger.exception("Unexpected error while running flow %r", flow.name)
            state = self._set(
                state if isinstance(state, State) else Pending(),
                Failed(f"Unexpected error while running flow: {exc!r}", result=exc),
            )
        finally:
            ctx.reset(token)
            if interrupt is not None:
                interrupt.restore()
        for hook in hooks:
            hook.flow_run_finished(flow, _for_hooks(state))
        self.logger.info("Flow run of %r ended: %r", flow.name, state)
        return state

    # -- steps ---------------------------------------------------------------------------
    def initialize_run(  # type: ignore[override]
        self,
        state: State | None,
        task_states: dict[Task, State],
        context: dict[str, Any],
        task_contexts: Mapping[Task, Mapping[str, Any]],
        parameters: dict[str, Any],
    ) -> FlowRunnerInitializeResult:
        """Find the state to start from and build the run's and each task's context.

        ``context`` gains ``flow_name``, ``parameters`` (those in ``context`` updated
        with ``parameters``), ``scheduled_start_time`` (a Scheduled state's start
        time, else now) and the dates derived from it (``date``, ``today``,
        ``yesterday``, ``tomorrow`` and their ``_nodash`` forms); values already in
        ``context`` win. Each task's context gains ``task_id``, ``task_name`` and
        ``task_slug``.

        Args:
            state: the state the run was given (None means ``Pending()``; meta states
                are unwrapped).
            task_states: the states tasks start from (returned as given).
            context: the run's context values, updated in place.
            task_contexts: per-task context values the caller gave.
            parameters: the run's parameter values.

        Returns:
            ``(state, task_states, context, task_contexts)`` as a
            :class:`FlowRunnerInitializeResult`; ``task_contexts`` is a
            :class:`TaskContexts` mapping.
        """
        state, context = super().initialize_run(state, context)
        if parameters:
            context["parameters"] = {**(context.get("parameters") or {}), **parameters}
        context["flow_name"] = self.flow.name
        if isinstance(state, Scheduled):
            start = context.setdefault("scheduled_start_time", state.start_time)
        else:
            start = context.setdefault("scheduled_start_time", clock.now())
        if not isinstance(start, datetime):  # a caller's own value: dates from now
            start = clock.now()
        day = timedelta(days=1)
        for key, value in (
            ("date", start),
            ("today", start.strftime("%Y-%m-%d")),
            ("yesterday", (start - day).strftime("%Y-%m-%d")),
            ("tomorrow", (start + day).strftime("%Y-%m-%d")),
            ("today_nodash", start.strftime("%Y%m%d")),
            ("yesterday_nodash", (start - day).strftime("%Y%m%d")),
            ("tomorrow_nodash", (start + day).strftime("%Y%m%d")),
        ):
            context.setdefault(key, value)
        contexts = TaskContexts(self.flow.slugs(), task_contexts)
        return FlowRunnerInitializeResult(state, task_states, context, contexts)

    def check_flow_is_pending_or_running(self, state: State) -> State:
        """Only Pending-family (Scheduled, Retrying, ...) and Running flow states go on.

        Args:
            state: the flow run's state.

        Returns:
            ``state`` unchanged.

        Raises:
            ENDRUN: with the state unchanged when it is finished (or otherwise not
                ready to run).
        """
        if isinstance(state, (Pending, Running)):
            return state
        raise ENDRUN(state)

    def check_flow_reached_start_time(self, state: State) -> State:
        """Stop when a Scheduled flow state starts in the future.

        Args:
            state: the flow run's state.

        Returns:
            ``state`` unchanged.

        Raises:
            ENDRUN: with the state unchanged when its start time is still ahead.
        """
        if isinstance(state, Scheduled) and state.start_time > clock.now():
            raise ENDRUN(state)
        return state

    def set_flow_to_running(self, state: State, hooks: Iterable[RunHooks] = ()) -> State:
        """Move a Pending or Scheduled flow run to ``Running("Running flow.")``.

        Args:
            state: the flow run's state.
            hooks: unused; kept for callers of earlier versions.

        Returns:
            The Running state (``state`` itself when it already was Running).

        Raises:
            ENDRUN: with ``state`` when it is neither Pending nor Running, or with the
                state a state handler chose instead of Running.
        """
        if isinstance(state, Running):
            return state
        if not isinstance(state, Pending):
            raise ENDRUN(state)
        new = self.change_state(state, Running("Running flow."))
        if not isinstance(new, Running):  # a state handler replaced the state
            raise ENDRUN(new)
        return new

    def get_flow_run_state(
        self,
        state: State,
        task_states: Mapping[Task, State],
        task_contexts: Mapping[Task, Mapping[str, Any]],
        return_tasks: Iterable[Task] | None,
        task_runner_state_handlers: Iterable[RunnerStateHandler] | None,
        executor: Executor,
        listeners: Iterable[RunnerStateHandler] = (),
        start_tasks: Iterable[Task] = (),
        cancel: threading.Event | None = None,
        wait_for_retries: bool = False,
    ) -> State:
        """Run the tasks (see :mod:`lockgate.engine.scheduler`) and decide the flow state.

        Args:
            state: the flow run's state; it must be Running.
            task_states: states to start tasks from (see :meth:`run`).
            task_contexts: per-task context values.
            return_tasks: tasks whose states go into the result dict.
            task_runner_state_handlers: handlers given to every TaskRunner.
            executor: where the tasks' code runs.
            listeners: observers given to every TaskRunner (the run hooks).
            start_tasks: see :meth:`run`.
            cancel: see :meth:`run`.
            wait_for_retries: see :meth:`run`.

        Returns:
            The state :meth:`determine_final_state` decides, with ``result`` mapping
            each return task to its state.

        Raises:
            ENDRUN: with ``state`` unchanged when it is not Running.
        """
        if not isinstance(state, Running):
            raise ENDRUN(state)
        flow = self.flow
        return_tasks = set(return_tasks or ())
        task_runner_state_handlers = list(task_runner_state_handlers or ())
        listeners = list(listeners)
        slugs = task_contexts.slugs if isinstance(task_contexts, TaskContexts) else flow.slugs()
        reference_tasks = flow.reference_tasks()
        terminal_tasks = flow.terminal_tasks()
        runner_cls = self.task_runner_cls
        result_handler = flow.result_handler
        constants = flow.constants
        context_of = task_contexts.get

        def run_one(task: Task, st: State, upstream: dict[Edge, State], is_start: bool) -> Pipeline:
            runner = runner_cls(
                task,
                state_handlers=task_runner_state_handlers,
                result_handler=result_handler,
                listeners=listeners,
                constants=constants.get(task),
            )
            task_context = context_of(task) or {"task_slug": slugs[task]}
            return runner.pipeline(
                state=st, upstream_states=upstream, context=task_context, ignore_trigger=is_start
            )

        with executor.start():
            final = run_tasks(
                flow,
                task_states,
                list(start_tasks),
                keep=return_tasks | reference_tasks,
                executor=executor,
                run_one=run_one,
                cancel=cancel,
                wait_for_retries=wait_for_retries,
                interrupt=getattr(self, "_interrupt", None),
            )
            # Values left on workers come back before the executor shuts down.
            executor.collect([final[t] for t in return_tasks if t in final])
        if cancel is not None and cancel.is_set():
            interrupt = getattr(self, "_interrupt", None)
            if interrupt is not None and interrupt.presses:
                new: State = Cancelled("Flow run was cancelled by Ctrl-C.")
            else:
                new = Cancelled("Flow run was cancelled.")
        else:
            new = self.determine_final_state(
                [final[t] for t in reference_tasks],
                terminal_states=[final[t] for t in terminal_tasks if t in final],
            )
        new.result = {t: final[t] for t in return_tasks}
        if isinstance(new, Running):
            return new  # still Running: no transition to report
        return self._set(state, new)

    def determine_final_state(
        self, reference_states: Iterable[State], terminal_states: Iterable[State] = ()
    ) -> State:
        """The flow state from its reference tasks' states (Mapped ones by their children).

        Args:
            reference_states: the states of the flow's reference tasks.
            terminal_states: the states of its terminal tasks: while one is unfinished
                (e.g. Retrying), so is the flow run.

        Returns:
            ``Running("Flow run in progress.")`` if any is unfinished,
            ``Failed("Some reference tasks failed.")`` if any failed,
            ``Success("All reference tasks succeeded.")`` if all succeeded,
            otherwise ``Success("No reference tasks failed.")``.
        """
        leaves = _leaves(reference_states)
        if not all(is_done(s) for s in leaves) or not all(
            is_done(s) for s in _leaves(terminal_states)
        ):
            return Running("Flow run in progress.")
        if any(isinstance(s, Failed) for s in leaves):
            return Failed("Some reference tasks failed.")
        if all(isinstance(s, Success) for s in leaves):
            return Success("All reference tasks succeeded.")
        return Success("No reference tasks failed.")


_HANDLER_FAILED = "Exception raised while calling state handlers."


def _for_hooks(state: State) -> State:
    """The final state as run hooks see it: a raising state handler's error named.

    The run keeps Prefect's ``Exception raised while calling state handlers.``; what a
    hook records (a run store) says ``...: RuntimeError: ...``, so ``lockgate show``
    tells what went wrong.
    """
    error = state.result
    if state.message != _HANDLER_FAILED or not isinstance(error, Exception):
        return state
    named = state.__copy__()
    named.message = f"{_HANDLER_FAILED[:-1]}: {type(error).__name__}: {error}"
    return named


def _leaves(states: Iterable[State]) -> list[State]:
    out: list[State] = []
    for s in states:
        if isinstance(s, Mapped):
            out.extend(_leaves(s.map_states))
        else:
            out.append(s)
    return out


def _notifier(hooks: list[RunHooks]) -> RunnerStateHandler:
    def notify(runner: TaskRunner, old: State, new: State) -> State:
        for hook in hooks:
            hook.task_state_changed(runner.task, old, new)
        return new

    return notify
