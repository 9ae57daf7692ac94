"""A flow's graph hash: tells a resumed or restarted run whether the flow changed."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.core.flow import Flow

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
    classes = list(map(type, slugs))
    class_names = {c: f"{c.__module__}.{c.__qualname__}" for c in dict.fromkeys(classes)}
    described = map("\x1f".join, zip(slugs.values(), map(class_names.__getitem__, classes)))
    digest = hashlib.sha256("\n".join([flow.name, *described]).encode())
    digest.update(b"\x00")
    # Edges as (upstream, downstream, mapped) task positions in 64-bit ints, then their
    # keys: the flow keeps both up to date as edges are added.
    digest.update(flow._edge_ends.tobytes())
    digest.update("\x1f".join(flow._edge_keys).encode())
    return digest.hexdigest()
