"""partial index of the messages in flight (reconciliation without a table scan)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 04:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

IN_FLIGHT = "status = 'SENDING'"


def upgrade() -> None:
    op.create_index(
        "ix_messages_in_flight",
        "messages",
        ["claimed_at"],
        unique=False,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_in_flight", table_name="messages")
