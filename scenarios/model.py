"""A scenario as the harness runs it: a world, a workload and what to expect of the run.

The loader builds these from TOML (see ``scenarios/README.md``); they are plain frozen data,
checked by the loader, and never read a file themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from simulator.config import WorldSpec

from .fleet import Device
from .hits import HITS

__all__ = [
    "ACTIONS",
    "DEFECTS",
    "DELIVERIES",
    "HITS",
    "NUMBER_FORMATS",
    "ORACLES",
    "SIM_CHOICES",
    "THRESHOLDS",
    "Action",
    "Batch",
    "Expect",
    "Scenario",
    "Served",
    "Thresholds",
]

# The oracles of the harness, in the order it reports them.
ORACLES = (
    "exactly_once",
    "no_loss",
    "no_phantom_sent",
    "limits",
    "android_cap",
    "stop_respected",
    "counters_consistent",
    "reconcile_converges",
    "inbound_once",
    "filters_respected",
    "rejects_bad_input",
    "campaigns_complete",
    "paused_respected",
)

# The server's defect switches a scenario may turn on (server_under_test.settings).
DEFECTS = (
    *("B1", "B2", "B3", "B4", "B7", "B8", "B9", "B10", "B11", "B17", "B18", "B21", "B22", "B25"),
    "S1",
    *(f"C{n}" for n in range(1, 13)),
)

DELIVERIES = ("at_most_once", "at_least_once")

NUMBER_FORMATS = ("mixed", "e164", "00", "spaced")

# What an operator does to the server during a run: the key of an [[actions]] table that
# names the campaign. "reassign" puts a campaign's queued SMS on another phone or spreads
# them over the fleet (the app's assign-sim, Odoo's campaign wizard).
ACTIONS = ("reassign",)

# How a phone's SIMs share what it is given: "auto" (the server or the phone picks) or
# "split" (round-robin over the SIMs, the campaign wizard's split).
SIM_CHOICES = ("auto", "split")


@dataclass(frozen=True)
class Batch:
    """SMS the harness enqueues at one virtual time."""

    at: float  # seconds after the start
    count: int  # recipients, 1..1_000_000
    campaign: str | None  # campaign name (created on the server); None = transactional SMS
    delivery: str  # "at_most_once" | "at_least_once"
    bodies: tuple[str, ...]  # templates; the harness fills "{name}" and "{first_name}"
    unicode_share: float = 0.0  # share of recipients whose message gets a non-GSM character
    # Send to the first ``count`` recipients of the previous batch instead of drawing new
    # ones (a follow-up to the same people: the STOP race).
    same_recipients: bool = False
    # "auto": the server picks phone and SIM; "split": the harness spreads the batch
    # round-robin over every SIM of the fleet (the campaign wizard's split), so second SIMs
    # carry half the traffic of dual-SIM phones.
    sims: str = "auto"
    # How the harness writes the numbers it enqueues (NUMBER_FORMATS): "mixed" as people
    # write them (Faker's cs_CZ formats: +420 776 317 066, 00420 601 743 915, ...), or all
    # "e164" (+420601743915), "00" (00420601743915) or "spaced" (+420 601 743 915).
    number_format: str = "mixed"
    # Partner tags: the batch's recipients are imported as partners (contacts), the i-th
    # tagged partner_tags[i % len], and their SMS name the partner; phones' ``serves``
    # filters route them. Empty: SMS go to bare numbers, no partners.
    partner_tags: tuple[str, ...] = ()
    # The campaign's forced phone (the campaign wizard's choice), by name: every SMS of the
    # campaign goes to it. Set by the campaign's first batch; None = the server chooses.
    phone: str | None = None
    # "Queue only": the batch creates its campaign together with these SMS, paused (the
    # app's campaign/create with send_now false); nothing of it may go out until resumed.
    queue_only: bool = False
    # When the operator resumes that campaign (seconds after the start); None = never.
    resume: float | None = None


@dataclass(frozen=True)
class Action:
    """An operator's action on the server at one virtual time (``ACTIONS``)."""

    at: float  # seconds after the start
    kind: str  # ACTIONS: "reassign"
    campaign: str  # the campaign's name (created by an earlier or simultaneous batch)
    # reassign: the phone, by name, that takes the campaign's queued SMS; None = every
    # online phone of the fleet.
    phone: str | None = None
    sims: str = "auto"  # SIM_CHOICES: how each phone's SIMs share them
    # "sending": from ``at`` on, wait (up to simulator.config.FAULT_WAIT_LIMIT) for a moment
    # when SMS of the campaign are handed out and not confirmed; "any": at ``at`` exactly.
    during: str = "any"


@dataclass(frozen=True)
class Thresholds:
    """What the run must achieve, beyond every oracle green (``[expect] thresholds``): a
    capacity shortfall fails the run. ``None``: not demanded."""

    sent: float | None = None  # share of the enqueued SMS that must end sent, 0..1
    done_by: float | None = None  # run time by which every SMS must be final, seconds
    done_by_text: str = ""  # ``done_by`` as the file wrote it ("18:00", "5h")
    latency_p95: float | None = None  # enqueue to whole on the radio, 95th percentile, s
    refused: int | None = None  # the most SMS the server may refuse at enqueue

    def demanded(self) -> tuple[str, ...]:
        """The names of the thresholds set, in THRESHOLDS order."""
        return tuple(name for name in THRESHOLDS if getattr(self, name) is not None)


# The thresholds a scenario may demand, in the order they are reported.
THRESHOLDS = ("sent", "done_by", "latency_p95", "refused")


@dataclass(frozen=True)
class Expect:
    """What the run must show: the oracles judged, those expected to fail, the paths hit."""

    oracles: tuple[str, ...] = ORACLES
    fail: tuple[str, ...] = ()  # a defect demonstration: these oracles must fail
    hit: tuple[str, ...] = ()  # dangerous paths (HITS) that must really happen
    # The server's stuck timeout: an SMS handed out this long ago and never confirmed may be
    # handed out again (at_least_once); exactly_once calls an earlier re-issue a violation.
    # 30 minutes, as the reference (sms_sms.py:409-417) and this project's server.
    stuck_after: float = 1800.0
    # Defect switches this scenario exposes (``hil selftest``): (defect, oracles of which one
    # must fail when the switch is on), in file order.
    catches: tuple[tuple[str, tuple[str, ...]], ...] = ()
    thresholds: Thresholds = Thresholds()


@dataclass(frozen=True)
class Served:
    """The scenario means something only in real time against ``hil serve`` started as a
    process on PostgreSQL with ``workers`` uvicorn workers and its clock ``time_scale`` times
    the wall clock: it needs requests the server handles at the same time (in virtual time
    the server handles one request after another)."""

    workers: int = 2
    time_scale: float = 60.0


@dataclass(frozen=True)
class Scenario:
    """One runnable scenario."""

    name: str
    description: str
    path: Path | None  # the file it came from; None when loaded from a string
    seed: int
    start: datetime  # timezone-aware
    timezone: str  # IANA name of the phones' and the server's local time
    max_duration: float  # virtual seconds; the run ends by then at the latest
    drain: bool  # end early once every SMS is final and every phone has synced
    defects: tuple[str, ...]  # server defect switches (DEFECTS)
    world: WorldSpec
    workload: tuple[Batch, ...]
    expect: Expect
    served: Served | None = None  # None: meaningful under any target, virtual time too
    # The operator's actions, in time order; at the time of a batch, after the batch.
    actions: tuple[Action, ...] = ()
    # The fleet's phones over ADB (real time only); their radio ledger is read from them.
    devices: tuple[Device, ...] = ()

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario under another seed (for replays and seed sweeps)."""
        return replace(self, seed=seed)
