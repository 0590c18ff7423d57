"""The scenario's phones over ADB in a run (``[[fleet.devices]]``): attached, faulted, read.

A mixed fleet runs in real time: virtual phones and phones over ADB talk to one target, and
every oracle judges both. For a device, what left its radio is what the phone itself
records (``harness.phone_truth``), read over ADB at the end of the run: its ``radio``
events replace whatever the history had for that phone, so the oracles judge the ADB
ledger, not the simulator's.

A device whose serial is ``scenarios.DOUBLE_SERIAL`` is the harness's own stand-in (CI):
the phone's virtual twin in the world, served as an ADB device
(``AdbDouble(SimulatedPhone(...))``) with the scenario's profile and attached to the adb
server with ``adb connect``, so the whole path (adbutils -> adb server -> device) runs.
The phone's SMS provider does not see telephony retries below the app: a device's ledger
has none.

Any other serial is a phone adb already sees (on USB, or ``adb connect``-ed): its app is
paired with the run through the door (``harness.phone_door``), which also shows the
harness what the server handed it; the world keeps its app model unbooted, as an
observer. Real phones live at wall speed: such a run needs a time scale of 1.

A real phone's scenario faults are played over ADB (``harness.device_faults``) at their
time; the harness records a fault when the phone shows it took it, and one the phone did
not take is reported in ``verdicts.json`` (``devices``), not recorded. A double's are the
simulator's, applied to its phone in the world, as a virtual phone's: a double runs faster
than the wall clock, where ADB's few milliseconds would move a fault by seconds of the
phone's time and miss the moment it was meant for (``during = "sending"``). The ADB
commands themselves are tested against doubles with ``hil devices fault``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import adbutils

from scenarios import DOUBLE_SERIAL, Scenario
from simulator.config import Fault, SimSpec
from simulator.realtime import WallClockEnvironment
from simulator.world import World

from .adb_double import PROFILES, AdbDouble, SimulatedPhone
from .device_faults import DEVICE_FAULTS, NOT_OVER_ADB, FaultOutcome, apply_fault, undo_fault
from .devices import DeviceError, adb_port, app_installed, list_devices, open_client
from .errors import RunInputError, TargetError
from .phone_facts import APP_PACKAGE
from .phone_truth import PhoneTruth, read_log, read_truth

__all__ = ["ATTACH_DEADLINE", "DeviceFleet", "with_ground_truth"]

ATTACH_DEADLINE = 30.0  # wall seconds for an adb connect-ed device to come online
_POLL = 0.05


@dataclass
class _Attached:
    phone: str
    serial: str
    sims: tuple[SimSpec, ...]
    double: bool
    faults: tuple[Fault, ...]
    notes: list[str] = field(default_factory=list)  # faults the phone did not take
    undo: list[str] = field(default_factory=list)  # faults applied and not undone yet
    log: str = ""  # its log saved before something cleared it (a reboot)


class DeviceFleet:
    """The devices of one run: checked before the world exists (:meth:`check`), attached
    with it (:meth:`attach`) for the run's length (closed by its stack)."""

    def __init__(self, client: Any, devices: list[_Attached]) -> None:
        self.client = client
        self.devices = devices
        self.world: World | None = None

    @property
    def real(self) -> dict[str, str]:
        """The real phones: phone name -> serial."""
        return {d.phone: d.serial for d in self.devices if not d.double}

    @classmethod
    def check(cls, scenario: Scenario, *, virtual: bool, scale: float | None) -> DeviceFleet | None:
        """The scenario's devices, checked (``None`` when it has none); refuse what cannot
        run (:class:`RunInputError`), fail on adb or a phone adb does not see
        (:class:`TargetError`)."""
        if not scenario.devices:
            return None
        where = str(scenario.path or scenario.name)
        if virtual:
            raise RunInputError(
                f"{where}: fleet.devices are phones over ADB, which live in real time; run "
                "the scenario with --serve (or --target URL)."
            )
        specs = {phone.name: phone for phone in scenario.world.phones}
        for index, device in enumerate(scenario.devices):
            if device.serial == DOUBLE_SERIAL and device.profile not in PROFILES:
                raise RunInputError(
                    f"{where}: fleet.devices[{index}].profile {device.profile!r} is not a "
                    f"profile of the ADB test double ({', '.join(PROFILES)})."
                )
            if device.serial != DOUBLE_SERIAL and scale != 1.0:
                raise RunInputError(
                    f"{where}: fleet.devices[{index}] is a real phone ({device.serial}), which "
                    f"lives at wall speed, but the run's time scale is {scale:g}; run it with "
                    "--time-scale 1."
                )
            for fault in specs[device.phone].faults if device.serial != DOUBLE_SERIAL else ():
                if fault.kind in NOT_OVER_ADB:
                    raise RunInputError(
                        f"{where}: phone {device.phone!r} is a phone over ADB, and its fault "
                        f"{fault.kind!r} is {NOT_OVER_ADB[fault.kind]}, which ADB cannot play."
                    )
        try:
            client, _started = open_client(adb_port())
        except DeviceError as exc:
            raise TargetError(f"fleet.devices need the adb server: {exc}") from exc
        seen = dict(list_devices(client))
        devices = []
        for device in scenario.devices:
            spec = specs[device.phone]
            double = device.serial == DOUBLE_SERIAL
            if not double:
                _check_phone(client, device.phone, device.serial, seen)
            devices.append(
                _Attached(device.phone, device.serial, spec.sims, double, tuple(spec.faults))
            )
        return cls(client, devices)

    def attach(self, scenario: Scenario, world: World, stack: contextlib.ExitStack) -> None:
        """Serve each double as an ADB device backed by its phone in ``world``, and
        ``adb connect`` it."""
        self.world = world
        profiles = {d.phone: d.profile for d in scenario.devices}
        for device in self.devices:
            if not device.double:
                continue
            double = AdbDouble(SimulatedPhone(world, device.phone, profiles[device.phone]))
            device.serial = double.start()
            stack.callback(double.stop)
            _connect(self.client, device.serial)
            stack.callback(_disconnect, self.client, device.serial)

    def device(self, phone: str) -> Any:
        """adbutils' handle on ``phone``'s device."""
        return self.client.device(self._of(phone).serial)

    def _of(self, phone: str) -> _Attached:
        return next(d for d in self.devices if d.phone == phone)

    def scheduled(self) -> list[tuple[str, Fault]]:
        """The real phones' scenario faults, to play over ADB: (phone, fault)."""
        return [(d.phone, fault) for d in self.devices if not d.double for fault in d.faults]

    def play(self, phone: str, kind: str, *, undo: bool) -> FaultOutcome | None:
        """Apply (or undo) ``kind`` on ``phone`` over ADB (blocking: call it off the
        simulation's thread); ``None`` when the fault has nothing to undo. A phone that
        did not take it is noted for ``verdicts.json``."""
        device = self._of(phone)
        fault = DEVICE_FAULTS[kind]
        if undo and kind not in device.undo:
            return None  # nothing to undo, or undone already (at the run's end)
        try:
            if kind == "reboot":  # a reboot clears the log that links its SMS rows
                device.log += read_log(self.client.device(device.serial))
            outcome = (undo_fault if undo else apply_fault)(self.client, device.serial, kind)
        except DeviceError as exc:
            raise TargetError(f"Could not play {kind} on {phone} over ADB: {exc}") from exc
        if not outcome.taken:
            device.notes.append(outcome.note)
        if undo:
            device.undo.remove(kind)
        elif fault.undo:
            device.undo.append(kind)
        return outcome

    def restore(self) -> None:
        """Undo what the run's faults left on the real phones (the run ended before their
        time was up): a tester's phone is not left offline, stopped or without SEND_SMS."""
        for device in self.devices:
            for kind in list(device.undo):
                try:
                    self.play(device.phone, kind, undo=True)
                except TargetError as exc:
                    device.notes.append(f"{kind} could not be undone: {exc}")

    def read(
        self, redirected: Mapping[str, str] | None = None, *, until: float | None = None
    ) -> dict[str, PhoneTruth]:
        """Each device's ground truth, read over ADB (call it before the run's stack
        closes), up to ``until`` seconds of the run. ``redirected``: the number a real phone
        sent each recipient's SMS to; its rows are judged under the server's recipient, as the
        SMS the server sent (where they went is the door's business)."""
        assert self.world is not None, "attach() first"
        numbers = _numbers(self.world.history.events)
        # A double keeps the world's clock; a real phone keeps this machine's (the world's
        # may start on another day: a served server's clock starts at the scenario's start).
        env = self.world.env
        started = env.started() if isinstance(env, WallClockEnvironment) else None
        wall = datetime.fromtimestamp(started, UTC) if started is not None else self.world.start
        truths = {}
        for device in self.devices:
            epoch, sent_to = self.world.start, numbers
            if not device.double:
                epoch = wall
                sent_to = {i: (redirected or {}).get(n, n) for i, n in numbers.items()}
            try:
                handle = self.client.device(device.serial)
                truth = read_truth(
                    handle,
                    device.phone,
                    device.sims,
                    epoch,
                    sent_to,
                    until=until,
                    earlier_log=device.log,
                )
            except DeviceError as exc:
                raise TargetError(f"Could not read {device.phone} over ADB: {exc}") from exc
            if not device.double:
                truth.radio = [
                    replace(e, recipient=numbers[e.sms_id]) if e.sms_id in numbers else e
                    for e in truth.radio
                ]
            truths[device.phone] = truth
        return truths

    def describe(self, truths: Mapping[str, PhoneTruth]) -> dict[str, Any]:
        """What ``verdicts.json`` says of the devices."""
        return {
            d.phone: {
                "serial": d.serial,
                "double": d.double,
                "radio": len(truths[d.phone].radio) if d.phone in truths else None,
                "unlinked": truths[d.phone].unlinked if d.phone in truths else None,
                "faults_not_taken": list(d.notes),
            }
            for d in self.devices
        }


def _check_phone(client: Any, phone: str, serial: str, seen: Mapping[str, str]) -> None:
    """A real phone must be online in adb, with the gateway app installed."""
    state = seen.get(serial)
    if state != "device":
        listed = ", ".join(f"{s} ({st})" for s, st in seen.items()) or "none"
        said = "does not list it" if state is None else f"says it is {state}"
        raise TargetError(
            f"Phone {phone}'s device {serial}: adb {said} (attached: {listed}). Plug it in, "
            "allow USB debugging on it, and check with hil devices."
        )
    try:
        installed = app_installed(client.device(serial))
    except DeviceError as exc:
        raise TargetError(f"Phone {phone}'s device {serial}: {exc}") from exc
    if not installed:
        raise TargetError(
            f"Phone {phone}'s device {serial} has no gateway app ({APP_PACKAGE}); install it "
            "with hil devices prepare --apk FILE."
        )


def _numbers(events: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """The recipient of each SMS id the history saw handed out."""
    return {
        int(sms["id"]): str(sms["number"])
        for event in events
        if event["kind"] == "issued"
        for sms in event["sms"]
    }


def _connect(client: Any, serial: str) -> None:
    try:
        answer = client.connect(serial, timeout=10)
    except (adbutils.AdbError, OSError) as exc:
        raise TargetError(f"adb connect {serial} failed: {exc}") from exc
    give_up = time.monotonic() + ATTACH_DEADLINE
    while time.monotonic() < give_up:
        if any(i.serial == serial and i.state == "device" for i in client.list()):
            return
        time.sleep(_POLL)  # waiting for the adb server, not judging: the deadline decides
    raise TargetError(
        f"The ADB test double {serial} did not come online within {ATTACH_DEADLINE:g} s "
        f"(adb connect said: {answer})."
    )


def _disconnect(client: Any, serial: str) -> None:
    with contextlib.suppress(adbutils.AdbError, OSError):
        client.disconnect(serial)


def with_ground_truth(
    events: Sequence[dict[str, Any]],
    truths: Mapping[str, PhoneTruth],
    real: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The history with each device's ``radio`` events replaced by those read from it,
    in time order (the run's config stays first). For the ``real`` phones, whose app the
    history saw only on the wire, what the phone recorded of its app (its starts, swept
    trackers) and of the SMS it received comes in too."""
    if not truths:
        return list(events)
    head, rest = events[:1], events[1:]
    kept = [e for e in rest if not (e["kind"] == "radio" and e.get("phone") in truths)]
    read = [
        entry.to_dict()
        for phone, truth in truths.items()
        for entry in (truth.events if phone in real else truth.radio)
    ]
    return [*head, *sorted([*kept, *read], key=lambda event: float(event["t"]))]
