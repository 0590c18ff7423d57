"""The admin enqueue's idempotency keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enqueue_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enqueue_key"),
        sa.UniqueConstraint("key", name="uq_enqueue_key_key"),
    )
    op.create_index("ix_enqueue_key_created_at", "enqueue_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_enqueue_key_created_at", table_name="enqueue_key")
    op.drop_table("enqueue_key")
