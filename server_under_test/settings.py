"""Server settings: one explicit object handed to ``create_app``; nothing read at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["KNOWN_DEFECTS", "Settings"]

# Defects this server can reproduce on request, so that the harness can prove its oracles
# catch them: B-switches are the reference server's (reference-system.md §6), S-switches
# this server's own former bugs. All are off by default.
KNOWN_DEFECTS: dict[str, str] = {
    "B1": "queued SMS count against the capacity that gates their own release",
    "B2": "assignment subtracts already-assigned SMS twice from a phone's capacity",
    "B3": "the stuck reset measures from before pickup, re-issuing SMS a phone still sends",
    "B4": "re-assigning a campaign takes the SMS its phones are sending too: they are handed "
    "out again, maybe to another phone, and sent twice",
    "B7": "inbound dedupe by content, search-then-insert without a lock: a sender's same text "
    "within 10 minutes (any phone) or, in an inbox scan, ever (this phone) is dropped, even "
    "when a device time tells the two apart",
    "B8": "a STOP does not cancel SMS already queued for that number",
    "B9": "a queue-only campaign (send_now false) is created unpaused, its SMS committed and "
    "their phones woken, and only then paused: a poll in between is handed its SMS",
    "B10": "STOP is a substring match ('nonstop' blacklists the sender)",
    "B11": "counters move on every 'sent' confirm after an 'error', and 'error' downgrades 'sent'",
    "B17": "a campaign counts as done once none of its SMS waits to be handed out (the "
    "reference's 'sent' is a queued trace): done while its SMS are still on the phones",
    "B18": "segments counted with the reference's approximation instead of Android's split",
    "B21": "a poll at the phone's limit pauses the campaigns forced on it, and nothing resumes "
    "them: their later SMS never go out",
    "B22": "malformed device input (a limit that is not a number or negative, search null, a "
    "batch item that is not an object, unsynced_count a string) answered 500, and a reconcile "
    "with no known_ids answered without not_found_ids",
    "B25": "SMS cancelled at pickup or ended by the stuck reset do not complete their campaign: "
    "a campaign whose last SMS ends that way stays 'sending' for ever",
    "S1": "inbound-batch items without a device time are deduped only within the 10-minute "
    "window (this server before issue 8): an inbox scan after an app restart records old "
    "messages again",
    # Defect classes the reference does not have, that a server someone else wrote could.
    "C1": "the monthly reset runs on the 1st of each month, ignoring the phone's month_start_day",
    "C2": "the daily reset runs at midnight UTC instead of midnight in the server's time zone",
    "C3": "no throttling at pickup: a poll gets a whole batch whatever the phone's rate_limit",
    "C4": "capacity is counted in SMS, not segments: multi-part SMS overrun the limits",
    "C5": "pickup reads the queue, then marks it handed out without a lock or guard: two "
    "concurrent polls get the same SMS",
    "C6": "the stuck reset queues at_most_once SMS again instead of ending them as errors",
    "C7": "assignment ignores whether a phone is online: SMS wait on phones that stopped "
    "heartbeating",
    "C8": "assignment ignores the phones' partner filters",
    "C9": "heartbeat_timeout is read in seconds instead of minutes: phones count as offline "
    "between heartbeats",
    "C10": "a confirm is applied to any SMS id, whichever phone it was issued to",
    "C11": "STOP is recognised only as the exact upper-case word: 'Stop' and 'STOP.' are missed",
    "C12": "a STOP blacklists the number as the phone wrote it, so a STOP from 00420... does not "
    "stop SMS queued for +420...",
}


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know that is not in its database.

    ``admin_token`` protects the admin API; ``None`` disables the admin API entirely
    (every admin call answers 401 saying so).
    """

    database_url: str = "hil-gateway.sqlite3"
    admin_token: str | None = None
    default_region: str = "CZ"
    stop_keywords: tuple[str, ...] = ("STOP",)
    inbound_dedupe_window: timedelta = timedelta(minutes=10)
    # The live report and the WorkManager worker's report of one SMS can be hours apart:
    # Doze lets the app's foreground service report at once but defers the worker (a job)
    # to a maintenance window, up to 6 h in deep idle. A record reported once through
    # /inbound takes one more /inbound report within this time as the other of the pair.
    inbound_pair_window: timedelta = timedelta(hours=6)
    timezone: str = "Europe/Prague"
    fcm_enabled: bool = False
    fcm_credentials: str | None = None  # service-account JSON, inline or a file path
    fcm_debounce: timedelta = timedelta(seconds=5)
    migrate_on_start: bool = True
    # Run the periodic jobs on a scheduler in this process (served, real time). In virtual
    # time the harness fires them instead, through the admin API.
    run_scheduler: bool = False
    # Override job periods in seconds, e.g. (("heartbeat_check", 1.0),), for tests/demos.
    job_periods: tuple[tuple[str, float], ...] = ()
    defects: frozenset[str] = field(default_factory=frozenset)
    # Bodies above this many bytes are refused with 413 before they are read whole. The
    # largest legitimate body is the app's first inbox scan (30 days, one request): 12 000
    # items are about 1.5 MB, so 32 MiB leaves a margin of twenty.
    max_body_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        unknown = set(self.defects) - KNOWN_DEFECTS.keys()
        if unknown:
            raise ValueError(
                f"Unknown defect switch(es) {sorted(unknown)}; known: {sorted(KNOWN_DEFECTS)}."
            )
        for name, seconds in self.job_periods:
            if seconds <= 0:
                raise ValueError(f"The period of job {name!r} must be positive, got {seconds}.")
        if self.max_body_bytes < 1024:
            raise ValueError(
                f"max_body_bytes must be at least 1024 bytes, got {self.max_body_bytes}."
            )
        if not self.stop_keywords:
            raise ValueError("stop_keywords must name at least one keyword, e.g. ('STOP',).")

    def defect(self, name: str) -> bool:
        """Whether the defect switch ``name`` (``KNOWN_DEFECTS``) is on."""
        return name in self.defects
