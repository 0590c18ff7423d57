"""reports.limits and reports.run_clock: what a phone's sends put against its limits and
Android's cap, and run time against the calendar, the rules the oracles and the report share."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from reports import (
    Calendar,
    cap_windows,
    first_whole,
    month_of,
    over_window,
    parts_use,
    run_time,
    utc_moment,
    window_totals,
)

START = utc_moment("2026-03-28T22:00:00Z")  # 23:00 in Prague, the night before summer time
PRAGUE = ZoneInfo("Europe/Prague")


def _send(
    t: float, sms_id: int | None, parts: int = 1, sent: int | None = None, **more: Any
) -> dict[str, Any]:
    sent = parts if sent is None else sent
    radio = {"t": t, "kind": "radio", "sms_id": sms_id, "parts": parts, "parts_sent": sent}
    return {**radio, "cause": "app", "sim_slot": 0, **more}


def test_a_repeat_of_an_sms_already_sent_whole_does_not_count_toward_the_limits() -> None:
    sends = [
        _send(10, 1, parts=2),
        _send(20, 2, parts=2, sent=1),  # half of SMS 2: a later whole send of it counts instead
        _send(30, 1, parts=2),  # SMS 1 again, after the server lost its status
        _send(40, 2, parts=2),
        _send(50, None),  # a persona's SMS has no id: always counted
    ]
    use = parts_use(sends, first_whole(sends), Calendar(START, PRAGUE))
    assert [t for t, _, _ in use.counted] == [10.0, 40.0, 50.0]
    assert use.repeat_parts == 2 + 2  # an SMS's parts, not those that went out


def test_parts_fall_on_the_local_day_and_midnight_is_local() -> None:
    calendar = Calendar(START, PRAGUE)
    assert calendar.day(0) == date(2026, 3, 28)  # 23:00 local
    assert calendar.day(3600) == date(2026, 3, 29)  # local midnight, 23:00 UTC
    assert calendar.midnight(date(2026, 3, 29)) == 3600
    # the clocks go forward at 02:00 on the 29th: that local day has 23 hours
    assert calendar.midnight(date(2026, 3, 30)) == 3600 + 23 * 3600
    sends = [_send(3599, 1, parts=3), _send(3600, 2, parts=2), _send(7200, 3)]
    use = parts_use(sends, first_whole(sends), calendar)
    assert use.per_day() == {date(2026, 3, 28): 3, date(2026, 3, 29): 3}


def test_a_limit_month_starts_on_the_phones_day() -> None:
    assert month_of(date(2026, 3, 14), 15) == (2026, 2)
    assert month_of(date(2026, 3, 15), 15) == (2026, 3)
    assert month_of(date(2026, 1, 3), 10) == (2025, 12)


def test_the_cap_counts_submissions_per_slot_and_boot_and_skips_exempt_slots() -> None:
    config = {
        "caps": [{"slot": 0, "max_count": 30, "period": 60}, {"slot": 1, "exempt": True}],
        "caps_after_reboot": [{"slot": 0, "max_count": 1000, "period": 60}],
    }
    sends = [
        _send(12, 1, submitted=5),  # the cap counts it when the app handed it to Android
        _send(20, 2, parts=2, sim_slot=1),
        _send(130, 3, submitted=101),  # after the reboot at 100: a fresh monitor, a new cap
    ]
    windows = cap_windows(config, sends, [100.0])
    assert [(w.slot, w.max_count, w.boot, w.begin, w.end) for w in windows] == [
        (0, 30, 0, 0.0, 100.0),
        (0, 1000, 1, 100.0, float("inf")),
    ]
    assert windows[0].sends == [(5.0, 1)] and windows[1].sends == [(101.0, 1)]


def test_the_window_holds_what_came_within_its_width_and_reports_each_excess() -> None:
    times, weights = [0.0, 30.0, 59.0, 60.0, 200.0], [2, 2, 2, 1, 1]
    totals = list(window_totals(times, weights, 60.0))
    # at 60 the point at 0 has left the window (x - 60, x]; the oldest left is the one at 30
    assert totals == [(0.0, 2, 0.0), (30.0, 4, 0.0), (59.0, 6, 0.0), (60.0, 5, 30.0),
                      (200.0, 1, 200.0)]  # fmt: skip
    assert over_window(times, weights, 60.0, 4) == (6, [(59.0, 6), (60.0, 5)])
    assert over_window(times, weights, 60.0, None) == (6, [])


def test_a_server_time_reads_as_run_seconds_naive_meaning_utc() -> None:
    assert run_time(START, "2026-03-28T22:01:00") == 60.0
    assert run_time(START, "2026-03-28T23:01:00+01:00") == 60.0
    assert run_time(START, "2026-03-28T22:01:00Z") == 60.0
    assert run_time(START, None) is None and run_time(START, "yesterday") is None
