"""Secrets, and a placeholder for Prefect Cloud's client.

:class:`Secret` reads local secrets (``lockgate.context.secrets`` and the ``[context.secrets]``
section of the configuration). lockgate has no Prefect Cloud: :class:`Client` exists so that
ported code importing it still imports, and using it raises
:class:`~lockgate.utilities.exceptions.CloudUnavailableError`.
"""

from lockgate.client.client import Client
from lockgate.client.secrets import Secret

__all__ = ["Client", "Secret"]
