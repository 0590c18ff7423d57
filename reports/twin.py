"""Two phones of one run side by side: a phone over ADB and its virtual twin (issue 13).

From the history's plain events, per phone (:func:`phone_figures`):

- send cadence: the gaps between the phone's own transmissions (``radio`` events with
  ``cause`` ``"app"``, telephony retries left out since a device's ledger has none), p50
  and p95;
- batch sizes: SMS per hand-out (``issued``), mean and largest;
- status-sync delay: per SMS, from its first app transmission by this phone to the first
  time the server acknowledged its final status from this phone (``confirmed``), p50 and
  p95; an SMS without both is not counted;
- Doze: seconds in each state (a phone starts ``active`` at t=0, as ``docs/history.md``
  says) up to ``end``, and how many transitions.

:func:`render_twin` writes them as one Markdown table, the two phones and B minus A;
:func:`twin_of_run` does both for two phones of one run's history (``hil report twin`` and
``hil run --twin`` alike).
Percentiles are :func:`reports.measures.percentile`'s (nearest rank).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .measures import percentile
from .page import markdown_table

__all__ = ["PhoneFigures", "phone_figures", "render_twin", "twin_of_run"]

Event = Mapping[str, Any]
_START_STATE = "active"  # Android's DeviceIdleController starts every phone active


@dataclass(frozen=True)
class PhoneFigures:
    """What one phone did in a run, as a twin comparison states it."""

    phone: str
    transmissions: int  # its own (app) transmissions
    cadence_p50: float  # seconds between consecutive app transmissions
    cadence_p95: float
    hand_outs: int  # ``issued`` events
    batch_mean: float  # SMS per hand-out
    batch_max: int
    synced: int  # SMS with both a transmission and an acknowledged status
    sync_p50: float  # seconds from transmission to the server's acknowledgement
    sync_p95: float
    doze_transitions: int  # ``doze`` events that changed the state
    doze_seconds: dict[str, float] = field(default_factory=dict)  # state -> seconds in it


def phone_figures(events: Iterable[Event], phone: str, end: float) -> PhoneFigures:
    """The twin figures of ``phone`` from a run's history events, Doze counted up to ``end``
    (the run's length in seconds; an event after it counts up to its own time)."""
    sends: list[float] = []
    batches: list[int] = []
    first_sent: dict[int, float] = {}
    first_ack: dict[int, float] = {}
    state, since, transitions = _START_STATE, 0.0, 0
    doze: dict[str, float] = {}
    for event in events:
        if event.get("phone") != phone:
            continue
        kind, t = event["kind"], float(event["t"])
        if kind == "radio" and event["cause"] == "app":
            sends.append(t)
            if event["sms_id"] is not None:
                first_sent.setdefault(int(event["sms_id"]), t)
        elif kind == "issued":
            batches.append(len(event["sms"]))
        elif kind == "confirmed":
            for sms_id in (*event["sent"], *event["error"]):
                first_ack.setdefault(int(sms_id), t)
        elif kind == "doze" and event["state"] != state:
            doze[state] = doze.get(state, 0.0) + t - since
            state, since, transitions = event["state"], t, transitions + 1
    doze[state] = doze.get(state, 0.0) + max(end - since, 0.0)
    sends.sort()
    gaps = sorted(b - a for a, b in pairwise(sends))
    delays = sorted(max(first_ack[i] - t, 0.0) for i, t in first_sent.items() if i in first_ack)
    return PhoneFigures(
        phone=phone,
        transmissions=len(sends),
        cadence_p50=percentile(gaps, 50),
        cadence_p95=percentile(gaps, 95),
        hand_outs=len(batches),
        batch_mean=sum(batches) / len(batches) if batches else 0.0,
        batch_max=max(batches, default=0),
        synced=len(delays),
        sync_p50=percentile(delays, 50),
        sync_p95=percentile(delays, 95),
        doze_transitions=transitions,
        doze_seconds=doze,
    )


def _rows(figures: PhoneFigures) -> dict[str, float]:
    """The table's figures of one phone, in the order they are shown."""
    rows: dict[str, float] = {
        "transmissions": figures.transmissions,
        "send cadence p50 (s)": figures.cadence_p50,
        "send cadence p95 (s)": figures.cadence_p95,
        "hand-outs": figures.hand_outs,
        "batch size, mean (SMS)": figures.batch_mean,
        "batch size, largest (SMS)": figures.batch_max,
        "SMS synced": figures.synced,
        "status-sync delay p50 (s)": figures.sync_p50,
        "status-sync delay p95 (s)": figures.sync_p95,
        "Doze transitions": figures.doze_transitions,
    }
    return rows


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def render_twin(a: PhoneFigures, b: PhoneFigures) -> str:
    """Two phones' figures side by side as Markdown: a heading, then one table with A, B
    and B minus A (a state neither phone was in is left out)."""
    rows_a, rows_b = _rows(a), _rows(b)
    for state in sorted(set(a.doze_seconds) | set(b.doze_seconds)):
        name = f"time in {state} (s)"
        rows_a[name] = a.doze_seconds.get(state, 0.0)
        rows_b[name] = b.doze_seconds.get(state, 0.0)
    body = [
        [name, _number(rows_a[name]), _number(rows_b[name]), _signed(rows_b[name] - rows_a[name])]
        for name in rows_a
    ]
    lines = [
        f"# Twin run: {a.phone} and {b.phone}",
        "",
        *markdown_table(["figure", a.phone, b.phone, "B - A"], body, frozenset({1, 2, 3})),
    ]
    return "\n".join(lines) + "\n"


def twin_of_run(events: Sequence[Event], phone_a: str, phone_b: str) -> str:
    """Two phones of one run's history side by side (:func:`render_twin`), Doze counted up
    to the history's last event (the run's end as the history knows it)."""
    end = max((float(e["t"]) for e in events), default=0.0)
    return render_twin(phone_figures(events, phone_a, end), phone_figures(events, phone_b, end))


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _number(round(value, 6))
