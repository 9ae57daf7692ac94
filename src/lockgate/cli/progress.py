"""Follow a run as it happens: a RunHooks subscriber that counts task states.

:class:`RunProgress` is told of every task state change by the engine (see
:mod:`lockgate.engine.hooks`); its :meth:`~RunProgress.render` draws the counts with
rich (done / running / failed / cancelled / paused, and one line per mapped task
with its children), and the ``lockgate run`` command shows that drawing live.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from lockgate.engine.hooks import RunHooks
from lockgate.engine.state import (
    Cancelled,
    Failed,
    Finished,
    Mapped,
    Paused,
    Running,
    State,
    Success,
)
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from rich.console import RenderableType

    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

__all__ = ["CATEGORIES", "RunProgress", "category"]

CATEGORIES = ("done", "running", "failed", "cancelled", "paused", "waiting")
"""How the progress display groups states, in display order."""


def category(state: State | None) -> str:
    """The progress category of a state.

    Args:
        state: a task's state, or None when it has none yet.

    Returns:
        ``"done"`` (Success and its kinds), ``"failed"`` (Failed and its kinds but
        Cancelled), ``"cancelled"``, ``"running"``, ``"paused"`` or ``"waiting"``
        (anything else: Pending, Scheduled, Retrying).
    """
    if isinstance(state, Success):
        return "done"
    if isinstance(state, Cancelled):  # stopped on request: not a failure of the task
        return "cancelled"
    if isinstance(state, Failed):
        return "failed"
    if isinstance(state, Running):
        return "running"
    if isinstance(state, Paused):
        return "paused"
    return "waiting"


class RunProgress(RunHooks):
    """Counts task states as a run goes, for a live display and a final summary.

    Thread-safe: the engine calls :meth:`task_state_changed` from whichever thread
    ran the task, while the display reads the counts from its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.flow: Flow | None = None
        self.flow_state: State | None = None
        self.run_id: str | None = None
        self.started_at: float | None = None
        self.order: tuple[Task, ...] = ()
        self.mapped: set[Task] = set()
        self.states: dict[Task, State] = {}
        self.children: dict[Task, dict[int, State]] = {}
        self._running_since: dict[tuple[Task, int | None], float] = {}
        self.durations: dict[tuple[Task, int | None], float] = {}

    # -- hooks ---------------------------------------------------------------------------
    def flow_run_started(self, flow: Flow, state: State, context: dict[str, Any]) -> None:
        """Remember the flow and its tasks (the display lists them in run order).

        Args:
            flow: the flow being run.
            state: the flow's Running state.
            context: the run context (``flow_run_id`` is shown when present).
        """
        with self._lock:
            self.flow = flow
            self.flow_state = state
            self.order = flow.sorted_tasks()
            self.mapped = {t for t in self.order if any(e.mapped for e in flow.edges_to(t))}
            self.started_at = time.monotonic()
            run_id = context.get("flow_run_id")
            if run_id:
                self.run_id = str(run_id)

    def task_state_changed(self, task: Task, old: State, new: State) -> None:
        """Record ``task``'s new state (a mapped child's under its index).

        Args:
            task: the task.
            old: its previous state.
            new: its new state.
        """
        index = ctx.current().get("map_index")
        now = time.monotonic()
        key = (task, index)
        with self._lock:
            if index is None:
                self.states[task] = new
            else:
                self.children.setdefault(task, {})[index] = new
            if isinstance(new, Running):
                self._running_since[key] = now
            elif isinstance(new, Finished):
                began = self._running_since.pop(key, None)
                if began is not None:
                    self.durations[key] = now - began

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        """Keep the flow's final state.

        Args:
            flow: the flow.
            state: its final state.
        """
        with self._lock:
            self.flow_state = state

    # -- reading -----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """How many task runs are in each category (mapped tasks count their children).

        Returns:
            A count per name in :data:`CATEGORIES`, plus ``"total"``.
        """
        out = dict.fromkeys(CATEGORIES, 0)
        with self._lock:
            for t in self.order:
                kids = self.children.get(t)
                if kids:
                    for st in kids.values():
                        out[category(st)] += 1
                else:
                    out[category(self.states.get(t))] += 1
        out["total"] = sum(out[c] for c in CATEGORIES)
        return out

    def mapped_counts(self) -> list[tuple[Task, dict[str, int]]]:
        """Per mapped task that has children so far, the children's counts by category.

        Returns:
            ``(task, counts)`` pairs in run order; counts include ``"total"``.
        """
        rows = []
        with self._lock:
            for t in self.order:
                kids = self.children.get(t)
                if t in self.mapped and kids:
                    c = dict.fromkeys(CATEGORIES, 0)
                    for st in kids.values():
                        c[category(st)] += 1
                    c["total"] = len(kids)
                    rows.append((t, c))
        return rows

    def children_known(self, task: Task) -> bool:
        """Whether all of a mapped task's children are known yet.

        Children are seen one by one as they start; how many there are is certain
        only once the mapped task itself has finished (Mapped).

        Args:
            task: a mapped task.

        Returns:
            True once the task is Mapped and every child it mapped has been seen.
        """
        with self._lock:
            parent = self.states.get(task)
            seen = len(self.children.get(task, ()))
        return isinstance(parent, Mapped) and seen >= len(parent.map_states)

    def running_names(self, limit: int = 6) -> list[str]:
        """Names of task runs that are running now (mapped children as ``name[i]``).

        Args:
            limit: at most this many names.

        Returns:
            The names.
        """
        names: list[str] = []
        with self._lock:
            for task, index in list(self._running_since):
                names.append(task.name if index is None else f"{task.name}[{index}]")
                if len(names) >= limit:
                    break
        return names

    def elapsed(self) -> float:
        """Seconds since the flow run started (0 before it starts)."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    def render(self) -> RenderableType:
        """The live display: overall counts, a line per mapped task, what is running.

        Returns:
            A rich renderable.
        """
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        c = self.counts()
        name = self.flow.name if self.flow is not None else "starting"
        parts: list[RenderableType] = [
            Text.assemble((name, "bold"), f"  {self.elapsed():.1f}s  ", *_count_parts(c))
        ]
        mapped = self.mapped_counts()
        if mapped:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True, justify="right")
            grid.add_column()
            for task, tc in mapped:
                finished = tc["done"] + tc["failed"] + tc["cancelled"]
                # Until the task is Mapped more children may appear: "6/8+" says so.
                more = "" if self.children_known(task) else "+"
                grid.add_row(
                    f"  {task.name}",
                    _bar(finished, tc["total"]),
                    f"{finished}/{tc['total']}{more}",
                    Text.assemble(*_count_parts(tc, short=True)),
                )
            parts.append(grid)
        running = self.running_names()
        if running:
            parts.append(Text("  running: " + ", ".join(running), style="dim", overflow="ellipsis"))
        return Group(*parts)


_STYLES = {
    "done": "green",
    "running": "cyan",
    "failed": "bold red",
    "cancelled": "yellow",
    "paused": "magenta",
    "waiting": "dim",
}


def _count_parts(c: dict[str, int], short: bool = False) -> list[tuple[str, str] | str]:
    parts: list[tuple[str, str] | str] = []
    for cat in CATEGORIES:
        n = c.get(cat, 0)
        if not n and (short or cat == "cancelled"):  # runs are rarely cancelled: no "0 cancelled"
            continue
        if parts:
            parts.append(" · ")
        parts.append((f"{n} {cat}", _STYLES[cat] if n else "dim"))
    return parts


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = 0 if total == 0 else round(width * done / total)
    return "█" * filled + "░" * (width - filled)
