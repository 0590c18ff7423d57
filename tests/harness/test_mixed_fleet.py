"""A mixed fleet through ``hil run``: two phones over ADB (their virtual twins served as ADB
devices, attached to the session's adb server) and three virtual phones against one served
target; the devices' radio ledger is read from them over ADB and every oracle judges it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.folder import read_history
from tests.support.scenario_text import problems

# Like the catalogue's restart-in-flight, on five phones of which phone-01 and phone-02 are
# devices: phone-01's app dies while Android sends for it, so the server never hears of
# that SMS (the radio sent it, the callback died with the process) and its stuck reset
# ends it as an error, or, with C6, queues it again: phone-01 then sends it twice, and only
# phone-01's own records (read over ADB) show the first send.
MIXED = """\
[scenario]
name = "mixed-restart"
description = "Two phones over ADB and three virtual ones; a device's app dies with SMS in hand."
max_duration = "45m"
drain = false

[fleet]
count = 5
daily_limit = 0
rate_limit = 30
granted = true

[[fleet.devices]]
phone = "phone-01"
serial = "double"

[[fleet.devices]]
phone = "phone-02"
serial = "double"
profile = "miui-like"

[[faults]]
phones = ["phone-01"]
kind = "process_death"
at = "1m"
during = "sending"

[[workload]]
at = "1m"
count = 100
delivery = "at_most_once"
body = "Your table for tonight is booked, {first_name}. See you at 19:00."

[expect]
hit = ["process_death_in_flight", "stuck_in_flight"]
"""
DEVICES = ("phone-01", "phone-02")


def _run(tmp_path: Path, capsys: Any, *options: str) -> tuple[int, str, dict[str, Any], list]:
    file = tmp_path / "mixed-restart.toml"
    file.write_text(MIXED)
    out = tmp_path / ("red" if options else "green")
    argv = ["run", str(file), "--serve", "--time-scale", "120", "--quiet", "--out", str(out)]
    code = main([*argv, *options])
    stdout, stderr = capsys.readouterr()
    meta = json.loads((out / "verdicts.json").read_text())
    events = read_history(out)
    return code, stdout + stderr, meta, events


def _read_from_the_phones(meta: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Every device's radio events are the rows read over ADB: dated at the submit, no
    uuid; and each one was linked to its SMS id."""
    for phone in DEVICES:
        assert meta["devices"][phone]["serial"].startswith("127.0.0.1:")
        assert meta["devices"][phone]["radio"] > 0
        assert meta["devices"][phone]["unlinked"] == 0
        radio = [e for e in events if e["kind"] == "radio" and e["phone"] == phone]
        assert len(radio) == meta["devices"][phone]["radio"]
        assert all(e["t"] == e["submitted"] and e["uuid"] is None for e in radio)
    virtual = [e for e in events if e["kind"] == "radio" and e["phone"] not in DEVICES]
    assert virtual and any(e["uuid"] is not None for e in virtual)


@pytest.mark.slow
def test_a_mixed_fleet_is_green_on_the_correct_server(adb_server, tmp_path, capsys):
    code, output, meta, events = _run(tmp_path, capsys)
    assert code == 0, output
    assert all(v["judged"] and v["passed"] for v in meta["verdicts"]), meta["verdicts"]
    _read_from_the_phones(meta, events)


@pytest.mark.slow
def test_c6_is_caught_from_the_adb_ledger(adb_server, tmp_path, capsys):
    code, output, meta, events = _run(tmp_path, capsys, "--defect", "C6")
    assert code == 1, output
    verdict = next(v for v in meta["verdicts"] if v["name"] == "exactly_once")
    assert not verdict["passed"] and verdict["violation_count"] > 0
    _read_from_the_phones(meta, events)
    # the double sends: phone-01's, read from it over ADB, then a virtual phone's again
    sends: dict[int, list[str]] = {}
    for e in events:
        if e["kind"] == "radio" and e["cause"] == "app" and e["sms_id"] is not None:
            sends.setdefault(e["sms_id"], []).append(e["phone"])
    twice = {i: phones for i, phones in sends.items() if len(phones) > 1}
    assert twice and all(phones[0] == "phone-01" for phones in twice.values())
    assert any(
        f"SMS {i} (at_most_once) left the radio" in v for i in twice for v in verdict["violations"]
    )


def test_devices_need_real_time_and_a_real_phone_wall_speed(adb_server, tmp_path, capsys):
    file = tmp_path / "mixed-restart.toml"
    file.write_text(MIXED)
    code = main(["run", str(file), "--quiet", "--out", str(tmp_path / "virtual")])
    err = capsys.readouterr().err
    assert code == 2 and "fleet.devices" in err and "--serve" in err
    file.write_text(MIXED.replace('serial = "double"\n\n', 'serial = "R58M123"\n\n', 1))
    argv = ["run", str(file), "--serve", "--quiet", "--out", str(tmp_path / "real")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "real phone (R58M123)" in err and "--time-scale 1" in err, err
    # a phone adb does not see is the hardware missing, not a bad scenario
    code = main([*argv, "--time-scale", "1"])
    err = capsys.readouterr().err
    assert code == 3 and "R58M123: adb does not list it" in err, err


def test_the_scenario_format_checks_fleet_devices():
    text = MIXED.replace('phone = "phone-02"', 'phone = "phone-09"').replace(
        'serial = "double"\nprofile', 'serial = "R58M"\nprofile'
    )
    found = problems(text)
    assert any("fleet.devices[1].phone: unknown phone 'phone-09'" in p for p in found), found
    assert any("fleet.devices[1].profile: a profile is the ADB test double's" in p for p in found)
