"""Cache validators: decide whether a ``Cached`` state may be reused.

A validator is ``validator(state, inputs, parameters) -> bool``: ``state`` is the
Cached state, ``inputs`` the inputs the task would run with now, ``parameters`` the
run's parameters. Every validator except ``never_use`` also checks expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lockgate.engine.state import Cached
from lockgate.utilities import clock

__all__ = [
    "CacheValidator",
    "all_inputs",
    "all_parameters",
    "duration_only",
    "never_use",
    "partial_inputs_only",
    "partial_parameters_only",
]

CacheValidator = Callable[[Cached, dict[str, Any], dict[str, Any]], bool]
"""The type of a cache validator: ``validator(state, inputs, parameters) -> bool``."""


def never_use(state: Cached, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """Never reuse a cached result (the default when a task has no ``cache_for``)."""
    return False


def duration_only(state: Cached, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """Reuse the result until it expires, whatever the inputs and parameters."""
    expiration = state.cached_result_expiration
    return expiration is None or expiration > clock.now()


def all_inputs(state: Cached, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """Reuse the result while unexpired and the inputs are equal to the cached ones."""
    return duration_only(state, inputs, parameters) and (state.cached_inputs or {}) == inputs


def all_parameters(state: Cached, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """Reuse the result while unexpired and the flow parameters are equal."""
    return duration_only(state, inputs, parameters) and (state.cached_parameters or {}) == (
        parameters or {}
    )


def _partial(kind: str, validate_on: Iterable[str] | None) -> CacheValidator:
    names = None if validate_on is None else frozenset(validate_on)

    def validator(state: Cached, inputs: dict[str, Any], parameters: dict[str, Any]) -> bool:
        if not duration_only(state, inputs, parameters):
            return False
        cached = (state.cached_inputs if kind == "inputs" else state.cached_parameters) or {}
        current = (inputs if kind == "inputs" else parameters) or {}
        keys = names or ()
        return all(cached.get(k, _MISSING) == current.get(k, _MISSING) for k in keys)

    validator.__name__ = f"partial_{kind}_only"
    return validator


_MISSING = object()


def partial_inputs_only(*call: Any, validate_on: Iterable[str] | None = None) -> Any:
    """Compare only the inputs named in ``validate_on`` (and check expiry).

    Two forms: ``partial_inputs_only(validate_on=["x"])`` builds a validator to give a
    task's ``cache_validator``; ``partial_inputs_only(state, inputs, parameters,
    validate_on=["x"])`` validates at once (as in Prefect 0.5.1, so
    ``functools.partial(partial_inputs_only, validate_on=[...])`` works too). With no
    names, no input is compared: only expiry counts.

    Args:
        *call: nothing, or ``(state, inputs, parameters)`` to validate now.
        validate_on: the input names to compare.

    Returns:
        The validator, or (given ``state, inputs, parameters``) whether the cache holds.

    Raises:
        TypeError: for positional arguments other than ``state, inputs, parameters``.
    """
    return _validate_or_build("inputs", call, validate_on)


def partial_parameters_only(*call: Any, validate_on: Iterable[str] | None = None) -> Any:
    """Compare only the parameters named in ``validate_on`` (and check expiry).

    The two forms of :func:`partial_inputs_only`, for the run's parameters.

    Args:
        *call: nothing, or ``(state, inputs, parameters)`` to validate now.
        validate_on: the parameter names to compare.

    Returns:
        The validator, or (given ``state, inputs, parameters``) whether the cache holds.

    Raises:
        TypeError: for positional arguments other than ``state, inputs, parameters``.
    """
    return _validate_or_build("parameters", call, validate_on)


def _validate_or_build(kind: str, call: tuple[Any, ...], validate_on: Iterable[str] | None) -> Any:
    if len(call) == 3:
        return _partial(kind, validate_on)(*call)
    if len(call) == 1 and validate_on is None and not isinstance(call[0], Cached):
        return _partial(kind, call[0])  # partial_inputs_only(["x"])
    if call:
        raise TypeError(
            f"partial_{kind}_only takes (state, inputs, parameters) to validate, or only "
            f"validate_on=[...] to build a validator; got {len(call)} positional argument(s)."
        )
    return _partial(kind, validate_on)
