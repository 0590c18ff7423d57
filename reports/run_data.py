"""A run's records sorted once into what its report shows: time series in bins, per-SIM cap
usage, per-phone day usage, the fleet's timeline, what became of every SMS.

:meth:`RunData.of` reads the history's events, the server's final state and the verdicts
(plain records, as a run folder holds them) in one pass plus small per-phone ones, so a
100 000-SMS run is read in about a second. Time series are binned: at most ``MAX_BINS``
bins of a round width over the run, each holding a count (sends) or a level at its end
(queue depth, parts sent today).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .measures import enqueue_to_radio

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


def _run_time(start: datetime, server_time: Any) -> float | None:
    """A server timestamp (ISO, naive = UTC) as run seconds; None when it does not parse."""
    if not server_time:
        return None
    try:
        moment = datetime.fromisoformat(str(server_time).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - start).total_seconds()


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
        return (self.start + timedelta(seconds=t)).astimezone(self.tz).date()

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
            start = datetime.fromisoformat(str(config["start"]).replace("Z", "+00:00"))
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
        ended_at: dict[int, float] = {}
        app_sends: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        transmitted: set[int] = set()
        first_whole: dict[int, int] = {}  # sms id -> id() of its first whole transmission
        held: Counter[tuple[str, int, str]] = Counter()
        seen: dict[str, None] = dict.fromkeys(self.fleet)
        doze: dict[str, tuple[float, str]] = {}
        down: dict[str, tuple[float, str]] = {}
        beats: dict[str, list[tuple[float, float]]] = defaultdict(list)
        boots: dict[str, list[float]] = defaultdict(list)
        lines: dict[str, PhoneLine] = defaultdict(PhoneLine)
        for e in events:
            kind = e["kind"]
            t = float(e["t"])
            if kind == "radio":
                phone, sms_id = e["phone"], e["sms_id"]
                seen.setdefault(phone)
                if sms_id is not None:
                    self.radio_by_sms.setdefault(int(sms_id), []).append(e)
                    if e["parts_sent"] == e["parts"]:
                        first_whole.setdefault(int(sms_id), id(e))
                if e["cause"] == "app":
                    if sms_id is not None:
                        transmitted.add(int(sms_id))
                    if e["parts_sent"] > 0:
                        app_sends[phone].append(e)
            elif kind == "enqueued":
                for sms_id in e["ids"]:
                    queued_at.setdefault(int(sms_id), t)
            elif kind == "issued":
                for item in e["sms"]:
                    issued_at.setdefault(int(item["id"]), t)
            elif kind == "confirmed":
                for sms_id in (*e["sent"], *e["error"]):
                    ended_at.setdefault(int(sms_id), t)
            elif kind == "heartbeat":
                timeout = 60.0 * float(self.fleet.get(e["phone"], {}).get("heartbeat_timeout", 5))
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
        self.transmitted = len(transmitted)
        self._states(state, queued_at, issued_at, ended_at)
        for phone in self.phones:
            sends = app_sends.get(phone, [])
            row = [0] * self.bins
            for e in sends:
                row[self.bin_of(float(e["t"]))] += 1
            self.sends[phone] = row
            config = self.fleet.get(phone, {})
            self._caps(phone, config, sends, boots.get(phone, []), held)
            counted = [e for e in sends if self._counts(e, first_whole)]
            self._days(phone, counted)

    def _states(
        self,
        state: Mapping[str, Any],
        queued_at: Mapping[int, float],
        issued_at: Mapping[int, float],
        ended_at: dict[int, float],
    ) -> None:
        """Final states, what did not end sent and why, and the queue over time."""
        rows = {int(row["id"]): row for row in state.get("sms") or ()}
        wait_delta = [0] * (self.bins + 1)
        flight_delta = [0] * (self.bins + 1)
        for sms_id, queued in queued_at.items():
            row = rows.get(sms_id)
            final = row is not None and row["state"] in ("sent", "error", "canceled")
            if row is not None:
                self.states[row["state"]] += 1
                if row["state"] != "sent":
                    key = (
                        str(row["state"]),
                        str(row.get("failure_type") or ""),
                        str(row.get("error_message") or ""),
                    )
                    self.not_sent.setdefault(key, []).append(sms_id)
            ended = ended_at.get(sms_id)
            if ended is None and final:  # ended by the server itself: a cancel, the stuck reset
                ended = _run_time(self.start, row.get("updated_at")) if row else None
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

    @staticmethod
    def _counts(send: Mapping[str, Any], first_whole: Mapping[int, int]) -> bool:
        """Whether a send counts toward the phone's limits as the limits oracle counts it:
        a repeat of an SMS some radio had already sent whole does not (its parts are the
        oracle's ``repeat_parts``)."""
        sms_id = send["sms_id"]
        return sms_id is None or first_whole.get(int(sms_id), id(send)) == id(send)

    def _caps(
        self,
        phone: str,
        config: Mapping[str, Any],
        sends: Sequence[Mapping[str, Any]],
        boots: Sequence[float],
        held: Counter[tuple[str, int, str]],
    ) -> None:
        """Android's cap per SIM slot: a window of ``period`` seconds over the parts the app
        handed to Android, reset by a boot (which reads the cap in force then)."""
        later = config.get("caps_after_reboot") or config.get("caps") or ()
        uses: dict[int, CapUse] = {}
        edges = [0.0, *boots, math.inf]
        for n, (begin, end) in enumerate(pairwise(edges)):
            for cap in config.get("caps") or () if n == 0 else later:
                if cap.get("exempt"):
                    continue
                slot, period, most = int(cap["slot"]), float(cap["period"]), int(cap["max_count"])
                use = uses.get(slot)
                if use is None:
                    use = uses[slot] = CapUse(phone, slot, most, period, lowest=[most] * self.bins)
                    use.held = held[(phone, slot, "hold")]
                    use.refused = held[(phone, slot, "refuse")]
                counted = sorted(
                    (float(e.get("submitted", e["t"])), int(e["parts"]))
                    for e in sends
                    if e["sim_slot"] == slot and begin <= float(e.get("submitted", e["t"])) < end
                )
                total = oldest = 0
                for newest, (t, parts) in enumerate(counted):
                    total += parts
                    while oldest < newest and counted[oldest][0] <= t - period:
                        total -= counted[oldest][1]
                        oldest += 1
                    use.peak = max(use.peak, total)
                    b = self.bin_of(t)
                    use.lowest[b] = min(use.lowest[b], most - total)
                    # the window stays that full until its oldest part leaves it
                    leaves = min(counted[oldest][0] + period, end, self.span)
                    for later_bin in range(b + 1, self.bin_of(leaves) + 1):
                        use.lowest[later_bin] = min(use.lowest[later_bin], most - total)
        self.caps += [uses[slot] for slot in sorted(uses)]

    def _days(self, phone: str, counted: Sequence[Mapping[str, Any]]) -> None:
        """Parts toward the phone's daily limit per local day, and the parts sent that local
        day at each bin's end (back to zero at local midnight)."""
        days: Counter[date] = Counter()
        times: list[float] = []
        total = [0]  # parts sent up to each send, inclusive, in time order
        day_lo = day_hi = -math.inf
        current = date.min
        for e in counted:
            t = float(e["t"])
            if not day_lo <= t < day_hi:
                current = self.day(t)
                day_lo, day_hi = self._midnight(current), self._midnight(current, 1)
            days[current] += int(e["parts"])
            times.append(t)
            total.append(total[-1] + int(e["parts"]))
        today = [0] * self.bins
        for b in range(self.bins):
            end = min((b + 1) * self.width, self.span)
            midnight = self._midnight(self.day(end))
            today[b] = total[bisect_right(times, end)] - total[bisect_left(times, midnight)]
        self.day_parts[phone] = days
        self.today[phone] = today

    def _midnight(self, day: date, later: int = 0) -> float:
        """The run time of the local midnight that begins ``day`` (+ ``later`` days)."""
        local = datetime.combine(day + timedelta(days=later), time(), tzinfo=self.tz)
        return (local - self.start).total_seconds()
