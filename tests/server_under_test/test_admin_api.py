"""The admin API: phones, partners, campaigns, SMS, blacklist, counters and the clock."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server_under_test import Settings, create_app
from tests.conftest import ADMIN_TOKEN, Api

START = "2026-03-02T08:00:00Z"  # the ``clock`` fixture's time, as the API shows it (UTC)


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[Api]:
    """Like ``api``, but a server crash comes back as a 500 response instead of raising."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


def _sms_page(api: Api, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.admin("GET", "/sms", 200, params=params).json()
    return result


# -- phones ------------------------------------------------------------------------------


def test_a_new_phone_gets_defaults_e164_numbers_and_its_own_key(api):
    created = api.admin(
        "POST",
        "/phones",
        201,
        json={"name": "Alpha", "phone_number": "608 987 654", "phone_number_2": "+420 777 123 456"},
    ).json()
    assert created["phone_number"] == "+420608987654"
    assert created["phone_number_2"] == "+420777123456"
    limits = ("daily_limit", "monthly_limit", "month_start_day", "rate_limit", "heartbeat_timeout")
    assert [created[k] for k in limits] == [500, 0, 1, 100, 5]
    assert created["active"] is True
    assert created["state"] == "offline" and created["last_heartbeat"] is None
    assert created["domain_filter"] is None
    assert (created["sent_today"], created["sent_month"], created["sent_total"]) == (0, 0, 0)
    assert created["next_month_reset"] == "2026-04-01"
    assert created["created_at"] == START
    assert len(created["api_key"]) >= 20

    second = api.admin(
        "POST",
        "/phones",
        201,
        json={
            "name": "Beta",
            "phone_number": "00420 777 000 111",
            "daily_limit": 10,
            "monthly_limit": 300,
            "month_start_day": 15,
            "rate_limit": 7,
            "heartbeat_timeout": 30,
            "active": False,
        },
    ).json()
    assert second["phone_number"] == "+420777000111" and second["phone_number_2"] is None
    assert [second[k] for k in limits] == [10, 300, 15, 7, 30]
    assert second["active"] is False
    assert second["next_month_reset"] == "2026-03-15"
    assert second["api_key"] != created["api_key"]

    # Listed in id order, and each readable by id, exactly as created.
    listed = api.admin("GET", "/phones", 200).json()
    assert listed == [created, second]
    assert api.get_phone(created["id"]) == created
    assert api.get_phone(second["id"]) == second
    # The new key works for this phone.
    assert api.device(created["api_key"], "stats", {})["phones"][0]["id"] == created["id"]


def test_creating_a_phone_with_bad_values_is_a_422_naming_the_problem(api):
    ok = {"name": "Phone", "phone_number": "+420777000111"}
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"phone_number": "abc"}, ["phone_number", "'abc'", "not a phone number"]),
        ({"phone_number": "12"}, ["phone_number"]),
        ({"phone_number_2": "123"}, ["phone_number_2", "'123'"]),
        ({"name": ""}, ["name"]),
        ({"daily_limit": "5"}, ["daily_limit"]),
        ({"daily_limit": -1}, ["daily_limit"]),
        ({"month_start_day": 29}, ["month_start_day"]),
        ({"rate_limit": 0}, ["rate_limit"]),
        ({"active": "yes"}, ["active"]),
        ({"colour": "red"}, ["colour"]),
        ({"domain_filter": "garbage(("}, ["cannot be parsed"]),
        ({"domain_filter": "[('nope', '=', 1)]"}, ["Unknown field", "'nope'"]),
        ({"domain_filter": "[('customer_rank', '>', 'abc')]"}, ["customer_rank", "integer"]),
        ({"domain_filter": "[('name', 'between', 'x')]"}, ["operator", "'between'"]),
        ({"domain_filter": "[('name', 'like')]"}, ["Term 1", "triple"]),
    ]
    problems = []
    for change, expected in cases:
        response = api.admin("POST", "/phones", json={**ok, **change})
        error = response.json().get("error", "")
        if response.status_code != 422 or not all(e in error for e in expected):
            problems.append((change, response.status_code, response.text))
    assert problems == [], "\n".join(map(repr, problems))
    missing = api.admin("POST", "/phones", 422, json={"name": "Phone"}).json()
    assert missing["detail"] == [{"field": "phone_number", "problem": "Field required"}]
    assert api.admin("GET", "/phones", 200).json() == []

    # A valid filter is stored (in canonical form) and read back.
    phone = api.admin(
        "POST", "/phones", 201, json={**ok, "domain_filter": '[["country_id.code", "=", "CZ"]]'}
    ).json()
    assert "country_id.code" in phone["domain_filter"] and "CZ" in phone["domain_filter"]


def test_patch_changes_only_the_fields_given(api):
    phone = api.phone(
        phone_number_2="+420777123456",
        daily_limit=10,
        domain_filter="[('country_id.code', '=', 'CZ')]",
    )
    phone_id = phone["id"]
    before = api.get_phone(phone_id)

    after = api.admin("PATCH", f"/phones/{phone_id}", 200, json={"daily_limit": 20}).json()
    assert after == {**before, "daily_limit": 20}
    after = api.admin(
        "PATCH", f"/phones/{phone_id}", 200, json={"name": "Renamed", "rate_limit": 5}
    ).json()
    assert after == {**before, "daily_limit": 20, "name": "Renamed", "rate_limit": 5}
    assert api.admin("PATCH", f"/phones/{phone_id}", 200, json={}).json() == after

    # The nullable fields may be cleared with an explicit null.
    cleared = api.admin("PATCH", f"/phones/{phone_id}", 200, json={"domain_filter": None}).json()
    assert cleared == {**after, "domain_filter": None}
    moved = api.admin("PATCH", f"/phones/{phone_id}", 200, json={"month_start_day": 15}).json()
    assert moved["next_month_reset"] == "2026-03-15"
    current = api.get_phone(phone_id)

    # Explicit null for a field that cannot be null is refused, naming the field.
    for field in (
        "name",
        "phone_number",
        "daily_limit",
        "monthly_limit",
        "month_start_day",
        "rate_limit",
        "heartbeat_timeout",
        "active",
    ):
        out = api.admin("PATCH", f"/phones/{phone_id}", 422, json={field: None}).json()
        assert field in out["error"] and "null" in out["error"], out
    for body, expected in (
        ({"domain_filter": "[('nope', '=', 1)]"}, "'nope'"),
        ({"phone_number": "xyz"}, "'xyz'"),
        ({"daily_limit": -5}, "daily_limit"),
        ({"api_key": "mine"}, "api_key"),
        ({"sent_today": 0}, "sent_today"),
    ):
        out = api.admin("PATCH", f"/phones/{phone_id}", 422, json=body).json()
        assert expected in out["error"], (body, out)
    assert api.get_phone(phone_id) == current


def test_patching_one_sim_number_keeps_the_other(lenient):
    phone = lenient.phone(phone_number="+420608987654", phone_number_2="+420777123456")
    path = f"/phones/{phone['id']}"
    problems = []
    for body, expected in (
        ({"phone_number": "608 000 111"}, ("+420608000111", "+420777123456")),
        ({"phone_number_2": "777 000 222"}, ("+420608000111", "+420777000222")),
        ({"phone_number_2": None}, ("+420608000111", None)),
    ):
        response = lenient.admin("PATCH", path, json=body)
        if response.status_code != 200:
            problems.append((body, response.status_code, response.text))
        shown = lenient.get_phone(phone["id"])
        if (shown["phone_number"], shown["phone_number_2"]) != expected:
            problems.append((body, "numbers now", shown["phone_number"], shown["phone_number_2"]))
    assert problems == [], "\n".join(map(repr, problems))


def test_rotating_the_api_key_retires_the_old_one(api):
    phone = api.phone()
    old = phone["api_key"]
    rotated = api.admin("POST", f"/phones/{phone['id']}/api-key", 200).json()
    new = rotated["api_key"]
    assert new != old
    assert {k: v for k, v in rotated.items() if k != "api_key"} == {
        k: v for k, v in api.get_phone(phone["id"]).items() if k != "api_key"
    }
    assert api.get_phone(phone["id"])["api_key"] == new
    out = api.device(old, "heartbeat", {}, expect=401)
    assert "Invalid API key" in out["error"]
    api.device(old, "pending", {}, expect=401)
    assert api.device(new, "stats", {})["phones"][0]["id"] == phone["id"]
    assert api.client.post("/sms-gateway/heartbeat", json={"api_key": new}).status_code == 200


# -- partners and campaigns ------------------------------------------------------------------


def test_partners_are_imported_in_order_with_their_categories(api):
    vip_phone = api.phone(domain_filter="[('category_id.name', '=', 'VIP')]")
    fallback = api.phone()
    ids = api.admin(
        "POST",
        "/partners",
        201,
        json={
            "partners": [
                {"name": "Zdena", "mobile": "777 555 111", "categories": ["VIP", "Praha"]},
                {"name": "Adam", "phone": "+420777555222", "categories": ["Praha"]},
                {"name": "Marie", "mobile": "+420777555333", "categories": ["VIP", "VIP"]},
            ]
        },
    ).json()["ids"]
    assert len(ids) == 3 and ids == sorted(ids) and len(set(ids)) == 3
    more = api.admin("POST", "/partners", 201, json={"partners": [{"name": "Eva"}]}).json()
    assert more["ids"][0] > ids[-1]

    # The categories were stored: only VIP partners reach the phone filtered on VIP.
    sms_ids = api.enqueue(
        {"number": "+420777555111", "body": "a"},
        {"number": "777 555 222", "body": "b"},
        {"number": "+420777555333", "body": "c"},
    )["ids"]
    got = [api.sms(i) for i in sms_ids]
    assert [s["partner_id"] for s in got] == ids
    # Zdena and Marie (VIP) may go to either phone: ties go to the lowest id, the VIP phone,
    # then to the less loaded one; Adam is not VIP, so only the fallback takes him.
    assert [s["gateway_phone_id"] for s in got] == [
        vip_phone["id"],
        fallback["id"],
        vip_phone["id"],
    ]

    for bad, field in (
        ({"name": ""}, "name"),
        ({"name": "X", "country_code": "cz"}, "country_code"),
        ({"name": "X", "categories": "VIP"}, "categories"),
        ({"name": "X", "shoe_size": 44}, "shoe_size"),
    ):
        out = api.admin("POST", "/partners", 422, json={"partners": [bad]}).json()
        assert field in out["error"], (bad, out)
    api.admin("POST", "/partners", 422, json={"partners": []})


def test_campaigns_force_a_phone_and_can_be_paused(api):
    first = api.phone()
    forced = api.phone()
    campaign = api.admin(
        "POST", "/campaigns", 201, json={"name": "Jaro", "forced_phone_id": forced["id"]}
    ).json()
    assert campaign["name"] == "Jaro" and campaign["forced_phone_id"] == forced["id"]
    assert campaign["paused"] is False and campaign["sms_states"] == {}
    assert campaign["created_at"] == START

    out = api.admin("POST", "/campaigns", 404, json={"name": "X", "forced_phone_id": 4242}).json()
    assert "4242" in out["error"]
    api.admin("GET", f"/campaigns/{campaign['id'] + 1}", 404)
    api.admin("POST", "/campaigns", 422, json={"name": "X", "paused": "no"})

    ids = api.enqueue(
        *(
            {"number": f"+42099988877{i}", "body": "x", "campaign_id": campaign["id"]}
            for i in range(2)
        )
    )["ids"]
    # Forced: both go to the second phone, although the first would win a tie.
    assert [api.sms(i)["gateway_phone_id"] for i in ids] == [forced["id"]] * 2
    assert api.admin("GET", f"/campaigns/{campaign['id']}", 200).json()["sms_states"] == {
        "pending": 2
    }

    paused = api.admin("PATCH", f"/campaigns/{campaign['id']}", 200, json={"paused": True}).json()
    assert paused["paused"] is True and paused["name"] == "Jaro"
    assert api.device(forced["api_key"], "pending", {"limit": 10})["sms_list"] == []
    assert api.device(first["api_key"], "pending", {"limit": 10})["sms_list"] == []
    resumed = api.admin(
        "PATCH", f"/campaigns/{campaign['id']}", 200, json={"paused": False, "name": "Léto"}
    ).json()
    assert (resumed["paused"], resumed["name"]) == (False, "Léto")
    picked = api.device(forced["api_key"], "pending", {"limit": 10})["sms_list"]
    assert [s["id"] for s in picked] == ids


# -- SMS -----------------------------------------------------------------------------------------


def test_enqueue_answers_ids_in_input_order_with_states_and_failures(api):
    # No phone online yet: the SMS fails, saying why.
    (lonely,) = api.enqueue({"number": "+420999888700", "body": "nobody"})["ids"]
    alone = api.sms(lonely)
    assert (alone["state"], alone["failure_type"]) == ("error", "sms_server")
    assert "online" in alone["error_message"]

    phone = api.phone()
    api.admin("POST", "/blacklist", 201, json={"numbers": ["+420999888703"]})
    bodies = ["one", "two", "three", "four", "five"]
    numbers = ["+420999888701", "abc", "+420999888703", "999 888 704", "+420999888705"]
    out = api.enqueue(*({"number": n, "body": b} for n, b in zip(numbers, bodies, strict=True)))
    ids = out["ids"]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > lonely
    assert out["states"] == {"pending": 3, "error": 1, "canceled": 1}
    assert out["failures"] == {"sms_number_format": 1, "sms_blacklist": 1}
    assert out["queued"] == 3 and out["errors"] == []

    stored = [api.sms(i) for i in ids]
    assert [s["body"] for s in stored] == bodies
    assert [s["number"] for s in stored] == numbers
    assert [s["number_e164"] for s in stored] == [
        "+420999888701",
        None,
        "+420999888703",
        "+420999888704",
        "+420999888705",
    ]
    assert [s["state"] for s in stored] == ["pending", "error", "canceled", "pending", "pending"]
    assert (
        stored[1]["failure_type"] == "sms_number_format" and "'abc'" in stored[1]["error_message"]
    )
    assert stored[2]["failure_type"] == "sms_blacklist"
    first = stored[0]
    assert first["gateway_phone_id"] == phone["id"] and first["gateway_state"] == "pending"
    assert first["segments"] == 1 and len(first["uuid"]) == 36
    assert first["created_at"] == START and first["sent_at"] is None
    assert len({s["uuid"] for s in stored}) == 5


def _mixed_queue(api: Api) -> dict[str, Any]:
    """Two phones, a campaign on the second, and SMS in several states."""
    a = api.phone()
    b = api.phone()
    campaign = api.admin(
        "POST", "/campaigns", 201, json={"name": "C", "forced_phone_id": b["id"]}
    ).json()
    api.admin("POST", "/blacklist", 201, json={"numbers": ["+420999000009"]})
    on_a = api.enqueue(
        *({"number": f"+42099900000{i}", "body": f"a{i}", "phone_id": a["id"]} for i in range(3))
    )["ids"]
    on_b = api.enqueue(
        *(
            {"number": f"+42099900001{i}", "body": f"b{i}", "campaign_id": campaign["id"]}
            for i in range(2)
        )
    )["ids"]
    (failed, canceled) = api.enqueue(
        {"number": "abc", "body": "bad"}, {"number": "+420999000009", "body": "stop"}
    )["ids"]
    picked = api.device(a["api_key"], "pending", {"limit": 1})["sms_list"]
    assert [s["id"] for s in picked] == on_a[:1]
    return {
        "a": a,
        "b": b,
        "campaign": campaign,
        "on_a": on_a,
        "on_b": on_b,
        "failed": failed,
        "canceled": canceled,
        "all": sorted([*on_a, *on_b, failed, canceled]),
    }


def test_sms_list_filters_and_pages(api):
    q = _mixed_queue(api)
    everything = _sms_page(api)
    assert [s["id"] for s in everything["sms"]] == q["all"]
    assert everything["total"] == 7 and everything["limit"] == 100 and everything["offset"] == 0

    expectations: list[tuple[dict[str, Any], list[int]]] = [
        ({"state": "pending"}, [*q["on_a"], *q["on_b"]]),
        ({"state": "error"}, [q["failed"]]),
        ({"state": "canceled"}, [q["canceled"]]),
        ({"state": "sent"}, []),
        ({"gateway_state": "processing"}, q["on_a"][:1]),
        ({"gateway_state": "pending"}, [*q["on_a"][1:], *q["on_b"]]),
        ({"gateway_state": "error"}, [q["failed"], q["canceled"]]),
        ({"phone_id": q["a"]["id"]}, q["on_a"]),
        ({"campaign_id": q["campaign"]["id"]}, q["on_b"]),
        ({"number": "+420999000011"}, q["on_b"][1:]),
        ({"number": "+420999000009"}, [q["canceled"]]),
        ({"state": "pending", "phone_id": q["b"]["id"]}, q["on_b"]),
        ({"state": "error", "phone_id": q["a"]["id"]}, []),
    ]
    for params, expected in expectations:
        page = _sms_page(api, **params)
        assert [s["id"] for s in page["sms"]] == sorted(expected), params
        assert page["total"] == len(expected), params

    pages = [_sms_page(api, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(p["sms"]) for p in pages] == [2, 2, 2, 1]
    assert [s["id"] for p in pages for s in p["sms"]] == q["all"]
    assert {p["total"] for p in pages} == {7}
    beyond = _sms_page(api, limit=2, offset=50)
    assert beyond["sms"] == [] and beyond["total"] == 7
    filtered = _sms_page(api, state="pending", limit=2, offset=2)
    assert [s["id"] for s in filtered["sms"]] == [*q["on_a"], *q["on_b"]][2:4]
    assert filtered["total"] == 5

    for params, field in (
        ({"state": "bogus"}, "state"),
        ({"gateway_state": "done"}, "gateway_state"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"phone_id": 0}, "phone_id"),
        ({"campaign_id": "x"}, "campaign_id"),
    ):
        out = api.admin("GET", "/sms", 422, params=params).json()
        assert field in out["error"], (params, out)

    one = api.sms(q["on_b"][0])
    assert one == next(s for s in everything["sms"] if s["id"] == q["on_b"][0])
    assert one["campaign_id"] == q["campaign"]["id"] and one["gateway_phone_id"] == q["b"]["id"]


def test_sms_export_as_csv_and_jsonl_with_filters(api):
    q = _mixed_queue(api)
    (tricky,) = api.enqueue(
        {"number": "+420999000020", "body": 'Ahoj, "světe"\nřádek 2', "phone_id": q["a"]["id"]}
    )["ids"]
    every = [*q["all"], tricky]

    response = api.admin("GET", "/sms/export", 200, params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    for column in ("id", "uuid", "number", "number_e164", "body", "state", "gateway_state"):
        assert column in header
    assert [int(r[header.index("id")]) for r in rows] == every
    assert all(len(r) == len(header) for r in rows)
    by_id = {int(r[header.index("id")]): dict(zip(header, r, strict=True)) for r in rows}
    assert by_id[tricky]["body"] == 'Ahoj, "světe"\nřádek 2'
    assert by_id[q["canceled"]]["state"] == "canceled"

    filtered = api.admin(
        "GET", "/sms/export", 200, params={"format": "csv", "state": "pending"}
    ).text
    _, *pending_rows = list(csv.reader(io.StringIO(filtered)))
    assert [int(r[0]) for r in pending_rows] == [*q["on_a"], *q["on_b"], tricky]

    response = api.admin("GET", "/sms/export", 200, params={"format": "jsonl"})
    assert "ndjson" in response.headers["content-type"]
    lines = response.text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == every
    listed = {s["id"]: s for s in _sms_page(api)["sms"]}
    for record in records:
        assert record["body"] == listed[record["id"]]["body"]
        assert record["state"] == listed[record["id"]]["state"]
    default = api.admin("GET", "/sms/export", 200).text
    assert default.splitlines() == lines

    on_campaign = api.admin(
        "GET", "/sms/export", 200, params={"campaign_id": q["campaign"]["id"]}
    ).text.splitlines()
    assert [json.loads(line)["id"] for line in on_campaign] == q["on_b"]
    nothing = api.admin("GET", "/sms/export", 200, params={"format": "csv", "state": "sent"})
    assert list(csv.reader(io.StringIO(nothing.text))) == [header]
    assert api.admin("GET", "/sms/export", 200, params={"state": "sent"}).text == ""
    out = api.admin("GET", "/sms/export", 422, params={"format": "xml"}).json()
    assert "format" in out["error"]


# -- blacklist ------------------------------------------------------------------------------------


def test_blacklist_add_list_and_remove(api):
    phone = api.phone()
    x, y, z = "+420777111333", "+420777111444", "+420777111555"
    (in_flight,) = api.enqueue({"number": x, "body": "sent soon"})["ids"]
    api.device(phone["api_key"], "pending", {"limit": 10})
    queued = api.enqueue(
        {"number": x, "body": "q1"},
        {"number": "777 111 333", "body": "q2"},
        {"number": z, "body": "q3"},
    )["ids"]

    out = api.admin(
        "POST",
        "/blacklist",
        201,
        json={"numbers": ["777 111 333", x, "+420 777 111 444"], "reason": "asked"},
    ).json()
    assert sorted(out["added"]) == [x, y]
    assert out["canceled_sms"] == 2
    assert [api.sms(i)["state"] for i in queued] == ["canceled", "canceled", "pending"]
    assert {api.sms(i)["failure_type"] for i in queued[:2]} == {"sms_blacklist"}
    assert api.sms(in_flight)["gateway_state"] == "processing"

    again = api.admin("POST", "/blacklist", 201, json={"numbers": [x, y, z]}).json()
    assert again["added"] == [z] and again["canceled_sms"] == 1
    assert api.sms(queued[2])["state"] == "canceled"

    listed = api.admin("GET", "/blacklist", 200).json()
    assert [e["number"] for e in listed] == [*sorted([x, y]), z]
    assert [e["reason"] for e in listed] == ["asked", "asked", None]
    assert all(e["created_at"] == START for e in listed)
    page = api.admin("GET", "/blacklist", 200, params={"limit": 1, "offset": 1}).json()
    assert page == listed[1:2]

    api.admin("DELETE", f"/blacklist/{x}", 204)
    api.admin("DELETE", "/blacklist/777 111 444", 204)  # normalised like everywhere else
    assert [e["number"] for e in api.admin("GET", "/blacklist", 200).json()] == [z]
    out = api.admin("DELETE", f"/blacklist/{x}", 404).json()
    assert x in out["error"]
    out = api.admin("DELETE", "/blacklist/abc", 422).json()
    assert "'abc'" in out["error"]
    # Removal does not revive what was cancelled; new SMS to the number go out again.
    assert api.sms(queued[0])["state"] == "canceled"
    (fresh,) = api.enqueue({"number": x, "body": "back"})["ids"]
    assert api.sms(fresh)["state"] == "pending"

    out = api.admin("POST", "/blacklist", 422, json={"numbers": ["abc"]}).json()
    assert "'abc'" in out["error"]
    api.admin("POST", "/blacklist", 422, json={"numbers": []})
    api.admin("POST", "/blacklist", 422, json={"numbers": x})
    assert [e["number"] for e in api.admin("GET", "/blacklist", 200).json()] == [z]


# -- counters and clock -------------------------------------------------------------------------


def test_counters_add_up(api):
    q = _mixed_queue(api)
    sent_id = q["on_a"][0]
    api.device(q["a"]["api_key"], f"confirm/{sent_id}", {"status": "sent"})
    counters = api.admin("GET", "/counters", 200).json()

    assert [(p["id"], p["name"]) for p in counters["phones"]] == [
        (q["a"]["id"], q["a"]["name"]),
        (q["b"]["id"], q["b"]["name"]),
    ]
    a, b = counters["phones"]
    assert (a["sent_today"], a["sent_month"], a["sent_total"]) == (1, 1, 1)
    assert (b["sent_today"], a["daily_limit"]) == (0, 500)
    assert a["state"] == "online"

    assert counters["sms"] == {
        "sent": {"sent": 1},
        "pending": {"pending": 4},
        "error": {"error": 1},
        "canceled": {"error": 1},
    }
    per_state = sum(n for by_gateway in counters["sms"].values() for n in by_gateway.values())
    assert per_state == counters["total_sms"] == _sms_page(api)["total"] == 7


def test_the_manual_clock_can_be_read_set_and_advanced(api):
    now = api.admin("GET", "/clock", 200).json()
    assert now == {"success": True, "now": START, "kind": "manual", "time_scale": None}

    out = api.admin("PUT", "/clock", 200, json={"now": "2026-05-01T12:00:00+02:00"}).json()
    assert out["now"] == "2026-05-01T10:00:00Z" and out["kind"] == "manual"
    assert api.admin("GET", "/clock", 200).json()["now"] == "2026-05-01T10:00:00Z"
    # The server uses it: what it stores now carries the new time.
    assert api.phone(online=False)["created_at"] == "2026-05-01T10:00:00Z"

    out = api.admin("PUT", "/clock", 200, json={"advance_seconds": 90.5}).json()
    assert out["now"] == "2026-05-01T10:01:30.500000Z"

    for body, expected in (
        ({}, "exactly one"),
        ({"now": "2026-01-01T00:00:00Z", "advance_seconds": 5}, "exactly one"),
        ({"advance_seconds": -1}, "advance_seconds"),
        ({"now": "garbage"}, "now"),
        ({"when": "2026-01-01T00:00:00Z"}, "when"),
    ):
        out = api.admin("PUT", "/clock", 422, json=body).json()
        assert expected in out["error"], (body, out)
    assert api.admin("GET", "/clock", 200).json()["now"] == "2026-05-01T10:01:30.500000Z"


def test_a_server_on_the_system_clock_refuses_to_set_it(db):
    app = create_app(Settings(database_url=db.url, admin_token=ADMIN_TOKEN), database=db)
    with TestClient(app) as client:
        api = Api(client)
        clock = api.admin("GET", "/clock", 200).json()
        assert clock["kind"] == "system" and clock["time_scale"] == 1.0
        shown = datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))
        assert abs(shown - datetime.now(UTC)) < timedelta(minutes=1)
        for body in ({"now": "2026-01-01T00:00:00Z"}, {"advance_seconds": 60}, {}):
            out = api.admin("PUT", "/clock", 409, json=body).json()
            assert "system clock" in out["error"] and "manual" in out["error"]
        assert api.admin("GET", "/clock", 200).json()["kind"] == "system"
