"""A running virtual phone of the simulator behind the ADB test double.

:class:`SimulatedPhone` is a :class:`~.phone.PhoneModel` that mirrors one phone of a
``simulator.world.World`` running in real time (``WallClockEnvironment``), so what ADB reads
is what the simulated phone does, and what ADB does happens to the simulated phone:

=============================================  ==============================================
ADB reads                                      from the simulation
=============================================  ==============================================
``dumpsys deviceidle get deep|light``          its ``Doze`` state (``doze`` events, below)
``content query --uri content://sms/sent``     its ``radio`` ledger entries of cause ``app``,
                                               with the text the app gave ``SmsManager``
``content query --uri content://sms/inbox``    its ``inbound_received`` events
``logcat -d``                                  the app's own log lines (``LOG_LINES``) for
                                               what it did, while its process lives
``pidof com.varyshop.smsgatewayapp``           its process: gone on death, back on start
=============================================  ==============================================

=============================================  ==============================================
ADB does                                       to the simulation
=============================================  ==============================================
``dumpsys deviceidle force-idle`` / unforce    ``Doze.force_idle`` / ``Doze.unforce``
``dumpsys battery unplug`` / ``set ac 1`` ...  the ``unplug`` / ``plug`` faults
``svc data disable``, airplane mode on         a partition until the network is back
``am force-stop`` / ``am start -n``            ``GatewayApp.force_stop`` / ``start``
``reboot``                                     the ``reboot`` fault (its default boot time);
                                               a force-stopped app stays stopped
``pm revoke PKG android.permission.SEND_SMS``  the process dies (the ``process_death``
                                               fault) and ``SmsManager`` throws until
                                               ``pm grant`` gives it back
``settings put global sms_outgoing_check_*``   the cap the next boot's monitors read
=============================================  ==============================================

**The seam between the two threads.** The double serves commands on its own thread; the
simulation advances on the harness's thread. They meet in two one-way channels:

- *ADB -> simulation: a queue.* A command changes the mirror at once (under
  :attr:`PhoneModel.lock`, as the double's shell holds it) and queues the simulator's side
  with ``WallClockEnvironment.post``, which the simulation's thread runs at the wall
  clock's time. The double never waits for the simulation.
- *simulation -> mirror: the lock.* A listener on the world's history
  (``History.subscribe``) runs on the simulation's thread and copies what this phone did
  into the mirror while holding :attr:`PhoneModel.lock`. The simulation never waits for
  the double except for that lock, which the double holds only for one command line.

Neither thread waits for the other while holding the lock, so they cannot deadlock; and
the simulation's objects are touched only on the simulation's thread.

Not mirrored: airplane mode does not switch the SIMs' radio off (only the data network);
a forced *light* idle changes the mirror only; a force-stopped app still receives SMS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from simulator import (
    AppStart,
    DozeState,
    Event,
    FaultApplied,
    InboundReceived,
    Issued,
    Reconciled,
    StatusAcked,
    TrackerTimeout,
    Transmission,
)
from simulator.android import PendingIntent, SendRequest
from simulator.config import RESULT_OK
from simulator.store import error_reason
from simulator.world import World

from ..phone_facts import APP_PACKAGE, APP_TAG, BOOT_LOG, LOG_LINES, SMS_CAP_COUNT, SMS_CAP_INTERVAL
from .phone import PROFILES, DeviceProfile, PhoneModel

__all__ = ["DOZE_STATES", "SimulatedPhone"]

SEND_SMS = "android.permission.SEND_SMS"
# The simulator's Doze state -> (deep, light) as ``dumpsys deviceidle get`` names them
# (DeviceIdleController.stateToString / lightStateToString). In light doze the deep
# state machine is still counting down (INACTIVE); a deep idle overrides the light one.
DOZE_STATES: dict[str, tuple[str, str]] = {
    "active": ("ACTIVE", "ACTIVE"),
    "light_idle": ("INACTIVE", "IDLE"),
    "light_maintenance": ("INACTIVE", "IDLE_MAINTENANCE"),
    "deep_idle": ("IDLE", "OVERRIDE"),
    "deep_maintenance": ("IDLE_MAINTENANCE", "OVERRIDE"),
}


class SimulatedPhone(PhoneModel):
    """The mirror of one running virtual phone, served by an ``AdbDouble``.

    ``world`` must run on a ``WallClockEnvironment`` (anything with ``post``): ADB is a
    real-time thing. The app is installed with every permission a prepared gateway phone
    holds, and the screen is off, so Doze runs as the simulator's does.
    """

    def __init__(self, world: World, name: str, profile: DeviceProfile | str = "stock") -> None:
        post: Callable[[Callable[[], Any]], None] | None = getattr(world.env, "post", None)
        if post is None:
            raise TypeError(
                "A SimulatedPhone needs a world on a WallClockEnvironment (ADB is real time); "
                f"this world runs on {type(world.env).__name__}."
            )
        app = world.apps[name]
        self.world, self.app = world, app
        self._post = post
        self._ready = False  # nothing reaches the simulation while the mirror is built
        self._booting = True  # the next app start is the boot receiver's
        # Its dumpsys prints the Doze constants its virtual phone runs with, not the profile's.
        chosen = PROFILES[profile] if isinstance(profile, str) else profile
        super().__init__(
            replace(chosen, doze=app.spec.android.doze),
            name=name,
            sims=app.spec.sims,
            epoch=world.start,
            clock=lambda: world.env.now,
            charging=app.spec.android.charging,
        )
        self.screen_on = False
        package = self.packages[APP_PACKAGE]
        package.granted |= set(package.requested) - {"android.permission.SYSTEM_ALERT_WINDOW"}
        if app.spec.android.battery_exempt:
            self.user_allowlist.add(APP_PACKAGE)
        self._slots = {sim.number: slot for slot, sim in enumerate(app.spec.sims)}
        self._sent_broadcast = app.radio.broadcast
        app.radio.broadcast = self._on_part
        self._send = app.radio.send
        app.radio.send = self._on_send  # type: ignore[method-assign]
        world.history.subscribe(self._follow)
        self._ready = True

    # -- ADB -> simulation (the queue) ------------------------------------------------------

    def _later(self, change: Callable[[], Any]) -> None:
        if self._ready:
            self._post(change)

    def force_doze(self, deep: bool = True) -> bool:
        """``force-idle``; a deep one that took forces the simulated Doze too."""
        took = super().force_doze(deep)
        if took and deep and self.force_idle:
            self._later(self.app.doze.force_idle)
        return took

    def unforce_doze(self) -> None:
        """``unforce``: the simulated Doze leaves its forced idle too."""
        super().unforce_doze()
        charging = self.plugged is not None
        self._later(lambda: self.app.doze.unforce(charging))

    def unplug(self) -> None:
        """``dumpsys battery unplug``: the simulator's ``unplug`` fault."""
        before = self.plugged
        super().unplug()
        self._follow_plug(before)

    def set_power(self, kind: str, on: bool) -> None:
        """``dumpsys battery set ac|usb|wireless``: ``plug`` or ``unplug`` when it changes."""
        before = self.plugged
        super().set_power(kind, on)
        self._follow_plug(before)

    def reset_battery(self) -> None:
        """``dumpsys battery reset``: the charger the phone really has."""
        before = self.plugged
        super().reset_battery()
        self._follow_plug(before)

    def _follow_plug(self, before: str | None) -> None:
        if (before is None) != (self.plugged is None):
            kind = "unplug" if self.plugged is None else "plug"
            self._later(lambda: self.world.apply(self.name, kind))

    def switch(self, key: str, on: bool) -> None:
        """Mobile data, Wi-Fi, airplane mode: the phone's network gone is a partition that
        lasts until it is back."""
        before = self.network_connected
        super().switch(key, on)
        after = self.network_connected
        if before != after:
            self._later(lambda: self._network(after))

    def _network(self, connected: bool) -> None:
        link, env = self.app.link, self.world.env
        link.partitioned_until = env.now if connected else math.inf
        fault = "network_on" if connected else "network_off"
        self.world.history.emit(FaultApplied(t=env.now, phone=self.name, fault=fault))

    def force_stop(self, name: str) -> None:
        """``am force-stop``: the app's process dies, its alarms go, nothing restarts it."""
        super().force_stop(name)
        if name == APP_PACKAGE:
            self._later(self.app.force_stop)

    def start(self, name: str) -> int:
        """``am start``: the gateway app's service starts (a no-op if it runs); the mirror
        shows its process at once, as Android does when ``am start -W`` returns."""
        pid = super().start(name)
        if name == APP_PACKAGE:
            self._later(self.app.start)
        return pid

    def set_permission(self, name: str, permission: str, granted: bool) -> None:
        """``pm grant|revoke``: SEND_SMS revoked kills the app and makes SmsManager throw."""
        super().set_permission(name, permission, granted)
        if name != APP_PACKAGE or permission != SEND_SMS:
            return
        radio, world = self.app.radio, self.world

        def change() -> None:
            radio.send_permitted = granted
            if not granted and self.app.process_alive:
                world.apply(self.name, "process_death")

        self._later(change)

    def boot(self) -> None:
        """``reboot``: the simulator's ``reboot`` fault; its monitors read the cap of these
        settings; the mirror's app starts when the simulated one does."""
        self.power_cycle()
        self._booting = True
        if not self._ready:
            if self.app.process_alive:
                self.packages[APP_PACKAGE].pid = self._pid()
            return
        cap = self.cap_in_force
        custom = any(key in self.settings["global"] for key in (SMS_CAP_COUNT, SMS_CAP_INTERVAL))

        def reboot() -> None:
            self.app.radio.cap_setting = cap if custom else None
            self.world.apply(self.name, "reboot")

        self._later(reboot)

    def _pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    # -- simulation -> mirror (the lock) ----------------------------------------------------

    def _follow(self, event: Event) -> None:
        """A history event, on the simulation's thread: what this phone did, into the
        mirror."""
        if getattr(event, "phone", None) != self.name:
            return
        with self.lock:
            self._mirror(event)

    def _mirror(self, event: Event) -> None:
        app = self.packages.get(APP_PACKAGE)
        if isinstance(event, DozeState):
            self.doze_deep, self.doze_light = DOZE_STATES[event.state]
        elif isinstance(event, Transmission):
            self.ledger.record(event)
        elif isinstance(event, InboundReceived):
            self.sms.receive(event, self._slots.get(event.sim_number or "", 0))
        elif isinstance(event, FaultApplied) and event.fault in (
            "process_death",
            "reboot",
            "force_stop",
        ):
            if app is not None:
                app.pid = None
            if event.fault == "reboot":
                self._booting = True
        elif isinstance(event, AppStart) and app is not None:
            app.stopped = False
            if app.pid is None:
                app.pid = self._pid()
            if self._booting:
                self.log(*BOOT_LOG)
            self._booting = False
            self.log(APP_TAG, LOG_LINES["start"])
        elif isinstance(event, Issued):
            self.log(APP_TAG, LOG_LINES["found"].format(count=len(event.sms)))
        elif isinstance(event, StatusAcked):
            count = len(event.sent) + len(event.error)
            self.log(APP_TAG, LOG_LINES["confirmed"].format(count=count))
        elif isinstance(event, TrackerTimeout):
            status = "sent" if event.sent == event.total else "error"
            line = LOG_LINES["swept"].format(
                sms_id=event.sms_id, status=status, sent=event.sent, total=event.total
            )
            self.log(APP_TAG, line, "W")
        elif isinstance(event, Reconciled):
            self.log(APP_TAG, LOG_LINES["reconciled"].format(count=event.settled))

    # The app's calls into Android, wrapped on the simulation's thread: the text for the SMS
    # provider's body column, and the app's log lines of a submit and of a part's callback.

    def _on_send(self, request: SendRequest) -> None:
        try:
            self._send(request)
        except Exception:
            with self.lock:
                self.log(APP_TAG, LOG_LINES["refused"].format(sms_id=request.sms_id), "E")
            raise
        with self.lock:
            self.bodies[request.sms_id] = request.text
            line = LOG_LINES["submitted"].format(sms_id=request.sms_id, parts=request.parts)
            self.log(APP_TAG, line, "D")

    def _on_part(self, record: PendingIntent, code: int) -> None:
        app = self.app
        if app.process_alive and app.running and record.sms_id in app.trackers:
            key = "part_ok" if code == RESULT_OK else "part_failed"
            line = LOG_LINES[key].format(
                sms_id=record.sms_id,
                part=record.part + 1,
                total=record.total,
                reason=error_reason(code),
            )
            with self.lock:
                self.log(APP_TAG, line, "D" if code == RESULT_OK else "W")
        self._sent_broadcast(record, code)
