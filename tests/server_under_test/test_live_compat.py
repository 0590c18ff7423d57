"""The real app's requests and the seed document's curl examples against ``hil serve``.

These start the server as a real process (uvicorn over loopback) and speak to it with
exactly the requests that the Android app 1.7.1 (reference-system.md §1, §5) and the seed
document's troubleshooting section send.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.process import served_gateway

ADMIN = "live-admin-token"


@pytest.fixture
def live(db_url: str, tmp_path) -> Iterator[httpx.Client]:
    """``hil serve`` on a free port; a client pointed at it."""
    with (
        served_gateway(db_url, tmp_path / "serve.log", admin_token=ADMIN) as served,
        httpx.Client(base_url=served.url, timeout=10) as client,
    ):
        yield client


def _setup(live: httpx.Client) -> dict:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    phone = live.post(
        "/admin/phones",
        headers=admin,
        json={
            "name": "Telefon 1 - O2",
            "phone_number": "+420777123456",
            "phone_number_2": "+420608987654",
            "daily_limit": 500,
            "rate_limit": 100,
        },
    ).json()
    live.post(
        "/admin/sms",
        headers=admin,
        json={
            "messages": [
                {"number": "+420999888777", "body": "Text SMS zpravy..."},
                {"number": "+420999888776", "body": "Druha"},
                {"number": "+420999888775", "body": "Treti"},
            ]
        },
    ).raise_for_status()
    return phone


def test_seed_document_curl_examples(live):
    phone = _setup(live)
    headers = {"Content-Type": "application/json", "X-API-Key": phone["api_key"]}
    # curl -X POST .../sms-gateway/heartbeat -d '{"phone_numbers": ["+420777123456"]}'
    beat = live.post(
        "/sms-gateway/heartbeat", headers=headers, content='{"phone_numbers": ["+420777123456"]}'
    )
    assert beat.status_code == 200
    assert beat.json()["success"] is True and beat.json()["rate_limit"] == 100
    assert sum(beat.json()["pending_count"].values()) == 0  # nothing assigned before online

    live.post(
        "/admin/sms",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"messages": [{"number": "+420999888777", "body": "Ahoj"}]},
    )
    # curl -X POST .../sms-gateway/pending -d '{"phone_numbers": [...], "limit": 5}'
    pending = live.post(
        "/sms-gateway/pending",
        headers=headers,
        content='{"phone_numbers": ["+420777123456"], "limit": 5}',
    ).json()
    assert pending["success"] is True
    (sms,) = pending["sms_list"]
    assert set(sms) >= {"id", "phone_number", "message", "uuid", "gateway_phone_number"}

    # The seed's /confirm/{id} bodies.
    for body in ('{"status": "sending"}', '{"status": "sent"}'):
        out = live.post(f"/sms-gateway/confirm/{sms['id']}", headers=headers, content=body)
        assert out.status_code == 200 and out.json()["success"] is True
    # curl -X POST .../sms-gateway/inbound -d '{"from_number": ..., "message": "STOP", ...}'
    stop = live.post(
        "/sms-gateway/inbound",
        headers=headers,
        content='{"from_number": "+420999888777", "message": "STOP", "to_number": "+420777123456"}',
    ).json()
    assert stop["success"] is True and stop["blacklisted"] is True
    # The seed's confirm-batch (sms_id), inbound-batch (received_at), stats, register-fcm.
    batch = live.post(
        "/sms-gateway/confirm-batch",
        headers=headers,
        json={"results": [{"sms_id": sms["id"], "status": "sent"}]},
    ).json()
    assert batch == {**batch, "success": True, "processed": 1}
    inbound = live.post(
        "/sms-gateway/inbound-batch",
        headers=headers,
        json={
            "messages": [
                {
                    "from_number": "+420999888777",
                    "message": "STOP",
                    "to_number": "+420777123456",
                    "received_at": "2026-03-22T10:30:00Z",
                },
                {
                    "from_number": "+420111222333",
                    "message": "Dekuji za informaci",
                    "to_number": "+420777123456",
                    "received_at": "2026-03-22T11:15:00Z",
                },
            ]
        },
    ).json()
    assert (inbound["processed"], inbound["duplicates_skipped"]) == (2, 0)
    stats = live.post("/sms-gateway/stats", headers=headers).json()
    assert stats["phones"][0]["sent_today"] == 1
    fcm = live.post(
        "/sms-gateway/register-fcm",
        headers=headers,
        json={"fcm_token": "dK3xP9...dlouhy_firebase_token"},
    ).json()
    assert fcm["success"] is True and "message" in fcm


def test_real_app_1_7_1_request_shapes(live):
    phone = _setup(live)
    key = phone["api_key"]
    native = {"Content-Type": "application/json; charset=utf-8", "X-API-Key": key}
    sims = ["+420777123456", "+420608987654"]
    # Native heartbeat: phone_numbers + unsynced_count only; the app sums pending_count.
    beat = live.post(
        "/sms-gateway/heartbeat", headers=native, json={"phone_numbers": sims, "unsynced_count": 0}
    ).json()
    assert beat["phone_stats"]["+420777123456"]["daily_limit"] == 500
    live.post(
        "/admin/sms",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"messages": [{"number": f"+42099988870{i}", "body": "x"} for i in range(3)]},
    )
    beat = live.post(
        "/sms-gateway/heartbeat", headers=native, json={"phone_numbers": sims, "unsynced_count": 0}
    ).json()
    assert sum(beat["pending_count"].values()) == 3  # not doubled for dual SIM (B19)

    polled = live.post(
        "/sms-gateway/pending", headers=native, json={"phone_numbers": sims, "limit": 20}
    ).json()["sms_list"]
    ids = [s["id"] for s in polled]
    assert len(ids) == 3
    # Sync: confirm-batch keyed `id`, errors carry the app's reason strings.
    sync = live.post(
        "/sms-gateway/confirm-batch",
        headers=native,
        json={
            "results": [
                {"id": ids[0], "status": "sent"},
                {
                    "id": ids[1],
                    "status": "error",
                    "error_message": "TIMEOUT_0of1_parts_sent_0_failed",
                },
            ]
        },
    ).json()
    assert sync["ack_ids"] == ids[:2]
    assert {"sent_today", "sent_month", "sent_total", "daily_limit", "monthly_limit"} <= set(sync)
    # Reconcile at start with every unsynced id.
    rec = live.post(
        "/sms-gateway/reconcile", headers=native, json={"known_ids": [*ids, 99999]}
    ).json()
    assert rec["already_confirmed_ids"] == ids[:2]
    assert rec["stuck_ids"] == [ids[2]] and rec["not_found_ids"] == [99999]
    # InboundSmsWorker: /inbound with X-API-Key, to_number often empty.
    assert live.post(
        "/sms-gateway/inbound",
        headers=native,
        json={"from_number": "+420999888777", "message": "Stop", "to_number": ""},
    ).json()["is_stop"]
    # Retroactive scan: one inbound-batch of the inbox, to_number "".
    scan = live.post(
        "/sms-gateway/inbound-batch",
        headers=native,
        json={"messages": [{"from_number": "+420999888777", "message": "Stop", "to_number": ""}]},
    ).json()
    # The scan re-reports the SMS that /inbound recorded a moment ago: a duplicate.
    assert scan["success"] is True
    assert (scan["recorded"], scan["skipped"]) == (0, 1)
    # App <= 1.1 sent Authorization: Bearer to /inbound: refused with a reason.
    old = live.post(
        "/sms-gateway/inbound",
        headers={"Authorization": f"Bearer {key}"},
        json={"from_number": "+420999888777", "message": "STOP"},
    )
    assert old.status_code == 401 and "X-API-Key" in old.json()["error"]
    # The JS client's body-borne key.
    body_key = live.post("/sms-gateway/stats", json={"api_key": key})
    assert body_key.status_code == 200
