"""The ``Settings:`` blocks of ``dumpsys deviceidle`` and ``dumpsys alarm``, as Android 12-14
print them, from the double's ``DozeSpec`` (``DeviceProfile.doze``).

``DeviceIdleController.Constants.dump`` prints ``  Settings:`` then one ``    key=value``
line per constant: durations with ``TimeUtils.formatDuration`` (``+30m0s0ms``,
``+1h0m0s0ms``; zero is ``0``), factors as Java floats (``2.0``). ``AlarmManagerService
.Constants.dump`` does the same under ``dumpsys alarm`` (``allow_while_idle_quota=72``,
``allow_while_idle_window=+1h0m0s0ms`` since Android 12; Android 10-11 print
``allow_while_idle_short_time`` / ``allow_while_idle_long_time`` instead).
``device_config list device_idle`` prints the flags set on the device, ``key=value`` in raw
milliseconds; the double sets none, as a phone nobody has tuned.
"""

from __future__ import annotations

from dataclasses import fields

from simulator.config import DozeSpec

__all__ = ["ALARM_KEYS", "alarm_settings", "deviceidle_settings", "format_duration_ms"]

# The DozeSpec fields AlarmManagerService owns; every other field is DeviceIdleController's.
ALARM_KEYS = ("allow_while_idle_quota", "allow_while_idle_window")
# Constants a real dump prints that the simulator has no use for (shown for realism).
_IDLE_EXTRA = ("flex_time_short=+1m0s0ms", "min_time_to_alarm=+30m0s0ms")
_ALARM_EXTRA = ("max_alarms_per_uid=500", "allow_while_idle_compat_quota=1")


def format_duration_ms(ms: int) -> str:
    """``TimeUtils.formatDuration``: ``+1h0m0s0ms``; ``0`` for zero."""
    if ms == 0:
        return "0"
    sign = "-" if ms < 0 else "+"
    rest = abs(ms)
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if rest >= size or out:
            out += f"{rest // size}{unit}"
            rest %= size
    return f"{sign}{out}{rest}ms"


def _line(spec: DozeSpec, name: str) -> str:
    value = getattr(spec, name)
    if name.endswith("_factor"):
        return f"    {name}={float(value)}"
    if isinstance(value, int):
        return f"    {name}={value}"
    return f"    {name}={format_duration_ms(round(value * 1000))}"


def deviceidle_settings(spec: DozeSpec) -> list[str]:
    """The ``Settings:`` block of ``dumpsys deviceidle``."""
    names = [f.name for f in fields(DozeSpec) if f.name not in ALARM_KEYS]
    first, last = _IDLE_EXTRA
    return ["  Settings:", f"    {first}", *(_line(spec, name) for name in names), f"    {last}"]


def alarm_settings(spec: DozeSpec) -> list[str]:
    """The ``Settings:`` block of ``dumpsys alarm``."""
    return [
        "  Settings:",
        f"    {_ALARM_EXTRA[0]}",
        _line(spec, "allow_while_idle_window"),
        _line(spec, "allow_while_idle_quota"),
        f"    {_ALARM_EXTRA[1]}",
    ]
