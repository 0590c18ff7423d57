"""The loopback FCM endpoint as a harness component: pushes reach ``on_send``.

The served-gateway tests run ``hil serve`` as a process with ``--fcm-credentials`` and the
endpoint's environment, so the real firebase-admin SDK in the server pushes through the
double to the hook, as in a real-time harness run. The hook's own rules (False, an
exception) are checked with google-auth's session straight against the double.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from harness.fcm_endpoint import DEFAULT_PROJECT, TOKEN_URI, FcmDouble
from harness.process import ServedGateway, served_gateway

ADMIN = "fcm-endpoint-admin"
SEND_URL = f"https://fcm.googleapis.com/v1/projects/{DEFAULT_PROJECT}/messages:send"
DEADLINE_S = 60.0

# firebase-admin 7.x deprecates Message.token; the gateway rightly sends ``token``.
pytestmark = pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")


def _until(what: str, check: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what} did not happen within {deadline_s:.0f} s.")
        time.sleep(0.05)


class Calls:
    """A thread-safe on_send that records each call and answers ``verdict``."""

    def __init__(self, verdict: bool | None = None) -> None:
        self.verdict = verdict
        self.calls: queue.Queue[tuple[str, Mapping[str, Any]]] = queue.Queue()

    def __call__(self, token: str, message: Mapping[str, Any]) -> bool | None:
        self.calls.put((token, message))
        return self.verdict

    def next(self) -> tuple[str, Mapping[str, Any]]:
        """The next call, waiting for it up to the deadline."""
        try:
            return self.calls.get(timeout=DEADLINE_S)
        except queue.Empty:
            pytest.fail(f"on_send was not called within {DEADLINE_S:.0f} s.")


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def endpoint(calls: Calls) -> Iterator[FcmDouble]:
    with FcmDouble(on_send=calls) as fcm:
        yield fcm


@pytest.fixture
def gateway(endpoint: FcmDouble, sqlite_url: str, tmp_path: Path) -> Iterator[ServedGateway]:
    """``hil serve`` with FCM on, its SDK routed to the endpoint."""
    with served_gateway(
        sqlite_url,
        tmp_path / "serve.log",
        "--fcm-credentials",
        endpoint.service_account(),
        admin_token=ADMIN,
        env=endpoint.environment(),
    ) as served:
        yield served


def _phone_with_token(url: str, token: str) -> dict[str, Any]:
    """Register a phone, bring it online and register its FCM token, as the app does."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = httpx.post(
        f"{url}/admin/phones",
        headers=admin,
        json={"name": "Phone 1", "phone_number": "+420777000001"},
    )
    assert created.status_code == 201, created.text
    phone: dict[str, Any] = created.json()
    device = {"X-API-Key": phone["api_key"]}
    beat = httpx.post(f"{url}/sms-gateway/heartbeat", headers=device, json={})
    assert beat.status_code == 200, beat.text
    registered = httpx.post(
        f"{url}/sms-gateway/register-fcm", headers=device, json={"fcm_token": token}
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["message"] == "FCM token registered"
    return phone


def _enqueue_one(url: str) -> None:
    answer = httpx.post(
        f"{url}/admin/sms",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"messages": [{"number": "+420601000001", "body": "hi"}]},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["queued"] == 1, answer.text


def _fcm_token_of(url: str, phone_id: int) -> str | None:
    answer = httpx.get(
        f"{url}/admin/phones/{phone_id}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 200, answer.text
    token: str | None = answer.json()["fcm_token"]
    return token


# -- a served gateway, the real SDK, the hook ----------------------------------------------


def test_a_served_gateways_wake_up_reaches_on_send(
    endpoint: FcmDouble, gateway: ServedGateway, calls: Calls
) -> None:
    phone = _phone_with_token(gateway.url, "device-token-1")
    _enqueue_one(gateway.url)

    token, message = calls.next()

    assert token == "device-token-1"
    assert message["token"] == "device-token-1"
    assert message["data"]["type"] == "sms_pending"
    assert message["data"]["phone_id"] == str(phone["id"])
    assert message["android"]["priority"] == "high"
    sends = _until("the send being recorded", lambda: endpoint.send_requests)
    assert [s.status for s in sends] == [200]
    assert [r.status for r in endpoint.token_requests] == [200]
    grant = endpoint.token_requests[0]
    assert grant.assertion_claims is not None and grant.assertion_claims["aud"] == TOKEN_URI
    assert endpoint.problems == []
    assert _fcm_token_of(gateway.url, phone["id"]) == "device-token-1"


def test_a_token_on_send_refuses_is_cleared_by_the_served_gateway(
    endpoint: FcmDouble, gateway: ServedGateway, calls: Calls
) -> None:
    calls.verdict = False  # the simulated FCM knows no app for this token
    phone = _phone_with_token(gateway.url, "dead-token")
    _enqueue_one(gateway.url)

    assert calls.next()[0] == "dead-token"

    _until(
        "the server clearing the unregistered token",
        lambda: _fcm_token_of(gateway.url, phone["id"]) is None,
    )
    (send,) = endpoint.send_requests
    assert send.status == 404
    assert send.response["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    assert endpoint.problems == []


# -- the hook's rules, straight against the double -----------------------------------------


@pytest.fixture
def session(endpoint: FcmDouble, monkeypatch: pytest.MonkeyPatch) -> AuthorizedSession:
    """google-auth's session with a key the endpoint trusts, routed through it."""
    for name, value in endpoint.environment().items():
        monkeypatch.setenv(name, value)
    for name in ("ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    credentials = service_account.Credentials.from_service_account_info(
        json.loads(endpoint.service_account()),
        scopes=["https://www.googleapis.com/auth/firebase.messaging"],
    )
    return AuthorizedSession(credentials)


def _send(session: AuthorizedSession, token: str) -> requests.Response:
    return session.post(
        SEND_URL, json={"message": {"token": token, "data": {"k": "v"}}}, timeout=30
    )


def test_on_send_gets_each_accepted_send_and_its_verdict_is_the_answer(
    endpoint: FcmDouble, session: AuthorizedSession, calls: Calls
) -> None:
    accepted = _send(session, "alive")
    assert accepted.status_code == 200
    assert accepted.json()["name"].startswith(f"projects/{DEFAULT_PROJECT}/messages/")
    assert calls.next() == ("alive", {"token": "alive", "data": {"k": "v"}})

    endpoint.on_send = lambda token, message: token != "gone"  # swapped while running
    assert _send(session, "still-alive").status_code == 200
    refused = _send(session, "gone")
    assert refused.status_code == 404
    assert refused.json()["error"]["status"] == "NOT_FOUND"
    assert refused.json()["error"]["details"][0]["errorCode"] == "UNREGISTERED"

    endpoint.mark_unregistered("marked")
    endpoint.on_send = calls
    assert _send(session, "marked").status_code == 404
    assert calls.calls.empty(), "a send the double refuses itself is not handed on"
    assert endpoint.problems == []


def test_an_exception_in_on_send_is_a_problem_and_a_500_not_a_dead_endpoint(
    endpoint: FcmDouble, session: AuthorizedSession
) -> None:
    def broken(token: str, message: Mapping[str, Any]) -> bool:
        raise RuntimeError("the simulation is gone")

    endpoint.on_send = broken
    failed = _send(session, "t")
    assert failed.status_code == 500
    assert failed.json()["error"]["status"] == "INTERNAL"
    (problem,) = endpoint.problems
    assert problem.startswith("on_send raised for token 't'")
    assert "the simulation is gone" in problem

    endpoint.on_send = None
    assert _send(session, "t").status_code == 200, "the endpoint still answers"


def test_the_hook_gets_a_copy_of_the_message(
    endpoint: FcmDouble, session: AuthorizedSession
) -> None:
    def meddle(token: str, message: Mapping[str, Any]) -> None:
        message["data"]["k"] = "changed"

    endpoint.on_send = meddle
    assert _send(session, "t").status_code == 200
    assert endpoint.send_requests[0].body["message"]["data"] == {"k": "v"}


def test_the_environment_needs_a_started_endpoint() -> None:
    with pytest.raises(RuntimeError, match="Start the FCM double"):
        FcmDouble().environment()
