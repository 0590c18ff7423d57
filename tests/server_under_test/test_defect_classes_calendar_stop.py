"""Defect switches C1, C2, C6, C11 and C12: what a user sees with each off (correct) and on.

C1 and C2 move the monthly and daily counter resets to the wrong calendar, C6 re-sends
at-most-once SMS after a stuck reset, C11 misses STOP replies that are not exactly "STOP",
C12 blacklists a STOP's number as the phone wrote it instead of in E.164 form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server_under_test.services.inbound import is_stop
from tests.conftest import Api

PRAGUE = ZoneInfo("Europe/Prague")
RECIPIENT = "+420601743915"


@contextmanager
def _server(make_app: Callable[..., FastAPI], *defects: str) -> Iterator[Api]:
    with TestClient(make_app(defects=frozenset(defects))) as client:
        yield Api(client)


def _on(switch: str, on: bool) -> tuple[str, ...]:
    return (switch,) if on else ()


def _run(api: Api, name: str) -> dict[str, Any]:
    result: dict[str, Any] = api.admin("POST", f"/jobs/{name}/run", 200).json()
    return result


def _send(api: Api, phone: dict[str, Any], count: int, first: int = 0) -> None:
    """Enqueue ``count`` SMS, let the phone take them all and confirm them sent."""
    api.device(phone["api_key"], "heartbeat", {})  # phones heartbeat all the time
    numbers = [f"+42060800{first + i:04d}" for i in range(count)]
    result = api.enqueue(*({"number": n, "body": "x"} for n in numbers))
    assert result["queued"] == count, result
    taken = api.device(phone["api_key"], "pending", {"limit": count})["sms_list"]
    assert len(taken) == count
    api.device(
        phone["api_key"],
        "confirm-batch",
        {"results": [{"id": i, "status": "sent"} for i in result["ids"]]},
    )


def _may_send_one(api: Api, phone: dict[str, Any], number: str = "+420608009999") -> bool:
    """Whether the server gives the phone one more SMS now (else: refused at its limit)."""
    api.device(phone["api_key"], "heartbeat", {})
    result = api.enqueue({"number": number, "body": "one more"})
    if result["queued"] == 0:
        assert result["failures"] == {"sms_server": 1}, result
        assert "limit" in api.sms(result["ids"][0])["error_message"]
        return False
    taken = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
    assert [s["id"] for s in taken] == result["ids"]
    api.device(
        phone["api_key"], "confirm-batch", {"results": [{"id": result["ids"][0], "status": "sent"}]}
    )
    return True


def _prague(day: str, hour: int, minute: int = 0) -> datetime:
    local = datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=PRAGUE)
    return local.astimezone(UTC)


# -- C1: the monthly reset on the 1st, whatever month_start_day -----------------------------


@pytest.mark.parametrize("c1", [False, True], ids=["correct", "C1"])
def test_c1_a_phone_whose_month_starts_on_the_15th_is_reset_on_the_1st(make_app, clock, c1):
    with _server(make_app, *_on("C1", c1)) as api:
        phone = api.phone(month_start_day=15, monthly_limit=2, daily_limit=0)
        _send(api, phone, 2)  # 2 March: its whole month's allowance
        assert api.get_phone(phone["id"])["next_month_reset"] == "2026-03-15"
        assert not _may_send_one(api, phone)

        clock.set(_prague("2026-03-15", 0, 10))  # the monthly reset runs daily at 00:05
        _run(api, "monthly_reset")
        after_15th = api.get_phone(phone["id"])
        if not c1:
            assert after_15th["sent_month"] == 0
            assert after_15th["next_month_reset"] == "2026-04-15"
            assert _may_send_one(api, phone)
            return
        # C1: the phone's new month is ignored; it stays blocked until the 1st.
        assert after_15th["sent_month"] == 2
        assert not _may_send_one(api, phone)
        clock.set(_prague("2026-03-31", 23, 0))
        _run(api, "monthly_reset")
        assert api.get_phone(phone["id"])["sent_month"] == 2
        clock.set(_prague("2026-04-01", 0, 10))
        assert _run(api, "monthly_reset")["affected"] == 1
        first = api.get_phone(phone["id"])
        assert (first["sent_month"], first["sent_total"]) == (0, 2)
        assert first["next_month_reset"] == "2026-05-01"
        assert _may_send_one(api, phone)


@pytest.mark.parametrize("c1", [False, True], ids=["correct", "C1"])
def test_c1_the_1st_resets_a_phone_mid_period(make_app, clock, c1):
    """A phone whose month started on 20 March gets a fresh allowance on 1 April with C1."""
    with _server(make_app, *_on("C1", c1)) as api:
        clock.set(_prague("2026-03-20", 12))
        phone = api.phone(month_start_day=20, monthly_limit=2, daily_limit=0)
        _send(api, phone, 2)
        clock.set(_prague("2026-04-01", 0, 10))
        _run(api, "monthly_reset")
        assert api.get_phone(phone["id"])["sent_month"] == (0 if c1 else 2)
        assert _may_send_one(api, phone) is c1
        # Run again the same day (an operator, a second worker): nothing more is reset.
        clock.set(_prague("2026-04-01", 15))
        _run(api, "monthly_reset")
        assert api.get_phone(phone["id"])["sent_month"] == (1 if c1 else 2)


def test_c1_leaves_phones_whose_month_starts_on_the_1st_as_they_were(make_app, clock):
    with _server(make_app, "C1") as api:
        phone = api.phone(month_start_day=1, monthly_limit=5, daily_limit=0)
        _send(api, phone, 2)
        clock.set(_prague("2026-03-31", 23, 0))
        _run(api, "monthly_reset")
        assert api.get_phone(phone["id"])["sent_month"] == 2
        clock.set(_prague("2026-04-01", 0, 10))
        _run(api, "monthly_reset")
        after = api.get_phone(phone["id"])
        assert (after["sent_month"], after["next_month_reset"]) == (0, "2026-05-01")


# -- C2: the daily reset at midnight UTC ----------------------------------------------------


def _harness_minute(api: Api, clock: Any, when: datetime) -> None:
    """Move the clock to ``when`` and fire what the harness fires every minute."""
    clock.set(when)
    _run(api, "heartbeat_check")


def _local_midnight(api: Api, clock: Any, day: str) -> None:
    """Fire the daily reset at 00:00 in Prague, as the harness and the scheduler do."""
    _harness_minute(api, clock, _prague(day, 0))
    _run(api, "daily_reset")


@pytest.mark.parametrize(
    ("day", "next_day", "utc_offset"),
    [("2026-03-02", "2026-03-03", 1), ("2026-07-06", "2026-07-07", 2)],
    ids=["winter", "summer"],
)
@pytest.mark.parametrize("c2", [False, True], ids=["correct", "C2"])
def test_c2_a_phone_at_its_limit_last_evening_is_refused_until_0000_utc(
    make_app, clock, c2, day, next_day, utc_offset
):
    with _server(make_app, *_on("C2", c2)) as api:
        clock.set(_prague(day, 9))
        phone = api.phone(daily_limit=3, monthly_limit=0)
        _harness_minute(api, clock, _prague(day, 9, 1))
        clock.set(_prague(day, 22, 30))
        _send(api, phone, 3)
        assert not _may_send_one(api, phone)

        _local_midnight(api, clock, next_day)
        clock.set(_prague(next_day, 0, 30))  # a new day in Prague
        assert api.get_phone(phone["id"])["sent_today"] == (3 if c2 else 0)
        assert _may_send_one(api, phone, "+420608000100") is not c2
        # C2: still yesterday until 00:00 UTC, one or two hours into the local day.
        _harness_minute(api, clock, _prague(next_day, utc_offset) - timedelta(minutes=1))
        assert api.get_phone(phone["id"])["sent_today"] == (3 if c2 else 1)
        _harness_minute(api, clock, _prague(next_day, utc_offset))
        assert api.get_phone(phone["id"])["sent_today"] == (0 if c2 else 1)
        assert _may_send_one(api, phone, "+420608000101")


@pytest.mark.parametrize("c2", [False, True], ids=["correct", "C2"])
def test_c2_a_phone_sends_twice_its_daily_limit_in_one_local_day(make_app, clock, c2):
    with _server(make_app, *_on("C2", c2)) as api:
        phone = api.phone(daily_limit=3, monthly_limit=0)  # created 2 March 09:00 Prague
        _harness_minute(api, clock, _prague("2026-03-02", 9, 1))
        _local_midnight(api, clock, "2026-03-03")
        clock.set(_prague("2026-03-03", 0, 10))
        _send(api, phone, 3)  # the local day's limit, in its first hour
        _harness_minute(api, clock, _prague("2026-03-03", 1))  # 00:00 UTC
        clock.set(_prague("2026-03-03", 1, 30))
        sent = 3
        while _may_send_one(api, phone, f"+42060801{sent:04d}"):
            sent += 1
        assert sent == (6 if c2 else 3)  # sent on 3 March in Prague, against a limit of 3


def test_c2_the_reset_rides_on_any_job_and_is_recorded_once_per_utc_day(make_app, clock):
    with _server(make_app, "C2") as api:
        phone = api.phone(daily_limit=0)
        _send(api, phone, 2)
        _run(api, "stuck_reset")  # a fresh server's first job does not wipe the counters
        assert api.get_phone(phone["id"])["sent_today"] == 2
        listing = {j["name"]: j for j in api.admin("GET", "/jobs", 200).json()["jobs"]}
        next_daily = datetime.fromisoformat(listing["daily_reset"]["next_slot"])
        assert next_daily.astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)

        clock.set(datetime(2026, 3, 3, 0, 3, tzinfo=UTC))
        assert _run(api, "stuck_reset")["affected"] == 0  # its own count, not the reset's
        assert api.get_phone(phone["id"])["sent_today"] == 0
        _send(api, phone, 1)
        clock.set(datetime(2026, 3, 3, 0, 5, tzinfo=UTC))
        _run(api, "heartbeat_check")
        _run(api, "daily_reset")  # on demand: the UTC day's reset already ran
        assert api.get_phone(phone["id"])["sent_today"] == 1


# -- C6: the stuck reset re-queues at_most_once SMS ------------------------------------------


@pytest.mark.parametrize("c6", [False, True], ids=["correct", "C6"])
def test_c6_an_unconfirmed_at_most_once_sms_is_handed_out_again(make_app, clock, c6):
    with _server(make_app, *_on("C6", c6)) as api:
        phone = api.phone()
        body = {"number": RECIPIENT, "body": "Akce", "delivery": "at_most_once"}
        (sms_id,) = api.enqueue(body)["ids"]
        taken = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
        assert [s["id"] for s in taken] == [sms_id]
        clock.advance(timedelta(minutes=31))
        assert _run(api, "stuck_reset")["affected"] == 1
        again = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
        stored = api.sms(sms_id)
        if c6:
            assert [s["id"] for s in again] == [sms_id]
            assert (stored["state"], stored["issue_count"]) == ("pending", 2)
        else:
            assert again == []
            assert (stored["state"], stored["failure_type"]) == ("error", "sms_unconfirmed")
            assert stored["issue_count"] == 1


def test_c6_leaves_at_least_once_as_it_was(make_app, clock):
    with _server(make_app, "C6") as api:
        phone = api.phone()
        (sms_id,) = api.enqueue({"number": RECIPIENT, "body": "x", "delivery": "at_least_once"})[
            "ids"
        ]
        api.device(phone["api_key"], "pending", {"limit": 5})
        clock.advance(timedelta(minutes=29))
        assert _run(api, "stuck_reset")["affected"] == 0
        clock.advance(timedelta(minutes=2))
        _run(api, "stuck_reset")
        assert api.sms(sms_id)["gateway_state"] == "pending"


# -- C11: STOP only as the exact upper-case word ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "correct", "with_c11"),
    [
        ("STOP", True, True),
        ("  STOP\n", True, True),
        ("Stop", True, False),
        ("stop", True, False),
        ("STOP.", True, False),
        ("Stop prosím", True, False),
        ("STOP prosím", True, False),
        ("nonstop", False, False),
        ("stopka", False, False),
    ],
)
def test_c11_only_the_exact_upper_case_word_is_a_stop(text, correct, with_c11):
    for c11, expected in ((False, correct), (True, with_c11)):
        assert is_stop(text, ("STOP",), exact=c11) is expected


@pytest.mark.parametrize("c11", [False, True], ids=["correct", "C11"])
def test_c11_a_stop_prosim_reply_does_not_stop_the_campaign(make_app, c11):
    with _server(make_app, *_on("C11", c11)) as api:
        phone = api.phone()
        (queued,) = api.enqueue({"number": RECIPIENT, "body": "Akce"})["ids"]
        out = api.device(
            phone["api_key"], "inbound", {"from_number": RECIPIENT, "message": "Stop prosím"}
        )
        assert (out["is_stop"], out["blacklisted"]) == (not c11, not c11)
        listed = [e["number"] for e in api.admin("GET", "/blacklist", 200).json()]
        assert listed == ([] if c11 else [RECIPIENT])
        taken = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
        assert [s["id"] for s in taken] == ([queued] if c11 else [])
        exact = api.device(
            phone["api_key"], "inbound", {"from_number": RECIPIENT, "message": "STOP"}
        )
        assert exact["is_stop"] is True and exact["blacklisted"] is True


def test_b10_and_c11_together_match_the_upper_case_word_anywhere():
    """B10 keeps its substring rule and C11 its case: 'nonSTOP' is a STOP, 'Stop' is not."""
    for text, expected in (("nonSTOP", True), ("STOP prosím", True), ("Stop", False)):
        assert is_stop(text, ("STOP",), substring=True, exact=True) is expected
    assert is_stop("nonstop", ("STOP",), substring=True, exact=True) is False


def test_b10_and_c11_together_through_the_api(make_app):
    with _server(make_app, "B10", "C11") as api:
        phone = api.phone()
        for text, expected in (("Stop", False), ("nonSTOP", True)):
            body = {"from_number": RECIPIENT, "message": text}
            assert api.device(phone["api_key"], "inbound", body)["is_stop"] is expected


# -- C12: the blacklist keyed by the number as written ---------------------------------------


@pytest.mark.parametrize("written", ["00420601743915", "601 743 915"])
@pytest.mark.parametrize("c12", [False, True], ids=["correct", "C12"])
def test_c12_a_stop_from_a_national_number_does_not_stop_its_sms(make_app, c12, written):
    with _server(make_app, *_on("C12", c12)) as api:
        phone = api.phone()
        (queued,) = api.enqueue({"number": RECIPIENT, "body": "Akce 1"})["ids"]
        out = api.device(phone["api_key"], "inbound", {"from_number": written, "message": "STOP"})
        assert (out["is_stop"], out["blacklisted"]) == (True, True)  # the server thinks so
        record = api.device(phone["api_key"], "inbound-history", {})
        assert [m["from_number"] for m in record["messages"]] == [RECIPIENT]
        listed = [e["number"] for e in api.admin("GET", "/blacklist", 200).json()]
        assert listed == ([written] if c12 else [RECIPIENT])
        (later,) = api.enqueue({"number": RECIPIENT, "body": "Akce 2"})["ids"]
        taken = api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"]
        if c12:  # both SMS go to the person who wrote STOP
            assert [s["id"] for s in taken] == [queued, later]
        else:
            assert taken == []
            for sms_id in (queued, later):
                assert api.sms(sms_id)["failure_type"] == "sms_blacklist"


def test_c12_a_stop_written_in_e164_still_works(make_app):
    with _server(make_app, "C12") as api:
        phone = api.phone()
        (queued,) = api.enqueue({"number": RECIPIENT, "body": "Akce"})["ids"]
        api.device(phone["api_key"], "inbound", {"from_number": RECIPIENT, "message": "STOP"})
        assert api.sms(queued)["failure_type"] == "sms_blacklist"
        assert api.device(phone["api_key"], "pending", {"limit": 5})["sms_list"] == []


@pytest.mark.parametrize("c12", [False, True], ids=["correct", "C12"])
def test_c12_an_inbox_scan_blacklists_each_spelling_apart(make_app, c12):
    with _server(make_app, *_on("C12", c12)) as api:
        phone = api.phone()
        scan = {
            "messages": [
                {"from_number": "00420601743915", "message": "STOP"},
                {"from_number": "601 743 915", "message": "Stop prosím"},
            ]
        }
        out = api.device(phone["api_key"], "inbound-batch", scan)
        assert out["recorded"] == 2
        listed = sorted(e["number"] for e in api.admin("GET", "/blacklist", 200).json())
        if c12:
            assert (out["blacklisted"], out["already_blacklisted"]) == (2, 0)
            assert listed == ["00420601743915", "601 743 915"]
        else:
            assert (out["blacklisted"], out["already_blacklisted"]) == (1, 1)
            assert listed == [RECIPIENT]
