"""Enqueueing SMS and assigning each to a gateway phone (the reference's ``_send``).

For each SMS, in input order:

* a number that is not a phone number ends ``error`` / ``sms_number_format``;
* a blacklisted number ends ``canceled`` / ``sms_blacklist``;
* a forced phone (given on the SMS, by its SIM number, or by its campaign) is used whether
  it is online or not, if it has capacity left;
* otherwise the candidates are the active, online phones whose partner domain filter
  matches the SMS's partner (a phone with a filter takes no SMS without a partner), and
  the least-loaded candidate with capacity left wins (ties: lowest id);
* no phone → ``error`` / ``sms_server`` with a message that says why.

Capacity is counted in segments: the limit minus what was sent, minus what is queued or in
flight, minus what this call assigned so far — each assigned SMS is subtracted once (the
reference subtracts it twice, B2).

Defect switches of assignment: C4 counts capacity in SMS, C7 takes offline phones as
online, C8 ignores partner filters, C9 reads ``heartbeat_timeout`` in seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, func, select

from smscodec import count_parts, reference_segment_count

from ..storage.tables import campaign, gateway_phone, partner, sms
from .blacklist import blacklisted_among
from .campaigns import note
from .context import Context
from .dbutil import bulk_insert, chunks
from .numbers import to_e164
from .partners import filter_accepts, partners_by_number
from .phones import IN_FLIGHT, QUEUED, is_online, phone_capacity

__all__ = ["EnqueueResult", "ItemError", "OutgoingSms", "enqueue", "segments_of"]


@dataclass(frozen=True)
class OutgoingSms:
    """One SMS to enqueue."""

    number: str
    body: str
    partner_id: int | None = None
    campaign_id: int | None = None
    phone_id: int | None = None
    sim_number: str | None = None
    delivery: str | None = None  # default: the campaign's, else at_least_once


@dataclass(frozen=True)
class ItemError:
    """Why one item of a batch was refused (nothing was stored for it)."""

    index: int
    error: str


@dataclass
class EnqueueResult:
    """Ids in input order (``None`` for refused items), final states and refusals."""

    ids: list[int | None] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    errors: list[ItemError] = field(default_factory=list)
    phones: set[int] = field(default_factory=set)  # phones that were given SMS


def segments_of(ctx: Context, body: str) -> int:
    """Segments of a body: Android's exact split, or the reference's approximation (B18)."""
    if ctx.settings.defect("B18"):
        return reference_segment_count(body)
    return count_parts(body)


@dataclass
class _Slot:
    """A phone during one assignment call."""

    row: Row[Any]
    capacity: int  # segments (SMS under C4) it may still be given: min(daily, monthly) left
    load: int
    matches: set[int] | None  # partner ids its filter accepts; None = no filter
    used: int = 0

    def room(self, double_count: bool) -> int:
        return self.capacity - (self.used * 2 if double_count else self.used)

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(n for n in (self.row.phone_number, self.row.phone_number_2) if n)


def _load_slots(conn: Connection, ctx: Context, partner_ids: set[int]) -> dict[int, _Slot]:
    in_sms = ctx.settings.defect("C4")
    filters = not ctx.settings.defect("C8")
    loads: dict[int, int] = dict(
        conn.execute(
            select(sms.c.gateway_phone_id, func.count())
            .where(sms.c.state == "pending", sms.c.gateway_state.in_(QUEUED + IN_FLIGHT))
            .group_by(sms.c.gateway_phone_id)
        ).all()
    )
    slots: dict[int, _Slot] = {}
    ordered = sorted(partner_ids)
    for row in conn.execute(select(gateway_phone).where(gateway_phone.c.active)):
        cap = phone_capacity(conn, row, counting=QUEUED + IN_FLIGHT, in_sms=in_sms)
        matches: set[int] | None = None
        if row.domain_filter and filters:
            matches = filter_accepts(conn, row.domain_filter, ordered)
        slots[row.id] = _Slot(row, min(cap.daily, cap.monthly), loads.get(row.id, 0), matches)
    return slots


def _existing(conn: Connection, column: Any, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for part in chunks(sorted(ids)):
        found.update(conn.execute(select(column).where(column.in_(part))).scalars())
    return found


def enqueue(conn: Connection, ctx: Context, items: Sequence[OutgoingSms]) -> EnqueueResult:
    """Store and assign SMS in bulk; returns what became of each."""
    region = ctx.settings.default_region
    now = ctx.now()
    result = EnqueueResult()
    numbers = [to_e164(item.number, region) for item in items]
    known_partners = _existing(
        conn, partner.c.id, {i.partner_id for i in items if i.partner_id is not None}
    )
    by_number = partners_by_number(
        conn, [n for n, i in zip(numbers, items, strict=True) if n and i.partner_id is None]
    )
    campaigns = {
        row.id: row
        for row in conn.execute(
            select(campaign).where(
                campaign.c.id.in_(sorted({i.campaign_id for i in items if i.campaign_id}))
            )
        )
    }
    partner_of = [
        item.partner_id if item.partner_id is not None else by_number.get(number or "")
        for item, number in zip(items, numbers, strict=True)
    ]
    slots = _load_slots(conn, ctx, {p for p in partner_of if p is not None})
    by_sim = {n: slot for slot in slots.values() for n in slot.numbers}
    banned = set() if ctx.settings.defect("B8") else blacklisted_among(conn, numbers)
    double_count = ctx.settings.defect("B2")
    in_sms = ctx.settings.defect("C4")
    anyhow = ctx.settings.defect("C7")
    online = [
        s
        for s in sorted(slots.values(), key=lambda s: s.row.id)
        if anyhow or is_online(s.row, now, ctx.settings)
    ]

    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, (item, number, partner_id) in enumerate(
        zip(items, numbers, partner_of, strict=True)
    ):
        if item.partner_id is not None and item.partner_id not in known_partners:
            result.errors.append(ItemError(index, f"partner_id {item.partner_id} does not exist."))
            continue
        if item.campaign_id is not None and item.campaign_id not in campaigns:
            result.errors.append(
                ItemError(index, f"campaign_id {item.campaign_id} does not exist.")
            )
            continue
        forced, problem = _forced_slot(item, campaigns, slots, by_sim, region)
        if problem:
            result.errors.append(ItemError(index, problem))
            continue
        segments = segments_of(ctx, item.body)
        row: dict[str, Any] = {
            "uuid": ctx.ids.uuid(),
            "number": item.number,
            "number_e164": number,
            "body": item.body,
            "partner_id": partner_id,
            "campaign_id": item.campaign_id,
            "segments": segments,
            "phone_forced": forced is not None,
            "gateway_sim_number": to_e164(item.sim_number, region) if item.sim_number else None,
            "delivery": item.delivery
            or (campaigns[item.campaign_id].delivery if item.campaign_id else "at_least_once"),
            "created_at": now,
            "updated_at": now,
            # executemany takes its column list from the first row: every row names them all.
            "state": "pending",
            "gateway_state": "pending",
            "failure_type": None,
            "error_message": None,
            "gateway_phone_id": None,
        }
        if number is None:
            _fail(row, "error", "sms_number_format", f"{item.number!r} is not a phone number.")
        elif number in banned:
            _fail(row, "canceled", "sms_blacklist", f"Not sent: {number} is on the blacklist.")
        else:
            cost = 1 if in_sms else segments
            slot, why = _choose(forced, online, partner_id, cost, double_count)
            if slot is None:
                _fail(row, "error", "sms_server", why)
            else:
                slot.used += cost
                slot.load += 1
                row["gateway_phone_id"] = slot.row.id
                result.phones.add(slot.row.id)
        rows.append(row)
        positions.append(index)

    result.ids = [None] * len(items)
    # No RETURNING: keeping its order makes SQLAlchemy insert row by row on SQLite. The
    # uuids we generated map the new ids back, read in one range scan above the old maximum
    # (rows another transaction committed meanwhile are simply not ours).
    floor = conn.execute(select(func.coalesce(func.max(sms.c.id), 0))).scalar_one()
    bulk_insert(conn, sms, rows)
    # Some of these SMS end at once; a done campaign given new SMS is sending again.
    note(conn, (row["campaign_id"] for row in rows))
    mine = {row["uuid"] for row in rows}
    ids_by_uuid = {
        uuid: sms_id
        for uuid, sms_id in conn.execute(select(sms.c.uuid, sms.c.id).where(sms.c.id > floor))
        if uuid in mine
    }
    for position, row in zip(positions, rows, strict=True):
        result.ids[position] = ids_by_uuid[row["uuid"]]
    for row in rows:
        result.states[row["state"]] += 1
        if row.get("failure_type"):
            result.failures[row["failure_type"]] += 1
    return result


def _fail(row: dict[str, Any], state: str, failure: str, message: str) -> None:
    row.update(
        state=state,
        gateway_state="error",
        failure_type=failure,
        error_message=message,
        gateway_phone_id=None,
    )


def _forced_slot(
    item: OutgoingSms,
    campaigns: dict[int, Row[Any]],
    slots: dict[int, _Slot],
    by_sim: dict[str, _Slot],
    region: str,
) -> tuple[_Slot | None, str | None]:
    """The phone an SMS must go to, if any; or why the request is inconsistent."""
    phone_id = item.phone_id
    if phone_id is None and item.campaign_id is not None:
        phone_id = campaigns[item.campaign_id].forced_phone_id
    sim = to_e164(item.sim_number, region) if item.sim_number else None
    if item.sim_number and sim is None:
        return None, f"sim_number {item.sim_number!r} is not a phone number."
    if phone_id is None:
        if sim is None:
            return None, None
        if sim not in by_sim:
            return None, f"sim_number {sim} belongs to no active gateway phone."
        return by_sim[sim], None
    slot = slots.get(phone_id)
    if slot is None:
        return None, f"Gateway phone {phone_id} does not exist or is archived."
    if sim is not None and sim not in slot.numbers:
        return None, (
            f"sim_number {sim} is not a SIM of gateway phone {phone_id} "
            f"(its numbers: {', '.join(slot.numbers)})."
        )
    return slot, None


def _choose(
    forced: _Slot | None,
    online: list[_Slot],
    partner_id: int | None,
    segments: int,
    double_count: bool,
) -> tuple[_Slot | None, str]:
    """The phone for one SMS, or why there is none. Hot: runs once per enqueued SMS."""
    if forced is not None:
        if forced.room(double_count) >= segments:
            return forced, ""
        return None, (
            f"Gateway phone {forced.row.id} ({forced.row.name}) is forced for this SMS but "
            f"has no capacity left for {segments} segment(s) today or this month."
        )
    if not online:
        return None, "No gateway phone is online: start the app on a phone (heartbeat)."
    best: _Slot | None = None
    accepted = False
    for slot in online:  # ordered by id, so ties go to the lowest id
        if slot.matches is not None and (partner_id is None or partner_id not in slot.matches):
            continue
        accepted = True
        if slot.room(double_count) < segments:
            continue
        if best is None or slot.load < best.load:
            best = slot
    if best is not None:
        return best, ""
    if not accepted:
        return None, (
            "No online gateway phone accepts this recipient: every online phone has a partner "
            "filter that does not match it. Add a phone without a filter as a fallback."
        )
    return None, (
        f"Every online gateway phone that accepts this recipient has reached its daily or "
        f"monthly limit ({segments} segment(s) needed)."
    )
