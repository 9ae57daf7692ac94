"""ProcessExecutor: lockgate's own process pool, with real worker processes (no mocks)."""

from __future__ import annotations

import os
import pickle
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
import pytest

from lockgate.engine.executors._shipping import RemoteError
from lockgate.engine.executors.base import ExecutorError, TaskTimeoutError, WorkerLostError
from lockgate.engine.executors.processes import ProcessExecutor

# Ship this module's functions by value: workers then need not import pytest and psutil.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SAFETY = 30.0  # seconds: a bound that only a broken pool reaches (or a very busy machine)


@pytest.fixture
def executor() -> Iterator[ProcessExecutor]:
    executor = ProcessExecutor(max_workers=2)
    with executor.start():
        yield executor


# -- calls that run in the workers --


def double(x: int) -> int:
    return 2 * x


def fail(message: str) -> None:
    raise ValueError(message)


def write_pid_and_block(path: str) -> None:
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.replace(path + ".tmp", path)  # the reader never sees a half-written file
    threading.Event().wait()


def append_line(path: str, line: str) -> None:
    with open(path, "a") as file:
        file.write(line + "\n")


def meet(directory: str, me: str, other: str) -> bool:
    """Arrive at a rendezvous; True once the other call has arrived too."""
    Path(directory, me).touch()
    deadline = time.monotonic() + SAFETY
    while not Path(directory, other).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def segfault() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
    os.kill(os.getpid(), signal.SIGSEGV)


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def raise_unpicklable() -> None:
    raise Unpicklable()


# -- helpers --


def read_pid(path: Path) -> int:
    """Wait for a call to write its pid to ``path``."""
    deadline = time.monotonic() + SAFETY
    while not path.exists():
        assert time.monotonic() < deadline, f"no call wrote {path}"
        time.sleep(0.005)
    return int(path.read_text())


def new_descendants(before: set[int]) -> list[psutil.Process]:
    """Processes below this one started since ``before``, minus multiprocessing's servers.

    The fork server and the resource tracker are direct children, shared by every pool
    of this process and ended with it; workers are forked from the server.
    """
    me = os.getpid()
    found = []
    for process in psutil.Process().children(recursive=True):
        if process.pid in before:
            continue
        try:
            if process.ppid() == me and any(
                name in " ".join(process.cmdline())
                for name in ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
            ):
                continue
        except psutil.NoSuchProcess:
            continue
        found.append(process)
    return found


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (a zombie has ended: only its exit status is left)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until ``processes`` have ended; return those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (running := still_running(processes)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return running


# -- results, errors, pickling --


def test_results_and_exceptions_come_back(executor: ProcessExecutor) -> None:
    assert executor.wait(executor.submit(double, 21)) == 42
    assert executor.wait(executor.submit(double, x=5)) == 10
    future = executor.submit(fail, "boom")
    with pytest.raises(ValueError, match="boom"):
        executor.wait(future)
    assert executor.wait(executor.map(double, [1, 2, 3])) == [2, 4, 6]


def test_calls_run_in_other_processes(executor: ProcessExecutor) -> None:
    pids = executor.wait([executor.submit(os.getpid) for _ in range(4)])
    assert os.getpid() not in pids


def test_lambdas_and_closures_travel(executor: ProcessExecutor) -> None:
    offset = 100

    def add_offset(x: int) -> int:
        return x + offset

    assert executor.wait(executor.submit(add_offset, 1)) == 101
    assert executor.wait(executor.submit(lambda: offset * 2)) == 200


def test_outcomes_and_done_callbacks(executor: ProcessExecutor) -> None:
    done = threading.Event()
    good = executor.submit(double, 1)
    bad = executor.submit(fail, "no")
    bad.add_done_callback(lambda future: done.set())
    assert done.wait(SAFETY)
    [(ok1, value), (ok2, error)] = executor.outcomes([good, bad])
    assert (ok1, value) == (True, 2)
    assert not ok2 and isinstance(error, ValueError)


def test_an_unpicklable_result_is_an_executor_error(executor: ProcessExecutor) -> None:
    future = executor.submit(threading.Lock)
    with pytest.raises(ExecutorError, match=r"result, a value of type lock, cannot be pickled"):
        executor.wait(future)
    assert executor.wait(executor.submit(double, 2)) == 4


def test_an_unpicklable_argument_fails_the_future_not_submit(executor: ProcessExecutor) -> None:
    future = executor.submit(double, threading.Lock())  # does not raise
    assert future.done()
    with pytest.raises(ExecutorError, match=r"type lock cannot be pickled"):
        future.result()
    assert executor.wait(executor.submit(double, 3)) == 6


def test_an_unpicklable_exception_comes_back_as_a_remote_error(executor: ProcessExecutor) -> None:
    future = executor.submit(raise_unpicklable)
    with pytest.raises(RemoteError, match="Unpicklable: holds a lock") as caught:
        executor.wait(future)
    assert caught.value.type_name == "Unpicklable"
    assert "raise_unpicklable" in caught.value.traceback_text


# -- faults --


def test_a_worker_that_exits_fails_its_call_and_is_replaced(executor: ProcessExecutor) -> None:
    future = executor.submit(os._exit, 3)
    with pytest.raises(
        WorkerLostError, match=r"the worker process running it died \(exit code 3\)"
    ):
        executor.wait(future)
    # The pool is whole again: both workers answer, in parallel.
    assert executor.wait([executor.submit(double, n) for n in range(4)]) == [0, 2, 4, 6]


def test_a_segfault_fails_its_call_with_the_signal(executor: ProcessExecutor) -> None:
    future = executor.submit(segfault)
    with pytest.raises(WorkerLostError, match=r"killed by signal SIGSEGV"):
        executor.wait(future)
    assert executor.wait(executor.submit(double, 4)) == 8


def test_a_worker_killed_while_idle_is_replaced(executor: ProcessExecutor) -> None:
    pid = executor.wait(executor.submit(os.getpid))
    worker = psutil.Process(pid)
    worker.kill()
    assert wait_gone([worker], timeout=SAFETY) == []
    # Until the pool sees its exit, the dying worker may still be handed one call, which
    # then fails as any call whose worker died; the others go to the live workers.
    outcomes = executor.outcomes([executor.submit(os.getpid) for _ in range(6)])
    lost = [value for ok, value in outcomes if not ok]
    assert len(lost) <= 1 and all(isinstance(error, WorkerLostError) for error in lost)
    pids = set(executor.wait([executor.submit(os.getpid) for _ in range(6)]))
    assert pid not in pids


def test_stop_kills_the_worker_of_a_running_call(executor: ProcessExecutor, tmp_path: Path) -> None:
    future = executor.submit(write_pid_and_block, str(tmp_path / "pid"))
    worker = psutil.Process(read_pid(tmp_path / "pid"))
    executor.stop(future)
    with pytest.raises(TaskTimeoutError):
        future.result(timeout=SAFETY)
    assert wait_gone([worker], timeout=SAFETY) == []
    pids = executor.wait([executor.submit(os.getpid) for _ in range(4)])
    assert worker.pid not in pids
    executor.stop(future)  # again, and on finished calls: nothing happens
    executor.stop(executor.submit(double, 1))


def test_stop_drops_a_queued_call(tmp_path: Path) -> None:
    executor = ProcessExecutor(max_workers=1)
    with executor.start():
        blocking = executor.submit(write_pid_and_block, str(tmp_path / "pid"))
        queued = executor.submit(append_line, str(tmp_path / "ran"), "queued")
        read_pid(tmp_path / "pid")
        executor.stop(queued)
        with pytest.raises(TaskTimeoutError, match="before it started"):
            queued.result(timeout=0)
        executor.stop(blocking)
        assert executor.wait(executor.submit(double, 5)) == 10
    assert not (tmp_path / "ran").exists()


def test_more_calls_than_workers_queue_first_in_first_out(tmp_path: Path) -> None:
    executor = ProcessExecutor(max_workers=1)
    log = str(tmp_path / "log")
    with executor.start():
        executor.wait([executor.submit(append_line, log, str(n)) for n in range(20)])
    assert Path(log).read_text().split() == [str(n) for n in range(20)]


def test_many_calls_on_two_workers(executor: ProcessExecutor) -> None:
    assert executor.wait([executor.submit(double, n) for n in range(200)]) == [
        2 * n for n in range(200)
    ]


def test_submit_from_many_threads(executor: ProcessExecutor) -> None:
    futures: list[list[Future[Any]]] = [[] for _ in range(4)]

    def submit_some(mine: list[Future[Any]], base: int) -> None:
        mine += [executor.submit(double, base + n) for n in range(50)]

    threads = [threading.Thread(target=submit_some, args=(futures[t], 100 * t)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t, mine in enumerate(futures):
        assert executor.wait(mine) == [2 * (100 * t + n) for n in range(50)]


def test_calls_run_in_parallel(executor: ProcessExecutor, tmp_path: Path) -> None:
    first = executor.submit(meet, str(tmp_path), "a", "b")
    second = executor.submit(meet, str(tmp_path), "b", "a")
    assert executor.wait([first, second]) == [True, True]


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_other_start_methods(start_method: str) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    executor = ProcessExecutor(max_workers=2, start_method=start_method)
    with executor.start():
        assert executor.wait([executor.submit(double, n) for n in range(4)]) == [0, 2, 4, 6]
        with pytest.raises(WorkerLostError, match="exit code 3"):
            executor.wait(executor.submit(os._exit, 3))
        assert executor.wait(executor.submit(double, 5)) == 10
        workers = new_descendants(before)
    assert still_running(workers) == []
    assert new_descendants(before) == []


# -- lifetime --


def test_no_process_outlives_the_run() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    executor = ProcessExecutor(max_workers=2)
    with executor.start():
        executor.wait([executor.submit(double, n) for n in range(4)])
        workers = new_descendants(before)
        assert len(workers) == 2
    assert still_running(workers) == []  # already reaped: no waiting
    assert new_descendants(before) == []


def test_no_process_outlives_a_run_left_by_an_exception(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    executor = ProcessExecutor(max_workers=2)
    futures: list[Future[Any]] = []
    with pytest.raises(KeyboardInterrupt), executor.start():
        futures += [executor.submit(write_pid_and_block, str(tmp_path / f"{n}")) for n in (1, 2)]
        futures.append(executor.submit(double, 1))  # queued behind the blocked calls
        pids = {read_pid(tmp_path / "1"), read_pid(tmp_path / "2")}
        workers = new_descendants(before)
        assert {w.pid for w in workers} == pids
        raise KeyboardInterrupt
    assert still_running(workers) == []  # already reaped: no waiting
    assert new_descendants(before) == []
    for running in futures[:2]:
        with pytest.raises(ExecutorError, match="shut down"):
            running.result(timeout=0)
    with pytest.raises(CancelledError):
        futures[2].result(timeout=0)
    with pytest.raises(RuntimeError, match="start"):
        executor.submit(double, 1)


BLOCKED_RUN_SCRIPT = r"""
import os, threading
import psutil
from lockgate.engine.executors.processes import ProcessExecutor

def block():
    os.write(1, f"running {os.getpid()}\n".encode())  # one write: lines never interleave
    threading.Event().wait()

if __name__ == "__main__":
    executor = ProcessExecutor(max_workers=2)
    try:
        with executor.start():
            futures = [executor.submit(block) for _ in range(3)]
            pids = [str(p.pid) for p in psutil.Process().children(recursive=True)]
            os.write(1, f"children {' '.join(pids)}\n".encode())
            executor.wait(futures)
    except KeyboardInterrupt:
        os.write(1, b"interrupted\n")
"""


@pytest.mark.parametrize(
    ("how", "returncode"),
    [
        pytest.param("ctrl-c", 0, id="ctrl-c"),  # SIGINT to the whole process group
        pytest.param("kill", -signal.SIGKILL, id="coordinator-killed"),  # no clean-up
    ],
)
def test_an_interrupted_run_ends_promptly_and_leaves_no_process(
    how: str, returncode: int, tmp_path: Path
) -> None:
    script = tmp_path / "blocked_run.py"
    script.write_text(BLOCKED_RUN_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # little: read once it has exited
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def output() -> str:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.stderr is not None
        return process.stderr.read()

    threading.Thread(target=read_stdout, daemon=True).start()
    seen: list[str | None] = []
    children: list[psutil.Process] = []
    try:
        while sum(1 for line in seen if line and line.startswith("running")) < 2 or not children:
            seen.append(line := lines.get(timeout=SAFETY))
            assert line is not None, "the script ended early"
            if line.startswith("children"):
                for pid in line.split()[1:]:
                    try:
                        children.append(psutil.Process(int(pid)))
                    except psutil.NoSuchProcess:
                        pass
        assert len(children) >= 2  # the workers (and multiprocessing's servers)
        started = time.monotonic()
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            process.kill()
        process.wait(timeout=SAFETY)
        assert time.monotonic() - started < 5
    except BaseException as exc:
        raise AssertionError(f"{exc!r}; stdout so far: {seen}; stderr: {output()}") from exc
    stderr = output()
    assert process.returncode == returncode, stderr
    if how == "ctrl-c":
        # Every worker ignored SIGINT (no traceback), the coordinator caught it, and the
        # queued call never started.
        assert list(iter(lambda: lines.get(timeout=SAFETY), None)) == ["interrupted\n"]
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    # Workers are killed by the coordinator (Ctrl-C) or exit when it dies (kill -9);
    # multiprocessing's fork server and resource tracker follow.
    assert wait_gone(children, timeout=5) == []


UNGUARDED_SCRIPT = r"""
from lockgate.engine.executors.processes import ProcessExecutor

executor = ProcessExecutor(max_workers=1)
with executor.start():  # no `if __name__ == "__main__":`: every worker re-runs this
    print(executor.outcomes([executor.submit(abs, -1)]), flush=True)
"""


def test_workers_that_cannot_boot_fail_the_calls_instead_of_hanging(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=SAFETY
    )
    assert done.returncode == 0, done.stderr
    assert "ExecutorError('the process pool cannot run it: a worker process exited " in done.stdout
    assert "while starting (exit code 1; see its stderr)" in done.stdout


# -- the executor object --


def test_settings_validation_repr_and_pickling() -> None:
    executor = ProcessExecutor(max_workers=3, start_method="spawn")
    assert repr(executor) == "ProcessExecutor(max_workers=3, start_method='spawn')"
    assert executor.capacity == 3 and executor.hard_timeouts
    assert ProcessExecutor().max_workers == (os.cpu_count() or 1)
    assert ProcessExecutor().start_method == "forkserver"
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"max_workers=.*positive integer"):
            ProcessExecutor(max_workers=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"start_method='threads'.*'spawn'"):
        ProcessExecutor(start_method="threads")


def test_a_started_executor_pickles_its_settings_only(executor: ProcessExecutor) -> None:
    for dumps in (pickle.dumps, cloudpickle.dumps):
        copy = pickle.loads(dumps(executor))
        assert repr(copy) == repr(executor)
        with pytest.raises(RuntimeError, match="start"):
            copy.submit(double, 1)
    with pytest.raises(RuntimeError, match="already started"), executor.start():
        pass
    assert executor.wait(executor.submit(double, 1)) == 2  # still usable


def test_submit_needs_start() -> None:
    with pytest.raises(RuntimeError, match=r"with executor.start\(\)"):
        ProcessExecutor(1).submit(double, 1)
