"""A running virtual phone of the simulator served as an ADB device, for the tests.

The world runs on a wall-clock environment scaled up; a test advances it between ADB
commands (:func:`advance`) and polls the simulation until a generous deadline, never
sleeping to judge. The ``attach`` fixture (``tests/harness/conftest.py``) builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.adb_double import SimulatedPhone
from simulator.config import AndroidSpec, PhoneSpec, SimSpec, WorldSpec
from simulator.realtime import WallClockEnvironment
from simulator.world import World
from tests.support.scripted_gateway import ScriptedGateway

__all__ = [
    "HORIZON",
    "START",
    "Attached",
    "ScriptedGateway",
    "advance",
    "kinds",
    "make_world",
    "sms",
]

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SEND_SMS = "android.permission.SEND_SMS"
HORIZON = 20_000.0  # virtual seconds a condition may take before the test fails


def make_world(gateway: ScriptedGateway, scale: float, **android: Any) -> World:
    env = WallClockEnvironment(scale)
    spec = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),), android=AndroidSpec(**android))
    return World(WorldSpec(phones=(spec,)), gateway, {"p1": "key"}, seed=1, start=START, env=env)


def advance(world: World, condition: Callable[[], bool], what: str) -> None:
    """Run the simulation until ``condition`` holds; fail past the horizon."""
    env = world.env
    give_up = env.now + HORIZON
    while not condition():
        if env.now >= give_up:
            pytest.fail(f"the simulated phone did not {what} within {HORIZON:g} virtual s")
        env.run(until=env.now + 5.0)


def kinds(world: World, kind: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in world.history.of_kind(kind)
        if all(e.get(key) == value for key, value in fields.items())
    ]


class Attached:
    """A simulated phone served and attached: its world, app, mirror and adbutils device."""

    def __init__(self, world: World, phone: SimulatedPhone, device: Any) -> None:
        self.world, self.phone, self.device = world, phone, device
        self.app = world.apps["p1"]

    def sh(self, command: str) -> str:
        return str(self.device.shell(command))


def sms(sms_id: int, body: str = "Hello") -> dict[str, Any]:
    """One SMS as the gateway's pending answer lists it."""
    return {
        "id": sms_id,
        "phone_number": f"+42077700{sms_id:04d}",
        "message": body,
        "uuid": f"u{sms_id}",
        "gateway_phone_number": "",
        "segments": 1,
    }
