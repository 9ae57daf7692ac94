"""Constant: a task that returns a fixed value."""

from __future__ import annotations

from typing import Any

from lockgate.core.task import Task

__all__ = ["Constant"]


class Constant(Task):
    """A task that returns ``value``.

    Plain values passed to a task become inputs of that task, not Constant tasks;
    lockgate uses Constant only where a value must be an upstream task, e.g. when a
    task maps over a literal list.

    Args:
        value: the value to return.
        name: the task's name (defaults to a short repr of the value).
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(self, value: Any, name: str | None = None, **kwargs: Any) -> None:
        self.value = value
        if name is None:
            text = repr(value)
            name = text if len(text) <= 40 else f"Constant[{type(value).__name__}]"
        super().__init__(name=name, **kwargs)

    def run(self) -> Any:
        """Return the constant value."""
        return self.value
