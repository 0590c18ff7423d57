"""Launching a campaign: creating it together with its SMS, sending at once or queue-only.

The app's ``campaign/create`` and Odoo's campaign wizard make a campaign and its SMS in one
step; without ``send_now`` ("Queue only") the campaign must wait until an operator resumes
it. Here the campaign row is written, paused, in the same transaction as its SMS: no SMS of
a queue-only campaign exists, for any poll, before the campaign is paused, and
``dispatch.choose_batch`` hands out nothing of a paused campaign. Resuming it
(``PATCH /admin/campaigns/{id}`` with ``paused: false``) wakes the phones holding its
queued SMS (:func:`holding_phones`): they were given nothing to send when it was created.

Defect switch B9 reproduces the reference's order instead (reference-system.md §6 B9):
``campaign/create`` creates the mailing unpaused, ``action_force_create_sms_queue`` makes
its SMS and assigns them through ``_send``, which commits after every SMS
(``S/models/sms_sms.py:260-261``) and wakes the phones by FCM after its loop (``:279-286``),
and only then does ``send_now = false`` write ``paused`` (``S/controllers/gateway_api.py:
1089-1095``; the wizard ``S/wizard/sms_campaign_wizard.py:215-219``, the scheduler's
``send_paused`` ``SCH/models/campaign_schedule.py:374-378``). Here the campaign is committed
unpaused, its SMS are assigned and committed ``B9_CHUNK`` at a time, the phones given SMS
are woken, and then the campaign is paused: a phone polling in between is handed SMS of a
campaign nobody meant to send.

Unlike the other services this one owns its transactions (it is given a factory of them),
because B9 needs commits in the middle of one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from sqlalchemy import Connection, insert, select, update

from ..storage.tables import campaign, sms
from . import queue
from .context import Context
from .phones import QUEUED, get_phone

__all__ = ["B9_CHUNK", "Launched", "NewCampaign", "create_campaign", "holding_phones", "launch"]

# SMS per commit under B9. The reference commits after every SMS; a few at a time keeps a
# large queue-only campaign's creation window open for seconds on PostgreSQL without
# making the switch's runs crawl.
B9_CHUNK = 10

Transaction = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to launch: its name, forced phone and delivery guarantee; ``send_now``
    false creates it paused ("Queue only")."""

    name: str
    forced_phone_id: int | None = None
    delivery: str = "at_most_once"
    send_now: bool = True


@dataclass
class Launched:
    """The new campaign's id and what became of its SMS."""

    campaign_id: int
    result: queue.EnqueueResult


def create_campaign(
    conn: Connection,
    ctx: Context,
    *,
    name: str,
    forced_phone_id: int | None,
    delivery: str,
    paused: bool,
) -> int:
    """Insert a campaign and return its id; ``NotFound`` for an unknown forced phone."""
    if forced_phone_id is not None:
        get_phone(conn, forced_phone_id)
    return int(
        conn.execute(
            insert(campaign)
            .values(
                name=name,
                forced_phone_id=forced_phone_id,
                paused=paused,
                delivery=delivery,
                created_at=ctx.now(),
            )
            .returning(campaign.c.id)
        ).scalar_one()
    )


def launch(
    transaction: Transaction,
    ctx: Context,
    new: NewCampaign,
    items: Sequence[queue.OutgoingSms],
    *,
    wake: Callable[[set[int]], object],
    stored: Callable[[int], object] | None = None,
) -> Launched:
    """Create the campaign and enqueue ``items`` as its SMS (their ``campaign_id`` is
    replaced by the new campaign's).

    The caller wakes the phones given SMS of a campaign that sends now, after answering;
    ``wake`` is used only under B9, which wakes them before pausing. ``stored`` is called
    with the campaign's id after each commit that stored SMS of it (a test interleaves a
    poll there).
    """
    if ctx.settings.defect("B9") and not new.send_now:
        return _launch_b9(transaction, ctx, new, items, wake, stored)
    with transaction() as conn:
        campaign_id = create_campaign(
            conn,
            ctx,
            name=new.name,
            forced_phone_id=new.forced_phone_id,
            delivery=new.delivery,
            paused=not new.send_now,
        )
        result = queue.enqueue(conn, ctx, _of(campaign_id, items))
    if stored is not None:
        stored(campaign_id)
    return Launched(campaign_id, result)


def _launch_b9(
    transaction: Transaction,
    ctx: Context,
    new: NewCampaign,
    items: Sequence[queue.OutgoingSms],
    wake: Callable[[set[int]], object],
    stored: Callable[[int], object] | None,
) -> Launched:
    """The reference's order: unpaused, SMS assigned and committed a few at a time, phones
    woken, and only then paused."""
    with transaction() as conn:
        campaign_id = create_campaign(
            conn,
            ctx,
            name=new.name,
            forced_phone_id=new.forced_phone_id,
            delivery=new.delivery,
            paused=False,
        )
    mine = _of(campaign_id, items)
    result = queue.EnqueueResult()
    for first in range(0, len(mine), B9_CHUNK):
        with transaction() as conn:
            part = queue.enqueue(conn, ctx, mine[first : first + B9_CHUNK])
        _merge(result, part, first)
        if stored is not None:
            stored(campaign_id)
    wake(result.phones)
    with transaction() as conn:
        conn.execute(update(campaign).where(campaign.c.id == campaign_id).values(paused=True))
    return Launched(campaign_id, result)


def _of(campaign_id: int, items: Sequence[queue.OutgoingSms]) -> list[queue.OutgoingSms]:
    return [replace(item, campaign_id=campaign_id) for item in items]


def _merge(into: queue.EnqueueResult, part: queue.EnqueueResult, offset: int) -> None:
    """Add the result of items ``offset``.. to the result of the items before them."""
    into.ids.extend(part.ids)
    into.states.update(part.states)
    into.failures.update(part.failures)
    into.errors.extend(replace(e, index=e.index + offset) for e in part.errors)
    into.phones.update(part.phones)


def holding_phones(conn: Connection, campaign_id: int) -> set[int]:
    """The phones holding queued SMS (assigned, not yet handed out) of a campaign."""
    return {
        int(phone_id)
        for phone_id in conn.execute(
            select(sms.c.gateway_phone_id)
            .where(
                sms.c.campaign_id == campaign_id,
                sms.c.state == "pending",
                sms.c.gateway_state.in_(QUEUED),
                sms.c.gateway_phone_id.is_not(None),
            )
            .distinct()
        ).scalars()
    }
