"""Thresholds in scenarios: a capacity shortfall the oracles accept still fails the run."""

from __future__ import annotations

from pathlib import Path

from harness.runner import run_scenario
from scenarios import loads

SHORT = """\
[scenario]
name = "short"
description = "Two phones with 50 segments of room a day each get {count} SMS."
max_duration = "1h"

[fleet]
count = 2
daily_limit = 50
rate_limit = 600
granted = true

[[workload]]
at = "1m"
count = {count}
body = "Your parcel is ready, {{first_name}}."

[expect]
thresholds = {{ {thresholds} }}
"""


def verdicts(tmp_path: Path, count: int, thresholds: str) -> tuple[bool, dict[str, object]]:
    text = SHORT.format(count=count, thresholds=thresholds)
    result = run_scenario(loads(text), out=tmp_path)
    return result.passed, {v.name: v for v in result.verdicts}


def test_a_quarter_refused_for_the_limits_passes_the_oracles_but_not_the_thresholds(
    tmp_path: Path,
) -> None:
    passed, by_name = verdicts(tmp_path, 134, 'sent = "99%", refused = 0')
    assert not passed
    oracles = [v for n, v in by_name.items() if not n.startswith("threshold:")]
    assert all(v.passed for v in oracles)  # every refusal justified: the phones were full
    sent, refused = by_name["threshold:sent"], by_name["threshold:refused"]
    assert not sent.passed and "100 of 134 enqueued SMS ended sent (74.63%)" in sent.violations[0]
    assert not refused.passed and refused.figures["failed_at_enqueue"] == 34


def test_thresholds_a_fleet_meets_pass(tmp_path: Path) -> None:
    passed, by_name = verdicts(
        tmp_path, 80, 'sent = "100%", refused = 0, done_by = "30m", latency_p95 = "10m"'
    )
    assert passed
    assert [n for n in by_name if n.startswith("threshold:")] == [
        "threshold:sent",
        "threshold:done_by",
        "threshold:latency_p95",
        "threshold:refused",
    ]
    assert by_name["threshold:latency_p95"].figures["sent"] == 80


def test_a_deadline_before_the_queue_drains_fails_naming_the_last_sms(tmp_path: Path) -> None:
    passed, by_name = verdicts(tmp_path, 80, 'done_by = "61s", latency_p95 = "1s"')
    assert not passed
    late = by_name["threshold:done_by"]
    assert not late.passed and "became final after 61s" in late.violations[0]
    slow = by_name["threshold:latency_p95"]
    assert not slow.passed and "over the 1 s the scenario demands" in slow.violations[0]
