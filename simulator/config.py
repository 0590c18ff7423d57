"""What a simulated world is made of: plain, frozen data with the reference numbers as defaults.

Every default comes from ``reference/reference-system.md`` §5 (the app 1.7.1) or
``reference/android-and-testing.md`` (Android, FCM, WorkManager); times are in seconds of
virtual time. A scenario file (``scenarios/``) fills these in; the simulator only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "APP_PROFILES",
    "FAULT_KINDS",
    "FAULT_MOMENTS",
    "FAULT_WAIT_LIMIT",
    "RESULT_OK",
    "AndroidSpec",
    "AppProfile",
    "CarrierSpec",
    "Fault",
    "FcmSpec",
    "NetworkSpec",
    "PhoneSpec",
    "RecipientSpec",
    "SimSpec",
    "WorldSpec",
]

RESULT_OK = -1  # Activity.RESULT_OK: the part reached the SMSC


@dataclass(frozen=True)
class AppProfile:
    """One version of the gateway app, with its timings and its historic bugs."""

    name: str = "1.7.1"
    poll_interval: float = 300.0  # max(pollingInterval, 300) with an FCM token
    heartbeat_interval: float = 60.0
    first_heartbeat_delay: float = 5.0
    poll_limit: int = 20
    initial_rate_limit: int = 100  # SMS per minute until a heartbeat says otherwise
    honour_sim_choice: bool = False  # 1.7.1 sends from the default SIM whatever the server says
    sync_interval: float = 3.0
    sync_batch: int = 50
    sweep_interval: float = 30.0
    tracker_timeout: float = 60.0
    fcm_reregister_every: int = 10  # heartbeats
    inbound_auth: str = "x-api-key"  # 1.1 sent "Authorization: Bearer <key>" (always 401)
    inbound_live_report: bool = True  # the duplicate /inbound from the running service
    inbound_backoff: float = 10.0  # WorkManager EXPONENTIAL, first delay
    inbound_backoff_max: float = 18_000.0  # WorkManager caps at 5 h
    retroactive_scan: bool = True
    reconcile_at_start: bool = True
    http_timeout: float = 15.0


APP_PROFILES: dict[str, AppProfile] = {
    "1.7.1": AppProfile(),
    # 1.1: inbound reported with the wrong auth header, no retroactive scan, no reconcile.
    "1.1": AppProfile(
        name="1.1",
        inbound_auth="bearer",
        retroactive_scan=False,
        reconcile_at_start=False,
    ),
    # A future app that honours the server's SIM choice (what dual-SIM fleets need).
    "sim-aware": AppProfile(name="sim-aware", honour_sim_choice=True),
}


@dataclass(frozen=True)
class CarrierSpec:
    """The network behind one SIM: latency, result codes and callback loss."""

    name: str = "carrier"
    latency: float = 1.5  # mean seconds from send to the sent callback
    latency_jitter: float = 1.0  # uniform +- seconds
    # Result code -> weight, as Android reports them (-1 = RESULT_OK, 4 = NO_SERVICE, 2 =
    # RADIO_OFF, 1 = GENERIC_FAILURE, 10 = NETWORK_REJECT, 101 = RIL_SMS_SEND_FAIL_RETRY).
    results: tuple[tuple[int, float], ...] = ((RESULT_OK, 1.0),)
    # When a RIL retry happens, the chance that the failed attempt reached the SMSC anyway
    # (the recipient then gets the message twice: a duplicate below the app).
    retry_reached: float = 0.0
    telephony_retries: int = 3
    telephony_retry_delay: float = 2.0
    lost_callback: float = 0.0  # a part's sent PendingIntent never arrives
    delivery_report: float = 0.9


@dataclass(frozen=True)
class SimSpec:
    """A SIM card in a slot: its number and its carrier."""

    number: str
    carrier: CarrierSpec = field(default_factory=CarrierSpec)


@dataclass(frozen=True)
class AndroidSpec:
    """The phone's Android: the SMS cap, Doze and the battery settings."""

    sms_cap: str = "modern"  # a simulator.sms_monitor.PRESETS name
    granted: bool = False  # WRITE_SECURE_SETTINGS: the app sets the cap to 1000/60 s
    charging: bool = True  # plugged in: Doze never starts
    battery_exempt: bool = True  # on the "not optimised" list: alarms and network in Doze
    doze_after: float = 0.0  # screen off and unplugged from this time (when not charging)
    compress_time: bool = False  # COMPRESS_TIME build: Doze timeouts / 10


@dataclass(frozen=True)
class Fault:
    """Something that happens to one phone at a virtual time."""

    at: float
    kind: str  # process_death | reboot | partition | unplug | plug
    duration: float = 0.0  # partition length; reboot/restart time
    # "sending": from ``at`` on, wait (up to FAULT_WAIT_LIMIT) for a moment when the phone
    # has SMS in flight, so the fault hits the dangerous path; "any": at ``at`` exactly.
    during: str = "any"


FAULT_KINDS = ("process_death", "reboot", "partition", "unplug", "plug")
FAULT_MOMENTS = ("any", "sending")
FAULT_WAIT_LIMIT = 1800.0


@dataclass(frozen=True)
class PhoneSpec:
    """One virtual phone."""

    name: str
    sims: tuple[SimSpec, ...]
    app: AppProfile = field(default_factory=AppProfile)
    android: AndroidSpec = field(default_factory=AndroidSpec)
    daily_limit: int = 500  # server-side settings of this phone
    monthly_limit: int = 0
    rate_limit: int = 100
    faults: tuple[Fault, ...] = ()
    start_at: float = 0.0


@dataclass(frozen=True)
class NetworkSpec:
    """The phone's path to the server."""

    latency: float = 0.15  # one way, seconds
    latency_jitter: float = 0.05  # uniform +- seconds on each way
    request_loss: float = 0.0  # lost before the server saw it
    response_loss: float = 0.0  # the server acted, the phone never heard back


@dataclass(frozen=True)
class FcmSpec:
    """Google's push service, as the phones see it."""

    enabled: bool = True
    latency: float = 2.0
    loss: float = 0.0


@dataclass(frozen=True)
class RecipientSpec:
    """How recipients answer."""

    stop_probability: float = 0.0
    stop_delay: float = 120.0  # mean seconds after the message arrived (exponential)
    stop_words: tuple[str, ...] = ("STOP",)


@dataclass(frozen=True)
class WorldSpec:
    """Phones plus the shared network, FCM and recipient models."""

    phones: tuple[PhoneSpec, ...]
    network: NetworkSpec = field(default_factory=NetworkSpec)
    fcm: FcmSpec = field(default_factory=FcmSpec)
    recipients: RecipientSpec = field(default_factory=RecipientSpec)
