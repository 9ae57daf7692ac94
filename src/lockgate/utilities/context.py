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

__all__ = ["Context", "context"]

_EMPTY: dict[str, Any] = {}
_values: ContextVar[dict[str, Any]] = ContextVar("lockgate_context", default=_EMPTY)


class Context(Mapping[str, Any]):
    """The run context. Use the module-level :data:`context` instance."""

    def __call__(self, *mappings: Mapping[str, Any], **values: Any) -> _ContextBlock:
        """Return a ``with`` block that sets ``values`` (and ``mappings``) inside it."""
        merged: dict[str, Any] = {}
        for mapping in mappings:
            merged.update(mapping)
        merged.update(values)
        return _ContextBlock(merged)

    def __getitem__(self, key: str) -> Any:
        values = _values.get()
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

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "lockgate.context is read-only; set values for a block with "
            f"`with lockgate.context({name}=...):`"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(_values.get())

    def __len__(self) -> int:
        return len(_values.get())

    def __contains__(self, key: object) -> bool:
        return key in _values.get()

    def to_dict(self) -> dict[str, Any]:
        """Return a plain copy of everything currently set."""
        return dict(_values.get())

    def __repr__(self) -> str:
        return f"<lockgate.context {sorted(_values.get())}>"


class _ContextBlock:
    """One ``with lockgate.context(...)`` block."""

    __slots__ = ("_tokens", "_values")

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self._tokens: list[Token[dict[str, Any]]] = []

    def __enter__(self) -> Context:
        current = _values.get()
        self._tokens.append(_values.set({**current, **self._values} if current else self._values))
        return context

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _values.reset(self._tokens.pop())


def _default_logger(values: Mapping[str, Any]) -> logging.Logger:
    # Built on first use only: creating a logger per task would cost time and memory.
    if values.get("task_name") is not None:
        return logging.getLogger(f"lockgate.task.{values['task_name']}")
    if values.get("flow_name") is not None:
        return logging.getLogger(f"lockgate.flow.{values['flow_name']}")
    return logging.getLogger("lockgate")


def set_values(values: dict[str, Any]) -> Token[dict[str, Any]]:
    """Replace the whole context with ``values`` (engine use; pair with :func:`reset`)."""
    return _values.set(values)


def reset(token: Token[dict[str, Any]]) -> None:
    """Undo :func:`set_values`."""
    _values.reset(token)


def current() -> dict[str, Any]:
    """The current context dict itself (engine use; never mutate it)."""
    return _values.get()


context = Context()
"""The run context (see the module docstring)."""
