"""An index for the rate limit at pickup: SMS handed to a phone in the last minute.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sms_phone_picked_at", "sms", ["gateway_phone_id", "picked_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_phone_picked_at", table_name="sms")
