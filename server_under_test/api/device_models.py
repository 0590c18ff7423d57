"""Request and response models of the device API (``/sms-gateway/...``).

Requests accept both dialects of the reference (``reference-system.md`` §1.21): what the
real Android app sends and what the seed document describes. Unknown fields (``api_key``,
``phone_numbers``) are ignored. Numbers and booleans are strict: ``"20"`` is not a limit.
Responses carry the union of the documented and the real fields.

Batch endpoints declare their items loosely (``list[Any]`` with the item's schema in the
OpenAPI document) so that one bad item is reported on its own while the good items are
still processed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    model_validator,
)

from ..storage.tables import MAX_ID

__all__ = [
    "INT32",
    "MAX_RECONCILE_IDS",
    "ConfirmBatchRequest",
    "ConfirmBatchResponse",
    "ConfirmItem",
    "ConfirmRequest",
    "ConfirmResponse",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "Id",
    "InboundBatchRequest",
    "InboundBatchResponse",
    "InboundBlacklistRequest",
    "InboundBlacklistResponse",
    "InboundHistoryRequest",
    "InboundHistoryResponse",
    "InboundItem",
    "InboundResponse",
    "ItemProblem",
    "PendingRequest",
    "PendingResponse",
    "ReconcileRequest",
    "ReconcileResponse",
    "RegisterFcmRequest",
    "RegisterFcmResponse",
    "StatsRequest",
    "StatsResponse",
    "Text",
    "Utc",
    "as_utc",
    "in_range",
    "whole_numbers",
]

# Every integer fits the database's 32-bit INTEGER columns; a bigger one is a 422 naming
# the field, never an overflow inside the database.
INT32 = MAX_ID
Int = Annotated[int, Strict(), Field(ge=-INT32 - 1, le=INT32)]
# Ids past the 32-bit columns are accepted and are simply unknown (a 404 / not_found),
# like any other id that does not exist.
Id = Annotated[int, Strict(), Field(ge=1, le=2**63 - 1)]
Bool = Annotated[bool, Strict()]
Status = Literal["sent", "error", "sending"]
# The app sends every unsynced id in one reconcile; this bound only keeps a request sane.
MAX_RECONCILE_IDS = 1_000_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store U+0000 in text; no real SMS or number contains it.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


Text = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]


def as_utc(value: datetime) -> datetime:
    """Naive datetimes (the database's UTC) as aware UTC, so JSON carries the offset."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_range(value: datetime) -> datetime:
    """Times the server accepts: between 2000 and 2100 (UTC)."""
    try:
        inside = EARLIEST <= as_utc(value) < LATEST
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        inside = False
    if not inside:
        raise ValueError("is not a time between 2000 and 2100")
    return value


Utc = Annotated[datetime, AfterValidator(as_utc)]


def _to_datetime(value: Any) -> Any:
    """Epoch numbers (seconds, or milliseconds as Android's ``date`` column) to datetimes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("is not a time between 2000 and 2100") from None
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_to_datetime),
    AfterValidator(in_range),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "description": "Unix time in seconds or milliseconds"},
            ],
            "description": "between 2000 and 2100",
        }
    ),
]


def whole_numbers(value: Any) -> Any:
    """JSON numbers with no fraction as integers, throughout a request body.

    JSON Schema counts ``20.0`` as an integer, and some clients serialise that way; the
    integer fields stay strict, so ``"20"`` and ``true`` are still refused.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    return value


class Request(BaseModel):
    """Base of device requests: unknown fields (``api_key``, ``phone_numbers``) ignored."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        return whole_numbers(data)


class Response(BaseModel):
    """Base of device responses."""

    success: bool = True


def loose_list(item: type[BaseModel], description: str) -> Any:
    """A list validated item by item by the route, documented with the item's schema."""
    return Annotated[
        list[Any],
        Field(min_length=1, description=description),
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "items": item.model_json_schema(),
                "description": description,
            }
        ),
    ]


class ItemProblem(BaseModel):
    """Why one item of a batch was not applied."""

    index: int
    id: int | None = None
    error: str


# -- heartbeat -------------------------------------------------------------------------


class HeartbeatRequest(Request):
    """``POST /sms-gateway/heartbeat``."""

    battery_level: Annotated[Int | None, Field(ge=0, le=100)] = None
    signal_strength: Annotated[Int | None, Field(ge=-200, le=0)] = None
    unsynced_count: Annotated[Int | None, Field(ge=0, le=10**9)] = None


class PhoneCounters(BaseModel):
    """A phone's send counters, in segments."""

    sent_today: int
    sent_month: int
    sent_total: int
    daily_limit: int
    monthly_limit: int


class HeartbeatResponse(Response):
    """Queue status: ``pending_count`` per SIM number (the values add up to the queue)."""

    pending_count: dict[str, int]
    pending_total: int
    rate_limit: int
    phone_stats: dict[str, PhoneCounters]
    state: str


# -- pending ---------------------------------------------------------------------------


class PendingRequest(Request):
    """``POST /sms-gateway/pending``."""

    limit: Annotated[Int, Field(ge=1, le=100)] = 20


class PendingSms(BaseModel):
    """One SMS handed to the phone."""

    id: int
    phone_number: str
    message: str
    uuid: str
    gateway_phone_number: str = Field(description="SIM to send from; empty = phone decides")
    segments: int


class PendingResponse(Response):
    """SMS to send now; ``limit_reached`` when the phone's capacity is used up."""

    sms_list: list[PendingSms]
    limit_reached: bool = False


# -- confirm ---------------------------------------------------------------------------


class ConfirmRequest(Request):
    """``POST /sms-gateway/confirm/{sms_id}``."""

    status: Status
    error_message: Annotated[Text | None, Field(max_length=2000)] = None


class ConfirmResponse(Response):
    """The SMS's state after the report, and the phone's counters."""

    id: int
    changed: bool
    state: str
    gateway_state: str | None
    sent_today: int
    sent_month: int
    sent_total: int


class ConfirmItem(Request):
    """One status in ``confirm-batch``; the id may be keyed ``id`` (app) or ``sms_id`` (docs)."""

    id: Id = Field(validation_alias=AliasChoices("id", "sms_id"))
    status: Status
    error_message: Annotated[Text | None, Field(max_length=2000)] = None


class ConfirmBatchRequest(Request):
    """``POST /sms-gateway/confirm-batch``."""

    results: loose_list(ConfirmItem, "Statuses to apply, at most 500")  # type: ignore[valid-type]


class ConfirmBatchResponse(Response, PhoneCounters):
    """``ack_ids`` were applied (or already were); ``errors`` lists the others."""

    processed: int
    ack_ids: list[int]
    errors: list[ItemProblem]


# -- reconcile -------------------------------------------------------------------------


class ReconcileRequest(Request):
    """``POST /sms-gateway/reconcile``."""

    known_ids: Annotated[
        list[Id],
        Field(
            max_length=MAX_RECONCILE_IDS,
            description="The app's unsynced SMS ids, all of them (it does not split them)",
        ),
    ] = Field(default_factory=list)


class ReconcileResponse(Response):
    """Where each known id stands on the server."""

    already_confirmed_ids: list[int]
    stuck_ids: list[int]
    requeued_ids: list[int]
    not_found_ids: list[int]


# -- inbound ---------------------------------------------------------------------------


class InboundItem(Request):
    """One received SMS. ``from``/``body``/``date`` are accepted for the app's inbox rows."""

    from_number: Annotated[Text, Field(min_length=1, max_length=64)] = Field(
        validation_alias=AliasChoices("from_number", "from")
    )
    message: Annotated[Text, Field(max_length=10_000)] = Field(
        validation_alias=AliasChoices("message", "body")
    )
    to_number: Annotated[Text | None, Field(max_length=64)] = None
    received_at: Timestamp | None = Field(
        default=None, validation_alias=AliasChoices("received_at", "date")
    )


class InboundResponse(Response):
    """What the server made of one inbound SMS."""

    id: int
    duplicate: bool
    is_stop: bool
    blacklisted: bool
    partner_found: bool


class InboundBatchRequest(Request):
    """``POST /sms-gateway/inbound-batch``."""

    messages: loose_list(  # type: ignore[valid-type]
        InboundItem, "Received SMS, any number (the app's first scan is a 30-day inbox)"
    )


class InboundBatchResponse(Response):
    """Counts in both dialects: ``processed``/``duplicates_skipped`` and the app's names."""

    processed: int
    duplicates_skipped: int
    recorded: int
    blacklisted: int
    already_blacklisted: int
    skipped: int
    errors: list[ItemProblem]


class InboundHistoryRequest(Request):
    """``POST /sms-gateway/inbound-history``."""

    limit: Annotated[Int, Field(ge=1, le=200)] = 50
    offset: Annotated[Int, Field(ge=0, le=10**9)] = 0
    stop_only: Bool = False
    stop_not_blacklisted: Bool = False
    search: Annotated[Text | None, Field(max_length=200)] = None


class InboundRecord(BaseModel):
    """One stored inbound SMS."""

    id: int
    from_number: str
    to_number: str
    message: str
    received_at: str
    is_stop: bool
    blacklisted: bool
    partner_name: str = Field(description="empty when no partner has the sender's number")


class InboundHistoryResponse(Response):
    """A page of inbound SMS, newest first."""

    messages: list[InboundRecord]
    total: int
    limit: int
    offset: int


class InboundBlacklistRequest(Request):
    """``POST /sms-gateway/inbound-blacklist``."""

    ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]


class InboundBlacklistResponse(Response):
    """How many inbound records are now marked blacklisted."""

    blacklisted: int
    not_found_ids: list[int]


# -- stats and FCM ---------------------------------------------------------------------


class PhoneStats(PhoneCounters):
    """Public statistics of a phone."""

    id: int
    name: str
    phone_number: str
    phone_number_2: str | None
    state: str
    last_heartbeat: str | None
    battery_level: int | None
    signal_strength: int | None
    rate_limit: int
    pending_count: int = Field(description="queued plus handed out and not yet confirmed")
    queued_count: int


class StatsRequest(Request):
    """``POST /sms-gateway/stats``: no fields (a body, if sent, must still be JSON)."""


class StatsResponse(Response):
    """``POST /sms-gateway/stats``."""

    phones: list[PhoneStats]


class RegisterFcmRequest(Request):
    """``POST /sms-gateway/register-fcm``."""

    fcm_token: Annotated[Text, Field(min_length=1, max_length=4096)]


class RegisterFcmResponse(Response):
    """Token stored; ``message`` says whether pushes are on."""

    message: str
