"""A phone's poll cadence in expectation: when its share of a campaign is all final.

A phone sends only what its polls fetch, ``poll_limit`` (20) SMS a poll (``AppProfile``;
``simulator/app.py``). After the FCM wake at enqueue, polls come from the poll alarm (every
``poll_interval``, 300 s with an FCM token) and from the heartbeat's safety net: every
``heartbeat_interval`` (60 s) a heartbeat whose reply says SMS are queued polls if the last
poll *started* more than a heartbeat interval ago. The last poll started when the previous
heartbeat's reply came back, so a heartbeat right after a polling one polls only when its
own round trip was the longer: with the network's jitter independent per request, the
``m``-th such heartbeat in a row polls with chance ``1 / (m + 1)`` (a run of ``m + 1``
rising round trips), and one that does not poll guarantees the next does. That is "20 SMS
per phone per one or two heartbeats". A poll gets at most the rate limit minus what the
phone was handed in the last ``RATE_WINDOW``, and the app spaces a batch by ``send_gap``.

``completion_times`` walks the phone's alarm, heartbeat and FCM moments carrying the exact
distribution of (SMS handed out, the last poll, the run of rising round trips), which gives
the distribution of the phone's completion time; ``expected_max`` the expected completion
of the slowest of several independent phones. No randomness, no simulation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from server_under_test import RATE_WINDOW
from simulator.config import AppProfile, CarrierSpec, FcmSpec, NetworkSpec, send_gap

__all__ = ["ENQUEUE_AT", "Cadence", "Completion", "completion_times", "expected_max", "steady_pace"]

# The campaign is enqueued this long after the start (virtual time 0, when the phones
# start): every phone has heartbeated (the first comes at +5 s), so the server counts it
# online and assigns to it.
ENQUEUE_AT = 30.0
# Probability mass below which a branch of the walk is dropped, and the mass a completion
# distribution may so lose and still count as whole.
_NEGLIGIBLE = 1e-15
_LOST = 1e-6

# (time, probability) pairs: when one phone's last SMS is final.
Completion = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Cadence:
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

    @classmethod
    def of(cls, profile: AppProfile, rate_limit: int, fcm: bool) -> Cadence:
        """The cadence of ``profile`` at ``rate_limit`` SMS a minute, with FCM or not; the
        network, FCM and carrier as the simulator's defaults."""
        net, push, carrier = NetworkSpec(), FcmSpec(), CarrierSpec()
        return cls(
            heartbeat=profile.heartbeat_interval,
            poll_alarm=profile.poll_interval,
            poll_limit=profile.poll_limit,
            rate_limit=rate_limit,
            rate_window=RATE_WINDOW.total_seconds(),
            gap=send_gap(rate_limit),
            rtt=2 * net.latency,
            jitter=net.latency_jitter > 0,
            fcm_poll=ENQUEUE_AT + push.latency if fcm else None,
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


def _moments(c: Cadence) -> Iterator[tuple[float, str]]:
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


def _poll_chance(c: Cadence, state: _State, t: float) -> tuple[float, int]:
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
def completion_times(c: Cadence, share: int) -> Completion:
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


def expected_max(parts: Sequence[tuple[Completion, int]]) -> float:
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


def steady_pace(c: Cadence) -> float:
    """One phone's steady pace in SMS a minute: a long queue's hand-outs per poll alarm
    period, from the same walk."""
    periods = 8
    share = periods * int(c.poll_alarm / c.heartbeat + 2) * c.poll_limit * 4
    dist = completion_times(c, share)
    mean = sum(t * p for t, p in dist) / max(sum(p for _, p in dist), _NEGLIGIBLE)
    return 60.0 * share / max(mean - ENQUEUE_AT, 1.0)
