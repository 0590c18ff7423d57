"""The server in this process: its FCM wake-ups go through the same debounce as a served one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harness.inprocess import ADMIN_TOKEN, InProcessGateway
from server_under_test import Settings

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def gateway(tmp_path) -> Iterator[InProcessGateway]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'gateway.sqlite3'}",
        admin_token=ADMIN_TOKEN,
        fcm_debounce=timedelta(seconds=5),
        run_scheduler=False,
    )
    gw = InProcessGateway(settings, start=START, seed=1)
    yield gw
    gw.close()


def _phone(gw: InProcessGateway, name: str, number: str, token: str) -> int:
    made = gw.admin(
        "POST", "/phones", at=0.0, expect=201, json={"name": name, "phone_number": number}
    ).json()
    assert gw.call(made["api_key"], "register-fcm", {"fcm_token": token}, at=1.0).ok
    return int(made["id"])


def _enqueue(gw: InProcessGateway, at: float, phone_id: int, n: int) -> None:
    sms = [{"number": f"+42077700{n:04d}", "body": "Ahoj", "phone_id": phone_id}]
    gw.admin("POST", "/sms", at=at, expect=201, json={"messages": sms})


def test_wake_ups_within_the_debounce_window_give_one_push(gateway) -> None:
    pushed: list[tuple[float, str]] = []

    def push(token: str) -> bool:
        pushed.append(((gateway.clock.now() - START).total_seconds(), token))
        return True

    gateway.waker.push = push
    first = _phone(gateway, "p1", "+420600000011", "token-1")
    second = _phone(gateway, "p2", "+420600000021", "token-2")
    _enqueue(gateway, 10.0, first, 1)
    _enqueue(gateway, 13.0, first, 2)  # 3 s later: debounced by the wake-up service
    _enqueue(gateway, 13.0, second, 3)  # another phone has its own window
    _enqueue(gateway, 16.0, first, 4)  # 6 s after the last push: pushed again
    assert pushed == [(10.0, "token-1"), (13.0, "token-2"), (16.0, "token-1")]


def test_a_token_fcm_does_not_know_is_reported_and_cleared(gateway) -> None:
    pushed: list[str] = []

    def push(token: str) -> bool:
        pushed.append(token)
        return False  # FCM: UNREGISTERED

    gateway.waker.push = push
    phone = _phone(gateway, "p1", "+420600000011", "token-1")
    _enqueue(gateway, 10.0, phone, 1)
    assert pushed == ["token-1"]
    assert gateway.admin("GET", f"/phones/{phone}", at=11.0).json()["fcm_token"] is None
