"""Measures that the reports and the harness's thresholds state alike, defined once here so
that a figure in a report and the same figure in ``verdicts.json`` cannot disagree.

- :func:`percentile`: nearest rank (the smallest value with at least q % of the values at
  or below it), the definition ``threshold:latency_p95`` judges by;
- :func:`enqueue_to_radio`: per SMS, from its first enqueue to the first time it left a
  radio whole (every part reached the network);
- :func:`endpoint_of`: a device endpoint as one name (``confirm/17`` is ``confirm/{id}``);
- :func:`sent_whole`, :func:`app_send`, :func:`app_transmissions`: what a ``radio`` event
  says of an SMS (every part reached the network; the app's own send that reached it; the
  SMS some app transmitted, ``exactly_once``'s ``transmitted``);
- :func:`first_acks` and :func:`ended_at`: when an SMS became final (``TERMINAL``);
- :func:`heartbeat_timeout`: how long the server counts a phone online after a heartbeat;
- :func:`ended_sent`: how many of the enqueued SMS the server ended ``sent``
  (``threshold:sent`` and ``hil report diff``'s share sent).

Run time against the calendar is ``reports.run_clock``'s; what sends put against a phone's
limits and Android's cap is ``reports.limits``'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from .run_clock import run_time

__all__ = [
    "TERMINAL",
    "app_send",
    "app_transmissions",
    "ended_at",
    "ended_sent",
    "endpoint_of",
    "enqueue_to_radio",
    "first_acks",
    "heartbeat_timeout",
    "percentile",
    "sent_whole",
]

TERMINAL = frozenset({"sent", "error", "canceled"})  # the server's final SMS states
Event = Mapping[str, Any]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted ``values`` by nearest rank, 0 when empty:
    the value at rank ceil(q/100 * n), so p95 of 20 values is the 19th."""
    if not values:
        return 0.0
    # exact arithmetic: 95 % of 20 is 19, never 19.000000000000004 (which would be rank 20)
    rank = math.ceil(Fraction(repr(float(q))) * len(values) / 100)
    return values[min(len(values), max(rank, 1)) - 1]


def enqueue_to_radio(events: Iterable[Mapping[str, Any]]) -> list[float]:
    """Seconds from each SMS's first enqueue to its first whole transmission, sorted; SMS
    never enqueued by the harness (a persona's) or never sent whole are not counted."""
    queued_at: dict[int, float] = {}
    first_whole: dict[int, float] = {}
    for event in events:
        kind = event["kind"]
        if kind == "enqueued":
            t = float(event["t"])
            for sms_id in event["ids"]:
                queued_at.setdefault(int(sms_id), t)
        elif kind == "radio" and event["sms_id"] is not None and sent_whole(event):
            first_whole.setdefault(int(event["sms_id"]), float(event["t"]))
    return sorted(t - queued_at[i] for i, t in first_whole.items() if i in queued_at)


def endpoint_of(path: str) -> str:
    """A device endpoint (``pending``, ``confirm/17``, ``/sms-gateway/confirm/17``) as the
    name requests are grouped by: its id segments written ``{id}``."""
    name = path.split("?", 1)[0].strip("/").removeprefix("sms-gateway/")
    return "/".join("{id}" if part.isdigit() else part for part in name.split("/"))


def sent_whole(radio: Event) -> bool:
    """Whether a transmission left the radio whole: every part reached the network."""
    return bool(radio["parts_sent"] == radio["parts"])


def app_send(radio: Event) -> bool:
    """Whether a transmission is the app's own send (not a telephony retry) and reached the
    network (at least one part): what a phone's limits and Android's cap count."""
    return bool(radio["cause"] == "app" and radio["parts_sent"] > 0)


def app_transmissions(radio: Iterable[Event]) -> dict[int, list[float]]:
    """The times each SMS was transmitted by an app (not a telephony retry), whatever reached
    the network; its keys are the SMS some app transmitted."""
    times: dict[int, list[float]] = {}
    for event in radio:
        if event["sms_id"] is not None and event["cause"] == "app":
            times.setdefault(int(event["sms_id"]), []).append(event["t"])
    return times


def first_acks(confirmed: Iterable[tuple[int, Event]]) -> dict[int, tuple[int, float, str]]:
    """The first final status the server acknowledged for each SMS, from the history's
    ``confirmed`` events given as (position, event): (position, time, ``sent``/``error``)."""
    first: dict[int, tuple[int, float, str]] = {}
    for pos, event in confirmed:
        for status in ("sent", "error"):
            for sms_id in event[status]:
                first.setdefault(int(sms_id), (pos, float(event["t"]), status))
    return first


def ended_at(acked_at: float | None, row: Event | None, start: datetime | None) -> float | None:
    """When an SMS became final, in run time: when the server first acknowledged a phone's
    final status of it (``acked_at``, :func:`first_acks`), or, for one the server ended
    itself (a cancel, the stuck reset), when its final row (``row``) last changed. None when
    neither says (a row not final, no ``start`` to read the server's clock against)."""
    if acked_at is not None:
        return acked_at
    if row is None or row.get("state") not in TERMINAL or start is None:
        return None
    return run_time(start, row.get("updated_at"))


def heartbeat_timeout(phone: Event) -> float:
    """Seconds the server counts a phone online after an accepted heartbeat (its config's
    ``heartbeat_timeout``, minutes, 5 by default)."""
    return 60.0 * float(phone.get("heartbeat_timeout", 5))


def ended_sent(enqueued: Iterable[int], rows: Mapping[int, Mapping[str, Any]]) -> int:
    """How many of the ``enqueued`` SMS ids the server's final rows (by id) say ``sent``; a
    row of another SMS, or an id without a row, never counts."""
    return sum(1 for sms_id in enqueued if (rows.get(sms_id) or {}).get("state") == "sent")
