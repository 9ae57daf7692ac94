"""SynchronousExecutor: dask's synchronous scheduler, in the calling thread."""

from __future__ import annotations

import queue
import threading

import dask
import pytest

from lockgate import Flow, task
from lockgate.engine.executors import Executor, LocalExecutor, SynchronousExecutor
from lockgate.engine.state import Failed, Success


def test_submit_computes_in_this_thread_and_returns_a_completed_future() -> None:
    executor = SynchronousExecutor()
    calls: list[int] = []

    def record(x: int, y: int = 0) -> int:
        calls.append(threading.get_ident())
        return x + y

    future = executor.submit(record, 1, y=2)
    assert calls == [threading.get_ident()]  # ran at once, here
    assert future.done()
    assert executor.wait(future) == 3 == future.compute()
    assert executor.wait("not a dask object") == "not a dask object"


def test_a_failed_call_raises_when_read() -> None:
    executor = SynchronousExecutor()
    future = executor.submit(divmod, 1, 0)
    assert isinstance(future.exception(), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        executor.wait(future)


def test_the_same_call_submitted_twice_runs_twice() -> None:
    executor = SynchronousExecutor()
    counter = iter(range(10))
    both = executor.wait([executor.submit(next, counter), executor.submit(next, counter)])
    assert sorted(both) == [0, 1]  # dask picks the order


def test_map_zips_its_arguments_and_an_empty_map_submits_nothing() -> None:
    executor = SynchronousExecutor()
    with executor.start():
        assert executor.wait(executor.map(pow, [2, 3], [3, 2])) == [8, 9]
        assert executor.wait(executor.map(pow)) == []


def test_start_makes_dask_synchronous_for_the_block() -> None:
    with SynchronousExecutor().start():
        assert dask.config.get("scheduler") == "synchronous"


def test_queue_is_a_plain_queue_with_a_size_limit() -> None:
    shared = SynchronousExecutor().queue(maxsize=1)
    assert isinstance(shared, queue.Queue) and shared.maxsize == 1
    assert LocalExecutor().queue().maxsize == 0


def test_a_flow_gives_the_same_states_as_with_the_local_executor() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def explode(x: int) -> None:
        raise ValueError(f"bad {x}")

    with Flow("sync") as flow:
        d = double.map([1, 2, 3])
        e = explode(d)

    for executor in (SynchronousExecutor(), LocalExecutor()):
        state = flow.run(executor=executor)
        assert isinstance(state.result[d], Success)
        assert [child.result for child in state.result[d].map_states] == [2, 4, 6]
        assert isinstance(state.result[e], Failed) and "bad [2, 4, 6]" in str(
            state.result[e].message
        )


def test_the_base_executor_runs_nothing() -> None:
    with pytest.raises(NotImplementedError):
        Executor().submit(print)
    with pytest.raises(NotImplementedError):
        Executor().map(print, [1])
    with pytest.raises(NotImplementedError):
        Executor().wait([1])
    with pytest.raises(NotImplementedError, match="no shared queue"):
        Executor().queue()
