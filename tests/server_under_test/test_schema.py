"""The versioned schema: migrations build exactly the tables the code describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from server_under_test.storage.database import Database
from server_under_test.storage.tables import metadata


def test_migrations_match_the_table_definitions(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrating_twice_is_harmless(db):
    db.migrate()
    with db.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == "0006"


def test_the_pickup_query_has_its_index(db):
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("sms")}
    assert indexes["ix_sms_pickup"] == ["gateway_phone_id", "gateway_state", "state", "id"]


def test_sqlite_runs_in_wal_mode(sqlite_url):
    database = Database(sqlite_url)
    database.migrate()
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    database.dispose()


def test_the_sqlite_planner_uses_the_pickup_index(sqlite_url):
    database = Database(sqlite_url)
    database.migrate()
    with database.engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM sms WHERE gateway_phone_id = 1 "
                "AND gateway_state = 'pending' AND state = 'pending' ORDER BY id LIMIT 20"
            )
        )
    database.dispose()
    assert "ix_sms_pickup" in plan
    assert "TEMP B-TREE" not in plan  # no sort: the index gives id order


def test_inbound_records_from_before_0003_count_as_live_reports(db_url):
    from alembic import command
    from alembic.config import Config

    from server_under_test.storage.database import MIGRATIONS

    database = Database(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(
            text(
                "INSERT INTO gateway_phone (id, name, phone_number, api_key, api_key_hash, "
                "created_at) VALUES (1, 'P', '+420777000001', 'k', 'h', '2026-03-01 08:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO inbound_sms (from_number, message, received_at, phone_id, "
                "content_key, created_at) VALUES ('+420601111111', 'STOP', "
                "'2026-03-01 07:59:00', 1, 'c', '2026-03-01 08:00:00')"
            )
        )
    database.migrate()
    with database.engine.connect() as conn:
        row = conn.execute(
            text("SELECT last_reported_at, origin, live_reports FROM inbound_sms")
        ).one()
    database.dispose()
    assert (str(row.last_reported_at), row.origin, row.live_reports) == (
        "2026-03-01 08:00:00",
        "live",
        1,
    )
