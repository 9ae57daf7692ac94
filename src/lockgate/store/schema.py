"""The store's tables (SQLAlchemy Core) and the schema revision this lockgate expects.

Times are stored as seconds since the Unix epoch (UTC, a float): cheap to write in
bulk, identical on SQLite and PostgreSQL; the records turn them into datetimes.
State transitions are kept in a ``history`` column of the run or task run they belong
to (see :mod:`lockgate.store.history`). The migrations in
``lockgate/store/migrations/versions`` build exactly these tables; a test checks that
the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "HEAD_REVISION",
    "KNOWN_REVISIONS",
    "flow_runs",
    "flows",
    "logs",
    "metadata",
    "task_runs",
]

HEAD_REVISION = "0003"
"""The newest schema revision this lockgate knows (the Alembic head)."""

KNOWN_REVISIONS = ("0001", "0002", "0003")
"""Every revision id shipped in ``migrations/versions``, oldest first."""

# A 64-bit id on PostgreSQL; SQLite needs plain INTEGER for an autoincrementing rowid.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

flows = Table(
    "flows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("graph_hash", String(64), nullable=False),
    # "" when the flow was not loaded from a file (NULL would defeat the unique key).
    Column("source", Text, nullable=False),
    Column("created", Float, nullable=False),
    # The graph's shape (lockgate.store.graph.graph_document), written once per row so
    # runs can be drawn without loading the flow's file; NULL for rows before 0003.
    Column("graph", LargeBinary, nullable=True),
    UniqueConstraint("name", "graph_hash", "source", name="uq_flows_name_hash_source"),
)

flow_runs = Table(
    "flow_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("flow_id", Integer, ForeignKey("flows.id", ondelete="CASCADE"), nullable=False),
    Column("flow_name", String(255), nullable=False),
    Column("graph_hash", String(64), nullable=False),
    Column("source", Text, nullable=True),
    Column("parameters", Text, nullable=False),  # JSON object
    Column("executor", Text, nullable=True),
    Column("state", String(32), nullable=False),
    Column("message", Text, nullable=True),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("host", String(255), nullable=True),
    Column("proc_start", String(64), nullable=True),  # tells a reused pid apart
    Column("active", Boolean, nullable=False),  # a process is recording this run now
    Column("created", Float, nullable=False),
    Column("history", Text, nullable=False),  # the run's own transitions, see history.py
    Column("cancel_requested", Float, nullable=True),  # when someone asked to cancel (0002)
    Index("ix_flow_runs_created", "created"),
    Index("ix_flow_runs_flow_name_created", "flow_name", "created"),
    Index("ix_flow_runs_state_created", "state", "created"),
    Index("ix_flow_runs_flow_id", "flow_id"),
)

task_runs = Table(
    "task_runs",
    metadata,
    Column(
        "flow_run_id",
        String(32),
        ForeignKey("flow_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("task_slug", String(255), primary_key=True),
    Column("map_index", Integer, primary_key=True),  # -1: the task itself
    Column("seq", Integer, nullable=False),  # order first seen in the run
    Column("task_name", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("message", Text, nullable=True),
    Column("run_count", Integer, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    Column("scheduled_time", Float, nullable=True),  # Scheduled / Retrying start time
    Column("result_location", Text, nullable=True),
    Column("result_handler", String(255), nullable=True),
    Column("result_blob", LargeBinary, nullable=True),
    Column("cached_inputs_location", Text, nullable=True),
    Column("cached_inputs_blob", LargeBinary, nullable=True),
    Column("traceback", Text, nullable=True),
    # Every transition of this task run, appended batch by batch (see history.py): one
    # row write per task instead of one per transition keeps recording cheap.
    Column("history", Text, nullable=False),
)

logs = Table(
    "logs",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "flow_run_id",
        String(32),
        ForeignKey("flow_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("task_slug", String(255), nullable=True),
    Column("map_index", Integer, nullable=False),
    Column("level", String(16), nullable=False),
    Column("logger", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_logs_run_task", "flow_run_id", "task_slug"),
)
