"""reports.diff: which figure changes count as a regression of run B against baseline A."""

from __future__ import annotations

from typing import Any

import pytest

from reports.diff import FIGURES, compare, render_diff, run_figures

BASE = {
    "sent_share": 1.0,
    "sent_per_hour": 1000.0,
    "latency_p50": 100.0,
    "latency_p95": 400.0,
    "latency_max": 900.0,
    "fairness": 0.95,
    "violations": 0.0,
}


def _meta(failing: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    verdicts = [
        {"name": name, "passed": name not in failing, "violation_count": int(name in failing)}
        for name in ("exactly_once", "no_loss")
    ]
    return {"scenario": "s", "seed": 1, "verdicts": verdicts, **extra}


def _regressed(**changed: float) -> list[str]:
    comparison = compare((_meta(), BASE), (_meta(), BASE | changed), 0.05)
    return [row.name for row in comparison.figures if row.regressed]


def test_each_figure_regresses_in_its_own_direction_beyond_the_tolerance() -> None:
    assert _regressed() == []
    assert _regressed(sent_per_hour=951.0, fairness=0.91) == []  # within 5 %
    assert _regressed(sent_per_hour=940.0) == ["sent_per_hour"]
    assert _regressed(sent_per_hour=5000.0, latency_p95=10.0) == []  # better is never worse
    assert _regressed(latency_p95=430.0) == ["latency_p95"]
    assert _regressed(sent_share=0.9, fairness=0.5) == ["sent_share", "fairness"]
    assert _regressed(violations=1.0) == ["violations"]


def test_a_near_zero_latency_may_grow_by_a_second() -> None:
    base = BASE | {"latency_p50": 0.5}
    comparison = compare((_meta(), base), (_meta(), base | {"latency_p50": 1.4}), 0.05)
    assert not comparison.regressed
    comparison = compare((_meta(), base), (_meta(), base | {"latency_p50": 1.6}), 0.05)
    assert [row.name for row in comparison.figures if row.regressed] == ["latency_p50"]


def test_an_oracle_going_red_is_a_regression_whatever_the_tolerance() -> None:
    comparison = compare((_meta(), BASE), (_meta(("no_loss",)), BASE), 0.99)
    assert comparison.regressed
    assert comparison.newly_failing == ["no_loss"]
    text = render_diff(comparison, "a", "b")
    assert "Oracles red in B, green in A: no_loss" in text
    assert text.rstrip().endswith("**REGRESSED**")


def test_an_expected_failure_is_not_a_regression_and_a_different_seed_is_noted() -> None:
    b = _meta(("no_loss",), expected_failures=["no_loss"], seed=2)
    comparison = compare((_meta(), BASE), (b, BASE), 0.05)
    assert not comparison.regressed
    assert comparison.notes == ["the runs differ in seed: A 1, B 2"]


def test_figures_come_from_the_history_and_the_final_state() -> None:
    phones = {"p1": {}, "p2": {}, "idle": {}}
    events = [
        {"t": 0.0, "kind": "config", "phones": phones},
        {"t": 0.0, "kind": "enqueued", "ids": [1, 2, 3, 4]},
        *(
            {"t": float(t), "kind": "radio", "sms_id": i, "phone": phone}
            for t, i, phone in [(10, 1, "p1"), (20, 2, "p1"), (30, 3, "p2"), (31, 3, "p2")]
        ),
        {"t": 3600.0, "kind": "radio", "sms_id": None, "phone": "p2"},  # not an SMS of ours
    ]
    states = ["sent", "sent", "sent", "error"]
    state = {"sms": [{"id": i + 1, "state": s} for i, s in enumerate(states)]}
    figures = run_figures(events, state, _meta(("no_loss",)))
    assert set(figures) == set(FIGURES)
    assert figures["sent_share"] == pytest.approx(0.75)
    assert figures["sent_per_hour"] == pytest.approx(3 / (30 / 3600))  # first sends only
    assert figures["latency_max"] == 30.0
    assert figures["fairness"] == pytest.approx((2 + 1) ** 2 / (3 * (4 + 1)))  # idle counts
    assert figures["violations"] == 1.0
