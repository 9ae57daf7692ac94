"""Exception and warning classes with Prefect Core 0.5.1's names.

Code ported from Prefect that catches these keeps working: ``except AuthorizationError``
also catches :class:`CloudUnavailableError`, which lockgate raises wherever 0.5.1 would
have talked to Prefect Cloud.
"""

from __future__ import annotations

__all__ = [
    "AuthorizationError",
    "ClientError",
    "CloudUnavailableError",
    "ContextError",
    "PrefectError",
    "PrefectWarning",
    "SerializationError",
]


class PrefectError(Exception):
    """Base class of the errors in this module (named as in Prefect Core 0.5.1)."""


class ContextError(KeyError, PrefectError):
    """A value needed from the run context is missing."""


class SerializationError(PrefectError):
    """An object could not be serialized or deserialized."""


class PrefectWarning(UserWarning):
    """A warning about how a flow or task is built (e.g. a questionable dependency)."""


class ClientError(PrefectError):
    """A request to a Prefect server failed (kept for ported code; lockgate has no server)."""


class AuthorizationError(PrefectError):
    """A request needed credentials that are missing or were refused."""


class CloudUnavailableError(ClientError, AuthorizationError):
    """Something asked for Prefect Cloud, which lockgate does not have.

    Raised by :class:`lockgate.client.Client` and by ``Secret.get()`` when
    ``cloud.use_local_secrets`` is off. It is an :class:`AuthorizationError` (what 0.5.1
    raised when it could not log in to Cloud) and a :class:`ClientError`, so ported code
    that catches either still works.
    """
