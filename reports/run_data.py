"""A run's records sorted once into what its report shows: time series in bins, per-SIM cap
usage, per-phone day usage, the fleet's timeline, what became of every SMS.

:meth:`RunData.of` reads the history's events, the server's final state and the verdicts
(plain records, as a run folder holds them) in one pass plus small per-phone ones, so a
100 000-SMS run is read in about a second. Time series are binned: at most ``MAX_BINS``
bins of a round width over the run, each holding a count (sends) or a level at its end
(queue depth, parts sent today). Every rule a verdict also judges by (when an SMS became
final, what counts toward a limit, Android's cap windows, the local day) is the oracles'
own, from ``reports.measures``, ``reports.limits`` and ``reports.run_clock``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .limits import cap_windows, first_whole, parts_use, window_totals
from .measures import (
    app_send,
    app_transmissions,
    ended_at,
    enqueue_to_radio,
    first_acks,
    heartbeat_timeout,
)
from .run_clock import Calendar, utc_moment

__all__ = ["CapUse", "PhoneLine", "RunData"]

MAX_BINS = 120  # enough to see the shape; fewer, and bursts of a poll's batch read as noise
# Bin widths, seconds: the narrowest that keeps a run within MAX_BINS bins.
_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 86400)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # a run whose history names no start: t=0 is 00:00
_DOWN_FAULTS = ("process_death", "reboot")  # the app is gone until its next app_start


@dataclass
class CapUse:
    """One capped SIM slot: Android's cap, the peak of its window and the headroom over time."""

    phone: str
    slot: int
    max_count: int
    period: float
    peak: int = 0  # the most parts in one window
    lowest: list[int] = field(default_factory=list)  # per bin: cap - the fullest window in it
    held: int = 0
    refused: int = 0


@dataclass
class PhoneLine:
    """What one phone's row of the timeline shows: spans (start, end) and fault moments."""

    online: list[tuple[float, float]] = field(default_factory=list)
    doze: list[tuple[float, float, str]] = field(default_factory=list)
    down: list[tuple[float, float, str]] = field(default_factory=list)  # off, app dead, no network
    faults: list[tuple[float, str]] = field(default_factory=list)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for begin, end in sorted(spans):
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


@dataclass
class RunData:
    """Everything the run report draws and tabulates (see the module docstring)."""

    start: datetime
    tz: tzinfo
    calendar: Calendar  # the local days of run times
    span: float
    width: float
    fleet: dict[str, dict[str, Any]]
    phones: list[str]
    sends: dict[str, list[int]]  # phone -> app transmissions that reached the network, per bin
    transmitted: int  # distinct SMS some app transmitted (exactly_once's "transmitted")
    waiting: list[int]  # per bin end: enqueued, not yet handed out, not final
    in_flight: list[int]  # per bin end: handed out, not yet final
    latencies: list[float]
    states: Counter[str]  # the enqueued SMS by the server's final state
    not_sent: dict[tuple[str, str, str], list[int]]  # (state, failure_type, message) -> ids
    caps: list[CapUse]
    cap_verdicts: Counter[str]  # "hold" / "refuse" -> messages Android's cap stopped
    day_parts: dict[str, Counter[date]]  # phone -> local day -> parts toward its daily_limit
    today: dict[str, list[int]]  # phone -> per bin end: parts sent that local day
    lines: dict[str, PhoneLine]
    failed_requests: Counter[tuple[str, str]]  # (endpoint, outcome) -> requests the app saw fail
    radio_by_sms: dict[int, list[Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def bins(self) -> int:
        """How many bins the run's time series have."""
        return len(self.waiting)

    def bin_of(self, t: float) -> int:
        """The bin a run time falls in (the run's end belongs to the last bin)."""
        return min(self.bins - 1, max(0, int(t // self.width)))

    def day(self, t: float) -> date:
        """The local calendar day of a run time."""
        return self.calendar.day(t)

    @classmethod
    def of(
        cls,
        events: Sequence[Mapping[str, Any]],
        state: Mapping[str, Any],
        meta: Mapping[str, Any],
    ) -> RunData:
        """Sort one run's records (see the module docstring)."""
        config = next((e for e in events[:1] if e["kind"] == "config"), {})
        start = _EPOCH
        if config.get("start"):
            start = utc_moment(config["start"])
        try:
            tz: tzinfo = ZoneInfo(str(config.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        last = float(events[-1]["t"]) if events else 0.0
        span = max(float(meta.get("virtual_seconds") or 0.0), last, 1.0)
        width = float(next((w for w in _WIDTHS if span / w <= MAX_BINS), _WIDTHS[-1]))
        nbins = max(1, math.ceil(span / width))
        fleet: dict[str, dict[str, Any]] = dict(config.get("phones") or {})
        data = cls(
            start=start,
            tz=tz,
            calendar=Calendar(start, tz),
            span=span,
            width=width,
            fleet=fleet,
            phones=[],
            sends={},
            transmitted=0,
            waiting=[0] * nbins,
            in_flight=[0] * nbins,
            latencies=enqueue_to_radio(events),
            states=Counter(),
            not_sent={},
            caps=[],
            cap_verdicts=Counter(),
            day_parts={},
            today={},
            lines={},
            failed_requests=Counter(),
        )
        data._read(events, state)
        return data

    # -- the pass over the history --------------------------------------------------------

    def _read(self, events: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> None:
        queued_at: dict[int, float] = {}
        issued_at: dict[int, float] = {}
        confirmed: list[tuple[int, Mapping[str, Any]]] = []
        radio: list[Mapping[str, Any]] = []
        app_sends: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        held: Counter[tuple[str, int, str]] = Counter()
        seen: dict[str, None] = dict.fromkeys(self.fleet)
        doze: dict[str, tuple[float, str]] = {}
        down: dict[str, tuple[float, str]] = {}
        beats: dict[str, list[tuple[float, float]]] = defaultdict(list)
        boots: dict[str, list[float]] = defaultdict(list)
        lines: dict[str, PhoneLine] = defaultdict(PhoneLine)
        for pos, e in enumerate(events):
            kind = e["kind"]
            t = float(e["t"])
            if kind == "radio":
                phone, sms_id = e["phone"], e["sms_id"]
                seen.setdefault(phone)
                radio.append(e)
                if sms_id is not None:
                    self.radio_by_sms.setdefault(int(sms_id), []).append(e)
                if app_send(e):
                    app_sends[phone].append(e)
            elif kind == "enqueued":
                for sms_id in e["ids"]:
                    queued_at.setdefault(int(sms_id), t)
            elif kind == "issued":
                for item in e["sms"]:
                    issued_at.setdefault(int(item["id"]), t)
            elif kind == "confirmed":
                confirmed.append((pos, e))
            elif kind == "heartbeat":
                timeout = heartbeat_timeout(self.fleet.get(e["phone"], {}))
                beats[e["phone"]].append((t, t + timeout))
            elif kind == "doze":
                phone = e["phone"]
                if phone in doze and doze[phone][1] != "active":
                    lines[phone].doze.append((doze[phone][0], t, doze[phone][1]))
                doze[phone] = (t, e["state"])
            elif kind == "fault":
                phone, fault = e["phone"], e["fault"]
                lines[phone].faults.append((t, fault))
                if fault == "partition" and e.get("until") is not None:
                    lines[phone].down.append((t, float(e["until"]), "partition"))
                elif fault in _DOWN_FAULTS:
                    down.setdefault(phone, (t, fault))
                    if fault == "reboot":
                        boots[phone].append(t)
            elif kind == "app_start":
                phone = e["phone"]
                if phone in down:
                    begin, fault = down.pop(phone)
                    lines[phone].down.append((begin, t, fault))
            elif kind == "cap":
                held[(e["phone"], int(e["sim_slot"]), e["verdict"])] += 1
                self.cap_verdicts[e["verdict"]] += 1
            elif kind == "request":
                self.failed_requests[(e["endpoint"], e["outcome"])] += 1
        end = self.span
        for phone, (begin, what) in doze.items():
            if what != "active":
                lines[phone].doze.append((begin, end, what))
        for phone, (begin, fault) in down.items():
            lines[phone].down.append((begin, end, fault))
        for phone, spans in beats.items():
            lines[phone].online = _merge([(a, min(b, end)) for a, b in spans])
        self.phones = sorted(seen)
        self.lines = {phone: lines[phone] for phone in self.phones}
        self.transmitted = len(app_transmissions(radio))
        self._states(state, queued_at, issued_at, first_acks(confirmed))
        whole = first_whole(radio)
        for phone in self.phones:
            sends = app_sends.get(phone, [])
            row = [0] * self.bins
            for e in sends:
                row[self.bin_of(float(e["t"]))] += 1
            self.sends[phone] = row
            config = self.fleet.get(phone, {})
            self._caps(phone, config, sends, boots.get(phone, []), held)
            self._days(phone, sends, whole)

    def _states(
        self,
        state: Mapping[str, Any],
        queued_at: Mapping[int, float],
        issued_at: Mapping[int, float],
        acks: Mapping[int, tuple[int, float, str]],
    ) -> None:
        """Final states, what did not end sent and why, and the queue over time."""
        rows = {int(row["id"]): row for row in state.get("sms") or ()}
        wait_delta = [0] * (self.bins + 1)
        flight_delta = [0] * (self.bins + 1)
        for sms_id, queued in queued_at.items():
            row = rows.get(sms_id)
            if row is not None:
                self.states[row["state"]] += 1
                if row["state"] != "sent":
                    key = (
                        str(row["state"]),
                        str(row.get("failure_type") or ""),
                        str(row.get("error_message") or ""),
                    )
                    self.not_sent.setdefault(key, []).append(sms_id)
            ack = acks.get(sms_id)
            ended = ended_at(None if ack is None else ack[1], row, self.start)
            issued = issued_at.get(sms_id)
            left = min(x for x in (issued, ended, math.inf) if x is not None)
            wait_delta[self.bin_of(queued)] += 1
            if left != math.inf:
                wait_delta[self.bin_of(left)] -= 1
            if issued is not None and (ended is None or ended >= issued):
                flight_delta[self.bin_of(issued)] += 1
                if ended is not None:
                    flight_delta[self.bin_of(ended)] -= 1
        waiting = flying = 0
        for b in range(self.bins):
            waiting += wait_delta[b]
            flying += flight_delta[b]
            self.waiting[b], self.in_flight[b] = waiting, flying

    def _caps(
        self,
        phone: str,
        config: Mapping[str, Any],
        sends: Sequence[Mapping[str, Any]],
        boots: Sequence[float],
        held: Counter[tuple[str, int, str]],
    ) -> None:
        """Android's cap per SIM slot (``reports.limits.cap_windows``, as ``android_cap``
        judges it): the peak of its window and the least headroom in each bin."""
        uses: dict[int, CapUse] = {}
        for window in cap_windows(config, sends, boots):
            slot, period, most = window.slot, window.period, window.max_count
            use = uses.get(slot)
            if use is None:
                use = uses[slot] = CapUse(phone, slot, most, period, lowest=[most] * self.bins)
                use.held = held[(phone, slot, "hold")]
                use.refused = held[(phone, slot, "refuse")]
            times = [t for t, _ in window.sends]
            weights = [parts for _, parts in window.sends]
            for t, total, oldest in window_totals(times, weights, period):
                use.peak = max(use.peak, total)
                b = self.bin_of(t)
                use.lowest[b] = min(use.lowest[b], most - total)
                # the window stays that full until its oldest part leaves it
                leaves = min(oldest + period, window.end, self.span)
                for later_bin in range(b + 1, self.bin_of(leaves) + 1):
                    use.lowest[later_bin] = min(use.lowest[later_bin], most - total)
        self.caps += [uses[slot] for slot in sorted(uses)]

    def _days(
        self,
        phone: str,
        sends: Sequence[Mapping[str, Any]],
        whole: Mapping[int, Mapping[str, Any]],
    ) -> None:
        """Parts toward the phone's daily limit per local day (``reports.limits.parts_use``,
        as ``limits`` counts them), and the parts sent that local day at each bin's end
        (back to zero at local midnight)."""
        use = parts_use(sends, whole, self.calendar)
        times = [t for t, _, _ in use.counted]
        total = [0]  # parts sent up to each send, inclusive, in time order
        for _, _, parts in use.counted:
            total.append(total[-1] + parts)
        today = [0] * self.bins
        for b in range(self.bins):
            end = min((b + 1) * self.width, self.span)
            midnight = self.calendar.midnight(self.day(end))
            today[b] = total[bisect_right(times, end)] - total[bisect_left(times, midnight)]
        self.day_parts[phone] = use.per_day()
        self.today[phone] = today
