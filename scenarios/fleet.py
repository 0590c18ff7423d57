"""Reading the world of a scenario: [fleet], [[phones]], [carrier], [network], [fcm],
[recipients] and [[faults]], into a ``simulator.config.WorldSpec``.

The fleet is generated (``phone-01`` .. ``phone-NN``, numbered SIMs, evenly spread dual SIMs
and start times); ``[[phones]]`` overrides single phones; ``[[faults]]`` become each phone's
``Fault`` list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace

from simulator import PRESETS
from simulator.config import (
    APP_DEFECTS,
    APP_PROFILES,
    DEFAULT_FAULT_DURATION,
    FAULT_KINDS,
    FAULT_MOMENTS,
    OEM_PROFILES,
    AndroidSpec,
    AppProfile,
    CarrierSpec,
    DozeSpec,
    Fault,
    FcmSpec,
    NetworkSpec,
    PhoneSpec,
    RecipientSpec,
    SimSpec,
    WorldSpec,
)

from .fields import (
    Checker,
    Invalid,
    Table,
    boolean,
    choice,
    evenly_spread,
    format_duration,
    integer,
    is_number,
    parse_duration,
    parse_share,
    positive_duration,
    probability,
    show,
    suggest,
    text,
)
from .locate import Location

__all__ = ["DOUBLE_SERIAL", "KEYS", "REFUSED", "RESULT_CODES", "Device", "WorldReader"]

# ``[[fleet.devices]]`` serial for the harness's own stand-in: the phone's virtual twin
# served as an ADB device (a test double of a phone on USB, for CI).
DOUBLE_SERIAL = "double"


@dataclass(frozen=True)
class Device:
    """A phone of the fleet that is a phone over ADB: ``serial`` as adb knows it, or
    :data:`DOUBLE_SERIAL` for the phone's virtual twin served as an ADB test double with
    the double's ``profile`` (``harness.adb_double.PROFILES``)."""

    phone: str
    serial: str
    profile: str = "stock"


# Android's sent-callback result codes by the names a scenario uses.
RESULT_CODES = {
    "ok": -1,
    "generic_failure": 1,
    "radio_off": 2,
    "null_pdu": 3,
    "no_service": 4,
    "limit_exceeded": 5,
    "network_reject": 10,
    "ril_retry": 101,
}

SENDER_FORMATS = ("international", "00")  # simulator.world.network_address styles
MAX_PHONES = 500
MAX_REPEATS = 10_000  # occurrences of one repeating [[faults]] entry
DEFAULT_PREFIX = "+4206"
NUMBER_DIGITS = 12  # digits after the '+' of every generated SIM number

_PHONE_KEYS = (
    "app",
    "app_fixes",
    "daily_limit",
    "monthly_limit",
    "rate_limit",
    "month_start_day",
    "heartbeat_timeout",
    "serves",
    "sms_cap",
    "granted",
    "granted_before_boot",
    "oem",
    "charging",
    "battery_exempt",
    "doze_after",
    "compress_time",
    "doze",
)
# The keys of each world table.
KEYS: dict[str, tuple[str, ...]] = {
    "fleet": ("count", "number_prefix", "dual_sim", "start_spread", "devices", *_PHONE_KEYS),
    "fleet.devices": ("phone", "serial", "profile"),
    # [fleet.doze], and the same keys in a [[phones]] entry's doze table.
    "fleet.doze": tuple(spec.name for spec in fields(DozeSpec)),
    "phones": ("name", "dual_sim", "start_at", "carrier", *_PHONE_KEYS),
    "carrier": (*(spec.name for spec in fields(CarrierSpec)), "delivery_report"),
    "network": tuple(spec.name for spec in fields(NetworkSpec)),
    "fcm": tuple(spec.name for spec in fields(FcmSpec)),
    "recipients": tuple(spec.name for spec in fields(RecipientSpec)),
    "faults": ("phones", "kind", "at", "duration", "every", "during"),
}

# The Doze countdowns that may be zero (no motion sensor, no location: sensing and locating
# end at once); every other Doze duration must be longer than zero.
_DOZE_MAY_BE_ZERO = (
    "light_after_inactive_to",
    "inactive_to",
    "idle_after_inactive_to",
    "sensing_to",
    "locating_to",
)

# Keys the format knows but refuses, with the reason: a key that changed nothing in a run
# would let a file claim a behaviour the simulator does not have.
REFUSED: dict[tuple[str, str], str] = {
    ("carrier", "delivery_report"): (
        "is not modelled: the app counts delivery reports but never sends them to the "
        "server, so no value could change a run; remove the key"
    ),
}

_PREFIX = re.compile(r"\+\d{1,8}")


def _prefix(value: object) -> str:
    if isinstance(value, str) and _PREFIX.fullmatch(value):
        return value
    raise Invalid(f"must be '+' followed by 1 to 8 digits, such as '+4206', not {show(value)}")


def _weight(value: object) -> float:
    if is_number(value) and 0 < value < math.inf:
        return float(value)
    raise Invalid(f"must be a weight above zero, not {show(value)}")


@dataclass(frozen=True)
class _Settings:
    """What a phone takes from [fleet] and may override in [[phones]]; config's defaults."""

    app: str = AppProfile.name
    app_fixes: tuple[str, ...] = ()  # APP_DEFECTS switched off (AppProfile.without)
    android: AndroidSpec = field(default_factory=AndroidSpec)
    daily_limit: int = PhoneSpec.daily_limit
    monthly_limit: int = PhoneSpec.monthly_limit
    rate_limit: int = PhoneSpec.rate_limit
    month_start_day: int = PhoneSpec.month_start_day
    heartbeat_timeout: int = PhoneSpec.heartbeat_timeout
    serves: tuple[str, ...] = PhoneSpec.serves


@dataclass
class _Plan:
    """One phone of the fleet while the file is being read."""

    name: str
    settings: _Settings
    carrier: CarrierSpec
    dual: bool
    start_at: float
    faults: list[Fault] = field(default_factory=list)


class WorldReader:
    """Reads the world tables of one file; ``max_duration`` bounds the faults (None: unknown)."""

    def __init__(self, checker: Checker, max_duration: float | None) -> None:
        self.c = checker
        self.max_duration = max_duration

    def settings(self, table: Table, loc: Location, base: _Settings) -> _Settings:
        """[fleet] or [[phones]] keys over ``base``."""
        c, android = self.c, base.android
        app = c.get(table, loc, "app", choice(tuple(APP_PROFILES)), base.app)
        return _Settings(
            app=app,
            app_fixes=self.app_fixes(table, loc, app, base.app_fixes),
            android=AndroidSpec(
                sms_cap=c.get(table, loc, "sms_cap", choice(tuple(PRESETS)), android.sms_cap),
                granted=c.get(table, loc, "granted", boolean, android.granted),
                granted_before_boot=c.get(
                    table, loc, "granted_before_boot", boolean, android.granted_before_boot
                ),
                oem=c.get(table, loc, "oem", choice(tuple(OEM_PROFILES)), android.oem),
                charging=c.get(table, loc, "charging", boolean, android.charging),
                battery_exempt=c.get(table, loc, "battery_exempt", boolean, android.battery_exempt),
                doze_after=c.get(table, loc, "doze_after", parse_duration, android.doze_after),
                compress_time=c.get(table, loc, "compress_time", boolean, android.compress_time),
                doze=self.doze(table, loc, android.doze),
            ),
            daily_limit=c.get(table, loc, "daily_limit", integer(0, 10_000_000), base.daily_limit),
            monthly_limit=c.get(
                table, loc, "monthly_limit", integer(0, 300_000_000), base.monthly_limit
            ),
            rate_limit=c.get(table, loc, "rate_limit", integer(1, 100_000), base.rate_limit),
            month_start_day=c.get(
                table, loc, "month_start_day", integer(1, 28), base.month_start_day
            ),
            heartbeat_timeout=c.get(
                table, loc, "heartbeat_timeout", integer(1, 1440), base.heartbeat_timeout
            ),
            serves=c.names(table, loc, "serves", text, base.serves),
        )

    def doze(self, table: Table, loc: Location, base: DozeSpec) -> DozeSpec:
        """``doze`` ([fleet.doze], [phones.doze]): DozeSpec's constants over ``base``, each
        key as ``dumpsys deviceidle`` / ``dumpsys alarm`` name it."""
        if "doze" not in table:
            return base
        where: Location = (*loc, "doze")
        raw = self.c.table(table["doze"], where, KEYS["fleet.doze"])
        changes: dict[str, float | int] = {}
        for spec in fields(DozeSpec):
            if spec.name not in raw:
                continue
            if spec.name.endswith("_factor"):
                convert: Callable[[object], float | int] = _factor
            elif spec.name == "allow_while_idle_quota":
                convert = integer(1, 100_000)
            elif spec.name in _DOZE_MAY_BE_ZERO:
                convert = parse_duration
            else:  # a zero would spin the Doze loop in place
                convert = positive_duration
            changes[spec.name] = self.c.get(
                raw, where, spec.name, convert, getattr(base, spec.name)
            )
        return replace(base, **changes)  # type: ignore[arg-type]

    def app_fixes(
        self, table: Table, loc: Location, app: str, base: tuple[str, ...]
    ) -> tuple[str, ...]:
        """``app_fixes = ["B6"]``: app defects switched off; each must be one the app has
        (a fix that changed nothing would let a file claim what the run did not do)."""
        fixes = self.c.names(table, loc, "app_fixes", choice(tuple(APP_DEFECTS)), base)
        if "app_fixes" in table and isinstance(table["app_fixes"], list):
            has = APP_PROFILES[app].defects
            for index, name in enumerate(table["app_fixes"]):
                if name in APP_DEFECTS and name not in has:
                    self.c.report(
                        (*loc, "app_fixes", index),
                        f"app {app!r} does not have {name} (it has "
                        f"{', '.join(has) or 'none of them'}); remove it",
                    )
        return fixes

    def carrier(self, table: Table, loc: Location, base: CarrierSpec) -> CarrierSpec:
        """[carrier] (or a phone's ``carrier = {...}``) over ``base``."""
        c = self.c
        for (section, key), reason in REFUSED.items():
            if section == "carrier" and key in table:
                c.report((*loc, key), reason)
        return CarrierSpec(
            name=c.get(table, loc, "name", text, base.name),
            latency=c.get(table, loc, "latency", parse_duration, base.latency),
            latency_jitter=c.get(table, loc, "latency_jitter", parse_duration, base.latency_jitter),
            results=self.results(table, loc, base.results),
            retry_reached=c.get(table, loc, "retry_reached", probability, base.retry_reached),
            telephony_retries=c.get(
                table, loc, "telephony_retries", integer(0, 100), base.telephony_retries
            ),
            telephony_retry_delay=c.get(
                table, loc, "telephony_retry_delay", parse_duration, base.telephony_retry_delay
            ),
            lost_callback=c.get(table, loc, "lost_callback", probability, base.lost_callback),
        )

    def results(
        self, table: Table, loc: Location, base: tuple[tuple[int, float], ...]
    ) -> tuple[tuple[int, float], ...]:
        """``results = { ok = 0.98, no_service = 0.02 }`` as (code, weight) pairs."""
        if "results" not in table:
            return base
        raw, here = table["results"], (*loc, "results")
        if not isinstance(raw, Mapping) or not raw:
            self.c.report(
                here,
                "must be a table of result names and weights, such as "
                f"{{ ok = 0.98, no_service = 0.02 }}, not "
                f"{'an empty table' if isinstance(raw, Mapping) else show(raw)}",
            )
            return base
        out: list[tuple[int, float]] = []
        for name, weight in raw.items():
            if name not in RESULT_CODES:
                hint = suggest(name, RESULT_CODES) or f"; known: {', '.join(RESULT_CODES)}"
                self.c.report((*here, name), f"unknown result {name!r}{hint}")
                continue
            try:
                out.append((RESULT_CODES[name], _weight(weight)))
            except Invalid as bad:
                self.c.report((*here, name), bad.reason)
        return tuple(out) or base

    def world(self, top: Table) -> WorldSpec:
        c = self.c
        loc: Location = ("fleet",)
        fleet = c.section(
            top, "fleet", KEYS["fleet"], required="it needs at least count = <phones>"
        )
        count = c.need(fleet, loc, "count", integer(1, MAX_PHONES), 0)
        prefix = c.get(fleet, loc, "number_prefix", _prefix, DEFAULT_PREFIX)
        dual = evenly_spread(count, c.get(fleet, loc, "dual_sim", parse_share, 0.0))
        spread = c.get(fleet, loc, "start_spread", parse_duration, 0.0)
        settings = self.settings(fleet, loc, _Settings())
        carrier = self.carrier(
            c.section(top, "carrier", KEYS["carrier"]), ("carrier",), CarrierSpec()
        )
        width = max(2, len(str(count)))
        plans = [
            _Plan(
                name=f"phone-{i + 1:0{width}d}",
                settings=settings,
                carrier=carrier,
                dual=i in dual,
                start_at=i * spread / count,
            )
            for i in range(count)
        ]
        self.overrides(top, plans)
        self.faults(top, plans)
        net, fcm, people = (
            c.section(top, name, KEYS[name]) for name in ("network", "fcm", "recipients")
        )
        return WorldSpec(
            phones=tuple(self.phone(i, plan, prefix) for i, plan in enumerate(plans)),
            network=self.network(net),
            fcm=FcmSpec(
                enabled=c.get(fcm, ("fcm",), "enabled", boolean, FcmSpec.enabled),
                latency=c.get(fcm, ("fcm",), "latency", parse_duration, FcmSpec.latency),
                loss=c.get(fcm, ("fcm",), "loss", probability, FcmSpec.loss),
            ),
            recipients=self.recipients(people),
        )

    def network(self, table: Table) -> NetworkSpec:
        c, loc = self.c, ("network",)
        latency = c.get(table, loc, "latency", parse_duration, NetworkSpec.latency)
        jitter = c.get(table, loc, "latency_jitter", parse_duration, NetworkSpec.latency_jitter)
        if jitter > latency:
            c.report(
                (*loc, "latency_jitter"),
                f"({format_duration(jitter)}) is more than network.latency "
                f"({format_duration(latency)}): a request would arrive before it was sent; "
                "lower the jitter or raise the latency",
            )
        return NetworkSpec(
            latency=latency,
            latency_jitter=jitter,
            request_loss=c.get(table, loc, "request_loss", probability, NetworkSpec.request_loss),
            response_loss=c.get(
                table, loc, "response_loss", probability, NetworkSpec.response_loss
            ),
            connection_reset=c.get(
                table, loc, "connection_reset", probability, NetworkSpec.connection_reset
            ),
        )

    def recipients(self, table: Table) -> RecipientSpec:
        c, loc = self.c, ("recipients",)
        default = RecipientSpec()
        words = c.names(table, loc, "stop_words", text, default.stop_words)
        if table.get("stop_words") == []:
            c.report((*loc, "stop_words"), "must hold at least one word, such as ['STOP']")
        other = c.get(table, loc, "other_probability", probability, default.other_probability)
        replies = c.names(table, loc, "other_replies", text, default.other_replies)
        if other > 0 and not replies:
            c.report(
                (*loc, "other_probability"),
                "needs other_replies: the texts people write that are not a STOP",
            )
        stop = c.get(table, loc, "stop_probability", probability, default.stop_probability)
        repeat = c.get(table, loc, "repeat_probability", probability, default.repeat_probability)
        if repeat > 0 and not (stop > 0 or other > 0):
            c.report(
                (*loc, "repeat_probability"),
                "needs replies to repeat: set stop_probability or other_probability above 0",
            )
        return RecipientSpec(
            stop_probability=stop,
            stop_delay=c.get(table, loc, "stop_delay", parse_duration, default.stop_delay),
            stop_words=words,
            stop_texts=c.names(table, loc, "stop_texts", text, default.stop_texts),
            other_probability=other,
            other_replies=replies,
            repeat_probability=repeat,
            repeat_delay=c.get(table, loc, "repeat_delay", positive_duration, default.repeat_delay),
            sender_format=c.get(
                table, loc, "sender_format", choice(SENDER_FORMATS), default.sender_format
            ),
        )

    def phone(self, index: int, plan: _Plan, prefix: str) -> PhoneSpec:
        digits = NUMBER_DIGITS - (len(prefix) - 1)
        slots = (1, 2) if plan.dual else (1,)
        sims = tuple(
            SimSpec(number=f"{prefix}{(index + 1) * 10 + slot:0{digits}d}", carrier=plan.carrier)
            for slot in slots
        )
        return PhoneSpec(
            name=plan.name,
            sims=sims,
            app=APP_PROFILES[plan.settings.app].without(*plan.settings.app_fixes),
            android=plan.settings.android,
            daily_limit=plan.settings.daily_limit,
            monthly_limit=plan.settings.monthly_limit,
            rate_limit=plan.settings.rate_limit,
            month_start_day=plan.settings.month_start_day,
            heartbeat_timeout=plan.settings.heartbeat_timeout,
            serves=plan.settings.serves,
            faults=tuple(sorted(plan.faults, key=lambda fault: fault.at)),
            start_at=plan.start_at,
        )

    def devices(self, top: Table, phones: tuple[str, ...]) -> tuple[Device, ...]:
        """``[[fleet.devices]]``: the fleet's phones that are phones over ADB."""
        c, seen = self.c, set[str]()
        fleet = top.get("fleet")
        if not isinstance(fleet, Mapping):
            return ()
        devices = []
        for index, raw in enumerate(c.tables(fleet.get("devices"), ("fleet", "devices"))):
            loc: Location = ("fleet", "devices", index)
            table = c.table(raw, loc, KEYS["fleet.devices"])
            phone = c.need(table, loc, "phone", text, "")
            serial = c.need(table, loc, "serial", text, "")
            profile = c.get(table, loc, "profile", text, Device.profile)
            if phone and phone not in phones and phones:
                c.report(
                    (*loc, "phone"),
                    f"unknown phone {phone!r}; the fleet has {phones[0]} to {phones[-1]}",
                )
            elif phone in seen:
                c.report((*loc, "phone"), f"{phone} is a device twice; one phone, one device")
            seen.add(phone)
            if "profile" in table and serial != DOUBLE_SERIAL:
                c.report(
                    (*loc, "profile"),
                    f"a profile is the ADB test double's (serial = {DOUBLE_SERIAL!r}); a real "
                    "phone is what it is",
                )
            devices.append(Device(phone, serial, profile))
        return tuple(devices)

    def known_phone(self, loc: Location, name: str, plans: list[_Plan]) -> _Plan | None:
        """The plan of phone ``name``, or None after reporting it unknown."""
        for plan in plans:
            if plan.name == name:
                return plan
        if plans:  # with no valid fleet.count every name would be "unknown"
            # No "did you mean": every generated name is close to every other.
            self.c.report(
                loc, f"unknown phone {name!r}; the fleet has {plans[0].name} to {plans[-1].name}"
            )
        return None

    def overrides(self, top: Table, plans: list[_Plan]) -> None:
        c, seen = self.c, set[str]()
        for index, raw in enumerate(c.tables(top.get("phones"), ("phones",))):
            loc: Location = ("phones", index)
            table = c.table(raw, loc, KEYS["phones"])
            name = c.need(table, loc, "name", text, "")
            plan = self.known_phone((*loc, "name"), name, plans) if name else None
            if plan is not None and name in seen:
                c.report((*loc, "name"), f"{name} is overridden twice; merge its [[phones]] tables")
            seen.add(name)
            # A phone not found is still read, against a stand-in, to report its other keys.
            target = plan or _Plan(name, _Settings(), CarrierSpec(), dual=False, start_at=0.0)
            target.settings = self.settings(table, loc, target.settings)
            target.dual = c.get(table, loc, "dual_sim", boolean, target.dual)
            target.start_at = c.get(table, loc, "start_at", parse_duration, target.start_at)
            if "carrier" in table:
                here = (*loc, "carrier")
                own = c.table(table["carrier"], here, KEYS["carrier"])
                target.carrier = self.carrier(own, here, target.carrier)

    def chosen(self, table: Table, loc: Location, plans: list[_Plan]) -> list[_Plan]:
        """The phones a fault's ``phones`` key selects."""
        if "phones" not in table:
            self.c.report((*loc, "phones"), "missing required key 'phones'")
            return []
        value, here = table["phones"], (*loc, "phones")
        if value == "all":
            return plans
        if isinstance(value, list):
            if not value:
                self.c.report(here, "must name at least one phone")
            picked: list[_Plan] = []
            for position, name in enumerate(value):
                if not isinstance(name, str):
                    self.c.report((*here, position), f"must be a phone name, not {show(name)}")
                elif (plan := self.known_phone((*here, position), name, plans)) is not None:
                    if plan in picked:
                        self.c.report((*here, position), f"{name!r} is listed twice")
                    picked.append(plan)
            return picked
        if isinstance(value, str) and not value.rstrip().endswith("%"):
            plan = self.known_phone(here, value, plans)
            return [] if plan is None else [plan]
        try:
            fraction = parse_share(value)
        except Invalid:
            self.c.report(
                here,
                "must be 'all', a share such as '25%' or 0.25, or an array of phone names, "
                f"not {show(value)}",
            )
            return []
        if fraction == 0:
            self.c.report(here, "a share of 0 selects no phone")
        return [plans[i] for i in evenly_spread(len(plans), fraction)]

    def faults(self, top: Table, plans: list[_Plan]) -> None:
        c = self.c
        for index, raw in enumerate(c.tables(top.get("faults"), ("faults",))):
            loc: Location = ("faults", index)
            table = c.table(raw, loc, KEYS["faults"])
            picked = self.chosen(table, loc, plans)
            kind = c.need(table, loc, "kind", choice(FAULT_KINDS), "")
            at = c.need(table, loc, "at", parse_duration, None)
            if at is not None:
                c.before((*loc, "at"), at, self.max_duration, "the fault would never happen")
            if kind == "partition":
                length = c.need(table, loc, "duration", positive_duration, 0.0)
            elif kind in DEFAULT_FAULT_DURATION:
                length = c.get(table, loc, "duration", parse_duration, DEFAULT_FAULT_DURATION[kind])
            else:
                length = 0.0
                if kind and "duration" in table:
                    c.report((*loc, "duration"), f"means nothing for {kind!r}; remove it")
            every = c.get(table, loc, "every", positive_duration, None)
            if every is not None and every < length:
                c.report(
                    (*loc, "every"),
                    f"({format_duration(every)}) is shorter than the duration "
                    f"({format_duration(length)}): each {kind} would begin before the previous "
                    "one ended",
                )
            during = c.get(table, loc, "during", choice(FAULT_MOMENTS), "any")
            if during != "any" and kind not in ("process_death", "reboot"):
                c.report((*loc, "during"), f"applies to process_death and reboot, not {kind!r}")
            times = self.repeats(loc, at, every)
            if kind:
                for plan in picked:
                    plan.faults.extend(
                        Fault(at=t, kind=kind, duration=length, during=during) for t in times
                    )

    def repeats(self, loc: Location, at: float | None, every: float | None) -> list[float]:
        """The times of a fault: ``at``, then every ``every`` while before max_duration."""
        if at is None:
            return []
        if every is None or self.max_duration is None:
            return [at]
        occurrences = max(0, math.ceil((self.max_duration - at) / every))
        if occurrences > MAX_REPEATS:
            self.c.report(
                (*loc, "every"),
                f"repeats the fault more than {MAX_REPEATS:,} times before max_duration; "
                "choose a longer interval",
            )
            return []
        # at + n * every rather than a running sum, so that no rounding error piles up.
        return [at + n * every for n in range(occurrences)]


def _factor(value: object) -> float:
    """A Doze growth factor: a number of at least 1 (1: the timeout never grows)."""
    if not is_number(value) or not 1 <= float(value) <= 100:
        raise Invalid(f"must be a factor from 1 to 100, such as 2.0, not {show(value)}")
    return float(value)
