"""B25: the reference's raw-SQL state changes skip ``_check_mailing_completion``
(``sms_sms.py:65-82``; the pre-cancel at pickup, ``gateway_api.py:176-211``). Switched on,
the SMS that the cancel at pickup or the stuck reset ends do not complete their campaign,
which stays ``sending`` for ever; switched off, the campaign is ``done`` whatever path ended
its last SMS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

OFF = frozenset[str]()
B25 = frozenset({"B25"})
A, B = "+420601000001", "+420601000002"


def _setup(api: Api, delivery: str) -> tuple[str, int, list[int]]:
    """A phone holding a campaign's two SMS, the first confirmed sent."""
    phone = api.phone()
    key = phone["api_key"]
    campaign = api.admin("POST", "/campaigns", 201, json={"name": "Jaro", "delivery": delivery})
    campaign_id = int(campaign.json()["id"])
    ids = api.enqueue(*({"number": n, "body": "Ahoj", "campaign_id": campaign_id} for n in (A, B)))[
        "ids"
    ]
    assert [s["id"] for s in api.device(key, "pending", {"limit": 20})["sms_list"]] == ids
    api.device(key, "confirm-batch", {"results": [{"id": ids[0], "status": "sent"}]})
    return key, campaign_id, ids


def _state(api: Api, campaign_id: int) -> str:
    state: str = api.admin("GET", f"/campaigns/{campaign_id}", 200).json()["state"]
    return state


@pytest.mark.parametrize("defects", [OFF, B25])
def test_a_campaign_whose_last_sms_the_stuck_reset_ends_stays_sending_under_b25(
    make_app, clock, defects
):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        key, campaign, (_, last) = _setup(api, "at_most_once")
        clock.advance(timedelta(minutes=31))
        api.admin("POST", "/jobs/stuck_reset/run", 200)
        assert api.sms(last)["failure_type"] == "sms_unconfirmed"
        # nothing later completes it: more jobs, heartbeats, an empty poll
        clock.advance(timedelta(minutes=5))
        api.admin("POST", "/jobs/stuck_reset/run", 200)
        api.device(key, "heartbeat", {})
        api.device(key, "pending", {"limit": 20})
        assert _state(api, campaign) == ("sending" if defects else "done")


@pytest.mark.parametrize("defects", [OFF, B25])
def test_a_campaign_whose_last_sms_is_cancelled_at_pickup_stays_sending_under_b25(
    make_app, clock, defects
):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        key, campaign, (_, last) = _setup(api, "at_least_once")
        # the STOP finds the SMS in the phone's hands; the stuck reset queues it again and
        # the next pickup cancels it
        api.device(key, "inbound", {"from_number": B, "message": "STOP"})
        clock.advance(timedelta(minutes=31))
        api.admin("POST", "/jobs/stuck_reset/run", 200)
        assert api.device(key, "pending", {"limit": 20})["sms_list"] == []
        assert api.sms(last)["failure_type"] == "sms_blacklist"
        assert _state(api, campaign) == ("sending" if defects else "done")


@pytest.mark.parametrize("defects", [OFF, B25])
def test_confirms_and_stops_complete_a_campaign_with_or_without_b25(make_app, clock, defects):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        key, campaign, (_, last) = _setup(api, "at_most_once")
        api.device(key, "confirm-batch", {"results": [{"id": last, "status": "error"}]})
        assert _state(api, campaign) == "done"
        # a STOP cancelling the queued last SMS of another campaign completes it too
        other = int(api.admin("POST", "/campaigns", 201, json={"name": "Leto"}).json()["id"])
        (queued,) = api.enqueue({"number": B, "body": "Ahoj", "campaign_id": other})["ids"]
        api.device(key, "inbound", {"from_number": B, "message": "STOP"})
        assert api.sms(queued)["state"] == "canceled"
        assert _state(api, other) == "done"
