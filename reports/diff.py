"""Two runs compared: throughput, latency, fairness and verdicts, with a stated tolerance.

``hil report diff A B`` asks "did B (a new server build, a new app profile) get worse than A
(the baseline)?". Each figure of :func:`run_figures` is computed the same way for both runs,
from their plain records (history events, the server's final state, the verdicts); a figure
is a *regression* when B is worse than A by more than the tolerance, in the figure's own
direction (throughput and fairness must not fall, latencies and violations must not grow).
An oracle that passed in A and fails in B is a regression whatever the tolerance.

Figures:

- ``sent_share``: the share of enqueued SMS the server ended ``sent``;
- ``sent_per_hour``: distinct SMS transmitted per virtual hour, from the first enqueue to the
  last first transmission (a run that drains early is not penalised for its shorter horizon);
- ``latency_p50`` / ``latency_p95`` / ``latency_max``: enqueue to the first whole
  transmission, seconds (``measures.enqueue_to_radio``, the latency ``threshold:latency_p95``
  judges);
- ``fairness``: Jain's index of distinct SMS transmitted per phone of the fleet (1 when every
  phone sent as many, 1/n when one phone sent everything);
- ``violations``: the violations of every oracle, summed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .measures import ended_sent, enqueue_to_radio, percentile

__all__ = ["LATENCY_SLACK", "Comparison", "FigureRow", "compare", "render_diff", "run_figures"]

# Latencies are also allowed this many seconds of growth: the app paces its sends at whole
# seconds (60 000 / rate_limit ms), so a relative tolerance on a near-zero latency means nothing.
LATENCY_SLACK = 1.0

# figure -> (what it is, +1 when higher is better, -1 when lower is better)
FIGURES: dict[str, tuple[str, int]] = {
    "sent_share": ("share of enqueued SMS ended sent", +1),
    "sent_per_hour": ("SMS transmitted per virtual hour", +1),
    "latency_p50": ("enqueue to radio p50 (s)", -1),
    "latency_p95": ("enqueue to radio p95 (s)", -1),
    "latency_max": ("enqueue to radio max (s)", -1),
    "fairness": ("per-phone fairness (Jain's index)", +1),
    "violations": ("oracle violations", -1),
}


def run_figures(
    events: Sequence[Mapping[str, Any]], state: Mapping[str, Any], meta: Mapping[str, Any]
) -> dict[str, float]:
    """The figures one run is compared on (see the module docstring)."""
    enqueued_at: dict[int, float] = {}
    first_radio: dict[int, float] = {}
    per_phone: dict[str, set[int]] = {}
    for e in events:
        kind = e["kind"]
        if kind == "config":
            per_phone.update({phone: set() for phone in e.get("phones") or {}})
        elif kind == "enqueued":
            for sms_id in e["ids"]:
                enqueued_at.setdefault(sms_id, e["t"])
        elif kind == "radio" and e["sms_id"] is not None:
            first_radio.setdefault(e["sms_id"], e["t"])
            per_phone.setdefault(e["phone"], set()).add(e["sms_id"])
    latencies = enqueue_to_radio(events)
    rows = {int(row["id"]): row for row in state.get("sms") or ()}
    sent = ended_sent(enqueued_at, rows)
    window = 0.0
    if enqueued_at and first_radio:
        window = max(first_radio.values()) - min(enqueued_at.values())
    counts = [len(ids) for ids in per_phone.values()]
    squares = sum(n * n for n in counts)
    return {
        "sent_share": sent / len(enqueued_at) if enqueued_at else 1.0,
        "sent_per_hour": len(first_radio) / (window / 3600) if window > 0 else 0.0,
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "latency_max": latencies[-1] if latencies else 0.0,
        "fairness": sum(counts) ** 2 / (len(counts) * squares) if squares else 1.0,
        "violations": float(sum(v["violation_count"] for v in meta.get("verdicts", ()))),
    }


@dataclass(frozen=True)
class FigureRow:
    """One figure of both runs, and whether B regressed on it."""

    name: str
    a: float
    b: float
    regressed: bool

    @property
    def change(self) -> float | None:
        """B relative to A (0.1 is 10 % more); None when A is 0."""
        return (self.b - self.a) / abs(self.a) if self.a else None


@dataclass(frozen=True)
class Comparison:
    """Two runs compared: the figures, the oracles that went red, what differs in setting."""

    figures: list[FigureRow]
    newly_failing: list[str]  # oracles (and thresholds) that passed in A and fail in B
    newly_passing: list[str]
    notes: list[str]  # the runs differ in scenario or seed: say so, compare all the same
    tolerance: float

    @property
    def regressed(self) -> bool:
        """B is worse than A beyond the tolerance, or an oracle went red."""
        return bool(self.newly_failing) or any(row.regressed for row in self.figures)


def _worse(name: str, a: float, b: float, tolerance: float) -> bool:
    direction = FIGURES[name][1]
    if direction > 0:
        return b < a * (1 - tolerance)
    limit = a * (1 + tolerance)
    if name.startswith("latency_"):
        limit = max(limit, a + LATENCY_SLACK)
    return b > limit


def _failing(meta: Mapping[str, Any]) -> set[str]:
    """The oracles a run failed, leaving out those its scenario expected to fail."""
    expected = set(meta.get("expected_failures") or ())
    return {
        v["name"]
        for v in meta.get("verdicts", ())
        if v.get("judged", True) and not v["passed"] and v["name"] not in expected
    }


def compare(
    a: tuple[Mapping[str, Any], Mapping[str, float]],
    b: tuple[Mapping[str, Any], Mapping[str, float]],
    tolerance: float,
) -> Comparison:
    """Compare run B against baseline A, each given as (verdicts meta, run_figures)."""
    (meta_a, fig_a), (meta_b, fig_b) = a, b
    rows = [
        FigureRow(name, fig_a[name], fig_b[name], _worse(name, fig_a[name], fig_b[name], tolerance))
        for name in FIGURES
    ]
    failing_a, failing_b = _failing(meta_a), _failing(meta_b)
    notes = [
        f"the runs differ in {key}: A {meta_a.get(key)!r}, B {meta_b.get(key)!r}"
        for key in ("scenario", "seed")
        if meta_a.get(key) != meta_b.get(key)
    ]
    return Comparison(
        figures=rows,
        newly_failing=sorted(failing_b - failing_a),
        newly_passing=sorted(failing_a - failing_b),
        notes=notes,
        tolerance=tolerance,
    )


def _number(name: str, value: float) -> str:
    if name in ("sent_share", "fairness"):
        return f"{value:.4f}"
    return f"{value:.0f}" if name == "violations" else f"{value:.1f}"


def render_diff(comparison: Comparison, label_a: str, label_b: str) -> str:
    """The comparison as Markdown: one row per figure, then the verdict."""
    lines = [
        f"# Run comparison: B against baseline A (tolerance {comparison.tolerance:.1%})",
        "",
        f"- A: `{label_a}`",
        f"- B: `{label_b}`",
        *(f"- Note: {note}" for note in comparison.notes),
        "",
        "| figure | A | B | change | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in comparison.figures:
        change = "n/a" if row.change is None else f"{row.change:+.1%}"
        word = "REGRESSION" if row.regressed else "ok"
        lines.append(
            f"| {FIGURES[row.name][0]} | {_number(row.name, row.a)} | "
            f"{_number(row.name, row.b)} | {change} | {word} |"
        )
    lines.append("")
    if comparison.newly_failing:
        lines.append(f"- Oracles red in B, green in A: {', '.join(comparison.newly_failing)}")
    if comparison.newly_passing:
        lines.append(f"- Oracles green in B, red in A: {', '.join(comparison.newly_passing)}")
    verdict = "REGRESSED" if comparison.regressed else "no regression beyond the tolerance"
    lines.append(f"**{verdict}**")
    return "\n".join(lines) + "\n"
