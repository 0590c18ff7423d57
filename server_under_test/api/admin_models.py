"""Request and response models of the admin API (``/admin/...``): Create / Update / Public
schemas per entity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from .device_models import (
    INT32,
    ItemProblem,
    Text,
    Utc,
    in_range,
    loose_list,
    whole_numbers,
)

__all__ = [
    "BlacklistAdd",
    "BlacklistAdded",
    "BlacklistEntry",
    "CampaignCreate",
    "CampaignLaunch",
    "CampaignLaunched",
    "CampaignPublic",
    "CampaignReassign",
    "CampaignReassigned",
    "CampaignSms",
    "CampaignUpdate",
    "ClockPublic",
    "ClockSet",
    "CountersPublic",
    "Delivery",
    "EnqueueRequest",
    "EnqueueResponse",
    "JobPublic",
    "JobRunPublic",
    "JobsPublic",
    "PairingPayload",
    "PairingPublic",
    "PartnerCreate",
    "PartnerImport",
    "PartnerImported",
    "PhoneCreate",
    "PhonePublic",
    "PhoneUpdate",
    "SmsCreate",
    "SmsPage",
    "SmsPublic",
]

Int = Annotated[int, Strict(), Field(ge=-INT32 - 1, le=INT32)]
# Ids the admin gives refer to rows it must find (a partner, a campaign, a phone), so one
# past the 32-bit columns is refused naming the field, as the admin paths' ids are.
Id = Annotated[int, Strict(), Field(ge=1, le=INT32)]
Bool = Annotated[bool, Strict()]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Number = Annotated[Text, Field(min_length=3, max_length=32)]
DailyLimit = Annotated[Int, Field(ge=0, le=10_000_000, description="segments per day; 0 = none")]
MonthlyLimit = Annotated[
    Int, Field(ge=0, le=300_000_000, description="segments per month; 0 = none")
]
MonthStartDay = Annotated[Int, Field(ge=1, le=28)]
RateLimit = Annotated[Int, Field(ge=1, le=100_000, description="SMS per minute")]
HeartbeatTimeout = Annotated[Int, Field(ge=1, le=1440, description="minutes")]
DomainFilter = Annotated[
    Text | None,
    Field(max_length=10_000, description='Odoo domain, e.g. [("country_id.code", "=", "CZ")]'),
]


def _iso_text_only(value: Any) -> Any:
    # The schema says an ISO date-time string; a bare number is refused, not guessed at.
    if isinstance(value, int | float | bool):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


class Strict_(BaseModel):
    """Admin requests reject unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        return whole_numbers(data)


# -- phones ------------------------------------------------------------------------------


class PhoneCreate(Strict_):
    """A phone to register."""

    name: Name
    phone_number: Number
    phone_number_2: Number | None = None
    daily_limit: DailyLimit = 500
    monthly_limit: MonthlyLimit = 0
    month_start_day: MonthStartDay = 1
    rate_limit: RateLimit = 100
    heartbeat_timeout: HeartbeatTimeout = 5
    domain_filter: DomainFilter = None
    active: Bool = True


class PhoneUpdate(Strict_):
    """Fields to change on a phone (only those given)."""

    # Fields that may not be emptied accept no null (the schema says so); leave them out.
    name: Name | SkipJsonSchema[None] = None
    phone_number: Number | SkipJsonSchema[None] = None
    phone_number_2: Number | None = None
    daily_limit: DailyLimit | SkipJsonSchema[None] = None
    monthly_limit: MonthlyLimit | SkipJsonSchema[None] = None
    month_start_day: MonthStartDay | SkipJsonSchema[None] = None
    rate_limit: RateLimit | SkipJsonSchema[None] = None
    heartbeat_timeout: HeartbeatTimeout | SkipJsonSchema[None] = None
    domain_filter: DomainFilter = None
    active: Bool | SkipJsonSchema[None] = None


class PhonePublic(BaseModel):
    """A phone as the admin sees it, API key included."""

    id: int
    name: str
    phone_number: str
    phone_number_2: str | None
    api_key: str
    active: bool
    daily_limit: int
    monthly_limit: int
    month_start_day: int
    next_month_reset: date | None
    rate_limit: int
    heartbeat_timeout: int
    domain_filter: str | None
    state: str

    last_heartbeat: Utc | None
    battery_level: int | None
    signal_strength: int | None
    unsynced_count: int
    fcm_token: str | None
    sent_today: int
    sent_month: int
    sent_total: int

    created_at: Utc


class PairingPayload(BaseModel):
    """What the app's pairing QR code holds, keys in the app's order."""

    type: Literal["sms_gateway"]
    url: str = Field(description="the server base URL the app will call")
    api_key: str = Field(description="the phone's current API key")


class PairingPublic(BaseModel):
    """A phone's pairing code: its content and the code drawn for a terminal."""

    success: bool = True
    payload: PairingPayload
    terminal: str = Field(
        description="the QR code in Unicode half blocks, for a dark-background terminal"
    )


# -- partners ----------------------------------------------------------------------------


class PartnerCreate(Strict_):
    """A partner (recipient contact) to import."""

    name: Name
    phone: Annotated[Text | None, Field(max_length=64)] = None
    mobile: Annotated[Text | None, Field(max_length=64)] = None
    email: Annotated[Text | None, Field(max_length=200)] = None
    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    country_name: Annotated[Text | None, Field(max_length=100)] = None
    region: Annotated[Text | None, Field(max_length=100)] = None
    region_code: Annotated[Text | None, Field(max_length=16)] = None
    categories: Annotated[
        list[Annotated[Text, Field(min_length=1, max_length=100)]], Field(max_length=50)
    ] = Field(default_factory=list)
    is_company: Bool = False
    customer_rank: Annotated[Int, Field(ge=0)] = 0
    create_date: Annotated[datetime, BeforeValidator(_iso_text_only)] | None = None


class PartnerImport(Strict_):
    """Partners to import in one call."""

    partners: Annotated[list[PartnerCreate], Field(min_length=1, max_length=200_000)]


class PartnerImported(BaseModel):
    """Ids of the imported partners, in input order."""

    success: bool = True
    ids: list[int]


# -- campaigns ---------------------------------------------------------------------------


Delivery = Literal["at_most_once", "at_least_once"]


class CampaignCreate(Strict_):
    """A campaign: a name, optionally a forced phone, optionally paused."""

    name: Name
    forced_phone_id: Id | None = None
    paused: Bool = False
    delivery: Delivery = Field(
        default="at_most_once",
        description="what happens to an SMS a phone never confirms: at_most_once ends it "
        "as an error (marketing), at_least_once sends it again (may duplicate)",
    )


class CampaignUpdate(Strict_):
    """Pause or resume a campaign, or rename it (only the fields given; no nulls)."""

    name: Name | SkipJsonSchema[None] = None
    paused: Bool | SkipJsonSchema[None] = None


CampaignState = Literal["sending", "done"]


class CampaignPublic(BaseModel):
    """A campaign with the states of its SMS."""

    id: int
    name: str
    forced_phone_id: int | None
    paused: bool
    delivery: str
    state: CampaignState = Field(
        description="sending until every SMS of the campaign is final (sent, error or "
        "canceled), then done; a done campaign given new SMS is sending again"
    )
    created_at: Utc
    completed_at: Utc | None = Field(
        description="when the campaign became done (its last SMS ended); null while sending"
    )
    sms_states: dict[str, int]


class CampaignPage(BaseModel):
    """Campaigns by id, filtered; ``total`` counts every match."""

    campaigns: list[CampaignPublic]
    total: int
    limit: int
    offset: int


class CampaignReassign(Strict_):
    """Where a campaign's queued SMS go: one phone or SIM, or the online fleet."""

    phone_id: Id | None = Field(
        default=None,
        description="the phone that takes every queued SMS of the campaign, online or not; "
        "none: spread them over every active, online phone whose partner filter accepts them",
    )
    sim: Literal["auto", "split"] | Number = Field(
        default="auto",
        description="auto: each phone picks the SIM; split: the SMS alternate over each "
        "phone's SIMs (the campaign wizard's split); a SIM number: all from that SIM (of "
        "phone_id, or of the phone that has it)",
    )


class CampaignReassigned(BaseModel):
    """What a re-assignment did. SMS handed out to a phone stay with it."""

    success: bool = True
    campaign_id: int
    reassigned: int = Field(description="queued SMS put on the phones below")
    by_phone: dict[str, int] = Field(description="phone id -> SMS it was given")
    in_flight: int = Field(
        description="SMS handed out and not yet final: left with the phone that has them"
    )
    kept: int = Field(
        description="queued SMS left where they were: handed out before (queued again by "
        "the stuck reset, their phone may still report them), or refused by every phone's "
        "partner filter"
    )


# -- SMS ---------------------------------------------------------------------------------


class SmsCreate(Strict_):
    """One SMS to enqueue."""

    number: Annotated[Text, Field(min_length=1, max_length=64)]
    body: Annotated[Text, Field(min_length=1, max_length=10_000)]
    partner_id: Id | None = None
    campaign_id: Id | None = None
    phone_id: Id | None = Field(default=None, description="force this gateway phone")
    sim_number: Number | None = Field(default=None, description="send from this SIM")
    delivery: Delivery | None = Field(
        default=None,
        description="default: the campaign's, else at_least_once (transactional)",
    )


class EnqueueRequest(Strict_):
    """SMS to enqueue and assign in one call (up to 200 000)."""

    messages: loose_list(SmsCreate, "SMS to enqueue")  # type: ignore[valid-type]


class EnqueueResponse(BaseModel):
    """What became of each SMS: ids in input order (null for refused items)."""

    success: bool = True
    ids: list[int | None]
    queued: int
    states: dict[str, int]
    failures: dict[str, int]
    errors: list[ItemProblem]


class CampaignSms(Strict_):
    """One SMS of a campaign launched with its SMS (as ``SmsCreate``, without a
    ``campaign_id``: it belongs to the campaign the call creates)."""

    number: Annotated[Text, Field(min_length=1, max_length=64)]
    body: Annotated[Text, Field(min_length=1, max_length=10_000)]
    partner_id: Id | None = None
    phone_id: Id | None = Field(default=None, description="force this gateway phone")
    sim_number: Number | None = Field(default=None, description="send from this SIM")
    delivery: Delivery | None = Field(default=None, description="default: the campaign's")


class CampaignLaunch(Strict_):
    """A campaign created together with its SMS (up to 200 000), as the app's
    ``campaign/create`` does."""

    name: Name
    forced_phone_id: Id | None = None
    delivery: Delivery = Field(
        default="at_most_once",
        description="what happens to an SMS a phone never confirms: at_most_once ends it "
        "as an error (marketing), at_least_once sends it again (may duplicate)",
    )
    send_now: Bool = Field(
        default=True,
        description="false: queue only. The campaign is created paused, before any of its "
        "SMS exists, and nothing of it is handed out until it is resumed (PATCH "
        "/admin/campaigns/{campaign_id} with paused false, which wakes the phones holding "
        "its SMS); true: its phones are woken at once",
    )
    messages: loose_list(CampaignSms, "the campaign's SMS")  # type: ignore[valid-type]


class CampaignLaunched(EnqueueResponse):
    """The new campaign, and what became of each of its SMS (as ``POST /admin/sms``)."""

    campaign: CampaignPublic


class SmsPublic(BaseModel):
    """An SMS as stored."""

    id: int
    uuid: str
    number: str
    number_e164: str | None
    body: str
    partner_id: int | None
    campaign_id: int | None
    state: str
    gateway_state: str | None
    failure_type: str | None
    error_message: str | None
    gateway_phone_id: int | None
    gateway_sim_number: str | None
    segments: int
    delivery: str

    picked_at: Utc | None
    issue_count: int

    sent_at: Utc | None

    created_at: Utc
    updated_at: Utc


class SmsPage(BaseModel):
    """A page of SMS and the total matching the filters."""

    success: bool = True
    sms: list[SmsPublic]
    total: int
    limit: int
    offset: int


# -- blacklist, counters, clock ----------------------------------------------------------


class BlacklistAdd(Strict_):
    """Numbers to blacklist."""

    numbers: Annotated[list[Number], Field(min_length=1, max_length=100_000)]
    reason: Annotated[Text | None, Field(max_length=200)] = None


class BlacklistAdded(BaseModel):
    """The numbers newly blacklisted (E.164) and the queued SMS cancelled for them."""

    success: bool = True
    added: list[str]
    canceled_sms: int


class BlacklistEntry(BaseModel):
    """One blacklisted number."""

    number: str
    reason: str | None

    created_at: Utc


class CountersPublic(BaseModel):
    """Counters of every phone and SMS counts by state and gateway state."""

    success: bool = True
    phones: list[dict[str, Any]]
    sms: dict[str, dict[str, int]]
    total_sms: int


Seconds = Annotated[float, Strict(), Field(ge=0, le=10 * 365 * 86400)]


class ClockSet(Strict_):
    """Set the manual clock to ``now``, or move it by ``advance_seconds``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["now"]}, {"required": ["advance_seconds"]}]},
    )

    now: Annotated[datetime, AfterValidator(in_range)] | SkipJsonSchema[None] = Field(
        default=None, description="between 2000 and 2100"
    )
    advance_seconds: Seconds | SkipJsonSchema[None] = None


class ClockPublic(BaseModel):
    """The server's time and which kind of clock it runs on."""

    success: bool = True
    now: datetime
    kind: Literal["manual", "system", "scaled"]
    time_scale: float | None = Field(
        description="clock seconds per wall second: 1 for the system clock, K for "
        "hil serve --time-scale K, null for a manual clock (it moves only when set)"
    )


class JobRunPublic(BaseModel):
    """One run of a periodic job."""

    job: str

    slot: Utc
    started_at: Utc | None = None
    runner: str | None = None
    ran: bool = Field(description="false: this slot had already been run")
    affected: int | None = Field(description="rows the run changed")


class JobPublic(BaseModel):
    """A periodic job, when it is next due and its last run."""

    name: str
    schedule: str

    next_slot: Utc
    last_run: JobRunPublic | None


class JobsPublic(BaseModel):
    """Every periodic job."""

    success: bool = True
    jobs: list[JobPublic]
