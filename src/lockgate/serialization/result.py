"""Schemas for results: only *stored* results are serialized.

A :class:`~lockgate.engine.result.SafeResult` (a location and the handler that reads it)
is written as its location and handler; :data:`~lockgate.engine.result.NoResult` as an
empty object. An in-memory :class:`~lockgate.engine.result.Result` is never written
as such: a state writes its stored form (``safe_value``), which is NoResult until the
value went through a handler.
"""

from __future__ import annotations

from lockgate.engine import result
from lockgate.serialization.result_handlers import ResultHandlerSchema
from lockgate.utilities.serialization import JSONCompatible, Nested, ObjectSchema, OneOfSchema

__all__ = ["NoResultSchema", "SafeResultSchema", "StateResultSchema"]


class SafeResultSchema(ObjectSchema):
    """A stored result: its JSON-compatible ``value`` (the location) and its handler."""

    class Meta:
        object_class = result.SafeResult

    value = JSONCompatible(allow_none=True)
    result_handler = Nested(ResultHandlerSchema, allow_none=False)


class NoResultSchema(ObjectSchema):
    """:data:`~lockgate.engine.result.NoResult`: nothing but the version."""

    class Meta:
        object_class = result.NoResultType


class StateResultSchema(OneOfSchema):
    """A state's result: a SafeResult or NoResult, chosen by ``type``."""

    type_schemas = {"SafeResult": SafeResultSchema, "NoResultType": NoResultSchema}
