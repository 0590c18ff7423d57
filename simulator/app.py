"""The gateway app on one phone: ``SmsGatewayService`` of app 1.7.1 and older profiles.

Each behaviour follows the app's source at tag v1.7.1; ``docs/app-model.md`` maps every
one to its file and line (``GS`` = ``SmsGatewayService.kt``). In short:

- one single-thread executor per service instance runs poll, heartbeat, reconcile, FCM
  registration and the live inbound report in the order they were queued; every poll
  trigger is queued, so one that comes during a poll runs right after it (GS:214, 283,
  291, 1028) and the ``isPollingActive`` guard never fires (GS:834);
- while-idle alarms (poll every 300 s with an FCM token, heartbeat every 60 s) live in
  AlarmManager, not in the process: after process death they fire into a fresh service
  instance that ``startGateway`` never ran in. Its poll asks for 20 SMS and sends none
  (``if (!isRunning) break``, GS:880), its heartbeats keep the phone online (GS:978-1044);
- ``startGateway`` (GS:331-369): receivers, sync every 3 s and sweep every 30 s on the
  scheduler thread, a poll at once, a heartbeat at +5 s, the alarms, then reconcile; the
  status sync runs only once something set ``hasUnsyncedData`` (GS:555, 367);
- a poll sends up to 20 SMS ``max(100 ms, 60000/rate)`` apart from the default SIM (a
  profile may honour the server's SIM), each with one sent ``PendingIntent`` per part whose
  request code comes from a per-instance counter that starts at 0 (GS:947-974); a restarted
  service can so overwrite the extras of a part still in flight (``FLAG_UPDATE_CURRENT``);
- per-part results into a tracker; the 30 s sweep ends trackers older than 60 s as
  ``TIMEOUT_<sent>of<total>_parts_sent_<failed>_failed``; late callbacks are ignored;
  ``SmsManager`` throwing writes an error row at once (GS:935-944);
- inbound SMS: ``SmsBroadcastReceiver`` enqueues a WorkManager worker (a job: in Doze it
  waits for a maintenance window unless the app is exempt), forwards a live report to a
  running service, and starts a service that is not running; both send
  ``{from_number, message, to_number}`` with no time. The retroactive scan on the first
  idle poll of each service instance re-reports everything since its last successful run.

The app's own defects of ``reference-system.md`` §6 (B6 in ``sync.py``; B14, B19, B20 here)
are switches of the profile (``config.APP_DEFECTS``): 1.7.1 has them all, as the real app
does, and ``AppProfile.without`` switches one off.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import simpy

from smscodec import count_parts

from .android import (
    ALARM_ALLOWLIST,
    FCM_ALLOWLIST,
    Doze,
    PendingIntent,
    Radio,
    SendRefused,
    SendRequest,
)
from .config import RESULT_OK, PhoneSpec, send_gap
from .context import PhoneContext
from .events import (
    AppStart,
    FaultApplied,
    HeartbeatAnswered,
    InboundAck,
    Issued,
    Reconciled,
    RequestFailed,
    StatusAcked,
    TrackerTimeout,
)
from .history import History
from .inbound import Inbound
from .network import Network
from .personas import persona_for
from .port import Reply
from .store import StatusStore, error_reason
from .sync import StatusSync

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
    """The app on one virtual phone: its service instances, alarms, worker and store."""

    def __init__(
        self,
        ctx: PhoneContext,
        spec: PhoneSpec,
        doze: Doze,
        radio: Radio,
        link: Network,
    ) -> None:
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.history: History = ctx.history
        self.link = link
        self.spec = spec
        self.profile = spec.app
        self.name = spec.name
        self.doze = doze
        self.radio = radio
        radio.broadcast = self._on_sent_broadcast
        # getPhoneNumbers (GS:1202-1221): the numbers Android tells the app.
        self.numbers = [sim.number for sim in spec.sims if sim.readable]
        self._memory = self.profile.status_store == "memory"
        # Survives the process: the SQLite store, SharedPreferences, content://sms.
        self.store = StatusStore()
        self.fcm_token: str | None = None
        self._token_version = 0
        self.powered_off = False
        # ``am force-stop``: no broadcast (boot, push, alarm) reaches the app until it is
        # launched again.
        self.force_stopped = False
        self.inbound = Inbound(self)
        self.sync = StatusSync(self)
        self.power_on = self.env.event()
        self._alarm_epoch = 0  # AlarmManager: cancelled by startSchedulers and by a reboot
        # The process and its service instance.
        self.gen = 0  # one per service instance; 0 = no process yet
        self.process_alive = False
        self.running = False  # the static ``isRunning``: startGateway ran in this process
        self.sched_epoch = 0  # the scheduler thread of the instance (sync, sweep, +5 s)
        self._queue: simpy.Store = simpy.Store(self.env)
        self.trackers: dict[int, _Tracker] = {}
        # B20 fixed (late_callbacks "amend"): trackers the sweep ended, for late callbacks.
        self.swept: dict[int, _Tracker] = {}
        self.polling = False
        self.last_poll = -1e18
        self.pending_count = 0
        self.rate_limit = self.profile.initial_rate_limit
        self.heartbeats = 0
        self.scan_pending = False
        self.unsynced_flag = False
        self._pi_counter = 0
        # A test double's misbehaviour, between the app and its link (personas.py).
        self.persona = persona_for(self)
        if self.persona is not None:
            self.link = self.persona

    @property
    def api_key(self) -> str:
        """The key this phone was paired with (its link presents it on every request)."""
        return self.link.api_key

    # -- life cycle -------------------------------------------------------------------------

    def alive(self, gen: int) -> bool:
        """Is service instance ``gen`` still the one in the phone's live process?"""
        return self.process_alive and self.gen == gen

    def _spawn(self) -> int:
        """Android creates the process and a service instance (``onCreate``)."""
        self.gen += 1
        self.process_alive = True
        self.running = False
        self._queue = simpy.Store(self.env)
        self.trackers = {}
        self.polling = False
        self.last_poll = -1e18
        self.pending_count = 0
        self.rate_limit = self.profile.initial_rate_limit
        self.heartbeats = 0
        self.unsynced_flag = False
        self.swept = {}
        if self.profile.request_codes == "per-instance":
            self._pi_counter = 0  # an instance field, AtomicInteger(0) (GS:230): B20
        # retroactiveStopPending, an instance field initialised true (GS:216)
        self.scan_pending = self.profile.retroactive_scan and self.profile.scan_mode == "idle-poll"
        self.env.process(self._executor(self.gen, self._queue))
        return self.gen

    def _instance(self) -> int:
        """The live service instance, created if the process is not there."""
        return self.gen if self.process_alive else self._spawn()

    def start(self) -> None:
        """``startGateway`` (GS:331-369) on the live instance, or on a new one."""
        self.force_stopped = False
        gen = self._instance()
        if self.running:
            return
        self.running = True
        self.history.emit(AppStart(t=self.env.now, phone=self.name, app=self.profile.name))
        self._start_schedulers(gen)
        if self.profile.retroactive_scan and self.profile.scan_mode == "start-stop-only":
            self._queue.put(self.inbound.scan_task)
        if self.ctx.push is not None and self.fcm_token is None:
            self._token_version += 1
            self.fcm_token = f"fcm-{self.name}-{self._token_version}"
            self.ctx.push.register(self.fcm_token, self)
        if self.profile.reconcile_at_start:
            self._queue.put(self._reconcile)
        if self.ctx.push is not None:
            # getToken() answers asynchronously; its listener queues the registration.
            self._queue.put(self._register_fcm)

    def _start_schedulers(self, gen: int) -> None:
        """``startSchedulers`` (GS:739-771): sync and sweep loops, a poll now, a heartbeat at
        +5 s, and both alarms re-armed."""
        self.sched_epoch += 1
        epoch = self.sched_epoch
        env = self.env
        env.process(self.sync.loop(gen, epoch))
        if self.profile.tracker_timeout is not None:
            env.process(self._sweep_loop(gen, epoch))
        self._queue.put(self._poll)
        env.process(self._first_heartbeat(gen, epoch))
        self._alarm_epoch += 1
        env.process(self._alarm(self._alarm_epoch, self.profile.poll_interval, self._poll_alarm))
        env.process(
            self._alarm(self._alarm_epoch, self.profile.heartbeat_interval, self._heartbeat_alarm)
        )

    def kill(self, kind: str, restart_after: float | None) -> None:
        """The process dies: trackers, executor queue, scheduler and receivers are lost; the
        store, the preferences, pending workers and (unless the phone reboots) the alarms
        stay."""
        in_flight = len(self.trackers)
        self.history.emit(
            FaultApplied(t=self.env.now, phone=self.name, fault=kind, in_flight=in_flight)
        )
        self.process_alive = False
        self.running = False
        self.trackers = {}
        self.swept = {}
        self.polling = False
        if self._memory:
            self.store.unsynced.clear()  # 1.1 kept its results in memory only
        if kind == "reboot":
            self._alarm_epoch += 1
            self.powered_off = True
            self.radio.power_off()
        if restart_after is not None:
            self.env.process(self._restart(kind, restart_after))

    def _restart(self, kind: str, delay: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(delay)
        if kind == "reboot":
            self.powered_off = False
            self.radio.reset_monitors()
            wake, self.power_on = self.power_on, self.env.event()
            wake.succeed()
            self.inbound.deliver_held()
        # BootReceiver.kt:18-36, or the sticky service restarted with a null intent (GS:307);
        # neither reaches a force-stopped app.
        if not self.force_stopped:
            self.start()

    def force_stop(self) -> None:
        """``am force-stop``: the process dies as in :meth:`kill`, AlarmManager drops the
        app's alarms, and nothing starts it again until it is launched (:meth:`start`)."""
        self.kill("force_stop", restart_after=None)
        self.force_stopped = True
        self._alarm_epoch += 1

    def restart_schedulers(self) -> None:
        """``updateConfig`` from the settings screen: ``ACTION_UPDATE_CONFIG`` reaches a
        running service only (GatewayServiceModule.kt:133-138; GS:278-280, 821-828)."""
        self.history.emit(FaultApplied(t=self.env.now, phone=self.name, fault="settings_change"))
        if self.running and self.process_alive:
            self._start_schedulers(self.gen)

    def campaign_screen(self) -> None:
        """The campaign screen's ``triggerImmediatePoll`` (campaigns.tsx:265-471): an
        ``ACTION_FCM_WAKE`` intent, whether or not the service runs
        (GatewayServiceModule.kt:176-180; GS:155-164, 281-284)."""
        self.history.emit(FaultApplied(t=self.env.now, phone=self.name, fault="campaign_screen"))
        if not self.powered_off:
            self.trigger_poll("campaign_screen")

    @property
    def quiet(self) -> bool:
        """Nothing in hand: no tracker, nothing unsynced, no inbound report pending."""
        return (
            not self.trackers
            and not self.store.unsynced
            and not self.polling
            and self.inbound.pending == 0
            and (self.persona is None or self.persona.quiet)
        )

    # -- the executor -----------------------------------------------------------------------

    def _executor(self, gen: int, queue: simpy.Store) -> Generator[Any, Any, None]:
        while self.alive(gen):
            task = yield queue.get()
            if not self.alive(gen):
                return
            yield from task(gen)

    def submit(self, task: Task) -> None:
        """``executor.execute``: queued on the live service instance (if any)."""
        if self.process_alive:
            self._queue.put(task)

    def trigger_poll(self, why: str) -> None:
        """A poll trigger delivered as an intent (alarm, push, campaign screen) or from the
        safety net: queued on the instance's executor, never dropped."""
        self._instance()
        self._queue.put(self._poll)

    # -- HTTP -------------------------------------------------------------------------------

    def _offline(self) -> bool:
        return (
            self.powered_off
            or self.link.partitioned
            or not self.doze.network_allowed(foreground=self.running)
        )

    def request(self, endpoint: str, body: Mapping[str, Any]) -> Generator[Any, Any, Reply | None]:
        """``httpPost`` (GS:1223-1255): a 2xx reply, or ``None`` for anything else."""
        return self.http(endpoint, body, "x-api-key", self._offline)

    def http(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        offline: Callable[[], bool],
    ) -> Generator[Any, Any, Reply | None]:
        if offline():
            self._failed(endpoint, "offline", 0)
            yield self.env.timeout(0.05)
            return None
        return (
            yield from self.link.exchange(
                endpoint, body, auth, self.profile.http_timeout, self._failed, self.observe
            )
        )

    def _failed(self, endpoint: str, outcome: str, status: int) -> None:
        """A request the app saw fail: offline, lost either way, or refused (non-2xx)."""
        self.history.emit(
            RequestFailed(
                t=self.env.now, phone=self.name, endpoint=endpoint, outcome=outcome, status=status
            )
        )

    def observe(self, endpoint: str, body: Mapping[str, Any], reply: Reply) -> None:
        """What the server did, at the moment it did it (even if the answer gets lost: in
        real time the fault proxy that dropped it tells)."""
        if not reply.ok or not isinstance(reply.body, dict):
            return
        now = self.env.now
        if endpoint == "pending":
            items = reply.body.get("sms_list") or []
            if items:
                sms = [{"id": item["id"], "number": item["phone_number"]} for item in items]
                self.history.emit(Issued(t=now, phone=self.name, sms=sms))
        elif endpoint == "heartbeat":
            self.history.emit(HeartbeatAnswered(t=now, phone=self.name))
        elif endpoint == "confirm-batch" or endpoint.startswith("confirm/"):
            self._acked(now, endpoint, body, reply.body)
        elif endpoint == "inbound":
            stop = bool(reply.body.get("is_stop") or reply.body.get("blacklisted"))
            self.history.emit(
                InboundAck(
                    t=now,
                    phone=self.name,
                    sender=body["from_number"],
                    body=body["message"],
                    stop=stop,
                )
            )
        elif endpoint == "inbound-batch":
            words = self.ctx.stop_words
            for item in body["messages"]:
                self.history.emit(
                    InboundAck(
                        t=now,
                        phone=self.name,
                        sender=item["from_number"],
                        body=item["message"],
                        stop=item["message"].strip().upper() in words,
                    )
                )

    def _acked(
        self, now: float, endpoint: str, body: Mapping[str, Any], answer: Mapping[str, Any]
    ) -> None:
        """The final statuses the server acknowledged: ``ack_ids`` of a successful batch
        (every item when it names none), or the one SMS of ``confirm/<id>``."""
        if endpoint == "confirm-batch":
            if not answer.get("success"):
                return
            items = {int(item["id"]): item["status"] for item in body["results"]}
            acked = answer.get("ack_ids")
            ids = items if acked is None else [int(i) for i in acked if int(i) in items]
            statuses = [(i, items[i]) for i in ids]
        else:
            if answer.get("success") is False:
                return
            statuses = [(int(endpoint.partition("/")[2]), body["status"])]
        sent = [i for i, status in statuses if status == "sent"]
        error = [i for i, status in statuses if status == "error"]
        if sent or error:
            self.history.emit(StatusAcked(t=now, phone=self.name, sent=sent, error=error))

    # -- alarms -----------------------------------------------------------------------------

    def _alarm(
        self, epoch: int, interval: float, fire: Callable[[], None]
    ) -> Generator[Any, Any, None]:
        """A ``setExactAndAllowWhileIdle`` alarm (GS:792-807), re-armed each time it fires.
        It belongs to AlarmManager: it outlives the process, not a reboot."""
        while True:
            yield self.env.timeout(interval)
            if epoch != self._alarm_epoch:
                return
            if self.doze.alarm_delay() is not None:
                yield self.doze.window()  # over the while-idle quota: next maintenance window
                if epoch != self._alarm_epoch:
                    return
            else:
                self.doze.allow(ALARM_ALLOWLIST)
            fire()

    def _poll_alarm(self) -> None:
        self.trigger_poll("alarm")  # GS:289-293

    def _heartbeat_alarm(self) -> None:
        gen = self._instance()  # GS:294-298: the intent creates the service if not there
        if self.profile.heartbeat_on_executor:
            # B14: behind whatever the executor holds, a slow batch's poll included.
            self._queue.put(self._heartbeat)
        else:
            self.env.process(self._heartbeat(gen))  # B14 fixed: a thread of its own

    def _first_heartbeat(self, gen: int, epoch: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.profile.first_heartbeat_delay)
        if self.alive(gen) and epoch == self.sched_epoch:
            yield from self._heartbeat(gen)

    # -- the tasks --------------------------------------------------------------------------

    def _poll(self, gen: int) -> Generator[Any, Any, None]:
        """``pollAndSend`` (GS:832-901)."""
        if self.profile.phone_number_guard and not self.numbers:
            return
        self.polling = True
        self.last_poll = self.env.now
        try:
            reply = yield from self.request(
                "pending", {"phone_numbers": self.numbers, "limit": self.profile.poll_limit}
            )
            if not self.alive(gen) or reply is None:
                return
            items = reply.body.get("sms_list")
            if not reply.body.get("success", False) or not items:
                if self.scan_pending:
                    self.scan_pending = not (yield from self.inbound.scan())
                return
            self.pending_count = len(items)
            delay = send_gap(self.rate_limit)
            last = len(items) - 1
            for i, item in enumerate(items):
                if not self.running or not self.alive(gen):
                    break  # GS:880: a service instance that was never started sends nothing
                self._send(item)
                if i < last:
                    yield self.env.timeout(delay)
            if self._memory and self.alive(gen):
                yield self.env.timeout(2.0)  # 1.1: sleep, then flush the results
                yield from self.sync.flush()
        finally:
            if self.gen == gen:
                self.polling = False

    def _send(self, item: Mapping[str, Any]) -> None:
        """``sendSingleSms`` (GS:906-945): a tracker, one PendingIntent per part, Android."""
        sms_id = int(item["id"])
        text = str(item["message"])
        parts = count_parts(text) if text else 1
        slot = 0
        if self.profile.honour_sim_choice:
            chosen = item.get("gateway_phone_number") or ""
            if chosen in self.numbers:
                slot = self.numbers.index(chosen)
        self.trackers[sms_id] = _Tracker(sms_id, parts, self.env.now)
        intents: list[PendingIntent] = []
        for part in range(parts):
            # Sent and delivered intents share the counter (GS:928-929, 955, 969).
            code = self._pi_counter
            self._pi_counter += 2
            intents.append(self.radio.intents.get_broadcast(code, sms_id, part, parts))
        try:
            self.radio.send(
                SendRequest(
                    slot=slot,
                    recipient=str(item["phone_number"]),
                    sms_id=sms_id,
                    uuid=item.get("uuid"),
                    parts=parts,
                    intents=intents,
                    text=text,
                )
            )
        except SendRefused as exc:
            del self.trackers[sms_id]
            self._result(sms_id, "error", str(exc))

    def _on_sent_broadcast(self, record: PendingIntent, code: int) -> None:
        """The sent receiver (GS:400-433): registered by ``startGateway`` in this process
        only; it reads the id from the intent's extras as they are when it fires."""
        if not (self.process_alive and self.running):
            return  # nobody registered: the broadcast goes nowhere
        tracker = self.trackers.get(record.sms_id)
        late = False
        if tracker is None:
            late_callbacks = self.profile.late_callbacks
            if late_callbacks == "amend" and record.sms_id in self.swept:
                # B20 fixed: the swept SMS's parts go on counting.
                tracker, late = self.swept[record.sms_id], True
            elif late_callbacks != "ghost":
                # A late callback, or an SMS this instance never sent (GS:407-414): with
                # the sweep's error already stored, the radio's answer is lost (B20).
                return
            else:
                # 1.1's getOrPut: the late callback makes a new tracker and reports again.
                tracker = _Tracker(record.sms_id, record.total, self.env.now)
                self.trackers[record.sms_id] = tracker
        if code == RESULT_OK:
            tracker.sent += 1
        else:
            tracker.failed += 1
            tracker.reason = error_reason(code)
        if tracker.sent + tracker.failed >= tracker.total:
            del (self.swept if late else self.trackers)[tracker.sms_id]
            if tracker.sent == tracker.total:
                self._result(tracker.sms_id, "sent", None)
            else:
                self._result(tracker.sms_id, "error", tracker.reason or "PARTIAL_FAILURE")

    def _result(self, sms_id: int, status: str, error: str | None) -> None:
        """A final status into the store (``insertOrUpdate``, GS:494-517)."""
        self.store.put(sms_id, status, error, self.env.now)
        self.unsynced_flag = True

    def _heartbeat(self, gen: int) -> Generator[Any, Any, None]:
        """``sendHeartbeat`` (GS:978-1044): no battery level, no time."""
        if self.profile.phone_number_guard and not self.numbers:
            return
        body: dict[str, Any] = {"phone_numbers": self.numbers}
        if self.profile.heartbeat_unsynced_count:
            body["unsynced_count"] = len(self.store.unsynced)
        reply = yield from self.request("heartbeat", body)
        if not self.alive(gen):
            return
        if reply is not None:
            rate = reply.body.get("rate_limit")
            if isinstance(rate, int) and rate > 0:
                self.rate_limit = rate
            counts = reply.body.get("pending_count")
            if isinstance(counts, dict):
                self.pending_count = sum(v for v in counts.values() if isinstance(v, int))
            if (
                self.pending_count > 0
                and self.env.now - self.last_poll > self.profile.heartbeat_interval
            ):
                self.trigger_poll("safety_net")
        self.heartbeats += 1
        if self.fcm_token and self.heartbeats % self.profile.fcm_reregister_every == 0:
            yield from self._register_fcm(gen)

    def _register_fcm(self, gen: int) -> Generator[Any, Any, None]:
        if self.fcm_token:
            yield from self.request("register-fcm", {"fcm_token": self.fcm_token})

    def _reconcile(self, gen: int) -> Generator[Any, Any, None]:
        """``reconcileWithServer`` (GS:685-731), then the unsynced flag (GS:365-368)."""
        known = list(self.store.unsynced)
        if known:
            reply = yield from self.request("reconcile", {"known_ids": known})
            if reply is not None and reply.body.get("success", False) and self.alive(gen):
                done = list(reply.body.get("already_confirmed_ids") or [])
                done += reply.body.get("not_found_ids") or []
                self.store.mark_synced(done)
                self.history.emit(
                    Reconciled(
                        t=self.env.now,
                        phone=self.name,
                        known=len(known),
                        settled=len(done),
                        stuck=len(reply.body.get("stuck_ids") or []),
                    )
                )
        if self.alive(gen) and self.store.unsynced:
            self.unsynced_flag = True

    # -- the scheduler thread ---------------------------------------------------------------

    def _sweep_loop(self, gen: int, epoch: int) -> Generator[Any, Any, None]:
        """``sweepStaleTrackers`` every 30 s (GS:648-678, 751-756)."""
        timeout = self.profile.tracker_timeout or 0.0
        while True:
            yield self.env.timeout(self.profile.sweep_interval)
            if not self.alive(gen) or epoch != self.sched_epoch:
                return
            now = self.env.now
            stale = [t for t in self.trackers.values() if now - t.created > timeout]
            for tracker in stale:
                del self.trackers[tracker.sms_id]
                if self.profile.late_callbacks == "amend":
                    self.swept[tracker.sms_id] = tracker
                if tracker.sent == tracker.total and tracker.failed == 0:
                    self._result(tracker.sms_id, "sent", None)
                else:
                    reason = (
                        f"TIMEOUT_{tracker.sent}of{tracker.total}_parts_sent_"
                        f"{tracker.failed}_failed"
                    )
                    self._result(tracker.sms_id, "error", reason)
                self.history.emit(
                    TrackerTimeout(
                        t=now,
                        phone=self.name,
                        sms_id=tracker.sms_id,
                        sent=tracker.sent,
                        total=tracker.total,
                    )
                )

    # -- push and inbound -------------------------------------------------------------------

    def on_push(self) -> None:
        """An ``sms_pending`` data message (FcmMessageHandler.kt:29-59): a short allow-list,
        then a poll if the service runs, else the service is started (which polls)."""
        if self.powered_off or self.force_stopped:
            return
        self.doze.allow(FCM_ALLOWLIST)
        if not self.running:
            self.start()
        else:
            self.trigger_poll("fcm")

    def receive_sms(self, sender: str, body: str, sim_number: str) -> None:
        """An SMS arrives at this phone (see :class:`simulator.inbound.Inbound`)."""
        self.inbound.receive(sender, body, sim_number)

    # -- the end ----------------------------------------------------------------------------

    def final_state(self) -> dict[str, Any]:
        """The app's local truth at the end of a run (for ``reconcile_converges``)."""
        return {
            "unsynced": list(self.store.unsynced),
            "statuses": {str(k): row.status for k, row in self.store.rows.items()},
        }
