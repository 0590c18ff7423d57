"""The virtual phone served as an ADB device, through the real adb server: attach, the legacy
shell and its exit status, flow control, sync (push, pull, stat, list), reboot, stop."""

from __future__ import annotations

import os
import stat

import adbutils
import pytest

from harness.adb_double import DoubleError, PhoneModel
from harness.adb_double.shell import Outcome, parse, run_line
from tests.support.adb import attached


def test_the_adb_server_attaches_the_double_as_a_device_that_names_itself(adb_server, device):
    listing = adb_server.run("devices", "-l").stdout
    line = next(line for line in listing.splitlines() if line.startswith(device.serial))
    assert "device" in line.split()
    assert "model:HIL_Virtual_Phone" in line and "product:hil_stock" in line
    assert device.getprop("ro.product.manufacturer") == "hil-test-double"
    assert "test double" in device.getprop("ro.hil.test_double")


def test_it_advertises_no_feature_so_clients_use_the_legacy_shell_and_sync_v1(device):
    assert device.get_features() == ""
    # adbutils asked for shell v2 falls back to the legacy shell, as with an old phone
    result = device.shell2("echo hi", v2=True)
    assert (result.returncode, result.output) == (0, "hi\n")


@pytest.mark.parametrize("service", ["shell,v2:echo hi", "shell:", "tcp:8069"])
def test_a_service_it_does_not_serve_is_refused(device, service):
    """shell v2, the interactive shell and port forwarding are not served."""
    with device.open_transport() as connection:
        connection.send_command(service)
        with pytest.raises(adbutils.AdbError, match="closed"):
            connection.check_okay()


def test_the_exit_status_reaches_adbutils_through_the_legacy_shell(device):
    assert device.shell2("true").returncode == 0
    assert device.shell2("false").returncode == 1
    unknown = device.shell2("frobnicate --now")
    assert unknown.returncode == 127
    assert unknown.output == "/system/bin/sh: frobnicate: inaccessible or not found\n"


def test_the_adb_command_line_runs_a_command_list_on_it(adb_server, device):
    result = adb_server.run("-s", device.serial, "shell", "false; echo \"status $?\" 'a  b'")
    assert result.stdout == "status 1 a  b\n"


def test_output_longer_than_a_message_arrives_whole(phone, device):
    with phone.lock:
        for number in range(20_000):
            phone.log("SmsGatewayService", f"line {number:05d} " + "x" * 80)
    lines = device.shell("logcat -d -v brief").splitlines()
    assert len("\n".join(lines)) > 1024 * 1024  # more than one adb message (1 MiB)
    assert lines[1].endswith("Boot completed, starting SMS Gateway Service")
    assert [line[-86:-81] for line in lines[2:]] == [f"{n:05d}" for n in range(20_000)]


def test_push_then_pull_gives_back_the_same_bytes(device):
    data = bytes(range(256)) * 1000  # more than one 64 KiB sync chunk
    device.sync.push(data, "/sdcard/Download/blob.bin", mode=0o644)
    assert device.sync.read_bytes("/sdcard/Download/blob.bin") == data
    info = device.sync.stat("/sdcard/Download/blob.bin")
    assert info.size == len(data) and stat.S_ISREG(info.mode) and info.mode & 0o777 == 0o644
    assert [entry.path for entry in device.sync.list("/sdcard/Download")] == ["blob.bin"]


def test_stat_of_a_missing_path_is_all_zeros_and_a_pull_of_it_fails(device):
    info = device.sync.stat("/data/local/tmp/nothing")
    assert (info.mode, info.size) == (0, 0)
    with pytest.raises(adbutils.AdbError, match="No such file or directory"):
        device.sync.read_bytes("/data/local/tmp/nothing")


def test_a_push_outside_the_shell_users_folders_is_refused(adb_server, device, tmp_path):
    with pytest.raises(adbutils.AdbError, match="FAIL"):  # adbutils drops the reason
        device.sync.push(b"x", "/system/bin/evil")
    source = tmp_path / "evil"
    source.write_bytes(b"x")
    pushed = adb_server.run("-s", device.serial, "push", str(source), "/system/bin/evil")
    assert pushed.returncode == 1
    assert "remote couldn't create file: Permission denied" in pushed.stdout + pushed.stderr
    assert device.sync.stat("/system/bin/evil").size == 0


def test_the_adb_command_pushes_and_pulls_with_its_own_sync_client(adb_server, device, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("gateway\n")
    os.utime(source, (1772438400, 1772438400))
    pushed = adb_server.run("-s", device.serial, "push", str(source), "/data/local/tmp/in.txt")
    assert pushed.returncode == 0, pushed.stderr
    assert device.sync.stat("/data/local/tmp/in.txt").mtime.timestamp() == 1772438400  # DONE's
    pulled = adb_server.run("-s", device.serial, "pull", "/data/local/tmp/in.txt", str(tmp_path))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "in.txt").read_text() == "gateway\n"


def test_reboot_drops_the_connection_and_the_phone_comes_back_booted(adb_server, phone, device):
    pid = device.shell("pidof com.varyshop.smsgatewayapp")
    device.shell("reboot")
    adb_server.wait_for(device.serial)  # the server reconnects on its own
    assert phone.boot_count == 2
    new_pid = device.shell("pidof com.varyshop.smsgatewayapp")
    assert new_pid and new_pid != pid
    assert device.shell("getprop sys.boot_completed") == "1"


def test_adb_reboot_uses_the_reboot_service(adb_server, phone, device):
    assert adb_server.run("-s", device.serial, "reboot").returncode == 0
    adb_server.wait_for(device.serial)
    assert phone.boot_count == 2


def test_a_stopped_double_goes_offline_and_cannot_start_twice(adb_server):
    with attached(adb_server, PhoneModel()) as (_device, double):
        with pytest.raises(DoubleError, match="already running"):
            double.start()
        double.stop()
        adb_server.wait_for(double.serial, "offline")


def test_two_doubles_are_two_devices(adb_server):
    with (
        attached(adb_server, PhoneModel("stock")) as (first, _),
        attached(adb_server, PhoneModel("miui-like")) as (second, _),
    ):
        assert first.serial != second.serial
        assert first.getprop("ro.miui.ui.version.name") == ""
        assert second.getprop("ro.miui.ui.version.name") == "V140"


# -- the shell's grammar, without adb -------------------------------------------------------


def _echo_argv(argv):
    return Outcome("|".join(argv) + "\n", 3 if argv[0] == "fail3" else 0)


@pytest.mark.parametrize(
    ("line", "out", "status"),
    [
        ("cmd a  'b c' \"d e\"", "cmd|a|b c|d e\n", 0),
        ("fail3; echo $?", "fail3\n3\n", 0),
        ("fail3 && echo no || echo yes $?", "fail3\nyes 3\n", 0),
        ('echo a\\ b "q\\"q" \'$?\' "$?"', 'a b q"q $? 0\n', 0),
        ("echo -n x; echo ''", "x\n", 0),
        ('cmd ""', "cmd|\n", 0),
        ("echo $", "$\n", 0),
    ],
)
def test_the_shell_runs_command_lists_quotes_and_the_status(line, out, status):
    outcome = run_line(line, _echo_argv)
    assert (outcome.out, outcome.status) == (out, status)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ls | grep x", "runs no pipes"),
        ("echo x > /sdcard/f", "runs no pipes, redirections"),
        ("echo $HOME", "expands only $?"),
        ("echo $(id)", "expands only $?"),
        ("echo 'open", "unterminated quoted string"),
        ("&& echo x", "unexpected"),
    ],
)
def test_the_shell_refuses_what_it_does_not_run_and_says_it_is_a_double(line, message):
    outcome = run_line(line, _echo_argv)
    assert outcome.status == 1 and message in outcome.out
    assert outcome.out.startswith("/system/bin/sh: ")


def test_the_parser_keeps_the_status_for_when_the_command_runs():
    [first, second] = parse("a; b $?x")
    assert second.joined_by == ";" and second.words == [["b"], [None, "x"]]
    assert first.words == [["a"]]
