"""lockgate: a fast, serverless dataflow workflow engine.

The public surface follows Prefect Core 0.5, so a flow ports by renaming the import::

    from lockgate import Flow, task

    @task
    def inc(x):
        return x + 1

    with Flow("example") as flow:
        result = inc(inc(1))

    state = flow.run()
    assert state.result[result].result == 3
"""

from __future__ import annotations

import importlib
from typing import Any

from lockgate import schedules, triggers
from lockgate.configuration import config
from lockgate.core import Flow, Parameter, Task
from lockgate.engine import signals
from lockgate.utilities.context import context
from lockgate.utilities.tasks import tags, task, unmapped

__version__ = "0.1.0"

# Subpackages that Prefect 0.5.1's ``import prefect`` makes reachable as attributes
# (``prefect.environments.LocalEnvironment``, ``prefect.tasks.shell``...). They are
# imported on first use instead, so ``import lockgate`` stays fast and does not pull in
# marshmallow, cloudpickle or the task library.
_LAZY_SUBMODULES = frozenset(
    {
        "client",
        "configuration",
        "core",
        "engine",
        "environments",
        "serialization",
        "tasks",
        "utilities",
    }
)


def __getattr__(name: str) -> Any:
    """Import a subpackage (or ``Client``) the first time ``lockgate.<name>`` is read.

    Args:
        name: the attribute read.

    Returns:
        The subpackage ``lockgate.<name>``, or :class:`lockgate.client.Client`.

    Raises:
        AttributeError: when ``name`` is neither.
    """
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"lockgate.{name}")
    if name == "Client":
        from lockgate.client import Client

        return Client
    raise AttributeError(f"module 'lockgate' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported subpackages and ``Client`` included.

    Returns:
        The sorted names.
    """
    return sorted({*globals(), *_LAZY_SUBMODULES, "Client"})


__all__ = [
    "Flow",
    "Parameter",
    "Task",
    "config",
    "context",
    "schedules",
    "signals",
    "tags",
    "task",
    "triggers",
    "unmapped",
]
