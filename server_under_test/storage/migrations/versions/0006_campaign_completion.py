"""A campaign's completion: ``state`` (``sending`` / ``done``) and ``completed_at``.

Campaigns that already hold SMS, none of them open (``outgoing`` / ``pending``), become
``done`` at the time their latest SMS last changed; every other campaign is ``sending``.
The index on ``sms.campaign_id`` grows ``state``, so that "is any SMS of this campaign
still open?" is one index probe however large the campaign.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# The constraints as the table definitions name them (tables.py: ck_<table>_<name>).
STATE_CHECK = "state IN ('sending', 'done')"
COMPLETED_CHECK = "(state = 'done') = (completed_at IS NOT NULL)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch (copy, drop, rename): dropping ``campaign`` fails while SMS refer to
        # it with foreign keys on. SQLite adds a column with its CHECK in place (>= 3.37
        # checks it against the existing rows).
        op.execute(
            "ALTER TABLE campaign ADD COLUMN state VARCHAR(16) DEFAULT 'sending' NOT NULL "
            f"CONSTRAINT ck_campaign_state CHECK ({STATE_CHECK})"
        )
        op.execute(
            "ALTER TABLE campaign ADD COLUMN completed_at DATETIME "
            f"CONSTRAINT ck_campaign_completed_at CHECK ({COMPLETED_CHECK})"
        )
    else:
        op.add_column(
            "campaign",
            sa.Column(
                "state", sa.String(length=16), server_default=sa.text("'sending'"), nullable=False
            ),
        )
        op.add_column("campaign", sa.Column("completed_at", sa.DateTime(), nullable=True))
        op.create_check_constraint("ck_campaign_state", "campaign", STATE_CHECK)
        op.create_check_constraint("ck_campaign_completed_at", "campaign", COMPLETED_CHECK)
    op.create_index("ix_sms_campaign_id_state", "sms", ["campaign_id", "state"])
    op.drop_index("ix_sms_campaign_id", table_name="sms")
    # One statement sets both columns, so each row keeps ck_campaign_completed_at.
    op.execute(
        "UPDATE campaign SET state = 'done', completed_at = ("
        "SELECT MAX(sms.updated_at) FROM sms WHERE sms.campaign_id = campaign.id) "
        "WHERE EXISTS (SELECT 1 FROM sms WHERE sms.campaign_id = campaign.id) "
        "AND NOT EXISTS (SELECT 1 FROM sms WHERE sms.campaign_id = campaign.id "
        "AND sms.state IN ('outgoing', 'pending'))"
    )


def downgrade() -> None:
    op.create_index("ix_sms_campaign_id", "sms", ["campaign_id"], unique=False)
    op.drop_index("ix_sms_campaign_id_state", table_name="sms")
    if op.get_bind().dialect.name == "sqlite":
        # completed_at first: its CHECK names state, which SQLite then cannot drop
        op.execute("ALTER TABLE campaign DROP COLUMN completed_at")
        op.execute("ALTER TABLE campaign DROP COLUMN state")
        return
    op.drop_constraint("ck_campaign_completed_at", "campaign", type_="check")
    op.drop_constraint("ck_campaign_state", "campaign", type_="check")
    op.drop_column("campaign", "completed_at")
    op.drop_column("campaign", "state")
