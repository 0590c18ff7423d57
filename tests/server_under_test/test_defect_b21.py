"""B21: the reference pauses a phone's forced campaigns when a poll finds it at its limit,
and nothing resumes them (gateway_api.py:229-233). Switched off, a full phone is only held
back until its limit resets; switched on, the campaign's later SMS never go out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

OFF = frozenset[str]()


@pytest.mark.parametrize("defects", [OFF, frozenset({"B21"})])
def test_a_full_phone_pauses_its_forced_campaign_only_under_b21(make_app, clock, defects):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        phone = api.phone(daily_limit=2)
        other = api.phone(daily_limit=100)
        campaign = api.admin(
            "POST", "/campaigns", 201, json={"name": "news", "forced_phone_id": phone["id"]}
        ).json()
        loose = api.admin("POST", "/campaigns", 201, json={"name": "other"}).json()
        first = [
            {"number": f"+42060100000{i}", "body": "Hi", "campaign_id": campaign["id"]}
            for i in range(2)
        ]
        ids = api.enqueue(*first)["ids"]
        handed = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
        assert [s["id"] for s in handed] == ids
        api.device(
            phone["api_key"],
            "confirm-batch",
            {"results": [{"id": i, "status": "sent"} for i in ids]},
        )
        full = api.device(phone["api_key"], "pending", {"limit": 20})
        assert full["limit_reached"] is True and full["sms_list"] == []
        # the next day: the daily count is reset and the campaign has new SMS
        clock.advance(timedelta(days=1))
        api.admin("POST", "/jobs/daily_reset/run", 200)
        api.device(phone["api_key"], "heartbeat", {})
        api.device(other["api_key"], "heartbeat", {})
        (later,) = api.enqueue(
            {"number": "+420601000009", "body": "Again", "campaign_id": campaign["id"]}
        )["ids"]
        news = api.admin("GET", f"/campaigns/{campaign['id']}", 200).json()
        untouched = api.admin("GET", f"/campaigns/{loose['id']}", 200).json()
        got = api.device(phone["api_key"], "pending", {"limit": 20})["sms_list"]
    assert untouched["paused"] is False  # not forced on the full phone
    if defects:
        assert news["paused"] is True
        assert got == [] and api.sms(later)["gateway_state"] == "pending"
    else:
        assert news["paused"] is False
        assert [s["id"] for s in got] == [later]
