"""A differential run by hand: phone-01 over ADB (its virtual twin served as an ADB device,
attached to the session's adb server) and phone-02, a virtual phone of the same spec, in
one served run; ``hil report twin`` then puts the two side by side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.cli import main

TWIN = """\
[scenario]
name = "twin"
description = "One phone over ADB and a virtual phone of the same spec share a workload."
max_duration = "30m"

[fleet]
count = 2
daily_limit = 0
rate_limit = 30
granted = true

[[fleet.devices]]
phone = "phone-01"
serial = "double"

[[workload]]
at = "1m"
count = 60
delivery = "at_most_once"
body = "Your table for tonight is booked, {first_name}. See you at 19:00."
"""


def _figures(table: str) -> dict[str, tuple[float, float]]:
    """The table's rows as figure -> (phone-01, phone-02)."""
    rows = re.findall(r"^\| ([^|]+?) \| ([-\d.]+) \| ([-\d.]+) \|", table, re.MULTILINE)
    return {name: (float(a), float(b)) for name, a, b in rows}


def test_the_double_and_the_virtual_twin_give_the_same_figures(
    adb_server: Any, tmp_path: Path, capsys: Any
) -> None:
    file = tmp_path / "twin.toml"
    file.write_text(TWIN)
    out = tmp_path / "run"
    argv = ["run", str(file), "--serve", "--time-scale", "120", "--quiet", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["report", "twin", str(out), "phone-01", "phone-02"]) == 0
    both = _figures(capsys.readouterr().out)
    # The stated tolerance: the two share the workload (each at least one hand-out of 20),
    # send at the same cadence (rate_limit 30/min: one SMS per 2 s) within 25 %, sync
    # their statuses within 10 s of each other at p95 (the app's 3 s sync, and a device's
    # ledger dated at the submit, not at the radio), and neither dozes (plugged in).
    assert sum(both["transmissions"]) == 60
    assert min(both["transmissions"]) >= 20
    assert both["batch size, largest (SMS)"] == (20, 20)
    assert both["SMS synced"] == both["transmissions"]
    p50 = both["send cadence p50 (s)"]
    assert p50[0] > 0 and abs(p50[0] - p50[1]) <= 0.25 * max(p50)
    sync = both["status-sync delay p95 (s)"]
    assert min(sync) > 0 and abs(sync[0] - sync[1]) <= 10
    assert both["Doze transitions"] == (0, 0)
    assert both["time in active (s)"][0] == both["time in active (s)"][1] > 0
