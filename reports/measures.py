"""Measures that the reports and the harness's thresholds state alike, defined once here so
that a figure in a report and the same figure in ``verdicts.json`` cannot disagree.

- :func:`percentile`: nearest rank (the smallest value with at least q % of the values at
  or below it), the definition ``threshold:latency_p95`` judges by;
- :func:`enqueue_to_radio`: per SMS, from its first enqueue to the first time it left a
  radio whole (every part reached the network);
- :func:`endpoint_of`: a device endpoint as one name (``confirm/17`` is ``confirm/{id}``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["endpoint_of", "enqueue_to_radio", "percentile"]


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
        elif (
            kind == "radio" and event["sms_id"] is not None
            and event["parts_sent"] == event["parts"]
        ):  # fmt: skip
            first_whole.setdefault(int(event["sms_id"]), float(event["t"]))
    return sorted(t - queued_at[i] for i, t in first_whole.items() if i in queued_at)


def endpoint_of(path: str) -> str:
    """A device endpoint (``pending``, ``confirm/17``, ``/sms-gateway/confirm/17``) as the
    name requests are grouped by: its id segments written ``{id}``."""
    name = path.split("?", 1)[0].strip("/").removeprefix("sms-gateway/")
    return "/".join("{id}" if part.isdigit() else part for part in name.split("/"))
