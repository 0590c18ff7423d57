"""The run folder as CI keeps it (issue 12): the history compressed with its digest unchanged,
the server state reduced to what the oracles and reports read, the database only on request,
and folders of the older form still read and cleaned."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.evidence import Evidence
from harness.folder import (
    HISTORY_FILE,
    STATE_FILE,
    STATE_KEYS,
    FolderError,
    read_history,
    read_state,
    reduce_state,
    write_state,
)
from harness.oracles import judge
from harness.runner import run_scenario
from harness.thresholds import judge_thresholds
from reports import REPORT_FIGURES
from reports.summary import render_summary
from scenarios import load
from scenarios.model import Thresholds

REPORTS = ("junit.xml", "summary.md", "report.html", *REPORT_FIGURES)


def _hil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def _smoke(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> None:
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--out", str(out), *extra)
    assert code == 0, err


def test_a_run_folder_holds_the_compressed_history_the_reduced_state_and_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _smoke(capsys, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [HISTORY_FILE, STATE_FILE, "verdicts.json", *REPORTS]
    )
    packed = (out / HISTORY_FILE).read_bytes()
    # a gzip header with no file name (FLG 0) and no time (MTIME 0): same run, same bytes
    assert packed[:4] == b"\x1f\x8b\x08\x00" and packed[4:8] == b"\x00\x00\x00\x00"
    lines = gzip.decompress(packed)
    meta = json.loads((out / "verdicts.json").read_text())
    # the digest is the uncompressed lines', as before the compression
    assert hashlib.sha256(lines).hexdigest() == meta["history_sha256"]
    assert read_history(out) == [json.loads(line) for line in lines.splitlines()]
    state = read_state(out)
    assert len(state["sms"]) == 300 and {row["state"] for row in state["sms"]} == {"sent"}
    assert all(set(row) <= set(STATE_KEYS["sms"]) for row in state["sms"])
    assert len(state["phones"]) == 3 and "api_key" not in state["phones"][0]
    # no credential of the server's phones reaches the artefact
    assert b"api_key" not in gzip.decompress((out / STATE_FILE).read_bytes())
    # the reports say the database is gone and how to keep it
    assert meta["database_kept"] is False
    assert (
        "(removed after the run; `hil run --keep-db` keeps it)" in (out / "summary.md").read_text()
    )


def test_keep_db_keeps_the_run_database_and_a_named_one_is_never_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "kept"
    _smoke(capsys, kept, "--keep-db")
    with sqlite3.connect(kept / "gateway.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sms WHERE state = 'sent'").fetchone() == (300,)
    assert json.loads((kept / "verdicts.json").read_text())["database_kept"] is True
    assert "removed after the run" not in (kept / "summary.md").read_text()
    named = tmp_path / "mine.sqlite3"
    _smoke(capsys, tmp_path / "other", "--db", str(named))
    assert named.stat().st_size > 0
    assert not any((tmp_path / "other").glob("gateway.sqlite3*"))


class _Asked(dict[str, Any]):
    """A state row that notes every key asked of it, present or not."""

    def __init__(self, row: dict[str, Any], asked: set[str]) -> None:
        super().__init__(row)
        self.asked = asked

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


# Runs whose oracles ask the most keys: campaigns_complete's violations (B25), no_loss's
# unjustified failures (C2: SMS failed at enqueue while a phone had room), STOP replies.
@pytest.mark.parametrize(
    ("name", "defects"),
    [("campaign-complete", ("B25",)), ("month-boundary", ("C2",)), ("stop-race", ())],
)
def test_the_oracles_ask_no_key_the_run_folder_drops(
    name: str, defects: tuple[str, ...], tmp_path: Path
) -> None:
    """Judged again with every threshold demanded and missed, so theirs are asked too, and
    the summary rendered again, so the reports' are."""
    scenario = dataclasses.replace(load(name), defects=defects)
    run_scenario(scenario, out=tmp_path)
    asked: dict[str, set[str]] = defaultdict(set)
    state = {
        part: [_Asked(row, asked[part]) for row in rows]
        for part, rows in read_state(tmp_path).items()
    }
    events = read_history(tmp_path)
    evidence = Evidence(events=events, server=state)
    tight = Thresholds(sent=1.0, done_by=60.0, done_by_text="1m", latency_p95=1.0, refused=0)
    verdicts = judge(evidence) + judge_thresholds(evidence, tight)
    assert sum(not v.passed for v in verdicts) >= 3
    render_summary(events, state, json.loads((tmp_path / "verdicts.json").read_text()))
    for part, keys in STATE_KEYS.items():
        assert asked[part] <= set(keys), (part, asked[part] - set(keys))
    assert asked["sms"] >= {"state", "failure_type"}  # the recording works


def test_the_state_comes_back_key_for_key_absent_keys_absent(tmp_path: Path) -> None:
    odoo_like = {"id": 3, "state": "sent", "number": "+420601000003"}  # no issue_count
    state = {
        "sms": [
            {"id": 1, "state": "sent", "issue_count": 1, "number": "+420601000001"},
            {"id": 2, "state": "error", "issue_count": None, "number": "00420601000002"},
            odoo_like,
            {"id": 4, "state": "queued", "issue_count": 2, "number": "+420601000004"},
        ],
        "inbound": [],
        "campaigns": [{"id": 1, "name": "x", "sms_states": {"sent": 3}, "paused": False}],
    }
    write_state(tmp_path, state)
    back = read_state(tmp_path)
    assert back == state
    assert [list(row) for row in back["sms"]] == [list(row) for row in state["sms"]]
    assert "issue_count" not in back["sms"][2]  # absent, not null: the oracles' default holds


def test_reducing_keeps_the_listed_keys_in_their_order_and_parts_it_does_not_list_whole() -> None:
    row = {"uuid": "u", "id": 1, "api": 1, "state": "sent", "gateway_state": "sent"}
    reduced = reduce_state({"sms": [row], "blacklist": [{"number": "+1", "reason": "STOP"}]})
    assert reduced == {
        "sms": [{"id": 1, "state": "sent"}],
        "blacklist": [{"number": "+1", "reason": "STOP"}],
    }
    phone = {"id": 1, "name": "p", "api_key": "secret", "fcm_token": "t", "sent_total": 4}
    assert reduce_state({"phones": [phone]}) == {
        "phones": [{"id": 1, "name": "p", "sent_total": 4}]
    }


def _old_form(out: Path) -> None:
    """Turn a run folder into what hil wrote before issue 12: history.jsonl and a plain
    server_state.json (row by row, every column of the server's export)."""
    (out / "history.jsonl").write_bytes(gzip.decompress((out / HISTORY_FILE).read_bytes()))
    (out / "server_state.json").write_text(json.dumps(read_state(out), ensure_ascii=False))
    (out / HISTORY_FILE).unlink()
    (out / STATE_FILE).unlink()


def test_hil_report_rebuilds_a_folder_of_the_older_form_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    # a full state, as older runs kept it: the server's export with every column
    monkeypatch.setattr("harness.runner.reduce_state", lambda state: state)
    _smoke(capsys, out)
    _old_form(out)
    assert "uuid" in json.loads((out / "server_state.json").read_text())["sms"][0]
    originals = {name: (out / name).read_bytes() for name in REPORTS}
    for name in REPORTS:
        (out / name).unlink()
    assert _hil(capsys, "report", str(out))[0] == 0
    assert {name: (out / name).read_bytes() for name in REPORTS} == originals


def test_a_reused_folder_of_the_older_form_is_cleaned_not_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _smoke(capsys, out, "--keep-db")
    _old_form(out)
    code, err = _hil(capsys, "run", "smoke", "--quiet", "--out", str(out))
    assert code == 0, err
    assert "history.jsonl, server_state.json" in err and "gateway.sqlite3" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [HISTORY_FILE, STATE_FILE, "verdicts.json", *REPORTS]
    )


def test_a_damaged_artefact_is_bad_input_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _smoke(capsys, out)
    history = out / HISTORY_FILE
    whole = history.read_bytes()
    history.write_bytes(whole[: len(whole) // 2])  # an upload cut short
    code, err = _hil(capsys, "report", str(out))
    assert code == 2 and f"{history} is not a whole gzip file" in err
    history.write_bytes(whole)
    state = out / STATE_FILE
    state.write_bytes(gzip.compress(b'{"format": "hil-server-state/columns-9", "parts": {}}'))
    code, err = _hil(capsys, "report", str(out))
    assert code == 2 and f"{state}: a server state in the form" in err
    state.write_text("not gzip")
    code, err = _hil(capsys, "report", str(out))
    assert code == 2 and f"{state}: cannot be read" in err
    state.unlink()
    with pytest.raises(FolderError, match="no such file"):
        read_state(out)
