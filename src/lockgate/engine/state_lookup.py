"""A state class from its recorded name: the one lookup the store, CLI and dashboard share.

The store keeps a state as its class name (``"Success"``, ``"TriggerFailed"``...).
Reading one back means finding the class of that name among lockgate's states, and a
name that is not one (a record from a newer lockgate, ``"Crashed"``) must not pick up
some other attribute of :mod:`lockgate.engine.state`.
"""

from __future__ import annotations

from lockgate.engine import state as _states

__all__ = ["plain_state", "state_class"]


def state_class(name: str) -> type[_states.State] | None:
    """The state class called ``name`` in :mod:`lockgate.engine.state`.

    Args:
        name: a recorded state name, e.g. ``"Success"`` or ``"TriggerFailed"``.

    Returns:
        The class, or None when ``name`` is not a state class (e.g. ``"Crashed"``,
        or a name from a newer lockgate).
    """
    cls = getattr(_states, name, None)
    if isinstance(cls, type) and issubclass(cls, _states.State):
        return cls
    return None


def plain_state(name: str, message: str | None = None) -> _states.State:
    """A bare state of the class called ``name``, for showing a record (not running it).

    Meta states (Submitted, Queued), unknown names and classes that need more than a
    message give a plain :class:`~lockgate.engine.state.State`.

    Args:
        name: a recorded state name.
        message: the state's message.

    Returns:
        The state.
    """
    cls = state_class(name)
    if cls is None or issubclass(cls, _states.MetaState):
        cls = _states.State
    try:
        return cls(message)
    except TypeError:
        return _states.State(message)
