"""Against a real phone on ADB (marker ``device``): what the test double imitates, checked on the
real thing. Read-only: nothing here changes the phone.

They use the user's adb server (``$ANDROID_ADB_SERVER_PORT`` as the session found it, else
5037) and the first online device that is not a test double. Without adb, without a server
or without a real phone they are skipped with the reason; they never run against the double.
"""

from __future__ import annotations

import re
import shutil
import socket
from typing import Any

import adbutils
import pytest

from harness.adb_double import TEST_DOUBLE_MANUFACTURER
from harness.calibrate import calibrate
from harness.devices import inspect
from scenarios import loads
from tests.support.adb import USER_ADB_PORT

pytestmark = pytest.mark.device

DEEP_STATES = {"ACTIVE", "INACTIVE", "IDLE_PENDING", "SENSING", "LOCATING", "IDLE",
               "IDLE_MAINTENANCE", "QUICK_DOZE_DELAY"}  # fmt: skip


@pytest.fixture(scope="module")
def real_phone() -> Any:
    """The first real phone on the user's adb server, or a skip saying why there is none."""
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (apt-get install adb); real-phone tests need it")
    try:
        socket.create_connection(("127.0.0.1", USER_ADB_PORT), timeout=1.0).close()
    except OSError:
        pytest.skip(
            f"no adb server on 127.0.0.1:{USER_ADB_PORT}; attach a phone and run adb devices"
        )
    client = adbutils.AdbClient(host="127.0.0.1", port=USER_ADB_PORT)
    for info in client.list():
        if info.state != "device":
            continue
        device = client.device(info.serial)
        if device.getprop("ro.product.manufacturer") != TEST_DOUBLE_MANUFACTURER:
            return device
    pytest.skip(
        "no real phone attached (USB debugging on, its prompt accepted); doubles do not count"
    )


def test_hil_devices_reads_the_real_phone(real_phone):
    state = inspect(real_phone)
    assert state.online and state.model and state.android
    assert state.sdk.isdigit() and int(state.sdk) >= 23
    assert state.doze["deep"] in DEEP_STATES
    assert state.battery_level is None or 0 <= state.battery_level <= 100
    assert not state.test_double


def test_the_sms_provider_answers_in_the_format_the_double_imitates(real_phone):
    out = real_phone.shell(
        "content query --uri content://sms/sent --projection _id:address:date:type "
        "--sort 'date DESC'"
    )
    first = out.splitlines()[0] if out else ""
    assert first == "No result found." or re.match(
        r"^Row: 0 _id=\d+, address=.*, date=\d{13}, type=2$", first
    ), first


def test_an_unknown_command_answers_as_the_double_does(real_phone):
    result = real_phone.shell2("hil-no-such-command")
    assert result.returncode == 127
    assert "hil-no-such-command" in result.output and "not found" in result.output


def test_deviceidle_and_settings_answer_in_the_formats_the_double_imitates(real_phone):
    assert real_phone.shell("dumpsys deviceidle get deep") in DEEP_STATES
    cap = real_phone.shell("settings get global sms_outgoing_check_max_count")
    assert cap == "null" or cap.isdigit()
    assert "package:android" in real_phone.shell("pm list packages android").split()


def test_calibration_reads_the_doze_constants_of_the_real_phone(real_phone):
    found = calibrate(real_phone)
    # Every Android from 6 on prints these in the Settings: block of dumpsys deviceidle.
    assert {"inactive_to", "idle_to", "max_idle_to", "idle_factor"} <= set(found.sources)
    assert found.doze.max_idle_to >= found.doze.idle_to > 0
    text = (
        '[scenario]\nname = "real"\ndescription = "A real phone."\nmax_duration = "1h"\n'
        '[fleet]\ncount = 1\n[[workload]]\ncount = 1\nbody = "Hi"\n'
    )
    assert loads(text + found.toml()).world.phones[0].android.doze == found.doze
