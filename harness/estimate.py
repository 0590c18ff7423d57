"""The capacity planner's closed-form estimate: when a fleet finishes a campaign, and why.

One campaign of ``recipients`` SMS of ``parts`` parts each is enqueued once, at
``ENQUEUE_AT`` after the start, on a fleet of ``phones`` alike phones (charging, the app
set up as production phones are). What bounds its completion, each from its one home:

* **daily_limit / monthly_limit** (``PhoneSpec``; the server's assignment,
  ``server_under_test/services/queue.py``): the server assigns every SMS to a phone at
  enqueue time, least-loaded first, and never more segments than the phone's limit leaves:
  a phone takes ``min(ceil(N / P), limit // parts)`` SMS and the rest fail at enqueue. They
  do not wait for tomorrow, so a limit is a wall, not a delay.
* **poll_cadence** (``AppProfile``; ``simulator/app.py``): a phone sends only what its polls
  fetch, ``poll_limit`` (20) SMS a poll. After the FCM wake at enqueue, polls come from the
  poll alarm (every ``poll_interval``, 300 s with an FCM token) and from the heartbeat's
  safety net: every ``heartbeat_interval`` (60 s) a heartbeat whose reply says SMS are
  queued polls if the last poll *started* more than a heartbeat interval ago. The last poll
  started when the previous heartbeat's reply came back, so a heartbeat right after a
  polling one polls only when its own round trip was the longer: with the network's jitter
  independent per request, the ``m``-th such heartbeat in a row polls with chance
  ``1 / (m + 1)`` (a run of ``m + 1`` rising round trips), and one that does not poll
  guarantees the next does. That is "20 SMS per phone per one or two heartbeats".
* **rate_limit** (the phone's ``rate_limit``; ``RATE_WINDOW`` of the server's pickup): a
  poll gets at most ``rate_limit`` minus what the phone was handed in the last minute, so a
  rate limit under ``poll_limit`` shrinks every batch, and one under twice that shrinks the
  alarm's poll that follows a heartbeat's; the app spaces a batch by ``send_gap``.
* **android_cap** (``simulator.PRESETS``): Android's ``SmsUsageMonitor`` per SIM. Over the
  cap SMS are not delayed but held behind a dialog nobody answers, then refused: a fleet
  whose batches exceed it loses SMS whatever its size.

The cadence is computed exactly in expectation: a walk over the phone's alarm, heartbeat
and FCM times carrying the distribution of (SMS handed out, the last poll, the run of
rising round trips), which gives the distribution of the phone's completion time. The
fleet finishes when its slowest phone does: phones are independent (each has its own
share, queue and network draws), so the fleet's completion is the maximum of ``P`` draws.
No randomness, no simulation: the sweep (``harness/sweep.py``) checks it against real runs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from server_under_test import RATE_WINDOW
from simulator import PRESETS
from simulator.config import (
    APP_PROFILES,
    AppProfile,
    CarrierSpec,
    FcmSpec,
    NetworkSpec,
    PhoneSpec,
    send_gap,
)

__all__ = [
    "BOTTLENECKS",
    "ENQUEUE_AT",
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

# The campaign is enqueued this long after the start (virtual time 0, when the phones
# start): every phone has heartbeated (the first comes at +5 s), so the server counts it
# online and assigns to it.
ENQUEUE_AT = 30.0
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
# Probability mass below which a branch of the cadence walk is dropped, and the mass a
# completion distribution may so lose and still count as whole.
_NEGLIGIBLE = 1e-15
_LOST = 1e-6


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


# -- the cadence walk ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Cadence:
    """The timings of one phone that its poll cadence depends on."""

    heartbeat: float
    poll_alarm: float
    poll_limit: int
    rate_limit: int  # SMS per minute
    rate_window: float
    gap: float  # between two SMS of a batch
    rtt: float  # one request's round trip, mean
    jitter: bool  # round trips vary independently
    fcm_poll: float | None  # when the FCM wake's poll starts; None: FCM off
    ack_lag: float  # from the last SMS's send to the server's acknowledgement, mean


def _cadence(settings: PlanSettings, rate_limit: int | None = None) -> _Cadence:
    profile = settings.profile
    net, fcm, carrier = NetworkSpec(), FcmSpec(), CarrierSpec()
    rate = settings.rate_limit if rate_limit is None else rate_limit
    return _Cadence(
        heartbeat=profile.heartbeat_interval,
        poll_alarm=profile.poll_interval,
        poll_limit=profile.poll_limit,
        rate_limit=rate,
        rate_window=RATE_WINDOW.total_seconds(),
        gap=send_gap(rate),
        rtt=2 * net.latency,
        jitter=net.latency_jitter > 0,
        fcm_poll=ENQUEUE_AT + fcm.latency if settings.fcm else None,
        # the carrier's sent callback, then the status sync's next round (every
        # sync_interval: half of one on average) and its request to the server
        ack_lag=carrier.latency + profile.sync_interval / 2 + net.latency,
    )


@dataclass(frozen=True)
class _State:
    handed: int  # SMS handed out so far
    last: float  # when the last poll's slot was (a heartbeat's: before its round trip)
    exact: bool  # the last poll started at ``last`` itself (alarm, FCM, start)
    run: int  # heartbeat polls in a row with rising round trips (0: not one)
    batch: int  # SMS the last poll got (for the rate window)


def _moments(c: _Cadence) -> Iterator[tuple[float, str]]:
    """The phone's alarm, heartbeat and FCM moments after the enqueue, in time order; at
    one time the poll alarm comes first (it is armed first, ``_start_schedulers``)."""
    beat, alarm = c.heartbeat, c.poll_alarm
    fcm = c.fcm_poll
    k_beat = math.floor(ENQUEUE_AT / beat) + 1
    k_alarm = math.floor(ENQUEUE_AT / alarm) + 1
    while True:
        t_beat, t_alarm = k_beat * beat, k_alarm * alarm
        t = min(t_beat, t_alarm)
        if fcm is not None and fcm <= t:
            yield fcm, "fcm"
            fcm = None
            continue
        if t_alarm <= t_beat:
            yield t_alarm, "alarm"
            k_alarm += 1
            if t_beat == t_alarm:  # the heartbeat follows the alarm's poll: nothing to do
                k_beat += 1
        else:
            yield t_beat, "beat"
            k_beat += 1


def _poll_chance(c: _Cadence, state: _State, t: float) -> tuple[float, int]:
    """The chance that a heartbeat at ``t`` polls, and the run it starts or extends."""
    gap = t - state.last
    if state.exact:
        # the last poll started at ``last``; this one's reply comes a round trip after t
        return (1.0 if gap + c.rtt > c.heartbeat else 0.0), 1
    if gap > c.heartbeat * 1.5:
        return 1.0, 1  # a heartbeat was skipped: this one's reply is surely late enough
    if gap < c.heartbeat * 0.5 or not c.jitter:
        return 0.0, 0
    return 1.0 / (state.run + 1), state.run + 1


@lru_cache(maxsize=512)
def _phone_completion(c: _Cadence, share: int) -> tuple[tuple[float, float], ...]:
    """When one phone's ``share`` SMS are all final: (time, probability) pairs; a
    probability mass missing from the total means "not within a month"."""
    if share <= 0:
        return ((ENQUEUE_AT, 1.0),)
    # before the enqueue the phone polled at its start and at each alarm, fetching nothing
    last = math.floor(ENQUEUE_AT / c.poll_alarm) * c.poll_alarm
    states: dict[_State, float] = {_State(0, last, True, 0, 0): 1.0}
    done: list[tuple[float, float]] = []
    horizon = ENQUEUE_AT + 31 * 86_400.0
    room = c.rate_limit
    for t, kind in _moments(c):
        if t > horizon or not states:
            break
        after: dict[_State, float] = defaultdict(float)
        for state, p in states.items():
            if kind == "beat":
                chance, run = _poll_chance(c, state, t)
                start = t + c.rtt  # the poll starts when the heartbeat's reply is back
            else:
                chance, run, start = 1.0, 0, t
            if chance < 1.0:
                after[replace(state, run=0) if chance == 0.0 else state] += p * (1 - chance)
                if chance == 0.0:
                    continue
            last_start = state.last + (0.0 if state.exact else c.rtt)
            recent = state.batch if start - last_start < c.rate_window else 0
            batch = max(0, min(c.poll_limit, room - recent, share - state.handed))
            handed = state.handed + batch
            q = p * chance
            if handed >= share:
                # the reply is back after a round trip; then the batch, spaced by the gap
                done.append((start + c.rtt + (batch - 1) * c.gap + c.ack_lag, q))
                continue
            after[_State(handed, t, kind != "beat", run, batch)] += q
        states = {s: p for s, p in after.items() if p > _NEGLIGIBLE}
    return tuple(done)


def _expected_max(parts: Sequence[tuple[tuple[tuple[float, float], ...], int]]) -> float:
    """The expected maximum over independent phones: ``parts`` pairs a completion
    distribution with how many phones follow it. ``inf`` when some may never finish."""
    times = sorted({t for dist, n in parts if n for t, _ in dist})
    cdfs = []
    for dist, n in parts:
        if not n:
            continue
        mass: dict[float, float] = defaultdict(float)
        for t, p in dist:
            mass[t] += p
        whole = sum(mass.values())
        if whole < 1 - _LOST:
            return math.inf
        cdfs.append(({t: p / whole for t, p in mass.items()}, n))
    total, previous = 0.0, 0.0
    running = dict.fromkeys(range(len(cdfs)), 0.0)
    for t in times:
        joint = 1.0
        for i, (mass, n) in enumerate(cdfs):
            running[i] += mass.get(t, 0.0)
            joint *= min(1.0, running[i]) ** n
        total += t * (joint - previous)
        previous = joint
    return total


# -- the estimate --------------------------------------------------------------------------


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

    def fleet_time(c: _Cadence) -> tuple[float, float]:
        big_dist = _phone_completion(c, got_big)
        small_dist = _phone_completion(c, got_small)
        whole = _expected_max([(big_dist, n_big), (small_dist, fleet - n_big)])
        return whole, _expected_max([(big_dist, 1)])

    completion, phone = fleet_time(cadence)
    cadence_alone, _ = fleet_time(free)
    pace = _pace(cadence)
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
    return _expected_max([(_phone_completion(_cadence(settings), share), phones)])


def _pace(c: _Cadence) -> float:
    """One phone's steady pace in SMS a minute: a long queue's hand-outs per poll alarm
    period, from the same walk."""
    periods = 8
    share = periods * int(c.poll_alarm / c.heartbeat + 2) * c.poll_limit * 4
    dist = _phone_completion(c, share)
    mean = sum(t * p for t, p in dist) / max(sum(p for _, p in dist), _NEGLIGIBLE)
    return 60.0 * share / max(mean - ENQUEUE_AT, 1.0)


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
