"""Jepsen-style oracles: checkers that judge a finished run after the fact.

An oracle reads the run's history (events in time order, the radio ledger among them) and
the server's final state, and returns a :class:`Verdict`: passed or not, how many items it
judged, precise examples of what went wrong, and figures worth reporting. ``ORACLES`` names
them in reporting order; :func:`judge` runs several over one :class:`Evidence`
(``harness/evidence.py``, with the index the oracles share).

The radio ledger is the ground truth: the server's ``sent`` is an opinion, a ``radio``
event is what reached the network. The module uses the standard library only, so a
history saved as JSONL can be judged again anywhere.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import partial
from itertools import pairwise
from typing import Any

from smscodec import count_parts

from .evidence import (
    MAX_EXAMPLES,
    RATE_SLACK,
    TERMINAL,
    Calendar,
    Event,
    Evidence,
    Findings,
    Index,
    Verdict,
    canonical,
    listed,
    month_of,
    over_window,
)

__all__ = ["MAX_EXAMPLES", "NEEDS", "ORACLES", "Evidence", "Verdict", "judge"]

_CAP_VERDICTS = {"hold": "held", "refuse": "refused"}


def _campaign_twice(ix: Index, campaign: Any, recipient: str, sends: dict[int, float]) -> str:
    each = ", ".join(f"SMS {i} at {ix.when(t)}" for i, t in sends.items())
    return f"campaign {campaign} reached {recipient} with {len(sends)} SMS: {each}"


# Slack the oracles give the server's clock against the harness's: a real-time target's
# times reach the history with the network's latency, scaled by the time scale.
CLOCK_SLACK = 60.0


def _reissue_fault(
    ix: Index, sms_id: int, previous: Event, pos: int, event: Event, stuck_after: float
) -> str | None:
    """Why handing ``sms_id`` out again in ``event`` was not allowed, or None if it was: an
    at_least_once SMS may go out again only once the stuck timeout has passed since its
    previous hand-out, and never after the server acknowledged its final status."""
    ack = ix.first_ack.get(sms_id)
    if ack is not None and ack[0] < pos:
        return f"after the server had acknowledged it {ack[2]} at {ix.when(ack[1])}"
    gap = float(event["t"]) - float(previous["t"])
    if gap < stuck_after - CLOCK_SLACK:
        return (
            f"{gap:g} s after its hand-out to {previous['phone']} at "
            f"{ix.when(previous['t'])}, before the stuck timeout of {stuck_after:g} s"
        )
    return None


def exactly_once(evidence: Evidence) -> Verdict:
    """No SMS reaches the radio twice unless its delivery guarantee and a legitimate
    re-issue allow it.

    A re-issue is legitimate only for an at_least_once SMS, once its stuck timeout
    (``stuck_after`` of the run's config) has passed since the previous hand-out and before
    the server acknowledged any final status of it: judged from the hand-outs and
    acknowledgements the phones saw, not from the server's own count.
    """
    ix = evidence.index
    found = Findings()
    stuck_after = float(ix.config.get("stuck_after", 1800.0))
    app_times: dict[int, list[float]] = defaultdict(list)
    reached: set[int] = set()  # ids that already had parts reach the network
    telephony_duplicates = 0
    campaign_sends: dict[tuple[Any, str], dict[int, float]] = defaultdict(dict)
    for _, event in ix.radio:
        sms_id = event["sms_id"]
        if sms_id is None:
            continue
        if event["cause"] == "app":
            app_times[sms_id].append(event["t"])
            row = ix.sms.get(sms_id)
            campaign = None if row is None else row.get("campaign_id")
            if campaign is not None:
                key = (campaign, canonical(event["recipient"]))
                campaign_sends[key].setdefault(sms_id, event["t"])
        elif sms_id in reached:
            telephony_duplicates += 1
        if event["parts_sent"] > 0:
            reached.add(sms_id)

    declared = early = 0
    issues_by_sms = ix.issues_by_sms
    suspects = {i for i, times in app_times.items() if len(times) > 1}
    suspects.update(i for i, issues in issues_by_sms.items() if len(issues) > 1)
    suspects.update(i for i, row in ix.sms.items() if row.get("issue_count", 0) > 1)
    for sms_id in sorted(suspects):
        row = ix.sms.get(sms_id, {})
        delivery = row.get("delivery", "at_most_once")
        issues = issues_by_sms.get(sms_id, [])
        times = app_times.get(sms_id, [])
        sent = len(times)
        at = listed(times, 5, ix.when)
        if delivery == "at_least_once":
            allowed, faults = 1, []
            for (_, previous), (pos, event) in pairwise(issues):
                fault = _reissue_fault(ix, sms_id, previous, pos, event, stuck_after)
                if fault is None:
                    allowed += 1
                else:
                    faults.append(f"to {event['phone']} at {ix.when(event['t'])}, {fault}")
            early += len(faults)
            if sent > allowed:
                why = f"; it was handed out again {faults[0]}" if faults else ""
                found.add(
                    f"SMS {sms_id} (at_least_once) left the radio {sent} times ({at}) but "
                    f"only {allowed} hand-out(s) of it were legitimate{why}",
                    at=times[allowed],
                )
            elif sent > 1:
                declared += sent - 1
        else:
            if sent > 1:
                found.add(f"SMS {sms_id} ({delivery}) left the radio {sent} times: {at}", times[1])
            handed = max(len(issues), int(row.get("issue_count", 0)))
            if handed > 1:
                found.add(
                    f"SMS {sms_id} was re-issued despite {delivery}: issued {handed} times",
                    at=issues[1][1]["t"] if len(issues) > 1 else None,
                )
    for (campaign, recipient), sends in campaign_sends.items():
        if len(sends) > 1:
            found.add(
                partial(_campaign_twice, ix, campaign, recipient, sends), sorted(sends.values())[1]
            )
    figures = {
        "transmitted": len(app_times),
        "declared_duplicates": declared,
        "early_reissues": early,
        "telephony_duplicates": telephony_duplicates,
    }
    checked = len(ix.sms.keys() | app_times.keys())
    return found.verdict("exactly_once", checked, "SMS", "transmitted twice", figures)


def _room(limit: int, used: int) -> float:
    return float("inf") if limit <= 0 else float(limit - used)


def _unjustified_failures(ix: Index) -> list[tuple[float, str]]:
    """SMS the server failed when it enqueued them although a phone was online, by its
    accepted heartbeats, with room left under its daily and monthly limits.

    Room is counted against the phone as the world saw it: parts its radio sent that day
    and month before the batch, plus every SMS of the run assigned or handed to it that had
    not left a radio yet (queued work counts whatever day it will go out), plus what the
    batch itself placed on it. A phone forced by a SIM choice is the only candidate."""
    owner = {sim: name for name, cfg in ix.phones.items() for sim in cfg.get("sims", ())}
    by_server_id = {int(cfg["server_id"]): name for name, cfg in ix.phones.items()}
    first_radio: dict[int, float] = {}
    for _, event in ix.radio:
        if event["sms_id"] is not None and event["parts_sent"] > 0:
            first_radio.setdefault(int(event["sms_id"]), float(event["t"]))
    held: dict[str, set[int]] = defaultdict(set)  # phone -> SMS assigned or handed to it
    for sms_id, row in ix.sms.items():
        name = by_server_id.get(int(row["gateway_phone_id"] or 0))
        if name is not None:
            held[name].add(sms_id)
    for sms_id, issues in ix.issues_by_sms.items():
        for _, event in issues:
            held[event["phone"]].add(sms_id)
    enqueued_at: dict[int, tuple[int, float]] = {}
    for pos, event in ix.enqueued:
        for sms_id in event["ids"]:
            enqueued_at.setdefault(int(sms_id), (pos, float(event["t"])))
    found: list[tuple[float, str]] = []
    for pos, batch in ix.enqueued:
        t = float(batch["t"])
        failed = [
            int(i)
            for i in batch["ids"]
            if _failed_unissued(ix.sms.get(int(i))) and int(i) not in ix.issues_by_sms
        ]
        if not failed:
            continue
        online = {
            name: beat
            for name in ix.phones
            if (beat := ix.online_at(name, t, CLOCK_SLACK)) is not None
        }
        if not online:
            continue
        room = {
            name: _phone_room(ix, name, t, pos, held[name], first_radio, enqueued_at)
            for name in online
        }
        for sms_id in failed:
            row = ix.sms[sms_id]
            parts = _parts(row)
            sim = row.get("gateway_sim_number")
            candidates = (
                [owner[sim]] if sim in owner else [n for n in online if ix.serves(n, sms_id)]
            )
            fit = [n for n in candidates if n in room and room[n] >= parts]
            if not fit:
                continue
            name = max(fit, key=lambda n: room[n])
            room[name] -= parts
            left = (
                "no limit"
                if room[name] == float("inf")
                else f"{room[name] + parts:g} parts of room"
            )
            found.append(
                (
                    t,
                    f"SMS {sms_id} failed at enqueue ({ix.when(t)}: "
                    f"{str(row.get('error_message') or 'no reason')[:80]}) although {name} was "
                    f"online (heartbeat accepted at {ix.when(online[name])}) with {left}",
                )
            )
    return found


def _parts(row: Event) -> int:
    """The parts an SMS takes on the radio (Android's split of its body), whatever the
    server counted."""
    body = row.get("body")
    return count_parts(body) if isinstance(body, str) and body else int(row.get("segments") or 1)


def _failed_unissued(row: Event | None) -> bool:
    return row is not None and row["state"] == "error" and row.get("failure_type") == "sms_server"


def _phone_room(
    ix: Index,
    name: str,
    t: float,
    pos: int,
    held: Iterable[int],
    first_radio: Mapping[int, float],
    enqueued_at: Mapping[int, tuple[int, float]],
) -> float:
    config = ix.phones[name]
    calendar = Calendar(ix.start, ix.tz)
    start_day = int(config.get("month_start_day", 1))
    today = calendar.day(t)
    month = month_of(today, start_day)
    day_parts = month_parts = 0
    for event in ix.app_sends_by_phone.get(name, ()):
        if event["t"] >= t:
            break
        day = calendar.day(event["t"])
        day_parts += event["parts"] if day == today else 0
        month_parts += event["parts"] if month_of(day, start_day) == month else 0
    queued = 0
    for sms_id in held:
        at = enqueued_at.get(sms_id)
        if at is None or at[0] > pos or first_radio.get(sms_id, float("inf")) < t:
            continue
        queued += _parts(ix.sms.get(sms_id, {}))
    return min(
        _room(int(config.get("daily_limit", 0)), day_parts + queued),
        _room(int(config.get("monthly_limit", 0)), month_parts + queued),
    )


def no_loss(evidence: Evidence) -> Verdict:
    """Every enqueued SMS is known to the server and terminal, and a failure is one the
    world justified.

    By the world's ledger: an SMS failed at enqueue while a phone was online (by its
    accepted heartbeats) with room under its limits, or cancelled as blacklisted though
    its recipient never replied STOP, is lost, whatever reason the server gives.
    """
    ix = evidence.index
    found = Findings()
    states: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for sms_id in ix.enqueued_ids:
        row = ix.sms.get(sms_id)
        if row is None:
            found.add(f"SMS {sms_id} was enqueued but the server has no record of it")
            continue
        state = row["state"]
        failure = row.get("failure_type")
        if failure:
            failures[failure] += 1
        if state not in TERMINAL:
            found.add(f"SMS {sms_id} is still {state} at the end of the run")
            continue
        states[state] += 1
        if state != "sent" and not failure:
            found.add(f"SMS {sms_id} ended {state} without a failure_type")
        if failure == "sms_blacklist" and canonical(str(row.get("number", ""))) not in ix.stopped:
            found.add(
                f"SMS {sms_id} to {row.get('number')} was cancelled as blacklisted, but that "
                "recipient never replied STOP"
            )
    unjustified = _unjustified_failures(ix)
    for t, text in unjustified:
        found.add(text, t)
    figures: dict[str, int] = {
        "sent": states["sent"],
        "error": states["error"],
        "canceled": states["canceled"],
        "indeterminate": failures["sms_unconfirmed"],
        "unjustified_failures": len(unjustified),
    }
    figures.update({f"failure:{kind}": n for kind, n in sorted(failures.items())})
    return found.verdict("no_loss", len(ix.enqueued_ids), "enqueued SMS", "lost", figures)


def no_phantom_sent(evidence: Evidence) -> Verdict:
    """An SMS the server calls sent had all its parts leave some phone's radio."""
    ix = evidence.index
    found = Findings()
    for sms_id in ix.sent_ids:
        if sms_id in ix.fully_sent:
            continue
        sends = ix.radio_by_sms.get(sms_id, [])
        if not sends:
            found.add(f"SMS {sms_id} is sent on the server but never left any phone's radio")
        else:
            best = max(sends, key=lambda e: e["parts_sent"])
            found.add(
                f"SMS {sms_id} is sent on the server but at best {best['parts_sent']} of its "
                f"{best['parts']} parts left {best['phone']} ({ix.when(best['t'])})"
            )
    checked = len(ix.sent_ids)
    figures = {"sent_checked": checked}
    return found.verdict("no_phantom_sent", checked, "sent SMS", "never fully transmitted", figures)


def limits(evidence: Evidence) -> Verdict:
    """Each phone sends within its daily and monthly parts, and is handed no more SMS in a
    minute than its rate limit."""
    ix = evidence.index
    found = Findings()
    max_day = max_month = max_minute = max_submitted = 0
    for name, config in ix.phones.items():
        sends = ix.app_sends_by_phone.get(name, [])
        calendar = Calendar(ix.start, ix.tz)
        days: Counter[date] = Counter()
        months: Counter[tuple[int, int]] = Counter()
        start_day = int(config.get("month_start_day", 1))
        daily, monthly = int(config.get("daily_limit", 0)), int(config.get("monthly_limit", 0))
        over_at: dict[tuple[str, Any], float] = {}  # (key, period) -> when it went over
        for event in sends:
            day = calendar.day(event["t"])
            month = month_of(day, start_day)
            days[day] += event["parts"]
            months[month] += event["parts"]
            if 0 < daily < days[day]:
                over_at.setdefault(("daily_limit", day), event["t"])
            if 0 < monthly < months[month]:
                over_at.setdefault(("monthly_limit", month), event["t"])
        max_day = max(max_day, *days.values(), 0)
        max_month = max(max_month, *months.values(), 0)
        periods: tuple[tuple[str, int, Mapping[Any, int]], ...] = (
            ("daily_limit", daily, days),
            ("monthly_limit", monthly, months),
        )
        for key, limit, totals in periods:
            for period, parts in sorted(totals.items()):
                if limit > 0 and parts > limit:
                    found.add(
                        f"{name} sent {parts} parts {_period(period, start_day)} ({ix.tz}), "
                        f"over its {key} of {limit}",
                        over_at[(key, period)],
                    )
        rate = int(config.get("rate_limit", 0))
        # The server keeps the rate by what it hands a phone in a minute; when the app then
        # submits each SMS is the app's pacing (60000/rate ms inside a batch, and 1.7.1 paces
        # at 100/min after a restart until a heartbeat brings the rate back), which no server
        # can see. So hand-outs are judged; the app's submissions are a figure.
        handed = [(float(e["t"]), len(e["sms"])) for e in ix.issued_by_phone.get(name, ())]
        peak, over = over_window(
            [t for t, _ in handed],
            [n for _, n in handed],
            60.0 - RATE_SLACK,
            rate if rate > 0 else None,
        )
        max_minute = max(max_minute, peak)
        for t, count in over:
            found.add(
                f"{name} was handed {count} SMS within a minute (the {60 - RATE_SLACK:g} s "
                f"ending {ix.when(t)}), over its rate_limit of {rate}",
                t,
            )
        submitted = sorted(e.get("submitted", e["t"]) for e in sends)
        app_peak = over_window(submitted, [1] * len(submitted), 60.0 - RATE_SLACK, None)[0]
        max_submitted = max(max_submitted, app_peak)
    figures = {
        "max_day_parts": max_day,
        "max_month_parts": max_month,
        "max_minute_handed": max_minute,
        "max_minute_submitted": max_submitted,
    }
    return found.verdict("limits", len(ix.phones), "phones", "limit breaches", figures)


def _period(period: date | tuple[int, int], start_day: int) -> str:
    """A day or a limit month (year, month) for people: "on 2026-03-02", "in 2026-03",
    "in the month from 2026-03-15"."""
    if isinstance(period, date):
        return f"on {period}"
    year, month = period
    if start_day == 1:
        return f"in {year}-{month:02d}"
    return f"in the month from {year}-{month:02d}-{start_day:02d}"


def android_cap(evidence: Evidence) -> Verdict:
    """Android's SMS cap holds: per SIM slot within its window, and capped SMS never sent."""
    ix = evidence.index
    found = Findings()
    slots = 0
    for name, config in ix.phones.items():
        sends = ix.app_sends_by_phone.get(name, [])
        # A boot gives the slots fresh monitors, which read the cap then: one window per
        # boot, with the cap of the first boot and, after a reboot, the one in force since.
        boots = [0.0, *ix.reboots.get(name, ())]
        later = config.get("caps_after_reboot") or config.get("caps", ())
        for n, begin in enumerate(boots):
            end = boots[n + 1] if n + 1 < len(boots) else float("inf")
            for cap in config.get("caps", ()) if n == 0 else later:
                if cap.get("exempt"):
                    continue
                slots += n == 0
                slot, period, most = cap["slot"], float(cap["period"]), int(cap["max_count"])
                # The cap counts a message when the app hands it to Android ("submitted"),
                # not when the carrier took it: latency must not smear the window.
                counted = sorted(
                    (e.get("submitted", e["t"]), e["parts"])
                    for e in sends
                    if e["sim_slot"] == slot and begin <= e.get("submitted", e["t"]) < end
                )
                times = [t for t, _ in counted]
                weights = [parts for _, parts in counted]
                for t, parts in over_window(times, weights, period, most)[1]:
                    found.add(
                        f"{name} SIM slot {slot} sent {parts} parts in the {period:g} s "
                        f"ending {ix.when(t)}, over Android's cap of {most}",
                        t,
                    )
    verdicts: Counter[str] = Counter()
    first_cap: dict[int, Event] = {}
    for _, event in ix.caps:
        verdicts[event["verdict"]] += 1
        first_cap.setdefault(int(event["sms_id"]), event)
    for sms_id, event in sorted(first_cap.items()):
        row = ix.sms.get(sms_id)
        state = "unknown to the server" if row is None else row["state"]
        if state == "sent" or state not in TERMINAL:
            found.add(
                f"SMS {sms_id} was {_CAP_VERDICTS.get(event['verdict'], event['verdict'])} "
                f"by Android's cap on {event['phone']} slot "
                f"{event['sim_slot']} at {ix.when(event['t'])}, yet ends {state}"
            )
    figures = {"held": verdicts["hold"], "refused": verdicts["refuse"], "capped_slots": slots}
    checked = slots + len(first_cap)
    return found.verdict("android_cap", checked, "capped slots and SMS", "cap breaches", figures)


def stop_respected(evidence: Evidence) -> Verdict:
    """Once a recipient's STOP reached the server, it hands out no more SMS to that number.

    Judged from what the recipients wrote, not from the server's opinion of it: a STOP
    "reached the server" when a phone's inbound report carrying a recipient's STOP reply
    (``stop_reply``, matched by number in any format and by text) was answered 2xx.
    """
    ix = evidence.index
    found = Findings()
    stop_at: dict[str, tuple[int, float]] = {}
    unrecognised = 0
    replies = ix.stopped
    for pos, event in ix.acks:
        number = canonical(event["sender"])
        if number in stop_at:
            continue
        written = replies.get(number, ())
        if any(reply_pos < pos and body == event["body"] for reply_pos, body in written):
            stop_at[number] = (pos, event["t"])
            unrecognised += not event.get("stop")
    issued_before: set[int] = set()
    for pos, event in ix.issued:
        for sms in event["sms"]:
            stop = stop_at.get(canonical(sms["number"]))
            if stop is None:
                continue
            if pos > stop[0]:
                found.add(
                    f"SMS {sms['id']} to {sms['number']} was issued to {event['phone']} at "
                    f"{ix.when(event['t'])}, {event['t'] - stop[1]:g} s after that number's "
                    f"STOP reached the server at {ix.when(stop[1])}",
                    event["t"],
                )
            else:
                issued_before.add(int(sms["id"]))
    in_flight = 0
    for pos, event in ix.radio:
        stop = stop_at.get(canonical(event["recipient"]))
        late = stop is not None and pos > stop[0] and event["parts_sent"] > 0
        if late and event["sms_id"] in issued_before:
            in_flight += 1
    figures = {
        "stops": len(stop_at),
        "in_flight_at_stop": in_flight,
        "not_recognised_as_stop": unrecognised,
    }
    return found.verdict("stop_respected", len(stop_at), "STOPs", "ignored", figures)


def counters_consistent(evidence: Evidence) -> Verdict:
    """Each phone's sent_total matches its sent SMS, and every sent SMS fully left a radio."""
    ix = evidence.index
    found = Findings()
    known = {int(phone["id"]) for phone in ix.server_phones}
    segments: Counter[int] = Counter()
    sent_ids = ix.sent_ids
    for sms_id in sent_ids:
        row = ix.sms[sms_id]
        phone_id = row.get("gateway_phone_id")
        if phone_id in known:
            segments[phone_id] += int(row["segments"])
        else:
            found.add(f"SMS {sms_id} is sent but names no known gateway phone ({phone_id})")
    for phone in ix.server_phones:
        expected = segments[int(phone["id"])]
        if phone["sent_total"] != expected:
            found.add(
                f"phone {phone['name']} (id {phone['id']}) has sent_total {phone['sent_total']} "
                f"but its sent SMS add up to {expected} segments"
            )
    unbacked = [i for i in sent_ids if i not in ix.fully_sent]
    if unbacked:
        found.add(
            f"the server counts {len(sent_ids)} SMS as sent but only "
            f"{len(sent_ids) - len(unbacked)} fully left a radio; not: {listed(unbacked)}"
        )
    figures = {
        "phones": len(ix.server_phones),
        "sent_sms": len(sent_ids),
        "sent_segments": sum(segments.values()),
    }
    checked = len(ix.server_phones) + len(sent_ids)
    return found.verdict("counters_consistent", checked, "phones and sent SMS", "off", figures)


def _disagreement(by_phone: Mapping[str, str], state: str) -> str | None:
    """How the apps' statuses of one SMS (phone -> status) contradict its server state."""
    if "sent" in by_phone.values():
        if state == "sent":
            return None
        senders = ", ".join(sorted(p for p, status in by_phone.items() if status == "sent"))
        return f"ends {state} but {senders} reported it sent"
    if state == "sent":
        said = ", ".join(f"{p}: {status}" for p, status in sorted(by_phone.items()))
        return f"ends sent but no app reports it sent ({said})"
    if all(status == "error" for status in by_phone.values()) and state not in TERMINAL:
        return f"ends {state} though every app reports error"
    return None


def reconcile_converges(evidence: Evidence) -> Verdict:
    """At the end the apps have synced everything, and apps and server agree on each SMS."""
    ix = evidence.index
    found = Findings()
    reports: dict[int, dict[str, str]] = defaultdict(dict)  # sms id -> phone -> status
    unsynced = 0
    for _, event in ix.app_finals:
        phone = event["phone"]
        pending = [int(i) for i in event.get("unsynced", ())]
        unsynced += len(pending)
        if pending:
            found.add(f"{phone} ended with {len(pending)} SMS not synced: {listed(pending)}")
        for key, status in event.get("statuses", {}).items():
            reports[int(key)][phone] = status
    unreported = [i for i in ix.sent_ids if i not in reports]
    problems = [(i, "ends sent but no app reports it at all") for i in unreported]
    for sms_id, by_phone in reports.items():
        row = ix.sms.get(sms_id)
        problem = _disagreement(by_phone, "unknown to the server" if row is None else row["state"])
        if problem is not None:
            problems.append((sms_id, problem))
    for sms_id, problem in sorted(problems):
        found.add(f"SMS {sms_id} {problem}")
    figures = {
        "app_statuses": sum(len(r) for r in reports.values()),
        "unsynced": unsynced,
        "apps": len(ix.app_finals),
    }
    checked = len(ix.app_finals) + len(reports) + len(unreported)
    return found.verdict("reconcile_converges", checked, "apps and SMS", "diverged", figures)


def filters_respected(evidence: Evidence) -> Verdict:
    """A phone with a partner filter is handed only SMS to partners its filter accepts.

    The filter is the phone's ``serves`` tags, registered as its ``domain_filter``; each SMS's
    partner tag is recorded when it is enqueued. An SMS with no partner has no tag, so a
    phone with a filter must not get it either."""
    ix = evidence.index
    found = Findings()
    filtered = {name for name, cfg in ix.phones.items() if cfg.get("serves")}
    checked = 0
    wrong: Counter[str] = Counter()
    for _, event in ix.issued:
        phone = event["phone"]
        if phone not in filtered:
            continue
        for item in event["sms"]:
            checked += 1
            sms_id = int(item["id"])
            if ix.serves(phone, sms_id):
                continue
            wrong[phone] += 1
            tag = ix.tag_of.get(sms_id)
            whose = f"a partner tagged {tag!r}" if tag else "no partner"
            found.add(
                f"SMS {sms_id} (for {whose}) was handed to {phone} at {ix.when(event['t'])}, "
                f"whose filter serves only {', '.join(ix.phones[phone]['serves'])}",
                float(event["t"]),
            )
    figures = {"filtered_phones": len(filtered), "handed_to_filtered": checked}
    figures.update({f"outside_filter:{name}": n for name, n in sorted(wrong.items())})
    return found.verdict(
        "filters_respected", checked, "hand-outs to filtered phones", "outside the filter", figures
    )


def inbound_once(evidence: Evidence) -> Verdict:
    """Each SMS the network delivered to a phone is recorded by the server exactly once.

    The app reports a received SMS without its time (sender, text and receiving number
    only), so one delivery is told from another by count: a phone that received the same
    text from the same sender n times must have n records of it, whatever path reported
    them (live report, worker, inbox scan).
    """
    ix = evidence.index
    found = Findings()
    received: Counter[tuple[str, str, str]] = Counter()  # (phone, sender, text) -> deliveries
    for _, event in ix.received:
        received[(event["phone"], canonical(event["sender"]), event["body"])] += 1
    rows = Counter(
        (row.get("phone", ""), canonical(row["from_number"]), row["message"])
        for row in ix.server_inbound
    )
    lost = duplicated = 0
    for (phone, sender, body), count in sorted(received.items()):
        recorded = rows.get((phone, sender, body), 0)
        if recorded == count:
            continue
        if recorded < count:
            lost += count - recorded
        else:
            duplicated += recorded - count
        times = "once" if count == 1 else f"{count} times"
        found.add(
            f"{phone} received {body[:40]!r} from {sender} {times}; the server recorded it "
            f"{recorded} time{'s' if recorded != 1 else ''}"
        )
    figures = {
        "received": sum(received.values()),
        "recorded": len(ix.server_inbound),
        "lost": lost,
        "duplicated": duplicated,
        "unmatched_rows": sum(n for key, n in rows.items() if key not in received),
    }
    return found.verdict(
        "inbound_once", len(received), "inbound SMS", "not recorded exactly once", figures
    )


# rejects_bad_input: the batch endpoints, and the key of their items. A batch may refuse a
# malformed item on its own (2xx, the item among its ``errors``) and apply the others.
BATCH_ITEMS = {"confirm-batch": "results", "inbound-batch": "messages"}
# rejects_bad_input: the fields every 2xx answer of an endpoint carries (reference-system.md
# §1.21: the union of the documented and the real answers).
ANSWER_FIELDS = {"reconcile": ("already_confirmed_ids", "stuck_ids", "not_found_ids")}


def _item_refused(endpoint: str, sent: Mapping[str, Any], reply: Any) -> bool:
    """Whether a 2xx answer to a batch refused each of its items, by listing it in ``errors``."""
    key = BATCH_ITEMS.get(endpoint)
    if key is None or not isinstance(reply, dict) or not isinstance(reply.get("errors"), list):
        return False
    items = sent.get(key)
    return isinstance(items, list) and len(reply["errors"]) >= len(items) > 0


def _said(reply: Any) -> str:
    """What an answer said, in a few words."""
    if not isinstance(reply, dict):
        return "" if reply is None else f" ({str(reply)[:80]})"
    if isinstance(reply.get("error"), str):
        return f" ({reply['error'][:80]!r})"
    return f" (success: {json.dumps(reply['success'])})" if "success" in reply else ""


def rejects_bad_input(evidence: Evidence) -> Verdict:
    """A malformed device request is refused with a 4xx, and a well-formed one gets a whole
    2xx answer.

    Judged on the requests the ``hostile-malformed`` persona sent (``persona`` events
    ``bad_input`` and ``good_input``, each with its request and answer): a malformed one
    answered 2xx (``success: false`` included) or 5xx is a violation, save a batch whose
    answer lists its bad item among its ``errors``; a well-formed one must be answered 2xx
    with every field its endpoint's answer carries (a reconcile: ``not_found_ids``). With
    no such persona in the run, there is nothing to judge.
    """
    ix = evidence.index
    found = Findings()
    bad = good = 0
    for _, event in ix.personas:
        act = event["act"]
        if act not in ("bad_input", "good_input"):
            continue
        endpoint, sent, status = event["endpoint"], event["sent"], int(event["answer"])
        reply = event.get("reply")
        t = float(event["t"])
        asked = f"/{endpoint} with {json.dumps(sent)} from {event['phone']} at {ix.when(t)}"
        if act == "bad_input":
            bad += 1
            if 400 <= status < 500 or (
                200 <= status < 300 and _item_refused(endpoint, sent, reply)
            ):
                continue
            found.add(
                f"{asked} was answered {status}{_said(reply)}; a malformed request must be "
                "refused with a 4xx saying what is wrong",
                t,
            )
            continue
        good += 1
        if not 200 <= status < 300:
            found.add(
                f"{asked} was answered {status}{_said(reply)}; a well-formed request must get "
                "a 2xx answer",
                t,
            )
            continue
        missing = [f for f in ANSWER_FIELDS.get(endpoint, ()) if f not in (reply or {})]
        if missing:
            found.add(
                f"{asked} was answered {status} without {', '.join(missing)}, which every "
                f"/{endpoint} answer carries",
                t,
            )
    figures = {"malformed": bad, "well_formed": good}
    return found.verdict("rejects_bad_input", bad + good, "probe requests", "mishandled", figures)


def _paused_windows(ix: Index) -> dict[str, list[tuple[float, float, str]]]:
    """Per campaign, the times it was paused for certain: (from, until, how it came to be).

    A campaign created paused with its SMS (queue only) is paused from the moment the
    harness asked: none of them existed before. One paused later is paused from the
    server's answer plus CLOCK_SLACK (a hand-out answered just before it can reach the
    history just after). Either is paused until the harness asked to resume it: a hand-out
    after that may have come after the resume.
    """
    windows: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    open_since: dict[str, tuple[float, str]] = {}
    for _, event in ix.campaign_states:
        name = str(event["campaign"])
        if event["paused"]:
            if name in open_since:
                continue
            if event["created"]:
                since = float(event["asked"])
                how = f"created paused (queue only) at {ix.when(since)}"
            else:
                since = float(event["t"]) + CLOCK_SLACK
                how = f"paused at {ix.when(float(event['t']))}"
            open_since[name] = (since, how)
        elif name in open_since:
            since, how = open_since.pop(name)
            until = float(event["asked"])
            windows[name].append((since, until, f"{how}, resumed at {ix.when(until)}"))
    for name, (since, how) in open_since.items():
        windows[name].append((since, float("inf"), f"{how}, never resumed"))
    return windows


def paused_respected(evidence: Evidence) -> Verdict:
    """No SMS of a campaign is handed out while the harness holds that campaign paused.

    Judged from the history alone: the ``campaign`` events (the operator's pauses and
    resumes, a queue-only campaign's creation) and each SMS's campaign in its ``enqueued``
    event, against the ``issued`` events. Only the time a campaign was paused for certain
    counts (``_paused_windows``); campaigns the server paused on its own are not judged.
    """
    ix = evidence.index
    found = Findings()
    windows = _paused_windows(ix)
    campaign_of = ix.campaign_of
    checked = 0
    handed: Counter[str] = Counter()
    for _, event in ix.issued:
        t = float(event["t"])
        for item in event["sms"]:
            sms_id = int(item["id"])
            name = campaign_of.get(sms_id)
            if name not in windows:
                continue
            checked += 1
            for since, until, how in windows[name]:
                if since <= t < until:
                    handed[name] += 1
                    found.add(
                        f"SMS {sms_id} of campaign {name!r} was handed to {event['phone']} at "
                        f"{ix.when(t)} while the campaign was paused ({how})",
                        t,
                    )
                    break
    figures: dict[str, int] = {
        "paused_campaigns": len(windows),
        "handed_while_paused": sum(handed.values()),
    }
    figures.update({f"while_paused:{name}": n for name, n in sorted(handed.items())})
    return found.verdict(
        "paused_respected", checked, "hand-outs of paused campaigns' SMS", "while paused", figures
    )


ORACLES: dict[str, Callable[[Evidence], Verdict]] = {
    "exactly_once": exactly_once,
    "no_loss": no_loss,
    "no_phantom_sent": no_phantom_sent,
    "limits": limits,
    "android_cap": android_cap,
    "stop_respected": stop_respected,
    "counters_consistent": counters_consistent,
    "reconcile_converges": reconcile_converges,
    "inbound_once": inbound_once,
    "filters_respected": filters_respected,
    "rejects_bad_input": rejects_bad_input,
    "paused_respected": paused_respected,
}


# The parts of the server's final state (harness.control.STATE_PARTS) each oracle reads;
# the others (limits, stop_respected, filters_respected, rejects_bad_input,
# paused_respected) judge the history alone.
NEEDS: dict[str, tuple[str, ...]] = {
    "exactly_once": ("sms",),
    "no_loss": ("sms",),
    "no_phantom_sent": ("sms",),
    "android_cap": ("sms",),
    "counters_consistent": ("sms", "phones"),
    "reconcile_converges": ("sms",),
    "inbound_once": ("inbound",),
}


def judge(
    evidence: Evidence,
    names: Iterable[str] | None = None,
    exposed: Iterable[str] | None = None,
) -> list[Verdict]:
    """Run the named oracles (all of them, in ``ORACLES`` order, by default) over a run.

    ``exposed`` names the parts of the final state the target let the harness read (all,
    when not given); an oracle needing another part is reported not judged."""
    chosen = list(ORACLES) if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [name for name in chosen if name not in ORACLES]
    if unknown:
        raise ValueError(
            f"There is no oracle named {', '.join(map(repr, unknown))}; "
            f"choose from: {', '.join(ORACLES)}."
        )
    parts = None if exposed is None else set(exposed)
    verdicts = []
    for name in chosen:
        missing = [p for p in NEEDS.get(name, ()) if parts is not None and p not in parts]
        verdicts.append(Verdict.not_judged(name, missing) if missing else ORACLES[name](evidence))
    return verdicts
