"""Sections of the run report that are tables and lists: the verdicts with each failing
oracle's first violations (and the history of the SMS they name), the limits, the requests,
and what became of the SMS that did not end ``sent``.

Every figure a verdict also states is taken as its oracle counts it (``RunData``), so the
page and ``verdicts.json`` agree: ``android_cap``'s held and refused, ``limits``'
``max_day_parts``, ``no_loss``'s final states and failure types.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from .measures import endpoint_of
from .page import Bullets, Image, Section, Table, Text
from .run_data import RunData

__all__ = [
    "clock",
    "duration",
    "limits_section",
    "not_sent_section",
    "requests_section",
    "verdict_anchor",
    "verdict_sections",
]

MOST_STORIES = 5  # SMS per failing oracle whose history is told
MOST_STEPS = 14  # events told per SMS
MOST_REASONS = 30  # rows of the not-sent table
_SMS_NAMED = re.compile(r"\bSMS (\d+)\b")
_STORY_KINDS = frozenset(
    {"enqueued", "issued", "radio", "cap", "confirmed", "tracker_timeout", "lost_callback",
     "telephony_retry", "stop_reply"}
)  # fmt: skip


def duration(seconds: float) -> str:
    """Virtual seconds as ``HH:MM:SS``, with days in front past one (``1d 02:00:00``)."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def clock(data: RunData, t: float) -> str:
    """A run time as the run's local clock, ``HH:MM:SS`` (with the weekday on a run over
    several days), as the plots' time axes read."""
    local = data.start.astimezone(data.tz)
    moment = data.start + timedelta(seconds=t)
    pattern = "%a %H:%M:%S" if data.day(data.span) != local.date() else "%H:%M:%S"
    return moment.astimezone(data.tz).strftime(pattern)


def verdict_anchor(name: str) -> str:
    """The anchor of an oracle's violations on the page."""
    return "violations-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _word(verdict: Mapping[str, Any], expected: set[str]) -> str:
    word = "pass" if verdict["passed"] else "**FAIL**"
    if not verdict.get("judged", True):
        return "NOT JUDGED"
    if verdict["name"] in expected:
        word += " (expected FAIL)" if not verdict["passed"] else " (expected FAIL: did not fail)"
    return word


def verdict_sections(
    events: Sequence[Mapping[str, Any]],
    state: Mapping[str, Any],
    meta: Mapping[str, Any],
    data: RunData,
) -> list[Section]:
    """The verdict table, then one subsection per oracle with violations."""
    expected = set(meta.get("expected_failures", []))
    verdicts: Sequence[Mapping[str, Any]] = meta.get("verdicts") or ()
    rows = []
    for v in verdicts:
        name = f"[{v['name']}](#{verdict_anchor(v['name'])})" if v["violations"] else v["name"]
        first = v.get("first_at")
        at = clock(data, float(first)) if first is not None else ""
        rows.append(
            [name, _word(v, expected), str(v["checked"]), str(v["violation_count"]),
             str(v["summary"]), at]
        )  # fmt: skip
    header = ["oracle", "verdict", "judged", "violations", "summary", "first violation"]
    blocks: list[Any] = [Table(header, rows, frozenset({2, 3}))]
    if any(v["violations"] for v in verdicts):
        blocks.append(Text("An oracle's name links to its first violations below."))
    sections = [Section("Verdicts", "verdicts", blocks)]
    named = {v["name"]: _named(v["violations"]) for v in verdicts if v["violations"]}
    stories = _stories(events, state, data, {i for ids in named.values() for i in ids})
    for v in verdicts:
        if not v["violations"]:
            continue
        shown, count = len(v["violations"]), int(v["violation_count"])
        first = v.get("first_at")
        when = f"the first at {clock(data, float(first))} (t={float(first):g} s)" if first else ""
        lead = f"{count} violation{'s' if count != 1 else ''}" + (f"; {when}" if when else "")
        more = f"the first {shown}" if shown < count else "all of them"
        blocks = [
            Text(f"{lead}. {more.capitalize()}, as the oracle wrote them:"),
            Bullets(list(v["violations"])),
        ]
        if named[v["name"]]:
            blocks += [
                Text("What the history holds of the SMS they name first:"),
                Bullets([stories[i] for i in named[v["name"]]]),
            ]
        blocks.append(Text("[Back to the verdicts](#verdicts)"))
        sections.append(
            Section(f"{v['name']}: first violations", verdict_anchor(v["name"]), blocks, 3)
        )
    return sections


def _named(violations: Sequence[str]) -> list[int]:
    """The first MOST_STORIES distinct SMS ids the violation texts name."""
    ids: dict[int, None] = {}
    for text in violations:
        for match in _SMS_NAMED.finditer(text):
            ids.setdefault(int(match.group(1)))
    return list(ids)[:MOST_STORIES]


def _step(e: Mapping[str, Any], sms_id: int) -> str:
    kind = e["kind"]
    if kind == "enqueued":
        return "enqueued"
    if kind == "issued":
        return f"handed to {e['phone']}"
    if kind == "radio":
        retry = "" if e["cause"] == "app" else f" ({e['cause']})"
        parts = f"{e['parts_sent']}/{e['parts']} parts"
        return f"left {e['phone']} SIM {e['sim_slot'] + 1}{retry}: {parts}"
    if kind == "cap":
        return f"Android's cap: {e['verdict']} on {e['phone']}"
    if kind == "confirmed":
        status = "sent" if sms_id in e["sent"] else "error"
        return f"server acknowledged {status} from {e['phone']}"
    if kind == "stop_reply":
        return "the recipient replied STOP"
    return f"{kind.replace('_', ' ')} on {e['phone']}"


def _ids_of(e: Mapping[str, Any]) -> list[int]:
    kind = e["kind"]
    if kind == "enqueued":
        return [int(i) for i in e["ids"]]
    if kind == "issued":
        return [int(item["id"]) for item in e["sms"]]
    if kind == "confirmed":
        return [int(i) for i in (*e["sent"], *e["error"])]
    return [int(e["sms_id"])] if e.get("sms_id") is not None else []


def _stories(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], data: RunData, ids: set[int]
) -> dict[int, str]:
    """Each SMS's events in the history, one line: ``**SMS 7**: 08:01:00 enqueued · ...``."""
    steps: dict[int, list[str]] = {i: [] for i in ids}
    extra: Counter[int] = Counter()
    if ids:
        for e in events:
            if e["kind"] not in _STORY_KINDS:
                continue
            for sms_id in _ids_of(e):
                if sms_id in steps:
                    if len(steps[sms_id]) < MOST_STEPS:
                        steps[sms_id].append(f"{clock(data, float(e['t']))} {_step(e, sms_id)}")
                    else:
                        extra[sms_id] += 1
    rows = {int(row["id"]): row for row in state.get("sms") or () if int(row["id"]) in ids}
    out: dict[int, str] = {}
    for sms_id, told in steps.items():
        if extra[sms_id]:
            told = [*told, f"... {extra[sms_id]} more events"]
        row = rows.get(sms_id)
        if row is None:
            told.append("unknown to the server")
        else:
            why = f" ({row['failure_type']})" if row.get("failure_type") else ""
            told.append(f"ends {row['state']}{why}")
        out[sms_id] = f"**SMS {sms_id}**: " + " · ".join(told or ["no events"])
    return out


def _figure(meta: Mapping[str, Any], oracle: str, name: str) -> str:
    """``(oracle: figure N)`` when verdicts.json states it, for the reader to compare."""
    for v in meta.get("verdicts") or ():
        if v["name"] == oracle and name in (v.get("figures") or {}):
            return f" (`{oracle}` says {v['figures'][name]})"
    return ""


def limits_section(data: RunData, meta: Mapping[str, Any], image: Image) -> Section:
    """Android's cap per SIM slot and the daily limit per phone."""
    peak_day = max((max(days.values()) for days in data.day_parts.values() if days), default=0)
    held, refused = data.cap_verdicts["hold"], data.cap_verdicts["refuse"]
    blocks: list[Any] = [
        Bullets(
            [
                f"Messages Android's cap held (confirmation dialog): {held}"
                + _figure(meta, "android_cap", "held"),
                f"Messages Android's cap refused: {refused}"
                + _figure(meta, "android_cap", "refused"),
                f"Most parts a phone sent in one local day: {peak_day}"
                + _figure(meta, "limits", "max_day_parts"),
            ]
        )
    ]
    blocks.append(image)
    if data.caps:
        rows = [
            [c.phone, str(c.slot + 1), f"{c.max_count} per {c.period:g} s", str(c.peak),
             str(min(c.lowest)), str(c.held), str(c.refused)]
            for c in data.caps
        ]  # fmt: skip
        header = ["phone", "SIM", "Android's cap", "most in a window", "least headroom", "held",
                  "refused"]  # fmt: skip
        blocks.append(Table(header, rows, frozenset({1, 3, 4, 5, 6})))
    else:
        blocks.append(Text("No SIM slot is capped: every app is exempt from Android's SMS cap."))
    day_rows = []
    for phone in data.phones:
        limit = int(data.fleet.get(phone, {}).get("daily_limit", 0))
        for day, parts in sorted(data.day_parts.get(phone, Counter()).items()):
            used = f"{parts / limit:.0%}" if limit else "no limit"
            day_rows.append([phone, day.isoformat(), str(parts), str(limit or "none"), used])
    if day_rows:
        header = ["phone", "local day", "parts", "daily limit", "used"]
        blocks.append(Table(header, day_rows, frozenset({2, 3, 4})))
    return Section("Android cap and daily limits", "limits", blocks)


def requests_section(data: RunData, meta: Mapping[str, Any], image: Image) -> Section:
    """Per endpoint: requests answered and their wall latency; requests the app saw fail."""
    timed: Mapping[str, Mapping[str, Any]] = meta.get("request_latency") or {}
    failed: dict[str, Counter[str]] = {}
    for (endpoint, outcome), n in data.failed_requests.items():
        failed.setdefault(endpoint_of(endpoint), Counter())[outcome] += n
    rows = []
    for endpoint in sorted(set(timed) | set(failed)):
        t = timed.get(endpoint) or {}
        fails = ", ".join(f"{o} {n}" for o, n in sorted(failed.get(endpoint, Counter()).items()))
        rows.append(
            [f"`{endpoint}`", str(t.get("count", 0)), f"{t['p50_ms']:.1f}" if t else "",
             f"{t['p95_ms']:.1f}" if t else "", f"{t['max_ms']:.1f}" if t else "", fails]
        )  # fmt: skip
    blocks: list[Any] = [
        Text(
            "Wall time the harness measured per answered request: in virtual time, the "
            "in-process server's own handling of it (the simulated network's latency is the "
            "scenario's, not measured); in real time, from sending it to its answer. "
            "Failures are those the apps saw (offline, lost either way, refused)."
        )
    ]
    if rows:
        header = ["endpoint", "answered", "p50 ms", "p95 ms", "max ms", "failed"]
        blocks.append(Table(header, rows, frozenset({1, 2, 3, 4})))
    blocks.append(image)
    return Section("Requests by endpoint", "requests", blocks)


def not_sent_section(data: RunData, meta: Mapping[str, Any]) -> Section:
    """The enqueued SMS that did not end ``sent``, grouped by state, failure type and reason."""
    if not data.not_sent:
        text = "Every enqueued SMS ended sent." if data.states else "No SMS were enqueued."
        return Section("SMS that did not end sent", "not-sent", [Text(text)])
    groups = sorted(data.not_sent.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    rows = []
    for (state, failure, message), ids in groups[:MOST_REASONS]:
        first = ", ".join(str(i) for i in sorted(ids)[:8]) + (" ..." if len(ids) > 8 else "")
        rows.append([state, failure or "none", message or "(no message)", str(len(ids)), first])
    by_type: Counter[str] = Counter()
    for (_, failure, _), ids in groups:
        by_type[failure or "none"] += len(ids)
    total = sum(by_type.values())
    blocks: list[Any] = [
        Text(f"{total} enqueued SMS did not end sent. By failure type:"),
        Bullets(
            [
                f"{kind}: {n}" + _figure(meta, "no_loss", f"failure:{kind}")
                for kind, n in sorted(by_type.items())
            ]
        ),
        Table(["state", "failure type", "reason", "SMS", "first ids"], rows, frozenset({3})),
    ]
    if len(groups) > MOST_REASONS:
        rest = sum(len(ids) for _, ids in groups[MOST_REASONS:])
        blocks.append(Text(f"... and {len(groups) - MOST_REASONS} more reasons ({rest} SMS)."))
    return Section("SMS that did not end sent", "not-sent", blocks)
