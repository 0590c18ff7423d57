"""The ``no_loss`` oracle: every enqueued SMS ends, and a failure is one the world justified.

The server's reason for a failure is an opinion; the world's ledger decides. An SMS the
server refused at enqueue while a phone whose partner filter accepts it was online (by its
accepted heartbeats) with room under its limits, in the parts Android sends, is lost; so is
one cancelled as blacklisted though its recipient never replied STOP. Standard library (and
``smscodec``, and the calendar of ``reports``' measures) only, like the other oracles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from reports import TERMINAL, Calendar, month_of
from smscodec import count_parts

from .evidence import CLOCK_SLACK, Event, Evidence, Findings, Index, Verdict, canonical

__all__ = ["no_loss"]


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
        failed = [int(i) for i in batch["ids"] if ix.failed_at_enqueue(int(i))]
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
