"""``hil pair PHONE --device SERIAL``: the pairing code, and whether the URL the app will call
answers from the phone, through adbutils and the real adb server against the ADB double
(whose ``toybox nc`` reaches the host's loopback and resolves only the names it is given)."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from harness.cli import main
from harness.phone_facts import app_url
from harness.phone_reach import check_reach
from server_under_test import pairing


def _db(api):
    return str(api.client.app.state.gateway.db.url)


def _pair(capsys, api, url, serial):
    phone = api.phone(online=False)
    code = main(["pair", str(phone["id"]), "--db", _db(api), "--url", url, "--device", serial])
    out, err = capsys.readouterr()
    return code, out, err, phone


@pytest.fixture
def listener():
    """A TCP port on the host's loopback that accepts connections (and sends nothing)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("given", "called"),
    [
        ("http://gw.example.com:8000", "https://gw.example.com:8000"),
        ("https://gw.example.com/base", "https://gw.example.com/base"),
        # The app's startsWith('http://') is case-sensitive: it keeps this one as it is.
        ("HTTP://gw.example.com", "HTTP://gw.example.com"),
    ],
)
def test_the_app_rewrites_http_to_https_only_as_its_code_does(given, called):
    assert app_url(given) == called


def test_a_port_the_phone_reaches_passes_and_the_certificate_is_said_unchecked(
    capsys, api, device, listener
):
    port, accepted = listener
    url = f"http://127.0.0.1:{port}"
    code, out, err, phone = _pair(capsys, api, url, device.serial)
    assert code == 0, err
    # The pairing code is still printed, with the URL as given (the app rewrites it itself).
    assert pairing.pairing_payload(url, phone["api_key"]) in out.splitlines()
    assert f"the app will call https://127.0.0.1:{port}" in out
    assert f"adb shell toybox nc -w 5 -W 1 127.0.0.1 {port} (exit 0)" in out
    assert f"127.0.0.1:{port} answers from the phone (TCP)." in out
    assert f"adb -s {device.serial} reverse tcp:{port} tcp:{port}" in out
    assert (
        "Not checked from the shell: whether the phone trusts the server's TLS certificate" in out
    )
    assert "Let's Encrypt" in out
    assert accepted, "the double's nc did not really connect to the host's port"


def test_a_refused_port_fails_with_toyboxs_reason(capsys, api, device):
    port = _closed_port()
    code, out, _, _ = _pair(capsys, api, f"https://localhost:{port}", device.serial)
    assert code == 1
    assert "nc: connect: Connection refused" in out
    assert f"NOT reachable: localhost:{port} refuses the connection." in out
    assert "is the TLS endpoint running" in out
    assert "whether the phone trusts" in out


def test_a_host_the_phone_cannot_resolve_fails_and_https_defaults_to_443(capsys, api, device):
    code, out, _, _ = _pair(capsys, api, "https://gateway.invalid", device.serial)
    assert code == 1
    assert "toybox nc -w 5 -W 1 gateway.invalid 443 (exit 1)" in out
    assert "nc: gateway.invalid:443: No address associated with hostname" in out
    assert "NOT reachable: the phone cannot resolve gateway.invalid." in out


def test_a_named_host_the_phone_resolves_and_reaches(capsys, api, phone, device):
    phone.network.hosts["gw.example.com"] = "203.0.113.7"
    phone.network.open_ports.add(("203.0.113.7", 443))
    code, out, _, _ = _pair(capsys, api, "https://gw.example.com", device.serial)
    assert code == 0
    assert "gw.example.com:443 answers from the phone (TCP)." in out
    assert "reverse" not in out.split("answers from the phone")[1].split("Not checked")[0]
    # Port 8443 of the same host is closed to the phone: no route, as the double's network says.
    code, out, _, _ = _pair(capsys, api, "http://gw.example.com:8443", device.serial)
    assert code == 1
    assert "the app will call https://gw.example.com:8443" in out
    assert "The app rewrites http:// to https://" in out
    assert "NOT reachable: the phone has no route to gw.example.com:8443." in out


def test_without_device_the_payload_stays_the_last_line(capsys, api):
    phone = api.phone(online=False)
    assert main(["pair", str(phone["id"]), "--db", _db(api)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["api_key"] == phone["api_key"]


def test_an_unknown_serial_is_bad_input(capsys, api, adb_server):
    code, _, err, _ = _pair(capsys, api, "https://gw.example.com", "emulator-5999")
    assert code == 2
    assert "No device 'emulator-5999' is attached and online" in err


def test_without_adb_it_says_so_and_exits_3(capsys, api, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb on it
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(_closed_port()))
    code, _, err, _ = _pair(capsys, api, "https://gw.example.com", "R58M123")
    assert code == 3
    assert "adb is not installed" in err and "apt-get install adb" in err


class _Answer:
    """A phone that answers every shell command with one (status, output), as adbutils'
    ``shell2`` returns it."""

    serial = "R58M123"

    def __init__(self, status, output):
        self.returncode, self.output = status, output

    def shell2(self, command, timeout, rstrip):
        return self


@pytest.mark.parametrize(
    ("status", "output", "verdict"),
    [
        # landley/toybox 0.8.x, verbatim: lib/net.c xgetaddrinfo's error_exit ...
        (1, "nc: gw.example.com:443: No address associated with hostname", "unresolved"),
        (1, "nc: gw.example.com:443: Temporary failure in name resolution", "unresolved"),
        # ... xconnbind's perror_exit_raw("connect") ...
        (1, "nc: connect: Connection refused", "refused"),
        (1, "nc: connect: No route to host", "unreachable"),
        (1, "nc: connect: Network is unreachable", "unreachable"),
        # ... netcat.c's SIGALRM handler for -w ...
        (1, "nc: Timeout", "timeout"),
        # ... main.c unknown() since 0.8.4 (Android 12+), and before it (Android 10-11) ...
        (127, 'toybox: Unknown command nc (see "toybox --help")', "no-nc"),
        (127, "toybox: Unknown command nc", "no-nc"),
        # ... and mksh when there is no toybox at all.
        (127, "/system/bin/sh: toybox: inaccessible or not found", "no-nc"),
        (0, "", "reachable"),
    ],
)
def test_toyboxs_own_messages_get_their_verdict(status, output, verdict):
    assert check_reach(_Answer(status, output), "https://gw.example.com").verdict == verdict


def test_the_doubles_toybox_refuses_as_toybox_does(device):
    """Status and text of toybox's unknown() and netcat's help_exit (toybox 0.8.4+)."""
    unknown = device.shell2(["toybox", "frobnicate"])
    assert (unknown.returncode, unknown.output) == (
        127,
        'toybox: Unknown command frobnicate (see "toybox --help")\n',
    )
    bad = device.shell2(["toybox", "nc", "-w", "5", "127.0.0.1"])
    assert (bad.returncode, bad.output) == (1, 'nc: bad argument count (see "nc --help")\n')
