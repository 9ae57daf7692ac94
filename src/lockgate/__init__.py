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

from lockgate import schedules, triggers
from lockgate.configuration import config
from lockgate.core import Flow, Parameter, Task
from lockgate.engine import signals
from lockgate.utilities.context import context
from lockgate.utilities.tasks import tags, task, unmapped

__version__ = "0.1.0"

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
