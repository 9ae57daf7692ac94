"""Flows keep their graph's shape, so runs can be drawn without loading the flow's file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``flows.graph`` (the compressed graph document; NULL for older flows)."""
    with op.batch_alter_table("flows") as batch:
        batch.add_column(sa.Column("graph", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Drop ``flows.graph``."""
    with op.batch_alter_table("flows") as batch:
        batch.drop_column("graph")
