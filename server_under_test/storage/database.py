"""Engines and transactions for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``: writers are
serialised by the database itself, which is what makes pickup exactly-once there (the
PostgreSQL path uses ``FOR UPDATE SKIP LOCKED`` instead). ``LIKE`` is made case-sensitive
on SQLite so that Odoo's ``like``/``ilike`` mean the same on both databases.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..errors import InvalidInput, Unavailable

__all__ = ["Database", "normalise_url"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept a plain file path or a SQLAlchemy URL; pick psycopg 3 for PostgreSQL.

    ``gateway.db`` and ``sqlite:///gateway.db`` are the same; ``postgresql://...`` and
    ``postgres://...`` get the ``psycopg`` driver.
    """
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One engine plus the transaction helpers the services use."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise InvalidInput(f"Cannot parse the database URL {url!r}: {exc}.") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(
                f"Unsupported database {self.dialect!r}: use a SQLite file path or a "
                "postgresql:// URL."
            )
        self.engine: Engine = self._make_engine(echo=echo, pool_size=pool_size)
        self._writer = threading.RLock()

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.dialect == "sqlite"

    def _make_engine(self, *, echo: bool, pool_size: int) -> Engine:
        if self.dialect == "postgresql":
            return create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_pre_ping=True,
            )
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
        if make_url(self.url).database in (None, "", ":memory:"):
            raise InvalidInput(
                "An in-memory SQLite database cannot be shared between connections; "
                "give a file path instead."
            )
        # A pool: opening a SQLite connection and setting its pragmas costs more than most
        # of the gateway's transactions.
        engine = create_engine(
            self.url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 4, **kwargs
        )
        _configure_sqlite(engine)
        return engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on an exception."""
        if self.is_sqlite:
            # SQLite admits one writer at a time. Queue this process's writers on a lock
            # rather than in SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between
            # retries: under 50 concurrent phones that sleeping was most of the latency.
            with self._writer, self.engine.begin() as conn:
                yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        with self.engine.connect() as conn:
            reader = conn.execution_options(hil_read_only=True)
            with reader.begin():
                yield reader

    def migrate(self) -> None:
        """Bring the schema to the newest version (Alembic ``upgrade head``)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise Unavailable(
                f"Cannot open the database {self.engine.url.render_as_string()}: "
                f"{str(exc.orig).strip().splitlines()[0]}"
            ) from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front, so a transaction never fails half-way on a
        # lock upgrade; readers see a WAL snapshot and never wait for writers.
        read_only = conn.get_execution_options().get("hil_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
