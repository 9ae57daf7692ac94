"""DaskExecutor on a real ``distributed`` cluster on loopback (no mocks).

Most tests share the session's LocalCluster (``dask_cluster_address``, 2 worker
processes of 1 thread, allowed-failures 0) through a client; the ones about the
executor's own cluster start one (about a second each).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future as ConcurrentFuture
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from lockgate.engine.executors._shipping import RemoteError
from lockgate.engine.executors.base import ExecutorError, WorkerLostError
from lockgate.engine.executors.dask import (
    CAPACITY_PER_THREAD,
    MIN_CAPACITY,
    DaskCall,
    DaskExecutor,
    DaskResult,
)
from lockgate.engine.state import Success

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

# The workers need not import this test module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SAFETY = 60.0  # s: a generous bound on waits that normally take milliseconds


# -- functions run on the workers ------------------------------------------------------------
def inc(x: int) -> int:
    return x + 1


def fail(message: str) -> None:
    raise ValueError(message)


def return_lock() -> Any:
    return threading.Lock()


class LockedError(Exception):
    """An exception that cannot be pickled (it holds a lock)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_locked() -> None:
    raise LockedError("holds a lock")


def pid_then_block(path: str, release: str = "") -> int:
    """Append this process's id to ``path``, then run until ``release`` exists (or a minute)."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + SAFETY
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.01)
    return os.getpid()


def pid_then_hold_the_gil(path: str) -> int:
    """Append this process's id to ``path``, then compute for minutes in C, holding the GIL."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return sum(range(10**12))


def pid() -> int:
    return os.getpid()


# -- helpers -----------------------------------------------------------------------------------
def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it is true (a safety bound, never a pacing sleep)."""
    deadline = time.monotonic() + SAFETY
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def worker_pids(executor: DaskExecutor) -> set[int]:
    assert executor.client is not None
    return set(executor.client.run(os.getpid).values())


def gone(process_id: int) -> bool:
    try:
        return psutil.Process(process_id).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def new_children(before: set[int]) -> list[Any]:
    """Child processes started since ``before``, but multiprocessing's own helpers."""
    helpers = ("resource_tracker", "forkserver", "semaphore_tracker")
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before
        and p.status() != psutil.STATUS_ZOMBIE
        and not any(h in " ".join(p.cmdline()) for h in helpers)
    ]


@pytest.fixture
def executor(dask_cluster_address: str) -> Iterator[DaskExecutor]:
    """A started DaskExecutor on the session cluster; afterwards the cluster has 2 workers."""
    executor = DaskExecutor(address=dask_cluster_address)
    with executor.start():
        yield executor
        assert executor.client is not None
        executor.client.wait_for_workers(2, timeout=SAFETY)


# -- calls -------------------------------------------------------------------------------------
def test_results_and_exceptions_round_trip(executor: DaskExecutor) -> None:
    futures = [executor.submit(inc, 1), executor.submit(fail, "boom"), executor.submit(inc, x=41)]
    outcomes = executor.outcomes(futures)
    assert outcomes[0] == (True, 2)
    assert outcomes[1][0] is False
    assert type(outcomes[1][1]) is ValueError and str(outcomes[1][1]) == "boom"
    assert outcomes[2] == (True, 42)


def test_submit_returns_a_dask_call_whose_callbacks_get_it_back(executor: DaskExecutor) -> None:
    call = executor.submit(inc, 1)
    assert isinstance(call, DaskCall) and call.key.startswith("lockgate-inc-")
    got: list[Any] = []
    finished = threading.Event()
    call.add_done_callback(lambda c: (got.append(c), finished.set()))  # maybe before sending
    assert finished.wait(SAFETY)
    assert got == [call] and call.done()
    assert isinstance(call.future, distributed.Future) and call.future.key == call.key
    again: list[Any] = []
    call.add_done_callback(again.append)  # after it is done: called soon, from a thread
    wait_for(lambda: again, "the late callback")
    assert again == [call]
    assert "finished" in repr(call)
    assert executor.outcomes([call]) == [(True, 2)]


def test_a_closure_runs_on_the_workers(executor: DaskExecutor) -> None:
    offset = 100

    def add_offset(x: int) -> int:
        return x + offset

    assert executor.wait(executor.submit(add_offset, 1)) == 101
    assert executor.wait(executor.submit(lambda: os.getpid())) != os.getpid()


def test_wait_takes_one_future_or_a_list_and_raises_the_first_failure(
    executor: DaskExecutor,
) -> None:
    assert executor.wait(executor.submit(inc, 1)) == 2
    assert executor.wait([executor.submit(inc, i) for i in range(3)]) == [1, 2, 3]
    with pytest.raises(ValueError, match="second"):
        executor.wait([executor.submit(inc, 1), executor.submit(fail, "second")])


def test_wait_returns_values_that_are_not_futures_unchanged(executor: DaskExecutor) -> None:
    already_done = Success(result=7)
    assert executor.wait(already_done) is already_done
    mixed = executor.wait([already_done, executor.submit(inc, 4), "plain"])
    assert mixed == [already_done, 5, "plain"]


def test_an_unpicklable_result_fails_with_an_executor_error_naming_its_type(
    executor: DaskExecutor,
) -> None:
    [(ok, error)] = executor.outcomes([executor.submit(return_lock)])
    assert ok is False
    assert isinstance(error, ExecutorError)
    assert "lock" in str(error) and "cannot be pickled" in str(error)


def test_an_unpicklable_exception_arrives_as_a_remote_error(executor: DaskExecutor) -> None:
    [(ok, error)] = executor.outcomes([executor.submit(raise_locked)])
    assert ok is False
    assert isinstance(error, RemoteError)
    assert error.type_name == "LockedError"
    assert "holds a lock" in str(error) and "raise_locked" in error.traceback_text


def test_an_unpicklable_argument_gives_a_failed_future_not_an_exception(
    executor: DaskExecutor,
) -> None:
    lock = threading.Lock()
    future = executor.submit(inc, lock)  # never raises
    assert isinstance(future, ConcurrentFuture) and future.done()
    called: list[Any] = []
    future.add_done_callback(called.append)
    assert called == [future]
    [(ok, error)] = executor.outcomes([future])
    assert ok is False and isinstance(error, ExecutorError)
    assert "lock" in str(error)
    with pytest.raises(ExecutorError):
        executor.wait(future)
    executor.stop(future)  # harmless


def test_outcomes_reads_a_thousand_futures_in_order(executor: DaskExecutor) -> None:
    futures = [executor.submit(inc, i) for i in range(1000)]
    futures[10] = executor.submit(fail, "ten")
    futures[20] = executor.submit(inc, threading.Lock())  # failed at submit
    # The loop hands outcomes() only finished futures, as their callbacks report in.
    done = threading.Semaphore(0)
    for future in futures:
        future.add_done_callback(lambda _: done.release())
    for _ in futures:
        assert done.acquire(timeout=SAFETY)
    outcomes = executor.outcomes(futures)
    assert len(outcomes) == 1000
    assert outcomes[10][0] is False and str(outcomes[10][1]) == "ten"
    assert outcomes[20][0] is False and isinstance(outcomes[20][1], ExecutorError)
    expected = [(True, i + 1) for i in range(1000)]
    assert [o for i, o in enumerate(outcomes) if i not in (10, 20)] == [
        o for i, o in enumerate(expected) if i not in (10, 20)
    ]


def add_all(values: list[int], extra: int = 0) -> int:
    return sum(values) + extra


def pick_a(values: dict[str, int]) -> int:
    return values["a"]


def test_a_returned_value_stays_on_the_cluster_until_read(executor: DaskExecutor) -> None:
    first = executor.submit(inc, 1)
    [(ok, value)] = executor.outcomes([first])
    assert ok is True and type(value) is DaskResult
    assert value.future.key.startswith("lockgate-inc-")
    assert executor.client is not None
    # A worker holds it (the loop only learnt that the call returned).
    assert value.future.key in executor.client.who_has([value.future])
    # As an argument (alone, in a list, as a dict value) the worker gets the value itself.
    second = executor.submit(add_all, [value, value], extra=value)
    third = executor.submit(pick_a, {"a": value, "b": 0})
    assert executor.wait([second, third]) == [6, 2]
    assert value.get() == 2


def test_a_task_call_is_keyed_after_the_task(executor: DaskExecutor) -> None:
    from lockgate import task
    from lockgate.engine.scheduler import call_task_code

    @task(name="load-orders")
    def load_orders() -> int:
        return 7

    call = executor.submit(call_task_code, load_orders, {}, {})
    assert isinstance(call, DaskCall) and call.key.startswith("lockgate-load_orders-")
    assert executor.wait(call) == 7


def test_a_flow_run_returns_plain_values_and_handlers_read_them(
    dask_cluster_address: str,
) -> None:
    from lockgate import Flow, task
    from lockgate.engine.result import RemoteValue
    from lockgate.engine.state import State

    seen: list[Any] = []

    def record(task_obj: Any, old: State, new: State) -> None:
        if new.is_successful() and not new.is_mapped():
            seen.append(new.result)

    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @task(state_handlers=[record])
    def double(x: int) -> int:
        return 2 * x

    @task
    def broken(values: list[int]) -> int:
        raise ValueError(f"cannot use {values}")

    with Flow("plain-values") as flow:
        doubled = double.map(numbers)
        failed = broken(doubled)

    state = flow.run(executor=DaskExecutor(address=dask_cluster_address))
    mapped, failure = state.result[doubled], state.result[failed]
    assert mapped._value == [2, 4, 6] and type(mapped._value) is list
    assert [child._value for child in mapped.map_states] == [2, 4, 6]
    assert failure.cached_inputs == {"values": [2, 4, 6]}
    assert not any(isinstance(v, RemoteValue) for v in failure.cached_inputs["values"])
    assert sorted(seen) == [2, 4, 6]  # a state handler's read fetched the value


def test_a_remote_value_read_after_the_run_says_it_is_gone(dask_cluster_address: str) -> None:
    executor = DaskExecutor(address=dask_cluster_address)
    with executor.start():
        [(ok, value)] = executor.outcomes([executor.submit(inc, 1)])
    assert ok is True
    with pytest.raises(ExecutorError, match="stayed on the Dask cluster"):
        value.get()


def test_outcomes_waits_for_a_call_the_event_loop_is_still_sending(
    executor: DaskExecutor,
) -> None:
    # The race: the client's event loop has taken the call off the queue but not yet
    # given it its future when the scheduling loop asks for outcomes.
    real = executor.submit(inc, 41)
    executor.wait(real)
    in_flight = DaskCall("lockgate-inc-in-flight", b"", [])
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(executor.outcomes([in_flight])))
    reader.start()
    in_flight._sent(real._future)  # what _send does on the event loop...
    with executor._sent_signal:
        executor._sent_signal.notify_all()  # ...then it tells the waiters
    reader.join(SAFETY)
    assert got == [[(True, 42)]]


def test_capacity_keeps_the_cluster_busy(executor: DaskExecutor) -> None:
    assert executor.capacity == max(MIN_CAPACITY, CAPACITY_PER_THREAD * 2)
    assert executor.hard_timeouts is True


# -- faults and timeouts ------------------------------------------------------------------------
def test_a_worker_killed_mid_call_gives_worker_lost_error_and_the_executor_goes_on(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    future = executor.submit(pid_then_block, str(pid_file))
    [worker_pid] = wait_for(lambda: pids_in(pid_file), "the call to start")
    os.kill(worker_pid, signal.SIGKILL)
    [(ok, error)] = executor.outcomes([future])
    assert ok is False
    assert isinstance(error, WorkerLostError)
    assert "the Dask worker running it died" in str(error)
    assert "tcp://127.0.0.1:" in str(error)
    # The executor, and the cluster's remaining worker, keep working.
    assert executor.wait([executor.submit(inc, i) for i in range(4)]) == [1, 2, 3, 4]
    assert pids_in(pid_file) == [worker_pid]  # not run again on another worker


def test_stop_kills_the_worker_running_the_call_and_spares_the_others(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    slow = executor.submit(pid_then_block, str(pid_file))
    [worker_pid] = wait_for(lambda: pids_in(pid_file), "the call to start")
    # Calls queued behind it (some on the same worker) must not be lost with it.
    others = [executor.submit(inc, i) for i in range(6)]
    executor.stop(slow)
    wait_for(lambda: gone(worker_pid), "the worker process to be killed")
    assert executor.outcomes(others) == [(True, i + 1) for i in range(6)]
    assert executor.client is not None
    executor.client.wait_for_workers(2, timeout=SAFETY)
    assert worker_pid not in worker_pids(executor)
    assert executor.wait([executor.submit(pid) for _ in range(4)])
    assert pids_in(pid_file) == [worker_pid]  # the stopped call did not run again
    [(ok, error)] = executor.outcomes([slow])  # its outcome (ignored by the loop) is an error
    assert ok is False and isinstance(error, ExecutorError)


def test_stop_kills_a_call_that_holds_the_gil_without_hanging(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    hog = executor.submit(pid_then_hold_the_gil, str(pid_file))
    [worker_pid] = wait_for(lambda: pids_in(pid_file), "the call to start")
    others = [executor.submit(inc, i) for i in range(4)]
    started = time.monotonic()
    executor.stop(hog)  # its worker cannot answer: stop() gives up asking after 1 s
    assert time.monotonic() - started < 10
    wait_for(lambda: gone(worker_pid), "the worker process to be killed")
    assert executor.outcomes(others) == [(True, i + 1) for i in range(4)]


def test_stop_of_a_queued_or_finished_call_kills_no_worker(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    assert executor.client is not None
    before = worker_pids(executor)
    finished = executor.submit(inc, 1)
    assert executor.wait(finished) == 2
    executor.stop(finished)
    # Occupy both single-thread workers, then stop a call still waiting for one.
    files = [tmp_path / "a", tmp_path / "b"]
    release = tmp_path / "release"
    blockers = [executor.submit(pid_then_block, str(f), str(release)) for f in files]
    for f in files:
        wait_for(lambda f=f: pids_in(f), "both workers to be busy")
    queued = executor.submit(inc, 2)
    executor.stop(queued)
    assert worker_pids(executor) == before
    [(ok, error)] = executor.outcomes([queued])
    assert ok is False and isinstance(error, ExecutorError)
    release.touch()
    assert sorted(executor.wait(blockers)) == sorted(before)


# -- the cluster's life -------------------------------------------------------------------------
def test_with_an_address_the_cluster_outlives_the_run(dask_cluster_address: str) -> None:
    executor = DaskExecutor(address=dask_cluster_address)
    with executor.start():
        assert executor.wait(executor.submit(inc, 1)) == 2
        client = executor.client
    assert executor.client is None
    assert client is not None and client.status == "closed"
    with distributed.Client(dask_cluster_address, set_as_default=False) as other:
        assert other.submit(inc, 1).result(timeout=SAFETY) == 2
        assert len(other.nthreads()) == 2


@pytest.mark.parametrize("ending", ["normally", "with Ctrl-C"])
def test_without_an_address_the_executor_closes_its_own_cluster(
    ending: str, tmp_path: Path
) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    executor = DaskExecutor(cluster_kwargs={"n_workers": 2})
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt) if ending == "with Ctrl-C" else nullcontext():
        with executor.start():
            client = executor.client
            assert client is not None
            assert client.run_on_scheduler(_allowed_failures) == 0
            assert executor.wait(executor.submit(inc, 1)) == 2
            pids = worker_pids(executor)
            assert len(pids) == 2 and os.getpid() not in pids
            if ending == "with Ctrl-C":
                # A call still running must not delay the exit.
                pid_file = tmp_path / "pid"
                executor.submit(pid_then_block, str(pid_file))
                wait_for(lambda: pids_in(pid_file), "the call to start")
                started = time.monotonic()
                raise KeyboardInterrupt
            started = time.monotonic()
    assert time.monotonic() - started < 3.5  # no graceful wait (4 s) for running calls
    assert executor.client is None
    assert all(gone(p) for p in pids)
    assert new_children(before) == []


def _allowed_failures(dask_scheduler: Any = None) -> int:
    return int(dask_scheduler.allowed_failures)


# -- settings ---------------------------------------------------------------------------------
def test_pickles_its_settings_only_and_has_a_clear_repr(dask_cluster_address: str) -> None:
    executor = DaskExecutor(address=dask_cluster_address, client_kwargs={"timeout": 30})
    assert repr(executor) == f"DaskExecutor(address={dask_cluster_address!r})"
    assert repr(DaskExecutor()) == "DaskExecutor(LocalCluster)"
    assert (
        repr(DaskExecutor(cluster_kwargs={"n_workers": 3}))
        == "DaskExecutor(LocalCluster, cluster_kwargs={'n_workers': 3})"
    )
    with executor.start():
        copy = pickle.loads(pickle.dumps(executor))
        assert executor.client is not None
    assert copy.client is None
    assert (copy.address, copy.client_kwargs) == (dask_cluster_address, {"timeout": 30})
    assert copy.cluster_kwargs == {}
    with copy.start():  # the copy starts on its own
        assert copy.wait(copy.submit(inc, 1)) == 2


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="address"):
        DaskExecutor(address=8786)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cluster_kwargs"):
        DaskExecutor(cluster_kwargs=[("n_workers", 2)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client_kwargs"):
        DaskExecutor(client_kwargs="timeout=3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cluster_kwargs only configure the LocalCluster"):
        DaskExecutor(address="tcp://127.0.0.1:8786", cluster_kwargs={"n_workers": 2})
    with pytest.raises(RuntimeError, match=r"executor.start\(\)"):
        DaskExecutor().submit(inc, 1)


def test_importing_the_module_does_not_import_distributed() -> None:
    code = (
        "import sys, lockgate, lockgate.engine.executors.dask as d; "
        "assert 'distributed' not in sys.modules, 'distributed imported'; "
        "assert 'dask' not in sys.modules, 'dask imported'; d.DaskExecutor()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=SAFETY)


def test_without_distributed_start_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'lockgate\[dask\]'"):
        with DaskExecutor().start():
            pass


# -- Prefect 0.5.1's arguments and helpers ------------------------------------------------
def test_start_yields_the_client_and_a_call_can_be_an_argument_of_another(
    dask_cluster_address: str,
) -> None:
    executor = DaskExecutor(dask_cluster_address)
    with executor.start() as client:
        assert client is executor.client
        assert client.submit(inc, 1).result() == 2  # the client itself takes work too
        first = executor.submit(inc, 1)
        second = executor.submit(inc, first)  # its result travels worker to worker
        assert executor.wait(second) == 3
        assert executor.wait(executor.map(pow, [2, 3], [3, 2])) == [8, 9]
        assert executor.map(pow) == []


def test_queue_is_shared_by_calls_on_the_workers(dask_cluster_address: str) -> None:
    executor = DaskExecutor(dask_cluster_address)
    with executor.start():
        shared = executor.queue()
        executor.wait([executor.submit(shared.put, n) for n in range(3)])
        assert sorted(shared.get(batch=3)) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="start"):
        executor.queue()


def test_local_processes_false_debug_and_client_kwargs_shape_the_local_cluster() -> None:
    executor = DaskExecutor("local", local_processes=False, debug=False, n_workers=1)
    assert executor.address is None
    assert executor.client_kwargs == {"n_workers": 1}
    assert executor._local_cluster_options()["silence_logs"] == logging.CRITICAL
    with executor.start() as client:
        assert len(client.nthreads()) == 1
        assert executor.wait(executor.submit(os.getpid)) == os.getpid()  # threads, here
    assert cloudpickle.loads(cloudpickle.dumps(executor)).local_processes is False


@pytest.mark.parametrize("bad", [{"local_processes": "yes"}, {"debug": 1}])
def test_flags_must_be_booleans(bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="True, False or None"):
        DaskExecutor(**bad)
