"""The capacity plan's page: the answer first, estimate and simulation side by side, plots."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from reports.plan import PlanClock, plan_page, write_plan


def _point(phones: int, estimate: float, simulated: float | None, refused: int) -> dict[str, Any]:
    return {
        "variant": "asked",
        "phones": phones,
        "simulated_phones": 2,
        "scenario": f"plan-asked-p{phones:04d}",
        "broken": "",
        "enqueued": 200,
        "sent": 200 - refused,
        "refused": refused,
        "not_sent": 0,
        "completion": simulated,
        "estimate": {
            "phones": phones,
            "assigned": 400 - refused,
            "refused": refused,
            "completion": estimate,
            "binding": "daily_limit" if refused else "poll_cadence",
        },
        "fleet": {
            "sent": 400 - refused,
            "refused": refused,
            "not_sent": 0,
            "completion": simulated,
            "correction": 12.5,
        },
        "difference": None if simulated is None else round((estimate - simulated) / simulated, 4),
        "meets": not refused,
    }


PLAN: dict[str, Any] = {
    "question": {
        "recipients": 400,
        "start": "2026-03-02T08:00:00+01:00",
        "deadline": "2026-03-02T09:00:00+01:00",
        "timezone": "Europe/Prague",
        "window_seconds": 3600.0,
        "margin": 0.1,
        "target_seconds": 3240.0,
        "settings": {
            "recipients": 400,
            "window": 3600.0,
            "daily_limit": 100,
            "monthly_limit": 0,
            "rate_limit": 600,
            "sims": 1,
            "app": "1.7.1",
            "parts": 1,
            "fcm": True,
            "android_cap": "granted",
        },
        "fleet": 3,
        "seed": 1,
        "slice": 2,
    },
    "bottlenecks": {
        "daily_limit": "the phones' daily limit",
        "poll_cadence": "the app's poll cadence",
    },
    "estimate": {"smallest": {"phones": 4, "completion": 930.0}, "fleet": None},
    "changes": [
        {"bottleneck": "daily_limit", "change": "raise the daily limit to 400", "phones": 1},
        {"bottleneck": "poll_cadence", "change": "start 1 hour earlier", "phones": 4},
    ],
    "variants": {
        "asked": {"text": "the settings as asked", "settings": {}, "earlier": 0, "limits_fleet": 4}
    },
    "points": [_point(3, 915.0, 905.0, 100), _point(4, 930.0, 960.0, 0)],
    "curves": {
        "asked": [
            {
                "phones": p,
                "completion": 1000.0 - 20 * p,
                "refused": max(0, 400 - 100 * p),
                "bounds": {"poll_cadence": 990.0 - 20 * p, "rate_limit": 80.0, "android_cap": None},
            }
            for p in range(2, 7)
        ]
    },
    "recommendation": {
        "phones": 4,
        "completion": 960.0,
        "binding": "daily_limit",
        "note": "",
        "change": {
            "bottleneck": "daily_limit",
            "text": "raise the daily limit to 400",
            "estimate_phones": 1,
            "simulated_phones": None,
        },
        "fleet": {"phones": 3, "meets": False, "completion": 905.0, "sent": 300, "refused": 100},
    },
    "sweep": {"points": 2, "executor": "2 local processes", "wall_seconds": 3.2},
}


def test_the_page_answers_first_then_shows_estimate_and_simulation_side_by_side() -> None:
    text = plan_page(PLAN).markdown()
    lead = text.split("## ")[0]
    assert "How many phones send **400 SMS** by **09:00** (Europe/Prague, 2026-03-02)" in lead
    assert "**4 phones**: the simulation finishes at 08:16, 44 min before the deadline" in lead
    assert "The bottleneck that binds: **daily_limit**" in lead
    assert "**raise the daily limit to 400**, 1 phone by the estimate" in lead
    assert "Your fleet of 3 phones does **not** meet the deadline" in lead
    rows = [
        "| asked | 3 | 2 | 08:15 | 08:15 | +1.1% | 300/300 | 100/100 | daily_limit | no |",
        "| asked | 4 | 2 | 08:15 | 08:16 | -3.1% | 400/400 | 0/0 | poll_cadence | yes |",
    ]
    assert all(row in text for row in rows)
    assert "![completion time against fleet size, asked](plan-asked.png)" in text
    assert "`hil plan --slice 0` simulates every phone" in text


def test_the_html_is_self_contained_and_the_files_are_reproducible(tmp_path: Path) -> None:
    written = write_plan(PLAN, tmp_path)
    assert sorted(p.name for p in written) == ["plan-asked.png", "plan.html", "plan.md"]
    html = (tmp_path / "plan.html").read_text()
    assert html.count('src="data:image/png;base64,') == 1
    assert "http://" not in html and "https://" not in html
    first = {p.name: p.read_bytes() for p in written}
    again = write_plan(copy.deepcopy(PLAN), tmp_path / ".." / tmp_path.name)
    assert {p.name: p.read_bytes() for p in again} == first


def test_a_plan_no_fleet_meets_says_so() -> None:
    plan = copy.deepcopy(PLAN)
    plan["recommendation"].update(phones=None, completion=None, note="Plan with more phones.")
    for point in plan["points"]:
        point["meets"] = False
    lead = plan_page(plan).markdown().split("## ")[0]
    assert "**No simulated fleet meets the deadline.** Plan with more phones." in lead


def test_the_clock_counts_days_past_the_start() -> None:
    clock = PlanClock.of(PLAN)
    assert clock.at(0) == "08:00"
    assert clock.at(17 * 3600) == "01:00 (+1 d)"
    assert clock.at(None) == "never" and clock.at(float("inf")) == "never"
