"""The device API: what the Android app calls, all ``POST /sms-gateway/...`` with JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from ..clock import to_naive_utc
from ..services import dispatch, inbound, phones
from ..services.inbound import InboundReport
from .batch import validate_items
from .body import TextSafeRoute
from .deps import GatewayDep, PhoneDep
from .device_models import (
    ConfirmBatchRequest,
    ConfirmBatchResponse,
    ConfirmItem,
    ConfirmRequest,
    ConfirmResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InboundBatchRequest,
    InboundBatchResponse,
    InboundBlacklistRequest,
    InboundBlacklistResponse,
    InboundHistoryRequest,
    InboundHistoryResponse,
    InboundItem,
    InboundRecord,
    InboundResponse,
    ItemProblem,
    PendingRequest,
    PendingResponse,
    PendingSms,
    ReconcileRequest,
    ReconcileResponse,
    RegisterFcmRequest,
    RegisterFcmResponse,
    StatsRequest,
    StatsResponse,
)
from .errors import ERROR_RESPONSES
from .mishandled import as_the_reference

__all__ = ["router"]

router = APIRouter(
    prefix="/sms-gateway",
    tags=["device"],
    responses=ERROR_RESPONSES,
    route_class=TextSafeRoute,
    # Defect B22 only: the reference's answers to bodies it mishandles (mishandled.py).
    dependencies=[Depends(as_the_reference)],
)

MAX_CONFIRM_ITEMS = 500
SmsId = Annotated[int, Path(ge=1, le=2**63 - 1, description="SMS id")]


@router.post("/heartbeat", response_model=HeartbeatResponse)
def heartbeat(
    gw: GatewayDep,
    phone: PhoneDep,
    payload: Annotated[HeartbeatRequest, Body()] = HeartbeatRequest(),  # noqa: B008
) -> HeartbeatResponse:
    """Mark the phone online; answer with its queue per SIM and its counters."""
    with gw.transaction() as conn:
        data = phones.heartbeat(
            conn,
            gw.ctx,
            phone,
            battery_level=payload.battery_level,
            signal_strength=payload.signal_strength,
            unsynced_count=payload.unsynced_count,
        )
    return HeartbeatResponse.model_validate(data)


@router.post("/pending", response_model=PendingResponse)
def pending(
    gw: GatewayDep,
    phone: PhoneDep,
    payload: Annotated[PendingRequest, Body()] = PendingRequest(),  # noqa: B008
) -> PendingResponse:
    """Hand out queued SMS (each exactly once) within the phone's remaining capacity."""
    with gw.transaction() as conn:
        picked = dispatch.pickup(conn, gw.ctx, phone, payload.limit)
    return PendingResponse(
        sms_list=[
            PendingSms(
                id=row.id,
                phone_number=row.number,
                message=row.body,
                uuid=row.uuid,
                gateway_phone_number=row.gateway_sim_number or "",
                segments=row.segments,
            )
            for row in picked.sms
        ],
        limit_reached=picked.limit_reached,
    )


@router.post("/confirm/{sms_id}", response_model=ConfirmResponse)
def confirm(
    gw: GatewayDep, phone: PhoneDep, sms_id: SmsId, payload: ConfirmRequest
) -> ConfirmResponse:
    """Apply one status report (``sending``, ``sent`` or ``error``); idempotent."""
    with gw.transaction() as conn:
        outcome = dispatch.confirm(
            conn, gw.ctx, phone, sms_id, payload.status, payload.error_message
        )
        counts = phones.counters(phones.get_phone(conn, phone.id))
    return ConfirmResponse(
        id=outcome.sms_id,
        changed=outcome.changed,
        state=outcome.state,
        gateway_state=outcome.gateway_state,
        sent_today=counts["sent_today"],
        sent_month=counts["sent_month"],
        sent_total=counts["sent_total"],
    )


@router.post("/confirm-batch", response_model=ConfirmBatchResponse)
def confirm_batch(
    gw: GatewayDep, phone: PhoneDep, payload: ConfirmBatchRequest
) -> ConfirmBatchResponse:
    """Apply many status reports; bad or foreign items are reported, the rest applied.

    ``ack_ids`` lists every id whose status the server now holds, including repeats of a
    status it already had, so the app can stop resending them.
    """
    good, errors = validate_items(payload.results, ConfirmItem, MAX_CONFIRM_ITEMS, "results")
    reports = [dispatch.Report(i.id, i.status, i.error_message) for _, i in good]
    with gw.transaction() as conn:
        applied = dispatch.apply_reports(conn, gw.ctx, phone, reports)
    acked = [r.sms_id for r in reports if r.sms_id in applied.owned]
    errors += [
        ItemProblem(
            index=index,
            id=item.id,
            error=dispatch.never_issued_message(item.id)
            if item.id in applied.never_issued
            else f"SMS {item.id} was not found or is not assigned to this phone.",
        )
        for index, item in good
        if item.id not in applied.owned
    ]
    errors.sort(key=lambda p: p.index)
    return ConfirmBatchResponse(
        processed=len(acked), ack_ids=acked, errors=errors, **applied.counters
    )


@router.post("/reconcile", response_model=ReconcileResponse)
def reconcile(
    gw: GatewayDep,
    phone: PhoneDep,
    payload: Annotated[ReconcileRequest, Body()] = ReconcileRequest(),  # noqa: B008
) -> ReconcileResponse:
    """Tell a restarted app which of its unsynced SMS are final, in flight or unknown."""
    with gw.reading() as conn:
        result = dispatch.reconcile(conn, phone, payload.known_ids)
    return ReconcileResponse(
        already_confirmed_ids=result.already_confirmed_ids,
        stuck_ids=result.stuck_ids,
        requeued_ids=result.requeued_ids,
        not_found_ids=result.not_found_ids,
    )


def _report(item: InboundItem) -> InboundReport:
    return InboundReport(
        from_number=item.from_number,
        message=item.message,
        to_number=item.to_number or "",
        received_at=to_naive_utc(item.received_at) if item.received_at else None,
    )


@router.post("/inbound", response_model=InboundResponse)
def inbound_one(gw: GatewayDep, phone: PhoneDep, payload: InboundItem) -> InboundResponse:
    """Record one received SMS (deduplicated); a STOP blacklists the sender."""
    with gw.transaction() as conn:
        outcome = inbound.record_inbound(conn, gw.ctx, phone, _report(payload))
    return InboundResponse(
        id=outcome.id,
        duplicate=outcome.duplicate,
        is_stop=outcome.is_stop,
        blacklisted=outcome.blacklisted,
        partner_found=outcome.partner_found,
    )


@router.post("/inbound-batch", response_model=InboundBatchResponse)
def inbound_batch(
    gw: GatewayDep, phone: PhoneDep, payload: InboundBatchRequest
) -> InboundBatchResponse:
    """Record an inbox scan of any size; duplicates are skipped.

    The app sends its whole 30-day inbox in one request on its first run. The items are
    recorded ``inbound.SCAN_CHUNK`` at a time, each chunk its own short transaction, so
    other phones are not kept waiting; should a later chunk fail, the app's retry finds
    the committed ones as duplicates.
    """
    good, errors = validate_items(payload.messages, InboundItem, None, "messages")
    recorded = duplicates = newly = already = 0
    for start in range(0, len(good), inbound.SCAN_CHUNK):
        part = [_report(item) for _, item in good[start : start + inbound.SCAN_CHUNK]]
        with gw.transaction() as conn:
            outcomes = inbound.record_reports(conn, gw.ctx, phone, part, scan=True)
        for outcome in outcomes:
            if outcome.duplicate:
                duplicates += 1
                continue
            recorded += 1
            if outcome.newly_blacklisted:
                newly += 1
            elif outcome.is_stop and outcome.blacklisted:
                already += 1
    return InboundBatchResponse(
        processed=recorded,
        duplicates_skipped=duplicates,
        recorded=recorded,
        blacklisted=newly,
        already_blacklisted=already,
        skipped=duplicates + len(errors),
        errors=errors,
    )


@router.post("/inbound-history", response_model=InboundHistoryResponse)
def inbound_history(
    gw: GatewayDep,
    phone: PhoneDep,
    payload: Annotated[InboundHistoryRequest, Body()] = InboundHistoryRequest(),  # noqa: B008
) -> InboundHistoryResponse:
    """This phone's received SMS, newest first, with filters."""
    with gw.transaction() as conn:
        rows, total = inbound.history(
            conn,
            phone,
            limit=payload.limit,
            offset=payload.offset,
            stop_only=payload.stop_only,
            stop_not_blacklisted=payload.stop_not_blacklisted,
            search=payload.search,
        )
    return InboundHistoryResponse(
        messages=[
            InboundRecord(
                id=r.id,
                from_number=r.from_number,
                to_number=r.to_number,
                message=r.message,
                received_at=r.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                is_stop=r.is_stop,
                blacklisted=r.blacklisted,
                partner_name=r.partner_name,
            )
            for r in rows
        ],
        total=total,
        limit=payload.limit,
        offset=payload.offset,
    )


@router.post("/inbound-blacklist", response_model=InboundBlacklistResponse)
def inbound_blacklist(
    gw: GatewayDep, phone: PhoneDep, payload: InboundBlacklistRequest
) -> InboundBlacklistResponse:
    """Blacklist the senders of some of this phone's inbound SMS."""
    with gw.transaction() as conn:
        marked, missing = inbound.blacklist_inbound(conn, gw.ctx, phone, payload.ids)
    return InboundBlacklistResponse(blacklisted=marked, not_found_ids=missing)


@router.post("/stats", response_model=StatsResponse)
def stats(
    gw: GatewayDep,
    phone: PhoneDep,
    _payload: Annotated[StatsRequest, Body()] = StatsRequest(),  # noqa: B008
) -> StatsResponse:
    """This phone's statistics."""
    with gw.transaction() as conn:
        data = phones.phone_stats(conn, phones.get_phone(conn, phone.id))
    return StatsResponse.model_validate({"phones": [data]})


@router.post("/register-fcm", response_model=RegisterFcmResponse)
def register_fcm(
    gw: GatewayDep, phone: PhoneDep, payload: RegisterFcmRequest
) -> RegisterFcmResponse:
    """Store the phone's FCM token for push wake-ups."""
    with gw.transaction() as conn:
        phones.register_fcm(conn, gw.ctx, phone, payload.fcm_token)
    message = (
        "FCM token registered"
        if gw.ctx.settings.fcm_enabled
        else "FCM not enabled on this server; token stored for when it is"
    )
    return RegisterFcmResponse(message=message)
