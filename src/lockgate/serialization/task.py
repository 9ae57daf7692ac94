"""Schemas for tasks and parameters.

A task is written with its settings (name, slug, tags, retries, timeout, caching...),
a description of its ``run`` inputs and output, and its callables by *qualified name*:
the trigger, the cache validator, the state handlers and ``on_failure``. Its code is
never written, so a loaded task is a plain :class:`~lockgate.core.task.Task` (whatever
its class was) that remembers the names of its inputs; it describes the original but
cannot run it. Loading finds a callable again when its module has been imported; a
name that cannot be found (a function defined inside another, say) stays a string.

Tasks loaded together (the tasks and edges of one flow) share one cache by ``id``,
kept in the schema context under ``task_id_cache``, so an edge's ends are the very
task objects loaded with the flow.
"""

from __future__ import annotations

import datetime
import functools
import inspect
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, missing, post_load

from lockgate.core.task import Parameter, RunSignature, Task
from lockgate.utilities.serialization import (
    _CREATE_OBJECTS,
    UUID,
    FunctionReference,
    JSONCompatible,
    ObjectSchema,
    TimeDeltaField,
    from_qualified_name,
    new_id,
    to_qualified_name,
)

__all__ = ["ParameterSchema", "TaskSchema", "build", "read_attribute"]


def _parameter_class() -> type:
    return Parameter


def _task_class() -> type:
    return Task


# Callables the task's constructor refuses when they are names (strings) that did not
# resolve on load; they are set after construction. (A cache validator name is passed
# to the constructor, which accepts it and warns when there is no cache_for.)
_CALLABLE_FIELDS = ("trigger", "state_handlers", "on_failure")


def read_attribute(obj: Any, key: str) -> Any:
    """Read ``key`` from a task or flow (an attribute) or a mapping (a key).

    Indexing a task builds a new task, so objects are read with ``getattr`` only.

    Args:
        obj: the object being serialized.
        key: the attribute or key.

    Returns:
        The value, or ``marshmallow.missing`` when there is none.
    """
    if isinstance(obj, Mapping):
        return obj.get(key, missing)
    return getattr(obj, key, missing)


@functools.lru_cache(maxsize=256)
def _constructor_arguments(cls: Any) -> frozenset[str] | None:
    """The keyword arguments ``cls(...)`` accepts; None when it takes any (or is opaque)."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    return frozenset(parameters)


def build(cls: Any, data: dict[str, Any]) -> Any:
    """Create ``cls`` from ``data``: keys its constructor takes are passed, others are set.

    Args:
        cls: the class to build.
        data: the loaded fields.

    Returns:
        The new object.
    """
    accepted = _constructor_arguments(cls)
    if accepted is None:
        return cls(**data)
    init = {k: v for k, v in data.items() if k in accepted}
    obj = cls(**init)
    for key, value in data.items():
        if key not in init:
            setattr(obj, key, value)
    return obj


class RetryDelayField(fields.Field[Any]):
    """A task's ``retry_delay``: a timedelta as seconds, or a backoff as an object.

    Args:
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    _seconds = TimeDeltaField(precision="seconds")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, datetime.timedelta):
            return self._seconds._serialize(value, attr, obj)
        from lockgate.engine.retries import ExponentialBackoff

        if isinstance(value, ExponentialBackoff):
            return {
                "type": "ExponentialBackoff",
                "base": self._seconds._serialize(value.base, attr, obj),
                "factor": value.factor,
                "max_delay": self._seconds._serialize(value.max_delay, attr, obj),
                "jitter": value.jitter,
            }
        return {"type": to_qualified_name(type(value))}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if isinstance(value, Mapping):
            if value.get("type") != "ExponentialBackoff":
                raise ValidationError(
                    f"Unknown retry_delay {value.get('type')!r}; only a number of seconds "
                    "or an ExponentialBackoff can be loaded."
                )
            from lockgate.engine.retries import ExponentialBackoff

            max_delay = value.get("max_delay")
            return ExponentialBackoff(
                base=datetime.timedelta(seconds=value["base"]),
                factor=value.get("factor", 2.0),
                max_delay=None if max_delay is None else datetime.timedelta(seconds=max_delay),
                jitter=value.get("jitter", 0.0),
            )
        return self._seconds._deserialize(value, attr, data)


class Seconds(fields.Number[Any]):
    """A number of seconds, kept as an int when it is whole (a task's ``timeout``).

    Args:
        **kwargs: what :class:`marshmallow.fields.Number` accepts.
    """

    num_type = float

    def _format_num(self, value: Any) -> Any:
        number = float(value)
        return int(number) if number.is_integer() else number


class SortedStrings(fields.List[Any]):
    """A set of strings written as a sorted list (a task's ``tags``), so output is stable.

    Args:
        **kwargs: what :class:`marshmallow.fields.List` accepts.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.String(), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return sorted(str(v) for v in value)


class CallableName(fields.Field[Any]):
    """Any callable, written as its qualified name; found again on load when imported.

    Args:
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
        module = getattr(value, "__module__", None) or type(value).__module__
        return f"{module}.{qualname}"

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, str):
            raise ValidationError(f"A callable is written as its qualified name, got {value!r}.")
        try:
            found = from_qualified_name(value)
        except ValueError:
            return value
        return found if callable(found) else value


def _known_triggers() -> list[Any]:
    from lockgate import triggers

    return [
        getattr(triggers, name)
        for name in (
            "all_finished",
            "manual_only",
            "always_run",
            "never_run",
            "all_successful",
            "all_failed",
            "any_successful",
            "any_failed",
            "not_all_skipped",
        )
        if hasattr(triggers, name)
    ]


def _known_cache_validators() -> list[Any]:
    from lockgate.engine import cache_validators

    return [getattr(cache_validators, name) for name in cache_validators.__all__]


def _drop_default_cache_validator(data: dict[str, Any]) -> None:
    """Leave out a cache validator that is the one the task would choose anyway.

    Passing the default explicitly would make the task warn about a validator without
    ``cache_for`` on every load.
    """
    from lockgate.engine import cache_validators

    default = (
        cache_validators.never_use
        if data.get("cache_for") is None
        else cache_validators.duration_only
    )
    if data.get("cache_validator") is default:
        del data["cache_validator"]


class TaskMethodsMixin:
    """What task and parameter schemas share: reading tasks, inputs, the id cache."""

    context: dict[Any, Any]

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        """Read ``attr`` with getattr from a task (indexing one builds a new task).

        Args:
            obj: the task (or mapping) being serialized.
            attr: the attribute.
            default: returned when there is no such attribute.

        Returns:
            The value.
        """
        if isinstance(obj, Task):
            return getattr(obj, attr, default)
        return super().get_attribute(obj, attr, default)  # type: ignore[misc]

    def load_inputs(self, task: Any) -> Any:
        """Describe ``run``'s inputs: ``{name: {"required": bool, "type": str}}``.

        Args:
            task: the task being serialized.

        Returns:
            The description (or what a mapping holds under ``inputs``).
        """
        if not isinstance(task, Task):
            return read_attribute(task, "inputs")
        return {
            name: {"required": spec["required"], "type": str(spec["type"])}
            for name, spec in task.inputs().items()
        }

    def load_outputs(self, task: Any) -> Any:
        """Describe ``run``'s return annotation as a string.

        Args:
            task: the task being serialized.

        Returns:
            The description (or what a mapping holds under ``outputs``).
        """
        if not isinstance(task, Task):
            return read_attribute(task, "outputs")
        return str(task.outputs())

    def keep(self, value: Any) -> Any:
        """Load ``inputs`` and ``outputs`` as they were written.

        Args:
            value: the written value.

        Returns:
            The same value.
        """
        return value

    @post_load
    def create_object(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Build the task, or return the one already loaded with the same ``id``.

        Args:
            data: the loaded fields.
            **kwargs: marshmallow's hook arguments.

        Returns:
            The task (or the fields, when not creating objects).
        """
        if not _CREATE_OBJECTS.get():
            return data
        cache = self.context.setdefault("task_id_cache", {})
        task_id = data.get("id") or new_id()
        if task_id in cache:
            return cache[task_id]
        # Unset settings (None) are left to the constructor's defaults.
        data = {
            k: v for k, v in data.items() if k not in ("id", "type", "outputs") and v is not None
        }
        inputs = data.pop("inputs", None)
        # Callables that did not resolve stay names; set them after the constructor,
        # which accepts callables only.
        later = {
            key: data.pop(key)
            for key in _CALLABLE_FIELDS
            if key in data
            and (
                isinstance(data[key], str)
                or (isinstance(data[key], list) and any(isinstance(v, str) for v in data[key]))
            )
        }
        _drop_default_cache_validator(data)
        task = build(self.object_class(), data)  # type: ignore[attr-defined]
        for key, value in later.items():
            setattr(task, key, value)
        if isinstance(inputs, Mapping):
            # The loaded task remembers its inputs' names, so keyed edges can be rebuilt.
            required = frozenset(k for k, v in inputs.items() if (v or {}).get("required"))
            task.run_signature = RunSignature(tuple(inputs), required, True)
        task.id = task_id
        cache[task_id] = task
        return task


class TaskSchema(TaskMethodsMixin, ObjectSchema):
    """A task: its settings, inputs, output and callables by name (see the module)."""

    class Meta:
        object_class = _task_class

    id = UUID()
    type = fields.Function(lambda task: to_qualified_name(type(task)), lambda x: x)
    name = fields.String(allow_none=True)
    slug = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tags = SortedStrings()
    max_retries = fields.Integer(allow_none=True)
    retry_delay = RetryDelayField(allow_none=True)
    inputs = fields.Method("load_inputs", "keep", allow_none=True)
    outputs = fields.Method("load_outputs", "keep", allow_none=True)
    timeout = Seconds(allow_none=True)
    trigger = FunctionReference(
        valid_functions=_known_triggers(),
        reject_invalid=False,
        resolve_imported=True,
        allow_none=True,
    )
    skip_on_upstream_skip = fields.Boolean(allow_none=True)
    cache_for = TimeDeltaField(allow_none=True)
    cache_validator = FunctionReference(
        valid_functions=_known_cache_validators(),
        reject_invalid=False,
        resolve_imported=True,
        allow_none=True,
    )
    checkpoint = fields.Boolean(allow_none=True)
    state_handlers = fields.List(CallableName(), allow_none=True)
    on_failure = CallableName(allow_none=True)


class ParameterSchema(TaskMethodsMixin, ObjectSchema):
    """A parameter: its name, default (JSON-compatible), whether it is required, tags."""

    class Meta:
        object_class = _parameter_class

    id = UUID()
    type = fields.Function(lambda task: to_qualified_name(type(task)), lambda x: x)
    name = fields.String(required=True)
    default = JSONCompatible(allow_none=True)
    required = fields.Boolean(allow_none=True)
    description = fields.String(allow_none=True)
    tags = SortedStrings()
    outputs = fields.Method("load_outputs", "keep", allow_none=True)
