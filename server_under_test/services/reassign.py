"""Re-assigning a campaign's queued SMS to other phones or SIMs: an operator's action.

The reference has two such actions. The app's ``campaign/assign-sim``
(``S/controllers/gateway_api.py:1113-1212``) puts a campaign's SMS on its forced phone, all
on one SIM or alternating over the SIMs it is given (``:1165-1171``). The Odoo campaign
wizard's ``_assign_sims_to_sms`` (``S/wizard/sms_campaign_wizard.py:253-301``) spreads them
round-robin over the phones the operator selected, each with its SIM choice — auto, SIM 1,
SIM 2 or both (``:262-276``) — and reassigns the phone too (``:282-293``). Both then wake the
phones they filled (``gateway_api.py:1199-1204``, ``sms_campaign_wizard.py:295-301``).

Here one call does either. The slots are, in phone id order:

* ``sim`` a SIM number: that SIM of ``phone_id``, or of the phone that has it (assign-sim's
  single mode, ``gateway_api.py:1168-1169``);
* ``phone_id`` given: that phone, online or not (a forced phone, as at enqueue), on each of
  its SIMs in turn (``sim = "split"``) or on whichever SIM it picks (``"auto"``);
* no phone: every active, online phone (the wizard pre-selects the online ones,
  ``sms_campaign_wizard.py:94``), each on each of its SIMs (``"split"``) or once (``"auto"``).

The campaign's SMS go to the slots in turn, by id. Across the fleet a phone whose partner
filter refuses an SMS's partner is skipped for that SMS, as at enqueue; an SMS no slot
accepts stays where it is. A named phone takes every SMS (forced, as at enqueue).

Only SMS still waiting in a queue move: ``pending``/``pending`` and never handed out
(``issue_count`` 0). The reference selects by ``state`` alone (``gateway_api.py:1150-1156``:
``outgoing``/``error``, or ``pending`` without a SIM; ``sms_campaign_wizard.py:255-258``:
``pending``/``outgoing``), so SMS a phone is sending go back to the queue, maybe to another
phone: it sends them twice, and its confirm of an SMS now another phone's is "not found"
(B4). Here an SMS handed out stays with its phone until that phone's report ends it, and so
does one queued again by the stuck reset, whose first phone may still report it. Final
SMS (``sent``, ``error``, ``canceled``) never move: the reference's assign-sim also revives
``error`` ones, without a capacity check (B2).

Capacity is not checked, as in both reference actions: pickup releases a phone's queue
only within its limits (``dispatch.choose_batch``), so what a phone may not send today waits
in its queue. Nor is a paused campaign resumed (assign-sim does, ``gateway_api.py:1193-1195``):
that stays ``PATCH /admin/campaigns/{id}``'s job.

On PostgreSQL the SMS are selected ``FOR UPDATE SKIP LOCKED``, and each update keeps its
guard: an SMS a concurrent pickup is handing out is left to it.

Defect switch: B4 selects the campaign's SMS by ``state = 'pending'`` alone and writes them
back to ``gateway_state = 'pending'``, in-flight ones included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select, update

from ..errors import Conflict, InvalidInput, NotFound
from ..storage.tables import campaign, gateway_phone, sms
from .context import Context
from .dbutil import chunks
from .numbers import to_e164
from .partners import filter_accepts
from .phones import IN_FLIGHT, get_phone, is_online

__all__ = ["SIM_CHOICES", "Reassignment", "reassign"]

# How a phone's SIMs share its SMS, unless one SIM number is named: "auto" leaves the SIM to
# the phone, "split" alternates over its SIMs (the wizard's and assign-sim's split).
SIM_CHOICES = ("auto", "split")


@dataclass
class Reassignment:
    """What one re-assignment did."""

    reassigned: int = 0  # SMS written to a slot
    by_phone: Counter[int] = field(default_factory=Counter)  # phone id -> SMS it got
    in_flight: int = 0  # handed out, not final: left with their phone (B4: moved)
    kept: int = 0  # queued, left where they were: handed out before, or no slot accepts

    @property
    def phones(self) -> set[int]:
        """The phones that were given SMS (to wake)."""
        return set(self.by_phone)


@dataclass(frozen=True)
class _Slot:
    phone: Row[Any]
    sim: str | None  # None: the phone picks
    accepts: set[int] | None  # partner ids its filter accepts; None = every SMS


def _sims(phone: Row[Any]) -> list[str]:
    return [n for n in (phone.phone_number, phone.phone_number_2) if n]


def _phone_slots(phone: Row[Any], sim: str) -> list[tuple[Row[Any], str | None]]:
    if sim == "split":
        return [(phone, number) for number in _sims(phone)]
    if sim == "auto":
        return [(phone, None)]
    return [(phone, sim)]


def _active(conn: Connection, phone_id: int) -> Row[Any]:
    phone = get_phone(conn, phone_id)
    if not phone.active:
        raise Conflict(
            f"Gateway phone {phone.id} is archived and takes no SMS; reactivate it "
            f"(PATCH /admin/phones/{phone.id} with active true) or name another phone."
        )
    return phone


def _sim_owner(conn: Connection, number: str) -> Row[Any]:
    """The active phone that has the SIM ``number`` (E.164)."""
    rows = conn.execute(
        select(gateway_phone)
        .where(
            gateway_phone.c.active,
            or_(gateway_phone.c.phone_number == number, gateway_phone.c.phone_number_2 == number),
        )
        .order_by(gateway_phone.c.id)
    ).all()
    if not rows:
        raise NotFound(f"No active gateway phone has the SIM {number}.")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise Conflict(f"The SIM {number} belongs to several phones ({ids}); give phone_id.")
    return rows[0]


def _slots(
    conn: Connection,
    ctx: Context,
    phone_id: int | None,
    sim: str,
    partner_ids: Sequence[int],
) -> list[_Slot]:
    """The phone and SIM pairs the SMS go to in turn; see the module docstring."""
    if sim not in SIM_CHOICES:
        number = to_e164(sim, ctx.settings.default_region)
        if number is None:
            raise InvalidInput(
                f"sim {sim!r} is not a phone number; give it in international format, e.g. "
                "+420777123456, or say 'auto' or 'split'.",
                "sim",
            )
        phone = _active(conn, phone_id) if phone_id is not None else _sim_owner(conn, number)
        if number not in _sims(phone):
            raise NotFound(
                f"Gateway phone {phone.id} has no SIM {number} (its numbers: "
                f"{', '.join(_sims(phone))})."
            )
        return [_Slot(phone, number, None)]
    if phone_id is not None:
        return [_Slot(p, s, None) for p, s in _phone_slots(_active(conn, phone_id), sim)]
    now = ctx.now()
    online = [
        row
        for row in conn.execute(
            select(gateway_phone).where(gateway_phone.c.active).order_by(gateway_phone.c.id)
        )
        if is_online(row, now, ctx.settings)
    ]
    if not online:
        raise Conflict(
            "No gateway phone is online to take the campaign's SMS: start the app on a phone "
            "(heartbeat), or name a phone with phone_id."
        )
    slots: list[_Slot] = []
    for row in online:
        accepts = (
            filter_accepts(conn, row.domain_filter, partner_ids) if row.domain_filter else None
        )
        slots += [_Slot(p, s, accepts) for p, s in _phone_slots(row, sim)]
    return slots


def reassign(
    conn: Connection,
    ctx: Context,
    campaign_id: int,
    *,
    phone_id: int | None = None,
    sim: str = "auto",
) -> Reassignment:
    """Put the campaign's queued SMS on ``phone_id`` (or the online fleet) and its SIMs:
    ``sim`` is ``"auto"``, ``"split"`` or one SIM number.

    ``NotFound`` for an unknown campaign, phone or SIM; ``Conflict`` for an archived phone,
    no phone online or a SIM several phones have; ``InvalidInput`` for a SIM that is not a
    phone number.
    """
    if conn.execute(select(campaign.c.id).where(campaign.c.id == campaign_id)).first() is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    legacy = ctx.settings.defect("B4")
    mine = (sms.c.campaign_id == campaign_id, sms.c.state == "pending")
    # B4: the reference's selection by state alone (gateway_api.py:1150-1156,
    # sms_campaign_wizard.py:255-258) takes SMS the phones are sending too.
    queued = () if legacy else (sms.c.gateway_state == "pending", sms.c.issue_count == 0)
    result = Reassignment()
    result.in_flight = _count(conn, *mine, sms.c.gateway_state.in_(IN_FLIGHT))
    waiting = _count(conn, *mine, sms.c.gateway_state == "pending")
    query = (
        select(sms.c.id, sms.c.partner_id, sms.c.gateway_state)
        .where(*mine, *queued)
        .order_by(sms.c.id)
    )
    if conn.dialect.name == "postgresql":
        # Rows a concurrent pickup holds are skipped: it is handing them out.
        query = query.with_for_update(of=sms, skip_locked=True)
    rows = conn.execute(query).all()
    slots = _slots(conn, ctx, phone_id, sim, sorted({r.partner_id for r in rows if r.partner_id}))
    groups: dict[tuple[int, str | None], list[int]] = {}
    turn = 0
    for row in rows:
        for step in range(len(slots)):
            slot = slots[(turn + step) % len(slots)]
            if slot.accepts is None or row.partner_id in slot.accepts:
                groups.setdefault((slot.phone.id, slot.sim), []).append(row.id)
                turn += step + 1
                break
    was_queued = {r.id for r in rows if r.gateway_state == "pending"}
    forced = phone_id is not None or sim not in SIM_CHOICES  # the operator named the phone
    moved_from_queue = 0
    now = ctx.now()
    for (target, number), ids in groups.items():
        for part in chunks(ids):
            # The guard again: whatever the locks, an SMS no longer queued never moves.
            written = (
                conn.execute(
                    update(sms)
                    .where(sms.c.id.in_(part), *mine, *queued)
                    .values(
                        gateway_phone_id=target,
                        gateway_sim_number=number,
                        gateway_state="pending",
                        phone_forced=forced,
                        updated_at=now,
                    )
                    .returning(sms.c.id)
                )
                .scalars()
                .all()
            )
            if written:
                result.by_phone[target] += len(written)
                result.reassigned += len(written)
                moved_from_queue += len(was_queued.intersection(written))
    result.kept = waiting - moved_from_queue
    return result


def _count(conn: Connection, *conditions: Any) -> int:
    return int(conn.execute(select(func.count()).where(*conditions)).scalar_one())
