"""Turn stored task run rows back into engine states (for resume and restart)."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Row

from lockgate.engine import state as states
from lockgate.engine.result import Result
from lockgate.engine.state_lookup import state_class
from lockgate.store.results import INLINE_HANDLER_NAME, InlineResultHandler

__all__ = ["INLINE_LOCATION", "read_inputs", "read_value", "rebuild"]

INLINE_LOCATION = "(in the store)"
"""The ``*_location`` text of a value kept in the store row itself."""

_RERUN = "{what}; the task will run again."


def read_value(handler_name: str | None, blob: bytes | None) -> Result:
    """Read a stored result back as a :class:`~lockgate.engine.result.Result`.

    Args:
        handler_name: the row's ``result_handler``.
        blob: the inline pickle (for :class:`InlineResultHandler`), else a pickled
            :class:`~lockgate.engine.result.SafeResult` (location and handler).

    Raises:
        LookupError: nothing was stored.
        Exception: whatever the handler raises when the location cannot be read.
    """
    if blob is None:
        raise LookupError("its result was not stored")
    if handler_name == INLINE_HANDLER_NAME:
        handler = InlineResultHandler()
        result = Result(handler.read(blob), handler)
        return result
    safe = pickle.loads(blob)
    out: Result = safe.to_result()
    return out


def read_inputs(location: str | None, blob: bytes | None) -> dict[str, Any] | None:
    """Read stored cached inputs back (None when none were stored or they are gone)."""
    if blob is None:
        return None
    try:
        if location == INLINE_LOCATION:
            value = pickle.loads(blob)
        else:
            value = pickle.loads(blob).to_result().value
    except Exception:
        return None
    return value if isinstance(value, dict) else None


def _time(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def one(row: Row[Any]) -> states.State:
    """The state of one stored task run row (a task or one mapped child)."""
    name = row.state
    cls = state_class(name)
    inputs = read_inputs(row.cached_inputs_location, row.cached_inputs_blob)
    message = row.message
    if cls is None:
        return states.Pending(
            f"Stored state {name!r} is unknown; ready to run.", cached_inputs=inputs
        )
    if cls in (states.Success, states.Cached):
        try:
            result = read_value(row.result_handler, row.result_blob)
        except Exception as exc:
            why = f"Its stored result cannot be read back ({exc})"
            return states.Pending(_RERUN.format(what=why), cached_inputs=inputs)
        return cls(message, result=result)
    if cls is states.Retrying:
        return states.Retrying(
            message,
            start_time=_time(row.scheduled_time),
            cached_inputs=inputs,
            run_count=row.run_count,
        )
    if cls in (states.Scheduled, states.Resume):
        return cls(message, start_time=_time(row.scheduled_time), cached_inputs=inputs)
    if issubclass(cls, states.Failed) or cls in (states.Paused, states.Skipped):
        return cls(message, cached_inputs=inputs)
    # Pending, Running, meta states, a Mapped child: unfinished, so run it again.
    return states.Pending(message if cls is states.Pending else None, cached_inputs=inputs)


def rebuild(parent: Row[Any] | None, children: list[Row[Any]]) -> states.State:
    """The state of a task from its own row and its mapped children's rows.

    A task with child rows becomes ``Mapped`` with one state per child (missing
    children are ``Pending``), even when the parent never reached Mapped (a crash
    mid-map): the engine maps it again and runs only the unfinished children.
    """
    if children:
        by_index = {r.map_index: r for r in children}
        count = max(by_index) + 1
        map_states = [one(by_index[i]) if i in by_index else states.Pending() for i in range(count)]
        message = parent.message if parent is not None and parent.state == "Mapped" else None
        return states.Mapped(message, map_states=map_states)
    if parent is None:
        return states.Pending()
    if parent.state == "Mapped":
        return states.Mapped(parent.message, map_states=[])
    return one(parent)
