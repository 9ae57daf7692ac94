"""ProcessExecutor: run tasks' code in a pool of worker processes that it can kill.

The standard library's ``concurrent.futures.ProcessPoolExecutor`` cannot stop one
call (killing a worker breaks the whole pool), so lockgate keeps its own small pool:

* ``max_workers`` worker processes, each with a pipe to the coordinator. A worker
  receives one packed call at a time (:func:`~lockgate.engine.executors._shipping.pack_call`),
  runs it and sends the packed outcome back.
* ``submit`` sends a call straight to an idle worker; when none is idle the call
  waits in a queue (first in, first out).
* One daemon thread in the coordinator (the *watcher*) waits on every worker's pipe
  and process at once: it settles the futures, hands queued calls to workers as they
  become idle, and replaces a worker that died. A call whose worker died gets
  :class:`~lockgate.engine.executors.base.WorkerLostError`.
* :meth:`ProcessExecutor.stop` kills the worker running a call (a *hard* timeout).

Workers ignore Ctrl-C (the terminal sends SIGINT to the whole process group): the
coordinator gets the ``KeyboardInterrupt`` and leaving ``start()`` kills them. They
also exit on their own when the coordinator dies: each holds the read end of an
"alive" pipe whose only writer is the coordinator, and a watchdog thread exits the
worker when that pipe reports end-of-file (``PR_SET_PDEATHSIG`` would not do: under
the forkserver start method a worker's parent is the fork server, which itself only
exits once every worker has).

POSIX only (Linux, macOS): the watcher waits on pipes and process sentinels together.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from lockgate.engine.executors.base import (
    Executor,
    ExecutorError,
    TaskTimeoutError,
    WorkerLostError,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
    from multiprocessing.process import BaseProcess

__all__ = ["ProcessExecutor"]

_READY = b"ready"  # a worker's first message: it booted and waits for calls
_SHIPPING = "lockgate.engine.executors._shipping"


class ProcessExecutor(Executor):
    """Run up to ``max_workers`` tasks at once, each in a worker process.

    Good for CPU-bound Python code (each worker has its own interpreter and GIL), and
    for code that must be stoppable: timeouts are *hard*, a task past its timeout has
    its worker process killed (and replaced) and ends ``TimedOut``. A task's code, its
    inputs, the run context and its result or exception travel between processes with
    cloudpickle, so functions and classes defined in ``__main__`` or inside other
    functions work; a value that cannot be pickled fails its task with a message that
    names the value's type. A worker that dies in the middle of a call (``os._exit``,
    a segfault, the OOM killer) fails that task with
    :class:`~lockgate.engine.executors.base.WorkerLostError` and is replaced; the run
    goes on.

    The workers are started when a run starts (``with executor.start():``) and killed
    when it ends, also on Ctrl-C or any other exception: no process outlives the run,
    and workers exit by themselves if the coordinating process dies. POSIX only.

    Args:
        max_workers: how many worker processes (default: the number of CPUs,
            ``os.cpu_count()``).
        start_method: how ``multiprocessing`` starts the workers: ``"forkserver"``
            (default), ``"spawn"`` or ``"fork"``. ``"forkserver"`` forks each worker
            from a small single-threaded server process, so it is safe although the
            coordinator runs threads (``"fork"`` copies a multi-threaded process and can
            deadlock in a lock some other thread held) and far cheaper than ``"spawn"``,
            which starts a fresh interpreter per worker. The server is shared, started
            once per coordinating process, and exits with it.

    Raises:
        ValueError: when ``max_workers`` is not a positive integer, or
            ``start_method`` is not a start method this platform offers.
    """

    hard_timeouts = True

    def __init__(self, max_workers: int | None = None, start_method: str = "forkserver") -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise ValueError(
                f"ProcessExecutor(max_workers={max_workers!r}): use a positive integer, "
                "or None for one worker per CPU."
            )
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        if start_method not in methods:
            raise ValueError(
                f"ProcessExecutor(start_method={start_method!r}): use one of "
                f"{', '.join(repr(m) for m in methods)} (the start methods of this platform)."
            )
        self.max_workers: int = max_workers or os.cpu_count() or 1
        self.start_method = start_method
        self.capacity = self.max_workers
        self._pool: _Pool | None = None

    def __repr__(self) -> str:
        return (
            f"ProcessExecutor(max_workers={self.max_workers}, start_method={self.start_method!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "max_workers": self.max_workers,
            "start_method": self.start_method,
            "capacity": self.capacity,
            "_pool": None,
        }

    @contextmanager
    def start(self) -> Iterator[None]:
        """Start the worker processes for one run; on exit, kill and reap them all.

        The workers boot in parallel while the run begins: ``start()`` does not wait
        for them, calls submitted meanwhile queue until a worker is ready. On exit
        (normal, an exception, ``KeyboardInterrupt``) running calls are killed,
        queued ones cancelled, idle workers asked to exit, and every worker reaped.

        Raises:
            RuntimeError: when this executor is already started.
        """
        if self._pool is not None:
            raise RuntimeError(
                f"{self!r} is already started: leave the running `with executor.start():` "
                "first, or use another executor for a nested run."
            )
        pool = _Pool(self.max_workers, self.start_method)
        self._pool = pool
        try:
            pool.open()
            yield
        finally:
            self._pool = None
            pool.close()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker process; return its future.

        The call is pickled here; if that fails the future already holds an
        :class:`~lockgate.engine.executors.base.ExecutorError` naming the type that
        cannot be pickled (``submit`` never raises for the call). Calls beyond the
        number of idle workers wait in a queue, first in, first out.

        Raises:
            RuntimeError: when called outside ``with executor.start():``.
        """
        pool = self._pool
        if pool is None:
            raise RuntimeError("ProcessExecutor.submit() needs `with executor.start():` first.")
        return pool.submit(fn, args, kwargs)

    def stop(self, future: Any) -> None:
        """Kill the worker running ``future``'s call (a replacement starts), or unqueue it.

        The future ends with :class:`~lockgate.engine.executors.base.TaskTimeoutError`
        unless it had already finished.
        """
        pool = self._pool
        if pool is not None and isinstance(future, Future):
            pool.stop(future)

    def wait(self, futures: Any) -> Any:
        """The result of one future, or the list of results of a list of futures.

        Raises:
            Exception: the exception of the call (the first failed one, for a list).
        """
        if isinstance(futures, list):
            return [f.result() if isinstance(f, Future) else f for f in futures]
        return futures.result() if isinstance(futures, Future) else futures


# -- in the worker process -------------------------------------------------------------


def _worker_main(conn: Connection, alive: Connection, close_fds: tuple[int, ...]) -> None:
    """A worker's life: run the packed calls that arrive on ``conn`` until it closes."""
    signal.signal(signal.SIGINT, _ignore_signal)  # a handler (not SIG_IGN): exec() resets it
    for fd in close_fds:  # "fork" only: our copies of the coordinator's ends
        os.close(fd)
    threading.Thread(
        target=_exit_when_closed, args=(alive,), daemon=True, name="lockgate-watchdog"
    ).start()
    from lockgate.engine.executors._shipping import run_packed_logged

    try:
        conn.send_bytes(_READY)
    except OSError:  # the run ended while we booted
        return
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):  # the coordinator closed the pipe: leave quietly
            return
        outcome = run_packed_logged(payload)
        for stream in (sys.stdout, sys.stderr):  # the task's prints, before any kill
            try:
                stream.flush()
            except Exception:
                pass
        try:
            conn.send_bytes(outcome)
        except OSError:
            return


def _ignore_signal(signum: int, frame: Any) -> None:
    """SIGINT in a worker: the coordinator decides (it kills us when the run ends)."""


def _exit_when_closed(alive: Connection) -> None:
    """Watchdog thread: nobody writes to ``alive``; end-of-file means the coordinator is gone."""
    try:
        alive.recv_bytes()
    except BaseException:
        pass
    os._exit(0)


# -- in the coordinator ----------------------------------------------------------------

_STARTING, _IDLE, _BUSY, _KILLED = "starting", "idle", "busy", "killed"


class _Worker:
    __slots__ = ("call", "conn", "delivered", "eof", "payload", "process", "sending", "state")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.state = _STARTING
        self.call: Future[Any] | None = None
        self.payload: bytes | None = None  # the call's, until it reached the pipe
        self.delivered: Future[Any] | None = None  # the last call that reached the pipe
        self.eof = False  # its pipe ended: the process is dying, its sentinel will say how
        self.sending = threading.Lock()  # held to send on, or close, ``conn``


class _Pool:
    """The running pool of one :meth:`ProcessExecutor.start` (see the module docstring).

    Locking: ``_lock`` guards the queue, the worker states and ``_running``. A call
    goes to a worker as soon as one is idle: ``submit`` sends it itself, otherwise it
    waits in the queue until the watcher thread finds an idle worker. A worker's pipe
    is sent on and closed under its own ``sending`` lock; only the watcher receives,
    starts and reaps. The watcher watches every live worker's pipe (an idle worker
    sends nothing), so a call sent by ``submit`` needs no wake-up. Futures are settled
    outside the lock (their callbacks may submit).
    """

    def __init__(self, size: int, start_method: str) -> None:
        import multiprocessing

        self._size = size
        self._start_method = start_method
        # One of the three concrete contexts (start_method was validated).
        self._ctx = cast(
            "ForkServerContext | SpawnContext | ForkContext",
            multiprocessing.get_context(start_method),
        )
        if start_method == "forkserver":
            _preload_in_fork_server()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._queue: deque[tuple[Future[Any], bytes]] = deque()
        self._running: dict[Future[Any], _Worker] = {}
        self._closing = False
        self._broken: str | None = None
        self._boot_failures = 0  # workers in a row that died before they were ready
        # The coordinator is the only writer of `alive`: workers exit at its end-of-file.
        self._alive_r, self._alive_w = self._ctx.Pipe(duplex=False)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(
            target=self._watch, name="lockgate-process-pool", daemon=True
        )

    # -- called from the executor's thread(s) --

    def open(self) -> None:
        _live_pools.add(self)
        _install_exit_hook()
        for _ in range(self._size):
            self._workers.append(self._spawn())  # Process.start() returns before the boot
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[Any]:
        from lockgate.engine.executors._shipping import pack_call

        future: Future[Any] = Future()
        try:
            payload, _ = pack_call(fn, args, kwargs)
        except ExecutorError as exc:
            future.set_exception(exc)
            return future
        assigned: list[tuple[_Worker, Future[Any], bytes]] = []
        with self._lock:
            refusal = self._refusal()
            if refusal is None:
                self._queue.append((future, payload))
                if len(self._queue) == 1:  # nothing waits before it: straight to a worker
                    assigned = self._assign()
        if refusal is not None:
            future.set_exception(ExecutorError(refusal))
        for worker, call, payload in assigned:
            self._send(worker, call, payload)
        return future

    def stop(self, future: Future[Any]) -> None:
        with self._lock:
            worker = self._running.pop(future, None)
            if worker is not None:
                worker.call = None
                worker.state = _KILLED  # the watcher replaces it when its sentinel fires
                _kill(worker.process)
                message = "Task was stopped: its worker process was killed (timeout)."
            else:
                for position, (queued, _) in enumerate(self._queue):
                    if queued is future:
                        del self._queue[position]
                        message = "Task was stopped before it started (timeout)."
                        break
                else:
                    return
        _settle(future, False, TaskTimeoutError(message))

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            queued = [future for future, _ in self._queue]
            running = list(self._running)
            self._queue.clear()
            self._running.clear()
            for worker in self._workers:
                if worker.state in (_STARTING, _BUSY):  # nothing to lose: kill it now
                    worker.state = _KILLED
                    _kill(worker.process)
        self._wake()
        try:
            if self._thread.is_alive():
                self._thread.join(timeout=5.0)
            if self._thread.is_alive():  # stuck in a done-callback: leave its pipes be
                self.kill_all()
            else:
                self._reap_all()
                for fd in (self._wake_r, self._wake_w):
                    os.close(fd)
        except BaseException:  # interrupted while shutting down: no more waiting
            self.kill_all()
            raise
        finally:
            lost = ExecutorError("the process pool was shut down before the call finished")
            for future in queued:
                if not future.cancel():  # handed back to the queue by _reap: running
                    _settle(future, False, lost)
            for future in running:
                _settle(future, False, lost)

    # -- the watcher thread --

    def _watch(self) -> None:
        from multiprocessing.connection import wait

        try:
            while True:
                with self._lock:
                    if self._closing:
                        return
                    assigned = self._assign()
                    conns = {w.conn: w for w in self._workers if w.state != _KILLED and not w.eof}
                    sentinels = {w.process.sentinel: w for w in self._workers}
                for worker, call, payload in assigned:
                    self._send(worker, call, payload)
                ready = wait([*conns, *sentinels, self._wake_r])
                settled: list[tuple[Future[Any], bool, Any]] = []
                # Outcomes first: a worker may have answered just before it died.
                for obj in ready:
                    if obj in conns:
                        self._receive(conns[obj], settled)
                for obj in ready:
                    if obj in sentinels:
                        self._reap(sentinels[obj], settled)
                if self._wake_r in ready:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                for future, ok, value in settled:
                    _settle(future, ok, value)
        except BaseException as exc:  # never leave futures hanging
            self._break(f"its watcher thread failed ({type(exc).__name__}: {exc})", all_calls=True)

    def _assign(self) -> list[tuple[_Worker, Future[Any], bytes]]:
        """Pair queued calls with idle workers (under the lock); to :meth:`_send` after."""
        if self._broken is not None:
            return []
        assigned: list[tuple[_Worker, Future[Any], bytes]] = []
        idle = [w for w in self._workers if w.state == _IDLE]
        while self._queue and idle:
            future, payload = self._queue.popleft()
            if not (future.running() or future.set_running_or_notify_cancel()):
                continue  # cancelled while queued (a running one was handed back by _reap)
            worker = idle.pop()
            worker.state = _BUSY
            worker.call = future
            worker.payload = payload
            self._running[future] = worker
            assigned.append((worker, future, payload))
        return assigned

    def _send(self, worker: _Worker, future: Future[Any], payload: bytes) -> None:
        """Send a call (from any thread; the lock is not held). See :meth:`_reap` if it died."""
        with worker.sending:
            if worker.conn.closed:
                return
            try:
                worker.conn.send_bytes(payload)
            except OSError:  # it died: its sentinel says how
                return
            worker.delivered = future
            with self._lock:
                if worker.call is future:
                    worker.payload = None  # delivered: free it

    def _receive(self, worker: _Worker, settled: list[tuple[Future[Any], bool, Any]]) -> None:
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            worker.eof = True  # it died: its sentinel says how
            return
        with self._lock:
            if worker.state == _STARTING:
                worker.state = _IDLE
                self._boot_failures = 0
                return
            future = worker.call
            if worker.state != _BUSY or future is None:
                return  # stopped meanwhile: the outcome is ignored
            worker.state = _IDLE
            worker.call = None
            worker.payload = None
            self._running.pop(future, None)
        from lockgate.engine.executors._shipping import unpack_message

        ok, value = unpack_message(data, "the worker process")
        settled.append((future, ok, value))

    def _reap(self, worker: _Worker, settled: list[tuple[Future[Any], bool, Any]]) -> None:
        worker.process.join()
        exitcode = worker.process.exitcode
        how = _how_it_ended(exitcode)
        with worker.sending, self._lock:  # a send in progress ends first
            self._workers.remove(worker)
            booting = worker.state == _STARTING
            future = worker.call if worker.state == _BUSY else None
            if future is not None:
                self._running.pop(future, None)
                if (
                    worker.delivered is not future
                    and worker.payload is not None
                    and not self._closing
                ):
                    # It died before the call reached it (killed while idle, say): the
                    # call did not run, so it goes first to the next idle worker.
                    self._queue.appendleft((future, worker.payload))
                    future = None
            worker.state = _KILLED
            closing = self._closing
            worker.conn.close()
        worker.process.close()
        if future is not None:
            settled.append(
                (future, False, WorkerLostError(f"the worker process running it died ({how})"))
            )
        if closing:
            return
        if booting:
            self._boot_failures += 1
            # One that exits by itself (an import error, say) will fail next time too;
            # one killed by a signal (the OOM killer, say) may not, unless it keeps on.
            if exitcode is None or exitcode >= 0 or self._boot_failures >= 3:
                self._break(f"a worker process exited while starting ({how}; see its stderr)")
                return
        try:
            replacement = self._spawn()
        except Exception as exc:
            with self._lock:
                left = len(self._workers)
            if not left:
                self._break(f"no worker process could be started ({type(exc).__name__}: {exc})")
            return
        with self._lock:
            self._workers.append(replacement)

    def _break(self, reason: str, *, all_calls: bool = False) -> None:
        """No more calls start; fail the queued ones (and the running ones with ``all_calls``)."""
        with self._lock:
            self._broken = self._broken or reason
            failed = [future for future, _ in self._queue]
            self._queue.clear()
            if all_calls:
                failed += list(self._running)
                self._running.clear()
        error = ExecutorError(f"the process pool cannot run it: {reason}")
        for future in failed:
            _settle(future, False, error)

    # -- helpers --

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        # Under "fork" the child also inherits our ends; it must close them to see EOFs.
        close_fds = (self._alive_w.fileno(), ours.fileno()) if self._start_method == "fork" else ()
        process = self._ctx.Process(
            target=_worker_main,
            args=(theirs, self._alive_r, close_fds),
            name="lockgate-worker",
        )
        try:
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return _Worker(process, ours)

    def _refusal(self) -> str | None:
        if self._closing:
            return "the process pool is shut down (its run has ended)"
        if self._broken is not None:
            return f"the process pool cannot run it: {self._broken}"
        return None

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):  # full (already awake) or closed (shut down)
            pass

    def _reap_all(self) -> None:
        """At shutdown (the watcher is gone): end every worker and wait for it."""
        workers = list(self._workers)
        for worker in workers:
            with worker.sending:
                worker.conn.close()  # an idle worker sees EOF and exits normally...
        self._alive_w.close()  # ...and any other one at this end-of-file
        deadline = time.monotonic() + 2.0
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.process.exitcode is None:  # stuck in C code, say
                _kill(worker.process)
                worker.process.join(5.0)
        for worker in workers:
            if worker.process.exitcode is not None:
                worker.process.close()
        self._alive_r.close()
        self._workers.clear()
        _live_pools.discard(self)

    def kill_all(self) -> None:
        """Kill every worker now, without waiting (an interrupted shutdown, or at exit)."""
        self._closing = True  # the watcher starts no replacement (no lock: it may be held)
        for worker in list(self._workers):
            _kill(worker.process)
        try:
            self._alive_w.close()
        except OSError:
            pass


_live_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()


@functools.cache
def _install_exit_hook() -> None:
    """Kill the workers of pools still open at exit (a shutdown that was interrupted).

    A ``multiprocessing`` finalizer with an exit priority runs before multiprocessing's
    exit handler joins the (non-daemonic) workers, which would otherwise wait forever.
    """
    from multiprocessing import util

    util.Finalize(None, _kill_leftover_workers, exitpriority=100)


def _kill_leftover_workers() -> None:
    for pool in list(_live_pools):
        pool.kill_all()


def _kill(process: BaseProcess) -> None:
    try:
        process.kill()
    except (OSError, ValueError):  # already gone, or closed
        pass


def _settle(future: Future[Any], ok: bool, value: Any) -> None:
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except InvalidStateError:  # already settled (stopped) or cancelled
        pass


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"killed by signal {name}"
    return f"exit code {exitcode}"


def _preload_in_fork_server() -> None:
    """Have the fork server import this module and cloudpickle once, for every worker.

    Only takes effect if the (process-wide) server has not started yet; keeps any
    modules already asked for.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    modules = getattr(server, "_preload_modules", None)
    if isinstance(modules, list) and __name__ not in modules:
        forkserver.set_forkserver_preload([*modules, __name__, _SHIPPING])
