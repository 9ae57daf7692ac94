"""FunctionTask: a task whose ``run`` is a plain function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockgate.core.task import Task, run_signature

__all__ = ["FunctionTask"]


class FunctionTask(Task):
    """A task that runs ``fn``; usually made with the :func:`lockgate.task` decorator.

    Args:
        fn: the function to run; its named arguments are the task's inputs.
        name: the task's name (defaults to ``fn.__name__``).
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.

    Raises:
        TypeError: when ``fn`` is not callable.
        ValueError: when ``fn`` takes ``*args`` or uses a reserved argument name.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"FunctionTask needs a callable, got {fn!r}.")
        if name is None:
            name = getattr(fn, "__name__", type(self).__name__)
        self.run_signature = run_signature(fn, f"Task '{name}'", skip_first=False)
        self.run = fn  # type: ignore[method-assign]
        self.__doc__ = getattr(fn, "__doc__", None)
        super().__init__(name=name, **kwargs)
