"""``hil plan``: how many phones send N SMS by a deadline, with the plots to show why.

The terminal prints the closed-form estimate first, then the sweep's progress (points
done/total), then the recommendation; the plan folder (``--out``) gets plan.json,
plan.md, plan.html, the plots and each point's scenario (``points/``). Exit codes: 0 a
simulated fleet meets the deadline (and, with ``--phones``, that fleet does); 1 none does,
or the fleet given does not; 2 bad input, naming the option; 3 the harness failed (a
point's run broke, or the Dask scheduler could not be reached).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.plan import PlanClock, phones_text, write_plan
from scenarios import ScenarioError, loads, parse_share
from scenarios.reader import DEFAULT_START, DEFAULT_TIMEZONE
from simulator import PRESETS
from simulator.config import APP_PROFILES, PhoneSpec

from .cadence import ENQUEUE_AT
from .errors import ExecutorError
from .estimate import BOTTLENECKS, PlanSettings, changes, estimate, smallest_fleet
from .plan import ASKED, PlanRequest, assemble, earlier, make_points
from .pool import executor_for
from .run_cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_HARNESS, EXIT_PASSED, seed_option
from .sweep import MAX_PARTS, Point, PointResult, point_scenario, sweep

__all__ = ["add_parsers", "plan_command"]

PLAN_FILES = ("plan.json", "plan.md", "plan.html")
# Scenario fields of a plan point -> the option that set them, to name it in an error.
_OPTION_OF = {
    "workload[0].count": "--recipients",
    "fleet.count": "--phones",
    "fleet.daily_limit": "--daily-limit",
    "fleet.monthly_limit": "--monthly-limit",
    "fleet.rate_limit": "--rate-limit",
    "fleet.app": "--app-profile",
    "scenario.timezone": "--timezone",
    "scenario.start": "--start",
}
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")
# The app profiles a plan may use: the real app's versions, not the adversarial personas.
PLAN_APPS = [name for name, profile in APP_PROFILES.items() if not profile.persona]


# ``hil plan --help``, one paragraph each (wrapped when printed).
_DESCRIPTION = (
    "Plan a fleet for one campaign enqueued at the start: a closed-form estimate from the "
    "bottlenecks (daily and monthly limits, Android's cap per SIM, the app's poll cadence and "
    "heartbeat safety net, the rate limit, message parts, FCM), then a sweep of real scenario "
    "runs around it (fleet sizes, and the one change of the settings that helps most), run in "
    "parallel on local processes or on a Dask cluster (--scheduler), then the "
    "recommendation: the smallest simulated fleet that sends every SMS by the deadline less "
    "the margin, the bottleneck that binds and the change that would help most. Writes "
    "plan.html, plan.md, plan.json, the plots and each point's scenario (points/, replayable "
    "with hil run) to --out.",
    "Slices: the server assigns every SMS at enqueue to the least-loaded phone, and each "
    "phone then drains its own queue, so a point simulates --slice phones with the busiest "
    "phone's share each and scales the result to the fleet (counts by phones/slice; the "
    "completion is the slice's mean plus the estimate's gap between one phone and the "
    "slowest of the fleet). --slice 0 simulates every phone.",
    "Exit codes: 0 a simulated fleet meets the deadline (with --phones: that fleet does); 1 "
    "none does, or the fleet given does not; 2 bad input; 3 the harness failed (a run broke, "
    "the Dask scheduler unreachable).",
)


class PlanInputError(ValueError):
    """An option's value is bad; the message names the option."""


def _time_of_day(value: str) -> clock_time:
    found = _HH_MM.match(value)
    if found is None or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise argparse.ArgumentTypeError(
            f"must be a local time HH:MM, such as 18:00, not {value!r}"
        )
    return clock_time(int(found.group(1)), int(found.group(2)))


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, not {value!r}") from None


def _share(value: str) -> float:
    try:
        share = parse_share(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if share >= 1:
        raise argparse.ArgumentTypeError(f"must be below 100 %, not {value!r}")
    return share


def add_parsers(sub: Any) -> None:
    """Add ``plan`` to the ``hil`` subcommands."""
    local = DEFAULT_START.strftime("%H:%M")
    plan = sub.add_parser(
        "plan",
        help="capacity planning: how many phones send N SMS by a deadline",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="\n\n".join(textwrap.fill(p, 88) for p in _DESCRIPTION),
        epilog="Example: hil plan --recipients 100000 --deadline 18:00 --daily-limit 500\n\n"
        + "Bottlenecks:\n"
        + "\n".join(
            textwrap.fill(f"{k}: {v}", 88, initial_indent="  ", subsequent_indent="    ")
            for k, v in BOTTLENECKS.items()
        ),
    )
    plan.add_argument("--recipients", type=int, required=True, metavar="N", help="SMS to send")
    plan.add_argument(
        "--deadline",
        type=_time_of_day,
        required=True,
        metavar="HH:MM",
        help="every SMS final by this local time, on the start's day",
    )
    plan.add_argument(
        "--start",
        type=_time_of_day,
        default=DEFAULT_START.timetz().replace(tzinfo=None),
        metavar="HH:MM",
        help=f"when the phones start; the campaign is enqueued {ENQUEUE_AT:g} s later "
        f"(default {local})",
    )
    plan.add_argument(
        "--date",
        type=_date,
        default=DEFAULT_START.date(),
        metavar="YYYY-MM-DD",
        help=f"the campaign's day (default {DEFAULT_START.date().isoformat()})",
    )
    plan.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        metavar="ZONE",
        help=f"the phones' and the server's IANA time zone (default {DEFAULT_TIMEZONE})",
    )
    plan.add_argument(
        "--phones",
        type=int,
        metavar="P",
        help="the fleet you have: simulated as a point of its own, and judged (exit 1 if it "
        "does not meet the deadline)",
    )
    plan.add_argument(
        "--daily-limit",
        type=int,
        default=PhoneSpec.daily_limit,
        metavar="L",
        help=f"segments a phone may send a day, 0 unlimited (default {PhoneSpec.daily_limit})",
    )
    plan.add_argument(
        "--monthly-limit",
        type=int,
        default=PhoneSpec.monthly_limit,
        metavar="M",
        help="segments a phone may send a month, 0 unlimited (default 0); the month is "
        "taken as fresh",
    )
    plan.add_argument(
        "--rate-limit",
        type=int,
        default=PhoneSpec.rate_limit,
        metavar="R",
        help=f"SMS a phone may be handed a minute (default {PhoneSpec.rate_limit})",
    )
    plan.add_argument(
        "--sims",
        type=int,
        choices=(1, 2),
        default=1,
        help="SIMs a phone (default 1); a second carries traffic only with an app that "
        "honours the server's SIM choice (sim-aware), and only Android's cap is per SIM",
    )
    plan.add_argument(
        "--app-profile",
        choices=PLAN_APPS,
        default="1.7.1",
        metavar="APP",
        help=f"the app version: {', '.join(PLAN_APPS)} (default 1.7.1)",
    )
    plan.add_argument(
        "--parts",
        type=int,
        default=1,
        metavar="K",
        help=f"parts per message, 1 to {MAX_PARTS} (GSM-7 texts; default 1)",
    )
    plan.add_argument("--fcm", choices=("on", "off"), default="on", help="FCM wakes (default on)")
    plan.add_argument(
        "--android-cap",
        choices=list(PRESETS),
        default="granted",
        help="Android's SMS cap: granted (the app holds WRITE_SECURE_SETTINGS, 1000 parts a "
        "minute: production phones), modern (30 a minute), legacy (30 per 30 min)",
    )
    plan.add_argument(
        "--margin",
        type=_share,
        default=0.1,
        metavar="SHARE",
        help="share of the start-to-deadline window a fleet must have to spare (default 10%%)",
    )
    plan.add_argument(
        "--slice",
        type=int,
        default=3,
        metavar="K",
        help="phones simulated per point (default 3); 0 simulates every phone of each fleet",
    )
    plan.add_argument(
        "--workers", type=int, default=2, metavar="N", help="points at once (local processes)"
    )
    plan.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the sweep on this Dask distributed cluster instead of local processes "
        "(its workers must be able to import this project)",
    )
    plan.add_argument("--seed", type=seed_option, default=1, help="the runs' seed (default 1)")
    plan.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the plan folder (default runs/plan-N-by-HHMM)",
    )


def request_from(args: argparse.Namespace) -> PlanRequest:
    """The plan the options ask for; ``PlanInputError`` names the option at fault."""
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlanInputError(
            f"--timezone {args.timezone!r} is not an IANA time zone, such as Europe/Prague."
        ) from None
    # in UTC: the difference of two times of one zone would ignore a DST change between them
    start = datetime.combine(args.date, args.start, tzinfo=zone).astimezone(UTC)
    deadline = datetime.combine(args.date, args.deadline, tzinfo=zone).astimezone(UTC)
    if (deadline - start).total_seconds() <= ENQUEUE_AT:
        raise PlanInputError(
            f"--deadline {args.deadline:%H:%M} is not after --start {args.start:%H:%M} (the "
            f"campaign is enqueued {ENQUEUE_AT:g} s after the start, on the same day)."
        )
    checks = [
        (args.recipients >= 1, "--recipients must be at least 1."),
        (args.phones is None or args.phones >= 1, "--phones must be at least 1."),
        (1 <= args.parts <= MAX_PARTS, f"--parts must be from 1 to {MAX_PARTS}."),
        (args.slice >= 0, "--slice must be 0 (every phone) or more."),
        (args.workers >= 1, "--workers must be at least 1."),
    ]
    for good, message in checks:
        if not good:
            raise PlanInputError(message)
    if args.scheduler is not None and "://" not in args.scheduler:
        raise PlanInputError(
            f"--scheduler must be a Dask scheduler address such as tcp://HOST:8786, not "
            f"{args.scheduler!r}."
        )
    settings = PlanSettings(
        recipients=args.recipients,
        window=(deadline - start).total_seconds(),
        phones=args.phones or 1,
        daily_limit=args.daily_limit,
        monthly_limit=args.monthly_limit,
        rate_limit=args.rate_limit,
        sims=args.sims,
        app=args.app_profile,
        parts=args.parts,
        fcm=args.fcm == "on",
        android_cap=args.android_cap,
    )
    request = PlanRequest(
        settings=settings,
        start=start.astimezone(zone),
        timezone=args.timezone,
        margin=args.margin,
        seed=args.seed,
        slice=args.slice,
        fleet=args.phones,
    )
    _check_as_scenario(request)
    return request


def _check_as_scenario(request: PlanRequest) -> None:
    """Load the plan's point for the fleet asked as a scenario, so that a value the format
    refuses (a limit out of range, too many phones to simulate) is refused here, by the
    loader's own rules, naming the option."""
    phones = request.fleet or 1
    probe = Point(
        settings=request.settings.with_phones(phones),
        variant=ASKED,
        simulated=phones if request.slice == 0 else min(phones, request.slice),
        seed=request.seed,
        start=request.start,
        timezone=request.timezone,
        horizon=3600.0,
    )
    try:
        loads(point_scenario(probe), file="plan")
    except ScenarioError as exc:
        option = _OPTION_OF.get(exc.field, exc.field)
        raise PlanInputError(f"{option}: {exc.reason}") from None


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / "plan.json").exists():
        raise PlanInputError(
            f"--out {out} is a folder with files but no plan.json; give a new or empty "
            "folder, or an earlier plan's folder to replace it."
        )
    (out / "points").mkdir(parents=True, exist_ok=True)
    for old in (*(out / name for name in PLAN_FILES), *out.glob("plan-*.png")):
        old.unlink(missing_ok=True)
    for old in (out / "points").glob("*.toml"):
        old.unlink()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def plan_command(args: argparse.Namespace) -> int:
    """``hil plan``."""
    try:
        request = request_from(args)
        out = args.out or Path("runs") / (f"plan-{args.recipients}-by-{args.deadline:%H%M}")
        _prepare(out)
    except PlanInputError as exc:
        print(f"hil plan: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    clock = PlanClock(request.start, request.timezone)
    settings, by = request.settings, request.by
    print(
        f"hil plan: {settings.recipients} SMS by {clock.at(settings.window)} "
        f"({request.timezone}, {request.start.date()}), start {clock.at(0)}; done by "
        f"{clock.at(by)} to keep a {request.margin:.0%} margin"
    )
    best = smallest_fleet(settings, by)
    local = request.start.timetz()
    since_midnight = local.hour * 3600 + local.minute * 60
    # an earlier start on the same day only: the limits count per day
    options = changes(settings, by, start_earlier=min(3600.0, float(since_midnight)))
    _print_estimate(request, best, options, clock)
    points = make_points(request, best, options[0] if options else None)
    for point in points:
        (out / "points" / f"{point.name}.toml").write_text(point_scenario(point), encoding="utf-8")
    where = (
        f"the Dask cluster at {args.scheduler}"
        if args.scheduler
        else f"{args.workers} local processes"
    )
    sliced = "every phone" if request.slice == 0 else f"slices of up to {request.slice} phones"
    _say(f"sweep: {len(points)} points ({sliced}) on {where} -> {out}")

    def progress(result: PointResult, done: int, total: int) -> None:
        p = result.point
        if result.broken:
            what = f"BROKEN: {result.broken[:200]}"
        else:
            shift = earlier(request, p.settings)  # its own start, on the plan's clock
            end = None if result.completion is None else result.completion - shift
            what = f"done {clock.at(end)}, {result.sent} sent"
            if result.refused:
                what += f", {result.refused} refused"
        _say(
            f"[{done}/{total}] {p.variant:<16} {p.settings.phones:>5} phones "
            f"({p.simulated} simulated): {what}  {result.wall_seconds:.1f} s"
        )

    wall = time.perf_counter()
    try:
        with executor_for(args.scheduler, args.workers) as executor:
            results = sweep(points, executor=executor, progress=progress)
    except ExecutorError as exc:
        print(f"hil plan: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    sweep_info = {
        "points": len(points),
        "executor": where,
        "wall_seconds": round(time.perf_counter() - wall, 3),
    }
    plan = assemble(request, best, options, results, sweep_info)
    (out / "plan.json").write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
    write_plan(plan, out)
    return _conclude(plan, results, out, clock)


def _print_estimate(request: PlanRequest, best: Any, options: list[Any], clock: PlanClock) -> None:
    if best is None:
        print("estimate: no fleet meets the deadline with the margin under these settings")
    else:
        print(
            f"estimate: {phones_text(best.settings.phones)}, done at "
            f"{clock.at(best.completion)}; "
            f"one phone sends {best.sms_per_minute:.1f} SMS a minute"
        )
    if request.fleet is not None:
        mine = estimate(request.settings.with_phones(request.fleet))
        refused = f", {mine.refused} refused at enqueue" if mine.refused else ""
        print(
            f"  your {request.fleet} phones: done at {clock.at(mine.completion)}{refused} "
            f"(binding: {mine.binding})"
        )
    for option in options[:3]:
        phones = None if option.fleet is None else option.fleet.settings.phones
        print(f"  if you {option.text}: {phones_text(phones)}")


def _conclude(plan: dict[str, Any], results: list[PointResult], out: Path, clock: PlanClock) -> int:
    rec = plan["recommendation"]
    if rec["phones"] is not None:
        smallest = plan["estimate"]["smallest"]
        est = f"; the estimate said {smallest['phones']}" if smallest else ""
        print(
            f"recommendation: {phones_text(rec['phones'])}, done at "
            f"{clock.at(rec['completion'])} "
            f"(simulated{est})"
        )
    else:
        print(f"recommendation: none. {rec['note']}")
    if rec["binding"]:
        print(f"  binding: {rec['binding']}: {plan['bottlenecks'][rec['binding']]}")
    if rec.get("change"):
        change = rec["change"]
        simulated = change["simulated_phones"]
        print(
            f"  helps most: {change['text']} -> {phones_text(change['estimate_phones'])} "
            f"(simulated: {'none met it' if simulated is None else simulated})"
        )
    if rec.get("note") and rec["phones"] is not None:
        print(f"  note: {rec['note']}")
    mine = rec.get("fleet")
    if mine:
        verdict = "meets" if mine["meets"] else "does NOT meet"
        print(
            f"  your {mine['phones']} phones {verdict} it: done at "
            f"{clock.at(mine['completion'])}, {mine['sent']} sent, {mine['refused']} refused"
        )
    print(f"plan: {out / 'plan.html'} ({out / 'plan.md'}, {out / 'plan.json'})")
    broken = [r for r in results if r.broken]
    if broken:
        print(
            f"hil plan: {len(broken)} of {len(results)} runs broke; the first: "
            f"{broken[0].point.name}: {broken[0].broken}",
            file=sys.stderr,
        )
        return EXIT_HARNESS
    if rec["phones"] is None or (mine is not None and not mine["meets"]):
        return EXIT_FAILED
    return EXIT_PASSED
