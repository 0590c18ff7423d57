"""Android's SmsUsageMonitor as modelled: presets, parts, sliding window, the dialog."""

from __future__ import annotations

import pytest

from simulator import PRESETS, SmsCap, SmsUsageMonitor, Verdict


def test_thirty_parts_a_minute_then_the_dialog():
    monitor = SmsUsageMonitor(PRESETS["modern"])
    assert [monitor.check(t * 0.5, 1) for t in range(30)] == [Verdict.SEND] * 30
    assert monitor.check(15.0, 1) is Verdict.HOLD
    assert monitor.used(15.0) == 30 and monitor.held == 1


def test_parts_count_not_messages():
    monitor = SmsUsageMonitor(PRESETS["modern"])
    for t in range(9):
        assert monitor.check(float(t), 3) is Verdict.SEND  # 27 parts
    assert monitor.check(9.0, 4) is Verdict.HOLD  # 27 + 4 > 30
    assert monitor.check(9.0, 3) is Verdict.SEND  # 27 + 3 = 30


def test_the_window_slides():
    monitor = SmsUsageMonitor(PRESETS["modern"])
    for t in range(30):
        monitor.check(float(t), 1)  # t = 0 .. 29
    assert monitor.check(59.5, 1) is Verdict.HOLD
    # A stamp exactly 60 s old still counts; at t = 61.5 those of t = 0 and 1 are older.
    assert monitor.check(60.0, 1) is Verdict.HOLD
    assert monitor.check(61.5, 2) is Verdict.SEND
    assert monitor.check(61.5, 1) is Verdict.HOLD


def test_the_legacy_cap_is_thirty_per_half_hour():
    monitor = SmsUsageMonitor(PRESETS["legacy"])
    for t in range(30):
        monitor.check(t * 10.0, 1)
    assert monitor.check(1000.0, 1) is Verdict.HOLD
    assert monitor.check(1801.0, 1) is Verdict.SEND


def test_five_held_then_limit_exceeded_at_once():
    monitor = SmsUsageMonitor(SmsCap(1, 60.0))
    assert monitor.check(0.0, 1) is Verdict.SEND
    assert [monitor.check(1.0, 1) for _ in range(7)] == [Verdict.HOLD] * 5 + [Verdict.REFUSE] * 2
    assert monitor.held == 5


def test_answering_the_dialog():
    monitor = SmsUsageMonitor(SmsCap(1, 60.0))
    monitor.check(0.0, 1)
    monitor.check(1.0, 1)
    monitor.check(1.0, 1)
    assert monitor.answer(allowed=True) is Verdict.SEND
    assert monitor.answer(allowed=False) is Verdict.REFUSE
    assert monitor.held == 0 and monitor.used(1.0) == 1  # allowed parts are not recorded
    with pytest.raises(ValueError, match="No message is held"):
        monitor.answer(allowed=True)


def test_the_default_sms_app_is_never_limited():
    monitor = SmsUsageMonitor(PRESETS["modern"], exempt=True)
    assert all(monitor.check(0.0, 5) is Verdict.SEND for _ in range(100))


def test_granted_preset_and_bad_values():
    assert PRESETS["granted"] == SmsCap(1000, 60.0)
    with pytest.raises(ValueError, match="max_count >= 1"):
        SmsCap(0, 60.0)
    with pytest.raises(ValueError, match="at least one part"):
        SmsUsageMonitor(PRESETS["modern"]).check(0.0, 0)
