"""Building blocks for lockgate's JSON serialization (schemas and fields on marshmallow).

Everything here is imported only when something is serialized, so ``import lockgate``
never pulls in marshmallow. The pieces:

* :func:`to_qualified_name` / :func:`from_qualified_name`: name an importable object by
  its import path, and find it again among the modules already imported.
* :class:`ObjectSchema`: a schema that stamps a ``__version__`` on what it dumps and
  builds an object of its ``Meta.object_class`` when it loads.
* :class:`OneOfSchema`: a schema that picks one of several schemas by a ``type`` key.
* Fields: :class:`JSONCompatible`, :class:`Nested` (with a value-selection function),
  :class:`Bytes`, :class:`UUID`, :class:`DateTimeTZ`, :class:`FunctionReference`,
  :class:`TimeDeltaField`.

Schemas share one *context* dictionary while they work on one document: a schema built
with ``context={...}`` hands that dictionary to every schema nested inside it (tasks
and edges of a flow use it to share the tasks already loaded, by id).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime
import json
import sys
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    SchemaOpts,
    ValidationError,
    fields,
    missing,
    post_dump,
    post_load,
    pre_load,
)

__all__ = [
    "UUID",
    "Bytes",
    "DateTimeTZ",
    "FunctionReference",
    "JSONCompatible",
    "Nested",
    "ObjectSchema",
    "OneOfSchema",
    "TimeDeltaField",
    "from_qualified_name",
    "to_qualified_name",
]

# The context dictionary of the outermost schema currently dumping or loading; schemas
# nested inside it (through Nested fields) use it instead of their own.
_ACTIVE_CONTEXT: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "lockgate_serialization_context", default=None
)
# Whether ObjectSchemas build objects in the current load (``load(create_object=...)``).
_CREATE_OBJECTS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lockgate_serialization_create_objects", default=True
)


def to_qualified_name(obj: Any) -> str:
    """Return the import path of ``obj``: its module and qualified name, dot-joined.

    Args:
        obj: a class or function (anything with ``__module__`` and ``__qualname__``).

    Returns:
        A name such as ``"lockgate.triggers.all_successful"``.
    """
    return f"{obj.__module__}.{obj.__qualname__}"


def from_qualified_name(obj_str: str) -> Any:
    """Find the object named ``obj_str`` among the modules already imported.

    Nothing is imported: loading a document must never run code it names. The longest
    imported module that prefixes the name is looked up, then the rest is read as
    attributes.

    Args:
        obj_str: a name made by :func:`to_qualified_name`.

    Returns:
        The object.

    Raises:
        ValueError: when no imported module holds that name (import the module that
            defines it first).
    """
    parts = obj_str.split(".")
    for i in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        obj: Any = module
        try:
            for attribute in parts[i:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            break
        return obj
    raise ValueError(
        f"Cannot find {obj_str!r}: no imported module defines it. Import the module that "
        "defines it before loading (names inside functions, '<locals>', never resolve)."
    )


def _plain(value: Any) -> Any:
    """``value`` with every mapping turned into a dict and tuples into lists (for JSON)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- schemas -----------------------------------------------------------------------------
class ContextSchema(Schema):
    """A schema with a ``context`` dictionary shared with the schemas nested inside it.

    Args:
        *args: what :class:`marshmallow.Schema` accepts.
        context: a dictionary the schema (and every schema nested in it) reads and
            writes while it works; the very dictionary given is used, not a copy.
        **kwargs: what :class:`marshmallow.Schema` accepts.
    """

    def __init__(self, *args: Any, context: dict[Any, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context: dict[Any, Any] = context if context is not None else {}

    @contextlib.contextmanager
    def _shared_context(self) -> Iterator[dict[Any, Any]]:
        outer = _ACTIVE_CONTEXT.get()
        if outer is not None:
            # Nested inside another schema's work: share its dictionary.
            self.context = outer
            yield outer
            return
        token = _ACTIVE_CONTEXT.set(self.context)
        try:
            yield self.context
        finally:
            _ACTIVE_CONTEXT.reset(token)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """Serialize ``obj`` (see :meth:`marshmallow.Schema.dump`).

        Args:
            obj: the object to serialize.
            many: serialize a collection of objects.

        Returns:
            The serialized data.

        Raises:
            ValidationError: when a value cannot be serialized.
        """
        with self._shared_context():
            return super().dump(obj, many=many)

    def load(self, data: Any, *, many: bool | None = None, **kwargs: Any) -> Any:
        """Deserialize ``data`` (see :meth:`marshmallow.Schema.load`).

        Args:
            data: the serialized data.
            many: load a collection.
            **kwargs: ``partial`` and ``unknown``, as marshmallow takes them.

        Returns:
            The loaded data or object.

        Raises:
            ValidationError: when ``data`` is invalid.
        """
        if isinstance(data, Mapping) and not isinstance(data, dict):
            data = _plain(data)
        with self._shared_context():
            return super().load(data, many=many, **kwargs)


class ObjectSchemaOptions(SchemaOpts):
    """``Meta`` options of :class:`ObjectSchema`.

    ``object_class`` is the class to build on load (or a function returning it, so a
    schema can name a class defined later); ``exclude_fields`` are loaded fields not
    passed to its constructor; ``unknown`` defaults to ``EXCLUDE`` so documents written
    by a newer version still load.

    Args:
        meta: the schema's ``Meta`` class.
        *args: passed to :class:`marshmallow.SchemaOpts`.
        **kwargs: passed to :class:`marshmallow.SchemaOpts`.
    """

    def __init__(self, meta: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(meta, *args, **kwargs)
        self.object_class = getattr(meta, "object_class", None)
        self.exclude_fields: list[str] = list(getattr(meta, "exclude_fields", None) or [])
        self.unknown = getattr(meta, "unknown", EXCLUDE)


class ObjectSchema(ContextSchema):
    """A schema that writes ``__version__`` and builds ``Meta.object_class`` on load.

    Every loaded field is passed to the class's constructor as a keyword argument,
    except those listed in ``Meta.exclude_fields``. A ``__version__`` key in the input
    is dropped; unknown keys are ignored.
    """

    OPTIONS_CLASS = ObjectSchemaOptions
    opts: ObjectSchemaOptions

    class Meta:
        object_class: Any = None
        exclude_fields: list[str] = []
        unknown = EXCLUDE

    @pre_load
    def _remove_version(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping) and "__version__" in data:
            data = {k: v for k, v in data.items() if k != "__version__"}
        return data

    @post_dump
    def _add_version(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        import lockgate

        data.setdefault("__version__", lockgate.__version__)
        return data

    def load(
        self,
        data: Any,
        create_object: bool | None = None,
        *,
        many: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Load ``data`` and build the object it describes.

        Args:
            data: the serialized data.
            create_object: build objects (the default), or return plain dictionaries
                of the loaded fields when False. Schemas nested inside inherit it.
            many: load a collection.
            **kwargs: ``partial`` and ``unknown``, as marshmallow takes them.

        Returns:
            The object (or the dictionary of loaded fields).

        Raises:
            ValidationError: when ``data`` is invalid.
            TypeError: when the loaded fields do not fit the class's constructor.
        """
        if create_object is None:
            return super().load(data, many=many, **kwargs)
        token = _CREATE_OBJECTS.set(create_object)
        try:
            return super().load(data, many=many, **kwargs)
        finally:
            _CREATE_OBJECTS.reset(token)

    def object_class(self) -> Any:
        """The class this schema builds (``Meta.object_class``, resolved if a function)."""
        object_class = self.opts.object_class
        if isinstance(object_class, types.FunctionType):
            object_class = object_class()
        return object_class

    @post_load
    def create_object(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Build the object from the loaded fields (or return them as they are).

        Args:
            data: the loaded fields.
            **kwargs: marshmallow's hook arguments.

        Returns:
            The object, or ``data`` when objects are not being created or the schema has
            no ``object_class``.
        """
        object_class = self.object_class()
        if not _CREATE_OBJECTS.get() or object_class is None:
            return data
        init_data = {k: v for k, v in data.items() if k not in self.opts.exclude_fields}
        return object_class(**init_data)


class OneOfSchema(ContextSchema):
    """A schema that serializes with one of ``type_schemas``, chosen by a ``type`` key.

    Dumping picks the schema registered under the object's class name and adds that
    name as ``type``; loading reads ``type`` and hands the rest to that schema.
    Unknown keys are ignored on load.

    Attributes:
        type_schemas: the class name -> schema class mapping.
        type_field: the key holding the class name.
    """

    type_schemas: dict[str, type[Schema]] = {}
    type_field = "type"

    def get_obj_type(self, obj: Any) -> str:
        """The ``type`` name of ``obj``: its class's name.

        Args:
            obj: the object being dumped.

        Returns:
            The name under which its schema is registered.
        """
        return type(obj).__name__

    def _schema_for(self, type_name: str) -> Schema:
        schema_class = self.type_schemas.get(type_name)
        if schema_class is None:
            known = ", ".join(sorted(self.type_schemas))
            raise ValidationError(
                {
                    self.type_field: [
                        f"Unsupported type {type_name!r} for {type(self).__name__}; "
                        f"the known types are: {known}."
                    ]
                }
            )
        return schema_class()

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """Serialize ``obj`` with the schema of its class, adding its ``type``.

        Args:
            obj: the object (or objects, with ``many``).
            many: serialize a collection.

        Returns:
            The serialized data.

        Raises:
            ValidationError: when no schema is registered for the object's class, or a
                value cannot be serialized.
        """
        many = self.many if many is None else many
        with self._shared_context():
            if many:
                return [self._dump_one(o) for o in obj]
            return self._dump_one(obj)

    def _dump_one(self, obj: Any) -> Any:
        if obj is None:
            return None
        type_name = self.get_obj_type(obj)
        serialized = self._schema_for(type_name).dump(obj)
        if isinstance(serialized, dict):
            serialized[self.type_field] = type_name
        return serialized

    def load(self, data: Any, *, many: bool | None = None, **kwargs: Any) -> Any:
        """Load ``data`` with the schema its ``type`` names.

        Args:
            data: the serialized data (or a list of them, with ``many``).
            many: load a collection.
            **kwargs: ``partial`` and ``unknown``, as marshmallow takes them.

        Returns:
            The loaded object(s).

        Raises:
            ValidationError: when ``type`` is missing or unknown, or the data is invalid.
        """
        many = self.many if many is None else many
        with self._shared_context():
            if many:
                return [self._load_one(d, **kwargs) for d in data]
            return self._load_one(data, **kwargs)

    def _load_one(self, data: Any, *, unknown: Any = None, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(
                {"_schema": [f"{type(self).__name__} expects a mapping, got {data!r}."]}
            )
        data = _plain(data)
        type_name = data.pop(self.type_field, None)
        if not type_name:
            raise ValidationError({self.type_field: ["Missing data for required field."]})
        if not isinstance(type_name, str):
            raise ValidationError({self.type_field: [f"Invalid type name {type_name!r}."]})
        schema = self._schema_for(type_name)
        return schema.load(data, unknown=unknown or EXCLUDE, **kwargs)


# -- fields ------------------------------------------------------------------------------
class JSONCompatible(fields.Raw):
    """A field whose value must survive ``json.dumps``, checked on dump and on load.

    Args:
        *args: what :class:`marshmallow.fields.Field` accepts.
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def _check(self, value: Any) -> None:
        try:
            json.dumps(_plain(value))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"Value is not JSON-compatible: {type(value).__name__} ({exc})."
            ) from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        self._check(value)
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        self._check(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Nested(fields.Nested):
    """A nested field whose value is chosen by a function of the parent object.

    ``value_selection_fn(obj, context)`` is called on every dump with the object being
    serialized and a dictionary holding the schema context plus ``value`` (the
    attribute's value, when there is one) and ``attr``. Return ``marshmallow.missing``
    to leave the field out.

    Args:
        nested: the nested schema class (or instance, or name).
        value_selection_fn: the function that picks the value; None reads the
            attribute as a plain Nested field does.
        **kwargs: what :class:`marshmallow.fields.Nested` accepts.
    """

    def __init__(
        self,
        nested: Any,
        value_selection_fn: Callable[[Any, dict[str, Any]], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(nested, **kwargs)
        self.value_selection_fn = value_selection_fn
        if value_selection_fn is not None:
            self._CHECK_ATTRIBUTE = False

    def _serialize(  # type: ignore[override]
        self, nested_obj: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> Any:
        if self.value_selection_fn is not None:
            context = dict(_ACTIVE_CONTEXT.get() or {})
            if nested_obj is not None:
                context["value"] = nested_obj
            context["attr"] = attr
            nested_obj = self.value_selection_fn(obj, context)
        if nested_obj is missing:
            return missing
        return super()._serialize(nested_obj, attr, obj, **kwargs)  # type: ignore[no-untyped-call]


class Bytes(fields.Field[Any]):
    """Bytes written as base64 text and read back to bytes.

    Args:
        *args: what :class:`marshmallow.fields.Field` accepts.
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return base64.b64encode(value).decode("ascii")

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        try:
            return base64.b64decode(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Not base64-encoded bytes: {value!r}.") from exc


class UUID(fields.UUID):
    """A UUID checked on load and kept as its string form (ids are strings in lockgate).

    Args:
        *args: what :class:`marshmallow.fields.UUID` accepts.
        **kwargs: what :class:`marshmallow.fields.UUID` accepts.
    """

    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs))


def _zone_name(dt: datetime.datetime) -> str:
    """The name of ``dt``'s zone: an IANA name when it has one, else ``"+HH:MM"``."""
    zone = dt.tzinfo
    for attribute in ("key", "zone", "name"):  # zoneinfo, pytz, pendulum 2
        name = getattr(zone, attribute, None)
        if isinstance(name, str) and name:
            return name
    offset = dt.utcoffset() or datetime.timedelta(0)
    if not offset:
        return "UTC"
    sign = "-" if offset < datetime.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _zone(name: str) -> datetime.tzinfo:
    """The zone named ``name`` (an IANA name, ``UTC`` or a ``+HH:MM`` offset)."""
    if name.upper() == "UTC":
        return datetime.timezone.utc
    if name[:1] in "+-" and ":" in name:
        hours, minutes = name[1:].split(":")
        offset = datetime.timedelta(hours=int(hours), minutes=int(minutes))
        return datetime.timezone(-offset if name[0] == "-" else offset)
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class DateTimeTZ(fields.Field[Any]):
    """A datetime written as its wall-clock time and its zone's name.

    The form is ``{"dt": "2020-01-01T09:00:00", "tz": "Europe/Paris"}``: keeping the
    zone's *name* (not just today's offset) keeps daylight-saving arithmetic right
    after loading. Naive datetimes are taken as UTC. Loading gives a timezone-aware
    :class:`datetime.datetime` in that zone.

    Args:
        *args: what :class:`marshmallow.fields.Field` accepts.
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime.datetime):
            raise ValidationError(f"Not a datetime: {value!r}.")
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return {"dt": value.replace(tzinfo=None).isoformat(), "tz": _zone_name(value)}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        try:
            wall = datetime.datetime.fromisoformat(value["dt"])
            zone = _zone(value.get("tz") or "UTC")
        except Exception as exc:
            raise ValidationError(
                f'Not a serialized datetime (expected {{"dt": ..., "tz": ...}}): {value!r}.'
            ) from exc
        return wall.replace(tzinfo=zone)


class TimeDeltaField(fields.Field[Any]):
    """A timedelta written as a whole number of ``precision`` units.

    Args:
        precision: ``"seconds"`` (the default) or ``"microseconds"``.
        **kwargs: what :class:`marshmallow.fields.Field` accepts.

    Raises:
        ValueError: for another precision.
    """

    def __init__(self, precision: str = "seconds", **kwargs: Any) -> None:
        if precision not in ("seconds", "microseconds"):
            raise ValueError(f"precision must be 'seconds' or 'microseconds', not {precision!r}.")
        super().__init__(**kwargs)
        self.precision = precision

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime.timedelta):
            raise ValidationError(f"Not a timedelta: {value!r}.")
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        if self.precision == "microseconds":
            return micros
        seconds = micros / 1_000_000
        return int(seconds) if seconds == int(seconds) else seconds

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"Not a number of {self.precision}: {value!r}.")
        return datetime.timedelta(**{self.precision: value})


class FunctionReference(fields.Field[Any]):
    """A function written as its qualified name and read back from a list of known ones.

    Args:
        valid_functions: the functions this field knows by name.
        reject_invalid: refuse functions (on dump) and names (on load) that are not in
            ``valid_functions``; when False, any function is written by name and an
            unknown name loads as the plain string.
        resolve_imported: when an unknown name loads, look it up among the modules
            already imported (:func:`from_qualified_name`) before keeping the string.
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def __init__(
        self,
        valid_functions: Iterable[Callable[..., Any]],
        reject_invalid: bool = True,
        resolve_imported: bool = False,
        **kwargs: Any,
    ) -> None:
        self.valid_functions = {to_qualified_name(f): f for f in valid_functions}
        self.reject_invalid = reject_invalid
        self.resolve_imported = resolve_imported
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            if self.allow_none:
                return None
            raise ValidationError("Missing function reference (None is not allowed here).")
        if isinstance(value, str):  # a reference loaded earlier that did not resolve
            if self.reject_invalid and value not in self.valid_functions:
                raise ValidationError(f"Invalid function reference: {value!r}.")
            return value
        known = any(f is value for f in self.valid_functions.values())
        if self.reject_invalid and not known:
            raise ValidationError(
                f"Invalid function reference: {value!r}; expected one of "
                f"{', '.join(sorted(self.valid_functions))}."
            )
        return to_qualified_name(value)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, str):
            raise ValidationError(f"A function reference must be a string, got {value!r}.")
        if value in self.valid_functions:
            return self.valid_functions[value]
        if self.reject_invalid:
            raise ValidationError(f"Invalid function reference: {value!r}.")
        if self.resolve_imported:
            try:
                found = from_qualified_name(value)
            except ValueError:
                return value
            return found if callable(found) else value
        return value


def new_id() -> str:
    """A fresh random id (a UUID4 string), as tasks and flows use."""
    return str(uuid.uuid4())
