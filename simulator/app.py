"""The gateway app on one phone: ``SmsGatewayService`` of app 1.7.1 and older profiles.

What it reproduces (``reference/reference-system.md`` §5, §8):

- one serial executor runs poll, heartbeat, reconcile, FCM registration and the live
  inbound report; a poll trigger that comes while a poll runs is dropped;
- while-idle alarms: poll every 300 s, heartbeat every 60 s (the first heartbeat 5 s after
  start, from the scheduler thread); the heartbeat safety net polls when the server says SMS
  wait and the last poll started more than a heartbeat interval ago; every 10th heartbeat
  re-registers the FCM token;
- a poll asks for 20 SMS and sends them one after the other, ``max(100 ms, 60000/rate)``
  apart, from the default SIM (a profile may honour the server's SIM choice), never
  checking whether an id was sent before;
- per-part sent callbacks into a tracker; the 30 s sweep ends trackers older than 60 s as
  ``TIMEOUT_<sent>of<total>_parts_sent_<failed>_failed``; late callbacks are ignored;
- the local status store with REPLACE semantics, synced every 3 s (fixed delay) through
  ``confirm-batch``, at most 50 oldest rows, with the 0-2 / 3-5 / 6-9 / 10+ attempts ladder;
- reconcile of unsynced ids once the first poll is done;
- inbound SMS: a WorkManager worker retrying ``/inbound`` with exponential backoff (it
  survives process death), plus the live report from the running service (a duplicate),
  and the retroactive inbox scan on the first idle poll after a start;
- process death loses the trackers, the executor's queue and the receivers (callbacks for
  messages in flight go nowhere); the status store and pending workers survive.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import simpy

from smscodec import count_parts

from .android import ALARM_ALLOWLIST, FCM_ALLOWLIST, SMS_ALLOWLIST, Doze, Radio, SendRequest
from .config import RESULT_OK, NetworkSpec, PhoneSpec
from .history import History
from .port import GatewayPort, Reply
from .store import StatusStore, due, error_reason

if TYPE_CHECKING:
    from .world import World

__all__ = ["GatewayApp"]

Task = Callable[[int], Generator[Any, Any, None]]


@dataclass
class _Tracker:
    sms_id: int
    total: int
    created: float
    sent: int = 0
    failed: int = 0
    reason: str | None = None


class GatewayApp:
    """The app's service on one virtual phone."""

    def __init__(
        self,
        world: World,
        spec: PhoneSpec,
        api_key: str,
        doze: Doze,
        radio: Radio,
        rng: random.Random,
    ) -> None:
        self.world = world
        self.env: simpy.Environment = world.env
        self.history: History = world.history
        self.port: GatewayPort = world.port
        self.net: NetworkSpec = world.spec.network
        self.spec = spec
        self.profile = spec.app
        self.name = spec.name
        self.api_key = api_key
        self.doze = doze
        self.radio = radio
        self.rng = rng
        self.numbers = [sim.number for sim in spec.sims]
        self.store = StatusStore()
        self.inbox: list[tuple[float, str, str, int]] = []
        self.scan_checkpoint: float | None = None
        self.gen = 0
        self.running = False
        self.polling = False
        self.last_poll = -1e18
        self.rate_limit = self.profile.initial_rate_limit
        self.trackers: dict[int, _Tracker] = {}
        self.heartbeats = 0
        self.scan_pending = False
        self.partitioned_until = 0.0
        self.inbound_pending = 0
        self.fcm_token: str | None = None
        self._token_version = 0
        self._queue: simpy.Store = simpy.Store(self.env)

    # -- life cycle -------------------------------------------------------------------------

    def alive(self, gen: int) -> bool:
        """Is the service started as generation ``gen`` still the running one?"""
        return self.running and self.gen == gen

    def start(self) -> None:
        """``startGateway``: poll now, heartbeat at +5 s, alarms, sync and sweep loops, FCM
        registration, then reconcile after the first poll."""
        if self.running:
            return
        self.gen += 1
        gen = self.gen
        self.running = True
        self.polling = False
        self.trackers = {}
        self.rate_limit = self.profile.initial_rate_limit
        self.scan_pending = self.profile.retroactive_scan
        self._queue = simpy.Store(self.env)
        self.history.emit(self.env.now, "app_start", phone=self.name, app=self.profile.name)
        env = self.env
        env.process(self._executor(gen, self._queue))
        self.trigger_poll("start")
        env.process(self._first_heartbeat(gen))
        env.process(self._alarm(gen, self.profile.poll_interval, self._poll_alarm))
        env.process(self._alarm(gen, self.profile.heartbeat_interval, self._heartbeat_alarm))
        env.process(self._sync_loop(gen))
        env.process(self._sweep_loop(gen))
        if self.world.spec.fcm.enabled:
            if self.fcm_token is None:
                self._token_version += 1
                self.fcm_token = f"fcm-{self.name}-{self._token_version}"
                self.world.fcm.register(self.fcm_token, self)
            self._queue.put(self._register_fcm)
        if self.profile.reconcile_at_start:
            self._queue.put(self._reconcile)

    def kill(self, kind: str, restart_after: float | None) -> None:
        """The process dies: trackers, queue and receivers are lost; the store survives."""
        in_flight = len(self.trackers)
        self.history.emit(self.env.now, "fault", phone=self.name, fault=kind, in_flight=in_flight)
        self.running = False
        self.gen += 1
        self.trackers = {}
        self.polling = False
        if restart_after is not None:
            self.env.process(self._restart(restart_after))

    def _restart(self, delay: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(delay)
        self.start()

    @property
    def quiet(self) -> bool:
        """Nothing in hand: no tracker, nothing unsynced, no inbound report pending."""
        return (
            not self.trackers
            and not self.store.unsynced
            and not self.polling
            and self.inbound_pending == 0
        )

    # -- the executor -----------------------------------------------------------------------

    def _executor(self, gen: int, queue: simpy.Store) -> Generator[Any, Any, None]:
        while self.alive(gen):
            task = yield queue.get()
            if not self.alive(gen):
                return
            yield from task(gen)

    def _submit(self, task: Task) -> None:
        if self.running:
            self._queue.put(task)

    def trigger_poll(self, why: str) -> None:
        """A poll trigger (start, alarm, push, safety net): dropped while a poll runs."""
        if not self.running:
            return
        if self.polling:
            self.history.emit(self.env.now, "poll_dropped", phone=self.name, why=why)
            return
        self._queue.put(self._poll)

    # -- HTTP -------------------------------------------------------------------------------

    def _offline(self) -> bool:
        return self.env.now < self.partitioned_until or not self.doze.network_allowed()

    def request(
        self, endpoint: str, body: Mapping[str, Any], auth: str = "x-api-key"
    ) -> Generator[Any, Any, Reply | None]:
        """``httpPost``: a 2xx reply, or ``None`` for anything else (as the app sees it)."""
        env = self.env
        if self._offline():
            self._failed(endpoint, "offline", 0)
            yield env.timeout(0.05)
            return None
        jitter = self.net.latency_jitter
        latency = self.net.latency + (self.rng.uniform(-jitter, jitter) if jitter else 0.0)
        yield env.timeout(latency)
        if self.net.request_loss and self.rng.random() < self.net.request_loss:
            self._failed(endpoint, "request_lost", 0)
            yield env.timeout(self.profile.http_timeout)
            return None
        reply = self.port.call(self.api_key, endpoint, body, at=env.now, auth=auth)
        self._observe(endpoint, body, reply)
        if self.net.response_loss and self.rng.random() < self.net.response_loss:
            self._failed(endpoint, "response_lost", reply.status)
            yield env.timeout(self.profile.http_timeout)
            return None
        if not reply.ok:
            self._failed(endpoint, "refused", reply.status)
        yield env.timeout(latency)
        return reply if reply.ok else None

    def _failed(self, endpoint: str, outcome: str, status: int) -> None:
        """A request the app saw fail: offline, lost either way, or refused (non-2xx)."""
        self.history.emit(
            self.env.now,
            "request",
            phone=self.name,
            endpoint=endpoint,
            outcome=outcome,
            status=status,
        )

    def _observe(self, endpoint: str, body: Mapping[str, Any], reply: Reply) -> None:
        """What the server did, at the moment it did it (even if the answer gets lost)."""
        if not reply.ok or not isinstance(reply.body, dict):
            return
        now = self.env.now
        if endpoint == "pending":
            items = reply.body.get("sms_list") or []
            if items:
                self.history.emit(
                    now,
                    "issued",
                    phone=self.name,
                    sms=[{"id": item["id"], "number": item["phone_number"]} for item in items],
                )
        elif endpoint == "inbound":
            stop = bool(reply.body.get("is_stop") or reply.body.get("blacklisted"))
            self.history.emit(
                now,
                "inbound_ack",
                phone=self.name,
                sender=body["from"],
                body=body["body"],
                date=self.world.iso(body["date"]),
                stop=stop,
            )
        elif endpoint == "inbound-batch":
            words = self.world.spec.recipients.stop_words
            for item in body["messages"]:
                self.history.emit(
                    now,
                    "inbound_ack",
                    phone=self.name,
                    sender=item["from"],
                    body=item["body"],
                    date=self.world.iso(item["date"]),
                    stop=item["body"].strip().upper() in words,
                )

    # -- alarms -----------------------------------------------------------------------------

    def _alarm(
        self, gen: int, interval: float, fire: Callable[[], None]
    ) -> Generator[Any, Any, None]:
        """A ``setExactAndAllowWhileIdle`` alarm that re-arms itself when it fires."""
        while True:
            yield self.env.timeout(interval)
            if not self.alive(gen):
                return
            if self.doze.alarm_delay() is not None:
                yield self.doze.window()  # over the while-idle quota: next maintenance window
                if not self.alive(gen):
                    return
            else:
                self.doze.allow(ALARM_ALLOWLIST)
            fire()

    def _poll_alarm(self) -> None:
        self.trigger_poll("alarm")

    def _heartbeat_alarm(self) -> None:
        self._submit(self._heartbeat)

    def _first_heartbeat(self, gen: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.profile.first_heartbeat_delay)
        if self.alive(gen):
            yield from self._heartbeat(gen)

    # -- the tasks --------------------------------------------------------------------------

    def _poll(self, gen: int) -> Generator[Any, Any, None]:
        if self.polling:
            return
        self.polling = True
        self.last_poll = self.env.now
        try:
            reply = yield from self.request(
                "pending", {"phone_numbers": self.numbers, "limit": self.profile.poll_limit}
            )
            if not self.alive(gen):
                return
            items = reply.body.get("sms_list") if reply is not None else None
            if not items:
                if reply is not None and self.scan_pending:
                    yield from self._scan(gen)
                return
            delay = max(0.1, 60.0 / self.rate_limit)
            last = len(items) - 1
            for i, item in enumerate(items):
                if not self.alive(gen):
                    return
                self._send(gen, item)
                if i < last:
                    yield self.env.timeout(delay)
        finally:
            if self.gen == gen:
                self.polling = False

    def _send(self, gen: int, item: Mapping[str, Any]) -> None:
        """``sendSingleSms``: a tracker, then Android (default SIM unless the profile says)."""
        sms_id = int(item["id"])
        parts = count_parts(item["message"])
        slot = 0
        if self.profile.honour_sim_choice:
            chosen = item.get("gateway_phone_number") or ""
            if chosen in self.numbers:
                slot = self.numbers.index(chosen)
        self.trackers[sms_id] = _Tracker(sms_id, parts, self.env.now)
        self.radio.send(
            SendRequest(
                slot=slot,
                recipient=item["phone_number"],
                sms_id=sms_id,
                uuid=item.get("uuid"),
                parts=parts,
                on_part=partial(self._on_part, gen),
            )
        )

    def _on_part(self, gen: int, sms_id: int, code: int) -> None:
        if gen != self.gen or not self.running:
            return  # the receiver died with the process
        tracker = self.trackers.get(sms_id)
        if tracker is None:
            return  # late callback
        if code == RESULT_OK:
            tracker.sent += 1
        else:
            tracker.failed += 1
            tracker.reason = error_reason(code)
        if tracker.sent + tracker.failed >= tracker.total:
            del self.trackers[sms_id]
            if tracker.sent == tracker.total:
                self.store.put(sms_id, "sent", None, self.env.now)
            else:
                self.store.put(sms_id, "error", tracker.reason or "PARTIAL_FAILURE", self.env.now)

    def _heartbeat(self, gen: int) -> Generator[Any, Any, None]:
        reply = yield from self.request(
            "heartbeat",
            {
                "phone_numbers": self.numbers,
                "unsynced_count": len(self.store.unsynced),
                "battery_level": 80,
            },
        )
        if not self.alive(gen):
            return
        self.heartbeats += 1
        if reply is not None:
            rate = reply.body.get("rate_limit")
            if isinstance(rate, int) and rate > 0:
                self.rate_limit = rate
            pending = sum((reply.body.get("pending_count") or {}).values())
            if pending > 0 and self.env.now - self.last_poll > self.profile.heartbeat_interval:
                self.trigger_poll("safety_net")
        if self.fcm_token and self.heartbeats % self.profile.fcm_reregister_every == 0:
            self._submit(self._register_fcm)

    def _register_fcm(self, gen: int) -> Generator[Any, Any, None]:
        if self.fcm_token:
            yield from self.request("register-fcm", {"fcm_token": self.fcm_token})

    def _reconcile(self, gen: int) -> Generator[Any, Any, None]:
        known = list(self.store.unsynced)
        reply = yield from self.request("reconcile", {"known_ids": known})
        if reply is None or not self.alive(gen):
            return
        done = list(reply.body.get("already_confirmed_ids") or [])
        done += reply.body.get("not_found_ids") or []
        self.store.mark_synced(done)
        self.history.emit(
            self.env.now,
            "reconcile",
            phone=self.name,
            known=len(known),
            settled=len(done),
            stuck=len(reply.body.get("stuck_ids") or []),
        )

    # -- the scheduler thread ---------------------------------------------------------------

    def _sync_loop(self, gen: int) -> Generator[Any, Any, None]:
        batch = self.profile.sync_batch
        while True:
            yield self.env.timeout(self.profile.sync_interval)
            if not self.alive(gen):
                return
            if not self.store.unsynced:
                continue
            cycle = int(self.world.epoch_ms(self.env.now) // 3000)
            ids = [i for i in self.store.oldest(batch) if due(self.store.rows[i].attempts, cycle)]
            if not ids:
                continue
            results: list[dict[str, Any]] = []
            for sms_id in ids:
                row = self.store.rows[sms_id]
                item: dict[str, Any] = {"id": sms_id, "status": row.status}
                if row.error:
                    item["error_message"] = row.error
                results.append(item)
            reply = yield from self.request("confirm-batch", {"results": results})
            if reply is not None and reply.body.get("success"):
                acked = reply.body.get("ack_ids")
                self.store.mark_synced(list(acked) if acked is not None else ids)
            else:
                self.store.failed(ids)

    def _sweep_loop(self, gen: int) -> Generator[Any, Any, None]:
        timeout = self.profile.tracker_timeout
        while True:
            yield self.env.timeout(self.profile.sweep_interval)
            if not self.alive(gen):
                return
            now = self.env.now
            stale = [t for t in self.trackers.values() if now - t.created > timeout]
            for tracker in stale:
                del self.trackers[tracker.sms_id]
                if tracker.sent == tracker.total and tracker.failed == 0:
                    self.store.put(tracker.sms_id, "sent", None, now)
                else:
                    reason = (
                        f"TIMEOUT_{tracker.sent}of{tracker.total}_parts_sent_"
                        f"{tracker.failed}_failed"
                    )
                    self.store.put(tracker.sms_id, "error", reason, now)
                self.history.emit(
                    now,
                    "tracker_timeout",
                    phone=self.name,
                    sms_id=tracker.sms_id,
                    sent=tracker.sent,
                    total=tracker.total,
                )

    # -- push and inbound -------------------------------------------------------------------

    def on_push(self) -> None:
        """An ``sms_pending`` data message (high priority): a short allow-list, then a poll."""
        self.doze.allow(FCM_ALLOWLIST)
        if not self.running:
            self.start()
        else:
            self.trigger_poll("fcm")

    def receive_sms(self, sender: str, body: str, sim_number: str) -> None:
        """An SMS arrives: the inbox, the WorkManager worker, the live duplicate report."""
        now = self.env.now
        date_ms = self.world.epoch_ms(now) // 1000 * 1000
        self.inbox.append((now, sender, body, date_ms))
        self.history.emit(
            now,
            "inbound_received",
            phone=self.name,
            sender=sender,
            body=body,
            date=self.world.iso(date_ms),
            sim_number=sim_number,
        )
        self.doze.allow(SMS_ALLOWLIST)
        report = {"from": sender, "body": body, "date": date_ms, "to": sim_number}
        self.inbound_pending += 1
        self.env.process(self._inbound_worker(report))
        if self.running and self.profile.inbound_live_report:
            self._submit(partial(self._live_inbound, report))

    def _live_inbound(self, report: dict[str, Any], gen: int) -> Generator[Any, Any, None]:
        yield from self.request("inbound", report)

    def _inbound_worker(self, report: dict[str, Any]) -> Generator[Any, Any, None]:
        """``InboundSmsWorker``: network constraint, exponential backoff, retries forever."""
        attempt = 0
        try:
            while True:
                while self._offline():
                    if self.env.now < self.partitioned_until:
                        yield self.env.timeout(self.partitioned_until - self.env.now)
                    else:
                        yield self.doze.window()
                reply = yield from self.request("inbound", report, auth=self.profile.inbound_auth)
                if reply is not None:
                    return
                attempt += 1
                delay = min(
                    self.profile.inbound_backoff * 2 ** (attempt - 1),
                    self.profile.inbound_backoff_max,
                )
                yield self.env.timeout(delay)
        finally:
            self.inbound_pending -= 1

    def _scan(self, gen: int) -> Generator[Any, Any, None]:
        """``retroactiveStopCheck``: the inbox since the checkpoint in one inbound-batch."""
        now = self.env.now
        since = self.scan_checkpoint if self.scan_checkpoint is not None else now - 30 * 86400
        found = [m for m in self.inbox if m[0] > since]
        if not found:
            self.scan_checkpoint = now
            self.scan_pending = False
            return
        reply = yield from self.request(
            "inbound-batch",
            {
                "messages": [
                    {"from": sender, "body": body, "date": date, "to": ""}
                    for _, sender, body, date in found
                ]
            },
        )
        if reply is not None and self.gen == gen:
            self.scan_checkpoint = now
            self.scan_pending = False

    # -- the end ----------------------------------------------------------------------------

    def final_state(self) -> dict[str, Any]:
        """The app's local truth at the end of a run (for ``reconcile_converges``)."""
        return {
            "unsynced": list(self.store.unsynced),
            "statuses": {str(k): row.status for k, row in self.store.rows.items()},
        }
