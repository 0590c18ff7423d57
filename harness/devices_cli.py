"""``hil devices`` (the phones on ADB, a table or ``--json``) and ``hil devices prepare``.

Exit codes: ``hil devices`` 0 (also when no device is attached), 3 when no adb server
answers and none can be started (adb missing) or a phone goes away mid-read.
``hil devices prepare`` 0 when the phone is ready, 1 when something still needs a human
hand (listed), 2 for bad input (an unknown serial, several devices and none named, an APK
that is missing or not one), 3 as above or when no device is attached.
``hil devices calibrate SERIAL [--out FILE]`` 0 when read, 2 for an unknown serial or an
``--out`` that cannot be written, 3 as above.
``hil devices fault KIND [SERIAL] [--undo]`` 0 when the phone shows the fault (or its undo)
in force afterwards, 1 when it took the commands and does not (a build that ignores
``force-idle``), 2 for an unknown fault or one ADB cannot play, 3 as above.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .calibrate import calibrate
from .device_faults import DEVICE_FAULTS, NOT_OVER_ADB, apply_fault, device_fault, undo_fault
from .devices import (
    CAP_SETTINGS,
    AdbUnavailable,
    DeviceError,
    DeviceInputError,
    DeviceState,
    adb_port,
    inspect,
    list_devices,
    open_client,
    pick_device,
    prepare,
)
from .phone_facts import APP_PACKAGE, SMS_CAP_COUNT, SMS_CAP_INTERVAL
from .phone_reach import check_reach, reach_advice
from .run_cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_HARNESS, EXIT_PASSED

__all__ = ["add_device_check", "add_parsers", "devices_command", "pair_check", "render_table"]

COLUMNS = (
    "SERIAL",
    "MODEL",
    "ANDROID",
    "APP",
    "PERMISSIONS",
    "SECURE",
    "EXEMPT",
    "SMS CAP",
    "SIMS",
    "BATTERY",
    "DOZE",
)
NO_DEVICES = (
    "No devices attached to the adb server on 127.0.0.1:{port}. Attach a phone with USB "
    "debugging on (Settings > About phone: tap Build number seven times; then Developer "
    "options > USB debugging) and accept its prompt, or adb connect HOST:PORT."
)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 1 to 65535, not {value!r}")
    return port


def add_parsers(sub: Any) -> None:
    """The ``devices`` subcommand and its ``prepare`` action."""
    port_help = _PORT_HELP
    devices = sub.add_parser(
        "devices",
        help="list the phones on ADB with what the gateway app needs (devices prepare fixes it)",
        description=(
            "List the phones the adb server sees: model, Android version, the gateway app "
            f"({APP_PACKAGE}) and its version, the permissions it needs, "
            "WRITE_SECURE_SETTINGS, the battery-optimisation exemption, the SMS cap settings, "
            "SIMs, battery and Doze state. Starts the adb server when none runs, as adb "
            "devices does. Exit codes: 0 listed (also none attached), 3 no adb server and "
            "none could be started (install adb: apt-get install adb)."
        ),
    )
    devices.add_argument("--json", action="store_true", help="print JSON instead of a table")
    devices.add_argument("--adb-port", type=_port, metavar="PORT", help=port_help)
    # The actions take --adb-port after their name too, into the same dest; SUPPRESS keeps
    # an action without it from resetting the value given before the action's name.
    actions = devices.add_subparsers(dest="devices_action", metavar="ACTION")
    prep = actions.add_parser(
        "prepare",
        help="install the app, grant, set the SMS cap, exempt from battery optimisation",
        description=(
            "Make a phone ready for the gateway app: install it (--apk), grant the "
            "permissions ADB can grant (SEND_SMS, RECEIVE_SMS, READ_PHONE_STATE, "
            "READ_PHONE_NUMBERS, CAMERA, WRITE_SECURE_SETTINGS), set Android's SMS cap to "
            f"{CAP_SETTINGS[SMS_CAP_COUNT]} per {CAP_SETTINGS[SMS_CAP_INTERVAL]} ms, exempt "
            "the app from battery optimisation; then read the phone back and print what "
            "still needs a human hand. Exit codes: 0 ready, 1 something needs a human "
            "hand, 2 bad input (unknown serial, several devices and none named, a file "
            "that is not an APK), 3 no adb server, no device attached, or the phone went away."
        ),
    )
    prep.add_argument(
        "serial", nargs="?", metavar="SERIAL", help="the phone (default: the only one)"
    )
    prep.add_argument("--apk", type=Path, metavar="FILE", help="the gateway app's APK to install")
    prep.add_argument(
        "--adb-port", type=_port, default=argparse.SUPPRESS, metavar="PORT", help=port_help
    )
    fault = actions.add_parser(
        "fault",
        help="apply a scenario fault to a phone (doze, partition, reboot, ...) and read it back",
        description=(
            "Apply one fault to a phone over ADB, as a scenario does to a virtual phone, "
            "then read the phone's state back: a phone that takes the command and stays as "
            "it was is reported, not trusted. --undo ends a fault (network back, Doze "
            "unforced, the app launched, the permission granted). Faults: "
            + ", ".join(f"{name} ({f.meaning})" for name, f in DEVICE_FAULTS.items())
            + ". Exit codes: 0 in force, 1 not taken, 2 unknown fault or one ADB cannot play ("
            + ", ".join(NOT_OVER_ADB)
            + "), 3 no adb server, no device, or the phone went away."
        ),
    )
    fault.add_argument("kind", metavar="KIND", help="the fault's name")
    fault.add_argument(
        "serial", nargs="?", metavar="SERIAL", help="the phone (default: the only one)"
    )
    fault.add_argument("--undo", action="store_true", help="end the fault instead")
    fault.add_argument(
        "--permission",
        default="android.permission.SEND_SMS",
        metavar="NAME",
        help="the permission 'revoke' takes away (default: android.permission.SEND_SMS)",
    )
    fault.add_argument(
        "--adb-port", type=_port, default=argparse.SUPPRESS, metavar="PORT", help=port_help
    )
    calib = actions.add_parser(
        "calibrate",
        help="read a phone's Doze, alarm and SMS-cap constants into scenario keys",
        description=(
            "Read a phone's Doze constants (the Settings: block of dumpsys deviceidle, and "
            "device_config list device_idle), its while-idle alarm quota (dumpsys alarm) "
            f"and its SMS cap (settings global {SMS_CAP_COUNT} / {SMS_CAP_INTERVAL}), and "
            "print them as a [fleet.doze] table to append to a scenario file (the sms_cap "
            "line for its [fleet] in a comment), so the phone's virtual twin dozes as the "
            "phone does. Each line says "
            "whether its value came from the phone or is the simulator's default (a "
            "constant this Android version does not show). Exit codes: 0 read, 2 bad input "
            "(an unknown serial, --out in a missing folder), 3 no adb server, no device, or "
            "the phone went away."
        ),
    )
    calib.add_argument("serial", metavar="SERIAL", help="the phone (hil devices lists serials)")
    calib.add_argument(
        "--out", type=Path, metavar="FILE", help="write the fragment to FILE instead of stdout"
    )
    calib.add_argument(
        "--adb-port", type=_port, default=argparse.SUPPRESS, metavar="PORT", help=port_help
    )


def devices_command(args: argparse.Namespace) -> int:
    """Run ``hil devices`` or one of its actions; returns the exit code."""
    action = args.devices_action
    name = f"devices {action}" if action else "devices"
    port = adb_port(args.adb_port)
    try:
        if action == "calibrate" and args.out is not None and not args.out.parent.is_dir():
            raise DeviceInputError(
                f"--out {args.out}: the folder {args.out.parent} does not exist."
            )
        client = _client(name, port)
        if action == "calibrate":
            return _calibrate(client, args.serial, args.out)
        if action == "prepare":
            return _prepare(client, args.serial, args.apk)
        if action == "fault":
            return _fault(client, args.serial, args.kind, args.undo, args.permission)
        return _list(client, port, as_json=args.json)
    except DeviceInputError as exc:
        print(f"hil {name}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (AdbUnavailable, DeviceError) as exc:
        print(f"hil {name}: {exc}", file=sys.stderr)
        return EXIT_HARNESS


def _calibrate(client: Any, serial: str, out: Path | None) -> int:
    found = calibrate(pick_device(client, serial))
    fragment = found.toml()
    if out is None:
        print(fragment, end="")
    else:
        try:
            out.write_text(fragment, encoding="utf-8")
        except OSError as exc:
            raise DeviceInputError(f"--out {out}: cannot write it ({exc}).") from exc
    told = len(found.sources)
    kept = ", ".join(found.defaults) or "none"
    print(
        f"hil devices calibrate: {serial}: {told} of {told + len(found.defaults)} Doze "
        f"constants from the phone; the simulator's defaults for: {kept}. SMS cap "
        f"{found.cap[0]} per {found.cap[1]} ms ({found.cap_source})"
        + (f"; written to {out}." if out is not None else "."),
        file=sys.stderr,
    )
    return EXIT_PASSED


def _client(name: str, port: int) -> Any:
    client, started = open_client(port)
    if started:
        print(
            f"hil {name}: started the adb server on 127.0.0.1:{port} (adb -P {port} "
            "kill-server stops it).",
            file=sys.stderr,
        )
    return client


_PORT_HELP = "the adb server's port (default: $ANDROID_ADB_SERVER_PORT, else 5037)"


def add_device_check(pair: argparse.ArgumentParser) -> None:
    """``hil pair``'s ``--device SERIAL`` and ``--adb-port``."""
    pair.add_argument(
        "--device",
        metavar="SERIAL",
        help=(
            "also check from this phone over ADB (hil devices lists serials) that the URL the "
            "app will call (http:// rewritten to https://) resolves and its TCP port answers "
            "(toybox nc from the phone's shell); whether the phone trusts the certificate "
            "cannot be checked from a shell and is said. Exit codes then: 0 reachable, 1 not "
            "reachable from the phone (with the reason), 2 bad input (an unknown serial), 3 "
            "no adb server, the phone went away, or its shell cannot check"
        ),
    )
    pair.add_argument("--adb-port", type=_port, metavar="PORT", help=_PORT_HELP)


def pair_check(serial: str, url: str, port: int | None) -> int:
    """Check from phone ``serial`` that the app's URL for ``url`` answers; the exit code."""
    try:
        client = _client("pair", adb_port(port))
        device = pick_device(client, serial)
        reach = check_reach(device, url)
    except DeviceInputError as exc:
        print(f"hil pair: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DeviceError as exc:
        print(f"hil pair: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    print(f"From {serial}: the app will call {reach.app_url}")
    answer = f": {reach.output}" if reach.output else ""
    print(f"  adb shell {reach.command} (exit {reach.status}){answer}")
    verdicts = {
        "reachable": f"{reach.host}:{reach.port} answers from the phone (TCP).",
        "unresolved": f"NOT reachable: the phone cannot resolve {reach.host}.",
        "refused": f"NOT reachable: {reach.host}:{reach.port} refuses the connection.",
        "unreachable": f"NOT reachable: the phone has no route to {reach.host}:{reach.port}.",
        "timeout": f"NOT reachable: {reach.host}:{reach.port} did not answer in time.",
        "no-nc": "NOT checked: the phone's shell has no toybox nc.",
        "failed": "NOT checked: the phone's answer is not one toybox nc gives.",
    }
    print(verdicts[reach.verdict])
    for line in reach_advice(reach, serial):
        print(f"  - {line}")
    if reach.reachable:
        return EXIT_PASSED
    return EXIT_FAILED if reach.verdict not in ("no-nc", "failed") else EXIT_HARNESS


def _list(client: Any, port: int, *, as_json: bool) -> int:
    states = [inspect(client.device(serial), state) for serial, state in list_devices(client)]
    if as_json:
        print(json.dumps([state.to_json() for state in states], indent=2))
        return EXIT_PASSED
    if not states:
        print(NO_DEVICES.format(port=port))
        return EXIT_PASSED
    print(render_table(states))
    for state in states:
        for line in _advice(state):
            print(f"{state.serial}: {line}")
    return EXIT_PASSED


def _cap(state: DeviceState) -> str:
    count, interval = state.sms_cap.get(SMS_CAP_COUNT), state.sms_cap.get(SMS_CAP_INTERVAL)
    if count is None and interval is None:
        return "default"
    seconds = f"{int(interval) / 1000:g}s" if interval and interval.isdigit() else "default"
    return f"{count or 'default'}/{seconds}"


def _row(state: DeviceState) -> list[str]:
    if not state.online:
        return [state.serial, f"({state.state})", *[""] * (len(COLUMNS) - 2)]
    granted = sum(state.permissions.values())
    battery = "?" if state.battery_level is None else f"{state.battery_level}%"
    if state.charging:
        battery += " charging"
    return [
        state.serial,
        state.model + (" [test double]" if state.test_double else ""),
        f"{state.android} (SDK {state.sdk})",
        state.app_version or "-",
        f"{granted}/{len(state.permissions)}" if state.app_version else "-",
        "yes" if state.write_secure_settings else "no",
        "yes" if state.battery_exempt else "no",
        _cap(state),
        ",".join(state.sims) or "none",
        battery,
        f"{state.doze.get('deep', '?')}/{state.doze.get('light', '?')}",
    ]


def render_table(states: list[DeviceState]) -> str:
    """The devices as an aligned text table (DOZE is deep/light)."""
    rows = [list(COLUMNS), *(_row(state) for state in states)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _advice(state: DeviceState) -> list[str]:
    if not state.online:
        return [f"{state.state}: {state.hint}"] if state.hint else [state.state]
    if state.app_version is None:
        return [f"the gateway app ({APP_PACKAGE}) is not installed: hil devices prepare --apk FILE"]
    missing = [name for name, granted in state.permissions.items() if not granted]
    if not state.write_secure_settings:
        missing.append("WRITE_SECURE_SETTINGS")
    advice = [f"not granted: {', '.join(missing)}"] if missing else []
    if missing or not state.battery_exempt or _cap(state) != _cap_wanted():
        advice.append(f"hil devices prepare {state.serial} sets up what ADB can")
    return advice


def _cap_wanted() -> str:
    return f"{CAP_SETTINGS[SMS_CAP_COUNT]}/{int(CAP_SETTINGS[SMS_CAP_INTERVAL]) / 1000:g}s"


def _prepare(client: Any, serial: str | None, apk: Path | None) -> int:
    device = pick_device(client, serial)
    report = prepare(device, apk)
    after = report.after
    kind = " [test double]" if after.test_double else ""
    print(f"{device.serial}: {after.model}{kind}, Android {after.android} (SDK {after.sdk})")
    for line in report.done:
        print(f"  done: {line}")
    for line in report.notes:
        print(f"  note: {line}")
    if report.ready:
        print("Ready: the gateway app has what ADB can give it.")
        return EXIT_PASSED
    print("Still needs a human hand:")
    for line in report.needs_hand:
        print(f"  - {line}")
    return EXIT_FAILED


def _fault(client: Any, serial: str | None, kind: str, undo: bool, permission: str) -> int:
    device_fault(kind)  # bad input before any device is looked for
    device = pick_device(client, serial)
    play = undo_fault if undo else apply_fault
    outcome = play(client, device.serial, kind, permission=permission)
    for command, status, output in outcome.ran:
        answer = f": {output.strip()}" if output.strip() else ""
        print(f"  adb shell {command} (exit {status}){answer}")
    print(outcome.note)
    return EXIT_PASSED if outcome.taken else EXIT_FAILED
