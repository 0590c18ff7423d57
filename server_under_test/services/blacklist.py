"""The phone blacklist: numbers (E.164) that must never receive an SMS.

With defect C12 a STOP's number is stored as the phone wrote it (``written_form``), not in
E.164 form. Enqueue and pickup look the blacklist up by the SMS's E.164 number, and the
cancel of queued SMS compares the same way, so such a row stops only SMS whose E.164 number
is exactly the string the phone wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Connection, Row, String, delete, select, update

from ..errors import InvalidInput, NotFound
from ..storage.tables import blacklist, sms
from .campaigns import end_sms
from .context import Context
from .dbutil import chunks, insert_ignoring_conflicts
from .numbers import to_e164

__all__ = [
    "add_numbers",
    "blacklisted_among",
    "cancel_queued_for",
    "list_numbers",
    "remove_number",
    "written_form",
]


def normalise_or_fail(ctx: Context, number: str) -> str:
    """E.164 form of ``number``, or ``InvalidInput`` naming it."""
    e164 = to_e164(number, ctx.settings.default_region)
    if e164 is None:
        raise InvalidInput(
            f"{number!r} is not a phone number; give it in international format, "
            "e.g. +420777123456."
        )
    return e164


def written_form(number: str) -> str:
    """A number as a phone wrote it, cut to the blacklist's column (defect C12)."""
    return number[: cast(String, blacklist.c.number.type).length]


def add_numbers(
    conn: Connection,
    ctx: Context,
    numbers: Iterable[str],
    reason: str | None = None,
    *,
    as_written: bool = False,
) -> tuple[list[str], int]:
    """Blacklist numbers and cancel the SMS queued for them.

    Returns the E.164 numbers that were not blacklisted before, and how many queued SMS
    were cancelled (none with the reference's defect B8 switched on). ``as_written=True``
    is defect C12: the numbers are stored, and compared with the queued SMS, as given.
    """
    if as_written:
        wanted = sorted({written_form(n) for n in numbers})
    else:
        wanted = sorted({normalise_or_fail(ctx, n) for n in numbers})
    known = blacklisted_among(conn, wanted)
    fresh = [n for n in wanted if n not in known]
    insert_ignoring_conflicts(
        conn,
        blacklist,
        ({"number": n, "reason": reason, "created_at": ctx.now()} for n in fresh),
        ["number"],
    )
    if ctx.settings.defect("B8"):
        return fresh, 0
    return fresh, cancel_queued_for(conn, ctx, wanted)


def blacklisted_among(conn: Connection, numbers: Iterable[str | None]) -> set[str]:
    """The subset of ``numbers`` (E.164) that is blacklisted."""
    wanted = sorted({n for n in numbers if n})
    found: set[str] = set()
    for part in chunks(wanted):
        found.update(
            conn.execute(select(blacklist.c.number).where(blacklist.c.number.in_(part))).scalars()
        )
    return found


def cancel_queued_for(conn: Connection, ctx: Context, numbers: Iterable[str]) -> int:
    """Cancel the SMS for ``numbers`` that wait in a phone queue; returns how many.

    One statement per ``CHUNK`` numbers, so a 5 000-STOP inbox scan costs a few
    statements, not one per sender.
    """
    cancelled = 0
    for part in chunks(sorted(set(numbers))):
        ended = end_sms(
            conn,
            ctx,
            update(sms)
            .where(
                sms.c.number_e164.in_(part),
                sms.c.state == "pending",
                sms.c.gateway_state == "pending",
            )
            .values(
                state="canceled",
                gateway_state="error",
                failure_type="sms_blacklist",
                error_message="Not sent: " + sms.c.number_e164 + " is on the blacklist.",
                updated_at=ctx.now(),
            ),
        )
        cancelled += len(ended)
    return cancelled


def remove_number(conn: Connection, ctx: Context, number: str) -> None:
    """Take a number off the blacklist, or ``NotFound``."""
    e164 = normalise_or_fail(ctx, number)
    result = conn.execute(delete(blacklist).where(blacklist.c.number == e164))
    if not result.rowcount:
        raise NotFound(f"{e164} is not on the blacklist.")


def list_numbers(conn: Connection, *, limit: int, offset: int) -> list[Row[Any]]:
    """Blacklisted numbers, oldest first."""
    return list(
        conn.execute(select(blacklist).order_by(blacklist.c.id).limit(limit).offset(offset))
    )
