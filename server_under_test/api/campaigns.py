"""The admin API's campaigns: create, list, pause and resume, re-assign, launch with SMS.

Every route needs ``Authorization: Bearer <admin token>``, as the rest of the admin API
(``admin.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Response
from sqlalchemy import Connection, Row, func, select, update

from ..errors import InvalidInput, NotFound
from ..services import idempotency, launch, queue, reassign, wakeups
from ..services.dbutil import chunks
from ..storage.tables import campaign, sms
from .admin import MAX_ENQUEUE, Id, IdempotencyKey, enqueue_outcome, non_null_changes
from .admin_models import (
    CampaignCreate,
    CampaignLaunch,
    CampaignLaunched,
    CampaignPage,
    CampaignPublic,
    CampaignReassign,
    CampaignReassigned,
    CampaignSms,
    CampaignUpdate,
)
from .batch import validate_items
from .body import TextSafeRoute
from .deps import AdminDep, GatewayDep
from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses=ERROR_RESPONSES,
    route_class=TextSafeRoute,
)


def _campaigns(conn: Connection, rows: Sequence[Row[Any]]) -> list[CampaignPublic]:
    """Campaign rows with the counts of their SMS by state (one query for all of them)."""
    states: dict[int, dict[str, int]] = {row.id: {} for row in rows}
    for part in chunks(list(states)):
        for campaign_id, state, count in conn.execute(
            select(sms.c.campaign_id, sms.c.state, func.count())
            .where(sms.c.campaign_id.in_(part))
            .group_by(sms.c.campaign_id, sms.c.state)
        ):
            states[campaign_id][str(state)] = int(count)
    return [
        CampaignPublic(
            id=row.id,
            name=row.name,
            forced_phone_id=row.forced_phone_id,
            paused=row.paused,
            delivery=row.delivery,
            state=row.state,
            created_at=row.created_at,
            completed_at=row.completed_at,
            sms_states=states[row.id],
        )
        for row in rows
    ]


def _campaign(conn: Connection, campaign_id: int) -> CampaignPublic:
    row = conn.execute(select(campaign).where(campaign.c.id == campaign_id)).first()
    if row is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return _campaigns(conn, [row])[0]


@router.post("/campaigns", response_model=CampaignPublic, status_code=201)
def create_campaign(gw: GatewayDep, payload: CampaignCreate) -> CampaignPublic:
    """Create a campaign to group SMS (and optionally force them onto one phone)."""
    with gw.transaction() as conn:
        new_id = launch.create_campaign(conn, gw.ctx, **payload.model_dump())
        return _campaign(conn, new_id)


@router.get("/campaigns", response_model=CampaignPage)
def list_campaigns(
    gw: GatewayDep,
    state: Annotated[
        Literal["sending", "done"] | None, Query(description="only campaigns in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> CampaignPage:
    """Campaigns by id, with their state and SMS counts."""
    conditions = [] if state is None else [campaign.c.state == state]
    with gw.reading() as conn:
        total = conn.execute(
            select(func.count()).select_from(campaign).where(*conditions)
        ).scalar_one()
        rows = conn.execute(
            select(campaign).where(*conditions).order_by(campaign.c.id).limit(limit).offset(offset)
        ).all()
        listed = _campaigns(conn, rows)
    return CampaignPage(campaigns=listed, total=total, limit=limit, offset=offset)


@router.get("/campaigns/{campaign_id:int}", response_model=CampaignPublic)
def get_campaign(gw: GatewayDep, campaign_id: Id) -> CampaignPublic:
    """One campaign with its SMS counts by state."""
    with gw.transaction() as conn:
        return _campaign(conn, campaign_id)


@router.patch("/campaigns/{campaign_id:int}", response_model=CampaignPublic)
def update_campaign(
    gw: GatewayDep, campaign_id: Id, payload: CampaignUpdate, tasks: BackgroundTasks
) -> CampaignPublic:
    """Pause, resume or rename a campaign. Paused campaigns' SMS are not handed out; the
    phones holding SMS of a resumed campaign are woken by FCM (when on) after the answer."""
    changes = non_null_changes(payload.model_dump(exclude_unset=True), nullable=set())
    with gw.transaction() as conn:
        before = _campaign(conn, campaign_id)
        if changes:
            conn.execute(update(campaign).where(campaign.c.id == campaign_id).values(**changes))
        after = _campaign(conn, campaign_id)
        resumed = before.paused and not after.paused
        holding = launch.holding_phones(conn, campaign_id) if resumed else set()
    tasks.add_task(wakeups.wake_phones, gw.db, gw.wakeups, holding)
    return after


@router.post("/campaigns/{campaign_id:int}/reassign", response_model=CampaignReassigned)
def reassign_campaign(
    gw: GatewayDep, campaign_id: Id, payload: CampaignReassign, tasks: BackgroundTasks
) -> CampaignReassigned:
    """Put a campaign's queued SMS on another phone or SIM, or spread them over the fleet.

    Only SMS still waiting in a queue (never handed out) move; SMS a phone has in hand stay
    with it until it reports them. Capacity is not checked (pickup keeps the limits) and a
    paused campaign stays paused. The phones given SMS are woken by FCM (when on).
    """
    with gw.transaction() as conn:
        done = reassign.reassign(
            conn,
            gw.ctx,
            campaign_id,
            phone_id=payload.phone_id,
            sim=payload.sim,
        )
    tasks.add_task(wakeups.wake_phones, gw.db, gw.wakeups, done.phones)
    return CampaignReassigned(
        campaign_id=campaign_id,
        reassigned=done.reassigned,
        by_phone={str(k): v for k, v in sorted(done.by_phone.items())},
        in_flight=done.in_flight,
        kept=done.kept,
    )


@router.post("/campaigns/launch", response_model=CampaignLaunched, status_code=201)
def launch_campaign(
    gw: GatewayDep,
    payload: CampaignLaunch,
    tasks: BackgroundTasks,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CampaignLaunched:
    """Create a campaign together with its SMS, as the app's ``campaign/create`` does.

    ``send_now: false`` ("Queue only") creates the campaign paused in the same transaction
    as its SMS, so no phone is handed one of them before an operator resumes it (``PATCH
    /admin/campaigns/{campaign_id}`` with ``paused: false``, which wakes the phones holding
    them). With ``send_now`` (the default) the phones given SMS are woken by FCM (when on)
    after the answer. Bad items are reported and the rest stored, as ``POST /admin/sms``
    does; when no item can be queued nothing is created.

    With an ``Idempotency-Key``, a retry answers the first launch's result instead of
    launching a second campaign with the same SMS. The key is claimed before the launch and
    its answer stored after it, in transactions of their own (a B9 launch commits in the
    middle): a retry that arrives in between, or after a launch that was interrupted, is a
    409 saying so, never a second campaign.
    """
    good, errors = validate_items(payload.messages, CampaignSms, MAX_ENQUEUE, "messages")
    if not good:
        first = "; ".join(f"messages[{e.index}]: {e.error}" for e in errors[:3])
        raise InvalidInput(
            f"None of the {len(errors)} messages can be queued, so no campaign was created: {first}"
        )
    items = [
        queue.OutgoingSms(
            i.number,
            i.body,
            i.partner_id,
            phone_id=i.phone_id,
            sim_number=i.sim_number,
            delivery=i.delivery,
        )
        for _, i in good
    ]
    new = launch.NewCampaign(
        payload.name, payload.forced_phone_id, payload.delivery, payload.send_now
    )
    digest = idempotency.request_digest(
        "campaigns/launch "
        + json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    )
    if idempotency_key is not None:
        with gw.transaction() as conn:
            replay = idempotency.claim_key(conn, gw.ctx, idempotency_key, digest)
        if replay is not None:
            response.headers["Idempotency-Replayed"] = "true"
            return CampaignLaunched.model_validate_json(replay)
    made = launch.launch(
        gw.transaction,
        gw.ctx,
        new,
        items,
        wake=lambda ids: wakeups.wake_phones(gw.db, gw.wakeups, ids),
    )
    with gw.reading() as conn:
        made_campaign = _campaign(conn, made.campaign_id)
    if payload.send_now:
        tasks.add_task(wakeups.wake_phones, gw.db, gw.wakeups, made.result.phones)
    answer = CampaignLaunched(
        campaign=made_campaign, **enqueue_outcome(len(payload.messages), good, errors, made.result)
    )
    if idempotency_key is not None:
        with gw.transaction() as conn:
            idempotency.store_response(conn, idempotency_key, answer.model_dump_json())
    return answer
