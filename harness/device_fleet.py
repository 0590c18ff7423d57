"""The scenario's phones over ADB in a run (``[[fleet.devices]]``): attached, then read.

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
has none. A real phone by its serial needs its app paired with the run's server, which a run cannot
do yet (``hil pair DEVICE``, planned): such a run is refused with that said, before
anything is queued.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import adbutils

from scenarios import DOUBLE_SERIAL, Scenario
from simulator.config import SimSpec
from simulator.world import World

from .adb_double import PROFILES, AdbDouble, SimulatedPhone
from .devices import DeviceError, adb_port, open_client
from .errors import RunInputError, TargetError
from .phone_truth import PhoneTruth, read_truth

__all__ = ["ATTACH_DEADLINE", "DeviceFleet", "with_ground_truth"]

ATTACH_DEADLINE = 30.0  # wall seconds for an adb connect-ed device to come online
_POLL = 0.05


@dataclass(frozen=True)
class _Attached:
    phone: str
    serial: str
    sims: tuple[SimSpec, ...]


class DeviceFleet:
    """The devices of one run, attached for its length (closed by ``stack``)."""

    def __init__(self, client: Any, attached: list[_Attached], world: World) -> None:
        self.client = client
        self.attached = attached
        self.world = world

    @classmethod
    def open(
        cls, scenario: Scenario, world: World, *, virtual: bool, stack: contextlib.ExitStack
    ) -> DeviceFleet | None:
        """Attach the scenario's devices (``None`` when it has none); refuse what cannot
        run (:class:`RunInputError`), fail on adb (:class:`TargetError`)."""
        if not scenario.devices:
            return None
        where = str(scenario.path or scenario.name)
        if virtual:
            raise RunInputError(
                f"{where}: fleet.devices are phones over ADB, which live in real time; run "
                "the scenario with --serve (or --target URL)."
            )
        for index, device in enumerate(scenario.devices):
            if device.serial != DOUBLE_SERIAL:
                raise RunInputError(
                    f"{where}: fleet.devices[{index}].serial {device.serial!r}: a run cannot "
                    "pair a real phone's app with its server yet (hil pair DEVICE, planned); "
                    f"use serial = {DOUBLE_SERIAL!r} for the phone's virtual twin over ADB."
                )
            if device.profile not in PROFILES:
                raise RunInputError(
                    f"{where}: fleet.devices[{index}].profile {device.profile!r} is not a "
                    f"profile of the ADB test double ({', '.join(PROFILES)})."
                )
        try:
            client, _started = open_client(adb_port())
        except DeviceError as exc:
            raise TargetError(f"fleet.devices need the adb server: {exc}") from exc
        attached = []
        for device in scenario.devices:
            double = AdbDouble(SimulatedPhone(world, device.phone, device.profile))
            serial = double.start()
            stack.callback(double.stop)
            _connect(client, serial)
            stack.callback(_disconnect, client, serial)
            attached.append(_Attached(device.phone, serial, world.apps[device.phone].spec.sims))
        return cls(client, attached, world)

    def read(self) -> dict[str, PhoneTruth]:
        """Each device's ground truth, read over ADB (call it before the run's stack
        closes)."""
        numbers = _numbers(self.world.history.events)
        truths = {}
        for device in self.attached:
            try:
                handle = self.client.device(device.serial)
                truths[device.phone] = read_truth(
                    handle, device.phone, device.sims, self.world.start, numbers
                )
            except DeviceError as exc:
                raise TargetError(f"Could not read {device.phone} over ADB: {exc}") from exc
        return truths

    def describe(self, truths: Mapping[str, PhoneTruth]) -> dict[str, Any]:
        """What ``verdicts.json`` says of the devices."""
        return {
            d.phone: {
                "serial": d.serial,
                "radio": len(truths[d.phone].radio) if d.phone in truths else None,
                "unlinked": truths[d.phone].unlinked if d.phone in truths else None,
            }
            for d in self.attached
        }


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
    events: Sequence[dict[str, Any]], truths: Mapping[str, PhoneTruth]
) -> list[dict[str, Any]]:
    """The history with each device's ``radio`` events replaced by those read from it,
    in time order (the run's config stays first)."""
    if not truths:
        return list(events)
    head, rest = events[:1], events[1:]
    kept = [e for e in rest if not (e["kind"] == "radio" and e.get("phone") in truths)]
    read = [entry.to_dict() for truth in truths.values() for entry in truth.radio]
    return [*head, *sorted([*kept, *read], key=lambda event: float(event["t"]))]
