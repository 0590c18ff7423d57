"""Inbound SMS: STOP detection, blacklist, deduplication, history."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from server_under_test.services.inbound import is_stop
from tests.conftest import Api

SENDER = "+420999888777"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", True),
        ("stop", True),
        ("Stop prosím", True),
        ("Prosím STOP.", True),
        ("odhl. sms: STOP", True),
        ("nonstop", False),
        ("stopka", False),
        ("STOPA", False),
        ("autostop", False),
        ("nestopujte", False),
        ("", False),
    ],
)
def test_stop_is_a_keyword_not_a_substring(text, expected):
    """B10: the reference blacklists 'nonstop', 'stopka', 'STOPA'..."""
    assert is_stop(text, ("STOP",)) is expected


def test_reference_rule_b10_is_a_substring():
    assert is_stop("nonstop", ("STOP",), substring=True) is True


def test_stop_keywords_are_configurable(make_app):
    with TestClient(make_app(stop_keywords=("STOP", "ODHLASIT"))) as client:
        api = Api(client)
        phone = api.phone()
        out = api.device(
            phone["api_key"], "inbound", {"from_number": SENDER, "message": "odhlasit"}
        )
    assert out["is_stop"] is True and out["blacklisted"] is True


def test_stop_blacklists_and_cancels_queued_sms(api):
    phone = api.phone()
    (queued,) = api.enqueue({"number": SENDER, "body": "Akce"})["ids"]
    out = api.device(phone["api_key"], "inbound", {"from_number": "999 888 777", "message": "STOP"})
    assert out == {
        "success": True,
        "id": out["id"],
        "duplicate": False,
        "is_stop": True,
        "blacklisted": True,
        "partner_found": False,
    }
    numbers = [e["number"] for e in api.admin("GET", "/blacklist", 200).json()]
    assert numbers == [SENDER]
    assert api.sms(queued)["failure_type"] == "sms_blacklist"
    assert api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"] == []


def test_a_plain_reply_is_recorded_without_blacklisting(api):
    phone = api.phone()
    api.admin("POST", "/partners", 201, json={"partners": [{"name": "Jan", "mobile": SENDER}]})
    out = api.device(phone["api_key"], "inbound", {"from_number": SENDER, "message": "Dekuji"})
    assert (out["is_stop"], out["blacklisted"], out["partner_found"]) == (False, False, True)
    assert api.admin("GET", "/blacklist", 200).json() == []


def test_live_reports_within_the_window_are_one_record(api, clock):
    phone = api.phone()
    body = {"from_number": SENDER, "message": "STOP", "to_number": phone["phone_number"]}
    first = api.device(phone["api_key"], "inbound", body)
    clock.advance(timedelta(minutes=3))
    # The app's second path often cannot read the receiving number.
    second = api.device(phone["api_key"], "inbound", {**body, "to_number": ""})
    assert second["duplicate"] is True and second["id"] == first["id"]
    clock.advance(timedelta(minutes=30))
    third = api.device(phone["api_key"], "inbound", body)
    assert third["duplicate"] is False


def test_phone_timed_reports_dedupe_on_the_exact_time(api):
    phone = api.phone()
    item = {"from_number": SENDER, "message": "Ano", "received_at": "2026-03-02T07:30:00Z"}
    batch = {"messages": [item, item, {**item, "received_at": "2026-03-02T07:45:00Z"}]}
    out = api.device(phone["api_key"], "inbound-batch", batch)
    assert (out["recorded"], out["duplicates_skipped"], out["processed"]) == (2, 1, 2)
    # A rescan sends the same inbox again: nothing new.
    again = api.device(phone["api_key"], "inbound-batch", batch)
    assert (again["recorded"], again["duplicates_skipped"]) == (0, 3)


def test_rescan_of_a_live_reported_message_is_a_duplicate(api, clock):
    phone = api.phone()
    api.device(phone["api_key"], "inbound", {"from_number": SENDER, "message": "STOP"})
    # The app's inbox row: from/body/date (milliseconds), to unknown.
    received_ms = int(clock.now().timestamp() * 1000) - 20_000
    out = api.device(
        phone["api_key"],
        "inbound-batch",
        {"messages": [{"from": SENDER, "body": "STOP", "date": received_ms}]},
    )
    assert (out["recorded"], out["duplicates_skipped"]) == (0, 1)


def test_inbound_batch_counts_blacklisting(api):
    phone = api.phone()
    api.admin("POST", "/blacklist", 201, json={"numbers": ["+420111222333"]})
    out = api.device(
        phone["api_key"],
        "inbound-batch",
        {
            "messages": [
                {"from_number": SENDER, "message": "STOP"},
                {"from_number": "+420111222333", "message": "stop"},
                {"from_number": "+420444555666", "message": "Dobry den"},
                {"from_number": "", "message": "x"},
            ]
        },
    )
    assert out["recorded"] == 3
    assert out["blacklisted"] == 1 and out["already_blacklisted"] == 1
    assert out["skipped"] == 1 and out["errors"][0]["index"] == 3


def test_concurrent_duplicate_reports_give_one_record(app, api):
    """B7: the app reports each SMS two or three times at once."""
    phone = api.phone()
    results = []
    barrier = threading.Barrier(6)

    def report():
        with TestClient(app) as client:
            barrier.wait()
            response = client.post(
                "/sms-gateway/inbound",
                headers={"X-API-Key": phone["api_key"]},
                json={"from_number": SENDER, "message": "STOP", "received_at": 1772430000},
            )
            results.append(response.json())

    threads = [threading.Thread(target=report) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["id"] for r in results}) == 1
    assert sorted(r["duplicate"] for r in results) == [False] + [True] * 5
    history = api.device(phone["api_key"], "inbound-history", {})
    assert history["total"] == 1


def test_history_filters_and_pages(api):
    phone = api.phone()
    other = api.phone()
    for i, text in enumerate(["STOP", "Dekuji", "stop prosim", "Kdy?"]):
        api.device(
            phone["api_key"],
            "inbound",
            {"from_number": f"+42099988800{i}", "message": text, "received_at": 1772430000 + i},
        )
    api.device(other["api_key"], "inbound", {"from_number": SENDER, "message": "STOP"})
    key = phone["api_key"]
    everything = api.device(key, "inbound-history", {})
    assert everything["total"] == 4
    assert [m["message"] for m in everything["messages"]] == [
        "Kdy?",
        "stop prosim",
        "Dekuji",
        "STOP",
    ]
    assert api.device(key, "inbound-history", {"stop_only": True})["total"] == 2
    page = api.device(key, "inbound-history", {"limit": 1, "offset": 1})
    assert [m["message"] for m in page["messages"]] == ["stop prosim"]
    assert api.device(key, "inbound-history", {"search": "dek"})["total"] == 1
    assert api.device(key, "inbound-history", {"stop_not_blacklisted": True})["total"] == 0


def test_inbound_blacklist_marks_the_senders(api):
    phone = api.phone()
    key = phone["api_key"]
    record = api.device(key, "inbound", {"from_number": SENDER, "message": "Nechci"})
    (queued,) = api.enqueue({"number": SENDER, "body": "Akce"})["ids"]
    out = api.device(key, "inbound-blacklist", {"ids": [record["id"], 10**6]})
    assert out["blacklisted"] == 1 and out["not_found_ids"] == [10**6]
    assert api.sms(queued)["state"] == "canceled"
    history = api.device(key, "inbound-history", {})
    assert history["messages"][0]["blacklisted"] is True


def test_history_partner_name_is_empty_not_null_without_a_partner(api):
    """The app's TypeScript type for ``partner_name`` is ``string``."""
    phone = api.phone()
    api.admin("POST", "/partners", 201, json={"partners": [{"name": "Jan", "mobile": SENDER}]})
    api.device(phone["api_key"], "inbound", {"from_number": SENDER, "message": "Ano"})
    api.device(phone["api_key"], "inbound", {"from_number": "+420111222333", "message": "Ne"})
    names = {
        m["from_number"]: m["partner_name"]
        for m in api.device(phone["api_key"], "inbound-history", {})["messages"]
    }
    assert names == {SENDER: "Jan", "+420111222333": ""}
