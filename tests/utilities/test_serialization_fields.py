"""The schema and field helpers of lockgate.utilities.serialization."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow
import pytest

import lockgate
from lockgate.triggers import all_failed
from lockgate.utilities.serialization import (
    UUID,
    Bytes,
    DateTimeTZ,
    FunctionReference,
    JSONCompatible,
    Nested,
    ObjectSchema,
    OneOfSchema,
    TimeDeltaField,
    from_qualified_name,
    to_qualified_name,
)


class Point:
    def __init__(self, x: int, y: int = 0) -> None:
        self.x, self.y = x, y


class PointSchema(ObjectSchema):
    class Meta:
        object_class = Point

    x = marshmallow.fields.Integer()
    y = marshmallow.fields.Integer()


def test_import_lockgate_does_not_import_marshmallow() -> None:
    import subprocess

    code = "import sys, lockgate; print('marshmallow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_qualified_names_round_trip_only_through_imported_modules() -> None:
    assert to_qualified_name(all_failed) == "lockgate.triggers.all_failed"
    assert from_qualified_name("lockgate.triggers.all_failed") is all_failed
    assert from_qualified_name("zoneinfo.ZoneInfo") is ZoneInfo
    with pytest.raises(ValueError, match="no imported module"):
        from_qualified_name("a_module_nobody_imported.thing")


def test_object_schema_stamps_the_version_and_builds_the_object() -> None:
    data = PointSchema().dump(Point(3, 4))
    assert data == {"x": 3, "y": 4, "__version__": lockgate.__version__}
    point = PointSchema().load({**data, "colour": "red"})  # unknown keys are ignored
    assert isinstance(point, Point) and (point.x, point.y) == (3, 4)
    assert PointSchema().load(data, create_object=False) == {"x": 3, "y": 4}


def test_object_schema_excluded_fields_are_not_passed_to_the_class() -> None:
    class Schema(ObjectSchema):
        class Meta:
            object_class = Point
            exclude_fields = ["label"]

        x = marshmallow.fields.Integer()
        label = marshmallow.fields.String()

    point = Schema().load({"x": 1, "label": "origin"})
    assert point.x == 1 and not hasattr(point, "label")


def test_one_of_schema_dispatches_on_type() -> None:
    class Shapes(OneOfSchema):
        type_schemas = {"Point": PointSchema}

    data = Shapes().dump(Point(1, 2))
    assert data["type"] == "Point"
    assert isinstance(Shapes().load(data), Point)
    with pytest.raises(marshmallow.ValidationError, match="Unsupported type 'Circle'"):
        Shapes().load({"type": "Circle"})
    with pytest.raises(marshmallow.ValidationError, match="Unsupported type 'int'"):
        Shapes().dump(5)


def test_schema_context_is_shared_with_nested_schemas() -> None:
    seen: list[Any] = []

    def remember(obj: Any, context: dict[str, Any]) -> Any:
        seen.append(context.get("run"))
        return obj["inner"]

    class Outer(ObjectSchema):
        inner = Nested(PointSchema, value_selection_fn=remember)

    context = {"run": "r-1"}
    Outer(context=context).dump({"inner": Point(1)})
    assert seen == ["r-1"]


class FieldsSchema(marshmallow.Schema):
    j = JSONCompatible(allow_none=True)
    b = Bytes(allow_none=True)
    u = UUID(allow_none=True)
    dt = DateTimeTZ(allow_none=True)
    td = TimeDeltaField(precision="microseconds", allow_none=True)
    f = FunctionReference([all_failed], allow_none=True)


def test_json_compatible_refuses_what_json_cannot_hold() -> None:
    assert FieldsSchema().dump({"j": {"a": [1, "x"]}}) == {"j": {"a": [1, "x"]}}
    with pytest.raises(marshmallow.ValidationError, match="JSON"):
        FieldsSchema().dump({"j": {"a": {1, 2}}})
    with pytest.raises(marshmallow.ValidationError):
        FieldsSchema().load({"j": object()})


def test_bytes_uuid_and_timedelta_fields() -> None:
    ident = uuid.uuid4()
    data = FieldsSchema().dump(
        {"b": b"\x00lock", "u": ident, "td": timedelta(seconds=1, microseconds=2)}
    )
    assert data == {"b": "AGxvY2s=", "u": str(ident), "td": 1_000_002}
    loaded = FieldsSchema().load(data)
    assert loaded == {"b": b"\x00lock", "u": str(ident), "td": timedelta(seconds=1, microseconds=2)}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (datetime(2031, 7, 1, 8, 15, tzinfo=ZoneInfo("America/Chicago")), "America/Chicago"),
        (datetime(2031, 7, 1, 8, 15, tzinfo=timezone.utc), "UTC"),
        (datetime(2031, 7, 1, 8, 15, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), "-03:30"),
        (datetime(2031, 7, 1, 8, 15), "UTC"),  # naive: taken as UTC
    ],
)
def test_datetimes_keep_wall_time_and_zone(value: datetime, written: str) -> None:
    data = FieldsSchema().dump({"dt": value})["dt"]
    assert data == {"dt": "2031-07-01T08:15:00", "tz": written}
    loaded = FieldsSchema().load({"dt": data})["dt"]
    expected = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    assert loaded == expected
    assert loaded.utcoffset() == expected.utcoffset()


def test_a_loaded_zone_keeps_daylight_saving_arithmetic() -> None:
    before = datetime(2031, 3, 9, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    loaded = FieldsSchema().load(FieldsSchema().dump({"dt": before}))["dt"]
    later = (loaded.astimezone(timezone.utc) + timedelta(hours=1)).astimezone(loaded.tzinfo)
    assert later.hour == 3  # 02:00-03:00 does not exist that night


def test_function_references() -> None:
    assert FieldsSchema().dump({"f": all_failed}) == {"f": "lockgate.triggers.all_failed"}
    assert FieldsSchema().load({"f": "lockgate.triggers.all_failed"})["f"] is all_failed
    with pytest.raises(marshmallow.ValidationError, match="Invalid function reference"):
        FieldsSchema().dump({"f": print})
    with pytest.raises(marshmallow.ValidationError, match="Invalid function reference"):
        FieldsSchema().load({"f": "builtins.print"})
