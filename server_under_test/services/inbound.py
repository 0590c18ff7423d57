"""Inbound SMS: recording, deduplication, STOP detection and the blacklist.

A phone reports each received SMS up to three times (WorkManager worker, live service
report, JS listener) and again on an inbox rescan. One message must give one record:

* a report that carries the phone's ``received_at`` is the same message as an earlier
  report with the same sender, text, phone and ``received_at`` (to the second) — two
  identical texts received at different times stay two records;
* a report without ``received_at`` (timed by the server) is the same message as a record
  of the same sender and text on the same phone within ``inbound_dedupe_window``;
* receiving numbers must agree, except that an empty one (the app often cannot read it)
  agrees with any.

Concurrent duplicate reports are serialised on the message's content (an advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and phone-timed reports are also protected by a
unique key, so two reports racing each other still give one record (reference defect B7).

STOP is a whole-word, case-insensitive match against ``Settings.stop_keywords`` ("Stop
prosím" is a STOP; "nonstop" and "stopka" are not — reference defect B10).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from ..storage.tables import MAX_ID, inbound_sms, partner
from .blacklist import add_numbers, blacklisted_among
from .context import Context
from .dbutil import xact_lock
from .numbers import to_e164
from .partners import partners_by_number

__all__ = [
    "InboundOutcome",
    "InboundReport",
    "blacklist_inbound",
    "history",
    "is_stop",
    "record_inbound",
]

_WORD = re.compile(r"\w+")


def is_stop(text: str, keywords: tuple[str, ...], *, substring: bool = False) -> bool:
    """Whether ``text`` asks to unsubscribe: one of its words is a STOP keyword.

    ``substring=True`` is the reference's rule (``'STOP' in text.upper()``, defect B10).
    """
    folded = text.casefold()
    wanted = {k.casefold() for k in keywords}
    if substring:
        return any(k in folded for k in wanted)
    return any(word in wanted for word in _WORD.findall(folded))


@dataclass(frozen=True)
class InboundReport:
    """One received SMS as a phone reports it."""

    from_number: str
    message: str
    to_number: str = ""
    received_at: datetime | None = None  # naive UTC, as the phone saw it


@dataclass(frozen=True)
class InboundOutcome:
    """What the server made of one report."""

    id: int
    duplicate: bool
    is_stop: bool
    blacklisted: bool
    newly_blacklisted: bool
    partner_found: bool
    canceled_sms: int = 0


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _same_receiver(a: str, b: str) -> bool:
    return a == b or not a or not b


def record_inbound(
    conn: Connection, ctx: Context, phone: Row[Any], report: InboundReport
) -> InboundOutcome:
    """Record one inbound SMS unless it is a duplicate; act on STOP."""
    region = ctx.settings.default_region
    sender = to_e164(report.from_number, region) or report.from_number.strip()
    receiver = to_e164(report.to_number, region) or (report.to_number or "").strip()
    now = ctx.now()
    received = report.received_at.replace(microsecond=0) if report.received_at else None
    content_key = _digest(phone.id, sender, report.message)
    xact_lock(conn, content_key)

    window = ctx.settings.inbound_dedupe_window
    moment = received or now
    for earlier in conn.execute(
        select(inbound_sms).where(
            inbound_sms.c.content_key == content_key,
            inbound_sms.c.received_at >= moment - window,
            inbound_sms.c.received_at <= moment + window,
        )
    ):
        if not _same_receiver(earlier.to_number, receiver):
            continue
        both_timed = received is not None and earlier.received_at_reported
        if both_timed and earlier.received_at != received:
            continue
        return InboundOutcome(
            id=earlier.id,
            duplicate=True,
            is_stop=earlier.is_stop,
            blacklisted=earlier.blacklisted,
            newly_blacklisted=False,
            partner_found=earlier.partner_id is not None,
        )

    stop = is_stop(report.message, ctx.settings.stop_keywords, substring=ctx.settings.defect("B10"))
    newly = False
    canceled = 0
    blacklisted = stop and _is_number(sender)
    if blacklisted:
        fresh, canceled = add_numbers(conn, ctx, [sender], reason="STOP reply")
        newly = bool(fresh)
    partner_id = partners_by_number(conn, [sender]).get(sender)
    values = {
        "from_number": sender,
        "to_number": receiver,
        "message": report.message,
        "received_at": moment,
        "received_at_reported": received is not None,
        "phone_id": phone.id,
        "partner_id": partner_id,
        "is_stop": stop,
        "blacklisted": blacklisted,
        "content_key": content_key,
        "created_at": now,
        "reported_key": (
            _digest(phone.id, sender, receiver, report.message, received.isoformat())
            if received
            else None
        ),
    }
    # The content lock above makes a plain insert safe; the unique reported_key is the
    # database's own guarantee should that lock ever be bypassed.
    record_id = conn.execute(
        insert(inbound_sms).values(**values).returning(inbound_sms.c.id)
    ).scalar_one()
    return InboundOutcome(
        id=int(record_id),
        duplicate=False,
        is_stop=stop,
        blacklisted=blacklisted,
        newly_blacklisted=newly,
        partner_found=partner_id is not None,
        canceled_sms=canceled,
    )


def _is_number(sender: str) -> bool:
    return sender.startswith("+")


def history(
    conn: Connection,
    phone: Row[Any],
    *,
    limit: int,
    offset: int,
    stop_only: bool = False,
    stop_not_blacklisted: bool = False,
    search: str | None = None,
) -> tuple[list[Row[Any]], int]:
    """The phone's inbound SMS, newest first, with the total before paging."""
    conditions = [inbound_sms.c.phone_id == phone.id]
    if stop_not_blacklisted:
        conditions += [inbound_sms.c.is_stop.is_(True), inbound_sms.c.blacklisted.is_(False)]
    elif stop_only:
        conditions.append(inbound_sms.c.is_stop.is_(True))
    if search:
        pattern = f"%{search.strip()}%"
        conditions.append(
            or_(inbound_sms.c.from_number.ilike(pattern), inbound_sms.c.message.ilike(pattern))
        )
    total = conn.execute(select(func.count()).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(inbound_sms, partner.c.name.label("partner_name"))
        .select_from(inbound_sms.outerjoin(partner, partner.c.id == inbound_sms.c.partner_id))
        .where(*conditions)
        .order_by(inbound_sms.c.received_at.desc(), inbound_sms.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def blacklist_inbound(
    conn: Connection, ctx: Context, phone: Row[Any], ids: list[int]
) -> tuple[int, list[int]]:
    """Blacklist the senders of the given inbound records of this phone.

    Returns how many records were marked and the requested ids this phone does not own.
    """
    possible = [i for i in ids if i <= MAX_ID]
    rows = conn.execute(
        select(inbound_sms.c.id, inbound_sms.c.from_number).where(
            inbound_sms.c.id.in_(possible), inbound_sms.c.phone_id == phone.id
        )
    ).all()
    owned = {r.id for r in rows}
    numbers = sorted({r.from_number for r in rows if _is_number(r.from_number)})
    add_numbers(conn, ctx, numbers, reason="blacklisted from the app")
    marked = 0
    listed = blacklisted_among(conn, numbers)
    if listed:
        marked = int(
            conn.execute(
                update(inbound_sms)
                .where(
                    inbound_sms.c.phone_id == phone.id,
                    inbound_sms.c.from_number.in_(sorted(listed)),
                    inbound_sms.c.blacklisted.is_(False),
                )
                .values(blacklisted=True)
            ).rowcount
            or 0
        )
    return marked, [i for i in ids if i not in owned]
