"""Inbound records remember how they were reported: origin, /inbound reports, latest report.

Records from before this revision count as one live report (the server did not know), with
their latest report at their creation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_sms") as batch:
        batch.add_column(sa.Column("last_reported_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column(
                "origin", sa.String(length=8), server_default=sa.text("'live'"), nullable=False
            )
        )
        batch.add_column(
            sa.Column("live_reports", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch.create_check_constraint("ck_inbound_sms_origin", "origin IN ('live', 'scan')")
    op.execute("UPDATE inbound_sms SET last_reported_at = created_at")
    with op.batch_alter_table("inbound_sms") as batch:
        batch.alter_column("last_reported_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_sms") as batch:
        batch.drop_constraint("ck_inbound_sms_origin", type_="check")
        batch.drop_column("live_reports")
        batch.drop_column("origin")
        batch.drop_column("last_reported_at")
