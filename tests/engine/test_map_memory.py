"""A 10,000-item mapped pipeline never holds every intermediate result at once.

Each ``load`` child returns 20 KB; holding all of them would take ~200 MB in the
process that runs the flow. Because children stream (``measure[i]`` runs right after
``load[i]``) and each ``load`` result is released once ``measure`` read it, the peak
stays at a few in-flight results. tracemalloc measures what the run allocates in
this process, which is where results arrive from threads, processes and workers.
"""

from __future__ import annotations

import tracemalloc

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.base import Executor

ITEMS = 10_000
RESULT_BYTES = 20_000
HELD_LIMIT = 40 * 1024 * 1024  # a fifth of what holding every result would take


@task
def load(i: int) -> bytes:
    return bytes(RESULT_BYTES)


@task
def measure(blob: bytes) -> int:
    return len(blob)


@task
def total(sizes: list[int]) -> int:
    return sum(sizes)


@pytest.mark.parametrize("any_executor", ["local", "processes", "dask"], indirect=True)
def test_a_ten_thousand_item_map_releases_results_as_it_goes(any_executor: Executor) -> None:
    with Flow("big-map") as flow:
        result = total(measure.map(load.map(list(range(ITEMS)))))

    tracemalloc.start()
    try:
        state = flow.run(executor=any_executor, return_tasks=[result])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.is_successful(), state.result
    assert state.result[result].result == ITEMS * RESULT_BYTES
    assert peak < HELD_LIMIT, f"peak {peak / 2**20:.0f} MiB: results were held, not released"
