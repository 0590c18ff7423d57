"""What a simulated world is made of: plain, frozen data with the reference numbers as defaults.

Every default comes from ``reference/reference-system.md`` §5 (the app 1.7.1) or
``reference/android-and-testing.md`` (Android, FCM, WorkManager); times are in seconds of
virtual time. A scenario file (``scenarios/``) fills these in; the simulator only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = [
    "APP_DEFECTS",
    "APP_DEFECT_FIELDS",
    "APP_PROFILES",
    "DEFAULT_FAULT_DURATION",
    "FAULT_KINDS",
    "FAULT_MOMENTS",
    "FAULT_WAIT_LIMIT",
    "OEM_PROFILES",
    "RESULT_OK",
    "SERVER_SETTINGS",
    "AndroidSpec",
    "AppProfile",
    "CarrierSpec",
    "DozeSpec",
    "Fault",
    "FcmSpec",
    "NetworkSpec",
    "OemProfile",
    "PhoneSpec",
    "RecipientSpec",
    "SimSpec",
    "WorldSpec",
    "send_gap",
]

RESULT_OK = -1  # Activity.RESULT_OK: the part reached the SMSC
# The app's pause between two SMS of one poll's batch (GS:877-891): 60000/rate_limit ms, at
# least 100 ms; 600 ms while it knows no rate limit above 0.
MIN_SEND_GAP = 0.1
NO_RATE_SEND_GAP = 0.6


def send_gap(rate_limit: int) -> float:
    """Seconds the app waits between two SMS of one batch at ``rate_limit`` SMS a minute."""
    return max(MIN_SEND_GAP, 60.0 / rate_limit) if rate_limit > 0 else NO_RATE_SEND_GAP


@dataclass(frozen=True)
class AppProfile:
    """One version of the gateway app, with its timings and its historic bugs.

    Defaults are app 1.7.1 (tag v1.7.1); ``docs/app-model.md`` cites the source of each.
    The app's known defects (``APP_DEFECTS``) are fields too: ``without`` switches them off.
    """

    name: str = "1.7.1"
    poll_interval: float = 300.0  # max(pollingInterval, 300) with an FCM token
    heartbeat_interval: float = 60.0
    first_heartbeat_delay: float = 5.0
    poll_limit: int = 20
    initial_rate_limit: int = 100  # SMS per minute until a heartbeat says otherwise
    # B19: 1.7.1 sends from the default SIM whatever the server says (GS:882-887, 908-913).
    honour_sim_choice: bool = False
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
    # B6. "kept": an item that a successful confirm-batch leaves out of ack_ids stays
    # unsynced with its attempts unchanged (GS:592-603), and the sync reads the 50 oldest
    # unsynced rows (DB:97-103), so 50 refused rows starve every newer status (1.7.1).
    # "dropped" (fixed): such an item is marked synced, as reconcile does with not_found
    # ids (GS:715-721).
    sync_refused: str = "kept"
    sweep_interval: float = 30.0
    tracker_timeout: float | None = 60.0  # None: no sweep (1.1)
    # "ignored": a callback without a tracker is dropped (1.7.1, GS:407-414; with the sweep,
    # B20); "ghost": it creates a new tracker (1.1's getOrPut), so a late or repeated
    # callback reports the SMS again; "amend" (B20 fixed): a callback for an SMS the sweep
    # ended goes on counting its parts, and the radio's verdict replaces the sweep's.
    late_callbacks: str = "ignored"
    # B20. "per-instance": the PendingIntent request codes restart at 0 in each service
    # instance (GS:230, 955, 969), so a restarted service can replace the extras of a part
    # still in flight (FLAG_UPDATE_CURRENT, GS:958); "unique" (fixed): never reused.
    request_codes: str = "per-instance"
    # B14. True: the alarm's heartbeat is queued on the single executor (GS:296), behind a
    # poll that sleeps 60000/rate_limit ms between SMS (GS:877-891); False (fixed): it
    # runs on a thread of its own, as the first heartbeat already does (GS:762).
    heartbeat_on_executor: bool = True
    fcm_reregister_every: int = 10  # heartbeats
    inbound_auth: str = "x-api-key"  # 1.1's worker sent "Authorization: Bearer <key>"
    inbound_live_report: bool = True  # the duplicate /inbound from the running service
    inbound_backoff: float = 10.0  # WorkManager EXPONENTIAL, first delay
    inbound_backoff_max: float = 18_000.0  # WorkManager caps at 5 h
    # Each inbound report and inbox-scan item carries the SMS's time as received_at (the API
    # documentation's dedupe key). The real app sends no time; a client written from the
    # documentation would.
    inbound_received_at: bool = False
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

    @property
    def defects(self) -> tuple[str, ...]:
        """The ``APP_DEFECTS`` this profile reproduces (a field at the defect's value)."""
        return tuple(
            name
            for name, switches in APP_DEFECT_FIELDS.items()
            if any(getattr(self, key) == bad for key, (bad, _) in switches.items())
        )

    def without(self, *names: str) -> AppProfile:
        """This profile with the named ``APP_DEFECTS`` fixed, named after them
        (``"1.7.1 without B6, B14"``).

        Only the fields that hold a defect's value change, so a profile without that
        defect (``sim-aware`` and B19) or with a behaviour of its own (1.1's ghost
        callbacks and B20) keeps them. Raises ``ValueError`` for a name not in
        ``APP_DEFECTS``.
        """
        unknown = [name for name in names if name not in APP_DEFECTS]
        if unknown:
            raise ValueError(
                f"Unknown app defect(s) {', '.join(map(repr, unknown))}; the app profiles "
                f"can switch off {', '.join(APP_DEFECTS)}."
            )
        changes: dict[str, object] = {}
        fixed: list[str] = []
        for name, switches in APP_DEFECT_FIELDS.items():  # the registry's order
            if name not in names:
                continue
            mine = {key: good for key, (bad, good) in switches.items() if getattr(self, key) == bad}
            if mine:
                changes.update(mine)
                fixed.append(name)
        if not fixed:
            return self
        renamed = f"{self.name} without {', '.join(fixed)}"
        return replace(self, name=renamed, **changes)  # type: ignore[arg-type]


# The app's defects of reference-system.md §6 that the app profiles reproduce, each a
# switch: on in 1.7.1 as in the real app (a virtual run predicts real phones), off in
# ``AppProfile.without(name)`` or a scenario's ``app_fixes``. docs/app-model.md, section 6,
# cites the source of each. The server's own switches are server_under_test's KNOWN_DEFECTS.
APP_DEFECTS: dict[str, str] = {
    "B6": "statuses the server refuses in confirm-batch are never acknowledged nor backed off: "
    "50 of them, read oldest first, block every newer status until a restart's reconcile",
    "B14": "alarm heartbeats wait on the single executor behind a poll that sleeps "
    "60/rate_limit s between SMS: no heartbeat during a slow batch, the phone looks offline",
    "B19": "the server's SIM choice (gateway_phone_number) is ignored: every SMS leaves on the "
    "default SIM",
    "B20": "the sweep reports error 60-90 s after an SMS without a callback and drops the "
    "radio's late callback; request codes restart at 0 in each service instance, so a "
    "restarted service's PendingIntent carries a new SMS's id for an old SMS's result",
}

# Per defect, the AppProfile fields that reproduce it: field -> (value with the defect,
# value with it fixed). 1.7.1 holds every defect value.
APP_DEFECT_FIELDS: dict[str, dict[str, tuple[object, object]]] = {
    "B6": {"sync_refused": ("kept", "dropped")},
    "B14": {"heartbeat_on_executor": (True, False)},
    "B19": {"honour_sim_choice": (False, True)},
    "B20": {"late_callbacks": ("ignored", "amend"), "request_codes": ("per-instance", "unique")},
}


APP_PROFILES: dict[str, AppProfile] = {
    "1.7.1": AppProfile(),
    # The 1.1-era app: commit b71dbdf (2026-03-18), whose native code is that of 1.1.0
    # (FCM wake-up); the v1.1.0 tag points at the initial commit. docs/app-model.md.
    "1.1": AppProfile(
        name="1.1",
        phone_number_guard=True,
        heartbeat_unsynced_count=False,
        status_store="memory",
        # Its flush drops every item once sent, refused or not (S:484-506): no B6.
        sync_refused="dropped",
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
    # 1.7.1 as a client written from the API documentation would report inbound SMS: with
    # their time, so that a server can tell "OK" from "OK" again (docs/app-model.md).
    "timed-inbound": AppProfile(name="timed-inbound", inbound_received_at=True),
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
class DozeSpec:
    """DeviceIdleController's and AlarmManager's constants, named as ``dumpsys deviceidle``
    and ``dumpsys alarm`` print them in their ``Settings:`` blocks (seconds; AOSP defaults,
    ``reference/android-and-testing.md`` §A1, §A3). ``hil devices calibrate`` reads a
    phone's into a scenario's ``[fleet.doze]``."""

    light_after_inactive_to: float = 60.0  # then up to 60 s more before light idle
    light_idle_to: float = 300.0
    light_idle_factor: float = 2.0
    light_max_idle_to: float = 900.0
    light_idle_maintenance_min_budget: float = 60.0
    inactive_to: float = 1800.0
    idle_after_inactive_to: float = 1800.0
    sensing_to: float = 240.0
    locating_to: float = 30.0
    idle_to: float = 3600.0
    idle_factor: float = 2.0
    max_idle_to: float = 21600.0
    idle_pending_to: float = 300.0  # the first deep maintenance window
    idle_pending_factor: float = 2.0
    max_idle_pending_to: float = 600.0
    allow_while_idle_quota: int = 72  # while-idle alarms per window (apps targeting S+)
    allow_while_idle_window: float = 3600.0


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
    doze: DozeSpec = field(default_factory=DozeSpec)


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
# How long a fault lasts when the scenario names no duration: the restart of a dead
# process, a reboot's time off.
DEFAULT_FAULT_DURATION = {"process_death": 10.0, "reboot": 60.0}
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
    # Its partner filter: the partner tags whose SMS it may be given (the gateway phone's
    # domain_filter, sms_gateway_phone.py); empty = every partner and SMS without one.
    serves: tuple[str, ...] = ()
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
    # Share of replies (STOP or other) that the recipient sends once more, with the same
    # text, repeat_delay +-50% (uniform) after the first: "OK" and "OK" again.
    repeat_probability: float = 0.0
    repeat_delay: float = 180.0
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
