"""Operator tasks, built by Python operators on tasks (``a + b``, ``a[0]``, ``a > 1``)."""

from __future__ import annotations

from typing import Any

from lockgate.core.task import Task

__all__ = [
    "Add",
    "And",
    "Div",
    "Equal",
    "FloorDiv",
    "GetItem",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "Mod",
    "Mul",
    "Not",
    "NotEqual",
    "Or",
    "Pow",
    "Sub",
]


class GetItem(Task):
    """``x[key]``."""

    def run(self, x: Any, key: Any) -> Any:
        """Return ``x[key]``."""
        return x[key]


class Add(Task):
    """``x + y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x + y``."""
        return x + y


class Sub(Task):
    """``x - y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x - y``."""
        return x - y


class Mul(Task):
    """``x * y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x * y``."""
        return x * y


class Div(Task):
    """``x / y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x / y``."""
        return x / y


class FloorDiv(Task):
    """``x // y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x // y``."""
        return x // y


class Mod(Task):
    """``x % y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x % y``."""
        return x % y


class Pow(Task):
    """``x ** y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x ** y``."""
        return x**y


class And(Task):
    """``x and y``."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x and y``."""
        return x and y


class Or(Task):
    """``x or y`` (the ``|`` operator adds a state dependency instead; use this by name)."""

    def run(self, x: Any, y: Any) -> Any:
        """Return ``x or y``."""
        return x or y


class Not(Task):
    """``not x``."""

    def run(self, x: Any) -> bool:
        """Return ``not x``."""
        return not x


class Equal(Task):
    """``x == y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x == y``."""
        return bool(x == y)


class NotEqual(Task):
    """``x != y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x != y``."""
        return bool(x != y)


class GreaterThan(Task):
    """``x > y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x > y``."""
        return bool(x > y)


class GreaterThanOrEqual(Task):
    """``x >= y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x >= y``."""
        return bool(x >= y)


class LessThan(Task):
    """``x < y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x < y``."""
        return bool(x < y)


class LessThanOrEqual(Task):
    """``x <= y``."""

    def run(self, x: Any, y: Any) -> bool:
        """Return ``x <= y``."""
        return bool(x <= y)
