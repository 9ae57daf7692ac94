"""Moving a call and its outcome between processes, for the process and Dask executors.

The coordinator packs ``fn(*args, **kwargs)`` with cloudpickle (so functions defined in
``__main__`` or inside other functions travel too); the worker runs it and packs the
outcome. Whatever cannot be pickled becomes an :class:`ExecutorError` that names the
object's type, so a bad value fails its task instead of hanging the run.
"""

from __future__ import annotations

import io
import pickle
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from lockgate.engine.executors.base import ExecutorError

__all__ = ["RemoteError", "pack_call", "run_call", "run_packed", "unpack_outcome"]


class RemoteError(Exception):
    """Stands in for an exception raised in a worker that could not be pickled back.

    Carries the original type name, message and traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.traceback_text = traceback_text

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.type_name, str(self).partition(": ")[2], self.traceback_text))


class _RefPickler(cloudpickle.CloudPickler):  # type: ignore[misc]
    """Pickles objects of ``ref_type`` as references into :attr:`refs`, not by value."""

    def __init__(self, file: io.BytesIO, ref_type: type) -> None:
        super().__init__(file, protocol=cloudpickle.DEFAULT_PROTOCOL)
        self.ref_type = ref_type
        self.refs: list[Any] = []

    def persistent_id(self, obj: Any) -> int | None:
        if isinstance(obj, self.ref_type):
            self.refs.append(obj)
            return len(self.refs) - 1
        return None


class _RefUnpickler(pickle.Unpickler):
    """Unpickles the references of :class:`_RefPickler` as the unpacked outcomes' values."""

    def __init__(self, file: io.BytesIO, outcomes: Sequence[bytes]) -> None:
        super().__init__(file)
        self.outcomes = outcomes

    def persistent_load(self, pid: Any) -> Any:
        _ok, value = cloudpickle.loads(self.outcomes[pid])
        return value


def pack_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    ref_type: type | None = None,
) -> tuple[bytes, list[Any]]:
    """Pickle a call to send it to a worker.

    Args:
        fn: the function to call.
        args: its positional arguments.
        kwargs: its keyword arguments.
        ref_type: objects of this type inside the arguments are not pickled but
            returned in the list; the worker must be given, in the same order, the
            packed outcome (see :func:`run_call`) each stands for.

    Returns:
        The payload, and the references found in it.

    Raises:
        ExecutorError: naming the type of the first argument that cannot be pickled.
    """
    try:
        if ref_type is None:
            return cloudpickle.dumps((fn, args, kwargs)), []
        buffer = io.BytesIO()
        pickler = _RefPickler(buffer, ref_type)
        pickler.dump((fn, args, kwargs))
        return buffer.getvalue(), pickler.refs
    except Exception as exc:
        culprit = _first_unpicklable((fn, *args, *kwargs.values()))
        raise ExecutorError(
            f"could not send the call to a worker process: a value of type "
            f"{type(culprit).__name__} cannot be pickled ({exc})"
        ) from None


def run_packed(payload: bytes) -> bytes:
    """Run a packed call (in the worker) and pack its outcome: never raises for the call."""
    return run_call(payload)[1]


def run_call(payload: bytes, refs: Sequence[bytes] = ()) -> tuple[bool, bytes]:
    """Run a packed call (in the worker); return whether it succeeded and its packed outcome.

    Args:
        payload: from :func:`pack_call`.
        refs: the packed outcomes of the references :func:`pack_call` returned; each
            reference is replaced by that outcome's value.

    Never raises for the call: its exception is packed as the outcome.
    """
    try:
        if refs:
            fn, args, kwargs = _RefUnpickler(io.BytesIO(payload), refs).load()
        else:
            fn, args, kwargs = cloudpickle.loads(payload)
        outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # the task's failure travels back as a value
        outcome = (False, exc)
    try:
        return outcome[0], cloudpickle.dumps(outcome)
    except Exception as exc:
        ok, value = outcome
        if ok:
            error: BaseException = ExecutorError(
                f"its result, a value of type {type(value).__name__}, cannot be pickled "
                f"to send it back from the worker process ({exc})"
            )
        else:
            error = RemoteError(
                type(value).__name__,
                str(value),
                "".join(traceback.format_exception(value)),
            )
        return False, cloudpickle.dumps((False, error))


def unpack_outcome(data: bytes, sender: str) -> tuple[bool, Any]:
    """The ``(ok, value)`` outcome packed by :func:`run_packed` (in the coordinator).

    Args:
        data: the bytes the worker sent back.
        sender: who sent them, for the message (e.g. "the worker process").

    Returns:
        ``(True, value)``, ``(False, exception)``, or ``(False, ExecutorError)`` when
        the bytes cannot be unpickled here (a class the coordinator cannot import).
    """
    try:
        ok, value = cloudpickle.loads(data)
    except Exception as exc:
        return False, ExecutorError(
            f"its outcome, sent back by {sender}, could not be unpickled "
            f"({type(exc).__name__}: {exc})"
        )
    return bool(ok), value


def _first_unpicklable(values: tuple[Any, ...]) -> Any:
    for value in values:
        items = value.values() if isinstance(value, dict) else [value]
        for item in items:
            try:
                cloudpickle.dumps(item)
            except Exception:
                return item
    return values[0] if values else None
