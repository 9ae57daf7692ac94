"""How a recorded run keeps its tasks' results (and the inputs of tasks that may rerun).

With the store on, every successful task's result is persisted so that a resume or a
restart can hand it to downstream tasks without running the task again:

* a task (or its flow) with a ``result_handler`` stores it through that handler;
* otherwise the value is pickled on the task's path (so a value that cannot be
  stored fails the task at once, naming the task and the type), and

  - a small pickle (up to :data:`INLINE_LIMIT` bytes) is kept in the store's own row,
    through :class:`InlineResultHandler` (its "location" is the pickle itself, as a
    :class:`~lockgate.engine.result_handlers.JSONResultHandler` location is the JSON);
  - a larger one is written as a file under ``<home>/results/<run id>/`` in the
    :class:`~lockgate.engine.result_handlers.LocalResultHandler` format.

A file per tiny result would cost more than running the task (an open, a write and an
fsync per task); keeping small pickles in the batched store rows keeps the store's cost
per task to a few microseconds.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from lockgate.engine.result_handlers import LocalResultHandler, ResultHandler

__all__ = [
    "INLINE_LIMIT",
    "InlineResultHandler",
    "UnstorableResultError",
    "dumps",
    "qualified_name",
    "write_file",
]

INLINE_LIMIT = 16 * 1024
"""Pickles up to this many bytes are kept in the store row; larger ones go to files."""


class UnstorableResultError(TypeError):
    """A value could not be pickled for the run store."""


class InlineResultHandler(ResultHandler):
    """A handler whose location is the pickled value itself (kept in the store row)."""

    def write(self, result: Any) -> bytes:
        """Pickle ``result`` and return the bytes (the "location").

        Raises:
            UnstorableResultError: when ``result`` cannot be pickled (names its type).
        """
        return dumps(result)

    def read(self, loc: bytes) -> Any:
        """Unpickle the bytes ``loc``."""
        return pickle.loads(loc)

    def __repr__(self) -> str:
        return "InlineResultHandler()"


def dumps(value: Any) -> bytes:
    """Pickle ``value`` with the standard pickler, else with cloudpickle.

    Both give bytes that ``pickle.loads`` reads back (as LocalResultHandler does).

    Raises:
        UnstorableResultError: when neither can pickle it; names the type and the cause.
    """
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    import cloudpickle

    try:
        data: bytes = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnstorableResultError(
            f"a value of type {type(value).__name__} cannot be pickled ({exc})"
        ) from exc
    return data


def write_file(directory: Path, data: bytes) -> str:
    """Write already-pickled ``data`` as a LocalResultHandler file in ``directory``.

    Returns:
        The file's path (readable with ``LocalResultHandler(directory).read(path)``).
    """
    return file_handler(directory).write_pickled(data)


def file_handler(directory: Path) -> LocalResultHandler:
    """The LocalResultHandler that reads files written by :func:`write_file`."""
    return LocalResultHandler(directory)


def qualified_name(obj: object) -> str:
    """``module.Class`` of ``obj``'s type."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


INLINE_HANDLER_NAME = qualified_name(InlineResultHandler())
"""What ``TaskRunRecord.result_handler`` says for a result kept in the store row."""
