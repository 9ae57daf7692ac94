"""Ctrl-C during a flow run cancels it, as ``lockgate cancel`` does.

While a flow runs in the main thread, :class:`CtrlC` replaces Python's SIGINT handler
(only when it is Python's default one: a program's own handler is left alone):

* the first Ctrl-C sets the run's cancel event: nothing else starts; calls on an
  executor with hard timeouts (processes, Dask) are stopped as by any cancel and end
  ``Cancelled``; calls it cannot stop (threads) are waited for and keep their real
  outcome (a finished task is ``Success``, and so never runs again on ``restart``);
  task code running inline is interrupted
  (:class:`~lockgate.engine.executors.base.RunInterrupted`) and ends ``Cancelled``;
* a second Ctrl-C stops waiting: the calls still running end ``Cancelled``;
* a third raises ``KeyboardInterrupt``: the calls in flight still end ``Cancelled``
  and the run is recorded ``Cancelled`` before it propagates.

The run then ends ``Cancelled`` and is recorded as such, restartable like any
cancelled run.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from lockgate.engine.executors.base import RunInterrupted

__all__ = ["CtrlC"]


class CtrlC:
    """The SIGINT handler of one flow run (see the module docstring).

    Args:
        cancel: the run's cancel event.

    Attributes:
        presses: how many times Ctrl-C was pressed during the run.
    """

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.presses = 0
        self._previous: Any = None

    @classmethod
    def install(cls, cancel: threading.Event) -> CtrlC | None:
        """Handle Ctrl-C for a run, when this is the main thread and nobody else does.

        Args:
            cancel: the run's cancel event.

        Returns:
            The installed handler (call :meth:`restore` when the run ends), or None.
        """
        if threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None  # the program's own handler, or an outer run's
        handler = cls(cancel)
        handler._previous = signal.signal(signal.SIGINT, handler)
        return handler

    def restore(self) -> None:
        """Put the previous SIGINT handler back."""
        signal.signal(signal.SIGINT, self._previous)

    @property
    def waiting(self) -> bool:
        """True after the first Ctrl-C: calls that cannot be stopped are waited for."""
        return self.presses == 1

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler.

        Raises:
            RunInterrupted: when task code runs inline in this thread (it ends Cancelled).
            KeyboardInterrupt: on the third Ctrl-C.
        """
        self.presses += 1
        if self.presses > 2:
            raise KeyboardInterrupt
        self.cancel.set()
        if _in_task_code(frame):
            raise RunInterrupted


def _in_task_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs (under) a task's own code, called inline by the loop."""
    from lockgate.engine.scheduler import TASK_CALL_CODES

    while frame is not None:
        if frame.f_code in TASK_CALL_CODES:
            return True
        frame = frame.f_back
    return False
