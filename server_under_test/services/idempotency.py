"""Idempotency keys of the requests that create SMS: a retry gets the first answer, not a
second batch.

A client that lost the answer to a committed enqueue (a timeout, a dropped connection)
retries with the same ``Idempotency-Key``. The key of ``POST /admin/sms`` is claimed in
the enqueue's own transaction, so the key, the SMS and the stored answer commit together or
not at all (a campaign launch claims and answers in transactions of its own, see
``api/campaigns.py``);
a concurrent retry waits on the key's unique index (PostgreSQL) or the write lock (SQLite)
and then finds the answer. Keys are kept ``KEEP`` after their first use.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import Connection, delete, select, update

from ..errors import Conflict
from ..storage.tables import enqueue_key
from .context import Context
from .dbutil import claim

__all__ = ["KEEP", "claim_key", "request_digest", "store_response"]

KEEP = timedelta(days=7)


def request_digest(body: str) -> str:
    """The digest that tells a retry (same request) from a reuse of its key."""
    return hashlib.sha256(body.encode()).hexdigest()


def claim_key(conn: Connection, ctx: Context, key: str, digest: str) -> str | None:
    """Claim ``key`` for this request: None if it is new, else the first answer (JSON).

    ``Conflict`` if the key was used for a different request.
    """
    now = ctx.now()
    conn.execute(delete(enqueue_key).where(enqueue_key.c.created_at < now - KEEP))
    row = {"key": key, "request_digest": digest, "response": None, "created_at": now}
    if claim(conn, enqueue_key, row, ["key"]):
        return None
    first = conn.execute(
        select(enqueue_key.c.request_digest, enqueue_key.c.response).where(enqueue_key.c.key == key)
    ).one()
    if first.request_digest != digest:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new batch (a retry must repeat the request exactly)."
        )
    if first.response is None:
        raise Conflict(
            f"The request with Idempotency-Key {key!r} is still being processed, or was "
            "interrupted; look at what it created (GET /admin/campaigns, GET /admin/sms) "
            "before sending it again with a new key."
        )
    return str(first.response)


def store_response(conn: Connection, key: str, response: str) -> None:
    """Keep the answer of the request that claimed ``key``."""
    conn.execute(update(enqueue_key).where(enqueue_key.c.key == key).values(response=response))
