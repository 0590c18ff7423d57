"""Periodic job runs, the delivery guarantee of SMS and campaigns, per-SIM queue index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("affected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
        sa.UniqueConstraint("job", "slot", name="uq_job_run_job_slot"),
    )
    with op.batch_alter_table("sms") as batch:
        batch.add_column(
            sa.Column(
                "delivery",
                sa.String(length=16),
                server_default=sa.text("'at_least_once'"),
                nullable=False,
            )
        )
        batch.create_check_constraint(
            "ck_sms_delivery", "delivery IN ('at_most_once', 'at_least_once')"
        )
    op.create_index(
        "ix_sms_sim_queue",
        "sms",
        ["gateway_phone_id", "gateway_sim_number"],
        postgresql_where=sa.text("gateway_sim_number IS NOT NULL"),
        sqlite_where=sa.text("gateway_sim_number IS NOT NULL"),
    )
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column(
                "delivery",
                sa.String(length=16),
                server_default=sa.text("'at_most_once'"),
                nullable=False,
            )
        )
        batch.create_check_constraint(
            "ck_campaign_delivery", "delivery IN ('at_most_once', 'at_least_once')"
        )


def downgrade() -> None:
    op.drop_index("ix_sms_sim_queue", table_name="sms")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_constraint("ck_campaign_delivery", type_="check")
        batch.drop_column("delivery")
    with op.batch_alter_table("sms") as batch:
        batch.drop_constraint("ck_sms_delivery", type_="check")
        batch.drop_column("delivery")
    op.drop_table("job_run")
