"""Waiting, in a PostgreSQL test, until a concurrent transaction is blocked on a lock."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

__all__ = ["wait_for_a_lock_wait"]


def wait_for_a_lock_wait(engine: Engine, failure: str, deadline: float = 20.0) -> None:
    """Poll until a session of ``engine``'s database waits on a lock; fail with ``failure``
    after ``deadline`` seconds."""
    give_up = time.monotonic() + deadline
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        while time.monotonic() < give_up:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.01)
    pytest.fail(failure)
