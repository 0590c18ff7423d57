"""Fixtures of the ADB tests: the session's private adb server and an attached test double."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from harness.adb_double import PhoneModel
from tests.support.adb import AdbServer, attached, need_adb


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
