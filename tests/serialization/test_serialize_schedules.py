"""Schedules keep their zone, and with it their daylight-saving behaviour, through JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import marshmallow
import pytest

import lockgate
from lockgate import schedules
from lockgate.serialization.schedule import ScheduleSchema

PARIS = ZoneInfo("Europe/Paris")


def round_trip(schedule: schedules.Schedule) -> schedules.Schedule:
    loaded = ScheduleSchema().load(json.loads(json.dumps(ScheduleSchema().dump(schedule))))
    assert type(loaded) is type(schedule)
    return loaded  # type: ignore[no-any-return]


def test_every_schedule_class_has_a_schema() -> None:
    classes = {
        cls.__name__
        for cls in vars(schedules).values()
        if isinstance(cls, type)
        and issubclass(cls, schedules.Schedule)
        and cls is not schedules.Schedule
    }
    assert set(ScheduleSchema.type_schemas) == classes


def test_interval_schedule_is_written_with_zone_names_and_microseconds() -> None:
    schedule = schedules.IntervalSchedule(
        start_date=datetime(2031, 3, 29, 9, tzinfo=PARIS),
        interval=timedelta(days=1, microseconds=5),
        end_date=datetime(2031, 4, 2, 9, tzinfo=PARIS),
    )
    assert ScheduleSchema().dump(schedule) == {
        "type": "IntervalSchedule",
        "start_date": {"dt": "2031-03-29T09:00:00", "tz": "Europe/Paris"},
        "end_date": {"dt": "2031-04-02T09:00:00", "tz": "Europe/Paris"},
        "interval": 86_400_000_005,
        "__version__": lockgate.__version__,
    }


def test_a_daily_schedule_keeps_its_local_time_across_the_clock_change() -> None:
    # Paris moves its clocks forward on 2031-03-30: 09:00 stays 09:00 local.
    schedule = schedules.IntervalSchedule(
        start_date=datetime(2031, 3, 28, 9, tzinfo=PARIS), interval=timedelta(days=1)
    )
    loaded = round_trip(schedule)
    after = datetime(2031, 3, 28, tzinfo=timezone.utc)
    dates = loaded.next(4, after=after)
    assert dates == schedule.next(4, after=after)
    assert [d.astimezone(PARIS).hour for d in dates] == [9, 9, 9, 9]
    assert {d.utcoffset() for d in dates} == {timedelta(hours=1), timedelta(hours=2)}


def test_cron_one_time_and_union_schedules_round_trip() -> None:
    start = datetime(2031, 1, 1, tzinfo=PARIS)
    cron = schedules.CronSchedule("30 6 * * 1-5", start_date=start)
    once = schedules.OneTimeSchedule(start_date=datetime(2031, 2, 3, 4, 5, tzinfo=PARIS))
    union = schedules.UnionSchedule([cron, once])
    after = datetime(2031, 2, 1, tzinfo=timezone.utc)
    for schedule in (cron, once, union):
        assert round_trip(schedule).next(5, after=after) == schedule.next(5, after=after)


def test_a_missing_or_unknown_type_is_refused() -> None:
    with pytest.raises(marshmallow.ValidationError):
        ScheduleSchema().load({})
    with pytest.raises(marshmallow.ValidationError, match="Fortnightly"):
        ScheduleSchema().load({"type": "Fortnightly"})
