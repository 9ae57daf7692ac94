"""Schedules (IntervalSchedule, CronSchedule, OneTimeSchedule) arrive in a later release.

``Flow(schedule=...)`` stores a schedule already; ``flow.run()`` runs once, now.
"""

__all__: list[str] = []
