"""Handing SMS to phones and taking their reports back: pickup, confirm, reconcile.

Exactly-once issuance: a pickup locks the phone's row (so two concurrent polls of one
phone cannot both spend its capacity) and selects its queue ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE``, so pickups run one
after another. Either way an SMS moves ``pending`` → ``processing`` in the transaction that
selected it, and no other pickup can see it as ``pending`` again; the update also takes
only SMS still ``pending``, so an SMS is never issued twice even where a lock is missing.
The two steps are ``choose_batch`` and ``hand_out``, so a test can interleave two pickups.

A pickup also keeps the phone's ``rate_limit`` (SMS per minute): a poll gets at most the
rate limit minus what the phone was handed in the last 60 s. The app paces SMS only within
one batch, so back-to-back polls would otherwise break a low rate limit.

Defect switches of pickup and confirm: C3 (no throttle), C4 (capacity in SMS), C5 (no lock
or guard: concurrent polls get the same SMS), C10 (confirms of any phone's SMS applied),
B21 (a poll at the limit pauses the phone's forced campaigns), B25 (the cancel of
blacklisted SMS at pickup does not complete their campaigns, as the reference's raw-SQL
pre-cancel does not: ``services/campaigns.py``).

Confirms are idempotent, whatever order ``sending``/``sent``/``error`` arrive in:

* ``sent`` is final: it is recorded once, the phone's counters move once (by the SMS's
  segments), and a later ``error`` or ``sending`` for it changes nothing;
* ``error`` ends any SMS that is not ``sent`` (an ``error`` followed by ``sent`` becomes
  ``sent``: the radio did transmit it);
* ``sending`` only marks an SMS the phone holds as being transmitted.

A confirm for an SMS that was reset by the stuck job and is queued again, or re-issued, is
applied to it like any other: the phone's report is the truth about its radio. A report
for an SMS queued to the phone but never handed out to any phone (``issue_count`` 0) is
refused (``never_issued``): the phone cannot hold it, so the report is about another SMS
(an app database older than the server's) and applying it would end an SMS never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, case, or_, select, update

from ..errors import Conflict, NotFound
from ..storage.tables import MAX_ID, campaign, gateway_phone, sms
from .blacklist import blacklisted_among
from .campaigns import end_sms, note
from .context import Context
from .dbutil import chunks
from .phones import COUNTERS, IN_FLIGHT, QUEUED, UNCONFIRMED, phone_capacity, rate_room

__all__ = [
    "Applied",
    "ConfirmOutcome",
    "Pickup",
    "Reconciliation",
    "Report",
    "apply_reports",
    "choose_batch",
    "confirm",
    "hand_out",
    "never_issued_message",
    "pickup",
    "reconcile",
]

FINAL = ("sent", "error", "canceled")


@dataclass
class Pickup:
    """What one ``/pending`` call handed out (or, from ``choose_batch``, chose to)."""

    sms: list[Row[Any]] = field(default_factory=list)
    limit_reached: bool = False
    canceled_blacklisted: int = 0


def pickup(conn: Connection, ctx: Context, phone: Row[Any], limit: int) -> Pickup:
    """Hand up to ``limit`` queued SMS to ``phone``, within its capacity and rate limit."""
    result = hand_out(conn, ctx, choose_batch(conn, ctx, phone, limit))
    if result.limit_reached and ctx.settings.defect("B21"):
        # B21: the reference pauses the phone's forced mailings when it answers
        # limit_reached (gateway_api.py:229-233), and only an operator resumes them.
        conn.execute(
            update(campaign)
            .where(campaign.c.forced_phone_id == phone.id, campaign.c.paused.is_(False))
            .values(paused=True)
        )
    return result


def choose_batch(conn: Connection, ctx: Context, phone: Row[Any], limit: int) -> Pickup:
    """The first step of a pickup: lock the phone, choose its next SMS (not yet handed out).

    The batch is at most ``limit`` SMS, at most what the phone's ``rate_limit`` leaves of
    the last minute (C3: not at all), and at most its remaining daily and monthly capacity
    in segments (C4: in SMS). Blacklisted SMS met on the way are cancelled.
    """
    unlocked = ctx.settings.defect("C5")
    in_sms = ctx.settings.defect("C4")
    # Serialise pickups of one phone: capacity is read, then spent.
    current = select(gateway_phone).where(gateway_phone.c.id == phone.id)
    phone = conn.execute(current if unlocked else current.with_for_update()).one()
    counting = QUEUED + IN_FLIGHT if ctx.settings.defect("B1") else IN_FLIGHT
    budget = phone_capacity(conn, phone, counting=counting, in_sms=in_sms).remaining
    result = Pickup()
    if budget <= 0:
        result.limit_reached = True
        return result
    now = ctx.now()
    if not ctx.settings.defect("C3"):
        # Room under the rate limit is not capacity: a poll it empties has limit_reached
        # false, and the phone polls again later as usual.
        limit = min(limit, rate_room(conn, phone, now))
    taken: list[Any] = []
    after = 0
    # Blacklisted SMS found on the way are cancelled and do not use up the batch; a few
    # rounds fill it again. Rounds are bounded so a poll never scans a whole queue.
    for _ in range(5):
        want = min(limit - len(taken), budget)
        if want <= 0:
            break
        query = (
            select(
                sms.c.id,
                sms.c.number,
                sms.c.number_e164,
                sms.c.body,
                sms.c.uuid,
                sms.c.gateway_sim_number,
                sms.c.segments,
                sms.c.campaign_id,
            )
            .select_from(sms.outerjoin(campaign, campaign.c.id == sms.c.campaign_id))
            .where(
                sms.c.gateway_phone_id == phone.id,
                sms.c.gateway_state == "pending",
                sms.c.state == "pending",
                sms.c.id > after,
                or_(sms.c.campaign_id.is_(None), campaign.c.paused.is_(False)),
            )
            .order_by(sms.c.id)
            .limit(want)
        )
        if not unlocked:
            query = query.with_for_update(of=sms, skip_locked=True)
        candidates = list(conn.execute(query))
        if not candidates:
            break
        after = candidates[-1].id
        banned = set()
        if not ctx.settings.defect("B8"):
            banned = blacklisted_among(conn, (c.number_e164 for c in candidates))
        canceled = [c.id for c in candidates if c.number_e164 in banned]
        if canceled:
            _cancel_blacklisted(conn, ctx, canceled)
            result.canceled_blacklisted += len(canceled)
        for cand in candidates:
            if cand.number_e164 in banned:
                continue
            cost = 1 if in_sms else cand.segments
            if cost > budget:
                # First in, first out: a long SMS that does not fit waits; nothing jumps it.
                budget = 0
                break
            budget -= cost
            taken.append(cand)
        if len(candidates) < want:
            break
    result.sms = taken
    result.limit_reached = not taken and budget <= 0
    return result


def hand_out(conn: Connection, ctx: Context, chosen: Pickup) -> Pickup:
    """The second step of a pickup: mark the chosen SMS ``processing``; what was handed out.

    The update takes only SMS still queued, so an SMS another pickup handed out meanwhile
    is left out of the answer rather than issued twice (C5: no such guard).
    """
    if not chosen.sms:
        return chosen
    now = ctx.now()
    guarded = not ctx.settings.defect("C5")
    handed: set[int] = set()
    for part in chunks([t.id for t in chosen.sms]):
        stmt = update(sms).where(sms.c.id.in_(part))
        if guarded:
            stmt = stmt.where(sms.c.gateway_state == "pending", sms.c.state == "pending")
        handed.update(
            conn.execute(
                stmt.values(
                    gateway_state="processing",
                    picked_at=now,
                    issue_count=sms.c.issue_count + 1,
                    updated_at=now,
                ).returning(sms.c.id)
            ).scalars()
        )
    if ctx.settings.defect("B17"):  # handing out is completing, for B17's campaigns
        note(conn, (row.campaign_id for row in chosen.sms if row.id in handed))
    return Pickup(
        sms=[row for row in chosen.sms if row.id in handed],
        limit_reached=chosen.limit_reached,
        canceled_blacklisted=chosen.canceled_blacklisted,
    )


def _cancel_blacklisted(conn: Connection, ctx: Context, ids: Sequence[int]) -> None:
    # raw: the reference's pre-cancel at pickup is raw SQL that skips completion (B25)
    end_sms(
        conn,
        ctx,
        update(sms)
        .where(sms.c.id.in_(list(ids)))
        .values(
            state="canceled",
            gateway_state="error",
            failure_type="sms_blacklist",
            error_message="Not sent: the recipient is on the blacklist (STOP received).",
            updated_at=ctx.now(),
        ),
        raw=True,
    )


@dataclass(frozen=True)
class Report:
    """One status report from a phone."""

    sms_id: int
    status: str  # "sent", "error" or "sending"
    error_message: str | None = None


@dataclass(frozen=True)
class ConfirmOutcome:
    """The result of one status report."""

    sms_id: int
    changed: bool
    state: str
    gateway_state: str | None


def never_issued_message(sms_id: int) -> str:
    """Why a report for an SMS never handed out is refused."""
    return (
        f"SMS {sms_id} is queued for this phone but was never handed out by /pending, so "
        "the phone cannot have sent it; the report was not applied (is the app's database "
        "older than the server's?)."
    )


@dataclass(frozen=True)
class Applied:
    """What ``apply_reports`` did."""

    owned: set[int]  # this phone's SMS whose reports were applied
    changed: set[int]
    never_issued: set[int]  # this phone's SMS never handed out: reports refused
    counters: dict[str, int]


def apply_reports(
    conn: Connection, ctx: Context, phone: Row[Any], reports: Sequence[Report]
) -> Applied:
    """Apply status reports for the phone's SMS.

    Ids that do not exist or are another phone's are in no set. Each status is one
    ``UPDATE ... RETURNING`` for all its SMS, and the counters move once per call; a
    batch that reports one SMS twice is applied report by report, in order.
    """
    wanted = sorted({r.sms_id for r in reports if r.sms_id <= MAX_ID})
    owned: set[int] = set()
    never_issued: set[int] = set()
    # C10: any phone's SMS is taken as this phone's.
    anyones = ctx.settings.defect("C10")
    for part in chunks(wanted):
        query = select(sms.c.id, sms.c.issue_count).where(sms.c.id.in_(part))
        if not anyones:
            query = query.where(sms.c.gateway_phone_id == phone.id)
        for row in conn.execute(query):
            (owned if row.issue_count else never_issued).add(row.id)
    mine = [r for r in reports if r.sms_id in owned]
    if len({r.sms_id for r in mine}) == len(mine):
        rounds: list[list[Report]] = [mine]
    else:
        rounds = [[r] for r in mine]
    changed: set[int] = set()
    segments = 0
    for batch in rounds:
        for status in ("sending", "error", "sent"):
            group = [r for r in batch if r.status == status]
            if group:
                done, seg = _apply(conn, ctx, status, group)
                changed |= done
                segments += seg
    # Always one statement: it moves the counters (by 0 if nothing was newly sent) and
    # returns them for the phone's display.
    counters = conn.execute(
        update(gateway_phone)
        .where(gateway_phone.c.id == phone.id)
        .values(
            sent_today=gateway_phone.c.sent_today + segments,
            sent_month=gateway_phone.c.sent_month + segments,
            sent_total=gateway_phone.c.sent_total + segments,
        )
        .returning(*(gateway_phone.c[name] for name in COUNTERS))
    ).one()
    return Applied(owned, changed, never_issued, dict(zip(COUNTERS, counters, strict=True)))


def _apply(
    conn: Connection, ctx: Context, status: str, group: Sequence[Report]
) -> tuple[set[int], int]:
    """One status for many SMS: the ids it changed and the segments newly sent."""
    now = ctx.now()
    legacy = ctx.settings.defect("B11")
    ids = [r.sms_id for r in group]
    target = update(sms).where(sms.c.id.in_(ids))
    if status == "sent":
        guard = sms.c.gateway_state.is_distinct_from("sent") if legacy else sms.c.state != "sent"
        rows = end_sms(
            conn,
            ctx,
            target.where(guard)
            .values(
                state="sent",
                gateway_state="sent",
                failure_type=None,
                error_message=None,
                sent_at=now,
                updated_at=now,
            )
            .returning(sms.c.id, sms.c.segments),
        )
        return {r.id for r in rows}, sum(r.segments for r in rows)
    if status == "error":
        messages = {
            r.sms_id: (r.error_message or "The phone reported an error.")[:2000] for r in group
        }
        stmt = target.values(
            state="error",
            gateway_state="error",
            failure_type="sms_server",
            error_message=case(messages, value=sms.c.id),
            updated_at=now,
        )
        if not legacy:
            stmt = stmt.where(sms.c.state.in_(("pending", "outgoing", "error")))
        return {row.id for row in end_sms(conn, ctx, stmt.returning(sms.c.id))}, 0
    stmt = target.where(
        sms.c.state == "pending", sms.c.gateway_state.in_(("pending", "processing"))
    ).values(gateway_state="sending", updated_at=now)
    return set(conn.execute(stmt.returning(sms.c.id)).scalars()), 0


def confirm(
    conn: Connection,
    ctx: Context,
    phone: Row[Any],
    sms_id: int,
    status: str,
    error_message: str | None = None,
) -> ConfirmOutcome:
    """Apply one status report (idempotent).

    ``NotFound`` for an unknown or foreign id, ``Conflict`` for an SMS never handed out.
    """
    applied = apply_reports(conn, ctx, phone, [Report(sms_id, status, error_message)])
    if sms_id in applied.never_issued:
        raise Conflict(never_issued_message(sms_id))
    owned, changed = applied.owned, applied.changed
    if sms_id not in owned:
        raise NotFound(f"SMS {sms_id} was not found or is not assigned to this phone.")
    final = conn.execute(select(sms.c.state, sms.c.gateway_state).where(sms.c.id == sms_id)).one()
    return ConfirmOutcome(sms_id, sms_id in changed, final.state, final.gateway_state)


@dataclass
class Reconciliation:
    """The server's view of SMS ids a phone still holds unsynced statuses for."""

    already_confirmed_ids: list[int] = field(default_factory=list)
    stuck_ids: list[int] = field(default_factory=list)
    requeued_ids: list[int] = field(default_factory=list)
    not_found_ids: list[int] = field(default_factory=list)


def reconcile(conn: Connection, phone: Row[Any], known_ids: Sequence[int]) -> Reconciliation:
    """Classify ``known_ids``: final on the server, still in flight, queued again, unknown.

    ``not_found_ids`` are ids that do not exist or are not this phone's. An SMS the stuck
    reset ended ``error`` / ``sms_unconfirmed`` is the server's guess, not a status anyone
    reported: it is listed as stuck, so that the app keeps the status it holds and sends it
    (a late ``sent`` wins), instead of marking it synced and dropping the truth.
    """
    result = Reconciliation()
    wanted = sorted(set(known_ids))
    seen: set[int] = set()
    for part in chunks([i for i in wanted if i <= MAX_ID]):
        for row in conn.execute(
            select(sms.c.id, sms.c.state, sms.c.gateway_state, sms.c.failure_type).where(
                sms.c.id.in_(part), sms.c.gateway_phone_id == phone.id
            )
        ):
            seen.add(row.id)
            if row.state == "error" and row.failure_type == UNCONFIRMED:
                result.stuck_ids.append(row.id)
            elif row.state in FINAL:
                result.already_confirmed_ids.append(row.id)
            elif row.gateway_state in IN_FLIGHT:
                result.stuck_ids.append(row.id)
            else:
                result.requeued_ids.append(row.id)
    result.not_found_ids = [i for i in wanted if i not in seen]
    for ids in (result.already_confirmed_ids, result.stuck_ids, result.requeued_ids):
        ids.sort()
    return result
