"""``hil explore``: fault schedules drawn by Hypothesis, a failure shrunk to a scenario file.

The defect tests each write a small scenario of their own (two phones, a handful of SMS) in
which the defect shows only under faults: the same scenario without faults passes with the
defect on, and the minimal schedule passes on the correct server. Exploration is
deterministic, so each test's seed is one under which a few examples find the failure.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import TargetError
from harness.explore import (
    TIMED_KINDS,
    PlacedFault,
    Step,
    explore,
    place,
    render,
    schedule_strategy,
)
from scenarios import catalogue, load, loads
from simulator.config import FAULT_KINDS, FAULT_WAIT_LIMIT

# C6 (the stuck reset queues at_most_once SMS again): a phone that dies while Android holds
# SMS for it never confirms them, and 30 minutes later they are handed out a second time.
AT_MOST_ONCE = """\
[scenario]
name = "amo"
description = "Two phones send 20 at-most-once SMS."
max_duration = "1h"

[fleet]
count = 2
daily_limit = 0
granted = true

[[workload]]
at = "1m"
count = 20
delivery = "at_most_once"
body = "Your table for tonight is booked, {first_name}."
"""

# B8 (a STOP does not cancel SMS already queued): a follow-up is queued with the first
# campaign and is normally sent at once, before anyone replies; a phone cut off from the
# network keeps its share queued while STOPs come in through the other phone.
STOP_FOLLOW_UP = """\
[scenario]
name = "stop-follow-up"
description = "Every recipient replies STOP; a follow-up to them is queued with the first SMS."
max_duration = "1h"

[fleet]
count = 2
daily_limit = 0
granted = true

[recipients]
stop_probability = 1.0
stop_delay = "3m"

[[workload]]
at = "10m"
count = 11  # one more than the follow-up: each recipient's two SMS go to different phones
campaign = "first"
body = "Hi {first_name}, new arrivals are in. Reply STOP to opt out."

[[workload]]
at = "10m"
count = 10
campaign = "follow-up"
recipients = "same"
body = "Last chance, {first_name}. Reply STOP to opt out."
"""

# S1 (inbox-scan reports deduped only within 10 minutes): the app's inbox scan after a
# restart re-reports STOPs received more than 10 minutes earlier. The run goes on after the
# SMS are done (drain = false) so that a restart can come late; explored with --settle 35m,
# which leaves the stuck reset time to settle what a fault left unconfirmed.
STOP_THEN_RESTART = """\
[scenario]
name = "stop-then-restart"
description = "Every recipient replies STOP within a minute; the run goes on for an hour."
max_duration = "1h"
drain = false

[fleet]
count = 2
daily_limit = 0
granted = true

[recipients]
stop_probability = 1.0
stop_delay = "30s"

[[workload]]
at = "1m"
count = 6
campaign = "sale"
body = "Hi {first_name}, the sale starts today. Reply STOP to opt out."
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _faults(path: Path) -> set[tuple[str, float, str, float, str]]:
    scenario = load(path)
    return {
        (phone.name, f.at, f.kind, f.duration, f.during)
        for phone in scenario.world.phones
        for f in phone.faults
    }


def _explore(
    capsys: pytest.CaptureFixture[str], scenario: Path, out: Path, *options: str
) -> tuple[int, dict[str, object], str, str]:
    code = main(["explore", str(scenario), "--out", str(out), *options])
    printed = capsys.readouterr()
    found = json.loads((out / "explore.json").read_text())
    return code, found, printed.out, printed.err


def _check_found(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scenario: Path,
    found: dict[str, object],
    stdout: str,
    stderr: str,
    defect: str,
) -> Path:
    """What every found failure must show: the oracle and its first violation printed, a
    minimal file that is the scenario with the minimal [[faults]], a replay line that
    fails the same oracle with the same history, and a correct server that passes it."""
    oracle, violation = found["oracle"], found["violation"]
    assert isinstance(oracle, str) and isinstance(violation, str) and violation
    file = Path(str(found["file"]))
    assert f"FOUND: {oracle} fails" in stdout and violation in stdout
    # one progress line per run on stderr
    runs = [line for line in stderr.splitlines() if line.startswith(("example ", "shrink "))]
    assert len(runs) == int(str(found["examples"])) + int(str(found["shrink_runs"]))

    # The file loads, holds exactly the minimal schedule, and the rest of the scenario as
    # it was (fleet and workload).
    schedule = found["schedule"]
    assert isinstance(schedule, list) and schedule
    assert _faults(file) == {
        (f["phone"], f["at"], f["kind"], f["duration"], f["during"]) for f in schedule
    }
    minimal, original = load(file), load(scenario)
    assert minimal.workload == original.workload
    # The run is longer by the time the phones were down (and waited for SMS in flight):
    # their backlog waits as long, and the oracles must judge a drained queue.
    down = sum(
        int(str(f["duration"])) + (FAULT_WAIT_LIMIT if f["during"] == "sending" else 0)
        for f in schedule
        if f["kind"] in TIMED_KINDS
    )
    assert minimal.max_duration == original.max_duration + down
    assert [dataclasses.replace(p, faults=()) for p in minimal.world.phones] == [
        dataclasses.replace(p, faults=()) for p in original.world.phones
    ]

    # The printed replay line fails the same oracle, with the very history explored.
    replay = next(line for line in stdout.splitlines() if line.startswith("replay: "))
    words = shlex.split(replay.removeprefix("replay: "))
    assert words[:3] == ["hil", "run", str(file)] and words[-2:] == ["--defect", defect]
    code = main([*words[1:], "--out", str(tmp_path / "replay"), "--quiet"])
    capsys.readouterr()
    assert code == 1
    verdicts = json.loads((tmp_path / "replay" / "verdicts.json").read_text())
    assert oracle in {v["name"] for v in verdicts["verdicts"] if not v["passed"]}
    assert verdicts["history_sha256"] == found["replay_digest"]

    # The correct server passes the same schedule: the failure is the defect's.
    seed = str(found["seed"])
    code = main(["run", str(file), "--seed", seed, "--out", str(tmp_path / "clean"), "--quiet"])
    capsys.readouterr()
    assert code == 0
    return file


def test_c6_is_found_under_a_reboot_and_shrunk_to_it_the_same_way_every_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _write(tmp_path, "amo", AT_MOST_ONCE)
    options = ["--defect", "C6", "--kind", "reboot", "--kind", "process_death"]
    options += ["--max-steps", "3", "--examples", "8", "--shrink-runs", "15", "--seed", "2"]
    code, found, stdout, stderr = _explore(capsys, scenario, tmp_path / "explore", *options)
    assert code == 1, stderr
    assert found["oracle"] == "exactly_once"
    assert "re-issued despite at_most_once" in str(found["violation"])
    # shrunk to one fault on the first phone, striking while Android holds SMS for it
    schedule = found["schedule"]
    assert isinstance(schedule, list) and len(schedule) == 1
    assert schedule[0]["phone"] == "phone-01" and schedule[0]["during"] == "sending"
    assert schedule[0]["kind"] in ("reboot", "process_death")
    file = _check_found(tmp_path, capsys, scenario, found, stdout, stderr, "C6")
    assert file == tmp_path / "explore" / "amo-minimal.toml"

    # Same inputs, same exploration: the same runs, the same minimal file.
    lines: list[str] = []
    again = explore(
        scenario,
        out=tmp_path / "again",
        defects=["C6"],
        examples=8,
        seed=2,
        kinds=["reboot", "process_death"],
        max_steps=3,
        shrink_runs=15,
        progress=lines.append,
    )
    assert again.replay_digest == found["replay_digest"]
    assert [dataclasses.asdict(f) for f in again.schedule] == found["schedule"]
    assert (again.examples, again.shrink_runs) == (found["examples"], found["shrink_runs"])

    def runs(text: list[str]) -> list[str]:  # the progress lines without their wall times
        return [s.rsplit("  (", 1)[0] for s in text if s.startswith(("example ", "shrink "))]

    assert runs(lines) == runs(stderr.splitlines())
    assert again.file is not None
    assert again.file.read_text().replace(
        str(tmp_path / "again"), "DIR"
    ) == file.read_text().replace(str(tmp_path / "explore"), "DIR")


def test_b8_is_found_under_a_partition_and_the_file_replays_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _write(tmp_path, "stop-follow-up", STOP_FOLLOW_UP)
    # Without faults the follow-up leaves before any STOP: B8 does not show.
    code = main(["run", str(scenario), "--defect", "B8", "--out", str(tmp_path / "r")])
    capsys.readouterr()
    assert code == 0
    options = ["--defect", "B8", "--kind", "partition", "--max-steps", "2"]
    options += ["--examples", "8", "--shrink-runs", "12", "--seed", "2"]
    code, found, stdout, stderr = _explore(capsys, scenario, tmp_path / "explore", *options)
    assert code == 1, stderr
    assert found["oracle"] == "stop_respected"
    assert "after that number's STOP reached the server" in str(found["violation"])
    schedule = found["schedule"]
    assert isinstance(schedule, list) and len(schedule) == 1
    assert schedule[0]["kind"] == "partition"
    _check_found(tmp_path, capsys, scenario, found, stdout, stderr, "B8")


def test_s1_is_found_under_a_late_restart_and_the_file_replays_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _write(tmp_path, "stop-then-restart", STOP_THEN_RESTART)
    code = main(["run", str(scenario), "--defect", "S1", "--out", str(tmp_path / "r")])
    capsys.readouterr()
    assert code == 0  # no restart, no inbox scan: S1 does not show
    options = ["--defect", "S1", "--kind", "process_death", "--kind", "reboot", "--settle", "35m"]
    options += ["--max-steps", "1", "--examples", "8", "--shrink-runs", "12", "--seed", "2"]
    code, found, stdout, stderr = _explore(capsys, scenario, tmp_path / "explore", *options)
    assert code == 1, stderr
    assert found["oracle"] == "inbound_once"
    assert "the server recorded it 2 times" in str(found["violation"])
    schedule = found["schedule"]
    assert isinstance(schedule, list) and len(schedule) == 1
    # the phone back from its reboot more than 10 minutes after the STOPs came in (the
    # workload at 1m, the replies after it), so its inbox scan after the boot reports STOPs
    # older than the live window. (Which reboot the shrinker settles on, a late short one or
    # an early long one, depends on the Hypothesis release; both are this condition.)
    reboot = schedule[0]
    assert reboot["kind"] == "reboot" and reboot["at"] + reboot["duration"] > 60 + 600
    _check_found(tmp_path, capsys, scenario, found, stdout, stderr, "S1")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        (AT_MOST_ONCE, []),
        (STOP_FOLLOW_UP, []),
        (STOP_THEN_RESTART, ["--settle", "35m"]),
    ],
    ids=["at-most-once", "stop-follow-up", "stop-then-restart"],
)
def test_on_the_correct_server_a_handful_of_examples_find_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, options: list[str]
) -> None:
    scenario = _write(tmp_path, "scenario", text)
    options = [*options, "--examples", "5", "--max-steps", "3", "--seed", "3"]
    code, found, stdout, stderr = _explore(capsys, scenario, tmp_path / "explore", *options)
    assert code == 0, stderr
    assert not found["found"] and found["schedule"] == [] and found["file"] is None
    assert stdout.startswith("PASSED: no oracle failed in 5 examples")
    runs = [line for line in stderr.splitlines() if line.startswith("example ")]
    assert len(runs) == found["examples"] and all(line.endswith("s)") for line in runs)
    assert all("-> pass" in line for line in runs)
    assert not list((tmp_path / "explore").glob("*.toml"))


# -- bad input and broken runs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["no-such-scenario"], "no catalogue scenario of that name"),
        (["smoke", "--defect", "B99"], "unknown defect switch B99; `hil defects` lists them"),
        (["smoke", "--kind", "meteor"], "unknown fault kind meteor; the kinds are"),
        (["smoke", "--settle", "2h"], "leaves no time for faults"),
        (["smoke", "--max-duration", "soon"], "--max-duration must be a duration"),
        (["smoke", "--oracle", "vibes"], "does not judge the oracle 'vibes'"),
        (["smoke", "--examples", "0"], "--examples and --max-steps must be at least 1"),
        (["smoke", "--seed", "-1"], "--seed must be an integer from 0 to 2**64 - 1"),
        (["poll-storm"], "hil explore runs in virtual time"),
    ],
)
def test_bad_input_is_refused_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    out = tmp_path / "explore"
    code = main(["explore", *options, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hil explore: ") and says in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before anything ran


def test_a_max_duration_before_the_workload_is_refused_with_the_files_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _write(tmp_path, "amo", AT_MOST_ONCE)
    code = main(["explore", str(scenario), "--max-duration", "30s", "--settle", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "workload[0].at" in err and "max_duration" in err


def test_a_run_that_breaks_is_a_harness_error_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TargetError("The server under test failed at 60 s of the run: disk full")

    monkeypatch.setattr("harness.explore.run_scenario", broken)
    out = tmp_path / "explore"
    code = main(["explore", "smoke", "--examples", "3", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3
    assert "hil explore: a run broke: TargetError: The server under test failed" in err
    assert json.loads((out / "explore.json").read_text())["broken"]


def test_help_explains_the_property_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["explore", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in ("Hypothesis", "shrink", "hil run FILE --seed N", "Exit codes: 0", "--settle"):
        assert word in text
    assert "no server faults" in text


# -- the schedule and the file, without runs -------------------------------------------------


def test_place_orders_cuts_and_drops_faults_by_the_window() -> None:
    steps = [
        Step(at=900, phone=1, kind="partition", duration=600),
        Step(at=60, phone=0, kind="reboot", duration=30, during="sending"),
        Step(at=60, phone=1, kind="unplug"),
        Step(at=1200, phone=0, kind="process_death", duration=10),
    ]
    assert place(steps, ["phone-01", "phone-02"], until=1200) == [
        PlacedFault(60, "phone-01", "reboot", 30, "sending"),
        PlacedFault(60, "phone-02", "unplug", 0, "any"),
        PlacedFault(900, "phone-02", "partition", 300, "any"),  # cut to end at 1200
    ]  # the process death at 1200 would not be over by then: left out


def test_render_replaces_the_faults_and_keeps_the_rest_of_the_text() -> None:
    text = catalogue()["slow-drain"].read_text()
    faults = [PlacedFault(90, "phone-02", "partition", 120, "any")]
    out = render(text, faults, name="slow-drain-minimal", seed=7, note=["hello"])
    assert out.startswith("# hello\n")
    scenario, original = loads(out), load("slow-drain")
    assert scenario.name == "slow-drain-minimal" and scenario.seed == 7
    assert scenario.world.phones[1].faults[0].kind == "partition"
    assert not scenario.world.phones[0].faults  # the file's own faults are gone
    assert scenario.workload == original.workload
    assert scenario.expect == dataclasses.replace(original.expect, hit=(), fail=())
    assert scenario.description == original.description
    kept = render(text, faults, name="x", seed=1, keep_faults=True)
    assert len(loads(kept).world.phones[0].faults) == 2  # extended, not replaced


def test_render_drops_demanded_paths_and_reads_multi_line_values() -> None:
    text = catalogue()["stop-restart"].read_text()  # [expect] hit, [[faults]], a long text
    text = text.replace('hit = ["stop_race", "stale_rescan"]', 'hit = [\n  "stop_race",\n]')
    text = text.replace("STOP replies, then", "[[faults]]\n[expect]\nSTOP replies, then")
    out = render(text, [], name="s", seed=1, max_duration=3600)
    scenario = loads(out)
    assert scenario.expect.hit == () and scenario.max_duration == 3600
    assert all(not phone.faults for phone in scenario.world.phones)
    assert scenario.description.startswith("[[faults]]\n[expect]\nSTOP replies")
    assert dict(scenario.expect.catches) == {"S1": ("inbound_once",)}


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_every_drawn_schedule_renders_to_a_scenario_that_loads(data: st.DataObject) -> None:
    text = catalogue()["restart-in-flight"].read_text()
    kinds = data.draw(st.lists(st.sampled_from(FAULT_KINDS), min_size=1, unique=True))
    schedule = data.draw(schedule_strategy(3, 3600, kinds, 6))
    faults = place(schedule, ["phone-01", "phone-02", "phone-03"], 3600)
    scenario = loads(render(text, faults, name="r", seed=1))
    placed = sorted(
        (f.at, p.name, f.kind, f.duration, f.during)
        for p in scenario.world.phones
        for f in p.faults
    )
    assert placed == sorted((f.at, f.phone, f.kind, f.duration, f.during) for f in faults)
    assert all(f.at + f.duration <= 3600 for f in faults)
