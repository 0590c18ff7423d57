"""The capacity plan: the closed-form estimate, a sweep of real runs around it, and the
recommendation, as one ``plan.json`` that ``reports.plan`` renders.

``make_points`` chooses the sweep: five fleet sizes around the estimate's smallest fleet
(and the operator's own fleet, if given) under the settings asked, and the same around the
smallest fleet of the one change the estimate finds most helpful. ``assemble`` puts the
estimate of every point beside its simulation, scales a slice's figures to the whole fleet
(``harness/sweep.py``) and picks the smallest simulated fleet that sends every SMS by the
deadline less the margin: the recommendation, with the bottleneck that keeps a smaller
fleet from doing it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .estimate import (
    BOTTLENECKS,
    Change,
    Estimate,
    PlanSettings,
    estimate,
    fewest_for_limits,
    slowest,
)
from .sweep import Point, PointResult

__all__ = [
    "ASKED",
    "PlanRequest",
    "assemble",
    "earlier",
    "fleet_figures",
    "fleet_sizes",
    "make_points",
]

ASKED = "asked"  # the variant of the settings as the operator gave them
MAX_HORIZON = 31 * 86_400.0  # a scenario's longest max_duration
_CURVE_POINTS = 16  # fleet sizes the report's estimate curves are drawn through


@dataclass(frozen=True)
class PlanRequest:
    """What the operator asked: the campaign and settings, when, and how to simulate."""

    settings: PlanSettings  # ``phones``: the operator's fleet, else 1
    start: datetime  # virtual time 0, with its offset
    timezone: str
    margin: float  # share of the window to spare before the deadline
    seed: int = 1
    slice: int = 3  # phones simulated per point; 0: every phone of the fleet
    fleet: int | None = None  # the operator's fleet (--phones), judged as its own point

    @property
    def deadline(self) -> datetime:
        """The moment every SMS must be final (in the start's zone)."""
        moment = self.start.astimezone(UTC) + timedelta(seconds=self.settings.window)
        return moment.astimezone(self.start.tzinfo)

    @property
    def by(self) -> float:
        """Seconds after the start by which a fleet must be done: the deadline less the
        margin."""
        return self.settings.window * (1 - self.margin)


def fleet_sizes(best: int, fleet: int | None = None) -> list[int]:
    """Five fleet sizes around ``best`` (10 % apart, at least one phone), plus ``fleet``."""
    step = max(1, round(best * 0.1))
    sizes = {best + k * step for k in (-2, -1, 0, 1, 2)} | ({fleet} if fleet else set())
    return sorted(s for s in sizes if s >= 1)


def _horizon(settings: PlanSettings) -> float:
    """The run's max_duration: past the window and well past the estimate's completion,
    so a fleet too slow for the deadline still shows when it would finish."""
    done = estimate(settings).completion
    longest = settings.window if not math.isfinite(done) else max(settings.window, 1.5 * done)
    return min(MAX_HORIZON, math.ceil(longest + 3600.0))


def earlier(request: PlanRequest, settings: PlanSettings) -> float:
    """How much earlier than asked a variant's campaign starts (its window is longer by
    that: the change "start earlier"); its times are moved back by this on the plan's
    clock."""
    return settings.window - request.settings.window


def make_points(request: PlanRequest, best: Estimate | None, change: Change | None) -> list[Point]:
    """The sweep: fleet sizes around the estimate's smallest fleet under the settings asked
    (around the operator's fleet when none meets the deadline), and around the smallest
    fleet of ``change``, the most helpful single change, if it helps."""
    around = best.settings.phones if best is not None else (request.fleet or 1)
    variants: list[tuple[str, PlanSettings, list[int]]] = [
        (ASKED, request.settings, fleet_sizes(around, request.fleet))
    ]
    if change is not None and change.fleet is not None:
        sizes = fleet_sizes(change.fleet.settings.phones)
        variants.append((change.key, change.settings, sizes))
    points = []
    for variant, settings, sizes in variants:
        for phones in sizes:
            at = settings.with_phones(phones)
            simulated = phones if request.slice == 0 else min(phones, request.slice)
            moved = request.start.astimezone(UTC) - timedelta(seconds=earlier(request, settings))
            start = moved.astimezone(request.start.tzinfo)
            points.append(
                Point(
                    settings=at,
                    variant=variant,
                    simulated=simulated,
                    seed=request.seed,
                    start=start,
                    timezone=request.timezone,
                    horizon=_horizon(at),
                )
            )
    return points


def fleet_figures(result: PointResult) -> dict[str, Any]:
    """A point's run for its whole fleet. A slice's counts scale by phones / simulated;
    its completion is its phones' mean plus the estimate's gap between one phone and the
    slowest of the fleet's (``correction``): the slice gives the level, the estimate the
    spread of ``P`` phones, which a few phones cannot show (the slowest of three is as
    likely to be the fleet's slowest as not)."""
    point = result.point
    s = point.settings
    completion = result.completion
    if point.whole:
        correction = 0.0
        assigned, not_sent = result.enqueued - result.refused, result.not_sent
    else:
        # each slice phone stands for the fleet's busiest; the others take less, up to the
        # same room
        room = (result.enqueued - result.refused) / point.simulated
        big, small = -(-s.recipients // s.phones), s.recipients // s.phones
        n_big = s.recipients - small * s.phones
        assigned = round(n_big * min(big, room) + (s.phones - n_big) * min(small, room))
        not_sent = math.ceil(result.not_sent * s.phones / point.simulated)
        correction = max(0.0, slowest(s, s.phones) - slowest(s, 1))
        if completion is not None:
            completion = statistics.fmean(result.phone_completion)
    return {
        "sent": max(0, assigned - not_sent),
        "refused": s.recipients - assigned,
        "not_sent": not_sent,
        "completion": None if completion is None else round(completion + correction, 3),
        "correction": round(correction, 3),
    }


def _shift(value: float | None, by: float) -> float | None:
    return None if value is None else round(value - by, 3)


def _meets(figures: dict[str, Any], result: PointResult, by: float) -> bool:
    done = figures["completion"]
    return (
        not result.broken
        and not result.failed_oracles
        and figures["refused"] == 0
        and figures["not_sent"] == 0
        and done is not None
        and done <= by
    )


def _settings_dict(settings: PlanSettings) -> dict[str, Any]:
    out = asdict(settings)
    out.pop("phones")
    return out


def _curve(
    request: PlanRequest, settings: PlanSettings, sizes: Sequence[int]
) -> list[dict[str, Any]]:
    """The estimate over a range of fleet sizes around ``sizes``, for the report's plots
    (times on the plan's clock)."""
    low, high = max(1, math.floor(min(sizes) * 0.75)), math.ceil(max(sizes) * 1.25)
    step = max(1, (high - low) // (_CURVE_POINTS - 1))
    shift = earlier(request, settings)
    drawn = {*range(low, high + 1, step), *sizes}
    wall = fewest_for_limits(settings)
    if wall is not None and low < wall <= high:  # the step where the limits stop refusing
        drawn |= {wall - 1, wall}
    curve = []
    for phones in sorted(drawn):
        shown = estimate(settings.with_phones(phones)).to_dict()
        shown["completion"] = _shift(shown["completion"], shift)
        bounds: dict[str, float | None] = shown["bounds"]
        shown["bounds"] = {name: _shift(t, shift) for name, t in bounds.items()}
        curve.append(shown)
    return curve


def _binding(settings: PlanSettings, phones: int, by: float) -> str:
    """The bottleneck that keeps a fleet one phone smaller from meeting the deadline."""
    if phones <= 1:
        return estimate(settings.with_phones(phones)).binding
    smaller = estimate(settings.with_phones(phones - 1))
    if smaller.meets(by):  # the simulation needed more than the estimate: time was short
        return estimate(settings.with_phones(phones)).binding
    return smaller.binding


def assemble(
    request: PlanRequest,
    best: Estimate | None,
    options: Sequence[Change],
    results: Sequence[PointResult],
    sweep: dict[str, Any],
) -> dict[str, Any]:
    """The plan as plain data (``plan.json``), for the report and the terminal."""
    by = request.by
    points: list[dict[str, Any]] = []
    variants: dict[str, dict[str, Any]] = {}
    sizes: dict[str, list[int]] = {}
    for result in results:
        point = result.point
        # a variant that starts earlier: its times on the plan's clock (0 = the start asked)
        shift = earlier(request, point.settings)
        est = estimate(point.settings).to_dict()
        figures = fleet_figures(result)
        expected, simulated = est["completion"], figures["completion"]
        # on the point's own clock: a time moved to the plan's clock is no duration
        difference = (
            round((expected - simulated) / simulated, 4) if expected and simulated else None
        )
        est["completion"] = _shift(expected, shift)
        figures["completion"] = _shift(simulated, shift)
        shown = result.to_dict()
        shown["completion"] = _shift(shown["completion"], shift)
        sizes.setdefault(point.variant, []).append(point.settings.phones)
        variants.setdefault(
            point.variant,
            {
                "settings": _settings_dict(point.settings),
                "earlier": shift,
                "limits_fleet": fewest_for_limits(point.settings),
            },
        )
        points.append(
            {
                **shown,
                "estimate": est,
                "fleet": figures,
                "difference": difference,
                "meets": _meets(figures, result, by),
            }
        )
    change = options[0] if options and options[0].fleet is not None else None
    for variant in variants:
        variants[variant]["text"] = (
            "the settings as asked" if variant == ASKED or change is None else change.text
        )
    recommendation = _recommend(request, best, change, points)
    curves = {
        variant: _curve(
            request,
            request.settings if variant == ASKED or change is None else change.settings,
            sizes[variant],
        )
        for variant in variants
    }
    return {
        "question": {
            "recipients": request.settings.recipients,
            "start": request.start.isoformat(),
            "deadline": request.deadline.isoformat(),
            "timezone": request.timezone,
            "window_seconds": request.settings.window,
            "margin": request.margin,
            "target_seconds": round(by, 3),
            "settings": _settings_dict(request.settings),
            "fleet": request.fleet,
            "seed": request.seed,
            "slice": request.slice,
        },
        "bottlenecks": dict(BOTTLENECKS),
        "estimate": {
            "smallest": None if best is None else best.to_dict(),
            "fleet": None
            if request.fleet is None
            else estimate(request.settings.with_phones(request.fleet)).to_dict(),
        },
        "changes": [c.to_dict() for c in options],
        "variants": variants,
        "points": points,
        "curves": curves,
        "recommendation": recommendation,
        "sweep": sweep,
    }


def _recommend(
    request: PlanRequest,
    best: Estimate | None,
    change: Change | None,
    points: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    def smallest(variant: str) -> dict[str, Any] | None:
        good = [p for p in points if p["variant"] == variant and p["meets"]]
        return min(good, key=lambda p: p["phones"]) if good else None

    asked = [p for p in points if p["variant"] == ASKED]
    chosen = smallest(ASKED)
    out: dict[str, Any] = {"phones": None, "completion": None, "binding": None, "note": ""}
    if chosen is not None:
        phones = chosen["phones"]
        binding = _binding(request.settings, phones, request.by)
        out.update(phones=phones, completion=chosen["fleet"]["completion"], binding=binding)
        if phones == min(p["phones"] for p in asked) and phones > 1:
            out["note"] = (
                f"{phones} phones is the smallest fleet simulated; fewer were not simulated "
                f"(the estimate's smallest is {best.settings.phones if best else 'none'})."
            )
    elif best is None:
        out["note"] = (
            "No fleet meets the deadline under these settings, by the estimate; the sweep ran "
            "around the fleet asked for."
        )
        out["binding"] = estimate(request.settings.with_phones(request.fleet or 1)).binding
    else:
        out["note"] = (
            f"None of the simulated fleets ({', '.join(str(p['phones']) for p in asked)}) met "
            "the deadline with the margin; plan with more phones (--phones) or more time."
        )
        out["binding"] = best.binding
    if change is not None:
        simulated = smallest(change.key)
        out["change"] = {
            "key": change.key,
            "bottleneck": change.bottleneck,
            "text": change.text,
            "estimate_phones": change.fleet.settings.phones if change.fleet else None,
            "simulated_phones": None if simulated is None else simulated["phones"],
        }
    if request.fleet is not None:
        mine = next(p for p in asked if p["phones"] == request.fleet)
        out["fleet"] = {
            "phones": request.fleet,
            "meets": mine["meets"],
            "completion": mine["fleet"]["completion"],
            "sent": mine["fleet"]["sent"],
            "refused": mine["fleet"]["refused"],
        }
    return out
