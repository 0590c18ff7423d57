"""Phone faults over ADB: the scenario's fault names, applied to a phone and read back.

:data:`DEVICE_FAULTS` is the one table of what each fault is on a phone over ADB: the shell
commands that apply it, those that undo it (after its duration), and the command whose
answer says whether the phone really took it. A phone may take a command and do nothing (a
build that ignores ``dumpsys deviceidle force-idle``, a vendor that guards ``svc``):
:func:`apply_fault` reads the state back and reports such a fault as **not taken**, never
trusts the command's silence.

The kinds that virtual phones take (``simulator.config.FAULT_KINDS``) keep their names:
``process_death`` (``am force-stop``; a real phone does not restart a force-stopped app, so
the undo launches it), ``reboot`` (the phone's own boot time: the harness waits until adb
sees it again and ``sys.boot_completed``), ``partition`` (mobile data and Wi-Fi off),
``unplug`` and ``plug``. The others exist on a phone only: ``doze`` (forced deep idle),
``data_off``, ``airplane_mode``, ``force_stop`` (stays stopped) and ``revoke`` (``SEND_SMS``
revoked; the undo grants it back). ``campaign_screen`` and ``settings_change`` need a hand
on the app's screen: asking for them over ADB is refused (:class:`DeviceInputError`).
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

import adbutils

from .devices import (
    COMMAND_TIMEOUT,
    AdbUnavailable,
    DeviceInputError,
    list_devices,
    shell_status,
)
from .phone_facts import APP_ACTIVITY, APP_PACKAGE

__all__ = [
    "DEVICE_FAULTS",
    "NOT_OVER_ADB",
    "REBOOT_DEADLINE",
    "DeviceFault",
    "FaultOutcome",
    "apply_fault",
    "device_fault",
    "fault_commands",
    "undo_fault",
]

SEND_SMS = "android.permission.SEND_SMS"
REBOOT_DEADLINE = 180.0  # wall seconds a phone may take to boot and be seen by adb again
BOOT_STAMP = "ro.runtime.firstboot"  # init sets it at each boot (milliseconds since 1970)
_POLL = 0.2  # wall seconds between looks at the adb server while a phone reboots

Command = tuple[str, ...]


@dataclass(frozen=True)
class DeviceFault:
    """One fault on a phone over ADB. ``{package}``, ``{activity}`` and ``{permission}``
    in a command stand for the gateway app's and the permission's names. Once applied,
    the output of ``check`` matches ``taken`` (a regular expression, whole output
    stripped)."""

    meaning: str
    apply: tuple[Command, ...]
    undo: tuple[Command, ...] = ()
    check: Command | None = None
    taken: str = ""
    undone: str = ""  # what ``check`` answers once undone ("" : not read back)


_DATA = ("settings", "get", "global", "mobile_data")
_WIFI_AND_DATA = ("dumpsys", "deviceidle", "get", "network")
_PID = ("pidof", "{package}")
_LAUNCH = ("am", "start", "-W", "-n", "{package}/{activity}")  # -W: returns once launched

_FORCE_STOP = DeviceFault(
    "the app force-stopped: no alarm, push or boot starts it until it is launched",
    apply=(("am", "force-stop", "{package}"),),
    undo=(_LAUNCH,),
    check=_PID,
    taken="",
    undone=r"\d+",
)

DEVICE_FAULTS: dict[str, DeviceFault] = {
    # ADB can kill the app only by force-stopping it: a scenario's process death is one
    "process_death": replace(
        _FORCE_STOP, meaning="the app's process dies; the undo launches it again"
    ),
    "reboot": DeviceFault(
        "the phone reboots (in its own time); the app's boot receiver starts it",
        apply=(("reboot",),),
        check=("getprop", "sys.boot_completed"),
        taken="1",
    ),
    "partition": DeviceFault(
        "no network: mobile data and Wi-Fi off",
        apply=(("svc", "data", "disable"), ("svc", "wifi", "disable")),
        undo=(("svc", "data", "enable"), ("svc", "wifi", "enable")),
        check=_WIFI_AND_DATA,
        taken="false",
        undone="true",
    ),
    "unplug": DeviceFault(
        "the battery reports no charger (the Doze countdown starts)",
        apply=(("dumpsys", "battery", "unplug"),),
        check=("dumpsys", "deviceidle", "get", "charging"),
        taken="false",
    ),
    "plug": DeviceFault(
        "the battery reports its real charger again",
        apply=(("dumpsys", "battery", "reset"),),
        check=("dumpsys", "deviceidle", "get", "charging"),
        taken="true",
    ),
    "doze": DeviceFault(
        "deep Doze forced now (no maintenance window until undone)",
        apply=(("dumpsys", "deviceidle", "force-idle"),),
        undo=(("dumpsys", "deviceidle", "unforce"),),
        check=("dumpsys", "deviceidle", "get", "deep"),
        taken="IDLE",
        undone=r"(?!IDLE$).*",
    ),
    "data_off": DeviceFault(
        "mobile data off",
        apply=(("svc", "data", "disable"),),
        undo=(("svc", "data", "enable"),),
        check=_DATA,
        taken="0",
        undone="1",
    ),
    "airplane_mode": DeviceFault(
        "airplane mode on",
        apply=(("cmd", "connectivity", "airplane-mode", "enable"),),
        undo=(("cmd", "connectivity", "airplane-mode", "disable"),),
        check=("cmd", "connectivity", "airplane-mode"),
        taken="enabled",
        undone="disabled",
    ),
    "force_stop": _FORCE_STOP,
    "revoke": DeviceFault(
        "a permission (SEND_SMS) revoked: Android kills the app, SmsManager throws",
        apply=(("pm", "revoke", "{package}", "{permission}"),),
        undo=(("pm", "grant", "{package}", "{permission}"),),
        check=("dumpsys", "package", "{package}"),
        taken=r"(?s).*\b{permission}: granted=false.*",
        undone=r"(?s).*\b{permission}: granted=true.*",
    ),
}
# The scenario's fault kinds no ADB command can play.
NOT_OVER_ADB = {
    "campaign_screen": "a tap on the app's campaign screen",
    "settings_change": "saving the app's settings screen",
}


@dataclass
class FaultOutcome:
    """What applying (or undoing) a fault did: each command and its answer, what the phone
    said afterwards, and whether that shows the fault in force (``taken``)."""

    kind: str
    serial: str
    undo: bool
    taken: bool
    observed: str
    ran: list[tuple[str, int, str]] = field(default_factory=list)  # (command, status, output)

    @property
    def note(self) -> str:
        """One sentence for a report."""
        verb = "undone" if self.undo else "applied"
        if self.taken:
            return f"{self.kind} {verb} on {self.serial} (the phone says {self.observed!r})"
        return (
            f"{self.kind} NOT {verb} on {self.serial}: the phone took the command but says "
            f"{self.observed!r} afterwards; do not trust this fault on this phone"
        )


def device_fault(kind: str) -> DeviceFault:
    """The fault ``kind``; :class:`DeviceInputError` for one ADB cannot play or does not know."""
    if kind in NOT_OVER_ADB:
        raise DeviceInputError(
            f"The fault {kind!r} is {NOT_OVER_ADB[kind]}: ADB cannot play it; do it by hand "
            "on the phone or leave it to the virtual phones."
        )
    fault = DEVICE_FAULTS.get(kind)
    if fault is None:
        raise DeviceInputError(
            f"Unknown device fault {kind!r}; the faults a phone over ADB takes are "
            f"{', '.join(DEVICE_FAULTS)}."
        )
    return fault


def _words(command: Command, permission: str) -> list[str]:
    names = {"package": APP_PACKAGE, "activity": APP_ACTIVITY, "permission": permission}
    return [word.format(**names) for word in command]


def fault_commands(kind: str, *, undo: bool = False, permission: str = SEND_SMS) -> list[list[str]]:
    """The shell commands that apply (or undo) fault ``kind``, as a phone's shell takes them."""
    fault = device_fault(kind)
    return [_words(command, permission) for command in (fault.undo if undo else fault.apply)]


def apply_fault(client: Any, serial: str, kind: str, *, permission: str = SEND_SMS) -> FaultOutcome:
    """Apply fault ``kind`` to the phone ``serial`` and read it back."""
    return _play(client, serial, kind, permission, undo=False)


def undo_fault(client: Any, serial: str, kind: str, *, permission: str = SEND_SMS) -> FaultOutcome:
    """Undo fault ``kind`` (at the end of its duration) and read it back; a fault without
    an undo (``reboot``, ``unplug``, ``plug``) is refused."""
    return _play(client, serial, kind, permission, undo=True)


def _play(client: Any, serial: str, kind: str, permission: str, *, undo: bool) -> FaultOutcome:
    fault = device_fault(kind)
    commands = fault_commands(kind, undo=undo, permission=permission)
    if not commands:
        raise DeviceInputError(f"The fault {kind!r} has no undo: {fault.meaning}.")
    device = client.device(serial)
    outcome = FaultOutcome(kind, serial, undo, taken=False, observed="")
    for words in commands:
        if words == ["reboot"]:
            _reboot(client, device)
            outcome.ran.append(("reboot", 0, ""))
            continue
        status, output = shell_status(device, words)
        outcome.ran.append((" ".join(words), status, output))
    expected = fault.undone if undo else fault.taken
    if fault.check is None or (undo and not fault.undone):
        outcome.taken, outcome.observed = True, ""
        return outcome
    _status, answer = shell_status(device, _words(fault.check, permission))
    pattern = expected.replace("{permission}", re.escape(permission))
    outcome.observed = answer.strip() if len(answer) < 200 else f"{answer[:200].strip()}..."
    outcome.taken = re.fullmatch(pattern, answer.strip()) is not None
    return outcome


def _reboot(client: Any, device: Any) -> None:
    """``reboot``, then wait until adb sees the phone back, booted again: its
    ``ro.runtime.firstboot`` (set by init at each boot) changed and ``sys.boot_completed``."""
    serial = device.serial
    _status, before = shell_status(device, ["getprop", BOOT_STAMP])
    # the connection may drop as the phone goes down: that is the reboot
    with contextlib.suppress(adbutils.AdbError, OSError):
        device.reboot()
    give_up = time.monotonic() + REBOOT_DEADLINE
    while time.monotonic() < give_up:
        if dict(list_devices(client)).get(serial) == "device":
            again = client.device(serial)
            try:
                stamp = again.shell(["getprop", BOOT_STAMP], timeout=COMMAND_TIMEOUT)
                booted = again.shell(["getprop", "sys.boot_completed"], timeout=COMMAND_TIMEOUT)
            except (adbutils.AdbError, OSError):
                stamp = booted = ""  # going down or not yet up: look again
            if stamp.strip() not in ("", before.strip()) and booted.strip() == "1":
                return
        time.sleep(_POLL)  # polling the adb server, not judging: the deadline decides
    raise AdbUnavailable(
        f"{serial} did not come back within {REBOOT_DEADLINE:g} s of its reboot; look at "
        "the phone (adb devices lists what adb sees)."
    )
