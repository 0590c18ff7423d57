"""A real phone in a run, by its serial: paired by its QR code through the door, judged
from what the door saw and what the phone itself recorded.

The phone is :class:`~harness.adb_double.UnboxedPhone`: a virtual phone in a world of its
own, served as an ADB device the session's adb server attached, unpaired. The test plays
the person holding it: it waits for the run to show the phone's QR code (the PNG in the run
folder) and holds it in front of the phone's camera, which decodes the pixels. The run knows
the phone only by its serial, as it knows a phone on USB.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.adb_double import UnboxedPhone
from harness.cli import main
from harness.fcm_tls import issue_certificates
from harness.folder import read_history
from scenarios import load
from tests.support.adb import AdbServer

DEADLINE = 120.0  # wall seconds for the run to show the QR code
OWNED = ("+420777000111", "+420777000222")  # the tester's own SIMs

SCENARIO = """\
[scenario]
name = "real-phone"
description = "A phone on USB, one over ADB served by the harness, one virtual."
max_duration = "4m"
drain = true

[fleet]
count = 3
daily_limit = 0
rate_limit = 30
granted = true

[[fleet.devices]]
phone = "phone-01"
serial = "SERIAL"

[[fleet.devices]]
phone = "phone-02"
serial = "double"

# mobile data and Wi-Fi off over ADB (svc), back after 20 s, while it waits for work
[[faults]]
phones = ["phone-01"]
kind = "partition"
at = "10s"
duration = "20s"

[[workload]]
at = "5s"
count = 20
body = "Your parcel {first_name} is on its way."
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 and the context of a phone that trusts its CA."""
    ca, chain, key = issue_certificates(["127.0.0.1"])
    cert_file, key_file = tmp_path / "door.pem", tmp_path / "door.key"
    cert_file.write_bytes(chain)
    key_file.write_bytes(key)
    return cert_file, key_file, ssl.create_default_context(cadata=ca.decode())


@pytest.fixture
def unboxed(
    adb_server: AdbServer, tmp_path: Path, tls: Any, request: pytest.FixtureRequest
) -> Iterator[tuple[UnboxedPhone, str]]:
    """Phone-01, attached to adb, its app not paired with the run (its service on when the
    test is marked ``service_on``: paired with another server before); its door URL."""
    url = f"https://127.0.0.1:{_free_port()}"
    file = tmp_path / "real-phone.toml"
    file.write_text(SCENARIO)
    scenario = load(file)
    phone = UnboxedPhone(
        scenario.world,
        "phone-01",
        url=url,
        start=datetime.now(UTC),
        tls=tls[2],
        service_on=request.node.get_closest_marker("service_on") is not None,
    )
    phone.start()
    adb_server.attach(phone.double)
    try:
        yield phone, url
    finally:
        adb_server.detach(phone.double.serial)
        phone.stop()


def _argv(tmp_path: Path, phone: UnboxedPhone, url: str, tls: Any, *more: str) -> list[str]:
    file = tmp_path / "real-phone.toml"
    file.write_text(SCENARIO.replace("SERIAL", phone.double.serial))
    cert, key, _ctx = tls
    port = url.rsplit(":", 1)[1]
    return [
        "run", str(file), "--serve", "--time-scale", "1", "--quiet",
        "--phone-url", url, "--phone-listen", f"127.0.0.1:{port}",
        "--phone-cert", str(cert), "--phone-key", str(key), "--sms-to", ",".join(OWNED),
        *more,
    ]  # fmt: skip


def _hold_up_the_code(phone: UnboxedPhone, png: Path, *, switch_on: bool = False) -> None:
    """The person: once the run shows the code and the app its scanner, scan it (and then
    switch the app's service on, as the run says for a fresh phone)."""
    give_up = time.monotonic() + DEADLINE
    while not (png.is_file() and phone.scanning):
        assert time.monotonic() < give_up, "the run never showed the QR code with the scanner open"
        time.sleep(0.1)
    phone.look_at(png.read_bytes())
    if switch_on:
        phone.switch_on()


def _paired_by_a_person(
    tmp_path: Path, phone: UnboxedPhone, url: str, tls: Any, out: Path, *more: str
) -> int:
    """``hil run`` on the main thread (its signal handlers), the person on another."""
    trouble: list[BaseException] = []
    switch_on = not phone.service_enabled

    def person() -> None:
        try:
            _hold_up_the_code(phone, out / "pairing-phone-01.png", switch_on=switch_on)
        except BaseException as exc:  # seen by the test's thread after the run
            trouble.append(exc)

    holding = threading.Thread(target=person, daemon=True)
    holding.start()
    code = main(_argv(tmp_path, phone, url, tls, "--out", str(out), *more))
    holding.join(timeout=DEADLINE)
    assert not trouble, trouble
    return code


@pytest.mark.slow
@pytest.mark.service_on
def test_a_real_phone_is_paired_by_its_qr_code_and_judged(tmp_path, capsys, unboxed, tls):
    """A phone whose service was on (paired with another server): the scan is seen at the
    door, the run relaunches the app over ADB, and its service comes up on the run's server."""
    phone, url = unboxed
    out = tmp_path / "run"
    code = _paired_by_a_person(tmp_path, phone, url, tls, out, "--pair-timeout", "120")
    output = capsys.readouterr().err
    did = phone.world.history.events
    assert code == 0, (output, did[:6], did[-6:])  # and what the phone did
    assert "phone-01: scanned; relaunching the app" in output
    assert "phone-01 (127.0.0.1:" in output and "paired" in output
    assert not (out / "pairing-phone-01.png").exists()  # it held the phone's key
    meta = json.loads((out / "verdicts.json").read_text())
    assert all(v["judged"] and v["passed"] for v in meta["verdicts"]), meta["verdicts"]
    device = meta["devices"]["phone-01"]
    assert device["double"] is False and device["radio"] > 0 and device["unlinked"] == 0
    events = read_history(out)
    mine = [e for e in events if e.get("phone") == "phone-01"]
    # what the door saw the server hand it, and what its own SMS store says it sent
    issued = {s["id"] for e in mine if e["kind"] == "issued" for s in e["sms"]}
    sent = {e["sms_id"] for e in mine if e["kind"] == "radio"}
    assert issued and sent == issued
    # the phone texted the tester's own SIMs, never the scenario's made-up recipients;
    # the history judges its sends as the server's SMS, to the server's recipients
    radio = [e for e in mine if e["kind"] == "radio"]
    handed = {s["id"]: s["number"] for e in mine if e["kind"] == "issued" for s in e["sms"]}
    assert all(e["recipient"] == handed[e["sms_id"]] for e in radio)
    texted = {e["recipient"] for e in phone.world.history.events if e["kind"] == "radio"}
    assert texted == set(OWNED)
    assert any(e["kind"] == "heartbeat" for e in mine)
    assert not any(e["kind"] == "app_final" for e in mine)  # its store is the phone's own
    summary = (out / "summary.md").read_text()
    assert f"phone-01 (`{phone.double.serial}`, real phone, 20 sends read from it)" in summary
    # its fault, played over ADB and read back from the phone, recorded by the harness
    (fault,) = [e for e in mine if e["kind"] == "fault"]
    assert fault["fault"] == "partition" and 10 <= fault["t"] < 15, fault
    assert meta["devices"]["phone-01"]["faults_not_taken"] == []
    assert phone.phone.network_connected  # and undone after its 20 s


def test_a_phone_nobody_pairs_fails_the_run_as_the_harness(tmp_path, capsys, unboxed, tls):
    phone, url = unboxed
    out = tmp_path / "run"
    code = main(_argv(tmp_path, phone, url, tls, "--pair-timeout", "3", "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 3, err
    assert "phone-01" in err and "no heartbeat" in err and "no scan seen" in err, err
    assert "hil pair phone-01" in err
    assert phone.scanning  # the run opened the app's scanner
    assert not (out / "pairing-phone-01.png").exists()


def test_a_scan_alone_does_not_start_a_fresh_phones_service(tmp_path, capsys, unboxed, tls):
    """The scan registers the phone with the run's server (the door sees it), but the
    service of a fresh install stays off, relaunched or not, until a person switches it on:
    the run says so when it gives up."""
    phone, url = unboxed
    out = tmp_path / "run"

    def person() -> None:
        _hold_up_the_code(phone, out / "pairing-phone-01.png")  # and nothing more

    threading.Thread(target=person, daemon=True).start()
    code = main(_argv(tmp_path, phone, url, tls, "--pair-timeout", "15", "--out", str(out)))
    err = capsys.readouterr().err
    assert code == 3, err
    assert "scanned; relaunching the app" in err and "(scanned)" in err, err
    assert "Dashboard" in err
    assert phone.api_key is not None and not phone.paired.is_set()


@pytest.mark.slow
def test_a_fresh_phone_pairs_once_its_service_is_switched_on(tmp_path, capsys, unboxed, tls):
    phone, url = unboxed
    out = tmp_path / "run"
    code = _paired_by_a_person(tmp_path, phone, url, tls, out, "--pair-timeout", "120")
    output = capsys.readouterr().err
    assert code == 0, output
    assert "phone-01 (127.0.0.1:" in output and "paired: heartbeat after" in output
    assert phone.paired.is_set()


def test_a_real_phone_needs_a_phone_url_and_wall_speed(tmp_path, capsys, unboxed, tls):
    phone, url = unboxed
    argv = _argv(tmp_path, phone, url, tls, "--out", str(tmp_path / "run"))
    cut = argv.index("--phone-url")
    code = main([*argv[:cut], "--out", str(tmp_path / "no-url")])
    err = capsys.readouterr().err
    assert code == 2 and "--phone-url" in err, err
    code = main([*argv, "--time-scale", "60"])
    err = capsys.readouterr().err
    assert code == 2 and "wall speed" in err and "--time-scale 1" in err, err
    code = main([a for a in argv if a not in ("--sms-to", ",".join(OWNED))])
    err = capsys.readouterr().err
    assert code == 2 and "Real phones send real SMS" in err and "--sms-to" in err, err
    plain = url.replace("https", "http")
    owned = ["--sms-to", ",".join(OWNED)]
    code = main([*argv[:cut], "--phone-url", plain, *owned, "--out", str(tmp_path / "h")])
    err = capsys.readouterr().err
    assert code == 2 and "rewrites http:// to https://" in err, err
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    code = main([*argv, "--phone-cert", str(broken)])
    err = capsys.readouterr().err
    assert code == 2 and f"--phone-cert {broken}" in err and "cannot load them" in err, err
