"""Pickup, capacity and confirms: the correctness points the reference gets wrong."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from server_under_test.storage.tables import blacklist
from tests.conftest import Api


def _queue(api, count, body="Ahoj", **extra):
    return api.enqueue(
        *({"number": f"+4209998{i:05d}", "body": body, **extra} for i in range(count))
    )["ids"]


def _confirm(api, key, *items):
    return api.device(key, "confirm-batch", {"results": [dict(i) for i in items]})


def test_pending_hands_out_oldest_first_within_the_limit(api):
    phone = api.phone()
    ids = _queue(api, 30)
    first = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    second = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    assert [s["id"] for s in first] == ids[:20]
    assert [s["id"] for s in second] == ids[20:]
    assert api.device(phone["api_key"], "pending", {})["sms_list"] == []


def test_pending_item_carries_both_dialects_fields(api):
    phone = api.phone(phone_number_2="+420608987654")
    api.enqueue({"number": "+420999888777", "body": "Ahoj", "sim_number": "+420608987654"})
    (item,) = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
    assert item["phone_number"] == "+420999888777"
    assert item["message"] == "Ahoj"
    assert item["gateway_phone_number"] == "+420608987654"
    assert len(item["uuid"]) == 36 and item["segments"] == 1


@pytest.mark.parametrize(("defects", "released"), [(frozenset(), 10), (frozenset({"B1"}), 0)])
def test_queue_longer_than_the_daily_limit_is_still_released(make_app, defects, released):
    """B1: the reference counts queued SMS against the capacity that gates their release,
    so a queue longer than what is left releases nothing, ever (the defect switched on)."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(daily_limit=10)
        # Fill today's capacity at assignment, then raise the limit so more may queue and
        # lower it again: the queue (12) is now longer than what is left (10, none sent).
        _queue(api, 10)
        api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"daily_limit": 12})
        _queue(api, 2)
        api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"daily_limit": 10})
        batch = api.device(phone["api_key"], "pending", {"limit": 20})
    assert len(batch["sms_list"]) == released
    assert batch["limit_reached"] is (released == 0)


def test_in_flight_sms_count_against_capacity_until_confirmed(api):
    phone = api.phone(daily_limit=5)
    _queue(api, 5)
    key = phone["api_key"]
    first = api.device(key, "pending", {"limit": 3})["sms_list"]
    assert len(first) == 3
    second = api.device(key, "pending", {"limit": 20})["sms_list"]
    assert len(second) == 2
    third = api.device(key, "pending", {"limit": 20})
    assert third["sms_list"] == [] and third["limit_reached"] is True
    # Errors free their capacity: nothing was sent.
    _confirm(api, key, *({"id": s["id"], "status": "error"} for s in first))
    assert api.get_phone(phone["id"])["sent_today"] == 0


def test_capacity_is_counted_in_segments(api):
    phone = api.phone(daily_limit=4)
    long_body = "x" * 200  # two GSM-7 parts
    ids = _queue(api, 3, body=long_body)
    # The third (2 more parts on a phone with 4) is stored, failed at once: no capacity.
    assert None not in ids
    third = api.sms(ids[2])
    assert (third["state"], third["failure_type"], third["gateway_phone_id"]) == (
        "error",
        "sms_server",
        None,
    )
    assert "reached its daily or monthly limit (2 segment(s) needed)" in third["error_message"]
    batch = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    assert [s["segments"] for s in batch] == [2, 2]
    _confirm(api, phone["api_key"], *({"id": s["id"], "status": "sent"} for s in batch))
    assert api.get_phone(phone["id"])["sent_today"] == 4


@pytest.mark.parametrize(
    "statuses",
    [
        ["sent", "sent"],
        ["sending", "sent", "sent"],
        ["sent", "error", "sent"],
        ["error", "sent", "error"],
        ["sent", "sending"],
    ],
)
def test_counters_move_once_per_sms_whatever_the_order(api, statuses):
    """B11: sent → error → sent counts twice in the reference; error downgrades sent."""
    phone = api.phone()
    (sms_id,) = _queue(api, 1)
    key = phone["api_key"]
    api.device(key, "pending", {"limit": 1})
    for status in statuses:
        response = api.device(key, f"confirm/{sms_id}", {"status": status})
        assert response["success"] is True
    assert api.sms(sms_id)["state"] == "sent"
    assert api.get_phone(phone["id"])["sent_today"] == 1
    assert api.get_phone(phone["id"])["sent_total"] == 1


def test_error_then_nothing_leaves_the_error_with_its_message(api):
    phone = api.phone()
    (sms_id,) = _queue(api, 1)
    api.device(phone["api_key"], "pending", {"limit": 1})
    api.device(
        phone["api_key"], f"confirm/{sms_id}", {"status": "error", "error_message": "RADIO_OFF"}
    )
    stored = api.sms(sms_id)
    assert (stored["state"], stored["gateway_state"]) == ("error", "error")
    assert stored["failure_type"] == "sms_server"
    assert stored["error_message"] == "RADIO_OFF"
    assert api.get_phone(phone["id"])["sent_today"] == 0


def test_sending_marks_an_sms_in_flight(api):
    phone = api.phone()
    (sms_id,) = _queue(api, 1)
    api.device(phone["api_key"], "pending", {"limit": 1})
    out = api.device(phone["api_key"], f"confirm/{sms_id}", {"status": "sending"})
    assert out["changed"] is True and out["gateway_state"] == "sending"
    assert api.device(phone["api_key"], "reconcile", {"known_ids": [sms_id]})["stuck_ids"] == [
        sms_id
    ]


def test_confirm_batch_acks_repeats_so_the_app_stops_resending(api):
    phone = api.phone()
    ids = _queue(api, 2)
    key = phone["api_key"]
    api.device(key, "pending", {"limit": 2})
    items = [{"id": ids[0], "status": "sent"}, {"sms_id": ids[1], "status": "error"}]
    first = _confirm(api, key, *items)
    again = _confirm(api, key, *items)
    assert first["ack_ids"] == again["ack_ids"] == ids
    assert first["processed"] == 2 and again["errors"] == []
    assert again["sent_today"] == 1


def _picked_then_requeued(api, clock):
    """A phone takes an SMS and never confirms; the stuck-reset job queues it again."""
    phone = api.phone()
    (sms_id,) = _queue(api, 1)  # outside a campaign: at-least-once
    api.device(phone["api_key"], "pending", {"limit": 1})
    clock.advance(timedelta(minutes=31))
    api.device(phone["api_key"], "heartbeat", {})
    assert api.admin("POST", "/jobs/stuck_reset/run", 200).json()["affected"] == 1
    return phone, phone["api_key"], sms_id


def test_confirm_after_a_reset_and_reissue_is_applied_once(api, clock):
    """A confirm from the first issuance of an SMS that was queued again and re-issued."""
    phone, key, sms_id = _picked_then_requeued(api, clock)
    assert api.device(key, "reconcile", {"known_ids": [sms_id]})["requeued_ids"] == [sms_id]
    assert [s["id"] for s in api.device(key, "pending", {"limit": 5})["sms_list"]] == [sms_id]
    assert api.sms(sms_id)["issue_count"] == 2
    _confirm(api, key, {"id": sms_id, "status": "sent"})  # the first copy's report
    _confirm(api, key, {"id": sms_id, "status": "sent"})  # the second copy's report
    assert api.sms(sms_id)["state"] == "sent"
    assert api.get_phone(phone["id"])["sent_total"] == 1


def test_a_sent_report_for_a_queued_sms_takes_it_out_of_the_queue(api, clock):
    _, key, sms_id = _picked_then_requeued(api, clock)
    _confirm(api, key, {"id": sms_id, "status": "sent"})
    assert api.device(key, "pending", {"limit": 5})["sms_list"] == []
    assert api.device(key, "heartbeat", {})["pending_total"] == 0


def test_reconcile_classifies_every_known_id(api):
    phone = api.phone()
    other = api.phone()
    ids = _queue(api, 3)
    key = phone["api_key"]
    # Assignment alternates between the two equally loaded phones; take this phone's.
    mine = [s["id"] for s in api.device(key, "pending", {"limit": 20})["sms_list"]]
    theirs = [i for i in ids if i not in mine]
    _confirm(api, key, {"id": mine[0], "status": "sent"})
    result = api.device(key, "reconcile", {"known_ids": [*mine, *theirs, 10**9]})
    assert result["already_confirmed_ids"] == [mine[0]]
    assert result["stuck_ids"] == mine[1:]
    assert result["not_found_ids"] == sorted([*theirs, 10**9])
    assert other["id"] != phone["id"]


def test_reconcile_with_no_ids_answers_every_list(api):
    phone = api.phone()
    out = api.device(phone["api_key"], "reconcile", {})
    assert out == {
        "success": True,
        "already_confirmed_ids": [],
        "stuck_ids": [],
        "requeued_ids": [],
        "not_found_ids": [],
    }


def test_paused_campaign_sms_wait_until_resumed(api):
    phone = api.phone()
    campaign = api.admin("POST", "/campaigns", 201, json={"name": "Akce", "paused": True}).json()
    ids = _queue(api, 2, campaign_id=campaign["id"])
    key = phone["api_key"]
    assert api.device(key, "pending", {"limit": 5})["sms_list"] == []
    api.admin("PATCH", f"/campaigns/{campaign['id']}", 200, json={"paused": False})
    assert [s["id"] for s in api.device(key, "pending", {"limit": 5})["sms_list"]] == ids


def test_blacklisted_number_is_cancelled_at_pickup(api, db):
    """B8: the reference hands out SMS queued before the number's STOP."""
    phone = api.phone()
    ids = _queue(api, 3)
    key = phone["api_key"]
    # Blacklisted behind the server's back (as if by another process): only the pickup
    # check can catch it.
    with db.begin() as conn:
        conn.execute(
            insert(blacklist).values(number="+420999800001", created_at=datetime(2026, 3, 2))
        )
    handed = [s["id"] for s in api.device(key, "pending", {"limit": 5})["sms_list"]]
    assert handed == [ids[0], ids[2]]
    cancelled = api.sms(ids[1])
    assert (cancelled["state"], cancelled["failure_type"]) == ("canceled", "sms_blacklist")


def test_reconcile_takes_every_unsynced_id_the_app_has(api):
    """The app sends all its unsynced ids in one request, never split (50 000 here)."""
    phone = api.phone()
    key = phone["api_key"]
    ids = _queue(api, 3)
    mine = [s["id"] for s in api.device(key, "pending", {"limit": 20})["sms_list"]]
    _confirm(api, key, {"id": mine[0], "status": "sent"})
    unknown = list(range(10**6, 10**6 + 50_000 - len(ids)))
    result = api.device(key, "reconcile", {"known_ids": [*ids, *unknown]})
    assert result["already_confirmed_ids"] == [mine[0]]
    assert result["stuck_ids"] == mine[1:]
    assert result["not_found_ids"] == unknown
