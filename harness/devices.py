"""Phones on ADB: what ``hil devices`` reads from them and what ``hil devices prepare`` does.

Everything goes through the real ``adb`` server with adbutils (reference
``android-and-testing.md`` §A9), never a home-made client: :func:`open_client` finds the
server on ``127.0.0.1`` (port ``$ANDROID_ADB_SERVER_PORT``, else 5037) and starts it with the
``adb`` on the PATH when none answers, as ``adb devices`` does. :func:`inspect` reads a
phone with shell commands only a phone answers (``getprop``, ``pm``, ``dumpsys``,
``settings``); :func:`prepare` installs the gateway app, grants what ADB can grant, sets the
SMS cap and the battery-optimisation exemption, reads everything back, and says what still
needs a human hand. The ADB test double (``harness.adb_double``) answers the same commands,
so the whole path runs in CI.

Errors: :class:`DeviceError` is the root; :class:`AdbUnavailable` (no adb server, adb not
installed, a phone lost mid-command: ``hil`` exits 3) and :class:`DeviceInputError` (an
unknown serial, an APK that is not one: exit 2).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import adbutils

from simulator import PRESETS

from .adb_double import TEST_DOUBLE_MANUFACTURER
from .phone_facts import (
    APP_PACKAGE,
    NEEDED_PERMISSIONS,
    SMS_CAP_COUNT,
    SMS_CAP_INTERVAL,
    WRITE_SECURE_SETTINGS,
    short_permission,
)

__all__ = [
    "DEFAULT_ADB_PORT",
    "AdbUnavailable",
    "DeviceError",
    "DeviceInputError",
    "DeviceState",
    "Preparation",
    "adb_port",
    "app_installed",
    "inspect",
    "list_devices",
    "open_client",
    "pick_device",
    "prepare",
    "shell_status",
]

DEFAULT_ADB_PORT = 5037
# Seconds one shell command may take before the phone counts as gone (adbutils: 10 min);
# pm install of a large APK is the slowest thing asked.
COMMAND_TIMEOUT = 120.0
# The cap the gateway app writes once it holds WRITE_SECURE_SETTINGS (simulator's preset).
CAP = PRESETS["granted"]
CAP_SETTINGS = {SMS_CAP_COUNT: str(CAP.max_count), SMS_CAP_INTERVAL: str(int(CAP.period * 1000))}
STATE_HINTS = {
    "unauthorized": "accept the 'Allow USB debugging?' prompt on the phone's screen",
    "offline": "unplug and plug the cable again, or run adb reconnect",
    "no permissions": "the USB device is not accessible to this user: add a udev rule "
    "(see the adb documentation) or run as a user in the plugdev group",
}
SECURITY_HINT = "enable 'USB debugging (Security settings)' in Developer options"
_PROP = re.compile(r"^\[(?P<key>[^\]]+)\]: \[(?P<value>.*)\]$", re.M)
_GRANT = re.compile(r"^\s*(android\.permission\.\w+): granted=(true|false)", re.M)


class DeviceError(RuntimeError):
    """A phone or the adb server could not be read or prepared; the message says why."""


class AdbUnavailable(DeviceError):
    """No adb server answers, adb is not installed, or a phone went away mid-command."""


class DeviceInputError(DeviceError):
    """Bad input: an unknown serial, an APK file that is missing or not an APK."""


def adb_port(value: int | None = None) -> int:
    """The adb server's port: ``value``, else ``$ANDROID_ADB_SERVER_PORT``, else 5037."""
    if value is not None:
        return value
    env = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    return int(env) if env.isdigit() else DEFAULT_ADB_PORT


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def open_client(port: int) -> tuple[Any, bool]:
    """An adbutils client of the adb server on ``port`` and whether this call started it."""
    started = False
    if not _answers(port):
        adb = shutil.which("adb")
        if adb is None:
            raise AdbUnavailable(
                f"No adb server answers on 127.0.0.1:{port} and adb is not installed; install "
                "it (Debian/Ubuntu: sudo apt-get install adb) and try again."
            )
        env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(port)}
        try:
            result = subprocess.run(  # noqa: S603 - the adb found on the PATH, fixed arguments
                [adb, "-P", str(port), "start-server"],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AdbUnavailable(f"Could not start the adb server ({adb}): {exc}.") from exc
        if result.returncode != 0 or not _answers(port):
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise AdbUnavailable(
                f"No adb server answers on 127.0.0.1:{port}, and {adb} start-server failed"
                + (f": {reason[-1]}" if reason else "")
                + "."
            )
        started = True
    client = adbutils.AdbClient(host="127.0.0.1", port=port)
    try:
        client.server_version()
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(
            f"Something answers on 127.0.0.1:{port}, but not as an adb server ({exc})."
        ) from exc
    return client, started


@dataclass(frozen=True)
class DeviceState:
    """One phone as ``hil devices`` shows it. ``app_version`` is ``None`` when the app is not
    installed; a cap setting is ``None`` when it is not set (Android's default is in force)."""

    serial: str
    state: str  # adb's: "device", "unauthorized", "offline", ...
    model: str = ""
    manufacturer: str = ""
    android: str = ""
    sdk: str = ""
    test_double: bool = False
    miui: str = ""  # ro.miui.ui.version.name; MIUI refuses some of what ADB asks
    app_version: str | None = None
    permissions: dict[str, bool] = field(default_factory=dict)
    write_secure_settings: bool = False
    battery_exempt: bool = False
    sms_cap: dict[str, str | None] = field(default_factory=dict)
    sims: tuple[str, ...] = ()  # per slot: READY, ABSENT, PIN_REQUIRED, ...
    operators: tuple[str, ...] = ()
    battery_level: int | None = None
    charging: bool | None = None
    doze: dict[str, str] = field(default_factory=dict)  # "deep" and "light"

    @property
    def online(self) -> bool:
        """Whether adb can talk to it (the other states say what the user must do)."""
        return self.state == "device"

    @property
    def hint(self) -> str:
        """What to do about a phone adb cannot talk to."""
        return STATE_HINTS.get(self.state, "")

    def to_json(self) -> dict[str, Any]:
        """The state as ``hil devices --json`` prints it."""
        data = asdict(self)
        data["sims"], data["operators"] = list(self.sims), list(self.operators)
        if not self.online:
            data = {"serial": self.serial, "state": self.state, "hint": self.hint}
        return data


def list_devices(client: Any) -> list[tuple[str, str]]:
    """(serial, state) of every device the server knows, in its order."""
    try:
        return [(info.serial, info.state) for info in client.list()]
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(f"The adb server stopped answering: {exc}.") from exc


def pick_device(client: Any, serial: str | None) -> Any:
    """The one device to prepare: ``serial``, or the only one attached."""
    online = [s for s, state in list_devices(client) if state == "device"]
    if serial is None:
        if len(online) == 1:
            return client.device(online[0])
        if not online:
            raise AdbUnavailable("No device is attached (hil devices lists what adb sees).")
        raise DeviceInputError(
            f"{len(online)} devices are attached ({', '.join(online)}); name one: "
            "hil devices prepare SERIAL."
        )
    if serial not in online:
        raise DeviceInputError(
            f"No device {serial!r} is attached and online (attached: "
            f"{', '.join(online) or 'none'})."
        )
    return client.device(serial)


def _shell(device: Any, command: list[str]) -> str:
    try:
        return str(device.shell(command, timeout=COMMAND_TIMEOUT))
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(
            f"Lost {device.serial} while running {' '.join(command)}: {exc}."
        ) from exc


def shell_status(device: Any, command: list[str]) -> tuple[int, str]:
    """Run ``command`` on ``device``: (exit status, stdout and stderr merged)."""
    try:
        result = device.shell2(command, timeout=COMMAND_TIMEOUT, rstrip=True)
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(
            f"Lost {device.serial} while running {' '.join(command)}: {exc}."
        ) from exc
    return int(result.returncode), str(result.output)


def app_installed(device: Any) -> bool:
    """Whether the gateway app is installed (``pm list packages PKG``)."""
    return (
        f"package:{APP_PACKAGE}" in _shell(device, ["pm", "list", "packages", APP_PACKAGE]).split()
    )


def inspect(device: Any, state: str = "device") -> DeviceState:
    """Read one phone (``state`` as adb reports it; only an online one is read)."""
    if state != "device":
        return DeviceState(device.serial, state)
    props = {m["key"]: m["value"] for m in _PROP.finditer(_shell(device, ["getprop"]))}
    installed = app_installed(device)
    version: str | None = None
    granted: dict[str, bool] = {}
    if installed:
        dump = _shell(device, ["dumpsys", "package", APP_PACKAGE])
        found = re.search(r"versionName=(\S+)", dump)
        version = found[1] if found else "?"
        for name, value in _GRANT.findall(dump):
            granted[name] = granted.get(name, False) or value == "true"
    allowlist = _shell(device, ["dumpsys", "deviceidle", "whitelist"])
    exempt = re.search(rf"^\w[\w-]*,{re.escape(APP_PACKAGE)},", allowlist, re.M) is not None
    cap: dict[str, str | None] = {}
    for key in CAP_SETTINGS:
        value = _shell(device, ["settings", "get", "global", key]).strip()
        cap[key] = None if value in ("", "null") else value
    battery = _battery(device)
    return DeviceState(
        serial=device.serial,
        state=state,
        model=props.get("ro.product.model", ""),
        manufacturer=props.get("ro.product.manufacturer", ""),
        android=props.get("ro.build.version.release", ""),
        sdk=props.get("ro.build.version.sdk", ""),
        test_double=props.get("ro.product.manufacturer") == TEST_DOUBLE_MANUFACTURER,
        miui=props.get("ro.miui.ui.version.name", ""),
        app_version=version,
        permissions={short_permission(p): granted.get(p, False) for p in NEEDED_PERMISSIONS},
        write_secure_settings=granted.get(WRITE_SECURE_SETTINGS, False),
        battery_exempt=exempt,
        sms_cap=cap,
        sims=_slots(props.get("gsm.sim.state", "")),
        operators=_slots(props.get("gsm.sim.operator.alpha", "")),
        battery_level=battery[0],
        charging=battery[1],
        doze={
            kind: _shell(device, ["dumpsys", "deviceidle", "get", kind]).strip()
            for kind in ("deep", "light")
        },
    )


def _slots(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",")) if value.strip() else ()


def _battery(device: Any) -> tuple[int | None, bool | None]:
    try:
        info = device.battery()
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(f"Lost {device.serial} while reading its battery: {exc}.") from exc
    powered = [info.ac_powered, info.usb_powered, info.wireless_powered]
    charging = None if all(p is None for p in powered) else any(bool(p) for p in powered)
    return info.level, charging


@dataclass
class Preparation:
    """What ``prepare`` did, what it could not, and what the user should know."""

    before: DeviceState
    after: DeviceState
    done: list[str] = field(default_factory=list)
    needs_hand: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Nothing is left for a human hand."""
        return not self.needs_hand


def prepare(device: Any, apk: Path | None = None) -> Preparation:
    """Install (with ``apk``), grant, set the SMS cap, exempt from battery optimisation;
    then read the phone again and list what still needs a human hand."""
    before = inspect(device)
    report = Preparation(before, before)
    refusals: dict[str, str] = {}  # what the phone answered to a step it refused
    state = before
    if apk is not None:
        _install(device, apk, report, refusals)
        state = inspect(device)
    asked: list[str] = []
    if state.app_version is not None:
        asked = [p for p in (WRITE_SECURE_SETTINGS, *NEEDED_PERMISSIONS) if not _granted(state, p)]
        for permission in asked:
            status, output = shell_status(device, ["pm", "grant", APP_PACKAGE, permission])
            if status != 0 or "Exception" in output:
                refusals[permission] = _reason(output)
        if not state.battery_exempt:
            _shell(device, ["dumpsys", "deviceidle", "whitelist", f"+{APP_PACKAGE}"])
    changed = [key for key, value in CAP_SETTINGS.items() if before.sms_cap.get(key) != value]
    for key in changed:
        status, output = shell_status(device, ["settings", "put", "global", key, CAP_SETTINGS[key]])
        if status != 0 or "Exception" in output:
            refusals[key] = _reason(output)
    # What counts is what the phone says afterwards, not what the commands answered.
    report.after = after = inspect(device)
    granted = [short_permission(p) for p in asked if _granted(after, p)]
    if granted:
        report.done.append("granted " + ", ".join(granted))
    if after.battery_exempt and not state.battery_exempt:
        report.done.append("exempted the app from battery optimisation")
    if changed and all(after.sms_cap.get(key) == CAP_SETTINGS[key] for key in changed):
        report.done.append(
            f"set the SMS cap to {CAP.max_count} per {CAP.period:g} s ({', '.join(changed)})"
        )
        report.notes.append(
            f"Android reads the SMS cap at boot: reboot the phone before a run (adb -s "
            f"{device.serial} reboot)."
        )
    _what_is_left(report, after, refusals)
    return report


def _granted(state: DeviceState, permission: str) -> bool:
    if permission == WRITE_SECURE_SETTINGS:
        return state.write_secure_settings
    return state.permissions.get(short_permission(permission), False)


def _reason(output: str) -> str:
    """The line of a refusal that says why (the exception, else the last line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "Exception:" in line or line.startswith("Failure"):
            return line
    return lines[-1] if lines else "no answer"


def _install(device: Any, apk: Path, report: Preparation, refusals: dict[str, str]) -> None:
    if not apk.is_file():
        raise DeviceInputError(f"{apk}: no such file (give the gateway app's APK with --apk).")
    remote = "/data/local/tmp/hil-install.apk"
    try:
        device.sync.push(apk, remote)
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(f"Could not push {apk} to {device.serial}: {exc}.") from exc
    output = _shell(device, ["pm", "install", "-r", "-t", remote])
    _shell(device, ["rm", "-f", remote])
    if "Success" in output:
        report.done.append(f"installed {apk.name}")
        return
    reason = _reason(output)
    if "INSTALL_PARSE_FAILED" in reason:
        raise DeviceInputError(f"{apk}: {device.serial} cannot install it: {reason}")
    refusals["install"] = reason


def _what_is_left(report: Preparation, after: DeviceState, refusals: dict[str, str]) -> None:
    hand, miui = report.needs_hand, " (MIUI)" if after.miui else ""

    def why(key: str) -> str:
        reason = refusals.get(key, "")
        if "GRANT_RUNTIME_PERMISSIONS" in reason or "Permission denial" in reason:
            return f"the phone refused ({reason}): {SECURITY_HINT}{miui}, then run this again"
        return f"the phone refused ({reason})" if reason else "the phone did not take it"

    if "install" in refusals:
        reason = refusals["install"]
        fix = (
            "enable 'Install via USB' in Developer options" + miui
            if "USER_RESTRICTED" in reason
            else "install it by hand"
        )
        hand.append(f"install the app: the phone refused ({reason}): {fix}, then run this again")
    if after.app_version is None:
        hand.append(
            f"install the gateway app ({APP_PACKAGE}): give its APK with --apk FILE (a release "
            "of github.com/Varyshop/sms-gateway-app)"
        )
    else:
        missing = [
            p for p in (WRITE_SECURE_SETTINGS, *NEEDED_PERMISSIONS) if not _granted(after, p)
        ]
        by_reason: dict[str, list[str]] = {}
        for permission in missing:
            by_reason.setdefault(why(permission), []).append(short_permission(permission))
        for reason, names in by_reason.items():
            hand.append(f"grant {', '.join(names)}: {reason}")
        if not after.battery_exempt:
            hand.append(
                "exempt the app from battery optimisation (Settings > Apps > the app > Battery "
                "> Unrestricted): the phone did not take dumpsys deviceidle whitelist"
            )
    wrong = [key for key, value in CAP_SETTINGS.items() if after.sms_cap.get(key) != value]
    if wrong:
        hand.append(f"set the SMS cap ({', '.join(wrong)}): {why(wrong[0])}")
    if after.miui:
        report.notes.append(
            "MIUI also stops background apps: allow Autostart and set Battery saver to 'No "
            "restrictions' for the app (ADB can neither set nor read these)."
        )
