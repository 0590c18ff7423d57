"""hil report RUN_DIR: a run folder's reports written again from the folder alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


def test_the_reports_come_back_byte_for_byte_from_the_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(out), "--quiet"]) == 0
    originals = {name: (out / name).read_bytes() for name in ("summary.md", "junit.xml")}
    for name in originals:
        (out / name).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "junit.xml"), str(out / "summary.md")]
    assert {name: (out / name).read_bytes() for name in originals} == originals


def test_what_is_not_a_run_folder_is_bad_input_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path / 'verdicts.json'}: no such file" in capsys.readouterr().err
    (tmp_path / "verdicts.json").write_text('{"scenario": "x",\n  oops}')
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path / 'verdicts.json'}:2: not JSON" in capsys.readouterr().err
    (tmp_path / "verdicts.json").write_text('{"scenario": "x", "verdicts": []}')
    (tmp_path / "server_state.json").write_text("{}")
    (tmp_path / "history.jsonl").write_text('{"t": 0, "kind": "nonsense"}\n')
    assert main(["report", str(tmp_path)]) == 2
    assert "history.jsonl" in capsys.readouterr().err
