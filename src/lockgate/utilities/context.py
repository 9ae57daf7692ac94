"""The run context: values every task of a run can read.

``lockgate.context`` is a mapping backed by a :class:`contextvars.ContextVar`, so it
follows a task into threads, and executors ship it to processes and Dask workers.
Read it like a dict or by attribute; set values for a block with ``with``::

    import lockgate

    with lockgate.context(run_label="nightly"):
        flow.run()

    @task
    def where_am_i():
        return lockgate.context.task_full_name, lockgate.context.get("map_index")

During a run it holds ``flow_name``, ``parameters``, ``scheduled_start_time``,
``date``, ``today``, ``yesterday``, ``tomorrow`` (and ``*_nodash`` forms),
``task_name``, ``task_slug``, ``task_full_name``, ``map_index``,
``task_run_count``, ``resume`` (when resuming) and ``logger``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from lockgate.configuration import config
from lockgate.utilities.collections import DotDict

__all__ = ["Context", "context"]


class Context(DotDict):
    """A context: a :class:`~lockgate.utilities.collections.DotDict` whose contents
    belong to the current :mod:`contextvars` context.

    Use the module-level :data:`context` instance (``lockgate.context``). Values set
    in a ``with`` block last until the block ends; values assigned directly
    (``lockgate.context.x = 1``, ``update``, ``setdefault``, ``del``) last until the
    enclosing block ends, and never reach other threads or runs that are already going.
    Anything in the ``[context]`` section of the settings (for example
    ``[context.secrets]`` in your config file) is there from the start.

    Args:
        *args: mappings of initial values.
        **kwargs: further initial values.
    """

    def __init__(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        initial: dict[str, Any] = {}
        configured = config.get("context") if isinstance(config, Mapping) else None
        if isinstance(configured, Mapping):
            initial.update(configured)
        for mapping in args:
            initial.update(mapping)
        initial.update(kwargs)
        object.__setattr__(self, "_var", ContextVar("lockgate_context", default=initial))

    def __call__(self, *mappings: Mapping[str, Any], **values: Any) -> _ContextBlock:
        """Return a ``with`` block that sets ``values`` (and ``mappings``) inside it.

        Args:
            *mappings: mappings of values; later ones win.
            **values: values by name; they win over ``mappings``.

        Returns:
            The block; entering it returns this context.
        """
        merged: dict[str, Any] = {}
        for mapping in mappings:
            merged.update(mapping)
        merged.update(values)
        return _ContextBlock(self, merged)

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = self._var.get()
        return values

    def _replace(self, values: dict[str, Any]) -> None:
        # Copy on write: a dict already handed to another thread or task is never changed.
        self._var.set(values)

    def __getitem__(self, key: Any) -> Any:
        values = self._values()
        if key in values:
            return values[key]
        if key == "logger":
            return _default_logger(values)
        raise KeyError(key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"lockgate.context has no value named {name!r}; "
                f"use lockgate.context.get({name!r}) to get None instead of an error."
            ) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._replace({**self._values(), key: value})

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delitem__(self, key: Any) -> None:
        values = dict(self._values())
        del values[key]
        self._replace(values)

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"lockgate.context has no value named {name!r}") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._values()))

    def __len__(self) -> int:
        return len(self._values())

    def __contains__(self, key: object) -> bool:
        return key in self._values()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several values at once, like ``dict.update``.

        Args:
            *args: at most one mapping or iterable of key/value pairs.
            **kwargs: values by name.
        """
        self._replace({**self._values(), **dict(*args, **kwargs)})

    def clear(self) -> None:
        """Remove every value (until the enclosing block ends)."""
        self._replace({})

    def copy(self) -> DotDict:
        """Return a snapshot of the current values as a plain ``DotDict``.

        Returns:
            The snapshot; changing it does not change the context.
        """
        return DotDict(self._values())

    def to_dict(self) -> dict[str, Any]:
        """Return a plain copy of everything currently set.

        Returns:
            A new ``dict``.
        """
        return dict(self._values())

    def __repr__(self) -> str:
        return f"<lockgate.context {sorted(self._values())}>"

    def __reduce__(self) -> Any:
        # lockgate.context itself unpickles as the receiving process's lockgate.context
        # (whose values the executor ships separately); another instance as a new
        # Context holding a snapshot of its values (a ContextVar cannot be pickled).
        if self is globals().get("context"):
            return "context"
        return (Context, (self.to_dict(),))


class _ContextBlock:
    """One ``with lockgate.context(...)`` block."""

    __slots__ = ("_context", "_tokens", "_values")

    def __init__(self, owner: Context, values: dict[str, Any]) -> None:
        self._context = owner
        self._values = values
        self._tokens: list[Token[dict[str, Any]]] = []

    def __enter__(self) -> Context:
        var = self._context._var
        current = var.get()
        self._tokens.append(var.set({**current, **self._values} if current else self._values))
        return self._context

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._context._var.reset(self._tokens.pop())


def _default_logger(values: Mapping[str, Any]) -> logging.Logger:
    # Built on first use only: creating a logger per task would cost time and memory.
    if values.get("task_name") is not None:
        return logging.getLogger(f"lockgate.task.{values['task_name']}")
    if values.get("flow_name") is not None:
        return logging.getLogger(f"lockgate.flow.{values['flow_name']}")
    return logging.getLogger("lockgate")


context = Context()
"""The run context (see the module docstring)."""

_values: ContextVar[dict[str, Any]] = context._var


def set_values(values: dict[str, Any]) -> Token[dict[str, Any]]:
    """Replace the whole context with ``values`` (engine use; pair with :func:`reset`)."""
    return _values.set(values)


def reset(token: Token[dict[str, Any]]) -> None:
    """Undo :func:`set_values`."""
    _values.reset(token)


def current() -> dict[str, Any]:
    """The current context dict itself (engine use; never mutate it)."""
    return _values.get()
