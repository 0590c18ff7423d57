"""A run: scenario + seed -> server + world -> history -> verdicts -> run folder.

The gateway under test is a target (``harness/targets.py``): by default our server built in
this process on a fresh database (a SQLite file in the run folder), in virtual time, where
the harness fires the server's periodic jobs at their virtual times; or ``hil serve`` started
as a process, or a remote URL, in real time (the phones on a wall-clock environment, the
server's own scheduler firing its jobs). The run seeds the phones, enqueues the
scenario's batches and performs its operator actions (``[[actions]]``: re-assign a
campaign) through the target's control side; a queue-only batch creates its campaign paused
together with its SMS, and the operator resumes it at the batch's ``resume`` time. A target
whose control cannot perform an action or a queue-only batch the scenario asks for is
refused before anything is queued (``RunInputError``). In real time the queue-only calls
run off the simulation's thread, so the phones keep polling while a large campaign is being
created. The run ends when every SMS is final and every phone has nothing left to report
(``drain``), or at ``max_duration``, or when the caller's ``interrupt`` says so (Ctrl-C):
then the history so far and a ``verdicts.json`` that says when are written, and nothing is
judged.

Errors (``harness/errors.py``): ``RunError`` is the root; ``RunInputError`` (bad input)
and ``TargetError`` (the database or the server under test failed) say whose fault it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from scenarios import Action, Batch, Scenario
from simulator import (
    CampaignState,
    EnqueuedBatch,
    FaultApplied,
    History,
    JobRan,
    Reassigned,
    RequestFailed,
    RunConfig,
)
from simulator.android import cap_in_force
from simulator.config import DEFAULT_FAULT_DURATION, Fault, PhoneSpec
from simulator.port import Reply
from simulator.realtime import WallClockEnvironment
from simulator.world import World, wait_for_sending

from .control import AdminError, Enqueued, PhoneKey, Unsupported
from .device_faults import DEVICE_FAULTS
from .device_fleet import DeviceFleet, with_ground_truth
from .errors import RunError, RunInputError, TargetError
from .folder import (
    OWNED_FILES,
    database_url,
    masked_url,
    one_line,
    prepare_out,
    reduce_state,
    remove_database,
    write_history,
    write_state,
)
from .hits import count_hits
from .oracles import Evidence, Verdict, judge
from .phone_door import DoorOptions, PhoneDoor
from .proxy import FaultProxy, WireEvent, WireFaults
from .report_cli import write_reports
from .targets import Target, TargetOptions, open_target
from .thresholds import judge_thresholds
from .timing import RequestTimes, TimedPort
from .wire import DEVICE_PATH, HttpTransport
from .workload import Recipient, recipients_for, texts_for, written

__all__ = [
    "OWNED_FILES",
    "Progress",
    "RunError",
    "RunInputError",
    "RunResult",
    "TargetError",
    "masked_url",
    "prepare_out",
    "run_scenario",
]

JOB_PERIODS = {"heartbeat_check": 60.0, "stuck_reset": 300.0}
DRAIN_CHECK = 300.0  # virtual seconds between checks of the server's queue
STEP = 60.0  # virtual seconds per progress step
REALTIME_STEP = 2.0  # wall seconds per progress step in real time
REALTIME_DRAIN = 5.0  # wall seconds between checks of the server's queue, at most


@dataclass(frozen=True)
class Progress:
    """Where a run is: virtual and wall time, SMS sent so far."""

    virtual: float
    horizon: float
    wall: float
    transmitted: int
    enqueued: int


@dataclass
class RunResult:
    """What a run produced."""

    scenario: Scenario
    seed: int
    out: Path
    verdicts: list[Verdict]
    expected_failures: tuple[str, ...]
    hits: dict[str, int]
    missing_hits: list[str]
    virtual_duration: float
    wall_seconds: float
    digest: str
    requests: int
    events: int
    summary: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None  # what stopped the run early (a signal's name)
    # what the oracles judged (the history and the reduced state the folder keeps); None for
    # an interrupted run. In memory only, for callers that compute their own figures.
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    @property
    def not_judged(self) -> list[str]:
        """Oracles the target exposed no evidence for."""
        return [v.name for v in self.verdicts if not v.judged]

    @property
    def passed(self) -> bool:
        """Every judged oracle as expected (green, or red where the scenario expects red) and
        every demanded dangerous path hit; an interrupted run never passed. An oracle the
        target gave no evidence for is listed as not judged (``not_judged``), and fails the
        run only where the scenario expects it red: that cannot be shown."""
        if self.interrupted is not None:
            return False
        for verdict in self.verdicts:
            expected_red = verdict.name in self.expected_failures
            if not verdict.judged:
                if expected_red:
                    return False
                continue
            if verdict.passed == expected_red:
                return False
        return not self.missing_hits


class _InFlight:
    """The SMS a history shows handed out (``issued``) and not acknowledged final
    (``confirmed``), read as the history grows."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.read = 0
        self.settled: set[int] = set()
        self.held: dict[int, str] = {}  # SMS id -> the phone it was handed to

    def _follow(self) -> None:
        events = self.history.events
        for event in events[self.read :]:
            if event["kind"] == "issued":
                for sms in event["sms"]:
                    if (i := int(sms["id"])) not in self.settled:
                        self.held[i] = event["phone"]
            elif event["kind"] == "confirmed":
                done = {*event["sent"], *event["error"]}
                self.settled |= done
                for i in done:
                    self.held.pop(i, None)
        self.read = len(events)

    def among(self, ids: set[int]) -> int:
        """How many of ``ids`` are in flight now."""
        self._follow()
        return len(self.held.keys() & ids)

    def on(self, phone: str) -> int:
        """How many SMS ``phone`` holds in flight now."""
        self._follow()
        return sum(1 for holder in self.held.values() if holder == phone)


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        out: Path,
        options: TargetOptions,
        stack: contextlib.ExitStack,
        *,
        keep_db: bool,
        door: DoorOptions | None = None,
        interrupt: Callable[[], str | None] | None = None,
    ) -> None:
        self.scenario = scenario
        self._interrupt = interrupt
        self.door: PhoneDoor | None = None  # the real phones' way in, once they are paired
        self.seed = seed
        self.out = out
        prepare_out(out)
        # False: the database is removed when the run ends (verdicts.json says so).
        self.database_kept = not (options.db is None and options.kind != "remote" and not keep_db)
        if not self.database_kept:
            # The database this run makes in its folder. Called back before the target is
            # opened, so run after it closed (the stack unwinds last in, first out): the
            # server, a served process too, no longer holds the file.
            stack.callback(remove_database, out)

        def database(db: str | None) -> tuple[str, str]:
            url = database_url(db, out)
            return url, masked_url(url)

        self.target: Target = open_target(
            scenario, seed, options, database=database, log=out / "serve.log", stack=stack
        )
        self.database = self.target.database  # the URL the server used, fit to print
        self.tz = ZoneInfo(scenario.timezone)
        self._check_actions()
        self._check_queue_only()
        self.keys = self.target.keys or self._register()
        self.phone_ids = {name: key.server_id for name, key in self.keys.items()}
        api_keys = {name: key.api_key for name, key in self.keys.items()}
        target = self.target
        self.transport: HttpTransport | None = None
        # [[fleet.devices]]: phones over ADB, whose own records are the ledger judged
        self.devices = DeviceFleet.check(scenario, virtual=target.virtual, scale=target.scale)
        real = self.devices.real if self.devices is not None else {}
        if target.virtual:
            assert target.port is not None
            self.timings = RequestTimes()
            port = TimedPort(target.port, self.timings)
            self.world = World(scenario.world, port, api_keys, seed=seed, start=target.start)
        else:
            assert target.url is not None and target.scale is not None
            opened = time.monotonic()
            wire = self._wire(target, stack)
            self.door = opened_door = (
                self._door(door, wire, api_keys, real, stack) if real else None
            )
            start = target.start
            if opened_door is not None:  # t = 0 is when the world starts, once paired
                start += timedelta(seconds=(time.monotonic() - opened) * target.scale)
            env = WallClockEnvironment(target.scale)
            stack.callback(env.close)
            self.transport = HttpTransport(env, wire)
            stack.callback(self.transport.close)
            self.timings = self.transport.timings
            self.world = World(
                scenario.world,
                self.transport.blocking,
                api_keys,
                seed=seed,
                start=start,
                env=env,
                transport=self.transport,
                unbooted=real,
            )
            if opened_door is not None:
                opened_door.sink = self._wire_event
        if self.devices is not None:
            self.devices.attach(scenario, self.world, stack)
            stack.callback(self.devices.restore)  # before the door and adb close
        if target.waker is not None:
            target.waker.push = self._push_from_elsewhere if self.transport else self.world.fcm.push
        self.history = self.world.history
        self.enqueued = 0
        self.batches_done = 0
        self.actions_done = 0
        self.campaigns: dict[str, int | None] = {}
        self.campaign_sms: dict[str, set[int]] = {}  # campaign name -> its SMS ids
        self.flight = _InFlight(self.history)
        self.last_people: list[Recipient] = []
        self.taken: set[str] = set()
        self.partner_ids: dict[str, tuple[int, str]] = {}  # number -> (partner id, tag)
        self.interrupted: str | None = None
        self._emit_config()

    def _wire(self, target: Target, stack: contextlib.ExitStack) -> str:
        """The URL the phones call: the target's, or a fault proxy's before it when the
        scenario's network loses requests or responses (in wall seconds: latency / scale)."""
        assert target.url is not None and target.scale is not None
        net = self.scenario.world.network
        if not (net.request_loss or net.response_loss or net.connection_reset):
            return target.url
        scale = target.scale
        faults = WireFaults(
            latency=net.latency / scale,
            jitter=net.latency_jitter / scale,
            request_loss=net.request_loss,
            response_loss=net.response_loss,
            reset=net.connection_reset,
        )
        names = {key.api_key: name for name, key in self.keys.items()}
        proxy = FaultProxy(
            target.url,
            faults=faults,
            rng=random.Random(f"{self.seed}:wire"),  # noqa: S311 - simulation
            record=self._wire_event,
            phone_of=names.get,
        )
        url = proxy.start()
        stack.callback(proxy.stop)
        return url

    def _door(
        self,
        options: DoorOptions | None,
        upstream: str,
        api_keys: Mapping[str, str],
        real: Mapping[str, str],
        stack: contextlib.ExitStack,
    ) -> PhoneDoor:
        """Open the door for the real phones and pair each (before the world starts)."""
        where = str(self.scenario.path or self.scenario.name)
        if options is None:
            raise RunInputError(
                f"{where}: fleet.devices has real phones ({', '.join(real.values())}); give "
                "the https URL they reach this run at with --phone-url (see hil run --help)."
            )
        door = PhoneDoor(
            options,
            upstream,
            api_keys,
            real,
            rng=random.Random(f"{self.seed}:door"),  # noqa: S311 - simulation
        )
        door.start()
        stack.callback(door.stop)
        assert self.devices is not None
        for phone, serial in real.items():
            device = self.devices.device(phone)
            door.pair(phone, serial, api_keys[phone], device, self.out, interrupt=self._interrupt)
        return door

    def _wire_event(self, event: WireEvent) -> None:
        """An exchange a proxy saw (on its thread), into the history on the simulation's
        thread: a request lost, as a virtual-time run records it (a lost answer to a poll
        still issued SMS, which the history records too); and for a real phone at the
        door, each exchange it had, as its app model observes it."""
        phone = event.phone
        if not hasattr(self, "history"):
            return  # before the world exists (the door gates a real phone's polls till then)
        lost = event.outcome in ("request_lost", "response_lost", "reset")
        if phone is None or not (lost or event.response_body):
            return
        env = self.world.env
        assert isinstance(env, WallClockEnvironment)
        endpoint = event.path.partition(DEVICE_PATH)[2] or event.path.rsplit("/", 1)[-1]
        app = self.world.apps.get(phone)

        def record() -> None:
            if lost:
                self.history.emit(
                    RequestFailed(
                        t=env.now,
                        phone=phone,
                        endpoint=endpoint,
                        outcome=event.outcome,
                        status=event.status,
                    )
                )
            if app is not None and event.response_body:
                try:
                    body, answer = json.loads(event.request_body), json.loads(event.response_body)
                except (ValueError, UnicodeDecodeError):
                    return
                app.observe(endpoint, body, Reply(event.status, answer))

        env.post(record)

    def _push_from_elsewhere(self, token: str) -> bool:
        """A push that arrived on another thread (the loopback FCM endpoint): handed to the
        simulated FCM service on the simulation's thread."""
        fcm, env = self.world.fcm, self.world.env
        assert isinstance(env, WallClockEnvironment)
        env.post(lambda: fcm.push(token))
        return fcm.knows(token)

    @property
    def requests(self) -> int:
        """Requests the target served (device and admin), as far as the harness knows."""
        if self.target.counted is not None:
            return self.target.counted()
        return self.transport.requests if self.transport is not None else 0

    # -- setup ----------------------------------------------------------------------------

    def _action(self, index: int, action: Action) -> str:
        """How an error names a scenario's action: its key, kind, campaign and time."""
        where = str(self.scenario.path or self.scenario.name)
        return (
            f"{where}: actions[{index}] ({action.kind} campaign {action.campaign!r} at "
            f"{action.at:g} s)"
        )

    def _check_actions(self) -> None:
        """Refuse, before anything is queued, an action the target's control cannot do."""
        control = self.target.control
        for index, action in enumerate(self.scenario.actions):
            if action.kind not in control.actions:
                mode = self.target.describe.get("mode", self.target.kind)
                raise RunInputError(
                    f"{self._action(index, action)}: the target ({mode}) cannot "
                    f"{action.kind} a campaign; run the scenario against this project's "
                    "server (in process, --serve, or --target URL --admin-token)."
                )

    def _check_queue_only(self) -> None:
        """Refuse, before anything is queued, queue-only batches the target cannot launch."""
        if self.target.control.queue_only:
            return
        for index, batch in enumerate(self.scenario.workload):
            if batch.queue_only:
                where = self.scenario.path or self.scenario.name
                mode = self.target.describe.get("mode", self.target.kind)
                raise RunInputError(
                    f"{where}: workload[{index}] creates campaign {batch.campaign!r} queue-only "
                    f"(paused, to be resumed), which the target ({mode}) cannot do: Odoo's "
                    "campaigns are mass mailings, which the harness does not drive. Run it "
                    "against this project's server (in process, --serve, or --target URL "
                    "--admin-token)."
                )

    def _register(self) -> dict[str, PhoneKey]:
        try:
            return self.target.control.register(self.scenario.world.phones, at=0.0)
        except AdminError as exc:
            raise RunInputError(str(exc)) from exc

    def _caps(self, phone: PhoneSpec, booted_since_grant: bool) -> list[dict[str, Any]]:
        cap = cap_in_force(phone.android, booted_since_grant)
        return [
            {"slot": slot, "max_count": cap.max_count, "period": cap.period, "exempt": False}
            for slot in range(len(phone.sims))
        ]

    def _emit_config(self) -> None:
        s = self.scenario
        self.history.emit(
            RunConfig(
                t=0.0,
                scenario=s.name,
                seed=self.seed,
                start=self.target.start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                timezone=s.timezone,
                phones={
                    p.name: {
                        "server_id": self.phone_ids[p.name],
                        "sims": [sim.number for sim in p.sims],
                        **p.server_settings(),
                        "serves": list(p.serves),
                        "app": p.app.name,
                        "caps": self._caps(p, booted_since_grant=False),
                        "caps_after_reboot": self._caps(p, booted_since_grant=True),
                    }
                    for p in s.world.phones
                },
                stuck_after=s.expect.stuck_after,
            )
        )

    # -- processes ------------------------------------------------------------------------

    def _workload(self) -> Generator[Any, Any, None]:
        """The batches and the operator's actions in time order; at one time, the batches
        first. An action ``during = "sending"`` waits in a process of its own."""
        env = self.world.env
        workload, actions = self.scenario.workload, self.scenario.actions
        plan = sorted(
            [(batch.at, 0, index) for index, batch in enumerate(workload)]
            + [(action.at, 1, index) for index, action in enumerate(actions)]
        )
        for at, step, index in plan:
            if at > env.now:
                yield env.timeout(at - env.now)
            if step == 0:
                yield from self._enqueue(index, workload[index])
            elif actions[index].during == "sending":  # waits on its own: batches go on
                env.process(self._act_when_sending(index, actions[index]))
            else:
                self._act(index, actions[index])

    def _enqueue(self, index: int, batch: Batch) -> Generator[Any, Any, None]:
        """Enqueue one workload batch (a queue-only one through :meth:`_launch`) and record
        it."""
        now = self.world.env.now
        campaign_id = None
        forced = self.phone_ids[batch.phone] if batch.phone is not None else None
        if batch.campaign is not None and not batch.queue_only:
            if batch.campaign not in self.campaigns:
                self.campaigns[batch.campaign] = self.target.control.campaign(
                    batch.campaign, batch.delivery, phone_id=forced, at=now
                )
            campaign_id = self.campaigns[batch.campaign]
        if batch.same_recipients:
            people = self.last_people[: batch.count]
        else:
            people = recipients_for(
                batch.count, seed=self.seed, salt=f"batch{index}", taken=self.taken
            )
        self.last_people = people
        tags = self._partners(batch, people)
        texts = texts_for(batch, people)
        messages = []
        sims = [sim.number for phone in self.scenario.world.phones for sim in phone.sims]
        for i, (person, text) in enumerate(zip(people, texts, strict=True)):
            item: dict[str, Any] = {
                "number": written(person.number, batch.number_format),
                "body": text,
                "delivery": batch.delivery,
            }
            if batch.sims == "split":
                item["sim_number"] = sims[i % len(sims)]
            if campaign_id is not None:
                item["campaign_id"] = campaign_id
            elif forced is not None and not batch.queue_only:  # no campaigns: on each SMS
                item["phone_id"] = forced
            if tags:
                item["partner_id"] = self.partner_ids[person.number][0]
            messages.append(item)
        if batch.queue_only:
            made = yield from self._launch(batch, messages, forced)
            now = self.world.env.now  # in real time the call took a while
        else:
            made = self.target.control.enqueue(messages, at=now)
        answered, states = made.ids, made.states
        ids = [i for i in answered if i is not None]
        self.enqueued += len(ids)
        if batch.campaign is not None:
            self.campaign_sms.setdefault(batch.campaign, set()).update(ids)
        self.history.emit(
            EnqueuedBatch(
                t=now,
                batch=index,
                ids=ids,
                refused=len(answered) - len(ids),
                states=states,
                tags=[t for t, i in zip(tags, answered, strict=True) if i is not None]
                if tags
                else [],
                campaign=batch.campaign,
            )
        )
        self.batches_done += 1

    def _act(self, index: int, action: Action) -> None:
        """Perform one operator action (``reassign``) and record it."""
        now = self.world.env.now
        campaign_id = self.campaigns.get(action.campaign)
        if campaign_id is None:  # a control whose campaign() made none
            raise RunInputError(
                f"{self._action(index, action)}: the target made no campaign "
                f"{action.campaign!r}, so there is none to re-assign."
            )
        in_flight = self.flight.among(self.campaign_sms.get(action.campaign, set()))
        phone_id = self.phone_ids[action.phone] if action.phone is not None else None
        try:
            moved = self.target.control.reassign(
                campaign_id, phone_id=phone_id, sims=action.sims, at=now
            )
        except Unsupported as exc:
            raise RunInputError(f"{self._action(index, action)}: {exc}") from exc
        self.history.emit(
            Reassigned(
                t=now,
                action=index,
                campaign=action.campaign,
                phone=action.phone,
                sims=action.sims,
                moved=moved,
                in_flight=in_flight,
            )
        )
        self.actions_done += 1

    def _device_fault(self, phone: str, fault: Fault) -> Generator[Any, Any, None]:
        """A real phone's scenario fault, played over ADB at its time (waiting, as the
        simulator does, for SMS in flight when it is ``during = "sending"``), and undone
        after its duration (the simulator's default when it names none)."""
        env = self.world.env
        if fault.at > env.now:
            yield env.timeout(fault.at - env.now)
        if fault.during == "sending":
            yield from wait_for_sending(env, lambda: bool(self.flight.on(phone)))
        devices = self.devices
        assert devices is not None
        kind = fault.kind
        # when it was played, and what the phone held then, as the wire saw it (handed
        # out, not acknowledged final): a reboot's call returns once the phone is back
        began = env.now
        held = self.flight.on(phone) if kind in ("process_death", "reboot") else None
        outcome = yield from self._off_loop(lambda: devices.play(phone, kind, undo=False))
        lasts = fault.duration or DEFAULT_FAULT_DURATION.get(kind, 0.0)
        if outcome is not None and outcome.taken:
            until = round(began + lasts, 6) if kind == "partition" else None
            self.history.emit(
                FaultApplied(t=began, phone=phone, fault=kind, in_flight=held, until=until)
            )
        if DEVICE_FAULTS[kind].undo:
            yield env.timeout(lasts)
            yield from self._off_loop(lambda: devices.play(phone, kind, undo=True))

    def _act_when_sending(self, index: int, action: Action) -> Generator[Any, Any, None]:
        """From the action's time, wait (up to ``FAULT_WAIT_LIMIT``, as a fault
        ``during = "sending"`` does) for SMS of its campaign in flight, then act."""
        env = self.world.env
        ids = self.campaign_sms.setdefault(action.campaign, set())  # later batches add to it
        yield from wait_for_sending(env, lambda: bool(self.flight.among(ids)))
        self._act(index, action)

    def _launch(
        self, batch: Batch, messages: list[dict[str, Any]], forced: int | None
    ) -> Generator[Any, Any, Enqueued]:
        """A queue-only batch: its campaign created paused together with its SMS, recorded,
        and a process that resumes it at the batch's ``resume`` time."""
        env, control = self.world.env, self.target.control
        assert batch.campaign is not None  # the reader demands one
        asked = env.now
        made: Enqueued = yield from self._off_loop(
            functools.partial(
                control.launch,
                batch.campaign,
                batch.delivery,
                messages,
                phone_id=forced,
                send_now=False,
                at=asked,
            )
        )
        self.campaigns[batch.campaign] = made.campaign_id
        self.history.emit(
            CampaignState(
                t=env.now, campaign=batch.campaign, paused=True, asked=asked, created=True
            )
        )
        if batch.resume is not None and made.campaign_id is not None:
            env.process(self._resume(batch.campaign, made.campaign_id, batch.resume))
        return made

    def _resume(self, name: str, campaign_id: int, at: float) -> Generator[Any, Any, None]:
        """The operator resumes a queue-only campaign."""
        env = self.world.env
        if at > env.now:
            yield env.timeout(at - env.now)
        asked = env.now
        yield from self._off_loop(
            functools.partial(self.target.control.resume, campaign_id, at=asked)
        )
        self.history.emit(
            CampaignState(t=env.now, campaign=name, paused=False, asked=asked, created=False)
        )

    def _off_loop(self, call: Callable[[], Any]) -> Generator[Any, Any, Any]:
        """A control call, at once in virtual time. In real time it runs on a thread of its
        own while the workload waits for its answer and the phones go on polling: a long
        call (a large campaign being created) is just when a poll can meet it half done."""
        env = self.world.env
        if not isinstance(env, WallClockEnvironment):
            return call()
        done = env.event()

        def work() -> None:
            try:
                value = call()
            except Exception as exc:  # raised in the workload, where the run sees it
                env.post(functools.partial(done.fail, exc))
            else:
                env.post(functools.partial(done.succeed, value))

        threading.Thread(target=work, name="hil-control", daemon=True).start()
        return (yield done)

    def _partners(self, batch: Batch, people: Sequence[Recipient]) -> list[str]:
        """With ``partner_tags``, the tag of each recipient's partner, importing those not
        imported yet (a recipient keeps the tag of its first import); else ``[]``."""
        if not batch.partner_tags:
            return []
        tags = batch.partner_tags
        new = [
            (p.name, p.number, tags[i % len(tags)])
            for i, p in enumerate(people)
            if p.number not in self.partner_ids
        ]
        if new:
            made = self.target.control.partners(new, at=self.world.env.now)
            for (_, number, tag), partner_id in zip(new, made, strict=True):
                self.partner_ids[number] = (partner_id, tag)
        return [self.partner_ids[p.number][1] for p in people]

    def _job(self, name: str, due: Callable[[float], float]) -> Generator[Any, Any, None]:
        env = self.world.env
        fire = self.target.fire_job
        assert fire is not None
        while True:
            yield env.timeout(max(0.0, due(env.now) - env.now))
            run = fire(name, env.now)
            if run.get("affected"):
                self.history.emit(JobRan(t=env.now, job=name, affected=run["affected"]))
            yield env.timeout(1.0)

    def _every(self, period: float) -> Callable[[float], float]:
        return lambda now: (now // period + 1) * period

    def _local(self, hour: int, minute: int) -> Callable[[float], float]:
        start = self.scenario.start

        def due(now: float) -> float:
            local = (start + timedelta(seconds=now)).astimezone(self.tz)
            at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if at <= local:
                at = (at + timedelta(days=1)).replace(hour=hour, minute=minute)
            return (at - start).total_seconds()

        return due

    # -- the run --------------------------------------------------------------------------

    def drained(self) -> bool:
        planned = len(self.scenario.workload) + len(self.scenario.actions)
        if self.batches_done + self.actions_done < planned or not self.world.quiet:
            return False
        pending = self.target.control.pending(at=self.world.env.now)
        return pending == 0

    def run(
        self,
        progress: Callable[[Progress], None] | None,
        interrupt: Callable[[], str | None] | None = None,
    ) -> float:
        env = self.world.env
        if self.door is not None:
            self.door.accepting = True  # the clock starts: real phones may be handed SMS
        env.process(self._workload())
        for phone, fault in self.devices.scheduled() if self.devices is not None else ():
            env.process(self._device_fault(phone, fault))
        if self.target.fire_job is not None:  # virtual time: the harness fires the jobs
            for name, period in JOB_PERIODS.items():
                env.process(self._job(name, self._every(period)))
            env.process(self._job("daily_reset", self._local(0, 0)))
            env.process(self._job("monthly_reset", self._local(0, 5)))
        horizon = self.scenario.max_duration
        # in real time, look at the interrupt and the progress every few wall seconds
        step = STEP if self.target.virtual else min(STEP, REALTIME_STEP * (self.target.scale or 1))
        wall = time.perf_counter()
        # in real time at a slow pace, every REALTIME_DRAIN wall seconds at least
        every = DRAIN_CHECK
        if not self.target.virtual:
            every = min(DRAIN_CHECK, REALTIME_DRAIN * (self.target.scale or 1))
        next_check = every
        t = 0.0
        while t < horizon:
            t = min(horizon, t + step)
            env.run(until=t)
            if progress is not None:
                progress(
                    Progress(
                        t,
                        horizon,
                        time.perf_counter() - wall,
                        len(self.world.ledger),
                        self.enqueued,
                    )
                )
            if interrupt is not None and (reason := interrupt()) is not None:
                self.interrupted = reason
                break
            if self.scenario.drain and t >= next_check:
                next_check = t + every
                if self.drained():
                    break
        if self.door is not None:
            self.door.accepting = False  # nothing handed out that the history would not see
        self.world.finish()
        return t

    # -- the end --------------------------------------------------------------------------

    def server_state(self) -> dict[str, Any]:
        control, at = self.target.control, self.world.env.now
        state = control.final_state(self.keys, at=at)
        if self.target.kind == "remote":  # the server outlives the run
            control.release(at=at)
        return state


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out: Path,
    db: str | None = None,
    target: TargetOptions | None = None,
    progress: Callable[[Progress], None] | None = None,
    interrupt: Callable[[], str | None] | None = None,
    keep_db: bool = False,
    reports: bool = True,
    door: DoorOptions | None = None,
    twin: tuple[str, str] | None = None,
) -> RunResult:
    """Run a scenario and write its run folder; see the module docstring.

    ``target`` says what to test (default: our server in process, on ``db``). The database
    the run makes in its folder (no ``db``: a SQLite file there) is removed when the run
    ends, however it ends, unless ``keep_db``; a database the caller named never is.

    ``reports=False`` (for the many runs of a self-test or an exploration) writes
    ``junit.xml`` but not the report and its plots, which take about a second to draw;
    ``hil report`` renders them from the folder when someone wants to look.

    ``twin`` names a differential run's phone over ADB and its virtual twin: ``verdicts.json``
    keeps them, and the reports put the two side by side (``twin.md``).

    ``door`` says where the scenario's real phones (``[[fleet.devices]]`` by serial) reach
    the run; they are paired before its clock starts (``harness.phone_door``).

    ``interrupt`` is asked after every step; when it names a reason (``"SIGINT"``) the run
    stops there and writes only its history, an unjudged ``verdicts.json`` and ``junit.xml``.
    """
    seed = scenario.seed if seed is None else seed
    wall = time.perf_counter()
    options = target or TargetOptions(db=db)
    if db is not None and options.db is None and options.kind != "remote":
        options = dataclasses.replace(options, db=db)
    with contextlib.ExitStack() as stack:
        try:
            run = _Run(
                scenario, seed, out, options, stack, keep_db=keep_db, door=door, interrupt=interrupt
            )
        except AdminError as exc:
            raise TargetError(f"The target failed while the run was set up: {exc}") from exc
        meta: dict[str, Any] = {
            "scenario": scenario.name,
            "seed": seed,
            "database": run.database,
            "database_kept": run.database_kept,
            "target": run.target.describe,
        }
        if twin is not None:
            meta["twin"] = list(twin)
        try:
            duration = run.run(progress, interrupt)
            # judged as the run folder keeps it, so that the folder judges the same again
            state = reduce_state(run.server_state()) if run.interrupted is None else {}
            truths = (
                run.devices.read(run.door.redirected if run.door else None, until=run.world.env.now)
                if run.devices and run.interrupted is None
                else {}
            )
        except (AdminError, SQLAlchemyError) as exc:
            raise TargetError(
                f"The server under test failed at {run.world.env.now:.0f} s of the run: "
                f"{one_line(exc)}"
            ) from exc
        requests = run.requests
        if run.devices is not None:
            meta["devices"] = run.devices.describe(truths)
    exposed = run.target.control.exposes
    real = run.devices.real if run.devices is not None else {}
    events = with_ground_truth(run.history.events, truths, real)
    judged = run.interrupted is None
    evidence = Evidence(events=events, server=state)
    verdicts = judge(evidence, scenario.expect.oracles, exposed) if judged else []
    if judged:
        verdicts += judge_thresholds(evidence, scenario.expect.thresholds, exposed)
    hits = count_hits(events, evidence.index if judged else None)
    missing = [name for name in scenario.expect.hit if not hits.get(name)] if judged else []
    digest = write_history(out, events)
    wall_seconds = time.perf_counter() - wall
    result = RunResult(
        scenario=scenario,
        seed=seed,
        out=out,
        verdicts=verdicts,
        expected_failures=scenario.expect.fail,
        hits=hits,
        missing_hits=missing,
        virtual_duration=duration,
        wall_seconds=wall_seconds,
        digest=digest,
        requests=requests,
        events=len(events),
        interrupted=run.interrupted,
        evidence=evidence if judged else None,
    )
    meta |= {"passed": result.passed}
    if not judged:
        meta["interrupted"] = {
            "signal": run.interrupted,
            "virtual_seconds": duration,
            "wall_seconds": round(wall_seconds, 3),
        }
    meta |= {
        "virtual_seconds": duration,
        "wall_seconds": round(wall_seconds, 3),
        "requests": result.requests,
        "events": result.events,
        "history_sha256": digest,
        "hits": hits,
        "demanded_hits": list(scenario.expect.hit),
        "missing_hits": missing,
        "not_judged": result.not_judged,
        "expected_failures": list(scenario.expect.fail),
        "verdicts": [v.to_dict() for v in verdicts],
        "request_latency": run.timings.figures(),
    }
    (out / "verdicts.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    result.summary = meta
    if judged:  # an interrupted run has no server state to report on: junit.xml only
        write_state(out, state)
    write_reports(out, meta, (events, state) if judged and reports else None)
    return result
