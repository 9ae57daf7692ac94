"""The schema of a flow: its tasks, edges, parameters, reference tasks and schedule.

Loading gives a :class:`~lockgate.core.flow.Flow` with the same structure: one plain
task per task (parameters stay :class:`~lockgate.core.task.Parameter`\\ s), the same
edges with their keys and ``mapped`` flags, the same reference tasks and schedule, and
the same ids. Task code is not written (see :mod:`lockgate.serialization.task`), so
the loaded flow describes the original rather than runs it.

Tasks are written in the order they were added and edges in the order they were made,
so serializing the same flow twice gives the same document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import fields, missing, post_load

from lockgate.core.flow import Flow
from lockgate.core.task import Parameter
from lockgate.serialization.edge import EdgeSchema
from lockgate.serialization.environment import EnvironmentSchema
from lockgate.serialization.schedule import ScheduleSchema
from lockgate.serialization.task import (
    CallableName,
    ParameterSchema,
    TaskSchema,
    build,
    read_attribute,
)
from lockgate.utilities.serialization import (
    _CREATE_OBJECTS,
    Nested,
    ObjectSchema,
    to_qualified_name,
)

__all__ = ["FlowSchema"]


def _flow_class() -> type:
    return Flow


def _is_flow(obj: Any) -> bool:
    return isinstance(obj, Flow)


def _in_order(flow: Any, tasks: Any) -> list[Any]:
    """``tasks`` in the order they were added to ``flow``."""
    positions = getattr(flow, "_positions", None) or {}
    return sorted(tasks, key=lambda t: positions.get(t, len(positions)))


def _parameters(obj: Any, context: dict[str, Any]) -> Any:
    if not _is_flow(obj):
        return read_attribute(obj, "parameters")
    return [t for t in _tasks(obj, context) if isinstance(t, Parameter)]


def _tasks(obj: Any, context: dict[str, Any]) -> Any:
    if not _is_flow(obj):
        return read_attribute(obj, "tasks")
    ordered = getattr(obj, "_tasks", None)
    return list(ordered) if ordered is not None else _in_order(obj, obj.tasks)


def _edges(obj: Any, context: dict[str, Any]) -> Any:
    if not _is_flow(obj):
        return read_attribute(obj, "edges")
    ordered = getattr(obj, "_edges", None)
    return list(ordered) if ordered is not None else list(obj.edges)


def _reference_tasks(obj: Any, context: dict[str, Any]) -> Any:
    if not _is_flow(obj):
        return read_attribute(obj, "reference_tasks")
    return _in_order(obj, getattr(obj, "_reference_tasks", None) or ())


def _environment(obj: Any, context: dict[str, Any]) -> Any:
    value = read_attribute(obj, "environment")
    return missing if value is None and not isinstance(obj, Mapping) else value


class FlowSchema(ObjectSchema):
    """A flow (see the module). Parameters and tasks load before edges, so the edges
    find their tasks in the schema context's ``task_id_cache``."""

    class Meta:
        object_class = _flow_class
        exclude_fields = ["id", "type", "parameters"]

    id = fields.String()
    project = fields.String(allow_none=True)
    name = fields.String(required=True, allow_none=True)
    version = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    type = fields.Function(lambda flow: to_qualified_name(type(flow)), lambda x: x)
    schedule = Nested(ScheduleSchema, allow_none=True)
    parameters = Nested(ParameterSchema, value_selection_fn=_parameters, many=True)
    tasks = Nested(TaskSchema, value_selection_fn=_tasks, many=True)
    edges = Nested(EdgeSchema, value_selection_fn=_edges, many=True)
    reference_tasks = Nested(
        TaskSchema, value_selection_fn=_reference_tasks, many=True, only=["id"]
    )
    environment = Nested(EnvironmentSchema, value_selection_fn=_environment, allow_none=True)
    constants = fields.Method("dump_constants", "keep", allow_none=True)
    state_handlers = fields.List(CallableName(), allow_none=True)
    on_failure = CallableName(allow_none=True)

    def dump_constants(self, flow: Any) -> Any:
        """The plain values bound as task inputs: ``{task id: {argument: value}}``.

        A value that is not JSON-compatible is written as its ``repr`` text.

        Args:
            flow: the flow being serialized.

        Returns:
            The constants by task id (or what a mapping holds under ``constants``).
        """
        if not _is_flow(flow):
            return read_attribute(flow, "constants")
        out: dict[str, dict[str, Any]] = {}
        for task in _in_order(flow, flow.constants):
            values = {}
            for argument, value in flow.constants[task].items():
                try:
                    json.dumps(value)
                except (TypeError, ValueError):
                    value = repr(value)
                values[argument] = value
            out[task.id] = values
        return out

    def keep(self, value: Any) -> Any:
        """Load ``constants`` as written (they are attached to tasks when the flow is built).

        Args:
            value: the written value.

        Returns:
            The same value.
        """
        return value

    @post_load
    def create_object(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Build the flow from its loaded parts.

        Args:
            data: the loaded fields.
            **kwargs: marshmallow's hook arguments.

        Returns:
            The flow (or the fields, when not creating objects).
        """
        if not _CREATE_OBJECTS.get():
            return data
        flow_id = data.get("id")
        constants = data.get("constants") or {}
        init = {
            k: v
            for k, v in data.items()
            if k not in self.opts.exclude_fields
            and k != "constants"
            and (v is not None or k == "name")
        }
        init["validate"] = False
        later = {
            key: init.pop(key)
            for key in ("state_handlers", "on_failure")
            if key in init
            and (
                isinstance(init[key], str)
                or (isinstance(init[key], list) and any(isinstance(v, str) for v in init[key]))
            )
        }
        flow = build(self.object_class(), init)
        for key, value in later.items():
            setattr(flow, key, value)
        if flow_id is not None:
            flow.id = flow_id
        loaded = self.context.get("task_id_cache", {})
        for task_id, values in constants.items():
            if task_id in loaded:
                flow.constants[loaded[task_id]] = dict(values)
        return flow
