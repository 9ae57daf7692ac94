"""``Executor.wait`` on every executor: futures become results, other values pass through.

A task runner that maps a task may hand back children's states that are already
computed; code written for Prefect waits on them all the same.
"""

from __future__ import annotations

import pytest

from lockgate.engine.executors.base import Executor
from lockgate.engine.state import Failed, Success


def double(x: int) -> int:
    return 2 * x


def test_wait_passes_finished_states_and_plain_values_through(any_executor: Executor) -> None:
    finished = [Success(result=1), Failed("boom")]
    with any_executor.start():
        assert any_executor.wait(finished) == finished
        assert any_executor.wait(finished[0]) is finished[0]
        mixed = any_executor.wait([finished[0], any_executor.submit(double, 21), None])
    assert mixed == [finished[0], 42, None]


@pytest.mark.parametrize("value", [0, "text", {"a": 1}])
def test_wait_on_a_single_plain_value_returns_it(any_executor: Executor, value: object) -> None:
    with any_executor.start():
        assert any_executor.wait(value) == value
