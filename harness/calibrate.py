"""``hil devices calibrate``: a phone's Doze, alarm and SMS-cap constants as a scenario's
``[fleet]`` keys, so that its virtual twin dozes as it does.

What is read, over ADB (``devices.shell_status``):

- ``dumpsys deviceidle``: the ``Settings:`` block of ``DeviceIdleController.Constants.dump``,
  ``    key=value`` lines, durations written by ``TimeUtils.formatDuration`` (``+30m0s0ms``,
  ``+1h0m0s0ms``, ``0``), factors as floats (``2.0``), and lines this module does not read
  (``location_accuracy=20.0m``, ``wait_for_unlock=true``...). The constants ``DozeSpec``
  names (``inactive_to``, ``idle_after_inactive_to``, ``sensing_to``, ``locating_to``,
  ``idle_to``, ``max_idle_to``, ``idle_factor``, ``idle_pending_to``, ``light_*``...) are
  the ``KEY_*`` strings of ``DeviceIdleController.java``, the same in an Android 8-era
  ``services/core/java/com/android/server/`` copy (where it lived up to Android 10) and in
  the Android 14-era ``apex/jobscheduler/service/java/com/android/server/`` one (from
  Android 11), aosp-mirror/platform_frameworks_base commits 0018505370 and 01740efff6. Keys other
  releases renamed or added (``*_temp_app_whitelist_duration`` became
  ``*_temp_app_allowlist_duration_ms`` in Android 12; ``flex_time_short``, ``*_flex``,
  ``use_window_alarms`` are newer) are none the simulator reads; the whole block, key order
  and all, is in ``harness/adb_double/constants.py``.
- ``device_config list device_idle``: Android 12+ flags, ``key=value`` in milliseconds;
  used for a constant the dump does not show (the dump already prints the values in force).
- ``dumpsys alarm``: ``allow_while_idle_quota`` and ``allow_while_idle_window`` of
  ``AlarmManagerService.Constants.dump`` (Android 12+; Android 10-11 print
  ``allow_while_idle_short_time`` / ``_long_time`` instead, and the simulator's values stay).
  Its ``IndentingPrintWriter.print(key, value)`` lines end with a space
  (``allow_while_idle_quota=72 ``), which the block's pattern allows.
- ``settings get global sms_outgoing_check_max_count`` / ``sms_outgoing_check_interval_ms``:
  ``null`` means SmsUsageMonitor's defaults, 30 per 60 s (``DEFAULT_SMS_MAX_COUNT = 30``,
  ``DEFAULT_SMS_CHECK_PERIOD = 60000`` in ``src/java/com/android/internal/telephony/
  SmsUsageMonitor.java`` of frameworks/opt/telephony, read once in its constructor).

A constant the phone does not show keeps the simulator's default (``simulator.config.
DozeSpec``), and the output says which constants came from the phone and which did not.
The scenario format takes them as ``[fleet.doze]`` (``scenarios/README.md``), which the
output is, to append to a scenario file; the SMS cap as ``sms_cap`` in ``[fleet]`` when it
is one of the simulator's presets, which the output says in a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from scenarios import format_duration
from simulator import PRESETS
from simulator.config import DozeSpec

from .devices import shell_status
from .phone_facts import SMS_CAP_COUNT, SMS_CAP_INTERVAL

__all__ = ["Calibration", "calibrate", "parse_constants", "parse_duration_ms"]

# SmsUsageMonitor's values when the settings are absent (reference §A5.1).
_CAP_DEFAULTS = (30, 60_000)
_SETTING = re.compile(r"^\s+([a-z_]+)=(\S+)\s*$")
_FORMATTED = re.compile(r"^([+-])?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS_MS = (86_400_000, 3_600_000, 60_000, 1000, 1)
DOZE_KEYS = tuple(spec.name for spec in fields(DozeSpec))


def parse_duration_ms(text: str) -> int | None:
    """Milliseconds from ``TimeUtils.formatDuration`` output (``+1h0m0s0ms``, ``0``) or a
    plain number of milliseconds (``device_config``); None for anything else."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    found = _FORMATTED.fullmatch(text)
    if not found or not any(found.groups()[1:]):
        return None
    ms = sum(
        int(part or 0) * unit for part, unit in zip(found.groups()[1:], _UNITS_MS, strict=True)
    )
    return -ms if found[1] == "-" else ms


def settings_block(dump: str) -> dict[str, str]:
    """The ``key=value`` lines of a dump's first ``Settings:`` block."""
    out: dict[str, str] = {}
    inside = False
    for line in dump.splitlines():
        if line.strip() == "Settings:":
            inside = True
            continue
        if not inside:
            continue
        found = _SETTING.match(line)
        if not found:
            break  # the block ends at its first line that is not a setting
        out[found[1]] = found[2]
    return out


def parse_constants(raw: dict[str, str]) -> tuple[dict[str, float | int], list[str]]:
    """The DozeSpec constants among ``raw`` (a dump's ``key=value``), converted; and a
    note for each one whose value could not be read."""
    values: dict[str, float | int] = {}
    notes: list[str] = []
    for key in DOZE_KEYS:
        if key not in raw:
            continue
        text = raw[key]
        value: float | int | None
        if key.endswith("_factor"):
            try:
                value = float(text)
            except ValueError:
                value = None
        elif key == "allow_while_idle_quota":
            value = int(text) if text.isdigit() else None
        else:
            ms = parse_duration_ms(text)
            value = None if ms is None or ms < 0 else ms / 1000
        if value is None:
            notes.append(f"{key}={text} is not a value calibration can read; kept the default")
        else:
            values[key] = value
    return values, notes


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` read from one phone."""

    serial: str
    doze: DozeSpec
    sources: dict[str, str]  # DozeSpec field -> where its value came from
    sms_cap: str | None  # the simulator's preset for the phone's cap, None when none is it
    cap: tuple[int, int]  # (max count, interval ms) in force
    cap_source: str
    notes: tuple[str, ...]

    @property
    def defaults(self) -> tuple[str, ...]:
        """The constants the phone did not show: the simulator's defaults."""
        return tuple(key for key in DOZE_KEYS if key not in self.sources)

    def toml(self) -> str:
        """A ``[fleet.doze]`` table to append to a scenario file that has a ``[fleet]``,
        with comments on the sources and the ``sms_cap`` line to put in its ``[fleet]``
        (a second ``[fleet]`` header would be invalid TOML)."""
        count, interval = self.cap
        lines = [f"# hil devices calibrate {self.serial}: append to a scenario file."]
        if self.sms_cap is not None:
            lines.append(
                f'# In its [fleet]: sms_cap = "{self.sms_cap}"  (the phone\'s {count} per '
                f"{interval} ms, {self.cap_source})"
            )
        else:
            presets = ", ".join(
                f"{name} = {cap.max_count} per {int(cap.period * 1000)} ms"
                for name, cap in PRESETS.items()
            )
            lines.append(
                f"# sms_cap: the phone's {count} per {interval} ms ({self.cap_source}) is none "
                f"of the simulator's presets ({presets}); choose the nearest"
            )
        lines.append("[fleet.doze]")
        for key in DOZE_KEYS:
            value = getattr(self.doze, key)
            source = self.sources.get(key, "not shown: the simulator's default")
            if key.endswith("_factor"):
                shown = f"{float(value)}"
            elif key == "allow_while_idle_quota":
                shown = str(value)
            else:
                shown = f'"{format_duration(value)}"'
            lines.append(f"{key} = {shown}  # {source}")
        lines += [f"# note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _output(device: Any, command: list[str]) -> str:
    status, output = shell_status(device, command)
    return output if status == 0 else ""


def calibrate(device: Any) -> Calibration:
    """Read ``device``'s Doze, alarm and SMS-cap constants (raises ``AdbUnavailable`` when
    the phone goes away)."""
    sources: dict[str, str] = {}
    changes: dict[str, float | int] = {}
    notes: list[str] = []
    reads = (
        ("dumpsys deviceidle", settings_block(_output(device, ["dumpsys", "deviceidle"]))),
        ("dumpsys alarm", settings_block(_output(device, ["dumpsys", "alarm"]))),
        (
            "device_config device_idle",
            dict(
                line.strip().split("=", 1)
                for line in _output(device, ["device_config", "list", "device_idle"]).splitlines()
                if "=" in line
            ),
        ),
    )
    for source, raw in reads:
        values, unread = parse_constants(raw)
        notes += [f"{source}: {note}" for note in unread]
        for key, value in values.items():
            if key not in changes:  # the dumps print the values in force: they come first
                changes[key] = value
                sources[key] = f"from {source}"
    if not sources:
        notes.append(
            "the phone showed none of the Doze constants (no Settings: block in dumpsys "
            "deviceidle): every value is the simulator's default"
        )
    doze = replace(DozeSpec(), **changes)  # type: ignore[arg-type]
    cap, cap_source = _cap(device)
    preset = next(
        (
            name
            for name, known in PRESETS.items()
            if (known.max_count, int(known.period * 1000)) == cap
        ),
        None,
    )
    return Calibration(device.serial, doze, sources, preset, cap, cap_source, tuple(notes))


def _cap(device: Any) -> tuple[tuple[int, int], str]:
    read: list[int | None] = []
    for key in (SMS_CAP_COUNT, SMS_CAP_INTERVAL):
        text = _output(device, ["settings", "get", "global", key]).strip()
        read.append(int(text) if text.isdigit() else None)
    if read == [None, None]:
        return _CAP_DEFAULTS, "Android's default (the settings are not set)"
    count = read[0] if read[0] is not None else _CAP_DEFAULTS[0]
    interval = read[1] if read[1] is not None else _CAP_DEFAULTS[1]
    return (count, interval), f"from settings global {SMS_CAP_COUNT} / {SMS_CAP_INTERVAL}"
