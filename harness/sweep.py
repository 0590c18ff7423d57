"""The capacity planner's sweep: each plan point a real scenario run, in virtual time.

A point is one fleet size under one set of settings (``estimate.PlanSettings``). It becomes
a scenario in the catalogue's format (``point_scenario``: the fleet, the campaign enqueued at
``ENQUEUE_AT``, no faults), so any point can be replayed with ``hil run``; ``run_point`` runs
it in a temporary folder (the run's SQLite database and history are deleted afterwards) and
keeps only its figures. Points are independent, so ``sweep`` sends them through a
``concurrent.futures`` executor (``harness/pool.py``): local processes, or a Dask cluster.

**Slices.** The server assigns at enqueue time to the least-loaded phone, so every phone
gets ``ceil(N / P)`` or ``floor(N / P)`` SMS, and from then on each phone drains its own
queue: phones share nothing that changes their pace. A point may therefore simulate a
*slice* of ``k`` phones, each given the busiest phone's share ``ceil(N / P)`` (so ``k``
times that many recipients), instead of all ``P``. The slice's SMS counts scale by
``P / k``; the fleet finishes with its slowest of ``P`` phones, which ``k`` phones cannot
show: the plan takes the slice's mean completion plus the estimate's gap between one
phone and the slowest of ``P`` (``plan.fleet_figures``, stated beside the figure).
``k == P`` simulates the whole fleet with exactly ``N``.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scenarios import loads
from smscodec import count_parts

from .cadence import ENQUEUE_AT
from .estimate import PlanSettings
from .pool import run_all
from .runner import run_scenario

__all__ = ["MAX_PARTS", "Point", "PointResult", "body_of", "point_scenario", "run_point", "sweep"]

# The longest message the planner builds: a GSM-7 text of 153 characters per part.
MAX_PARTS = 10
_SENTENCE = "Your order is ready for pick-up at the shop on the corner until Sunday evening. "
_MAX_HORIZON = 31 * 86_400.0  # a scenario's longest max_duration


@dataclass(frozen=True)
class Point:
    """One point of the sweep: a fleet under some settings, as a scenario run."""

    settings: PlanSettings
    variant: str  # "asked", or the key of the change it tries
    simulated: int  # phones simulated: the whole fleet, or a slice of it
    seed: int
    start: datetime  # virtual time 0, with its offset
    timezone: str
    horizon: float  # the run's max_duration, seconds

    @property
    def whole(self) -> bool:
        """Every phone of the fleet is simulated."""
        return self.simulated >= self.settings.phones

    @property
    def name(self) -> str:
        """The scenario's name: variant and fleet size."""
        return f"plan-{self.variant}-p{self.settings.phones:04d}"

    @property
    def recipients(self) -> int:
        """Recipients the run enqueues: all of them, or the slice's busiest shares."""
        n, fleet = self.settings.recipients, self.settings.phones
        return n if self.whole else self.simulated * -(-n // fleet)


@dataclass(frozen=True)
class PointResult:
    """What one point's run showed (seconds after the start)."""

    point: Point
    broken: str = ""  # why the run failed (harness or server); "" when it ran
    enqueued: int = 0
    sent: int = 0
    refused: int = 0  # failed at enqueue: no phone with room
    not_sent: int = 0  # assigned, but ended in error or not final at the end of the run
    phone_completion: tuple[float, ...] = ()  # per simulated phone: its last SMS final
    failed_oracles: tuple[str, ...] = ()
    virtual_seconds: float = 0.0
    wall_seconds: float = 0.0
    digest: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def completion(self) -> float | None:
        """When the run's last assigned SMS was final; None if some never was."""
        if self.broken or self.not_sent or not self.phone_completion:
            return None
        return max(self.phone_completion)

    def to_dict(self) -> dict[str, Any]:
        """For plan.json."""
        return {
            "variant": self.point.variant,
            "phones": self.point.settings.phones,
            "simulated_phones": self.point.simulated,
            "scenario": self.point.name,
            "broken": self.broken,
            "enqueued": self.enqueued,
            "sent": self.sent,
            "refused": self.refused,
            "not_sent": self.not_sent,
            "completion": None if self.completion is None else round(self.completion, 3),
            "phone_completion": [round(t, 3) for t in self.phone_completion],
            "failed_oracles": list(self.failed_oracles),
            "virtual_seconds": round(self.virtual_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "history_sha256": self.digest,
        }


def body_of(parts: int) -> str:
    """A GSM-7 message of exactly ``parts`` parts (a placeholder-free template)."""
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"A plan's messages have 1 to {MAX_PARTS} parts, not {parts}.")
    length = 150 if parts == 1 else 153 * parts - 10
    text = (_SENTENCE * (length // len(_SENTENCE) + 1))[:length]
    assert count_parts(text) == parts
    return text


def point_scenario(point: Point) -> str:
    """The point as a scenario file (``scenarios/README.md``)."""
    s = point.settings
    fcm = "" if s.fcm else "\n[fcm]\nenabled = false\n"
    sims = '\nsims = "split"' if s.sims_used > 1 else ""
    dual = "\ndual_sim = 1.0" if s.sims > 1 else ""
    cap = "granted = true" if s.android_cap == "granted" else f'sms_cap = "{s.android_cap}"'
    slice_note = (
        "the whole fleet"
        if point.whole
        else f"a slice of {point.simulated} of its {s.phones} phones, each with the busiest "
        "phone's share"
    )
    return f"""\
[scenario]
name = "{point.name}"
description = \"\"\"
Capacity plan point ({point.variant}): {s.recipients} recipients on {s.phones} phones, \
{slice_note}; no faults.\\
\"\"\"
seed = {point.seed}
start = "{point.start.isoformat()}"
timezone = "{point.timezone}"
max_duration = {int(point.horizon)}

[fleet]
count = {point.simulated}
app = "{s.app}"
daily_limit = {s.daily_limit}
monthly_limit = {s.monthly_limit}
rate_limit = {s.rate_limit}
{cap}{dual}
{fcm}
[[workload]]
at = {ENQUEUE_AT:g}
count = {point.recipients}
campaign = "plan"
body = "{body_of(s.parts)}"{sims}
"""


def run_point(point: Point) -> PointResult:
    """Run one point in a temporary folder and keep its figures (any process)."""
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"hil-{point.name}-") as tmp:
        out = Path(tmp) / "run"
        scenario = loads(point_scenario(point), file=f"{point.name}.toml")
        # the figures come from what the run judged; its report is never looked at
        result = run_scenario(scenario, out=out, reports=False)
    if result.evidence is None:  # a run without interrupt handling is never cut short
        raise RuntimeError(f"{point.name}: the run was not judged")
    ix = result.evidence.index
    names = {int(row["id"]): str(row["name"]) for row in ix.server_phones}
    ends: dict[str, float] = defaultdict(float)
    sent = refused = not_sent = 0
    for sms_id in ix.enqueued_ids:
        row = ix.sms.get(sms_id) or {}
        if ix.failed_at_enqueue(sms_id):
            refused += 1
            continue
        ended = ix.ended_at(sms_id)
        if row.get("state") == "sent":
            sent += 1
        else:  # ended in error or canceled, or still not final when the run ended
            not_sent += 1
        phone = names.get(int(row.get("gateway_phone_id") or 0), "?")
        ends[phone] = max(ends[phone], ended if ended is not None else float("inf"))
    failed = tuple(v.name for v in result.verdicts if v.judged and not v.passed)
    return PointResult(
        point=point,
        enqueued=len(ix.enqueued_ids),
        sent=sent,
        refused=refused,
        not_sent=not_sent,
        phone_completion=tuple(ends[name] for name in sorted(ends)),
        failed_oracles=failed,
        virtual_seconds=result.virtual_duration,
        wall_seconds=time.perf_counter() - wall,
        digest=result.digest,
    )


def sweep(
    points: Sequence[Point],
    *,
    executor: Executor | None = None,
    workers: int = 2,
    progress: Callable[[PointResult, int, int], None] | None = None,
) -> list[PointResult]:
    """Run every point through ``executor`` (``workers`` local processes by default); the
    results in the order of ``points``. A run that raised is a broken result, not raised."""

    def crashed(point: Point, exc: BaseException) -> PointResult:
        return PointResult(point=point, broken=f"{type(exc).__name__}: {exc}")

    return run_all(
        run_point, points, executor=executor, workers=workers, crashed=crashed, progress=progress
    )
