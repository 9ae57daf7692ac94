"""Signals: exceptions that carry a state.

Raise a signal from task code, from a trigger or from a state handler to set the
task's state directly::

    from lockgate.engine import signals

    @task
    def fetch():
        if not ready():
            raise signals.RETRY("Upstream not ready yet.")
        raise signals.SUCCESS("Done early.", result=42)

``SIGNAL(message, *args, **kwargs)`` builds ``SIGNAL.state = StateClass(message,
*args, **kwargs)``; the state's ``result`` is the signal itself unless you pass
``result=``. Keyword arguments the state does not accept raise ``TypeError``.

Every signal is a :class:`~lockgate.utilities.exceptions.PrefectError` (as in Prefect
0.5.1; also importable from here), so ``except PrefectError`` catches them all. :class:`ENDRUN` is not a signal for user code: the
runners raise it to end a run early (it is defined here so that
``lockgate.engine.runner``, ``task_runner`` and ``flow_runner`` share one class).
"""

from __future__ import annotations

from typing import Any

from lockgate.engine import state
from lockgate.utilities.exceptions import PrefectError

__all__ = [
    "ENDRUN",
    "FAIL",
    "PAUSE",
    "RETRY",
    "SKIP",
    "SUCCESS",
    "TRIGGERFAIL",
    "LockgateSignal",
    "PrefectError",
    "PrefectStateSignal",
    "StateSignal",
]


class LockgateSignal(BaseException):
    """Root of lockgate's own control-flow exceptions (not for user code to catch)."""


class PrefectStateSignal(PrefectError):
    """An exception that carries a state (named as in Prefect so ports keep working).

    Args:
        message: a message for the signal and its state.
        *args: more positional arguments for the state's constructor.
        **kwargs: keyword arguments for the state's constructor, e.g. ``result=`` or,
            for RETRY, ``start_time=`` and ``run_count=``.

    Raises:
        TypeError: when the state does not accept one of the keyword arguments.
    """

    _state_cls: type[state.State] = state.State

    def __init__(self, message: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(message)
        kwargs.setdefault("result", self)
        try:
            self.state: state.State = self._state_cls(message, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"{type(self).__name__}(...) passes its arguments to "
                f"{self._state_cls.__name__}, which refused them: {exc}"
            ) from None

    def __reduce__(self) -> tuple[Any, ...]:
        # The state refers back to this signal (its result); returning the state as the
        # third item lets pickle memoize the signal before it restores that cycle.
        return (_new_signal, (type(self), self.args), self.__dict__)


def _new_signal(cls: type[PrefectStateSignal], args: tuple[Any, ...]) -> PrefectStateSignal:
    signal = cls.__new__(cls)
    Exception.__init__(signal, *args)
    return signal


StateSignal = PrefectStateSignal


class FAIL(PrefectStateSignal):
    """The task failed; it is retried like any failure. State: ``Failed``."""

    _state_cls = state.Failed


class TRIGGERFAIL(FAIL):
    """The task's trigger failed; never retried. State: ``TriggerFailed``."""

    _state_cls = state.TriggerFailed


class SUCCESS(PrefectStateSignal):
    """The task succeeded (pass ``result=`` to set its value). State: ``Success``."""

    _state_cls = state.Success


class RETRY(PrefectStateSignal):
    """Retry the task, even past ``max_retries``. State: ``Retrying``.

    Accepts ``start_time=`` (when to retry) and ``run_count=``; without them the
    runner fills in ``now + retry_delay`` and the current run count.
    """

    _state_cls = state.Retrying

    def __init__(self, message: Any = None, *args: Any, **kwargs: Any) -> None:
        # Retrying fills start_time with "now" by itself, so remember whether the caller
        # chose one; if not, the runner uses now + the task's retry_delay.
        self.start_time_given = "start_time" in kwargs or len(args) >= 2
        self.run_count_given = "run_count" in kwargs or len(args) >= 4
        super().__init__(message, *args, **kwargs)


class SKIP(PrefectStateSignal):
    """The task was skipped; downstream triggers count it as a success. State: ``Skipped``."""

    _state_cls = state.Skipped


class PAUSE(PrefectStateSignal):
    """Do not run now; wait until someone resumes the task. State: ``Paused``."""

    _state_cls = state.Paused


class ENDRUN(LockgateSignal):
    """Raised inside a runner to stop its pipeline early with ``state`` as the outcome.

    It derives from ``BaseException`` (not ``Exception``), so an ``except Exception``
    in a state handler or a task never swallows it.

    Args:
        state: the state the run ends in; None means ``Pending()`` (nothing happened).
    """

    def __init__(self, state: state.State | None = None) -> None:
        ended = state if state is not None else _pending()
        super().__init__(ended)
        self.state = ended


def _pending() -> state.State:
    return state.Pending()
