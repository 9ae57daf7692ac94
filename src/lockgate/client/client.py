"""A placeholder for Prefect Cloud's ``Client``: lockgate has no Prefect Cloud."""

from __future__ import annotations

from typing import Any, NoReturn

from lockgate.utilities.exceptions import CloudUnavailableError

__all__ = ["Client"]


class Client:
    """Stands in for Prefect 0.5.1's Cloud API client, which lockgate does not have.

    The name exists so that code written for Prefect still imports; creating a client
    raises. lockgate keeps flows, runs and secrets on your own machine: run flows with
    ``flow.run()`` or ``lockgate run``, and keep secrets in ``lockgate.context.secrets`` or
    the ``[context.secrets]`` section of your configuration (see ``docs/task-library.md``).

    Args:
        *args: ignored.
        **kwargs: ignored.

    Raises:
        CloudUnavailableError: always.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise CloudUnavailableError(
            "lockgate has no Prefect Cloud, so there is no Cloud client (nor Client.login, "
            "graphql or flow deployment). Run flows with flow.run() or `lockgate run`, and "
            "keep secrets local in lockgate.context.secrets or the [context.secrets] section "
            "of your configuration."
        )
