"""Lifecycle hooks: how progress bars, run stores and dashboards follow a run.

Subclass :class:`RunHooks`, override what you need, and pass instances to
``flow.run(hooks=[...])`` (or ``FlowRunner.run``). The engine calls them from its
scheduling loop; it never imports what subscribes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.engine.state import State

__all__ = ["INDEX_ATTR", "RAISED_LOGGERS", "RUN_ATTR", "SLUG_ATTR", "RunHooks"]

RUN_ATTR, SLUG_ATTR, INDEX_ATTR = "lockgate_flow_run_id", "lockgate_task_slug", "lockgate_map_index"
"""Attributes of a log record logged on a worker (process or Dask) that say which run,
task and mapped child it belongs to; a run store's log capture reads them before
``lockgate.context``."""

RAISED_LOGGERS = ("lockgate.task", "lockgate.flow")
"""Loggers set to INFO (when they have no level of their own) while a run's logs are
captured, in the run's process and on workers: task logs at INFO and above are kept."""


class RunHooks:
    """No-op base class for run listeners; every method may be overridden."""

    def flow_run_started(self, flow: Flow, state: State, context: dict[str, Any]) -> None:
        """The flow run entered ``state`` (Running); ``context`` is the run context."""

    def task_state_changed(self, task: Task, old: State, new: State) -> None:
        """``task`` moved from ``old`` to ``new``.

        ``lockgate.context`` holds the task's context (``task_slug``, ``map_index``, ...)
        while this is called. Every hook call comes from the one scheduling loop, in the
        thread that called ``flow.run()`` (whatever the executor), so keep it quick: the
        next task waits for it.
        """

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        """The flow run ended with ``state`` (which may be Running if tasks are Paused)."""
