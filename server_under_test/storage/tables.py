"""The gateway's tables (SQLAlchemy Core).

This module is the single description of the schema. The Alembic migrations in
``migrations/versions`` build the same schema step by step; a test compares the migrated
database with this metadata, so the two cannot drift apart.

All timestamps are naive UTC (``DateTime`` without time zone) on both SQLite and
PostgreSQL; the clock converts at the edge.

State of an SMS follows the reference (``reference-system.md`` §2.1): ``state`` is the core
Odoo state (``outgoing``, ``pending`` = in a phone queue, ``sent``, ``error``, ``canceled``)
and ``gateway_state`` the phone-side progress (``pending``, ``processing`` = handed to the
phone, ``sending``, ``sent``, ``error``; NULL until assigned).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "MAX_ID",
    "blacklist",
    "campaign",
    "enqueue_key",
    "gateway_phone",
    "inbound_sms",
    "job_run",
    "metadata",
    "partner",
    "partner_category",
    "partner_category_rel",
    "sms",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Every id is an INTEGER column: a larger number cannot be an id (and PostgreSQL would
# refuse to compare one with it).
MAX_ID = 2**31 - 1

gateway_phone = Table(
    "gateway_phone",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("phone_number", String(32), nullable=False),
    Column("phone_number_2", String(32)),
    Column("api_key", String(128), nullable=False),
    # sha256 of the key: lookups go through this column so that the key itself is only
    # ever compared in constant time.
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("daily_limit", Integer, nullable=False, server_default=text("500")),
    Column("monthly_limit", Integer, nullable=False, server_default=text("0")),
    Column("month_start_day", Integer, nullable=False, server_default=text("1")),
    Column("next_month_reset", Date),
    Column("rate_limit", Integer, nullable=False, server_default=text("100")),
    Column("heartbeat_timeout", Integer, nullable=False, server_default=text("5")),
    Column("domain_filter", Text),
    Column("state", String(16), nullable=False, server_default=text("'offline'")),
    Column("last_heartbeat", DateTime),
    Column("battery_level", Integer),
    Column("signal_strength", Integer),
    Column("unsynced_count", Integer, nullable=False, server_default=text("0")),
    Column("fcm_token", Text),
    Column("fcm_token_updated", DateTime),
    Column("sent_today", Integer, nullable=False, server_default=text("0")),
    Column("sent_month", Integer, nullable=False, server_default=text("0")),
    Column("sent_total", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("month_start_day BETWEEN 1 AND 28", name="month_start_day"),
    CheckConstraint("daily_limit >= 0 AND monthly_limit >= 0", name="limits"),
    CheckConstraint("rate_limit >= 1", name="rate_limit"),
    CheckConstraint("heartbeat_timeout >= 1", name="heartbeat_timeout"),
    CheckConstraint("state IN ('online', 'offline')", name="state"),
)

partner = Table(
    "partner",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(64)),
    Column("mobile", String(64)),
    # E.164 forms of phone and mobile, for matching an SMS or an inbound number.
    Column("phone_e164", String(32), index=True),
    Column("mobile_e164", String(32), index=True),
    Column("email", String(200)),
    Column("country_code", String(2)),
    Column("country_name", String(100)),
    Column("region", String(100)),
    Column("region_code", String(16)),
    Column("is_company", Boolean, nullable=False, server_default=text("false")),
    Column("customer_rank", Integer, nullable=False, server_default=text("0")),
    Column("create_date", DateTime, nullable=False),
)

partner_category = Table(
    "partner_category",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

partner_category_rel = Table(
    "partner_category_rel",
    metadata,
    Column(
        "partner_id",
        Integer,
        ForeignKey("partner.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "category_id",
        Integer,
        ForeignKey("partner_category.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

campaign = Table(
    "campaign",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("forced_phone_id", Integer, ForeignKey("gateway_phone.id")),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime, nullable=False),
    # Delivery guarantee of its SMS (DESIGN.md, "Indeterminate outcomes").
    Column("delivery", String(16), nullable=False, server_default=text("'at_most_once'")),
    # 'sending' until every SMS of it is final, then 'done' from ``completed_at`` on; kept
    # by services/campaigns.py at the end of each transaction that ends or adds its SMS.
    Column("state", String(16), nullable=False, server_default=text("'sending'")),
    Column("completed_at", DateTime),
    CheckConstraint("delivery IN ('at_most_once', 'at_least_once')", name="delivery"),
    CheckConstraint("state IN ('sending', 'done')", name="state"),
    CheckConstraint("(state = 'done') = (completed_at IS NOT NULL)", name="completed_at"),
)

sms = Table(
    "sms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(64), nullable=False, unique=True),
    Column("number", String(64), nullable=False),
    # E.164 form of ``number``; NULL when the number cannot be parsed.
    Column("number_e164", String(32)),
    Column("body", Text, nullable=False),
    Column("partner_id", Integer, ForeignKey("partner.id")),
    Column("campaign_id", Integer, ForeignKey("campaign.id")),
    Column("state", String(16), nullable=False),
    Column("gateway_state", String(16)),
    Column("failure_type", String(32)),
    Column("error_message", Text),
    Column("gateway_phone_id", Integer, ForeignKey("gateway_phone.id")),
    # The phone is fixed by the caller (not chosen by assignment): kept on re-assignment.
    Column("phone_forced", Boolean, nullable=False, server_default=text("false")),
    Column("gateway_sim_number", String(32)),
    Column("segments", Integer, nullable=False),
    Column("picked_at", DateTime),
    Column("issue_count", Integer, nullable=False, server_default=text("0")),
    # What the stuck-reset job does when a phone never confirms: at_most_once ends the SMS
    # as an error (it may have been sent), at_least_once queues it again (it may be sent
    # twice).
    Column("delivery", String(16), nullable=False, server_default=text("'at_least_once'")),
    Column("sent_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    CheckConstraint("state IN ('outgoing', 'pending', 'sent', 'error', 'canceled')", name="state"),
    CheckConstraint(
        "gateway_state IS NULL OR gateway_state IN "
        "('pending', 'processing', 'sending', 'sent', 'error')",
        name="gateway_state",
    ),
    CheckConstraint("segments >= 1", name="segments"),
    CheckConstraint("delivery IN ('at_most_once', 'at_least_once')", name="delivery"),
)

# The pickup query: WHERE gateway_phone_id IN (...) AND state = 'pending'
# AND gateway_state = 'pending' ORDER BY id LIMIT n.  The same index serves the in-flight
# capacity sum (gateway_state IN ('processing', 'sending')) and the heartbeat counts.
Index("ix_sms_pickup", sms.c.gateway_phone_id, sms.c.gateway_state, sms.c.state, sms.c.id)
# The rate limit at pickup counts what a phone was handed in the last minute.
Index("ix_sms_phone_picked_at", sms.c.gateway_phone_id, sms.c.picked_at)
# Per-SIM queue counts (heartbeat): only the few SMS with a SIM choice are indexed.
Index(
    "ix_sms_sim_queue",
    sms.c.gateway_phone_id,
    sms.c.gateway_sim_number,
    postgresql_where=sms.c.gateway_sim_number.is_not(None),
    sqlite_where=sms.c.gateway_sim_number.is_not(None),
)
# A campaign's SMS by state: its counts, and whether any is still open (completion).
Index("ix_sms_campaign_id_state", sms.c.campaign_id, sms.c.state)
Index("ix_sms_number_e164", sms.c.number_e164)

blacklist = Table(
    "blacklist",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("reason", String(200)),
    Column("created_at", DateTime, nullable=False),
)

inbound_sms = Table(
    "inbound_sms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("from_number", String(64), nullable=False, index=True),
    Column("to_number", String(64), nullable=False, server_default=text("''")),
    Column("message", Text, nullable=False),
    # When the phone received it: the phone's own value when it sent one, else server time.
    Column("received_at", DateTime, nullable=False, index=True),
    Column("received_at_reported", Boolean, nullable=False, server_default=text("false")),
    Column("phone_id", Integer, ForeignKey("gateway_phone.id"), nullable=False, index=True),
    Column("partner_id", Integer, ForeignKey("partner.id")),
    Column("is_stop", Boolean, nullable=False, server_default=text("false"), index=True),
    Column("blacklisted", Boolean, nullable=False, server_default=text("false")),
    # sha256(phone | from | message): the content a duplicate report repeats.
    Column("content_key", String(64), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    # Server time of the latest ``/inbound`` report of this message (the first report when
    # it has had none since): the dedupe window of live reports is measured from here.
    Column("last_reported_at", DateTime, nullable=False),
    # How the message first reached the server: 'live' (``/inbound``: the running service
    # or the WorkManager worker) or 'scan' (``/inbound-batch``: the app's inbox scan).
    Column("origin", String(8), nullable=False, server_default=text("'live'")),
    # How many ``/inbound`` reports it stands for (the live report and the worker's: one
    # SMS gives at most two). 0 for a record that so far came from inbox scans alone; the
    # first ``/inbound`` report of it claims it.
    Column("live_reports", Integer, nullable=False, server_default=text("1")),
    # A phone-reported timestamp makes a report unique by content and time, so two
    # concurrent reports of one message can never both be stored.  NULL (server-timed
    # reports) never collides; those are deduplicated within a window under a lock.
    Column("reported_key", String(64), unique=True),
    CheckConstraint("origin IN ('live', 'scan')", name="origin"),
)

# One row per run of a periodic job. A run claims its slot (the scheduled time) by
# inserting the row; the unique key makes the claim succeed for exactly one worker.
job_run = Table(
    "job_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(32), nullable=False),
    Column("slot", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("runner", String(64), nullable=False),
    Column("affected", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("job", "slot", name="uq_job_run_job_slot"),
)

# The admin enqueue's idempotency keys: a retry with the same ``Idempotency-Key`` gets the
# first answer (``response``, its JSON) instead of enqueuing again. ``request_digest`` (a
# sha256 of the request) tells a retry from another request reusing the key.
enqueue_key = Table(
    "enqueue_key",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("request_digest", String(64), nullable=False),
    # NULL only inside the transaction that claimed the key and enqueues.
    Column("response", Text),
    Column("created_at", DateTime, nullable=False, index=True),
)
