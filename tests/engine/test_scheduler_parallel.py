"""The scheduling loop's in-flight path (executor capacity > 1) gives the same states.

Issue 3 adds real thread, process and Dask executors; this double is the smallest
executor with several tasks in flight, to keep the loop honest until then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from datetime import timedelta
from typing import Any

from lockgate import Flow, Task, triggers
from lockgate.engine import signals
from lockgate.engine.executors import Executor
from lockgate.testing import FakeClock


class TwoThreads(Executor):
    capacity = 2

    def __init__(self) -> None:
        self.peak = 0
        self._running = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @contextmanager
    def start(self) -> Iterator[None]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            self._pool = pool
            yield

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        assert self._pool is not None
        context = copy_context()

        def tracked() -> Any:
            with self._lock:
                self._running += 1
                self.peak = max(self.peak, self._running)
            try:
                return context.run(fn, *args, **kwargs)
            finally:
                with self._lock:
                    self._running -= 1

        return self._pool.submit(tracked)

    def wait(self, futures: Any) -> Any:
        if isinstance(futures, list):
            return [f.result() for f in futures]
        return futures.result()


class Step(Task):
    def __init__(
        self, behaviour: str, barrier: threading.Barrier | None = None, **kwargs: Any
    ) -> None:
        self.behaviour = behaviour
        self.barrier = barrier
        self.calls = 0
        super().__init__(name=behaviour, **kwargs)

    def run(self, **upstream: Any) -> Any:
        self.calls += 1
        if self.barrier is not None and self.calls == 1:
            self.barrier.wait()  # only passes if a sibling branch runs at the same time
        if self.behaviour.startswith("fail"):
            raise ValueError(self.behaviour)
        if self.behaviour.startswith("skip"):
            raise signals.SKIP(self.behaviour)
        if self.behaviour.startswith("retry") and self.calls == 1:
            raise signals.RETRY(self.behaviour)
        return sum(v for v in upstream.values() if isinstance(v, int)) + 1


def build(barrier: threading.Barrier | None = None) -> tuple[Flow, dict[str, Task]]:
    flow = Flow("diamonds")
    tasks: dict[str, Task] = {}
    root = tasks["root"] = Step("root")
    for branch in ("a", "b", "c"):
        first = tasks[f"{branch}1"] = Step(
            f"retry-{branch}1",
            barrier=barrier if branch in "ab" else None,
            retry_delay=timedelta(seconds=1),
        )
        second = tasks[f"{branch}2"] = Step(f"{branch}2")
        flow.add_edge(root, first, key="x")
        flow.add_edge(first, second, key="x")
    tasks["bad"] = Step("fail-bad")
    tasks["skipper"] = Step("skip-me")
    flow.add_edge(tasks["a2"], tasks["bad"], key="x")
    flow.add_edge(tasks["b2"], tasks["skipper"], key="x")
    tasks["after_skip"] = Step("after-skip")
    flow.add_edge(tasks["skipper"], tasks["after_skip"], key="x")
    tasks["join"] = Step("join", trigger=triggers.all_finished)
    for key, name in (("p", "a2"), ("q", "b2"), ("r", "c2"), ("s", "bad")):
        flow.add_edge(tasks[name], tasks["join"], key=key)
    tasks["approve"] = Step("approve", trigger=triggers.manual_only)
    flow.add_edge(tasks["join"], tasks["approve"], key="x")
    return flow, tasks


def summary(state: Any) -> dict[str, tuple[str, Any]]:
    return {t.name: (type(s).__name__, repr(s.result)) for t, s in state.result.items()}


def test_parallel_loop_gives_the_same_states_as_the_local_executor() -> None:
    local_flow, _ = build()
    with FakeClock():
        expected = local_flow.run()
    parallel_flow, _ = build(threading.Barrier(2, timeout=10))
    executor = TwoThreads()
    with FakeClock():
        actual = parallel_flow.run(executor=executor)
    assert summary(actual) == summary(expected)
    assert type(actual) is type(expected)
    assert executor.peak == 2  # a1 and b1 met at the barrier: both were in flight
    assert summary(actual)["approve"][0] == "Paused"
    assert summary(actual)["after-skip"][0] == "Skipped"
    assert summary(actual)["join"] == ("Success", repr(3 + 3 + 3 + 1))
