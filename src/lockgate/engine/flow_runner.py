"""FlowRunner: runs a whole flow and turns its tasks' states into the flow's state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lockgate.engine import signals
from lockgate.engine.executors._choose import default_executor, executor_from_spec
from lockgate.engine.executors.base import Executor
from lockgate.engine.hooks import RunHooks
from lockgate.engine.scheduler import Pipeline, run_tasks
from lockgate.engine.signals import ENDRUN
from lockgate.engine.state import (
    Cancelled,
    Failed,
    Mapped,
    MetaState,
    Pending,
    Running,
    Scheduled,
    State,
    Success,
    fetch_remote_results,
    is_done,
)
from lockgate.engine.task_runner import RunnerStateHandler, TaskRunner
from lockgate.utilities import clock
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.core.edge import Edge
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

__all__ = ["ENDRUN", "FlowRunner"]

FlowRunnerStateHandler = Callable[["FlowRunner", State, State], "State | None"]


class FlowRunner:
    """Runs a flow: its tasks in dependency order, then decides the flow's state.

    Args:
        flow: the flow to run.
        task_runner_cls: the TaskRunner class to use for each task (default: the
            setting ``engine.task_runner.default_class``, ``TaskRunner``).
        state_handlers: callables ``handler(runner, old_state, new_state)`` called after
            the flow's own handlers on every flow state change.
    """

    def __init__(
        self,
        flow: Flow,
        task_runner_cls: type[TaskRunner] | None = None,
        state_handlers: Iterable[FlowRunnerStateHandler] | None = None,
    ) -> None:
        self.flow = flow
        if task_runner_cls is None:
            from lockgate.engine import get_default_task_runner_class

            task_runner_cls = get_default_task_runner_class()
        self.task_runner_cls = task_runner_cls
        self.state_handlers: list[FlowRunnerStateHandler] = list(state_handlers or ())
        self.logger = logging.getLogger(f"lockgate.flow.{flow.name}")

    def __repr__(self) -> str:
        return f"<FlowRunner: {self.flow.name}>"

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
    ) -> State:
        """Run the flow and return its new state.

        Args:
            state: the flow's current state (default ``Pending()``); a finished state,
                or a Scheduled one in the future, is returned unchanged.
            task_states: states to start tasks from; a task with a finished state
                (other than Cached or Mapped) is not run again.
            return_tasks: tasks whose states go into the result dict (their results
                are kept; other results are released once nothing needs them).
            parameters: values for the flow's parameters.
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

        Returns:
            ``Running`` if a reference task is unfinished (e.g. Paused), ``Failed`` if
            one failed, else ``Success``. ``result`` maps each return task to its state.

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
        values = self._run_context(state, parameters, context)
        token = ctx.set_values(values)
        try:
            state = self.initialize_run(state)
            state = self.check_flow_is_pending_or_running(state)
            state = self.check_flow_reached_start_time(state)
            state = self.set_flow_to_running(state, hooks)
            self.logger.info("Beginning flow run for %r", flow.name)
            for hook in hooks:
                hook.flow_run_started(flow, state, values)
            handlers = list(task_runner_state_handlers or ())
            listeners = [_notifier(hooks)] if hooks else []
            state = self.get_flow_run_state(
                state,
                task_states=task_states or {},
                return_tasks=return_tasks,
                executor=executor,
                task_runner_state_handlers=handlers,
                listeners=listeners,
                task_contexts=task_contexts or {},
                start_tasks=list(start_tasks or ()),
                cancel=cancel,
            )
        except ENDRUN as end:
            return end.state
        except Exception as exc:
            if values.get("raise_on_exception"):
                raise
            self.logger.exception("Unexpected error while running flow %r", flow.name)
            state = self._set(
                state or Pending(),
                Failed(f"Unexpected error while running flow: {exc!r}", result=exc),
                hooks,
            )
        finally:
            ctx.reset(token)
        for hook in hooks:
            hook.flow_run_finished(flow, state)
        self.logger.info("Flow run of %r ended: %r", flow.name, state)
        return state

    def _run_context(
        self,
        state: State | None,
        parameters: Mapping[str, Any] | None,
        context: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        start = state.start_time if isinstance(state, Scheduled) else clock.now()
        day = timedelta(days=1)
        values: dict[str, Any] = dict(ctx.current())
        values.update(
            flow_name=self.flow.name,
            parameters=dict(parameters or {}),
            scheduled_start_time=start,
            date=start,
            today=start.strftime("%Y-%m-%d"),
            yesterday=(start - day).strftime("%Y-%m-%d"),
            tomorrow=(start + day).strftime("%Y-%m-%d"),
            today_nodash=start.strftime("%Y%m%d"),
            yesterday_nodash=(start - day).strftime("%Y%m%d"),
            tomorrow_nodash=(start + day).strftime("%Y%m%d"),
        )
        for key in ("task_name", "task_slug", "task_full_name", "map_index", "resume"):
            values.pop(key, None)
        values.update(context or {})
        return values

    def _set(self, old: State, new: State, hooks: Iterable[RunHooks] = ()) -> State:
        """Call the flow's and the runner's state handlers for ``old -> new``."""
        flow = self.flow
        try:
            for handler in flow.state_handlers:
                new = handler(flow, old, new) or new
            for runner_handler in self.state_handlers:
                new = runner_handler(self, old, new) or new
        except signals.PrefectStateSignal as sig:
            new = sig.state
        except Exception as exc:
            if ctx.current().get("raise_on_exception"):
                raise
            new = Failed("Exception raised while calling state handlers.", result=exc)
        if flow.on_failure is not None and isinstance(new, Failed):
            try:
                flow.on_failure(flow, new)
            except Exception:
                if ctx.current().get("raise_on_exception"):
                    raise
                self.logger.exception("on_failure of flow %r raised; ignored", flow.name)
        return new

    # -- steps ---------------------------------------------------------------------------
    def initialize_run(self, state: State | None) -> State:
        """Unwrap meta states; no state means ``Pending()``."""
        while isinstance(state, MetaState):
            state = state.state
        return state if state is not None else Pending()

    def check_flow_is_pending_or_running(self, state: State) -> State:
        """Only Pending and Running flow states go on.

        Raises:
            ENDRUN: with the state unchanged when it is finished.
        """
        if isinstance(state, (Pending, Running)):
            return state
        raise ENDRUN(state)

    def check_flow_reached_start_time(self, state: State) -> State:
        """Stop when a Scheduled flow state starts in the future.

        Raises:
            ENDRUN: with the state unchanged.
        """
        if isinstance(state, Scheduled) and state.start_time > clock.now():
            raise ENDRUN(state)
        return state

    def set_flow_to_running(self, state: State, hooks: Iterable[RunHooks] = ()) -> State:
        """Move the flow to ``Running("Running flow.")``."""
        if isinstance(state, Running):
            return state
        new = self._set(state, Running("Running flow."), hooks)
        if not isinstance(new, Running):  # a state handler raised or replaced the state
            raise ENDRUN(new)
        return new

    def get_flow_run_state(
        self,
        state: State,
        task_states: Mapping[Task, State],
        return_tasks: set[Task],
        executor: Executor,
        task_runner_state_handlers: list[RunnerStateHandler],
        listeners: list[RunnerStateHandler],
        task_contexts: Mapping[Task, Mapping[str, Any]],
        start_tasks: list[Task],
        cancel: threading.Event | None = None,
    ) -> State:
        """Run the tasks (see :mod:`lockgate.engine.scheduler`) and decide the flow state."""
        flow = self.flow
        slugs = flow.slugs()
        reference_tasks = flow.reference_tasks()
        runner_cls = self.task_runner_cls
        result_handler = flow.result_handler

        def run_one(task: Task, st: State, upstream: dict[Edge, State], is_start: bool) -> Pipeline:
            runner = runner_cls(
                task,
                state_handlers=task_runner_state_handlers,
                result_handler=result_handler,
                listeners=listeners,
                constants=flow.constants.get(task),
            )
            extra = task_contexts.get(task)
            task_context = (
                {"task_slug": slugs[task], **extra} if extra else {"task_slug": slugs[task]}
            )
            return runner.pipeline(
                state=st, upstream_states=upstream, context=task_context, ignore_trigger=is_start
            )

        with executor.start():
            final = run_tasks(
                flow,
                task_states,
                start_tasks,
                keep=return_tasks | reference_tasks,
                executor=executor,
                run_one=run_one,
                cancel=cancel,
            )
            if executor.remote_results:  # values on workers come back before it shuts down
                fetch_remote_results([final[t] for t in return_tasks if t in final])
        if cancel is not None and cancel.is_set():
            new: State = Cancelled("Flow run was cancelled.")
        else:
            new = self.determine_final_state([final[t] for t in reference_tasks])
        new.result = {t: final[t] for t in return_tasks}
        if isinstance(new, Running):
            return new  # still Running: no transition to report
        return self._set(state, new)

    def determine_final_state(self, reference_states: Iterable[State]) -> State:
        """The flow state from its reference tasks' states (Mapped ones by their children).

        Returns:
            ``Running("Flow run in progress.")`` if any is unfinished,
            ``Failed("Some reference tasks failed.")`` if any failed,
            ``Success("All reference tasks succeeded.")`` if all succeeded,
            otherwise ``Success("No reference tasks failed.")``.
        """
        leaves = _leaves(reference_states)
        if not all(is_done(s) for s in leaves):
            return Running("Flow run in progress.")
        if any(isinstance(s, Failed) for s in leaves):
            return Failed("Some reference tasks failed.")
        if all(isinstance(s, Success) for s in leaves):
            return Success("All reference tasks succeeded.")
        return Success("No reference tasks failed.")


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
