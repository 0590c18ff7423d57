"""What a phone's sends put against its limits, as the ``limits`` and ``android_cap`` oracles
judge it and the report draws it: defined here once, over plain records (the history's
``radio`` events, a phone's config from the history's ``config`` event).

- :func:`first_whole` and :func:`counts_toward_limits`: a repeat of an SMS some radio had
  already sent whole does not count toward a phone's parts (the server never heard of the
  first send; whether it could hand it out again is ``exactly_once``'s to judge);
- :func:`parts_use`: the counted sends of a phone with their local day, and the repeats' parts;
- :func:`cap_windows`: Android's cap per SIM slot and boot, with the sends it counts;
- :func:`window_totals` and :func:`over_window`: a sliding window over weighted points.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

from .measures import sent_whole
from .run_clock import Calendar

__all__ = [
    "CapWindow",
    "PartsUse",
    "cap_windows",
    "counts_toward_limits",
    "first_whole",
    "over_window",
    "parts_use",
    "window_totals",
]

Event = Mapping[str, Any]


def first_whole(radio: Iterable[Event]) -> dict[int, Event]:
    """Each SMS's first transmission that left a radio whole (any phone, any cause)."""
    first: dict[int, Event] = {}
    for event in radio:
        if event["sms_id"] is not None and sent_whole(event):
            first.setdefault(int(event["sms_id"]), event)
    return first


def counts_toward_limits(send: Event, whole: Mapping[int, Event]) -> bool:
    """Whether an app's send counts toward its phone's parts: not when some other
    transmission of the same SMS left a radio whole first (``whole``: :func:`first_whole`)."""
    sms_id = send["sms_id"]
    return sms_id is None or whole.get(int(sms_id), send) is send


@dataclass(frozen=True)
class PartsUse:
    """A phone's app sends against its daily and monthly limits."""

    counted: list[tuple[float, date, int]]  # (run time, local day, parts), in time order
    repeat_parts: int  # parts of the sends that repeat an SMS already sent whole

    def per_day(self) -> Counter[date]:
        """Parts counted per local day."""
        days: Counter[date] = Counter()
        for _, day, parts in self.counted:
            days[day] += parts
        return days


def parts_use(sends: Iterable[Event], whole: Mapping[int, Event], calendar: Calendar) -> PartsUse:
    """What a phone's app sends (in time order) put against its limits: the sends that count,
    on their local day, and the parts of the repeats (see :func:`counts_toward_limits`)."""
    counted: list[tuple[float, date, int]] = []
    repeats = 0
    for event in sends:
        parts = int(event["parts"])
        if counts_toward_limits(event, whole):
            t = float(event["t"])
            counted.append((t, calendar.day(t), parts))
        else:
            repeats += parts
    return PartsUse(counted, repeats)


@dataclass(frozen=True)
class CapWindow:
    """Android's cap on one SIM slot during one boot, and the sends it counts there."""

    slot: int
    max_count: int
    period: float  # seconds
    boot: int  # 0: the phone's first boot; n: after its n-th reboot
    begin: float  # run time of that boot
    end: float  # run time of the next reboot, inf for the last
    sends: list[tuple[float, int]]  # (when the app handed it to Android, parts), in time order


def cap_windows(
    config: Mapping[str, Any], sends: Iterable[Event], reboots: Sequence[float]
) -> list[CapWindow]:
    """Android's cap over a phone's app sends, per boot and SIM slot (exempt slots left out).

    A boot gives the slots fresh monitors, which read the cap then: the first boot has the
    config's ``caps``, each boot after a reboot the ``caps_after_reboot`` in force since.
    The cap counts a message when the app hands it to Android (``submitted``), not when the
    carrier took it: latency must not smear the window."""
    handed = [(float(e.get("submitted", e["t"])), int(e["parts"]), e["sim_slot"]) for e in sends]
    later = config.get("caps_after_reboot") or config.get("caps") or ()
    windows: list[CapWindow] = []
    for n, (begin, end) in enumerate(pairwise([0.0, *reboots, math.inf])):
        for cap in config.get("caps") or () if n == 0 else later:
            if cap.get("exempt"):
                continue
            slot = int(cap["slot"])
            counted = sorted((t, parts) for t, parts, s in handed if s == slot and begin <= t < end)
            windows.append(
                CapWindow(slot, int(cap["max_count"]), float(cap["period"]), n, begin, end, counted)
            )
    return windows


def window_totals(
    times: Sequence[float], weights: Sequence[int], width: float
) -> Iterator[tuple[float, int, float]]:
    """Slide a window (x - width, x] over weighted points in time order: for each point x,
    (x, the sum in the window ending at it, the time of the oldest point in that window)."""
    total = oldest = 0
    for newest, t in enumerate(times):
        total += weights[newest]
        while oldest < newest and times[oldest] <= t - width:
            total -= weights[oldest]
            oldest += 1
        yield t, total, times[oldest]


def over_window(
    times: Sequence[float], weights: Sequence[int], width: float, limit: int | None
) -> tuple[int, list[tuple[float, int]]]:
    """The peak sum of :func:`window_totals`, and every (x, sum) at which the sum exceeded
    ``limit``."""
    peak = 0
    over: list[tuple[float, int]] = []
    for t, total, _ in window_totals(times, weights, width):
        peak = max(peak, total)
        if limit is not None and total > limit:
            over.append((t, total))
    return peak, over
