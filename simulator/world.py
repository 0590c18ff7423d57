"""A world of virtual phones around one gateway server, in one SimPy environment.

The world owns the clock (``env.now`` = virtual seconds since ``start``), the history, the
radio ledger, FCM and the recipients. Randomness is one seed split by name
(``random.Random(f"{seed}:{name}")``), so adding a phone does not change the draws of the
others and the same seed gives the same history.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import simpy

from .android import Doze, Radio
from .app import GatewayApp
from .config import DEFAULT_FAULT_DURATION, FAULT_WAIT_LIMIT, PhoneSpec, WorldSpec
from .context import PhoneContext, Pushable, WallClock
from .events import AppFinal, FaultApplied, PushOutcome, StopReply, Transmission
from .history import History
from .ledger import RadioLedger
from .network import Link, Network, Wire
from .port import GatewayPort, Transport

__all__ = ["Fcm", "World", "network_address"]


def network_address(number: str, style: str = "international") -> str:
    """The sender address a reply carries: the network writes numbers internationally
    (``00420 601 743 915`` as typed by a person arrives as ``+420601743915``), or with
    ``style`` "00" as ``00420601743915``."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("00"):
        digits = digits[2:]
    elif not number.strip().startswith("+"):
        return number.strip()
    return ("00" if style == "00" else "+") + digits


class Fcm:
    """Google's push service: token -> phone, with latency and loss."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = world.rng("fcm")
        self._apps: dict[str, Pushable] = {}

    def register(self, token: str, phone: Pushable) -> None:
        """The phone obtained ``token`` (``onNewToken``)."""
        self._apps[token] = phone

    def knows(self, token: str) -> bool:
        """Whether some phone obtained ``token`` (safe to ask from another thread)."""
        return token in self._apps

    def push(self, token: str) -> bool:
        """The server sends an ``sms_pending`` data message; ``False`` if the token is
        unknown to FCM (unregistered)."""
        world = self.world
        app = self._apps.get(token)
        if app is None:
            world.history.emit(PushOutcome(t=world.env.now, token=token, outcome="unregistered"))
            return False
        spec = world.spec.fcm
        if not spec.enabled or (spec.loss and self.rng.random() < spec.loss):
            world.history.emit(PushOutcome(t=world.env.now, phone=app.name, outcome="lost"))
            return True
        world.env.process(self._deliver(app, spec.latency))
        return True

    def _deliver(self, app: Pushable, latency: float):  # type: ignore[no-untyped-def]
        yield self.world.env.timeout(latency)
        world = self.world
        world.history.emit(PushOutcome(t=world.env.now, phone=app.name, outcome="delivered"))
        app.on_push()


def wait_for_sending(env: simpy.Environment, sending: Callable[[], bool]):  # type: ignore[no-untyped-def]
    """Wait, looking every half second, until ``sending()`` says the moment has come, or
    ``FAULT_WAIT_LIMIT`` has passed: a fault or an action ``during = "sending"``."""
    give_up = env.now + FAULT_WAIT_LIMIT
    while not sending() and env.now < give_up:
        yield env.timeout(0.5)


class World:
    """Phones, network, FCM and recipients; driven by ``env.run``."""

    def __init__(
        self,
        spec: WorldSpec,
        port: GatewayPort,
        api_keys: Mapping[str, str],
        *,
        seed: int,
        start: datetime,
        env: simpy.Environment | None = None,
        transport: Transport | None = None,
        unbooted: Collection[str] = (),
    ) -> None:
        """``port`` reaches the server in virtual time; with a ``transport`` (and a
        ``WallClockEnvironment``) the phones talk to it on the wire in real time instead.

        The phones of ``unbooted`` are built and never booted (nor faulted): their app
        only observes the exchanges a phone outside the world had (a real phone, seen on
        the wire)."""
        self.clock = WallClock(start)  # refuses a start without a timezone
        self.spec = spec
        self.port = port
        self.transport = transport
        self.seed = seed
        self.start = start
        self.env = env or simpy.Environment()
        self.history = History()
        self.ledger = RadioLedger()
        self.fcm = Fcm(self)
        self._context = PhoneContext(
            env=self.env,
            history=self.history,
            clock=self.clock,
            push=self.fcm if spec.fcm.enabled else None,
            stop_words=spec.recipients.stop_words,
        )
        self._recipients = self.rng("recipients")
        self.stopped: set[str] = set()
        self.apps: dict[str, GatewayApp] = {}
        self._by_sim: dict[str, GatewayApp] = {}
        self._unbooted = frozenset(unbooted)
        for phone in spec.phones:
            if phone.name not in api_keys:
                raise ValueError(f"No API key for phone {phone.name!r}.")
            self.apps[phone.name] = self._build(phone, api_keys[phone.name])

    def rng(self, name: str) -> random.Random:
        """The random source of one named component."""
        return random.Random(f"{self.seed}:{name}")  # noqa: S311 - simulation, not crypto

    def _build(self, phone: PhoneSpec, api_key: str) -> GatewayApp:
        rng = self.rng(f"phone:{phone.name}")
        doze = Doze(
            self.env, phone.android, self.rng(f"doze:{phone.name}"), self.history, phone.name
        )
        radio = Radio(
            self.env,
            phone.name,
            phone.sims,
            phone.android,
            self.rng(f"radio:{phone.name}"),
            self.ledger,
            self.history,
            self._transmitted,
        )
        link: Network
        if self.transport is not None:
            link = Wire(self.env, self.transport, api_key)
        else:
            link = Link(self.env, self.spec.network, self.port, api_key, rng)
        app = GatewayApp(self._context, phone, doze, radio, link)
        for sim in phone.sims:
            self._by_sim[sim.number] = app
        if phone.name not in self._unbooted:
            self.env.process(self._boot(app, phone))
        return app

    def _boot(self, app: GatewayApp, phone: PhoneSpec):  # type: ignore[no-untyped-def]
        if phone.start_at > 0:
            yield self.env.timeout(phone.start_at)
        app.start()
        for fault in sorted(phone.faults, key=lambda f: f.at):
            if fault.at > self.env.now:
                yield self.env.timeout(fault.at - self.env.now)
            if fault.during == "sending":
                yield from wait_for_sending(self.env, lambda: bool(app.trackers))
            self._apply(app, fault.kind, fault.duration)

    def apply(self, phone: str, kind: str, duration: float = 0.0) -> None:
        """Apply a fault of ``FAULT_KINDS`` to ``phone`` now, as a scenario's fault is
        (``duration`` 0: the kind's default); on the simulation's thread."""
        self._apply(self.apps[phone], kind, duration)

    def _apply(self, app: GatewayApp, kind: str, duration: float) -> None:
        if kind in ("process_death", "reboot"):
            app.kill(kind, restart_after=duration or DEFAULT_FAULT_DURATION[kind])
        elif kind == "campaign_screen":
            app.campaign_screen()
        elif kind == "settings_change":
            app.restart_schedulers()
        elif kind == "partition":
            until = app.link.partition(duration)
            self.history.emit(
                FaultApplied(t=self.env.now, phone=app.name, fault=kind, until=round(until, 6))
            )
        elif kind == "unplug":
            app.doze.unplug()
            self.history.emit(FaultApplied(t=self.env.now, phone=app.name, fault=kind))
        elif kind == "plug":
            app.doze.plug()
            self.history.emit(FaultApplied(t=self.env.now, phone=app.name, fault=kind))
        else:
            raise ValueError(f"Unknown fault kind {kind!r}.")

    # -- recipients -----------------------------------------------------------------------

    def _transmitted(self, entry: Transmission) -> None:
        spec = self.spec.recipients
        if entry.cause != "app" or entry.recipient in self.stopped:
            return
        rng = self._recipients
        # Each recipient replies at most once (and may send that reply again: a repeat).
        # Draws are made only for what the scenario asks for, so a scenario without other
        # replies or repeats keeps the history it had before.
        if spec.stop_probability and rng.random() < spec.stop_probability:
            texts = spec.stop_texts or spec.stop_words
            text, stop = (texts[0] if len(texts) == 1 else rng.choice(texts)), True
        elif spec.other_probability and rng.random() < spec.other_probability:
            texts = spec.other_replies
            text, stop = (texts[0] if len(texts) == 1 else rng.choice(texts)), False
        else:
            return
        self.stopped.add(entry.recipient)
        delay = rng.expovariate(1.0 / spec.stop_delay) if spec.stop_delay else 0.0
        self.env.process(self._reply(entry, text, stop, delay))
        if spec.repeat_probability and rng.random() < spec.repeat_probability:
            again = delay + rng.uniform(0.5, 1.5) * spec.repeat_delay
            self.env.process(self._reply(entry, text, stop, again))

    def _reply(self, entry: Transmission, text: str, stop: bool, delay: float):  # type: ignore[no-untyped-def]
        yield self.env.timeout(delay)
        if stop:
            self.history.emit(
                StopReply(
                    t=self.env.now,
                    recipient=entry.recipient,
                    sim_number=entry.sim_number,
                    sms_id=entry.sms_id,
                    body=text,
                )
            )
        app = self._by_sim.get(entry.sim_number)
        if app is not None:
            sender = network_address(entry.recipient, self.spec.recipients.sender_format)
            app.receive_sms(sender, text, entry.sim_number)

    # -- running --------------------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """Every running phone has nothing in hand."""
        return all(app.quiet for app in self.apps.values())

    def finish(self) -> list[dict[str, Any]]:
        """Write each app's final local state into the history (``app_final``); an
        unbooted app's is not known here (it is on the phone outside the world)."""
        rows = []
        for name, app in self.apps.items():
            if name in self._unbooted:
                continue
            state = app.final_state()
            final = AppFinal(
                t=self.env.now,
                phone=name,
                unsynced=state["unsynced"],
                statuses=state["statuses"],
            )
            rows.append(self.history.emit(final))
        return rows
