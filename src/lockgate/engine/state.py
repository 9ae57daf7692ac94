"""Task-run and flow-run states.

Every run of a task or a flow is described by a state object. The class tells
*where* the run is (pending, running, finished, ...) and the attributes carry what
goes with it: a human ``message``, the ``result``, the inputs a task had
(``cached_inputs``), a ``start_time`` for scheduled states, and so on::

    State
    ├── Pending            (cached_inputs)
    │   ├── Paused
    │   └── Scheduled      (start_time)
    │       ├── Resume
    │       └── Retrying   (run_count)
    ├── Running
    ├── Finished
    │   ├── Success
    │   │   ├── Cached     (cached_parameters, cached_result_expiration)
    │   │   ├── Mapped     (map_states)
    │   │   └── Skipped
    │   └── Failed
    │       ├── Cancelled
    │       ├── TimedOut
    │       └── TriggerFailed
    └── Submitted, Queued  (meta states wrapping another state)

Predicates are plain ``isinstance`` checks, so ``Skipped().is_successful()`` and
``TriggerFailed().is_failed()`` are both true. Two states are equal when they have
the same class, an equal result and equal data; the message is ignored. States hash
by identity, so a set can hold several equal-looking states (one per upstream task).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from lockgate.engine.executors.remote import RemoteList, RemoteValue, fetched
from lockgate.engine.result import NoResult, Result, ResultInterface
from lockgate.utilities import clock
from lockgate.utilities import context as ctx

__all__ = [
    "Cached",
    "Cancelled",
    "Failed",
    "Finished",
    "Mapped",
    "MetaState",
    "Paused",
    "Pending",
    "Queued",
    "Resume",
    "Retrying",
    "Running",
    "Scheduled",
    "Skipped",
    "State",
    "Submitted",
    "Success",
    "TimedOut",
    "TriggerFailed",
]

_PLAIN_TYPES = (int, float, str, bytes, bool, type(None), type(NoResult))
_pickle_check = threading.local()


def _picklable(value: Any) -> bool:
    """Tell whether ``value`` survives cloudpickle (the widest pickler we use)."""
    if isinstance(value, _PLAIN_TYPES):
        return True
    if getattr(_pickle_check, "active", False):
        # A signal's state points back at the signal: do not check the same cycle twice.
        return True
    import cloudpickle

    _pickle_check.active = True
    try:
        cloudpickle.dumps(value)
        return True
    except Exception:
        return False
    finally:
        _pickle_check.active = False


def _start_time(value: datetime | None) -> datetime:
    """A state's start time: now when not given, else the given time in UTC."""
    return clock.now() if value is None else clock.as_utc(value)


class State:
    """Base class of every state.

    Args:
        message: a human-readable note about the state, or None.
        result: the value the run produced; defaults to the :data:`NoResult` singleton.
            A :class:`~lockgate.engine.result.Result` is unwrapped to its value and kept
            in ``_result`` (see :attr:`_result`).
        cached_inputs: the inputs the task had, kept so that a paused, retried or
            failed task can later run again with the same inputs.
    """

    __slots__ = ("_handled", "_value", "cached_inputs", "message")
    color = "#9e9e9e"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        cached_inputs: dict[str, Any] | None = None,
    ) -> None:
        self.message = message
        if isinstance(result, ResultInterface) and result is not NoResult:
            self._handled: ResultInterface | None = result
            result = result.value
        else:
            self._handled = None
        self._value = result
        self.cached_inputs = cached_inputs

    @property
    def result(self) -> Any:
        """The value the run produced (:data:`NoResult` when there is none).

        A value still held on a Dask worker (:class:`~lockgate.engine.executors.remote.RemoteValue`)
        is fetched on first access and kept; so are the children's values in a
        :class:`Mapped` result list, together.
        """
        value = self._value
        if isinstance(value, RemoteValue):
            value = self._value = value.get()
        elif type(value) is RemoteList:
            value = self._value = fetched(value)
        return value

    @result.setter
    def result(self, value: Any) -> None:
        self._value = value
        self._handled = None

    @property
    def _result(self) -> ResultInterface:
        """The result as a :class:`~lockgate.engine.result.Result` object (Prefect's form).

        The Result (or SafeResult) the state was given, else a Result wrapping the
        value (made on first access and kept), else :data:`NoResult`.
        """
        handled = self._handled
        if handled is not None:
            return handled
        if self._value is NoResult:
            nothing: ResultInterface = NoResult
            return nothing
        handled = self._handled = Result(self.result)
        return handled

    @_result.setter
    def _result(self, value: ResultInterface | None) -> None:
        # None drops the stored form only; a Result object also sets the value.
        if value is None:
            self._handled = None
        elif value is NoResult:
            self._handled = None
            self._value = NoResult
        else:
            self._handled = value
            self._value = value.value

    # -- identity, equality, display -------------------------------------------------
    def _data(self) -> tuple[Any, ...]:
        others = (
            getattr(self, name, None)
            for cls in type(self).__mro__
            for name in getattr(cls, "__slots__", ())
            if name not in ("message", "_handled", "_value")
        )
        return (self.result, *others)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        assert isinstance(other, State)
        try:
            # Tuple equality takes identical fields as equal without calling their ==,
            # so a state equals itself even when its result is an array or a frame.
            return bool(self._data() == other._data())
        except Exception:
            # Two different fields whose == is not a plain bool (arrays, frames): they
            # cannot be told equal, so neither can the states.
            return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self.message is None:
            return f"{type(self).__name__}()"
        return f'{type(self).__name__}("{self.message}")'

    def __copy__(self) -> State:
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(self, name):
                    object.__setattr__(new, name, getattr(self, name))
        return new

    # -- pickling --------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        data = {
            name: getattr(self, name)
            for cls in type(self).__mro__
            for name in getattr(cls, "__slots__", ())
            if hasattr(self, name)
        }
        result = data["_value"] = self.result
        if not _picklable(result):
            data["_value"] = repr(result)
            data["_handled"] = None
            note = (
                f"(the result of type {type(result).__name__} could not be pickled; kept as text)"
            )
            data["message"] = f"{self.message} {note}" if self.message else note
        inputs = data.get("cached_inputs")
        if inputs and not all(_picklable(v) for v in inputs.values()):
            data["cached_inputs"] = {
                k: (v if _picklable(v) else repr(v)) for k, v in inputs.items()
            }
        return data

    def __setstate__(self, data: dict[str, Any]) -> None:
        for name, value in data.items():
            object.__setattr__(self, name, value)  # "result" goes through the property

    def serialize(self) -> dict[str, Any]:
        """A JSON-compatible description of the state (see ``docs/serialization.md``).

        Only a stored result (one written by a result handler) is included.

        Returns:
            The state as :class:`~lockgate.serialization.state.StateSchema` writes it.
        """
        from lockgate.serialization.state import StateSchema

        serialized: dict[str, Any] = StateSchema().dump(self)
        return serialized

    @staticmethod
    def deserialize(json_blob: dict[str, Any]) -> State:
        """Rebuild a state from what :meth:`serialize` wrote.

        A stored result comes back as its value; results and inputs that were not
        stored come back as ``NoResult``.

        Args:
            json_blob: the serialized state (a dict, e.g. from ``json.loads``).

        Returns:
            A state of the class named in ``json_blob``.

        Raises:
            marshmallow.ValidationError: when ``json_blob`` is not a serialized state.
        """
        from lockgate.serialization.state import StateSchema

        loaded: State = StateSchema().load(json_blob)
        return loaded

    # -- predicates ------------------------------------------------------------------
    def is_pending(self) -> bool:
        """True for Pending and its subclasses (Paused, Scheduled, Resume, Retrying)."""
        return isinstance(self, Pending)

    def is_paused(self) -> bool:
        """True for Paused: waiting for someone to approve (resume) the task."""
        return isinstance(self, Paused)

    def is_scheduled(self) -> bool:
        """True for Scheduled and its subclasses (Resume, Retrying)."""
        return isinstance(self, Scheduled)

    def is_retrying(self) -> bool:
        """True for Retrying."""
        return isinstance(self, Retrying)

    def is_running(self) -> bool:
        """True for Running."""
        return isinstance(self, Running)

    def is_finished(self) -> bool:
        """True for Finished and every subclass (Success, Failed and theirs)."""
        return isinstance(self, Finished)

    def is_successful(self) -> bool:
        """True for Success and its subclasses (Cached, Mapped, Skipped)."""
        return isinstance(self, Success)

    def is_failed(self) -> bool:
        """True for Failed and its subclasses (TimedOut, TriggerFailed)."""
        return isinstance(self, Failed)

    def is_skipped(self) -> bool:
        """True for Skipped."""
        return isinstance(self, Skipped)

    def is_cached(self) -> bool:
        """True for Cached."""
        return isinstance(self, Cached)

    def is_mapped(self) -> bool:
        """True for Mapped."""
        return isinstance(self, Mapped)

    def is_meta_state(self) -> bool:
        """True for meta states (Submitted, Queued) that wrap another state."""
        return isinstance(self, MetaState)


# -- pending family ------------------------------------------------------------------
class Pending(State):
    """The run has not started yet."""

    __slots__ = ()
    color = "#d3e0ea"


class Paused(Pending):
    """The task will not run until someone resumes it (see ``manual_only`` and PAUSE)."""

    __slots__ = ()
    color = "#b0bec5"


class Scheduled(Pending):
    """The run may start at ``start_time`` (timezone-aware UTC; defaults to now).

    Args:
        message: see :class:`State`.
        result: see :class:`State`.
        start_time: when the run may start; a naive datetime is read as UTC.
        cached_inputs: see :class:`State`.
    """

    __slots__ = ("start_time",)
    color = "#ffd54f"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        start_time: datetime | None = None,
        cached_inputs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message=message, result=result, cached_inputs=cached_inputs)
        self.start_time = _start_time(start_time)


class Resume(Scheduled):
    """A Paused task that someone approved: it runs, and ``manual_only`` lets it."""

    __slots__ = ()
    color = "#ffe082"


class Retrying(Scheduled):
    """A failed task that will run again at ``start_time``.

    Args:
        message: see :class:`State`.
        result: see :class:`State`.
        start_time: when the retry may start.
        cached_inputs: see :class:`State`.
        run_count: how many times the task has run so far; defaults to the run's
            ``task_run_count`` in ``lockgate.context`` (1 outside a task run).
    """

    __slots__ = ("run_count",)
    color = "#ffb74d"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        start_time: datetime | None = None,
        cached_inputs: dict[str, Any] | None = None,
        run_count: int | None = None,
    ) -> None:
        super().__init__(
            message=message, result=result, start_time=start_time, cached_inputs=cached_inputs
        )
        if run_count is None:
            run_count = ctx.current().get("task_run_count", 1)
        self.run_count: int = run_count


# -- running -------------------------------------------------------------------------
class Running(State):
    """The run is in progress."""

    __slots__ = ()
    color = "#4fc3f7"


# -- finished family -----------------------------------------------------------------
class Finished(State):
    """The run is over (base of Success and Failed)."""

    __slots__ = ()
    color = "#90a4ae"


class Success(Finished):
    """The run succeeded; ``result`` holds what it returned."""

    __slots__ = ()
    color = "#43a047"


class Cached(Success):
    """A successful result that may be reused until it expires.

    Args:
        message: see :class:`State`.
        result: the cached value.
        cached_inputs: the inputs the value was computed from.
        cached_parameters: the flow parameters in force when it was computed.
        cached_result_expiration: when the cache stops being valid (UTC), or None
            for never.
    """

    __slots__ = ("cached_parameters", "cached_result_expiration")
    color = "#66bb6a"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        cached_inputs: dict[str, Any] | None = None,
        cached_parameters: dict[str, Any] | None = None,
        cached_result_expiration: datetime | None = None,
    ) -> None:
        super().__init__(message=message, result=result, cached_inputs=cached_inputs)
        self.cached_parameters = cached_parameters
        self.cached_result_expiration = (
            None if cached_result_expiration is None else clock.as_utc(cached_result_expiration)
        )


class Mapped(Success):
    """A mapped task: one child run per mapped item, in ``map_states``.

    Args:
        message: see :class:`State`.
        result: the list of the children's results (filled in when omitted).
        map_states: the state of each child, in map-index order (None for a child
            that has no state yet: it starts Pending when the task runs again).
    """

    __slots__ = ("map_states",)
    color = "#7cb342"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        map_states: list[State] | None = None,
        cached_inputs: dict[str, Any] | None = None,
    ) -> None:
        self.map_states: list[State] = list(map_states) if map_states else []
        if result is NoResult and map_states is not None:
            # The children's values as they are: those still on Dask workers are
            # fetched together when ``result`` is first read.
            values = [NoResult if s is None else s._value for s in self.map_states]
            if any(isinstance(v, RemoteValue) for v in values):
                values = RemoteList(values)
            result = values
        super().__init__(message=message, result=result, cached_inputs=cached_inputs)


class Skipped(Success):
    """The task did not run but counts as a success for downstream triggers."""

    __slots__ = ()
    color = "#b2dfdb"


class Failed(Finished):
    """The run failed; ``result`` usually holds the exception."""

    __slots__ = ()
    color = "#e53935"


class Cancelled(Failed):
    """Someone cancelled the flow run while this task ran (or the run itself).

    A task stopped this way is not retried. Tasks that had not started when the run
    was cancelled keep their state (usually Pending); restarting the run reruns both.
    """

    __slots__ = ()
    color = "#8d6e63"


class TimedOut(Failed):
    """The task ran past its ``timeout`` and was stopped or abandoned."""

    __slots__ = ()
    color = "#ff7043"


class TriggerFailed(Failed):
    """The task did not run because its trigger said no; never retried."""

    __slots__ = ()
    color = "#c62828"


# -- meta states -----------------------------------------------------------------------
class MetaState(State):
    """A state that wraps another one, e.g. while an executor holds the task.

    Args:
        message: see :class:`State`.
        result: see :class:`State`.
        state: the wrapped state, unwrapped again when the task runs.
    """

    __slots__ = ("state",)
    color = "#e0e0e0"

    def __init__(
        self,
        message: str | None = None,
        result: Any = NoResult,
        state: State | None = None,
    ) -> None:
        super().__init__(message=message, result=result)
        self.state = state


_MetaState = MetaState
"""Prefect 0.5.1's name for :class:`MetaState`."""


class Submitted(MetaState):
    """The task was handed to an executor and is waiting for a worker."""

    __slots__ = ()
    color = "#cfd8dc"


class Queued(MetaState):
    """The task could not start yet (e.g. no resource free) and waits to be tried again.

    Args:
        message: see :class:`State`.
        result: see :class:`State`.
        state: the wrapped state.
    """

    __slots__ = ()
    color = "#bcaaa4"


def is_done(state: State) -> bool:
    """Finished for good: a Finished state, and for a Mapped one every child done too.

    A Mapped state is a Success as soon as its children are submitted, but a Paused or
    Retrying child means the mapped task still has work to do.
    """
    if type(state) is Success:  # the common case, once per upstream of every task
        return True
    if isinstance(state, Mapped):
        return all(is_done(c) for c in state.map_states)
    return isinstance(state, Finished)
