"""Collection tasks: gather upstream results into a list, tuple, set or dict.

Passing ``[a, b, 3]`` to a task, where ``a`` and ``b`` are tasks, builds a
:class:`List` task whose inputs are ``item_0=a``, ``item_1=b`` and the constant
``item_2=3``, so element order is kept exactly.
"""

from __future__ import annotations

from typing import Any

from lockgate.core.task import Task

__all__ = ["Dict", "List", "Set", "Tuple"]


def _ordered(values: dict[str, Any], prefix: str) -> list[Any]:
    start = len(prefix)
    return [values[k] for k in sorted(values, key=lambda k: int(k[start:]))]


class List(Task):
    """Collect inputs ``item_0, item_1, ...`` into a list, in index order."""

    def run(self, **items: Any) -> list[Any]:
        """Return the items as a list ordered by their index."""
        return _ordered(items, "item_")


class Tuple(Task):
    """Collect inputs ``item_0, item_1, ...`` into a tuple, in index order."""

    def run(self, **items: Any) -> tuple[Any, ...]:
        """Return the items as a tuple ordered by their index."""
        return tuple(_ordered(items, "item_"))


class Set(Task):
    """Collect inputs ``item_0, item_1, ...`` into a set."""

    def run(self, **items: Any) -> set[Any]:
        """Return the items as a set."""
        return set(items.values())


class Dict(Task):
    """Build a dict from inputs ``key_i`` and ``value_i``, in index order."""

    def run(self, **entries: Any) -> dict[Any, Any]:
        """Return ``{key_i: value_i}`` for every index ``i``, in index order."""
        keys = _ordered({k: v for k, v in entries.items() if k.startswith("key_")}, "key_")
        values = _ordered({k: v for k, v in entries.items() if k.startswith("value_")}, "value_")
        return dict(zip(keys, values))
