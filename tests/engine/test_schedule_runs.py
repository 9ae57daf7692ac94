"""flow.run() on a schedule: waits on the clock, one run per date, Cached carried, no spinning.

Every test runs on a FakeClock, so ``clock.sleeps`` lists the waits ``flow.run()`` asked
for (in seconds) and nothing really sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import lockgate
from lockgate import Flow, Task, task, triggers
from lockgate.engine import task_runner as task_runner_module
from lockgate.engine.schedule_runs import NoMoreScheduledRuns
from lockgate.engine.state import Failed, Paused, Running, Success
from lockgate.schedules import CronSchedule, IntervalSchedule, OneTimeSchedule, Schedule
from lockgate.testing import FakeClock
from lockgate.utilities.clock import now as clock_now

UTC = timezone.utc
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached states from other tests must not leak into these runs."""
    monkeypatch.setattr(task_runner_module, "_CACHES", type(task_runner_module._CACHES)())


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with FakeClock(start=T0) as fake:
        yield fake


def recording_flow(schedule: Schedule | None) -> tuple[Flow, list[dict[str, Any]]]:
    """A one-task flow whose task records the context of each run it is part of."""
    runs: list[dict[str, Any]] = []

    @task
    def note() -> int:
        runs.append(
            {
                "scheduled": lockgate.context.get("scheduled_start_time"),
                "now": clock_now(),
                "today": lockgate.context.get("today"),
            }
        )
        return len(runs)

    with Flow("recorder", schedule=schedule) as flow:
        note()
    return flow, runs


def test_one_run_per_date_waiting_on_the_clock(clock: FakeClock) -> None:
    schedule = IntervalSchedule(T0 + timedelta(minutes=5), HOUR, end_date=T0 + 3 * HOUR)
    flow, runs = recording_flow(schedule)
    state = flow.run()
    assert isinstance(state, Success)
    assert clock.sleeps == [300.0, 3600.0, 3600.0]  # to 12:05, 13:05, 14:05; 15:05 is too late
    assert [r["scheduled"] for r in runs] == [T0 + timedelta(minutes=5 + 60 * i) for i in range(3)]
    assert [r["now"] for r in runs] == [r["scheduled"] for r in runs]
    assert clock.now() == T0 + timedelta(hours=2, minutes=5)


def test_the_returned_state_is_the_last_runs(clock: FakeClock) -> None:
    schedule = IntervalSchedule(T0, HOUR, end_date=T0 + 2 * HOUR)
    flow, runs = recording_flow(schedule)
    [note] = flow.tasks
    state = flow.run()
    assert state.result[note].result == len(runs) == 2  # 13:00 and 14:00 (12:00 is "now")


def test_run_on_schedule_false_runs_once_now(clock: FakeClock) -> None:
    flow, runs = recording_flow(IntervalSchedule(T0 + HOUR, HOUR))
    state = flow.run(run_on_schedule=False)
    assert isinstance(state, Success)
    assert clock.sleeps == []
    assert [r["scheduled"] for r in runs] == [T0]


def test_the_setting_flows_run_on_schedule_sets_the_default(clock: FakeClock) -> None:
    from lockgate.utilities.configuration import set_temporary_config

    flow, runs = recording_flow(IntervalSchedule(T0 + HOUR, HOUR, end_date=T0 + 2 * HOUR))
    with set_temporary_config({"flows.run_on_schedule": False}):
        flow.run()  # once, now
        assert clock.sleeps == [] and len(runs) == 1
        flow.run(run_on_schedule=True)  # the argument wins over the setting
    assert clock.sleeps == [3600.0, 3600.0] and len(runs) == 3


def test_a_schedule_with_no_dates_to_come_is_an_error(clock: FakeClock) -> None:
    flow, runs = recording_flow(OneTimeSchedule(T0 - HOUR))
    with pytest.raises(NoMoreScheduledRuns, match="no more scheduled runs") as error:
        flow.run()
    assert isinstance(error.value, ValueError)
    assert "run_on_schedule=False" in str(error.value)
    assert runs == []


def test_a_one_time_schedule_runs_once_at_its_date(clock: FakeClock) -> None:
    flow, runs = recording_flow(OneTimeSchedule(T0 + timedelta(days=2)))
    flow.run()
    assert clock.sleeps == [2 * 86400.0]
    assert [r["today"] for r in runs] == ["2026-06-03"]


def test_cached_states_carry_into_the_next_run(clock: FakeClock) -> None:
    computed: list[datetime] = []

    @task(cache_for=timedelta(minutes=90))
    def expensive() -> str:
        computed.append(clock_now())
        return "report"

    seen: list[str] = []

    @task
    def publish(report: str) -> None:
        seen.append(report)

    schedule = IntervalSchedule(T0 + HOUR, HOUR, end_date=T0 + 4 * HOUR)
    with Flow("cached", schedule=schedule) as flow:
        publish(expensive())
    flow.run()
    # 13:00 computes (valid until 14:30); 14:00 reuses; 15:00 recomputes; 16:00 reuses.
    assert computed == [T0 + HOUR, T0 + 3 * HOUR]
    assert seen == ["report"] * 4


def test_a_failed_run_does_not_stop_the_schedule(clock: FakeClock) -> None:
    attempts: list[int] = []

    @task
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first run fails")

    with Flow("flaky", schedule=IntervalSchedule(T0 + HOUR, HOUR, end_date=T0 + 2 * HOUR)) as f:
        flaky()
    state = f.run()
    assert isinstance(state, Success) and len(attempts) == 2


def test_retries_inside_a_scheduled_run_are_waited_for(clock: FakeClock) -> None:
    attempts: list[datetime] = []

    @task(max_retries=1, retry_delay=timedelta(minutes=2))
    def shaky() -> None:
        attempts.append(clock_now())
        if len(attempts) == 1:
            raise RuntimeError("try again")

    with Flow("shaky", schedule=OneTimeSchedule(T0 + HOUR)) as flow:
        shaky()
    state = flow.run()
    assert isinstance(state, Success)
    assert attempts == [T0 + HOUR, T0 + HOUR + timedelta(minutes=2)]
    assert clock.sleeps == [3600.0, 120.0]


def test_a_paused_run_ends_the_loop_instead_of_spinning(clock: FakeClock) -> None:
    ran: list[int] = []

    @task
    def prepare() -> None:
        ran.append(1)

    @task(trigger=triggers.manual_only)
    def approve() -> None:
        pass

    schedule = IntervalSchedule(T0 + HOUR, HOUR, end_date=T0 + 5 * HOUR)
    with Flow("gated", schedule=schedule) as flow:
        gate = approve(upstream_tasks=[prepare()])
    state = flow.run()
    assert isinstance(state, Running)
    assert isinstance(state.result[gate], Paused)
    assert ran == [1]  # one run, not five, and no busy loop
    assert clock.sleeps == [3600.0]


def test_a_paused_run_can_be_resumed_and_the_schedule_followed_again(clock: FakeClock) -> None:
    approvals: list[str] = []

    @task(trigger=triggers.manual_only)
    def approve() -> None:
        approvals.append(str(lockgate.context.get("scheduled_start_time")))

    schedule = IntervalSchedule(T0 + HOUR, HOUR, end_date=T0 + 2 * HOUR)
    with Flow("gated", schedule=schedule) as flow:
        gate = approve()
    paused = flow.run()
    resumed = flow.run(run_on_schedule=False, task_states=paused.result, start_tasks=[gate])
    assert isinstance(resumed, Success) and len(approvals) == 1
    later = flow.run()  # the 14:00 date is still to come; it pauses again
    assert isinstance(later.result[gate], Paused)


def test_parameters_are_given_to_every_run(clock: FakeClock) -> None:
    seen: list[int] = []

    @task
    def use(x: int) -> None:
        seen.append(x)

    with Flow("params", schedule=IntervalSchedule(T0 + HOUR, HOUR, T0 + 3 * HOUR)) as flow:
        use(lockgate.Parameter("x"))
    flow.run(parameters={"x": 7})
    assert seen == [7, 7, 7]


def test_a_daily_cron_in_london_waits_23_hours_across_spring_forward() -> None:
    london = ZoneInfo("Europe/London")
    start = datetime(2026, 3, 27, 10, 0, tzinfo=london)
    schedule = CronSchedule(
        "0 9 * * *", start_date=start, end_date=datetime(2026, 3, 30, 12, 0, tzinfo=london)
    )
    flow, runs = recording_flow(schedule)
    with FakeClock(start=start) as clock:
        flow.run()
    hours = [s / 3600 for s in clock.sleeps]
    assert hours == [23.0, 23.0, 24.0]  # 28th 09:00 GMT, 29th 09:00 BST, 30th 09:00 BST
    assert [r["today"] for r in runs] == ["2026-03-28", "2026-03-29", "2026-03-30"]


def test_a_custom_schedule_is_asked_for_one_date_at_a_time(clock: FakeClock) -> None:
    class ThreeTimes(Schedule):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[int] = []

        def next(self, n: int, after: datetime | None = None) -> list[datetime]:
            self.calls.append(n)
            left = 3 - len(self.calls) + 1
            return [clock_now() + timedelta(minutes=10)] if left > 0 else []

    schedule = ThreeTimes()
    flow, runs = recording_flow(schedule)
    flow.run()
    assert len(runs) == 3 and schedule.calls == [1, 1, 1, 1]
    assert clock.sleeps == [600.0, 600.0, 600.0]


def test_a_failing_schedule_propagates_its_error(clock: FakeClock) -> None:
    class Broken(Schedule):
        def next(self, n: int, after: datetime | None = None) -> list[datetime]:
            raise LookupError("calendar service is down")

    flow, _ = recording_flow(Broken())
    with pytest.raises(LookupError, match="calendar service"):
        flow.run()


def test_flow_refuses_a_schedule_that_is_not_one() -> None:
    with pytest.raises(TypeError, match=r"schedule must be a lockgate\.schedules\.Schedule.*str"):
        Flow("typo", schedule="0 9 * * *")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timedelta"):
        Flow("typo", schedule=timedelta(hours=1))  # type: ignore[arg-type]


def test_a_run_that_fails_before_any_task_ends_the_loop(clock: FakeClock) -> None:
    class Exploding(Task):
        def run(self) -> None:
            pass

    flow = Flow("broken", schedule=IntervalSchedule(T0 + HOUR, HOUR), tasks=[Exploding()])

    def refuse(old: Any, new: Any, *rest: Any) -> Any:
        raise RuntimeError("handler broke")

    flow.state_handlers.append(lambda f, old, new: refuse(old, new))
    state = flow.run()
    assert isinstance(state, Failed)
    assert clock.sleeps == [3600.0]


SCHEDULED_FLOW_FILE = """
from datetime import datetime, timedelta, timezone

from lockgate import Flow, task, triggers
from lockgate.schedules import IntervalSchedule

@task
def prepare():
    return 1

@task(trigger=triggers.manual_only)
def approve(x):
    return x + 1

hourly = IntervalSchedule(datetime(2026, 6, 1, 13, 0, tzinfo=timezone.utc), timedelta(hours=1))
with Flow("scheduled-gate", schedule=hourly) as flow:
    approve(prepare())
"""


def test_lockgate_run_and_resume_run_once_now_even_on_a_schedule(
    clock: FakeClock, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate import runs
    from lockgate.store import RunStore

    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))
    for var in ("LOCKGATE_STORE_URL", "LOCKGATE_EXECUTOR", "LOCKGATE_STORE"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "scheduled_gate.py"
    path.write_text(SCHEDULED_FLOW_FILE)
    run_id, paused = runs.run_file(str(path))
    assert isinstance(paused, Running)  # ran at once, stopped at the gate
    final = runs.resume(run_id)
    assert isinstance(final, Success)
    assert clock.sleeps == []  # never waited for the 13:00 date
    with RunStore.open() as store:
        assert [r.state for r in store.list_runs()] == ["Success"]
