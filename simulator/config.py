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
    "OEM_PROFILES",
    "RESULT_OK",
    "SERVER_SETTINGS",
    "AndroidSpec",
    "AppProfile",
    "CarrierSpec",
    "Fault",
    "FcmSpec",
    "NetworkSpec",
    "OemProfile",
    "PhoneSpec",
    "RecipientSpec",
    "SimSpec",
    "WorldSpec",
]

RESULT_OK = -1  # Activity.RESULT_OK: the part reached the SMSC


@dataclass(frozen=True)
class AppProfile:
    """One version of the gateway app, with its timings and its historic bugs.

    Defaults are app 1.7.1 (tag v1.7.1); ``docs/app-model.md`` cites the source of each.
    """

    name: str = "1.7.1"
    poll_interval: float = 300.0  # max(pollingInterval, 300) with an FCM token
    heartbeat_interval: float = 60.0
    first_heartbeat_delay: float = 5.0
    poll_limit: int = 20
    initial_rate_limit: int = 100  # SMS per minute until a heartbeat says otherwise
    honour_sim_choice: bool = False  # 1.7.1 sends from the default SIM whatever the server says
    # Poll and heartbeat return at once when no SIM number is readable (1.1; removed in
    # 6a44aaf).
    phone_number_guard: bool = False
    heartbeat_unsynced_count: bool = True  # "unsynced_count" in the heartbeat (since 762c465)
    # "sqlite": SmsStatusDb, synced with the backoff ladder (1.7.1); "memory": 1.1's
    # in-memory queue, flushed whole every 3 s and after each poll, falling back to one
    # /confirm/{id} per SMS when confirm-batch fails, then dropped; lost with the process.
    status_store: str = "sqlite"
    sync_interval: float = 3.0
    sync_batch: int = 50
    sweep_interval: float = 30.0
    tracker_timeout: float | None = 60.0  # None: no sweep (1.1)
    # "ignored": a callback without a tracker is dropped (1.7.1); "ghost": it creates a new
    # tracker (1.1's getOrPut), so a late or repeated callback reports the SMS again.
    late_callbacks: str = "ignored"
    fcm_reregister_every: int = 10  # heartbeats
    inbound_auth: str = "x-api-key"  # 1.1's worker sent "Authorization: Bearer <key>"
    inbound_live_report: bool = True  # the duplicate /inbound from the running service
    inbound_backoff: float = 10.0  # WorkManager EXPONENTIAL, first delay
    inbound_backoff_max: float = 18_000.0  # WorkManager caps at 5 h
    retroactive_scan: bool = True
    # "idle-poll": every received SMS since the checkpoint, on the first idle poll of each
    # service instance, retried until it succeeds (1.7.1); "start-stop-only": 1.1's scan of
    # the inbox for texts containing STOP, queued once per start after the first poll, its
    # checkpoint moved even when the upload failed.
    scan_mode: str = "idle-poll"
    scan_days: float = 30.0  # how far back the first scan looks
    reconcile_at_start: bool = True
    http_timeout: float = 15.0
    # "": the real app. Otherwise an adversarial persona (simulator/personas.py PERSONAS),
    # a test double that misbehaves on purpose: not a model of any app version.
    persona: str = ""


APP_PROFILES: dict[str, AppProfile] = {
    "1.7.1": AppProfile(),
    # The 1.1-era app: commit b71dbdf (2026-03-18), whose native code is that of 1.1.0
    # (FCM wake-up); the v1.1.0 tag points at the initial commit. docs/app-model.md.
    "1.1": AppProfile(
        name="1.1",
        phone_number_guard=True,
        heartbeat_unsynced_count=False,
        status_store="memory",
        tracker_timeout=None,
        late_callbacks="ghost",
        inbound_auth="bearer",
        scan_mode="start-stop-only",
        scan_days=7.0,
        reconcile_at_start=False,
        http_timeout=30.0,
    ),
    # A future app that honours the server's SIM choice (what dual-SIM fleets need).
    "sim-aware": AppProfile(name="sim-aware", honour_sim_choice=True),
    # Adversarial personas: test doubles of a buggy or hostile app, 1.7.1 plus one misdeed
    # each (simulator/personas.py; docs/app-model.md, "Adversarial personas").
    "hostile-foreign": AppProfile(name="hostile-foreign", persona="foreign"),
    "hostile-double-poll": AppProfile(name="hostile-double-poll", persona="double-poll"),
    "hostile-replay": AppProfile(name="hostile-replay", persona="replay"),
    "hostile-phantom": AppProfile(name="hostile-phantom", persona="phantom"),
    "hostile-unsent": AppProfile(name="hostile-unsent", persona="unsent"),
    "hostile-malformed": AppProfile(name="hostile-malformed", persona="malformed"),
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


@dataclass(frozen=True)
class SimSpec:
    """A SIM card in a slot: its number and its carrier."""

    number: str
    carrier: CarrierSpec = field(default_factory=CarrierSpec)
    # Whether Android tells the app this SIM's number (SubscriptionInfo.getNumber() is
    # empty on many carriers); the app then sends no number for it.
    readable: bool = True


@dataclass(frozen=True)
class OemProfile:
    """How a vendor's Android departs from AOSP where it matters to the gateway app."""

    name: str
    # AOSP lets a process running a foreground service use the network in Doze
    # (NetworkPolicyManagerService: procstate <= BOUND_FOREGROUND_SERVICE is exempt from
    # the idle firewall). Restrictive vendor builds cut it like any background app's.
    fgs_network_in_doze: bool = True


OEM_PROFILES: dict[str, OemProfile] = {
    "stock": OemProfile("stock"),
    "restrictive": OemProfile("restrictive", fgs_network_in_doze=False),
}


@dataclass(frozen=True)
class AndroidSpec:
    """The phone's Android: the SMS cap, Doze and the battery settings."""

    sms_cap: str = "modern"  # a simulator.sms_monitor.PRESETS name
    granted: bool = False  # WRITE_SECURE_SETTINGS: the app sets the cap to 1000/60 s
    # SmsUsageMonitor reads the cap once, when the phone process starts: a cap the app
    # wrote is in force only after the next boot. True: it was written before this boot
    # (grant, open the app, reboot, as the app's README sets a phone up); False: the app
    # writes it now, and the preset stays in force until a reboot fault.
    granted_before_boot: bool = True
    oem: str = "stock"  # an OEM_PROFILES name
    charging: bool = True  # plugged in: Doze never starts
    battery_exempt: bool = True  # on the "not optimised" list: alarms and network in Doze
    doze_after: float = 0.0  # screen off and unplugged from this time (when not charging)
    compress_time: bool = False  # COMPRESS_TIME build: Doze timeouts / 10


@dataclass(frozen=True)
class Fault:
    """Something that happens to one phone at a virtual time."""

    at: float
    kind: str  # one of FAULT_KINDS
    duration: float = 0.0  # partition length; reboot/restart time
    # "sending": from ``at`` on, wait (up to FAULT_WAIT_LIMIT) for a moment when the phone
    # has SMS in flight, so the fault hits the dangerous path; "any": at ``at`` exactly.
    during: str = "any"


# process_death: the app's process dies and Android restarts the sticky service after
# ``duration``; reboot: the phone is off for ``duration``; partition: no network for
# ``duration``; unplug/plug: the charger; campaign_screen: an operator presses a button on
# the app's campaign screen (``triggerImmediatePoll``); settings_change: an operator saves
# the app's settings (``updateConfig`` restarts the schedulers of a running service).
FAULT_KINDS = (
    "process_death",
    "reboot",
    "partition",
    "unplug",
    "plug",
    "campaign_screen",
    "settings_change",
)
FAULT_MOMENTS = ("any", "sending")
FAULT_WAIT_LIMIT = 1800.0


@dataclass(frozen=True)
class PhoneSpec:
    """One virtual phone."""

    name: str
    sims: tuple[SimSpec, ...]
    app: AppProfile = field(default_factory=AppProfile)
    android: AndroidSpec = field(default_factory=AndroidSpec)
    daily_limit: int = 500  # server-side settings of this phone (SERVER_SETTINGS)
    monthly_limit: int = 0
    rate_limit: int = 100
    month_start_day: int = 1  # the monthly count restarts on this day of the month
    heartbeat_timeout: int = 5  # minutes without a heartbeat before the server calls it offline
    faults: tuple[Fault, ...] = ()
    start_at: float = 0.0

    def server_settings(self) -> dict[str, int]:
        """What the server is told about this phone when it is registered."""
        return {name: getattr(self, name) for name in SERVER_SETTINGS}


# The phone's settings that live on the server (the gateway phone record of the reference,
# sms_gateway_phone.py): the harness registers them and the oracles judge by them.
SERVER_SETTINGS = (
    "daily_limit",
    "monthly_limit",
    "rate_limit",
    "month_start_day",
    "heartbeat_timeout",
)


@dataclass(frozen=True)
class NetworkSpec:
    """The phone's path to the server."""

    latency: float = 0.15  # one way, seconds
    latency_jitter: float = 0.05  # uniform +- seconds on each way
    request_loss: float = 0.0  # lost before the server saw it
    response_loss: float = 0.0  # the server acted, the phone never heard back
    connection_reset: float = 0.0  # reset before the server saw it: the app fails at once


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
    stop_words: tuple[str, ...] = ("STOP",)  # the server's keywords (its STOP rule)
    # How people write their STOP ("Stop", "stop.", "STOP prosím"); empty: the stop words.
    stop_texts: tuple[str, ...] = ()
    # Replies that are not a STOP ("Nonstop open?"), from recipients who did not stop.
    other_probability: float = 0.0
    other_replies: tuple[str, ...] = ()
    # How the network writes a reply's sender: "international" (+420601743915) or "00"
    # (00420601743915, as some networks and phones do).
    sender_format: str = "international"


@dataclass(frozen=True)
class WorldSpec:
    """Phones plus the shared network, FCM and recipient models."""

    phones: tuple[PhoneSpec, ...]
    network: NetworkSpec = field(default_factory=NetworkSpec)
    fcm: FcmSpec = field(default_factory=FcmSpec)
    recipients: RecipientSpec = field(default_factory=RecipientSpec)
