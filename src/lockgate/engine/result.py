"""Results: the value a task produced, and where it was stored.

A state's ``result`` attribute holds the plain value a task returned (or the
:data:`NoResult` singleton when there is none). The classes here describe a value
together with the :class:`~lockgate.engine.result_handlers.ResultHandler` that can
write it somewhere durable and read it back:

* :class:`Result` wraps an in-memory value.
* :class:`SafeResult` wraps the *location* a handler wrote the value to; it is what
  crosses process boundaries and what a run store keeps.
* :data:`NoResult` marks "no value at all", which is different from ``None``.
* :class:`RemoteValue` (defined with the executors, in
  :mod:`lockgate.engine.executors.remote`) stands for a value still held where it was
  computed (a Dask worker): a state's ``result`` reads it on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.engine.executors.remote import RemoteValue

if TYPE_CHECKING:
    from lockgate.engine.result_handlers import ResultHandler

__all__ = [
    "MissingResultHandlerError",
    "NoResult",
    "NoResultType",
    "RemoteValue",
    "Result",
    "ResultInterface",
    "SafeResult",
]


class ResultInterface:
    """What every result type offers: a ``value``, a ``safe_value`` and a ``result_handler``.

    Two results are equal when they have the same class and equal public attributes
    (value, handler and, for a :class:`Result`, its stored location). They hash by
    identity.
    """

    value: Any
    result_handler: ResultHandler | None

    def to_result(self) -> ResultInterface:
        """Return a result whose ``value`` is the real value (reading it if needed).

        Returns:
            This result; :class:`SafeResult` overrides it to read the stored value.
        """
        return self

    def store_safe_value(self) -> None:
        """Write the value through the handler, if this kind of result needs it."""

    def _public(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        assert isinstance(other, ResultInterface)
        mine, theirs = self._public(), other._public()
        return mine.keys() == theirs.keys() and all(
            _same(value, theirs[key]) for key, value in mine.items()
        )

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.value!r}>"


def _same(a: Any, b: Any) -> bool:
    """``a == b`` as a plain bool (values whose ``==`` is elementwise compare by identity)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


class MissingResultHandlerError(ValueError, AssertionError):
    """A :class:`Result` was asked to store its value but has no result handler.

    It is a ValueError (the result is missing a setting) and, for code written for
    Prefect 0.5.1, an AssertionError.
    """


class Result(ResultInterface):
    """An in-memory value and the handler that can persist it.

    ``safe_value`` starts as :data:`NoResult` and becomes a :class:`SafeResult` (the
    stored location) once :meth:`store_safe_value` has written the value.

    Args:
        value: the value the task produced.
        result_handler: how to write the value somewhere durable; may be None when
            the value never needs to leave memory.
    """

    def __init__(self, value: Any, result_handler: ResultHandler | None = None) -> None:
        self.value = value
        self.safe_value: SafeResult = NoResult
        self.result_handler = result_handler

    def store_safe_value(self) -> None:
        """Write the value through the handler once and keep the location in ``safe_value``.

        A result whose ``safe_value`` is already set is not written again.

        Raises:
            MissingResultHandlerError: when the result has no handler to write with.
        """
        if self.safe_value is not NoResult:
            return
        if self.result_handler is None:
            raise MissingResultHandlerError(
                "This Result has no result_handler, so its value cannot be stored; "
                "give the task (or flow) a result_handler, e.g. LocalResultHandler()."
            )
        location = self.result_handler.write(self.value)
        self.safe_value = SafeResult(location, self.result_handler)


class SafeResult(ResultInterface):
    """A stored value: ``value`` is the location the handler returned.

    Args:
        value: the location (for example a file path) written by ``result_handler``.
        result_handler: the handler that can read the location back.
    """

    def __init__(self, value: Any, result_handler: ResultHandler) -> None:
        self.value = value
        self.result_handler = result_handler

    @property
    def safe_value(self) -> SafeResult:
        """A stored value is its own safe form."""
        return self

    def to_result(self) -> ResultInterface:
        """Read the stored value back into an in-memory :class:`Result`.

        Returns:
            A :class:`Result` holding the value, whose ``safe_value`` is this result.

        Raises:
            ValueError: when the result has no handler to read with.
        """
        if self.result_handler is None:
            raise ValueError(
                f"SafeResult({self.value!r}) has no result_handler, so its value cannot be read."
            )
        result = Result(self.result_handler.read(self.value), self.result_handler)
        result.safe_value = self
        return result


class NoResultType(SafeResult):
    """The type of :data:`NoResult`, the marker for "no value at all".

    There is one instance: calling ``NoResultType()`` returns it. Its ``value`` and
    ``safe_value`` are itself, it is falsy, and it has no ``result_handler``.
    """

    _instance: NoResultType | None = None

    def __new__(cls) -> NoResultType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __init__(self) -> None:
        """Nothing to set: the value is the instance itself."""

    @property
    def value(self) -> NoResultType:
        """The marker itself: there is no value."""
        return self

    @property
    def result_handler(self) -> ResultHandler:  # type: ignore[override]
        """There is none.

        Raises:
            AttributeError: always; nothing was stored, so nothing can read it back.
        """
        raise AttributeError("NoResult has no result_handler: there is no value to read back.")

    def to_result(self) -> NoResultType:
        """There is nothing to read back: return :data:`NoResult` itself."""
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickling must give back the singleton, so identity checks keep working.
        return (NoResultType, ())

    def __eq__(self, other: object) -> bool:
        return type(other) is NoResultType

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<No result>"

    def __str__(self) -> str:
        return "NoResult"


NoResult = NoResultType()
"""The singleton meaning "this state carries no value" (unlike ``None``, a real value)."""
