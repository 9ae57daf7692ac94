"""A 10,000-item mapped pipeline never holds every intermediate result at once.

Each ``load`` child returns a :class:`Blob` of 20 KB; holding all of them would take
~200 MB in the process that runs the flow. Because children stream (``measure[i]``
runs right after ``load[i]``) and each ``load`` result is released once ``measure``
read it, only a few are alive at any time. Blobs count themselves in the process
that runs the flow, which is where results arrive from threads, processes and Dask
workers (counting objects, not bytes, keeps the Dask scheduler's own bookkeeping,
which lives in this process, out of the measurement).
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


@pytest.mark.parametrize("any_executor", ["local", "processes", "dask"], indirect=True)
def test_a_ten_thousand_item_map_releases_results_as_it_goes(any_executor: Executor) -> None:
    with Flow("big-map") as flow:
        result = total(measure.map(load.map(list(range(ITEMS)))))

    gc.collect()
    Blob.peak = Blob.alive = 0
    state = flow.run(executor=any_executor, return_tasks=[result])
    assert state.is_successful(), state.result
    assert state.result[result].result == ITEMS * BLOB_BYTES
    assert 0 < Blob.peak < ALIVE_LIMIT, f"{Blob.peak} results alive at once: held, not released"
