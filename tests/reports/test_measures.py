"""reports.measures: the percentile, the latency, when an SMS ended and what a transmission
counts as, which the reports and the harness's oracles and thresholds share."""

from __future__ import annotations

from typing import Any

from reports import (
    app_send,
    app_transmissions,
    ended_at,
    ended_sent,
    endpoint_of,
    enqueue_to_radio,
    first_acks,
    heartbeat_timeout,
    percentile,
    sent_whole,
    utc_moment,
)


def test_the_percentile_is_the_nearest_rank_rounded_up() -> None:
    twenty = [float(n) for n in range(1, 21)]
    assert percentile(twenty, 95) == 19.0  # 95 % of 20 is exactly 19: the 19th value
    assert percentile(twenty, 96) == 20.0  # 19.2 -> rank 20
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    # round(q*n/100 + 0.5) would round 2.5 to 2 and 3.5 to 4 (banker's); ceil never does
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 50) == 3.0
    assert percentile(twenty, 0) == 1.0 and percentile(twenty, 100) == 20.0
    assert percentile([], 95) == 0.0


def _radio(t: float, sms_id: int, parts_sent: int = 1, parts: int = 1) -> dict[str, Any]:
    return {"t": t, "kind": "radio", "sms_id": sms_id, "parts": parts, "parts_sent": parts_sent}


def test_latency_runs_from_the_first_enqueue_to_the_first_whole_transmission() -> None:
    events = [
        {"t": 10.0, "kind": "enqueued", "ids": [1, 2, 3]},
        {"t": 50.0, "kind": "enqueued", "ids": [1]},  # enqueued again: the first one counts
        _radio(20.0, 1),
        _radio(30.0, 2, parts_sent=1, parts=2),  # half of it: not yet on the recipient's phone
        _radio(70.0, 2, parts_sent=2, parts=2),
        _radio(80.0, 1),  # sent again: the first whole send counts
        _radio(90.0, 9),  # never enqueued by the harness (a persona's)
    ]
    assert enqueue_to_radio(events) == [10.0, 60.0]  # SMS 3 never left a radio


def test_an_endpoint_is_named_without_its_ids() -> None:
    assert endpoint_of("pending") == "pending"
    assert endpoint_of("confirm/17") == "confirm/{id}"
    assert endpoint_of("/sms-gateway/confirm/17?x=1") == "confirm/{id}"


def test_an_sms_ended_when_its_final_status_was_first_acknowledged() -> None:
    start = utc_moment("2026-03-02T07:00:00Z")
    confirmed = [
        (5, {"t": 100.0, "kind": "confirmed", "sent": [1], "error": [2]}),
        (9, {"t": 200.0, "kind": "confirmed", "sent": [1, 2], "error": []}),  # a re-report
    ]
    acks = first_acks(confirmed)
    assert acks == {1: (5, 100.0, "sent"), 2: (5, 100.0, "error")}
    sent = {"state": "sent", "updated_at": "2026-03-02T07:05:00"}
    assert ended_at(acks[1][1], sent, start) == 100.0


def test_an_sms_the_server_ended_itself_ended_when_its_final_row_last_changed() -> None:
    start = utc_moment("2026-03-02T07:00:00Z")
    canceled = {"state": "canceled", "updated_at": "2026-03-02T07:05:00"}
    assert ended_at(None, canceled, start) == 300.0
    # a row still queued has not ended, whenever it last changed
    assert ended_at(None, {"state": "queued", "updated_at": "2026-03-02T07:05:00"}, start) is None
    assert ended_at(None, None, start) is None
    assert ended_at(None, canceled, None) is None  # no run start to read the server's clock by


def test_the_sms_some_app_transmitted_leave_out_telephony_retries() -> None:
    radio = [
        {"t": 1.0, "sms_id": 1, "cause": "app", "parts": 2, "parts_sent": 0},  # failed: still sent
        {"t": 2.0, "sms_id": 1, "cause": "app", "parts": 2, "parts_sent": 2},
        {"t": 3.0, "sms_id": 2, "cause": "telephony_retry", "parts": 1, "parts_sent": 1},
        {"t": 4.0, "sms_id": None, "cause": "app", "parts": 1, "parts_sent": 1},
    ]
    assert app_transmissions(radio) == {1: [1.0, 2.0]}
    assert [app_send(e) for e in radio] == [False, True, False, True]
    assert [sent_whole(e) for e in radio] == [False, True, True, True]


def test_a_phone_counts_online_for_its_heartbeat_timeout() -> None:
    assert heartbeat_timeout({}) == 300.0
    assert heartbeat_timeout({"heartbeat_timeout": 2}) == 120.0


def test_ended_sent_counts_only_the_enqueued_sms_the_server_ended_sent() -> None:
    rows = {
        1: {"id": 1, "state": "sent"},
        2: {"id": 2, "state": "error"},
        3: {"id": 3, "state": "sent"},  # not one of the run's: never counts
    }
    assert ended_sent([1, 2, 4], rows) == 1  # 4 has no row
    assert ended_sent([], rows) == 0
