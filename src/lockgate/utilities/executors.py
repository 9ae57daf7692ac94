"""Running a call with a time limit, and calling a function at an interval.

Three ways to give a call a time limit, each raising
:class:`~lockgate.engine.executors.base.TaskTimeoutError` (a ``TimeoutError``) when it
runs past ``timeout`` seconds, and each calling ``fn`` directly, with no overhead,
when ``timeout`` is None:

========================  =======================================  =================
helper                    how                                      the late call
========================  =======================================  =================
``thread_timeout``        in a daemon thread, joined with a limit  runs on (soft)
``main_thread_timeout``   in this thread, interrupted by SIGALRM   interrupted
``multiprocessing_timeout``  in a child process, joined with a limit  killed (hard)
========================  =======================================  =================

``thread_timeout`` is what :meth:`Executor.timeout_handler
<lockgate.engine.executors.base.Executor.timeout_handler>` uses; the scheduling loop
enforces ``Task(timeout=...)`` itself (see ``docs/executors.md``), so these are for
code that calls a function with a limit outside a flow run.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from contextvars import copy_context
from types import FrameType
from typing import Any, TypeVar

from lockgate.engine.executors.base import TaskTimeoutError

__all__ = [
    "Heartbeat",
    "main_thread_timeout",
    "multiprocessing_timeout",
    "run_with_heartbeat",
    "thread_timeout",
]

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL = 30.0
"""Seconds between heartbeats when the configuration names none."""

R = TypeVar("R")


def _timed_out(timeout: float) -> TaskTimeoutError:
    return TaskTimeoutError(f"The call did not finish within its timeout of {timeout} s.")


def thread_timeout(
    fn: Callable[..., R], *args: Any, timeout: float | None = None, **kwargs: Any
) -> R:
    """Call ``fn(*args, **kwargs)`` in a daemon thread; give up after ``timeout`` seconds.

    A *soft* limit: a thread cannot be stopped, so a late call is abandoned and runs on
    until it returns; its outcome is thrown away. The thread sees this thread's
    context (``lockgate.context``).

    Args:
        fn: the function to call.
        *args: its positional arguments.
        timeout: seconds to wait; None calls ``fn`` here, without a thread.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returned.

    Raises:
        TaskTimeoutError: when ``fn`` did not return in time.
        Exception: whatever ``fn`` raised.
    """
    if timeout is None:
        return fn(*args, **kwargs)
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, fn(*args, **kwargs)))
        except BaseException as exc:  # delivered to the caller below
            outcome.append((False, exc))

    thread = threading.Thread(
        target=copy_context().run, args=(target,), daemon=True, name="lockgate-timeout"
    )
    thread.start()
    thread.join(timeout)
    if thread.is_alive() or not outcome:
        raise _timed_out(timeout)
    ok, value = outcome[0]
    if not ok:
        raise value
    result: R = value
    return result


def main_thread_timeout(
    fn: Callable[..., R], *args: Any, timeout: float | None = None, **kwargs: Any
) -> R:
    """Call ``fn(*args, **kwargs)`` in this thread and interrupt it after ``timeout`` seconds.

    In the main thread, a ``SIGALRM`` timer raises the timeout inside ``fn``, so a late
    call really stops (between two Python bytecodes: a long call into C code is
    interrupted when it returns). The previous ``SIGALRM`` handler is put back
    afterwards. Signals reach only the main thread, so elsewhere (and on platforms
    without ``SIGALRM``) this falls back to :func:`thread_timeout`.

    Args:
        fn: the function to call.
        *args: its positional arguments.
        timeout: seconds to allow (fractions allowed); None calls ``fn`` directly.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returned.

    Raises:
        TaskTimeoutError: when ``fn`` ran past ``timeout``.
        Exception: whatever ``fn`` raised.
    """
    if timeout is None:
        return fn(*args, **kwargs)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        return thread_timeout(fn, *args, timeout=timeout, **kwargs)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise _timed_out(timeout)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def multiprocessing_timeout(
    fn: Callable[..., R], *args: Any, timeout: float | None = None, **kwargs: Any
) -> R:
    """Call ``fn(*args, **kwargs)`` in a child process; kill it after ``timeout`` seconds.

    A *hard* limit: the child is killed at the deadline. The child is a
    ``multiprocessing.Process`` started with this program's start method (see
    ``multiprocessing.set_start_method``; prefer ``"forkserver"`` in a program that
    runs threads, as :class:`~lockgate.engine.executors.ProcessExecutor` does). The
    call travels with cloudpickle, so lambdas and closures are fine under every start
    method, but ``fn``, its arguments, its result and its exception must pickle.
    ``fn`` may start processes of its own.

    Args:
        fn: the function to call.
        *args: its positional arguments.
        timeout: seconds to allow; None calls ``fn`` here, without a process.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returned.

    Raises:
        TaskTimeoutError: when ``fn`` ran past ``timeout`` (the child is killed).
        ExecutorError: when the call or its outcome cannot be pickled, or the child
            died without an outcome.
        Exception: whatever ``fn`` raised.
    """
    if timeout is None:
        return fn(*args, **kwargs)
    from lockgate.engine.executors._shipping import pack_call, unpack_outcome
    from lockgate.engine.executors.base import WorkerLostError

    payload, _ = pack_call(fn, args, kwargs)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(
        target=_run_in_child, args=(payload, sender), daemon=False, name="lockgate-timeout"
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise _timed_out(timeout)
        try:
            data = receiver.recv_bytes()
        except EOFError:
            raise WorkerLostError(
                f"the process running the call died without an outcome (exit code {child.exitcode})"
            ) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    ok, value = unpack_outcome(data, "the child process")
    if not ok:
        raise value
    result: R = value
    return result


def _run_in_child(payload: bytes, sender: Any) -> None:
    from lockgate.engine.executors._shipping import run_packed

    sender.send_bytes(run_packed(payload))
    sender.close()


class Heartbeat(threading.Timer):
    """A timer thread that calls ``function(*args, **kwargs)`` every ``interval`` seconds.

    The first call comes one interval after :meth:`start`; :meth:`cancel` stops it
    (a call under way finishes). Unlike :class:`threading.Timer`, it repeats.

    Args:
        interval: seconds between calls.
        function: what to call.
        args: its positional arguments.
        kwargs: its keyword arguments.
    """

    def run(self) -> None:
        """Call the function every interval until cancelled."""
        while not self.finished.wait(self.interval):
            self.function(*self.args, **self.kwargs)


def run_with_heartbeat(method: Callable[..., R]) -> Callable[..., R]:
    """Decorate a runner method so that ``self._heartbeat()`` is called while it runs.

    The heartbeat is called once when the method starts, then every
    ``config.cloud.heartbeat_interval`` seconds (30 when unset) from a daemon thread,
    until the method returns. A heartbeat that raises is logged and never stops the
    method.

    Args:
        method: a method of an object with a ``_heartbeat()`` method.

    Returns:
        The decorated method.
    """

    @functools.wraps(method)
    def with_heartbeat(self: Any, *args: Any, **kwargs: Any) -> R:
        def beat() -> None:
            try:
                self._heartbeat()
            except Exception:
                logger.warning("Heartbeat of %r failed", self, exc_info=True)

        beat()
        timer = Heartbeat(_heartbeat_interval(), beat)
        timer.daemon = True
        timer.start()
        try:
            return method(self, *args, **kwargs)
        finally:
            timer.cancel()

    return with_heartbeat


def _heartbeat_interval() -> float:
    try:
        import lockgate

        interval = lockgate.config.cloud.heartbeat_interval
    except (AttributeError, ImportError, KeyError):
        return DEFAULT_HEARTBEAT_INTERVAL
    return float(interval)
