"""The dangerous paths a run must reach to count, read from a history."""

from __future__ import annotations

from harness.hits import count_hits

from .test_oracles import ALICE, PHONE, START, issued, phone_config, radio


def history(*events, config=None, stuck_after=1800.0):
    head = {
        "kind": "config",
        "t": 0.0,
        "start": START,
        "timezone": "Europe/Prague",
        "phones": {PHONE: config or phone_config()},
        "stuck_after": stuck_after,
    }
    return [head, *events]


def test_a_limit_is_reached_when_the_radio_sent_all_of_it_in_a_day_or_month() -> None:
    sends = [radio(10.0 * i, i, parts=2) for i in range(1, 4)]  # 6 parts on one day
    assert count_hits(history(*sends, config=phone_config(daily=6)))["limit_reached"] == 1
    assert count_hits(history(*sends, config=phone_config(daily=7)))["limit_reached"] == 0
    both = phone_config(daily=6, monthly=6)
    assert count_hits(history(*sends, config=both))["limit_reached"] == 2
    unsent = [radio(10.0, 1, parts=6, sent=0)]  # nothing left the radio
    assert count_hits(history(*unsent, config=phone_config(daily=6)))["limit_reached"] == 0


def test_the_rate_is_bound_when_a_minute_holds_as_many_sms_as_it_allows() -> None:
    handed = [issued(1.0, (1, ALICE), (2, ALICE)), issued(41.0, (3, ALICE))]  # 3 within 41 s
    assert count_hits(history(*handed, config=phone_config(rate=3)))["rate_bound"] == 1
    assert count_hits(history(*handed, config=phone_config(rate=4)))["rate_bound"] == 0
    # the app's submissions do not count: three sends in a minute of one SMS handed out
    sends = [radio(1.0 + 20.0 * i, i) for i in range(3)]
    assert (
        count_hits(history(issued(0.0, (1, ALICE)), *sends, config=phone_config(rate=3)))[
            "rate_bound"
        ]
        == 0
    )


def test_an_sms_is_stuck_in_flight_when_no_status_was_acknowledged_in_time() -> None:
    acked = {"kind": "confirmed", "t": 100.0, "phone": PHONE, "sent": [1], "error": []}
    end = {"kind": "app_final", "t": 2000.0, "phone": PHONE, "unsynced": [], "statuses": {}}
    quick = history(issued(10.0, (1, ALICE)), acked, end)
    assert count_hits(quick)["stuck_in_flight"] == 0
    never = history(issued(10.0, (1, ALICE)), end)
    assert count_hits(never)["stuck_in_flight"] == 1
    # The run ended before the stuck timeout: it cannot tell.
    assert (
        count_hits(history(issued(10.0, (1, ALICE)), {**end, "t": 1000.0}))["stuck_in_flight"] == 0
    )


def test_a_reply_is_repeated_when_the_same_text_comes_again_within_10_minutes() -> None:
    def got(t: float, sender: str = "+420601111111", body: str = "OK", phone: str = PHONE):
        return {"kind": "inbound_received", "t": t, "phone": phone, "sender": sender, "body": body}

    def repeats(*events) -> int:
        return count_hits(history(*events))["repeated_reply"]

    assert repeats(got(100.0), got(280.0)) == 1
    assert repeats(got(100.0), got(701.0)) == 0  # past the dedupe window: a new message
    assert repeats(got(100.0), got(280.0, body="Ano")) == 0
    assert repeats(got(100.0), got(280.0, sender="+420602222222")) == 0
    assert repeats(got(100.0), got(280.0, phone="other")) == 0
    assert repeats(got(100.0), got(280.0), got(500.0)) == 2
