"""Ready-made tasks.

- ``lockgate.tasks.core``: function tasks, constants, collections, operators;
- ``lockgate.tasks.control_flow``: ``switch``, ``ifelse``, ``merge``, ``FilterTask``;
- the local task library (``docs/task-library.md``): ``lockgate.tasks.shell``,
  ``lockgate.tasks.database`` (SQLite), ``lockgate.tasks.templates`` and
  ``lockgate.tasks.notifications`` (email).
"""
