"""Local secrets: named values a task reads at run time instead of hard-coding them."""

from __future__ import annotations

import json
from typing import Any

from lockgate.client._config import config_value
from lockgate.utilities.context import context
from lockgate.utilities.exceptions import CloudUnavailableError

__all__ = ["Secret"]


class Secret:
    """A named secret whose value is looked up when :meth:`get` is called.

    Values come from ``lockgate.context.secrets`` (e.g. ``flow.run(context={"secrets":
    {...}})`` or ``with lockgate.context(secrets={...})``), then from the
    ``[context.secrets]`` section of the configuration, which environment variables like
    ``LOCKGATE__CONTEXT__SECRETS__NAME`` also fill (their names arrive lowercased, so a
    name missing there is also looked up in lowercase). A value that is a string holding JSON
    is decoded, so store secrets as JSON to avoid surprises: ``'42'`` comes back as ``42``.

    Args:
        name: the secret's name, e.g. ``"EMAIL_PASSWORD"``.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Secret: {self.name}>"

    def get(self) -> Any:
        """Return the secret's value, or ``None`` when it is not set anywhere.

        Returns:
            The value; a string holding JSON comes back decoded.

        Raises:
            CloudUnavailableError: when ``cloud.use_local_secrets`` is turned off: 0.5.1
                then fetched secrets from Prefect Cloud, which lockgate does not have.
        """
        if not config_value("cloud.use_local_secrets", True):
            raise CloudUnavailableError(
                f"Secret({self.name!r}).get(): cloud.use_local_secrets is off, which in "
                "Prefect means fetching the secret from Prefect Cloud after Client.login(); "
                "lockgate has no Prefect Cloud. Set cloud.use_local_secrets = true (the "
                "default) and put the value in lockgate.context.secrets or the "
                "[context.secrets] section of your configuration."
            )
        value = _lookup(context.get("secrets"), self.name)
        if value is None:
            configured = config_value("context.secrets", None)
            value = _lookup(configured, self.name)
            if value is None:
                # Environment variables reach the configuration with lowercased names.
                value = _lookup(configured, self.name.lower())
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value


def _lookup(secrets: Any, name: str) -> Any:
    try:
        return secrets[name]
    except (KeyError, TypeError, IndexError):
        return None
