"""Fixtures of the ADB tests: the session's private adb server, an attached test double,
and an attached running virtual phone (``attach``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.adb_double import AdbDouble, PhoneModel, SimulatedPhone
from simulator.world import World
from tests.support.adb import AdbServer, attached, need_adb
from tests.support.simulated import Attached, ScriptedGateway, make_world


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    """The session's own adb server; ``ANDROID_ADB_SERVER_PORT`` points at it meanwhile."""
    server = AdbServer(need_adb(), tmp_path_factory.mktemp("adb-home"))
    server.start()
    before = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(server.port)
    try:
        yield server
    finally:
        if before is None:
            os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
        else:
            os.environ["ANDROID_ADB_SERVER_PORT"] = before
        server.stop()


@pytest.fixture
def phone() -> PhoneModel:
    """A stock test-double phone with the gateway app installed (nothing granted)."""
    return PhoneModel()


@pytest.fixture
def device(adb_server: AdbServer, phone: PhoneModel) -> Iterator[Any]:
    """``phone`` served as an ADB device and attached: its adbutils device."""
    with attached(adb_server, phone) as (dev, _double):
        yield dev


@pytest.fixture
def attach(adb_server: AdbServer) -> Iterator[Callable[..., Attached]]:
    """Build a world of one virtual phone ``p1`` on a wall-clock environment, serve it as an
    ADB device (a ``SimulatedPhone``) and attach it: ``attach(gateway, scale, profile,
    **android)`` -> :class:`~tests.support.simulated.Attached`."""
    opened: list[tuple[AdbDouble, World]] = []

    def make(
        gateway: ScriptedGateway | None = None,
        scale: float = 200.0,
        profile: str = "stock",
        **android: Any,
    ) -> Attached:
        world = make_world(gateway or ScriptedGateway(), scale, **android)
        phone = SimulatedPhone(world, "p1", profile)
        double = AdbDouble(phone)
        double.start()
        opened.append((double, world))
        return Attached(world, phone, adb_server.attach(double))

    yield make
    for double, world in opened:
        adb_server.detach(double.serial)
        double.stop()
        world.env.close()  # type: ignore[attr-defined]
