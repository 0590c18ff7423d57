"""The capacity planner against real runs: the closed-form estimate agrees with the
simulation, a slice predicts its whole fleet, and a sweep on a Dask cluster gives what
local processes give."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from distributed import LocalCluster

from harness.errors import ExecutorError
from harness.estimate import PlanSettings, estimate
from harness.plan import fleet_figures
from harness.pool import executor_for
from harness.sweep import Point, PointResult, run_point, sweep

START = datetime.fromisoformat("2026-03-02T08:00:00+01:00")
HOURS = 3600.0
BASE = PlanSettings(recipients=1000, window=10 * HOURS, daily_limit=0, rate_limit=600)


def point(settings: PlanSettings, simulated: int | None = None, seed: int = 1) -> Point:
    return Point(
        settings=settings,
        variant="asked",
        simulated=settings.phones if simulated is None else simulated,
        seed=seed,
        start=START,
        timezone="Europe/Prague",
        horizon=10 * HOURS,
    )


# Fleets without faults, each phone given a few hundred SMS (at 20 a poll, fewer would
# leave one phone's luck with the heartbeats' round trips a large share of the time).
AGREEMENT = [
    pytest.param({"recipients": 1000, "phones": 2}, "poll_cadence", id="cadence, 2 phones"),
    pytest.param({"recipients": 2400, "phones": 4}, "poll_cadence", id="cadence, 4 phones"),
    pytest.param(
        {"recipients": 1200, "phones": 4, "daily_limit": 200}, "daily_limit", id="daily limit"
    ),
    pytest.param(
        {"recipients": 1600, "phones": 4, "daily_limit": 1000, "monthly_limit": 300},
        "monthly_limit",
        id="monthly limit",
    ),
    pytest.param({"recipients": 300, "phones": 2, "rate_limit": 10}, "rate_limit", id="rate"),
    pytest.param(
        {"recipients": 1000, "phones": 2, "rate_limit": 100, "parts": 3, "fcm": False},
        "poll_cadence",
        id="3 parts, FCM off",
    ),
]


@pytest.mark.parametrize(("changes", "binding"), AGREEMENT)
def test_the_estimate_and_the_simulation_agree_within_ten_percent(
    changes: dict[str, Any], binding: str
) -> None:
    settings = replace(BASE, **changes)
    est = estimate(settings)
    result = run_point(point(settings))
    assert not result.broken and not result.failed_oracles
    assert est.binding == binding
    assert (result.sent, result.refused, result.not_sent) == (est.assigned, est.refused, 0)
    assert result.completion is not None
    assert est.completion == pytest.approx(result.completion, rel=0.10)


def test_a_batch_over_androids_cap_loses_sms_in_the_simulation_as_estimated() -> None:
    capped = replace(BASE, recipients=600, phones=2, parts=2, android_cap="modern")
    assert not estimate(capped).cap_ok
    lost = run_point(point(capped))
    assert lost.not_sent > 0 and lost.completion is None
    two_sims = replace(capped, sims=2, app="sim-aware")  # half of each batch on each SIM
    assert estimate(two_sims).cap_ok
    kept = run_point(point(two_sims))
    assert (kept.sent, kept.not_sent) == (600, 0)


@pytest.mark.parametrize(
    ("daily_limit", "sent", "refused"), [(0, 2400, 0), (300, 1800, 600)], ids=["all", "limited"]
)
def test_a_slice_of_the_fleet_predicts_the_whole_fleet(
    daily_limit: int, sent: int, refused: int
) -> None:
    settings = replace(BASE, recipients=2400, phones=6, daily_limit=daily_limit)
    whole = fleet_figures(run_point(point(settings)))
    part = fleet_figures(run_point(point(settings, simulated=2)))
    assert (whole["sent"], whole["refused"]) == (part["sent"], part["refused"]) == (sent, refused)
    assert whole["correction"] == 0 and part["correction"] > 0
    assert part["completion"] == pytest.approx(whole["completion"], rel=0.05)


def _figures(result: PointResult) -> dict[str, Any]:
    shown = result.to_dict()
    del shown["wall_seconds"]
    return shown


def test_a_sweep_on_a_local_dask_cluster_gives_what_local_processes_give() -> None:
    points = [point(replace(BASE, recipients=400, phones=p)) for p in (1, 2, 3)]
    local = sweep(points, workers=2)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        executor_for(cluster.scheduler_address, workers=2) as executor,
    ):
        on_dask = sweep(points, executor=executor)
    assert [r.broken for r in on_dask] == ["", "", ""]
    assert [_figures(r) for r in on_dask] == [_figures(r) for r in local]
    assert len({r.digest for r in local}) == 3  # three different runs, each reproduced


def test_an_unreachable_scheduler_is_an_executor_error() -> None:
    with (
        pytest.raises(
            ExecutorError, match=r"Cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
        ),
        executor_for("tcp://127.0.0.1:9", workers=1, timeout=1.0),
    ):
        pass
