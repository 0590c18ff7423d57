"""Bad input on every endpoint: clear 4xx answers, never a 500, and nothing half-applied.

Checks that touch stored state run on SQLite and PostgreSQL (the ``api`` fixture). Checks of
the HTTP layer alone (``http_api``) and the Hypothesis fuzz run on SQLite only, to keep the
suite fast.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server_under_test import ManualClock, SeededIds, Settings, create_app
from tests.conftest import ADMIN_TOKEN, Api

OTHER = "+420999888777"
SENDER = "+420777111222"

# Every device endpoint, with a body it accepts ("{sms}" stands for a real SMS id).
VALID_BODIES: dict[str, Any] = {
    "heartbeat": {"battery_level": 80},
    "pending": {"limit": 5},
    "confirm/{sms}": {"status": "sending"},
    "confirm-batch": {"results": [{"id": "{sms}", "status": "sending"}]},
    "reconcile": {"known_ids": ["{sms}"]},
    "inbound": {"from_number": SENDER, "message": "Ahoj"},
    "inbound-batch": {"messages": [{"from": SENDER, "body": "Ahoj", "date": 1772438400000}]},
    "inbound-history": {"limit": 10},
    "inbound-blacklist": {"ids": [1]},
    "stats": {},
    "register-fcm": {"fcm_token": "fcm-token"},
}
ENDPOINTS = list(VALID_BODIES)


def _fill(value: Any, sms_id: int) -> Any:
    if value == "{sms}":
        return sms_id
    if isinstance(value, dict):
        return {k: _fill(v, sms_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, sms_id) for v in value]
    return value


def _path(endpoint: str, sms_id: int) -> str:
    return "/sms-gateway/" + endpoint.replace("{sms}", str(sms_id))


def _raw(client: Any, path: str, content: bytes, key: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    return client.post(path, headers=headers, content=content)


def _handed_out_sms(api: Api, phone: dict[str, Any]) -> int:
    """An SMS queued for ``phone`` and picked up by it (gateway_state ``processing``)."""
    (sms_id,) = api.enqueue({"number": OTHER, "body": "Ahoj", "phone_id": phone["id"]})["ids"]
    picked = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
    assert [s["id"] for s in picked] == [sms_id]
    return int(sms_id)


def _no_problems(problems: list[Any]) -> None:
    """Fail with every problem found, one a line (not truncated like an assert diff)."""
    if problems:
        pytest.fail(f"{len(problems)} problem(s):\n" + "\n".join(map(repr, problems)))


def _sqlite_app(url: str) -> FastAPI:
    return create_app(
        Settings(database_url=url, admin_token=ADMIN_TOKEN),
        clock=ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ids=SeededIds(random.Random(7)),
    )


@pytest.fixture
def http_api(sqlite_url: str) -> Iterator[Api]:
    """The ``api`` helper on SQLite only, for checks of the HTTP layer (parsing, validation,
    authentication) that never reach a query that could differ between the databases."""
    with TestClient(_sqlite_app(sqlite_url)) as client:
        yield Api(client)


# -- malformed and non-object bodies, wrong methods -------------------------------------


def test_malformed_or_non_object_bodies_are_a_400_on_every_endpoint(http_api):
    phone = http_api.phone()
    key = phone["api_key"]
    sms_id = _handed_out_sms(http_api, phone)
    problems = []
    for endpoint in ENDPOINTS:
        path = _path(endpoint, sms_id)
        for content in (b'{"limit": ', b"{bad json}", b'{"results": [1,]}'):
            response = _raw(http_api.client, path, content, key)
            if response.status_code != 400 or "Malformed JSON" not in response.json()["error"]:
                problems.append((endpoint, content, response.status_code, response.text))
        for content in (b"[1, 2]", b"[]", b'"text"', b"42", b"null"):
            response = _raw(http_api.client, path, content, key)
            if response.status_code != 400 or "JSON object" not in response.json()["error"]:
                problems.append((endpoint, content, response.status_code, response.text))
            elif response.json()["success"] is not False:
                problems.append((endpoint, content, "success is not false", response.text))
    _no_problems(problems)
    # Nothing was applied by any of those requests.
    assert http_api.sms(sms_id)["gateway_state"] == "processing"

    response = http_api.client.post(
        "/sms-gateway/pending",
        headers={"X-API-Key": key, "Content-Type": "text/plain"},
        content=b'{"limit": 5}',
    )
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["error"]


def test_get_on_a_device_route_is_a_405_and_an_unknown_route_a_404(http_api):
    phone = http_api.phone()
    for endpoint in ENDPOINTS:
        path = _path(endpoint, 1)
        response = http_api.client.get(path, headers={"X-API-Key": phone["api_key"]})
        assert response.status_code == 405, (path, response.text)
        assert response.json()["success"] is False
        assert "POST" in response.json()["error"]
    response = http_api.client.post("/sms-gateway/no-such-thing", json={})
    assert response.status_code == 404
    assert response.json()["success"] is False


# -- wrong types, missing fields, limits -------------------------------------------------


WRONG_TYPES: list[tuple[str, dict[str, Any], str]] = [
    ("pending", {"limit": "20"}, "limit"),
    ("pending", {"limit": True}, "limit"),
    ("pending", {"limit": 20.5}, "limit"),
    ("pending", {"limit": None}, "limit"),
    ("heartbeat", {"battery_level": "80"}, "battery_level"),
    ("heartbeat", {"battery_level": 101}, "battery_level"),
    ("heartbeat", {"signal_strength": 5}, "signal_strength"),
    ("heartbeat", {"unsynced_count": -1}, "unsynced_count"),
    ("confirm/{sms}", {"status": "done"}, "status"),
    ("confirm/{sms}", {"status": 1}, "status"),
    ("confirm/{sms}", {"status": "sent", "error_message": 5}, "error_message"),
    ("confirm-batch", {"results": "x"}, "results"),
    ("confirm-batch", {"results": {"id": 1}}, "results"),
    ("reconcile", {"known_ids": "x"}, "known_ids"),
    ("reconcile", {"known_ids": [1, "2"]}, "known_ids[1]"),
    ("reconcile", {"known_ids": [True]}, "known_ids[0]"),
    ("inbound", {"from_number": 420777111222, "message": "x"}, "from_number"),
    ("inbound", {"from_number": "", "message": "x"}, "from_number"),
    ("inbound", {"from_number": SENDER, "message": ["x"]}, "message"),
    ("inbound", {"from_number": SENDER, "message": "x", "received_at": "yesterday"}, "received_at"),
    ("inbound-batch", {"messages": {"from": SENDER}}, "messages"),
    ("inbound-history", {"limit": "10"}, "limit"),
    ("inbound-history", {"offset": -1}, "offset"),
    ("inbound-history", {"stop_only": "yes"}, "stop_only"),
    ("inbound-history", {"stop_not_blacklisted": 1}, "stop_not_blacklisted"),
    ("inbound-history", {"search": 5}, "search"),
    ("inbound-blacklist", {"ids": "1"}, "ids"),
    ("inbound-blacklist", {"ids": ["a"]}, "ids[0]"),
    ("register-fcm", {"fcm_token": 5}, "fcm_token"),
    ("register-fcm", {"fcm_token": ""}, "fcm_token"),
]


def test_a_field_of_the_wrong_type_is_a_422_naming_the_field(http_api):
    phone = http_api.phone()
    sms_id = _handed_out_sms(http_api, phone)
    problems = []
    for endpoint, body, field in WRONG_TYPES:
        response = http_api.client.post(
            _path(endpoint, sms_id), headers={"X-API-Key": phone["api_key"]}, json=body
        )
        data = response.json()
        fields = [d["field"] for d in data.get("detail", [])]
        if (
            response.status_code != 422
            or data.get("success") is not False
            or field not in data.get("error", "")
            or field not in fields
        ):
            problems.append((endpoint, body, response.status_code, response.text))
    _no_problems(problems)
    assert http_api.sms(sms_id)["gateway_state"] == "processing"
    assert http_api.get_phone(phone["id"])["battery_level"] is None


MISSING: list[tuple[str, dict[str, Any], list[str]]] = [
    ("confirm/{sms}", {}, ["status"]),
    ("confirm/{sms}", {"error_message": "x"}, ["status"]),
    ("confirm-batch", {}, ["results"]),
    ("inbound", {}, ["from_number", "message"]),
    ("inbound", {"from_number": SENDER}, ["message"]),
    ("inbound-batch", {}, ["messages"]),
    ("inbound-blacklist", {}, ["ids"]),
    ("register-fcm", {}, ["fcm_token"]),
]


def test_missing_fields_and_empty_lists_are_a_422_naming_each_field(http_api):
    phone = http_api.phone()
    sms_id = _handed_out_sms(http_api, phone)
    problems = []
    for endpoint, body, fields in MISSING:
        response = http_api.client.post(
            _path(endpoint, sms_id), headers={"X-API-Key": phone["api_key"]}, json=body
        )
        data = response.json()
        named = [d["field"] for d in data.get("detail", [])]
        if response.status_code != 422 or named != fields:
            problems.append((endpoint, body, response.status_code, response.text))
        elif not all(f in data["error"] for f in fields) or "required" not in data["error"]:
            problems.append((endpoint, body, "message", data["error"]))
    for endpoint, body, field in (
        ("confirm-batch", {"results": []}, "results"),
        ("inbound-batch", {"messages": []}, "messages"),
        ("inbound-blacklist", {"ids": []}, "ids"),
    ):
        data = http_api.device(phone["api_key"], endpoint, body, expect=422)
        if [d["field"] for d in data["detail"]] != [field] or "at least 1" not in data["error"]:
            problems.append((endpoint, body, data))
    _no_problems(problems)
    assert http_api.sms(sms_id)["gateway_state"] == "processing"

    # Endpoints whose fields are all optional take an empty or absent body.
    for endpoint in ("heartbeat", "pending", "reconcile", "inbound-history", "stats"):
        for kw in ({"json": {}}, {}):
            response = http_api.client.post(
                f"/sms-gateway/{endpoint}", headers={"X-API-Key": phone["api_key"]}, **kw
            )
            assert response.status_code == 200, (endpoint, kw, response.text)
            assert response.json()["success"] is True


def test_limits_outside_their_range_are_a_422_and_the_bounds_work(api):
    phone = api.phone()
    key = phone["api_key"]
    ids = api.enqueue(*({"number": f"+4209998887{i:02d}", "body": "x"} for i in range(3)))["ids"]
    bounds = {"pending": 100, "inbound-history": 200}
    for endpoint, maximum in bounds.items():
        for limit in (-1, 0, maximum + 1, 10**12, -(10**12)):
            response = api.device(key, endpoint, {"limit": limit}, expect=422)
            assert response["detail"][0]["field"] == "limit", (endpoint, limit)
            assert "limit" in response["error"]
    # Rejected polls handed nothing out.
    assert all(api.sms(i)["gateway_state"] == "pending" for i in ids)
    for endpoint, maximum in bounds.items():
        assert api.device(key, endpoint, {"limit": maximum})["success"] is True
    assert all(api.sms(i)["gateway_state"] == "processing" for i in ids)
    assert api.device(key, "inbound-history", {"limit": 1})["limit"] == 1
    # limit=100 took the whole queue; new SMS are handed out one at a time with limit=1.
    more = api.enqueue(*({"number": f"+4209998886{i:02d}", "body": "x"} for i in range(2)))["ids"]
    first = api.device(key, "pending", {"limit": 1})["sms_list"]
    assert [s["id"] for s in first] == more[:1]
    assert [api.sms(i)["gateway_state"] for i in more] == ["processing", "pending"]


# -- unknown ids -------------------------------------------------------------------------


def test_unknown_ids_are_a_404_naming_the_id(api):
    phone = api.phone()
    for status in ("sent", "error", "sending"):
        out = api.device(phone["api_key"], "confirm/987654", {"status": status}, expect=404)
        assert out["success"] is False
        assert "987654" in out["error"]
    assert api.get_phone(phone["id"])["sent_today"] == 0
    for sms_id in ("0", "-3", "abc", "1.5", str(2**63)):
        out = api.device(phone["api_key"], f"confirm/{sms_id}", {"status": "sent"}, expect=422)
        assert "sms_id" in out["error"]

    for path, name in (
        ("/phones/424242", "424242"),
        ("/sms/424243", "424243"),
        ("/campaigns/424244", "424244"),
    ):
        response = api.admin("GET", path, 404)
        assert name in response.json()["error"]
        assert response.json()["success"] is False
    for method, path in (
        ("PATCH", "/phones/424245"),
        ("POST", "/phones/424245/api-key"),
        ("PATCH", "/campaigns/424246"),
    ):
        body = {"name": "x"} if method == "PATCH" else None
        response = api.admin(method, path, 404, json=body)
        assert path.split("/")[2] in response.json()["error"]


# -- authentication ----------------------------------------------------------------------


def test_a_wrong_missing_or_archived_api_key_is_a_401_on_every_endpoint(api):
    phone = api.phone()
    sms_id = _handed_out_sms(api, phone)
    problems = []
    for endpoint, body in VALID_BODIES.items():
        path, payload = _path(endpoint, sms_id), _fill(body, sms_id)
        wrong = api.client.post(path, headers={"X-API-Key": "not-a-key"}, json=payload)
        if wrong.status_code != 401 or "Invalid API key" not in wrong.json()["error"]:
            problems.append(("wrong", endpoint, wrong.status_code, wrong.text))
        for headers in ({}, {"X-API-Key": ""}):
            missing = api.client.post(path, headers=headers, json=payload)
            if missing.status_code != 401 or "X-API-Key" not in missing.json()["error"]:
                problems.append(("missing", endpoint, missing.status_code, missing.text))
        in_body = api.client.post(path, json={**payload, "api_key": "not-a-key"})
        if in_body.status_code != 401 or "Invalid API key" not in in_body.json()["error"]:
            problems.append(("wrong in body", endpoint, in_body.status_code, in_body.text))
    _no_problems(problems)
    assert api.sms(sms_id)["gateway_state"] == "processing"

    # An archived phone's key is refused until the phone is reactivated.
    api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"active": False})
    for endpoint in ("heartbeat", "pending", "stats"):
        out = api.device(phone["api_key"], endpoint, {}, expect=401)
        assert "archived" in out["error"]
    api.admin("PATCH", f"/phones/{phone['id']}", 200, json={"active": True})
    assert api.device(phone["api_key"], "stats", {})["phones"][0]["id"] == phone["id"]


def test_the_api_key_is_accepted_in_the_body_as_api_key_or_params_api_key(api):
    phone = api.phone()
    key = phone["api_key"]
    sms_id = _handed_out_sms(api, phone)
    for endpoint, body in VALID_BODIES.items():
        payload = _fill(body, sms_id)
        for keyed in ({**payload, "api_key": key}, {**payload, "params": {"api_key": key}}):
            response = api.client.post(_path(endpoint, sms_id), json=keyed)
            assert response.status_code == 200, (endpoint, keyed, response.text)
            assert response.json()["success"] is True
    # The body key really authenticated this phone: its confirm was applied.
    assert api.sms(sms_id)["gateway_state"] == "sending"
    assert api.get_phone(phone["id"])["fcm_token"] == "fcm-token"


ADMIN_ROUTES = [
    ("GET", "/admin/phones"),
    ("POST", "/admin/phones"),
    ("GET", "/admin/phones/1"),
    ("PATCH", "/admin/phones/1"),
    ("POST", "/admin/phones/1/api-key"),
    ("POST", "/admin/partners"),
    ("POST", "/admin/campaigns"),
    ("GET", "/admin/campaigns"),
    ("GET", "/admin/campaigns/1"),
    ("PATCH", "/admin/campaigns/1"),
    ("POST", "/admin/campaigns/1/reassign"),
    ("POST", "/admin/sms"),
    ("GET", "/admin/sms"),
    ("GET", "/admin/sms/export"),
    ("GET", "/admin/sms/1"),
    ("POST", "/admin/blacklist"),
    ("GET", "/admin/blacklist"),
    ("DELETE", "/admin/blacklist/+420777111222"),
    ("GET", "/admin/counters"),
    ("GET", "/admin/clock"),
    ("PUT", "/admin/clock"),
]


def test_admin_routes_need_the_admin_token(http_api):
    body = {"name": "Phone", "phone_number": "+420777000001"}
    problems = []
    for method, path in ADMIN_ROUTES:
        for headers, expected in (
            ({}, "Missing admin token"),
            ({"Authorization": "Bearer wrong"}, "Invalid admin token"),
            ({"Authorization": f"Basic {ADMIN_TOKEN}"}, "Missing admin token"),
            ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, "Invalid admin token"),
        ):
            kw = {"json": body} if method in ("POST", "PATCH", "PUT") else {}
            response = http_api.client.request(method, path, headers=headers, **kw)
            if response.status_code != 401 or expected not in response.json()["error"]:
                problems.append((method, path, headers, response.status_code, response.text))
    _no_problems(problems)
    assert http_api.admin("GET", "/phones", 200).json() == []


# -- one phone cannot touch another's SMS ---------------------------------------------------


def test_a_phone_cannot_see_or_touch_another_phones_sms(api):
    owner = api.phone()
    other = api.phone()
    sms_id = _handed_out_sms(api, owner)
    (queued,) = api.enqueue({"number": OTHER, "body": "Dva", "phone_id": owner["id"]})["ids"]
    key = other["api_key"]

    out = api.device(key, f"confirm/{sms_id}", {"status": "sent"}, expect=404)
    assert str(sms_id) in out["error"]
    api.device(key, f"confirm/{queued}", {"status": "error"}, expect=404)
    batch = api.device(key, "confirm-batch", {"results": [{"id": sms_id, "status": "sent"}]})
    assert batch["processed"] == 0 and batch["ack_ids"] == []
    assert [(e["index"], e["id"]) for e in batch["errors"]] == [(0, sms_id)]
    assert api.device(key, "pending", {"limit": 100})["sms_list"] == []
    reconciled = api.device(key, "reconcile", {"known_ids": [sms_id, queued]})
    assert reconciled["not_found_ids"] == sorted([sms_id, queued])

    assert api.sms(sms_id)["gateway_state"] == "processing"
    assert api.sms(queued)["gateway_state"] == "pending"
    assert api.get_phone(other["id"])["sent_today"] == 0
    assert api.get_phone(owner["id"])["sent_today"] == 0
    # The owner still can.
    api.device(owner["api_key"], f"confirm/{sms_id}", {"status": "sent"})
    assert api.sms(sms_id)["state"] == "sent"

    # Nor another phone's inbound SMS.
    record = api.device(owner["api_key"], "inbound", {"from_number": SENDER, "message": "Hi"})
    history = api.device(key, "inbound-history", {})
    assert history["total"] == 0 and history["messages"] == []
    out = api.device(key, "inbound-blacklist", {"ids": [record["id"]]})
    assert out["not_found_ids"] == [record["id"]] and out["blacklisted"] == 0
    assert api.admin("GET", "/blacklist", 200).json() == []
    (mine,) = api.device(owner["api_key"], "inbound-history", {})["messages"]
    assert mine["blacklisted"] is False


# -- batches: bad items reported, good items applied ------------------------------------


def test_confirm_batch_applies_good_items_and_lists_bad_ones(api):
    phone = api.phone()
    key = phone["api_key"]
    ids = api.enqueue(*({"number": f"+4209998887{i:02d}", "body": "x"} for i in range(3)))["ids"]
    api.device(key, "pending", {"limit": 10})
    sent, untouched, failed = ids
    out = api.device(
        key,
        "confirm-batch",
        {
            "results": [
                {"id": sent, "status": "sent"},
                "not an object",
                {"status": "sent"},
                {"id": untouched, "status": "done"},
                {"id": 987654, "status": "sent"},
                {"sms_id": failed, "status": "error", "error_message": "No signal"},
                {"id": True, "status": "sent"},
            ]
        },
    )
    assert out["processed"] == 2
    assert out["ack_ids"] == [sent, failed]
    errors = {e["index"]: e for e in out["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 6]
    assert "JSON object" in errors[1]["error"]
    assert "id" in errors[2]["error"] and "required" in errors[2]["error"]
    assert errors[3]["id"] == untouched and "status" in errors[3]["error"]
    assert errors[4]["id"] == 987654 and "987654" in errors[4]["error"]
    assert errors[6]["id"] is None
    assert out["sent_today"] == 1

    assert api.sms(sent)["state"] == "sent"
    assert api.sms(untouched)["gateway_state"] == "processing"
    assert api.sms(failed)["state"] == "error"
    assert api.sms(failed)["error_message"] == "No signal"
    assert api.get_phone(phone["id"])["sent_today"] == 1

    # A batch of only bad items is still a 200 that applies nothing.
    out = api.device(key, "confirm-batch", {"results": [1, None, {"id": untouched}, []]})
    assert out["processed"] == 0 and out["ack_ids"] == []
    assert [e["index"] for e in out["errors"]] == [0, 1, 2, 3]
    assert out["errors"][2]["id"] == untouched and "status" in out["errors"][2]["error"]
    assert api.sms(untouched)["gateway_state"] == "processing"


def test_inbound_batch_records_good_items_and_lists_bad_ones(api):
    phone = api.phone()
    key = phone["api_key"]
    stopper = "+420777333444"
    out = api.device(
        key,
        "inbound-batch",
        {
            "messages": [
                {"from": SENDER, "body": "Ahoj", "date": 1772438400000},
                7,
                {"from": SENDER},
                {"from_number": "", "message": "x"},
                {"from_number": stopper, "message": "STOP", "received_at": "2026-03-01T10:00:00Z"},
                {"from": SENDER, "body": "Ahoj", "date": 1772438400000},
                {"from": SENDER, "body": "x", "date": "not a date"},
            ]
        },
    )
    assert out["recorded"] == 2 and out["processed"] == 2
    assert out["duplicates_skipped"] == 1
    assert out["blacklisted"] == 1
    errors = {e["index"]: e["error"] for e in out["errors"]}
    assert sorted(errors) == [1, 2, 3, 6]
    assert "message" in errors[2] and "from_number" in errors[3] and "date" in errors[6]
    assert out["skipped"] == 1 + len(errors)

    history = api.device(key, "inbound-history", {})
    assert history["total"] == 2
    assert sorted(m["from_number"] for m in history["messages"]) == sorted([SENDER, stopper])
    blacklisted = [e["number"] for e in api.admin("GET", "/blacklist", 200).json()]
    assert blacklisted == [stopper]


def test_admin_enqueue_stores_good_items_and_lists_bad_ones(api):
    phone = api.phone()
    out = api.enqueue(
        {"number": "+420999888001", "body": "first"},
        "not an object",
        {"number": "+420999888002"},
        {"number": "+420999888003", "body": "x", "colour": "red"},
        {"number": "abc", "body": "bad number"},
        {"number": "+420999888004", "body": "x", "phone_id": 987654},
        {"number": "+420999888005", "body": "x", "campaign_id": 987655},
        {"number": "777 111 222", "body": "last"},
    )
    ids = out["ids"]
    assert len(ids) == 8
    assert [i is None for i in ids] == [False, True, True, True, False, True, True, False]
    errors = {e["index"]: e["error"] for e in out["errors"]}
    assert sorted(errors) == [1, 2, 3, 5, 6]
    assert "body" in errors[2] and "colour" in errors[3]
    assert "987654" in errors[5] and "987655" in errors[6]
    assert out["states"] == {"pending": 2, "error": 1}
    assert out["failures"] == {"sms_number_format": 1}
    assert out["queued"] == 2

    first, bad, last = api.sms(ids[0]), api.sms(ids[4]), api.sms(ids[7])
    assert (first["body"], first["state"], first["gateway_phone_id"]) == (
        "first",
        "pending",
        phone["id"],
    )
    assert (bad["state"], bad["failure_type"]) == ("error", "sms_number_format")
    assert (last["number_e164"], last["state"]) == ("+420777111222", "pending")
    assert api.admin("GET", "/counters", 200).json()["total_sms"] == 3


# -- rejected requests change nothing ----------------------------------------------------------


def test_rejected_requests_leave_the_database_unchanged(api):
    phone = api.phone()
    key = phone["api_key"]
    sms_id = _handed_out_sms(api, phone)
    (queued,) = api.enqueue({"number": OTHER, "body": "Druhá", "phone_id": phone["id"]})["ids"]
    before = (api.sms(sms_id), api.sms(queued), api.get_phone(phone["id"]))

    api.device(key, "confirm-batch", {"results": []}, expect=422)
    api.device(key, "confirm-batch", {"results": {"id": sms_id, "status": "sent"}}, expect=422)
    too_many = {"results": [{"id": sms_id, "status": "sent"}] * 501}
    out = api.device(key, "confirm-batch", too_many, expect=422)
    assert "500" in out["error"] and "501" in out["error"]
    api.device(key, f"confirm/{sms_id}", {"status": "done"}, expect=422)
    broken = _raw(api.client, f"/sms-gateway/confirm/{sms_id}", b'{"status": "sent"', key)
    assert broken.status_code == 400
    api.device("wrong-key", f"confirm/{sms_id}", {"status": "sent"}, expect=401)
    api.device(key, "pending", {"limit": 0}, expect=422)
    api.device(key, "heartbeat", {"battery_level": 50, "signal_strength": 3}, expect=422)
    api.device(key, "register-fcm", {"fcm_token": ""}, expect=422)
    api.device(key, "inbound", {"from_number": SENDER}, expect=422)
    api.device(key, "inbound-batch", {"messages": []}, expect=422)
    api.device(key, "inbound-batch", {"messages": {"from": SENDER, "body": "x"}}, expect=422)
    api.enqueue(expect=422)
    api.admin("POST", "/blacklist", 422, json={"numbers": [OTHER, "abc"]})
    api.admin("PATCH", f"/phones/{phone['id']}", 422, json={"daily_limit": -1, "name": "New"})

    assert (api.sms(sms_id), api.sms(queued), api.get_phone(phone["id"])) == before
    assert api.sms(sms_id)["gateway_state"] == "processing"
    assert api.device(key, "inbound-history", {})["total"] == 0
    assert api.admin("GET", "/blacklist", 200).json() == []
    assert api.admin("GET", "/counters", 200).json()["total_sms"] == 2
