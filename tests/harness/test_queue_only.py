"""Queue-only campaigns end to end: created paused with their SMS, resumed by the operator,
recorded in the history (``campaign`` events) and judged by paused_respected; refused on a
target that cannot; and the served catalogue scenario ``queue-only``, which catches B9."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.cli import main
from harness.folder import read_history, read_state
from harness.runner import run_scenario
from scenarios import load, loads
from scenarios.model import Served
from tests.harness.test_poll_storm import _selftest_databases
from tests.support.odoo_double import OdooDouble, serve

QUEUE_ONLY = """
[scenario]
name = "queue-only-small"
description = "A queue-only campaign resumed after 30 minutes, beside transactional SMS."
max_duration = "2h"

[fleet]
count = 3
rate_limit = 600
granted = true

[[workload]]
at = "2m"
count = 100
campaign = "spring"
queue_only = true
resume = "30m"
phone = "phone-02"
body = "Hi {first_name}"

[[workload]]
at = "5m"
count = 20
campaign = "spring"
body = "More {first_name}"

[[workload]]
at = "6m"
count = 10
body = "Your code, {first_name}"
"""


def _hil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_queue_only_campaign_goes_out_only_after_its_resume(tmp_path: Path) -> None:
    result = run_scenario(loads(QUEUE_ONLY), out=tmp_path)
    assert result.passed, [v.violations[:2] for v in result.verdicts if not v.passed]
    events = read_history(tmp_path)
    switches = [e for e in events if e["kind"] == "campaign"]
    assert switches == [
        {"t": 120.0, "kind": "campaign", "campaign": "spring", "paused": True, "asked": 120.0,
         "created": True},
        {"t": 1800.0, "kind": "campaign", "campaign": "spring", "paused": False,
         "asked": 1800.0, "created": False},
    ]  # fmt: skip
    batches = [e for e in events if e["kind"] == "enqueued"]
    assert [b.get("campaign") for b in batches] == ["spring", "spring", None]
    assert [len(b["ids"]) for b in batches] == [100, 20, 10]
    spring = set(batches[0]["ids"]) | set(batches[1]["ids"])
    handed = [
        (e["t"], e["phone"], s["id"]) for e in events if e["kind"] == "issued" for s in e["sms"]
    ]
    assert {i for _, _, i in handed} >= spring  # all of it went out, and none before 30 min
    assert min(t for t, _, i in handed if i in spring) >= 1800.0
    assert {p for _, p, i in handed if i in spring} == {"phone-02"}  # the forced phone
    assert min(t for t, _, i in handed if i not in spring) < 1800.0  # the others did not wait
    paused = next(v for v in result.verdicts if v.name == "paused_respected")
    assert paused.passed and paused.checked == 120
    state = read_state(tmp_path)
    assert Counter(row["state"] for row in state["sms"]) == {"sent": 130}


def test_a_queue_only_scenario_is_refused_on_odoo_before_anything_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "queue-only-small.toml"
    scenario.write_text(QUEUE_ONLY)
    double = OdooDouble(f"sqlite:///{tmp_path / 'odoo.sqlite3'}")
    with serve(double) as url:
        code, _, err = _hil(
            capsys,
            *("run", str(scenario), "--target", url, "--odoo", f"{url},hil,admin,admin"),
            *("--time-scale", "60", "--out", str(tmp_path / "run")),
        )
    assert code == 2
    assert f"{scenario}: workload[0] creates campaign 'spring' queue-only" in err
    assert "Odoo's campaigns are mass mailings, which the harness does not drive" in err
    assert [c for c in double.calls if c.model_method == "create"] == []  # not even phones


def test_the_catalogue_queue_only_is_served_and_claims_b9() -> None:
    scenario = load("queue-only")
    assert scenario.served == Served(workers=2, time_scale=30.0)
    assert dict(scenario.expect.catches) == {"B9": ("paused_respected",)}
    (batch,) = scenario.workload
    assert (batch.queue_only, batch.count, batch.at, batch.resume) == (True, 3000, 120.0, 1200.0)
    assert scenario.world.fcm.enabled and "fcm_wake" in scenario.expect.hit
    assert {phone.app.name for phone in scenario.world.phones} == {"1.7.1"}


@pytest.mark.pg
def test_queue_only_is_green_served_and_catches_b9(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _selftest_databases(pg_url)
    code, out, err = _hil(
        capsys,
        *("selftest", "--scenario", "queue-only", "--pg", pg_url),
        *("--workers", "1", "--out", str(tmp_path)),
    )
    assert code == 0, out + err
    saved = json.loads((tmp_path / "selftest.json").read_text())
    by = {(o["probe"]["defect"] or "clean"): o for o in saved["outcomes"]}
    assert by["clean"]["status"] == "clean" and by["clean"]["failed"] == []
    assert by["B9"]["status"] == "caught" and by["B9"]["failed"] == ["paused_respected"]
    assert "of campaign 'autumn' was handed to phone-" in by["B9"]["detail"]
    assert (
        "while the campaign was paused (created paused (queue only) at t=120s"
        in (by["B9"]["detail"])
    )
    clean = json.loads((tmp_path / "clean--queue-only" / "verdicts.json").read_text())
    paused = next(v for v in clean["verdicts"] if v["name"] == "paused_respected")
    assert paused["checked"] == 3000  # every SMS went out, after the resume
    assert _selftest_databases(pg_url) == before
