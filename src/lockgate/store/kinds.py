"""State kinds: what the store's writer needs to know about a state class, as small ints.

The recorder queues a state change with its class's kind id (an int), not the class or
the state object: queued records then hold only untracked values (ints, strings,
floats, bytes), which the garbage collector stops scanning, so a recorded run does not
make the collector work harder on the run's own objects. The kinds table
(:func:`kinds_table`) travels with each batch to the writer (thread or process).
"""

from __future__ import annotations

import threading

from lockgate.engine.state import (
    Cached,
    Failed,
    Finished,
    Paused,
    Running,
    Scheduled,
    State,
    Success,
)

__all__ = ["KINDS", "KIND_IDS", "Kind", "kind_id_of", "kinds_table"]

_KEEP_INPUTS = (Paused, Failed, Scheduled)  # states that may run again with their inputs


class Kind:
    """What the writer needs to know about a state class (computed once per class)."""

    __slots__ = (
        "failed",
        "finished",
        "keeps_inputs",
        "name",
        "needs_state",
        "running",
        "scheduled",
        "stores_result",
    )

    def __init__(self, cls: type[State]) -> None:
        self.name = cls.__name__
        self.running = issubclass(cls, Running)
        self.finished = issubclass(cls, Finished)
        self.failed = issubclass(cls, Failed)
        self.scheduled = issubclass(cls, Scheduled)
        self.stores_result = cls is Success or cls is Cached
        self.keeps_inputs = issubclass(cls, _KEEP_INPUTS)
        # The writer reads the state object itself only for these (start time, inputs,
        # exception); other events carry plain values only.
        self.needs_state = self.scheduled or self.keeps_inputs or self.failed


KIND_IDS: dict[type[State], int] = {}
"""Kind ids by state class (read without the lock: a dict read is atomic)."""
KINDS: list[Kind] = []
"""The kinds, by id."""
_kind_lock = threading.Lock()


def kind_id_of(cls: type[State]) -> int:
    """The kind id of ``cls``, made (once) when it is new.

    Args:
        cls: a state class.

    Returns:
        Its index in :data:`KINDS`.
    """
    with _kind_lock:
        found = KIND_IDS.get(cls)
        if found is None:
            KINDS.append(Kind(cls))
            found = KIND_IDS[cls] = len(KINDS) - 1
        return found


def kinds_table() -> list[tuple[str, bool, bool]]:
    """The kinds as :class:`~lockgate.store._writer.TaskRows` reads them."""
    return [(k.name, k.running, k.finished) for k in KINDS]
