"""Errors of the run store; each message is one line that says what to do."""

from __future__ import annotations

__all__ = ["SchemaTooNewError", "StoreError", "UnknownRunError"]


class StoreError(Exception):
    """Base class of run-store errors; ``str(error)`` is the one-line message for users."""


class UnknownRunError(StoreError):
    """No run matches the id (or id prefix) given, or the prefix matches several runs."""


class SchemaTooNewError(StoreError):
    """The store was written by a newer lockgate; this one refuses to touch it."""
