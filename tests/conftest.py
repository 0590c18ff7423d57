"""Shared fixtures: databases (SQLite file, PostgreSQL), clocks, apps and clients.

PostgreSQL tests use the server on 127.0.0.1:5432 (override with ``HIL_PG_URL``), each in a
database of its own that is dropped afterwards. When PostgreSQL is down they are skipped
locally with a reason, but fail in CI (``CI`` set) or when ``HIL_REQUIRE_PG=1``: a CI run
must never pass by skipping them.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from server_under_test import ManualClock, SeededIds, Settings, create_app
from server_under_test.storage.database import Database

PG_URL = os.environ.get("HIL_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = bool(os.environ.get("CI")) or os.environ.get("HIL_REQUIRE_PG") == "1"


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=None)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    """Whether PostgreSQL answers; fails the session in CI when it does not."""
    try:
        eng = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except OperationalError as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (CI) but not reachable at {PG_URL}: {exc}")
        return False


def make_pg_database(pg_available: bool) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    if not pg_available:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} (tests fail instead in CI)")
    name = f"hil_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database."""
    yield from make_pg_database(pg_available)


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh empty database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on both backends."""
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2026-03-02 08:00 UTC (a Monday)."""
    return ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


ADMIN_TOKEN = "test-admin-token"


class Api:
    """A thin test client: admin calls with the admin token, device calls with a key."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def admin(self, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        response = self.client.request(method, f"/admin{path}", headers=self.admin_headers, **kw)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def device(self, key: str, endpoint: str, body: Any = None, expect: int | None = 200) -> Any:
        response = self.client.post(
            f"/sms-gateway/{endpoint}", headers={"X-API-Key": key}, json=body
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def phone(self, online: bool = True, **fields: Any) -> dict[str, Any]:
        """Register a phone (and heartbeat it online); returns the admin view with api_key."""
        self._phones = getattr(self, "_phones", 0) + 1
        body = {"name": f"Phone {self._phones}", "phone_number": f"+42077700{self._phones:04d}"}
        body.update(fields)
        phone: dict[str, Any] = self.admin("POST", "/phones", 201, json=body).json()
        if online:
            self.device(phone["api_key"], "heartbeat", {})
        return phone

    def enqueue(self, *messages: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        result: dict[str, Any] = self.admin(
            "POST", "/sms", expect, json={"messages": list(messages)}
        ).json()
        return result

    def sms(self, sms_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", f"/sms/{sms_id}", 200).json()
        return result

    def get_phone(self, phone_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", f"/phones/{phone_id}", 200).json()
        return result


@pytest.fixture
def make_app(db: Database, clock: ManualClock) -> Callable[..., FastAPI]:
    """Build the server on the test database, with settings overridden by keyword."""

    def build(**overrides: Any) -> FastAPI:
        settings = Settings(database_url=db.url, admin_token=ADMIN_TOKEN, **overrides)
        return create_app(settings, clock=clock, ids=SeededIds(random.Random(7)), database=db)

    return build


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The server on a fresh database (SQLite, then PostgreSQL), manual clock, seeded ids."""
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client; server-side exceptions fail the test."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    """The test client with admin and device helpers."""
    return Api(client)


class Stack:
    """A server on one database with a client: for tests that pick their backend."""

    def __init__(self, url: str, clock: ManualClock) -> None:
        self.db = Database(url)
        self.db.migrate()
        settings = Settings(database_url=url, admin_token=ADMIN_TOKEN)
        self.app = create_app(
            settings, clock=clock, ids=SeededIds(random.Random(7)), database=self.db
        )
        self.client = TestClient(self.app)
        self.api = Api(self.client)

    def close(self) -> None:
        self.client.close()
        self.db.dispose()


@pytest.fixture
def sqlite_stack(sqlite_url: str, clock: ManualClock) -> Iterator[Stack]:
    """The server on a fresh SQLite file."""
    stack = Stack(sqlite_url, clock)
    yield stack
    stack.close()


@pytest.fixture
def pg_stack(pg_url: str, clock: ManualClock) -> Iterator[Stack]:
    """The server on a fresh PostgreSQL database."""
    stack = Stack(pg_url, clock)
    yield stack
    stack.close()
