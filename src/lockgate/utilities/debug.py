"""Debugging switches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lockgate.utilities.context import context

__all__ = ["raise_on_exception"]


@contextmanager
def raise_on_exception() -> Iterator[None]:
    """Inside this block, an exception from task code propagates to the caller.

    Signals (FAIL, SKIP, ...) still set states as usual; only unexpected exceptions are
    re-raised, so you can land in a debugger at the failing line::

        with raise_on_exception():
            flow.run()
    """
    with context(raise_on_exception=True):
        yield
