"""What happened of the dangerous paths a scenario can demand (``[expect] hit``): one count
per path over the history; the names are ``scenarios.hits.HITS``.

Most paths are one kind of event (a fault with SMS in flight, a lost callback, ...), and
``repeated_reply`` pairs of them (a phone received the same text from the same sender twice
within 10 minutes); four are states a run must reach for its verdict to mean anything, read
from the whole history: a phone reaching its daily or monthly limit (``limit_reached``), a
phone handed as many SMS within a minute as its rate limit allows (``rate_bound``), an SMS
handed out whose final status the server did not acknowledge within the stuck timeout
(``stuck_in_flight``, the path the stuck reset exists for), and an SMS for a partner some
phone's partner filter refuses (``filter_excluded``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reports import Calendar, month_of, over_window

from .evidence import RATE_SLACK, Evidence, Index

__all__ = ["HIT_PATHS", "count_hits"]

Event = Mapping[str, Any]
Count = Callable[[Sequence[Event], Index | None], int]


def _each(test: Callable[[Event], bool]) -> Count:
    """A path that is one kind of event: how many such events there are."""
    return lambda events, _: sum(1 for event in events if test(event))


def _limits_reached(_: Sequence[Event], ix: Index | None) -> int:
    """Phone-days and phone-months whose parts on the radio reached the phone's limit."""
    if ix is None:
        return 0
    reached = 0
    for name, config in ix.phones.items():
        calendar = Calendar(ix.start, ix.tz)
        start_day = int(config.get("month_start_day", 1))
        days: Counter[Any] = Counter()
        months: Counter[Any] = Counter()
        for event in ix.app_sends_by_phone.get(name, ()):
            day = calendar.day(event["t"])
            days[day] += event["parts"]
            months[month_of(day, start_day)] += event["parts"]
        for key, totals in (("daily_limit", days), ("monthly_limit", months)):
            limit = int(config.get(key, 0))
            reached += sum(1 for parts in totals.values() if 0 < limit <= parts)
    return reached


def _rate_bound(events: Sequence[Event], ix: Index | None) -> int:
    """Phones handed as many SMS within a minute as their rate limit allows."""
    if ix is None:
        return 0
    bound = 0
    for name, config in ix.phones.items():
        rate = int(config.get("rate_limit", 0))
        handed = ix.issued_by_phone.get(name, ())
        times = [float(e["t"]) for e in handed]
        peak = over_window(times, [len(e["sms"]) for e in handed], 60.0 - RATE_SLACK, None)[0]
        bound += rate > 0 and peak >= rate
    return bound


def _repeated_replies(events: Sequence[Event], _: Index | None) -> int:
    """SMS a phone received from a sender who had sent it the same text within the
    server's 10-minute dedupe window: a content dedupe takes them for re-reports."""
    last: dict[tuple[str, str, str], float] = {}
    repeats = 0
    for event in events:
        if event["kind"] != "inbound_received":
            continue
        key = (event["phone"], event["sender"], event["body"])
        t = float(event["t"])
        repeats += key in last and t - last[key] <= 600
        last[key] = t
    return repeats


def _stuck_in_flight(events: Sequence[Event], ix: Index | None) -> int:
    """SMS handed out whose final status the server had not acknowledged within the stuck
    timeout, in a run that went on long enough to tell."""
    if ix is None or not events:
        return 0
    stuck_after = float(ix.config.get("stuck_after", 1800.0))
    end = float(events[-1]["t"])
    stuck = 0
    for sms_id, issues in ix.issues_by_sms.items():
        handed = float(issues[0][1]["t"])
        ack = ix.first_ack.get(sms_id)
        acked = float("inf") if ack is None else ack[1]
        stuck += handed + stuck_after < min(acked, end)
    return stuck


def _filter_excluded(_: Sequence[Event], ix: Index | None) -> int:
    """SMS enqueued for a partner some phone's filter refuses: the filter had to choose."""
    if ix is None:
        return 0
    filtered = [name for name, config in ix.phones.items() if config.get("serves")]
    return sum(1 for sms_id in ix.tag_of if any(not ix.serves(name, sms_id) for name in filtered))


HIT_PATHS: dict[str, Count] = {
    "process_death_in_flight": _each(lambda e: e["kind"] == "fault" and e.get("in_flight", 0) > 0),
    "lost_callback": _each(lambda e: e["kind"] == "lost_callback"),
    "cap_hold": _each(lambda e: e["kind"] == "cap" and e["verdict"] == "hold"),
    "stop_race": _each(lambda e: e["kind"] == "stop_reply"),
    "doze_idle": _each(lambda e: e["kind"] == "doze" and e["state"] in ("deep_idle", "light_idle")),
    "request_lost": _each(lambda e: e["kind"] == "request" and e["outcome"] == "request_lost"),
    "response_lost": _each(lambda e: e["kind"] == "request" and e["outcome"] == "response_lost"),
    "telephony_retry": _each(lambda e: e["kind"] == "telephony_retry"),
    "dual_sim": _each(lambda e: e["kind"] == "radio" and e["sim_slot"] > 0),
    "fcm_wake": _each(lambda e: e["kind"] == "fcm" and e.get("outcome") == "delivered"),
    # an inbox scan re-reported an SMS older than the server's 10-minute dedupe window
    "stale_rescan": _each(lambda e: e["kind"] == "inbox_scan" and e["oldest_age"] > 600),
    "repeated_reply": _repeated_replies,
    "limit_reached": _limits_reached,
    "rate_bound": _rate_bound,
    "stuck_in_flight": _stuck_in_flight,
    "filter_excluded": _filter_excluded,
    "reassign_in_flight": _each(lambda e: e["kind"] == "reassigned" and e["in_flight"] > 0),
}


def count_hits(events: Sequence[Event], index: Index | None = None) -> dict[str, int]:
    """How often each dangerous path happened in a history; ``index``: the history's
    ``Evidence.index`` when the caller has one (indexing a long history twice costs)."""
    has_config = bool(events) and events[0].get("kind") == "config"
    ix = index if index is not None or not has_config else Evidence(events, {}).index
    return {name: count(events, ix) for name, count in HIT_PATHS.items()}
