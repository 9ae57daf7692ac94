"""Schedules: when a flow should run.

A schedule answers one question, ``next(n, after=None)``: the next ``n`` times at which
the flow is due, strictly after ``after`` (default: now, by the clock in force). Five
kinds, named as in Prefect Core 0.5.1:

* :class:`IntervalSchedule` — every ``interval`` from a start date.
* :class:`CronSchedule` — whenever a cron expression matches.
* :class:`OneTimeSchedule` — once, at its start date.
* :class:`UnionSchedule` — the merged dates of several schedules, each date once.
* :class:`Schedule` — the base class; subclass it and implement ``next``.

Time zones and daylight saving time (DST):

* Zones from the standard library's :mod:`zoneinfo`, fixed offsets from
  :class:`datetime.timezone`, and the zones of pendulum and pytz datetimes are all
  accepted; pendulum and pytz zones are turned into the :mod:`zoneinfo` zone of the same
  name, so a schedule only ever holds standard library objects. A naive datetime (no
  zone) is read as UTC, as Prefect 0.5.1 reads it; give a zone to follow local time.
* A schedule keeps to the time zone of its start date (UTC when it has none) and returns
  plain timezone-aware :class:`datetime.datetime` objects in that zone.
* An interval of a day or more keeps the local wall-clock time of the start date: a daily
  schedule at 09:00 in Europe/London runs at 09:00 London time in winter and in summer.
  The part of an interval below a whole day is elapsed time, so an hourly schedule runs
  every 60 minutes, and shows two runs at 01:xx on the night the clocks go back.
* A cron expression is matched against the local wall clock of the schedule's zone. On
  the night the clocks go back the repeated hour fires once (at its second occurrence);
  on the night they go forward a time that does not exist runs when the clocks have
  jumped (02:30 becomes 03:30), and never twice.

Schedules are pure: ``next`` reads the clock only when ``after`` is not given, and never
sleeps. :func:`lockgate.engine.schedule_runs.run_on_schedule` is what waits.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lockgate.utilities import clock as _clock

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "OneTimeSchedule",
    "Schedule",
    "UnionSchedule",
]

MINIMUM_INTERVAL = timedelta(minutes=1)
"""The shortest interval an :class:`IntervalSchedule` accepts."""

_UTC = ZoneInfo("UTC")
_ONE_DAY = timedelta(days=1)


# -- time zone handling ------------------------------------------------------------------
def _zone_name(zone: tzinfo) -> str | None:
    """The IANA name of ``zone`` when it is a named zone (zoneinfo, pendulum or pytz)."""
    if isinstance(zone, ZoneInfo):  # pendulum 3's zones are ZoneInfo subclasses
        return zone.key
    for attribute in ("zone", "name"):  # pytz zones name themselves .zone, pendulum 2 .name
        name = getattr(zone, attribute, None)
        if isinstance(name, str):
            return name
    return None


def _standard_zone(moment: datetime) -> tzinfo:
    """A standard library tzinfo equivalent to ``moment``'s zone.

    Named zones become :class:`zoneinfo.ZoneInfo`; fixed offsets from pendulum and pytz
    become a :class:`datetime.timezone`; other tzinfo implementations are kept as they are
    (they answer ``utcoffset`` for any wall time, which is all a schedule asks of them).
    """
    zone = moment.tzinfo
    assert zone is not None  # callers have checked
    name = _zone_name(zone)
    if name is not None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    if type(zone).__module__.split(".")[0] in ("pendulum", "pytz"):
        offset = zone.utcoffset(moment)
        assert offset is not None
        return timezone(offset)
    return zone


def _aware(value: Any, argument: str, owner: str) -> datetime:
    """Check that ``value`` is a datetime; return it as a plain, timezone-aware one.

    The result is a :class:`datetime.datetime` (never a subclass such as pendulum's)
    for the same instant, in the standard library's version of the value's zone. A
    naive ``value`` is read as UTC.

    Raises:
        TypeError: when ``value`` is not a datetime.
    """
    if not isinstance(value, datetime):
        raise TypeError(
            f"{owner}: `{argument}` must be a datetime (timezone-aware, e.g. "
            f"datetime(2026, 3, 1, 9, tzinfo=ZoneInfo('Europe/London'))), got {value!r} "
            f"({type(value).__name__})."
        )
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=_UTC)
    zone = _standard_zone(value)
    plain = datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
        fold=value.fold,
    )
    return plain.astimezone(zone)


def _local(wall: datetime, zone: tzinfo) -> datetime:
    """Give the naive wall-clock time ``wall`` the zone ``zone``, settling DST edges.

    A wall time that happens twice (the clocks went back) means its second occurrence;
    a wall time that never happens (the clocks went forward) means the moment that is
    as far past the jump as the wall time was, e.g. 02:30 on a spring-forward night at
    02:00 is 03:30. This is pendulum's rule, which Prefect 0.5.1's IntervalSchedule
    follows; cron schedules use it too, so both kinds settle DST edges alike.
    """
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    exists = first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == wall
    if exists:  # repeated wall time: take the later occurrence
        return second.astimezone(timezone.utc).astimezone(zone)
    # skipped wall time: read it with the offset in force before the jump
    return first.astimezone(timezone.utc).astimezone(zone)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC.

    Schedules compare and subtract in UTC only: Python compares two datetimes that share
    a tzinfo by their wall clocks, so 01:30 before and 01:30 after the clocks go back
    would otherwise be "equal".
    """
    return moment.astimezone(timezone.utc)


# -- schedules ---------------------------------------------------------------------------
class Schedule:
    """Base class of schedules; subclasses implement :meth:`next`.

    Args:
        start_date: no date before this one (naive means UTC); its zone is the zone the
            schedule works in.
        end_date: no date after this one.

    Raises:
        TypeError: when a date is not a datetime.
        ValueError: when ``end_date`` is before ``start_date``.
    """

    def __init__(self, start_date: datetime | None = None, end_date: datetime | None = None):
        owner = type(self).__name__
        self.start_date: datetime | None = (
            None if start_date is None else _aware(start_date, "start_date", owner)
        )
        self.end_date: datetime | None = (
            None if end_date is None else _aware(end_date, "end_date", owner)
        )
        if self.start_date and self.end_date and _utc(self.end_date) < _utc(self.start_date):
            raise ValueError(
                f"{owner}: end_date {self.end_date.isoformat()} is before start_date "
                f"{self.start_date.isoformat()}; it would never run."
            )

    @property
    def zone(self) -> tzinfo:
        """The time zone the schedule works in: its start date's, or UTC."""
        return _UTC if self.start_date is None else self.start_date.tzinfo or _UTC

    def next(self, n: int, after: datetime | None = None) -> list[datetime]:
        """Return the next ``n`` dates strictly after ``after``.

        Args:
            n: how many dates at most (zero or less gives an empty list).
            after: a datetime (naive means UTC); default now, by the clock in force
                (:mod:`lockgate.utilities.clock`).

        Returns:
            Up to ``n`` timezone-aware datetimes in increasing order, in the schedule's
            zone; fewer when the end date comes first.

        Raises:
            NotImplementedError: always, on the base class.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not say when it runs: a Schedule subclass must "
            "implement next(n, after=None)."
        )

    def serialize(self) -> dict[str, Any]:
        """Return this schedule as JSON-compatible data (see :mod:`lockgate.serialization`).

        Returns:
            A dict that ``ScheduleSchema().load`` turns back into an equal schedule.
        """
        from lockgate.serialization.schedule import ScheduleSchema  # type: ignore[import-not-found,unused-ignore]

        data: dict[str, Any] = ScheduleSchema().dump(self)
        return data

    # helpers for subclasses
    def _after(self, after: datetime | None) -> datetime:
        """``after`` checked and put in the schedule's zone; now when it is None."""
        if after is None:
            return _clock.now().astimezone(self.zone)
        return _aware(after, "after", f"{type(self).__name__}.next").astimezone(self.zone)

    def _within_end(self, date: datetime) -> bool:
        return self.end_date is None or _utc(date) <= _utc(self.end_date)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), self.start_date, self.end_date))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None)
        return f"{type(self).__name__}({fields})"


class IntervalSchedule(Schedule):
    """Every ``interval`` from ``start_date``: start, start + interval, start + 2 intervals...

    The whole days of an interval are counted on the wall clock of the start date's zone
    and the rest as elapsed time. So a daily (or weekly) schedule keeps its local time of
    day through DST changes, while an hourly one runs every 60 minutes of real time.

    Args:
        start_date: the first date; its zone is the schedule's zone (naive means UTC).
        interval: the time between dates; at least one minute.
        end_date: no date after this one.

    Raises:
        TypeError: when ``start_date`` is not a datetime or ``interval`` not a timedelta.
        ValueError: when ``interval`` is shorter than one minute.
    """

    def __init__(self, start_date: datetime, interval: timedelta, end_date: datetime | None = None):
        if not isinstance(start_date, datetime):
            raise TypeError(
                f"{type(self).__name__}: `start_date` must be a datetime, got {start_date!r}."
            )
        if not isinstance(interval, timedelta):
            raise TypeError(
                f"{type(self).__name__}: `interval` must be a datetime.timedelta, got "
                f"{interval!r} ({type(interval).__name__})."
            )
        if interval < MINIMUM_INTERVAL:
            raise ValueError(
                f"{type(self).__name__}: interval={interval!r} is too short. Interval can "
                "not be less than one minute. Schedules run at most once a minute; use e.g. "
                "interval=timedelta(minutes=1)."
            )
        self.interval = interval
        super().__init__(start_date=start_date, end_date=end_date)

    def _date(self, index: int) -> datetime:
        """The ``index``-th date (0 is the start date)."""
        assert self.start_date is not None
        offset = self.interval * index
        whole_days = timedelta(days=offset.days)
        rest = offset - whole_days
        zone = self.zone
        wall = self.start_date.replace(tzinfo=None) + whole_days
        return (_utc(_local(wall, zone)) + rest).astimezone(zone)

    def next(self, n: int, after: datetime | None = None) -> list[datetime]:
        """Return the next ``n`` dates strictly after ``after``.

        Args:
            n: how many dates at most.
            after: default now, by the clock in force.

        Returns:
            Up to ``n`` datetimes in the start date's zone, fewer when ``end_date`` comes.
        """
        if n <= 0:
            return []
        after = self._after(after)
        assert self.start_date is not None
        # Estimate the first index from elapsed time, then correct it: wall-clock days
        # make elapsed time between dates differ from the interval by the DST shift.
        after_utc = _utc(after)
        index = max(0, int((after_utc - _utc(self.start_date)) / self.interval))
        while index > 0 and _utc(self._date(index - 1)) > after_utc:
            index -= 1
        while _utc(self._date(index)) <= after_utc:
            index += 1
        dates: list[datetime] = []
        while len(dates) < n:
            date = self._date(index)
            if not self._within_end(date):
                break
            dates.append(date)
            index += 1
        return dates


class CronSchedule(Schedule):
    """Whenever the cron expression ``cron`` matches the wall clock of the schedule's zone.

    The zone is the start date's (UTC without one). Cron counts clock times, not elapsed
    time: ``"0 9 * * *"`` is 09:00 local every day; ``"0 * * * *"`` is every hour on the
    hour, which on the night the clocks go back leaves a two-hour gap (the repeated 01:00
    runs once) and on the night they go forward skips the missing hour.

    Expressions are read by the ``croniter`` package: five fields (minute hour day month
    weekday), an optional sixth for seconds, and aliases such as ``@daily``.

    Args:
        cron: the cron expression.
        start_date: no date before this one; its zone is the schedule's zone.
        end_date: no date after this one.

    Raises:
        ValueError: when ``cron`` is not a valid cron expression.
        TypeError: when ``cron`` is not a string or a date is not a datetime.
    """

    def __init__(
        self, cron: str, start_date: datetime | None = None, end_date: datetime | None = None
    ):
        if not isinstance(cron, str):
            raise TypeError(
                f"CronSchedule: `cron` must be a string such as '0 9 * * *', got {cron!r}."
            )
        from croniter import (  # type: ignore[import-untyped,unused-ignore]
            CroniterBadDateError,
            croniter,
        )

        if not croniter.is_valid(cron):
            raise ValueError(
                f"CronSchedule: {cron!r} is not a valid cron expression; use five fields "
                "'minute hour day-of-month month day-of-week', e.g. '0 9 * * 1-5'."
            )
        try:
            croniter(cron, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(
                f"CronSchedule: {cron!r} never matches a date (e.g. 30 February); check "
                "its day-of-month and month fields."
            ) from None
        self.cron = cron
        super().__init__(start_date=start_date, end_date=end_date)

    def _candidates(self, after: datetime) -> Iterator[datetime]:
        """Every local time the expression matches, from a little before ``after`` on."""
        from croniter import (  # type: ignore[import-untyped,unused-ignore]
            CroniterBadDateError,
            croniter,
        )

        zone = self.zone
        # Start three hours of wall clock early: a DST shift (at most two hours anywhere)
        # can put a wall time before ``after``'s wall time at an instant after it.
        wall = after.replace(tzinfo=None) - timedelta(hours=3)
        matches = croniter(self.cron, wall)
        while True:
            try:
                local = matches.get_next(datetime)
            except CroniterBadDateError:  # no match in croniter's search window: no more dates
                return
            yield _local(local, zone)

    def next(self, n: int, after: datetime | None = None) -> list[datetime]:
        """Return the next ``n`` dates strictly after ``after``.

        Args:
            n: how many dates at most.
            after: default now, by the clock in force.

        Returns:
            Up to ``n`` datetimes in the schedule's zone, each at least ``start_date``,
            fewer when ``end_date`` comes.
        """
        if n <= 0:
            return []
        after = self._after(after)
        if self.start_date is not None and _utc(after) < _utc(self.start_date):
            after = (_utc(self.start_date) - timedelta(microseconds=1)).astimezone(self.zone)
        after_utc = _utc(after)
        dates: list[datetime] = []
        for date in self._candidates(after):
            # Candidates before ``after``, and repeats of an instant already given (two
            # skipped wall times that land on the same moment), are not new dates.
            if _utc(date) <= after_utc or (dates and _utc(date) <= _utc(dates[-1])):
                continue
            if not self._within_end(date):
                break
            dates.append(date)
            if len(dates) == n:
                break
        return dates


class OneTimeSchedule(IntervalSchedule):
    """Once, at ``start_date``.

    As in Prefect 0.5.1 it is an :class:`IntervalSchedule` whose end date is its start
    date, so ``end_date == start_date``.

    Args:
        start_date: the one date (naive means UTC).

    Raises:
        TypeError: when ``start_date`` is not a datetime.
    """

    def __init__(self, start_date: datetime):
        super().__init__(start_date=start_date, interval=_ONE_DAY, end_date=start_date)


class UnionSchedule(Schedule):
    """The dates of several schedules merged in time order, each instant once.

    Two schedules that name the same instant (even in different zones) give one date,
    in the zone of the first schedule listed that names it. The union's ``start_date``
    is the earliest of its schedules' start dates and its ``end_date`` the latest of
    their end dates (None when any schedule has none).

    Args:
        schedules: the schedules to merge.

    Raises:
        TypeError: when an item of ``schedules`` is not a Schedule.
    """

    def __init__(self, schedules: Iterable[Schedule] | None = None):
        self.schedules: list[Schedule] = list(schedules or ())
        for item in self.schedules:
            if not isinstance(item, Schedule):
                raise TypeError(
                    f"UnionSchedule: {item!r} ({type(item).__name__}) is not a Schedule; "
                    "pass IntervalSchedule, CronSchedule, OneTimeSchedule... objects."
                )
        starts = [s.start_date for s in self.schedules]
        ends = [s.end_date for s in self.schedules]
        super().__init__(
            start_date=min((d for d in starts if d is not None), default=None),
            end_date=None if None in ends or not ends else max(d for d in ends if d),
        )

    def next(self, n: int, after: datetime | None = None) -> list[datetime]:
        """Return the next ``n`` dates of any of the schedules, strictly after ``after``.

        Args:
            n: how many dates at most.
            after: default now, by the clock in force.

        Returns:
            Up to ``n`` datetimes in increasing order, no instant twice.
        """
        if n <= 0 or not self.schedules:
            return []
        after = _clock.now() if after is None else _aware(after, "after", "UnionSchedule.next")
        # Each schedule's first n dates hold the union's first n: merge them in order of
        # instant (ties keep the order the schedules were listed in).
        streams = [
            [(date.astimezone(timezone.utc), order, date) for date in s.next(n, after=after)]
            for order, s in enumerate(self.schedules)
        ]
        dates: list[datetime] = []
        for _, _, date in heapq.merge(*streams):
            if dates and _utc(date) == _utc(dates[-1]):
                continue
            dates.append(date)
            if len(dates) == n:
                break
        return dates

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.schedules)))
