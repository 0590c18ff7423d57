"""Inbound dedupe for what the real app sends (issue 8): each received SMS recorded once.

The request shapes are the real app's (Varyshop/sms-gateway-app 1.7.1), replayed exactly:

* live report of the running service, ``SmsGatewayService.kt:1057-1063``, and the
  WorkManager worker, ``InboundSmsWorker.kt:40-44`` (exponential backoff from 10 s):
  ``POST /sms-gateway/inbound {"from_number", "message", "to_number"}``, no device time;
* inbox scan, ``SmsGatewayService.kt:1122-1188``, on the first idle poll after each
  service start, covering everything since the previous scan (30 days on the first run),
  deduped on ``address|body`` within one scan, all in one request:
  ``POST /sms-gateway/inbound-batch {"messages": [{"from_number", "message",
  "to_number": ""}]}``.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server_under_test.services import inbound
from tests.conftest import Api

ANNA = "+420601111111"
BOHUS = "+420602222222"


def live(api: Api, phone: dict[str, Any], sender: str, text: str) -> dict[str, Any]:
    """The service's live report (also the worker's: the same body)."""
    body = {"from_number": sender, "message": text, "to_number": phone["phone_number"]}
    result: dict[str, Any] = api.device(phone["api_key"], "inbound", body)
    return result


worker = live


def scan(api: Api, phone: dict[str, Any], inbox: list[tuple[str, str]]) -> dict[str, Any]:
    """The app's inbox scan: ``address|body`` deduped, ``to_number`` empty, one request."""
    seen: set[str] = set()
    messages = []
    for address, body in inbox:
        if f"{address}|{body}" in seen:
            continue
        seen.add(f"{address}|{body}")
        messages.append({"from_number": address, "message": body, "to_number": ""})
    result: dict[str, Any] = api.device(phone["api_key"], "inbound-batch", {"messages": messages})
    return result


def records(api: Api, phone: dict[str, Any]) -> list[tuple[str, str]]:
    """Every inbound record of the phone as (sender, text), oldest first."""
    found: list[tuple[str, str]] = []
    offset = 0
    while True:
        page = api.device(phone["api_key"], "inbound-history", {"limit": 200, "offset": offset})
        found += [(m["from_number"], m["message"]) for m in page["messages"]]
        offset += 200
        if offset >= page["total"]:
            return found[::-1]


def test_live_report_and_worker_report_of_one_sms_are_one_record(api, clock):
    phone = api.phone()
    first = live(api, phone, ANNA, "STOP")
    clock.advance(timedelta(seconds=2))
    second = worker(api, phone, ANNA, "STOP")
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert second["id"] == first["id"] and second["blacklisted"] is True
    assert records(api, phone) == [(ANNA, "STOP")]


def test_a_worker_retrying_for_long_stays_one_record(api, clock):
    """Each lost answer makes the worker report again; the window runs from the latest."""
    phone = api.phone()
    first = live(api, phone, ANNA, "Kdy to prijde?")
    for _ in range(5):  # 9 minutes apart: 45 minutes in all, each within the window
        clock.advance(timedelta(minutes=9))
        again = worker(api, phone, ANNA, "Kdy to prijde?")
        assert again["duplicate"] is True and again["id"] == first["id"]
    assert records(api, phone) == [(ANNA, "Kdy to prijde?")]


def test_a_worker_report_hours_after_the_scan_recorded_it_is_a_duplicate(api, clock):
    """The server was unreachable: the scan at the restart gets through before the
    worker's backoff (capped at 5 hours) comes round again."""
    phone = api.phone()
    out = scan(api, phone, [(ANNA, "STOP"), (BOHUS, "Dekuji")])
    assert (out["recorded"], out["blacklisted"]) == (2, 1)
    clock.advance(timedelta(hours=3))
    late = worker(api, phone, ANNA, "STOP")
    assert late["duplicate"] is True and late["blacklisted"] is True
    clock.advance(timedelta(hours=4))
    assert worker(api, phone, BOHUS, "Dekuji")["duplicate"] is True
    # The worker's answer was lost: it reports once more, 10 s later.
    clock.advance(timedelta(seconds=10))
    assert worker(api, phone, BOHUS, "Dekuji")["duplicate"] is True
    assert records(api, phone) == [(ANNA, "STOP"), (BOHUS, "Dekuji")]


def test_a_worker_report_hours_after_the_live_report_is_its_pair(api, clock):
    """Doze: the foreground service reports at once, the worker (a job) waits for the
    next maintenance window, hours later (the simulator's stock Android does this)."""
    phone = api.phone()
    first = live(api, phone, ANNA, "STOP")
    clock.advance(timedelta(hours=3, minutes=40))
    late = worker(api, phone, ANNA, "STOP")
    assert late["duplicate"] is True and late["id"] == first["id"]
    assert records(api, phone) == [(ANNA, "STOP")]


def test_a_third_report_beyond_the_window_is_a_new_message(api, clock):
    phone = api.phone()
    live(api, phone, ANNA, "STOP")
    clock.advance(timedelta(hours=2))
    worker(api, phone, ANNA, "STOP")  # the pair is complete
    clock.advance(timedelta(hours=1))
    again = live(api, phone, ANNA, "STOP")  # a person writing STOP once more
    assert again["duplicate"] is False
    assert records(api, phone) == [(ANNA, "STOP"), (ANNA, "STOP")]
    # The documented price: a first message with one report only (no running service)
    # takes a repeat within 6 hours as its missing pair.
    worker(api, phone, BOHUS, "Ano")
    clock.advance(timedelta(hours=5))
    assert worker(api, phone, BOHUS, "Ano")["duplicate"] is True
    clock.advance(timedelta(hours=7))
    assert worker(api, phone, BOHUS, "Ano")["duplicate"] is False


def test_the_scan_after_a_restart_re_reports_hours_old_messages_once(api, clock):
    phone = api.phone()
    inbox = [(ANNA, "STOP"), (BOHUS, "Ano, beru"), ("+420603333333", "Stop prosim")]
    for sender, text in inbox:
        live(api, phone, sender, text)
        clock.advance(timedelta(seconds=3))
        worker(api, phone, sender, text)
        clock.advance(timedelta(minutes=40))
    clock.advance(timedelta(hours=5))  # the app restarts; the scan covers all of it
    out = scan(api, phone, [*inbox, ("+420604444444", "Kolik to stoji?")])
    assert (out["recorded"], out["duplicates_skipped"], out["blacklisted"]) == (1, 3, 0)
    assert sorted(records(api, phone)) == sorted([*inbox, ("+420604444444", "Kolik to stoji?")])
    # A manual rescan sends the same again: nothing new.
    again = scan(api, phone, [*inbox, ("+420604444444", "Kolik to stoji?")])
    assert (again["recorded"], again["duplicates_skipped"]) == (0, 4)


@pytest.mark.parametrize("as_text", [False, True], ids=["numbers", "short-codes"])
def test_a_30_day_inbox_in_one_request_is_recorded_once(api, clock, as_text):
    """The first run ever scans 30 days: 12 000 messages in one request, never refused."""
    phone = api.phone()
    senders = [f"+420700{i:06d}" if not as_text else f"Shop{i}" for i in range(4000)]
    inbox = [(senders[i % 4000], f"Zprava {i // 4000}") for i in range(12_000)]
    inbox[17] = (senders[17], "STOP")
    live(api, phone, *inbox[5])  # two of them came live before the first scan
    live(api, phone, *inbox[11_999])
    clock.advance(timedelta(hours=2))
    out = scan(api, phone, inbox)
    assert (out["recorded"], out["duplicates_skipped"], out["errors"]) == (11_998, 2, [])
    assert out["blacklisted"] == (0 if as_text else 1)
    assert api.device(phone["api_key"], "inbound-history", {})["total"] == 12_000
    clock.advance(timedelta(hours=1))
    again = scan(api, phone, inbox)
    assert (again["recorded"], again["duplicates_skipped"]) == (0, 12_000)


def test_a_scan_that_fails_half_way_is_completed_by_the_apps_retry(app, api, monkeypatch):
    """Each chunk is its own transaction: what was committed stays, the retry adds the rest."""
    phone = api.phone()
    inbox = [(f"+420700{i:06d}", "Ahoj") for i in range(3 * inbound.SCAN_CHUNK)]
    real = inbound.record_reports
    calls = 0

    def fail_on_the_third_chunk(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(inbound, "record_reports", fail_on_the_third_chunk)
    with TestClient(app, raise_server_exceptions=False) as client:
        messages = [{"from_number": a, "message": b, "to_number": ""} for a, b in inbox]
        response = client.post(
            "/sms-gateway/inbound-batch",
            headers={"X-API-Key": phone["api_key"]},
            json={"messages": messages},
        )
    assert response.status_code == 500
    assert api.device(phone["api_key"], "inbound-history", {})["total"] == 2 * inbound.SCAN_CHUNK
    out = scan(api, phone, inbox)  # the checkpoint did not move: the next idle poll retries
    assert (out["recorded"], out["duplicates_skipped"]) == (
        inbound.SCAN_CHUNK,
        2 * inbound.SCAN_CHUNK,
    )
    assert sorted(records(api, phone)) == sorted(inbox)


def test_two_stops_a_day_apart_reported_live_are_two_records(api, clock):
    phone = api.phone()
    first = live(api, phone, ANNA, "STOP")
    clock.advance(timedelta(days=1))
    second = live(api, phone, ANNA, "STOP")
    assert second["duplicate"] is False and second["id"] != first["id"]
    clock.advance(timedelta(seconds=5))
    assert worker(api, phone, ANNA, "STOP")["id"] == second["id"]
    assert records(api, phone) == [(ANNA, "STOP"), (ANNA, "STOP")]


def test_a_second_stop_that_only_a_scan_reports_is_one_record(api, clock):
    """Documented decision: the scan cannot tell a new "STOP" from a re-report of the old
    one (no device time), so the second is not recorded. The sender is blacklisted anyway.

    The app was force-stopped, so Android delivered no broadcast: no live report, no worker.
    """
    phone = api.phone()
    first = live(api, phone, ANNA, "STOP")
    clock.advance(timedelta(days=1))
    out = scan(api, phone, [(ANNA, "STOP")])
    assert (out["recorded"], out["duplicates_skipped"]) == (0, 1)
    assert records(api, phone) == [(ANNA, "STOP")]
    assert api.device(phone["api_key"], "inbound-history", {})["messages"][0]["id"] == first["id"]


def test_the_scan_and_the_live_report_racing_give_one_record(app, api):
    """B7 for the untimed shapes: live, worker and a scan of the same SMS at once."""
    phone = api.phone()
    barrier = threading.Barrier(7)
    results: list[Any] = []
    item = {"from_number": ANNA, "message": "STOP", "to_number": ""}

    def report(endpoint: str, body: dict[str, Any]) -> None:
        with TestClient(app) as client:
            barrier.wait()
            response = client.post(
                f"/sms-gateway/{endpoint}", headers={"X-API-Key": phone["api_key"]}, json=body
            )
            results.append(response.json())

    threads = [threading.Thread(target=report, args=("inbound", item)) for _ in range(5)]
    threads += [
        threading.Thread(target=report, args=("inbound-batch", {"messages": [item]}))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 7
    assert records(api, phone) == [(ANNA, "STOP")]


def test_s1_the_old_rule_records_the_rescanned_stop_twice(make_app, clock):
    with TestClient(make_app(defects={"S1"})) as client:
        api = Api(client)
        phone = api.phone()
        live(api, phone, ANNA, "STOP")
        clock.advance(timedelta(hours=5))
        out = scan(api, phone, [(ANNA, "STOP")])
        assert out["recorded"] == 1
        assert records(api, phone) == [(ANNA, "STOP"), (ANNA, "STOP")]


def test_s1_has_no_claim_a_late_worker_report_is_recorded_again(make_app, clock):
    with TestClient(make_app(defects={"S1"})) as client:
        api = Api(client)
        phone = api.phone()
        scan(api, phone, [(BOHUS, "Dekuji")])
        clock.advance(timedelta(hours=3))
        assert worker(api, phone, BOHUS, "Dekuji")["duplicate"] is False
        assert records(api, phone) == [(BOHUS, "Dekuji"), (BOHUS, "Dekuji")]


def test_timed_reports_still_keep_two_identical_texts_apart(api):
    """The documented dialect's device time: exact time to the second, either road."""
    phone = api.phone()
    key = phone["api_key"]
    morning = {"from": ANNA, "body": "STOP", "date": 1772436000000}  # 07:20 UTC
    evening = {**morning, "date": 1772478000000}  # 19:00 UTC
    assert api.device(key, "inbound", morning)["duplicate"] is False
    out = api.device(key, "inbound-batch", {"messages": [morning, evening]})
    assert (out["recorded"], out["duplicates_skipped"]) == (1, 1)
    assert api.device(key, "inbound-history", {})["total"] == 2
