"""The schema of a flow's environment (only :class:`~lockgate.environments.LocalEnvironment`).

Prefect 0.5.1's Docker and Kubernetes environments are not part of lockgate, so they
have no schema: loading one fails with an "Unsupported type" validation error.
"""

from __future__ import annotations

from lockgate.utilities.serialization import Bytes, ObjectSchema, OneOfSchema

__all__ = ["EnvironmentSchema", "LocalEnvironmentSchema"]


def _local_environment_class() -> type:
    from lockgate.environments import LocalEnvironment

    return LocalEnvironment


class LocalEnvironmentSchema(ObjectSchema):
    """:class:`~lockgate.environments.LocalEnvironment`: its key and encrypted flow."""

    class Meta:
        object_class = _local_environment_class

    encryption_key = Bytes(allow_none=True)
    serialized_flow = Bytes(allow_none=True)


class EnvironmentSchema(OneOfSchema):
    """A flow's environment, chosen by its class name in ``type``."""

    type_schemas = {"LocalEnvironment": LocalEnvironmentSchema}
