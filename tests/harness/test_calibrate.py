"""``hil devices calibrate``: a phone's Doze, alarm and SMS-cap constants read over the real
adb server from ADB test doubles, into a scenario fragment the loader takes."""

from __future__ import annotations

import random
import socket

import simpy

from harness.adb_double import PROFILES, PhoneModel
from harness.calibrate import parse_constants, parse_duration_ms, settings_block
from harness.cli import main
from scenarios import loads
from simulator.android import Doze
from simulator.config import AndroidSpec, DozeSpec
from simulator.history import History
from tests.support.adb import attached

# The head of a real Android 14 ``dumpsys deviceidle`` (DeviceIdleController.Constants.dump),
# cut short: keys this Android does not print keep the simulator's defaults.
ANDROID_14_DEVICEIDLE = """\
  Settings:
    flex_time_short=+1m0s0ms
    light_after_inactive_to=+4m0s0ms
    light_idle_to=+5m0s0ms
    light_idle_to_initial_flex=+1m0s0ms
    light_max_idle_to_flex=+15m0s0ms
    light_idle_factor=2.0
    light_max_idle_to=+15m0s0ms
    inactive_to=+30m0s0ms
    sensing_to=+4m0s0ms
    locating_to=+30s0ms
    location_accuracy=20.0m
    idle_after_inactive_to=+30m0s0ms
    idle_to=+1h0m0s0ms
    max_idle_to=+6h0m0s0ms
    idle_factor=2.0
  Whitelist (except idle) system apps:
    inactive_to=+1m0s0ms
"""
# Android 11's dumpsys alarm names no quota (allow_while_idle_short_time / _long_time).
ANDROID_11_ALARM = """\
Current Alarm Manager state:
  Settings:
    max_alarms_per_uid=500
    allow_while_idle_short_time=+5s0ms
    allow_while_idle_long_time=+9m0s0ms
"""
# Android 14's dumpsys alarm head (AlarmManagerService.Constants.dump): IndentingPrintWriter's
# print(key, value) ends a pair with a space.
ANDROID_14_ALARM = "\n".join(
    [
        "Current Alarm Manager state:",
        "  Settings:",
        "    version=0 ",
        "    min_futurity=+5s0ms",
        "    allow_while_idle_quota=12 ",
        "    allow_while_idle_window=+30m0s0ms",
        "    allow_while_idle_compat_quota=7 ",
        "    max_alarms_per_uid=500 ",
        "",
        "  App Standby Parole: false",
    ]
)
SCENARIO = """\
[scenario]
name = "calibrated"
description = "A phone's calibrated twin."
max_duration = "2h"

[fleet]
count = 1

[[workload]]
count = 3
body = "Hi"
"""


def _calibrate(capsys, *argv):
    code = main(["devices", "calibrate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_formatduration_and_milliseconds_are_read():
    assert parse_duration_ms("+1h0m0s0ms") == 3_600_000
    assert parse_duration_ms("+4m0s0ms") == 240_000
    assert parse_duration_ms("+30s0ms") == 30_000
    assert parse_duration_ms("0") == 0
    assert parse_duration_ms("1800000") == 1_800_000  # device_config writes milliseconds
    assert parse_duration_ms("+1d2h0m0s5ms") == 93_600_005
    assert parse_duration_ms("soon") is None and parse_duration_ms("+") is None


def test_only_the_settings_block_is_read_and_missing_keys_are_left_out():
    raw = settings_block(ANDROID_14_DEVICEIDLE)
    assert raw["inactive_to"] == "+30m0s0ms"  # not the whitelist line below the block
    values, notes = parse_constants(raw)
    assert values["light_after_inactive_to"] == 240.0
    assert values["max_idle_to"] == 21_600.0 and values["idle_factor"] == 2.0
    assert "idle_pending_to" not in values and notes == []
    assert parse_constants(settings_block(ANDROID_11_ALARM)) == ({}, [])


def test_an_unreadable_value_is_said_and_not_used():
    values, notes = parse_constants({"idle_to": "forever", "idle_factor": "x", "sensing_to": "0"})
    assert values == {"sensing_to": 0.0}
    assert notes == [
        "idle_to=forever is not a value calibration can read; kept the default",
        "idle_factor=x is not a value calibration can read; kept the default",
    ]


def test_calibrating_an_aggressive_phone_gives_its_constants_back(capsys, adb_server, tmp_path):
    phone = PhoneModel("aggressive-doze")
    with attached(adb_server, phone) as (device, _):
        out = tmp_path / "phone.toml"
        code, stdout, err = _calibrate(capsys, device.serial, "--out", str(out))
    assert (code, stdout) == (0, "")
    assert f"{device.serial}: 17 of 17 Doze constants from the phone" in err
    assert "SMS cap 30 per 60000 ms (Android's default (the settings are not set))" in err
    fragment = out.read_text()
    assert 'inactive_to = "5m"  # from dumpsys deviceidle' in fragment
    assert "allow_while_idle_quota = 6  # from dumpsys alarm" in fragment
    scenario = loads(SCENARIO + fragment)
    android = scenario.world.phones[0].android
    assert android.doze == PROFILES["aggressive-doze"].doze != DozeSpec()
    assert '# In its [fleet]: sms_cap = "modern"' in fragment


def test_a_cap_the_app_wrote_is_read_as_the_granted_preset(capsys, device):
    device.shell(["settings", "put", "global", "sms_outgoing_check_max_count", "1000"])
    device.shell(["settings", "put", "global", "sms_outgoing_check_interval_ms", "60000"])
    code, out, _ = _calibrate(capsys, device.serial)
    assert code == 0
    assert out.splitlines()[1].startswith(
        '# In its [fleet]: sms_cap = "granted"  (the phone\'s 1000 per 60000 ms, from settings'
    )
    with_cap = SCENARIO.replace("count = 1", 'count = 1\nsms_cap = "granted"')
    assert loads(with_cap + out).world.phones[0].android.sms_cap == "granted"
    assert loads(SCENARIO + out).world.phones[0].android.doze == DozeSpec()


def test_a_cap_that_is_no_preset_is_said_and_left_to_the_user(capsys, device):
    device.shell(["settings", "put", "global", "sms_outgoing_check_max_count", "50"])
    code, out, _ = _calibrate(capsys, device.serial)
    assert code == 0
    assert "# sms_cap: the phone's 50 per 60000 ms" in out
    assert "is none of the simulator's presets" in out
    assert loads(SCENARIO + out).world.phones[0].android.sms_cap == AndroidSpec.sms_cap


def test_doze_enters_at_the_calibrated_time_in_virtual_time(capsys, adb_server):
    with attached(adb_server, PhoneModel("aggressive-doze")) as (device, _):
        _, fragment, _ = _calibrate(capsys, device.serial)
    spec = loads(SCENARIO + fragment).world.phones[0].android
    env, history = simpy.Environment(), History()
    doze = Doze(env, AndroidSpec(charging=False, doze=spec.doze), random.Random(1), history, "p")
    env.run(until=3600)
    deep = [e["t"] for e in history.events if e.get("state") == "deep_idle"]
    # inactive_to + idle_after_inactive_to = 10 min, no sensing nor locating: AOSP would
    # need an hour; then idle_to (2 h) before the first maintenance window.
    assert deep == [600.0]
    assert doze.state == "deep_idle"


def test_an_unknown_serial_is_bad_input(capsys, device):
    code, out, err = _calibrate(capsys, "nosuchphone")
    assert (code, out) == (2, "")
    assert "No device 'nosuchphone' is attached" in err


def test_an_out_file_in_a_missing_folder_is_bad_input(capsys, device, tmp_path):
    code, _, err = _calibrate(capsys, device.serial, "--out", str(tmp_path / "no" / "x.toml"))
    assert code == 2
    assert f"the folder {tmp_path / 'no'} does not exist" in err


def test_without_an_adb_server_it_exits_3(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb on it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = _calibrate(capsys, "any", "--adb-port", str(port))
    assert (code, out) == (3, "")
    assert "adb is not installed" in err


def test_a_running_virtual_phone_shows_the_doze_constants_it_runs_with(capsys, attach):
    attached_phone = attach(charging=False, doze=DozeSpec(inactive_to=420.0, idle_factor=3.0))
    code, out, _ = _calibrate(capsys, attached_phone.device.serial)
    assert code == 0
    assert 'inactive_to = "7m"  # from dumpsys deviceidle' in out
    assert "idle_factor = 3.0  # from dumpsys deviceidle" in out


def test_android_14s_alarm_block_is_read_with_its_trailing_spaces():
    raw = settings_block(ANDROID_14_ALARM)
    assert raw["allow_while_idle_quota"] == "12" and "App Standby Parole" not in str(raw)
    values, notes = parse_constants(raw)
    assert values == {"allow_while_idle_quota": 12, "allow_while_idle_window": 1800.0}
    assert notes == []


def test_the_doubles_settings_blocks_print_every_doze_constant_once():
    from dataclasses import fields

    from harness.adb_double.constants import ALARM_KEYS, ALARM_ORDER, IDLE_ORDER

    idle = [name for name, fixed in IDLE_ORDER if fixed is None]
    alarm = [name for name, fixed in ALARM_ORDER if fixed is None]
    assert sorted(idle + alarm) == sorted(f.name for f in fields(DozeSpec))
    assert sorted(alarm) == sorted(ALARM_KEYS)
