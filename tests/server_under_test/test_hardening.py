"""Issue 9, the server: hostile but documented input never gives a 5xx.

Lone UTF-16 surrogates, integers past the 32-bit columns, oversized bodies, LIKE
wildcards in a search, a ``sent`` confirm of an SMS never handed out, the admin
enqueue's idempotency key. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Api

CUT = "emoji cut \ud83d"  # a multipart SMS split between the halves of 😀
STORED = "emoji cut \ufffd"


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[Api]:
    """Like ``api``, but a server crash comes back as a 500 response instead of raising."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


def _post(api: Api, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    # json.dumps escapes a lone surrogate as "\ud83d", as the app's JSON encoder does;
    # httpx's own encoder would refuse to encode it.
    return api.client.post(
        path,
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _device(api: Api, key: str, endpoint: str, body: Any) -> Any:
    return _post(api, f"/sms-gateway/{endpoint}", body, {"X-API-Key": key})


# -- lone surrogates -----------------------------------------------------------------------


def test_lone_surrogates_in_inbound_text_are_stored_as_replacement_characters(lenient):
    phone = lenient.phone()
    key = phone["api_key"]
    one = _device(lenient, key, "inbound", {"from_number": "+420777100001", "message": CUT})
    assert one.status_code == 200, one.text
    batch = _device(
        lenient,
        key,
        "inbound-batch",
        {
            "messages": [
                {"from_number": "+420777100002", "message": "good one"},
                {"from_number": "+420777100003", "message": "\udc00 tail half", "to_number": CUT},
                {"from_number": "+420777100004", "message": "another good one"},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["recorded"] == 3 and batch.json()["errors"] == []
    history = _device(lenient, key, "inbound-history", {"limit": 10})
    assert history.status_code == 200, history.text
    texts = {m["message"] for m in history.json()["messages"]}
    assert {STORED, "\ufffd tail half", "good one", "another good one"} <= texts
    found = _device(lenient, key, "inbound-history", {"search": "cut \ud83d"})
    assert found.status_code == 200, found.text
    assert [m["message"] for m in found.json()["messages"]] == [STORED]


def test_lone_surrogates_in_other_device_routes_are_not_a_500(lenient):
    phone = lenient.phone()
    key = phone["api_key"]
    (sms_id,) = lenient.enqueue({"number": "+420777200001", "body": "hi"})["ids"]
    lenient.device(key, "pending", {"limit": 5})
    fcm = _device(lenient, key, "register-fcm", {"fcm_token": "tok\ud83d"})
    assert fcm.status_code == 200, fcm.text
    confirmed = _device(
        lenient,
        key,
        "confirm-batch",
        {"results": [{"id": sms_id, "status": "error", "error_message": CUT}]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["ack_ids"] == [sms_id]
    assert lenient.sms(sms_id)["error_message"] == STORED


def test_a_lone_surrogate_api_key_in_the_body_is_a_401(lenient):
    for endpoint in ("heartbeat", "inbound", "pending"):
        response = _post(lenient, f"/sms-gateway/{endpoint}", {"api_key": "\ud83d", "message": CUT})
        assert response.status_code == 401, (endpoint, response.text)


def test_lone_surrogates_in_admin_routes_are_not_a_500(lenient):
    headers = lenient.admin_headers
    phone = _post(lenient, "/admin/phones", {"name": CUT, "phone_number": "+420777000001"}, headers)
    assert phone.status_code == 201, phone.text
    assert phone.json()["name"] == STORED
    sms = _post(
        lenient, "/admin/sms", {"messages": [{"number": "+420777300001", "body": CUT}]}, headers
    )
    assert sms.status_code == 201, sms.text
    partners = _post(
        lenient,
        "/admin/partners",
        {"partners": [{"name": CUT, "mobile": "+420777400001"}]},
        headers,
    )
    assert partners.status_code == 201, partners.text
    campaign = _post(lenient, "/admin/campaigns", {"name": CUT}, headers)
    assert campaign.status_code == 201, campaign.text
    listed = _post(lenient, "/admin/blacklist", {"numbers": ["\ud83d"], "reason": CUT}, headers)
    assert listed.status_code < 500, listed.text


# -- the request-body limit ----------------------------------------------------------------


@pytest.fixture
def small_limit(make_app) -> Iterator[TestClient]:
    """The server with a 4 KiB body limit."""
    with TestClient(make_app(max_body_bytes=4096), raise_server_exceptions=False) as client:
        yield client


def test_a_body_above_the_limit_is_refused_with_413_before_authentication(small_limit):
    body = json.dumps({"messages": [{"from_number": "+420777100001", "message": "x" * 5000}]})
    response = small_limit.post(
        "/sms-gateway/inbound-batch",
        content=body,
        headers={"Content-Type": "application/json", "X-API-Key": "not-a-key"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["success"] is False
    assert "4096 bytes" in response.json()["error"]


def test_a_streamed_body_above_the_limit_is_refused_with_413(small_limit):
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": ['
        for _ in range(100):
            yield b'{"from_number": "+420777100001", "message": "0123456789"},'
        yield b"{}]}"

    response = small_limit.post(
        "/sms-gateway/inbound-batch",
        content=chunks(),
        headers={"Content-Type": "application/json", "X-API-Key": "not-a-key"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    assert "4096 bytes" in response.json()["error"]


def test_a_body_under_the_limit_is_served(small_limit):
    response = small_limit.post(
        "/sms-gateway/heartbeat", json={"battery_level": 50}, headers={"X-API-Key": "nope"}
    )
    assert response.status_code == 401


def test_the_default_limit_holds_a_30_day_inbox_scan_with_margin():
    from server_under_test import Settings

    item = {"from_number": "+420777100001", "message": "Dobrý den, " + "x" * 100}
    scan = json.dumps({"messages": [item] * 12_000}).encode()
    assert len(scan) * 10 < Settings().max_body_bytes


# -- integers past the 32-bit columns ------------------------------------------------------

BIG = [2**31, 3_000_000_000, 2**63 - 1]


@pytest.mark.parametrize("big", BIG)
def test_ids_past_the_columns_in_an_enqueue_are_refused_per_item(lenient, big):
    lenient.phone()
    for field in ("partner_id", "campaign_id", "phone_id"):
        response = lenient.admin(
            "POST",
            "/sms",
            json={
                "messages": [
                    {"number": "+420777300001", "body": "good"},
                    {"number": "+420777300002", "body": "bad", field: big},
                ]
            },
        )
        assert response.status_code < 500, (field, response.text)
        if response.status_code == 201:
            body = response.json()
            assert body["ids"][0] is not None and body["ids"][1] is None, (field, body)
            assert body["errors"][0]["index"] == 1, (field, body)


@pytest.mark.parametrize("big", BIG)
def test_a_forced_phone_id_past_the_columns_is_a_4xx(lenient, big):
    response = lenient.admin("POST", "/campaigns", json={"name": "Big", "forced_phone_id": big})
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "domain",
    [
        '[("id", ">", 3000000000)]',
        '[("customer_rank", "<=", 2147483648)]',
        '[("category_id", "in", [1, 9223372036854775807])]',
        '[("id", "=", -2147483649)]',
    ],
)
def test_a_domain_filter_with_a_literal_past_the_columns_is_refused(lenient, domain):
    response = lenient.admin(
        "POST",
        "/phones",
        json={"name": "F", "phone_number": "+420777000009", "domain_filter": domain},
    )
    assert response.status_code == 422, response.text
    assert "2147483647" in response.json()["error"]
    phone = lenient.phone()
    patched = lenient.admin("PATCH", f"/phones/{phone['id']}", json={"domain_filter": domain})
    assert patched.status_code == 422, patched.text
    # Nothing was stored: every enqueue that touches a partner still works, for all phones.
    (partner,) = lenient.admin(
        "POST", "/partners", 201, json={"partners": [{"name": "P", "mobile": "+420777400001"}]}
    ).json()["ids"]
    lenient.enqueue({"number": "+420777400001", "body": "hi", "partner_id": partner})


# -- inbound-history search ----------------------------------------------------------------


def test_history_search_treats_percent_and_underscore_literally(api):
    key = api.phone()["api_key"]
    texts = ["100% done", "100 done", "a_b", "axb", "back\\slash", "backslash"]
    for i, text in enumerate(texts):
        api.device(key, "inbound", {"from_number": f"+42077710000{i}", "message": text})

    def found(search: str) -> list[str]:
        body = api.device(key, "inbound-history", {"search": search})
        return sorted(m["message"] for m in body["messages"])

    assert found("100%") == ["100% done"]
    assert found("a_b") == ["a_b"]
    assert found("%") == ["100% done"]
    assert found("_") == ["a_b"]
    assert found("k\\s") == ["back\\slash"]
    assert found("done") == ["100 done", "100% done"]


# -- a confirm for an SMS never handed out -------------------------------------------------


def test_a_sent_confirm_for_an_sms_never_handed_out_is_refused_with_409(api):
    key = api.phone()["api_key"]
    (sms_id,) = api.enqueue({"number": "+420777500001", "body": "not yet picked up"})["ids"]
    assert api.sms(sms_id)["gateway_state"] == "pending"
    refused = api.device(key, f"confirm/{sms_id}", {"status": "sent"}, expect=409)
    assert "never handed out" in refused["error"]
    batch = api.device(key, "confirm-batch", {"results": [{"id": sms_id, "status": "sent"}]})
    assert batch["ack_ids"] == [] and batch["processed"] == 0
    assert "never handed out" in batch["errors"][0]["error"]
    assert batch["sent_total"] == 0
    # Still queued, and handed out (then confirmed) as usual.
    assert api.sms(sms_id)["state"] == "pending"
    (picked,) = api.device(key, "pending", {"limit": 5})["sms_list"]
    assert picked["id"] == sms_id
    assert api.device(key, f"confirm/{sms_id}", {"status": "sent"})["sent_total"] == 1


def test_a_sent_confirm_after_a_stuck_reset_is_still_applied(api, clock):
    """Queued again after being handed out is not 'never handed out': the radio may have sent it."""
    key = api.phone()["api_key"]
    (sms_id,) = api.enqueue(
        {"number": "+420777500002", "body": "slow phone", "delivery": "at_least_once"}
    )["ids"]
    api.device(key, "pending", {"limit": 5})
    clock.advance(timedelta(minutes=31))
    assert api.admin("POST", "/jobs/stuck_reset/run", 200).json()["affected"] == 1
    assert api.sms(sms_id)["gateway_state"] == "pending"
    confirmed = api.device(key, f"confirm/{sms_id}", {"status": "sent"})
    assert confirmed["state"] == "sent"


# -- the admin enqueue's idempotency key -----------------------------------------------------


def test_an_enqueue_retried_with_its_idempotency_key_answers_the_first_result(api):
    api.phone()
    body = {
        "messages": [
            {"number": "+420777600001", "body": "one"},
            {"number": "not a number", "body": "bad"},
            {"number": "+420777600002", "body": "two"},
        ]
    }
    headers = {**api.admin_headers, "Idempotency-Key": "batch-2026-03-02-a"}
    first = api.client.post("/admin/sms", json=body, headers=headers)
    assert first.status_code == 201, first.text
    stored = api.admin("GET", "/sms", 200, params={"limit": 100}).json()["total"]
    again = api.client.post("/admin/sms", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    assert api.admin("GET", "/sms", 200, params={"limit": 100}).json()["total"] == stored

    other = {"messages": [{"number": "+420777600003", "body": "three"}]}
    reused = api.client.post("/admin/sms", json=other, headers=headers)
    assert reused.status_code == 409, reused.text
    assert "Idempotency-Key" in reused.json()["error"]
    assert api.admin("GET", "/sms", 200, params={"limit": 100}).json()["total"] == stored

    fresh = api.client.post(
        "/admin/sms", json=other, headers={**api.admin_headers, "Idempotency-Key": "batch-b"}
    )
    assert fresh.status_code == 201
    without_key = api.client.post("/admin/sms", json=other, headers=api.admin_headers)
    assert without_key.status_code == 201
    assert api.admin("GET", "/sms", 200, params={"limit": 100}).json()["total"] == stored + 2


# -- a big STOP scan is set-based ----------------------------------------------------------


def test_an_inbox_scan_of_stops_takes_a_bounded_number_of_statements(api, app):
    """Blacklisting and dedupe are set-based: no statement per item in a chunk of 500."""
    from sqlalchemy import event

    key = api.phone()["api_key"]
    senders = [f"+4206{i:08d}" for i in range(500)]
    queued = api.enqueue(*({"number": n, "body": "offer"} for n in senders[:100]))["ids"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:60])

    engine = app.state.gateway.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        body = {"messages": [{"from_number": n, "message": "STOP"} for n in senders]}
        result = api.device(key, "inbound-batch", body)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result["recorded"] == 500 and result["blacklisted"] == 500
    assert len(statements) < 40, statements
    cancelled = api.sms(queued[0])
    assert (cancelled["state"], cancelled["failure_type"]) == ("canceled", "sms_blacklist")
    assert cancelled["error_message"] == f"Not sent: {senders[0]} is on the blacklist."


# -- after a 500, the keep-alive connection ------------------------------------------------


def test_after_a_500_the_next_request_on_a_kept_alive_connection_succeeds(tmp_path):
    """A real ``hil serve``: the 500 says ``Connection: close``, so the client reconnects."""
    import sqlite3

    import httpx

    from harness.process import served_gateway

    path = tmp_path / "gateway.sqlite3"
    admin = {"Authorization": "Bearer live-admin"}
    with (
        served_gateway(f"sqlite:///{path}", tmp_path / "serve.log", admin_token="live-admin") as s,
        httpx.Client(base_url=s.url, timeout=10, headers=admin) as client,
    ):
        created = client.post("/admin/phones", json={"name": "P", "phone_number": "+420777000001"})
        assert created.status_code == 201, created.text
        # A value the server cannot read back (the file edited behind its back) makes
        # every listing of phones fail with a 500.
        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE gateway_phone SET created_at = 'not a time'")
        for _ in range(3):
            failed = client.get("/admin/phones")
            assert failed.status_code == 500, failed.text
            assert failed.headers["connection"] == "close"
            assert client.get("/healthz").status_code == 200
