"""A flow's graph hash: tells a resumed or restarted run whether the flow changed."""

from __future__ import annotations

import hashlib
from array import array
from operator import attrgetter
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
    tasks = list(slugs)
    # Whole-list operations (map, zip, join, array slices) instead of a loop per task
    # and per edge: this runs on the run's thread when a recorded run starts.
    classes = list(map(type, tasks))
    class_names = {c: f"{c.__module__}.{c.__qualname__}" for c in dict.fromkeys(classes)}
    described = map("\x1f".join, zip(slugs.values(), map(class_names.__getitem__, classes)))
    position = dict(zip(tasks, range(len(tasks)))).__getitem__
    edges = list(flow._edges)
    # Edges as (upstream, downstream, mapped) positions in 64-bit ints, and keys.
    ends = array("q", bytes(8 * 3 * len(edges)))
    ends[0::3] = array("q", map(position, map(_UPSTREAM, edges)))
    ends[1::3] = array("q", map(position, map(_DOWNSTREAM, edges)))
    ends[2::3] = array("q", map(_MAPPED, edges))
    keys = [key or "" for key in map(_KEY, edges)]
    digest = hashlib.sha256("\n".join([flow.name, *described]).encode())
    digest.update(b"\x00")
    digest.update(ends.tobytes())
    digest.update("\x1f".join(keys).encode())
    return digest.hexdigest()


_UPSTREAM = attrgetter("upstream_task")
_DOWNSTREAM = attrgetter("downstream_task")
_MAPPED = attrgetter("mapped")
_KEY = attrgetter("key")
