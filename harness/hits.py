"""What happened of the dangerous paths a scenario can demand (``[expect] hit``): one test
per path over the history's events; the names are ``scenarios.hits.HITS``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["HIT_PATHS", "count_hits"]

HIT_PATHS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "process_death_in_flight": lambda e: e["kind"] == "fault" and e.get("in_flight", 0) > 0,
    "lost_callback": lambda e: e["kind"] == "lost_callback",
    "cap_hold": lambda e: e["kind"] == "cap" and e["verdict"] == "hold",
    "stop_race": lambda e: e["kind"] == "stop_reply",
    "doze_idle": lambda e: e["kind"] == "doze" and e["state"] in ("deep_idle", "light_idle"),
    "request_lost": lambda e: e["kind"] == "request" and e["outcome"] == "request_lost",
    "response_lost": lambda e: e["kind"] == "request" and e["outcome"] == "response_lost",
    "telephony_retry": lambda e: e["kind"] == "telephony_retry",
    "dual_sim": lambda e: e["kind"] == "radio" and e["sim_slot"] > 0,
    "fcm_wake": lambda e: e["kind"] == "fcm" and e.get("outcome") == "delivered",
    # an inbox scan re-reported an SMS older than the server's 10-minute dedupe window
    "stale_rescan": lambda e: e["kind"] == "inbox_scan" and e["oldest_age"] > 600,
}


def count_hits(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How often each dangerous path happened in a history."""
    hits = dict.fromkeys(HIT_PATHS, 0)
    for event in events:
        for name, test in HIT_PATHS.items():
            if test(event):
                hits[name] += 1
    return hits
