"""The ``hil`` command line: exit codes, refused options, interrupts, masked passwords."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from harness.cli import main
from harness.folder import read_history
from harness.process import served_gateway
from scenarios import catalogue, load

ROOT = Path(__file__).resolve().parents[2]

LONG = """
[scenario]
name = "long"
description = "A quiet fleet for a month: a run to interrupt."
max_duration = "30d"
drain = false

[fleet]
count = 3
daily_limit = 500
granted = true

[[workload]]
at = "1m"
count = 300
body = "Hello {first_name}"
"""


def _hil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``hil argv``; its exit code (argparse's too) and stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"


# -- exit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**64)], "--seed"),
        (["--db", "postgresql://::::/"], "database URL"),
        (["--out", "/dev/null"], "/dev/null"),
        (["--out", "{tmp}/a-file"], "a-file"),
        (["--out", "{tmp}/a-file/run"], "a-file"),
        (["--out", "/proc/hil-run"], "/proc/hil-run"),  # read-only, even for root
    ],
)
def test_bad_options_exit_2_before_the_run_and_without_a_traceback(
    options: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    out = ["--out", str(tmp_path / "run")] if "--out" not in options else []
    code, err = _hil(capsys, "run", "smoke", "--quiet", *options, *out)
    assert code == 2
    assert reason in err and "Traceback (most recent" not in err
    assert "virtual" not in err  # refused before the run started
    assert not (tmp_path / "run").exists()


def test_a_crash_in_the_harness_exits_3_in_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: Any) -> None:
        raise RuntimeError("the export broke")

    monkeypatch.setattr("harness.runner._Run.server_state", crash)
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--out", str(tmp_path / "a"))
    assert code == 3
    assert "the export broke" in err and "Traceback (most recent" not in err and "--debug" in err
    for argv in (["run", "--debug"], ["--debug", "run"]):
        code, err = _hil(capsys, *argv, "smoke", "--quiet", "--out", str(tmp_path / argv[0]))
        assert code == 3
        assert "Traceback (most recent" in err and "the export broke" in err


def test_an_unreachable_postgresql_is_one_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://hil:s3cret@127.0.0.1:1/gateway"
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--db", url, "--out", str(tmp_path))
    assert code == 3
    problem = [line for line in err.splitlines() if line.startswith("hil run:")]
    assert len(problem) == 1 and "Connection refused" in problem[0]
    assert "s3cret" not in err and "sqlalche.me" not in err and "Traceback (most recent" not in err
    assert len(err.strip().splitlines()) <= 2  # the "hil run ... ->" line and the problem


@pytest.mark.pg
def test_a_database_lost_mid_run_exits_3(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.run_cli import _ProgressLine

    show = _ProgressLine.__call__
    base, _, name = pg_url.rpartition("/")

    def drop_the_database(self: _ProgressLine, progress: Any) -> None:
        if progress.virtual >= 120:  # the batch is in, phones are sending
            admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        show(self, progress)

    monkeypatch.setattr(_ProgressLine, "__call__", drop_the_database)
    code, err = _hil(capsys, "run", "smoke", "--db", pg_url, "--out", str(tmp_path))
    assert code == 3
    assert "Traceback (most recent" not in err
    assert "hil run: The server under test failed" in err and "database is unavailable" in err


def test_help_explains_the_exit_codes_and_hil_has_a_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        shown = " ".join(capsys.readouterr().out.split())
        for code in ("0 ", "1 ", "2 ", "3 ", "130", "143"):
            assert f"exit code {code}" in shown or f"{code}" in shown.split("exit codes", 1)[1]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "hil 0.1.0"


# -- interrupts -----------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_stops_cleanly_and_says_when(
    sig: signal.Signals, code: int, tmp_path: Path
) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG)
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        # The progress line says the run is under way (virtual time is passing).
        for line in process.stderr:
            if "virtual" in line:
                break
        else:
            pytest.fail(f"the run never started: exit {process.wait()}")
        process.send_signal(sig)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, rest
    assert "Traceback (most recent" not in rest
    assert f"interrupted by {sig.name}" in rest
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["passed"] is False
    stopped = verdicts["interrupted"]
    assert stopped["signal"] == sig.name
    assert 0 < stopped["virtual_seconds"] < 30 * 86400 and stopped["wall_seconds"] > 0
    history = read_history(out)
    assert history[0]["kind"] == "config" and len(history) > 1


# -- seeds, run folders, metadata ----------------------------------------------------------


def test_a_reused_run_folder_keeps_no_stale_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _hil(capsys, "run", "smoke", "--quiet", "--keep-db", "--out", str(out))[0] == 0
    assert (out / "gateway.sqlite3").exists()
    other = tmp_path / "other.sqlite3"
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--db", str(other), "--out", str(out))
    assert code == 0
    assert not (out / "gateway.sqlite3").exists()  # it was the earlier run's
    assert "removed the earlier run's" in err and "gateway.sqlite3" in err


def test_a_foreign_file_in_the_run_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--out", str(tmp_path))
    assert code == 2 and "notes.txt" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_verdicts_say_which_database_and_target_the_run_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "gw.sqlite3"
    assert (
        _hil(capsys, "run", "smoke", "--quiet", "--db", str(db), "--out", str(tmp_path / "r"))[0]
        == 0
    )
    verdicts = json.loads((tmp_path / "r" / "verdicts.json").read_text())
    assert verdicts["database"] == f"sqlite:///{db}"
    assert verdicts["target"] == {
        "server": "server_under_test",
        "version": "0.1.0",
        "mode": "in-process",
        "defects": [],
    }


@pytest.mark.pg
def test_verdicts_and_errors_mask_the_database_password(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _with_password(pg_url, "s3cret")  # the test server trusts local connections
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--db", url, "--out", str(tmp_path))
    assert code == 0
    verdicts = (tmp_path / "verdicts.json").read_text()
    assert "s3cret" not in verdicts + err and ":***@" in verdicts


# -- hil serve ------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_serve_refuses_a_port_outside_1_to_65535(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _hil(capsys, "serve", "--port", port)
    assert code == 2 and "--port" in err and "1 to 65535" in err


@pytest.mark.pg
def test_serve_masks_the_database_password_in_its_banner(pg_url: str, tmp_path: Path) -> None:
    url = _with_password(pg_url, "s3cret")
    with served_gateway(url, tmp_path / "serve.log", admin_token="t") as served:
        assert httpx.get(f"{served.url}/healthz").status_code == 200
    log = (tmp_path / "serve.log").read_text()
    assert "Gateway server on" in log and ":***@" in log and "s3cret" not in log


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Every CPU of this machine in a busy loop while the test runs."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.mark.slow
def test_serve_with_two_workers_comes_up_on_a_loaded_machine(
    busy_cpus: None, sqlite_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with served_gateway(
        sqlite_url, log, "--workers", "2", admin_token="t", startup_timeout=180
    ) as served:
        # Both workers answer, again and again: none was killed while starting.
        for _ in range(20):
            assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
    assert "died" not in log.read_text()


def test_hil_scenarios_lists_the_catalogue_in_aligned_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = sorted(catalogue())
    assert [line.split()[0] for line in lines] == names
    width = max(map(len, names))
    # every description starts in the same column, after the longest name
    assert {len(line) - len(line[width:].lstrip()) for line in lines} == {width + 2}
    assert lines[names.index("smoke")].endswith(load("smoke").description.splitlines()[0])


@pytest.mark.parametrize("command", ["scenarios", "defects"])
def test_a_listing_whose_reader_went_away_exits_0_quietly(command: str) -> None:
    # `hil scenarios | head -1`: the pipe closes before hil writes
    hil = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert hil.stdout is not None and hil.stderr is not None
    hil.stdout.close()
    err = hil.stderr.read().decode()
    assert hil.wait(timeout=120) == 0, err
    assert err == ""
