"""The capacity planner's closed form: each bottleneck binds in the case made for it."""

from __future__ import annotations

import math

import pytest

from harness.cadence import ENQUEUE_AT
from harness.estimate import (
    PlanSettings,
    changes,
    estimate,
    fewest_for_limits,
    slowest,
    smallest_fleet,
)
from simulator.config import AppProfile

HOURS = 3600.0
DAY = PlanSettings(recipients=1000, window=10 * HOURS, daily_limit=0, rate_limit=600)


def with_(**changes_: object) -> PlanSettings:
    return PlanSettings(**{**DAY.__dict__, **changes_})  # type: ignore[arg-type]


def test_the_daily_limit_refuses_what_the_fleet_may_not_send_today() -> None:
    est = estimate(with_(phones=4, daily_limit=200))
    assert (est.assigned, est.refused, est.share) == (800, 200, 200)
    assert est.binding == "daily_limit" and not est.all_assigned
    assert math.isinf(est.bounds["daily_limit"])


def test_the_limits_count_segments_so_long_messages_take_more_room() -> None:
    est = estimate(with_(phones=4, daily_limit=300, parts=3))
    assert est.share == 100 and est.refused == 600
    assert fewest_for_limits(with_(daily_limit=300, parts=3)) == 10
    assert fewest_for_limits(with_(daily_limit=2, parts=3)) is None  # no room for one
    assert fewest_for_limits(DAY) == 1


def test_a_monthly_limit_below_the_daily_one_binds_instead() -> None:
    est = estimate(with_(phones=4, daily_limit=500, monthly_limit=150))
    assert est.binding == "monthly_limit" and est.assigned == 600


def test_the_poll_cadence_is_twenty_sms_per_poll_at_the_heartbeats_and_the_alarm() -> None:
    """In each 300 s alarm period: the alarm's poll, the next heartbeat's for sure, then each
    heartbeat after a polling one with chance 1/(m+1) for the m-th in a row, and for sure
    after one that did not: 1 + 1 + 1/2 + 2/3 + 5/8 polls of 20 SMS."""
    profile = AppProfile()
    polls = 1 + 1 + 1 / 2 + 2 / 3 + 5 / 8
    expected = 60 * profile.poll_limit * polls / profile.poll_interval
    est = estimate(with_(phones=1))
    assert est.binding == "poll_cadence"
    assert est.sms_per_minute == pytest.approx(expected, rel=0.02)


def test_a_rate_limit_under_the_poll_limit_shrinks_every_batch() -> None:
    slow, fast = estimate(with_(phones=2, rate_limit=10)), estimate(with_(phones=2))
    assert slow.binding == "rate_limit" and fast.binding == "poll_cadence"
    assert slow.completion > 1.8 * fast.completion
    assert slow.sms_per_minute < 10 < fast.sms_per_minute


def test_androids_modern_cap_meets_one_batch_at_a_time() -> None:
    """30 parts a minute: a batch of 20 one-part SMS fits (the batch before it is a minute
    older), a batch of 20 two-part SMS does not."""
    assert estimate(with_(phones=5, android_cap="modern")).cap_ok
    est = estimate(with_(phones=5, android_cap="modern", parts=2))
    assert not est.cap_ok and est.binding == "android_cap"
    assert not est.meets(DAY.window)


def test_androids_legacy_cap_binds_unless_a_phone_sends_no_more_than_it() -> None:
    assert estimate(with_(phones=5, android_cap="legacy")).binding == "android_cap"
    assert estimate(with_(recipients=150, phones=5, android_cap="legacy")).cap_ok  # 30 each


def test_a_second_sim_keeps_the_modern_cap_only_with_an_app_that_uses_it() -> None:
    assert not estimate(with_(phones=5, android_cap="modern", parts=2, sims=2)).cap_ok  # B19
    assert estimate(with_(phones=5, android_cap="modern", parts=2, sims=2, app="sim-aware")).cap_ok


def test_without_fcm_the_first_poll_waits_for_a_heartbeat() -> None:
    on, off = estimate(with_(phones=10)), estimate(with_(phones=10, fcm=False))
    assert off.completion > on.completion


def test_more_phones_finish_sooner_and_the_fleet_waits_for_its_slowest_phone() -> None:
    few, many = estimate(with_(phones=2)), estimate(with_(phones=10))
    assert many.completion < few.completion
    assert few.completion > few.phone_completion > ENQUEUE_AT
    settings = with_(phones=10)
    assert slowest(settings, 1) < slowest(settings, 3) < slowest(settings, 10)


def test_the_smallest_fleet_is_set_by_the_daily_limit_when_time_is_plenty() -> None:
    settings = PlanSettings(recipients=100_000, window=10 * HOURS, daily_limit=500)
    best = smallest_fleet(settings, 9 * HOURS)
    assert best is not None and best.settings.phones == 200
    assert estimate(settings.with_phones(199)).binding == "daily_limit"


def test_the_smallest_fleet_is_set_by_the_cadence_without_limits() -> None:
    settings = with_(recipients=20_000, window=3 * HOURS)
    best = smallest_fleet(settings, 2.5 * HOURS)
    assert best is not None and best.completion <= 2.5 * HOURS
    assert not estimate(settings.with_phones(best.settings.phones - 1)).meets(2.5 * HOURS)


def test_no_fleet_sends_anything_before_its_first_poll() -> None:
    assert smallest_fleet(with_(window=40.0), 35.0) is None


def test_the_change_that_helps_most_comes_first() -> None:
    settings = PlanSettings(recipients=100_000, window=10 * HOURS, daily_limit=500)
    found = changes(settings, 9 * HOURS)
    first = found[0]
    assert (first.key, first.bottleneck) == ("raise-daily-limit", "daily_limit")
    assert first.fleet is not None
    assert first.fleet.settings.phones < 200 <= found[-1].fleet.settings.phones  # type: ignore[union-attr]
    assert first.settings.daily_limit > 500


def test_an_estimate_needs_a_phone() -> None:
    with pytest.raises(ValueError, match="at least one phone"):
        estimate(with_(phones=0))
