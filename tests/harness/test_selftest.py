"""``hil selftest`` and ``hil defects``: the detection matrix, proved on real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.folder import HISTORY_FILE
from harness.selftest import CAUGHT, CLEAN, MISSED, Probe, claims, plan, selftest
from scenarios import catalogue, load
from server_under_test import KNOWN_DEFECTS
from simulator.config import APP_DEFECTS


def test_every_catalogue_claim_becomes_a_probe_and_the_rest_are_uncovered() -> None:
    scenarios = [load(name) for name in catalogue()]
    probes, uncovered = plan(scenarios)
    claimed = {(p.scenario, p.defect) for p in probes if p.defect is not None}
    expected = {(s.name, d) for s in scenarios for d, _ in s.expect.catches}
    assert claimed == expected and expected  # one probe per claim, and there are claims
    cleans = [p.scenario for p in probes if p.defect is None]
    assert sorted(cleans) == sorted({s for s, _ in expected})  # one clean run per scenario
    assert set(uncovered) == {d for d in KNOWN_DEFECTS if d not in {d for _, d in expected}}
    assert set(claims()) == set(KNOWN_DEFECTS)


def test_plan_refuses_a_defect_the_server_does_not_have() -> None:
    with pytest.raises(ValueError, match="Unknown defect switch"):
        plan([load("smoke")], defects=["B99"])


def test_a_selftest_catches_what_limits_day_claims_and_its_clean_run_passes(
    tmp_path: Path,
) -> None:
    probes, _ = plan([load("limits-day")], defects=["B1", "C9"])
    matrix = selftest(probes, tmp_path, workers=2)
    by = {(o.probe.defect or "clean"): o for o in matrix.outcomes}
    assert by["clean"].status == CLEAN and by["clean"].failed == ()
    for defect in ("B1", "C9"):
        assert by[defect].status == CAUGHT, by[defect]
        assert "no_loss" in by[defect].failed
    # C9 refuses every SMS at the enqueue, 2 minutes in; B1's stalled queue shows only at
    # the end of the run, which never drains: its hour is up.
    assert by["C9"].detected_at == 120.0
    assert by["B1"].detected_at == by["B1"].virtual_seconds
    assert matrix.passed
    saved = json.loads((tmp_path / "selftest.json").read_text())
    assert saved["passed"] and saved["counts"]["caught"] == 2 and saved["counts"]["clean"] == 1
    table = (tmp_path / "selftest.md").read_text()
    assert (
        "| B1 | caught: no_loss at 1:00:00 |" in table
        and "| C9 | caught: no_loss at 0:02:00 |" in table
    )
    assert (tmp_path / "C9--limits-day" / HISTORY_FILE).exists()


def test_a_defect_the_scenario_cannot_expose_is_reported_missed(tmp_path: Path) -> None:
    # smoke has no STOP replies, so a server ignoring STOPs (B8) passes it.
    text = catalogue()["smoke"].read_text() + '\n[expect]\ncatches = { B8 = "stop_respected" }\n'
    path = tmp_path / "smoke-b8.toml"
    path.write_text(text.replace('name = "smoke"', 'name = "smoke-b8"'))
    matrix = selftest([Probe(str(path), "B8", ("stop_respected",))], tmp_path / "out", workers=1)
    (outcome,) = matrix.outcomes
    assert outcome.status == MISSED and not matrix.passed
    assert outcome.probe.replay(outcome.seed) == f"hil run {path} --seed 1 --defect B8"


def test_hil_defects_lists_every_switch_with_its_catchers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["defects"]) == 0
    out = capsys.readouterr().out
    for defect, text in KNOWN_DEFECTS.items():
        assert f"{defect:<3}  {text[:40]}" in out
    assert "caught by: stop-race (stop_respected), stop-variants (stop_respected)" in out
    # The app model's switches under their own heading, after the server's.
    server, app = out.split("App model switches")
    assert "B6 " not in server and "Switches of the app model, not of the server" in app
    for defect, text in APP_DEFECTS.items():
        assert f"{defect:<3}  {text[:40]}" in app
    assert "in profiles: 1.7.1, 1.1, timed-inbound, hostile-foreign" in app  # B19: not sim-aware
    assert main(["defects", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [row["defect"] for row in listing["server"]] == list(KNOWN_DEFECTS)
    assert [row["defect"] for row in listing["app"]] == list(APP_DEFECTS)
    assert not set(APP_DEFECTS) & set(KNOWN_DEFECTS)
    (b19,) = [row for row in listing["app"] if row["defect"] == "B19"]
    assert "sim-aware" not in b19["profiles"] and "1.7.1" in b19["profiles"]


def test_hil_selftest_names_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest", "--scenario", "smok"]) == 2
    assert "no catalogue scenario named smok" in capsys.readouterr().err


def test_a_seed_sweep_of_clean_runs_sums_up_each_scenario(tmp_path: Path) -> None:
    probes, _ = plan([load("limits-day")], seeds=range(1, 4), probes=False)
    assert [(p.defect, p.seed) for p in probes] == [(None, 1), (None, 2), (None, 3)]
    matrix = selftest(probes, tmp_path, workers=2)
    assert matrix.passed and matrix.counts()["clean"] == 3
    assert "| clean | pass 3/3 |" in matrix.markdown()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        f"clean--limits-day--seed{n}" for n in (1, 2, 3)
    ]
