"""hil report RUN_DIR: a run folder's reports written again from the folder alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner import run_scenario
from reports import REPORT_FIGURES
from scenarios import load

REPORTS = ("junit.xml", "summary.md", "report.html", *REPORT_FIGURES)


def test_the_reports_come_back_byte_for_byte_from_the_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(out), "--quiet"]) == 0
    originals = {name: (out / name).read_bytes() for name in REPORTS}
    for name in originals:
        (out / name).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / name) for name in REPORTS]
    assert {name: (out / name).read_bytes() for name in originals} == originals


def test_an_interrupted_run_gets_its_junit_xml_back_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "verdicts.json").read_text())
    meta["interrupted"] = {"signal": "SIGINT", "virtual_seconds": 60.0, "wall_seconds": 0.1}
    (out / "verdicts.json").write_text(json.dumps(meta))
    for name in ("server_state.json.gz", *REPORTS):
        (out / name).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "junit.xml")]
    assert not (out / "report.html").exists() and not (out / "summary.md").exists()


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


def test_a_run_that_skipped_its_report_gets_it_from_hil_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    run_scenario(load("smoke"), out=out, reports=False)  # as the self-test's runs do
    assert (out / "junit.xml").exists()
    assert not any((out / name).exists() for name in REPORTS[1:])
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / name) for name in REPORTS]


def test_report_twin_prints_two_phones_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "twin", str(run), "phone-01", "phone-02"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("# Twin run: phone-01 and phone-02\n")
    # smoke's 300 SMS are shared evenly by three phones that hand out 20 at a time
    assert "| transmissions | 100 | 100 | 0 |" in table
    assert "| batch size, largest (SMS) | 20 | 20 | 0 |" in table
    assert "| SMS synced | 100 | 100 | 0 |" in table


def test_report_twin_bad_input_is_exit_2_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "twin", str(run), "phone-01"]) == 2
    assert "report twin takes a run folder and two of its phones; got 2" in capsys.readouterr().err
    assert main(["report", "twin", str(run), "phone-01", "phone-9"]) == 2
    err = capsys.readouterr().err
    assert "the run has no phone 'phone-9'; its phones are phone-01, phone-02, phone-03" in err
    assert main(["report", "twin", str(tmp_path / "nope"), "a", "b"]) == 2
    assert f"{tmp_path / 'nope'}: no such folder" in capsys.readouterr().err
