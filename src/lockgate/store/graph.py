"""A flow's graph hash: tells a resumed or restarted run whether the flow changed."""

from __future__ import annotations

import hashlib
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

__all__ = ["graph_hash"]


def graph_hash(flow: Flow) -> str:
    """A hash of the flow's shape: task slugs and classes, and edges (keys, mapped).

    Two loads of the same flow file give the same hash; adding, removing or renaming
    a task, or rewiring an edge, changes it. Task code is not hashed (editing a
    task's body to fix a bug and then restarting is the point of restart).

    Tasks and edges are taken in the order they were added: the same code builds the
    same flow in the same order, and that order already decides the ``name-N`` slugs
    a stored run is matched by. (No sorting: this runs at the start of every recorded
    run, so it stays linear and cheap.)

    Args:
        flow: the flow.

    Returns:
        64 hex digits (SHA-256).
    """
    slugs = flow.slugs()
    class_names: dict[type, str] = {}
    position: dict[Task, int] = {}
    parts: list[str] = [flow.name]
    for i, (t, slug) in enumerate(slugs.items()):
        position[t] = i
        cls = type(t)
        name = class_names.get(cls)
        if name is None:
            name = class_names[cls] = f"{cls.__module__}.{cls.__qualname__}"
        parts.append(f"{slug}\x1f{name}")
    # Edges as (upstream, downstream, mapped) positions packed in 64-bit ints, and keys.
    ends = array("q")
    keys: list[str] = []
    for e in flow._edges:
        ends.extend((position[e.upstream_task], position[e.downstream_task], e.mapped))
        keys.append(e.key or "")
    digest = hashlib.sha256("\n".join(parts).encode())
    digest.update(b"\x00")
    digest.update(ends.tobytes())
    digest.update("\x1f".join(keys).encode())
    return digest.hexdigest()
