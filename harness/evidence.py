"""The evidence a finished run leaves, and what the oracles share to judge it.

:class:`Evidence` is a run's history (events in time order, the radio ledger among them)
and the server's final state; ``Evidence.index`` sorts it once into what the oracles look
up. :class:`Verdict` is what one oracle concludes, and :class:`Findings` collects its
violations. The rules the oracles share with the run report (when an SMS became final,
run time against the server's clock, what a transmission counts as) are ``reports``'
measures, imported from there so that the two cannot disagree; otherwise standard library
only, so a history saved as JSONL can be judged anywhere.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from reports import (
    app_send,
    ended_at,
    first_acks,
    heartbeat_timeout,
    run_time,
    sent_whole,
    utc_moment,
)

__all__ = [
    "CLOCK_SLACK",
    "MAX_EXAMPLES",
    "RATE_SLACK",
    "Event",
    "Evidence",
    "Findings",
    "Index",
    "Verdict",
    "canonical",
    "listed",
]

# The server paces a phone by what it hands out, on its own clock; the history records each
# hand-out at the phone's end of a trip whose jitter the server cannot know. A minute is
# judged as 59 s, so a hand-out 60.00 s after the last one seen 10 ms sooner is no breach.
RATE_SLACK = 1.0
# Slack the oracles give the server's clock against the harness's: a real-time target's
# times reach the history with the network's latency, scaled by the time scale.
CLOCK_SLACK = 60.0
MAX_EXAMPLES = 20  # violations kept as examples per verdict; all of them are counted

Event = Mapping[str, Any]


@dataclass(frozen=True)
class Evidence:
    """A finished run: its history in time order and the server's final state.

    The oracles index the history once per Evidence, so do not mutate it after judging.
    """

    events: Sequence[Mapping[str, Any]]
    server: Mapping[str, Any]

    @cached_property
    def index(self) -> Index:
        return Index(self)


@dataclass(frozen=True)
class Verdict:
    """What one oracle concluded about a run."""

    name: str
    passed: bool
    checked: int
    violation_count: int
    violations: tuple[str, ...]
    figures: Mapping[str, float | int]
    summary: str
    judged: bool = True  # False: the target exposes no state this oracle needs
    # The run time of the earliest violation that has one (an end state has none).
    first_at: float | None = None

    @classmethod
    def not_judged(cls, name: str, missing: Sequence[str]) -> Verdict:
        """An oracle that cannot judge this target: never a silent pass."""
        what = " and no ".join(f"{part} state" for part in missing)
        return cls(name, False, 0, 0, (), {}, f"not judged: the target exposes no {what}", False)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready plain data."""
        return {**asdict(self), "violations": list(self.violations), "figures": dict(self.figures)}


class Findings:
    """Violations found so far: every one counted, the first MAX_EXAMPLES kept."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []
        self.first_at: float | None = None

    def add(self, text: str | Callable[[], str], at: float | None = None) -> None:
        """Count a violation; ``text`` may be a function, so unkept texts cost nothing.
        ``at``: the run time it happened, when it happened at one."""
        self.count += 1
        if at is not None and (self.first_at is None or at < self.first_at):
            self.first_at = float(at)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text if isinstance(text, str) else text())

    def verdict(
        self, name: str, checked: int, what: str, broken: str, figures: Mapping[str, float | int]
    ) -> Verdict:
        if checked == 0 and self.count == 0:
            summary = f"nothing to judge: no {what}"
        else:
            summary = f"{checked} {what} judged, {self.count} {broken}"
        return Verdict(
            name,
            self.count == 0,
            checked,
            self.count,
            tuple(self.examples),
            dict(figures),
            summary,
            first_at=self.first_at,
        )


class Index:
    """The evidence sorted once into what the oracles look up.

    Events are kept with their position in the history, so "after" means later in the
    history even when two events share a virtual time.
    """

    _KINDS = (
        "enqueued",
        "issued",
        "heartbeat",
        "confirmed",
        "stop_reply",
        "radio",
        "cap",
        "inbound_received",
        "inbound_ack",
        "app_final",
        "fault",
        "persona",
        "campaign",
    )

    def __init__(self, evidence: Evidence) -> None:
        buckets: dict[str, list[tuple[int, Event]]] = {kind: [] for kind in self._KINDS}
        self._config: Event | None = None
        for pos, event in enumerate(evidence.events):
            kind = event["kind"]
            bucket = buckets.get(kind)
            if bucket is not None:
                bucket.append((pos, event))
            elif kind == "config":
                if pos != 0:
                    raise ValueError(
                        f"The history has a config event at position {pos}; a run has exactly "
                        "one, and it comes first."
                    )
                self._config = event
        self.enqueued = buckets["enqueued"]
        self.issued = buckets["issued"]
        self.confirmed = buckets["confirmed"]
        self.stop_replies = buckets["stop_reply"]
        self.heartbeats: dict[str, list[float]] = defaultdict(list)
        for _, event in buckets["heartbeat"]:
            self.heartbeats[event["phone"]].append(float(event["t"]))
        self.radio = buckets["radio"]
        self.caps = buckets["cap"]
        self.received = buckets["inbound_received"]
        self.acks = buckets["inbound_ack"]
        self.app_finals = buckets["app_final"]
        self.personas = buckets["persona"]
        self.campaign_states = buckets["campaign"]
        self.reboots: dict[str, list[float]] = defaultdict(list)
        for _, event in buckets["fault"]:
            if event.get("fault") == "reboot":
                self.reboots[event["phone"]].append(float(event["t"]))
        self.enqueued_ids = list(
            dict.fromkeys(int(i) for _, event in buckets["enqueued"] for i in event["ids"])
        )
        server = evidence.server
        self.sms: dict[int, Event] = {int(row["id"]): row for row in server.get("sms", ())}
        self.server_phones: list[Event] = list(server.get("phones", ()))
        self.server_inbound: list[Event] = list(server.get("inbound", ()))
        self.server_campaigns: list[Event] = list(server.get("campaigns", ()))

    @property
    def config(self) -> Event:
        if self._config is None:
            raise ValueError(
                "The history has no config event; record the run's configuration first so "
                "the oracles know its start, time zone and phones."
            )
        return self._config

    @cached_property
    def start(self) -> datetime:
        return utc_moment(self.config["start"])

    @cached_property
    def tz(self) -> tzinfo:
        return ZoneInfo(str(self.config.get("timezone", "UTC")))

    @property
    def phones(self) -> Mapping[str, Event]:
        phones: Mapping[str, Event] = self.config.get("phones", {})
        return phones

    @cached_property
    def radio_by_sms(self) -> dict[int, list[Event]]:
        grouped: dict[int, list[Event]] = defaultdict(list)
        for _, event in self.radio:
            if event["sms_id"] is not None:
                grouped[int(event["sms_id"])].append(event)
        return grouped

    @cached_property
    def issues_by_sms(self) -> dict[int, list[tuple[int, Event]]]:
        """Every hand-out of each SMS: (position, issued event), in history order."""
        grouped: dict[int, list[tuple[int, Event]]] = defaultdict(list)
        for pos, event in self.issued:
            for item in event["sms"]:
                grouped[int(item["id"])].append((pos, event))
        return grouped

    def ended_at(self, sms_id: int) -> float | None:
        """When an SMS became final (``reports.ended_at``): the server acknowledged a phone's
        final status of it, or (one the server ended itself: a cancel, the stuck reset) its
        final row last changed."""
        ack = self.first_ack.get(sms_id)
        start = self.start if self._config is not None else None
        return ended_at(None if ack is None else ack[1], self.sms.get(sms_id), start)

    def failed_at_enqueue(self, sms_id: int) -> bool:
        """Whether the server failed an SMS when it was enqueued (``error`` /
        ``sms_server``: no phone to take it) and never handed it out."""
        row = self.sms.get(sms_id)
        return (
            row is not None
            and row["state"] == "error"
            and row.get("failure_type") == "sms_server"
            and sms_id not in self.issues_by_sms
        )

    @cached_property
    def issued_by_phone(self) -> dict[str, list[Event]]:
        """The hand-outs to each phone, in history order."""
        grouped: dict[str, list[Event]] = defaultdict(list)
        for _, event in self.issued:
            grouped[event["phone"]].append(event)
        return grouped

    @cached_property
    def tag_of(self) -> dict[int, str]:
        """The partner tag of each SMS enqueued for a tagged partner."""
        return {
            int(sms_id): tag
            for _, event in self.enqueued
            for sms_id, tag in zip(event.get("ids", ()), event.get("tags", ()), strict=False)
        }

    @cached_property
    def campaign_of(self) -> dict[int, str]:
        """The campaign (its name in the scenario) of each SMS enqueued with one."""
        return {
            int(sms_id): str(event["campaign"])
            for _, event in self.enqueued
            if event.get("campaign") is not None
            for sms_id in event["ids"]
        }

    def serves(self, phone: str, sms_id: int) -> bool:
        """Whether ``phone``'s partner filter lets it carry SMS ``sms_id`` (a phone with a
        filter takes only SMS to partners with one of its tags)."""
        allowed = self.phones[phone].get("serves") or ()
        return not allowed or self.tag_of.get(sms_id) in allowed

    @cached_property
    def first_ack(self) -> dict[int, tuple[int, float, str]]:
        """The first final status the server acknowledged for each SMS: (position, time,
        ``sent`` or ``error``)."""
        return first_acks(self.confirmed)

    @cached_property
    def stopped(self) -> dict[str, list[tuple[int, str]]]:
        """Recipients who replied STOP: canonical number -> (position, text) of each reply."""
        grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for pos, event in self.stop_replies:
            grouped[canonical(event["recipient"])].append((pos, event.get("body", "")))
        return grouped

    def online_at(self, phone: str, t: float, margin: float) -> float | None:
        """When ``phone``'s latest accepted heartbeat before ``t`` was, if the server must
        still count it online at ``t`` (within its heartbeat timeout less ``margin``)."""
        beats = self.heartbeats.get(phone, ())
        n = bisect_right(beats, t)
        if n == 0:
            return None
        last = beats[n - 1]
        timeout = heartbeat_timeout(self.phones[phone])
        return last if t - last < timeout - margin else None

    @cached_property
    def sent_ids(self) -> list[int]:
        """Ids of the SMS the server ends with as sent, in id order."""
        return sorted(sms_id for sms_id, row in self.sms.items() if row["state"] == "sent")

    @cached_property
    def fully_sent(self) -> set[int]:
        """Ids of SMS that left some radio whole at least once."""
        return {
            int(event["sms_id"])
            for _, event in self.radio
            if event["sms_id"] is not None and sent_whole(event)
        }

    @cached_property
    def app_sends_by_phone(self) -> dict[str, list[Event]]:
        """Transmissions the app made that reached the network, per phone."""
        grouped: dict[str, list[Event]] = defaultdict(list)
        for _, event in self.radio:
            if app_send(event):
                grouped[event["phone"]].append(event)
        return grouped

    def run_time(self, server_time: Any) -> float | None:
        """A server timestamp (ISO, naive = UTC) as seconds since the run's start; None when
        there is none or it does not parse."""
        return None if self._config is None else run_time(self.start, server_time)

    def when(self, t: float) -> str:
        """A run time for people: virtual seconds plus the UTC wall time when known."""
        if self._config is None:
            return f"t={t:g}s"
        wall = (self.start + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S")
        return f"t={t:g}s ({wall}Z)"


def listed(items: Sequence[Any], most: int = 10, show: Callable[[Any], str] = str) -> str:
    """The first ``most`` items for people, and how many more there are."""
    text = ", ".join(show(item) for item in items[:most])
    return text + (f" and {len(items) - most} more" if len(items) > most else "")


def canonical(number: str) -> str:
    """A number as one key, however it was written: ``+420 601 743 915``,
    ``00420601743915`` and ``+420601743915`` are the same phone."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("00"):
        digits = digits[2:]
    return "+" + digits
