"""Schemas for task-run and flow-run states.

A state is written as its class name (``type``), its ``message``, its stored result
(``_result``) and the data of its class (``start_time``, ``run_count``,
``cached_inputs``, ...). Results follow one rule: only a *stored* result is written
(a :class:`~lockgate.engine.result.SafeResult`: a location and its handler); a value
that never went through a result handler is written as ``NoResultType``, and so is
a cached input that was not stored (it loads as ``NoResult``, keeping its name). A :class:`~lockgate.engine.state.Mapped`
state is written with the number of its children (``n_map_states``), not the
children themselves; loading gives ``map_states`` of that many ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load

from lockgate.engine import state
from lockgate.engine.result import NoResult, ResultInterface, SafeResult
from lockgate.serialization.result import StateResultSchema
from lockgate.utilities.serialization import JSONCompatible, Nested, ObjectSchema, OneOfSchema

__all__ = [
    "BaseStateSchema",
    "CachedSchema",
    "CancelledSchema",
    "FailedSchema",
    "FinishedSchema",
    "MappedSchema",
    "MetaStateSchema",
    "PausedSchema",
    "PendingSchema",
    "QueuedSchema",
    "ResumeSchema",
    "RetryingSchema",
    "RunningSchema",
    "ScheduledSchema",
    "SkippedSchema",
    "StateSchema",
    "SubmittedSchema",
    "SuccessSchema",
    "TimedOutSchema",
    "TriggerFailedSchema",
]


def stored_form(value: Any) -> SafeResult:
    """The stored (safe) form of a result or value: a SafeResult, or NoResult.

    Args:
        value: a :class:`~lockgate.engine.result.ResultInterface` or a plain value.

    Returns:
        The result's ``safe_value`` when it has been stored, else :data:`NoResult`.
    """
    if isinstance(value, ResultInterface):
        safe = getattr(value, "safe_value", None)
        if isinstance(safe, SafeResult):
            return safe
    return NoResult


class StoredResult(Nested):
    """A state's result, written in its stored form (see :func:`stored_form`).

    Args:
        **kwargs: what :class:`marshmallow.fields.Nested` accepts.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(StateResultSchema, **kwargs)

    def _serialize(  # type: ignore[override]
        self, nested_obj: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> Any:
        return super()._serialize(stored_form(nested_obj), attr, obj, **kwargs)


class StoredInputs(fields.Field[Any]):
    """A state's ``cached_inputs`` by name: stored ones as SafeResults, others as NoResult.

    Args:
        **kwargs: what :class:`marshmallow.fields.Field` accepts.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        schema = StateResultSchema()
        out = {}
        for key, item in value.items():
            out[str(key)] = schema.dump(stored_form(item))
        return out

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError(
                f"cached_inputs must be an object of stored results, got {value!r}."
            )
        schema = StateResultSchema()
        return {str(key): schema.load(item) for key, item in value.items()}


class BaseStateSchema(ObjectSchema):
    """What every state has: a ``message`` and a stored result (``_result``)."""

    class Meta:
        object_class = state.State

    message = fields.String(allow_none=True)
    _result = StoredResult(allow_none=False)

    @post_load
    def create_object(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Build the state; the stored result becomes its ``result``.

        Args:
            data: the loaded fields.
            **kwargs: marshmallow's hook arguments.

        Returns:
            The state (or the fields, when not creating objects).
        """
        data = dict(data)
        data["result"] = data.pop("_result", NoResult)
        # Leave unset settings to the class's own defaults.
        data = {k: v for k, v in data.items() if v is not None or k == "message"}
        return super().create_object(data, **kwargs)


class _InputsStateSchema(BaseStateSchema):
    """States that keep the inputs a task had (every state but the meta states)."""

    class Meta:
        object_class = state.State

    cached_inputs = StoredInputs(allow_none=True)


class PendingSchema(_InputsStateSchema):
    """:class:`~lockgate.engine.state.Pending`."""

    class Meta:
        object_class = state.Pending


class PausedSchema(PendingSchema):
    """:class:`~lockgate.engine.state.Paused`."""

    class Meta:
        object_class = state.Paused


class ScheduledSchema(PendingSchema):
    """:class:`~lockgate.engine.state.Scheduled`: its ``start_time``."""

    class Meta:
        object_class = state.Scheduled

    start_time = fields.DateTime(allow_none=True)


class ResumeSchema(ScheduledSchema):
    """:class:`~lockgate.engine.state.Resume`."""

    class Meta:
        object_class = state.Resume


class RetryingSchema(ScheduledSchema):
    """:class:`~lockgate.engine.state.Retrying`: its ``run_count`` too."""

    class Meta:
        object_class = state.Retrying

    run_count = fields.Integer(allow_none=True)


class RunningSchema(_InputsStateSchema):
    """:class:`~lockgate.engine.state.Running`."""

    class Meta:
        object_class = state.Running


class FinishedSchema(_InputsStateSchema):
    """:class:`~lockgate.engine.state.Finished`."""

    class Meta:
        object_class = state.Finished


class SuccessSchema(FinishedSchema):
    """:class:`~lockgate.engine.state.Success`."""

    class Meta:
        object_class = state.Success


class CachedSchema(SuccessSchema):
    """:class:`~lockgate.engine.state.Cached`: the parameters and expiry of the cache."""

    class Meta:
        object_class = state.Cached

    cached_parameters = JSONCompatible(allow_none=True)
    cached_result_expiration = fields.DateTime(allow_none=True)


class MappedSchema(SuccessSchema):
    """:class:`~lockgate.engine.state.Mapped`: only how many children it has."""

    class Meta:
        object_class = state.Mapped
        exclude = ("_result", "cached_inputs")

    n_map_states = fields.Function(
        lambda s: len(getattr(s, "map_states", None) or ()), deserialize=lambda n: int(n)
    )

    @post_load
    def create_object(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Build the Mapped state with ``n_map_states`` placeholders (None) as children.

        Args:
            data: the loaded fields.
            **kwargs: marshmallow's hook arguments.

        Returns:
            The state (or the fields, when not creating objects).
        """
        data = dict(data)
        count = data.pop("n_map_states", 0) or 0
        built = super().create_object(data, **kwargs)
        if isinstance(built, state.Mapped):
            built.map_states = [None] * count  # type: ignore[list-item]
        else:
            built["map_states"] = [None] * count
        return built


class SkippedSchema(SuccessSchema):
    """:class:`~lockgate.engine.state.Skipped`."""

    class Meta:
        object_class = state.Skipped


class FailedSchema(FinishedSchema):
    """:class:`~lockgate.engine.state.Failed`."""

    class Meta:
        object_class = state.Failed


class CancelledSchema(FailedSchema):
    """:class:`~lockgate.engine.state.Cancelled` (a lockgate state)."""

    class Meta:
        object_class = state.Cancelled


class TimedOutSchema(FailedSchema):
    """:class:`~lockgate.engine.state.TimedOut`."""

    class Meta:
        object_class = state.TimedOut


class TriggerFailedSchema(FailedSchema):
    """:class:`~lockgate.engine.state.TriggerFailed`."""

    class Meta:
        object_class = state.TriggerFailed


class MetaStateSchema(BaseStateSchema):
    """Meta states: the wrapped ``state`` too."""

    class Meta:
        object_class = state.MetaState

    state = Nested(lambda: StateSchema, allow_none=True)


class SubmittedSchema(MetaStateSchema):
    """:class:`~lockgate.engine.state.Submitted`."""

    class Meta:
        object_class = state.Submitted


class QueuedSchema(MetaStateSchema):
    """:class:`~lockgate.engine.state.Queued`."""

    class Meta:
        object_class = state.Queued


def _state_schemas() -> dict[str, type[BaseStateSchema]]:
    """Every state class of :mod:`lockgate.engine.state` by name, with its schema.

    Classes without a schema of their own above get one derived from their nearest
    parent's, so a state class added to the engine is never left unserializable.
    """
    explicit: dict[type, type[BaseStateSchema]] = {}
    for schema in list(globals().values()):
        if (
            isinstance(schema, type)
            and issubclass(schema, BaseStateSchema)
            and not schema.__name__.startswith("_")
            and schema.__module__ == __name__
        ):
            explicit.setdefault(schema.Meta.object_class, schema)
    classes = [
        cls
        for cls in vars(state).values()
        if isinstance(cls, type)
        and issubclass(cls, state.State)
        and cls not in (state.State, state.MetaState)
        and cls.__module__ == state.__name__
    ]
    found: dict[str, type[BaseStateSchema]] = {}
    for cls in sorted(classes, key=lambda c: len(c.__mro__)):  # parents first
        schema = explicit.get(cls)
        if schema is None:
            parent = next(
                (explicit[base] for base in cls.__mro__[1:] if base in explicit), BaseStateSchema
            )
            meta = type("Meta", (), {"object_class": cls})
            schema = type(f"{cls.__name__}Schema", (parent,), {"Meta": meta})
            explicit[cls] = schema
        found[cls.__name__] = schema
    return found


class StateSchema(OneOfSchema):
    """Any state, chosen by its class name in ``type``."""

    type_schemas: dict[str, type[Schema]] = dict(_state_schemas())
