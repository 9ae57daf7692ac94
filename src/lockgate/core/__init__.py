"""The graph a user builds: Task, Flow, Edge, Parameter. Knows nothing of running."""

from lockgate.core.edge import Edge
from lockgate.core.flow import Flow
from lockgate.core.task import Parameter, Task

__all__ = ["Edge", "Flow", "Parameter", "Task"]
