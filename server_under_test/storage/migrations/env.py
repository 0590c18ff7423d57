"""Alembic environment: runs migrations on the connection the server hands over."""

from __future__ import annotations

from alembic import context

from server_under_test.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through server_under_test (Database.migrate or `hil db upgrade`), "
        "which passes the connection in."
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
