"""A morning report on a schedule: weekdays at 07:00, London time, all year round.

    fetch_holidays (cached for 3 days)  ->  fetch_sales  ->  write_report  ->  ./build/reports/

``CronSchedule("0 7 * * 1-5", start_date=<a London time>)`` reads the cron expression on
London's wall clock, so the report is written at 07:00 in winter (GMT, 07:00 UTC) and
in summer (BST, 06:00 UTC) alike. ``flow.run()`` follows the schedule: it waits for each
date, runs the flow, and carries the Cached holiday calendar into the next run, so it is
downloaded again only once it is three days old.

Run it for real (it waits until the next weekday 07:00, and keeps going)::

    python examples/scheduled_report.py

run it once, now, recorded in the run store::

    lockgate run examples/scheduled_report.py

or replay the two weeks around the 2026 spring-forward change in an instant on a fake
clock, which shows the UTC time moving while the London time stays put::

    python examples/scheduled_report.py --replay
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import lockgate
from lockgate import Flow, task
from lockgate.engine.state import State
from lockgate.schedules import CronSchedule
from lockgate.testing import FakeClock

LONDON = ZoneInfo("Europe/London")
REPORTS = Path("build", "reports")  # build/ is ignored by git
DOWNLOADS: list[str] = []
"""The dates on which the holiday calendar was really downloaded (not from cache)."""


def scheduled_time() -> datetime:
    """This run's date from the schedule, on London's wall clock."""
    start: datetime = lockgate.context.get("scheduled_start_time")
    return start.astimezone(LONDON)


@task(cache_for=timedelta(days=3))
def fetch_holidays() -> list[str]:
    """A slow download that rarely changes: worth caching between runs."""
    DOWNLOADS.append(lockgate.context.get("today"))
    return ["2026-04-03", "2026-04-06"]  # Good Friday, Easter Monday


@task
def fetch_sales(holidays: list[str]) -> dict[str, float]:
    """The day's sales so far (made up here; a real flow would query a database)."""
    day = scheduled_time()
    if lockgate.context.get("today") in holidays:  # the shops are shut
        return {"orders": 0, "revenue": 0.0}
    orders = 40 + day.day
    return {"orders": orders, "revenue": round(orders * 12.5, 2)}


@task
def write_report(sales: dict[str, float]) -> str:
    """Write the report under ./build/reports and return its first line."""
    day = scheduled_time()
    utc = day.astimezone(ZoneInfo("UTC"))
    line = (
        f"{day:%a %d %b %H:%M %Z} (UTC {utc:%H:%M}): "
        f"{sales['orders']:.0f} orders, £{sales['revenue']:.2f}"
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"sales-{day:%Y-%m-%d}.txt").write_text(line + "\n", encoding="utf-8")
    return line


def build_flow(start: datetime | None = None, end: datetime | None = None) -> Flow:
    """The report flow, on weekdays at 07:00 London time from ``start`` to ``end``."""
    start = start or datetime.now(LONDON)
    schedule = CronSchedule("0 7 * * 1-5", start_date=start.astimezone(LONDON), end_date=end)
    with Flow("morning-sales-report", schedule=schedule) as flow:
        write_report(fetch_sales(fetch_holidays()))
    return flow


flow = build_flow()
"""Weekdays at 07:00 London time from now on, with no end. ``lockgate run
examples/scheduled_report.py`` runs it once, now, and records the run."""


def replay() -> State:
    """Run two weeks around the 29 March 2026 clock change on a fake clock, instantly."""
    start = datetime(2026, 3, 23, 0, 0, tzinfo=LONDON)
    two_weeks = build_flow(start, end=datetime(2026, 4, 4, tzinfo=LONDON))
    with FakeClock(start=start):
        state = two_weeks.run()
    for report in sorted(REPORTS.glob("sales-2026-*.txt")):
        print(report.read_text(encoding="utf-8"), end="")
    print(f"holiday calendar downloaded on: {', '.join(DOWNLOADS)}")
    return state


def main(argv: list[str]) -> State:
    """``--replay`` replays two weeks on a fake clock; otherwise follow the real clock."""
    if "--replay" in argv:
        return replay()
    return flow.run()


if __name__ == "__main__":
    main(sys.argv[1:])
