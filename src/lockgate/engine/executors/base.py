"""The executor interface: *where* a task's code runs. The scheduling loop decides *what*.

The loop (:mod:`lockgate.engine.scheduler`) runs every TaskRunner step itself, in the
calling thread: triggers, state handlers, hooks, caching and retries never leave it.
Only the task's own code, ``task.run(**inputs)``, is handed to an executor with
:meth:`Executor.submit`. So every executor gives the same states for the same flow,
and what crosses a process boundary is exactly: the task, its inputs, the run
context, and the value (or exception) it produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from lockgate.engine.state import State

__all__ = [
    "Done",
    "Executor",
    "ExecutorError",
    "RunCancelledError",
    "RunInterrupted",
    "TaskExitError",
    "TaskTimeoutError",
    "WorkerLostError",
    "task_exit_error",
]


class TaskTimeoutError(TimeoutError):
    """Raised by an executor when a task runs past its ``timeout``.

    A distinct class, so that a ``TimeoutError`` raised by the task's own code (a
    socket timeout, say) stays an ordinary failure rather than a ``TimedOut`` state.
    """


class RunCancelledError(Exception):
    """The outcome the loop gives a call still running when its flow run is cancelled."""


class TaskExitError(Exception):
    """A task's code raised ``SystemExit`` or ``KeyboardInterrupt``.

    Task code cannot end the process running the flow (nor a worker): the exception
    is caught where the code ran and replaced by this one, so the task fails with the
    reason (``SystemExit(0)``, ``KeyboardInterrupt()``) and the run goes on.
    """


def task_exit_error(exc: BaseException) -> TaskExitError:
    """The :class:`TaskExitError` for a ``SystemExit`` or ``KeyboardInterrupt`` of task code.

    Args:
        exc: what the task's code raised.

    Returns:
        The error, its cause set to ``exc`` (so the traceback shows where it came from).
    """
    error = TaskExitError(f"the task's code raised {exc!r}")
    error.__cause__ = exc
    return error


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while a task's code runs inline, in the thread running the flow.

    The flow run raises it (instead of a plain ``KeyboardInterrupt``) only inside task
    code, so the task ends ``Cancelled`` and the run is cancelled; a
    ``KeyboardInterrupt`` the task's code raises itself fails the task
    (:class:`TaskExitError`).
    """


class ExecutorError(Exception):
    """The executor could not run a task's code or bring its outcome back.

    Examples: an input or result that cannot be pickled for another process. The
    message names the object's type; the task runner adds the task's name.
    """


class WorkerLostError(ExecutorError):
    """The process (or Dask worker) running a task's code died before it finished."""


_D = TypeVar("_D", bound="Done")


class Done:
    """A call that finished before :meth:`Executor.submit` returned: a completed future.

    What the inline executors' ``submit`` returns (as dask's synchronous executor
    returns a completed ``concurrent.futures.Future``), without a lock per call.
    Build one with :meth:`of`.

    Args:
        value: what the call returned.
        error: what it raised instead, or None.
    """

    __slots__ = ("_error", "_value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error

    @classmethod
    def of(cls: type[_D], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _D:
        """Call ``fn(*args, **kwargs)`` now and keep what it returned or raised.

        Returns:
            The completed future.
        """
        try:
            return cls(fn(*args, **kwargs))
        except BaseException as exc:  # as a pool thread would: the caller reads it
            return cls(None, exc)

    def done(self) -> bool:
        """Always True: the call has finished."""
        return True

    def cancel(self) -> bool:
        """Always False: a finished call cannot be cancelled."""
        return False

    def cancelled(self) -> bool:
        """Always False."""
        return False

    def result(self, timeout: float | None = None) -> Any:
        """What the call returned.

        Args:
            timeout: ignored (the call has finished).

        Raises:
            BaseException: what the call raised.
        """
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What the call raised, or None.

        Args:
            timeout: ignored (the call has finished).
        """
        return self._error

    def add_done_callback(self, fn: Callable[[Done], Any]) -> None:
        """Call ``fn(self)`` now: the call has finished."""
        fn(self)

    def outcome(self) -> tuple[bool, Any]:
        """``(True, value)`` or ``(False, exception)``: the finished call's outcome."""
        return (True, self._value) if self._error is None else (False, self._error)

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<Done raised {self._error!r}>"
        return f"<Done returned {type(self._value).__name__}>"


class Executor:
    """Base class of executors.

    An executor offers ``start()`` (a context manager around a run), ``submit``,
    ``map`` and ``wait``. ``submit`` always returns a future: one with ``done()`` and
    ``add_done_callback(callback)`` (as :class:`concurrent.futures.Future` has).
    Executors that run the call inline return a completed one (:class:`Done`), and
    the scheduling loop goes straight on when ``done()`` is True; otherwise it keeps
    up to :attr:`capacity` calls in flight and reads finished ones with
    :meth:`outcomes`. Timeouts are the loop's: at a call's deadline it gives up on
    the call (a *soft* timeout) and calls :meth:`stop`, which kills it on executors
    with :attr:`hard_timeouts`. Executors must pickle: only their settings travel,
    never a running pool.
    """

    capacity: int = 1
    """How many calls the scheduling loop may have in flight at once."""

    hard_timeouts: bool = False
    """True when :meth:`stop` really stops a call (it runs in a process we can kill)."""

    @contextmanager
    def start(self) -> Iterator[None]:
        """Set up whatever the executor needs for one flow run, and tear it down."""
        yield

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Start ``fn(*args, **kwargs)`` and return its future.

        Returns:
            A future with ``done()`` and ``add_done_callback``; a completed one
            (:class:`Done`) when the call ran inline.

        Raises:
            NotImplementedError: in the base class.
        """
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], *args: Sequence[Any]) -> list[Any]:
        """Submit ``fn`` once per zipped item of ``args``; return the futures.

        ``map(fn, [1, 2], [10, 20])`` submits ``fn(1, 10)`` and ``fn(2, 20)``; no
        ``args`` submits nothing. Built on :meth:`submit`.

        Raises:
            NotImplementedError: when the executor does not implement :meth:`submit`.
        """
        if type(self).submit is Executor.submit:
            raise NotImplementedError(
                f"{type(self).__name__} implements no submit(), so it cannot map either."
            )
        return [self.submit(fn, *items) for items in zip(*args)]

    def wait(self, futures: Any) -> Any:
        """Block until ``futures`` (one, or a list) are done; return their results."""
        raise NotImplementedError

    def queue(self, maxsize: int = 0) -> Any:
        """A queue that tasks running on this executor can share.

        Args:
            maxsize: the most items it holds; 0 means no limit.

        Returns:
            A queue with ``put`` and ``get``, usable from where this executor runs tasks.

        Raises:
            NotImplementedError: when the executor offers no shared queue.
        """
        raise NotImplementedError(f"{type(self).__name__} offers no shared queue.")

    def outcomes(self, futures: Sequence[Any]) -> list[tuple[bool, Any]]:
        """``(True, value)`` or ``(False, exception)`` for each finished future.

        Never raises for a call's own failure. Executors that can fetch many results
        in one round trip (Dask) override this.
        """
        out: list[tuple[bool, Any]] = []
        for future in futures:
            try:
                out.append((True, self.wait(future)))
            except BaseException as exc:  # KeyboardInterrupt in a worker thread included
                out.append((False, exc))
        return out

    def stop(self, future: Any) -> None:
        """Stop a call that ran past its timeout.

        Executors with :attr:`hard_timeouts` kill it (and replace the process it ran
        in); the others abandon it: it runs on, and its outcome is ignored.
        """

    def stop_all(self, futures: Sequence[Any]) -> None:
        """Stop every call in ``futures`` because the flow run was cancelled.

        The default calls :meth:`stop` for each.
        """
        for future in futures:
            self.stop(future)

    def collect(self, states: Sequence[State]) -> None:
        """Bring back the values ``states`` (and their children) still hold on workers.

        Called on the states a run returns, before :meth:`start` ends. Only an
        executor whose :meth:`outcomes` leave values where they were computed
        (:class:`~lockgate.engine.executors.remote.RemoteValue`, as Dask's do) has
        anything to do; the default does nothing.

        Args:
            states: the states whose results and cached inputs must be plain values.
        """

    def timeout_handler(
        self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Call ``fn`` inline and raise ``TaskTimeoutError`` if it runs past ``timeout`` s.

        Kept for code written against Prefect 0.5.1's executors; a flow run never
        calls it (its timeouts are the scheduling loop's deadlines). This is a *soft*
        timeout (:func:`lockgate.utilities.executors.thread_timeout`): ``fn`` runs in a
        daemon thread that is abandoned (it keeps running until it returns) when time
        is up.

        Raises:
            TaskTimeoutError: when ``fn`` did not return in time.
        """
        if timeout is None:
            return fn(*args, **kwargs)
        from lockgate.utilities.executors import thread_timeout

        return thread_timeout(fn, *args, timeout=timeout, **kwargs)
