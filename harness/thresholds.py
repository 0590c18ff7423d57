"""The thresholds a scenario demands (``[expect] thresholds``), judged like oracles: a share of
the SMS sent, a deadline by which every SMS is final, a latency percentile, a most of
refusals. Each gives a :class:`Verdict` named ``threshold:<name>``, so that a capacity
shortfall (every phone at its daily limit, a quarter of the SMS refused) fails the run.

Read from the history and the server's SMS rows only. The latency and its percentile are
the reports' (``reports.enqueue_to_radio``, ``reports.percentile``), so a report states the
very figure judged here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from reports import TERMINAL, ended_sent, enqueue_to_radio, percentile
from scenarios.model import Thresholds

from .evidence import Event, Evidence, Findings, Index, Verdict

__all__ = ["judge_thresholds"]

PREFIX = "threshold:"


def _sent(ix: Index, share: float) -> Verdict:
    found = Findings()
    total = len(ix.enqueued_ids)
    sent = ended_sent(ix.enqueued_ids, ix.sms)
    got = sent / total if total else 1.0
    if got < share:
        found.add(
            f"{sent} of {total} enqueued SMS ended sent ({got:.2%}), below the {share:.2%} "
            "the scenario demands"
        )
    figures = {"sent": sent, "enqueued": total}
    return found.verdict(f"{PREFIX}sent", total, "enqueued SMS", "below the share", figures)


def _done_by(ix: Index, at: float, written: str) -> Verdict:
    found = Findings()
    late: list[tuple[float, int]] = []
    open_ids: list[int] = []
    for sms_id in ix.enqueued_ids:
        row = ix.sms.get(sms_id)
        if row is None or row["state"] not in TERMINAL:
            open_ids.append(sms_id)
            continue
        ended = ix.ended_at(sms_id)
        if ended is not None and ended > at:
            late.append((ended, sms_id))
    if open_ids:
        found.add(f"{len(open_ids)} SMS were still not final at the end of the run, past {written}")
    figures: dict[str, float | int] = {"late": len(late), "not_final": len(open_ids)}
    if late:
        first, (last, last_id) = min(late), max(late)
        found.add(
            f"{len(late)} SMS became final after {written} ({ix.when(at)}); the last, SMS "
            f"{last_id}, at {ix.when(last)}",
            first[0],
        )
        figures["last_final_at"] = round(last, 3)
    return found.verdict(f"{PREFIX}done_by", len(ix.enqueued_ids), "enqueued SMS", "late", figures)


def _latency_p95(events: Sequence[Event], limit: float) -> Verdict:
    found = Findings()
    latencies = enqueue_to_radio(events)
    p95 = percentile(latencies, 95)
    if p95 > limit:
        found.add(
            f"95 % of the SMS sent reached the radio within {p95:.0f} s of being enqueued, "
            f"over the {limit:.0f} s the scenario demands"
        )
    figures = {"p95_seconds": round(p95, 3), "sent": len(latencies)}
    return found.verdict(f"{PREFIX}latency_p95", len(latencies), "sent SMS", "over", figures)


def _refused(ix: Index, most: int) -> Verdict:
    found = Findings()
    refused = sum(int(event.get("refused", 0)) for _, event in ix.enqueued)
    failed = sum(1 for i in ix.enqueued_ids if ix.failed_at_enqueue(i))
    if refused + failed > most:
        found.add(
            f"the server refused {refused} SMS and failed {failed} at enqueue (no phone "
            f"could take them), more than the {most} the scenario allows"
        )
    figures = {"refused": refused, "failed_at_enqueue": failed}
    checked = len(ix.enqueued_ids) + refused
    return found.verdict(f"{PREFIX}refused", checked, "enqueued SMS", "over", figures)


def judge_thresholds(
    evidence: Evidence, thresholds: Thresholds, exposed: Iterable[str] | None = None
) -> list[Verdict]:
    """A verdict per threshold the scenario demands, in ``THRESHOLDS`` order; all need the
    server's SMS rows but ``latency_p95``: not judged where the target does not expose them."""
    ix = evidence.index
    parts = None if exposed is None else set(exposed)
    judges: dict[str, Callable[[], Verdict]] = {
        "sent": lambda: _sent(ix, float(thresholds.sent or 0)),
        "done_by": lambda: _done_by(ix, float(thresholds.done_by or 0), thresholds.done_by_text),
        "latency_p95": lambda: _latency_p95(evidence.events, float(thresholds.latency_p95 or 0)),
        "refused": lambda: _refused(ix, int(thresholds.refused or 0)),
    }
    out: list[Verdict] = []
    for name in thresholds.demanded():
        if name != "latency_p95" and parts is not None and "sms" not in parts:
            out.append(Verdict.not_judged(f"{PREFIX}{name}", ["sms"]))
        else:
            out.append(judges[name]())
    return out
