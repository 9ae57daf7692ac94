"""lockgate.testing: FakeClock and RecordingExecutor."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from lockgate import Flow, task
from lockgate.engine.executors import LocalExecutor
from lockgate.engine.state import Scheduled, Success
from lockgate.testing import FakeClock, RecordingExecutor
from lockgate.utilities import clock

T0 = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


# -- FakeClock ----------------------------------------------------------------------------------


def test_fake_clock_starts_where_told() -> None:
    fake = FakeClock(start=T0)
    assert fake.now() == T0
    assert fake.now() == T0  # time does not move by itself
    assert fake.sleeps == []


def test_fake_clock_default_start_is_a_fixed_aware_utc_time() -> None:
    fake = FakeClock()
    assert fake.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert fake.now().utcoffset() == timedelta(0)


def test_fake_clock_reads_a_naive_start_as_utc() -> None:
    fake = FakeClock(start=datetime(2030, 1, 1, 6, 0))
    assert fake.now() == datetime(2030, 1, 1, 6, 0, tzinfo=timezone.utc)


def test_fake_clock_converts_an_aware_start_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    fake = FakeClock(start=datetime(2030, 1, 1, 12, 0, tzinfo=plus_two))
    assert fake.now() == datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert fake.now().utcoffset() == timedelta(0)


def test_fake_clock_advance() -> None:
    fake = FakeClock(start=T0)
    assert fake.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    assert fake.advance(hours=1, seconds=30) == T0 + timedelta(hours=1, minutes=5, seconds=30)
    assert fake.now() == T0 + timedelta(hours=1, minutes=5, seconds=30)
    assert fake.sleeps == []  # advancing is not sleeping


def test_fake_clock_sleep_moves_time_and_records_the_request() -> None:
    fake = FakeClock(start=T0)
    fake.sleep(10)
    fake.sleep(0.5)
    assert fake.now() == T0 + timedelta(seconds=10.5)
    assert fake.sleeps == [10, 0.5]


def test_fake_clock_zero_and_negative_sleeps_are_recorded_but_do_not_move_time() -> None:
    fake = FakeClock(start=T0)
    fake.sleep(0)
    fake.sleep(-3)
    assert fake.sleeps == [0, -3]
    assert fake.now() == T0


def test_fake_clock_is_installed_and_restored_by_the_with_block() -> None:
    assert clock.current_clock() is clock.SYSTEM_CLOCK
    with FakeClock(start=T0) as fake:
        assert clock.current_clock() is fake
        assert clock.now() == T0
        clock.sleep(60)  # instant
        assert clock.now() == T0 + timedelta(minutes=1)
        assert fake.sleeps == [60]
    assert clock.current_clock() is clock.SYSTEM_CLOCK
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_fake_clocks_nest() -> None:
    outer, inner = FakeClock(start=T0), FakeClock(start=T0 + timedelta(days=1))
    with outer:
        with inner:
            assert clock.current_clock() is inner
        assert clock.current_clock() is outer
    assert clock.current_clock() is clock.SYSTEM_CLOCK


def test_the_same_fake_clock_can_be_entered_twice() -> None:
    fake = FakeClock(start=T0)
    with fake:
        with fake:
            assert clock.current_clock() is fake
        assert clock.current_clock() is fake
    assert clock.current_clock() is clock.SYSTEM_CLOCK


def test_fake_clock_is_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), FakeClock(start=T0):
        raise RuntimeError("boom")
    assert clock.current_clock() is clock.SYSTEM_CLOCK


def test_states_created_under_a_fake_clock_use_its_time() -> None:
    with FakeClock(start=T0):
        assert Scheduled().start_time == T0


def test_fake_clock_times_a_flow_run() -> None:
    @task
    def now() -> datetime:
        return clock.now()

    with Flow("clock") as flow:
        n = now()

    with FakeClock(start=T0):
        state = flow.run()
    assert state.result[n].result == T0


# -- RecordingExecutor ------------------------------------------------------------------------------


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def test_recording_executor_records_task_names_in_order() -> None:
    with Flow("record") as flow:
        a = numbers()
        t = total(a)

    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert isinstance(state, Success)
    assert state.result[t].result == 6
    assert executor.submitted == [("numbers", None), ("total", None)]


def test_recording_executor_records_mapped_children_with_their_map_index() -> None:
    with Flow("record-map") as flow:
        m = inc.map(numbers())
        total(m)

    executor = RecordingExecutor()
    flow.run(executor=executor)
    assert executor.submitted == [
        ("numbers", None),
        ("inc", 0),
        ("inc", 1),
        ("inc", 2),
        ("total", None),
    ]


def test_recording_executor_counts_starts_and_behaves_like_a_local_executor() -> None:
    executor = RecordingExecutor()
    assert isinstance(executor, LocalExecutor)
    assert executor.starts == 0
    assert executor.submitted == []
    with executor.start():
        pass
    assert executor.starts == 1
    assert executor.wait(executor.submit(lambda x: x * 2, 21)) == 42
    assert executor.submitted == []  # plain callables are run but not recorded


def test_recording_executor_accumulates_over_runs() -> None:
    with Flow("twice") as flow:
        numbers()

    executor = RecordingExecutor()
    flow.run(executor=executor)
    flow.run(executor=executor)
    assert executor.submitted == [("numbers", None), ("numbers", None)]
    assert executor.starts == 2


def test_recording_executor_pickles() -> None:
    executor = RecordingExecutor()
    executor.submitted.append(("x", None))
    again = pickle.loads(pickle.dumps(executor))
    assert again.submitted == [("x", None)]
