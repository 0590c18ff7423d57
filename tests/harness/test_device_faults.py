"""Scenario faults on a phone over ADB (``harness/device_faults.py``, ``hil devices fault``),
through adbutils -> the real adb server -> the test double: applied, read back, undone; a
phone that takes a command and ignores it is reported, not trusted."""

from __future__ import annotations

import pytest

from harness.adb_double import PhoneModel
from harness.cli import main
from harness.device_faults import DEVICE_FAULTS, NOT_OVER_ADB, apply_fault, undo_fault
from harness.devices import DeviceInputError
from harness.phone_facts import APP_PACKAGE
from simulator.config import FAULT_KINDS
from tests.support.adb import attached

SEND_SMS = "android.permission.SEND_SMS"


def _hil(capsys, *argv):
    code = main(["devices", "fault", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_fault_a_virtual_phone_takes_is_played_over_adb_or_refused_by_name():
    assert set(FAULT_KINDS) <= set(DEVICE_FAULTS) | set(NOT_OVER_ADB)
    assert not set(DEVICE_FAULTS) & set(NOT_OVER_ADB)


def test_doze_is_forced_read_back_and_unforced(adb_server, device, phone):
    outcome = apply_fault(adb_server.client, device.serial, "doze")
    assert (outcome.taken, outcome.observed) == (True, "IDLE")
    assert phone.doze_deep == "IDLE"
    assert outcome.ran == [("dumpsys deviceidle force-idle", 0, "Now forced in to deep idle mode")]
    undone = undo_fault(adb_server.client, device.serial, "doze")
    assert undone.taken and undone.observed == "ACTIVE"


def test_a_phone_that_ignores_force_idle_is_reported_not_trusted(adb_server, capsys):
    with attached(adb_server, PhoneModel("lazy-doze")) as (device, _double):
        outcome = apply_fault(adb_server.client, device.serial, "doze")
        assert (outcome.taken, outcome.observed) == (False, "ACTIVE")
        assert "NOT applied" in outcome.note and "do not trust" in outcome.note
        code, out, _err = _hil(capsys, "doze", device.serial)
    assert code == 1
    assert "adb shell dumpsys deviceidle force-idle (exit 0)" in out
    assert "doze NOT applied" in out


@pytest.mark.parametrize(
    ("kind", "setting", "off", "on"),
    [
        ("data_off", "mobile_data", "0", "1"),
        ("airplane_mode", "airplane_mode_on", "1", "0"),
        ("partition", "wifi_on", "0", "1"),
    ],
)
def test_network_faults_switch_the_phone_off_and_on(
    adb_server, device, phone, kind, setting, off, on
):
    assert apply_fault(adb_server.client, device.serial, kind).taken
    assert phone.settings["global"][setting] == off
    if kind == "partition":
        assert not phone.network_connected
    assert undo_fault(adb_server.client, device.serial, kind).taken
    assert phone.settings["global"][setting] == on
    assert phone.network_connected


def test_unplug_and_plug_change_what_the_battery_reports(adb_server, device, phone):
    assert apply_fault(adb_server.client, device.serial, "unplug").taken
    assert device.battery().ac_powered is False
    assert apply_fault(adb_server.client, device.serial, "plug").taken
    assert device.battery().ac_powered is True


def test_force_stop_and_process_death_stop_the_app_and_the_undo_launches_it(
    adb_server, device, phone
):
    for kind in ("force_stop", "process_death"):
        outcome = apply_fault(adb_server.client, device.serial, kind)
        assert outcome.taken and phone.packages[APP_PACKAGE].pid is None
        undone = undo_fault(adb_server.client, device.serial, kind)
        assert undone.taken and undone.observed == str(phone.packages[APP_PACKAGE].pid)


def test_revoke_takes_send_sms_away_and_the_undo_gives_it_back(adb_server, device, phone):
    phone.packages[APP_PACKAGE].granted.add(SEND_SMS)
    assert apply_fault(adb_server.client, device.serial, "revoke").taken
    assert SEND_SMS not in phone.packages[APP_PACKAGE].granted
    assert undo_fault(adb_server.client, device.serial, "revoke").taken
    assert SEND_SMS in phone.packages[APP_PACKAGE].granted


def test_a_revoke_miui_refuses_is_reported_not_taken(adb_server):
    phone = PhoneModel("miui-like")
    phone.packages[APP_PACKAGE].granted.add(SEND_SMS)
    with attached(adb_server, phone) as (device, _double):
        outcome = apply_fault(adb_server.client, device.serial, "revoke")
    assert not outcome.taken
    assert outcome.ran[0][1] == 255 and "SecurityException" in outcome.ran[0][2]


def test_reboot_waits_until_the_phone_is_back_booted(adb_server, device, phone):
    boots = phone.boot_count
    outcome = apply_fault(adb_server.client, device.serial, "reboot")
    assert outcome.taken and outcome.observed == "1"
    assert phone.boot_count == boots + 1
    assert adb_server.states()[device.serial] == "device"


def test_hil_devices_fault_applies_and_undoes(capsys, device, phone):
    code, out, _err = _hil(capsys, "airplane_mode", device.serial)
    assert code == 0, out
    assert "airplane_mode applied on" in out and "'enabled'" in out
    code, out, _err = _hil(capsys, "airplane_mode", device.serial, "--undo")
    assert code == 0 and "'disabled'" in out


def test_faults_adb_cannot_play_or_does_not_know_are_bad_input(capsys, adb_server):
    code, _out, err = _hil(capsys, "campaign_screen")
    assert code == 2 and "ADB cannot play it" in err
    code, _out, err = _hil(capsys, "meteor")
    assert code == 2 and "Unknown device fault 'meteor'" in err and "doze" in err
    with pytest.raises(DeviceInputError, match="has no undo"):
        undo_fault(adb_server.client, "127.0.0.1:1", "reboot")
