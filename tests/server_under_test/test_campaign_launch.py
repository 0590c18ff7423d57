"""Launching a campaign with its SMS in one call (``POST /admin/campaigns/launch``):
queue-only campaigns wait, paused, until resumed; resuming wakes the phones holding them.
Through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from server_under_test import RecordingWaker, SeededIds, Settings, create_app
from tests.conftest import ADMIN_TOKEN, Api


@pytest.fixture
def recorded(db, clock):
    """The server with a recording waker, and the client."""
    waker = RecordingWaker()
    app = create_app(
        Settings(database_url=db.url, admin_token=ADMIN_TOKEN),
        clock=clock,
        ids=SeededIds(random.Random(3)),
        database=db,
        waker=waker,
    )
    with TestClient(app) as client:
        yield Api(client), waker


def _messages(count, start=0, **extra):
    return [
        {"number": f"+42060800{start + i:04d}", "body": "Jarní akce", **extra} for i in range(count)
    ]


def _launch(api, expect=201, **body):
    return api.admin("POST", "/campaigns/launch", expect, json=body).json()


def _phone_with_token(api, token):
    phone = api.phone()
    api.device(phone["api_key"], "register-fcm", {"fcm_token": token})
    return phone


def test_a_queue_only_campaign_waits_paused_until_it_is_resumed(recorded, clock):
    api, waker = recorded
    first = _phone_with_token(api, "token-1")
    second = _phone_with_token(api, "token-2")
    made = _launch(api, name="Jaro", send_now=False, messages=_messages(4))
    campaign = made["campaign"]
    assert campaign["paused"] is True and campaign["name"] == "Jaro"
    assert campaign["sms_states"] == {"pending": 4}
    assert made["queued"] == 4 and made["errors"] == [] and len(made["ids"]) == 4
    assert waker.records == []  # nothing to send: nobody is woken
    for phone in (first, second):
        assert api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"] == []
    assert {api.sms(i)["campaign_id"] for i in made["ids"]} == {campaign["id"]}

    clock.advance(timedelta(minutes=30))
    resumed = api.admin("PATCH", f"/campaigns/{campaign['id']}", 200, json={"paused": False})
    assert resumed.json()["paused"] is False
    holders = {api.sms(i)["gateway_phone_id"] for i in made["ids"]}
    assert holders == {first["id"], second["id"]}  # two each: the least loaded wins
    assert sorted(r.phone_id for r in waker.records) == sorted(holders)
    handed = [
        s["id"]
        for phone in (first, second)
        for s in api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    ]
    assert sorted(handed) == sorted(made["ids"])


def test_a_resume_wakes_only_the_phones_still_holding_queued_sms(recorded, clock):
    api, waker = recorded
    holder = _phone_with_token(api, "token-h")
    made = _launch(
        api, name="Léto", send_now=False, messages=_messages(2), forced_phone_id=holder["id"]
    )
    other = _phone_with_token(api, "token-o")
    path = f"/campaigns/{made['campaign']['id']}"
    api.admin("PATCH", path, 200, json={"name": "Léto 2026"})  # a rename is no resume
    assert waker.records == []
    api.admin("PATCH", path, 200, json={"paused": False})
    assert [r.phone_id for r in waker.records] == [holder["id"]]
    assert other["id"] not in {r.phone_id for r in waker.records}
    # everything handed out: pausing and resuming again wakes nobody
    assert len(api.device(holder["api_key"], "pending", {"limit": 20})["sms_list"]) == 2
    clock.advance(timedelta(minutes=1))
    api.admin("PATCH", path, 200, json={"paused": True})
    api.admin("PATCH", path, 200, json={"paused": False})
    assert len(waker.records) == 1


def test_a_launch_that_sends_now_is_unpaused_and_wakes_its_phones(recorded):
    api, waker = recorded
    phone = _phone_with_token(api, "token-1")
    made = _launch(api, name="Ihned", messages=_messages(3), delivery="at_least_once")
    assert made["campaign"]["paused"] is False
    assert made["campaign"]["delivery"] == "at_least_once"
    assert [r.phone_id for r in waker.records] == [phone["id"]]
    got = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    assert [s["id"] for s in got] == made["ids"]
    assert {api.sms(i)["delivery"] for i in made["ids"]} == {"at_least_once"}


def test_a_forced_phone_takes_every_sms_of_the_launch(api):
    api.phone()
    forced = api.phone()
    made = _launch(
        api, name="F", forced_phone_id=forced["id"], send_now=False, messages=_messages(3)
    )
    assert made["campaign"]["forced_phone_id"] == forced["id"]
    assert {api.sms(i)["gateway_phone_id"] for i in made["ids"]} == {forced["id"]}


def test_bad_items_are_reported_and_the_others_stored(api):
    api.phone()
    messages = [
        *_messages(1),
        {"number": "+420608000009", "body": "x", "campaign_id": 1},
        {"number": "+420608000010"},
        {"number": "+420608000011", "body": "y", "partner_id": 4242},
        *_messages(1, start=20),
    ]
    made = _launch(api, name="Mix", send_now=False, messages=messages)
    assert [e["index"] for e in made["errors"]] == [1, 2, 3]
    assert "campaign_id" in made["errors"][0]["error"]
    assert "body" in made["errors"][1]["error"]
    assert "partner_id 4242 does not exist" in made["errors"][2]["error"]
    assert made["ids"][1:4] == [None, None, None]
    assert None not in (made["ids"][0], made["ids"][4])
    assert made["campaign"]["sms_states"] == {"pending": 2}


def test_a_launch_without_one_good_item_creates_nothing(api):
    out = _launch(api, 422, name="Nic", messages=[{"number": "+420608000001"}, {"body": "x"}])
    assert out["success"] is False
    assert "None of the 2 messages can be queued, so no campaign was created" in out["error"]
    assert "messages[0]" in out["error"] and "body" in out["error"]
    api.admin("GET", "/campaigns/1", 404)
    assert api.admin("GET", "/sms", 200).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"name": "X", "messages": []}, 422, "messages"),
        ({"name": "X"}, 422, "messages"),
        ({"messages": _messages(1)}, 422, "name"),
        ({"name": "X", "paused": True, "messages": _messages(1)}, 422, "paused"),
        ({"name": "X", "send_now": "no", "messages": _messages(1)}, 422, "send_now"),
        ({"name": "X", "delivery": "twice", "messages": _messages(1)}, 422, "delivery"),
        ({"name": "X", "forced_phone_id": 4242, "messages": _messages(1)}, 404, "4242"),
    ],
)
def test_a_bad_launch_is_refused_with_a_reason(api, body, status, says):
    out = api.admin("POST", "/campaigns/launch", status, json=body).json()
    assert out["success"] is False and says in str(out)
    assert api.admin("GET", "/sms", 200).json()["total"] == 0
    api.admin("GET", "/campaigns/1", 404)


def test_too_many_messages_are_refused_before_anything_is_stored(api, monkeypatch):
    from server_under_test.api import campaigns

    monkeypatch.setattr(campaigns, "MAX_ENQUEUE", 2)
    out = _launch(api, 422, name="Big", messages=_messages(3))
    assert "At most 2 messages per request; got 3" in out["error"]
    api.admin("GET", "/campaigns/1", 404)


def test_a_retried_launch_with_its_idempotency_key_creates_no_second_campaign(api):
    api.phone()
    body = {"name": "Retry", "messages": _messages(3)}
    headers = {**api.admin_headers, "Idempotency-Key": "launch-2026-03-02"}
    first = api.client.post("/admin/campaigns/launch", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = api.client.post("/admin/campaigns/launch", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert api.admin("GET", "/campaigns", 200).json()["total"] == 1
    assert api.admin("GET", "/sms", 200).json()["total"] == 3

    # The same key on another launch, or on an enqueue of the same messages, is refused.
    other = api.client.post(
        "/admin/campaigns/launch", json={**body, "name": "Other"}, headers=headers
    )
    assert other.status_code == 409
    assert "already used for a different request" in other.json()["error"]
    enqueue = api.client.post("/admin/sms", json={"messages": body["messages"]}, headers=headers)
    assert enqueue.status_code == 409
    assert api.admin("GET", "/sms", 200).json()["total"] == 3


def test_a_key_whose_launch_never_answered_is_refused_with_what_to_do(api, monkeypatch):
    from server_under_test.services import launch

    def interrupted(*args, **kwargs):
        raise RuntimeError("the process died in the middle of the launch")

    api.phone()
    body = {"name": "Cut", "messages": _messages(2)}
    headers = {**api.admin_headers, "Idempotency-Key": "launch-cut"}
    monkeypatch.setattr(launch, "launch", interrupted)
    with pytest.raises(RuntimeError):
        api.client.post("/admin/campaigns/launch", json=body, headers=headers)
    monkeypatch.undo()
    retry = api.client.post("/admin/campaigns/launch", json=body, headers=headers)
    assert retry.status_code == 409
    assert "still being processed, or was interrupted" in retry.json()["error"]
    assert api.admin("GET", "/campaigns", 200).json()["total"] == 0
