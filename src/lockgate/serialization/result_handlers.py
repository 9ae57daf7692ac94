"""Schemas for result handlers: a handler is written as its class name and settings."""

from __future__ import annotations

from marshmallow import fields

from lockgate.engine.cloud.result_handler import CloudResultHandler
from lockgate.engine.result_handlers import (
    GCSResultHandler,
    JSONResultHandler,
    LocalResultHandler,
    ResultHandler,
    S3ResultHandler,
)
from lockgate.utilities.serialization import ObjectSchema, OneOfSchema

__all__ = [
    "BaseResultHandlerSchema",
    "CloudResultHandlerSchema",
    "GCSResultHandlerSchema",
    "JSONResultHandlerSchema",
    "LocalResultHandlerSchema",
    "ResultHandlerSchema",
    "S3ResultHandlerSchema",
]


class BaseResultHandlerSchema(ObjectSchema):
    """A handler with no settings."""

    class Meta:
        object_class = ResultHandler


class JSONResultHandlerSchema(BaseResultHandlerSchema):
    """:class:`~lockgate.engine.result_handlers.JSONResultHandler` (no settings)."""

    class Meta:
        object_class = JSONResultHandler


class LocalResultHandlerSchema(BaseResultHandlerSchema):
    """:class:`~lockgate.engine.result_handlers.LocalResultHandler`: its ``dir``."""

    class Meta:
        object_class = LocalResultHandler

    dir = fields.String(allow_none=True)


class CloudResultHandlerSchema(BaseResultHandlerSchema):
    """The Cloud placeholder: its ``result_handler_service`` (it cannot read or write)."""

    class Meta:
        object_class = CloudResultHandler

    result_handler_service = fields.String(allow_none=True)


class GCSResultHandlerSchema(BaseResultHandlerSchema):
    """Prefect's GCS handler; loading one raises ImportError (lockgate has none)."""

    class Meta:
        object_class = GCSResultHandler

    bucket = fields.String(allow_none=False)


class S3ResultHandlerSchema(BaseResultHandlerSchema):
    """Prefect's S3 handler; loading one raises ImportError (lockgate has none)."""

    class Meta:
        object_class = S3ResultHandler

    bucket = fields.String(allow_none=False)


class ResultHandlerSchema(OneOfSchema):
    """Any result handler, chosen by its class name in ``type``."""

    type_schemas = {
        "ResultHandler": BaseResultHandlerSchema,
        "JSONResultHandler": JSONResultHandlerSchema,
        "LocalResultHandler": LocalResultHandlerSchema,
        "CloudResultHandler": CloudResultHandlerSchema,
        "GCSResultHandler": GCSResultHandlerSchema,
        "S3ResultHandler": S3ResultHandlerSchema,
    }
