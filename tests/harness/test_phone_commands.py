"""Every command of the ADB test double, through adbutils -> the real adb server -> the double,
answered in the format of Android's own tool."""

from __future__ import annotations

import io
import zipfile

import pytest

from harness.adb_double import PhoneModel
from harness.phone_facts import APP_PACKAGE, SMS_CAP_COUNT, SMS_CAP_INTERVAL
from simulator import SmsCap
from tests.support.adb import attached

SEND_SMS = "android.permission.SEND_SMS"


def _apk(package: str, version: str = "2.0", code: int = 3, permissions=(SEND_SMS,)) -> bytes:
    """An APK the double can read: a zip whose manifest is text XML."""
    uses = "".join(f'<uses-permission android:name="{p}"/>' for p in permissions)
    manifest = (
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" '
        f'package="{package}" android:versionName="{version}" android:versionCode="{code}">'
        f"{uses}</manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("AndroidManifest.xml", manifest)
        archive.writestr("classes.dex", b"dex\n035\0")
    return buffer.getvalue()


# -- getprop ----------------------------------------------------------------------------------


def test_getprop_answers_model_android_version_sdk_and_manufacturer(device):
    assert device.getprop("ro.product.model") == "HIL Virtual Phone"
    assert device.getprop("ro.build.version.release") == "14"
    assert device.getprop("ro.build.version.sdk") == "34"
    assert device.getprop("ro.product.manufacturer") == "hil-test-double"
    assert device.shell("getprop no.such.prop") == ""
    assert device.shell("getprop no.such.prop fallback") == "fallback"


def test_getprop_without_a_name_lists_every_property_as_android_does(device):
    lines = device.shell("getprop").splitlines()
    assert "[ro.product.model]: [HIL Virtual Phone]" in lines
    assert "[gsm.sim.state]: [READY]" in lines
    assert lines == sorted(lines)


# -- packages and permissions -----------------------------------------------------------------


def test_pm_list_packages_lists_the_app_and_filters(device):
    assert APP_PACKAGE in device.list_packages()
    assert device.shell(["pm", "list", "packages", "varyshop"]) == f"package:{APP_PACKAGE}"
    third_party = device.shell("pm list packages -3").splitlines()
    assert third_party == [f"package:{APP_PACKAGE}"]
    assert device.shell("pm list packages -s").count("package:") == 4


def test_dumpsys_package_gives_the_version_and_the_runtime_permissions(device):
    info = device.app_info(APP_PACKAGE)
    assert (info.version_name, info.version_code) == ("1.7.1", 2)
    dump = device.shell(["dumpsys", "package", APP_PACKAGE])
    assert "    versionName=1.7.1" in dump.splitlines()
    assert "      runtime permissions:" in dump.splitlines()
    # Settings.permissionFlagsToString prints nothing for a permission without flags
    assert f"        {SEND_SMS}: granted=false" in dump.splitlines()
    assert "      android.permission.INTERNET: granted=true" in dump.splitlines()
    assert device.shell("dumpsys package com.example.none") == (
        "Unable to find package: com.example.none"
    )


def test_pm_grant_and_revoke_change_what_dumpsys_package_reports(device):
    assert device.shell2(["pm", "grant", APP_PACKAGE, SEND_SMS]).returncode == 0
    granted = f"        {SEND_SMS}: granted=true, flags=[ USER_SET ]"
    assert granted in device.shell(["dumpsys", "package", APP_PACKAGE]).splitlines()
    assert device.shell2(["pm", "revoke", APP_PACKAGE, SEND_SMS]).returncode == 0
    assert f"{SEND_SMS}: granted=false" in device.shell(["dumpsys", "package", APP_PACKAGE])


@pytest.mark.parametrize(
    ("package", "permission", "exception"),
    [
        ("com.example.none", SEND_SMS, "IllegalArgumentException: Unknown package: com.example"),
        (
            APP_PACKAGE,
            "android.permission.INTERNET",
            "SecurityException: Permission android.permission.INTERNET requested by "
            f"{APP_PACKAGE} is not a changeable permission type",
        ),
        (
            APP_PACKAGE,
            "android.permission.READ_CONTACTS",
            f"SecurityException: Package {APP_PACKAGE} has not requested permission",
        ),
        (
            APP_PACKAGE,
            "com.example.permission.FLY",
            "IllegalArgumentException: Unknown permission: com.example.permission.FLY",
        ),
    ],
)
def test_pm_grant_refusals_are_printed_as_the_package_manager_prints_them(
    device, package, permission, exception
):
    result = device.shell2(["pm", "grant", package, permission])
    assert result.returncode == 255
    lines = result.output.splitlines()
    assert lines[:2] == ["", "Exception occurred while executing 'grant':"]
    assert lines[2].startswith("java.lang.") and exception in lines[2]
    assert lines[3].startswith("\tat com.android.server.pm.")


def test_a_miui_like_phone_refuses_grants_settings_and_installs_from_the_shell(adb_server):
    with attached(adb_server, PhoneModel("miui-like")) as (device, _):
        grant = device.shell2(["pm", "grant", APP_PACKAGE, SEND_SMS])
        assert grant.returncode == 255
        assert (
            "java.lang.SecurityException: grantRuntimePermission: Neither user 2000 nor current "
            "process has android.permission.GRANT_RUNTIME_PERMISSIONS." in grant.output
        )
        put = device.shell2(["settings", "put", "global", SMS_CAP_COUNT, "1000"])
        assert put.returncode == 255
        assert "Permission denial: writing to settings requires" in put.output
        assert device.shell(["settings", "get", "global", SMS_CAP_COUNT]) == "null"
        device.sync.push(_apk("com.example.other"), "/data/local/tmp/other.apk")
        install = device.shell("pm install -r -t /data/local/tmp/other.apk")
        assert install == "Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]"


def test_pm_install_of_a_pushed_apk_installs_it_and_refuses_a_downgrade(device):
    device.sync.push(_apk("com.example.tool", "2.0", 3), "/data/local/tmp/tool.apk")
    device.install_remote("/data/local/tmp/tool.apk", clean=True)  # adbutils: Success or raise
    assert "com.example.tool" in device.list_packages()
    assert device.app_info("com.example.tool").version_name == "2.0"
    assert device.sync.stat("/data/local/tmp/tool.apk").size == 0  # clean=True removed it
    device.sync.push(_apk("com.example.tool", "1.0", 1), "/data/local/tmp/old.apk")
    refused = device.shell2("pm install -r /data/local/tmp/old.apk")
    assert refused.returncode == 1
    assert refused.output.startswith("Failure [INSTALL_FAILED_VERSION_DOWNGRADE")


def test_adbutils_install_pushes_and_installs_through_pm(device, tmp_path):
    apk = tmp_path / "gateway.apk"
    apk.write_bytes(_apk(APP_PACKAGE, "1.8.0", 3))
    device.install(apk, nolaunch=True, silent=True)
    assert device.app_info(APP_PACKAGE).version_name == "1.8.0"


def test_pm_install_refuses_a_file_that_is_not_an_apk(device):
    device.sync.push(b"not a zip", "/data/local/tmp/bad.apk")
    result = device.shell2("pm install /data/local/tmp/bad.apk")
    assert result.returncode == 1
    assert result.output.startswith("Failure [INSTALL_PARSE_FAILED_NOT_APK")


# -- settings -------------------------------------------------------------------------------


def test_settings_get_put_global_and_the_cap_that_takes_effect_at_boot(adb_server, phone, device):
    assert device.shell(["settings", "get", "global", SMS_CAP_COUNT]) == "null"
    assert phone.cap_in_force == SmsCap(30, 60.0)
    assert device.shell2(["settings", "put", "global", SMS_CAP_COUNT, "1000"]).returncode == 0
    assert device.shell(["settings", "put", "global", SMS_CAP_INTERVAL, "60000"]) == ""
    assert device.shell(["settings", "get", "global", SMS_CAP_COUNT]) == "1000"
    assert phone.cap_in_force == SmsCap(30, 60.0)  # read once per boot (SmsUsageMonitor)
    device.shell("reboot")
    adb_server.wait_for(device.serial)
    assert phone.cap_in_force == SmsCap(1000, 60.0)
    listing = device.shell("settings list global").splitlines()
    assert f"{SMS_CAP_COUNT}=1000" in listing
    assert device.shell(["settings", "delete", "global", SMS_CAP_COUNT]) == "Deleted 1 rows"


# -- Doze -------------------------------------------------------------------------------------


def test_force_idle_puts_the_phone_in_deep_idle_and_unforce_brings_it_back(device):
    assert device.shell("dumpsys deviceidle get deep") == "ACTIVE"
    assert device.shell("dumpsys deviceidle force-idle") == "Now forced in to deep idle mode"
    assert device.shell("dumpsys deviceidle get deep") == "IDLE"
    assert device.shell("dumpsys deviceidle get force") == "true"
    assert "  mState=IDLE mLightState=OVERRIDE" in device.shell("dumpsys deviceidle").splitlines()
    assert device.shell("dumpsys deviceidle unforce") == "Light state: ACTIVE, deep state: ACTIVE"
    assert device.shell("cmd deviceidle get deep") == "ACTIVE"


def test_a_phone_whose_force_idle_does_nothing_says_nothing_and_stays_active(adb_server):
    with attached(adb_server, PhoneModel("lazy-doze")) as (device, _):
        result = device.shell2("dumpsys deviceidle force-idle")
        assert (result.returncode, result.output) == (0, "")
        assert device.shell("dumpsys deviceidle get deep") == "ACTIVE"


def test_force_idle_refuses_when_deep_idle_is_disabled(device):
    device.shell("dumpsys deviceidle disable deep")
    assert device.shell("dumpsys deviceidle force-idle") == "Unable to go deep idle; not enabled"
    assert device.shell("dumpsys deviceidle get deep") == "ACTIVE"


def test_deviceidle_shell_commands_answer_in_device_idle_controllers_words(device):
    """DeviceIdleController.onShellCommand (Android 14): a line only when the state changes,
    ``Light idle mode enable`` as Android misspells it, ``get quick``, bad arguments."""
    assert device.shell("dumpsys deviceidle enable") == ""  # both already enabled
    assert device.shell("dumpsys deviceidle disable light") == "Light idle mode disabled"
    assert device.shell("dumpsys deviceidle disable") == "Deep idle mode disabled"
    assert device.shell("dumpsys deviceidle enabled") == "0"
    assert device.shell("dumpsys deviceidle enable all").splitlines() == [
        "Deep idle mode enabled",
        "Light idle mode enable",
    ]
    assert device.shell("dumpsys deviceidle get quick") == "false"
    assert device.shell("dumpsys deviceidle get") == "Argument required"
    assert device.shell("dumpsys deviceidle get bogus") == "Unknown get option: bogus"
    assert device.shell("dumpsys deviceidle force-idle bogus") == "Unknown idle mode: bogus"


def test_the_doze_and_alarm_settings_blocks_are_android_14s(device):
    """Key order, extra keys and value formats of the Constants.dump of DeviceIdleController
    and AlarmManagerService (whose key=value pairs end with a space), which calibrate reads."""
    idle = device.shell("dumpsys deviceidle").splitlines()
    start = idle.index("  Settings:")
    assert idle[start + 1 : start + 4] == [
        "    flex_time_short=+1m0s0ms",
        "    light_after_inactive_to=+1m0s0ms",
        "    light_pre_idle_to=+3m0s0ms",
    ]
    assert "    location_accuracy=20.0m" in idle
    assert "    idle_factor=2.0" in idle
    assert "    wait_for_unlock=true" in idle
    alarm = device.shell2("dumpsys alarm").output.splitlines()
    assert alarm[:2] == ["Current Alarm Manager state:", "  Settings:"]
    assert "    allow_while_idle_quota=72 " in alarm
    assert "    allow_while_idle_window=+1h0m0s0ms" in alarm
    assert "    allow_while_idle_compat_quota=7 " in alarm


def test_the_battery_optimisation_allow_list(phone, device):
    assert device.shell(f"dumpsys deviceidle whitelist +{APP_PACKAGE}") == f"Added: {APP_PACKAGE}"
    uid = phone.packages[APP_PACKAGE].uid
    assert f"user,{APP_PACKAGE},{uid}" in device.shell("dumpsys deviceidle whitelist").splitlines()
    assert (
        device.shell("dumpsys deviceidle whitelist +com.no.such") == "Unknown package: com.no.such"
    )
    assert device.shell(f"dumpsys deviceidle whitelist -{APP_PACKAGE}") == f"Removed: {APP_PACKAGE}"
    assert APP_PACKAGE not in device.shell("dumpsys deviceidle whitelist")


# -- battery ------------------------------------------------------------------------------------


def test_dumpsys_battery_unplug_set_level_and_reset(device):
    battery = device.battery()
    assert (battery.level, battery.ac_powered, battery.status) == (80, True, 2)
    device.shell("dumpsys battery unplug")
    device.shell("dumpsys battery set level 15")
    battery = device.battery()
    assert (battery.level, battery.ac_powered, battery.usb_powered, battery.status) == (
        15,
        False,
        False,
        3,
    )
    assert "  (UPDATES STOPPED -- use 'reset' to restart)" in device.shell("dumpsys battery")
    assert device.shell("dumpsys deviceidle get charging") == "false"
    device.shell("dumpsys battery reset")
    assert (device.battery().level, device.battery().ac_powered) == (80, True)


# -- the SMS provider --------------------------------------------------------------------------


def test_content_query_sent_reads_the_radio_ledger_in_contents_format(phone, device):
    assert device.shell("content query --uri content://sms/sent") == "No result found."
    with phone.lock:
        phone.t = 60.0
        phone.send_sms("+420777000111", "Hello", sms_id=41)
        phone.t = 120.5
        phone.send_sms("+420777000222", "Second", sms_id=42)
    rows = device.shell("content query --uri content://sms/sent").splitlines()
    assert rows[0] == (
        "Row: 0 _id=2, thread_id=2, address=+420777000222, person=NULL, date=1772438520500, "
        "date_sent=0, protocol=NULL, read=1, status=-1, type=2, reply_path_present=NULL, "
        "subject=NULL, body=Second, service_center=NULL, locked=0, sub_id=1, error_code=0, "
        f"creator={APP_PACKAGE}, seen=1"
    )  # newest first: the provider's default order is date DESC
    assert rows[1].startswith("Row: 1 _id=1, thread_id=1, address=+420777000111,")


def test_content_query_projection_where_and_sort(phone, device):
    with phone.lock:
        for second, number in ((10.0, "+1"), (20.0, "+2"), (30.0, "+3")):
            phone.t = second
            phone.send_sms(number, "x")
    since = 1772438400000 + 15_000
    out = device.shell(
        "content query --uri content://sms/sent --projection _id:address --where "
        f"\"date>{since} AND address!='+3'\" --sort 'date ASC'"
    )
    assert out == "Row: 0 _id=2, address=+2"
    bad = device.shell("content query --uri content://sms/sent --where 'date > (SELECT 1)'")
    assert bad.splitlines()[0] == "Error while accessing provider:sms"
    assert "test double understands only" in bad


def test_content_query_inbox_and_failed(phone, device):
    with phone.lock:
        phone.t = 5.0
        phone.receive_sms("+420777000333", "STOP")
        phone.send_sms("+420777000444", "long", parts=3, parts_sent=1)
    inbox = device.shell("content query --uri content://sms/inbox --projection address:body:type")
    assert inbox == "Row: 0 address=+420777000333, body=STOP, type=1"
    failed = device.shell("content query --uri content://sms/failed --projection address:type")
    assert failed == "Row: 0 address=+420777000444, type=5"
    assert device.shell("content query --uri content://sms/sent") == "No result found."
    assert len(device.shell("content query --uri content://sms").splitlines()) == 2


# -- network, app lifecycle, log ----------------------------------------------------------------


def test_svc_data_switches_mobile_data(device):
    device.shell("svc data disable")
    assert device.shell("settings get global mobile_data") == "0"
    device.shell("svc wifi disable")
    assert device.shell("dumpsys deviceidle get network") == "false"
    device.shell("svc data enable")
    assert device.shell("dumpsys deviceidle get network") == "true"
    assert device.shell2("svc data sideways").returncode == 1


def test_airplane_mode_through_cmd_connectivity(device):
    assert device.shell("cmd connectivity airplane-mode") == "disabled"
    assert device.shell2("cmd connectivity airplane-mode enable").returncode == 0
    assert device.shell("cmd connectivity airplane-mode") == "enabled"
    assert device.shell("settings get global airplane_mode_on") == "1"
    assert device.shell("dumpsys deviceidle get network") == "false"
    device.shell("cmd connectivity airplane-mode disable")
    assert device.shell("settings get global airplane_mode_on") == "0"


def test_force_stop_kills_the_app_and_keeps_it_stopped_across_a_reboot(adb_server, device):
    assert device.shell2(["pidof", APP_PACKAGE]).returncode == 0
    device.app_stop(APP_PACKAGE)  # adbutils: am force-stop
    assert device.shell2(["pidof", APP_PACKAGE]).returncode == 1
    assert "stopped=true" in device.shell(["dumpsys", "package", APP_PACKAGE])
    device.shell("reboot")
    adb_server.wait_for(device.serial)
    assert device.shell2(["pidof", APP_PACKAGE]).returncode == 1  # no BOOT_COMPLETED for it
    started = device.shell(["am", "start", "-n", f"{APP_PACKAGE}/.MainActivity"])
    assert started == f"Starting: Intent {{ cmp={APP_PACKAGE}/.MainActivity }}"
    assert device.shell(["pidof", APP_PACKAGE]).isdigit()


def test_logcat_dumps_the_apps_lines_in_threadtime_and_time_formats(adb_server, phone, device):
    pid = int(device.shell(["pidof", APP_PACKAGE]))
    with phone.lock:
        phone.t = 3723.25
        phone.log("SmsGatewayService", "Poll: 3 SMS", level="D")
    lines = device.shell("logcat -d").splitlines()
    assert lines[0] == "--------- beginning of main"
    assert lines[-1] == f"03-02 09:02:03.250 {pid:5d} {pid:5d} D SmsGatewayService: Poll: 3 SMS"
    brief = device.shell("logcat -d -v time BootReceiver:I *:S").splitlines()
    assert brief[1:] == [
        f"03-02 08:00:00.000 I/BootReceiver({pid:5d}): Boot completed, starting SMS Gateway Service"
    ]
    epoch = device.shell("logcat -d -v threadtime -v epoch").splitlines()[-1]
    seconds = f"{phone.wall(3723.25).timestamp():.3f}"
    # logprint.cpp: the seconds right-aligned in 19 columns ("%19lld"), then ".mmm"
    assert epoch == f"{seconds:>23} {pid:5d} {pid:5d} D SmsGatewayService: Poll: 3 SMS"
    assert device.shell("logcat -c") == ""
    assert device.shell("logcat -d").splitlines() == ["--------- beginning of main"]
    refused = device.shell2("logcat")
    assert refused.returncode == 1 and "-d only" in refused.output


def test_reboot_logs_the_boot_receiver_line_again(adb_server, device):
    device.shell("reboot")
    adb_server.wait_for(device.serial)
    boots = device.shell("logcat -d -s BootReceiver").count("Boot completed")
    assert boots == 2
