"""Environments: a flow packaged so it can be stored, moved and run later.

lockgate has the environments of Prefect Core 0.5.1 that need no container or cluster:
:class:`Environment` (the base class) and :class:`LocalEnvironment`, which keeps a flow
encrypted in a file and runs it in the current process.
"""

from lockgate.environments.environment import Environment
from lockgate.environments.local import LocalEnvironment

__all__ = ["Environment", "LocalEnvironment"]
