"""Values left where they were computed: what an executor hands back instead of a result.

Executors that pass results between workers without the scheduling loop seeing them
(Dask) give the loop a :class:`RemoteValue` instead of the value. A state's
``result`` fetches it on first access; a mapped task's list of its children's values
is a :class:`RemoteList` until read, when its remote values are fetched together.
Before such an executor shuts down, :meth:`Executor.collect
<lockgate.engine.executors.base.Executor.collect>` brings back the values of the states
a run returns (:func:`fetch_remote_results`); the other executors never hold any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.engine.state import State

__all__ = ["RemoteList", "RemoteValue", "fetch_remote_results", "fetch_values", "fetched"]


class RemoteValue:
    """A task's result that stays where it was computed until someone reads it.

    Executors that can pass results between workers without the scheduling loop
    seeing them (Dask) hand the loop one of these instead of the value: downstream
    tasks receive the real value on the worker, and the loop fetches it only when
    something in this process reads it (``state.result``, a mapping over it,
    checkpointing, the run's returned states). Subclasses implement :meth:`get`, and
    :meth:`get_many` when fetching many at once is cheaper.
    """

    __slots__ = ()

    def get(self) -> Any:
        """Fetch the value (blocking).

        Raises:
            ExecutorError: when the value is gone (e.g. the cluster closed).
        """
        raise NotImplementedError

    @classmethod
    def get_many(cls, values: Sequence[RemoteValue]) -> list[Any]:
        """Fetch several values of this class; the default fetches them one by one."""
        return [v.get() for v in values]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteValue):
            other = other.get()
        return bool(self.get() == other)

    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling (a run store, a process boundary) carries the value itself.
        return (_identity, (self.get(),))


def _identity(value: Any) -> Any:
    return value


def fetch_values(values: Sequence[RemoteValue]) -> list[Any]:
    """Fetch many remote values, in as few round trips as their classes allow."""
    by_class: dict[type[RemoteValue], list[int]] = {}
    for i, value in enumerate(values):
        by_class.setdefault(type(value), []).append(i)
    out: list[Any] = [None] * len(values)
    for cls, positions in by_class.items():
        for i, got in zip(positions, cls.get_many([values[i] for i in positions])):
            out[i] = got
    return out


class RemoteList(list[Any]):
    """A mapped task's result list holding values still on workers (see Mapped.result)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (fetched(self),))


def fetched(items: list[Any]) -> list[Any]:
    """``items`` with every RemoteValue replaced by its value (fetched together)."""
    positions = [i for i, v in enumerate(items) if isinstance(v, RemoteValue)]
    out = list(items)
    for i, value in zip(positions, fetch_values([items[i] for i in positions])):
        out[i] = value
    return out


def fetch_remote_results(states: list[State]) -> None:
    """Fetch every value the given states (and their children) still hold remotely.

    Called before an executor that keeps results on its workers shuts down, so the
    states a run returns carry plain values. Results and cached inputs are fetched in
    one batch and replaced in place.
    """
    holders: list[tuple[Any, Any]] = []  # (container, key) whose value is remote
    remotes: list[RemoteValue] = []

    def note(container: Any, key: Any, value: Any) -> None:
        if isinstance(value, RemoteValue):
            holders.append((container, key))
            remotes.append(value)
        elif type(value) is list or type(value) is RemoteList:
            for i, item in enumerate(value):
                if isinstance(item, RemoteValue):
                    holders.append((value, i))
                    remotes.append(item)

    from lockgate.engine.state import Mapped  # state.py imports this module

    pending = list(states)
    while pending:
        state = pending.pop()
        if type(state._value) is RemoteList:
            state._value = list(state._value)
        note(state, None, state._value)
        if state.cached_inputs:
            for key, value in state.cached_inputs.items():
                note(state.cached_inputs, key, value)
        if isinstance(state, Mapped):
            pending.extend(state.map_states)
    if not remotes:
        return
    for (container, key), value in zip(holders, fetch_values(remotes)):
        if key is None:
            container._value = value
        else:
            container[key] = value
