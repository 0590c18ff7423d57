"""The Markdown summary of a run: verdicts, throughput, latency, per-phone sends, faults.

Every phone of the fleet (the history's ``config`` event) has its row; one that transmitted
nothing says why when the records tell (never started, started after the SMS were assigned,
partitioned at assignment, assigned SMS but sent none).

Reads plain records only (the history's events, the server's final state, the verdicts),
so a summary can be rebuilt from a run folder without re-running anything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .measures import enqueue_to_radio, percentile

__all__ = ["render_summary"]


def _target_lines(meta: Mapping[str, Any]) -> list[str]:
    """Which server build and which database the run judged (when the run says)."""
    lines: list[str] = []
    target = meta.get("target")
    if isinstance(target, Mapping):
        defects = ", ".join(target.get("defects") or []) or "none"
        where = f" at {target['url']}" if target.get("url") else ""
        pace = f", {target['time_scale']:g}x the wall clock" if target.get("time_scale") else ""
        lines.append(
            f"- Target: `{target.get('server', '?')}` {target.get('version', '')} "
            f"({target.get('mode', '?')}{where}{pace}); defect switches: {defects}"
        )
    if meta.get("database"):
        lines.append(f"- Database: `{meta['database']}`")
    return lines


def _duration(seconds: float) -> str:
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


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
        return f"started at {_duration(started)}, after the last SMS were assigned"
    if enqueued and all(any(a <= t < u for a, u in partitions) for t in enqueued):
        return "offline (partitioned) when the SMS were assigned"
    return "the server assigned it no SMS"


def render_summary(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """A Markdown page for one run."""
    per_phone: dict[str, Counter[str]] = defaultdict(Counter)
    faults: Counter[str] = Counter()
    fleet: dict[str, Any] = {}  # the phones of the run, from the config event
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
                per_phone[e["phone"]]["telephony duplicates"] += 1
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
    latencies = enqueue_to_radio(events)
    states = Counter(row["state"] for row in state.get("sms", []))
    virtual = float(meta["virtual_seconds"])
    wall = float(meta["wall_seconds"])
    sent = states.get("sent", 0)
    verdict_word = "PASSED" if meta["passed"] else "FAILED"
    lines = [
        f"# Run of `{meta['scenario']}` (seed {meta['seed']}): {verdict_word}",
        "",
        f"- Virtual duration: {_duration(virtual)}; wall time {wall:.1f} s "
        f"(compression {virtual / wall if wall else 0:.0f}x)",
        f"- Requests to the server: {meta['requests']}; history events: {meta['events']}",
        f"- History SHA-256: `{meta['history_sha256']}`",
        *_target_lines(meta),
        "",
        "## Verdicts",
        "",
        "| oracle | verdict | judged | violations | summary |",
        "|---|---|---|---|---|",
    ]
    expected = set(meta.get("expected_failures", []))
    for v in meta["verdicts"]:
        word = "pass" if v["passed"] else "FAIL"
        if not v.get("judged", True):
            word = "NOT JUDGED"
        elif v["name"] in expected:
            word += " (expected FAIL)" if not v["passed"] else " (expected FAIL: did not fail)"
        lines.append(
            f"| {v['name']} | {word} | {v['checked']} | {v['violation_count']} | {v['summary']} |"
        )
    for v in meta["verdicts"]:
        if v["violations"]:
            lines += ["", f"### {v['name']}: first violations", ""]
            lines += [f"- {text}" for text in v["violations"]]
    lines += [
        "",
        "## Throughput and latency",
        "",
        f"- SMS by final state: {', '.join(f'{k} {n}' for k, n in sorted(states.items()))}",
        f"- Sent per virtual hour: {sent / (virtual / 3600) if virtual else 0:.0f}",
        "- Enqueue to radio (first whole transmission): "
        f"p50 {percentile(latencies, 50):.0f} s, p95 {percentile(latencies, 95):.0f} s, "
        f"max {latencies[-1] if latencies else 0:.0f} s",
        "",
        "## Per phone",
        "",
        "| phone | assigned | SIM 1 | SIM 2 | parts | telephony duplicates | note |",
        "|---|---|---|---|---|---|---|",
    ]
    assigned = Counter(row.get("gateway_phone_id") for row in state.get("sms", []))
    for phone in sorted(set(fleet) | set(per_phone)):
        c = per_phone[phone]  # zeros for a phone that transmitted nothing
        server_id = (fleet.get(phone) or {}).get("server_id")
        mine = assigned[server_id] if server_id is not None else 0
        note = ""
        if not c["sim1"] + c["sim2"]:
            note = _silence(started.get(phone), mine, enqueues, partitions[phone])
        lines.append(
            f"| {phone} | {mine} | {c['sim1']} | {c['sim2']} | {c['parts']} | "
            f"{c['telephony duplicates']} | {note} |"
        )
    lines += ["", "## Faults and dangerous paths seen", ""]
    lines += [f"- {name}: {count}" for name, count in sorted(faults.items())] or ["- no faults"]
    reached = {name: n for name, n in (meta.get("hits") or {}).items() if n}
    lines += ["", "Dangerous paths reached (the names `[expect] hit` takes):", ""]
    lines += [f"- {name}: {count}" for name, count in sorted(reached.items())] or ["- none"]
    missing = meta.get("missing_hits") or []
    if missing:
        lines += ["", f"**Demanded but never hit:** {', '.join(missing)}"]
    return "\n".join(lines) + "\n"
