"""Collection tasks: gather upstream results into a list, tuple, set or dict.

Passing ``[a, b, 3]`` to a task, where ``a`` and ``b`` are tasks, builds a
:class:`List` task whose inputs are ``item_0=a``, ``item_1=b`` and the constant
``item_2=3``, so element order is kept exactly. Built by hand, as in Prefect 0.5.1,
``List().bind(a, b)`` binds ``arg_1=a`` and ``arg_2=b``; ``Dict().bind(keys=[...],
values=[...])`` pairs two lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lockgate.core.task import Task

if TYPE_CHECKING:
    from lockgate.core.flow import Flow

__all__ = ["Dict", "List", "Set", "Tuple"]


def _ordered(values: dict[str, Any]) -> list[Any]:
    """The values in the order of the number ending each key (``item_0``, ``arg_1``, ...)."""
    return [values[k] for k in sorted(values, key=lambda k: int(k.rpartition("_")[2]))]


class _VarArgsCollection(Task):
    """A collection task whose positional ``bind`` arguments are its items, in order."""

    def bind(
        self,
        *args: Any,
        mapped: bool = False,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Bind ``args`` as the items ``arg_1, arg_2, ...`` (and ``kwargs`` by name).

        Returns:
            This task.

        Raises:
            ValueError: when there is no active flow and none is given.
            TypeError: when an item is given twice.
        """
        items = {f"arg_{i}": value for i, value in enumerate(args, start=1)}
        for key, value in kwargs.items():
            if key in items:
                raise TypeError(f"Task '{self.name}' got two values for input {key!r}.")
            items[key] = value
        return super().bind(mapped=mapped, upstream_tasks=upstream_tasks, flow=flow, **items)


class List(_VarArgsCollection):
    """Collect inputs ``item_0, item_1, ...`` (or ``arg_1, arg_2, ...``) into a list, in order."""

    def run(self, **items: Any) -> list[Any]:
        """Return the items as a list ordered by their index."""
        return _ordered(items)


class Tuple(_VarArgsCollection):
    """Collect inputs ``item_0, item_1, ...`` (or ``arg_1, arg_2, ...``) into a tuple, in order."""

    def run(self, **items: Any) -> tuple[Any, ...]:
        """Return the items as a tuple ordered by their index."""
        return tuple(_ordered(items))


class Set(_VarArgsCollection):
    """Collect inputs ``item_0, item_1, ...`` (or ``arg_1, arg_2, ...``) into a set."""

    def run(self, **items: Any) -> set[Any]:
        """Return the items as a set."""
        return set(items.values())


class Dict(Task):
    """Build a dict from ``keys`` and ``values`` lists, or from inputs ``key_i`` / ``value_i``."""

    def run(self, keys: Any = None, values: Any = None, **entries: Any) -> dict[Any, Any]:
        """Return ``dict(zip(keys, values))``, or ``{key_i: value_i}`` in index order.

        Args:
            keys: the keys, in order (with ``values``).
            values: the values, in the same order.
            **entries: ``key_0, value_0, key_1, value_1, ...`` (as a dict literal holding
                tasks is bound).

        Returns:
            The dict.

        Raises:
            ValueError: when ``keys`` and ``values`` differ in length.
        """
        if keys is not None or values is not None:
            keys, values = list(keys or ()), list(values or ())
            if len(keys) != len(values):
                raise ValueError(
                    f"Task '{self.name}' got {len(keys)} key(s) and {len(values)} value(s); "
                    "keys and values must pair up one to one."
                )
            return dict(zip(keys, values))
        pairs = zip(
            _ordered({k: v for k, v in entries.items() if k.startswith("key_")}),
            _ordered({k: v for k, v in entries.items() if k.startswith("value_")}),
        )
        return dict(pairs)
