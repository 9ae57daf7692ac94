"""A 10,000-item mapped pipeline never holds every intermediate result at once.

Each ``load`` child returns a :class:`Blob` of 20 KB; holding all of them would take
~200 MB. Because children stream (``measure[i]`` runs right after ``load[i]``) and
each ``load`` result is released once ``measure`` read it, only a few are alive at
any time. Where results live depends on the executor:

* local and processes: results come back to the process that runs the flow, where
  Blobs count themselves (objects, not bytes, so other allocations do not blur it);
* Dask: results stay on the workers and move between them, so a scheduler plugin
  counts the ``load`` results held in the cluster's memory.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.base import Executor

ITEMS = 10_000
BLOB_BYTES = 20_000
ALIVE_LIMIT = ITEMS // 20  # holding every result would be ITEMS


class Blob:
    """20 KB of data that counts how many instances are alive in this process."""

    alive = 0
    peak = 0
    _lock = threading.Lock()  # results are unpickled on the Dask client's own thread

    def __init__(self, size: int) -> None:
        self.data = bytes(size)
        with Blob._lock:
            Blob.alive += 1
            Blob.peak = max(Blob.peak, Blob.alive)

    def __del__(self) -> None:
        with Blob._lock:
            Blob.alive -= 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (Blob, (len(self.data),))


@task
def load(i: int) -> Blob:
    return Blob(BLOB_BYTES)


@task
def measure(blob: Blob) -> int:
    return len(blob.data)


@task
def total(sizes: list[int]) -> int:
    return sum(sizes)


@pytest.mark.parametrize("any_executor", ["local", "processes"], indirect=True)
def test_a_ten_thousand_item_map_releases_results_as_it_goes(any_executor: Executor) -> None:
    with Flow("big-map") as flow:
        result = total(measure.map(load.map(list(range(ITEMS)))))

    gc.collect()
    Blob.peak = Blob.alive = 0
    state = flow.run(executor=any_executor, return_tasks=[result])
    assert state.is_successful(), state.result
    assert state.result[result].result == ITEMS * BLOB_BYTES
    assert 0 < Blob.peak < ALIVE_LIMIT, f"{Blob.peak} results alive at once: held, not released"


try:
    from distributed.diagnostics.plugin import SchedulerPlugin
except ImportError:  # the dask test skips itself
    SchedulerPlugin = object  # type: ignore[assignment,misc]


class HeldLoadResults(SchedulerPlugin):  # type: ignore[misc]
    """Scheduler plugin: how many ``load`` results the cluster holds, now and at most.

    Keys of lockgate's calls start with ``lockgate-<task name>-``.
    """

    name = "test-held-load-results"

    def __init__(self) -> None:
        self.held = self.peak = self.total = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if not str(key).startswith("lockgate-load-"):
            return
        if finish == "memory":
            self.held += 1
            self.total += 1
            self.peak = max(self.peak, self.held)
        elif start == "memory":
            self.held -= 1


def _plugin_counts(dask_scheduler: Any = None) -> tuple[int, int, int]:
    plugin = dask_scheduler.plugins[HeldLoadResults.name]
    return plugin.held, plugin.peak, plugin.total


@pytest.mark.parametrize("any_executor", ["dask"], indirect=True)
def test_a_ten_thousand_item_map_on_dask_keeps_few_results_on_the_cluster(
    any_executor: Executor, dask_cluster_address: str
) -> None:
    distributed = pytest.importorskip("distributed")
    with Flow("big-map") as flow:
        result = total(measure.map(load.map(list(range(ITEMS)))))

    client = distributed.Client(dask_cluster_address, set_as_default=False)
    try:
        client.register_plugin(HeldLoadResults())
        state = flow.run(executor=any_executor, return_tasks=[result])
        held, peak, made = client.run_on_scheduler(_plugin_counts)
        client.unregister_scheduler_plugin(HeldLoadResults.name)
    finally:
        client.close()
    assert state.is_successful(), state.result
    assert state.result[result].result == ITEMS * BLOB_BYTES
    assert made == ITEMS, f"{made} load results reached the cluster's memory"
    assert 0 < peak < ALIVE_LIMIT, f"{peak} load results held at once: held, not released"
    assert held == 0, f"{held} load results still held after the run"
