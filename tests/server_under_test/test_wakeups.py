"""FCM wake-ups after assignment, through the server's HTTP API."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from server_under_test import RecordingWaker, SeededIds, Settings, create_app
from tests.conftest import ADMIN_TOKEN, Api
from tests.server_under_test.test_fcm import (  # noqa: F401  (fixtures)
    account_key,
    credentials,
    double,
)

pytestmark = pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")


@pytest.fixture
def recorded(db, clock):
    """The server with a recording waker (what the simulator uses)."""
    waker = RecordingWaker(unregistered_tokens=["dead-token"])
    app = create_app(
        Settings(database_url=db.url, admin_token=ADMIN_TOKEN),
        clock=clock,
        ids=SeededIds(random.Random(3)),
        database=db,
        waker=waker,
    )
    with TestClient(app) as client:
        yield Api(client), waker


def _sms(*numbers, **extra):
    return [{"number": n, "body": "Akce", **extra} for n in numbers]


def test_phones_given_sms_are_woken_once_per_window(recorded, clock):
    api, waker = recorded
    with_token = api.phone()
    api.device(with_token["api_key"], "register-fcm", {"fcm_token": "token-1"})
    without = api.phone()
    api.enqueue(*_sms("+420608000001", "+420608000002", "+420608000003", "+420608000004"))
    assert [(r.phone_id, r.token) for r in waker.records] == [(with_token["id"], "token-1")]
    clock.advance(timedelta(seconds=3))
    api.enqueue(*_sms("+420608000005", phone_id=with_token["id"]))
    assert len(waker.records) == 1  # debounced: within 5 s of the last push
    clock.advance(timedelta(seconds=3))
    api.enqueue(*_sms("+420608000006", phone_id=with_token["id"]))
    assert len(waker.records) == 2
    assert without["id"] not in {r.phone_id for r in waker.records}


def test_a_phone_given_nothing_is_not_woken(recorded):
    api, waker = recorded
    busy = api.phone()
    idle = api.phone()
    for phone, token in ((busy, "t-busy"), (idle, "t-idle")):
        api.device(phone["api_key"], "register-fcm", {"fcm_token": token})
    api.enqueue(*_sms("+420608000001", phone_id=busy["id"]))
    assert [r.phone_id for r in waker.records] == [busy["id"]]


def test_an_unregistered_token_is_cleared_and_comes_back_with_the_app(recorded):
    api, _ = recorded
    phone = api.phone()
    api.device(phone["api_key"], "register-fcm", {"fcm_token": "dead-token"})
    api.enqueue(*_sms("+420608000001"))
    assert api.get_phone(phone["id"])["fcm_token"] is None
    # The app registers its token again (every tenth heartbeat).
    api.device(phone["api_key"], "register-fcm", {"fcm_token": "fresh-token"})
    assert api.get_phone(phone["id"])["fcm_token"] == "fresh-token"


def test_fcm_off_by_default_sends_nothing(api):
    phone = api.phone()
    out = api.device(phone["api_key"], "register-fcm", {"fcm_token": "t"})
    assert "not enabled" in out["message"]
    assert api.client.app.state.gateway.waker.__class__.__name__ == "NullWaker"


def test_the_real_sdk_pushes_through_the_server(sqlite_url, clock, credentials, double):  # noqa: F811
    settings = Settings(
        database_url=sqlite_url,
        admin_token=ADMIN_TOKEN,
        fcm_enabled=True,
        fcm_credentials=credentials,
    )
    with TestClient(create_app(settings, clock=clock)) as client:
        api = Api(client)
        phone = api.phone()
        out = api.device(phone["api_key"], "register-fcm", {"fcm_token": "device-token"})
        assert out["message"] == "FCM token registered"
        api.enqueue(*_sms("+420608000001", "+420608000002"))
    (send,) = double.send_requests
    message = send.body["message"]
    assert message["token"] == "device-token"
    assert message["data"] == {
        "type": "sms_pending",
        "phone_id": str(phone["id"]),
        "timestamp": str(int(clock.now().timestamp())),
    }
    assert message["android"] == {"priority": "high", "ttl": "60s"}
    assert double.problems == []


def test_enabled_without_credentials_is_refused_clearly(sqlite_url):
    from server_under_test import GatewayError

    with pytest.raises(GatewayError, match="no credentials"):
        create_app(Settings(database_url=sqlite_url, fcm_enabled=True))
