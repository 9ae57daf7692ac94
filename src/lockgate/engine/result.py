"""Results: the value a task produced, and where it was stored.

A state's ``result`` attribute holds the plain value a task returned (or the
:data:`NoResult` singleton when there is none). The classes here describe a value
together with the :class:`~lockgate.engine.result_handlers.ResultHandler` that can
write it somewhere durable and read it back:

* :class:`Result` wraps an in-memory value.
* :class:`SafeResult` wraps the *location* a handler wrote the value to; it is what
  crosses process boundaries and what a run store keeps.
* :data:`NoResult` marks "no value at all", which is different from ``None``.
* :class:`RemoteValue` stands for a value still held where it was computed (a Dask
  worker): a state's ``result`` reads it on first access.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.engine.result_handlers import ResultHandler

__all__ = [
    "NoResult",
    "NoResultType",
    "RemoteValue",
    "Result",
    "ResultInterface",
    "SafeResult",
]


class RemoteValue:
    """A task's result that stays where it was computed until someone reads it.

    Executors that can pass results between workers without the scheduling loop
    seeing them (Dask) hand the loop one of these instead of the value: downstream
    tasks receive the real value on the worker, and the loop fetches it only when
    something in this process reads it (``state.result``, a mapping over it,
    checkpointing, the run's returned states). Subclasses implement :meth:`get`, and
    :meth:`get_many` when fetching many at once is cheaper.
    """

    __slots__ = ()

    def get(self) -> Any:
        """Fetch the value (blocking).

        Raises:
            ExecutorError: when the value is gone (e.g. the cluster closed).
        """
        raise NotImplementedError

    @classmethod
    def get_many(cls, values: Sequence[RemoteValue]) -> list[Any]:
        """Fetch several values of this class; the default fetches them one by one."""
        return [v.get() for v in values]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteValue):
            other = other.get()
        return bool(self.get() == other)

    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling (a run store, a process boundary) carries the value itself.
        return (_identity, (self.get(),))


def _identity(value: Any) -> Any:
    return value


def fetch_values(values: Sequence[RemoteValue]) -> list[Any]:
    """Fetch many remote values, in as few round trips as their classes allow."""
    by_class: dict[type[RemoteValue], list[int]] = {}
    for i, value in enumerate(values):
        by_class.setdefault(type(value), []).append(i)
    out: list[Any] = [None] * len(values)
    for cls, positions in by_class.items():
        for i, got in zip(positions, cls.get_many([values[i] for i in positions])):
            out[i] = got
    return out


class ResultInterface:
    """What every result type offers: a ``value`` and a ``result_handler``."""

    value: Any
    result_handler: ResultHandler | None

    def to_result(self) -> ResultInterface:
        """Return a result whose ``value`` is the real value (reading it if needed)."""
        return self

    def store_safe_value(self) -> SafeResult:
        """Write the value through the handler and return the stored location."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and isinstance(other, ResultInterface)
            and self.value == other.value
            and self.result_handler == other.result_handler
        )

    __hash__ = object.__hash__


class Result(ResultInterface):
    """An in-memory value and the handler that can persist it.

    Args:
        value: the value the task produced.
        result_handler: how to write the value somewhere durable; may be None when
            the value never needs to leave memory.
    """

    def __init__(self, value: Any, result_handler: ResultHandler | None = None) -> None:
        self.value = value
        self.result_handler = result_handler
        self.safe_value: SafeResult | None = None

    def store_safe_value(self) -> SafeResult:
        """Write the value once through the handler and remember where it went.

        Raises:
            ValueError: when the result has no handler to write it with.
        """
        if self.safe_value is None:
            if self.result_handler is None:
                raise ValueError(
                    "This Result has no result_handler, so its value cannot be stored; "
                    "give the task (or flow) a result_handler, e.g. LocalResultHandler()."
                )
            location = self.result_handler.write(self.value)
            self.safe_value = SafeResult(location, self.result_handler)
        return self.safe_value

    def __repr__(self) -> str:
        return f"Result({self.value!r})"


class SafeResult(ResultInterface):
    """A stored value: ``value`` is the location the handler returned.

    Args:
        value: the location (for example a file path) written by ``result_handler``.
        result_handler: the handler that can read the location back.
    """

    def __init__(self, value: Any, result_handler: ResultHandler) -> None:
        self.value = value
        self.result_handler = result_handler

    def to_result(self) -> Result:
        """Read the stored value back into an in-memory :class:`Result`."""
        assert self.result_handler is not None
        result = Result(self.result_handler.read(self.value), self.result_handler)
        result.safe_value = self
        return result

    def store_safe_value(self) -> SafeResult:
        """A stored value is already safe; return it unchanged."""
        return self

    def __repr__(self) -> str:
        return f"SafeResult({self.value!r})"


class NoResultType(SafeResult):
    """The type of :data:`NoResult`; there is exactly one instance."""

    _instance: NoResultType | None = None

    def __new__(cls) -> NoResultType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __init__(self) -> None:
        self.value = None
        self.result_handler = None

    def to_result(self) -> NoResultType:  # type: ignore[override]
        """There is nothing to read back: return :data:`NoResult` itself."""
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickling must give back the singleton, so identity checks keep working.
        return (NoResultType, ())

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NoResult"


NoResult = NoResultType()
"""The singleton meaning "this state carries no value" (unlike ``None``, a real value)."""
