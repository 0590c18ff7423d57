"""Virtual phones in virtual time (SimPy).

The model of the real Android gateway app (``app``: service instances, the serial
executor, alarms, poll and send, status store and sync, sweep, reconcile, FCM wake;
``inbound``: the SMS receiver, the WorkManager worker, the inbox scan; ``sync``: the
status sync; ``store``: the local status store), of Android under it
(``android``: Doze and its OEM profiles, while-idle alarms, PendingIntents, the SMS stack
with per-part results and SmsUsageMonitor), of each phone's network path (``network``:
latency, losses, partitions), of FCM, faults and recipients (``world``), and the radio
ledger every transmission is written to (``ledger``). The history (``history``) is a list of
typed events (``events``: one frozen dataclass per kind, ``EVENT_TYPES`` the one list of
kinds, ``decode`` and ``load_history`` to read a ``history.jsonl`` back, gzip-compressed
or not; fields in ``docs/history.md``); the ledger's entries are its ``radio`` events. A
phone sees a narrow context (``context``: clock, history, FCM's token registry, STOP words),
never the whole world.
Each app behaviour is cited to the app's source in ``docs/app-model.md``. It talks to a
gateway server only through a port (``port.GatewayPort``, a ``typing.Protocol``) and
imports no other part of this project.
"""

from __future__ import annotations

from .events import (
    EVENT_TYPES,
    AppFinal,
    AppStart,
    CampaignState,
    CapVerdict,
    DozeState,
    EnqueuedBatch,
    Event,
    FaultApplied,
    HeartbeatAnswered,
    HistoryError,
    InboundAck,
    InboundReceived,
    InboxScan,
    Issued,
    JobRan,
    LostCallback,
    PersonaAct,
    PushOutcome,
    Reassigned,
    Reconciled,
    RequestFailed,
    RunConfig,
    StatusAcked,
    StopReply,
    TelephonyRetry,
    TrackerTimeout,
    Transmission,
    decode,
)
from .history import History, iter_history, load_history
from .ledger import RadioLedger
from .sms_monitor import PRESETS, SmsCap, SmsUsageMonitor, Verdict

__all__ = [
    "EVENT_TYPES",
    "PRESETS",
    "AppFinal",
    "AppStart",
    "CampaignState",
    "CapVerdict",
    "DozeState",
    "EnqueuedBatch",
    "Event",
    "FaultApplied",
    "HeartbeatAnswered",
    "History",
    "HistoryError",
    "InboundAck",
    "InboundReceived",
    "InboxScan",
    "Issued",
    "JobRan",
    "LostCallback",
    "PersonaAct",
    "PushOutcome",
    "RadioLedger",
    "Reassigned",
    "Reconciled",
    "RequestFailed",
    "RunConfig",
    "SmsCap",
    "SmsUsageMonitor",
    "StatusAcked",
    "StopReply",
    "TelephonyRetry",
    "TrackerTimeout",
    "Transmission",
    "Verdict",
    "decode",
    "iter_history",
    "load_history",
]
