"""The ``Settings:`` blocks of ``dumpsys deviceidle`` and ``dumpsys alarm``, as Android 14
prints them, from the double's ``DozeSpec`` (``DeviceProfile.doze``).

Checked against aosp-mirror/platform_frameworks_base (commit 01740efff6 of
``apex/jobscheduler/service/java/com/android/server/DeviceIdleController.java``,
``Constants.dump``; commit 0177c5f293 of ``.../server/alarm/AlarmManagerService.java``,
``Constants.dump``; Android 11+ keep both services under ``apex/jobscheduler``, Android 10
under ``services/core/java/com/android/server/``):

- ``DeviceIdleController.Constants.dump`` prints ``  Settings:`` then one ``    key=value``
  line per constant in the order of :data:`IDLE_ORDER`: durations with
  ``TimeUtils.formatDuration`` (``+30m0s0ms``, ``+1h0m0s0ms``; zero is ``0``), factors as
  Java floats (``2.0``, ``1.67``), ``location_accuracy`` with an ``m`` (``20.0m``), booleans
  as ``true``/``false``. The names the simulator reads (``DozeSpec``) are the same in every
  release from Android 6 on; Android 12 renamed the ``*_temp_app_whitelist_duration`` keys
  to ``*_temp_app_allowlist_duration_ms``, later releases added ``flex_time_short``,
  ``light_idle_to_initial_flex``, ``light_max_idle_to_flex``, ``motion_inactive_to_flex`` and
  ``use_window_alarms``; Android 10 has ``quick_doze_delay_to`` and the ``pre_idle_factor_*``.
- ``AlarmManagerService.Constants.dump`` (an ``IndentingPrintWriter``) prints ``Settings:``
  indented under ``Current Alarm Manager state:``; its ``print(key, value)`` lines end with a
  space (``allow_while_idle_quota=72 ``: ``IndentingPrintWriter.print`` writes
  ``key + "=" + value + " "``), its durations do not. ``allow_while_idle_quota`` /
  ``allow_while_idle_window`` exist since Android 12; Android 10-11 print
  ``allow_while_idle_short_time`` / ``allow_while_idle_long_time`` instead. The real block
  opens with a ``version=N`` line, which the double leaves out.

``device_config list device_idle`` prints the flags set on the device, ``key=value`` in raw
milliseconds; the double sets none, as a phone nobody has tuned.
"""

from __future__ import annotations

from simulator.config import DozeSpec

__all__ = [
    "ALARM_KEYS",
    "ALARM_ORDER",
    "IDLE_ORDER",
    "alarm_settings",
    "deviceidle_settings",
    "format_duration_ms",
]

# The DozeSpec fields AlarmManagerService owns; every other field is DeviceIdleController's.
ALARM_KEYS = ("allow_while_idle_quota", "allow_while_idle_window")
# DeviceIdleController.Constants.dump's order; the values of the keys that are no DozeSpec
# field are Android 14's defaults (the DEFAULT_* of the same file), as printed.
IDLE_ORDER: tuple[tuple[str, str | None], ...] = (
    ("flex_time_short", "+1m0s0ms"),
    ("light_after_inactive_to", None),
    ("light_pre_idle_to", "+3m0s0ms"),
    ("light_idle_to", None),
    ("light_idle_to_initial_flex", "+1m0s0ms"),
    ("light_max_idle_to_flex", "+15m0s0ms"),
    ("light_idle_factor", None),
    ("light_max_idle_to", None),
    ("light_idle_maintenance_min_budget", None),
    ("light_idle_maintenance_max_budget", "+5m0s0ms"),
    ("min_light_maintenance_time", "+5s0ms"),
    ("min_deep_maintenance_time", "+30s0ms"),
    ("inactive_to", None),
    ("sensing_to", None),
    ("locating_to", None),
    ("location_accuracy", "20.0m"),
    ("motion_inactive_to", "+10m0s0ms"),
    ("motion_inactive_to_flex", "+1m0s0ms"),
    ("idle_after_inactive_to", None),
    ("idle_pending_to", None),
    ("max_idle_pending_to", None),
    ("idle_pending_factor", None),
    ("quick_doze_delay_to", "+1m0s0ms"),
    ("idle_to", None),
    ("max_idle_to", None),
    ("idle_factor", None),
    ("min_time_to_alarm", "+30m0s0ms"),
    ("max_temp_app_allowlist_duration_ms", "+5m0s0ms"),
    ("mms_temp_app_allowlist_duration_ms", "+1m0s0ms"),
    ("sms_temp_app_allowlist_duration_ms", "+20s0ms"),
    ("notification_allowlist_duration_ms", "+30s0ms"),
    ("wait_for_unlock", "true"),
    ("pre_idle_factor_long", "1.67"),
    ("pre_idle_factor_short", "0.33"),
    ("use_window_alarms", "true"),
)
# AlarmManagerService.Constants.dump's order up to max_alarms_per_uid (Android 14 defaults);
# None: the DozeSpec field. A trailing space where Android prints one.
ALARM_ORDER: tuple[tuple[str, str | None], ...] = (
    ("min_futurity", "+5s0ms"),
    ("min_interval", "+1m0s0ms"),
    ("max_interval", "+365d0h0m0s0ms"),
    ("min_window", "+10m0s0ms"),
    ("listener_timeout", "+5s0ms"),
    ("allow_while_idle_quota", None),
    ("allow_while_idle_window", None),
    ("allow_while_idle_compat_quota", "7 "),
    ("allow_while_idle_compat_window", "+1h0m0s0ms"),
    ("allow_while_idle_whitelist_duration", "+10s0ms"),
    ("max_alarms_per_uid", "500 "),
)


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


def _value(spec: DozeSpec, name: str) -> str:
    value = getattr(spec, name)
    if name.endswith("_factor"):
        return f"{float(value)}"
    if name == "allow_while_idle_quota":  # a count: IndentingPrintWriter.print(key, int)
        return f"{value} "
    return format_duration_ms(round(value * 1000))


def deviceidle_settings(spec: DozeSpec) -> list[str]:
    """The ``Settings:`` block of ``dumpsys deviceidle``."""
    lines = ["  Settings:"]
    for name, fixed in IDLE_ORDER:
        lines.append(f"    {name}={fixed if fixed is not None else _value(spec, name)}")
    return lines


def alarm_settings(spec: DozeSpec) -> list[str]:
    """The ``Settings:`` block of ``dumpsys alarm``."""
    lines = ["  Settings:"]
    for name, fixed in ALARM_ORDER:
        lines.append(f"    {name}={fixed if fixed is not None else _value(spec, name)}")
    return lines
