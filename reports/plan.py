"""The capacity plan of ``hil plan`` as a page: HTML and Markdown, with its plots.

Everything comes from the plan's ``plan.json`` (written by ``harness/plan.py``): the
question, the closed-form estimate, the sweep's points (each estimate beside its
simulation), the estimate's curves over fleet sizes, the changes the estimate weighed and
the recommendation. Times in it are seconds after the start; the page shows them on the
campaign's local clock. One plot per variant of the settings: completion time against fleet
size, the estimate and the time each bottleneck alone would need, the simulated points, the
deadline and the margin, and the fleet sizes whose daily or monthly limit refuses SMS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .page import (
    Bullets,
    Image,
    Page,
    Section,
    Table,
    Text,
    clock_axis,
    new_figure,
    png_bytes,
)

__all__ = ["PlanClock", "phones_text", "plan_page", "write_plan"]

Plan = Mapping[str, Any]

# The time each bottleneck alone would need, as the plots draw them (limits are walls).
_BOUND_STYLE = {
    "poll_cadence": ("#8250df", "poll cadence alone (no rate limit)"),
    "rate_limit": ("#bf8700", "rate limit alone"),
    "android_cap": ("#1a7f37", "Android's cap alone"),
}


class PlanClock:
    """Seconds after a plan's start as the campaign's local time (``HH:MM``, with ``(+N d)``
    on a later day)."""

    def __init__(self, start: datetime, timezone: str) -> None:
        self.start = start.astimezone(UTC)
        self.tz = ZoneInfo(timezone)
        self.day = self.start.astimezone(self.tz).date()

    @classmethod
    def of(cls, plan: Plan) -> PlanClock:
        """The clock of a plan.json."""
        question = plan["question"]
        return cls(datetime.fromisoformat(question["start"]), question["timezone"])

    def at(self, seconds: float | None) -> str:
        """The local time ``seconds`` after the start; ``never`` for none or infinity."""
        if seconds is None or not math.isfinite(seconds):
            return "never"
        moment = (self.start + timedelta(seconds=seconds)).astimezone(self.tz)
        days = (moment.date() - self.day).days
        later = f" (+{days} d)" if days else ""
        return moment.strftime("%H:%M") + later


def phones_text(n: int | None) -> str:
    """``1 phone``, ``4 phones``; ``no fleet`` for none."""
    return "no fleet" if n is None else f"{n} phone{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    minutes = round(abs(seconds) / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _settings_text(settings: Mapping[str, Any]) -> str:
    daily = settings["daily_limit"] or "no"
    monthly = settings["monthly_limit"] or "no"
    sims = "one SIM" if settings["sims"] == 1 else f"{settings['sims']} SIMs"
    return (
        f"app {settings['app']}, {sims} a phone, {daily} daily and {monthly} monthly limit "
        f"(segments), rate limit {settings['rate_limit']} SMS a minute, "
        f"{settings['parts']}-part messages, FCM {'on' if settings['fcm'] else 'off'}, "
        f"Android's cap `{settings['android_cap']}`"
    )


def _lead(plan: Plan, clock: PlanClock) -> list[Text | Bullets]:
    q = plan["question"]
    rec = plan["recommendation"]
    deadline = q["window_seconds"]
    margin = f"{q['margin']:.0%}"
    asked = (
        f"How many phones send **{q['recipients']} SMS** by **{clock.at(deadline)}** "
        f"({q['timezone']}, {clock.day.isoformat()}), starting at {clock.at(0)}? Settings: "
        f"{_settings_text(q['settings'])}. A fleet must be done by "
        f"{clock.at(q['target_seconds'])} (the deadline less a {margin} margin of the window)."
    )
    smallest = plan["estimate"]["smallest"]
    answer: list[str] = []
    if rec["phones"] is not None:
        spare = q["window_seconds"] - rec["completion"]
        answer.append(
            f"**{phones_text(rec['phones'])}**: the simulation finishes at "
            f"{clock.at(rec['completion'])}, {_duration(spare)} before the deadline."
        )
    else:
        answer.append("**No simulated fleet meets the deadline.** " + rec["note"])
    if smallest is not None:
        answer.append(
            f"The closed-form estimate: {phones_text(smallest['phones'])}, done at "
            f"{clock.at(smallest['completion'])}."
        )
    if rec["binding"]:
        answer.append(
            f"The bottleneck that binds: **{rec['binding']}**, "
            f"{plan['bottlenecks'][rec['binding']]}."
        )
    change = rec.get("change")
    if change:
        simulated = change["simulated_phones"]
        shown = f"; simulated: {simulated}" if simulated is not None else ""
        answer.append(
            f"The one change that helps most: **{change['text']}**, "
            f"{phones_text(change['estimate_phones'])} by the estimate{shown}."
        )
    mine = rec.get("fleet")
    if mine:
        verdict = "meets" if mine["meets"] else "does **not** meet"
        answer.append(
            f"Your fleet of {phones_text(mine['phones'])} {verdict} the deadline with the margin "
            f"(done at {clock.at(mine['completion'])}, {mine['sent']} sent, "
            f"{mine['refused']} refused at enqueue)."
        )
    blocks: list[Text | Bullets] = [Text(asked), Text(" ".join(answer))]
    if rec["note"] and rec["phones"] is not None:
        blocks.append(Text(rec["note"]))
    return blocks


def _points_table(plan: Plan, clock: PlanClock) -> Table:
    rows = []
    for p in plan["points"]:
        est, fleet, sim = p["estimate"], p["fleet"], p
        done_est, done_sim = est["completion"], fleet["completion"]
        diff = "—" if p["difference"] is None else f"{p['difference']:+.1%}"
        simulated = (
            "all" if sim["simulated_phones"] >= sim["phones"] else str(sim["simulated_phones"])
        )
        state = (
            "broken: " + sim["broken"][:60] if sim["broken"] else ("yes" if p["meets"] else "no")
        )
        rows.append(
            [
                p["variant"],
                str(p["phones"]),
                simulated,
                clock.at(done_est),
                clock.at(done_sim),
                diff,
                f"{est['assigned']}/{fleet['sent']}",
                f"{est['refused']}/{fleet['refused']}",
                est["binding"],
                state,
            ]
        )
    header = [
        "variant",
        "phones",
        "simulated",
        "estimate done",
        "simulation done",
        "estimate vs simulation",
        "sent (est./sim.)",
        "refused (est./sim.)",
        "binding (est.)",
        "meets",
    ]
    return Table(header, rows, numeric=frozenset({1, 2, 5, 6, 7}))


def _plot(plan: Plan, variant: str, clock: PlanClock) -> bytes:
    q = plan["question"]
    curve = plan["curves"][variant]
    points = [p for p in plan["points"] if p["variant"] == variant]
    figure = new_figure(11.0, 4.6)
    axes = figure.add_subplot()
    xs = [c["phones"] for c in curve]
    window, target = q["window_seconds"], q["target_seconds"]
    sims = [p["fleet"]["completion"] for p in points if p["fleet"]["completion"] is not None]
    top = max([window * 1.25, *(t * 1.1 for t in sims)])

    def clip(values: Sequence[float | None]) -> list[float]:
        return [v if v is not None and v <= top * 2 else math.nan for v in values]

    axes.plot(xs, clip([c["completion"] for c in curve]), color="#0969da", lw=2, label="estimate")
    for name, (color, label) in _BOUND_STYLE.items():
        values = [c["bounds"].get(name) for c in curve]
        if any(v is not None for v in values):
            # over the estimate's line: where one binds, the two lie on each other
            axes.plot(xs, clip(values), color=color, lw=1, ls="--", label=label, zorder=3)
    wall = plan["variants"][variant].get("limits_fleet")
    if wall is not None and wall > min(xs):  # fewer phones than this refuse SMS
        axes.axvspan(
            min(xs) - 0.5,
            wall - 0.5,
            color="#cf222e",
            alpha=0.08,
            label="SMS refused at enqueue (daily or monthly limit)",
        )
    px = [p["phones"] for p in points if p["fleet"]["completion"] is not None]
    axes.scatter(
        px, sims, color="#1b1f23", zorder=5, marker="o", label="simulation (for the whole fleet)"
    )
    axes.axhline(window, color="#cf222e", lw=1.2, label="deadline")
    axes.axhline(target, color="#fb8500", lw=1, ls=":", label="deadline less the margin")
    clock_axis(axes, clock.start, clock.tz, top, axis="y")
    axes.set_xlabel("phones in the fleet")
    axes.set_ylabel(f"last SMS final, {q['timezone']} time")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    text = plan["variants"][variant]["text"]
    axes.set_title(f"Completion time against fleet size: {text}", fontsize=11)
    return png_bytes(figure)


def _method(plan: Plan) -> Bullets:
    q, sweep = plan["question"], plan["sweep"]
    slice_text = (
        "every phone of each fleet was simulated"
        if q["slice"] == 0
        else (
            f"each point simulated a slice of at most {q['slice']} phones, each given the busiest "
            "phone's share: the server assigns at enqueue to the least-loaded phone and each "
            "phone then drains its own queue, so the slice's counts scale by phones / slice, "
            "and the fleet's completion is the slice phones' mean plus the estimate's gap "
            "between one phone and the slowest of the fleet (`correction` in plan.json); "
            "`hil plan --slice 0` simulates every phone"
        )
    )
    return Bullets(
        [
            "The campaign is enqueued once, 30 s after the start, when every phone has "
            "heartbeated; the phones are charging, run the app as set up in production, and "
            "have sent nothing yet today or this month. No faults: a plan point is the fleet's "
            "best case (run a point's scenario with faults added to see their cost).",
            f"Closed form: {', '.join(plan['bottlenecks'])} (`harness/estimate.py`); the poll "
            "cadence's expectation is exact for the app model, the fleet finishes when its "
            "slowest phone does.",
            f"Simulation: {slice_text}.",
            f"The sweep: {sweep['points']} points, {sweep['executor']}, "
            f"{sweep['wall_seconds']:.0f} s wall; seed {q['seed']}; each point's scenario is "
            "in `points/` (replay one with `hil run points/NAME.toml`).",
        ]
    )


def plan_page(plan: Plan) -> Page:
    """The plan as a page (images included)."""
    clock = PlanClock.of(plan)
    q = plan["question"]
    page = Page(
        f"Capacity plan: {q['recipients']} SMS by {clock.at(q['window_seconds'])}",
        lead=list(_lead(plan, clock)),
    )
    plots = Section("Completion time against fleet size", "plots")
    for variant in plan["curves"]:
        name = f"plan-{variant}.png"
        plots.blocks.append(
            Image(
                name,
                _plot(plan, variant, clock),
                f"completion time against fleet size, {variant}",
                caption=f"{plan['variants'][variant]['text']}: the estimate, each bottleneck "
                "alone, and the simulated points against the deadline.",
            )
        )
    page.sections.append(plots)
    page.sections.append(
        Section(
            "Estimate and simulation, side by side",
            "points",
            [
                Text(
                    "Every point is a real scenario run (virtual time). The difference is the "
                    "estimate's time from the start to the fleet's last SMS final against "
                    "the simulation's."
                ),
                _points_table(plan, clock),
            ],
        )
    )
    changes = [
        [c["change"], c["bottleneck"], "none" if c["phones"] is None else str(c["phones"])]
        for c in plan["changes"]
    ]
    smallest = plan["estimate"]["smallest"]
    page.sections.append(
        Section(
            "Single changes the estimate weighed",
            "changes",
            [
                Text(
                    "The smallest fleet with each change alone, by the estimate (as asked: "
                    f"{'none' if smallest is None else smallest['phones']}); the first was "
                    "simulated."
                ),
                Table(["change", "bottleneck it relieves", "phones"], changes, frozenset({2})),
            ],
        )
    )
    page.sections.append(Section("How the plan was made", "method", [_method(plan)]))
    return page


def write_plan(plan: Plan, folder: Path) -> list[Path]:
    """Write plan.html, plan.md and the plots' PNGs into ``folder``; the files written."""
    page = plan_page(plan)
    written = []
    for image in page.images():
        path = folder / image.name
        path.write_bytes(image.png)
        written.append(path)
    for name, text in (("plan.md", page.markdown()), ("plan.html", page.html())):
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written
