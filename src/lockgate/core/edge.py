"""Edges: the dependencies between tasks in a flow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.core.task import Task

__all__ = ["Edge"]


class Edge:
    """A dependency from ``upstream_task`` to ``downstream_task``.

    An edge with a ``key`` passes the upstream result to the downstream task's
    ``run`` as the argument of that name; an edge without one only orders the two
    tasks and feeds the upstream state to the downstream trigger. A ``mapped`` edge
    makes the downstream task run once per item of the upstream result.

    Args:
        upstream_task: the task that runs first.
        downstream_task: the task that depends on it.
        key: the name of the ``run`` argument that receives the upstream result.
        mapped: whether the downstream task maps over the upstream result.

    Raises:
        ValueError: when ``key`` is not a valid argument name (a string that is a
            Python identifier).
    """

    __slots__ = ("_hash", "downstream_task", "key", "mapped", "upstream_task")

    def __init__(
        self,
        upstream_task: Task,
        downstream_task: Task,
        key: str | None = None,
        mapped: bool = False,
    ) -> None:
        if key is not None and not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(
                f"Edge key must name an argument of the downstream task's run(), like "
                f"'rows'; got {key!r}, which is not a valid argument name."
            )
        self.upstream_task = upstream_task
        self.downstream_task = downstream_task
        self.key = key
        self.mapped = mapped
        self._hash = hash((id(upstream_task), id(downstream_task), key, mapped))

    @property
    def tasks(self) -> set[Task]:
        """Both ends of the edge."""
        return {self.upstream_task, self.downstream_task}

    def serialize(self) -> dict[str, Any]:
        """A JSON-compatible description of the edge (see ``docs/serialization.md``).

        Returns:
            The ids of its two tasks, its ``key`` and ``mapped`` flag, as
            :class:`~lockgate.serialization.edge.EdgeSchema` writes them.
        """
        from lockgate.serialization.edge import EdgeSchema

        serialized: dict[str, Any] = EdgeSchema().dump(self)
        return serialized

    def __reduce__(self) -> tuple[Any, ...]:
        # The hash depends on object ids, so rebuild it in the unpickling process.
        return (Edge, (self.upstream_task, self.downstream_task, self.key, self.mapped))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edge):
            return NotImplemented
        return (
            self.upstream_task is other.upstream_task
            and self.downstream_task is other.downstream_task
            and self.key == other.key
            and self.mapped == other.mapped
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        key = f" (key={self.key!r})" if self.key else ""
        arrow = "=map=>" if self.mapped else "->"
        return f"<Edge {self.upstream_task.name} {arrow} {self.downstream_task.name}{key}>"
