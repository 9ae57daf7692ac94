"""Helpers for building tasks: ``@task``, ``tags``, ``as_task``, ``unmapped``, ``pause_task``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from lockgate.utilities.context import context
from lockgate.utilities.context import current as _current_context

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task
    from lockgate.tasks.core.function import FunctionTask

_RunMethod = TypeVar("_RunMethod", bound=Callable[..., Any])

__all__ = [
    "as_task",
    "contains_task",
    "defaults_from_attrs",
    "pause_task",
    "tags",
    "task",
    "unmapped",
]


@overload
def task(fn: Callable[..., Any], **task_init_kwargs: Any) -> FunctionTask: ...
@overload
def task(
    fn: None = None, **task_init_kwargs: Any
) -> Callable[[Callable[..., Any]], FunctionTask]: ...


def task(
    fn: Callable[..., Any] | None = None, **task_init_kwargs: Any
) -> FunctionTask | Callable[[Callable[..., Any]], FunctionTask]:
    """Turn a function into a task; use as ``@task`` or ``@task(max_retries=2, ...)``.

    Args:
        fn: the function (given implicitly by ``@task``).
        **task_init_kwargs: any :class:`~lockgate.core.task.Task` argument.

    Returns:
        A :class:`~lockgate.tasks.core.function.FunctionTask`, or a decorator making one.
    """
    from lockgate.tasks.core.function import FunctionTask

    if fn is None:
        return lambda f: FunctionTask(f, **task_init_kwargs)
    return FunctionTask(fn, **task_init_kwargs)


@contextmanager
def tags(*names: str) -> Iterator[None]:
    """Add ``names`` to the tags of every task created inside the block."""
    current = set(_current_context().get("tags", ()))
    with context(tags=current | set(names)):
        yield


class unmapped:
    """Mark a mapped call's input as passed whole to every child.

    Args:
        task: the input (a task or a plain value).
    """

    __slots__ = ("task",)

    def __init__(self, task: Any) -> None:
        self.task = task

    def __repr__(self) -> str:
        return f"unmapped({self.task!r})"


def contains_task(value: Any) -> bool:
    """Tell whether ``value`` is a task or a list/tuple/set/dict holding one (at any depth)."""
    from lockgate.core.task import Task

    if isinstance(value, Task):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_task(v) for v in value)
    if isinstance(value, dict):
        return any(contains_task(k) or contains_task(v) for k, v in value.items())
    return False


def as_task(value: Any, flow: Flow | None = None) -> Task:
    """Return ``value`` as a task.

    Tasks are returned as they are; lists, tuples, sets and dicts holding tasks become
    collection tasks that keep element order; any other value becomes a
    :class:`~lockgate.tasks.core.constants.Constant`.

    Args:
        value: what to turn into a task.
        flow: the flow to bind collection tasks into (default: the active flow).
    """
    from lockgate.core.task import Task
    from lockgate.tasks.core import collections
    from lockgate.tasks.core.constants import Constant

    if isinstance(value, unmapped):
        value = value.task
    if isinstance(value, Task):
        return value
    if contains_task(value):
        inputs: dict[str, Any]
        if isinstance(value, dict):
            coll: Task = collections.Dict()
            inputs = {}
            for i, (k, v) in enumerate(value.items()):
                inputs[f"key_{i}"] = k
                inputs[f"value_{i}"] = v
        else:
            kinds: dict[type, type[Task]] = {list: collections.List, tuple: collections.Tuple}
            coll = kinds.get(type(value), collections.Set)()
            inputs = {f"item_{i}": v for i, v in enumerate(value)}
        return coll.bind(flow=flow, **inputs)
    return Constant(value)


def pause_task(message: str | None = None) -> None:
    """Pause the calling task until someone resumes it; returns at once when resuming.

    Call it inside ``run`` where an approval is needed.

    Raises:
        PAUSE: unless the task is being resumed.
    """
    from lockgate.engine import signals

    if not _current_context().get("resume"):
        raise signals.PAUSE(message or "pause_task() called; waiting for approval.")


def defaults_from_attrs(*attr_names: str) -> Callable[[_RunMethod], _RunMethod]:
    """Let a task's ``run`` fall back to the task's attributes for arguments not given.

    A task class can then take defaults at construction and still accept them per call:
    ``ShellTask(command="ls")()`` and ``ShellTask()(command="ls")`` both work. An argument
    given at run time always wins, even when it is ``None``.

    Args:
        *attr_names: names that are both keyword arguments of ``run`` and attributes set
            on the task in ``__init__``.

    Returns:
        A decorator for ``run``; the decorated method keeps ``run``'s name, docstring and
        signature.

    Raises:
        AttributeError: (when ``run`` is called) if the task has no attribute of one of the
            names, e.g. because ``__init__`` forgot to set it.
    """

    def decorate(run_method: _RunMethod) -> _RunMethod:
        # Names of run's positional parameters after ``self``, to tell which were given
        # positionally (read from the code object: inspect is slow to import).
        code = getattr(run_method, "__code__", None)
        positional_names = code.co_varnames[1 : code.co_argcount] if code else ()

        @functools.wraps(run_method)
        def run_with_defaults(self: Any, *args: Any, **kwargs: Any) -> Any:
            given_positionally = set(positional_names[: len(args)])
            for name in attr_names:
                if name not in kwargs and name not in given_positionally:
                    kwargs[name] = getattr(self, name)
            return run_method(self, *args, **kwargs)

        return cast(_RunMethod, run_with_defaults)

    return decorate
