"""The rate limit at pickup, and the defect switches of pickup, assignment and confirms.

Each switch (C3, C4, C5, C7, C8, C9, C10) is shown from a phone's or an operator's side:
switched off the server is correct, switched on the defect is what a user would notice.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server_under_test import ManualClock, SeededIds, Settings
from server_under_test.services import dispatch
from server_under_test.services.context import Context
from server_under_test.services.phones import get_phone, within_heartbeat_timeout
from server_under_test.storage.tables import sms
from tests.conftest import Api
from tests.support.locks import wait_for_a_lock_wait

OFF = frozenset[str]()
TWO_PARTS = "x" * 200  # two GSM-7 parts


def _queue(api, count, body="Ahoj"):
    return api.enqueue(*({"number": f"+4209998{i:05d}", "body": body} for i in range(count)))["ids"]


def _poll(api, key, limit=20):
    return api.device(key, "pending", {"limit": limit})


def _owner(api, sms_id):
    return api.sms(sms_id)["gateway_phone_id"]


# -- rate limit at pickup (C3) -----------------------------------------------------------


def test_a_poll_gets_at_most_the_rate_limit_per_minute(api, clock):
    phone = api.phone(rate_limit=5)
    ids = _queue(api, 12)
    key = phone["api_key"]
    first = _poll(api, key)
    assert [s["id"] for s in first["sms_list"]] == ids[:5]
    again = _poll(api, key)
    # Throttled is not out of capacity: the phone simply polls again later.
    assert again == {**again, "sms_list": [], "limit_reached": False}
    clock.advance(59)
    assert _poll(api, key)["sms_list"] == []
    clock.advance(1)  # the first batch is now 60 s old
    assert [s["id"] for s in _poll(api, key)["sms_list"]] == ids[5:10]


def test_the_rate_limit_counts_every_poll_of_the_minute(api, clock):
    phone = api.phone(rate_limit=5)
    _queue(api, 12)
    key = phone["api_key"]
    assert len(_poll(api, key, limit=3)["sms_list"]) == 3
    clock.advance(30)
    assert len(_poll(api, key)["sms_list"]) == 2
    clock.advance(30)  # the first 3 left the window, the 2 did not
    assert len(_poll(api, key)["sms_list"]) == 3


def test_the_rate_limit_is_per_phone(api):
    slow = api.phone(rate_limit=2)
    fast = api.phone(rate_limit=100)
    ids = _queue(api, 6)
    owners = {i: _owner(api, i) for i in ids}
    got_slow = _poll(api, slow["api_key"])["sms_list"]
    got_fast = _poll(api, fast["api_key"])["sms_list"]
    assert len(got_slow) == 2
    assert len(got_fast) == sum(1 for o in owners.values() if o == fast["id"])


@pytest.mark.parametrize(("defects", "second_poll"), [(OFF, 0), (frozenset({"C3"}), 7)])
def test_c3_back_to_back_polls_break_a_low_rate_limit(make_app, defects, second_poll):
    """C3: without the throttle a second poll right after the first gets another batch,
    so the phone sends 12 SMS within a minute at a rate limit of 5."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(rate_limit=5)
        _queue(api, 12)
        first = _poll(api, phone["api_key"], limit=5)["sms_list"]
        second = _poll(api, phone["api_key"])
    assert len(first) == 5
    assert len(second["sms_list"]) == second_poll
    assert second["limit_reached"] is False


# -- C4: capacity in SMS -----------------------------------------------------------------


@pytest.mark.parametrize(("defects", "assigned"), [(OFF, 2), (frozenset({"C4"}), 3)])
def test_c4_assignment_counts_capacity_in_sms(make_app, defects, assigned):
    """C4: a phone with 4 parts a day left is given three 2-part SMS (6 parts)."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(daily_limit=4)
        ids = _queue(api, 3, body=TWO_PARTS)
        owners = [_owner(api, i) for i in ids]
        batch = _poll(api, phone["api_key"])["sms_list"]
    assert owners.count(phone["id"]) == assigned
    assert sum(s["segments"] for s in batch) == 2 * assigned


@pytest.mark.parametrize(("defects", "released"), [(OFF, 2), (frozenset({"C4"}), 4)])
def test_c4_pickup_counts_capacity_in_sms(make_app, defects, released):
    """C4 at pickup: SMS queued before the limit was lowered to 4 parts are released as if
    each were one part: 8 parts go out on a day that allows 4."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(daily_limit=0)
        _queue(api, 5, body=TWO_PARTS)
        api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"daily_limit": 4})
        first = _poll(api, phone["api_key"])
        second = _poll(api, phone["api_key"])
    assert len(first["sms_list"]) == released
    assert second["sms_list"] == [] and second["limit_reached"] is True


# -- C5: concurrent pickups --------------------------------------------------------------


def _ctx(clock: ManualClock, defects: frozenset[str]) -> Context:
    return Context(clock, Settings(defects=defects), SeededIds(random.Random(3)))


@pytest.mark.parametrize(("defects", "overlap"), [(OFF, 0), (frozenset({"C5"}), 3)])
def test_c5_interleaved_pickups_issue_an_sms_twice(make_app, db, clock, defects, overlap):
    """Two pickups that both choose before either hands out: the guarded update hands the
    second nothing; C5's unguarded one issues the same 3 SMS again."""
    with TestClient(make_app()) as client:
        api = Api(client)
        phone = api.phone()
        _queue(api, 3)
    ctx = _ctx(clock, defects)
    with db.begin() as conn:
        row = get_phone(conn, phone["id"])
        first = dispatch.choose_batch(conn, ctx, row, 20)
        second = dispatch.choose_batch(conn, ctx, row, 20)
        assert [r.id for r in first.sms] == [r.id for r in second.sms]
        one = dispatch.hand_out(conn, ctx, first)
        two = dispatch.hand_out(conn, ctx, second)
        issues = conn.execute(select(func.max(sms.c.issue_count))).scalar_one()
    assert len(one.sms) == 3
    assert len({r.id for r in one.sms} & {r.id for r in two.sms}) == overlap
    assert issues == (2 if overlap else 1)


@pytest.mark.pg
@pytest.mark.parametrize(("defects", "overlap"), [(OFF, 0), (frozenset({"C5"}), 5)])
def test_c5_concurrent_polls_on_postgresql_get_the_same_sms(
    pg_stack, pg_url, clock, defects, overlap
):
    """The second poll starts while the first holds its SMS uncommitted. Correct: it waits
    for the phone's lock and then gets the next 5. C5: it reads the first's SMS as still
    queued, waits only for their row locks, and hands them out again."""
    db = pg_stack.db
    phone = pg_stack.api.phone(daily_limit=0)
    ids = _queue(pg_stack.api, 10)
    ctx = _ctx(clock, defects)
    got: dict[str, list[int]] = {}
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with db.begin() as conn:
                row = get_phone(conn, phone["id"])
                got["second"] = [r.id for r in dispatch.pickup(conn, ctx, row, 5).sms]
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    with db.begin() as conn:
        row = get_phone(conn, phone["id"])
        got["first"] = [r.id for r in dispatch.pickup(conn, ctx, row, 5).sms]
        worker = threading.Thread(target=second)
        worker.start()
        # Commit only once the second poll is inside its pickup, blocked on our locks.
        wait_for_a_lock_wait(
            db.engine, "The second pickup never waited on a lock held by the first."
        )
    worker.join(timeout=30)
    assert not worker.is_alive() and not failures, failures
    with db.begin() as conn:
        issues = conn.execute(select(func.max(sms.c.issue_count))).scalar_one()
    assert got["first"] == ids[:5]
    assert len(set(got["first"]) & set(got["second"])) == overlap
    if not overlap:
        assert got["second"] == ids[5:]
    assert issues == (2 if overlap else 1)


# -- C7, C8, C9: assignment --------------------------------------------------------------


@pytest.mark.parametrize(("defects", "to_silent"), [(OFF, 0), (frozenset({"C7"}), 1)])
def test_c7_sms_wait_on_a_phone_that_stopped_heartbeating(make_app, clock, defects, to_silent):
    """C7: a phone silent for 10 minutes (timeout 5) still gets its share of the SMS."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        silent = api.phone()
        clock.advance(timedelta(minutes=10))
        alive = api.phone()
        owners = [_owner(api, i) for i in _queue(api, 2)]
    assert owners.count(silent["id"]) == to_silent
    assert owners.count(alive["id"]) == 2 - to_silent


@pytest.mark.parametrize("defects", [OFF, frozenset({"C7"})])
def test_c7_a_phone_never_online_gets_sms(make_app, defects):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        never = api.phone(online=False)
        (sms_id,) = _queue(api, 1)
        stored = api.sms(sms_id)
    if defects:
        assert (stored["state"], stored["gateway_phone_id"]) == ("pending", never["id"])
    else:
        assert (stored["state"], stored["gateway_phone_id"]) == ("error", None)
        assert "No gateway phone is online" in stored["error_message"]


@pytest.mark.parametrize("defects", [OFF, frozenset({"C8"})])
def test_c8_a_filtered_phone_gets_strangers(make_app, defects):
    """C8: a VIP-only phone is given an SMS for a number no partner has."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        vip = api.phone(domain_filter='[("category_id.name", "=", "VIP")]')
        (sms_id,) = api.enqueue({"number": "+420601999999", "body": "Akce"})["ids"]
        stored = api.sms(sms_id)
    if defects:
        assert stored["gateway_phone_id"] == vip["id"]
    else:
        assert stored["gateway_phone_id"] is None
        assert "partner filter" in stored["error_message"]


@pytest.mark.parametrize("defects", [OFF, frozenset({"C9"})])
def test_c9_a_phone_two_minutes_after_its_heartbeat_counts_as_offline(make_app, clock, defects):
    """C9: the 5-minute timeout read as 5 seconds: between two heartbeats (60 s apart) a
    phone is offline, and SMS enqueued then fail."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(heartbeat_timeout=5)
        clock.advance(timedelta(minutes=2))
        (sms_id,) = _queue(api, 1)
        stored = api.sms(sms_id)
    if defects:
        assert stored["gateway_phone_id"] is None
        assert "No gateway phone is online" in stored["error_message"]
    else:
        assert stored["gateway_phone_id"] == phone["id"]


def test_within_heartbeat_timeout_reads_minutes_and_c9_seconds(clock):
    class Phone:
        last_heartbeat = clock.now().replace(tzinfo=None)
        heartbeat_timeout = 5

    correct, defective = Settings(), Settings(defects=frozenset({"C9"}))
    for seconds, in_minutes, in_seconds in [(5, True, True), (6, True, False), (300, True, False)]:
        now = Phone.last_heartbeat + timedelta(seconds=seconds)
        assert within_heartbeat_timeout(Phone, now, correct) is in_minutes
        assert within_heartbeat_timeout(Phone, now, defective) is in_seconds
    late = Phone.last_heartbeat + timedelta(seconds=301)
    assert within_heartbeat_timeout(Phone, late, correct) is False


# -- C10: foreign confirms ---------------------------------------------------------------


@pytest.mark.parametrize("defects", [OFF, frozenset({"C10"})])
def test_c10_a_phone_confirms_another_phones_sms(make_app, defects):
    """C10: phone B's report ends an SMS phone A holds, and B's counters count it."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        owner = api.phone()
        (sms_id,) = _queue(api, 1)
        other = api.phone()
        assert [s["id"] for s in _poll(api, owner["api_key"])["sms_list"]] == [sms_id]
        single = api.device(other["api_key"], f"confirm/{sms_id}", {"status": "sent"}, expect=None)
        after_single = api.sms(sms_id)["state"]
        batch = api.device(
            other["api_key"], "confirm-batch", {"results": [{"id": sms_id, "status": "error"}]}
        )
        final = api.sms(sms_id)["state"]
        counted = api.get_phone(other["id"])["sent_today"]
    if defects:
        assert (after_single, final, counted) == ("sent", "sent", 1)
        assert batch["ack_ids"] == [sms_id] and batch["errors"] == []
    else:
        assert single["success"] is False and "not assigned to this phone" in single["error"]
        assert (after_single, final, counted) == ("pending", "pending", 0)
        assert batch["ack_ids"] == [] and [e["id"] for e in batch["errors"]] == [sms_id]
