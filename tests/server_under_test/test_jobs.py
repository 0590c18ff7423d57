"""The periodic jobs, fired on demand in virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

PRAGUE = ZoneInfo("Europe/Prague")


def _run(api, name):
    return api.admin("POST", f"/jobs/{name}/run", 200).json()


def test_heartbeat_check_takes_silent_phones_offline(api, clock):
    quick = api.phone(heartbeat_timeout=2)
    slow = api.phone(heartbeat_timeout=10)
    clock.advance(timedelta(minutes=2))
    assert _run(api, "heartbeat_check")["affected"] == 0  # exactly at the timeout: still online
    clock.advance(timedelta(seconds=1))
    assert _run(api, "heartbeat_check")["affected"] == 1
    assert api.get_phone(quick["id"])["state"] == "offline"
    assert api.get_phone(slow["id"])["state"] == "online"
    # Offline phones get no new SMS; a heartbeat brings the phone back.
    (sms_id,) = api.enqueue({"number": "+420608000001", "body": "x"})["ids"]
    assert api.sms(sms_id)["gateway_phone_id"] == slow["id"]
    api.device(quick["api_key"], "heartbeat", {})
    assert api.get_phone(quick["id"])["state"] == "online"


def _picked(api, phone, clock, delivery, minutes):
    (sms_id,) = api.enqueue({"number": "+420608000001", "body": "x", "delivery": delivery})["ids"]
    clock.advance(timedelta(minutes=minutes))  # waited in the queue (the reference's B3 trap)
    api.device(phone["api_key"], "pending", {"limit": 1})
    return sms_id


def test_stuck_reset_measures_from_pickup_not_from_enqueue(api, clock):
    """B3: SMS queued long before pickup are not re-issued while the phone sends them."""
    phone = api.phone()
    sms_id = _picked(api, phone, clock, "at_least_once", minutes=45)
    clock.advance(timedelta(minutes=29))
    assert _run(api, "stuck_reset")["affected"] == 0
    assert api.sms(sms_id)["gateway_state"] == "processing"
    clock.advance(timedelta(minutes=2))
    assert _run(api, "stuck_reset")["affected"] == 1


def test_reference_defect_b3_reissues_an_sms_just_picked(make_app, clock):
    with TestClient(make_app(defects=frozenset({"B3"}))) as client:
        api = Api(client)
        phone = api.phone()
        sms_id = _picked(api, phone, clock, "at_least_once", minutes=45)
        clock.advance(timedelta(minutes=1))
        assert _run(api, "stuck_reset")["affected"] == 1
        assert api.sms(sms_id)["gateway_state"] == "pending"


def test_at_least_once_sms_is_queued_again(api, clock):
    phone = api.phone()
    sms_id = _picked(api, phone, clock, "at_least_once", minutes=0)
    clock.advance(timedelta(minutes=31))
    _run(api, "stuck_reset")
    again = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
    assert [s["id"] for s in again] == [sms_id]
    assert api.sms(sms_id)["issue_count"] == 2


def test_at_most_once_sms_ends_as_unconfirmed_and_a_late_sent_still_wins(api, clock):
    phone = api.phone()
    sms_id = _picked(api, phone, clock, "at_most_once", minutes=0)
    clock.advance(timedelta(minutes=31))
    _run(api, "stuck_reset")
    stored = api.sms(sms_id)
    assert (stored["state"], stored["failure_type"]) == ("error", "sms_unconfirmed")
    assert api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"] == []
    api.device(phone["api_key"], "confirm-batch", {"results": [{"id": sms_id, "status": "sent"}]})
    assert api.sms(sms_id)["state"] == "sent"
    assert api.get_phone(phone["id"])["sent_today"] == 1


def test_reconcile_after_a_long_outage_keeps_the_apps_status_of_an_unconfirmed_sms(api, clock):
    """The stuck reset's error/sms_unconfirmed is a guess: a restarted app that still holds
    the SMS's status is told it is stuck, not already confirmed, so it sends the truth
    (found by hil explore: the app dropped a 'sent' the reset had guessed an error)."""
    phone = api.phone()
    sms_id = _picked(api, phone, clock, "at_most_once", minutes=0)
    clock.advance(timedelta(minutes=31))
    _run(api, "stuck_reset")
    answer = api.device(phone["api_key"], "reconcile", {"known_ids": [sms_id]})
    assert answer["stuck_ids"] == [sms_id] and answer["already_confirmed_ids"] == []
    api.device(phone["api_key"], "confirm-batch", {"results": [{"id": sms_id, "status": "sent"}]})
    assert api.sms(sms_id)["state"] == "sent"
    again = api.device(phone["api_key"], "reconcile", {"known_ids": [sms_id]})
    assert again["already_confirmed_ids"] == [sms_id] and again["stuck_ids"] == []


def test_campaign_sms_default_to_at_most_once(api):
    api.phone()
    campaign = api.admin("POST", "/campaigns", 201, json={"name": "Akce"}).json()
    assert campaign["delivery"] == "at_most_once"
    (in_campaign, transactional) = api.enqueue(
        {"number": "+420608000001", "body": "x", "campaign_id": campaign["id"]},
        {"number": "+420608000002", "body": "y"},
    )["ids"]
    assert api.sms(in_campaign)["delivery"] == "at_most_once"
    assert api.sms(transactional)["delivery"] == "at_least_once"


def _send(api, phone, count):
    ids = api.enqueue(*({"number": f"+42060800{i:04d}", "body": "x"} for i in range(count)))["ids"]
    api.device(phone["api_key"], "pending", {"limit": count})
    api.device(
        phone["api_key"],
        "confirm-batch",
        {"results": [{"id": i, "status": "sent"} for i in ids]},
    )


def test_daily_reset_zeroes_sent_today_only(api):
    phone = api.phone()
    _send(api, phone, 3)
    assert _run(api, "daily_reset")["affected"] == 1
    after = api.get_phone(phone["id"])
    assert (after["sent_today"], after["sent_month"], after["sent_total"]) == (0, 3, 3)


@pytest.mark.parametrize(("start_day", "reset_on"), [(1, "2026-04-01"), (15, "2026-03-15")])
def test_monthly_reset_follows_each_phones_month_start_day(api, clock, start_day, reset_on):
    phone = api.phone(month_start_day=start_day)
    _send(api, phone, 2)
    assert api.get_phone(phone["id"])["next_month_reset"] == reset_on
    midnight = datetime.fromisoformat(reset_on).replace(tzinfo=PRAGUE)  # CET or CEST
    clock.set(midnight - timedelta(hours=1))  # 23:00 in Prague, still the day before
    _run(api, "monthly_reset")
    assert api.get_phone(phone["id"])["sent_month"] == 2
    clock.set(midnight + timedelta(minutes=10))
    _run(api, "monthly_reset")
    after = api.get_phone(phone["id"])
    assert after["sent_month"] == 0 and after["sent_total"] == 2
    assert after["next_month_reset"] > reset_on


def test_a_job_runs_once_per_slot_and_is_listed(api, clock):
    api.phone()
    first = _run(api, "daily_reset")
    again = _run(api, "daily_reset")  # same server time: same slot
    assert first["ran"] is True and again["ran"] is False
    listing = {j["name"]: j for j in api.admin("GET", "/jobs", 200).json()["jobs"]}
    assert set(listing) == {"heartbeat_check", "stuck_reset", "daily_reset", "monthly_reset"}
    assert listing["daily_reset"]["last_run"]["affected"] == 1
    assert listing["daily_reset"]["schedule"] == "daily at 00:00 Europe/Prague"
    assert listing["heartbeat_check"]["schedule"] == "every 60 s"
    next_daily = datetime.fromisoformat(listing["daily_reset"]["next_slot"])
    assert next_daily.astimezone(UTC) == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)


def test_unknown_job_is_a_404_listing_the_jobs(api):
    out = api.admin("POST", "/jobs/vacuum/run", 404).json()
    assert "vacuum" in out["error"] and "heartbeat_check" in out["error"]
