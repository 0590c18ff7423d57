"""Inbound SMS: recording, deduplication, STOP detection and the blacklist.

The real app (1.7.1) reports every received SMS as ``{from_number, message, to_number}``
with no device time, over two roads: ``/inbound`` (the running service's live report and
the WorkManager worker, which retries with backoff, possibly hours later) and
``/inbound-batch`` (the inbox scan at each service start, which re-reports everything since
the previous scan, hours or days old, with ``to_number=""``). One received SMS must give
one record. A report is a duplicate of a record of the same phone, sender (E.164) and text
whose receiving number agrees (an empty one agrees with any), by these rules:

* **inbox scan** (an ``/inbound-batch`` item without a time): any such record, however old
  (the reference server's rule). A new one is recorded with ``origin='scan'`` and no
  ``live_reports`` yet;
* **live report** (``/inbound`` without a time): a record whose latest ``/inbound`` report
  (``last_reported_at``) is within ``Settings.inbound_dedupe_window`` of now; else the
  oldest record that so far came only from inbox scans — the late worker report of a
  message a scan recorded first *claims* it; else a record that stands for exactly one
  ``/inbound`` report, made within ``Settings.inbound_pair_window`` (6 h): the other of
  the pair of reports every SMS gives while the service runs (the live report and the
  worker's, which Doze may defer to a maintenance window hours later). A duplicate moves
  ``last_reported_at`` to now and counts one more ``live_reports``; scan re-reports move
  nothing.
* **timed report** (a device ``received_at``/``date``, the documented dialect, either
  road): a timed record with the same time to the second, or an untimed record first
  reported within the window of that time. Two timed reports with different times stay two.

So two identical texts from one sender are two records when both come live more than the
window apart after the first had both its reports, and one when the second reaches the
server only through a scan (a scan item cannot be told from a re-report of the first) or
comes within 6 h of a first that had only one report (``docs/server.md``). With defect
switch S1 (this server before issue 8) untimed scan items get the live window rule and
nothing is ever claimed or paired.

A phone's inbound reports are serialised (an advisory lock per phone on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), and timed reports also carry a unique key, so concurrent
duplicate reports give one record (reference defect B7). A scan is recorded in chunks of
``SCAN_CHUNK`` items, each its own transaction, so a 30-day inbox never holds the lock for
long and a retried scan simply finds its committed chunks again.

STOP is a whole-word, case-insensitive match against ``Settings.stop_keywords`` ("Stop
prosím" is a STOP; "nonstop" and "stopka" are not — reference defect B10). With defect C11
only a message that is exactly a keyword in upper case ("STOP", surrounding whitespace
ignored) is a STOP; with B10 as well, a case-sensitive substring ("nonSTOP" is one, "Stop"
is not). With defect C12 a STOP blacklists the sender as the phone wrote it
(``00420601743915``, ``601 743 915``) instead of its E.164 form, so the SMS queued for, and
later sent to, ``+420601743915`` are not stopped; the record keeps the E.164 sender.

Defect switch B7 is the reference's dedupe (``gateway_api.py`` of Varyshop/sms-gateway at
83f7569): by content alone, searched and then inserted with no lock and no unique key.
A live report (``/inbound``) repeats any record of the same sender and text, **on any
phone**, created within ``Settings.inbound_dedupe_window`` (10 minutes) of now
(``gateway_api.py:519-531``: ``from_number``, ``message`` and ``received_at >= now - 10
min``, ``received_at`` being the time of insert); a scan item (``/inbound-batch``) repeats
any record of the same sender and text of this phone, however old (``:610-614``). A device
time is ignored (the reference has no such field; ``:548-556`` and ``:654-662`` store
only sender, receiver and text), the receiving number plays no part, and a duplicate
changes nothing. So a person who writes "OK", and "OK" again three minutes later, gets one
record even from a client that tells the two apart by their device times, and a STOP sent
to two phones of the fleet is recorded on the first only. Senders are compared in E.164 as
this server stores them (the reference compares the strings as the phone wrote them). The
lock-free half (two concurrent reports of one SMS both stored) shows only where requests
overlap: on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway, and in
virtual time the harness sends one request after another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, literal, or_, select, update

from ..storage.tables import MAX_ID, inbound_sms, partner
from .blacklist import add_numbers, blacklisted_among, written_form
from .context import Context
from .dbutil import LIKE_ESCAPE, chunks, contains_pattern, xact_lock
from .numbers import to_e164
from .partners import partners_by_number

__all__ = [
    "SCAN_CHUNK",
    "InboundOutcome",
    "InboundReport",
    "blacklist_inbound",
    "history",
    "is_stop",
    "record_inbound",
    "record_reports",
]

# Items of an inbox scan recorded per transaction.
SCAN_CHUNK = 500

_WORD = re.compile(r"\w+")


def is_stop(
    text: str, keywords: tuple[str, ...], *, substring: bool = False, exact: bool = False
) -> bool:
    """Whether ``text`` asks to unsubscribe: one of its words is a STOP keyword.

    ``substring=True`` is the reference's rule (``'STOP' in text.upper()``, defect B10).
    ``exact=True`` is defect C11: only the whole text, stripped, equal to a keyword in upper
    case; with ``substring`` too, the upper-case keyword anywhere in the text, case-sensitive.
    """
    if exact:
        upper = {k.upper() for k in keywords}
        if substring:
            return any(k in text for k in upper)
        return text.strip() in upper
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


@dataclass(frozen=True)
class _Prepared:
    """A report with its sender and receiver normalised."""

    sender: str
    receiver: str
    message: str
    received: datetime | None
    key: str
    listed_as: str  # the number a STOP blacklists: the sender, or as written (defect C12)


@dataclass
class _Record:
    """What the dedupe rules need of a stored (or about to be stored) record."""

    id: int | None
    to_number: str
    received_at: datetime
    timed: bool
    last_reported_at: datetime
    live_reports: int
    is_stop: bool
    blacklisted: bool
    partner_found: bool
    values: dict[str, Any] | None = None  # the row to insert, for a record new in this call
    listed_as: str | None = None  # the number this new record's STOP blacklists


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _same_receiver(a: str, b: str) -> bool:
    return a == b or not a or not b


def _prepare(ctx: Context, phone: Row[Any], report: InboundReport) -> _Prepared:
    region = ctx.settings.default_region
    sender = to_e164(report.from_number, region) or report.from_number.strip()
    receiver = to_e164(report.to_number, region) or (report.to_number or "").strip()
    received = report.received_at.replace(microsecond=0) if report.received_at else None
    if ctx.settings.defect("B7"):
        received = None  # the reference stores no device time (gateway_api.py:548-556)
    listed_as = written_form(report.from_number) if ctx.settings.defect("C12") else sender
    return _Prepared(
        sender,
        receiver,
        report.message,
        received,
        _digest(phone.id, sender, report.message),
        listed_as,
    )


def _load(conn: Connection, keys: Sequence[str]) -> dict[str, list[_Record]]:
    """The stored records with these content keys, oldest first."""
    found: dict[str, list[_Record]] = {}
    for part in chunks(sorted(set(keys))):
        for row in conn.execute(
            select(inbound_sms)
            .where(inbound_sms.c.content_key.in_(part))
            .order_by(inbound_sms.c.id)
        ):
            found.setdefault(row.content_key, []).append(_stored(row))
    return found


def _stored(row: Row[Any]) -> _Record:
    return _Record(
        id=row.id,
        to_number=row.to_number,
        received_at=row.received_at,
        timed=row.received_at_reported,
        last_reported_at=row.last_reported_at,
        live_reports=row.live_reports,
        is_stop=row.is_stop,
        blacklisted=row.blacklisted,
        partner_found=row.partner_id is not None,
    )


def _load_by_content(
    conn: Connection,
    ctx: Context,
    phone: Row[Any],
    items: Sequence[_Prepared],
    now: datetime,
    *,
    scan: bool,
) -> dict[str, list[_Record]]:
    """Defect B7: the records the reference's search finds for each item, oldest first,
    under the item's content key: same sender and text, of this phone for a scan item
    (``gateway_api.py:610-614``), of any phone within the window for a live report
    (``:519-524``)."""
    wanted = {(p.sender, p.message): p.key for p in items}
    where = (
        inbound_sms.c.phone_id == phone.id
        if scan
        else inbound_sms.c.received_at >= now - ctx.settings.inbound_dedupe_window
    )
    found: dict[str, list[_Record]] = {}
    for part in chunks(sorted({p.sender for p in items})):
        for row in conn.execute(
            select(inbound_sms)
            .where(inbound_sms.c.from_number.in_(part), where)
            .order_by(inbound_sms.c.id)
        ):
            key = wanted.get((row.from_number, row.message))
            if key is not None:
                found.setdefault(key, []).append(_stored(row))
    return found


def _match(
    ctx: Context, earlier: list[_Record], report: _Prepared, now: datetime, *, scan: bool
) -> _Record | None:
    """The record ``report`` repeats, by the rules of the module docstring, or None."""
    if ctx.settings.defect("B7"):
        # The loader applied the reference's whole rule; its search returns the newest.
        return earlier[-1] if earlier else None
    same = [r for r in earlier if _same_receiver(r.to_number, report.receiver)]
    window = ctx.settings.inbound_dedupe_window
    if report.received is not None:
        for record in same:
            if record.timed and record.received_at == report.received:
                return record
            if not record.timed and abs(record.received_at - report.received) <= window:
                return record
        return None
    old_rule = ctx.settings.defect("S1")
    if scan and not old_rule:
        return same[-1] if same else None
    recent = [r for r in same if abs(r.last_reported_at - now) <= window]
    if recent:
        return max(recent, key=lambda r: r.last_reported_at)
    if scan or old_rule:
        return None
    claim = next((r for r in same if r.live_reports == 0), None)
    if claim is not None:
        return claim
    pair = ctx.settings.inbound_pair_window
    return next((r for r in same if r.live_reports == 1 and now - r.last_reported_at <= pair), None)


def record_inbound(
    conn: Connection, ctx: Context, phone: Row[Any], report: InboundReport
) -> InboundOutcome:
    """Record one ``/inbound`` report unless it is a duplicate; act on STOP."""
    return record_reports(conn, ctx, phone, [report], scan=False)[0]


def record_reports(
    conn: Connection,
    ctx: Context,
    phone: Row[Any],
    reports: Sequence[InboundReport],
    *,
    scan: bool,
) -> list[InboundOutcome]:
    """Record reports of one phone (``scan``: items of an inbox scan), one outcome each.

    Call it with at most ``SCAN_CHUNK`` reports per transaction.
    """
    now = ctx.now()
    by_content = ctx.settings.defect("B7")  # the reference: no lock, search then insert
    if not by_content:
        # One lock per phone: its reports are few, and a chunk then takes one lock, not 500.
        xact_lock(conn, _digest("inbound", phone.id))
    prepared = [_prepare(ctx, phone, r) for r in reports]
    known = (
        _load_by_content(conn, ctx, phone, prepared, now, scan=scan)
        if by_content
        else _load(conn, [p.key for p in prepared])
    )
    partners = partners_by_number(conn, [p.sender for p in prepared])
    keywords, substring = ctx.settings.stop_keywords, ctx.settings.defect("B10")
    exact = ctx.settings.defect("C11")
    results: list[tuple[_Record, bool]] = []
    created: list[_Record] = []
    refreshed: dict[int, int] = {}  # record id -> its /inbound reports now
    for item in prepared:
        record = _match(ctx, known.get(item.key, []), item, now, scan=scan)
        if record is not None:
            if not scan and not by_content:  # B7: the reference changes nothing
                record.last_reported_at = now
                record.live_reports += 1
                if record.values is not None:
                    record.values.update(last_reported_at=now, live_reports=record.live_reports)
                elif record.id is not None:
                    refreshed[record.id] = record.live_reports
            results.append((record, True))
            continue
        stop = is_stop(item.message, keywords, substring=substring, exact=exact)
        record = _new_record(phone, item, now, stop, partners.get(item.sender), scan=scan)
        known.setdefault(item.key, []).append(record)
        created.append(record)
        results.append((record, False))

    rows = [r.values for r in created if r.values is not None]
    stop_senders = [r.listed_as for r in created if r.listed_as is not None]
    fresh = (
        set(
            add_numbers(
                conn,
                ctx,
                stop_senders,
                reason="STOP reply",
                as_written=ctx.settings.defect("C12"),
            )[0]
        )
        if stop_senders
        else set()
    )
    if rows:
        # The phone's lock above makes plain inserts safe; the unique reported_key is the
        # database's own guarantee should that lock ever be bypassed.
        ids = _insert_records(conn, rows)
        for record, record_id in zip(created, ids, strict=True):
            record.id = int(record_id)
    for record_id, count in sorted(refreshed.items()):
        conn.execute(
            update(inbound_sms)
            .where(inbound_sms.c.id == record_id)
            .values(last_reported_at=now, live_reports=count)
        )

    outcomes = []
    for record, duplicate in results:
        listed = record.listed_as
        newly = not duplicate and listed is not None and listed in fresh
        if newly:
            fresh.discard(listed)  # the first record of a newly blacklisted sender says so
        assert record.id is not None
        outcomes.append(
            InboundOutcome(
                id=record.id,
                duplicate=duplicate,
                is_stop=record.is_stop,
                blacklisted=record.blacklisted,
                newly_blacklisted=newly,
                partner_found=record.partner_found,
            )
        )
    return outcomes


def _insert_records(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows in one statement; their ids, in order."""
    if conn.dialect.name == "sqlite":
        # A SQLite writer holds the one write lock (BEGIN IMMEDIATE), so the next ids are
        # its own to number: one executemany, where an ordered RETURNING insert falls back
        # to a statement per row on SQLite (500 round trips per chunk under the lock).
        first = int(conn.execute(select(func.coalesce(func.max(inbound_sms.c.id), 0))).scalar_one())
        ids = list(range(first + 1, first + 1 + len(rows)))
        conn.execute(
            insert(inbound_sms), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)]
        )
        return ids
    returned = conn.execute(
        insert(inbound_sms).returning(inbound_sms.c.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in returned.scalars()]


def _new_record(
    phone: Row[Any],
    item: _Prepared,
    now: datetime,
    stop: bool,
    partner_id: int | None,
    *,
    scan: bool,
) -> _Record:
    blacklisted = stop and _is_number(item.sender)
    values = {
        "from_number": item.sender,
        "to_number": item.receiver,
        "message": item.message,
        "received_at": item.received or now,
        "received_at_reported": item.received is not None,
        "phone_id": phone.id,
        "partner_id": partner_id,
        "is_stop": stop,
        "blacklisted": blacklisted,
        "content_key": item.key,
        "created_at": now,
        "last_reported_at": now,
        "origin": "scan" if scan else "live",
        "live_reports": 0 if scan else 1,
        "reported_key": (
            _digest(phone.id, item.sender, item.receiver, item.message, item.received.isoformat())
            if item.received
            else None
        ),
    }
    return _Record(
        id=None,
        to_number=item.receiver,
        received_at=values["received_at"],
        timed=item.received is not None,
        last_reported_at=now,
        live_reports=0 if scan else 1,
        is_stop=stop,
        blacklisted=blacklisted,
        partner_found=partner_id is not None,
        values=values,
        listed_as=item.listed_as if blacklisted else None,
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
        pattern = contains_pattern(search.strip())
        conditions.append(
            or_(
                inbound_sms.c.from_number.ilike(pattern, escape=LIKE_ESCAPE),
                inbound_sms.c.message.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    total = conn.execute(select(func.count()).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(inbound_sms, func.coalesce(partner.c.name, literal("")).label("partner_name"))
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
