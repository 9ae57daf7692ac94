"""Control flow: branch with ``switch`` / ``ifelse``, join with ``merge``, filter results.

Branches not taken end ``Skipped``; see :mod:`lockgate.tasks.control_flow.conditional`
and :mod:`lockgate.tasks.control_flow.filter`.
"""

from lockgate.tasks.control_flow.conditional import ifelse, merge, switch
from lockgate.tasks.control_flow.filter import FilterTask

__all__ = ["FilterTask", "ifelse", "merge", "switch"]
