"""Jepsen-style oracles: checkers that judge a finished run after the fact.

An oracle reads the run's history (events in time order, the radio ledger among them) and
the server's final state, and returns a :class:`Verdict`: passed or not, how many items it
judged, precise examples of what went wrong, and figures worth reporting. ``ORACLES`` names
them in reporting order; :func:`judge` runs several over one :class:`Evidence`
(``harness/evidence.py``, with the index the oracles share).

The radio ledger is the ground truth: the server's ``sent`` is an opinion, a ``radio``
event is what reached the network. The module uses the standard library only, so a
history saved as JSONL can be judged again anywhere. The rules a run's report states too
(what counts toward a limit, Android's cap windows, the local day, the SMS transmitted)
are ``reports``' measures, imported from there so that the report and the verdicts agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import partial
from itertools import pairwise
from typing import Any

from reports import (
    TERMINAL,
    Calendar,
    app_transmissions,
    cap_windows,
    first_whole,
    month_of,
    over_window,
    parts_use,
)

from .completion import campaigns_complete, paused_respected
from .conformance import rejects_bad_input
from .evidence import (
    CLOCK_SLACK,
    MAX_EXAMPLES,
    RATE_SLACK,
    Event,
    Evidence,
    Findings,
    Index,
    Verdict,
    canonical,
    listed,
)
from .loss import no_loss

__all__ = ["MAX_EXAMPLES", "NEEDS", "ORACLES", "Evidence", "Verdict", "judge"]

_CAP_VERDICTS = {"hold": "held", "refuse": "refused"}


def _campaign_twice(ix: Index, campaign: Any, recipient: str, sends: dict[int, float]) -> str:
    each = ", ".join(f"SMS {i} at {ix.when(t)}" for i, t in sends.items())
    return f"campaign {campaign} reached {recipient} with {len(sends)} SMS: {each}"


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
    app_times = app_transmissions(event for _, event in ix.radio)
    reached: set[int] = set()  # ids that already had parts reach the network
    telephony_duplicates = 0
    campaign_sends: dict[tuple[Any, str], dict[int, float]] = defaultdict(dict)
    for _, event in ix.radio:
        sms_id = event["sms_id"]
        if sms_id is None:
            continue
        if event["cause"] == "app":
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
    minute than its rate limit.

    A repeat of an SMS some radio already sent whole does not count toward the parts: the
    server hands an SMS out again only when it never heard of the first send, and whether
    it may is exactly_once's to judge. Its parts are the figure ``repeat_parts``."""
    ix = evidence.index
    found = Findings()
    max_day = max_month = max_minute = max_submitted = repeat_parts = 0
    # A repeat of an SMS some radio had already sent whole does not count (reports.limits).
    whole = first_whole(event for _, event in ix.radio)
    for name, config in ix.phones.items():
        sends = ix.app_sends_by_phone.get(name, [])
        use = parts_use(sends, whole, Calendar(ix.start, ix.tz))
        repeat_parts += use.repeat_parts
        days: Counter[date] = Counter()
        months: Counter[tuple[int, int]] = Counter()
        start_day = int(config.get("month_start_day", 1))
        daily, monthly = int(config.get("daily_limit", 0)), int(config.get("monthly_limit", 0))
        over_at: dict[tuple[str, Any], float] = {}  # (key, period) -> when it went over
        for t, day, parts in use.counted:
            month = month_of(day, start_day)
            days[day] += parts
            months[month] += parts
            if 0 < daily < days[day]:
                over_at.setdefault(("daily_limit", day), t)
            if 0 < monthly < months[month]:
                over_at.setdefault(("monthly_limit", month), t)
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
        "repeat_parts": repeat_parts,
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
    """Android's SMS cap holds: per SIM slot within its window, and an SMS the cap held or
    refused ends sent only if some radio sent it whole."""
    ix = evidence.index
    found = Findings()
    slots = 0
    for name, config in ix.phones.items():
        sends = ix.app_sends_by_phone.get(name, [])
        for window in cap_windows(config, sends, ix.reboots.get(name, ())):
            slots += window.boot == 0
            times = [t for t, _ in window.sends]
            weights = [parts for _, parts in window.sends]
            for t, parts in over_window(times, weights, window.period, window.max_count)[1]:
                found.add(
                    f"{name} SIM slot {window.slot} sent {parts} parts in the "
                    f"{window.period:g} s ending {ix.when(t)}, over Android's cap of "
                    f"{window.max_count}",
                    t,
                )
    verdicts: Counter[str] = Counter()
    last_cap: dict[int, Event] = {}
    for _, event in ix.caps:
        verdicts[event["verdict"]] += 1
        last_cap[int(event["sms_id"])] = event
    for sms_id, event in sorted(last_cap.items()):
        row = ix.sms.get(sms_id)
        state = "unknown to the server" if row is None else row["state"]
        # Held or refused, yet sent whole by some radio (handed out again after the stuck
        # timeout, the process that held it gone): ending sent is then the truth.
        if (state == "sent" and sms_id not in ix.fully_sent) or state not in TERMINAL:
            found.add(
                f"SMS {sms_id} was {_CAP_VERDICTS.get(event['verdict'], event['verdict'])} "
                f"by Android's cap on {event['phone']} slot "
                f"{event['sim_slot']} at {ix.when(event['t'])}, yet ends {state}"
            )
    figures = {"held": verdicts["hold"], "refused": verdicts["refuse"], "capped_slots": slots}
    checked = slots + len(last_cap)
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
    # an SMS handed only to phones whose app state nobody could read (a real phone's
    # store is the app's own) is judged by the server and the radio, not here
    known = {event["phone"] for _, event in ix.app_finals}

    def unknowable(sms_id: int) -> bool:
        holders = {event["phone"] for _, event in ix.issues_by_sms.get(sms_id, ())}
        return bool(holders) and not holders & known

    unreported = [i for i in ix.sent_ids if i not in reports and not unknowable(i)]
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
    "campaigns_complete": campaigns_complete,
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
    "campaigns_complete": ("sms", "campaigns"),
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
