"""The admin API: seeding and inspection for the harness and for operators.

Every route needs ``Authorization: Bearer <admin token>``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from sqlalchemy import Row, func, select

from .. import pairing
from ..clock import ManualClock, ScaledClock
from ..errors import Conflict, InvalidInput, NotFound
from ..services import blacklist as blacklist_service
from ..services import idempotency, jobs, partners, phones, queue, wakeups
from ..services.context import Context
from ..services.numbers import to_e164
from ..storage.tables import gateway_phone, job_run, sms
from .admin_models import (
    BlacklistAdd,
    BlacklistAdded,
    BlacklistEntry,
    ClockPublic,
    ClockSet,
    CountersPublic,
    EnqueueRequest,
    EnqueueResponse,
    JobPublic,
    JobRunPublic,
    JobsPublic,
    PairingPayload,
    PairingPublic,
    PartnerImport,
    PartnerImported,
    PhoneCreate,
    PhonePublic,
    PhoneUpdate,
    SmsCreate,
    SmsPage,
    SmsPublic,
)
from .batch import validate_items
from .body import TextSafeRoute
from .deps import AdminDep, GatewayDep
from .device_models import INT32, ItemProblem
from .errors import ERROR_RESPONSES

__all__ = ["MAX_ENQUEUE", "Id", "IdempotencyKey", "enqueue_outcome", "non_null_changes", "router"]

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses=ERROR_RESPONSES,
    route_class=TextSafeRoute,
)

Id = Annotated[int, PathParam(ge=1, le=INT32)]
MAX_ENQUEUE = 200_000  # the most SMS one POST /admin/sms takes (the harness splits bigger batches)
# The header of the requests that create SMS (POST /admin/sms, POST /admin/campaigns/launch).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="A key of the client's choice: a retry with the same key and body "
        "answers the first result (header Idempotency-Replayed: true) without creating "
        "anything again; the same key with another body is a 409. Kept for 7 days.",
    ),
]
NULLABLE_PHONE_FIELDS = {"phone_number_2", "domain_filter"}


def non_null_changes(changes: dict[str, Any], nullable: set[str]) -> dict[str, Any]:
    """The fields a PATCH sets; an explicit null is refused unless the field may be empty."""
    nulls = sorted(k for k, v in changes.items() if v is None and k not in nullable)
    if nulls:
        raise InvalidInput(f"{', '.join(nulls)} cannot be null; leave a field out to keep it.")
    return changes


def _phone(row: Row[Any]) -> PhonePublic:
    return PhonePublic.model_validate(row, from_attributes=True)


@router.post("/phones", response_model=PhonePublic, status_code=201)
def create_phone(gw: GatewayDep, payload: PhoneCreate) -> PhonePublic:
    """Register a gateway phone; the answer holds its new API key."""
    with gw.transaction() as conn:
        return _phone(phones.create_phone(conn, gw.ctx, payload.model_dump()))


@router.get("/phones", response_model=list[PhonePublic])
def list_phones(gw: GatewayDep) -> list[PhonePublic]:
    """All phones."""
    with gw.transaction() as conn:
        return [_phone(r) for r in phones.list_phones(conn)]


@router.get("/phones/{phone_id}", response_model=PhonePublic)
def get_phone(gw: GatewayDep, phone_id: Id) -> PhonePublic:
    """One phone."""
    with gw.transaction() as conn:
        return _phone(phones.get_phone(conn, phone_id))


@router.patch("/phones/{phone_id}", response_model=PhonePublic)
def update_phone(gw: GatewayDep, phone_id: Id, payload: PhoneUpdate) -> PhonePublic:
    """Change a phone's settings (only the fields given)."""
    changes = non_null_changes(payload.model_dump(exclude_unset=True), NULLABLE_PHONE_FIELDS)
    with gw.transaction() as conn:
        return _phone(phones.update_phone(conn, gw.ctx, phone_id, changes))


@router.post("/phones/{phone_id}/api-key", response_model=PhonePublic)
def rotate_api_key(gw: GatewayDep, phone_id: Id) -> PhonePublic:
    """Give a phone a new API key; the old key stops working at once."""
    with gw.transaction() as conn:
        return _phone(phones.rotate_api_key(conn, gw.ctx, phone_id))


PAIRING_HELP = (
    "The server base URL the app will call (default: this request's own base URL). It "
    "must be http:// or https:// with a host. The app rewrites http:// to https://, so "
    "an http URL pairs only behind a TLS-terminating proxy."
)
PairingUrl = Annotated[
    str | None, Query(max_length=pairing.MAX_URL_LENGTH, description=PAIRING_HELP)
]


def _pairing_payload(gw: GatewayDep, request: Request, phone_id: int, url: str | None) -> str:
    """The pairing text of a phone; 404 for an unknown one, 409 for an archived one."""
    with gw.transaction() as conn:
        phone = phones.get_phone(conn, phone_id)
    if url is None:
        url = str(request.base_url).rstrip("/")
    return pairing.phone_pairing_payload(phone, url)


@router.get("/phones/{phone_id}/pairing", response_model=PairingPublic)
def get_pairing(
    gw: GatewayDep, request: Request, phone_id: Id, url: PairingUrl = None
) -> PairingPublic:
    """The QR pairing code of a phone: its JSON content and the code for a terminal.

    The real app pairs by scanning a code holding ``{"type": "sms_gateway", "url": ...,
    "api_key": ...}``. The app rewrites http:// to https://, so a code with an http URL
    pairs only behind a TLS-terminating proxy. An archived phone is refused (409).
    """
    text = _pairing_payload(gw, request, phone_id, url)
    return PairingPublic(
        payload=PairingPayload.model_validate_json(text), terminal=pairing.qr_terminal(text)
    )


@router.get(
    "/phones/{phone_id}/pairing.png",
    response_class=Response,
    responses={200: {"description": "The QR pairing code", "content": {"image/png": {}}}},
)
def get_pairing_png(
    gw: GatewayDep, request: Request, phone_id: Id, url: PairingUrl = None
) -> Response:
    """The QR pairing code of a phone as a PNG image, for the app to scan.

    The same content as ``GET /admin/phones/{phone_id}/pairing``. The app rewrites http://
    to https://, so a code with an http URL pairs only behind a TLS-terminating proxy.
    """
    text = _pairing_payload(gw, request, phone_id, url)
    # The code holds the phone's key: keep it out of shared caches.
    return Response(
        pairing.qr_png(text), media_type="image/png", headers={"Cache-Control": "no-store"}
    )


@router.post("/partners", response_model=PartnerImported, status_code=201)
def import_partners(gw: GatewayDep, payload: PartnerImport) -> PartnerImported:
    """Import partners (recipients) in bulk, with their category names."""
    items = [p.model_dump() for p in payload.partners]
    with gw.transaction() as conn:
        return PartnerImported(ids=partners.import_partners(conn, gw.ctx, items))


@router.post("/sms", response_model=EnqueueResponse, status_code=201)
def enqueue(
    gw: GatewayDep,
    payload: EnqueueRequest,
    tasks: BackgroundTasks,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> EnqueueResponse:
    """Enqueue SMS and assign each to a phone. Bad items are reported, the rest stored.

    Phones given SMS are woken by FCM (when on) after the answer is sent.
    """
    good, errors = validate_items(payload.messages, SmsCreate, MAX_ENQUEUE, "messages")
    items = [
        queue.OutgoingSms(
            i.number, i.body, i.partner_id, i.campaign_id, i.phone_id, i.sim_number, i.delivery
        )
        for _, i in good
    ]
    digest = idempotency.request_digest(
        json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    )
    with gw.transaction() as conn:
        if idempotency_key is not None:
            first = idempotency.claim_key(conn, gw.ctx, idempotency_key, digest)
            if first is not None:
                response.headers["Idempotency-Replayed"] = "true"
                return EnqueueResponse.model_validate_json(first)
        result = queue.enqueue(conn, gw.ctx, items)
        answer = EnqueueResponse(**enqueue_outcome(len(payload.messages), good, errors, result))
        if idempotency_key is not None:
            idempotency.store_response(conn, idempotency_key, answer.model_dump_json())
    tasks.add_task(wakeups.wake_phones, gw.db, gw.wakeups, result.phones)
    return answer


def enqueue_outcome(
    count: int,
    good: list[tuple[int, Any]],
    errors: list[ItemProblem],
    result: queue.EnqueueResult,
) -> dict[str, Any]:
    """The fields of an enqueue's answer: an id per message in input order (null for a
    refused one), the states and failures, and every refusal, validation's first."""
    ids: list[int | None] = [None] * count
    for (index, _), sms_id in zip(good, result.ids, strict=True):
        ids[index] = sms_id
    refused = errors + [ItemProblem(index=good[e.index][0], error=e.error) for e in result.errors]
    return {
        "ids": ids,
        "queued": result.states.get("pending", 0),
        "states": dict(result.states),
        "failures": dict(result.failures),
        "errors": sorted(refused, key=lambda p: p.index),
    }


def _sms_filter(
    ctx: Context,
    state: str | None,
    gateway_state: str | None,
    phone_id: int | None,
    campaign_id: int | None,
    number: str | None,
) -> list[Any]:
    conditions: list[Any] = []
    if state:
        conditions.append(sms.c.state == state)
    if gateway_state:
        conditions.append(sms.c.gateway_state == gateway_state)
    if phone_id is not None:
        conditions.append(sms.c.gateway_phone_id == phone_id)
    if campaign_id is not None:
        conditions.append(sms.c.campaign_id == campaign_id)
    if number:
        conditions.append(sms.c.number_e164 == to_e164(number, ctx.settings.default_region))
    return conditions


SmsState = Literal["outgoing", "pending", "sent", "error", "canceled"]
GatewayState = Literal["pending", "processing", "sending", "sent", "error"]


@router.get("/sms", response_model=SmsPage)
def list_sms(
    gw: GatewayDep,
    state: SmsState | None = None,
    gateway_state: GatewayState | None = None,
    phone_id: Annotated[int | None, Query(ge=1, le=INT32)] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=INT32)] = None,
    number: Annotated[str | None, Query(max_length=32, description="recipient number")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> SmsPage:
    """SMS by id, filtered."""
    conditions = _sms_filter(gw.ctx, state, gateway_state, phone_id, campaign_id, number)
    with gw.transaction() as conn:
        total = conn.execute(select(func.count()).select_from(sms).where(*conditions)).scalar_one()
        rows = conn.execute(
            select(sms).where(*conditions).order_by(sms.c.id).limit(limit).offset(offset)
        ).all()
    return SmsPage(
        sms=[SmsPublic.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/sms/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One row (CSV) or one JSON object per line (JSONL) per SMS",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
def export_sms(
    gw: GatewayDep,
    format: Literal["csv", "jsonl"] = "jsonl",
    state: SmsState | None = None,
    gateway_state: GatewayState | None = None,
    phone_id: Annotated[int | None, Query(ge=1, le=INT32)] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=INT32)] = None,
    number: Annotated[str | None, Query(max_length=32)] = None,
) -> StreamingResponse:
    """Every matching SMS as CSV or JSON Lines, streamed in id order."""
    conditions = _sms_filter(gw.ctx, state, gateway_state, phone_id, campaign_id, number)
    columns = [c.name for c in sms.columns]

    def rows() -> Iterator[str]:
        after = 0
        if format == "csv":
            out = io.StringIO()
            csv.writer(out).writerow(columns)
            yield out.getvalue()
        while True:
            with gw.transaction() as conn:
                page = conn.execute(
                    select(sms).where(*conditions, sms.c.id > after).order_by(sms.c.id).limit(5000)
                ).all()
            if not page:
                return
            after = page[-1].id
            out = io.StringIO()
            writer = csv.writer(out)
            for row in page:
                values = [_plain(v) for v in row]
                if format == "csv":
                    writer.writerow(values)
                else:
                    out.write(json.dumps(dict(zip(columns, values, strict=True))) + "\n")
            yield out.getvalue()

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(rows(), media_type=media)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@router.get("/sms/{sms_id}", response_model=SmsPublic)
def get_sms(gw: GatewayDep, sms_id: Id) -> SmsPublic:
    """One SMS."""
    with gw.transaction() as conn:
        row = conn.execute(select(sms).where(sms.c.id == sms_id)).first()
    if row is None:
        raise NotFound(f"SMS {sms_id} does not exist.")
    return SmsPublic.model_validate(row, from_attributes=True)


@router.post("/blacklist", response_model=BlacklistAdded, status_code=201)
def add_to_blacklist(gw: GatewayDep, payload: BlacklistAdd) -> BlacklistAdded:
    """Blacklist numbers; their queued SMS are cancelled."""
    with gw.transaction() as conn:
        added, canceled = blacklist_service.add_numbers(
            conn, gw.ctx, payload.numbers, payload.reason
        )
    return BlacklistAdded(added=added, canceled_sms=canceled)


@router.get("/blacklist", response_model=list[BlacklistEntry])
def list_blacklist(
    gw: GatewayDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[BlacklistEntry]:
    """Blacklisted numbers, oldest first."""
    with gw.transaction() as conn:
        rows = blacklist_service.list_numbers(conn, limit=limit, offset=offset)
    return [BlacklistEntry.model_validate(r, from_attributes=True) for r in rows]


@router.delete("/blacklist/{number}", status_code=204)
def remove_from_blacklist(gw: GatewayDep, number: str) -> None:
    """Take a number off the blacklist (its cancelled SMS stay cancelled)."""
    with gw.transaction() as conn:
        blacklist_service.remove_number(conn, gw.ctx, number)


@router.get("/counters", response_model=CountersPublic)
def counters(gw: GatewayDep) -> CountersPublic:
    """Every phone's counters and the SMS counts by state and gateway state."""
    with gw.transaction() as conn:
        rows = conn.execute(
            select(sms.c.state, sms.c.gateway_state, func.count()).group_by(
                sms.c.state, sms.c.gateway_state
            )
        ).all()
        phone_rows = conn.execute(select(gateway_phone).order_by(gateway_phone.c.id)).all()
    by_state: dict[str, dict[str, int]] = {}
    for state, gateway_state, count in rows:
        by_state.setdefault(state, {})[gateway_state or "none"] = int(count)
    return CountersPublic(
        phones=[
            {"id": p.id, "name": p.name, "state": p.state, **phones.counters(p)} for p in phone_rows
        ],
        sms=by_state,
        total_sms=sum(int(c) for _, _, c in rows),
    )


@router.get("/clock", response_model=ClockPublic)
def get_clock(gw: GatewayDep) -> ClockPublic:
    """The server's current time and its pace (a client running at the server's pace reads
    ``time_scale``)."""
    clock = gw.ctx.clock
    kind: Literal["manual", "system", "scaled"] = (
        "manual"
        if isinstance(clock, ManualClock)
        else "scaled"
        if isinstance(clock, ScaledClock)
        else "system"
    )
    return ClockPublic(now=clock.now(), kind=kind, time_scale=clock.scale)


@router.put("/clock", response_model=ClockPublic)
def set_clock(gw: GatewayDep, payload: ClockSet) -> ClockPublic:
    """Set or advance the manual clock (virtual time)."""
    clock = gw.ctx.clock
    if not isinstance(clock, ManualClock):
        raise Conflict(
            "This server runs on the system clock; start it with a manual clock "
            "(hil serve --manual-clock) to set the time."
        )
    non_null_changes(payload.model_dump(exclude_unset=True), nullable=set())
    if (payload.now is None) == (payload.advance_seconds is None):
        raise InvalidInput("Give exactly one of now (a datetime) or advance_seconds.")
    if payload.now is not None:
        clock.set(payload.now)
    else:
        clock.advance(payload.advance_seconds or 0.0)
    return ClockPublic(now=clock.now(), kind="manual", time_scale=None)


def _job_run(row: Any) -> JobRunPublic:
    return JobRunPublic(
        job=row.job,
        slot=row.slot,
        started_at=row.started_at,
        runner=row.runner,
        ran=True,
        affected=row.affected,
    )


@router.get("/jobs", response_model=JobsPublic)
def list_jobs(gw: GatewayDep) -> JobsPublic:
    """The periodic jobs, when each is next due, and its last run."""
    listing = []
    with gw.transaction() as conn:
        for name, job in jobs.JOBS.items():
            last = conn.execute(
                select(job_run).where(job_run.c.job == name).order_by(job_run.c.slot.desc())
            ).first()
            schedule = (
                f"every {int(job.period.total_seconds())} s"
                if job.at is None
                else f"daily at {job.at.strftime('%H:%M')} {gw.ctx.settings.timezone}"
            )
            listing.append(
                JobPublic(
                    name=name,
                    schedule=schedule,
                    next_slot=jobs.next_slot(gw.ctx, name),
                    last_run=_job_run(last) if last else None,
                )
            )
    return JobsPublic(jobs=listing)


@router.post("/jobs/{name}/run", response_model=JobRunPublic)
def run_job(gw: GatewayDep, name: str) -> JobRunPublic:
    """Run a periodic job now (virtual time: the harness fires jobs at their times).

    A second run at the very same server time is a no-op (``ran: false``).
    """
    with gw.transaction() as conn:
        run = jobs.run_job(conn, gw.ctx, name)
    return JobRunPublic(
        job=run.job, slot=run.slot, ran=run.affected is not None, affected=run.affected
    )
