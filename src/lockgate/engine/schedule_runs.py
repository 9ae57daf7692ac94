"""Following a flow's schedule: wait for each date, run, repeat.

``flow.run()`` on a flow with a schedule comes here (``flow.run(run_on_schedule=False)``
runs once, now). :func:`run_on_schedule` asks the schedule for its next date, waits for
it on the clock in force (:mod:`lockgate.utilities.clock`, so a
:class:`lockgate.testing.FakeClock` makes the waits instant and records them), runs the
flow once starting from ``Scheduled(start_time=date)`` (which makes
``context.scheduled_start_time`` that date), and repeats until the schedule has no more
dates. Each run starts with the Cached task states of the one before, so a task with
``cache_for`` is not recomputed while its cache is valid.

Two rules keep it from spinning:

* The next date is asked for after a run has ended, strictly after "now": a run that
  overruns one or more dates is not followed by a burst of catch-up runs; the schedule
  resumes at its next date still to come.
* A run that ends unfinished (a task is Paused, waiting to be resumed by hand) stops
  the loop: that run's state is returned, ``Running`` with the Paused task in its
  result, so it can be resumed (``flow.run(run_on_schedule=False, task_states=...,
  start_tasks=[...])``) and the schedule followed again afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lockgate.engine.state import Cached, Scheduled, State
from lockgate.utilities import clock

if TYPE_CHECKING:
    from lockgate.core.flow import Flow

__all__ = ["NoMoreScheduledRuns", "run_on_schedule", "run_on_schedule_by_default"]

RunOnce = Callable[..., State]
"""Runs the flow once: called with ``state=`` and ``task_states=`` (and the caller's
other run arguments); returns the flow's final state."""


class NoMoreScheduledRuns(ValueError):
    """The flow's schedule has no date to come, so a run on it would never start."""


def run_on_schedule_by_default() -> bool:
    """Whether ``flow.run()`` follows the flow's schedule when not told.

    Reads the setting ``flows.run_on_schedule`` (true when it is not set).

    Returns:
        The setting's value as a bool.
    """
    from lockgate.configuration import config

    return bool(config.get_nested("flows.run_on_schedule", True))


def run_on_schedule(flow: Flow, run_once: RunOnce, **run_kwargs: Any) -> State:
    """Run ``flow`` at every date of its schedule; return the state of the last run.

    Args:
        flow: a flow whose ``schedule`` is set.
        run_once: runs the flow once (``flow.run(..., run_on_schedule=False)``); it is
            called with ``state=``, ``task_states=`` and ``run_kwargs``.
        **run_kwargs: passed to every run. ``state`` is the first run's state instead
            of ``Scheduled(start_time=<first date>)``; ``task_states`` are the first
            run's task states (Cached ones are carried on like any other run's).

    Returns:
        The final state of the last run: the run after which the schedule had no date
        left, or the first run that ended unfinished (a Paused task).

    Raises:
        NoMoreScheduledRuns: (a ValueError) when the schedule has no date to come at
            all.
        Exception: whatever the schedule's ``next`` raises.
    """
    schedule = flow.schedule
    if schedule is None:
        raise ValueError(
            f"Flow '{flow.name}' has no schedule to follow; give it one "
            "(Flow(..., schedule=IntervalSchedule(...))) or run it once with flow.run()."
        )
    logger = logging.getLogger(f"lockgate.flow.{flow.name}")
    dates = schedule.next(1)
    if not dates:
        raise NoMoreScheduledRuns(
            f"Flow '{flow.name}' has no more scheduled runs: {schedule!r} has no date "
            f"after {clock.now().isoformat()}. Run it once now with "
            "flow.run(run_on_schedule=False), or give it a schedule with dates to come."
        )
    state: State | None = run_kwargs.pop("state", None)
    task_states: dict[Any, State] = dict(run_kwargs.pop("task_states", None) or {})
    date = dates[0]
    while True:
        if state is None:
            state = Scheduled(f"Run scheduled for {date.isoformat()}.", start_time=date)
        if isinstance(state, Scheduled) and state.start_time is not None:
            _wait_until(state.start_time, logger)
        final = run_once(state=state, task_states=task_states, **run_kwargs)
        if not final.is_finished():
            logger.warning(
                "The run of flow %r scheduled for %s ended %r without finishing (a task "
                "is waiting to be resumed); not following the schedule further.",
                flow.name,
                date.isoformat(),
                final,
            )
            return final
        if not isinstance(final.result, Mapping):  # the run failed before any task
            return final
        task_states = {t: s for t, s in final.result.items() if isinstance(s, Cached)}
        dates = schedule.next(1)
        if not dates:
            logger.info("The schedule of flow %r has no more dates.", flow.name)
            return final
        date = dates[0]
        state = None


def _wait_until(start: datetime, logger: logging.Logger) -> None:
    """Sleep on the clock in force until ``start`` (at once when it has passed)."""
    remaining = (start.astimezone(timezone.utc) - clock.now()).total_seconds()
    if remaining > 0:
        logger.info("Waiting for the next scheduled run at %s", start.isoformat())
    while remaining > 0:
        clock.sleep(remaining)
        remaining = (start.astimezone(timezone.utc) - clock.now()).total_seconds()
