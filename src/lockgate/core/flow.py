"""Flows: a graph of tasks joined by edges, and the way to run it."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lockgate.core.edge import Edge
from lockgate.core.task import OnFailureHandler, Parameter, Task, checked_uuid
from lockgate.schedules import Schedule
from lockgate.utilities.context import context
from lockgate.utilities.tasks import as_task, contains_task, unmapped

if TYPE_CHECKING:
    from lockgate.engine.flow_runner import FlowRunner
    from lockgate.engine.result_handlers import ResultHandler
    from lockgate.engine.state import State
    from lockgate.environments import Environment

__all__ = ["Flow"]

FlowStateHandler = Callable[["Flow", "State", "State"], "State | None"]


class Flow:
    """A graph of tasks.

    Use it as a context manager for the functional API (``with Flow("etl") as flow:``)
    or add tasks and edges imperatively. Every change is checked when it is made:
    cycles, duplicate input keys, keys that ``run`` does not accept and duplicate
    parameter names raise at once. Adding N tasks and edges costs O(N) in total.

    Args:
        name: the flow's name.
        schedule: when the flow should run (a :class:`lockgate.schedules.Schedule`);
            ``run`` follows it (see :mod:`lockgate.engine.schedule_runs`).
        tasks: tasks to add.
        edges: edges to add.
        reference_tasks: tasks whose states decide the flow's state (default: the
            terminal tasks).
        state_handlers: callables ``handler(flow, old_state, new_state)``.
        on_failure: a callable ``on_failure(flow, state)`` run when the flow fails; it
            becomes a :class:`~lockgate.core.task.OnFailureHandler` appended to
            ``state_handlers``.
        validate: check the whole flow after adding ``tasks`` and ``edges`` (default:
            the setting ``flows.eager_edge_validation``; each edge is checked as it is
            added either way).
        result_handler: the default result handler for tasks that have none.
        environment: how to package and run the flow elsewhere (a
            :class:`lockgate.environments.Environment`; default: a
            :class:`~lockgate.environments.LocalEnvironment`, made when
            :attr:`environment` is first read).

    Raises:
        TypeError: when ``name`` is not a string, ``schedule`` is not a Schedule, a
            handler is not callable or ``environment`` is not an Environment.
    """

    def __init__(
        self,
        name: str,
        schedule: Schedule | None = None,
        tasks: Iterable[Task] | None = None,
        edges: Iterable[Edge] | None = None,
        reference_tasks: Iterable[Task] | None = None,
        state_handlers: Iterable[FlowStateHandler] | None = None,
        on_failure: Callable[[Flow, State], Any] | None = None,
        validate: bool | None = None,
        result_handler: ResultHandler | None = None,
        environment: Environment | None = None,
    ) -> None:
        if not name:
            raise ValueError(f"A flow needs a name, e.g. Flow('etl'); got {name!r}.")
        if not isinstance(name, str):
            raise TypeError(f"A flow's name must be a string, got {name!r}.")
        self.name = name
        self._id = str(uuid.uuid4())  # identifies the flow in serialized form
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(
                f"Flow '{name}': schedule must be a lockgate.schedules.Schedule (e.g. "
                f"IntervalSchedule, CronSchedule), got {schedule!r} ({type(schedule).__name__})."
            )
        self.schedule = schedule
        self.result_handler = result_handler
        self.environment = environment
        self.state_handlers: list[FlowStateHandler] = list(state_handlers or ())
        for handler in self.state_handlers:
            if not callable(handler):
                raise TypeError(f"Flow '{name}': state handler {handler!r} is not callable.")
        if on_failure is not None and not callable(on_failure):
            raise TypeError(f"Flow '{name}': on_failure must be callable, got {on_failure!r}.")
        OnFailureHandler.attach(self.state_handlers, on_failure)
        self.on_failure = on_failure
        self.constants: dict[Task, dict[str, Any]] = {}
        """Plain values bound as inputs: ``{task: {argument: value}}``."""
        self._tasks: dict[Task, None] = {}  # insertion-ordered set
        self._edges: dict[Edge, None] = {}
        self._edges_to: dict[Task, list[Edge]] = {}
        self._edges_from: dict[Task, list[Edge]] = {}
        self._slugs: dict[str, Task] = {}
        # The keys bound by edges into each task: a str for one (most tasks: no set to
        # allocate and for the collector to walk), a set from the second on.
        self._keys: dict[Task, str | set[str]] = {}
        self._parameters: dict[str, Parameter] = {}
        self._reference_tasks: set[Task] = set()
        self._sorted: tuple[Task, ...] | None = None
        self._context_blocks: list[Any] = []
        # The graph's shape by insertion position, kept up as tasks and edges are added
        # (while they are at hand): the store hashes it at the start of every recorded
        # run (lockgate.store.graph), and walking 10,000s of edges then costs more.
        self._positions: dict[Task, int] = {}
        self._edge_ends = array("q")  # (upstream, downstream, mapped) per edge
        self._edge_keys: list[str] = []  # the key per edge, "" for none

        for t in tasks or ():
            self.add_task(t)
        for e in edges or ():
            self.add_edge(e.upstream_task, e.downstream_task, key=e.key, mapped=e.mapped)
        if reference_tasks:
            self.set_reference_tasks(reference_tasks)
        if validate is None:
            from lockgate.configuration import config

            validate = bool(config.get_nested("flows.eager_edge_validation"))
        if validate:
            self.validate()

    def __repr__(self) -> str:
        return f"<Flow: {self.name} ({len(self._tasks)} tasks)>"

    def __eq__(self, other: object) -> bool:
        """Flows are equal when they have the same name, tasks, edges and reference tasks."""
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Flow)
        return (
            self.name == other.name
            and self._tasks.keys() == other._tasks.keys()
            and self._edges.keys() == other._edges.keys()
            and self.reference_tasks() == other.reference_tasks()
        )

    def __hash__(self) -> int:
        # Equal flows share a name; the rest of a flow changes as it is built.
        return hash(self.name)

    def __iter__(self) -> Iterator[Task]:
        """The tasks in dependency order (see :meth:`sorted_tasks`)."""
        return iter(self.sorted_tasks())

    @property
    def id(self) -> str:
        """The flow's unique id, a UUID string (a copy gets a new one)."""
        return self._id

    @id.setter
    def id(self, value: str) -> None:
        self._id = checked_uuid(value, f"Flow '{self.name}'")

    _environment: Environment | None  # None until first read: see ``environment``

    @property
    def environment(self) -> Environment:
        """How the flow is packaged and run elsewhere (see :mod:`lockgate.environments`).

        Unless one was given, a :class:`~lockgate.environments.LocalEnvironment` is made
        the first time this is read, so that building a flow never pays for its
        encryption key. Setting ``None`` goes back to that default.
        """
        if self._environment is None:
            from lockgate.environments import LocalEnvironment

            self._environment = LocalEnvironment()
        return self._environment

    @environment.setter
    def environment(self, value: Environment | None) -> None:
        if value is not None:
            from lockgate.environments import Environment

            if not isinstance(value, Environment):
                raise TypeError(
                    f"Flow '{self.name}': environment must be a lockgate.environments."
                    f"Environment (e.g. LocalEnvironment()), got {value!r} "
                    f"({type(value).__name__})."
                )
        self._environment = value

    @property
    def logger(self) -> logging.Logger:
        """This flow's logger, ``lockgate.flow.<name>`` (what ``lockgate.context.logger``
        is in a flow run outside a task)."""
        return logging.getLogger(f"lockgate.flow.{self.name}")

    def __enter__(self) -> Flow:
        block = context(flow=self)
        block.__enter__()
        self._context_blocks.append(block)
        return self

    def __exit__(self, *exc: object) -> None:
        self._context_blocks.pop().__exit__(None, None, None)

    # -- reading the graph -------------------------------------------------------------
    @property
    def tasks(self) -> set[Task]:
        """Every task in the flow (a new set each time)."""
        return set(self._tasks)

    @property
    def edges(self) -> set[Edge]:
        """Every edge in the flow (a new set each time)."""
        return set(self._edges)

    def _known(self, task: Task) -> Task:
        if task not in self._tasks:
            raise ValueError(
                f"Task {task!r} was not found in Flow '{self.name}'; add it first "
                "(flow.add_task, or call it inside `with flow:`)."
            )
        return task

    @property
    def task_ids(self) -> dict[str, Task]:
        """Every task by its :attr:`~lockgate.core.task.Task.id`."""
        return {t.id: t for t in self._tasks}

    def all_upstream_edges(self) -> dict[Task, set[Edge]]:
        """Every task with the set of edges into it (empty for root tasks)."""
        return {t: set(self._edges_to.get(t, ())) for t in self._tasks}

    def all_downstream_edges(self) -> dict[Task, set[Edge]]:
        """Every task with the set of edges out of it (empty for terminal tasks)."""
        return {t: set(self._edges_from.get(t, ())) for t in self._tasks}

    def _has_edges(self, task: Task) -> bool:
        """Whether ``task`` has an edge in this flow (False when it is not in it); O(1)."""
        return bool(self._edges_to.get(task) or self._edges_from.get(task))

    def edges_to(self, task: Task) -> set[Edge]:
        """The edges into ``task``.

        Raises:
            ValueError: when ``task`` is not in the flow.
        """
        return set(self._edges_to.get(self._known(task), ()))

    def edges_from(self, task: Task) -> set[Edge]:
        """The edges out of ``task``.

        Raises:
            ValueError: when ``task`` is not in the flow.
        """
        return set(self._edges_from.get(self._known(task), ()))

    def upstream_tasks(self, task: Task) -> set[Task]:
        """The tasks ``task`` depends on.

        Raises:
            ValueError: when ``task`` is not in the flow.
        """
        return {e.upstream_task for e in self._edges_to.get(self._known(task), ())}

    def downstream_tasks(self, task: Task) -> set[Task]:
        """The tasks that depend on ``task``.

        Raises:
            ValueError: when ``task`` is not in the flow.
        """
        return {e.downstream_task for e in self._edges_from.get(self._known(task), ())}

    def root_tasks(self) -> set[Task]:
        """Tasks with no upstream tasks."""
        return {t for t in self._tasks if not self._edges_to.get(t)}

    def terminal_tasks(self) -> set[Task]:
        """Tasks with no downstream tasks."""
        return {t for t in self._tasks if not self._edges_from.get(t)}

    def parameters(self) -> set[Parameter]:
        """The flow's :class:`~lockgate.core.task.Parameter` tasks."""
        return set(self._parameters.values())

    def reference_tasks(self) -> set[Task]:
        """The tasks whose states decide the flow state (default: terminal tasks)."""
        return set(self._reference_tasks) if self._reference_tasks else self.terminal_tasks()

    def set_reference_tasks(self, tasks: Iterable[Task]) -> None:
        """Choose the tasks whose states decide the flow state.

        Raises:
            ValueError: when a task is not in the flow.
        """
        chosen = set(tasks)
        missing = [t for t in chosen if t not in self._tasks]
        if missing:
            raise ValueError(
                f"Reference tasks must be part of the flow '{self.name}'; add them first: "
                f"{missing}."
            )
        self._reference_tasks = chosen

    def get_tasks(
        self,
        name: str | None = None,
        slug: str | None = None,
        tags: Iterable[str] | None = None,
        task_type: type | None = None,
    ) -> list[Task]:
        """Tasks matching every given criterion, in the order they were added."""
        wanted_tags = set(tags or ())
        return [
            t
            for t in self._tasks
            if (name is None or t.name == name)
            and (slug is None or t.slug == slug)
            and wanted_tags <= t.tags
            and (task_type is None or isinstance(t, task_type))
        ]

    def slugs(self) -> dict[Task, str]:
        """A stable, unique slug per task: its own ``slug``, else ``name-N``."""
        out: dict[Task, str] = {}
        counts: dict[str, int] = {}
        taken = set(self._slugs)
        for t in self._tasks:
            if t.slug is not None:
                out[t] = t.slug
                continue
            n = counts.get(t.name, 0)
            while True:
                n += 1
                candidate = f"{t.name}-{n}"
                if candidate not in taken:
                    break
            counts[t.name] = n
            out[t] = candidate
        return out

    def sorted_tasks(self, root_tasks: Iterable[Task] | None = None) -> tuple[Task, ...]:
        """Tasks in dependency order (upstream first); ties keep insertion order.

        Args:
            root_tasks: if given (and not empty), only these tasks and the tasks
                downstream of them.

        Raises:
            ValueError: when a root task is not in the flow, or the flow has a cycle.
        """
        if root_tasks is not None:
            root_tasks = list(root_tasks)
            for t in root_tasks:
                self._known(t)
            if not root_tasks:
                root_tasks = None
        if root_tasks is None and self._sorted is not None:
            return self._sorted
        if root_tasks is None:
            selected: dict[Task, None] = self._tasks
        else:
            selected = {}
            stack = list(root_tasks)
            while stack:
                t = stack.pop()
                if t not in selected:
                    selected[t] = None
                    stack.extend(e.downstream_task for e in self._edges_from.get(t, ()))
            selected = {t: None for t in self._tasks if t in selected}
        waiting = {
            t: sum(1 for e in self._edges_to.get(t, ()) if e.upstream_task in selected)
            for t in selected
        }
        ready = [t for t in selected if waiting[t] == 0]
        ready.reverse()
        order: list[Task] = []
        while ready:
            t = ready.pop()
            order.append(t)
            newly = []
            for e in self._edges_from.get(t, ()):
                d = e.downstream_task
                if d in waiting:
                    waiting[d] -= 1
                    if waiting[d] == 0:
                        newly.append(d)
            ready.extend(reversed(newly))
        if len(order) != len(selected):
            raise ValueError(f"Cycle found: flow '{self.name}' cannot be sorted.")
        result = tuple(order)
        if root_tasks is None:
            self._sorted = result
        return result

    # -- changing the graph ------------------------------------------------------------
    def _changed(self) -> None:
        self._sorted = None

    def add_task(self, task: Task) -> Task:
        """Add ``task`` (adding it twice does nothing) and return it.

        Raises:
            TypeError: when ``task`` is not a Task.
            ValueError: when its slug or parameter name is already used in this flow.
        """
        if not isinstance(task, Task):
            raise TypeError(
                f"Flow '{self.name}' can only hold tasks; got {task!r} "
                f"({type(task).__name__}). Wrap functions with @task."
            )
        if task in self._tasks:
            return task
        if isinstance(task, Parameter) and task.name in self._parameters:
            raise ValueError(
                f"Flow '{self.name}' already has a parameter named {task.name!r}; "
                "parameter names must be unique."
            )
        if task.slug is not None:
            if task.slug in self._slugs:
                raise ValueError(
                    f"Flow '{self.name}' already has a task with slug {task.slug!r}; "
                    "slugs must be unique."
                )
            self._slugs[task.slug] = task
        if isinstance(task, Parameter):
            self._parameters[task.name] = task
        self._positions[task] = len(self._tasks)
        self._tasks[task] = None
        self._changed()
        return task

    def add_edge(
        self,
        upstream_task: Task,
        downstream_task: Task,
        key: str | None = None,
        mapped: bool = False,
        validate: bool | None = None,
    ) -> Edge:
        """Make ``downstream_task`` depend on ``upstream_task``.

        Args:
            upstream_task: the task that runs first.
            downstream_task: the task that runs after it.
            key: pass the upstream result as this argument of ``downstream_task.run``.
            mapped: run ``downstream_task`` once per item of the upstream result.
            validate: accepted for compatibility; every edge is always checked.

        Returns:
            The edge.

        Raises:
            TypeError: when either end is not a Task, or the key is not an argument
                of the downstream task's ``run`` (as Python's own "unexpected keyword").
            ValueError: when the key is not a valid name or is already bound, or the
                edge would close a cycle.
        """
        if not (isinstance(upstream_task, Task) and isinstance(downstream_task, Task)):
            role, t = (
                ("upstream_task", upstream_task)
                if not isinstance(upstream_task, Task)
                else ("downstream_task", downstream_task)
            )
            raise TypeError(f"add_edge: {role} must be a Task, got {t!r} ({type(t).__name__}).")
        edge = Edge(upstream_task, downstream_task, key=key, mapped=mapped)  # checks the key
        if key is not None:
            self._check_new_key(downstream_task, key)
        if upstream_task is downstream_task:
            raise ValueError(f"Task '{upstream_task.name}' cannot depend on itself.")
        if edge in self._edges:
            return edge
        self.add_task(upstream_task)
        self.add_task(downstream_task)
        self._check_no_cycle(upstream_task, downstream_task)
        self._edges[edge] = None
        positions = self._positions
        self._edge_ends.extend((positions[upstream_task], positions[downstream_task], mapped))
        self._edge_keys.append(key or "")
        self._edges_to.setdefault(downstream_task, []).append(edge)
        self._edges_from.setdefault(upstream_task, []).append(edge)
        if key is not None:
            keys = self._keys.get(downstream_task)
            if keys is None:
                self._keys[downstream_task] = key
            elif isinstance(keys, str):
                self._keys[downstream_task] = {keys, key}
            else:
                keys.add(key)
        self._changed()
        return edge

    def _check_new_key(self, task: Task, key: str) -> None:
        sig = task.run_signature
        if not sig.var_keyword and key not in sig.names:
            raise TypeError(
                f"Task '{task.name}' has no run() argument named {key!r}; "
                f"its arguments are: {', '.join(sig.names) or '(none)'}."
            )
        keys = self._keys.get(task)
        bound = (
            keys == key if isinstance(keys, str) else keys is not None and key in keys
        ) or key in self.constants.get(task, {})
        if bound:
            raise ValueError(
                f"Task '{task.name}' already has an input bound to {key!r}; "
                "each argument takes one upstream task or value."
            )

    def _check_no_cycle(self, upstream: Task, downstream: Task) -> None:
        # A new edge closes a cycle only if upstream is reachable from downstream.
        # Most edges point at a task with no downstream yet, so this is O(1) there.
        if not self._edges_from.get(downstream) or not self._edges_to.get(upstream):
            return
        parent: dict[Task, Task | None] = {downstream: None}
        stack = [downstream]
        while stack:
            t = stack.pop()
            for e in self._edges_from.get(t, ()):
                d = e.downstream_task
                if d in parent:
                    continue
                parent[d] = t
                if d is upstream:
                    path = [d]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])  # type: ignore[arg-type]
                    names = " -> ".join(x.name for x in reversed(path))
                    raise ValueError(
                        f"Adding the edge {upstream.name} -> {downstream.name} would create "
                        f"a cycle ({names} -> {downstream.name}); flows must be acyclic."
                    )
                stack.append(d)

    def set_dependencies(
        self,
        task: Task,
        upstream_tasks: Iterable[Any] | None = None,
        downstream_tasks: Iterable[Task] | None = None,
        keyword_tasks: Mapping[str, Any] | None = None,
        mapped: bool = False,
        validate: bool | None = None,
    ) -> None:
        """Add ``task`` with its dependencies.

        Args:
            task: the task.
            upstream_tasks: tasks that must finish first (state-only edges).
            downstream_tasks: tasks that run after it (state-only edges).
            keyword_tasks: inputs by ``run`` argument name; tasks become keyed edges,
                collections holding tasks become collection tasks, other values become
                constant inputs.
            mapped: map ``task`` over every keyword input not wrapped in ``unmapped``.
            validate: accepted for compatibility; every change is always checked.
        """
        self.add_task(task)
        for up in upstream_tasks or ():
            # A mapped task maps over its upstream tasks' results too, unless unmapped.
            is_mapped = mapped and not isinstance(up, unmapped)
            self.add_edge(as_task(up, flow=self), task, mapped=is_mapped)
        for down in downstream_tasks or ():
            self.add_edge(task, as_task(down, flow=self))
        for key, value in (keyword_tasks or {}).items():
            is_mapped = mapped and not isinstance(value, unmapped)
            if isinstance(value, unmapped):
                value = value.task
            if isinstance(value, Task):  # the common case, checked first: it is the hot path
                self.add_edge(value, task, key=key, mapped=is_mapped)
            elif contains_task(value):
                self.add_edge(as_task(value, flow=self), task, key=key, mapped=is_mapped)
            elif is_mapped:
                from lockgate.tasks.core.constants import Constant

                self.add_edge(Constant(value), task, key=key, mapped=True)
            else:
                self._check_new_key(task, key)
                self.constants.setdefault(task, {})[key] = value

    def chain(self, *tasks: Task) -> list[Edge]:
        """Add state-only edges so ``tasks`` run one after the other; return the edges."""
        return [self.add_edge(a, b) for a, b in zip(tasks, tasks[1:])]

    def update(self, flow: Flow) -> None:
        """Add every task, edge and constant of ``flow`` to this flow."""
        for t in flow._tasks:
            self.add_task(t)
        for e in flow._edges:
            self.add_edge(e.upstream_task, e.downstream_task, key=e.key, mapped=e.mapped)
        for t, values in flow.constants.items():
            self.constants.setdefault(t, {}).update(values)

    def replace(self, old: Task, new: Any, validate: bool = True) -> None:
        """Put ``new`` wherever ``old`` is: its edges, constants and reference status.

        Args:
            old: a task of the flow.
            new: the task taking its place; a value that is not a task becomes a
                :class:`~lockgate.tasks.core.Constant`.
            validate: check the whole flow afterwards.

        Raises:
            ValueError: when ``old`` is not in the flow.
        """
        if old not in self._tasks:
            raise ValueError(f"Task '{old.name}' is not in flow '{self.name}'; nothing to replace.")
        new = as_task(new)
        edges = list(self._edges)
        refs = {new if t is old else t for t in self._reference_tasks}
        constants = {(new if t is old else t): v for t, v in self.constants.items()}
        tasks = [new if t is old else t for t in self._tasks]
        staged = Flow(self.name)
        for t in tasks:
            staged.add_task(t)
        staged.constants = constants
        for e in edges:
            up = new if e.upstream_task is old else e.upstream_task
            down = new if e.downstream_task is old else e.downstream_task
            staged.add_edge(up, down, key=e.key, mapped=e.mapped)
        self._tasks, self._edges = staged._tasks, staged._edges
        self._positions, self._edge_ends = staged._positions, staged._edge_ends
        self._edge_keys = staged._edge_keys
        self._edges_to, self._edges_from = staged._edges_to, staged._edges_from
        self._slugs, self._parameters = staged._slugs, staged._parameters
        self._keys, self.constants = staged._keys, staged.constants
        self._changed()
        self._reference_tasks = refs
        if validate:
            self.validate()

    def copy(self) -> Flow:
        """Return a new flow with the same tasks, edges, constants and settings."""
        new = Flow(
            self.name,
            schedule=self.schedule,
            state_handlers=self.state_handlers,
            on_failure=self.on_failure,
            result_handler=self.result_handler,
            environment=self._environment,
        )
        new.update(self)
        new._reference_tasks = set(self._reference_tasks)
        return new

    def serialize(self, build: bool = False) -> dict[str, Any]:
        """A JSON-compatible description of the flow's structure (see ``docs/serialization.md``).

        Args:
            build: build the flow's environment first (a LocalEnvironment then carries
                the encrypted flow itself).

        Returns:
            Tasks, edges, parameters, reference tasks, schedule and environment, as
            :class:`~lockgate.serialization.flow.FlowSchema` writes them.

        Raises:
            ValueError: when the flow is not valid (see :meth:`validate`).
        """
        from lockgate.serialization.flow import FlowSchema

        self.validate()
        serialized: dict[str, Any] = FlowSchema(exclude=["environment"]).dump(self)
        environment = self.environment.build(self) if build else self.environment
        serialized.update(FlowSchema(only=["environment"]).dump({"environment": environment}))
        return serialized

    def to_environment_file(self, path: str) -> None:
        """Build the flow's :attr:`environment` and write it to ``path`` as JSON.

        With the default :class:`~lockgate.environments.LocalEnvironment` the file holds
        the flow encrypted, with its key; read it back with
        :func:`lockgate.utilities.environments.from_file` and call ``run()`` on it.

        Args:
            path: the file to write (replaced if it exists).
        """
        self.environment.build(self).to_file(path)

    def validate(self) -> None:
        """Check the whole flow.

        Raises:
            ValueError: when an edge or reference task points outside the flow, or the
                flow has a cycle.
        """
        for e in self._edges:
            for t in (e.upstream_task, e.downstream_task):
                if t not in self._tasks:
                    raise ValueError(
                        f"Some edges refer to tasks not in flow '{self.name}': {e} refers "
                        f"to task '{t.name}'."
                    )
        for t in self._reference_tasks:
            if t not in self._tasks:
                raise ValueError(
                    f"Some reference tasks are not contained in flow '{self.name}': '{t.name}'."
                )
        self._sorted = None
        self.sorted_tasks()

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        parameters: Mapping[str, Any] | None = None,
        *,
        store: Any = None,
        run_on_schedule: bool | None = None,
        runner_cls: type[FlowRunner] | None = None,
        **kwargs: Any,
    ) -> State:
        """Run the flow and return its final state: now, or at each date of its schedule.

        The state's ``result`` maps every task to its state, also when no task ran (a
        finished ``state=`` given: tasks are then ``Pending("Task not run.")``, unless
        ``return_tasks`` asks for some only). The call returns once no
        task can make progress: retries are waited for (on the clock in force), a
        Paused task leaves the flow ``Running``. With a schedule, the call returns when
        the schedule has no more dates (see :mod:`lockgate.engine.schedule_runs`).

        Args:
            parameters: values for the flow's parameters.
            store: record the run in a run store (see :mod:`lockgate.store`): True for
                the default store, a SQLAlchemy URL, a ``RunStore``, or a
                ``StoreRecorder`` (to know the run id, set the source, or continue a
                stored run). None records when ``$LOCKGATE_STORE`` is ``1`` (or, with
                the variable unset, when the setting ``store.enabled`` is true); False
                never.
                With a store, every successful task's result is persisted.
            run_on_schedule: follow the flow's schedule (wait for each date, run, repeat);
                False runs once now. None reads the setting ``flows.run_on_schedule``
                (default true). Ignored when the flow has no schedule.
            runner_cls: the :class:`~lockgate.engine.flow_runner.FlowRunner` class (or a
                subclass) that runs the flow.
            **kwargs: a keyword named like one of the flow's parameters is that
                parameter's value (``flow.run(x=1)`` is ``flow.run(parameters={"x": 1})``,
                and wins over it); the others are passed to
                :meth:`lockgate.engine.flow_runner.FlowRunner.run` (``executor``,
                ``task_states``, ``start_tasks``, ``context``, ``return_tasks``, ...).

        Raises:
            ValueError: when a parameter is unknown or a required one is missing, or
                the flow's schedule has no more dates.
            TypeError: for a keyword that is neither a parameter nor an argument of
                ``FlowRunner.run``.
            lockgate.store.StoreError: when the store cannot be opened.
        """
        # A bare flow.run() at the end of a file that `lockgate run`, the dashboard or a
        # restart is loading: lockgate runs the flow itself, so this call is skipped.
        loader = sys.modules.get("lockgate.runs")
        if loader is not None and loader.skip_run_while_loading(self):
            from lockgate.engine.state import Pending

            skipped = Pending("Not run: lockgate was loading this flow's file and runs it itself.")
            return self._with_every_task_state(skipped)
        given = dict(parameters or {})
        for name in self._parameters.keys() & kwargs.keys():
            given[name] = kwargs.pop(name)
        unknown = sorted(set(given) - set(self._parameters))
        if unknown:
            known = ", ".join(sorted(self._parameters)) or "(none)"
            raise ValueError(
                f"Flow '{self.name}' has no parameter named {', '.join(map(repr, unknown))}; "
                f"its parameters are: {known}."
            )
        missing = sorted(n for n, p in self._parameters.items() if p.required and n not in given)
        if missing:
            raise ValueError(
                f"Flow '{self.name}': parameter(s) {', '.join(map(repr, missing))} "
                "required but not provided; "
                f"pass flow.run(parameters={{{', '.join(f'{n!r}: ...' for n in missing)}}})."
            )
        if self.schedule is not None and run_on_schedule is not False:
            from lockgate.engine import schedule_runs

            if run_on_schedule or schedule_runs.run_on_schedule_by_default():
                return schedule_runs.run_on_schedule(
                    self,
                    lambda **once: self.run(
                        given, store=store, run_on_schedule=False, runner_cls=runner_cls, **once
                    ),
                    **kwargs,
                )
        every_task = "return_tasks" not in kwargs
        kwargs.setdefault("return_tasks", self._tasks)
        kwargs.setdefault("wait_for_retries", True)  # retries run within this call
        if store is None:
            flag = os.environ.get("LOCKGATE_STORE", "").strip().lower()
            if flag:
                store = flag in ("1", "true", "yes")
            else:
                from lockgate.configuration import config

                store = bool(config.get_nested("store.enabled"))
        if store is not False:
            from lockgate.store.seam import run_with_store  # the one seam (docs/architecture.md)

            state = run_with_store(self, store, given, kwargs)
        else:
            if runner_cls is None:  # the setting engine.flow_runner.default_class
                from lockgate.engine import get_default_flow_runner_class

                runner_cls = get_default_flow_runner_class()
            state = runner_cls(self).run(parameters=given, **kwargs)
        return self._with_every_task_state(state) if every_task else state

    def _with_every_task_state(self, state: State) -> State:
        """``state`` with a result that maps every task of the flow to its state.

        A run that ran no task (given a finished ``state``, say) has no result: it gets
        one, where each task is ``Pending("Task not run.")``; so do tasks missing from
        a result. The state object is the runner's (the one given, when nothing ran),
        as in Prefect 0.5.1. A result that is not a dict (an error of the runner
        itself) is left as it is.
        """
        from lockgate.engine.result import NoResult
        from lockgate.engine.state import Pending

        if state.result is NoResult:
            state.result = {}
        task_states = state.result
        if isinstance(task_states, dict):
            for task in self._tasks:
                if task not in task_states:
                    task_states[task] = Pending(message="Task not run.")
        return state

    def visualize(self, flow_state: State | None = None, filename: str | None = None) -> Any:
        """Draw the flow with Graphviz, tasks coloured by state when ``flow_state`` is given.

        Args:
            flow_state: a finished flow state whose ``result`` maps tasks to states.
            filename: write the drawing there (format from the extension: .svg, .png, ...).

        Returns:
            A :class:`lockgate.utilities.graphviz.Graph` with ``.source`` (DOT text).
        """
        from lockgate.utilities.graphviz import draw_flow

        return draw_flow(self, flow_state=flow_state, filename=filename)
