"""poll-storm and ``[scenario] served``: a scenario that means something only when the server
handles polls at the same time runs served on PostgreSQL, clean and with C5 switched on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from harness.cli import main
from harness.folder import HISTORY_FILE
from harness.run_cli import served_options
from harness.selftest import BROKEN, Probe, run_probe
from scenarios import ScenarioError, load, loads
from scenarios.model import Served

SERVED = """
[scenario]
name = "served-keys"
description = "A served scenario."
max_duration = "1h"
served = {served}

[fleet]
count = 2

[[workload]]
count = 3
body = "Hi"
"""


def _hil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _selftest_databases(server: str) -> set[str]:
    engine = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'hil_selftest_%'")
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_poll_storm_says_it_is_served_with_two_workers_and_claims_c5() -> None:
    storm = load("poll-storm")
    assert storm.served == Served(workers=2, time_scale=30.0)
    assert dict(storm.expect.catches) == {"C5": ("exactly_once",)}
    assert "fcm_wake" in storm.expect.hit
    # every scenario before it runs under any target
    assert load("smoke").served is None


def test_the_served_key_takes_workers_and_a_time_scale_with_defaults() -> None:
    assert loads(SERVED.format(served="{ workers = 4, time_scale = 120 }")).served == Served(
        4, 120.0
    )
    assert loads(SERVED.format(served="{}")).served == Served(2, 60.0)


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ("{ workers = 0 }", "scenario.served.workers", "must be an integer from 1 to 32, not 0"),
        (
            '{ time_scale = "fast" }',
            "scenario.served.time_scale",
            "must be a number above 0 and at most 3600",
        ),
        ("{ wrokers = 2 }", "scenario.served.wrokers", "did you mean 'workers'?"),
        ("true", "scenario.served", "must be a table such as { workers = 2, time_scale = 30 }"),
    ],
)
def test_a_bad_served_key_is_refused_at_its_line(value: str, field: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(SERVED.format(served=value), file="s.toml")
    assert (info.value.file, info.value.line, info.value.field) == ("s.toml", 6, field)
    assert reason in info.value.reason


def test_hil_run_says_what_to_add_to_run_a_served_scenario(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _hil(capsys, "run", "poll-storm", "--out", str(tmp_path / "a"))
    assert code == 2
    assert (
        "Add --serve --db postgresql://USER@HOST:PORT/EMPTY_DB --workers 2 --time-scale 30" in err
    )
    assert "hil selftest --scenario poll-storm" in err
    code, _, err = _hil(capsys, "run", "poll-storm", "--serve", "--out", str(tmp_path / "b"))
    assert code == 2
    assert "SQLite never makes" in err and "Add --db postgresql://" in err
    assert not (tmp_path / "a" / HISTORY_FILE).exists()


def test_hil_run_serve_takes_the_scenarios_workers_and_time_scale_unless_given() -> None:
    storm = load("poll-storm")
    given = {"target": None, "serve": True, "db": "postgresql://u@h:5432/d"}
    args = served_options(argparse.Namespace(**given, workers=None, time_scale=None), storm)
    assert (args.workers, args.time_scale) == (2, 30.0)
    args = served_options(argparse.Namespace(**given, workers=3, time_scale=10.0), storm)
    assert (args.workers, args.time_scale) == (3, 10.0)


def test_an_unreachable_postgresql_breaks_the_served_probe_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/postgres"
    outcome = run_probe(Probe("poll-storm", "C5", ("exactly_once",)), tmp_path, pg=nowhere)
    assert outcome.status == BROKEN
    assert "Cannot create a database on the PostgreSQL server" in outcome.detail
    assert "hil selftest --pg URL" in outcome.detail
    assert outcome.replay() == (
        "hil run poll-storm --seed 1 --defect C5 --serve --db "
        "postgresql://postgres@127.0.0.1:1/EMPTY_DB --workers 2 --time-scale 30"
    )
    code, _, err = _hil(
        capsys,
        "selftest",
        "--scenario",
        "poll-storm",
        "--pg",
        nowhere,
        "--workers",
        "1",
        "--out",
        str(tmp_path / "cli"),
    )
    assert code == 3  # a broken run, never a silent skip
    assert "Cannot create a database on the PostgreSQL server" in err


@pytest.mark.pg
def test_poll_storm_is_green_served_and_catches_c5(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pg_url names the PostgreSQL server; the self-test makes a database per run there.
    before = _selftest_databases(pg_url)
    # One run at a time: each is already a server of two workers plus thirty phones.
    code, out, err = _hil(
        capsys,
        "selftest",
        "--scenario",
        "poll-storm",
        "--pg",
        pg_url,
        "--workers",
        "1",
        "--out",
        str(tmp_path),
    )
    assert code == 0, out + err
    saved = json.loads((tmp_path / "selftest.json").read_text())
    by = {(o["probe"]["defect"] or "clean"): o for o in saved["outcomes"]}
    assert by["clean"]["status"] == "clean" and by["clean"]["failed"] == []
    assert by["C5"]["status"] == "caught" and "exactly_once" in by["C5"]["failed"]
    assert "(at_most_once) left the radio 2 times" in by["C5"]["detail"]
    for folder in ("clean--poll-storm", "C5--poll-storm"):
        meta = json.loads((tmp_path / folder / "verdicts.json").read_text())
        assert meta["target"]["workers"] == 2 and meta["database"].startswith("postgresql")
        assert meta["target"]["time_scale"] == 30
    # every database the self-test made is gone again
    assert _selftest_databases(pg_url) == before
