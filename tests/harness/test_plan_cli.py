"""hil plan: bad input names the option (exit 2), --help explains, an unreachable
scheduler is the harness's failure (exit 3), and a small plan answers its question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness.pool
from harness.cli import main

SMALL = ["plan", "--recipients", "400", "--deadline", "09:00", "--rate-limit", "600"]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--start", "09:30"], "--deadline 09:00 is not after --start 09:30"),
        (["--daily-limit", "-5"], "--daily-limit: must be an integer from 0 to 10,000,000"),
        (["--monthly-limit", "400000000"], "--monthly-limit: must be an integer from 0"),
        (["--phones", "600", "--slice", "0"], "--phones: must be an integer from 1 to 500"),
        (["--parts", "11"], "--parts must be from 1 to 10"),
        (["--timezone", "Mars/Olympus"], "--timezone 'Mars/Olympus' is not an IANA time zone"),
        (["--scheduler", "localhost"], "--scheduler must be a Dask scheduler address"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    extra: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, *extra, "--out", str(tmp_path / "plan")]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "plan" / "plan.json").exists()


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--deadline", "18h"], "argument --deadline: must be a local time HH:MM"),
        (["--recipients", "many"], "argument --recipients: invalid int value"),
        (["--margin", "120%"], "argument --margin"),
        (["--android-cap", "none"], "argument --android-cap: invalid choice"),
    ],
)
def test_unreadable_values_exit_2_naming_the_option(
    extra: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*SMALL, *extra])
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_a_folder_that_is_not_a_plan_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main([*SMALL, "--out", str(tmp_path)]) == 2
    assert "is a folder with files but no plan.json" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_help_explains_the_plan_its_slices_and_its_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["plan", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "closed-form estimate",
        "Slices:",
        "--slice 0 simulates every phone",
        "--scheduler tcp://HOST:PORT",
        "Exit codes: 0 a simulated fleet meets the deadline",
        "daily_limit:",
        "poll_cadence:",
    ):
        assert phrase in text


def test_an_unreachable_scheduler_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.pool, "CONNECT_TIMEOUT", 1.0)
    out = tmp_path / "plan"
    assert main([*SMALL, "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "Cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_a_small_plan_recommends_the_fleet_and_judges_the_one_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """400 SMS at 100 a phone a day: four phones, whatever the time allows; the three the
    operator has refuse a hundred (exit 1); one phone sends 400 in the hour, so raising the
    daily limit to 400 would do with one."""
    out = tmp_path / "plan"
    code = main(
        [*SMALL, "--daily-limit", "100", "--phones", "3", "--slice", "2", "--out", str(out)]
    )
    printed = capsys.readouterr()
    assert code == 1
    lines = printed.out.splitlines()
    assert lines[1].startswith("estimate: 4 phones")
    assert lines[-1].startswith("plan: ")
    plan = json.loads((out / "plan.json").read_text())
    total = len(plan["points"])
    assert printed.err.splitlines()[-1].startswith(f"[{total}/{total}] ")
    rec = plan["recommendation"]
    assert (rec["phones"], rec["binding"]) == (4, "daily_limit")
    assert rec["fleet"] == {
        "phones": 3,
        "meets": False,
        "completion": rec["fleet"]["completion"],
        "sent": 300,
        "refused": 100,
    }
    assert rec["change"]["key"] == "raise-daily-limit" and rec["change"]["estimate_phones"] == 1
    assert {p["variant"] for p in plan["points"]} == {"asked", "raise-daily-limit"}
    for point in plan["points"]:
        assert point["broken"] == ""
        est, sim = point["estimate"]["completion"], point["fleet"]["completion"]
        assert est == pytest.approx(sim, rel=0.10), point["scenario"]
        assert point["difference"] == pytest.approx((est - sim) / sim, abs=1e-3)
    html = (out / "plan.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "Estimate and simulation, side by side" in (out / "plan.md").read_text()
    replay = sorted((out / "points").glob("*.toml"))[0]
    assert main(["run", str(replay), "--out", str(tmp_path / "replay"), "--quiet"]) == 0


def test_starting_earlier_is_planned_on_the_clock_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1200 SMS between 08:00 and 08:40, no limits: the poll cadence binds (three phones);
    starting at 07:00 instead, one phone would do. The earlier start's points run from
    07:00, and the plan shows their times on the clock asked."""
    out = tmp_path / "plan"
    args = ["plan", "--recipients", "1200", "--deadline", "08:40", "--daily-limit", "0"]
    assert main([*args, "--rate-limit", "600", "--slice", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    plan = json.loads((out / "plan.json").read_text())
    rec = plan["recommendation"]
    assert (rec["phones"], rec["binding"]) == (3, "poll_cadence")
    assert (rec["change"]["key"], rec["change"]["estimate_phones"]) == ("start-earlier", 1)
    assert plan["variants"]["start-earlier"]["earlier"] == 3600
    one = next(p for p in plan["points"] if p["variant"] == "start-earlier" and p["phones"] == 1)
    assert one["meets"] and one["fleet"]["completion"] < plan["question"]["target_seconds"]
    # the difference is taken on its own clock, from 07:00
    own = one["fleet"]["completion"] + 3600
    assert one["estimate"]["completion"] + 3600 == pytest.approx(own, rel=0.10)
    assert one["difference"] == pytest.approx(
        (one["estimate"]["completion"] + 3600) / own - 1, abs=1e-3
    )
    text = (out / "points" / "plan-start-earlier-p0001.toml").read_text()
    assert 'start = "2026-03-02T07:00:00+01:00"' in text
