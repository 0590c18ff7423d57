"""``dumpsys`` of the test double: ``alarm``, ``battery``, ``deviceidle``, ``package``, in
Android's words.

Formats, as the real services print them:

- ``battery`` (``BatteryService.dumpInternal``): ``Current Battery Service state:``, then
  ``  (UPDATES STOPPED -- use 'reset' to restart)`` while overridden, then ``  key: value``
  lines; ``unplug``, ``reset`` and ``set ac|usb|wireless|level V`` print nothing.
- ``alarm`` (``AlarmManagerService``): ``Current Alarm Manager state:`` and its
  ``Settings:`` block (``constants``).
- ``deviceidle`` (``DeviceIdleController.onShellCommand`` and ``dump``, checked in
  aosp-mirror/platform_frameworks_base commit 01740efff6, ``apex/jobscheduler/service/java/
  com/android/server/DeviceIdleController.java``; reference §A1.5): ``dumpsys deviceidle
  ARGS`` runs the shell command (``dump`` hands any argument not starting with ``-`` to it).
  ``get light|deep|force|quick|screen|charging|network`` prints the one value (``Unknown get
  option: X``; ``Argument required`` without one); ``force-idle [deep|light]`` prints ``Now
  forced in to deep idle mode`` (``Unable to go deep idle; not enabled`` when disabled,
  ``Unable to go light idle; stopped at STATE``; nothing at all on a profile that ignores
  it); ``unforce`` prints ``Light state: L, deep state: D``; ``enable``/``disable`` print a
  line only for a mode whose state changes (``Deep idle mode enabled``, ``Light idle mode
  enable`` - sic -, ``... disabled``); ``enabled`` prints ``1`` or ``0``; ``whitelist`` lists
  ``system-excidle,PKG,UID``, ``system,PKG,UID`` and ``user,PKG,UID`` lines (the double has
  no ``system-excidle`` app), ``+PKG`` prints ``Added: PKG`` (``Unknown package: PKG``),
  ``-PKG`` ``Removed: PKG``; without arguments, a dump that opens with the ``Settings:`` block
  (``constants``) and whose state lines are ``  mState=IDLE mLightState=OVERRIDE`` as a
  forced-idle phone shows.
- ``package PKG`` (``PackageManagerService`` ``dumpPackageLPr``): ``versionCode=``,
  ``versionName=``, the ``requested permissions:``, ``install permissions:`` and, under
  ``User 0:``, ``runtime permissions:`` with ``NAME: granted=true|false`` lines, followed by
  ``, flags=[ USER_SET ]`` only when the permission has flags (``Settings.
  permissionFlagsToString`` returns ``""`` for none).
"""

from __future__ import annotations

import zlib

from .constants import alarm_settings, deviceidle_settings
from .phone import DEVELOPMENT, RUNTIME, PhoneModel
from .shell import Outcome

__all__ = ["dumpsys"]

_BATTERY_STATUS = {"charging": 2, "discharging": 3, "full": 5}


def dumpsys(model: PhoneModel, args: list[str]) -> Outcome:
    """``dumpsys SERVICE [ARGS]``."""
    if not args:
        return Outcome("Currently running services:\n  alarm\n  battery\n  deviceidle\n  package\n")
    service, rest = args[0], args[1:]
    if service == "alarm" and not rest:
        lines = ["Current Alarm Manager state:", *alarm_settings(model.profile.doze)]
        return Outcome("\n".join(lines) + "\n")
    if service == "battery":
        return battery(model, rest)
    if service == "deviceidle":
        return deviceidle(model, rest)
    if service == "package":
        return package(model, rest)
    return Outcome(f"Can't find service: {service}\n")


def battery(model: PhoneModel, args: list[str]) -> Outcome:
    """``dumpsys battery [unplug|reset|set KEY VALUE]``."""
    if args == ["unplug"]:
        model.unplug()
        return Outcome()
    if args == ["reset"]:
        model.reset_battery()
        return Outcome()
    if len(args) == 3 and args[0] == "set":
        key, value = args[1], args[2]
        try:
            number = int(value)
        except ValueError:
            return Outcome(f"Bad value: {value}\n", 255)
        if key == "level":
            model.set_level(number)
        elif key in ("ac", "usb", "wireless"):
            model.set_power(key, number != 0)
        else:
            return Outcome(f"Unknown set option: {key}\n", 255)
        return Outcome()
    if args:
        return Outcome(f"Unknown command: {args[0]}\n", 255)
    level = model.battery_level
    if model.plugged is None:
        status = _BATTERY_STATUS["discharging"]
    else:
        status = _BATTERY_STATUS["full" if level >= 100 else "charging"]
    lines = ["Current Battery Service state:"]
    if model.battery_overridden:
        lines.append("  (UPDATES STOPPED -- use 'reset' to restart)")
    lines += [
        f"  AC powered: {_bool(model.plugged == 'ac')}",
        f"  USB powered: {_bool(model.plugged == 'usb')}",
        f"  Wireless powered: {_bool(model.plugged == 'wireless')}",
        "  Max charging current: 500000",
        "  Max charging voltage: 5000000",
        "  Charge counter: 2900000",
        f"  status: {status}",
        "  health: 2",
        "  present: true",
        f"  level: {level}",
        "  scale: 100",
        "  voltage: 4100",
        "  temperature: 250",
        "  technology: Li-ion",
    ]
    return Outcome("\n".join(lines) + "\n")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def deviceidle(model: PhoneModel, args: list[str]) -> Outcome:
    """``dumpsys deviceidle [get|force-idle|unforce|enable|disable|enabled|whitelist ...]``."""
    if not args:
        return Outcome(_idle_dump(model))
    command, rest = args[0], args[1:]
    if command == "get":
        if not rest:
            return Outcome("Argument required\n")
        values = {
            "light": model.doze_light,
            "deep": model.doze_deep,
            "force": _bool(model.force_idle),
            "quick": "false",  # mQuickDozeActivated: the double has no battery saver
            "screen": _bool(model.screen_on),
            "charging": _bool(model.plugged is not None),
            "network": _bool(model.network_connected),
        }
        if rest[0] not in values:
            return Outcome(f"Unknown get option: {rest[0]}\n")
        return Outcome(values[rest[0]] + "\n")
    if command == "force-idle":
        kind = rest[0] if rest else "deep"
        if kind not in ("deep", "light"):
            return Outcome(f"Unknown idle mode: {kind}\n")
        if not model.force_doze(kind == "deep"):
            if kind == "deep":
                return Outcome("Unable to go deep idle; not enabled\n")
            return Outcome(f"Unable to go light idle; stopped at {model.doze_light}\n")
        if not model.profile.force_idle_works:
            return Outcome()  # taken, silently, and nothing changed
        return Outcome(f"Now forced in to {kind} idle mode\n")
    if command == "unforce":
        model.unforce_doze()
        return Outcome(f"Light state: {model.doze_light}, deep state: {model.doze_deep}\n")
    if command in ("enable", "disable", "enabled"):
        return _enable(model, command, rest[0] if rest else "all")
    if command == "whitelist":
        return _whitelist(model, rest)
    return Outcome(f"Unknown command: {command}\n")


def _enable(model: PhoneModel, command: str, which: str) -> Outcome:
    if which not in ("deep", "light", "all"):
        return Outcome(f"Unknown idle mode: {which}\n")
    if command == "enabled":
        flags = {"deep": model.deep_enabled, "light": model.light_enabled}
        on = all(flags.values()) if which == "all" else flags[which]
        return Outcome(("1" if on else "0") + "\n")
    on = command == "enable"
    lines = []  # a line only for a mode whose state changes, as the shell command prints
    if which in ("deep", "all") and model.deep_enabled != on:
        model.deep_enabled = on
        lines.append(f"Deep idle mode {'enabled' if on else 'disabled'}")
    if which in ("light", "all") and model.light_enabled != on:
        model.light_enabled = on
        lines.append(f"Light idle mode {'enable' if on else 'disabled'}")  # sic: "enable"
    return Outcome("".join(line + "\n" for line in lines))


def _whitelist(model: PhoneModel, args: list[str]) -> Outcome:
    if not args:
        lines = [f"system,{pkg},{uid}" for pkg, uid in model.system_allowlist.items()]
        lines += [
            f"user,{pkg},{model.packages[pkg].uid}"
            for pkg in sorted(model.user_allowlist)
            if pkg in model.packages
        ]
        return Outcome("".join(line + "\n" for line in lines))
    out = []
    for arg in args:
        op, pkg = arg[:1], arg[1:]
        if op == "+":
            if pkg in model.packages:
                model.user_allowlist.add(pkg)
                out.append(f"Added: {pkg}")
            else:
                out.append(f"Unknown package: {pkg}")
        elif op == "-":
            if pkg in model.user_allowlist:
                model.user_allowlist.discard(pkg)
                out.append(f"Removed: {pkg}")
        else:
            return Outcome("Package must be prefixed with +, -, or =: " + arg + "\n", 255)
    return Outcome("".join(line + "\n" for line in out))


def _idle_dump(model: PhoneModel) -> str:
    lines = deviceidle_settings(model.profile.doze)
    lines.append("  Whitelist system apps:")
    lines += [f"    {pkg}" for pkg in model.system_allowlist]
    if model.user_allowlist:
        lines.append("  Whitelist user apps:")
        lines += [f"    {pkg}" for pkg in sorted(model.user_allowlist)]
    lines += [
        f"  mLightEnabled={_bool(model.light_enabled)}  mDeepEnabled={_bool(model.deep_enabled)}",
        f"  mForceIdle={_bool(model.force_idle)}",
        "  mMotionActive=false",
        f"  mScreenOn={_bool(model.screen_on)}",
        f"  mNetworkConnected={_bool(model.network_connected)}",
        f"  mCharging={_bool(model.plugged is not None)}",
        f"  mState={model.doze_deep} mLightState={model.doze_light}",
    ]
    return "\n".join(lines) + "\n"


def package(model: PhoneModel, args: list[str]) -> Outcome:
    """``dumpsys package PKG``: the parts of the dump a harness reads."""
    if len(args) != 1 or args[0].startswith("-"):
        return Outcome("the HIL test double dumps one package: dumpsys package PKG\n", 255)
    pkg = model.packages.get(args[0])
    if pkg is None:
        return Outcome(f"Unable to find package: {args[0]}\n")
    ident = f"{zlib.crc32(pkg.name.encode()) & 0xFFFFFFF:07x}"  # stable, as a hash code
    lines = [
        "Packages:",
        f"  Package [{pkg.name}] ({ident}):",
        f"    userId={pkg.uid}",
        f"    pkg=Package{{{ident} {pkg.name}}}",
        f"    codePath=/data/app/~~hil/{pkg.name}-1",
        f"    versionCode={pkg.version_code} minSdk=24 targetSdk={model.profile.sdk}",
        f"    versionName={pkg.version_name}",
        f"    flags=[ {'SYSTEM ' if pkg.system else ''}HAS_CODE ALLOW_CLEAR_USER_DATA ]",
    ]
    if pkg.requested:
        lines.append("    requested permissions:")
        lines += [f"      {perm}" for perm in pkg.requested]
    install = [p for p in pkg.requested if p not in RUNTIME | DEVELOPMENT and p in pkg.granted]
    if install:
        lines.append("    install permissions:")
        lines += [f"      {perm}: granted=true" for perm in install]
    lines.append(
        f"    User 0: ceDataInode=0 installed=true hidden=false suspended=false "
        f"stopped={_bool(pkg.stopped)} notLaunched=false enabled=0 instant=false virtual=false"
    )
    runtime = [p for p in pkg.requested if p in RUNTIME | DEVELOPMENT]
    if runtime:
        lines.append("      runtime permissions:")
        # Settings.permissionFlagsToString: ", flags=[ A B ]", or nothing at all without flags
        lines += [
            f"        {perm}: granted={_bool(perm in pkg.granted)}"
            + (", flags=[ USER_SET ]" if perm in pkg.granted else "")
            for perm in runtime
        ]
    return Outcome("\n".join(lines) + "\n")
