"""Moving a call and its outcome between processes, for the process and Dask executors.

The coordinator packs ``fn(*args, **kwargs)`` with cloudpickle (so functions defined in
``__main__`` or inside other functions travel too); the worker runs it and packs the
outcome. Whatever cannot be pickled becomes an :class:`ExecutorError` that names the
object's type, so a bad value fails its task instead of hanging the run.

What the call logs in the worker (``lockgate.context.logger`` at INFO and above, other
loggers at the levels they are enabled for) is kept with the task's context values and
sent back too; :func:`replay_logs` hands each record to the coordinator's loggers, so
a recorded run keeps a worker's task logs as it keeps an inline task's.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from lockgate.engine.executors.base import ExecutorError
from lockgate.engine.hooks import INDEX_ATTR, RAISED_LOGGERS, RUN_ATTR, SLUG_ATTR
from lockgate.utilities import context as ctx

__all__ = [
    "RemoteError",
    "pack_call",
    "replay_logs",
    "run_call",
    "run_packed",
    "run_packed_logged",
    "unpack_message",
    "unpack_outcome",
]

_KEPT = (
    "name",
    "levelno",
    "levelname",
    "pathname",
    "filename",
    "module",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "thread",
    "threadName",
    "process",
    "processName",
)


class _Collector(logging.Handler):
    """On the worker's root logger: keeps the records of the calls running in each thread."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.local = threading.local()

    def handle(self, record: logging.LogRecord) -> bool:
        kept: list[dict[str, Any]] | None = getattr(self.local, "records", None)
        if kept is None:
            return False
        try:
            kept.append(_plain(record))
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does it
        self.handle(record)


_collector: _Collector | None = None
_collector_lock = threading.Lock()


def _start_collecting() -> _Collector:
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = _Collector()
            for name in RAISED_LOGGERS:  # INFO, as while a run is recorded
                logger = logging.getLogger(name)
                if logger.level == logging.NOTSET:
                    logger.setLevel(logging.INFO)
            logging.getLogger().addHandler(_collector)
    _collector.local.records = []
    return _collector


def _plain(record: logging.LogRecord) -> dict[str, Any]:
    """A record as plain values, its message formatted, with the task's context."""
    plain = {key: getattr(record, key, None) for key in _KEPT}
    message = record.getMessage()
    if record.exc_info:
        message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info)).rstrip()}"
    elif record.exc_text:
        message = f"{message}\n{record.exc_text}"
    plain["msg"] = message
    values = ctx.current()
    plain[RUN_ATTR] = values.get("flow_run_id")
    plain[SLUG_ATTR] = values.get("task_slug")
    plain[INDEX_ATTR] = values.get("map_index")
    return plain


def replay_logs(logs: bytes | None) -> None:
    """Hand records a worker sent back to this process's loggers (see the module docstring).

    Args:
        logs: what :func:`run_call` returned for them (None: nothing was logged).
    """
    if not logs:
        return
    try:
        records = pickle.loads(logs)
    except Exception:  # never fail a task for its logs
        logging.getLogger(__name__).exception("could not read a worker's log records")
        return
    here = os.getpid()
    for plain in records:
        if plain["process"] == here:
            continue  # a worker thread of this process: its handlers had it already
        logger = logging.getLogger(plain["name"])
        if logger.isEnabledFor(plain["levelno"]):
            logger.handle(logging.makeLogRecord(plain))


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
    """Run a packed call (in the worker) and pack its outcome: never raises for the call.

    What the call logs is dropped; :func:`run_packed_logged` sends it back too.
    """
    return run_call(payload)[1]


def run_packed_logged(payload: bytes) -> bytes:
    """Run a packed call (in the worker) and pack its outcome and logs in one message.

    Never raises for the call. :func:`unpack_message` reads the message.
    """
    _, data, logs = run_call(payload)
    if logs is None:
        return b"\x00" + data
    return b"\x01" + len(logs).to_bytes(8, "big") + logs + data


def unpack_message(message: bytes, sender: str) -> tuple[bool, Any]:
    """The outcome in a message of :func:`run_packed_logged` (its logs replayed first).

    Args:
        message: the bytes the worker sent back.
        sender: who sent them, for the message of an error.

    Returns:
        As :func:`unpack_outcome`.
    """
    if message[:1] == b"\x01":
        size = int.from_bytes(message[1:9], "big")
        replay_logs(message[9 : 9 + size])
        return unpack_outcome(message[9 + size :], sender)
    return unpack_outcome(message[1:], sender)


def run_call(payload: bytes, refs: Sequence[bytes] = ()) -> tuple[bool, bytes, bytes | None]:
    """Run a packed call (in the worker); return whether it succeeded, its packed
    outcome, and the records it logged (None when it logged nothing).

    Args:
        payload: from :func:`pack_call`.
        refs: the packed outcomes of the references :func:`pack_call` returned; each
            reference is replaced by that outcome's value.

    Never raises for the call: its exception is packed as the outcome.
    """
    collector = _start_collecting()
    try:
        if refs:
            fn, args, kwargs = _RefUnpickler(io.BytesIO(payload), refs).load()
        else:
            fn, args, kwargs = cloudpickle.loads(payload)
        outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # the task's failure travels back as a value
        outcome = (False, exc)
    finally:
        records = collector.local.records
        collector.local.records = None
    logs = pickle.dumps(records) if records else None  # plain values only (_plain)
    ok, data = _pack_outcome(outcome)
    return ok, data, logs


def _pack_outcome(outcome: tuple[bool, Any]) -> tuple[bool, bytes]:
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
