"""``hil devices`` and ``hil devices prepare`` through adbutils and the real adb server, against
ADB test doubles of a stock phone, a MIUI-like phone and a phone without the app."""

from __future__ import annotations

import io
import json
import socket
import stat
import threading
import zipfile

import pytest

from harness.adb_double import AdbDouble, PhoneModel
from harness.cli import main
from harness.phone_facts import APP_PACKAGE, MANIFEST_PERMISSIONS
from tests.support.adb import AdbServer, attached, need_adb

PERMS = ["SEND_SMS", "RECEIVE_SMS", "READ_PHONE_STATE", "READ_PHONE_NUMBERS", "CAMERA"]


def _gateway_apk(tmp_path, version="1.7.1"):
    """The gateway app as an APK the double can read (a text manifest, as tests build)."""
    uses = "".join(f'<uses-permission android:name="{p}"/>' for p in MANIFEST_PERMISSIONS)
    manifest = (
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" '
        f'package="{APP_PACKAGE}" android:versionName="{version}" android:versionCode="2">'
        f"{uses}</manifest>"
    )
    path = tmp_path / "sms-gateway.apk"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("AndroidManifest.xml", manifest)
    path.write_bytes(buffer.getvalue())
    return path


def _hil(capsys, *argv):
    code = main(["devices", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_devices_lists_a_phone_with_what_the_app_needs(capsys, device):
    code, out, _ = _hil(capsys)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split() == [
        "SERIAL", "MODEL", "ANDROID", "APP", "PERMISSIONS", "SECURE", "EXEMPT", "SMS", "CAP",
        "SIMS", "BATTERY", "DOZE",
    ]  # fmt: skip
    cells = [cell for cell in row.split("  ") if cell]
    assert [cell.strip() for cell in cells] == [
        device.serial, "HIL Virtual Phone [test double]", "14 (SDK 34)", "1.7.1", "0/5", "no",
        "no", "default", "READY", "80% charging", "ACTIVE/ACTIVE",
    ]  # fmt: skip
    assert f"{device.serial}: not granted: {', '.join(PERMS)}, WRITE_SECURE_SETTINGS" in out
    assert f"{device.serial}: hil devices prepare {device.serial} sets up what ADB can" in out


def test_devices_json_has_every_field(capsys, phone, device):
    with phone.lock:
        phone.packages[APP_PACKAGE].granted.add("android.permission.SEND_SMS")
        phone.user_allowlist.add(APP_PACKAGE)
        phone.settings["global"]["sms_outgoing_check_max_count"] = "1000"
        phone.force_doze()
    code, out, _ = _hil(capsys, "--json")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["serial"] == device.serial and entry["state"] == "device"
    assert entry["model"] == "HIL Virtual Phone" and entry["test_double"] is True
    assert (entry["android"], entry["sdk"], entry["app_version"]) == ("14", "34", "1.7.1")
    assert entry["permissions"] == {name: name == "SEND_SMS" for name in PERMS}
    assert entry["write_secure_settings"] is False and entry["battery_exempt"] is True
    assert entry["sms_cap"] == {
        "sms_outgoing_check_max_count": "1000",
        "sms_outgoing_check_interval_ms": None,
    }
    assert (entry["sims"], entry["operators"]) == (["READY"], ["carrier"])
    assert (entry["battery_level"], entry["charging"]) == (80, True)
    assert entry["doze"] == {"deep": "IDLE", "light": "OVERRIDE"}


def test_a_device_adb_cannot_talk_to_is_listed_with_its_state(capsys, adb_server):
    double = AdbDouble(PhoneModel())
    double.start()
    try:
        adb_server.attach(double)
        double.stop()
        adb_server.wait_for(double.serial, "offline")
        code, out, _ = _hil(capsys, "--json")
        assert code == 0
        assert {"serial": double.serial, "state": "offline"}.items() <= json.loads(out)[0].items()
    finally:
        double.stop()
        adb_server.detach(double.serial)


def test_no_devices_is_said_and_is_not_a_failure(capsys, adb_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    empty = AdbServer(need_adb(), tmp_path)
    empty.start()
    try:
        code, out, _ = _hil(capsys, "--adb-port", str(empty.port))
        assert code == 0
        assert out.startswith(f"No devices attached to the adb server on 127.0.0.1:{empty.port}.")
        assert _hil(capsys, "--adb-port", str(empty.port), "--json")[:2] == (0, "[]\n")
        code, _, err = _hil(capsys, "prepare", "--adb-port", str(empty.port))
        assert code == 3 and "No device is attached" in err
    finally:
        empty.stop()


def test_devices_starts_the_adb_server_when_none_runs(capsys, adb_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    fresh = AdbServer(need_adb(), tmp_path)  # a free port, nothing listening yet
    try:
        code, out, err = _hil(capsys, "--adb-port", str(fresh.port))
        assert code == 0 and out.startswith("No devices attached")
        assert f"started the adb server on 127.0.0.1:{fresh.port}" in err
    finally:
        fresh.stop()


def test_without_adb_and_without_a_server_it_says_so_and_exits_3(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb on it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = _hil(capsys, "--adb-port", str(port))
    assert (code, out) == (3, "")
    assert f"No adb server answers on 127.0.0.1:{port} and adb is not installed" in err
    assert "apt-get install adb" in err


def test_an_adb_that_cannot_start_its_server_is_reported(capsys, tmp_path, monkeypatch):
    fake = tmp_path / "adb"
    fake.write_text(
        "#!/bin/sh\necho 'error: could not install *smartsocket* listener' >&2\nexit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = _hil(capsys, "--adb-port", str(port))
    assert code == 3
    assert "start-server failed: error: could not install *smartsocket* listener." in err


def test_a_port_that_is_not_an_adb_server_is_reported(capsys):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_each() -> None:
        for _ in range(5):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=close_each, daemon=True).start()
    try:
        code, _, err = _hil(capsys, "--adb-port", str(port))
    finally:
        listener.close()
    assert code == 3 and "not as an adb server" in err


# -- prepare --------------------------------------------------------------------------------


def test_prepare_grants_sets_the_cap_and_exempts_then_a_second_run_has_nothing_to_do(
    capsys, phone, device
):
    code, out, _ = _hil(capsys, "prepare")
    assert code == 0, out
    assert out.splitlines()[0] == (
        f"{device.serial}: HIL Virtual Phone [test double], Android 14 (SDK 34)"
    )
    assert "  done: granted WRITE_SECURE_SETTINGS, " + ", ".join(PERMS) in out
    assert "  done: exempted the app from battery optimisation" in out
    assert "  done: set the SMS cap to 1000 per 60 s" in out
    assert f"reboot the phone before a run (adb -s {device.serial} reboot)" in out
    assert out.splitlines()[-1] == "Ready: the gateway app has what ADB can give it."
    app = phone.packages[APP_PACKAGE]
    assert {f"android.permission.{p}" for p in PERMS} <= app.granted
    assert APP_PACKAGE in phone.user_allowlist
    assert phone.settings["global"]["sms_outgoing_check_interval_ms"] == "60000"
    code, out, _ = _hil(capsys, "prepare", device.serial)
    assert code == 0 and "done:" not in out and "note:" not in out


def test_prepare_on_a_miui_like_phone_says_what_needs_a_human_hand(capsys, adb_server):
    with attached(adb_server, PhoneModel("miui-like")) as (device, _):
        code, out, _ = _hil(capsys, "prepare", device.serial)
    assert code == 1
    hand = out[out.index("Still needs a human hand:") :].splitlines()[1:]
    assert hand[0] == (
        "  - grant WRITE_SECURE_SETTINGS, " + ", ".join(PERMS) + ": the phone refused "
        "(java.lang.SecurityException: grantRuntimePermission: Neither user 2000 nor current "
        "process has android.permission.GRANT_RUNTIME_PERMISSIONS.): enable 'USB debugging "
        "(Security settings)' in Developer options (MIUI), then run this again"
    )
    assert hand[1].startswith("  - set the SMS cap (sms_outgoing_check_max_count, ")
    assert "Permission denial: writing to settings" in hand[1]
    assert "  note: MIUI also stops background apps: allow Autostart" in out
    assert "exempt" not in "\n".join(hand)  # dumpsys deviceidle whitelist works on MIUI
    assert "  done: exempted the app from battery optimisation" in out
    assert "granted" not in out[: out.index("Still needs")]


def test_prepare_installs_the_app_from_an_apk(capsys, adb_server, tmp_path):
    phone = PhoneModel(app_installed=False)
    with attached(adb_server, phone) as (device, _):
        code, out, _ = _hil(capsys, "prepare", "--apk", str(_gateway_apk(tmp_path)))
        assert code == 0, out
        assert "  done: installed sms-gateway.apk" in out
        assert device.sync.stat("/data/local/tmp/hil-install.apk").size == 0  # cleaned up
    assert phone.packages[APP_PACKAGE].version_name == "1.7.1"
    assert "android.permission.CAMERA" in phone.packages[APP_PACKAGE].granted


def test_prepare_without_the_app_and_without_an_apk_asks_for_one(capsys, adb_server):
    with attached(adb_server, PhoneModel(app_installed=False)):
        code, out, _ = _hil(capsys, "prepare")
    assert code == 1
    assert f"  - install the gateway app ({APP_PACKAGE}): give its APK with --apk FILE" in out


def test_prepare_on_a_miui_like_phone_that_refuses_the_install(capsys, adb_server, tmp_path):
    with attached(adb_server, PhoneModel("miui-like", app_installed=False)):
        code, out, _ = _hil(capsys, "prepare", "--apk", str(_gateway_apk(tmp_path)))
    assert code == 1
    assert (
        "  - install the app: the phone refused (Failure [INSTALL_FAILED_USER_RESTRICTED: "
        "Install canceled by user]): enable 'Install via USB' in Developer options (MIUI)" in out
    )


@pytest.mark.parametrize(
    ("apk", "message"),
    [
        ("missing.apk", "missing.apk: no such file"),
        ("notes.txt", "cannot install it: Failure [INSTALL_PARSE_FAILED_NOT_APK"),
    ],
)
def test_prepare_refuses_an_apk_that_is_not_one(capsys, device, tmp_path, apk, message):
    (tmp_path / "notes.txt").write_text("not an apk")
    code, out, err = _hil(capsys, "prepare", "--apk", str(tmp_path / apk))
    assert (code, out) == (2, "")
    assert message in err


def test_prepare_needs_a_serial_it_knows_and_one_among_several(capsys, adb_server, device):
    code, _, err = _hil(capsys, "prepare", "127.0.0.1:1")
    assert code == 2
    assert f"No device '127.0.0.1:1' is attached and online (attached: {device.serial})." in err
    with attached(adb_server, PhoneModel()) as (other, _):
        code, _, err = _hil(capsys, "prepare")
        assert code == 2
        assert "2 devices are attached" in err and other.serial in err


def test_a_bad_adb_port_is_bad_input(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["devices", "--adb-port", "0"])
    assert exit_info.value.code == 2
    assert "must be a TCP port from 1 to 65535" in capsys.readouterr().err
