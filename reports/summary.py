"""The Markdown summary of a run: verdicts, throughput, latency, per-phone sends, faults.

Reads plain records only (the history's events, the server's final state, the verdicts),
so a summary can be rebuilt from a run folder without re-running anything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["percentile", "render_summary"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted ``values`` (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


def _duration(seconds: float) -> str:
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def render_summary(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """A Markdown page for one run."""
    enqueued_at: dict[int, float] = {}
    first_radio: dict[int, float] = {}
    per_phone: dict[str, Counter[str]] = defaultdict(Counter)
    faults: Counter[str] = Counter()
    for e in events:
        kind = e["kind"]
        if kind == "enqueued":
            for sms_id in e["ids"]:
                enqueued_at[sms_id] = e["t"]
        elif kind == "radio":
            sms_id = e["sms_id"]
            if sms_id is not None and sms_id not in first_radio:
                first_radio[sms_id] = e["t"]
            per_phone[e["phone"]][f"sim{e['sim_slot'] + 1}"] += 1
            per_phone[e["phone"]]["parts"] += e["parts_sent"]
            if e["cause"] != "app":
                per_phone[e["phone"]]["telephony duplicates"] += 1
        elif kind == "fault":
            faults[e["fault"]] += 1
        elif kind in ("lost_callback", "telephony_retry", "tracker_timeout"):
            faults[kind] += 1
        elif kind == "request" and e["outcome"] != "refused":
            faults[f"request {e['outcome']}"] += 1
        elif kind == "cap":
            faults[f"android cap: {e['verdict']}"] += 1
        elif kind == "fcm" and e.get("outcome") != "delivered":
            faults[f"push {e['outcome']}"] += 1
    latencies = sorted(first_radio[i] - enqueued_at[i] for i in first_radio if i in enqueued_at)
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
        "",
        "## Verdicts",
        "",
        "| oracle | verdict | judged | violations | summary |",
        "|---|---|---|---|---|",
    ]
    expected = set(meta.get("expected_failures", []))
    for v in meta["verdicts"]:
        word = "pass" if v["passed"] else "FAIL"
        if v["name"] in expected:
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
        "- Enqueue to radio (first transmission): "
        f"p50 {percentile(latencies, 50):.0f} s, p95 {percentile(latencies, 95):.0f} s, "
        f"max {latencies[-1] if latencies else 0:.0f} s",
        "",
        "## Per phone",
        "",
        "| phone | SIM 1 | SIM 2 | parts | telephony duplicates |",
        "|---|---|---|---|---|",
    ]
    for phone in sorted(per_phone):
        c = per_phone[phone]
        lines.append(
            f"| {phone} | {c['sim1']} | {c['sim2']} | {c['parts']} | {c['telephony duplicates']} |"
        )
    lines += ["", "## Faults and dangerous paths seen", ""]
    lines += [f"- {name}: {count}" for name, count in sorted(faults.items())] or ["- none"]
    missing = meta.get("missing_hits") or []
    if missing:
        lines += ["", f"**Demanded but never hit:** {', '.join(missing)}"]
    return "\n".join(lines) + "\n"
