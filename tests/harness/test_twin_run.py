"""A differential run through ``hil run --twin``: phone-01 over ADB (its virtual twin served
as an ADB device, attached to the session's adb server) beside phone-01-twin, a virtual phone
of the same spec, in one served run; ``twin.md`` puts the two side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

# No [[fleet.devices]]: --twin makes phone-01 the run's device and adds its twin.
TWIN = """\
[scenario]
name = "twin"
description = "One phone of the same spec over ADB and as a virtual phone share a workload."
max_duration = "30m"

[fleet]
count = 1
daily_limit = 0
rate_limit = 30
granted = true

[[workload]]
at = "1m"
count = 60
delivery = "at_most_once"
body = "Your table for tonight is booked, {first_name}. See you at 19:00."
"""
SERVE = ["--serve", "--time-scale", "120", "--quiet"]


def _file(tmp_path: Path, text: str = TWIN) -> str:
    file = tmp_path / "twin.toml"
    file.write_text(text)
    return str(file)


def _figures(table: str) -> dict[str, tuple[float, float]]:
    """The table's rows as figure -> (phone-01, phone-01-twin)."""
    rows = re.findall(r"^\| ([^|]+?) \| ([-\d.]+) \| ([-\d.]+) \|", table, re.MULTILINE)
    return {name: (float(a), float(b)) for name, a, b in rows}


def test_a_twin_run_puts_the_device_beside_its_twin(
    adb_server: Any, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "run"
    code = main(["run", _file(tmp_path), "--twin", "double", *SERVE, "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stdout + stderr
    assert f"twin: {out / 'twin.md'} (phone-01 over ADB beside phone-01-twin)" in stdout
    meta = json.loads((out / "verdicts.json").read_text())
    assert meta["scenario"] == "twin-twin" and meta["passed"]
    assert list(meta["devices"]) == ["phone-01"] and meta["devices"]["phone-01"]["radio"] > 0
    table = (out / "twin.md").read_text()
    assert table.startswith("# Twin run: phone-01 and phone-01-twin\n")
    # the run's twin.md is what `hil report twin` makes of the folder
    assert main(["report", "twin", str(out), "phone-01", "phone-01-twin"]) == 0
    assert capsys.readouterr().out == table
    # and `hil report RUN_DIR` writes it again from the folder, as the other reports
    (out / "twin.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "twin.md").read_text() == table
    assert meta["twin"] == ["phone-01", "phone-01-twin"]
    both = _figures(table)
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
    # the folder is a run's: a later run in it removes twin.md, as the run's other files
    assert main(["run", _file(tmp_path), "--quiet", "--out", str(out)]) == 0
    assert "twin.md" in capsys.readouterr().err and not (out / "twin.md").exists()


@pytest.mark.parametrize(
    ("options", "text", "message"),
    [
        (
            ["--twin", "double", *SERVE, "--twin-phone", "phone-07"],
            TWIN,
            "--twin-phone 'phone-07': {file} has no such phone; its phones are phone-01.",
        ),
        (
            ["--twin", "double", "--quiet"],
            TWIN,
            "--twin runs a phone over ADB, which lives in real time: add --serve",
        ),
        (
            ["--twin", "double", *SERVE],
            TWIN.replace("count = 1", "count = 2")
            + '\n[[fleet.devices]]\nphone = "phone-02"\nserial = "double"\n',
            "{file} already has [[fleet.devices]] (phone-02 (double))",
        ),
        (
            ["--twin-phone", "phone-01", *SERVE],
            TWIN,
            "--twin-phone only goes with --twin SERIAL.",
        ),
    ],
    ids=["unknown-phone", "virtual-time", "has-devices", "phone-without-twin"],
)
def test_what_cannot_be_twinned_is_refused_before_the_run(
    tmp_path: Path, capsys: Any, options: list[str], text: str, message: str
) -> None:
    file = _file(tmp_path, text)
    out = tmp_path / "run"
    code = main(["run", file, *options, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and f"hil run: {message.format(file=file)}" in err, err
    assert not out.exists()
