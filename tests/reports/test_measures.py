"""reports.measures: the percentile and the latency that reports and thresholds share."""

from __future__ import annotations

from typing import Any

from reports import endpoint_of, enqueue_to_radio, percentile


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
