"""Triggers: decide from the upstream states whether a task may run.

A trigger is any callable ``trigger(upstream_states) -> bool``. It is called once
every upstream task is finished (root tasks get an empty collection). It returns
True to let the task run, or raises a signal: :class:`~lockgate.engine.signals.TRIGGERFAIL`
to fail the task without running it, :class:`~lockgate.engine.signals.SKIP` to skip it,
:class:`~lockgate.engine.signals.PAUSE` to wait for approval. A falsy return counts as
``TRIGGERFAIL("Trigger failed")``.

``upstream_states`` is a set-like collection of states: one per upstream edge, and
every child's state for an upstream that was mapped. So ``all(s.is_successful() for s
in upstream_states)`` works. Custom triggers that need to tell edges apart can read
``upstream_states.by_edge``, a read-only mapping from each
:class:`~lockgate.core.edge.Edge` to its state. The built-in triggers also accept a
plain set, list or ``{edge: state}`` dict when you call them yourself.

Skipped counts as a success and TriggerFailed as a failure everywhere. See the truth
table in ``docs/concepts.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Union

from lockgate.engine import signals
from lockgate.engine.state import Failed, Finished, Mapped, Skipped, State, Success
from lockgate.utilities.context import current as _current_context

if TYPE_CHECKING:
    from lockgate.core.edge import Edge

__all__ = [
    "Trigger",
    "UpstreamStates",
    "all_failed",
    "all_finished",
    "all_successful",
    "always_run",
    "any_failed",
    "any_successful",
    "manual_only",
    "never_run",
    "not_all_skipped",
    "some_failed",
    "some_successful",
    "states_of",
]

UpstreamInput = Union["UpstreamStates", Mapping[Any, State], Iterable[State]]
Trigger = Callable[[Any], bool]
"""The type of a trigger: takes the upstream states, returns True or raises a signal."""


def _expand(states: Iterable[State]) -> list[State]:
    """List states, replacing each Mapped state by its children's states."""
    out: list[State] = []
    for st in states:
        if isinstance(st, Mapped):
            out.extend(st.map_states)
        else:
            out.append(st)
    return out


class UpstreamStates(AbstractSet[State]):
    """The states a trigger sees: set-like, plus ``by_edge`` for custom triggers.

    Args:
        by_edge: each upstream edge and the state of its upstream task.
    """

    __slots__ = ("_by_edge", "_states")

    def __init__(self, by_edge: Mapping[Edge, State]) -> None:
        self._by_edge = by_edge
        self._states = _expand(by_edge.values())

    @classmethod
    def _from_iterable(cls, states: Iterable[Any]) -> set[Any]:
        # Set operators (&, |, -, ^) build plain sets of states, not new views.
        return set(states)

    @property
    def by_edge(self) -> Mapping[Edge, State]:
        """A read-only view from each upstream :class:`Edge` to its state."""
        return MappingProxyType(dict(self._by_edge))

    def __iter__(self) -> Iterator[State]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, item: object) -> bool:
        return any(item is st for st in self._states)

    def __repr__(self) -> str:
        return f"UpstreamStates({self._states!r})"


def states_of(upstream_states: UpstreamInput) -> list[State]:
    """List the states a trigger sees, from any input a trigger accepts.

    Accepts :class:`UpstreamStates`, an ``{edge: state}`` dict, or a set or list of
    states; Mapped states are replaced by their children's states. Handy in custom
    triggers that should also work when called directly.
    """
    if isinstance(upstream_states, UpstreamStates):
        return upstream_states._states
    if isinstance(upstream_states, Mapping):
        return _expand(upstream_states.values())
    return _expand(upstream_states)


def all_finished(upstream_states: UpstreamInput) -> bool:
    """Run once every upstream task is finished, whatever its outcome.

    Raises:
        TRIGGERFAIL: when an upstream state is not finished.
    """
    if all(isinstance(s, Finished) for s in states_of(upstream_states)):
        return True
    raise signals.TRIGGERFAIL(
        'Trigger was "all_finished" but some of the upstream tasks were not finished.'
    )


always_run = all_finished
"""Alias of :func:`all_finished`."""


def manual_only(upstream_states: UpstreamInput) -> bool:
    """Never run automatically: pause until someone resumes the task.

    The task runs only when it starts from a ``Resume`` state, is one of the run's
    ``start_tasks``, or its runner is told ``ignore_trigger=True`` (the last two do
    not call the trigger at all). Pausing is not a failure.

    Raises:
        PAUSE: unless the task is being resumed.
    """
    if _current_context().get("resume"):
        return True
    raise signals.PAUSE("Trigger function is manual_only; waiting for approval.")


never_run = manual_only
"""Alias of :func:`manual_only`."""


def all_successful(upstream_states: UpstreamInput) -> bool:
    """Run if every upstream succeeded (Skipped counts as success). The default trigger.

    Raises:
        TRIGGERFAIL: when an upstream did not succeed.
    """
    if all(isinstance(s, Success) for s in states_of(upstream_states)):
        return True
    raise signals.TRIGGERFAIL('Trigger was "all_successful" but some of the upstream tasks failed.')


def all_failed(upstream_states: UpstreamInput) -> bool:
    """Run if every upstream failed (TriggerFailed counts as failure).

    Raises:
        TRIGGERFAIL: when an upstream did not fail.
    """
    if all(isinstance(s, Failed) for s in states_of(upstream_states)):
        return True
    raise signals.TRIGGERFAIL('Trigger was "all_failed" but some of the upstream tasks succeeded.')


def any_successful(upstream_states: UpstreamInput) -> bool:
    """Run if at least one upstream succeeded, or there are no upstream tasks.

    Raises:
        TRIGGERFAIL: when upstream tasks exist and none succeeded.
    """
    states = states_of(upstream_states)
    if not states or any(isinstance(s, Success) for s in states):
        return True
    raise signals.TRIGGERFAIL(
        'Trigger was "any_successful" but none of the upstream tasks succeeded.'
    )


def any_failed(upstream_states: UpstreamInput) -> bool:
    """Run if at least one upstream failed, or there are no upstream tasks.

    Raises:
        TRIGGERFAIL: when upstream tasks exist and none failed.
    """
    states = states_of(upstream_states)
    if not states or any(isinstance(s, Failed) for s in states):
        return True
    raise signals.TRIGGERFAIL('Trigger was "any_failed" but none of the upstream tasks failed.')


def not_all_skipped(upstream_states: UpstreamInput) -> bool:
    """Run unless every upstream was skipped, in which case skip too (``merge`` uses it).

    A task with no upstream tasks runs.

    Raises:
        SKIP: when there are upstream tasks and all of them were skipped.
    """
    states = states_of(upstream_states)
    if states and all(isinstance(s, Skipped) for s in states):
        raise signals.SKIP("All upstream tasks were skipped.")
    return True


def _bound(value: int | float | None, name: str, trigger_name: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{trigger_name}({name}={value!r}): {name} must be an int (a count) "
            "or a float in [0, 1] (a fraction of the upstream states)."
        )
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{trigger_name}({name}={value!r}): a float bound is a fraction and must be "
            "in [0, 1]; pass an int for a count."
        )
    if value < 0:
        raise ValueError(f"{trigger_name}({name}={value!r}): a count cannot be negative.")
    return value


def _counting_trigger(
    trigger_name: str,
    what: str,
    counts: Callable[[State], bool],
    at_least: int | float | None,
    at_most: int | float | None,
) -> Trigger:
    low = _bound(at_least, "at_least", trigger_name)
    high = _bound(at_most, "at_most", trigger_name)
    if type(low) is type(high) and low is not None and high is not None and low > high:
        raise ValueError(
            f"{trigger_name}(at_least={at_least!r}, at_most={at_most!r}): "
            "at_least is greater than at_most, so the trigger could never pass."
        )

    def trigger(upstream_states: UpstreamInput) -> bool:
        states = states_of(upstream_states)
        hits = sum(1 for s in states if counts(s))
        total = len(states)
        too_few = low is not None and hits < (low * total if isinstance(low, float) else low)
        too_many = high is not None and hits > (high * total if isinstance(high, float) else high)
        if too_few or too_many:
            raise signals.TRIGGERFAIL(
                f'Trigger was "{trigger_name}(at_least={at_least!r}, at_most={at_most!r})" '
                f"but {hits} of {total} upstream tasks {what}."
            )
        return True

    trigger.__name__ = trigger_name
    trigger.__qualname__ = trigger_name
    return trigger


def some_successful(
    at_least: int | float | None = None, at_most: int | float | None = None
) -> Trigger:
    """Build a trigger that runs when the number of successful upstreams is within bounds.

    Args:
        at_least: the fewest successes allowed: an int is a count, a float in [0, 1]
            a fraction of the upstream states. None means no lower bound.
        at_most: the most successes allowed, in the same units. None means no upper bound.

    Returns:
        A trigger that raises TRIGGERFAIL when the count is out of bounds.

    Raises:
        TypeError: when a bound is neither an int nor a float.
        ValueError: when a float bound is outside [0, 1], a count is negative, or
            ``at_least > at_most``.
    """
    return _counting_trigger(
        "some_successful", "succeeded", lambda s: isinstance(s, Success), at_least, at_most
    )


def some_failed(at_least: int | float | None = None, at_most: int | float | None = None) -> Trigger:
    """Build a trigger that runs when the number of failed upstreams is within bounds.

    Args:
        at_least: the fewest failures allowed (int count or float fraction in [0, 1]).
        at_most: the most failures allowed, in the same units.

    Returns:
        A trigger that raises TRIGGERFAIL when the count is out of bounds.

    Raises:
        TypeError: when a bound is neither an int nor a float.
        ValueError: when a float bound is outside [0, 1], a count is negative, or
            ``at_least > at_most``.
    """
    return _counting_trigger(
        "some_failed", "failed", lambda s: isinstance(s, Failed), at_least, at_most
    )
