"""Android under the app: Doze, while-idle alarms and the SMS stack of each SIM slot.

Numbers are AOSP defaults (``reference/android-and-testing.md`` §A1, §A3, §A5):

- **Doze** starts when the phone is unplugged with the screen off. Light doze idles after
  about a minute (windows of 5, 10, 15, 15… min between 1-min maintenance windows); deep
  doze after about 61-65 min (inactive 30 min, idle-pending 30 min, sensing up to 4 min,
  locating up to 30 s), then idles 1 h, 2 h, 4 h, 6 h… with maintenance windows of 5 then
  10 min. While idle an app that is not battery-exempt has no network, except for a short
  temporary allow-list (10 s after a while-idle alarm or a high-priority push, 20 s after
  an incoming SMS) — unless its process runs a foreground service: AOSP exempts those
  (``NetworkPolicyManagerService`` allows procstate <= BOUND_FOREGROUND_SERVICE through the
  idle firewall), a restrictive OEM profile does not. Jobs (WorkManager) of an app that is
  not exempt wait for a maintenance window whatever its process state
  (``DeviceIdleJobsController``). ``COMPRESS_TIME`` divides the long timeouts by ten.
- **While-idle alarms** (``setExactAndAllowWhileIdle``) fire in Doze within a quota of 72
  per hour; beyond it they wait for the next maintenance window. Battery-exempt apps have
  no quota.
- **The SMS stack**: per slot an ``SmsUsageMonitor`` (held behind the confirmation dialog,
  refused with code 5), the carrier's latency and result codes, three telephony retries
  2 s apart on ``RIL_SMS_SEND_FAIL_RETRY`` (101) — a failed attempt may have reached the
  SMSC anyway, and the retry then duplicates that part below the app — and one result
  and one sent callback per part (parts go out one after the other; each can fail on its
  own, any callback can be lost). The callback is the part's ``PendingIntent``: it carries
  the extras it holds when it fires, which a later ``FLAG_UPDATE_CURRENT`` with the same
  request code may have overwritten. Every message that leaves the radio goes to the
  ledger; a reboot turns the radio off and cancels what had not left.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from .config import OEM_PROFILES, RESULT_OK, AndroidSpec, CarrierSpec, SimSpec
from .events import CapVerdict, DozeState, LostCallback, TelephonyRetry, Transmission
from .history import History
from .ledger import RadioLedger
from .sms_monitor import PRESETS, SmsCap, SmsUsageMonitor, Verdict

__all__ = [
    "Doze",
    "PendingIntent",
    "PendingIntents",
    "Radio",
    "SendRefused",
    "SendRequest",
    "cap_in_force",
]

RIL_RETRY = 101
RETRY_FAILED = 30  # RESULT_ERROR_SMS_SEND_RETRY_FAILED
LIMIT_EXCEEDED = 5

# Randomness of the Doze countdown that no constant names: light idle waits up to this
# much past light_after_inactive_to (the motion/screen bookkeeping of a real phone).
_LIGHT_FLEX = 60.0
ALARM_ALLOWLIST = 10.0
FCM_ALLOWLIST = 10.0
SMS_ALLOWLIST = 20.0


class Doze:
    """DeviceIdleController's light and deep states for one phone."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: AndroidSpec,
        rng: random.Random,
        history: History,
        phone: str,
    ) -> None:
        self.env = env
        self.spec = spec
        self.rng = rng
        self.history = history
        self.phone = phone
        self._oem = OEM_PROFILES[spec.oem]
        self.state = "active"
        self.idle_count = 0  # deep idle periods entered (a scenario can demand one)
        self._allow_until = 0.0
        self._quota: deque[float] = deque()
        self._wake = env.event()
        self._run: simpy.Process | None = None
        if not spec.charging:
            self.unplug(at=spec.doze_after)

    # -- what the app sees ------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Light or deep idle (not a maintenance window)."""
        return self.state in ("light_idle", "deep_idle")

    def network_allowed(self, foreground: bool = False) -> bool:
        """May the app reach the network right now? ``foreground``: its process runs a
        started foreground service (the gateway service after ``startForeground``)."""
        if self.spec.battery_exempt or not self.idle or self.env.now < self._allow_until:
            return True
        return foreground and self._oem.fgs_network_in_doze

    def jobs_allowed(self) -> bool:
        """May JobScheduler run the app's jobs (WorkManager workers) right now?"""
        return self.spec.battery_exempt or not self.idle

    def allow(self, seconds: float) -> None:
        """A temporary allow-list entry (while-idle alarm, high-priority push, SMS)."""
        self._allow_until = max(self._allow_until, self.env.now + seconds)

    def window(self) -> simpy.Event:
        """An event that fires when a background app may next use the network (now if it
        may): the next maintenance window or allow-list in Doze."""
        return self._now_or_wake(self.network_allowed())

    def job_window(self) -> simpy.Event:
        """An event that fires when the app's jobs may next run (now if they may)."""
        return self._now_or_wake(self.jobs_allowed())

    def _now_or_wake(self, allowed: bool) -> simpy.Event:
        if allowed:
            event = self.env.event()
            event.succeed()
            return event
        return self._wake

    def alarm_delay(self) -> float | None:
        """For a while-idle alarm due now: ``None`` to fire now, else wait for a window."""
        if self.spec.battery_exempt or self.state != "deep_idle":
            return None
        horizon = self.env.now - self.spec.doze.allow_while_idle_window
        while self._quota and self._quota[0] <= horizon:
            self._quota.popleft()
        if len(self._quota) < self.spec.doze.allow_while_idle_quota:
            self._quota.append(self.env.now)
            return None
        return -1.0

    # -- plug state -----------------------------------------------------------------------

    def unplug(self, at: float | None = None) -> None:
        """Screen off and unplugged from ``at`` (default now): the Doze countdown starts."""
        if self._run is None or not self._run.is_alive:
            self._run = self.env.process(self._countdown(self.env.now if at is None else at))

    def plug(self) -> None:
        """Charging: back to active at once, every delay reset."""
        if self._run is not None and self._run.is_alive:
            self._run.interrupt("plug")
        self._set("active")

    def force_idle(self) -> None:
        """``dumpsys deviceidle force-idle``: deep idle now, and no maintenance window
        until :meth:`unforce` (DeviceIdleController's ``mForceIdle``)."""
        if self._run is not None and self._run.is_alive:
            self._run.interrupt("force-idle")
        self._set("deep_idle")

    def unforce(self, charging: bool) -> None:
        """``dumpsys deviceidle unforce``: active again; unplugged, the countdown starts
        over."""
        self._set("active")
        if not charging:
            self.unplug()

    # -- the state machine --------------------------------------------------------------------

    def _scale(self, seconds: float) -> float:
        return seconds / 10.0 if self.spec.compress_time else seconds

    def _set(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if state == "deep_idle":
            self.idle_count += 1
        self.history.emit(DozeState(t=self.env.now, phone=self.phone, state=state))
        if not self.idle:
            wake, self._wake = self._wake, self.env.event()
            wake.succeed()

    def _countdown(self, start: float):  # type: ignore[no-untyped-def]
        try:
            if start > self.env.now:
                yield self.env.timeout(start - self.env.now)
            k = self.spec.doze
            deep_at = (
                self.env.now
                + self._scale(k.inactive_to + k.idle_after_inactive_to)
                + self.rng.uniform(0, k.sensing_to + k.locating_to)
            )
            # Light doze until deep doze takes over.
            yield self.env.timeout(k.light_after_inactive_to + self.rng.uniform(0, _LIGHT_FLEX))
            step = 0
            while self.env.now < deep_at:
                self._set("light_idle")
                idle = _ladder(k.light_idle_to, k.light_idle_factor, k.light_max_idle_to, step)
                yield self.env.timeout(min(idle, max(0.0, deep_at - self.env.now)))
                if self.env.now >= deep_at:
                    break
                self._set("light_maintenance")
                yield self.env.timeout(k.light_idle_maintenance_min_budget)
                step += 1
            step = 0
            while True:
                self._set("deep_idle")
                idle = _ladder(k.idle_to, k.idle_factor, k.max_idle_to, step)
                yield self.env.timeout(self._scale(idle))
                self._set("deep_maintenance")
                window = _ladder(
                    k.idle_pending_to, k.idle_pending_factor, k.max_idle_pending_to, step
                )
                yield self.env.timeout(window)
                step += 1
        except simpy.Interrupt:
            return


def _ladder(first: float, factor: float, most: float, step: int) -> float:
    """The ``step``-th of DeviceIdleController's growing timeouts: ``first`` times
    ``factor`` each step, never above ``most``."""
    return min(most, first * factor ** min(step, 64))


def cap_in_force(spec: AndroidSpec, booted_since_grant: bool = True) -> SmsCap:
    """The SMS cap a phone's monitors use: 1000/60 s once the app wrote it (the app holds
    WRITE_SECURE_SETTINGS) and the phone has booted since, else its Android's preset."""
    granted = spec.granted and (booted_since_grant or spec.granted_before_boot)
    return PRESETS["granted" if granted else spec.sms_cap]


class SendRefused(Exception):
    """``SmsManager`` threw instead of taking the message (the app stores the message)."""


@dataclass
class PendingIntent:
    """A sent-callback ``PendingIntent`` (``ACTION_SMS_SENT``) and the extras it carries."""

    code: int  # the request code: with the action, the PendingIntent's identity
    sms_id: int
    part: int
    total: int
    holders: int = 0  # parts the SMS stack still holds it for


class PendingIntents:
    """The system's PendingIntent records of one app (they live in system_server: they
    outlive the app's process and are gone after a reboot)."""

    def __init__(self) -> None:
        self._by_code: dict[int, PendingIntent] = {}
        self.overwritten = 0

    def get_broadcast(self, code: int, sms_id: int, part: int, total: int) -> PendingIntent:
        """``PendingIntent.getBroadcast(.., code, .., FLAG_UPDATE_CURRENT)``: a live record
        with the same request code is reused and its extras replaced."""
        record = self._by_code.get(code)
        if record is not None and record.holders > 0:
            if record.sms_id != sms_id:
                self.overwritten += 1
            record.sms_id, record.part, record.total = sms_id, part, total
            return record
        record = PendingIntent(code, sms_id, part, total)
        self._by_code[code] = record
        return record

    def hold(self, record: PendingIntent) -> None:
        """The SMS stack keeps the record until it has fired it."""
        record.holders += 1

    def release(self, record: PendingIntent) -> None:
        """The SMS stack is done with the record; nobody else keeps it alive."""
        record.holders -= 1
        if record.holders <= 0 and self._by_code.get(record.code) is record:
            del self._by_code[record.code]

    def clear(self) -> None:
        """A reboot: every record is gone."""
        self._by_code.clear()


# (PendingIntent, result code): one part's sent broadcast, to whichever receiver is
# registered when it fires.
SentBroadcast = Callable[[PendingIntent, int], None]


@dataclass
class SendRequest:
    """One ``sendTextMessage`` / ``sendMultipartTextMessage`` call."""

    slot: int
    recipient: str
    sms_id: int
    uuid: str | None
    parts: int
    intents: list[PendingIntent]  # one sent PendingIntent per part
    text: str


class Radio:
    """The SMS stack and SIMs of one phone; writes the ledger."""

    def __init__(
        self,
        env: simpy.Environment,
        phone: str,
        sims: tuple[SimSpec, ...],
        spec: AndroidSpec,
        rng: random.Random,
        ledger: RadioLedger,
        history: History,
        on_transmitted: Callable[[Transmission], None],
    ) -> None:
        self.env = env
        self.phone = phone
        self.sims = sims
        self.spec = spec
        self.rng = rng
        self.ledger = ledger
        self.history = history
        self.on_transmitted = on_transmitted
        self.intents = PendingIntents()
        self.broadcast: SentBroadcast = lambda record, code: None
        self.monitors: list[SmsUsageMonitor] = []
        # The cap a boot reads when something outside the model wrote Android's settings
        # (``settings put global sms_outgoing_check_max_count`` over ADB); None: the spec's.
        self.cap_setting: SmsCap | None = None
        # SEND_SMS held by the app; revoked, SmsManager throws a SecurityException.
        self.send_permitted = True
        self._power = 0  # bumped when the phone powers off: what was in flight is gone
        self.reset_monitors(booted_since_grant=False)
        self._weights = [self._mix(sim.carrier) for sim in sims]

    @staticmethod
    def _mix(carrier: CarrierSpec) -> tuple[list[int], list[float]]:
        codes = [code for code, _ in carrier.results]
        weights = [weight for _, weight in carrier.results]
        return codes, weights

    def cap_of(self, slot: int) -> SmsUsageMonitor:
        """The SmsUsageMonitor of a slot."""
        return self.monitors[slot]

    def reset_monitors(self, booted_since_grant: bool = True) -> None:
        """A boot: the monitors (in the phone process) start empty and read the settings."""
        cap = self.cap_setting or cap_in_force(self.spec, booted_since_grant)
        self.monitors = [SmsUsageMonitor(cap) for _ in self.sims]

    def power_off(self) -> None:
        """The phone shuts down: parts not yet sent never leave, no callback fires, and
        the PendingIntent records are gone."""
        self._power += 1
        self.intents.clear()

    def send(self, request: SendRequest) -> None:
        """Hand a message to Android (returns at once; callbacks come later).

        Raises :class:`SendRefused` as ``SmsManager`` does for an empty destination or text.
        """
        if not request.recipient.strip():
            raise SendRefused("Invalid destinationAddress")
        if not request.text:
            raise SendRefused("Invalid message body")
        if not self.send_permitted:  # SmsManager's SecurityException, as the app stores it
            raise SendRefused(
                "Sending SMS message: the app's uid does not have android.permission.SEND_SMS."
            )
        for record in request.intents:
            self.intents.hold(record)
        verdict = self.monitors[request.slot].check(self.env.now, request.parts)
        if verdict is Verdict.SEND:
            self.env.process(self._transmit(request, self.env.now, self._power))
            return
        self.history.emit(
            CapVerdict(
                t=self.env.now,
                phone=self.phone,
                sim_slot=request.slot,
                sms_id=request.sms_id,
                verdict=verdict.value,
                parts=request.parts,
            )
        )
        if verdict is Verdict.REFUSE:
            for record in request.intents:
                self._fire(record, LIMIT_EXCEEDED)
        # HOLD: behind the confirmation dialog nobody answers on a gateway phone; the
        # message never leaves and no callback ever comes (the app's sweep times it out).

    def _fire(self, record: PendingIntent, code: int) -> None:
        self.intents.release(record)
        self.broadcast(record, code)

    def _draw(self, slot: int) -> int:
        codes, weights = self._weights[slot]
        if len(codes) == 1:
            return codes[0]
        return self.rng.choices(codes, weights)[0]

    def _part(  # type: ignore[no-untyped-def]
        self, request: SendRequest, index: int, power: int
    ):
        """One part through the RIL with its retries: (result code, times it reached the
        SMSC). Returns ``None`` if the phone powered off meanwhile."""
        carrier = self.sims[request.slot].carrier
        reached = 0
        code = RIL_RETRY
        for attempt in range(carrier.telephony_retries + 1):
            if attempt:
                yield self.env.timeout(carrier.telephony_retry_delay)
            latency = max(
                0.05,
                carrier.latency + self.rng.uniform(-carrier.latency_jitter, carrier.latency_jitter),
            )
            yield self.env.timeout(latency)
            if power != self._power:
                return None
            code = self._draw(request.slot)
            leaves = code == RESULT_OK or (
                code == RIL_RETRY and self.rng.random() < carrier.retry_reached
            )
            reached += leaves
            if code != RIL_RETRY:
                break
            self.history.emit(
                TelephonyRetry(
                    t=self.env.now,
                    phone=self.phone,
                    sms_id=request.sms_id,
                    attempt=attempt + 1,
                    reached=leaves,
                    part=index + 1,
                )
            )
        else:
            code = RETRY_FAILED
        return code, reached

    def _transmit(  # type: ignore[no-untyped-def]
        self, request: SendRequest, submitted: float, power: int
    ):
        """The parts one after the other, each with its own result and callback."""
        carrier = self.sims[request.slot].carrier
        sent = 0
        extra = 0  # parts that reached the SMSC more than once (RIL retries)
        for index, record in enumerate(request.intents):
            outcome = yield from self._part(request, index, power)
            if outcome is None:
                break  # powered off: this part and the rest never leave
            code, reached = outcome
            sent += reached > 0
            extra += max(0, reached - 1)
            if carrier.lost_callback and self.rng.random() < carrier.lost_callback:
                self.intents.release(record)
                self.history.emit(
                    LostCallback(t=self.env.now, phone=self.phone, sms_id=request.sms_id)
                )
                continue
            self._fire(record, code)
        if sent:
            self._record(request, submitted, sent, "app")
        for _ in range(extra):
            self._record(request, submitted, 1, "telephony_retry")

    def _record(self, request: SendRequest, submitted: float, parts_sent: int, cause: str) -> None:
        sim = self.sims[request.slot]
        entry = Transmission(
            t=self.env.now,
            phone=self.phone,
            sim_slot=request.slot,
            sim_number=sim.number,
            recipient=request.recipient,
            sms_id=request.sms_id,
            uuid=request.uuid,
            parts=request.parts,
            parts_sent=parts_sent,
            cause=cause,
            submitted=submitted,
        )
        # One record: the ledger keeps the object the history writes.
        self.ledger.record(entry)
        self.history.emit(entry)
        self.on_transmitted(entry)
