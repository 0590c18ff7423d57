"""The report of one run: ``summary.md`` (Markdown, its plots as PNG files next to it) and
``report.html`` (one self-contained page, the same content with the plots inside).

Sections: the verdicts, each failing oracle linked to its first violations and the history
of the SMS they name; throughput over time, total and per phone; queue depth; the
enqueue-to-radio latency distribution; Android-cap headroom per SIM and daily-limit usage
per phone; a timeline of faults, Doze states and phones online; per-request latency by
endpoint; what became of every SMS that did not end ``sent``, grouped by reason; per-phone
sends; faults and dangerous paths.

Every phone of the fleet (the history's ``config`` event) has its row; one that transmitted
nothing says why when the records tell (never started, started after the SMS were assigned,
partitioned at assignment, assigned SMS but sent none).

Reads plain records only (the history's events, the server's final state, the verdicts),
so a report can be rebuilt from a run folder without re-running anything. A figure the
verdicts also state is computed as its oracle computes it, so the two agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .measures import percentile
from .page import Block, Bullets, Image, Page, Section, Table, Text
from .plots import FIGURES, draw
from .run_data import RunData
from .sections import (
    duration,
    limits_section,
    not_sent_section,
    requests_section,
    verdict_sections,
)

__all__ = ["RunReport", "render_report", "render_summary"]


@dataclass(frozen=True)
class RunReport:
    """One run's report: ``summary.md``, ``report.html`` and the PNGs the Markdown shows."""

    markdown: str
    html: str
    images: dict[str, bytes]  # file name -> PNG bytes, in page order


def _target_lines(meta: Mapping[str, Any]) -> list[str]:
    """Which server build and which database the run judged (when the run says)."""
    lines: list[str] = []
    target = meta.get("target")
    if isinstance(target, Mapping):
        defects = ", ".join(target.get("defects") or []) or "none"
        where = f" at {target['url']}" if target.get("url") else ""
        pace = f", {target['time_scale']:g}x the wall clock" if target.get("time_scale") else ""
        lines.append(
            f"Target: `{target.get('server', '?')}` {target.get('version', '')} "
            f"({target.get('mode', '?')}{where}{pace}); defect switches: {defects}"
        )
    if meta.get("database"):
        gone = " (removed after the run; `hil run --keep-db` keeps it)"
        kept = meta.get("database_kept", True)
        lines.append(f"Database: `{meta['database']}`{'' if kept else gone}")
    devices = meta.get("devices")
    if isinstance(devices, Mapping) and devices:
        said = []
        for phone, device in devices.items():
            what = "ADB test double" if device.get("double") else "real phone"
            read = device.get("radio")
            rows = f", {read} sends read from it" if read is not None else ""
            said.append(f"{phone} (`{device.get('serial')}`, {what}{rows})")
        lines.append("Phones over ADB, judged by their own records: " + "; ".join(said))
    return lines


def _silence(
    started: float | None,
    assigned: int,
    enqueued: Sequence[float],
    partitions: Sequence[tuple[float, float]],
) -> str:
    """Why a phone of the fleet transmitted nothing, as far as the records tell."""
    if started is None:
        return "never started"
    if assigned:
        return f"assigned {assigned} SMS and transmitted none"
    if enqueued and started > enqueued[-1]:
        return f"started at {duration(started)}, after the last SMS were assigned"
    if enqueued and all(any(a <= t < u for a, u in partitions) for t in enqueued):
        return "offline (partitioned) when the SMS were assigned"
    return "the server assigned it no SMS"


def _image(name: str, images: Mapping[str, bytes], caption: str = "") -> Image:
    return Image(name, images[name], FIGURES[name][0], caption)


def _per_phone(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any]
) -> tuple[Table, Counter[str]]:
    """The per-phone table and the count of each fault, request failure and cap verdict."""
    per_phone: dict[str, Counter[str]] = defaultdict(Counter)
    faults: Counter[str] = Counter()
    fleet: dict[str, Any] = {}
    started: dict[str, float] = {}
    enqueues: list[float] = []
    partitions: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        kind = e["kind"]
        if kind == "config":
            fleet = dict(e.get("phones") or {})
        elif kind == "app_start":
            started.setdefault(e["phone"], e["t"])
        elif kind == "enqueued":
            enqueues.append(e["t"])
        elif kind == "radio":
            per_phone[e["phone"]][f"sim{e['sim_slot'] + 1}"] += 1
            per_phone[e["phone"]]["parts"] += e["parts_sent"]
            if e["cause"] != "app":
                per_phone[e["phone"]]["telephony retries"] += 1
        elif kind == "fault":
            faults[e["fault"]] += 1
            if e["fault"] == "partition":
                partitions[e["phone"]].append((e["t"], e["until"]))
        elif kind in ("lost_callback", "telephony_retry", "tracker_timeout"):
            faults[kind] += 1
        elif kind == "request" and e["outcome"] != "refused":
            faults[f"request {e['outcome']}"] += 1
        elif kind == "cap":
            faults[f"android cap: {e['verdict']}"] += 1
        elif kind == "fcm" and e.get("outcome") != "delivered":
            faults[f"push {e['outcome']}"] += 1
    assigned = Counter(row.get("gateway_phone_id") for row in state.get("sms", []))
    rows = []
    for phone in sorted(set(fleet) | set(per_phone)):
        c = per_phone[phone]  # zeros for a phone that transmitted nothing
        server_id = (fleet.get(phone) or {}).get("server_id")
        mine = assigned[server_id] if server_id is not None else 0
        note = ""
        if not c["sim1"] + c["sim2"]:
            note = _silence(started.get(phone), mine, enqueues, partitions[phone])
        rows.append(
            [phone, str(mine), str(c["sim1"]), str(c["sim2"]), str(c["parts"]),
             str(c["telephony retries"]), note]
        )  # fmt: skip
    header = ["phone", "assigned", "SIM 1", "SIM 2", "parts", "telephony retries", "note"]
    return Table(header, rows), faults


def render_report(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], meta: Mapping[str, Any]
) -> RunReport:
    """The report of one run (see the module docstring)."""
    data = RunData.of(events, state, meta)
    images = {name: draw(name, data, meta) for name in FIGURES}
    virtual = float(meta["virtual_seconds"])
    wall = float(meta["wall_seconds"])
    verdict_word = "PASSED" if meta["passed"] else "FAILED"
    page = Page(f"Run of `{meta['scenario']}` (seed {meta['seed']}): {verdict_word}")
    page.lead.append(
        _bullets(
            f"Virtual duration: {duration(virtual)}; wall time {wall:.1f} s "
            f"(compression {virtual / wall if wall else 0:.0f}x)",
            f"Requests to the server: {meta['requests']}; history events: {meta['events']}",
            f"History SHA-256: `{meta['history_sha256']}`",
            *_target_lines(meta),
        )
    )
    page.sections += verdict_sections(events, state, meta, data)
    sent = data.states.get("sent", 0)
    lat = data.latencies
    page.sections.append(
        Section(
            "Throughput and latency",
            "throughput",
            [
                _bullets(
                    "Enqueued SMS by final state: "
                    + (", ".join(f"{k} {n}" for k, n in sorted(data.states.items())) or "none"),
                    f"Sent per virtual hour: {sent / (virtual / 3600) if virtual else 0:.0f}",
                    f"SMS some app transmitted: {data.transmitted}",
                    "Enqueue to radio (first whole transmission): "
                    f"p50 {percentile(lat, 50):.0f} s, p95 {percentile(lat, 95):.0f} s, "
                    f"max {lat[-1] if lat else 0:.0f} s",
                ),
                _image("plot-throughput.png", images),
                _image("plot-latency.png", images),
            ],
        )
    )
    page.sections.append(
        Section(
            "Queue depth",
            "queue",
            [
                Text(
                    "SMS enqueued and not yet handed to a phone, and SMS handed out whose final "
                    "status the server has not yet acknowledged (an SMS handed out again after "
                    "the stuck reset stays in flight)."
                ),
                _image("plot-queue.png", images),
            ],
        )
    )
    page.sections.append(limits_section(data, meta, _image("plot-limits.png", images)))
    page.sections.append(
        Section(
            "Timeline: phones online, Doze and faults",
            "timeline",
            [
                Text(
                    "Green: online as the server counts it (an accepted heartbeat, then its "
                    "heartbeat timeout); blue and orange: Doze's idle and maintenance states; "
                    "grey and red: the phone off, its app dead, or cut off from the network; "
                    "triangles: faults. Red dashed lines: an oracle's first violation."
                ),
                _image("plot-timeline.png", images),
            ],
        )
    )
    page.sections.append(requests_section(data, meta, _image("plot-requests.png", images)))
    page.sections.append(not_sent_section(data, meta))
    table, faults = _per_phone(events, state)
    page.sections.append(Section("Per phone", "per-phone", [table]))
    reached = {name: n for name, n in (meta.get("hits") or {}).items() if n}
    blocks: list[Block] = [
        _bullets(
            *([f"{name}: {count}" for name, count in sorted(faults.items())] or ["no faults"])
        ),
        Text("Dangerous paths reached (the names `[expect] hit` takes):"),
        _bullets(*([f"{name}: {count}" for name, count in sorted(reached.items())] or ["none"])),
    ]
    missing = meta.get("missing_hits") or []
    if missing:
        blocks.append(Text(f"**Demanded but never hit:** {', '.join(missing)}"))
    page.sections.append(Section("Faults and dangerous paths seen", "faults", blocks))
    return RunReport(page.markdown(), page.html(), images)


def _bullets(*items: str) -> Bullets:
    return Bullets(list(items))


def render_summary(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """The Markdown page of one run (``summary.md``)."""
    return render_report(events, state, meta).markdown
