"""Gateway phones: registration, API keys, heartbeats, counters and capacity."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from ..errors import InvalidInput, NotFound, Unauthorized
from ..settings import Settings
from ..storage.tables import MAX_ID, gateway_phone, sms
from .context import Context
from .numbers import to_e164
from .odoo_domain import validate_domain

__all__ = [
    "COUNTERS",
    "IN_FLIGHT",
    "QUEUED",
    "RATE_WINDOW",
    "UNCONFIRMED",
    "Capacity",
    "authenticate",
    "create_phone",
    "find_phone",
    "get_phone",
    "hash_key",
    "heartbeat",
    "is_online",
    "list_phones",
    "next_reset_date",
    "phone_capacity",
    "phone_stats",
    "rate_room",
    "register_fcm",
    "rotate_api_key",
    "update_phone",
    "within_heartbeat_timeout",
]

# gateway_state values of an SMS that is assigned to a phone and not finished.
QUEUED = ("pending",)
IN_FLIGHT = ("processing", "sending")
# failure_type of an SMS the stuck reset ended (at_most_once): a guess, not a report.
UNCONFIRMED = "sms_unconfirmed"
UNLIMITED = 10**9
# rate_limit is SMS per minute, measured over the last RATE_WINDOW of pickups.
RATE_WINDOW = timedelta(seconds=60)
# The counters every device response carries, in the order the app reads them.
COUNTERS = ("sent_today", "sent_month", "sent_total", "daily_limit", "monthly_limit")

EDITABLE = frozenset(
    {
        "name",
        "phone_number",
        "phone_number_2",
        "active",
        "daily_limit",
        "monthly_limit",
        "month_start_day",
        "rate_limit",
        "heartbeat_timeout",
        "domain_filter",
    }
)


def hash_key(api_key: str) -> str:
    """The stored lookup hash of an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def next_reset_date(month_start_day: int, after: date) -> date:
    """The next monthly counter reset on or after the day following ``after``.

    As the reference (§2.10): this month on ``month_start_day`` if that is still ahead,
    otherwise next month.
    """
    day = min(max(month_start_day, 1), 28)
    if after.day < day:
        return after.replace(day=day)
    if after.month == 12:
        return date(after.year + 1, 1, day)
    return date(after.year, after.month + 1, day)


def _check_numbers(values: dict[str, Any], region: str) -> None:
    """Normalise the SIM numbers present in ``values``; absent ones are left alone."""
    for field in ("phone_number", "phone_number_2"):
        if field not in values:
            continue
        raw = values[field]
        if raw in (None, ""):
            if field == "phone_number":
                raise InvalidInput("phone_number is required: the phone's main SIM number.")
            values[field] = None
            continue
        e164 = to_e164(raw, region)
        if e164 is None:
            raise InvalidInput(
                f"{field} {raw!r} is not a phone number; give it in international format, "
                "e.g. +420777123456."
            )
        values[field] = e164


def _check_filter(values: dict[str, Any]) -> None:
    if "domain_filter" in values:
        source = values["domain_filter"]
        values["domain_filter"] = validate_domain(source) if source not in (None, "") else None


def create_phone(conn: Connection, ctx: Context, values: dict[str, Any]) -> Row[Any]:
    """Register a phone; returns its row including the new API key."""
    values = dict(values)
    _check_numbers(values, ctx.settings.default_region)
    _check_filter(values)
    now = ctx.now()
    api_key = ctx.ids.api_key()
    values.update(
        api_key=api_key,
        api_key_hash=hash_key(api_key),
        created_at=now,
        next_month_reset=next_reset_date(values.get("month_start_day", 1), now.date()),
    )
    phone_id = conn.execute(
        insert(gateway_phone).values(**values).returning(gateway_phone.c.id)
    ).scalar_one()
    return get_phone(conn, phone_id)


def get_phone(conn: Connection, phone_id: int) -> Row[Any]:
    """One phone by id, or ``NotFound``."""
    row = conn.execute(select(gateway_phone).where(gateway_phone.c.id == phone_id)).first()
    if row is None:
        raise NotFound(f"Gateway phone {phone_id} does not exist.")
    return row


def find_phone(conn: Connection, ref: str, *, region: str = "CZ") -> Row[Any]:
    """The phone ``ref`` names: its id, else its exact name, else one of its SIM numbers.

    A number may be national (read in ``region``) or E.164. ``NotFound`` if nothing
    matches; ``InvalidInput`` if a name or number belongs to several phones.
    """
    if ref.isascii() and ref.isdigit() and 1 <= int(ref) <= MAX_ID:
        row = conn.execute(select(gateway_phone).where(gateway_phone.c.id == int(ref))).first()
        if row is not None:
            return row
    by_name = _only(conn, ref, "name", gateway_phone.c.name == ref)
    if by_name is not None:
        return by_name
    e164 = to_e164(ref, region)
    if e164 is not None:
        by_number = _only(
            conn,
            ref,
            "number",
            or_(gateway_phone.c.phone_number == e164, gateway_phone.c.phone_number_2 == e164),
        )
        if by_number is not None:
            return by_number
    raise NotFound(
        f"No gateway phone has the id, name or number {ref!r}; list the phones with "
        "GET /admin/phones on the running server (hil serve)."
    )


def _only(conn: Connection, ref: str, what: str, condition: Any) -> Row[Any] | None:
    """The one phone matching ``condition``, ``None`` for none, ``InvalidInput`` for more."""
    rows = conn.execute(
        select(gateway_phone).where(condition).order_by(gateway_phone.c.id).limit(10)
    ).all()
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise InvalidInput(f"The {what} {ref!r} belongs to several phones ({ids}); give the id.")
    return rows[0] if rows else None


def list_phones(conn: Connection) -> list[Row[Any]]:
    """All phones, by id."""
    return list(conn.execute(select(gateway_phone).order_by(gateway_phone.c.id)))


def update_phone(
    conn: Connection, ctx: Context, phone_id: int, changes: dict[str, Any]
) -> Row[Any]:
    """Change the editable fields of a phone."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(
            f"Cannot change {sorted(unknown)} of a phone; editable fields: {sorted(EDITABLE)}."
        )
    current = get_phone(conn, phone_id)
    changes = dict(changes)
    _check_numbers(changes, ctx.settings.default_region)
    _check_filter(changes)
    if "month_start_day" in changes:
        changes["next_month_reset"] = next_reset_date(changes["month_start_day"], ctx.now().date())
    if changes:
        conn.execute(
            update(gateway_phone).where(gateway_phone.c.id == current.id).values(**changes)
        )
    return get_phone(conn, phone_id)


def rotate_api_key(conn: Connection, ctx: Context, phone_id: int) -> Row[Any]:
    """Give a phone a new API key; the old one stops working at once."""
    get_phone(conn, phone_id)
    api_key = ctx.ids.api_key()
    conn.execute(
        update(gateway_phone)
        .where(gateway_phone.c.id == phone_id)
        .values(api_key=api_key, api_key_hash=hash_key(api_key))
    )
    return get_phone(conn, phone_id)


def authenticate(conn: Connection, api_key: str | None) -> Row[Any]:
    """The active phone owning ``api_key``, or ``Unauthorized``.

    The row is found through the key's hash, and the key itself is then compared in
    constant time, so response timing says nothing about how much of a guess was right.
    """
    if not api_key:
        raise Unauthorized(
            "Missing API key: send it in the X-API-Key header (or as api_key in the body)."
        )
    row = conn.execute(
        select(gateway_phone).where(gateway_phone.c.api_key_hash == hash_key(api_key))
    ).first()
    if row is None or not hmac.compare_digest(row.api_key.encode(), api_key.encode()):
        raise Unauthorized("Invalid API key.")
    if not row.active:
        raise Unauthorized(f"Gateway phone {row.id} is archived; its API key is not accepted.")
    return row


@dataclass(frozen=True)
class Capacity:
    """What a phone may still send in the current day and month, in segments."""

    daily: int
    monthly: int

    @property
    def remaining(self) -> int:
        """Segments that may still be released to the phone."""
        return max(0, min(self.daily, self.monthly))


def _segments_in(
    conn: Connection, phone_id: int, gateway_states: tuple[str, ...], *, in_sms: bool = False
) -> int:
    size = func.count() if in_sms else func.coalesce(func.sum(sms.c.segments), 0)
    total = conn.execute(
        select(size).where(
            sms.c.gateway_phone_id == phone_id,
            sms.c.gateway_state.in_(gateway_states),
            sms.c.state == "pending",
        )
    ).scalar_one()
    return int(total)


def phone_capacity(
    conn: Connection,
    phone: Row[Any],
    *,
    counting: tuple[str, ...] = IN_FLIGHT,
    in_sms: bool = False,
) -> Capacity:
    """Remaining daily and monthly segments, counting what is sent plus ``counting``.

    Release to a phone counts what it sent plus what it holds unconfirmed (``IN_FLIGHT``):
    SMS still waiting in its queue never block their own release (reference defect B1).
    Assignment also counts the queue (``QUEUED + IN_FLIGHT``), so a phone is never given
    more than it may send. ``in_sms`` counts the queue in SMS instead (defect C4).
    """
    if not phone.daily_limit and not phone.monthly_limit:
        return Capacity(daily=UNLIMITED, monthly=UNLIMITED)
    busy = _segments_in(conn, phone.id, counting, in_sms=in_sms)
    daily = phone.daily_limit - phone.sent_today - busy if phone.daily_limit else UNLIMITED
    monthly = phone.monthly_limit - phone.sent_month - busy if phone.monthly_limit else UNLIMITED
    return Capacity(daily=daily, monthly=monthly)


def rate_room(conn: Connection, phone: Row[Any], now: datetime) -> int:
    """SMS the phone may still be handed now under its ``rate_limit`` (SMS per minute).

    ``rate_limit`` minus the SMS handed to it in the last ``RATE_WINDOW`` (by ``picked_at``,
    re-issues included); ``UNLIMITED`` when it has no rate limit. The app paces only within
    one batch, so without this a low rate limit is broken by back-to-back polls.
    """
    if not phone.rate_limit:
        return UNLIMITED
    # One query on the pickup index's leading column: it reads the phone's SMS rows, so
    # its cost grows with the phone's history (an index on (gateway_phone_id, picked_at)
    # would bound it by the window).
    recent = conn.execute(
        select(func.count()).where(
            sms.c.gateway_phone_id == phone.id, sms.c.picked_at > now - RATE_WINDOW
        )
    ).scalar_one()
    return max(0, int(phone.rate_limit) - int(recent))


def within_heartbeat_timeout(phone: Any, now: datetime, settings: Settings) -> bool:
    """Whether the phone's last heartbeat is within its ``heartbeat_timeout``.

    The one rule of being heard from, for the heartbeat check and for assignment.
    ``heartbeat_timeout`` is in minutes; defect C9 reads it in seconds. ``phone`` needs
    only ``last_heartbeat`` and ``heartbeat_timeout``.
    """
    if phone.last_heartbeat is None:
        return False
    unit = timedelta(seconds=1) if settings.defect("C9") else timedelta(minutes=1)
    return bool(now - phone.last_heartbeat <= phone.heartbeat_timeout * unit)


def is_online(phone: Row[Any], now: datetime, settings: Settings) -> bool:
    """Online: marked so by its heartbeats, and the latest within its timeout.

    The timeout is checked here too, not only by the periodic heartbeat check, so a phone
    that fell silent is not given SMS in the minute before the check notices.
    """
    return phone.state == "online" and within_heartbeat_timeout(phone, now, settings)


def pending_by_sim(conn: Connection, phone: Row[Any]) -> dict[str, int]:
    """Queued SMS per SIM number; SMS without a SIM choice count under the main number.

    The values add up to the phone's queue, so an app that sums them (as the real one
    does) gets the right total (the reference repeats the total under both numbers, B19).
    The total comes from the pickup index alone and the per-SIM part from a partial index
    of the few SMS that carry a SIM choice: a heartbeat never reads the queue's rows.
    """
    queued = (sms.c.gateway_phone_id == phone.id, sms.c.gateway_state == "pending")
    total = conn.execute(select(func.count()).where(*queued, sms.c.state == "pending")).scalar_one()
    counts = {phone.phone_number: 0}
    if phone.phone_number_2:
        counts[phone.phone_number_2] = 0
    for sim, count in conn.execute(
        select(sms.c.gateway_sim_number, func.count())
        .where(*queued, sms.c.state == "pending", sms.c.gateway_sim_number.is_not(None))
        .group_by(sms.c.gateway_sim_number)
    ):
        if sim in counts and sim != phone.phone_number:
            counts[sim] += int(count)
    counts[phone.phone_number] = int(total) - sum(
        v for k, v in counts.items() if k != phone.phone_number
    )
    return counts


def in_flight_count(conn: Connection, phone_id: int) -> int:
    """SMS handed to the phone and not yet confirmed."""
    return int(
        conn.execute(
            select(func.count()).where(
                sms.c.gateway_phone_id == phone_id,
                sms.c.state == "pending",
                sms.c.gateway_state.in_(IN_FLIGHT),
            )
        ).scalar_one()
    )


def counters(phone: Row[Any]) -> dict[str, int]:
    """The counters every device response carries."""
    return {name: getattr(phone, name) for name in COUNTERS}


def heartbeat(
    conn: Connection,
    ctx: Context,
    phone: Row[Any],
    *,
    battery_level: int | None,
    signal_strength: int | None,
    unsynced_count: int | None,
) -> dict[str, Any]:
    """Mark the phone online and tell it what waits for it."""
    values: dict[str, Any] = {"state": "online", "last_heartbeat": ctx.now()}
    if battery_level is not None:
        values["battery_level"] = battery_level
    if signal_strength is not None:
        values["signal_strength"] = signal_strength
    if unsynced_count is not None:
        values["unsynced_count"] = unsynced_count
    conn.execute(update(gateway_phone).where(gateway_phone.c.id == phone.id).values(**values))
    per_sim = pending_by_sim(conn, phone)
    stats = counters(phone)
    return {
        "pending_count": per_sim,
        "pending_total": sum(per_sim.values()),
        "rate_limit": phone.rate_limit,
        "phone_stats": {number: stats for number in per_sim},
        "state": "online",
    }


def phone_stats(conn: Connection, phone: Row[Any]) -> dict[str, Any]:
    """The public statistics of one phone (``/stats``)."""
    queued = sum(pending_by_sim(conn, phone).values())
    return {
        "id": phone.id,
        "name": phone.name,
        "phone_number": phone.phone_number,
        "phone_number_2": phone.phone_number_2,
        "state": phone.state,
        "last_heartbeat": _iso(phone.last_heartbeat),
        "battery_level": phone.battery_level,
        "signal_strength": phone.signal_strength,
        "rate_limit": phone.rate_limit,
        "pending_count": queued + in_flight_count(conn, phone.id),
        "queued_count": queued,
        **counters(phone),
    }


def register_fcm(conn: Connection, ctx: Context, phone: Row[Any], token: str) -> None:
    """Store the phone's FCM token (also when FCM is off, so it is there once it is on)."""
    conn.execute(
        update(gateway_phone)
        .where(gateway_phone.c.id == phone.id)
        .values(fcm_token=token, fcm_token_updated=ctx.now())
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"
