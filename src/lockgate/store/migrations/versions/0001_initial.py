"""The first schema: flows, flow runs (with their transitions), task runs, logs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "flows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("graph_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.UniqueConstraint("name", "graph_hash", "source", name="uq_flows_name_hash_source"),
    )
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "flow_id", sa.Integer(), sa.ForeignKey("flows.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("flow_name", sa.String(255), nullable=False),
        sa.Column("graph_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("executor", sa.Text(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("start_time", sa.Float(), nullable=True),
        sa.Column("end_time", sa.Float(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("proc_start", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("history", sa.Text(), nullable=False),
    )
    op.create_index("ix_flow_runs_created", "flow_runs", ["created"])
    op.create_index("ix_flow_runs_flow_name_created", "flow_runs", ["flow_name", "created"])
    op.create_index("ix_flow_runs_state_created", "flow_runs", ["state", "created"])
    op.create_index("ix_flow_runs_flow_id", "flow_runs", ["flow_id"])
    op.create_table(
        "task_runs",
        sa.Column(
            "flow_run_id",
            sa.String(32),
            sa.ForeignKey("flow_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("task_slug", sa.String(255), primary_key=True),
        sa.Column("map_index", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("task_name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=True),
        sa.Column("end_time", sa.Float(), nullable=True),
        sa.Column("scheduled_time", sa.Float(), nullable=True),
        sa.Column("result_location", sa.Text(), nullable=True),
        sa.Column("result_handler", sa.String(255), nullable=True),
        sa.Column("result_blob", sa.LargeBinary(), nullable=True),
        sa.Column("cached_inputs_location", sa.Text(), nullable=True),
        sa.Column("cached_inputs_blob", sa.LargeBinary(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("history", sa.Text(), nullable=False),
    )
    op.create_table(
        "logs",
        sa.Column("id", _big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "flow_run_id",
            sa.String(32),
            sa.ForeignKey("flow_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("task_slug", sa.String(255), nullable=True),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("logger", sa.String(255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
    )
    op.create_index("ix_logs_run_task", "logs", ["flow_run_id", "task_slug"])


def downgrade() -> None:
    """Drop every table (and so every recorded run)."""
    op.drop_table("logs")
    op.drop_table("task_runs")
    op.drop_table("flow_runs")
    op.drop_table("flows")
