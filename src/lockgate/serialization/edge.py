"""The schema of an edge: its two tasks (by id), its ``key`` and whether it is ``mapped``."""

from __future__ import annotations

from marshmallow import fields

from lockgate.serialization.task import TaskSchema
from lockgate.utilities.serialization import Nested, ObjectSchema

__all__ = ["EdgeSchema"]


def _edge_class() -> type:
    from lockgate.core.edge import Edge

    return Edge


class EdgeSchema(ObjectSchema):
    """An edge. Its tasks are written as their ids only; loading an edge inside a flow
    (or with a ``task_id_cache`` in the schema context) gives back the very task
    objects with those ids, and a lone edge gets plain placeholder tasks."""

    class Meta:
        object_class = _edge_class

    upstream_task = Nested(TaskSchema, only=["id"])
    downstream_task = Nested(TaskSchema, only=["id"])
    key = fields.String(allow_none=True)
    mapped = fields.Boolean(allow_none=True)
