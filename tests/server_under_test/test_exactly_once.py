"""Exactly-once issuance under concurrent polls of the same phones."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server_under_test.storage.tables import sms


def _storm(app, api, *, queued: int, phones: int, threads: int, seed: int) -> Counter[int]:
    """Many threads poll the same phones until the queue is empty; return issue counts."""
    # The clock stands still: a rate limit would let each phone have only one minute's worth.
    keys = [api.phone(daily_limit=0, rate_limit=100_000)["api_key"] for _ in range(phones)]
    body = {"messages": [{"number": f"+4206{i:08d}", "body": "Akce"} for i in range(queued)]}
    assert api.admin("POST", "/sms", 201, json=body).json()["queued"] == queued
    handed: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        rng = random.Random(seed + n)
        try:
            with TestClient(app) as client:
                start.wait()
                empty_rounds = 0
                while empty_rounds < 2 * phones:
                    key = rng.choice(keys)
                    got = client.post(
                        "/sms-gateway/pending", headers={"X-API-Key": key}, json={"limit": 20}
                    ).json()["sms_list"]
                    if not got:
                        empty_rounds += 1
                        continue
                    empty_rounds = 0
                    with lock:
                        handed.update(s["id"] for s in got)
                    client.post(
                        "/sms-gateway/confirm-batch",
                        headers={"X-API-Key": key},
                        json={"results": [{"id": s["id"], "status": "sent"} for s in got]},
                    ).raise_for_status()
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not failures, failures
    return handed


def _assert_exactly_once(db, handed: Counter[int], queued: int) -> None:
    assert len(handed) == queued, "some SMS were never handed out"
    assert max(handed.values()) == 1, f"handed out twice: {[i for i, n in handed.items() if n > 1]}"
    with db.begin() as conn:
        states = dict(conn.execute(select(sms.c.state, func.count()).group_by(sms.c.state)).all())
        issues = conn.execute(select(func.max(sms.c.issue_count))).scalar_one()
    assert states == {"sent": queued}
    assert issues == 1


@pytest.mark.pg
@pytest.mark.slow
def test_many_threads_polling_10000_sms_issue_each_once_on_postgresql(pg_stack):
    handed = _storm(pg_stack.app, pg_stack.api, queued=10_000, phones=4, threads=12, seed=1)
    _assert_exactly_once(pg_stack.db, handed, 10_000)


def test_concurrent_polls_issue_each_once_on_sqlite(sqlite_stack):
    handed = _storm(sqlite_stack.app, sqlite_stack.api, queued=1_000, phones=3, threads=6, seed=2)
    _assert_exactly_once(sqlite_stack.db, handed, 1_000)
