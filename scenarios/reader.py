"""From parsed TOML to a ``Scenario``: [scenario], [[workload]], [[actions]] and [expect]
here, the world tables in ``fleet``; every problem collected.

The tables and their keys are documented in ``scenarios/README.md``. The reader checks each
value where it is read (type, range, allowed names), then the rules that span tables (a fault
names phones of the fleet, a batch comes before ``max_duration``, the batches of one campaign
share its delivery, an action names a campaign a batch created by then, only a campaign's
first batch creates it queue-only, an expected hit can happen in the world described). Nothing
is built until the whole file has been read, and a file with any problem raises one
``ScenarioError`` listing all of them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from simulator.config import FAULT_MOMENTS

from .fields import (
    Checker,
    Invalid,
    Table,
    boolean,
    choice,
    format_duration,
    integer,
    is_number,
    parse_duration,
    parse_share,
    positive_duration,
    show,
    suggest,
    text,
)
from .fleet import WorldReader
from .hits import why_impossible
from .locate import KeyLines, Location
from .model import (
    ACTIONS,
    DEFECTS,
    DELIVERIES,
    HITS,
    NUMBER_FORMATS,
    ORACLES,
    SIM_CHOICES,
    THRESHOLDS,
    Action,
    Batch,
    Expect,
    Scenario,
    Served,
    Thresholds,
)

__all__ = ["KEYS", "MAX_DURATION", "MAX_TIME_SCALE", "MAX_WORKERS", "SERVED_KEYS", "read"]

MAX_RECIPIENTS = 1_000_000
MAX_DURATION = 31 * 86_400.0  # virtual seconds: a month, for monthly limits
DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=1)))
DEFAULT_TIMEZONE = "Europe/Prague"
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")  # a local time of day, "18:00"
PLACEHOLDERS = ("name", "first_name")
MAX_WORKERS = 32  # uvicorn workers of a served scenario
MAX_TIME_SCALE = 3600.0  # as hil run --time-scale

# The keys of the file and of the tables read here (the world's are fleet.KEYS).
KEYS: dict[str, tuple[str, ...]] = {
    "": (
        "scenario",
        "fleet",
        "carrier",
        "network",
        "fcm",
        "recipients",
        "workload",
        "actions",
        "faults",
        "phones",
        "expect",
    ),
    "scenario": (
        "name",
        "description",
        "seed",
        "start",
        "timezone",
        "max_duration",
        "drain",
        "defects",
        "served",
    ),
    "workload": (
        "at",
        "count",
        "campaign",
        "delivery",
        "body",
        "bodies",
        "unicode_share",
        "sims",
        "number_format",
        "recipients",
        "partner_tags",
        "phone",
        "queue_only",
        "resume",
    ),
    "actions": ("at", *ACTIONS, "phone", "sims", "during"),
    "expect": ("oracles", "fail", "hit", "stuck_after", "catches", "thresholds"),
}

# The keys of the inline table [scenario] served.
SERVED_KEYS = ("workers", "time_scale")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def read(
    data: Mapping[str, object],
    file: str,
    lines: KeyLines,
    *,
    path: Path | None = None,
    expected_name: str | None = None,
) -> Scenario:
    """The scenario in ``data`` (parsed from ``file``), or a ScenarioError with every problem.

    ``expected_name`` is the name a catalogue file must carry (its stem).
    """
    return _Reader(Checker(file, lines)).scenario(data, path, expected_name)


# -- converters particular to scenarios ----------------------------------------------------


def _scenario_name(value: object) -> str:
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    raise Invalid(
        "must be a name of letters, digits, '.', '_' and '-' (it names files and reports), "
        f"not {show(value)}"
    )


def _start(value: object) -> datetime:
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        with suppress(ValueError):
            moment = datetime.fromisoformat(value)
    if moment is None:
        raise Invalid(
            "must be a date and time with a UTC offset, such as '2026-03-02T08:00:00+01:00', "
            f"not {show(value)}"
        )
    if moment.utcoffset() is None:
        raise Invalid(
            f"must carry a UTC offset, such as '2026-03-02T08:00:00+01:00', not {show(value)}"
        )
    return moment


def _timezone(value: object) -> str:
    name = text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = suggest(name, available_timezones()) or "; use an IANA name such as 'Europe/Prague'"
        raise Invalid(f"unknown time zone {name!r}{hint}") from None
    return name


def _max_duration(value: object) -> float:
    seconds = positive_duration(value)
    if seconds > MAX_DURATION:
        raise Invalid(
            f"must be at most {format_duration(MAX_DURATION)} of virtual time (a month; "
            f"longer runs would not end in practice), not {show(value)}"
        )
    return seconds


def _time_scale(value: object) -> float:
    if is_number(value) and 0 < value <= MAX_TIME_SCALE:
        return float(value)
    raise Invalid(
        f"must be a number above 0 and at most {MAX_TIME_SCALE:g} (clock seconds per wall "
        f"second), not {show(value)}"
    )


def _template(value: object) -> str:
    body = text(value)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        raise Invalid(
            f"is not a valid template ({exc}); write '{{{{' and '}}}}' for braces"
        ) from None
    for name in names:
        if name not in PLACEHOLDERS:
            raise Invalid(
                f"has an unknown placeholder {{{name}}}; the harness fills {{name}} and "
                "{first_name} (write '{{' and '}}' for braces)"
            )
    return body


# -- the reader ------------------------------------------------------------------------------


class _Reader:
    """Reads one parsed file; the world tables are left to ``fleet.WorldReader``."""

    def __init__(self, checker: Checker) -> None:
        self.c = checker
        self.max_duration: float | None = None

    def scenario(
        self, data: Mapping[str, object], path: Path | None, expected_name: str | None
    ) -> Scenario:
        c = self.c
        top = c.table(data, (), KEYS[""])
        loc: Location = ("scenario",)
        head = c.section(
            top,
            "scenario",
            KEYS["scenario"],
            required="it needs at least name, description and max_duration",
        )
        name = c.need(head, loc, "name", _scenario_name, "")
        if expected_name is not None and name and name != expected_name:
            c.report(
                (*loc, "name"),
                f"must equal the file name {expected_name!r} in the catalogue, not {name!r}",
            )
        description = c.need(head, loc, "description", text, "")
        seed = c.get(head, loc, "seed", integer(0), 1)
        start = c.get(head, loc, "start", _start, DEFAULT_START)
        zone = c.get(head, loc, "timezone", _timezone, DEFAULT_TIMEZONE)
        self.max_duration = c.need(head, loc, "max_duration", _max_duration, None)
        drain = c.get(head, loc, "drain", boolean, True)
        defects = c.names(head, loc, "defects", choice(DEFECTS), ())
        served = self.served(head, loc)

        fleet = WorldReader(c, self.max_duration)
        world = fleet.world(top)
        phones = tuple(p.name for p in world.phones)
        devices = fleet.devices(top, phones)
        workload = self.workload(top, phones)
        actions = self.actions(top, phones, workload)
        expect = self.expect(top, start, zone)
        if not c.problems:  # judged on a world read without fallbacks only
            for index, hit in enumerate(expect.hit):
                if why := why_impossible(hit, world, workload, actions):
                    c.report(("expect", "hit", index), f"{hit!r} cannot happen here: {why}")
        c.raise_problems()
        assert self.max_duration is not None  # else a problem was raised above
        return Scenario(
            name=name,
            description=description,
            path=path,
            seed=seed,
            start=start,
            timezone=zone,
            max_duration=self.max_duration,
            drain=drain,
            defects=defects,
            world=world,
            workload=workload,
            expect=expect,
            served=served,
            actions=actions,
            devices=devices,
        )

    def served(self, head: Table, loc: Location) -> Served | None:
        """``served = { workers = 2, time_scale = 30 }``: meaningful only in real time
        against ``hil serve`` on PostgreSQL; ``None`` when absent."""
        c = self.c
        if "served" not in head:
            return None
        where: Location = (*loc, "served")
        if not isinstance(head["served"], Mapping):
            c.report(
                where,
                "must be a table such as { workers = 2, time_scale = 30 } (the uvicorn "
                f"workers and the time scale of the served run), not {show(head['served'])}",
            )
            return None
        table = c.table(head["served"], where, SERVED_KEYS)
        return Served(
            workers=c.get(table, where, "workers", integer(1, MAX_WORKERS), Served.workers),
            time_scale=c.get(table, where, "time_scale", _time_scale, Served.time_scale),
        )

    def workload(self, top: Table, phones: tuple[str, ...]) -> tuple[Batch, ...]:
        c = self.c
        batches: list[Batch] = []
        deliveries: dict[str, str] = {}  # campaign -> its delivery (set by its first batch)
        forced: dict[str, str | None] = {}  # campaign -> its forced phone (its first batch's)
        for index, raw in enumerate(c.tables(top.get("workload"), ("workload",))):
            loc: Location = ("workload", index)
            table = c.table(raw, loc, KEYS["workload"])
            at = c.get(table, loc, "at", parse_duration, 0.0)
            c.before((*loc, "at"), at, self.max_duration, "the batch would never be sent")
            if batches and at < batches[-1].at:
                c.report(
                    (*loc, "at"),
                    f"({format_duration(at)}) comes before the previous batch "
                    f"({format_duration(batches[-1].at)}); list the [[workload]] batches in "
                    "time order",
                )
            count = c.need(table, loc, "count", integer(1, MAX_RECIPIENTS), 1)
            campaign = c.get(table, loc, "campaign", text, None)
            default = "at_least_once"
            if campaign is not None:
                default = deliveries.get(campaign, "at_most_once")
            delivery = c.get(table, loc, "delivery", choice(DELIVERIES), default)
            if campaign is not None:
                first = deliveries.setdefault(campaign, delivery)
                if delivery != first:
                    c.report(
                        (*loc, "delivery"),
                        f"campaign {campaign!r} is {first} (its first batch says so); all "
                        "batches of one campaign share its delivery",
                    )
            phone = self.campaign_phone(table, loc, campaign, phones, forced)
            queue_only, resume = self.queue_only(table, loc, at, campaign, batches)
            sims = c.get(table, loc, "sims", choice(SIM_CHOICES), "auto")
            tags = c.names(table, loc, "partner_tags", text, ())
            if sims == "split" and tags:
                c.report(
                    (*loc, "partner_tags"),
                    "cannot be used with sims = 'split': a SIM chosen for an SMS overrides "
                    "the phones' partner filters, which partner_tags exist to exercise",
                )
            same = c.get(table, loc, "recipients", choice(("new", "same")), "new") == "same"
            if same:
                self.check_same(loc, count, batches)
            batches.append(
                Batch(
                    at=at,
                    count=count,
                    campaign=campaign,
                    delivery=delivery,
                    bodies=self.bodies(table, loc),
                    unicode_share=c.get(table, loc, "unicode_share", parse_share, 0.0),
                    same_recipients=same,
                    sims=sims,
                    number_format=c.get(
                        table, loc, "number_format", choice(NUMBER_FORMATS), "mixed"
                    ),
                    partner_tags=tags,
                    phone=phone,
                    queue_only=queue_only,
                    resume=resume,
                )
            )
        return tuple(batches)

    def actions(
        self, top: Table, phones: tuple[str, ...], workload: tuple[Batch, ...]
    ) -> tuple[Action, ...]:
        """The operator's actions: each names a campaign that a batch created by its time."""
        c = self.c
        created: dict[str, float] = {}  # campaign -> the time of its first batch
        for batch in workload:
            if batch.campaign is not None:
                created.setdefault(batch.campaign, batch.at)
        actions: list[Action] = []
        for index, raw in enumerate(c.tables(top.get("actions"), ("actions",))):
            loc: Location = ("actions", index)
            table = c.table(raw, loc, KEYS["actions"])
            timed = "at" in table  # else reported missing: no checks of its time
            at = c.need(table, loc, "at", parse_duration, 0.0)
            c.before((*loc, "at"), at, self.max_duration, "the action would never happen")
            if timed and actions and at < actions[-1].at:
                c.report(
                    (*loc, "at"),
                    f"({format_duration(at)}) comes before the previous action "
                    f"({format_duration(actions[-1].at)}); list the [[actions]] in time order",
                )
            given = [name for name in ACTIONS if name in table]
            if len(given) != 1:
                c.report(
                    loc,
                    "must name one action and its campaign, such as reassign = 'spring-sale'"
                    + (f", not {' and '.join(given)}" if given else ""),
                )
            kind = given[0] if given else ACTIONS[0]
            campaign = c.get(table, loc, kind, text, "")
            if campaign and campaign not in created:
                named = sorted(created)
                c.report(
                    (*loc, kind),
                    f"no [[workload]] batch names campaign {campaign!r}"
                    + (f"; the campaigns are {', '.join(map(repr, named))}" if named else ""),
                )
            elif timed and campaign in created and created[campaign] > at:
                c.report(
                    (*loc, "at"),
                    f"({format_duration(at)}) comes before campaign {campaign!r} exists: its "
                    f"first batch is at {format_duration(created[campaign])}",
                )
            phone = c.get(table, loc, "phone", text, None)
            if phone is not None and phones and phone not in phones:
                c.report(
                    (*loc, "phone"), f"unknown phone {phone!r}; the fleet has {', '.join(phones)}"
                )
            sims = c.get(table, loc, "sims", choice(SIM_CHOICES), "auto")
            during = c.get(table, loc, "during", choice(FAULT_MOMENTS), "any")
            actions.append(
                Action(at=at, kind=kind, campaign=campaign, phone=phone, sims=sims, during=during)
            )
        return tuple(actions)

    def queue_only(
        self, table: Table, loc: Location, at: float, campaign: str | None, batches: list[Batch]
    ) -> tuple[bool, float | None]:
        """``queue_only = true``: the batch creates its campaign paused; ``resume``: when the
        operator resumes it. Only a campaign's first batch creates it."""
        c = self.c
        queue_only = c.get(table, loc, "queue_only", boolean, False)
        resume = c.get(table, loc, "resume", parse_duration, None)
        if queue_only and campaign is None:
            c.report(
                (*loc, "queue_only"),
                "needs a campaign: a queue-only batch creates its campaign, paused, with its SMS",
            )
        elif queue_only:
            earlier = [i for i, b in enumerate(batches) if b.campaign == campaign]
            if earlier:
                c.report(
                    (*loc, "queue_only"),
                    f"campaign {campaign!r} already exists (workload[{earlier[0]}] creates it); "
                    "only a campaign's first batch can create it queue-only",
                )
        if resume is None:
            return queue_only, None
        if not queue_only:
            c.report(
                (*loc, "resume"),
                "needs queue_only = true: only a campaign the batch creates paused is resumed",
            )
        elif resume <= at:
            c.report(
                (*loc, "resume"),
                f"({format_duration(resume)}) must come after the batch that creates the "
                f"campaign paused (at = {format_duration(at)})",
            )
        c.before((*loc, "resume"), resume, self.max_duration, "the campaign would never resume")
        return queue_only, resume

    def campaign_phone(
        self,
        table: Table,
        loc: Location,
        campaign: str | None,
        phones: tuple[str, ...],
        forced: dict[str, str | None],
    ) -> str | None:
        """A campaign's forced phone: named by its first batch, inherited by the others."""
        c = self.c
        phone = c.get(table, loc, "phone", text, None)
        if phone is not None and campaign is None:
            c.report((*loc, "phone"), "needs a campaign: the phone is the campaign's forced phone")
            return None
        if phone is not None and phones and phone not in phones:
            c.report((*loc, "phone"), f"unknown phone {phone!r}; the fleet has {', '.join(phones)}")
            return None
        if campaign is None:
            return None
        first = forced.setdefault(campaign, phone)
        if phone is not None and phone != first:
            c.report(
                (*loc, "phone"),
                f"campaign {campaign!r} is forced on {first or 'no phone'} (its first batch "
                "says so); all batches of one campaign share its phone",
            )
        return first

    def check_same(self, loc: Location, count: int, batches: list[Batch]) -> None:
        if not batches:
            self.c.report((*loc, "recipients"), "'same' needs an earlier batch to repeat")
        elif count > batches[-1].count:
            self.c.report(
                (*loc, "count"),
                f"({count}) is more than the {batches[-1].count} recipients of the previous "
                "batch, which recipients = 'same' reuses",
            )

    def bodies(self, table: Table, loc: Location) -> tuple[str, ...]:
        c = self.c
        if "body" in table and "bodies" in table:
            c.report((*loc, "bodies"), "give either body or bodies, not both")
        if "bodies" in table:
            bodies = c.names(table, loc, "bodies", _template, ())
            if table["bodies"] == []:
                c.report((*loc, "bodies"), "must hold at least one message")
            return bodies
        body = c.need(table, loc, "body", _template, "")
        return (body,) if body else ()

    def expect(self, top: Table, start: datetime, zone: str) -> Expect:
        c, loc = self.c, ("expect",)
        table = c.section(top, "expect", KEYS["expect"])
        oracles = c.names(table, loc, "oracles", choice(ORACLES), ORACLES)
        if table.get("oracles") == []:
            c.report((*loc, "oracles"), "must name at least one oracle to judge")
        fail = c.names(table, loc, "fail", choice(ORACLES), ())
        raw_fail = table.get("fail")
        for name in fail:
            if name not in oracles and isinstance(raw_fail, list):
                c.report(
                    (*loc, "fail", raw_fail.index(name)),
                    f"{name!r} is not in expect.oracles; an oracle expected to fail must be judged",
                )
        hit = c.names(table, loc, "hit", choice(HITS), ())
        stuck_after = c.get(table, loc, "stuck_after", parse_duration, Expect.stuck_after)
        catches = self.catches(table, loc, oracles)
        thresholds = self.thresholds(table, loc, start, zone)
        return Expect(
            oracles=oracles,
            fail=fail,
            hit=hit,
            stuck_after=stuck_after,
            catches=catches,
            thresholds=thresholds,
        )

    def thresholds(self, table: Table, loc: Location, start: datetime, zone: str) -> Thresholds:
        """``thresholds = { sent = "99.5%", done_by = "18:00", latency_p95 = "10m",
        refused = 0 }``: what the run must achieve beyond green oracles."""
        c = self.c
        if "thresholds" not in table:
            return Thresholds()
        where: Location = (*loc, "thresholds")
        value = c.table(table["thresholds"], where, THRESHOLDS)
        done_by = c.get(value, where, "done_by", text, None)
        at: float | None = None
        if done_by is not None:
            at = self.deadline(where, done_by, start, zone)
        return Thresholds(
            sent=c.get(value, where, "sent", parse_share, None),
            done_by=at,
            done_by_text=done_by or "",
            latency_p95=c.get(value, where, "latency_p95", parse_duration, None),
            refused=c.get(value, where, "refused", integer(0), None),
        )

    def deadline(self, where: Location, written: str, start: datetime, zone: str) -> float | None:
        """A deadline as run time: a local clock time ("18:00", the first one at or after
        the start, in the scenario's time zone) or a duration after the start ("5h")."""
        if match := _CLOCK.fullmatch(written.strip()):
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour > 23 or minute > 59:
                self.c.report((*where, "done_by"), f"{written!r} is not a time of day")
                return None
            local = start.astimezone(ZoneInfo(zone))
            due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if due < local:
                due += timedelta(days=1)
            at = (due - local).total_seconds()
        else:
            try:
                at = parse_duration(written)
            except Invalid as bad:
                self.c.report(
                    (*where, "done_by"),
                    f"must be a local time such as '18:00' or a duration after the start such "
                    f"as '5h' ({bad.reason})",
                )
                return None
        self.c.before((*where, "done_by"), at, self.max_duration, "the run would end before it")
        return at

    def catches(
        self, table: Table, loc: Location, oracles: tuple[str, ...]
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``catches = { B8 = "stop_respected", B1 = ["no_loss", "exactly_once"] }``: the defect
        switches this scenario exposes, each with the oracles of which one must fail."""
        c = self.c
        if "catches" not in table:
            return ()
        value = c.table(table["catches"], (*loc, "catches"), DEFECTS)
        out: list[tuple[str, tuple[str, ...]]] = []
        for defect, named in value.items():
            if defect not in DEFECTS:
                continue  # reported as an unknown key
            where = (*loc, "catches", defect)
            listed = [named] if isinstance(named, str) else named
            if not isinstance(listed, list) or not listed:
                c.report(where, f"must name an oracle or an array of oracles, not {show(named)}")
                continue
            names = c.names({defect: listed}, (*loc, "catches"), defect, choice(ORACLES), ())
            for name in names:
                if name not in oracles:
                    c.report(
                        where, f"{name!r} is not in expect.oracles: only a judged oracle catches"
                    )
            if names:
                out.append((defect, names))
        return tuple(out)
