"""Flow runs remember a request to cancel them (``lockgate.runs.cancel``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``flow_runs.cancel_requested`` (a timestamp, NULL when nobody asked)."""
    with op.batch_alter_table("flow_runs") as batch:
        batch.add_column(sa.Column("cancel_requested", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop ``flow_runs.cancel_requested``."""
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_column("cancel_requested")
