"""Schemas for schedules.

Dates are written with :class:`~lockgate.utilities.serialization.DateTimeTZ` (the wall
clock time and the zone's name), so a schedule loaded back keeps its time zone and
with it its daylight-saving behaviour. Intervals are written in microseconds.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lockgate import schedules
from lockgate.utilities.serialization import (
    DateTimeTZ,
    Nested,
    ObjectSchema,
    OneOfSchema,
    TimeDeltaField,
)

__all__ = [
    "CronScheduleSchema",
    "IntervalScheduleSchema",
    "OneTimeScheduleSchema",
    "ScheduleSchema",
    "UnionScheduleSchema",
]


class IntervalScheduleSchema(ObjectSchema):
    """:class:`~lockgate.schedules.IntervalSchedule`: start, end and interval."""

    class Meta:
        object_class = schedules.IntervalSchedule

    start_date = DateTimeTZ(required=True)
    end_date = DateTimeTZ(allow_none=True)
    interval = TimeDeltaField(precision="microseconds", required=True)


class CronScheduleSchema(ObjectSchema):
    """:class:`~lockgate.schedules.CronSchedule`: the expression, start and end."""

    class Meta:
        object_class = schedules.CronSchedule

    start_date = DateTimeTZ(allow_none=True)
    end_date = DateTimeTZ(allow_none=True)
    cron = fields.String(required=True)


class OneTimeScheduleSchema(ObjectSchema):
    """:class:`~lockgate.schedules.OneTimeSchedule`: its one date."""

    class Meta:
        object_class = schedules.OneTimeSchedule

    start_date = DateTimeTZ(required=True)


class UnionScheduleSchema(ObjectSchema):
    """:class:`~lockgate.schedules.UnionSchedule`: the schedules it merges."""

    class Meta:
        object_class = schedules.UnionSchedule

    schedules = Nested(lambda: ScheduleSchema, many=True)


class ScheduleSchema(OneOfSchema):
    """Any schedule, chosen by its class name in ``type``."""

    type_schemas: dict[str, Any] = {
        "IntervalSchedule": IntervalScheduleSchema,
        "CronSchedule": CronScheduleSchema,
        "OneTimeSchedule": OneTimeScheduleSchema,
        "UnionSchedule": UnionScheduleSchema,
    }
