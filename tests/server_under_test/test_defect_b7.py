"""Defect switch B7: the reference's inbound dedupe, by content and without a lock.

The reference (Varyshop/sms-gateway 83f7569, ``controllers/gateway_api.py``) takes a live
report for a duplicate when any record has the same sender and text and was created within
10 minutes (``:519-531``, any phone), and a scan item when this phone has any record of
the same sender and text (``:610-614``), searching then inserting with no lock. Switched
off, this server tells repeats apart by the device's time when the client sends one, keeps
each phone's records to itself, measures the window from the latest report, and serialises
a phone's reports. Each test runs on SQLite and on PostgreSQL (``make_app``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server_under_test import SeededIds, Settings
from server_under_test.services import inbound
from server_under_test.services.context import Context
from server_under_test.services.inbound import InboundReport
from server_under_test.services.phones import get_phone
from server_under_test.storage.tables import inbound_sms
from tests.conftest import Api
from tests.support.locks import wait_for_a_lock_wait

ANNA = "+420601111111"
OFF = frozenset[str]()
B7 = frozenset({"B7"})


@contextmanager
def _server(make_app: Callable[..., FastAPI], defects: frozenset[str]) -> Iterator[Api]:
    with TestClient(make_app(defects=defects)) as client:
        yield Api(client)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _report(api: Api, phone: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
    body = {"from_number": ANNA, "message": text, "to_number": phone["phone_number"], **extra}
    result: dict[str, Any] = api.device(phone["api_key"], "inbound", body)
    return result


def _texts(api: Api, phone: dict[str, Any]) -> list[str]:
    page = api.device(phone["api_key"], "inbound-history", {"limit": 200})
    return [m["message"] for m in page["messages"]]


@pytest.mark.parametrize(("defects", "kept"), [(OFF, 2), (B7, 1)], ids=["correct", "B7"])
def test_b7_drops_a_repeat_that_the_device_time_tells_apart(make_app, clock, defects, kept):
    """A client that sends each SMS's time (the documented ``date``): "OK" at 08:00 and
    "OK" again at 08:03, each reported twice (live and worker). Correct: two records.
    B7: the reference ignores the time and drops the second as a duplicate."""
    with _server(make_app, defects) as api:
        phone = api.phone()
        for minute in (0, 3):
            sent = _ms(datetime(2026, 3, 2, 8, minute, tzinfo=UTC))
            clock.set(datetime(2026, 3, 2, 8, minute, 1, tzinfo=UTC))
            first = _report(api, phone, "OK", date=sent)
            clock.advance(timedelta(seconds=2))
            assert _report(api, phone, "OK", date=sent)["duplicate"] is True
        assert first["duplicate"] is (kept == 1)
        assert _texts(api, phone) == ["OK"] * kept


@pytest.mark.parametrize("defects", [OFF, B7], ids=["correct", "B7"])
def test_without_a_device_time_no_server_tells_a_quick_repeat_apart(make_app, clock, defects):
    """The real app (1.7.1) sends no time: "OK" three minutes after "OK" looks exactly like
    the worker's late report of the first, so both rules record it once. This is why the
    catalogue's inbound-repeats scenario needs clients that send the time."""
    with _server(make_app, defects) as api:
        phone = api.phone()
        _report(api, phone, "OK")
        clock.advance(timedelta(minutes=3))
        assert _report(api, phone, "OK")["duplicate"] is True
        assert _texts(api, phone) == ["OK"]


@pytest.mark.parametrize(("defects", "second"), [(OFF, 1), (B7, 0)], ids=["correct", "B7"])
def test_b7_a_stop_sent_to_two_phones_is_recorded_on_the_first_only(
    make_app, clock, defects, second
):
    """The reference searches every phone's records (``gateway_api.py:519-524``)."""
    with _server(make_app, defects) as api:
        one, two = api.phone(), api.phone()
        assert _report(api, one, "STOP")["duplicate"] is False
        clock.advance(timedelta(minutes=4))
        out = _report(api, two, "STOP")
        assert out["duplicate"] is (second == 0)
        assert out["blacklisted"] is True  # the first STOP blacklisted the sender anyway
        assert (len(_texts(api, one)), len(_texts(api, two))) == (1, second)


@pytest.mark.parametrize(("defects", "kept"), [(OFF, 2), (B7, 1)], ids=["correct", "B7"])
def test_b7_a_scan_drops_an_old_text_whatever_its_time(make_app, clock, defects, kept):
    """A scan item repeats any record of the phone with the same sender and text, however
    old (``gateway_api.py:610-614``); correct, a different device time is a new message."""
    with _server(make_app, defects) as api:
        phone = api.phone()
        morning = datetime(2026, 3, 2, 7, 20, tzinfo=UTC)
        _report(api, phone, "STOP", date=_ms(morning))
        clock.advance(timedelta(hours=11))
        item = {"from": ANNA, "body": "STOP", "date": _ms(morning + timedelta(hours=11))}
        out = api.device(phone["api_key"], "inbound-batch", {"messages": [item]})
        assert (out["recorded"], out["duplicates_skipped"]) == (kept - 1, 2 - kept)
        assert _texts(api, phone) == ["STOP"] * kept


@pytest.mark.parametrize(("defects", "kept"), [(OFF, 1), (B7, 2)], ids=["correct", "B7"])
def test_b7_a_worker_report_eleven_minutes_late_is_recorded_again(make_app, clock, defects, kept):
    """The reference's window runs from the record's creation, so the WorkManager worker's
    report of the same SMS, deferred past 10 minutes (Doze, a lost answer), is a second
    record; correct, it is the live report's pair."""
    with _server(make_app, defects) as api:
        phone = api.phone()
        _report(api, phone, "Kdy to prijde?")
        clock.advance(timedelta(minutes=11))
        assert _report(api, phone, "Kdy to prijde?")["duplicate"] is (kept == 1)
        assert _texts(api, phone) == ["Kdy to prijde?"] * kept


# -- the lock-free half: only where requests overlap ------------------------------------


@pytest.mark.pg
@pytest.mark.parametrize(("defects", "stored"), [(OFF, 1), (B7, 2)], ids=["correct", "B7"])
def test_b7_two_concurrent_reports_of_one_sms_are_both_stored_on_postgresql(
    pg_stack, pg_url, clock, defects, stored
):
    """The live report and the worker's arrive together (the app sends both at once, §5.9).
    The second searches while the first's insert is uncommitted. Correct: it waits for the
    phone's lock, then finds the first. B7: nothing to wait for, it finds nothing and
    inserts a second record (``gateway_api.py:519-556``: search, then create). Not a STOP:
    the blacklist's unique number would make a second STOP wait for the first anyway."""
    db = pg_stack.db
    phone = pg_stack.api.phone()
    ctx = Context(clock, Settings(defects=defects), SeededIds(random.Random(3)))
    report = InboundReport(ANNA, "Kdy to prijde?", to_number=phone["phone_number"])
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with db.begin() as conn:
                inbound.record_inbound(conn, ctx, get_phone(conn, phone["id"]), report)
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    with db.begin() as conn:
        inbound.record_inbound(conn, ctx, get_phone(conn, phone["id"]), report)
        worker = threading.Thread(target=second)
        worker.start()
        if defects:
            worker.join(timeout=30)  # it does not wait for us: it is done
            assert not worker.is_alive()
        else:
            wait_for_a_lock_wait(
                db.engine, "The second report never waited on the lock held by the first."
            )
    worker.join(timeout=30)
    assert not worker.is_alive() and not failures, failures
    with db.begin() as conn:
        count = conn.execute(select(func.count()).select_from(inbound_sms)).scalar_one()
    assert count == stored
