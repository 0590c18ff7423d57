"""The history's events: one frozen dataclass per kind, and the registry that reads them back.

A run's history is one event per thing that happened, in virtual-time order. Each event
class names its ``kind`` and its fields in the order they are written; an event becomes a
JSON line ``{"t": ..., "kind": ..., <fields>}`` through :meth:`Event.to_dict` and comes
back through :func:`decode`. :data:`EVENT_TYPES` is the one list of kinds: the
simulator's, and the five the harness writes (``config``, ``enqueued``, ``reassigned``,
``job``, ``campaign``).
``docs/history.md`` says what every field means.

The ``radio`` event, :class:`Transmission`, is also the radio ledger's entry: the ledger
keeps the very object the history wrote.

Errors: :class:`HistoryError` (a ``ValueError``) for a row that is not an event this
module knows: an unknown kind, a missing or unknown field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "AppFinal",
    "AppStart",
    "CampaignState",
    "CapVerdict",
    "DozeState",
    "EnqueuedBatch",
    "Event",
    "FaultApplied",
    "HeartbeatAnswered",
    "HistoryError",
    "InboundAck",
    "InboundReceived",
    "InboxScan",
    "Issued",
    "JobRan",
    "LostCallback",
    "PersonaAct",
    "PushOutcome",
    "Reassigned",
    "Reconciled",
    "RequestFailed",
    "RunConfig",
    "StatusAcked",
    "StopReply",
    "TelephonyRetry",
    "TrackerTimeout",
    "Transmission",
    "decode",
]


class HistoryError(ValueError):
    """A history row that is not an event of a known kind with exactly its fields."""


def _optional() -> Any:
    """A field written only when it has a value: ``None`` leaves it out of the JSON."""
    return field(default=None, metadata={"omit_none": True})


def _micro(t: float) -> float:
    # Times are written to the microsecond; an int time (SimPy starts at 0) stays an int.
    return round(t, 6)


@dataclass(frozen=True, kw_only=True)
class Event:
    """The base of every event: its virtual time ``t`` and, per class, its ``kind``."""

    kind: ClassVar[str] = ""
    t: float  # virtual seconds since the start of the run, to the microsecond

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _micro(self.t))

    def to_dict(self) -> dict[str, Any]:
        """The event as its history line: ``t``, ``kind``, then the fields in order."""
        row: dict[str, Any] = {"t": self.t, "kind": self.kind}
        for name, optional in _layout(type(self))[1:]:
            value = getattr(self, name)
            if value is not None or not optional:
                row[name] = value
        return row


_Layout = tuple[tuple[str, bool], ...]
_LAYOUTS: dict[type[Event], _Layout] = {}  # a memo: dataclasses.fields() is slow per event


def _layout(cls: type[Event]) -> _Layout:
    """(name, optional) of each field of an event class, ``t`` first."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = tuple((f.name, bool(f.metadata.get("omit_none"))) for f in fields(cls))
        _LAYOUTS[cls] = layout
    return layout


# -- the radio and Android ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Transmission(Event):
    """``radio``: one message (or some of its parts) left a phone's radio; the ledger entry.

    A telephony retry that reached the SMSC again is a second entry with ``cause``
    ``"telephony_retry"``: that is how duplicates below the app are seen.
    """

    kind: ClassVar[str] = "radio"
    phone: str
    sim_slot: int
    sim_number: str
    recipient: str
    sms_id: int | None  # the server's id; None for a message the gateway did not send
    uuid: str | None
    parts: int
    parts_sent: int  # parts that reached the network; < parts for a partial send
    cause: str  # "app", or "telephony_retry" for a retry below the app
    submitted: float  # when the app handed it to Android: what the SMS cap counted

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "submitted", _micro(self.submitted))
        if not 0 <= self.parts_sent <= self.parts or self.parts < 1:
            raise ValueError(
                f"A transmission sends between 0 and its {self.parts} part(s), "
                f"not {self.parts_sent}."
            )

    @property
    def complete(self) -> bool:
        """Every part left the phone: the recipient gets the whole message."""
        return self.parts_sent == self.parts


@dataclass(frozen=True, kw_only=True)
class CapVerdict(Event):
    """``cap``: the SmsUsageMonitor of a SIM slot held or refused a message."""

    kind: ClassVar[str] = "cap"
    phone: str
    sim_slot: int
    sms_id: int
    verdict: str  # "hold" (confirmation dialog, never sent) or "refuse" (error 5)
    parts: int


@dataclass(frozen=True, kw_only=True)
class TelephonyRetry(Event):
    """``telephony_retry``: a part failed with RIL_SMS_SEND_FAIL_RETRY and is retried."""

    kind: ClassVar[str] = "telephony_retry"
    phone: str
    sms_id: int
    attempt: int  # 1 for the first failed attempt
    reached: bool  # the failed attempt reached the SMSC anyway
    part: int  # 1-based


@dataclass(frozen=True, kw_only=True)
class LostCallback(Event):
    """``lost_callback``: the sent callback of one part never reached the app."""

    kind: ClassVar[str] = "lost_callback"
    phone: str
    sms_id: int


@dataclass(frozen=True, kw_only=True)
class DozeState(Event):
    """``doze``: DeviceIdleController moved the phone to another state."""

    kind: ClassVar[str] = "doze"
    phone: str
    state: str  # active, light_idle, light_maintenance, deep_idle, deep_maintenance


@dataclass(frozen=True, kw_only=True)
class FaultApplied(Event):
    """``fault``: a scenario fault (or an operator action) happened to a phone."""

    kind: ClassVar[str] = "fault"
    phone: str
    fault: str  # a FAULT_KINDS name
    in_flight: int | None = _optional()  # process_death and reboot: trackers lost
    until: float | None = _optional()  # partition: virtual time it ends


# -- the app --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AppStart(Event):
    """``app_start``: ``startGateway`` ran in a service instance."""

    kind: ClassVar[str] = "app_start"
    phone: str
    app: str  # the app profile's name


@dataclass(frozen=True, kw_only=True)
class RequestFailed(Event):
    """``request``: a request to the server that the app saw fail (or the wire lost).

    ``outcome`` is ``offline``, ``request_lost``, ``response_lost`` or ``refused`` in
    virtual time; on the wire also ``reset``, ``partitioned``, ``upstream_error``,
    ``timeout`` or ``connection``.
    """

    kind: ClassVar[str] = "request"
    phone: str
    endpoint: str  # the device endpoint, e.g. "pending"
    outcome: str
    status: int  # the server's HTTP status; 0 when none reached the app


@dataclass(frozen=True, kw_only=True)
class HeartbeatAnswered(Event):
    """``heartbeat``: the server accepted a phone's heartbeat (answered 2xx), even if the
    answer was then lost: by the protocol the phone is online from then on."""

    kind: ClassVar[str] = "heartbeat"
    phone: str


@dataclass(frozen=True, kw_only=True)
class StatusAcked(Event):
    """``confirmed``: the server acknowledged final statuses a phone reported
    (``confirm-batch``'s ``ack_ids``, or every item when it names none; ``confirm/<id>``)."""

    kind: ClassVar[str] = "confirmed"
    phone: str
    sent: list[int]  # ids acknowledged as sent
    error: list[int]  # ids acknowledged as failed


@dataclass(frozen=True, kw_only=True)
class Issued(Event):
    """``issued``: the server handed SMS to a phone's poll (even if the answer was lost)."""

    kind: ClassVar[str] = "issued"
    phone: str
    sms: list[dict[str, Any]]  # {"id": server id, "number": recipient}, in answer order


@dataclass(frozen=True, kw_only=True)
class PersonaAct(Event):
    """``persona``: an adversarial persona (a test double of a buggy or hostile app,
    ``simulator/personas.py``) did what the real app never does; written when the server
    answered its request, or, for ``unsent``, when the app wrote its lie."""

    kind: ClassVar[str] = "persona"
    phone: str
    act: str  # foreign_confirm, phantom_confirm, replay, double_poll, unsent, bad_input, good_input
    status: str | None  # the status it reported; None for double_poll and the probes
    ids: list[int]  # the SMS it reported, or those the extra poll was handed
    # bad_input and good_input (the malformed persona's probes) only; _optional() is a
    # dataclasses.field whose default is None, not a shared mutable default (RUF009).
    endpoint: str | None = _optional()  # the endpoint it called
    sent: dict[str, Any] | None = _optional()  # noqa: RUF009  (the body it sent)
    answer: int | None = _optional()  # the HTTP status of the answer
    reply: Any = _optional()  # noqa: RUF009  (the answer's JSON body; absent if not JSON)


@dataclass(frozen=True, kw_only=True)
class TrackerTimeout(Event):
    """``tracker_timeout``: the 30 s sweep ended a tracker older than its timeout."""

    kind: ClassVar[str] = "tracker_timeout"
    phone: str
    sms_id: int
    sent: int  # parts with a sent callback
    total: int  # parts of the message


@dataclass(frozen=True, kw_only=True)
class Reconciled(Event):
    """``reconcile``: the server answered ``reconcileWithServer``."""

    kind: ClassVar[str] = "reconcile"
    phone: str
    known: int  # unsynced ids the app asked about
    settled: int  # already confirmed or not found: marked synced
    stuck: int  # ids the server reported stuck


@dataclass(frozen=True, kw_only=True)
class AppFinal(Event):
    """``app_final``: the app's local truth when the run ends."""

    kind: ClassVar[str] = "app_final"
    phone: str
    unsynced: list[int]  # ids whose final status the server has not acknowledged
    statuses: dict[str, str]  # str(sms id) -> the stored status ("sent", "error")


# -- inbound --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InboundReceived(Event):
    """``inbound_received``: an SMS arrived at a phone (its inbox has it from now on)."""

    kind: ClassVar[str] = "inbound_received"
    phone: str
    sender: str
    body: str
    date: str  # the inbox date, UTC, "YYYY-MM-DDTHH:MM:SSZ"
    sim_number: str  # the receiving SIM


@dataclass(frozen=True, kw_only=True)
class InboundAck(Event):
    """``inbound_ack``: the server accepted an inbound report (at the moment it did)."""

    kind: ClassVar[str] = "inbound_ack"
    phone: str
    sender: str
    body: str
    stop: bool


@dataclass(frozen=True, kw_only=True)
class InboxScan(Event):
    """``inbox_scan``: the retroactive scan found messages to re-report."""

    kind: ClassVar[str] = "inbox_scan"
    phone: str
    messages: int
    oldest_age: float  # seconds since the oldest of them arrived


# -- the world ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PushOutcome(Event):
    """``fcm``: what became of a push: ``unregistered`` (``token`` set), else ``lost`` or
    ``delivered`` (``phone`` set)."""

    kind: ClassVar[str] = "fcm"
    phone: str | None = _optional()
    token: str | None = _optional()
    outcome: str


@dataclass(frozen=True, kw_only=True)
class StopReply(Event):
    """``stop_reply``: a recipient replies with a stop word to an SMS they got."""

    kind: ClassVar[str] = "stop_reply"
    recipient: str
    sim_number: str  # the SIM the SMS came from, which the reply goes to
    sms_id: int | None
    body: str  # what they wrote: a stop word, perhaps in their own case and punctuation


# -- the harness ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunConfig(Event):
    """``config``: the run's configuration, the first event of every history."""

    kind: ClassVar[str] = "config"
    scenario: str
    seed: int
    start: str  # the wall time of t=0, UTC, "YYYY-MM-DDTHH:MM:SSZ"
    timezone: str  # the IANA zone of the server's calendar
    phones: dict[str, dict[str, Any]]  # phone name -> its numbers, limits and caps
    stuck_after: float  # seconds in flight unconfirmed before the server may re-issue an SMS


@dataclass(frozen=True, kw_only=True)
class EnqueuedBatch(Event):
    """``enqueued``: the harness put one workload batch into the server."""

    kind: ClassVar[str] = "enqueued"
    batch: int  # the batch's index in the scenario's workload
    ids: list[int]  # the server's ids of the accepted SMS
    refused: int
    states: dict[str, int]  # the server's state -> how many of the batch are in it
    # The partner tag of each accepted SMS's recipient, in ids' order; [] without partners.
    tags: list[str] = field(default_factory=list)
    campaign: str | None = _optional()  # the batch's campaign (its name in the scenario)


@dataclass(frozen=True, kw_only=True)
class Reassigned(Event):
    """``reassigned``: the harness, as the operator, re-assigned a campaign's queued SMS."""

    kind: ClassVar[str] = "reassigned"
    action: int  # the action's index in the scenario's [[actions]]
    campaign: str  # the campaign's name in the scenario
    phone: str | None  # the phone that took them; None = the online fleet
    sims: str  # "auto" or "split"
    moved: int  # SMS the server says it re-assigned
    # The campaign's SMS handed out to a phone whose final status no phone had had
    # acknowledged by then (the history's issued and confirmed events): in flight.
    in_flight: int


@dataclass(frozen=True, kw_only=True)
class JobRan(Event):
    """``job``: a server job the harness fired changed something."""

    kind: ClassVar[str] = "job"
    job: str
    affected: int  # rows the job changed


@dataclass(frozen=True, kw_only=True)
class CampaignState(Event):
    """``campaign``: the harness, as the operator, had a campaign paused or resumed: the
    server switched it at some moment between ``asked`` and ``t`` (its answer)."""

    kind: ClassVar[str] = "campaign"
    campaign: str  # its name in the scenario
    paused: bool  # its state from then on
    asked: float  # when the harness asked
    # The call created the campaign in this state together with its first SMS (queue
    # only): none of them ever existed in another state.
    created: bool

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "asked", _micro(self.asked))
        if self.asked > self.t:
            raise ValueError(
                f"A campaign is asked for before the server answers: asked ({self.asked}) "
                f"cannot come after t ({self.t})."
            )


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunConfig,
        EnqueuedBatch,
        Reassigned,
        JobRan,
        CampaignState,
        AppStart,
        AppFinal,
        RequestFailed,
        HeartbeatAnswered,
        StatusAcked,
        Issued,
        PersonaAct,
        Reconciled,
        TrackerTimeout,
        Transmission,
        CapVerdict,
        TelephonyRetry,
        LostCallback,
        DozeState,
        FaultApplied,
        InboundReceived,
        InboundAck,
        InboxScan,
        PushOutcome,
        StopReply,
    )
}


def decode(row: Mapping[str, Any]) -> Event:
    """A history row (a plain mapping, as read from JSONL) as its typed event.

    Raises :class:`HistoryError` for an unknown kind, a missing time, a missing field or
    a field the kind does not have.
    """
    kind = row.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise HistoryError(
            f"Unknown event kind {kind!r}: a history holds only "
            f"{', '.join(sorted(EVENT_TYPES))}. A new kind needs its class in "
            "simulator/events.py (and its section in docs/history.md)."
        )
    if "t" not in row:
        raise HistoryError(f"The {kind} event has no time 't'; every event has one.")
    layout = _layout(cls)
    names = [name for name, _ in layout]
    missing = [name for name, optional in layout if not optional and name not in row]
    if missing:
        raise HistoryError(
            f"The {kind} event at t={row['t']} has no {_listed(missing)}; a {kind} event "
            f"has {_listed(names)}."
        )
    unknown = [key for key in row if key != "kind" and key not in names]
    if unknown:
        raise HistoryError(
            f"The {kind} event at t={row['t']} has the unknown {_listed(unknown)}; a {kind} "
            f"event has {_listed(names)}. Add a new field to {cls.__name__} in "
            "simulator/events.py first."
        )
    values = {key: value for key, value in row.items() if key != "kind"}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"The {kind} event at t={row['t']} is not valid: {exc}") from exc


def _listed(names: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in names)
    return f"field{'s' if len(names) > 1 else ''} {quoted}"
