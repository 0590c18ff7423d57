"""A private adb server for the tests, and the ADB test double attached to it.

Tests reach the double exactly as a phone on USB is reached: adbutils -> the real ``adb``
server -> the double's adbd protocol. The server is this session's own (its own port and
``HOME``, so never the user's server on 5037 nor their keys), killed at the end.
``ANDROID_ADB_SERVER_PORT`` points at it for the session, so ``hil devices`` finds it and
nothing can start a stray server on the default port.

Where ``adb`` is missing the tests are skipped with a reason naming ``apt-get install adb``,
except in CI (``CI`` set, or ``HIL_REQUIRE_ADB=1``), where they fail: ``.ci/run`` installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbutils
import pytest

from harness.adb_double import AdbDouble, PhoneModel

__all__ = ["REQUIRE_ADB", "USER_ADB_PORT", "AdbServer", "attached", "need_adb"]

REQUIRE_ADB = bool(os.environ.get("CI")) or os.environ.get("HIL_REQUIRE_ADB") == "1"
# The user's own server (real phones), read before a session points the variable elsewhere.
USER_ADB_PORT = int(os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)
DEADLINE = 30.0  # seconds to wait for a device to come (back) online


def need_adb() -> str:
    """The adb executable; skips (fails in CI) where it is not installed."""
    adb = shutil.which("adb")
    if adb is not None:
        return adb
    if REQUIRE_ADB:
        pytest.fail(
            "adb is required (CI) but not installed; .ci/run installs it: apt-get install adb"
        )
    pytest.skip("adb is not installed here: apt-get install adb (these tests fail instead in CI)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AdbServer:
    """An adb server of the test session's own, on a free port with its own HOME."""

    def __init__(self, adb: str, home: Path) -> None:
        self.adb = adb
        self.home = home
        self.port = _free_port()
        self.env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the ``adb`` command against this server."""
        return subprocess.run(
            [self.adb, "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        """Start the server (``adb start-server`` returns once it answers)."""
        result = self.run("start-server")
        if result.returncode != 0:
            pytest.fail(f"adb start-server on port {self.port} failed: {result.stderr}")

    def stop(self) -> None:
        """Kill this server (only this one: by its port)."""
        self.run("kill-server")

    @property
    def client(self) -> Any:
        """An adbutils client of this server."""
        return adbutils.AdbClient(host="127.0.0.1", port=self.port)

    def states(self) -> dict[str, str]:
        """serial -> state of every device this server knows."""
        return {info.serial: info.state for info in self.client.list()}

    def wait_for(self, serial: str, state: str | None = "device") -> None:
        """Poll until ``serial`` is in ``state`` (``None``: gone); fail after the deadline."""
        give_up = time.monotonic() + DEADLINE
        while time.monotonic() < give_up:
            if self.states().get(serial) == state:
                return
            time.sleep(0.02)
        pytest.fail(f"{serial} did not become {state or 'gone'} in {DEADLINE:g} s: {self.states()}")

    def attach(self, double: AdbDouble) -> Any:
        """``adb connect`` the double; its adbutils device once it is online."""
        answer = self.client.connect(double.serial, timeout=10)
        assert "connected to" in answer, answer
        self.wait_for(double.serial)
        return self.client.device(double.serial)

    def detach(self, serial: str) -> None:
        """``adb disconnect``."""
        with contextlib.suppress(adbutils.AdbError):
            self.client.disconnect(serial)


@contextlib.contextmanager
def attached(server: AdbServer, phone: PhoneModel) -> Iterator[tuple[Any, AdbDouble]]:
    """Serve ``phone`` as an ADB device attached to ``server``: (adbutils device, double)."""
    with AdbDouble(phone) as double:
        device = server.attach(double)
        try:
            yield device, double
        finally:
            server.detach(double.serial)
