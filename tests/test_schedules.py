"""Schedules: the dates each kind gives, across the DST changes of London and New York.

2026's changes used below:

* Europe/London: clocks go forward Sun 29 March 01:00 GMT -> 02:00 BST, and back
  Sun 25 October 02:00 BST -> 01:00 GMT.
* America/New_York: forward Sun 8 March 02:00 EST -> 03:00 EDT, back Sun 1 November
  02:00 EDT -> 01:00 EST.

Dates are compared in UTC (``utc(...)``): Python compares two datetimes that share a
tzinfo by wall clock alone, so 01:30 EDT and 01:30 EST would compare equal.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest
import pytz

from lockgate.schedules import (
    CronSchedule,
    IntervalSchedule,
    OneTimeSchedule,
    Schedule,
    UnionSchedule,
)
from lockgate.testing import FakeClock

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(dates: list[datetime]) -> list[str]:
    """Dates as UTC "MM-DD HH:MM" strings: readable, and compared by instant."""
    return [d.astimezone(UTC).strftime("%m-%d %H:%M") for d in dates]


def local(dates: list[datetime]) -> list[str]:
    """Dates as the wall clock of their own zone, with the zone's abbreviation."""
    return [d.strftime("%m-%d %H:%M %Z") for d in dates]


# -- the base class ------------------------------------------------------------------------
def test_the_base_schedule_has_no_dates_of_its_own() -> None:
    with pytest.raises(NotImplementedError, match="must implement next"):
        Schedule().next(1)


def test_a_subclass_only_implements_next() -> None:
    class FirstOfTheMonth(Schedule):
        def next(self, n: int, after: datetime | None = None) -> list[datetime]:
            after = after or datetime.now(UTC)
            first = datetime(after.year, after.month, 1, tzinfo=UTC)
            dates = []
            while len(dates) < n:
                first = (first + timedelta(days=32)).replace(day=1)
                dates.append(first)
            return dates

    assert utc(FirstOfTheMonth().next(2, after=datetime(2026, 11, 5, tzinfo=UTC))) == [
        "12-01 00:00",
        "01-01 00:00",
    ]


# -- IntervalSchedule ----------------------------------------------------------------------
class TestInterval:
    def test_dates_step_from_the_start_date(self) -> None:
        start = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
        s = IntervalSchedule(start, timedelta(minutes=90))
        assert utc(s.next(3, after=start - DAY)) == ["05-04 06:00", "05-04 07:30", "05-04 09:00"]

    def test_after_is_exclusive_and_may_fall_between_dates(self) -> None:
        start = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
        s = IntervalSchedule(start, HOUR)
        assert utc(s.next(2, after=start)) == ["05-04 07:00", "05-04 08:00"]
        assert utc(s.next(1, after=start + timedelta(minutes=59, seconds=59))) == ["05-04 07:00"]
        assert utc(s.next(1, after=start + timedelta(days=400, microseconds=1))) == ["06-08 07:00"]

    def test_after_defaults_to_the_clock_in_force(self) -> None:
        s = IntervalSchedule(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=6))
        with FakeClock(datetime(2026, 2, 10, 13, 0, tzinfo=UTC)):
            assert utc(s.next(2)) == ["02-10 18:00", "02-11 00:00"]

    def test_end_date_is_the_last_possible_date(self) -> None:
        start = datetime(2026, 5, 4, tzinfo=UTC)
        s = IntervalSchedule(start, DAY, end_date=start + 2 * DAY)
        assert utc(s.next(10, after=start - HOUR)) == ["05-04 00:00", "05-05 00:00", "05-06 00:00"]
        assert s.next(10, after=start + 2 * DAY) == []

    def test_n_of_zero_or_less_gives_nothing(self) -> None:
        s = IntervalSchedule(datetime(2026, 5, 4, tzinfo=UTC), HOUR)
        assert s.next(0) == [] and s.next(-2) == []

    @pytest.mark.parametrize(
        "interval", [timedelta(seconds=59), timedelta(0), -HOUR, timedelta(microseconds=59_999_999)]
    )
    def test_intervals_under_a_minute_are_refused(self, interval: timedelta) -> None:
        with pytest.raises(ValueError, match="less than one minute"):
            IntervalSchedule(datetime(2026, 1, 1, tzinfo=UTC), interval)

    def test_exactly_one_minute_is_allowed(self) -> None:
        s = IntervalSchedule(datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=60))
        assert s.interval == timedelta(minutes=1)

    def test_bad_argument_types_are_named(self) -> None:
        with pytest.raises(TypeError, match="start_date"):
            IntervalSchedule(None, HOUR)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="timedelta"):
            IntervalSchedule(datetime(2026, 1, 1, tzinfo=UTC), 3600)  # type: ignore[arg-type]

    def test_end_before_start_is_refused(self) -> None:
        with pytest.raises(ValueError, match="before start_date"):
            IntervalSchedule(
                datetime(2026, 2, 1, tzinfo=UTC), DAY, end_date=datetime(2026, 1, 1, tzinfo=UTC)
            )


class TestIntervalAcrossDST:
    def test_hourly_in_london_runs_every_sixty_minutes_through_spring_forward(self) -> None:
        s = IntervalSchedule(datetime(2026, 3, 28, 23, 0, tzinfo=LONDON), HOUR)
        dates = s.next(4, after=datetime(2026, 3, 28, 22, 0, tzinfo=LONDON))
        assert utc(dates) == ["03-28 23:00", "03-29 00:00", "03-29 01:00", "03-29 02:00"]
        assert local(dates) == [
            "03-28 23:00 GMT",
            "03-29 00:00 GMT",
            "03-29 02:00 BST",  # 01:00 local never happens
            "03-29 03:00 BST",
        ]

    def test_hourly_in_london_shows_one_thirty_twice_when_clocks_go_back(self) -> None:
        s = IntervalSchedule(datetime(2026, 10, 24, 23, 30, tzinfo=LONDON), HOUR)
        dates = s.next(5, after=datetime(2026, 10, 24, 23, 0, tzinfo=LONDON))
        assert utc(dates) == [
            "10-24 22:30",
            "10-24 23:30",
            "10-25 00:30",
            "10-25 01:30",
            "10-25 02:30",
        ]
        assert local(dates) == [
            "10-24 23:30 BST",
            "10-25 00:30 BST",
            "10-25 01:30 BST",
            "10-25 01:30 GMT",
            "10-25 02:30 GMT",
        ]

    def test_hourly_in_new_york_through_both_changes(self) -> None:
        spring = IntervalSchedule(datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK), HOUR)
        assert local(spring.next(4, after=datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK))) == [
            "03-08 00:00 EST",
            "03-08 01:00 EST",
            "03-08 03:00 EDT",
            "03-08 04:00 EDT",
        ]
        autumn = IntervalSchedule(datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK), HOUR)
        dates = autumn.next(4, after=datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK))
        assert local(dates) == [
            "11-01 00:00 EDT",
            "11-01 01:00 EDT",
            "11-01 01:00 EST",
            "11-01 02:00 EST",
        ]
        assert utc(dates) == ["11-01 04:00", "11-01 05:00", "11-01 06:00", "11-01 07:00"]

    def test_daily_in_london_keeps_quarter_past_eight(self) -> None:
        s = IntervalSchedule(datetime(2026, 3, 27, 8, 15, tzinfo=LONDON), DAY)
        spring = s.next(4, after=datetime(2026, 3, 27, tzinfo=LONDON))
        assert local(spring) == [
            "03-27 08:15 GMT",
            "03-28 08:15 GMT",
            "03-29 08:15 BST",
            "03-30 08:15 BST",
        ]
        assert utc(spring) == ["03-27 08:15", "03-28 08:15", "03-29 07:15", "03-30 07:15"]
        autumn = s.next(4, after=datetime(2026, 10, 23, tzinfo=LONDON))
        assert utc(autumn) == ["10-23 07:15", "10-24 07:15", "10-25 08:15", "10-26 08:15"]

    def test_daily_in_new_york_keeps_nine_am(self) -> None:
        s = IntervalSchedule(datetime(2026, 3, 5, 9, 0, tzinfo=NEW_YORK), DAY)
        spring = s.next(5, after=datetime(2026, 3, 5, 12, 0, tzinfo=NEW_YORK))
        assert [d.hour for d in spring] == [9, 9, 9, 9, 9]
        assert utc(spring) == [
            "03-06 14:00",
            "03-07 14:00",
            "03-08 13:00",
            "03-09 13:00",
            "03-10 13:00",
        ]
        autumn = s.next(3, after=datetime(2026, 10, 31, tzinfo=NEW_YORK))
        assert utc(autumn) == ["10-31 13:00", "11-01 14:00", "11-02 14:00"]

    def test_after_exactly_on_a_date_past_a_dst_change_is_still_exclusive(self) -> None:
        # Elapsed time from the start is 4 days minus an hour: a guess from elapsed
        # time alone would hand back the 9 March date itself.
        s = IntervalSchedule(datetime(2026, 3, 5, 9, 0, tzinfo=NEW_YORK), DAY)
        after = datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK)
        assert local(s.next(1, after=after)) == ["03-10 09:00 EDT"]

    def test_a_daily_time_that_does_not_exist_runs_after_the_jump(self) -> None:
        s = IntervalSchedule(datetime(2026, 3, 6, 2, 30, tzinfo=NEW_YORK), DAY)
        dates = s.next(4, after=datetime(2026, 3, 6, tzinfo=NEW_YORK))
        assert local(dates) == [
            "03-06 02:30 EST",
            "03-07 02:30 EST",
            "03-08 03:30 EDT",  # 02:30 is skipped that night
            "03-09 02:30 EDT",
        ]

    def test_a_daily_time_that_happens_twice_runs_once_at_the_second(self) -> None:
        s = IntervalSchedule(datetime(2026, 10, 30, 1, 30, tzinfo=NEW_YORK), DAY)
        dates = s.next(4, after=datetime(2026, 10, 30, tzinfo=NEW_YORK))
        assert utc(dates) == ["10-30 05:30", "10-31 05:30", "11-01 06:30", "11-02 06:30"]

    def test_weekly_keeps_the_wall_clock_too(self) -> None:
        s = IntervalSchedule(datetime(2026, 3, 23, 18, 0, tzinfo=LONDON), timedelta(weeks=1))
        assert local(s.next(2, after=datetime(2026, 3, 23, 18, 0, tzinfo=LONDON))) == [
            "03-30 18:00 BST",
            "04-06 18:00 BST",
        ]

    def test_a_utc_start_date_ignores_local_dst(self) -> None:
        start = datetime(2026, 3, 7, 14, 0, tzinfo=NEW_YORK).astimezone(UTC)
        s = IntervalSchedule(start, DAY)
        assert utc(s.next(3, after=start)) == ["03-08 19:00", "03-09 19:00", "03-10 19:00"]


# -- CronSchedule --------------------------------------------------------------------------
class TestCron:
    def test_without_a_start_date_cron_reads_utc(self) -> None:
        s = CronSchedule("15 6 * * *")
        after = datetime(2026, 7, 1, 12, 0, tzinfo=NEW_YORK)  # 16:00 UTC
        dates = s.next(2, after=after)
        assert utc(dates) == ["07-02 06:15", "07-03 06:15"]
        assert all(d.tzinfo == ZoneInfo("UTC") for d in dates)

    def test_after_defaults_to_the_clock_in_force(self) -> None:
        with FakeClock(datetime(2026, 4, 1, 10, 1, tzinfo=UTC)):
            assert utc(CronSchedule("*/20 * * * *").next(3)) == [
                "04-01 10:20",
                "04-01 10:40",
                "04-01 11:00",
            ]

    def test_weekdays_only(self) -> None:
        s = CronSchedule("0 9 * * 1-5", start_date=datetime(2026, 1, 1, tzinfo=LONDON))
        dates = s.next(3, after=datetime(2026, 3, 27, 10, 0, tzinfo=LONDON))  # a Friday
        assert local(dates) == ["03-30 09:00 BST", "03-31 09:00 BST", "04-01 09:00 BST"]

    def test_start_date_counts_if_it_matches(self) -> None:
        start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
        s = CronSchedule("0 0 * * *", start_date=start)
        with FakeClock(datetime(2026, 1, 1, tzinfo=UTC)):
            assert utc(s.next(2)) == ["06-01 00:00", "06-02 00:00"]

    def test_start_date_between_matches_moves_to_the_next(self) -> None:
        s = CronSchedule("0 0 * * *", start_date=datetime(2026, 6, 1, 0, 0, 0, 1, tzinfo=UTC))
        assert utc(s.next(1, after=datetime(2026, 1, 1, tzinfo=UTC))) == ["06-02 00:00"]

    def test_end_date(self) -> None:
        s = CronSchedule(
            "0 12 * * *",
            start_date=datetime(2026, 6, 1, tzinfo=UTC),
            end_date=datetime(2026, 6, 3, 12, 0, tzinfo=UTC),
        )
        assert utc(s.next(5, after=datetime(2026, 5, 1, tzinfo=UTC))) == [
            "06-01 12:00",
            "06-02 12:00",
            "06-03 12:00",
        ]

    def test_n_of_zero_or_less_gives_nothing(self) -> None:
        assert CronSchedule("* * * * *").next(0) == []
        assert CronSchedule("* * * * *").next(-1) == []

    @pytest.mark.parametrize("bad", ["*", "every day", "0 0 31 2", "61 * * * *", "* * 32 1 1"])
    def test_invalid_expressions_are_refused_by_name(self, bad: str) -> None:
        with pytest.raises(ValueError, match="not a valid cron expression"):
            CronSchedule(bad)

    def test_an_expression_that_never_matches_is_refused(self) -> None:
        with pytest.raises(ValueError, match="never matches a date"):
            CronSchedule("0 0 30 2 *")

    def test_leap_days_are_found_years_apart(self) -> None:
        s = CronSchedule("0 6 29 2 *")
        assert utc(s.next(2, after=datetime(2026, 1, 1, tzinfo=UTC))) == [
            "02-29 06:00",
            "02-29 06:00",
        ]
        assert [d.year for d in s.next(2, after=datetime(2026, 1, 1, tzinfo=UTC))] == [2028, 2032]

    def test_a_non_string_is_refused(self) -> None:
        with pytest.raises(TypeError, match="must be a string"):
            CronSchedule(5)  # type: ignore[arg-type]


class TestCronAcrossDST:
    def test_hourly_in_new_york_skips_the_missing_hour(self) -> None:
        s = CronSchedule("0 * * * *", start_date=datetime(2026, 3, 1, tzinfo=NEW_YORK))
        dates = s.next(3, after=datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK))
        assert local(dates) == ["03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"]
        assert utc(dates) == ["03-08 06:00", "03-08 07:00", "03-08 08:00"]

    def test_hourly_in_new_york_fires_the_repeated_hour_once(self) -> None:
        s = CronSchedule("0 * * * *", start_date=datetime(2026, 10, 1, tzinfo=NEW_YORK))
        dates = s.next(4, after=datetime(2026, 10, 31, 23, 30, tzinfo=NEW_YORK))
        assert [d.hour for d in dates] == [0, 1, 2, 3]
        assert utc(dates) == ["11-01 04:00", "11-01 06:00", "11-01 07:00", "11-01 08:00"]

    def test_after_inside_the_repeated_hour_still_finds_its_second_occurrence(self) -> None:
        s = CronSchedule("0 * * * *", start_date=datetime(2026, 10, 1, tzinfo=NEW_YORK))
        first_one_am = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT
        assert utc(s.next(1, after=first_one_am)) == ["11-01 06:00"]  # 01:00 EST

    def test_half_hourly_through_the_gap_gives_no_repeats(self) -> None:
        s = CronSchedule("*/30 * * * *", start_date=datetime(2026, 3, 1, tzinfo=NEW_YORK))
        dates = s.next(4, after=datetime(2026, 3, 8, 1, 0, tzinfo=NEW_YORK))
        assert local(dates) == [
            "03-08 01:30 EST",
            "03-08 03:00 EDT",
            "03-08 03:30 EDT",
            "03-08 04:00 EDT",
        ]

    def test_daily_in_london_keeps_nine_am(self) -> None:
        s = CronSchedule("0 9 * * *", start_date=datetime(2026, 3, 1, tzinfo=LONDON))
        spring = s.next(3, after=datetime(2026, 3, 28, 10, 0, tzinfo=LONDON))
        assert utc(spring) == ["03-29 08:00", "03-30 08:00", "03-31 08:00"]
        autumn = s.next(3, after=datetime(2026, 10, 23, 10, 0, tzinfo=LONDON))
        assert utc(autumn) == ["10-24 08:00", "10-25 09:00", "10-26 09:00"]

    def test_a_daily_time_inside_londons_gap_runs_after_the_jump(self) -> None:
        s = CronSchedule("30 1 * * *", start_date=datetime(2026, 3, 1, tzinfo=LONDON))
        dates = s.next(3, after=datetime(2026, 3, 28, 0, 0, tzinfo=LONDON))
        assert local(dates) == ["03-28 01:30 GMT", "03-29 02:30 BST", "03-30 01:30 BST"]

    def test_a_daily_time_inside_londons_repeated_hour_runs_once(self) -> None:
        s = CronSchedule("30 1 * * *", start_date=datetime(2026, 10, 1, tzinfo=LONDON))
        dates = s.next(3, after=datetime(2026, 10, 24, 0, 0, tzinfo=LONDON))
        assert utc(dates) == ["10-24 00:30", "10-25 01:30", "10-26 01:30"]

    def test_after_in_another_zone_means_the_same_instant(self) -> None:
        s = CronSchedule("0 9 * * *", start_date=datetime(2026, 1, 1, tzinfo=NEW_YORK))
        after = datetime(2026, 7, 1, 13, 30, tzinfo=UTC)  # 09:30 EDT
        assert local(s.next(1, after=after)) == ["07-02 09:00 EDT"]


# -- OneTimeSchedule -----------------------------------------------------------------------
class TestOneTime:
    def test_one_date_only(self) -> None:
        when = datetime(2026, 9, 9, 9, 9, tzinfo=LONDON)
        s = OneTimeSchedule(when)
        assert s.start_date == s.end_date == when
        assert s.next(5, after=when - DAY) == [when]
        assert s.next(1, after=when - timedelta(microseconds=1)) == [when]
        assert s.next(1, after=when) == []

    def test_start_date_is_required_and_a_datetime(self) -> None:
        with pytest.raises(TypeError):
            OneTimeSchedule()  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="start_date"):
            OneTimeSchedule("2026-09-09")  # type: ignore[arg-type]


# -- UnionSchedule -------------------------------------------------------------------------
class TestUnion:
    def test_merges_in_time_order(self) -> None:
        mornings = CronSchedule("0 8 * * *", start_date=datetime(2026, 1, 1, tzinfo=UTC))
        evenings = CronSchedule("0 20 * * *", start_date=datetime(2026, 1, 1, tzinfo=UTC))
        s = UnionSchedule([evenings, mornings])
        assert utc(s.next(4, after=datetime(2026, 5, 1, 12, 0, tzinfo=UTC))) == [
            "05-01 20:00",
            "05-02 08:00",
            "05-02 20:00",
            "05-03 08:00",
        ]

    def test_an_instant_named_by_two_schedules_comes_once(self) -> None:
        hourly = IntervalSchedule(datetime(2026, 6, 1, tzinfo=UTC), HOUR)
        # 09:00 London in summer is 08:00 UTC, also an hourly date
        nine_in_london = CronSchedule("0 9 * * *", start_date=datetime(2026, 6, 1, tzinfo=LONDON))
        s = UnionSchedule([hourly, nine_in_london])
        dates = s.next(3, after=datetime(2026, 6, 2, 6, 30, tzinfo=UTC))
        assert utc(dates) == ["06-02 07:00", "06-02 08:00", "06-02 09:00"]
        assert dates[1].tzinfo == UTC  # the first schedule listed wins

    def test_stops_when_every_schedule_has_ended(self) -> None:
        a = OneTimeSchedule(datetime(2026, 6, 1, tzinfo=UTC))
        b = OneTimeSchedule(datetime(2026, 6, 3, tzinfo=UTC))
        s = UnionSchedule([a, b])
        assert utc(s.next(5, after=datetime(2026, 1, 1, tzinfo=UTC))) == [
            "06-01 00:00",
            "06-03 00:00",
        ]
        assert s.start_date == a.start_date and s.end_date == b.end_date

    def test_end_date_is_open_when_any_schedule_is_open(self) -> None:
        s = UnionSchedule(
            [OneTimeSchedule(datetime(2026, 6, 1, tzinfo=UTC)), CronSchedule("0 0 * * *")]
        )
        assert s.start_date == datetime(2026, 6, 1, tzinfo=UTC)
        assert s.end_date is None

    def test_empty_and_bad_members(self) -> None:
        assert UnionSchedule().next(3) == []
        with pytest.raises(TypeError, match="not a Schedule"):
            UnionSchedule([CronSchedule("0 0 * * *"), "0 12 * * *"])  # type: ignore[list-item]


# -- datetimes: which are accepted, what comes back ----------------------------------------
class TestDatetimes:
    def test_every_kind_of_aware_datetime_gives_the_same_dates(self) -> None:
        starts = [
            datetime(2026, 3, 27, 8, 15, tzinfo=LONDON),
            pendulum.datetime(2026, 3, 27, 8, 15, tz="Europe/London"),
            pytz.timezone("Europe/London").localize(datetime(2026, 3, 27, 8, 15)),
        ]
        after = datetime(2026, 3, 27, tzinfo=UTC)
        results = [utc(IntervalSchedule(s, DAY).next(3, after=after)) for s in starts]
        assert results[0] == ["03-27 08:15", "03-28 08:15", "03-29 07:15"]
        assert results[1] == results[0] and results[2] == results[0]

    def test_pendulum_and_pytz_zones_become_zoneinfo(self) -> None:
        for start in (
            pendulum.datetime(2026, 1, 1, tz="America/New_York"),
            pytz.timezone("America/New_York").localize(datetime(2026, 1, 1)),
        ):
            s = IntervalSchedule(start, DAY)
            assert type(s.start_date) is datetime
            assert s.start_date.tzinfo == NEW_YORK
            [date] = s.next(1, after=start)
            assert type(date) is datetime and date.tzinfo == NEW_YORK

    def test_fixed_offsets_from_pendulum_and_pytz_become_datetime_timezone(self) -> None:
        for start in (
            pendulum.datetime(2026, 1, 1, tz=pendulum.fixed_timezone(5400)),
            datetime(2026, 1, 1, tzinfo=pytz.FixedOffset(90)),
        ):
            s = IntervalSchedule(start, DAY)
            assert s.start_date is not None
            assert s.start_date.tzinfo == timezone(timedelta(minutes=90))
            assert utc(s.next(1, after=start)) == ["01-01 22:30"]

    def test_a_fixed_offset_keeps_its_offset(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        s = IntervalSchedule(datetime(2026, 3, 27, 8, 0, tzinfo=plus_two), DAY)
        dates = s.next(3, after=datetime(2026, 3, 27, tzinfo=UTC))
        assert [d.utcoffset() for d in dates] == [timedelta(hours=2)] * 3
        assert utc(dates) == ["03-27 06:00", "03-28 06:00", "03-29 06:00"]

    def test_naive_datetimes_are_read_as_utc_as_in_prefect(self) -> None:
        # datetime.utcnow()-style values, as in Prefect 0.5.1's tutorial
        s = IntervalSchedule(datetime(2026, 3, 27, 8, 15), DAY, end_date=datetime(2026, 3, 30))
        assert s.start_date == datetime(2026, 3, 27, 8, 15, tzinfo=UTC)
        assert s.start_date.tzinfo == ZoneInfo("UTC")
        assert utc(s.next(5, after=datetime(2026, 3, 28))) == ["03-28 08:15", "03-29 08:15"]
        cron = CronSchedule("0 0 * * *", end_date=datetime(2026, 1, 3))
        assert utc(cron.next(5, after=datetime(2026, 1, 1))) == ["01-02 00:00", "01-03 00:00"]

    def test_something_that_is_not_a_datetime_is_refused_by_name(self) -> None:
        with pytest.raises(TypeError, match=r"`end_date` must be a datetime.*'2026-01-01'"):
            CronSchedule("0 0 * * *", end_date="2026-01-01")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="`after` must be a datetime"):
            CronSchedule("0 0 * * *").next(1, after=1767225600)  # type: ignore[arg-type]

    def test_dates_are_in_the_start_dates_zone(self) -> None:
        s = CronSchedule("0 9 * * *", start_date=datetime(2026, 1, 1, tzinfo=NEW_YORK))
        [date] = s.next(1, after=datetime(2026, 1, 1, tzinfo=UTC))
        assert date.tzinfo == NEW_YORK and date.hour == 9


def test_schedules_compare_by_value() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert IntervalSchedule(start, HOUR) == IntervalSchedule(start, HOUR)
    assert IntervalSchedule(start, HOUR) != IntervalSchedule(start, 2 * HOUR)
    assert CronSchedule("0 0 * * *") == CronSchedule("0 0 * * *")
    assert CronSchedule("0 0 * * *") != IntervalSchedule(start, DAY)
    assert "CronSchedule(cron='0 0 * * *')" in repr(CronSchedule("0 0 * * *"))
