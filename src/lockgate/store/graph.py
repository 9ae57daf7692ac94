"""A flow's graph in the store: its hash (did the flow change?) and its stored shape.

The hash tells a resumed or restarted run whether the flow changed. The stored shape
(:func:`graph_document`, read back by :func:`expand_graph`) lets ``show``, ``visualize``
and the dashboard draw a run's graph without loading (running) the flow's file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from array import array
from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

__all__ = ["GRAPH_FORMAT", "expand_graph", "flow_from_graph", "graph_document", "graph_hash"]

GRAPH_FORMAT = 2
"""The version of the compact graph document :func:`graph_document` writes."""


def graph_hash(flow: Flow, slugs: dict[Task, str] | None = None) -> str:
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
        slugs: ``flow.slugs()``, when the caller has it already.

    Returns:
        64 hex digits (SHA-256).
    """
    if slugs is None:
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


def graph_document(flow: Flow, slugs: dict[Task, str] | None = None) -> bytes:
    """The flow's graph as the store keeps it: compact, compressed JSON.

    It holds what :meth:`Flow.serialize` says about the graph (each task's store slug,
    name, class, tags and retries, each edge's ends, key and mapped flag, the
    parameters and reference tasks) but not the environment (it may hold a key) nor
    schedules or handlers. Columns of joined text and packed integers, with edges
    pointing at tasks by position, keep it cheap: about 25 ms for 10,000 tasks, where
    :meth:`Flow.serialize` (marshmallow) takes 0.7 s. It is built once per new graph,
    at the start of that graph's first recorded run.

    Args:
        flow: the flow.
        slugs: ``flow.slugs()``, when the caller has it already.

    Returns:
        zlib-compressed UTF-8 JSON; :func:`expand_graph` reads it.
    """
    if slugs is None:
        slugs = flow.slugs()
    tasks = list(slugs)
    classes = list(map(type, tasks))
    kinds = {c: i for i, c in enumerate(dict.fromkeys(classes))}
    index = {t: i for i, t in enumerate(tasks)}
    document = {
        "format": GRAPH_FORMAT,
        "name": flow.name,
        "slugs": _pack(slugs.values()),
        "names": _pack(map(attrgetter("name"), tasks)),
        "types": [f"{c.__module__}.{c.__qualname__}" for c in kinds],
        "type_of": _ints(map(kinds.__getitem__, classes)),
        "tags": {i: sorted(t.tags) for i, t in enumerate(tasks) if t.tags},
        "max_retries": {i: t.max_retries for i, t in enumerate(tasks) if t.max_retries},
        # (upstream, downstream, mapped) per edge, by task position
        "edge_ends": base64.b64encode(flow._edge_ends.tobytes()).decode(),
        "edge_keys": _pack(flow._edge_keys),
        "parameters": sorted(index[p] for p in flow.parameters()),
        "reference_tasks": sorted(index[t] for t in flow.reference_tasks() if t in index),
    }
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode(), 1)


_SEP = "\x1f"


def _pack(texts: Iterable[str]) -> str | list[str]:
    """Strings as one ``\\x1f``-joined string (fast to encode), or a list when one of
    them holds the separator itself."""
    items = list(texts)
    joined = _SEP.join(items)
    return joined if joined.count(_SEP) == max(len(items) - 1, 0) else items


def _unpack(packed: str | list[str], count: int) -> list[str]:
    if isinstance(packed, list):
        return packed
    return packed.split(_SEP) if count else []


def _ints(values: Iterable[int]) -> str:
    return base64.b64encode(array("q", values).tobytes()).decode()


def _unints(text: str) -> list[int]:
    out = array("q")
    out.frombytes(base64.b64decode(text))
    return out.tolist()


def expand_graph(blob: bytes) -> dict[str, Any]:
    """A stored graph document in the layout of :meth:`Flow.serialize`.

    Args:
        blob: what :func:`graph_document` wrote.

    Returns:
        ``{"name", "tasks", "edges", "parameters", "reference_tasks"}``: each task a
        dict with ``slug`` (the store's task slug), ``name``, ``type``, ``tags`` and
        ``max_retries``; each edge ``{"upstream_task": {"slug"}, "downstream_task":
        {"slug"}, "key", "mapped"}``; parameters and reference tasks as
        ``{"slug": ...}`` dicts.

    Raises:
        ValueError: the blob is not a graph document this lockgate can read.
    """
    try:
        document = json.loads(zlib.decompress(blob).decode())
    except (zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the stored graph cannot be read ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != GRAPH_FORMAT:
        raise ValueError("the stored graph was written in a format this lockgate cannot read")
    try:
        return _expand(document)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"the stored graph cannot be read ({exc!r})") from None


def _expand(document: dict[str, Any]) -> dict[str, Any]:
    ends = _unints(document["edge_ends"])
    slugs = document["slugs"]
    count = len(slugs) if isinstance(slugs, list) else slugs.count(_SEP) + 1 if slugs else 0
    slugs = _unpack(slugs, count)
    types = document["types"]
    tags = document["tags"]
    retries = document["max_retries"]
    tasks = [
        {
            "slug": slug,
            "name": name,
            "type": types[kind],
            "tags": tags.get(str(i), []),
            "max_retries": retries.get(str(i), 0),
        }
        for i, (slug, name, kind) in enumerate(
            zip(slugs, _unpack(document["names"], count), _unints(document["type_of"]), strict=True)
        )
    ]
    keys = _unpack(document["edge_keys"], len(ends) // 3)
    edges = [
        {
            "upstream_task": {"slug": slugs[ends[i]]},
            "downstream_task": {"slug": slugs[ends[i + 1]]},
            "key": key or None,
            "mapped": bool(ends[i + 2]),
        }
        for i, key in zip(range(0, len(ends), 3), keys, strict=True)
    ]
    return {
        "name": document["name"],
        "tasks": tasks,
        "edges": edges,
        "parameters": [{"slug": slugs[i]} for i in document["parameters"]],
        "reference_tasks": [{"slug": slugs[i]} for i in document["reference_tasks"]],
    }


def flow_from_graph(graph: dict[str, Any]) -> Flow:
    """A stand-in flow with a stored graph's shape, for drawing a run without its file.

    Each task is a plain task with the stored name, slug and tags (its code is not
    stored and is not needed to draw it); edges keep their keys and mapped flags.

    Args:
        graph: what :meth:`RunStore.get_run_graph` returned.

    Returns:
        A flow whose ``slugs()`` are the stored slugs (so stored states match).
    """
    from lockgate.core.flow import Flow
    from lockgate.core.task import Task

    class StoredTask(Task):
        """A task known only by its stored description (it never runs)."""

        def run(self, **inputs: Any) -> None:
            raise RuntimeError("a task rebuilt from a stored graph cannot run")

    flow = Flow(graph["name"], validate=False)
    by_slug: dict[str, Task] = {}
    for described in graph["tasks"]:
        task = StoredTask(
            name=described["name"], slug=described["slug"], tags=described.get("tags") or None
        )
        by_slug[described["slug"]] = task
        flow.add_task(task)
    for edge in graph["edges"]:
        flow.add_edge(
            by_slug[edge["upstream_task"]["slug"]],
            by_slug[edge["downstream_task"]["slug"]],
            key=edge["key"],
            mapped=edge["mapped"],
        )
    return flow
