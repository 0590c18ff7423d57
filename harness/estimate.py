"""The capacity planner's closed-form estimate: when a fleet finishes a campaign, and why.

One campaign of ``recipients`` SMS of ``parts`` parts each is enqueued once, at
``ENQUEUE_AT`` after the start, on a fleet of ``phones`` alike phones (charging, the app
set up as production phones are). What bounds its completion, each from its one home:

* **daily_limit / monthly_limit** (``PhoneSpec``; the server's assignment,
  ``server_under_test/services/queue.py``): the server assigns every SMS to a phone at
  enqueue time, least-loaded first, and never more segments than the phone's limit leaves:
  a phone takes ``min(ceil(N / P), limit // parts)`` SMS and the rest fail at enqueue. They
  do not wait for tomorrow, so a limit is a wall, not a delay.
* **poll_cadence** (``AppProfile``; ``harness/cadence.py``): a phone sends only what its
  polls fetch, 20 SMS a poll, one poll at the FCM wake, at each poll alarm and at one
  heartbeat in one or two: about 15 SMS a minute.
* **rate_limit** (the phone's ``rate_limit``; ``RATE_WINDOW`` of the server's pickup): a
  poll gets at most ``rate_limit`` minus what the phone was handed in the last minute, so a
  rate limit under ``poll_limit`` shrinks every batch, and one under twice that shrinks the
  alarm's poll that follows a heartbeat's; the app spaces a batch by ``send_gap``.
* **android_cap** (``simulator.PRESETS``): Android's ``SmsUsageMonitor`` per SIM. Over the
  cap SMS are not delayed but held behind a dialog nobody answers, then refused: a fleet
  whose batches exceed it loses SMS whatever its size.

The cadence gives the distribution of one phone's completion time, exactly in expectation
(``harness/cadence.py``). The fleet finishes when its slowest phone does: phones are
independent (each has its own share, queue and network draws), so the fleet's completion
is the maximum of ``P`` draws. No randomness, no simulation: the sweep
(``harness/sweep.py``) checks it against real runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from simulator import PRESETS
from simulator.config import APP_PROFILES, AppProfile, PhoneSpec

from .cadence import ENQUEUE_AT, Cadence, completion_times, expected_max, steady_pace

__all__ = [
    "BOTTLENECKS",
    "MAX_FLEET",
    "Change",
    "Estimate",
    "PlanSettings",
    "changes",
    "estimate",
    "fewest_for_limits",
    "slowest",
    "smallest_fleet",
]

# The largest fleet the planner searches; a campaign that needs more is reported as such.
MAX_FLEET = 100_000

# What can bound a campaign's completion, in the order the plan reports them.
BOTTLENECKS: dict[str, str] = {
    "daily_limit": "the phones' daily limit: SMS beyond what the fleet may send today fail "
    "at enqueue",
    "monthly_limit": "the phones' monthly limit: SMS beyond what the fleet may send this month "
    "fail at enqueue",
    "android_cap": "Android's SMS cap per SIM: batches over it are held behind a dialog, then "
    "refused",
    "rate_limit": "the phones' rate limit: each poll gets fewer SMS than the app asks for",
    "poll_cadence": "the app's poll cadence: 20 SMS a poll, one poll every one or two "
    "heartbeats plus the poll alarm",
}
# The rate limit binds when it makes a campaign this much longer than the poll cadence
# alone would (its pacing within a batch adds a few seconds to any campaign).
_RATE_BINDS = 1.02
# A rate limit (SMS a minute) that bounds nothing: the poll cadence alone.
_NO_RATE_LIMIT = 1_000_000


@dataclass(frozen=True)
class PlanSettings:
    """One capacity question: a campaign, a fleet and the settings that bound it.

    Times are seconds after the start (virtual time 0). Defaults are a phone's as the
    server registers it (``PhoneSpec``) and the app 1.7.1 with FCM, on a charging phone
    that holds WRITE_SECURE_SETTINGS (Android's cap ``granted``), as production phones run.
    """

    recipients: int
    window: float  # from the start to the deadline
    phones: int = 1
    daily_limit: int = PhoneSpec.daily_limit  # segments; 0 = unlimited
    monthly_limit: int = PhoneSpec.monthly_limit  # segments; 0 = unlimited
    rate_limit: int = PhoneSpec.rate_limit  # SMS per minute
    sims: int = 1
    app: str = "1.7.1"
    parts: int = 1
    fcm: bool = True
    android_cap: str = "granted"

    @property
    def profile(self) -> AppProfile:
        """The app profile the phones run."""
        return APP_PROFILES[self.app]

    @property
    def sims_used(self) -> int:
        """SIMs that carry traffic: the second only with an app that honours the server's
        SIM choice (1.7.1 sends everything from the default SIM, B19)."""
        return self.sims if self.profile.honour_sim_choice else 1

    def with_phones(self, phones: int) -> PlanSettings:
        """The same question for a fleet of ``phones``."""
        return replace(self, phones=phones)


@dataclass(frozen=True)
class Estimate:
    """What the closed form predicts for one fleet (times in seconds after the start)."""

    settings: PlanSettings
    share: int  # SMS the busiest phone is given
    assigned: int  # SMS the fleet takes at enqueue
    refused: int  # SMS that fail at enqueue for want of a phone with room
    completion: float  # expected: the fleet's last assigned SMS final (inf: never)
    phone_completion: float  # expected: one busiest phone's last SMS final
    bounds: dict[str, float] = field(default_factory=dict)  # bottleneck -> its time alone
    binding: str = "poll_cadence"
    cap_ok: bool = True
    sms_per_minute: float = 0.0  # one phone's steady pace (poll cadence and rate limit)

    @property
    def all_assigned(self) -> bool:
        """Every SMS was given a phone at enqueue."""
        return self.refused == 0

    def meets(self, by: float) -> bool:
        """Every SMS assigned, Android's cap kept, and all final by ``by``."""
        return self.all_assigned and self.cap_ok and self.completion <= by

    def to_dict(self) -> dict[str, Any]:
        """For plan.json."""
        return {
            "phones": self.settings.phones,
            "share": self.share,
            "assigned": self.assigned,
            "refused": self.refused,
            "completion": _finite(self.completion),
            "phone_completion": _finite(self.phone_completion),
            "bounds": {name: _finite(t) for name, t in self.bounds.items()},
            "binding": self.binding,
            "cap_ok": self.cap_ok,
            "sms_per_minute": round(self.sms_per_minute, 3),
        }


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


# -- the estimate --------------------------------------------------------------------------


def _cadence(settings: PlanSettings, rate_limit: int | None = None) -> Cadence:
    rate = settings.rate_limit if rate_limit is None else rate_limit
    return Cadence.of(settings.profile, rate, settings.fcm)


def _capacity(settings: PlanSettings) -> tuple[float, str | None]:
    """SMS one phone may be given today (``inf``: unlimited), and the limit that sets it."""
    limits = [
        (limit, name)
        for limit, name in (
            (settings.daily_limit, "daily_limit"),
            (settings.monthly_limit, "monthly_limit"),
        )
        if limit
    ]
    if not limits:
        return math.inf, None
    limit, name = min(limits)
    return limit // settings.parts, name


def _cap_peak(settings: PlanSettings, share: int, pace: float) -> tuple[float, int]:
    """Parts one SIM sends at most within Android's cap period, and the cap's count.

    Two polls that each get a whole batch are at least a heartbeat interval apart, and the
    app sends a batch's SMS one after the other, so a cap whose period is no longer than
    that meets one batch at a time (the previous batch's sends age out of its window as
    fast as the new one's come); a longer period meets the steady pace, plus a batch."""
    cap = PRESETS[settings.android_cap]
    profile = settings.profile
    batch = min(profile.poll_limit, share)
    if cap.period <= profile.heartbeat_interval:
        peak = float(batch)
    else:
        peak = min(float(share), pace * cap.period / 60.0 + batch)
    return peak * settings.parts / settings.sims_used, cap.max_count


def estimate(settings: PlanSettings) -> Estimate:
    """The closed-form estimate for one fleet (see the module docstring)."""
    n, fleet = settings.recipients, settings.phones
    if fleet < 1 or n < 1 or settings.parts < 1:
        raise ValueError("An estimate needs at least one phone, one recipient and one part.")
    capacity, limit = _capacity(settings)
    big, small = -(-n // fleet), n // fleet
    n_big = n - small * fleet  # phones given one SMS more than the others
    got_big, got_small = int(min(big, capacity)), int(min(small, capacity))
    assigned = n_big * got_big + (fleet - n_big) * got_small
    cadence = _cadence(settings)
    # the poll cadence alone: a rate limit so high it neither shrinks a batch nor slows it
    free = _cadence(settings, rate_limit=_NO_RATE_LIMIT)

    def fleet_time(c: Cadence) -> tuple[float, float]:
        big_dist = completion_times(c, got_big)
        small_dist = completion_times(c, got_small)
        whole = expected_max([(big_dist, n_big), (small_dist, fleet - n_big)])
        return whole, expected_max([(big_dist, 1)])

    completion, phone = fleet_time(cadence)
    cadence_alone, _ = fleet_time(free)
    pace = steady_pace(cadence)
    peak, cap_count = _cap_peak(settings, got_big, pace)
    cap = PRESETS[settings.android_cap]
    bounds = {
        "poll_cadence": cadence_alone,
        "rate_limit": ENQUEUE_AT + 60.0 * got_big / settings.rate_limit
        if settings.rate_limit
        else 0.0,
        "android_cap": ENQUEUE_AT
        + got_big * settings.parts * cap.period / (cap.max_count * settings.sims_used),
    }
    if limit is not None:
        bounds[limit] = math.inf if assigned < n else ENQUEUE_AT
    cap_ok = peak <= cap_count
    if assigned < n and limit is not None:
        binding = limit
    elif not cap_ok:
        binding = "android_cap"
    elif completion > ENQUEUE_AT + (cadence_alone - ENQUEUE_AT) * _RATE_BINDS:
        binding = "rate_limit"
    else:
        binding = "poll_cadence"
    return Estimate(
        settings=settings,
        share=got_big,
        assigned=assigned,
        refused=n - assigned,
        completion=completion,
        phone_completion=phone,
        bounds=bounds,
        binding=binding,
        cap_ok=cap_ok,
        sms_per_minute=pace,
    )


def slowest(settings: PlanSettings, phones: int) -> float:
    """The expected completion of the slowest of ``phones`` phones that each get the busiest
    phone's share of ``settings``' fleet (a slice's phones, or as many as the fleet has)."""
    capacity, _ = _capacity(settings)
    share = int(min(-(-settings.recipients // settings.phones), capacity))
    return expected_max([(completion_times(_cadence(settings), share), phones)])


def fewest_for_limits(settings: PlanSettings) -> int | None:
    """The fewest phones whose daily and monthly limits take every SMS at enqueue (1
    without limits); None when a limit leaves a phone no room for one message."""
    capacity, _ = _capacity(settings)
    if capacity == 0:
        return None
    return 1 if not math.isfinite(capacity) else max(1, math.ceil(settings.recipients / capacity))


def smallest_fleet(settings: PlanSettings, by: float) -> Estimate | None:
    """The estimate for the smallest fleet that meets the campaign by ``by`` seconds after
    the start (every SMS assigned, the cap kept); None when no fleet up to ``MAX_FLEET``
    does."""
    low = fewest_for_limits(settings)
    n = settings.recipients
    if low is None:
        return None
    top = estimate(settings.with_phones(min(MAX_FLEET, max(low, n))))
    if not top.meets(by):
        return None
    high = top.settings.phones
    while low < high:  # completion only falls as the fleet grows
        mid = (low + high) // 2
        if estimate(settings.with_phones(mid)).meets(by):
            high = mid
        else:
            low = mid + 1
    return estimate(settings.with_phones(low))


@dataclass(frozen=True)
class Change:
    """One change to the settings, and the smallest fleet the estimate needs with it."""

    key: str  # names the change in plan.json and its points' scenarios
    bottleneck: str  # the BOTTLENECKS entry it relieves
    text: str  # what to do, for people
    settings: PlanSettings
    fleet: Estimate | None  # the smallest fleet with the change; None: still none

    def to_dict(self) -> dict[str, Any]:
        """For plan.json."""
        return {
            "key": self.key,
            "bottleneck": self.bottleneck,
            "change": self.text,
            "phones": None if self.fleet is None else self.fleet.settings.phones,
        }


def changes(settings: PlanSettings, by: float, start_earlier: float = 3600.0) -> list[Change]:
    """The single changes of the settings that could relieve a bottleneck, each with the
    smallest fleet it needs, most helpful first (fewest phones; none last). Starting
    ``start_earlier`` seconds earlier is one of them (0: not possible)."""
    found: list[tuple[str, str, str, PlanSettings]] = []  # key, bottleneck, text, settings
    n, parts = settings.recipients, settings.parts
    profile = settings.profile
    time_bound = smallest_fleet(replace(settings, daily_limit=0, monthly_limit=0), by)
    if time_bound is not None:
        # the limit that lets the fleet the deadline needs take the whole campaign
        needed = -(-n // time_bound.settings.phones) * parts
        for name in ("daily_limit", "monthly_limit"):
            current = getattr(settings, name)
            if current and current < needed:
                text = f"raise the {name.replace('_', ' ')} from {current} to {needed} segments"
                changed = (
                    replace(settings, daily_limit=needed)
                    if name == "daily_limit"
                    else replace(settings, monthly_limit=needed)
                )
                found.append((f"raise-{name.replace('_', '-')}", name, text, changed))
    if settings.android_cap != "granted":
        cap = PRESETS[settings.android_cap]
        text = (
            "grant the app WRITE_SECURE_SETTINGS and reboot (Android's cap 1000 parts a "
            f"minute instead of {cap.max_count} per {cap.period:g} s)"
        )
        found.append(("grant-cap", "android_cap", text, replace(settings, android_cap="granted")))
        if settings.sims_used < 2:
            text = (
                "a second SIM in every phone, with the app that sends from the SIM the server "
                "chose (sim-aware)"
            )
            two = replace(settings, sims=2, app="sim-aware")
            found.append(("two-sims", "android_cap", text, two))
    if settings.rate_limit < 2 * profile.poll_limit:
        rate = 2 * profile.poll_limit
        text = f"raise the rate limit from {settings.rate_limit} to {rate} SMS a minute"
        found.append(("raise-rate-limit", "rate_limit", text, replace(settings, rate_limit=rate)))
    if not settings.fcm:
        found.append(("fcm-on", "poll_cadence", "turn FCM on", replace(settings, fcm=True)))
    if start_earlier > 0:
        minutes = round(start_earlier / 60)
        text = "start an hour earlier" if minutes == 60 else f"start {minutes} minutes earlier"
        longer = replace(settings, window=settings.window + start_earlier)
        found.append(("start-earlier", "poll_cadence", text, longer))
    out = [
        Change(
            key, bottleneck, text, changed, smallest_fleet(changed, _shifted(settings, changed, by))
        )
        for key, bottleneck, text, changed in found
    ]
    out.sort(key=lambda c: math.inf if c.fleet is None else c.fleet.settings.phones)
    return out


def _shifted(before: PlanSettings, after: PlanSettings, by: float) -> float:
    """The deadline in the changed settings' time: a longer window starts earlier."""
    return by + (after.window - before.window)
