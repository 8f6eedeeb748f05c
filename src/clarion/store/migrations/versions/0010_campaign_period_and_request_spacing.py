"""campaign period end and request spacing

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 00:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clarion.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_spacing",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("last_at", clarion.store.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_api_spacing")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ends_at", clarion.store.types.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("ends_at")
    op.drop_table("api_spacing")
