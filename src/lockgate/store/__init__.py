"""The run store: every recorded run's flows, task states, transitions, logs and results.

Open one with :meth:`RunStore.open` (SQLite in ``$LOCKGATE_HOME`` by default, or any
SQLAlchemy URL such as ``postgresql+psycopg://user@host/db``) and record a run with
``flow.run(store=...)``::

    from lockgate.store import RunStore

    with RunStore.open() as store:
        recorder = store.recorder(source="etl.py:flow")
        state = flow.run(store=recorder)
        print(recorder.flow_run_id, store.get_run(recorder.flow_run_id).state)

The errors, records and path helpers import without SQLAlchemy; :class:`RunStore` and
:class:`StoreRecorder` load it on first use (``import lockgate.store`` stays light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.store.errors import SchemaTooNewError, StoreError, UnknownRunError
from lockgate.store.graph import graph_hash
from lockgate.store.paths import default_home, default_url
from lockgate.store.records import (
    CRASHED,
    FlowRecord,
    FlowRunRecord,
    LogRecord,
    TaskRunRecord,
    TransitionRecord,
)

if TYPE_CHECKING:
    from lockgate.store.recorder import StoreRecorder
    from lockgate.store.run_store import RunStore, resolve_store

__all__ = [
    "CRASHED",
    "FlowRecord",
    "FlowRunRecord",
    "LogRecord",
    "RunStore",
    "SchemaTooNewError",
    "StoreError",
    "StoreRecorder",
    "TaskRunRecord",
    "TransitionRecord",
    "UnknownRunError",
    "default_home",
    "default_url",
    "graph_hash",
    "resolve_store",
]


def __getattr__(name: str) -> Any:
    # RunStore and StoreRecorder need SQLAlchemy: import them on first use only.
    if name in ("RunStore", "resolve_store"):
        from lockgate.store import run_store

        return getattr(run_store, name)
    if name == "StoreRecorder":
        from lockgate.store import recorder

        return recorder.StoreRecorder
    raise AttributeError(f"module 'lockgate.store' has no attribute {name!r}")
