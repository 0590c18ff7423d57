"""Initial schema: phones, partners, campaigns, SMS, blacklist, inbound SMS.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist")),
        sa.UniqueConstraint("number", name=op.f("uq_blacklist_number")),
    )
    op.create_table(
        "gateway_phone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.Column("phone_number_2", sa.String(length=32), nullable=True),
        sa.Column("api_key", sa.String(length=128), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("daily_limit", sa.Integer(), server_default=sa.text("(500)"), nullable=False),
        sa.Column("monthly_limit", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("month_start_day", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("next_month_reset", sa.Date(), nullable=True),
        sa.Column("rate_limit", sa.Integer(), server_default=sa.text("(100)"), nullable=False),
        sa.Column("heartbeat_timeout", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("domain_filter", sa.Text(), nullable=True),
        sa.Column(
            "state", sa.String(length=16), server_default=sa.text("'offline'"), nullable=False
        ),
        sa.Column("last_heartbeat", sa.DateTime(), nullable=True),
        sa.Column("battery_level", sa.Integer(), nullable=True),
        sa.Column("signal_strength", sa.Integer(), nullable=True),
        sa.Column("unsynced_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fcm_token", sa.Text(), nullable=True),
        sa.Column("fcm_token_updated", sa.DateTime(), nullable=True),
        sa.Column("sent_today", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_month", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("state IN ('online', 'offline')", name=op.f("ck_gateway_phone_state")),
        sa.CheckConstraint(
            "daily_limit >= 0 AND monthly_limit >= 0", name=op.f("ck_gateway_phone_limits")
        ),
        sa.CheckConstraint(
            "heartbeat_timeout >= 1", name=op.f("ck_gateway_phone_heartbeat_timeout")
        ),
        sa.CheckConstraint(
            "month_start_day BETWEEN 1 AND 28", name=op.f("ck_gateway_phone_month_start_day")
        ),
        sa.CheckConstraint("rate_limit >= 1", name=op.f("ck_gateway_phone_rate_limit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_phone")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_gateway_phone_api_key_hash")),
    )
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("mobile", sa.String(length=64), nullable=True),
        sa.Column("phone_e164", sa.String(length=32), nullable=True),
        sa.Column("mobile_e164", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country_name", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("region_code", sa.String(length=16), nullable=True),
        sa.Column("is_company", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("customer_rank", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("create_date", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
    )
    op.create_index(op.f("ix_partner_mobile_e164"), "partner", ["mobile_e164"], unique=False)
    op.create_index(op.f("ix_partner_phone_e164"), "partner", ["phone_e164"], unique=False)
    op.create_table(
        "partner_category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_category")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_category_name")),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("forced_phone_id", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["forced_phone_id"],
            ["gateway_phone.id"],
            name=op.f("fk_campaign_forced_phone_id_gateway_phone"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_number", sa.String(length=64), nullable=False),
        sa.Column(
            "to_number", sa.String(length=64), server_default=sa.text("('')"), nullable=False
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column(
            "received_at_reported", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
        ),
        sa.Column("phone_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("is_stop", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("blacklisted", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reported_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_inbound_sms_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["phone_id"], ["gateway_phone.id"], name=op.f("fk_inbound_sms_phone_id_gateway_phone")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("reported_key", name=op.f("uq_inbound_sms_reported_key")),
    )
    op.create_index(
        op.f("ix_inbound_sms_content_key"), "inbound_sms", ["content_key"], unique=False
    )
    op.create_index(
        op.f("ix_inbound_sms_from_number"), "inbound_sms", ["from_number"], unique=False
    )
    op.create_index(op.f("ix_inbound_sms_is_stop"), "inbound_sms", ["is_stop"], unique=False)
    op.create_index(op.f("ix_inbound_sms_phone_id"), "inbound_sms", ["phone_id"], unique=False)
    op.create_index(
        op.f("ix_inbound_sms_received_at"), "inbound_sms", ["received_at"], unique=False
    )
    op.create_table(
        "partner_category_rel",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["partner_category.id"],
            name=op.f("fk_partner_category_rel_category_id_partner_category"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
            name=op.f("fk_partner_category_rel_partner_id_partner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", "category_id", name=op.f("pk_partner_category_rel")),
    )
    op.create_index(
        op.f("ix_partner_category_rel_category_id"),
        "partner_category_rel",
        ["category_id"],
        unique=False,
    )
    op.create_table(
        "sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("number_e164", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gateway_state", sa.String(length=16), nullable=True),
        sa.Column("failure_type", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("gateway_phone_id", sa.Integer(), nullable=True),
        sa.Column("phone_forced", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("gateway_sim_number", sa.String(length=32), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("picked_at", sa.DateTime(), nullable=True),
        sa.Column("issue_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "gateway_state IS NULL OR gateway_state IN "
            "('pending', 'processing', 'sending', 'sent', 'error')",
            name=op.f("ck_sms_gateway_state"),
        ),
        sa.CheckConstraint(
            "state IN ('outgoing', 'pending', 'sent', 'error', 'canceled')",
            name=op.f("ck_sms_state"),
        ),
        sa.CheckConstraint("segments >= 1", name=op.f("ck_sms_segments")),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_sms_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_phone_id"],
            ["gateway_phone.id"],
            name=op.f("fk_sms_gateway_phone_id_gateway_phone"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_sms_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms")),
        sa.UniqueConstraint("uuid", name=op.f("uq_sms_uuid")),
    )
    op.create_index("ix_sms_campaign_id", "sms", ["campaign_id"], unique=False)
    op.create_index("ix_sms_number_e164", "sms", ["number_e164"], unique=False)
    op.create_index(
        "ix_sms_pickup", "sms", ["gateway_phone_id", "gateway_state", "state", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sms_pickup", table_name="sms")
    op.drop_index("ix_sms_number_e164", table_name="sms")
    op.drop_index("ix_sms_campaign_id", table_name="sms")
    op.drop_table("sms")
    op.drop_index(op.f("ix_partner_category_rel_category_id"), table_name="partner_category_rel")
    op.drop_table("partner_category_rel")
    op.drop_index(op.f("ix_inbound_sms_received_at"), table_name="inbound_sms")
    op.drop_index(op.f("ix_inbound_sms_phone_id"), table_name="inbound_sms")
    op.drop_index(op.f("ix_inbound_sms_is_stop"), table_name="inbound_sms")
    op.drop_index(op.f("ix_inbound_sms_from_number"), table_name="inbound_sms")
    op.drop_index(op.f("ix_inbound_sms_content_key"), table_name="inbound_sms")
    op.drop_table("inbound_sms")
    op.drop_table("campaign")
    op.drop_table("partner_category")
    op.drop_index(op.f("ix_partner_phone_e164"), table_name="partner")
    op.drop_index(op.f("ix_partner_mobile_e164"), table_name="partner")
    op.drop_table("partner")
    op.drop_table("gateway_phone")
    op.drop_table("blacklist")
