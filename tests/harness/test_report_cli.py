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


def test_report_diff_passes_a_run_against_itself_and_fails_a_defective_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert main(["run", "restart-in-flight", "--out", str(good), "--quiet"]) == 0
    assert main(["run", "restart-in-flight", "--defect", "C6", "--out", str(bad), "--quiet"]) == 1
    capsys.readouterr()

    assert main(["report", "diff", str(good), str(good), "--tolerance", "0%"]) == 0
    same = capsys.readouterr().out
    assert "REGRESSION" not in same
    assert "no regression beyond the tolerance" in same

    assert main(["report", "diff", str(good), str(bad)]) == 1
    text = capsys.readouterr().out
    assert "Oracles red in B, green in A: exactly_once" in text
    violations = next(line for line in text.splitlines() if line.startswith("| oracle violations"))
    assert violations.split("|")[2:4] == [" 0 ", " 20 "]  # the 20 double sends C6 makes
    assert violations.rstrip().endswith("| REGRESSION |")

    # The other way round the defective build is the baseline: the good one fixes an oracle.
    assert main(["report", "diff", str(bad), str(good), "--tolerance", "50%"]) == 0
    assert "Oracles green in B, red in A: exactly_once" in capsys.readouterr().out


def test_report_diff_bad_input_is_exit_2_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "diff", str(run)]) == 2
    assert "report diff takes two run folders, baseline first; got 1" in capsys.readouterr().err
    assert main(["report", "diff", str(run), str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'}: no such folder" in capsys.readouterr().err
    assert main(["report", str(run), "--tolerance", "5%"]) == 2
    assert "--tolerance is for report diff A B only" in capsys.readouterr().err
    assert main(["report", str(run), str(run)]) == 2
    assert "report takes one run folder, or 'diff' and two; got 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report", "diff", str(run), str(run), "--tolerance", "lots"])
    assert exit_.value.code == 2
    assert "'lots' is not a share; write it as 5% or 0.05" in capsys.readouterr().err
