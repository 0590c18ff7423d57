"""reports.twin: a phone and its twin side by side, from hand-made history events."""

from __future__ import annotations

from typing import Any

from reports.twin import phone_figures, render_twin


def _radio(t: float, phone: str, sms_id: int, cause: str = "app") -> dict[str, Any]:
    return {
        "t": t,
        "kind": "radio",
        "phone": phone,
        "sms_id": sms_id,
        "cause": cause,
        "parts": 1,
        "parts_sent": 1,
    }


def _history() -> list[dict[str, Any]]:
    return [
        {"t": 0, "kind": "issued", "phone": "a", "sms": [{"id": 1}, {"id": 2}, {"id": 3}]},
        {"t": 0, "kind": "issued", "phone": "b", "sms": [{"id": 9}]},
        _radio(1, "a", 1),
        _radio(3, "a", 2),
        _radio(4, "a", 2, cause="telephony_retry"),  # below the app: not a send
        _radio(8, "a", 3),
        {"t": 10, "kind": "issued", "phone": "a", "sms": [{"id": 4}]},
        _radio(11, "a", 4),
        {"t": 6, "kind": "confirmed", "phone": "a", "sent": [1, 2], "error": []},
        {"t": 14, "kind": "confirmed", "phone": "a", "sent": [3], "error": [4]},
        {"t": 20, "kind": "confirmed", "phone": "a", "sent": [3], "error": []},  # a repeat
        {"t": 30, "kind": "doze", "phone": "a", "state": "light_idle"},
        {"t": 30, "kind": "doze", "phone": "b", "state": "deep_idle"},
        {"t": 50, "kind": "doze", "phone": "a", "state": "light_idle"},  # no change
        {"t": 70, "kind": "doze", "phone": "a", "state": "active"},
    ]


def test_cadence_is_the_gaps_between_app_transmissions() -> None:
    a = phone_figures(_history(), "a", end=100)
    assert a.transmissions == 4
    # gaps 2, 5, 3 sorted 2, 3, 5: nearest-rank p50 is 3, p95 is 5
    assert (a.cadence_p50, a.cadence_p95) == (3, 5)


def test_batch_sizes_are_sms_per_hand_out() -> None:
    a = phone_figures(_history(), "a", end=100)
    assert (a.hand_outs, a.batch_mean, a.batch_max) == (2, 2.0, 3)


def test_status_sync_runs_from_transmission_to_first_acknowledgement() -> None:
    a = phone_figures(_history(), "a", end=100)
    # 1: 6-1=5, 2: 6-3=3, 3: 14-8=6, 4: 14-11=3 -> 3, 3, 5, 6
    assert a.synced == 4
    assert (a.sync_p50, a.sync_p95) == (3, 6)


def test_doze_counts_time_in_each_state_from_active_at_start() -> None:
    a = phone_figures(_history(), "a", end=100)
    assert a.doze_seconds == {"active": 60.0, "light_idle": 40.0}
    assert a.doze_transitions == 2
    b = phone_figures(_history(), "b", end=100)
    assert b.doze_seconds == {"active": 30.0, "deep_idle": 70.0}


def test_a_phone_that_did_nothing_has_zeros() -> None:
    c = phone_figures(_history(), "c", end=10)
    assert (c.transmissions, c.hand_outs, c.synced, c.cadence_p95) == (0, 0, 0, 0)
    assert c.doze_seconds == {"active": 10.0}


def test_the_table_shows_both_phones_and_the_difference() -> None:
    text = render_twin(phone_figures(_history(), "a", 100), phone_figures(_history(), "b", 100))
    assert text.startswith("# Twin run: a and b\n")
    assert "| figure | a | b | B - A |" in text
    assert "| transmissions | 4 | 0 | -4 |" in text
    assert "| batch size, mean (SMS) | 2 | 1 | -1 |" in text
    assert "| time in deep_idle (s) | 0 | 70 | +70 |" in text
    assert "| time in light_idle (s) | 40 | 0 | -40 |" in text
